use serde_json::json;

use super::*;
use crate::mcp::tool_schemas::spec;

fn call(name: &str, arguments: Value) -> Result<ToolCall, ToolCallError> {
    let params = json!({ "name": name, "arguments": arguments });
    ToolCall::parse(params.as_object())
}

/// The field an argument error names; panics on any other result.
fn bad_field(name: &str, arguments: Value) -> (&'static str, String) {
    match call(name, arguments.clone()) {
        Err(ToolCallError::InvalidArgument {
            tool,
            field,
            problem,
        }) => {
            assert_eq!(tool.as_str(), name);
            (field, problem)
        }
        other => panic!("{name} {arguments}: expected an argument error, got {other:?}"),
    }
}

#[test]
fn read_happy_paths() {
    assert_eq!(
        call("read", json!({"path": "a.md"})).unwrap(),
        ToolCall::Read(ReadArgs {
            path: "a.md".into(),
            range: None,
            max_bytes: None,
            version: None
        })
    );
    assert_eq!(
        call(
            "read",
            json!({"path": "a.md", "range": [2, 2], "max_bytes": 1024, "version": 3, "extra": {}})
        )
        .unwrap(),
        ToolCall::Read(ReadArgs {
            path: "a.md".into(),
            range: Some((2, 2)),
            max_bytes: Some(1024),
            version: Some(3)
        })
    );
    // null is read as absent.
    assert!(
        call(
            "read",
            json!({"path": "a.md", "range": null, "version": null})
        )
        .is_ok()
    );
}

#[test]
fn read_errors_name_the_field() {
    let cases = [
        (json!({}), "path"),
        (json!({"path": ""}), "path"),
        (json!({"path": 7}), "path"),
        (json!({"path": "a", "range": [1]}), "range"),
        (json!({"path": "a", "range": [1, 2, 3]}), "range"),
        (json!({"path": "a", "range": [0, 2]}), "range"),
        (json!({"path": "a", "range": [5, 2]}), "range"),
        (json!({"path": "a", "range": ["1", "2"]}), "range"),
        (json!({"path": "a", "range": "1-2"}), "range"),
        (json!({"path": "a", "max_bytes": 0}), "max_bytes"),
        (json!({"path": "a", "max_bytes": -1}), "max_bytes"),
        (json!({"path": "a", "max_bytes": 1.5}), "max_bytes"),
        (json!({"path": "a", "max_bytes": "10"}), "max_bytes"),
        (json!({"path": "a", "version": 0}), "version"),
    ];
    for (arguments, field) in cases {
        let (named, problem) = bad_field("read", arguments.clone());
        assert_eq!(named, field, "{arguments}");
        assert!(problem.contains(&format!("\"{field}\"")), "{problem}");
    }
    let (_, problem) = bad_field("read", json!({"path": "a", "range": [5, 2]}));
    assert!(problem.contains("[5, 2]"), "{problem}");
    let (_, problem) = bad_field("read", json!({"path": "a", "max_bytes": "10"}));
    assert!(problem.ends_with("not a string"), "{problem}");
}

#[test]
fn write_accepts_empty_content_and_version_zero() {
    assert_eq!(
        call(
            "write",
            json!({"path": "a.md", "content": "", "expected_version": 0})
        )
        .unwrap(),
        ToolCall::Write(WriteArgs {
            path: "a.md".into(),
            content: String::new(),
            expected_version: Some(0)
        })
    );
    assert_eq!(bad_field("write", json!({"path": "a.md"})).0, "content");
    assert_eq!(
        bad_field("write", json!({"path": "a.md", "content": ["x"]})).0,
        "content"
    );
    assert_eq!(
        bad_field(
            "write",
            json!({"path": "a", "content": "x", "expected_version": -1})
        )
        .0,
        "expected_version"
    );
}

