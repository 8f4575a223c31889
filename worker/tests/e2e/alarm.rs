//! The Durable Object's alarm: set, fire, clear (through the local-dev route).

use std::time::{Duration, Instant};

use crate::local_worker::{LocalWorker, Options, client, shared};
use serde_json::Value;

fn alarm(worker: &LocalWorker, method: reqwest::Method, object: &str, query: &str) -> (u16, Value) {
    let url = worker.url(&format!("/__dev/alarm/{object}{query}"));
    let response = client().request(method, url).send().unwrap();
    (response.status().as_u16(), response.json().unwrap())
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[test]
fn a_set_alarm_fires_once_and_is_then_cleared() {
    let worker = shared();
    let before = now_ms();
    let (status, body) = alarm(worker, reqwest::Method::PUT, "fires", "?in_ms=300");
    assert_eq!(status, 200, "{body}");
    let scheduled = body["scheduled_at_ms"]
        .as_i64()
        .expect("an alarm is scheduled");
    assert!(
        (before + 250..before + 5_000).contains(&scheduled),
        "scheduled {scheduled}, now {before}"
    );
    assert_eq!(body["fired"], 0);

    let deadline = Instant::now() + Duration::from_secs(15);
    let body = loop {
        let (_, body) = alarm(worker, reqwest::Method::GET, "fires", "");
        if body["fired"] == 1 || Instant::now() > deadline {
            break body;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(body["fired"], 1, "the alarm did not fire: {body}");
    assert_eq!(
        body["scheduled_at_ms"],
        Value::Null,
        "nothing is due, so no alarm is left set"
    );
}

#[test]
fn a_cleared_alarm_never_fires() {
    let worker = shared();
    let (_, body) = alarm(worker, reqwest::Method::PUT, "cleared", "?in_ms=400");
    assert!(body["scheduled_at_ms"].is_i64());
    let (status, body) = alarm(worker, reqwest::Method::DELETE, "cleared", "");
    assert_eq!(status, 200);
    assert_eq!(body["scheduled_at_ms"], Value::Null);
    std::thread::sleep(Duration::from_millis(1_000));
    let (_, body) = alarm(worker, reqwest::Method::GET, "cleared", "");
    assert_eq!(body["fired"], 0, "{body}");
}

#[test]
fn a_bad_delay_is_a_400() {
    for query in ["?in_ms=abc", "?in_ms=0", "?in_ms=86400001", ""] {
        let (status, body) = alarm(shared(), reqwest::Method::PUT, "bad", query);
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["error"]["code"], "invalid_delay");
    }
}

#[test]
fn the_dev_route_is_404_outside_local_dev() {
    let worker = LocalWorker::start(Options {
        vars: vec![],
        ..Options::default()
    });
    let (status, body) = alarm(&worker, reqwest::Method::PUT, "x", "?in_ms=100");
    assert_eq!(status, 404, "{body}");
}

#[test]
fn a_scheduled_alarm_survives_a_runtime_restart() {
    let worker = LocalWorker::start(Options::default());
    let (_, set) = alarm(&worker, reqwest::Method::PUT, "kept", "?in_ms=3600000");
    let scheduled = set["scheduled_at_ms"]
        .as_i64()
        .expect("an alarm is scheduled");
    let worker = worker.restart();
    let (status, body) = alarm(&worker, reqwest::Method::GET, "kept", "");
    assert_eq!(status, 200);
    assert_eq!(body["scheduled_at_ms"], scheduled, "{body}");
}
