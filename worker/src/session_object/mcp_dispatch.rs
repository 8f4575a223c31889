//! MCP over Streamable HTTP inside the user's object: admission (again: the rules are pure and
//! cheap, and the object must not trust more than the headers say), the body, sessions, and
//! the JSON-RPC methods we serve. A user whose notes cannot be restored from the archive gets
//! 503 with a JSON-RPC error that says so, for every request.
//!
//! Replies are JSON (`application/json`): one response object, a batch's array of responses,
//! or 202 with no body when nothing needs an answer. GET streams are not offered yet (405).
//! Sessions live in the store: `initialize` opens one (its id is 32 random bytes in hex),
//! every later request touches it, DELETE closes it; an unknown, expired or other user's
//! session is 404.

use serde_json::{Value, json};
use worker::{Request, Response, Result};

use super::restore::StoreUnavailable;
use super::{USER_HEADER, UserObject, now};
use crate::config::Config;
use crate::mcp::headers::{SESSION_ID, SessionId};
use crate::mcp::jsonrpc::{self, ErrorObject, Incoming, Message};
use crate::mcp::lifecycle::{
    InitializeParams, InitializeResult, ServerFeatures, discover_result, finish_result,
};
use crate::mcp::rejection::Rejection;
use crate::mcp::tool_call::{ToolCall, ToolCallReply};
use crate::mcp::tools::list_tools_result;
use crate::mcp::transport::{
    Admission, MAX_BODY_BYTES, PostPlan, admit, response_status, session_version,
};
use crate::mcp::version::{Era, ProtocolVersion};
use crate::mcp_http::{self, BodyReadError};
use crate::note_tools::{self, Notes};
use crate::reply;

/// What this server implements today.
const FEATURES: ServerFeatures = ServerFeatures::TOOLS_ONLY;

impl UserObject {
    /// Serves one `/mcp` request forwarded by the front Worker.
    pub(super) async fn serve_mcp(&self, mut req: Request) -> Result<Response> {
        let Some(user) = req.headers().get(USER_HEADER)? else {
            return reply::error(400, "no_user", "the request does not name its user");
        };
        if !self.bind_user(&user)? {
            worker::console_error!(
                "{}",
                json!({"msg": "wrong_object", "detail": "a request for another user reached this object"})
            );
            return reply::error(500, "internal", "the request reached the wrong object");
        }
        let config = match Config::from_env(&self.env) {
            Ok(config) => config,
            Err(err) => return reply::error(503, "misconfigured", &err.to_string()),
        };
        let transport = mcp_http::transport_config(&config);
        let method = req.method().to_string();
        let length = mcp_http::content_length(req.headers());
        let admission = match admit(&method, req.headers(), length, &transport) {
            Ok(admission) => admission,
            Err(rejection) => return mcp_http::rejection(&rejection),
        };
        match self.ensure_store().await {
            Ok(()) => {}
            Err(StoreUnavailable::Restore(message)) => return not_restored(&message),
            Err(other) => {
                log_failure("store_open_failed", &format!("{other:?}"));
                return internal_error(None);
            }
        }
        let now = now();
        let response = match admission {
            Admission::Post(post) => {
                let body = match mcp_http::read_body(&mut req).await {
                    Ok(body) => body,
                    Err(BodyReadError::TooLarge) => {
                        return mcp_http::rejection(&Rejection::PayloadTooLarge {
                            limit: MAX_BODY_BYTES,
                        });
                    }
                    Err(BodyReadError::Failed(err)) => return Err(err),
                };
                match post.plan(&body) {
                    Err(rejection) => mcp_http::rejection(&rejection),
                    Ok(PostPlan::Initialize(request)) => self.initialize(&user, request, now),
                    Ok(PostPlan::Session {
                        session,
                        header_version,
                        incoming,
                    }) => match self.session_version(&user, &session, now) {
                        Err(refusal) => refusal.into_response(),
                        Ok(negotiated) => {
                            match session_version(header_version, negotiated, Some(&incoming)) {
                                Err(rejection) => mcp_http::rejection(&rejection),
                                Ok(version) => self.answer(version, incoming, now).await,
                            }
                        }
                    },
                    Ok(PostPlan::Stateless {
                        version, message, ..
                    }) => self.answer(version, Incoming::Single(message), now).await,
                }
            }
            Admission::EndSession {
                session,
                header_version,
            } => self.end_session(&user, &session, header_version, now),
            Admission::OpenStream { .. } => mcp_http::rejection(&Rejection::MethodNotAllowed {
                method,
                allow: "POST, DELETE",
            }),
        };
        self.reschedule().await;
        response
    }

