//! Backups of Second Brain's logs, blobs and snapshots to S3-compatible storage.
//!
//! This crate is the home of the backup layout, the manifest, SigV4-signed requests and restore
//! planning. It performs no I/O of its own: requests go through a small HTTP trait that the
//! Worker (fetch) and the operator CLI (a blocking client) implement.
