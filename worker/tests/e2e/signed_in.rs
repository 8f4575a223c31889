//! What a signed-in user's requests meet (the local-development user is not limited): the
//! per-user limit counts JSON-RPC requests (each entry of a batch; not notifications), 100 tool
//! calls a minute fit the default limit, a read-only token reads and cannot write, and an OAuth
//! form of unknown length is cut off at its limit. Runs on `signin.rs`'s Worker (sign-in
//! through the GitHub stand-in), one allowlisted user per test.

use std::io::{Read, Write};

use serde_json::{Value, json};

use crate::signin::{
    FOR_BATCHES, FOR_READ_ONLY, FOR_TOOL_CALLS, Meter, SignIn, http, register, tokens, worker,
};

/// An access token for `login` with `scope`.
fn access_token(login: u64, scope: &str) -> String {
    let worker = worker();
    let meter = &mut Meter::default();
    let client_id = register(meter, worker);
    let verifier = format!(
        "e2e-verifier-signed-in-{login}-{}-0123456789-0123456789",
        scope.len()
    );
    let sign_in = SignIn {
        login,
        scope,
        ..SignIn::new(worker, &client_id, &verifier)
    };
    tokens(meter, worker, &sign_in)["access_token"]
        .as_str()
        .expect("an access token")
        .to_owned()
}

/// One `/mcp` session of a signed-in user, over raw HTTP.
struct Session {
    token: String,
    id: String,
    version: &'static str,
    next_id: i64,
}

impl Session {
    /// Initializes a session in `version` (its `initialize` counts; `initialized` does not).
    fn start(token: &str, version: &'static str) -> Session {
        let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": version, "capabilities": {},
            "clientInfo": {"name": "e2e signed-in", "version": "1"}}});
        let response = post(token, None, version, &init.to_string());
        assert_eq!(response.status(), 200);
        let id = response.headers()["mcp-session-id"]
            .to_str()
            .expect("ascii")
            .to_owned();
        let mut session = Session {
            token: token.to_owned(),
            id,
            version,
            next_id: 1,
        };
        let (status, _) =
            session.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        assert_eq!(status, 202);
        session
    }

    fn send(&mut self, body: &Value) -> (u16, Value) {
        let response = post(&self.token, Some(&self.id), self.version, &body.to_string());
        let status = response.status().as_u16();
        (status, response.json().unwrap_or(Value::Null))
    }

    fn request(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        json!({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params})
    }

    /// Calls `tool`; the HTTP status and the JSON-RPC reply.
    fn call(&mut self, tool: &str, arguments: Value) -> (u16, Value) {
        let request = self.request("tools/call", json!({"name": tool, "arguments": arguments}));
        self.send(&request)
    }

    /// A batch of `n` pings: the HTTP status and the reply.
    fn pings(&mut self, n: usize) -> (u16, Value) {
        let batch: Vec<Value> = (0..n).map(|_| self.request("ping", json!({}))).collect();
        self.send(&json!(batch))
    }
}

fn post(
    token: &str,
    session: Option<&str>,
    version: &str,
    body: &str,
) -> reqwest::blocking::Response {
    let mut request = http()
        .post(worker().url("/mcp"))
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {token}"))
        .body(body.to_owned());
    if let Some(session) = session {
        request = request
            .header("mcp-session-id", session)
            .header("mcp-protocol-version", version);
    }
    request.send().expect("POST /mcp")
}

fn limited(status: u16, reply: &Value) -> bool {
    status == 429 && reply["error"]["code"] == -32000
}

#[test]
fn each_request_of_a_batch_counts_and_a_batch_that_does_not_fit_runs_nothing() {
    let token = access_token(FOR_BATCHES, "notes:read notes:write");
    // 2025-03-26 sessions may batch. 1 counted so far (initialize).
    let mut session = Session::start(&token, "2025-03-26");
    let (status, reply) = session.pings(50);
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply.as_array().map(Vec::len), Some(50));
    let (status, _) = session.pings(50);
    assert_eq!(status, 200);
    // 101 counted: a batch of 20 would pass 120 a minute. It is refused whole, and counts
    // nothing: its write is not run.
    let mut batch: Vec<Value> = (0..19)
        .map(|_| session.request("ping", json!({})))
        .collect();
    batch.push(session.request(
        "tools/call",
        json!({"name": "write", "arguments": {"path": "batch.md", "content": "x"}}),
    ));
    let (status, reply) = session.send(&json!(batch));
    assert!(limited(status, &reply), "{status} {reply}");
    // Notifications do not count, even at the limit.
    let (status, _) =
        session.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
    assert_eq!(status, 202);
    // 19 still fit, exactly.
    let (status, reply) = session.pings(19);
    assert_eq!(status, 200, "{reply}");
    let ping = session.request("ping", json!({}));
    let (status, reply) = session.send(&ping);
    assert!(limited(status, &reply), "{status} {reply}");
    assert_eq!(reply["id"], ping["id"]);
    let (status, reply) = session.call("read", json!({"path": "batch.md"}));
    assert!(limited(status, &reply), "{status} {reply}");
}

