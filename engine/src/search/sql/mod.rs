//! The search index kept in SQL tables instead of memory, so that a user's index costs the
//! object no memory however many notes they have; ranking computed here, in Rust, exactly as
//! [`SearchIndex`](super::SearchIndex) ranks: the same terms, the same BM25 arithmetic, the
//! same `f32` scores and order, the same cursors. The model tests hold the two to identical
//! pages.
//!
//! # Shape: block postings plus a small fresh tier
//! A write must stay cheap although a 4 KiB note holds some 500 distinct terms, and a search
//! must read a common term's postings in a few rows, not one row per note. So:
//! - A write stores the note's term list in its own row (one row, whatever its size) and marks
//!   it *fresh*. A note that is replaced, moved or deleted after its postings were merged is
//!   recorded *dead* (its posted terms kept, to take them out later).
//! - [`maintain`] (the object's alarm, in bounded steps) merges fresh notes into per-term
//!   *blocks* of postings (`varint` doc delta, term frequency and note length, sorted by note)
//!   and takes dead notes out of them.
//! - A search reads its terms' blocks (skipping dead notes) plus the fresh notes' term lists,
//!   with each term's note count made exact from the same two small sets.
//!
//! Note ids only grow: a note indexed again gets a new id, so its old postings are told apart
//! from its new ones until they are purged.
//!
//! # Tables ([`SCHEMA`])
//! - `search_docs(doc, path, hash, indexed, merged, long, len, terms)`: one row per current
//!   note. `indexed = 0`: its text is not in the index yet ([`SearchChange::Pending`]).
//!   `merged = 0`: indexed but fresh. `long = 1`: its text has a run of letters too long to be
//!   a term, so [`notes_with_fragment`] cannot rule it out. `len`: its length in terms (path
//!   terms counting [`PATH_WEIGHT`]). `terms`: its text terms and counts ([`encode_terms`]).
//! - `search_dead(doc, terms)`: notes whose postings are still in blocks though the note is
//!   gone, with the terms they were posted under.
//! - `search_blocks(term, first, n, bytes)`: `n` postings of `term` for notes `>= first`.
//! - `search_terms(term, df)`: how many postings each term has in blocks (dead ones included
//!   until purged).
//! - `search_meta(docs, total_len, seq, next_doc)`: the indexed notes and their total length,
//!   the id the next indexed note gets, and the seq of the last event whose changes the
//!   tables hold.
//!
//! # Writing
//! [`plan`] reads what the changes need and returns the statements that apply them; the
//! caller runs those in the transaction that appends the events they come from, so a batch
//! that fails part-way leaves nothing: the tables always describe the log at
//! `search_meta.seq`. [`maintain`] plans one bounded merge step the same way.

mod merge;
mod query;

use std::collections::BTreeMap;

pub use merge::{MaintainReport, maintain};
pub use query::{
    MAX_FRAGMENT_TERMS, PINNED_SCAN_TERMS, always_candidates, is_indexed, notes_with_fragment,
    search, unindexed,
};

use super::PATH_WEIGHT;
use super::tokenize::{for_each_path_term, for_each_term_noting_long};
use crate::ids::Hash;
use crate::sql::{SqlRead, Statement, Value, malformed};
use crate::storage::{Bulk, StorageError};

