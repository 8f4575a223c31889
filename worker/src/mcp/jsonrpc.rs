//! JSON-RPC 2.0 messages as MCP uses them, and the parsing of a POST body into them.
//!
//! MCP narrows JSON-RPC 2.0 (<https://www.jsonrpc.org/specification>): request ids are strings
//! or integers and never `null`; `params` is an object; an error whose request id could not be
//! read carries no `id` (2025-11-25 and later schemas; the transports say such a body "has no
//! `id`"). Parsing never fails on a type we can name: each failure is a typed
//! [`InvalidMessage`] or [`BodyError`] that turns into the JSON-RPC error to send back.
//!
//! Batches (arrays) are parsed whatever the version; whether one may be posted is decided by
//! [`Incoming::check_batch`] once the protocol version is known.

use std::fmt;

use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};
use thiserror::Error;

use super::version::ProtocolVersion;

/// The value of every message's `jsonrpc` member.
pub const JSONRPC_VERSION: &str = "2.0";

/// A JSON-RPC error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ErrorCode(pub i64);

impl ErrorCode {
    /// The body is not JSON.
    pub const PARSE_ERROR: ErrorCode = ErrorCode(-32700);
    /// The JSON is not a valid request, notification or response.
    pub const INVALID_REQUEST: ErrorCode = ErrorCode(-32600);
    /// The method does not exist here.
    pub const METHOD_NOT_FOUND: ErrorCode = ErrorCode(-32601);
    /// The method exists but its params are wrong (also: unknown tool).
    pub const INVALID_PARAMS: ErrorCode = ErrorCode(-32602);
    /// The server failed.
    pub const INTERNAL_ERROR: ErrorCode = ErrorCode(-32603);
    /// `resources/read` of a resource that does not exist, up to 2025-11-25 (2026-07-28 uses
    /// -32602 and keeps this code reserved).
    pub const RESOURCE_NOT_FOUND: ErrorCode = ErrorCode(-32002);
    /// HTTP headers disagree with the body, or a required one is missing (2026-07-28).
    pub const HEADER_MISMATCH: ErrorCode = ErrorCode(-32020);
    /// The request needs a client capability it did not declare (2026-07-28).
    pub const MISSING_REQUIRED_CLIENT_CAPABILITY: ErrorCode = ErrorCode(-32021);
    /// The request names a protocol version the server does not speak (2026-07-28).
    pub const UNSUPPORTED_PROTOCOL_VERSION: ErrorCode = ErrorCode(-32022);
}

/// A request id: a string or an integer, never `null`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RequestId {
    /// An integer id.
    Number(i64),
    /// A string id.
    String(String),
}

impl RequestId {
    /// Reads an id; `None` for `null`, fractions, integers beyond `i64` and other types.
    pub fn from_value(value: &Value) -> Option<Self> {
        match value {
            Value::Number(number) => number.as_i64().map(RequestId::Number),
            Value::String(text) => Some(RequestId::String(text.clone())),
            _ => None,
        }
    }
}

/// The `error` member of an error response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorObject {
    /// What kind of error.
    pub code: ErrorCode,
    /// A short sentence for people.
    pub message: String,
    /// Details for programs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

impl ErrorObject {
    /// An error with `code` and `message` and no data.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ErrorObject {
            code,
            message: message.into(),
            data: None,
        }
    }

    /// The same error with `data`.
    pub fn with_data(mut self, data: Value) -> Self {
        self.data = Some(data);
        self
    }

    /// -32700: the body is not JSON.
    pub fn parse_error(detail: impl fmt::Display) -> Self {
        Self::new(ErrorCode::PARSE_ERROR, format!("Parse error: {detail}"))
    }

    /// -32600: not a valid message.
    pub fn invalid_request(detail: impl fmt::Display) -> Self {
        Self::new(
            ErrorCode::INVALID_REQUEST,
            format!("Invalid request: {detail}"),
        )
    }

    /// -32601: no such method.
    pub fn method_not_found(method: &str) -> Self {
        Self::new(
            ErrorCode::METHOD_NOT_FOUND,
            format!("Method not found: {method}"),
        )
    }

    /// -32602: wrong params.
    pub fn invalid_params(detail: impl fmt::Display) -> Self {
        Self::new(
            ErrorCode::INVALID_PARAMS,
            format!("Invalid params: {detail}"),
        )
    }

    /// -32603: the server failed. The detail must not reveal internals or user data.
    pub fn internal(detail: impl fmt::Display) -> Self {
        Self::new(
            ErrorCode::INTERNAL_ERROR,
            format!("Internal error: {detail}"),
        )
    }
}

