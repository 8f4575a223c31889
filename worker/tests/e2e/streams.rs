//! `/mcp` streaming end to end: SSE replies with progress, cancellation, the GET stream of
//! resource updates, `Last-Event-ID` resumption from the log and from the outbox (SEP-1699
//! polling), and the transport's refusals. The rmcp client where it can do the job; raw HTTP
//! with a small SSE reader where the test must see the wire.
//!
//! Every test names its own user, so each works on its own Durable Object. Loops are bounded
//! in count and time; nothing asserts on speed.

use std::io::{BufRead, BufReader};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use rmcp::model::{
    ProgressNotificationParam, ResourceUpdatedNotificationParam, SubscribeRequestParams,
};
use rmcp::service::{NotificationContext, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{ClientHandler, RoleClient, ServiceExt};
use serde_json::{Value, json};

use crate::local_worker::{LocalWorker, Options, shared, shared_in};
use crate::mcp::{connect, ok, run, wait_for_log};

/// How long a GET stream lives on the streams Worker (short, so tests see it close).
const STREAM_MAX_MS: &str = "3000";
/// How many notes the long greps scan.
const NOTES: usize = 400;

static STREAMS: OnceLock<LocalWorker> = OnceLock::new();
static POLLING: OnceLock<LocalWorker> = OnceLock::new();

/// Long tool loops pause this long between steps (local development's `DEV_STEP_PAUSE_MS`),
/// so a grep over [`NOTES`] notes runs long enough to be cancelled or polled while it runs.
const STEP_PAUSE_MS: &str = "20";

/// A Worker whose GET streams close after [`STREAM_MAX_MS`].
fn streams_worker() -> &'static LocalWorker {
    shared_in(&STREAMS, || {
        let mut options = Options::default();
        options.vars.push(("MCP_SSE_STREAM_MAX_MS", STREAM_MAX_MS));
        options.vars.push(("DEV_STEP_PAUSE_MS", STEP_PAUSE_MS));
        options
    })
}

/// A Worker whose 2025-11-25 POST streams close after 100 ms (SEP-1699 polling).
fn polling_worker() -> &'static LocalWorker {
    shared_in(&POLLING, || {
        let mut options = Options::default();
        options.vars.push(("MCP_SSE_POLL_AFTER_MS", "100"));
        options.vars.push(("DEV_STEP_PAUSE_MS", STEP_PAUSE_MS));
        options
    })
}

/// A blocking client for streams: a longer timeout than the default one.
fn stream_client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client")
}

// ---------------------------------------------------------------- raw HTTP and SSE

/// One SSE event as the HTML Standard's parser sees it (comments dropped).
#[derive(Debug, Clone, Default)]
struct Event {
    id: Option<String>,
    data: Vec<String>,
    retry: Option<u64>,
}

impl Event {
    /// The JSON-RPC message it carries, if any.
    fn message(&self) -> Option<Value> {
        let data = self.data.join("\n");
        (!data.is_empty())
            .then(|| serde_json::from_str(&data).ok())
            .flatten()
    }
}

/// Reads SSE events from a response body.
struct SseReader {
    body: BufReader<reqwest::blocking::Response>,
}

impl SseReader {
    fn new(response: reqwest::blocking::Response) -> Self {
        let content_type = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            content_type.starts_with("text/event-stream"),
            "not an SSE reply: {content_type}"
        );
        SseReader {
            body: BufReader::new(response),
        }
    }

    /// The next event; `None` at the end of the stream.
    fn next(&mut self) -> Option<Event> {
        let mut event = Event::default();
        let mut fields = 0;
        loop {
            let mut line = String::new();
            match self.body.read_line(&mut line) {
                Ok(0) | Err(_) => return (fields > 0).then_some(event),
                Ok(_) => {}
            }
            let line = line.trim_end_matches(['\r', '\n']);
            if line.is_empty() {
                if fields > 0 {
                    return Some(event);
                }
                continue;
            }
            if line.starts_with(':') {
                continue;
            }
            let (field, value) = line.split_once(':').unwrap_or((line, ""));
            let value = value.strip_prefix(' ').unwrap_or(value);
            fields += 1;
            match field {
                "id" => event.id = Some(value.to_owned()),
                "data" => event.data.push(value.to_owned()),
                "retry" => event.retry = value.parse().ok(),
                _ => {}
            }
        }
    }

    /// Every event until the stream ends (bounded: at most `max` events).
    fn rest(&mut self, max: usize) -> Vec<Event> {
        let mut events = Vec::new();
        while events.len() < max {
            match self.next() {
                Some(event) => events.push(event),
                None => break,
            }
        }
        events
    }
}

