//! Opening the store, and rebuilding it from the archive in R2 when local storage is empty.
//!
//! An object whose SQLite storage holds no events and no snapshot is either new or has lost
//! its storage. Before it starts empty it lists the user's archive (every page): when the
//! archive is empty the user is new; otherwise the store is rebuilt from the newest snapshot
//! and the segments after what that snapshot had archived, every hash verified by the
//! engine, and the segments archived after the snapshot are recorded again
//! (`segment.archived`) so archiving continues where it was. A damaged archive (a listed
//! object missing or corrupt, a segment missing from the run that starts at seq 1, a segment
//! that does not continue the chain) is never loaded: the error is logged and the object
//! refuses MCP requests with it, retrying the rebuild at most every [`RESTORE_RETRY_MS`],
//! instead of starting empty and hiding the notes.

use engine::Hash;
use engine::envelope::ChainHead;
use engine::segment::Segment;
use engine::storage::Storage;
use engine::{Store, Timestamp};
use serde_json::json;
use worker::Bucket;

use super::archive::{self, ArchivedSegment, RestorePlan};
use super::upkeep::{ARCHIVE_PENDING, log, log_error};
use super::{UserObject, now};
use crate::do_storage::DoStorage;

/// How long a failed rebuild is remembered before a request tries again.
const RESTORE_RETRY_MS: u64 = 30_000;

/// Why the store is not available.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum StoreUnavailable {
    /// Local storage is empty and no request has named the user yet.
    NoUser,
    /// The archive could not be restored; the text says why (for logs and the client).
    Restore(String),
    /// Something else failed (for logs).
    Internal(String),
}

/// A failed rebuild, remembered for a while.
#[derive(Debug, Clone)]
pub(super) struct RestoreFailure {
    message: String,
    retry_at_ms: u64,
}

impl UserObject {
    /// Opens the store if it is not open yet, rebuilding it from the archive when local
    /// storage is empty and the archive is not.
    pub(super) async fn ensure_store(&self) -> Result<(), StoreUnavailable> {
        if self.store.try_borrow().is_ok_and(|slot| slot.is_some()) {
            return Ok(());
        }
        let storage =
            DoStorage::open(&self.state.storage()).map_err(|e| internal(e.to_string()))?;
        let empty = storage
            .snapshot()
            .map_err(|e| internal(e.to_string()))?
            .is_none()
            && storage
                .read(0, 1)
                .map_err(|e| internal(e.to_string()))?
                .is_empty();
        if empty {
            let user = self
                .user()
                .map_err(|e| internal(e.to_string()))?
                .ok_or(StoreUnavailable::NoUser)?;
            if let Some(failure) = self.restore_failure.borrow().as_ref()
                && worker::Date::now().as_millis() < failure.retry_at_ms
            {
                return Err(StoreUnavailable::Restore(failure.message.clone()));
            }
            match self.restore(&user).await {
                Ok(true) => {
                    *self.restore_failure.borrow_mut() = None;
                    return Ok(());
                }
                Ok(false) => *self.restore_failure.borrow_mut() = None,
                Err(message) => {
                    log_error(json!({"msg": "restore_failed", "error": message}));
                    *self.restore_failure.borrow_mut() = Some(RestoreFailure {
                        message: message.clone(),
                        retry_at_ms: worker::Date::now().as_millis() + RESTORE_RETRY_MS,
                    });
                    return Err(StoreUnavailable::Restore(message));
                }
            }
        }
        self.open_store().map_err(internal)?;
        let pending = self
            .meta_flag(ARCHIVE_PENDING)
            .map_err(|e| internal(e.to_string()))?;
        self.archive_retry.set(pending);
        Ok(())
    }

