//! The store's commands, end to end over memory storage.

use engine::event::Event;
use engine::storage::Bulk;
use engine::store::{
    DeleteError, MoveError, OpenSession, RevertError, SessionError, VersionConflict, WriteError,
    WriteRequest,
};
use engine::{Config, EventId, MemoryStorage, SessionId, Storage, Store, Timestamp};

/// The store's notes, read into memory.
fn notes<S: Storage>(s: &Store<S>) -> engine::notes::MemoryNotes {
    s.notes().collect().expect("notes")
}

/// Every version of `path`.
fn versions<S: Storage>(s: &Store<S>, path: &str) -> Vec<engine::history::Version> {
    s.notes().versions(path, 0, usize::MAX).expect("versions")
}

fn open() -> Store<MemoryStorage> {
    Store::open(MemoryStorage::new(), Config::default())
        .unwrap()
        .0
}

fn id(n: u64) -> EventId {
    EventId::derive(&n.to_be_bytes())
}

fn req<'a>(n: u64, path: &'a str, content: &'a [u8]) -> WriteRequest<'a> {
    WriteRequest {
        id: id(n),
        path,
        content,
        media_type: "text/markdown",
        expected_version: None,
        edit: false,
    }
}

fn write(store: &mut Store<MemoryStorage>, n: u64, path: &str, text: &str) -> u64 {
    let r = req(n, path, text.as_bytes());
    let plan = store.plan_write(&r).unwrap();
    store
        .write(&r, &plan, Timestamp(n))
        .unwrap()
        .version
        .unwrap()
}

#[test]
fn write_read_back_and_version() {
    let mut s = open();
    assert_eq!(write(&mut s, 1, "a.md", "one"), 1);
    assert_eq!(write(&mut s, 2, "a.md", "two"), 2);
    let entry = s.notes().file("a.md").unwrap().unwrap();
    assert_eq!((entry.version, entry.size), (2, 3));
    assert_eq!(entry.hash, engine::Hash::of(b"two"));
    assert_eq!(entry.created, Timestamp(1));
    assert_eq!(entry.modified, Timestamp(2));
    assert_eq!(versions(&s, "a.md").len(), 2);
    assert_eq!(s.head().seq, 2);
}

#[test]
fn same_event_id_appends_once() {
    let mut s = open();
    let r = req(7, "a.md", b"x");
    let plan = s.plan_write(&r).unwrap();
    let first = s.write(&r, &plan, Timestamp(1)).unwrap();
    let again = s.write(&r, &plan, Timestamp(2)).unwrap();
    assert!(!first.duplicate && again.duplicate);
    assert_eq!((again.seq, again.version), (first.seq, first.version));
    assert_eq!(s.head().seq, 1);
    // ... and after a restart.
    let storage = s.into_storage();
    let (mut s, _) = Store::open(storage, Config::default()).unwrap();
    assert!(s.write(&r, &plan, Timestamp(3)).unwrap().duplicate);
    assert_eq!(s.head().seq, 1);
}

#[test]
fn a_receipt_names_what_the_first_append_made() {
    let mut s = open();
    assert_eq!(s.receipt(&id(1)), None);
    write(&mut s, 1, "a.md", "one");
    // A retry with `expected_version` 0 would fail its checks now: the receipt tells the
    // caller it is a retry before it plans again.
    let receipt = s.receipt(&id(1)).unwrap();
    assert_eq!((receipt.seq, receipt.version), (1, Some(1)));
    assert_eq!(receipt.path.as_ref().map(|p| p.as_str()), Some("a.md"));
    s.delete(id(2), "a.md", None, Timestamp(2)).unwrap();
    assert_eq!(s.receipt(&id(2)).and_then(|r| r.version), Some(2));
}

