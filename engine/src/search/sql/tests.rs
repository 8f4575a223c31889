//! The SQL index against the in-memory one (the model), on real SQLite, with batches that
//! fail part-way.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;

use super::*;
use crate::grep::narrow::Fragment;
use crate::search::SearchIndex;
use crate::search::tokenize::{for_each_path_term, for_each_term};
use crate::sql::native::NativeDb;

fn db() -> NativeDb {
    NativeDb::new(&SCHEMA)
}

fn apply(db: &mut NativeDb, changes: &[SearchChange], seq: u64) -> Result<(), StorageError> {
    let batch = plan(db, changes, Some(seq))?;
    db.write(&batch)
}

/// Every row of every table, for comparing before and after.
fn dump(db: &NativeDb) -> Vec<Vec<Value>> {
    let mut all = Vec::new();
    for sql in [
        "SELECT * FROM search_docs ORDER BY doc",
        "SELECT * FROM search_dead ORDER BY doc",
        "SELECT * FROM search_blocks ORDER BY term, first",
        "SELECT * FROM search_terms ORDER BY term",
        "SELECT * FROM search_meta",
    ] {
        all.extend(db.query(sql, &[]).unwrap());
        all.push(vec![Value::Null]);
    }
    all
}

fn hash(n: u8) -> Hash {
    Hash([n; 32])
}

fn index(path: &str, text: &str) -> SearchChange {
    SearchChange::Index {
        path: path.into(),
        hash: Hash::of(text.as_bytes()),
        text: text.into(),
    }
}

/// What the engine's other projections would know: the in-memory index, the notes waiting
/// for their text, and those with an over-long run.
#[derive(Debug, Default)]
struct Model {
    index: SearchIndex,
    pending: BTreeMap<String, Hash>,
    texts: BTreeMap<String, String>,
}

impl Model {
    fn apply(&mut self, change: &SearchChange) {
        match change {
            SearchChange::Index { path, text, .. } => {
                self.index.upsert(path, text);
                self.pending.remove(path);
                self.texts.insert(path.clone(), text.clone());
            }
            SearchChange::Pending { path, hash } => {
                self.index.remove(path);
                self.pending.insert(path.clone(), *hash);
                self.texts.remove(path);
            }
            SearchChange::Remove { path } => {
                self.index.remove(path);
                self.pending.remove(path);
                self.texts.remove(path);
            }
            SearchChange::Rename { from, to } => {
                self.index.rename(from, to);
                if let Some(h) = self.pending.remove(from) {
                    self.pending.insert(to.clone(), h);
                }
                if let Some(t) = self.texts.remove(from) {
                    self.texts.insert(to.clone(), t);
                }
            }
        }
    }

    fn paths(&self) -> BTreeSet<String> {
        self.pending
            .keys()
            .chain(self.texts.keys())
            .cloned()
            .collect()
    }

    /// Notes whose text holds a term containing `fragment`, found by reading the texts.
    fn with_fragment(&self, fragment: &Fragment) -> BTreeSet<String> {
        self.texts
            .iter()
            .filter(|(path, text)| {
                let mut found = false;
                for_each_term(text, |t| found |= fragment.in_term(t));
                for_each_path_term(path, |t| found |= fragment.in_term(t));
                found
            })
            .map(|(p, _)| p.clone())
            .collect()
    }
}

/// Pages through one query with the SQL index and with the model: identical pages (hits,
/// scores to the bit, cursors).
fn same_pages(db: &NativeDb, model: &Model, query: &str, page: usize) {
    let (mut ours, mut theirs) = (None, None);
    for _ in 0..1_000 {
        let got = search(db, query, page, ours.as_ref()).unwrap();
        let want = model.index.search(query, page, theirs.as_ref());
        assert_eq!(got, want, "{query:?}, pages of {page}");
        match (got.next, want.next) {
            (Some(a), Some(b)) => (ours, theirs) = (Some(a), Some(b)),
            _ => break,
        }
    }
}

