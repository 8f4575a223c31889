//! Opening the store, and rebuilding it from the archive in R2 when local storage is empty.
//!
//! An object whose SQLite storage holds no events and no snapshot is either new or has lost
//! its storage. Before it starts empty it drives a
//! [`backups::archive_restore::ArchiveRestore`] (its docs say what it reads, what it checks and
//! what it refuses): poll, perform the R2 call (list a page, get an object), hand back; then
//! the machine rebuilds the store into SQLite. An empty archive means a new user. A damaged
//! archive is never loaded: the error ([`ArchiveRestoreError`]) is logged (`restore_failed`)
//! and the object refuses MCP requests with it, retrying the rebuild at most every
//! [`RESTORE_RETRY_MS`], instead of starting empty and hiding the notes.

use backups::archive_restore::{ArchiveRestore, ArchiveRestoreError, RestoreAnswer, RestoreStep};
use backups::snapshot_cycle::SnapshotCycle;
use engine::storage::Storage;
use serde_json::json;
use worker::Bucket;

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
    /// The archive could not be restored (the error is for logs and the client).
    Restore(ArchiveRestoreError),
    /// Something else failed (for logs).
    Internal(String),
}

/// A failed rebuild, remembered for a while.
#[derive(Debug, Clone)]
pub(super) struct RestoreFailure {
    error: ArchiveRestoreError,
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
                return Err(StoreUnavailable::Restore(failure.error.clone()));
            }
            match self.restore(&user).await {
                Ok(true) => {
                    *self.restore_failure.borrow_mut() = None;
                    return Ok(());
                }
                Ok(false) => *self.restore_failure.borrow_mut() = None,
                Err(StoreUnavailable::Restore(error)) => {
                    log_error(json!({"msg": "restore_failed", "error": error.to_string()}));
                    *self.restore_failure.borrow_mut() = Some(RestoreFailure {
                        error: error.clone(),
                        retry_at_ms: worker::Date::now().as_millis() + RESTORE_RETRY_MS,
                    });
                    return Err(StoreUnavailable::Restore(error));
                }
                Err(other) => return Err(other),
            }
        }
        self.open_store().map_err(internal)?;
        let pending = self
            .meta_flag(ARCHIVE_PENDING)
            .map_err(|e| internal(e.to_string()))?;
        // A cycle the object did not finish before it lost its memory runs again.
        *self.cycle.borrow_mut() = if pending {
            SnapshotCycle::resumed(self.archive.retry_delay_ms, now())
        } else {
            SnapshotCycle::new(self.archive.retry_delay_ms)
        };
        Ok(())
    }

    /// Rebuilds the store from `user`'s archive: poll, perform, hand back. `Ok(false)` when
    /// the archive is empty (the caller opens an empty store); `Ok(true)` when the store is
    /// open (rebuilt here, or opened by a concurrent request meanwhile).
    async fn restore(&self, user: &str) -> Result<bool, StoreUnavailable> {
        let started = worker::Date::now().as_millis();
        let bucket = self
            .env
            .bucket("STORAGE")
            .map_err(|e| internal(e.to_string()))?;
        let mut restore = ArchiveRestore::new(user, self.list_page());
        while let Some(step) = restore.poll() {
            let answer = perform(&bucket, step).await;
            restore.handle(answer).map_err(StoreUnavailable::Restore)?;
        }
        if self.store.try_borrow().is_ok_and(|slot| slot.is_some()) {
            // A concurrent request finished first; its store stands.
            return Ok(true);
        }
        let storage =
            DoStorage::open(&self.state.storage()).map_err(|e| internal(e.to_string()))?;
        let Some((store, rebuilt)) = restore
            .rebuild(storage, self.engine_config(), now())
            .map_err(StoreUnavailable::Restore)?
        else {
            return Ok(false);
        };
        log(json!({
            "msg": "store_restored",
            "snapshot_seq": rebuilt.open.snapshot_seq,
            "replayed": rebuilt.open.replayed,
            "segments_adopted": rebuilt.adopted,
            "head_seq": store.head().seq,
            "notes": store.notes().stats().map(|s| s.count).unwrap_or_default(),
            "duration_ms": worker::Date::now().as_millis().saturating_sub(started),
        }));
        let mut slot = self
            .store
            .try_borrow_mut()
            .map_err(|_| internal("the store is borrowed".to_owned()))?;
        *slot = Some(store);
        // The snapshot and segments are in the archive already; the next cycle goes on from
        // what the restored log recorded.
        *self.cycle.borrow_mut() = SnapshotCycle::new(self.archive.retry_delay_ms);
        Ok(true)
    }
}

/// Performs one R2 call of a restore.
async fn perform(bucket: &Bucket, step: RestoreStep) -> RestoreAnswer {
    let answered = match step {
        RestoreStep::List {
            prefix,
            cursor,
            limit,
        } => list_page(bucket, &prefix, cursor, limit)
            .await
            .map(|(keys, cursor)| RestoreAnswer::Listed { keys, cursor }),
        RestoreStep::Get { key } => get(bucket, &key).await.map(RestoreAnswer::Object),
    };
    answered.unwrap_or_else(RestoreAnswer::Failed)
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
        let (page, next) = list_page(bucket, prefix, cursor.take(), page).await?;
        keys.extend(page);
        match next {
            Some(next) => cursor = Some(next),
            None => return Ok(keys),
        }
    }
}

/// One page of keys under `prefix` from `cursor`, and the cursor of the next page if more
/// follow.
async fn list_page(
    bucket: &Bucket,
    prefix: &str,
    cursor: Option<String>,
    limit: Option<u32>,
) -> Result<(Vec<String>, Option<String>), String> {
    let mut request = bucket.list().prefix(prefix);
    if let Some(limit) = limit {
        request = request.limit(limit);
    }
    if let Some(cursor) = cursor {
        request = request.cursor(cursor);
    }
    let page = request
        .execute()
        .await
        .map_err(|e| format!("listing {prefix} failed: {e}"))?;
    let keys = page.objects().iter().map(|object| object.key()).collect();
    let next = page.cursor().filter(|_| page.truncated());
    Ok((keys, next))
}

/// The bytes under `key`; `None` when no object has it.
async fn get(bucket: &Bucket, key: &str) -> Result<Option<Vec<u8>>, String> {
    let object = bucket.get(key).execute().await.map_err(|e| e.to_string())?;
    let Some(body) = object.as_ref().and_then(|o| o.body()) else {
        return Ok(None);
    };
    body.bytes().await.map(Some).map_err(|e| e.to_string())
}

fn internal(message: String) -> StoreUnavailable {
    StoreUnavailable::Internal(message)
}
