//! Unit tests of [`FileStorage`] on a [`SimDisk`]: round trips, recovery rules, corruption and
//! failed calls. The crash-point sweep and the model-based test are in `engine/tests/crash.rs`.

use super::*;
use crate::envelope::chain_hash;
use crate::ids::Hash;
use crate::sim_disk::{Cut, SimDisk};

/// Events `from..from+n` chained after `prev`, with bytes of varying length.
fn chain(prev: Hash, from: u64, n: u64) -> Vec<StoredEvent> {
    let mut prev = prev;
    (from..from + n)
        .map(|seq| {
            let bytes = vec![seq as u8; 3 + (seq % 7) as usize];
            prev = chain_hash(&prev, &bytes);
            StoredEvent {
                seq,
                hash: prev,
                bytes,
            }
        })
        .collect()
}

fn all(storage: &FileStorage<SimDisk>) -> Vec<StoredEvent> {
    storage.read(0, usize::MAX).unwrap()
}

/// A log holding three batches: seqs 1-2, 3-5, 6.
fn three_batches() -> (SimDisk, Vec<StoredEvent>) {
    let events = chain(Hash::ZERO, 1, 6);
    let mut storage = FileStorage::open(SimDisk::new()).unwrap();
    for batch in [&events[0..2], &events[2..5], &events[5..6]] {
        storage.append(batch).unwrap();
    }
    (storage.into_disk(), events)
}

fn log_bytes(disk: &SimDisk) -> Vec<u8> {
    disk.file(LOG_FILE).unwrap().to_vec()
}

#[test]
fn stores_reads_snapshots_and_drops_across_reopens() {
    let events = chain(Hash::ZERO, 1, 8);
    let mut storage = FileStorage::open(SimDisk::new()).unwrap();
    assert!(storage.recovery().created);
    storage.append(&events[..3]).unwrap();
    storage.append(&events[3..]).unwrap();
    assert_eq!(storage.read(3, 2).unwrap(), events[2..4]);
    assert_eq!(storage.read(9, 2).unwrap(), []);
    assert_eq!(storage.read(0, 0).unwrap(), []);
    assert_eq!(storage.snapshot().unwrap(), None);
    let snap = StoredSnapshot {
        seq: 4,
        bytes: b"state at 4".to_vec(),
    };
    storage.put_snapshot(&snap).unwrap();
    // Drop in the middle of the second batch: the rewritten log must still open.
    storage.drop_through(4).unwrap();
    assert_eq!(all(&storage), events[4..]);

    let mut storage = FileStorage::open(storage.into_disk()).unwrap();
    assert_eq!(storage.recovery(), Recovery::default());
    assert_eq!(all(&storage), events[4..]);
    assert_eq!(storage.snapshot().unwrap(), Some(snap));
    storage.append(&chain(events[7].hash, 9, 1)).unwrap();
    assert_eq!(storage.len(), 5);

    storage.drop_through(100).unwrap();
    assert!(storage.is_empty());
    // An empty log takes any first seq, like `MemoryStorage`.
    storage.append(&chain(Hash::ZERO, 50, 2)).unwrap();
    let storage = FileStorage::open(storage.into_disk()).unwrap();
    assert_eq!(all(&storage), chain(Hash::ZERO, 50, 2));
}

#[test]
fn appends_must_continue_the_log() {
    let events = chain(Hash::ZERO, 1, 4);
    let mut storage = FileStorage::open(SimDisk::new()).unwrap();
    storage.append(&events[..2]).unwrap();
    let before = log_bytes(storage.disk());
    assert_eq!(
        storage.append(&events[3..]),
        Err(AppendError::NotNext {
            expected: 3,
            found: 4
        })
    );
    let gap = [events[2].clone(), events[0].clone()];
    assert!(matches!(
        storage.append(&gap),
        Err(AppendError::NotNext { .. })
    ));
    let huge = StoredEvent {
        seq: 3,
        hash: Hash::ZERO,
        bytes: vec![0; MAX_EVENT_BYTES + 1],
    };
    assert!(matches!(
        storage.append(&[huge]),
        Err(AppendError::TooLarge { seq: 3, .. })
    ));
    assert_eq!(
        log_bytes(storage.disk()),
        before,
        "refused appends write nothing"
    );
    storage.append(&[]).unwrap();
    storage.append(&events[2..]).unwrap();
    assert_eq!(all(&storage), events);
}

