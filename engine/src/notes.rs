//! The notes projection: the file index and the history, kept by the storage.
//!
//! A 100,000-note user's file index and history do not fit an object's memory, so the
//! [`Storage`](crate::storage::Storage) keeps them, as it keeps the search index: a Durable
//! Object in its SQLite tables ([`crate::files::sql`], [`crate::history::sql`]), the other
//! storages in a [`MemoryNotes`]. Either way they are read through one [`NotesView`], and an
//! event's [`NotesChange`] reaches them in the same all-or-nothing call as the event itself
//! (`Storage::append_indexed`), so they always describe the stored log up to
//! [`NotesView::seq`].
//!
//! Checking and applying an event needs a few facts about the notes it names (does the path
//! exist, its last version, a source version). [`NotesLookup`] is that question, infallible;
//! [`NotesCache`] answers it for the paths of the events at hand, read from a view first
//! ([`NotesCache::prefetch`]) and kept current as the events' changes are applied.

use std::collections::{BTreeSet, HashMap};

use crate::envelope::Envelope;
use crate::event::Event;
use crate::files::sql::{self as files_sql, FileChange, FileStats};
use crate::files::{FileEntry, FileIndex, MAX_PAGE, Page, Paged};
use crate::glob::{Glob, WorkBudget};
use crate::history::sql as history_sql;
use crate::history::{History, Version};
use crate::ids::{Hash, Timestamp};
use crate::path::NotePath;
use crate::sql::{SqlRead, Statement, Value, malformed};
use crate::storage::{Bulk, StorageError};

/// What one or more events change in the notes projection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NotesChange {
    /// File index changes, in order.
    pub files: Vec<FileChange>,
    /// Versions added, in order.
    pub versions: Vec<(NotePath, Version)>,
}

impl NotesChange {
    /// Whether it changes nothing.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty() && self.versions.is_empty()
    }

    /// Appends `other`'s changes after these.
    pub fn extend(&mut self, other: NotesChange) {
        self.files.extend(other.files);
        self.versions.extend(other.versions);
    }
}

/// The facts about notes that checking and applying an event needs.
pub trait NotesLookup {
    /// The current entry of `path`.
    fn file(&self, path: &str) -> Option<FileEntry>;
    /// The last version number of `path` (0: it never existed).
    fn last_version(&self, path: &str) -> u64;
    /// Version `version` of `path`.
    fn version(&self, path: &str, version: u64) -> Option<Version>;
}

/// The notes projection in memory: the reference the SQL tables are tested against, and what
/// the storages without SQL keep.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemoryNotes {
    files: FileIndex,
    history: History,
    seq: u64,
}

impl MemoryNotes {
    /// The projection made of `history` (in path order, checked by the caller), as of `seq`.
    pub(crate) fn from_history(paths: Vec<(NotePath, Vec<Version>)>, seq: u64) -> MemoryNotes {
        let current = paths
            .iter()
            .filter_map(|(path, versions)| Some((path.clone(), current_entry(versions)?)))
            .collect();
        MemoryNotes {
            files: FileIndex::from_sorted(current),
            history: History::from_paths(paths),
            seq,
        }
    }

    /// The current notes.
    pub fn files(&self) -> &FileIndex {
        &self.files
    }

    /// Every version of every note.
    pub fn history(&self) -> &History {
        &self.history
    }

    /// The seq of the last event applied.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// One step of loading it in bulk (see [`Bulk`]).
    pub fn load(&mut self, step: Bulk<'_, (NotePath, Vec<Version>)>) {
        match step {
            Bulk::Begin => *self = MemoryNotes::default(),
            Bulk::Add(paths) => {
                for (path, versions) in paths {
                    if let Some(entry) = current_entry(versions) {
                        self.files.put(path.clone(), entry);
                    }
                    for version in versions {
                        self.history.push(path, version.clone());
                    }
                }
            }
            Bulk::Finish(seq) => self.seq = seq,
        }
    }

    /// Applies `change`, made by events up to `seq`.
    pub fn apply(&mut self, change: &NotesChange, seq: u64) {
        for file in &change.files {
            match file {
                FileChange::Put(path, entry) => self.files.put(path.clone(), entry.clone()),
                FileChange::Remove(path) => {
                    self.files.remove(path.as_str());
                }
            }
        }
        for (path, version) in &change.versions {
            self.history.push(path, version.clone());
        }
        self.seq = self.seq.max(seq);
    }

