//! What an export still has to pack, asked of SQL tables instead of memory.
//!
//! A Durable Object keeps both halves of the question in its SQLite storage: the history
//! (`engine::history::sql`, one row per version naming its content) and the records of what the
//! bucket holds ([`SCHEMA`]). [`contents_to_export`] joins them in two queries and returns a
//! [`ContentsToExport`] bounded by the run, so planning an export reads neither every
//! version nor every record into the object's memory: at 100,000 notes the in-memory way
//! left the object at 44 MiB after one run. It answers as
//! [`ContentsToExport::from_memory`] does (tested natively in `tests/export_sql.rs`).

use std::collections::BTreeSet;

use engine::Hash;
use engine::sql::{SqlRead, Value};
use engine::storage::StorageError;

use super::ContentsToExport;
use crate::seal::Recipient;

/// The tables of what the bucket holds, created if missing: segments, packs, each content's
/// pack (`hash` as lowercase hex), and the sealed objects' recipient and plaintext digest.
pub const SCHEMA: [&str; 4] = [
    "CREATE TABLE IF NOT EXISTS backup_segments (key TEXT PRIMARY KEY, size INTEGER NOT NULL, \
     blake3 TEXT NOT NULL, first_seq INTEGER NOT NULL, last_seq INTEGER NOT NULL, \
     first_ms INTEGER NOT NULL, last_ms INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS backup_packs (key TEXT PRIMARY KEY, size INTEGER NOT NULL, \
     blake3 TEXT NOT NULL, contents INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS backup_contents (hash TEXT PRIMARY KEY, pack TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS backup_sealed (key TEXT PRIMARY KEY, recipient TEXT NOT NULL, \
     plain TEXT NOT NULL)",
];

/// The first `limit` contents (in hash order) that versions name and no usable recorded pack
/// holds. `?`: the recipient (or `NULL`) twice, then the limit.
const MISSING: &str = "SELECT h.hash, MAX(h.size) FROM history h WHERE h.hash IS NOT NULL \
     GROUP BY h.hash HAVING NOT EXISTS (SELECT 1 FROM backup_contents b \
     JOIN backup_packs p ON p.key = b.pack LEFT JOIN backup_sealed s ON s.key = b.pack \
     WHERE b.hash = lower(hex(h.hash)) AND ((s.key IS NULL AND ? IS NULL) OR s.recipient = ?)) \
     ORDER BY h.hash LIMIT ?";

/// The usable recorded packs that hold a content some version names. `?`: the recipient (or
/// `NULL`) twice.
const HELD: &str = "SELECT DISTINCT b.pack FROM \
     (SELECT DISTINCT hash FROM history WHERE hash IS NOT NULL) h \
     JOIN backup_contents b ON b.hash = lower(hex(h.hash)) \
     JOIN backup_packs p ON p.key = b.pack LEFT JOIN backup_sealed s ON s.key = b.pack \
     WHERE (s.key IS NULL AND ? IS NULL) OR s.recipient = ?";

/// What a run writing as `sealing` does (plain, or sealed to that recipient) still has to
/// pack, at most `limit` contents, and the packs that hold the others: as
/// [`ContentsToExport::from_memory`] works it out from every content and record. The
/// history's contents are those of every version stored, which is every version up to the
/// head when asked in the same turn as the head is read.
pub fn contents_to_export(
    db: &dyn SqlRead,
    sealing: Option<&Recipient>,
    limit: usize,
) -> Result<ContentsToExport, StorageError> {
    let recipient = sealing.map_or(Value::Null, |r| Value::Text(r.to_string()));
    let mut missing = Vec::new();
    // One more than asked tells whether more are missing (bounded: the database binds
    // integers up to 2^53 only).
    let asked = Value::int(u64::try_from(limit).unwrap_or(u64::MAX).min(1 << 52) + 1);
    let rows = db.query(MISSING, &[recipient.clone(), recipient.clone(), asked])?;
    for row in &rows {
        let (Some(Value::Blob(hash)), Some(size)) = (row.first(), row.get(1)) else {
            return Err(malformed("history"));
        };
        let hash = <[u8; 32]>::try_from(hash.as_slice()).map_err(|_| malformed("history"))?;
        let size = size.as_u64().ok_or_else(|| malformed("history"))?;
        missing.push((Hash(hash), size));
    }
    let more = missing.len() > limit;
    missing.truncate(limit);
    let mut held = BTreeSet::new();
    for row in db.query(HELD, &[recipient.clone(), recipient])? {
        match row.into_iter().next() {
            Some(Value::Text(key)) => {
                held.insert(key);
            }
            _ => return Err(malformed("backup_contents")),
        }
    }
    Ok(ContentsToExport {
        missing,
        more,
        held,
    })
}

fn malformed(table: &str) -> StorageError {
    StorageError::new(format!("a row of {table} has an unexpected shape"))
}
