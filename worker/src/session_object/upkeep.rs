//! Deadlines, snapshots, the archive and backup exports: what the alarm does, and keeping the
//! alarm at the store's next deadline.
//!
//! # The snapshot cycle
//! When a snapshot falls due (or an earlier cycle did not finish), the alarm runs one cycle:
//! 1. take a snapshot `S` into SQLite (the engine's local snapshot);
//! 2. archive the log up to `S`: each range of the compaction plan is encoded as a segment,
//!    uploaded to R2 and recorded in the log (`segment.archived`);
//! 3. upload `S` to R2;
//! 4. take a second local snapshot when the only events since `S` are step 2's records (so
//!    that those bookkeeping events alone never make another snapshot due: an idle user's
//!    alarm goes quiet);
//! 5. drop the local events that the archive and the local snapshot cover (compaction).
//!
//! R2 keys are in `archive`. Every key names its content and an existing key is never
//! written again, so a retried step re-uploads nothing and overwrites nothing. Segments go up
//! before the snapshot, so the archive never holds a snapshot whose log is not archived.
//! Steps may be interrupted anywhere (alarms are at-least-once, objects are evicted): a flag
//! in SQLite (`archive_pending`) is set when a cycle starts and cleared when it completes;
//! while it is set, the alarm comes back [`ARCHIVE_RETRY_MS`] later and runs the cycle again.
//!
//! Search indexing after a restart also runs here, a step at a time: while notes wait for
//! their text, the alarm comes back [`INDEX_STEP_DELAY_MS`] later to index the next step, so
//! the index catches up without waiting for someone to search. Opening the store leaves the
//! snapshot's search index undecoded (most of the open's cost); the first step decodes it,
//! after the request that opened the store has had its answer (unless a search came first).

use engine::snapshot::Snapshot;
use serde_json::json;
use worker::{Bucket, Result};

use super::restore::StoreUnavailable;
use super::{UserObject, alarm_at, now};
use crate::note_tools::{self, Notes, Unwatched};
use backups::archive;

/// How long after the store opens (and between steps) background indexing runs.
pub(super) const INDEX_STEP_DELAY_MS: u64 = 5_000;
/// How long after an unfinished snapshot cycle the alarm comes back to finish it.
pub(super) const ARCHIVE_RETRY_MS: u64 = 30_000;
/// Local development: how many snapshot uploads fail on purpose (so tests see the retry).
const DEV_FAIL_SNAPSHOT_UPLOADS: &str = "DEV_FAIL_SNAPSHOT_UPLOADS";
/// Local development: the retry delay instead of [`ARCHIVE_RETRY_MS`].
const DEV_ARCHIVE_RETRY_MS: &str = "DEV_ARCHIVE_RETRY_MS";
/// Local development: how many keys one R2 list call asks for (tests see several pages).
const DEV_R2_LIST_PAGE: &str = "DEV_R2_LIST_PAGE";
/// The `object_meta` key of the flag that a snapshot cycle is under way.
pub(super) const ARCHIVE_PENDING: &str = "archive_pending";

/// Why a snapshot cycle stopped; the text is for logs.
#[derive(Debug)]
struct CycleError {
    step: &'static str,
    message: String,
}

fn failed(step: &'static str) -> impl Fn(String) -> CycleError {
    move |message| CycleError { step, message }
}

