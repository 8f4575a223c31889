//! `/health`: every binding probed for real, the verdict, and the committed schema.

use crate::local_worker::{LocalWorker, Options, client, shared};
use schemas::Schema;
use serde_json::Value;

fn get_health(worker: &LocalWorker) -> (u16, reqwest::header::HeaderMap, Value) {
    let response = client()
        .get(worker.url("/health"))
        .send()
        .expect("GET /health");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body: Value = response.json().expect("/health answers JSON");
    if let Err(errors) = schemas::validate(Schema::Health, &body) {
        panic!("/health does not match schemas/health.schema.json: {errors:#?}\n{body:#}");
    }
    (status, headers, body)
}

#[test]
fn every_binding_is_healthy_in_local_development() {
    let (status, headers, body) = get_health(shared());
    assert_eq!(status, 200, "{body:#}");
    assert_eq!(body["status"], "healthy", "{body:#}");
    for (name, binding) in body["bindings"].as_object().unwrap() {
        assert_eq!(binding["ok"], true, "{name}: {binding}");
    }
    assert_eq!(body["warnings"], serde_json::json!([]));
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(body["build"]["environment"], "dev");
    assert_eq!(headers["cache-control"], "no-store");
}

#[test]
fn the_durable_object_ping_writes_its_storage() {
    // Two health checks ping the same object; each ping bumps a counter in SQLite, so the
    // probe only passes when storage really takes writes (checked through the probe's ok).
    let worker = shared();
    for _ in 0..2 {
        let (_, _, body) = get_health(worker);
        assert_eq!(body["bindings"]["MCP_SESSION"]["ok"], true, "{body:#}");
    }
}

#[test]
fn missing_backup_secrets_degrade_but_still_serve() {
    let worker = LocalWorker::start(Options {
        vars: vec![("LOCAL_DEV", "1")],
        ..Options::default()
    });
    let (status, _, body) = get_health(&worker);
    assert_eq!(status, 200, "{body:#}");
    assert_eq!(body["status"], "degraded");
    let error = body["bindings"]["S3_BACKUP"]["error"].as_str().unwrap();
    assert!(
        error.contains("S3_BACKUP_ACCESS_KEY") && error.contains("S3_BACKUP_REGION"),
        "{error}"
    );
    assert_eq!(body["warnings"].as_array().unwrap().len(), 1, "{body:#}");
    assert_eq!(body["bindings"]["STORAGE"]["ok"], true);
}

#[test]
fn a_failed_critical_binding_is_503_unhealthy() {
    let worker = LocalWorker::start(Options {
        drop_config_lines_containing: vec!["bucket_name = \"second-brain-dev\""],
        ..Options::default()
    });
    let (status, _, body) = get_health(&worker);
    assert_eq!(status, 503, "{body:#}");
    assert_eq!(body["status"], "unhealthy");
    assert_eq!(body["bindings"]["STORAGE"]["ok"], false);
    assert!(
        body["bindings"]["STORAGE"]["error"]
            .as_str()
            .is_some_and(|e| !e.is_empty())
    );
    // The other bindings are still probed and reported.
    assert_eq!(body["bindings"]["OAUTH_KV"]["ok"], true);
    assert_eq!(body["bindings"]["MCP_SESSION"]["ok"], true);
}

#[test]
fn a_flood_of_health_checks_is_served_from_the_last_answer() {
    // A cache that surely outlives the test: no clock in the assertions.
    let mut options = Options::default();
    options
        .vars
        .retain(|(name, _)| *name != "DEV_HEALTH_CACHE_MS");
    options.vars.push(("DEV_HEALTH_CACHE_MS", "3600000"));
    let worker = LocalWorker::start(options);
    // Starting the Worker asked /health once; every answer since is that one, with its age.
    let (status, headers, first) = get_health(&worker);
    assert_eq!(status, 200, "{first:#}");
    assert!(headers.contains_key("age"), "{headers:?}");
    for _ in 0..20 {
        let (again_status, headers, again) = get_health(&worker);
        assert_eq!(again_status, status);
        assert_eq!(again, first, "the same probe results, latencies included");
        assert_eq!(headers["cache-control"], "no-store");
        assert!(headers.contains_key("age"));
    }
}

#[test]
fn without_the_cache_every_check_probes_again() {
    let (_, headers, _) = get_health(shared());
    assert!(!headers.contains_key("age"), "{headers:?}");
}

#[test]
fn head_is_served_and_post_is_405() {
    let worker = shared();
    let head = client().head(worker.url("/health")).send().unwrap();
    assert_eq!(head.status().as_u16(), 200);
    let post = client().post(worker.url("/health")).send().unwrap();
    assert_eq!(post.status().as_u16(), 405);
    assert_eq!(post.headers()["allow"], "GET, HEAD");
    let body: Value = post.json().unwrap();
    assert_eq!(body["error"]["code"], "method_not_allowed");
}
