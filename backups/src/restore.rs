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

use std::collections::BTreeMap;

use engine::envelope::{ChainHead, Envelope, StoredEvent};
use engine::segment::{self, SegmentError};
use engine::storage::Storage;
use engine::store::RebuildError;
use engine::{Config, Hash, Store};
use thiserror::Error;

use crate::manifest::{Manifest, PackRef, SegmentRef};
use crate::pack::{self, PackError};

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
    /// The replayed notes differ from the manifest's digest.
    #[error("the restored notes hash to {actual}, the manifest says {expected}")]
    StateMismatch {
        /// The manifest's digest.
        expected: Hash,
        /// The restored notes' digest.
        actual: Hash,
    },
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
    /// Every content in the fetched packs, by hash.
    pub contents: BTreeMap<Hash, Vec<u8>>,
}

/// Checks the fetched objects (`key -> bytes`) of `plan` against `manifest` and returns the
/// events up to the target and the contents.
pub fn assemble(
    manifest: &Manifest,
    plan: &RestorePlan,
    fetched: &BTreeMap<String, Vec<u8>>,
) -> Result<Assembled, RestoreError> {
    let mut events: Vec<StoredEvent> = Vec::new();
    let mut head = ChainHead::default();
    'segments: for listed in &plan.segments {
        let bytes = object(fetched, &listed.key, listed.size, &listed.blake3)?;
        let decoded = segment::decode(bytes).map_err(|source| RestoreError::Segment {
            key: listed.key.clone(),
            source,
        })?;
        let last = decoded.events.last().map(|e| e.seq);
        if decoded.prev != head || last != Some(listed.last_seq) {
            return Err(RestoreError::Discontinuous {
                key: listed.key.clone(),
                at: head.seq,
            });
        }
        for event in decoded.events {
            let stop = match plan.target {
                Target::Head => false,
                Target::Seq(seq) => event.seq > seq,
                Target::Time(ms) => {
                    let time = Envelope::decode(&event.bytes).map(|e| e.time.0);
                    time.is_ok_and(|t| t > ms)
                }
            };
            if stop {
                break 'segments;
            }
            head = ChainHead {
                seq: event.seq,
                hash: event.hash,
            };
            events.push(event);
        }
    }
    let expected = match plan.target {
        Target::Head => Some(manifest.head),
        Target::Seq(seq) if seq == manifest.head.seq => Some(manifest.head),
        _ => None,
    };
    if let Some(expected) = expected
        && head != expected
    {
        return Err(RestoreError::HeadMismatch {
            expected,
            actual: head,
        });
    }
    let mut contents = BTreeMap::new();
    for listed in &plan.packs {
        let bytes = object(fetched, &listed.key, listed.size, &listed.blake3)?;
        let unpacked = pack::decode(bytes).map_err(|source| RestoreError::Pack {
            key: listed.key.clone(),
            source,
        })?;
        contents.extend(unpacked);
    }
    Ok(Assembled {
        events,
        head,
        contents,
    })
}

/// The bytes of `key`, checked against the manifest's size and hash.
fn object<'a>(
    fetched: &'a BTreeMap<String, Vec<u8>>,
    key: &str,
    size: u64,
    blake3: &Hash,
) -> Result<&'a [u8], RestoreError> {
    let Some(bytes) = fetched.get(key) else {
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
    for (path, versions) in store.history().iter() {
        for version in versions {
            if let Some(content) = &version.content
                && !assembled.contents.contains_key(&content.hash)
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
        let actual = store.files().digest();
        if actual != manifest.state_digest {
            return Err(RestoreError::StateMismatch {
                expected: manifest.state_digest,
                actual,
            });
        }
    }
    Ok(store)
}
