//! `grep`: lines matching a regular expression, with context, in path order, a page of notes
//! at a time.
//!
//! The expression is compiled by the engine ([`engine::grep`]: `regex-lite`, which never
//! backtracks, with a pattern length cap and a compiled size cap), and one call searches at
//! most the pattern's byte budget: bytes x compiled size is bounded per call, so no pattern
//! can stall the object. The notes to scan are every note, the one note `path` names, or
//! those matching `path` as a glob (the engine's linear-time matcher, within one call's work
//! budget). Their texts come from R2. One call scans at most [`MAX_NOTES`] notes and the
//! byte budget; when more is left, the reply says how far it got in `next_cursor`, and a call
//! with that `cursor` goes on from there (inside a note if the budget ran out in one), so any
//! amount of text can be searched and none is skipped silently. A reply that reached
//! `max_matches` is `truncated` and has no cursor: raise `max_matches` or narrow `path` to
//! see the rest. Between batches it stops if the call was cancelled, and reports the notes
//! scanned so far.
//!
//! # Narrowed by the search index
//! Unless `path` names one note, each call first asks the search index which notes the
//! pattern can match in ([`engine::Store::grep_candidates`]: the words a match needs, looked
//! up as substrings of the index's terms, plus the notes the index has no text for). When it
//! can tell, only those notes are scanned (the ones `path` selects), with the same paging
//! rules: in path order, a cursor meaning "after this path" (or "this note, from this line").
//! The candidates are worked out again on each call, so a note written between calls is seen
//! if it sorts after the cursor, exactly as without the index. The reply says whether the
//! index narrowed the search (`narrowed`) and to how many notes (`candidates`).

use std::collections::BTreeSet;
use std::ops::Bound;

use engine::Hash;
use engine::files::MAX_PAGE;
use engine::glob::{Glob, WorkBudget};
use engine::grep::GrepPattern;
use futures::future::join_all;
use serde_json::{Value, json};

use super::{Notes, ToolFailure, ToolResult, text};
use crate::mcp::tool_call::GrepArgs;

/// The most notes one call scans: each is one R2 read, and a request may make about a
/// thousand subrequests.
const MAX_NOTES: usize = 900;
/// Blobs fetched at once.
const FETCH_CONCURRENCY: usize = 16;
/// Longest line text returned, in bytes (longer lines are cut at a character boundary).
const MAX_LINE_BYTES: usize = 1_000;

pub(super) async fn run(notes: &Notes<'_>, args: GrepArgs) -> ToolResult {
    let regex =
        GrepPattern::new(&args.pattern).map_err(|err| ToolFailure::Refused(err.to_string()))?;
    let mut bytes_left = regex.byte_budget();
    let cursor = args.cursor.as_deref().map(Cursor::parse);
    let glob = match args.path.as_deref() {
        Some(pattern) if is_glob(pattern) => {
            Some(Glob::new(pattern).map_err(|err| ToolFailure::Refused(err.to_string()))?)
        }
        _ => None,
    };
    let one_note = args.path.as_deref().filter(|_| glob.is_none());
    let narrowed = match one_note {
        Some(_) => None,
        None => narrowing(notes, &args.pattern)?,
    };
    let (candidates, mut next_cursor) = match &narrowed {
        Some(narrowed) => notes.with(|store| {
            let notes = store.notes();
            // The first failed lookup ends the call (its notes read as absent meanwhile).
            let failed = std::cell::RefCell::new(None);
            let batch = narrowed_batch(
                narrowed,
                |path| match notes.file(path) {
                    Ok(entry) => entry.map(|entry| (entry.hash, entry.size)),
                    Err(err) => {
                        failed.borrow_mut().get_or_insert(err);
                        None
                    }
                },
                glob.as_ref(),
                cursor.as_ref(),
                bytes_left,
                &mut WorkBudget::per_call(),
            );
            match failed.into_inner() {
                Some(err) => Err(ToolFailure::from(err)),
                None => Ok(batch),
            }
        })??,
        None => candidates(notes, glob.as_ref(), one_note, cursor.as_ref(), bytes_left)?,
    };
    let max_matches = usize::try_from(args.max_matches).unwrap_or(usize::MAX);
    let context = usize::try_from(args.context_lines).unwrap_or(0);
    let mut matches = Vec::new();
    let mut truncated = false;
    let total = candidates.len() as u64;
    let mut scanned = 0u64;
    'notes: for chunk in candidates.chunks(FETCH_CONCURRENCY) {
        notes.check_cancelled()?;
        let texts = join_all(chunk.iter().map(|note| notes.blobs.get(note.hash, false))).await;
        for (note, fetched) in chunk.iter().zip(texts) {
            scanned += 1;
            let content = match fetched {
                Ok(bytes) => text(bytes),
                Err(err) => return Err(ToolFailure::Internal(err.to_string())),
            };
            let room = max_matches - matches.len();
            let search = Search {
                regex: &regex,
                context,
                room,
                from_line: note.from_line,
            };
            let outcome = search.run(&content, &mut bytes_left);
            matches.extend(outcome.found.into_iter().map(|m| m.to_json(&note.path)));
            // With the budget spent, later notes are still scanned (room 0) until one more
            // match shows that `truncated` is true.
            if outcome.more {
                truncated = true;
                next_cursor = None;
                break 'notes;
            }
            if let Some(line) = outcome.stopped_at {
                next_cursor = Some(Cursor::within(&note.path, line));
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
        "narrowed": narrowed.is_some(),
        "candidates": narrowed.map(|set| set.len()),
    }))
}

