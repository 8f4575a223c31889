//! The snapshot cycle as a step machine: a local snapshot, the log up to it archived to R2 as
//! segments, the snapshot uploaded, the local log compacted.
//!
//! [`SnapshotCycle`] decides; the caller (the user's Durable Object, from its alarm) performs.
//! The caller lends the engine [`Store`] to each call and drives the machine as "poll, perform,
//! hand back": [`SnapshotCycle::poll`] does the engine's part of the next step and names the
//! I/O to perform ([`CycleStep`]), [`SnapshotCycle::handle`] takes the outcome, and
//! [`SnapshotCycle::poll_event`] gives what happened, for logs. Time comes in with every
//! call; [`SnapshotCycle::next_deadline`] says when an unfinished cycle wants to run again.
//!
//! ```
//! use std::collections::BTreeMap;
//!
//! use backups::snapshot_cycle::{CycleStep, RETRY_DELAY_MS, SnapshotCycle, StepOutcome};
//! use engine::{Config, MemoryStorage, Store, Timestamp};
//!
//! let (mut store, _) = Store::open(MemoryStorage::new(), Config::default()).unwrap();
//! let mut r2: BTreeMap<String, Vec<u8>> = BTreeMap::new();
//! let mut flag = false;
//! let now = Timestamp(1_796_515_200_000);
//! let mut cycle = SnapshotCycle::new(RETRY_DELAY_MS);
//! cycle.start("1001", now);
//! while let Some(step) = cycle.poll(&mut store, now).unwrap() {
//!     match step {
//!         CycleStep::MarkPending => flag = true,
//!         CycleStep::ClearPending => flag = false,
//!         CycleStep::PutSegment { key, bytes } | CycleStep::PutSnapshot { key, bytes } => {
//!             r2.entry(key).or_insert(bytes);
//!         }
//!     }
//!     cycle.handle(&mut store, StepOutcome::Done, now).unwrap();
//! }
//! assert!(!flag && !cycle.is_pending() && cycle.next_deadline().is_none());
//! assert_eq!(r2.len(), 1, "an empty log: the snapshot alone");
//! ```
//!
//! # One cycle
//! 1. [`CycleStep::MarkPending`]: the caller sets a durable flag that a cycle is under way;
//! 2. a local snapshot `S` is taken;
//! 3. each range of the store's compaction plan is encoded as a segment and yielded as
//!    [`CycleStep::PutSegment`]; once the caller reports it stored, the store records it
//!    (`segment.archived`);
//! 4. [`CycleStep::PutSnapshot`] uploads `S`;
//! 5. a second local snapshot is taken when the only events since `S` are step 3's records
//!    (so those bookkeeping events alone never make another snapshot due: an idle user's
//!    alarm goes quiet), and the local events the archive and the local snapshot cover are
//!    dropped;
//! 6. [`CycleStep::ClearPending`]: the caller clears the flag.
//!
//! # What it guarantees
//! - Segments go up before the snapshot whose log they hold, so the archive never holds a
//!   snapshot whose segments are missing.
//! - Every key names its content ([`crate::archive`]); the caller writes a key only when it is
//!   absent (put once). A retried step therefore uploads the same bytes under the same key, and
//!   nothing is ever overwritten with other bytes.
//! - A failed step ([`CycleError`]) ends the attempt and leaves nothing half-done that a
//!   later cycle cannot finish: the flag stays set, [`SnapshotCycle::next_deadline`] is the
//!   failure's time plus the retry delay, and the next [`SnapshotCycle::start`] runs the whole
//!   cycle again from a new snapshot. An object that loses its memory meanwhile resumes from
//!   the flag ([`SnapshotCycle::resumed`]).

use std::collections::VecDeque;
use std::ops::RangeInclusive;

use engine::segment::Segment;
use engine::storage::Storage;
use engine::store::{ArchiveError, CompactError, SnapshotTakeError};
use engine::{Store, Timestamp};
use thiserror::Error;

