//! Note contents in R2, content-addressed by blake3.
//!
//! A blob's key is `blobs/<blake3 hex>`; its bytes never change once written, so a put of
//! bytes already stored is harmless, and every get verifies the hash before anything is
//! returned. A put happens before the event that references it is appended, so a crash
//! leaves at most an unreferenced blob, never an event pointing at a missing one.

use engine::Hash;
use thiserror::Error;
use worker::Bucket;

/// The R2 key prefix of note contents.
const PREFIX: &str = "blobs/";

/// The R2 key of the blob with this hash.
pub(crate) fn key(hash: &Hash) -> String {
    format!("{PREFIX}{}", hash.to_hex())
}

/// Why a blob could not be read.
#[derive(Debug, Error)]
pub(crate) enum GetBlobError {
    /// No object under the key: the blob was never written or has been deleted.
    #[error("blob {0} is missing from storage")]
    Missing(Hash),
    /// The stored bytes do not hash to the key.
    #[error("blob {expected} is corrupt: its bytes hash to {actual}")]
    Corrupt { expected: Hash, actual: Hash },
    /// R2 failed.
    #[error("reading blob {hash} failed: {message}")]
    Storage { hash: Hash, message: String },
}

/// Why a blob could not be written.
#[derive(Debug, Error)]
#[error("writing blob {hash} failed: {message}")]
pub(crate) struct PutBlobError {
    hash: Hash,
    message: String,
}

/// Stores `bytes` under `hash`, which the caller computed (the engine's write plan).
pub(crate) async fn put(bucket: &Bucket, hash: Hash, bytes: Vec<u8>) -> Result<(), PutBlobError> {
    bucket
        .put(key(&hash), bytes)
        .execute()
        .await
        .map(drop)
        .map_err(|e| PutBlobError {
            hash,
            message: e.to_string(),
        })
}

/// Reads the blob with `hash` and checks that its bytes hash to it.
pub(crate) async fn get(bucket: &Bucket, hash: Hash) -> Result<Vec<u8>, GetBlobError> {
    let storage = |e: worker::Error| GetBlobError::Storage {
        hash,
        message: e.to_string(),
    };
    let object = bucket.get(key(&hash)).execute().await.map_err(storage)?;
    let Some(body) = object.as_ref().and_then(|o| o.body()) else {
        return Err(GetBlobError::Missing(hash));
    };
    let bytes = body.bytes().await.map_err(storage)?;
    verify(hash, bytes)
}

/// Returns `bytes` if they hash to `expected`.
fn verify(expected: Hash, bytes: Vec<u8>) -> Result<Vec<u8>, GetBlobError> {
    let actual = Hash::of(&bytes);
    if actual == expected {
        Ok(bytes)
    } else {
        Err(GetBlobError::Corrupt { expected, actual })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_content_addressed() {
        let hash = Hash::of(b"hello");
        assert_eq!(key(&hash), format!("blobs/{}", hash.to_hex()));
        assert_eq!(key(&hash).len(), "blobs/".len() + 64);
        assert_ne!(key(&hash), key(&Hash::of(b"hello!")));
    }

    #[test]
    fn verify_refuses_bytes_that_do_not_match() {
        let hash = Hash::of(b"note");
        assert_eq!(verify(hash, b"note".to_vec()).unwrap(), b"note");
        match verify(hash, b"tampered".to_vec()) {
            Err(GetBlobError::Corrupt { expected, actual }) => {
                assert_eq!(expected, hash);
                assert_eq!(actual, Hash::of(b"tampered"));
            }
            other => panic!("expected Corrupt, got {other:?}"),
        }
    }
}
