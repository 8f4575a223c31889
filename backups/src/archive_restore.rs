//! Rebuilding a user's store from their archive in R2, as a step machine.
//!
//! An object whose local storage is empty is either new or has lost its storage. Before it
//! starts empty it reads the archive: [`ArchiveRestore`] lists the user's snapshots and
//! segments page by page, plans with [`archive::restore_plan`], fetches the newest snapshot
//! and the segments after what that snapshot had archived, and checks them
//! ([`archive::verify_chain`]); [`ArchiveRestore::rebuild`] then fills the empty storage with
//! [`Store::rebuild`] (which checks every hash again) and records the segments archived after
//! the snapshot (`segment.archived`) so that archiving continues where it was.
//!
//! The caller drives it as "poll, perform, hand back": [`ArchiveRestore::poll`] names the R2
//! call ([`RestoreStep`]), [`ArchiveRestore::handle`] takes its answer ([`RestoreAnswer`]).
//!
//! # What it guarantees
//! - A damaged archive is never loaded: an object listed but missing, bytes that are not what
//!   their key names, a gap in the segments from seq 1, segments that do not continue the
//!   chain or do not lead to the snapshot each end the restore with an
//!   [`ArchiveRestoreError`], and the storage is left untouched.
//! - Overlapping segments (an interrupted cycle's shorter segment next to the longer one the
//!   next cycle archived) are fine: the longest run is read.
//! - An empty archive is reported as such ([`ArchiveRestore::rebuild`] gives `None`): the
//!   user is new.

use engine::envelope::ChainHead;
use engine::segment::Segment;
use engine::snapshot::SnapshotError;
use engine::storage::Storage;
use engine::store::{ArchiveError, OpenReport, RebuildError};
use engine::{Store, Timestamp};
use thiserror::Error;

use crate::archive::{
    self, ArchivedSegment, ArchivedSnapshot, ChainError, RestorePlan, RestorePlanError,
};

/// One R2 call, performed by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestoreStep {
    /// List keys under `prefix`, from `cursor` (the first page: none), at most `limit` of them
    /// (none: the store's default).
    List {
        /// The prefix.
        prefix: String,
        /// Where the previous page ended.
        cursor: Option<String>,
        /// The page size to ask for.
        limit: Option<u32>,
    },
    /// Read the object under `key`.
    Get {
        /// The key.
        key: String,
    },
}

/// The answer to a [`RestoreStep`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestoreAnswer {
    /// A page of keys; `cursor` is set when more pages follow.
    Listed {
        /// The keys on this page.
        keys: Vec<String>,
        /// Where the next page starts (none: this was the last).
        cursor: Option<String>,
    },
    /// The object's bytes; `None` when no object has the key.
    Object(Option<Vec<u8>>),
    /// The call failed; the text says why (from the runtime, for logs).
    Failed(String),
}

/// What part of an object is not what its key names.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum Corruption {
    /// The bytes do not hash to the digest in the key.
    #[error("its bytes hash to {0}")]
    Digest(engine::Hash),
    /// The snapshot does not decode.
    #[error("the snapshot is unreadable: {0}")]
    Snapshot(SnapshotError),
    /// The snapshot holds another seq than its key says.
    #[error("the snapshot holds seq {0}")]
    SnapshotSeq(u64),
    /// The segment does not decode or its events do not chain.
    #[error("the segment is unreadable: {0}")]
    Segment(engine::segment::SegmentError),
}

/// Why the store could not be rebuilt from the archive.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ArchiveRestoreError {
    /// Listing the archive failed.
    #[error("listing {prefix} failed: {reason}")]
    List {
        /// The prefix listed.
        prefix: String,
        /// Why.
        reason: String,
    },
    /// The listing came back to a cursor it had given before.
    #[error("listing {prefix} repeats the cursor {cursor:?}")]
    ListLoop {
        /// The prefix listed.
        prefix: String,
        /// The repeated cursor.
        cursor: String,
    },
    /// Reading an object failed.
    #[error("reading {key} failed: {reason}")]
    Get {
        /// Its key.
        key: String,
        /// Why.
        reason: String,
    },
    /// A listed object is missing.
    #[error("{key} is missing from the archive")]
    Missing {
        /// Its key.
        key: String,
    },
    /// An object's bytes are not what its key names.
    #[error("{key} is corrupt: {reason}")]
    Corrupt {
        /// Its key.
        key: String,
        /// How.
        reason: Corruption,
    },
    /// No archived segment holds these seqs (needed from seq 1 on, and at least up to what
    /// the snapshot records as archived).
    #[error("the archive lacks the segment(s) holding seqs {from}..={to}")]
    Gap {
        /// The first missing seq.
        from: u64,
        /// The last missing seq.
        to: u64,
    },
    /// The segments do not continue the log or do not lead to the snapshot.
    #[error("the archive does not verify: {0}")]
    Chain(ChainError),
    /// The engine refused to rebuild from what was read.
    #[error("the archive does not verify: {0}")]
    Rebuild(RebuildError),
    /// Recording a segment archived after the snapshot failed.
    #[error("recording segment {first}..={last} failed: {source}")]
    Adopt {
        /// Its first seq.
        first: u64,
        /// Its last seq.
        last: u64,
        /// Why.
        source: ArchiveError,
    },
    /// A step's answer came when none was asked, or of the wrong kind, or
    /// [`ArchiveRestore::rebuild`] came before the reading was done (a caller's mistake).
    #[error("the restore was driven out of order")]
    OutOfOrder,
}

