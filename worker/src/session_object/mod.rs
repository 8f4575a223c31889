//! `MCPSessionDurableObject`: one per user (`idFromName("user:" + user id)`), SQLite-backed.
//!
//! It holds the user's [`engine::Store`] (the hash-chained log in SQLite through
//! [`DoStorage`], opened lazily on first use) and serves MCP for that user: sessions, tool
//! calls, note contents in R2. After every request it sets its alarm to the store's next
//! deadline (or deletes it); the alarm expires idle sessions and takes snapshots, which go to
//! R2 as well. Alarms are at-least-once, and everything the handler does is idempotent.
//!
//! Internal routes (reachable only through a stub, never from the internet):
//! - `POST|GET|DELETE /mcp`: an MCP request the front Worker admitted, with the user id in
//!   [`USER_HEADER`] (see `mcp_dispatch`).
//! - `GET /ping`: writes and reads a counter in SQLite storage (for `/health`).
//! - `POST /oauth-ledger`: decides one code redemption or refresh rotation of the user's
//!   (`oauth_ledger`; the front Worker's `/token` and `/revoke` ask it).
//! - `POST /rebuild[?dry_run=1][&force=1]`: drops local state and rebuilds from the archive
//!   (the operator's `/admin/rebuild/{user}`; see `rebuild`).
//! - `POST /backup-nudge` (`{"forget": [keys]}`): forgets backup objects found damaged,
//!   exports if an export is due; answers whether one is overdue (the cron's audit).
//! - `GET|PUT|DELETE /alarm[?in_ms=N]`: reads, sets or clears the alarm (local dev only; the
//!   front Worker forwards `/__dev/alarm/{object}` here when `LOCAL_DEV=1`).
//! - `POST /storage-selftest`: checks the SQLite storage's promises on this (scratch) object
//!   (local dev only: `/__dev/storage/{object}`).
//! - `GET|DELETE /archive[?key=K|?local=1]`: lists the user's archive in R2 and the local log's
//!   bounds; deletes one archive object; or wipes the object's local storage, as if it had
//!   been lost; `POST /archive?export=1` runs a backup export now and answers its report
//!   (local dev only: `/__dev/archive/{user}`).
//! - `GET /memory`, `POST /grow?from=N&count=M&size=B`: what the object holds in memory; writes
//!   generated notes (local dev only: `/__dev/memory/{user}`, `/__dev/grow/{user}`; see
//!   `dev_scale`).
//!
//! # Layout
//! - `mcp_dispatch`: MCP over HTTP inside the object: admission, sessions, JSON-RPC methods.
//! - `post_stream`: SSE replies to POSTs (progress, cancellation, polling) and their
//!   resumption from the `outbox`.
//! - `replies`: replies whole when sent: a batch's JSON array within its budget, a reply
//!   preceded by log messages.
//! - `get_stream`: the sessions' GET streams: resource updates, live and replayed.
//! - `live`: calls and streams in flight (memory); `outbox`: POST streams' events (SQLite);
//!   `subscriptions`: which notes each session watches (SQLite) and what a stream replays.
//! - `upkeep`: deadlines, the alarm, and the snapshot cycle (`backups::snapshot_cycle`)
//!   driven against SQLite and R2.
//! - `export`: the user's backup export to S3, driven from the alarm (`backups::export`).
//! - `blob_gc`: collecting note contents no event names (`backups::blob_gc`), from the alarm.
//! - `restore`: opening the store, rebuilding it from the archive when storage is empty
//!   (`backups::archive_restore` driven against R2).
//! - `rebuild`: the operator's rebuild from the archive.
//! - `dev_archive`: the local-development archive routes.
//! - `dev_scale`: the local-development memory report and bulk writes, for measuring at scale.
//! - `oauth_ledger`: single use of the user's codes and refresh tokens, made exact.

mod blob_gc;
mod dev_archive;
mod dev_scale;
mod export;
mod get_stream;
mod live;
mod mcp_dispatch;
mod oauth_ledger;
mod outbox;
mod post_stream;
mod rebuild;
mod replies;
mod restore;
mod subscriptions;
mod upkeep;

