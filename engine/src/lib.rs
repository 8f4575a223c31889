//! Second Brain's sans-IO core: one user's append-only, hash-chained event log and the state
//! derived from it (file index, note history, sessions, full-text search).
//!
//! # What it never does
//! It performs no I/O, reads no clock, draws no random numbers, spawns nothing and never
//! blocks: callers pass `now` and ids in, and get results and effects out. Storage is a small
//! trait ([`Storage`]) the caller implements. It builds for `x86_64` and
//! `wasm32-unknown-unknown`, and it never panics on input: bad paths, oversized notes, corrupt
//! or truncated bytes are typed errors.
//!
//! # Example
//! ```
//! use engine::store::WriteRequest;
//! use engine::{Config, EventId, MemoryStorage, Store, Timestamp};
//!
//! let (mut store, _) = Store::open(MemoryStorage::new(), Config::default())?;
//! let req = WriteRequest {
//!     id: EventId::derive(b"session-1/request-7"),
//!     path: "garden/tomatoes.md",
//!     content: b"Water every morning.",
//!     media_type: "text/markdown",
//!     expected_version: None,
//!     edit: false,
//! };
//! let plan = store.plan_write(&req)?; // checks path, size, quota, version; hashes the bytes
//! // ... the caller stores the blob under plan.hash() here (R2 in the Worker) ...
//! let written = store.write(&req, &plan, Timestamp(1_767_225_600_000))?;
//! assert_eq!(written.version, Some(1));
//! assert_eq!(store.search("morning", 10, None)?.hits[0].path, "garden/tomatoes.md");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Layout
//! - [`store`]: [`Store`], the commands, deadlines, snapshots, archiving, compaction, rebuild.
//! - [`state`]: the derived [`state::State`] and the one function that advances it;
//!   [`state::Replica`], a state with its notes in memory.
//! - [`notes`]: the notes projection (file index and history) the storage keeps: changes,
//!   reads from memory or SQL.
//! - [`envelope`], [`event`]: the stored bytes of an event and the events themselves.
//! - [`files`], [`history`], [`sessions`], [`search`], [`receipts`]: the projections.
//! - [`snapshot`], [`segment`]: whole-state snapshots; archived runs of events, verification.
//! - [`path`], [`ids`]: note paths and limits; hashes, ids and times.
//! - [`glob`], [`grep`]: glob and grep patterns with bounded work per call (caps, a linear
//!   glob matcher, a byte budget per grep call), and [`grep::narrow`]: the notes a grep
//!   pattern can match, from the terms of an index; [`hostile`]: patterns that test those
//!   bounds.
//! - [`storage`]: the [`Storage`] trait and [`MemoryStorage`]; [`file_storage`] on a [`disk`],
//!   with [`sim_disk`] for crash tests; [`sim`]: the seeded generator tests and benches share;
//!   [`scale_notes`]: the generated notes of the scale measurements.
//! - [`sql`]: statements and rows as values, for the projections kept in SQL (the notes and
//!   the search index in a Durable Object's tables), and natively (tests) a whole storage on
//!   SQLite laid out as the object's.
//!
//! The byte formats are described in `docs/log-format.md` and frozen by golden files.

mod cbor;
pub mod disk;
pub mod envelope;
pub mod event;
pub mod file_storage;
pub mod files;
pub mod glob;
pub mod grep;
pub mod history;
pub mod hostile;
pub mod ids;
pub mod notes;
pub mod path;
pub mod receipts;
pub mod scale_notes;
pub mod search;
pub mod segment;
pub mod sessions;
pub mod sim;
pub mod sim_disk;
pub mod snapshot;
pub mod sql;
pub mod state;
pub mod storage;
pub mod store;

pub use ids::{EventId, Hash, SessionId, Timestamp};
pub use path::{Limits, NotePath};
pub use storage::{MemoryStorage, Storage, StorageError};
pub use store::{Applied, Config, Store};

/// The version of the engine crate, reported by `/health`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
