//! The HTTP headers of `/mcp`: looking them up, and reading the ones MCP defines.
//!
//! Header names compare case-insensitively (RFC 9110); values as given. Nothing here touches a
//! JS object: the Worker implements [`HeaderLookup`] for its own header type.

use std::borrow::Cow;
use std::fmt;

use thiserror::Error;

/// `MCP-Session-Id` (spelled `Mcp-Session-Id` before 2025-11-25; names are case-insensitive).
pub const SESSION_ID: &str = "mcp-session-id";
/// `MCP-Protocol-Version`.
pub const PROTOCOL_VERSION: &str = "mcp-protocol-version";
/// `Mcp-Method` (2026-07-28): mirrors the body's `method`.
pub const METHOD: &str = "mcp-method";
/// `Mcp-Name` (2026-07-28): mirrors `params.name` or `params.uri`.
pub const NAME: &str = "mcp-name";
/// `Last-Event-ID`: where a resumed SSE stream starts.
pub const LAST_EVENT_ID: &str = "last-event-id";
/// `Origin`.
pub const ORIGIN: &str = "origin";
/// `Accept`.
pub const ACCEPT: &str = "accept";
/// `Content-Type`.
pub const CONTENT_TYPE: &str = "content-type";
/// `Allow`, on 405 replies.
pub const ALLOW: &str = "allow";

/// `application/json`.
pub const JSON: &str = "application/json";
/// `text/event-stream`.
pub const EVENT_STREAM: &str = "text/event-stream";

/// Read access to a request's headers.
pub trait HeaderLookup {
    /// The value of header `name` (lower-case), with repeated headers joined by `", "` as the
    /// Fetch API's `Headers.get` does; `None` when absent.
    fn header(&self, name: &str) -> Option<Cow<'_, str>>;
}

impl<N: AsRef<str>, V: AsRef<str>> HeaderLookup for [(N, V)] {
    fn header(&self, name: &str) -> Option<Cow<'_, str>> {
        let mut values = self
            .iter()
            .filter(|(key, _)| key.as_ref().eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_ref());
        let first = values.next()?;
        match values.next() {
            None => Some(Cow::Borrowed(first)),
            Some(second) => {
                let mut joined = format!("{first}, {second}");
                for value in values {
                    joined.push_str(", ");
                    joined.push_str(value);
                }
                Some(Cow::Owned(joined))
            }
        }
    }
}

impl<N: AsRef<str>, V: AsRef<str>> HeaderLookup for Vec<(N, V)> {
    fn header(&self, name: &str) -> Option<Cow<'_, str>> {
        self.as_slice().header(name)
    }
}

/// Whether an `Accept` value admits `media_type` (`type/subtype`, lower-case): listed exactly or
/// through `type/*` or `*/*`, with a quality above zero. Parameters other than `q` are ignored.
pub fn accepts(accept: &str, media_type: &str) -> bool {
    let Some((wanted_type, _)) = media_type.split_once('/') else {
        return false;
    };
    let mut best: Option<(u8, bool)> = None; // (specificity, acceptable)
    for range in accept.split(',') {
        let mut parts = range.split(';');
        let name = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let specificity = if name == media_type {
            2
        } else if name == format!("{wanted_type}/*") {
            1
        } else if name == "*/*" {
            0
        } else {
            continue;
        };
        let acceptable = parts
            .filter_map(|param| param.split_once('='))
            .find(|(key, _)| key.trim().eq_ignore_ascii_case("q"))
            .map(|(_, q)| q.trim().parse::<f32>().map(|q| q > 0.0).unwrap_or(false))
            .unwrap_or(true);
        // The most specific range decides (RFC 9110 12.5.1).
        if best.is_none_or(|(seen, _)| specificity > seen) {
            best = Some((specificity, acceptable));
        }
    }
    best.is_some_and(|(_, acceptable)| acceptable)
}

/// Whether a `Content-Type` value is JSON in UTF-8: `application/json`, with no `charset` or
/// `charset=utf-8`.
pub fn is_json_content_type(content_type: &str) -> bool {
    let mut parts = content_type.split(';');
    if !parts.next().unwrap_or("").trim().eq_ignore_ascii_case(JSON) {
        return false;
    }
    parts
        .filter_map(|param| param.split_once('='))
        .filter(|(key, _)| key.trim().eq_ignore_ascii_case("charset"))
        .all(|(_, value)| value.trim().trim_matches('"').eq_ignore_ascii_case("utf-8"))
}

/// A session id as MCP allows it: 1 to [`SessionId::MAX_LEN`] visible ASCII characters
/// (0x21 to 0x7E). The spec sets no length limit; ours keeps hostile headers small. Ids we mint
/// are 64 lower-case hex digits.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SessionId(String);

