//! Model-based test: seeded random upserts, removes, renames and queries, each checked against
//! a reference that keeps plain text and scores by scanning every note.

use std::collections::{BTreeMap, BTreeSet};

use super::query::{bm25_idf, bm25_term};
use super::*;
use crate::sim::SplitMix64 as Rng;

/// One note of the reference: its text and its term counts (text plus weighted path words).
struct Note {
    text: String,
    counts: BTreeMap<String, u32>,
    len: u32,
}

impl Note {
    fn new(path: &str, text: &str) -> Self {
        let mut counts = BTreeMap::new();
        for term in tokenize(text) {
            *counts.entry(term).or_insert(0) += 1;
        }
        for term in tokenize(path) {
            *counts.entry(term).or_insert(0) += PATH_WEIGHT;
        }
        let len = counts.values().sum();
        Self {
            text: text.to_owned(),
            counts,
            len,
        }
    }
}

#[derive(Default)]
struct Model {
    notes: BTreeMap<String, Note>,
}

/// A reference hit: path, score, matched terms.
type RefHit = (String, f64, u32);

impl Model {
    fn upsert(&mut self, path: &str, text: &str) {
        self.notes.insert(path.to_owned(), Note::new(path, text));
    }

    fn remove(&mut self, path: &str) {
        self.notes.remove(path);
    }

    fn rename(&mut self, from: &str, to: &str) {
        if from == to {
            return;
        }
        if let Some(note) = self.notes.remove(from) {
            self.upsert(to, &note.text);
        }
    }

    /// BM25 by brute force over every note, ranked like the index ranks.
    fn search(&self, query: &str) -> Vec<RefHit> {
        let mut terms: Vec<String> = Vec::new();
        for term in tokenize(query) {
            if terms.len() < MAX_QUERY_TERMS && !terms.contains(&term) {
                terms.push(term);
            }
        }
        let n = self.notes.len() as f64;
        let total: u64 = self.notes.values().map(|note| u64::from(note.len)).sum();
        let avg = if total == 0 { 1.0 } else { total as f64 / n };
        let idfs: Vec<f64> = terms
            .iter()
            .map(|term| {
                let df = self
                    .notes
                    .values()
                    .filter(|n| n.counts.contains_key(term))
                    .count();
                bm25_idf(n, df as f64)
            })
            .collect();
        let mut hits: Vec<RefHit> = Vec::new();
        for (path, note) in &self.notes {
            let mut score = 0.0;
            let mut matched = 0;
            for (term, &idf) in terms.iter().zip(&idfs) {
                let Some(&tf) = note.counts.get(term) else {
                    continue;
                };
                score += bm25_term(idf, f64::from(tf), f64::from(note.len), avg);
                matched += 1;
            }
            if matched > 0 {
                hits.push((path.clone(), score, matched));
            }
        }
        hits.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        hits
    }
}

const WORDS: &[&str] = &[
    "alpha",
    "bravo",
    "charlie",
    "delta",
    "echo",
    "foxtrot",
    "golf",
    "hotel",
    "india",
    "juliet",
    "kilo",
    "lima",
    "mike",
    "november",
    "oscar",
    "papa",
    "quebec",
    "romeo",
    "sierra",
    "tango",
    "rust",
    "notes",
    "inbox",
    "ideas",
    "journal",
    "garden",
    "Tomato",
    "BASIL",
    "2024",
    "v2",
    "café",
    "東京",
    "Straße",
    "ΣΟΦΙΑ",
    "the",
    "and",
    "of",
    "x",
    "zz",
    "q7",
];
const DIRS: &[&str] = &[
    "inbox",
    "projects",
    "journal",
    "Archive",
    "ideas/garden",
    "",
];
const SEPARATORS: &[&str] = &[
    " ", " ", " ", ", ", ".\n", " - ", "_", "/", "\t", "\0", "!? ",
];

fn random_text(rng: &mut Rng) -> String {
    let words = rng.index(40);
    let mut text = String::new();
    for _ in 0..words {
        // Skew towards the first words so some terms are common and others rare.
        let limit = 1 + rng.index(WORDS.len());
        text.push_str(WORDS[rng.index(limit)]);
        text.push_str(SEPARATORS[rng.index(SEPARATORS.len())]);
    }
    if rng.index(20) == 0 {
        text.push_str(&"long".repeat(20)); // over MAX_TERM_BYTES: never indexed
    }
    if rng.index(25) == 0 {
        // Frequencies around 255, where postings switch to the exact side table.
        let word = WORDS[rng.index(WORDS.len())];
        let times = 240 + rng.index(40);
        for _ in 0..times {
            text.push_str(word);
            text.push(' ');
        }
    }
    text
}

fn random_query(rng: &mut Rng) -> String {
    let words = 1 + rng.index(4);
    let mut query = Vec::new();
    for _ in 0..words {
        match rng.index(10) {
            0 => query.push("absentword".to_owned()),
            1 => query.push(rng.pick(WORDS).expect("a non-empty list").to_uppercase()),
            _ => query.push((*rng.pick(WORDS).expect("a non-empty list")).to_owned()),
        }
    }
    query.join(*rng.pick(&[" ", ", ", "-"]).expect("a non-empty list"))
}

