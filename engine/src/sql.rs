//! The SQL the engine's persistent projections speak, as values: the engine plans statements
//! and reads rows; the caller owns the database and runs them.
//!
//! A projection kept in SQL (the search index, [`crate::search::sql`]; the notes, that is the
//! file index and history, [`crate::files::sql`] and [`crate::history::sql`] through
//! [`crate::notes`]) is read with
//! [`SqlRead::query`] and changed by a batch of [`Statement`]s that the caller runs in the
//! same transaction as the event append they belong to. Planning reads what it needs first and
//! writes nothing; so the engine performs no I/O itself, and one transaction of the caller's
//! (a Durable Object's `transactionSync`, a SQLite transaction natively) makes an append and
//! its projection changes all-or-nothing.
//!
//! The statements keep to what a Durable Object's SQLite accepts: no `BEGIN`/`COMMIT`, no
//! `PRAGMA`, and at most [`MAX_PARAMS`] bound parameters each.

use std::borrow::Cow;

use crate::storage::StorageError;

/// The most bound parameters one statement carries (a Durable Object's SQLite refuses more
/// than 100).
pub const MAX_PARAMS: usize = 100;

/// A SQL value: a bound parameter or a column of a row.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `NULL`.
    Null,
    /// A 64-bit signed integer.
    Integer(i64),
    /// A 64-bit float.
    Real(f64),
    /// UTF-8 text.
    Text(String),
    /// Bytes.
    Blob(Vec<u8>),
}

impl Value {
    /// An integer column as `u64`, if it is a non-negative integer.
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Value::Integer(n) => u64::try_from(*n).ok(),
            _ => None,
        }
    }

    /// `n` as an integer parameter (saturating at `i64::MAX`, which no count here reaches).
    pub fn int(n: u64) -> Value {
        Value::Integer(i64::try_from(n).unwrap_or(i64::MAX))
    }
}

/// One statement of a write batch.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    /// The SQL, with `?` placeholders.
    pub sql: Cow<'static, str>,
    /// The bound parameters, at most [`MAX_PARAMS`].
    pub params: Vec<Value>,
}

impl Statement {
    /// A statement of fixed SQL.
    pub fn new(sql: &'static str, params: Vec<Value>) -> Statement {
        Statement {
            sql: Cow::Borrowed(sql),
            params,
        }
    }
}

/// Reading rows: the one thing the engine asks of a database outside a write batch.
pub trait SqlRead {
    /// Runs one read-only statement and returns all its rows.
    fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<Vec<Value>>, StorageError>;
}

/// A row that did not have the shape a table promises.
pub(crate) fn malformed(what: &str) -> StorageError {
    StorageError::new(format!("a {what} row is malformed"))
}

/// `?, ?, ?` for `n` parameters.
pub(crate) fn placeholders(n: usize) -> String {
    let mut s = String::with_capacity(n * 3);
    for i in 0..n {
        if i > 0 {
            s.push_str(", ");
        }
        s.push('?');
    }
    s
}

/// SQLite natively (rusqlite, bundled; feature `native-sqlite`), for tests and benches: a
/// database that can be told to fail a statement of a write batch, rolling the batch back.
#[cfg(any(test, feature = "native-sqlite"))]
pub mod native {
    use std::cell::Cell;
    use std::rc::Rc;

    use rusqlite::types::{ToSqlOutput, ValueRef};
    use rusqlite::{Connection, ToSql, params_from_iter};

    use super::{SqlRead, Statement, Value};
    use crate::storage::StorageError;

