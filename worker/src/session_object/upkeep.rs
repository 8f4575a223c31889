//! Deadlines, snapshots, the archive and backup exports: what the alarm does, and keeping the
//! alarm at the store's next deadline.
//!
//! # The snapshot cycle
//! When a snapshot falls due (or an earlier cycle did not finish), the alarm runs one cycle of
//! [`backups::snapshot_cycle::SnapshotCycle`] (its docs say what a cycle does and what it
//! guarantees): poll, perform, hand back. Performing is the object's part: the
//! `archive_pending` flag in SQLite (set when a cycle starts, cleared when it completes; read
//! back when the store opens, so an evicted object resumes), and put-once writes to R2 (a key
//! that exists is not written again: keys name their content). Each step's outcome goes back
//! to the machine, and what it reports is logged (`segment_archived`, `snapshot_uploaded`,
//! `log_compacted`; `archive_failed` with the failed `step`). An unfinished cycle's retry
//! deadline joins the alarm's.
//!
//! Contents no event names are collected here too, once they come of age (`blob_gc`).
//!
//! Search indexing after a restart also runs here, a step at a time: while notes wait for
//! their text, the alarm comes back [`INDEX_STEP_DELAY_MS`] later to index the next step, so
//! the index catches up without waiting for someone to search. The index lives in the
//! object's SQLite; the same alarm runs its upkeep (merging recent changes into its blocks)
//! one bounded step at a time while changes wait.

use backups::snapshot_cycle::{CycleEvent, CycleStep, StepOutcome};
use serde_json::json;
use worker::Result;

use super::restore::StoreUnavailable;
use super::{UserObject, alarm_at, now};
use crate::note_tools::{self, Notes, Unwatched};
use crate::telemetry;

/// How long after the store opens (and between steps) background indexing runs.
pub(super) const INDEX_STEP_DELAY_MS: u64 = 5_000;
/// The search index's upkeep runs (in that indexing step) once this many changes wait to be
/// merged: every search reads them, so they are kept few.
const MAINTAIN_BACKLOG: u64 = 32;
/// Notes one upkeep step merges, and dead ones it purges (one transaction, one step an
/// alarm): at 100,000 notes a note costs the step about 22 ms in workerd (its few hundred
/// terms' blocks read and rewritten), and the object serves nothing meanwhile.
const MAINTAIN_NOTES: usize = 4;
/// How soon the next step runs while the backlog stays over [`MAINTAIN_BACKLOG`]. Requests
/// that came in during a step are served before the next alarm runs, so a short pause does
/// not starve them; it lets a large backlog (every note after an upgrade or a rebuild) clear
/// at most of the object's pace.
const MAINTAIN_DELAY_MS: u64 = 50;
/// The `object_meta` key of the flag that a snapshot cycle is under way.
pub(super) const ARCHIVE_PENDING: &str = "archive_pending";

