//! The store on SQL tables (as a Durable Object runs it) against the store in memory: the same
//! commands in lockstep, reopened, snapshotted, compacted, must give the same answers; a
//! failed write batch must change nothing; a full snapshot must carry the notes into storage
//! that has none.

use proptest::prelude::*;

use super::test_support::write_note;
use super::{Config, Store, WriteRequest};
use crate::ids::{EventId, Timestamp};
use crate::notes::MemoryNotes;
use crate::snapshot::Snapshot;
use crate::sql::native::SqlStorage;
use crate::storage::{MemoryStorage, Storage, StoredSnapshot};

const PATHS: [&str; 5] = ["a.md", "b.md", "dir/c.md", "dir/d.md", "e.md"];
const WORDS: [&str; 6] = ["apple", "basil", "cedar", "dune", "ember", "fjord"];

#[derive(Debug, Clone)]
enum Op {
    Write {
        path: usize,
        words: Vec<usize>,
        edit: bool,
    },
    Delete {
        path: usize,
    },
    Move {
        from: usize,
        to: usize,
    },
    Revert {
        path: usize,
        version: u64,
    },
    Snapshot,
    Compact,
    Reopen,
    Maintain,
    /// The next op's write batch fails at this statement, on the SQL side only.
    FailNext {
        at: u64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..PATHS.len(), prop::collection::vec(0..WORDS.len(), 0..4), any::<bool>())
            .prop_map(|(path, words, edit)| Op::Write { path, words, edit }),
        2 => (0..PATHS.len()).prop_map(|path| Op::Delete { path }),
        2 => (0..PATHS.len(), 0..PATHS.len()).prop_map(|(from, to)| Op::Move { from, to }),
        1 => (0..PATHS.len(), 1..4u64).prop_map(|(path, version)| Op::Revert { path, version }),
        1 => Just(Op::Snapshot),
        1 => Just(Op::Compact),
        1 => Just(Op::Reopen),
        1 => Just(Op::Maintain),
        2 => (0..6u64).prop_map(|at| Op::FailNext { at }),
    ]
}

fn config() -> Config {
    Config {
        segment_max_events: 3,
        idempotency_window: 8,
        ..Config::default()
    }
}

/// What a command's result says, comparably across storages.
fn outcome<T, E: std::fmt::Debug>(result: &Result<T, E>) -> Option<String> {
    result.as_ref().err().map(|e| format!("{e:?}"))
}

/// Runs `op` on `store`, returning its outcome.
fn run<S: Storage>(
    store: &mut Store<S>,
    op: &Op,
    n: u64,
    full: &mut Option<Snapshot>,
) -> Option<String> {
    let now = Timestamp(1_000 + n);
    let id = EventId::derive(&n.to_be_bytes());
    match op {
        Op::Write { path, words, edit } => {
            let text: Vec<&str> = words.iter().map(|w| WORDS[*w]).collect();
            let text = text.join(" ");
            let req = WriteRequest {
                id,
                path: PATHS[*path],
                content: text.as_bytes(),
                media_type: "text/markdown",
                expected_version: None,
                edit: *edit,
            };
            match store.plan_write(&req) {
                Ok(plan) => outcome(&store.write(&req, &plan, now)),
                Err(e) => Some(format!("{e:?}")),
            }
        }
        Op::Delete { path } => outcome(&store.delete(id, PATHS[*path], None, now)),
        Op::Move { from, to } => outcome(&store.move_note(id, PATHS[*from], PATHS[*to], None, now)),
        Op::Revert { path, version } => {
            outcome(&store.revert(id, PATHS[*path], *version, None, now))
        }
        Op::Snapshot => match store.take_snapshot() {
            Ok(snapshot) => {
                *full = Some(snapshot);
                None
            }
            Err(e) => Some(format!("{e:?}")),
        },
        Op::Compact => {
            for range in store.compaction_plan().segments {
                let segment = match store.encode_segment(*range.start(), *range.end()) {
                    Ok(segment) => segment,
                    Err(e) => return Some(format!("{e:?}")),
                };
                if let Err(e) = store.record_archived(&segment, now) {
                    return Some(format!("{e:?}"));
                }
            }
            outcome(&store.compact())
        }
        Op::Maintain => outcome(&store.maintain_search(2)),
        Op::Reopen | Op::FailNext { .. } => None,
    }
}

