use serde_json::json;

use super::*;

fn path(p: &str) -> NotePath {
    NotePath::new(p).unwrap()
}

fn uri(p: &str, version: Option<u64>) -> String {
    NoteUri {
        path: path(p),
        version,
    }
    .to_string()
}

fn params(value: Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap_or_default()
}

#[test]
fn uris_percent_encode_each_segment() {
    assert_eq!(uri("ideas/plan.md", None), "note:///ideas/plan.md");
    assert_eq!(
        uri("my notes/été.md", None),
        "note:///my%20notes/%C3%A9t%C3%A9.md"
    );
    assert_eq!(
        uri("what?#%.md", Some(3)),
        "note:///what%3F%23%25.md?version=3"
    );
    assert_eq!(uri("a-b_c~d.e", None), "note:///a-b_c~d.e");
    assert_eq!(uri("x+y=z&w", None), "note:///x%2By%3Dz%26w");
}

#[test]
fn every_valid_path_round_trips() {
    let mut paths: Vec<String> = (0x20u8..0x7f)
        .map(|b| format!("dir {}/a{}b.md", char::from(b), char::from(b)))
        .collect();
    paths.extend(
        [
            "émoji 🌱.md",
            ".hidden",
            "a..b",
            "x/.y",
            "(1) [draft] {x}.md",
            "日本語/メモ.txt",
            "100%",
        ]
        .map(str::to_owned),
    );
    let mut checked = 0;
    for p in paths {
        let Ok(note) = NotePath::new(p.clone()) else {
            continue;
        };
        for version in [None, Some(1), Some(u64::MAX)] {
            let written = NoteUri {
                path: note.clone(),
                version,
            };
            let text = written.to_string();
            assert!(text.starts_with(NOTE_URI_PREFIX), "{text}");
            assert_eq!(NoteUri::parse(&text), Ok(written), "{p:?} as {text}");
        }
        checked += 1;
    }
    assert!(checked > 90, "{checked}");
}

#[test]
fn equivalent_spellings_are_accepted() {
    let plain = NoteUri::current(path("été.md"));
    for spelling in [
        "note:///%c3%a9t%c3%a9.md",
        "NOTE:///%C3%A9t%C3%A9.md",
        "note:///%C3%A9t%C3%A9%2Emd",
    ] {
        assert_eq!(NoteUri::parse(spelling), Ok(plain.clone()), "{spelling}");
    }
    // Sub-delimiters, ':' and '@' may appear unescaped in a path (RFC 3986 pchar).
    assert_eq!(
        NoteUri::parse("note:///a:b@c!$&'()*+,;=.md").map(|u| u.path),
        Ok(path("a:b@c!$&'()*+,;=.md"))
    );
}

#[test]
fn bad_uris_are_refused_with_their_reason() {
    let cases: Vec<(&str, UriError)> = vec![
        ("file:///a.md", UriError::NotNote),
        ("a.md", UriError::NotNote),
        ("note:/a.md", UriError::NotNote),
        ("note:a.md", UriError::NotNote),
        (
            "note://host/a.md",
            UriError::Host {
                host: "host".into(),
            },
        ),
        ("note:///a.md#top", UriError::Fragment),
        ("note:///a b.md", UriError::Character { found: ' ', at: 9 }),
        ("note:///é.md", UriError::Character { found: 'é', at: 8 }),
        ("note:///a\\b", UriError::Character { found: '\\', at: 9 }),
        ("note:///a%2Fb.md", UriError::EncodedSlash),
        ("note:///a%2fb.md", UriError::EncodedSlash),
        ("note:///a%zz", UriError::Escape { at: 9 }),
        ("note:///a%2", UriError::Escape { at: 9 }),
        ("note:///a%+1b", UriError::Escape { at: 9 }),
        ("note:///%FF", UriError::NotUtf8),
        ("note:///", UriError::Path(PathError::Empty)),
        ("note://", UriError::Path(PathError::Empty)),
        ("note:///?version=1", UriError::Path(PathError::Empty)),
        (
            "note:///a/../b",
            UriError::Path(PathError::DotSegment { segment: ".." }),
        ),
        ("note:///a//b", UriError::Path(PathError::EmptySegment)),
        ("note:///a/", UriError::Path(PathError::TrailingSlash)),
        ("note:////a", UriError::Path(PathError::Absolute)),
        (
            "note:///a%00",
            UriError::Path(PathError::BadCharacter { found: '\0', at: 1 }),
        ),
        (
            "note:///a%5Cb",
            UriError::Path(PathError::BadCharacter { found: '\\', at: 1 }),
        ),
        ("note:///a.md?v=1", UriError::UnknownQuery("v".into())),
        ("note:///a.md?", UriError::UnknownQuery(String::new())),
        ("note:///a.md?version=0", UriError::Version("0".into())),
        ("note:///a.md?version=-1", UriError::Version("-1".into())),
        ("note:///a.md?version=+1", UriError::Version("+1".into())),
        ("note:///a.md?version=", UriError::Version(String::new())),
        ("note:///a.md?version", UriError::Version(String::new())),
        ("note:///a.md?version=1.0", UriError::Version("1.0".into())),
        (
            "note:///a.md?version=99999999999999999999",
            UriError::Version("99999999999999999999".into()),
        ),
        (
            "note:///a.md?version=1&version=2",
            UriError::Version("2".into()),
        ),
        (
            "note:///a.md?version=1&x=2",
            UriError::UnknownQuery("x".into()),
        ),
    ];
    for (text, want) in cases {
        assert_eq!(NoteUri::parse(text), Err(want), "{text:?}");
    }
    let long = format!("note:///{}", "a".repeat(2_000));
    assert!(matches!(
        NoteUri::parse(&long),
        Err(UriError::Path(PathError::TooLong { .. }))
    ));
    let message = NoteUri::parse("note:///a b").unwrap_err().to_string();
    assert!(message.contains("percent-encoded"), "{message}");
}

