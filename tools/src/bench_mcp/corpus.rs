//! The notes a benchmark works on, generated from a seed: the same seed gives the same
//! paths, texts and queries on every machine.
//!
//! Text is English-like: a vocabulary of a hundred common words followed by a few thousand
//! made-up words built from syllables, drawn with Zipf-like frequencies (rank r weighs
//! 1/r), in sentences and paragraphs under a title. Queries are one or two words of middle
//! rank, so each matches some notes but not most.

// The vocabulary's words: the same common words and syllables as the scale notes'.
use engine::scale_notes::{COMMON, SYLLABLES};

/// Made-up words after the common ones.
const MADE_UP: usize = 5_000;
/// Shortest and longest corpus note, in bytes.
const NOTE_BYTES: (usize, usize) = (1_000, 2_000);

/// splitmix64: small, fast and good enough for test data; not for anything secret.
#[derive(Debug, Clone)]
pub(super) struct Rng(u64);

impl Rng {
    pub(super) fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub(super) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (n > 0).
    pub(super) fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// A number in `0.0..1.0`.
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The words and their Zipf weights.
#[derive(Debug)]
pub(crate) struct Corpus {
    seed: u64,
    words: Vec<String>,
    /// Cumulative weights, ending at 1.0.
    cumulative: Vec<f64>,
}

impl Corpus {
    pub(crate) fn new(seed: u64) -> Corpus {
        let mut rng = Rng::new(seed ^ 0x0076_6f63_6162);
        let mut words: Vec<String> = COMMON.iter().map(|w| (*w).to_owned()).collect();
        let mut seen: std::collections::HashSet<String> = words.iter().cloned().collect();
        while words.len() < COMMON.len() + MADE_UP {
            let syllables = 2 + rng.below(3);
            let word: String = (0..syllables)
                .map(|_| SYLLABLES[rng.below(SYLLABLES.len())])
                .collect();
            if seen.insert(word.clone()) {
                words.push(word);
            }
        }
        let weights: Vec<f64> = (1..=words.len()).map(|rank| 1.0 / rank as f64).collect();
        let total: f64 = weights.iter().sum();
        let mut sum = 0.0;
        let cumulative = weights
            .iter()
            .map(|w| {
                sum += w / total;
                sum
            })
            .collect();
        Corpus {
            seed,
            words,
            cumulative,
        }
    }

    fn word(&self, rng: &mut Rng) -> &str {
        let x = rng.unit();
        let at = self.cumulative.partition_point(|c| *c < x);
        &self.words[at.min(self.words.len() - 1)]
    }

    /// The path of corpus note `i`: 100 folders, 5-digit numbers.
    pub(super) fn path(i: u32) -> String {
        format!("corpus/{:02}/note-{i:05}.md", i % 100)
    }

    /// The text of corpus note `i`: 1-2 KB.
    pub(super) fn note(&self, i: u32) -> String {
        let mut rng = Rng::new(self.seed ^ u64::from(i).wrapping_mul(0x2545_f491_4f6c_dd1d));
        let size = NOTE_BYTES.0 + rng.below(NOTE_BYTES.1 - NOTE_BYTES.0);
        self.text(&mut rng, size)
    }

    /// Text of exactly `bytes` bytes (ASCII), for the read and write measures.
    pub(crate) fn sized(&self, key: u64, bytes: usize) -> String {
        let mut rng = Rng::new(self.seed ^ key.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x5157);
        let mut text = self.text(&mut rng, bytes);
        text.truncate(bytes);
        while text.len() < bytes {
            text.push('.');
        }
        text
    }

    /// A title line, then paragraphs of sentences, until `size` bytes are reached.
    fn text(&self, rng: &mut Rng, size: usize) -> String {
        let mut out = String::with_capacity(size + 200);
        out.push_str("# ");
        for n in 0..3 + rng.below(4) {
            if n > 0 {
                out.push(' ');
            }
            out.push_str(self.word(rng));
        }
        out.push_str("\n\n");
        while out.len() < size {
            for _ in 0..2 + rng.below(4) {
                let words = 6 + rng.below(14);
                for n in 0..words {
                    let word = self.word(rng);
                    if n == 0 {
                        let mut chars = word.chars();
                        if let Some(first) = chars.next() {
                            out.extend(first.to_uppercase());
                            out.push_str(chars.as_str());
                        }
                    } else {
                        out.push(' ');
                        out.push_str(word);
                    }
                }
                out.push_str(". ");
            }
            out.push_str("\n\n");
        }
        out
    }

    /// Search query number `n`: one or two words of middle rank.
    pub(super) fn query(&self, n: u64) -> String {
        let mut rng = Rng::new(self.seed ^ n.wrapping_mul(0xd6e8_feb8_6659_fd93) ^ 0x7175);
        let pick = |rng: &mut Rng| {
            let rank = 50 + rng.below(1_000.min(self.words.len() - 50));
            self.words[rank].clone()
        };
        let first = pick(&mut rng);
        if rng.below(2) == 0 {
            first
        } else {
            format!("{first} {}", pick(&mut rng))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_notes_and_another_seed_others() {
        let (a, b, c) = (Corpus::new(1), Corpus::new(1), Corpus::new(2));
        assert_eq!(a.note(7), b.note(7));
        assert_ne!(a.note(7), c.note(7));
        assert_ne!(a.note(7), a.note(8));
        assert_eq!(a.query(3), b.query(3));
    }

    #[test]
    fn notes_are_one_to_two_kilobytes_and_sized_texts_exact() {
        let corpus = Corpus::new(1);
        for i in 0..200 {
            let len = corpus.note(i).len();
            assert!((1_000..2_300).contains(&len), "note {i}: {len} bytes");
        }
        assert_eq!(corpus.sized(1, 4096).len(), 4096);
        assert_eq!(Corpus::path(42), "corpus/42/note-00042.md");
    }

    #[test]
    fn frequent_words_are_frequent() {
        let corpus = Corpus::new(1);
        let text = corpus.note(0);
        let the = text.split_whitespace().filter(|w| *w == "the").count();
        assert!(the >= 3, "{text}");
    }
}
