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
        let notes = store.notes();
        let last = notes.last_version(&args.path)?;
        if last == 0 {
            return Err(ToolFailure::Refused(format!(
                "{}: no note has ever had this path",
                args.path
            )));
        }
        let (page, next) = page(last, below, limit, |after, count| {
            notes.versions(&args.path, after, count)
        })?;
        Ok(json!({
            "path": args.path,
            "versions": page.iter().map(version_entry).collect::<Vec<_>>(),
            "next_cursor": next,
        }))
    })?
}

/// Up to `limit` versions below `below` (all when `None`) of a path whose last version is
/// `last`, newest first, and the cursor of the next page. Versions are numbered 1..=last
/// without gaps, so the page is one range, read with `read(after, count)` (oldest first).
fn page<E>(
    last: u64,
    below: Option<u64>,
    limit: usize,
    read: impl FnOnce(u64, usize) -> Result<Vec<Version>, E>,
) -> Result<(Vec<Version>, Option<String>), E> {
    let top = below.map_or(last, |below| below.saturating_sub(1).min(last));
    let count = top.min(u64::try_from(limit).unwrap_or(u64::MAX));
    if count == 0 {
        return Ok((Vec::new(), None));
    }
    let after = top - count;
    let mut versions = read(after, usize::try_from(count).unwrap_or(usize::MAX))?;
    versions.reverse();
    let next = (after > 0)
        .then(|| versions.last().map(|v| v.version.to_string()))
        .flatten();
    Ok((versions, next))
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

    fn page_of(all: &[Version], below: Option<u64>, limit: usize) -> (Vec<u64>, Option<String>) {
        let last = all.last().map_or(0, |v| v.version);
        let (page, next) = page(last, below, limit, |after, count| {
            Ok::<_, ()>(
                all.iter()
                    .filter(|v| v.version > after)
                    .take(count)
                    .cloned()
                    .collect(),
            )
        })
        .unwrap();
        (page.iter().map(|v| v.version).collect(), next)
    }

    #[test]
    fn pages_walk_every_version_newest_first() {
        let all = versions(5);
        let (first, next) = page_of(&all, None, 2);
        assert_eq!(first, [5, 4]);
        assert_eq!(next.as_deref(), Some("4"));
        let (second, next) = page_of(&all, Some(4), 2);
        assert_eq!(second, [3, 2]);
        let (last, next_after) = page_of(&all, next.map(|n| n.parse().unwrap()), 2);
        assert_eq!(last, [1]);
        assert_eq!(next_after, None);
        let (exact, none) = page_of(&all, None, 5);
        assert_eq!((exact.len(), none), (5, None));
        // A cursor past the end starts at the last version; one at 1 has nothing below.
        assert_eq!(page_of(&all, Some(99), 1).0, [5]);
        assert_eq!(page_of(&all, Some(1), 3), (vec![], None));
    }
}