    /// The view for reading.
    pub fn view(&self) -> NotesView<'_> {
        NotesView::Memory(self)
    }
}

impl NotesLookup for MemoryNotes {
    fn file(&self, path: &str) -> Option<FileEntry> {
        self.files.get(path).cloned()
    }

    fn last_version(&self, path: &str) -> u64 {
        self.history.last_version(path)
    }

    fn version(&self, path: &str, version: u64) -> Option<Version> {
        self.history.version(path, version).cloned()
    }
}

/// The file entry of a path whose last version has content. A note's creation time is that
/// of the first version after its last deletion.
pub(crate) fn current_entry(versions: &[Version]) -> Option<FileEntry> {
    let last = versions.last()?;
    let content = last.content.as_ref()?;
    let run_start = versions
        .iter()
        .rposition(|v| v.content.is_none())
        .map_or(0, |i| i + 1);
    Some(FileEntry {
        version: last.version,
        hash: content.hash,
        size: content.size,
        media_type: content.media_type.clone(),
        created: versions.get(run_start).map_or(last.time, |v| v.time),
        modified: last.time,
        seq: last.seq,
    })
}

/// The tables of the notes projection in SQL: the file index's, the history's, and
/// `notes_meta(seq)`, the last event they reflect.
pub fn sql_schema() -> impl Iterator<Item = &'static str> {
    files_sql::SCHEMA
        .iter()
        .chain(history_sql::SCHEMA.iter())
        .chain(META_SCHEMA.iter())
        .copied()
}

const META_SCHEMA: [&str; 2] = [
    "CREATE TABLE IF NOT EXISTS notes_meta (id INTEGER PRIMARY KEY CHECK (id = 1), \
     seq INTEGER NOT NULL)",
    "INSERT OR IGNORE INTO notes_meta (id, seq) VALUES (1, 0)",
];

/// The statements that apply `change` to the SQL tables, made by events up to `seq` (`None`:
/// the seq stays).
pub fn sql_plan(
    db: &dyn SqlRead,
    change: &NotesChange,
    seq: Option<u64>,
) -> Result<Vec<Statement>, StorageError> {
    let mut out = Vec::new();
    if !change.files.is_empty() {
        out.extend(files_sql::plan(db, &change.files)?);
    }
    out.extend(
        change
            .versions
            .iter()
            .map(|(path, version)| history_sql::push(path, version)),
    );
    if let Some(seq) = seq {
        out.push(Statement::new(
            "UPDATE notes_meta SET seq = ? WHERE id = 1",
            vec![Value::int(seq)],
        ));
    }
    Ok(out)
}

/// The statements of one step of loading the SQL tables in bulk (see [`Bulk`]); `Add`'s
/// rows are written several to a statement.
pub fn sql_load(step: Bulk<'_, (NotePath, Vec<Version>)>) -> Vec<Statement> {
    let set_seq = |seq: u64| {
        Statement::new(
            "UPDATE notes_meta SET seq = ? WHERE id = 1",
            vec![Value::int(seq)],
        )
    };
    match step {
        Bulk::Begin => vec![
            Statement::new("DELETE FROM files", vec![]),
            Statement::new(
                "UPDATE files_meta SET count = 0, total_bytes = 0 WHERE id = 1",
                vec![],
            ),
            Statement::new("DELETE FROM history", vec![]),
            set_seq(0),
        ],
        Bulk::Add(paths) => {
            let files: Vec<FileChange> = paths
                .iter()
                .filter_map(|(path, versions)| {
                    Some(FileChange::Put(path.clone(), current_entry(versions)?))
                })
                .collect();
            let mut out = files_sql::plan_fresh(&files);
            let versions: Vec<(&NotePath, &Version)> = paths
                .iter()
                .flat_map(|(path, versions)| versions.iter().map(move |v| (path, v)))
                .collect();
            out.extend(history_sql::push_many(&versions));
            out
        }
        Bulk::Finish(seq) => vec![set_seq(seq)],
    }
}

/// The seq the SQL tables reflect.
pub fn sql_seq(db: &dyn SqlRead) -> Result<u64, StorageError> {
    let rows = db.query("SELECT seq FROM notes_meta WHERE id = 1", &[])?;
    match rows.first().and_then(|r| r.first()) {
        None => Ok(0),
        Some(v) => v.as_u64().ok_or_else(|| malformed("notes_meta")),
    }
}