/// A request: it has an id and expects a response.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// The id the response must carry.
    pub id: RequestId,
    /// The method, e.g. `tools/call`.
    pub method: String,
    /// The params object, if any (`null` is read as absent).
    pub params: Option<Map<String, Value>>,
}

/// A notification: no id, no response.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    /// The method, e.g. `notifications/initialized`.
    pub method: String,
    /// The params object, if any.
    pub params: Option<Map<String, Value>>,
}

/// A response: a result or an error.
#[derive(Debug, Clone, PartialEq)]
pub enum Response {
    /// Success.
    Result {
        /// The id of the request answered.
        id: RequestId,
        /// The result (an object in MCP).
        result: Value,
    },
    /// Failure. `id` is `None` when the request's id could not be read.
    Error {
        /// The id of the request answered, if it could be read.
        id: Option<RequestId>,
        /// What went wrong.
        error: ErrorObject,
    },
}

impl Response {
    /// A success response.
    pub fn result(id: RequestId, result: Value) -> Self {
        Response::Result { id, result }
    }

    /// An error response.
    pub fn error(id: Option<RequestId>, error: ErrorObject) -> Self {
        Response::Error { id, error }
    }
}

/// One JSON-RPC message.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// A request.
    Request(Request),
    /// A notification.
    Notification(Notification),
    /// A response.
    Response(Response),
}

/// Why one JSON value is not a message. Answered with -32600 and the id, when it was readable.
#[derive(Debug, Clone, PartialEq, Error)]
#[error("{reason}")]
pub struct InvalidMessage {
    /// The message's id, when it was a valid id.
    pub id: Option<RequestId>,
    /// What is wrong.
    pub reason: InvalidReason,
}

/// What is wrong with a message.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum InvalidReason {
    /// Not a JSON object.
    #[error("a message must be a JSON object")]
    NotAnObject,
    /// `jsonrpc` is missing or is not `"2.0"`.
    #[error("\"jsonrpc\" must be \"2.0\"")]
    WrongJsonRpcVersion,
    /// `method` is not a string.
    #[error("\"method\" must be a string")]
    MethodNotString,
    /// `id` is `null` (MCP forbids it).
    #[error("\"id\" must not be null")]
    NullId,
    /// `id` is not a string or an integer.
    #[error("\"id\" must be a string or an integer")]
    BadId,
    /// `params` is not an object.
    #[error("\"params\" must be an object")]
    ParamsNotObject,
    /// Both `method` and `result`/`error`, or both `result` and `error`.
    #[error("a message must be exactly one of request, notification or response")]
    Ambiguous,
    /// None of `method`, `result`, `error`.
    #[error("a message needs \"method\", \"result\" or \"error\"")]
    NotAMessage,
    /// A result response without a usable id.
    #[error("a result response needs a string or integer \"id\"")]
    ResultWithoutId,
    /// `error` is not `{code: integer, message: string, data?}`.
    #[error("\"error\" must be an object with an integer \"code\" and a string \"message\"")]
    BadErrorObject,
}

impl InvalidMessage {
    /// The error response to send back.
    pub fn to_response(&self) -> Response {
        Response::error(
            self.id.clone(),
            ErrorObject::invalid_request(self.reason.to_string()),
        )
    }
}