/// The notes the search index allows `pattern` to match in, or `None` when it cannot tell.
/// A failing index is logged and read as `None`: grep then scans, as it can without one.
fn narrowing(notes: &Notes<'_>, pattern: &str) -> Result<Option<BTreeSet<String>>, ToolFailure> {
    Ok(notes
        .with(|store| store.grep_candidates(pattern))?
        .unwrap_or_else(|err| {
            worker::console_error!(
                "{}",
                json!({"msg": "grep_narrowing_failed", "error": err.to_string()})
            );
            None
        }))
}

/// Where a call starts: after a note, or inside one.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Cursor {
    /// After this path (every note up to it is done).
    After(String),
    /// In this note, from this line (1-based); the notes after it follow.
    Within {
        /// The note.
        path: String,
        /// Its first line not yet searched.
        line: usize,
    },
}

impl Cursor {
    /// A cursor into a note: `\line\path`. Paths never hold `\`, so a cursor that starts
    /// with one is never a path.
    fn within(path: &str, line: usize) -> String {
        format!("\\{line}\\{path}")
    }

    fn parse(cursor: &str) -> Cursor {
        let within = cursor
            .strip_prefix('\\')
            .and_then(|rest| rest.split_once('\\'))
            .and_then(|(line, path)| Some((line.parse().ok()?, path)));
        match within {
            Some((line, path)) => Cursor::Within {
                path: path.to_owned(),
                line,
            },
            None => Cursor::After(cursor.to_owned()),
        }
    }

    /// The path every note of the rest sorts after.
    fn after(&self) -> &str {
        match self {
            Cursor::After(path) | Cursor::Within { path, .. } => path,
        }
    }
}

/// One note a call searches.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Candidate {
    path: String,
    hash: Hash,
    /// The first line to search (1 unless the call resumes inside the note).
    from_line: usize,
}

/// The notes one call scans, and the cursor of the rest.
type Batch = (Vec<Candidate>, Option<String>);

/// The notes this call scans, in path order: the note the cursor is inside, if any, then
/// those after the cursor, up to [`MAX_NOTES`] notes and `byte_budget` bytes (at least one
/// note); and the cursor of the rest, if any are left.
fn candidates(
    notes: &Notes<'_>,
    glob: Option<&Glob>,
    path: Option<&str>,
    cursor: Option<&Cursor>,
    byte_budget: u64,
) -> Result<Batch, ToolFailure> {
    let mut budget = WorkBudget::per_call();
    notes.with(|store| {
        let files = store.notes();
        let mut out: Vec<Candidate> = Vec::new();
        let mut bytes = 0u64;
        if let Some(Cursor::Within { path: inside, line }) = cursor {
            let wanted = match (glob, path) {
                (Some(glob), _) => glob.is_match(inside),
                (None, Some(one)) => one == inside,
                (None, None) => true,
            };
            if let Some(entry) = files.file(inside)?.filter(|_| wanted) {
                bytes = entry.size;
                out.push(Candidate {
                    path: inside.clone(),
                    hash: entry.hash,
                    from_line: *line,
                });
            }
        }
        let mut after = cursor.map(|cursor| cursor.after().to_owned());
        loop {
            let page = match (glob, path) {
                (None, None) => files.list(after.as_deref(), MAX_PAGE)?,
                (None, Some(path)) => {
                    // One note: nothing to page through (a cursor passes it by).
                    let one = files
                        .file(path)?
                        .filter(|_| after.as_deref().is_none_or(|after| path > after))
                        .map(|e| Candidate {
                            path: path.to_owned(),
                            hash: e.hash,
                            from_line: 1,
                        });
                    out.extend(one);
                    return Ok((out, None));
                }
                (Some(glob), _) => files.glob(glob, after.as_deref(), MAX_PAGE, &mut budget)?,
            };
            for (path, entry) in &page.items {
                let full = out.len() >= MAX_NOTES || bytes.saturating_add(entry.size) > byte_budget;
                if full && !out.is_empty() {
                    let next = out.last().map(|note| note.path.clone());
                    return Ok((out, next));
                }
                bytes = bytes.saturating_add(entry.size);
                out.push(Candidate {
                    path: path.to_string(),
                    hash: entry.hash,
                    from_line: 1,
                });
            }
            match page.next {
                // The glob's work budget is spent: the rest is for the next call.
                Some(next) if budget.is_spent() => return Ok((out, Some(next))),
                Some(next) => after = Some(next),
                None => return Ok((out, None)),
            }
        }
    })?
}

