//! Note contents in R2, content-addressed by blake3.
//!
//! A blob's key is `blobs/<blake3 hex>`; its bytes never change once written, so a put of
//! bytes already stored is harmless, and every get verifies the hash before anything is
//! returned. A put happens before the event that references it is appended, so a crash
//! leaves at most an unreferenced blob, never an event pointing at a missing one.
//!
//! [`BlobCache`] keeps recently read and written contents in the object's memory, so reading a
//! note again (or showing it as a search hit) needs no R2 round trip. Content addressing makes
//! that safe: the bytes under a hash never change, and only verified bytes (read back and
//! checked, or hashed by the engine before the put) enter the cache.

use std::collections::{BTreeMap, HashMap};

use engine::Hash;
use thiserror::Error;
use worker::Bucket;

/// A bounded cache of blob contents, least recently used out first.
#[derive(Debug)]
pub(crate) struct BlobCache {
    /// Most bytes held.
    capacity: usize,
    /// Larger blobs are never held.
    max_entry: usize,
    /// Bytes held now.
    used: usize,
    /// Advances on every use; orders entries by recency.
    clock: u64,
    entries: HashMap<Hash, (Vec<u8>, u64)>,
    /// Last use -> hash, oldest first.
    by_use: BTreeMap<u64, Hash>,
}

impl BlobCache {
    /// What the object keeps: 16 MiB of notes of at most 1 MiB each (a note is at most
    /// 10 MB; large ones are rare and would push many small ones out).
    pub(crate) fn for_object() -> Self {
        Self::new(16 * 1024 * 1024, 1024 * 1024)
    }

    /// A cache of at most `capacity` bytes that holds blobs of at most `max_entry` bytes.
    pub(crate) fn new(capacity: usize, max_entry: usize) -> Self {
        BlobCache {
            capacity,
            max_entry: max_entry.min(capacity),
            used: 0,
            clock: 0,
            entries: HashMap::new(),
            by_use: BTreeMap::new(),
        }
    }

    /// A copy of the blob's bytes, if held; marks it used.
    pub(crate) fn get(&mut self, hash: &Hash) -> Option<Vec<u8>> {
        self.touch(hash).then(|| self.entries[hash].0.clone())
    }

    /// Marks the blob used; whether it is held.
    fn touch(&mut self, hash: &Hash) -> bool {
        self.clock += 1;
        let Some((_, used)) = self.entries.get_mut(hash) else {
            return false;
        };
        self.by_use.remove(used);
        *used = self.clock;
        self.by_use.insert(self.clock, *hash);
        true
    }

    /// Holds `bytes`, which must be the blob `hash` names, pushing out the least recently
    /// used blobs to make room. Blobs over the entry limit are not held.
    pub(crate) fn insert(&mut self, hash: Hash, bytes: &[u8]) {
        if bytes.len() > self.max_entry || self.touch(&hash) {
            return;
        }
        while self.used + bytes.len() > self.capacity {
            let Some((_, oldest)) = self.by_use.pop_first() else {
                break;
            };
            if let Some((evicted, _)) = self.entries.remove(&oldest) {
                self.used -= evicted.len();
            }
        }
        self.clock += 1;
        self.used += bytes.len();
        self.by_use.insert(self.clock, hash);
        self.entries.insert(hash, (bytes.to_vec(), self.clock));
    }

    /// Bytes held now.
    #[cfg(test)]
    fn used(&self) -> usize {
        self.used
    }
}

/// The R2 key of the blob with this hash (`blobs/<hex>`, the archive's layout).
pub(crate) fn key(hash: &Hash) -> String {
    backups::archive::blob_key(hash)
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

/// Reads the blob with `hash` from `cache`, else from R2 (verified), keeping it in `cache`
/// when `keep` (scans over many notes pass false, so they do not push out what is in use).
pub(crate) async fn get_cached(
    bucket: &Bucket,
    cache: &std::cell::RefCell<BlobCache>,
    hash: Hash,
    keep: bool,
) -> Result<Vec<u8>, GetBlobError> {
    if let Some(bytes) = cache.borrow_mut().get(&hash) {
        return Ok(bytes);
    }
    let bytes = get(bucket, hash).await?;
    if keep {
        cache.borrow_mut().insert(hash, &bytes);
    }
    Ok(bytes)
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

    fn blob(byte: u8, len: usize) -> (Hash, Vec<u8>) {
        let bytes = vec![byte; len];
        (Hash::of(&bytes), bytes)
    }

    #[test]
    fn the_cache_returns_what_it_holds_and_drops_the_least_recently_used() {
        let mut cache = BlobCache::new(100, 60);
        let (a, a_bytes) = blob(1, 40);
        let (b, b_bytes) = blob(2, 40);
        let (c, c_bytes) = blob(3, 40);
        cache.insert(a, &a_bytes);
        cache.insert(b, &b_bytes);
        assert_eq!(cache.get(&a), Some(a_bytes.clone()));
        // a was used after b, so c pushes b out.
        cache.insert(c, &c_bytes);
        assert_eq!(cache.get(&b), None);
        assert_eq!(cache.get(&a), Some(a_bytes));
        assert_eq!(cache.get(&c), Some(c_bytes));
        assert_eq!(cache.used(), 80);
    }

    #[test]
    fn the_cache_never_exceeds_its_capacity_or_holds_large_blobs() {
        let mut cache = BlobCache::new(100, 60);
        let (big, big_bytes) = blob(9, 61);
        cache.insert(big, &big_bytes);
        assert_eq!((cache.get(&big), cache.used()), (None, 0));
        for i in 0..50u8 {
            let (hash, bytes) = blob(i, 7 + usize::from(i % 50));
            cache.insert(hash, &bytes);
            assert!(cache.used() <= 100, "{}", cache.used());
            assert_eq!(cache.get(&hash), Some(bytes), "the newest blob is held");
        }
        // Inserting what is held changes nothing.
        let (hash, bytes) = blob(49, 7 + 49);
        let before = cache.used();
        cache.insert(hash, &bytes);
        assert_eq!(cache.used(), before);
    }

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
