//! Generated notes for measuring one user at scale: the same seed, number and size give the
//! same bytes on every machine. The Worker's local-development grow route writes them;
//! `second-brain bench-scale` and the end-to-end tests look for what they hold.
//!
//! Note `i` is at [`path`]`(i)` (`scale/0000042.md`: seven digits, so paths sort by number).
//! Its text is a title line and paragraphs of English-like sentences, exactly the size asked
//! for (ASCII): common English words and made-up words drawn with Zipf-like frequencies (rank
//! r weighs about 1/r), with the word [`needle`]`(i)` (`needle{i / 10}`) as the title's first
//! word, so each needle word is held by exactly ten notes, ten numbers in a row. A needle is
//! a whole search term; as a grep pattern it is also a prefix of longer needles (`needle7` of
//! `needle70`), so grep for one with word boundaries (`\bneedle7\b`).
//!
//! ```
//! use engine::scale_notes;
//! let text = scale_notes::text(1, 42, 4096);
//! assert_eq!(text.len(), 4096);
//! assert_eq!(scale_notes::path(42), "scale/0000042.md");
//! assert!(text.starts_with("# needle4 "));
//! assert_eq!(text, scale_notes::text(1, 42, 4096));
//! ```

use crate::sim::SplitMix64;

/// The largest note number: paths have seven digits.
pub const MAX_NUMBER: u64 = 9_999_999;
/// The smallest size [`text`] makes exactly: room for the title with the longest needle.
pub const MIN_BYTES: usize = 32;
/// How many notes hold each needle word.
pub const NOTES_PER_NEEDLE: u64 = 10;

/// Common English words: the top of the vocabulary (ranks 0 to 99). Shared with the corpus
/// of `second-brain bench-mcp`.
pub const COMMON: &[&str] = &[
    "the", "of", "and", "to", "a", "in", "is", "that", "for", "it", "as", "was", "with", "be",
    "on", "not", "he", "by", "this", "are", "or", "his", "from", "at", "which", "but", "have",
    "an", "had", "they", "you", "were", "their", "one", "all", "we", "can", "her", "has", "there",
    "been", "if", "more", "when", "will", "would", "who", "so", "no", "she", "other", "its", "may",
    "these", "about", "some", "what", "them", "than", "time", "into", "only", "two", "could",
    "new", "then", "do", "first", "any", "my", "now", "such", "like", "our", "over", "man", "me",
    "even", "most", "made", "also", "after", "did", "many", "before", "must", "through", "years",
    "where", "much", "your", "way", "well", "down", "should", "because", "each", "just", "those",
    "people",
];
/// Syllables of the made-up words (28 of them). Shared with `bench-mcp`'s corpus.
pub const SYLLABLES: &[&str] = &[
    "ka", "lo", "mi", "ren", "ta", "vo", "shi", "pra", "del", "un", "or", "bel", "quin", "sa",
    "tor", "ma", "zen", "ri", "fo", "lan", "gre", "ni", "cus", "phe", "dra", "mo", "sel", "vi",
];
/// Words in the vocabulary: the common ones, then made-up ones.
pub const VOCABULARY: usize = 5_000;

/// The path of note `i` (at most [`MAX_NUMBER`]).
pub fn path(i: u64) -> String {
    format!("scale/{i:07}.md")
}

/// The needle word note `i` holds: `needle{i / 10}`.
pub fn needle(i: u64) -> String {
    format!("needle{}", i / NOTES_PER_NEEDLE)
}

/// The word of `rank` in the vocabulary (0 is the most frequent; ranks wrap around
/// [`VOCABULARY`]). Made-up words are two or three syllables, distinct from each other and
/// from the common words.
pub fn word(rank: usize) -> String {
    let rank = rank % VOCABULARY;
    if let Some(common) = COMMON.get(rank) {
        return (*common).to_owned();
    }
    // Two syllables for the first 28 * 28 made-up words, three after: a number in base 28.
    let mut k = rank - COMMON.len();
    let n = SYLLABLES.len();
    let syllables = if k < n * n {
        2
    } else {
        k -= n * n;
        3
    };
    let mut word = String::with_capacity(12);
    for _ in 0..syllables {
        word.push_str(SYLLABLES[k % n]);
        k /= n;
    }
    word
}

