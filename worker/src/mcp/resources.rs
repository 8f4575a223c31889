//! Notes as MCP resources: their URIs, the `resources/list`, `resources/read` and
//! `resources/templates/list` params and results, per protocol version.
//!
//! # URIs
//! A note's URI is `note:///` followed by its path, each segment percent-encoded (RFC 3986:
//! every byte outside the unreserved set `A-Z a-z 0-9 - . _ ~` becomes `%XX`), so spaces,
//! `?`, `#` and non-ASCII text round-trip and `/` only ever separates folders:
//! `my notes/été.md` is `note:///my%20notes/%C3%A9t%C3%A9.md`. A past version adds
//! `?version=N` ([`NoteUri`]). Parsing is strict: another scheme, a host, a fragment, a
//! character that should have been escaped, an encoded `/`, an unknown query parameter or a
//! path the engine refuses is a typed [`UriError`], answered with -32602.
//!
//! # What each version gets
//! `Resource` has `uri`, `name` (the note's path), `mimeType` and `size` in every version;
//! `title` (the file name) from 2025-06-18, with `annotations.lastModified`. In 2026-07-28 list
//! and read results carry `ttlMs` and `cacheScope` (caching page): notes are the user's own,
//! so `private`; a note's current text or the list may change at any moment, so `ttlMs` is 0,
//! while a past version never changes. The template list is the same for every user
//! (`public`). Pass results through [`super::lifecycle::finish_result`] for `resultType`.
//!
//! Specification: `server/resources` and `server/utilities/pagination` of each revision,
//! <https://modelcontextprotocol.io/specification/2024-11-05/server/resources>,
//! <https://modelcontextprotocol.io/specification/2025-03-26/server/resources>,
//! <https://modelcontextprotocol.io/specification/2025-06-18/server/resources>,
//! <https://modelcontextprotocol.io/specification/2025-11-25/server/resources>,
//! <https://modelcontextprotocol.io/specification/2026-07-28/server/resources>,
//! <https://modelcontextprotocol.io/specification/2026-07-28/server/utilities/caching>.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use engine::NotePath;
use engine::path::PathError;
use serde::Serialize;
use serde_json::{Map, Value, json};
use thiserror::Error;

use super::jsonrpc::ErrorObject;
use super::lifecycle::LIST_TTL_MS;
use super::pagination::{self, CursorError};
use super::version::ProtocolVersion;

/// What every note URI starts with: the `note` scheme with an empty authority.
pub const NOTE_URI_PREFIX: &str = "note:///";
/// Notes per `resources/list` page.
pub const PAGE_SIZE: usize = 100;
/// How long a past version's text may be cached (2026-07-28 `ttlMs`): it never changes.
pub const PAST_VERSION_TTL_MS: u64 = 86_400_000;
/// The template of a note's URI (RFC 6570 reserved expansion keeps the `/`s).
pub const NOTE_TEMPLATE: &str = "note:///{+path}";
/// The template of a past version's URI.
pub const NOTE_VERSION_TEMPLATE: &str = "note:///{+path}{?version}";

/// The media type of a note, from its file name: `text/markdown` for `.md` and `.markdown`
/// (any case), `text/plain` otherwise.
pub fn mime_type(path: &str) -> &'static str {
    let name = path.rsplit('/').next().unwrap_or(path);
    match name.rsplit_once('.').map(|(_, ext)| ext) {
        Some(ext) if ext.eq_ignore_ascii_case("md") || ext.eq_ignore_ascii_case("markdown") => {
            "text/markdown"
        }
        _ => "text/plain",
    }
}

/// A note URI: a note, or one version of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteUri {
    /// The note.
    pub path: NotePath,
    /// A past version (from 1), or `None` for the current text.
    pub version: Option<u64>,
}

/// Why a string is not a note URI. Each message says what a good one looks like.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum UriError {
    /// Another scheme, or no `//` after `note:`.
    #[error("not a note URI: it must start with {NOTE_URI_PREFIX}, e.g. note:///ideas/plan.md")]
    NotNote,
    /// A host between `note://` and the path.
    #[error("note URIs have no host: write note:///<path>, not note://{host}/...")]
    Host {
        /// The host as written.
        host: String,
    },
    /// A `#fragment`.
    #[error("note URIs have no fragment ('#'); percent-encode a '#' in a name as %23")]
    Fragment,
    /// A character that must be percent-encoded.
    #[error("the character {found:?} at byte {at} must be percent-encoded")]
    Character {
        /// The character.
        found: char,
        /// Its byte offset in the URI.
        at: usize,
    },
    /// A `%` that does not start `%XX`.
    #[error("the '%' at byte {at} does not start a %XX escape")]
    Escape {
        /// Its byte offset in the URI.
        at: usize,
    },
    /// `%2F`: a `/` inside a segment.
    #[error("an encoded '/' (%2F) is not allowed: '/' separates folders and is written as is")]
    EncodedSlash,
    /// The decoded path is not UTF-8.
    #[error("the percent-decoded path is not UTF-8")]
    NotUtf8,
    /// The decoded path is not a valid note path.
    #[error("not a valid note path: {0}")]
    Path(#[from] PathError),
    /// A query parameter other than `version`.
    #[error("unknown query parameter {0:?}; the only one is version")]
    UnknownQuery(String),
    /// A `version` that is not an integer from 1, or that is given twice.
    #[error("version {0:?} is not a version number (an integer from 1, given once)")]
    Version(String),
}

