//! The snapshot cycle and the restore from R2, natively: a user's store (the engine over
//! memory), a fake R2 bucket (a map) and the object's durable flag, a fake clock, and writes
//! that fail on a countdown. Both machines are driven as the Durable Object drives them:
//! poll, perform, hand back.

use std::collections::{BTreeMap, BTreeSet};

use backups::archive::{self, ArchivedSegment, ArchivedSnapshot};
use backups::archive_restore::{
    ArchiveRestore, ArchiveRestoreError, Corruption, RestoreAnswer, RestoreStep,
};
use backups::snapshot_cycle::{CycleError, CycleEvent, CycleStep, SnapshotCycle, StepOutcome};
use engine::store::WriteRequest;
use engine::{Config, EventId, MemoryStorage, Store, Timestamp};

const USER: &str = "1001";
/// The retry delay the tests give the cycle.
const DELAY: u64 = 30_000;

/// How a failing write fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FailMode {
    /// Nothing is written.
    Refused,
    /// The write happens but its acknowledgement is lost.
    AckLost,
}

/// A user's world: the store, R2, the object's durable flag and a clock.
struct World {
    store: Store<MemoryStorage>,
    cycle: SnapshotCycle,
    r2: BTreeMap<String, Vec<u8>>,
    /// The object's `archive_pending` flag (SQLite in the Worker).
    flag: bool,
    clock: u64,
    ids: u64,
    /// Writes (flag and R2) that succeed before one fails; `None`: none fails.
    countdown: Option<u64>,
    mode: FailMode,
    /// Writes attempted.
    writes: u64,
    /// The step whose write failed, if any.
    failed: Option<CycleStep>,
    events: Vec<CycleEvent>,
    /// Keys that R2 lists but no longer serves (restore tests).
    vanished: BTreeSet<String>,
}

impl World {
    fn new(segment_max_events: u64) -> World {
        let config = Config {
            segment_max_events,
            ..Config::default()
        };
        World {
            store: Store::open(MemoryStorage::default(), config).unwrap().0,
            cycle: SnapshotCycle::new(DELAY),
            r2: BTreeMap::new(),
            flag: false,
            clock: 1_796_515_200_000,
            ids: 0,
            countdown: None,
            mode: FailMode::Refused,
            writes: 0,
            failed: None,
            events: Vec::new(),
            vanished: BTreeSet::new(),
        }
    }

    fn now(&self) -> Timestamp {
        Timestamp(self.clock)
    }

    fn write(&mut self, path: &str, text: &str) {
        self.ids += 1;
        self.clock += 1_000;
        let req = WriteRequest {
            id: EventId::derive(&self.ids.to_le_bytes()),
            path,
            content: text.as_bytes(),
            media_type: "text/markdown",
            expected_version: None,
            edit: false,
        };
        let plan = self.store.plan_write(&req).unwrap();
        self.store.write(&req, &plan, self.now()).unwrap();
    }

    fn writes_of(&mut self, batch: &str, count: usize) {
        for i in 0..count {
            self.write(&format!("{batch}/{i}.md"), &format!("{batch} {i}"));
        }
    }

    /// Performs one step: the flag or an R2 put-once, failing when the countdown says so.
    fn perform(&mut self, step: &CycleStep) -> StepOutcome {
        self.writes += 1;
        let fail = match self.countdown.as_mut() {
            Some(0) => {
                self.countdown = None;
                self.failed = Some(step.clone());
                true
            }
            Some(left) => {
                *left -= 1;
                false
            }
            None => false,
        };
        if !fail || self.mode == FailMode::AckLost {
            match step {
                CycleStep::MarkPending => self.flag = true,
                CycleStep::ClearPending => self.flag = false,
                CycleStep::PutSegment { key, bytes } | CycleStep::PutSnapshot { key, bytes } => {
                    self.put_once(key, bytes)
                }
            }
        }
        if fail {
            StepOutcome::Failed("the bucket refuses writes".into())
        } else {
            StepOutcome::Done
        }
    }

