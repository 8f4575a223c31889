//! Planning an export: which objects a user's next backup still needs, in bounded steps.
//!
//! An export copies the user's log and note contents into the backup bucket and then writes
//! a manifest naming all of it. It is a step machine: [`ExportRun::next_step`] says what to do
//! next, the adapter (the user's Durable Object) performs it and hands the result back with
//! [`ExportRun::complete`]. Objects go first and the manifest last, so a backup is never a
//! manifest that names a missing object. Every completed object is recorded by the adapter
//! ([`Exported`]), so a run that stops (a failed upload, the end of an invocation's budget)
//! loses nothing: the next run plans again from what is recorded and uploads each object once.
//!
//! What goes in:
//! - the archived segments in R2 that tile seqs `1..=archived` are copied as they are (their
//!   bytes and names are the same in both buckets);
//! - the events after the archive, up to the live head, go up as a *tail* segment encoded from
//!   the object's local log (superseded by archived segments in later exports);
//! - every content that a version up to the head names goes into packs
//!   ([`crate::pack`]), each content once across all exports.
//!
//! With a [`Recipient`] every object is sealed ([`crate::seal`]) before it is put, and named
//! and listed by the blake3 of its sealed bytes, so nothing in the bucket names a plaintext's
//! hash; with a [`SigningKey`] the manifest is signed. [`ExportRun::prepare_segment`] and
//! [`ExportRun::prepare_pack`] make an object ready to put either way. What was sealed to
//! one recipient is reused only while that recipient stays the same.

use std::collections::{BTreeMap, BTreeSet};

use engine::Hash;
use engine::envelope::{ChainHead, Envelope};
use engine::segment::{self, SegmentError};
use thiserror::Error;

use crate::archive::{self, ArchivedSegment, RestorePlanError};
use crate::layout::UserLayout;
use crate::manifest::{
    EncodedManifest, Encryption, MANIFEST_FORMAT_VERSION, Manifest, PackRef, SegmentRef, TimeRange,
};
use crate::pack::{self, PACK_TARGET_BYTES};
use crate::seal::{self, Entropy, Recipient};
use crate::sign::SigningKey;

pub mod sql;

/// The most contents one pack step reads (each is one read from R2).
pub const PACK_MAX_CONTENTS: usize = 200;
/// The most events one tail segment holds.
pub const TAIL_MAX_EVENTS: u64 = 10_000;

/// What the bucket holds already: objects recorded by earlier exports and unfinished runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Exported {
    /// Segments, by key.
    pub segments: BTreeMap<String, SegmentRef>,
    /// Packs, by key.
    pub packs: BTreeMap<String, PackRef>,
    /// Each content's pack key, for [`ContentsToExport::from_memory`]. (The object keeps
    /// these in SQLite, `backup_contents`, and asks [`sql::contents_to_export`] instead, so it
    /// leaves this empty; planning itself reads only [`ExportInputs::contents`].)
    pub contents: BTreeMap<Hash, String>,
    /// The sealed objects among them, by key (the others are plain).
    pub sealed: BTreeMap<String, SealedObject>,
}

/// What an object's key does not tell once it is sealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedObject {
    /// The recipient it is sealed to (`age1...`).
    pub recipient: String,
    /// The blake3 of its plaintext (kept by the Durable Object, never in the bucket).
    pub plain: Hash,
}

impl Exported {
    /// Records what a completed step put into the bucket.
    pub fn record(&mut self, result: &StepResult) {
        match result {
            StepResult::Segment { segment, sealed } => {
                if let Some(sealed) = sealed {
                    self.sealed.insert(segment.key.clone(), sealed.clone());
                }
                self.segments.insert(segment.key.clone(), segment.clone());
            }
            StepResult::Pack {
                pack,
                contents,
                sealed,
            } => {
                if let Some(sealed) = sealed {
                    self.sealed.insert(pack.key.clone(), sealed.clone());
                }
                self.packs.insert(pack.key.clone(), pack.clone());
                for hash in contents {
                    self.contents.insert(*hash, pack.key.clone());
                }
            }
            StepResult::Manifest => {}
        }
    }

    /// Whether the object at `key` was written the way `sealing` writes (plain, or sealed to
    /// the same recipient).
    fn usable(&self, key: &str, sealing: Option<&Recipient>) -> bool {
        match (self.sealed.get(key), sealing) {
            (None, None) => true,
            (Some(sealed), Some(recipient)) => sealed.recipient == recipient.to_string(),
            _ => false,
        }
    }