#[test]
fn expected_version_conflicts_are_typed() {
    let mut s = open();
    write(&mut s, 1, "a.md", "one");
    let mut r = req(2, "a.md", b"two");
    r.expected_version = Some(0);
    let err = s.plan_write(&r).unwrap_err();
    assert!(matches!(
        err,
        WriteError::VersionConflict(VersionConflict {
            expected: 0,
            actual: 1,
            ..
        })
    ));
    assert!(err.to_string().contains("read it again"));
    r.expected_version = Some(1);
    let plan = s.plan_write(&r).unwrap();
    // Another writer gets in between plan and write: the write is refused, nothing is lost.
    write(&mut s, 3, "a.md", "three");
    assert!(matches!(
        s.write(&r, &plan, Timestamp(4)),
        Err(WriteError::VersionConflict(VersionConflict {
            expected: 1,
            actual: 2,
            ..
        }))
    ));
    assert_eq!(
        s.notes().file("a.md").unwrap().unwrap().hash,
        engine::Hash::of(b"three")
    );
}

#[test]
fn limits_are_enforced_with_typed_errors() {
    let mut config = Config::default();
    config.limits.max_file_bytes = 10;
    config.limits.max_total_bytes = 15;
    config.limits.max_files = 2;
    let (mut s, _) = Store::open(MemoryStorage::new(), config).unwrap();
    let big = [b'x'; 11];
    assert!(matches!(
        s.plan_write(&req(1, "a", &big)),
        Err(WriteError::TooLarge { size: 11, max: 10 })
    ));
    write(&mut s, 2, "a", "0123456789");
    assert!(matches!(
        s.plan_write(&req(3, "b", b"123456")),
        Err(WriteError::QuotaBytes { total: 16, max: 15 })
    ));
    // Replacing a note counts its new size, not both.
    write(&mut s, 4, "a", "012345678");
    write(&mut s, 5, "b", "1");
    assert!(matches!(
        s.plan_write(&req(6, "c", b"1")),
        Err(WriteError::QuotaFiles { max: 2 })
    ));
    assert!(matches!(
        s.plan_write(&req(7, "../c", b"1")),
        Err(WriteError::Path(_))
    ));
    let mut bad_type = req(8, "d", b"1");
    bad_type.media_type = "markdown";
    assert!(matches!(
        s.plan_write(&bad_type),
        Err(WriteError::MediaType(_))
    ));
}

#[test]
fn edit_needs_an_existing_note() {
    let mut s = open();
    let mut r = req(1, "a", b"x");
    r.edit = true;
    assert!(matches!(s.plan_write(&r), Err(WriteError::NotFound(_))));
    write(&mut s, 2, "a", "x");
    let plan = s.plan_write(&r).unwrap();
    s.write(&r, &plan, Timestamp(3)).unwrap();
    let kinds: Vec<&str> = s
        .events_after(0, 10)
        .unwrap()
        .iter()
        .map(|e| e.event.kind())
        .collect();
    assert_eq!(kinds, ["note.written", "note.edited"]);
}

#[test]
fn delete_move_and_revert_keep_history() {
    let mut s = open();
    write(&mut s, 1, "a", "one");
    write(&mut s, 2, "a", "two");
    assert!(matches!(
        s.delete(id(3), "zz", None, Timestamp(3)),
        Err(DeleteError::NotFound(_))
    ));
    assert!(matches!(
        s.delete(id(3), "a", Some(1), Timestamp(3)),
        Err(DeleteError::VersionConflict(_))
    ));
    let moved = s.move_note(id(4), "a", "b", Some(2), Timestamp(4)).unwrap();
    assert_eq!(moved.version, Some(1));
    assert!(s.notes().file("a").unwrap().is_none());
    assert_eq!(
        s.notes().file("b").unwrap().unwrap().hash,
        engine::Hash::of(b"two")
    );
    assert_eq!(
        s.notes().last_version("a").unwrap(),
        3,
        "the move is a deletion at the source"
    );
    write(&mut s, 5, "c", "c");
    assert!(matches!(
        s.move_note(id(6), "b", "c", None, Timestamp(6)),
        Err(MoveError::DestinationExists(_))
    ));
    assert!(matches!(
        s.move_note(id(6), "b", "b", None, Timestamp(6)),
        Err(MoveError::SamePath(_))
    ));
    s.delete(id(7), "b", None, Timestamp(7)).unwrap();
    assert!(s.notes().file("b").unwrap().is_none());
    // Revert the old path to its first content: it comes back as version 4.
    let reverted = s.revert(id(8), "a", 1, Some(0), Timestamp(8)).unwrap();
    assert_eq!(reverted.version, Some(4));
    assert_eq!(
        s.notes().file("a").unwrap().unwrap().hash,
        engine::Hash::of(b"one")
    );
    assert!(matches!(
        s.revert(id(9), "a", 3, None, Timestamp(9)),
        Err(RevertError::NoContent { version: 3, .. })
    ));
    assert!(matches!(
        s.revert(id(9), "a", 99, None, Timestamp(9)),
        Err(RevertError::NoSuchVersion { version: 99, .. })
    ));
    assert_eq!(
        s.notes()
            .at_time("a", Timestamp(1))
            .unwrap()
            .unwrap()
            .version,
        1
    );
}

