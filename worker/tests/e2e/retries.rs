//! Retried tool calls, over raw HTTP so the test controls the JSON-RPC ids: the same request
//! (same session, same id, same arguments) sent again changes nothing more and gets the same
//! answer; the same id with other arguments, or in another session, is a new call.

use std::cell::Cell;

use serde_json::{Value, json};

use crate::local_worker::{LocalWorker, shared};
use crate::mcp::post_as;

const VERSION: &str = "2025-06-18";

/// An initialized session of `user`, spoken to with raw JSON-RPC.
struct RawSession<'w> {
    worker: &'w LocalWorker,
    user: &'static str,
    id: String,
    /// Ids for the helper's own reads, apart from the test's ids.
    reads: Cell<u64>,
}

impl<'w> RawSession<'w> {
    fn open(worker: &'w LocalWorker, user: &'static str) -> RawSession<'w> {
        let initialize = json!({
            "jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {"protocolVersion": VERSION, "capabilities": {},
                       "clientInfo": {"name": "raw-retries", "version": "1"}},
        });
        let response = send(worker, user, None, &initialize);
        assert_eq!(response.status().as_u16(), 200);
        let id = response.headers()["mcp-session-id"]
            .to_str()
            .expect("a text session id")
            .to_owned();
        let session = RawSession {
            worker,
            user,
            id,
            reads: Cell::new(0),
        };
        let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        let response = send(worker, user, Some(&session.id), &initialized);
        assert_eq!(response.status().as_u16(), 202);
        session
    }

    /// Sends `tools/call` of `tool` with JSON-RPC id `id`; the whole response body.
    fn call(&self, id: Value, tool: &str, arguments: Value) -> Value {
        let request = json!({
            "jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": tool, "arguments": arguments},
        });
        let response = send(self.worker, self.user, Some(&self.id), &request);
        assert_eq!(response.status().as_u16(), 200);
        response.json().expect("a JSON-RPC response")
    }

    /// The structured result of a call that must succeed.
    fn ok(&self, id: Value, tool: &str, arguments: Value) -> Value {
        let body = self.call(id, tool, arguments);
        assert_ne!(body["result"]["isError"], true, "{tool}: {body}");
        body["result"]["structuredContent"].clone()
    }

    /// How many versions `path` has.
    fn versions(&self, path: &str) -> usize {
        self.reads.set(self.reads.get() + 1);
        let id = json!(format!("history-{}", self.reads.get()));
        let history = self.ok(id, "history", json!({"path": path}));
        history["versions"].as_array().expect("versions").len()
    }
}

fn send(
    worker: &LocalWorker,
    user: &str,
    session: Option<&str>,
    body: &Value,
) -> reqwest::blocking::Response {
    let mut headers = vec![("mcp-protocol-version", VERSION)];
    if let Some(session) = session {
        headers.push(("mcp-session-id", session));
    }
    post_as(worker, user, &body.to_string(), &headers).1
}

#[test]
fn a_retried_write_appends_once_and_gets_the_same_answer() {
    let worker = shared();
    let session = RawSession::open(worker, "retries-write");
    let write = json!({"path": "r.md", "content": "one"});
    let first = session.call(json!(5), "write", write.clone());
    assert_eq!(
        first["result"]["structuredContent"],
        json!({"path": "r.md", "version": 1, "created": true, "size": 3})
    );
    let again = session.call(json!(5), "write", write);
    assert_eq!(again, first, "a retry gets the first answer");
    assert_eq!(session.versions("r.md"), 1);

    // The same id with other content is another call: a new version, never a fake success.
    let other = session.ok(json!(5), "write", json!({"path": "r.md", "content": "two"}));
    assert_eq!(other["version"], 2);
    assert_eq!(other["created"], false);
    // ... and the string id "5" is not the number 5.
    let string_id = session.ok(
        json!("5"),
        "write",
        json!({"path": "r.md", "content": "two"}),
    );
    assert_eq!(string_id["version"], 3);
    assert_eq!(session.versions("r.md"), 3);

    // A retry of a write with `expected_version` is not refused as a conflict with itself.
    let guarded = json!({"path": "r.md", "content": "four", "expected_version": 3});
    let first = session.call(json!("w-6"), "write", guarded.clone());
    assert_eq!(first["result"]["structuredContent"]["version"], 4);
    assert_eq!(session.call(json!("w-6"), "write", guarded), first);
    assert_eq!(session.versions("r.md"), 4);

    // Another session's request with the same id and arguments is its own call.
    let other_session = RawSession::open(worker, "retries-write");
    let elsewhere = other_session.ok(json!(5), "write", json!({"path": "r.md", "content": "one"}));
    assert_eq!(elsewhere["version"], 5);
    let read = session.ok(json!(9), "read", json!({"path": "r.md"}));
    assert_eq!(read["content"], "one");
}

#[test]
fn retried_edits_reverts_and_deletes_change_nothing_more() {
    let worker = shared();
    let session = RawSession::open(worker, "retries-edit");
    session.ok(
        json!(1),
        "write",
        json!({"path": "e.md", "content": "alpha beta"}),
    );

    // A replacement: on the retry its text is gone, but the answer is the first one.
    let replace = json!({"path": "e.md", "old_str": "alpha", "new_str": "gamma"});
    let first = session.call(json!(2), "edit", replace.clone());
    assert_eq!(first["result"]["structuredContent"]["version"], 2);
    assert_eq!(session.call(json!(2), "edit", replace), first);

    // A replacement and a move: two events, each appended once.
    let replace_and_move =
        json!({"path": "e.md", "old_str": "beta", "new_str": "delta", "new_path": "moved/e.md"});
    let first = session.call(json!(3), "edit", replace_and_move.clone());
    assert_eq!(
        first["result"]["structuredContent"],
        json!({"path": "moved/e.md", "version": 1, "deleted": false, "moved_from": "e.md"})
    );
    assert_eq!(session.call(json!(3), "edit", replace_and_move), first);
    assert_eq!(session.versions("e.md"), 4, "write, edit, edit, move away");
    assert_eq!(session.versions("moved/e.md"), 1);

    let revert = json!({"path": "e.md", "version": 1});
    let first = session.call(json!(4), "revert", revert.clone());
    assert_eq!(first["result"]["structuredContent"]["version"], 5);
    assert_eq!(session.call(json!(4), "revert", revert), first);
    assert_eq!(session.versions("e.md"), 5);

    let delete = json!({"path": "e.md", "delete": true});
    let first = session.call(json!(5), "edit", delete.clone());
    assert_eq!(first["result"]["structuredContent"]["deleted"], true);
    assert_eq!(session.call(json!(5), "edit", delete), first);
    assert_eq!(session.versions("e.md"), 6);

    // A call that was refused appended nothing: its retry is tried again, and refused again.
    let missing = json!({"path": "e.md", "old_str": "x", "new_str": "y"});
    let refused = session.call(json!(6), "edit", missing.clone());
    assert_eq!(refused["result"]["isError"], true, "{refused}");
    assert_eq!(session.call(json!(6), "edit", missing), refused);
}
