//! The state derived from the log, and the one function that advances it: [`State::apply`].
//!
//! Live appends and replay go through the same `apply`, so a replayed log always yields the
//! state the live engine had. `apply` checks everything before it changes anything: an event
//! that does not fit (a version that is not the next one, a session that is not open) is an
//! [`ApplyError`] and leaves the state untouched.

use thiserror::Error;

use crate::envelope::{ChainHead, Envelope};
use crate::event::{Event, NoteContent};
use crate::files::FileEntry;
use crate::files::sql::FileChange;
use crate::history::{Change, Content, Version};
use crate::ids::{Hash, SessionId, Timestamp};
use crate::notes::{MemoryNotes, NotesChange, NotesLookup};
use crate::path::NotePath;
use crate::receipts::{Receipt, Receipts};
use crate::search::sql::SearchChange;
use crate::sessions::{Session, SessionTable};

/// What the engine keeps in memory of the state derived from the log: the head, sessions,
/// the idempotency window. The notes (file index and history) and the full-text search index
/// are kept by the storage instead (see [`crate::storage`]): [`State::apply`] returns the
/// [`NotesChange`] an event makes, and [`search_change`] says what it changes in the index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    pub(crate) head: ChainHead,
    pub(crate) sessions: SessionTable,
    pub(crate) receipts: Receipts,
    /// The end of the last archived segment (seq 0: none archived).
    pub(crate) archived: ChainHead,
    /// The latest event time applied; new events never get an earlier time.
    pub(crate) last_time: Timestamp,
}

/// An event that does not fit the state it is applied to.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ApplyError {
    /// Its seq is not the next one.
    #[error("event seq {found} does not follow seq {head}")]
    OutOfOrder {
        /// The state's last seq.
        head: u64,
        /// The event's seq.
        found: u64,
    },
    /// It makes a version that is not the path's next one.
    #[error("{path}: event makes version {found} but the next version is {expected}")]
    WrongVersion {
        /// The path.
        path: NotePath,
        /// The path's next version.
        expected: u64,
        /// The version in the event.
        found: u64,
    },
    /// It changes a note that does not exist.
    #[error("{0}: no such note")]
    NoSuchNote(NotePath),
    /// It moves a note onto one that exists.
    #[error("{0}: a note already exists there")]
    NoteExists(NotePath),
    /// It reverts to a version that has no content.
    #[error("{path}: version {version} has no content to revert to")]
    NoContent {
        /// The path.
        path: NotePath,
        /// The version.
        version: u64,
    },
    /// It names a session that is not open, or opens one that is.
    #[error("session {0}: not in the state the event expects")]
    Session(String),
    /// It archives a segment that does not follow the last archived one.
    #[error("segment {first}..={last} does not follow the archived prefix ending at {archived}")]
    Segment {
        /// The segment's first seq.
        first: u64,
        /// Its last seq.
        last: u64,
        /// The last archived seq.
        archived: u64,
    },
}

impl State {
    /// The empty state, with an idempotency window of `receipts` ids.
    pub fn new(receipts: usize) -> State {
        State {
            head: ChainHead::default(),
            sessions: SessionTable::default(),
            receipts: Receipts::new(receipts),
            archived: ChainHead::default(),
            last_time: Timestamp(0),
        }
    }

    /// The last applied event.
    pub fn head(&self) -> ChainHead {
        self.head
    }

    /// The open sessions.
    pub fn sessions(&self) -> &SessionTable {
        &self.sessions
    }

    /// The end of the archived prefix.
    pub fn archived(&self) -> ChainHead {
        self.archived
    }

