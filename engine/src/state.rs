//! The state derived from the log, and the one function that advances it: [`State::apply`].
//!
//! Live appends and replay go through the same `apply`, so a replayed log always yields the
//! state the live engine had. `apply` checks everything before it changes anything: an event
//! that does not fit (a version that is not the next one, a session that is not open) is an
//! [`ApplyError`] and leaves the state untouched.

use std::borrow::Cow;
use std::collections::BTreeSet;

use thiserror::Error;

use crate::envelope::{ChainHead, Envelope};
use crate::event::{Event, NoteContent};
use crate::files::{FileEntry, FileIndex};
use crate::history::{Change, Content, History, Version};
use crate::ids::{Hash, SessionId, Timestamp};
use crate::path::NotePath;
use crate::receipts::{Receipt, Receipts};
use crate::search::SearchIndex;
use crate::search::lazy::{Built, LazyIndex, MAX_PENDING_BYTES};
use crate::sessions::{Session, SessionTable};

/// Everything derived from the log.
///
/// `PartialEq` compares the logical state: a search index still held as snapshot bytes
/// compares as if loaded (which costs a decode; tests and tools only).
#[derive(Debug, Clone)]
pub struct State {
    pub(crate) head: ChainHead,
    pub(crate) files: FileIndex,
    pub(crate) history: History,
    pub(crate) sessions: SessionTable,
    /// Possibly still the snapshot's bytes: see [`State::load_search`].
    pub(crate) search: LazyIndex,
    /// Current notes whose text is not in the search index yet (their events were replayed
    /// without the bytes). The caller fetches them and hands the text in. While the index
    /// is not loaded, notes the index will turn out not to read (a newer format) are missing.
    pub(crate) unindexed: BTreeSet<NotePath>,
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
            search: LazyIndex::default(),
            unindexed: BTreeSet::new(),
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

    /// The search index, once loaded: `None` while it is still the bytes of the snapshot the
    /// state was decoded from (see [`State::load_search`]).
    pub fn search(&self) -> Option<&SearchIndex> {
        self.search.ready()
    }

    /// Decodes the search index kept as snapshot bytes and applies the changes made since.
    /// Returns whether there was anything to do. Bytes this build cannot read (a newer index
    /// format) give an empty index with every current note queued in [`State::unindexed`],
    /// except those whose text was handed in since.
    pub fn load_search(&mut self) -> bool {
        match self.search.load() {
            None => false,
            Some(fell_back) => {
                if fell_back && let Some(index) = self.search.ready() {
                    self.unindexed = unindexed_besides(&self.files, index);
                }
                true
            }
        }
    }

    /// The loaded search index (loading it first).
    pub(crate) fn search_mut(&mut self) -> &mut SearchIndex {
        // Loading here first sets the queue right should the bytes not decode.
        self.load_search();
        self.search.loaded_mut()
    }

    /// The search index and the queue of unindexed notes as loading would leave them, without
    /// changing `self` (borrowed when the index is loaded already).
    pub(crate) fn search_view(&self) -> (Cow<'_, SearchIndex>, Cow<'_, BTreeSet<NotePath>>) {
        match self.search.ready_or_build() {
            Ok(index) => (Cow::Borrowed(index), Cow::Borrowed(&self.unindexed)),
            Err(built) => {
                let Built { index, fell_back } = *built;
                let unindexed = if fell_back {
                    Cow::Owned(unindexed_besides(&self.files, &index))
                } else {
                    Cow::Borrowed(&self.unindexed)
                };
                (Cow::Owned(index), unindexed)
            }
        }
    }

    /// Indexes `text` as the content of the current note `path`, taking it off the queue.
    pub(crate) fn index_text(&mut self, path: &str, text: &str) {
        self.search.upsert(path, text);
        self.unindexed.remove(path);
        self.bound_pending();
    }

    /// Loads the index once pending changes hold too much text to keep waiting.
    fn bound_pending(&mut self) {
        if self.search.pending_bytes() > MAX_PENDING_BYTES {
            self.load_search();
        }
    }

    /// Current notes waiting for their text to be indexed.
    pub fn unindexed(&self) -> &BTreeSet<NotePath> {
        &self.unindexed
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
    /// `text` is the note's text for a content event when the caller has it; without it the
    /// note is queued for indexing (see [`State::unindexed`]).
    pub fn apply(
        &mut self,
        envelope: &Envelope,
        hash: Hash,
        text: Option<&str>,
    ) -> Result<(), ApplyError> {
        self.check(envelope)?;
        self.commit(envelope, hash, text);
        Ok(())
    }

    /// The change of [`State::apply`] for an envelope that [`State::check`] accepted. Every
    /// condition was checked there, so nothing here can fail: the store calls `check`, writes
    /// the event to storage, then `commit`s, without checking twice.
    pub(crate) fn commit(&mut self, envelope: &Envelope, hash: Hash, text: Option<&str>) {
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
            Event::NoteWritten(c) => self.put_content(seq, time, c, Change::Written, text),
            Event::NoteEdited(c) => self.put_content(seq, time, c, Change::Edited, text),
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
                self.put_content(seq, time, &content, change, text)
            }
            Event::NoteDeleted(d) => {
                self.files.remove(d.path.as_str());
                self.push_version(&d.path, d.version, seq, time, Change::Deleted, None);
                self.search.remove(d.path.as_str());
                self.unindexed.remove(d.path.as_str());
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
                    self.search.rename(m.from.as_str(), m.to.as_str());
                    if self.unindexed.remove(m.from.as_str()) {
                        self.unindexed.insert(m.to.clone());
                    }
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
        self.bound_pending();
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
        text: Option<&str>,
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
        match text {
            Some(text) => {
                self.search.upsert(c.path.as_str(), text);
                self.unindexed.remove(c.path.as_str());
            }
            None => {
                // Never leave the old text searchable under the new version.
                self.search.remove(c.path.as_str());
                if !self.unindexed.contains(c.path.as_str()) {
                    self.unindexed.insert(c.path.clone());
                }
            }
        }
        Receipt::note(seq, &c.path, c.version)
    }
}

impl PartialEq for State {
    fn eq(&self, other: &Self) -> bool {
        let (index, unindexed) = self.search_view();
        let (other_index, other_unindexed) = other.search_view();
        self.head == other.head
            && self.files == other.files
            && self.history == other.history
            && self.sessions == other.sessions
            && index == other_index
            && unindexed == other_unindexed
            && self.receipts == other.receipts
            && self.archived == other.archived
            && self.last_time == other.last_time
    }
}

/// The current notes `index` lacks: the queue after an index that did not load was rebuilt
/// from the texts handed in since.
fn unindexed_besides(files: &FileIndex, index: &SearchIndex) -> BTreeSet<NotePath> {
    files
        .iter()
        .filter(|(path, _)| !index.contains(path.as_str()))
        .map(|(path, _)| path.clone())
        .collect()
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