#[test]
fn a_note_is_found_by_its_words_and_its_path_and_leaves_no_trace() {
    let mut db = db();
    apply(
        &mut db,
        &[
            index(
                "garden/tomatoes.md",
                "Tomatoes want sun. Water the tomatoes daily.",
            ),
            index("garden/herbs.md", "Basil and thyme; basil likes sun too."),
        ],
        2,
    )
    .unwrap();
    let page = search(&db, "tomatoes", 10, None).unwrap();
    assert_eq!(page.hits.len(), 1);
    assert_eq!(page.hits[0].path, "garden/tomatoes.md");
    assert_eq!(search(&db, "garden", 10, None).unwrap().hits.len(), 2);
    assert_eq!(stats(&db).unwrap().seq, 2);
    assert!(
        is_indexed(
            &db,
            "garden/herbs.md",
            Hash::of(b"Basil and thyme; basil likes sun too.")
        )
        .unwrap()
    );

    apply(
        &mut db,
        &[
            SearchChange::Rename {
                from: "garden/tomatoes.md".into(),
                to: "kitchen/red.md".into(),
            },
            SearchChange::Remove {
                path: "garden/herbs.md".into(),
            },
        ],
        4,
    )
    .unwrap();
    assert_eq!(search(&db, "garden", 10, None).unwrap().hits.len(), 0);
    assert_eq!(
        search(&db, "kitchen tomatoes", 10, None).unwrap().hits[0].matched_terms,
        2
    );
    apply(
        &mut db,
        &[SearchChange::Remove {
            path: "kitchen/red.md".into(),
        }],
        5,
    )
    .unwrap();
    let stats = stats(&db).unwrap();
    assert_eq!((stats.docs, stats.total_len, stats.seq), (0, 0, 5));
    loop {
        let (batch, report) = maintain(&db, 10).unwrap();
        db.write(&batch).unwrap();
        if !report.more {
            break;
        }
    }
    for table in [
        "search_docs",
        "search_dead",
        "search_blocks",
        "search_terms",
    ] {
        let rows = db
            .query(&format!("SELECT COUNT(*) FROM {table}"), &[])
            .unwrap();
        assert_eq!(rows[0][0], Value::Integer(0), "{table} is empty again");
    }
    assert!(
        search(&db, "tomatoes kitchen", 10, None)
            .unwrap()
            .hits
            .is_empty()
    );
}

#[test]
fn pending_notes_are_listed_until_their_text_comes_and_always_candidates() {
    let mut db = db();
    apply(
        &mut db,
        &[
            SearchChange::Pending {
                path: "a.md".into(),
                hash: hash(1),
            },
            index("b.md", &format!("short words and {}", "x".repeat(80))),
            index("c.md", "plain"),
        ],
        3,
    )
    .unwrap();
    assert_eq!(
        unindexed(&db, 10).unwrap(),
        vec![("a.md".to_owned(), hash(1))]
    );
    assert!(search(&db, "a", 10, None).unwrap().hits.is_empty());
    let always = always_candidates(&db, 10).unwrap().unwrap();
    assert_eq!(
        always,
        BTreeSet::from(["a.md".to_owned(), "b.md".to_owned()])
    );
    assert_eq!(always_candidates(&db, 1).unwrap(), None, "more than max");
    assert_eq!(
        notes_with_fragment(&db, &"lai".into(), 10).unwrap(),
        Some(BTreeSet::from(["c.md".to_owned()]))
    );
    apply(&mut db, &[index("a.md", "arrived")], 4).unwrap();
    assert!(unindexed(&db, 10).unwrap().is_empty());
    assert_eq!(
        search(&db, "arrived", 10, None).unwrap().hits[0].path,
        "a.md"
    );
}

