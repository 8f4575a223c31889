//! Snapshots: the state at a seq, in one blob, so opening never replays the whole log.
//!
//! Byte layout (described in `docs/log-format.md`): a CBOR array
//! `[format_version, seq, digest, body]` where `body` is a CBOR byte string and
//! `digest = blake3(body)`. Everything but the format version and seq (repeated in the body)
//! is covered by the digest. Two formats:
//! - **1, full** ([`encode`]): the chain head, the history of every note, sessions, the
//!   idempotency window. The file index is not stored: it is rebuilt from the history. This is
//!   what archives (R2) hold and what restores start from, and what a storage that does not
//!   keep the notes ([`Storage::keeps_notes`](crate::storage::Storage::keeps_notes)) stores.
//! - **2, lean** ([`encode_lean`]): the same without the history, for a storage that keeps the
//!   notes itself (a Durable Object's SQLite tables): opening it reads a few kilobytes
//!   however many notes there are.
//!
//! Restoring = decoding a snapshot and replaying the events after its seq; that equals
//! replaying the whole log (tested in `tests/replay.rs`).

use std::collections::HashSet;
use std::hash::{BuildHasher, RandomState};

use serde::de::{DeserializeSeed, Error as _, IgnoredAny, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::envelope::ChainHead;
use crate::history::{Change, Content, Version};
use crate::ids::{EventId, Hash, Timestamp};
use crate::notes::{MemoryNotes, NotesView, current_entry};
use crate::path::NotePath;
use crate::receipts::{Receipt, Receipts};
use crate::search::SearchIndex;
use crate::sessions::SessionTable;
use crate::state::State;

/// The full snapshot format, with the history.
pub const SNAPSHOT_FORMAT_VERSION: u32 = 1;
/// The lean snapshot format, without it.
pub const LEAN_FORMAT_VERSION: u32 = 2;

/// An encoded snapshot and what identifies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The last seq it covers.
    pub seq: u64,
    /// The chain head at that seq.
    pub head: ChainHead,
    /// blake3 of the body.
    pub digest: Hash,
    /// The encoded snapshot (outer array, body included).
    pub bytes: Vec<u8>,
}

/// Why snapshot bytes could not be restored.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SnapshotError {
    /// Not a CBOR snapshot, or truncated.
    #[error("not a valid snapshot: {0}")]
    Cbor(String),
    /// Written by a newer or unknown format.
    #[error("snapshot format version {0} is not supported (this build reads 1 and 2)")]
    UnsupportedVersion(u32),
    /// The body does not hash to the digest it carries.
    #[error("snapshot body does not match its digest (corrupt)")]
    DigestMismatch,
    /// The decoded state breaks an invariant (versions out of order, seq mismatch).
    #[error("snapshot is inconsistent: {0}")]
    Inconsistent(String),
    /// A lean snapshot (format 2) was read for the notes, which it does not carry.
    #[error("a lean snapshot (format 2) does not carry the notes")]
    NoNotes,
}

/// Why [`load`] stopped: the snapshot, or the sink it hands the history to.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LoadError<E> {
    /// The snapshot is unreadable, or carries no notes.
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    /// The sink failed.
    #[error("{0}")]
    Sink(E),
}

#[derive(Serialize)]
struct OuterOut<'a>(u32, u64, Hash, #[serde(with = "serde_bytes")] &'a [u8]);

#[derive(Deserialize)]
struct OuterIn<'a>(
    u32,
    u64,
    Hash,
    #[serde(borrow, with = "serde_bytes")] &'a [u8],
);

/// The body: projections in compact form.
///
/// `[head, history, sessions, search, unindexed, receipts, archived, last_time]`. The search
/// index now lives in the storage, not in snapshots: `search` is written as an empty index and
/// `unindexed` as every current note, which is what a build that still reads the index from
/// snapshots needs to rebuild it from the notes' texts (a rollback keeps working). Reading,
/// the index is checked for shape and otherwise ignored, and each queued note must be a
/// current one.
///
/// [`encode_with`] writes this layout a path at a time and [`BodySeed`] reads it so; the type
/// itself is for tests.
#[cfg(test)]
#[derive(Serialize, Deserialize)]
struct Body(
    ChainHead,
    Vec<(NotePath, Vec<VersionWire>)>,
    SessionTable,
    serde_bytes::ByteBuf,
    Vec<NotePath>,
    Vec<(EventId, ReceiptWire)>,
    ChainHead,
    Timestamp,
);

/// A version as `[version, seq, time, change, from_or_to?, source_version?, content?]`.
#[derive(Serialize, Deserialize)]
struct VersionWire(
    u64,
    u64,
    Timestamp,
    u8,
    Option<NotePath>,
    Option<u64>,
    Option<(Hash, u64, String)>,
);

