//! Crash consistency of [`FileStorage`], after redb's approach: a disk that keeps written bytes
//! apart from durable ones ([`SimDisk`]).
//!
//! - `every_crash_point_recovers_to_whole_calls`: scripted workloads cut by a power failure
//!   after every operation `k`, each crash replayed with several choices of which unsynced
//!   bytes survive (torn writes included); the reopened storage must hold exactly the
//!   calls that returned `Ok`, plus possibly the one in flight, whole.
//! - `every_torn_byte_of_a_small_workload_recovers`: the same, with every possible tear.
//! - `a_crash_during_recovery_is_recovered_from`: a second power cut inside the recovering open.
//! - `random_calls_with_failing_disk_match_memory_storage`: random call sequences with I/O
//!   failing on a countdown, against [`MemoryStorage`] as the reference model.

use engine::envelope::{StoredEvent, chain_hash};
use engine::file_storage::FileStorage;
use engine::ids::Hash;
use engine::sim::SplitMix64 as Rng;
use engine::sim_disk::{Cut, SimDisk};
use engine::storage::{MemoryStorage, Storage, StorageError, StoredSnapshot};

/// One call on a storage.
#[derive(Debug, Clone)]
enum Call {
    Append(Vec<StoredEvent>),
    PutSnapshot(StoredSnapshot),
    DropThrough(u64),
    Read { from: u64, max: usize },
}

/// A call, briefly, for messages.
fn describe(call: &Call) -> String {
    match call {
        Call::Append(events) => format!(
            "append {:?}",
            events.iter().map(|e| e.seq).collect::<Vec<_>>()
        ),
        Call::PutSnapshot(s) => format!("put snapshot at {}", s.seq),
        Call::DropThrough(seq) => format!("drop through {seq}"),
        Call::Read { from, max } => format!("read {max} from {from}"),
    }
}

/// What a call returned, reads included.
type Outcome = Result<Option<Vec<StoredEvent>>, StorageError>;

fn apply(storage: &mut impl Storage, call: &Call) -> Outcome {
    match call {
        Call::Append(events) => storage.append(events).map(|()| None),
        Call::PutSnapshot(snapshot) => storage.put_snapshot(snapshot).map(|()| None),
        Call::DropThrough(seq) => storage.drop_through(*seq).map(|()| None),
        Call::Read { from, max } => storage.read(*from, *max).map(Some),
    }
}

/// Everything a storage holds.
type State = (Vec<StoredEvent>, Option<StoredSnapshot>);

fn state(storage: &impl Storage) -> State {
    (
        storage.read(0, usize::MAX).expect("read all"),
        storage.snapshot().expect("read the snapshot"),
    )
}

/// `count` events after `last` (seq, hash), chained with [`chain_hash`] over random bytes.
fn events_after(rng: &mut Rng, last: (u64, Hash), count: u64) -> Vec<StoredEvent> {
    let (mut seq, mut hash) = last;
    (0..count)
        .map(|_| {
            let bytes = random_bytes(rng, 60);
            seq += 1;
            hash = chain_hash(&hash, &bytes);
            StoredEvent { seq, hash, bytes }
        })
        .collect()
}

fn last_of(events: &[StoredEvent], fallback: u64) -> (u64, Hash) {
    events
        .last()
        .map_or((fallback, Hash::ZERO), |e| (e.seq, e.hash))
}

/// A valid workload: appends of 1 to 5 events, snapshot puts and drops, as the engine makes.
fn workload(seed: u64, calls: usize) -> Vec<Call> {
    let mut rng = Rng::new(seed);
    let mut reference = MemoryStorage::new();
    let mut last = (0, Hash::ZERO);
    let mut out = Vec::with_capacity(calls);
    while out.len() < calls {
        let stored = reference.read(0, usize::MAX).unwrap();
        let call = match rng.below(10) {
            0..=5 => {
                let count = 1 + rng.below(5);
                Call::Append(events_after(&mut rng, last, count))
            }
            6 | 7 => Call::PutSnapshot(StoredSnapshot {
                seq: last.0,
                bytes: random_bytes(&mut rng, 100),
            }),
            _ => {
                let first = stored.first().map_or(0, |e| e.seq);
                Call::DropThrough(first + rng.below(stored.len() as u64 + 2))
            }
        };
        apply(&mut reference, &call).unwrap();
        if let Call::Append(events) = &call {
            last = last_of(events, last.0);
        }
        out.push(call);
    }
    out
}

