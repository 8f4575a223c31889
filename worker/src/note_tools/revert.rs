//! `revert`: make an earlier version's text current again, as a new version.

use serde_json::json;

use super::event_ids::EventIds;
use super::{Notes, ToolFailure, ToolResult, revert_error};
use crate::mcp::tool_call::RevertArgs;

pub(super) fn run(notes: &Notes<'_>, args: RevertArgs, ids: &EventIds) -> ToolResult {
    // The engine answers a retried id with its first receipt before any check.
    let id = ids.nth(0)?;
    let applied = notes
        .with(|store| store.revert(id, &args.path, args.version, None, notes.now))?
        .map_err(revert_error)?;
    let version = applied
        .version
        .ok_or_else(|| ToolFailure::Internal("a revert made no version".to_owned()))?;
    Ok(json!({
        "path": args.path,
        "version": version,
        "reverted_to": args.version,
    }))
}