    /// Rebuilds the store from `user`'s archive. `Ok(false)` when the archive is empty (the
    /// caller opens an empty store); `Ok(true)` when the store is open (rebuilt here, or
    /// opened by a concurrent request meanwhile).
    async fn restore(&self, user: &str) -> Result<bool, String> {
        let started = worker::Date::now().as_millis();
        let bucket = self.env.bucket("STORAGE").map_err(|e| e.to_string())?;
        let snapshot_prefix = archive::snapshot_prefix(user);
        let segment_prefix = archive::segment_prefix(user);
        let snapshots: Vec<_> = list_all(&bucket, &snapshot_prefix, self.list_page())
            .await?
            .iter()
            .filter_map(|key| archive::parse_snapshot_key(&snapshot_prefix, key))
            .collect();
        let segments: Vec<_> = list_all(&bucket, &segment_prefix, self.list_page())
            .await?
            .iter()
            .filter_map(|key| archive::parse_segment_key(&segment_prefix, key))
            .collect();
        let Some(plan) = archive::restore_plan(&snapshots, &segments).map_err(|e| e.to_string())?
        else {
            return Ok(false);
        };
        let loaded = self.load(&bucket, &plan).await?;
        if self.store.try_borrow().is_ok_and(|slot| slot.is_some()) {
            // A concurrent request finished first; its store stands.
            return Ok(true);
        }
        let storage = DoStorage::open(&self.state.storage()).map_err(|e| e.to_string())?;
        let replay: Vec<&[u8]> = loaded
            .segments
            .iter()
            .filter(|(segment, _)| segment.last > loaded.snapshot_head.seq)
            .map(|(_, bytes)| bytes.as_slice())
            .collect();
        let (mut store, report) = Store::rebuild(
            storage,
            loaded.snapshot.as_deref(),
            &replay,
            self.engine_config(),
        )
        .map_err(|e| format!("the archive does not verify: {e}"))?;
        let adopted = adopt(&mut store, &loaded.chain, now())?;
        log(json!({
            "msg": "store_restored",
            "snapshot_seq": report.snapshot_seq,
            "replayed": report.replayed,
            "segments_adopted": adopted,
            "head_seq": store.head().seq,
            "notes": store.files().len(),
            "duration_ms": worker::Date::now().as_millis().saturating_sub(started),
        }));
        let mut slot = self
            .store
            .try_borrow_mut()
            .map_err(|_| "the store is borrowed".to_owned())?;
        *slot = Some(store);
        // The snapshot and segments are in the archive already; the next cycle goes on from
        // what the restored log recorded.
        self.archive_retry.set(false);
        Ok(true)
    }

    /// Downloads what `plan` names and checks it against the keys.
    async fn load(&self, bucket: &Bucket, plan: &RestorePlan) -> Result<Loaded, String> {
        let (snapshot, snapshot_head, archived) = match &plan.snapshot {
            Some(listed) => {
                let bytes = get(bucket, &listed.key).await?;
                let state = engine::snapshot::decode(&bytes, 1)
                    .map_err(|e| format!("snapshot {} is unreadable: {e}", listed.key))?;
                if state.head().seq != listed.seq {
                    return Err(format!(
                        "snapshot {} holds seq {}",
                        listed.key,
                        state.head().seq
                    ));
                }
                (Some(bytes), state.head(), state.archived())
            }
            None => (None, Default::default(), Default::default()),
        };
        if plan.covered_through < archived.seq {
            return Err(format!(
                "the archive lacks the segment(s) holding seqs {}..={}: the snapshot at seq {} \
                 records them as archived",
                plan.covered_through + 1,
                archived.seq,
                snapshot_head.seq
            ));
        }
        let mut segments = Vec::new();
        for segment in plan.segments.iter().filter(|s| s.last > archived.seq) {
            let bytes = get(bucket, &segment.key).await?;
            segments.push((segment.clone(), bytes));
        }
        let chain = chain(&segments, archived, snapshot_head, plan.covered_through)?;
        Ok(Loaded {
            snapshot,
            snapshot_head,
            segments,
            chain,
        })
    }
}

/// What a rebuild reads, downloaded.
#[derive(Debug)]
struct Loaded {
    snapshot: Option<Vec<u8>>,
    snapshot_head: ChainHead,
    /// The segments after what the snapshot had archived, in log order.
    segments: Vec<(ArchivedSegment, Vec<u8>)>,
    /// The segments that continue the snapshot's archived log, in chain order, checked.
    chain: Vec<Segment>,
}

