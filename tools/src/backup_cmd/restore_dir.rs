//! What `restore --to DIR` writes, and the checks that keep it inside DIR.
//!
//! ```text
//! DIR/<note path>                      every current note, its bytes exactly
//! DIR/.second-brain/events.log         the restored log (engine::file_storage, FileDisk)
//! DIR/.second-brain/blobs/<blake3 hex> every content any version up to the target had
//! DIR/.second-brain/restore-report.json
//! ```
//!
//! DIR must not exist or be empty. A restore that fails removes what it wrote (DIR itself
//! too when it created it), so a failed restore leaves nothing that looks like a restore.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result};
use backups::manifest::Manifest;
use backups::restore::{self, Assembled, RestoreError};
use engine::envelope::ChainHead;
use engine::file_storage::FileStorage;
use engine::store::RebuildError;
use engine::{Config, Hash};
use second_brain_tools::file_disk::FileDisk;

use super::Failure;

/// The directory under DIR that holds the log, the contents and the report.
pub(crate) const META_DIR: &str = ".second-brain";
/// The report's file name, under [`META_DIR`].
pub(crate) const REPORT_FILE: &str = "restore-report.json";

/// What a restore wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Written {
    /// The head of the restored log.
    pub(crate) head: ChainHead,
    /// The notes written, and their bytes.
    pub(crate) notes: u64,
    pub(crate) note_bytes: u64,
    /// Versions of all paths up to the head.
    pub(crate) versions: u64,
    /// Contents written under `blobs/`.
    pub(crate) blobs: u64,
}

/// Refuses a `--to` that exists and is not an empty directory.
pub(crate) fn check_empty(dir: &Path) -> Result<(), Failure> {
    match fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(Failure::Settings(format!(
                    "{} is not empty: restore writes only into a new or empty directory",
                    dir.display()
                )));
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Failure::Settings(format!(
            "{} cannot be restored into: {e}",
            dir.display()
        ))),
    }
}

/// The file of note `path` under `dir`: every `/`-separated segment must be a plain name, so
/// the file is inside `dir` and not inside [`META_DIR`].
pub(crate) fn note_file(dir: &Path, path: &str) -> Result<PathBuf, String> {
    let mut file = dir.to_path_buf();
    for (i, segment) in path.split('/').enumerate() {
        let plain = !segment.contains(['\\', '\0'])
            && matches!(
                Path::new(segment).components().collect::<Vec<_>>()[..],
                [Component::Normal(name)] if name == segment
            );
        if !plain {
            return Err(format!(
                "note path {path:?} has the segment {segment:?}, which would leave the directory"
            ));
        }
        if i == 0 && segment == META_DIR {
            return Err(format!(
                "note path {path:?} lies inside {META_DIR}/, where the restore keeps its log"
            ));
        }
        file.push(segment);
    }
    Ok(file)
}

/// Removes what a restore wrote unless [`Cleanup::keep`] is called.
#[derive(Debug)]
struct Cleanup<'a> {
    dir: &'a Path,
    created: bool,
    keep: bool,
}

impl Cleanup<'_> {
    fn keep(mut self) {
        self.keep = true;
    }
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        if self.keep {
            return;
        }
        if self.created {
            let _ = fs::remove_dir_all(self.dir);
            return;
        }
        // The directory was empty: everything in it is ours.
        if let Ok(entries) = fs::read_dir(self.dir) {
            for entry in entries.flatten() {
                let path = entry.path();
                let _ = if path.is_dir() {
                    fs::remove_dir_all(&path)
                } else {
                    fs::remove_file(&path)
                };
            }
        }
    }
}

