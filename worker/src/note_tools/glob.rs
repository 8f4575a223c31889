//! `glob`: note paths matching a pattern, a page at a time.
//!
//! The cursor is the last path of the previous page (the engine's listing cursor): listings
//! are in path order, so every note is listed exactly once however the pages are cut, and
//! notes written between pages appear if they sort after the cursor. The pattern is checked
//! against the engine's caps ([`engine::glob`]) and matching spends at most one call's work
//! budget; a page that spent it ends early, with a cursor.

use engine::glob::{Glob, WorkBudget};
use serde_json::json;

use super::render::file_entry;
use super::{Notes, ToolFailure, ToolResult};
use crate::mcp::tool_call::GlobArgs;

pub(super) fn run(notes: &Notes<'_>, args: GlobArgs) -> ToolResult {
    let limit = usize::try_from(args.limit).unwrap_or(usize::MAX);
    let glob = Glob::new(&args.pattern).map_err(|err| ToolFailure::Refused(err.to_string()))?;
    notes.with(|store| {
        let page = store.notes().glob(
            &glob,
            args.cursor.as_deref(),
            limit,
            &mut WorkBudget::per_call(),
        )?;
        let files: Vec<_> = page
            .items
            .iter()
            .map(|(path, entry)| file_entry(path.as_str(), entry))
            .collect();
        Ok(json!({ "files": files, "next_cursor": page.next }))
    })?
}
