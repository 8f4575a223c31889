//! `grep`: lines matching a regular expression, with context, in path order, a page of notes
//! at a time.
//!
//! The expression is compiled by `regex-lite`, whose matching time is linear in the text (no
//! backtracking), so no pattern can stall the object. The notes to scan are every note, the
//! one note `path` names, or those matching `path` as a glob; their texts come from R2. One
//! call scans at most [`MAX_NOTES`] notes and [`MAX_BYTES`] bytes; when more notes are left,
//! the reply says how far it got in `next_cursor`, and a call with that `cursor` goes on from
//! there, so any number of notes can be searched and none is skipped silently. A reply that
//! reached `max_matches` is `truncated` and has no cursor: raise `max_matches` or narrow
//! `path` to see the rest. (Until the engine keeps note texts or an index the object can
//! scan, grep reads R2.) Between batches it stops if the call was cancelled, and reports the
//! notes scanned so far.

use engine::Hash;
use engine::files::MAX_PAGE;
use futures::future::join_all;
use regex_lite::{Regex, RegexBuilder};
use serde_json::{Value, json};

use super::{Notes, ToolFailure, ToolResult, text};
use crate::mcp::tool_call::GrepArgs;

/// The most notes one call scans: each is one R2 read, and a request may make about a
/// thousand subrequests.
const MAX_NOTES: usize = 900;
/// The most bytes of note text one call scans.
const MAX_BYTES: u64 = 64 * 1024 * 1024;
/// The longest pattern accepted, in bytes.
const MAX_PATTERN_BYTES: usize = 1_000;
/// The compiled program's size limit, in bytes.
const MAX_PROGRAM_BYTES: usize = 1 << 20;
/// Blobs fetched at once.
const FETCH_CONCURRENCY: usize = 16;
/// Longest line text returned, in bytes (longer lines are cut at a character boundary).
const MAX_LINE_BYTES: usize = 1_000;

pub(super) async fn run(notes: &Notes<'_>, args: GrepArgs) -> ToolResult {
    let regex = compile(&args.pattern)?;
    let (candidates, mut next_cursor) =
        candidates(notes, args.path.as_deref(), args.cursor.as_deref())?;
    let max_matches = usize::try_from(args.max_matches).unwrap_or(usize::MAX);
    let context = usize::try_from(args.context_lines).unwrap_or(0);
    let mut matches = Vec::new();
    let mut truncated = false;
    let total = candidates.len() as u64;
    let mut scanned = 0u64;
    'notes: for chunk in candidates.chunks(FETCH_CONCURRENCY) {
        notes.check_cancelled()?;
        let texts = join_all(chunk.iter().map(|(_, hash)| notes.blobs.get(*hash, false))).await;
        for ((path, _), fetched) in chunk.iter().zip(texts) {
            scanned += 1;
            let content = match fetched {
                Ok(bytes) => text(bytes),
                Err(err) => return Err(ToolFailure::Internal(err.to_string())),
            };
            let room = max_matches - matches.len();
            let (found, more) = grep_text(&regex, &content, context, room);
            matches.extend(found.into_iter().map(|m| m.to_json(path)));
            // With the budget spent, later notes are still scanned (room 0) until one more
            // match shows that `truncated` is true.
            if more {
                truncated = true;
                next_cursor = None;
                break 'notes;
            }
        }
        notes.control.progress(
            scanned,
            total,
            &format!("scanned {scanned} of {total} notes"),
        );
        notes.step_done().await;
    }
    Ok(json!({
        "matches": matches,
        "truncated": truncated,
        "scanned": scanned,
        "next_cursor": next_cursor,
    }))
}

fn compile(pattern: &str) -> Result<Regex, ToolFailure> {
    if pattern.len() > MAX_PATTERN_BYTES {
        return Err(ToolFailure::Refused(format!(
            "the pattern is {} bytes; the limit is {MAX_PATTERN_BYTES}",
            pattern.len()
        )));
    }
    RegexBuilder::new(pattern)
        .size_limit(MAX_PROGRAM_BYTES)
        .build()
        .map_err(|err| ToolFailure::Refused(format!("invalid regular expression: {err}")))
}

/// The notes one call scans (path and content hash), and the cursor of the rest.
type Batch = (Vec<(String, Hash)>, Option<String>);

