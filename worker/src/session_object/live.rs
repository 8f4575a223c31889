//! What the object keeps in memory about calls and streams in flight (lost on restart; the
//! outbox and the log hold what must survive one).
//!
//! - [`InFlight`]: the requests being served, by session and request id (so
//!   `notifications/cancelled` finds them) and by outbox stream (so a POST stream resumed
//!   with `Last-Event-ID` can follow a call that still runs).
//! - [`RunningCall`]: one such request: its cancellation flag and the connection its SSE
//!   events go to. A connection is the sending half of a response body; at most one per call,
//!   so an event is never sent on two connections: a resumption takes the call over.
//! - [`GetStreams`]: each session's open GET stream. One per session: a new GET (a client
//!   reconnecting before the server saw the old connection drop) replaces the old one, so an
//!   update goes to one stream only, as the transport requires.
//!
//! All of it is plain data: no JS, no clock, so it is tested natively.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use futures::channel::mpsc::{UnboundedReceiver, UnboundedSender, unbounded};

use crate::mcp::jsonrpc::RequestId;
use crate::mcp::sse::LogPosition;

/// The sending half of an SSE response body.
pub(super) type Connection = UnboundedSender<Vec<u8>>;

/// One request being served.
#[derive(Debug, Default)]
pub(super) struct RunningCall {
    cancelled: Cell<bool>,
    finished: Cell<bool>,
    /// The connection its events go to, with the generation that attached it.
    connection: RefCell<Option<(u64, Connection)>>,
    generations: Cell<u64>,
}

impl RunningCall {
    /// Marks the call cancelled; it stops at its next check.
    pub(super) fn cancel(&self) {
        self.cancelled.set(true);
    }

    /// Whether the call was cancelled.
    pub(super) fn is_cancelled(&self) -> bool {
        self.cancelled.get()
    }

    /// Marks the call finished and closes its connection.
    pub(super) fn finish(&self) {
        self.finished.set(true);
        self.connection.borrow_mut().take();
    }

    /// Whether the call finished.
    pub(super) fn is_finished(&self) -> bool {
        self.finished.get()
    }

    /// Sends the call's next events to `connection`, closing the one before (dropping its
    /// sender ends that response body). Returns the attachment's generation.
    pub(super) fn attach(&self, connection: Connection) -> u64 {
        let generation = self.generations.get() + 1;
        self.generations.set(generation);
        *self.connection.borrow_mut() = Some((generation, connection));
        generation
    }

    /// Whether the connection attached as `generation` is still the call's.
    pub(super) fn is_attached(&self, generation: u64) -> bool {
        matches!(&*self.connection.borrow(), Some((current, _)) if *current == generation)
    }

    /// Sends `bytes` on the call's connection, if it has one. `false` when there is none or
    /// its reader is gone (the connection is then dropped).
    pub(super) fn send(&self, bytes: Vec<u8>) -> bool {
        let mut slot = self.connection.borrow_mut();
        let sent = match slot.as_ref() {
            Some((_, connection)) => connection.unbounded_send(bytes).is_ok(),
            None => return false,
        };
        if !sent {
            slot.take();
        }
        sent
    }

    /// Closes the connection attached as `generation`, if it is still attached.
    pub(super) fn detach(&self, generation: u64) {
        let mut slot = self.connection.borrow_mut();
        if matches!(&*slot, Some((current, _)) if *current == generation) {
            slot.take();
        }
    }
}

/// The key of a request within the object: its session and id.
type RequestKey = (String, RequestId);

/// The requests being served.
#[derive(Debug, Default)]
pub(super) struct InFlight {
    by_request: HashMap<RequestKey, Rc<RunningCall>>,
    by_stream: HashMap<u64, Rc<RunningCall>>,
}

impl InFlight {
    /// Registers a request of `session` (if any: stateless requests cannot be cancelled by
    /// notification) whose events go to outbox `stream` (if any).
    pub(super) fn start(
        &mut self,
        session: Option<&str>,
        id: &RequestId,
        stream: Option<u64>,
    ) -> Rc<RunningCall> {
        let call = Rc::new(RunningCall::default());
        if let Some(session) = session {
            // A client that reuses an id in flight (it must not) cancels the newer one only.
            self.by_request
                .insert((session.to_owned(), id.clone()), call.clone());
        }
        if let Some(stream) = stream {
            self.by_stream.insert(stream, call.clone());
        }
        call
    }

