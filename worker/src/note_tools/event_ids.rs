//! The event ids a state-changing tool call appends with: derived for a call in a session,
//! random for one without.
//!
//! A client that retries a request (same session, same JSON-RPC id, same arguments: after a
//! dropped connection, say) must not change the notes twice. So a call in a session gets ids
//! derived from who asked and what: the first 16 bytes of blake3 over a domain tag, the user,
//! the session id, the request id in canonical form, a fingerprint of the parsed call (tool
//! and arguments) and the event's index within the call. A retry derives the same ids, and the
//! engine answers an id it has seen with the first append's receipt instead of appending. The
//! same request id with other arguments is another call with other ids: a client that reuses
//! ids never gets the answer of an earlier, different call. MCP forbids reusing a request id
//! within a session, so nothing a well-behaved client sends twice is meant to happen twice.
//!
//! A stateless (2026-07-28) request has no session a retry could be recognised by: its ids
//! are random. Retries are recognised while the first append's id is in the engine's
//! idempotency window (its last 10,000 events).

use std::io;

use engine::EventId;

use super::ToolFailure;
use crate::mcp::jsonrpc::RequestId;
use crate::mcp::tool_call::ToolCall;

/// Separates these ids from every other use of blake3 over similar bytes. Changing it (or
/// the layout below) makes retries that span the change append again: bump the version only
/// with a reason.
const DOMAIN: &[u8] = b"second-brain/tool-call-event/v1";

/// What makes a request a retry of another: the same request id in the same session of the
/// same user.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RequestKey<'a> {
    /// The user (the object serves one, but the id must not depend on that).
    pub(crate) user: &'a str,
    /// The MCP session id.
    pub(crate) session: &'a str,
    /// The JSON-RPC request id.
    pub(crate) request: &'a RequestId,
}

/// Where one call's event ids come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EventIds {
    /// Derived: everything that identifies the call, without the index.
    Derived(Vec<u8>),
    /// Random: a call with no session.
    Random,
}

impl EventIds {
    /// The ids of `call`, made as `key` identifies it (`None`: no session).
    pub(crate) fn new(key: Option<RequestKey<'_>>, call: &ToolCall) -> EventIds {
        let Some(key) = key else {
            return EventIds::Random;
        };
        let mut prefix = Vec::with_capacity(DOMAIN.len() + 128);
        push_field(&mut prefix, DOMAIN);
        push_field(&mut prefix, key.user.as_bytes());
        push_field(&mut prefix, key.session.as_bytes());
        // Canonical: `1` and `"1"` are different ids, as JSON-RPC says.
        match key.request {
            RequestId::Number(n) => {
                prefix.push(b'n');
                prefix.extend_from_slice(&n.to_be_bytes());
            }
            RequestId::String(s) => {
                prefix.push(b's');
                push_field(&mut prefix, s.as_bytes());
            }
        }
        prefix.extend_from_slice(&fingerprint(call));
        EventIds::Derived(prefix)
    }

    /// The id of the call's event number `index` (0 for its first).
    pub(crate) fn nth(&self, index: u32) -> Result<EventId, ToolFailure> {
        match self {
            EventIds::Derived(prefix) => {
                let mut key = Vec::with_capacity(prefix.len() + 4);
                key.extend_from_slice(prefix);
                key.extend_from_slice(&index.to_be_bytes());
                Ok(EventId::derive(&key))
            }
            EventIds::Random => super::event_id(),
        }
    }
}

/// A length-prefixed field, so no two different field lists make the same bytes.
fn push_field(out: &mut Vec<u8>, field: &[u8]) {
    let len = u32::try_from(field.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(field);
}

/// blake3 of the parsed call as JSON: the tool's name and its arguments as parsed (defaults
/// filled in, unknown arguments dropped), in the fixed field order of [`ToolCall`]'s
/// serialisation. Streamed, so a 1 MB text is hashed without being copied.
fn fingerprint(call: &ToolCall) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new();
    // Serialising these plain structs cannot fail; the writer never does.
    let _ = serde_json::to_writer(HashWriter(&mut hasher), call);
    *hasher.finalize().as_bytes()
}