impl From<RestorePlanError> for ArchiveRestoreError {
    fn from(error: RestorePlanError) -> Self {
        match error {
            RestorePlanError::MissingSegments { from, to } => ArchiveRestoreError::Gap { from, to },
        }
    }
}

impl From<ChainError> for ArchiveRestoreError {
    fn from(error: ChainError) -> Self {
        match error {
            ChainError::Corrupt { key, actual } => ArchiveRestoreError::Corrupt {
                key,
                reason: Corruption::Digest(actual),
            },
            ChainError::Unreadable { key, source } => ArchiveRestoreError::Corrupt {
                key,
                reason: Corruption::Segment(source),
            },
            other => ArchiveRestoreError::Chain(other),
        }
    }
}

/// What a rebuild did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rebuilt {
    /// What opening the rebuilt storage found (snapshot seq, events replayed).
    pub open: OpenReport,
    /// Segments recorded as archived after the rebuild.
    pub adopted: usize,
}

/// A rebuild of one user's store from the archive (see the module docs).
#[derive(Debug)]
pub struct ArchiveRestore {
    snapshot_prefix: String,
    segment_prefix: String,
    limit: Option<u32>,
    phase: Phase,
}

#[derive(Debug)]
enum Phase {
    ListSnapshots(Listing),
    ListSegments(Listing, Vec<ArchivedSnapshot>),
    FetchSnapshot {
        plan: RestorePlan,
        in_flight: bool,
    },
    FetchSegments(Fetching),
    Loaded(Box<Loaded>),
    Empty,
    /// Ended by an error, or taken apart.
    Over,
}

/// A listing in progress.
#[derive(Debug, Default)]
struct Listing {
    keys: Vec<String>,
    cursors: Vec<String>,
    in_flight: bool,
}

/// The snapshot read, the segments being read.
#[derive(Debug)]
struct Fetching {
    plan: RestorePlan,
    snapshot: Option<Vec<u8>>,
    snapshot_head: ChainHead,
    archived: ChainHead,
    /// Segments still to read, in log order.
    wanted: std::collections::VecDeque<ArchivedSegment>,
    got: Vec<(ArchivedSegment, Vec<u8>)>,
    in_flight: bool,
}

/// What a rebuild reads, downloaded and checked.
#[derive(Debug)]
struct Loaded {
    snapshot: Option<Vec<u8>>,
    snapshot_head: ChainHead,
    segments: Vec<(ArchivedSegment, Vec<u8>)>,
    chain: Vec<Segment>,
}

impl ArchiveRestore {
    /// A restore of `user`'s archive, listing `limit` keys a page (none: the store's default).
    pub fn new(user: &str, limit: Option<u32>) -> ArchiveRestore {
        ArchiveRestore {
            snapshot_prefix: archive::snapshot_prefix(user),
            segment_prefix: archive::segment_prefix(user),
            limit,
            phase: Phase::ListSnapshots(Listing::default()),
        }
    }

    /// The next R2 call, or `None` when there is none to make: everything is read (call
    /// [`ArchiveRestore::rebuild`]), a call waits for its answer, or the restore failed.
    pub fn poll(&mut self) -> Option<RestoreStep> {
        let limit = self.limit;
        let list = |listing: &mut Listing, prefix: &str| {
            if listing.in_flight {
                return None;
            }
            listing.in_flight = true;
            Some(RestoreStep::List {
                prefix: prefix.to_owned(),
                cursor: listing.cursors.last().cloned(),
                limit,
            })
        };
        match &mut self.phase {
            Phase::ListSnapshots(listing) => list(listing, &self.snapshot_prefix),
            Phase::ListSegments(listing, _) => list(listing, &self.segment_prefix),
            Phase::FetchSnapshot { plan, in_flight } => {
                let listed = plan.snapshot.as_ref().filter(|_| !*in_flight)?;
                *in_flight = true;
                Some(RestoreStep::Get {
                    key: listed.key.clone(),
                })
            }
            Phase::FetchSegments(fetching) => {
                if fetching.in_flight {
                    return None;
                }
                let next = fetching.wanted.front()?;
                fetching.in_flight = true;
                Some(RestoreStep::Get {
                    key: next.key.clone(),
                })
            }
            Phase::Loaded(_) | Phase::Empty | Phase::Over => None,
        }
    }