impl UserObject {
    /// The alarm's work: expire idle sessions, run the snapshot cycle when a snapshot is due
    /// or an earlier cycle did not finish, index a step, then set the alarm to the next
    /// deadline. Safe to run any number of times.
    pub(super) async fn run_upkeep(&self) -> Result<()> {
        match self.ensure_store().await {
            Ok(()) => {}
            // No MCP request named the user yet: nothing is stored for anyone.
            Err(StoreUnavailable::NoUser) => return Ok(()),
            Err(StoreUnavailable::Restore(message)) => {
                // Requests retry the restore; the alarm would only repeat the error.
                log_error(json!({"msg": "upkeep_skipped", "error": message}));
                return Ok(());
            }
            Err(StoreUnavailable::Internal(message)) => {
                // An error makes the runtime retry the alarm later.
                return Err(worker::Error::RustError(format!(
                    "the store could not be opened: {message}"
                )));
            }
        }
        // Changes made by requests are pushed after each one; this catches anything else
        // before the log is compacted.
        self.notify_changes();
        let now = now();
        let (due, expired) = {
            let mut slot = self
                .store
                .try_borrow_mut()
                .map_err(|_| worker::Error::RustError("the store is borrowed".into()))?;
            let Some(store) = slot.as_mut() else {
                return Ok(());
            };
            match store.on_deadline(now) {
                Ok(report) => {
                    if !report.expired.is_empty() {
                        log(json!({"msg": "sessions_expired", "count": report.expired.len()}));
                    }
                    (report.snapshot_due, report.expired)
                }
                Err(err) => {
                    log_error(json!({"msg": "deadline_failed", "error": err.to_string()}));
                    (store.snapshot_due(now), err.expired)
                }
            }
        };
        // An expired session's requests, stream, subscriptions and outbox rows end with it;
        // the sweep catches any session whose clean-up was missed.
        for session in &expired {
            self.forget_session(session.as_str());
        }
        self.forget_ended_sessions(now);
        if due || self.meta_flag(ARCHIVE_PENDING)? {
            self.snapshot_cycle(now).await;
        }
        self.export_if_due(worker::Date::now().as_millis()).await;
        self.index_step(now).await;
        self.reschedule().await;
        Ok(())
    }

    /// Drops the subscriptions and outbox rows of sessions that are no longer open (expired,
    /// or closed by a request that failed before it cleaned up), and outbox rows past their
    /// age.
    fn forget_ended_sessions(&self, now: engine::Timestamp) {
        let known = self
            .subscribing_sessions()
            .and_then(|mut sessions| {
                sessions.extend(self.outbox_sessions()?);
                Ok(sessions)
            })
            .and_then(|sessions| self.outbox_prune(now.0).map(|()| sessions));
        let sessions = match known {
            Ok(sessions) => sessions,
            Err(err) => {
                return log_error(json!({"msg": "session_sweep_failed", "error": err.to_string()}));
            }
        };
        for session in sessions {
            let open = self
                .with_open_store(|store| {
                    engine::SessionId::new(session.as_str())
                        .ok()
                        .is_some_and(|id| store.session(&id, now).is_ok())
                })
                .unwrap_or(true);
            if !open {
                self.forget_session(&session);
            }
        }
    }

    /// Runs one snapshot cycle (see the module docs) and keeps `archive_pending` in step.
    async fn snapshot_cycle(&self, now: engine::Timestamp) {
        let user = match self.user() {
            Ok(Some(user)) => user,
            // No MCP request ever named the user: nothing to file the archive under yet. The
            // local snapshot is still taken, so the deadline it answers moves on.
            _ => {
                if let Err(err) = self
                    .with_open_store(|store| store.take_snapshot().map_err(|e| e.to_string()))
                    .and_then(|taken| taken)
                {
                    log_error(json!({"msg": "snapshot_failed", "error": err}));
                }
                return;
            }
        };
        if let Err(err) = self.set_meta_flag(ARCHIVE_PENDING, true) {
            log_error(json!({"msg": "archive_failed", "step": "start", "error": err.to_string()}));
            self.archive_retry.set(true);
            return;
        }
        match self.run_cycle(&user, now).await {
            Ok(()) => match self.set_meta_flag(ARCHIVE_PENDING, false) {
                Ok(()) => self.archive_retry.set(false),
                Err(err) => {
                    log_error(
                        json!({"msg": "archive_failed", "step": "finish", "error": err.to_string()}),
                    );
                    self.archive_retry.set(true);
                }
            },
            Err(err) => {
                log_error(json!({"msg": "archive_failed", "step": err.step, "error": err.message}));
                self.archive_retry.set(true);
            }
        }
    }

