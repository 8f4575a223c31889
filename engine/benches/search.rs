//! Search index benchmarks over a synthetic corpus: 10,000 notes, about 20 MB of text, words
//! drawn from a 50,000-word vocabulary with Zipf frequencies, all from a seeded generator.
//!
//! `cargo bench -p engine --bench search` first prints a report (corpus, index build, heap
//! bytes per note, serialized size, and the latency distribution of 2,000 varied queries), then
//! runs the criterion benchmarks (build, single-term and three-term queries, a second page,
//! incremental updates). Pass a criterion filter after `--` to run only some of them.

use std::collections::HashSet;
use std::hint::black_box;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group};
use engine::search::{STOPWORDS, SearchIndex};
use engine::sim::SplitMix64 as Rng;

const NOTES: usize = 10_000;
const TARGET_BYTES: usize = 20_000_000;
const VOCABULARY: usize = 50_000;
/// Zipf exponent: word of rank r appears with probability proportional to 1 / r^s.
const ZIPF_S: f64 = 1.0;
const LATENCY_QUERIES: usize = 2_000;
const ROUNDS: usize = 3;

struct Corpus {
    /// By rank: `words[0]` is the most frequent.
    words: Vec<String>,
    /// Cumulative Zipf probabilities by rank.
    cdf: Vec<f64>,
    notes: Vec<(String, String)>,
}

impl Corpus {
    fn generate() -> Self {
        let mut rng = Rng::new(0x5ea2_c4b0_0c0f_fee5);
        let mut seen: HashSet<String> = STOPWORDS.iter().map(|s| (*s).to_owned()).collect();
        let mut words = Vec::with_capacity(VOCABULARY);
        while words.len() < VOCABULARY {
            // Short words are the frequent ones, as in real text.
            let len = 2 + rng.index(3 + words.len().min(60_000) / 6_000);
            let word: String = (0..len)
                .map(|_| (b'a' + rng.index(26) as u8) as char)
                .collect();
            if seen.insert(word.clone()) {
                words.push(word);
            }
        }
        let mut cdf = Vec::with_capacity(VOCABULARY);
        let mut sum = 0.0;
        for rank in 1..=VOCABULARY {
            sum += 1.0 / (rank as f64).powf(ZIPF_S);
            cdf.push(sum);
        }
        for p in &mut cdf {
            *p /= sum;
        }
        let mut corpus = Self {
            words,
            cdf,
            notes: Vec::with_capacity(NOTES),
        };
        let folders: Vec<String> = (0..40)
            .map(|i| corpus.words[100 + i * 37].clone())
            .collect();
        let per_note = TARGET_BYTES / NOTES;
        for i in 0..NOTES {
            let target = per_note / 5 + rng.index(per_note * 8 / 5);
            let mut text = String::with_capacity(target + 32);
            let mut sentence = 0;
            while text.len() < target {
                let word = &corpus.words[corpus.zipf(&mut rng)];
                if sentence == 0 {
                    let mut chars = word.chars();
                    if let Some(first) = chars.next() {
                        text.extend(first.to_uppercase());
                        text.push_str(chars.as_str());
                    }
                } else {
                    text.push_str(word);
                }
                sentence += 1;
                match rng.index(40) {
                    0 | 1 => {
                        text.push_str(". ");
                        sentence = 0;
                    }
                    2 => text.push_str(", "),
                    3 => {
                        text.push_str(".\n\n");
                        sentence = 0;
                    }
                    _ => text.push(' '),
                }
            }
            let folder = &folders[rng.index(folders.len())];
            let a = &corpus.words[corpus.zipf(&mut rng)];
            let b = &corpus.words[rng.index(VOCABULARY)];
            corpus
                .notes
                .push((format!("{folder}/{a}-{b}-{i}.md"), text));
        }
        corpus
    }

    /// A word rank drawn with Zipf probabilities.
    fn zipf(&self, rng: &mut Rng) -> usize {
        let u = rng.unit();
        self.cdf.partition_point(|&p| p < u).min(VOCABULARY - 1)
    }