/// The tables, created if missing.
pub const SCHEMA: [&str; 9] = [
    "CREATE TABLE IF NOT EXISTS search_docs (doc INTEGER PRIMARY KEY, path TEXT NOT NULL UNIQUE, \
     hash BLOB NOT NULL, indexed INTEGER NOT NULL, merged INTEGER NOT NULL, \
     long INTEGER NOT NULL, len INTEGER NOT NULL, terms BLOB NOT NULL)",
    "CREATE INDEX IF NOT EXISTS search_docs_unindexed ON search_docs (doc) WHERE indexed = 0",
    "CREATE INDEX IF NOT EXISTS search_docs_fresh ON search_docs (doc) \
     WHERE indexed = 1 AND merged = 0",
    "CREATE INDEX IF NOT EXISTS search_docs_long ON search_docs (doc) WHERE long = 1",
    "CREATE TABLE IF NOT EXISTS search_dead (doc INTEGER PRIMARY KEY, terms BLOB NOT NULL)",
    "CREATE TABLE IF NOT EXISTS search_blocks (term TEXT NOT NULL, first INTEGER NOT NULL, \
     n INTEGER NOT NULL, bytes BLOB NOT NULL, PRIMARY KEY (term, first)) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS search_terms (term TEXT PRIMARY KEY, df INTEGER NOT NULL) \
     WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS search_meta (id INTEGER PRIMARY KEY CHECK (id = 1), \
     docs INTEGER NOT NULL, total_len INTEGER NOT NULL, seq INTEGER NOT NULL, \
     next_doc INTEGER NOT NULL)",
    "INSERT OR IGNORE INTO search_meta (id, docs, total_len, seq, next_doc) VALUES (1, 0, 0, 0, 1)",
];

/// One change to the index, from one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchChange {
    /// `path`'s content is now `hash`, whose text is `text`.
    Index {
        /// The note.
        path: String,
        /// Its content's hash.
        hash: Hash,
        /// Its text (invalid UTF-8 replaced by U+FFFD, as grep reads it).
        text: String,
    },
    /// `path`'s content is now `hash`, whose text is not at hand: the note is not found until
    /// an [`SearchChange::Index`] of that hash comes.
    Pending {
        /// The note.
        path: String,
        /// Its content's hash.
        hash: Hash,
    },
    /// `path` was deleted.
    Remove {
        /// The note.
        path: String,
    },
    /// The note at `from` moved to `to` (a free path).
    Rename {
        /// Where it was.
        from: String,
        /// Where it is.
        to: String,
    },
}

/// What the tables hold, in counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SearchStats {
    /// Indexed notes.
    pub docs: u64,
    /// Their total length in terms (each path term counting [`PATH_WEIGHT`] times).
    pub total_len: u64,
    /// The seq of the last event the tables reflect (0: none).
    pub seq: u64,
    /// The id the next indexed note gets.
    next_doc: i64,
}

/// A note as its `search_docs` row describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Doc {
    pub(crate) id: i64,
    pub(crate) hash: Hash,
    pub(crate) indexed: bool,
    pub(crate) merged: bool,
    pub(crate) long: bool,
    pub(crate) len: u64,
    /// Text terms and counts, sorted by term.
    pub(crate) terms: Vec<(String, u32)>,
}

/// Work the index has waiting: notes whose text it lacks, and notes its upkeep
/// ([`maintain`]) has yet to merge or purge.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SearchWork {
    /// Notes in the index.
    pub indexed: u64,
    /// Notes waiting for their text ([`unindexed`]).
    pub waiting: u64,
    /// Fresh and dead notes: what [`maintain`] works through. Every search reads them, so an
    /// owner keeps this small.
    pub backlog: u64,
}

/// The work waiting (counted through the partial indexes: costs what it counts).
pub fn work(db: &dyn SqlRead) -> Result<SearchWork, StorageError> {
    let count = |sql: &str| -> Result<u64, StorageError> {
        db.query(sql, &[])?
            .first()
            .and_then(|r| r.first())
            .and_then(Value::as_u64)
            .ok_or_else(|| malformed("count"))
    };
    Ok(SearchWork {
        indexed: stats(db)?.docs,
        waiting: count("SELECT COUNT(*) FROM search_docs WHERE indexed = 0")?,
        backlog: count("SELECT COUNT(*) FROM search_docs WHERE indexed = 1 AND merged = 0")?
            + count("SELECT COUNT(*) FROM search_dead")?,
    })
}

