//! Splitting note text, note paths and queries into terms.
//!
//! One tokenizer serves documents and queries alike, so a query term matches exactly the terms
//! indexed from the same word. A term is a maximal run of characters for which
//! [`char::is_alphanumeric`] holds (letters and digits of any script), lowercased with
//! [`char::to_lowercase`]. Everything else (punctuation, spaces, NUL, combining marks, emoji)
//! separates terms. A term longer than [`MAX_TERM_BYTES`] after lowercasing is dropped whole
//! (base64 blobs, hashes and minified data would otherwise bloat the index), and so are the few
//! English [`STOPWORDS`].
//!
//! There is no stemming: notes are often in more than one language and an English stemmer would
//! merge unrelated words in the others; a query for `notes` does not find `note`. There is no
//! Unicode normalization either (that needs tables this crate does not carry): precomposed `é`
//! and `e` + U+0301 are different terms.

/// Terms longer than this many bytes (UTF-8, after lowercasing) are not indexed.
pub const MAX_TERM_BYTES: usize = 64;

/// Words too common in English notes to help ranking; they are dropped from documents and
/// queries alike. Sorted, so membership is a binary search.
pub const STOPWORDS: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "in", "is", "it", "of", "on",
    "or", "that", "the", "this", "to", "was", "were", "with",
];

/// Splits `text` into its terms, in order, duplicates kept.
///
/// ```
/// use engine::search::tokenize;
/// assert_eq!(tokenize("The Quick-brown FOX, 2024!"), ["quick", "brown", "fox", "2024"]);
/// ```
pub fn tokenize(text: &str) -> Vec<String> {
    let mut terms = Vec::new();
    for_each_term(text, |term| terms.push(term.to_owned()));
    terms
}

/// Calls `f` with each term of `text`, in order. The `&str` lives in a buffer reused between
/// calls, so indexing allocates nothing per token.
pub(crate) fn for_each_term(text: &str, f: impl FnMut(&str)) {
    for_each_term_noting_long(text, f);
}

/// [`for_each_term`], returning whether some run was dropped for being longer than
/// [`MAX_TERM_BYTES`] (an index that answers substring questions must then treat the text as
/// possibly holding any substring).
pub(crate) fn for_each_term_noting_long(text: &str, mut f: impl FnMut(&str)) -> bool {
    let mut term = String::with_capacity(MAX_TERM_BYTES + 4);
    // Set once `term` has grown past the limit; the rest of the run is skipped, not buffered.
    let mut too_long = false;
    let mut dropped_long = false;
    for c in text.chars() {
        if c.is_ascii() {
            if c.is_ascii_alphanumeric() {
                if !too_long {
                    term.push(c.to_ascii_lowercase());
                    too_long = term.len() > MAX_TERM_BYTES;
                }
                continue;
            }
        } else if c.is_alphanumeric() {
            if !too_long {
                term.extend(c.to_lowercase());
                too_long = term.len() > MAX_TERM_BYTES;
            }
            continue;
        }
        dropped_long |= too_long;
        emit(&mut term, &mut too_long, &mut f);
    }
    dropped_long |= too_long;
    emit(&mut term, &mut too_long, &mut f);
    dropped_long
}

/// Ends the current run: passes it to `f` unless it is empty, too long or a stopword.
fn emit(term: &mut String, too_long: &mut bool, f: &mut impl FnMut(&str)) {
    if !term.is_empty() && !*too_long && !is_stopword(term) {
        f(term);
    }
    term.clear();
    *too_long = false;
}

fn is_stopword(term: &str) -> bool {
    // A `match` on the text compiles to a switch on length and bytes: several times faster
    // than a binary search, and this runs for every word of every note. The test below keeps
    // it equal to `STOPWORDS`.
    matches!(
        term,
        "a" | "an"
            | "and"
            | "are"
            | "as"
            | "at"
            | "be"
            | "by"
            | "for"
            | "from"
            | "in"
            | "is"
            | "it"
            | "of"
            | "on"
            | "or"
            | "that"
            | "the"
            | "this"
            | "to"
            | "was"
            | "were"
            | "with"
    )
}

