//! Property: whatever happened, snapshot + tail replay == full replay == the live state.
//!
//! Random operation sequences run against a live store that takes snapshots, archives and
//! compacts at random points. At the end the same log is opened three ways: from the local
//! snapshot plus its tail, from every event replayed from seq 1, and rebuilt from the archived
//! segments. All must equal the live store (after the texts of replayed notes are handed in).

use std::collections::BTreeMap;

use engine::envelope::StoredEvent;
use engine::store::{OpenSession, WriteRequest};
use engine::{Config, EventId, Hash, MemoryStorage, SessionId, Storage, Store, Timestamp};
use proptest::prelude::*;

const PATHS: [&str; 5] = ["a.md", "b.md", "dir/c.md", "dir/d.txt", "e"];
const WORDS: [&str; 6] = ["apple", "banana", "cherry", "delta", "echo", "fig"];

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
    Open {
        session: usize,
    },
    Touch {
        session: usize,
    },
    Close {
        session: usize,
    },
    Wait {
        ms: u64,
    },
    Snapshot,
    Compact,
    Retry,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..5usize, prop::collection::vec(0..6usize, 0..6), any::<bool>())
            .prop_map(|(path, words, edit)| Op::Write { path, words, edit }),
        2 => (0..5usize).prop_map(|path| Op::Delete { path }),
        2 => (0..5usize, 0..5usize).prop_map(|(from, to)| Op::Move { from, to }),
        2 => (0..5usize, 1..6u64).prop_map(|(path, version)| Op::Revert { path, version }),
        2 => (0..3usize).prop_map(|session| Op::Open { session }),
        2 => (0..3usize).prop_map(|session| Op::Touch { session }),
        1 => (0..3usize).prop_map(|session| Op::Close { session }),
        2 => (0..5_000u64).prop_map(|ms| Op::Wait { ms }),
        1 => Just(Op::Snapshot),
        1 => Just(Op::Compact),
        1 => Just(Op::Retry),
    ]
}

fn config() -> Config {
    Config {
        session_idle_timeout_ms: 3_000,
        touch_interval_ms: 500,
        segment_max_events: 4,
        idempotency_window: 8,
        ..Config::default()
    }
}

struct Run {
    store: Store<MemoryStorage>,
    now: u64,
    next_id: u64,
    /// The last id that appended, with its seq: retried while still in the window.
    last_id: Option<(EventId, u64)>,
    /// Every blob ever written, by hash (what R2 would hold).
    blobs: BTreeMap<Hash, Vec<u8>>,
    /// Every event ever stored, kept before compaction drops them.
    all_events: BTreeMap<u64, StoredEvent>,
    segments: Vec<Vec<u8>>,
    /// The last full snapshot taken (what the archive gets).
    full_snapshot: Option<engine::snapshot::Snapshot>,
}

impl Run {
    fn id(&mut self) -> EventId {
        self.next_id += 1;
        EventId::derive(&self.next_id.to_be_bytes())
    }

    fn keep_events(&mut self) {
        for e in self.store.storage().read(0, usize::MAX).unwrap() {
            self.all_events.insert(e.seq, e);
        }
    }

