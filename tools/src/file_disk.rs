//! [`FileDisk`]: the engine's [`Disk`] on real files in one directory, so that
//! `engine::file_storage::FileStorage` can keep a log on this machine.
//!
//! Durability as the [`Disk`] contract asks: `sync` is `File::sync_all` (fsync), plus a sync of
//! the directory the first time a newly created file is synced; `rename` is `fs::rename`
//! followed by a sync of the directory. Directory syncs happen on Unix only; elsewhere the
//! platform's rename is trusted as it is.

use std::collections::BTreeSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::PathBuf;

use engine::disk::{Disk, DiskError};

/// A [`Disk`] whose files are the plain files of one directory.
#[derive(Debug)]
pub struct FileDisk {
    dir: PathBuf,
    /// Files created since the directory was last synced: their names are not durable yet.
    new_names: BTreeSet<String>,
}

impl FileDisk {
    /// Keeps files in `dir`, creating it (and its parents) if needed.
    pub fn open(dir: impl Into<PathBuf>) -> Result<FileDisk, DiskError> {
        let dir = dir.into();
        fs::create_dir_all(&dir).map_err(|e| failed("creating", &dir.to_string_lossy(), &e))?;
        Ok(FileDisk {
            dir,
            new_names: BTreeSet::new(),
        })
    }

    /// The path of `name`, which must be a plain file name.
    fn path(&self, name: &str) -> Result<PathBuf, DiskError> {
        let plain =
            !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\\', '\0']);
        if !plain {
            return Err(DiskError::new(format!("{name:?} is not a plain file name")));
        }
        Ok(self.dir.join(name))
    }

    /// Makes the directory's entries (created and renamed names) durable.
    fn sync_dir(&mut self) -> Result<(), DiskError> {
        #[cfg(unix)]
        File::open(&self.dir)
            .and_then(|dir| dir.sync_all())
            .map_err(|e| failed("syncing the directory", &self.dir.to_string_lossy(), &e))?;
        self.new_names.clear();
        Ok(())
    }
}

fn failed(what: &str, name: &str, e: &io::Error) -> DiskError {
    DiskError::new(format!("{what} {name}: {e}"))
}

impl Disk for FileDisk {
    fn len(&self, name: &str) -> Result<Option<u64>, DiskError> {
        match fs::metadata(self.path(name)?) {
            Ok(meta) => Ok(Some(meta.len())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(failed("measuring", name, &e)),
        }
    }

    fn read_at(&self, name: &str, offset: u64, buf: &mut [u8]) -> Result<(), DiskError> {
        let file = File::open(self.path(name)?).map_err(|e| failed("opening", name, &e))?;
        read_exact_at(&file, offset, buf).map_err(|e| failed("reading", name, &e))
    }

    fn append(&mut self, name: &str, bytes: &[u8]) -> Result<(), DiskError> {
        let path = self.path(name)?;
        let mut file = match OpenOptions::new().append(true).open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let file = OpenOptions::new()
                    .append(true)
                    .create_new(true)
                    .open(&path)
                    .map_err(|e| failed("creating", name, &e))?;
                self.new_names.insert(name.to_owned());
                file
            }
            Err(e) => return Err(failed("opening", name, &e)),
        };
        file.write_all(bytes)
            .map_err(|e| failed("appending to", name, &e))
    }

    fn truncate(&mut self, name: &str, len: u64) -> Result<(), DiskError> {
        let file = OpenOptions::new()
            .write(true)
            .open(self.path(name)?)
            .map_err(|e| failed("opening", name, &e))?;
        let now = file
            .metadata()
            .map_err(|e| failed("measuring", name, &e))?
            .len();
        if len > now {
            return Err(DiskError::new(format!(
                "{name}: truncate to {len} would grow it from {now}"
            )));
        }
        file.set_len(len)
            .map_err(|e| failed("truncating", name, &e))
    }

    fn sync(&mut self, name: &str) -> Result<(), DiskError> {
        OpenOptions::new()
            .write(true)
            .open(self.path(name)?)
            .and_then(|file| file.sync_all())
            .map_err(|e| failed("syncing", name, &e))?;
        if self.new_names.contains(name) {
            self.sync_dir()?;
        }
        Ok(())
    }

    fn rename(&mut self, from: &str, to: &str) -> Result<(), DiskError> {
        fs::rename(self.path(from)?, self.path(to)?)
            .map_err(|e| failed("renaming", &format!("{from} to {to}"), &e))?;
        self.sync_dir()
    }
}

#[cfg(unix)]
fn read_exact_at(file: &File, offset: u64, buf: &mut [u8]) -> io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
}

