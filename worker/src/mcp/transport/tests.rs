use serde_json::json;

use super::*;
use crate::mcp::headers::SessionIdError;
use crate::mcp::jsonrpc::{BatchError, BodyError, RequestId};
use crate::mcp::sse::LogPosition;

const SID: &str = "3f1c0d2e4b5a69788796a5b4c3d2e1f0";
const BOTH: &str = "application/json, text/event-stream";

fn config() -> TransportConfig {
    TransportConfig {
        origins: OriginPolicy::new(["https://claude.ai"]),
        get_stream: true,
    }
}

fn post_headers(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
    let mut headers = vec![("Accept", BOTH), ("Content-Type", "application/json")];
    headers.extend_from_slice(extra);
    headers
}

fn admit_post(extra: &[(&'static str, &'static str)]) -> Result<PostAdmission, Rejection> {
    match admit("POST", post_headers(extra).as_slice(), Some(100), &config())? {
        Admission::Post(post) => Ok(post),
        other => panic!("expected a POST admission, got {other:?}"),
    }
}

fn plan(
    extra: &[(&'static str, &'static str)],
    body: serde_json::Value,
) -> Result<PostPlan, Rejection> {
    admit_post(extra)?.plan(body.to_string().as_bytes())
}

fn stateless_call(meta_version: &str) -> serde_json::Value {
    json!({
        "jsonrpc": "2.0", "id": 5, "method": "tools/call",
        "params": {
            "name": "read",
            "arguments": {"path": "a.md"},
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": meta_version,
                "io.modelcontextprotocol/clientCapabilities": {}
            }
        }
    })
}

const MODERN: (&str, &str) = ("MCP-Protocol-Version", "2026-07-28");
const CALL: (&str, &str) = ("Mcp-Method", "tools/call");
const NAME_READ: (&str, &str) = ("Mcp-Name", "read");

// ---- admit: checks common to every method ----

#[test]
fn forbidden_origin_is_403_whatever_the_method() {
    for method in ["POST", "GET", "DELETE", "PUT"] {
        let headers = [("Origin", "https://evil.example")];
        let err = admit(method, headers.as_slice(), None, &config()).unwrap_err();
        assert_eq!(err, Rejection::ForbiddenOrigin, "{method}");
        assert_eq!(err.status(), 403);
    }
}

#[test]
fn allowed_or_absent_origin_passes() {
    assert!(admit_post(&[("Origin", "https://claude.ai")]).is_ok());
    assert!(admit_post(&[]).is_ok());
    let local = [("Origin", "http://localhost:6274")];
    let err = admit("POST", post_headers(&local).as_slice(), None, &config()).unwrap_err();
    assert_eq!(err, Rejection::ForbiddenOrigin);
    let dev = TransportConfig {
        origins: OriginPolicy::default().with_localhost(),
        get_stream: true,
    };
    assert!(admit("POST", post_headers(&local).as_slice(), None, &dev).is_ok());
}

#[test]
fn other_methods_are_405_with_allow() {
    for method in ["PUT", "PATCH", "HEAD", "OPTIONS", "get"] {
        let err = admit(method, [("a", "b")].as_slice(), None, &config()).unwrap_err();
        assert_eq!(err.status(), 405, "{method}");
        assert_eq!(err.allow(), Some("GET, POST, DELETE"));
    }
    let no_get = TransportConfig {
        get_stream: false,
        ..config()
    };
    let err = admit("PUT", [("a", "b")].as_slice(), None, &no_get).unwrap_err();
    assert_eq!(err.allow(), Some("POST, DELETE"));
}

#[test]
fn unsupported_version_header_is_400_with_supported_list() {
    for value in ["1900-01-01", "2025-06-18 ", "latest", ""] {
        let headers = post_headers(&[("MCP-Protocol-Version", value)]);
        let err = admit("POST", headers.as_slice(), None, &config()).unwrap_err();
        assert_eq!(err.status(), 400, "{value:?}");
        let body = serde_json::to_value(err.response()).unwrap();
        assert_eq!(body["error"]["code"], -32022);
        assert_eq!(body["error"]["data"]["requested"], value);
    }
}

// ---- admit: POST ----

