//! Telemetry end to end: the data points the Worker writes for a request and for a tool call,
//! checked field by field (in local development each point is also a `data_point` log line),
//! and checked for what must never be in them: a note's path or text, a token, the user id.

use serde_json::{Value, json};

use crate::local_worker::{LocalWorker, Options, client};
use crate::mcp::{connect, ok, run};

const USER: &str = "telemetry-user-4242";
const PATH: &str = "private/diary-entry.md";
const TEXT: &str = "a sentence nobody else may read";

fn points(worker: &LocalWorker, index: &str) -> Vec<Value> {
    worker
        .json_log_lines()
        .into_iter()
        .filter(|line| line["msg"] == "data_point" && line["index"] == index)
        .collect()
}

fn blob(point: &Value, n: usize) -> &str {
    point["blobs"][n - 1].as_str().expect("a blob")
}

fn double(point: &Value, n: usize) -> f64 {
    point["doubles"][n - 1].as_f64().expect("a double")
}

#[test]
fn requests_and_tool_calls_write_one_point_each_without_anything_personal() {
    let mut options = Options::default();
    options.vars.push((
        "COOKIE_ENCRYPTION_KEY",
        "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
    ));
    let worker = LocalWorker::start(options);

    let health = client()
        .get(worker.url("/health"))
        .send()
        .expect("/health answers");
    let health_status = f64::from(health.status().as_u16());
    let missing = client()
        .get(worker.url("/no/such/route/private-diary"))
        .send()
        .expect("404 answers");
    assert_eq!(missing.status(), 404);
    run(async {
        let client = connect(&worker, USER).await;
        ok(&client, "write", json!({"path": PATH, "content": TEXT})).await;
        ok(&client, "read", json!({"path": PATH})).await;
        let refused = crate::mcp::refused(&client, "read", json!({"path": "nope.md"})).await;
        assert!(!refused.is_empty());
    });
    // The log reaches the file a moment after the replies.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while points(&worker, "tool_call").len() < 3 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }

    let requests = points(&worker, "request");
    let health_point = requests
        .iter()
        .find(|p| blob(p, 3) == "/health")
        .unwrap_or_else(|| panic!("no /health point: {requests:#?}"));
    assert_eq!(blob(health_point, 1), "request");
    assert_eq!(blob(health_point, 2), "dev");
    assert_eq!(double(health_point, 2), health_status);
    assert!(double(health_point, 1) >= 0.0);
    let not_found = requests
        .iter()
        .find(|p| double(p, 2) == 404.0)
        .expect("a point for the 404");
    assert_eq!(
        (blob(not_found, 3), blob(not_found, 4)),
        ("not_found", "client_error")
    );
    let mcp: Vec<&Value> = requests.iter().filter(|p| blob(p, 3) == "/mcp").collect();
    assert!(
        mcp.len() >= 4,
        "initialize, initialized, three calls: {mcp:#?}"
    );
    assert!(
        mcp.iter().any(|p| double(p, 3) > 0.0),
        "request bytes are counted"
    );

    let calls = points(&worker, "tool_call");
    let by_tool = |tool: &str, outcome: &str| {
        calls
            .iter()
            .find(|p| blob(p, 3) == tool && blob(p, 4) == outcome)
            .unwrap_or_else(|| panic!("no {tool} {outcome} point: {calls:#?}"))
    };
    let write = by_tool("write", "ok");
    let read = by_tool("read", "ok");
    by_tool("read", "refused");
    assert_eq!(calls.len(), 3, "{calls:#?}");
    for point in [write, read] {
        assert_eq!(blob(point, 1), "tool_call");
        assert_eq!(blob(point, 2), "dev");
        let tag = blob(point, 5);
        assert!(
            tag.len() == 16 && tag.bytes().all(|b| b.is_ascii_hexdigit()),
            "a keyed tag: {tag}"
        );
        assert!(!blob(point, 6).is_empty(), "the protocol version");
        assert!(double(point, 3) > 0.0 && double(point, 4) > 0.0, "{point}");
    }
    assert_eq!(blob(write, 5), blob(read, 5), "one user, one tag");

    // Nothing personal anywhere in any point.
    for point in requests.iter().chain(&calls) {
        let text = point.to_string();
        for secret in [PATH, "diary", TEXT, USER, "4242", "Bearer"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
    }
}
