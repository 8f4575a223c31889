//! [`engine::Storage`] on a Durable Object's SQLite storage.
//!
//! # Layout
//! - `events(seq INTEGER PRIMARY KEY, hash BLOB, bytes BLOB)`: one row per log event.
//! - `snapshot_chunks(idx INTEGER PRIMARY KEY, bytes BLOB)`: the stored snapshot, cut into
//!   chunks of [`SNAPSHOT_CHUNK_BYTES`].
//! - `snapshot_meta(id = 1, seq, len, chunks, digest)`: which seq the snapshot covers, its
//!   length, its chunk count and the blake3 of its bytes (checked when it is put together).
//!
//! # Atomicity
//! The engine needs [`Storage::append`] and [`Storage::put_snapshot`] to be all-or-nothing.
//! Separate `exec` calls are not atomic, and `BEGIN TRANSACTION` is refused, so every mutating
//! call runs inside the storage's `transactionSync(fn)`: SQLite commits when `fn` returns and
//! rolls back when it throws. `worker` 0.8.7 does not wrap `transactionSync`, so it is called
//! on the raw JS storage object. A multi-row `INSERT` (one statement, hence atomic) would cover
//! small appends but not a snapshot's several chunks, and it runs into the per-statement limit
//! on bound parameters with the engine's 1,024-event rebuild batches; one transaction serves
//! every case the same way.
//!
//! # Row size
//! Production refuses rows over 2 MB while local development does not, so the limit is
//! enforced here: an event row over [`MAX_ROW_BYTES`] is refused before anything is written,
//! and snapshot chunks stay well below it.
//!
//! # The notes and the search index
//! The engine's notes (file index and history, [`engine::notes`]) and its search index live
//! here too, in the tables of [`engine::files::sql`], [`engine::history::sql`] and
//! [`engine::search::sql`] (created with the log's): [`Storage::append_indexed`] plans their
//! changes (reading what they need) and runs them in the same transaction as the event rows,
//! so they always describe the log. The notes survive the object (they are its tables), so
//! its local snapshot leaves them out ([`Storage::keeps_notes`]; snapshot format 2).
//!
//! Durability: a Durable Object does not let a response out before the writes made while
//! producing it are confirmed (output gates), so a committed transaction is durable by the
//! time anyone hears about it.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::rc::Rc;

use engine::NotePath;
use engine::envelope::StoredEvent;
use engine::history::Version;
use engine::notes::{self, NotesChange, NotesView};
use engine::search::sql::{self as search_sql, MaintainReport, SearchChange, SearchWork};
use engine::search::{SearchCursor, SearchPage};
use engine::sql::{SqlRead, Statement, Value};
use engine::storage::{Bulk, StoredSnapshot};
use engine::{Hash, Storage, StorageError};
use worker::js_sys::{Function, Reflect};
use worker::wasm_bindgen::closure::Closure;
use worker::wasm_bindgen::{JsCast, JsValue};
use worker::{SqlStorage, SqlStorageValue};

/// The largest row production accepts (Durable Object SQLite: 2 MB per row).
pub(crate) const MAX_ROW_BYTES: usize = 2_000_000;
/// Room kept in a row for the columns other than the big BLOB.
const ROW_OVERHEAD_BYTES: usize = 128;
/// The size of one snapshot chunk: half the row limit.
pub(crate) const SNAPSHOT_CHUNK_BYTES: usize = 1_000_000;
const _: () = assert!(SNAPSHOT_CHUNK_BYTES + ROW_OVERHEAD_BYTES <= MAX_ROW_BYTES);

const SCHEMA: [&str; 3] = [
    "CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY, hash BLOB NOT NULL, bytes BLOB NOT NULL)",
    "CREATE TABLE IF NOT EXISTS snapshot_chunks (idx INTEGER PRIMARY KEY, bytes BLOB NOT NULL)",
    "CREATE TABLE IF NOT EXISTS snapshot_meta (id INTEGER PRIMARY KEY CHECK (id = 1), \
     seq INTEGER NOT NULL, len INTEGER NOT NULL, chunks INTEGER NOT NULL, digest BLOB NOT NULL)",
];

