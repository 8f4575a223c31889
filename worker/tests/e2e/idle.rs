//! Idle sessions end through the user's object's own alarm: with a short
//! `MCP_SESSION_IDLE_TIMEOUT_MS`, a session left alone expires without any request; its id then
//! gets 404, its subscriptions and kept stream events are gone, and once nothing is due no alarm
//! stays armed. The object is looked at through `/__dev/archive/{user}?sessions=1`, which
//! touches no session.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::local_worker::{LOCAL_DEV_VARS, LocalWorker, Options, client};

const USER: &str = "idle-user";
const VERSION: &str = "2025-06-18";
/// How long the test waits for the object to act on its own, at most.
const PATIENCE: Duration = Duration::from_secs(60);

fn post(worker: &LocalWorker, session: Option<&str>, body: &Value) -> reqwest::blocking::Response {
    let mut request = client()
        .post(worker.url("/mcp"))
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .header("x-dev-user", USER)
        .body(body.to_string());
    if let Some(session) = session {
        request = request
            .header("mcp-session-id", session)
            .header("mcp-protocol-version", VERSION);
    }
    request.send().expect("POST /mcp")
}

/// What the user's object holds for sessions (the dev route; read only).
fn object_state(worker: &LocalWorker) -> Value {
    let response = client()
        .get(worker.url(&format!("/__dev/archive/{USER}?sessions=1")))
        .send()
        .expect("the dev route answers");
    assert_eq!(response.status().as_u16(), 200);
    response.json().expect("JSON")
}

/// Polls the object until `done` holds (at most [`PATIENCE`]); returns the last state.
fn wait_until(worker: &LocalWorker, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let state = object_state(worker);
        if done(&state) || Instant::now() > deadline {
            return state;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn an_idle_session_expires_through_the_objects_alarm_and_leaves_nothing_armed() {
    let mut options = Options {
        vars: LOCAL_DEV_VARS.to_vec(),
        ..Options::default()
    };
    // No backup secrets (no export falls due); snapshots at once, so they are not left due.
    options.vars.extend([
        ("MCP_SESSION_IDLE_TIMEOUT_MS", "1500"),
        ("DEV_SNAPSHOT_EVERY_EVENTS", "1"),
    ]);
    let worker = LocalWorker::start(options);

    let initialize = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": VERSION, "capabilities": {},
        "clientInfo": {"name": "idle", "version": "1"}}});
    let response = post(&worker, None, &initialize);
    assert_eq!(response.status().as_u16(), 200);
    let session = response.headers()["mcp-session-id"]
        .to_str()
        .expect("ascii")
        .to_owned();
    let session = Some(session.as_str());
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    assert_eq!(post(&worker, session, &initialized).status().as_u16(), 202);
    let write = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
        "name": "write", "arguments": {"path": "watched.md", "content": "hello"}}});
    assert_eq!(post(&worker, session, &write).status().as_u16(), 200);
    let subscribe = json!({"jsonrpc": "2.0", "id": 3, "method": "resources/subscribe",
        "params": {"uri": "note:///watched.md"}});
    let subscribed: Value = post(&worker, session, &subscribe).json().expect("JSON");
    assert!(subscribed.get("result").is_some(), "{subscribed}");
    // A streamed reply: its events are kept for resumption while the session lives.
    let streamed = json!({"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {
        "name": "glob", "arguments": {"pattern": "*.md"}, "_meta": {"progressToken": "t"}}});
    let reply = post(&worker, session, &streamed);
    assert_eq!(reply.status().as_u16(), 200);
    assert_eq!(reply.headers()["content-type"], "text/event-stream");
    let text = reply.text().expect("the stream");
    assert!(text.contains("watched.md"), "{text}");

    let held = object_state(&worker);
    assert_eq!(held["sessions"], 1, "{held}");
    assert_eq!(held["subscriptions"], 1, "{held}");
    assert!(held["kept_events"].as_i64() > Some(0), "{held}");
    assert!(held["alarm_at_ms"].is_i64(), "the expiry is armed: {held}");

    // No request from here on: only the object's alarm can end the session.
    let ended = wait_until(&worker, |state| state["sessions"] == 0);
    assert_eq!(
        ended["sessions"], 0,
        "the alarm did not expire the session: {ended}"
    );
    assert_eq!(ended["subscriptions"], 0, "{ended}");
    assert_eq!(ended["kept_events"], 0, "{ended}");
    assert!(ended["alarms_fired"].as_i64() > Some(0), "{ended}");
    let settled = wait_until(&worker, |state| state["alarm_at_ms"].is_null());
    assert_eq!(
        settled["alarm_at_ms"],
        Value::Null,
        "nothing is due, so no alarm stays armed: {settled}"
    );

    // The session's id is unknown now, and asking changes nothing that is due.
    let ping = json!({"jsonrpc": "2.0", "id": 5, "method": "ping"});
    assert_eq!(post(&worker, session, &ping).status().as_u16(), 404);
    let after = object_state(&worker);
    assert_eq!(after["alarm_at_ms"], Value::Null, "{after}");
    assert_eq!(after["sessions"], 0, "{after}");
}
