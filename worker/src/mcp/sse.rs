//! Server-Sent Events framing for MCP streams, and `Last-Event-ID`.
//!
//! Framing follows the HTML Standard's event stream format
//! (<https://html.spec.whatwg.org/multipage/server-sent-events.html>): `field: value` lines, an
//! empty line ends an event, `data` may repeat and its lines are joined with `\n` by the client.
//!
//! Event ids come in two kinds, so one `Last-Event-ID` tells which stream it belongs to
//! (2025-11-25 asks ids to identify their stream) and both kinds are unique across all streams
//! of a session (the Streamable HTTP rule):
//! - [`EventId::Log`]: a position in the user's log, for the session's GET stream: the seq of
//!   the note event an update reports (and which of its notes: a move changes two).
//! - [`EventId::Outbox`]: a row of the object's outbox, for the events of a POST stream.
//!
//! Their text form is private to [`EventId`]: clients only echo it back, so it can change
//! without breaking them, and [`EventId::parse`] accepts exactly what [`fmt::Display`] writes.
//! 2026-07-28 has no event ids and no resumption; see [`ProtocolVersion::has_resumable_streams`].

use std::fmt;

use serde::Serialize;
use thiserror::Error;

use super::version::ProtocolVersion;

/// Response headers for an SSE reply. `X-Accel-Buffering: no` keeps proxies from holding
/// events back (2026-07-28 transport page recommends it; harmless for older revisions).
pub const RESPONSE_HEADERS: [(&str, &str); 3] = [
    ("content-type", "text/event-stream"),
    ("cache-control", "no-cache"),
    ("x-accel-buffering", "no"),
];

/// A keep-alive comment: clients ignore it; intermediaries see traffic.
pub const KEEP_ALIVE: &str = ":\n\n";

/// The id of one SSE event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventId {
    /// A GET stream's event: where in the log the change it reports happened.
    Log(LogPosition),
    /// A POST stream's event: its row in the object's outbox.
    Outbox(u64),
}

/// A place in the log: the seq of an event and which of the notes it changed (`part` 0 for
/// the first, 1 for a move's destination). Ordered as the changes happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LogPosition {
    /// The event's seq.
    pub seq: u64,
    /// Which of its notes.
    pub part: u8,
}

impl LogPosition {
    /// The first change of event `seq` (and where a stream primed at `seq` stands).
    pub fn at(seq: u64) -> Self {
        LogPosition { seq, part: 0 }
    }
}

/// A `Last-Event-ID` value that is not one of our event ids.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("Last-Event-ID {0:?} is not an event id this server issued")]
pub struct LastEventIdError(pub String);

/// The mark that starts an outbox id's text.
const OUTBOX_MARK: char = 'o';

impl EventId {
    /// Reads a `Last-Event-ID` header value: exactly the text [`fmt::Display`] writes (decimal
    /// without sign, leading zeros or spaces; `<seq>` or `<seq>.<part>` with a part of 1 or
    /// more, or `o<row>`).
    pub fn parse(value: &str) -> Result<Self, LastEventIdError> {
        let refused = || LastEventIdError(value.chars().take(64).collect());
        if let Some(row) = value.strip_prefix(OUTBOX_MARK) {
            return canonical_u64(row).map(EventId::Outbox).ok_or_else(refused);
        }
        let (seq, part) = match value.split_once('.') {
            None => (value, None),
            Some((seq, part)) => (seq, Some(part)),
        };
        let seq = canonical_u64(seq).ok_or_else(refused)?;
        let part = match part {
            None => 0,
            Some(part) => canonical_u64(part)
                .and_then(|part| u8::try_from(part).ok())
                .filter(|part| *part > 0)
                .ok_or_else(refused)?,
        };
        Ok(EventId::Log(LogPosition { seq, part }))
    }
}

