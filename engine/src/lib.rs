//! Second Brain's sans-IO core.
//!
//! The engine owns the per-user, append-only, hash-chained event log and the state derived from
//! it. It never performs I/O, never reads a clock and never draws random numbers: callers pass
//! `now` and identifiers in, and get results and effects out. It builds for `x86_64` and
//! `wasm32-unknown-unknown`.

/// The version of the engine crate, reported by `/health`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

pub mod search;
