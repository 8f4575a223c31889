//! Which notes a grep must read, as the storage's search index tells
//! ([`Store::grep_candidates`]): the pattern's [`Narrowing`] answered with the index's
//! fragment lookups, plus the notes the index cannot answer for.

use std::collections::BTreeSet;

use super::Store;
use crate::grep::narrow::{Candidates, Fragment, FragmentIndex, Narrowing};
use crate::storage::{Storage, StorageError};

/// The most notes [`Store::grep_candidates`] narrows a grep to; with more, it does not narrow
/// (reading them all costs about what a scan of every note does).
pub const MAX_GREP_CANDIDATES: usize = 5_000;

/// A note set lookup: `None` means "more than `max`", or "cannot tell".
type Lookup<'a> = dyn Fn(&Fragment, usize) -> Result<Option<BTreeSet<String>>, StorageError> + 'a;

impl<S: Storage> Store<S> {
    /// The notes in which `pattern` (regex-lite syntax, as [`crate::grep::GrepPattern`]
    /// takes it) may match a line: every note with such a line is among them, as long as the
    /// index's contract holds ([`crate::grep::narrow`], "Soundness"). `None` when the index
    /// cannot narrow the search: a pattern that needs no literal word (`\d+`, `.*`), or whose
    /// words are too common, or more than [`MAX_GREP_CANDIDATES`] candidates. Then every note
    /// is a candidate.
    ///
    /// Notes the index has no text for yet, or whose text holds a run too long to be a term,
    /// are always candidates.
    pub fn grep_candidates(&self, pattern: &str) -> Result<Option<BTreeSet<String>>, StorageError> {
        grep_candidates(
            pattern,
            &|fragment, max| self.storage.notes_with_fragment(fragment, max),
            &|max| self.storage.always_candidates(max),
        )
    }
}

/// [`Store::grep_candidates`] over any index: `notes_with` answers
/// [`Storage::notes_with_fragment`], `always` [`Storage::always_candidates`].
pub(crate) fn grep_candidates(
    pattern: &str,
    notes_with: &Lookup<'_>,
    always: &dyn Fn(usize) -> Result<Option<BTreeSet<String>>, StorageError>,
) -> Result<Option<BTreeSet<String>>, StorageError> {
    let narrowing = Narrowing::of(pattern);
    if narrowing == Narrowing::All {
        return Ok(None);
    }
    let mut index = Fragments {
        notes_with,
        max: MAX_GREP_CANDIDATES,
    };
    let Candidates::Some(mut found) = narrowing.candidates(&mut index)? else {
        return Ok(None);
    };
    if found.len() > MAX_GREP_CANDIDATES {
        return Ok(None);
    }
    let Some(always) = always(MAX_GREP_CANDIDATES)? else {
        return Ok(None);
    };
    found.extend(always);
    Ok((found.len() <= MAX_GREP_CANDIDATES).then_some(found))
}

/// The storage's fragment lookups as a [`FragmentIndex`]: a fragment held by more than `max`
/// notes is "cannot tell" (every note), which an `And` with a rarer fragment still narrows.
struct Fragments<'a, 'b> {
    notes_with: &'a Lookup<'b>,
    max: usize,
}

impl FragmentIndex for Fragments<'_, '_> {
    type Note = String;
    type Error = StorageError;

    fn notes_with(
        &mut self,
        fragment: &Fragment,
    ) -> Result<Option<BTreeSet<String>>, StorageError> {
        (self.notes_with)(fragment, self.max)
    }
}

#[cfg(test)]
mod tests;
