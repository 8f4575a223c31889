//! The tool model: tool definitions as `tools/list` returns them, and `tools/call` results.
//!
//! Definitions are built per protocol version: 2024-11-05 tools have only `name`,
//! `description` and `inputSchema`; 2025-03-26 adds `annotations` (with the display title in
//! `annotations.title`); 2025-06-18 adds `title` and `outputSchema`, and results gain
//! `structuredContent`; 2026-07-28 list results carry `ttlMs` and `cacheScope`. The schemas
//! themselves live in [`super::tool_schemas`]; parsing calls is [`super::tool_call`].

use serde::Serialize;
use serde_json::{Value, json};

use super::lifecycle::LIST_TTL_MS;
use super::tool_schemas;
use super::version::ProtocolVersion;

/// Our tools, in `tools/list` order (stable, so clients can cache the list).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ToolName {
    /// Read a note (or a past version of it).
    Read,
    /// Create or replace a note.
    Write,
    /// Replace text in, move or delete a note.
    Edit,
    /// List paths matching a glob pattern.
    Glob,
    /// Find lines matching a regular expression.
    Grep,
    /// Ranked full-text search.
    Search,
    /// The versions of a note.
    History,
    /// Make a past version current again.
    Revert,
    /// Recently changed notes.
    Recent,
}

impl ToolName {
    /// Every tool, in `tools/list` order.
    pub const ALL: [ToolName; 9] = [
        ToolName::Read,
        ToolName::Write,
        ToolName::Edit,
        ToolName::Glob,
        ToolName::Grep,
        ToolName::Search,
        ToolName::History,
        ToolName::Revert,
        ToolName::Recent,
    ];

    /// The tool's `name`.
    pub fn as_str(self) -> &'static str {
        match self {
            ToolName::Read => "read",
            ToolName::Write => "write",
            ToolName::Edit => "edit",
            ToolName::Glob => "glob",
            ToolName::Grep => "grep",
            ToolName::Search => "search",
            ToolName::History => "history",
            ToolName::Revert => "revert",
            ToolName::Recent => "recent",
        }
    }

    /// The tool called `name` (exact, case-sensitive).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|tool| tool.as_str() == name)
    }
}

/// Hints about what a tool does (2025-03-26 on). All are hints, never guarantees.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolAnnotations {
    /// Display name, for versions without `Tool.title`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Does not change anything.
    pub read_only_hint: bool,
    /// May remove or overwrite data (meaningful when not read-only).
    pub destructive_hint: bool,
    /// Repeating the same call changes nothing more (meaningful when not read-only).
    pub idempotent_hint: bool,
    /// Reaches outside the user's notes.
    pub open_world_hint: bool,
}

/// A tool definition as listed by `tools/list`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Tool {
    /// Programmatic name.
    pub name: &'static str,
    /// Display name (2025-06-18 on).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// What the tool does, for the model.
    pub description: String,
    /// JSON Schema of the arguments.
    pub input_schema: Value,
    /// JSON Schema of `structuredContent` (2025-06-18 on).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_schema: Option<Value>,
    /// Behaviour hints (2025-03-26 on).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annotations: Option<ToolAnnotations>,
}

/// Every tool's definition as `version` shapes it, in `tools/list` order. Schema snapshot
/// tests can compare these with committed files.
pub fn tool_definitions(version: ProtocolVersion) -> Vec<Tool> {
    ToolName::ALL
        .into_iter()
        .map(|name| {
            let spec = tool_schemas::spec(name);
            let annotations = ToolAnnotations {
                title: (!version.has_titles()).then(|| spec.title.to_owned()),
                read_only_hint: spec.hints.read_only,
                destructive_hint: spec.hints.destructive,
                idempotent_hint: spec.hints.idempotent,
                open_world_hint: false,
            };
            Tool {
                name: name.as_str(),
                title: version.has_titles().then(|| spec.title.to_owned()),
                description: spec.description.to_owned(),
                input_schema: spec.input,
                output_schema: version.has_structured_output().then_some(spec.output),
                annotations: version.has_tool_annotations().then_some(annotations),
            }
        })
        .collect()
}

/// The result of `tools/list` for `version`: every tool on one page. In 2026-07-28 it also
/// carries `ttlMs` and `cacheScope` (the list is the same for every user, so `public`); pass
/// it through [`super::lifecycle::finish_result`] for `resultType`.
pub fn list_tools_result(version: ProtocolVersion) -> Value {
    let mut result = json!({ "tools": tool_definitions(version) });
    if version.has_cacheable_lists() {
        result["ttlMs"] = json!(LIST_TTL_MS);
        result["cacheScope"] = json!("public");
    }
    result
}

/// One content block of a tool result. We only produce text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Content {
    /// `{ "type": "text", "text": ... }`.
    Text {
        /// The text.
        text: String,
    },
}

/// The result of `tools/call`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CallToolResult {
    /// Unstructured content, for every version.
    pub content: Vec<Content>,
    /// The structured result, conforming to the tool's `outputSchema` (2025-06-18 on).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub structured_content: Option<Value>,
    /// Whether the call failed; the text says why, so the model can correct itself.
    pub is_error: bool,
}

