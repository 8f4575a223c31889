//! `history`: a note's versions, newest first, a page at a time.
//!
//! The cursor is the version number the previous page ended at; the next page starts below it.

use engine::history::{Change, Version};
use serde_json::{Value, json};

use super::render::rfc3339;
use super::{Notes, ToolFailure, ToolResult};
use crate::mcp::tool_call::HistoryArgs;

pub(super) fn run(notes: &Notes<'_>, args: HistoryArgs) -> ToolResult {
    let below = match &args.cursor {
        None => None,
        Some(cursor) => Some(cursor.parse::<u64>().map_err(|_| {
            ToolFailure::Refused(format!(
                "cursor {cursor:?} is not a next_cursor this tool returned"
            ))
        })?),
    };
    let limit = usize::try_from(args.limit).unwrap_or(usize::MAX);
    notes.with(|store| {
        let versions = store.history().versions(&args.path);
        if versions.is_empty() {
            return Err(ToolFailure::Refused(format!(
                "{}: no note has ever had this path",
                args.path
            )));
        }
        let (page, next) = page(versions, below, limit);
        Ok(json!({
            "path": args.path,
            "versions": page.iter().copied().map(version_entry).collect::<Vec<_>>(),
            "next_cursor": next,
        }))
    })?
}

/// Up to `limit` versions below `below` (all when `None`), newest first, and the cursor of
/// the next page.
fn page(versions: &[Version], below: Option<u64>, limit: usize) -> (Vec<&Version>, Option<String>) {
    let mut older = versions
        .iter()
        .rev()
        .filter(|v| below.is_none_or(|below| v.version < below));
    let page: Vec<&Version> = older.by_ref().take(limit).collect();
    let next = match (page.last(), older.next()) {
        (Some(last), Some(_)) => Some(last.version.to_string()),
        _ => None,
    };
    (page, next)
}

fn version_entry(version: &Version) -> Value {
    let change = match version.change {
        Change::Written => "write",
        Change::Edited => "edit",
        Change::Reverted { .. } => "revert",
        Change::Deleted => "delete",
        Change::MovedFrom { .. } | Change::MovedTo { .. } => "move",
    };
    json!({
        "version": version.version,
        "change": change,
        "modified": rfc3339(version.time),
        "size": version.content.as_ref().map(|content| content.size),
    })
}

#[cfg(test)]
mod tests {
    use engine::Timestamp;

    use super::*;

    fn versions(n: u64) -> Vec<Version> {
        (1..=n)
            .map(|version| Version {
                version,
                seq: version,
                time: Timestamp(version),
                change: Change::Written,
                content: None,
            })
            .collect()
    }

    #[test]
    fn pages_walk_every_version_newest_first() {
        let all = versions(5);
        let (first, next) = page(&all, None, 2);
        assert_eq!(first.iter().map(|v| v.version).collect::<Vec<_>>(), [5, 4]);
        assert_eq!(next.as_deref(), Some("4"));
        let (second, next) = page(&all, Some(4), 2);
        assert_eq!(second.iter().map(|v| v.version).collect::<Vec<_>>(), [3, 2]);
        let (last, next_after) = page(&all, next.map(|n| n.parse().unwrap()), 2);
        assert_eq!(last.iter().map(|v| v.version).collect::<Vec<_>>(), [1]);
        assert_eq!(next_after, None);
        let (exact, none) = page(&all, None, 5);
        assert_eq!((exact.len(), none), (5, None));
    }
}
