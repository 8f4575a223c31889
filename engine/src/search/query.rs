//! Answering a query: BM25 scoring over the postings of the query's terms and top-k selection.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use super::cursor::{SearchCursor, rank_order};
use super::index::SearchIndex;
use super::postings::{DocId, Posting};
use super::terms::{TermId, WordMap};
use super::tokenize::for_each_term;

/// Most hits one page returns; `limit` is clamped to `1..=MAX_LIMIT`.
pub const MAX_LIMIT: usize = 100;

/// Only the first this many distinct terms of a query are used, which bounds the work of one
/// query no matter how long its text.
pub const MAX_QUERY_TERMS: usize = 32;

/// BM25 term-frequency saturation.
pub const BM25_K1: f64 = 1.2;

/// BM25 document-length normalization.
pub const BM25_B: f64 = 0.75;

/// One page of search results.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SearchPage {
    /// Best first; ties broken by path ascending.
    pub hits: Vec<SearchHit>,
    /// Where the next page starts; `None` when this page holds the last hit.
    pub next: Option<SearchCursor>,
}

/// One matching note.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchHit {
    /// The note's path.
    pub path: String,
    /// Its BM25 score for the query (see the [module documentation](super)); positive.
    pub score: f32,
    /// How many distinct terms of the query the note contains.
    pub matched_terms: u32,
}

/// A candidate hit in the selection heap. Ordered by rank, so the heap's maximum is the kept
/// candidate that ranks last: the one a better candidate evicts.
#[derive(Debug)]
struct Candidate<'a> {
    score: f32,
    path: &'a str,
    matched: u32,
}

impl Ord for Candidate<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        rank_order(self.score, self.path, other.score, other.path)
    }
}

impl PartialOrd for Candidate<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Candidate<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Candidate<'_> {}

/// Running score of one document: the sum so far, and how many query terms contributed.
#[derive(Debug, Clone, Copy, Default)]
struct Accumulator {
    score: f32,
    matched: u32,
}

/// The documents seen so far and their running scores. Dense (one slot per document id) when
/// the query's postings cover a good part of the corpus; a hash map otherwise, so a query for
/// rare terms costs nothing proportional to the corpus.
#[derive(Debug)]
enum Accumulators {
    Dense {
        slots: Vec<Accumulator>,
        touched: Vec<DocId>,
    },
    Sparse(WordMap<DocId, Accumulator>),
}

impl Accumulators {
    fn new(doc_slots: usize, postings: usize) -> Self {
        if postings.saturating_mul(4) >= doc_slots {
            Self::Dense {
                slots: vec![Accumulator::default(); doc_slots],
                touched: Vec::new(),
            }
        } else {
            let mut map = WordMap::default();
            map.reserve(postings);
            Self::Sparse(map)
        }
    }

    #[inline]
    fn add(&mut self, doc: DocId, score: f32) {
        let acc = match self {
            Self::Dense { slots, touched } => match slots.get_mut(doc as usize) {
                Some(acc) => {
                    if acc.matched == 0 {
                        touched.push(doc);
                    }
                    acc
                }
                None => return,
            },
            Self::Sparse(map) => map.entry(doc).or_default(),
        };
        acc.score += score;
        acc.matched += 1;
    }

    fn for_each(&self, mut f: impl FnMut(DocId, Accumulator)) {
        match self {
            Self::Dense { slots, touched } => {
                for &doc in touched {
                    if let Some(&acc) = slots.get(doc as usize) {
                        f(doc, acc);
                    }
                }
            }
            Self::Sparse(map) => {
                for (&doc, &acc) in map {
                    f(doc, acc);
                }
            }
        }
    }
}