    async fn run_cycle(
        &self,
        user: &str,
        now: engine::Timestamp,
    ) -> std::result::Result<(), CycleError> {
        let bucket = self
            .env
            .bucket("STORAGE")
            .map_err(|e| failed("bucket")(e.to_string()))?;
        let snapshot: Snapshot = self
            .with_open_store(|store| store.take_snapshot().map_err(|e| e.to_string()))
            .and_then(|taken| taken)
            .map_err(failed("snapshot"))?;
        let archived = self.archive_segments(&bucket, user, now).await?;
        let key = archive::snapshot_key(user, snapshot.seq, &snapshot.digest);
        if self.injected_upload_failure() {
            return Err(failed("snapshot_upload")(format!(
                "failed on purpose ({DEV_FAIL_SNAPSHOT_UPLOADS})"
            )));
        }
        put_once(&bucket, &key, snapshot.bytes.clone())
            .await
            .map_err(failed("snapshot_upload"))?;
        log(json!({
            "msg": "snapshot_uploaded",
            "seq": snapshot.seq,
            "bytes": snapshot.bytes.len(),
            "segments": archived,
        }));
        let dropped = self
            .with_open_store(|store| {
                // Only when the events since `S` are this cycle's own records: other events
                // (requests served while the cycle waited for R2) must still make the next
                // snapshot due.
                let own = u64::try_from(archived).unwrap_or(u64::MAX);
                if store.head().seq > snapshot.seq && store.head().seq - snapshot.seq == own {
                    store.take_snapshot().map_err(|e| e.to_string())?;
                }
                store.compact().map_err(|e| e.to_string())
            })
            .and_then(|dropped| dropped)
            .map_err(failed("compact"))?;
        log(json!({"msg": "log_compacted", "through": dropped}));
        Ok(())
    }

    /// Archives every range of the compaction plan: encode, upload (once), record. Returns
    /// how many segments it recorded.
    async fn archive_segments(
        &self,
        bucket: &Bucket,
        user: &str,
        now: engine::Timestamp,
    ) -> std::result::Result<usize, CycleError> {
        let plan = self
            .with_open_store(|store| store.compaction_plan())
            .map_err(failed("plan"))?;
        for range in &plan.segments {
            let segment = self
                .with_open_store(|store| {
                    store
                        .encode_segment(*range.start(), *range.end())
                        .map_err(|e| e.to_string())
                })
                .and_then(|encoded| encoded)
                .map_err(failed("segment_encode"))?;
            let key = archive::segment_key(user, &segment);
            put_once(bucket, &key, segment.bytes.clone())
                .await
                .map_err(failed("segment_upload"))?;
            self.with_open_store(|store| {
                store
                    .record_archived(&segment, now)
                    .map(drop)
                    .map_err(|e| e.to_string())
            })
            .and_then(|recorded| recorded)
            .map_err(failed("segment_record"))?;
            log(json!({
                "msg": "segment_archived",
                "first_seq": segment.first_seq,
                "last_seq": segment.last_seq,
                "bytes": segment.bytes.len(),
            }));
        }
        Ok(plan.segments.len())
    }

    /// A local-development var as a number; `None` elsewhere or when unset.
    pub(super) fn dev_number(&self, name: &str) -> Option<u64> {
        let local_dev = crate::config::Config::from_env(&self.env).is_ok_and(|c| c.local_dev);
        if !local_dev {
            return None;
        }
        self.env.var(name).ok()?.to_string().parse().ok()
    }

    /// The page size for listing the archive: R2's default (1,000) unless local development
    /// asks for smaller pages.
    pub(super) fn list_page(&self) -> Option<u32> {
        self.dev_number(DEV_R2_LIST_PAGE)
            .and_then(|n| u32::try_from(n).ok())
            .filter(|n| (1..=1_000).contains(n))
    }

    fn archive_retry_ms(&self) -> u64 {
        self.dev_number(DEV_ARCHIVE_RETRY_MS)
            .filter(|ms| *ms > 0)
            .unwrap_or(ARCHIVE_RETRY_MS)
    }

    /// Whether this snapshot upload is one that local development asked to fail.
    fn injected_upload_failure(&self) -> bool {
        let limit = self.dev_number(DEV_FAIL_SNAPSHOT_UPLOADS).unwrap_or(0);
        let failed = self.failed_uploads.get();
        if failed < limit {
            self.failed_uploads.set(failed + 1);
            true
        } else {
            false
        }
    }

    /// Runs `f` on the open store; the error text is for logs.
    pub(super) fn with_open_store<R>(
        &self,
        f: impl FnOnce(&mut engine::Store<crate::do_storage::DoStorage>) -> R,
    ) -> std::result::Result<R, String> {
        let mut slot = self
            .store
            .try_borrow_mut()
            .map_err(|_| "the store is borrowed".to_owned())?;
        slot.as_mut()
            .map(f)
            .ok_or_else(|| "the store is not open".to_owned())
    }

