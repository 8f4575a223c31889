//! The search index in SQL (`engine::search::sql`) on native SQLite, at the sizes issue 13
//! names: notes of 4 KiB of English-like text (a 50,000-word Zipf vocabulary), each holding a
//! planted word `needle{i / 10}` that exactly ten notes share.
//!
//! `cargo bench -p engine --features native-sqlite --bench sql_index -- [NOTES]` (default
//! 10,000) writes the notes one transaction each (plan + write, as an append does), merging
//! fresh notes into blocks whenever 64 wait (as the object's alarm would, in one step), then
//! reports: write latency, merge cost, the database's size, search latency over 2,000 queries
//! of 1-3 words with their second pages (up to 64 notes still fresh, as printed), and the
//! fragment lookup grep narrows with. It prints a report; it asserts nothing.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use engine::Hash;
use engine::search::STOPWORDS;
use engine::search::sql::{self, SearchChange};
use engine::sim::SplitMix64 as Rng;
use engine::sql::native::NativeDb;

const VOCABULARY: usize = 50_000;
const NOTE_BYTES: usize = 4_096;
const QUERIES: usize = 2_000;
/// Fresh notes that make the bench merge (the alarm's threshold)...
const FRESH_BEFORE_MERGE: usize = 64;
/// ...in steps of this many notes.
const MERGE_STEP: usize = 64;

struct Words {
    words: Vec<String>,
    cdf: Vec<f64>,
}

impl Words {
    fn new(rng: &mut Rng) -> Words {
        let mut seen: HashSet<String> = STOPWORDS.iter().map(|s| (*s).to_owned()).collect();
        let mut words = Vec::with_capacity(VOCABULARY);
        while words.len() < VOCABULARY {
            let len = 2 + rng.index(3 + words.len() / 6_000);
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
            sum += 1.0 / rank as f64;
            cdf.push(sum);
        }
        cdf.iter_mut().for_each(|p| *p /= sum);
        Words { words, cdf }
    }

    fn zipf(&self, rng: &mut Rng) -> &str {
        let u = rng.unit();
        &self.words[self.cdf.partition_point(|&p| p < u).min(VOCABULARY - 1)]
    }

    fn note(&self, rng: &mut Rng, i: usize) -> String {
        let mut text = format!("needle{:06} ", i / 10);
        while text.len() < NOTE_BYTES - 16 {
            text.push_str(self.zipf(rng));
            text.push(if rng.index(12) == 0 { '\n' } else { ' ' });
        }
        text
    }

    fn query(&self, rng: &mut Rng) -> String {
        let n = 1 + rng.index(3);
        (0..n)
            .map(|_| {
                if rng.index(2) == 0 {
                    self.zipf(rng).to_owned()
                } else {
                    self.words[rng.index(VOCABULARY)].clone()
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

fn percentiles(mut samples: Vec<Duration>) -> String {
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize];
    format!(
        "p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms ({} samples)",
        at(0.5).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
        samples.last().map_or(0.0, |d| d.as_secs_f64() * 1e3),
        samples.len()
    )
}

fn main() {
    let notes: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.replace(['_', ','], "").parse().ok())
        .unwrap_or(10_000);
    let mut rng = Rng::new(0x5ca1_e000_0000_0013);
    let words = Words::new(&mut rng);
    let mut db = NativeDb::new(&sql::SCHEMA);
    println!("sql_index: {notes} notes of {NOTE_BYTES} B");

    let started = Instant::now();
    let mut writes = Vec::with_capacity(notes);
    let mut merges = Vec::new();
    let mut merge_statements = 0usize;
    let mut fresh = 0;
    let mut statements = 0usize;
    for i in 0..notes {
        let text = words.note(&mut rng, i);
        let path = format!("scale/{i:07}.md");
        let change = SearchChange::Index {
            path,
            hash: Hash::of(text.as_bytes()),
            text,
        };
        let t = Instant::now();
        let batch =
            sql::plan(&db, std::slice::from_ref(&change), Some(i as u64 + 1)).expect("plan");
        statements += batch.len();
        db.write(&batch).expect("write");
        writes.push(t.elapsed());
        fresh += 1;
        if fresh == FRESH_BEFORE_MERGE && i + 1 < notes {
            loop {
                let t = Instant::now();
                let (batch, report) = sql::maintain(&db, MERGE_STEP).expect("maintain");
                merge_statements += batch.len();
                db.write(&batch).expect("merge");
                merges.push(t.elapsed());
                if !report.more {
                    break;
                }
            }
            fresh = 0;
        }
        if (i + 1) % 10_000 == 0 {
            println!(
                "  {} notes written, {:.1} s",
                i + 1,
                started.elapsed().as_secs_f64()
            );
        }
    }
    println!("write (plan + one transaction): {}", percentiles(writes));
    println!(
        "  {:.1} statements a write; total {:.1} s",
        statements as f64 / notes as f64,
        started.elapsed().as_secs_f64()
    );
    let merge_total: Duration = merges.iter().sum();
    println!(
        "merge step of {MERGE_STEP} notes: {}; {:.2} ms and {:.0} statements a note",
        percentiles(merges),
        merge_total.as_secs_f64() * 1e3 / notes as f64,
        merge_statements as f64 / notes as f64
    );
    let terms = db
        .query_count("SELECT COUNT(*) FROM search_terms")
        .expect("count");
    let blocks = db
        .query_count("SELECT COUNT(*) FROM search_blocks")
        .expect("count");
    let fresh_now = db
        .query_count("SELECT COUNT(*) FROM search_docs WHERE merged = 0")
        .expect("count");
    println!(
        "database: {:.1} MB ({:.0} B a note; {terms} terms, {blocks} blocks; {fresh_now} notes fresh)",
        db.size_bytes() as f64 / 1e6,
        db.size_bytes() as f64 / notes as f64,
    );

    let mut first = Vec::with_capacity(QUERIES);
    let mut second = Vec::new();
    for _ in 0..QUERIES {
        let q = words.query(&mut rng);
        let t = Instant::now();
        let page = sql::search(&db, &q, 10, None).expect("search");
        first.push(t.elapsed());
        if let Some(next) = page.next {
            let t = Instant::now();
            sql::search(&db, &q, 10, Some(&next)).expect("search");
            second.push(t.elapsed());
        }
    }
    println!("search, first page of 10: {}", percentiles(first));
    println!("search, second page: {}", percentiles(second));

    let mut lookups = Vec::new();
    for k in 0..200 {
        let needle = format!("needle{:06}", (k * 7919) % (notes / 10).max(1));
        let t = Instant::now();
        let found = sql::notes_with_fragment(
            &db,
            &engine::grep::narrow::Fragment::anywhere(needle.as_str()),
            1_000,
        )
        .expect("lookup");
        lookups.push(t.elapsed());
        assert_eq!(found.map(|f| f.len()), Some(10), "{needle}");
    }
    println!(
        "fragment lookup of a needle word (10 notes): {}",
        percentiles(lookups)
    );
    let t = Instant::now();
    let candidates = sql::always_candidates(&db, 1_000).expect("always");
    println!(
        "always-candidates query: {:.3} ms ({:?} notes)",
        t.elapsed().as_secs_f64() * 1e3,
        candidates.map(|c| c.len())
    );
}
