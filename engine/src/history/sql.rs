//! Note history kept in SQL tables instead of memory: the same answers as
//! [`History`](super::History), with a path's versions read a page at a time.
//!
//! # Tables ([`SCHEMA`])
//! - `history(path, version, seq, time, change, source_version, other_path, hash, size,
//!   media_type)`: one row per version, keyed by path and version. `change` is 0 written,
//!   1 edited, 2 reverted (from `source_version`), 3 deleted, 4 moved here (from
//!   `other_path`), 5 moved away (to `other_path`); the content columns are `NULL` for a
//!   version without content.
//! - `history_hash`: the versions naming each content, for [`referenced`].
//!
//! A version is only ever added: [`push`] is one statement, for the append's transaction.

use std::collections::BTreeSet;

use super::{Change, Content, Version};
use crate::ids::{Hash, Timestamp};
use crate::path::NotePath;
use crate::sql::{MAX_PARAMS, SqlRead, Statement, Value, malformed, placeholders};
use crate::storage::StorageError;

/// The tables, created if missing.
pub const SCHEMA: [&str; 2] = [
    "CREATE TABLE IF NOT EXISTS history (path TEXT NOT NULL, version INTEGER NOT NULL, \
     seq INTEGER NOT NULL, time INTEGER NOT NULL, change INTEGER NOT NULL, \
     source_version INTEGER, other_path TEXT, hash BLOB, size INTEGER, media_type TEXT, \
     PRIMARY KEY (path, version)) WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS history_hash ON history (hash) WHERE hash IS NOT NULL",
];

const COLUMNS: &str =
    "version, seq, time, change, source_version, other_path, hash, size, media_type";

/// The statement that adds `version` to `path`'s history.
pub fn push(path: &NotePath, version: &Version) -> Statement {
    Statement::new(
        "INSERT INTO history (path, version, seq, time, change, source_version, other_path, \
         hash, size, media_type) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        row_params(path, version).into(),
    )
}

