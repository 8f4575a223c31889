//! The user's notes as MCP resources: `resources/list` pages from the file index and
//! `resources/read` from R2 (blake3-verified, as the `read` tool reads), shaped by
//! [`crate::mcp::resources`].
//!
//! Listing never stops early: pages follow the engine's listing cursor (the last path of the
//! previous page), so a client following `nextCursor` sees every note exactly once however
//! the pages are cut, and notes written between pages appear if they sort after the cursor.

use engine::files::FileEntry;
use engine::{Hash, NotePath, Store};
use serde_json::{Map, Value};

use crate::do_storage::DoStorage;
use crate::mcp::jsonrpc::ErrorObject;
use crate::mcp::resources::{self, ListCursor, NoteSummary, NoteUri, PAGE_SIZE, ReadError};
use crate::mcp::version::ProtocolVersion;
use crate::note_tools::{Notes, ToolFailure, rfc3339, text};

/// `resources/list`: one page of notes in path order.
pub(crate) fn list(
    notes: &Notes<'_>,
    version: ProtocolVersion,
    params: Option<&Map<String, Value>>,
) -> Result<Value, ErrorObject> {
    let after = resources::list_params(params).map_err(|err| err.to_error())?;
    let (page, next) = notes
        .with(|store| {
            let page = store
                .notes()
                .list(after.as_ref().map(|cursor| cursor.0.as_str()), PAGE_SIZE)?;
            let next = page
                .next
                .as_ref()
                .and(page.items.last())
                .map(|(path, _)| ListCursor(path.clone()));
            let items: Vec<NoteSummary> = page
                .items
                .iter()
                .map(|(path, entry)| summary(path, entry))
                .collect();
            Ok::<_, ToolFailure>((items, next))
        })
        .and_then(|listed| listed)
        .map_err(|failure| failure.into_protocol_error("resources/list"))?;
    Ok(resources::list_result(version, &page, next.as_ref()))
}

/// `resources/read`: a note's current text, or a past version's.
pub(crate) async fn read(
    notes: &Notes<'_>,
    version: ProtocolVersion,
    params: Option<&Map<String, Value>>,
) -> Result<Value, ErrorObject> {
    let (sent, uri) = resources::read_params(params).map_err(|err| err.to_error(version))?;
    let hash = notes
        .with(|store| locate(store, &uri))
        .and_then(|located| located.map_err(ToolFailure::from))
        .map_err(|failure| failure.into_protocol_error("resources/read"))?
        .map_err(|detail| ReadError::NotFound { uri: sent, detail }.to_error(version))?;
    let bytes = notes
        .blob(hash)
        .await
        .map_err(|failure| failure.into_protocol_error("resources/read"))?;
    Ok(resources::read_result(version, &uri, text(bytes)))
}

/// What the file index says of a note, for its `Resource`.
pub(crate) fn summary(path: &NotePath, entry: &FileEntry) -> NoteSummary {
    NoteSummary {
        path: path.clone(),
        size: entry.size,
        modified: rfc3339(entry.modified),
    }
}

/// The blob holding the text `uri` names, or why there is none.
fn locate(
    store: &Store<DoStorage>,
    uri: &NoteUri,
) -> Result<Result<Hash, String>, engine::StorageError> {
    let path = &uri.path;
    let notes = store.notes();
    Ok(match uri.version {
        None => notes
            .file(path.as_str())?
            .map(|entry| entry.hash)
            .ok_or_else(|| format!("{path}: no such note")),
        Some(version) => match notes.version(path.as_str(), version)? {
            None => Err(format!(
                "{path} has no version {version}; the history tool lists its versions"
            )),
            Some(found) => found.content.as_ref().map(|c| c.hash).ok_or_else(|| {
                format!("version {version} of {path} is a deletion or a move away; it has no text")
            }),
        },
    })
}