impl Message {
    /// Classifies one JSON value as a request, notification or response.
    pub fn from_value(value: Value) -> Result<Message, InvalidMessage> {
        let Value::Object(mut object) = value else {
            return Err(invalid(None, InvalidReason::NotAnObject));
        };
        let raw_id = object.remove("id");
        let id = raw_id.as_ref().and_then(RequestId::from_value);
        if object.get("jsonrpc").and_then(Value::as_str) != Some(JSONRPC_VERSION) {
            return Err(invalid(id, InvalidReason::WrongJsonRpcVersion));
        }
        let has_result = object.contains_key("result");
        let has_error = object.contains_key("error");
        if let Some(method) = object.remove("method") {
            if has_result || has_error {
                return Err(invalid(id, InvalidReason::Ambiguous));
            }
            let Value::String(method) = method else {
                return Err(invalid(id, InvalidReason::MethodNotString));
            };
            let params = match object.remove("params") {
                None | Some(Value::Null) => None,
                Some(Value::Object(params)) => Some(params),
                Some(_) => return Err(invalid(id, InvalidReason::ParamsNotObject)),
            };
            return match (raw_id, id) {
                (None, _) => Ok(Message::Notification(Notification { method, params })),
                (Some(_), Some(id)) => Ok(Message::Request(Request { id, method, params })),
                (Some(Value::Null), None) => Err(invalid(None, InvalidReason::NullId)),
                (Some(_), None) => Err(invalid(None, InvalidReason::BadId)),
            };
        }
        match (object.remove("result"), object.remove("error")) {
            (Some(_), Some(_)) => Err(invalid(id, InvalidReason::Ambiguous)),
            (Some(result), None) => match id {
                Some(id) => Ok(Message::Response(Response::Result { id, result })),
                None => Err(invalid(None, InvalidReason::ResultWithoutId)),
            },
            (None, Some(error)) => {
                if matches!(&raw_id, Some(raw) if !raw.is_null() && id.is_none()) {
                    return Err(invalid(None, InvalidReason::BadId));
                }
                match serde_json::from_value::<ErrorObject>(error) {
                    Ok(error) => Ok(Message::Response(Response::Error { id, error })),
                    Err(_) => Err(invalid(id, InvalidReason::BadErrorObject)),
                }
            }
            (None, None) => Err(invalid(id, InvalidReason::NotAMessage)),
        }
    }

    /// The method of a request or notification.
    pub fn method(&self) -> Option<&str> {
        match self {
            Message::Request(request) => Some(&request.method),
            Message::Notification(notification) => Some(&notification.method),
            Message::Response(_) => None,
        }
    }

    /// The params of a request or notification.
    pub fn params(&self) -> Option<&Map<String, Value>> {
        match self {
            Message::Request(request) => request.params.as_ref(),
            Message::Notification(notification) => notification.params.as_ref(),
            Message::Response(_) => None,
        }
    }
}

fn invalid(id: Option<RequestId>, reason: InvalidReason) -> InvalidMessage {
    InvalidMessage { id, reason }
}

/// One entry of a posted batch: a message, or why that entry is not one. JSON-RPC answers
/// each invalid entry with its own error and still processes the valid ones.
pub type BatchEntry = Result<Message, InvalidMessage>;

/// A parsed POST body.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    /// One message.
    Single(Message),
    /// A non-empty array of entries.
    Batch(Vec<BatchEntry>),
}

/// Why a batch may not be processed at all.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum BatchError {
    /// The protocol version has no batches (2025-06-18 on).
    #[error("JSON-RPC batches are not supported in protocol version {0}")]
    NotAllowed(ProtocolVersion),
    /// `initialize` must be sent on its own (2025-03-26 lifecycle).
    #[error("initialize must not be part of a JSON-RPC batch")]
    ContainsInitialize,
    /// A batch holds either requests and notifications, or responses (2025-03-26 transport).
    #[error("a batch must hold either requests and notifications, or only responses")]
    MixesResponses,
}

impl Incoming {
    /// Whether this is an array.
    pub fn is_batch(&self) -> bool {
        matches!(self, Incoming::Batch(_))
    }

