//! The engine's storage on Durable Object SQLite keeps its promises in workerd: all-or-nothing
//! appends (through `transactionSync`), the 2 MB row limit, chunked snapshots, and search index
//! changes that commit or roll back with the events they come from.

use crate::local_worker::{client, shared};
use serde_json::{Value, json};

#[test]
fn the_sqlite_storage_keeps_the_engines_promises() {
    // Twice on the same object: the second run starts after the events the first kept.
    for _ in 0..2 {
        let response = client()
            .post(shared().url("/__dev/storage/selftest"))
            .send()
            .expect("POST /__dev/storage");
        assert_eq!(response.status().as_u16(), 200);
        let report: Value = response.json().unwrap();
        assert_eq!(
            report,
            json!({
                "appended": true,
                "rolled_back": true,
                "oversize_refused": true,
                "gap_refused": true,
                "snapshot_chunks": 3,
                "snapshot_round_trip": true,
                "dropped": true,
                "indexed": true,
                "index_rolled_back": true,
            })
        );
    }
}
