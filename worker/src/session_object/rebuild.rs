//! `POST /rebuild[?dry_run=1][&force=1]`: the operator's rebuild of this user's object from
//! its archive in R2 (the front Worker's `/admin/rebuild/{user}`, behind `ADMIN_TOKEN`).
//!
//! The dry run lists the archive and says what a rebuild would load and what it would lose:
//! events of the local log that the archive does not hold. The real one refuses to lose
//! events unless `force=1`, then drops the object's local storage (as if it had been lost)
//! and opens the store again, which rebuilds it from the archive (`restore`), every hash
//! checked. It is the path back after the archive was written again from a backup
//! (`second-brain restore --to-archive`).

use backups::archive;
use serde_json::json;
use worker::{Response, Result};

use super::UserObject;
use super::restore::list_all;
use super::upkeep::log;
use crate::reply;

impl UserObject {
    /// Serves `/rebuild` for `user` (see the module docs).
    pub(super) async fn serve_rebuild(
        &self,
        user: &str,
        dry_run: bool,
        force: bool,
    ) -> Result<Response> {
        if !self.bind_user(user)? {
            return reply::error(409, "wrong_object", "this object serves another user");
        }
        let bucket = self.env.bucket("STORAGE")?;
        let failed = |message: String| worker::Error::RustError(message);
        let snapshot_prefix = archive::snapshot_prefix(user);
        let segment_prefix = archive::segment_prefix(user);
        let snapshots: Vec<_> = list_all(&bucket, &snapshot_prefix, self.list_page())
            .await
            .map_err(failed)?
            .iter()
            .filter_map(|key| archive::parse_snapshot_key(&snapshot_prefix, key))
            .collect();
        let segments: Vec<_> = list_all(&bucket, &segment_prefix, self.list_page())
            .await
            .map_err(failed)?
            .iter()
            .filter_map(|key| archive::parse_segment_key(&segment_prefix, key))
            .collect();
        let plan = match archive::restore_plan(&snapshots, &segments) {
            Ok(Some(plan)) => plan,
            Ok(None) => {
                return reply::error(
                    409,
                    "empty_archive",
                    "the archive holds nothing for this user",
                );
            }
            Err(err) => return reply::error(409, "damaged_archive", &err.to_string()),
        };
        let covered = plan
            .snapshot
            .as_ref()
            .map_or(0, |s| s.seq)
            .max(plan.covered_through);
        // The local head, and the events past the archive that a rebuild would drop (the
        // archive's own `segment.archived` records come back when the rebuild adopts the
        // segments). An object whose storage was lost has none.
        let (local_head, would_lose) = match self.ensure_store().await {
            Ok(()) => self
                .with_open_store(|store| {
                    let past = store.events_after(covered, usize::MAX).unwrap_or_default();
                    let lost = past
                        .iter()
                        .filter(|e| !matches!(e.event, engine::event::Event::SegmentArchived(_)))
                        .count() as u64;
                    (store.head().seq, lost)
                })
                .unwrap_or((0, 0)),
            Err(_) => (0, 0),
        };
        let summary = json!({
            "dry_run": dry_run,
            "snapshot_seq": plan.snapshot.as_ref().map(|s| s.seq),
            "segments": plan.segments.len(),
            "archive_through_seq": covered,
            "local_head_seq": local_head,
            "would_lose_events": would_lose,
        });
        if dry_run {
            return reply::json(200, &summary);
        }
        if would_lose > 0 && !force {
            return reply::error(
                409,
                "would_lose_events",
                &format!(
                    "the local log holds {would_lose} event(s) past the archive (seq {covered}); \
                     run the snapshot cycle first, or pass force=1 to drop them"
                ),
            );
        }
        self.wipe_local().await?;
        self.ensure_schema()?;
        self.bind_user(user)?;
        let outcome = self.ensure_store().await;
        let head = self.with_open_store(|store| {
            let count = store.notes().stats().map(|s| s.count).unwrap_or_default();
            (store.head().seq, count)
        });
        self.reschedule().await;
        match (outcome, head) {
            (Ok(()), Ok((head_seq, notes))) => {
                log(
                    json!({"msg": "admin_rebuild", "outcome": "rebuilt", "head_seq": head_seq, "notes": notes, "dropped_events": would_lose}),
                );
                reply::json(
                    200,
                    &json!({"rebuilt": true, "head_seq": head_seq, "notes": notes, "dropped_events": would_lose}),
                )
            }
            (outcome, _) => {
                let error = format!("{:?}", outcome.err());
                log(json!({"msg": "admin_rebuild", "outcome": "failed", "error": error}));
                reply::error(500, "rebuild_failed", &error)
            }
        }
    }

    /// Deletes the object's SQLite storage and alarm and forgets its in-memory state.
    pub(super) async fn wipe_local(&self) -> Result<()> {
        let storage = self.state.storage();
        storage.delete_alarm().await?;
        storage.delete_all().await?;
        *self.store.borrow_mut() = None;
        *self.user.borrow_mut() = None;
        *self.restore_failure.borrow_mut() = None;
        self.schema_ready.set(false);
        self.alarm.set(None);
        *self.cycle.borrow_mut() =
            backups::snapshot_cycle::SnapshotCycle::new(self.archive.retry_delay_ms);
        self.notified_through.set(None);
        Ok(())
    }
}