#[test]
fn one_call_carries_at_most_1_mb_of_new_text() {
    let at_limit = "x".repeat(MAX_WRITE_BYTES);
    assert!(call("write", json!({"path": "a.md", "content": at_limit})).is_ok());
    // Bytes, not characters: 'é' is two.
    let over = "é".repeat(MAX_WRITE_BYTES / 2 + 1);
    let (field, problem) = bad_field("write", json!({"path": "a.md", "content": over}));
    assert_eq!(field, "content");
    assert!(
        problem.contains("is 1000002 bytes") && problem.contains("at most 1000000"),
        "{problem}"
    );
    let edit = json!({"path": "a.md", "old_str": "x", "new_str": "y".repeat(MAX_WRITE_BYTES + 1)});
    assert_eq!(bad_field("edit", edit).0, "new_str");
}

#[test]
fn edit_changes() {
    let edit = |arguments| match call("edit", arguments) {
        Ok(ToolCall::Edit(EditArgs { path, change })) => {
            assert_eq!(path, "a.md");
            change
        }
        other => panic!("{other:?}"),
    };
    assert_eq!(
        edit(json!({"path": "a.md", "old_str": "x", "new_str": ""})),
        EditChange::Replace {
            old_str: "x".into(),
            new_str: String::new(),
            new_path: None
        }
    );
    assert_eq!(
        edit(json!({"path": "a.md", "old_str": "x", "new_str": "y", "new_path": "b.md"})),
        EditChange::Replace {
            old_str: "x".into(),
            new_str: "y".into(),
            new_path: Some("b.md".into())
        }
    );
    assert_eq!(
        edit(json!({"path": "a.md", "new_path": "b.md", "delete": false})),
        EditChange::Move {
            new_path: "b.md".into()
        }
    );
    assert_eq!(
        edit(json!({"path": "a.md", "delete": true})),
        EditChange::Delete
    );
}

#[test]
fn edit_refuses_ambiguous_or_empty_requests() {
    let cases = [
        (json!({"path": "a.md"}), "old_str"),
        (json!({"path": "a.md", "delete": false}), "old_str"),
        (json!({"path": "a.md", "old_str": "x"}), "new_str"),
        (json!({"path": "a.md", "new_str": "x"}), "old_str"),
        (
            json!({"path": "a.md", "old_str": "", "new_str": "x"}),
            "old_str",
        ),
        (json!({"path": "a.md", "new_path": ""}), "new_path"),
        (
            json!({"path": "a.md", "delete": true, "new_path": "b"}),
            "delete",
        ),
        (
            json!({"path": "a.md", "delete": true, "old_str": "x", "new_str": "y"}),
            "delete",
        ),
        (json!({"path": "a.md", "delete": "yes"}), "delete"),
        (json!({"old_str": "x", "new_str": "y"}), "path"),
    ];
    for (arguments, field) in cases {
        assert_eq!(bad_field("edit", arguments.clone()).0, field, "{arguments}");
    }
}

#[test]
fn glob_limit_defaults_bounds_and_original_name() {
    let limit = |arguments| match call("glob", arguments) {
        Ok(ToolCall::Glob(args)) => args.limit,
        other => panic!("{other:?}"),
    };
    assert_eq!(limit(json!({"pattern": "**/*.md"})), GLOB_DEFAULT_LIMIT);
    assert_eq!(limit(json!({"pattern": "*", "limit": 5})), 5);
    assert_eq!(limit(json!({"pattern": "*", "max_results": 7})), 7);
    assert_eq!(
        limit(json!({"pattern": "*", "limit": 5, "max_results": 7})),
        5
    );
    assert_eq!(
        bad_field("glob", json!({"pattern": "*", "limit": 0})).0,
        "limit"
    );
    assert_eq!(
        bad_field("glob", json!({"pattern": "*", "limit": 1001})).0,
        "limit"
    );
    assert_eq!(
        bad_field("glob", json!({"pattern": "*", "max_results": 1001})).0,
        "max_results"
    );
    assert_eq!(
        bad_field("glob", json!({"pattern": "*", "cursor": 3})).0,
        "cursor"
    );
    assert_eq!(bad_field("glob", json!({})).0, "pattern");
    let Ok(ToolCall::Glob(args)) = call("glob", json!({"pattern": "*", "cursor": "c2"})) else {
        panic!("not glob")
    };
    assert_eq!(args.cursor.as_deref(), Some("c2"));
}