/// The notes this call scans, in path order, with their content hashes: those after `cursor`,
/// up to [`MAX_NOTES`] notes and [`MAX_BYTES`] bytes (at least one note); and the cursor of
/// the rest, if any are left.
fn candidates(
    notes: &Notes<'_>,
    path: Option<&str>,
    cursor: Option<&str>,
) -> Result<Batch, ToolFailure> {
    notes.with(|store| {
        let files = store.files();
        let mut out: Vec<(String, Hash)> = Vec::new();
        let mut bytes = 0u64;
        let mut after = cursor.map(str::to_owned);
        loop {
            let page = match path {
                None => files.list(after.as_deref(), MAX_PAGE),
                Some(path) if !is_glob(path) => {
                    // One note: nothing to page through (a cursor passes it by).
                    let one = files
                        .get_key_value(path)
                        .filter(|_| cursor.is_none_or(|cursor| path > cursor))
                        .map(|(p, e)| (p.to_string(), e.hash));
                    return Ok((one.into_iter().collect(), None));
                }
                Some(pattern) => files
                    .glob(pattern, after.as_deref(), MAX_PAGE)
                    .map_err(|err| ToolFailure::Refused(err.to_string()))?,
            };
            for (path, entry) in &page.items {
                let full = out.len() >= MAX_NOTES || bytes.saturating_add(entry.size) > MAX_BYTES;
                if full && !out.is_empty() {
                    let next = out.last().map(|(path, _)| path.clone());
                    return Ok((out, next));
                }
                bytes = bytes.saturating_add(entry.size);
                out.push((path.to_string(), entry.hash));
            }
            match page.next {
                Some(next) => after = Some(next),
                None => return Ok((out, None)),
            }
        }
    })?
}

/// Whether `path` is a glob rather than one note's path.
fn is_glob(path: &str) -> bool {
    path.contains(['*', '?', '[', '{'])
}

/// One matching line.
#[derive(Debug, Clone, PartialEq, Eq)]
struct LineMatch {
    line: usize,
    text: String,
    before: Vec<String>,
    after: Vec<String>,
}

impl LineMatch {
    fn to_json(&self, path: &str) -> Value {
        json!({
            "path": path,
            "line": self.line,
            "text": self.text,
            "before": self.before,
            "after": self.after,
        })
    }
}

/// Up to `room` matching lines of `text`, each with `context` lines on either side, and
/// whether more matching lines follow.
fn grep_text(regex: &Regex, text: &str, context: usize, room: usize) -> (Vec<LineMatch>, bool) {
    let lines: Vec<&str> = text.lines().collect();
    let mut found = Vec::new();
    for (index, line) in lines.iter().enumerate() {
        if !regex.is_match(line) {
            continue;
        }
        if found.len() == room {
            return (found, true);
        }
        let start = index.saturating_sub(context);
        let end = (index + 1 + context).min(lines.len());
        found.push(LineMatch {
            line: index + 1,
            text: cut(line),
            before: lines[start..index].iter().map(|l| cut(l)).collect(),
            after: lines[index + 1..end].iter().map(|l| cut(l)).collect(),
        });
    }
    (found, false)
}

/// `line`, cut to [`MAX_LINE_BYTES`] at a character boundary.
fn cut(line: &str) -> String {
    if line.len() <= MAX_LINE_BYTES {
        return line.to_owned();
    }
    let mut end = MAX_LINE_BYTES;
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &line[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn regex(pattern: &str) -> Regex {
        compile(pattern).unwrap()
    }

    #[test]
    fn finds_lines_with_context() {
        let text = "a\nb needle\nc\nd\ne needle\nf";
        let (found, more) = grep_text(&regex("needle"), text, 1, 10);
        assert!(!more);
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].line, 2);
        assert_eq!(found[0].text, "b needle");
        assert_eq!(found[0].before, ["a"]);
        assert_eq!(found[0].after, ["c"]);
        assert_eq!(found[1].line, 5);
        assert_eq!(found[1].after, ["f"]);
    }

    #[test]
    fn stops_at_the_budget_and_says_more_exist() {
        let (found, more) = grep_text(&regex("x"), "x\nx\nx", 0, 2);
        assert_eq!((found.len(), more), (2, true));
        let (found, more) = grep_text(&regex("x"), "x\nx", 0, 2);
        assert_eq!((found.len(), more), (2, false));
        let (found, more) = grep_text(&regex("x"), "x", 0, 0);
        assert_eq!((found.len(), more), (0, true));
    }

    #[test]
    fn bad_and_huge_patterns_are_refused() {
        assert!(matches!(compile("("), Err(ToolFailure::Refused(m)) if m.contains("invalid")));
        assert!(compile(&"a".repeat(MAX_PATTERN_BYTES + 1)).is_err());
        assert!(compile("(?i)TODO|fixme").is_ok());
    }

    #[test]
    fn globs_are_told_from_paths() {
        assert!(is_glob("projects/**"));
        assert!(is_glob("*.md"));
        assert!(!is_glob("notes/plan.md"));
    }

    #[test]
    fn long_lines_are_cut_at_a_character_boundary() {
        let line = "é".repeat(MAX_LINE_BYTES);
        let out = cut(&line);
        assert!(out.ends_with('…'));
        assert!(out.len() <= MAX_LINE_BYTES + '…'.len_utf8());
    }
}