/// The hand-written workload: every kind of call, drops in the middle of a batch, a drop of
/// everything, and snapshots replaced over each other.
fn scripted() -> Vec<Call> {
    let mut rng = Rng::new(7);
    let a = events_after(&mut rng, (0, Hash::ZERO), 2);
    let b = events_after(&mut rng, last_of(&a, 0), 1);
    let c = events_after(&mut rng, last_of(&b, 0), 5);
    let d = events_after(&mut rng, last_of(&c, 0), 2);
    let e = events_after(&mut rng, last_of(&d, 0), 3);
    let f = events_after(&mut rng, last_of(&e, 0), 4);
    let snap = |seq: u64, fill: u8| {
        Call::PutSnapshot(StoredSnapshot {
            seq,
            bytes: vec![fill; 40 + seq as usize],
        })
    };
    vec![
        Call::Append(a),
        Call::Append(b),
        snap(2, 1),
        Call::Append(c),
        Call::DropThrough(5),
        Call::Append(d),
        snap(8, 2),
        Call::DropThrough(8),
        Call::Append(e),
        Call::DropThrough(100),
        Call::Append(f),
        snap(13, 3),
        Call::DropThrough(14),
    ]
}

/// The tear choices every crash point is replayed with.
fn cuts() -> Vec<Cut> {
    let mut cuts = vec![Cut::Nothing, Cut::Everything];
    for n in [1, 15, 16, 40, 63, 64, 65, 100, 170, 300] {
        cuts.push(Cut::Keep(n));
    }
    for n in [10, 64, 90, 200] {
        cuts.push(Cut::KeepZeroFilled(n));
    }
    cuts.extend((0..4).map(Cut::Seeded));
    cuts
}

/// The disk after running `calls` with a power cut after operation `k`, what the calls that
/// returned `Ok` left, and what the call in flight would have left.
fn run_until_power_cut(calls: &[Call], k: u64) -> (SimDisk, MemoryStorage, Option<MemoryStorage>) {
    let mut disk = SimDisk::new();
    disk.fail_after(k);
    let mut acked = MemoryStorage::new();
    let mut in_flight = None;
    if let Ok(mut storage) = FileStorage::open(&mut disk) {
        for call in calls {
            let mut after = acked.clone();
            apply(&mut after, call).unwrap();
            match apply(&mut storage, call) {
                Ok(_) => acked = after,
                Err(_) => {
                    // The power is gone: nothing runs after the first failure.
                    in_flight = Some(after);
                    break;
                }
            }
        }
    }
    (disk, acked, in_flight)
}

/// Reopens a crashed disk and checks it holds `acked` or `in_flight`, and nothing else.
fn check_recovery(
    mut disk: SimDisk,
    acked: &MemoryStorage,
    in_flight: Option<&MemoryStorage>,
    what: &str,
) {
    let storage = match FileStorage::open(&mut disk) {
        Ok(storage) => storage,
        Err(e) => panic!("{what}: recovery failed: {e}"),
    };
    let got = state(&storage);
    // Contiguous, with a valid chain wherever two events meet.
    for pair in got.0.windows(2) {
        assert_eq!(pair[1].seq, pair[0].seq + 1, "{what}: not contiguous");
        assert_eq!(
            pair[1].hash,
            chain_hash(&pair[0].hash, &pair[1].bytes),
            "{what}: chain broken"
        );
    }
    let matches = |reference: &MemoryStorage| {
        if state(reference) != got {
            return false;
        }
        // Every window reads the same as the reference.
        let first = got.0.first().map_or(0, |e| e.seq);
        (first..first + got.0.len() as u64 + 1).all(|from| {
            [1, 2, 7]
                .iter()
                .all(|&max| storage.read(from, max).unwrap() == reference.read(from, max).unwrap())
        })
    };
    assert!(
        matches(acked) || in_flight.is_some_and(matches),
        "{what}: recovered {:?} events (snapshot {:?}); acked {:?}, in flight {:?}",
        got.0.iter().map(|e| e.seq).collect::<Vec<_>>(),
        got.1.as_ref().map(|s| s.seq),
        seqs(acked),
        in_flight.map(seqs),
    );
}

/// The seqs and snapshot seq of a state, for messages.
fn brief(state: &State) -> (Vec<u64>, Option<u64>) {
    (
        state.0.iter().map(|e| e.seq).collect(),
        state.1.as_ref().map(|s| s.seq),
    )
}

