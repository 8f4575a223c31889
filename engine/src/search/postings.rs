//! Postings lists: for each term, the documents containing it and how often.

use super::terms::{TermId, WordMap};

/// A document's slot in the index; compact, reused after removal.
pub(crate) type DocId = u32;

/// Most documents one index holds (2^24, about 16.7 million): a posting keeps the document id
/// in 24 bits. Further upserts of new paths are ignored; memory runs out long before.
pub const MAX_DOCS: usize = 1 << 24;

/// Bits of a [`Posting`] that hold the term frequency.
const TF_BITS: u32 = 8;
/// A posting's frequency field at this value means "look the exact frequency up".
const TF_BIG: u32 = (1 << TF_BITS) - 1;

/// One document containing a term: the document id in the high 24 bits and the term
/// frequency in the low 8. A frequency of 255 or more is stored as 255, with the exact value
/// in [`Postings::big_tfs`] (a note repeating one word 255 times is rare), so every frequency
/// is exact and a posting is 4 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Posting(u32);

impl Posting {
    #[inline]
    fn new(doc: DocId, tf: u32) -> Self {
        Self((doc << TF_BITS) | tf.min(TF_BIG))
    }

    #[inline]
    pub(crate) fn doc(self) -> DocId {
        self.0 >> TF_BITS
    }

    /// The frequency field: exact below 255.
    #[inline]
    fn small_tf(self) -> u32 {
        self.0 & TF_BIG
    }
}

/// The postings lists of every term, by [`TermId`].
///
/// Invariants: a document appears at most once per list; `big_tfs` holds `(term, doc)` exactly
/// for the postings whose frequency field is 255, with the exact frequency (>= 255).
#[derive(Debug, Clone, Default)]
pub(crate) struct Postings {
    lists: Vec<Vec<Posting>>,
    big_tfs: WordMap<(TermId, DocId), u32>,
}

impl Postings {
    /// The list of `term`, in no particular order; empty for an unknown term.
    #[inline]
    pub(crate) fn list(&self, term: TermId) -> &[Posting] {
        self.lists.get(term as usize).map_or(&[], Vec::as_slice)
    }

