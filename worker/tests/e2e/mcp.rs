//! `/mcp` end to end: the official Rust SDK's client (rmcp, streamable HTTP) against the real
//! Worker in workerd, notes in the user's Durable Object and R2; plus raw HTTP for the
//! transport's refusals.
//!
//! Every test names its own user (`X-Dev-User`), so each works on its own Durable Object.

use std::collections::BTreeSet;
use std::future::Future;
use std::time::Duration;

use rmcp::model::{CallToolRequestParams, CallToolResult, ClientConfig, ProtocolVersion};
use rmcp::service::RunningService;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{ClientLifecycleMode, ClientServiceExt, Peer, RoleClient, ServiceExt};
use second_brain_worker::mcp::tool_schemas;
use second_brain_worker::mcp::tools::ToolName;
use serde_json::{Value, json};

use crate::local_worker::{LocalWorker, Options, client, shared};

/// How long one test's MCP conversation may take.
const TEST_TIMEOUT: Duration = Duration::from_secs(120);

pub(crate) type Client = RunningService<RoleClient, ClientConfig>;

/// Runs `test` on a small tokio runtime, bounded by [`TEST_TIMEOUT`]. Start workers (and
/// call `shared()`) before: their start-up uses a blocking client, which must not run inside
/// the runtime.
pub(crate) fn run<F: Future<Output = ()>>(test: F) {
    run_within(TEST_TIMEOUT, test);
}

/// [`run`] bounded by `limit` instead (a conversation whose size a test is told).
pub(crate) fn run_within<F: Future<Output = ()>>(limit: Duration, test: F) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime
        .block_on(async { tokio::time::timeout(limit, test).await })
        .expect("the test finished in time");
}

/// An initialized MCP client for `user`.
pub(crate) async fn connect(worker: &LocalWorker, user: &str) -> Client {
    let mut config = StreamableHttpClientTransportConfig::with_uri(worker.url("/mcp"));
    config.custom_headers.insert(
        "x-dev-user".parse().expect("a header name"),
        user.parse().expect("a header value"),
    );
    let transport = StreamableHttpClientTransport::from_config(config);
    ClientConfig::default()
        .serve(transport)
        .await
        .expect("initialize succeeds")
}

/// Calls `tool` with `arguments`.
pub(crate) async fn call(
    client: &Peer<RoleClient>,
    tool: &'static str,
    arguments: Value,
) -> CallToolResult {
    let Value::Object(arguments) = arguments else {
        panic!("arguments must be an object");
    };
    client
        .call_tool(CallToolRequestParams::new(tool).with_arguments(arguments))
        .await
        .unwrap_or_else(|err| panic!("{tool}: the call failed at the protocol level: {err}"))
}

/// Calls `tool` and returns its structured result, failing on an `isError` result or on a
/// result that does not match the tool's output schema.
pub(crate) async fn ok(client: &Peer<RoleClient>, tool: &'static str, arguments: Value) -> Value {
    let result = call(client, tool, arguments).await;
    assert_ne!(result.is_error, Some(true), "{tool}: {}", text(&result));
    let structured = result
        .structured_content
        .unwrap_or_else(|| panic!("{tool}: no structuredContent"));
    let name = ToolName::parse(tool).expect("a tool we serve");
    let schema = tool_schemas::spec(name).output;
    let validator = jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(&schema)
        .expect("the output schema compiles");
    if let Err(error) = validator.validate(&structured) {
        panic!("{tool}: the result does not match its output schema: {error}\n{structured:#}");
    }
    structured
}

/// Calls `tool`, expects an `isError` result, and returns its text.
pub(crate) async fn refused(
    client: &Peer<RoleClient>,
    tool: &'static str,
    arguments: Value,
) -> String {
    let result = call(client, tool, arguments).await;
    assert_eq!(result.is_error, Some(true), "{tool} succeeded: {result:?}");
    text(&result)
}