/// A raw MCP session of `user` in `version`.
struct Raw<'a> {
    worker: &'a LocalWorker,
    user: &'static str,
    version: &'static str,
    session: String,
}

impl<'a> Raw<'a> {
    fn start(worker: &'a LocalWorker, user: &'static str, version: &'static str) -> Self {
        let body = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": version, "capabilities": {},
            "clientInfo": {"name": "raw-streams", "version": "1"}}});
        let response = stream_client()
            .post(worker.url("/mcp"))
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json")
            .header("x-dev-user", user)
            .body(body.to_string())
            .send()
            .expect("initialize");
        assert_eq!(response.status().as_u16(), 200);
        let session = response.headers()["mcp-session-id"]
            .to_str()
            .unwrap()
            .to_owned();
        let answer: Value = response.json().unwrap();
        assert_eq!(answer["result"]["protocolVersion"], version);
        Raw {
            worker,
            user,
            version,
            session,
        }
    }

    fn post(&self, body: &Value) -> reqwest::blocking::Response {
        stream_client()
            .post(self.worker.url("/mcp"))
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json")
            .header("x-dev-user", self.user)
            .header("mcp-session-id", &self.session)
            .header("mcp-protocol-version", self.version)
            .body(body.to_string())
            .send()
            .expect("POST /mcp")
    }

    /// A request answered with JSON; returns the response object.
    fn request(&self, id: i64, method: &str, params: Value) -> Value {
        let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let response = self.post(&body);
        assert_eq!(response.status().as_u16(), 200, "{method}");
        response.json().expect("a JSON reply")
    }

    fn notify(&self, method: &str, params: Value) {
        let body = json!({"jsonrpc": "2.0", "method": method, "params": params});
        assert_eq!(self.post(&body).status().as_u16(), 202, "{method}");
    }

    /// `tools/call` with a progress token: the SSE reply.
    fn call_streamed(&self, id: i64, tool: &str, arguments: Value, token: &str) -> SseReader {
        let body = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {
            "name": tool, "arguments": arguments, "_meta": {"progressToken": token}}});
        let response = self.post(&body);
        assert_eq!(response.status().as_u16(), 200);
        SseReader::new(response)
    }

    fn write(&self, id: i64, path: &str, content: &str) {
        let answer = self.request(
            id,
            "tools/call",
            json!({"name": "write", "arguments": {"path": path, "content": content}}),
        );
        assert_eq!(answer["result"]["isError"], json!(false), "{answer}");
    }

    fn subscribe(&self, id: i64, uri: &str) -> Value {
        self.request(id, "resources/subscribe", json!({ "uri": uri }))
    }

    fn get(&self, last_event_id: Option<&str>) -> reqwest::blocking::Response {
        let mut request = stream_client()
            .get(self.worker.url("/mcp"))
            .header("accept", "text/event-stream")
            .header("x-dev-user", self.user)
            .header("mcp-session-id", &self.session)
            .header("mcp-protocol-version", self.version);
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id);
        }
        request.send().expect("GET /mcp")
    }

    fn delete(&self) -> u16 {
        stream_client()
            .delete(self.worker.url("/mcp"))
            .header("x-dev-user", self.user)
            .header("mcp-session-id", &self.session)
            .send()
            .expect("DELETE /mcp")
            .status()
            .as_u16()
    }
}

/// The user whose object holds [`NOTES`] notes on `worker` (seeded once; greps only read).
fn long_user(worker: &'static LocalWorker, seeded: &'static OnceLock<()>) -> &'static str {
    const USER: &str = "long-greps";
    seeded.get_or_init(|| {
        seed_notes(worker, USER, NOTES);
    });
    USER
}

static SEEDED_STREAMS: OnceLock<()> = OnceLock::new();
static SEEDED_POLLING: OnceLock<()> = OnceLock::new();