/// The text of note `i` from `seed`: exactly `bytes` bytes (at least [`MIN_BYTES`]) of ASCII,
/// starting `# needle{i / 10} `.
pub fn text(seed: u64, i: u64, bytes: usize) -> String {
    let bytes = bytes.max(MIN_BYTES);
    let mut rng = SplitMix64::new(seed ^ i.wrapping_mul(0x2545_f491_4f6c_dd1d) ^ 0x5ca1e);
    let mut out = String::with_capacity(bytes + 160);
    out.push_str("# ");
    out.push_str(&needle(i));
    for _ in 0..2 + rng.below(3) {
        out.push(' ');
        out.push_str(&zipf_word(&mut rng));
    }
    out.push_str("\n\n");
    while out.len() < bytes {
        for _ in 0..2 + rng.below(4) {
            for n in 0..6 + rng.below(14) {
                let word = zipf_word(&mut rng);
                if n == 0 {
                    let mut chars = word.chars();
                    if let Some(first) = chars.next() {
                        out.push(first.to_ascii_uppercase());
                        out.push_str(chars.as_str());
                    }
                } else {
                    out.push(' ');
                    out.push_str(&word);
                }
            }
            out.push_str(". ");
        }
        out.push_str("\n\n");
    }
    out.truncate(bytes);
    out
}

/// Search query `n` from `seed`: one to three made-up words of middle rank (100 to 1,099), so
/// each is held by some notes but not most.
pub fn query(seed: u64, n: u64) -> String {
    let mut rng = SplitMix64::new(seed ^ n.wrapping_mul(0xd6e8_feb8_6659_fd93) ^ 0x9e7);
    let words = 1 + rng.below(3);
    (0..words)
        .map(|_| word(COMMON.len() + rng.index(1_000)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A word drawn with weight about 1/(rank + 1): log-uniform over the ranks.
fn zipf_word(rng: &mut SplitMix64) -> String {
    let rank = (VOCABULARY as f64).powf(rng.unit()) as usize - 1;
    word(rank.min(VOCABULARY - 1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn texts_repeat_from_their_seed_and_have_the_size_asked_for() {
        assert_eq!(text(1, 7, 4096), text(1, 7, 4096));
        assert_ne!(text(1, 7, 4096), text(2, 7, 4096));
        assert_ne!(text(1, 7, 4096), text(1, 8, 4096));
        for size in [MIN_BYTES, 100, 1_000, 4_096, 65_536] {
            let t = text(3, 9_999_999, size);
            assert_eq!(t.len(), size);
            assert!(t.is_ascii());
        }
        assert_eq!(text(1, 0, 1).len(), MIN_BYTES);
        assert!(text(1, 9_999_999, MIN_BYTES).starts_with("# needle999999 "));
    }

    #[test]
    fn each_needle_is_held_by_exactly_ten_notes() {
        let holders = |word: &str| {
            (0..1_000u64)
                .filter(|&i| {
                    text(1, i, 300)
                        .split(|c: char| !c.is_ascii_alphanumeric())
                        .any(|w| w == word)
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(holders("needle7"), (70..80).collect::<Vec<_>>());
        assert_eq!(holders("needle42"), (420..430).collect::<Vec<_>>());
    }

    #[test]
    fn words_are_distinct_and_common_ones_are_frequent() {
        let words: BTreeSet<String> = (0..VOCABULARY).map(word).collect();
        assert_eq!(words.len(), VOCABULARY);
        assert!(words.iter().all(|w| !w.starts_with("needle")));
        let t = text(1, 0, 4096);
        let the = t.split_whitespace().filter(|w| *w == "the").count();
        assert!(the >= 5, "{t}");
        let q = query(1, 3);
        assert_eq!(q, query(1, 3));
        assert!((1..=3).contains(&q.split(' ').count()), "{q}");
    }
}