    fn step(&mut self, op: &Op) {
        self.now += 1;
        let now = Timestamp(self.now);
        let head = self.store.head().seq;
        let next_id = self.next_id;
        // Errors are expected (missing notes, conflicts): the property is about what lands.
        match op {
            Op::Write { path, words, edit } => {
                let text: Vec<&str> = words.iter().map(|w| WORDS[*w]).collect();
                let text = text.join(" ");
                let id = self.id();
                let req = WriteRequest {
                    id,
                    path: PATHS[*path],
                    content: text.as_bytes(),
                    media_type: "text/markdown",
                    expected_version: None,
                    edit: *edit,
                };
                if let Ok(plan) = self.store.plan_write(&req) {
                    self.blobs.insert(plan.hash(), text.clone().into_bytes());
                    let _ = self.store.write(&req, &plan, now);
                }
            }
            Op::Delete { path } => {
                let id = self.id();
                let _ = self.store.delete(id, PATHS[*path], None, now);
            }
            Op::Move { from, to } => {
                let id = self.id();
                let _ = self
                    .store
                    .move_note(id, PATHS[*from], PATHS[*to], None, now);
            }
            Op::Revert { path, version } => {
                let id = self.id();
                let _ = self.store.revert(id, PATHS[*path], *version, None, now);
                self.index_unindexed();
            }
            Op::Open { session } => {
                let id = self.id();
                let open = OpenSession {
                    session: SessionId::new(format!("s{session}")).unwrap(),
                    user: "u".into(),
                    protocol_version: "2025-11-25".into(),
                    client_name: "prop".into(),
                    client_version: "1".into(),
                };
                let _ = self.store.open_session(id, open, now);
            }
            Op::Touch { session } => {
                let s = SessionId::new(format!("s{session}")).unwrap();
                let _ = self.store.touch_session(&s, now);
            }
            Op::Close { session } => {
                let id = self.id();
                let s = SessionId::new(format!("s{session}")).unwrap();
                let _ = self.store.close_session(id, &s, now);
            }
            Op::Wait { ms } => {
                self.now += ms;
                self.store.on_deadline(Timestamp(self.now)).unwrap();
            }
            Op::Snapshot => {
                self.full_snapshot = Some(self.store.take_snapshot().unwrap());
            }
            Op::Compact => {
                self.keep_events();
                for range in self.store.compaction_plan().segments {
                    let seg = self
                        .store
                        .encode_segment(*range.start(), *range.end())
                        .unwrap();
                    self.store.record_archived(&seg, now).unwrap();
                    self.segments.push(seg.bytes);
                }
                self.keep_events();
                self.store.compact().unwrap();
            }
            Op::Retry => {
                // Replaying the last id must not append again, whatever it was.
                // Only while the id is still in the idempotency window (8 events here).
                let window = config().idempotency_window as u64;
                let in_window = |seq: u64| self.store.head().seq - seq < window;
                if let Some((id, _)) = self.last_id.filter(|(_, seq)| in_window(*seq)) {
                    let head = self.store.head();
                    let _ = self.store.delete(id, PATHS[0], None, now);
                    assert_eq!(self.store.head(), head, "a retried id appended again");
                }
            }
        }
        self.note_applied(head, next_id);
    }

    /// After a command: remember its id if it appended, for `Op::Retry`.
    fn note_applied(&mut self, head_before: u64, id_before: u64) {
        if self.next_id == id_before + 1 && self.store.head().seq == head_before + 1 {
            let seq = self.store.head().seq;
            self.last_id = Some((EventId::derive(&self.next_id.to_be_bytes()), seq));
        }
    }

    fn index_unindexed(&mut self) {
        fill_index(&mut self.store, &self.blobs);
    }
}

fn fill_index(store: &mut Store<MemoryStorage>, blobs: &BTreeMap<Hash, Vec<u8>>) {
    let pending: Vec<(String, Hash)> = store
        .unindexed(usize::MAX)
        .unwrap()
        .into_iter()
        .map(|(p, e)| (p.to_string(), e.hash))
        .collect();
    for (path, hash) in pending {
        assert!(store.index_text(&path, hash, &blobs[&hash]).unwrap());
    }
}

