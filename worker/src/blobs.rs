//! Note contents in R2, content-addressed by blake3, under the user's prefix.
//!
//! A content's key is `blobs/<user>/<blake3 hex>` ([`backups::archive::blob_key`]); its bytes
//! never change once written, so a put of bytes already stored is harmless, and every get
//! verifies the hash before anything is returned. A put happens before the event that
//! references it is appended, so a crash leaves at most an unreferenced content, never an
//! event pointing at a missing one; [`BlobStore`] records every put in the object's SQLite
//! (table `blobs`) so that such contents are found and collected ([`backups::blob_gc`]).
//!
//! Contents written before per-user prefixes live under the shared `blobs/<hash>`; reads
//! look there too (first, for a content the table does not know), and those are never
//! deleted.
//!
//! [`BlobCache`] keeps recently read and written contents in the object's memory, so reading a
//! note again (or showing it as a search hit) needs no R2 round trip. Content addressing makes
//! that safe: the bytes under a hash never change, and only verified bytes (read back and
//! checked, or hashed by the engine before the put) enter the cache.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use engine::Hash;
use thiserror::Error;
use worker::{Bucket, SqlStorage};

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

    /// The bytes held now.
    pub(crate) fn used(&self) -> usize {
        self.used
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

/// The object's table of the contents it put: when the latest put started, and whether an
/// event is known to name the content (`confirmed`). A content the table knows is under the
/// user's prefix.
pub(crate) const SCHEMA: [&str; 2] = [
    "CREATE TABLE IF NOT EXISTS blobs (hash TEXT PRIMARY KEY, put_ms INTEGER NOT NULL, \
     confirmed INTEGER NOT NULL)",
    "CREATE INDEX IF NOT EXISTS blobs_unconfirmed ON blobs (confirmed, put_ms)",
];

/// Contents that requests are writing, and that the collector is deleting, right now (the
/// object's memory; see [`backups::blob_gc`] for why both matter).
#[derive(Debug, Default)]
pub(crate) struct BlobGuards {
    /// Content -> writes of it between their put and their append.
    writing: BTreeMap<Hash, u32>,
    /// Contents whose delete is in flight.
    deleting: BTreeSet<Hash>,
}

impl BlobGuards {
    /// Contents no collector may pick now.
    pub(crate) fn busy(&self) -> BTreeSet<Hash> {
        self.writing.keys().chain(&self.deleting).copied().collect()
    }

    /// Marks `hash` as being deleted; `false` (and nothing marked) if a write holds it.
    pub(crate) fn start_delete(&mut self, hash: Hash) -> bool {
        !self.writing.contains_key(&hash) && self.deleting.insert(hash)
    }

    /// The delete of `hash` is over.
    pub(crate) fn end_delete(&mut self, hash: &Hash) {
        self.deleting.remove(hash);
    }
}

/// A write's hold on its content, from before its put until it is dropped (after the
/// append, or after the write failed).
#[must_use = "the content is protected from collection only while the hold lives"]
pub(crate) struct WriteHold<'a> {
    guards: &'a RefCell<BlobGuards>,
    hash: Hash,
}

impl Drop for WriteHold<'_> {
    fn drop(&mut self) {
        let mut guards = self.guards.borrow_mut();
        if let Some(count) = guards.writing.get_mut(&self.hash) {
            *count -= 1;
            if *count == 0 {
                guards.writing.remove(&self.hash);
            }
        }
    }
}

/// How long a write waits for a delete of the same content to finish: 50 polls of 20 ms.
const DELETE_WAIT_POLLS: u32 = 50;
const DELETE_WAIT_POLL_MS: u64 = 20;

/// One user's contents: R2 under their prefix (and the legacy shared keys), the object's
/// table of puts, its cache and its guards.
pub(crate) struct BlobStore<'a> {
    pub(crate) bucket: Bucket,
    pub(crate) user: String,
    pub(crate) sql: SqlStorage,
    pub(crate) cache: &'a RefCell<BlobCache>,
    pub(crate) guards: &'a RefCell<BlobGuards>,
    /// Local development only: how many more puts report a failure after the content is
    /// stored (var `DEV_FAIL_AFTER_BLOB_PUTS`), as a crash between the put and the append
    /// would leave things, so that a test sees the content collected.
    pub(crate) fail_after_put: Option<&'a std::cell::Cell<u64>>,
}

impl std::fmt::Debug for BlobStore<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobStore")
            .field("user", &self.user)
            .finish()
    }
}

#[derive(serde::Deserialize)]
struct Known {
    #[allow(dead_code)]
    confirmed: i64,
}

