//! The pagination cursor and its opaque token form.

use std::cmp::Ordering;

/// Longest token [`SearchCursor::from_token`] accepts, in bytes: room for a path of 4 KiB.
pub const MAX_CURSOR_TOKEN_LEN: usize = PREFIX.len() + 16 + 2 * 4096;

/// Token prefix: format version 2 (the score as the 16 hex digits of an `f64`).
const PREFIX: &str = "v2";
/// Version 1 (the score as the 8 hex digits of an `f32`), still read.
const PREFIX_V1: &str = "v1";

/// Where the previous page of a search ended: the score and path of its last hit.
///
/// The next page holds the hits ranked strictly after that one (lower score, or equal score
/// and a greater path). This is keyset pagination: it needs no server-side state, and when the
/// index does not change between calls, the pages of one query partition its hits exactly.
/// If the index changes in between, no hit is repeated unless its score rose past the cursor,
/// and a hit that moved above the cursor is not shown.
///
/// A cursor is not bound to its query: passed with another query, it skips that query's hits
/// ranked before it.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchCursor {
    /// An `f32` score (the in-memory index's) is held exactly.
    score: f64,
    path: String,
}

/// Why a cursor token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CursorError {
    /// The token is the empty string.
    #[error("empty search cursor")]
    Empty,
    /// The token is longer than [`MAX_CURSOR_TOKEN_LEN`].
    #[error("search cursor too long: {len} bytes (at most {max})")]
    TooLong {
        /// The token's length in bytes.
        len: usize,
        /// [`MAX_CURSOR_TOKEN_LEN`].
        max: usize,
    },
    /// The token names a format this version does not know (say, from a newer server).
    #[error("search cursor has an unknown format version")]
    UnknownVersion,
    /// The token was not produced by [`SearchCursor::to_token`].
    #[error("malformed search cursor")]
    Malformed,
}

impl SearchCursor {
    pub(crate) fn new(score: f32, path: &str) -> Self {
        Self::exact(f64::from(score), path)
    }

    /// A cursor after a hit whose score was ranked as an `f64` (the SQL index's).
    pub(crate) fn exact(score: f64, path: &str) -> Self {
        Self {
            score,
            path: path.to_owned(),
        }
    }

    /// The score of the last hit of the previous page.
    pub fn score(&self) -> f64 {
        self.score
    }

    /// The path of the last hit of the previous page.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The cursor as an opaque ASCII string (letters and digits only), safe in JSON and URLs.
    ///
    /// Layout (version 1): `v1`, the score's IEEE 754 bits as 8 lowercase hex digits, then the
    /// path's UTF-8 bytes in lowercase hex.
    pub fn to_token(&self) -> String {
        let mut token = String::with_capacity(PREFIX.len() + 16 + 2 * self.path.len());
        token.push_str(PREFIX);
        token.push_str(&format!("{:016x}", self.score.to_bits()));
        token.push_str(&hex::encode(self.path.as_bytes()));
        token
    }

    /// Parses a token made by [`to_token`](Self::to_token).
    ///
    /// ```
    /// use engine::search::{CursorError, SearchCursor};
    /// assert_eq!(SearchCursor::from_token("nonsense"), Err(CursorError::Malformed));
    /// ```
    pub fn from_token(token: &str) -> Result<Self, CursorError> {
        if token.is_empty() {
            return Err(CursorError::Empty);
        }
        if token.len() > MAX_CURSOR_TOKEN_LEN {
            return Err(CursorError::TooLong {
                len: token.len(),
                max: MAX_CURSOR_TOKEN_LEN,
            });
        }
        let (body, score_digits) = match (token.strip_prefix(PREFIX), token.strip_prefix(PREFIX_V1))
        {
            (Some(body), _) => (body, 16),
            (None, Some(body)) => (body, 8),
            (None, None) => {
                let versioned = token
                    .strip_prefix('v')
                    .is_some_and(|rest| rest.bytes().next().is_some_and(|b| b.is_ascii_digit()));
                return Err(if versioned {
                    CursorError::UnknownVersion
                } else {
                    CursorError::Malformed
                });
            }
        };
        if !body
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(CursorError::Malformed);
        }
        let (score_hex, path_hex) = body
            .split_at_checked(score_digits)
            .ok_or(CursorError::Malformed)?;
        let bits = u64::from_str_radix(score_hex, 16).map_err(|_| CursorError::Malformed)?;
        let score = if score_digits == 8 {
            let bits = u32::try_from(bits).map_err(|_| CursorError::Malformed)?;
            f64::from(f32::from_bits(bits))
        } else {
            f64::from_bits(bits)
        };
        // Scores are finite and non-negative; anything else was not made by `to_token`.
        if !score.is_finite() || score.is_sign_negative() {
            return Err(CursorError::Malformed);
        }
        let bytes = hex::decode(path_hex).map_err(|_| CursorError::Malformed)?;
        let path = String::from_utf8(bytes).map_err(|_| CursorError::Malformed)?;
        Ok(Self { score, path })
    }

    /// Whether this cursor ranks strictly before a hit with `score` at `path`: whether that hit
    /// belongs to the pages after the cursor.
    pub(crate) fn precedes(&self, score: f32, path: &str) -> bool {
        let theirs = f64::from(score);
        theirs
            .total_cmp(&self.score)
            .then_with(|| self.path.as_str().cmp(path))
            == Ordering::Less
    }
}

