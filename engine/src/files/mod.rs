//! The file index: every current note, by path, with its version and content address.
//!
//! Listings are in path order and paginate with a cursor (the last path of the previous page),
//! so a client can walk any number of notes; nothing is capped silently. A second index by seq
//! answers "recently changed" without sorting.

use std::collections::BTreeMap;
use std::ops::Bound;

use serde::{Deserialize, Serialize};

use crate::glob::{Glob, WorkBudget};
use crate::ids::{Hash, Timestamp};
use crate::path::NotePath;

pub mod sql;

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
        let mut digest = NotesDigest::new(self.by_path.len() as u64);
        for (path, entry) in &self.by_path {
            digest.add(path.as_str(), entry);
        }
        digest.finish()
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

    /// Removes `path` and returns what it was.
    pub(crate) fn remove(&mut self, path: &str) -> Option<FileEntry> {
        let old = self.by_path.remove(path)?;
        self.by_seq.remove(&old.seq);
        self.total_bytes = self.total_bytes.saturating_sub(old.size);
        Some(old)
    }

    /// Notes in path order, starting after the path `after`, at most `limit` (1..=[`MAX_PAGE`]).
    pub fn list(&self, after: Option<&str>, limit: usize) -> Page<(&NotePath, &FileEntry)> {
        self.scan(after, limit, "", |_| Keep::Yes)
    }

    /// Notes whose path matches `glob`, in path order, paginated like [`FileIndex::list`]. The
    /// literal prefix of the pattern bounds the scan, and matching spends `budget`: once it is
    /// spent, the page ends early (with fewer than `limit` entries, maybe none) and its cursor
    /// is the last path looked at, so the next call goes on from there. At least one path is
    /// looked at whatever the budget, so paging always moves on.
    pub fn glob(
        &self,
        glob: &Glob,
        after: Option<&str>,
        limit: usize,
        budget: &mut WorkBudget,
    ) -> Page<(&NotePath, &FileEntry)> {
        let mut matcher = glob.matcher();
        let mut first = true;
        self.scan(after, limit, glob.literal_prefix(), |path| {
            if budget.is_spent() && !first {
                return Keep::Stop;
            }
            first = false;
            match matcher.matches(path, budget) {
                true => Keep::Yes,
                false => Keep::No,
            }
        })
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
        keep: impl FnMut(&str) -> Keep,
    ) -> Page<(&'a NotePath, &'a FileEntry)> {
        let start = match after {
            Some(after) if after >= prefix => Bound::Excluded(after),
            _ => Bound::Included(prefix),
        };
        let range = self.by_path.range::<str, _>((start, Bound::Unbounded));
        let (page, _) = scan_page(range.map(Ok::<_, ()>), limit, prefix, keep, |(p, _)| {
            p.as_str()
        });
        page
    }
}

/// Items read a page at a time as the consumer goes: `read` returns the next page and whether
/// it is the last (it keeps its own cursor). A failed read is yielded once and ends the
/// iteration.
pub(crate) struct Paged<T, E, F> {
    read: F,
    buffer: std::collections::VecDeque<T>,
    done: bool,
    _error: std::marker::PhantomData<E>,
}

impl<T, E, F: FnMut() -> Result<(Vec<T>, bool), E>> Paged<T, E, F> {
    pub(crate) fn new(read: F) -> Self {
        Paged {
            read,
            buffer: std::collections::VecDeque::new(),
            done: false,
            _error: std::marker::PhantomData,
        }
    }
}

impl<T, E, F: FnMut() -> Result<(Vec<T>, bool), E>> Iterator for Paged<T, E, F> {
    type Item = Result<T, E>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.buffer.is_empty() && !self.done {
            match (self.read)() {
                Ok((page, last)) => {
                    self.done = last;
                    self.buffer.extend(page);
                }
                Err(err) => {
                    self.done = true;
                    return Some(Err(err));
                }
            }
        }
        self.buffer.pop_front().map(Ok)
    }
}

/// One page of a scan over entries in path order that start after the cursor: the rule every
/// listing follows, whoever holds the entries. Stops at the first path without `prefix`;
/// `keep` decides each path; one entry past a full page shows that the listing goes on.
/// An entry that failed to read ends the scan with the page so far and the error.
pub(crate) fn scan_page<T, E>(
    entries: impl Iterator<Item = Result<T, E>>,
    limit: usize,
    prefix: &str,
    mut keep: impl FnMut(&str) -> Keep,
    path_of: impl Fn(&T) -> &str,
) -> (Page<T>, Result<(), E>) {
    let limit = limit.clamp(1, MAX_PAGE);
    let mut items: Vec<T> = Vec::new();
    let mut last_seen: Option<String> = None;
    for entry in entries {
        let entry = match entry {
            Ok(entry) => entry,
            Err(err) => return (Page { items, next: None }, Err(err)),
        };
        let path = path_of(&entry);
        if !path.starts_with(prefix) {
            break;
        }
        if items.len() == limit {
            // One more entry shows that the listing goes on.
            if matches!(keep(path), Keep::Yes | Keep::Stop) {
                let next = items.last().map(|e| path_of(e).to_owned());
                return (Page { items, next }, Ok(()));
            }
            last_seen = Some(path.to_owned());
            continue;
        }
        match keep(path) {
            Keep::Yes => {
                last_seen = Some(path.to_owned());
                items.push(entry);
            }
            Keep::No => last_seen = Some(path.to_owned()),
            Keep::Stop => {
                return (
                    Page {
                        items,
                        next: last_seen,
                    },
                    Ok(()),
                );
            }
        }
    }
    (Page { items, next: None }, Ok(()))
}

