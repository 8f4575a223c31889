//! SSE replies to POSTs, and resuming them.
//!
//! A `tools/call` that carries `_meta.progressToken` is answered with `text/event-stream`:
//! the call runs in a task of its own (`spawn_local`, holding the shared [`UserObject`]) and
//! its events go to the response body through a channel:
//! 1. in 2025-11-25, a priming event whose id is the stream's outbox id;
//! 2. `notifications/progress` as the tool reports (at most one per [`PROGRESS_EVERY_STEPS`]
//!    steps or [`PROGRESS_EVERY_MS`]), with strictly increasing values;
//! 3. the response, after which the stream ends. A cancelled call ends with no response.
//!
//! In handshake-era sessions every event is recorded in the outbox first and carries `o<row>`
//! as its id, so a client that lost the connection resumes with GET and that id
//! ([`UserObject::resume_post_stream`]); a disconnect is not a cancellation. In 2025-11-25,
//! with `MCP_SSE_POLL_AFTER_MS` set, a call still running after that long sends `retry` and
//! closes the connection (SEP-1699 polling); the call runs on and the client's GET picks it
//! up. In 2026-07-28 there are no ids and no resumption, and closing the stream is the
//! cancellation.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use futures::StreamExt;
use futures::channel::mpsc::{UnboundedReceiver, unbounded};
use serde::Serialize;
use serde_json::json;
use worker::{Response, Result};

use super::UserObject;
use super::live::RunningCall;
use super::mcp_dispatch::{Post, internal_error, log_failure};
use super::outbox::{ResumeEnd, resume_plan};
use crate::config::StreamTimes;
use crate::mcp::headers::SessionId;
use crate::mcp::jsonrpc::{self, ErrorCode, ErrorObject, RequestId};
use crate::mcp::logging::{LogLevel, LogMessage};
use crate::mcp::progress::{ProgressRate, ProgressToken};
use crate::mcp::rejection::Rejection;
use crate::mcp::sse::{self, EventId, LastEventIdError};
use crate::mcp::version::{Era, ProtocolVersion};
use crate::mcp_http;
use crate::note_tools::CallControl;

/// Progress is reported at most once per this many steps...
pub(super) const PROGRESS_EVERY_STEPS: u64 = 50;
/// ...or once per this many milliseconds.
pub(super) const PROGRESS_EVERY_MS: u64 = 250;
/// The `retry` sent before the server closes a connection it wants the client to reopen.
pub(super) const RECONNECT_AFTER_MS: u32 = 1_000;

/// A `text/event-stream` response whose body is what arrives on `body`.
pub(super) fn sse_response(body: UnboundedReceiver<Vec<u8>>) -> Result<Response> {
    let mut response = Response::from_stream(body.map(Ok::<Vec<u8>, worker::Error>))?;
    for (name, value) in sse::RESPONSE_HEADERS {
        response.headers_mut().set(name, value)?;
    }
    Ok(response.with_status(200))
}

/// The time as the JS clock tells it, in milliseconds since the epoch.
fn now_ms() -> u64 {
    worker::Date::now().as_millis()
}

/// Where one streamed call's events go.
struct Emitter<'a> {
    object: &'a UserObject,
    call: &'a RunningCall,
    version: ProtocolVersion,
    session: Option<&'a str>,
    /// The outbox stream (handshake-era sessions only).
    stream: Option<u64>,
    request_id: &'a RequestId,
}

impl Emitter<'_> {
    /// Records `message` in the outbox (when the stream has one) and sends it.
    fn emit<T: Serialize>(&self, message: &T, last: bool) {
        let json = match serde_json::to_string(message) {
            Ok(json) => json,
            Err(err) => return log_failure("sse_encode_failed", &err.to_string()),
        };
        let id = self.record(Some(&json), last).map(EventId::Outbox);
        let sent = self
            .call
            .send(sse::json_event(self.version, id, &json).into_bytes());
        if !sent && self.version.era() == Era::Stateless {
            // 2026-07-28: the client closing the stream cancels the request.
            self.call.cancel();
        }
    }

    /// Writes an outbox row for this stream; its id, or `None` without an outbox.
    fn record(&self, message: Option<&str>, last: bool) -> Option<u64> {
        let (session, stream) = (self.session?, self.stream?);
        match self
            .object
            .outbox_record(session, stream, self.request_id, message, last, now_ms())
        {
            Ok(row) => Some(row),
            Err(err) => {
                log_failure("outbox_write_failed", &err.to_string());
                None
            }
        }
    }
}

/// The control of a streamed call: cancellable, and its progress goes out as notifications.
struct Streamed<'a> {
    emitter: &'a Emitter<'a>,
    token: ProgressToken,
    rate: RefCell<ProgressRate>,
    /// The level the session's client set (`None`: no log messages).
    log_level: Option<LogLevel>,
}

impl CallControl for Streamed<'_> {
    fn cancelled(&self) -> bool {
        self.emitter.call.is_cancelled()
    }

    fn progress(&self, done: u64, total: u64, message: &str) {
        if self.emitter.call.is_cancelled() {
            return;
        }
        if self.rate.borrow_mut().admit(done, Some(total), now_ms()) {
            let notification = self.token.notification(done, Some(total), message);
            self.emitter.emit(&notification, false);
        }
    }

    fn log(&self, message: LogMessage) {
        if message.wanted(self.log_level) && !self.emitter.call.is_cancelled() {
            self.emitter.emit(&message.notification(), false);
        }
    }
}

