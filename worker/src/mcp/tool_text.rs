//! The text block of a successful tool result, written for the model (and for clients that
//! show text): `read` gives the note's text exactly; the lists (`glob`, `grep`, `search`,
//! `history`, `recent`) give one compact line per entry and a last line naming the cursor of
//! the next page, if any. `structuredContent` keeps every field for programs; tools whose
//! result is not a list (`write`, `edit`, `revert`) keep it as JSON text.
//!
//! Pure: it reads the structured result, shaped as the tool's output schema says, and falls
//! back to that result's JSON if a field is not where the schema puts it.

use std::fmt::Write as _;

use serde_json::Value;

use super::tools::ToolName;

/// The text block for `tool`'s successful `structured` result.
pub fn text_block(tool: ToolName, structured: &Value) -> String {
    let text = match tool {
        ToolName::Read => structured["content"].as_str().map(str::to_owned),
        ToolName::Glob => files(structured, "no notes match the pattern"),
        ToolName::Recent => files(structured, "no notes have changed"),
        ToolName::Grep => grep(structured),
        ToolName::Search => search(structured),
        ToolName::History => history(structured),
        ToolName::Write | ToolName::Edit | ToolName::Revert => None,
    };
    text.unwrap_or_else(|| structured.to_string())
}

/// `path (v3, 120 bytes, modified 2026-08-01T10:00:00.000Z)` per file.
fn files(structured: &Value, none: &str) -> Option<String> {
    let mut out = String::new();
    for file in structured["files"].as_array()? {
        let _ = writeln!(
            out,
            "{} (v{}, {} bytes, modified {})",
            file["path"].as_str()?,
            file["version"].as_u64()?,
            file["size"].as_u64()?,
            file["modified"].as_str()?
        );
    }
    Some(finish(out, none, structured))
}

/// `grep -n` style: `path:line: text` for a match, `path-line- text` for its context.
fn grep(structured: &Value) -> Option<String> {
    let mut out = String::new();
    for found in structured["matches"].as_array()? {
        let path = found["path"].as_str()?;
        let line = found["line"].as_u64()?;
        let before = found["before"].as_array()?;
        let after = found["after"].as_array()?;
        let first = line.saturating_sub(before.len() as u64);
        for (n, text) in (first..).zip(before) {
            let _ = writeln!(out, "{path}-{n}- {}", text.as_str()?);
        }
        let _ = writeln!(out, "{path}:{line}: {}", found["text"].as_str()?);
        for (n, text) in (line + 1..).zip(after) {
            let _ = writeln!(out, "{path}-{n}- {}", text.as_str()?);
        }
    }
    if structured["truncated"].as_bool()? {
        out.push_str("(stopped at max_matches: raise it or narrow the pattern to see more)\n");
    }
    let scanned = structured["scanned"].as_u64()?;
    match structured["candidates"].as_u64() {
        Some(candidates) => {
            let _ = writeln!(
                out,
                "({scanned} notes scanned; the search index narrowed the search to {candidates} notes)"
            );
        }
        None => {
            let _ = writeln!(out, "({scanned} notes scanned)");
        }
    }
    Some(finish(out, "", structured))
}

/// `path (v3, score 1.25): snippet` per hit, the snippet on one line.
fn search(structured: &Value) -> Option<String> {
    let mut out = String::new();
    for hit in structured["results"].as_array()? {
        let snippet = hit["snippet"]
            .as_str()?
            .split_whitespace()
            .collect::<Vec<_>>();
        let _ = writeln!(
            out,
            "{} (v{}, score {:.3}): {}",
            hit["path"].as_str()?,
            hit["version"].as_u64()?,
            hit["score"].as_f64()?,
            snippet.join(" ")
        );
    }
    Some(finish(out, "no notes match", structured))
}

/// `path` then `v3 edited 2026-08-01T10:00:00.000Z (120 bytes)` per version, newest first.
fn history(structured: &Value) -> Option<String> {
    let mut out = String::new();
    let _ = writeln!(out, "{}", structured["path"].as_str()?);
    for version in structured["versions"].as_array()? {
        let _ = write!(
            out,
            "v{} {} {}",
            version["version"].as_u64()?,
            version["change"].as_str()?,
            version["modified"].as_str()?
        );
        match version["size"].as_u64() {
            Some(size) => {
                let _ = writeln!(out, " ({size} bytes)");
            }
            None => out.push('\n'),
        }
    }
    Some(finish(out, "", structured))
}