/// The counts of `search_meta`.
pub fn stats(db: &dyn SqlRead) -> Result<SearchStats, StorageError> {
    let rows = db.query(
        "SELECT docs, total_len, seq, next_doc FROM search_meta WHERE id = 1",
        &[],
    )?;
    let Some(row) = rows.first() else {
        return Ok(SearchStats {
            next_doc: 1,
            ..SearchStats::default()
        });
    };
    let field = |i: usize| {
        row.get(i)
            .and_then(Value::as_u64)
            .ok_or_else(|| malformed("search_meta"))
    };
    Ok(SearchStats {
        docs: field(0)?,
        total_len: field(1)?,
        seq: field(2)?,
        next_doc: i64::try_from(field(3)?).map_err(|_| malformed("search_meta"))?,
    })
}

/// The statements that apply `changes` (in order) to the tables as `db` holds them now, and
/// record `seq` (when given) as the last event they reflect.
pub fn plan(
    db: &dyn SqlRead,
    changes: &[SearchChange],
    seq: Option<u64>,
) -> Result<Vec<Statement>, StorageError> {
    let mut planner = Planner {
        touched: BTreeMap::new(),
        stats: stats(db)?,
        out: Vec::new(),
    };
    for change in changes {
        planner.change(db, change)?;
    }
    Ok(planner.finish(seq))
}

/// Plans one batch: the notes it touched so far (an overlay over the tables), the counts, and
/// the statements.
struct Planner {
    /// Notes this batch touched: their state after it (`None`: gone).
    touched: BTreeMap<String, Option<Doc>>,
    stats: SearchStats,
    out: Vec<Statement>,
}

impl Planner {
    fn doc(&self, db: &dyn SqlRead, path: &str) -> Result<Option<Doc>, StorageError> {
        match self.touched.get(path) {
            Some(doc) => Ok(doc.clone()),
            None => read_doc(db, path),
        }
    }

    fn change(&mut self, db: &dyn SqlRead, change: &SearchChange) -> Result<(), StorageError> {
        match change {
            SearchChange::Index { path, hash, text } => {
                if let Some(old) = self.doc(db, path)? {
                    self.drop_doc(path, &old);
                }
                let mut counts: BTreeMap<String, u32> = BTreeMap::new();
                let long = for_each_term_noting_long(text, |t| {
                    let tf = counts.entry(t.to_owned()).or_default();
                    *tf = tf.saturating_add(1);
                });
                self.add_indexed(path, *hash, long, counts.into_iter().collect());
            }
            SearchChange::Pending { path, hash } => {
                if let Some(old) = self.doc(db, path)? {
                    self.drop_doc(path, &old);
                }
                let doc = Doc {
                    id: self.new_id(),
                    hash: *hash,
                    indexed: false,
                    merged: true,
                    long: false,
                    len: 0,
                    terms: Vec::new(),
                };
                self.save(path, doc);
            }
            SearchChange::Remove { path } => {
                if let Some(old) = self.doc(db, path)? {
                    self.drop_doc(path, &old);
                    self.touched.insert(path.clone(), None);
                }
            }
            SearchChange::Rename { from, to } => {
                let Some(old) = self.doc(db, from)? else {
                    return Ok(());
                };
                if let Some(there) = self.doc(db, to)? {
                    self.drop_doc(to, &there);
                }
                self.drop_doc(from, &old);
                self.touched.insert(from.clone(), None);
                if old.indexed {
                    // Posted again under the new path's terms.
                    self.add_indexed(to, old.hash, old.long, old.terms);
                } else {
                    let id = self.new_id();
                    self.save(to, Doc { id, ..old });
                }
            }
        }
        Ok(())
    }

    fn new_id(&mut self) -> i64 {
        let id = self.stats.next_doc;
        self.stats.next_doc += 1;
        id
    }

    /// Takes `old` (at `path`) out: its row goes, and postings already merged are recorded
    /// dead for [`maintain`] to purge.
    fn drop_doc(&mut self, path: &str, old: &Doc) {
        self.out.push(Statement::new(
            "DELETE FROM search_docs WHERE doc = ?",
            vec![Value::Integer(old.id)],
        ));
        if old.indexed {
            if old.merged {
                let posted = combined(&old.terms, path);
                self.out.push(Statement::new(
                    "INSERT INTO search_dead (doc, terms) VALUES (?, ?)",
                    vec![Value::Integer(old.id), Value::Blob(encode_terms(&posted))],
                ));
            }
            self.stats.docs -= 1;
            self.stats.total_len -= old.len;
        }
    }

