//! The file index kept in SQL tables instead of memory: the same answers as
//! [`FileIndex`](super::FileIndex) (listings, globs, recent changes, the digest), read a page
//! at a time, so holding 100,000 notes costs the object no memory.
//!
//! # Tables ([`SCHEMA`])
//! - `files(path, version, hash, size, media_type, created, modified, seq)`: one row per
//!   current note, keyed by path (SQLite compares text bytewise, which is the order of
//!   [`NotePath`]); `files_seq` orders them by the event that made them, for
//!   [`recent`].
//! - `files_meta(count, total_bytes)`: kept with every change, so quotas cost one row.
//!
//! [`plan`] reads the old entries its changes replace (for the totals) and returns the
//! statements; the caller runs them in the transaction of the append they come from.

use std::collections::BTreeMap;

use super::{FileEntry, Keep, MAX_PAGE, NotesDigest, Page, Paged, scan_page};
use crate::glob::{Glob, WorkBudget};
use crate::ids::{Hash, Timestamp};
use crate::path::NotePath;
use crate::sql::{MAX_PARAMS, SqlRead, Statement, Value, malformed};
use crate::storage::StorageError;

/// The tables, created if missing.
pub const SCHEMA: [&str; 4] = [
    "CREATE TABLE IF NOT EXISTS files (path TEXT PRIMARY KEY, version INTEGER NOT NULL, \
     hash BLOB NOT NULL, size INTEGER NOT NULL, media_type TEXT NOT NULL, \
     created INTEGER NOT NULL, modified INTEGER NOT NULL, seq INTEGER NOT NULL) WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS files_seq ON files (seq)",
    "CREATE TABLE IF NOT EXISTS files_meta (id INTEGER PRIMARY KEY CHECK (id = 1), \
     count INTEGER NOT NULL, total_bytes INTEGER NOT NULL)",
    "INSERT OR IGNORE INTO files_meta (id, count, total_bytes) VALUES (1, 0, 0)",
];

/// One change to the file index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileChange {
    /// `path` is now `entry` (new, or replacing its entry).
    Put(NotePath, FileEntry),
    /// `path` is gone.
    Remove(NotePath),
}

/// How many notes there are and their total size.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FileStats {
    /// Current notes.
    pub count: u64,
    /// Their total size in bytes.
    pub total_bytes: u64,
}

const COLUMNS: &str = "path, version, hash, size, media_type, created, modified, seq";

/// The totals.
pub fn stats(db: &dyn SqlRead) -> Result<FileStats, StorageError> {
    let rows = db.query(
        "SELECT count, total_bytes FROM files_meta WHERE id = 1",
        &[],
    )?;
    let Some(row) = rows.first() else {
        return Ok(FileStats::default());
    };
    match (
        row.first().and_then(Value::as_u64),
        row.get(1).and_then(Value::as_u64),
    ) {
        (Some(count), Some(total_bytes)) => Ok(FileStats { count, total_bytes }),
        _ => Err(malformed("files_meta")),
    }
}

/// The statements that apply `changes` in order.
pub fn plan(db: &dyn SqlRead, changes: &[FileChange]) -> Result<Vec<Statement>, StorageError> {
    let mut totals = stats(db)?;
    // Sizes of the paths this batch touched (`None`: absent now).
    let mut touched: BTreeMap<&str, Option<u64>> = BTreeMap::new();
    let mut out = Vec::with_capacity(changes.len() + 1);
    for change in changes {
        let path = match change {
            FileChange::Put(path, _) | FileChange::Remove(path) => path.as_str(),
        };
        let old = match touched.get(path) {
            Some(size) => *size,
            None => get(db, path)?.map(|e| e.size),
        };
        if let Some(size) = old {
            totals.count -= 1;
            totals.total_bytes -= size;
        }
        match change {
            FileChange::Put(path, entry) => {
                totals.count += 1;
                totals.total_bytes += entry.size;
                touched.insert(path.as_str(), Some(entry.size));
                out.push(Statement::new(
                    "INSERT OR REPLACE INTO files (path, version, hash, size, media_type, \
                     created, modified, seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    entry_params(path, entry).into(),
                ));
            }
            FileChange::Remove(path) => {
                touched.insert(path.as_str(), None);
                out.push(Statement::new(
                    "DELETE FROM files WHERE path = ?",
                    vec![Value::Text(path.to_string())],
                ));
            }
        }
    }
    out.push(Statement::new(
        "UPDATE files_meta SET count = ?, total_bytes = ? WHERE id = 1",
        vec![Value::int(totals.count), Value::int(totals.total_bytes)],
    ));
    Ok(out)
}

