//! grep candidates from the in-memory index and from the SQL one (real SQLite): the same
//! answers, and sound: every note grep matches is a candidate.

use std::cell::Cell;
use std::collections::BTreeSet;

use proptest::prelude::*;

use super::*;
use crate::grep::GrepPattern;
use crate::grep::narrow::tests::{pattern, runner, texts};
use crate::ids::Hash;
use crate::search::memory::MemorySearch;
use crate::search::sql::{self, SearchChange};
use crate::sql::native::NativeDb;
use crate::store::WriteRequest;
use crate::store::test_support::write_note;
use crate::{Config, EventId, MemoryStorage, Timestamp};

/// The two indexes a storage keeps, fed the same changes.
struct Both {
    memory: MemorySearch,
    db: NativeDb,
    seq: u64,
}

impl Both {
    fn new() -> Both {
        Both {
            memory: MemorySearch::default(),
            db: NativeDb::new(&sql::SCHEMA),
            seq: 0,
        }
    }

    fn apply(&mut self, changes: &[SearchChange]) {
        self.seq += 1;
        self.memory.apply(changes, Some(self.seq));
        let batch = sql::plan(&self.db, changes, Some(self.seq)).unwrap();
        self.db.write(&batch).unwrap();
    }

    /// Merges every fresh note into blocks and purges the dead ones.
    fn maintain(&mut self) {
        loop {
            let (batch, report) = sql::maintain(&self.db, 100).unwrap();
            self.db.write(&batch).unwrap();
            if !report.more {
                return;
            }
        }
    }

    fn memory(&self, pattern: &str) -> Option<BTreeSet<String>> {
        grep_candidates(
            pattern,
            &|fragment, max| Ok(self.memory.notes_with_fragment(fragment, max)),
            &|max| Ok(self.memory.always_candidates(max)),
        )
        .unwrap()
    }

    fn sql(&self, pattern: &str) -> Option<BTreeSet<String>> {
        grep_candidates(
            pattern,
            &|fragment, max| sql::notes_with_fragment(&self.db, fragment, max),
            &|max| sql::always_candidates(&self.db, max),
        )
        .unwrap()
    }

    /// Both answers, checked equal.
    fn both(&self, pattern: &str) -> Option<BTreeSet<String>> {
        let memory = self.memory(pattern);
        assert_eq!(memory, self.sql(pattern), "{pattern}");
        memory
    }
}

fn index(path: &str, text: &str) -> SearchChange {
    SearchChange::Index {
        path: path.into(),
        hash: Hash::of(text.as_bytes()),
        text: text.into(),
    }
}

fn set<const N: usize>(paths: [&str; N]) -> Option<BTreeSet<String>> {
    Some(paths.into_iter().map(str::to_owned).collect())
}

#[test]
fn a_rare_word_narrows_to_its_notes_and_those_the_index_cannot_rule_out() {
    let mut both = Both::new();
    let mut changes: Vec<SearchChange> = (0..200)
        .map(|i| {
            index(
                &format!("n/{i:03}.md"),
                &format!("Note {i} about 555-1234 gardens."),
            )
        })
        .collect();
    changes.push(index("rare/a.md", "We met in Zanzibar.\nsecond line"));
    changes.push(index("rare/b.md", "zanzibar, again"));
    changes.push(index("rare/c.md", "the superzanzibarian era"));
    changes.push(SearchChange::Pending {
        path: "waiting.md".into(),
        hash: Hash([1; 32]),
    });
    changes.push(index("long.md", &"x".repeat(200)));
    both.apply(&changes);
    // Fresh notes (not merged yet), then merged into blocks: the same answers.
    for merged in [false, true] {
        if merged {
            both.maintain();
        }
        let always = ["waiting.md", "long.md"];
        // The word boundaries rule out `superzanzibarian`; without them it is a candidate.
        assert_eq!(
            both.both(r"\bzanzibar\b"),
            set(["rare/a.md", "rare/b.md", always[0], always[1]]),
            "merged: {merged}"
        );
        assert_eq!(
            both.both("zanzibar"),
            set(["rare/a.md", "rare/b.md", "rare/c.md", always[0], always[1]]),
            "merged: {merged}"
        );
        assert_eq!(
            both.both("(?i)ZANZIBARIAN|nowhere"),
            set(["rare/c.md", always[0], always[1]])
        );
        assert_eq!(both.both("absent"), set(always));
        // No literal word, a stopword, a word every note holds: no narrowing.
        assert_eq!(both.both(r"\d{3}-\d{4}"), None);
        assert_eq!(both.both("the"), None);
    }
    // 205 notes hold "md" (their paths): fewer than the cap, so it narrows to all of them.
    assert_eq!(both.both("md").map(|s| s.len()), Some(205));
    // Moves, deletes and new texts carry the flags along, fresh and merged.
    both.apply(&[
        SearchChange::Rename {
            from: "long.md".into(),
            to: "moved.md".into(),
        },
        SearchChange::Remove {
            path: "rare/b.md".into(),
        },
        index("waiting.md", "now indexed, no rare word"),
        index("rare/a.md", &format!("zanzibar {}", "y".repeat(100))),
    ]);
    for merged in [false, true] {
        if merged {
            both.maintain();
        }
        assert_eq!(
            both.both("zanzibar"),
            set(["moved.md", "rare/a.md", "rare/c.md"])
        );
        assert_eq!(both.both("nothing"), set(["moved.md", "rare/a.md"]));
    }
}