/// [`candidates`] when the search index narrowed the search to `narrowed`: the note the
/// cursor is inside (if `glob` selects it), then the narrowed notes after the cursor that
/// exist (`lookup` gives their content hash and size) and `glob` selects, in path order, up
/// to [`MAX_NOTES`] notes and `byte_budget` bytes (at least one note); and the cursor of the
/// rest. Glob matching spends `budget`; once it is spent the batch ends, its cursor after the
/// last path looked at.
fn narrowed_batch(
    narrowed: &BTreeSet<String>,
    lookup: impl Fn(&str) -> Option<(Hash, u64)>,
    glob: Option<&Glob>,
    cursor: Option<&Cursor>,
    byte_budget: u64,
    budget: &mut WorkBudget,
) -> Batch {
    let mut out: Vec<Candidate> = Vec::new();
    let mut bytes = 0u64;
    if let Some(Cursor::Within { path: inside, line }) = cursor
        && glob.is_none_or(|glob| glob.is_match(inside))
        && let Some((hash, size)) = lookup(inside)
    {
        bytes = size;
        out.push(Candidate {
            path: inside.clone(),
            hash,
            from_line: *line,
        });
    }
    let start = match cursor {
        Some(cursor) => Bound::Excluded(cursor.after()),
        None => Bound::Unbounded,
    };
    let prefix = glob.map_or("", Glob::literal_prefix);
    let mut matcher = glob.map(Glob::matcher);
    let mut rest = narrowed
        .range::<str, _>((start, Bound::Unbounded))
        .peekable();
    while let Some(path) = rest.next() {
        let selected = path.starts_with(prefix)
            && matcher
                .as_mut()
                .is_none_or(|matcher| matcher.matches(path, budget));
        if let Some((hash, size)) = lookup(path).filter(|_| selected) {
            let full = out.len() >= MAX_NOTES || bytes.saturating_add(size) > byte_budget;
            if full && let Some(last) = out.last() {
                let next = last.path.clone();
                return (out, Some(next));
            }
            bytes = bytes.saturating_add(size);
            out.push(Candidate {
                path: path.clone(),
                hash,
                from_line: 1,
            });
        }
        if budget.is_spent() && rest.peek().is_some() {
            return (out, Some(path.clone()));
        }
    }
    (out, None)
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

/// One note's search.
struct Search<'a> {
    regex: &'a GrepPattern,
    /// Lines of context on either side of a match.
    context: usize,
    /// How many more matches the call may return.
    room: usize,
    /// The first line to search, 1-based.
    from_line: usize,
}

/// What a note's search found.
#[derive(Debug, Default)]
struct Outcome {
    found: Vec<LineMatch>,
    /// Another matching line follows the last one returned (`room` was reached).
    more: bool,
    /// The byte budget ran out before this line (1-based), which is where to go on.
    stopped_at: Option<usize>,
}