impl BlobStore<'_> {
    /// The user's key of the content with this hash.
    pub(crate) fn key(&self, hash: &Hash) -> String {
        backups::archive::blob_key(&self.user, hash)
    }

    /// Whether the table knows `hash` (its content is under the user's prefix).
    fn known(&self, hash: &Hash) -> bool {
        self.sql
            .exec(
                "SELECT confirmed FROM blobs WHERE hash = ?",
                vec![hash.to_hex().into()],
            )
            .and_then(|rows| rows.to_array::<Known>())
            .is_ok_and(|rows| !rows.is_empty())
    }

    /// Reads the content with `hash` from the cache, else from R2 (verified), keeping it in
    /// the cache when `keep` (scans over many notes pass false, so they do not push out what
    /// is in use).
    pub(crate) async fn get(&self, hash: Hash, keep: bool) -> Result<Vec<u8>, GetBlobError> {
        if let Some(bytes) = self.cache.borrow_mut().get(&hash) {
            return Ok(bytes);
        }
        let own = self.key(&hash);
        let legacy = backups::archive::legacy_blob_key(&hash);
        // Where the table says, else the legacy key first; then the other one.
        let known = self.known(&hash);
        let (first, second) = if known {
            (&own, &legacy)
        } else {
            (&legacy, &own)
        };
        let bytes = match get(&self.bucket, first, hash).await {
            Err(GetBlobError::Missing(_)) => {
                let bytes = get(&self.bucket, second, hash).await?;
                if !known {
                    // Found under the user's prefix (a restored archive): remember, so the
                    // next read goes there first.
                    self.record(hash, 0, true);
                }
                bytes
            }
            other => other?,
        };
        if keep {
            self.cache.borrow_mut().insert(hash, &bytes);
        }
        Ok(bytes)
    }

    /// Records a put of `hash` at `now_ms` (or, with `confirmed`, that an event names it).
    /// A confirmed record stays confirmed.
    fn record(&self, hash: Hash, now_ms: u64, confirmed: bool) {
        let done = self.sql.exec(
            "INSERT INTO blobs (hash, put_ms, confirmed) VALUES (?, ?, ?) \
             ON CONFLICT (hash) DO UPDATE SET put_ms = excluded.put_ms, \
             confirmed = max(confirmed, excluded.confirmed)",
            vec![
                hash.to_hex().into(),
                (now_ms as i64).into(),
                i64::from(confirmed).into(),
            ],
        );
        if let Err(err) = done {
            worker::console_error!(
                "{}",
                serde_json::json!({"msg": "blob_record_failed", "error": err.to_string()})
            );
        }
    }

    /// Stores `bytes` under `hash`, which the caller computed (the engine's write plan), and
    /// holds the content against collection until the returned hold is dropped: drop it after
    /// the event is appended (and [`BlobStore::confirm`]ed) or the write failed. Waits first
    /// for a delete of the same content that is in flight.
    pub(crate) async fn put(
        &self,
        hash: Hash,
        bytes: Vec<u8>,
        now_ms: u64,
    ) -> Result<WriteHold<'_>, PutBlobError> {
        let mut polls = 0;
        while self.guards.borrow().deleting.contains(&hash) {
            if polls == DELETE_WAIT_POLLS {
                return Err(PutBlobError {
                    hash,
                    message: "a collection of the same content did not finish".into(),
                });
            }
            polls += 1;
            worker::Delay::from(std::time::Duration::from_millis(DELETE_WAIT_POLL_MS)).await;
        }
        *self.guards.borrow_mut().writing.entry(hash).or_default() += 1;
        let hold = WriteHold {
            guards: self.guards,
            hash,
        };
        // The record first: a crash after the put leaves a content the collector knows of.
        self.record(hash, now_ms, false);
        self.bucket
            .put(self.key(&hash), bytes)
            .execute()
            .await
            .map_err(|e| PutBlobError {
                hash,
                message: e.to_string(),
            })?;
        if let Some(left) = self.fail_after_put.filter(|left| left.get() > 0) {
            left.set(left.get() - 1);
            return Err(PutBlobError {
                hash,
                message: "failed on purpose after the put (DEV_FAIL_AFTER_BLOB_PUTS)".into(),
            });
        }
        Ok(hold)
    }

    /// Records that an event names `hash` (after its append).
    pub(crate) fn confirm(&self, hash: Hash, now_ms: u64) {
        self.record(hash, now_ms, true);
    }
}

/// Reads the object under `key`, which must hold the content `hash`, and checks its bytes.
async fn get(bucket: &Bucket, key: &str, hash: Hash) -> Result<Vec<u8>, GetBlobError> {
    let storage = |e: worker::Error| GetBlobError::Storage {
        hash,
        message: e.to_string(),
    };
    let object = bucket.get(key).execute().await.map_err(storage)?;
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
    fn a_write_holds_its_content_against_collection_and_a_delete_against_writes() {
        let guards = RefCell::new(BlobGuards::default());
        let (a, _) = blob(1, 1);
        let (b, _) = blob(2, 1);
        let hold = |hash| {
            *guards.borrow_mut().writing.entry(hash).or_default() += 1;
            WriteHold {
                guards: &guards,
                hash,
            }
        };
        let first = hold(a);
        let second = hold(a);
        assert!(!guards.borrow_mut().start_delete(a), "a write holds a");
        drop(first);
        assert_eq!(guards.borrow().busy(), [a].into_iter().collect());
        drop(second);
        assert!(guards.borrow().busy().is_empty());
        assert!(guards.borrow_mut().start_delete(a));
        assert!(!guards.borrow_mut().start_delete(a), "one delete at a time");
        assert!(guards.borrow_mut().start_delete(b));
        guards.borrow_mut().end_delete(&a);
        assert_eq!(guards.borrow().busy(), [b].into_iter().collect());
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