/// Checks that the downloaded segments continue the archived log from `archived` up to
/// `covered_through` (every byte against its key's digest, every hash chain, the link at the
/// snapshot's head) and returns them in chain order.
fn chain(
    segments: &[(ArchivedSegment, Vec<u8>)],
    archived: ChainHead,
    snapshot_head: ChainHead,
    covered_through: u64,
) -> Result<Vec<Segment>, String> {
    let mut chain = Vec::new();
    let mut head = archived;
    while head.seq < covered_through {
        let next = head.seq + 1;
        // Overlapping segments may start at the same seq: take the longest.
        let Some((listed, bytes)) = segments
            .iter()
            .filter(|(s, _)| s.first == next)
            .max_by_key(|(s, _)| s.last)
        else {
            return Err(format!(
                "the archive lacks the segment starting at seq {next}"
            ));
        };
        let digest = Hash::of(bytes);
        if listed.digest != digest {
            return Err(format!(
                "segment {} is corrupt: its bytes hash to {}",
                listed.key,
                digest.to_hex()
            ));
        }
        let decoded = engine::segment::decode(bytes)
            .map_err(|e| format!("segment {} is unreadable: {e}", listed.key))?;
        let Some(last) = decoded.events.last() else {
            return Err(format!("segment {} is empty", listed.key));
        };
        if decoded.prev != head || last.seq != listed.last {
            return Err(format!(
                "segment {} does not continue the archived log at seq {}",
                listed.key, head.seq
            ));
        }
        if let Some(at_snapshot) = decoded.events.iter().find(|e| e.seq == snapshot_head.seq)
            && at_snapshot.hash != snapshot_head.hash
        {
            return Err(format!(
                "segment {} does not lead to the snapshot's chain head",
                listed.key
            ));
        }
        chain.push(Segment {
            first_seq: next,
            last_seq: last.seq,
            last_hash: last.hash,
            digest,
            bytes: Vec::new(),
        });
        head = ChainHead {
            seq: last.seq,
            hash: last.hash,
        };
    }
    Ok(chain)
}

/// Records the checked segments that the rebuilt log does not record as archived yet (those
/// archived after the snapshot was taken). Returns how many it recorded.
fn adopt(store: &mut Store<DoStorage>, chain: &[Segment], now: Timestamp) -> Result<usize, String> {
    let mut adopted = 0;
    for segment in chain {
        if segment.last_seq <= store.archived().seq {
            continue;
        }
        store.record_archived(segment, now).map_err(|e| {
            format!(
                "recording segment {}..={} failed: {e}",
                segment.first_seq, segment.last_seq
            )
        })?;
        adopted += 1;
    }
    Ok(adopted)
}

/// Every key under `prefix`, page after page (R2 returns at most 1,000 keys per call; `page`
/// asks for smaller pages, so that tests see several).
pub(super) async fn list_all(
    bucket: &Bucket,
    prefix: &str,
    page: Option<u32>,
) -> Result<Vec<String>, String> {
    let mut keys = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut request = bucket.list().prefix(prefix);
        if let Some(limit) = page {
            request = request.limit(limit);
        }
        if let Some(cursor) = cursor.take() {
            request = request.cursor(cursor);
        }
        let page = request
            .execute()
            .await
            .map_err(|e| format!("listing {prefix} failed: {e}"))?;
        keys.extend(page.objects().iter().map(|object| object.key()));
        match page.cursor() {
            Some(next) if page.truncated() => cursor = Some(next),
            _ => return Ok(keys),
        }
    }
}

/// The bytes under `key`; a missing object is an error (it was listed).
async fn get(bucket: &Bucket, key: &str) -> Result<Vec<u8>, String> {
    let object = bucket
        .get(key)
        .execute()
        .await
        .map_err(|e| format!("reading {key} failed: {e}"))?;
    let Some(body) = object.as_ref().and_then(|o| o.body()) else {
        return Err(format!("{key} is missing from the archive"));
    };
    body.bytes()
        .await
        .map_err(|e| format!("reading {key} failed: {e}"))
}

