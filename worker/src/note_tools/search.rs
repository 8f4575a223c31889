//! `search`: ranked full-text search, a page at a time, each hit with a snippet.
//!
//! Notes replayed without their text (after a restart, or reverted) are indexed first, their
//! text fetched from R2, at most [`INDEX_PER_CALL`] per call so a call stays within a
//! request's subrequest budget. While notes are still waiting, search refuses with a message
//! saying so (and how far it got) rather than answer from part of the notes; each call makes
//! progress. Pages follow the engine's own cursor (the last hit's score and path, as an opaque
//! token), so every hit of a query can be paged through, however many there are.

use engine::files::FileEntry;
use engine::search::SearchCursor;
use engine::{Hash, NotePath};
use futures::future::join_all;
use serde_json::json;

use super::{Notes, ToolFailure, ToolResult, text};
use crate::blobs::GetBlobError;
use crate::mcp::tool_call::SearchArgs;

/// Blobs fetched at once when indexing or making snippets.
const FETCH_CONCURRENCY: usize = 16;
/// The most notes one call indexes (each is one R2 read).
const INDEX_PER_CALL: usize = 500;
/// Bytes of text shown before and after the first match in a snippet.
const SNIPPET_BEFORE: usize = 60;
const SNIPPET_AFTER: usize = 140;

pub(super) async fn run(notes: &Notes<'_>, args: SearchArgs) -> ToolResult {
    let after = match &args.cursor {
        None => None,
        Some(token) => Some(SearchCursor::from_token(token).map_err(|err| {
            ToolFailure::Refused(format!(
                "cursor {token:?} is not a next_cursor this tool returned ({err})"
            ))
        })?),
    };
    let limit = usize::try_from(args.limit).unwrap_or(usize::MAX);
    index_all(notes).await?;
    let (hits, next) = ranked(notes, &args.query, limit, after.as_ref()).await?;
    let results: Vec<_> = hits
        .iter()
        .map(|hit| {
            json!({
                "path": hit.path.as_str(),
                "version": hit.entry.version,
                "score": hit.score,
                "snippet": hit.snippet,
            })
        })
        .collect();
    Ok(json!({
        "results": results,
        "next_cursor": next.map(|cursor| cursor.to_token()),
    }))
}

/// One search hit: the note as the index has it now, its score and a snippet.
#[derive(Debug)]
pub(crate) struct RankedHit {
    /// The note.
    pub(crate) path: NotePath,
    /// Its current entry.
    pub(crate) entry: FileEntry,
    /// Its score.
    pub(crate) score: f32,
    /// Text around the first match (empty when the text could not be read).
    pub(crate) snippet: String,
}

/// Indexes what the search index lacks, and refuses, saying how far it got, while notes are
/// still waiting: search never answers from part of the notes. Each call makes progress.
pub(crate) async fn index_all(notes: &Notes<'_>) -> Result<(), ToolFailure> {
    let (indexed, waiting) = index_pending(notes).await?;
    if waiting > 0 {
        return Err(ToolFailure::Refused(format!(
            "search is still indexing notes after a restart: {indexed} indexed by this call, \
             {waiting} still waiting; call search again to continue"
        )));
    }
    Ok(())
}

/// One page of hits for `query`, best first, each with a snippet, and the cursor of the next
/// page. Call [`index_all`] first.
pub(crate) async fn ranked(
    notes: &Notes<'_>,
    query: &str,
    limit: usize,
    after: Option<&SearchCursor>,
) -> Result<(Vec<RankedHit>, Option<SearchCursor>), ToolFailure> {
    let (hits, next) = notes
        .with(|store| {
            let page = store.search(query, limit, after)?;
            let notes = store.notes();
            let mut hits: Vec<(NotePath, FileEntry, f32)> = Vec::with_capacity(page.hits.len());
            for hit in page.hits {
                if let Some(entry) = notes.file(&hit.path)?
                    && let Ok(path) = NotePath::new(hit.path)
                {
                    hits.push((path, entry, hit.score));
                }
            }
            Ok::<_, engine::StorageError>((hits, page.next))
        })?
        .map_err(|err| ToolFailure::Internal(err.to_string()))?;
    let mut results = Vec::with_capacity(hits.len());
    for chunk in hits.chunks(FETCH_CONCURRENCY) {
        let texts = join_all(
            chunk
                .iter()
                .map(|(_, entry, _)| notes.blobs.get(entry.hash, true)),
        )
        .await;
        for ((path, entry, score), fetched) in chunk.iter().zip(texts) {
            let snippet = match fetched {
                Ok(bytes) => snippet(&text(bytes), query),
                Err(_) => String::new(),
            };
            results.push(RankedHit {
                path: path.clone(),
                entry: entry.clone(),
                score: *score,
                snippet,
            });
        }
    }
    Ok((results, next))
}

