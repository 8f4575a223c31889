//! `write`: create a note or replace its whole text.

use engine::notes::NotesView;
use engine::store::WriteRequest;
use serde_json::json;

use super::event_ids::EventIds;
use super::{Notes, ToolFailure, ToolResult, media_type};
use crate::mcp::tool_call::WriteArgs;

pub(super) async fn run(notes: &Notes<'_>, args: WriteArgs, ids: &EventIds) -> ToolResult {
    let id = ids.nth(0)?;
    // A retry is answered from the first write's receipt before anything is checked: its
    // `expected_version` was consumed by the write it retries.
    let version = match notes.receipt(id)? {
        Some(receipt) => receipt.version,
        None => {
            let req = WriteRequest {
                id,
                path: &args.path,
                content: args.content.as_bytes(),
                media_type: media_type(&args.path),
                expected_version: args.expected_version,
                edit: false,
            };
            notes.store_content(&req).await?.version
        }
    }
    .ok_or_else(|| ToolFailure::Internal("a write made no version".to_owned()))?;
    let created = notes.with(|store| brought_into_being(&store.notes(), &args.path, version))??;
    Ok(json!({
        "path": args.path,
        "version": version,
        "created": created,
        "size": args.content.len(),
    }))
}

/// Whether `version` of `path` made the note exist: the first version, or one after a
/// deletion or a move away. Read from the history, so a retry answers as the first call did.
fn brought_into_being(
    notes: &NotesView<'_>,
    path: &str,
    version: u64,
) -> Result<bool, engine::StorageError> {
    let before = match version.checked_sub(1) {
        Some(before) => notes.version(path, before)?,
        None => None,
    };
    Ok(before.is_none_or(|before| before.content.is_none()))
}

#[cfg(test)]
mod tests {
    use engine::store::WriteRequest;
    use engine::{Config, EventId, MemoryStorage, Store, Timestamp};

    use super::*;

    #[test]
    fn a_version_after_nothing_or_a_deletion_brings_the_note_into_being() {
        let (mut store, _) = Store::open(MemoryStorage::new(), Config::default()).unwrap();
        let write = |store: &mut Store<MemoryStorage>, n: u8| {
            let req = WriteRequest {
                id: EventId([n; 16]),
                path: "a.md",
                content: b"text",
                media_type: "text/markdown",
                expected_version: None,
                edit: false,
            };
            let plan = store.plan_write(&req).unwrap();
            store.write(&req, &plan, Timestamp(u64::from(n))).unwrap();
        };
        write(&mut store, 1);
        write(&mut store, 2);
        store
            .delete(EventId([3; 16]), "a.md", None, Timestamp(3))
            .unwrap();
        write(&mut store, 4);
        let created: Vec<bool> = (1..=4)
            .map(|v| brought_into_being(&store.notes(), "a.md", v).unwrap())
            .collect();
        // Version 3 is the deletion; 4 writes the note again.
        assert_eq!(created, [true, false, false, true]);
    }
}
