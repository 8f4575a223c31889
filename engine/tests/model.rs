//! Model-based test with injected storage failures.
//!
//! Random note operations run against the store and against a plain map of paths (the
//! reference). Storage fails on a countdown, then heals. After every operation the store
//! must agree with the model: an operation that failed in storage changed nothing, one that
//! succeeded changed exactly what the model says. Reopening the storage must agree too.

use std::collections::BTreeMap;

use engine::store::{
    AppendError, DeleteError, MoveError, VersionConflict, WriteError, WriteRequest,
};
use engine::{Config, EventId, Hash, MemoryStorage, Store, Timestamp};
use proptest::prelude::*;

const PATHS: [&str; 4] = ["a", "b", "c/d", "c/e"];

#[derive(Debug, Clone)]
enum Op {
    Write {
        path: usize,
        byte: u8,
        len: usize,
        expect: Option<u64>,
    },
    Delete {
        path: usize,
    },
    Move {
        from: usize,
        to: usize,
    },
    FailAfter {
        calls: u64,
    },
    Heal,
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..4usize, any::<u8>(), 0..40usize, prop::option::of(0..4u64))
            .prop_map(|(path, byte, len, expect)| Op::Write { path, byte, len, expect }),
        2 => (0..4usize).prop_map(|path| Op::Delete { path }),
        2 => (0..4usize, 0..4usize).prop_map(|(from, to)| Op::Move { from, to }),
        1 => (0..4u64).prop_map(|calls| Op::FailAfter { calls }),
        1 => Just(Op::Heal),
        1 => Just(Op::Reopen),
    ]
}

/// The reference: path -> (content, version); plus the last version each path ever had.
#[derive(Debug, Default, Clone, PartialEq)]
struct Model {
    notes: BTreeMap<String, (Vec<u8>, u64)>,
    last_version: BTreeMap<String, u64>,
}

impl Model {
    fn bump(&mut self, path: &str) -> u64 {
        let v = self.last_version.entry(path.to_owned()).or_insert(0);
        *v += 1;
        *v
    }
}

fn storage_failed<E: std::fmt::Debug>(err: &E) -> bool {
    format!("{err:?}").contains("Storage(")
}

fn check(store: &Store<MemoryStorage>, model: &Model) {
    let notes = store.notes().collect().unwrap();
    let files: Vec<(String, Hash, u64)> = notes
        .files()
        .iter()
        .map(|(p, e)| (p.to_string(), e.hash, e.version))
        .collect();
    let expected: Vec<(String, Hash, u64)> = model
        .notes
        .iter()
        .map(|(p, (c, v))| (p.clone(), Hash::of(c), *v))
        .collect();
    assert_eq!(files, expected);
    let total: u64 = model.notes.values().map(|(c, _)| c.len() as u64).sum();
    assert_eq!(notes.files().total_bytes(), total);
    let stats = store.notes().stats().unwrap();
    assert_eq!(
        (stats.count, stats.total_bytes),
        (model.notes.len() as u64, total)
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, .. ProptestConfig::default() })]

    #[test]
    fn store_agrees_with_a_map_under_storage_failures(ops in prop::collection::vec(op(), 1..60)) {
        let config = Config::default();
        let mut store = Store::open(MemoryStorage::new(), config.clone()).unwrap().0;
        let mut model = Model::default();
        let mut failing = false;
        for (n, op) in ops.iter().enumerate() {
            let id = EventId::derive(&(n as u64).to_be_bytes());
            let now = Timestamp(n as u64);
            match op {
                Op::Write { path, byte, len, expect } => {
                    let content = vec![*byte; *len];
                    let req = WriteRequest {
                        id, path: PATHS[*path], content: &content, media_type: "text/plain",
                        expected_version: *expect, edit: false,
                    };
                    let current = model.notes.get(PATHS[*path]).map_or(0, |(_, v)| *v);
                    let result = store
                        .plan_write(&req)
                        .and_then(|plan| store.write(&req, &plan, now));
                    match result {
                        Ok(applied) => {
                            prop_assert!(expect.is_none_or(|e| e == current));
                            let v = model.bump(PATHS[*path]);
                            prop_assert_eq!(applied.version, Some(v));
                            model.notes.insert(PATHS[*path].to_owned(), (content, v));
                        }
                        Err(WriteError::VersionConflict(VersionConflict { actual, .. })) => {
                            prop_assert_eq!(actual, current);
                            prop_assert!(expect.is_some_and(|e| e != current));
                        }
                        Err(e) => prop_assert!(failing && storage_failed(&e), "{e:?}"),
                    }
                }
                Op::Delete { path } => match store.delete(id, PATHS[*path], None, now) {
                    Ok(_) => {
                        prop_assert!(model.notes.remove(PATHS[*path]).is_some());
                        model.bump(PATHS[*path]);
                    }
                    Err(DeleteError::NotFound(_)) => {
                        prop_assert!(!model.notes.contains_key(PATHS[*path]));
                    }
                    Err(e) => prop_assert!(failing && storage_failed(&e), "{e:?}"),
                },
                Op::Move { from, to } => {
                    match store.move_note(id, PATHS[*from], PATHS[*to], None, now) {
                        Ok(_) => {
                            let (content, _) = model.notes.remove(PATHS[*from]).unwrap();
                            model.bump(PATHS[*from]);
                            let v = model.bump(PATHS[*to]);
                            prop_assert!(!model.notes.contains_key(PATHS[*to]));
                            model.notes.insert(PATHS[*to].to_owned(), (content, v));
                        }
                        Err(MoveError::NotFound(_)) => {
                            prop_assert!(!model.notes.contains_key(PATHS[*from]));
                        }
                        Err(MoveError::SamePath(_)) => prop_assert_eq!(from, to),
                        Err(MoveError::DestinationExists(_)) => {
                            prop_assert!(model.notes.contains_key(PATHS[*to]));
                        }
                        Err(MoveError::Append(AppendError::Storage(_))) => prop_assert!(failing),
                        Err(e) => prop_assert!(false, "unexpected {e:?}"),
                    }
                }
                Op::FailAfter { calls } => {
                    store = reopen_with(store, |s| s.fail_after(*calls), &config);
                    failing = true;
                }
                Op::Heal => {
                    store = reopen_with(store, MemoryStorage::heal, &config);
                    failing = false;
                }
                Op::Reopen => {
                    store = reopen_with(store, |_| {}, &config);
                }
            }
            check(&store, &model);
        }
        let mut storage = store.into_storage();
        storage.heal();
        let (reopened, _) = Store::open(storage, config).unwrap();
        check(&reopened, &model);
    }
}

/// Reopens the store on its own storage after changing the storage (a restart).
fn reopen_with(
    store: Store<MemoryStorage>,
    change: impl FnOnce(&mut MemoryStorage),
    config: &Config,
) -> Store<MemoryStorage> {
    let mut storage = store.into_storage();
    change(&mut storage);
    Store::open(storage, config.clone()).unwrap().0
}
