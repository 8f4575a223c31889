//! Correlation ids, request logs, 404s and the startup configuration check.

use std::time::{Duration, Instant};

use crate::local_worker::{LocalWorker, Options, client, shared};
use serde_json::Value;

#[test]
fn unknown_routes_are_404_with_a_json_error() {
    let response = client().get(shared().url("/no/such/route")).send().unwrap();
    assert_eq!(response.status().as_u16(), 404);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let body: Value = response.json().unwrap();
    assert_eq!(body["error"]["code"], "not_found");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );
}

#[test]
fn every_response_carries_a_fresh_correlation_id() {
    let worker = shared();
    let ids: Vec<String> = ["/health", "/nope", "/health"]
        .iter()
        .map(|path| {
            let response = client().get(worker.url(path)).send().unwrap();
            response.headers()["x-correlation-id"]
                .to_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    for id in &ids {
        assert_eq!(id.len(), 32, "{id}");
    }
    assert_ne!(ids[0], ids[1]);
    assert_ne!(ids[0], ids[2]);
}

/// Waits (bounded) until the Worker's log has a line for `correlation_id`.
fn log_lines_for(worker: &LocalWorker, correlation_id: &str) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let lines: Vec<Value> = worker
            .json_log_lines()
            .into_iter()
            .filter(|line| line["correlation_id"] == correlation_id)
            .collect();
        if !lines.is_empty() || Instant::now() > deadline {
            return lines;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn each_request_writes_exactly_one_json_log_line_without_the_path() {
    let worker = shared();
    let response = client()
        .get(worker.url("/private/notes/diary.md?token=abc"))
        .send()
        .unwrap();
    let id = response.headers()["x-correlation-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let lines = log_lines_for(worker, &id);
    assert_eq!(lines.len(), 1, "{lines:#?}");
    let line = &lines[0];
    assert_eq!(line["msg"], "request");
    assert_eq!(line["method"], "GET");
    assert_eq!(line["route"], "not_found");
    assert_eq!(line["status"], 404);
    assert!(line["duration_ms"].is_u64());
    let text = line.to_string();
    assert!(
        !text.contains("diary") && !text.contains("token"),
        "the log leaks the path: {text}"
    );
}

#[test]
fn cf_ray_becomes_the_correlation_id() {
    let worker = shared();
    let ray = "8f3a9b2c1d0e4f56-AMS";
    let response = client()
        .get(worker.url("/health"))
        .header("cf-ray", ray)
        .send()
        .unwrap();
    assert_eq!(response.headers()["x-correlation-id"], ray);
    assert_eq!(log_lines_for(worker, ray).len(), 1);
}

#[test]
fn local_dev_mode_is_refused_in_production() {
    let worker = LocalWorker::start(Options {
        env: "production",
        vars: vec![("LOCAL_DEV", "1")],
        ..Options::default()
    });
    let response = client().get(worker.url("/health")).send().unwrap();
    assert_eq!(response.status().as_u16(), 503);
    let body: Value = response.json().unwrap();
    assert_eq!(body["error"]["code"], "misconfigured");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("LOCAL_DEV")
    );
}