    /// Every term id with a non-empty list.
    pub(crate) fn live_terms(&self) -> impl Iterator<Item = TermId> + '_ {
        self.lists
            .iter()
            .enumerate()
            .filter(|(_, l)| !l.is_empty())
            .map(|(t, _)| t as TermId)
    }

    /// The exact frequency of `posting`, a posting of `term`.
    #[inline]
    pub(crate) fn tf(&self, term: TermId, posting: Posting) -> u32 {
        match posting.small_tf() {
            TF_BIG => self
                .big_tfs
                .get(&(term, posting.doc()))
                .copied()
                .unwrap_or(TF_BIG),
            small => small,
        }
    }

    /// The exact frequency of the posting at `pos` in `term`'s list, if there is one.
    pub(crate) fn tf_at(&self, term: TermId, pos: u32) -> Option<u32> {
        let posting = *self.lists.get(term as usize)?.get(pos as usize)?;
        Some(self.tf(term, posting))
    }

    /// The document of the posting at `pos` in `term`'s list, if there is one.
    #[cfg(test)]
    pub(crate) fn doc_at(&self, term: TermId, pos: u32) -> Option<DocId> {
        Some(self.lists.get(term as usize)?.get(pos as usize)?.doc())
    }

    /// Appends a posting for `doc` (not yet in the list) to `term`'s list; returns its position.
    pub(crate) fn push(&mut self, term: TermId, doc: DocId, tf: u32) -> Option<u32> {
        let index = term as usize;
        if self.lists.len() <= index {
            self.lists.resize_with(index + 1, Vec::new);
        }
        let list = self.lists.get_mut(index)?;
        let pos = u32::try_from(list.len()).ok()?;
        if list.len() == list.capacity() {
            // Grow by half rather than double: less slack in the many mid-sized lists.
            list.reserve_exact((list.len() / 2).max(4));
        }
        list.push(Posting::new(doc, tf));
        self.note_big(term, doc, tf);
        Some(pos)
    }

    /// Sets the frequency of `doc`'s posting at `pos` in `term`'s list.
    pub(crate) fn set_tf(&mut self, term: TermId, pos: u32, doc: DocId, tf: u32) {
        let Some(posting) = self
            .lists
            .get_mut(term as usize)
            .and_then(|l| l.get_mut(pos as usize))
        else {
            return;
        };
        if posting.doc() != doc {
            debug_assert!(false, "posting back-reference out of date");
            return;
        }
        *posting = Posting::new(doc, tf);
        self.note_big(term, doc, tf);
    }

    /// Removes `doc`'s posting at `pos` from `term`'s list by moving the list's last posting
    /// into its place. Returns the document whose posting moved to `pos`, if any; its
    /// back-reference must be updated. Frees the list's memory once it is empty.
    pub(crate) fn swap_remove(&mut self, term: TermId, pos: u32, doc: DocId) -> Removed {
        let Some(list) = self.lists.get_mut(term as usize) else {
            return Removed::Missing;
        };
        let index = pos as usize;
        if list.get(index).is_none_or(|p| p.doc() != doc) {
            debug_assert!(false, "posting back-reference out of date");
            return Removed::Missing;
        }
        let removed = list.swap_remove(index);
        let outcome = match list.get(index) {
            Some(moved) => Removed::Moved(moved.doc()),
            None if list.is_empty() => {
                *list = Vec::new();
                Removed::LastOfTerm
            }
            None => Removed::Done,
        };
        if removed.small_tf() == TF_BIG {
            self.big_tfs.remove(&(term, doc));
        }
        outcome
    }

    /// Rebuilds from lists whose frequencies are given exactly (loading a snapshot).
    pub(crate) fn from_lists(lists: Vec<Vec<(DocId, u32)>>) -> Self {
        let mut postings = Self {
            lists: Vec::with_capacity(lists.len()),
            big_tfs: WordMap::default(),
        };
        for (term, list) in lists.into_iter().enumerate() {
            let term = term as TermId;
            let mut packed = Vec::with_capacity(list.len());
            for (doc, tf) in list {
                packed.push(Posting::new(doc, tf));
                postings.note_big(term, doc, tf);
            }
            postings.lists.push(packed);
        }
        postings
    }

    /// Keeps `big_tfs` in step with a posting of `doc` in `term` that now has frequency `tf`.
    fn note_big(&mut self, term: TermId, doc: DocId, tf: u32) {
        if tf >= TF_BIG {
            self.big_tfs.insert((term, doc), tf);
        } else if !self.big_tfs.is_empty() {
            self.big_tfs.remove(&(term, doc));
        }
    }

    /// Number of postings, over all terms.
    pub(crate) fn count(&self) -> usize {
        self.lists.iter().map(Vec::len).sum()
    }

    /// Approximate heap bytes (capacities times element sizes).
    pub(crate) fn heap_bytes(&self) -> usize {
        let lists: usize = self
            .lists
            .iter()
            .map(|l| l.capacity() * size_of::<Posting>())
            .sum();
        let big_entry = size_of::<((TermId, DocId), u32)>() + 1;
        self.lists.capacity() * size_of::<Vec<Posting>>()
            + lists
            + self.big_tfs.capacity() * big_entry
    }

    #[cfg(test)]
    pub(crate) fn check_invariants(&self) {
        for (term, list) in self.lists.iter().enumerate() {
            let term = term as TermId;
            let mut docs: Vec<DocId> = list.iter().map(|p| p.doc()).collect();
            docs.sort_unstable();
            docs.dedup();
            assert_eq!(docs.len(), list.len(), "a document twice in term {term}");
            for p in list {
                let big = self.big_tfs.get(&(term, p.doc()));
                assert_eq!(p.small_tf() == TF_BIG, big.is_some(), "big_tfs of {term}");
                assert!(big.is_none_or(|&tf| tf >= TF_BIG));
            }
        }
        let big_postings = self
            .lists
            .iter()
            .flatten()
            .filter(|p| p.small_tf() == TF_BIG)
            .count();
        assert_eq!(big_postings, self.big_tfs.len(), "stale big_tfs entries");
    }
}

