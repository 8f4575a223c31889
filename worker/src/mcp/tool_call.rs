//! Parsing `tools/call` params into a typed [`ToolCall`].
//!
//! Unknown argument names are ignored (clients and models add extras); known ones must have
//! the right type and range, and an error names the field. `null` counts as absent. Bounds are
//! the ones the input schemas in [`super::tool_schemas`] declare.
//!
//! Errors follow the tools pages: an unknown tool or params that are not a `tools/call` shape
//! are protocol errors (-32602). Bad arguments were protocol errors up to 2025-06-18; from
//! 2025-11-25 they are reported as a tool result with `isError: true` so the model can correct
//! itself. [`ToolCallError::reply`] picks the form for a version.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use thiserror::Error;

use super::jsonrpc::ErrorObject;
use super::tool_schemas::{
    GLOB_DEFAULT_LIMIT, GLOB_MAX_LIMIT, GREP_DEFAULT_MATCHES, GREP_MAX_CONTEXT_LINES,
    GREP_MAX_MATCHES, HISTORY_DEFAULT_LIMIT, HISTORY_MAX_LIMIT, MAX_WRITE_BYTES,
    RECENT_DEFAULT_LIMIT, RECENT_MAX_LIMIT, SEARCH_DEFAULT_LIMIT, SEARCH_MAX_LIMIT,
};
use super::tools::{CallToolResult, ToolName};
use super::version::ProtocolVersion;

/// A parsed `tools/call`: one variant per tool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "tool", content = "arguments", rename_all = "lowercase")]
pub enum ToolCall {
    /// `read`.
    Read(ReadArgs),
    /// `write`.
    Write(WriteArgs),
    /// `edit`.
    Edit(EditArgs),
    /// `glob`.
    Glob(GlobArgs),
    /// `grep`.
    Grep(GrepArgs),
    /// `search`.
    Search(SearchArgs),
    /// `history`.
    History(HistoryArgs),
    /// `revert`.
    Revert(RevertArgs),
    /// `recent`.
    Recent(RecentArgs),
}

/// `read` arguments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReadArgs {
    /// The note.
    pub path: String,
    /// Lines `[start, end]`, 1-based, inclusive, `start <= end`.
    pub range: Option<(u64, u64)>,
    /// At most this many bytes (at least 1).
    pub max_bytes: Option<u64>,
    /// An earlier version to read.
    pub version: Option<u64>,
}

/// `write` arguments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WriteArgs {
    /// The note.
    pub path: String,
    /// Its full new text.
    pub content: String,
    /// Write only if this is the current version; 0 means "only if it does not exist".
    pub expected_version: Option<u64>,
}

/// `edit` arguments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EditArgs {
    /// The note.
    pub path: String,
    /// What to do to it.
    pub change: EditChange,
}

/// The one change an `edit` call makes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EditChange {
    /// Replace the single occurrence of `old_str`, then move if `new_path` is set.
    Replace {
        /// Text occurring exactly once (non-empty).
        old_str: String,
        /// Its replacement (may be empty).
        new_str: String,
        /// Where to move the note afterwards.
        new_path: Option<String>,
    },
    /// Move the note.
    Move {
        /// Where to.
        new_path: String,
    },
    /// Delete the note.
    Delete,
}

/// `glob` arguments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GlobArgs {
    /// The glob pattern.
    pub pattern: String,
    /// Where the previous page ended.
    pub cursor: Option<String>,
    /// Results per page (default [`GLOB_DEFAULT_LIMIT`]). Also read from `max_results`, the
    /// original server's name for it.
    pub limit: u64,
}

/// `grep` arguments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GrepArgs {
    /// The regular expression (compiled by the engine).
    pub pattern: String,
    /// Only notes matching this path or glob.
    pub path: Option<String>,
    /// Most matches (default [`GREP_DEFAULT_MATCHES`]).
    pub max_matches: u64,
    /// Context lines on each side (default 0).
    pub context_lines: u64,
    /// Where the previous call's scan stopped (its `next_cursor`).
    pub cursor: Option<String>,
}

