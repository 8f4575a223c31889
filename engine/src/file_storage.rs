//! [`FileStorage`]: the engine's [`Storage`] on a [`Disk`], correct at every crash point.
//!
//! Two files (plus two temporary ones) on the disk:
//! - [`LOG_FILE`] (`events.log`): the events, as an append-only sequence of frames. An
//!   append writes all its frames with one [`Disk::append`] and then syncs once.
//! - [`SNAPSHOT_FILE`] (`snapshot.bin`): the one snapshot, replaced by writing
//!   `snapshot.bin.tmp`, syncing it and renaming it over.
//!
//! [`FileStorage::drop_through`] rewrites the kept events into `events.log.tmp`, syncs it and
//! renames it over the log. A new log is created the same way, so a log file on the disk always
//! has a complete header. Leftover temporary files are ignored and overwritten.
//!
//! It never reads a clock, spawns a thread or touches the OS: every byte goes through `D`.
//!
//! # File format (version 1)
//! All integers are little-endian. `sum8(x)` and `sum16(x)` are the first 8 and 16 bytes of
//! `blake3(x)`.
//!
//! Both files start with a 16-byte header: an 8-byte magic (`SBRNLOG\n` for the log,
//! `SBRNSNP\n` for the snapshot), the format version `u32` (1) and a flags `u32` (0; a reader
//! refuses flags it does not know).
//!
//! The log header is followed by frames, one per event:
//!
//! | offset | size | field |
//! | --- | --- | --- |
//! | 0 | 4 | frame magic `SBev` |
//! | 4 | 4 | `n`: envelope length, at most 16 MiB |
//! | 8 | 8 | seq |
//! | 16 | 4 | index of the event in its append batch, from 0 |
//! | 20 | 4 | events in the batch |
//! | 24 | 32 | chain hash after the event |
//! | 56 | 8 | `sum8(bytes 0..56)`: the header checksum |
//! | 64 | `n` | envelope bytes |
//! | 64+`n` | 16 | `sum16(bytes 0..64+n)`: the frame checksum |
//!
//! The snapshot header is followed by the covered seq (`u64`), the length `m` of the snapshot
//! bytes (`u64`), the `m` bytes, and `sum16` of everything before it.
//!
//! # Recovery
//! [`FileStorage::open`] reads the log from the start and keeps every *committed* frame: one
//! whose batch is complete (its last frame, index `len - 1`, is intact). Frames must carry
//! contiguous seqs and batch positions; an intact frame that does not is corruption.
//! At the first frame that is not intact:
//! - the file ends inside it (short header or short body): a torn write. The log is cut back
//!   to the end of the last committed batch, which drops the torn frame and any intact frames
//!   of its unfinished batch, so a batch is present whole or not at all.
//! - its header checksum fails, or its body checksum fails: a torn write (some file systems
//!   grow the file before the data lands) *unless* an intact frame starts anywhere after it
//!   (after the damaged frame's end when its header is intact), which means the bytes were once
//!   durable: [`Corruption::DamagedFrame`], and open fails rather than cut the log.
//! - a file that does not start with the log magic is [`OpenError::NotALog`]; a log missing
//!   beside an existing snapshot is [`OpenError::MissingLog`].
//!
//! What open cut away is reported by [`FileStorage::recovery`]. Damage confined to the last
//! batch cannot be told apart from a torn write of it and is cut like one (and reported).
//! These rules assume what the [`crate::disk`] contract promises: unsynced appends survive a
//! crash as a prefix. A device that persisted a later part of an unsynced append without an
//! earlier part could make open fail with [`Corruption::DamagedFrame`]; it would not make it
//! lose acknowledged data silently.
//!
//! The storage checks checksums, seqs and batches, not the hash chain: verifying the chain
//! is the engine's job, and the storage keeps the hashes it is given.
//!
//! # Costs
//! Open reads the whole log once and keeps 8 bytes per event in memory. An append is one
//! write and one sync; a read is one read of the frames asked for, checked again; a snapshot
//! put is a write, a sync and a rename; a drop rewrites the kept events.
//!
//! # Failed calls
//! A call that fails leaves the storage as it was, and usable: a failed append is cut off the
//! log before the next change (at once if the disk allows). Only where the disk cannot say what
//! happened (a rename that reported an error, as after a failed directory sync) may the call
//! turn out complete: the storage then re-reads the log before its next read or change. A
//! crash right after a failed call may also surface the call as complete, since its bytes may
//! have reached the disk before the error. Whatever happens, each call is whole or absent,
//! never half.
//!
//! # Example
//! ```
//! use engine::envelope::{StoredEvent, chain_hash};
//! use engine::file_storage::FileStorage;
//! use engine::ids::Hash;
//! use engine::sim_disk::{Cut, SimDisk};
//! use engine::storage::Storage;
//!
//! let mut storage = FileStorage::open(SimDisk::new()).unwrap();
//! let bytes = b"an envelope".to_vec();
//! let event = StoredEvent { seq: 1, hash: chain_hash(&Hash::ZERO, &bytes), bytes };
//! storage.append(&[event.clone()]).unwrap();
//!
//! let mut disk = storage.into_disk();
//! disk.crash(Cut::Nothing); // the append returned Ok, so it survives any power cut
//! let storage = FileStorage::open(disk).unwrap();
//! assert_eq!(storage.read(1, 10).unwrap(), vec![event]);
//! ```

