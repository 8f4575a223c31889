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

use engine::envelope::ChainHead;
use engine::segment::Segment;
use engine::storage::Storage;
use engine::{Store, Timestamp};
use serde_json::json;
use worker::Bucket;

use super::upkeep::{ARCHIVE_PENDING, log, log_error};
use super::{UserObject, now};
use crate::do_storage::DoStorage;
use backups::archive::{self, ArchivedSegment, RestorePlan};

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
        let chain = archive::verify_chain(&segments, archived, snapshot_head, plan.covered_through)
            .map_err(|e| e.to_string())?;
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
