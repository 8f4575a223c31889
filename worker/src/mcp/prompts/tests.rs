use engine::NotePath;
use serde_json::json;

use super::*;

fn params(value: Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap_or_default()
}

fn get(value: Value) -> Result<PromptRequest, GetPromptError> {
    PromptRequest::parse(Some(&params(value)))
}

fn note(path: &str) -> NoteSummary {
    NoteSummary {
        path: NotePath::new(path).unwrap(),
        size: 42,
        modified: "2026-08-01T10:00:00.000Z".into(),
    }
}

fn texts(result: &Value) -> Vec<String> {
    result["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["content"]["text"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn names_round_trip() {
    for prompt in PromptName::ALL {
        assert_eq!(PromptName::parse(prompt.as_str()), Some(prompt));
    }
    assert_eq!(PromptName::parse("Capture-Note"), None);
}

#[test]
fn definitions_have_titles_only_where_the_version_has_them() {
    let old = serde_json::to_value(prompt_definitions(ProtocolVersion::V2025_03_26)).unwrap();
    assert_eq!(
        old[0],
        json!({
            "name": "capture-note",
            "description": PromptName::CaptureNote.description(),
            "arguments": [
                {"name": "text", "description": "The text to capture.", "required": true},
                {"name": "topic", "description": "What the text is about, to help choose where it goes.", "required": false}
            ]
        })
    );
    let new = serde_json::to_value(prompt_definitions(ProtocolVersion::V2025_06_18)).unwrap();
    for prompt in new.as_array().unwrap() {
        assert!(prompt["title"].is_string(), "{prompt}");
        for argument in prompt["arguments"].as_array().unwrap() {
            assert!(argument["title"].is_string() && argument["description"].is_string());
        }
    }
    let names: Vec<&str> = new
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["capture-note", "weekly-review", "research-summary"]);
}

#[test]
fn the_list_is_one_public_page() {
    let old = list_result(ProtocolVersion::V2025_11_25, None).unwrap();
    assert_eq!(old["prompts"].as_array().unwrap().len(), 3);
    assert!(old.get("ttlMs").is_none() && old.get("nextCursor").is_none());
    let new = list_result(ProtocolVersion::V2026_07_28, None).unwrap();
    assert_eq!(new["cacheScope"], "public");
    assert_eq!(new["ttlMs"], LIST_TTL_MS);
    let cursor = params(json!({"cursor": "next"}));
    let err = list_result(ProtocolVersion::V2026_07_28, Some(&cursor)).unwrap_err();
    assert_eq!(err.to_error().code.0, -32602);
}

#[test]
fn get_params_are_typed() {
    assert_eq!(
        get(
            json!({"name": "capture-note", "arguments": {"text": "buy milk", "topic": " errands "}})
        ),
        Ok(PromptRequest::CaptureNote {
            text: "buy milk".into(),
            topic: Some("errands".into())
        })
    );
    assert_eq!(
        get(
            json!({"name": "capture-note", "arguments": {"text": "x", "topic": "", "extra": "ignored"}})
        ),
        Ok(PromptRequest::CaptureNote {
            text: "x".into(),
            topic: None
        })
    );
    assert_eq!(
        get(json!({"name": "weekly-review"})),
        Ok(PromptRequest::WeeklyReview { days: 7 })
    );
    assert_eq!(
        get(json!({"name": "weekly-review", "arguments": {"days": " 30 "}})),
        Ok(PromptRequest::WeeklyReview { days: 30 })
    );
    assert_eq!(
        get(json!({"name": "research-summary", "arguments": {"topic": "tomatoes"}})),
        Ok(PromptRequest::ResearchSummary {
            topic: "tomatoes".into()
        })
    );
}