/// `search` arguments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SearchArgs {
    /// The query.
    pub query: String,
    /// Results per page (default [`SEARCH_DEFAULT_LIMIT`]).
    pub limit: u64,
    /// Where the previous page ended.
    pub cursor: Option<String>,
}

/// `history` arguments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HistoryArgs {
    /// The note (current or former path).
    pub path: String,
    /// Where the previous page ended.
    pub cursor: Option<String>,
    /// Versions per page (default [`HISTORY_DEFAULT_LIMIT`]).
    pub limit: u64,
}

/// `revert` arguments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RevertArgs {
    /// The note.
    pub path: String,
    /// The version to bring back (at least 1).
    pub version: u64,
}

/// `recent` arguments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecentArgs {
    /// How many notes per page (default [`RECENT_DEFAULT_LIMIT`]).
    pub limit: u64,
    /// Where the previous page ended (its `next_cursor`).
    pub cursor: Option<String>,
}

/// Why `tools/call` params are not a call we can make.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ToolCallError {
    /// The params are not `{name: string, arguments?: object}`.
    #[error(
        "tools/call params must be an object with a string \"name\" and an object \"arguments\""
    )]
    MalformedParams,
    /// No tool has this name.
    #[error("Unknown tool: {0}")]
    UnknownTool(String),
    /// An argument is missing, mistyped or out of range.
    #[error("{tool}: {problem}", tool = tool.as_str())]
    InvalidArgument {
        /// The tool.
        tool: ToolName,
        /// The argument's name.
        field: &'static str,
        /// What is wrong, naming the field.
        problem: String,
    },
}

/// How to answer a call that could not be parsed.
#[derive(Debug, Clone, PartialEq)]
pub enum ToolCallReply {
    /// A JSON-RPC error response.
    ProtocolError(ErrorObject),
    /// A successful response carrying an `isError` tool result.
    ToolError(CallToolResult),
}

impl ToolCallError {
    /// The -32602 error for this failure.
    pub fn to_error_object(&self) -> ErrorObject {
        let error = ErrorObject::invalid_params(self.to_string());
        match self {
            ToolCallError::InvalidArgument { tool, field, .. } => {
                error.with_data(serde_json::json!({ "tool": tool.as_str(), "field": field }))
            }
            _ => error,
        }
    }

    /// The answer in `version`: argument errors become tool results from 2025-11-25 on;
    /// everything else is a protocol error.
    pub fn reply(&self, version: ProtocolVersion) -> ToolCallReply {
        match self {
            ToolCallError::InvalidArgument { .. }
                if version.reports_argument_errors_in_result() =>
            {
                ToolCallReply::ToolError(CallToolResult::error(format!(
                    "Invalid arguments for {self}"
                )))
            }
            _ => ToolCallReply::ProtocolError(self.to_error_object()),
        }
    }
}

