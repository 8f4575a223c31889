//! Every committed schema is valid JSON Schema and accepts and rejects what it should.

use schemas::{Schema, validate, validator};
use serde_json::json;

#[test]
fn every_schema_compiles() {
    for schema in Schema::ALL {
        validator(schema).unwrap_or_else(|e| panic!("{e}"));
    }
}

fn healthy() -> serde_json::Value {
    json!({
        "status": "healthy",
        "version": "0.1.0",
        "build": { "commit": "abc123", "environment": "dev" },
        "bindings": {
            "STORAGE": { "ok": true, "latency_ms": 1 },
            "OAUTH_KV": { "ok": true, "latency_ms": 1 },
            "RATE_LIMIT_KV": { "ok": true, "latency_ms": 1 },
            "MCP_SESSION": { "ok": true, "latency_ms": 2 },
            "ANALYTICS": { "ok": true, "latency_ms": 0 },
            "S3_BACKUP": { "ok": false, "latency_ms": 0, "error": "missing secrets: S3_BACKUP_BUCKET" }
        },
        "warnings": ["S3_BACKUP is unavailable: missing secrets: S3_BACKUP_BUCKET"]
    })
}

#[test]
fn health_schema_accepts_a_report() {
    validate(Schema::Health, &healthy()).unwrap();
}

#[test]
fn health_schema_rejects_a_failed_binding_without_an_error() {
    let mut report = healthy();
    report["bindings"]["STORAGE"] = json!({ "ok": false, "latency_ms": 3 });
    assert!(validate(Schema::Health, &report).is_err());
}

#[test]
fn health_schema_rejects_a_missing_binding_and_an_unknown_status() {
    let mut report = healthy();
    report["bindings"]
        .as_object_mut()
        .unwrap()
        .remove("MCP_SESSION");
    assert!(validate(Schema::Health, &report).is_err());
    let mut report = healthy();
    report["status"] = json!("fine");
    assert!(validate(Schema::Health, &report).is_err());
}