/// Calls `f` with each term of a note's path. Paths are tokenized like text, so `/`, `.`, `-`
/// and `_` (and any other non-alphanumeric character) separate the words of folder and file
/// names: `projects/rust-search_notes.md` gives `projects`, `rust`, `search`, `notes`, `md`.
pub(crate) fn for_each_path_term(path: &str, f: impl FnMut(&str)) {
    for_each_term(path, f);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stopword_match_is_the_stopword_list() {
        for word in STOPWORDS {
            assert!(is_stopword(word), "{word}");
        }
        for word in ["", "ann", "th", "them", "w1", "withh", "The"] {
            assert!(!is_stopword(word), "{word}");
        }
    }

    fn path_terms(path: &str) -> Vec<String> {
        let mut terms = Vec::new();
        for_each_path_term(path, |t| terms.push(t.to_owned()));
        terms
    }

    #[test]
    fn stopwords_are_sorted_lowercase_and_short() {
        assert!(STOPWORDS.windows(2).all(|w| w[0] < w[1]));
        assert!(
            STOPWORDS
                .iter()
                .all(|w| w.len() <= 5 && tokenize(w).is_empty())
        );
        for w in STOPWORDS {
            assert_eq!(w.to_lowercase(), *w);
        }
    }

    #[test]
    fn splits_on_non_alphanumeric_and_lowercases() {
        assert_eq!(tokenize("Hello, World!"), ["hello", "world"]);
        assert_eq!(
            tokenize("snake_case kebab-case dot.ted"),
            ["snake", "case", "kebab", "case", "dot", "ted"]
        );
        assert_eq!(tokenize("v1.2.3 x86_64"), ["v1", "2", "3", "x86", "64"]);
        assert_eq!(tokenize("  \t\n"), Vec::<String>::new());
        assert_eq!(tokenize(""), Vec::<String>::new());
    }

    #[test]
    fn drops_stopwords_but_keeps_their_neighbours() {
        assert_eq!(tokenize("The cat is on the mat"), ["cat", "mat"]);
        assert_eq!(tokenize("THE AND OF"), Vec::<String>::new());
        // Only whole terms are stopwords.
        assert_eq!(tokenize("theory island"), ["theory", "island"]);
    }

    #[test]
    fn unicode_letters_and_digits_are_terms() {
        assert_eq!(
            tokenize("Ça Marche À Paris"),
            ["ça", "marche", "à", "paris"]
        );
        assert_eq!(tokenize("ΑΘΗΝΑ straße"), ["αθηνα", "straße"]);
        assert_eq!(tokenize("Привет,мир"), ["привет", "мир"]);
        assert_eq!(tokenize("東京 タワー"), ["東京", "タワー"]);
        // Arabic-Indic digits are numeric, hence alphanumeric.
        assert_eq!(tokenize("٣٤"), ["٣٤"]);
        // Emoji and symbols separate; combining marks are not alphanumeric either.
        assert_eq!(tokenize("rust🦀wasm™"), ["rust", "wasm"]);
        assert_eq!(tokenize("cafe\u{301}"), ["cafe"]);
        // 'İ' lowercases to two chars (i + U+0307) and stays one term.
        assert_eq!(tokenize("İstanbul"), ["i\u{307}stanbul"]);
    }

    #[test]
    fn nul_and_control_bytes_separate() {
        assert_eq!(tokenize("a\0b\u{1}c\u{7f}dd"), ["b", "c", "dd"]);
        assert_eq!(tokenize("\0\0\0"), Vec::<String>::new());
    }

    #[test]
    fn long_terms_are_dropped_whole() {
        let exact = "x".repeat(MAX_TERM_BYTES);
        let over = "y".repeat(MAX_TERM_BYTES + 1);
        let huge = "z".repeat(1 << 20);
        let text = format!("a1 {exact} {over} b2 {huge} c3");
        assert_eq!(tokenize(&text), ["a1", exact.as_str(), "b2", "c3"]);
        // The limit is in bytes after lowercasing: 32 two-byte letters fit, 33 do not.
        let fits = "é".repeat(32);
        assert_eq!(tokenize(&fits), [fits.as_str()]);
        assert!(tokenize(&"É".repeat(33)).is_empty());
    }

    #[test]
    fn path_segments_are_terms() {
        assert_eq!(
            path_terms("projects/rust-search_notes.md"),
            ["projects", "rust", "search", "notes", "md"]
        );
        assert_eq!(path_terms("/a/b/"), ["b"]);
        assert_eq!(path_terms(""), Vec::<String>::new());
    }
}
