//! Second Brain's sans-IO core.
//!
//! The engine owns the per-user, append-only, hash-chained event log and the state derived from
//! it. It never performs I/O, never reads a clock and never draws random numbers: callers pass
//! `now` and identifiers in, and get results and effects out. It builds for `x86_64` and
//! `wasm32-unknown-unknown`.

mod cbor;
pub mod disk;
pub mod envelope;
pub mod event;
pub mod file_storage;
pub mod files;
pub mod history;
pub mod ids;
pub mod path;
pub mod receipts;
pub mod search;
pub mod segment;
pub mod sessions;
pub mod sim_disk;
pub mod snapshot;
pub mod state;
pub mod storage;
pub mod store;

pub use ids::{EventId, Hash, SessionId, Timestamp};
pub use path::{Limits, NotePath};
pub use storage::{MemoryStorage, Storage, StorageError};
pub use store::{Applied, Config, Store};

/// The version of the engine crate, reported by `/health`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