impl NoteUri {
    /// The URI of `path`'s current text.
    pub fn current(path: NotePath) -> Self {
        NoteUri {
            path,
            version: None,
        }
    }

    /// Parses a note URI strictly (see the module docs).
    pub fn parse(uri: &str) -> Result<Self, UriError> {
        let (scheme, rest) = uri.split_once(':').ok_or(UriError::NotNote)?;
        if !scheme.eq_ignore_ascii_case("note") {
            return Err(UriError::NotNote);
        }
        let after_slashes = rest.strip_prefix("//").ok_or(UriError::NotNote)?;
        let offset = uri.len() - after_slashes.len();
        let (host, _) = after_slashes
            .split_once(['/', '?', '#'])
            .unwrap_or((after_slashes, ""));
        if !host.is_empty() {
            return Err(UriError::Host {
                host: host.to_owned(),
            });
        }
        if uri.contains('#') {
            return Err(UriError::Fragment);
        }
        let (path, query) = match after_slashes.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (after_slashes, None),
        };
        // `path` starts with the '/' that ends the (empty) authority, or is empty.
        let encoded = path.strip_prefix('/').unwrap_or(path);
        let decoded = decode(encoded, offset + (path.len() - encoded.len()))?;
        let path = NotePath::existing(decoded)?;
        let version = match query {
            None => None,
            Some(query) => Some(parse_version_query(query)?),
        };
        Ok(NoteUri { path, version })
    }
}

/// The canonical form: `note:///` + encoded segments (+ `?version=N`).
impl fmt::Display for NoteUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(NOTE_URI_PREFIX)?;
        for (i, segment) in self.path.as_str().split('/').enumerate() {
            if i > 0 {
                f.write_str("/")?;
            }
            for &byte in segment.as_bytes() {
                if is_unreserved(byte) {
                    write!(f, "{}", char::from(byte))?;
                } else {
                    write!(f, "%{byte:02X}")?;
                }
            }
        }
        if let Some(version) = self.version {
            write!(f, "?version={version}")?;
        }
        Ok(())
    }
}

/// RFC 3986 `unreserved`.
fn is_unreserved(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~')
}

/// What may appear unescaped in a path: `pchar` (unreserved, sub-delims, `:` and `@`) and `/`.
fn is_path_char(byte: u8) -> bool {
    is_unreserved(byte) || b"!$&'()*+,;=:@/".contains(&byte)
}

/// Percent-decodes a URI path that starts at byte `offset` of the URI.
fn decode(encoded: &str, offset: usize) -> Result<String, UriError> {
    let bytes = encoded.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let byte = bytes[i];
        if byte == b'%' {
            let decoded = match bytes.get(i + 1..i + 3) {
                Some(&[high, low]) => hex_digit(high).zip(hex_digit(low)),
                _ => None,
            };
            match decoded {
                Some((high, low)) if high << 4 | low == b'/' => {
                    return Err(UriError::EncodedSlash);
                }
                Some((high, low)) => out.push(high << 4 | low),
                None => return Err(UriError::Escape { at: offset + i }),
            }
            i += 3;
        } else if is_path_char(byte) {
            out.push(byte);
            i += 1;
        } else {
            let found = encoded[i..].chars().next().unwrap_or('\u{fffd}');
            return Err(UriError::Character {
                found,
                at: offset + i,
            });
        }
    }
    String::from_utf8(out).map_err(|_| UriError::NotUtf8)
}

/// The value of one hex digit.
fn hex_digit(byte: u8) -> Option<u8> {
    char::from(byte)
        .to_digit(16)
        .and_then(|digit| u8::try_from(digit).ok())
}

/// Reads `version=N`, the only query a note URI has.
fn parse_version_query(query: &str) -> Result<u64, UriError> {
    let mut version = None;
    for pair in query.split('&') {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        if name != "version" {
            return Err(UriError::UnknownQuery(name.to_owned()));
        }
        let parsed = value
            .bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| value.parse::<u64>().ok())
            .flatten()
            .filter(|v| *v >= 1);
        match (parsed, version) {
            (Some(parsed), None) => version = Some(parsed),
            _ => return Err(UriError::Version(value.to_owned())),
        }
    }
    version.ok_or_else(|| UriError::Version(String::new()))
}