#[test]
fn get_errors_are_invalid_params_that_say_what_to_fix() {
    let cases = [
        (json!({}), "\"name\" is required"),
        (json!({"name": 3}), "\"name\" is required"),
        (json!({"name": "summarise"}), "unknown prompt \"summarise\""),
        (
            json!({"name": "capture-note", "arguments": []}),
            "must be an object",
        ),
        (
            json!({"name": "capture-note"}),
            "capture-note: the argument \"text\" is required",
        ),
        (
            json!({"name": "capture-note", "arguments": {"text": "  "}}),
            "\"text\" is required",
        ),
        (
            json!({"name": "capture-note", "arguments": {"text": 5}}),
            "argument \"text\" must be a string",
        ),
        (
            json!({"name": "research-summary", "arguments": {"topic": null}}),
            "\"topic\" is required",
        ),
        (
            json!({"name": "weekly-review", "arguments": {"days": "0"}}),
            "from 1 to 366",
        ),
        (
            json!({"name": "weekly-review", "arguments": {"days": "367"}}),
            "from 1 to 366",
        ),
        (
            json!({"name": "weekly-review", "arguments": {"days": "-3"}}),
            "from 1 to 366",
        ),
        (
            json!({"name": "weekly-review", "arguments": {"days": "a week"}}),
            "from 1 to 366",
        ),
    ];
    for (value, expected) in cases {
        let err = get(value.clone()).unwrap_err();
        let error = err.to_error();
        assert_eq!(error.code.0, -32602, "{value}");
        assert!(
            error.message.contains(expected),
            "{value}: {}",
            error.message
        );
    }
    assert_eq!(PromptRequest::parse(None), Err(GetPromptError::NoName));
}

#[test]
fn capture_note_embeds_the_text_and_names_the_tools() {
    let result = capture_note("call the plumber", Some("house"));
    assert_eq!(result["description"], PromptName::CaptureNote.description());
    let messages = result["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["role"], "user");
    assert_eq!(messages[0]["content"]["type"], "text");
    let text = &texts(&result)[0];
    for needle in [
        "call the plumber",
        "Topic: house",
        "`search`",
        "`glob`",
        "`edit`",
        "`write`",
        "expected_version: 0",
    ] {
        assert!(text.contains(needle), "{needle}: {text}");
    }
    let untopical = texts(&capture_note("x", None))[0].clone();
    assert!(!untopical.contains("Topic:"));
}

#[test]
fn weekly_review_lists_paths_versions_and_times() {
    let changed = [
        ChangedNote {
            note: note("b.md"),
            version: 3,
        },
        ChangedNote {
            note: note("a/c.md"),
            version: 1,
        },
    ];
    let result = weekly_review(7, &changed, 0);
    let text = &texts(&result)[0];
    assert!(text.contains("last 7 days"), "{text}");
    assert!(text.contains("(2 notes)"), "{text}");
    let b = text
        .find("- b.md (version 3, changed 2026-08-01T10:00:00.000Z, 42 bytes)")
        .unwrap();
    let c = text.find("- a/c.md (version 1,").unwrap();
    assert!(b < c, "newest first: {text}");
    assert!(!text.contains("more"), "{text}");
    let more = &texts(&weekly_review(1, &changed, 5))[0];
    assert!(
        more.contains("last day") && more.contains("(7 notes)"),
        "{more}"
    );
    assert!(more.contains("and 5 more"), "{more}");
    let none = &texts(&weekly_review(7, &[], 0))[0];
    assert!(none.contains("None of my notes changed"), "{none}");
}

#[test]
fn research_summary_lists_hits_and_links_them_where_it_can() {
    let hits = [Hit {
        note: note("garden/tomatoes.md"),
        version: 2,
        snippet: "Water the heirloom tomatoes".into(),
    }];
    let new = research_summary(ProtocolVersion::V2025_06_18, "heirloom", &hits);
    let messages = new["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2);
    let text = messages[0]["content"]["text"].as_str().unwrap();
    assert!(text.contains("\"heirloom\""), "{text}");
    assert!(
        text.contains("1. garden/tomatoes.md (version 2): Water the heirloom tomatoes"),
        "{text}"
    );
    assert!(text.contains("attached"), "{text}");
    assert_eq!(
        messages[1]["content"],
        json!({
            "type": "resource_link",
            "uri": "note:///garden/tomatoes.md",
            "name": "garden/tomatoes.md",
            "title": "tomatoes.md",
            "mimeType": "text/markdown",
            "size": 42,
            "annotations": {"lastModified": "2026-08-01T10:00:00.000Z"}
        })
    );
    let old = research_summary(ProtocolVersion::V2025_03_26, "heirloom", &hits);
    assert_eq!(old["messages"].as_array().unwrap().len(), 1);
    assert!(!texts(&old)[0].contains("attached"));
    let none = research_summary(ProtocolVersion::V2025_06_18, "kumquats", &[]);
    assert_eq!(none["messages"].as_array().unwrap().len(), 1);
    assert!(texts(&none)[0].contains("found nothing"));
}