    /// The blake3 of a recorded segment's plaintext.
    fn plain_digest(&self, segment: &SegmentRef) -> Hash {
        self.sealed
            .get(&segment.key)
            .map_or(segment.blake3, |sealed| sealed.plain)
    }
}

/// The notes at the head, as the manifest states them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateSummary {
    /// [`engine::files::FileIndex::digest`] at the head.
    pub digest: Hash,
    /// How many notes.
    pub notes: u64,
    /// Their bytes.
    pub note_bytes: u64,
}

/// What an export takes from the user's store: the head, the archived head and the notes at
/// the head. (Which contents it still has to pack is [`ContentsToExport`].)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FromStore {
    /// The live head.
    pub head: ChainHead,
    /// The archived head.
    pub archived: ChainHead,
    /// The notes at the head.
    pub state: StateSummary,
}

impl FromStore {
    /// Reads it from `store`.
    pub fn of<S: engine::Storage>(
        store: &engine::Store<S>,
    ) -> Result<FromStore, engine::StorageError> {
        let notes = store.notes();
        let stats = notes.stats()?;
        Ok(FromStore {
            head: store.head(),
            archived: store.archived(),
            state: StateSummary {
                digest: notes.digest()?,
                notes: stats.count,
                note_bytes: stats.total_bytes,
            },
        })
    }
}

/// Every content a version up to `store`'s head names, with its size, walking its history a
/// page at a time: the in-memory reference for [`ContentsToExport::from_memory`]. (The
/// object asks its SQL tables instead: [`sql::contents_to_export`].)
pub fn contents_of<S: engine::Storage>(
    store: &engine::Store<S>,
) -> Result<BTreeMap<Hash, u64>, engine::StorageError> {
    let head = store.head();
    let mut contents = BTreeMap::new();
    for item in store.notes().history_by_path() {
        let (_, versions) = item?;
        let named = versions
            .iter()
            .filter(|version| version.seq <= head.seq)
            .filter_map(|version| version.content.as_ref())
            .map(|content| (content.hash, content.size));
        contents.extend(named);
    }
    Ok(contents)
}

/// The contents a run still has to pack, and the packs that hold the others: what planning
/// needs of the contents, bounded by the run rather than by the user's notes.
///
/// A content is *held* when the pack recorded for it ([`Exported::contents`]) is recorded
/// too and usable (written as this run writes: plain, or sealed to the same recipient);
/// otherwise it is *missing*. Contents a version names are never forgotten (the history only
/// grows), so every run's manifest names the packs of all held contents.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContentsToExport {
    /// The first missing contents in hash order, with their sizes (at most the limit asked).
    pub missing: Vec<(Hash, u64)>,
    /// More contents are missing past these: the run packs these and ends without a
    /// manifest, and the next run goes on.
    pub more: bool,
    /// The usable packs that hold the needed contents that are not missing.
    pub held: BTreeSet<String>,
}

impl ContentsToExport {
    /// Works it out from every needed content (`contents`, as [`contents_of`] reads them) and
    /// what is recorded, at most `limit` missing ones.
    pub fn from_memory(
        contents: &BTreeMap<Hash, u64>,
        exported: &Exported,
        sealing: Option<&Recipient>,
        limit: usize,
    ) -> ContentsToExport {
        let mut out = ContentsToExport::default();
        for (hash, size) in contents {
            let held = exported
                .contents
                .get(hash)
                .filter(|key| exported.packs.contains_key(key.as_str()))
                .filter(|key| exported.usable(key, sealing));
            match held {
                Some(key) => {
                    out.held.insert(key.clone());
                }
                None if out.missing.len() < limit => out.missing.push((*hash, *size)),
                None => out.more = true,
            }
        }
        out
    }
}