/// Reading the notes projection, wherever the storage keeps it.
pub enum NotesView<'a> {
    /// In memory.
    Memory(&'a MemoryNotes),
    /// In SQL tables ([`sql_schema`]).
    Sql(Box<dyn SqlRead + 'a>),
}

impl std::fmt::Debug for NotesView<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotesView::Memory(_) => f.write_str("NotesView::Memory"),
            NotesView::Sql(_) => f.write_str("NotesView::Sql"),
        }
    }
}

type Entries = Vec<(NotePath, FileEntry)>;

fn owned(page: Page<(&NotePath, &FileEntry)>) -> Page<(NotePath, FileEntry)> {
    Page {
        items: page
            .items
            .into_iter()
            .map(|(p, e)| (p.clone(), e.clone()))
            .collect(),
        next: page.next,
    }
}

impl NotesView<'_> {
    /// The seq of the last event the projection reflects.
    pub fn seq(&self) -> Result<u64, StorageError> {
        match self {
            NotesView::Memory(m) => Ok(m.seq),
            NotesView::Sql(db) => sql_seq(db.as_ref()),
        }
    }

    /// The current entry of `path`.
    pub fn file(&self, path: &str) -> Result<Option<FileEntry>, StorageError> {
        match self {
            NotesView::Memory(m) => Ok(m.files.get(path).cloned()),
            NotesView::Sql(db) => files_sql::get(db.as_ref(), path),
        }
    }

    /// How many notes there are and their total size.
    pub fn stats(&self) -> Result<FileStats, StorageError> {
        match self {
            NotesView::Memory(m) => Ok(FileStats {
                count: m.files.len() as u64,
                total_bytes: m.files.total_bytes(),
            }),
            NotesView::Sql(db) => files_sql::stats(db.as_ref()),
        }
    }

    /// [`FileIndex::list`].
    pub fn list(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<(NotePath, FileEntry)>, StorageError> {
        match self {
            NotesView::Memory(m) => Ok(owned(m.files.list(after, limit))),
            NotesView::Sql(db) => files_sql::list(db.as_ref(), after, limit),
        }
    }

    /// [`FileIndex::glob`].
    pub fn glob(
        &self,
        glob: &Glob,
        after: Option<&str>,
        limit: usize,
        budget: &mut WorkBudget,
    ) -> Result<Page<(NotePath, FileEntry)>, StorageError> {
        match self {
            NotesView::Memory(m) => Ok(owned(m.files.glob(glob, after, limit, budget))),
            NotesView::Sql(db) => files_sql::glob(db.as_ref(), glob, after, limit, budget),
        }
    }

    /// [`FileIndex::recent`].
    pub fn recent(&self, before: Option<u64>, limit: usize) -> Result<Entries, StorageError> {
        match self {
            NotesView::Memory(m) => Ok(m
                .files
                .recent(before, limit)
                .into_iter()
                .map(|(p, e)| (p.clone(), e.clone()))
                .collect()),
            NotesView::Sql(db) => files_sql::recent(db.as_ref(), before, limit),
        }
    }

    /// [`FileIndex::digest`].
    pub fn digest(&self) -> Result<Hash, StorageError> {
        match self {
            NotesView::Memory(m) => Ok(m.files.digest()),
            NotesView::Sql(db) => files_sql::digest(db.as_ref()),
        }
    }

    /// Up to `limit` versions of `path` after version `after` (0: from the first), oldest
    /// first.
    pub fn versions(
        &self,
        path: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<Version>, StorageError> {
        match self {
            NotesView::Memory(m) => Ok(m
                .history
                .versions(path)
                .iter()
                .filter(|v| v.version > after)
                .take(limit)
                .cloned()
                .collect()),
            NotesView::Sql(db) => history_sql::versions(db.as_ref(), path, after, limit),
        }
    }

    /// Version `version` of `path`.
    pub fn version(&self, path: &str, version: u64) -> Result<Option<Version>, StorageError> {
        match self {
            NotesView::Memory(m) => Ok(m.history.version(path, version).cloned()),
            NotesView::Sql(db) => history_sql::version(db.as_ref(), path, version),
        }
    }

    /// The last version number of `path` (0: it never existed).
    pub fn last_version(&self, path: &str) -> Result<u64, StorageError> {
        match self {
            NotesView::Memory(m) => Ok(m.history.last_version(path)),
            NotesView::Sql(db) => history_sql::last_version(db.as_ref(), path),
        }
    }

    /// The version of `path` current at `time`.
    pub fn at_time(&self, path: &str, time: Timestamp) -> Result<Option<Version>, StorageError> {
        match self {
            NotesView::Memory(m) => Ok(m.history.at_time(path, time).cloned()),
            NotesView::Sql(db) => history_sql::at_time(db.as_ref(), path, time),
        }
    }

    /// The last version of `path` made by an event up to `seq`.
    pub fn version_through(&self, path: &str, seq: u64) -> Result<Option<Version>, StorageError> {
        match self {
            NotesView::Memory(m) => Ok(m
                .history
                .versions(path)
                .iter()
                .rev()
                .find(|v| v.seq <= seq)
                .cloned()),
            NotesView::Sql(db) => history_sql::version_through(db.as_ref(), path, seq),
        }
    }

    /// Which of `hashes` some version's content names.
    pub fn referenced(&self, hashes: &BTreeSet<Hash>) -> Result<BTreeSet<Hash>, StorageError> {
        match self {
            NotesView::Memory(m) => Ok(m.history.referenced(hashes)),
            NotesView::Sql(db) => history_sql::referenced(db.as_ref(), hashes),
        }
    }

    /// How many paths have a history.
    pub fn history_paths(&self) -> Result<u64, StorageError> {
        match self {
            NotesView::Memory(m) => Ok(m.history.paths() as u64),
            NotesView::Sql(db) => history_sql::paths(db.as_ref()),
        }
    }

    /// How many versions there are, of all paths.
    pub fn version_count(&self) -> Result<u64, StorageError> {
        match self {
            NotesView::Memory(m) => Ok(m.history.iter().map(|(_, vs)| vs.len() as u64).sum()),
            NotesView::Sql(db) => history_sql::count(db.as_ref()),
        }
    }

    /// Up to `limit` versions in (path, version) order after the version `after` names:
    /// the history a page at a time, for walks over all of it (snapshots, exports).
    pub fn history_rows(
        &self,
        after: Option<(&str, u64)>,
        limit: usize,
    ) -> Result<Vec<(NotePath, Version)>, StorageError> {
        let limit = limit.clamp(1, MAX_PAGE * 10);
        match self {
            NotesView::Memory(m) => {
                let mut out = Vec::new();
                for (path, versions) in m.history.iter() {
                    for v in versions {
                        let past = after.is_none_or(|(p, n)| (path.as_str(), v.version) > (p, n));
                        if past {
                            out.push((path.clone(), v.clone()));
                            if out.len() == limit {
                                return Ok(out);
                            }
                        }
                    }
                }
                Ok(out)
            }
            NotesView::Sql(db) => history_sql::rows(db.as_ref(), after, limit),
        }
    }

    /// Everything, read into memory (for tests and tools comparing projections).
    pub fn collect(&self) -> Result<MemoryNotes, StorageError> {
        let paths = self.history_by_path().collect::<Result<Vec<_>, _>>()?;
        Ok(MemoryNotes::from_history(paths, self.seq()?))
    }

    /// The current notes' paths in path order, read a page at a time.
    pub fn current_paths(&self) -> impl Iterator<Item = Result<NotePath, StorageError>> + '_ {
        let mut after: Option<String> = None;
        Paged::new(move || {
            let (paths, last): (Vec<NotePath>, bool) = match self {
                NotesView::Memory(m) => {
                    let page = m.files.list(after.as_deref(), PATHS_PAGE);
                    let last = page.next.is_none();
                    (
                        page.items.into_iter().map(|(p, _)| p.clone()).collect(),
                        last,
                    )
                }
                NotesView::Sql(db) => {
                    let paths = files_sql::paths(db.as_ref(), after.as_deref(), PATHS_PAGE)?;
                    let last = paths.len() < PATHS_PAGE;
                    (paths, last)
                }
            };
            if let Some(path) = paths.last() {
                after = Some(path.to_string());
            }
            Ok((paths, last))
        })
    }

    /// Every version, path by path in path order, read a page at a time.
    pub fn history_by_path(&self) -> HistoryByPath<'_, '_> {
        HistoryByPath {
            view: self,
            after: None,
            buffer: std::collections::VecDeque::new(),
            done: false,
        }
    }
}

