//! `glob`: note paths matching a pattern, a page at a time.
//!
//! The cursor is the last path of the previous page (the engine's listing cursor): listings
//! are in path order, so every note is listed exactly once however the pages are cut, and
//! notes written between pages appear if they sort after the cursor.

use serde_json::json;

use super::render::file_entry;
use super::{Notes, ToolFailure, ToolResult};
use crate::mcp::tool_call::GlobArgs;

pub(super) fn run(notes: &Notes<'_>, args: GlobArgs) -> ToolResult {
    let limit = usize::try_from(args.limit).unwrap_or(usize::MAX);
    notes.with(|store| {
        let page = store
            .files()
            .glob(&args.pattern, args.cursor.as_deref(), limit)
            .map_err(|err| ToolFailure::Refused(err.to_string()))?;
        let files: Vec<_> = page
            .items
            .iter()
            .map(|(path, entry)| file_entry(path.as_str(), entry))
            .collect();
        Ok(json!({ "files": files, "next_cursor": page.next }))
    })?
}