/// Feeds written bytes to a hasher.
struct HashWriter<'a>(&'a mut blake3::Hasher);

impl io::Write for HashWriter<'_> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0.update(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn call(arguments: Value) -> ToolCall {
        let Value::Object(params) = json!({"name": "write", "arguments": arguments}) else {
            unreachable!()
        };
        ToolCall::parse(Some(&params)).unwrap()
    }

    fn id(user: &str, session: &str, request: RequestId, call: &ToolCall, n: u32) -> EventId {
        let key = RequestKey {
            user,
            session,
            request: &request,
        };
        EventIds::new(Some(key), call).nth(n).unwrap()
    }

    #[test]
    fn a_retry_derives_the_same_ids() {
        let a = call(json!({"path": "a.md", "content": "x"}));
        let first = id("u", "s1", RequestId::Number(7), &a, 0);
        assert_eq!(first, id("u", "s1", RequestId::Number(7), &a, 0));
        // Arguments are compared as parsed: order, nulls and unknown names do not count.
        let same =
            call(json!({"content": "x", "extra": 1, "expected_version": null, "path": "a.md"}));
        assert_eq!(first, id("u", "s1", RequestId::Number(7), &same, 0));
    }

    #[test]
    fn anything_that_identifies_the_call_changes_the_id() {
        let a = call(json!({"path": "a.md", "content": "x"}));
        let first = id("u", "s1", RequestId::Number(7), &a, 0);
        let others = [
            id("v", "s1", RequestId::Number(7), &a, 0),
            id("u", "s2", RequestId::Number(7), &a, 0),
            id("u", "s1", RequestId::Number(8), &a, 0),
            id("u", "s1", RequestId::String("7".into()), &a, 0),
            id("u", "s1", RequestId::Number(7), &a, 1),
            id(
                "u",
                "s1",
                RequestId::Number(7),
                &call(json!({"path": "a.md", "content": "y"})),
                0,
            ),
            id(
                "u",
                "s1",
                RequestId::Number(7),
                &call(json!({"path": "b.md", "content": "x"})),
                0,
            ),
            id(
                "u",
                "s1",
                RequestId::Number(7),
                &call(json!({"path": "a.md", "content": "x", "expected_version": 0})),
                0,
            ),
        ];
        for (n, other) in others.iter().enumerate() {
            assert_ne!(first, *other, "variant {n}");
        }
        // Fields are length-prefixed: moving bytes between user and session changes the id.
        assert_ne!(
            id("us", "1", RequestId::Number(7), &a, 0),
            id("u", "s1", RequestId::Number(7), &a, 0)
        );
    }

    #[test]
    fn derived_ids_are_stable_across_releases() {
        // Changing the derivation makes retries that span a deploy append twice: do it only
        // on purpose (and bump DOMAIN), then update this test. The layout, spelled out:
        let a = call(json!({"path": "a.md", "content": "x"}));
        let canonical =
            r#"{"tool":"write","arguments":{"path":"a.md","content":"x","expected_version":null}}"#;
        let mut key = Vec::new();
        for field in [DOMAIN, b"u", b"s1"] {
            key.extend_from_slice(&(field.len() as u32).to_be_bytes());
            key.extend_from_slice(field);
        }
        key.extend_from_slice(b"s\0\0\0\x03r-1");
        key.extend_from_slice(blake3::hash(canonical.as_bytes()).as_bytes());
        key.extend_from_slice(&0u32.to_be_bytes());
        let got = id("u", "s1", RequestId::String("r-1".into()), &a, 0);
        assert_eq!(got, EventId::derive(&key));
        assert_eq!(hex::encode(got.0), "9810a1d0b9a43229fba6dcea879fc4ec");
    }

    #[test]
    fn calls_without_a_session_get_random_ids() {
        let ids = EventIds::new(None, &call(json!({"path": "a.md", "content": "x"})));
        assert_eq!(ids, EventIds::Random);
        assert_ne!(ids.nth(0).unwrap(), ids.nth(0).unwrap());
    }
}