/// Writes `count` notes (a multiple of 50) for `user`, each with one `needle` line, in
/// batches of 50, the most a batch may hold (2025-03-26 allows them).
fn seed_notes(worker: &LocalWorker, user: &'static str, count: usize) {
    let raw = Raw::start(worker, user, "2025-03-26");
    for batch in 0..count / 50 {
        let calls: Vec<Value> = (0..50)
            .map(|i| {
                let n = batch * 50 + i;
                json!({"jsonrpc": "2.0", "id": n, "method": "tools/call", "params": {
                    "name": "write", "arguments": {
                        "path": format!("long/{n:04}.md"),
                        "content": format!("note {n}\nneedle {n}\nthe end\n")}}})
            })
            .collect();
        let response = raw.post(&Value::Array(calls));
        assert_eq!(response.status().as_u16(), 200);
        let answers: Vec<Value> = response.json().unwrap();
        assert!(
            answers
                .iter()
                .all(|a| a["result"]["isError"] == json!(false)),
            "a seed write failed"
        );
    }
}

/// How many log lines with `msg` the Worker has written so far.
fn log_count(worker: &LocalWorker, msg: &str) -> usize {
    worker
        .json_log_lines()
        .iter()
        .filter(|line| line["msg"] == msg)
        .count()
}

/// The progress notifications and the final message among `events`.
fn progress_and_response(events: &[Event]) -> (Vec<Value>, Vec<Value>) {
    let messages: Vec<Value> = events.iter().filter_map(Event::message).collect();
    let (progress, others): (Vec<Value>, Vec<Value>) = messages
        .into_iter()
        .partition(|m| m["method"] == "notifications/progress");
    (progress, others)
}

// ---------------------------------------------------------------- rmcp clients

/// An rmcp client handler that records progress and resource updates.
#[derive(Clone, Default)]
struct Recorder {
    progress: Arc<Mutex<Vec<ProgressNotificationParam>>>,
    updates: Arc<Mutex<Vec<String>>>,
}

impl ClientHandler for Recorder {
    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        self.progress.lock().unwrap().push(params);
    }

    async fn on_resource_updated(
        &self,
        params: ResourceUpdatedNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        self.updates.lock().unwrap().push(params.uri);
    }
}

/// An initialized rmcp client for `user` that records what the server sends.
async fn connect_recording(
    worker: &LocalWorker,
    user: &str,
) -> (RunningService<RoleClient, Recorder>, Recorder) {
    let mut config = StreamableHttpClientTransportConfig::with_uri(worker.url("/mcp"));
    config.custom_headers.insert(
        "x-dev-user".parse().expect("a header name"),
        user.parse().expect("a header value"),
    );
    let recorder = Recorder::default();
    let client = recorder
        .clone()
        .serve(StreamableHttpClientTransport::from_config(config))
        .await
        .expect("initialize succeeds");
    (client, recorder)
}

/// Checks a grep result over the seeded notes: every note matched once.
fn assert_every_note_matched(result: &Value) {
    assert_eq!(
        result["matches"].as_array().map(Vec::len),
        Some(NOTES),
        "{result}"
    );
    assert_eq!(result["truncated"], false);
}

fn grep_args() -> Value {
    json!({"pattern": "needle", "max_matches": NOTES})
}

// ---------------------------------------------------------------- (1) progress

#[test]
fn a_call_with_a_progress_token_streams_increasing_progress_then_its_result() {
    let worker = streams_worker();
    let user = long_user(worker, &SEEDED_STREAMS);
    let raw = Raw::start(worker, user, "2025-06-18");
    let mut reader = raw.call_streamed(7, "grep", grep_args(), "grep-1");
    let events = reader.rest(1_000);
    let (progress, others) = progress_and_response(&events);
    assert!(progress.len() >= 2, "progress: {progress:?}");
    let values: Vec<u64> = progress
        .iter()
        .map(|p| p["params"]["progress"].as_u64().unwrap())
        .collect();
    assert!(
        values.windows(2).all(|w| w[0] < w[1]),
        "progress must increase: {values:?}"
    );
    for p in &progress {
        assert_eq!(p["params"]["progressToken"], "grep-1");
        assert_eq!(p["params"]["total"], NOTES);
        assert!(p["params"]["message"].as_str().unwrap().contains("scanned"));
    }
    assert_eq!(others.len(), 1, "one response: {others:?}");
    assert_eq!(others[0]["id"], 7);
    assert_every_note_matched(&others[0]["result"]["structuredContent"]);
    // The response is the last event: nothing follows it.
    assert!(
        events
            .last()
            .unwrap()
            .message()
            .unwrap()
            .get("result")
            .is_some()
    );
}

