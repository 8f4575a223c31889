//! [`Store`]: one user's log and state, driven by the caller.
//!
//! A `Store` owns a [`Storage`] and the [`State`] derived from it. Every change is a command
//! that checks its input against the state, appends one event (at the next seq, atomically in
//! storage) and applies it. Commands take `now` and an [`EventId`] from the caller; nothing in
//! here reads a clock or draws a random number.
//!
//! Run-loop contract for the adapter (the Durable Object):
//! 1. [`Store::open`] on first use (snapshot + tail), or [`Store::rebuild`] from archived
//!    snapshot and segments when storage is empty.
//! 2. For each request, call the command; perform the effects it names (a write needs its blob
//!    put to R2 *before* [`Store::write`]: see [`Store::plan_write`]).
//! 3. After each request, set the alarm to [`Store::next_deadline`] (or delete it when `None`);
//!    when it fires, call [`Store::on_deadline`] and do what it reports.
//! 4. Feed texts that [`Store::unindexed`] lists to [`Store::index_text`] when convenient,
//!    and run [`Store::maintain_search`] now and then (the storage's index upkeep).

mod grep;
mod notes;
mod sessions;
#[cfg(test)]
mod sql_tests;
#[cfg(test)]
mod test_support;
mod upkeep;

pub use grep::MAX_GREP_CANDIDATES;
pub use notes::{
    DeleteError, MAX_MEDIA_TYPE_BYTES, MoveError, RevertError, VersionConflict, WriteError,
    WritePlan, WriteRequest,
};
pub use sessions::{MAX_CLIENT_INFO_BYTES, OpenSession, SessionError};
pub use upkeep::{
    ArchiveError, CompactError, CompactionPlan, DeadlineError, DeadlineReport, RebuildError,
    SnapshotTakeError, VerifyReport,
};

use thiserror::Error;

use crate::envelope::{ChainHead, DecodeError, Envelope, StoredEvent, chain_hash};
use crate::event::Event;
use crate::files::FileEntry;
use crate::ids::{EventId, Hash, Timestamp};
use crate::notes::{NotesCache, NotesChange, NotesView};
use crate::path::{Limits, NotePath};
use crate::receipts::Receipt;
use crate::search::sql::{MaintainReport, SearchChange, SearchWork};
use crate::search::{SearchCursor, SearchPage};
use crate::sessions::SessionTable;
use crate::snapshot::{self, LoadError, SnapshotError};
use crate::state::{ApplyError, State, notes_change, search_change};
use crate::storage::{Bulk, Storage, StorageError, StoredSnapshot};

/// How a store behaves. [`Config::default`] holds the product's defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Per-user limits.
    pub limits: Limits,
    /// Idle time after which a session expires (default 30 minutes).
    pub session_idle_timeout_ms: u64,
    /// A session's use is recorded at most this often (default 1 minute); its expiry may
    /// therefore come up to this much early.
    pub touch_interval_ms: u64,
    /// Take a snapshot once this many events follow the last one (default 1,000).
    pub snapshot_every_events: u64,
    /// ...or once the oldest event not in a snapshot is this old (default 10 minutes).
    pub snapshot_every_ms: u64,
    /// How many recent event ids are remembered for idempotency (default 10,000).
    pub idempotency_window: usize,
    /// The most events in one archived segment (default 10,000).
    pub segment_max_events: u64,
    /// Whether the locally stored snapshot leaves the notes out (format 2) when the storage
    /// keeps them itself (default `true`). `false` stores full snapshots (format 1), which
    /// builds from before format 2 can read: for a rollback past it.
    pub lean_local_snapshots: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            limits: Limits::default(),
            session_idle_timeout_ms: 30 * 60 * 1000,
            touch_interval_ms: 60 * 1000,
            snapshot_every_events: 1_000,
            snapshot_every_ms: 10 * 60 * 1000,
            idempotency_window: 10_000,
            segment_max_events: 10_000,
            lean_local_snapshots: true,
        }
    }
}