    /// `initialize`: negotiate, open a session in the store, answer with its id.
    fn initialize(
        &self,
        user: &str,
        request: jsonrpc::Request,
        now: engine::Timestamp,
    ) -> Result<Response> {
        let params = match InitializeParams::from_params(request.params.as_ref()) {
            Ok(params) => params,
            Err(error) => {
                return mcp_http::json(200, &jsonrpc::Response::error(Some(request.id), error));
            }
        };
        let version = params.negotiated();
        let mut random = [0u8; 32];
        if getrandom::fill(&mut random).is_err() {
            return internal_error(Some(request.id));
        }
        let session = SessionId::from_random(random);
        let Ok(engine_session) = engine::SessionId::new(session.as_str()) else {
            return internal_error(Some(request.id));
        };
        let Ok(event) = note_tools::event_id() else {
            return internal_error(Some(request.id));
        };
        let (client_name, client_version) = params
            .client_info
            .map(|info| (info.name, info.version))
            .unwrap_or_default();
        let open = engine::store::OpenSession {
            session: engine_session,
            user: user.to_owned(),
            protocol_version: version.as_str().to_owned(),
            client_name,
            client_version,
        };
        let opened = self.with_store(|store| store.open_session(event, open, now));
        match opened {
            Some(Ok(_)) => {}
            Some(Err(engine::store::SessionError::TooMany { max })) => {
                let error = ErrorObject::new(
                    jsonrpc::ErrorCode::INTERNAL_ERROR,
                    format!(
                        "{max} sessions are open, the most allowed; close one or wait for one \
                         to expire"
                    ),
                );
                return mcp_http::json(200, &jsonrpc::Response::error(Some(request.id), error));
            }
            Some(Err(err)) => {
                log_failure("session_open_failed", &err.to_string());
                return internal_error(Some(request.id));
            }
            None => return internal_error(Some(request.id)),
        }
        let result =
            serde_json::to_value(InitializeResult::new(version, &FEATURES)).unwrap_or(Value::Null);
        let response = mcp_http::json(
            200,
            &jsonrpc::Response::result(request.id, finish_result(version, result)),
        )?;
        response.headers().set(SESSION_ID, session.as_str())?;
        Ok(response)
    }

    /// The negotiated version of `session`, touching it; 404 when it is not `user`'s open
    /// session.
    fn session_version(
        &self,
        user: &str,
        session: &SessionId,
        now: engine::Timestamp,
    ) -> std::result::Result<ProtocolVersion, Refusal> {
        let id = engine::SessionId::new(session.as_str())
            .map_err(|_| Refusal::Rejected(Rejection::UnknownSession))?;
        let found = self.with_store(|store| {
            match store.session(&id, now) {
                Ok(found) if found.user == user => {}
                Ok(_) => return Err(Refusal::Rejected(Rejection::UnknownSession)),
                Err(err) => return Err(session_refusal(err)),
            }
            store
                .touch_session(&id, now)
                .map(|found| found.protocol_version.clone())
                .map_err(session_refusal)
        });
        let negotiated = found.ok_or(Refusal::Internal)??;
        Ok(ProtocolVersion::parse(&negotiated).unwrap_or(ProtocolVersion::LATEST_HANDSHAKE))
    }

    /// DELETE: closes `user`'s session.
    fn end_session(
        &self,
        user: &str,
        session: &SessionId,
        header_version: Option<ProtocolVersion>,
        now: engine::Timestamp,
    ) -> Result<Response> {
        let negotiated = match self.session_version(user, session, now) {
            Ok(version) => version,
            Err(refusal) => return refusal.into_response(),
        };
        if let Err(rejection) = session_version(header_version, negotiated, None) {
            return mcp_http::rejection(&rejection);
        }
        let (Ok(id), Ok(event)) = (
            engine::SessionId::new(session.as_str()),
            note_tools::event_id(),
        ) else {
            return internal_error(None);
        };
        match self.with_store(|store| store.close_session(event, &id, now)) {
            Some(Ok(_)) => Ok(Response::empty()?.with_status(204)),
            Some(Err(err)) => session_refusal(err).into_response(),
            None => internal_error(None),
        }
    }

