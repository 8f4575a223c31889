//! Note history: every version every path ever had, including deletions and moves.
//!
//! Versions of a path are numbered from 1 without gaps; each change (write, edit, revert,
//! delete, move in or out) adds one. A version that has content names it by hash, so any past
//! version can be read again from R2 for as long as the blob is kept.

use std::collections::BTreeSet;

use crate::search::WordMap;

use serde::{Deserialize, Serialize};

use crate::ids::{Hash, Timestamp};
use crate::path::NotePath;

pub mod sql;

/// What made a version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Change {
    /// A write.
    Written,
    /// An edit.
    Edited,
    /// A revert to the content of `source_version`.
    Reverted {
        /// The version whose content was restored.
        source_version: u64,
    },
    /// A deletion.
    Deleted,
    /// The note moved here from `from`.
    MovedFrom {
        /// The old path.
        from: NotePath,
    },
    /// The note moved away to `to` (a deletion here).
    MovedTo {
        /// The new path.
        to: NotePath,
    },
}

/// The content of a version: what to fetch from R2.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Content {
    /// blake3 of the bytes.
    pub hash: Hash,
    /// Length in bytes.
    pub size: u64,
    /// Media type.
    pub media_type: String,
}

/// One version of a path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Version {
    /// The version number, from 1.
    pub version: u64,
    /// The seq of the event that made it.
    pub seq: u64,
    /// When.
    pub time: Timestamp,
    /// How.
    pub change: Change,
    /// The content, or `None` for a deletion (or a move away).
    pub content: Option<Content>,
}

/// Every version of every path.
///
/// A hash map (deterministic hasher), not a tree: replay looks a path up several times per
/// event, and ordered walks happen only when a snapshot is written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct History {
    paths: WordMap<NotePath, Vec<Version>>,
}

impl History {
    /// All versions of `path`, oldest first (empty if it never existed).
    pub fn versions(&self, path: &str) -> &[Version] {
        self.paths.get(path).map_or(&[], Vec::as_slice)
    }

    /// The last version number of `path`, or 0 if it never existed.
    pub fn last_version(&self, path: &str) -> u64 {
        self.versions(path).last().map_or(0, |v| v.version)
    }

    /// Version `version` of `path`.
    pub fn version(&self, path: &str, version: u64) -> Option<&Version> {
        let versions = self.versions(path);
        // Versions are 1, 2, 3, ...: the number is the position plus one.
        let index = usize::try_from(version.checked_sub(1)?).ok()?;
        versions.get(index).filter(|v| v.version == version)
    }

    /// The version of `path` that was current at `time`: the last one made at or before it.
    pub fn at_time(&self, path: &str, time: Timestamp) -> Option<&Version> {
        let versions = self.versions(path);
        let after = versions.partition_point(|v| v.time <= time);
        after.checked_sub(1).map(|i| &versions[i])
    }

    /// Which of `hashes` some version's content names: the note contents the log still
    /// needs (every version can be read again, so a content once named is named for good).
    /// One walk over every version, however many hashes are asked about.
    pub fn referenced(&self, hashes: &BTreeSet<Hash>) -> BTreeSet<Hash> {
        let mut found = BTreeSet::new();
        if hashes.is_empty() {
            return found;
        }
        for versions in self.paths.values() {
            for content in versions.iter().filter_map(|v| v.content.as_ref()) {
                if hashes.contains(&content.hash) {
                    found.insert(content.hash);
                }
            }
            if found.len() == hashes.len() {
                break;
            }
        }
        found
    }

    /// How many paths have a history.
    pub fn paths(&self) -> usize {
        self.paths.len()
    }

    /// Every path with its versions, in path order.
    pub fn iter(&self) -> impl Iterator<Item = (&NotePath, &[Version])> {
        let mut sorted: Vec<(&NotePath, &[Version])> =
            self.paths.iter().map(|(p, v)| (p, v.as_slice())).collect();
        sorted.sort_unstable_by(|a, b| a.0.cmp(b.0));
        sorted.into_iter()
    }

    /// A history made of `paths` (checked with [`History::is_consistent`] by the caller).
    pub(crate) fn from_paths(paths: impl IntoIterator<Item = (NotePath, Vec<Version>)>) -> History {
        History {
            paths: paths.into_iter().collect(),
        }
    }

    /// Adds the next version of `path`. The caller has checked `version.version` is
    /// `last_version(path) + 1`.
    pub(crate) fn push(&mut self, path: &NotePath, version: Version) {
        match self.paths.get_mut(path.as_str()) {
            Some(versions) => versions.push(version),
            None => {
                self.paths.insert(path.clone(), vec![version]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(version: u64, time: u64) -> Version {
        Version {
            version,
            seq: version,
            time: Timestamp(time),
            change: Change::Written,
            content: None,
        }
    }

    #[test]
    fn finds_versions_by_number_and_time() {
        let mut h = History::default();
        let path = NotePath::new("a").unwrap();
        for (v, t) in [(1, 10), (2, 20), (3, 20), (4, 40)] {
            h.push(&path, version(v, t));
        }
        assert_eq!(h.last_version("a"), 4);
        assert_eq!(h.version("a", 2).map(|v| v.time), Some(Timestamp(20)));
        assert!(h.version("a", 0).is_none() && h.version("a", 5).is_none());
        assert_eq!(h.at_time("a", Timestamp(5)), None);
        assert_eq!(h.at_time("a", Timestamp(25)).map(|v| v.version), Some(3));
        assert_eq!(h.at_time("a", Timestamp(99)).map(|v| v.version), Some(4));
        assert_eq!(h.last_version("missing"), 0);
    }

    #[test]
    fn referenced_names_the_contents_any_version_holds_past_deletions_too() {
        let mut h = History::default();
        let path = NotePath::new("a").unwrap();
        let content = |bytes: &[u8]| Content {
            hash: Hash::of(bytes),
            size: bytes.len() as u64,
            media_type: "text/markdown".into(),
        };
        let mut v1 = version(1, 10);
        v1.content = Some(content(b"old"));
        let mut v2 = version(2, 20);
        v2.content = Some(content(b"new"));
        h.push(&path, v1);
        h.push(&path, v2);
        h.push(&path, version(3, 30)); // deleted
        let asked: BTreeSet<Hash> = [b"old".as_slice(), b"new", b"never"]
            .iter()
            .map(|b| Hash::of(b))
            .collect();
        let found = h.referenced(&asked);
        assert_eq!(
            found,
            [Hash::of(b"old"), Hash::of(b"new")].into_iter().collect()
        );
        assert!(h.referenced(&BTreeSet::new()).is_empty());
    }
}