use crate::archive;

/// The product's delay before an unfinished cycle runs again: 30 s.
pub const RETRY_DELAY_MS: u64 = 30_000;

/// I/O the caller performs, then reports with [`SnapshotCycle::handle`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CycleStep {
    /// Set the durable flag that a cycle is under way.
    MarkPending,
    /// Store `bytes` under `key` in R2 unless the key exists (its content is then these
    /// bytes already).
    PutSegment {
        /// The segment's key.
        key: String,
        /// The encoded segment.
        bytes: Vec<u8>,
    },
    /// Store the snapshot's `bytes` under `key` in R2 unless the key exists.
    PutSnapshot {
        /// The snapshot's key.
        key: String,
        /// The encoded snapshot.
        bytes: Vec<u8>,
    },
    /// Clear the durable flag: the cycle is complete.
    ClearPending,
}

/// How a [`CycleStep`] went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepOutcome {
    /// Done: the flag is written, or the object is in R2.
    Done,
    /// Failed; the text says why (from the runtime, for logs).
    Failed(String),
}

/// What a cycle did, for the caller's logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CycleEvent {
    /// A segment is in R2 and recorded in the log.
    SegmentArchived {
        /// Its first seq.
        first_seq: u64,
        /// Its last seq.
        last_seq: u64,
        /// Its size.
        bytes: usize,
    },
    /// The snapshot is in R2.
    SnapshotUploaded {
        /// The seq it covers.
        seq: u64,
        /// Its size.
        bytes: usize,
        /// How many segments this cycle archived before it.
        segments: usize,
    },
    /// Local events were dropped through this seq (0: none).
    Compacted {
        /// The last seq dropped.
        through: u64,
    },
}

/// Why a cycle stopped; the cycle runs again after the retry delay.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum CycleError {
    /// The durable flag could not be set.
    #[error("marking the cycle as under way failed: {reason}")]
    MarkPending {
        /// Why.
        reason: String,
    },
    /// The local snapshot could not be taken.
    #[error("taking the snapshot failed: {0}")]
    Snapshot(SnapshotTakeError),
    /// A range of the log could not be encoded as a segment.
    #[error("encoding segment {first}..={last} failed: {source}")]
    SegmentEncode {
        /// Its first seq.
        first: u64,
        /// Its last seq.
        last: u64,
        /// Why.
        source: ArchiveError,
    },
    /// A segment could not be put into R2.
    #[error("uploading {key} failed: {reason}")]
    SegmentUpload {
        /// Its key.
        key: String,
        /// Why.
        reason: String,
    },
    /// An uploaded segment could not be recorded in the log.
    #[error("recording segment {first}..={last} failed: {source}")]
    SegmentRecord {
        /// Its first seq.
        first: u64,
        /// Its last seq.
        last: u64,
        /// Why.
        source: ArchiveError,
    },
    /// The snapshot could not be put into R2.
    #[error("uploading {key} failed: {reason}")]
    SnapshotUpload {
        /// Its key.
        key: String,
        /// Why.
        reason: String,
    },
    /// The second local snapshot could not be taken.
    #[error("taking the second snapshot failed: {0}")]
    SecondSnapshot(SnapshotTakeError),
    /// Local events could not be dropped.
    #[error("compacting the local log failed: {0}")]
    Compact(CompactError),
    /// The durable flag could not be cleared.
    #[error("clearing the under-way flag failed: {reason}")]
    ClearPending {
        /// Why.
        reason: String,
    },
    /// An outcome came with no step waiting for one (a caller's mistake).
    #[error("an outcome came with no step in flight")]
    NothingInFlight,
}