    /// Checks that `envelope` fits this state and `notes`, changing nothing.
    pub fn check(&self, envelope: &Envelope, notes: &dyn NotesLookup) -> Result<(), ApplyError> {
        self.check_state(envelope)?;
        match &envelope.event {
            Event::NoteWritten(c) => check_next_version(notes, &c.path, c.version)?,
            Event::NoteEdited(c) => {
                check_exists(notes, &c.path)?;
                check_next_version(notes, &c.path, c.version)?;
            }
            Event::NoteReverted(r) => {
                let source = notes
                    .version(r.path.as_str(), r.source_version)
                    .and_then(|v| v.content);
                if source.is_none_or(|c| c.hash != r.hash || c.size != r.size) {
                    return Err(ApplyError::NoContent {
                        path: r.path.clone(),
                        version: r.source_version,
                    });
                }
                check_next_version(notes, &r.path, r.version)?;
            }
            Event::NoteDeleted(d) => {
                check_exists(notes, &d.path)?;
                check_next_version(notes, &d.path, d.version)?;
            }
            Event::NoteMoved(m) => {
                check_exists(notes, &m.from)?;
                if m.from == m.to || notes.file(m.to.as_str()).is_some() {
                    return Err(ApplyError::NoteExists(m.to.clone()));
                }
                check_next_version(notes, &m.from, m.from_version)?;
                check_next_version(notes, &m.to, m.to_version)?;
            }
            Event::SessionOpened(_)
            | Event::SessionTouched(_)
            | Event::SessionClosed(_)
            | Event::SessionExpired(_)
            | Event::SegmentArchived(_) => {}
        }
        Ok(())
    }

    /// The checks of [`State::check`] that do not involve the notes: the seq, sessions and
    /// the archived prefix (for replaying an event the notes already reflect).
    pub(crate) fn check_state(&self, envelope: &Envelope) -> Result<(), ApplyError> {
        let seq = envelope.seq;
        if seq != self.head.seq + 1 {
            return Err(ApplyError::OutOfOrder {
                head: self.head.seq,
                found: seq,
            });
        }
        let session_error = |s: &SessionId| Err(ApplyError::Session(s.to_string()));
        match &envelope.event {
            Event::SessionOpened(open) => {
                if self.sessions.get(&open.session).is_some() {
                    return session_error(&open.session);
                }
            }
            Event::SessionTouched(s) | Event::SessionClosed(s) | Event::SessionExpired(s) => {
                if self.sessions.get(&s.session).is_none() {
                    return session_error(&s.session);
                }
            }
            Event::SegmentArchived(s) => {
                if s.first_seq != self.archived.seq + 1
                    || s.last_seq < s.first_seq
                    || s.last_seq >= seq
                {
                    return Err(ApplyError::Segment {
                        first: s.first_seq,
                        last: s.last_seq,
                        archived: self.archived.seq,
                    });
                }
            }
            Event::NoteWritten(_)
            | Event::NoteEdited(_)
            | Event::NoteReverted(_)
            | Event::NoteDeleted(_)
            | Event::NoteMoved(_) => {}
        }
        Ok(())
    }

    /// Applies one event whose chain hash is `hash`: [`State::check`], then the change.
    /// Returns what it changes in the notes, for the caller to apply to them.
    pub fn apply(
        &mut self,
        envelope: &Envelope,
        hash: Hash,
        notes: &dyn NotesLookup,
    ) -> Result<NotesChange, ApplyError> {
        self.check(envelope, notes)?;
        Ok(self.commit(envelope, hash, notes))
    }

    /// The change of [`State::apply`] for an envelope that [`State::check`] accepted against
    /// the same `notes`. Every condition was checked there, so nothing here can fail: the
    /// store calls `check`, writes the event and its notes change to storage, then `commit`s
    /// (the change is [`notes_change`]).
    pub(crate) fn commit(
        &mut self,
        envelope: &Envelope,
        hash: Hash,
        notes: &dyn NotesLookup,
    ) -> NotesChange {
        let change = notes_change(envelope, notes);
        self.commit_unchecked(envelope, hash);
        change
    }

