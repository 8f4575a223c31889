//! A deterministic, simulated [`Disk`] for crash tests: it keeps every file's durable bytes
//! apart from its written-but-unsynced changes, can cut the power, and can fail on cue.
//!
//! - [`SimDisk::crash`] turns the disk into what a power cut would leave: the durable bytes
//!   plus a prefix of each file's unsynced changes, the last one possibly torn. Which prefix is
//!   chosen by a [`Cut`]: explicitly, or drawn from a seed; never from a clock or the OS.
//! - [`SimDisk::fail_after`] and [`SimDisk::fail_once_after`] make the *n*-th next operation
//!   fail (every operation counts, reads included: see [`SimDisk::ops`]) without effect.
//!   [`SimDisk::fail_once_late_after`] makes it fail *after* doing its work, or half of it for
//!   an append, as a real device may (a rename whose directory sync then fails, a short write).
//!   To crash "after operation `k`", call `fail_after(k)`, run the workload (every operation
//!   after the `k`-th fails and changes nothing), then [`SimDisk::crash`] and [`SimDisk::heal`].
//!
//! The simulation follows the durability contract in [`crate::disk`] and nothing kinder:
//! unsynced changes survive a crash only as a prefix, a rename is atomic and durable at once
//! and carries the renamed file's unsynced changes with it, and a file that was never synced
//! or renamed may vanish.

use std::cell::Cell;
use std::collections::BTreeMap;

use crate::disk::{Disk, DiskError};

/// Which unsynced changes survive a [`SimDisk::crash`], per file.
///
/// Changes are measured in *units*: each written byte is one unit, each truncation one unit.
/// Keeping `n` units keeps the file's unsynced changes in order until `n` units are used; a
/// write that does not fit keeps only its first bytes (a torn write).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// No unsynced change survives: only durable bytes remain.
    Nothing,
    /// Every unsynced change survives, as if they had all been synced.
    Everything,
    /// The first `n` units of every file's unsynced changes survive.
    Keep(u64),
    /// Like [`Cut::Keep`], but the rest of a torn write reads back as zero bytes (a file
    /// system that grew the file before its data reached the platter).
    KeepZeroFilled(u64),
    /// Each file keeps a prefix whose length is drawn, from `0` to all of it, from this seed
    /// and the file's name.
    Seeded(u64),
}

/// A simulated disk. See the module docs.
#[derive(Debug, Clone, Default)]
pub struct SimDisk {
    files: BTreeMap<String, SimFile>,
    /// Operations attempted so far, failed ones included.
    ops: Cell<u64>,
    /// A failure waiting to happen.
    failure: Cell<Option<Failure>>,
}

#[derive(Debug, Clone, Default)]
struct SimFile {
    /// What survives a crash that keeps nothing; `None` if the file's existence is not durable.
    durable: Option<Vec<u8>>,
    /// What reads see: `durable` with `unsynced` applied.
    live: Vec<u8>,
    /// Changes since the last sync, oldest first.
    unsynced: Vec<Change>,
}

#[derive(Debug, Clone)]
enum Change {
    Write { offset: usize, bytes: Vec<u8> },
    Truncate(usize),
}

