//! MCP over Streamable HTTP inside the user's object: admission (again: the rules are pure and
//! cheap, and the object must not trust more than the headers say), the body, sessions, and
//! the JSON-RPC methods we serve. A user whose notes cannot be restored from the archive gets
//! 503 with a JSON-RPC error that says so, for every request.
//!
//! Replies are JSON (`application/json`): one response object, a batch's array of responses,
//! or 202 with no body when nothing needs an answer; except a single `tools/call` that carries
//! `_meta.progressToken`, which is answered with an SSE stream so progress can flow
//! (`post_stream`; calls inside a batch, 2025-03-26 and older, keep JSON replies). GET opens the session's stream of resource updates (`get_stream`), or,
//! with an outbox id in `Last-Event-ID`, resumes a POST's stream.
//!
//! Sessions live in the store: `initialize` opens one (its id is 32 random bytes in hex),
//! every later request touches it, DELETE closes it; an unknown, expired or other user's
//! session is 404. When a session ends (DELETE or expiry), its requests in flight are
//! cancelled, its GET stream ends, and its subscriptions and outbox rows are deleted.
//!
//! Cancellation: `notifications/cancelled` marks the session's request in flight; tool loops
//! stop at their next check. A cancelled SSE reply closes without a response; a cancelled JSON
//! reply answers -32800 (HTTP needs an answer).

use std::cell::RefCell;

use serde_json::{Value, json};
use worker::{Request, Response, Result};

use super::live::RunningCall;
use super::replies::{BatchReplies, logged_reply};
use super::restore::StoreUnavailable;
use super::{SCOPE_HEADER, USER_HEADER, UserObject, now};
use crate::config::Config;
use crate::mcp::headers::{SESSION_ID, SessionId};
use crate::mcp::jsonrpc::{self, ErrorObject, Incoming, Message};
use crate::mcp::lifecycle::{
    InitializeParams, InitializeResult, ServerFeatures, discover_result, finish_result,
};
use crate::mcp::logging::{self, LogLevel, LogMessage};
use crate::mcp::progress::{self, Cancelled, ProgressToken};
use crate::mcp::rejection::Rejection;
use crate::mcp::sse::EventId;
use crate::mcp::tool_call::{ToolCall, ToolCallReply};
use crate::mcp::tool_schemas;
use crate::mcp::tools::CallToolResult;
use crate::mcp::tools::list_tools_result;
use crate::mcp::transport::{
    Admission, MAX_BODY_BYTES, PostPlan, admit, response_status, session_version,
};
use crate::mcp::version::{Era, ProtocolVersion};
use crate::mcp::{prompts, resources};
use crate::mcp_http;
use crate::note_tools::{self, CallCancelled, CallControl, Notes, RequestKey};
use crate::oauth::scope::{Scope, ScopeSet};
use crate::request_body::BodyError;
use crate::user_limits::{DECISION_HEADER, UserLimit};
use crate::{note_prompts, note_resources, reply};

/// Local development: a pause between the steps of long tool loops, so tests can cancel or
/// poll a call while it runs.
const DEV_STEP_PAUSE_MS: &str = "DEV_STEP_PAUSE_MS";
/// The longest pause `DEV_STEP_PAUSE_MS` may ask for.
const MAX_STEP_PAUSE_MS: u64 = 1_000;

