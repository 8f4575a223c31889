//! The storage the engine runs on: one small trait, and the in-memory implementation.
//!
//! The trait is shaped for a Durable Object's SQLite storage (a table of events keyed by seq,
//! one row for the latest snapshot) and is just as easy over files (`tools`) or memory
//! (tests). Its contract:
//! - [`Storage::append`] stores all of the given events or none of them, and is durable when
//!   it returns `Ok`. The engine never appends a seq that is not the next one.
//! - [`Storage::read`] returns stored events in seq order, starting at the first seq `>= from`.
//! - [`Storage::put_snapshot`] replaces the one stored snapshot, atomically.
//! - [`Storage::drop_through`] forgets events up to a seq; the engine calls it only for events
//!   that a stored snapshot covers and that were archived.
//! - The full-text search index lives in the storage too, not in memory: a 100,000-note user's
//!   index would not fit an object. [`Storage::append_indexed`] appends events and applies
//!   their [`SearchChange`]s all or nothing, recording the last seq; the other `search*`
//!   methods read it. [`MemorySearch`] is the in-memory implementation; a SQL database uses
//!   [`crate::search::sql`], which answers the same. [`Storage::notes_with_fragment`] and
//!   [`Storage::always_candidates`] answer the substring questions grep narrows with
//!   ([`crate::grep::narrow`]).
//!
//! - The notes (file index and history) live in the storage too, for the same reason:
//!   [`Storage::append_indexed`] also applies the events' [`NotesChange`], and
//!   [`Storage::notes`] reads them ([`crate::notes`]). A storage whose notes survive it being
//!   opened again says so ([`Storage::keeps_notes`]): its local snapshots then leave the
//!   notes out ([`crate::snapshot`], format 2).
//!
//! A failing call returns [`StorageError`]; the engine then leaves its in-memory state as it
//! was before the operation, so a caller may retry.

use std::collections::{BTreeSet, VecDeque};

use thiserror::Error;

use crate::envelope::StoredEvent;
use crate::grep::narrow::Fragment;
use crate::history::Version;
use crate::ids::Hash;
use crate::notes::{MemoryNotes, NotesChange, NotesView};
use crate::path::NotePath;
use crate::search::memory::MemorySearch;
use crate::search::sql::{MaintainReport, SearchChange, SearchWork};
use crate::search::{SearchCursor, SearchPage};

/// The one snapshot a storage keeps: the seq it covers and its encoded bytes
/// (see [`crate::snapshot`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSnapshot {
    /// The last seq the snapshot covers.
    pub seq: u64,
    /// The encoded snapshot.
    pub bytes: Vec<u8>,
}

/// One step of filling a projection (the notes, the search index's queue) in bulk, over
/// several all-or-nothing calls so that no call holds the whole projection.
///
/// `Begin` empties it and sets the seq it reflects to 0, so that a load cut off part way is
/// seen as not loaded and is started again; `Add` adds items; `Finish` records the seq of the
/// last event it now reflects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bulk<'a, T> {
    /// Empty it, seq 0.
    Begin,
    /// Add these items.
    Add(&'a [T]),
    /// It reflects the log up to this seq.
    Finish(u64),
}

/// A storage backend failed. The message is the backend's own.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("storage failed: {message}")]
pub struct StorageError {
    /// What the backend reported.
    pub message: String,
}

impl StorageError {
    /// An error with this message.
    pub fn new(message: impl Into<String>) -> StorageError {
        StorageError {
            message: message.into(),
        }
    }
}

/// Where the log and its snapshot are kept. See the module docs for the contract.
pub trait Storage {
    /// Stores `events` (contiguous seqs following the last stored one), all or none.
    fn append(&mut self, events: &[StoredEvent]) -> Result<(), StorageError>;
    /// Up to `max` stored events with seq `>= from`, in seq order.
    fn read(&self, from: u64, max: usize) -> Result<Vec<StoredEvent>, StorageError>;
    /// Replaces the stored snapshot.
    fn put_snapshot(&mut self, snapshot: &StoredSnapshot) -> Result<(), StorageError>;
    /// The stored snapshot, if any.
    fn snapshot(&self) -> Result<Option<StoredSnapshot>, StorageError>;
    /// Forgets every event with seq `<= through`.
    fn drop_through(&mut self, through: u64) -> Result<(), StorageError>;

