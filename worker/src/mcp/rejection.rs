//! Why `/mcp` refuses a request, as an HTTP status plus a JSON-RPC error body.
//!
//! Statuses come from the transport pages: 400 for a bad or missing session id or version
//! header (and, in 2026-07-28, for header mismatches and missing `_meta`), 403 for a bad
//! `Origin`, 404 for an unknown session, 405 for a method the endpoint does not serve. 406, 413
//! and 415 are plain HTTP for the `Accept`, size and `Content-Type` rules. Bodies are JSON-RPC
//! error responses, without `id` unless the request's id is known.

use thiserror::Error;

use super::headers::SessionIdError;
use super::jsonrpc::{BatchError, BodyError, ErrorCode, ErrorObject, RequestId, Response};
use super::sse::LastEventIdError;
use super::version::ProtocolVersion;

/// A refused `/mcp` request.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum Rejection {
    /// `Origin` is present and not allowed: 403.
    #[error("origin not allowed")]
    ForbiddenOrigin,
    /// The endpoint does not serve this method (here, or in this version): 405 with `Allow`.
    #[error("method {method} not allowed; allowed: {allow}")]
    MethodNotAllowed {
        /// The method used.
        method: String,
        /// The `Allow` header value.
        allow: &'static str,
    },
    /// `Accept` does not admit what we may answer with: 406.
    #[error("the Accept header must list {needs}")]
    NotAcceptable {
        /// What it must list.
        needs: &'static str,
    },
    /// The body is not `application/json`: 415.
    #[error("the Content-Type must be application/json")]
    UnsupportedMediaType,
    /// The body is larger than the limit: 413.
    #[error("the body is larger than {limit} bytes")]
    PayloadTooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// `MCP-Protocol-Version` names a version we do not speak: 400 with -32022.
    #[error("unsupported protocol version {requested:?}")]
    UnsupportedVersion {
        /// The header's value.
        requested: String,
    },
    /// `MCP-Session-Id` is not a valid session id: 400.
    #[error("malformed MCP-Session-Id: {0}")]
    MalformedSessionId(SessionIdError),
    /// A request other than `initialize` came without `MCP-Session-Id`: 400.
    #[error("MCP-Session-Id is required (send initialize first to get one)")]
    MissingSessionId,
    /// The session does not exist or has ended: 404. The client must initialize again.
    #[error("session not found; send initialize to start a new session")]
    UnknownSession,
    /// `Last-Event-ID` is not an event id we issued: 400.
    #[error("{0}")]
    MalformedLastEventId(LastEventIdError),
    /// The body is not JSON or not a message: 400 with -32700 or -32600.
    #[error("{0}")]
    InvalidBody(BodyError),
    /// A batch that may not be processed: 400 with -32600.
    #[error("{0}")]
    Batch(BatchError),
    /// The client posted a response where none may be sent (2026-07-28): 400 with -32600.
    #[error("clients must not send JSON-RPC responses in protocol version {0}")]
    ResponseNotAllowed(ProtocolVersion),
    /// Mirrored headers missing or different from the body (2026-07-28): 400 with -32020.
    #[error("header mismatch: {detail}")]
    HeaderMismatch {
        /// The request's id, when known.
        id: Option<RequestId>,
        /// Which header and why.
        detail: String,
    },
    /// Required `_meta` fields missing (2026-07-28): 400 with -32602.
    #[error("{}", error.message)]
    InvalidMeta {
        /// The request's id.
        id: Option<RequestId>,
        /// The -32602 error.
        error: ErrorObject,
    },
}

