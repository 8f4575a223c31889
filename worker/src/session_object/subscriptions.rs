//! Resource subscriptions: which notes each session watches, and which changes a GET stream
//! reports or replays.
//!
//! # Layout
//! `mcp_subscriptions(session, path, PRIMARY KEY (session, path))`, indexed by path: a row per
//! watched note (one that does not exist yet may be watched: it may be created). At most
//! [`MAX_PER_SESSION`] per session; a session's rows go when it closes or expires.
//!
//! # What a stream reports
//! Every change to a watched note (write, edit, revert, delete, either side of a move) becomes
//! `notifications/resources/updated` whose event id is the change's place in the log
//! ([`LogPosition`]: the event's seq, and part 1 for a move's destination). A stream resumed
//! with `Last-Event-ID` first replays what it missed:
//! - from the log ([`replay_from_log`]): every change after the id, in order;
//! - when the log no longer holds those events locally (compacted into the archive) or the
//!   gap is larger than [`MAX_REPLAY_EVENTS`]: from each watched note's history
//!   ([`replay_from_history`]): its latest change after the id, so every watched note that
//!   changed is reported at least once; nothing is skipped silently.

use std::collections::BTreeSet;

use engine::envelope::Envelope;
use engine::event::Event;
use engine::history::Change;
use engine::notes::NotesView;
use serde::Deserialize;
use worker::Result;

use super::UserObject;
use super::live::NoteChange;
use crate::mcp::sse::LogPosition;

/// The most notes one session may watch.
pub(super) const MAX_PER_SESSION: u64 = 1_000;
/// The most log events one resumption reads; a larger gap is replayed from history.
pub(super) const MAX_REPLAY_EVENTS: u64 = 20_000;

pub(super) const SCHEMA: [&str; 2] = [
    "CREATE TABLE IF NOT EXISTS mcp_subscriptions (session TEXT NOT NULL, path TEXT NOT NULL, \
     PRIMARY KEY (session, path))",
    "CREATE INDEX IF NOT EXISTS mcp_subscriptions_by_path ON mcp_subscriptions (path)",
];

/// The note changes `envelope` made, in their order within it.
pub(super) fn changes_of(envelope: &Envelope) -> Vec<NoteChange> {
    let change = |part, path: &engine::NotePath| NoteChange {
        position: LogPosition {
            seq: envelope.seq,
            part,
        },
        path: path.as_str().to_owned(),
    };
    match &envelope.event {
        Event::NoteWritten(content) | Event::NoteEdited(content) => vec![change(0, &content.path)],
        Event::NoteDeleted(deleted) => vec![change(0, &deleted.path)],
        Event::NoteReverted(reverted) => vec![change(0, &reverted.path)],
        Event::NoteMoved(moved) => vec![change(0, &moved.from), change(1, &moved.to)],
        _ => Vec::new(),
    }
}

/// The changes among `envelopes` placed after `after` and at or before seq `through` (only
/// those to `subscribed` notes, when given), in log order.
pub(super) fn replay_from_log(
    envelopes: &[Envelope],
    after: LogPosition,
    through: u64,
    subscribed: Option<&BTreeSet<String>>,
) -> Vec<NoteChange> {
    envelopes
        .iter()
        .filter(|envelope| envelope.seq <= through)
        .flat_map(changes_of)
        .filter(|change| change.position > after)
        .filter(|change| subscribed.is_none_or(|paths| paths.contains(&change.path)))
        .collect()
}

/// For each `subscribed` note, its latest change placed after `after` and at or before seq
/// `through`, in log order.
pub(super) fn replay_from_history(
    notes: &NotesView<'_>,
    after: LogPosition,
    through: u64,
    subscribed: &BTreeSet<String>,
) -> Result<Vec<NoteChange>, engine::StorageError> {
    let mut changes: Vec<NoteChange> = Vec::new();
    for path in subscribed {
        let Some(latest) = notes.version_through(path, through)? else {
            continue;
        };
        let part = match latest.change {
            Change::MovedFrom { .. } => 1,
            _ => 0,
        };
        let position = LogPosition {
            seq: latest.seq,
            part,
        };
        if position > after {
            changes.push(NoteChange {
                position,
                path: path.clone(),
            });
        }
    }
    changes.sort_by_key(|change| change.position);
    Ok(changes)
}