/// The engine's storage in a Durable Object's SQLite database.
#[derive(Debug, Clone)]
pub(crate) struct DoStorage {
    sql: SqlStorage,
    /// The JS `DurableObjectStorage`, for `transactionSync`.
    raw: JsValue,
}

impl DoStorage {
    /// Opens the storage of `storage`, creating its tables when missing.
    pub(crate) fn open(storage: &worker::Storage) -> Result<DoStorage, StorageError> {
        let sql = storage.sql();
        let tables = SCHEMA
            .iter()
            .copied()
            .chain(notes::sql_schema())
            .chain(search_sql::SCHEMA.iter().copied());
        for statement in tables {
            sql.exec(statement, None).map_err(js_error)?;
        }
        let raw: &JsValue = storage.as_raw().as_ref();
        Ok(DoStorage {
            sql,
            raw: raw.clone(),
        })
    }

    /// Runs `body` in one SQLite transaction: everything it executed is committed when it
    /// returns `Ok`, and rolled back when it returns `Err`.
    fn transaction<T: 'static>(
        &self,
        body: impl FnOnce(&SqlStorage) -> Result<T, StorageError> + 'static,
    ) -> Result<T, StorageError> {
        let outcome: Rc<RefCell<Option<Result<T, StorageError>>>> = Rc::new(RefCell::new(None));
        let slot = Rc::clone(&outcome);
        let sql = self.sql.clone();
        let closure: Closure<dyn FnMut() -> Result<JsValue, JsValue>> =
            Closure::once(move || -> Result<JsValue, JsValue> {
                let result = body(&sql);
                let failed = result.is_err();
                *slot.borrow_mut() = Some(result);
                if failed {
                    // Throwing is what makes transactionSync roll back.
                    Err(JsValue::from_str("rolled back"))
                } else {
                    Ok(JsValue::UNDEFINED)
                }
            });
        let function: Function = Reflect::get(&self.raw, &JsValue::from_str("transactionSync"))
            .map_err(js_error)?
            .dyn_into()
            .map_err(|_| StorageError::new("storage.transactionSync is not a function"))?;
        let called = function.call1(&self.raw, closure.as_ref());
        let result = outcome.borrow_mut().take();
        match (called, result) {
            (Ok(_), Some(result)) => result,
            (Err(_), Some(Err(err))) => Err(err),
            // Our function succeeded but the commit threw.
            (Err(thrown), Some(Ok(_))) => Err(js_error(thrown)),
            (Err(thrown), None) => Err(js_error(thrown)),
            (Ok(_), None) => Err(StorageError::new(
                "transactionSync did not run its function",
            )),
        }
    }
}

impl DoStorage {
    /// Appends `events` and runs `then` after them, in one transaction.
    fn append_then(
        &mut self,
        events: &[StoredEvent],
        then: Vec<Statement>,
    ) -> Result<(), StorageError> {
        check_contiguous(events)?;
        let mut rows = Vec::with_capacity(events.len());
        for event in events {
            check_row(event.bytes.len())?;
            rows.push(vec![
                seq_value(event.seq)?,
                SqlStorageValue::Blob(event.hash.0.to_vec()),
                SqlStorageValue::Blob(event.bytes.clone()),
            ]);
        }
        let then = then
            .into_iter()
            .map(|s| Ok((s.sql.into_owned(), sql_params(s.params)?)))
            .collect::<Result<Vec<_>, StorageError>>()?;
        if rows.is_empty() && then.is_empty() {
            return Ok(());
        }
        let first_seq = events.first().map(|e| e.seq);
        self.transaction(move |sql| {
            if let Some(first_seq) = first_seq
                && let Some(last) = last_seq(sql)?
                && first_seq != last + 1
            {
                return Err(StorageError::new(format!(
                    "append of seq {first_seq} where {} was expected",
                    last + 1
                )));
            }
            for row in rows {
                sql.exec(
                    "INSERT INTO events (seq, hash, bytes) VALUES (?, ?, ?)",
                    row,
                )
                .map_err(js_error)?;
            }
            for (statement, params) in then {
                sql.exec(&statement, params).map_err(js_error)?;
            }
            Ok(())
        })
    }

