//! Limits at the edges that `mcp.rs` does not reach: a write's text just under and over the
//! 1 MB a call may carry, a body of unknown length past the body limit, and the path rules
//! through every tool that takes a path.

use std::io::Read;

use serde_json::json;

use crate::local_worker::{client, shared};
use crate::mcp::{connect, ok, refused, run};

/// The body limit of `/mcp` (`MAX_BODY_BYTES`: 2 MiB + 64 KiB).
const MAX_BODY_BYTES: usize = 2 * 1024 * 1024 + 64 * 1024;

#[test]
fn a_write_carries_at_most_1_mb_of_text() {
    let worker = shared();
    run(async {
        let client = connect(worker, "limits-write").await;
        let at_limit = "a".repeat(1_000_000);
        let written = ok(
            &client,
            "write",
            json!({"path": "big.md", "content": at_limit}),
        )
        .await;
        assert_eq!(written["size"], 1_000_000);
        // Fits the body limit, but not the per-call limit the tool promises.
        let over = "b".repeat(1_000_001);
        let message = refused(&client, "write", json!({"path": "big.md", "content": over})).await;
        assert!(
            message.contains("at most 1000000 bytes"),
            "the refusal names the limit: {message}"
        );
        let read = ok(&client, "read", json!({"path": "big.md", "max_bytes": 4})).await;
        assert_eq!(
            (read["version"].as_u64(), read["content"].as_str()),
            (Some(1), Some("aaaa"))
        );
    });
}

#[test]
fn a_body_of_unknown_length_is_cut_off_at_the_limit() {
    // Chunked (no Content-Length): the object stops reading at the limit and answers 413.
    let worker = shared();
    let pad = "x".repeat(MAX_BODY_BYTES);
    let body = format!(r#"{{"jsonrpc":"2.0","id":1,"method":"ping","params":{{"pad":"{pad}"}}}}"#);
    let reader = std::io::Cursor::new(body.into_bytes()).chain(std::io::empty());
    let response = client()
        .post(worker.url("/mcp"))
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .header("x-dev-user", "limits-chunked")
        .body(reqwest::blocking::Body::new(reader))
        .send()
        .expect("POST /mcp");
    assert_eq!(response.status().as_u16(), 413);
}

#[test]
fn every_tool_that_takes_a_path_refuses_a_bad_one() {
    let worker = shared();
    run(async {
        let client = connect(worker, "limits-paths").await;
        ok(&client, "write", json!({"path": "ok.md", "content": "x"})).await;
        let long_segment = format!("{}.md", "s".repeat(256));
        let long_path = format!("{}/x.md", ["d"; 520].join("/"));
        let bad = [
            "a\\b.md",
            "a\u{0}b.md",
            "tab\there.md",
            "a//b.md",
            "./a.md",
            "a/../b.md",
            long_segment.as_str(),
            long_path.as_str(),
        ];
        for path in bad {
            let message = refused(&client, "write", json!({"path": path, "content": "x"})).await;
            assert!(message.contains("path"), "{path:?}: {message}");
            for (tool, arguments) in [
                ("read", json!({"path": path})),
                ("history", json!({"path": path})),
                ("revert", json!({"path": path, "version": 1})),
                ("edit", json!({"path": "ok.md", "new_path": path})),
            ] {
                let message = refused(&client, tool, arguments).await;
                assert!(!message.is_empty(), "{tool} {path:?}");
            }
        }
        let listed = ok(&client, "glob", json!({"pattern": "**"})).await;
        assert_eq!(
            listed["files"].as_array().map(Vec::len),
            Some(1),
            "{listed}"
        );
    });
}
