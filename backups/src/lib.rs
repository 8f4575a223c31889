//! Backups of Second Brain's logs and note contents to S3-compatible storage.
//!
//! This crate is the home of the backup layout, the manifest, SigV4-signed requests and restore
//! planning. It builds for `x86_64` and `wasm32-unknown-unknown` (it runs inside the Worker).
//!
//! # What it never does
//!
//! - Open a connection or read a file: requests are built as values and responses parsed from
//!   values; callers send them (the Worker with fetch, the CLI with a blocking client).
//! - Read a clock: every signing call and every plan takes the time (`now_ms`, unix
//!   milliseconds) as an input. `SystemTime::now()` panics on wasm32.
//! - Read randomness: sealing takes its random bytes as an input ([`seal::Entropy`]).
//! - Depend on an async runtime or an HTTP client.
//!
//! # Layout
//!
//! - [`archive`]: the user's archive in R2 (snapshots and segments the Durable Object
//!   writes): its keys, which objects a rebuild needs, which segments continue the log.
//! - [`archive_restore`]: rebuilding a store from the archive, as a step machine the Durable
//!   Object drives (list, fetch, verify, rebuild, adopt).
//! - [`blob_gc`]: collecting note contents in R2 that no event references.
//! - [`audit`]: the cron's pass over users (nudges, drills) and the status `/health` reports.
//! - [`export`]: planning an export as a step machine the Durable Object drives.
//! - [`layout`]: the keys of a user's manifests, segments and packs in the backup bucket.
//! - [`manifest`]: what one backup holds; the chain of manifests.
//! - [`pack`]: note contents stored together.
//! - [`restore`]: the objects a restore needs, checked, and the log replayed with the engine.
//! - [`schedule`]: when a user's next export is due; what the object remembers of its runs.
//! - [`retention`]: which backups are kept, and which objects may then be deleted.
//! - [`seal`]: objects encrypted to an age X25519 recipient, and opened with its identity.
//! - [`sign`]: the ed25519 keys that sign manifests and check them.
//! - [`sim`]: a simulated user whose exports run as the Durable Object runs them (tests).
//! - [`snapshot_cycle`]: the snapshot cycle (snapshot, archive, upload, compact) as a step
//!   machine the Durable Object's alarm drives, with its retry deadline.
//! - [`s3`]: the S3 protocol as values: path-style SigV4-signed request builders, response and
//!   error-XML parsers, the multipart planner, and loops over a blocking sender
//!   ([`s3::BlockingHttp`]) for the CLI.
//!
//! The byte formats are described in `docs/backup-format.md` and frozen by golden files.

pub mod archive;
pub mod archive_restore;
pub mod audit;
pub mod blob_gc;
pub mod export;
pub mod layout;
pub mod manifest;
pub mod pack;
pub mod restore;
pub mod retention;
pub mod s3;
pub mod schedule;
pub mod seal;
pub mod sign;
pub mod sim;
pub mod snapshot_cycle;