/// Everything an export is planned from.
#[derive(Debug, Clone)]
pub struct ExportInputs<'a> {
    /// The user.
    pub user: &'a str,
    /// What is exporting (crate, version, commit), for the manifest.
    pub build: &'a str,
    /// The live head: the backup restores to it.
    pub head: ChainHead,
    /// The archived head the log records: R2's segments tile `1..=archived.seq`.
    pub archived: ChainHead,
    /// The archive's segments, as listed (any order; strays and duplicates are fine).
    pub archive: &'a [ArchivedSegment],
    /// The notes at the head.
    pub state: StateSummary,
    /// The contents still to pack, and the packs holding the others.
    pub contents: &'a ContentsToExport,
    /// What the bucket holds already: its segments, packs and sealed objects are read
    /// (its contents are in `contents`).
    pub exported: &'a Exported,
    /// The newest manifest in the bucket, if any.
    pub previous: Option<Hash>,
    /// Now (unix milliseconds): the manifest's creation time.
    pub now_ms: u64,
    /// Seal every object to this recipient (`None`: plain objects).
    pub sealing: Option<&'a Recipient>,
    /// Sign the manifest with this key (`None`: unsigned).
    pub signing: Option<&'a SigningKey>,
}

/// How much one run may do: requests (R2 and S3 together) and bytes uploaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Requests.
    pub requests: u64,
    /// Bytes.
    pub bytes: u64,
}

/// One thing to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExportStep {
    /// Read this archived segment from R2, check it against its digest, prepare it
    /// ([`ExportRun::prepare_segment`]) and put it. Two requests.
    CopySegment(ArchivedSegment),
    /// Encode the local events `first..=last` as a segment, prepare it and put it. One
    /// request.
    PutTail {
        /// The first seq (right after the archived head).
        first: u64,
        /// The last seq.
        last: u64,
    },
    /// Read these contents (from R2 or a cache; each checked against its hash), pack them
    /// ([`ExportRun::prepare_pack`]) and put the pack. One request per content and one more.
    PutPack(Vec<Hash>),
    /// Put the manifest. One request.
    PutManifest(EncodedManifest),
}

/// What a step produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepResult {
    /// A segment is in the bucket.
    Segment {
        /// The segment as the manifest lists it.
        segment: SegmentRef,
        /// How it is sealed, if it is.
        sealed: Option<SealedObject>,
    },
    /// A pack is in the bucket, holding these contents.
    Pack {
        /// The pack.
        pack: PackRef,
        /// Its contents.
        contents: Vec<Hash>,
        /// How it is sealed, if it is.
        sealed: Option<SealedObject>,
    },
    /// The manifest is in the bucket.
    Manifest,
}

/// An object ready to put, and the result to hand back once the bucket has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    /// Its key.
    pub key: String,
    /// The bytes to put (sealed when the run seals).
    pub bytes: Vec<u8>,
    /// For [`ExportRun::complete`] (and the adapter's records, [`Exported::record`]).
    pub result: StepResult,
}

/// Why an export cannot be planned.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ExportPlanError {
    /// The archive does not tile the log up to the archived head.
    #[error("the archive in R2 is incomplete: {0}")]
    Archive(#[from] RestorePlanError),
    /// The archived head is past the live head.
    #[error("the archived head (seq {archived}) is past the live head (seq {head})")]
    ArchivedPastHead {
        /// Archived seq.
        archived: u64,
        /// Live seq.
        head: u64,
    },
}

/// Why a step result was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum CompleteError {
    /// No step is waiting for a result.
    #[error("no step is in flight")]
    NothingInFlight,
    /// The result does not answer the step in flight.
    #[error("the result does not answer the step in flight: {0}")]
    Mismatch(String),
}

/// Where a run stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunState {
    /// Steps remain; the budget allows more.
    Working,
    /// Steps remain but the budget is spent, or contents remain past those this run planned
    /// ([`ContentsToExport::more`]): continue in another run.
    OutOfBudget,
    /// The manifest is in the bucket.
    Complete(Box<Manifest>),
}

/// One export run (see the module docs).
#[derive(Debug)]
pub struct ExportRun {
    layout: UserLayout,
    user: String,
    build: String,
    head: ChainHead,
    state: StateSummary,
    previous: Option<Hash>,
    now_ms: u64,
    sealing: Option<Recipient>,
    signing: Option<SigningKey>,
    budget: Budget,
    /// Segments of the manifest in log order: known refs, or `None` until their step completes.
    segments: Vec<(u64, u64, Option<SegmentRef>)>,
    /// Data steps still to yield.
    pending: std::collections::VecDeque<ExportStep>,
    in_flight: Option<ExportStep>,
    /// Contents are missing past those this run packs: it ends without a manifest.
    more: bool,
    /// The packs the manifest names: those holding the needed contents, and those this run
    /// put.
    packs: BTreeMap<String, PackRef>,
    manifest: Option<Manifest>,
    complete: bool,
}

