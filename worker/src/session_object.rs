//! `MCPSessionDurableObject`: one per user (`idFromName(user id)`), SQLite-backed.
//!
//! Today it answers storage-backed pings for `/health` and has its alarm wired (set, fire,
//! clear); the engine's event log, file index and sessions move in here next. Alarms are
//! at-least-once, so the handler is idempotent: it records the firing and schedules nothing
//! that is not due.
//!
//! Internal routes (reachable only through a stub, never from the internet):
//! - `GET /ping`: writes and reads a counter in SQLite storage.
//! - `GET|PUT|DELETE /alarm[?in_ms=N]`: reads, sets or clears the alarm (local dev only; the
//!   front Worker forwards `/__dev/alarm/{object}` here when `LOCAL_DEV=1`).

use std::cell::Cell;

use serde::{Deserialize, Serialize};
use worker::{
    DurableObject, Env, Method, Request, Response, Result, SqlStorage, State, durable_object,
    wasm_bindgen,
};

use crate::reply;

/// The URL the front Worker uses for health pings. The host is ignored by the object.
pub(crate) const PING_URL: &str = "https://session-object/ping";
/// The longest alarm delay the dev route accepts: one day.
const MAX_ALARM_DELAY_MS: u64 = 86_400_000;

/// The per-user Durable Object. Its class name is fixed: deployments bind it as `MCP_SESSION`.
#[durable_object]
#[derive(Debug)]
pub struct MCPSessionDurableObject {
    state: State,
    schema_ready: Cell<bool>,
}

impl DurableObject for MCPSessionDurableObject {
    fn new(state: State, _env: Env) -> Self {
        Self {
            state,
            schema_ready: Cell::new(false),
        }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        self.ensure_schema()?;
        let path = req.path();
        match (req.method(), path.as_str()) {
            (Method::Get, "/ping") => {
                let pings = self.bump("pings")?;
                reply::json(200, &serde_json::json!({ "ok": true, "pings": pings }))
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
                self.state.storage().set_alarm(alarm_at(at)).await?;
                self.alarm_state().await
            }
            (Method::Delete, "/alarm") => {
                self.state.storage().delete_alarm().await?;
                self.alarm_state().await
            }
            _ => reply::error(404, "not_found", "no such object route"),
        }
    }

    async fn alarm(&self) -> Result<Response> {
        self.ensure_schema()?;
        // Idempotent: a repeated delivery only bumps the counter again. Nothing else is due
        // yet, so no alarm is set again; the engine's next deadline will decide that.
        self.bump("alarms_fired")?;
        Response::ok("alarm handled")
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

impl MCPSessionDurableObject {
    fn sql(&self) -> SqlStorage {
        self.state.storage().sql()
    }

    fn ensure_schema(&self) -> Result<()> {
        if !self.schema_ready.get() {
            self.sql().exec(
                "CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL)",
                None,
            )?;
            self.schema_ready.set(true);
        }
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
