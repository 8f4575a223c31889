//! The outbox: every SSE event of the object's POST streams, kept for a while so a client
//! that lost the connection (or was asked to poll, 2025-11-25) can resume the stream with GET
//! and `Last-Event-ID: o<row>` (SEP-1699).
//!
//! # Layout
//! `mcp_outbox(id INTEGER PRIMARY KEY AUTOINCREMENT, session, stream, request_id, message,
//! last, at_ms)`: one row per event. A stream's first row opens it (no message; its id is the
//! stream's id and, in 2025-11-25, the priming event's id); `message` is the JSON-RPC message
//! the event carried; `last` marks the stream's final row (its response, an "interrupted"
//! error, or, for a cancelled call, a row with no message). `request_id` is the JSON of the
//! request the stream answers.
//!
//! # Bounds
//! Per session at most [`OutboxBounds::max_rows`] rows and nothing older than
//! [`OutboxBounds::max_age_ms`] ([`BOUNDS`]): older rows go when a stream opens and when the
//! alarm runs; a session's rows go when it closes or expires. An id whose row is gone (or is
//! another session's) is refused with 400: it names no stream this session can resume.
//!
//! # Resuming
//! [`resume_plan`] decides what a resumed connection gets after the replayed rows: nothing
//! more (the stream ended), the rest of a call still running in this instance, or, when the
//! object restarted while the call ran, an error saying the call was interrupted.

use serde::Deserialize;
use worker::{Result, SqlStorageValue};

use super::UserObject;
use crate::mcp::jsonrpc::RequestId;

/// How much of the outbox is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct OutboxBounds {
    /// Rows older than this are dropped.
    pub(super) max_age_ms: u64,
    /// At most this many rows per session (the newest).
    pub(super) max_rows: u64,
}

/// The outbox's bounds: ten minutes and 1,000 events per session.
pub(super) const BOUNDS: OutboxBounds = OutboxBounds {
    max_age_ms: 10 * 60 * 1000,
    max_rows: 1_000,
};

impl OutboxBounds {
    /// Rows written before this time are dropped at `now_ms`.
    pub(super) fn oldest_kept_at(&self, now_ms: u64) -> u64 {
        now_ms.saturating_sub(self.max_age_ms)
    }

    /// Whether a row written at `at_ms` that has `newer` rows of its session after it is kept
    /// at `now_ms` (what the pruning statements below implement).
    #[cfg(test)]
    fn keeps(&self, at_ms: u64, newer: u64, now_ms: u64) -> bool {
        at_ms >= self.oldest_kept_at(now_ms) && newer < self.max_rows
    }
}

/// One outbox row after the resumption point.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(super) struct OutboxRow {
    /// Its id (the event id `o<id>`).
    pub(super) id: i64,
    /// The JSON-RPC message it carried, if any.
    pub(super) message: Option<String>,
    /// Whether it is the stream's last row (1) or not (0).
    pub(super) last: i64,
}

/// The stream an outbox id belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct OutboxStream {
    /// The stream's id (the id of its first row).
    pub(super) stream: u64,
    /// The request it answers.
    pub(super) request_id: RequestId,
}

/// What a resumed stream gets after the rows it replays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ResumeEnd {
    /// The stream's last row was replayed: close.
    Close,
    /// The call still runs here: follow it to its end.
    Follow,
    /// The call is not running and never finished (the object restarted): answer with an
    /// error saying it was interrupted, then close.
    Interrupted,
}

/// How a stream resumed after the rows `replayed` ends, given whether its last row was
/// written at all (it may precede the resumption point: the client saw the end) and whether
/// its call still runs in this instance.
pub(super) fn resume_plan(replayed: &[OutboxRow], ended: bool, running: bool) -> ResumeEnd {
    if ended || replayed.iter().any(|row| row.last != 0) {
        ResumeEnd::Close
    } else if running {
        ResumeEnd::Follow
    } else {
        ResumeEnd::Interrupted
    }
}