impl Search<'_> {
    /// Up to `room` matching lines of `text` from `from_line`, each with `context` lines on
    /// either side, spending `bytes_left` (each line searched costs its length plus one).
    /// A line that does not fit in what is left ends the search there, unless nothing has
    /// been spent yet: then a line longer than the whole budget is searched in its first
    /// budget's worth of bytes only, so every call moves on.
    fn run(&self, text: &str, bytes_left: &mut u64) -> Outcome {
        let lines: Vec<&str> = text.lines().collect();
        let mut outcome = Outcome::default();
        let start = self.from_line.max(1) - 1;
        for (index, line) in lines.iter().enumerate().skip(start) {
            let cost = line.len() as u64 + 1;
            let searched = if cost <= *bytes_left {
                *bytes_left -= cost;
                *line
            } else if *bytes_left > 0 && index == start && self.is_call_start(bytes_left) {
                let head = prefix(line, usize::try_from(*bytes_left).unwrap_or(usize::MAX));
                *bytes_left = 0;
                head
            } else {
                outcome.stopped_at = Some(index + 1);
                return outcome;
            };
            if !self.regex.is_match(searched) {
                continue;
            }
            if outcome.found.len() == self.room {
                outcome.more = true;
                return outcome;
            }
            let before = index.saturating_sub(self.context);
            let end = (index + 1 + self.context).min(lines.len());
            outcome.found.push(LineMatch {
                line: index + 1,
                text: cut(line),
                before: lines[before..index].iter().map(|l| cut(l)).collect(),
                after: lines[index + 1..end].iter().map(|l| cut(l)).collect(),
            });
        }
        outcome
    }

    /// Whether nothing of the call's budget is spent yet.
    fn is_call_start(&self, bytes_left: &u64) -> bool {
        *bytes_left == self.regex.byte_budget()
    }
}