impl Rejection {
    /// The HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            Rejection::ForbiddenOrigin => 403,
            Rejection::MethodNotAllowed { .. } => 405,
            Rejection::NotAcceptable { .. } => 406,
            Rejection::UnsupportedMediaType => 415,
            Rejection::PayloadTooLarge { .. } => 413,
            Rejection::UnknownSession => 404,
            Rejection::UnsupportedVersion { .. }
            | Rejection::MalformedSessionId(_)
            | Rejection::MissingSessionId
            | Rejection::MalformedLastEventId(_)
            | Rejection::InvalidBody(_)
            | Rejection::Batch(_)
            | Rejection::ResponseNotAllowed(_)
            | Rejection::HeaderMismatch { .. }
            | Rejection::InvalidMeta { .. } => 400,
        }
    }

    /// The `Allow` header to send, for 405.
    pub fn allow(&self) -> Option<&'static str> {
        match self {
            Rejection::MethodNotAllowed { allow, .. } => Some(allow),
            _ => None,
        }
    }

    /// The JSON-RPC error response to send as the body.
    pub fn response(&self) -> Response {
        match self {
            Rejection::InvalidBody(err) => err.to_response(),
            Rejection::UnsupportedVersion { requested } => {
                Response::error(None, ProtocolVersion::unsupported_error(requested))
            }
            Rejection::HeaderMismatch { id, .. } => Response::error(
                id.clone(),
                ErrorObject::new(ErrorCode::HEADER_MISMATCH, self.to_string()),
            ),
            Rejection::InvalidMeta { id, error } => Response::error(id.clone(), error.clone()),
            other => Response::error(None, ErrorObject::invalid_request(other.to_string())),
        }
    }

    /// A short stable name for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Rejection::ForbiddenOrigin => "forbidden_origin",
            Rejection::MethodNotAllowed { .. } => "method_not_allowed",
            Rejection::NotAcceptable { .. } => "not_acceptable",
            Rejection::UnsupportedMediaType => "unsupported_media_type",
            Rejection::PayloadTooLarge { .. } => "payload_too_large",
            Rejection::UnsupportedVersion { .. } => "unsupported_version",
            Rejection::MalformedSessionId(_) => "malformed_session_id",
            Rejection::MissingSessionId => "missing_session_id",
            Rejection::UnknownSession => "unknown_session",
            Rejection::MalformedLastEventId(_) => "malformed_last_event_id",
            Rejection::InvalidBody(_) => "invalid_body",
            Rejection::Batch(_) => "batch_refused",
            Rejection::ResponseNotAllowed(_) => "response_not_allowed",
            Rejection::HeaderMismatch { .. } => "header_mismatch",
            Rejection::InvalidMeta { .. } => "invalid_meta",
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn body(rejection: &Rejection) -> serde_json::Value {
        serde_json::to_value(rejection.response()).unwrap()
    }

    #[test]
    fn statuses_and_codes() {
        let cases: Vec<(Rejection, u16, i64)> = vec![
            (Rejection::ForbiddenOrigin, 403, -32600),
            (
                Rejection::MethodNotAllowed {
                    method: "PUT".into(),
                    allow: "GET, POST, DELETE",
                },
                405,
                -32600,
            ),
            (Rejection::NotAcceptable { needs: "x" }, 406, -32600),
            (Rejection::UnsupportedMediaType, 415, -32600),
            (Rejection::PayloadTooLarge { limit: 10 }, 413, -32600),
            (
                Rejection::UnsupportedVersion {
                    requested: "1900-01-01".into(),
                },
                400,
                -32022,
            ),
            (
                Rejection::MalformedSessionId(SessionIdError::Empty),
                400,
                -32600,
            ),
            (Rejection::MissingSessionId, 400, -32600),
            (Rejection::UnknownSession, 404, -32600),
            (
                Rejection::MalformedLastEventId(LastEventIdError("x".into())),
                400,
                -32600,
            ),
            (
                Rejection::InvalidBody(BodyError::Parse("eof".into())),
                400,
                -32700,
            ),
            (Rejection::InvalidBody(BodyError::EmptyBatch), 400, -32600),
            (
                Rejection::Batch(BatchError::NotAllowed(ProtocolVersion::V2025_06_18)),
                400,
                -32600,
            ),
            (
                Rejection::ResponseNotAllowed(ProtocolVersion::V2026_07_28),
                400,
                -32600,
            ),
            (
                Rejection::HeaderMismatch {
                    id: None,
                    detail: "d".into(),
                },
                400,
                -32020,
            ),
            (
                Rejection::InvalidMeta {
                    id: None,
                    error: ErrorObject::invalid_params("m"),
                },
                400,
                -32602,
            ),
        ];
        let mut kinds = std::collections::HashSet::new();
        for (rejection, status, code) in cases {
            assert_eq!(rejection.status(), status, "{rejection:?}");
            assert_eq!(body(&rejection)["error"]["code"], code, "{rejection:?}");
            assert_eq!(body(&rejection)["jsonrpc"], "2.0");
            assert_eq!(rejection.allow().is_some(), status == 405);
            kinds.insert(rejection.kind());
        }
        assert_eq!(kinds.len(), 15, "every kind is distinct");
    }

    #[test]
    fn bodies_carry_the_id_only_when_known() {
        let with_id = Rejection::HeaderMismatch {
            id: Some(RequestId::Number(3)),
            detail: "Mcp-Name header value 'a' does not match body value 'b'".into(),
        };
        assert_eq!(
            body(&with_id),
            json!({"jsonrpc": "2.0", "id": 3, "error": {
                "code": -32020,
                "message": "header mismatch: Mcp-Name header value 'a' does not match body value 'b'"
            }})
        );
        assert!(body(&Rejection::MissingSessionId).get("id").is_none());
    }

    #[test]
    fn unsupported_version_body_lists_supported_versions() {
        let rejection = Rejection::UnsupportedVersion {
            requested: "2099-01-01".into(),
        };
        let body = body(&rejection);
        assert_eq!(body["error"]["data"]["requested"], "2099-01-01");
        assert_eq!(body["error"]["data"]["supported"][0], "2026-07-28");
    }
}