mod format;

use thiserror::Error;

pub use self::format::{Corruption, FrameDamage, SnapshotDamage};
use self::format::{FILE_HEADER_LEN, LOG_MAGIC, MAX_BODY_LEN, Scan};
use crate::disk::{Disk, DiskError};
use crate::envelope::StoredEvent;
use crate::storage::{Storage, StorageError, StoredSnapshot};

/// The name of the log file on the disk.
pub const LOG_FILE: &str = "events.log";
/// The name of the snapshot file on the disk.
pub const SNAPSHOT_FILE: &str = "snapshot.bin";
/// The longest envelope one event may have, in bytes.
pub const MAX_EVENT_BYTES: usize = MAX_BODY_LEN;
const LOG_TMP: &str = "events.log.tmp";
const SNAPSHOT_TMP: &str = "snapshot.bin.tmp";

/// The event log and snapshot of one user, in files on a [`Disk`]. See the module docs.
#[derive(Debug)]
pub struct FileStorage<D> {
    disk: D,
    index: Index,
    repair: Repair,
    recovery: Recovery,
    /// The search index, in memory only: a reopened store finds it behind its log and
    /// queues every note for its text again.
    search: crate::search::memory::MemorySearch,
    /// The notes, in memory only: a reopened store rebuilds them from the snapshot (which
    /// therefore carries them) and the log.
    notes: crate::notes::MemoryNotes,
}

/// Where the committed frames are.
#[derive(Debug, Clone, Default)]
struct Index {
    /// The seq of the first frame (meaningless when there is none).
    first_seq: u64,
    /// Where each frame starts, in seq order.
    starts: Vec<u64>,
    /// Where the last frame ends: the committed length of the log file.
    end: u64,
}

/// Work a failed call left for the next change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Repair {
    /// Nothing: the file is exactly what the index says.
    None,
    /// An append failed: bytes after this offset may be in the file.
    TruncateTo(u64),
    /// A compaction failed while renaming: the log may be the old file or the new one.
    Reload,
}

/// What [`FileStorage::open`] found and repaired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Recovery {
    /// The log did not exist and was created empty.
    pub created: bool,
    /// Bytes cut off the end of the log: a torn write or an unfinished batch.
    pub truncated_bytes: u64,
    /// Intact frames among them, whose batch was unfinished.
    pub discarded_frames: usize,
}

/// Why [`FileStorage::open`] failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The disk failed.
    #[error(transparent)]
    Disk(#[from] DiskError),
    /// The log file does not start with the log magic.
    #[error("{LOG_FILE} is not a Second Brain log file")]
    NotALog,
    /// The log file is of a format version, or has flags, this build does not read.
    #[error(
        "{LOG_FILE} is format version {version} (flags {flags:#x}); this build reads version 1 without flags"
    )]
    UnsupportedVersion {
        /// The version in the file.
        version: u32,
        /// The flags in the file.
        flags: u32,
    },
    /// There is a snapshot but no log: something removed the log.
    #[error("{SNAPSHOT_FILE} exists but {LOG_FILE} does not; refusing to start an empty log")]
    MissingLog,
    /// The log holds damage that a torn write cannot explain.
    #[error("{LOG_FILE} is corrupt: {0}")]
    Corrupt(#[from] Corruption),
}