#[test]
fn a_torn_tail_is_cut_back_to_the_last_whole_batch() {
    let (disk, events) = three_batches();
    let full = log_bytes(&disk);
    let third = full.len() - (80 + events[5].bytes.len());
    // The second batch ends where the third begins; find where the second begins.
    let mut sizes: Vec<usize> = events.iter().map(|e| 80 + e.bytes.len()).collect();
    sizes.insert(0, 16);
    let second = sizes[..3].iter().sum::<usize>();
    assert_eq!(second + sizes[3..6].iter().sum::<usize>(), third);
    for cut in 0..full.len() {
        let mut disk = disk.clone();
        disk.put_file(LOG_FILE, full[..cut].to_vec());
        let result = FileStorage::open(disk);
        if cut < 16 {
            assert_eq!(result.err(), Some(OpenError::NotALog), "cut at {cut}");
            continue;
        }
        let storage = result.unwrap();
        let kept = if cut < second {
            0
        } else if cut < third {
            2
        } else {
            5
        };
        assert_eq!(all(&storage), events[..kept], "cut at {cut}");
        let recovery = storage.recovery();
        let end = [16, second, third][[0, 2, 5].iter().position(|&k| k == kept).unwrap()];
        assert_eq!(recovery.truncated_bytes, (cut - end) as u64);
        assert_eq!(
            log_bytes(storage.disk()).len(),
            end,
            "the tail is cut off the file"
        );
    }
}

#[test]
fn zeroed_or_garbage_tails_are_torn_writes() {
    let (disk, events) = three_batches();
    let full = log_bytes(&disk);
    for tail in [
        vec![0u8; 300],
        b"SBev garbage that merely starts like a frame".to_vec(),
    ] {
        let mut bytes = full.clone();
        bytes.extend_from_slice(&tail);
        let mut disk = disk.clone();
        disk.put_file(LOG_FILE, bytes);
        let storage = FileStorage::open(disk).unwrap();
        assert_eq!(all(&storage), events);
        assert_eq!(storage.recovery().truncated_bytes, tail.len() as u64);
    }
    // A header alone, then garbage: an empty log.
    let mut disk = disk.clone();
    let mut bytes = full[..16].to_vec();
    bytes.extend_from_slice(&[0xAB; 100]);
    disk.put_file(LOG_FILE, bytes);
    let storage = FileStorage::open(disk).unwrap();
    assert!(storage.is_empty());
}

#[test]
fn damage_followed_by_intact_frames_is_corruption() {
    let (disk, events) = three_batches();
    let full = log_bytes(&disk);
    let last_batch = full.len() - (80 + events[5].bytes.len());
    let mut corrupt = 0;
    for at in 16..full.len() {
        let mut bytes = full.clone();
        bytes[at] ^= 0x20;
        let mut disk = disk.clone();
        disk.put_file(LOG_FILE, bytes);
        match FileStorage::open(disk) {
            Ok(storage) => {
                // Only damage to the last batch can pass for a torn write of it.
                assert!(at >= last_batch, "flip at {at} was silently cut");
                assert_eq!(all(&storage), events[..5]);
            }
            Err(OpenError::Corrupt(Corruption::DamagedFrame { offset, .. })) => {
                assert!(at < last_batch && offset <= at as u64);
                corrupt += 1;
            }
            Err(other) => panic!("flip at {at}: unexpected {other:?}"),
        }
    }
    assert_eq!(corrupt, last_batch - 16);
}