impl ExportRun {
    /// Plans a run. Nothing in the inputs is changed; the adapter records each result it
    /// hands back.
    pub fn new(inputs: &ExportInputs<'_>, budget: Budget) -> Result<ExportRun, ExportPlanError> {
        if inputs.archived.seq > inputs.head.seq {
            return Err(ExportPlanError::ArchivedPastHead {
                archived: inputs.archived.seq,
                head: inputs.head.seq,
            });
        }
        let layout = UserLayout::new(inputs.user);
        let exported = inputs.exported;
        let usable = |key: &str| exported.usable(key, inputs.sealing);
        // Recorded segments written as this run writes, by range and plaintext digest.
        let recorded: BTreeMap<(u64, u64, Hash), &SegmentRef> = exported
            .segments
            .values()
            .filter(|s| usable(&s.key))
            .map(|s| ((s.first_seq, s.last_seq, exported.plain_digest(s)), s))
            .collect();
        let mut pending = std::collections::VecDeque::new();
        let mut segments = Vec::new();
        for listed in archive::tiling(inputs.archive, inputs.archived.seq)? {
            let known = recorded
                .get(&(listed.first, listed.last, listed.digest))
                .map(|s| (*s).clone());
            if known.is_none() {
                pending.push_back(ExportStep::CopySegment(listed.clone()));
            }
            segments.push((listed.first, listed.last, known));
        }
        let mut first = inputs.archived.seq + 1;
        while first <= inputs.head.seq {
            let last = inputs.head.seq.min(first + TAIL_MAX_EVENTS - 1);
            let known = recorded
                .range((first, last, Hash::ZERO)..)
                .next()
                .filter(|((f, l, _), _)| (*f, *l) == (first, last))
                .map(|(_, s)| (*s).clone());
            if known.is_none() {
                pending.push_back(ExportStep::PutTail { first, last });
            }
            segments.push((first, last, known));
            first = last + 1;
        }
        let mut packs = BTreeMap::new();
        for key in &inputs.contents.held {
            if let Some(pack) = exported.packs.get(key) {
                packs.insert(key.clone(), pack.clone());
            }
        }
        let mut batch: Vec<Hash> = Vec::new();
        let mut batch_bytes = 0u64;
        for (hash, size) in &inputs.contents.missing {
            if !batch.is_empty()
                && (batch.len() >= PACK_MAX_CONTENTS || batch_bytes + size > PACK_TARGET_BYTES)
            {
                pending.push_back(ExportStep::PutPack(std::mem::take(&mut batch)));
                batch_bytes = 0;
            }
            batch.push(*hash);
            batch_bytes += size;
        }
        if !batch.is_empty() {
            pending.push_back(ExportStep::PutPack(batch));
        }
        Ok(ExportRun {
            layout,
            user: inputs.user.to_owned(),
            build: inputs.build.to_owned(),
            head: inputs.head,
            state: inputs.state,
            previous: inputs.previous,
            now_ms: inputs.now_ms,
            sealing: inputs.sealing.cloned(),
            signing: inputs.signing.cloned(),
            budget,
            segments,
            pending,
            in_flight: None,
            more: inputs.contents.more,
            packs,
            manifest: None,
            complete: false,
        })
    }

    /// How many data steps (segments and packs) remain before the manifest.
    pub fn remaining(&self) -> usize {
        self.pending.len() + usize::from(self.in_flight.is_some())
    }