    /// [`Storage::append`], the notes change and the search index changes those events make,
    /// all or nothing; the notes and the index then reflect the last event's seq (with no
    /// events, their seqs stay).
    fn append_indexed(
        &mut self,
        events: &[StoredEvent],
        notes: &NotesChange,
        changes: &[SearchChange],
    ) -> Result<(), StorageError>;
    /// Applies `notes`, made by events up to `seq` that are already stored (replay), all or
    /// nothing.
    fn apply_notes(&mut self, notes: &NotesChange, seq: u64) -> Result<(), StorageError>;
    /// One step of loading the notes in bulk from a full snapshot (see [`Bulk`]): `Add` gets
    /// paths in order, none already there, each with all its versions.
    fn load_notes(&mut self, step: Bulk<'_, (NotePath, Vec<Version>)>) -> Result<(), StorageError>;
    /// Reading the notes.
    fn notes(&self) -> NotesView<'_>;
    /// Whether the notes survive this storage being opened again (so a snapshot need not
    /// carry them).
    fn keeps_notes(&self) -> bool;
    /// Ranked full-text search (see [`crate::search`]).
    fn search(
        &self,
        query: &str,
        limit: usize,
        after: Option<&SearchCursor>,
    ) -> Result<SearchPage, StorageError>;
    /// Up to `limit` notes whose text the index waits for, with the content hash it waits for.
    fn unindexed(&self, limit: usize) -> Result<Vec<(String, Hash)>, StorageError>;
    /// Whether `path` is indexed with the text of content `hash`.
    fn is_indexed(&self, path: &str, hash: Hash) -> Result<bool, StorageError>;
    /// The seq of the last event the index reflects.
    fn search_seq(&self) -> Result<u64, StorageError>;
    /// One step of emptying the index and queueing every current note (path, content hash)
    /// for its text (see [`Bulk`]).
    fn reset_search(&mut self, step: Bulk<'_, (String, Hash)>) -> Result<(), StorageError>;
    /// One bounded step of index upkeep (merging recent changes), at most `max_notes` notes.
    fn maintain_search(&mut self, max_notes: usize) -> Result<MaintainReport, StorageError>;
    /// The index's waiting work (texts to index, changes to merge).
    fn search_work(&self) -> Result<SearchWork, StorageError>;
    /// The notes whose text or path holds an indexed term that holds `fragment`
    /// ([`Fragment::in_term`]), when there are at most `max` of them; `None` when there are
    /// more, or when the fragment is in too many terms to narrow anything
    /// ([`crate::search::sql::MAX_FRAGMENT_TERMS`]). Notes the index cannot answer for are
    /// left out: see [`Storage::always_candidates`].
    fn notes_with_fragment(
        &self,
        fragment: &Fragment,
        max: usize,
    ) -> Result<Option<BTreeSet<String>>, StorageError>;
    /// The notes a fragment lookup cannot rule out: those waiting for their text, and those
    /// whose text holds a run of letters too long to be a term. At most `max`; `None` when
    /// there are more.
    fn always_candidates(&self, max: usize) -> Result<Option<BTreeSet<String>>, StorageError>;
}

/// The search methods of [`Storage`] for a storage that keeps a [`MemorySearch`] beside its
/// log: every implementation but the SQL one forwards to these.
macro_rules! memory_search_methods {
    ($field:ident) => {
        fn search(
            &self,
            query: &str,
            limit: usize,
            after: Option<&$crate::search::SearchCursor>,
        ) -> Result<$crate::search::SearchPage, $crate::storage::StorageError> {
            Ok(self.$field.search(query, limit, after))
        }

        fn unindexed(
            &self,
            limit: usize,
        ) -> Result<Vec<(String, $crate::ids::Hash)>, $crate::storage::StorageError> {
            Ok(self.$field.unindexed(limit))
        }

        fn is_indexed(
            &self,
            path: &str,
            hash: $crate::ids::Hash,
        ) -> Result<bool, $crate::storage::StorageError> {
            Ok(self.$field.is_indexed(path, hash))
        }

        fn search_seq(&self) -> Result<u64, $crate::storage::StorageError> {
            Ok(self.$field.seq())
        }

        fn reset_search(
            &mut self,
            step: $crate::storage::Bulk<'_, (String, $crate::ids::Hash)>,
        ) -> Result<(), $crate::storage::StorageError> {
            self.$field.reset(step);
            Ok(())
        }

        fn maintain_search(
            &mut self,
            _max_notes: usize,
        ) -> Result<$crate::search::sql::MaintainReport, $crate::storage::StorageError> {
            Ok($crate::search::sql::MaintainReport::default())
        }

        fn search_work(
            &self,
        ) -> Result<$crate::search::sql::SearchWork, $crate::storage::StorageError> {
            Ok(self.$field.work())
        }

        fn notes_with_fragment(
            &self,
            fragment: &$crate::grep::narrow::Fragment,
            max: usize,
        ) -> Result<Option<std::collections::BTreeSet<String>>, $crate::storage::StorageError> {
            Ok(self.$field.notes_with_fragment(fragment, max))
        }

        fn always_candidates(
            &self,
            max: usize,
        ) -> Result<Option<std::collections::BTreeSet<String>>, $crate::storage::StorageError> {
            Ok(self.$field.always_candidates(max))
        }
    };
}
pub(crate) use memory_search_methods;

/// Storage in memory, for tests, simulations and tools. It can be told to fail: see
/// [`MemoryStorage::fail_after`].
#[derive(Debug, Clone, Default)]
pub struct MemoryStorage {
    events: VecDeque<StoredEvent>,
    snapshot: Option<StoredSnapshot>,
    notes: MemoryNotes,
    search: MemorySearch,
    /// Mutating calls left before every call fails; `None` never fails.
    fail_countdown: Option<u64>,
}

impl MemoryStorage {
    /// Empty storage.
    pub fn new() -> MemoryStorage {
        MemoryStorage::default()
    }

    /// After `calls` more successful mutating calls (append, put_snapshot, drop_through),
    /// every mutating call fails without changing anything, until [`MemoryStorage::heal`].
    pub fn fail_after(&mut self, calls: u64) {
        self.fail_countdown = Some(calls);
    }

    /// Stops failing.
    pub fn heal(&mut self) {
        self.fail_countdown = None;
    }

    /// How many events are stored.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Whether no events are stored.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Mutable access to the stored events, for tests that corrupt them.
    pub fn events_mut(&mut self) -> &mut VecDeque<StoredEvent> {
        &mut self.events
    }

    fn may_mutate(&mut self) -> Result<(), StorageError> {
        match &mut self.fail_countdown {
            None => Ok(()),
            Some(0) => Err(StorageError::new("injected failure")),
            Some(n) => {
                *n -= 1;
                Ok(())
            }
        }
    }
}

impl Storage for MemoryStorage {
    fn append(&mut self, events: &[StoredEvent]) -> Result<(), StorageError> {
        self.may_mutate()?;
        let mut next = self.events.back().map_or(0, |e| e.seq) + 1;
        if self.events.is_empty() {
            next = events.first().map_or(next, |e| e.seq);
        }
        for (i, event) in events.iter().enumerate() {
            if event.seq != next + i as u64 {
                return Err(StorageError::new(format!(
                    "append of seq {} where {} was expected",
                    event.seq,
                    next + i as u64
                )));
            }
        }
        self.events.extend(events.iter().cloned());
        Ok(())
    }

    fn read(&self, from: u64, max: usize) -> Result<Vec<StoredEvent>, StorageError> {
        let start = self.events.partition_point(|e| e.seq < from);
        Ok(self.events.iter().skip(start).take(max).cloned().collect())
    }

    fn put_snapshot(&mut self, snapshot: &StoredSnapshot) -> Result<(), StorageError> {
        self.may_mutate()?;
        self.snapshot = Some(snapshot.clone());
        Ok(())
    }

    fn snapshot(&self) -> Result<Option<StoredSnapshot>, StorageError> {
        Ok(self.snapshot.clone())
    }

    fn drop_through(&mut self, through: u64) -> Result<(), StorageError> {
        self.may_mutate()?;
        while self.events.front().is_some_and(|e| e.seq <= through) {
            self.events.pop_front();
        }
        Ok(())
    }

    fn append_indexed(
        &mut self,
        events: &[StoredEvent],
        notes: &NotesChange,
        changes: &[SearchChange],
    ) -> Result<(), StorageError> {
        if !events.is_empty() {
            self.append(events)?;
        } else {
            self.may_mutate()?;
        }
        let seq = events.last().map(|e| e.seq);
        self.notes.apply(notes, seq.unwrap_or(0));
        self.search.apply(changes, seq);
        Ok(())
    }

    fn apply_notes(&mut self, notes: &NotesChange, seq: u64) -> Result<(), StorageError> {
        self.may_mutate()?;
        self.notes.apply(notes, seq);
        Ok(())
    }

    fn load_notes(&mut self, step: Bulk<'_, (NotePath, Vec<Version>)>) -> Result<(), StorageError> {
        self.may_mutate()?;
        self.notes.load(step);
        Ok(())
    }

    fn notes(&self) -> NotesView<'_> {
        self.notes.view()
    }

    /// The notes live as long as this value: a store opened again on it (or on a clone)
    /// finds them, as a Durable Object finds its tables.
    fn keeps_notes(&self) -> bool {
        true
    }

    memory_search_methods!(search);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::Hash;

    fn event(seq: u64) -> StoredEvent {
        StoredEvent {
            seq,
            hash: Hash::ZERO,
            bytes: vec![seq as u8],
        }
    }

    #[test]
    fn appends_reads_and_drops_in_order() {
        let mut s = MemoryStorage::new();
        s.append(&[event(1), event(2), event(3)]).unwrap();
        assert!(s.append(&[event(5)]).is_err(), "gaps are refused");
        assert_eq!(s.read(2, 10).unwrap(), vec![event(2), event(3)]);
        s.drop_through(2).unwrap();
        assert_eq!(s.read(0, 10).unwrap(), vec![event(3)]);
        s.append(&[event(4)]).unwrap();
        assert_eq!(s.len(), 2);
    }

    #[test]
    fn injected_failures_change_nothing() {
        let mut s = MemoryStorage::new();
        s.fail_after(1);
        s.append(&[event(1)]).unwrap();
        assert!(s.append(&[event(2)]).is_err());
        assert!(s.drop_through(1).is_err());
        assert_eq!(s.len(), 1);
        s.heal();
        s.append(&[event(2)]).unwrap();
        assert_eq!(s.len(), 2);
    }
}
