//! `/archive` (local development only, through `/__dev/archive/{user}`): lets end-to-end
//! tests look at the user's archive in R2, damage it, and simulate the loss of the object's
//! local storage.
//!
//! - `GET`: the archive's keys (snapshots, segments, note contents; every page) and the
//!   local log's bounds.
//! - `GET ?sessions=1`: what the object holds for MCP sessions, read only (it serves no MCP
//!   request, so no session is touched and nothing is rescheduled): the sessions in its table,
//!   the subscriptions and kept stream events in SQLite, and its alarm.
//! - `DELETE ?key=K`: deletes one archive object of this user.
//! - `POST ?legacy=1`: moves the user's note contents to the shared keys the first releases
//!   used (`blobs/<hash>`), forgets the object's record of them and empties its cache, so a
//!   test sees contents stored as an upgraded deployment holds them.
//! - `DELETE ?local=1`: wipes the object's SQLite storage and alarm and forgets everything it
//!   held in memory, as if the object had lost its storage; the archive is left alone.
//! - `DELETE ?search=1`: empties the search index and queues every note for its text, as the
//!   first open by a build that keeps the index in SQLite does for a store an older build
//!   wrote (the index then fills in steps: in the alarm, and on searches).

use serde::Deserialize;
use serde_json::json;
use worker::{Method, Request, Response, Result};

use super::restore::list_all;
use super::{USER_HEADER, UserObject};
use crate::do_storage::DoStorage;
use crate::reply;
use backups::archive;
use engine::storage::Storage;