#[test]
fn post_needs_both_accept_types() {
    for accept in [
        None,
        Some("application/json"),
        Some("text/event-stream"),
        Some("text/html"),
    ] {
        let mut headers = vec![("Content-Type", "application/json")];
        if let Some(accept) = accept {
            headers.push(("Accept", accept));
        }
        let err = admit("POST", headers.as_slice(), None, &config()).unwrap_err();
        assert_eq!(err.status(), 406, "{accept:?}");
        assert!(matches!(err, Rejection::NotAcceptable { .. }));
    }
    let wildcard = [("Accept", "*/*"), ("Content-Type", "application/json")];
    assert!(admit("POST", wildcard.as_slice(), None, &config()).is_ok());
}

#[test]
fn post_needs_json_content_type() {
    for content_type in [
        None,
        Some("text/plain"),
        Some("application/json; charset=latin1"),
    ] {
        let mut headers = vec![("Accept", BOTH)];
        if let Some(content_type) = content_type {
            headers.push(("Content-Type", content_type));
        }
        let err = admit("POST", headers.as_slice(), None, &config()).unwrap_err();
        assert_eq!(err, Rejection::UnsupportedMediaType, "{content_type:?}");
        assert_eq!(err.status(), 415);
    }
}

#[test]
fn post_over_the_size_limit_is_413() {
    let headers = post_headers(&[]);
    let err = admit(
        "POST",
        headers.as_slice(),
        Some(MAX_BODY_BYTES + 1),
        &config(),
    )
    .unwrap_err();
    assert_eq!(err.status(), 413);
    assert!(admit("POST", headers.as_slice(), Some(MAX_BODY_BYTES), &config()).is_ok());
    // A body of unknown length is measured when planned.
    let post = admit_post(&[]).unwrap();
    let body = vec![b' '; MAX_BODY_BYTES as usize + 1];
    assert_eq!(
        post.plan(&body).unwrap_err(),
        Rejection::PayloadTooLarge {
            limit: MAX_BODY_BYTES
        }
    );
}

#[test]
fn post_with_malformed_session_id_is_400() {
    let err = admit_post(&[("Mcp-Session-Id", "has space")]).unwrap_err();
    assert_eq!(
        err,
        Rejection::MalformedSessionId(SessionIdError::NotVisibleAscii)
    );
    assert_eq!(err.status(), 400);
}

// ---- admit: GET and DELETE ----

#[test]
fn get_opens_a_stream_for_a_session() {
    let headers = [
        ("Accept", "text/event-stream"),
        ("Mcp-Session-Id", SID),
        ("Last-Event-ID", "41"),
        ("MCP-Protocol-Version", "2025-11-25"),
    ];
    let admission = admit("GET", headers.as_slice(), None, &config()).unwrap();
    let Admission::OpenStream {
        session,
        header_version,
        last_event_id,
    } = admission
    else {
        panic!("not a stream")
    };
    assert_eq!(session.as_str(), SID);
    assert_eq!(header_version, Some(ProtocolVersion::V2025_11_25));
    assert_eq!(last_event_id, Some(EventId::Log(LogPosition::at(41))));
}

#[test]
fn get_rejections() {
    let sse = ("Accept", "text/event-stream");
    let session = ("Mcp-Session-Id", SID);
    type Case = (
        Vec<(&'static str, &'static str)>,
        TransportConfig,
        u16,
        &'static str,
    );
    let cases: Vec<Case> = vec![
        (
            vec![sse, session, MODERN],
            config(),
            405,
            "method_not_allowed",
        ),
        (
            vec![sse, session],
            TransportConfig {
                get_stream: false,
                ..config()
            },
            405,
            "method_not_allowed",
        ),
        (vec![session], config(), 406, "not_acceptable"),
        (
            vec![("Accept", "application/json"), session],
            config(),
            406,
            "not_acceptable",
        ),
        (vec![sse], config(), 400, "missing_session_id"),
        (
            vec![sse, ("Mcp-Session-Id", "")],
            config(),
            400,
            "malformed_session_id",
        ),
        (
            vec![sse, session, ("Last-Event-ID", "x1")],
            config(),
            400,
            "malformed_last_event_id",
        ),
    ];
    for (headers, config, status, kind) in cases {
        let err = admit("GET", headers.as_slice(), None, &config).unwrap_err();
        assert_eq!((err.status(), err.kind()), (status, kind), "{headers:?}");
    }
    let err = admit("GET", [sse, session, MODERN].as_slice(), None, &config()).unwrap_err();
    assert_eq!(err.allow(), Some("POST"));
}