/// The `resources/list` cursor: the last path of the previous page (the engine's listing
/// cursor), wrapped so clients see an opaque, never-empty token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListCursor(pub NotePath);

impl ListCursor {
    const PREFIX: &'static str = "n1.";

    /// The token sent as `nextCursor`.
    pub fn to_token(&self) -> String {
        format!(
            "{}{}",
            Self::PREFIX,
            URL_SAFE_NO_PAD.encode(self.0.as_str())
        )
    }

    /// Reads a token made by [`ListCursor::to_token`].
    pub fn from_token(token: &str) -> Result<Self, CursorError> {
        let not_issued = || CursorError::NotIssued {
            method: "resources/list",
            cursor: token.to_owned(),
        };
        let encoded = token.strip_prefix(Self::PREFIX).ok_or_else(not_issued)?;
        let bytes = URL_SAFE_NO_PAD.decode(encoded).map_err(|_| not_issued())?;
        let path = String::from_utf8(bytes).map_err(|_| not_issued())?;
        NotePath::existing(path)
            .map(ListCursor)
            .map_err(|_| not_issued())
    }
}

/// The params of `resources/list`: where to start (`None`: at the first note).
pub fn list_params(params: Option<&Map<String, Value>>) -> Result<Option<ListCursor>, CursorError> {
    pagination::cursor("resources/list", params)?
        .map(ListCursor::from_token)
        .transpose()
}

/// What the file index says about a note, for its `Resource`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSummary {
    /// The note.
    pub path: NotePath,
    /// Its size in bytes.
    pub size: u64,
    /// When it last changed, RFC 3339.
    pub modified: String,
}

/// `Annotations`, as far as we use them (2025-06-18 on).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Annotations {
    /// When the note last changed (ISO 8601).
    pub last_modified: String,
}

/// A `Resource` (also the body of a `resource_link` content block).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Resource {
    /// The note's URI.
    pub uri: String,
    /// The note's path.
    pub name: String,
    /// The file name (2025-06-18 on).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// `text/markdown` or `text/plain`.
    pub mime_type: &'static str,
    /// Bytes.
    pub size: u64,
    /// `lastModified` (2025-06-18 on).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annotations: Option<Annotations>,
}

impl Resource {
    /// The resource for `note` as `version` shapes it.
    pub fn note(version: ProtocolVersion, note: &NoteSummary) -> Self {
        let path = note.path.as_str();
        let file_name = path.rsplit('/').next().unwrap_or(path);
        Resource {
            uri: NoteUri::current(note.path.clone()).to_string(),
            name: path.to_owned(),
            title: version.has_titles().then(|| file_name.to_owned()),
            mime_type: mime_type(path),
            size: note.size,
            annotations: version.has_resource_links().then(|| Annotations {
                last_modified: note.modified.clone(),
            }),
        }
    }
}

/// The result of `resources/list`: one page of notes, and the cursor of the next.
pub fn list_result(
    version: ProtocolVersion,
    notes: &[NoteSummary],
    next: Option<&ListCursor>,
) -> Value {
    let resources: Vec<Resource> = notes
        .iter()
        .map(|note| Resource::note(version, note))
        .collect();
    let mut result = json!({ "resources": resources });
    if let Some(next) = next {
        result["nextCursor"] = json!(next.to_token());
    }
    cacheable(version, result, 0, "private")
}

/// Why `resources/read` failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ReadError {
    /// No `uri`, or not a string.
    #[error("resources/read: \"uri\" is required and must be a string")]
    NoUri,
    /// `uri` is not a note URI.
    #[error("resources/read: {uri:?} is not a note URI: {source}")]
    BadUri {
        /// The URI as sent.
        uri: String,
        /// Why.
        source: UriError,
    },
    /// No note, or no such version, or a version without text (a deletion or a move away).
    #[error("Resource not found: {detail}")]
    NotFound {
        /// The URI as sent.
        uri: String,
        /// What is missing, for people.
        detail: String,
    },
}

impl ReadError {
    /// The JSON-RPC error for `version`: -32602, or for a missing resource the version's
    /// resource-not-found code, with the URI in `data`.
    pub fn to_error(&self, version: ProtocolVersion) -> ErrorObject {
        match self {
            ReadError::NoUri | ReadError::BadUri { .. } => ErrorObject::invalid_params(self),
            ReadError::NotFound { uri, .. } => {
                ErrorObject::new(version.resource_not_found_code(), self.to_string())
                    .with_data(json!({ "uri": uri }))
            }
        }
    }
}

