//! The Streamable HTTP rules for `/mcp`, as pure decisions.
//!
//! Two steps, so the Worker reads a body only after the head passed:
//! 1. [`admit`] looks at the method and headers and returns an [`Admission`]: read the body of a
//!    POST, open a GET stream, or end a session; or a [`Rejection`].
//! 2. For a POST, [`PostAdmission::plan`] parses the body and returns a [`PostPlan`]: start a
//!    session with `initialize`, hand messages to an existing session, or serve one stateless
//!    (2026-07-28) request.
//!
//! Once the Durable Object has found a session, [`session_version`] settles the version the
//! request is served in (404 for unknown sessions is [`Rejection::UnknownSession`]).
//!
//! Checks run in this order, so the first failure is the one reported: `Origin` (403), method
//! (405), `MCP-Protocol-Version` (400), then per method. POST: `Accept` (406), `Content-Type`
//! (415), size (413), session id syntax (400). GET: 405 in 2026-07-28 or when GET streams are
//! off, `Accept` (406), session id (400), `Last-Event-ID` (400). DELETE: 405 in 2026-07-28,
//! session id (400).
//!
//! A session's request is served in the session's negotiated version, whatever supported
//! version `MCP-Protocol-Version` names (see [`session_version`]); without a session and the
//! header, 2025-03-26 is assumed ([`ProtocolVersion::ASSUMED_WITHOUT_HEADER`]).

use super::headers::{self, HeaderLookup, SessionId, decode_mirrored};
use super::jsonrpc::{BatchError, ErrorCode, Incoming, Message, Request, Response, parse_body};
use super::lifecycle::{RequestMeta, meta_keys};
use super::origin::OriginPolicy;
use super::rejection::Rejection;
use super::sse::EventId;
use super::version::{Era, ProtocolVersion};

/// The largest POST body accepted: 2 MiB + 64 KiB. A write carries at most 1 MB of note text
/// (the per-call limit, `tool_schemas::MAX_WRITE_BYTES`, checked as the call is parsed); JSON string escaping at most doubles text made of newlines, quotes,
/// backslashes and tabs, and 64 KiB leaves room for the envelope. Text made mostly of other
/// control characters (escaped as `\u00XX`) can exceed this and gets 413.
pub const MAX_BODY_BYTES: u64 = 2 * 1024 * 1024 + 64 * 1024;

/// How `/mcp` is configured.
#[derive(Debug, Clone, Default)]
pub struct TransportConfig {
    /// Which browser origins may call.
    pub origins: OriginPolicy,
    /// Whether GET opens a server-to-client stream (handshake-era versions). When false, GET
    /// gets 405, which the transport pages allow.
    pub get_stream: bool,
}

/// What to do with a request whose head passed.
#[derive(Debug, Clone, PartialEq)]
pub enum Admission {
    /// Read the body (at most [`MAX_BODY_BYTES`]) and call [`PostAdmission::plan`].
    Post(PostAdmission),
    /// GET: open (or resume) the session's server-to-client SSE stream.
    OpenStream {
        /// The session.
        session: SessionId,
        /// `MCP-Protocol-Version`, if sent (check with [`session_version`]).
        header_version: Option<ProtocolVersion>,
        /// Where to resume, if the client is reconnecting.
        last_event_id: Option<EventId>,
    },
    /// DELETE: end the session.
    EndSession {
        /// The session.
        session: SessionId,
        /// `MCP-Protocol-Version`, if sent.
        header_version: Option<ProtocolVersion>,
    },
}

/// A POST whose head passed; what [`PostAdmission::plan`] needs from the headers.
#[derive(Debug, Clone, PartialEq)]
pub struct PostAdmission {
    header_version: Option<ProtocolVersion>,
    session: Option<SessionId>,
    method_header: Option<String>,
    name_header: Option<String>,
}

