//! The inverted index and its incremental updates: documents in, postings out.

use std::collections::BTreeSet;
use std::fmt;

use super::postings::{DocId, MAX_DOCS, Postings, Removed, TermCounts};
use super::terms::{TermId, TermTable, WordMap};
use super::tokenize::{for_each_path_term, for_each_term};

/// How many times a term of the note's path counts, compared with one occurrence in its text.
///
/// The path is indexed as if its words were written this many times in the body: a note named
/// `rust-ownership.md` ranks above notes that merely mention "ownership" once, yet BM25's term
/// frequency saturation keeps the boost bounded (a path word never outweighs a rare word of the
/// query that the path lacks). Path words also count towards the document length.
pub const PATH_WEIGHT: u32 = 3;

/// One term of a document, and where that document's posting sits in the term's list: the
/// back-reference that makes removal `O(1)` per term instead of a scan of the postings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DocTerm {
    pub(crate) term: TermId,
    pub(crate) pos: u32,
}

/// A live document.
#[derive(Debug, Clone)]
pub(crate) struct Doc {
    pub(crate) path: Box<str>,
    /// Sorted by `term`, distinct. The posting at `pos` in `term`'s list is this document's.
    pub(crate) terms: Vec<DocTerm>,
}

/// A ranked full-text (BM25) index of notes: see the [module documentation](super) for the
/// design, the scoring formula and the guarantees.
///
/// `PartialEq` compares what is indexed (each path with its terms and frequencies), not the
/// internal layout: two indexes built by different operation sequences that end with the same
/// documents are equal, and so are an index and its deserialized copy. `Debug` prints sizes
/// rather than the whole index.
#[derive(Clone, Default)]
pub struct SearchIndex {
    /// Term text <-> id.
    pub(crate) terms: TermTable,
    /// By [`TermId`]: the documents containing the term and their frequencies.
    pub(crate) postings: Postings,
    /// By [`DocId`]: `None` for a free slot.
    pub(crate) docs: Vec<Option<Doc>>,
    /// By [`DocId`]: document length (sum of its term frequencies), 0 for a free slot. Apart
    /// from `docs` so scoring reads a dense array.
    pub(crate) doc_lens: Vec<u32>,
    /// Free slots of `docs`, reused before the vector grows.
    pub(crate) free_docs: Vec<DocId>,
    /// Path -> slot, for every live document.
    pub(crate) paths: WordMap<Box<str>, DocId>,
    /// Sum of `doc_lens`.
    pub(crate) total_len: u64,
}

impl SearchIndex {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    /// Indexes `text` as the content of `path`, replacing whatever was indexed for it before.
    ///
    /// Cost: tokenizing `text` and sorting its term ids, plus `O(log t)` per distinct term
    /// of the old and new content (`t` terms in a document); nothing proportional to the corpus.
    /// A new path beyond [`MAX_DOCS`] documents is ignored.
    pub fn upsert(&mut self, path: &str, text: &str) {
        let doc = match self.paths.get(path) {
            Some(&doc) => doc,
            None => match self.alloc_doc(path) {
                Some(doc) => doc,
                None => return,
            },
        };
        let mut counts = TermCounts::default();
        let terms = &mut self.terms;
        for_each_term(text, |t| {
            if let Some(id) = terms.intern(t) {
                counts.add(id, 1);
            }
        });
        for_each_path_term(path, |t| {
            if let Some(id) = terms.intern(t) {
                counts.add(id, PATH_WEIGHT);
            }
        });
        self.set_terms(doc, &counts.finish());
    }

    /// Forgets `path`. No-op when absent.
    ///
    /// Cost: `O(log t)` per distinct term of the document.
    pub fn remove(&mut self, path: &str) {
        let Some(doc) = self.paths.remove(path) else {
            return;
        };
        self.set_terms(doc, &[]);
        if let Some(slot) = self.docs.get_mut(doc as usize) {
            *slot = None;
            self.free_docs.push(doc);
        }
    }

    /// Moves the document at `from` to `to` (replacing any document at `to`) without
    /// re-tokenizing. No-op when `from` is absent or equal to `to`.
    ///
    /// The text's terms are kept as they are; only the path's words change (the old path's
    /// weighted contribution is subtracted and the new one's added). Cost: `O(t log t)` in the
    /// document's distinct terms.
    pub fn rename(&mut self, from: &str, to: &str) {
        if from == to || !self.paths.contains_key(from) {
            return;
        }
        self.remove(to);
        let Some(doc) = self.paths.remove(from) else {
            return;
        };
        // Current frequencies, minus the old path's words, plus the new path's.
        let mut counts: Vec<(TermId, i64)> = self
            .doc_terms(doc)
            .map(|(term, tf)| (term, i64::from(tf)))
            .collect();
        let terms = &mut self.terms;
        for_each_path_term(from, |t| {
            if let Some(id) = terms.get(t) {
                counts.push((id, -i64::from(PATH_WEIGHT)));
            }
        });
        for_each_path_term(to, |t| {
            if let Some(id) = terms.intern(t) {
                counts.push((id, i64::from(PATH_WEIGHT)));
            }
        });
        counts.sort_unstable_by_key(|&(term, _)| term);
        // Sum each term's deltas (in whatever order the sort left them), then clamp.
        let mut summed: Vec<(TermId, i64)> = Vec::with_capacity(counts.len());
        for (term, delta) in counts {
            match summed.last_mut() {
                Some((last, tf)) if *last == term => *tf = tf.saturating_add(delta),
                _ => summed.push((term, delta)),
            }
        }
        let new_terms: Vec<(TermId, u32)> = summed
            .into_iter()
            .filter(|&(_, tf)| tf > 0)
            .map(|(term, tf)| (term, u32::try_from(tf).unwrap_or(u32::MAX)))
            .collect();
        if let Some(Some(entry)) = self.docs.get_mut(doc as usize) {
            entry.path = to.into();
        }
        self.paths.insert(to.into(), doc);
        self.set_terms(doc, &new_terms);
    }

