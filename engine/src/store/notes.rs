//! Note commands: write (and edit), delete, move, revert.
//!
//! A write is two steps because its bytes go to R2 before its event goes into the log:
//! [`Store::plan_write`] checks everything and hashes the content; the caller stores the blob
//! under [`WritePlan::hash`]; [`Store::write`] checks again (the state may have moved while
//! the blob was stored) and appends. A crash between the steps leaves only an unreferenced
//! blob.

use thiserror::Error;

use super::{AppendError, Applied, Store, searchable_text};
use crate::event::{Event, NoteContent, NoteDeleted, NoteMoved, NoteReverted};
use crate::ids::{EventId, Hash, Timestamp};
use crate::path::{NotePath, PathError};
use crate::storage::{Storage, StorageError};

/// A storage failure while checking a command is reported as a failed append (nothing was
/// appended).
macro_rules! storage_is_append_error {
    ($($error:ident),*) => {$(
        impl From<StorageError> for $error {
            fn from(err: StorageError) -> $error {
                $error::Append(AppendError::Storage(err))
            }
        }
    )*};
}
storage_is_append_error!(WriteError, DeleteError, MoveError, RevertError);

/// The longest media type accepted, in bytes.
pub const MAX_MEDIA_TYPE_BYTES: usize = 127;

/// A write or an edit: new content for a note.
#[derive(Debug, Clone, Copy)]
pub struct WriteRequest<'a> {
    /// Idempotency key.
    pub id: EventId,
    /// The note.
    pub path: &'a str,
    /// Its new content.
    pub content: &'a [u8],
    /// Its media type, such as `text/markdown`.
    pub media_type: &'a str,
    /// When given, the note's current version must be this (0: the note must not exist).
    pub expected_version: Option<u64>,
    /// `true` for an edit of an existing note (recorded as `note.edited`).
    pub edit: bool,
}

/// A checked write, ready for its blob to be stored. Made only by [`Store::plan_write`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WritePlan {
    path: NotePath,
    hash: Hash,
    size: u64,
}

impl WritePlan {
    /// The content's blake3: store the blob under this before calling [`Store::write`].
    pub fn hash(&self) -> Hash {
        self.hash
    }

    /// The content's size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The checked path.
    pub fn path(&self) -> &NotePath {
        &self.path
    }
}

/// A note is not at the version the caller expected: someone else changed it since it was
/// read. Nothing was changed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{path} is at version {actual}, not {expected}; read it again and retry")]
pub struct VersionConflict {
    /// The note.
    pub path: NotePath,
    /// The version the caller expected (0: that the note does not exist).
    pub expected: u64,
    /// Its current version (0: it does not exist).
    pub actual: u64,
}

/// Checks `expected` (when given) against the note's `actual` version.
fn check_expected(
    path: &NotePath,
    expected: Option<u64>,
    actual: u64,
) -> Result<(), VersionConflict> {
    match expected {
        Some(expected) if expected != actual => Err(VersionConflict {
            path: path.clone(),
            expected,
            actual,
        }),
        _ => Ok(()),
    }
}

