//! Restoring from a backup: which objects a target needs, and the checked log and contents
//! they hold.
//!
//! [`plan`] chooses the objects for a target (the head, a seq, or a time). The caller fetches
//! them and hands them to [`assemble`], which checks every object against the manifest (size,
//! blake3), every segment's hash chain and its link to the one before, the chain head where
//! the target is the manifest's head, and that every content a version up to the target names
//! is present. [`rebuild`] then replays the log with the engine into any storage and checks the
//! notes' digest against the manifest where the target is its head. Every failure names the
//! object or content at fault.
//!
//! A sealed backup (the manifest names an [`Encryption`]) needs the identity of its recipient:
//! [`check_identities`] says up front whether the given ones fit, and each object is checked
//! as stored (sealed bytes, size and blake3) and then opened. Without the identity,
//! [`check_object`] still checks what is stored.

use std::collections::{BTreeMap, BTreeSet};

use engine::envelope::{ChainHead, Envelope, StoredEvent};
use engine::segment::{self, SegmentError};
use engine::storage::Storage;
use engine::store::RebuildError;
use engine::{Config, Hash, Store};
use thiserror::Error;

use crate::manifest::{Encryption, Manifest, PackRef, SegmentRef};
use crate::pack::{self, PackError};
use crate::seal::{self, Identity, OpenError, Recipient};

/// What to restore to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The manifest's head.
    Head,
    /// The state right after this seq.
    Seq(u64),
    /// The state at this time (unix milliseconds): every event up to the first one later.
    Time(u64),
}

/// The objects a restore reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestorePlan {
    /// The target.
    pub target: Target,
    /// Segments, in log order.
    pub segments: Vec<SegmentRef>,
    /// Packs (every pack: which holds what is known only from reading them).
    pub packs: Vec<PackRef>,
}

impl RestorePlan {
    /// Every key to fetch, segments first.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.segments
            .iter()
            .map(|s| s.key.as_str())
            .chain(self.packs.iter().map(|p| p.key.as_str()))
    }

    /// The bytes to fetch.
    pub fn bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.size).sum::<u64>()
            + self.packs.iter().map(|p| p.size).sum::<u64>()
    }
}

/// Why a restore failed. Each names what is at fault.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum RestoreError {
    /// The target seq is past the backup's head.
    #[error("seq {target} is past this backup's head (seq {head})")]
    BeyondHead {
        /// Asked.
        target: u64,
        /// The head.
        head: u64,
    },
    /// The target time is before the backup's first event.
    #[error("nothing was written by {target_ms} (the first event is at {first_ms})")]
    BeforeFirst {
        /// Asked.
        target_ms: u64,
        /// The first event's time.
        first_ms: u64,
    },
    /// An object the manifest names was not fetched (missing from the bucket).
    #[error("object {key} is missing")]
    Missing {
        /// Its key.
        key: String,
    },
    /// An object's bytes differ from what the manifest says.
    #[error(
        "object {key} is altered: expected {expected_size} bytes hashing to {expected}, got {actual_size} bytes hashing to {actual}"
    )]
    Altered {
        /// Its key.
        key: String,
        /// The manifest's size.
        expected_size: u64,
        /// The manifest's blake3.
        expected: Hash,
        /// The size fetched.
        actual_size: u64,
        /// What the fetched bytes hash to.
        actual: Hash,
    },
    /// A segment does not decode or its chain does not verify.
    #[error("segment {key} is unreadable: {source}")]
    Segment {
        /// Its key.
        key: String,
        /// Why.
        source: SegmentError,
    },
    /// A segment does not continue the one before it.
    #[error("segment {key} does not continue the log at seq {at}")]
    Discontinuous {
        /// Its key.
        key: String,
        /// The seq it should follow.
        at: u64,
    },
    /// The segments lead to another head than the manifest's.
    #[error("the log leads to {actual:?}, the manifest says {expected:?}")]
    HeadMismatch {
        /// The manifest's head.
        expected: ChainHead,
        /// Where the segments lead.
        actual: ChainHead,
    },
    /// A pack does not decode or a content in it is corrupt.
    #[error("pack {key} is unreadable: {source}")]
    Pack {
        /// Its key.
        key: String,
        /// Why.
        source: PackError,
    },
    /// A version names a content that no pack holds.
    #[error("the content {hash} of {path} version {version} is in no pack")]
    ContentMissing {
        /// The content's hash.
        hash: Hash,
        /// The note.
        path: String,
        /// The version.
        version: u64,
    },
    /// Replaying the log failed.
    #[error("replaying the log failed: {0}")]
    Rebuild(#[from] RebuildError),
    /// The backup is sealed and no identity was given.
    #[error("the backup is sealed to {recipient}: its identity is needed to read it")]
    NeedsIdentity {
        /// The recipient it is sealed to.
        recipient: String,
    },
    /// None of the identities given is the recipient's.
    #[error(
        "the backup is sealed to {recipient}, and no identity given is its identity (given: {given})"
    )]
    WrongIdentity {
        /// The recipient it is sealed to.
        recipient: String,
        /// The recipients of the identities given.
        given: String,
    },
    /// The backup names an encryption this build does not know.
    #[error("the backup is sealed with {scheme:?}, which this build cannot open")]
    UnknownScheme {
        /// The scheme it names.
        scheme: String,
    },
    /// A sealed object does not open.
    #[error("object {key} does not open: {source}")]
    Unsealing {
        /// Its key.
        key: String,
        /// Why.
        source: OpenError,
    },
    /// The replayed notes differ from the manifest's digest.
    #[error("the restored notes hash to {actual}, the manifest says {expected}")]
    StateMismatch {
        /// The manifest's digest.
        expected: Hash,
        /// The restored notes' digest.
        actual: Hash,
    },
}