/// Feeds the text of up to [`INDEX_PER_CALL`] notes the search index lacks to the engine;
/// returns how many it indexed and how many still wait. A note whose blob is missing or
/// damaged is indexed by its path alone (and logged), so it cannot hold search up forever; a
/// note whose read failed stays waiting. Stops between batches when the call was cancelled.
pub(crate) async fn index_pending(notes: &Notes<'_>) -> Result<(usize, usize), ToolFailure> {
    let pending: Vec<(String, Hash)> = notes
        .with(|store| store.unindexed(INDEX_PER_CALL))?
        .map_err(|err| ToolFailure::Internal(err.to_string()))?
        .into_iter()
        .map(|(path, entry)| (path.to_string(), entry.hash))
        .collect();
    let mut indexed = 0;
    let mut done = 0u64;
    let total = pending.len() as u64;
    for chunk in pending.chunks(FETCH_CONCURRENCY) {
        notes.check_cancelled()?;
        let fetched = join_all(chunk.iter().map(|(_, hash)| notes.blobs.get(*hash, false))).await;
        notes.with(|store| {
            for ((path, hash), bytes) in chunk.iter().zip(fetched) {
                let content = match bytes {
                    Ok(bytes) => bytes,
                    Err(err) => {
                        worker::console_error!(
                            "{}",
                            json!({"msg": "index_fetch_failed", "error": err.to_string()})
                        );
                        match err {
                            GetBlobError::Storage { .. } => continue,
                            GetBlobError::Missing(_) | GetBlobError::Corrupt { .. } => Vec::new(),
                        }
                    }
                };
                match store.index_text(path, *hash, &content) {
                    Ok(true) => indexed += 1,
                    Ok(false) => {}
                    Err(err) => return Err(ToolFailure::Internal(err.to_string())),
                }
            }
            Ok(())
        })??;
        done += chunk.len() as u64;
        notes.control.progress(
            done,
            total,
            &format!("indexed {done} of {total} notes waiting for search"),
        );
        notes.step_done().await;
    }
    let waiting = notes
        .with(|store| store.search_work())?
        .map_err(|err| ToolFailure::Internal(err.to_string()))?
        .waiting;
    Ok((indexed, usize::try_from(waiting).unwrap_or(usize::MAX)))
}

/// A short extract of `text` around the first word of `query` it contains (or its start),
/// with runs of whitespace shown as one space.
fn snippet(text: &str, query: &str) -> String {
    let lower = text.to_lowercase();
    // Offsets in the lower-cased text are offsets in the text only when lower-casing kept
    // every length; otherwise the snippet starts at the beginning.
    let found = (lower.len() == text.len())
        .then(|| {
            query
                .split_whitespace()
                .filter_map(|word| lower.find(&word.to_lowercase()))
                .min()
        })
        .flatten()
        .unwrap_or(0);
    let mut start = found.saturating_sub(SNIPPET_BEFORE);
    while !text.is_char_boundary(start) {
        start -= 1;
    }
    let mut end = found.saturating_add(SNIPPET_AFTER).min(text.len());
    while !text.is_char_boundary(end) {
        end += 1;
    }
    let mut out = String::new();
    if start > 0 {
        out.push('…');
    }
    out.push_str(
        &text[start..end]
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" "),
    );
    if end < text.len() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snippets_show_the_first_match_in_context() {
        let text = format!(
            "{}needle in\n\nthe haystack{}",
            "x ".repeat(100),
            " y".repeat(100)
        );
        let s = snippet(&text, "Needle");
        assert!(s.starts_with('…') && s.ends_with('…'), "{s}");
        assert!(s.contains("needle in the haystack"), "{s}");
        assert_eq!(snippet("short note", "absent"), "short note");
        assert_eq!(snippet("", "x"), "");
    }

    #[test]
    fn snippets_never_split_a_character() {
        let text = "é".repeat(200);
        let s = snippet(&text, "é");
        assert!(s.chars().all(|c| c == 'é' || c == '…'));
    }
}