/// What this server implements: tools, resources with subscriptions, prompts, logging.
const FEATURES: ServerFeatures = ServerFeatures {
    resources_subscribe: true,
    logging: true,
    ..ServerFeatures::TOOLS_RESOURCES_PROMPTS
};

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
        let may_write = may_write(req.headers())?;
        let sql = self.sql();
        let limit = UserLimit::of(&sql, req.headers());
        // A user with no request left is refused before a body that could hold one is read.
        if let (Some(limit), Admission::Post(_)) = (&limit, &admission)
            && let Some(refused) = limit.refuse_if_full(length)?
        {
            return Ok(refused);
        }
        let mut decision = "not_counted";
        match self.ensure_store().await {
            Ok(()) => {}
            Err(StoreUnavailable::Restore(error)) => return not_restored(&error.to_string()),
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
                    Err(BodyError::TooLarge { .. }) => {
                        return mcp_http::rejection(&Rejection::PayloadTooLarge {
                            limit: MAX_BODY_BYTES,
                        });
                    }
                    Err(BodyError::Failed(err)) => return Err(err),
                };
                let plan = post.plan(&body);
                if let (Some(limit), Ok(plan)) = (&limit, &plan) {
                    if let Some(refused) =
                        limit.count(plan.requests(), plan.request_id().cloned())?
                    {
                        return Ok(refused);
                    }
                    if plan.requests() > 0 {
                        decision = "admitted";
                    }
                }
                match plan {
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
                                Ok(version) => {
                                    let post = Post {
                                        version,
                                        session: Some(session.as_str()),
                                        now,
                                        poll_after_ms: config.streams.poll_after_ms,
                                        may_write,
                                    };
                                    self.answer(&post, incoming).await
                                }
                            }
                        }
                    },
                    Ok(PostPlan::Stateless {
                        version, message, ..
                    }) => {
                        let post = Post {
                            version,
                            session: None,
                            now,
                            poll_after_ms: None,
                            may_write,
                        };
                        self.answer(&post, Incoming::Single(message)).await
                    }
                }
            }
            Admission::EndSession {
                session,
                header_version,
            } => self.end_session(&user, &session, header_version, now),
            Admission::OpenStream {
                session,
                header_version,
                last_event_id,
            } => match self.session_version(&user, &session, now) {
                Err(refusal) => refusal.into_response(),
                Ok(negotiated) => match session_version(header_version, negotiated, None) {
                    Err(rejection) => mcp_http::rejection(&rejection),
                    Ok(version) => match last_event_id {
                        Some(EventId::Outbox(row)) => {
                            self.resume_post_stream(&session, version, row, &config.streams, now)
                        }
                        Some(EventId::Log(after)) => {
                            self.open_get_stream(&session, version, Some(after), &config.streams)
                        }
                        None => self.open_get_stream(&session, version, None, &config.streams),
                    },
                },
            },
        };
        self.notify_changes();
        self.reschedule().await;
        let mut response = response?;
        if limit.is_some() {
            // Responses made in Rust have mutable headers; if not, the log just lacks the field.
            let _ = response.headers_mut().set(DECISION_HEADER, decision);
        }
        Ok(response)
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
            Some(Ok(_)) => {
                self.forget_session(session.as_str());
                Ok(Response::empty()?.with_status(204))
            }
            Some(Err(err)) => session_refusal(err).into_response(),
            None => internal_error(None),
        }
    }

    /// Answers the messages of one POST.
    async fn answer(&self, post: &Post<'_>, incoming: Incoming) -> Result<Response> {
        match incoming {
            Incoming::Single(Message::Request(request)) => {
                if request.method == "tools/call"
                    && let Some(token) = ProgressToken::from_params(request.params.as_ref())
                {
                    return self.stream_reply(post, request, token);
                }
                let (response, logs) = self.answer_one(post, request).await;
                if logs.is_empty() {
                    mcp_http::json(response_status(post.version, &response), &response)
                } else {
                    // Log messages go before the response, on an SSE reply (allowed for any
                    // POST whose client accepts text/event-stream, which `admit` checked).
                    logged_reply(post.version, &logs, &response)
                }
            }
            Incoming::Single(Message::Notification(notification)) => {
                self.on_notification(post.session, &notification);
                mcp_http::accepted()
            }
            Incoming::Single(Message::Response(_)) => mcp_http::accepted(),
            Incoming::Batch(entries) => {
                let mut replies = BatchReplies::default();
                for entry in entries {
                    match entry {
                        Ok(Message::Request(request)) if replies.is_full() => {
                            replies.push(&replies.not_run(request.id));
                        }
                        Ok(Message::Request(request)) => {
                            // A batch's JSON array has no room for log messages.
                            replies.push(&self.answer_one(post, request).await.0);
                        }
                        Ok(Message::Notification(notification)) => {
                            self.on_notification(post.session, &notification);
                        }
                        Ok(Message::Response(_)) => {}
                        Err(invalid) => replies.push(&invalid.to_response()),
                    }
                }
                replies.into_response()
            }
        }
    }

    /// Serves one request with a JSON reply; a cancelled one answers -32800. Also returns
    /// the log messages the session's client wants about it.
    async fn answer_one(
        &self,
        post: &Post<'_>,
        request: jsonrpc::Request,
    ) -> (jsonrpc::Response, Vec<LogMessage>) {
        let id = request.id.clone();
        let call = self.in_flight.borrow_mut().start(post.session, &id, None);
        let control = Unreported {
            call: &call,
            log_level: self.log_level(post.session),
            logs: RefCell::default(),
        };
        let response = self.handle(post, request, &control).await;
        self.in_flight
            .borrow_mut()
            .finish(post.session, &id, None, &call);
        self.notify_changes();
        let response = response
            .unwrap_or_else(|| jsonrpc::Response::error(Some(id), progress::request_cancelled()));
        (response, control.logs.into_inner())
    }

    /// The log level `session`'s client set; `None` when it set none (or has no session).
    pub(super) fn log_level(&self, session: Option<&str>) -> Option<LogLevel> {
        self.log_levels.borrow().get(session?).copied()
    }

    /// A notification from the client: only cancellation needs doing.
    fn on_notification(&self, session: Option<&str>, notification: &jsonrpc::Notification) {
        let Some(session) = session else {
            // 2026-07-28: a request is cancelled by closing its stream, not by notification.
            return;
        };
        if let Some(cancelled) = Cancelled::from_notification(notification) {
            let found = self
                .in_flight
                .borrow()
                .cancel(session, &cancelled.request_id);
            // The reason is the client's text: it is not logged (it may name the user's notes).
            worker::console_log!(
                "{}",
                json!({"msg": "request_cancelled", "found": found,
                       "has_reason": cancelled.reason.is_some()})
            );
        }
    }

    /// One request's response; `None` when it was cancelled before it finished.
    pub(super) async fn handle(
        &self,
        post: &Post<'_>,
        request: jsonrpc::Request,
        control: &dyn CallControl,
    ) -> Option<jsonrpc::Response> {
        let version = post.version;
        let now = post.now;
        // What makes a retry of this request recognisable (see `note_tools::call`): the
        // session's requests, for the user this object serves.
        let user = self.user.borrow().clone();
        let key = match (user.as_deref(), post.session) {
            (Some(user), Some(session)) => Some(RequestKey {
                user,
                session,
                request: &request.id,
            }),
            _ => None,
        };
        let result = match request.method.as_str() {
            "ping" => Ok(json!({})),
            "tools/list" => Ok(list_tools_result(version)),
            "tools/call" => {
                let started = worker::Date::now().as_millis();
                let called = self
                    .call_tool(
                        version,
                        request.params.as_ref(),
                        now,
                        key,
                        control,
                        post.may_write,
                    )
                    .await;
                self.tool_call_point(version, request.params.as_ref(), &called, started);
                match called {
                    Ok(result) => result,
                    Err(CallCancelled) => return None,
                }
            }
            method @ ("resources/subscribe" | "resources/unsubscribe")
                if FEATURES.resources_subscribe && version.has_sessions() =>
            {
                match post.session {
                    Some(session) => self.subscription(method, session, request.params.as_ref()),
                    None => Err(ErrorObject::method_not_found(method)),
                }
            }
            "server/discover" if version.era() == Era::Stateless => Ok(discover_result(&FEATURES)),
            "logging/setLevel" if FEATURES.logging && version.offers_logging_capability() => {
                match (
                    post.session,
                    logging::set_level_params(request.params.as_ref()),
                ) {
                    (_, Err(error)) => Err(error),
                    (Some(session), Ok(level)) => {
                        self.log_levels
                            .borrow_mut()
                            .insert(session.to_owned(), level);
                        Ok(json!({}))
                    }
                    (None, Ok(_)) => Err(ErrorObject::method_not_found("logging/setLevel")),
                }
            }
            "resources/list" => self
                .notes(now, control)
                .and_then(|notes| note_resources::list(&notes, version, request.params.as_ref())),
            "resources/read" => {
                async {
                    note_resources::read(
                        &self.notes(now, control)?,
                        version,
                        request.params.as_ref(),
                    )
                    .await
                }
                .await
            }
            "resources/templates/list" => {
                resources::templates_result(version, request.params.as_ref())
                    .map_err(|err| err.to_error())
            }
            "prompts/list" => {
                prompts::list_result(version, request.params.as_ref()).map_err(|err| err.to_error())
            }
            "prompts/get" => {
                async {
                    note_prompts::get(&self.notes(now, control)?, version, request.params.as_ref())
                        .await
                }
                .await
            }
            "initialize" => Err(ErrorObject::invalid_request(
                "this session is initialized already; send initialize without a session id to \
                 start a new one",
            )),
            other => Err(ErrorObject::method_not_found(other)),
        };
        Some(match result {
            Ok(value) => jsonrpc::Response::result(request.id, finish_result(version, value)),
            Err(error) => jsonrpc::Response::error(Some(request.id), error),
        })
    }

    /// Writes the tool call's data point ([`crate::telemetry`]).
    fn tool_call_point(
        &self,
        version: ProtocolVersion,
        params: Option<&serde_json::Map<String, Value>>,
        called: &std::result::Result<std::result::Result<Value, ErrorObject>, CallCancelled>,
        started: u64,
    ) {
        // Only names this server serves reach the data: a client's made-up name is `unknown`.
        let tool = params
            .and_then(|p| p.get("name"))
            .and_then(Value::as_str)
            .and_then(crate::mcp::tools::ToolName::parse)
            .map_or("unknown", |name| name.as_str());
        let (outcome, bytes_out) = match called {
            Ok(Ok(result)) if result["isError"] == true => ("refused", result.to_string().len()),
            Ok(Ok(result)) => ("ok", result.to_string().len()),
            Ok(Err(_)) => ("failed", 0),
            Err(CallCancelled) => ("cancelled", 0),
        };
        let bytes_in = params
            .and_then(|p| p.get("arguments"))
            .map_or(0, |a| a.to_string().len());
        let user_tag = match self.user() {
            Ok(Some(user)) => crate::telemetry::user_tag(&self.env, &user),
            _ => String::new(),
        };
        let point = crate::telemetry::tool_point(&crate::telemetry::ToolFacts {
            environment: &crate::telemetry::environment(&self.env),
            tool,
            outcome,
            protocol_version: version.as_str(),
            user_tag: &user_tag,
            duration_ms: worker::Date::now().as_millis().saturating_sub(started),
            bytes_in: bytes_in as u64,
            bytes_out: bytes_out as u64,
        });
        crate::telemetry::write(&self.env, &point);
    }

    async fn call_tool(
        &self,
        version: ProtocolVersion,
        params: Option<&serde_json::Map<String, Value>>,
        now: engine::Timestamp,
        key: Option<RequestKey<'_>>,
        control: &dyn CallControl,
        may_write: bool,
    ) -> std::result::Result<std::result::Result<Value, ErrorObject>, CallCancelled> {
        let call = match ToolCall::parse(params) {
            Ok(call) => call,
            Err(err) => {
                return Ok(match err.reply(version) {
                    ToolCallReply::ProtocolError(error) => Err(error),
                    ToolCallReply::ToolError(result) => Ok(result.to_value()),
                });
            }
        };
        let tool = call.tool();
        if !may_write && !tool_schemas::spec(tool).hints.read_only {
            // An `isError` result rather than a protocol error: the model reads it and can
            // tell the user why, and the session goes on reading.
            return Ok(Ok(CallToolResult::error(format!(
                "`{}` changes notes, and this connection may only read them: it was signed \
                 in with the {} scope only. Nothing was changed. To change notes, sign in \
                 again and grant {}.",
                tool.as_str(),
                Scope::NotesRead.as_str(),
                Scope::NotesWrite.as_str()
            ))
            .to_value()));
        }
        let mut notes = match self.notes(now, control) {
            Ok(notes) => notes,
            Err(error) => return Ok(Err(error)),
        };
        notes.step_pause = self
            .dev_number(DEV_STEP_PAUSE_MS)
            .filter(|ms| (1..=MAX_STEP_PAUSE_MS).contains(ms))
            .map(std::time::Duration::from_millis);
        let result = note_tools::call(&notes, version, call, key).await?;
        Ok(Ok(result.to_value()))
    }

    /// The user's notes, for resources and prompts.
    fn notes<'a>(
        &'a self,
        now: engine::Timestamp,
        control: &'a dyn CallControl,
    ) -> std::result::Result<Notes<'a>, ErrorObject> {
        let bucket = self.env.bucket("STORAGE").map_err(|err| {
            log_failure("no_bucket", &err.to_string());
            ErrorObject::internal("note storage is not available")
        })?;
        // Requests reach the object only once it serves a user (admission binds it).
        let user = match self.user() {
            Ok(Some(user)) => user,
            Ok(None) => return Err(ErrorObject::internal("the object serves no user yet")),
            Err(err) => {
                log_failure("no_user", &err.to_string());
                return Err(ErrorObject::internal("note storage is not available"));
            }
        };
        Ok(Notes {
            store: &self.store,
            blobs: self.blob_store(&user, bucket),
            now,
            control,
            step_pause: None,
            store_ms: Default::default(),
        })
    }

    /// `resources/subscribe` and `resources/unsubscribe` `{uri}` for `session`.
    fn subscription(
        &self,
        method: &str,
        session: &str,
        params: Option<&serde_json::Map<String, Value>>,
    ) -> std::result::Result<Value, ErrorObject> {
        let path = resources::subscription_params(params).map_err(|err| err.to_error())?;
        let failed = |err: worker::Error| {
            log_failure("subscription_failed", &err.to_string());
            ErrorObject::internal("the subscription could not be saved")
        };
        if method == "resources/subscribe" {
            self.subscribe(session, path.as_str())
                .map_err(failed)?
                .map_err(|_| {
                    ErrorObject::invalid_params(format!(
                        "a session may watch at most {} notes; unsubscribe from some first",
                        super::subscriptions::MAX_PER_SESSION
                    ))
                })?;
        } else {
            self.unsubscribe(session, path.as_str()).map_err(failed)?;
        }
        Ok(json!({}))
    }

    /// Cleans up after `session` ended: cancels its requests, ends its GET stream, and drops
    /// its subscriptions and outbox rows.
    pub(super) fn forget_session(&self, session: &str) {
        self.log_levels.borrow_mut().remove(session);
        self.in_flight.borrow().cancel_session(session);
        self.get_streams.borrow_mut().end_session(session);
        match self
            .forget_subscriptions(session)
            .and_then(|subscriptions| Ok((subscriptions, self.outbox_forget(session)?)))
        {
            Ok((subscriptions, outbox_rows)) => worker::console_log!(
                "{}",
                json!({"msg": "session_forgotten", "subscriptions": subscriptions,
                       "outbox_rows": outbox_rows})
            ),
            Err(err) => log_failure("session_cleanup_failed", &err.to_string()),
        }
    }

    /// Runs `f` on the open store; `None` when it is not open or is borrowed.
    pub(super) fn with_store<R>(
        &self,
        f: impl FnOnce(&mut engine::Store<crate::do_storage::DoStorage>) -> R,
    ) -> Option<R> {
        let mut slot = self.store.try_borrow_mut().ok()?;
        slot.as_mut().map(f)
    }
}