    fn bytes(&self) -> usize {
        self.notes.iter().map(|(p, t)| p.len() + t.len()).sum()
    }

    fn build(&self) -> SearchIndex {
        let mut index = SearchIndex::new();
        for (path, text) in &self.notes {
            index.upsert(path, text);
        }
        index
    }

    /// A query of 1 to 3 words, each from the Zipf distribution (what people type most is
    /// common) or uniform over the vocabulary (the long tail), half and half.
    fn random_query(&self, rng: &mut Rng) -> String {
        let terms = 1 + rng.index(3);
        let mut query = Vec::with_capacity(terms);
        for _ in 0..terms {
            let rank = if rng.index(2) == 0 {
                self.zipf(rng)
            } else {
                rng.index(VOCABULARY)
            };
            query.push(self.words[rank].as_str());
        }
        query.join(" ")
    }
}

fn corpus() -> &'static Corpus {
    static CORPUS: OnceLock<Corpus> = OnceLock::new();
    CORPUS.get_or_init(Corpus::generate)
}

fn built_index() -> &'static SearchIndex {
    static INDEX: OnceLock<SearchIndex> = OnceLock::new();
    INDEX.get_or_init(|| corpus().build())
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// The figures criterion does not give: memory, size, and a latency distribution.
fn report() {
    let started = Instant::now();
    let corpus = corpus();
    let generated = started.elapsed();
    let started = Instant::now();
    let index = corpus.build();
    let built = started.elapsed();
    println!("search report");
    println!(
        "  corpus: {} notes, {:.1} MB of text and paths, {} vocabulary words (generated in {:.2} s)",
        corpus.notes.len(),
        corpus.bytes() as f64 / 1e6,
        VOCABULARY,
        generated.as_secs_f64()
    );
    println!(
        "  index: built in {:.0} ms, {} docs, {} distinct terms",
        built.as_secs_f64() * 1e3,
        index.len(),
        index.term_count()
    );
    let heap = index.heap_bytes();
    println!(
        "  heap_bytes: {:.1} MB total, {} bytes per note ({:.2} x the text)",
        heap as f64 / 1e6,
        heap / index.len(),
        heap as f64 / corpus.bytes() as f64
    );

    let started = Instant::now();
    let mut bytes = Vec::new();
    ciborium::into_writer(&index, &mut bytes).expect("serialize");
    let serialized = started.elapsed();
    let started = Instant::now();
    let loaded: SearchIndex = ciborium::from_reader(bytes.as_slice()).expect("deserialize");
    let deserialized = started.elapsed();
    assert_eq!(loaded.len(), index.len());
    println!(
        "  serialized (CBOR): {:.2} MB, {} bytes per note; serialize {:.0} ms, deserialize {:.0} ms; \
         heap after load {} bytes per note",
        bytes.len() as f64 / 1e6,
        bytes.len() / index.len(),
        serialized.as_secs_f64() * 1e3,
        deserialized.as_secs_f64() * 1e3,
        loaded.heap_bytes() / loaded.len()
    );

    let mut rng = Rng::new(0x9e_a7c4);
    let queries: Vec<String> = (0..LATENCY_QUERIES)
        .map(|_| corpus.random_query(&mut rng))
        .collect();
    // Three rounds per limit: this machine is shared, and a round that a scheduler
    // preemption hit shows up as one outlying p99 rather than hiding in a merged figure.
    for limit in [10, 100] {
        for round in 1..=ROUNDS {
            let mut times = Vec::with_capacity(2 * queries.len());
            let mut hits = 0usize;
            let mut second_pages = 0usize;
            for query in &queries {
                let started = Instant::now();
                let page = index.search(black_box(query), limit, None);
                times.push(started.elapsed());
                hits += page.hits.len();
                if let Some(next) = &page.next {
                    let started = Instant::now();
                    let page = index.search(query, limit, Some(next));
                    times.push(started.elapsed());
                    second_pages += usize::from(!page.hits.is_empty());
                }
            }
            times.sort_unstable();
            println!(
                "  latency, limit {limit}, round {round}: {} queries of 1-3 terms + {} second \
                 pages: p50 {:.1} us, p90 {:.1} us, p99 {:.1} us, max {:.1} us (mean hits {:.1})",
                queries.len(),
                second_pages,
                micros(percentile(&times, 0.50)),
                micros(percentile(&times, 0.90)),
                micros(percentile(&times, 0.99)),
                micros(percentile(&times, 1.0)),
                hits as f64 / queries.len() as f64
            );
        }
    }
    // The worst case: the three most common words, matching nearly every note.
    let worst = format!(
        "{} {} {}",
        corpus.words[0], corpus.words[1], corpus.words[2]
    );
    let mut times: Vec<Duration> = (0..200)
        .map(|_| {
            let started = Instant::now();
            black_box(index.search(black_box(&worst), 10, None));
            started.elapsed()
        })
        .collect();
    times.sort_unstable();
    println!(
        "  latency, 3 most common words ({worst:?}) x200: p50 {:.1} us, p99 {:.1} us",
        micros(percentile(&times, 0.50)),
        micros(percentile(&times, 0.99))
    );
    println!();
}