#[test]
fn files_that_are_not_logs_are_refused() {
    let mut disk = SimDisk::new();
    disk.put_file(LOG_FILE, b"definitely not a log file, just text".to_vec());
    assert_eq!(FileStorage::open(disk).err(), Some(OpenError::NotALog));

    let mut disk = SimDisk::new();
    disk.put_file(LOG_FILE, Vec::new());
    assert_eq!(FileStorage::open(disk).err(), Some(OpenError::NotALog));

    let (mut disk, _) = three_batches();
    let mut bytes = log_bytes(&disk);
    bytes[8] = 2;
    disk.put_file(LOG_FILE, bytes);
    assert_eq!(
        FileStorage::open(disk).err(),
        Some(OpenError::UnsupportedVersion {
            version: 2,
            flags: 0
        })
    );

    let (mut disk, _) = three_batches();
    let mut bytes = log_bytes(&disk);
    bytes[12] = 1;
    disk.put_file(LOG_FILE, bytes);
    assert_eq!(
        FileStorage::open(disk).err(),
        Some(OpenError::UnsupportedVersion {
            version: 1,
            flags: 1
        })
    );

    let mut disk = SimDisk::new();
    disk.put_file(SNAPSHOT_FILE, b"whatever".to_vec());
    assert_eq!(FileStorage::open(disk).err(), Some(OpenError::MissingLog));
}

#[test]
fn intact_frames_out_of_order_are_corruption() {
    let events = chain(Hash::ZERO, 1, 3);
    let mut bytes = format::file_header(LOG_MAGIC).to_vec();
    format::encode_frame(&mut bytes, &events[0], 0, 1);
    format::encode_frame(&mut bytes, &events[2], 0, 1);
    let mut disk = SimDisk::new();
    disk.put_file(LOG_FILE, bytes);
    assert!(matches!(
        FileStorage::open(disk).err(),
        Some(OpenError::Corrupt(Corruption::OutOfOrder {
            expected: 2,
            found: 3,
            ..
        }))
    ));

    let mut bytes = format::file_header(LOG_MAGIC).to_vec();
    format::encode_frame(&mut bytes, &events[0], 0, 2);
    format::encode_frame(&mut bytes, &events[1], 0, 1);
    let mut disk = SimDisk::new();
    disk.put_file(LOG_FILE, bytes);
    assert!(matches!(
        FileStorage::open(disk).err(),
        Some(OpenError::Corrupt(Corruption::BrokenBatch { .. }))
    ));
}

#[test]
fn reads_check_the_bytes_again() {
    let (disk, _) = three_batches();
    let storage = FileStorage::open(disk).unwrap();
    let mut storage = storage;
    let mut bytes = log_bytes(storage.disk());
    bytes[16 + 70] ^= 1;
    storage.disk_mut().put_file(LOG_FILE, bytes);
    assert!(matches!(
        storage.read(1, 1),
        Err(ReadError::Corrupt(Corruption::ChangedSinceOpen {
            offset: 16,
            damage: FrameDamage::BadBody
        }))
    ));
    assert!(storage.read(3, 10).is_ok(), "other frames still read");
    let err = Storage::read(&storage, 1, 1).unwrap_err();
    assert!(err.message.contains("corrupt"), "{err}");
}

#[test]
fn damaged_snapshots_are_refused() {
    let mut storage = FileStorage::open(SimDisk::new()).unwrap();
    let snap = StoredSnapshot {
        seq: 1,
        bytes: vec![1, 2, 3],
    };
    storage.put_snapshot(&snap).unwrap();
    let mut bytes = storage.disk().file(SNAPSHOT_FILE).unwrap().to_vec();
    bytes[33] ^= 1;
    storage.disk_mut().put_file(SNAPSHOT_FILE, bytes);
    assert!(matches!(
        storage.snapshot(),
        Err(SnapshotError::Damaged(SnapshotDamage::Damaged(_)))
    ));
    storage.put_snapshot(&snap).unwrap();
    assert_eq!(storage.snapshot().unwrap(), Some(snap));
}

