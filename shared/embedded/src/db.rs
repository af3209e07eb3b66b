//! A SQLite database used from async code: one writer connection and one
//! reader connection (WAL lets them run at once), each behind a mutex and
//! driven on tokio's blocking pool.

use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, Transaction, TransactionBehavior};

use hashtag_core::ports::StoreError;

/// Maps a SQLite error to a store error.
pub fn backend(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(format!("sqlite: {e}"))
}

/// A write transaction, its write lock taken at `BEGIN IMMEDIATE`: a
/// deferred transaction that reads first and then writes cannot wait for
/// another process's writer (SQLite answers "database is locked" at once),
/// while `BEGIN IMMEDIATE` waits up to the busy timeout. So commands such as
/// `publish-ranking` take their turn beside a running server.
pub fn write_transaction(conn: &mut Connection) -> Result<Transaction<'_>, StoreError> {
    conn.transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(backend)
}

/// How hard a database insists on durability.
#[derive(Clone, Copy)]
pub enum Durability {
    /// fsync at every commit: for data that cannot be recomputed (posts).
    Full,
    /// Survives a process crash, may lose the last commits on power loss:
    /// for data derived from the log (the hashtag table).
    Normal,
}

/// A database file with a writer and a reader connection.
#[derive(Clone)]
pub struct Db {
    writer: Arc<Mutex<Connection>>,
    reader: Arc<Mutex<Connection>>,
}

fn connect(path: &Path, durability: Durability) -> Result<Connection, StoreError> {
    let conn = Connection::open(path).map_err(backend)?;
    let sync = match durability {
        Durability::Full => "FULL",
        Durability::Normal => "NORMAL",
    };
    conn.execute_batch(&format!(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous={sync}; PRAGMA foreign_keys=ON;"
    ))
    .map_err(backend)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(backend)?;
    Ok(conn)
}

impl Db {
    /// Opens `path` and applies `schema` (idempotent DDL).
    pub fn open(path: &Path, durability: Durability, schema: &str) -> Result<Self, StoreError> {
        let db = Db {
            writer: Arc::new(Mutex::new(connect(path, durability)?)),
            reader: Arc::new(Mutex::new(connect(path, durability)?)),
        };
        db.apply_schema(schema)?;
        Ok(db)
    }

    /// Applies idempotent DDL synchronously (at startup, before serving).
    pub fn apply_schema(&self, schema: &str) -> Result<(), StoreError> {
        let conn = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        conn.execute_batch(schema).map_err(backend)
    }

    /// Adds `column` (with its declaration `decl`) to `table` unless it has
    /// it: the one schema change SQLite's `IF NOT EXISTS` cannot say.
    pub fn add_column(&self, table: &str, column: &str, decl: &str) -> Result<(), StoreError> {
        let conn = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let present: bool = conn
            .query_row(
                &format!("SELECT count(*) FROM pragma_table_info('{table}') WHERE name = ?1"),
                [column],
                |r| r.get::<_, i64>(0),
            )
            .map_err(backend)?
            > 0;
        if !present {
            conn.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {decl}"))
                .map_err(backend)?;
        }
        Ok(())
    }

    /// The value of setting `name`, recording `value` if it has none: the
    /// first value given wins, so a later process can check it gets the
    /// same.
    pub fn setting(&self, name: &str, value: i64) -> Result<i64, StoreError> {
        let conn = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS settings (name TEXT PRIMARY KEY, value INTEGER NOT NULL)",
        )
        .map_err(backend)?;
        conn.execute(
            "INSERT INTO settings (name, value) VALUES (?1, ?2) ON CONFLICT (name) DO NOTHING",
            rusqlite::params![name, value],
        )
        .map_err(backend)?;
        conn.query_row("SELECT value FROM settings WHERE name = ?1", [name], |r| {
            r.get(0)
        })
        .map_err(backend)
    }

    /// Runs `f` on the writer connection, off the async threads.
    pub async fn write<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        F: FnOnce(&mut Connection) -> Result<R, StoreError> + Send + 'static,
        R: Send + 'static,
    {
        Self::run(self.writer.clone(), f).await
    }

    /// Runs `f` on the reader connection, off the async threads.
    pub async fn read<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        F: FnOnce(&mut Connection) -> Result<R, StoreError> + Send + 'static,
        R: Send + 'static,
    {
        Self::run(self.reader.clone(), f).await
    }

    /// Runs `f` on the writer connection in this thread, for a thread of
    /// its own such as the group committer.
    pub fn write_blocking<R>(&self, f: impl FnOnce(&mut Connection) -> R) -> R {
        locked(&self.writer, f)
    }

    async fn run<R, F>(conn: Arc<Mutex<Connection>>, f: F) -> Result<R, StoreError>
    where
        F: FnOnce(&mut Connection) -> Result<R, StoreError> + Send + 'static,
        R: Send + 'static,
    {
        tokio::task::spawn_blocking(move || locked(&conn, f))
            .await
            .map_err(|e| StoreError::Backend(format!("store task failed: {e}")))?
    }
}

fn locked<R>(conn: &Mutex<Connection>, f: impl FnOnce(&mut Connection) -> R) -> R {
    // A panic while holding the lock cannot leave SQLite inconsistent (an
    // open transaction rolls back when dropped), so a poisoned mutex is safe
    // to reuse.
    let mut guard = conn.lock().unwrap_or_else(|p| p.into_inner());
    f(&mut guard)
}
