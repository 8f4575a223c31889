//! Upkeep: deadlines (session expiry, snapshot due), snapshots, archiving segments,
//! compaction, verification and rebuilding from archives.
//!
//! The store never runs anything on its own. [`Store::next_deadline`] says when it next needs
//! the caller; [`Store::on_deadline`] expires sessions and says whether a snapshot is due. A
//! snapshot cycle is: [`Store::take_snapshot`] (upload its bytes), then for each range in
//! [`Store::compaction_plan`]: [`Store::encode_segment`] (upload), [`Store::record_archived`];
//! then [`Store::compact`]. Each step may be retried; none loses data if the caller stops
//! between steps.

use std::ops::RangeInclusive;

use thiserror::Error;

use super::sessions::derived_id;
use super::{AppendError, Applied, OpenError, OpenReport, Store};
use crate::envelope::{ChainHead, StoredEvent};
use crate::event::{Event, SegmentArchived, SessionRef};
use crate::ids::{EventId, SessionId, Timestamp};
use crate::segment::{self, Segment, SegmentError, VerifyError};
use crate::snapshot::{self, Snapshot, SnapshotError};
use crate::state::State;
use crate::storage::{Storage, StorageError, StoredSnapshot};

/// What [`Store::on_deadline`] did and found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeadlineReport {
    /// Sessions it expired.
    pub expired: Vec<SessionId>,
    /// Whether a snapshot is due: call [`Store::take_snapshot`].
    pub snapshot_due: bool,
}

/// Why a deadline could not be handled completely.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("expiring sessions failed after {} were expired: {source}", expired.len())]
pub struct DeadlineError {
    /// Sessions expired before the failure (their events are durable).
    pub expired: Vec<SessionId>,
    /// The failure.
    pub source: AppendError,
}

/// Why a snapshot could not be taken.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SnapshotTakeError {
    /// Storage failed; the previous snapshot stands.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// What to archive before compacting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompactionPlan {
    /// Ranges of seqs to encode and archive, in order.
    pub segments: Vec<RangeInclusive<u64>>,
    /// Once they are archived, local events up to this seq can be dropped (0: none).
    pub drop_through: u64,
}

