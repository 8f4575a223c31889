//! The events of the log: everything that ever happened to a user's notes and sessions.
//!
//! An event is a fact, never a request: it records what was decided (the new version number,
//! the content hash) so that replaying it needs no judgement and no note bytes. Each kind has
//! a stable name (`note.written`, ...) that is part of the frozen byte format
//! (`docs/log-format.md`); payload fields may be added only as optional fields.

use serde::{Deserialize, Serialize};

use crate::ids::{Hash, SessionId};
use crate::path::NotePath;

/// One thing that happened. The serialized name of each variant is its *kind*.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Event {
    /// An MCP session was initialized.
    #[serde(rename = "session.opened")]
    SessionOpened(SessionOpened),
    /// A session was used; its idle timer restarts from this event's time.
    #[serde(rename = "session.touched")]
    SessionTouched(SessionRef),
    /// The client ended a session (HTTP DELETE).
    #[serde(rename = "session.closed")]
    SessionClosed(SessionRef),
    /// A session was idle past its timeout.
    #[serde(rename = "session.expired")]
    SessionExpired(SessionRef),
    /// A note got new content from a write.
    #[serde(rename = "note.written")]
    NoteWritten(NoteContent),
    /// A note got new content from an edit (a replacement within its old content).
    #[serde(rename = "note.edited")]
    NoteEdited(NoteContent),
    /// A note moved to another path; `from` gets a deletion version, `to` a new version.
    #[serde(rename = "note.moved")]
    NoteMoved(NoteMoved),
    /// A note was deleted; its history stays readable.
    #[serde(rename = "note.deleted")]
    NoteDeleted(NoteDeleted),
    /// A note's content was set back to that of an earlier version.
    #[serde(rename = "note.reverted")]
    NoteReverted(NoteReverted),
    /// The events `first_seq..=last_seq` were archived as a segment (to R2).
    #[serde(rename = "segment.archived")]
    SegmentArchived(SegmentArchived),
}

impl Event {
    /// The kind's stable name, as in the byte format.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::SessionOpened(_) => "session.opened",
            Event::SessionTouched(_) => "session.touched",
            Event::SessionClosed(_) => "session.closed",
            Event::SessionExpired(_) => "session.expired",
            Event::NoteWritten(_) => "note.written",
            Event::NoteEdited(_) => "note.edited",
            Event::NoteMoved(_) => "note.moved",
            Event::NoteDeleted(_) => "note.deleted",
            Event::NoteReverted(_) => "note.reverted",
            Event::SegmentArchived(_) => "segment.archived",
        }
    }
}

/// Payload of `session.opened`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionOpened {
    /// The id given to the client in `MCP-Session-Id`.
    pub session: SessionId,
    /// The user the session belongs to (the GitHub user id, as text).
    pub user: String,
    /// The negotiated MCP protocol version, such as `2025-06-18`.
    pub protocol_version: String,
    /// `clientInfo.name` from `initialize`.
    pub client_name: String,
    /// `clientInfo.version` from `initialize`.
    pub client_version: String,
    /// How long the session may stay idle before it expires, in milliseconds.
    pub idle_timeout_ms: u64,
}

/// Payload of the session events that only name a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRef {
    /// The session.
    pub session: SessionId,
}

/// Payload of `note.written` and `note.edited`: the note's new content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoteContent {
    /// The note.
    pub path: NotePath,
    /// The version this event creates (the path's previous version + 1).
    pub version: u64,
    /// blake3 of the content: its key in R2 is `blobs/<hex>`.
    pub hash: Hash,
    /// Content length in bytes.
    pub size: u64,
    /// The content's media type, such as `text/markdown`.
    pub media_type: String,
}

/// Payload of `note.moved`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoteMoved {
    /// Where the note was.
    pub from: NotePath,
    /// The version this event creates at `from` (a deletion).
    pub from_version: u64,
    /// Where the note is now.
    pub to: NotePath,
    /// The version this event creates at `to`, with the moved content.
    pub to_version: u64,
}

/// Payload of `note.deleted`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoteDeleted {
    /// The note.
    pub path: NotePath,
    /// The version this event creates (a deletion).
    pub version: u64,
}

/// Payload of `note.reverted`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoteReverted {
    /// The note.
    pub path: NotePath,
    /// The version this event creates.
    pub version: u64,
    /// The earlier version whose content the note now has.
    pub source_version: u64,
    /// blake3 of the restored content.
    pub hash: Hash,
    /// Its length in bytes.
    pub size: u64,
    /// Its media type.
    pub media_type: String,
}

/// Payload of `segment.archived`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentArchived {
    /// The first event in the segment.
    pub first_seq: u64,
    /// The last event in the segment.
    pub last_seq: u64,
    /// The chain hash at `last_seq`: where the next segment's chain starts.
    pub last_hash: Hash,
    /// blake3 of the encoded segment.
    pub digest: Hash,
}
