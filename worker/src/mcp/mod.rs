//! The MCP protocol layer for `/mcp`: wire types, version rules and the Streamable HTTP
//! transport rules, all pure.
//!
//! # What this module never does
//! - No I/O, no JS calls, no clock, no randomness: headers, bodies, ids and random bytes come
//!   in as arguments; decisions and JSON come out. Everything here is unit-tested natively.
//! - It never panics on input: every malformed header or body is a typed error that maps to an
//!   HTTP status and a JSON-RPC error.
//!
//! # Layout
//! Wire types, apart from the transport (like rmcp's `model`):
//! - [`jsonrpc`]: JSON-RPC 2.0 messages, ids, error codes, body and batch parsing.
//! - [`version`]: the protocol revisions we speak, negotiation, per-version features.
//! - [`lifecycle`]: `initialize`, capabilities, `server/discover`, per-request `_meta`.
//! - [`tools`], [`tool_schemas`], [`tool_call`]: tool definitions and results, their JSON
//!   Schemas, and parsing `tools/call` into a typed [`tool_call::ToolCall`]; [`tool_text`]:
//!   the text block of a result, written for the model.
//! - [`resources`]: notes as resources: `note:///` URIs, `resources/list` pages,
//!   `resources/read`, `resources/templates/list`.
//! - [`prompts`]: the prompts, parsing `prompts/get` into a typed
//!   [`prompts::PromptRequest`], and their messages.
//! - [`pagination`]: the `cursor` of list requests.
//! - [`progress`]: progress tokens, notifications and their rate; cancellation.
//! - [`logging`]: `logging/setLevel` and `notifications/message`.
//!
//! HTTP transport rules:
//! - [`headers`]: header lookup, `Accept`/`Content-Type`, session ids, mirrored values.
//! - [`origin`]: the `Origin` allow-list.
//! - [`transport`]: what to do with a request to `/mcp` ([`transport::admit`], then
//!   [`transport::PostAdmission::plan`]).
//! - [`rejection`]: refusals as HTTP status plus JSON-RPC error body.
//! - [`sse`]: Server-Sent Events framing, event ids (log positions for GET streams, outbox rows
//!   for POST streams) and `Last-Event-ID`.
//!
//! The Durable Object (`session_object`) does the streaming itself: SSE replies with progress
//! and cancellation, resumption, subscriptions and the GET stream; this module gives it the
//! rules and the wire forms.
//!
//! # Example
//! ```
//! use second_brain_worker::mcp::transport::{admit, Admission, PostPlan, TransportConfig};
//!
//! let headers = [
//!     ("Accept", "application/json, text/event-stream"),
//!     ("Content-Type", "application/json"),
//! ];
//! let body = br#"{"jsonrpc":"2.0","id":1,"method":"initialize",
//!     "params":{"protocolVersion":"2025-06-18","capabilities":{}}}"#;
//! let Ok(Admission::Post(post)) = admit("POST", &headers[..], None, &TransportConfig::default())
//! else {
//!     panic!("refused")
//! };
//! assert!(matches!(post.plan(body), Ok(PostPlan::Initialize(_))));
//! ```
//!
//! # Protocol revisions
//! The rules come from the specification text of each revision (read from
//! `modelcontextprotocol/modelcontextprotocol`, `docs/specification/<version>/`):
//! - 2024-11-05 (HTTP+SSE era; its clients are served through Streamable HTTP):
//!   <https://modelcontextprotocol.io/specification/2024-11-05/basic/lifecycle>,
//!   <https://modelcontextprotocol.io/specification/2024-11-05/basic/transports>
//! - 2025-03-26 (Streamable HTTP, sessions, batches):
//!   <https://modelcontextprotocol.io/specification/2025-03-26/basic/transports>,
//!   <https://modelcontextprotocol.io/specification/2025-03-26/basic/lifecycle>,
//!   <https://modelcontextprotocol.io/specification/2025-03-26/changelog>
//! - 2025-06-18 (`MCP-Protocol-Version` header, batches removed, structured output, titles,
//!   resource links):
//!   <https://modelcontextprotocol.io/specification/2025-06-18/basic/transports>,
//!   <https://modelcontextprotocol.io/specification/2025-06-18/changelog>,
//!   <https://modelcontextprotocol.io/specification/2025-06-18/server/tools>
//! - 2025-11-25 (403 for bad origins, SSE priming and polling, argument errors as results):
//!   <https://modelcontextprotocol.io/specification/2025-11-25/basic/transports>,
//!   <https://modelcontextprotocol.io/specification/2025-11-25/changelog>,
//!   <https://modelcontextprotocol.io/specification/2025-11-25/server/tools>
//! - 2026-07-28 (stateless: no handshake, sessions, GET stream or resumption; mirrored
//!   headers; `resultType`):
//!   <https://modelcontextprotocol.io/specification/2026-07-28/basic/transports/streamable-http>,
//!   <https://modelcontextprotocol.io/specification/2026-07-28/basic/versioning>,
//!   <https://modelcontextprotocol.io/specification/2026-07-28/basic>,
//!   <https://modelcontextprotocol.io/specification/2026-07-28/server/discover>,
//!   <https://modelcontextprotocol.io/specification/2026-07-28/changelog>
//!
//! Resources, prompts and pagination, every revision (`server/resources`, `server/prompts`,
//! `server/utilities/pagination`; 2026-07-28 adds `server/utilities/caching` and moves
//! "resource not found" from -32002 to -32602):
//! <https://modelcontextprotocol.io/specification/2024-11-05/server/resources>,
//! <https://modelcontextprotocol.io/specification/2024-11-05/server/prompts>,
//! <https://modelcontextprotocol.io/specification/2024-11-05/server/utilities/pagination>,
//! <https://modelcontextprotocol.io/specification/2025-03-26/server/resources>,
//! <https://modelcontextprotocol.io/specification/2025-06-18/server/resources>,
//! <https://modelcontextprotocol.io/specification/2025-11-25/server/resources>,
//! <https://modelcontextprotocol.io/specification/2026-07-28/server/resources>,
//! <https://modelcontextprotocol.io/specification/2026-07-28/server/prompts>,
//! <https://modelcontextprotocol.io/specification/2026-07-28/server/utilities/pagination>,
//! <https://modelcontextprotocol.io/specification/2026-07-28/server/utilities/caching>
//!
//! We are a "dual-era" server in the 2026-07-28 sense: `initialize` selects a handshake
//! revision and a session; a request whose `MCP-Protocol-Version` is 2026-07-28 is served on
//! its own.

pub mod headers;
pub mod jsonrpc;
pub mod lifecycle;
pub mod logging;
pub mod origin;
pub mod pagination;
pub mod progress;
pub mod prompts;
pub mod rejection;
pub mod resources;
pub mod sse;
pub mod tool_call;
pub mod tool_schemas;
pub mod tool_text;
pub mod tools;
pub mod transport;
pub mod version;

#[cfg(test)]
mod definition_snapshot_tests;
#[cfg(test)]
mod tool_snapshot_tests;