    /// The next step, or `None` while one is in flight, when the budget is spent, or when the
    /// run is complete ([`ExportRun::state`] tells which).
    pub fn next_step(&mut self) -> Option<ExportStep> {
        if self.in_flight.is_some() || self.complete {
            return None;
        }
        // A pack larger than what the budget has left is split: its first part goes now.
        if let Some(ExportStep::PutPack(contents)) = self.pending.front_mut()
            && contents.len() as u64 + 1 > self.budget.requests
            && self.budget.requests >= 2
        {
            let rest = contents.split_off(usize::try_from(self.budget.requests - 1).unwrap_or(0));
            self.pending.insert(1, ExportStep::PutPack(rest));
        }
        let step = match self.pending.front() {
            Some(step) => step.clone(),
            // Contents this run did not plan are still missing: the next run goes on.
            None if self.more => return None,
            None => {
                ExportStep::PutManifest(self.build_manifest().encode_with(self.signing.as_ref()))
            }
        };
        let (requests, bytes) = self.cost(&step);
        if requests > self.budget.requests || bytes > self.budget.bytes {
            return None;
        }
        self.budget.requests -= requests;
        self.budget.bytes -= bytes;
        if !self.pending.is_empty() {
            self.pending.pop_front();
        }
        self.in_flight = Some(step.clone());
        Some(step)
    }

    /// Takes the result of the step in flight.
    pub fn complete(&mut self, result: StepResult) -> Result<(), CompleteError> {
        let Some(step) = self.in_flight.take() else {
            return Err(CompleteError::NothingInFlight);
        };
        let mismatch = |what: &str| Err(CompleteError::Mismatch(what.to_owned()));
        let sealed = match &result {
            StepResult::Segment { sealed, .. } | StepResult::Pack { sealed, .. } => {
                Some(sealed.as_ref().map(|s| s.recipient.clone()))
            }
            StepResult::Manifest => None,
        };
        if let Some(sealed) = sealed
            && sealed != self.sealing.as_ref().map(Recipient::to_string)
        {
            self.in_flight = Some(step);
            return mismatch("an object must be sealed as the run seals");
        }
        match (&step, result) {
            (ExportStep::CopySegment(listed), StepResult::Segment { segment, sealed }) => {
                let plain = sealed.map_or(segment.blake3, |s| s.plain);
                if (segment.first_seq, segment.last_seq, plain)
                    != (listed.first, listed.last, listed.digest)
                {
                    self.in_flight = Some(step.clone());
                    return mismatch("a copied segment must keep its range and bytes");
                }
                self.set_segment(segment);
            }
            (ExportStep::PutTail { first, last }, StepResult::Segment { segment: done, .. }) => {
                if (done.first_seq, done.last_seq) != (*first, *last) {
                    self.in_flight = Some(step.clone());
                    return mismatch("the tail segment must cover the asked range");
                }
                self.set_segment(done);
            }
            (ExportStep::PutPack(asked), StepResult::Pack { pack, contents, .. }) => {
                if asked.iter().any(|h| !contents.contains(h)) {
                    self.in_flight = Some(step.clone());
                    return mismatch("the pack must hold every asked content");
                }
                self.packs.insert(pack.key.clone(), pack);
            }
            (ExportStep::PutManifest(_), StepResult::Manifest) => {
                self.manifest = Some(self.build_manifest());
                self.complete = true;
            }
            _ => {
                self.in_flight = Some(step.clone());
                return mismatch("a result of another kind");
            }
        }
        Ok(())
    }

    /// Where the run stands.
    pub fn state(&self) -> RunState {
        match &self.manifest {
            Some(manifest) if self.complete => RunState::Complete(Box::new(manifest.clone())),
            _ if self.in_flight.is_some() => RunState::Working,
            _ if self.pending.is_empty() && self.more => RunState::OutOfBudget,
            _ => {
                let next = match self.pending.front() {
                    Some(step) => self.cost(step),
                    None => (1, 0),
                };
                if next.0 > self.budget.requests || next.1 > self.budget.bytes {
                    RunState::OutOfBudget
                } else {
                    RunState::Working
                }
            }
        }
    }

    fn set_segment(&mut self, done: SegmentRef) {
        if let Some(slot) = self
            .segments
            .iter_mut()
            .find(|(first, last, _)| (*first, *last) == (done.first_seq, done.last_seq))
        {
            slot.2 = Some(done);
        }
    }

    /// Requests and bytes a step costs (bytes estimated from sizes where known).
    fn cost(&self, step: &ExportStep) -> (u64, u64) {
        match step {
            ExportStep::CopySegment(_) => (2, 0),
            ExportStep::PutTail { .. } => (1, 0),
            ExportStep::PutPack(contents) => (contents.len() as u64 + 1, 0),
            ExportStep::PutManifest(_) => (1, 0),
        }
    }