fn internal(message: String) -> StoreUnavailable {
    StoreUnavailable::Internal(message)
}

#[cfg(test)]
mod tests {
    use engine::store::OpenSession;
    use engine::{Config, EventId, MemoryStorage, SessionId};

    use super::*;

    /// Segments 1..=3 and 4..=6 of a real log, as the archive would list them, and the chain
    /// head at seq 6.
    fn archive() -> (Vec<(ArchivedSegment, Vec<u8>)>, ChainHead) {
        let (mut store, _) = Store::open(MemoryStorage::default(), Config::default()).unwrap();
        for i in 0..6u8 {
            let open = OpenSession {
                session: SessionId::new(format!("{i:064x}")).unwrap(),
                user: "u".into(),
                protocol_version: "2025-11-25".into(),
                client_name: String::new(),
                client_version: String::new(),
            };
            store
                .open_session(EventId::derive(&[i]), open, Timestamp(1_000))
                .unwrap();
        }
        let head = store.head();
        let mut segments = Vec::new();
        for (first, last) in [(1, 3), (4, 6)] {
            let segment = store.encode_segment(first, last).unwrap();
            store.record_archived(&segment, Timestamp(2_000)).unwrap();
            let listed = ArchivedSegment {
                first,
                last,
                digest: segment.digest,
                key: archive::segment_key("u", &segment),
            };
            segments.push((listed, segment.bytes));
        }
        (segments, head)
    }

    #[test]
    fn segments_that_continue_the_log_are_chained_in_order() {
        let (mut segments, head) = archive();
        segments.reverse();
        let chain = chain(&segments, ChainHead::default(), head, 6).unwrap();
        let ranges: Vec<_> = chain.iter().map(|s| (s.first_seq, s.last_seq)).collect();
        assert_eq!(ranges, [(1, 3), (4, 6)]);
        assert_eq!(chain[1].last_hash, head.hash);
        // From a snapshot that had archived the first one, only the second is chained.
        let after_first = ChainHead {
            seq: 3,
            hash: chain[0].last_hash,
        };
        assert_eq!(chain_len(&segments, after_first, head), Ok(1));
    }

    fn chain_len(
        segments: &[(ArchivedSegment, Vec<u8>)],
        from: ChainHead,
        head: ChainHead,
    ) -> Result<usize, String> {
        chain(segments, from, head, 6).map(|c| c.len())
    }

    #[test]
    fn a_missing_segment_is_an_error() {
        let (segments, head) = archive();
        let error = chain_len(&segments[1..], ChainHead::default(), head).unwrap_err();
        assert!(
            error.contains("lacks the segment starting at seq 1"),
            "{error}"
        );
    }

    #[test]
    fn bytes_that_do_not_match_their_key_are_corrupt() {
        let (mut segments, head) = archive();
        let last = segments[1].1.len() - 1;
        segments[1].1[last] ^= 1;
        let error = chain_len(&segments, ChainHead::default(), head).unwrap_err();
        assert!(error.contains("is corrupt"), "{error}");
        // The same damage under a key that names the damaged bytes fails the hash chain.
        segments[1].0.digest = Hash::of(&segments[1].1);
        let error = chain_len(&segments, ChainHead::default(), head).unwrap_err();
        assert!(error.contains("unreadable"), "{error}");
    }

    #[test]
    fn segments_must_lead_to_the_snapshot() {
        let (segments, head) = archive();
        let other = ChainHead {
            seq: head.seq,
            hash: Hash::of(b"another log"),
        };
        let error = chain_len(&segments, ChainHead::default(), other).unwrap_err();
        assert!(error.contains("snapshot's chain head"), "{error}");
        let elsewhere = ChainHead {
            seq: 0,
            hash: Hash::of(b"another start"),
        };
        let error = chain_len(&segments, elsewhere, head).unwrap_err();
        assert!(error.contains("does not continue"), "{error}");
    }
}