    /// The database as the engine's projections (and the export's planning) read it.
    pub(crate) fn reader(&self) -> Reader<'_> {
        Reader(&self.sql)
    }
}

/// Reads for [`engine::sql::SqlRead`]: statements run through the object's SQL API.
pub(crate) struct Reader<'a>(&'a SqlStorage);

impl SqlRead for Reader<'_> {
    fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<Vec<Value>>, StorageError> {
        let cursor = self
            .0
            .exec(sql, sql_params(params.to_vec())?)
            .map_err(js_error)?;
        let mut rows = Vec::new();
        for row in cursor.raw() {
            rows.push(row.map_err(js_error)?.into_iter().map(value).collect());
        }
        Ok(rows)
    }
}

fn sql_params(params: Vec<Value>) -> Result<Vec<SqlStorageValue>, StorageError> {
    params
        .into_iter()
        .map(|v| {
            Ok(match v {
                Value::Null => SqlStorageValue::Null,
                Value::Integer(n) => SqlStorageValue::try_from_i64(n)
                    .map_err(|_| StorageError::new("an integer beyond 2^53"))?,
                Value::Real(x) => SqlStorageValue::Float(x),
                Value::Text(t) => SqlStorageValue::String(t),
                Value::Blob(b) => SqlStorageValue::Blob(b),
            })
        })
        .collect()
}

fn value(v: SqlStorageValue) -> Value {
    match v {
        SqlStorageValue::Null => Value::Null,
        SqlStorageValue::Boolean(b) => Value::Integer(i64::from(b)),
        SqlStorageValue::Integer(n) => Value::Integer(n),
        SqlStorageValue::Float(x) => Value::Real(x),
        SqlStorageValue::String(s) => Value::Text(s),
        SqlStorageValue::Blob(b) => Value::Blob(b),
    }
}

impl Storage for DoStorage {
    fn append(&mut self, events: &[StoredEvent]) -> Result<(), StorageError> {
        if events.is_empty() {
            return Ok(());
        }
        self.append_then(events, Vec::new())
    }

    fn append_indexed(
        &mut self,
        events: &[StoredEvent],
        notes: &NotesChange,
        changes: &[SearchChange],
    ) -> Result<(), StorageError> {
        let seq = events.last().map(|e| e.seq);
        let mut statements = notes::sql_plan(&self.reader(), notes, seq)?;
        statements.extend(search_sql::plan(&self.reader(), changes, seq)?);
        self.append_then(events, statements)
    }

    fn apply_notes(&mut self, notes: &NotesChange, seq: u64) -> Result<(), StorageError> {
        let statements = notes::sql_plan(&self.reader(), notes, Some(seq))?;
        self.append_then(&[], statements)
    }

    fn load_notes(&mut self, step: Bulk<'_, (NotePath, Vec<Version>)>) -> Result<(), StorageError> {
        self.append_then(&[], notes::sql_load(step))
    }

