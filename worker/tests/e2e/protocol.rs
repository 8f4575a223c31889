//! Protocol rules over raw HTTP, as local-development users: a batch of more than 50 entries
//! is refused whole, `logging/setLevel` and the `notifications/message` it turns on, a
//! session's requests carrying any supported `MCP-Protocol-Version`, and tool results whose
//! text is written for the model.

use serde_json::{Value, json};

use crate::local_worker::{LocalWorker, shared};
use crate::mcp::post_as;

/// Initializes a session of `user` in `version`; its id.
fn session(worker: &LocalWorker, user: &str, version: &str) -> String {
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": version, "capabilities": {},
        "clientInfo": {"name": "e2e protocol", "version": "1"}}});
    let (status, response) = post_as(worker, user, &init.to_string(), &[]);
    assert_eq!(status, 200);
    let id = response.headers()["mcp-session-id"]
        .to_str()
        .expect("ascii")
        .to_owned();
    let body: Value = response.json().expect("JSON");
    assert_eq!(body["result"]["protocolVersion"], version);
    id
}

fn call(id: i64, tool: &str, arguments: Value) -> String {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
           "params": {"name": tool, "arguments": arguments}})
    .to_string()
}

#[test]
fn a_batch_of_51_is_refused_whole_and_50_are_served() {
    let worker = shared();
    let user = "protocol-batch";
    let id = session(worker, user, "2025-03-26");
    let headers = [
        ("mcp-session-id", id.as_str()),
        ("mcp-protocol-version", "2025-03-26"),
    ];
    let write = |n: usize| {
        json!({"jsonrpc": "2.0", "id": n, "method": "tools/call",
               "params": {"name": "write", "arguments": {"path": format!("b{n}.md"), "content": "x"}}})
    };
    let batch: Vec<Value> = (0..51).map(write).collect();
    let (status, response) = post_as(worker, user, &json!(batch).to_string(), &headers);
    assert_eq!(status, 400);
    let body: Value = response.json().expect("a JSON-RPC error");
    assert_eq!(body["error"]["code"], -32600);
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("at most 50") && message.contains("51"),
        "{message}"
    );
    // Nothing of it ran.
    let (_, response) = post_as(
        worker,
        user,
        &call(99, "glob", json!({"pattern": "**"})),
        &headers,
    );
    let body: Value = response.json().expect("JSON");
    assert_eq!(
        body["result"]["structuredContent"],
        Value::Null,
        "2025-03-26 has none"
    );
    assert_eq!(
        body["result"]["content"][0]["text"],
        "no notes match the pattern"
    );
    let batch: Vec<Value> = (0..50).map(write).collect();
    let (status, response) = post_as(worker, user, &json!(batch).to_string(), &headers);
    assert_eq!(status, 200);
    let replies: Vec<Value> = response.json().expect("a batch reply");
    assert_eq!(replies.len(), 50);
    assert!(
        replies
            .iter()
            .all(|reply| reply["result"]["isError"] == false)
    );
}

