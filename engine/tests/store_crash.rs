//! Crash consistency of the whole store on file storage: a power cut after any disk operation
//! recovers to a state that holds every acknowledged command, and at most the one in flight.
//!
//! The workload runs on `FileStorage<SimDisk>`. For every k, the disk fails from its k-th
//! operation on (the machine dies there); the disk then loses a seeded share of its unsynced
//! bytes, and the store is reopened on what is left.

use std::collections::BTreeMap;

use engine::file_storage::FileStorage;
use engine::sim_disk::{Cut, SimDisk};
use engine::store::WriteRequest;
use engine::{Config, EventId, Hash, Store, Timestamp};

type Files = BTreeMap<String, (Hash, u64)>;

fn files<S: engine::Storage>(store: &Store<S>) -> Files {
    store
        .notes()
        .collect()
        .expect("notes")
        .files()
        .iter()
        .map(|(p, e)| (p.to_string(), (e.hash, e.version)))
        .collect()
}

/// Runs the workload until the first failure. Returns the states after each acknowledged
/// command (index 0: empty) and whether it ran to the end.
fn workload(store: &mut Store<FileStorage<&mut SimDisk>>) -> (Vec<Files>, bool) {
    let mut states = vec![files(store)];
    for n in 0..24u64 {
        let now = Timestamp(1_000 + n);
        let id = EventId::derive(&n.to_be_bytes());
        let path = format!("notes/{}.md", n % 5);
        let ok = match n % 8 {
            3 => {
                store.delete(id, &path, None, now).is_ok()
                    || store.notes().file(&path).is_ok_and(|e| e.is_none())
            }
            5 => store.take_snapshot().is_ok(),
            7 => {
                let mut ok = true;
                for range in store.compaction_plan().segments {
                    let archived = store
                        .encode_segment(*range.start(), *range.end())
                        .and_then(|seg| store.record_archived(&seg, now));
                    if archived.is_err() {
                        ok = false;
                        break;
                    }
                }
                ok && store.compact().is_ok()
            }
            _ => {
                let text = format!("note {n}");
                let req = WriteRequest {
                    id,
                    path: &path,
                    content: text.as_bytes(),
                    media_type: "text/markdown",
                    expected_version: None,
                    edit: false,
                };
                store
                    .plan_write(&req)
                    .and_then(|plan| store.write(&req, &plan, now))
                    .is_ok()
            }
        };
        if !ok {
            return (states, false);
        }
        states.push(files(store));
    }
    (states, true)
}

#[test]
fn every_crash_point_recovers_every_acknowledged_command() {
    let mut crash_points = 0;
    for k in 0.. {
        let mut disk = SimDisk::new();
        disk.fail_after(k);
        let (states, finished) = {
            let Ok(storage) = FileStorage::open(&mut disk) else {
                crash_points += 1;
                continue;
            };
            let Ok((mut store, _)) = Store::open(storage, Config::default()) else {
                crash_points += 1;
                continue;
            };
            workload(&mut store)
        };
        for seed in 0..4 {
            let mut crashed = disk.clone();
            crashed.heal();
            crashed.crash(Cut::Seeded(seed * 7 + k));
            let storage = FileStorage::open(&mut crashed).expect("recovery opens");
            let (store, _) = Store::open(storage, Config::default()).expect("store reopens");
            let recovered = files(&store);
            let acknowledged = states.len() - 1;
            // Every acknowledged command survived; the one in flight may have, too.
            let ok = recovered == states[acknowledged]
                || (!finished && in_flight_landed(&recovered, &states[acknowledged]));
            assert!(
                ok,
                "crash at op {k}, seed {seed}: recovered {recovered:?}, acknowledged {:?}",
                states[acknowledged]
            );
            crash_points += 1;
        }
        if finished {
            break;
        }
        assert!(k < 10_000, "the workload never finished");
    }
    println!("{crash_points} crash points recovered");
    assert!(crash_points > 100);
}

/// Whether `recovered` is `acknowledged` plus the one command in flight: a write (one note at
/// its next version) or a delete (one note gone).
fn in_flight_landed(recovered: &Files, acknowledged: &Files) -> bool {
    let changed: Vec<&String> = recovered
        .keys()
        .chain(acknowledged.keys())
        .filter(|p| recovered.get(*p) != acknowledged.get(*p))
        .collect();
    let [path] = changed.as_slice() else {
        return false;
    };
    match (acknowledged.get(*path), recovered.get(*path)) {
        (Some((_, before)), Some((_, after))) => *after == before + 1,
        (None, Some(_)) | (Some(_), None) => true,
        (None, None) => false,
    }
}
