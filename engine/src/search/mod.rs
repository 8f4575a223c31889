//! Ranked full-text search over notes: an incremental BM25 inverted index.
//!
//! [`SearchIndex`] is a projection of the notes: the caller feeds it every write
//! ([`upsert`](SearchIndex::upsert)), delete ([`remove`](SearchIndex::remove)) and move
//! ([`rename`](SearchIndex::rename)), and asks it [`search`](SearchIndex::search) questions.
//! It keeps no note text, only terms and counts, and it serializes (serde) into the engine's
//! snapshot, so after a restart it is loaded back without reading any note again.
//!
//! Like the rest of the engine it performs no I/O, reads no clock, draws no random numbers
//! (its hash maps use a fixed hasher), spawns nothing, and never panics on any input: text,
//! paths, queries, cursor tokens and serialized indexes are all checked.
//!
//! ```
//! use engine::search::{SearchCursor, SearchIndex};
//!
//! let mut index = SearchIndex::new();
//! index.upsert("garden/tomatoes.md", "Tomatoes want sun. Water the tomatoes daily.");
//! index.upsert("garden/herbs.md", "Basil and thyme; basil likes sun too.");
//! index.upsert("reading/dune.md", "Spice, sand and sun.");
//!
//! let page = index.search("tomatoes sun", 2, None);
//! assert_eq!(page.hits[0].path, "garden/tomatoes.md");
//! assert_eq!(page.hits[0].matched_terms, 2);
//!
//! // The cursor travels to the client as an opaque string and comes back.
//! let token = page.next.expect("a third hit").to_token();
//! let cursor = SearchCursor::from_token(&token)?;
//! let rest = index.search("tomatoes sun", 2, Some(&cursor));
//! assert_eq!(rest.hits.len(), 1);
//! assert!(rest.next.is_none());
//! # Ok::<(), engine::search::CursorError>(())
//! ```
//!
//! # Layout
//! - `tokenize`: text, paths and queries to terms ([`tokenize()`]).
//! - `terms`: the term dictionary (text <-> compact id) and the fixed hasher.
//! - `postings`: the postings lists and their 4-byte entries.
//! - `index`: [`SearchIndex`], its documents and the incremental updates.
//! - `query`: BM25 scoring and top-k selection ([`SearchPage`], [`SearchHit`]).
//! - `cursor`: [`SearchCursor`] and its token.
//! - `persist`: the serialized form and its validation.
//! - `memory`, `sql`: the index as a storage keeps it, in memory or in SQL tables.
//!
//! # Terms
//! Maximal runs of alphanumeric characters (any script), lowercased; terms over
//! [`MAX_TERM_BYTES`] and a few English [`STOPWORDS`] are dropped; no stemming. The words of a
//! note's path (split on `/`, `.`, `-`, `_` and any other non-alphanumeric character) are
//! indexed with it, each occurrence counting [`PATH_WEIGHT`] times, so searching a file or folder
//! name finds the note and ranks it above notes that only mention the word.
//!
//! # Scoring
//! For a query with distinct terms `q` (the first [`MAX_QUERY_TERMS`]), a document `D` scores
//!
//! ```text
//! score(D) = Σ_{t ∈ q, tf(t, D) > 0}  idf(t) · tf(t, D) · (k1 + 1) / (tf(t, D) + k1 · (1 − b + b · |D| / avgdl))
//! idf(t)   = ln(1 + (N − df(t) + 0.5) / (df(t) + 0.5))
//! ```
//!
//! with `k1 = 1.2` ([`BM25_K1`]), `b = 0.75` ([`BM25_B`]), `N` the number of documents,
//! `df(t)` the number containing `t`, `tf(t, D)` the count of `t` in the text plus
//! [`PATH_WEIGHT`] times its count in the path, `|D|` the sum of all `tf` of `D` and `avgdl` the
//! mean `|D|`. Each term's part is computed in `f64` and the parts are added in `f32` in query
//! order; the reported score is that `f32`. Any document containing at least one query term
//! matches (OR semantics). Hits rank by score descending, then path ascending; a given index
//! and query always give the same scores and order.
//!
//! # Data structures
//! - Terms are interned to dense `u32` ids; a term id's slot is freed when its last document
//!   goes and is reused for the next new term.
//! - Documents get dense ids from a free list: a removed document's slot is reused by the
//!   next new path, so ids stay compact with no tombstones and no compaction pass, ever.
//! - Each term has a postings list of 4-byte postings, in no particular order: the document
//!   id (24 bits, hence [`MAX_DOCS`]) and the term frequency (8 bits; a frequency of 255 or
//!   more is kept exactly in a small side table). Lists grow by half, not double.
//! - Each document keeps its `(term, position in the term's list)` pairs, sorted by term.
//!   Removing a posting swaps the list's last posting into its place and repoints that
//!   posting's document (a binary search in its own term list). So
//!   [`upsert`](SearchIndex::upsert), [`remove`](SearchIndex::remove) and
//!   [`rename`](SearchIndex::rename) cost `O(log t)` per distinct term of the document involved
//!   (plus tokenizing its text), independent of the corpus; upsert merges the old and new term
//!   lists and touches only what changed, and rename re-tokenizes only the two paths.
//!   Memory: about 12 bytes per distinct (document, term) pair, plus paths and terms.
//! - Document lengths live in a dense array beside the documents; the sum of all lengths is
//!   kept up to date, so `avgdl` costs nothing.
//! - A query reads only the postings of its own terms, accumulating scores in a dense array
//!   when those postings cover a good part of the corpus and in a hash map otherwise, then keeps
//!   the best `limit + 1` in a bounded binary heap: `O(P + M log limit)` for `P` postings read
//!   and `M` matching documents; nothing is sorted beyond the page.

//! # Pagination
//! [`SearchPage::next`] is a keyset cursor (the last hit's score and path): the next call
//! returns the hits ranked strictly after it. Over an unchanged index the pages of one query
//! return every hit exactly once, in order. See [`SearchCursor`] for what happens when the
//! index changes between pages.
//!
//! # Serialization
//! See [`FORMAT_VERSION`]: sorted path and term tables plus one byte string of delta- and
//! varint-encoded postings; everything else is rebuilt on load. The form is canonical (equal
//! indexes give equal bytes) and validated on load.

mod cursor;
mod index;
pub mod memory;
mod persist;
mod postings;
mod query;
pub mod sql;
mod terms;
mod tokenize;

pub use cursor::{CursorError, MAX_CURSOR_TOKEN_LEN, SearchCursor};
pub use index::{PATH_WEIGHT, SearchIndex};
pub use persist::FORMAT_VERSION;
pub use postings::MAX_DOCS;
pub use query::{BM25_B, BM25_K1, MAX_LIMIT, MAX_QUERY_TERMS, SearchHit, SearchPage};
pub use tokenize::{MAX_TERM_BYTES, STOPWORDS, tokenize};
// grep's narrowing indexes text exactly as search does.
pub(crate) use tokenize::{for_each_term, for_each_term_noting_long};
// The deterministic hash map, for the other projections too.
pub(crate) use terms::WordMap;

#[cfg(test)]
mod model_tests;
#[cfg(test)]
mod tests;