/// A decimal `u64` in its one canonical spelling.
fn canonical_u64(text: &str) -> Option<u64> {
    let canonical = !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    text.parse::<u64>().ok().filter(|_| canonical)
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EventId::Log(LogPosition { seq, part: 0 }) => write!(f, "{seq}"),
            EventId::Log(LogPosition { seq, part }) => write!(f, "{seq}.{part}"),
            EventId::Outbox(row) => write!(f, "{OUTBOX_MARK}{row}"),
        }
    }
}

/// One event carrying a JSON-RPC message: `id` (when the version has ids), `event: message`,
/// then the compact JSON on `data` lines.
pub fn message_event<T: Serialize>(
    version: ProtocolVersion,
    id: Option<EventId>,
    message: &T,
) -> Result<String, serde_json::Error> {
    let json = serde_json::to_string(message)?;
    Ok(json_event(version, id, &json))
}

/// [`message_event`] for a message that is JSON text already (as the outbox keeps it).
pub fn json_event(version: ProtocolVersion, id: Option<EventId>, json: &str) -> String {
    let id = id.filter(|_| version.has_resumable_streams());
    event(id, Some("message"), json)
}

/// The event that opens a stream in 2025-11-25: an id and empty data, so the client can
/// reconnect with `Last-Event-ID` even if the connection drops before any message. `None` for
/// versions that do not prime streams.
pub fn priming_event(version: ProtocolVersion, id: EventId) -> Option<String> {
    version
        .primes_sse_streams()
        .then(|| event(Some(id), None, ""))
}

/// A `retry` field, sent before the server closes a connection it means the client to poll
/// again (2025-11-25): the client waits `millis` before reconnecting.
pub fn retry(millis: u32) -> String {
    format!("retry: {millis}\n\n")
}