/// The statements that insert `changes` (puts only; removes are skipped; none of their paths
/// in the table yet), several rows to a statement, and add them to the totals. For filling
/// the tables in bulk, a batch at a time.
pub fn plan_fresh(changes: &[FileChange]) -> Vec<Statement> {
    const COLUMNS_PER_ROW: usize = 8;
    let rows: Vec<(&NotePath, &FileEntry)> = changes
        .iter()
        .filter_map(|c| match c {
            FileChange::Put(p, e) => Some((p, e)),
            FileChange::Remove(_) => None,
        })
        .collect();
    let mut out = Vec::new();
    for chunk in rows.chunks(MAX_PARAMS / COLUMNS_PER_ROW) {
        let mut sql = String::from(
            "INSERT INTO files (path, version, hash, size, media_type, created, modified, \
             seq) VALUES ",
        );
        let mut params = Vec::with_capacity(chunk.len() * COLUMNS_PER_ROW);
        for (i, (path, entry)) in chunk.iter().enumerate() {
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push_str("(?, ?, ?, ?, ?, ?, ?, ?)");
            params.extend(entry_params(path, entry));
        }
        out.push(Statement {
            sql: sql.into(),
            params,
        });
    }
    out.push(Statement::new(
        "UPDATE files_meta SET count = count + ?, total_bytes = total_bytes + ? WHERE id = 1",
        vec![
            Value::int(rows.len() as u64),
            Value::int(rows.iter().map(|(_, e)| e.size).sum()),
        ],
    ));
    out
}

fn entry_params(path: &NotePath, entry: &FileEntry) -> [Value; 8] {
    [
        Value::Text(path.to_string()),
        Value::int(entry.version),
        Value::Blob(entry.hash.0.to_vec()),
        Value::int(entry.size),
        Value::Text(entry.media_type.clone()),
        Value::int(entry.created.0),
        Value::int(entry.modified.0),
        Value::int(entry.seq),
    ]
}

/// The current entry for `path`.
pub fn get(db: &dyn SqlRead, path: &str) -> Result<Option<FileEntry>, StorageError> {
    let rows = db.query(
        &format!("SELECT {COLUMNS} FROM files WHERE path = ?"),
        &[Value::Text(path.to_owned())],
    )?;
    match rows.into_iter().next() {
        Some(row) => Ok(Some(entry_from_row(row)?.1)),
        None => Ok(None),
    }
}

fn entry_from_row(row: Vec<Value>) -> Result<(NotePath, FileEntry), StorageError> {
    let bad = || malformed("files");
    let [
        Value::Text(path),
        version,
        Value::Blob(hash),
        size,
        Value::Text(media_type),
        created,
        modified,
        seq,
    ] = <[Value; 8]>::try_from(row).map_err(|_| bad())?
    else {
        return Err(bad());
    };
    let number = |v: &Value| v.as_u64().ok_or_else(bad);
    Ok((
        NotePath::new(path).map_err(|_| bad())?,
        FileEntry {
            version: number(&version)?,
            hash: Hash(<[u8; 32]>::try_from(hash.as_slice()).map_err(|_| bad())?),
            size: number(&size)?,
            media_type,
            created: Timestamp(number(&created)?),
            modified: Timestamp(number(&modified)?),
            seq: number(&seq)?,
        },
    ))
}

/// The notes in path order from `after` (exclusive) or else `prefix` (inclusive), read `chunk`
/// rows at a time as the consumer goes.
fn in_path_order<'a>(
    db: &'a dyn SqlRead,
    after: Option<&str>,
    prefix: &str,
    chunk: usize,
) -> impl Iterator<Item = Result<(NotePath, FileEntry), StorageError>> + 'a {
    // The last path read (exclusive), or the first path wanted (inclusive) before any read.
    let mut from = match after {
        Some(after) if after >= prefix => (after.to_owned(), false),
        _ => (prefix.to_owned(), true),
    };
    Paged::new(move || {
        let op = if from.1 { ">=" } else { ">" };
        let rows = db.query(
            &format!("SELECT {COLUMNS} FROM files WHERE path {op} ? ORDER BY path LIMIT ?"),
            &[Value::Text(from.0.clone()), Value::int(chunk as u64)],
        )?;
        let last = rows.len() < chunk;
        let page = rows
            .into_iter()
            .map(entry_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        if let Some((path, _)) = page.last() {
            from = (path.to_string(), false);
        }
        Ok((page, last))
    })
}