#[test]
fn a_batch_that_fails_at_any_statement_changes_nothing() {
    let mut db = db();
    apply(
        &mut db,
        &[
            index("a.md", "apples and pears"),
            index("b.md", "basil apples"),
        ],
        2,
    )
    .unwrap();
    let (merge, _) = maintain(&db, 10).unwrap();
    db.write(&merge).unwrap();
    let changes = [
        index("a.md", "apples, dates and figs"),
        SearchChange::Rename {
            from: "b.md".into(),
            to: "c.md".into(),
        },
        index("d.md", "dates"),
        SearchChange::Pending {
            path: "e.md".into(),
            hash: hash(5),
        },
    ];
    let statements = plan(&db, &changes, Some(6)).unwrap().len() as u64;
    assert!(statements >= 6, "{statements}");
    let before = dump(&db);
    let mut failures = 0;
    for k in 0..statements {
        db.fail_after(k);
        assert!(apply(&mut db, &changes, 6).is_err(), "statement {k}");
        assert_eq!(dump(&db), before, "a failure at statement {k} left a trace");
        failures += 1;
    }
    assert_eq!(failures, statements);
    apply(&mut db, &changes, 6).unwrap();
    assert_eq!(search(&db, "dates", 10, None).unwrap().hits.len(), 2);
    assert_eq!(stats(&db).unwrap().seq, 6);

    // The same for a merge step.
    let (batch, report) = maintain(&db, 10).unwrap();
    assert_eq!((report.merged, report.purged), (3, 2));
    let before = dump(&db);
    for k in 0..batch.len() as u64 {
        db.fail_after(k);
        assert!(db.write(&batch).is_err());
        assert_eq!(
            dump(&db),
            before,
            "a merge failing at statement {k} left a trace"
        );
        failures += 1;
    }
    db.write(&batch).unwrap();
    assert!(batch.len() >= 4, "{}", batch.len());
    assert_eq!(failures, statements + batch.len() as u64);
    assert_eq!(search(&db, "dates", 10, None).unwrap().hits.len(), 2);
}

#[test]
fn merging_and_purging_change_where_postings_live_not_what_is_found() {
    let mut db = db();
    let mut model = Model::default();
    let mut seq = 0;
    let mut changes = Vec::new();
    for i in 0..40 {
        changes.push(index(
            &format!("n/{i}.md"),
            &format!("common word{i} w{}", i % 3),
        ));
    }
    for i in 0..10 {
        changes.push(SearchChange::Remove {
            path: format!("n/{i}.md"),
        });
        changes.push(SearchChange::Rename {
            from: format!("n/{}.md", 10 + i),
            to: format!("m/{i}.md"),
        });
    }
    for chunk in changes.chunks(7) {
        seq += chunk.len() as u64;
        apply(&mut db, chunk, seq).unwrap();
        chunk.iter().for_each(|c| model.apply(c));
        // Merge a little after each batch, so fresh, merged and dead notes mix.
        let (batch, report) = maintain(&db, 3).unwrap();
        db.write(&batch).unwrap();
        assert!(report.merged <= 3 && report.purged <= 3);
        for q in ["common", "word7 w1", "m w2", "word15"] {
            same_pages(&db, &model, q, 4);
        }
    }
    let mut steps = 0;
    loop {
        let (batch, report) = maintain(&db, 8).unwrap();
        db.write(&batch).unwrap();
        steps += 1;
        if !report.more {
            break;
        }
        assert!(steps < 100);
    }
    let fresh = db
        .query_count("SELECT COUNT(*) FROM search_docs WHERE merged = 0")
        .unwrap();
    let dead = db.query_count("SELECT COUNT(*) FROM search_dead").unwrap();
    assert_eq!(
        (fresh, dead),
        (0, 0),
        "all merged and purged after {steps} steps"
    );
    for q in ["common", "word7 w1", "m w2", "word15"] {
        same_pages(&db, &model, q, 4);
    }
    // Every posting left belongs to a live note: the blocks hold exactly the live notes' terms.
    let postings = db.query_count("SELECT SUM(df) FROM search_terms").unwrap();
    let expected: u64 = model
        .texts
        .iter()
        .map(|(p, t)| {
            let mut terms = BTreeSet::new();
            for_each_term(t, |x| {
                terms.insert(x.to_owned());
            });
            for_each_path_term(p, |x| {
                terms.insert(x.to_owned());
            });
            terms.len() as u64
        })
        .sum();
    assert_eq!(postings, expected);
}

