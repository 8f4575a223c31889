//! The object's own part of a cold start, reported in local development: the reply to the
//! request that opened the user's store carries `x-dev-store-open-ms`; later replies do not.

use serde_json::json;

use crate::local_worker::{LOCAL_DEV_VARS, LocalWorker, Options};
use crate::mcp::post_as;

const HEADER: &str = "x-dev-store-open-ms";

/// `initialize` as `user`; the store-open header of its reply, if any.
fn initialize(worker: &LocalWorker, user: &str) -> Option<u64> {
    let body = json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                   "clientInfo": {"name": "cold-start", "version": "1"}},
    });
    let (status, response) = post_as(worker, user, &body.to_string(), &[]);
    assert_eq!(status, 200);
    response
        .headers()
        .get(HEADER)
        .map(|v| v.to_str().unwrap().parse().expect("whole milliseconds"))
}

#[test]
fn the_request_that_opens_the_store_says_how_long_that_took() {
    // Without backups: a due export's alarm would open the store before the request does.
    let worker = LocalWorker::start(Options {
        vars: LOCAL_DEV_VARS.to_vec(),
        ..Options::default()
    });
    assert!(
        initialize(&worker, "cold").is_some(),
        "the first request opens the store"
    );
    assert_eq!(
        initialize(&worker, "cold"),
        None,
        "the store is open already"
    );
    assert!(
        initialize(&worker, "cold-other").is_some(),
        "another user's object"
    );
    let worker = worker.restart();
    assert!(
        initialize(&worker, "cold").is_some(),
        "opened again after a restart"
    );
}
