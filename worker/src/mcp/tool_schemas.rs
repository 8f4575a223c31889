//! What each tool is: title, description, behaviour hints, and the JSON Schemas of its
//! arguments and of its structured output.
//!
//! Argument names of `read`, `write`, `edit`, `glob` and `grep` are those of the original
//! Second Brain server, so existing prompts keep working. The schemas use only keywords that
//! mean the same in JSON Schema draft-07 and 2020-12 (the default dialect from 2025-11-25),
//! and every output schema is an object, as 2025-06-18 and 2025-11-25 require.
//!
//! Numeric bounds are constants shared with [`super::tool_call`], which enforces them.

use serde_json::{Value, json};

use super::tools::ToolName;

/// `glob`: results per page when `limit` is absent.
pub const GLOB_DEFAULT_LIMIT: u64 = 100;
/// `glob`: most results per page.
pub const GLOB_MAX_LIMIT: u64 = 1000;
/// `grep`: matches when `max_matches` is absent.
pub const GREP_DEFAULT_MATCHES: u64 = 50;
/// `grep`: most matches.
pub const GREP_MAX_MATCHES: u64 = 1000;
/// `grep`: most context lines on each side of a match.
pub const GREP_MAX_CONTEXT_LINES: u64 = 20;
/// `search`: results per page when `limit` is absent.
pub const SEARCH_DEFAULT_LIMIT: u64 = 10;
/// `search`: most results per page.
pub const SEARCH_MAX_LIMIT: u64 = 50;
/// `history`: versions per page when `limit` is absent.
pub const HISTORY_DEFAULT_LIMIT: u64 = 20;
/// `history`: most versions per page.
pub const HISTORY_MAX_LIMIT: u64 = 100;
/// `recent`: notes when `limit` is absent.
pub const RECENT_DEFAULT_LIMIT: u64 = 20;
/// `recent`: most notes.
pub const RECENT_MAX_LIMIT: u64 = 100;
/// `write` and `edit`: most bytes of new text one call carries (1 MB; a note may grow to
/// 10 MB through several calls). The request body limit is sized from this.
pub const MAX_WRITE_BYTES: usize = 1_000_000;

/// Behaviour hints of one tool (see [`super::tools::ToolAnnotations`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hints {
    /// Changes nothing.
    pub read_only: bool,
    /// May remove or overwrite data.
    pub destructive: bool,
    /// Repeating the call changes nothing more.
    pub idempotent: bool,
}

const READ_ONLY: Hints = Hints {
    read_only: true,
    destructive: false,
    idempotent: true,
};

/// One tool's definition, independent of protocol version.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolSpec {
    /// Display name.
    pub title: &'static str,
    /// What it does, for the model.
    pub description: &'static str,
    /// Behaviour hints.
    pub hints: Hints,
    /// JSON Schema of the arguments.
    pub input: Value,
    /// JSON Schema of `structuredContent`.
    pub output: Value,
}

fn path_arg(what: &str) -> Value {
    json!({ "type": "string", "minLength": 1, "description": what })
}

fn version_prop(what: &str) -> Value {
    json!({ "type": "integer", "minimum": 1, "description": what })
}

fn limit_arg(default: u64, max: u64, what: &str) -> Value {
    json!({
        "type": "integer", "minimum": 1, "maximum": max, "default": default,
        "description": what,
    })
}

fn cursor_arg() -> Value {
    json!({ "type": "string", "description": "The next_cursor of the previous page." })
}

fn next_cursor() -> Value {
    json!({
        "type": ["string", "null"],
        "description": "Pass as cursor to get the next page; null on the last page.",
    })
}

fn timestamp() -> Value {
    json!({ "type": "string", "format": "date-time" })
}

fn file_entry() -> Value {
    json!({
        "type": "object",
        "properties": {
            "path": { "type": "string" },
            "version": version_prop("The note's current version."),
            "size": { "type": "integer", "minimum": 0, "description": "Size in bytes." },
            "modified": timestamp(),
        },
        "required": ["path", "version", "size", "modified"],
    })
}