#[test]
fn the_rmcp_client_receives_progress_for_a_long_call() {
    let worker = streams_worker();
    let user = long_user(worker, &SEEDED_STREAMS);
    run(async {
        let (client, recorder) = connect_recording(worker, user).await;
        let result = ok(&client, "grep", grep_args()).await;
        assert_every_note_matched(&result);
        let progress = recorder.progress.lock().unwrap().clone();
        assert!(!progress.is_empty(), "no progress arrived");
        assert!(
            progress.windows(2).all(|w| w[0].progress < w[1].progress),
            "{progress:?}"
        );
        assert!(progress.iter().all(|p| p.total == Some(NOTES as f64)));
        client.cancel().await.expect("the client closes");
    });
}

#[test]
fn a_stateless_streamed_reply_has_no_event_ids() {
    let worker = streams_worker();
    let user = long_user(worker, &SEEDED_STREAMS);
    let body = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {
        "name": "grep", "arguments": grep_args(),
        "_meta": {
            "progressToken": 11,
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {}}}});
    let response = stream_client()
        .post(worker.url("/mcp"))
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .header("x-dev-user", user)
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", "grep")
        .body(body.to_string())
        .send()
        .expect("POST /mcp");
    assert_eq!(response.status().as_u16(), 200);
    let events = SseReader::new(response).rest(1_000);
    assert!(events.iter().all(|e| e.id.is_none()), "{events:?}");
    let (progress, others) = progress_and_response(&events);
    assert!(!progress.is_empty());
    assert_eq!(others.len(), 1);
    assert_eq!(others[0]["result"]["resultType"], "complete");
    assert_every_note_matched(&others[0]["result"]["structuredContent"]);
}

// ---------------------------------------------------------------- (2) cancellation

#[test]
fn a_cancelled_streamed_call_ends_without_a_response() {
    let worker = streams_worker();
    let user = long_user(worker, &SEEDED_STREAMS);
    let raw = Raw::start(worker, user, "2025-06-18");
    let mut reader = raw.call_streamed(41, "grep", grep_args(), "cancel-me");
    let first = reader.next().expect("a first event");
    let first = first.message().expect("a message");
    assert_eq!(first["method"], "notifications/progress", "{first}");
    raw.notify(
        "notifications/cancelled",
        json!({"requestId": 41, "reason": "the test changed its mind"}),
    );
    let rest = reader.rest(1_000);
    let (_, others) = progress_and_response(&rest);
    assert!(others.is_empty(), "a cancelled call sent {others:?}");
    // The server keeps serving the session.
    assert_eq!(raw.request(42, "ping", json!({}))["result"], json!({}));
    let cancelled = wait_for_log(worker, "tool_call", 0)
        .into_iter()
        .filter(|line| line["tool"] == "grep" && line["outcome"] == "cancelled")
        .count();
    assert!(cancelled >= 1, "no cancelled grep in the log");
}