    /// Answers the messages of one POST in `version`.
    async fn answer(
        &self,
        version: ProtocolVersion,
        incoming: Incoming,
        now: engine::Timestamp,
    ) -> Result<Response> {
        match incoming {
            Incoming::Single(Message::Request(request)) => {
                let response = self.handle(version, request, now).await;
                mcp_http::json(response_status(version, &response), &response)
            }
            Incoming::Single(_) => mcp_http::accepted(),
            Incoming::Batch(entries) => {
                let mut responses = Vec::new();
                for entry in entries {
                    match entry {
                        Ok(Message::Request(request)) => {
                            responses.push(self.handle(version, request, now).await);
                        }
                        Ok(_) => {}
                        Err(invalid) => responses.push(invalid.to_response()),
                    }
                }
                if responses.is_empty() {
                    mcp_http::accepted()
                } else {
                    mcp_http::json(200, &responses)
                }
            }
        }
    }

    /// One request's response.
    async fn handle(
        &self,
        version: ProtocolVersion,
        request: jsonrpc::Request,
        now: engine::Timestamp,
    ) -> jsonrpc::Response {
        let result = match request.method.as_str() {
            "ping" => Ok(json!({})),
            "tools/list" => Ok(list_tools_result(version)),
            "tools/call" => self.call_tool(version, request.params.as_ref(), now).await,
            "server/discover" if version.era() == Era::Stateless => Ok(discover_result(&FEATURES)),
            "initialize" => Err(ErrorObject::invalid_request(
                "this session is initialized already; send initialize without a session id to \
                 start a new one",
            )),
            other => Err(ErrorObject::method_not_found(other)),
        };
        match result {
            Ok(value) => jsonrpc::Response::result(request.id, finish_result(version, value)),
            Err(error) => jsonrpc::Response::error(Some(request.id), error),
        }
    }

    async fn call_tool(
        &self,
        version: ProtocolVersion,
        params: Option<&serde_json::Map<String, Value>>,
        now: engine::Timestamp,
    ) -> std::result::Result<Value, ErrorObject> {
        let call = match ToolCall::parse(params) {
            Ok(call) => call,
            Err(err) => {
                return match err.reply(version) {
                    ToolCallReply::ProtocolError(error) => Err(error),
                    ToolCallReply::ToolError(result) => Ok(result.to_value()),
                };
            }
        };
        let bucket = self.env.bucket("STORAGE").map_err(|err| {
            log_failure("no_bucket", &err.to_string());
            ErrorObject::internal("note storage is not available")
        })?;
        let notes = Notes {
            store: &self.store,
            bucket,
            now,
        };
        Ok(note_tools::call(&notes, version, call).await.to_value())
    }

    /// Runs `f` on the open store; `None` when it is not open or is borrowed.
    fn with_store<R>(
        &self,
        f: impl FnOnce(&mut engine::Store<crate::do_storage::DoStorage>) -> R,
    ) -> Option<R> {
        let mut slot = self.store.try_borrow_mut().ok()?;
        slot.as_mut().map(f)
    }
}

/// Why a session's request is not served.
#[derive(Debug)]
enum Refusal {
    /// A transport refusal (404 for sessions).
    Rejected(Rejection),
    /// The server failed.
    Internal,
}

impl Refusal {
    fn into_response(self) -> Result<Response> {
        match self {
            Refusal::Rejected(rejection) => mcp_http::rejection(&rejection),
            Refusal::Internal => internal_error(None),
        }
    }
}

fn session_refusal(err: engine::store::SessionError) -> Refusal {
    use engine::store::SessionError;
    match err {
        SessionError::NotFound(_) | SessionError::Expired(_) => {
            Refusal::Rejected(Rejection::UnknownSession)
        }
        other => {
            log_failure("session_failed", &other.to_string());
            Refusal::Internal
        }
    }
}

/// 500 with a JSON-RPC internal error that reveals nothing.
fn internal_error(id: Option<jsonrpc::RequestId>) -> Result<Response> {
    mcp_http::json(
        500,
        &jsonrpc::Response::error(id, ErrorObject::internal("the server failed; try again")),
    )
}

/// 503 with a JSON-RPC error saying that the user's notes are not served because the archive
/// they must be rebuilt from is damaged (never an empty store in their place).
fn not_restored(reason: &str) -> Result<Response> {
    let error = ErrorObject::new(
        jsonrpc::ErrorCode::INTERNAL_ERROR,
        format!(
            "your notes could not be restored from their archive, so they are not served \
             (nothing was changed; the operator must repair the archive): {reason}"
        ),
    );
    mcp_http::json(503, &jsonrpc::Response::error(None, error))
}

fn log_failure(what: &str, error: &str) {
    worker::console_error!("{}", json!({"msg": what, "error": error}));
}