    fn notes(&self) -> NotesView<'_> {
        NotesView::Sql(Box::new(self.reader()))
    }

    fn keeps_notes(&self) -> bool {
        true
    }

    fn search(
        &self,
        query: &str,
        limit: usize,
        after: Option<&SearchCursor>,
    ) -> Result<SearchPage, StorageError> {
        search_sql::search(&self.reader(), query, limit, after)
    }

    fn unindexed(&self, limit: usize) -> Result<Vec<(String, Hash)>, StorageError> {
        search_sql::unindexed(&self.reader(), limit)
    }

    fn is_indexed(&self, path: &str, hash: Hash) -> Result<bool, StorageError> {
        search_sql::is_indexed(&self.reader(), path, hash)
    }

    fn search_seq(&self) -> Result<u64, StorageError> {
        Ok(search_sql::stats(&self.reader())?.seq)
    }

    fn reset_search(&mut self, step: Bulk<'_, (String, Hash)>) -> Result<(), StorageError> {
        let statements = search_sql::reset(&self.reader(), step)?;
        self.append_then(&[], statements)
    }

    fn maintain_search(&mut self, max_notes: usize) -> Result<MaintainReport, StorageError> {
        let (statements, report) = search_sql::maintain(&self.reader(), max_notes)?;
        self.append_then(&[], statements)?;
        Ok(report)
    }

    fn search_work(&self) -> Result<SearchWork, StorageError> {
        search_sql::work(&self.reader())
    }

    fn notes_with_fragment(
        &self,
        fragment: &engine::grep::narrow::Fragment,
        max: usize,
    ) -> Result<Option<BTreeSet<String>>, StorageError> {
        search_sql::notes_with_fragment(&self.reader(), fragment, max)
    }

    fn always_candidates(&self, max: usize) -> Result<Option<BTreeSet<String>>, StorageError> {
        search_sql::always_candidates(&self.reader(), max)
    }

    fn read(&self, from: u64, max: usize) -> Result<Vec<StoredEvent>, StorageError> {
        let Ok(from) = i64::try_from(from) else {
            return Ok(Vec::new());
        };
        let limit = i64::try_from(max).unwrap_or(i64::MAX);
        let cursor = self
            .sql
            .exec(
                "SELECT seq, hash, bytes FROM events WHERE seq >= ? ORDER BY seq LIMIT ?",
                vec![from.into(), limit.into()],
            )
            .map_err(js_error)?;
        let mut events = Vec::new();
        for row in cursor.raw() {
            let row = row.map_err(js_error)?;
            events.push(event_from_row(row)?);
        }
        Ok(events)
    }

    fn put_snapshot(&mut self, snapshot: &StoredSnapshot) -> Result<(), StorageError> {
        let seq = seq_value(snapshot.seq)?;
        let len = snapshot.bytes.len();
        let digest = Hash::of(&snapshot.bytes);
        let chunks: Vec<Vec<u8>> = snapshot
            .bytes
            .chunks(SNAPSHOT_CHUNK_BYTES)
            .map(<[u8]>::to_vec)
            .collect();
        let count = chunks.len();
        self.transaction(move |sql| {
            sql.exec("DELETE FROM snapshot_chunks", None)
                .map_err(js_error)?;
            for (idx, chunk) in chunks.into_iter().enumerate() {
                sql.exec(
                    "INSERT INTO snapshot_chunks (idx, bytes) VALUES (?, ?)",
                    vec![int_value(idx)?, SqlStorageValue::Blob(chunk)],
                )
                .map_err(js_error)?;
            }
            sql.exec(
                "INSERT OR REPLACE INTO snapshot_meta (id, seq, len, chunks, digest) \
                 VALUES (1, ?, ?, ?, ?)",
                vec![
                    seq,
                    int_value(len)?,
                    int_value(count)?,
                    SqlStorageValue::Blob(digest.0.to_vec()),
                ],
            )
            .map_err(js_error)?;
            Ok(())
        })
    }

    fn snapshot(&self) -> Result<Option<StoredSnapshot>, StorageError> {
        let cursor = self
            .sql
            .exec(
                "SELECT seq, len, chunks, digest FROM snapshot_meta WHERE id = 1",
                None,
            )
            .map_err(js_error)?;
        let Some(row) = cursor.raw().next() else {
            return Ok(None);
        };
        let meta = SnapshotMeta::from_row(row.map_err(js_error)?)?;
        let cursor = self
            .sql
            .exec("SELECT idx, bytes FROM snapshot_chunks ORDER BY idx", None)
            .map_err(js_error)?;
        let mut chunks = Vec::new();
        for row in cursor.raw() {
            let mut row = row.map_err(js_error)?.into_iter();
            let (Some(SqlStorageValue::Integer(idx)), Some(bytes)) = (row.next(), row.next())
            else {
                return Err(StorageError::new("a snapshot chunk row is malformed"));
            };
            chunks.push((idx, blob(bytes, "snapshot chunk")?));
        }
        meta.assemble(chunks).map(Some)
    }

    fn drop_through(&mut self, through: u64) -> Result<(), StorageError> {
        let through = i64::try_from(through).unwrap_or(i64::MAX);
        self.sql
            .exec("DELETE FROM events WHERE seq <= ?", vec![through.into()])
            .map_err(js_error)?;
        Ok(())
    }
}