/// Asserts two states are equal, saying briefly how they differ.
#[track_caller]
fn assert_same(got: &State, want: &State, what: &str) {
    assert!(
        got == want,
        "{what}: got {:?}, want {:?}",
        brief(got),
        brief(want)
    );
}

fn seqs(storage: &MemoryStorage) -> Vec<u64> {
    storage
        .read(0, usize::MAX)
        .unwrap()
        .iter()
        .map(|e| e.seq)
        .collect()
}

/// Operations a full, failure-free run of `calls` performs.
fn ops_of(calls: &[Call]) -> u64 {
    let (disk, _, in_flight) = run_until_power_cut(calls, u64::MAX);
    assert!(in_flight.is_none());
    disk.ops()
}

/// Crashes after every operation of `calls`, replays each crash with every cut, and returns
/// (crash points, reopens).
fn sweep(calls: &[Call], cuts: impl Fn(&SimDisk) -> Vec<Cut>) -> (u64, u64) {
    let total = ops_of(calls);
    let mut reopens = 0;
    for k in 0..=total {
        let (disk, acked, in_flight) = run_until_power_cut(calls, k);
        for cut in cuts(&disk) {
            let mut crashed = disk.clone();
            crashed.heal();
            crashed.crash(cut);
            let what = format!("power cut after operation {k} of {total}, {cut:?}");
            check_recovery(crashed, &acked, in_flight.as_ref(), &what);
            reopens += 1;
        }
    }
    (total + 1, reopens)
}

#[test]
fn every_crash_point_recovers_to_whole_calls() {
    let cuts = cuts();
    let mut points = 0;
    let mut reopens = 0;
    let mut workloads = vec![scripted()];
    workloads.extend((1..=6).map(|seed| workload(seed, 30)));
    for calls in &workloads {
        let (p, r) = sweep(calls, |_| cuts.clone());
        points += p;
        reopens += r;
    }
    eprintln!(
        "crash sweep: {} workloads, {points} crash points, {} cuts each, {reopens} recoveries checked",
        workloads.len(),
        cuts.len()
    );
}

#[test]
fn every_torn_byte_of_a_small_workload_recovers() {
    let calls = scripted();
    let (points, reopens) = sweep(&calls[..9], |disk| {
        let most = disk
            .names()
            .map(|name| disk.unsynced_units(name))
            .max()
            .unwrap_or(0);
        (0..=most)
            .flat_map(|n| [Cut::Keep(n), Cut::KeepZeroFilled(n)])
            .collect()
    });
    eprintln!("exhaustive tears: {points} crash points, {reopens} recoveries checked");
}

#[test]
fn a_crash_during_recovery_is_recovered_from() {
    let calls = scripted();
    let total = ops_of(&calls);
    let mut reopens = 0;
    for k in 0..=total {
        let (disk, acked, in_flight) = run_until_power_cut(&calls, k);
        for cut in [Cut::Everything, Cut::Keep(70), Cut::KeepZeroFilled(100)] {
            let mut crashed = disk.clone();
            crashed.heal();
            crashed.crash(cut);
            // Open, cut the power again after each of its operations, and open again.
            let open_ops = {
                let mut probe = crashed.clone();
                let before = probe.ops();
                FileStorage::open(&mut probe).unwrap();
                probe.ops() - before
            };
            for j in 0..open_ops {
                let mut twice = crashed.clone();
                twice.fail_after(j);
                assert!(FileStorage::open(&mut twice).is_err());
                twice.heal();
                twice.crash(Cut::Seeded(j));
                let what = format!("power cut after operation {k}, {cut:?}, again in open at {j}");
                check_recovery(twice, &acked, in_flight.as_ref(), &what);
                reopens += 1;
            }
        }
    }
    eprintln!("crashes during recovery: {reopens} recoveries checked");
}