#[test]
fn a_hundred_tool_calls_in_one_session_are_all_served_at_the_default_limit() {
    let token = access_token(FOR_TOOL_CALLS, "notes:read notes:write");
    let mut session = Session::start(&token, "2025-11-25");
    let list = session.request("tools/list", json!({}));
    assert_eq!(session.send(&list).0, 200);
    for n in 0..100 {
        let (status, reply) = if n % 2 == 0 {
            session.call("write", json!({"path": format!("n{n}.md"), "content": "x"}))
        } else {
            session.call("glob", json!({"pattern": "*.md"}))
        };
        assert_eq!(status, 200, "call {n}: {reply}");
        assert_eq!(reply["result"]["isError"], false, "call {n}: {reply}");
    }
    // The session's own requests still fit beside them.
    for _ in 0..5 {
        let ping = session.request("ping", json!({}));
        assert_eq!(session.send(&ping).0, 200);
    }
}

#[test]
fn a_read_only_token_reads_and_cannot_write() {
    let writer = access_token(FOR_READ_ONLY, "notes:read notes:write");
    let mut session = Session::start(&writer, "2025-11-25");
    let (_, reply) = session.call("write", json!({"path": "kept.md", "content": "kept text"}));
    assert_eq!(reply["result"]["isError"], false, "{reply}");

    let reader = access_token(FOR_READ_ONLY, "notes:read");
    let mut session = Session::start(&reader, "2025-11-25");
    let list = session.request("tools/list", json!({}));
    let (status, tools) = session.send(&list);
    assert_eq!(status, 200);
    assert_eq!(tools["result"]["tools"].as_array().map(Vec::len), Some(9));
    for (tool, arguments) in [
        ("read", json!({"path": "kept.md"})),
        ("glob", json!({"pattern": "**"})),
        ("grep", json!({"pattern": "kept"})),
        ("search", json!({"query": "kept"})),
        ("history", json!({"path": "kept.md"})),
        ("recent", json!({})),
    ] {
        let (status, reply) = session.call(tool, arguments);
        assert_eq!(status, 200, "{tool}");
        assert_eq!(reply["result"]["isError"], false, "{tool}: {reply}");
    }
    let resources = session.request("resources/list", json!({}));
    let (_, reply) = session.send(&resources);
    assert_eq!(
        reply["result"]["resources"][0]["uri"], "note:///kept.md",
        "{reply}"
    );
    for (tool, arguments) in [
        ("write", json!({"path": "kept.md", "content": "changed"})),
        (
            "edit",
            json!({"path": "kept.md", "old_str": "kept", "new_str": "lost"}),
        ),
        ("edit", json!({"path": "kept.md", "delete": true})),
        ("revert", json!({"path": "kept.md", "version": 1})),
    ] {
        let (status, reply) = session.call(tool, arguments);
        assert_eq!(status, 200, "{tool}");
        assert_eq!(reply["result"]["isError"], true, "{tool}: {reply}");
        let text = reply["result"]["content"][0]["text"]
            .as_str()
            .unwrap_or_default();
        assert!(
            text.contains("notes:write") && text.contains("Nothing was changed"),
            "{text}"
        );
    }
    let (_, reply) = session.call("read", json!({"path": "kept.md"}));
    assert_eq!(reply["result"]["content"][0]["text"], "kept text");
    assert_eq!(reply["result"]["structuredContent"]["version"], 1);
}

#[test]
fn an_oauth_form_of_unknown_length_is_cut_off_without_being_buffered() {
    // Raw HTTP/1.1: a chunked form that passes the 64 KiB limit and never ends. A server that
    // buffers the body whole before checking it never answers; one that reads it capped
    // answers 413 while the body is still open.
    let url = reqwest::Url::parse(&worker().url("/token")).expect("a URL");
    let address = format!(
        "{}:{}",
        url.host_str().expect("a host"),
        url.port().expect("a port")
    );
    let mut socket = std::net::TcpStream::connect(address).expect("connect");
    socket
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .expect("a read timeout");
    let head = "POST /token HTTP/1.1\r\nHost: 127.0.0.1\r\n\
                Content-Type: application/x-www-form-urlencoded\r\n\
                Transfer-Encoding: chunked\r\n\r\n";
    socket.write_all(head.as_bytes()).expect("the head");
    let chunk = format!("{:x}\r\n{}\r\n", 16 * 1024, "a".repeat(16 * 1024));
    for _ in 0..8 {
        socket.write_all(chunk.as_bytes()).expect("a chunk");
    }
    let mut answer = [0u8; 64];
    let read = socket
        .read(&mut answer)
        .expect("an answer before the body ended");
    let status_line = String::from_utf8_lossy(&answer[..read]);
    assert!(status_line.starts_with("HTTP/1.1 413"), "{status_line}");
}