/// The lean body: `[head, sessions, receipts, archived, last_time]`.
#[derive(Serialize, Deserialize)]
struct LeanBody(
    ChainHead,
    SessionTable,
    Vec<(EventId, ReceiptWire)>,
    ChainHead,
    Timestamp,
);

/// A decoded snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// The state.
    pub state: State,
    /// The notes, when the snapshot carries them (format 1).
    pub notes: Option<MemoryNotes>,
}

#[derive(Serialize, Deserialize)]
struct ReceiptWire(u64, Option<NotePath>, Option<u64>);

const WRITTEN: u8 = 0;
const EDITED: u8 = 1;
const REVERTED: u8 = 2;
const DELETED: u8 = 3;
const MOVED_FROM: u8 = 4;
const MOVED_TO: u8 = 5;

impl VersionWire {
    fn from_version(v: &Version) -> VersionWire {
        let (tag, other, source) = match &v.change {
            Change::Written => (WRITTEN, None, None),
            Change::Edited => (EDITED, None, None),
            Change::Reverted { source_version } => (REVERTED, None, Some(*source_version)),
            Change::Deleted => (DELETED, None, None),
            Change::MovedFrom { from } => (MOVED_FROM, Some(from.clone()), None),
            Change::MovedTo { to } => (MOVED_TO, Some(to.clone()), None),
        };
        let content = v
            .content
            .as_ref()
            .map(|c| (c.hash, c.size, c.media_type.clone()));
        VersionWire(v.version, v.seq, v.time, tag, other, source, content)
    }

    fn into_version(self) -> Result<Version, SnapshotError> {
        let VersionWire(version, seq, time, tag, other, source, content) = self;
        let bad = || SnapshotError::Inconsistent(format!("version {version} has a bad change"));
        let change = match (tag, other, source) {
            (WRITTEN, None, None) => Change::Written,
            (EDITED, None, None) => Change::Edited,
            (REVERTED, None, Some(source_version)) => Change::Reverted { source_version },
            (DELETED, None, None) => Change::Deleted,
            (MOVED_FROM, Some(from), None) => Change::MovedFrom { from },
            (MOVED_TO, Some(to), None) => Change::MovedTo { to },
            _ => return Err(bad()),
        };
        let content = content.map(|(hash, size, media_type)| Content {
            hash,
            size,
            media_type,
        });
        let deletion = matches!(change, Change::Deleted | Change::MovedTo { .. });
        if deletion == content.is_some() {
            return Err(bad());
        }
        Ok(Version {
            version,
            seq,
            time,
            change,
            content,
        })
    }
}

/// Encodes `state`, the notes `history` yields (every path with its versions, in path
/// order, as [`NotesView::history_by_path`] does; `paths` of them) and the current notes'
/// paths `current` yields (in path order, as [`NotesView::current_paths`] does; `notes` of
/// them) as a full snapshot (format 1).
///
/// The body is written as the two are read, one path at a time, so encoding holds the bytes
/// and never the notes as values; the frame goes in front of the body in the same buffer. A
/// stream that yields other than its count is refused with `mismatch(count, yielded)`.
pub fn encode_with<E>(
    state: &State,
    paths: u64,
    history: impl Iterator<Item = Result<(NotePath, Vec<Version>), E>>,
    notes: u64,
    current: impl Iterator<Item = Result<NotePath, E>>,
    mismatch: impl Fn(u64, u64) -> E,
) -> Result<Snapshot, E> {
    // Room for the frame's head (array header, version, seq, digest, byte string header).
    const FRAME_ROOM: usize = 64;
    let mut bytes = vec![0u8; FRAME_ROOM];
    cbor_header(4, 8, &mut bytes);
    put(&state.head, &mut bytes);
    cbor_header(4, paths, &mut bytes);
    let mut yielded = 0u64;
    for item in history {
        let (path, versions) = item?;
        yielded += 1;
        let wire: Vec<VersionWire> = versions.iter().map(VersionWire::from_version).collect();
        put(&(path, wire), &mut bytes);
    }
    if yielded != paths {
        return Err(mismatch(paths, yielded));
    }
    put(&state.sessions, &mut bytes);
    let mut empty_index = Vec::new();
    // Writing to a Vec does not fail; the index serializes infallibly.
    let _ = ciborium::into_writer(&SearchIndex::new(), &mut empty_index);
    put(&serde_bytes::ByteBuf::from(empty_index), &mut bytes);
    cbor_header(4, notes, &mut bytes);
    let mut yielded = 0u64;
    for path in current {
        put(&path?, &mut bytes);
        yielded += 1;
    }
    if yielded != notes {
        return Err(mismatch(notes, yielded));
    }
    put(&receipts_wire(state), &mut bytes);
    put(&state.archived, &mut bytes);
    put(&state.last_time, &mut bytes);

    let body = &bytes[FRAME_ROOM..];
    let digest = Hash::of(body);
    let mut head = Vec::with_capacity(FRAME_ROOM);
    cbor_header(4, 4, &mut head);
    put(&SNAPSHOT_FORMAT_VERSION, &mut head);
    put(&state.head.seq, &mut head);
    put(&digest, &mut head);
    cbor_header(2, body.len() as u64, &mut head);
    let start = FRAME_ROOM - head.len();
    bytes[start..FRAME_ROOM].copy_from_slice(&head);
    bytes.drain(..start);
    Ok(Snapshot {
        seq: state.head.seq,
        head: state.head,
        digest,
        bytes,
    })
}