#[derive(Debug, Deserialize)]
struct PathRow {
    path: String,
}

#[derive(Debug, Deserialize)]
struct SessionRow {
    session: String,
}

#[derive(Debug, Deserialize)]
struct CountRow {
    count: i64,
}

/// Why a subscription was not added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct TooManySubscriptions;

impl UserObject {
    /// Adds `path` to what `session` watches (a no-op when it does already).
    pub(super) fn subscribe(
        &self,
        session: &str,
        path: &str,
    ) -> Result<std::result::Result<(), TooManySubscriptions>> {
        let sql = self.sql();
        let count: CountRow = sql
            .exec(
                "SELECT COUNT(*) AS count FROM mcp_subscriptions WHERE session = ?",
                vec![session.into()],
            )?
            .one()?;
        let known: Vec<PathRow> = sql
            .exec(
                "SELECT path FROM mcp_subscriptions WHERE session = ? AND path = ?",
                vec![session.into(), path.into()],
            )?
            .to_array()?;
        if known.is_empty() && u64::try_from(count.count).unwrap_or(0) >= MAX_PER_SESSION {
            return Ok(Err(TooManySubscriptions));
        }
        sql.exec(
            "INSERT OR IGNORE INTO mcp_subscriptions (session, path) VALUES (?, ?)",
            vec![session.into(), path.into()],
        )?;
        Ok(Ok(()))
    }

    /// Removes `path` from what `session` watches (a no-op when it does not).
    pub(super) fn unsubscribe(&self, session: &str, path: &str) -> Result<()> {
        self.sql().exec(
            "DELETE FROM mcp_subscriptions WHERE session = ? AND path = ?",
            vec![session.into(), path.into()],
        )?;
        Ok(())
    }

    /// The notes `session` watches.
    pub(super) fn subscribed(&self, session: &str) -> Result<BTreeSet<String>> {
        let rows: Vec<PathRow> = self
            .sql()
            .exec(
                "SELECT path FROM mcp_subscriptions WHERE session = ?",
                vec![session.into()],
            )?
            .to_array()?;
        Ok(rows.into_iter().map(|row| row.path).collect())
    }

    /// The sessions that watch `path`.
    pub(super) fn subscribers(&self, path: &str) -> Result<Vec<String>> {
        let rows: Vec<SessionRow> = self
            .sql()
            .exec(
                "SELECT session FROM mcp_subscriptions WHERE path = ?",
                vec![path.into()],
            )?
            .to_array()?;
        Ok(rows.into_iter().map(|row| row.session).collect())
    }

    /// The sessions that watch anything.
    pub(super) fn subscribing_sessions(&self) -> Result<Vec<String>> {
        let rows: Vec<SessionRow> = self
            .sql()
            .exec("SELECT DISTINCT session FROM mcp_subscriptions", None)?
            .to_array()?;
        Ok(rows.into_iter().map(|row| row.session).collect())
    }