/// The params of `resources/read`: the URI as sent, and what it names.
pub fn read_params(params: Option<&Map<String, Value>>) -> Result<(String, NoteUri), ReadError> {
    let uri = params
        .and_then(|params| params.get("uri"))
        .and_then(Value::as_str)
        .ok_or(ReadError::NoUri)?;
    NoteUri::parse(uri)
        .map(|parsed| (uri.to_owned(), parsed))
        .map_err(|source| ReadError::BadUri {
            uri: uri.to_owned(),
            source,
        })
}

/// Why `resources/subscribe` or `resources/unsubscribe` params name no note: -32602.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SubscriptionError {
    /// No `uri`, or not a string.
    #[error("\"uri\" is required and must be a string")]
    NoUri,
    /// `uri` is not a note URI.
    #[error("{uri:?} is not a note URI: {source}")]
    BadUri {
        /// The URI as sent.
        uri: String,
        /// Why.
        source: UriError,
    },
    /// A past version's URI: it never changes, so there is nothing to watch.
    #[error(
        "{uri:?} names a past version, which never changes; subscribe to the note's URI without ?version"
    )]
    Version {
        /// The URI as sent.
        uri: String,
    },
}

impl SubscriptionError {
    /// The JSON-RPC error: -32602.
    pub fn to_error(&self) -> ErrorObject {
        ErrorObject::invalid_params(self)
    }
}

/// The note that `resources/subscribe` or `resources/unsubscribe` params name. The note
/// need not exist: a client may watch a path before anything is written there.
pub fn subscription_params(
    params: Option<&Map<String, Value>>,
) -> Result<NotePath, SubscriptionError> {
    let uri = params
        .and_then(|params| params.get("uri"))
        .and_then(Value::as_str)
        .ok_or(SubscriptionError::NoUri)?;
    let parsed = NoteUri::parse(uri).map_err(|source| SubscriptionError::BadUri {
        uri: uri.to_owned(),
        source,
    })?;
    match parsed.version {
        None => Ok(parsed.path),
        Some(_) => Err(SubscriptionError::Version {
            uri: uri.to_owned(),
        }),
    }
}

/// The result of `resources/read`: the text of what `uri` names, under its canonical URI.
pub fn read_result(version: ProtocolVersion, uri: &NoteUri, text: String) -> Value {
    let result = json!({
        "contents": [{
            "uri": uri.to_string(),
            "mimeType": mime_type(uri.path.as_str()),
            "text": text,
        }]
    });
    let ttl = if uri.version.is_some() {
        PAST_VERSION_TTL_MS
    } else {
        0
    };
    cacheable(version, result, ttl, "private")
}

/// A `ResourceTemplate`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceTemplate {
    /// RFC 6570 template.
    pub uri_template: &'static str,
    /// Programmatic name.
    pub name: &'static str,
    /// Display name (2025-06-18 on).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<&'static str>,
    /// What it is for.
    pub description: &'static str,
}

/// Our templates as `version` shapes them.
pub fn templates(version: ProtocolVersion) -> Vec<ResourceTemplate> {
    let titled = |title| version.has_titles().then_some(title);
    vec![
        ResourceTemplate {
            uri_template: NOTE_TEMPLATE,
            name: "note",
            title: titled("Note"),
            description: "A note's current text, by path, e.g. note:///projects/garden.md. \
                Each path segment is percent-encoded (a space is %20); resources/list gives \
                every note's URI.",
        },
        ResourceTemplate {
            uri_template: NOTE_VERSION_TEMPLATE,
            name: "note-version",
            title: titled("Note version"),
            description: "A past version of a note, e.g. note:///projects/garden.md?version=2. \
                Versions count from 1; the history tool lists a note's versions.",
        },
    ]
}

/// The result of `resources/templates/list`: every template on one page.
pub fn templates_result(
    version: ProtocolVersion,
    params: Option<&Map<String, Value>>,
) -> Result<Value, CursorError> {
    pagination::single_page("resources/templates/list", params)?;
    let result = json!({ "resourceTemplates": templates(version) });
    Ok(cacheable(version, result, LIST_TTL_MS, "public"))
}

/// Adds 2026-07-28's caching hints to `result`; other versions' results are unchanged.
pub(super) fn cacheable(
    version: ProtocolVersion,
    mut result: Value,
    ttl_ms: u64,
    scope: &str,
) -> Value {
    if version.has_cacheable_lists() {
        result["ttlMs"] = json!(ttl_ms);
        result["cacheScope"] = json!(scope);
    }
    result
}

#[cfg(test)]
mod tests;