impl CallToolResult {
    /// A success of `tool` carrying `structured` (an object matching the tool's output
    /// schema): as `structuredContent` where the version has it, and in the text block as
    /// [`super::tool_text::text_block`] writes it for the model (the note's text for `read`,
    /// compact lines for lists, JSON for changes).
    pub fn structured(version: ProtocolVersion, tool: ToolName, structured: Value) -> Self {
        let text = super::tool_text::text_block(tool, &structured);
        CallToolResult {
            content: vec![Content::Text { text }],
            structured_content: version.has_structured_output().then_some(structured),
            is_error: false,
        }
    }

    /// A failed call: `isError: true` with `message` as text.
    pub fn error(message: impl Into<String>) -> Self {
        CallToolResult {
            content: vec![Content::Text {
                text: message.into(),
            }],
            structured_content: None,
            is_error: true,
        }
    }

    /// The result as a JSON value, ready for [`super::lifecycle::finish_result`].
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_unique() {
        for tool in ToolName::ALL {
            assert_eq!(ToolName::parse(tool.as_str()), Some(tool));
        }
        assert_eq!(ToolName::parse("Read"), None);
        assert_eq!(ToolName::parse("delete"), None);
        let mut names: Vec<_> = ToolName::ALL.iter().map(|t| t.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ToolName::ALL.len());
    }

    #[test]
    fn definitions_per_version() {
        let old = serde_json::to_value(tool_definitions(ProtocolVersion::V2024_11_05)).unwrap();
        for tool in old.as_array().unwrap() {
            let keys: Vec<_> = tool.as_object().unwrap().keys().cloned().collect();
            assert_eq!(keys, ["description", "inputSchema", "name"], "{tool}");
        }

        let annotated =
            serde_json::to_value(tool_definitions(ProtocolVersion::V2025_03_26)).unwrap();
        let read = &annotated[0];
        assert_eq!(read["name"], "read");
        assert_eq!(read["annotations"]["title"], "Read note");
        assert_eq!(read["annotations"]["readOnlyHint"], true);
        assert!(read.get("title").is_none());
        assert!(read.get("outputSchema").is_none());

        for version in [
            ProtocolVersion::V2025_06_18,
            ProtocolVersion::V2025_11_25,
            ProtocolVersion::V2026_07_28,
        ] {
            let tools = serde_json::to_value(tool_definitions(version)).unwrap();
            for tool in tools.as_array().unwrap() {
                assert!(tool["title"].is_string(), "{version} {tool}");
                assert_eq!(tool["outputSchema"]["type"], "object");
                assert!(tool["annotations"].get("title").is_none());
                assert_eq!(tool["annotations"]["openWorldHint"], false);
            }
        }
    }

    #[test]
    fn annotations_match_what_tools_do() {
        let tools = tool_definitions(ProtocolVersion::V2025_06_18);
        let hints = |name: &str| {
            tools
                .iter()
                .find(|t| t.name == name)
                .and_then(|t| t.annotations.clone())
                .unwrap()
        };
        for name in ["read", "glob", "grep", "search", "history", "recent"] {
            assert!(hints(name).read_only_hint, "{name}");
        }
        for name in ["write", "edit", "revert"] {
            let hints = hints(name);
            assert!(!hints.read_only_hint && hints.destructive_hint, "{name}");
        }
        assert!(hints("write").idempotent_hint);
        assert!(!hints("edit").idempotent_hint);
    }

    #[test]
    fn list_result_is_cacheable_only_in_2026_07_28() {
        let old = list_tools_result(ProtocolVersion::V2025_11_25);
        assert_eq!(old["tools"].as_array().unwrap().len(), 9);
        assert!(old.get("ttlMs").is_none() && old.get("nextCursor").is_none());
        let new = list_tools_result(ProtocolVersion::V2026_07_28);
        assert_eq!(new["ttlMs"], LIST_TTL_MS);
        assert_eq!(new["cacheScope"], "public");
    }

    #[test]
    fn results_carry_structured_content_where_supported() {
        let value = json!({"path": "a.md", "version": 3});
        let old = CallToolResult::structured(
            ProtocolVersion::V2025_03_26,
            ToolName::Write,
            value.clone(),
        )
        .to_value();
        assert_eq!(
            old,
            json!({"content": [{"type": "text", "text": value.to_string()}], "isError": false})
        );
        let new = CallToolResult::structured(
            ProtocolVersion::V2025_06_18,
            ToolName::Write,
            value.clone(),
        )
        .to_value();
        assert_eq!(new["structuredContent"], value);
        let text: Value =
            serde_json::from_str(new["content"][0]["text"].as_str().unwrap()).unwrap();
        assert_eq!(text, value);
    }

    #[test]
    fn a_read_shows_the_note_and_keeps_every_field_structured() {
        let value = json!({"path": "a.md", "version": 3, "content": "line 1\nline \"2\"",
                           "total_bytes": 15, "total_lines": 2, "truncated": false});
        let result =
            CallToolResult::structured(ProtocolVersion::V2025_11_25, ToolName::Read, value.clone())
                .to_value();
        assert_eq!(result["content"][0]["text"], "line 1\nline \"2\"");
        assert_eq!(result["structuredContent"], value);
    }

    #[test]
    fn error_results_say_why() {
        let err = CallToolResult::error("note not found: a.md").to_value();
        assert_eq!(
            err,
            json!({"content": [{"type": "text", "text": "note not found: a.md"}], "isError": true})
        );
    }
}