    /// Advances everything but the notes by `envelope` (a checked one, or one the notes
    /// already reflect): head, sessions, receipts, the archived prefix, the time.
    pub(crate) fn commit_unchecked(&mut self, envelope: &Envelope, hash: Hash) {
        let seq = envelope.seq;
        let time = envelope.time;
        let receipt = match &envelope.event {
            Event::SessionOpened(open) => {
                let session = Session {
                    user: open.user.clone(),
                    protocol_version: open.protocol_version.clone(),
                    client_name: open.client_name.clone(),
                    client_version: open.client_version.clone(),
                    opened: time,
                    last_seen: time,
                    idle_timeout_ms: open.idle_timeout_ms,
                };
                self.sessions.insert(open.session.clone(), session);
                Receipt::plain(seq)
            }
            Event::SessionTouched(s) => {
                self.sessions.touch(&s.session, time);
                Receipt::plain(seq)
            }
            Event::SessionClosed(s) | Event::SessionExpired(s) => {
                self.sessions.remove(&s.session);
                Receipt::plain(seq)
            }
            Event::NoteWritten(c) | Event::NoteEdited(c) => Receipt::note(seq, &c.path, c.version),
            Event::NoteReverted(r) => Receipt::note(seq, &r.path, r.version),
            Event::NoteDeleted(d) => Receipt::note(seq, &d.path, d.version),
            Event::NoteMoved(m) => Receipt::note(seq, &m.to, m.to_version),
            Event::SegmentArchived(s) => {
                self.archived = ChainHead {
                    seq: s.last_seq,
                    hash: s.last_hash,
                };
                Receipt::plain(seq)
            }
        };
        self.receipts.record(envelope.id, receipt);
        self.head = ChainHead { seq, hash };
        self.last_time = self.last_time.max(time);
    }
}

fn check_exists(notes: &dyn NotesLookup, path: &NotePath) -> Result<(), ApplyError> {
    match notes.file(path.as_str()) {
        Some(_) => Ok(()),
        None => Err(ApplyError::NoSuchNote(path.clone())),
    }
}

fn check_next_version(
    notes: &dyn NotesLookup,
    path: &NotePath,
    version: u64,
) -> Result<(), ApplyError> {
    let expected = notes.last_version(path.as_str()) + 1;
    if version == expected {
        Ok(())
    } else {
        Err(ApplyError::WrongVersion {
            path: path.clone(),
            expected,
            found: version,
        })
    }
}

/// What `envelope` (checked against `notes`) changes in the notes.
pub fn notes_change(envelope: &Envelope, notes: &dyn NotesLookup) -> NotesChange {
    let seq = envelope.seq;
    let time = envelope.time;
    let mut change = NotesChange::default();
    let version = |version: u64, change: Change, content: Option<Content>| Version {
        version,
        seq,
        time,
        change,
        content,
    };
    let put_content = |change: &mut NotesChange, c: &NoteContent, kind: Change| {
        let content = Content {
            hash: c.hash,
            size: c.size,
            media_type: c.media_type.clone(),
        };
        change
            .versions
            .push((c.path.clone(), version(c.version, kind, Some(content))));
        let existing = notes.file(c.path.as_str());
        let entry = FileEntry {
            version: c.version,
            hash: c.hash,
            size: c.size,
            media_type: c.media_type.clone(),
            created: existing.map_or(time, |e| e.created),
            modified: time,
            seq,
        };
        change.files.push(FileChange::Put(c.path.clone(), entry));
    };
    match &envelope.event {
        Event::NoteWritten(c) => put_content(&mut change, c, Change::Written),
        Event::NoteEdited(c) => put_content(&mut change, c, Change::Edited),
        Event::NoteReverted(r) => {
            let content = NoteContent {
                path: r.path.clone(),
                version: r.version,
                hash: r.hash,
                size: r.size,
                media_type: r.media_type.clone(),
            };
            let kind = Change::Reverted {
                source_version: r.source_version,
            };
            put_content(&mut change, &content, kind);
        }
        Event::NoteDeleted(d) => {
            change.files.push(FileChange::Remove(d.path.clone()));
            change
                .versions
                .push((d.path.clone(), version(d.version, Change::Deleted, None)));
        }
        Event::NoteMoved(m) => {
            if let Some(old) = notes.file(m.from.as_str()) {
                let content = Content {
                    hash: old.hash,
                    size: old.size,
                    media_type: old.media_type.clone(),
                };
                change.files.push(FileChange::Remove(m.from.clone()));
                let moved_to = Change::MovedTo { to: m.to.clone() };
                change
                    .versions
                    .push((m.from.clone(), version(m.from_version, moved_to, None)));
                let moved_from = Change::MovedFrom {
                    from: m.from.clone(),
                };
                change.versions.push((
                    m.to.clone(),
                    version(m.to_version, moved_from, Some(content)),
                ));
                // The note comes into existence at its new path now.
                let entry = FileEntry {
                    version: m.to_version,
                    seq,
                    created: time,
                    modified: time,
                    ..old
                };
                change.files.push(FileChange::Put(m.to.clone(), entry));
            }
        }
        Event::SessionOpened(_)
        | Event::SessionTouched(_)
        | Event::SessionClosed(_)
        | Event::SessionExpired(_)
        | Event::SegmentArchived(_) => {}
    }
    change
}