#[test]
fn media_types_follow_the_extension() {
    assert_eq!(mime_type("a/b/plan.md"), "text/markdown");
    assert_eq!(mime_type("notes/X.MARKDOWN"), "text/markdown");
    assert_eq!(mime_type("todo.txt"), "text/plain");
    assert_eq!(mime_type("README"), "text/plain");
    assert_eq!(mime_type("dir.md/file"), "text/plain");
}

#[test]
fn list_cursors_are_opaque_and_checked() {
    let cursor = ListCursor(path("my notes/b.md"));
    let token = cursor.to_token();
    assert!(!token.is_empty() && !token.contains("notes"), "{token}");
    assert_eq!(ListCursor::from_token(&token), Ok(cursor));
    let bad_path = format!("n1.{}", URL_SAFE_NO_PAD.encode("../up"));
    let not_utf8 = format!("n1.{}", URL_SAFE_NO_PAD.encode([0xff, 0xfe]));
    for token in ["", "n1.", "n1.!!!", "garbage", "bXk", &bad_path, &not_utf8] {
        let err = ListCursor::from_token(token).unwrap_err();
        assert!(matches!(err, CursorError::NotIssued { .. }), "{token}");
        assert_eq!(err.to_error().code.0, -32602);
    }
}

#[test]
fn list_params_read_the_cursor() {
    assert_eq!(list_params(None), Ok(None));
    let token = ListCursor(path("a.md")).to_token();
    let with = params(json!({"cursor": token}));
    assert_eq!(list_params(Some(&with)), Ok(Some(ListCursor(path("a.md")))));
    let number = params(json!({"cursor": 1}));
    assert!(matches!(
        list_params(Some(&number)),
        Err(CursorError::NotAString { .. })
    ));
    let foreign = params(json!({"cursor": "abc"}));
    assert!(matches!(
        list_params(Some(&foreign)),
        Err(CursorError::NotIssued { .. })
    ));
}

fn summary(p: &str) -> NoteSummary {
    NoteSummary {
        path: path(p),
        size: 12,
        modified: "2026-08-01T10:00:00.123Z".into(),
    }
}

#[test]
fn resources_carry_the_fields_each_version_has() {
    let note = summary("my notes/plan.md");
    let old = serde_json::to_value(Resource::note(ProtocolVersion::V2024_11_05, &note)).unwrap();
    assert_eq!(
        old,
        json!({
            "uri": "note:///my%20notes/plan.md",
            "name": "my notes/plan.md",
            "mimeType": "text/markdown",
            "size": 12
        })
    );
    let old = serde_json::to_value(Resource::note(ProtocolVersion::V2025_03_26, &note)).unwrap();
    assert!(old.get("title").is_none() && old.get("annotations").is_none());
    for version in [
        ProtocolVersion::V2025_06_18,
        ProtocolVersion::V2025_11_25,
        ProtocolVersion::V2026_07_28,
    ] {
        let new = serde_json::to_value(Resource::note(version, &note)).unwrap();
        assert_eq!(new["title"], "plan.md", "{version}");
        assert_eq!(
            new["annotations"],
            json!({"lastModified": "2026-08-01T10:00:00.123Z"})
        );
    }
}

#[test]
fn list_results_page_and_are_private_in_2026_07_28() {
    let notes = [summary("a.md"), summary("b.txt")];
    let next = ListCursor(path("b.txt"));
    let page = list_result(ProtocolVersion::V2025_06_18, &notes, Some(&next));
    assert_eq!(page["resources"].as_array().unwrap().len(), 2);
    assert_eq!(page["resources"][1]["mimeType"], "text/plain");
    assert_eq!(page["nextCursor"], next.to_token());
    assert!(page.get("ttlMs").is_none());
    let last = list_result(ProtocolVersion::V2026_07_28, &notes, None);
    assert!(last.get("nextCursor").is_none());
    assert_eq!(last["ttlMs"], 0);
    assert_eq!(last["cacheScope"], "private");
}