impl Change {
    fn units(&self) -> u64 {
        match self {
            Change::Write { bytes, .. } => bytes.len() as u64,
            Change::Truncate(_) => 1,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Failure {
    /// Operations that still succeed before the failure.
    countdown: u64,
    /// Whether every later operation fails too, until [`SimDisk::heal`].
    sticky: bool,
    /// Whether the failing operation does its work (an append, half of it) before failing.
    late: bool,
}

impl SimDisk {
    /// An empty disk.
    pub fn new() -> SimDisk {
        SimDisk::default()
    }

    /// How many operations were attempted so far (reads, failed ones and all).
    pub fn ops(&self) -> u64 {
        self.ops.get()
    }

    /// After `ops` more operations succeed, every operation fails without effect until
    /// [`SimDisk::heal`]: a device that died, or a power cut after operation `ops()+ops`.
    pub fn fail_after(&mut self, ops: u64) {
        self.failure.set(Some(Failure {
            countdown: ops,
            sticky: true,
            late: false,
        }));
    }

    /// After `ops` more operations succeed, the next one fails without effect; later ones
    /// succeed again.
    pub fn fail_once_after(&mut self, ops: u64) {
        self.failure.set(Some(Failure {
            countdown: ops,
            sticky: false,
            late: false,
        }));
    }

    /// After `ops` more operations succeed, the next one does its work and then reports a
    /// failure; an append writes only the first half of its bytes. Later ones succeed again.
    pub fn fail_once_late_after(&mut self, ops: u64) {
        self.failure.set(Some(Failure {
            countdown: ops,
            sticky: false,
            late: true,
        }));
    }

    /// Stops failing.
    pub fn heal(&mut self) {
        self.failure.set(None);
    }

    /// Cuts the power: every file keeps its durable bytes plus the unsynced changes `cut`
    /// chooses, which then are durable. A file whose existence was not durable and that keeps
    /// no change disappears.
    pub fn crash(&mut self, cut: Cut) {
        let names: Vec<String> = self.files.keys().cloned().collect();
        for name in names {
            let Some(file) = self.files.get_mut(&name) else {
                continue;
            };
            let total: u64 = file.unsynced.iter().map(Change::units).sum();
            let (keep, zero_fill) = match cut {
                Cut::Nothing => (0, false),
                Cut::Everything => (total, false),
                Cut::Keep(n) => (n.min(total), false),
                Cut::KeepZeroFilled(n) => (n.min(total), true),
                Cut::Seeded(seed) => (draw(seed, &name) % (total + 1), false),
            };
            let existed = file.durable.is_some();
            let mut bytes = file.durable.take().unwrap_or_default();
            replay(&mut bytes, &file.unsynced, keep, zero_fill);
            file.unsynced.clear();
            if !existed && keep == 0 {
                self.files.remove(&name);
            } else {
                file.live.clone_from(&bytes);
                file.durable = Some(bytes);
            }
        }
    }

    /// Unsynced change units of `name` (see [`Cut`]), or 0 if there is no such file.
    pub fn unsynced_units(&self, name: &str) -> u64 {
        self.files
            .get(name)
            .map_or(0, |f| f.unsynced.iter().map(Change::units).sum())
    }

    /// The bytes reads of `name` see now, or `None` if there is no such file. Not an operation.
    pub fn file(&self, name: &str) -> Option<&[u8]> {
        self.files.get(name).map(|f| f.live.as_slice())
    }

    /// Replaces `name` with `bytes`, durably (creating it if needed), for tests that corrupt
    /// files. Not an operation.
    pub fn put_file(&mut self, name: &str, bytes: Vec<u8>) {
        self.files.insert(
            name.to_owned(),
            SimFile {
                durable: Some(bytes.clone()),
                live: bytes,
                unsynced: Vec::new(),
            },
        );
    }

    /// The names of the files that exist now, in order. Not an operation.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.files.keys().map(String::as_str)
    }

    /// Counts an operation; `Err` if a failure is due, with whether it fails late.
    fn operation(&self, what: &str, name: &str) -> Result<(), (DiskError, bool)> {
        let n = self.ops.get();
        self.ops.set(n + 1);
        let Some(failure) = self.failure.get() else {
            return Ok(());
        };
        if failure.countdown > 0 {
            self.failure.set(Some(Failure {
                countdown: failure.countdown - 1,
                ..failure
            }));
            return Ok(());
        }
        if !failure.sticky {
            self.failure.set(None);
        }
        let message = format!("injected failure of operation {n} ({what} {name})");
        Err((DiskError::new(message), failure.late))
    }

    fn existing(&mut self, name: &str) -> Result<&mut SimFile, DiskError> {
        self.files
            .get_mut(name)
            .ok_or_else(|| DiskError::new(format!("{name}: no such file")))
    }

    fn do_append(&mut self, name: &str, bytes: &[u8]) {
        let file = self.files.entry(name.to_owned()).or_default();
        let offset = file.live.len();
        file.live.extend_from_slice(bytes);
        file.unsynced.push(Change::Write {
            offset,
            bytes: bytes.to_vec(),
        });
    }

    fn do_truncate(&mut self, name: &str, len: u64) -> Result<(), DiskError> {
        let file = self.existing(name)?;
        let len = usize::try_from(len)
            .ok()
            .filter(|&len| len <= file.live.len())
            .ok_or_else(|| DiskError::new(format!("{name}: truncate to {len} would grow it")))?;
        file.live.truncate(len);
        file.unsynced.push(Change::Truncate(len));
        Ok(())
    }

    fn do_sync(&mut self, name: &str) -> Result<(), DiskError> {
        let file = self.existing(name)?;
        // Replaying the changes costs what they wrote, where copying `live` would cost the file.
        let durable = file.durable.get_or_insert_with(Vec::new);
        replay(durable, &file.unsynced, u64::MAX, false);
        file.unsynced.clear();
        Ok(())
    }

    fn do_rename(&mut self, from: &str, to: &str) -> Result<(), DiskError> {
        let mut file = self
            .files
            .remove(from)
            .ok_or_else(|| DiskError::new(format!("{from}: no such file")))?;
        // The rename itself is durable; the bytes are as durable as they were.
        file.durable.get_or_insert_with(Vec::new);
        self.files.insert(to.to_owned(), file);
        Ok(())
    }
}

/// Applies the first `keep` units of `changes` to `bytes` (see [`Cut`]); with `zero_fill`, the
/// rest of a torn write is zeros.
fn replay(bytes: &mut Vec<u8>, changes: &[Change], keep: u64, zero_fill: bool) {
    let mut budget = keep;
    for change in changes {
        if budget == 0 {
            break;
        }
        match change {
            Change::Truncate(len) => {
                bytes.truncate(*len);
                budget -= 1;
            }
            Change::Write {
                offset,
                bytes: data,
            } => {
                let kept = usize::try_from(budget)
                    .unwrap_or(usize::MAX)
                    .min(data.len());
                let end = if zero_fill { data.len() } else { kept };
                if bytes.len() < offset + end {
                    bytes.resize(offset + end, 0);
                }
                bytes[*offset..offset + kept].copy_from_slice(&data[..kept]);
                bytes[offset + kept..offset + end].fill(0);
                budget -= kept as u64;
            }
        }
    }
}

/// Runs `work` unless the operation fails early; reports the failure after it if it fails late.
fn perform(
    due: Result<(), (DiskError, bool)>,
    work: impl FnOnce(bool) -> Result<(), DiskError>,
) -> Result<(), DiskError> {
    match due {
        Ok(()) => work(false),
        Err((error, late)) => {
            if late {
                work(true)?;
            }
            Err(error)
        }
    }
}

impl Disk for SimDisk {
    fn len(&self, name: &str) -> Result<Option<u64>, DiskError> {
        self.operation("len", name).map_err(|(e, _)| e)?;
        Ok(self.files.get(name).map(|f| f.live.len() as u64))
    }

    fn read_at(&self, name: &str, offset: u64, buf: &mut [u8]) -> Result<(), DiskError> {
        self.operation("read", name).map_err(|(e, _)| e)?;
        let file = self
            .files
            .get(name)
            .ok_or_else(|| DiskError::new(format!("{name}: no such file")))?;
        let range = usize::try_from(offset)
            .ok()
            .and_then(|start| Some(start..start.checked_add(buf.len())?))
            .filter(|range| range.end <= file.live.len())
            .ok_or_else(|| {
                DiskError::new(format!(
                    "{name}: read of {} bytes at {offset} past the end ({})",
                    buf.len(),
                    file.live.len()
                ))
            })?;
        buf.copy_from_slice(&file.live[range]);
        Ok(())
    }

    fn append(&mut self, name: &str, bytes: &[u8]) -> Result<(), DiskError> {
        let due = self.operation("append", name);
        perform(due, |short| {
            let len = if short { bytes.len() / 2 } else { bytes.len() };
            self.do_append(name, &bytes[..len]);
            Ok(())
        })
    }

    fn truncate(&mut self, name: &str, len: u64) -> Result<(), DiskError> {
        let due = self.operation("truncate", name);
        perform(due, |_| self.do_truncate(name, len))
    }

    fn sync(&mut self, name: &str) -> Result<(), DiskError> {
        let due = self.operation("sync", name);
        perform(due, |_| self.do_sync(name))
    }

    fn rename(&mut self, from: &str, to: &str) -> Result<(), DiskError> {
        let due = self.operation("rename", from);
        perform(due, |_| self.do_rename(from, to))
    }
}

/// A deterministic draw from `seed` and `name` (splitmix64 over an FNV-1a hash of the name).
fn draw(seed: u64, name: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    let mut z = seed ^ h;
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(disk: &SimDisk, name: &str) -> Vec<u8> {
        let len = disk.len(name).unwrap().unwrap();
        let mut buf = vec![0; len as usize];
        disk.read_at(name, 0, &mut buf).unwrap();
        buf
    }

    #[test]
    fn only_synced_bytes_survive_a_crash_that_keeps_nothing() {
        let mut disk = SimDisk::new();
        disk.append("a", b"hello").unwrap();
        disk.sync("a").unwrap();
        disk.append("a", b" world").unwrap();
        disk.append("b", b"never synced").unwrap();
        assert_eq!(read_all(&disk, "a"), b"hello world");
        disk.crash(Cut::Nothing);
        assert_eq!(read_all(&disk, "a"), b"hello");
        assert_eq!(
            disk.len("b").unwrap(),
            None,
            "an unsynced new file vanishes"
        );
    }

    #[test]
    fn a_crash_keeps_a_prefix_and_may_tear_a_write() {
        let mut disk = SimDisk::new();
        disk.append("a", b"0123").unwrap();
        disk.sync("a").unwrap();
        disk.append("a", b"456").unwrap();
        disk.truncate("a", 2).unwrap();
        disk.append("a", b"xy").unwrap();
        assert_eq!(disk.unsynced_units("a"), 3 + 1 + 2);
        let outcomes: Vec<Vec<u8>> = (0..=6)
            .map(|n| {
                let mut d = disk.clone();
                d.crash(Cut::Keep(n));
                read_all(&d, "a")
            })
            .collect();
        let expected: [&[u8]; 7] = [
            b"0123", b"01234", b"012345", b"0123456", b"01", b"01x", b"01xy",
        ];
        assert_eq!(outcomes, expected.map(<[u8]>::to_vec));
        let mut d = disk.clone();
        d.crash(Cut::KeepZeroFilled(1));
        assert_eq!(read_all(&d, "a"), b"01234\0\0");
    }

    #[test]
    fn rename_is_atomic_and_carries_unsynced_changes() {
        let mut disk = SimDisk::new();
        disk.append("snap", b"old").unwrap();
        disk.sync("snap").unwrap();
        disk.append("tmp", b"new").unwrap();
        disk.sync("tmp").unwrap();
        disk.append("tmp", b"!").unwrap();
        disk.rename("tmp", "snap").unwrap();
        let mut d = disk.clone();
        d.crash(Cut::Nothing);
        assert_eq!(read_all(&d, "snap"), b"new");
        assert_eq!(d.len("tmp").unwrap(), None);
        disk.crash(Cut::Everything);
        assert_eq!(read_all(&disk, "snap"), b"new!");
    }

    #[test]
    fn failures_come_on_cue_and_change_nothing() {
        let mut disk = SimDisk::new();
        disk.fail_once_after(1);
        disk.append("a", b"1").unwrap();
        assert!(disk.append("a", b"2").is_err());
        disk.append("a", b"3").unwrap();
        assert_eq!(disk.file("a"), Some(&b"13"[..]));
        disk.fail_once_late_after(0);
        assert!(disk.append("a", b"4567").is_err());
        assert_eq!(
            disk.file("a"),
            Some(&b"1345"[..]),
            "a late append writes half"
        );
        disk.fail_after(0);
        assert!(disk.len("a").is_err());
        assert!(disk.sync("a").is_err());
        disk.heal();
        assert_eq!(disk.ops(), 6);
        disk.crash(Cut::Nothing);
        assert_eq!(disk.len("a").unwrap(), None);
    }

    #[test]
    fn seeded_cuts_are_deterministic() {
        let mut disk = SimDisk::new();
        disk.append("a", &[7; 1000]).unwrap();
        let lens: Vec<u64> = (0..4)
            .map(|seed| {
                let mut d = disk.clone();
                d.crash(Cut::Seeded(seed));
                d.len("a").unwrap().unwrap_or(0)
            })
            .collect();
        let again: Vec<u64> = (0..4)
            .map(|seed| {
                let mut d = disk.clone();
                d.crash(Cut::Seeded(seed));
                d.len("a").unwrap().unwrap_or(0)
            })
            .collect();
        assert_eq!(lens, again);
        assert!(
            lens.iter().any(|&l| l != lens[0]),
            "seeds choose different cuts"
        );
    }
}
