//! Note paths and the per-user limits every write is checked against.
//!
//! A note path is relative and slash-separated, like `projects/garden.md`. It names a file in
//! the user's tree and is also how restores lay notes out on disk, so it is held to rules that
//! keep it portable and unambiguous.

use std::fmt;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The longest path accepted, in bytes of UTF-8.
pub const MAX_PATH_BYTES: usize = 1024;
/// The longest single segment (between slashes), in bytes: what common file systems allow.
pub const MAX_SEGMENT_BYTES: usize = 255;

/// A checked note path.
///
/// Invariants: 1 to [`MAX_PATH_BYTES`] bytes; no leading or trailing `/`; no empty, `.` or
/// `..` segment; no segment longer than [`MAX_SEGMENT_BYTES`]; no NUL, control characters
/// (C0, DEL or C1) or backslash. Paths given since the rule against invisible characters
/// ([`Invisible`]) also have none of those; a path stored before it (in a log or snapshot)
/// is still read back, and [`NotePath::existing`] still names it, so such a note can be read,
/// moved to a clean name or deleted.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct NotePath(String);

impl NotePath {
    /// Checks `path` against every rule above: for a name a request gives a note.
    pub fn new(path: impl Into<String>) -> Result<NotePath, PathError> {
        let path = path.into();
        check(&path)?;
        if let Some((at, found)) = path
            .char_indices()
            .find(|&(_, c)| Invisible::of(c).is_some())
        {
            return Err(PathError::InvisibleCharacter { found, at });
        }
        Ok(NotePath(path))
    }

    /// Checks `path` against the rules every stored path meets (all but the rule against
    /// invisible characters, which came later): for naming a note that may already exist,
    /// so that a note named before that rule can still be read, moved or deleted.
    pub fn existing(path: impl Into<String>) -> Result<NotePath, PathError> {
        let path = path.into();
        check(&path)?;
        Ok(NotePath(path))
    }

    /// The path as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for NotePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Used when reading stored events and snapshots: the stored-path rules
/// ([`NotePath::existing`]), so yesterday's logs replay.
impl TryFrom<String> for NotePath {
    type Error = PathError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        NotePath::existing(value)
    }
}

/// A character that changes how text around it is shown, or shows as nothing, so that a name
/// holding it can look like another name: refused in note paths and client names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invisible {
    /// A bidirectional control: U+202A..U+202E (embeddings, overrides), U+2066..U+2069
    /// (isolates), U+200E, U+200F (marks) and U+061C (Arabic letter mark).
    Bidirectional,
    /// A zero-width character: U+200B..U+200D, U+2060 (word joiner) and U+FEFF.
    ZeroWidth,
}

impl Invisible {
    /// Which kind of invisible character `c` is, if it is one.
    pub fn of(c: char) -> Option<Invisible> {
        match c {
            '\u{202A}'..='\u{202E}'
            | '\u{2066}'..='\u{2069}'
            | '\u{200E}'
            | '\u{200F}'
            | '\u{061C}' => Some(Invisible::Bidirectional),
            '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}' => Some(Invisible::ZeroWidth),
            _ => None,
        }
    }

    /// The first invisible character of `text`: its byte offset, the character and its kind.
    pub fn find(text: &str) -> Option<(usize, char, Invisible)> {
        text.char_indices()
            .find_map(|(at, c)| Invisible::of(c).map(|kind| (at, c, kind)))
    }
}

impl fmt::Display for Invisible {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Invisible::Bidirectional => "a bidirectional control character",
            Invisible::ZeroWidth => "a zero-width character",
        })
    }
}

impl From<NotePath> for String {
    fn from(value: NotePath) -> Self {
        value.0
    }
}

