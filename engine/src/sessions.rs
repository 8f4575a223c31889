//! The session table: the user's open MCP sessions and when each expires.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::ids::{SessionId, Timestamp};

/// An open MCP session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// The user it belongs to.
    pub user: String,
    /// The negotiated protocol version.
    pub protocol_version: String,
    /// `clientInfo.name`.
    pub client_name: String,
    /// `clientInfo.version`.
    pub client_version: String,
    /// When it was opened.
    pub opened: Timestamp,
    /// When it was last recorded as used (touches are coalesced: see
    /// [`crate::store::Config::touch_interval_ms`]).
    pub last_seen: Timestamp,
    /// Idle time after which it expires, in milliseconds.
    pub idle_timeout_ms: u64,
}

impl Session {
    /// When the session expires unless it is used again.
    pub fn expires(&self) -> Timestamp {
        self.last_seen.plus_ms(self.idle_timeout_ms)
    }

    /// Whether it has expired at `now`.
    pub fn is_expired(&self, now: Timestamp) -> bool {
        now >= self.expires()
    }
}

/// Every open session, by id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SessionTable {
    sessions: BTreeMap<SessionId, Session>,
}

impl SessionTable {
    /// The session `id`, if open (it may still be past its expiry until the deadline runs:
    /// check [`Session::is_expired`]).
    pub fn get(&self, id: &SessionId) -> Option<&Session> {
        self.sessions.get(id)
    }

    /// How many sessions are open.
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    /// Whether none are open.
    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    /// Every open session.
    pub fn iter(&self) -> impl Iterator<Item = (&SessionId, &Session)> {
        self.sessions.iter()
    }

    /// The earliest expiry of any session.
    pub fn next_expiry(&self) -> Option<Timestamp> {
        self.sessions.values().map(Session::expires).min()
    }

    /// Sessions expired at `now`, in id order.
    pub fn expired(&self, now: Timestamp) -> Vec<SessionId> {
        self.sessions
            .iter()
            .filter(|(_, s)| s.is_expired(now))
            .map(|(id, _)| id.clone())
            .collect()
    }

    pub(crate) fn insert(&mut self, id: SessionId, session: Session) {
        self.sessions.insert(id, session);
    }

    pub(crate) fn touch(&mut self, id: &SessionId, now: Timestamp) -> bool {
        match self.sessions.get_mut(id) {
            Some(s) => {
                s.last_seen = s.last_seen.max(now);
                true
            }
            None => false,
        }
    }

    pub(crate) fn remove(&mut self, id: &SessionId) -> Option<Session> {
        self.sessions.remove(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(last_seen: u64, timeout: u64) -> Session {
        Session {
            user: "1".into(),
            protocol_version: "2025-06-18".into(),
            client_name: "c".into(),
            client_version: "1".into(),
            opened: Timestamp(0),
            last_seen: Timestamp(last_seen),
            idle_timeout_ms: timeout,
        }
    }

    #[test]
    fn expiry_follows_the_last_touch() {
        let mut t = SessionTable::default();
        let a = SessionId::new("a").unwrap();
        let b = SessionId::new("b").unwrap();
        t.insert(a.clone(), session(0, 100));
        t.insert(b.clone(), session(50, 100));
        assert_eq!(t.next_expiry(), Some(Timestamp(100)));
        assert_eq!(t.expired(Timestamp(100)), vec![a.clone()]);
        assert!(t.touch(&a, Timestamp(90)));
        assert_eq!(t.next_expiry(), Some(Timestamp(150)));
        assert!(t.expired(Timestamp(149)).is_empty());
        assert!(t.remove(&a).is_some() && !t.touch(&a, Timestamp(1)));
    }
}
