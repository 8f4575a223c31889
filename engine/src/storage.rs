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
//!
//! A failing call returns [`StorageError`]; the engine then leaves its in-memory state as it
//! was before the operation, so a caller may retry.

use std::collections::VecDeque;

use thiserror::Error;

use crate::envelope::StoredEvent;

/// The one snapshot a storage keeps: the seq it covers and its encoded bytes
/// (see [`crate::snapshot`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSnapshot {
    /// The last seq the snapshot covers.
    pub seq: u64,
    /// The encoded snapshot.
    pub bytes: Vec<u8>,
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
}

/// Storage in memory, for tests, simulations and tools. It can be told to fail: see
/// [`MemoryStorage::fail_after`].
#[derive(Debug, Clone, Default)]
pub struct MemoryStorage {
    events: VecDeque<StoredEvent>,
    snapshot: Option<StoredSnapshot>,
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