/// The ranking order: higher score first, then path ascending. `Less` means `a` ranks first.
pub(crate) fn rank_order(a_score: f32, a_path: &str, b_score: f32, b_path: &str) -> Ordering {
    b_score.total_cmp(&a_score).then_with(|| a_path.cmp(b_path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_round_trips() {
        for (score, path) in [
            (0.0, ""),
            (1.5, "notes/a.md"),
            (12.345_678, "dir with spaces/ünïcödé 東京 🦀.md"),
            (f32::MAX, "nul\0byte"),
            (f32::MIN_POSITIVE, "x"),
        ] {
            let cursor = SearchCursor::new(score, path);
            let token = cursor.to_token();
            assert!(token.bytes().all(|b| b.is_ascii_alphanumeric()), "{token}");
            let back = SearchCursor::from_token(&token).unwrap();
            assert_eq!(back, cursor);
            assert_eq!(back.score().to_bits(), f64::from(score).to_bits());
            assert!(token.starts_with("v2"));
            assert_eq!(back.path(), path);
        }
    }

    #[test]
    fn exact_scores_round_trip_and_version_1_tokens_still_read() {
        let exact = SearchCursor::exact(1.000_000_000_1, "a.md");
        let back = SearchCursor::from_token(&exact.to_token()).unwrap();
        assert_eq!(back.score().to_bits(), 1.000_000_000_1f64.to_bits());
        // "v1" + the f32 bits of 1.5 + hex("a.md"): a token an older build handed out.
        let old = SearchCursor::from_token("v13fc00000612e6d64").unwrap();
        assert_eq!(old, SearchCursor::new(1.5, "a.md"));
        assert!(SearchCursor::from_token("v2123").is_err());
    }

    #[test]
    fn malformed_tokens_are_typed_errors() {
        let good = SearchCursor::new(2.0, "a/b.md").to_token();
        assert_eq!(SearchCursor::from_token(""), Err(CursorError::Empty));
        assert_eq!(
            SearchCursor::from_token("v3abcdef00"),
            Err(CursorError::UnknownVersion)
        );
        assert_eq!(
            SearchCursor::from_token("v9"),
            Err(CursorError::UnknownVersion)
        );
        for bad in [
            "x",
            "v",
            "v1",
            "v1abc",                 // short score
            "v13f80000",             // seven score digits
            "v13f8000006",           // odd number of path digits
            "v13F800000",            // uppercase is not what to_token writes
            "v1+3f80000",            // sign
            "v17fc00000",            // NaN
            "v17f800000",            // infinity
            "v1bf800000",            // negative
            "v13f800000ff",          // not UTF-8
            "v1 3f80000",            // space
            &good[..good.len() - 1], // truncated
            "v1ééééé",
            "\0\0\0",
        ] {
            assert_eq!(
                SearchCursor::from_token(bad),
                Err(CursorError::Malformed),
                "{bad:?}"
            );
        }
        // A score and no path is a well-formed cursor (the empty path).
        assert_eq!(
            SearchCursor::from_token("v13f800000"),
            Ok(SearchCursor::new(1.0, ""))
        );
        let long = format!("v1{}", "0".repeat(MAX_CURSOR_TOKEN_LEN));
        assert_eq!(
            SearchCursor::from_token(&long),
            Err(CursorError::TooLong {
                len: long.len(),
                max: MAX_CURSOR_TOKEN_LEN
            })
        );
        assert!(!CursorError::Malformed.to_string().is_empty());
    }

    #[test]
    fn rank_order_is_score_desc_then_path_asc() {
        assert_eq!(rank_order(2.0, "b", 1.0, "a"), Ordering::Less);
        assert_eq!(rank_order(1.0, "a", 1.0, "b"), Ordering::Less);
        assert_eq!(rank_order(1.0, "a", 1.0, "a"), Ordering::Equal);
        let cursor = SearchCursor::new(1.0, "m");
        assert!(cursor.precedes(1.0, "n"));
        assert!(cursor.precedes(0.5, "a"));
        assert!(!cursor.precedes(1.0, "m"));
        assert!(!cursor.precedes(1.5, "z"));
    }
}