/// The longest start of `line` of at most `max` bytes, at a character boundary.
fn prefix(line: &str, max: usize) -> &str {
    let mut end = max.min(line.len());
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    &line[..end]
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

    fn regex(pattern: &str) -> GrepPattern {
        GrepPattern::new(pattern).unwrap()
    }

    /// Searches all of `text` from line 1 with a full budget.
    fn grep_text(
        regex: &GrepPattern,
        text: &str,
        context: usize,
        room: usize,
    ) -> (Vec<LineMatch>, bool) {
        let search = Search {
            regex,
            context,
            room,
            from_line: 1,
        };
        let outcome = search.run(text, &mut regex.byte_budget());
        assert_eq!(outcome.stopped_at, None);
        (outcome.found, outcome.more)
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
    fn the_byte_budget_ends_the_search_at_a_line_and_the_next_call_goes_on_there() {
        let regex = regex("x");
        let search = |from_line, bytes_left: &mut u64| {
            let search = Search {
                regex: &regex,
                context: 0,
                room: 10,
                from_line,
            };
            search.run("x1\nx2\nx3\nx4", bytes_left)
        };
        // Room for two lines ("x1\n", "x2\n") of the budget left.
        let mut left = 6;
        let outcome = search(1, &mut left);
        assert_eq!(
            outcome.found.iter().map(|m| m.line).collect::<Vec<_>>(),
            [1, 2]
        );
        assert_eq!((outcome.stopped_at, left), (Some(3), 0));
        // The next call starts at line 3, with line numbers as in the note.
        let outcome = search(3, &mut regex.byte_budget());
        assert_eq!(
            outcome.found.iter().map(|m| m.line).collect::<Vec<_>>(),
            [3, 4]
        );
        assert_eq!(outcome.stopped_at, None);
    }

    #[test]
    fn a_line_longer_than_the_budget_is_searched_in_its_head_and_the_call_moves_on() {
        let regex = regex("y");
        let budget = regex.byte_budget() as usize;
        let text = format!(
            "{}y{}z\nsecond y",
            "a".repeat(budget / 2),
            "b".repeat(budget)
        );
        let search = Search {
            regex: &regex,
            context: 0,
            room: 10,
            from_line: 1,
        };
        let mut left = regex.byte_budget();
        let outcome = search.run(&text, &mut left);
        assert_eq!(outcome.found.len(), 1, "the y in the head is found");
        assert_eq!(outcome.stopped_at, Some(2));
        let z = GrepPattern::new("z").unwrap();
        let search = Search {
            regex: &z,
            context: 0,
            room: 10,
            from_line: 1,
        };
        let outcome = search.run(&text, &mut z.byte_budget());
        assert!(
            outcome.found.is_empty(),
            "the z past the budget is not searched"
        );
    }

    #[test]
    fn cursors_inside_a_note_are_never_paths() {
        let within = Cursor::within("notes/a b.md", 7);
        assert_eq!(
            Cursor::parse(&within),
            Cursor::Within {
                path: "notes/a b.md".to_owned(),
                line: 7
            }
        );
        assert_eq!(
            Cursor::parse("notes/x.md"),
            Cursor::After("notes/x.md".to_owned())
        );
        assert_eq!(Cursor::parse("\\x\\y"), Cursor::After("\\x\\y".to_owned()));
        assert_eq!(Cursor::parse(&within).after(), "notes/a b.md");
    }

    #[test]
    fn bad_and_huge_patterns_are_refused_with_the_limit() {
        let message = GrepPattern::new("(").unwrap_err().to_string();
        assert!(message.contains("invalid"), "{message}");
        let message = GrepPattern::new(&"a".repeat(1_001))
            .unwrap_err()
            .to_string();
        assert!(message.contains("1000 bytes"), "{message}");
        let message = GrepPattern::new("(a{1000}){1000}").unwrap_err().to_string();
        assert!(message.contains("262144 bytes"), "{message}");
        assert!(GrepPattern::new("(?i)TODO|fixme").is_ok());
    }

    /// Notes `name -> size`; the hash is the name's.
    fn files(notes: &[(&str, u64)]) -> impl Fn(&str) -> Option<(Hash, u64)> {
        let map: std::collections::BTreeMap<String, u64> =
            notes.iter().map(|(p, s)| ((*p).to_owned(), *s)).collect();
        move |path| map.get(path).map(|size| (Hash::of(path.as_bytes()), *size))
    }

    fn set(paths: &[&str]) -> BTreeSet<String> {
        paths.iter().map(|p| (*p).to_owned()).collect()
    }

    fn paths(batch: &Batch) -> Vec<(&str, usize)> {
        batch
            .0
            .iter()
            .map(|c| (c.path.as_str(), c.from_line))
            .collect()
    }

    /// Follows a narrowed grep's cursors to the end: every note scanned, in order, and how many
    /// calls it took.
    fn follow(
        narrowed: &BTreeSet<String>,
        lookup: &impl Fn(&str) -> Option<(Hash, u64)>,
        glob: Option<&Glob>,
        byte_budget: u64,
        steps: u64,
    ) -> (Vec<String>, usize) {
        let mut seen = Vec::new();
        let mut cursor: Option<Cursor> = None;
        for calls in 1..=10_000 {
            let (batch, next) = narrowed_batch(
                narrowed,
                lookup,
                glob,
                cursor.as_ref(),
                byte_budget,
                &mut WorkBudget::new(steps),
            );
            seen.extend(batch.into_iter().map(|c| c.path));
            match next {
                Some(next) => cursor = Some(Cursor::parse(&next)),
                None => return (seen, calls),
            }
        }
        panic!("no end");
    }

    #[test]
    fn a_narrowed_batch_is_the_candidates_that_exist_in_path_order() {
        let lookup = files(&[("a.md", 10), ("b.md", 10), ("c.md", 10), ("d.md", 10)]);
        let narrowed = set(&["gone.md", "d.md", "b.md"]);
        let batch = narrowed_batch(
            &narrowed,
            &lookup,
            None,
            None,
            1_000,
            &mut WorkBudget::per_call(),
        );
        assert_eq!(paths(&batch), [("b.md", 1), ("d.md", 1)]);
        assert_eq!(batch.1, None);
        assert_eq!(batch.0[0].hash, Hash::of(b"b.md"));
        // After a cursor (a path that need not be a candidate), and inside a note.
        let after = Cursor::parse("c.md");
        let batch = narrowed_batch(
            &narrowed,
            &lookup,
            None,
            Some(&after),
            1_000,
            &mut WorkBudget::per_call(),
        );
        assert_eq!(paths(&batch), [("d.md", 1)]);
        let within = Cursor::parse(&Cursor::within("b.md", 7));
        let batch = narrowed_batch(
            &narrowed,
            &lookup,
            None,
            Some(&within),
            1_000,
            &mut WorkBudget::per_call(),
        );
        assert_eq!(paths(&batch), [("b.md", 7), ("d.md", 1)]);
        // A note the cursor is inside is searched on even if it is no longer a candidate,
        // and not if it is gone.
        let within = Cursor::parse(&Cursor::within("a.md", 3));
        let batch = narrowed_batch(
            &narrowed,
            &lookup,
            None,
            Some(&within),
            1_000,
            &mut WorkBudget::per_call(),
        );
        assert_eq!(paths(&batch), [("a.md", 3), ("b.md", 1), ("d.md", 1)]);
        let within = Cursor::parse(&Cursor::within("gone.md", 3));
        let batch = narrowed_batch(
            &narrowed,
            &lookup,
            None,
            Some(&within),
            1_000,
            &mut WorkBudget::per_call(),
        );
        assert_eq!(batch, (Vec::new(), None));
    }

    #[test]
    fn a_narrowed_batch_stops_at_max_notes_and_the_byte_budget() {
        let names: Vec<String> = (0..2_000).map(|i| format!("n/{i:04}.md")).collect();
        let sized: Vec<(&str, u64)> = names.iter().map(|n| (n.as_str(), 100)).collect();
        let lookup = files(&sized);
        let narrowed: BTreeSet<String> = names.iter().step_by(2).cloned().collect();
        let (batch, next) = narrowed_batch(
            &narrowed,
            &lookup,
            None,
            None,
            u64::MAX,
            &mut WorkBudget::per_call(),
        );
        assert_eq!(batch.len(), MAX_NOTES);
        assert_eq!(next.as_deref(), Some(batch[MAX_NOTES - 1].path.as_str()));
        let (seen, calls) = follow(&narrowed, &lookup, None, u64::MAX, u64::MAX);
        assert_eq!(
            (seen, calls),
            (narrowed.iter().cloned().collect::<Vec<_>>(), 2)
        );
        // 250 bytes: two notes of 100 a call.
        let (batch, next) = narrowed_batch(
            &narrowed,
            &lookup,
            None,
            None,
            250,
            &mut WorkBudget::per_call(),
        );
        assert_eq!(
            paths(&(batch, next.clone())),
            [("n/0000.md", 1), ("n/0002.md", 1)]
        );
        assert_eq!(next.as_deref(), Some("n/0002.md"));
        // A note larger than the whole budget is still taken, alone.
        let (batch, next) = narrowed_batch(
            &narrowed,
            &lookup,
            None,
            None,
            50,
            &mut WorkBudget::per_call(),
        );
        assert_eq!((batch.len(), next.as_deref()), (1, Some("n/0000.md")));
        let (seen, calls) = follow(&narrowed, &lookup, None, 50, u64::MAX);
        assert_eq!((seen.len(), calls), (1_000, 1_000));
    }

    #[test]
    fn a_narrowed_batch_keeps_to_the_glob_within_its_work_budget() {
        let names: Vec<String> = (0..300)
            .map(|i| format!("{}/{i:03}.md", ["log", "other", "log/deep"][i % 3]))
            .collect();
        let sized: Vec<(&str, u64)> = names.iter().map(|n| (n.as_str(), 10)).collect();
        let lookup = files(&sized);
        let narrowed: BTreeSet<String> = names.iter().cloned().collect();
        let glob = Glob::new("log/*.md").unwrap();
        let want: Vec<String> = narrowed
            .iter()
            .filter(|p| glob.is_match(p))
            .cloned()
            .collect();
        assert_eq!(want.len(), 100);
        let (seen, calls) = follow(&narrowed, &lookup, Some(&glob), u64::MAX, u64::MAX);
        assert_eq!((&seen, calls), (&want, 1));
        // A budget for a few paths a call: more calls, the same notes, each once.
        let mut spent = WorkBudget::new(u64::MAX);
        glob.matches("other/000.md", &mut spent);
        let steps = (u64::MAX - spent.left()) * 3;
        let (seen, calls) = follow(&narrowed, &lookup, Some(&glob), u64::MAX, steps);
        assert_eq!(seen, want);
        assert!(calls > 10, "{calls} calls");
        // A cursor inside a note goes on there if the glob selects it, and skips it if not.
        let within = Cursor::parse(&Cursor::within("log/003.md", 2));
        let batch = narrowed_batch(
            &narrowed,
            &lookup,
            Some(&glob),
            Some(&within),
            u64::MAX,
            &mut WorkBudget::per_call(),
        );
        assert_eq!(paths(&batch)[..2], [("log/003.md", 2), ("log/006.md", 1)]);
        let within = Cursor::parse(&Cursor::within("log/deep/002.md", 2));
        let batch = narrowed_batch(
            &narrowed,
            &lookup,
            Some(&glob),
            Some(&within),
            u64::MAX,
            &mut WorkBudget::per_call(),
        );
        assert_eq!(batch, (Vec::new(), None));
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