/// A session id header that is not a valid session id.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SessionIdError {
    /// Empty.
    #[error("the session id is empty")]
    Empty,
    /// Longer than [`SessionId::MAX_LEN`].
    #[error("the session id is longer than {} characters", SessionId::MAX_LEN)]
    TooLong,
    /// Holds a character outside 0x21 to 0x7E.
    #[error("the session id must only contain visible ASCII characters (0x21 to 0x7E)")]
    NotVisibleAscii,
}

impl SessionId {
    /// The longest session id accepted.
    pub const MAX_LEN: usize = 256;

    /// Checks a header value.
    pub fn parse(value: &str) -> Result<Self, SessionIdError> {
        if value.is_empty() {
            return Err(SessionIdError::Empty);
        }
        if value.len() > Self::MAX_LEN {
            return Err(SessionIdError::TooLong);
        }
        if !value.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
            return Err(SessionIdError::NotVisibleAscii);
        }
        Ok(SessionId(value.to_owned()))
    }

    /// A new id from 32 random bytes (randomness is the caller's: this module draws none).
    pub fn from_random(bytes: [u8; 32]) -> Self {
        SessionId(hex::encode(bytes))
    }

    /// The header value.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SessionId {
    /// Session ids are bearer-like secrets: debug output shows only their length.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionId(<{} chars>)", self.0.len())
    }
}

/// A mirrored header value (`Mcp-Name`) that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum MirroredValueError {
    /// Holds characters a header value may not (RFC 9110: visible ASCII, space, tab).
    #[error("the header value holds characters outside visible ASCII, space and tab")]
    InvalidCharacters,
    /// `=?base64?...?=` whose payload is not base64 of UTF-8 text.
    #[error("the header value is not valid base64-encoded UTF-8")]
    BadBase64,
}

/// Decodes a mirrored header value (2026-07-28 "Value Encoding"): plain ASCII as is, or
/// `=?base64?<standard base64 of UTF-8>?=`.
pub fn decode_mirrored(value: &str) -> Result<Cow<'_, str>, MirroredValueError> {
    if !value
        .bytes()
        .all(|b| b == b'\t' || (0x20..=0x7e).contains(&b))
    {
        return Err(MirroredValueError::InvalidCharacters);
    }
    match value
        .strip_prefix("=?base64?")
        .and_then(|rest| rest.strip_suffix("?="))
    {
        None => Ok(Cow::Borrowed(value)),
        Some(encoded) => {
            let bytes = decode_base64(encoded).ok_or(MirroredValueError::BadBase64)?;
            String::from_utf8(bytes)
                .map(Cow::Owned)
                .map_err(|_| MirroredValueError::BadBase64)
        }
    }
}

