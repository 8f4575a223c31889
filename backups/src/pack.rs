//! Packs: note contents stored together, so a backup of many small notes is a few large
//! objects rather than one request per note.
//!
//! Byte layout (frozen; `docs/backup-format.md`): a CBOR array
//! `[format_version, [[blake3, content], ...]]` where `blake3` is a 32-byte string and
//! `content` a byte string, in ascending hash order without repeats. A pack's name is the
//! blake3 of these bytes. Reading checks every content against its hash.

use engine::Hash;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The pack format this code writes and reads.
pub const PACK_FORMAT_VERSION: u32 = 1;

/// How many bytes of content one pack holds at most before another is started (a single
/// larger note gets a pack of its own).
pub const PACK_TARGET_BYTES: u64 = 4 * 1024 * 1024;

/// An encoded pack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedPack {
    /// blake3 of `bytes`: the pack's name.
    pub digest: Hash,
    /// The hashes of the contents it holds, ascending.
    pub blobs: Vec<Hash>,
    /// The encoded pack.
    pub bytes: Vec<u8>,
}

/// Why pack bytes could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum PackError {
    /// The bytes are not a pack.
    #[error("not a pack: {0}")]
    Cbor(String),
    /// A pack of a format this code does not know.
    #[error("pack format version {0} is not supported (this build reads version 1)")]
    UnsupportedVersion(u32),
    /// A content does not hash to the hash it is filed under.
    #[error("the content filed under {expected} hashes to {actual}")]
    Corrupt {
        /// The hash it is filed under.
        expected: Hash,
        /// What its bytes hash to.
        actual: Hash,
    },
    /// Contents are not in ascending hash order, or one repeats.
    #[error("contents are out of order at {0}")]
    Order(Hash),
}

#[derive(Serialize)]
struct WireOut<'a>(u32, Vec<(Hash, &'a serde_bytes::Bytes)>);

#[derive(Deserialize)]
struct WireIn(u32, Vec<(Hash, serde_bytes::ByteBuf)>);

/// Packs `contents` (hash and bytes; any order, repeats dropped). The caller vouches that each
/// content hashes to its hash (the engine hashed it, or it was read back and checked).
pub fn encode(contents: &[(Hash, &[u8])]) -> EncodedPack {
    let mut sorted: Vec<(Hash, &[u8])> = contents.to_vec();
    sorted.sort_by_key(|(hash, _)| *hash);
    sorted.dedup_by_key(|(hash, _)| *hash);
    let wire = WireOut(
        PACK_FORMAT_VERSION,
        sorted
            .iter()
            .map(|(hash, bytes)| (*hash, serde_bytes::Bytes::new(bytes)))
            .collect(),
    );
    let mut bytes = Vec::new();
    // Writing to a Vec does not fail.
    let _ = ciborium::into_writer(&wire, &mut bytes);
    EncodedPack {
        digest: Hash::of(&bytes),
        blobs: sorted.iter().map(|(hash, _)| *hash).collect(),
        bytes,
    }
}

/// Reads a pack, checking every content against its hash: `(hash, content)` in hash order.
pub fn decode(bytes: &[u8]) -> Result<Vec<(Hash, Vec<u8>)>, PackError> {
    let WireIn(version, contents) =
        ciborium::from_reader(bytes).map_err(|e| PackError::Cbor(e.to_string()))?;
    if version != PACK_FORMAT_VERSION {
        return Err(PackError::UnsupportedVersion(version));
    }
    let mut previous: Option<Hash> = None;
    let mut out = Vec::with_capacity(contents.len());
    for (expected, content) in contents {
        if previous.is_some_and(|p| p >= expected) {
            return Err(PackError::Order(expected));
        }
        previous = Some(expected);
        let actual = Hash::of(&content);
        if actual != expected {
            return Err(PackError::Corrupt { expected, actual });
        }
        out.push((expected, content.into_vec()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blob(text: &str) -> (Hash, Vec<u8>) {
        (Hash::of(text.as_bytes()), text.as_bytes().to_vec())
    }

    #[test]
    fn a_pack_round_trips_in_hash_order_without_repeats() {
        let (a, b) = (blob("alpha"), blob("beta"));
        let pack = encode(&[(b.0, &b.1), (a.0, &a.1), (b.0, &b.1)]);
        assert_eq!(pack.digest, Hash::of(&pack.bytes));
        let mut expected = vec![a.clone(), b.clone()];
        expected.sort();
        assert_eq!(pack.blobs, vec![expected[0].0, expected[1].0]);
        assert_eq!(decode(&pack.bytes).unwrap(), expected);
        // The same contents always make the same pack.
        assert_eq!(encode(&[(a.0, &a.1), (b.0, &b.1)]), pack);
    }

    /// The frozen bytes of a version 1 pack (`GOLDEN_WRITE=1` writes a missing file).
    #[test]
    fn version_1_bytes_are_frozen() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/pack-v1.pack");
        let (a, b) = (blob("# Plan\n\nWater the tomatoes.\n"), blob("second note"));
        let pack = encode(&[(a.0, &a.1), (b.0, &b.1)]);
        if std::env::var_os("GOLDEN_WRITE").is_some() && !path.exists() {
            std::fs::write(&path, &pack.bytes).unwrap();
        }
        let golden =
            std::fs::read(&path).expect("tests/golden/pack-v1.pack (GOLDEN_WRITE=1 creates it)");
        assert_eq!(
            pack.bytes, golden,
            "the encoder changed the version 1 bytes"
        );
        assert_eq!(decode(&golden).unwrap().len(), 2);
    }

    #[test]
    fn damaged_packs_are_refused_with_the_reason() {
        let a = blob("alpha");
        let pack = encode(&[(a.0, &a.1)]);
        let mut bytes = pack.bytes.clone();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        assert!(matches!(
            decode(&bytes),
            Err(PackError::Corrupt { expected, .. }) if expected == a.0
        ));
        assert!(matches!(decode(b"\x01"), Err(PackError::Cbor(_))));
        assert!(matches!(
            decode(&pack.bytes[..pack.bytes.len() - 2]),
            Err(PackError::Cbor(_))
        ));
        let mut v2 = Vec::new();
        ciborium::into_writer(&WireOut(2, Vec::new()), &mut v2).unwrap();
        assert_eq!(decode(&v2), Err(PackError::UnsupportedVersion(2)));
        let b = blob("beta");
        let mut swapped = Vec::new();
        let (lo, hi) = if a.0 < b.0 { (&a, &b) } else { (&b, &a) };
        let wire = WireOut(
            1,
            vec![
                (hi.0, serde_bytes::Bytes::new(&hi.1)),
                (lo.0, serde_bytes::Bytes::new(&lo.1)),
            ],
        );
        ciborium::into_writer(&wire, &mut swapped).unwrap();
        assert_eq!(decode(&swapped), Err(PackError::Order(lo.0)));
    }
}