#[test]
fn a_failed_append_is_rolled_back_and_can_be_retried() {
    let events = chain(Hash::ZERO, 1, 4);
    // An append is two operations: the write and the sync.
    for failing_op in 0..2 {
        for sticky in [false, true] {
            let mut storage = FileStorage::open(SimDisk::new()).unwrap();
            storage.append(&events[..2]).unwrap();
            let before = log_bytes(storage.disk());
            if sticky {
                storage.disk_mut().fail_after(failing_op);
            } else {
                storage.disk_mut().fail_once_after(failing_op);
            }
            assert!(matches!(
                storage.append(&events[2..]),
                Err(AppendError::Disk(_))
            ));
            storage.disk_mut().heal();
            assert_eq!(all(&storage), events[..2], "op {failing_op}");
            if !sticky {
                assert_eq!(log_bytes(storage.disk()), before, "rolled back at once");
            }
            // A crash now shows the append whole or not at all.
            let mut crashed = storage.disk().clone();
            crashed.crash(Cut::Everything);
            let reopened = all(&FileStorage::open(crashed).unwrap());
            assert!(
                reopened == events[..2] || reopened == events,
                "op {failing_op}"
            );
            // The retry succeeds in place.
            storage.append(&events[2..]).unwrap();
            assert_eq!(all(&storage), events);
            let storage = FileStorage::open(storage.into_disk()).unwrap();
            assert_eq!(all(&storage), events);
        }
    }
}

#[test]
fn a_failed_compaction_changes_nothing_visible() {
    let events = chain(Hash::ZERO, 1, 5);
    let mut probe = FileStorage::open(SimDisk::new()).unwrap();
    probe.append(&events).unwrap();
    let start = probe.disk().ops();
    probe.drop_through(2).unwrap();
    let compaction_ops = probe.disk().ops() - start;
    for failing_op in 0..compaction_ops {
        let mut storage = FileStorage::open(SimDisk::new()).unwrap();
        storage.append(&events).unwrap();
        storage.disk_mut().fail_once_after(failing_op);
        assert!(storage.drop_through(2).is_err(), "op {failing_op}");
        assert_eq!(all(&storage), events, "op {failing_op}");
        storage.append(&chain(events[4].hash, 6, 1)).unwrap();
        storage.drop_through(2).unwrap();
        assert_eq!(storage.read(0, 10).unwrap()[0].seq, 3);
        let storage = FileStorage::open(storage.into_disk()).unwrap();
        assert_eq!(storage.len(), 4);
    }
}

/// Appends through a [`SimDisk`], then one open that scans them all: prints the rates. Run with
/// `cargo test -p engine --release --lib -- --ignored --nocapture throughput`.
#[test]
#[ignore = "a measurement, not a check"]
fn throughput_on_sim_disk() {
    use std::time::Instant;

    let mut storage = FileStorage::open(SimDisk::new()).unwrap();
    let (count, batch) = (100_000u64, 5u64);
    let mut prev = Hash::ZERO;
    let started = Instant::now();
    for first in (1..=count).step_by(batch as usize) {
        let events: Vec<StoredEvent> = (first..first + batch)
            .map(|seq| {
                let bytes = vec![seq as u8; 150];
                prev = chain_hash(&prev, &bytes);
                StoredEvent {
                    seq,
                    hash: prev,
                    bytes,
                }
            })
            .collect();
        storage.append(&events).unwrap();
    }
    let appended = started.elapsed();
    let disk = storage.into_disk();
    let size = disk.file(LOG_FILE).unwrap().len();
    let started = Instant::now();
    let storage = FileStorage::open(disk).unwrap();
    let opened = started.elapsed();
    let started = Instant::now();
    assert_eq!(storage.read(1, usize::MAX).unwrap().len() as u64, count);
    let read = started.elapsed();
    let rate = |d: std::time::Duration| count as f64 / d.as_secs_f64();
    eprintln!(
        "SimDisk, {count} events of 150 bytes in batches of {batch} ({size} bytes of log): \
         append {appended:?} ({:.0} events/s), open {opened:?} ({:.0} events/s), \
         read all {read:?} ({:.0} events/s)",
        rate(appended),
        rate(opened),
        rate(read)
    );
}