/// One random call, valid or (sometimes) not, given what the reference holds.
fn random_call(rng: &mut Rng, reference: &MemoryStorage, next_seq: u64) -> Call {
    let stored = reference.read(0, usize::MAX).unwrap();
    let last = last_of(&stored, next_seq - 1);
    let first = stored.first().map_or(next_seq, |e| e.seq);
    match rng.below(20) {
        0..=8 => {
            let count = 1 + rng.below(5);
            Call::Append(events_after(rng, last, count))
        }
        9 => {
            // Not the next seq, or a gap inside the batch: both must be refused alike.
            let mut events = events_after(rng, last, 3);
            if rng.below(2) == 0 {
                events.iter_mut().for_each(|e| e.seq += 1);
            } else {
                events[2].seq += 1;
            }
            Call::Append(events)
        }
        10..=12 => Call::PutSnapshot(StoredSnapshot {
            seq: last.0,
            bytes: random_bytes(rng, 80),
        }),
        13 | 14 => Call::DropThrough(first + rng.below(stored.len() as u64 + 2)),
        _ => Call::Read {
            from: first + rng.below(stored.len() as u64 + 2),
            max: rng.below(6) as usize,
        },
    }
}

#[test]
fn random_calls_with_failing_disk_match_memory_storage() {
    let (mut calls, mut failures, mut crashes, mut clean_reopens) = (0, 0, 0, 0);
    let mut late_wholes = 0;
    for seed in 0..60 {
        let mut rng = Rng::new(1000 + seed);
        let mut disk = SimDisk::new();
        let mut reference = MemoryStorage::new();
        let mut next_seq = 1;
        let mut storage = FileStorage::open(&mut disk).unwrap();
        for step in 0..150 {
            let call = random_call(&mut rng, &reference, next_seq);
            let what = format!("seed {seed} step {step}: {}", describe(&call));
            match rng.below(10) {
                0 => storage.disk_mut().fail_once_after(rng.below(6)),
                1 => storage.disk_mut().fail_after(rng.below(6)),
                2 => storage.disk_mut().fail_once_late_after(rng.below(6)),
                _ => {}
            }
            let before = reference.clone();
            let mut after = reference.clone();
            let expected = apply(&mut after, &call);
            let got = apply(&mut storage, &call);
            storage.disk_mut().heal();
            calls += 1;
            match (&got, &expected) {
                (Ok(got), Ok(expected)) => {
                    assert_eq!(got, expected, "{what}");
                    reference = after;
                }
                (Err(_), Err(_)) => assert_same(&state(&storage), &state(&before), &what),
                (Ok(_), Err(e)) => panic!("{what}: accepted a call the reference refused: {e}"),
                (Err(_), Ok(_)) => {
                    // A disk failure: in place, the call is absent, or whole where the disk
                    // could not tell (a late failure of a rename)...
                    failures += 1;
                    if state(&storage) == state(&after) && state(&after) != state(&before) {
                        late_wholes += 1;
                        reference = after.clone();
                    } else {
                        assert_same(&state(&storage), &state(&before), &what);
                    }
                    // ...and after a crash it is whole or absent.
                    if rng.below(2) == 0 {
                        crashes += 1;
                        let mut crashed = SimDisk::clone(storage.disk());
                        crashed.crash(Cut::Seeded(rng.next_u64()));
                        drop(storage);
                        disk = crashed;
                        storage = FileStorage::open(&mut disk)
                            .unwrap_or_else(|e| panic!("{what}: reopen failed: {e}"));
                        let now = state(&storage);
                        if now == state(&after) {
                            reference = after;
                        } else {
                            assert_same(&now, &state(&reference), &what);
                        }
                    }
                }
            }
            if let Call::Append(events) = &call {
                next_seq = next_seq.max(events.last().map_or(0, |e| e.seq) + 1);
            }
            assert_same(&state(&storage), &state(&reference), &what);
            // After a successful change nothing is pending: a crash that keeps no unsynced
            // byte, and a plain reopen, both show exactly the reference.
            if got.is_ok() && !matches!(call, Call::Read { .. }) && rng.below(4) == 0 {
                clean_reopens += 1;
                for cut in [Cut::Nothing, Cut::Everything] {
                    let mut crashed = SimDisk::clone(storage.disk());
                    crashed.crash(cut);
                    let reopened = FileStorage::open(&mut crashed).unwrap();
                    assert_same(
                        &state(&reopened),
                        &state(&reference),
                        &format!("{what} {cut:?}"),
                    );
                }
            }
        }
    }
    eprintln!(
        "model test: {calls} calls, {failures} failed on the disk ({late_wholes} of them complete \
         nonetheless), {crashes} crashed and reopened, {clean_reopens} clean reopens"
    );
}

/// Up to `max_len` random bytes.
fn random_bytes(rng: &mut Rng, max_len: u64) -> Vec<u8> {
    let len = rng.below(max_len + 1);
    (0..len).map(|_| rng.next_u64() as u8).collect()
}
