//! `edit`: replace the single occurrence of a string (then optionally move), move, or delete.
//!
//! A replacement reads the current text, checks that `old_str` occurs exactly once, and
//! writes the result as an edit that expects the version it read, so a change that lands in
//! between is refused rather than overwritten.
//!
//! Event ids: index 0 for the call's first event (the delete, the move, or the replacement)
//! and 1 for the move after a replacement, so a retry finds each step it already made.

use engine::EventId;
use engine::store::WriteRequest;
use serde_json::{Value, json};

use super::event_ids::EventIds;
use super::{Notes, ToolFailure, ToolResult, delete_error, move_error, text};
use crate::mcp::tool_call::{EditArgs, EditChange};

pub(super) async fn run(notes: &Notes<'_>, args: EditArgs, ids: &EventIds) -> ToolResult {
    let EditArgs { path, change } = args;
    // Delete and move: the engine answers a retried id with its first receipt before any
    // check. A replacement must look first: its text is gone once the first call made it.
    let first = ids.nth(0)?;
    match change {
        EditChange::Delete => {
            notes
                .with(|store| store.delete(first, &path, None, notes.now))?
                .map_err(delete_error)?;
            Ok(result(&path, None, true, None))
        }
        EditChange::Move { new_path } => {
            let version = move_note(notes, first, &path, &new_path, None)?;
            Ok(result(&new_path, Some(version), false, Some(&path)))
        }
        EditChange::Replace {
            old_str,
            new_str,
            new_path,
        } => {
            let edited = match notes.receipt(first)? {
                Some(receipt) => receipt.version,
                None => replace(notes, first, &path, &old_str, &new_str).await?,
            }
            .ok_or_else(|| ToolFailure::Internal("an edit made no version".to_owned()))?;
            match new_path {
                None => Ok(result(&path, Some(edited), false, None)),
                Some(new_path) => {
                    let moved = move_note(notes, ids.nth(1)?, &path, &new_path, Some(edited))
                        .map_err(|failure| match failure {
                            ToolFailure::Refused(why) => ToolFailure::Refused(format!(
                                "the replacement was saved as version {edited} of {path}, \
                                 but the move failed: {why}"
                            )),
                            internal => internal,
                        })?;
                    Ok(result(&new_path, Some(moved), false, Some(&path)))
                }
            }
        }
    }
}

/// Replaces the one occurrence of `old_str` in the note at `path`; the version it made.
async fn replace(
    notes: &Notes<'_>,
    id: EventId,
    path: &str,
    old_str: &str,
    new_str: &str,
) -> Result<Option<u64>, ToolFailure> {
    let (version, hash, media_type) = notes.with(|store| {
        store
            .notes()
            .file(path)?
            .map(|entry| (entry.version, entry.hash, entry.media_type))
            .ok_or_else(|| ToolFailure::Refused(format!("{path}: no such note")))
    })??;
    let current = text(notes.blob(hash).await?);
    let replaced = replace_once(&current, old_str, new_str)
        .map_err(|problem| ToolFailure::Refused(format!("{path}: {problem}")))?;
    let req = WriteRequest {
        id,
        path,
        content: replaced.as_bytes(),
        media_type: &media_type,
        expected_version: Some(version),
        edit: true,
    };
    Ok(notes.store_content(&req).await?.version)
}

fn move_note(
    notes: &Notes<'_>,
    id: EventId,
    from: &str,
    to: &str,
    expected_version: Option<u64>,
) -> Result<u64, ToolFailure> {
    let applied = notes
        .with(|store| store.move_note(id, from, to, expected_version, notes.now))?
        .map_err(move_error)?;
    applied
        .version
        .ok_or_else(|| ToolFailure::Internal("a move made no version".to_owned()))
}

fn result(path: &str, version: Option<u64>, deleted: bool, moved_from: Option<&str>) -> Value {
    json!({
        "path": path,
        "version": version,
        "deleted": deleted,
        "moved_from": moved_from,
    })
}

/// `text` with the single occurrence of `old` replaced by `new`; an error says why not.
fn replace_once(text: &str, old: &str, new: &str) -> Result<String, String> {
    let mut found = text.match_indices(old);
    let Some((at, _)) = found.next() else {
        return Err(
            "old_str was not found; read the note and copy the text exactly, including \
             whitespace"
                .to_owned(),
        );
    };
    let more = found.count();
    if more > 0 {
        return Err(format!(
            "old_str occurs {} times; include more of the surrounding text so it occurs once",
            more + 1
        ));
    }
    let mut out = String::with_capacity(text.len() - old.len() + new.len());
    out.push_str(&text[..at]);
    out.push_str(new);
    out.push_str(&text[at + old.len()..]);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_exactly_one_occurrence() {
        assert_eq!(replace_once("a b c", "b", "x").unwrap(), "a x c");
        assert_eq!(replace_once("a b c", "b ", "").unwrap(), "a c");
        let missing = replace_once("a b c", "z", "x").unwrap_err();
        assert!(missing.contains("not found"), "{missing}");
        let twice = replace_once("b and b", "b", "x").unwrap_err();
        assert!(twice.contains("occurs 2 times"), "{twice}");
    }
}