/// Why [`FileStorage::append`] failed. Nothing was appended.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum AppendError {
    /// The disk failed.
    #[error(transparent)]
    Disk(#[from] DiskError),
    /// The events do not continue the log.
    #[error("append of seq {found} where {expected} was expected")]
    NotNext {
        /// The seq that would continue the log.
        expected: u64,
        /// The seq given.
        found: u64,
    },
    /// An event is longer than [`MAX_EVENT_BYTES`].
    #[error("event {seq} is {len} bytes, over the {MAX_EVENT_BYTES}-byte limit")]
    TooLarge {
        /// The event's seq.
        seq: u64,
        /// Its envelope length.
        len: usize,
    },
    /// Repairing the log after an earlier failed call failed.
    #[error("repairing the log after an earlier failure: {0}")]
    Repair(#[source] OpenError),
}

/// Why [`FileStorage::read`] failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ReadError {
    /// The disk failed.
    #[error(transparent)]
    Disk(#[from] DiskError),
    /// The frames read back are not the ones written.
    #[error("{LOG_FILE} is corrupt: {0}")]
    Corrupt(#[from] Corruption),
    /// Re-reading the log after an earlier failed call failed.
    #[error("re-reading the log after an earlier failure: {0}")]
    Repair(#[source] OpenError),
}

/// Why [`FileStorage::drop_through`] failed. Nothing was dropped.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum CompactError {
    /// The disk failed.
    #[error(transparent)]
    Disk(#[from] DiskError),
    /// The kept events could not be read back.
    #[error("reading the kept events: {0}")]
    Read(#[from] ReadError),
    /// Repairing the log after an earlier failed call failed.
    #[error("repairing the log after an earlier failure: {0}")]
    Repair(#[source] OpenError),
}

/// Why [`FileStorage::put_snapshot`] failed. The old snapshot is still in place, unless the
/// disk failed while renaming (then either may be).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum PutSnapshotError {
    /// The disk failed.
    #[error(transparent)]
    Disk(#[from] DiskError),
    /// Repairing the log after an earlier failed call failed.
    #[error("repairing the log after an earlier failure: {0}")]
    Repair(#[source] OpenError),
}

/// Why [`FileStorage::snapshot`] failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SnapshotError {
    /// The disk failed.
    #[error(transparent)]
    Disk(#[from] DiskError),
    /// The snapshot file is not a valid snapshot.
    #[error("{SNAPSHOT_FILE}: {0}")]
    Damaged(#[from] SnapshotDamage),
}

impl<D: Disk> FileStorage<D> {
    /// Opens the log on `disk`, creating an empty one if there is none, and recovers it: a
    /// torn tail is cut away (see the module docs and [`FileStorage::recovery`]).
    pub fn open(mut disk: D) -> Result<FileStorage<D>, OpenError> {
        let mut created = false;
        if disk.len(LOG_FILE)?.is_none() {
            if disk.len(SNAPSHOT_FILE)?.is_some() {
                return Err(OpenError::MissingLog);
            }
            replace_file(
                &mut disk,
                LOG_TMP,
                LOG_FILE,
                &format::file_header(LOG_MAGIC),
            )
            .map_err(|(_, e)| e)?;
            created = true;
        }
        let (index, mut recovery) = load(&mut disk)?;
        recovery.created = created;
        Ok(FileStorage {
            disk,
            index,
            repair: Repair::None,
            recovery,
            search: Default::default(),
            notes: Default::default(),
        })
    }

    /// What opening found and repaired.
    pub fn recovery(&self) -> Recovery {
        self.recovery
    }

    /// The disk.
    pub fn disk(&self) -> &D {
        &self.disk
    }

    /// The disk, mutably (tests inject failures through it).
    pub fn disk_mut(&mut self) -> &mut D {
        &mut self.disk
    }

    /// Closes the storage and gives the disk back. Nothing is lost: every change that
    /// returned `Ok` is durable already.
    pub fn into_disk(self) -> D {
        self.disk
    }

    /// How many events are stored.
    pub fn len(&self) -> usize {
        self.index.starts.len()
    }

    /// Whether no events are stored.
    pub fn is_empty(&self) -> bool {
        self.index.starts.is_empty()
    }

    /// Stores `events`, all or none, durably: one write of all their frames, then one sync.
    /// The first seq must follow the last stored one (any seq if the log is empty), and the
    /// seqs must be contiguous.
    pub fn append(&mut self, events: &[StoredEvent]) -> Result<(), AppendError> {
        self.repair().map_err(AppendError::Repair)?;
        let Some(first) = events.first() else {
            return Ok(());
        };
        let start = self.index.next_seq().unwrap_or(first.seq);
        for (i, event) in events.iter().enumerate() {
            // Seq `u64::MAX` is refused, so nothing ever needs to follow it.
            let expected = start.saturating_add(i as u64);
            if event.seq != expected || event.seq == u64::MAX {
                return Err(AppendError::NotNext {
                    expected,
                    found: event.seq,
                });
            }
            if event.bytes.len() > MAX_EVENT_BYTES {
                return Err(AppendError::TooLarge {
                    seq: event.seq,
                    len: event.bytes.len(),
                });
            }
        }
        let (frames, starts) = encode_batches(events, self.index.end);
        let written = self
            .disk
            .append(LOG_FILE, &frames)
            .and_then(|()| self.disk.sync(LOG_FILE));
        if let Err(e) = written {
            self.repair = Repair::TruncateTo(self.index.end);
            // If this fails too, the next change tries again before it writes.
            let _ = self.repair();
            return Err(e.into());
        }
        if self.index.starts.is_empty() {
            self.index.first_seq = first.seq;
        }
        self.index.starts.extend(starts);
        self.index.end += frames.len() as u64;
        Ok(())
    }

    /// Up to `max` stored events with seq `>= from`, in seq order, each checked against its
    /// checksums.
    pub fn read(&self, from: u64, max: usize) -> Result<Vec<StoredEvent>, ReadError> {
        if self.repair == Repair::Reload {
            let (scan, _) = scan_log(&self.disk).map_err(ReadError::Repair)?;
            return Index::from(scan).read(&self.disk, from, max);
        }
        self.index.read(&self.disk, from, max)
    }

    /// Replaces the stored snapshot atomically: write a temporary file, sync it, rename it
    /// over the old one.
    pub fn put_snapshot(&mut self, snapshot: &StoredSnapshot) -> Result<(), PutSnapshotError> {
        self.repair().map_err(PutSnapshotError::Repair)?;
        let bytes = format::encode_snapshot(snapshot);
        replace_file(&mut self.disk, SNAPSHOT_TMP, SNAPSHOT_FILE, &bytes).map_err(|(_, e)| e)?;
        Ok(())
    }

    /// The stored snapshot, if any, after checking its checksum.
    pub fn snapshot(&self) -> Result<Option<StoredSnapshot>, SnapshotError> {
        let Some(bytes) = read_file(&self.disk, SNAPSHOT_FILE)? else {
            return Ok(None);
        };
        Ok(Some(format::decode_snapshot(&bytes)?))
    }

    /// Forgets every event with seq `<= through`: the kept events are rewritten into a new
    /// log file, which is synced and renamed over the old one. A no-op if nothing is dropped.
    pub fn drop_through(&mut self, through: u64) -> Result<(), CompactError> {
        self.repair().map_err(CompactError::Repair)?;
        let count = self.index.starts.len();
        if count == 0 || through < self.index.first_seq {
            return Ok(());
        }
        let dropped = usize::try_from(through - self.index.first_seq)
            .map_or(count, |d| d.saturating_add(1).min(count));
        let kept = match self.index.starts.get(dropped) {
            Some(_) => self.index.read(
                &self.disk,
                self.index.first_seq + dropped as u64,
                usize::MAX,
            )?,
            None => Vec::new(),
        };
        let header = format::file_header(LOG_MAGIC);
        let (frames, starts) = encode_batches(&kept, header.len() as u64);
        let mut file = Vec::with_capacity(header.len() + frames.len());
        file.extend_from_slice(&header);
        file.extend_from_slice(&frames);
        if let Err((renaming, e)) = replace_file(&mut self.disk, LOG_TMP, LOG_FILE, &file) {
            if renaming {
                self.repair = Repair::Reload;
            }
            return Err(e.into());
        }
        self.index = Index {
            first_seq: kept.first().map_or(0, |e| e.seq),
            starts,
            end: file.len() as u64,
        };
        Ok(())
    }

    /// Brings the file in line with the index after a failed call. Every change calls this
    /// first, so after any change that returns `Ok` nothing is pending.
    fn repair(&mut self) -> Result<(), OpenError> {
        match self.repair {
            Repair::None => {}
            Repair::TruncateTo(len) => {
                self.disk.truncate(LOG_FILE, len)?;
                self.disk.sync(LOG_FILE)?;
            }
            Repair::Reload => {
                let (index, _) = load(&mut self.disk)?;
                self.index = index;
            }
        }
        self.repair = Repair::None;
        Ok(())
    }
}

impl Index {
    fn next_seq(&self) -> Option<u64> {
        (!self.starts.is_empty()).then(|| self.first_seq + self.starts.len() as u64)
    }

    fn read<D: Disk>(
        &self,
        disk: &D,
        from: u64,
        max: usize,
    ) -> Result<Vec<StoredEvent>, ReadError> {
        let count = self.starts.len();
        let first = usize::try_from(from.saturating_sub(self.first_seq)).unwrap_or(usize::MAX);
        if first >= count || max == 0 {
            return Ok(Vec::new());
        }
        let last = first + max.min(count - first);
        let start = self.starts[first];
        let stop = self.starts.get(last).copied().unwrap_or(self.end);
        let mut buf = vec![0u8; (stop - start) as usize];
        disk.read_at(LOG_FILE, start, &mut buf)?;
        let mut events = Vec::with_capacity(last - first);
        for (i, &offset) in self.starts[first..last].iter().enumerate() {
            let expected = self.first_seq + (first + i) as u64;
            let next = self.starts.get(first + i + 1).copied().unwrap_or(self.end);
            let frame_bytes = &buf[(offset - start) as usize..(next - start) as usize];
            let frame = match format::parse_frame(frame_bytes) {
                Ok(frame) if frame.len == frame_bytes.len() => frame,
                Err(Ok(damage)) => {
                    return Err(Corruption::ChangedSinceOpen { offset, damage }.into());
                }
                Ok(_) | Err(Err(_)) => {
                    let damage = FrameDamage::BadHeader;
                    return Err(Corruption::ChangedSinceOpen { offset, damage }.into());
                }
            };
            if frame.seq != expected {
                let found = frame.seq;
                return Err(Corruption::OutOfOrder {
                    offset,
                    expected,
                    found,
                }
                .into());
            }
            events.push(frame.to_event());
        }
        Ok(events)
    }
}

impl From<Scan> for Index {
    fn from(scan: Scan) -> Index {
        Index {
            first_seq: scan.first_seq,
            starts: scan.starts,
            end: scan.end,
        }
    }
}

impl<D: Disk> Storage for FileStorage<D> {
    fn append(&mut self, events: &[StoredEvent]) -> Result<(), StorageError> {
        FileStorage::append(self, events).map_err(storage_error)
    }

    fn append_indexed(
        &mut self,
        events: &[StoredEvent],
        notes: &crate::notes::NotesChange,
        changes: &[crate::search::sql::SearchChange],
    ) -> Result<(), StorageError> {
        FileStorage::append(self, events).map_err(storage_error)?;
        let seq = events.last().map(|e| e.seq);
        self.notes.apply(notes, seq.unwrap_or(0));
        self.search.apply(changes, seq);
        Ok(())
    }

    fn apply_notes(
        &mut self,
        notes: &crate::notes::NotesChange,
        seq: u64,
    ) -> Result<(), StorageError> {
        self.notes.apply(notes, seq);
        Ok(())
    }

    fn load_notes(
        &mut self,
        step: crate::storage::Bulk<'_, (crate::path::NotePath, Vec<crate::history::Version>)>,
    ) -> Result<(), StorageError> {
        self.notes.load(step);
        Ok(())
    }

    fn notes(&self) -> crate::notes::NotesView<'_> {
        self.notes.view()
    }

    fn keeps_notes(&self) -> bool {
        false
    }

    crate::storage::memory_search_methods!(search);

    fn read(&self, from: u64, max: usize) -> Result<Vec<StoredEvent>, StorageError> {
        FileStorage::read(self, from, max).map_err(storage_error)
    }

    fn put_snapshot(&mut self, snapshot: &StoredSnapshot) -> Result<(), StorageError> {
        FileStorage::put_snapshot(self, snapshot).map_err(storage_error)
    }

    fn snapshot(&self) -> Result<Option<StoredSnapshot>, StorageError> {
        FileStorage::snapshot(self).map_err(storage_error)
    }

    fn drop_through(&mut self, through: u64) -> Result<(), StorageError> {
        FileStorage::drop_through(self, through).map_err(storage_error)
    }
}

fn storage_error(e: impl std::error::Error) -> StorageError {
    StorageError::new(e.to_string())
}

/// The frames of `events` as batches (one, unless it has over `u32::MAX` events), and where
/// each frame will start if the bytes are written at `offset`.
fn encode_batches(events: &[StoredEvent], offset: u64) -> (Vec<u8>, Vec<u64>) {
    let size: usize = events.iter().map(|e| e.bytes.len() + 80).sum();
    let mut frames = Vec::with_capacity(size);
    let mut starts = Vec::with_capacity(events.len());
    for batch in events.chunks(u32::MAX as usize) {
        for (i, event) in batch.iter().enumerate() {
            starts.push(offset + frames.len() as u64);
            format::encode_frame(&mut frames, event, i as u32, batch.len() as u32);
        }
    }
    (frames, starts)
}

/// Reads the log and recovers it: cuts a torn tail away, durably.
fn load<D: Disk>(disk: &mut D) -> Result<(Index, Recovery), OpenError> {
    let (scan, file_len) = scan_log(disk)?;
    let recovery = Recovery {
        created: false,
        truncated_bytes: file_len - scan.end,
        discarded_frames: scan.discarded_frames,
    };
    if scan.end < file_len {
        disk.truncate(LOG_FILE, scan.end)?;
        disk.sync(LOG_FILE)?;
    }
    Ok((Index::from(scan), recovery))
}

/// Reads the whole log and scans it, changing nothing.
fn scan_log<D: Disk>(disk: &D) -> Result<(Scan, u64), OpenError> {
    let bytes = read_file(disk, LOG_FILE)?.unwrap_or_default();
    let scan = format::scan(&bytes)?;
    debug_assert!(scan.end as usize >= FILE_HEADER_LEN && scan.end as usize <= bytes.len());
    Ok((scan, bytes.len() as u64))
}

/// The whole of `name`, or `None` if it does not exist.
fn read_file<D: Disk>(disk: &D, name: &str) -> Result<Option<Vec<u8>>, DiskError> {
    let Some(len) = disk.len(name)? else {
        return Ok(None);
    };
    let len = usize::try_from(len)
        .map_err(|_| DiskError::new(format!("{name}: {len} bytes do not fit in memory")))?;
    let mut bytes = vec![0u8; len];
    disk.read_at(name, 0, &mut bytes)?;
    Ok(Some(bytes))
}

/// Replaces `name` with `bytes` atomically: writes and syncs `tmp`, then renames it over.
/// On error, says whether the rename was reached (then `name` may be either file).
fn replace_file<D: Disk>(
    disk: &mut D,
    tmp: &str,
    name: &str,
    bytes: &[u8],
) -> Result<(), (bool, DiskError)> {
    let prepared = (|| {
        if disk.len(tmp)?.is_some() {
            disk.truncate(tmp, 0)?;
        }
        disk.append(tmp, bytes)?;
        disk.sync(tmp)
    })();
    prepared.map_err(|e| (false, e))?;
    disk.rename(tmp, name).map_err(|e| (true, e))
}

#[cfg(test)]
mod tests;
