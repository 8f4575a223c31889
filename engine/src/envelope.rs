//! The envelope every event is stored in, its CBOR bytes, and the hash chain over them.
//!
//! Byte layout (frozen; `docs/log-format.md` is the full description and `tests/golden/` holds
//! bytes that every future reader must accept): a CBOR array of five items
//! `[format_version, seq, event_id, time_ms, {kind: payload}]`. The chain hash of event `n` is
//! `blake3(hash(n-1) || envelope bytes(n))`, with 32 zero bytes before the first event.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::event::Event;
use crate::ids::{EventId, Hash, Timestamp};

/// The envelope format this code writes.
pub const FORMAT_VERSION: u32 = 1;
/// The oldest envelope format this code reads.
pub const OLDEST_FORMAT_VERSION: u32 = 1;

/// An event with its place in the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The format version the envelope was written in.
    pub format_version: u32,
    /// The event's position: contiguous, from 1.
    pub seq: u64,
    /// The idempotency key.
    pub id: EventId,
    /// When the event was appended (the caller's clock).
    pub time: Timestamp,
    /// What happened.
    pub event: Event,
}

/// The wire form: a CBOR array, borrowed for encoding.
#[derive(Serialize)]
struct WireOut<'a>(u32, u64, EventId, Timestamp, &'a Event);

/// The wire form, owned for decoding.
#[derive(Deserialize)]
struct WireIn(u32, u64, EventId, Timestamp, Event);

impl Envelope {
    /// The envelope of a new event in today's format.
    pub fn new(seq: u64, id: EventId, time: Timestamp, event: Event) -> Envelope {
        Envelope {
            format_version: FORMAT_VERSION,
            seq,
            id,
            time,
            event,
        }
    }

    /// The envelope's CBOR bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(160);
        let wire = WireOut(
            self.format_version,
            self.seq,
            self.id,
            self.time,
            &self.event,
        );
        // Writing to a Vec cannot fail, and every type here serializes infallibly.
        if ciborium::into_writer(&wire, &mut out).is_err() {
            out.clear();
        }
        out
    }

    /// Decodes envelope bytes of any format version this code reads.
    pub fn decode(bytes: &[u8]) -> Result<Envelope, DecodeError> {
        let WireIn(format_version, seq, id, time, event) =
            crate::cbor::from_slice_exact(bytes, 5).map_err(DecodeError::Cbor)?;
        if !(OLDEST_FORMAT_VERSION..=FORMAT_VERSION).contains(&format_version) {
            return Err(DecodeError::UnsupportedVersion(format_version));
        }
        if seq == 0 {
            return Err(DecodeError::ZeroSeq);
        }
        Ok(Envelope {
            format_version,
            seq,
            id,
            time,
            event,
        })
    }
}

/// Why envelope bytes could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Not a CBOR envelope, or truncated, or an unknown event kind.
    #[error("not a valid event envelope: {0}")]
    Cbor(String),
    /// Written by a newer (or unknown) format.
    #[error("envelope format version {0} is not supported (this build reads 1)")]
    UnsupportedVersion(u32),
    /// Sequence numbers start at 1.
    #[error("envelope has seq 0; sequence numbers start at 1")]
    ZeroSeq,
}

/// The chain hash after an event: `blake3(prev || envelope_bytes)`.
pub fn chain_hash(prev: &Hash, envelope_bytes: &[u8]) -> Hash {
    let mut hasher = blake3::Hasher::new();
    hasher.update(&prev.0);
    hasher.update(envelope_bytes);
    Hash(*hasher.finalize().as_bytes())
}

/// An event as storage keeps it: its seq, its chain hash and its envelope bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    /// The event's seq (also inside `bytes`; kept apart so storage can index it).
    pub seq: u64,
    /// The chain hash after this event.
    pub hash: Hash,
    /// The envelope's CBOR bytes.
    pub bytes: Vec<u8>,
}

/// The end of a chain: the last seq and its hash. `seq` 0 with [`Hash::ZERO`] is the empty log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ChainHead {
    /// The last event's seq, or 0.
    pub seq: u64,
    /// The chain hash after it.
    pub hash: Hash,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{NoteDeleted, SessionRef};
    use crate::ids::SessionId;
    use crate::path::NotePath;

    fn sample() -> Envelope {
        Envelope::new(
            7,
            EventId::derive(b"x"),
            Timestamp(1_700_000_000_000),
            Event::NoteDeleted(NoteDeleted {
                path: NotePath::new("a/b.md").unwrap(),
                version: 3,
            }),
        )
    }

    #[test]
    fn encodes_and_decodes() {
        let env = sample();
        let bytes = env.encode();
        assert_eq!(bytes[0], 0x85, "a CBOR array of five items");
        assert_eq!(Envelope::decode(&bytes), Ok(env));
    }

    #[test]
    fn every_truncation_is_a_typed_error() {
        let bytes = sample().encode();
        for len in 0..bytes.len() {
            assert!(matches!(
                Envelope::decode(&bytes[..len]),
                Err(DecodeError::Cbor(_))
            ));
        }
    }

    #[test]
    fn rejects_future_versions_and_seq_zero() {
        let mut env = sample();
        env.format_version = 2;
        assert_eq!(
            Envelope::decode(&env.encode()),
            Err(DecodeError::UnsupportedVersion(2))
        );
        let mut env = sample();
        env.seq = 0;
        assert_eq!(Envelope::decode(&env.encode()), Err(DecodeError::ZeroSeq));
    }

    #[test]
    fn unknown_kinds_are_errors() {
        let env = Envelope::new(
            1,
            EventId::default(),
            Timestamp(1),
            Event::SessionClosed(SessionRef {
                session: SessionId::new("s").unwrap(),
            }),
        );
        let bytes = env.encode();
        let at = bytes
            .windows(b"session.closed".len())
            .position(|w| w == b"session.closed")
            .unwrap();
        let mut bad = bytes.clone();
        bad[at] = b'X';
        assert!(matches!(Envelope::decode(&bad), Err(DecodeError::Cbor(_))));
    }

    #[test]
    fn chain_depends_on_previous_hash_and_bytes() {
        let a = chain_hash(&Hash::ZERO, b"one");
        assert_ne!(a, chain_hash(&Hash::ZERO, b"two"));
        assert_ne!(a, chain_hash(&a, b"one"));
    }
}
