//! The file index: every current note, by path, with its version and content address.
//!
//! Listings are in path order and paginate with a cursor (the last path of the previous page),
//! so a client can walk any number of notes; nothing is capped silently. A second index by seq
//! answers "recently changed" without sorting.

use std::collections::BTreeMap;
use std::ops::Bound;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::ids::{Hash, Timestamp};
use crate::path::NotePath;

/// The most entries one page of a listing returns.
pub const MAX_PAGE: usize = 1_000;

/// What the index knows of a current note.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// The current version (every change to the path adds one).
    pub version: u64,
    /// blake3 of the content.
    pub hash: Hash,
    /// Content length in bytes.
    pub size: u64,
    /// Media type.
    pub media_type: String,
    /// When the note last came into existence at this path.
    pub created: Timestamp,
    /// When its content last changed.
    pub modified: Timestamp,
    /// The seq of the event that made this version.
    pub seq: u64,
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The entries, in order.
    pub items: Vec<T>,
    /// Where the next page starts, or `None` when this is the last page.
    pub next: Option<String>,
}

/// A glob pattern that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid glob pattern {pattern:?}: {reason}")]
pub struct GlobError {
    /// The pattern as given.
    pub pattern: String,
    /// What is wrong with it.
    pub reason: String,
}

/// Every current note. Sizes are summed so quotas are checked in constant time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileIndex {
    by_path: BTreeMap<NotePath, FileEntry>,
    /// seq of the event that made each current version -> its path.
    by_seq: BTreeMap<u64, NotePath>,
    total_bytes: u64,
}

impl FileIndex {
    /// An index of `entries`, which are in path order without repeats (as a snapshot holds
    /// them): built in bulk, without a search per entry.
    pub(crate) fn from_sorted(entries: Vec<(NotePath, FileEntry)>) -> FileIndex {
        let total_bytes = entries.iter().map(|(_, e)| e.size).sum();
        let by_seq = entries.iter().map(|(p, e)| (e.seq, p.clone())).collect();
        FileIndex {
            by_path: entries.into_iter().collect(),
            by_seq,
            total_bytes,
        }
    }

    /// The current entry for `path`.
    pub fn get(&self, path: &str) -> Option<&FileEntry> {
        self.by_path.get(path)
    }

    /// The current entry for `path`, with the path as stored.
    pub fn get_key_value(&self, path: &str) -> Option<(&NotePath, &FileEntry)> {
        self.by_path.get_key_value(path)
    }

    /// How many notes exist.
    pub fn len(&self) -> usize {
        self.by_path.len()
    }

    /// Whether there are no notes.
    pub fn is_empty(&self) -> bool {
        self.by_path.is_empty()
    }

    /// The sum of all current notes' sizes.
    pub fn total_bytes(&self) -> u64 {
        self.total_bytes
    }

    /// A digest of every current note: blake3 over, for each note in path order, the path, its
    /// version, content hash, size and media type, each field length-prefixed (the exact
    /// bytes are in `docs/backup-format.md`). Two stores with the same notes at the same
    /// versions have the same digest, however they got there (live, replayed, restored), so a
    /// backup's manifest can name the state its log must lead to.
    pub fn digest(&self) -> Hash {
        let mut hasher = blake3::Hasher::new();
        hasher.update(b"second-brain notes v1");
        hasher.update(&(self.by_path.len() as u64).to_le_bytes());
        for (path, entry) in &self.by_path {
            let path = path.as_str().as_bytes();
            hasher.update(&(path.len() as u64).to_le_bytes());
            hasher.update(path);
            hasher.update(&entry.version.to_le_bytes());
            hasher.update(&entry.hash.0);
            hasher.update(&entry.size.to_le_bytes());
            let media = entry.media_type.as_bytes();
            hasher.update(&(media.len() as u64).to_le_bytes());
            hasher.update(media);
        }
        Hash(*hasher.finalize().as_bytes())
    }

    /// Every note in path order.
    pub fn iter(&self) -> impl Iterator<Item = (&NotePath, &FileEntry)> {
        self.by_path.iter()
    }

    /// Sets the entry for `path`, replacing any earlier one.
    pub(crate) fn put(&mut self, path: NotePath, entry: FileEntry) {
        self.total_bytes = self.total_bytes.saturating_add(entry.size);
        if let Some(current) = self.by_path.get_mut(path.as_str()) {
            // Replay's hot path: reuse the stored keys instead of cloning the path twice.
            let old = std::mem::replace(current, entry);
            self.total_bytes = self.total_bytes.saturating_sub(old.size);
            if let Some(key) = self.by_seq.remove(&old.seq) {
                self.by_seq.insert(current.seq, key);
            }
            return;
        }
        self.by_seq.insert(entry.seq, path.clone());
        self.by_path.insert(path, entry);
    }