/// What a POST body asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum PostPlan {
    /// `initialize`: answer it (see `lifecycle`), mint a session and return its id in
    /// `MCP-Session-Id`. A session id sent along is ignored: this starts a new session.
    Initialize(Request),
    /// Messages for an existing session. Look the session up (404 when unknown), settle the
    /// version with [`session_version`], then process the messages.
    Session {
        /// The session.
        session: SessionId,
        /// `MCP-Protocol-Version`, if sent.
        header_version: Option<ProtocolVersion>,
        /// The message or batch.
        incoming: Incoming,
    },
    /// One stateless (2026-07-28) request or notification, served on its own.
    Stateless {
        /// The request's version.
        version: ProtocolVersion,
        /// The message (never a response).
        message: Message,
        /// The request's `_meta` (`None` for a notification).
        meta: Option<RequestMeta>,
    },
}

impl PostPlan {
    /// How many JSON-RPC requests the per-user rate limit counts for this POST: each request,
    /// and each invalid batch entry (it is answered too); never notifications or responses.
    pub fn requests(&self) -> u32 {
        let answered = |message: &Message| matches!(message, Message::Request(_));
        match self {
            PostPlan::Initialize(_) => 1,
            PostPlan::Session {
                incoming: Incoming::Single(message),
                ..
            }
            | PostPlan::Stateless { message, .. } => u32::from(answered(message)),
            PostPlan::Session {
                incoming: Incoming::Batch(entries),
                ..
            } => entries
                .iter()
                .filter(|entry| entry.as_ref().is_err() || entry.as_ref().is_ok_and(answered))
                .count() as u32,
        }
    }

    /// The id of the one request this POST carries, if it carries exactly one and no batch.
    pub fn request_id(&self) -> Option<&super::jsonrpc::RequestId> {
        match self {
            PostPlan::Initialize(request)
            | PostPlan::Session {
                incoming: Incoming::Single(Message::Request(request)),
                ..
            }
            | PostPlan::Stateless {
                message: Message::Request(request),
                ..
            } => Some(&request.id),
            _ => None,
        }
    }

    /// Whether the reply carries JSON-RPC; if not, it is 202 with no body.
    pub fn expects_response(&self) -> bool {
        match self {
            PostPlan::Initialize(_) => true,
            PostPlan::Session { incoming, .. } => incoming.expects_response(),
            PostPlan::Stateless { message, .. } => matches!(message, Message::Request(_)),
        }
    }
}

/// Checks the method and headers of a `/mcp` request. `content_length` is the
/// `Content-Length`, when known; a body of unknown length must still be cut off at
/// [`MAX_BODY_BYTES`] while reading ([`PostAdmission::plan`] checks the length it is given).
pub fn admit<H: HeaderLookup + ?Sized>(
    method: &str,
    headers: &H,
    content_length: Option<u64>,
    config: &TransportConfig,
) -> Result<Admission, Rejection> {
    if !config
        .origins
        .allows(headers.header(headers::ORIGIN).as_deref())
    {
        return Err(Rejection::ForbiddenOrigin);
    }
    let allow = if config.get_stream {
        "GET, POST, DELETE"
    } else {
        "POST, DELETE"
    };
    if !matches!(method, "POST" | "GET" | "DELETE") {
        return Err(Rejection::MethodNotAllowed {
            method: method.to_owned(),
            allow,
        });
    }
    let header_version =
        match headers.header(headers::PROTOCOL_VERSION) {
            None => None,
            Some(value) => Some(ProtocolVersion::parse(&value).map_err(|err| {
                Rejection::UnsupportedVersion {
                    requested: err.0.chars().take(64).collect(),
                }
            })?),
        };
    let stateless = header_version.is_some_and(|v| v.era() == Era::Stateless);
    match method {
        "POST" => {
            let accept = headers.header(headers::ACCEPT).unwrap_or_default();
            if !headers::accepts(&accept, headers::JSON)
                || !headers::accepts(&accept, headers::EVENT_STREAM)
            {
                return Err(Rejection::NotAcceptable {
                    needs: "both application/json and text/event-stream",
                });
            }
            let content_type = headers.header(headers::CONTENT_TYPE).unwrap_or_default();
            if !headers::is_json_content_type(&content_type) {
                return Err(Rejection::UnsupportedMediaType);
            }
            check_length(content_length)?;
            // 2026-07-28 ignores a session id; it must not be minted or echoed.
            let session = if stateless {
                None
            } else {
                optional_session(headers)?
            };
            Ok(Admission::Post(PostAdmission {
                header_version,
                session,
                method_header: headers.header(headers::METHOD).map(|v| v.into_owned()),
                name_header: headers.header(headers::NAME).map(|v| v.into_owned()),
            }))
        }
        "GET" => {
            if stateless {
                return Err(Rejection::MethodNotAllowed {
                    method: method.to_owned(),
                    allow: "POST",
                });
            }
            if !config.get_stream {
                return Err(Rejection::MethodNotAllowed {
                    method: method.to_owned(),
                    allow,
                });
            }
            let accept = headers.header(headers::ACCEPT).unwrap_or_default();
            if !headers::accepts(&accept, headers::EVENT_STREAM) {
                return Err(Rejection::NotAcceptable {
                    needs: "text/event-stream",
                });
            }
            let session = optional_session(headers)?.ok_or(Rejection::MissingSessionId)?;
            let last_event_id = headers
                .header(headers::LAST_EVENT_ID)
                .map(|value| EventId::parse(&value))
                .transpose()
                .map_err(Rejection::MalformedLastEventId)?;
            Ok(Admission::OpenStream {
                session,
                header_version,
                last_event_id,
            })
        }
        _ => {
            if stateless {
                return Err(Rejection::MethodNotAllowed {
                    method: method.to_owned(),
                    allow: "POST",
                });
            }
            let session = optional_session(headers)?.ok_or(Rejection::MissingSessionId)?;
            Ok(Admission::EndSession {
                session,
                header_version,
            })
        }
    }
}

