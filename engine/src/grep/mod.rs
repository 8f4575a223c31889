//! grep's patterns: a regular expression, and how many bytes of text one call may search
//! with it.
//!
//! The expression is compiled by `regex-lite`, which never backtracks: searching costs at
//! most (compiled size) x (text length). Both factors are bounded here. The pattern is at
//! most [`MAX_PATTERN_BYTES`] long and compiles to at most [`MAX_PROGRAM_BYTES`] (a counted
//! repetition such as `(a{1000}){1000}` is refused, not built); and the compiled size, rounded
//! up to a size class ([`PROGRAM_CLASSES`]), sets how many bytes one call may search
//! ([`GrepPattern::byte_budget`]): [`WORK_PER_CALL`] divided by it. The caller stops there
//! and ends its page with a cursor (inside a note if need be), so any amount of text is
//! searched over several calls.
//!
//! [`narrow`] turns a pattern into a query over the search index's terms, so a caller can
//! read only the notes that can match.

use regex_lite::{Regex, RegexBuilder};
use thiserror::Error;

pub mod narrow;

/// The longest pattern accepted, in bytes.
pub const MAX_PATTERN_BYTES: usize = 1_000;
/// The compiled size classes, in bytes, smallest first (powers of two from 1 KiB to
/// 256 KiB): a pattern's weight is the first class its program fits in. The last is the
/// largest program accepted. (Smaller programs still pay a fixed cost per line, so the
/// smallest class is 1 KiB.)
pub const PROGRAM_CLASSES: [usize; 9] = [
    1 << 10,
    2 << 10,
    4 << 10,
    8 << 10,
    16 << 10,
    32 << 10,
    64 << 10,
    128 << 10,
    256 << 10,
];
/// The largest compiled program accepted, in bytes (about the heap the regex holds).
pub const MAX_PROGRAM_BYTES: usize = PROGRAM_CLASSES[PROGRAM_CLASSES.len() - 1];
/// One call's work: bytes searched times the pattern's size class. A pattern in the smallest
/// class searches 128 KiB a call, the largest 512 bytes. Measured over hostile text, the worst
/// pattern of the catalogue in `engine::hostile` spends about 40 ms natively on this budget
/// (`docs/benchmarks.md`, "Hostile patterns").
pub const WORK_PER_CALL: u64 = (128 << 10) * (1 << 10);

/// Why a grep pattern is refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum GrepPatternError {
    /// The pattern is longer than [`MAX_PATTERN_BYTES`].
    #[error("the pattern is {len} bytes long; the limit is {max} bytes", max = MAX_PATTERN_BYTES)]
    TooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// The pattern compiles to more than [`MAX_PROGRAM_BYTES`] (large counted repetitions,
    /// such as `a{1000}`, are the usual cause).
    #[error(
        "the regular expression compiles to more than {max} bytes (the limit); large repetition counts such as {{1000}} are the usual cause",
        max = MAX_PROGRAM_BYTES
    )]
    TooBig,
    /// The pattern is not a regular expression.
    #[error("invalid regular expression: {0}")]
    Invalid(String),
}

/// `bytes` of a 64-bit target in the units of this one: regex-lite counts its program's heap,
/// which is mostly pointer-sized, so a program takes about half as many bytes on wasm32.
/// Scaling the limits keeps a pattern in the same class (and budget) on both.
fn target_bytes(bytes: usize) -> usize {
    bytes / 8 * size_of::<usize>()
}

/// A checked, compiled grep pattern.
#[derive(Debug, Clone)]
pub struct GrepPattern {
    regex: Regex,
    class: usize,
}

impl GrepPattern {
    /// Compiles `pattern` (regex-lite syntax), refusing it past the limits above.
    pub fn new(pattern: &str) -> Result<GrepPattern, GrepPatternError> {
        if pattern.len() > MAX_PATTERN_BYTES {
            return Err(GrepPatternError::TooLong { len: pattern.len() });
        }
        // The first class the program fits in. regex-lite checks its limit while it builds,
        // so each refused try stops once it passes that class's size.
        let mut last_error = None;
        for class in PROGRAM_CLASSES {
            match RegexBuilder::new(pattern)
                .size_limit(target_bytes(class))
                .build()
            {
                Ok(regex) => return Ok(GrepPattern { regex, class }),
                Err(err) => last_error = Some(err),
            }
        }
        // A syntax error fails in every class; only the size limit depends on it.
        let message = last_error.map(|err| err.to_string()).unwrap_or_default();
        if message.contains("size limit") {
            Err(GrepPatternError::TooBig)
        } else {
            Err(GrepPatternError::Invalid(message))
        }
    }

    /// Whether `text` holds a match.
    pub fn is_match(&self, text: &str) -> bool {
        self.regex.is_match(text)
    }

    /// The size class of the compiled program, in bytes: the pattern's weight.
    pub fn size_class(&self) -> usize {
        self.class
    }

    /// The most bytes of text one call may search with this pattern: [`WORK_PER_CALL`] over
    /// the size class.
    pub fn byte_budget(&self) -> u64 {
        WORK_PER_CALL / self.class as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_patterns_are_the_smallest_class_with_the_full_budget() {
        for pattern in ["TODO", "(?i)todo|fixme", r"^\s*- \[ \]", "a.*b"] {
            let p = GrepPattern::new(pattern).unwrap();
            assert_eq!(p.size_class(), PROGRAM_CLASSES[0], "{pattern}");
            assert_eq!(p.byte_budget(), 128 * 1024, "{pattern}");
        }
        assert!(
            GrepPattern::new("needle")
                .unwrap()
                .is_match("a needle here")
        );
    }

    #[test]
    fn bigger_programs_search_fewer_bytes() {
        let small = GrepPattern::new("a{10}").unwrap();
        let big = GrepPattern::new(r"\w{100}").unwrap();
        assert!(big.size_class() > small.size_class());
        assert!(big.byte_budget() < small.byte_budget());
        assert_eq!(big.byte_budget(), WORK_PER_CALL / big.size_class() as u64);
    }

    #[test]
    fn the_hostile_catalogue_compiles_within_the_limits() {
        let text = "a".repeat(2_000);
        for (name, pattern) in crate::hostile::regexes() {
            let p = GrepPattern::new(&pattern).unwrap_or_else(|err| panic!("{name}: {err}"));
            assert!(p.size_class() <= MAX_PROGRAM_BYTES, "{name}");
            assert!(
                p.byte_budget() >= WORK_PER_CALL / MAX_PROGRAM_BYTES as u64,
                "{name}"
            );
            p.is_match(&text);
        }
    }

    #[test]
    fn limits_are_named() {
        let long = "a".repeat(MAX_PATTERN_BYTES + 1);
        assert_eq!(
            GrepPattern::new(&long).unwrap_err(),
            GrepPatternError::TooLong {
                len: MAX_PATTERN_BYTES + 1
            }
        );
        for huge in [
            "(a{1000}){1000}",
            r"(\w{1000}){10}",
            "(((a{100}){100}){100}){100}",
        ] {
            let err = GrepPattern::new(huge).unwrap_err();
            assert_eq!(err, GrepPatternError::TooBig, "{huge}");
            assert!(err.to_string().contains(&MAX_PROGRAM_BYTES.to_string()));
        }
        for (name, pattern) in crate::hostile::refused_regexes() {
            assert!(GrepPattern::new(&pattern).is_err(), "{name}");
        }
        assert!(matches!(
            GrepPattern::new("("),
            Err(GrepPatternError::Invalid(_))
        ));
    }
}