/// What [`self_test`] found.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub(crate) struct SelfTestReport {
    /// Two events appended in one call and read back.
    pub(crate) appended: bool,
    /// A transaction whose function failed after an insert left nothing behind.
    pub(crate) rolled_back: bool,
    /// An append holding an event over the row limit was refused and wrote nothing.
    pub(crate) oversize_refused: bool,
    /// An append that skips a seq was refused.
    pub(crate) gap_refused: bool,
    /// A snapshot larger than a row was stored in this many chunks...
    pub(crate) snapshot_chunks: u64,
    /// ...and read back byte for byte.
    pub(crate) snapshot_round_trip: bool,
    /// `drop_through` forgot exactly the events up to its seq.
    pub(crate) dropped: bool,
    /// An event appended with a search index change: found by a search afterwards.
    pub(crate) indexed: bool,
    /// An append whose index statements failed after the event row was written left neither.
    pub(crate) index_rolled_back: bool,
}

/// Checks, on the real SQLite storage, the promises the engine relies on: appends are
/// all-or-nothing, the row limit holds, snapshots survive chunking. For the local-development
/// route `/__dev/storage/{object}`, run on a scratch object that holds no notes.
pub(crate) fn self_test(storage: &worker::Storage) -> Result<SelfTestReport, StorageError> {
    let mut store = DoStorage::open(storage)?;
    let next = last_seq(&store.sql)?.map_or(1, |last| last + 1);
    let event = |seq: u64, len: usize| StoredEvent {
        seq,
        hash: Hash::of(&seq.to_be_bytes()),
        bytes: vec![7; len],
    };
    store.append(&[event(next, 10), event(next + 1, 10)])?;
    let appended = store.read(next, 10)?.len() == 2;

    let row = vec![
        seq_value(next + 2)?,
        SqlStorageValue::Blob(vec![0; 32]),
        SqlStorageValue::Blob(vec![1]),
    ];
    let failed = store.transaction(move |sql| {
        sql.exec(
            "INSERT INTO events (seq, hash, bytes) VALUES (?, ?, ?)",
            row,
        )
        .map_err(js_error)?;
        Err::<(), _>(StorageError::new("deliberate failure after an insert"))
    });
    let rolled_back = failed.is_err() && store.read(next + 2, 1)?.is_empty();

    let oversize = store.append(&[event(next + 2, 10), event(next + 3, MAX_ROW_BYTES)]);
    let oversize_refused = oversize.is_err() && store.read(next + 2, 1)?.is_empty();
    let gap_refused = store.append(&[event(next + 5, 10)]).is_err();

    let bytes: Vec<u8> = (0..2 * SNAPSHOT_CHUNK_BYTES + 4_321)
        .map(|i| (i % 253) as u8)
        .collect();
    store.put_snapshot(&StoredSnapshot {
        seq: next + 1,
        bytes: bytes.clone(),
    })?;
    let snapshot_chunks = match store
        .sql
        .exec("SELECT COUNT(*) FROM snapshot_chunks", None)
        .map_err(js_error)?
        .raw()
        .next()
    {
        Some(Ok(row)) => match row.first() {
            Some(SqlStorageValue::Integer(count)) => u64::try_from(*count).unwrap_or(0),
            _ => 0,
        },
        _ => 0,
    };
    let snapshot_round_trip = store
        .snapshot()?
        .is_some_and(|snapshot| snapshot.seq == next + 1 && snapshot.bytes == bytes);

    store.drop_through(next)?;
    let dropped = store.read(0, 1)?.first().map(|e| e.seq) == Some(next + 1);

    let word = format!("selftest{next}");
    let change = SearchChange::Index {
        path: format!("self-test/{next}.md"),
        hash: Hash::of(word.as_bytes()),
        text: word.clone(),
    };
    store.append_indexed(&[event(next + 2, 10)], &NotesChange::default(), &[change])?;
    let indexed = store.search(&word, 10, None)?.hits.len() == 1;
    let failing = vec![Statement::new(
        "INSERT INTO no_such_table VALUES (1)",
        vec![],
    )];
    let failed = store.append_then(&[event(next + 3, 10)], failing);
    let index_rolled_back = failed.is_err() && store.read(next + 3, 1)?.is_empty();
    Ok(SelfTestReport {
        appended,
        rolled_back,
        oversize_refused,
        gap_refused,
        snapshot_chunks,
        snapshot_round_trip,
        dropped,
        indexed,
        index_rolled_back,
    })
}

