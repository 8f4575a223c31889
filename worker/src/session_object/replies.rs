//! Replies that are whole when they are sent: a batch's JSON array, kept within a budget, and
//! a single reply preceded by log messages, as a finished SSE stream.

use worker::{Response, Result};

use crate::mcp::jsonrpc::{self, ErrorObject};
use crate::mcp::logging::LogMessage;
use crate::mcp::sse;
use crate::mcp::version::ProtocolVersion;
use crate::mcp_http;

/// The most bytes of replies a batch collects: once its replies pass this, its remaining
/// requests are answered with an error without being run, so one POST's reply stays bounded
/// (50 reads of large notes would otherwise be held in memory at once).
const BATCH_REPLY_BUDGET: usize = 8 * 1024 * 1024;

/// A batch's replies, serialized as they come, within [`BATCH_REPLY_BUDGET`].
#[derive(Debug, Default)]
pub(super) struct BatchReplies {
    json: Vec<u8>,
    count: usize,
}

impl BatchReplies {
    pub(super) fn is_full(&self) -> bool {
        self.json.len() >= BATCH_REPLY_BUDGET
    }

    pub(super) fn push(&mut self, response: &jsonrpc::Response) {
        self.json.push(if self.count == 0 { b'[' } else { b',' });
        // Serializing our own response types cannot fail.
        let _ = serde_json::to_writer(&mut self.json, response);
        self.count += 1;
    }

    /// The answer to a request that was not run because the batch's replies are too large.
    pub(super) fn not_run(&self, id: jsonrpc::RequestId) -> jsonrpc::Response {
        jsonrpc::Response::error(
            Some(id),
            ErrorObject::internal(format!(
                "this batch's replies passed {} MiB before this request, so it was not run; \
                 send it again on its own",
                BATCH_REPLY_BUDGET / (1024 * 1024)
            )),
        )
    }

    /// 200 with the JSON array, or 202 when nothing needed an answer.
    pub(super) fn into_response(mut self) -> Result<Response> {
        if self.count == 0 {
            return mcp_http::accepted();
        }
        self.json.push(b']');
        let response = Response::from_bytes(self.json)?;
        response.headers().set("content-type", "application/json")?;
        Ok(response)
    }
}

/// A finished reply as an SSE stream: the log messages, then the response (no event ids:
/// the stream is whole when it is sent).
pub(super) fn logged_reply(
    version: ProtocolVersion,
    logs: &[LogMessage],
    response: &jsonrpc::Response,
) -> Result<Response> {
    let mut body = String::new();
    for log in logs {
        body.push_str(&sse::message_event(version, None, &log.notification())?);
    }
    body.push_str(&sse::message_event(version, None, response)?);
    let response = Response::from_bytes(body.into_bytes())?;
    response
        .headers()
        .set("content-type", crate::mcp::headers::EVENT_STREAM)?;
    response.headers().set("cache-control", "no-cache")?;
    Ok(response)
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::mcp::jsonrpc::RequestId;

    #[test]
    fn a_batchs_replies_are_one_json_array_until_the_budget_is_spent() {
        let mut replies = BatchReplies::default();
        replies.push(&jsonrpc::Response::result(RequestId::Number(1), json!({})));
        replies.push(&replies.not_run(RequestId::Number(2)));
        assert!(!replies.is_full());
        let mut json = replies.json.clone();
        json.push(b']');
        let array: Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(array[0], json!({"jsonrpc": "2.0", "id": 1, "result": {}}));
        assert_eq!(array[1]["id"], 2);
        assert!(
            array[1]["error"]["message"]
                .as_str()
                .unwrap()
                .contains("8 MiB")
        );
        let big = "x".repeat(BATCH_REPLY_BUDGET);
        replies.push(&jsonrpc::Response::result(RequestId::Number(3), json!(big)));
        assert!(replies.is_full());
    }
}
