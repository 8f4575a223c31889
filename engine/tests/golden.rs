//! Golden files: the byte format is frozen.
//!
//! `tests/golden/v1/` holds a log segment with one event of every kind, the snapshot of the
//! state it leads to (full, format 1, and lean, format 2: `snapshot-lean.cbor`), and a readable listing of each envelope in hex (which
//! `docs/log-format.md` quotes). Every future reader must decode these files to exactly the
//! values below. The writer must also still produce them byte for byte, until a new format
//! version is introduced: then add `v2/` beside `v1/` and keep the v1 reading tests.
//!
//! `GOLDEN_WRITE=1 cargo test -p engine --test golden -- --ignored write_golden_files` writes
//! the files (only when creating a new version's directory; never rewrite a published one).

use std::fmt::Write as _;
use std::path::PathBuf;

use engine::envelope::{ChainHead, Envelope, StoredEvent};
use engine::event::Event;
use engine::store::{OpenSession, WriteRequest};
use engine::{Config, EventId, MemoryStorage, SessionId, Storage, Store, Timestamp};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/v1")
}

fn id(name: &str) -> EventId {
    EventId::derive(name.as_bytes())
}

fn write(store: &mut Store<MemoryStorage>, name: &str, path: &str, text: &str, edit: bool, t: u64) {
    let req = WriteRequest {
        id: id(name),
        path,
        content: text.as_bytes(),
        media_type: "text/markdown",
        expected_version: None,
        edit,
    };
    let plan = store.plan_write(&req).expect("plan");
    store.write(&req, &plan, Timestamp(t)).expect("write");
}

/// The scenario: one event of every kind, at fixed times with fixed ids.
fn scenario() -> Store<MemoryStorage> {
    scenario_and_snapshot().0
}

/// The scenario, and the full snapshot it took (the one archives get).
fn scenario_and_snapshot() -> (Store<MemoryStorage>, engine::snapshot::Snapshot) {
    let config = Config {
        session_idle_timeout_ms: 60_000,
        touch_interval_ms: 1_000,
        ..Config::default()
    };
    let mut s = Store::open(MemoryStorage::new(), config).expect("open").0;
    let t0 = 1_767_225_600_000; // 2026-01-01T00:00:00Z
    let open = |name: &str| OpenSession {
        session: SessionId::new(name).expect("session id"),
        user: "583231".into(),
        protocol_version: "2025-11-25".into(),
        client_name: "golden-client".into(),
        client_version: "1.0.0".into(),
    };
    s.open_session(id("open-a"), open("session-a"), Timestamp(t0))
        .expect("open a");
    write(
        &mut s,
        "w1",
        "inbox/idea.md",
        "# Idea\nGrow tomatoes.\n",
        false,
        t0 + 1_000,
    );
    write(
        &mut s,
        "w2",
        "inbox/idea.md",
        "# Idea\nGrow basil.\n",
        true,
        t0 + 2_000,
    );
    let a = SessionId::new("session-a").expect("id");
    s.touch_session(&a, Timestamp(t0 + 3_000)).expect("touch");
    s.move_note(
        id("m1"),
        "inbox/idea.md",
        "garden/idea.md",
        None,
        Timestamp(t0 + 4_000),
    )
    .expect("move");
    s.revert(id("r1"), "garden/idea.md", 1, None, Timestamp(t0 + 5_000))
        .expect("revert");
    s.delete(id("d1"), "garden/idea.md", None, Timestamp(t0 + 6_000))
        .expect("delete");
    s.close_session(id("close-a"), &a, Timestamp(t0 + 7_000))
        .expect("close");
    s.open_session(id("open-b"), open("session-b"), Timestamp(t0 + 8_000))
        .expect("open b");
    s.on_deadline(Timestamp(t0 + 68_000)).expect("expire b");
    let snapshot = s.take_snapshot().expect("snapshot");
    let seg = s.encode_segment(1, 3).expect("segment");
    s.record_archived(&seg, Timestamp(t0 + 69_000))
        .expect("archived");
    (s, snapshot)
}

fn all_events(store: &Store<MemoryStorage>) -> Vec<StoredEvent> {
    store.storage().read(0, usize::MAX).expect("read")
}

fn listing(events: &[StoredEvent]) -> String {
    let mut out = String::from("# seq kind chain-hash\n# envelope bytes (hex)\n");
    for e in events {
        let env = Envelope::decode(&e.bytes).expect("decode");
        let _ = writeln!(out, "{} {} {}", e.seq, env.event.kind(), e.hash);
        let _ = writeln!(out, "{}", hex::encode(&e.bytes));
    }
    out
}

fn golden(name: &str) -> Vec<u8> {
    std::fs::read(dir().join(name))
        .unwrap_or_else(|e| panic!("golden file {name}: {e} (GOLDEN_WRITE=1 creates it)"))
}