/// Appends the CBOR encoding of `value`.
fn put(value: &impl Serialize, out: &mut Vec<u8>) {
    // Writing to a Vec does not fail; the types here serialize infallibly.
    let _ = ciborium::into_writer(value, out);
}

/// Appends a CBOR head of major type `major` with argument `n` (shortest form, RFC 8949
/// section 3.1), as a definite-length array (4) or byte string (2) starts.
fn cbor_header(major: u8, n: u64, out: &mut Vec<u8>) {
    let major = major << 5;
    match n {
        0..=23 => out.push(major | n as u8),
        24..=0xff => out.extend_from_slice(&[major | 24, n as u8]),
        0x100..=0xffff => {
            out.push(major | 25);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        0x1_0000..=0xffff_ffff => {
            out.push(major | 26);
            out.extend_from_slice(&(n as u32).to_be_bytes());
        }
        _ => {
            out.push(major | 27);
            out.extend_from_slice(&n.to_be_bytes());
        }
    }
}

/// [`encode_with`] reading the history from `notes`, a page at a time.
pub fn encode(
    state: &State,
    notes: &NotesView<'_>,
) -> Result<Snapshot, crate::storage::StorageError> {
    encode_with(
        state,
        notes.history_paths()?,
        notes.history_by_path(),
        notes.stats()?.count,
        notes.current_paths(),
        |counted, read| {
            crate::storage::StorageError::new(format!(
                "the notes count {counted} paths but {read} were read"
            ))
        },
    )
}

/// Encodes `state` without the notes (format 2).
pub fn encode_lean(state: &State) -> Snapshot {
    let body = LeanBody(
        state.head,
        state.sessions.clone(),
        receipts_wire(state),
        state.archived,
        state.last_time,
    );
    frame(LEAN_FORMAT_VERSION, state.head, &body)
}

fn receipts_wire(state: &State) -> Vec<(EventId, ReceiptWire)> {
    state
        .receipts
        .entries()
        .into_iter()
        .map(|(id, r)| (id, ReceiptWire(r.seq, r.path, r.version)))
        .collect()
}

fn frame(version: u32, head: ChainHead, body: &impl Serialize) -> Snapshot {
    let mut body_bytes = Vec::new();
    // Writing to a Vec does not fail; the types serialize infallibly.
    let _ = ciborium::into_writer(body, &mut body_bytes);
    let digest = Hash::of(&body_bytes);
    let mut bytes = Vec::with_capacity(body_bytes.len() + 96);
    let outer = OuterOut(version, head.seq, digest, &body_bytes);
    let _ = ciborium::into_writer(&outer, &mut bytes);
    Snapshot {
        seq: head.seq,
        head,
        digest,
        bytes,
    }
}

/// Decodes snapshot bytes of either format, with an idempotency window of `receipts` ids.
pub fn decode(bytes: &[u8], receipts: usize) -> Result<Decoded, SnapshotError> {
    let (version, seq, body) = open_frame(bytes)?;
    if version == LEAN_FORMAT_VERSION {
        let state = lean_state(seq, body, receipts)?;
        return Ok(Decoded { state, notes: None });
    }
    let mut paths: Vec<(NotePath, Vec<Version>)> = Vec::new();
    let state = load_body(seq, body, receipts, |batch| {
        paths.extend(batch);
        Ok::<(), std::convert::Infallible>(())
    })
    .map_err(|e| match e {
        LoadError::Snapshot(e) => e,
        LoadError::Sink(never) => match never {},
    })?;
    Ok(Decoded {
        state,
        notes: Some(MemoryNotes::from_history(paths, seq)),
    })
}

/// The versions [`load`] hands its sink at a time, about (a path's versions come together).
pub const LOAD_BATCH_VERSIONS: usize = 2_048;

/// Reads a full snapshot (format 1) and returns its state, handing its history to `sink` in
/// path order as it reads it, a batch of paths at a time (about [`LOAD_BATCH_VERSIONS`]
/// versions), each path checked before it is handed on. Loading thus holds the bytes and one
/// batch, never the whole history as values: how a storage that keeps the notes fills them
/// from an archive's snapshot.
///
/// The digest is checked before the first batch, and a lean snapshot is refused
/// ([`SnapshotError::NoNotes`]) before it. A later inconsistency can still stop the reading
/// after some batches were handed on; a sink error stops it too and is returned.
pub fn load<E>(
    bytes: &[u8],
    receipts: usize,
    sink: impl FnMut(Vec<(NotePath, Vec<Version>)>) -> Result<(), E>,
) -> Result<State, LoadError<E>> {
    let (version, seq, body) = open_frame(bytes)?;
    if version == LEAN_FORMAT_VERSION {
        return Err(SnapshotError::NoNotes.into());
    }
    load_body(seq, body, receipts, sink)
}

/// The format version of snapshot bytes (1 or 2), read from the frame alone (the digest is
/// not checked).
pub fn format(bytes: &[u8]) -> Result<u32, SnapshotError> {
    let OuterIn(version, _, _, _) =
        crate::cbor::from_slice_exact(bytes, 4).map_err(SnapshotError::Cbor)?;
    match version {
        SNAPSHOT_FORMAT_VERSION | LEAN_FORMAT_VERSION => Ok(version),
        other => Err(SnapshotError::UnsupportedVersion(other)),
    }
}

/// [`load`] of a full body whose frame is checked.
fn load_body<E>(
    seq: u64,
    body: &[u8],
    receipts: usize,
    sink: impl FnMut(Vec<(NotePath, Vec<Version>)>) -> Result<(), E>,
) -> Result<State, LoadError<E>> {
    let mut loader = Loader {
        seq,
        sink,
        current: HashSet::new(),
        hasher: RandomState::new(),
        failure: None,
    };
    let read = crate::cbor::from_slice_exact_seed(body, 8, BodySeed(&mut loader));
    let (head, sessions, receipt_entries, archived, last_time) = match read {
        Ok(parts) => parts,
        Err(message) => {
            return Err(loader
                .failure
                .take()
                .unwrap_or(LoadError::Snapshot(SnapshotError::Cbor(message))));
        }
    };
    Ok(state_of(
        seq,
        head,
        sessions,
        receipt_entries,
        archived,
        last_time,
        receipts,
    )?)
}

/// What reading a full body as a stream keeps: the sink, the current paths (hashed, to check
/// the queue of texts against), and the first error, typed.
struct Loader<F, E> {
    seq: u64,
    sink: F,
    current: HashSet<u64>,
    hasher: RandomState,
    failure: Option<LoadError<E>>,
}

impl<F, E> Loader<F, E>
where
    F: FnMut(Vec<(NotePath, Vec<Version>)>) -> Result<(), E>,
{
    /// Remembers `error` and gives the deserializer an error to stop with.
    fn fail<D: serde::de::Error>(&mut self, error: LoadError<E>) -> D {
        let message = match &error {
            LoadError::Snapshot(e) => e.to_string(),
            LoadError::Sink(_) => "the sink failed".to_owned(),
        };
        self.failure = Some(error);
        D::custom(message)
    }

    /// A path's versions, checked: paths in order, versions numbered 1, 2, 3, ... and none
    /// after the snapshot's seq.
    fn check(
        &mut self,
        previous: Option<&NotePath>,
        path: &NotePath,
        wires: Vec<VersionWire>,
    ) -> Result<Vec<Version>, SnapshotError> {
        if previous.is_some_and(|previous| previous >= path) {
            return Err(SnapshotError::Inconsistent(format!(
                "{path} is out of order or repeated in the history"
            )));
        }
        let versions = wires
            .into_iter()
            .map(VersionWire::into_version)
            .collect::<Result<Vec<_>, _>>()?;
        if versions.iter().any(|v| v.seq > self.seq) {
            return Err(SnapshotError::Inconsistent(format!(
                "{path} has a version after seq {}",
                self.seq
            )));
        }
        if !versions
            .iter()
            .enumerate()
            .all(|(i, v)| v.version == i as u64 + 1)
        {
            return Err(SnapshotError::Inconsistent(
                "versions are not numbered 1, 2, 3, ...".into(),
            ));
        }
        if current_entry(&versions).is_some() {
            self.current.insert(self.hasher.hash_one(path.as_str()));
        }
        Ok(versions)
    }
}

/// The state's parts of a full body, read while its history streams to the loader.
type BodyParts = (
    ChainHead,
    SessionTable,
    Vec<(EventId, ReceiptWire)>,
    ChainHead,
    Timestamp,
);

/// Reads a full body (`[head, history, sessions, search, unindexed, receipts, archived,
/// last_time]`, see [`Body`]) through a [`Loader`].
struct BodySeed<'l, F, E>(&'l mut Loader<F, E>);