#[test]
fn grep_defaults_and_bounds() {
    assert_eq!(
        call("grep", json!({"pattern": "TODO"})).unwrap(),
        ToolCall::Grep(GrepArgs {
            pattern: "TODO".into(),
            path: None,
            max_matches: GREP_DEFAULT_MATCHES,
            context_lines: 0,
            cursor: None,
        })
    );
    assert!(
        call(
            "grep",
            json!({"pattern": "x", "path": "projects/**", "context_lines": 20})
        )
        .is_ok()
    );
    assert_eq!(
        bad_field("grep", json!({"pattern": "x", "context_lines": 21})).0,
        "context_lines"
    );
    assert_eq!(
        bad_field("grep", json!({"pattern": "x", "max_matches": 0})).0,
        "max_matches"
    );
    assert_eq!(bad_field("grep", json!({"pattern": ""})).0, "pattern");
}

#[test]
fn search_history_revert_recent() {
    assert_eq!(
        call("search", json!({"query": "otters"})).unwrap(),
        ToolCall::Search(SearchArgs {
            query: "otters".into(),
            limit: SEARCH_DEFAULT_LIMIT,
            cursor: None
        })
    );
    assert_eq!(
        bad_field("search", json!({"query": "x", "limit": 51})).0,
        "limit"
    );
    assert_eq!(bad_field("search", json!({})).0, "query");
    assert_eq!(
        call("history", json!({"path": "a.md", "limit": 100})).unwrap(),
        ToolCall::History(HistoryArgs {
            path: "a.md".into(),
            cursor: None,
            limit: 100
        })
    );
    assert_eq!(bad_field("history", json!({})).0, "path");
    assert_eq!(
        call("revert", json!({"path": "a.md", "version": 2})).unwrap(),
        ToolCall::Revert(RevertArgs {
            path: "a.md".into(),
            version: 2
        })
    );
    assert_eq!(bad_field("revert", json!({"path": "a.md"})).0, "version");
    assert_eq!(
        bad_field("revert", json!({"path": "a.md", "version": 0})).0,
        "version"
    );
    // No arguments at all is fine for a tool without required ones.
    let params = json!({"name": "recent"});
    assert_eq!(
        ToolCall::parse(params.as_object()).unwrap(),
        ToolCall::Recent(RecentArgs {
            limit: RECENT_DEFAULT_LIMIT,
            cursor: None,
        })
    );
    assert_eq!(bad_field("recent", json!({"cursor": 7})).0, "cursor");
    assert_eq!(bad_field("recent", json!({"limit": 101})).0, "limit");
}

#[test]
fn malformed_params_and_unknown_tools() {
    assert_eq!(ToolCall::parse(None), Err(ToolCallError::MalformedParams));
    for params in [
        json!({}),
        json!({"name": 1}),
        json!({"name": "read", "arguments": []}),
        json!({"name": "read", "arguments": "path=a"}),
    ] {
        assert_eq!(
            ToolCall::parse(params.as_object()),
            Err(ToolCallError::MalformedParams),
            "{params}"
        );
    }
    let err = call("delete_everything", json!({})).unwrap_err();
    assert_eq!(err, ToolCallError::UnknownTool("delete_everything".into()));
    assert_eq!(
        err.to_error_object().message,
        "Invalid params: Unknown tool: delete_everything"
    );
}

#[test]
fn every_tool_parses_and_reports_its_name() {
    let minimal = [
        ("read", json!({"path": "a"})),
        ("write", json!({"path": "a", "content": "c"})),
        ("edit", json!({"path": "a", "delete": true})),
        ("glob", json!({"pattern": "*"})),
        ("grep", json!({"pattern": "x"})),
        ("search", json!({"query": "q"})),
        ("history", json!({"path": "a"})),
        ("revert", json!({"path": "a", "version": 1})),
        ("recent", json!({})),
    ];
    assert_eq!(minimal.len(), ToolName::ALL.len());
    for (name, arguments) in minimal {
        let parsed = call(name, arguments).unwrap();
        assert_eq!(parsed.tool().as_str(), name);
        let serialized = serde_json::to_value(&parsed).unwrap();
        assert_eq!(serialized["tool"], name);
    }
}

