//! Percent-encoding of object keys and query parameters as SigV4 canonicalizes them.
//!
//! Everything but the unreserved characters (`A-Z a-z 0-9 - _ . ~`) is encoded, in paths and
//! queries alike, so the URL on the wire is already the canonical form and the signer's single
//! encoding pass leaves it unchanged. `/` separates key segments and is kept.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// What SigV4 (RFC 3986) encodes: all but the unreserved characters.
const RESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Encodes one query name or value, or one path segment.
pub(super) fn component(value: &str) -> String {
    utf8_percent_encode(value, RESERVED).to_string()
}

/// Encodes a key for the URL path: each `/`-separated segment encoded, the `/`s kept.
pub(super) fn key_path(key: &str) -> String {
    key.split('/').map(component).collect::<Vec<_>>().join("/")
}

/// Builds `?name=value&...` from pairs, encoded and sorted as the canonical query is; empty
/// when there are none. A value of `None` writes `name=` (S3 sub-resources like `uploads`).
pub(super) fn query(pairs: &[(&str, Option<&str>)]) -> String {
    let mut encoded: Vec<(String, String)> = pairs
        .iter()
        .map(|(name, value)| (component(name), component(value.unwrap_or(""))))
        .collect();
    encoded.sort();
    let joined: Vec<String> = encoded
        .into_iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect();
    if joined.is_empty() {
        String::new()
    } else {
        format!("?{}", joined.join("&"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_keep_slashes_and_unreserved_characters() {
        assert_eq!(key_path("logs/2026/a-b_c.d~e"), "logs/2026/a-b_c.d~e");
    }

    #[test]
    fn keys_encode_everything_else_per_segment() {
        assert_eq!(key_path("a b/c+d"), "a%20b/c%2Bd");
        assert_eq!(key_path("q?x=1&y#z"), "q%3Fx%3D1%26y%23z");
        assert_eq!(key_path("100%"), "100%25");
        assert_eq!(key_path("notes/é.md"), "notes/%C3%A9.md");
        assert_eq!(key_path("a//b/"), "a//b/");
    }

    #[test]
    fn queries_are_sorted_and_encoded() {
        assert_eq!(query(&[]), "");
        assert_eq!(
            query(&[("prefix", Some("a b/")), ("list-type", Some("2"))]),
            "?list-type=2&prefix=a%20b%2F"
        );
        assert_eq!(query(&[("uploads", None)]), "?uploads=");
        assert_eq!(
            query(&[("continuation-token", Some("1/+=="))]),
            "?continuation-token=1%2F%2B%3D%3D"
        );
    }
}
