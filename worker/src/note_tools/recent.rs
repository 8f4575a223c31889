//! `recent`: the most recently changed notes, newest first, a page at a time.
//!
//! The cursor is the log position of the last change on the previous page; the next page
//! lists notes whose last change came before it. A note changed between pages moves to the
//! front of the list (its last change is newer), so it is not listed twice on later pages.

use serde_json::json;

use super::render::file_entry;
use super::{Notes, ToolFailure, ToolResult};
use crate::mcp::tool_call::RecentArgs;

pub(super) fn run(notes: &Notes<'_>, args: RecentArgs) -> ToolResult {
    let before = args.cursor.as_deref().map(parse_cursor).transpose()?;
    let limit = usize::try_from(args.limit).unwrap_or(usize::MAX);
    notes.with(|store| {
        // One more than asked shows whether another page follows.
        let mut page = store.notes().recent(before, limit.saturating_add(1))?;
        let more = page.len() > limit;
        page.truncate(limit);
        let next = page
            .last()
            .filter(|_| more)
            .map(|(_, entry)| entry.seq.to_string());
        let files: Vec<_> = page
            .into_iter()
            .map(|(path, entry)| file_entry(path.as_str(), &entry))
            .collect();
        Ok(json!({ "files": files, "next_cursor": next }))
    })?
}

/// A cursor this tool returned: a log position, in decimal.
fn parse_cursor(cursor: &str) -> Result<u64, ToolFailure> {
    cursor
        .parse::<u64>()
        .ok()
        .filter(|seq| seq.to_string() == cursor)
        .ok_or_else(|| {
            ToolFailure::Refused(format!(
                "cursor {cursor:?} is not a next_cursor this tool returned"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_are_canonical_log_positions() {
        assert_eq!(parse_cursor("0"), Ok(0));
        assert_eq!(parse_cursor("4711"), Ok(4711));
        for bad in ["", "-1", "+3", "03", "1.5", "abc", "18446744073709551616"] {
            assert!(parse_cursor(bad).is_err(), "{bad:?}");
        }
    }
}
