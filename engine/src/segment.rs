//! Segments: runs of consecutive events archived together (to R2, then to backups), and
//! verification of a hash chain.
//!
//! Byte layout (described in `docs/log-format.md`): a CBOR array
//! `[format_version, first_seq, last_seq, prev_hash, [[seq, hash, envelope_bytes], ...]]`.
//! A segment carries the chain hash before its first event, so it can be verified alone and
//! joined to its neighbours: segment `k + 1`'s `prev_hash` is segment `k`'s last hash.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::envelope::{ChainHead, DecodeError, Envelope, StoredEvent, chain_hash};
use crate::ids::Hash;

/// The segment format this code writes.
pub const SEGMENT_FORMAT_VERSION: u32 = 1;

/// An encoded segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// Its first event's seq.
    pub first_seq: u64,
    /// Its last event's seq.
    pub last_seq: u64,
    /// The chain hash at `last_seq`.
    pub last_hash: Hash,
    /// blake3 of `bytes`.
    pub digest: Hash,
    /// The encoded segment.
    pub bytes: Vec<u8>,
}

/// Where a chain breaks: the first bad seq and why.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("the log breaks at seq {seq}: {reason}")]
pub struct VerifyError {
    /// The first seq that fails.
    pub seq: u64,
    /// What is wrong there.
    pub reason: BreakReason,
}

/// What is wrong at the seq where a chain breaks.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum BreakReason {
    /// An event is missing: the seq that was found instead.
    #[error("expected this seq but found seq {found}")]
    Gap {
        /// The seq found.
        found: u64,
    },
    /// The stored hash is not blake3(previous hash || bytes).
    #[error("its hash does not match blake3(previous hash || envelope)")]
    HashMismatch,
    /// The envelope cannot be decoded.
    #[error("{0}")]
    Decode(DecodeError),
    /// The envelope's own seq differs from where it is stored.
    #[error("its envelope says seq {inner}")]
    SeqMismatch {
        /// The seq inside the envelope.
        inner: u64,
    },
}

/// Checks that `events` continue the chain at `prev` without a gap and with correct hashes;
/// returns the new head.
pub fn verify_chain(prev: ChainHead, events: &[StoredEvent]) -> Result<ChainHead, VerifyError> {
    let mut head = prev;
    for event in events {
        let seq = head.seq + 1;
        let fail = |reason| Err(VerifyError { seq, reason });
        if event.seq != seq {
            return fail(BreakReason::Gap { found: event.seq });
        }
        if chain_hash(&head.hash, &event.bytes) != event.hash {
            return fail(BreakReason::HashMismatch);
        }
        match Envelope::decode(&event.bytes) {
            Err(e) => return fail(BreakReason::Decode(e)),
            Ok(env) if env.seq != seq => return fail(BreakReason::SeqMismatch { inner: env.seq }),
            Ok(_) => {}
        }
        head = ChainHead {
            seq,
            hash: event.hash,
        };
    }
    Ok(head)
}

/// Why segment bytes could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SegmentError {
    /// Not a CBOR segment, or truncated.
    #[error("not a valid segment: {0}")]
    Cbor(String),
    /// Written by a newer or unknown format.
    #[error("segment format version {0} is not supported (this build reads 1)")]
    UnsupportedVersion(u32),
    /// Its header disagrees with its events.
    #[error("segment header says {first}..={last} but it holds {held} events")]
    Header {
        /// First seq in the header.
        first: u64,
        /// Last seq in the header.
        last: u64,
        /// Events held.
        held: usize,
    },
    /// Its events do not form a chain.
    #[error(transparent)]
    Chain(#[from] VerifyError),
    /// No events to encode.
    #[error("a segment holds at least one event")]
    Empty,
}

#[derive(Serialize)]
struct WireOut<'a>(u32, u64, u64, Hash, Vec<EventOut<'a>>);

#[derive(Serialize)]
struct EventOut<'a>(u64, Hash, #[serde(with = "serde_bytes")] &'a [u8]);

#[derive(Deserialize)]
struct WireIn(u32, u64, u64, Hash, Vec<EventIn>);

/// `[seq, hash, envelope]`, read strictly: an array header claiming more than three items is
/// an error (serde's derived tuple reading would skip the check).
struct EventIn(u64, Hash, Vec<u8>);

impl<'de> Deserialize<'de> for EventIn {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = EventIn;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an array [seq, hash, envelope bytes]")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut a: A,
            ) -> Result<EventIn, A::Error> {
                use serde::de::Error;
                let missing = || A::Error::invalid_length(0, &self);
                let seq = a.next_element()?.ok_or_else(missing)?;
                let hash = a.next_element()?.ok_or_else(missing)?;
                let bytes: serde_bytes::ByteBuf = a.next_element()?.ok_or_else(missing)?;
                if a.next_element::<serde::de::IgnoredAny>()?.is_some() {
                    return Err(A::Error::invalid_length(4, &self));
                }
                Ok(EventIn(seq, hash, bytes.into_vec()))
            }
        }
        d.deserialize_tuple(3, Visitor)
    }
}

/// Encodes `events`, which follow the chain head `prev`, after verifying them.
pub fn encode(prev: ChainHead, events: &[StoredEvent]) -> Result<Segment, SegmentError> {
    let (Some(first), Some(last)) = (events.first(), events.last()) else {
        return Err(SegmentError::Empty);
    };
    verify_chain(prev, events)?;
    let wire = WireOut(
        SEGMENT_FORMAT_VERSION,
        first.seq,
        last.seq,
        prev.hash,
        events
            .iter()
            .map(|e| EventOut(e.seq, e.hash, &e.bytes))
            .collect(),
    );
    let mut bytes = Vec::new();
    // Writing to a Vec does not fail.
    let _ = ciborium::into_writer(&wire, &mut bytes);
    Ok(Segment {
        first_seq: first.seq,
        last_seq: last.seq,
        last_hash: last.hash,
        digest: Hash::of(&bytes),
        bytes,
    })
}

/// A decoded segment: the chain head before it and its events, verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedSegment {
    /// The chain head just before the first event.
    pub prev: ChainHead,
    /// The events.
    pub events: Vec<StoredEvent>,
}

/// Decodes and verifies segment bytes.
pub fn decode(bytes: &[u8]) -> Result<DecodedSegment, SegmentError> {
    let WireIn(version, first, last, prev_hash, events) =
        crate::cbor::from_slice_exact(bytes, 5).map_err(SegmentError::Cbor)?;
    if version != SEGMENT_FORMAT_VERSION {
        return Err(SegmentError::UnsupportedVersion(version));
    }
    let held = events.len();
    if first == 0 || last < first || (last - first + 1) != held as u64 {
        return Err(SegmentError::Header { first, last, held });
    }
    let events: Vec<StoredEvent> = events
        .into_iter()
        .map(|EventIn(seq, hash, bytes)| StoredEvent { seq, hash, bytes })
        .collect();
    let prev = ChainHead {
        seq: first - 1,
        hash: prev_hash,
    };
    verify_chain(prev, &events)?;
    Ok(DecodedSegment { prev, events })
}
