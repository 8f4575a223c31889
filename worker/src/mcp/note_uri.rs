//! Note URIs: `note:///<path>`, the resource URI of one note.
//!
//! The path's segments are percent-encoded as RFC 3986 section 2.1 says (the `/` between
//! segments stays literal), so any note path has exactly one URI we write ([`format()`]) and
//! every URI a client sends names at most one path ([`parse`]).
//!
//! [`parse`] is strict: scheme `note` (lower case), an empty authority (`note:///`), no query
//! or fragment, only unreserved characters, sub-delims, `:`, `@` and `%XX` triplets in
//! segments (hex digits in either case), no empty, `.` or `..` segment, no encoded `/`, and
//! the decoded bytes must be UTF-8. Whether the decoded text is a valid note path is the
//! engine's call (`engine::NotePath::new`).

use std::fmt;

use thiserror::Error;

use super::jsonrpc::ErrorObject;

/// What every note URI starts with.
pub const PREFIX: &str = "note:///";

/// Why a URI is not a note URI.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum NoteUriError {
    /// It does not start with [`PREFIX`].
    #[error("a note URI starts with {PREFIX:?}")]
    Scheme,
    /// It has nothing after the prefix.
    #[error("the note URI names no note")]
    Empty,
    /// A segment is empty, `.` or `..`.
    #[error("the note URI has an empty, '.' or '..' segment")]
    Segment,
    /// A character that must be percent-encoded (or a query or fragment).
    #[error("the note URI contains {0:?}, which must be percent-encoded")]
    Character(char),
    /// A `%` not followed by two hex digits.
    #[error("the note URI has a '%' that is not followed by two hex digits")]
    Escape,
    /// An encoded `/` (`%2F`) inside a segment.
    #[error("the note URI encodes '/' inside a segment")]
    EncodedSlash,
    /// The decoded path is not UTF-8.
    #[error("the note URI's path is not UTF-8 once decoded")]
    NotUtf8,
}

impl NoteUriError {
    /// The JSON-RPC error for a request that named `uri`: -32602.
    pub fn to_error(&self, uri: &str) -> ErrorObject {
        let shown: String = uri.chars().take(200).collect();
        ErrorObject::invalid_params(format!("{shown:?} is not a note URI: {self}"))
    }
}

/// The note path `uri` names (decoded, not yet checked as a note path).
pub fn parse(uri: &str) -> Result<String, NoteUriError> {
    let rest = uri.strip_prefix(PREFIX).ok_or(NoteUriError::Scheme)?;
    if rest.is_empty() {
        return Err(NoteUriError::Empty);
    }
    let mut path = Vec::with_capacity(rest.len());
    for (index, segment) in rest.split('/').enumerate() {
        if index > 0 {
            path.push(b'/');
        }
        let decoded = decode_segment(segment)?;
        if decoded.is_empty() || decoded == b"." || decoded == b".." {
            return Err(NoteUriError::Segment);
        }
        path.extend_from_slice(&decoded);
    }
    String::from_utf8(path).map_err(|_| NoteUriError::NotUtf8)
}

/// The URI of the note at `path`.
pub fn format(path: &str) -> String {
    NoteUri(path).to_string()
}

/// Displays the URI of a path without building it first.
struct NoteUri<'a>(&'a str);

impl fmt::Display for NoteUri<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(PREFIX)?;
        for byte in self.0.bytes() {
            if byte == b'/' || is_unreserved(byte) {
                write!(f, "{}", byte as char)?;
            } else {
                write!(f, "%{byte:02X}")?;
            }
        }
        Ok(())
    }
}