#[derive(Debug, Deserialize)]
struct IdRow {
    id: i64,
}

#[derive(Debug, Deserialize)]
struct StreamRow {
    stream: i64,
    request_id: String,
}

#[derive(Debug, Deserialize)]
struct CountRow {
    count: i64,
}

#[derive(Debug, Deserialize)]
struct SessionRow {
    session: String,
}

pub(super) const SCHEMA: [&str; 2] = [
    "CREATE TABLE IF NOT EXISTS mcp_outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, \
     session TEXT NOT NULL, stream INTEGER NOT NULL, request_id TEXT NOT NULL, message TEXT, \
     last INTEGER NOT NULL, at_ms INTEGER NOT NULL)",
    "CREATE INDEX IF NOT EXISTS mcp_outbox_by_session ON mcp_outbox (session, id)",
];

fn int(value: u64) -> SqlStorageValue {
    SqlStorageValue::Integer(i64::try_from(value).unwrap_or(i64::MAX))
}

impl UserObject {
    /// Opens a stream for `session`'s request `request_id`: drops the session's rows past
    /// the bounds, then writes the opening row. Returns the stream's id.
    pub(super) fn outbox_open(
        &self,
        session: &str,
        request_id: &RequestId,
        now_ms: u64,
    ) -> Result<u64> {
        let sql = self.sql();
        sql.exec(
            "DELETE FROM mcp_outbox WHERE session = ?1 AND (at_ms < ?2 OR id NOT IN \
             (SELECT id FROM mcp_outbox WHERE session = ?1 ORDER BY id DESC LIMIT ?3))",
            vec![
                session.into(),
                int(BOUNDS.oldest_kept_at(now_ms)),
                // The new row makes one more.
                int(BOUNDS.max_rows.saturating_sub(1)),
            ],
        )?;
        let request_id = serde_json::to_string(request_id)?;
        let row: IdRow = sql
            .exec(
                "INSERT INTO mcp_outbox (session, stream, request_id, message, last, at_ms) \
                 VALUES (?, 0, ?, NULL, 0, ?) RETURNING id",
                vec![session.into(), request_id.into(), int(now_ms)],
            )?
            .one()?;
        sql.exec(
            "UPDATE mcp_outbox SET stream = id WHERE id = ?",
            vec![row.id.into()],
        )?;
        Ok(u64::try_from(row.id).unwrap_or(0))
    }