impl SearchIndex {
    /// Ranked results, best first; ties broken by path ascending. `after` is the cursor from a
    /// previous page.
    ///
    /// A query with no indexable terms (empty, only punctuation, only stopwords) or with no
    /// matching document returns an empty page. `limit` is clamped to `1..=`[`MAX_LIMIT`].
    ///
    /// Cost: proportional to the total number of postings of the query's terms (the documents
    /// that contain at least one of them), plus `log(limit)` per matching document; never a
    /// scan of every document.
    pub fn search(&self, query: &str, limit: usize, after: Option<&SearchCursor>) -> SearchPage {
        let limit = limit.clamp(1, MAX_LIMIT);
        let lists = self.query_postings(query);
        if lists.is_empty() {
            return SearchPage::default();
        }
        let docs = self.len() as f64;
        let avg_len = if self.total_len == 0 {
            1.0
        } else {
            self.total_len as f64 / docs
        };
        let norm = LengthNorm::new(avg_len);
        let work = lists.iter().map(|(_, list)| list.len()).sum();
        let mut accs = Accumulators::new(self.docs.len(), work);
        for &(term, list) in &lists {
            let idf = bm25_idf(docs, list.len() as f64);
            for &posting in list {
                let doc = posting.doc();
                let len = self.doc_lens.get(doc as usize).copied().unwrap_or(0);
                let tf = f64::from(self.postings.tf(term, posting));
                accs.add(doc, (idf * norm.saturation(tf, f64::from(len))) as f32);
            }
        }

        // Keep the best `limit + 1` after the cursor: the extra one says whether a next page
        // exists.
        let keep = limit + 1;
        let mut heap: BinaryHeap<Candidate<'_>> = BinaryHeap::with_capacity(keep + 1);
        accs.for_each(|doc, acc| {
            // A document that loses on score alone is dropped without reading its path.
            if heap.len() >= keep && heap.peek().is_some_and(|worst| acc.score < worst.score) {
                return;
            }
            let Some(Some(entry)) = self.docs.get(doc as usize) else {
                return;
            };
            let candidate = Candidate {
                score: acc.score,
                path: &entry.path,
                matched: acc.matched,
            };
            if after.is_some_and(|cursor| !cursor.precedes(candidate.score, candidate.path)) {
                return;
            }
            if heap.len() < keep {
                heap.push(candidate);
            } else if let Some(mut worst) = heap.peek_mut()
                && candidate < *worst
            {
                *worst = candidate;
            }
        });

        let mut ranked = heap.into_sorted_vec();
        let more = ranked.len() > limit;
        ranked.truncate(limit);
        let next = match ranked.last() {
            Some(last) if more => Some(SearchCursor::new(last.score, last.path)),
            _ => None,
        };
        let hits = ranked
            .into_iter()
            .map(|c| SearchHit {
                path: c.path.to_owned(),
                score: c.score,
                matched_terms: c.matched,
            })
            .collect();
        SearchPage { hits, next }
    }

    /// The postings lists of the query's distinct indexed terms, in query order.
    fn query_postings(&self, query: &str) -> Vec<(TermId, &[Posting])> {
        let mut seen: Vec<String> = Vec::new();
        let mut lists = Vec::new();
        for_each_term(query, |term| {
            if seen.len() >= MAX_QUERY_TERMS || seen.iter().any(|s| s == term) {
                return;
            }
            seen.push(term.to_owned());
            if let Some(id) = self.terms.get(term) {
                let list = self.postings.list(id);
                if !list.is_empty() {
                    lists.push((id, list));
                }
            }
        });
        lists
    }
}

/// BM25 inverse document frequency of a term found in `df` of `docs` documents, in the
/// always-positive form `ln(1 + (N - df + 0.5) / (df + 0.5))`.
pub(crate) fn bm25_idf(docs: f64, df: f64) -> f64 {
    (1.0 + (docs - df + 0.5) / (df + 0.5)).ln()
}

/// BM25 score of one term with frequency `tf` in a document of length `len`: the formula as
/// written, for tests to compare [`LengthNorm`] against.
#[cfg(test)]
pub(crate) fn bm25_term(idf: f64, tf: f64, len: f64, avg_len: f64) -> f64 {
    let norm = 1.0 - BM25_B + BM25_B * len / avg_len;
    idf * tf * (BM25_K1 + 1.0) / (tf + BM25_K1 * norm)
}

/// The per-query constants of BM25's term-frequency part, so each posting costs one
/// multiply-add and one division: `tf · (k1 + 1) / (tf + k1 · (1 − b) + (k1 · b / avgdl) · |D|)`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LengthNorm {
    base: f64,
    per_len: f64,
}

impl LengthNorm {
    pub(crate) fn new(avg_len: f64) -> Self {
        Self {
            base: BM25_K1 * (1.0 - BM25_B),
            per_len: BM25_K1 * BM25_B / avg_len,
        }
    }

    #[inline]
    pub(crate) fn saturation(self, tf: f64, len: f64) -> f64 {
        tf * (BM25_K1 + 1.0) / (tf + self.base + self.per_len * len)
    }
}