/// Frames one event. Line breaks in `data` (`\r\n`, `\r`, `\n`) become separate `data` lines;
/// `id` and `event` never contain them (the types above guarantee it).
fn event(id: Option<EventId>, name: Option<&str>, data: &str) -> String {
    let mut out = String::with_capacity(data.len() + 48);
    if let Some(id) = id {
        out.push_str("id: ");
        out.push_str(&id.to_string());
        out.push('\n');
    }
    if let Some(name) = name {
        out.push_str("event: ");
        out.push_str(name);
        out.push('\n');
    }
    let normalized = data.replace("\r\n", "\n").replace('\r', "\n");
    for line in normalized.split('\n') {
        out.push_str("data: ");
        out.push_str(line);
        out.push('\n');
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::mcp::jsonrpc::{RequestId, Response};

    /// Reads events back the way the HTML Standard's parser does (enough for our output).
    fn parse_stream(stream: &str) -> Vec<(Option<String>, Option<String>, String)> {
        let mut events = Vec::new();
        for block in stream.split("\n\n").filter(|b| !b.is_empty()) {
            let (mut id, mut name, mut data) = (None, None, Vec::new());
            for line in block.lines() {
                let (field, value) = line.split_once(':').unwrap_or((line, ""));
                let value = value.strip_prefix(' ').unwrap_or(value);
                match field {
                    "id" => id = Some(value.to_owned()),
                    "event" => name = Some(value.to_owned()),
                    "data" => data.push(value.to_owned()),
                    _ => {}
                }
            }
            events.push((id, name, data.join("\n")));
        }
        events
    }

    #[test]
    fn message_events_carry_id_and_compact_json() {
        let response = Response::result(RequestId::Number(1), json!({"text": "a\nb"}));
        let event = message_event(
            ProtocolVersion::V2025_06_18,
            Some(EventId::Log(LogPosition::at(42))),
            &response,
        )
        .unwrap();
        assert_eq!(
            event,
            "id: 42\nevent: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"text\":\"a\\nb\"}}\n\n"
        );
        let parsed = parse_stream(&event);
        assert_eq!(parsed.len(), 1);
        let data: serde_json::Value = serde_json::from_str(&parsed[0].2).unwrap();
        assert_eq!(data["result"]["text"], "a\nb");
    }

    #[test]
    fn stateless_streams_carry_no_ids() {
        let response = Response::result(RequestId::Number(1), json!({}));
        let event = message_event(
            ProtocolVersion::V2026_07_28,
            Some(EventId::Outbox(7)),
            &response,
        )
        .unwrap();
        assert!(!event.contains("id: 7"), "{event}");
        assert!(event.starts_with("event: message\ndata: "));
    }

    #[test]
    fn multi_line_data_is_split_into_data_lines() {
        let framed = event(Some(EventId::Log(LogPosition::at(1))), None, "a\r\nb\rc\nd");
        assert_eq!(framed, "id: 1\ndata: a\ndata: b\ndata: c\ndata: d\n\n");
        assert_eq!(parse_stream(&framed)[0].2, "a\nb\nc\nd");
    }

    #[test]
    fn priming_only_in_2025_11_25() {
        assert_eq!(
            priming_event(ProtocolVersion::V2025_11_25, EventId::Outbox(9)).as_deref(),
            Some("id: o9\ndata: \n\n")
        );
        for version in [
            ProtocolVersion::V2024_11_05,
            ProtocolVersion::V2025_03_26,
            ProtocolVersion::V2025_06_18,
            ProtocolVersion::V2026_07_28,
        ] {
            assert_eq!(
                priming_event(version, EventId::Outbox(9)),
                None,
                "{version}"
            );
        }
    }

    #[test]
    fn retry_and_keep_alive_frames() {
        assert_eq!(retry(1500), "retry: 1500\n\n");
        assert!(
            parse_stream(KEEP_ALIVE)
                .iter()
                .all(|(id, _, data)| id.is_none() && data.is_empty())
        );
    }

    #[test]
    fn last_event_id_round_trips() {
        let ids = [
            EventId::Log(LogPosition::at(0)),
            EventId::Log(LogPosition::at(42)),
            EventId::Log(LogPosition { seq: 42, part: 1 }),
            EventId::Log(LogPosition {
                seq: u64::MAX,
                part: u8::MAX,
            }),
            EventId::Outbox(0),
            EventId::Outbox(7),
            EventId::Outbox(u64::MAX),
        ];
        for id in ids {
            assert_eq!(EventId::parse(&id.to_string()), Ok(id), "{id}");
        }
        assert_eq!(EventId::Log(LogPosition::at(41)).to_string(), "41");
        assert_eq!(
            EventId::Log(LogPosition { seq: 41, part: 1 }).to_string(),
            "41.1"
        );
        assert_eq!(EventId::Outbox(3).to_string(), "o3");
    }

    #[test]
    fn the_two_kinds_never_share_a_text() {
        assert_ne!(
            EventId::Log(LogPosition::at(3)).to_string(),
            EventId::Outbox(3).to_string()
        );
        assert!(matches!(EventId::parse("3"), Ok(EventId::Log(_))));
        assert!(matches!(EventId::parse("o3"), Ok(EventId::Outbox(3))));
    }

    #[test]
    fn log_positions_order_by_seq_then_part() {
        let a = LogPosition::at(5);
        let b = LogPosition { seq: 5, part: 1 };
        let c = LogPosition::at(6);
        assert!(a < b && b < c);
    }

    #[test]
    fn last_event_id_rejects_what_we_never_write() {
        for odd in [
            "",
            " 1",
            "1 ",
            "+1",
            "-1",
            "01",
            "1.0",
            "1.01",
            "1.",
            ".1",
            "1.256",
            "1.1.1",
            "abc",
            "o",
            "O1",
            "o01",
            "o-1",
            "o1.1",
            "oo1",
            "18446744073709551616",
            "o18446744073709551616",
        ] {
            assert!(EventId::parse(odd).is_err(), "{odd:?}");
        }
        let long = "x".repeat(1000);
        assert_eq!(EventId::parse(&long).unwrap_err().0.len(), 64);
    }
}