    /// Records one event of `stream`; returns its row id.
    pub(super) fn outbox_record(
        &self,
        session: &str,
        stream: u64,
        request_id: &RequestId,
        message: Option<&str>,
        last: bool,
        now_ms: u64,
    ) -> Result<u64> {
        let request_id = serde_json::to_string(request_id)?;
        let message = message.map_or(SqlStorageValue::Null, |m| m.into());
        let row: IdRow = self
            .sql()
            .exec(
                "INSERT INTO mcp_outbox (session, stream, request_id, message, last, at_ms) \
                 VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                vec![
                    session.into(),
                    int(stream),
                    request_id.into(),
                    message,
                    i64::from(last).into(),
                    int(now_ms),
                ],
            )?
            .one()?;
        Ok(u64::try_from(row.id).unwrap_or(0))
    }

    /// The stream that outbox row `row` belongs to, if it is `session`'s and still kept.
    pub(super) fn outbox_stream(&self, session: &str, row: u64) -> Result<Option<OutboxStream>> {
        let rows: Vec<StreamRow> = self
            .sql()
            .exec(
                "SELECT stream, request_id FROM mcp_outbox WHERE id = ? AND session = ?",
                vec![int(row), session.into()],
            )?
            .to_array()?;
        Ok(rows.into_iter().next().and_then(|found| {
            Some(OutboxStream {
                stream: u64::try_from(found.stream).ok()?,
                request_id: serde_json::from_str(&found.request_id).ok()?,
            })
        }))
    }

    /// `stream`'s rows after `row`, oldest first.
    pub(super) fn outbox_after(&self, stream: u64, row: u64) -> Result<Vec<OutboxRow>> {
        self.sql()
            .exec(
                "SELECT id, message, last FROM mcp_outbox WHERE stream = ? AND id > ? \
                 ORDER BY id",
                vec![int(stream), int(row)],
            )?
            .to_array()
    }

    /// Whether `stream`'s last row was written.
    pub(super) fn outbox_ended(&self, stream: u64) -> Result<bool> {
        let count: CountRow = self
            .sql()
            .exec(
                "SELECT COUNT(*) AS count FROM mcp_outbox WHERE stream = ? AND last = 1",
                vec![int(stream)],
            )?
            .one()?;
        Ok(count.count > 0)
    }

    /// Drops every row older than the bounds allow (the alarm's sweep).
    pub(super) fn outbox_prune(&self, now_ms: u64) -> Result<()> {
        self.sql().exec(
            "DELETE FROM mcp_outbox WHERE at_ms < ?",
            vec![int(BOUNDS.oldest_kept_at(now_ms))],
        )?;
        Ok(())
    }

    /// The sessions that have rows in the outbox.
    pub(super) fn outbox_sessions(&self) -> Result<Vec<String>> {
        let rows: Vec<SessionRow> = self
            .sql()
            .exec("SELECT DISTINCT session FROM mcp_outbox", None)?
            .to_array()?;
        Ok(rows.into_iter().map(|row| row.session).collect())
    }

    /// Drops `session`'s rows (it ended); returns how many there were.
    pub(super) fn outbox_forget(&self, session: &str) -> Result<u64> {
        let sql = self.sql();
        let count: CountRow = sql
            .exec(
                "SELECT COUNT(*) AS count FROM mcp_outbox WHERE session = ?",
                vec![session.into()],
            )?
            .one()?;
        sql.exec(
            "DELETE FROM mcp_outbox WHERE session = ?",
            vec![session.into()],
        )?;
        Ok(u64::try_from(count.count).unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: i64, last: bool) -> OutboxRow {
        OutboxRow {
            id,
            message: Some("{}".into()),
            last: i64::from(last),
        }
    }

    #[test]
    fn rows_are_kept_ten_minutes_and_a_thousand_per_session() {
        let now = 100 * 60 * 1000;
        assert!(BOUNDS.keeps(now - 10 * 60 * 1000, 0, now));
        assert!(!BOUNDS.keeps(now - 10 * 60 * 1000 - 1, 0, now));
        assert!(BOUNDS.keeps(now, 999, now));
        assert!(!BOUNDS.keeps(now, 1_000, now));
        assert_eq!(
            BOUNDS.oldest_kept_at(5),
            0,
            "no underflow right after the epoch"
        );
    }

    #[test]
    fn a_stream_whose_last_row_exists_closes() {
        assert_eq!(
            resume_plan(&[row(4, false), row(5, true)], true, true),
            ResumeEnd::Close
        );
        assert_eq!(resume_plan(&[row(5, true)], true, false), ResumeEnd::Close);
        // The client saw the last row already: nothing to replay, and nothing more comes.
        assert_eq!(resume_plan(&[], true, false), ResumeEnd::Close);
    }

    #[test]
    fn a_running_call_is_followed() {
        assert_eq!(resume_plan(&[], false, true), ResumeEnd::Follow);
        assert_eq!(
            resume_plan(&[row(4, false)], false, true),
            ResumeEnd::Follow
        );
    }

    #[test]
    fn a_lost_call_is_reported_interrupted() {
        assert_eq!(resume_plan(&[], false, false), ResumeEnd::Interrupted);
        assert_eq!(
            resume_plan(&[row(4, false)], false, false),
            ResumeEnd::Interrupted
        );
    }
}