#[cfg(not(unix))]
fn read_exact_at(mut file: &File, offset: u64, buf: &mut [u8]) -> io::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    file.seek(SeekFrom::Start(offset))?;
    file.read_exact(buf)
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Instant;

    use engine::envelope::{StoredEvent, chain_hash};
    use engine::file_storage::{FileStorage, LOG_FILE, OpenError};
    use engine::ids::Hash;
    use engine::storage::{Storage, StoredSnapshot};

    use super::*;

    /// A directory under the system's temporary directory, removed when dropped.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(test: &str) -> TempDir {
            let dir = std::env::temp_dir().join(format!(
                "second-brain-file-disk-{}-{test}",
                std::process::id()
            ));
            let _ = fs::remove_dir_all(&dir);
            TempDir(dir)
        }

        fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    /// `n` events after `last`, chained, their bytes padded to at least `size`.
    fn events(last: Option<&StoredEvent>, n: u64, size: usize) -> Vec<StoredEvent> {
        let (mut seq, mut hash) = last.map_or((0, Hash::ZERO), |e| (e.seq, e.hash));
        (0..n)
            .map(|_| {
                seq += 1;
                let mut bytes = format!("envelope {seq}").into_bytes();
                bytes.resize(bytes.len().max(size), b'.');
                hash = chain_hash(&hash, &bytes);
                StoredEvent { seq, hash, bytes }
            })
            .collect()
    }

    fn open(dir: &TempDir) -> FileStorage<FileDisk> {
        FileStorage::open(FileDisk::open(dir.path()).unwrap()).unwrap()
    }

    #[test]
    fn the_disk_contract_holds_on_files() {
        let dir = TempDir::new("contract");
        let mut disk = FileDisk::open(dir.path().join("nested")).unwrap();
        assert_eq!(disk.len("a").unwrap(), None);
        disk.append("a", b"hello").unwrap();
        disk.append("a", b" world").unwrap();
        disk.sync("a").unwrap();
        assert_eq!(disk.len("a").unwrap(), Some(11));
        let mut buf = [0u8; 5];
        disk.read_at("a", 6, &mut buf).unwrap();
        assert_eq!(&buf, b"world");
        assert!(
            disk.read_at("a", 7, &mut buf).is_err(),
            "reads past the end fail"
        );
        assert!(disk.truncate("a", 12).is_err(), "truncate never grows");
        disk.truncate("a", 5).unwrap();
        disk.append("b", b"new").unwrap();
        disk.sync("b").unwrap();
        disk.rename("b", "a").unwrap();
        assert_eq!(disk.len("b").unwrap(), None);
        assert_eq!(fs::read(dir.path().join("nested/a")).unwrap(), b"new");
        for bad in ["", "..", "x/y", "../a"] {
            assert!(disk.len(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn file_storage_survives_reopening_on_real_files() {
        let dir = TempDir::new("workload");
        let all = events(None, 12, 0);
        {
            let mut storage = open(&dir);
            assert!(storage.recovery().created);
            storage.append(&all[..1]).unwrap();
            storage.append(&all[1..5]).unwrap();
            let snap = StoredSnapshot {
                seq: 3,
                bytes: b"state at 3".to_vec(),
            };
            storage.put_snapshot(&snap).unwrap();
            storage.append(&all[5..9]).unwrap();
            storage.drop_through(3).unwrap();
            storage.append(&all[9..]).unwrap();
        }
        let storage = open(&dir);
        assert_eq!(storage.recovery(), Default::default());
        assert_eq!(Storage::read(&storage, 0, 100).unwrap(), all[3..]);
        assert_eq!(storage.read(10, 2).unwrap(), all[9..11]);
        assert_eq!(storage.snapshot().unwrap().unwrap().seq, 3);
        let mut names: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            ["events.log", "snapshot.bin"],
            "no temporary file is left"
        );
    }

    #[test]
    fn a_torn_tail_on_disk_is_cut_and_reported() {
        let dir = TempDir::new("torn");
        let all = events(None, 3, 0);
        open(&dir).append(&all).unwrap();
        let log = dir.path().join(LOG_FILE);
        let whole = fs::read(&log).unwrap();
        let mut torn = whole.clone();
        torn.extend_from_slice(&whole[16..16 + 40]);
        fs::write(&log, &torn).unwrap();
        let storage = open(&dir);
        assert_eq!(storage.recovery().truncated_bytes, 40);
        assert_eq!(storage.read(1, 10).unwrap(), all);
        assert_eq!(
            fs::read(&log).unwrap(),
            whole,
            "the tail is cut on disk too"
        );

        fs::write(&log, b"not a log at all").unwrap();
        let err = FileStorage::open(FileDisk::open(dir.path()).unwrap()).unwrap_err();
        assert_eq!(err, OpenError::NotALog);
    }

    /// Appends of one 150-byte event each, every one synced: prints the rate. Run with
    /// `cargo test -p second-brain-tools -- --ignored --nocapture append_throughput`.
    #[test]
    #[ignore = "a measurement, not a check"]
    fn append_throughput() {
        let dir = TempDir::new("throughput");
        let mut storage = open(&dir);
        let mut last: Option<StoredEvent> = None;
        let count = 2_000;
        let started = Instant::now();
        for _ in 0..count {
            let mut batch = events(last.as_ref(), 1, 150);
            storage.append(&batch).unwrap();
            last = batch.pop();
        }
        let elapsed = started.elapsed();
        eprintln!(
            "FileDisk: {count} synced appends of one 150-byte event in {elapsed:?}: {:.0} appends/s",
            f64::from(count) / elapsed.as_secs_f64()
        );
    }
}
