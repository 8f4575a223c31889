//! `recent`: the most recently changed notes, newest first.

use serde_json::json;

use super::render::file_entry;
use super::{Notes, ToolResult};
use crate::mcp::tool_call::RecentArgs;

pub(super) fn run(notes: &Notes<'_>, args: RecentArgs) -> ToolResult {
    let limit = usize::try_from(args.limit).unwrap_or(usize::MAX);
    let files = notes.with(|store| {
        store
            .files()
            .recent(None, limit)
            .into_iter()
            .map(|(path, entry)| file_entry(path.as_str(), entry))
            .collect::<Vec<_>>()
    })?;
    Ok(json!({ "files": files }))
}