/// The statements that add `versions`, several rows to a statement (for filling the table
/// in bulk).
pub fn push_many(versions: &[(&NotePath, &Version)]) -> Vec<Statement> {
    const COLUMNS_PER_ROW: usize = 10;
    versions
        .chunks(MAX_PARAMS / COLUMNS_PER_ROW)
        .map(|chunk| {
            let mut sql = String::from(
                "INSERT INTO history (path, version, seq, time, change, source_version, \
                 other_path, hash, size, media_type) VALUES ",
            );
            let mut params = Vec::with_capacity(chunk.len() * COLUMNS_PER_ROW);
            for (i, (path, version)) in chunk.iter().enumerate() {
                if i > 0 {
                    sql.push_str(", ");
                }
                sql.push_str("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
                params.extend(row_params(path, version));
            }
            Statement {
                sql: sql.into(),
                params,
            }
        })
        .collect()
}

fn row_params(path: &NotePath, version: &Version) -> [Value; 10] {
    let (kind, source, other) = match &version.change {
        Change::Written => (0, Value::Null, Value::Null),
        Change::Edited => (1, Value::Null, Value::Null),
        Change::Reverted { source_version } => (2, Value::int(*source_version), Value::Null),
        Change::Deleted => (3, Value::Null, Value::Null),
        Change::MovedFrom { from } => (4, Value::Null, Value::Text(from.to_string())),
        Change::MovedTo { to } => (5, Value::Null, Value::Text(to.to_string())),
    };
    let (hash, size, media) = match &version.content {
        Some(c) => (
            Value::Blob(c.hash.0.to_vec()),
            Value::int(c.size),
            Value::Text(c.media_type.clone()),
        ),
        None => (Value::Null, Value::Null, Value::Null),
    };
    [
        Value::Text(path.to_string()),
        Value::int(version.version),
        Value::int(version.seq),
        Value::int(version.time.0),
        Value::Integer(kind),
        source,
        other,
        hash,
        size,
        media,
    ]
}

fn version_from_row(row: Vec<Value>) -> Result<Version, StorageError> {
    let bad = || malformed("history");
    let [
        version,
        seq,
        time,
        Value::Integer(kind),
        source,
        other,
        hash,
        size,
        media,
    ] = <[Value; 9]>::try_from(row).map_err(|_| bad())?
    else {
        return Err(bad());
    };
    let number = |v: &Value| v.as_u64().ok_or_else(bad);
    let other_path = || match &other {
        Value::Text(p) => NotePath::new(p.clone()).map_err(|_| bad()),
        _ => Err(bad()),
    };
    let change = match kind {
        0 => Change::Written,
        1 => Change::Edited,
        2 => Change::Reverted {
            source_version: number(&source)?,
        },
        3 => Change::Deleted,
        4 => Change::MovedFrom {
            from: other_path()?,
        },
        5 => Change::MovedTo { to: other_path()? },
        _ => return Err(bad()),
    };
    let content = match (hash, media) {
        (Value::Blob(hash), Value::Text(media_type)) => Some(Content {
            hash: Hash(<[u8; 32]>::try_from(hash.as_slice()).map_err(|_| bad())?),
            size: number(&size)?,
            media_type,
        }),
        (Value::Null, Value::Null) => None,
        _ => return Err(bad()),
    };
    Ok(Version {
        version: number(&version)?,
        seq: number(&seq)?,
        time: Timestamp(number(&time)?),
        change,
        content,
    })
}

fn versions_where(
    db: &dyn SqlRead,
    condition: &str,
    params: &[Value],
) -> Result<Vec<Version>, StorageError> {
    db.query(
        &format!("SELECT {COLUMNS} FROM history WHERE {condition}"),
        params,
    )?
    .into_iter()
    .map(version_from_row)
    .collect()
}

/// Up to `limit` versions of `path` after version `after` (0: from the first), oldest first.
pub fn versions(
    db: &dyn SqlRead,
    path: &str,
    after: u64,
    limit: usize,
) -> Result<Vec<Version>, StorageError> {
    versions_where(
        db,
        "path = ? AND version > ? ORDER BY version LIMIT ?",
        &[
            Value::Text(path.to_owned()),
            Value::int(after),
            Value::int(limit.min(MAX_ROWS) as u64),
        ],
    )
}

/// The most rows one read asks for (a bound parameter must stay below 2^53 in a Durable
/// Object).
const MAX_ROWS: usize = 1 << 30;

/// The last version number of `path`, or 0 if it never existed.
pub fn last_version(db: &dyn SqlRead, path: &str) -> Result<u64, StorageError> {
    let rows = db.query(
        "SELECT MAX(version) FROM history WHERE path = ?",
        &[Value::Text(path.to_owned())],
    )?;
    match rows.first().and_then(|r| r.first()) {
        Some(Value::Null) | None => Ok(0),
        Some(v) => v.as_u64().ok_or_else(|| malformed("history")),
    }
}

/// Version `version` of `path`.
pub fn version(
    db: &dyn SqlRead,
    path: &str,
    version: u64,
) -> Result<Option<Version>, StorageError> {
    Ok(versions_where(
        db,
        "path = ? AND version = ?",
        &[Value::Text(path.to_owned()), Value::int(version)],
    )?
    .pop())
}

/// The version of `path` that was current at `time`: the last one made at or before it.
pub fn at_time(
    db: &dyn SqlRead,
    path: &str,
    time: Timestamp,
) -> Result<Option<Version>, StorageError> {
    Ok(versions_where(
        db,
        "path = ? AND time <= ? ORDER BY version DESC LIMIT 1",
        &[Value::Text(path.to_owned()), Value::int(time.0)],
    )?
    .pop())
}

/// The last version of `path` made by an event up to `seq`.
pub fn version_through(
    db: &dyn SqlRead,
    path: &str,
    seq: u64,
) -> Result<Option<Version>, StorageError> {
    Ok(versions_where(
        db,
        "path = ? AND seq <= ? ORDER BY version DESC LIMIT 1",
        &[Value::Text(path.to_owned()), Value::int(seq)],
    )?
    .pop())
}

/// Up to `limit` versions in (path, version) order after the one `after` names.
pub fn rows(
    db: &dyn SqlRead,
    after: Option<(&str, u64)>,
    limit: usize,
) -> Result<Vec<(NotePath, Version)>, StorageError> {
    let (path, version) = after.unwrap_or(("", 0));
    let rows = db.query(
        &format!(
            "SELECT path, {COLUMNS} FROM history WHERE (path, version) > (?, ?) \
             ORDER BY path, version LIMIT ?"
        ),
        &[
            Value::Text(path.to_owned()),
            Value::int(version),
            Value::int(limit.min(MAX_ROWS) as u64),
        ],
    )?;
    rows.into_iter()
        .map(|mut row| {
            if row.is_empty() {
                return Err(malformed("history"));
            }
            let Value::Text(path) = row.remove(0) else {
                return Err(malformed("history"));
            };
            let path = NotePath::new(path).map_err(|_| malformed("history"))?;
            Ok((path, version_from_row(row)?))
        })
        .collect()
}

/// Which of `hashes` some version's content names.
pub fn referenced(
    db: &dyn SqlRead,
    hashes: &BTreeSet<Hash>,
) -> Result<BTreeSet<Hash>, StorageError> {
    let mut found = BTreeSet::new();
    let all: Vec<Value> = hashes.iter().map(|h| Value::Blob(h.0.to_vec())).collect();
    for chunk in all.chunks(MAX_PARAMS) {
        for row in db.query(
            &format!(
                "SELECT DISTINCT hash FROM history WHERE hash IN ({})",
                placeholders(chunk.len())
            ),
            chunk,
        )? {
            match row.first() {
                Some(Value::Blob(h)) => {
                    let h = <[u8; 32]>::try_from(h.as_slice()).map_err(|_| malformed("history"))?;
                    found.insert(Hash(h));
                }
                _ => return Err(malformed("history")),
            }
        }
    }
    Ok(found)
}

/// How many versions there are.
pub fn count(db: &dyn SqlRead) -> Result<u64, StorageError> {
    let rows = db.query("SELECT COUNT(*) FROM history", &[])?;
    rows.first()
        .and_then(|r| r.first())
        .and_then(Value::as_u64)
        .ok_or_else(|| malformed("history"))
}

/// How many paths have a history.
pub fn paths(db: &dyn SqlRead) -> Result<u64, StorageError> {
    let rows = db.query("SELECT COUNT(DISTINCT path) FROM history", &[])?;
    rows.first()
        .and_then(|r| r.first())
        .and_then(Value::as_u64)
        .ok_or_else(|| malformed("history"))
}

#[cfg(test)]
mod tests;