impl ToolCall {
    /// Parses the params of a `tools/call` request.
    pub fn parse(params: Option<&Map<String, Value>>) -> Result<Self, ToolCallError> {
        let params = params.ok_or(ToolCallError::MalformedParams)?;
        let name = params
            .get("name")
            .and_then(Value::as_str)
            .ok_or(ToolCallError::MalformedParams)?;
        let tool =
            ToolName::parse(name).ok_or_else(|| ToolCallError::UnknownTool(name.to_owned()))?;
        let empty = Map::new();
        let map = match params.get("arguments") {
            None | Some(Value::Null) => &empty,
            Some(Value::Object(arguments)) => arguments,
            Some(_) => return Err(ToolCallError::MalformedParams),
        };
        let args = Args { tool, map };
        Ok(match tool {
            ToolName::Read => ToolCall::Read(ReadArgs {
                path: args.path("path")?,
                range: args.range("range")?,
                max_bytes: args.bounded_opt("max_bytes", 1, u64::MAX)?,
                version: args.bounded_opt("version", 1, u64::MAX)?,
            }),
            ToolName::Write => ToolCall::Write(WriteArgs {
                path: args.path("path")?,
                content: args.new_text("content")?,
                expected_version: args.optional("expected_version", WHOLE)?,
            }),
            ToolName::Edit => ToolCall::Edit(args.edit()?),
            ToolName::Glob => ToolCall::Glob(GlobArgs {
                pattern: args.non_empty("pattern")?,
                cursor: args.optional("cursor", "a string")?,
                limit: match args.bounded_opt("limit", 1, GLOB_MAX_LIMIT)? {
                    Some(limit) => limit,
                    None => args
                        .bounded_opt("max_results", 1, GLOB_MAX_LIMIT)?
                        .unwrap_or(GLOB_DEFAULT_LIMIT),
                },
            }),
            ToolName::Grep => ToolCall::Grep(GrepArgs {
                pattern: args.non_empty("pattern")?,
                path: args.optional("path", "a string")?,
                max_matches: args
                    .bounded_opt("max_matches", 1, GREP_MAX_MATCHES)?
                    .unwrap_or(GREP_DEFAULT_MATCHES),
                context_lines: args
                    .bounded_opt("context_lines", 0, GREP_MAX_CONTEXT_LINES)?
                    .unwrap_or(0),
                cursor: args.optional("cursor", "a string")?,
            }),
            ToolName::Search => ToolCall::Search(SearchArgs {
                query: args.non_empty("query")?,
                limit: args
                    .bounded_opt("limit", 1, SEARCH_MAX_LIMIT)?
                    .unwrap_or(SEARCH_DEFAULT_LIMIT),
                cursor: args.optional("cursor", "a string")?,
            }),
            ToolName::History => ToolCall::History(HistoryArgs {
                path: args.path("path")?,
                cursor: args.optional("cursor", "a string")?,
                limit: args
                    .bounded_opt("limit", 1, HISTORY_MAX_LIMIT)?
                    .unwrap_or(HISTORY_DEFAULT_LIMIT),
            }),
            ToolName::Revert => ToolCall::Revert(RevertArgs {
                path: args.path("path")?,
                version: args
                    .bounded_opt("version", 1, u64::MAX)?
                    .ok_or_else(|| args.error("version", "\"version\" is required".into()))?,
            }),
            ToolName::Recent => ToolCall::Recent(RecentArgs {
                limit: args
                    .bounded_opt("limit", 1, RECENT_MAX_LIMIT)?
                    .unwrap_or(RECENT_DEFAULT_LIMIT),
                cursor: args.optional("cursor", "a string")?,
            }),
        })
    }

    /// Which tool this calls.
    pub fn tool(&self) -> ToolName {
        match self {
            ToolCall::Read(_) => ToolName::Read,
            ToolCall::Write(_) => ToolName::Write,
            ToolCall::Edit(_) => ToolName::Edit,
            ToolCall::Glob(_) => ToolName::Glob,
            ToolCall::Grep(_) => ToolName::Grep,
            ToolCall::Search(_) => ToolName::Search,
            ToolCall::History(_) => ToolName::History,
            ToolCall::Revert(_) => ToolName::Revert,
            ToolCall::Recent(_) => ToolName::Recent,
        }
    }
}

const WHOLE: &str = "a whole number of 0 or more";

/// Reads one tool's arguments, naming the field in every error.
struct Args<'a> {
    tool: ToolName,
    map: &'a Map<String, Value>,
}