impl CycleError {
    /// The step that failed, as operators' logs name it (`"step"`).
    pub fn step(&self) -> &'static str {
        match self {
            CycleError::MarkPending { .. } => "start",
            CycleError::Snapshot(_) => "snapshot",
            CycleError::SegmentEncode { .. } => "segment_encode",
            CycleError::SegmentUpload { .. } => "segment_upload",
            CycleError::SegmentRecord { .. } => "segment_record",
            CycleError::SnapshotUpload { .. } => "snapshot_upload",
            CycleError::SecondSnapshot(_) | CycleError::Compact(_) => "compact",
            CycleError::ClearPending { .. } => "finish",
            CycleError::NothingInFlight => "handle",
        }
    }
}

/// The snapshot cycle of one user's store (see the module docs).
#[derive(Debug)]
pub struct SnapshotCycle {
    retry_delay_ms: u64,
    /// A cycle started and has not completed (the durable flag, as far as this knows).
    pending: bool,
    /// When an unfinished cycle runs again.
    retry_at: Option<Timestamp>,
    run: Option<Run>,
    events: VecDeque<CycleEvent>,
}

/// The attempt under way.
#[derive(Debug)]
struct Run {
    user: String,
    phase: Phase,
}

#[derive(Debug)]
enum Phase {
    Mark,
    MarkInFlight,
    Snapshot,
    Segments(Archiving),
    SegmentInFlight {
        archiving: Archiving,
        /// The segment without its bytes (the record needs its range and digest).
        segment: Segment,
        key: String,
        bytes: usize,
    },
    SnapshotInFlight {
        uploaded: Uploaded,
        key: String,
    },
    Compact(Uploaded),
    ClearInFlight,
    /// Completed (also the placeholder while a phase is taken apart).
    Done,
}

/// Step 3's progress.
#[derive(Debug)]
struct Archiving {
    snapshot_seq: u64,
    snapshot_key: String,
    snapshot_bytes: Vec<u8>,
    ranges: VecDeque<RangeInclusive<u64>>,
    archived: usize,
}

/// After the snapshot's upload.
#[derive(Debug, Clone, Copy)]
struct Uploaded {
    snapshot_seq: u64,
    snapshot_bytes: usize,
    archived: usize,
}

impl SnapshotCycle {
    /// No cycle under way; an unfinished one runs again `retry_delay_ms` after it stopped.
    pub fn new(retry_delay_ms: u64) -> SnapshotCycle {
        SnapshotCycle {
            retry_delay_ms,
            pending: false,
            retry_at: None,
            run: None,
            events: VecDeque::new(),
        }
    }

    /// For an object that found the durable flag set when it opened its store: a cycle did
    /// not finish, and runs again `retry_delay_ms` after `now`.
    pub fn resumed(retry_delay_ms: u64, now: Timestamp) -> SnapshotCycle {
        let mut cycle = SnapshotCycle::new(retry_delay_ms);
        cycle.pending = true;
        cycle.retry_at = Some(cycle.after_delay(now));
        cycle
    }

    /// Whether a cycle is unfinished (under way, or stopped by a failure).
    pub fn is_pending(&self) -> bool {
        self.pending || self.run.is_some()
    }

    /// Whether an attempt is under way (started, not yet completed or failed).
    pub fn is_running(&self) -> bool {
        self.run.is_some()
    }

    /// When the caller should run the cycle again: set while a cycle is unfinished (also
    /// while one is under way, in case its caller stops driving it), `None` otherwise.
    pub fn next_deadline(&self) -> Option<Timestamp> {
        if self.is_pending() {
            self.retry_at
        } else {
            None
        }
    }

    /// Starts an attempt filed under `user`'s archive. Returns `false` (and changes nothing)
    /// when one is under way already.
    pub fn start(&mut self, user: &str, now: Timestamp) -> bool {
        if self.run.is_some() {
            return false;
        }
        self.run = Some(Run {
            user: user.to_owned(),
            phase: Phase::Mark,
        });
        self.retry_at = Some(self.after_delay(now));
        true
    }

    /// Ends the attempt under way as a failure would (the caller cannot go on driving it, e.g.
    /// the store is not available): the cycle stays pending and runs again after the delay.
    pub fn interrupt(&mut self, now: Timestamp) {
        if self.run.is_some() {
            self.stop(now);
        }
    }

