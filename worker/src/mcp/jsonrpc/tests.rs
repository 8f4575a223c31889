use serde_json::json;

use super::*;

fn parse(text: &str) -> Result<Incoming, BodyError> {
    parse_body(text.as_bytes())
}

fn single(text: &str) -> Message {
    match parse(text).unwrap() {
        Incoming::Single(message) => message,
        other => panic!("expected one message, got {other:?}"),
    }
}

fn invalid_single(text: &str) -> InvalidMessage {
    match parse(text) {
        Err(BodyError::Invalid(invalid)) => invalid,
        other => panic!("expected an invalid message, got {other:?}"),
    }
}

#[test]
fn parses_requests_with_number_and_string_ids() {
    let message = single(r#"{"jsonrpc":"2.0","id":7,"method":"tools/list"}"#);
    assert_eq!(
        message,
        Message::Request(Request {
            id: RequestId::Number(7),
            method: "tools/list".into(),
            params: None
        })
    );
    let message = single(r#"{"jsonrpc":"2.0","id":"a-1","method":"x","params":{"k":1}}"#);
    let Message::Request(request) = message else {
        panic!("not a request")
    };
    assert_eq!(request.id, RequestId::String("a-1".into()));
    assert_eq!(request.params.unwrap()["k"], 1);
    let message = single(r#"{"jsonrpc":"2.0","id":-3,"method":"x","params":null}"#);
    assert!(matches!(
        message,
        Message::Request(Request {
            id: RequestId::Number(-3),
            params: None,
            ..
        })
    ));
}

#[test]
fn parses_notifications_and_responses() {
    let message = single(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
    assert_eq!(message.method(), Some("notifications/initialized"));
    assert!(matches!(message, Message::Notification(_)));

    let message = single(r#"{"jsonrpc":"2.0","id":1,"result":{"ok":true}}"#);
    assert_eq!(
        message,
        Message::Response(Response::result(RequestId::Number(1), json!({"ok": true})))
    );
    let message = single(r#"{"jsonrpc":"2.0","id":"s","error":{"code":-1,"message":"no"}}"#);
    assert!(matches!(
        message,
        Message::Response(Response::Error {
            id: Some(RequestId::String(_)),
            ..
        })
    ));
    // An error whose request id was unreadable: null or absent.
    for text in [
        r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"x"}}"#,
        r#"{"jsonrpc":"2.0","error":{"code":-32700,"message":"x","data":[1]}}"#,
    ] {
        assert!(matches!(
            single(text),
            Message::Response(Response::Error { id: None, .. })
        ));
    }
}

#[test]
fn non_json_is_a_parse_error() {
    for text in ["", "   ", "{", "{\"jsonrpc\":", "nope", "{\"a\":1}x"] {
        let err = parse(text).unwrap_err();
        assert!(matches!(err, BodyError::Parse(_)), "{text:?}: {err:?}");
        let Response::Error { id, error } = err.to_response() else {
            panic!("not an error")
        };
        assert_eq!(id, None);
        assert_eq!(error.code, ErrorCode::PARSE_ERROR);
    }
    assert!(matches!(
        parse_body(b"\xff\xfe{}"),
        Err(BodyError::Parse(_))
    ));
}

#[test]
fn invalid_messages_are_named_and_keep_their_id() {
    let cases = [
        (r#"1"#, None, InvalidReason::NotAnObject),
        (r#""x""#, None, InvalidReason::NotAnObject),
        (
            r#"{"id":1,"method":"x"}"#,
            Some(1),
            InvalidReason::WrongJsonRpcVersion,
        ),
        (
            r#"{"jsonrpc":"1.0","id":1,"method":"x"}"#,
            Some(1),
            InvalidReason::WrongJsonRpcVersion,
        ),
        (
            r#"{"jsonrpc":"2.0","id":2,"method":5}"#,
            Some(2),
            InvalidReason::MethodNotString,
        ),
        (
            r#"{"jsonrpc":"2.0","id":null,"method":"x"}"#,
            None,
            InvalidReason::NullId,
        ),
        (
            r#"{"jsonrpc":"2.0","id":1.5,"method":"x"}"#,
            None,
            InvalidReason::BadId,
        ),
        (
            r#"{"jsonrpc":"2.0","id":true,"method":"x"}"#,
            None,
            InvalidReason::BadId,
        ),
        (
            r#"{"jsonrpc":"2.0","id":[1],"method":"x"}"#,
            None,
            InvalidReason::BadId,
        ),
        (
            r#"{"jsonrpc":"2.0","id":18446744073709551615,"method":"x"}"#,
            None,
            InvalidReason::BadId,
        ),
        (
            r#"{"jsonrpc":"2.0","id":3,"method":"x","params":[1]}"#,
            Some(3),
            InvalidReason::ParamsNotObject,
        ),
        (
            r#"{"jsonrpc":"2.0","id":3,"method":"x","params":"p"}"#,
            Some(3),
            InvalidReason::ParamsNotObject,
        ),
        (
            r#"{"jsonrpc":"2.0","id":4,"method":"x","result":{}}"#,
            Some(4),
            InvalidReason::Ambiguous,
        ),
        (
            r#"{"jsonrpc":"2.0","id":4,"result":{},"error":{"code":1,"message":""}}"#,
            Some(4),
            InvalidReason::Ambiguous,
        ),
        (
            r#"{"jsonrpc":"2.0","id":5}"#,
            Some(5),
            InvalidReason::NotAMessage,
        ),
        (
            r#"{"jsonrpc":"2.0","result":{}}"#,
            None,
            InvalidReason::ResultWithoutId,
        ),
        (
            r#"{"jsonrpc":"2.0","id":null,"result":{}}"#,
            None,
            InvalidReason::ResultWithoutId,
        ),
        (
            r#"{"jsonrpc":"2.0","id":6,"error":"bad"}"#,
            Some(6),
            InvalidReason::BadErrorObject,
        ),
        (
            r#"{"jsonrpc":"2.0","id":6,"error":{"code":1.5,"message":"m"}}"#,
            Some(6),
            InvalidReason::BadErrorObject,
        ),
        (
            r#"{"jsonrpc":"2.0","id":{},"error":{"code":1,"message":"m"}}"#,
            None,
            InvalidReason::BadId,
        ),
    ];
    for (text, id, reason) in cases {
        let invalid = invalid_single(text);
        assert_eq!(invalid.reason, reason, "{text}");
        assert_eq!(invalid.id, id.map(RequestId::Number), "{text}");
        let Response::Error { error, .. } = invalid.to_response() else {
            panic!("not an error")
        };
        assert_eq!(error.code, ErrorCode::INVALID_REQUEST, "{text}");
        assert!(
            error.message.starts_with("Invalid request: "),
            "{}",
            error.message
        );
    }
}

#[test]
fn empty_batch_is_invalid() {
    let err = parse("[]").unwrap_err();
    assert_eq!(err, BodyError::EmptyBatch);
    let Response::Error { id: None, error } = err.to_response() else {
        panic!("not an id-less error")
    };
    assert_eq!(error.code, ErrorCode::INVALID_REQUEST);
}

#[test]
fn a_batch_holds_at_most_50_entries_and_the_rest_are_never_built() {
    let ping = r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;
    let batch = |n: usize| format!("[{}]", vec![ping; n].join(","));
    let Incoming::Batch(entries) = parse(&batch(MAX_BATCH_ENTRIES)).unwrap() else {
        panic!("not a batch")
    };
    assert_eq!(entries.len(), 50);
    let err = parse(&batch(51)).unwrap_err();
    assert_eq!(err, BodyError::TooManyEntries { entries: 51 });
    let Response::Error { id: None, error } = err.to_response() else {
        panic!("not an id-less error")
    };
    assert_eq!(error.code, ErrorCode::INVALID_REQUEST);
    assert!(error.message.contains("at most 50"), "{}", error.message);
    // A million entries are counted, not built.
    let ones = format!("[{}]", vec!["1"; 1_000_000].join(","));
    assert_eq!(
        parse(&ones).unwrap_err(),
        BodyError::TooManyEntries { entries: 1_000_000 }
    );
    // Still JSON first: a broken tail past the limit is a parse error.
    let broken = format!("{}x", &batch(60)[..batch(60).len() - 1]);
    assert!(matches!(parse(&broken), Err(BodyError::Parse(_))));
    // Single values of every type are still read as (invalid) messages.
    for text in ["1", "-1", "1.5", "true", "null", "\"x\""] {
        assert!(matches!(parse(text), Err(BodyError::Invalid(_))), "{text}");
    }
}

#[test]
fn batches_keep_invalid_entries_for_per_entry_errors() {
    let incoming =
        parse(r#"[{"jsonrpc":"2.0","id":1,"method":"a"},2,{"jsonrpc":"2.0","method":"n"}]"#)
            .unwrap();
    let Incoming::Batch(entries) = &incoming else {
        panic!("not a batch")
    };
    assert_eq!(entries.len(), 3);
    assert!(entries[1].is_err());
    assert_eq!(incoming.messages().count(), 2);
    assert!(incoming.expects_response());
    assert!(incoming.is_batch());
}

#[test]
fn expects_response_only_for_requests_or_invalid_entries() {
    let note = r#"{"jsonrpc":"2.0","method":"n"}"#;
    let resp = r#"{"jsonrpc":"2.0","id":1,"result":{}}"#;
    assert!(!parse(note).unwrap().expects_response());
    assert!(!parse(resp).unwrap().expects_response());
    assert!(
        !parse(&format!("[{note},{note}]"))
            .unwrap()
            .expects_response()
    );
    assert!(!parse(&format!("[{resp}]")).unwrap().expects_response());
    assert!(parse("[1]").unwrap().expects_response());
    assert!(
        parse(r#"{"jsonrpc":"2.0","id":1,"method":"r"}"#)
            .unwrap()
            .expects_response()
    );
}

#[test]
fn batch_rules_per_version() {
    let batch =
        parse(r#"[{"jsonrpc":"2.0","id":1,"method":"tools/list"},{"jsonrpc":"2.0","method":"n"}]"#)
            .unwrap();
    for version in ProtocolVersion::ALL {
        let result = batch.check_batch(version);
        if version <= ProtocolVersion::V2025_03_26 {
            assert_eq!(result, Ok(()), "{version}");
        } else {
            assert_eq!(result, Err(BatchError::NotAllowed(version)), "{version}");
        }
    }
    // A single message passes whatever the version.
    let one = parse(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#).unwrap();
    for version in ProtocolVersion::ALL {
        assert_eq!(one.check_batch(version), Ok(()));
    }
}

#[test]
fn batch_with_initialize_or_mixed_responses_is_refused() {
    let v = ProtocolVersion::V2025_03_26;
    let with_init = parse(
        r#"[{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}},{"jsonrpc":"2.0","method":"n"}]"#,
    )
    .unwrap();
    assert!(with_init.has_initialize());
    assert_eq!(
        with_init.check_batch(v),
        Err(BatchError::ContainsInitialize)
    );
    let mixed =
        parse(r#"[{"jsonrpc":"2.0","id":1,"method":"a"},{"jsonrpc":"2.0","id":9,"result":{}}]"#)
            .unwrap();
    assert_eq!(mixed.check_batch(v), Err(BatchError::MixesResponses));
    let responses =
        parse(r#"[{"jsonrpc":"2.0","id":8,"result":{}},{"jsonrpc":"2.0","id":9,"result":{}}]"#)
            .unwrap();
    assert_eq!(responses.check_batch(v), Ok(()));
}

#[test]
fn serializes_messages_in_wire_form() {
    let request = Message::Request(Request {
        id: RequestId::Number(1),
        method: "ping".into(),
        params: None,
    });
    assert_eq!(
        serde_json::to_value(&request).unwrap(),
        json!({"jsonrpc": "2.0", "id": 1, "method": "ping"})
    );
    let mut params = Map::new();
    params.insert("progress".into(), json!(1));
    let notification = Message::Notification(Notification {
        method: "notifications/progress".into(),
        params: Some(params),
    });
    assert_eq!(
        serde_json::to_value(&notification).unwrap(),
        json!({"jsonrpc": "2.0", "method": "notifications/progress", "params": {"progress": 1}})
    );
    let ok = Response::result(RequestId::String("x".into()), json!({}));
    assert_eq!(
        serde_json::to_value(&ok).unwrap(),
        json!({"jsonrpc": "2.0", "id": "x", "result": {}})
    );
    let err = Response::error(None, ErrorObject::method_not_found("nope"));
    assert_eq!(
        serde_json::to_value(&err).unwrap(),
        json!({"jsonrpc": "2.0", "error": {"code": -32601, "message": "Method not found: nope"}})
    );
}

#[test]
fn serialized_messages_parse_back() {
    let messages = [
        Message::Request(Request {
            id: RequestId::String("r".into()),
            method: "tools/call".into(),
            params: Some(Map::new()),
        }),
        Message::Response(Response::error(
            Some(RequestId::Number(4)),
            ErrorObject::invalid_params("bad").with_data(json!({"field": "path"})),
        )),
    ];
    for message in messages {
        let bytes = serde_json::to_vec(&message).unwrap();
        assert_eq!(parse_body(&bytes).unwrap(), Incoming::Single(message));
    }
}

#[test]
fn error_constructors_use_the_standard_codes() {
    assert_eq!(ErrorObject::parse_error("x").code.0, -32700);
    assert_eq!(ErrorObject::invalid_request("x").code.0, -32600);
    assert_eq!(ErrorObject::method_not_found("m").code.0, -32601);
    assert_eq!(ErrorObject::invalid_params("x").code.0, -32602);
    assert_eq!(ErrorObject::internal("x").code.0, -32603);
    assert_eq!(
        ErrorObject::internal("store failed").message,
        "Internal error: store failed"
    );
    assert_eq!(
        ErrorObject::invalid_params("x").message,
        "Invalid params: x"
    );
}
