//! Progress and cancellation of requests (the `basic/utilities/progress` and
//! `basic/utilities/cancellation` pages of each revision; `basic/patterns/` in 2026-07-28).
//!
//! - A request that carries `params._meta.progressToken` (a string or an integer) may get
//!   `notifications/progress` with that token while it runs; `progress` must increase with
//!   each one, and senders should limit their rate ([`ProgressRate`]).
//! - `notifications/cancelled {requestId, reason?}` asks the server to stop a request it is
//!   still working on; unknown ids and malformed notifications are ignored, and `initialize`
//!   cannot be cancelled. A cancelled request gets no response where the transport allows
//!   it; a plain JSON reply must still answer the HTTP request, and answers
//!   [`request_cancelled`].

use serde::Serialize;
use serde_json::{Map, Value, json};

use super::jsonrpc::{ErrorCode, ErrorObject, Notification, RequestId};

/// The method of progress notifications.
pub const PROGRESS_METHOD: &str = "notifications/progress";
/// The method of cancellation notifications.
pub const CANCELLED_METHOD: &str = "notifications/cancelled";

/// -32800: the request was cancelled (the code JSON-RPC servers commonly use for it; MCP
/// defines none because it expects no response).
pub const REQUEST_CANCELLED: ErrorCode = ErrorCode(-32800);

/// A progress token, as the client sent it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(untagged)]
pub enum ProgressToken {
    /// An integer token.
    Number(i64),
    /// A string token.
    String(String),
}

impl ProgressToken {
    /// The token in `params._meta.progressToken`, if it is a string or an integer. A token of
    /// another type is treated as absent: the server may always choose not to report.
    pub fn from_params(params: Option<&Map<String, Value>>) -> Option<Self> {
        let token = params?.get("_meta")?.as_object()?.get("progressToken")?;
        match token {
            Value::String(text) => Some(ProgressToken::String(text.clone())),
            Value::Number(number) => number.as_i64().map(ProgressToken::Number),
            _ => None,
        }
    }

    /// `notifications/progress` for this token: `progress` of `total`, with a message.
    pub fn notification(&self, progress: u64, total: Option<u64>, message: &str) -> Notification {
        let mut params = json!({ "progressToken": self, "progress": progress });
        if let Some(total) = total {
            params["total"] = json!(total);
        }
        if !message.is_empty() {
            params["message"] = json!(message);
        }
        Notification {
            method: PROGRESS_METHOD.to_owned(),
            params: params.as_object().cloned(),
        }
    }
}

/// Decides which progress values are reported: never one that does not exceed the last one
/// reported, and otherwise the first, the last (`progress == total`), and one whenever
/// `every_steps` more were done or `every_ms` passed since the last report.
#[derive(Debug, Clone)]
pub struct ProgressRate {
    every_steps: u64,
    every_ms: u64,
    last: Option<(u64, u64)>,
}

impl ProgressRate {
    /// At most one report per `every_steps` steps or `every_ms` milliseconds.
    pub fn new(every_steps: u64, every_ms: u64) -> Self {
        ProgressRate {
            every_steps: every_steps.max(1),
            every_ms,
            last: None,
        }
    }

    /// Whether to report `progress` (of `total`) at `now_ms`; when it says yes, the value
    /// counts as reported.
    pub fn admit(&mut self, progress: u64, total: Option<u64>, now_ms: u64) -> bool {
        let due = match self.last {
            None => true,
            Some((last, _)) if progress <= last => false,
            Some((last, at)) => {
                total == Some(progress)
                    || progress - last >= self.every_steps
                    || now_ms.saturating_sub(at) >= self.every_ms
            }
        };
        if due {
            self.last = Some((progress, now_ms));
        }
        due
    }
}

/// The params of `notifications/cancelled`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cancelled {
    /// The request to stop.
    pub request_id: RequestId,
    /// Why, for logs (cut to 200 characters).
    pub reason: Option<String>,
}

impl Cancelled {
    /// Reads a cancellation; `None` when it is malformed (the spec says to ignore those).
    pub fn from_notification(notification: &Notification) -> Option<Self> {
        if notification.method != CANCELLED_METHOD {
            return None;
        }
        let params = notification.params.as_ref()?;
        let request_id = RequestId::from_value(params.get("requestId")?)?;
        let reason = match params.get("reason") {
            None | Some(Value::Null) => None,
            Some(Value::String(reason)) => Some(reason.chars().take(200).collect()),
            Some(_) => return None,
        };
        Some(Cancelled { request_id, reason })
    }
}

