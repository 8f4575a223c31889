//! The JSON log lines the Worker writes.
//!
//! Exactly one line per request. Lines carry no bodies, tokens, query strings or anything that
//! identifies a person: the route is the matched route's name, never the raw path.

use serde::Serialize;

/// The one log line written for each request.
#[derive(Debug, Serialize)]
pub(crate) struct RequestLog<'a> {
    pub(crate) correlation_id: &'a str,
    pub(crate) method: &'a str,
    pub(crate) route: &'a str,
    pub(crate) status: u16,
    pub(crate) duration_ms: u64,
    /// The auth decision (a fixed name such as `bearer_ok` or `unknown_token`), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) auth: Option<&'a str>,
    /// The rate-limit decision (`admitted`, `limited_minute`, `ip_limited`...), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) rate_limit: Option<&'a str>,
}

impl RequestLog<'_> {
    /// The line as JSON, tagged `"msg": "request"`.
    pub(crate) fn to_json(&self) -> String {
        tagged("request", self)
    }
}

/// The line for an error that turned into a 500, written in addition to the request line.
pub(crate) fn internal_error(correlation_id: &str, error: &str) -> String {
    #[derive(Serialize)]
    struct Line<'a> {
        correlation_id: &'a str,
        error: &'a str,
    }
    tagged(
        "internal_error",
        &Line {
            correlation_id,
            error,
        },
    )
}

fn tagged<T: Serialize>(msg: &str, fields: &T) -> String {
    let mut value = serde_json::to_value(fields).unwrap_or_default();
    if let serde_json::Value::Object(map) = &mut value {
        map.insert("msg".into(), msg.into());
    }
    value.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_line_is_one_json_object_with_every_field() {
        let line = RequestLog {
            correlation_id: "abc",
            method: "GET",
            route: "/health",
            status: 200,
            duration_ms: 3,
            auth: Some("bearer_ok"),
            rate_limit: None,
        }
        .to_json();
        assert!(!line.contains('\n'));
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(value["msg"], "request");
        assert_eq!(value["correlation_id"], "abc");
        assert_eq!(value["method"], "GET");
        assert_eq!(value["route"], "/health");
        assert_eq!(value["status"], 200);
        assert_eq!(value["duration_ms"], 3);
        assert_eq!(value["auth"], "bearer_ok");
        assert!(value.get("rate_limit").is_none());
    }

    #[test]
    fn error_text_is_escaped_not_injected() {
        let line = internal_error("abc", "bad \"quote\"\nnew line");
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(value["error"], "bad \"quote\"\nnew line");
    }
}