impl<'de, F, E> DeserializeSeed<'de> for BodySeed<'_, F, E>
where
    F: FnMut(Vec<(NotePath, Vec<Version>)>) -> Result<(), E>,
{
    type Value = BodyParts;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<BodyParts, D::Error> {
        d.deserialize_tuple(8, self)
    }
}

impl<'de, F, E> Visitor<'de> for BodySeed<'_, F, E>
where
    F: FnMut(Vec<(NotePath, Vec<Version>)>) -> Result<(), E>,
{
    type Value = BodyParts;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a full snapshot body of 8 items")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<BodyParts, A::Error> {
        let missing = |i| A::Error::invalid_length(i, &"a full snapshot body of 8 items");
        let head: ChainHead = seq.next_element()?.ok_or_else(|| missing(0))?;
        seq.next_element_seed(Seq(HistoryVisitor(&mut *self.0)))?
            .ok_or_else(|| missing(1))?;
        let sessions: SessionTable = seq.next_element()?.ok_or_else(|| missing(2))?;
        // The index of older snapshots is not read: the storage keeps the index now.
        let _: IgnoredAny = seq.next_element()?.ok_or_else(|| missing(3))?;
        seq.next_element_seed(Seq(QueueVisitor(&mut *self.0)))?
            .ok_or_else(|| missing(4))?;
        let receipts = seq.next_element()?.ok_or_else(|| missing(5))?;
        let archived = seq.next_element()?.ok_or_else(|| missing(6))?;
        let last_time = seq.next_element()?.ok_or_else(|| missing(7))?;
        Ok((head, sessions, receipts, archived, last_time))
    }
}