    /// Whether the HTTP reply carries JSON-RPC (any request, or any invalid batch entry, which
    /// is answered with an error); otherwise the reply is 202 with no body.
    pub fn expects_response(&self) -> bool {
        match self {
            Incoming::Single(message) => matches!(message, Message::Request(_)),
            Incoming::Batch(entries) => entries
                .iter()
                .any(|entry| !matches!(entry, Ok(Message::Notification(_) | Message::Response(_)))),
        }
    }

    /// The valid messages, in order.
    pub fn messages(&self) -> impl Iterator<Item = &Message> {
        let (single, batch) = match self {
            Incoming::Single(message) => (Some(message), None),
            Incoming::Batch(entries) => {
                (None, Some(entries.iter().filter_map(|e| e.as_ref().ok())))
            }
        };
        single.into_iter().chain(batch.into_iter().flatten())
    }

    /// Whether any valid message is the `initialize` request.
    pub fn has_initialize(&self) -> bool {
        self.messages()
            .any(|message| matches!(message, Message::Request(r) if r.method == "initialize"))
    }

    /// Checks the batch rules for `version`; a single message always passes.
    pub fn check_batch(&self, version: ProtocolVersion) -> Result<(), BatchError> {
        let Incoming::Batch(entries) = self else {
            return Ok(());
        };
        if !version.allows_batches() {
            return Err(BatchError::NotAllowed(version));
        }
        if self.has_initialize() {
            return Err(BatchError::ContainsInitialize);
        }
        let responses = entries
            .iter()
            .filter(|entry| matches!(entry, Ok(Message::Response(_))))
            .count();
        if responses != 0 && responses != entries.len() {
            return Err(BatchError::MixesResponses);
        }
        Ok(())
    }
}

/// Why a POST body is not a message or a batch. Each maps to one JSON-RPC error.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum BodyError {
    /// Not JSON (or not UTF-8): -32700.
    #[error("the body is not valid JSON: {0}")]
    Parse(String),
    /// `[]`: -32600.
    #[error("an empty batch is not a valid request")]
    EmptyBatch,
    /// A single value that is not a message: -32600.
    #[error("{0}")]
    Invalid(InvalidMessage),
    /// A batch of more than [`MAX_BATCH_ENTRIES`] entries: -32600, and none is processed.
    #[error(
        "a batch may hold at most {MAX_BATCH_ENTRIES} entries; this one holds {entries} \
         (nothing was processed: send them in smaller batches)"
    )]
    TooManyEntries {
        /// How many entries the batch holds.
        entries: usize,
    },
}

impl BodyError {
    /// The error response to send back.
    pub fn to_response(&self) -> Response {
        match self {
            BodyError::Parse(detail) => {
                Response::error(None, ErrorObject::parse_error(detail.as_str()))
            }
            BodyError::EmptyBatch => Response::error(
                None,
                ErrorObject::invalid_request("an empty batch is not a valid request"),
            ),
            BodyError::Invalid(invalid) => invalid.to_response(),
            BodyError::TooManyEntries { .. } => {
                Response::error(None, ErrorObject::invalid_request(self))
            }
        }
    }
}

/// The most entries a batch may hold. Each entry is a request served in turn and counted
/// against the user's rate limit; 50 keeps one POST's work and reply bounded while leaving
/// batches useful.
pub const MAX_BATCH_ENTRIES: usize = 50;

/// A body as JSON values, batches cut off at [`MAX_BATCH_ENTRIES`]: entries past the limit
/// are counted but never built, so `[1,1,1,...]` costs no memory per entry.
enum BoundedBody {
    Single(Value),
    Batch(Vec<Value>),
    TooMany(usize),
}

impl<'de> Deserialize<'de> for BoundedBody {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(BoundedBodyVisitor)
    }
}

struct BoundedBodyVisitor;