/// Ordered and hashed exactly as its text, so maps keyed by `NotePath` are searched by `&str`.
impl std::borrow::Borrow<str> for NotePath {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for NotePath {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Why a path is not a valid note path. Each message says what to change.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum PathError {
    /// The path is empty.
    #[error("the path is empty; give a relative path such as notes/idea.md")]
    Empty,
    /// The path is longer than [`MAX_PATH_BYTES`].
    #[error("the path is {len} bytes long; the limit is {max} bytes", max = MAX_PATH_BYTES)]
    TooLong {
        /// The path's length in bytes.
        len: usize,
    },
    /// The path starts with `/`.
    #[error("the path starts with '/'; paths are relative, such as notes/idea.md")]
    Absolute,
    /// The path ends with `/`.
    #[error("the path ends with '/'; name a file, not a folder")]
    TrailingSlash,
    /// Two slashes in a row.
    #[error("the path has an empty segment ('//')")]
    EmptySegment,
    /// A `.` or `..` segment.
    #[error("the path has a '{segment}' segment; '.' and '..' are not allowed")]
    DotSegment {
        /// `.` or `..`.
        segment: &'static str,
    },
    /// A segment longer than [`MAX_SEGMENT_BYTES`].
    #[error("a path segment is {len} bytes long; the limit is {max} bytes", max = MAX_SEGMENT_BYTES)]
    SegmentTooLong {
        /// The segment's length in bytes.
        len: usize,
    },
    /// A NUL, control character or backslash.
    #[error(
        "the path contains the character {found:?} at byte {at}; control characters, NUL and '\\' are not allowed"
    )]
    BadCharacter {
        /// The offending character.
        found: char,
        /// Its byte offset.
        at: usize,
    },
    /// A bidirectional control or zero-width character ([`Invisible`]).
    #[error(
        "the path contains U+{code:04X} ({kind}) at byte {at}; bidirectional controls and zero-width characters are not allowed, as they make a path look like another",
        code = u32::from(*found),
        kind = Invisible::of(*found).unwrap_or(Invisible::ZeroWidth)
    )]
    InvisibleCharacter {
        /// The offending character.
        found: char,
        /// Its byte offset.
        at: usize,
    },
}

fn check(path: &str) -> Result<(), PathError> {
    if path.is_empty() {
        return Err(PathError::Empty);
    }
    if path.len() > MAX_PATH_BYTES {
        return Err(PathError::TooLong { len: path.len() });
    }
    if let Some((at, found)) = path
        .char_indices()
        .find(|&(_, c)| c.is_control() || c == '\\')
    {
        return Err(PathError::BadCharacter { found, at });
    }
    if path.starts_with('/') {
        return Err(PathError::Absolute);
    }
    if path.ends_with('/') {
        return Err(PathError::TrailingSlash);
    }
    for segment in path.split('/') {
        match segment {
            "" => return Err(PathError::EmptySegment),
            "." => return Err(PathError::DotSegment { segment: "." }),
            ".." => return Err(PathError::DotSegment { segment: ".." }),
            s if s.len() > MAX_SEGMENT_BYTES => {
                return Err(PathError::SegmentTooLong { len: s.len() });
            }
            _ => {}
        }
    }
    Ok(())
}