    /// The next I/O to perform, doing the engine's work that comes before it. `Ok(None)`:
    /// nothing to do (no attempt under way, or a step waits for its outcome). An error ends
    /// the attempt.
    pub fn poll<S: Storage>(
        &mut self,
        store: &mut Store<S>,
        now: Timestamp,
    ) -> Result<Option<CycleStep>, CycleError> {
        let Some(mut run) = self.run.take() else {
            return Ok(None);
        };
        let polled = self.advance(&mut run, store);
        self.settle(run, polled, now)
    }

    /// Hands back the outcome of the step [`SnapshotCycle::poll`] gave. A failure ends the
    /// attempt (with the matching [`CycleError`]); so does an engine failure recording a
    /// segment.
    pub fn handle<S: Storage>(
        &mut self,
        store: &mut Store<S>,
        outcome: StepOutcome,
        now: Timestamp,
    ) -> Result<(), CycleError> {
        let Some(mut run) = self.run.take() else {
            return Err(CycleError::NothingInFlight);
        };
        let handled = self.complete(&mut run, store, outcome, now);
        match handled {
            Ok(()) if matches!(run.phase, Phase::Done) => {
                // Completed: the flag is clear.
                self.pending = false;
                self.retry_at = None;
                Ok(())
            }
            Ok(()) => {
                self.run = Some(run);
                Ok(())
            }
            Err(err) => {
                if !matches!(err, CycleError::NothingInFlight) {
                    self.stop(now);
                } else {
                    self.run = Some(run);
                }
                Err(err)
            }
        }
    }

    /// The next thing that happened, oldest first.
    pub fn poll_event(&mut self) -> Option<CycleEvent> {
        self.events.pop_front()
    }

    fn after_delay(&self, now: Timestamp) -> Timestamp {
        Timestamp(now.0.saturating_add(self.retry_delay_ms))
    }

    /// The attempt failed: the cycle stays pending and runs again after the delay.
    fn stop(&mut self, now: Timestamp) {
        self.run = None;
        self.pending = true;
        self.retry_at = Some(self.after_delay(now));
    }

    fn settle(
        &mut self,
        run: Run,
        polled: Result<Option<CycleStep>, CycleError>,
        now: Timestamp,
    ) -> Result<Option<CycleStep>, CycleError> {
        match polled {
            Ok(step) => {
                self.run = Some(run);
                Ok(step)
            }
            Err(err) => {
                self.stop(now);
                Err(err)
            }
        }
    }