/// A CBOR array read through the visitor it holds (its items handed on as they are read).
struct Seq<V>(V);

impl<'de, V: Visitor<'de>> DeserializeSeed<'de> for Seq<V> {
    type Value = V::Value;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
        d.deserialize_seq(self.0)
    }
}

/// The history, checked path by path and handed to the sink in batches.
struct HistoryVisitor<'l, F, E>(&'l mut Loader<F, E>);

impl<'de, F, E> Visitor<'de> for HistoryVisitor<'_, F, E>
where
    F: FnMut(Vec<(NotePath, Vec<Version>)>) -> Result<(), E>,
{
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the history: [path, versions] pairs")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let loader = self.0;
        let mut batch: Vec<(NotePath, Vec<Version>)> = Vec::new();
        let mut batch_versions = 0;
        let mut previous: Option<NotePath> = None;
        while let Some((path, wires)) = seq.next_element::<(NotePath, Vec<VersionWire>)>()? {
            let versions = loader
                .check(previous.as_ref(), &path, wires)
                .map_err(|e| loader.fail(e.into()))?;
            previous = Some(path.clone());
            batch_versions += versions.len();
            batch.push((path, versions));
            if batch_versions >= LOAD_BATCH_VERSIONS {
                batch_versions = 0;
                (loader.sink)(std::mem::take(&mut batch))
                    .map_err(|e| loader.fail(LoadError::Sink(e)))?;
            }
        }
        if !batch.is_empty() {
            (loader.sink)(batch).map_err(|e| loader.fail(LoadError::Sink(e)))?;
        }
        Ok(())
    }
}

/// The notes queued for their text, each of which must be a current note.
struct QueueVisitor<'l, F, E>(&'l mut Loader<F, E>);

impl<'de, F, E> Visitor<'de> for QueueVisitor<'_, F, E>
where
    F: FnMut(Vec<(NotePath, Vec<Version>)>) -> Result<(), E>,
{
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the notes queued for their text")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let loader = self.0;
        while let Some(path) = seq.next_element::<NotePath>()? {
            if !loader
                .current
                .contains(&loader.hasher.hash_one(path.as_str()))
            {
                let error = SnapshotError::Inconsistent(format!(
                    "{path} is queued for indexing but is not a current note"
                ));
                return Err(loader.fail(error.into()));
            }
        }
        Ok(())
    }
}

