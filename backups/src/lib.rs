//! Backups of Second Brain's logs, blobs and snapshots to S3-compatible storage.
//!
//! This crate is the home of the backup layout, the manifest, SigV4-signed requests and restore
//! planning. It performs no I/O of its own: requests go through a small HTTP trait that the
//! Worker (fetch) and the operator CLI (a blocking client) implement.
//!
//! # What it never does
//!
//! - Open a connection or read a file: requests are built as values and responses parsed from
//!   values; callers send them.
//! - Read a clock: every signing call takes the time (`now_ms`, unix milliseconds) as an input.
//!   `SystemTime::now()` panics on wasm32, where this crate also runs (inside the Worker).
//! - Depend on an async runtime or an HTTP client.
//!
//! # Layout
//!
//! - [`s3`]: the S3 protocol as values: path-style SigV4-signed request builders, response and
//!   error-XML parsers, the multipart planner, and loops over a blocking sender
//!   ([`s3::BlockingHttp`]) for the CLI.

pub mod s3;
