//! `prompts/get`: gathers what a prompt embeds from the user's notes (recently changed notes
//! from the file index; top search hits with snippets) and has [`crate::mcp::prompts`] write
//! the messages.

use engine::Timestamp;
use engine::files::MAX_PAGE;
use serde_json::{Map, Value};

use crate::mcp::jsonrpc::ErrorObject;
use crate::mcp::prompts::{self, ChangedNote, Hit, PromptRequest};
use crate::mcp::version::ProtocolVersion;
use crate::note_resources::summary;
use crate::note_tools::{Notes, ToolFailure, index_all, ranked};

/// The most changed notes `weekly-review` lists; the rest are counted.
const REVIEW_MAX_LISTED: usize = 200;
/// How many search hits `research-summary` embeds.
const RESEARCH_HITS: usize = 10;
const DAY_MS: u64 = 86_400_000;

/// `prompts/get`.
pub(crate) async fn get(
    notes: &Notes<'_>,
    version: ProtocolVersion,
    params: Option<&Map<String, Value>>,
) -> Result<Value, ErrorObject> {
    let failed = |failure: ToolFailure| failure.into_protocol_error("prompts/get");
    match PromptRequest::parse(params).map_err(|err| err.to_error())? {
        PromptRequest::CaptureNote { text, topic } => {
            Ok(prompts::capture_note(&text, topic.as_deref()))
        }
        PromptRequest::WeeklyReview { days } => {
            let since = Timestamp(notes.now.0.saturating_sub(u64::from(days) * DAY_MS));
            let (changed, more) = changed_since(notes, since).map_err(failed)?;
            Ok(prompts::weekly_review(days, &changed, more))
        }
        PromptRequest::ResearchSummary { topic } => {
            index_all(notes).await.map_err(failed)?;
            let (hits, _) = ranked(notes, &topic, RESEARCH_HITS, None)
                .await
                .map_err(failed)?;
            let hits: Vec<Hit> = hits
                .into_iter()
                .map(|hit| Hit {
                    note: summary(&hit.path, &hit.entry),
                    version: hit.entry.version,
                    snippet: hit.snippet,
                })
                .collect();
            Ok(prompts::research_summary(version, &topic, &hits))
        }
    }
}

/// The notes changed at or after `since`, newest first: at most [`REVIEW_MAX_LISTED`], and
/// how many more there are. Walks the index by seq, newest first, and stops at the first
/// older note: a note's `modified` is the time of the event with its seq.
fn changed_since(
    notes: &Notes<'_>,
    since: Timestamp,
) -> Result<(Vec<ChangedNote>, usize), ToolFailure> {
    notes.with(|store| {
        let mut changed = Vec::new();
        let mut more = 0;
        let mut before = None;
        loop {
            let page = store.notes().recent(before, MAX_PAGE)?;
            for (path, entry) in &page {
                if entry.modified < since {
                    return Ok((changed, more));
                }
                if changed.len() < REVIEW_MAX_LISTED {
                    changed.push(ChangedNote {
                        note: summary(path, entry),
                        version: entry.version,
                    });
                } else {
                    more += 1;
                }
            }
            match page.last() {
                Some((_, last)) if page.len() == MAX_PAGE => before = Some(last.seq),
                _ => return Ok((changed, more)),
            }
        }
    })?
}