/// The snapshot's metadata row.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SnapshotMeta {
    seq: u64,
    len: usize,
    chunks: usize,
    digest: Hash,
}

impl SnapshotMeta {
    fn from_row(row: Vec<SqlStorageValue>) -> Result<SnapshotMeta, StorageError> {
        let malformed = || StorageError::new("the snapshot metadata row is malformed");
        let mut row = row.into_iter();
        let (
            Some(SqlStorageValue::Integer(seq)),
            Some(SqlStorageValue::Integer(len)),
            Some(SqlStorageValue::Integer(chunks)),
            Some(digest),
        ) = (row.next(), row.next(), row.next(), row.next())
        else {
            return Err(malformed());
        };
        Ok(SnapshotMeta {
            seq: u64::try_from(seq).map_err(|_| malformed())?,
            len: usize::try_from(len).map_err(|_| malformed())?,
            chunks: usize::try_from(chunks).map_err(|_| malformed())?,
            digest: hash(digest)?,
        })
    }

    /// Puts the chunks (`(idx, bytes)` in idx order) back together and checks them against
    /// the metadata.
    fn assemble(&self, chunks: Vec<(i64, Vec<u8>)>) -> Result<StoredSnapshot, StorageError> {
        if chunks.len() != self.chunks {
            return Err(StorageError::new(format!(
                "the snapshot has {} chunks stored, {} expected",
                chunks.len(),
                self.chunks
            )));
        }
        let mut bytes = Vec::with_capacity(self.len);
        for (expected, (idx, chunk)) in chunks.into_iter().enumerate() {
            if usize::try_from(idx).ok() != Some(expected) {
                return Err(StorageError::new(format!(
                    "snapshot chunk {expected} is missing"
                )));
            }
            bytes.extend_from_slice(&chunk);
        }
        if bytes.len() != self.len || Hash::of(&bytes) != self.digest {
            return Err(StorageError::new(
                "the stored snapshot does not match its digest",
            ));
        }
        Ok(StoredSnapshot {
            seq: self.seq,
            bytes,
        })
    }
}

fn last_seq(sql: &SqlStorage) -> Result<Option<u64>, StorageError> {
    let cursor = sql
        .exec("SELECT MAX(seq) FROM events", None)
        .map_err(js_error)?;
    match cursor.raw().next() {
        None => Ok(None),
        Some(row) => match row.map_err(js_error)?.first() {
            Some(SqlStorageValue::Integer(seq)) => Ok(u64::try_from(*seq).ok()),
            _ => Ok(None),
        },
    }
}

/// Checks that `events` have consecutive seqs.
fn check_contiguous(events: &[StoredEvent]) -> Result<(), StorageError> {
    for pair in events.windows(2) {
        if pair[1].seq != pair[0].seq + 1 {
            return Err(StorageError::new(format!(
                "append of seq {} after {}: seqs must be consecutive",
                pair[1].seq, pair[0].seq
            )));
        }
    }
    Ok(())
}

/// Refuses a row whose main BLOB would take it past [`MAX_ROW_BYTES`].
fn check_row(blob_bytes: usize) -> Result<(), StorageError> {
    if blob_bytes + ROW_OVERHEAD_BYTES > MAX_ROW_BYTES {
        return Err(StorageError::new(format!(
            "an event of {blob_bytes} bytes exceeds the {MAX_ROW_BYTES}-byte row limit"
        )));
    }
    Ok(())
}

fn event_from_row(row: Vec<SqlStorageValue>) -> Result<StoredEvent, StorageError> {
    let mut row = row.into_iter();
    let (Some(SqlStorageValue::Integer(seq)), Some(hash_value), Some(bytes)) =
        (row.next(), row.next(), row.next())
    else {
        return Err(StorageError::new("an event row is malformed"));
    };
    Ok(StoredEvent {
        seq: u64::try_from(seq).map_err(|_| StorageError::new("an event has a negative seq"))?,
        hash: hash(hash_value)?,
        bytes: blob(bytes, "event")?,
    })
}