    /// R2's put as the Worker does it: skipped when the key exists. Checks that an existing
    /// key would get the same bytes, and that no snapshot is ever ahead of its segments.
    fn put_once(&mut self, key: &str, bytes: &[u8]) {
        match self.r2.get(key) {
            Some(held) => assert_eq!(held, bytes, "{key} would be overwritten"),
            None => {
                self.r2.insert(key.to_owned(), bytes.to_vec());
            }
        }
        let (snapshots, segments) = self.listed();
        if let Some(newest) = snapshots.iter().map(|s| s.seq).max() {
            let plan = archive::restore_plan(&snapshots, &segments)
                .unwrap_or_else(|e| panic!("the archive has a gap after {key}: {e}"))
                .unwrap();
            assert!(
                plan.covered_through >= newest,
                "snapshot {newest} is in R2 before its segments (through {})",
                plan.covered_through
            );
        }
    }

    fn listed(&self) -> (Vec<ArchivedSnapshot>, Vec<ArchivedSegment>) {
        let snapshots = self
            .r2
            .keys()
            .filter_map(|k| archive::parse_snapshot_key(&archive::snapshot_prefix(USER), k))
            .collect();
        let segments = self
            .r2
            .keys()
            .filter_map(|k| archive::parse_segment_key(&archive::segment_prefix(USER), k))
            .collect();
        (snapshots, segments)
    }

    /// Poll, perform, hand back, until the cycle has nothing to do or fails.
    fn drive(&mut self) -> Result<(), CycleError> {
        let now = self.now();
        loop {
            let polled = self.cycle.poll(&mut self.store, now);
            self.drain();
            let Some(step) = polled? else {
                return Ok(());
            };
            let outcome = self.perform(&step);
            let handled = self.cycle.handle(&mut self.store, outcome, now);
            self.drain();
            handled?;
        }
    }

    fn drain(&mut self) {
        while let Some(event) = self.cycle.poll_event() {
            self.events.push(event);
        }
    }

    fn run_cycle(&mut self) -> Result<(), CycleError> {
        assert!(self.cycle.start(USER, self.now()));
        self.drive()
    }

    /// Answers one restore step from R2: pages of `limit` keys (1,000 by default).
    fn answer(&self, step: &RestoreStep) -> RestoreAnswer {
        match step {
            RestoreStep::List {
                prefix,
                cursor,
                limit,
            } => {
                let limit = limit.unwrap_or(1_000) as usize;
                let mut keys: Vec<String> = self
                    .r2
                    .keys()
                    .filter(|k| k.starts_with(prefix.as_str()))
                    .filter(|k| cursor.as_ref().is_none_or(|c| k.as_str() > c.as_str()))
                    .take(limit + 1)
                    .cloned()
                    .collect();
                let more = keys.len() > limit;
                keys.truncate(limit);
                let cursor = more.then(|| keys.last().cloned()).flatten();
                RestoreAnswer::Listed { keys, cursor }
            }
            RestoreStep::Get { key } if self.vanished.contains(key) => RestoreAnswer::Object(None),
            RestoreStep::Get { key } => RestoreAnswer::Object(self.r2.get(key).cloned()),
        }
    }

    /// Reads the archive with an [`ArchiveRestore`], counting R2 calls.
    fn read_archive(
        &self,
        limit: Option<u32>,
    ) -> Result<(ArchiveRestore, usize), ArchiveRestoreError> {
        let mut restore = ArchiveRestore::new(USER, limit);
        let mut calls = 0;
        while let Some(step) = restore.poll() {
            calls += 1;
            restore.handle(self.answer(&step))?;
        }
        assert!(restore.is_read());
        Ok((restore, calls))
    }

    /// Rebuilds a store from the archive into empty storage, at `now`.
    fn restore(
        &self,
        limit: Option<u32>,
        now: Timestamp,
    ) -> Result<Option<Store<MemoryStorage>>, ArchiveRestoreError> {
        let (restore, _) = self.read_archive(limit)?;
        let config = self.store.config().clone();
        Ok(restore
            .rebuild(MemoryStorage::default(), config, now)?
            .map(|(store, _)| store))
    }
}