fn decode_segment(segment: &str) -> Result<Vec<u8>, NoteUriError> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let byte = bytes[i];
        if byte == b'%' {
            let hex = bytes.get(i + 1..i + 3).ok_or(NoteUriError::Escape)?;
            let value = hex_value(hex[0])
                .zip(hex_value(hex[1]))
                .map(|(high, low)| high << 4 | low)
                .ok_or(NoteUriError::Escape)?;
            if value == b'/' {
                return Err(NoteUriError::EncodedSlash);
            }
            out.push(value);
            i += 3;
        } else if is_unreserved(byte) || is_allowed_literal(byte) {
            out.push(byte);
            i += 1;
        } else {
            // Non-ASCII bytes start a character; report the character, not the byte.
            let found = segment[i..]
                .chars()
                .next()
                .unwrap_or(char::REPLACEMENT_CHARACTER);
            return Err(NoteUriError::Character(found));
        }
    }
    Ok(out)
}

/// RFC 3986 `unreserved`: ALPHA / DIGIT / "-" / "." / "_" / "~".
fn is_unreserved(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~')
}

/// The rest of RFC 3986 `pchar` besides unreserved and `%XX`: sub-delims, ":" and "@".
fn is_allowed_literal(byte: u8) -> bool {
    matches!(
        byte,
        b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'=' | b':' | b'@'
    )
}

fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_paths_read_as_they_are() {
        assert_eq!(parse("note:///ideas/plan.md").unwrap(), "ideas/plan.md");
        assert_eq!(parse("note:///a").unwrap(), "a");
        assert_eq!(format("ideas/plan.md"), "note:///ideas/plan.md");
    }

    #[test]
    fn encoded_characters_are_decoded() {
        assert_eq!(
            parse("note:///my%20notes/caf%C3%A9.md").unwrap(),
            "my notes/café.md"
        );
        assert_eq!(
            parse("note:///a%2fb%2Ec").unwrap_err(),
            NoteUriError::EncodedSlash
        );
        assert_eq!(parse("note:///x%2e%2E").unwrap(), "x..");
        assert_eq!(parse("note:///it's(1)+@:=.md").unwrap(), "it's(1)+@:=.md");
    }

    #[test]
    fn format_and_parse_round_trip() {
        for path in [
            "a.md",
            "my notes/café.md",
            "q?/h#/100%.md",
            "emoji/🧠.md",
            "sub-delims/!$&'()*+,;=:@",
            "tilde~/_under-score.",
        ] {
            let uri = format(path);
            assert!(uri.is_ascii(), "{uri}");
            assert_eq!(parse(&uri).as_deref(), Ok(path), "{uri}");
        }
        assert_eq!(format("a b/ü"), "note:///a%20b/%C3%BC");
    }

    #[test]
    fn everything_else_is_refused() {
        let cases: [(&str, NoteUriError); 17] = [
            ("file:///a.md", NoteUriError::Scheme),
            ("NOTE:///a.md", NoteUriError::Scheme),
            ("note://host/a.md", NoteUriError::Scheme),
            ("note:/a.md", NoteUriError::Scheme),
            ("note:///", NoteUriError::Empty),
            ("note:////a.md", NoteUriError::Segment),
            ("note:///a//b", NoteUriError::Segment),
            ("note:///a/", NoteUriError::Segment),
            ("note:///./a", NoteUriError::Segment),
            ("note:///a/..", NoteUriError::Segment),
            ("note:///%2E%2e/a", NoteUriError::Segment),
            ("note:///a.md?x=1", NoteUriError::Character('?')),
            ("note:///a.md#top", NoteUriError::Character('#')),
            ("note:///a b", NoteUriError::Character(' ')),
            ("note:///café", NoteUriError::Character('é')),
            ("note:///a%2", NoteUriError::Escape),
            ("note:///a%zz", NoteUriError::Escape),
        ];
        for (uri, expected) in cases {
            assert_eq!(parse(uri), Err(expected), "{uri}");
        }
        assert_eq!(parse("note:///%FF"), Err(NoteUriError::NotUtf8));
    }

    #[test]
    fn refusals_are_invalid_params() {
        let error = parse("nope").unwrap_err().to_error("nope");
        assert_eq!(error.code, super::super::jsonrpc::ErrorCode::INVALID_PARAMS);
        assert!(error.message.contains("\"nope\""), "{}", error.message);
    }
}