    /// Forgets `call` (registered as above) and marks it finished.
    pub(super) fn finish(
        &mut self,
        session: Option<&str>,
        id: &RequestId,
        stream: Option<u64>,
        call: &Rc<RunningCall>,
    ) {
        call.finish();
        if let Some(session) = session {
            let key = (session.to_owned(), id.clone());
            if self
                .by_request
                .get(&key)
                .is_some_and(|known| Rc::ptr_eq(known, call))
            {
                self.by_request.remove(&key);
            }
        }
        if let Some(stream) = stream
            && self
                .by_stream
                .get(&stream)
                .is_some_and(|known| Rc::ptr_eq(known, call))
        {
            self.by_stream.remove(&stream);
        }
    }

    /// Cancels `session`'s request `id`; `false` when it is unknown or finished (ignored, as
    /// the spec says).
    pub(super) fn cancel(&self, session: &str, id: &RequestId) -> bool {
        match self.by_request.get(&(session.to_owned(), id.clone())) {
            Some(call) if !call.is_finished() => {
                call.cancel();
                true
            }
            _ => false,
        }
    }

    /// Cancels every request of `session` (it ended).
    pub(super) fn cancel_session(&self, session: &str) {
        for ((owner, _), call) in &self.by_request {
            if owner == session {
                call.cancel();
            }
        }
    }

    /// The call whose events go to outbox `stream`, while it runs.
    pub(super) fn stream(&self, stream: u64) -> Option<Rc<RunningCall>> {
        self.by_stream.get(&stream).cloned()
    }
}

/// A change to one note, as a GET stream reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct NoteChange {
    /// Where in the log it happened (the event id of the update).
    pub(super) position: LogPosition,
    /// The note.
    pub(super) path: String,
}

/// The sessions' open GET streams.
#[derive(Debug, Default)]
pub(super) struct GetStreams {
    by_session: HashMap<String, (u64, UnboundedSender<NoteChange>)>,
    opened: u64,
}

impl GetStreams {
    /// Opens `session`'s stream, replacing (and so ending) the one it had. Returns the
    /// stream's generation and where its updates arrive.
    pub(super) fn open(&mut self, session: &str) -> (u64, UnboundedReceiver<NoteChange>) {
        self.opened += 1;
        let (sender, receiver) = unbounded();
        self.by_session
            .insert(session.to_owned(), (self.opened, sender));
        (self.opened, receiver)
    }

    /// Forgets `session`'s stream `generation` (it ended), unless a newer one replaced it.
    pub(super) fn close(&mut self, session: &str, generation: u64) {
        if self
            .by_session
            .get(session)
            .is_some_and(|(current, _)| *current == generation)
        {
            self.by_session.remove(session);
        }
    }

    /// Ends `session`'s stream, whichever it is (the session ended).
    pub(super) fn end_session(&mut self, session: &str) {
        self.by_session.remove(session);
    }

    /// Whether any stream is open.
    pub(super) fn is_empty(&self) -> bool {
        self.by_session.is_empty()
    }

    /// Whether `session` has an open stream.
    pub(super) fn has(&self, session: &str) -> bool {
        self.by_session.contains_key(session)
    }