use std::cell::{Cell, RefCell};
use std::ops::Deref;
use std::rc::{Rc, Weak};

use engine::Store;
use serde::{Deserialize, Serialize};
use worker::{
    DurableObject, Env, Method, Request, Response, Result, SqlStorage, State, durable_object,
    wasm_bindgen,
};

use crate::do_storage::DoStorage;
use crate::reply;

/// The URL the front Worker uses for health pings. The host is ignored by the object.
pub(crate) const PING_URL: &str = "https://session-object/ping";
/// The URL the front Worker forwards `/mcp` requests to.
pub(crate) const MCP_URL: &str = "https://session-object/mcp";
/// The header that carries the user id from the front Worker to the object. The front Worker
/// always sets it, replacing anything a client sent.
pub(crate) const USER_HEADER: &str = "x-second-brain-user";
/// The header that carries the request's token scopes (space-separated) from the front
/// Worker to the object. The front Worker drops whatever a client sent under this name; a
/// request without it (local development's user) may do everything.
pub(crate) const SCOPE_HEADER: &str = "x-second-brain-scope";
/// The reply header that says, in local development only, how long opening the store took
/// (ms) on the request that opened it: the object's own part of a cold start, for
/// `second-brain bench-mcp`.
pub(crate) const STORE_OPEN_HEADER: &str = "x-dev-store-open-ms";
/// The local-development var that sets how many events make a snapshot due.
const DEV_SNAPSHOT_EVERY_EVENTS: &str = "DEV_SNAPSHOT_EVERY_EVENTS";
/// The local-development var that makes that many content puts fail after storing their
/// content (see [`crate::blobs::BlobStore`]).
const DEV_FAIL_AFTER_BLOB_PUTS: &str = "DEV_FAIL_AFTER_BLOB_PUTS";
/// The longest alarm delay the dev route accepts: one day.
const MAX_ALARM_DELAY_MS: u64 = 86_400_000;
/// The largest body `/backup-nudge` reads (a list of object keys from the cron).
const NUDGE_MAX_BODY_BYTES: usize = 1024 * 1024;

/// The name of the object that holds `user`'s notes. The prefix keeps users apart from the
/// objects that answer health pings and dev routes.
pub(crate) fn object_name(user: &str) -> String {
    format!("user:{user}")
}

/// The per-user Durable Object. Its class name is fixed: deployments bind it as `MCP_SESSION`.
/// Everything it holds lives in a shared `UserObject`, so work that outlives one `fetch`
/// call (an SSE stream's producer) can keep it.
#[durable_object]
#[derive(Debug)]
pub struct MCPSessionDurableObject {
    object: Rc<UserObject>,
}

impl Deref for MCPSessionDurableObject {
    type Target = UserObject;

    fn deref(&self) -> &UserObject {
        &self.object
    }
}