impl RestoreError {
    /// The object at fault, when one object is: missing, altered, or unreadable. A backup
    /// whose object is at fault can be repaired by uploading that object again.
    pub fn object(&self) -> Option<&str> {
        match self {
            RestoreError::Missing { key }
            | RestoreError::Altered { key, .. }
            | RestoreError::Segment { key, .. }
            | RestoreError::Discontinuous { key, .. }
            | RestoreError::Pack { key, .. } => Some(key),
            _ => None,
        }
    }
}

/// Chooses the objects a restore to `target` reads: the segments up to it, and every pack.
pub fn plan(manifest: &Manifest, target: Target) -> Result<RestorePlan, RestoreError> {
    let segments = match target {
        Target::Head => manifest.segments.clone(),
        Target::Seq(seq) => {
            if seq > manifest.head.seq {
                return Err(RestoreError::BeyondHead {
                    target: seq,
                    head: manifest.head.seq,
                });
            }
            manifest
                .segments
                .iter()
                .filter(|s| s.first_seq <= seq)
                .cloned()
                .collect()
        }
        Target::Time(ms) => {
            if manifest.head.seq > 0 && ms < manifest.events.first_ms {
                return Err(RestoreError::BeforeFirst {
                    target_ms: ms,
                    first_ms: manifest.events.first_ms,
                });
            }
            manifest
                .segments
                .iter()
                .filter(|s| s.events.first_ms <= ms)
                .cloned()
                .collect()
        }
    };
    Ok(RestorePlan {
        target,
        segments,
        packs: manifest.packs.clone(),
    })
}

/// The checked log and contents of a restore.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assembled {
    /// The events up to the target, in order, chain verified.
    pub events: Vec<StoredEvent>,
    /// The head they lead to.
    pub head: ChainHead,
    /// The hashes of every content in the fetched packs.
    pub held: BTreeSet<Hash>,
    /// The contents themselves, by hash (empty when the assembler was told not to keep
    /// them: a drill checks them and lets them go).
    pub contents: BTreeMap<Hash, Vec<u8>>,
}

/// Checks a plan's objects one at a time, in plan order (segments, then packs), keeping the
/// events and, if asked, the contents. Lets a caller fetch and check objects one by one
/// without holding them all.
#[derive(Debug)]
pub struct Assembler<'m> {
    manifest: &'m Manifest,
    identities: &'m [Identity],
    plan: RestorePlan,
    keep_contents: bool,
    /// How many objects of the plan were fed.
    fed: usize,
    /// The target was reached: later events are not kept.
    reached: bool,
    out: Assembled,
}