#[test]
fn past_the_cap_it_does_not_narrow() {
    let mut both = Both::new();
    let changes: Vec<SearchChange> = (0..=MAX_GREP_CANDIDATES)
        .map(|i| index(&format!("{i:05}.md"), &format!("common {}", i % 3)))
        .collect();
    both.apply(&changes);
    both.apply(&[index("rare.md", "common and rare")]);
    both.maintain();
    assert_eq!(both.both("common"), None);
    assert_eq!(both.both("common and rare"), set(["rare.md"]));
}

#[test]
fn a_store_answers_from_its_storage_and_a_reset_index_narrows_to_every_note() {
    let (mut store, _) = Store::open(MemoryStorage::new(), Config::default()).unwrap();
    write_note(&mut store, "a.md", "a.md", "needle7 in a haystack", 1);
    write_note(&mut store, "b.md", "b.md", "hay only", 1);
    write_note(&mut store, "c.md", "c.md", "more hay, another needle7", 1);
    assert_eq!(
        store.grep_candidates(r"\bneedle7\b").unwrap(),
        set(["a.md", "c.md"])
    );
    assert_eq!(store.grep_candidates(r"\w+").unwrap(), None);
    store.reset_search().unwrap();
    assert_eq!(
        store.grep_candidates(r"\bneedle7\b").unwrap(),
        set(["a.md", "b.md", "c.md"])
    );
    store
        .index_text("b.md", Hash::of(b"hay only"), b"hay only")
        .unwrap();
    assert_eq!(
        store.grep_candidates(r"\bneedle7\b").unwrap(),
        set(["a.md", "c.md"])
    );
}

/// Soundness on both indexes, fresh and merged, and the same answers once merged; counted,
/// so the generator cannot drift into patterns that never narrow.
#[test]
fn every_note_grep_matches_is_a_candidate_of_both_indexes() {
    const CASES: u32 = 400;
    let (narrowed, matched) = (Cell::new(0), Cell::new(0));
    runner(CASES)
        .run(
            &(texts(), pattern(), any::<u8>()),
            |(texts, pattern, pending)| {
                let Ok(grep) = GrepPattern::new(&pattern) else {
                    return Ok(());
                };
                let mut both = Both::new();
                let path = |i: usize| format!("{i}.md");
                let changes: Vec<SearchChange> = texts
                    .iter()
                    .enumerate()
                    .map(|(i, text)| match usize::from(pending) % 8 == i {
                        true => SearchChange::Pending {
                            path: path(i),
                            hash: Hash::of(text.as_bytes()),
                        },
                        false => index(&path(i), text),
                    })
                    .collect();
                both.apply(&changes);
                let fresh = both.sql(&pattern);
                both.maintain();
                let merged = both.both(&pattern);
                if merged.is_some() {
                    narrowed.set(narrowed.get() + 1);
                }
                for (i, text) in texts.iter().enumerate() {
                    if !text.lines().any(|line| grep.is_match(line)) {
                        continue;
                    }
                    matched.set(matched.get() + 1);
                    for candidates in [&fresh, &merged] {
                        prop_assert!(
                            candidates.as_ref().is_none_or(|c| c.contains(&path(i))),
                            "{pattern:?} matches {text:?} but narrows to {candidates:?}"
                        );
                    }
                }
                Ok(())
            },
        )
        .unwrap();
    let (narrowed, matched) = (narrowed.get(), matched.get());
    println!("{narrowed} of {CASES} patterns narrowed, {matched} matching notes");
    assert!(narrowed > CASES / 8, "{narrowed} narrowed");
    assert!(matched > CASES / 2, "{matched} matching notes");
}

/// grep reads a note that is not UTF-8 with its bad bytes replaced; the index holds that text.
#[test]
fn a_note_that_is_not_utf8_is_indexed_as_grep_reads_it() {
    let (mut store, _) = Store::open(MemoryStorage::new(), Config::default()).unwrap();
    let content: &[u8] = b"caf\xff quokka\n";
    let req = WriteRequest {
        id: EventId::derive(b"bytes"),
        path: "bytes.md",
        content,
        media_type: "application/octet-stream",
        expected_version: None,
        edit: false,
    };
    let plan = store.plan_write(&req).unwrap();
    store.write(&req, &plan, Timestamp(1)).unwrap();
    let read = String::from_utf8_lossy(content);
    assert!(GrepPattern::new("quokka").unwrap().is_match(&read));
    assert_eq!(store.grep_candidates("quokka").unwrap(), set(["bytes.md"]));
    assert_eq!(store.grep_candidates("caf").unwrap(), set(["bytes.md"]));
    store.reset_search().unwrap();
    assert!(store.index_text("bytes.md", plan.hash(), content).unwrap());
    assert_eq!(store.grep_candidates("quokka").unwrap(), set(["bytes.md"]));
}
