//! Deadlines and snapshots: what the alarm does, and keeping the alarm at the store's next
//! deadline.
//!
//! A snapshot that falls due is taken into SQLite (the engine's local snapshot) and uploaded
//! to R2 under `snapshots/<user>/<seq>-<digest hex>.cbor`. The key names the user because the
//! bucket is shared by all users, and names its content, so an upload never overwrites a
//! different object: an existing key is left alone. Archiving log segments and compacting
//! the local log are not done yet.
//!
//! Search indexing after a restart also runs here, a step at a time: while notes wait for
//! their text, the alarm comes back [`INDEX_STEP_DELAY_MS`] later to index the next step, so
//! the index catches up without waiting for someone to search.

use engine::snapshot::Snapshot;
use serde_json::json;
use worker::Result;

use super::{MCPSessionDurableObject, alarm_at, now};
use crate::note_tools::{self, Notes};

/// How long after the store opens (and between steps) background indexing runs.
pub(super) const INDEX_STEP_DELAY_MS: u64 = 5_000;

/// The R2 key of `snapshot` of `user`'s store.
pub(super) fn snapshot_key(user: &str, snapshot: &Snapshot) -> String {
    format!(
        "snapshots/{user}/{}-{}.cbor",
        snapshot.seq,
        snapshot.digest.to_hex()
    )
}

impl MCPSessionDurableObject {
    /// The alarm's work: expire idle sessions, take and upload a snapshot when one is due,
    /// then set the alarm to the next deadline. Safe to run any number of times.
    pub(super) async fn run_upkeep(&self) -> Result<()> {
        if let Err(message) = self.open_store() {
            // An error makes the runtime retry the alarm later.
            return Err(worker::Error::RustError(format!(
                "the store could not be opened: {message}"
            )));
        }
        let now = now();
        let snapshot = {
            let mut slot = self
                .store
                .try_borrow_mut()
                .map_err(|_| worker::Error::RustError("the store is borrowed".into()))?;
            let Some(store) = slot.as_mut() else {
                return Ok(());
            };
            let report = store.on_deadline(now);
            let due = match report {
                Ok(report) => {
                    if !report.expired.is_empty() {
                        log(json!({"msg": "sessions_expired", "count": report.expired.len()}));
                    }
                    report.snapshot_due
                }
                Err(err) => {
                    log_error(json!({"msg": "deadline_failed", "error": err.to_string()}));
                    store.snapshot_due(now)
                }
            };
            if due {
                match store.take_snapshot() {
                    Ok(snapshot) => Some(snapshot),
                    Err(err) => {
                        log_error(json!({"msg": "snapshot_failed", "error": err.to_string()}));
                        None
                    }
                }
            } else {
                None
            }
        };
        if let Some(snapshot) = snapshot {
            self.upload_snapshot(&snapshot).await;
        }
        self.index_step(now).await;
        self.reschedule().await;
        Ok(())
    }

    /// Indexes the next step of notes that wait for their text, if any.
    async fn index_step(&self, now: engine::Timestamp) {
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
            now,
        };
        match note_tools::index_pending(&notes).await {
            Ok((indexed, waiting)) => {
                log(json!({"msg": "index_step", "indexed": indexed, "waiting": waiting}))
            }
            Err(err) => log_error(json!({"msg": "index_step_failed", "error": format!("{err:?}")})),
        }
    }

    async fn upload_snapshot(&self, snapshot: &Snapshot) {
        let user = match self.user() {
            Ok(Some(user)) => user,
            // No MCP request ever named the user: nothing to file the snapshot under yet.
            _ => return,
        };
        let key = snapshot_key(&user, snapshot);
        let outcome = async {
            let bucket = self.env.bucket("STORAGE")?;
            if bucket.head(key.as_str()).await?.is_none() {
                bucket
                    .put(key.as_str(), snapshot.bytes.clone())
                    .execute()
                    .await?;
            }
            Ok::<_, worker::Error>(())
        }
        .await;
        match outcome {
            Ok(()) => log(json!({
                "msg": "snapshot_uploaded",
                "seq": snapshot.seq,
                "bytes": snapshot.bytes.len(),
            })),
            Err(err) => log_error(json!({
                "msg": "snapshot_upload_failed",
                "seq": snapshot.seq,
                "error": err.to_string(),
            })),
        }
    }

    /// Sets the alarm to the store's next deadline, or deletes it when there is none. Skips
    /// the storage call when the alarm is already where it should be.
    pub(super) async fn reschedule(&self) {
        let next = match self.store.try_borrow() {
            Ok(slot) => match slot.as_ref() {
                Some(store) => {
                    let deadline = store.next_deadline().map(|t| t.0);
                    if store.unindexed().next().is_some() {
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

fn log(line: serde_json::Value) {
    worker::console_log!("{line}");
}

fn log_error(line: serde_json::Value) {
    worker::console_error!("{line}");
}

#[cfg(test)]
mod tests {
    use engine::Hash;
    use engine::envelope::ChainHead;

    use super::*;

    #[test]
    fn snapshot_keys_name_the_user_the_seq_and_the_content() {
        let snapshot = Snapshot {
            seq: 42,
            head: ChainHead::default(),
            digest: Hash::of(b"body"),
            bytes: vec![1, 2, 3],
        };
        let key = snapshot_key("u-1", &snapshot);
        assert_eq!(
            key,
            format!("snapshots/u-1/42-{}.cbor", Hash::of(b"body").to_hex())
        );
    }
}