/// The definition of `name`.
pub fn spec(name: ToolName) -> ToolSpec {
    match name {
        ToolName::Read => ToolSpec {
            title: "Read note",
            description: "Read a note's text and version. `range` selects lines [start, end] \
                (1-based, inclusive); `max_bytes` returns at most that many bytes (`truncated` \
                says so); `version` reads an earlier version listed by `history`.",
            hints: READ_ONLY,
            input: json!({
                "type": "object",
                "properties": {
                    "path": path_arg("The note's path, e.g. projects/launch/plan.md."),
                    "range": {
                        "type": "array",
                        "items": { "type": "integer", "minimum": 1 },
                        "minItems": 2, "maxItems": 2,
                        "description": "Lines [start, end], 1-based and inclusive.",
                    },
                    "max_bytes": {
                        "type": "integer", "minimum": 1,
                        "description": "Return at most this many bytes of text.",
                    },
                    "version": version_prop("Read this earlier version instead of the current one."),
                },
                "required": ["path"],
            }),
            output: json!({
                "type": "object",
                "properties": {
                    "path": { "type": "string" },
                    "version": version_prop("The version read."),
                    "content": { "type": "string" },
                    "total_bytes": { "type": "integer", "minimum": 0 },
                    "total_lines": { "type": "integer", "minimum": 0 },
                    "truncated": { "type": "boolean" },
                },
                "required": ["path", "version", "content", "total_bytes", "total_lines", "truncated"],
            }),
        },
        ToolName::Write => ToolSpec {
            title: "Write note",
            description: "Create a note or replace its whole text (at most 1 MB). Pass the \
                `expected_version` you last read to refuse the write if the note changed since, \
                or 0 to create the note only if it does not exist. Earlier versions stay \
                available through `history`.",
            hints: Hints {
                read_only: false,
                destructive: true,
                idempotent: true,
            },
            input: json!({
                "type": "object",
                "properties": {
                    "path": path_arg("The note's path."),
                    "content": { "type": "string", "description": "The note's full new text." },
                    "expected_version": {
                        "type": "integer", "minimum": 0,
                        "description": "Write only if this is the current version (0: only if \
                            the note does not exist).",
                    },
                },
                "required": ["path", "content"],
            }),
            output: json!({
                "type": "object",
                "properties": {
                    "path": { "type": "string" },
                    "version": version_prop("The new version."),
                    "created": { "type": "boolean" },
                    "size": { "type": "integer", "minimum": 0 },
                },
                "required": ["path", "version", "created", "size"],
            }),
        },
        ToolName::Edit => ToolSpec {
            title: "Edit note",
            description: "Change a note in place: replace the single occurrence of `old_str` \
                with `new_str`, and/or move it to `new_path`; or delete it with `delete: true`. \
                Replaced and deleted text stays available through `history`.",
            hints: Hints {
                read_only: false,
                destructive: true,
                idempotent: false,
            },
            input: json!({
                "type": "object",
                "properties": {
                    "path": path_arg("The note's path."),
                    "old_str": {
                        "type": "string", "minLength": 1,
                        "description": "Text that occurs exactly once in the note.",
                    },
                    "new_str": {
                        "type": "string",
                        "description": "Its replacement (may be empty). Required with old_str.",
                    },
                    "new_path": path_arg("Move the note here (after any replacement)."),
                    "delete": {
                        "type": "boolean",
                        "description": "Delete the note. Not combinable with the other changes.",
                    },
                },
                "required": ["path"],
            }),
            output: json!({
                "type": "object",
                "properties": {
                    "path": { "type": "string", "description": "The note's path after the edit." },
                    "version": {
                        "type": ["integer", "null"], "minimum": 1,
                        "description": "The new version; null when the note was deleted.",
                    },
                    "deleted": { "type": "boolean" },
                    "moved_from": {
                        "type": ["string", "null"],
                        "description": "The old path when the note was moved.",
                    },
                },
                "required": ["path", "version", "deleted", "moved_from"],
            }),
        },
        ToolName::Glob => ToolSpec {
            title: "List notes",
            description: "List notes whose path matches a glob pattern (`*` within a folder, \
                `**` across folders, `?` one character, `[a-z]`, `{a,b}`), e.g. \
                `projects/**/*.md`. Paginated: pass `next_cursor` back as `cursor` (a page may \
                end early, even empty, when the call's matching budget is spent).",
            hints: READ_ONLY,
            input: json!({
                "type": "object",
                "properties": {
                    "pattern": { "type": "string", "minLength": 1, "description": "The glob pattern." },
                    "cursor": cursor_arg(),
                    "limit": limit_arg(GLOB_DEFAULT_LIMIT, GLOB_MAX_LIMIT, "Results per page."),
                },
                "required": ["pattern"],
            }),
            output: json!({
                "type": "object",
                "properties": {
                    "files": { "type": "array", "items": file_entry() },
                    "next_cursor": next_cursor(),
                },
                "required": ["files", "next_cursor"],
            }),
        },
        ToolName::Grep => ToolSpec {
            title: "Grep notes",
            description: "Find lines matching a regular expression, in all notes or in those \
                matching `path` (a path or glob). Returns each match with its line number and \
                `context_lines` lines before and after. Notes the search index shows cannot \
                match (they lack the words the expression needs) are skipped. One call scans at \
                most 900 notes and 128 KiB of text (less for a long or complex expression); \
                when more is left it returns `next_cursor`: pass it back as `cursor` to go on.",
            hints: READ_ONLY,
            input: json!({
                "type": "object",
                "properties": {
                    "pattern": { "type": "string", "minLength": 1, "description": "A regular expression." },
                    "path": { "type": "string", "description": "Only notes matching this path or glob." },
                    "max_matches": limit_arg(GREP_DEFAULT_MATCHES, GREP_MAX_MATCHES, "Most matches returned."),
                    "context_lines": {
                        "type": "integer", "minimum": 0, "maximum": GREP_MAX_CONTEXT_LINES, "default": 0,
                        "description": "Lines of context before and after each match.",
                    },
                    "cursor": cursor_arg(),
                },
                "required": ["pattern"],
            }),
            output: json!({
                "type": "object",
                "properties": {
                    "matches": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "path": { "type": "string" },
                                "line": { "type": "integer", "minimum": 1 },
                                "text": { "type": "string" },
                                "before": { "type": "array", "items": { "type": "string" } },
                                "after": { "type": "array", "items": { "type": "string" } },
                            },
                            "required": ["path", "line", "text", "before", "after"],
                        },
                    },
                    "truncated": {
                        "type": "boolean",
                        "description": "More matches exist than max_matches (then next_cursor is null).",
                    },
                    "scanned": {
                        "type": "integer", "minimum": 0,
                        "description": "Notes this call scanned.",
                    },
                    "next_cursor": next_cursor(),
                    "narrowed": {
                        "type": "boolean",
                        "description": "The search index narrowed the search to the notes that \
                            can match: only those were scanned.",
                    },
                    "candidates": {
                        "type": ["integer", "null"], "minimum": 0,
                        "description": "How many notes the index narrowed the search to (before \
                            `path` and the cursor apply); null when it did not narrow it.",
                    },
                },
                "required": ["matches", "truncated", "scanned", "next_cursor", "narrowed", "candidates"],
            }),
        },
        ToolName::Search => ToolSpec {
            title: "Search notes",
            description: "Ranked full-text search over notes' text and paths, best matches \
                first, each with a snippet. Paginated: pass `next_cursor` back as `cursor`.",
            hints: READ_ONLY,
            input: json!({
                "type": "object",
                "properties": {
                    "query": { "type": "string", "minLength": 1, "description": "Words to search for." },
                    "limit": limit_arg(SEARCH_DEFAULT_LIMIT, SEARCH_MAX_LIMIT, "Results per page."),
                    "cursor": cursor_arg(),
                },
                "required": ["query"],
            }),
            output: json!({
                "type": "object",
                "properties": {
                    "results": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "path": { "type": "string" },
                                "version": version_prop("The version that matched."),
                                "score": { "type": "number" },
                                "snippet": { "type": "string" },
                            },
                            "required": ["path", "version", "score", "snippet"],
                        },
                    },
                    "next_cursor": next_cursor(),
                },
                "required": ["results", "next_cursor"],
            }),
        },
        ToolName::History => ToolSpec {
            title: "Note history",
            description: "List a note's versions, newest first: writes, edits, moves, \
                deletion and reverts. Paginated: pass `next_cursor` back as `cursor`.",
            hints: READ_ONLY,
            input: json!({
                "type": "object",
                "properties": {
                    "path": path_arg("The note's path (current or former)."),
                    "cursor": cursor_arg(),
                    "limit": limit_arg(HISTORY_DEFAULT_LIMIT, HISTORY_MAX_LIMIT, "Versions per page."),
                },
                "required": ["path"],
            }),
            output: json!({
                "type": "object",
                "properties": {
                    "path": { "type": "string" },
                    "versions": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "version": version_prop("Pass to read or revert."),
                                "change": {
                                    "type": "string",
                                    "enum": ["write", "edit", "move", "delete", "revert"],
                                },
                                "modified": timestamp(),
                                "size": {
                                    "type": ["integer", "null"], "minimum": 0,
                                    "description": "Size in bytes; null after deletion.",
                                },
                            },
                            "required": ["version", "change", "modified", "size"],
                        },
                    },
                    "next_cursor": next_cursor(),
                },
                "required": ["path", "versions", "next_cursor"],
            }),
        },
        ToolName::Revert => ToolSpec {
            title: "Revert note",
            description: "Make an earlier version (from `history`) the note's current text. \
                This adds a new version; nothing is lost.",
            hints: Hints {
                read_only: false,
                destructive: true,
                idempotent: false,
            },
            input: json!({
                "type": "object",
                "properties": {
                    "path": path_arg("The note's path."),
                    "version": version_prop("The version to bring back."),
                },
                "required": ["path", "version"],
            }),
            output: json!({
                "type": "object",
                "properties": {
                    "path": { "type": "string" },
                    "version": version_prop("The new current version."),
                    "reverted_to": version_prop("The version whose text was restored."),
                },
                "required": ["path", "version", "reverted_to"],
            }),
        },
        ToolName::Recent => ToolSpec {
            title: "Recent notes",
            description: "List the most recently changed notes, newest first. Paginated: pass \
                `next_cursor` back as `cursor` to go further back in time.",
            hints: READ_ONLY,
            input: json!({
                "type": "object",
                "properties": {
                    "limit": limit_arg(RECENT_DEFAULT_LIMIT, RECENT_MAX_LIMIT, "How many notes per page."),
                    "cursor": cursor_arg(),
                },
            }),
            output: json!({
                "type": "object",
                "properties": {
                    "files": { "type": "array", "items": file_entry() },
                    "next_cursor": next_cursor(),
                },
                "required": ["files", "next_cursor"],
            }),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks the shape every MCP tool schema must have, recursively for nested objects:
    /// `type: object`, `properties` an object of schemas, `required` a list of unique names
    /// that are all properties.
    fn check_object_schema(schema: &Value, at: &str) {
        assert_eq!(schema["type"], "object", "{at}: type");
        let properties = schema["properties"]
            .as_object()
            .unwrap_or_else(|| panic!("{at}: properties must be an object"));
        for (name, property) in properties {
            let at = format!("{at}.{name}");
            assert!(property.is_object(), "{at}: not a schema");
            assert!(property.get("type").is_some(), "{at}: no type");
            if property["type"] == "object" {
                check_object_schema(property, &at);
            }
            if let Some(items) = property.get("items")
                && items["type"] == "object"
            {
                check_object_schema(items, &format!("{at}[]"));
            }
        }
        if let Some(required) = schema.get("required") {
            let required = required.as_array().expect("required is an array");
            let mut seen = std::collections::HashSet::new();
            for name in required {
                let name = name.as_str().expect("required names are strings");
                assert!(
                    properties.contains_key(name),
                    "{at}: required {name} is not a property"
                );
                assert!(seen.insert(name), "{at}: {name} required twice");
            }
        }
    }

    #[test]
    fn every_schema_has_a_valid_object_shape() {
        for tool in ToolName::ALL {
            let spec = spec(tool);
            check_object_schema(&spec.input, &format!("{}.input", tool.as_str()));
            check_object_schema(&spec.output, &format!("{}.output", tool.as_str()));
            assert!(!spec.title.is_empty() && !spec.description.is_empty());
        }
    }

    #[test]
    fn every_schema_is_valid_in_draft_7_and_2020_12() {
        for tool in ToolName::ALL {
            let spec = spec(tool);
            for schema in [&spec.input, &spec.output] {
                jsonschema::draft7::meta::validate(schema)
                    .unwrap_or_else(|err| panic!("{tool:?} draft7: {err}"));
                jsonschema::draft202012::meta::validate(schema)
                    .unwrap_or_else(|err| panic!("{tool:?} 2020-12: {err}"));
            }
        }
    }

    /// One structured result per tool, as the engine is expected to produce them.
    #[test]
    fn sample_outputs_match_the_output_schemas() {
        let file =
            json!({"path": "a.md", "version": 3, "size": 10, "modified": "2026-08-01T10:00:00Z"});
        let samples = [
            (
                ToolName::Read,
                json!({"path": "a.md", "version": 3, "content": "hi",
                "total_bytes": 2, "total_lines": 1, "truncated": false}),
            ),
            (
                ToolName::Write,
                json!({"path": "a.md", "version": 4, "created": false, "size": 2}),
            ),
            (
                ToolName::Edit,
                json!({"path": "a.md", "version": null, "deleted": true, "moved_from": null}),
            ),
            (
                ToolName::Glob,
                json!({"files": [file.clone()], "next_cursor": "c2"}),
            ),
            (
                ToolName::Grep,
                json!({"matches": [{"path": "a.md", "line": 1, "text": "hi",
                "before": [], "after": ["x"]}], "truncated": false, "scanned": 900,
                "next_cursor": "a.md", "narrowed": false, "candidates": null}),
            ),
            (
                ToolName::Search,
                json!({"results": [{"path": "a.md", "version": 3, "score": 1.5,
                "snippet": "hi"}], "next_cursor": null}),
            ),
            (
                ToolName::History,
                json!({"path": "a.md", "versions": [{"version": 3, "change": "edit",
                "modified": "2026-08-01T10:00:00Z", "size": 10}], "next_cursor": null}),
            ),
            (
                ToolName::Revert,
                json!({"path": "a.md", "version": 5, "reverted_to": 2}),
            ),
            (
                ToolName::Recent,
                json!({"files": [file], "next_cursor": "17"}),
            ),
        ];
        assert_eq!(samples.len(), ToolName::ALL.len());
        for (tool, sample) in samples {
            let validator = jsonschema::draft202012::new(&spec(tool).output).unwrap();
            assert!(validator.is_valid(&sample), "{tool:?}: {sample}");
        }
        let read = jsonschema::draft202012::new(&spec(ToolName::Read).output).unwrap();
        assert!(!read.is_valid(&json!({"path": "a.md"})));
    }

    #[test]
    fn paginated_tools_return_next_cursor_and_take_cursor() {
        for tool in [ToolName::Glob, ToolName::Search, ToolName::History] {
            let spec = spec(tool);
            assert!(spec.input["properties"].get("cursor").is_some(), "{tool:?}");
            let required = spec.output["required"].as_array().unwrap();
            assert!(required.contains(&json!("next_cursor")), "{tool:?}");
        }
    }

    #[test]
    fn original_argument_names_are_kept() {
        let props = |tool| {
            let mut names: Vec<String> = spec(tool).input["properties"]
                .as_object()
                .unwrap()
                .keys()
                .cloned()
                .collect();
            names.sort();
            names
        };
        assert_eq!(
            props(ToolName::Read),
            ["max_bytes", "path", "range", "version"]
        );
        assert_eq!(
            props(ToolName::Write),
            ["content", "expected_version", "path"]
        );
        assert_eq!(
            props(ToolName::Edit),
            ["delete", "new_path", "new_str", "old_str", "path"]
        );
        // `cursor` is ours (optional): a first call without it is the original's call.
        assert_eq!(
            props(ToolName::Grep),
            ["context_lines", "cursor", "max_matches", "path", "pattern"]
        );
        assert_eq!(spec(ToolName::Grep).input["required"], json!(["pattern"]));
    }
}