/// The state a snapshot of either format holds, without reading a full one's history into
/// memory (its bytes are still checked against the digest, and its shape read).
pub fn decode_state(bytes: &[u8], receipts: usize) -> Result<State, SnapshotError> {
    let (version, seq, body) = open_frame(bytes)?;
    if version == LEAN_FORMAT_VERSION {
        return lean_state(seq, body, receipts);
    }
    let SkimBody(head, _, sessions, _, _, receipt_entries, archived, last_time) =
        crate::cbor::from_slice_exact(body, 8).map_err(SnapshotError::Cbor)?;
    state_of(
        seq,
        head,
        sessions,
        receipt_entries,
        archived,
        last_time,
        receipts,
    )
}

/// The frame of either format, checked: its version, seq and body (whose digest matched).
fn open_frame(bytes: &[u8]) -> Result<(u32, u64, &[u8]), SnapshotError> {
    let OuterIn(version, seq, digest, body) =
        crate::cbor::from_slice_exact(bytes, 4).map_err(SnapshotError::Cbor)?;
    if version != SNAPSHOT_FORMAT_VERSION && version != LEAN_FORMAT_VERSION {
        return Err(SnapshotError::UnsupportedVersion(version));
    }
    if Hash::of(body) != digest {
        return Err(SnapshotError::DigestMismatch);
    }
    Ok((version, seq, body))
}

/// The state of a lean body.
fn lean_state(seq: u64, body: &[u8], receipts: usize) -> Result<State, SnapshotError> {
    let LeanBody(head, sessions, receipt_entries, archived, last_time) =
        crate::cbor::from_slice_exact(body, 5).map_err(SnapshotError::Cbor)?;
    state_of(
        seq,
        head,
        sessions,
        receipt_entries,
        archived,
        last_time,
        receipts,
    )
}

/// A full body read for its state alone: the history and the search items are skipped.
#[derive(Deserialize)]
struct SkimBody(
    ChainHead,
    IgnoredAny,
    SessionTable,
    IgnoredAny,
    IgnoredAny,
    Vec<(EventId, ReceiptWire)>,
    ChainHead,
    Timestamp,
);