    /// Whether `path` is indexed.
    pub fn contains(&self, path: &str) -> bool {
        self.paths.contains_key(path)
    }

    /// Number of indexed documents.
    pub fn len(&self) -> usize {
        self.paths.len()
    }

    /// Whether no document is indexed.
    pub fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }

    /// Number of distinct terms indexed.
    pub fn term_count(&self) -> usize {
        self.terms.len()
    }

    /// Approximate heap bytes used (for the "memory per indexed file" benchmark figure): every
    /// vector's and map's capacity times its element size, plus the bytes of paths and terms.
    /// Allocator overhead is not counted.
    pub fn heap_bytes(&self) -> usize {
        let docs: usize = self
            .docs
            .iter()
            .flatten()
            .map(|doc| doc.path.len() + doc.terms.capacity() * size_of::<DocTerm>())
            .sum();
        let path_bytes: usize = self.paths.keys().map(|p| p.len()).sum();
        let path_entry = size_of::<Box<str>>() + size_of::<DocId>() + 1;
        self.terms.heap_bytes()
            + self.postings.heap_bytes()
            + self.docs.capacity() * size_of::<Option<Doc>>()
            + docs
            + self.doc_lens.capacity() * size_of::<u32>()
            + self.free_docs.capacity() * size_of::<DocId>()
            + self.paths.capacity() * path_entry
            + path_bytes
    }

    /// The paths whose text or path holds a term containing `fragment`, when the fragment is
    /// in at most `max_terms` terms and they are held by at most `max` notes; `None` otherwise
    /// (as [`crate::search::sql::notes_with_fragment`] answers). Cost: a scan of the term
    /// dictionary, then the postings of the terms found.
    pub(crate) fn notes_with_fragment(
        &self,
        fragment: &crate::grep::narrow::Fragment,
        max_terms: usize,
        max: usize,
    ) -> Option<BTreeSet<String>> {
        let mut terms = Vec::new();
        for (text, id) in self.terms.iter() {
            if fragment.in_term(text) {
                if terms.len() == max_terms {
                    return None;
                }
                terms.push(id);
            }
        }
        let mut docs: BTreeSet<DocId> = BTreeSet::new();
        for term in terms {
            docs.extend(self.postings.list(term).iter().map(|p| p.doc()));
            if docs.len() > max {
                return None;
            }
        }
        let path = |doc: DocId| match self.docs.get(doc as usize) {
            Some(Some(entry)) => Some(entry.path.to_string()),
            _ => None,
        };
        Some(docs.into_iter().filter_map(path).collect())
    }

    /// The `(term, frequency)` pairs of a live document, sorted by term id.
    pub(crate) fn doc_terms(&self, doc: DocId) -> impl Iterator<Item = (TermId, u32)> + '_ {
        let terms = match self.docs.get(doc as usize) {
            Some(Some(entry)) => entry.terms.as_slice(),
            _ => &[],
        };
        terms
            .iter()
            .map(move |dt| (dt.term, self.postings.tf_at(dt.term, dt.pos).unwrap_or(0)))
    }

    /// A slot for a new document at `path`, registered in `paths`.
    fn alloc_doc(&mut self, path: &str) -> Option<DocId> {
        let doc = match self.free_docs.pop() {
            Some(doc) => doc,
            None => {
                if self.docs.len() >= MAX_DOCS {
                    return None;
                }
                let doc = DocId::try_from(self.docs.len()).ok()?;
                self.docs.push(None);
                self.doc_lens.push(0);
                doc
            }
        };
        let slot = self.docs.get_mut(doc as usize)?;
        *slot = Some(Doc {
            path: path.into(),
            terms: Vec::new(),
        });
        self.paths.insert(path.into(), doc);
        Some(doc)
    }

    /// Makes `new` (sorted by term, distinct, frequencies > 0) the terms of `doc`: a merge of the
    /// old and new lists that updates frequencies in place, unlinks dropped terms and appends
    /// postings for added ones.
    fn set_terms(&mut self, doc: DocId, new: &[(TermId, u32)]) {
        let Some(Some(entry)) = self.docs.get_mut(doc as usize) else {
            return;
        };
        let old = std::mem::take(&mut entry.terms);
        let mut next = Vec::with_capacity(new.len());
        let (mut i, mut j) = (0, 0);
        loop {
            match (old.get(i), new.get(j)) {
                (Some(o), Some(&(term, tf))) if o.term == term => {
                    self.postings.set_tf(term, o.pos, doc, tf);
                    next.push(*o);
                    i += 1;
                    j += 1;
                }
                (Some(o), Some(&(term, _))) if o.term < term => {
                    self.unlink(doc, *o);
                    i += 1;
                }
                (Some(o), None) => {
                    self.unlink(doc, *o);
                    i += 1;
                }
                (_, Some(&(term, tf))) => {
                    if let Some(pos) = self.postings.push(term, doc, tf) {
                        next.push(DocTerm { term, pos });
                    }
                    j += 1;
                }
                (None, None) => break,
            }
        }
        let len = new
            .iter()
            .fold(0u32, |sum, &(_, tf)| sum.saturating_add(tf));
        if let Some(Some(entry)) = self.docs.get_mut(doc as usize) {
            next.shrink_to_fit();
            entry.terms = next;
        }
        if let Some(slot) = self.doc_lens.get_mut(doc as usize) {
            self.total_len = self.total_len.saturating_sub(u64::from(*slot)) + u64::from(len);
            *slot = len;
        }
    }

    /// Removes `doc`'s posting `dt`, repoints the back-reference of the document whose posting
    /// took its place, and releases the term once no document has it.
    fn unlink(&mut self, doc: DocId, dt: DocTerm) {
        match self.postings.swap_remove(dt.term, dt.pos, doc) {
            Removed::Moved(moved) => {
                if let Some(Some(other)) = self.docs.get_mut(moved as usize)
                    && let Ok(k) = other.terms.binary_search_by_key(&dt.term, |t| t.term)
                    && let Some(entry) = other.terms.get_mut(k)
                {
                    entry.pos = dt.pos;
                }
            }
            Removed::LastOfTerm => self.terms.release(dt.term),
            Removed::Done | Removed::Missing => {}
        }
    }
}