impl Args<'_> {
    fn error(&self, field: &'static str, problem: String) -> ToolCallError {
        ToolCallError::InvalidArgument {
            tool: self.tool,
            field,
            problem,
        }
    }

    fn optional<T: DeserializeOwned>(
        &self,
        field: &'static str,
        expected: &str,
    ) -> Result<Option<T>, ToolCallError> {
        match self.map.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(value) => serde_json::from_value(value.clone())
                .map(Some)
                .map_err(|_| {
                    self.error(
                        field,
                        format!("\"{field}\" must be {expected}, not {}", describe(value)),
                    )
                }),
        }
    }

    fn required<T: DeserializeOwned>(
        &self,
        field: &'static str,
        expected: &str,
    ) -> Result<T, ToolCallError> {
        self.optional(field, expected)?
            .ok_or_else(|| self.error(field, format!("\"{field}\" is required")))
    }

    fn non_empty(&self, field: &'static str) -> Result<String, ToolCallError> {
        let value: String = self.required(field, "a string")?;
        if value.is_empty() {
            return Err(self.error(field, format!("\"{field}\" must not be empty")));
        }
        Ok(value)
    }

    /// Required new note text, at most [`MAX_WRITE_BYTES`].
    fn new_text(&self, field: &'static str) -> Result<String, ToolCallError> {
        let text: String = self.required(field, "a string")?;
        check_new_text(self, field, &text)?;
        Ok(text)
    }

    fn path(&self, field: &'static str) -> Result<String, ToolCallError> {
        self.non_empty(field)
    }

    fn bounded_opt(
        &self,
        field: &'static str,
        min: u64,
        max: u64,
    ) -> Result<Option<u64>, ToolCallError> {
        let range = if max == u64::MAX {
            format!("a whole number of {min} or more")
        } else {
            format!("a whole number from {min} to {max}")
        };
        let value: Option<u64> = self.optional(field, &range)?;
        match value {
            Some(value) if value < min || value > max => {
                Err(self.error(field, format!("\"{field}\" must be {range}, not {value}")))
            }
            other => Ok(other),
        }
    }

    fn range(&self, field: &'static str) -> Result<Option<(u64, u64)>, ToolCallError> {
        const SHAPE: &str = "[start, end]: two line numbers, 1-based, with start <= end";
        let pair: Option<[u64; 2]> = self.optional(field, SHAPE)?;
        match pair {
            Some([start, end]) if start == 0 || start > end => Err(self.error(
                field,
                format!("\"{field}\" must be {SHAPE}, not [{start}, {end}]"),
            )),
            other => Ok(other.map(|[start, end]| (start, end))),
        }
    }

    fn edit(&self) -> Result<EditArgs, ToolCallError> {
        let path = self.path("path")?;
        let old_str: Option<String> = self.optional("old_str", "a string")?;
        let new_str: Option<String> = self.optional("new_str", "a string")?;
        if let Some(new_str) = &new_str {
            check_new_text(self, "new_str", new_str)?;
        }
        let new_path: Option<String> = self.optional("new_path", "a string")?;
        let delete: Option<bool> = self.optional("delete", "true or false")?;
        if new_path.as_deref() == Some("") {
            return Err(self.error("new_path", "\"new_path\" must not be empty".into()));
        }
        if delete == Some(true) {
            if old_str.is_some() || new_str.is_some() || new_path.is_some() {
                return Err(self.error(
                    "delete",
                    "\"delete\" cannot be combined with \"old_str\", \"new_str\" or \"new_path\""
                        .into(),
                ));
            }
            return Ok(EditArgs {
                path,
                change: EditChange::Delete,
            });
        }
        let change = match (old_str, new_str, new_path) {
            (Some(old), _, _) if old.is_empty() => {
                return Err(self.error("old_str", "\"old_str\" must not be empty".into()));
            }
            (Some(old_str), Some(new_str), new_path) => EditChange::Replace {
                old_str,
                new_str,
                new_path,
            },
            (Some(_), None, _) => {
                return Err(
                    self.error("new_str", "\"new_str\" is required with \"old_str\"".into())
                );
            }
            (None, Some(_), _) => {
                return Err(
                    self.error("old_str", "\"old_str\" is required with \"new_str\"".into())
                );
            }
            (None, None, Some(new_path)) => EditChange::Move { new_path },
            (None, None, None) => {
                return Err(self.error(
                    "old_str",
                    "nothing to do: give \"old_str\" and \"new_str\", \"new_path\", or \
                     \"delete\": true"
                        .into(),
                ));
            }
        };
        Ok(EditArgs { path, change })
    }
}

/// One call carries at most [`MAX_WRITE_BYTES`] of new text.
fn check_new_text(args: &Args<'_>, field: &'static str, text: &str) -> Result<(), ToolCallError> {
    if text.len() > MAX_WRITE_BYTES {
        return Err(args.error(
            field,
            format!(
                "\"{field}\" is {} bytes; one call carries at most {MAX_WRITE_BYTES} bytes \
                 (1 MB): split the text over several notes, or add to a note with further \
                 edits",
                text.len()
            ),
        ));
    }
    Ok(())
}

fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(_) => "a string".into(),
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}

#[cfg(test)]
mod tests;