impl UserObject {
    /// The alarm's work: expire idle sessions, run the snapshot cycle when a snapshot is due
    /// or an earlier cycle did not finish, index a step, then set the alarm to the next
    /// deadline. Safe to run any number of times.
    pub(super) async fn run_upkeep(&self) -> Result<()> {
        match self.ensure_store().await {
            Ok(()) => {}
            // No MCP request named the user yet: nothing is stored for anyone.
            Err(StoreUnavailable::NoUser) => return Ok(()),
            Err(StoreUnavailable::Restore(err)) => {
                // Requests retry the restore; the alarm would only repeat the error.
                log_error(json!({"msg": "upkeep_skipped", "error": err.to_string()}));
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
        if due || self.cycle.borrow().is_pending() {
            self.snapshot_cycle(now).await;
        }
        self.export_if_due(worker::Date::now().as_millis()).await;
        self.collect_blobs(worker::Date::now().as_millis()).await;
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

    /// Runs one snapshot cycle (see the module docs): poll, perform, hand back.
    async fn snapshot_cycle(&self, now: engine::Timestamp) {
        let user = match self.user() {
            Ok(Some(user)) => user,
            // No MCP request ever named the user: nothing to file the archive under yet. The
            // local snapshot is still taken, so the deadline it answers moves on.
            _ => {
                if let Err(err) = self
                    .with_open_store(|store| store.take_local_snapshot().map_err(|e| e.to_string()))
                    .and_then(|taken| taken)
                {
                    log_error(json!({"msg": "snapshot_failed", "error": err}));
                }
                return;
            }
        };
        if !self.cycle.borrow_mut().start(&user, now) {
            // One is under way already (its driver awaits R2).
            return;
        }
        // The object's time spent in the machine (encoding segments and the snapshot), apart
        // from the awaited puts: it holds every request back, so it is logged.
        let mut busy_ms = 0.0;
        loop {
            let started = telemetry::precise_now_ms();
            let polled = self.with_open_store(|store| self.cycle.borrow_mut().poll(store, now));
            busy_ms += telemetry::precise_now_ms() - started;
            self.log_cycle_events(busy_ms);
            let step = match polled {
                Ok(Ok(Some(step))) => step,
                Ok(Ok(None)) => return,
                Ok(Err(err)) => return log_cycle_error(err.step(), &err.to_string()),
                Err(err) => return self.interrupt_cycle(now, &err),
            };
            let outcome = self.perform_cycle_step(step).await;
            let started = telemetry::precise_now_ms();
            let handled =
                self.with_open_store(|store| self.cycle.borrow_mut().handle(store, outcome, now));
            busy_ms += telemetry::precise_now_ms() - started;
            self.log_cycle_events(busy_ms);
            match handled {
                Ok(Ok(())) => {}
                Ok(Err(err)) => return log_cycle_error(err.step(), &err.to_string()),
                Err(err) => return self.interrupt_cycle(now, &err),
            }
        }
    }

    /// Performs one step of the snapshot cycle: the flag in SQLite, or a put-once to R2.
    async fn perform_cycle_step(&self, step: CycleStep) -> StepOutcome {
        let done = match step {
            CycleStep::MarkPending => self
                .set_meta_flag(ARCHIVE_PENDING, true)
                .map_err(|e| e.to_string()),
            CycleStep::ClearPending => self
                .set_meta_flag(ARCHIVE_PENDING, false)
                .map_err(|e| e.to_string()),
            CycleStep::PutSegment { key, bytes } => self.put_once(&key, bytes).await,
            CycleStep::PutSnapshot { key, bytes } => {
                if self.injected_upload_failure() {
                    Err("failed on purpose (DEV_FAIL_SNAPSHOT_UPLOADS)".to_owned())
                } else {
                    self.put_once(&key, bytes).await
                }
            }
        };
        match done {
            Ok(()) => StepOutcome::Done,
            Err(reason) => StepOutcome::Failed(reason),
        }
    }

    /// The store could not be lent to the cycle: the attempt ends and is retried later.
    fn interrupt_cycle(&self, now: engine::Timestamp, error: &str) {
        self.cycle.borrow_mut().interrupt(now);
        log_cycle_error("store", error);
    }

    /// Logs what the snapshot cycle reported; `busy_ms`: the cycle's time in the object so far.
    fn log_cycle_events(&self, busy_ms: f64) {
        while let Some(event) = self.cycle.borrow_mut().poll_event() {
            match event {
                CycleEvent::SegmentArchived {
                    first_seq,
                    last_seq,
                    bytes,
                } => log(json!({
                    "msg": "segment_archived",
                    "first_seq": first_seq,
                    "last_seq": last_seq,
                    "bytes": bytes,
                })),
                CycleEvent::SnapshotUploaded {
                    seq,
                    bytes,
                    segments,
                } => log(json!({
                    "msg": "snapshot_uploaded",
                    "seq": seq,
                    "bytes": bytes,
                    "segments": segments,
                    "busy_ms": (busy_ms * 10.0).round() / 10.0,
                })),
                CycleEvent::Compacted { through } => {
                    log(json!({"msg": "log_compacted", "through": through}));
                }
            }
        }
    }

    /// Writes `bytes` under `key` in R2 unless the key exists: archive keys name their
    /// content, so an existing object holds these bytes already (a retried step), and nothing
    /// is overwritten.
    async fn put_once(&self, key: &str, bytes: Vec<u8>) -> std::result::Result<(), String> {
        let bucket = self.env.bucket("STORAGE").map_err(|e| e.to_string())?;
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
        self.archive.list_page
    }

    /// Whether this snapshot upload is one that local development asked to fail
    /// ([`crate::config::ArchiveSettings::fail_snapshot_uploads`]), so that a test sees the
    /// alarm come back for the unfinished cycle.
    fn injected_upload_failure(&self) -> bool {
        let failed = self.failed_uploads.get();
        if failed < self.archive.fail_snapshot_uploads {
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

    /// Merges the search index's recent changes (a bounded step), then indexes the next step
    /// of notes that wait for their text, if any and if [`INDEX_STEP_DELAY_MS`] has passed
    /// since the last.
    async fn index_step(&self, now: engine::Timestamp) {
        self.maintain_search_index();
        let waiting = match self.store.try_borrow() {
            Ok(slot) => slot
                .as_ref()
                .is_some_and(|store| store.search_work().is_ok_and(|work| work.waiting > 0)),
            Err(_) => false,
        };
        if !waiting {
            // The pause counts from when notes last had nothing to wait for.
            self.texts_indexed_at.set(now.0);
            return;
        }
        if now.0
            < self
                .texts_indexed_at
                .get()
                .saturating_add(INDEX_STEP_DELAY_MS)
        {
            return;
        }
        let bucket = match self.env.bucket("STORAGE") {
            Ok(bucket) => bucket,
            Err(err) => {
                log_error(json!({"msg": "index_step_failed", "error": err.to_string()}));
                return;
            }
        };
        let Ok(Some(user)) = self.user() else {
            // Notes are stored only once a request named the user.
            return;
        };
        let notes = Notes {
            store: &self.store,
            blobs: self.blob_store(&user, bucket),
            now,
            control: &Unwatched,
            step_pause: None,
            store_ms: Default::default(),
        };
        self.texts_indexed_at.set(now.0);
        match note_tools::index_pending(&notes).await {
            Ok((indexed, waiting)) => {
                log(json!({"msg": "index_step", "indexed": indexed, "waiting": waiting}))
            }
            Err(err) => log_error(json!({"msg": "index_step_failed", "error": format!("{err:?}")})),
        }
    }

    /// Runs a step of the search index's upkeep (the alarm comes back soon while the backlog
    /// stays large: [`MAINTAIN_DELAY_MS`]); logs what it did.
    fn maintain_search_index(&self) {
        let started = telemetry::precise_now_ms();
        match self.with_open_store(|store| store.maintain_search(MAINTAIN_NOTES)) {
            Ok(Ok(report)) if report.merged + report.purged > 0 => {
                let ms = telemetry::precise_now_ms() - started;
                log(json!({
                    "msg": "search_maintained",
                    "merged": report.merged,
                    "purged": report.purged,
                    "more": report.more,
                    "duration_ms": (ms * 10.0).round() / 10.0,
                }));
            }
            Ok(Ok(_)) | Err(_) => {}
            Ok(Err(err)) => {
                log_error(json!({"msg": "search_maintain_failed", "error": err.to_string()}));
            }
        }
    }

    /// Sets the alarm to the store's next deadline, or deletes it when there is none. Skips
    /// the storage call when the alarm is already where it should be.
    pub(super) async fn reschedule(&self) {
        // Read before the store is borrowed below (it borrows the store itself).
        // The backup export's and the content collection's due times.
        let work_due = match (self.export_due(), self.blob_gc_due()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let next = match self.store.try_borrow() {
            Ok(slot) => match slot.as_ref() {
                Some(store) => {
                    let deadline = store.next_deadline().map(|t| t.0);
                    // An unfinished snapshot cycle's retry (fixed when it stopped, so requests
                    // do not push it back).
                    let deadline = match self.cycle.borrow().next_deadline() {
                        Some(retry) => Some(deadline.map_or(retry.0, |d| d.min(retry.0))),
                        None => deadline,
                    };
                    let deadline = match work_due {
                        Some(due) => {
                            // A due time in the past means now (alarms take no past times).
                            let due = due.max(now().0 + 1);
                            Some(deadline.map_or(due, |d| d.min(due)))
                        }
                        None => deadline,
                    };
                    let work = store.search_work().unwrap_or_default();
                    // Changes to merge come back soon (every search reads them); texts to
                    // index, at a gentler pace.
                    let delay = if work.backlog >= MAINTAIN_BACKLOG {
                        Some(MAINTAIN_DELAY_MS)
                    } else if work.waiting > 0 {
                        Some(INDEX_STEP_DELAY_MS)
                    } else {
                        None
                    };
                    if let Some(delay) = delay {
                        let step = now().0 + delay;
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

fn log_cycle_error(step: &str, error: &str) {
    log_error(json!({"msg": "archive_failed", "step": step, "error": error}));
}