    /// Sets the entry for `path` to `make(current entry)`, cloning the path only when it is
    /// new (replay's hot path).
    pub(crate) fn put_with(
        &mut self,
        path: &NotePath,
        make: impl FnOnce(Option<&FileEntry>) -> FileEntry,
    ) {
        match self.by_path.get_mut(path.as_str()) {
            Some(current) => {
                let entry = make(Some(current));
                let old = std::mem::replace(current, entry);
                self.total_bytes = self.total_bytes.saturating_sub(old.size) + current.size;
                if let Some(key) = self.by_seq.remove(&old.seq) {
                    self.by_seq.insert(current.seq, key);
                }
            }
            None => self.put(path.clone(), make(None)),
        }
    }

    /// Removes `path` and returns what it was.
    pub(crate) fn remove(&mut self, path: &str) -> Option<FileEntry> {
        let old = self.by_path.remove(path)?;
        self.by_seq.remove(&old.seq);
        self.total_bytes = self.total_bytes.saturating_sub(old.size);
        Some(old)
    }

    /// Notes in path order, starting after the path `after`, at most `limit` (1..=[`MAX_PAGE`]).
    pub fn list(&self, after: Option<&str>, limit: usize) -> Page<(&NotePath, &FileEntry)> {
        self.scan(after, limit, "", |_| true)
    }

    /// Notes whose path matches `pattern` (`*`, `**`, `?`, `[a-z]`, `{a,b}`), in path order,
    /// paginated like [`FileIndex::list`]. The literal prefix of the pattern bounds the scan.
    pub fn glob(
        &self,
        pattern: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<(&NotePath, &FileEntry)>, GlobError> {
        fast_glob::validate(pattern).map_err(|e| GlobError {
            pattern: pattern.to_owned(),
            reason: format!("{:?} at byte {}", e.kind, e.index),
        })?;
        if pattern.starts_with('!') {
            return Err(GlobError {
                pattern: pattern.to_owned(),
                reason: "negated patterns are not supported".to_owned(),
            });
        }
        let prefix = literal_prefix(pattern);
        Ok(self.scan(after, limit, prefix, |path| {
            fast_glob::glob_match(pattern, path)
        }))
    }

    /// The most recently changed notes, newest first: at most `limit` (1..=[`MAX_PAGE`]),
    /// starting below the seq `before` when given.
    pub fn recent(&self, before: Option<u64>, limit: usize) -> Vec<(&NotePath, &FileEntry)> {
        let limit = limit.clamp(1, MAX_PAGE);
        let upper = before.map_or(Bound::Unbounded, Bound::Excluded);
        self.by_seq
            .range((Bound::Unbounded, upper))
            .rev()
            .take(limit)
            .filter_map(|(_, path)| self.by_path.get_key_value(path))
            .collect()
    }

    fn scan<'a>(
        &'a self,
        after: Option<&str>,
        limit: usize,
        prefix: &str,
        keep: impl Fn(&str) -> bool,
    ) -> Page<(&'a NotePath, &'a FileEntry)> {
        let limit = limit.clamp(1, MAX_PAGE);
        let start = match after {
            Some(after) if after >= prefix => Bound::Excluded(after),
            _ => Bound::Included(prefix),
        };
        let mut items = Vec::new();
        let mut next = None;
        let range = self
            .by_path
            .range::<str, _>((start, Bound::Unbounded))
            .take_while(|(path, _)| path.as_str().starts_with(prefix));
        for (path, entry) in range {
            if !keep(path.as_str()) {
                continue;
            }
            if items.len() == limit {
                next = items.last().map(|(p, _): &(&NotePath, _)| p.to_string());
                break;
            }
            items.push((path, entry));
        }
        Page { items, next }
    }
}