/// What a command did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// The seq of its event.
    pub seq: u64,
    /// The note it changed (for a move: the destination).
    pub path: Option<NotePath>,
    /// The version it made there.
    pub version: Option<u64>,
    /// `true` when the event id had been appended before and this is that first result.
    pub duplicate: bool,
}

impl Applied {
    fn from_receipt(receipt: &Receipt, duplicate: bool) -> Applied {
        Applied {
            seq: receipt.seq,
            path: receipt.path.clone(),
            version: receipt.version,
            duplicate,
        }
    }
}

/// Why an event could not be appended.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum AppendError {
    /// The log moved on since the caller looked (optimistic concurrency).
    #[error("the log is at seq {actual}, not {expected}; read again and retry")]
    SeqConflict {
        /// The seq the caller expected the log to be at.
        expected: u64,
        /// Where it is.
        actual: u64,
    },
    /// The event does not fit the state: a raw [`Store::append`] of an inconsistent event (or a
    /// bug in a command). Nothing was stored.
    #[error("the event does not fit the log: {0}")]
    Invalid(#[from] ApplyError),
    /// Storage failed; nothing was appended.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Why a store could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum OpenError {
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The stored snapshot is unreadable.
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    /// The stored log does not replay.
    #[error(transparent)]
    Replay(#[from] ReplayError),
}

/// Why stored events could not be replayed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ReplayError {
    /// Events are missing: the next stored one is not the next seq.
    #[error("the log has a gap: expected seq {expected}, found {found}")]
    Gap {
        /// The seq expected.
        expected: u64,
        /// The seq found.
        found: u64,
    },
    /// A stored hash does not match the chain.
    #[error("seq {seq}: chain hash mismatch (the log was altered or corrupted)")]
    HashMismatch {
        /// Where.
        seq: u64,
    },
    /// An envelope cannot be decoded.
    #[error("seq {seq}: {source}")]
    Decode {
        /// Where.
        seq: u64,
        /// Why.
        source: DecodeError,
    },
    /// An event does not fit the state before it.
    #[error("seq {seq}: {source}")]
    Apply {
        /// Where.
        seq: u64,
        /// Why.
        source: ApplyError,
    },
}

/// What [`Store::open`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenReport {
    /// The seq of the snapshot it started from (0: none).
    pub snapshot_seq: u64,
    /// Events replayed after it.
    pub replayed: u64,
    /// The head after replay.
    pub head: ChainHead,
    /// The storage's search index did not reflect the log (a store first opened by a build
    /// that keeps the index in storage, or rebuilt): it was emptied and every note queued
    /// for its text (see [`Store::unindexed`]).
    pub search_reset: bool,
}

/// Events read from storage per call while replaying.
const READ_BATCH: usize = 1_024;

/// One user's log and the state derived from it.
#[derive(Debug)]
pub struct Store<S: Storage> {
    storage: S,
    state: State,
    config: Config,
    /// The seq of the stored snapshot (0: none).
    snapshot_seq: u64,
    /// The time of the first event after the stored snapshot.
    unsnapshotted_since: Option<Timestamp>,
}

impl<S: Storage> Store<S> {
    /// Opens the store kept in `storage`: its snapshot, then every event after it.
    ///
    /// The notes come from the storage when it has them up to the snapshot's seq or later
    /// (events it already reflects are replayed into the state only); otherwise from the
    /// snapshot, which must then carry them (format 1), and are put into the storage.
    pub fn open(storage: S, config: Config) -> Result<(Store<S>, OpenReport), OpenError> {
        Store::open_from(storage, None, config)
    }

