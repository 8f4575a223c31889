//! Analytics Engine data points (binding `ANALYTICS`, optional): one per request, one per tool
//! call, one per backup export and per restore drill.
//!
//! One layout for every kind, so one query shape serves them all (`docs/monitoring.md`):
//!
//! | field | meaning |
//! | --- | --- |
//! | index1 | the kind: `request`, `tool_call`, `backup_export`, `backup_drill` |
//! | blob1 | the kind again (queries filter on blobs) |
//! | blob2 | the environment (`dev`, `production`) |
//! | blob3 | what: the route's name (`/mcp`, `/token`, never a raw path), the tool, or empty |
//! | blob4 | the outcome: `ok`, `client_error`, `unauthorized`, `rate_limited`, `server_error` for requests; `ok`, `refused`, `failed`, `cancelled` for tool calls; `ok`, `failed` ... for backups |
//! | blob5 | the user as a keyed hash ([`user_tag`]; empty when unknown), never the id |
//! | blob6 | the auth decision (requests) or the protocol version (tool calls) |
//! | blob7 | the rate-limit decision (requests) |
//! | double1 | duration in milliseconds |
//! | double2 | the HTTP status (requests) |
//! | double3 | bytes in (request body, tool arguments) |
//! | double4 | bytes out (response body when known, tool result, backup bytes) |
//! | double5 | objects (backups) |
//! | double6 | head seq (backups) |
//!
//! Nothing else goes in: no path of a note, no note text, no token, no raw user id. The
//! builders are pure and tested field by field; [`write`] sends a point and never fails the
//! work it describes. In local development each point is also written as a JSON log line
//! (`"msg": "data_point"`), which is how the end-to-end tests see them (wrangler's local
//! Analytics Engine keeps nothing).

use serde::Serialize;
use worker::{AnalyticsEngineDataPointBuilder, Env};

/// A data point, as written.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct DataPoint {
    /// index1.
    pub(crate) index: &'static str,
    /// blob1..blob7.
    pub(crate) blobs: [String; 7],
    /// double1..double6.
    pub(crate) doubles: [f64; 6],
}

/// What a request point says.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RequestFacts<'a> {
    pub(crate) environment: &'a str,
    /// The matched route's name ([`crate::routes::Route::name`]).
    pub(crate) route: &'a str,
    pub(crate) status: u16,
    pub(crate) duration_ms: u64,
    pub(crate) bytes_in: u64,
    pub(crate) bytes_out: u64,
    pub(crate) auth: Option<&'a str>,
    pub(crate) rate_limit: Option<&'a str>,
}

/// The outcome class of an HTTP status.
pub(crate) fn request_outcome(status: u16) -> &'static str {
    match status {
        200..=399 => "ok",
        401 | 403 => "unauthorized",
        429 => "rate_limited",
        400..=499 => "client_error",
        _ => "server_error",
    }
}

/// The point for one request.
pub(crate) fn request_point(facts: &RequestFacts<'_>) -> DataPoint {
    DataPoint {
        index: "request",
        blobs: [
            "request".into(),
            facts.environment.into(),
            facts.route.into(),
            request_outcome(facts.status).into(),
            String::new(),
            facts.auth.unwrap_or_default().into(),
            facts.rate_limit.unwrap_or_default().into(),
        ],
        doubles: [
            facts.duration_ms as f64,
            f64::from(facts.status),
            facts.bytes_in as f64,
            facts.bytes_out as f64,
            0.0,
            0.0,
        ],
    }
}

/// What a tool-call point says.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ToolFacts<'a> {
    pub(crate) environment: &'a str,
    /// The tool's name (one of the tools this server serves, or `unknown`).
    pub(crate) tool: &'a str,
    /// `ok`, `refused` (an `isError` result), `failed` (a protocol error), `cancelled`.
    pub(crate) outcome: &'a str,
    pub(crate) protocol_version: &'a str,
    /// The user's tag ([`user_tag`]).
    pub(crate) user_tag: &'a str,
    pub(crate) duration_ms: u64,
    pub(crate) bytes_in: u64,
    pub(crate) bytes_out: u64,
}

/// The point for one tool call.
pub(crate) fn tool_point(facts: &ToolFacts<'_>) -> DataPoint {
    DataPoint {
        index: "tool_call",
        blobs: [
            "tool_call".into(),
            facts.environment.into(),
            facts.tool.into(),
            facts.outcome.into(),
            facts.user_tag.into(),
            facts.protocol_version.into(),
            String::new(),
        ],
        doubles: [
            facts.duration_ms as f64,
            0.0,
            facts.bytes_in as f64,
            facts.bytes_out as f64,
            0.0,
            0.0,
        ],
    }
}

/// What a backup point says (an export or a drill).
#[derive(Debug, Clone, Copy)]
pub(crate) struct BackupFacts<'a> {
    /// `backup_export` or `backup_drill`.
    pub(crate) kind: &'static str,
    pub(crate) environment: &'a str,
    pub(crate) outcome: &'a str,
    pub(crate) user_tag: &'a str,
    pub(crate) duration_ms: u64,
    pub(crate) bytes: u64,
    pub(crate) objects: u64,
    pub(crate) head_seq: u64,
}

/// The point for one export or drill.
pub(crate) fn backup_point(facts: &BackupFacts<'_>) -> DataPoint {
    DataPoint {
        index: facts.kind,
        blobs: [
            facts.kind.into(),
            facts.environment.into(),
            String::new(),
            facts.outcome.into(),
            facts.user_tag.into(),
            String::new(),
            String::new(),
        ],
        doubles: [
            facts.duration_ms as f64,
            0.0,
            0.0,
            facts.bytes as f64,
            facts.objects as f64,
            facts.head_seq as f64,
        ],
    }
}