/// Paths read per page by [`NotesView::current_paths`].
const PATHS_PAGE: usize = 5_000;

/// Rows read per page by [`HistoryByPath`].
const HISTORY_PAGE: usize = 2_000;

/// [`NotesView::history_by_path`]: `(path, its versions)` in path order.
#[derive(Debug)]
pub struct HistoryByPath<'v, 'a> {
    view: &'v NotesView<'a>,
    after: Option<(String, u64)>,
    buffer: std::collections::VecDeque<(NotePath, Version)>,
    done: bool,
}

impl HistoryByPath<'_, '_> {
    fn fill(&mut self) -> Result<(), StorageError> {
        let after = self.after.as_ref().map(|(p, v)| (p.as_str(), *v));
        let rows = self.view.history_rows(after, HISTORY_PAGE)?;
        self.done = rows.len() < HISTORY_PAGE;
        if let Some((p, v)) = rows.last() {
            self.after = Some((p.to_string(), v.version));
        }
        self.buffer.extend(rows);
        Ok(())
    }
}

impl Iterator for HistoryByPath<'_, '_> {
    type Item = Result<(NotePath, Vec<Version>), StorageError>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut current: Option<(NotePath, Vec<Version>)> = None;
        loop {
            if self.buffer.is_empty()
                && !self.done
                && let Err(err) = self.fill()
            {
                self.done = true;
                return Some(Err(err));
            }
            match self.buffer.front() {
                Some((path, _)) if current.as_ref().is_none_or(|(p, _)| p == path) => {
                    let Some((path, version)) = self.buffer.pop_front() else {
                        break;
                    };
                    match &mut current {
                        Some((_, versions)) => versions.push(version),
                        None => current = Some((path, vec![version])),
                    }
                }
                _ => break,
            }
        }
        current.map(Ok)
    }
}