    /// Sends `change` to `session`'s stream; `false` when it has none or it is gone (then it
    /// is forgotten).
    pub(super) fn push(&mut self, session: &str, change: NoteChange) -> bool {
        let Some((_, sender)) = self.by_session.get(session) else {
            return false;
        };
        if sender.unbounded_send(change).is_ok() {
            true
        } else {
            self.by_session.remove(session);
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use futures::channel::mpsc::TryRecvError;

    use super::*;

    /// What `receiver` holds now, and whether its senders are all gone.
    fn drain<T>(receiver: &mut UnboundedReceiver<T>) -> (Vec<T>, bool) {
        let mut items = Vec::new();
        loop {
            match receiver.try_recv() {
                Ok(item) => items.push(item),
                Err(TryRecvError::Empty) => return (items, false),
                Err(TryRecvError::Closed) => return (items, true),
            }
        }
    }

    fn id(n: i64) -> RequestId {
        RequestId::Number(n)
    }

    #[test]
    fn a_cancellation_reaches_only_its_own_request() {
        let mut in_flight = InFlight::default();
        let a = in_flight.start(Some("s1"), &id(1), None);
        let b = in_flight.start(Some("s2"), &id(1), None);
        let c = in_flight.start(Some("s1"), &id(2), None);
        assert!(in_flight.cancel("s1", &id(1)));
        assert!(a.is_cancelled());
        assert!(!b.is_cancelled() && !c.is_cancelled());
        assert!(!in_flight.cancel("s1", &id(9)), "unknown ids are ignored");
        assert!(
            !in_flight.cancel("s3", &id(2)),
            "another session's ids are not found"
        );
    }

    #[test]
    fn finished_requests_are_forgotten() {
        let mut in_flight = InFlight::default();
        let call = in_flight.start(Some("s"), &id(1), Some(7));
        assert!(in_flight.stream(7).is_some());
        in_flight.finish(Some("s"), &id(1), Some(7), &call);
        assert!(call.is_finished());
        assert!(!in_flight.cancel("s", &id(1)));
        assert!(in_flight.stream(7).is_none());
        assert!(!call.is_cancelled());
    }

    #[test]
    fn finishing_an_older_request_keeps_a_newer_one_with_the_same_id() {
        let mut in_flight = InFlight::default();
        let old = in_flight.start(Some("s"), &id(1), None);
        let new = in_flight.start(Some("s"), &id(1), None);
        in_flight.finish(Some("s"), &id(1), None, &old);
        assert!(in_flight.cancel("s", &id(1)));
        assert!(new.is_cancelled() && !old.is_cancelled());
    }

    #[test]
    fn stateless_requests_are_not_cancellable_by_notification() {
        let mut in_flight = InFlight::default();
        let call = in_flight.start(None, &id(1), None);
        assert!(!in_flight.cancel("", &id(1)));
        in_flight.cancel_session("");
        assert!(!call.is_cancelled());
    }

    #[test]
    fn ending_a_session_cancels_its_requests() {
        let mut in_flight = InFlight::default();
        let a = in_flight.start(Some("s1"), &id(1), None);
        let b = in_flight.start(Some("s2"), &id(1), None);
        in_flight.cancel_session("s1");
        assert!(a.is_cancelled() && !b.is_cancelled());
    }

    #[test]
    fn a_resumed_connection_takes_the_call_over() {
        let call = RunningCall::default();
        let (first, mut first_body) = unbounded();
        let (second, mut second_body) = unbounded();
        let one = call.attach(first);
        assert!(call.send(b"a".to_vec()));
        let two = call.attach(second);
        assert!(!call.is_attached(one) && call.is_attached(two));
        assert!(call.send(b"b".to_vec()));
        call.detach(one);
        assert!(
            call.is_attached(two),
            "an old generation cannot detach the new one"
        );
        call.finish();
        assert!(!call.send(b"c".to_vec()));
        assert_eq!(drain(&mut first_body), (vec![b"a".to_vec()], true));
        assert_eq!(drain(&mut second_body), (vec![b"b".to_vec()], true));
    }

    #[test]
    fn a_gone_reader_drops_the_connection() {
        let call = RunningCall::default();
        let (sender, body) = unbounded();
        let generation = call.attach(sender);
        drop(body);
        assert!(!call.send(b"x".to_vec()));
        assert!(!call.is_attached(generation));
    }

    #[test]
    fn one_get_stream_per_session() {
        let mut streams = GetStreams::default();
        let change = |seq| NoteChange {
            position: LogPosition::at(seq),
            path: "a.md".into(),
        };
        let (old, mut old_updates) = streams.open("s");
        let (new, mut new_updates) = streams.open("s");
        assert!(streams.push("s", change(1)));
        streams.close("s", old);
        assert!(
            streams.has("s"),
            "closing a replaced stream keeps the new one"
        );
        assert_eq!(
            drain(&mut old_updates),
            (vec![], true),
            "the old stream ended"
        );
        assert_eq!(drain(&mut new_updates), (vec![change(1)], false));
        streams.close("s", new);
        assert!(streams.is_empty());
        assert!(!streams.push("s", change(2)));
    }

    #[test]
    fn a_dropped_stream_is_forgotten_on_the_next_push() {
        let mut streams = GetStreams::default();
        let (_, updates) = streams.open("s");
        drop(updates);
        assert!(!streams.push(
            "s",
            NoteChange {
                position: LogPosition::at(1),
                path: "a".into()
            }
        ));
        assert!(!streams.has("s"));
        streams.open("t");
        streams.end_session("t");
        assert!(streams.is_empty());
    }
}