/// The per-user limits. [`Limits::default`] holds the product's promises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Largest note, in bytes (default 10 MB).
    pub max_file_bytes: u64,
    /// Largest sum of the current sizes of all notes, in bytes (default 10 GB).
    pub max_total_bytes: u64,
    /// Most notes at once (default 100,000).
    pub max_files: u64,
    /// Most open MCP sessions at once (default 1,000).
    pub max_sessions: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_file_bytes: 10 * 1000 * 1000,
            max_total_bytes: 10 * 1000 * 1000 * 1000,
            max_files: 100_000,
            max_sessions: 1_000,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_paths() {
        for ok in [
            "a",
            "notes/idea.md",
            "a/b/c.txt",
            "émoji 🌱.md",
            ".hidden",
            "a..b",
            "x/.y",
        ] {
            assert_eq!(
                NotePath::new(ok).map(String::from),
                Ok(ok.to_owned()),
                "{ok}"
            );
        }
    }

    #[test]
    fn rejects_each_rule_with_its_own_error() {
        let cases: [(&str, PathError); 9] = [
            ("", PathError::Empty),
            ("/etc/passwd", PathError::Absolute),
            ("notes/", PathError::TrailingSlash),
            ("a//b", PathError::EmptySegment),
            ("../up", PathError::DotSegment { segment: ".." }),
            ("a/./b", PathError::DotSegment { segment: "." }),
            ("a\0b", PathError::BadCharacter { found: '\0', at: 1 }),
            ("a\nb", PathError::BadCharacter { found: '\n', at: 1 }),
            ("a\\b", PathError::BadCharacter { found: '\\', at: 1 }),
        ];
        for (path, want) in cases {
            assert_eq!(NotePath::new(path), Err(want), "{path:?}");
        }
        assert_eq!(
            NotePath::new("a".repeat(MAX_PATH_BYTES + 1)),
            Err(PathError::TooLong {
                len: MAX_PATH_BYTES + 1
            })
        );
        assert_eq!(
            NotePath::new(format!("{}/b", "a".repeat(256))),
            Err(PathError::SegmentTooLong { len: 256 })
        );
        assert!(
            NotePath::new("\u{85}").is_err(),
            "C1 control characters are rejected"
        );
    }

    #[test]
    fn messages_say_what_to_do() {
        let message = NotePath::new("/x").unwrap_err().to_string();
        assert!(message.contains("relative"), "{message}");
    }

    #[test]
    fn bidirectional_and_zero_width_characters_are_refused() {
        let bidi = [
            '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}', '\u{2066}', '\u{2067}',
            '\u{2068}', '\u{2069}', '\u{200E}', '\u{200F}', '\u{061C}',
        ];
        let zero_width = ['\u{200B}', '\u{200C}', '\u{200D}', '\u{2060}', '\u{FEFF}'];
        for (chars, kind) in [
            (&bidi[..], Invisible::Bidirectional),
            (&zero_width[..], Invisible::ZeroWidth),
        ] {
            for &c in chars {
                let path = format!("notes/a{c}b.md");
                assert_eq!(
                    NotePath::new(path.clone()),
                    Err(PathError::InvisibleCharacter { found: c, at: 7 }),
                    "U+{:04X}",
                    u32::from(c)
                );
                assert_eq!(Invisible::find(&path), Some((7, c, kind)));
                let message = NotePath::new(path.clone()).unwrap_err().to_string();
                assert!(
                    message.contains(&format!("U+{:04X}", u32::from(c))),
                    "{message}"
                );
                assert!(message.contains(&kind.to_string()), "{message}");
                // A note stored before the rule is still named and read back.
                assert_eq!(NotePath::existing(path.clone()).map(String::from), Ok(path));
            }
        }
        // Neighbours of the refused ranges, and visible non-ASCII text, are fine.
        for ok in [
            "a\u{2061}b",
            "a\u{2065}b",
            "a\u{206A}b",
            "a\u{200A}b",
            "עברית/ملاحظة.md",
        ] {
            assert!(NotePath::new(ok).is_ok(), "{ok:?}");
        }
    }

    #[test]
    fn stored_paths_with_invisible_characters_are_read_back() {
        let mut bytes = Vec::new();
        ciborium::into_writer(&"a\u{202E}b", &mut bytes).unwrap();
        let path: NotePath = ciborium::from_reader(bytes.as_slice()).unwrap();
        assert_eq!(path.as_str(), "a\u{202E}b");
    }

    #[test]
    fn deserializing_checks_the_rules() {
        let mut bytes = Vec::new();
        ciborium::into_writer(&"../x", &mut bytes).unwrap();
        assert!(ciborium::from_reader::<NotePath, _>(bytes.as_slice()).is_err());
    }
}