/// What `envelope` changes in the search index: a content event indexes `text` when the
/// caller has it and otherwise queues the note for it (never leaving the old text searchable
/// under the new version); a delete or move follows the note.
pub fn search_change(envelope: &Envelope, text: Option<&str>) -> Option<SearchChange> {
    let content = |path: &NotePath, hash: Hash| match text {
        Some(text) => SearchChange::Index {
            path: path.to_string(),
            hash,
            text: text.to_owned(),
        },
        None => SearchChange::Pending {
            path: path.to_string(),
            hash,
        },
    };
    match &envelope.event {
        Event::NoteWritten(c) | Event::NoteEdited(c) => Some(content(&c.path, c.hash)),
        Event::NoteReverted(r) => Some(content(&r.path, r.hash)),
        Event::NoteDeleted(d) => Some(SearchChange::Remove {
            path: d.path.to_string(),
        }),
        Event::NoteMoved(m) => Some(SearchChange::Rename {
            from: m.from.to_string(),
            to: m.to.to_string(),
        }),
        Event::SessionOpened(_)
        | Event::SessionTouched(_)
        | Event::SessionClosed(_)
        | Event::SessionExpired(_)
        | Event::SegmentArchived(_) => None,
    }
}

impl Receipt {
    fn plain(seq: u64) -> Receipt {
        Receipt {
            seq,
            path: None,
            version: None,
        }
    }

    fn note(seq: u64, path: &NotePath, version: u64) -> Receipt {
        Receipt {
            seq,
            path: Some(path.clone()),
            version: Some(version),
        }
    }
}

/// A [`State`] and its notes in memory, advanced together: replaying a log outside a store
/// (tools, tests, benches).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replica {
    /// The state.
    pub state: State,
    /// The notes.
    pub notes: MemoryNotes,
}

impl Replica {
    /// The empty replica, with an idempotency window of `receipts` ids.
    pub fn new(receipts: usize) -> Replica {
        Replica {
            state: State::new(receipts),
            notes: MemoryNotes::default(),
        }
    }

    /// The replica a full snapshot holds; `None` for a lean one (it has no notes).
    pub fn from_snapshot(decoded: crate::snapshot::Decoded) -> Option<Replica> {
        Some(Replica {
            state: decoded.state,
            notes: decoded.notes?,
        })
    }

    /// Applies one event whose chain hash is `hash` ([`State::apply`]) to both.
    pub fn apply(&mut self, envelope: &Envelope, hash: Hash) -> Result<(), ApplyError> {
        let change = self.state.apply(envelope, hash, &self.notes)?;
        self.notes.apply(&change, envelope.seq);
        Ok(())
    }

    /// The full snapshot of it.
    pub fn snapshot(&self) -> crate::snapshot::Snapshot {
        let history = self.notes.history();
        let paths = history
            .iter()
            .map(|(p, vs)| Ok::<_, ()>((p.clone(), vs.to_vec())));
        let files = self.notes.files();
        let current = files.iter().map(|(p, _)| Ok(p.clone()));
        let encoded = crate::snapshot::encode_with(
            &self.state,
            history.paths() as u64,
            paths,
            files.len() as u64,
            current,
            |_, _| (),
        );
        match encoded {
            Ok(snapshot) => snapshot,
            Err(()) => unreachable!("the counts are the history's and the index's own"),
        }
    }
}