/// [`FileIndex::digest`], built a note at a time (in path order) by whoever holds the notes.
pub(crate) struct NotesDigest(blake3::Hasher);

impl NotesDigest {
    /// A digest of `count` notes.
    pub(crate) fn new(count: u64) -> NotesDigest {
        let mut hasher = blake3::Hasher::new();
        hasher.update(b"second-brain notes v1");
        hasher.update(&count.to_le_bytes());
        NotesDigest(hasher)
    }

    /// The next note, in path order.
    pub(crate) fn add(&mut self, path: &str, entry: &FileEntry) {
        let hasher = &mut self.0;
        hasher.update(&(path.len() as u64).to_le_bytes());
        hasher.update(path.as_bytes());
        hasher.update(&entry.version.to_le_bytes());
        hasher.update(&entry.hash.0);
        hasher.update(&entry.size.to_le_bytes());
        let media = entry.media_type.as_bytes();
        hasher.update(&(media.len() as u64).to_le_bytes());
        hasher.update(media);
    }

    pub(crate) fn finish(self) -> Hash {
        Hash(*self.0.finalize().as_bytes())
    }
}

/// What a scan does with a path.
pub(crate) enum Keep {
    Yes,
    No,
    /// Stop before this path: the page ends, and the next starts with it.
    Stop,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::glob::{Glob, WorkBudget};

    #[test]
    fn paged_reads_on_demand_and_stops_at_the_last_page_or_the_first_error() {
        let mut reads = 0;
        let pages = Paged::new(|| {
            reads += 1;
            Ok::<_, String>((vec![reads * 10, reads * 10 + 1], reads == 2))
        });
        assert_eq!(
            pages.collect::<Result<Vec<_>, _>>(),
            Ok(vec![10, 11, 20, 21])
        );
        assert_eq!(reads, 2, "no read after the last page");

        let mut reads = 0;
        let mut pages = Paged::new(|| {
            reads += 1;
            match reads {
                1 => Ok((vec![1], false)),
                2 => Err("the disk".to_owned()),
                _ => Ok((vec![99], false)),
            }
        });
        assert_eq!(pages.next(), Some(Ok(1)));
        assert_eq!(pages.next(), Some(Err("the disk".to_owned())));
        assert_eq!(pages.next(), None, "a failed read ends it");
    }

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
        let glob = |pattern: &str, after: Option<&str>, limit: usize| {
            let pattern = Glob::new(pattern).unwrap();
            let page = idx.glob(&pattern, after, limit, &mut WorkBudget::per_call());
            let names: Vec<String> = names(&page).into_iter().map(str::to_owned).collect();
            (names, page.next)
        };
        assert_eq!(glob("notes/*.md", None, 10).0, ["notes/x.md"]);
        assert_eq!(glob("**/*.md", None, 10).0.len(), 4);
        let (first, next) = glob("notes/**", None, 2);
        assert_eq!(first, ["notes/deep/z.md", "notes/x.md"]);
        assert_eq!(
            glob("notes/**", next.as_deref(), 2),
            (vec!["notes/y.txt".to_owned()], None)
        );
        assert_eq!(glob("a.md", None, 10).0, ["a.md"]);
    }

    #[test]
    fn a_spent_budget_ends_the_page_with_a_cursor_and_paging_goes_on() {
        let paths: Vec<String> = (0..50).map(|i| format!("n/{i:02}.md")).collect();
        let refs: Vec<&str> = paths.iter().map(String::as_str).collect();
        let idx = index(&refs);
        let pattern = Glob::new("**/*{1,3,5,7,9}.md").unwrap();
        let want: Vec<&str> = refs
            .iter()
            .copied()
            .filter(|p| pattern.is_match(p))
            .collect();
        // A budget of one step: each call looks at one path, so pages end early, some empty.
        let mut seen = Vec::new();
        let mut after: Option<String> = None;
        let mut calls = 0;
        loop {
            calls += 1;
            let page = idx.glob(&pattern, after.as_deref(), 10, &mut WorkBudget::new(1));
            assert!(page.items.len() <= 1);
            seen.extend(names(&page).into_iter().map(str::to_owned));
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        assert_eq!(seen, want);
        assert_eq!(calls, 50, "one path looked at per call");
        // A full budget answers in one page.
        let page = idx.glob(&pattern, None, 100, &mut WorkBudget::per_call());
        assert_eq!(names(&page), want);
        assert_eq!(page.next, None);
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