/// Standard-alphabet base64 (RFC 4648 section 4), padding optional. Small enough to keep here
/// rather than add a dependency for one header.
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    fn sextet(byte: u8) -> Option<u32> {
        Some(match byte {
            b'A'..=b'Z' => byte - b'A',
            b'a'..=b'z' => byte - b'a' + 26,
            b'0'..=b'9' => byte - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    }
    let trimmed = text.trim_end_matches('=');
    let padding = text.len() - trimmed.len();
    if padding > 2 || (padding > 0 && !text.len().is_multiple_of(4)) || trimmed.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(trimmed.len() * 3 / 4);
    for chunk in trimmed.as_bytes().chunks(4) {
        let mut acc = 0u32;
        for &byte in chunk {
            acc = (acc << 6) | sextet(byte)?;
        }
        acc <<= 6 * (4 - chunk.len() as u32);
        let bytes = acc.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_is_case_insensitive_and_joins_repeats() {
        let headers = [
            ("Accept", "application/json"),
            ("MCP-Session-Id", "abc"),
            ("accept", "text/event-stream"),
        ];
        assert_eq!(headers.header("mcp-session-id").as_deref(), Some("abc"));
        assert_eq!(
            headers.header("accept").as_deref(),
            Some("application/json, text/event-stream")
        );
        assert_eq!(headers.header("origin"), None);
        let owned = vec![("Origin".to_owned(), "https://a".to_owned())];
        assert_eq!(owned.header("origin").as_deref(), Some("https://a"));
    }

    #[test]
    fn accept_matching() {
        let both = "application/json, text/event-stream";
        assert!(accepts(both, JSON));
        assert!(accepts(both, EVENT_STREAM));
        assert!(accepts("*/*", JSON));
        assert!(accepts("application/*", JSON));
        assert!(!accepts("application/*", EVENT_STREAM));
        assert!(accepts("Application/JSON; charset=utf-8", JSON));
        assert!(accepts("text/event-stream;q=0.5", EVENT_STREAM));
        assert!(!accepts("text/event-stream;q=0", EVENT_STREAM));
        assert!(!accepts("text/event-stream; q=nonsense", EVENT_STREAM));
        // The most specific range wins: */* does not undo an explicit refusal.
        assert!(!accepts("*/*, application/json;q=0", JSON));
        assert!(accepts("*/*;q=0, application/json", JSON));
        assert!(!accepts("text/html", JSON));
        assert!(!accepts("", JSON));
        assert!(!accepts("application/json", "nonsense"));
    }

    #[test]
    fn json_content_type() {
        assert!(is_json_content_type("application/json"));
        assert!(is_json_content_type("Application/Json; charset=UTF-8"));
        assert!(is_json_content_type("application/json;charset=\"utf-8\""));
        assert!(!is_json_content_type("application/json; charset=latin1"));
        assert!(!is_json_content_type("text/plain"));
        assert!(!is_json_content_type("application/json-seq"));
        assert!(!is_json_content_type(""));
    }

    #[test]
    fn session_ids_are_visible_ascii_and_bounded() {
        assert!(SessionId::parse("1868a90c-x~!").is_ok());
        assert_eq!(SessionId::parse(""), Err(SessionIdError::Empty));
        assert_eq!(
            SessionId::parse("a b"),
            Err(SessionIdError::NotVisibleAscii)
        );
        assert_eq!(
            SessionId::parse("a\tb"),
            Err(SessionIdError::NotVisibleAscii)
        );
        assert_eq!(SessionId::parse("é"), Err(SessionIdError::NotVisibleAscii));
        assert_eq!(
            SessionId::parse("a\u{7f}"),
            Err(SessionIdError::NotVisibleAscii)
        );
        let long = "a".repeat(SessionId::MAX_LEN + 1);
        assert_eq!(SessionId::parse(&long), Err(SessionIdError::TooLong));
        assert!(SessionId::parse(&long[1..]).is_ok());
    }

    #[test]
    fn minted_session_ids_parse_and_do_not_leak_in_debug() {
        let id = SessionId::from_random([0xab; 32]);
        assert_eq!(id.as_str().len(), 64);
        assert_eq!(SessionId::parse(id.as_str()), Ok(id.clone()));
        assert_eq!(format!("{id:?}"), "SessionId(<64 chars>)");
    }

    #[test]
    fn mirrored_values_decode_plain_and_base64() {
        assert_eq!(decode_mirrored("us-west1").unwrap(), "us-west1");
        assert_eq!(
            decode_mirrored("=?base64?SGVsbG8sIOS4lueVjA==?=").unwrap(),
            "Hello, 世界"
        );
        assert_eq!(
            decode_mirrored("=?base64?IHBhZGRlZCA=?=").unwrap(),
            " padded "
        );
        assert_eq!(
            decode_mirrored("=?base64?bGluZTEKbGluZTI=?=").unwrap(),
            "line1\nline2"
        );
        assert_eq!(decode_mirrored("=?base64?YQ?=").unwrap(), "a");
        assert_eq!(decode_mirrored("=?base64??=").unwrap(), "");
        assert_eq!(
            decode_mirrored("=?base64?!!?="),
            Err(MirroredValueError::BadBase64)
        );
        assert_eq!(
            decode_mirrored("=?base64?Y?="),
            Err(MirroredValueError::BadBase64)
        );
        assert_eq!(
            decode_mirrored("=?base64?/w==?="),
            Err(MirroredValueError::BadBase64),
            "0xff is not UTF-8"
        );
        assert_eq!(
            decode_mirrored("a\nb"),
            Err(MirroredValueError::InvalidCharacters)
        );
        assert_eq!(
            decode_mirrored("名前"),
            Err(MirroredValueError::InvalidCharacters)
        );
    }

    #[test]
    fn base64_round_trips_every_length() {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        fn encode(bytes: &[u8]) -> String {
            let mut out = String::new();
            for chunk in bytes.chunks(3) {
                let mut acc = 0u32;
                for (i, &b) in chunk.iter().enumerate() {
                    acc |= (b as u32) << (16 - 8 * i);
                }
                for i in 0..=chunk.len() {
                    out.push(ALPHABET[((acc >> (18 - 6 * i)) & 63) as usize] as char);
                }
                for _ in chunk.len()..3 {
                    out.push('=');
                }
            }
            out
        }
        let data: Vec<u8> = (0..=255u8).collect();
        for len in 0..40 {
            let encoded = encode(&data[..len]);
            assert_eq!(
                decode_base64(&encoded).as_deref(),
                Some(&data[..len]),
                "{encoded}"
            );
            let unpadded = encoded.trim_end_matches('=');
            assert_eq!(decode_base64(unpadded).as_deref(), Some(&data[..len]));
        }
        assert_eq!(
            decode_base64("YQ="),
            None,
            "padding must complete a quartet"
        );
        assert_eq!(decode_base64("YQ==="), None);
    }
}
