//! Backups of Second Brain's logs and note contents to S3-compatible storage.
//!
//! This crate is the home of the backup layout, the manifest, SigV4-signed requests and restore
//! planning. It performs no I/O of its own and reads no clock: callers pass the time in, and
//! requests go through a small HTTP trait that the Worker (fetch) and the operator CLI (a
//! blocking client) implement. It builds for `x86_64` and `wasm32-unknown-unknown`.
//!
//! # Layout
//! - [`archive`]: the user's archive in R2 (snapshots and segments the Durable Object
//!   writes): its keys, which objects a rebuild needs, which segments continue the log.
//! - [`export`]: planning an export as a step machine the Durable Object drives.
//! - [`layout`]: the keys of a user's manifests, segments and packs.
//! - [`manifest`]: what one backup holds; the chain of manifests.
//! - [`pack`]: note contents stored together.
//! - [`restore`]: the objects a restore needs, checked, and the log replayed with the engine.
//!
//! The byte formats are described in `docs/backup-format.md` and frozen by golden files.

pub mod archive;
pub mod export;
pub mod layout;
pub mod manifest;
pub mod pack;
pub mod restore;