fn path_pool() -> Vec<String> {
    let mut pool = BTreeSet::new();
    let mut i = 0usize;
    while pool.len() < 300 {
        let dir = DIRS[i % DIRS.len()];
        let word = WORDS[(i * 7) % WORDS.len()];
        let name = format!("{word}-{}.md", i % 97);
        pool.insert(if dir.is_empty() {
            name
        } else {
            format!("{dir}/{name}")
        });
        i += 1;
    }
    pool.into_iter().collect()
}

/// Fetches every hit through pages of random sizes and checks it against the reference.
fn check_query(index: &SearchIndex, model: &Model, query: &str, rng: &mut Rng) {
    let expected = model.search(query);
    let mut hits: Vec<SearchHit> = Vec::new();
    let mut cursor = None;
    loop {
        let per_page = 1 + rng.index(60);
        let page = index.search(query, per_page, cursor.as_ref());
        assert!(page.hits.len() <= per_page);
        assert!(page.next.is_none() || page.hits.len() == per_page);
        hits.extend(page.hits);
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
        assert!(
            hits.len() <= expected.len(),
            "more hits than the reference for {query:?}"
        );
    }
    assert_eq!(hits.len(), expected.len(), "hit count for {query:?}");
    // The index's own order: score descending, then path ascending, no repeats.
    for w in hits.windows(2) {
        let ordered =
            w[0].score > w[1].score || (w[0].score == w[1].score && w[0].path < w[1].path);
        assert!(ordered, "order for {query:?}: {:?} then {:?}", w[0], w[1]);
    }
    let by_path: BTreeMap<&str, &RefHit> = expected.iter().map(|h| (h.0.as_str(), h)).collect();
    for hit in &hits {
        let (_, score, matched) = by_path
            .get(hit.path.as_str())
            .unwrap_or_else(|| panic!("{} is not a hit of {query:?}", hit.path));
        assert!(
            (f64::from(hit.score) - score).abs() <= 1e-4,
            "score of {} for {query:?}: {} vs {score}",
            hit.path,
            hit.score
        );
        assert_eq!(hit.matched_terms, *matched, "matched terms of {}", hit.path);
    }
}

fn check_all(index: &SearchIndex, model: &Model, pool: &[String], rng: &mut Rng) {
    index.check_invariants();
    assert_eq!(index.len(), model.notes.len());
    for path in pool {
        assert_eq!(
            index.contains(path),
            model.notes.contains_key(path),
            "{path}"
        );
    }
    for word in WORDS {
        check_query(index, model, word, rng);
    }
}

#[test]
fn random_operations_match_the_reference() {
    for seed in [0x5eed_0001_u64, 0xdead_beef_cafe_f00d] {
        let mut rng = Rng::new(seed);
        let pool = path_pool();
        let mut index = SearchIndex::new();
        let mut model = Model::default();
        for step in 0..3000 {
            let roll = rng.index(100);
            // Upserts mostly pick from the pool (often a new note); removes and renames mostly
            // hit existing notes.
            let pick_existing = if roll < 60 {
                rng.index(4) == 0
            } else {
                rng.index(5) != 0
            };
            let existing = if model.notes.is_empty() || !pick_existing {
                None
            } else {
                let k = rng.index(model.notes.len());
                model.notes.keys().nth(k).cloned()
            };
            let path =
                existing.unwrap_or_else(|| rng.pick(&pool).expect("a non-empty list").clone());
            match roll {
                0..60 => {
                    let text = random_text(&mut rng);
                    index.upsert(&path, &text);
                    model.upsert(&path, &text);
                }
                60..68 => {
                    index.remove(&path);
                    model.remove(&path);
                }
                68..80 => {
                    let to = if rng.index(6) == 0 {
                        model.notes.keys().next().cloned().unwrap_or_default()
                    } else {
                        rng.pick(&pool).expect("a non-empty list").clone()
                    };
                    index.rename(&path, &to);
                    model.rename(&path, &to);
                }
                _ => {
                    for _ in 0..3 {
                        let query = random_query(&mut rng);
                        check_query(&index, &model, &query, &mut rng);
                    }
                }
            }
            if step % 500 == 499 {
                check_all(&index, &model, &pool, &mut rng);
                let mut bytes = Vec::new();
                ciborium::into_writer(&index, &mut bytes).unwrap();
                let back: SearchIndex = ciborium::from_reader(bytes.as_slice()).unwrap();
                check_all(&back, &model, &pool, &mut rng);
                // Carry on from the restored copy half the time: loaded indexes must update too.
                if rng.index(2) == 0 {
                    index = back;
                }
            }
        }
        assert!(
            model.notes.len() > 150,
            "a sizeable corpus: {}",
            model.notes.len()
        );
        check_all(&index, &model, &pool, &mut rng);

        // The same notes indexed from scratch: equal, and byte-identical when serialized.
        let mut fresh = SearchIndex::new();
        for (path, note) in model.notes.iter().rev() {
            fresh.upsert(path, &note.text);
        }
        assert_eq!(index, fresh);
        let (mut a, mut b) = (Vec::new(), Vec::new());
        ciborium::into_writer(&index, &mut a).unwrap();
        ciborium::into_writer(&fresh, &mut b).unwrap();
        assert_eq!(a, b);
    }
}