impl<'de> serde::de::Visitor<'de> for BoundedBodyVisitor {
    type Value = BoundedBody;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON-RPC message or a batch of them")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<BoundedBody, A::Error> {
        let mut entries = Vec::new();
        while let Some(entry) = seq.next_element::<Value>()? {
            if entries.len() == MAX_BATCH_ENTRIES {
                let mut count = MAX_BATCH_ENTRIES + 1;
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {
                    count += 1;
                }
                return Ok(BoundedBody::TooMany(count));
            }
            entries.push(entry);
        }
        Ok(BoundedBody::Batch(entries))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<BoundedBody, A::Error> {
        Value::deserialize(serde::de::value::MapAccessDeserializer::new(map))
            .map(BoundedBody::Single)
    }

    fn visit_bool<E>(self, v: bool) -> Result<BoundedBody, E> {
        Ok(BoundedBody::Single(Value::Bool(v)))
    }

    fn visit_i64<E>(self, v: i64) -> Result<BoundedBody, E> {
        Ok(BoundedBody::Single(Value::from(v)))
    }

    fn visit_u64<E>(self, v: u64) -> Result<BoundedBody, E> {
        Ok(BoundedBody::Single(Value::from(v)))
    }

    fn visit_f64<E>(self, v: f64) -> Result<BoundedBody, E> {
        Ok(BoundedBody::Single(Value::from(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<BoundedBody, E> {
        Ok(BoundedBody::Single(Value::from(v)))
    }

    fn visit_unit<E>(self) -> Result<BoundedBody, E> {
        Ok(BoundedBody::Single(Value::Null))
    }
}

/// Parses a POST body into one message or a batch (of at most [`MAX_BATCH_ENTRIES`]).
pub fn parse_body(body: &[u8]) -> Result<Incoming, BodyError> {
    let value: BoundedBody =
        serde_json::from_slice(body).map_err(|err| BodyError::Parse(err.to_string()))?;
    match value {
        BoundedBody::TooMany(entries) => Err(BodyError::TooManyEntries { entries }),
        BoundedBody::Batch(items) if items.is_empty() => Err(BodyError::EmptyBatch),
        BoundedBody::Batch(items) => Ok(Incoming::Batch(
            items.into_iter().map(Message::from_value).collect(),
        )),
        BoundedBody::Single(other) => Message::from_value(other)
            .map(Incoming::Single)
            .map_err(BodyError::Invalid),
    }
}

#[derive(Serialize)]
struct WireRequest<'a> {
    jsonrpc: &'static str,
    id: &'a RequestId,
    method: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    params: Option<&'a Map<String, Value>>,
}

#[derive(Serialize)]
struct WireNotification<'a> {
    jsonrpc: &'static str,
    method: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    params: Option<&'a Map<String, Value>>,
}

#[derive(Serialize)]
struct WireResult<'a> {
    jsonrpc: &'static str,
    id: &'a RequestId,
    result: &'a Value,
}

#[derive(Serialize)]
struct WireError<'a> {
    jsonrpc: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a RequestId>,
    error: &'a ErrorObject,
}

impl Serialize for Request {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        WireRequest {
            jsonrpc: JSONRPC_VERSION,
            id: &self.id,
            method: &self.method,
            params: self.params.as_ref(),
        }
        .serialize(serializer)
    }
}

impl Serialize for Notification {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        WireNotification {
            jsonrpc: JSONRPC_VERSION,
            method: &self.method,
            params: self.params.as_ref(),
        }
        .serialize(serializer)
    }
}

impl Serialize for Response {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Response::Result { id, result } => WireResult {
                jsonrpc: JSONRPC_VERSION,
                id,
                result,
            }
            .serialize(serializer),
            Response::Error { id, error } => WireError {
                jsonrpc: JSONRPC_VERSION,
                id: id.as_ref(),
                error,
            }
            .serialize(serializer),
        }
    }
}

impl Serialize for Message {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Message::Request(request) => request.serialize(serializer),
            Message::Notification(notification) => notification.serialize(serializer),
            Message::Response(response) => response.serialize(serializer),
        }
    }
}

#[cfg(test)]
mod tests;