/// Why a write or edit was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum WriteError {
    /// The path breaks a rule.
    #[error(transparent)]
    Path(#[from] PathError),
    /// The media type is empty, too long or not `type/subtype`.
    #[error("media type {0:?} is not of the form type/subtype")]
    MediaType(String),
    /// The content is larger than a note may be.
    #[error("the note would be {size} bytes; the limit is {max} bytes")]
    TooLarge {
        /// Its size.
        size: u64,
        /// The limit.
        max: u64,
    },
    /// The user's notes would exceed the total size quota.
    #[error("this write would bring your notes to {total} bytes; the quota is {max} bytes")]
    QuotaBytes {
        /// The total after the write.
        total: u64,
        /// The quota.
        max: u64,
    },
    /// The user already has the most notes allowed.
    #[error("you have {max} notes, the most allowed; delete some first")]
    QuotaFiles {
        /// The quota.
        max: u64,
    },
    /// `expected_version` did not match.
    #[error(transparent)]
    VersionConflict(#[from] VersionConflict),
    /// An edit of a note that does not exist.
    #[error("{0}: no such note")]
    NotFound(NotePath),
    /// The write plan is for another path than the request.
    #[error("the write plan is for {0}, not this request's path")]
    PlanMismatch(NotePath),
    /// The append failed.
    #[error(transparent)]
    Append(#[from] AppendError),
}

/// Why a delete was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum DeleteError {
    /// The path breaks a rule.
    #[error(transparent)]
    Path(#[from] PathError),
    /// No such note.
    #[error("{0}: no such note")]
    NotFound(NotePath),
    /// `expected_version` did not match.
    #[error(transparent)]
    VersionConflict(#[from] VersionConflict),
    /// The append failed.
    #[error(transparent)]
    Append(#[from] AppendError),
}

/// Why a move was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum MoveError {
    /// A path breaks a rule.
    #[error(transparent)]
    Path(#[from] PathError),
    /// No note at the source.
    #[error("{0}: no such note")]
    NotFound(NotePath),
    /// A note exists at the destination.
    #[error("{0}: a note already exists there; delete or move it first")]
    DestinationExists(NotePath),
    /// Source and destination are the same.
    #[error("{0}: the note is already there")]
    SamePath(NotePath),
    /// `expected_version` did not match.
    #[error(transparent)]
    VersionConflict(#[from] VersionConflict),
    /// The append failed.
    #[error(transparent)]
    Append(#[from] AppendError),
}

/// Why a revert was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum RevertError {
    /// The path breaks a rule.
    #[error(transparent)]
    Path(#[from] PathError),
    /// The path never had that version.
    #[error("{path} has no version {version}")]
    NoSuchVersion {
        /// The note.
        path: NotePath,
        /// The version asked for.
        version: u64,
    },
    /// That version is a deletion.
    #[error("version {version} of {path} is a deletion; pick a version with content")]
    NoContent {
        /// The note.
        path: NotePath,
        /// The version asked for.
        version: u64,
    },
    /// Restoring a deleted note would exceed a quota.
    #[error("restoring the note would exceed your quota")]
    Quota,
    /// `expected_version` did not match.
    #[error(transparent)]
    VersionConflict(#[from] VersionConflict),
    /// The append failed.
    #[error(transparent)]
    Append(#[from] AppendError),
}

impl<S: Storage> Store<S> {
    /// The current version of `path`, or 0 when it does not exist.
    fn current_version(&self, path: &str) -> Result<u64, StorageError> {
        Ok(self.storage.notes().file(path)?.map_or(0, |e| e.version))
    }

    /// The last version `path` ever had (0: none).
    fn last_version(&self, path: &str) -> Result<u64, StorageError> {
        self.storage.notes().last_version(path)
    }

    /// Checks a write and hashes its content. Changes nothing.
    pub fn plan_write(&self, req: &WriteRequest<'_>) -> Result<WritePlan, WriteError> {
        let path = NotePath::new(req.path)?;
        check_media_type(req.media_type)?;
        let size = req.content.len() as u64;
        self.check_write(&path, size, req)?;
        Ok(WritePlan {
            path,
            hash: Hash::of(req.content),
            size,
        })
    }

    fn check_write(
        &self,
        path: &NotePath,
        size: u64,
        req: &WriteRequest<'_>,
    ) -> Result<(), WriteError> {
        let limits = &self.config.limits;
        if size > limits.max_file_bytes {
            return Err(WriteError::TooLarge {
                size,
                max: limits.max_file_bytes,
            });
        }
        let notes = self.storage.notes();
        let existing = notes.file(path.as_str())?;
        let actual = existing.as_ref().map_or(0, |e| e.version);
        check_expected(path, req.expected_version, actual)?;
        if req.edit && existing.is_none() {
            return Err(WriteError::NotFound(path.clone()));
        }
        let stats = notes.stats()?;
        if existing.is_none() && stats.count >= limits.max_files {
            return Err(WriteError::QuotaFiles {
                max: limits.max_files,
            });
        }
        let total = stats.total_bytes - existing.map_or(0, |e| e.size) + size;
        if total > limits.max_total_bytes {
            return Err(WriteError::QuotaBytes {
                total,
                max: limits.max_total_bytes,
            });
        }
        Ok(())
    }

    /// Appends a write planned by [`Store::plan_write`], whose blob the caller has stored.
    /// Checks run again against the current state. A repeated `req.id` returns the first
    /// result.
    pub fn write(
        &mut self,
        req: &WriteRequest<'_>,
        plan: &WritePlan,
        now: Timestamp,
    ) -> Result<Applied, WriteError> {
        if let Some(receipt) = self.state.receipts.get(&req.id) {
            return Ok(Applied::from_receipt(receipt, true));
        }
        if plan.path.as_str() != req.path {
            return Err(WriteError::PlanMismatch(plan.path.clone()));
        }
        self.check_write(&plan.path, plan.size, req)?;
        let content = NoteContent {
            path: plan.path.clone(),
            version: self.last_version(req.path)? + 1,
            hash: plan.hash,
            size: plan.size,
            media_type: req.media_type.to_owned(),
        };
        let event = if req.edit {
            Event::NoteEdited(content)
        } else {
            Event::NoteWritten(content)
        };
        let text = searchable_text(req.content);
        Ok(self.append(req.id, now, None, event, Some(&text))?)
    }

    /// Deletes `path`. Its history stays readable.
    pub fn delete(
        &mut self,
        id: EventId,
        path: &str,
        expected_version: Option<u64>,
        now: Timestamp,
    ) -> Result<Applied, DeleteError> {
        if let Some(receipt) = self.state.receipts.get(&id) {
            return Ok(Applied::from_receipt(receipt, true));
        }
        let path = NotePath::existing(path)?;
        let actual = self.current_version(path.as_str())?;
        if actual == 0 {
            return Err(DeleteError::NotFound(path));
        }
        check_expected(&path, expected_version, actual)?;
        let version = self.last_version(path.as_str())? + 1;
        let event = Event::NoteDeleted(NoteDeleted { path, version });
        Ok(self.append(id, now, None, event, None)?)
    }

    /// Moves the note at `from` to `to`, which must be free.
    pub fn move_note(
        &mut self,
        id: EventId,
        from: &str,
        to: &str,
        expected_version: Option<u64>,
        now: Timestamp,
    ) -> Result<Applied, MoveError> {
        if let Some(receipt) = self.state.receipts.get(&id) {
            return Ok(Applied::from_receipt(receipt, true));
        }
        let from = NotePath::existing(from)?;
        let to = NotePath::new(to)?;
        let actual = self.current_version(from.as_str())?;
        if actual == 0 {
            return Err(MoveError::NotFound(from));
        }
        check_expected(&from, expected_version, actual)?;
        if from == to {
            return Err(MoveError::SamePath(to));
        }
        if self.current_version(to.as_str())? != 0 {
            return Err(MoveError::DestinationExists(to));
        }
        let event = Event::NoteMoved(NoteMoved {
            from_version: self.last_version(from.as_str())? + 1,
            to_version: self.last_version(to.as_str())? + 1,
            from,
            to,
        });
        Ok(self.append(id, now, None, event, None)?)
    }

    /// Sets the content of `path` back to that of `version`, as a new version. Works on a
    /// deleted note too (it comes back).
    pub fn revert(
        &mut self,
        id: EventId,
        path: &str,
        version: u64,
        expected_version: Option<u64>,
        now: Timestamp,
    ) -> Result<Applied, RevertError> {
        if let Some(receipt) = self.state.receipts.get(&id) {
            return Ok(Applied::from_receipt(receipt, true));
        }
        let path = NotePath::existing(path)?;
        let notes = self.storage.notes();
        let Some(source) = notes.version(path.as_str(), version)? else {
            return Err(RevertError::NoSuchVersion { path, version });
        };
        let Some(content) = source.content else {
            return Err(RevertError::NoContent { path, version });
        };
        let existing = notes.file(path.as_str())?;
        let actual = existing.as_ref().map_or(0, |e| e.version);
        check_expected(&path, expected_version, actual)?;
        let limits = &self.config.limits;
        let stats = notes.stats()?;
        let total = stats.total_bytes - existing.as_ref().map_or(0, |e| e.size) + content.size;
        let files_after = stats.count + u64::from(existing.is_none());
        drop(notes);
        if total > limits.max_total_bytes || files_after > limits.max_files {
            return Err(RevertError::Quota);
        }
        let event = Event::NoteReverted(NoteReverted {
            version: self.last_version(path.as_str())? + 1,
            path,
            source_version: version,
            hash: content.hash,
            size: content.size,
            media_type: content.media_type,
        });
        // The reverted text is not at hand: the note is queued for indexing.
        Ok(self.append(id, now, None, event, None)?)
    }
}

fn check_media_type(media_type: &str) -> Result<(), WriteError> {
    let ok = media_type.len() <= MAX_MEDIA_TYPE_BYTES
        && media_type.split_once('/').is_some_and(|(t, s)| {
            let token = |x: &str| {
                !x.is_empty()
                    && x.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+;= ".contains(&b))
            };
            token(t) && token(s)
        });
    if ok {
        Ok(())
    } else {
        Err(WriteError::MediaType(media_type.to_owned()))
    }
}