#[test]
fn delete_ends_a_session() {
    let admission = admit(
        "DELETE",
        [("Mcp-Session-Id", SID)].as_slice(),
        None,
        &config(),
    )
    .unwrap();
    assert!(matches!(
        admission,
        Admission::EndSession {
            header_version: None,
            ..
        }
    ));
    let err = admit("DELETE", [("x", "y")].as_slice(), None, &config()).unwrap_err();
    assert_eq!(err, Rejection::MissingSessionId);
    let err = admit(
        "DELETE",
        [("Mcp-Session-Id", "a\u{1}")].as_slice(),
        None,
        &config(),
    )
    .unwrap_err();
    assert_eq!(err.kind(), "malformed_session_id");
    let err = admit(
        "DELETE",
        [("Mcp-Session-Id", SID), MODERN].as_slice(),
        None,
        &config(),
    )
    .unwrap_err();
    assert_eq!((err.status(), err.allow()), (405, Some("POST")));
}

// ---- plan: handshake era ----

#[test]
fn initialize_starts_a_session_even_with_a_stale_session_id() {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}}});
    for extra in [&[][..], &[("Mcp-Session-Id", SID)][..]] {
        let plan = plan(extra, body.clone()).unwrap();
        let PostPlan::Initialize(request) = &plan else {
            panic!("not initialize: {plan:?}")
        };
        assert_eq!(request.id, RequestId::Number(1));
        assert!(plan.expects_response());
    }
}

#[test]
fn unparseable_bodies_are_400() {
    let post = admit_post(&[]).unwrap();
    let err = post.clone().plan(b"{oops").unwrap_err();
    assert!(matches!(err, Rejection::InvalidBody(BodyError::Parse(_))));
    assert_eq!(err.status(), 400);
    let err = post.clone().plan(b"[]").unwrap_err();
    assert_eq!(err, Rejection::InvalidBody(BodyError::EmptyBatch));
    let err = post
        .plan(br#"{"jsonrpc":"2.0","id":null,"method":"x"}"#)
        .unwrap_err();
    assert_eq!(
        serde_json::to_value(err.response()).unwrap()["error"]["code"],
        -32600
    );
}

#[test]
fn session_messages_need_a_session_id() {
    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"});
    assert_eq!(
        plan(&[], list.clone()).unwrap_err(),
        Rejection::MissingSessionId
    );
    let plan = plan(&[("Mcp-Session-Id", SID)], list).unwrap();
    let PostPlan::Session {
        session,
        header_version,
        incoming,
    } = &plan
    else {
        panic!("not a session plan")
    };
    assert_eq!(session.as_str(), SID);
    assert_eq!(*header_version, None);
    assert!(!incoming.is_batch());
    assert!(plan.expects_response());
}

#[test]
fn notifications_and_responses_get_202() {
    let session = ("Mcp-Session-Id", SID);
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    assert!(!plan(&[session], initialized).unwrap().expects_response());
    let answer = json!({"jsonrpc": "2.0", "id": "s1", "result": {}});
    assert!(!plan(&[session], answer).unwrap().expects_response());
}

#[test]
fn batch_rules_at_plan_time() {
    let session = ("Mcp-Session-Id", SID);
    let batch = json!([
        {"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        {"jsonrpc": "2.0", "method": "notifications/progress"}
    ]);
    // No header: taken as 2025-03-26, which allows batches; the session re-checks.
    assert!(matches!(
        plan(&[session], batch.clone()),
        Ok(PostPlan::Session { .. })
    ));
    assert!(
        plan(
            &[session, ("MCP-Protocol-Version", "2025-03-26")],
            batch.clone()
        )
        .is_ok()
    );
    // A later version in the header does not refuse it here: the session's own version
    // decides (`session_version`), whatever the header says.
    assert!(
        plan(
            &[session, ("MCP-Protocol-Version", "2025-06-18")],
            batch.clone()
        )
        .is_ok()
    );
    let Ok(PostPlan::Session { incoming, .. }) = plan(&[session], batch) else {
        panic!("a session plan")
    };
    assert_eq!(
        session_version(
            Some(ProtocolVersion::V2025_03_26),
            ProtocolVersion::V2025_06_18,
            Some(&incoming)
        ),
        Err(Rejection::Batch(BatchError::NotAllowed(
            ProtocolVersion::V2025_06_18
        )))
    );
    let with_init = json!([
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}},
        {"jsonrpc": "2.0", "method": "notifications/initialized"}
    ]);
    assert_eq!(
        plan(&[], with_init).unwrap_err(),
        Rejection::Batch(BatchError::ContainsInitialize)
    );
}