#[test]
fn search_follows_writes_moves_and_deletes() {
    let mut s = open();
    write(&mut s, 1, "garden.md", "tomatoes and basil");
    write(&mut s, 2, "work.md", "quarterly planning");
    assert_eq!(
        s.search("basil", 10, None).unwrap().hits[0].path,
        "garden.md"
    );
    s.move_note(id(3), "garden.md", "plants.md", None, Timestamp(3))
        .unwrap();
    assert_eq!(
        s.search("basil", 10, None).unwrap().hits[0].path,
        "plants.md"
    );
    s.delete(id(4), "plants.md", None, Timestamp(4)).unwrap();
    assert!(s.search("basil", 10, None).unwrap().hits.is_empty());
    write(&mut s, 5, "work.md", "holiday");
    assert!(
        s.search("quarterly", 10, None).unwrap().hits.is_empty(),
        "old text is gone"
    );
}

#[test]
fn the_index_is_the_storages_and_a_store_it_lags_queues_every_note_for_its_text() {
    let mut s = open();
    write(&mut s, 1, "a.md", "pumpkin soup");
    // Reopened, the storage's index answers at once.
    let (s, report) = Store::open(s.into_storage(), Config::default()).unwrap();
    assert!(!report.search_reset);
    assert_eq!(s.search("pumpkin", 10, None).unwrap().hits.len(), 1);
    // An index behind the log (as a build that kept it in snapshots leaves the storage) is
    // emptied and every note queued.
    let mut storage = s.into_storage();
    storage.reset_search(Bulk::Begin).unwrap();
    let (mut s, report) = Store::open(storage, Config::default()).unwrap();
    assert!(report.search_reset);
    assert!(s.search("pumpkin", 10, None).unwrap().hits.is_empty());
    let (path, entry) = s
        .unindexed(10)
        .unwrap()
        .into_iter()
        .map(|(p, e)| (p.to_string(), e.hash))
        .next()
        .unwrap();
    assert!(
        !s.index_text(&path, engine::Hash::of(b"stale"), b"stale")
            .unwrap(),
        "wrong hash refused"
    );
    assert!(s.index_text(&path, entry, b"pumpkin soup").unwrap());
    assert!(
        !s.index_text(&path, entry, b"pumpkin soup").unwrap(),
        "once"
    );
    assert_eq!(s.search("pumpkin", 10, None).unwrap().hits.len(), 1);
    assert!(s.unindexed(10).unwrap().is_empty());
}

fn open_session(s: &mut Store<MemoryStorage>, n: u64, name: &str, now: u64) -> SessionId {
    let session = SessionId::new(name).unwrap();
    let open = OpenSession {
        session: session.clone(),
        user: "42".into(),
        protocol_version: "2025-06-18".into(),
        client_name: "test".into(),
        client_version: "1".into(),
    };
    s.open_session(id(n), open, Timestamp(now)).unwrap();
    session
}