/// `performance.now()`: milliseconds with a fraction, for timing synchronous work (0 when the
/// runtime has no `performance`). Deployed, it advances only on I/O; locally it runs.
pub(crate) fn precise_now_ms() -> f64 {
    use worker::js_sys::{Function, Reflect};
    use worker::wasm_bindgen::{JsCast, JsValue};
    thread_local! {
        // Looked up once: every store access of a tool call reads the clock twice.
        static NOW: Option<(JsValue, Function)> = {
            let global = worker::js_sys::global();
            let performance = Reflect::get(&global, &JsValue::from_str("performance")).ok();
            performance.and_then(|performance| {
                let now = Reflect::get(&performance, &JsValue::from_str("now")).ok()?;
                Some((performance, now.dyn_into::<Function>().ok()?))
            })
        };
    }
    NOW.with(|now| {
        now.as_ref()
            .and_then(|(performance, now)| now.call0(performance).ok())
            .and_then(|value| value.as_f64())
            .unwrap_or(0.0)
    })
}

/// The environment name the points carry (`ENVIRONMENT`, else `unknown`).
pub(crate) fn environment(env: &Env) -> String {
    env.var("ENVIRONMENT")
        .map(|v| v.to_string())
        .unwrap_or_else(|_| "unknown".into())
}

/// Writes `point` to `ANALYTICS` if bound (and, in local development, as a log line).
/// Telemetry never fails the work it describes.
pub(crate) fn write(env: &Env, point: &DataPoint) {
    let local_dev = crate::config::Config::from_env(env).is_ok_and(|c| c.local_dev);
    if local_dev {
        let mut line = serde_json::to_value(point).unwrap_or_default();
        if let serde_json::Value::Object(map) = &mut line {
            map.insert("msg".into(), "data_point".into());
        }
        worker::console_log!("{line}");
    }
    let Ok(dataset) = env.analytics_engine("ANALYTICS") else {
        return;
    };
    let data = AnalyticsEngineDataPointBuilder::new()
        .indexes([point.index])
        .blobs(point.blobs.iter().map(String::as_str).collect::<Vec<_>>())
        .doubles(point.doubles.to_vec())
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
    tag_with(&secret, user)
}

fn tag_with(secret: &str, user: &str) -> String {
    let key = blake3::derive_key("second-brain telemetry user tag v1", secret.as_bytes());
    blake3::keyed_hash(&key, user.as_bytes()).to_hex()[..16].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_point_has_every_field_in_its_place_and_nothing_else() {
        let point = request_point(&RequestFacts {
            environment: "production",
            route: "/mcp",
            status: 429,
            duration_ms: 12,
            bytes_in: 300,
            bytes_out: 80,
            auth: Some("bearer_ok"),
            rate_limit: Some("limited_minute"),
        });
        assert_eq!(point.index, "request");
        assert_eq!(
            point.blobs,
            [
                "request",
                "production",
                "/mcp",
                "rate_limited",
                "",
                "bearer_ok",
                "limited_minute"
            ]
            .map(String::from)
        );
        assert_eq!(point.doubles, [12.0, 429.0, 300.0, 80.0, 0.0, 0.0]);
    }

    #[test]
    fn statuses_fall_into_outcomes() {
        let cases = [
            (200, "ok"),
            (202, "ok"),
            (302, "ok"),
            (400, "client_error"),
            (401, "unauthorized"),
            (403, "unauthorized"),
            (404, "client_error"),
            (413, "client_error"),
            (429, "rate_limited"),
            (500, "server_error"),
            (503, "server_error"),
        ];
        for (status, outcome) in cases {
            assert_eq!(request_outcome(status), outcome, "{status}");
        }
    }

    #[test]
    fn a_tool_point_names_the_tool_and_the_users_tag_not_the_user() {
        let tag = tag_with("secret", "github:1001");
        let point = tool_point(&ToolFacts {
            environment: "dev",
            tool: "write",
            outcome: "refused",
            protocol_version: "2025-11-25",
            user_tag: &tag,
            duration_ms: 7,
            bytes_in: 120,
            bytes_out: 60,
        });
        assert_eq!(point.index, "tool_call");
        assert_eq!(
            point.blobs[..6],
            ["tool_call", "dev", "write", "refused", &tag, "2025-11-25"].map(String::from)
        );
        assert_eq!(point.doubles, [7.0, 0.0, 120.0, 60.0, 0.0, 0.0]);
        assert_eq!(tag.len(), 16);
        assert!(!point.blobs.iter().any(|b| b.contains("1001")));
    }

    #[test]
    fn user_tags_are_stable_per_secret_and_differ_across_users_and_secrets() {
        assert_eq!(tag_with("s", "u1"), tag_with("s", "u1"));
        assert_ne!(tag_with("s", "u1"), tag_with("s", "u2"));
        assert_ne!(tag_with("s", "u1"), tag_with("t", "u1"));
    }

    #[test]
    fn a_backup_point_keeps_its_numbers_apart() {
        let point = backup_point(&BackupFacts {
            kind: "backup_drill",
            environment: "production",
            outcome: "passed",
            user_tag: "abcd",
            duration_ms: 3_000,
            bytes: 4_096,
            objects: 9,
            head_seq: 77,
        });
        assert_eq!(point.index, "backup_drill");
        assert_eq!(point.blobs[3], "passed");
        assert_eq!(point.doubles, [3_000.0, 0.0, 0.0, 4_096.0, 9.0, 77.0]);
    }
}