    impl ToSql for Value {
        fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
            Ok(match self {
                Value::Null => ToSqlOutput::Borrowed(ValueRef::Null),
                Value::Integer(n) => ToSqlOutput::Borrowed(ValueRef::Integer(*n)),
                Value::Real(x) => ToSqlOutput::Borrowed(ValueRef::Real(*x)),
                Value::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
                Value::Blob(b) => ToSqlOutput::Borrowed(ValueRef::Blob(b)),
            })
        }
    }

    fn value(v: ValueRef<'_>) -> Value {
        match v {
            ValueRef::Null => Value::Null,
            ValueRef::Integer(n) => Value::Integer(n),
            ValueRef::Real(x) => Value::Real(x),
            ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
            ValueRef::Blob(b) => Value::Blob(b.to_vec()),
        }
    }

    fn err(e: rusqlite::Error) -> StorageError {
        StorageError::new(e.to_string())
    }

    /// The largest integer a Durable Object's SQL API binds exactly (JavaScript numbers);
    /// it refuses larger ones, and so does this database, so native tests catch them.
    const MAX_SAFE_INTEGER: i64 = (1 << 53) - 1;

    fn check_params(params: &[Value]) -> Result<(), StorageError> {
        match params
            .iter()
            .find(|v| matches!(v, Value::Integer(n) if n.unsigned_abs() > MAX_SAFE_INTEGER as u64))
        {
            Some(v) => Err(StorageError::new(format!(
                "an integer beyond 2^53 as a parameter: {v:?}"
            ))),
            None => Ok(()),
        }
    }

    /// An in-memory SQLite database. A clone is another handle on the same database (as a
    /// Durable Object's storage is one database however many handles reach it), so a test
    /// can open a store again on what a failed open left behind.
    #[derive(Debug, Clone)]
    pub struct NativeDb {
        conn: Rc<Connection>,
        /// Statements left before a write batch fails (`None`: never).
        fail_in: Rc<Cell<Option<u64>>>,
        /// Statements run by write batches, in all.
        pub statements: Rc<Cell<u64>>,
        /// Queries run ([`SqlRead::query`]), in all.
        pub queries: Rc<Cell<u64>>,
    }

    impl NativeDb {
        pub fn new(schema: &[&str]) -> NativeDb {
            let conn = Connection::open_in_memory().expect("an in-memory database");
            conn.set_prepared_statement_cache_capacity(256);
            for s in schema {
                conn.execute(s, []).expect("the schema applies");
            }
            NativeDb {
                conn: Rc::new(conn),
                fail_in: Rc::new(Cell::new(None)),
                statements: Rc::new(Cell::new(0)),
                queries: Rc::new(Cell::new(0)),
            }
        }

        /// A database file, such as a copy of a Durable Object's (workerd keeps each
        /// object's in one SQLite file): for benches over a state grown elsewhere. Opened for
        /// speed over safety, as a copy can be: a page cache of 512 MiB and no syncs.
        pub fn open(path: &std::path::Path) -> Result<NativeDb, StorageError> {
            let conn = Connection::open(path).map_err(err)?;
            conn.set_prepared_statement_cache_capacity(256);
            conn.execute_batch("PRAGMA cache_size = -524288; PRAGMA synchronous = OFF;")
                .map_err(err)?;
            Ok(NativeDb {
                conn: Rc::new(conn),
                fail_in: Rc::new(Cell::new(None)),
                statements: Rc::new(Cell::new(0)),
                queries: Rc::new(Cell::new(0)),
            })
        }

        /// The single integer a `SELECT COUNT(*) ...` returns.
        pub fn query_count(&self, sql: &str) -> Result<u64, StorageError> {
            let n: i64 = self.conn.query_row(sql, [], |r| r.get(0)).map_err(err)?;
            Ok(u64::try_from(n).unwrap_or(0))
        }

        /// Bytes the database takes (pages in use times the page size).
        pub fn size_bytes(&self) -> u64 {
            let pragma = |name: &str| -> u64 {
                self.conn
                    .query_row(&format!("PRAGMA {name}"), [], |r| r.get::<_, i64>(0))
                    .map_or(0, |n| u64::try_from(n).unwrap_or(0))
            };
            pragma("page_count") * pragma("page_size")
        }

        /// The `n`th statement (0-based) run by write batches from now on fails.
        pub fn fail_after(&self, n: u64) {
            self.fail_in.set(Some(n));
        }

        /// Runs `batch` in one transaction: all or nothing.
        pub fn write(&mut self, batch: &[Statement]) -> Result<(), StorageError> {
            // Handles are not used across threads and a batch runs to its end before the
            // next one starts, so no other transaction is open on this connection.
            let tx = self.conn.unchecked_transaction().map_err(err)?;
            for statement in batch {
                if let Some(n) = self.fail_in.get() {
                    if n == 0 {
                        self.fail_in.set(None);
                        // Dropping `tx` rolls back.
                        return Err(StorageError::new("injected failure"));
                    }
                    self.fail_in.set(Some(n - 1));
                }
                self.statements.set(self.statements.get() + 1);
                check_params(&statement.params)?;
                tx.prepare_cached(&statement.sql)
                    .and_then(|mut s| s.execute(params_from_iter(statement.params.iter())))
                    .map_err(err)?;
            }
            tx.commit().map_err(err)
        }
    }

    impl SqlRead for NativeDb {
        fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<Vec<Value>>, StorageError> {
            check_params(params)?;
            self.queries.set(self.queries.get() + 1);
            let mut stmt = self.conn.prepare_cached(sql).map_err(err)?;
            let columns = stmt.column_count();
            let mut rows = stmt.query(params_from_iter(params.iter())).map_err(err)?;
            let mut out = Vec::new();
            while let Some(row) = rows.next().map_err(err)? {
                let mut values = Vec::with_capacity(columns);
                for i in 0..columns {
                    values.push(value(row.get_ref(i).map_err(err)?));
                }
                out.push(values);
            }
            Ok(out)
        }
    }

    /// A [`Storage`](crate::storage::Storage) wholly in one [`NativeDb`], laid out as a
    /// Durable Object's: the log and the snapshot in tables, and the notes and the search
    /// index in their SQL projections, every write one transaction. Tests run a
    /// [`Store`](crate::store::Store) on it to check the object's paths natively. A clone is
    /// another handle on the same database.
    #[derive(Debug, Clone)]
    pub struct SqlStorage {
        db: NativeDb,
    }

    const LOG_SCHEMA: [&str; 2] = [
        "CREATE TABLE events (seq INTEGER PRIMARY KEY, hash BLOB NOT NULL, bytes BLOB NOT NULL)",
        "CREATE TABLE snapshot (id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL, \
         bytes BLOB NOT NULL)",
    ];

    impl Default for SqlStorage {
        fn default() -> Self {
            SqlStorage::new()
        }
    }

    impl SqlStorage {
        /// An empty storage.
        pub fn new() -> SqlStorage {
            let schema: Vec<&str> = LOG_SCHEMA
                .iter()
                .copied()
                .chain(crate::notes::sql_schema())
                .chain(crate::search::sql::SCHEMA.iter().copied())
                .collect();
            SqlStorage {
                db: NativeDb::new(&schema),
            }
        }

        /// The database (to inject failures: [`NativeDb::fail_after`]).
        pub fn db(&self) -> &NativeDb {
            &self.db
        }

        fn last_seq(&self) -> Result<Option<u64>, StorageError> {
            let rows = self.db.query("SELECT MAX(seq) FROM events", &[])?;
            Ok(rows.first().and_then(|r| r.first()).and_then(Value::as_u64))
        }

        fn append_then(
            &mut self,
            events: &[crate::envelope::StoredEvent],
            then: Vec<Statement>,
        ) -> Result<(), StorageError> {
            if let Some(first) = events.first() {
                let next = self.last_seq()?.map_or(first.seq, |last| last + 1);
                for (i, e) in events.iter().enumerate() {
                    if e.seq != next + i as u64 {
                        return Err(StorageError::new(format!(
                            "append of seq {} where {} was expected",
                            e.seq,
                            next + i as u64
                        )));
                    }
                }
            }
            let mut batch: Vec<Statement> = events
                .iter()
                .map(|e| {
                    Statement::new(
                        "INSERT INTO events (seq, hash, bytes) VALUES (?, ?, ?)",
                        vec![
                            Value::int(e.seq),
                            Value::Blob(e.hash.0.to_vec()),
                            Value::Blob(e.bytes.clone()),
                        ],
                    )
                })
                .collect();
            batch.extend(then);
            self.db.write(&batch)
        }
    }

    fn hash_of(v: &Value) -> Result<crate::ids::Hash, StorageError> {
        match v {
            Value::Blob(b) => <[u8; 32]>::try_from(b.as_slice())
                .map(crate::ids::Hash)
                .map_err(|_| super::malformed("events")),
            _ => Err(super::malformed("events")),
        }
    }

    impl crate::storage::Storage for SqlStorage {
        fn append(&mut self, events: &[crate::envelope::StoredEvent]) -> Result<(), StorageError> {
            self.append_then(events, Vec::new())
        }

        fn read(
            &self,
            from: u64,
            max: usize,
        ) -> Result<Vec<crate::envelope::StoredEvent>, StorageError> {
            let rows = self.db.query(
                "SELECT seq, hash, bytes FROM events WHERE seq >= ? ORDER BY seq LIMIT ?",
                &[
                    Value::int(from.min(MAX_SAFE_INTEGER as u64)),
                    Value::int((max as u64).min(MAX_SAFE_INTEGER as u64)),
                ],
            )?;
            rows.into_iter()
                .map(|row| match row.as_slice() {
                    [seq, hash, Value::Blob(bytes)] => Ok(crate::envelope::StoredEvent {
                        seq: seq.as_u64().ok_or_else(|| super::malformed("events"))?,
                        hash: hash_of(hash)?,
                        bytes: bytes.clone(),
                    }),
                    _ => Err(super::malformed("events")),
                })
                .collect()
        }

        fn put_snapshot(
            &mut self,
            snapshot: &crate::storage::StoredSnapshot,
        ) -> Result<(), StorageError> {
            self.db.write(&[Statement::new(
                "INSERT OR REPLACE INTO snapshot (id, seq, bytes) VALUES (1, ?, ?)",
                vec![
                    Value::int(snapshot.seq),
                    Value::Blob(snapshot.bytes.clone()),
                ],
            )])
        }

        fn snapshot(&self) -> Result<Option<crate::storage::StoredSnapshot>, StorageError> {
            let rows = self
                .db
                .query("SELECT seq, bytes FROM snapshot WHERE id = 1", &[])?;
            match rows.first().map(Vec::as_slice) {
                None => Ok(None),
                Some([seq, Value::Blob(bytes)]) => Ok(Some(crate::storage::StoredSnapshot {
                    seq: seq.as_u64().ok_or_else(|| super::malformed("snapshot"))?,
                    bytes: bytes.clone(),
                })),
                Some(_) => Err(super::malformed("snapshot")),
            }
        }

        fn drop_through(&mut self, through: u64) -> Result<(), StorageError> {
            self.db.write(&[Statement::new(
                "DELETE FROM events WHERE seq <= ?",
                vec![Value::int(through)],
            )])
        }

        fn append_indexed(
            &mut self,
            events: &[crate::envelope::StoredEvent],
            notes: &crate::notes::NotesChange,
            changes: &[crate::search::sql::SearchChange],
        ) -> Result<(), StorageError> {
            let seq = events.last().map(|e| e.seq);
            let mut then = crate::notes::sql_plan(&self.db, notes, seq)?;
            then.extend(crate::search::sql::plan(&self.db, changes, seq)?);
            self.append_then(events, then)
        }

        fn apply_notes(
            &mut self,
            notes: &crate::notes::NotesChange,
            seq: u64,
        ) -> Result<(), StorageError> {
            let batch = crate::notes::sql_plan(&self.db, notes, Some(seq))?;
            self.db.write(&batch)
        }

        fn load_notes(
            &mut self,
            step: crate::storage::Bulk<'_, (crate::path::NotePath, Vec<crate::history::Version>)>,
        ) -> Result<(), StorageError> {
            self.db.write(&crate::notes::sql_load(step))
        }

        fn notes(&self) -> crate::notes::NotesView<'_> {
            crate::notes::NotesView::Sql(Box::new(&self.db))
        }

        fn keeps_notes(&self) -> bool {
            true
        }

        fn search(
            &self,
            query: &str,
            limit: usize,
            after: Option<&crate::search::SearchCursor>,
        ) -> Result<crate::search::SearchPage, StorageError> {
            crate::search::sql::search(&self.db, query, limit, after)
        }

        fn unindexed(&self, limit: usize) -> Result<Vec<(String, crate::ids::Hash)>, StorageError> {
            crate::search::sql::unindexed(&self.db, limit)
        }

        fn is_indexed(&self, path: &str, hash: crate::ids::Hash) -> Result<bool, StorageError> {
            crate::search::sql::is_indexed(&self.db, path, hash)
        }

        fn search_seq(&self) -> Result<u64, StorageError> {
            Ok(crate::search::sql::stats(&self.db)?.seq)
        }

        fn reset_search(
            &mut self,
            step: crate::storage::Bulk<'_, (String, crate::ids::Hash)>,
        ) -> Result<(), StorageError> {
            let batch = crate::search::sql::reset(&self.db, step)?;
            self.db.write(&batch)
        }

        fn maintain_search(
            &mut self,
            max_notes: usize,
        ) -> Result<crate::search::sql::MaintainReport, StorageError> {
            let (batch, report) = crate::search::sql::maintain(&self.db, max_notes)?;
            self.db.write(&batch)?;
            Ok(report)
        }

        fn search_work(&self) -> Result<crate::search::sql::SearchWork, StorageError> {
            crate::search::sql::work(&self.db)
        }

        fn notes_with_fragment(
            &self,
            fragment: &crate::grep::narrow::Fragment,
            max: usize,
        ) -> Result<Option<std::collections::BTreeSet<String>>, StorageError> {
            crate::search::sql::notes_with_fragment(&self.db, fragment, max)
        }

        fn always_candidates(
            &self,
            max: usize,
        ) -> Result<Option<std::collections::BTreeSet<String>>, StorageError> {
            crate::search::sql::always_candidates(&self.db, max)
        }
    }

    impl SqlRead for &NativeDb {
        fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<Vec<Value>>, StorageError> {
            (**self).query(sql, params)
        }
    }
}