    fn add_indexed(&mut self, path: &str, hash: Hash, long: bool, terms: Vec<(String, u32)>) {
        let len = combined(&terms, path)
            .iter()
            .map(|(_, tf)| u64::from(*tf))
            .sum();
        let doc = Doc {
            id: self.new_id(),
            hash,
            indexed: true,
            merged: false,
            long,
            len,
            terms,
        };
        self.stats.docs += 1;
        self.stats.total_len += len;
        self.save(path, doc);
    }

    /// Writes `doc`'s row under `path`.
    fn save(&mut self, path: &str, doc: Doc) {
        self.out.push(Statement::new(
            "INSERT INTO search_docs (doc, path, hash, indexed, merged, long, len, terms) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            vec![
                Value::Integer(doc.id),
                Value::Text(path.to_owned()),
                Value::Blob(doc.hash.0.to_vec()),
                Value::Integer(i64::from(doc.indexed)),
                Value::Integer(i64::from(doc.merged)),
                Value::Integer(i64::from(doc.long)),
                Value::int(doc.len),
                Value::Blob(encode_terms(&doc.terms)),
            ],
        ));
        self.touched.insert(path.to_owned(), Some(doc));
    }

    fn finish(mut self, seq: Option<u64>) -> Vec<Statement> {
        self.out.push(meta_statement(&self.stats, seq));
        self.out
    }
}

/// The statements of one step of emptying the tables and queueing every current note (path,
/// content hash) for its text (see [`Bulk`]): what a store does when the tables do not
/// describe its log (first opened by a build that keeps the index here, or after its local
/// state was rebuilt). `Add` numbers its notes after those already queued, so it reads the
/// tables as `db` holds them now.
pub fn reset(
    db: &dyn SqlRead,
    step: Bulk<'_, (String, Hash)>,
) -> Result<Vec<Statement>, StorageError> {
    let out = match step {
        Bulk::Begin => {
            let mut out: Vec<Statement> = [
                "DELETE FROM search_docs",
                "DELETE FROM search_dead",
                "DELETE FROM search_blocks",
                "DELETE FROM search_terms",
            ]
            .into_iter()
            .map(|sql| Statement::new(sql, Vec::new()))
            .collect();
            let empty = SearchStats {
                next_doc: 1,
                ..SearchStats::default()
            };
            out.push(meta_statement(&empty, Some(0)));
            out
        }
        Bulk::Add(notes) => {
            let mut stats = stats(db)?;
            let mut out = Vec::new();
            const PER_ROW: usize = 3;
            for chunk in notes.chunks(crate::sql::MAX_PARAMS / PER_ROW) {
                let mut params = Vec::with_capacity(chunk.len() * PER_ROW);
                for (path, hash) in chunk {
                    params.push(Value::Integer(stats.next_doc));
                    params.push(Value::Text(path.clone()));
                    params.push(Value::Blob(hash.0.to_vec()));
                    stats.next_doc += 1;
                }
                let rows = vec!["(?, ?, ?, 0, 1, 0, 0, x'')"; chunk.len()].join(", ");
                out.push(Statement {
                    sql: format!(
                        "INSERT INTO search_docs (doc, path, hash, indexed, merged, long, len, \
                         terms) VALUES {rows}"
                    )
                    .into(),
                    params,
                });
            }
            out.push(meta_statement(&stats, None));
            out
        }
        Bulk::Finish(seq) => vec![Statement::new(
            "UPDATE search_meta SET seq = ? WHERE id = 1",
            vec![Value::int(seq)],
        )],
    };
    Ok(out)
}

/// The statement that stores `stats` (and `seq`, when given).
fn meta_statement(stats: &SearchStats, seq: Option<u64>) -> Statement {
    Statement::new(
        "UPDATE search_meta SET docs = ?, total_len = ?, seq = COALESCE(?, seq), next_doc = ? \
         WHERE id = 1",
        vec![
            Value::int(stats.docs),
            Value::int(stats.total_len),
            seq.map_or(Value::Null, Value::int),
            Value::Integer(stats.next_doc),
        ],
    )
}