#[test]
fn read_params_need_a_note_uri() {
    let good = params(json!({"uri": "note:///a%20b.md?version=2"}));
    let (sent, parsed) = read_params(Some(&good)).unwrap();
    assert_eq!(sent, "note:///a%20b.md?version=2");
    assert_eq!(
        parsed,
        NoteUri {
            path: path("a b.md"),
            version: Some(2)
        }
    );
    for bad in [None, Some(json!({})), Some(json!({"uri": 7}))] {
        let map = bad.map(params);
        let err = read_params(map.as_ref()).unwrap_err();
        assert_eq!(err, ReadError::NoUri);
        assert_eq!(err.to_error(ProtocolVersion::V2025_06_18).code.0, -32602);
    }
    let bad = params(json!({"uri": "note:///../x"}));
    let err = read_params(Some(&bad)).unwrap_err();
    let error = err.to_error(ProtocolVersion::V2025_06_18);
    assert_eq!(error.code.0, -32602);
    assert!(error.message.contains("'..'"), "{}", error.message);
}

#[test]
fn not_found_uses_the_code_of_the_version() {
    let err = ReadError::NotFound {
        uri: "note:///gone.md".into(),
        detail: "gone.md: no such note".into(),
    };
    for version in [ProtocolVersion::V2024_11_05, ProtocolVersion::V2025_11_25] {
        let error = err.to_error(version);
        assert_eq!(error.code.0, -32002, "{version}");
        assert!(error.message.starts_with("Resource not found"));
        assert_eq!(error.data, Some(json!({"uri": "note:///gone.md"})));
    }
    let error = err.to_error(ProtocolVersion::V2026_07_28);
    assert_eq!(error.code.0, -32602);
    assert_eq!(error.data, Some(json!({"uri": "note:///gone.md"})));
}

#[test]
fn read_results_name_the_canonical_uri() {
    let current = NoteUri::current(path("a b.md"));
    let result = read_result(ProtocolVersion::V2025_06_18, &current, "hello".into());
    assert_eq!(
        result,
        json!({"contents": [{"uri": "note:///a%20b.md", "mimeType": "text/markdown", "text": "hello"}]})
    );
    let result = read_result(ProtocolVersion::V2026_07_28, &current, "hello".into());
    assert_eq!(
        (result["ttlMs"].as_u64(), &result["cacheScope"]),
        (Some(0), &json!("private"))
    );
    let past = NoteUri {
        path: path("t.txt"),
        version: Some(4),
    };
    let result = read_result(ProtocolVersion::V2026_07_28, &past, String::new());
    assert_eq!(result["contents"][0]["uri"], "note:///t.txt?version=4");
    assert_eq!(result["contents"][0]["mimeType"], "text/plain");
    assert_eq!(result["ttlMs"], PAST_VERSION_TTL_MS);
}

#[test]
fn templates_are_one_public_page() {
    let old = templates_result(ProtocolVersion::V2025_03_26, None).unwrap();
    let listed = old["resourceTemplates"].as_array().unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0]["uriTemplate"], NOTE_TEMPLATE);
    assert_eq!(listed[1]["uriTemplate"], NOTE_VERSION_TEMPLATE);
    assert!(listed.iter().all(|t| t.get("title").is_none()));
    let new = templates_result(ProtocolVersion::V2026_07_28, None).unwrap();
    assert_eq!(new["resourceTemplates"][1]["title"], "Note version");
    assert_eq!(new["ttlMs"], LIST_TTL_MS);
    assert_eq!(new["cacheScope"], "public");
    let cursor = params(json!({"cursor": "x"}));
    assert!(templates_result(ProtocolVersion::V2026_07_28, Some(&cursor)).is_err());
}

#[test]
fn template_expansions_parse_back() {
    // What an RFC 6570 client makes of the templates for `projects/garden plan.md`, version 2:
    // reserved expansion keeps '/', and percent-encodes the space.
    let current = NoteUri::parse("note:///projects/garden%20plan.md").unwrap();
    assert_eq!(current.path.as_str(), "projects/garden plan.md");
    let past = NoteUri::parse("note:///projects/garden%20plan.md?version=2").unwrap();
    assert_eq!(past.version, Some(2));
}

#[test]
fn subscriptions_name_a_current_note() {
    let named = |value: Value| subscription_params(Some(&params(value)));
    assert_eq!(
        named(json!({"uri": "note:///my%20notes/a.md"})),
        Ok(path("my notes/a.md"))
    );
    // Not written yet is fine: the client may watch a path before it exists.
    assert_eq!(
        named(json!({"uri": uri("later.md", None)})),
        Ok(path("later.md"))
    );
    assert!(matches!(
        named(json!({"uri": uri("a.md", Some(2))})),
        Err(SubscriptionError::Version { .. })
    ));
    assert!(matches!(named(json!({})), Err(SubscriptionError::NoUri)));
    assert!(matches!(
        named(json!({"uri": 3})),
        Err(SubscriptionError::NoUri)
    ));
    assert!(matches!(
        named(json!({"uri": "file:///a.md"})),
        Err(SubscriptionError::BadUri { .. })
    ));
    let error = named(json!({"uri": "note:///a.md?version=1"}))
        .unwrap_err()
        .to_error();
    assert_eq!(error.code, crate::mcp::jsonrpc::ErrorCode::INVALID_PARAMS);
}