/// Replays the log into `dir/.second-brain`, checks it against the manifest, and writes the
/// notes and every version's content. `report` is written last, as `restore-report.json`.
pub(crate) fn write(
    dir: &Path,
    manifest: &Manifest,
    assembled: &Assembled,
    report: impl FnOnce(&Written) -> Result<Vec<u8>>,
) -> Result<Written> {
    check_empty(dir)?;
    let created = !dir.exists();
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let cleanup = Cleanup {
        dir,
        created,
        keep: false,
    };
    let meta = dir.join(META_DIR);
    let disk = FileDisk::open(&meta).with_context(|| format!("creating {}", meta.display()))?;
    let storage =
        FileStorage::open(disk).with_context(|| format!("opening a log in {}", meta.display()))?;
    let store = match restore::rebuild(manifest, assembled, storage, Config::default()) {
        Ok(store) => store,
        Err(RestoreError::Rebuild(RebuildError::Storage(e))) => {
            return Err(
                anyhow::Error::new(e).context(format!("writing the log in {}", meta.display()))
            );
        }
        Err(e) => return Err(Failure::Damaged(e.to_string()).into()),
    };

    let mut written = Written {
        head: store.head(),
        notes: 0,
        note_bytes: 0,
        versions: 0,
        blobs: 0,
    };
    // Every path is checked before any note is written: a note that cannot be written as a
    // file inside DIR (one under .second-brain/) is a plain error (exit 1), not damage.
    let notes = store
        .notes()
        .collect()
        .with_context(|| format!("reading the restored notes in {}", meta.display()))?;
    let files: Vec<(PathBuf, Hash, u64)> = notes
        .files()
        .iter()
        .map(|(path, entry)| Ok((note_file(dir, path.as_str())?, entry.hash, entry.modified.0)))
        .collect::<Result<_, String>>()
        .map_err(|why| anyhow::anyhow!("cannot restore into a directory: {why}"))?;
    for (file, hash, modified_ms) in files {
        // rebuild checked that every version's content is present.
        let bytes = &assembled.contents[&hash];
        if let Some(parent) = file.parent() {
            fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        fs::write(&file, bytes).with_context(|| format!("writing {}", file.display()))?;
        // The note's own modification time, so note apps sort and show it as they did.
        let modified = std::time::UNIX_EPOCH + std::time::Duration::from_millis(modified_ms);
        fs::File::options()
            .write(true)
            .open(&file)
            .and_then(|f| f.set_modified(modified))
            .with_context(|| format!("setting the time of {}", file.display()))?;
        written.notes += 1;
        written.note_bytes += bytes.len() as u64;
    }

    let mut contents = BTreeSet::new();
    for (_, versions) in notes.history().iter() {
        written.versions += versions.len() as u64;
        contents.extend(
            versions
                .iter()
                .filter_map(|v| v.content.as_ref().map(|c| c.hash)),
        );
    }
    let blobs = meta.join("blobs");
    fs::create_dir_all(&blobs).with_context(|| format!("creating {}", blobs.display()))?;
    for hash in &contents {
        let file = blobs.join(hash.to_hex());
        fs::write(&file, &assembled.contents[hash])
            .with_context(|| format!("writing {}", file.display()))?;
        written.blobs += 1;
    }
    drop(store);

    let file = meta.join(REPORT_FILE);
    fs::write(&file, report(&written)?).with_context(|| format!("writing {}", file.display()))?;
    cleanup.keep();
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn note_paths_stay_inside_the_directory_and_out_of_the_log() {
        let dir = Path::new("restore-here");
        assert_eq!(
            note_file(dir, "notes/a b.md").unwrap(),
            dir.join("notes").join("a b.md")
        );
        assert_eq!(
            note_file(dir, ".obsidian/app.json").unwrap(),
            dir.join(".obsidian/app.json")
        );
        for escaping in [
            "../x.md",
            "a/../../x.md",
            "/etc/passwd",
            "a//b.md",
            "./a.md",
            "a\\..\\b",
            "",
            ".second-brain/events.log",
            ".second-brain",
        ] {
            assert!(note_file(dir, escaping).is_err(), "{escaping:?}");
        }
    }

    #[test]
    fn only_a_new_or_empty_directory_is_accepted() {
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("out");
        check_empty(&dir).unwrap();
        fs::create_dir(&dir).unwrap();
        check_empty(&dir).unwrap();
        fs::write(dir.join("x"), b"x").unwrap();
        let error = check_empty(&dir).unwrap_err();
        assert_eq!(error.exit_code(), 2);
        assert!(error.to_string().contains("not empty"), "{error}");
        let file = dir.join("x");
        assert!(check_empty(&file).is_err(), "a file is not a directory");
    }
}