/// The error a cancelled request answers with when a response cannot be left out (a JSON
/// reply to an HTTP POST).
pub fn request_cancelled() -> ErrorObject {
    ErrorObject::new(REQUEST_CANCELLED, "request cancelled")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap()
    }

    #[test]
    fn tokens_are_strings_or_integers() {
        let token = |meta: Value| ProgressToken::from_params(Some(&params(json!({"_meta": meta}))));
        assert_eq!(
            token(json!({"progressToken": "abc"})),
            Some(ProgressToken::String("abc".into()))
        );
        assert_eq!(
            token(json!({"progressToken": 7})),
            Some(ProgressToken::Number(7))
        );
        for odd in [json!(1.5), json!(null), json!({}), json!([1]), json!(true)] {
            assert_eq!(token(json!({ "progressToken": odd })), None);
        }
        assert_eq!(token(json!({})), None);
        assert_eq!(token(json!("not an object")), None);
        assert_eq!(ProgressToken::from_params(None), None);
    }

    #[test]
    fn notifications_echo_the_token() {
        let note = ProgressToken::Number(3).notification(5, Some(10), "scanned 5 of 10 notes");
        let value = serde_json::to_value(&note).unwrap();
        assert_eq!(
            value,
            json!({"jsonrpc": "2.0", "method": "notifications/progress", "params": {
                "progressToken": 3, "progress": 5, "total": 10,
                "message": "scanned 5 of 10 notes"}})
        );
        let bare = ProgressToken::String("t".into()).notification(1, None, "");
        let value = serde_json::to_value(&bare).unwrap();
        assert_eq!(
            value["params"],
            json!({"progressToken": "t", "progress": 1})
        );
    }

    #[test]
    fn the_rate_admits_first_last_and_spaced_values() {
        let mut rate = ProgressRate::new(50, 250);
        assert!(rate.admit(16, Some(400), 0), "the first report");
        assert!(!rate.admit(32, Some(400), 10));
        assert!(!rate.admit(48, Some(400), 20));
        assert!(rate.admit(66, Some(400), 30), "50 steps since the last");
        assert!(!rate.admit(70, Some(400), 100));
        assert!(rate.admit(71, Some(400), 280), "250 ms since the last");
        assert!(rate.admit(400, Some(400), 281), "the last one");
        assert!(
            !rate.admit(400, Some(400), 10_000),
            "never the same value twice"
        );
    }

    #[test]
    fn reported_values_strictly_increase() {
        let mut rate = ProgressRate::new(1, 0);
        let mut reported = Vec::new();
        for (progress, now) in [(1, 0), (1, 5), (0, 9), (3, 10), (2, 11), (3, 500), (4, 501)] {
            if rate.admit(progress, None, now) {
                reported.push(progress);
            }
        }
        assert_eq!(reported, [1, 3, 4]);
    }

    #[test]
    fn cancellations_are_read_or_ignored() {
        let notification = |method: &str, params: Value| Notification {
            method: method.into(),
            params: params.as_object().cloned(),
        };
        assert_eq!(
            Cancelled::from_notification(&notification(
                CANCELLED_METHOD,
                json!({"requestId": 4, "reason": "user asked"})
            )),
            Some(Cancelled {
                request_id: RequestId::Number(4),
                reason: Some("user asked".into())
            })
        );
        assert_eq!(
            Cancelled::from_notification(&notification(
                CANCELLED_METHOD,
                json!({"requestId": "x"})
            ))
            .map(|c| c.request_id),
            Some(RequestId::String("x".into()))
        );
        for params in [
            json!({}),
            json!({"requestId": null}),
            json!({"requestId": 1.5}),
            json!({"requestId": 1, "reason": 5}),
        ] {
            assert_eq!(
                Cancelled::from_notification(&notification(CANCELLED_METHOD, params.clone())),
                None,
                "{params}"
            );
        }
        assert_eq!(
            Cancelled::from_notification(&notification(
                "notifications/initialized",
                json!({"requestId": 1})
            )),
            None
        );
        assert_eq!(request_cancelled().code, ErrorCode(-32800));
    }
}