fn state_of(
    seq: u64,
    head: ChainHead,
    sessions: SessionTable,
    receipt_entries: Vec<(EventId, ReceiptWire)>,
    archived: ChainHead,
    last_time: Timestamp,
    receipts: usize,
) -> Result<State, SnapshotError> {
    if head.seq != seq {
        return Err(SnapshotError::Inconsistent(format!(
            "seq {seq} but chain head at {}",
            head.seq
        )));
    }
    if archived.seq > seq {
        return Err(SnapshotError::Inconsistent(format!(
            "archived through seq {} but the snapshot is at seq {seq}",
            archived.seq
        )));
    }
    let receipts = Receipts::from_entries(
        receipts,
        receipt_entries
            .into_iter()
            .map(|(id, ReceiptWire(seq, path, version))| (id, Receipt { seq, path, version }))
            .collect(),
    );
    Ok(State {
        head,
        sessions,
        receipts,
        archived,
        last_time,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::Envelope;
    use crate::event::{Event, NoteContent, SessionOpened};
    use crate::ids::{EventId, SessionId};
    use crate::state::Replica;

    fn replica_with_note() -> Replica {
        let mut replica = Replica::new(10);
        replica
            .apply(&note(1, "a.md", 1, "pears"), Hash::of(b"head"))
            .unwrap();
        replica
    }

    fn note(seq: u64, path: &str, version: u64, text: &str) -> Envelope {
        let content = NoteContent {
            path: NotePath::new(path).unwrap(),
            version,
            hash: Hash::of(text.as_bytes()),
            size: text.len() as u64,
            media_type: "text/markdown".into(),
        };
        let event = if version == 1 {
            Event::NoteWritten(content)
        } else {
            Event::NoteEdited(content)
        };
        Envelope::new(
            seq,
            EventId::derive(&seq.to_be_bytes()),
            Timestamp(seq),
            event,
        )
    }

    #[test]
    fn round_trips() {
        let replica = replica_with_note();
        let decoded = decode(&replica.snapshot().bytes, 10).unwrap();
        assert_eq!(Replica::from_snapshot(decoded), Some(replica));
    }

    #[test]
    fn a_full_snapshot_read_for_its_state_alone_gives_the_same_state() {
        let mut replica = replica_with_note();
        replica
            .apply(&note(2, "a.md", 2, "pears and figs"), Hash::of(b"h2"))
            .unwrap();
        let full = replica.snapshot();
        assert_eq!(decode_state(&full.bytes, 10).unwrap(), replica.state);
        let lean = encode_lean(&replica.state);
        assert_eq!(decode_state(&lean.bytes, 10).unwrap(), replica.state);
        // Skimming still checks the digest.
        let mut corrupt = full.bytes.clone();
        let last = corrupt.len() - 1;
        corrupt[last] ^= 1;
        assert!(matches!(
            decode_state(&corrupt, 10),
            Err(SnapshotError::DigestMismatch | SnapshotError::Cbor(_))
        ));
    }

    #[test]
    fn a_history_that_yields_other_than_its_count_is_refused() {
        let replica = replica_with_note();
        let history = || {
            replica
                .notes
                .history()
                .iter()
                .map(|(p, vs)| Ok::<_, (u64, u64)>((p.clone(), vs.to_vec())))
                .collect::<Vec<_>>()
        };
        let current = || vec![Ok(NotePath::new("a.md").unwrap())].into_iter();
        let refused = encode_with(
            &replica.state,
            2,
            history().into_iter(),
            1,
            current(),
            |a, b| (a, b),
        );
        assert_eq!(refused.map(|s| s.seq), Err((2, 1)));
        let refused = encode_with(
            &replica.state,
            1,
            history().into_iter(),
            2,
            current(),
            |a, b| (a, b),
        );
        assert_eq!(refused.map(|s| s.seq), Err((2, 1)));
        let made = encode_with(
            &replica.state,
            1,
            history().into_iter(),
            1,
            current(),
            |a, b| (a, b),
        );
        assert_eq!(made.map(|s| s.bytes), Ok(replica.snapshot().bytes));
    }

    #[test]
    fn the_lean_format_round_trips_the_state_without_the_notes() {
        let mut replica = replica_with_note();
        let open = Event::SessionOpened(SessionOpened {
            session: SessionId::new("s1").unwrap(),
            user: "u".into(),
            protocol_version: "2025-06-18".into(),
            client_name: "c".into(),
            client_version: "1".into(),
            idle_timeout_ms: 1_000,
        });
        let env = Envelope::new(2, EventId::derive(b"open"), Timestamp(9), open);
        replica.apply(&env, Hash::of(b"h2")).unwrap();
        let lean = encode_lean(&replica.state);
        assert_eq!(lean.seq, 2);
        let decoded = decode(&lean.bytes, 10).unwrap();
        assert_eq!(decoded.state, replica.state);
        assert_eq!(decoded.notes, None);
        assert!(lean.bytes.len() < replica.snapshot().bytes.len());
    }

    /// `bytes` (a full snapshot) with its body changed by `change`, framed again.
    fn rewritten(bytes: &[u8], change: impl FnOnce(&mut Body)) -> Vec<u8> {
        let OuterIn(version, seq, _, body) = crate::cbor::from_slice_exact(bytes, 4).unwrap();
        let mut body: Body = crate::cbor::from_slice_exact(body, 8).unwrap();
        change(&mut body);
        let mut body_bytes = Vec::new();
        ciborium::into_writer(&body, &mut body_bytes).unwrap();
        let mut out = Vec::new();
        let outer = OuterOut(version, seq, Hash::of(&body_bytes), &body_bytes);
        ciborium::into_writer(&outer, &mut out).unwrap();
        out
    }

    /// `replica`'s snapshot with its search index replaced by bytes this build cannot read.
    fn with_future_index(replica: &Replica) -> Vec<u8> {
        rewritten(&replica.snapshot().bytes, |body| {
            body.3 = serde_bytes::ByteBuf::from(vec![0xa1, 0x61, b'v', 0x18, 99]);
        })
    }

    /// A replica of `paths` notes of `versions` versions each, plus `big.md` of `big`.
    fn replica_of(paths: usize, versions: u64, big: u64) -> Replica {
        let mut replica = Replica::new(10);
        let mut seq = 0;
        let mut add = |replica: &mut Replica, path: &str, version: u64| {
            seq += 1;
            let env = note(seq, path, version, &format!("{path} {version}"));
            replica.apply(&env, Hash::of(&seq.to_be_bytes())).unwrap();
        };
        for version in 1..=big {
            add(&mut replica, "big.md", version);
        }
        for n in 0..paths {
            for version in 1..=versions {
                add(&mut replica, &format!("n/{n:05}.md"), version);
            }
        }
        replica
    }

    #[test]
    fn load_hands_the_history_on_in_bounded_batches_in_path_order() {
        let big = LOAD_BATCH_VERSIONS as u64 + 100;
        let replica = replica_of(1_500, 3, big);
        let bytes = replica.snapshot().bytes;
        let mut batches: Vec<Vec<(NotePath, Vec<Version>)>> = Vec::new();
        let state = load(&bytes, 10, |batch| {
            batches.push(batch);
            Ok::<(), ()>(())
        })
        .unwrap();
        assert_eq!(state, replica.state);
        assert!(batches.len() > 2, "{} batches", batches.len());
        for batch in &batches {
            // A batch is handed on as soon as it reaches the bound: without its last path it
            // is under it. A path's versions come together, however many.
            let (last, rest) = batch.split_last().unwrap();
            let under: usize = rest.iter().map(|(_, v)| v.len()).sum();
            assert!(under < LOAD_BATCH_VERSIONS, "{under} before the last path");
            assert!(last.1.len() as u64 == big || last.1.len() == 3);
        }
        let loaded: Vec<(NotePath, Vec<Version>)> = batches.into_iter().flatten().collect();
        let expected = decode(&bytes, 10).unwrap().notes.unwrap();
        assert_eq!(
            MemoryNotes::from_history(loaded, replica.state.head.seq),
            expected
        );
        assert_eq!(expected, replica.notes);
    }

    #[test]
    fn load_checks_the_digest_and_the_format_before_handing_anything_on() {
        let replica = replica_of(10, 2, 0);
        let mut calls = 0;
        let mut sink = |_| {
            calls += 1;
            Ok::<(), ()>(())
        };
        let mut corrupt = replica.snapshot().bytes;
        let middle = corrupt.len() / 2;
        corrupt[middle] ^= 1;
        assert!(matches!(
            load(&corrupt, 10, &mut sink),
            Err(LoadError::Snapshot(
                SnapshotError::DigestMismatch | SnapshotError::Cbor(_)
            ))
        ));
        let lean = encode_lean(&replica.state);
        assert_eq!(
            load(&lean.bytes, 10, &mut sink),
            Err(LoadError::Snapshot(SnapshotError::NoNotes))
        );
        assert_eq!(format(&lean.bytes), Ok(LEAN_FORMAT_VERSION));
        assert_eq!(
            format(&replica.snapshot().bytes),
            Ok(SNAPSHOT_FORMAT_VERSION)
        );
        assert_eq!(calls, 0);
    }

    #[test]
    fn a_sink_error_stops_the_load_and_is_returned() {
        let replica = replica_of(3_000, 1, 0);
        let mut calls = 0;
        let loaded = load(&replica.snapshot().bytes, 10, |_| {
            calls += 1;
            if calls == 1 {
                Ok(())
            } else {
                Err("the storage is full")
            }
        });
        assert_eq!(loaded, Err(LoadError::Sink("the storage is full")));
        assert_eq!(calls, 2);
    }

    #[test]
    fn a_history_out_of_order_or_a_queue_naming_no_note_is_refused_while_loading() {
        let replica = replica_of(3_000, 1, 0);
        let bytes = replica.snapshot().bytes;
        // The last two paths swapped: found after the first batches were handed on.
        let swapped = rewritten(&bytes, |body| {
            let n = body.1.len();
            body.1.swap(n - 2, n - 1);
        });
        let mut calls = 0;
        let loaded = load(&swapped, 10, |_| {
            calls += 1;
            Ok::<(), ()>(())
        });
        assert!(
            matches!(&loaded, Err(LoadError::Snapshot(SnapshotError::Inconsistent(m))) if m.contains("out of order")),
            "{loaded:?}"
        );
        assert!(calls >= 1);
        let stray = rewritten(&bytes, |body| {
            body.4.push(NotePath::new("n/zz-never-written.md").unwrap());
        });
        let loaded = load(&stray, 10, |_| Ok::<(), ()>(()));
        assert!(
            matches!(&loaded, Err(LoadError::Snapshot(SnapshotError::Inconsistent(m))) if m.contains("not a current note")),
            "{loaded:?}"
        );
    }

    #[test]
    fn the_search_fields_are_written_for_older_builds_and_ignored_when_read() {
        let mut replica = replica_with_note();
        replica
            .apply(&note(2, "b.md", 1, "basil"), Hash::of(b"head"))
            .unwrap();
        // A snapshot from a build that kept the index in snapshots, in a format no build reads:
        // it opens, and the index and queue it carries are not used.
        let old = decode(&with_future_index(&replica), 10).unwrap();
        assert_eq!(Replica::from_snapshot(old).as_ref(), Some(&replica));
        // Written now: an empty index and every current note queued, which is what an older
        // build (after a rollback) needs to rebuild its index from the texts.
        let snap = replica.snapshot();
        let OuterIn(_, _, _, body) = crate::cbor::from_slice_exact(&snap.bytes, 4).unwrap();
        let Body(_, _, _, index, unindexed, ..) = crate::cbor::from_slice_exact(body, 8).unwrap();
        let index: SearchIndex = crate::cbor::from_slice(&index).unwrap();
        assert!(index.is_empty());
        let queued: Vec<&str> = unindexed.iter().map(NotePath::as_str).collect();
        assert_eq!(queued, ["a.md", "b.md"]);
    }
}