    /// The manifest of everything the run has (called once every data step is done).
    fn build_manifest(&self) -> Manifest {
        let segments: Vec<SegmentRef> = self
            .segments
            .iter()
            .filter_map(|(_, _, known)| known.clone())
            .collect();
        let packs: Vec<PackRef> = self.packs.values().cloned().collect();
        let events = TimeRange {
            first_ms: segments.first().map_or(0, |s| s.events.first_ms),
            last_ms: segments.last().map_or(0, |s| s.events.last_ms),
        };
        Manifest {
            format: MANIFEST_FORMAT_VERSION,
            user: self.user.clone(),
            created_ms: self.now_ms,
            head: self.head,
            state_digest: self.state.digest,
            notes: self.state.notes,
            note_bytes: self.state.note_bytes,
            events,
            segments,
            packs,
            previous: self.previous,
            build: self.build.clone(),
            encryption: self.sealing.as_ref().map(Encryption::age),
        }
    }

    /// Makes segment bytes (archived or encoded from the local log) ready to put: described
    /// ([`describe_segment`]: decoded, chain checked) and, when the run seals, sealed and named
    /// by the sealed bytes. `entropy` is used only when sealing.
    pub fn prepare_segment(
        &self,
        plain: Vec<u8>,
        entropy: &Entropy,
    ) -> Result<Prepared, SegmentError> {
        let described = describe_segment(&self.layout, &plain)?;
        let Some(recipient) = &self.sealing else {
            return Ok(Prepared {
                key: described.key.clone(),
                bytes: plain,
                result: StepResult::Segment {
                    segment: described,
                    sealed: None,
                },
            });
        };
        let bytes = seal::seal(recipient, &plain, entropy);
        let blake3 = Hash::of(&bytes);
        let segment = SegmentRef {
            key: self
                .layout
                .segment_key(described.first_seq, described.last_seq, &blake3),
            size: bytes.len() as u64,
            blake3,
            ..described
        };
        Ok(Prepared {
            key: segment.key.clone(),
            bytes,
            result: StepResult::Segment {
                segment,
                sealed: Some(SealedObject {
                    recipient: recipient.to_string(),
                    plain: described.blake3,
                }),
            },
        })
    }

    /// Packs `contents` ([`pack::encode`]; the caller vouches for their hashes) and makes the
    /// pack ready to put, sealed when the run seals. `entropy` is used only when sealing.
    pub fn prepare_pack(&self, contents: &[(Hash, &[u8])], entropy: &Entropy) -> Prepared {
        let packed = pack::encode(contents);
        let (bytes, sealed) = match &self.sealing {
            None => (packed.bytes, None),
            Some(recipient) => (
                seal::seal(recipient, &packed.bytes, entropy),
                Some(SealedObject {
                    recipient: recipient.to_string(),
                    plain: packed.digest,
                }),
            ),
        };
        let blake3 = Hash::of(&bytes);
        let pack = PackRef {
            key: self.layout.pack_key(&blake3),
            size: bytes.len() as u64,
            blake3,
            contents: packed.blobs.len() as u64,
        };
        Prepared {
            key: pack.key.clone(),
            bytes,
            result: StepResult::Pack {
                pack,
                contents: packed.blobs,
                sealed,
            },
        }
    }

    /// The layout of the user's backup.
    pub fn layout(&self) -> &UserLayout {
        &self.layout
    }
}

/// Describes segment bytes as a backup object of `layout`: key, size, digest, range and event
/// times. The bytes are decoded and their hash chain checked.
pub fn describe_segment(layout: &UserLayout, bytes: &[u8]) -> Result<SegmentRef, SegmentError> {
    let decoded = segment::decode(bytes)?;
    let (Some(first), Some(last)) = (decoded.events.first(), decoded.events.last()) else {
        return Err(SegmentError::Empty);
    };
    let time = |bytes: &[u8]| Envelope::decode(bytes).map(|e| e.time.0);
    // The chain check above decoded every envelope already.
    let first_ms = time(&first.bytes).unwrap_or(0);
    let last_ms = time(&last.bytes).unwrap_or(0);
    let blake3 = Hash::of(bytes);
    Ok(SegmentRef {
        key: layout.segment_key(first.seq, last.seq, &blake3),
        size: bytes.len() as u64,
        blake3,
        first_seq: first.seq,
        last_seq: last.seq,
        events: TimeRange { first_ms, last_ms },
    })
}