/// The part of a glob before its first special character, cut back to the last `/` so that a
/// pattern like `notes/a*` scans only paths starting with `notes/`.
fn literal_prefix(pattern: &str) -> &str {
    let special = pattern
        .find(['*', '?', '[', '{', '\\', '!'])
        .unwrap_or(pattern.len());
    match pattern[..special].rfind('/') {
        Some(slash) if special < pattern.len() => &pattern[..=slash],
        _ if special == pattern.len() => pattern,
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(seq: u64, size: u64) -> FileEntry {
        FileEntry {
            version: 1,
            hash: Hash::ZERO,
            size,
            media_type: "text/markdown".into(),
            created: Timestamp(seq),
            modified: Timestamp(seq),
            seq,
        }
    }

    fn index(paths: &[&str]) -> FileIndex {
        let mut idx = FileIndex::default();
        for (i, p) in paths.iter().enumerate() {
            idx.put(NotePath::new(*p).unwrap(), entry(i as u64 + 1, 10));
        }
        idx
    }

    fn names<'a, T>(page: &'a Page<(&'a NotePath, T)>) -> Vec<&'a str> {
        page.items.iter().map(|(p, _)| p.as_str()).collect()
    }

    #[test]
    fn the_digest_names_the_notes_not_how_they_got_there() {
        let a = index(&["a", "b"]);
        // The same notes put in the other order, at other seqs and times.
        let mut b = FileIndex::default();
        b.put(NotePath::new("b").unwrap(), entry(7, 10));
        b.put(NotePath::new("a").unwrap(), entry(8, 10));
        assert_eq!(a.digest(), b.digest());
        let digests = [
            FileIndex::default().digest(),
            a.digest(),
            index(&["a"]).digest(),
            index(&["a", "c"]).digest(),
        ];
        for (i, x) in digests.iter().enumerate() {
            for y in &digests[i + 1..] {
                assert_ne!(x, y);
            }
        }
        // Each field counts: version, content, size, media type.
        let changed: [fn(&mut FileEntry); 4] = [
            |e| e.version = 2,
            |e| e.hash = Hash::of(b"x"),
            |e| e.size = 11,
            |e| e.media_type = "text/plain".into(),
        ];
        for change in changed {
            let mut c = index(&["a", "b"]);
            let mut e = c.get("a").unwrap().clone();
            change(&mut e);
            c.put(NotePath::new("a").unwrap(), e);
            assert_ne!(c.digest(), a.digest());
        }
    }

    #[test]
    fn sizes_are_summed_and_replaced() {
        let mut idx = index(&["a", "b"]);
        assert_eq!(idx.total_bytes(), 20);
        idx.put(NotePath::new("a").unwrap(), entry(9, 5));
        assert_eq!(idx.total_bytes(), 15);
        idx.remove("b");
        assert_eq!((idx.len(), idx.total_bytes()), (1, 5));
    }

    #[test]
    fn listing_paginates_over_everything_exactly_once() {
        let paths: Vec<String> = (0..2_500).map(|i| format!("n/{i:05}.md")).collect();
        let refs: Vec<&str> = paths.iter().map(String::as_str).collect();
        let idx = index(&refs);
        let mut seen = Vec::new();
        let mut after: Option<String> = None;
        for _ in 0..10 {
            let page = idx.list(after.as_deref(), 1_000);
            seen.extend(names(&page).into_iter().map(str::to_owned));
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        assert_eq!(seen, paths);
    }

    #[test]
    fn glob_matches_and_uses_the_prefix() {
        let idx = index(&[
            "a.md",
            "notes/x.md",
            "notes/y.txt",
            "notes/deep/z.md",
            "other/q.md",
        ]);
        let page = idx.glob("notes/*.md", None, 10).unwrap();
        assert_eq!(names(&page), ["notes/x.md"]);
        let page = idx.glob("**/*.md", None, 10).unwrap();
        assert_eq!(names(&page).len(), 4);
        let page = idx.glob("notes/**", None, 2).unwrap();
        assert_eq!(names(&page), ["notes/deep/z.md", "notes/x.md"]);
        let page = idx.glob("notes/**", page.next.as_deref(), 2).unwrap();
        assert_eq!(names(&page), ["notes/y.txt"]);
        assert_eq!(page.next, None);
        assert_eq!(names(&idx.glob("a.md", None, 10).unwrap()), ["a.md"]);
        assert!(idx.glob("notes/{a,b", None, 10).is_err());
        assert!(idx.glob("!x", None, 10).is_err());
    }

    #[test]
    fn literal_prefixes() {
        assert_eq!(literal_prefix("notes/a*"), "notes/");
        assert_eq!(literal_prefix("*.md"), "");
        assert_eq!(literal_prefix("a/b.md"), "a/b.md");
        assert_eq!(literal_prefix("a/b/**"), "a/b/");
    }

    #[test]
    fn recent_is_newest_first() {
        let mut idx = index(&["a", "b", "c"]);
        idx.put(NotePath::new("a").unwrap(), entry(10, 1));
        let order: Vec<&str> = idx
            .recent(None, 10)
            .iter()
            .map(|(p, _)| p.as_str())
            .collect();
        assert_eq!(order, ["a", "c", "b"]);
        let older: Vec<&str> = idx
            .recent(Some(3), 10)
            .iter()
            .map(|(p, _)| p.as_str())
            .collect();
        assert_eq!(older, ["b"]);
    }
}