    /// Engine work up to the next I/O step.
    fn advance<S: Storage>(
        &mut self,
        run: &mut Run,
        store: &mut Store<S>,
    ) -> Result<Option<CycleStep>, CycleError> {
        loop {
            match std::mem::replace(&mut run.phase, Phase::Done) {
                Phase::Mark => {
                    run.phase = Phase::MarkInFlight;
                    return Ok(Some(CycleStep::MarkPending));
                }
                Phase::Snapshot => {
                    let snapshot = store.take_snapshot().map_err(CycleError::Snapshot)?;
                    let plan = store.compaction_plan();
                    run.phase = Phase::Segments(Archiving {
                        snapshot_seq: snapshot.seq,
                        snapshot_key: archive::snapshot_key(
                            &run.user,
                            snapshot.seq,
                            &snapshot.digest,
                        ),
                        snapshot_bytes: snapshot.bytes,
                        ranges: plan.segments.into(),
                        archived: 0,
                    });
                }
                Phase::Segments(mut archiving) => {
                    let Some(range) = archiving.ranges.pop_front() else {
                        let bytes = archiving.snapshot_bytes;
                        let key = archiving.snapshot_key;
                        run.phase = Phase::SnapshotInFlight {
                            uploaded: Uploaded {
                                snapshot_seq: archiving.snapshot_seq,
                                snapshot_bytes: bytes.len(),
                                archived: archiving.archived,
                            },
                            key: key.clone(),
                        };
                        return Ok(Some(CycleStep::PutSnapshot { key, bytes }));
                    };
                    let (first, last) = (*range.start(), *range.end());
                    let mut segment = store.encode_segment(first, last).map_err(|source| {
                        CycleError::SegmentEncode {
                            first,
                            last,
                            source,
                        }
                    })?;
                    let key = archive::segment_key(&run.user, &segment);
                    let bytes = std::mem::take(&mut segment.bytes);
                    run.phase = Phase::SegmentInFlight {
                        archiving,
                        segment,
                        key: key.clone(),
                        bytes: bytes.len(),
                    };
                    return Ok(Some(CycleStep::PutSegment { key, bytes }));
                }
                Phase::Compact(uploaded) => {
                    // Only when the events since `S` are this cycle's own records: other
                    // events (requests served while the cycle waited for R2) must still make
                    // the next snapshot due.
                    let own = u64::try_from(uploaded.archived).unwrap_or(u64::MAX);
                    let head = store.head().seq;
                    if head > uploaded.snapshot_seq && head - uploaded.snapshot_seq == own {
                        // Local only: the archive has `S`, and these records are in no
                        // segment yet.
                        store
                            .take_local_snapshot()
                            .map_err(CycleError::SecondSnapshot)?;
                    }
                    let through = store.compact().map_err(CycleError::Compact)?;
                    self.events.push_back(CycleEvent::Compacted { through });
                    run.phase = Phase::ClearInFlight;
                    return Ok(Some(CycleStep::ClearPending));
                }
                waiting @ (Phase::MarkInFlight
                | Phase::SegmentInFlight { .. }
                | Phase::SnapshotInFlight { .. }
                | Phase::ClearInFlight
                | Phase::Done) => {
                    run.phase = waiting;
                    return Ok(None);
                }
            }
        }
    }

    fn complete<S: Storage>(
        &mut self,
        run: &mut Run,
        store: &mut Store<S>,
        outcome: StepOutcome,
        now: Timestamp,
    ) -> Result<(), CycleError> {
        let failure = match outcome {
            StepOutcome::Done => None,
            StepOutcome::Failed(reason) => Some(reason),
        };
        match std::mem::replace(&mut run.phase, Phase::Done) {
            Phase::MarkInFlight => match failure {
                None => {
                    self.pending = true;
                    run.phase = Phase::Snapshot;
                    Ok(())
                }
                Some(reason) => Err(CycleError::MarkPending { reason }),
            },
            Phase::SegmentInFlight {
                mut archiving,
                segment,
                key,
                bytes,
            } => {
                if let Some(reason) = failure {
                    return Err(CycleError::SegmentUpload { key, reason });
                }
                store.record_archived(&segment, now).map_err(|source| {
                    CycleError::SegmentRecord {
                        first: segment.first_seq,
                        last: segment.last_seq,
                        source,
                    }
                })?;
                archiving.archived += 1;
                self.events.push_back(CycleEvent::SegmentArchived {
                    first_seq: segment.first_seq,
                    last_seq: segment.last_seq,
                    bytes,
                });
                run.phase = Phase::Segments(archiving);
                Ok(())
            }
            Phase::SnapshotInFlight { uploaded, key } => {
                if let Some(reason) = failure {
                    return Err(CycleError::SnapshotUpload { key, reason });
                }
                self.events.push_back(CycleEvent::SnapshotUploaded {
                    seq: uploaded.snapshot_seq,
                    bytes: uploaded.snapshot_bytes,
                    segments: uploaded.archived,
                });
                run.phase = Phase::Compact(uploaded);
                Ok(())
            }
            Phase::ClearInFlight => match failure {
                // Completed: `run.phase` stays `Done`.
                None => Ok(()),
                Some(reason) => Err(CycleError::ClearPending { reason }),
            },
            other => {
                run.phase = other;
                Err(CycleError::NothingInFlight)
            }
        }
    }
}