impl<'m> Assembler<'m> {
    /// Starts checking `plan`'s objects against `manifest`. A sealed manifest needs the
    /// identity of its recipient among `identities` ([`check_identities`]).
    pub fn new(
        manifest: &'m Manifest,
        identities: &'m [Identity],
        plan: RestorePlan,
        keep_contents: bool,
    ) -> Result<Assembler<'m>, RestoreError> {
        check_identities(manifest, identities)?;
        Ok(Assembler {
            manifest,
            identities,
            plan,
            keep_contents,
            fed: 0,
            reached: false,
            out: Assembled {
                events: Vec::new(),
                head: ChainHead::default(),
                held: BTreeSet::new(),
                contents: BTreeMap::new(),
            },
        })
    }

    /// The plaintext of an object checked as stored: opened when the backup is sealed.
    fn plain<'b>(
        &self,
        key: &str,
        stored: &'b [u8],
    ) -> Result<std::borrow::Cow<'b, [u8]>, RestoreError> {
        if self.manifest.encryption.is_none() {
            return Ok(std::borrow::Cow::Borrowed(stored));
        }
        seal::open(stored, self.identities)
            .map(std::borrow::Cow::Owned)
            .map_err(|source| RestoreError::Unsealing {
                key: key.to_owned(),
                source,
            })
    }

    /// The key of the next object to feed, or `None` when every one was fed.
    pub fn next_key(&self) -> Option<&str> {
        self.plan.keys().nth(self.fed)
    }

    /// Feeds the next object's bytes (`None`: the bucket does not have it).
    pub fn feed(&mut self, bytes: Option<&[u8]>) -> Result<(), RestoreError> {
        let segments = self.plan.segments.len();
        if self.fed < segments {
            let listed = self.plan.segments[self.fed].clone();
            self.fed += 1;
            let stored = check_object(bytes, &listed.key, listed.size, &listed.blake3)?;
            let plain = self.plain(&listed.key, stored)?;
            self.segment(&listed, &plain)
        } else if let Some(listed) = self.plan.packs.get(self.fed - segments).cloned() {
            self.fed += 1;
            let stored = check_object(bytes, &listed.key, listed.size, &listed.blake3)?;
            let plain = self.plain(&listed.key, stored)?;
            let unpacked = pack::decode(&plain).map_err(|source| RestoreError::Pack {
                key: listed.key.clone(),
                source,
            })?;
            for (hash, content) in unpacked {
                self.out.held.insert(hash);
                if self.keep_contents {
                    self.out.contents.insert(hash, content);
                }
            }
            Ok(())
        } else {
            Ok(())
        }
    }

    fn segment(&mut self, listed: &SegmentRef, bytes: &[u8]) -> Result<(), RestoreError> {
        let decoded = segment::decode(bytes).map_err(|source| RestoreError::Segment {
            key: listed.key.clone(),
            source,
        })?;
        let last = decoded.events.last().map(|e| e.seq);
        if self.reached {
            return Ok(());
        }
        if decoded.prev != self.out.head || last != Some(listed.last_seq) {
            return Err(RestoreError::Discontinuous {
                key: listed.key.clone(),
                at: self.out.head.seq,
            });
        }
        for event in decoded.events {
            let past = match self.plan.target {
                Target::Head => false,
                Target::Seq(seq) => event.seq > seq,
                Target::Time(ms) => {
                    let time = Envelope::decode(&event.bytes).map(|e| e.time.0);
                    time.is_ok_and(|t| t > ms)
                }
            };
            if past {
                self.reached = true;
                return Ok(());
            }
            self.out.head = ChainHead {
                seq: event.seq,
                hash: event.hash,
            };
            self.out.events.push(event);
        }
        Ok(())
    }

    /// Ends the check: every object must have been fed, and where the target is the
    /// manifest's head, the log must lead to it.
    pub fn finish(self) -> Result<Assembled, RestoreError> {
        if let Some(key) = self.next_key() {
            return Err(RestoreError::Missing {
                key: key.to_owned(),
            });
        }
        let expected = match self.plan.target {
            Target::Head => Some(self.manifest.head),
            Target::Seq(seq) if seq == self.manifest.head.seq => Some(self.manifest.head),
            _ => None,
        };
        if let Some(expected) = expected
            && self.out.head != expected
        {
            return Err(RestoreError::HeadMismatch {
                expected,
                actual: self.out.head,
            });
        }
        Ok(self.out)
    }
}

