//! One Analytics Engine data point per export and per drill (binding `ANALYTICS`, optional).
//!
//! Layout: index = the kind (`backup_export`, `backup_drill`); blobs = kind, outcome, the user
//! as a keyed hash (16 hex characters, keyed from `COOKIE_ENCRYPTION_KEY`; empty when that
//! secret is missing, never the id itself); doubles = duration (ms), bytes, objects, head seq.
//! A dataset that refuses the point is ignored: telemetry never fails a backup.

use worker::{AnalyticsEngineDataPointBuilder, Env};

/// What one data point says.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Point<'a> {
    pub(crate) kind: &'static str,
    pub(crate) outcome: &'a str,
    pub(crate) user: &'a str,
    pub(crate) duration_ms: u64,
    pub(crate) bytes: u64,
    pub(crate) objects: u64,
    pub(crate) head_seq: u64,
}

/// Writes `point` to `ANALYTICS`, if bound.
pub(crate) fn record(env: &Env, point: Point<'_>) {
    let Ok(dataset) = env.analytics_engine("ANALYTICS") else {
        return;
    };
    let user = user_tag(env, point.user);
    let data = AnalyticsEngineDataPointBuilder::new()
        .indexes([point.kind])
        .blobs([point.kind, point.outcome, user.as_str()])
        .doubles([
            point.duration_ms as f64,
            point.bytes as f64,
            point.objects as f64,
            point.head_seq as f64,
        ])
        .build();
    let _ = dataset.write_data_point(&data);
}

/// The user as a keyed hash: telemetry and logs can count and group users without naming
/// them. Empty when `COOKIE_ENCRYPTION_KEY` is missing.
pub(crate) fn user_tag(env: &Env, user: &str) -> String {
    let Some(secret) = env
        .secret("COOKIE_ENCRYPTION_KEY")
        .ok()
        .map(|s| s.to_string())
    else {
        return String::new();
    };
    let key = blake3::derive_key("second-brain telemetry user tag v1", secret.as_bytes());
    blake3::keyed_hash(&key, user.as_bytes()).to_hex()[..16].to_owned()
}
