//! Hostile patterns (issue 11): glob patterns and grep's `path` glob that a backtracking or
//! brace-expanding matcher takes exponential time on, and grep expressions past the size
//! limits, each answered with a result or a tool error naming the limit, while another
//! session of the same user is served. (No timings are asserted: the figures are in
//! `docs/benchmarks.md`, "Hostile patterns".)

use serde_json::{Value, json};

use crate::local_worker::shared;
use crate::mcp::{Client, call, connect, ok, refused, run, text};

/// Issue 11's pattern: eight brace groups of ten empty alternatives, then `x`.
fn issue_pattern() -> String {
    format!("{}x", "{,,,,,,,,,}".repeat(8))
}

/// Paths of the files a glob result lists.
fn paths(listed: &Value) -> Vec<&str> {
    listed["files"]
        .as_array()
        .map(|files| files.iter().filter_map(|f| f["path"].as_str()).collect())
        .unwrap_or_default()
}

async fn glob_and_grep_the_issue_pattern(client: &Client) {
    let pattern = issue_pattern();
    let listed = ok(client, "glob", json!({"pattern": pattern})).await;
    assert_eq!(paths(&listed), ["x"], "{listed}");
    let found = ok(client, "grep", json!({"pattern": "marks", "path": pattern})).await;
    let matches = found["matches"].as_array().expect("matches");
    assert_eq!(matches.len(), 1, "{found}");
    assert_eq!(matches[0]["path"], "x");
}

#[test]
fn the_brace_pattern_is_answered_while_another_session_is_served() {
    let worker = shared();
    run(async {
        let user = "hostile-braces";
        let first = connect(worker, user).await;
        let second = connect(worker, user).await;
        ok(
            &first,
            "write",
            json!({"path": "x", "content": "x marks the spot"}),
        )
        .await;
        ok(
            &first,
            "write",
            json!({"path": "notes/garden.md", "content": "tomatoes"}),
        )
        .await;
        // The hostile calls and the other session's calls are in flight together.
        let other = async {
            for _ in 0..3 {
                let read = ok(&second, "read", json!({"path": "notes/garden.md"})).await;
                assert_eq!(read["version"], 1);
                let listed = ok(&second, "glob", json!({"pattern": "**"})).await;
                assert_eq!(paths(&listed), ["notes/garden.md", "x"]);
            }
        };
        tokio::join!(glob_and_grep_the_issue_pattern(&first), other);
    });
}

#[test]
fn every_hostile_pattern_gets_a_result_or_names_its_limit() {
    let worker = shared();
    run(async {
        let client = connect(worker, "hostile-catalogue").await;
        ok(
            &client,
            "write",
            json!({"path": "a/b.md", "content": "aaaa b\nx=1"}),
        )
        .await;
        for (name, pattern) in engine::hostile::globs() {
            let listed = ok(&client, "glob", json!({"pattern": pattern})).await;
            assert!(listed["files"].is_array(), "{name}: {listed}");
            let found = ok(&client, "grep", json!({"pattern": "a", "path": pattern})).await;
            assert!(found["matches"].is_array(), "{name}: {found}");
        }
        for (name, pattern) in engine::hostile::refused_globs() {
            for (tool, arguments) in [
                ("glob", json!({"pattern": pattern})),
                ("grep", json!({"pattern": "a", "path": pattern})),
            ] {
                if tool == "grep" && !pattern.contains(['*', '?', '[', '{']) {
                    continue; // Not a glob to grep: the path of one note.
                }
                let message = refused(&client, tool, arguments).await;
                assert!(message.contains("the limit is"), "{tool} {name}: {message}");
            }
        }
        for (name, pattern) in engine::hostile::regexes() {
            let result = call(&client, "grep", json!({"pattern": pattern})).await;
            assert_ne!(result.is_error, Some(true), "{name}: {}", text(&result));
        }
        for (name, pattern) in engine::hostile::refused_regexes() {
            let message = refused(&client, "grep", json!({"pattern": pattern})).await;
            assert!(message.contains("the limit"), "{name}: {message}");
        }
    });
}

#[test]
fn grep_past_its_byte_budget_ends_the_page_with_a_cursor_and_goes_on() {
    let worker = shared();
    run(async {
        let client = connect(worker, "hostile-budget").await;
        // A pattern of 128 KiB compiled searches 1 KiB a call: a note of 40 lines of 30
        // bytes is searched over two calls or more, resuming inside the note.
        let line = format!("{}\n", "b".repeat(28) + "y");
        let content = line.repeat(40);
        ok(
            &client,
            "write",
            json!({"path": "long.md", "content": content}),
        )
        .await;
        let pattern = "(a?){500}a{500}|y";
        let mut lines = Vec::new();
        let mut cursor: Option<String> = None;
        let mut calls = 0;
        loop {
            calls += 1;
            assert!(calls <= 100, "paging ends");
            let mut arguments = json!({"pattern": pattern, "max_matches": 1000});
            if let Some(cursor) = &cursor {
                arguments["cursor"] = json!(cursor);
            }
            let found = ok(&client, "grep", arguments).await;
            lines.extend(
                found["matches"]
                    .as_array()
                    .expect("matches")
                    .iter()
                    .filter_map(|m| m["line"].as_u64()),
            );
            match found["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }
        assert!(calls > 1, "the budget ended at least one page early");
        assert_eq!(
            lines,
            (1..=40).collect::<Vec<u64>>(),
            "every line once, in order"
        );
    });
}