#[test]
fn a_cancelled_json_call_answers_request_cancelled() {
    let worker = streams_worker();
    let user = long_user(worker, &SEEDED_STREAMS);
    let raw = Raw::start(worker, user, "2025-06-18");
    let done = Arc::new(AtomicBool::new(false));
    // Cancels until the call has answered: the first cancellation that arrives while the
    // grep runs stops it. Unknown or finished ids are ignored by the server.
    let canceller = {
        let done = done.clone();
        let (worker_url, session) = (worker.url("/mcp"), raw.session.clone());
        std::thread::spawn(move || {
            let client = stream_client();
            let started = Instant::now();
            while !done.load(Ordering::SeqCst) && started.elapsed() < Duration::from_secs(30) {
                let body = json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
                                  "params": {"requestId": 51}});
                let _ = client
                    .post(&worker_url)
                    .header("accept", "application/json, text/event-stream")
                    .header("content-type", "application/json")
                    .header("x-dev-user", user)
                    .header("mcp-session-id", &session)
                    .header("mcp-protocol-version", "2025-06-18")
                    .body(body.to_string())
                    .send();
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let answer = raw.request(
        51,
        "tools/call",
        json!({"name": "grep", "arguments": grep_args()}),
    );
    done.store(true, Ordering::SeqCst);
    canceller.join().unwrap();
    assert_eq!(answer["id"], 51);
    assert_eq!(answer["error"]["code"], -32800, "{answer}");
    assert_eq!(answer["error"]["message"], "request cancelled");
    assert_eq!(raw.request(52, "ping", json!({}))["result"], json!({}));
}

// ---------------------------------------------------------------- (3) the GET stream

#[test]
fn a_subscriber_hears_of_a_change_made_in_another_session() {
    let worker = streams_worker();
    run(async {
        let (subscriber, recorder) = connect_recording(worker, "subscribe-rmcp").await;
        // `resources/subscribe` is what the handshake-era versions (and rmcp for them) use.
        #[allow(deprecated)]
        subscriber
            .subscribe(SubscribeRequestParams::new("note:///plans/today.md"))
            .await
            .expect("resources/subscribe");
        let writer = connect(worker, "subscribe-rmcp").await;
        // The client opens its GET stream on its own after initialize; write until the
        // update arrives (a write before the stream opened is not reported on it).
        let mut heard = false;
        for i in 0..20 {
            ok(
                &writer,
                "write",
                json!({"path": "plans/today.md", "content": format!("v{i}")}),
            )
            .await;
            tokio::time::sleep(Duration::from_millis(500)).await;
            if !recorder.updates.lock().unwrap().is_empty() {
                heard = true;
                break;
            }
        }
        assert!(heard, "no notifications/resources/updated arrived");
        let updates = recorder.updates.lock().unwrap().clone();
        assert!(
            updates.iter().all(|uri| uri == "note:///plans/today.md"),
            "{updates:?}"
        );
        subscriber.cancel().await.expect("the client closes");
        writer.cancel().await.expect("the client closes");
    });
}

// ---------------------------------------------------------------- (4) resumption from the log

#[test]
fn last_event_id_replays_exactly_the_missed_changes_to_watched_notes() {
    let worker = streams_worker();
    let watcher = Raw::start(worker, "resume-log", "2025-11-25");
    let writer = Raw::start(worker, "resume-log", "2025-11-25");
    let answer = watcher.subscribe(1, "note:///watched.md");
    assert_eq!(answer["result"], json!({}), "{answer}");
    writer.write(1, "watched.md", "first");

    let response = watcher.get(None);
    assert_eq!(response.status().as_u16(), 200);
    let mut stream = SseReader::new(response);
    let priming = stream.next().expect("a priming event");
    assert!(priming.data.iter().all(String::is_empty), "{priming:?}");
    let primed_at = priming.id.clone().expect("the priming event has an id");
    drop(stream);

    writer.write(2, "watched.md", "second");
    writer.write(3, "other.md", "not watched");
    writer.write(4, "watched.md", "third");

    let response = watcher.get(Some(&primed_at));
    assert_eq!(response.status().as_u16(), 200);
    // The stream lives STREAM_MAX_MS, then closes with `retry`: read it all.
    let events = SseReader::new(response).rest(100);
    let updates: Vec<&Event> = events.iter().filter(|e| e.message().is_some()).collect();
    let uris: Vec<Value> = updates
        .iter()
        .map(|e| e.message().unwrap()["params"]["uri"].clone())
        .collect();
    assert_eq!(
        uris,
        [json!("note:///watched.md"), json!("note:///watched.md")]
    );
    let ids: Vec<u64> = updates
        .iter()
        .map(|e| e.id.as_deref().unwrap().parse().unwrap())
        .collect();
    let primed: u64 = primed_at.parse().expect("a log position");
    assert!(primed < ids[0] && ids[0] < ids[1], "{primed} {ids:?}");
    for event in &updates {
        assert_eq!(
            event.message().unwrap()["method"],
            "notifications/resources/updated"
        );
    }
    assert!(
        events.last().and_then(|e| e.retry).is_some(),
        "the stream closes with retry: {events:?}"
    );
}

#[test]
fn the_rmcp_client_misses_no_change_across_stream_reconnections() {
    let worker = streams_worker();
    run(async {
        let (watcher, recorder) = connect_recording(worker, "resume-rmcp").await;
        #[allow(deprecated)]
        watcher
            .subscribe(SubscribeRequestParams::new("note:///log.md"))
            .await
            .expect("resources/subscribe");
        let writer = connect(worker, "resume-rmcp").await;
        // Wait until the watcher's stream carries updates.
        let mut ready = false;
        for _ in 0..20 {
            ok(
                &writer,
                "write",
                json!({"path": "log.md", "content": "warm-up"}),
            )
            .await;
            tokio::time::sleep(Duration::from_millis(500)).await;
            if !recorder.updates.lock().unwrap().is_empty() {
                ready = true;
                break;
            }
        }
        assert!(ready, "the watcher's stream never delivered");
        let before = recorder.updates.lock().unwrap().len();
        // The stream closes every 3 s and the client comes back 1 s later (`retry`): writes
        // every 250 ms for 9 s land in those gaps too.
        let mut writes = 0;
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(9) {
            writes += 1;
            ok(
                &writer,
                "write",
                json!({"path": "log.md", "content": format!("line {writes}")}),
            )
            .await;
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let deadline = Instant::now() + Duration::from_secs(15);
        while recorder.updates.lock().unwrap().len() < before + writes && Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let got = recorder.updates.lock().unwrap().len() - before;
        assert_eq!(got, writes, "every change once, none lost, none twice");
        watcher.cancel().await.expect("the client closes");
        writer.cancel().await.expect("the client closes");
    });
    let replayed = worker
        .json_log_lines()
        .into_iter()
        .filter(|l| l["msg"] == "get_stream_opened" && l["resumed"] == true)
        .filter(|l| l["replayed"].as_u64().is_some_and(|n| n > 0))
        .count();
    assert!(replayed > 0, "no reconnection replayed a missed change");
}

// ---------------------------------------------------------------- (5) SEP-1699 polling

#[test]
fn a_long_call_survives_the_server_closing_its_stream() {
    let worker = polling_worker();
    let user = long_user(worker, &SEEDED_POLLING);
    let resumed_before = log_count(worker, "stream_resumed");
    run(async {
        let (client, _recorder) = connect_recording(worker, user).await;
        let info = client.peer_info().expect("initialized");
        assert_eq!(info.protocol_version.to_string(), "2025-11-25");
        let result = ok(&client, "grep", grep_args()).await;
        assert_every_note_matched(&result);
        client.cancel().await.expect("the client closes");
    });
    let resumed = wait_for_log(worker, "stream_resumed", resumed_before);
    assert!(
        resumed.len() > resumed_before,
        "the result did not come through GET + Last-Event-ID"
    );
}

#[test]
fn a_raw_poll_resumes_from_the_outbox_and_ends_with_the_response() {
    let worker = polling_worker();
    let user = long_user(worker, &SEEDED_POLLING);
    let raw = Raw::start(worker, user, "2025-11-25");
    let mut reader = raw.call_streamed(9, "grep", grep_args(), "poll-1");
    let events = reader.rest(1_000);
    let priming = events.first().expect("a priming event");
    assert!(priming.id.as_deref().is_some_and(|id| id.starts_with('o')));
    assert!(
        events.iter().any(|e| e.retry.is_some()),
        "the server asked the client to poll: {events:?}"
    );
    let (_, responses) = progress_and_response(&events);
    assert!(responses.is_empty(), "the response came before the poll");
    let mut last_id = events
        .iter()
        .rev()
        .find_map(|e| e.id.clone())
        .expect("an event id");
    let mut response = None;
    for _ in 0..20 {
        let got = raw.get(Some(&last_id));
        assert_eq!(got.status().as_u16(), 200);
        let events = SseReader::new(got).rest(1_000);
        if let Some(id) = events.iter().rev().find_map(|e| e.id.clone()) {
            last_id = id;
        }
        let (_, responses) = progress_and_response(&events);
        if let Some(found) = responses.into_iter().next() {
            response = Some(found);
            break;
        }
    }
    let response = response.expect("the response arrived through polling");
    assert_eq!(response["id"], 9);
    assert_every_note_matched(&response["result"]["structuredContent"]);
    // Resuming after the response replays nothing more and ends at once.
    let after = SseReader::new(raw.get(Some(&last_id))).rest(10);
    assert!(after.iter().all(|e| e.message().is_none()), "{after:?}");
}

#[test]
fn a_call_lost_in_a_restart_is_reported_interrupted_when_resumed() {
    let mut options = Options::default();
    // 100 notes in 7 steps of 200 ms: the call is still running when the Worker stops.
    options.vars.push(("DEV_STEP_PAUSE_MS", "200"));
    let worker = LocalWorker::start(options);
    let user = "restart-mid-call";
    seed_notes(&worker, user, 100);
    let (session, primed) = {
        let raw = Raw::start(&worker, user, "2025-11-25");
        let mut reader = raw.call_streamed(5, "grep", grep_args(), "lost");
        let priming = reader.next().expect("a priming event");
        (raw.session.clone(), priming.id.expect("an outbox id"))
    };
    let worker = worker.restart();
    let raw = Raw {
        worker: &worker,
        user,
        version: "2025-11-25",
        session,
    };
    for attempt in 0..2 {
        // The answer is recorded: resuming again gives the same one.
        let events = SseReader::new(raw.get(Some(&primed))).rest(10);
        let (_, messages) = progress_and_response(&events);
        assert_eq!(messages.len(), 1, "attempt {attempt}: {events:?}");
        assert_eq!(messages[0]["id"], 5);
        assert_eq!(messages[0]["error"]["code"], -32603);
        assert!(
            messages[0]["error"]["message"]
                .as_str()
                .unwrap()
                .contains("restarted"),
            "{}",
            messages[0]
        );
    }
}

/// The local log's first kept seq for `user` (dev route), once it is past `seq`.
fn wait_until_compacted_past(worker: &LocalWorker, user: &str, seq: u64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let listing: Value = stream_client()
            .get(worker.url(&format!("/__dev/archive/{user}")))
            .send()
            .expect("the listing answers")
            .json()
            .expect("a JSON listing");
        if listing["first_local_seq"]
            .as_u64()
            .is_some_and(|first| first > seq)
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the log was not compacted past {seq}: {listing}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_resumption_older_than_the_local_log_replays_each_watched_notes_latest_change() {
    let mut options = Options::default();
    // Every event makes a snapshot due: the log is archived and compacted after each request.
    options.vars.push(("DEV_SNAPSHOT_EVERY_EVENTS", "1"));
    options.vars.push(("MCP_SSE_STREAM_MAX_MS", STREAM_MAX_MS));
    let worker = LocalWorker::start(options);
    let user = "resume-compacted";
    let watcher = Raw::start(&worker, user, "2025-11-25");
    let writer = Raw::start(&worker, user, "2025-11-25");
    assert_eq!(watcher.subscribe(1, "note:///a.md")["result"], json!({}));
    assert_eq!(watcher.subscribe(2, "note:///b.md")["result"], json!({}));
    let mut stream = SseReader::new(watcher.get(None));
    let primed_at = stream.next().and_then(|e| e.id).expect("a priming id");
    drop(stream);
    let primed: u64 = primed_at.parse().expect("a log position");

    writer.write(1, "a.md", "one");
    writer.write(2, "other.md", "not watched");
    writer.write(3, "a.md", "two");
    writer.write(4, "b.md", "three");
    wait_until_compacted_past(&worker, user, primed + 4);

    let events = SseReader::new(watcher.get(Some(&primed_at))).rest(100);
    let updates: Vec<(u64, Value)> = events
        .iter()
        .filter_map(|e| Some((e.id.as_deref()?.parse().ok()?, e.message()?)))
        .collect();
    let uris: Vec<&Value> = updates.iter().map(|(_, m)| &m["params"]["uri"]).collect();
    // From history: the latest change of each watched note, in log order; never nothing.
    assert_eq!(
        uris,
        [&json!("note:///a.md"), &json!("note:///b.md")],
        "{events:?}"
    );
    let ids: Vec<u64> = updates.iter().map(|(id, _)| *id).collect();
    assert!(primed < ids[0] && ids[0] < ids[1], "{primed} {ids:?}");
}

// ---------------------------------------------------------------- (6) refusals

#[test]
fn get_refusals() {
    let worker = shared();
    let raw = Raw::start(worker, "get-refusals", "2025-11-25");
    let other = Raw::start(worker, "get-refusals", "2025-11-25");
    let status = |response: reqwest::blocking::Response| response.status().as_u16();

    assert_eq!(
        status(raw.get(Some("not-an-id"))),
        400,
        "a malformed Last-Event-ID"
    );
    assert_eq!(
        status(raw.get(Some("o01"))),
        400,
        "a non-canonical outbox id"
    );
    assert_eq!(
        status(raw.get(Some("999999999"))),
        400,
        "a log position never reached"
    );

    // Another session's outbox id.
    let mut reader = raw.call_streamed(3, "glob", json!({"pattern": "**"}), "t");
    let priming = reader.next().expect("a priming event");
    let id = priming.id.expect("an outbox id");
    assert!(id.starts_with('o'), "{id}");
    let _ = reader.rest(10);
    assert_eq!(
        status(other.get(Some(&id))),
        400,
        "another session's outbox id"
    );
    assert_eq!(
        status(raw.get(Some(&id))),
        200,
        "its own session resumes it"
    );

    let base = || {
        stream_client()
            .get(worker.url("/mcp"))
            .header("x-dev-user", "get-refusals")
    };
    let without_session = base().header("accept", "text/event-stream").send().unwrap();
    assert_eq!(status(without_session), 400);
    let stateless = base()
        .header("accept", "text/event-stream")
        .header("mcp-session-id", &raw.session)
        .header("mcp-protocol-version", "2026-07-28")
        .send()
        .unwrap();
    assert_eq!(stateless.status().as_u16(), 405);
    assert_eq!(stateless.headers()["allow"], "POST");
    let unknown = base()
        .header("accept", "text/event-stream")
        .header("mcp-session-id", "no-such-session")
        .send()
        .unwrap();
    assert_eq!(status(unknown), 404);
    let json_only = base()
        .header("accept", "application/json")
        .header("mcp-session-id", &raw.session)
        .send()
        .unwrap();
    assert_eq!(status(json_only), 406);
}

#[test]
fn subscriptions_refuse_what_is_not_a_note_uri() {
    let worker = shared();
    let raw = Raw::start(worker, "subscribe-refusals", "2025-06-18");
    for uri in [
        "file:///a.md",
        "note:///",
        "note:///a/../b",
        "note:///a b",
        "note:///a%2Fb",
    ] {
        let answer = raw.subscribe(1, uri);
        assert_eq!(answer["error"]["code"], -32602, "{uri}: {answer}");
    }
    let answer = raw.request(2, "resources/subscribe", json!({}));
    assert_eq!(answer["error"]["code"], -32602);
    // A note that does not exist yet may be watched; unsubscribing twice is fine.
    assert_eq!(
        raw.subscribe(3, "note:///later/n%C3%B8te.md")["result"],
        json!({})
    );
    for id in [4, 5] {
        let answer = raw.request(
            id,
            "resources/unsubscribe",
            json!({"uri": "note:///later/n%C3%B8te.md"}),
        );
        assert_eq!(answer["result"], json!({}));
    }
}

// ---------------------------------------------------------------- (7) session end

#[test]
fn ending_a_session_ends_its_stream_and_deletes_its_subscriptions_and_outbox() {
    let worker = streams_worker();
    let raw = Raw::start(worker, "session-end", "2025-11-25");
    for (id, uri) in [
        (1, "note:///x.md"),
        (2, "note:///y.md"),
        (3, "note:///z/%C3%BC.md"),
    ] {
        assert_eq!(raw.subscribe(id, uri)["result"], json!({}));
    }
    // An SSE reply leaves outbox rows: its opening row and its response.
    let events = raw
        .call_streamed(4, "glob", json!({"pattern": "**"}), "t")
        .rest(10);
    let (_, responses) = progress_and_response(&events);
    assert_eq!(responses.len(), 1);

    let forgotten_before = log_count(worker, "session_forgotten");
    let mut stream = SseReader::new(raw.get(None));
    stream.next().expect("a priming event");
    assert_eq!(raw.delete(), 204);
    // The stream ends with the session, not at the end of its lifetime (which says `retry`).
    let rest = stream.rest(10);
    assert!(rest.iter().all(|e| e.retry.is_none()), "{rest:?}");
    let lines = wait_for_log(worker, "session_forgotten", forgotten_before);
    let ours: Vec<&Value> = lines[forgotten_before..]
        .iter()
        .filter(|l| l["subscriptions"] == 3)
        .collect();
    assert_eq!(ours.len(), 1, "{lines:?}");
    assert!(
        ours[0]["outbox_rows"].as_u64().is_some_and(|n| n >= 2),
        "{ours:?}"
    );
    assert_eq!(raw.get(None).status().as_u16(), 404);
}