/// Checks the fetched objects (`key -> bytes`) of `plan` against `manifest` (opening them
/// with `identities` when it is sealed) and returns the events up to the target and the
/// contents.
pub fn assemble(
    manifest: &Manifest,
    identities: &[Identity],
    plan: &RestorePlan,
    fetched: &BTreeMap<String, Vec<u8>>,
) -> Result<Assembled, RestoreError> {
    let mut assembler = Assembler::new(manifest, identities, plan.clone(), true)?;
    while let Some(key) = assembler.next_key() {
        let bytes = fetched.get(key).map(Vec::as_slice);
        assembler.feed(bytes)?;
    }
    assembler.finish()
}

/// Whether `identities` open what `manifest` names: always for a plain backup; for a sealed
/// one, when one of them is the identity of its recipient.
pub fn check_identities(manifest: &Manifest, identities: &[Identity]) -> Result<(), RestoreError> {
    let Some(Encryption { scheme, recipient }) = &manifest.encryption else {
        return Ok(());
    };
    if scheme != seal::SCHEME {
        return Err(RestoreError::UnknownScheme {
            scheme: scheme.clone(),
        });
    }
    if identities.is_empty() {
        return Err(RestoreError::NeedsIdentity {
            recipient: recipient.clone(),
        });
    }
    let given: Vec<Recipient> = identities.iter().map(Identity::recipient).collect();
    if given.iter().any(|r| r.to_string() == *recipient) {
        return Ok(());
    }
    Err(RestoreError::WrongIdentity {
        recipient: recipient.clone(),
        given: given
            .iter()
            .map(Recipient::to_string)
            .collect::<Vec<_>>()
            .join(", "),
    })
}

/// The bytes of `key` as stored (sealed or not), checked against the manifest's size and
/// blake3: `None` is [`RestoreError::Missing`].
pub fn check_object<'a>(
    bytes: Option<&'a [u8]>,
    key: &str,
    size: u64,
    blake3: &Hash,
) -> Result<&'a [u8], RestoreError> {
    let Some(bytes) = bytes else {
        return Err(RestoreError::Missing {
            key: key.to_owned(),
        });
    };
    let actual = Hash::of(bytes);
    if actual != *blake3 || bytes.len() as u64 != size {
        return Err(RestoreError::Altered {
            key: key.to_owned(),
            expected_size: size,
            expected: *blake3,
            actual_size: bytes.len() as u64,
            actual,
        });
    }
    Ok(bytes)
}

/// Replays `assembled` into empty `storage` with the engine, checks that every version up to
/// the head names a content that is present, and, when the target was the manifest's head,
/// that the notes hash to the manifest's digest.
pub fn rebuild<S: Storage>(
    manifest: &Manifest,
    assembled: &Assembled,
    storage: S,
    config: Config,
) -> Result<Store<S>, RestoreError> {
    let segments: Vec<Vec<u8>> = if assembled.events.is_empty() {
        Vec::new()
    } else {
        let encoded =
            segment::encode(ChainHead::default(), &assembled.events).map_err(|source| {
                RestoreError::Segment {
                    key: "(the restored log)".into(),
                    source,
                }
            })?;
        vec![encoded.bytes]
    };
    let slices: Vec<&[u8]> = segments.iter().map(Vec::as_slice).collect();
    let (store, _) = Store::rebuild(storage, None, &slices, config)?;
    let notes = store.notes();
    for item in notes.history_by_path() {
        let (path, versions) = item.map_err(RebuildError::from)?;
        for version in &versions {
            if let Some(content) = &version.content
                && !assembled.held.contains(&content.hash)
            {
                return Err(RestoreError::ContentMissing {
                    hash: content.hash,
                    path: path.as_str().to_owned(),
                    version: version.version,
                });
            }
        }
    }
    if assembled.head == manifest.head {
        let actual = notes.digest().map_err(RebuildError::from)?;
        if actual != manifest.state_digest {
            return Err(RestoreError::StateMismatch {
                expected: manifest.state_digest,
                actual,
            });
        }
    }
    drop(notes);
    Ok(store)
}