impl UserObject {
    /// Serves `/archive` (see the module docs).
    pub(super) async fn serve_dev_archive(&self, req: Request) -> Result<Response> {
        let local_dev = crate::config::Config::from_env(&self.env).is_ok_and(|c| c.local_dev);
        let Some(user) = req.headers().get(USER_HEADER)?.filter(|_| local_dev) else {
            return reply::error(404, "not_found", "no such object route");
        };
        let url = req.url()?;
        let query = |name: &str| {
            url.query_pairs()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.into_owned())
        };
        match req.method() {
            Method::Get if query("sessions").is_some() => self.session_state().await,
            Method::Get => self.archive_listing(&user).await,
            Method::Delete => {
                if let Some(key) = query("key") {
                    let owned = key.starts_with(&archive::snapshot_prefix(&user))
                        || key.starts_with(&archive::segment_prefix(&user));
                    if !owned {
                        return reply::error(400, "not_archive", "not an archive key of this user");
                    }
                    self.env.bucket("STORAGE")?.delete(key.as_str()).await?;
                    reply::json(200, &json!({"deleted": key}))
                } else if query("local").is_some() {
                    self.wipe_local().await?;
                    reply::json(200, &json!({"wiped": true}))
                } else if query("search").is_some() {
                    if let Err(err) = self.ensure_store().await {
                        return reply::error(503, "store_unavailable", &format!("{err:?}"));
                    }
                    let reset = self.with_open_store(|store| store.reset_search());
                    self.reschedule().await;
                    match reset {
                        Ok(Ok(queued)) => reply::json(200, &json!({"queued": queued})),
                        Ok(Err(err)) => reply::error(500, "reset_failed", &err.to_string()),
                        Err(err) => reply::error(503, "store_unavailable", &err),
                    }
                } else {
                    reply::error(400, "what", "give key=K, local=1 or search=1")
                }
            }
            Method::Post if query("export").is_some() => {
                let Some(settings) = self.backup_settings() else {
                    return reply::error(409, "backups_off", "backups are not configured");
                };
                if let Err(err) = self.ensure_store().await {
                    return reply::error(503, "store_unavailable", &format!("{err:?}"));
                }
                let report = self.export_now(&settings).await;
                self.reschedule().await;
                reply::json(200, &report)
            }
            Method::Post if query("legacy").is_some() => {
                let moved = self.move_contents_to_legacy_keys(&user).await?;
                reply::json(200, &json!({"moved": moved}))
            }
            _ => reply::error(
                405,
                "method_not_allowed",
                "GET, DELETE, or POST ?export=1 or ?legacy=1",
            ),
        }
    }

    async fn session_state(&self) -> Result<Response> {
        if let Err(err) = self.ensure_store().await {
            return reply::error(503, "store_unavailable", &format!("{err:?}"));
        }
        let sessions = self
            .with_open_store(|store| store.sessions().len())
            .map_err(worker::Error::RustError)?;
        let count = |table: &str| -> Result<i64> {
            let rows: Vec<Count> = self
                .sql()
                .exec(&format!("SELECT COUNT(*) AS n FROM {table}"), None)?
                .to_array()?;
            Ok(rows.first().map_or(0, |row| row.n))
        };
        reply::json(
            200,
            &json!({
                "sessions": sessions,
                "subscriptions": count("mcp_subscriptions")?,
                "kept_events": count("mcp_outbox")?,
                "alarm_at_ms": self.state.storage().get_alarm().await?,
                "alarms_fired": self.counter("alarms_fired")?,
            }),
        )
    }

    async fn archive_listing(&self, user: &str) -> Result<Response> {
        let bucket = self.env.bucket("STORAGE")?;
        let failed = |message: String| worker::Error::RustError(message);
        let snapshots = list_all(&bucket, &archive::snapshot_prefix(user), self.list_page())
            .await
            .map_err(failed)?;
        let segments = list_all(&bucket, &archive::segment_prefix(user), self.list_page())
            .await
            .map_err(failed)?;
        let blobs = list_all(&bucket, &archive::blob_prefix(user), self.list_page())
            .await
            .map_err(failed)?;
        let storage = DoStorage::open(&self.state.storage())
            .map_err(|e| worker::Error::RustError(e.to_string()))?;
        let local_snapshot = storage
            .snapshot()
            .map_err(|e| worker::Error::RustError(e.to_string()))?
            .map(|s| s.seq);
        let first_local = storage
            .read(0, 1)
            .map_err(|e| worker::Error::RustError(e.to_string()))?
            .first()
            .map(|e| e.seq);
        let store = self.with_open_store(|store| {
            json!({
                "head_seq": store.head().seq,
                "snapshot_seq": store.snapshot_seq(),
                "archived_seq": store.archived().seq,
            })
        });
        reply::json(
            200,
            &json!({
                "snapshots": snapshots,
                "segments": segments,
                "blobs": blobs,
                "local_snapshot_seq": local_snapshot,
                "first_local_seq": first_local,
                "store": store.ok(),
            }),
        )
    }

    /// Serves `POST ?legacy=1` (see the module docs): how many contents moved.
    async fn move_contents_to_legacy_keys(&self, user: &str) -> Result<usize> {
        let bucket = self.env.bucket("STORAGE")?;
        let prefix = archive::blob_prefix(user);
        let keys = list_all(&bucket, &prefix, self.list_page())
            .await
            .map_err(worker::Error::RustError)?;
        for key in &keys {
            let hash = key
                .strip_prefix(&prefix)
                .and_then(|hex| engine::Hash::from_hex(hex).ok())
                .ok_or_else(|| worker::Error::RustError(format!("not a content key: {key}")))?;
            let object = bucket.get(key.as_str()).execute().await?;
            let Some(body) = object.as_ref().and_then(|o| o.body()) else {
                continue;
            };
            let bytes = body.bytes().await?;
            bucket
                .put(archive::legacy_blob_key(&hash), bytes)
                .execute()
                .await?;
            bucket.delete(key.as_str()).await?;
        }
        self.sql().exec("DELETE FROM blobs", None)?;
        *self.blob_cache.borrow_mut() = crate::blobs::BlobCache::for_object();
        Ok(keys.len())
    }
}

#[derive(Debug, Deserialize)]
struct Count {
    n: i64,
}