/// Three cycles over a growing log: `fail` is called after each failed attempt.
fn scenario(world: &mut World, mut fail: impl FnMut(&mut World, CycleError)) {
    for (batch, count) in [("one", 5), ("two", 7), ("three", 3)] {
        world.writes_of(batch, count);
        world.clock += 1_000;
        while let Err(err) = world.run_cycle() {
            fail(world, err);
        }
        assert!(!world.cycle.is_pending());
        assert_eq!(world.cycle.next_deadline(), None);
        assert!(!world.flag, "the flag is cleared when a cycle completes");
    }
}

#[test]
fn a_cycle_archives_the_log_uploads_the_snapshot_and_compacts() {
    let mut world = World::new(4);
    world.writes_of("one", 9);
    world.run_cycle().unwrap();
    let head = world.store.head().seq;
    // Seqs 1..=9 in segments of 4, then the snapshot at 9.
    let ranges: Vec<_> = world
        .events
        .iter()
        .filter_map(|e| match e {
            CycleEvent::SegmentArchived {
                first_seq,
                last_seq,
                ..
            } => Some((*first_seq, *last_seq)),
            _ => None,
        })
        .collect();
    assert_eq!(ranges, [(1, 4), (5, 8), (9, 9)]);
    assert!(matches!(
        world.events[3],
        CycleEvent::SnapshotUploaded {
            seq: 9,
            segments: 3,
            ..
        }
    ));
    assert_eq!(world.events[4], CycleEvent::Compacted { through: 9 });
    assert_eq!(world.events.len(), 5);
    // The three records came after the snapshot and nothing else: a second local snapshot
    // covers them, so they alone never make another snapshot due.
    assert_eq!(head, 12);
    assert_eq!(world.store.snapshot_seq(), 12);
    assert_eq!(world.store.archived().seq, 9);
    assert_eq!(world.r2.len(), 4);
    assert_eq!(world.writes, 6, "flag, three segments, snapshot, flag");
}

#[test]
fn events_served_during_a_cycle_still_make_the_next_snapshot_due() {
    let mut world = World::new(100);
    world.writes_of("one", 3);
    let now = world.now();
    assert!(world.cycle.start(USER, now));
    let mut wrote = false;
    while let Some(step) = world.cycle.poll(&mut world.store, now).unwrap() {
        let outcome = world.perform(&step);
        if matches!(step, CycleStep::PutSegment { .. }) && !wrote {
            // A request is served while the cycle waits for R2.
            world.write("during.md", "during");
            wrote = true;
        }
        world.cycle.handle(&mut world.store, outcome, now).unwrap();
    }
    assert!(wrote);
    assert!(!world.cycle.is_pending());
    assert_eq!(world.store.snapshot_seq(), 3, "no second snapshot");
    assert_eq!(world.store.head().seq, 5);
}

