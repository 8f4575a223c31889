//! `write`: create a note or replace its whole text.

use engine::store::WriteRequest;
use serde_json::json;

use super::{Notes, ToolFailure, ToolResult, event_id, media_type};
use crate::mcp::tool_call::WriteArgs;

pub(super) async fn run(notes: &Notes<'_>, args: WriteArgs) -> ToolResult {
    let existed = notes.with(|store| store.files().get(&args.path).is_some())?;
    let req = WriteRequest {
        id: event_id()?,
        path: &args.path,
        content: args.content.as_bytes(),
        media_type: media_type(&args.path),
        expected_version: args.expected_version,
        edit: false,
    };
    let applied = notes.store_content(&req).await?;
    let version = applied
        .version
        .ok_or_else(|| ToolFailure::Internal("a write made no version".to_owned()))?;
    Ok(json!({
        "path": args.path,
        "version": version,
        "created": !existed,
        "size": args.content.len(),
    }))
}
