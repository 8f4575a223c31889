//! Collecting the user's note contents that no event names, from the alarm.
//!
//! [`crate::blobs::BlobStore`] records every put in the `blobs` table before it starts and
//! confirms it once the event is appended. When the oldest unconfirmed put comes of age (the
//! grace period: `BACKUP_RETENTION`'s `grace`, 48 hours by default), the alarm runs a pass:
//! the pure [`backups::blob_gc::plan`] decides, from the log's history and the contents in
//! use right now, which records to confirm and which contents to delete; this module performs
//! it. Each delete checks its record again first, holds the content as busy while R2 deletes
//! it, and only then drops the record, so a write of the same bytes waits and puts them again.
//! A pass deletes at most [`backups::blob_gc::MAX_DELETES_PER_PASS`] contents; the rest wait
//! for the next alarm, due at once.

use std::collections::BTreeSet;

use backups::blob_gc::{self, Unconfirmed};
use engine::Hash;
use serde::Deserialize;
use serde_json::json;

use super::UserObject;
use super::upkeep::{log, log_error};

/// The local-development var that sets the grace period in milliseconds (tests).
const DEV_BLOB_GRACE_MS: &str = "DEV_BLOB_GRACE_MS";
/// How many unconfirmed records one pass reads, oldest first.
const PASS_RECORDS: i64 = 1_000;
/// How long after a failed pass the next one runs.
const RETRY_MS: u64 = 60_000;

/// What a pass did.
#[derive(Debug, Default)]
struct PassDone {
    confirmed: usize,
    deleted: usize,
    next_due_ms: Option<u64>,
}

#[derive(Deserialize)]
struct Row {
    hash: String,
    put_ms: i64,
}

#[derive(Deserialize)]
struct Oldest {
    put_ms: Option<i64>,
}

impl UserObject {
    /// The grace period: local development's `DEV_BLOB_GRACE_MS`, else the retention
    /// policy's grace (`BACKUP_RETENTION`), else 48 hours.
    fn blob_grace_ms(&self) -> u64 {
        if let Some(ms) = self.dev_number(DEV_BLOB_GRACE_MS) {
            return ms;
        }
        self.env
            .var("BACKUP_RETENTION")
            .ok()
            .and_then(|v| backups::retention::RetentionPolicy::parse(&v.to_string()).ok())
            .map_or(blob_gc::DEFAULT_GRACE_MS, |policy| policy.grace_ms)
    }

    /// When the next collection pass is due: the oldest unconfirmed put's coming of age.
    pub(super) fn blob_gc_due(&self) -> Option<u64> {
        let rows: Vec<Oldest> = self
            .sql()
            .exec(
                "SELECT min(put_ms) AS put_ms FROM blobs WHERE confirmed = 0",
                None,
            )
            .and_then(|rows| rows.to_array())
            .ok()?;
        let oldest = rows.first()?.put_ms?;
        let due = blob_gc::next_due([u64::try_from(oldest).unwrap_or(0)], self.blob_grace_ms())?;
        // Not before the last pass said (a content still in use) or its failure's retry.
        Some(due.max(self.blob_gc_not_before.get()))
    }

    /// Runs a collection pass if one is due at `now_ms` (see the module docs).
    pub(super) async fn collect_blobs(&self, now_ms: u64) {
        if self.blob_gc_due().is_none_or(|due| due > now_ms) {
            return;
        }
        match self.collection_pass(now_ms).await {
            Ok(pass) => {
                self.blob_gc_not_before.set(pass.next_due_ms.unwrap_or(0));
                if pass.confirmed + pass.deleted > 0 {
                    log(json!({
                        "msg": "blobs_collected",
                        "confirmed": pass.confirmed,
                        "deleted": pass.deleted,
                    }));
                }
            }
            Err(err) => {
                self.blob_gc_not_before.set(now_ms + RETRY_MS);
                log_error(json!({"msg": "blob_gc_failed", "error": err}));
            }
        }
    }

    /// One pass (see the module docs).
    async fn collection_pass(&self, now_ms: u64) -> Result<PassDone, String> {
        let Some(user) = self.user().map_err(|e| e.to_string())? else {
            return Ok(PassDone::default());
        };
        let unconfirmed = self.unconfirmed(PASS_RECORDS)?;
        let asked: BTreeSet<Hash> = unconfirmed.iter().map(|r| r.hash).collect();
        let named = self
            .with_open_store(|store| store.notes().referenced(&asked))?
            .map_err(|e| e.to_string())?;
        let busy = self.blob_guards.borrow().busy();
        let pass = blob_gc::plan(&unconfirmed, &named, &busy, now_ms, self.blob_grace_ms());
        let sql = self.sql();
        for hash in &pass.confirm {
            sql.exec(
                "UPDATE blobs SET confirmed = 1 WHERE hash = ?",
                vec![hash.to_hex().into()],
            )
            .map_err(|e| e.to_string())?;
        }
        let bucket = self.env.bucket("STORAGE").map_err(|e| e.to_string())?;
        let mut deleted = 0;
        for hash in &pass.delete {
            let Some(planned) = unconfirmed.iter().find(|r| r.hash == *hash) else {
                continue;
            };
            // Again, just before: a write since the plan refreshed the record or holds it.
            let still = self.unconfirmed_record(hash)?;
            if still != Some(planned.put_ms) || !self.blob_guards.borrow_mut().start_delete(*hash) {
                continue;
            }
            let key = backups::archive::blob_key(&user, hash);
            let outcome = bucket.delete(key.as_str()).await;
            self.blob_guards.borrow_mut().end_delete(hash);
            outcome.map_err(|e| format!("deleting {key}: {e}"))?;
            sql.exec(
                "DELETE FROM blobs WHERE hash = ? AND confirmed = 0",
                vec![hash.to_hex().into()],
            )
            .map_err(|e| e.to_string())?;
            deleted += 1;
        }
        Ok(PassDone {
            confirmed: pass.confirm.len(),
            deleted,
            next_due_ms: pass.next_due_ms,
        })
    }

    /// The oldest `limit` unconfirmed records.
    fn unconfirmed(&self, limit: i64) -> Result<Vec<Unconfirmed>, String> {
        let rows: Vec<Row> = self
            .sql()
            .exec(
                "SELECT hash, put_ms FROM blobs WHERE confirmed = 0 ORDER BY put_ms LIMIT ?",
                vec![limit.into()],
            )
            .and_then(|rows| rows.to_array())
            .map_err(|e| e.to_string())?;
        rows.into_iter()
            .map(|row| {
                Ok(Unconfirmed {
                    hash: Hash::from_hex(&row.hash).map_err(|e| e.to_string())?,
                    put_ms: u64::try_from(row.put_ms).unwrap_or(0),
                })
            })
            .collect()
    }

    /// The put time of `hash`'s record while it is unconfirmed.
    fn unconfirmed_record(&self, hash: &Hash) -> Result<Option<u64>, String> {
        let rows: Vec<Oldest> = self
            .sql()
            .exec(
                "SELECT put_ms FROM blobs WHERE hash = ? AND confirmed = 0",
                vec![hash.to_hex().into()],
            )
            .and_then(|rows| rows.to_array())
            .map_err(|e| e.to_string())?;
        Ok(rows
            .first()
            .and_then(|row| row.put_ms)
            .map(|ms| u64::try_from(ms).unwrap_or(0)))
    }
}