/// [`FileIndex::list`](super::FileIndex::list): notes in path order after `after`.
pub fn list(
    db: &dyn SqlRead,
    after: Option<&str>,
    limit: usize,
) -> Result<Page<(NotePath, FileEntry)>, StorageError> {
    let chunk = limit.clamp(1, MAX_PAGE) + 1;
    let rows = in_path_order(db, after, "", chunk);
    let (page, read) = scan_page(rows, limit, "", |_| Keep::Yes, |(p, _)| p.as_str());
    read.map(|()| page)
}

/// Up to `limit` current notes' paths after `after`, in path order: the path column alone (a
/// full snapshot lists every note's path, and the rest of a row would be read for nothing).
pub fn paths(
    db: &dyn SqlRead,
    after: Option<&str>,
    limit: usize,
) -> Result<Vec<NotePath>, StorageError> {
    let rows = db.query(
        "SELECT path FROM files WHERE path > ? ORDER BY path LIMIT ?",
        &[
            Value::Text(after.unwrap_or("").to_owned()),
            Value::int(limit.max(1) as u64),
        ],
    )?;
    rows.into_iter()
        .map(|row| match row.into_iter().next() {
            Some(Value::Text(path)) => NotePath::new(path).map_err(|_| malformed("files")),
            _ => Err(malformed("files")),
        })
        .collect()
}

/// [`FileIndex::glob`](super::FileIndex::glob): notes matching `glob`, spending `budget`.
pub fn glob(
    db: &dyn SqlRead,
    glob: &Glob,
    after: Option<&str>,
    limit: usize,
    budget: &mut WorkBudget,
) -> Result<Page<(NotePath, FileEntry)>, StorageError> {
    let mut matcher = glob.matcher();
    let mut first = true;
    let prefix = glob.literal_prefix();
    let chunk = (limit.clamp(1, MAX_PAGE) + 1).max(256);
    let rows = in_path_order(db, after, prefix, chunk);
    let keep = |path: &str| {
        if budget.is_spent() && !first {
            return Keep::Stop;
        }
        first = false;
        if matcher.matches(path, budget) {
            Keep::Yes
        } else {
            Keep::No
        }
    };
    let (page, read) = scan_page(rows, limit, prefix, keep, |(p, _)| p.as_str());
    read.map(|()| page)
}

/// [`FileIndex::recent`](super::FileIndex::recent): newest first, below seq `before`.
pub fn recent(
    db: &dyn SqlRead,
    before: Option<u64>,
    limit: usize,
) -> Result<Vec<(NotePath, FileEntry)>, StorageError> {
    let limit = Value::int(limit.clamp(1, MAX_PAGE) as u64);
    // Every bound parameter stays below 2^53: a Durable Object's SQL API takes numbers as
    // JavaScript numbers and refuses larger integers.
    let rows = match before {
        Some(before) => db.query(
            &format!("SELECT {COLUMNS} FROM files WHERE seq < ? ORDER BY seq DESC LIMIT ?"),
            &[Value::int(before), limit],
        )?,
        None => db.query(
            &format!("SELECT {COLUMNS} FROM files ORDER BY seq DESC LIMIT ?"),
            &[limit],
        )?,
    };
    rows.into_iter().map(entry_from_row).collect()
}

/// [`FileIndex::digest`](super::FileIndex::digest), reading the notes a page at a time.
pub fn digest(db: &dyn SqlRead) -> Result<Hash, StorageError> {
    let count = stats(db)?.count;
    let mut digest = NotesDigest::new(count);
    let mut seen = 0;
    for row in in_path_order(db, None, "", MAX_PAGE) {
        let (path, entry) = row?;
        digest.add(path.as_str(), &entry);
        seen += 1;
    }
    if seen != count {
        return Err(StorageError::new(format!(
            "files_meta counts {count} notes but files holds {seen}"
        )));
    }
    Ok(digest.finish())
}

#[cfg(test)]
mod tests;