#[test]
fn the_rate_limit_counts_requests_and_answered_batch_entries() {
    let session = ("Mcp-Session-Id", SID);
    let ping = |id: i64| json!({"jsonrpc": "2.0", "id": id, "method": "ping"});
    let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let single = plan(&[session], ping(7)).unwrap();
    assert_eq!(
        (single.requests(), single.request_id()),
        (1, Some(&RequestId::Number(7)))
    );
    let notification = plan(&[session], note.clone()).unwrap();
    assert_eq!(
        (notification.requests(), notification.request_id()),
        (0, None)
    );
    let response = plan(&[session], json!({"jsonrpc": "2.0", "id": 1, "result": {}})).unwrap();
    assert_eq!(response.requests(), 0);
    // A batch: each request and each invalid entry (answered with an error) counts.
    let batch = plan(&[session], json!([ping(1), note, ping(2), 5])).unwrap();
    assert_eq!((batch.requests(), batch.request_id()), (3, None));
    let fifty: Vec<_> = (0..50).map(ping).collect();
    assert_eq!(plan(&[session], json!(fifty)).unwrap().requests(), 50);
    let fifty_one: Vec<_> = (0..51).map(ping).collect();
    let refused = plan(&[session], json!(fifty_one)).unwrap_err();
    assert_eq!(refused.status(), 400);
    assert_eq!(
        refused,
        Rejection::InvalidBody(BodyError::TooManyEntries { entries: 51 })
    );
}

#[test]
fn stateless_request_without_version_header_is_told_so() {
    let err = plan(&[CALL, NAME_READ], stateless_call("2026-07-28")).unwrap_err();
    assert_eq!(err.kind(), "header_mismatch");
    let body = serde_json::to_value(err.response()).unwrap();
    assert_eq!(body["id"], 5);
    assert_eq!(body["error"]["code"], -32020);
}

// ---- session_version ----