/// The facts [`NotesLookup`] asks, for the paths of the events at hand: read from a view by
/// [`NotesCache::prefetch`], then kept current by [`NotesCache::apply`] as their changes are
/// made, so a batch of events can be checked one after another before any is stored.
#[derive(Debug, Default)]
pub struct NotesCache {
    files: HashMap<String, Option<FileEntry>>,
    last_versions: HashMap<String, u64>,
    versions: HashMap<(String, u64), Option<Version>>,
}

impl NotesCache {
    /// An empty cache.
    pub fn new() -> NotesCache {
        NotesCache::default()
    }

    /// Reads what checking and applying `envelope` asks about, unless already known.
    pub fn prefetch(
        &mut self,
        view: &NotesView<'_>,
        envelope: &Envelope,
    ) -> Result<(), StorageError> {
        let (paths, source): (Vec<&NotePath>, Option<(&NotePath, u64)>) = match &envelope.event {
            Event::NoteWritten(c) | Event::NoteEdited(c) => (vec![&c.path], None),
            Event::NoteReverted(r) => (vec![&r.path], Some((&r.path, r.source_version))),
            Event::NoteDeleted(d) => (vec![&d.path], None),
            Event::NoteMoved(m) => (vec![&m.from, &m.to], None),
            Event::SessionOpened(_)
            | Event::SessionTouched(_)
            | Event::SessionClosed(_)
            | Event::SessionExpired(_)
            | Event::SegmentArchived(_) => (vec![], None),
        };
        for path in paths {
            let key = path.as_str();
            if !self.files.contains_key(key) {
                self.files.insert(key.to_owned(), view.file(key)?);
            }
            if !self.last_versions.contains_key(key) {
                self.last_versions
                    .insert(key.to_owned(), view.last_version(key)?);
            }
        }
        if let Some((path, version)) = source
            && let std::collections::hash_map::Entry::Vacant(slot) =
                self.versions.entry((path.to_string(), version))
        {
            slot.insert(view.version(path.as_str(), version)?);
        }
        Ok(())
    }

    /// Records `change` (made after the prefetches it follows).
    pub fn apply(&mut self, change: &NotesChange) {
        for file in &change.files {
            match file {
                FileChange::Put(path, entry) => {
                    self.files.insert(path.to_string(), Some(entry.clone()));
                }
                FileChange::Remove(path) => {
                    self.files.insert(path.to_string(), None);
                }
            }
        }
        for (path, version) in &change.versions {
            self.last_versions.insert(path.to_string(), version.version);
            self.versions
                .insert((path.to_string(), version.version), Some(version.clone()));
        }
    }
}

impl NotesLookup for NotesCache {
    fn file(&self, path: &str) -> Option<FileEntry> {
        self.files.get(path).cloned().flatten()
    }

    fn last_version(&self, path: &str) -> u64 {
        self.last_versions.get(path).copied().unwrap_or(0)
    }

    fn version(&self, path: &str, version: u64) -> Option<Version> {
        self.versions
            .get(&(path.to_owned(), version))
            .cloned()
            .flatten()
    }
}