impl fmt::Debug for SearchIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SearchIndex")
            .field("docs", &self.len())
            .field("terms", &self.term_count())
            .field("postings", &self.postings.count())
            .field("total_len", &self.total_len)
            .finish_non_exhaustive()
    }
}

impl PartialEq for SearchIndex {
    fn eq(&self, other: &Self) -> bool {
        fn described(index: &SearchIndex, doc: DocId) -> Vec<(&str, u32)> {
            let mut terms: Vec<(&str, u32)> = index
                .doc_terms(doc)
                .map(|(term, tf)| (index.terms.text(term), tf))
                .collect();
            terms.sort_unstable();
            terms
        }
        self.len() == other.len()
            && self.paths.iter().all(|(path, &doc)| {
                other
                    .paths
                    .get(path)
                    .is_some_and(|&theirs| described(self, doc) == described(other, theirs))
            })
    }
}

#[cfg(test)]
impl SearchIndex {
    /// Panics unless every internal invariant holds: back-references, lengths, maps, free lists.
    pub(crate) fn check_invariants(&self) {
        let mut total = 0u64;
        let mut live = 0;
        for (doc, slot) in self.docs.iter().enumerate() {
            let doc = doc as DocId;
            let Some(entry) = slot else {
                assert!(
                    self.free_docs.contains(&doc),
                    "free slot {doc} not in the free list"
                );
                assert_eq!(self.doc_lens[doc as usize], 0);
                continue;
            };
            live += 1;
            assert_eq!(
                self.paths.get(&entry.path),
                Some(&doc),
                "path map for {doc}"
            );
            assert!(
                entry.terms.windows(2).all(|w| w[0].term < w[1].term),
                "sorted terms"
            );
            let mut len = 0u32;
            for dt in &entry.terms {
                assert_eq!(
                    self.postings.doc_at(dt.term, dt.pos),
                    Some(doc),
                    "back-ref of {doc}"
                );
                let tf = self.postings.tf_at(dt.term, dt.pos).unwrap();
                assert!(tf > 0);
                assert!(!self.terms.text(dt.term).is_empty(), "live term has text");
                len += tf;
            }
            assert_eq!(self.doc_lens[doc as usize], len, "length of {doc}");
            total += u64::from(len);
        }
        assert_eq!(live, self.paths.len());
        assert_eq!(total, self.total_len);
        self.postings.check_invariants();
        let mut live_terms = 0;
        for term in self.postings.live_terms() {
            for p in self.postings.list(term) {
                let entry = self.docs[p.doc() as usize]
                    .as_ref()
                    .expect("posting to a live doc");
                assert!(entry.terms.iter().any(|dt| dt.term == term));
            }
            assert_eq!(self.terms.get(self.terms.text(term)), Some(term));
            live_terms += 1;
        }
        assert_eq!(
            live_terms,
            self.terms.len(),
            "live terms are exactly those with postings"
        );
    }
}
