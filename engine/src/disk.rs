//! The byte device a [`FileStorage`](crate::file_storage::FileStorage) keeps its files on.
//!
//! [`Disk`] is the smallest set of file operations an append-only log with an atomically
//! replaced snapshot needs: a flat namespace of named files that can be measured, read at an
//! offset, appended to, cut short, synced and atomically renamed. The engine only describes
//! these operations; the `tools` crate performs them on real files and
//! [`SimDisk`](crate::sim_disk::SimDisk) simulates them, power cuts included.
//!
//! # Durability contract
//! Every implementation promises the following, and [`FileStorage`] relies on nothing else:
//! - [`Disk::append`] and [`Disk::truncate`] change what reads return at once, but are
//!   *durable* only after a later [`Disk::sync`] of the same file returns `Ok`. A power cut
//!   before that keeps, per file, an unknown prefix of the unsynced changes in the order they
//!   were made, and the last change kept may be torn part-way (a write keeps only its first
//!   bytes). Changes to different files are independent.
//! - [`Disk::sync`] makes the file's bytes *and its existence* (a newly created file's name)
//!   durable.
//! - [`Disk::rename`] replaces the target atomically: after a power cut the target name holds
//!   either the old file or the renamed one, never a mix; it is durable when it returns `Ok`
//!   (a file implementation syncs the directory). The renamed file's bytes are only as durable
//!   as they were before, so callers sync the source first.
//! - A call that returns `Err` may have had any part of its effect, or none of it. Reads
//!   after a failed change see whatever the device now holds.
//!
//! File names are plain names (no separators), chosen by the caller.
//!
//! [`FileStorage`]: crate::file_storage::FileStorage

use thiserror::Error;

/// A byte device holding named files. See the module docs for the durability contract.
///
/// Reads take `&self` so that a storage can serve reads through a shared reference; changes
/// take `&mut self`.
pub trait Disk {
    /// The length of `name` in bytes, or `None` if no such file exists.
    fn len(&self, name: &str) -> Result<Option<u64>, DiskError>;
    /// Fills `buf` with the bytes of `name` starting at `offset`. Fails if the file does not
    /// exist or holds fewer than `offset + buf.len()` bytes.
    fn read_at(&self, name: &str, offset: u64, buf: &mut [u8]) -> Result<(), DiskError>;
    /// Appends `bytes` at the end of `name`, creating the file (empty) first if it does not
    /// exist.
    fn append(&mut self, name: &str, bytes: &[u8]) -> Result<(), DiskError>;
    /// Cuts `name` to its first `len` bytes. Fails if the file does not exist or is shorter.
    fn truncate(&mut self, name: &str, len: u64) -> Result<(), DiskError>;
    /// Makes every earlier change to `name`, and the file's existence, durable.
    fn sync(&mut self, name: &str) -> Result<(), DiskError>;
    /// Atomically and durably replaces `to` (if it exists) with `from`; `from` then no longer
    /// exists.
    fn rename(&mut self, from: &str, to: &str) -> Result<(), DiskError>;
}

/// A [`Disk`] operation failed. The message is the device's own (an OS error, an injected
/// failure).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("disk: {message}")]
pub struct DiskError {
    /// What the device reported, with the operation and file it concerned.
    pub message: String,
}

impl DiskError {
    /// An error with this message.
    pub fn new(message: impl Into<String>) -> DiskError {
        DiskError {
            message: message.into(),
        }
    }
}

/// A borrowed disk is a disk: lend one to a [`FileStorage`] and keep it when the storage is
/// dropped (tests crash it afterwards).
///
/// [`FileStorage`]: crate::file_storage::FileStorage
impl<D: Disk + ?Sized> Disk for &mut D {
    fn len(&self, name: &str) -> Result<Option<u64>, DiskError> {
        (**self).len(name)
    }

    fn read_at(&self, name: &str, offset: u64, buf: &mut [u8]) -> Result<(), DiskError> {
        (**self).read_at(name, offset, buf)
    }

    fn append(&mut self, name: &str, bytes: &[u8]) -> Result<(), DiskError> {
        (**self).append(name, bytes)
    }

    fn truncate(&mut self, name: &str, len: u64) -> Result<(), DiskError> {
        (**self).truncate(name, len)
    }

    fn sync(&mut self, name: &str) -> Result<(), DiskError> {
        (**self).sync(name)
    }

    fn rename(&mut self, from: &str, to: &str) -> Result<(), DiskError> {
        (**self).rename(from, to)
    }
}
