//! Helpers the store's unit tests share.

use super::{Store, WriteRequest};
use crate::ids::{EventId, Timestamp};
use crate::storage::Storage;

/// Writes `text` at `path` as a new version (event id derived from `id`), at `time`.
pub(crate) fn write_note<S: Storage>(
    store: &mut Store<S>,
    id: &str,
    path: &str,
    text: &str,
    time: u64,
) {
    let req = WriteRequest {
        id: EventId::derive(id.as_bytes()),
        path,
        content: text.as_bytes(),
        media_type: "text/markdown",
        expected_version: None,
        edit: false,
    };
    let plan = store.plan_write(&req).unwrap();
    store.write(&req, &plan, Timestamp(time)).unwrap();
}