#[test]
fn a_failed_step_is_retried_after_the_delay_by_the_fake_clock() {
    let mut world = World::new(4);
    world.writes_of("one", 6);
    let started = world.now();
    assert!(world.cycle.start(USER, started));
    // While a cycle is under way its deadline stands, in case its driver stops.
    assert_eq!(
        world.cycle.next_deadline(),
        Some(Timestamp(started.0 + DELAY))
    );
    assert!(!world.cycle.start(USER, started), "one attempt at a time");
    world.countdown = Some(2);
    let err = world.drive().unwrap_err();
    assert!(
        matches!(err, CycleError::SegmentUpload { ref key, .. } if key.contains("/00000000000000000005-")),
        "{err}"
    );
    assert_eq!(err.step(), "segment_upload");
    assert!(world.cycle.is_pending() && !world.cycle.is_running());
    assert!(world.flag);
    world.clock += 5_000;
    // Handing back with nothing in flight is refused and changes nothing.
    assert_eq!(
        world
            .cycle
            .handle(&mut world.store, StepOutcome::Done, Timestamp(world.clock)),
        Err(CycleError::NothingInFlight)
    );
    assert_eq!(
        world.cycle.next_deadline(),
        Some(Timestamp(started.0 + DELAY))
    );
    // A driver that cannot go on ends the attempt; the retry comes from then.
    assert!(world.cycle.start(USER, world.now()));
    world.cycle.interrupt(world.now());
    assert!(world.cycle.is_pending() && !world.cycle.is_running());
    assert_eq!(
        world.cycle.next_deadline(),
        Some(Timestamp(world.clock + DELAY))
    );
    // The clock reaches the deadline: the alarm runs the cycle again, and it completes.
    world.clock = world.cycle.next_deadline().unwrap().0;
    world.run_cycle().unwrap();
    assert!(!world.cycle.is_pending() && !world.flag);
    assert_eq!(world.cycle.next_deadline(), None);
    assert_eq!(
        world.store.archived().seq,
        7,
        "seqs 1..=6 and the record of 1..=4"
    );
}

#[test]
fn an_object_that_lost_its_memory_resumes_from_the_flag() {
    let mut world = World::new(4);
    world.writes_of("one", 6);
    world.countdown = Some(3);
    let err = world.run_cycle().unwrap_err();
    assert!(matches!(err, CycleError::SnapshotUpload { .. }), "{err}");
    assert!(world.flag);
    // Evicted: the store reopens from storage, the cycle from the flag.
    world.clock += 60_000;
    let config = world.store.config().clone();
    let fresh = Store::open(MemoryStorage::default(), config.clone())
        .unwrap()
        .0;
    let storage = std::mem::replace(&mut world.store, fresh).into_storage();
    world.store = Store::open(storage, config).unwrap().0;
    world.cycle = SnapshotCycle::resumed(DELAY, world.now());
    assert!(world.cycle.is_pending());
    assert_eq!(
        world.cycle.next_deadline(),
        Some(Timestamp(world.clock + DELAY))
    );
    world.clock += DELAY;
    world.run_cycle().unwrap();
    assert!(!world.flag);
    let restored = world.restore(None, world.now()).unwrap().unwrap();
    assert!(restored.state() == world.store.state());
}

/// The sweep: every write of three cycles fails once, refused or with its acknowledgement
/// lost; the failed attempt is retried when the clock reaches its deadline (with a request
/// served in between on every other point). After each: the cycle completed, nothing was
/// overwritten, no snapshot went up before its segments (checked on every put), and a store
/// rebuilt from the archive equals the live one.
#[test]
fn every_failed_write_is_finished_by_the_next_cycle() {
    let mut clean = World::new(4);
    scenario(&mut clean, |_, err| {
        panic!("no failure was injected: {err}")
    });
    let writes = clean.writes;
    assert_eq!(writes, 16, "flags 6, segments 2 + 3 + 2, snapshots 3");
    let mut points = 0;
    for mode in [FailMode::Refused, FailMode::AckLost] {
        for at in 0..writes {
            let mut world = World::new(4);
            world.countdown = Some(at);
            world.mode = mode;
            let mut failures = 0;
            scenario(&mut world, |world, err| {
                failures += 1;
                let failed = world.failed.clone().expect("a write failed");
                let matches = match (&failed, &err) {
                    (CycleStep::MarkPending, CycleError::MarkPending { .. })
                    | (CycleStep::ClearPending, CycleError::ClearPending { .. }) => true,
                    (
                        CycleStep::PutSegment { key, .. },
                        CycleError::SegmentUpload { key: k, .. },
                    )
                    | (
                        CycleStep::PutSnapshot { key, .. },
                        CycleError::SnapshotUpload { key: k, .. },
                    ) => key == k,
                    _ => false,
                };
                assert!(matches, "{failed:?} failed as {err:?}");
                let deadline = world.cycle.next_deadline().expect("a retry is due");
                assert_eq!(deadline, Timestamp(world.clock + DELAY));
                if at % 2 == 1 {
                    world.write("between.md", &format!("between {at}"));
                }
                world.clock = deadline.0;
            });
            assert_eq!(failures, 1, "{mode:?} at write {at}");
            let restored = world.restore(Some(u32::try_from(at % 3).unwrap() + 1), world.now());
            let restored = restored.unwrap().expect("the archive holds the log");
            assert!(
                restored.state() == world.store.state(),
                "{mode:?} at write {at}: the rebuilt store differs"
            );
            points += 1;
        }
    }
    assert_eq!(points, 32);
}