fn optional_session<H: HeaderLookup + ?Sized>(headers: &H) -> Result<Option<SessionId>, Rejection> {
    headers
        .header(headers::SESSION_ID)
        .map(|value| SessionId::parse(&value))
        .transpose()
        .map_err(Rejection::MalformedSessionId)
}

fn check_length(length: Option<u64>) -> Result<(), Rejection> {
    match length {
        Some(length) if length > MAX_BODY_BYTES => Err(Rejection::PayloadTooLarge {
            limit: MAX_BODY_BYTES,
        }),
        _ => Ok(()),
    }
}

impl PostAdmission {
    /// Parses the body and decides how it is served.
    pub fn plan(self, body: &[u8]) -> Result<PostPlan, Rejection> {
        check_length(Some(body.len() as u64))?;
        let incoming = parse_body(body).map_err(Rejection::InvalidBody)?;
        let incoming = match incoming {
            Incoming::Single(Message::Request(request)) if request.method == "initialize" => {
                return Ok(PostPlan::Initialize(request));
            }
            other => other,
        };
        match self.header_version {
            Some(version) if version.era() == Era::Stateless => {
                self.plan_stateless(version, incoming)
            }
            header_version => {
                if header_version.is_none()
                    && let Some(rejection) = modern_request_without_header(&incoming)
                {
                    return Err(rejection);
                }
                // Refuse what no session could accept (a batch holding `initialize`, or
                // mixing responses); whether the session's version has batches at all is
                // settled by `session_version`, whatever the header says.
                incoming
                    .check_batch(ProtocolVersion::V2025_03_26)
                    .map_err(Rejection::Batch)?;
                let session = self.session.ok_or(Rejection::MissingSessionId)?;
                Ok(PostPlan::Session {
                    session,
                    header_version,
                    incoming,
                })
            }
        }
    }

