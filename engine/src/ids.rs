//! The small value types every other module speaks in: times, hashes and identifiers.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A point in time, in milliseconds since the Unix epoch. The engine never reads a clock:
/// every operation that needs the time takes one of these from its caller.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// The time `ms` milliseconds after this one, saturating at the end of time.
    pub fn plus_ms(self, ms: u64) -> Timestamp {
        Timestamp(self.0.saturating_add(ms))
    }

    /// Milliseconds from `earlier` to this time, or 0 if `earlier` is later.
    pub fn since(self, earlier: Timestamp) -> u64 {
        self.0.saturating_sub(earlier.0)
    }
}

/// A blake3 digest: of a note's bytes (its content address), of a snapshot, or a chain head.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    /// The hash before the first event: 32 zero bytes.
    pub const ZERO: Hash = Hash([0; 32]);

    /// The blake3 hash of `bytes`.
    pub fn of(bytes: &[u8]) -> Hash {
        Hash(*blake3::hash(bytes).as_bytes())
    }

    /// Lowercase hex, 64 characters: the form used in R2 keys and on the wire.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses 64 hex characters.
    pub fn from_hex(text: &str) -> Result<Hash, ParseHashError> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(text, &mut out).map_err(|_| ParseHashError)?;
        Ok(Hash(out))
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({})", &self.to_hex()[..16])
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl Serialize for Hash {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for Hash {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_bytes(FixedBytes::<32>).map(Hash)
    }
}

/// Text that is not 64 hex characters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a hash is 64 hexadecimal characters")]
pub struct ParseHashError;

/// The idempotency key of an event: appending two events with the same id stores the first
/// and answers the second with the first one's result.
///
/// Callers derive it from whatever identifies a retry of the same operation (for MCP, the
/// session and JSON-RPC request id) with [`EventId::derive`], or draw 16 random bytes.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct EventId(pub [u8; 16]);

impl EventId {
    /// An id derived from `key`: the first 16 bytes of its blake3 hash.
    pub fn derive(key: &[u8]) -> EventId {
        let hash = blake3::hash(key);
        let mut id = [0u8; 16];
        id.copy_from_slice(&hash.as_bytes()[..16]);
        EventId(id)
    }
}

impl fmt::Debug for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EventId({})", hex::encode(self.0))
    }
}

impl Serialize for EventId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for EventId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_bytes(FixedBytes::<16>)
            .map(EventId)
    }
}

/// Reads a CBOR byte string of exactly `N` bytes.
struct FixedBytes<const N: usize>;

impl<'de, const N: usize> serde::de::Visitor<'de> for FixedBytes<N> {
    type Value = [u8; N];

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a byte string of {N} bytes")
    }

    fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Self::Value, E> {
        v.try_into().map_err(|_| E::invalid_length(v.len(), &self))
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = [0u8; N];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = seq
                .next_element()?
                .ok_or_else(|| serde::de::Error::invalid_length(i, &self))?;
        }
        if seq.next_element::<u8>()?.is_some() {
            return Err(serde::de::Error::invalid_length(N + 1, &self));
        }
        Ok(out)
    }
}

/// An MCP session id, as issued to a client in `MCP-Session-Id`: 1 to 128 visible ASCII
/// characters. The Worker draws it at random; the engine only checks its shape.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SessionId(String);

impl SessionId {
    /// The longest session id accepted, in bytes.
    pub const MAX_LEN: usize = 128;

    /// Checks the shape: 1 to 128 characters from `!` to `~`.
    pub fn new(id: impl Into<String>) -> Result<SessionId, InvalidSessionId> {
        let id = id.into();
        let ok = !id.is_empty()
            && id.len() <= Self::MAX_LEN
            && id.bytes().all(|b| (0x21..=0x7e).contains(&b));
        if ok {
            Ok(SessionId(id))
        } else {
            Err(InvalidSessionId)
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A session id that is empty, too long, or holds characters outside `!`..=`~`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a session id is 1 to 128 visible ASCII characters")]
pub struct InvalidSessionId;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_hex_round_trips_and_rejects_bad_text() {
        let h = Hash::of(b"note");
        assert_eq!(Hash::from_hex(&h.to_hex()), Ok(h));
        assert_eq!(Hash::from_hex("abc"), Err(ParseHashError));
        assert_eq!(Hash::from_hex(&"g".repeat(64)), Err(ParseHashError));
    }

    #[test]
    fn event_ids_are_derived_deterministically() {
        assert_eq!(EventId::derive(b"a"), EventId::derive(b"a"));
        assert_ne!(EventId::derive(b"a"), EventId::derive(b"b"));
    }

    #[test]
    fn session_ids_are_visible_ascii() {
        assert!(SessionId::new("abc-123").is_ok());
        assert!(SessionId::new("").is_err());
        assert!(SessionId::new("a b").is_err());
        assert!(SessionId::new("é").is_err());
        assert!(SessionId::new("x".repeat(129)).is_err());
    }

    #[test]
    fn timestamps_saturate() {
        assert_eq!(Timestamp(u64::MAX).plus_ms(5), Timestamp(u64::MAX));
        assert_eq!(Timestamp(3).since(Timestamp(5)), 0);
    }
}