    /// [`Store::open`], with the stored snapshot at hand when the caller just stored it
    /// (`None`: it is read from storage), so that it is not read back.
    pub(crate) fn open_from(
        mut storage: S,
        snapshot: Option<StoredSnapshot>,
        config: Config,
    ) -> Result<(Store<S>, OpenReport), OpenError> {
        let mut notes_seq = storage.notes().seq()?;
        let window = config.idempotency_window;
        let snapshot = match snapshot {
            Some(stored) => Some(stored),
            None => storage.snapshot()?,
        };
        let (state, snapshot_seq) = match snapshot {
            None => (State::new(window), 0),
            // The storage's notes are as recent: the snapshot's history is not read.
            Some(stored) if notes_seq >= stored.seq => {
                (snapshot::decode_state(&stored.bytes, window)?, stored.seq)
            }
            // The notes come from the snapshot (the first open after an upgrade, or a
            // rebuild), streamed into storage in bounded batches.
            Some(stored) => {
                if snapshot::format(&stored.bytes)? != snapshot::SNAPSHOT_FORMAT_VERSION {
                    return Err(OpenError::Snapshot(SnapshotError::Inconsistent(format!(
                        "the snapshot at seq {} leaves the notes to the storage, which has \
                         them only up to seq {notes_seq}",
                        stored.seq
                    ))));
                }
                let state = load_notes(&mut storage, &stored.bytes, window)?;
                notes_seq = state.head.seq;
                (state, stored.seq)
            }
        };
        let mut store = Store {
            storage,
            state,
            config,
            snapshot_seq,
            unsnapshotted_since: None,
        };
        let replayed = store.replay_tail(notes_seq)?;
        let notes_seq = store.storage.notes().seq()?;
        if notes_seq != store.state.head.seq {
            return Err(OpenError::Snapshot(SnapshotError::Inconsistent(format!(
                "the stored notes reflect seq {notes_seq} but the log ends at seq {}",
                store.state.head.seq
            ))));
        }
        let search_reset = store.storage.search_seq()? != store.state.head.seq;
        if search_reset {
            store.reset_search()?;
        }
        let report = OpenReport {
            snapshot_seq,
            replayed,
            head: store.state.head,
            search_reset,
        };
        Ok((store, report))
    }