#[test]
fn sessions_expire_through_deadlines() {
    let config = Config {
        session_idle_timeout_ms: 1_000,
        touch_interval_ms: 100,
        snapshot_every_ms: 1_000_000,
        ..Config::default()
    };
    let (mut s, _) = Store::open(MemoryStorage::new(), config).unwrap();
    assert_eq!(s.next_deadline(), None, "nothing pending: no alarm");
    let a = open_session(&mut s, 1, "a", 0);
    let b = open_session(&mut s, 2, "b", 500);
    assert_eq!(s.next_deadline(), Some(Timestamp(1_000)));
    // Touches inside the interval append nothing; after it, one event.
    s.touch_session(&a, Timestamp(50)).unwrap();
    assert_eq!(s.head().seq, 2);
    s.touch_session(&a, Timestamp(600)).unwrap();
    assert_eq!(s.head().seq, 3);
    assert_eq!(s.next_deadline(), Some(Timestamp(1_500)));
    let report = s.on_deadline(Timestamp(1_500)).unwrap();
    assert_eq!(report.expired, vec![b.clone()]);
    assert!(matches!(
        s.touch_session(&b, Timestamp(1_501)),
        Err(SessionError::NotFound(_))
    ));
    assert!(matches!(
        s.session(&a, Timestamp(1_600)),
        Err(SessionError::Expired(_))
    ));
    // An alarm delivered twice does nothing the second time.
    let again = s.on_deadline(Timestamp(1_500)).unwrap();
    assert!(again.expired.is_empty());
    s.on_deadline(Timestamp(1_600)).unwrap();
    assert!(s.sessions().is_empty());
    // Only the snapshot remains due, far in the future.
    assert_eq!(s.next_deadline(), Some(Timestamp(1_000_000)));
}

#[test]
fn closing_and_session_limits() {
    let mut config = Config::default();
    config.limits.max_sessions = 1;
    let (mut s, _) = Store::open(MemoryStorage::new(), config).unwrap();
    let a = open_session(&mut s, 1, "a", 0);
    let open = OpenSession {
        session: SessionId::new("b").unwrap(),
        user: "42".into(),
        protocol_version: "2025-06-18".into(),
        client_name: "x".repeat(1_000),
        client_version: "1".into(),
    };
    assert!(matches!(
        s.open_session(id(2), open.clone(), Timestamp(1)),
        Err(SessionError::TooMany { max: 1 })
    ));
    s.close_session(id(3), &a, Timestamp(2)).unwrap();
    s.open_session(id(4), open, Timestamp(3)).unwrap();
    let (_, b) = s.sessions().iter().next().unwrap();
    assert_eq!(b.client_name.len(), engine::store::MAX_CLIENT_INFO_BYTES);
}

#[test]
fn snapshot_archive_compact_and_reopen() {
    let config = Config {
        segment_max_events: 3,
        ..Config::default()
    };
    let (mut s, _) = Store::open(MemoryStorage::new(), config.clone()).unwrap();
    for n in 1..=7 {
        write(&mut s, n, &format!("n{}", n % 3), &format!("text {n}"));
    }
    let snap = s.take_snapshot().unwrap();
    assert_eq!(snap.seq, 7);
    let plan = s.compaction_plan();
    assert_eq!(plan.segments, vec![1..=3, 4..=6, 7..=7]);
    let mut segments = Vec::new();
    for range in plan.segments {
        let seg = s.encode_segment(*range.start(), *range.end()).unwrap();
        s.record_archived(&seg, Timestamp(100)).unwrap();
        segments.push(seg);
    }
    assert_eq!(s.compact().unwrap(), 7);
    assert_eq!(
        s.storage().len(),
        3,
        "only the three segment.archived events remain"
    );
    assert_eq!(s.verify().unwrap().head, s.head());
    // Old versions stay readable after compaction.
    assert_eq!(versions(&s, "n1").len(), 3);
    let before = notes(&s);
    let (s2, report) = Store::open(s.into_storage(), config.clone()).unwrap();
    assert_eq!((report.snapshot_seq, report.replayed), (7, 3));
    assert_eq!(notes(&s2), before);
    assert!(matches!(
        s2.events_after(2, 10),
        Err(engine::store::EventsError::Compacted { oldest: 8 })
    ));

    // A store rebuilt from the archive alone (no snapshot) has the same notes.
    let bytes: Vec<&[u8]> = segments.iter().rev().map(|s| s.bytes.as_slice()).collect();
    let (rebuilt, _) = Store::rebuild(MemoryStorage::new(), None, &bytes, config.clone()).unwrap();
    assert_eq!(notes(&rebuilt).files(), notes(&s2).files());
    // ... and from the snapshot plus the segments.
    let (rebuilt, _) = Store::rebuild(
        MemoryStorage::new(),
        Some(snap.bytes.clone()),
        &bytes,
        config.clone(),
    )
    .unwrap();
    assert_eq!(rebuilt.head().seq, 7);
    // A missing middle segment is a gap.
    let gappy = [bytes[0], bytes[2]];
    assert!(Store::rebuild(MemoryStorage::new(), None, &gappy, config).is_err());
}