fn build(c: &mut Criterion) {
    let corpus = corpus();
    let mut group = c.benchmark_group("build");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    group.bench_function("10k_notes_20MB", |b| b.iter(|| black_box(corpus.build())));
    group.finish();
}

fn query(c: &mut Criterion) {
    let corpus = corpus();
    let index = built_index();
    let word = |rank: usize| corpus.words[rank].as_str();
    let mut group = c.benchmark_group("query");
    let cases = [
        ("1_term_common_rank_20", word(20).to_owned()),
        ("1_term_mid_rank_2000", word(2_000).to_owned()),
        ("1_term_rare_rank_40000", word(40_000).to_owned()),
        (
            "3_terms_ranks_50_500_5000",
            format!("{} {} {}", word(50), word(500), word(5_000)),
        ),
        (
            "3_terms_ranks_0_1_2",
            format!("{} {} {}", word(0), word(1), word(2)),
        ),
    ];
    for (name, query) in &cases {
        group.bench_function(*name, |b| {
            b.iter(|| index.search(black_box(query), 10, None))
        });
    }
    let query = format!("{} {} {}", word(50), word(500), word(5_000));
    let cursor = index.search(&query, 10, None).next.expect("a second page");
    group.bench_function("3_terms_second_page", |b| {
        b.iter(|| index.search(black_box(&query), 10, Some(&cursor)))
    });
    group.finish();
}

fn update(c: &mut Criterion) {
    let corpus = corpus();
    // Two notes of about 2 KB, so the figures are for a typical note.
    let mut typical = corpus
        .notes
        .iter()
        .filter(|(_, t)| (1_900..2_100).contains(&t.len()));
    let (path, text) = typical.next().expect("a 2 KB note");
    let (_, other_text) = typical.next().expect("another 2 KB note");
    let mut group = c.benchmark_group("update");
    let mut index = built_index().clone();
    let mut flip = false;
    group.bench_function("upsert_replace_2KB_note", |b| {
        b.iter(|| {
            flip = !flip;
            index.upsert(path, if flip { other_text } else { text });
        })
    });
    let mut index = built_index().clone();
    let mut flip = false;
    let moved = format!("{path}.moved");
    group.bench_function("rename", |b| {
        b.iter(|| {
            flip = !flip;
            let (from, to) = if flip { (path, &moved) } else { (&moved, path) };
            index.rename(from, to);
        })
    });
    let mut index = built_index().clone();
    group.bench_function("remove_then_upsert", |b| {
        b.iter(|| {
            index.remove(path);
            index.upsert(path, text);
        })
    });
    group.finish();
}

criterion_group!(benches, build, query, update);

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let listing_or_testing = args.iter().any(|a| a == "--list" || a == "--test");
    if !listing_or_testing {
        report();
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