impl UserObject {
    /// Answers `request` with an SSE stream (see the module docs).
    pub(super) fn stream_reply(
        &self,
        post: &Post<'_>,
        request: jsonrpc::Request,
        token: ProgressToken,
    ) -> Result<Response> {
        let Some(object) = self.shared() else {
            return internal_error(Some(request.id));
        };
        let version = post.version;
        let session = post.session.map(str::to_owned);
        let stream = match &session {
            Some(session) if version.has_resumable_streams() => {
                Some(self.outbox_open(session, &request.id, post.now.0)?)
            }
            _ => None,
        };
        let call = self
            .in_flight
            .borrow_mut()
            .start(post.session, &request.id, stream);
        let (body, reader) = unbounded();
        let generation = call.attach(body);
        if let Some(priming) = stream.and_then(|s| sse::priming_event(version, EventId::Outbox(s)))
        {
            call.send(priming.into_bytes());
        }
        if version.primes_sse_streams()
            && let Some(after) = post.poll_after_ms
        {
            poll_later(call.clone(), generation, after);
        }
        let (now, poll_after_ms, may_write) = (post.now, post.poll_after_ms, post.may_write);
        let log_level = self.log_level(post.session);
        worker::wasm_bindgen_futures::spawn_local(async move {
            let id = request.id.clone();
            let emitter = Emitter {
                object: &object,
                call: &call,
                version,
                session: session.as_deref(),
                stream,
                request_id: &id,
            };
            let control = Streamed {
                emitter: &emitter,
                token,
                rate: RefCell::new(ProgressRate::new(PROGRESS_EVERY_STEPS, PROGRESS_EVERY_MS)),
                log_level,
            };
            let post = Post {
                version,
                session: session.as_deref(),
                now,
                poll_after_ms,
                may_write,
            };
            match object.handle(&post, request, &control).await {
                Some(response) => emitter.emit(&response, true),
                // Cancelled: no response; the outbox says the stream ended.
                None => drop(emitter.record(None, true)),
            }
            object
                .in_flight
                .borrow_mut()
                .finish(session.as_deref(), &id, stream, &call);
            object.notify_changes();
            object.reschedule().await;
        });
        sse_response(reader)
    }

    /// GET with `Last-Event-ID: o<row>`: replays the rest of that POST stream and follows its
    /// call if it still runs here; if the object restarted while it ran, answers with an
    /// error saying so. An id that is not this session's (or no longer kept) is 400.
    pub(super) fn resume_post_stream(
        &self,
        session: &SessionId,
        version: ProtocolVersion,
        row: u64,
        times: &StreamTimes,
        now: engine::Timestamp,
    ) -> Result<Response> {
        let Some(found) = self.outbox_stream(session.as_str(), row)? else {
            return mcp_http::rejection(&Rejection::MalformedLastEventId(LastEventIdError(
                EventId::Outbox(row).to_string(),
            )));
        };
        let rows = self.outbox_after(found.stream, row)?;
        let running = self
            .in_flight
            .borrow()
            .stream(found.stream)
            .filter(|call| !call.is_finished());
        let (body, reader) = unbounded();
        for row in &rows {
            if let Some(message) = &row.message {
                let id = u64::try_from(row.id).ok().map(EventId::Outbox);
                let _ = body.unbounded_send(sse::json_event(version, id, message).into_bytes());
            }
        }
        let ended = self.outbox_ended(found.stream)?;
        let end = resume_plan(&rows, ended, running.is_some());
        worker::console_log!(
            "{}",
            json!({"msg": "stream_resumed", "replayed": rows.len(), "end": match end {
                ResumeEnd::Close => "close",
                ResumeEnd::Follow => "follow",
                ResumeEnd::Interrupted => "interrupted",
            }})
        );
        match end {
            ResumeEnd::Close => {}
            ResumeEnd::Follow => {
                if let Some(call) = running {
                    let generation = call.attach(body);
                    if version.primes_sse_streams()
                        && let Some(after) = times.poll_after_ms
                    {
                        poll_later(call, generation, after);
                    }
                }
            }
            ResumeEnd::Interrupted => {
                let error = ErrorObject::new(
                    ErrorCode::INTERNAL_ERROR,
                    "the server restarted while this request ran, so its outcome is unknown; \
                     check its effects before you send it again",
                );
                let response = jsonrpc::Response::error(Some(found.request_id.clone()), error);
                let json = serde_json::to_string(&response)?;
                let id = self.outbox_record(
                    session.as_str(),
                    found.stream,
                    &found.request_id,
                    Some(&json),
                    true,
                    now.0,
                )?;
                let event = sse::json_event(version, Some(EventId::Outbox(id)), &json);
                let _ = body.unbounded_send(event.into_bytes());
            }
        }
        sse_response(reader)
    }
}

/// After `after_ms`, if `call` still runs on the connection attached as `generation`: sends
/// `retry` and closes that connection, so the client polls (resumes with GET) instead.
fn poll_later(call: Rc<RunningCall>, generation: u64, after_ms: u64) {
    worker::wasm_bindgen_futures::spawn_local(async move {
        worker::Delay::from(Duration::from_millis(after_ms)).await;
        if !call.is_finished() && call.is_attached(generation) {
            call.send(sse::retry(RECONNECT_AFTER_MS).into_bytes());
            call.detach(generation);
        }
    });
}