    fn plan_stateless(
        self,
        version: ProtocolVersion,
        incoming: Incoming,
    ) -> Result<PostPlan, Rejection> {
        let message = match incoming {
            Incoming::Single(message) => message,
            Incoming::Batch(_) => return Err(Rejection::Batch(BatchError::NotAllowed(version))),
        };
        let id = match &message {
            Message::Response(_) => return Err(Rejection::ResponseNotAllowed(version)),
            Message::Request(request) => Some(request.id.clone()),
            Message::Notification(_) => None,
        };
        let mismatch = |detail: String| Rejection::HeaderMismatch {
            id: id.clone(),
            detail,
        };
        let method = message.method().unwrap_or_default();
        match (&self.method_header, &id) {
            (Some(header), _) if header != method => {
                return Err(mismatch(format!(
                    "Mcp-Method header value {header:?} does not match body method {method:?}"
                )));
            }
            (None, Some(_)) => return Err(mismatch("the Mcp-Method header is required".into())),
            _ => {}
        }
        if let Some(field) = mirrored_name_field(method) {
            let body_value = message
                .params()
                .and_then(|params| params.get(field))
                .and_then(|value| value.as_str());
            match (&self.name_header, body_value) {
                (None, _) if id.is_some() => {
                    return Err(mismatch(format!(
                        "the Mcp-Name header is required for {method}"
                    )));
                }
                (Some(header), body_value) => {
                    let decoded = decode_mirrored(header)
                        .map_err(|err| mismatch(format!("Mcp-Name: {err}")))?;
                    if Some(decoded.as_ref()) != body_value {
                        return Err(mismatch(format!(
                            "Mcp-Name header value {:?} does not match body params.{field} {:?}",
                            decoded.as_ref(),
                            body_value.unwrap_or_default()
                        )));
                    }
                }
                (None, _) => {}
            }
        }
        let meta = match &message {
            Message::Request(request) => {
                let meta = RequestMeta::from_params(request.params.as_ref()).map_err(|error| {
                    Rejection::InvalidMeta {
                        id: id.clone(),
                        error,
                    }
                })?;
                if meta.protocol_version != version.as_str() {
                    return Err(mismatch(format!(
                        "MCP-Protocol-Version header value {:?} does not match params._meta {:?}",
                        version.as_str(),
                        meta.protocol_version
                    )));
                }
                Some(meta)
            }
            _ => None,
        };
        Ok(PostPlan::Stateless {
            version,
            message,
            meta,
        })
    }
}

/// The body field `Mcp-Name` mirrors for `method` (2026-07-28 "Standard Request Headers").
fn mirrored_name_field(method: &str) -> Option<&'static str> {
    match method {
        "tools/call" | "prompts/get" => Some("name"),
        "resources/read" => Some("uri"),
        _ => None,
    }
}

/// A stateless request sent without `MCP-Protocol-Version` is told so, rather than being taken
/// for a 2025-03-26 request without a session.
fn modern_request_without_header(incoming: &Incoming) -> Option<Rejection> {
    let Incoming::Single(Message::Request(request)) = incoming else {
        return None;
    };
    let meta = request.params.as_ref()?.get("_meta")?.as_object()?;
    meta.contains_key(meta_keys::PROTOCOL_VERSION)
        .then(|| Rejection::HeaderMismatch {
            id: Some(request.id.clone()),
            detail: "the MCP-Protocol-Version header is required".into(),
        })
}

/// The version a session's request is served in: always the session's negotiated version.
/// `MCP-Protocol-Version` may name any version we support (an unsupported one was refused
/// with 400 in [`admit`]), even one other than the session's: the official SDKs accept any
/// supported version there, and clients that reuse one HTTP client across sessions send
/// whichever they last negotiated. The header never changes how a session's request is
/// served. Batches are checked against the negotiated version.
pub fn session_version(
    _header_version: Option<ProtocolVersion>,
    negotiated: ProtocolVersion,
    incoming: Option<&Incoming>,
) -> Result<ProtocolVersion, Rejection> {
    if let Some(incoming) = incoming {
        incoming.check_batch(negotiated).map_err(Rejection::Batch)?;
    }
    Ok(negotiated)
}

/// The HTTP status for a JSON-RPC reply to a request served in `version`. Before 2026-07-28
/// every JSON-RPC reply, error or not, travels with 200. In 2026-07-28 an unknown method is
/// 404 and the protocol errors it defines for bad requests (`HeaderMismatch`,
/// `MissingRequiredClientCapability`, `UnsupportedProtocolVersion`) are 400.
pub fn response_status(version: ProtocolVersion, response: &Response) -> u16 {
    let Response::Error { error, .. } = response else {
        return 200;
    };
    if !version.method_not_found_is_http_404() {
        return 200;
    }
    match error.code {
        ErrorCode::METHOD_NOT_FOUND => 404,
        ErrorCode::HEADER_MISMATCH
        | ErrorCode::MISSING_REQUIRED_CLIENT_CAPABILITY
        | ErrorCode::UNSUPPORTED_PROTOCOL_VERSION => 400,
        _ => 200,
    }
}

#[cfg(test)]
mod tests;