/// An operation the generator picks, resolved against the model's current notes.
#[derive(Debug, Clone)]
enum Op {
    Index(u8, Vec<u8>),
    Pending(u8),
    Remove(u8),
    Rename(u8, u8),
}

const WORDS: &[&str] = &[
    "apple",
    "apples",
    "pear",
    "basil",
    "sun",
    "the",
    "and",
    "water",
    "daily",
    "tomato",
    "Tomatoes",
    "zebra",
    "ünïcode",
    "東京",
    "x1",
    "2024",
];

fn text_of(words: &[u8]) -> String {
    let mut text: Vec<String> = words
        .iter()
        .map(|w| WORDS[*w as usize % WORDS.len()].to_owned())
        .collect();
    if words.first().is_some_and(|w| w % 7 == 0) {
        text.push("y".repeat(70));
    }
    text.join(" ")
}

fn path_of(n: u8) -> String {
    format!("dir{}/note-{}.md", n % 3, n % 8)
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (any::<u8>(), proptest::collection::vec(any::<u8>(), 0..12)).prop_map(|(p, w)| Op::Index(p, w)),
        1 => any::<u8>().prop_map(Op::Pending),
        1 => any::<u8>().prop_map(Op::Remove),
        1 => (any::<u8>(), any::<u8>()).prop_map(|(a, b)| Op::Rename(a, b)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Batches of changes, some failing part-way: the SQL index always answers as the
    /// in-memory one fed the batches that committed.
    #[test]
    fn sql_index_answers_like_the_in_memory_index(
        batches in proptest::collection::vec((proptest::collection::vec(op(), 1..5), any::<Option<u8>>()), 1..14),
    ) {
        let mut db = db();
        let mut model = Model::default();
        let mut seq = 0;
        for (ops, fail) in batches {
            // Resolve the ops against the notes as the batch goes, as the engine would.
            let mut paths = model.paths();
            let mut changes = Vec::new();
            for op in ops {
                match op {
                    Op::Index(p, words) => {
                        let path = path_of(p);
                        changes.push(index(&path, &text_of(&words)));
                        paths.insert(path);
                    }
                    Op::Pending(p) => {
                        let path = path_of(p);
                        changes.push(SearchChange::Pending { path: path.clone(), hash: hash(p) });
                        paths.insert(path);
                    }
                    Op::Remove(p) => {
                        let path = path_of(p);
                        if paths.remove(&path) {
                            changes.push(SearchChange::Remove { path });
                        }
                    }
                    Op::Rename(a, b) => {
                        let (from, to) = (path_of(a), path_of(b));
                        if paths.contains(&from) && !paths.contains(&to) {
                            paths.remove(&from);
                            paths.insert(to.clone());
                            changes.push(SearchChange::Rename { from, to });
                        }
                    }
                }
            }
            seq += changes.len() as u64;
            let before = dump(&db);
            if let Some(k) = fail {
                db.fail_after(u64::from(k % 16));
            }
            match apply(&mut db, &changes, seq) {
                Ok(()) => {
                    for c in &changes {
                        model.apply(c);
                    }
                }
                Err(_) => {
                    prop_assert_eq!(dump(&db), before);
                    seq -= changes.len() as u64;
                }
            }
            db.fail_after(u64::MAX);
            if let Some(k) = fail.filter(|k| k % 3 == 0) {
                // A merge step, failing part-way or not: nothing a search sees may change.
                let before = dump(&db);
                let (batch, _) = maintain(&db, usize::from(k % 5) + 1).unwrap();
                db.fail_after(u64::from(k % 7));
                if db.write(&batch).is_err() {
                    prop_assert_eq!(dump(&db), before);
                }
                db.fail_after(u64::MAX);
            }
            prop_assert_eq!(stats(&db).unwrap().docs, model.index.len() as u64);
            let pending: BTreeSet<(String, Hash)> = unindexed(&db, 100).unwrap().into_iter().collect();
            let want: BTreeSet<(String, Hash)> = model.pending.iter().map(|(p, h)| (p.clone(), *h)).collect();
            prop_assert_eq!(pending, want);
            for query in ["apple", "sun water", "tomatoes dir1", "東京 2024 x1", "note", "zebra pear basil"] {
                for page in [1, 3, 100] {
                    same_pages(&db, &model, query, page);
                }
            }
            for (text, start, end) in [
                ("ppl", false, false), ("a", false, false), ("東", false, false),
                ("note", false, false), ("zz", false, false), ("note", true, false),
                ("apple", true, true), ("pple", true, false), ("a", false, true),
            ] {
                let fragment = Fragment { text: text.to_owned(), start, end };
                let got = notes_with_fragment(&db, &fragment, 100).unwrap().unwrap();
                prop_assert_eq!(got, model.with_fragment(&fragment), "{}", fragment);
            }
        }
    }
}

#[test]
fn term_lists_and_blocks_round_trip_and_garbage_is_refused() {
    let terms = vec![
        ("a".to_owned(), 1),
        ("é東".to_owned(), 300),
        ("x".repeat(200), u32::MAX),
    ];
    assert_eq!(decode_terms(&encode_terms(&terms)), Some(terms));
    assert_eq!(decode_terms(&[]), Some(vec![]));
    for bad in [&[5u8, b'a'][..], &[1, 0xff, 1], &[0x80], &[1, b'a']] {
        assert_eq!(decode_terms(bad), None, "{bad:?}");
    }
    use super::merge::{Posting, encode_block, for_each_posting};
    let postings = vec![
        Posting {
            doc: 7,
            tf: 1,
            len: 10,
        },
        Posting {
            doc: 9,
            tf: 300,
            len: 70_000,
        },
        Posting {
            doc: 1_000_000,
            tf: 2,
            len: 3,
        },
    ];
    let mut back = Vec::new();
    assert_eq!(
        for_each_posting(7, &encode_block(&postings), |p| back.push(p)),
        Some(3)
    );
    assert_eq!(back, postings);
    assert_eq!(for_each_posting(7, &[0x80], |_| ()), None);
    assert_eq!(
        for_each_posting(7, &[1, 1], |_| ()),
        None,
        "a posting cut short"
    );
}

#[test]
fn blocks_whose_postings_overlap_are_refused_not_mis_scored() {
    use super::merge::{Posting, encode_block};
    let mut db = db();
    let changes: Vec<SearchChange> = (0..4)
        .map(|i| index(&format!("n/{i}.md"), "common words"))
        .collect();
    apply(&mut db, &changes, 4).unwrap();
    let (batch, _) = maintain(&db, 10).unwrap();
    db.write(&batch).unwrap();
    assert_eq!(search(&db, "common", 10, None).unwrap().hits.len(), 4);
    // A second block for `common` whose notes reach into the first block's: a search would
    // count those notes twice, so it is refused as malformed.
    let first = db
        .query(
            "SELECT MIN(first) FROM search_blocks WHERE term = 'common'",
            &[],
        )
        .unwrap()[0][0]
        .as_u64()
        .unwrap();
    let posting = |doc: u64| Posting {
        doc: doc as i64,
        tf: 1,
        len: 3,
    };
    let overlapping = encode_block(&[posting(first - 1), posting(first + 1)]);
    db.write(&[Statement::new(
        "INSERT INTO search_blocks (term, first, n, bytes) VALUES ('common', ?, 2, ?)",
        vec![Value::int(first - 1), Value::Blob(overlapping)],
    )])
    .unwrap();
    let err = search(&db, "common", 10, None).unwrap_err();
    assert!(err.to_string().contains("search_blocks"), "{err}");
}

#[test]
fn a_reset_empties_the_index_and_queues_every_note() {
    let mut db = db();
    apply(
        &mut db,
        &[index("a.md", "apples"), index("b.md", "basil")],
        2,
    )
    .unwrap();
    let (merge, _) = maintain(&db, 10).unwrap();
    db.write(&merge).unwrap();
    apply(&mut db, &[index("a.md", "apricots")], 3).unwrap();
    let notes = vec![("a.md".to_owned(), hash(1)), ("c.md".to_owned(), hash(3))];
    // In steps, a note at a time: until the last step the tables reflect no event.
    db.write(&reset(&db, Bulk::Begin).unwrap()).unwrap();
    for note in notes.chunks(1) {
        db.write(&reset(&db, Bulk::Add(note)).unwrap()).unwrap();
        assert_eq!(stats(&db).unwrap().seq, 0);
    }
    db.write(&reset(&db, Bulk::Finish(9)).unwrap()).unwrap();
    assert_eq!(unindexed(&db, 10).unwrap(), notes);
    assert!(
        search(&db, "apples basil apricots", 10, None)
            .unwrap()
            .hits
            .is_empty()
    );
    let stats = stats(&db).unwrap();
    assert_eq!((stats.docs, stats.total_len, stats.seq), (0, 0, 9));
    assert_eq!(
        work(&db).unwrap(),
        SearchWork {
            indexed: 0,
            waiting: 2,
            backlog: 0
        }
    );
    // And it indexes again from there.
    apply(&mut db, &[index("c.md", "cherries")], 10).unwrap();
    assert_eq!(
        search(&db, "cherries", 10, None).unwrap().hits[0].path,
        "c.md"
    );
    assert_eq!(
        work(&db).unwrap(),
        SearchWork {
            indexed: 1,
            waiting: 1,
            backlog: 1
        }
    );
    for table in ["search_dead", "search_blocks", "search_terms"] {
        let rows = db
            .query(&format!("SELECT COUNT(*) FROM {table}"), &[])
            .unwrap();
        assert_eq!(rows[0][0], Value::Integer(0), "{table}");
    }
}

#[test]
fn a_step_stops_taking_notes_at_its_term_cap_and_still_takes_one() {
    let mut db = db();
    let mut model = Model::default();
    // Notes of 5,000 distinct words each: a step holds one block per distinct term, so it
    // takes one of them at a time, whether merging them or purging them once deleted.
    let wide = |note: usize| -> String {
        (0..5_000)
            .map(|w| format!("t{note}x{w}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut seq = 0;
    let mut run = |db: &mut NativeDb, model: &mut Model, changes: Vec<SearchChange>| {
        for change in changes {
            seq += 1;
            apply(db, std::slice::from_ref(&change), seq).unwrap();
            model.apply(&change);
        }
        let mut steps = Vec::new();
        loop {
            let (batch, report) = maintain(db, 32).unwrap();
            db.write(&batch).unwrap();
            steps.push((report.merged, report.purged));
            same_pages(db, model, "t2x7", 2);
            if !report.more {
                return steps;
            }
            assert!(steps.len() < 10, "{steps:?}");
        }
    };
    let merging = run(
        &mut db,
        &mut model,
        (0..3)
            .map(|n| index(&format!("w/{n}.md"), &wide(n)))
            .collect(),
    );
    assert_eq!(merging, [(1, 0), (1, 0), (1, 0)]);
    let removes = (0..2)
        .map(|n| SearchChange::Remove {
            path: format!("w/{n}.md"),
        })
        .collect();
    let purging = run(&mut db, &mut model, removes);
    assert_eq!(purging, [(0, 1), (0, 1)]);
    // Narrow notes still go many to a step.
    let narrow = (0..20)
        .map(|n| index(&format!("n/{n}.md"), "small note"))
        .collect();
    assert_eq!(run(&mut db, &mut model, narrow), [(20, 0)]);
    assert!((5_000..10_000).contains(&merge::MAX_STEP_TERMS));
}