fn blob(value: SqlStorageValue, what: &str) -> Result<Vec<u8>, StorageError> {
    match value {
        SqlStorageValue::Blob(bytes) => Ok(bytes),
        _ => Err(StorageError::new(format!("a stored {what} is not a BLOB"))),
    }
}

fn hash(value: SqlStorageValue) -> Result<Hash, StorageError> {
    let bytes = blob(value, "hash")?;
    let bytes: [u8; 32] = bytes
        .try_into()
        .map_err(|_| StorageError::new("a stored hash is not 32 bytes"))?;
    Ok(Hash(bytes))
}

/// A seq as an SQL integer. Seqs stay far below 2^53 (JavaScript's exact integers).
fn seq_value(seq: u64) -> Result<SqlStorageValue, StorageError> {
    i64::try_from(seq)
        .map_err(|_| StorageError::new("seq out of range"))
        .and_then(|seq| {
            SqlStorageValue::try_from_i64(seq).map_err(|_| StorageError::new("seq out of range"))
        })
}

fn int_value(value: usize) -> Result<SqlStorageValue, StorageError> {
    i64::try_from(value)
        .map(SqlStorageValue::Integer)
        .map_err(|_| StorageError::new("integer out of range"))
}

fn js_error(err: impl Into<JsOrWorkerError>) -> StorageError {
    StorageError::new(err.into().0)
}

/// The text of a JS or `worker` error.
struct JsOrWorkerError(String);

impl From<worker::Error> for JsOrWorkerError {
    fn from(err: worker::Error) -> Self {
        JsOrWorkerError(err.to_string())
    }
}

impl From<JsValue> for JsOrWorkerError {
    fn from(value: JsValue) -> Self {
        JsOrWorkerError(worker::Error::from(value).to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(seq: u64, len: usize) -> StoredEvent {
        StoredEvent {
            seq,
            hash: Hash::ZERO,
            bytes: vec![0; len],
        }
    }

    #[test]
    fn rows_over_the_production_limit_are_refused() {
        assert!(check_row(10).is_ok());
        assert!(check_row(MAX_ROW_BYTES - ROW_OVERHEAD_BYTES).is_ok());
        let err = check_row(MAX_ROW_BYTES).unwrap_err();
        assert!(err.message.contains("row limit"), "{err}");
    }

    #[test]
    fn appends_must_be_consecutive() {
        assert!(check_contiguous(&[event(3, 1), event(4, 1), event(5, 1)]).is_ok());
        assert!(check_contiguous(&[event(3, 1), event(5, 1)]).is_err());
        assert!(check_contiguous(&[event(3, 1), event(3, 1)]).is_err());
    }

    fn meta_for(bytes: &[u8]) -> (SnapshotMeta, Vec<(i64, Vec<u8>)>) {
        let chunks: Vec<(i64, Vec<u8>)> = bytes
            .chunks(SNAPSHOT_CHUNK_BYTES)
            .enumerate()
            .map(|(i, c)| (i as i64, c.to_vec()))
            .collect();
        let meta = SnapshotMeta {
            seq: 7,
            len: bytes.len(),
            chunks: chunks.len(),
            digest: Hash::of(bytes),
        };
        (meta, chunks)
    }

    #[test]
    fn snapshots_are_cut_into_chunks_and_put_back_together() {
        let bytes: Vec<u8> = (0..2 * SNAPSHOT_CHUNK_BYTES + 17)
            .map(|i| (i % 251) as u8)
            .collect();
        let (meta, chunks) = meta_for(&bytes);
        assert_eq!(chunks.len(), 3);
        let snapshot = meta.assemble(chunks).unwrap();
        assert_eq!((snapshot.seq, snapshot.bytes), (7, bytes));
    }

    #[test]
    fn a_damaged_snapshot_is_an_error_not_a_wrong_state() {
        let bytes = vec![5u8; SNAPSHOT_CHUNK_BYTES + 1];
        let (meta, mut chunks) = meta_for(&bytes);
        let mut missing = chunks.clone();
        missing.pop();
        assert!(meta.assemble(missing).is_err());
        let mut reordered = chunks.clone();
        reordered.swap(0, 1);
        assert!(meta.assemble(reordered).is_err());
        chunks[1].1[0] ^= 1;
        assert!(meta.assemble(chunks).is_err());
    }
}