    /// Drops everything `session` watches (it ended); returns how many notes it watched.
    pub(super) fn forget_subscriptions(&self, session: &str) -> Result<u64> {
        let sql = self.sql();
        let count: CountRow = sql
            .exec(
                "SELECT COUNT(*) AS count FROM mcp_subscriptions WHERE session = ?",
                vec![session.into()],
            )?
            .one()?;
        sql.exec(
            "DELETE FROM mcp_subscriptions WHERE session = ?",
            vec![session.into()],
        )?;
        Ok(u64::try_from(count.count).unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use engine::store::WriteRequest;
    use engine::{Config, EventId, MemoryStorage, Store, Timestamp};

    use super::*;

    /// A store with: 1 write a, 2 write b, 3 write c, 4 edit a, 5 move b -> d, 6 delete c.
    fn store() -> Store<MemoryStorage> {
        let (mut store, _) = Store::open(MemoryStorage::default(), Config::default()).unwrap();
        let mut ids = 0u8;
        let mut next_id = || {
            ids += 1;
            EventId::derive(&[ids])
        };
        let now = Timestamp(1_000);
        for (path, content) in [("a", "1"), ("b", "2"), ("c", "3"), ("a", "4")] {
            let req = WriteRequest {
                id: next_id(),
                path,
                content: content.as_bytes(),
                media_type: "text/plain",
                expected_version: None,
                edit: false,
            };
            let plan = store.plan_write(&req).unwrap();
            store.write(&req, &plan, now).unwrap();
        }
        store.move_note(next_id(), "b", "d", None, now).unwrap();
        store.delete(next_id(), "c", None, now).unwrap();
        store
    }

    fn log(store: &Store<MemoryStorage>) -> Vec<Envelope> {
        store.events_after(0, 100).unwrap()
    }

    fn paths(list: &[&str]) -> BTreeSet<String> {
        list.iter().map(|p| (*p).to_owned()).collect()
    }

    fn seen(changes: &[NoteChange]) -> Vec<(u64, u8, &str)> {
        changes
            .iter()
            .map(|c| (c.position.seq, c.position.part, c.path.as_str()))
            .collect()
    }

    #[test]
    fn every_note_event_is_a_change_and_a_move_is_two() {
        let all: Vec<NoteChange> = log(&store()).iter().flat_map(changes_of).collect();
        assert_eq!(
            seen(&all),
            [
                (1, 0, "a"),
                (2, 0, "b"),
                (3, 0, "c"),
                (4, 0, "a"),
                (5, 0, "b"),
                (5, 1, "d"),
                (6, 0, "c")
            ]
        );
    }

    #[test]
    fn the_log_replays_exactly_the_missed_changes_to_watched_notes() {
        let store = store();
        let log = log(&store);
        let watched = paths(&["a", "d", "never-written"]);
        let replayed = replay_from_log(&log, LogPosition::at(1), 6, Some(&watched));
        assert_eq!(seen(&replayed), [(4, 0, "a"), (5, 1, "d")]);
        // Resuming between the two halves of a move replays the second half only.
        let watched = paths(&["b", "d"]);
        let replayed = replay_from_log(&log, LogPosition::at(5), 6, Some(&watched));
        assert_eq!(seen(&replayed), [(5, 1, "d")]);
        // Nothing past `through` (events not yet reported live).
        let replayed = replay_from_log(&log, LogPosition::at(0), 4, Some(&paths(&["a", "c"])));
        assert_eq!(seen(&replayed), [(1, 0, "a"), (3, 0, "c"), (4, 0, "a")]);
        assert!(replay_from_log(&log, LogPosition::at(6), 6, Some(&watched)).is_empty());
        assert_eq!(replay_from_log(&log, LogPosition::at(4), 6, None).len(), 3);
    }

    #[test]
    fn history_replays_the_latest_change_of_each_watched_note() {
        let store = store();
        let history = &store.notes();
        let watched = paths(&["a", "b", "c", "d", "never-written"]);
        let replayed = replay_from_history(history, LogPosition::at(0), 6, &watched).unwrap();
        assert_eq!(
            seen(&replayed),
            [(4, 0, "a"), (5, 0, "b"), (5, 1, "d"), (6, 0, "c")]
        );
        let replayed = replay_from_history(history, LogPosition::at(4), 6, &watched).unwrap();
        assert_eq!(seen(&replayed), [(5, 0, "b"), (5, 1, "d"), (6, 0, "c")]);
        // A change after `through` is left to the live stream; the one before it is older
        // than the resumption point, so nothing is replayed for that note.
        let replayed = replay_from_history(history, LogPosition::at(3), 5, &paths(&["c"])).unwrap();
        assert!(replayed.is_empty());
    }

    #[test]
    fn history_covers_every_note_the_log_would_report() {
        let store = store();
        let log = log(&store);
        let watched = paths(&["a", "b", "c", "d"]);
        for after in 0..=6 {
            let from_log = replay_from_log(&log, LogPosition::at(after), 6, Some(&watched));
            let from_history =
                replay_from_history(&store.notes(), LogPosition::at(after), 6, &watched).unwrap();
            let log_paths: BTreeSet<&str> = from_log.iter().map(|c| c.path.as_str()).collect();
            let history_paths: BTreeSet<&str> =
                from_history.iter().map(|c| c.path.as_str()).collect();
            assert_eq!(log_paths, history_paths, "after {after}");
        }
    }
}