/// Why a segment could not be archived.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ArchiveError {
    /// The range does not start right after the archived prefix, or goes past the head.
    #[error("segment {first}..={last} must start at seq {next} and end by the head")]
    Range {
        /// Asked first seq.
        first: u64,
        /// Asked last seq.
        last: u64,
        /// The next seq to archive.
        next: u64,
    },
    /// Local storage no longer holds the events.
    #[error("events {first}..={last} are not in local storage")]
    Missing {
        /// First seq.
        first: u64,
        /// Last seq.
        last: u64,
    },
    /// The stored events do not verify.
    #[error(transparent)]
    Segment(#[from] SegmentError),
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Appending the `segment.archived` event failed.
    #[error(transparent)]
    Append(#[from] AppendError),
}

/// Why local events could not be dropped.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum CompactError {
    /// Storage failed; nothing was dropped.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Why a store could not be rebuilt from archives.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum RebuildError {
    /// The target storage is not empty.
    #[error("the storage to rebuild into is not empty")]
    NotEmpty,
    /// The snapshot is unreadable.
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    /// A segment is unreadable.
    #[error(transparent)]
    Segment(#[from] SegmentError),
    /// The segments do not continue the snapshot's chain.
    #[error(transparent)]
    Chain(#[from] VerifyError),
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The rebuilt storage did not open.
    #[error(transparent)]
    Open(#[from] OpenError),
}

/// What [`Store::verify`] checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifyReport {
    /// The first stored seq checked (0: storage holds no events).
    pub first: u64,
    /// The head the stored events lead to.
    pub head: ChainHead,
    /// Whether the first stored event was checked against a known hash before it (the empty
    /// log or the end of the archived prefix); otherwise the chain is checked from it on.
    pub anchored: bool,
}

/// Events appended per storage call while rebuilding.
const WRITE_BATCH: usize = 1_024;

impl<S: Storage> Store<S> {
    /// When the store next needs [`Store::on_deadline`]: the earliest session expiry or the
    /// time a snapshot falls due. `None` when nothing is pending (then no alarm is needed).
    pub fn next_deadline(&self) -> Option<Timestamp> {
        let expiry = self.state.sessions.next_expiry();
        match (expiry, self.snapshot_due_at()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn snapshot_due_at(&self) -> Option<Timestamp> {
        let since = self.unsnapshotted_since?;
        let behind = self.state.head.seq.saturating_sub(self.snapshot_seq);
        if behind >= self.config.snapshot_every_events {
            Some(since)
        } else {
            Some(since.plus_ms(self.config.snapshot_every_ms))
        }
    }

    /// Whether a snapshot is due at `now`.
    pub fn snapshot_due(&self, now: Timestamp) -> bool {
        self.snapshot_due_at().is_some_and(|due| now >= due)
    }

    /// Expires every session idle past its timeout at `now`, and reports whether a snapshot is
    /// due. Safe to call any number of times (alarms are delivered at least once).
    pub fn on_deadline(&mut self, now: Timestamp) -> Result<DeadlineReport, DeadlineError> {
        let mut expired = Vec::new();
        for session in self.state.sessions.expired(now) {
            let id = derived_id(b"session.expired", &session, now);
            let event = Event::SessionExpired(SessionRef {
                session: session.clone(),
            });
            if let Err(source) = self.append(id, now, None, event, None) {
                return Err(DeadlineError { expired, source });
            }
            expired.push(session);
        }
        Ok(DeadlineReport {
            expired,
            snapshot_due: self.snapshot_due(now),
        })
    }

    /// Encodes the state as a snapshot and stores it locally; returns it for archiving.
    ///
    /// The one returned is always full (format 1: archives are what restores start from). The
    /// one stored locally is lean (format 2) when the storage keeps the notes itself.
    pub fn take_snapshot(&mut self) -> Result<Snapshot, SnapshotTakeError> {
        let snap = snapshot::encode(&self.state, &self.storage.notes())?;
        let local = if self.storage.keeps_notes() && self.config.lean_local_snapshots {
            snapshot::encode_lean(&self.state).bytes
        } else {
            snap.bytes.clone()
        };
        self.storage.put_snapshot(&StoredSnapshot {
            seq: snap.seq,
            bytes: local,
        })?;
        self.snapshot_seq = snap.seq;
        self.unsnapshotted_since = None;
        Ok(snap)
    }

    /// Stores a snapshot of the state locally without encoding the full one an archive needs,
    /// when the local one is lean (the full one costs time in proportion to the notes: about
    /// 0.4 s natively and 1 s in workerd at 100,000 notes; the lean one, the idempotency
    /// window's). Returns its seq. Otherwise the same as [`Store::take_snapshot`].
    pub fn take_local_snapshot(&mut self) -> Result<u64, SnapshotTakeError> {
        if !(self.storage.keeps_notes() && self.config.lean_local_snapshots) {
            return self.take_snapshot().map(|snap| snap.seq);
        }
        let lean = snapshot::encode_lean(&self.state);
        self.storage.put_snapshot(&StoredSnapshot {
            seq: lean.seq,
            bytes: lean.bytes,
        })?;
        self.snapshot_seq = lean.seq;
        self.unsnapshotted_since = None;
        Ok(lean.seq)
    }

    /// The seq of the locally stored snapshot (0: none).
    pub fn snapshot_seq(&self) -> u64 {
        self.snapshot_seq
    }

    /// The end of the archived prefix of the log.
    pub fn archived(&self) -> ChainHead {
        self.state.archived
    }

    /// What to archive so that local events up to the stored snapshot can be dropped.
    pub fn compaction_plan(&self) -> CompactionPlan {
        let first = self.state.archived.seq + 1;
        let last = self.snapshot_seq;
        let step = self.config.segment_max_events.max(1);
        let mut segments = Vec::new();
        let mut start = first;
        while start <= last {
            let end = start.saturating_add(step - 1).min(last);
            segments.push(start..=end);
            start = end + 1;
        }
        CompactionPlan {
            segments,
            drop_through: last,
        }
    }

    /// Encodes the stored events `first..=last` as a segment. `first` must follow the archived
    /// prefix.
    pub fn encode_segment(&self, first: u64, last: u64) -> Result<Segment, ArchiveError> {
        let prev = self.state.archived;
        if first != prev.seq + 1 || last < first || last > self.state.head.seq {
            return Err(ArchiveError::Range {
                first,
                last,
                next: prev.seq + 1,
            });
        }
        self.encode_stored(prev, last)
    }

    /// Encodes the stored events `first..=last` as a segment without archiving them (backups
    /// copy the part of the log that is not archived yet). The events must still be stored, and
    /// so must the one before `first` unless it is the archived head.
    pub fn encode_range(&self, first: u64, last: u64) -> Result<Segment, ArchiveError> {
        let archived = self.state.archived;
        if first == 0 || last < first || last > self.state.head.seq {
            return Err(ArchiveError::Range {
                first,
                last,
                next: archived.seq + 1,
            });
        }
        let prev = if first == archived.seq + 1 {
            archived
        } else {
            let before = self.storage.read(first - 1, 1)?;
            match before.first() {
                Some(event) if event.seq == first - 1 => ChainHead {
                    seq: event.seq,
                    hash: event.hash,
                },
                _ => {
                    return Err(ArchiveError::Missing {
                        first: first - 1,
                        last,
                    });
                }
            }
        };
        self.encode_stored(prev, last)
    }

    /// Encodes the stored events after `prev` up to `last`, chained from `prev`.
    fn encode_stored(&self, prev: ChainHead, last: u64) -> Result<Segment, ArchiveError> {
        let first = prev.seq + 1;
        let mut events: Vec<StoredEvent> = Vec::new();
        while events.last().map_or(first - 1, |e| e.seq) < last {
            let from = events.last().map_or(first, |e| e.seq + 1);
            let want = usize::try_from(last - from + 1).unwrap_or(usize::MAX);
            let batch = self.storage.read(from, want.min(super::READ_BATCH))?;
            if batch.first().is_none_or(|e| e.seq != from) {
                return Err(ArchiveError::Missing { first, last });
            }
            events.extend(batch.into_iter().take_while(|e| e.seq <= last));
        }
        Ok(segment::encode(prev, &events)?)
    }

    /// Records that `segment` is archived (a `segment.archived` event).
    pub fn record_archived(
        &mut self,
        segment: &Segment,
        now: Timestamp,
    ) -> Result<Applied, ArchiveError> {
        let mut key = b"segment.archived".to_vec();
        key.extend_from_slice(&segment.digest.0);
        let event = Event::SegmentArchived(SegmentArchived {
            first_seq: segment.first_seq,
            last_seq: segment.last_seq,
            last_hash: segment.last_hash,
            digest: segment.digest,
        });
        Ok(self.append(EventId::derive(&key), now, None, event, None)?)
    }

    /// Drops local events that both the stored snapshot and the archive cover. Returns the
    /// last seq dropped (0: none).
    pub fn compact(&mut self) -> Result<u64, CompactError> {
        let through = self.snapshot_seq.min(self.state.archived.seq);
        if through > 0 {
            self.storage.drop_through(through)?;
        }
        Ok(through)
    }

    /// Walks the stored events and checks the hash chain, reporting the first bad seq.
    pub fn verify(&self) -> Result<VerifyReport, VerifyError> {
        let storage_error = |seq| VerifyError {
            seq,
            reason: segment::BreakReason::Gap { found: 0 },
        };
        let first = self.storage.read(0, 1).map_err(|_| storage_error(1))?;
        let Some(first) = first.into_iter().next() else {
            return Ok(VerifyReport {
                first: 0,
                head: self.state.head,
                anchored: true,
            });
        };
        let archived = self.state.archived;
        let (mut head, anchored, from) = if first.seq == 1 {
            (ChainHead::default(), true, 1)
        } else if first.seq == archived.seq + 1 {
            (archived, true, first.seq)
        } else {
            let head = ChainHead {
                seq: first.seq,
                hash: first.hash,
            };
            (head, false, first.seq + 1)
        };
        let start = first.seq;
        let mut next = from;
        loop {
            let batch = self
                .storage
                .read(next, super::READ_BATCH)
                .map_err(|_| storage_error(next))?;
            if batch.is_empty() {
                break;
            }
            head = segment::verify_chain(head, &batch)?;
            next = head.seq + 1;
        }
        Ok(VerifyReport {
            first: start,
            head,
            anchored,
        })
    }

    /// Fills empty `storage` from an archived snapshot and the segments after it, verifying
    /// every hash, then opens it. Segments may come in any order and may overlap the snapshot;
    /// a gap is an error.
    pub fn rebuild(
        mut storage: S,
        snapshot_bytes: Option<Vec<u8>>,
        segments: &[&[u8]],
        config: super::Config,
    ) -> Result<(Store<S>, OpenReport), RebuildError> {
        if storage.snapshot()?.is_some() || !storage.read(0, 1)?.is_empty() {
            return Err(RebuildError::NotEmpty);
        }
        let start = match &snapshot_bytes {
            Some(bytes) => {
                if snapshot::format(bytes)? != snapshot::SNAPSHOT_FORMAT_VERSION {
                    return Err(RebuildError::Snapshot(SnapshotError::Inconsistent(
                        "a lean snapshot (format 2) cannot start a rebuild".into(),
                    )));
                }
                snapshot::decode_state(bytes, 1)?.head
            }
            None => State::new(1).head,
        };
        let mut decoded = segments
            .iter()
            .map(|bytes| segment::decode(bytes))
            .collect::<Result<Vec<_>, _>>()?;
        decoded.sort_by_key(|s| s.prev.seq);
        let events: Vec<StoredEvent> = decoded
            .into_iter()
            .flat_map(|s| s.events)
            .filter(|e| e.seq > start.seq)
            .collect();
        let mut deduped: Vec<StoredEvent> = Vec::with_capacity(events.len());
        for event in events {
            if deduped.last().is_none_or(|last| last.seq < event.seq) {
                deduped.push(event);
            }
        }
        segment::verify_chain(start, &deduped)?;
        let snapshot = snapshot_bytes.map(|bytes| StoredSnapshot {
            seq: start.seq,
            bytes,
        });
        if let Some(snapshot) = &snapshot {
            storage.put_snapshot(snapshot)?;
        }
        for batch in deduped.chunks(WRITE_BATCH) {
            storage.append(batch)?;
        }
        Ok(Store::open_from(storage, snapshot, config)?)
    }
}