/// What [`Postings::swap_remove`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Removed {
    /// The posting was removed and another document's posting moved into its place.
    Moved(DocId),
    /// The posting was the list's last one and others remain.
    Done,
    /// The posting was the term's only one: no document has the term any more.
    LastOfTerm,
    /// No such posting (an internal inconsistency; nothing was changed).
    Missing,
}

/// A document's term counts while it is being tokenized: `(term, weight)` pairs, sorted and
/// summed in place whenever the buffer has doubled, so memory follows the number of distinct
/// terms rather than the number of tokens of a large note.
#[derive(Debug, Default)]
pub(crate) struct TermCounts {
    pairs: Vec<(TermId, u32)>,
    merged: usize,
}

impl TermCounts {
    /// Buffer size below which no intermediate merge happens.
    const MIN_MERGE: usize = 1024;

    pub(crate) fn add(&mut self, term: TermId, weight: u32) {
        self.pairs.push((term, weight));
        if self.pairs.len() >= (2 * self.merged).max(Self::MIN_MERGE) {
            self.merge();
        }
    }

    fn merge(&mut self) {
        self.pairs.sort_unstable_by_key(|&(term, _)| term);
        self.pairs.dedup_by(|later, kept| {
            let same = later.0 == kept.0;
            if same {
                kept.1 = kept.1.saturating_add(later.1);
            }
            same
        });
        self.merged = self.pairs.len();
    }

    /// The counts, sorted by term, each term once.
    pub(crate) fn finish(mut self) -> Vec<(TermId, u32)> {
        self.merge();
        self.pairs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packing_keeps_doc_and_small_tf() {
        for (doc, tf) in [
            (0, 1),
            (1, 254),
            ((MAX_DOCS - 1) as DocId, 3),
            (77, 255),
            (9, 100_000),
        ] {
            let p = Posting::new(doc, tf);
            assert_eq!(p.doc(), doc);
            assert_eq!(p.small_tf(), tf.min(TF_BIG));
        }
    }

    #[test]
    fn big_frequencies_are_exact() {
        let mut postings = Postings::default();
        let a = postings.push(0, 5, 3).unwrap();
        let b = postings.push(0, 6, 300).unwrap();
        let c = postings.push(0, 7, 255).unwrap();
        assert_eq!(
            (postings.tf_at(0, a), postings.tf_at(0, b)),
            (Some(3), Some(300))
        );
        assert_eq!(postings.tf_at(0, c), Some(255));
        postings.set_tf(0, b, 6, 2);
        postings.set_tf(0, a, 5, 1000);
        assert_eq!(
            (postings.tf_at(0, a), postings.tf_at(0, b)),
            (Some(1000), Some(2))
        );
        postings.check_invariants();
        assert_eq!(postings.swap_remove(0, a, 5), Removed::Moved(7));
        assert_eq!(postings.tf_at(0, a), Some(255));
        assert_eq!(postings.swap_remove(0, 1, 6), Removed::Done);
        assert_eq!(postings.swap_remove(0, 0, 7), Removed::LastOfTerm);
        postings.check_invariants();
        assert_eq!(postings.count(), 0);
    }

    #[test]
    fn term_counts_sum_in_place() {
        let mut counts = TermCounts::default();
        for i in 0..10_000u32 {
            counts.add(i % 7, 1 + i % 2);
        }
        assert!(counts.pairs.len() < 2 * TermCounts::MIN_MERGE);
        let total: u32 = counts.finish().iter().map(|&(_, n)| n).sum();
        assert_eq!(total, 15_000);
        assert_eq!(TermCounts::default().finish(), []);
    }
}