/// A world after three complete cycles of segments of up to 4 events: the archive holds
/// segments 1-4, 5, 6-9, 10-13, 14, 15-18, 19-20 and three snapshots; the newest, at seq 20,
/// had archived through seq 14.
fn archived_world() -> World {
    let mut world = World::new(4);
    scenario(&mut world, |_, err| {
        panic!("no failure was injected: {err}")
    });
    world
}

fn segment_key(world: &World, first: u64) -> String {
    let (_, segments) = world.listed();
    segments
        .into_iter()
        .find(|s| s.first == first)
        .unwrap_or_else(|| panic!("no segment starts at {first}"))
        .key
}

fn newest_snapshot_key(world: &World) -> String {
    let (snapshots, _) = world.listed();
    snapshots.into_iter().max_by_key(|s| s.seq).unwrap().key
}

#[test]
fn the_archive_rebuilds_the_live_store_through_pages_of_any_size() {
    let world = archived_world();
    let (snapshots, segments) = world.listed();
    assert_eq!(snapshots.len(), 3);
    let ranges: Vec<_> = segments.iter().map(|s| (s.first, s.last)).collect();
    assert_eq!(
        ranges,
        [
            (1, 4),
            (5, 5),
            (6, 9),
            (10, 13),
            (14, 14),
            (15, 18),
            (19, 20)
        ]
    );
    let mut calls = Vec::new();
    for limit in [Some(1), Some(2), Some(3), None] {
        let (_, made) = world.read_archive(limit).unwrap();
        calls.push(made);
        let restored = world.restore(limit, world.now()).unwrap().unwrap();
        assert!(
            restored.state() == world.store.state(),
            "pages of {limit:?}"
        );
    }
    // Lists: 3 + 7 keys in pages; gets: the snapshot and the 2 segments after 14.
    assert_eq!(calls, [3 + 7 + 3, 2 + 4 + 3, 1 + 3 + 3, 2 + 3]);
}

#[test]
fn an_empty_archive_means_a_new_user() {
    let world = World::new(4);
    let (restore, calls) = world.read_archive(Some(2)).unwrap();
    assert_eq!(calls, 2, "one list of each prefix");
    let rebuilt = restore
        .rebuild(MemoryStorage::default(), Config::default(), world.now())
        .unwrap();
    assert!(rebuilt.is_none());
}

#[test]
fn a_listed_object_that_is_gone_is_missing() {
    let mut world = archived_world();
    let key = segment_key(&world, 15);
    world.vanished.insert(key.clone());
    let err = world.restore(Some(3), world.now()).unwrap_err();
    assert_eq!(err, ArchiveRestoreError::Missing { key });
    let mut world = archived_world();
    let key = newest_snapshot_key(&world);
    world.vanished.insert(key.clone());
    let err = world.restore(None, world.now()).unwrap_err();
    assert_eq!(err, ArchiveRestoreError::Missing { key });
}

#[test]
fn bytes_that_are_not_what_their_key_names_are_corrupt() {
    let mut world = archived_world();
    let key = segment_key(&world, 19);
    let bytes = world.r2.get_mut(&key).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    let err = world.restore(None, world.now()).unwrap_err();
    assert!(
        matches!(err, ArchiveRestoreError::Corrupt { key: ref k, reason: Corruption::Digest(_) } if *k == key),
        "{err}"
    );
    let mut world = archived_world();
    let key = newest_snapshot_key(&world);
    let bytes = world.r2.get_mut(&key).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 1;
    let err = world.restore(None, world.now()).unwrap_err();
    assert!(
        matches!(err, ArchiveRestoreError::Corrupt { key: ref k, reason: Corruption::Snapshot(_) } if *k == key),
        "{err}"
    );
}