#[test]
fn archive_events_do_not_make_snapshots_due() {
    let config = Config {
        snapshot_every_ms: 10,
        ..Config::default()
    };
    let (mut s, _) = Store::open(MemoryStorage::new(), config).unwrap();
    write(&mut s, 1, "a", "x");
    assert_eq!(s.next_deadline(), Some(Timestamp(11)));
    assert!(s.on_deadline(Timestamp(11)).unwrap().snapshot_due);
    s.take_snapshot().unwrap();
    let plan = s.compaction_plan();
    for range in plan.segments {
        let seg = s.encode_segment(*range.start(), *range.end()).unwrap();
        s.record_archived(&seg, Timestamp(12)).unwrap();
    }
    s.compact().unwrap();
    assert_eq!(
        s.next_deadline(),
        None,
        "no alarm storm after a snapshot cycle"
    );
    assert!(matches!(
        s.events_after(1, 5).unwrap()[0].event,
        Event::SegmentArchived(_)
    ));
    assert!(s.events_after(0, 5).is_err(), "seq 1 was compacted away");
}

#[test]
fn raw_appends_check_the_expected_seq_and_the_state() {
    use engine::event::{NoteDeleted, SessionRef};
    use engine::store::AppendError;
    let mut s = open();
    write(&mut s, 1, "a", "x");
    let delete = Event::NoteDeleted(NoteDeleted {
        path: engine::NotePath::new("a").unwrap(),
        version: 2,
    });
    assert_eq!(
        s.append(id(2), Timestamp(2), Some(0), delete.clone(), None),
        Err(AppendError::SeqConflict {
            expected: 0,
            actual: 1
        })
    );
    let close = Event::SessionClosed(SessionRef {
        session: SessionId::new("nobody").unwrap(),
    });
    assert!(matches!(
        s.append(id(3), Timestamp(2), Some(1), close, None),
        Err(AppendError::Invalid(_))
    ));
    let applied = s
        .append(id(2), Timestamp(2), Some(1), delete, None)
        .unwrap();
    assert_eq!((applied.seq, applied.version), (2, Some(2)));
    assert!(s.notes().stats().unwrap().count == 0);
}

#[test]
fn a_store_opened_from_a_snapshot_searches_as_the_live_one_and_snapshots_the_same() {
    let mut live = open();
    write(&mut live, 1, "garden.md", "tomatoes and basil");
    write(&mut live, 2, "work.md", "quarterly planning");
    write(&mut live, 3, "soup.md", "pumpkin soup");
    let taken = live.take_snapshot().unwrap();
    let (mut cold, report) = Store::open(live.storage().clone(), Config::default()).unwrap();
    assert!(!report.search_reset);
    assert_eq!(cold.take_snapshot().unwrap().bytes, taken.bytes);
    for s in [&mut live, &mut cold] {
        write(s, 4, "work.md", "holiday in the garden");
        s.move_note(id(5), "garden.md", "plants.md", None, Timestamp(5))
            .unwrap();
        s.delete(id(6), "soup.md", None, Timestamp(6)).unwrap();
        write(s, 7, "soup.md", "leek soup");
    }
    assert_eq!(cold.state(), live.state());
    assert_eq!(
        cold.search("basil", 10, None).unwrap().hits[0].path,
        "plants.md"
    );
    for word in ["garden", "quarterly", "pumpkin", "leek", "holiday"] {
        assert_eq!(
            cold.search(word, 10, None).unwrap(),
            live.search(word, 10, None).unwrap(),
            "{word}"
        );
    }
    assert_eq!(
        cold.take_snapshot().unwrap().bytes,
        live.take_snapshot().unwrap().bytes
    );
}