    /// Whether everything is read: [`ArchiveRestore::rebuild`] may be called.
    pub fn is_read(&self) -> bool {
        matches!(self.phase, Phase::Loaded(_) | Phase::Empty)
    }

    /// Hands back the answer to the step [`ArchiveRestore::poll`] gave. An error ends the
    /// restore.
    pub fn handle(&mut self, answer: RestoreAnswer) -> Result<(), ArchiveRestoreError> {
        let phase = std::mem::replace(&mut self.phase, Phase::Over);
        self.phase = self.next(phase, answer)?;
        // A plan may need no reads at all: settle it now.
        if let Phase::FetchSnapshot { plan, .. } = &self.phase
            && plan.snapshot.is_none()
        {
            let Phase::FetchSnapshot { plan, .. } = std::mem::replace(&mut self.phase, Phase::Over)
            else {
                return Err(ArchiveRestoreError::OutOfOrder);
            };
            self.phase = fetch_segments(plan, None)?;
        }
        if let Phase::FetchSegments(fetching) = &self.phase
            && fetching.wanted.is_empty()
        {
            let Phase::FetchSegments(fetching) = std::mem::replace(&mut self.phase, Phase::Over)
            else {
                return Err(ArchiveRestoreError::OutOfOrder);
            };
            self.phase = Phase::Loaded(Box::new(verify(fetching)?));
        }
        Ok(())
    }

    fn next(&self, phase: Phase, answer: RestoreAnswer) -> Result<Phase, ArchiveRestoreError> {
        match (phase, answer) {
            (Phase::ListSnapshots(listing), answer) => {
                match page(listing, answer, &self.snapshot_prefix)? {
                    Paged::More(listing) => Ok(Phase::ListSnapshots(listing)),
                    Paged::Done(keys) => {
                        let snapshots = keys
                            .iter()
                            .filter_map(|k| archive::parse_snapshot_key(&self.snapshot_prefix, k))
                            .collect();
                        Ok(Phase::ListSegments(Listing::default(), snapshots))
                    }
                }
            }
            (Phase::ListSegments(listing, snapshots), answer) => {
                match page(listing, answer, &self.segment_prefix)? {
                    Paged::More(listing) => Ok(Phase::ListSegments(listing, snapshots)),
                    Paged::Done(keys) => {
                        let segments: Vec<_> = keys
                            .iter()
                            .filter_map(|k| archive::parse_segment_key(&self.segment_prefix, k))
                            .collect();
                        match archive::restore_plan(&snapshots, &segments)? {
                            None => Ok(Phase::Empty),
                            Some(plan) => Ok(Phase::FetchSnapshot {
                                plan,
                                in_flight: false,
                            }),
                        }
                    }
                }
            }
            (Phase::FetchSnapshot { plan, in_flight }, answer) => {
                let Some(listed) = plan.snapshot.clone().filter(|_| in_flight) else {
                    return Err(ArchiveRestoreError::OutOfOrder);
                };
                let bytes = object(&listed.key, answer)?;
                fetch_segments(plan, Some((listed, bytes)))
            }
            (Phase::FetchSegments(mut fetching), answer) => {
                let Some(listed) = fetching.wanted.pop_front().filter(|_| fetching.in_flight)
                else {
                    return Err(ArchiveRestoreError::OutOfOrder);
                };
                let bytes = object(&listed.key, answer)?;
                fetching.got.push((listed, bytes));
                fetching.in_flight = false;
                Ok(Phase::FetchSegments(fetching))
            }
            (Phase::Loaded(_) | Phase::Empty | Phase::Over, _) => {
                Err(ArchiveRestoreError::OutOfOrder)
            }
        }
    }

