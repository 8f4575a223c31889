//! The state derived from the log, and the one function that advances it: [`State::apply`].
//!
//! Live appends and replay go through the same `apply`, so a replayed log always yields the
//! state the live engine had. `apply` checks everything before it changes anything: an event
//! that does not fit (a version that is not the next one, a session that is not open) is an
//! [`ApplyError`] and leaves the state untouched.

use thiserror::Error;

use crate::envelope::{ChainHead, Envelope};
use crate::event::{Event, NoteContent};
use crate::files::{FileEntry, FileIndex};
use crate::history::{Change, Content, History, Version};
use crate::ids::{Hash, SessionId, Timestamp};
use crate::path::NotePath;
use crate::receipts::{Receipt, Receipts};
use crate::search::sql::SearchChange;
use crate::sessions::{Session, SessionTable};

/// Everything derived from the log that the engine keeps in memory. The full-text search
/// index is kept by the storage instead (see [`crate::storage`]); [`search_change`] says what
/// an event changes there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    pub(crate) head: ChainHead,
    pub(crate) files: FileIndex,
    pub(crate) history: History,
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
            files: FileIndex::default(),
            history: History::default(),
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

    /// The current notes.
    pub fn files(&self) -> &FileIndex {
        &self.files
    }

    /// Every version of every note.
    pub fn history(&self) -> &History {
        &self.history
    }

    /// The open sessions.
    pub fn sessions(&self) -> &SessionTable {
        &self.sessions
    }

    /// The end of the archived prefix.
    pub fn archived(&self) -> ChainHead {
        self.archived
    }

    /// Checks that `envelope` fits this state, changing nothing.
    pub fn check(&self, envelope: &Envelope) -> Result<(), ApplyError> {
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
            Event::NoteWritten(c) => self.check_next_version(&c.path, c.version)?,
            Event::NoteEdited(c) => {
                self.check_exists(&c.path)?;
                self.check_next_version(&c.path, c.version)?;
            }
            Event::NoteReverted(r) => {
                let source = self
                    .history
                    .version(r.path.as_str(), r.source_version)
                    .and_then(|v| v.content.as_ref());
                if source.is_none_or(|c| c.hash != r.hash || c.size != r.size) {
                    return Err(ApplyError::NoContent {
                        path: r.path.clone(),
                        version: r.source_version,
                    });
                }
                self.check_next_version(&r.path, r.version)?;
            }
            Event::NoteDeleted(d) => {
                self.check_exists(&d.path)?;
                self.check_next_version(&d.path, d.version)?;
            }
            Event::NoteMoved(m) => {
                self.check_exists(&m.from)?;
                if m.from == m.to || self.files.get(m.to.as_str()).is_some() {
                    return Err(ApplyError::NoteExists(m.to.clone()));
                }
                self.check_next_version(&m.from, m.from_version)?;
                self.check_next_version(&m.to, m.to_version)?;
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
        }
        Ok(())
    }

    /// Applies one event whose chain hash is `hash`: [`State::check`], then the change.
    pub fn apply(&mut self, envelope: &Envelope, hash: Hash) -> Result<(), ApplyError> {
        self.check(envelope)?;
        self.commit(envelope, hash);
        Ok(())
    }

    /// The change of [`State::apply`] for an envelope that [`State::check`] accepted. Every
    /// condition was checked there, so nothing here can fail: the store calls `check`, writes
    /// the event to storage, then `commit`s, without checking twice.
    pub(crate) fn commit(&mut self, envelope: &Envelope, hash: Hash) {
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
            Event::NoteWritten(c) => self.put_content(seq, time, c, Change::Written),
            Event::NoteEdited(c) => self.put_content(seq, time, c, Change::Edited),
            Event::NoteReverted(r) => {
                let content = NoteContent {
                    path: r.path.clone(),
                    version: r.version,
                    hash: r.hash,
                    size: r.size,
                    media_type: r.media_type.clone(),
                };
                let change = Change::Reverted {
                    source_version: r.source_version,
                };
                self.put_content(seq, time, &content, change)
            }
            Event::NoteDeleted(d) => {
                self.files.remove(d.path.as_str());
                self.push_version(&d.path, d.version, seq, time, Change::Deleted, None);
                Receipt::note(seq, &d.path, d.version)
            }
            Event::NoteMoved(m) => {
                if let Some(old) = self.files.remove(m.from.as_str()) {
                    let content = Content {
                        hash: old.hash,
                        size: old.size,
                        media_type: old.media_type.clone(),
                    };
                    let moved_to = Change::MovedTo { to: m.to.clone() };
                    self.push_version(&m.from, m.from_version, seq, time, moved_to, None);
                    let moved_from = Change::MovedFrom {
                        from: m.from.clone(),
                    };
                    self.push_version(&m.to, m.to_version, seq, time, moved_from, Some(content));
                    // The note comes into existence at its new path now.
                    let entry = FileEntry {
                        version: m.to_version,
                        seq,
                        created: time,
                        modified: time,
                        ..old
                    };
                    self.files.put(m.to.clone(), entry);
                }
                Receipt::note(seq, &m.to, m.to_version)
            }
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

    fn check_exists(&self, path: &NotePath) -> Result<(), ApplyError> {
        match self.files.get(path.as_str()) {
            Some(_) => Ok(()),
            None => Err(ApplyError::NoSuchNote(path.clone())),
        }
    }

    fn check_next_version(&self, path: &NotePath, version: u64) -> Result<(), ApplyError> {
        let expected = self.history.last_version(path.as_str()) + 1;
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

    fn push_version(
        &mut self,
        path: &NotePath,
        version: u64,
        seq: u64,
        time: Timestamp,
        change: Change,
        content: Option<Content>,
    ) {
        let entry = Version {
            version,
            seq,
            time,
            change,
            content,
        };
        self.history.push(path, entry);
    }

    fn put_content(
        &mut self,
        seq: u64,
        time: Timestamp,
        c: &NoteContent,
        change: Change,
    ) -> Receipt {
        let content = Content {
            hash: c.hash,
            size: c.size,
            media_type: c.media_type.clone(),
        };
        self.push_version(&c.path, c.version, seq, time, change, Some(content));
        self.files.put_with(&c.path, |existing| FileEntry {
            version: c.version,
            hash: c.hash,
            size: c.size,
            media_type: c.media_type.clone(),
            created: existing.map_or(time, |e| e.created),
            modified: time,
            seq,
        });
        Receipt::note(seq, &c.path, c.version)
    }
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