    /// Replays the stored events after the state's head: into the state only up to
    /// `notes_seq` (the storage's notes already reflect them), into both after it.
    fn replay_tail(&mut self, notes_seq: u64) -> Result<u64, OpenError> {
        let mut replayed = 0;
        loop {
            let from = self.state.head.seq + 1;
            let batch = self.storage.read(from, READ_BATCH)?;
            if batch.is_empty() {
                return Ok(replayed);
            }
            let mut cache = NotesCache::new();
            let mut change = NotesChange::default();
            for stored in &batch {
                let env = decode_next(&self.state.head, stored)?;
                let apply_error = |source| ReplayError::Apply {
                    seq: stored.seq,
                    source,
                };
                if env.seq <= notes_seq {
                    self.state.check_state(&env).map_err(apply_error)?;
                    self.state.commit_unchecked(&env, stored.hash);
                } else {
                    cache.prefetch(&self.storage.notes(), &env)?;
                    let made = self
                        .state
                        .apply(&env, stored.hash, &cache)
                        .map_err(apply_error)?;
                    cache.apply(&made);
                    change.extend(made);
                }
                if !matches!(env.event, Event::SegmentArchived(_)) {
                    self.unsnapshotted_since.get_or_insert(env.time);
                }
                replayed += 1;
            }
            let head = self.state.head.seq;
            if head > notes_seq {
                self.storage.apply_notes(&change, head)?;
            }
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The storage, for reading.
    pub fn storage(&self) -> &S {
        &self.storage
    }

    /// Gives the storage back.
    pub fn into_storage(self) -> S {
        self.storage
    }

    /// The last event's seq and chain hash.
    pub fn head(&self) -> ChainHead {
        self.state.head
    }

    /// The notes (file index and history), as the storage keeps them.
    pub fn notes(&self) -> NotesView<'_> {
        self.storage.notes()
    }

    /// The open sessions.
    pub fn sessions(&self) -> &SessionTable {
        &self.state.sessions
    }

    /// The first receipt of event `id`, while `id` is in the idempotency window: a command
    /// given this id again answers with it and appends nothing. Lets a caller recognise a
    /// retry before it redoes work whose checks the first attempt changed the answer to (an
    /// `expected_version`, a text to replace).
    pub fn receipt(&self, id: &EventId) -> Option<&Receipt> {
        self.state.receipts.get(id)
    }

    /// The derived state (for comparisons in tests and tools).
    pub fn state(&self) -> &State {
        &self.state
    }

    /// Ranked full-text search over current notes, answered by the storage's index. Notes
    /// listed by [`Store::unindexed`] are not found until their text is handed in.
    pub fn search(
        &self,
        query: &str,
        limit: usize,
        after: Option<&SearchCursor>,
    ) -> Result<SearchPage, StorageError> {
        self.storage.search(query, limit, after)
    }

    /// Up to `limit` current notes whose text the search index lacks (replayed without their
    /// bytes), with their entries.
    pub fn unindexed(&self, limit: usize) -> Result<Vec<(NotePath, FileEntry)>, StorageError> {
        let notes = self.storage.notes();
        let mut out = Vec::new();
        for (path, hash) in self.storage.unindexed(limit)? {
            if let Some(entry) = notes.file(&path)?
                && entry.hash == hash
                && let Ok(path) = NotePath::new(path)
            {
                out.push((path, entry));
            }
        }
        Ok(out)
    }

    /// Indexes the content of `path` if it is still the current content (`hash`) and the
    /// index does not hold it yet. Content that is not UTF-8 is indexed as grep reads it
    /// (invalid bytes replaced by U+FFFD). Returns whether it was indexed.
    pub fn index_text(
        &mut self,
        path: &str,
        hash: Hash,
        content: &[u8],
    ) -> Result<bool, StorageError> {
        let current = self
            .storage
            .notes()
            .file(path)?
            .is_some_and(|e| e.hash == hash);
        if !current || self.storage.is_indexed(path, hash)? {
            return Ok(false);
        }
        let change = SearchChange::Index {
            path: path.to_owned(),
            hash,
            text: searchable_text(content).into_owned(),
        };
        self.storage
            .append_indexed(&[], &NotesChange::default(), &[change])?;
        Ok(true)
    }

    /// Empties the storage's search index and queues every current note for its text (what
    /// opening does when the index does not reflect the log); returns how many were queued.
    pub fn reset_search(&mut self) -> Result<usize, StorageError> {
        self.storage.reset_search(Bulk::Begin)?;
        let mut queued = 0;
        let mut after: Option<String> = None;
        loop {
            let page = self
                .storage
                .notes()
                .list(after.as_deref(), crate::files::MAX_PAGE)?;
            let notes: Vec<(String, Hash)> = page
                .items
                .into_iter()
                .map(|(p, e)| (p.to_string(), e.hash))
                .collect();
            self.storage.reset_search(Bulk::Add(&notes))?;
            queued += notes.len();
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        self.storage
            .reset_search(Bulk::Finish(self.state.head.seq))?;
        Ok(queued)
    }

    /// The search index's waiting work: texts to hand in ([`Store::unindexed`]) and changes
    /// for [`Store::maintain_search`] to merge.
    pub fn search_work(&self) -> Result<SearchWork, StorageError> {
        self.storage.search_work()
    }

    /// One bounded step of the storage's search index upkeep (at most `max_notes` notes
    /// merged or purged); `more` says whether another step has work.
    pub fn maintain_search(&mut self, max_notes: usize) -> Result<MaintainReport, StorageError> {
        self.storage.maintain_search(max_notes)
    }

    /// Stored events after `seq` (for resuming a stream), at most `max`, decoded.
    pub fn events_after(&self, seq: u64, max: usize) -> Result<Vec<Envelope>, EventsError> {
        let stored = self.storage.read(seq.saturating_add(1), max)?;
        if let Some(first) = stored.first()
            && first.seq != seq + 1
            && seq < self.state.head.seq
        {
            return Err(EventsError::Compacted { oldest: first.seq });
        }
        stored
            .iter()
            .map(|e| {
                Envelope::decode(&e.bytes)
                    .map_err(|source| EventsError::Decode { seq: e.seq, source })
            })
            .collect()
    }

    /// Appends `event` at the next seq and applies it; a known `id` answers with its first
    /// receipt instead. `expected_seq`, when given, must be the current head's seq, else
    /// [`AppendError::SeqConflict`] (optimistic concurrency for callers that read, decide and
    /// then append). The event must fit the state ([`State::check`]); content events appended
    /// this way are queued for indexing. The commands ([`Store::write`] and the rest) are the
    /// usual way in: they check user input and build the event.
    pub fn append(
        &mut self,
        id: EventId,
        now: Timestamp,
        expected_seq: Option<u64>,
        event: Event,
        text: Option<&str>,
    ) -> Result<Applied, AppendError> {
        if let Some(receipt) = self.state.receipts.get(&id) {
            return Ok(Applied::from_receipt(receipt, true));
        }
        let head = self.state.head;
        if let Some(expected) = expected_seq
            && expected != head.seq
        {
            return Err(AppendError::SeqConflict {
                expected,
                actual: head.seq,
            });
        }
        let time = now.max(self.state.last_time);
        let env = Envelope::new(head.seq + 1, id, time, event);
        let mut cache = NotesCache::new();
        cache.prefetch(&self.storage.notes(), &env)?;
        self.state.check(&env, &cache)?;
        let notes = notes_change(&env, &cache);
        let bytes = env.encode();
        let hash = chain_hash(&head.hash, &bytes);
        let stored = StoredEvent {
            seq: env.seq,
            hash,
            bytes,
        };
        let change = search_change(&env, text);
        self.storage
            .append_indexed(std::slice::from_ref(&stored), &notes, change.as_slice())?;
        // Checked above, before storage saw it: committing cannot fail.
        self.state.commit_unchecked(&env, hash);
        if !matches!(env.event, Event::SegmentArchived(_)) {
            // Archiving is upkeep: it must not make the next snapshot due, or every cycle
            // would schedule another.
            self.unsnapshotted_since.get_or_insert(time);
        }
        let receipt = self.state.receipts.get(&id).cloned().unwrap_or(Receipt {
            seq: env.seq,
            path: None,
            version: None,
        });
        Ok(Applied::from_receipt(&receipt, false))
    }
}

/// Why stored events could not be read back.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum EventsError {
    /// The events asked for were compacted away locally (they live in archived segments).
    #[error("events before seq {oldest} are no longer kept locally")]
    Compacted {
        /// The oldest seq still kept.
        oldest: u64,
    },
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A stored envelope is unreadable.
    #[error("seq {seq}: {source}")]
    Decode {
        /// Where.
        seq: u64,
        /// Why.
        source: DecodeError,
    },
}

/// Checks that `stored` is the event after `head` and decodes it.
/// Fills `storage`'s notes from the full snapshot `bytes`, a batch of paths at a time, and
/// returns the snapshot's state. The load begins by emptying them (seq 0) and records the seq
/// last, so a load cut off part way is started again by the next open.
fn load_notes<S: Storage>(
    storage: &mut S,
    bytes: &[u8],
    window: usize,
) -> Result<State, OpenError> {
    storage.load_notes(Bulk::Begin)?;
    let state = snapshot::load(bytes, window, |batch| storage.load_notes(Bulk::Add(&batch)))
        .map_err(|e| match e {
            LoadError::Snapshot(e) => OpenError::Snapshot(e),
            LoadError::Sink(e) => OpenError::Storage(e),
        })?;
    storage.load_notes(Bulk::Finish(state.head.seq))?;
    Ok(state)
}

fn decode_next(head: &ChainHead, stored: &StoredEvent) -> Result<Envelope, ReplayError> {
    let expected = head.seq + 1;
    if stored.seq != expected {
        return Err(ReplayError::Gap {
            expected,
            found: stored.seq,
        });
    }
    if chain_hash(&head.hash, &stored.bytes) != stored.hash {
        return Err(ReplayError::HashMismatch { seq: expected });
    }
    let env = Envelope::decode(&stored.bytes).map_err(|source| ReplayError::Decode {
        seq: expected,
        source,
    })?;
    if env.seq != expected {
        return Err(ReplayError::Gap {
            expected,
            found: env.seq,
        });
    }
    Ok(env)
}

/// What the search index sees of a note's bytes: its text, invalid UTF-8 replaced by U+FFFD,
/// exactly the text grep searches; so a word grep can find is a word the index holds
/// ([`crate::grep::narrow`], "The index contract").
pub(crate) fn searchable_text(content: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(content)
}