fn reopen<S: Storage>(store: Store<S>) -> Store<S> {
    Store::open(store.into_storage(), config())
        .expect("reopens")
        .0
}

fn notes<S: Storage>(store: &Store<S>) -> MemoryNotes {
    store.notes().collect().expect("notes")
}

/// Everything observable: state, notes (and their seq), listings, search.
fn assert_same<A: Storage, B: Storage>(a: &Store<A>, b: &Store<B>, how: &str) {
    assert_same_notes(a, b, how);
    for word in WORDS {
        let (p, q) = (
            a.search(word, 10, None).unwrap(),
            b.search(word, 10, None).unwrap(),
        );
        let hits = |page: &crate::search::SearchPage| -> Vec<String> {
            page.hits.iter().map(|h| h.path.clone()).collect()
        };
        assert_eq!(hits(&p), hits(&q), "{how}: search {word}");
    }
}

/// State, notes (and their seq), their totals and digest, listings.
fn assert_same_notes<A: Storage, B: Storage>(a: &Store<A>, b: &Store<B>, how: &str) {
    assert_eq!(a.state(), b.state(), "{how}: state");
    assert_eq!(notes(a), notes(b), "{how}: notes");
    let (x, y) = (a.notes(), b.notes());
    assert_eq!(x.stats().unwrap(), y.stats().unwrap(), "{how}: stats");
    assert_eq!(x.digest().unwrap(), y.digest().unwrap(), "{how}: digest");
    assert_eq!(
        x.recent(None, 3).unwrap(),
        y.recent(None, 3).unwrap(),
        "{how}: recent"
    );
    assert_eq!(
        x.list(Some("b"), 2).unwrap(),
        y.list(Some("b"), 2).unwrap(),
        "{how}: list"
    );
    for path in PATHS {
        assert_eq!(
            x.version_through(path, a.head().seq / 2).unwrap(),
            y.version_through(path, b.head().seq / 2).unwrap(),
            "{how}: {path} through half the log"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]

    #[test]
    fn the_store_on_sql_answers_as_the_store_in_memory(ops in prop::collection::vec(op(), 1..50)) {
        let mut memory = Store::open(MemoryStorage::new(), config()).unwrap().0;
        let mut sql = Store::open(SqlStorage::new(), config()).unwrap().0;
        let mut full_memory = None;
        let mut full_sql = None;
        let mut fail_next = None;
        for (n, op) in ops.iter().enumerate() {
            let n = n as u64;
            match op {
                Op::Reopen => {
                    memory = reopen(memory);
                    sql = reopen(sql);
                    assert_same(&memory, &sql, "reopened");
                }
                Op::FailNext { at } => fail_next = Some(*at),
                op => {
                    // Compaction is several batches: a failure between them is covered by
                    // the crash tests, not here.
                    let single_batch = !matches!(op, Op::Compact);
                    if let Some(at) = fail_next.take().filter(|_| single_batch) {
                        // A batch failing at any statement changes nothing.
                        let (state, before) = (sql.state().clone(), notes(&sql));
                        sql.storage().db().fail_after(at);
                        let failed = run(&mut sql, op, n, &mut full_sql);
                        sql.storage().db().fail_after(u64::MAX);
                        if failed.as_ref().is_some_and(|e| e.contains("injected failure")) {
                            prop_assert_eq!(sql.state(), &state);
                            prop_assert_eq!(notes(&sql), before);
                            // The store goes on; the in-memory one never saw the op.
                            sql = reopen(sql);
                            assert_same(&memory, &sql, "after a failed batch");
                            continue;
                        }
                        // The op wrote fewer statements than `at`: it happened; so must
                        // the in-memory one.
                        let other = run(&mut memory, op, n, &mut full_memory);
                        prop_assert_eq!(other, failed, "{:?}", op);
                        continue;
                    }
                    let x = run(&mut memory, op, n, &mut full_memory);
                    let y = run(&mut sql, op, n, &mut full_sql);
                    prop_assert_eq!(x, y, "{:?}", op);
                }
            }
        }
        assert_same(&memory, &sql, "at the end");
        let (memory, sql) = (reopen(memory), reopen(sql));
        assert_same(&memory, &sql, "reopened at the end");

        // The SQL store's local snapshot is lean; the one it archives is full and carries the
        // notes into storage that has none (a rebuild), with the tail replayed over them.
        let local = sql.storage().snapshot().unwrap();
        if let Some(local) = &local {
            prop_assert!(crate::snapshot::decode(&local.bytes, 8).unwrap().notes.is_none());
        }
        if let Some(full) = full_sql {
            let mut fresh = SqlStorage::new();
            fresh.put_snapshot(&StoredSnapshot { seq: full.seq, bytes: full.bytes.clone() }).unwrap();
            let events = sql.storage().read(full.seq + 1, usize::MAX).unwrap();
            if events.first().is_none_or(|e| e.seq == full.seq + 1) {
                fresh.append(&events).unwrap();
                let (rebuilt, report) = Store::open(fresh, config()).unwrap();
                prop_assert_eq!(report.snapshot_seq, full.seq);
                assert_same_notes(&rebuilt, &sql, "rebuilt from the full snapshot");
            }
        }
    }
}

#[test]
fn a_lean_snapshot_over_storage_without_the_notes_is_refused() {
    let mut sql = Store::open(SqlStorage::new(), config()).unwrap().0;
    write_note(&mut sql, "w", "a.md", "apple", 1);
    sql.take_snapshot().unwrap();
    let lean = sql.storage().snapshot().unwrap().unwrap();
    // The lean snapshot in storage whose notes were lost (say, a copy of the snapshot row
    // alone): opening says so instead of starting with no notes.
    let mut bare = SqlStorage::new();
    bare.put_snapshot(&lean).unwrap();
    let err = Store::open(bare, config()).unwrap_err();
    assert!(
        err.to_string().contains("leaves the notes to the storage"),
        "{err}"
    );
    // The same snapshot over MemoryStorage that lost its notes: the same refusal.
    let mut memory = MemoryStorage::new();
    memory.put_snapshot(&lean).unwrap();
    assert!(Store::open(memory, config()).is_err());
}

#[test]
fn full_local_snapshots_are_kept_when_asked_for_and_open_without_reading_the_history() {
    let config = Config {
        lean_local_snapshots: false,
        ..config()
    };
    let mut sql = Store::open(SqlStorage::new(), config.clone()).unwrap().0;
    for (n, path) in PATHS.iter().enumerate() {
        write_note(&mut sql, path, path, WORDS[n], n as u64);
    }
    let archived = sql.take_snapshot().unwrap();
    let local = sql.storage().snapshot().unwrap().unwrap();
    // What an older build reads: the full snapshot, the same bytes the archive gets.
    assert_eq!(local.bytes, archived.bytes);
    assert!(
        crate::snapshot::decode(&local.bytes, 8)
            .unwrap()
            .notes
            .is_some()
    );
    let before = notes(&sql);
    let (reopened, report) = Store::open(sql.into_storage(), config).unwrap();
    assert_eq!(report.snapshot_seq, archived.seq);
    assert_eq!(notes(&reopened), before);
}

#[test]
fn a_load_of_the_notes_cut_off_anywhere_is_started_again_by_the_next_open() {
    // Enough versions for several of the load's batches.
    let mut memory = Store::open(MemoryStorage::new(), config()).unwrap().0;
    let versions = 3;
    let paths = crate::snapshot::LOAD_BATCH_VERSIONS * 2 / versions + 50;
    for n in 0..paths {
        for version in 0..versions {
            let path = format!("n/{n:05}.md");
            let text = format!("{} {version}", WORDS[n % WORDS.len()]);
            write_note(
                &mut memory,
                &format!("{path} {version}"),
                &path,
                &text,
                n as u64,
            );
        }
    }
    let full = memory.take_snapshot().unwrap();
    let expected = notes(&memory);
    let storage_with_the_snapshot = || {
        let mut storage = SqlStorage::new();
        storage
            .put_snapshot(&StoredSnapshot {
                seq: full.seq,
                bytes: full.bytes.clone(),
            })
            .unwrap();
        storage
    };
    // How many statements a whole load takes.
    let whole = storage_with_the_snapshot();
    let before = whole.db().statements.get();
    let (opened, _) = Store::open(whole.clone(), config()).unwrap();
    assert_same_notes(&opened, &memory, "loaded whole");
    let statements = whole.db().statements.get() - before;
    assert!(statements > 4, "{statements} statements");

    for at in [0, 1, 2, statements / 2, statements - 2, statements - 1] {
        let storage = storage_with_the_snapshot();
        storage.db().fail_after(at);
        let err = Store::open(storage.clone(), config()).unwrap_err();
        assert!(
            err.to_string().contains("injected failure"),
            "at {at}: {err}"
        );
        // Part of the notes may be in the tables, but then they claim no event; or the notes
        // are whole and the search index's reset (the open's last step) was cut off.
        let seq = storage.notes().seq().unwrap();
        assert!(seq == 0 || seq == full.seq, "at {at}: notes at seq {seq}");
        let (reopened, report) = Store::open(storage, config()).unwrap();
        assert_eq!(report.snapshot_seq, full.seq);
        assert_eq!(notes(&reopened), expected, "at {at}");
        assert_same_notes(
            &reopened,
            &memory,
            &format!("loaded again after a cut at {at}"),
        );
        // Every note is queued for its text again, whichever step was cut off.
        assert_eq!(
            reopened.search_work().unwrap().waiting as usize,
            paths,
            "at {at}"
        );
    }
}

#[test]
fn a_local_snapshot_alone_is_lean_and_opens_like_a_full_one() {
    let mut sql = Store::open(SqlStorage::new(), config()).unwrap().0;
    for (n, path) in PATHS.iter().enumerate() {
        write_note(&mut sql, path, path, WORDS[n], n as u64);
    }
    let seq = sql.take_local_snapshot().unwrap();
    assert_eq!(seq, sql.head().seq);
    assert_eq!(sql.snapshot_seq(), seq);
    let local = sql.storage().snapshot().unwrap().unwrap();
    assert_eq!(local.seq, seq);
    let decoded = crate::snapshot::decode(&local.bytes, 8).unwrap();
    assert!(
        decoded.notes.is_none(),
        "the lean format, without the notes"
    );
    let before = notes(&sql);
    let (reopened, report) = Store::open(sql.into_storage(), config()).unwrap();
    assert_eq!(report.snapshot_seq, seq);
    assert_eq!(report.replayed, 0);
    assert_eq!(notes(&reopened), before);

    // Asked to keep full local snapshots, it stores the full one.
    let full = Config {
        lean_local_snapshots: false,
        ..config()
    };
    let mut sql = Store::open(SqlStorage::new(), full).unwrap().0;
    write_note(&mut sql, "m", "a.md", "apple", 1);
    let seq = sql.take_local_snapshot().unwrap();
    let local = sql.storage().snapshot().unwrap().unwrap();
    assert_eq!(local.seq, seq);
    assert!(
        crate::snapshot::decode(&local.bytes, 8)
            .unwrap()
            .notes
            .is_some()
    );
}