/// A note's text terms plus its path's terms, each path occurrence counting [`PATH_WEIGHT`]
/// times, sorted by term: what it is posted under.
pub(crate) fn combined(text_terms: &[(String, u32)], path: &str) -> Vec<(String, u32)> {
    let mut all: BTreeMap<String, u32> = text_terms.iter().cloned().collect();
    for_each_path_term(path, |t| {
        let tf = all.entry(t.to_owned()).or_default();
        *tf = tf.saturating_add(PATH_WEIGHT);
    });
    all.into_iter().collect()
}

const DOC_COLUMNS: &str = "doc, hash, indexed, merged, long, len, terms";

fn read_doc(db: &dyn SqlRead, path: &str) -> Result<Option<Doc>, StorageError> {
    let rows = db.query(
        &format!("SELECT {DOC_COLUMNS} FROM search_docs WHERE path = ?"),
        &[Value::Text(path.to_owned())],
    )?;
    rows.into_iter().next().map(doc_from_row).transpose()
}

/// A `search_docs` row selected as [`DOC_COLUMNS`].
pub(crate) fn doc_from_row(row: Vec<Value>) -> Result<Doc, StorageError> {
    let bad = || malformed("search_docs");
    let [
        Value::Integer(id),
        Value::Blob(hash),
        indexed,
        merged,
        long,
        len,
        Value::Blob(terms),
    ] = <[Value; 7]>::try_from(row).map_err(|_| bad())?
    else {
        return Err(bad());
    };
    Ok(Doc {
        id,
        hash: Hash(<[u8; 32]>::try_from(hash.as_slice()).map_err(|_| bad())?),
        indexed: indexed.as_u64().ok_or_else(bad)? != 0,
        merged: merged.as_u64().ok_or_else(bad)? != 0,
        long: long.as_u64().ok_or_else(bad)? != 0,
        len: len.as_u64().ok_or_else(bad)?,
        terms: decode_terms(&terms).ok_or_else(bad)?,
    })
}

/// A term list as stored: for each term, its length, its bytes and its count (lengths and
/// counts as LEB128 varints).
pub fn encode_terms(terms: &[(String, u32)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(terms.iter().map(|(t, _)| t.len() + 2).sum());
    for (term, tf) in terms {
        push_varint(&mut out, term.len() as u64);
        out.extend_from_slice(term.as_bytes());
        push_varint(&mut out, u64::from(*tf));
    }
    out
}

/// The inverse of [`encode_terms`]; `None` for bytes it did not make.
pub fn decode_terms(bytes: &[u8]) -> Option<Vec<(String, u32)>> {
    let mut terms = Vec::new();
    for_each_encoded_term(bytes, |term, tf| terms.push((term.to_owned(), tf)))?;
    Some(terms)
}

/// Calls `f` with each term and count of an [`encode_terms`] list, without copying; `None`
/// for bytes it did not make.
pub(crate) fn for_each_encoded_term(mut bytes: &[u8], mut f: impl FnMut(&str, u32)) -> Option<()> {
    while !bytes.is_empty() {
        let len = usize::try_from(take_varint(&mut bytes)?).ok()?;
        let (term, rest) = bytes.split_at_checked(len)?;
        bytes = rest;
        let term = std::str::from_utf8(term).ok()?;
        let tf = u32::try_from(take_varint(&mut bytes)?).ok()?;
        f(term, tf);
    }
    Some(())
}

pub(crate) fn push_varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

pub(crate) fn take_varint(bytes: &mut &[u8]) -> Option<u64> {
    let mut n = 0u64;
    for shift in (0..64).step_by(7) {
        let (&b, rest) = bytes.split_first()?;
        *bytes = rest;
        n |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return Some(n);
        }
    }
    None
}

#[cfg(test)]
mod tests;
