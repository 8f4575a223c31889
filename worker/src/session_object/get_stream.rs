//! The sessions' GET streams: `notifications/resources/updated` for the notes they watch.
//!
//! A GET opens the session's stream (one per session: a new one replaces the old). In
//! 2025-11-25 it starts with a priming event whose id is where the stream starts in the log;
//! then come the updates, each with its change's log position as id; a comment every
//! [`KEEP_ALIVE_MS`] keeps intermediaries from closing a quiet stream. After
//! `MCP_SSE_STREAM_MAX_MS` the stream closes (with `retry` in 2025-11-25) and the client
//! reconnects with `Last-Event-ID`, so no connection is held forever; the reconnection
//! replays what happened meanwhile (see `subscriptions`).
//!
//! Live updates: after every request, [`UserObject::notify_changes`] reads the log from
//! where it last looked and pushes each change of a watched note to the open streams of the
//! sessions that watch it. Streams start at that same point (`notified_through`), so a change
//! is either replayed or pushed, never both and never neither.

use std::collections::BTreeSet;
use std::time::Duration;

use futures::StreamExt;
use futures::channel::mpsc::{UnboundedReceiver, unbounded};
use futures::future::{Either, select};
use serde_json::json;
use worker::{Response, Result};

use super::UserObject;
use super::live::{Connection, NoteChange};
use super::mcp_dispatch::{internal_error, log_failure};
use super::post_stream::{RECONNECT_AFTER_MS, sse_response};
use super::subscriptions::{MAX_REPLAY_EVENTS, replay_from_history, replay_from_log};
use crate::config::StreamTimes;
use crate::do_storage::DoStorage;
use crate::mcp::headers::SessionId;
use crate::mcp::jsonrpc::Notification;
use crate::mcp::rejection::Rejection;
use crate::mcp::resources::{NOTE_URI_PREFIX, NoteUri};
use crate::mcp::sse::{self, EventId, LastEventIdError, LogPosition};
use crate::mcp::version::ProtocolVersion;
use crate::mcp_http;

/// How often a quiet stream gets a keep-alive comment.
const KEEP_ALIVE_MS: u64 = 15_000;
/// Log events read per storage call.
const PAGE: usize = 1_000;

/// The changes among the log's events after `after` and at or before seq `through` (those to
/// `only` when given), in order; `None` when the log no longer holds them all locally or the
/// gap is too large to read.
fn log_changes(
    store: &engine::Store<DoStorage>,
    after: LogPosition,
    through: u64,
    only: Option<&BTreeSet<String>>,
) -> Option<Vec<NoteChange>> {
    if through.saturating_sub(after.seq) > MAX_REPLAY_EVENTS {
        return None;
    }
    // A position inside an event (a move's second half) re-reads that event.
    let mut cursor = if after.part > 0 {
        after.seq.saturating_sub(1)
    } else {
        after.seq
    };
    let mut changes = Vec::new();
    while cursor < through {
        let page = store.events_after(cursor, PAGE).ok()?;
        let Some(last) = page.last() else { break };
        cursor = last.seq;
        changes.extend(replay_from_log(&page, after, through, only));
    }
    Some(changes)
}

/// The resource URI of the note at `path` (a path from the log, so valid; an invalid one
/// would be written as given rather than dropped).
fn note_uri(path: &str) -> String {
    match engine::NotePath::existing(path) {
        Ok(path) => NoteUri::current(path).to_string(),
        Err(_) => format!("{NOTE_URI_PREFIX}{path}"),
    }
}

/// `notifications/resources/updated` for the note at `path`.
fn updated(path: &str) -> Notification {
    Notification {
        method: "notifications/resources/updated".to_owned(),
        params: json!({ "uri": note_uri(path) }).as_object().cloned(),
    }
}

/// One update as an SSE event.
fn update_event(version: ProtocolVersion, change: &NoteChange) -> Vec<u8> {
    sse::message_event(
        version,
        Some(EventId::Log(change.position)),
        &updated(&change.path),
    )
    .unwrap_or_default()
    .into_bytes()
}

impl UserObject {
    /// The log seq up to which changes were pushed, starting it at the head the first time.
    fn notified_through(&self, store: &engine::Store<DoStorage>) -> u64 {
        match self.notified_through.get() {
            Some(through) => through,
            None => {
                let head = store.head().seq;
                self.notified_through.set(Some(head));
                head
            }
        }
    }