/// One user's object: its storage, store, sessions' live streams and alarms.
#[derive(Debug)]
pub struct UserObject {
    /// This object, for work that must outlive the call that started it.
    this: Weak<UserObject>,
    state: State,
    env: Env,
    schema_ready: Cell<bool>,
    /// The user's store, once opened. Borrowed only between `.await`s.
    store: RefCell<Option<Store<DoStorage>>>,
    /// The user this object serves, once known (kept in SQLite too).
    user: RefCell<Option<String>>,
    /// The alarm as last set by this instance: `Some(None)` for none; `None` when unknown.
    alarm: Cell<Option<Option<u64>>>,
    /// The snapshot cycle: whether one is unfinished, and when the alarm comes back to run it.
    cycle: RefCell<backups::snapshot_cycle::SnapshotCycle>,
    /// The archive's settings, read from the vars once.
    archive: crate::config::ArchiveSettings,
    /// The last failed rebuild from the archive, while it is remembered.
    restore_failure: RefCell<Option<restore::RestoreFailure>>,
    /// Snapshot uploads failed on purpose so far (local development's fault injection).
    failed_uploads: Cell<u64>,
    /// How long the last store open took (ms), until a reply reports it.
    store_open_ms: Cell<Option<u64>>,
    /// How long the last store open took (ms), kept for the memory report.
    last_open_ms: Cell<Option<u64>>,
    /// Recently used note contents, so a note read again skips R2.
    blob_cache: RefCell<crate::blobs::BlobCache>,
    /// Contents being written or collected right now.
    blob_guards: RefCell<crate::blobs::BlobGuards>,
    /// Local development only: puts still to fail after storing their content (read from
    /// `DEV_FAIL_AFTER_BLOB_PUTS` on first use, when `blob_put_failures_read` is set).
    blob_put_failures: Cell<u64>,
    blob_put_failures_read: Cell<bool>,
    /// The earliest time the next collection of unnamed contents may run (`blob_gc`).
    blob_gc_not_before: Cell<u64>,
    /// When background indexing last read notes' texts, or last found none waiting (ms; 0:
    /// never): it reads [`upkeep::INDEX_STEP_DELAY_MS`] later, however often the index's
    /// upkeep brings the alarm back.
    texts_indexed_at: Cell<u64>,
    /// The MCP requests being served.
    in_flight: RefCell<live::InFlight>,
    /// The sessions' open GET streams.
    get_streams: RefCell<live::GetStreams>,
    /// The log seq up to which note changes were pushed to GET streams (`None` until the
    /// first push or stream).
    notified_through: Cell<Option<u64>>,
    /// The log level each session's client set with `logging/setLevel` (in memory: after an
    /// eviction a session gets no log messages until it sets a level again).
    log_levels: RefCell<std::collections::HashMap<String, crate::mcp::logging::LogLevel>>,
}

impl DurableObject for MCPSessionDurableObject {
    fn new(state: State, env: Env) -> Self {
        let archive = crate::config::Config::from_env(&env)
            .map(|config| config.archive)
            .unwrap_or_default();
        let object = Rc::new_cyclic(|this| UserObject {
            this: this.clone(),
            state,
            env,
            schema_ready: Cell::new(false),
            store: RefCell::new(None),
            user: RefCell::new(None),
            alarm: Cell::new(None),
            cycle: RefCell::new(backups::snapshot_cycle::SnapshotCycle::new(
                archive.retry_delay_ms,
            )),
            archive,
            restore_failure: RefCell::new(None),
            failed_uploads: Cell::new(0),
            store_open_ms: Cell::new(None),
            last_open_ms: Cell::new(None),
            blob_cache: RefCell::new(crate::blobs::BlobCache::for_object()),
            blob_guards: RefCell::new(crate::blobs::BlobGuards::default()),
            blob_put_failures: Cell::new(0),
            blob_put_failures_read: Cell::new(false),
            blob_gc_not_before: Cell::new(0),
            texts_indexed_at: Cell::new(0),
            in_flight: RefCell::new(live::InFlight::default()),
            get_streams: RefCell::new(live::GetStreams::default()),
            notified_through: Cell::new(None),
            log_levels: RefCell::default(),
        });
        Self { object }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        self.object.fetch(req).await
    }

    async fn alarm(&self) -> Result<Response> {
        self.object.alarm().await
    }
}

