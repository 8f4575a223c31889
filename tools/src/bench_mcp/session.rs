//! One MCP session over raw HTTP: `initialize`, then `tools/call` requests, JSON replies.
//!
//! Raw JSON-RPC over a blocking client, on purpose: what is timed is one HTTP round trip per
//! call and the JSON it carries, with no client library's queues or streams in between.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

/// The protocol version the bench speaks: sessions, JSON replies.
const VERSION: &str = "2025-06-18";
/// The header local development answers with on the request that opened the user's store.
pub(super) const STORE_OPEN_HEADER: &str = "x-dev-store-open-ms";

/// An open session of one user.
#[derive(Debug)]
pub(crate) struct Session {
    http: reqwest::blocking::Client,
    endpoint: reqwest::Url,
    user: String,
    id: String,
    next_id: u64,
    /// What the `initialize` reply said about opening the store, if it opened it.
    pub(super) store_open_ms: Option<f64>,
}

/// What one `tools/call` answered.
#[derive(Debug)]
pub(crate) struct Reply {
    /// `structuredContent`.
    pub(crate) structured: Value,
    /// The result was an `isError` tool result; `text` says why.
    pub(crate) is_error: bool,
    /// The text content.
    pub(crate) text: String,
}

impl Session {
    /// Opens a session of `user` at `endpoint` (`.../mcp`).
    pub(crate) fn open(endpoint: &reqwest::Url, user: &str) -> Result<Session> {
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()?;
        let mut session = Session {
            http,
            endpoint: endpoint.clone(),
            user: user.to_owned(),
            id: String::new(),
            next_id: 1,
            store_open_ms: None,
        };
        let initialize = json!({
            "jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {"protocolVersion": VERSION, "capabilities": {},
                       "clientInfo": {"name": "second-brain-bench", "version": env!("CARGO_PKG_VERSION")}},
        });
        let response = session.post(&initialize)?;
        let headers = response.headers();
        session.id = headers
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .context("initialize answered without a session id")?
            .to_owned();
        session.store_open_ms = headers
            .get(STORE_OPEN_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        let body: Value = response.json().context("initialize: not JSON")?;
        if body.get("result").is_none() {
            bail!("initialize failed: {body}");
        }
        let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        session.post(&initialized)?;
        Ok(session)
    }

    /// Calls `tool`; an `isError` result is a [`Reply`], a protocol error is an `Err`.
    pub(crate) fn call(&mut self, tool: &str, arguments: Value) -> Result<Reply> {
        let id = self.next_id;
        self.next_id += 1;
        let request = json!({
            "jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": tool, "arguments": arguments},
        });
        let body: Value = self
            .post(&request)?
            .json()
            .with_context(|| format!("{tool}: the reply is not JSON"))?;
        let Some(result) = body.get("result") else {
            bail!("{tool}: {}", body["error"]);
        };
        let text = result["content"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|block| block["text"].as_str())
            .collect::<Vec<_>>()
            .join("\n");
        Ok(Reply {
            structured: result["structuredContent"].clone(),
            is_error: result["isError"] == true,
            text,
        })
    }

    /// Calls `tool` and fails on an `isError` result; its structured content.
    pub(crate) fn ok(&mut self, tool: &str, arguments: Value) -> Result<Value> {
        let reply = self.call(tool, arguments)?;
        if reply.is_error {
            bail!("{tool}: {}", reply.text);
        }
        Ok(reply.structured)
    }

    /// Ends the session (DELETE); failures are ignored, the session expires anyway.
    pub(crate) fn close(self) {
        let _ = self
            .http
            .delete(self.endpoint.clone())
            .header("mcp-session-id", &self.id)
            .header("mcp-protocol-version", VERSION)
            .header("x-dev-user", &self.user)
            .send();
    }

    fn post(&self, body: &Value) -> Result<reqwest::blocking::Response> {
        let mut request = self
            .http
            .post(self.endpoint.clone())
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json")
            .header("mcp-protocol-version", VERSION)
            .header("x-dev-user", &self.user)
            .body(body.to_string());
        if !self.id.is_empty() {
            request = request.header("mcp-session-id", &self.id);
        }
        let response = request.send().context("POST /mcp")?;
        let status = response.status();
        if !status.is_success() {
            let text = response.text().unwrap_or_default();
            bail!("POST /mcp: {status}: {text}");
        }
        Ok(response)
    }
}