#[test]
fn session_version_settles_on_the_negotiated_version() {
    let v = ProtocolVersion::V2025_06_18;
    assert_eq!(session_version(None, v, None), Ok(v));
    assert_eq!(session_version(Some(v), v, None), Ok(v));
    // Any supported version in the header is accepted; the session's version is served.
    for header in [
        ProtocolVersion::V2024_11_05,
        ProtocolVersion::V2025_03_26,
        ProtocolVersion::V2025_11_25,
    ] {
        assert_eq!(session_version(Some(header), v, None), Ok(v));
    }
    let batch = parse_body(br#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#).unwrap();
    assert_eq!(
        session_version(None, v, Some(&batch)),
        Err(Rejection::Batch(BatchError::NotAllowed(v)))
    );
    assert_eq!(
        session_version(None, ProtocolVersion::V2025_03_26, Some(&batch)),
        Ok(ProtocolVersion::V2025_03_26)
    );
}

#[test]
fn response_statuses_per_era() {
    use crate::mcp::jsonrpc::{ErrorCode, ErrorObject, Response};
    let ok = Response::result(RequestId::Number(1), json!({}));
    let error = |code| Response::error(Some(RequestId::Number(1)), ErrorObject::new(code, "m"));
    for version in ProtocolVersion::ALL {
        assert_eq!(response_status(version, &ok), 200);
        let stateless = version == ProtocolVersion::V2026_07_28;
        let expect = |modern, legacy| if stateless { modern } else { legacy };
        assert_eq!(
            response_status(version, &error(ErrorCode::METHOD_NOT_FOUND)),
            expect(404, 200)
        );
        for code in [
            ErrorCode::HEADER_MISMATCH,
            ErrorCode::MISSING_REQUIRED_CLIENT_CAPABILITY,
            ErrorCode::UNSUPPORTED_PROTOCOL_VERSION,
        ] {
            assert_eq!(response_status(version, &error(code)), expect(400, 200));
        }
        assert_eq!(
            response_status(version, &error(ErrorCode::INVALID_PARAMS)),
            200
        );
        assert_eq!(
            response_status(version, &error(ErrorCode::INTERNAL_ERROR)),
            200
        );
    }
}

// ---- plan: stateless era ----

#[test]
fn stateless_call_with_matching_headers() {
    let plan = plan(
        &[MODERN, CALL, NAME_READ, ("Mcp-Session-Id", "ignored id")],
        stateless_call("2026-07-28"),
    )
    .unwrap();
    let PostPlan::Stateless {
        version,
        message,
        meta,
    } = &plan
    else {
        panic!("not stateless: {plan:?}")
    };
    assert_eq!(*version, ProtocolVersion::V2026_07_28);
    assert_eq!(message.method(), Some("tools/call"));
    assert_eq!(meta.as_ref().unwrap().protocol_version, "2026-07-28");
    assert!(plan.expects_response());
}

#[test]
fn stateless_name_header_may_be_base64() {
    let mut body = stateless_call("2026-07-28");
    body["params"]["name"] = json!("Hello, 世界");
    let encoded = ("Mcp-Name", "=?base64?SGVsbG8sIOS4lueVjA==?=");
    assert!(plan(&[MODERN, CALL, encoded], body).is_ok());
}

#[test]
fn stateless_header_mismatches_are_400_with_32020() {
    let body = stateless_call("2026-07-28");
    let cases: Vec<Vec<(&str, &str)>> = vec![
        vec![MODERN, NAME_READ],
        vec![MODERN, ("Mcp-Method", "tools/list"), NAME_READ],
        vec![MODERN, CALL],
        vec![MODERN, CALL, ("Mcp-Name", "write")],
        vec![MODERN, CALL, ("Mcp-Name", "=?base64?!!?=")],
    ];
    for headers in cases {
        let err = plan(&headers, body.clone()).unwrap_err();
        assert_eq!(
            (err.status(), err.kind()),
            (400, "header_mismatch"),
            "{headers:?}"
        );
        let response = serde_json::to_value(err.response()).unwrap();
        assert_eq!(response["error"]["code"], -32020);
        assert_eq!(response["id"], 5);
    }
    let err = plan(&[MODERN, CALL, NAME_READ], stateless_call("2025-11-25")).unwrap_err();
    assert_eq!(err.kind(), "header_mismatch");
}

#[test]
fn stateless_request_without_meta_is_400_with_32602() {
    let body = json!({"jsonrpc": "2.0", "id": 9, "method": "tools/list", "params": {}});
    let err = plan(&[MODERN, ("Mcp-Method", "tools/list")], body).unwrap_err();
    assert_eq!(err.status(), 400);
    let response = serde_json::to_value(err.response()).unwrap();
    assert_eq!(response["error"]["code"], -32602);
    assert_eq!(response["id"], 9);
}

#[test]
fn stateless_refuses_batches_and_client_responses() {
    let batch = json!([stateless_call("2026-07-28")]);
    assert_eq!(
        plan(&[MODERN, CALL, NAME_READ], batch).unwrap_err(),
        Rejection::Batch(BatchError::NotAllowed(ProtocolVersion::V2026_07_28))
    );
    let response = json!({"jsonrpc": "2.0", "id": 1, "result": {}});
    assert_eq!(
        plan(&[MODERN], response).unwrap_err(),
        Rejection::ResponseNotAllowed(ProtocolVersion::V2026_07_28)
    );
}

#[test]
fn stateless_notifications_need_no_mirrored_headers() {
    let note = json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {}});
    let plan = plan(&[MODERN], note).unwrap();
    assert!(matches!(plan, PostPlan::Stateless { meta: None, .. }));
    assert!(!plan.expects_response());
}

#[test]
fn methods_without_a_name_need_no_name_header() {
    let body = json!({"jsonrpc": "2.0", "id": 3, "method": "server/discover", "params": {"_meta": {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {}
    }}});
    assert!(plan(&[MODERN, ("Mcp-Method", "server/discover")], body).is_ok());
}
