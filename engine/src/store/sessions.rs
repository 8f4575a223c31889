//! Session commands: open, touch, close. Expiry happens in [`Store::on_deadline`].

use thiserror::Error;

use super::{AppendError, Applied, Store};
use crate::event::{Event, SessionOpened, SessionRef};
use crate::ids::{EventId, SessionId, Timestamp};
use crate::sessions::Session;
use crate::storage::Storage;

/// What `initialize` told us about a new session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenSession {
    /// The id the Worker drew for it.
    pub session: SessionId,
    /// The user it belongs to.
    pub user: String,
    /// The negotiated protocol version.
    pub protocol_version: String,
    /// `clientInfo.name`.
    pub client_name: String,
    /// `clientInfo.version`.
    pub client_version: String,
}

/// The longest client name or version kept, in bytes; longer ones are cut.
pub const MAX_CLIENT_INFO_BYTES: usize = 256;

/// Why a session command was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SessionError {
    /// No open session has this id (it never existed, was closed, or expired).
    #[error("session {0} is not open")]
    NotFound(SessionId),
    /// The session is past its idle timeout.
    #[error("session {0} has expired")]
    Expired(SessionId),
    /// A session with this id is open already.
    #[error("session {0} is open already")]
    AlreadyOpen(SessionId),
    /// The user has the most sessions allowed open.
    #[error("{max} sessions are open, the most allowed; close one or wait for one to expire")]
    TooMany {
        /// The limit.
        max: usize,
    },
    /// The append failed.
    #[error(transparent)]
    Append(#[from] AppendError),
}

impl<S: Storage> Store<S> {
    /// Records a new session, idle-timed by the configured timeout.
    pub fn open_session(
        &mut self,
        id: EventId,
        open: OpenSession,
        now: Timestamp,
    ) -> Result<Applied, SessionError> {
        if let Some(receipt) = self.state.receipts.get(&id) {
            return Ok(Applied::from_receipt(receipt, true));
        }
        if self.state.sessions.get(&open.session).is_some() {
            return Err(SessionError::AlreadyOpen(open.session));
        }
        let max = self.config.limits.max_sessions;
        if self.state.sessions.len() >= max {
            return Err(SessionError::TooMany { max });
        }
        let event = Event::SessionOpened(SessionOpened {
            session: open.session,
            user: open.user,
            protocol_version: open.protocol_version,
            client_name: cut(open.client_name),
            client_version: cut(open.client_version),
            idle_timeout_ms: self.config.session_idle_timeout_ms,
        });
        Ok(self.append(id, now, None, event, None)?)
    }

    /// The session `session` if it is open and not expired at `now`.
    pub fn session(&self, session: &SessionId, now: Timestamp) -> Result<&Session, SessionError> {
        match self.state.sessions.get(session) {
            None => Err(SessionError::NotFound(session.clone())),
            Some(s) if s.is_expired(now) => Err(SessionError::Expired(session.clone())),
            Some(s) => Ok(s),
        }
    }

    /// Marks `session` as used at `now`. An event is appended only when the last recorded use
    /// is at least [`super::Config::touch_interval_ms`] old, so a busy session does not fill
    /// the log.
    pub fn touch_session(
        &mut self,
        session: &SessionId,
        now: Timestamp,
    ) -> Result<&Session, SessionError> {
        let last_seen = self.session(session, now)?.last_seen;
        if now.since(last_seen) >= self.config.touch_interval_ms {
            let id = derived_id(b"session.touched", session, now);
            let event = Event::SessionTouched(SessionRef {
                session: session.clone(),
            });
            self.append(id, now, None, event, None)?;
        }
        self.session(session, now)
    }

    /// Ends `session` (HTTP DELETE).
    pub fn close_session(
        &mut self,
        id: EventId,
        session: &SessionId,
        now: Timestamp,
    ) -> Result<Applied, SessionError> {
        if let Some(receipt) = self.state.receipts.get(&id) {
            return Ok(Applied::from_receipt(receipt, true));
        }
        self.session(session, now)?;
        let event = Event::SessionClosed(SessionRef {
            session: session.clone(),
        });
        Ok(self.append(id, now, None, event, None)?)
    }
}

/// An event id for an event the store makes itself: a function of what and when, so a retried
/// deadline makes the same ids.
pub(super) fn derived_id(kind: &[u8], session: &SessionId, now: Timestamp) -> EventId {
    let mut key = Vec::with_capacity(kind.len() + session.as_str().len() + 9);
    key.extend_from_slice(kind);
    key.push(0);
    key.extend_from_slice(session.as_str().as_bytes());
    key.extend_from_slice(&now.0.to_be_bytes());
    EventId::derive(&key)
}

fn cut(mut text: String) -> String {
    if text.len() > MAX_CLIENT_INFO_BYTES {
        let mut end = MAX_CLIENT_INFO_BYTES;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}