pub(crate) fn text(result: &CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|block| block.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn initialize_negotiates_a_version_and_names_the_server() {
    let worker = shared();
    run(async {
        let client = connect(worker, "init").await;
        let info = client.peer_info().expect("the server answered initialize");
        assert_eq!(info.protocol_version.to_string(), "2025-11-25");
        let server = info.server_info.as_ref().expect("serverInfo");
        assert_eq!(server.name, "second-brain");
        assert_eq!(server.version, env!("CARGO_PKG_VERSION"));
        assert!(info.capabilities.tools.is_some(), "{info:?}");
        assert!(
            info.instructions
                .as_deref()
                .is_some_and(|i| i.contains("history"))
        );
        client.cancel().await.expect("the client closes");
    });
}

#[test]
fn a_stateless_client_discovers_and_calls_tools_without_a_session() {
    let worker = shared();
    run(async {
        let mut config = StreamableHttpClientTransportConfig::with_uri(worker.url("/mcp"));
        config.custom_headers.insert(
            "x-dev-user".parse().expect("a header name"),
            "stateless".parse().expect("a header value"),
        );
        let transport = StreamableHttpClientTransport::from_config(config);
        let client = ClientConfig::default()
            .serve_with_lifecycle(
                transport,
                ClientLifecycleMode::Discover {
                    preferred_versions: vec![ProtocolVersion::V_2026_07_28],
                },
            )
            .await
            .expect("server/discover succeeds");
        let info = client
            .peer_info()
            .expect("the server answered server/discover");
        assert_eq!(info.protocol_version, ProtocolVersion::V_2026_07_28);
        ok(
            &client,
            "write",
            json!({"path": "s.md", "content": "stateless"}),
        )
        .await;
        let read = ok(&client, "read", json!({"path": "s.md"})).await;
        assert_eq!(read["content"], "stateless");
    });
}

#[test]
fn tools_list_gives_every_tool_with_its_schemas() {
    let worker = shared();
    run(async {
        let client = connect(worker, "tools-list").await;
        let tools = client.list_all_tools().await.expect("tools/list");
        let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
        assert_eq!(
            names,
            [
                "read", "write", "edit", "glob", "grep", "search", "history", "revert", "recent"
            ]
        );
        for tool in &tools {
            assert_eq!(
                tool.input_schema.get("type"),
                Some(&json!("object")),
                "{}",
                tool.name
            );
            let output = tool.output_schema.as_ref().expect("an output schema");
            assert_eq!(output.get("type"), Some(&json!("object")), "{}", tool.name);
            assert!(tool.description.is_some(), "{}", tool.name);
        }
    });
}

#[test]
fn write_read_edit_history_and_revert() {
    let worker = shared();
    run(async {
        let client = connect(worker, "notes").await;
        let written = ok(
            &client,
            "write",
            json!({"path": "ideas/plan.md", "content": "# Plan\nship the slice\n"}),
        )
        .await;
        assert_eq!(
            written,
            json!({"path": "ideas/plan.md", "version": 1, "created": true, "size": 22})
        );
        let read = ok(&client, "read", json!({"path": "ideas/plan.md"})).await;
        assert_eq!(read["content"], "# Plan\nship the slice\n");
        assert_eq!(read["version"], 1);
        assert_eq!(read["total_lines"], 2);

        let edited = ok(
            &client,
            "edit",
            json!({"path": "ideas/plan.md", "old_str": "the slice", "new_str": "it all"}),
        )
        .await;
        assert_eq!(edited["version"], 2);
        let read = ok(&client, "read", json!({"path": "ideas/plan.md"})).await;
        assert_eq!(read["content"], "# Plan\nship it all\n");
        let first = ok(
            &client,
            "read",
            json!({"path": "ideas/plan.md", "version": 1}),
        )
        .await;
        assert_eq!(first["content"], "# Plan\nship the slice\n");
        let line = ok(
            &client,
            "read",
            json!({"path": "ideas/plan.md", "range": [2, 2]}),
        )
        .await;
        assert_eq!(line["content"], "ship it all\n");

        let missing = refused(
            &client,
            "edit",
            json!({"path": "ideas/plan.md", "old_str": "absent", "new_str": "x"}),
        )
        .await;
        assert!(missing.contains("not found"), "{missing}");

        let moved = ok(
            &client,
            "edit",
            json!({"path": "ideas/plan.md", "new_path": "done/plan.md"}),
        )
        .await;
        assert_eq!(moved["path"], "done/plan.md");
        assert_eq!(moved["moved_from"], "ideas/plan.md");
        let gone = refused(&client, "read", json!({"path": "ideas/plan.md"})).await;
        assert!(gone.contains("no such note"), "{gone}");

        let history = ok(&client, "history", json!({"path": "ideas/plan.md"})).await;
        let changes: Vec<&str> = history["versions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["change"].as_str().unwrap())
            .collect();
        assert_eq!(changes, ["move", "edit", "write"]);

        let reverted = ok(
            &client,
            "revert",
            json!({"path": "ideas/plan.md", "version": 1}),
        )
        .await;
        assert_eq!(
            reverted,
            json!({"path": "ideas/plan.md", "version": 4, "reverted_to": 1})
        );
        let back = ok(&client, "read", json!({"path": "ideas/plan.md"})).await;
        assert_eq!(back["content"], "# Plan\nship the slice\n");

        let deleted = ok(
            &client,
            "edit",
            json!({"path": "done/plan.md", "delete": true}),
        )
        .await;
        assert_eq!(deleted["deleted"], true);
        let recent = ok(&client, "recent", json!({})).await;
        let paths: Vec<&str> = recent["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["path"].as_str().unwrap())
            .collect();
        assert_eq!(paths, ["ideas/plan.md"]);
    });
}

#[test]
fn glob_pages_list_every_note_exactly_once() {
    const NOTES: usize = 240;
    let worker = shared();
    run(async {
        let client = connect(worker, "glob-pages").await;
        let mut expected = BTreeSet::new();
        for i in 0..NOTES {
            let path = format!("pages/{:02}/note-{i:04}.md", i % 7);
            ok(
                &client,
                "write",
                json!({"path": path, "content": format!("note {i}")}),
            )
            .await;
            expected.insert(path);
        }
        ok(
            &client,
            "write",
            json!({"path": "elsewhere.md", "content": "not listed"}),
        )
        .await;

        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..NOTES {
            let mut arguments = json!({"pattern": "pages/**/*.md", "limit": 9});
            if let Some(cursor) = &cursor {
                arguments["cursor"] = json!(cursor);
            }
            let page = ok(&client, "glob", arguments).await;
            let files = page["files"].as_array().unwrap();
            assert!(files.len() <= 9);
            seen.extend(files.iter().map(|f| f["path"].as_str().unwrap().to_owned()));
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }
        let unique: BTreeSet<String> = seen.iter().cloned().collect();
        assert_eq!(unique.len(), seen.len(), "a note was listed twice");
        assert_eq!(unique, expected);
    });
}

#[test]
fn search_finds_a_written_note() {
    let worker = shared();
    run(async {
        let client = connect(worker, "search").await;
        ok(
            &client,
            "write",
            json!({"path": "garden/tomatoes.md", "content": "Water the heirloom tomatoes daily."}),
        )
        .await;
        ok(
            &client,
            "write",
            json!({"path": "garden/roses.md", "content": "Prune in spring."}),
        )
        .await;
        let found = ok(&client, "search", json!({"query": "heirloom"})).await;
        let results = found["results"].as_array().unwrap();
        assert_eq!(results.len(), 1, "{found}");
        assert_eq!(results[0]["path"], "garden/tomatoes.md");
        assert!(results[0]["snippet"].as_str().unwrap().contains("heirloom"));
        assert_eq!(found["next_cursor"], Value::Null);
    });
}

#[test]
fn grep_finds_lines_with_context_and_says_when_it_stopped() {
    let worker = shared();
    run(async {
        let client = connect(worker, "grep").await;
        for (path, content) in [
            ("log/a.md", "alpha\nTODO: one\nbeta"),
            ("log/b.md", "TODO: two\nTODO: three"),
            ("other.md", "todo: elsewhere"),
        ] {
            ok(&client, "write", json!({"path": path, "content": content})).await;
        }
        let found = ok(
            &client,
            "grep",
            json!({"pattern": "TODO", "path": "log/**", "context_lines": 1}),
        )
        .await;
        assert_eq!(found["truncated"], false);
        let matches = found["matches"].as_array().unwrap();
        assert_eq!(matches.len(), 3, "{found}");
        assert_eq!(
            matches[0],
            json!({"path": "log/a.md", "line": 2, "text": "TODO: one",
                   "before": ["alpha"], "after": ["beta"]})
        );
        let first_two = ok(
            &client,
            "grep",
            json!({"pattern": "TODO", "max_matches": 2}),
        )
        .await;
        assert_eq!(first_two["matches"].as_array().unwrap().len(), 2);
        assert_eq!(first_two["truncated"], true);
        let one = ok(
            &client,
            "grep",
            json!({"pattern": "(?i)todo", "path": "other.md"}),
        )
        .await;
        assert_eq!(one["matches"][0]["text"], "todo: elsewhere");
        let bad = refused(&client, "grep", json!({"pattern": "("})).await;
        assert!(bad.contains("invalid regular expression"), "{bad}");
    });
}

#[test]
fn a_stale_expected_version_is_a_tool_error() {
    let worker = shared();
    run(async {
        let client = connect(worker, "conflict").await;
        ok(&client, "write", json!({"path": "a.md", "content": "one"})).await;
        ok(
            &client,
            "write",
            json!({"path": "a.md", "content": "two", "expected_version": 1}),
        )
        .await;
        let message = refused(
            &client,
            "write",
            json!({"path": "a.md", "content": "three", "expected_version": 1}),
        )
        .await;
        assert!(message.contains("version 2, not 1"), "{message}");
        let message = refused(
            &client,
            "write",
            json!({"path": "a.md", "content": "new", "expected_version": 0}),
        )
        .await;
        assert!(message.contains("not 0"), "{message}");
        let read = ok(&client, "read", json!({"path": "a.md"})).await;
        assert_eq!(read["content"], "two");
    });
}

#[test]
fn an_invalid_path_is_a_tool_error() {
    let worker = shared();
    run(async {
        let client = connect(worker, "bad-path").await;
        for path in ["/etc/passwd", "../up.md", "notes/"] {
            let message = refused(&client, "write", json!({"path": path, "content": "x"})).await;
            assert!(!message.is_empty(), "{path}");
        }
        let message = refused(&client, "write", json!({"path": 7, "content": "x"})).await;
        assert!(message.contains("\"path\" must be a string"), "{message}");
    });
}

#[test]
fn notes_survive_a_worker_restart() {
    let worker = LocalWorker::start(Options::default());
    run(async {
        let client = connect(&worker, "restart").await;
        for i in 0..5 {
            ok(
                &client,
                "write",
                json!({"path": format!("kept/{i}.md"), "content": format!("kept note {i} walrus")}),
            )
            .await;
        }
        ok(
            &client,
            "edit",
            json!({"path": "kept/0.md", "old_str": "walrus", "new_str": "narwhal"}),
        )
        .await;
        client.cancel().await.expect("the client closes");
    });
    let worker = worker.restart();
    run(async {
        let client = connect(&worker, "restart").await;
        let read = ok(&client, "read", json!({"path": "kept/0.md"})).await;
        assert_eq!(read["content"], "kept note 0 narwhal");
        assert_eq!(read["version"], 2);
        let listed = ok(&client, "glob", json!({"pattern": "kept/*.md"})).await;
        assert_eq!(listed["files"].as_array().unwrap().len(), 5);
        let found = ok(&client, "search", json!({"query": "walrus", "limit": 50})).await;
        assert_eq!(found["results"].as_array().unwrap().len(), 4, "{found}");
        let history = ok(&client, "history", json!({"path": "kept/0.md"})).await;
        assert_eq!(history["versions"].as_array().unwrap().len(), 2);
    });
}

/// Pages through `query`'s hits 50 at a time; every path, each asserted to come once.
async fn every_hit(client: &Client, query: &str, most: usize) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut cursor: Option<String> = None;
    for _ in 0..most {
        let mut arguments = json!({"query": query, "limit": 50});
        if let Some(cursor) = &cursor {
            arguments["cursor"] = json!(cursor);
        }
        let page = ok(client, "search", arguments).await;
        for hit in page["results"].as_array().unwrap() {
            assert!(
                seen.insert(hit["path"].as_str().unwrap().to_owned()),
                "{hit}"
            );
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    seen
}

#[test]
fn the_search_index_survives_a_restart_and_a_lost_one_fills_in_steps() {
    // More notes than one search call indexes (500), so the first search after the index is
    // lost refuses and says how far it got, and the next one answers from every note.
    const NOTES: usize = 520;
    let worker = LocalWorker::start(Options::default());
    run(async {
        let client = connect(&worker, "reindex").await;
        let paths: Vec<String> = (0..NOTES).map(|i| format!("many/{i:04}.md")).collect();
        for chunk in paths.chunks(10) {
            let writes = chunk.iter().map(|path| {
                let content = format!("{path} mentions the marmot");
                ok(&client, "write", json!({"path": path, "content": content}))
            });
            futures::future::join_all(writes).await;
        }
    });
    let worker = worker.restart();
    run(async {
        // The index is the object's SQLite tables: it answers at once after a restart.
        let client = connect(&worker, "reindex").await;
        assert_eq!(every_hit(&client, "marmot", NOTES).await.len(), NOTES);
    });
    crate::archive::dev_delete(&worker, "reindex", "search=1");
    run(async {
        let client = connect(&worker, "reindex").await;
        let message = refused(&client, "search", json!({"query": "marmot"})).await;
        assert!(
            message.contains("500 indexed") && message.contains("20 still waiting"),
            "{message}"
        );
        assert_eq!(every_hit(&client, "marmot", NOTES).await.len(), NOTES);
    });
    // Without any search, the alarm indexes in steps.
    let steps_before = worker
        .json_log_lines()
        .iter()
        .filter(|line| line["msg"] == "index_step")
        .count();
    crate::archive::dev_delete(&worker, "reindex", "search=1");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let finished = loop {
        let steps = wait_for_log(&worker, "index_step", steps_before);
        let done = steps[steps_before.min(steps.len())..]
            .iter()
            .any(|step| step["waiting"] == 0);
        if done || std::time::Instant::now() > deadline {
            break done;
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    assert!(
        finished,
        "background indexing did not finish:\n{}",
        worker.log()
    );
    run(async {
        let client = connect(&worker, "reindex").await;
        let page = ok(&client, "search", json!({"query": "marmot", "limit": 50})).await;
        assert_eq!(page["results"].as_array().unwrap().len(), 50);
    });
    // The writes and the indexing left changes for the index's upkeep, which the alarm ran.
    let maintained = wait_for_log(&worker, "search_maintained", 0);
    assert!(!maintained.is_empty(), "{}", worker.log());
}

/// Waits (bounded) for the Worker to log a line with `msg`, and returns the last such line.
pub(crate) fn wait_for_log(worker: &LocalWorker, msg: &str, more_than: usize) -> Vec<Value> {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let lines: Vec<Value> = worker
            .json_log_lines()
            .into_iter()
            .filter(|line| line["msg"] == msg)
            .collect();
        if lines.len() > more_than || std::time::Instant::now() > deadline {
            return lines;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_snapshot_is_uploaded_and_a_restart_starts_from_it() {
    let mut options = Options::default();
    options.vars.push(("DEV_SNAPSHOT_EVERY_EVENTS", "5"));
    let worker = LocalWorker::start(options);
    run(async {
        let client = connect(&worker, "snapshots").await;
        for i in 0..8 {
            let note = json!({"path": format!("before/{i}.md"), "content": format!("before {i}")});
            ok(&client, "write", note).await;
        }
    });
    let uploaded = wait_for_log(&worker, "snapshot_uploaded", 0);
    assert!(
        !uploaded.is_empty(),
        "no snapshot was uploaded:\n{}",
        worker.log()
    );
    assert!(
        uploaded[0]["seq"].as_u64().is_some_and(|seq| seq >= 5),
        "{uploaded:?}"
    );
    run(async {
        let client = connect(&worker, "snapshots").await;
        ok(
            &client,
            "write",
            json!({"path": "after.md", "content": "after"}),
        )
        .await;
    });
    let opened_before = wait_for_log(&worker, "store_opened", 0).len();
    let worker = worker.restart();
    run(async {
        let client = connect(&worker, "snapshots").await;
        let read = ok(&client, "read", json!({"path": "before/3.md"})).await;
        assert_eq!(read["content"], "before 3");
        let read = ok(&client, "read", json!({"path": "after.md"})).await;
        assert_eq!(read["content"], "after");
    });
    let opened = wait_for_log(&worker, "store_opened", opened_before);
    let last = opened
        .last()
        .expect("the store was opened after the restart");
    assert!(
        last["snapshot_seq"].as_u64().is_some_and(|seq| seq >= 5),
        "{last}"
    );
    assert!(last["replayed"].as_u64().is_some_and(|n| n >= 1), "{last}");
}

/// Figures, not a check: tools/call latency for write and read through the whole stack (rmcp
/// client, wrangler dev, front Worker, Durable Object, SQLite, R2), one client, loopback.
/// Run with `cargo test -p second-brain-worker --test e2e -- --ignored --nocapture latency`.
#[test]
#[ignore = "a measurement; run by hand"]
fn latency_of_tool_calls() {
    const CALLS: usize = 200;
    fn summary(name: &str, mut ms: Vec<f64>) {
        ms.sort_by(f64::total_cmp);
        let at = |q: f64| ms[((ms.len() as f64 - 1.0) * q).round() as usize];
        println!(
            "{name}: n={} p50={:.1} ms p90={:.1} ms p99={:.1} ms max={:.1} ms",
            ms.len(),
            at(0.5),
            at(0.9),
            at(0.99),
            at(1.0)
        );
    }
    let worker = shared();
    run(async {
        let client = connect(worker, "latency").await;
        let content = "x".repeat(1_000);
        let (mut writes, mut reads) = (Vec::new(), Vec::new());
        for i in 0..CALLS {
            let path = format!("bench/{}.md", i % 20);
            let started = std::time::Instant::now();
            ok(&client, "write", json!({"path": path, "content": content})).await;
            writes.push(started.elapsed().as_secs_f64() * 1000.0);
            let started = std::time::Instant::now();
            ok(&client, "read", json!({"path": path})).await;
            reads.push(started.elapsed().as_secs_f64() * 1000.0);
        }
        summary("tools/call write (1 KB), client round trip", writes);
        summary("tools/call read (1 KB), client round trip", reads);
    });
    // Where the time goes: the object's own time per tool call, and the front Worker's per
    // request, from the Worker's log lines (whole milliseconds).
    let lines = worker.json_log_lines();
    for tool in ["write", "read"] {
        let ms = lines
            .iter()
            .filter(|l| l["msg"] == "tool_call" && l["tool"] == tool)
            .filter_map(|l| l["duration_ms"].as_f64())
            .collect();
        summary(&format!("{tool}: time in the Durable Object"), ms);
    }
    let ms = lines
        .iter()
        .filter(|l| l["msg"] == "request" && l["route"] == "/mcp")
        .filter_map(|l| l["duration_ms"].as_f64())
        .collect();
    summary("/mcp: time in the front Worker", ms);
}

// ---------------------------------------------------------------- raw HTTP

/// A POST to `/mcp` as the user `raw-http`, with the headers a client must send plus `extra`.
fn post(
    worker: &LocalWorker,
    body: &str,
    extra: &[(&str, &str)],
) -> (u16, reqwest::blocking::Response) {
    post_as(worker, "raw-http", body, extra)
}

/// A POST to `/mcp` as `user`.
pub(crate) fn post_as(
    worker: &LocalWorker,
    user: &str,
    body: &str,
    extra: &[(&str, &str)],
) -> (u16, reqwest::blocking::Response) {
    let mut request = client()
        .post(worker.url("/mcp"))
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .header("x-dev-user", user)
        .body(body.to_owned());
    for (name, value) in extra {
        request = request.header(*name, *value);
    }
    let response = request.send().expect("POST /mcp");
    (response.status().as_u16(), response)
}

const INITIALIZE: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}"#;
const PING: &str = r#"{"jsonrpc":"2.0","id":2,"method":"ping"}"#;

/// Starts a session and returns its id.
fn session(worker: &LocalWorker) -> String {
    let (status, response) = post(worker, INITIALIZE, &[]);
    assert_eq!(status, 200);
    let id = response.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let body: Value = response.json().unwrap();
    assert_eq!(body["result"]["protocolVersion"], "2025-06-18");
    id
}

fn error_code(response: reqwest::blocking::Response) -> i64 {
    let body: Value = response.json().expect("a JSON-RPC error body");
    body["error"]["code"].as_i64().expect("an error code")
}

#[test]
fn a_request_without_a_session_id_is_400() {
    let (status, response) = post(shared(), PING, &[]);
    assert_eq!(status, 400);
    assert_eq!(error_code(response), -32600);
}

#[test]
fn an_unknown_session_is_404() {
    let (status, _) = post(shared(), PING, &[("mcp-session-id", "no-such-session")]);
    assert_eq!(status, 404);
}

#[test]
fn a_deleted_session_is_404_afterwards() {
    let worker = shared();
    let id = session(worker);
    let (status, response) = post(worker, PING, &[("mcp-session-id", &id)]);
    assert_eq!(status, 200);
    let body: Value = response.json().unwrap();
    assert_eq!(body, json!({"jsonrpc": "2.0", "id": 2, "result": {}}));
    let deleted = client()
        .delete(worker.url("/mcp"))
        .header("mcp-session-id", &id)
        .header("x-dev-user", "raw-http")
        .send()
        .unwrap();
    assert_eq!(deleted.status().as_u16(), 204);
    let (status, _) = post(worker, PING, &[("mcp-session-id", &id)]);
    assert_eq!(status, 404);
}

#[test]
fn a_session_is_bound_to_its_user() {
    let worker = shared();
    let id = session(worker);
    let (status, _) = post_as(worker, "someone-else", PING, &[("mcp-session-id", &id)]);
    assert_eq!(
        status, 404,
        "another user's object does not know the session"
    );
}

#[test]
fn notifications_are_accepted_with_202() {
    let worker = shared();
    let id = session(worker);
    let (status, response) = post(
        worker,
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
        &[("mcp-session-id", &id)],
    );
    assert_eq!(status, 202);
    assert!(response.bytes().unwrap().is_empty());
}

#[test]
fn a_foreign_origin_is_403() {
    let (status, _) = post(shared(), INITIALIZE, &[("origin", "https://evil.example")]);
    assert_eq!(status, 403);
    let (status, _) = post(shared(), INITIALIZE, &[("origin", "http://localhost:6274")]);
    assert_eq!(
        status, 200,
        "local origins are allowed in local development"
    );
}

#[test]
fn an_oversize_body_is_413() {
    let body = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"ping","params":{{"pad":"{}"}}}}"#,
        "x".repeat(3 * 1024 * 1024)
    );
    let (status, _) = post(shared(), &body, &[]);
    assert_eq!(status, 413);
}

#[test]
fn malformed_json_is_400_with_a_parse_error() {
    let (status, response) = post(shared(), r#"{"jsonrpc":"2.0","id":1,"#, &[]);
    assert_eq!(status, 400);
    assert_eq!(error_code(response), -32700);
}

#[test]
fn get_opens_the_sessions_stream() {
    let worker = shared();
    let id = session(worker);
    let response = client()
        .get(worker.url("/mcp"))
        .header("accept", "text/event-stream")
        .header("mcp-session-id", &id)
        .header("x-dev-user", "raw-http")
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    assert_eq!(response.headers()["cache-control"], "no-cache");
    // Dropping the response closes the stream; `streams.rs` reads streams.
}

#[test]
fn mcp_needs_sign_in_outside_local_development() {
    // Without the sign-in settings: 503, naming what is missing.
    let worker = LocalWorker::start(Options {
        vars: vec![],
        ..Options::default()
    });
    let (status, response) = post(&worker, INITIALIZE, &[]);
    assert_eq!(status, 503);
    let body: Value = response.json().unwrap();
    assert_eq!(body["error"]["code"], "misconfigured");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("PUBLIC_BASE_URL")
    );
    drop(worker);

    // With them: 401 pointing at the resource metadata; X-Dev-User means nothing here.
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).unwrap();
    let key: &'static str = Box::leak(hex::encode(key).into_boxed_str());
    let worker = LocalWorker::start(Options {
        vars: vec![
            ("PUBLIC_BASE_URL", "https://brain.example.com"),
            ("COOKIE_ENCRYPTION_KEY", key),
            ("GITHUB_CLIENT_ID", "test-client-id"),
            ("GITHUB_CLIENT_SECRET", "test-client-secret"),
            ("GITHUB_ALLOWED_USER_ID", "1001"),
        ],
        ..Options::default()
    });
    let (status, response) = post(&worker, INITIALIZE, &[]);
    assert_eq!(status, 401);
    assert_eq!(
        response.headers()["www-authenticate"],
        "Bearer scope=\"notes:read notes:write\", resource_metadata=\"https://brain.example.com/.well-known/oauth-protected-resource/mcp\""
    );
}