impl UserObject {
    async fn fetch(&self, req: Request) -> Result<Response> {
        self.ensure_schema()?;
        let path = req.path();
        match (req.method(), path.as_str()) {
            (_, "/mcp") => {
                self.store_open_ms.set(None);
                let response = self.serve_mcp(req).await?;
                self.report_store_open(response)
            }
            (Method::Get, "/ping") => {
                let pings = self.bump("pings")?;
                reply::json(200, &serde_json::json!({ "ok": true, "pings": pings }))
            }
            (Method::Post, "/oauth-ledger") => self.serve_oauth_ledger(req).await,
            (Method::Post, "/storage-selftest") => {
                match crate::do_storage::self_test(&self.state.storage()) {
                    Ok(report) => reply::json(200, &report),
                    Err(err) => reply::error(500, "storage_failed", &err.to_string()),
                }
            }
            (_, "/archive") => self.serve_dev_archive(req).await,
            (_, "/memory") => self.serve_dev_scale(req, "memory").await,
            (_, "/grow") => self.serve_dev_scale(req, "grow").await,
            (Method::Post, "/backup-nudge") => {
                let mut req = req;
                let body: serde_json::Value =
                    crate::request_body::read_capped(&mut req, NUDGE_MAX_BODY_BYTES)
                        .await
                        .ok()
                        .and_then(|body| serde_json::from_slice(&body).ok())
                        .unwrap_or_default();
                let forget: Vec<String> = body["forget"]
                    .as_array()
                    .map(|keys| {
                        keys.iter()
                            .filter_map(|k| k.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default();
                self.serve_backup_nudge(&forget).await
            }
            (Method::Post, "/rebuild") => {
                let Some(user) = req.headers().get(USER_HEADER)? else {
                    return reply::error(400, "no_user", "the user header is missing");
                };
                let url = req.url()?;
                let flag = |name: &str| url.query_pairs().any(|(k, v)| k == name && v == "1");
                self.serve_rebuild(&user, flag("dry_run"), flag("force"))
                    .await
            }
            (Method::Get, "/alarm") => self.alarm_state().await,
            (Method::Put, "/alarm") => {
                let Some(delay) = delay_from_query(&req.url()?) else {
                    return reply::error(
                        400,
                        "invalid_delay",
                        "in_ms must be a whole number from 1 to 86400000",
                    );
                };
                let at = worker::Date::now().as_millis() + delay;
                self.alarm.set(None);
                self.state.storage().set_alarm(alarm_at(at)).await?;
                self.alarm_state().await
            }
            (Method::Delete, "/alarm") => {
                self.alarm.set(None);
                self.state.storage().delete_alarm().await?;
                self.alarm_state().await
            }
            _ => reply::error(404, "not_found", "no such object route"),
        }
    }

    async fn alarm(&self) -> Result<Response> {
        self.ensure_schema()?;
        self.bump("alarms_fired")?;
        // The alarm that fired is spent; what is set now is unknown until rescheduled.
        self.alarm.set(None);
        self.run_upkeep().await?;
        Response::ok("alarm handled")
    }

    /// This object, shared, for work that outlives the current call.
    fn shared(&self) -> Option<Rc<UserObject>> {
        self.this.upgrade()
    }
}

/// What the alarm routes report.
#[derive(Debug, Serialize)]
struct AlarmState {
    /// When the alarm will fire (ms since the epoch), or `null` when none is set.
    scheduled_at_ms: Option<i64>,
    /// How many times the alarm handler has run.
    fired: i64,
}

#[derive(Debug, Deserialize)]
struct Counter {
    value: i64,
}

#[derive(Debug, Deserialize)]
struct MetaValue {
    value: String,
}

impl UserObject {
    fn sql(&self) -> SqlStorage {
        self.state.storage().sql()
    }

    /// `user`'s note contents in `bucket` (`STORAGE`), with this object's record, cache and
    /// guards.
    fn blob_store(&self, user: &str, bucket: worker::Bucket) -> crate::blobs::BlobStore<'_> {
        crate::blobs::BlobStore {
            bucket,
            user: user.to_owned(),
            sql: self.sql(),
            cache: &self.blob_cache,
            guards: &self.blob_guards,
            fail_after_put: self.blob_put_failures(),
        }
    }

    /// The puts local development asks to fail after storing their content, if any.
    fn blob_put_failures(&self) -> Option<&Cell<u64>> {
        if !self.blob_put_failures_read.replace(true) {
            let left = self.dev_number(DEV_FAIL_AFTER_BLOB_PUTS).unwrap_or(0);
            self.blob_put_failures.set(left);
        }
        (self.blob_put_failures.get() > 0).then_some(&self.blob_put_failures)
    }

    fn ensure_schema(&self) -> Result<()> {
        if !self.schema_ready.get() {
            let sql = self.sql();
            sql.exec(
                "CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL)",
                None,
            )?;
            sql.exec(
                "CREATE TABLE IF NOT EXISTS object_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
                None,
            )?;
            let tables = outbox::SCHEMA.iter().chain(&subscriptions::SCHEMA);
            let tables = tables.chain(&export::SCHEMA).chain(&crate::blobs::SCHEMA);
            for statement in tables.chain(&oauth_ledger::SCHEMA) {
                sql.exec(statement, None)?;
            }
            self.schema_ready.set(true);
        }
        Ok(())
    }

    /// Opens the store if it is not open yet. The error text is for logs.
    fn open_store(&self) -> std::result::Result<(), String> {
        let mut slot = self
            .store
            .try_borrow_mut()
            .map_err(|_| "the store is borrowed".to_owned())?;
        if slot.is_some() {
            return Ok(());
        }
        let started = worker::Date::now().as_millis();
        let storage = DoStorage::open(&self.state.storage()).map_err(|e| e.to_string())?;
        let (store, report) =
            Store::open(storage, self.engine_config()).map_err(|e| e.to_string())?;
        let duration_ms = worker::Date::now().as_millis().saturating_sub(started);
        self.store_open_ms.set(Some(duration_ms));
        self.last_open_ms.set(Some(duration_ms));
        worker::console_log!(
            "{}",
            serde_json::json!({
                "msg": "store_opened",
                "snapshot_seq": report.snapshot_seq,
                "replayed": report.replayed,
                "head_seq": report.head.seq,
                "files": store.notes().stats().map(|s| s.count).unwrap_or_default(),
                "duration_ms": duration_ms,
                "wasm_memory_bytes": wasm_memory_bytes(),
            })
        );
        *slot = Some(store);
        Ok(())
    }

    /// In local development, the reply to the request that opened the store says how long
    /// that took ([`STORE_OPEN_HEADER`]).
    fn report_store_open(&self, response: Response) -> Result<Response> {
        let local_dev = crate::config::Config::from_env(&self.env).is_ok_and(|c| c.local_dev);
        if let Some(ms) = self.store_open_ms.take()
            && local_dev
        {
            // A measurement aid: a reply whose headers cannot change goes out without it.
            let _ = response.headers().set(STORE_OPEN_HEADER, &ms.to_string());
        }
        Ok(response)
    }

    /// The engine's configuration: the product defaults with the idle session timeout of
    /// `MCP_SESSION_IDLE_TIMEOUT_MS` and the local snapshot format of `SNAPSHOT_LOCAL_FORMAT`,
    /// except that local development may make snapshots come
    /// sooner (var `DEV_SNAPSHOT_EVERY_EVENTS`) so tests can see them.
    fn engine_config(&self) -> engine::Config {
        let mut config = engine::Config::default();
        let settings = crate::config::Config::from_env(&self.env);
        if let Ok(settings) = &settings {
            config.session_idle_timeout_ms = settings.session_idle_timeout_ms;
            config.lean_local_snapshots = settings.lean_local_snapshots;
        }
        let local_dev = settings.is_ok_and(|c| c.local_dev);
        if local_dev
            && let Some(events) = self
                .env
                .var(DEV_SNAPSHOT_EVERY_EVENTS)
                .ok()
                .and_then(|value| value.to_string().parse::<u64>().ok())
                .filter(|events| *events > 0)
        {
            config.snapshot_every_events = events;
        }
        config
    }

    /// The user this object serves, from memory or SQLite.
    fn user(&self) -> Result<Option<String>> {
        if let Some(user) = self.user.borrow().clone() {
            return Ok(Some(user));
        }
        let rows: Vec<MetaValue> = self
            .sql()
            .exec("SELECT value FROM object_meta WHERE key = 'user'", None)?
            .to_array()?;
        let user = rows.into_iter().next().map(|row| row.value);
        self.user.borrow_mut().clone_from(&user);
        Ok(user)
    }

    /// Records that this object serves `user`; `false` if it serves someone else (a request
    /// routed to the wrong object, which must never be served).
    fn bind_user(&self, user: &str) -> Result<bool> {
        match self.user()? {
            Some(known) => Ok(known == user),
            None => {
                self.sql().exec(
                    "INSERT OR IGNORE INTO object_meta (key, value) VALUES ('user', ?)",
                    vec![user.into()],
                )?;
                *self.user.borrow_mut() = None;
                Ok(self.user()?.as_deref() == Some(user))
            }
        }
    }

    /// A flag kept in `object_meta` (absent: `false`).
    fn meta_flag(&self, key: &str) -> Result<bool> {
        let rows: Vec<MetaValue> = self
            .sql()
            .exec(
                "SELECT value FROM object_meta WHERE key = ?",
                vec![key.into()],
            )?
            .to_array()?;
        Ok(rows.first().is_some_and(|row| row.value == "1"))
    }

    fn set_meta_flag(&self, key: &str, on: bool) -> Result<()> {
        self.sql().exec(
            "INSERT INTO object_meta (key, value) VALUES (?, ?) \
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            vec![key.into(), if on { "1" } else { "0" }.into()],
        )?;
        Ok(())
    }

    /// Adds one to a named counter and returns its new value.
    fn bump(&self, name: &str) -> Result<i64> {
        let row: Counter = self
            .sql()
            .exec(
                "INSERT INTO counters (name, value) VALUES (?, 1) \
                 ON CONFLICT(name) DO UPDATE SET value = value + 1 RETURNING value",
                vec![name.into()],
            )?
            .one()?;
        Ok(row.value)
    }

    fn counter(&self, name: &str) -> Result<i64> {
        let rows: Vec<Counter> = self
            .sql()
            .exec(
                "SELECT value FROM counters WHERE name = ?",
                vec![name.into()],
            )?
            .to_array()?;
        Ok(rows.first().map_or(0, |row| row.value))
    }

    async fn alarm_state(&self) -> Result<Response> {
        let state = AlarmState {
            scheduled_at_ms: self.state.storage().get_alarm().await?,
            fired: self.counter("alarms_fired")?,
        };
        reply::json(200, &state)
    }
}

/// The size of this isolate's wasm linear memory in bytes (pages of 64 KiB; it never shrinks,
/// so it is the high-water mark of everything the Worker and its objects hold). `None`
/// natively (tests).
fn wasm_memory_bytes() -> Option<u64> {
    #[cfg(target_arch = "wasm32")]
    {
        Some(core::arch::wasm32::memory_size(0) as u64 * 65_536)
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        None
    }
}

/// The current time as the engine takes it.
fn now() -> engine::Timestamp {
    engine::Timestamp(worker::Date::now().as_millis())
}

/// An alarm time from milliseconds since the epoch. (`ScheduledTime::from(i64)` is an offset
/// from now, not a timestamp: deadlines are absolute, so they go through a `Date`.)
fn alarm_at(epoch_ms: u64) -> worker::ScheduledTime {
    worker::ScheduledTime::new(worker::js_sys::Date::new(&(epoch_ms as f64).into()))
}

fn delay_from_query(url: &worker::Url) -> Option<u64> {
    let (_, value) = url.query_pairs().find(|(key, _)| key == "in_ms")?;
    let delay: u64 = value.parse().ok()?;
    (1..=MAX_ALARM_DELAY_MS).contains(&delay).then_some(delay)
}

/// Runs the storage self-test on the Durable Object named `dev-storage-{object}`.
pub(crate) async fn forward_dev_storage_test(env: &Env, object: &str) -> Result<Response> {
    let stub = env
        .durable_object("MCP_SESSION")?
        .get_by_name(&format!("dev-storage-{object}"))?;
    let mut init = worker::RequestInit::new();
    init.with_method(Method::Post);
    let inner = Request::new_with_init("https://session-object/storage-selftest", &init)?;
    stub.fetch_with_request(inner).await
}

/// Forwards a local-development route of `user`'s (`/__dev/{route}/{user}`: `archive`,
/// `memory`, `grow`) to the object's `/{route}`, with its method and query.
pub(crate) async fn forward_dev_user_route(
    req: Request,
    env: &Env,
    user: &str,
    route: &str,
) -> Result<Response> {
    let stub = env
        .durable_object("MCP_SESSION")?
        .get_by_name(&object_name(user))?;
    let query = req
        .url()?
        .query()
        .map(|q| format!("?{q}"))
        .unwrap_or_default();
    let headers = worker::Headers::new();
    headers.set(USER_HEADER, user)?;
    let mut init = worker::RequestInit::new();
    init.with_method(req.method()).with_headers(headers);
    let inner = Request::new_with_init(&format!("https://session-object/{route}{query}"), &init)?;
    stub.fetch_with_request(inner).await
}

/// Asks `user`'s object to export if an export is due, and whether one is overdue (the
/// cron's audit); `forget` names objects of its backup found missing or damaged, which the
/// object forgets and uploads again at once. Answers `{"overdue": bool, "exporting": bool}`.
pub(crate) async fn nudge_backup(env: &Env, user: &str, forget: &[String]) -> Result<Response> {
    let stub = env
        .durable_object("MCP_SESSION")?
        .get_by_name(&object_name(user))?;
    let headers = worker::Headers::new();
    headers.set(USER_HEADER, user)?;
    headers.set("content-type", "application/json")?;
    let body = serde_json::json!({ "forget": forget }).to_string();
    let mut init = worker::RequestInit::new();
    init.with_method(Method::Post)
        .with_headers(headers)
        .with_body(Some(body.into()));
    let inner = Request::new_with_init("https://session-object/backup-nudge", &init)?;
    stub.fetch_with_request(inner).await
}

/// Asks `user`'s object to decide a code redemption or refresh rotation (or to record a
/// revocation): see [`crate::oauth::ledger`].
pub(crate) async fn ask_oauth_ledger(
    env: &Env,
    user: &str,
    request: &crate::oauth::ledger::LedgerRequest,
) -> Result<crate::oauth::ledger::LedgerAnswer> {
    let stub = env
        .durable_object("MCP_SESSION")?
        .get_by_name(&object_name(user))?;
    let headers = worker::Headers::new();
    headers.set(USER_HEADER, user)?;
    headers.set("content-type", "application/json")?;
    let body = serde_json::to_string(request)
        .map_err(|err| worker::Error::RustError(format!("a ledger request: {err}")))?;
    let mut init = worker::RequestInit::new();
    init.with_method(Method::Post)
        .with_headers(headers)
        .with_body(Some(body.into()));
    let inner = Request::new_with_init("https://session-object/oauth-ledger", &init)?;
    let mut response = stub.fetch_with_request(inner).await?;
    if response.status_code() != 200 {
        return Err(worker::Error::RustError(format!(
            "the user's object answered the ledger with {}",
            response.status_code()
        )));
    }
    response.json().await
}

/// Forwards the operator's rebuild of `user`'s object (`crate::admin`).
pub(crate) async fn forward_rebuild(
    env: &Env,
    user: &str,
    dry_run: bool,
    force: bool,
) -> Result<Response> {
    let stub = env
        .durable_object("MCP_SESSION")?
        .get_by_name(&object_name(user))?;
    let headers = worker::Headers::new();
    headers.set(USER_HEADER, user)?;
    let mut init = worker::RequestInit::new();
    init.with_method(Method::Post).with_headers(headers);
    let url = format!(
        "https://session-object/rebuild?dry_run={}&force={}",
        u8::from(dry_run),
        u8::from(force)
    );
    stub.fetch_with_request(Request::new_with_init(&url, &init)?)
        .await
}

/// Forwards `/__dev/alarm/{object}` to the Durable Object named `dev-alarm-{object}`.
pub(crate) async fn forward_dev_alarm(req: Request, env: &Env, object: &str) -> Result<Response> {
    let stub = env
        .durable_object("MCP_SESSION")?
        .get_by_name(&format!("dev-alarm-{object}"))?;
    let query = req
        .url()?
        .query()
        .map(|q| format!("?{q}"))
        .unwrap_or_default();
    let mut init = worker::RequestInit::new();
    init.with_method(req.method());
    let inner = Request::new_with_init(&format!("https://session-object/alarm{query}"), &init)?;
    stub.fetch_with_request(inner).await
}