/// The lines, or `none` when there are none, then the next page's cursor.
fn finish(mut out: String, none: &str, structured: &Value) -> String {
    if out.is_empty() && !none.is_empty() {
        out.push_str(none);
        out.push('\n');
    }
    if let Some(cursor) = structured["next_cursor"].as_str() {
        let _ = writeln!(out, "more: call again with cursor {cursor:?}");
    }
    out.truncate(out.trim_end().len());
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn read_gives_the_notes_text_exactly() {
        let result = json!({"path": "a.md", "version": 2, "content": "# Plan\n\n\"quoted\"\n",
                            "total_bytes": 17, "total_lines": 3, "truncated": false});
        assert_eq!(
            text_block(ToolName::Read, &result),
            "# Plan\n\n\"quoted\"\n"
        );
    }

    #[test]
    fn file_lists_are_one_line_per_note_with_the_cursor_last() {
        let result = json!({"files": [
            {"path": "a.md", "version": 3, "size": 120, "modified": "2026-08-01T10:00:00.000Z"},
            {"path": "b/c.md", "version": 1, "size": 0, "modified": "2026-08-02T10:00:00.000Z"}
        ], "next_cursor": "b/c.md"});
        assert_eq!(
            text_block(ToolName::Glob, &result),
            "a.md (v3, 120 bytes, modified 2026-08-01T10:00:00.000Z)\n\
             b/c.md (v1, 0 bytes, modified 2026-08-02T10:00:00.000Z)\n\
             more: call again with cursor \"b/c.md\""
        );
        let empty = json!({"files": [], "next_cursor": null});
        assert_eq!(
            text_block(ToolName::Glob, &empty),
            "no notes match the pattern"
        );
        assert_eq!(
            text_block(ToolName::Recent, &empty),
            "no notes have changed"
        );
    }

    #[test]
    fn grep_reads_like_grep_with_line_numbers_and_context() {
        let result = json!({"matches": [
            {"path": "a.md", "line": 3, "text": "todo: x", "before": ["one", "two"], "after": ["four"]}
        ], "truncated": true, "scanned": 900, "next_cursor": "a.md"});
        assert_eq!(
            text_block(ToolName::Grep, &result),
            "a.md-1- one\na.md-2- two\na.md:3: todo: x\na.md-4- four\n\
             (stopped at max_matches: raise it or narrow the pattern to see more)\n\
             (900 notes scanned)\nmore: call again with cursor \"a.md\""
        );
        let narrowed = json!({"matches": [], "truncated": false, "scanned": 3,
            "next_cursor": null, "narrowed": true, "candidates": 12});
        assert!(
            text_block(ToolName::Grep, &narrowed)
                .contains("(3 notes scanned; the search index narrowed the search to 12 notes)"),
            "{}",
            text_block(ToolName::Grep, &narrowed)
        );
    }

    #[test]
    fn search_and_history_are_compact_lines() {
        let hits = json!({"results": [
            {"path": "a.md", "version": 2, "score": 1.23456, "snippet": "the\n plan   here"}
        ], "next_cursor": null});
        assert_eq!(
            text_block(ToolName::Search, &hits),
            "a.md (v2, score 1.235): the plan here"
        );
        let history = json!({"path": "a.md", "versions": [
            {"version": 2, "change": "delete", "modified": "2026-08-02T00:00:00.000Z", "size": null},
            {"version": 1, "change": "write", "modified": "2026-08-01T00:00:00.000Z", "size": 5}
        ], "next_cursor": null});
        assert_eq!(
            text_block(ToolName::History, &history),
            "a.md\nv2 delete 2026-08-02T00:00:00.000Z\nv1 write 2026-08-01T00:00:00.000Z (5 bytes)"
        );
    }

    #[test]
    fn changes_and_unexpected_shapes_stay_json() {
        let written = json!({"path": "a.md", "version": 1});
        assert_eq!(text_block(ToolName::Write, &written), written.to_string());
        let odd = json!({"files": "?"});
        assert_eq!(text_block(ToolName::Glob, &odd), odd.to_string());
    }
}