#[test]
fn logging_set_level_turns_on_messages_at_that_level() {
    let worker = shared();
    let user = "protocol-logging";
    let id = session(worker, user, "2025-11-25");
    let headers = [
        ("mcp-session-id", id.as_str()),
        ("mcp-protocol-version", "2025-11-25"),
    ];
    let (_, response) = post_as(
        worker,
        user,
        &call(
            2,
            "write",
            json!({"path": "long.md", "content": "0123456789"}),
        ),
        &headers,
    );
    assert_eq!(response.status(), 200);
    let truncated_read = |id: i64| call(id, "read", json!({"path": "long.md", "max_bytes": 4}));
    // Before setLevel: no log messages, a plain JSON reply.
    let (_, response) = post_as(worker, user, &truncated_read(3), &headers);
    assert_eq!(response.headers()["content-type"], "application/json");
    // A level that does not exist is -32602; a real one is accepted.
    let set = |id: i64, level: &str| {
        json!({"jsonrpc": "2.0", "id": id, "method": "logging/setLevel", "params": {"level": level}})
            .to_string()
    };
    let (_, response) = post_as(worker, user, &set(4, "loud"), &headers);
    let body: Value = response.json().expect("JSON");
    assert_eq!(body["error"]["code"], -32602, "{body}");
    let (_, response) = post_as(worker, user, &set(5, "error"), &headers);
    let body: Value = response.json().expect("JSON");
    assert_eq!(body["result"], json!({}), "{body}");
    // At `error`, the truncation warning is below the level: still plain JSON.
    let (_, response) = post_as(worker, user, &truncated_read(6), &headers);
    assert_eq!(response.headers()["content-type"], "application/json");
    // At `warning`, the warning comes first on an SSE reply, then the result.
    post_as(worker, user, &set(7, "warning"), &headers);
    let (status, response) = post_as(worker, user, &truncated_read(8), &headers);
    assert_eq!(status, 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let text = response.text().expect("an SSE body");
    let messages: Vec<Value> = text
        .lines()
        .filter_map(|line| line.strip_prefix("data: "))
        .map(|data| serde_json::from_str(data).expect("JSON data"))
        .collect();
    assert_eq!(messages.len(), 2, "{text}");
    assert_eq!(messages[0]["method"], "notifications/message");
    assert_eq!(messages[0]["params"]["level"], "warning");
    assert!(
        messages[0]["params"]["data"]
            .as_str()
            .is_some_and(|data| data.contains("truncated")),
        "{text}"
    );
    assert_eq!(messages[1]["id"], 8);
    assert_eq!(messages[1]["result"]["content"][0]["text"], "0123");
    assert_eq!(
        messages[1]["result"]["structuredContent"]["truncated"],
        true
    );
}

#[test]
fn a_sessions_requests_may_carry_any_supported_protocol_version() {
    let worker = shared();
    let user = "protocol-version";
    let id = session(worker, user, "2025-11-25");
    let list = r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#;
    let replies: Vec<(u16, Value)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..3)
            .map(|_| {
                let id = id.as_str();
                scope.spawn(move || {
                    let headers = [
                        ("mcp-session-id", id),
                        ("mcp-protocol-version", "2025-03-26"),
                    ];
                    let (status, response) = post_as(worker, user, list, &headers);
                    (status, response.json().unwrap_or(Value::Null))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a thread"))
            .collect()
    });
    for (status, body) in replies {
        assert_eq!(status, 200, "{body}");
        // Served as the session's 2025-11-25: tools have titles and output schemas.
        assert!(
            body["result"]["tools"][0]["outputSchema"].is_object(),
            "{body}"
        );
    }
    // A version we do not speak is still 400.
    let headers = [
        ("mcp-session-id", id.as_str()),
        ("mcp-protocol-version", "1999-01-01"),
    ];
    assert_eq!(post_as(worker, user, list, &headers).0, 400);
}

#[test]
fn tool_text_is_written_for_the_model() {
    let worker = shared();
    let user = "protocol-text";
    let id = session(worker, user, "2025-11-25");
    let headers = [
        ("mcp-session-id", id.as_str()),
        ("mcp-protocol-version", "2025-11-25"),
    ];
    let note = "# Plan\n\n- \"quoted\" item\n- todo: ship\n";
    post_as(
        worker,
        user,
        &call(2, "write", json!({"path": "plan.md", "content": note})),
        &headers,
    );
    let result = |id: i64, tool: &str, arguments: Value| -> Value {
        let (status, response) = post_as(worker, user, &call(id, tool, arguments), &headers);
        assert_eq!(status, 200);
        let body: Value = response.json().expect("JSON");
        body["result"].clone()
    };
    let read = result(3, "read", json!({"path": "plan.md"}));
    assert_eq!(read["content"][0]["text"], note);
    assert_eq!(read["structuredContent"]["content"], note);
    assert_eq!(read["structuredContent"]["version"], 1);
    let glob = result(4, "glob", json!({"pattern": "*.md"}));
    let text = glob["content"][0]["text"].as_str().unwrap_or_default();
    assert!(text.starts_with("plan.md (v1, "), "{text}");
    assert_eq!(glob["structuredContent"]["files"][0]["path"], "plan.md");
    let grep = result(5, "grep", json!({"pattern": "todo"}));
    let text = grep["content"][0]["text"].as_str().unwrap_or_default();
    assert!(text.starts_with("plan.md:4: - todo: ship"), "{text}");
}