    /// Indexes the next step of notes that wait for their text, if any.
    async fn index_step(&self, now: engine::Timestamp) {
        let started = worker::Date::now().as_millis();
        if let Ok(true) = self.with_open_store(|store| store.load_search_index()) {
            let ms = worker::Date::now().as_millis().saturating_sub(started);
            log(json!({"msg": "search_index_loaded", "duration_ms": ms}));
        }
        let waiting = match self.store.try_borrow() {
            Ok(slot) => slot
                .as_ref()
                .is_some_and(|store| store.unindexed().next().is_some()),
            Err(_) => false,
        };
        if !waiting {
            return;
        }
        let bucket = match self.env.bucket("STORAGE") {
            Ok(bucket) => bucket,
            Err(err) => {
                log_error(json!({"msg": "index_step_failed", "error": err.to_string()}));
                return;
            }
        };
        let notes = Notes {
            store: &self.store,
            bucket,
            cache: &self.blob_cache,
            now,
            control: &Unwatched,
            step_pause: None,
        };
        match note_tools::index_pending(&notes).await {
            Ok((indexed, waiting)) => {
                log(json!({"msg": "index_step", "indexed": indexed, "waiting": waiting}))
            }
            Err(err) => log_error(json!({"msg": "index_step_failed", "error": format!("{err:?}")})),
        }
    }

    /// Sets the alarm to the store's next deadline, or deletes it when there is none. Skips
    /// the storage call when the alarm is already where it should be.
    pub(super) async fn reschedule(&self) {
        // Read before the store is borrowed below (it borrows the store itself).
        let export_due = self.export_due();
        let next = match self.store.try_borrow() {
            Ok(slot) => match slot.as_ref() {
                Some(store) => {
                    let deadline = store.next_deadline().map(|t| t.0);
                    let deadline = if self.archive_retry.get() {
                        let retry = now().0 + self.archive_retry_ms();
                        // Keep an earlier retry rather than push it back on every request.
                        let retry = match self.alarm.get().flatten() {
                            Some(set) if set <= retry => set,
                            _ => retry,
                        };
                        Some(deadline.map_or(retry, |d| d.min(retry)))
                    } else {
                        deadline
                    };
                    let deadline = match export_due {
                        Some(due) => {
                            // A due time in the past means now (alarms take no past times).
                            let due = due.max(now().0 + 1);
                            Some(deadline.map_or(due, |d| d.min(due)))
                        }
                        None => deadline,
                    };
                    let index_work =
                        store.unindexed().next().is_some() || store.state().search().is_none();
                    if index_work {
                        let step = now().0 + INDEX_STEP_DELAY_MS;
                        // Keep an earlier indexing alarm rather than push it back on every
                        // request.
                        let step = match self.alarm.get().flatten() {
                            Some(set) if set <= step => set,
                            _ => step,
                        };
                        Some(deadline.map_or(step, |d| d.min(step)))
                    } else {
                        deadline
                    }
                }
                None => return,
            },
            Err(_) => return,
        };
        if self.alarm.get() == Some(next) {
            return;
        }
        let storage = self.state.storage();
        let outcome = match next {
            Some(at) => storage.set_alarm(alarm_at(at)).await,
            None => storage.delete_alarm().await,
        };
        match outcome {
            Ok(()) => self.alarm.set(Some(next)),
            Err(err) => {
                self.alarm.set(None);
                log_error(json!({"msg": "alarm_set_failed", "error": err.to_string()}));
            }
        }
    }
}

pub(super) fn log(line: serde_json::Value) {
    worker::console_log!("{line}");
}

pub(super) fn log_error(line: serde_json::Value) {
    worker::console_error!("{line}");
}

/// Writes `bytes` under `key` unless the key exists: archive keys name their content, so an
/// existing object holds these bytes already (a retried step), and nothing is overwritten.
async fn put_once(bucket: &Bucket, key: &str, bytes: Vec<u8>) -> std::result::Result<(), String> {
    let exists = bucket.head(key).await.map_err(|e| e.to_string())?;
    if exists.is_none() {
        bucket
            .put(key, bytes)
            .execute()
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}