    /// GET: opens `session`'s stream, replaying what it missed after `after` first.
    pub(super) fn open_get_stream(
        &self,
        session: &SessionId,
        version: ProtocolVersion,
        after: Option<LogPosition>,
        times: &StreamTimes,
    ) -> Result<Response> {
        let Some(object) = self.shared() else {
            return internal_error(None);
        };
        let subscribed = self.subscribed(session.as_str())?;
        let planned = {
            let slot = self
                .store
                .try_borrow()
                .map_err(|_| worker::Error::RustError("the store is borrowed".into()))?;
            let store = slot
                .as_ref()
                .ok_or_else(|| worker::Error::RustError("the store is not open".into()))?;
            let through = self.notified_through(store);
            match after {
                Some(after) if after.seq > through => None,
                Some(after) => {
                    let replay = if subscribed.is_empty() {
                        Vec::new()
                    } else {
                        match log_changes(store, after, through, Some(&subscribed)) {
                            Some(changes) => changes,
                            None => {
                                replay_from_history(&store.notes(), after, through, &subscribed)
                                    .map_err(|e| worker::Error::RustError(e.to_string()))?
                            }
                        }
                    };
                    Some((after, replay))
                }
                None => Some((LogPosition::at(through), Vec::new())),
            }
        };
        let Some((start, replay)) = planned else {
            // Not an id this server issued: the log never reached it.
            let text = after
                .map(|a| EventId::Log(a).to_string())
                .unwrap_or_default();
            return mcp_http::rejection(&Rejection::MalformedLastEventId(LastEventIdError(text)));
        };
        let (generation, updates) = self.get_streams.borrow_mut().open(session.as_str());
        let (body, reader) = unbounded();
        if let Some(priming) = sse::priming_event(version, EventId::Log(start)) {
            let _ = body.unbounded_send(priming.into_bytes());
        }
        for change in &replay {
            let _ = body.unbounded_send(update_event(version, change));
        }
        worker::console_log!(
            "{}",
            json!({"msg": "get_stream_opened", "resumed": after.is_some(),
                   "replayed": replay.len()})
        );
        let session = session.as_str().to_owned();
        let max_ms = times.stream_max_ms;
        worker::wasm_bindgen_futures::spawn_local(async move {
            let ended = run_stream(version, updates, &body, max_ms).await;
            worker::console_log!("{}", json!({"msg": "get_stream_closed", "reason": ended}));
            object.get_streams.borrow_mut().close(&session, generation);
        });
        sse_response(reader)
    }

    /// Pushes the note changes made since the last push to the GET streams of the sessions
    /// that watch those notes. Synchronous: call it after each request (and before upkeep
    /// compacts the log).
    pub(super) fn notify_changes(&self) {
        let Ok(slot) = self.store.try_borrow() else {
            return;
        };
        let Some(store) = slot.as_ref() else {
            return;
        };
        let through = self.notified_through(store);
        let head = store.head().seq;
        if head <= through {
            return;
        }
        self.notified_through.set(Some(head));
        if self.get_streams.borrow().is_empty() {
            return;
        }
        let after = LogPosition::at(through);
        match log_changes(store, after, head, None) {
            Some(changes) => {
                for change in changes {
                    let sessions = match self.subscribers(&change.path) {
                        Ok(sessions) => sessions,
                        Err(err) => {
                            log_failure("subscribers_failed", &err.to_string());
                            continue;
                        }
                    };
                    let mut streams = self.get_streams.borrow_mut();
                    for session in sessions {
                        streams.push(&session, change.clone());
                    }
                }
            }
            // The log moved on past what it keeps locally: each watching session with a
            // stream gets its notes' latest changes instead.
            None => {
                let sessions = match self.subscribing_sessions() {
                    Ok(sessions) => sessions,
                    Err(err) => return log_failure("subscribers_failed", &err.to_string()),
                };
                for session in sessions {
                    if !self.get_streams.borrow().has(&session) {
                        continue;
                    }
                    let Ok(subscribed) = self.subscribed(&session) else {
                        continue;
                    };
                    let Ok(changes) = replay_from_history(&store.notes(), after, head, &subscribed)
                    else {
                        continue;
                    };
                    let mut streams = self.get_streams.borrow_mut();
                    for change in changes {
                        streams.push(&session, change);
                    }
                }
            }
        }
    }
}

/// Feeds one GET stream until it reaches `max_ms`, is replaced or ended, or its reader goes;
/// returns which (for the log).
async fn run_stream(
    version: ProtocolVersion,
    mut updates: UnboundedReceiver<NoteChange>,
    body: &Connection,
    max_ms: u64,
) -> &'static str {
    let started = worker::Date::now().as_millis();
    loop {
        let elapsed = worker::Date::now().as_millis().saturating_sub(started);
        if elapsed >= max_ms {
            if version.primes_sse_streams() {
                let _ = body.unbounded_send(sse::retry(RECONNECT_AFTER_MS).into_bytes());
            }
            return "lifetime";
        }
        let wait = KEEP_ALIVE_MS.min(max_ms - elapsed);
        let timer = std::pin::pin!(worker::Delay::from(Duration::from_millis(wait)));
        let sent = match select(updates.next(), timer).await {
            Either::Left((Some(change), _)) => {
                body.unbounded_send(update_event(version, &change)).is_ok()
            }
            // Replaced by a newer stream, or the session ended.
            Either::Left((None, _)) => return "ended",
            Either::Right(_) if elapsed + wait < max_ms => body
                .unbounded_send(sse::KEEP_ALIVE.as_bytes().to_vec())
                .is_ok(),
            Either::Right(_) => true,
        };
        if !sent {
            return "disconnected";
        }
    }
}