/// Everything observable about a store's state.
fn assert_same(live: &mut Store<MemoryStorage>, other: &mut Store<MemoryStorage>, how: &str) {
    let (a, b) = (live.state(), other.state());
    assert_eq!(a.head(), b.head(), "{how}: head");
    let (x, y) = (
        live.notes().collect().unwrap(),
        other.notes().collect().unwrap(),
    );
    assert_eq!(x.files(), y.files(), "{how}: files");
    assert_eq!(x.history(), y.history(), "{how}: history");
    assert_eq!(x.seq(), y.seq(), "{how}: the notes' seq");
    assert_eq!(y.seq(), b.head().seq, "{how}: the notes reflect the head");
    assert_eq!(a.sessions(), b.sessions(), "{how}: sessions");
    assert_eq!(a.archived(), b.archived(), "{how}: archived");
    assert!(other.unindexed(1).unwrap().is_empty(), "{how}: unindexed");
    for word in WORDS {
        let (x, y) = (
            live.search(word, 100, None).unwrap(),
            other.search(word, 100, None).unwrap(),
        );
        let xs: Vec<_> = x
            .hits
            .iter()
            .map(|h| (&h.path, (h.score * 1e4).round()))
            .collect();
        let ys: Vec<_> = y
            .hits
            .iter()
            .map(|h| (&h.path, (h.score * 1e4).round()))
            .collect();
        assert_eq!(xs, ys, "{how}: search {word}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, .. ProptestConfig::default() })]

    #[test]
    fn snapshot_plus_tail_equals_full_replay(ops in prop::collection::vec(op(), 1..80)) {
        let mut run = Run {
            store: Store::open(MemoryStorage::new(), config()).unwrap().0,
            now: 1_000,
            next_id: 0,
            last_id: None,
            blobs: BTreeMap::new(),
            all_events: BTreeMap::new(),
            segments: Vec::new(),
            full_snapshot: None,
        };
        for op in &ops {
            run.step(op);
        }
        run.index_unindexed();
        run.keep_events();

        // 1. Snapshot + tail from the store's own storage.
        let storage = run.store.storage().clone();
        let (mut reopened, _) = Store::open(storage, config()).unwrap();
        fill_index(&mut reopened, &run.blobs);
        assert_same(&mut run.store, &mut reopened, "snapshot + tail");
        prop_assert_eq!(run.store.next_deadline(), reopened.next_deadline());

        // 1b. The last full snapshot (as archived) + the tail, into storage without notes:
        // the notes come from the snapshot.
        if let Some(full) = &run.full_snapshot {
            let mut fresh = MemoryStorage::new();
            fresh.put_snapshot(&engine::storage::StoredSnapshot {
                seq: full.seq,
                bytes: full.bytes.clone(),
            }).unwrap();
            let tail: Vec<StoredEvent> =
                run.all_events.range(full.seq + 1..).map(|(_, e)| e.clone()).collect();
            fresh.append(&tail).unwrap();
            let (mut from_full, report) = Store::open(fresh, config()).unwrap();
            prop_assert_eq!(report.snapshot_seq, full.seq);
            fill_index(&mut from_full, &run.blobs);
            assert_same(&mut run.store, &mut from_full, "full snapshot + tail");
        }

        // 2. Every event from seq 1.
        let mut full = MemoryStorage::new();
        let events: Vec<StoredEvent> = run.all_events.values().cloned().collect();
        full.append(&events).unwrap();
        let (mut replayed, report) = Store::open(full, config()).unwrap();
        prop_assert_eq!(report.replayed, run.store.head().seq);
        fill_index(&mut replayed, &run.blobs);
        assert_same(&mut run.store, &mut replayed, "full replay");

        // 3. Rebuilt from the archive: equal to the live store up to the archived head.
        if !run.segments.is_empty() {
            let bytes: Vec<&[u8]> = run.segments.iter().map(Vec::as_slice).collect();
            let (rebuilt, _) =
                Store::rebuild(MemoryStorage::new(), None, &bytes, config()).unwrap();
            prop_assert!(rebuilt.head().seq <= run.store.head().seq);
            let prefix = rebuilt.head().seq;
            let mut partial = MemoryStorage::new();
            let upto: Vec<StoredEvent> =
                run.all_events.range(..=prefix).map(|(_, e)| e.clone()).collect();
            partial.append(&upto).unwrap();
            let (expected, _) = Store::open(partial, config()).unwrap();
            prop_assert_eq!(
                rebuilt.notes().collect().unwrap(),
                expected.notes().collect().unwrap()
            );
        }
    }
}