/// One POST being answered.
#[derive(Debug, Clone, Copy)]
pub(super) struct Post<'a> {
    /// The version it is served in.
    pub(super) version: ProtocolVersion,
    /// Its session (`None` in 2026-07-28).
    pub(super) session: Option<&'a str>,
    /// When it arrived.
    pub(super) now: engine::Timestamp,
    /// `MCP_SSE_POLL_AFTER_MS`.
    pub(super) poll_after_ms: Option<u64>,
    /// Whether the request's token grants `notes:write` (see [`may_write`]).
    pub(super) may_write: bool,
}

/// Whether the request may change notes: its token's scopes, which the front Worker sends in
/// [`SCOPE_HEADER`] (replacing anything the client sent); a request without the header is
/// the local-development user's, who may do everything.
fn may_write(headers: &worker::Headers) -> Result<bool> {
    Ok(match headers.get(SCOPE_HEADER)? {
        None => true,
        Some(scopes) => ScopeSet::parse(&scopes).is_ok_and(|set| set.contains(Scope::NotesWrite)),
    })
}

/// The control of a call whose reply is JSON: it can be cancelled; its progress goes nowhere;
/// the log messages its client wants are kept for the reply.
struct Unreported<'a> {
    call: &'a RunningCall,
    log_level: Option<LogLevel>,
    logs: RefCell<Vec<LogMessage>>,
}

impl CallControl for Unreported<'_> {
    fn cancelled(&self) -> bool {
        self.call.is_cancelled()
    }

    fn progress(&self, _done: u64, _total: u64, _message: &str) {}

    fn log(&self, message: LogMessage) {
        if message.wanted(self.log_level) {
            self.logs.borrow_mut().push(message);
        }
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
pub(super) fn internal_error(id: Option<jsonrpc::RequestId>) -> Result<Response> {
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

pub(super) fn log_failure(what: &str, error: &str) {
    worker::console_error!("{}", json!({"msg": what, "error": error}));
}