/// Not a check: the generator of the files. Ignored, and it refuses without `GOLDEN_WRITE=1`,
/// so a run of ignored tests (the latency measurements) never rewrites a published version.
#[test]
#[ignore = "writes the golden files; only when creating a new format version"]
fn write_golden_files() {
    assert!(
        std::env::var_os("GOLDEN_WRITE").is_some(),
        "set GOLDEN_WRITE=1 to write tests/golden/v1 (never rewrite a published version)"
    );
    let (s, snap) = scenario_and_snapshot();
    let events = all_events(&s);
    let seg = engine::segment::encode(ChainHead::default(), &events).expect("segment");
    std::fs::create_dir_all(dir()).expect("mkdir");
    std::fs::write(dir().join("segment.cbor"), &seg.bytes).expect("write");
    std::fs::write(dir().join("snapshot.cbor"), &snap.bytes).expect("write");
    std::fs::write(dir().join("events.txt"), listing(&events)).expect("write");
}

/// The generator of `snapshot-lean.cbor`, the format 2 snapshot of the scenario (added with
/// format 2; never rewrite it).
#[test]
#[ignore = "writes a golden file; only when creating a new format version"]
fn write_lean_snapshot_golden() {
    assert!(
        std::env::var_os("GOLDEN_WRITE").is_some(),
        "set GOLDEN_WRITE=1 to write tests/golden/v1/snapshot-lean.cbor"
    );
    let s = scenario();
    let snap = s.storage().snapshot().expect("snapshot").expect("present");
    assert_eq!(
        engine::snapshot::decode(&snap.bytes, 100)
            .expect("decode")
            .notes,
        None,
        "MemoryStorage keeps its notes, so its local snapshot is lean"
    );
    std::fs::write(dir().join("snapshot-lean.cbor"), &snap.bytes).expect("write");
}

#[test]
fn v1_segment_decodes_to_the_same_events() {
    let decoded = engine::segment::decode(&golden("segment.cbor")).expect("golden segment");
    let kinds: Vec<&str> = decoded
        .events
        .iter()
        .map(|e| Envelope::decode(&e.bytes).expect("envelope").event.kind())
        .collect();
    assert_eq!(
        kinds,
        [
            "session.opened",
            "note.written",
            "note.edited",
            "session.touched",
            "note.moved",
            "note.reverted",
            "note.deleted",
            "session.closed",
            "session.opened",
            "session.expired",
            "segment.archived",
        ]
    );
    // The values, not just the kinds: today's scenario makes equal envelopes.
    let today = all_events(&scenario());
    for (old, new) in decoded.events.iter().zip(&today) {
        assert_eq!(
            Envelope::decode(&old.bytes).expect("old"),
            Envelope::decode(&new.bytes).expect("new")
        );
    }
    let first = Envelope::decode(&decoded.events[0].bytes).expect("first");
    assert!(matches!(first.event, Event::SessionOpened(ref o) if o.client_name == "golden-client"));
}

#[test]
fn v1_bytes_are_still_written_byte_for_byte() {
    let events = all_events(&scenario());
    let seg = engine::segment::encode(ChainHead::default(), &events).expect("segment");
    assert_eq!(
        seg.bytes,
        golden("segment.cbor"),
        "the writer changed the v1 format"
    );
    let listed = String::from_utf8(golden("events.txt")).expect("utf-8");
    assert_eq!(listing(&events), listed);
}

#[test]
fn v1_log_replays_and_v1_snapshot_restores_the_same_notes() {
    let decoded = engine::segment::decode(&golden("segment.cbor")).expect("segment");
    let mut storage = MemoryStorage::new();
    storage.append(&decoded.events).expect("append");
    let (replayed, report) = Store::open(storage, Config::default()).expect("replay");
    assert_eq!(report.replayed, 11);
    let notes = replayed.notes().collect().expect("notes");
    assert!(notes.files().is_empty(), "the note was deleted in the end");
    let versions = notes.history().versions("garden/idea.md");
    assert_eq!(versions.len(), 3, "moved in, reverted, deleted");
    assert_eq!(notes.history().versions("inbox/idea.md").len(), 3);
    assert!(replayed.sessions().is_empty());

    let restored = engine::snapshot::decode(&golden("snapshot.cbor"), 100).expect("snapshot");
    assert_eq!(restored.state.head().seq, 10);
    let restored = restored.notes.expect("a full snapshot carries the notes");
    assert_eq!(restored.history(), notes.history());
    assert_eq!(restored.files(), notes.files());
}

#[test]
fn the_lean_snapshot_restores_the_same_state_over_the_stored_notes() {
    let lean = engine::snapshot::decode(&golden("snapshot-lean.cbor"), 100).expect("lean");
    let full = engine::snapshot::decode(&golden("snapshot.cbor"), 100).expect("full");
    assert_eq!(lean.notes, None);
    assert_eq!(lean.state, full.state);
    assert_eq!(
        engine::snapshot::encode_lean(&lean.state).bytes,
        golden("snapshot-lean.cbor"),
        "the writer changed the lean format"
    );
}

#[test]
fn v1_snapshot_is_written_back_byte_for_byte() {
    // Snapshots carry an empty search index and every note queued (the storage keeps the
    // index); the golden one was written with its notes' texts not at hand, which is exactly
    // that, so it is written back as it was.
    let bytes = golden("snapshot.cbor");
    let restored = engine::snapshot::decode(&bytes, 100).expect("snapshot");
    let replica = engine::state::Replica::from_snapshot(restored).expect("full");
    assert_eq!(replica.snapshot().bytes, bytes);
}
