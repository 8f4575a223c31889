//! `read`: a note's text (or an earlier version's), optionally a line range or a prefix.

use engine::NotePath;
use serde_json::json;

use super::{Notes, ToolFailure, ToolResult, text};
use crate::mcp::tool_call::ReadArgs;

pub(super) async fn run(notes: &Notes<'_>, args: ReadArgs) -> ToolResult {
    let path = NotePath::existing(args.path.as_str())
        .map_err(|err| ToolFailure::Refused(err.to_string()))?;
    let (version, hash) = notes.with(|store| match args.version {
        None => store
            .notes()
            .file(path.as_str())?
            .map(|entry| (entry.version, entry.hash))
            .ok_or_else(|| ToolFailure::Refused(format!("{path}: no such note"))),
        Some(version) => match store.notes().version(path.as_str(), version)? {
            None => Err(ToolFailure::Refused(format!(
                "{path} has no version {version}; `history` lists its versions"
            ))),
            Some(found) => match &found.content {
                Some(content) => Ok((version, content.hash)),
                None => Err(ToolFailure::Refused(format!(
                    "version {version} of {path} is a deletion or a move away; it has no text"
                ))),
            },
        },
    })??;
    let content = text(notes.blob(hash).await?);
    let view = View::of(&content, args.range, args.max_bytes);
    Ok(json!({
        "path": path.as_str(),
        "version": version,
        "content": view.text,
        "total_bytes": content.len(),
        "total_lines": content.lines().count(),
        "truncated": view.truncated,
    }))
}

/// The part of a note a read returns.
#[derive(Debug, PartialEq, Eq)]
struct View<'a> {
    text: &'a str,
    truncated: bool,
}

impl<'a> View<'a> {
    /// Lines `range` (1-based, inclusive; past the end is empty), then at most `max_bytes`,
    /// cut back to a character boundary.
    fn of(content: &'a str, range: Option<(u64, u64)>, max_bytes: Option<u64>) -> View<'a> {
        let mut text = content;
        if let Some((start, end)) = range {
            text = lines(content, start, end);
        }
        let mut truncated = false;
        if let Some(max) = max_bytes {
            let max = usize::try_from(max).unwrap_or(usize::MAX);
            if text.len() > max {
                let mut cut = max;
                while !text.is_char_boundary(cut) {
                    cut -= 1;
                }
                text = &text[..cut];
                truncated = true;
            }
        }
        View { text, truncated }
    }
}

/// Lines `start..=end` of `content` (1-based), with their line breaks.
fn lines(content: &str, start: u64, end: u64) -> &str {
    let mut offset = 0;
    let mut from = None;
    for (number, line) in (1u64..).zip(content.split_inclusive('\n')) {
        if number == start {
            from = Some(offset);
        }
        offset += line.len();
        if number == end {
            break;
        }
    }
    match from {
        Some(from) => &content[from..offset],
        None => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_select_whole_lines() {
        let note = "one\ntwo\nthree\nfour";
        assert_eq!(lines(note, 1, 1), "one\n");
        assert_eq!(lines(note, 2, 3), "two\nthree\n");
        assert_eq!(lines(note, 3, 99), "three\nfour");
        assert_eq!(lines(note, 5, 9), "");
        assert_eq!(lines("", 1, 1), "");
    }

    #[test]
    fn max_bytes_cuts_at_a_character_boundary_and_says_so() {
        let note = "héllo";
        assert_eq!(
            View::of(note, None, Some(2)),
            View {
                text: "h",
                truncated: true
            }
        );
        assert_eq!(
            View::of(note, None, Some(3)),
            View {
                text: "hé",
                truncated: true
            }
        );
        assert_eq!(
            View::of(note, None, Some(99)),
            View {
                text: note,
                truncated: false
            }
        );
        assert_eq!(View::of("a\nb\nc", Some((2, 3)), Some(2)).text, "b\n");
    }
}