    /// Fills the empty `storage` from what was read and opens it; records the segments
    /// archived after the snapshot at `now`. `Ok(None)`: the archive is empty (the user is
    /// new; `storage` is dropped untouched).
    pub fn rebuild<S: Storage>(
        self,
        storage: S,
        config: engine::Config,
        now: Timestamp,
    ) -> Result<Option<(Store<S>, Rebuilt)>, ArchiveRestoreError> {
        let mut loaded = match self.phase {
            Phase::Empty => return Ok(None),
            Phase::Loaded(loaded) => loaded,
            _ => return Err(ArchiveRestoreError::OutOfOrder),
        };
        // Moved, not copied: a 100,000-note user's snapshot is megabytes.
        let snapshot = loaded.snapshot.take();
        let replay: Vec<&[u8]> = loaded
            .segments
            .iter()
            .filter(|(segment, _)| segment.last > loaded.snapshot_head.seq)
            .map(|(_, bytes)| bytes.as_slice())
            .collect();
        let (mut store, open) = Store::rebuild(storage, snapshot, &replay, config)
            .map_err(ArchiveRestoreError::Rebuild)?;
        let mut adopted = 0;
        for segment in &loaded.chain {
            if segment.last_seq <= store.archived().seq {
                continue;
            }
            store
                .record_archived(segment, now)
                .map_err(|source| ArchiveRestoreError::Adopt {
                    first: segment.first_seq,
                    last: segment.last_seq,
                    source,
                })?;
            adopted += 1;
        }
        Ok(Some((store, Rebuilt { open, adopted })))
    }
}

enum Paged {
    More(Listing),
    Done(Vec<String>),
}

fn page(
    mut listing: Listing,
    answer: RestoreAnswer,
    prefix: &str,
) -> Result<Paged, ArchiveRestoreError> {
    if !listing.in_flight {
        return Err(ArchiveRestoreError::OutOfOrder);
    }
    listing.in_flight = false;
    match answer {
        RestoreAnswer::Listed { keys, cursor } => {
            listing.keys.extend(keys);
            match cursor {
                None => Ok(Paged::Done(listing.keys)),
                Some(cursor) if listing.cursors.contains(&cursor) => {
                    Err(ArchiveRestoreError::ListLoop {
                        prefix: prefix.to_owned(),
                        cursor,
                    })
                }
                Some(cursor) => {
                    listing.cursors.push(cursor);
                    Ok(Paged::More(listing))
                }
            }
        }
        RestoreAnswer::Failed(reason) => Err(ArchiveRestoreError::List {
            prefix: prefix.to_owned(),
            reason,
        }),
        RestoreAnswer::Object(_) => Err(ArchiveRestoreError::OutOfOrder),
    }
}

fn object(key: &str, answer: RestoreAnswer) -> Result<Vec<u8>, ArchiveRestoreError> {
    match answer {
        RestoreAnswer::Object(Some(bytes)) => Ok(bytes),
        RestoreAnswer::Object(None) => Err(ArchiveRestoreError::Missing {
            key: key.to_owned(),
        }),
        RestoreAnswer::Failed(reason) => Err(ArchiveRestoreError::Get {
            key: key.to_owned(),
            reason,
        }),
        RestoreAnswer::Listed { .. } => Err(ArchiveRestoreError::OutOfOrder),
    }
}

/// Checks the snapshot (if any) and lists the segments to read after it.
fn fetch_segments(
    plan: RestorePlan,
    snapshot: Option<(ArchivedSnapshot, Vec<u8>)>,
) -> Result<Phase, ArchiveRestoreError> {
    let (snapshot, snapshot_head, archived) = match snapshot {
        Some((listed, bytes)) => {
            let corrupt = |reason| ArchiveRestoreError::Corrupt {
                key: listed.key.clone(),
                reason,
            };
            // Its state only: the history is checked as the rebuild loads it, a batch at a
            // time (decoding it here would hold every note in memory).
            let state = engine::snapshot::decode_state(&bytes, 1)
                .map_err(|e| corrupt(Corruption::Snapshot(e)))?;
            if state.head().seq != listed.seq {
                return Err(corrupt(Corruption::SnapshotSeq(state.head().seq)));
            }
            (Some(bytes), state.head(), state.archived())
        }
        None => (None, ChainHead::default(), ChainHead::default()),
    };
    if plan.covered_through < archived.seq {
        // The snapshot records segments as archived that the archive lacks.
        return Err(ArchiveRestoreError::Gap {
            from: plan.covered_through + 1,
            to: archived.seq,
        });
    }
    let wanted = plan
        .segments
        .iter()
        .filter(|s| s.last > archived.seq)
        .cloned()
        .collect();
    Ok(Phase::FetchSegments(Fetching {
        plan,
        snapshot,
        snapshot_head,
        archived,
        wanted,
        got: Vec::new(),
        in_flight: false,
    }))
}

fn verify(fetching: Fetching) -> Result<Loaded, ArchiveRestoreError> {
    let chain = archive::verify_chain(
        &fetching.got,
        fetching.archived,
        fetching.snapshot_head,
        fetching.plan.covered_through,
    )?;
    Ok(Loaded {
        snapshot: fetching.snapshot,
        snapshot_head: fetching.snapshot_head,
        segments: fetching.got,
        chain,
    })
}
