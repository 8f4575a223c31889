//! A catalogue of hostile patterns, for tests and benchmarks: glob and grep patterns that
//! take exponential time or memory in a backtracking or expanding matcher, or a long time in
//! a linear one without size limits. Each has a short name for reports.

use crate::glob::{MAX_BRACE_GROUPS, MAX_GLOB_BYTES};

/// Glob patterns, each within the caps of [`crate::glob`] (so each is matched, not refused).
pub fn globs() -> Vec<(&'static str, String)> {
    vec![
        // Issue 11: 2.8 s against one note with the former matcher.
        ("braces x8", format!("{}x", "{,,,,,,,,,}".repeat(8))),
        (
            "braces x16",
            format!("{}x", "{,,,,,,,}".repeat(MAX_BRACE_GROUPS)),
        ),
        ("nested braces", "{a,{b,{c,{d,e}}}}x".to_owned()),
        (
            "stars *a*a...b",
            format!("{}b", "*a".repeat(MAX_GLOB_BYTES / 2 - 1)),
        ),
        (
            "globstars **/**/...",
            format!("{}x", "**/".repeat(MAX_GLOB_BYTES / 3 - 1)),
        ),
        (
            "globstars **a**a...",
            format!("{}b", "**a".repeat(MAX_GLOB_BYTES / 3 - 1)),
        ),
        (
            "long class",
            format!("[{}]", "a-b".repeat(MAX_GLOB_BYTES / 3 - 1)),
        ),
        ("many classes", "[!a]*".repeat(MAX_GLOB_BYTES / 5)),
        ("questions", "?".repeat(MAX_GLOB_BYTES)),
    ]
}

/// Glob patterns past the caps: each is refused with the name of the limit.
pub fn refused_globs() -> Vec<(&'static str, String)> {
    vec![
        ("braces x17", "{a,b}".repeat(MAX_BRACE_GROUPS + 1)),
        ("braces of 129", format!("{{{}}}", ",".repeat(128))),
        (
            "braces nested 5 deep",
            format!("{}x{}", "{a,".repeat(5), "}".repeat(5)),
        ),
        ("too long", "a".repeat(MAX_GLOB_BYTES + 1)),
    ]
}

/// grep patterns, each accepted by [`crate::grep::GrepPattern`].
pub fn regexes() -> Vec<(&'static str, String)> {
    vec![
        ("(a*)*b", "(a*)*b".to_owned()),
        ("(a|a)*b", "(a|a)*b".to_owned()),
        ("(a|aa)+$", "(a|aa)+$".to_owned()),
        (".*.*.*...=x", format!("{}=x", ".*".repeat(100))),
        ("(x+x+)+y", "(x+x+)+y".to_owned()),
        ("\\w{50}", r"\w{50}".to_owned()),
        ("a{1000}", "a{1000}".to_owned()),
        ("\\w{1000}", r"\w{1000}".to_owned()),
        ("(a?){500}a{500}", "(a?){500}a{500}".to_owned()),
        (
            "long alternation",
            (0..120)
                .map(|i| format!("w{i}"))
                .collect::<Vec<_>>()
                .join("|"),
        ),
    ]
}

/// grep patterns past the limits: each is refused with the name of the limit.
pub fn refused_regexes() -> Vec<(&'static str, String)> {
    vec![
        ("(a{1000}){1000}", "(a{1000}){1000}".to_owned()),
        ("((a{100}){100}){100}", "((a{100}){100}){100}".to_owned()),
        ("too long", "a".repeat(crate::grep::MAX_PATTERN_BYTES + 1)),
    ]
}
