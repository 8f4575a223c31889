//! The SQL the engine's persistent projections speak, as values: the engine plans statements
//! and reads rows; the caller owns the database and runs them.
//!
//! A projection kept in SQL (the search index, [`crate::search::sql`]; the file index and
//! history, [`crate::files::sql`] and [`crate::history::sql`], not yet used by the store) is
//! read with
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

    /// An in-memory SQLite database.
    #[derive(Debug)]
    pub struct NativeDb {
        conn: Connection,
        /// Statements left before a write batch fails (`None`: never).
        fail_in: Cell<Option<u64>>,
        /// Statements run by write batches, in all.
        pub statements: Cell<u64>,
    }

    impl NativeDb {
        pub fn new(schema: &[&str]) -> NativeDb {
            let conn = Connection::open_in_memory().expect("an in-memory database");
            conn.set_prepared_statement_cache_capacity(256);
            for s in schema {
                conn.execute(s, []).expect("the schema applies");
            }
            NativeDb {
                conn,
                fail_in: Cell::new(None),
                statements: Cell::new(0),
            }
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
            let tx = self.conn.transaction().map_err(err)?;
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
                tx.prepare_cached(&statement.sql)
                    .and_then(|mut s| s.execute(params_from_iter(statement.params.iter())))
                    .map_err(err)?;
            }
            tx.commit().map_err(err)
        }
    }

    impl SqlRead for NativeDb {
        fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<Vec<Value>>, StorageError> {
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
}