#[test]
fn argument_errors_are_protocol_errors_until_2025_06_18_and_tool_errors_after() {
    let err = bad_field_error();
    for version in ProtocolVersion::ALL {
        let reply = err.reply(version);
        if version >= ProtocolVersion::V2025_11_25 {
            let ToolCallReply::ToolError(result) = reply else {
                panic!("{version}: {reply:?}")
            };
            let value = result.to_value();
            assert_eq!(value["isError"], true);
            let text = value["content"][0]["text"].as_str().unwrap();
            assert!(
                text.contains("read") && text.contains("\"range\""),
                "{text}"
            );
        } else {
            let ToolCallReply::ProtocolError(error) = reply else {
                panic!("{version}: {reply:?}")
            };
            assert_eq!(error.code.0, -32602);
            assert_eq!(
                error.data.unwrap(),
                json!({"tool": "read", "field": "range"})
            );
        }
    }
    let unknown = ToolCallError::UnknownTool("x".into());
    for version in ProtocolVersion::ALL {
        assert!(matches!(
            unknown.reply(version),
            ToolCallReply::ProtocolError(_)
        ));
    }
}

fn bad_field_error() -> ToolCallError {
    call("read", json!({"path": "a", "range": [3, 1]})).unwrap_err()
}

/// What the parser accepts, the input schema accepts, and the reverse for type and range
/// errors, in both JSON Schema dialects clients may assume.
#[test]
fn parser_and_input_schemas_agree() {
    let accepted = [
        (
            "read",
            json!({"path": "a", "range": [1, 3], "max_bytes": 1, "version": 1}),
        ),
        (
            "write",
            json!({"path": "a", "content": "", "expected_version": 0}),
        ),
        (
            "edit",
            json!({"path": "a", "old_str": "x", "new_str": "", "new_path": "b"}),
        ),
        (
            "glob",
            json!({"pattern": "*", "limit": 1000, "cursor": "c"}),
        ),
        (
            "grep",
            json!({"pattern": "x", "path": "p/**", "max_matches": 1, "context_lines": 0}),
        ),
        ("search", json!({"query": "q", "limit": 50})),
        ("history", json!({"path": "a", "limit": 1})),
        ("revert", json!({"path": "a", "version": 9})),
        ("recent", json!({"limit": 100})),
    ];
    let refused = [
        ("read", json!({"path": ""})),
        ("read", json!({"path": "a", "range": [0, 1]})),
        ("read", json!({"path": "a", "range": [1]})),
        ("read", json!({"path": "a", "max_bytes": 0})),
        ("write", json!({"path": "a"})),
        (
            "write",
            json!({"path": "a", "content": "c", "expected_version": -1}),
        ),
        ("edit", json!({"path": "a", "old_str": ""})),
        ("glob", json!({"pattern": "*", "limit": 1001})),
        ("grep", json!({"pattern": "x", "context_lines": 21})),
        ("search", json!({"query": "q", "limit": 0})),
        ("history", json!({"path": "a", "limit": 101})),
        ("revert", json!({"path": "a"})),
        ("recent", json!({"limit": 1.5})),
    ];
    for draft in ["draft7", "draft2020-12"] {
        for (name, arguments) in &accepted {
            let schema = spec(ToolName::parse(name).unwrap()).input;
            assert!(call(name, arguments.clone()).is_ok(), "{name} {arguments}");
            assert!(
                validate(draft, &schema, arguments),
                "{draft} {name} {arguments}"
            );
        }
        for (name, arguments) in &refused {
            let schema = spec(ToolName::parse(name).unwrap()).input;
            assert!(call(name, arguments.clone()).is_err(), "{name} {arguments}");
            assert!(
                !validate(draft, &schema, arguments),
                "{draft} {name} {arguments}"
            );
        }
    }
}

fn validate(draft: &str, schema: &Value, instance: &Value) -> bool {
    let validator = match draft {
        "draft7" => jsonschema::draft7::new(schema),
        _ => jsonschema::draft202012::new(schema),
    };
    validator.expect("schema compiles").is_valid(instance)
}