#[test]
fn a_gap_in_the_segments_is_refused() {
    let mut world = archived_world();
    world.r2.remove(&segment_key(&world, 6));
    let err = world.restore(Some(2), world.now()).unwrap_err();
    assert_eq!(err, ArchiveRestoreError::Gap { from: 6, to: 9 });
    assert!(err.to_string().contains("lacks the segment"), "{err}");
    // The newest snapshot records seqs up to 14 as archived; without the segments from 14 on
    // the archive ends at 13.
    let mut world = archived_world();
    for first in [14, 15, 19] {
        world.r2.remove(&segment_key(&world, first));
    }
    let err = world.restore(None, world.now()).unwrap_err();
    assert_eq!(err, ArchiveRestoreError::Gap { from: 14, to: 14 });
}

#[test]
fn overlapping_segments_from_an_interrupted_cycle_restore() {
    // Segments as long as the plan: an acknowledgement lost on the first segment leaves
    // 1..=5 in R2 unrecorded; the retry, after one more write, archives 1..=6.
    let mut world = World::new(1_000);
    world.writes_of("one", 5);
    world.mode = FailMode::AckLost;
    world.countdown = Some(1);
    let err = world.run_cycle().unwrap_err();
    assert!(matches!(err, CycleError::SegmentUpload { .. }), "{err}");
    world.write("more.md", "more");
    world.clock = world.cycle.next_deadline().unwrap().0;
    world.run_cycle().unwrap();
    let (_, segments) = world.listed();
    let ranges: Vec<_> = segments.iter().map(|s| (s.first, s.last)).collect();
    assert_eq!(ranges, [(1, 5), (1, 6)]);
    let restored = world.restore(Some(1), world.now()).unwrap().unwrap();
    assert!(restored.state() == world.store.state());
}

#[test]
fn failed_calls_and_answers_out_of_order_end_the_restore() {
    let mut restore = ArchiveRestore::new(USER, None);
    assert_eq!(
        restore.handle(RestoreAnswer::Object(None)),
        Err(ArchiveRestoreError::OutOfOrder)
    );
    let mut restore = ArchiveRestore::new(USER, None);
    restore.poll().unwrap();
    assert!(restore.poll().is_none(), "one call at a time");
    let err = restore
        .handle(RestoreAnswer::Failed("R2 is down".into()))
        .unwrap_err();
    assert!(
        matches!(err, ArchiveRestoreError::List { ref prefix, .. } if *prefix == archive::snapshot_prefix(USER))
    );
    assert!(
        restore.poll().is_none(),
        "a failed restore asks for nothing more"
    );
    // A listing that hands back a cursor it gave before would never end.
    let mut restore = ArchiveRestore::new(USER, Some(1));
    let page = |cursor: &str| RestoreAnswer::Listed {
        keys: vec![],
        cursor: Some(cursor.to_owned()),
    };
    restore.poll().unwrap();
    restore.handle(page("a")).unwrap();
    assert_eq!(
        restore.poll(),
        Some(RestoreStep::List {
            prefix: archive::snapshot_prefix(USER),
            cursor: Some("a".into()),
            limit: Some(1),
        })
    );
    restore.handle(page("b")).unwrap();
    restore.poll().unwrap();
    assert!(matches!(
        restore.handle(page("a")),
        Err(ArchiveRestoreError::ListLoop { .. })
    ));
    let unread = ArchiveRestore::new(USER, None);
    assert!(!unread.is_read());
    assert!(matches!(
        unread.rebuild(MemoryStorage::default(), Config::default(), Timestamp(1)),
        Err(ArchiveRestoreError::OutOfOrder)
    ));
}
