//! [`MemorySearch`]: the search projection kept in memory, for [`MemoryStorage`] and the
//! file storage of tools. It answers exactly as [`crate::search::sql`] does (the model tests
//! of that module hold the two to identical pages).
//!
//! [`MemoryStorage`]: crate::storage::MemoryStorage

use std::collections::{BTreeMap, BTreeSet};

use super::sql::{MAX_FRAGMENT_TERMS, SearchChange};
use super::tokenize::for_each_term_noting_long;
use super::{SearchCursor, SearchIndex, SearchPage};
use crate::ids::Hash;

/// The in-memory index, the notes waiting for their text, and the seq it reflects.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MemorySearch {
    index: SearchIndex,
    /// Indexed notes and the content hash their text came from.
    indexed: BTreeMap<String, Hash>,
    /// Notes waiting for their text, with the hash they wait for.
    pending: BTreeMap<String, Hash>,
    /// Indexed notes whose text holds a run too long to be a term: a fragment lookup cannot
    /// rule them out.
    long: BTreeSet<String>,
    seq: u64,
}

impl MemorySearch {
    /// Applies `changes` in order; `seq` (when given) becomes the seq it reflects.
    pub fn apply(&mut self, changes: &[SearchChange], seq: Option<u64>) {
        for change in changes {
            match change {
                SearchChange::Index { path, hash, text } => {
                    self.index.upsert(path, text);
                    self.pending.remove(path);
                    self.indexed.insert(path.clone(), *hash);
                    if for_each_term_noting_long(text, |_| {}) {
                        self.long.insert(path.clone());
                    } else {
                        self.long.remove(path);
                    }
                }
                SearchChange::Pending { path, hash } => {
                    self.index.remove(path);
                    self.indexed.remove(path);
                    self.long.remove(path);
                    self.pending.insert(path.clone(), *hash);
                }
                SearchChange::Remove { path } => {
                    self.index.remove(path);
                    self.indexed.remove(path);
                    self.long.remove(path);
                    self.pending.remove(path);
                }
                SearchChange::Rename { from, to } => {
                    if from == to {
                        continue;
                    }
                    self.index.rename(from, to);
                    // Whatever was at `to` is replaced.
                    self.long.remove(to);
                    if let Some(h) = self.indexed.remove(from) {
                        self.indexed.insert(to.clone(), h);
                    }
                    if let Some(h) = self.pending.remove(from) {
                        self.pending.insert(to.clone(), h);
                    }
                    if self.long.remove(from) {
                        self.long.insert(to.clone());
                    }
                }
            }
        }
        if let Some(seq) = seq {
            self.seq = seq;
        }
    }

    /// One step of emptying it and queueing every note for its text (see [`Bulk`](crate::storage::Bulk)).
    pub fn reset(&mut self, step: crate::storage::Bulk<'_, (String, Hash)>) {
        use crate::storage::Bulk;
        match step {
            Bulk::Begin => *self = MemorySearch::default(),
            Bulk::Add(notes) => self.pending.extend(notes.iter().cloned()),
            Bulk::Finish(seq) => self.seq = seq,
        }
    }

    /// See [`SearchIndex::search`].
    pub fn search(&self, query: &str, limit: usize, after: Option<&SearchCursor>) -> SearchPage {
        self.index.search(query, limit, after)
    }

    /// Up to `limit` notes waiting for their text, in path order.
    pub fn unindexed(&self, limit: usize) -> Vec<(String, Hash)> {
        self.pending
            .iter()
            .take(limit)
            .map(|(p, h)| (p.clone(), *h))
            .collect()
    }

    /// The notes whose text or path holds a term containing `fragment`, when there are at
    /// most `max` of them and the fragment is in at most [`MAX_FRAGMENT_TERMS`] terms; `None`
    /// otherwise. As [`crate::search::sql::notes_with_fragment`]; notes it cannot answer for
    /// are in [`MemorySearch::always_candidates`].
    pub fn notes_with_fragment(
        &self,
        fragment: &crate::grep::narrow::Fragment,
        max: usize,
    ) -> Option<BTreeSet<String>> {
        self.index
            .notes_with_fragment(fragment, MAX_FRAGMENT_TERMS, max)
    }

    /// The notes a fragment lookup cannot rule out: those waiting for their text and those
    /// holding a run too long to be a term. At most `max`; `None` when there are more.
    pub fn always_candidates(&self, max: usize) -> Option<BTreeSet<String>> {
        let all: BTreeSet<String> = self.pending.keys().chain(&self.long).cloned().collect();
        (all.len() <= max).then_some(all)
    }

    /// Whether `path` is indexed with the text of `hash`.
    pub fn is_indexed(&self, path: &str, hash: Hash) -> bool {
        self.indexed.get(path) == Some(&hash)
    }

    /// The work waiting: notes waiting for their text (nothing is ever merged here).
    pub fn work(&self) -> super::sql::SearchWork {
        super::sql::SearchWork {
            indexed: self.index.len() as u64,
            waiting: self.pending.len() as u64,
            backlog: 0,
        }
    }

    /// The seq of the last event reflected.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The index itself.
    pub fn index(&self) -> &SearchIndex {
        &self.index
    }
}
