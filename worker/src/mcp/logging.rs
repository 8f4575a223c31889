//! MCP logging: `logging/setLevel` and `notifications/message`.
//!
//! A session's client picks the lowest level it wants with `logging/setLevel`; the server then
//! sends `notifications/message` at that level or above, and nothing before the client asked
//! (a client that never sets a level keeps getting plain JSON replies). Levels are the
//! syslog severities of RFC 5424, in [`LogLevel`]'s order.
//!
//! What we log is about the call being answered, for the model and the user: a result that
//! was cut short, a limit that was hit. Never note contents or anything about other users.

use std::fmt;

use serde_json::{Map, Value, json};

use super::jsonrpc::{ErrorObject, Notification};

/// The method of a log message.
pub const MESSAGE_METHOD: &str = "notifications/message";
/// The `logger` our messages name.
pub const LOGGER: &str = "second-brain";

/// A log level, lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogLevel {
    /// Detailed debugging information.
    Debug,
    /// General information.
    Info,
    /// Normal but significant events.
    Notice,
    /// Warning conditions.
    Warning,
    /// Error conditions.
    Error,
    /// Critical conditions.
    Critical,
    /// Action must be taken immediately.
    Alert,
    /// The system is unusable.
    Emergency,
}

impl LogLevel {
    /// Every level, lowest first.
    pub const ALL: [LogLevel; 8] = [
        LogLevel::Debug,
        LogLevel::Info,
        LogLevel::Notice,
        LogLevel::Warning,
        LogLevel::Error,
        LogLevel::Critical,
        LogLevel::Alert,
        LogLevel::Emergency,
    ];

    /// The level's wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Notice => "notice",
            LogLevel::Warning => "warning",
            LogLevel::Error => "error",
            LogLevel::Critical => "critical",
            LogLevel::Alert => "alert",
            LogLevel::Emergency => "emergency",
        }
    }

    /// The level named `name` (exact, lowercase).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|level| level.as_str() == name)
    }
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The level a `logging/setLevel` request asks for; -32602 when `level` is missing or not a
/// level.
pub fn set_level_params(params: Option<&Map<String, Value>>) -> Result<LogLevel, ErrorObject> {
    let names = LogLevel::ALL.map(LogLevel::as_str).join(", ");
    match params.and_then(|params| params.get("level")) {
        Some(Value::String(name)) => LogLevel::parse(name).ok_or_else(|| {
            ErrorObject::invalid_params(format!(
                "unknown log level {:?}; use one of {names}",
                name.chars().take(32).collect::<String>()
            ))
        }),
        _ => Err(ErrorObject::invalid_params(format!(
            "params.level is required: one of {names}"
        ))),
    }
}

/// One message for the client, before its level is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogMessage {
    /// How severe.
    pub level: LogLevel,
    /// What happened, in a sentence for the model and the user.
    pub text: String,
}

impl LogMessage {
    /// A warning.
    pub fn warning(text: impl Into<String>) -> Self {
        LogMessage {
            level: LogLevel::Warning,
            text: text.into(),
        }
    }

    /// Whether a client that set `threshold` (`None`: never set) wants this message.
    pub fn wanted(&self, threshold: Option<LogLevel>) -> bool {
        threshold.is_some_and(|threshold| self.level >= threshold)
    }

    /// The `notifications/message` that carries it.
    pub fn notification(&self) -> Notification {
        let params = json!({ "level": self.level, "logger": LOGGER, "data": self.text });
        Notification {
            method: MESSAGE_METHOD.to_owned(),
            params: params.as_object().cloned(),
        }
    }
}

impl serde::Serialize for LogLevel {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mcp::jsonrpc::ErrorCode;

    #[test]
    fn levels_parse_by_name_and_order_by_severity() {
        for level in LogLevel::ALL {
            assert_eq!(LogLevel::parse(level.as_str()), Some(level));
        }
        assert!(LogLevel::Debug < LogLevel::Warning && LogLevel::Warning < LogLevel::Emergency);
        assert_eq!(LogLevel::parse("WARNING"), None);
        assert_eq!(LogLevel::parse("warn"), None);
    }

    #[test]
    fn set_level_needs_a_known_level() {
        let params = |value: Value| value.as_object().cloned();
        assert_eq!(
            set_level_params(params(json!({"level": "info"})).as_ref()),
            Ok(LogLevel::Info)
        );
        for bad in [json!({}), json!({"level": 3}), json!({"level": "loud"})] {
            let err = set_level_params(params(bad.clone()).as_ref()).unwrap_err();
            assert_eq!(err.code, ErrorCode::INVALID_PARAMS, "{bad}");
            assert!(err.message.contains("warning"), "{}", err.message);
        }
        assert!(set_level_params(None).is_err());
    }

    #[test]
    fn messages_go_out_only_at_or_above_the_level_the_client_set() {
        let warning = LogMessage::warning("cut short");
        assert!(!warning.wanted(None), "nothing before the client asks");
        assert!(warning.wanted(Some(LogLevel::Debug)));
        assert!(warning.wanted(Some(LogLevel::Warning)));
        assert!(!warning.wanted(Some(LogLevel::Error)));
        let notification = serde_json::to_value(warning.notification().params).unwrap();
        assert_eq!(
            notification,
            json!({"level": "warning", "logger": "second-brain", "data": "cut short"})
        );
    }
}
