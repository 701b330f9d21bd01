//! Connections to one SQLite database: a reader the event-loop thread may use
//! directly for short reads, background reader threads for longer reads, and
//! one writer thread through which every write and every transaction passes
//! (so concurrent writers queue instead of failing with "database is locked").

use super::connection::{configure, is_read_only, open, run, run_many, Output};
use super::errors::map;
use crate::error::{Error, ErrorKind, Result};
use crate::value::Value;
use rusqlite::OpenFlags;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{OwnedMutexGuard, OwnedSemaphorePermit, Semaphore};

/// Which database a pool opens.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    File(PathBuf),
    /// A private in-memory database shared by every connection of one pool.
    Memory,
}

#[derive(Debug, Clone)]
pub struct PoolConfig {
    pub max_connections: usize,
    pub busy_timeout: Duration,
    pub acquire_timeout: Duration,
    /// Longest a read may run on the caller's thread before moving to a reader thread.
    pub inline_budget: Option<Duration>,
}

/// Counters reported by `engine.stats()`.
#[derive(Debug, Default, Clone)]
pub struct PoolStats {
    pub max_size: usize,
    pub readers_open: usize,
    pub readers_idle: usize,
    pub writer_in_use: bool,
    pub waiting: usize,
    pub inline_reads: u64,
    pub thread_reads: u64,
    pub writes: u64,
    pub transactions: u64,
    pub timeouts: u64,
}

/// Where a statement has to run, decided on the caller's thread.
pub enum Route {
    /// It already ran on the caller's thread.
    Done(Box<Result<Output>>),
    Read,
    Write,
}

static MEMORY_DB_COUNTER: AtomicU64 = AtomicU64::new(0);

pub struct SqlitePool {
    path: String,
    uri: bool,
    wal: bool,
    config: PoolConfig,
    inline: Mutex<Option<rusqlite::Connection>>,
    writer: tokio_rusqlite::Connection,
    writer_lock: Arc<tokio::sync::Mutex<()>>,
    idle_readers: Mutex<Vec<tokio_rusqlite::Connection>>,
    reader_slots: Arc<Semaphore>,
    readers_open: AtomicUsize,
    waiting: AtomicUsize,
    closed: AtomicBool,
    inline_reads: AtomicU64,
    thread_reads: AtomicU64,
    writes: AtomicU64,
    transactions: AtomicU64,
    timeouts: AtomicU64,
    runtime: tokio::runtime::Handle,
}

impl SqlitePool {
    /// Opens the writer and the inline reader; reader threads open on demand.
    pub async fn open(
        target: Target,
        config: PoolConfig,
        runtime: tokio::runtime::Handle,
    ) -> Result<Arc<SqlitePool>> {
        let (path, uri, wal) = match target {
            Target::File(p) => (p.to_string_lossy().into_owned(), false, true),
            Target::Memory => {
                let n = MEMORY_DB_COUNTER.fetch_add(1, Ordering::Relaxed);
                (
                    format!("file:/ormkit-memory-{}-{n}?vfs=memdb", std::process::id()),
                    true,
                    false,
                )
            }
        };
        let writer = open_threaded(&path, uri, config.busy_timeout, wal).await?;
        let inline = open(&path, uri, Duration::ZERO, false)?;
        let readers = config.max_connections.saturating_sub(1).max(1);
        Ok(Arc::new(SqlitePool {
            path,
            uri,
            wal,
            inline: Mutex::new(Some(inline)),
            writer,
            writer_lock: Arc::new(tokio::sync::Mutex::new(())),
            idle_readers: Mutex::new(Vec::new()),
            reader_slots: Arc::new(Semaphore::new(readers)),
            readers_open: AtomicUsize::new(0),
            waiting: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
            inline_reads: AtomicU64::new(0),
            thread_reads: AtomicU64::new(0),
            writes: AtomicU64::new(0),
            transactions: AtomicU64::new(0),
            timeouts: AtomicU64::new(0),
            runtime,
            config,
        }))
    }

    fn check_open(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            Err(Error::interface("the engine is closed"))
        } else {
            Ok(())
        }
    }

    /// Decides on the caller's thread where `sql` runs, and runs short reads right here.
    pub fn route(&self, sql: &str, params: &[Value]) -> Route {
        if let Err(e) = self.check_open() {
            return Route::Done(Box::new(Err(e)));
        }
        let Ok(mut guard) = self.inline.try_lock() else {
            return Route::Read;
        };
        let Some(conn) = guard.as_mut() else {
            return Route::Done(Box::new(Err(Error::interface("the engine is closed"))));
        };
        match is_read_only(conn, sql) {
            // The reader's view of the schema may be stale (a table renamed or dropped
            // by the writer): let the writer prepare it and report any real error.
            Err(_) => Route::Write,
            Ok(false) => Route::Write,
            Ok(true) => match self.config.inline_budget {
                None => Route::Read,
                Some(budget) => match run(conn, sql, params, Some(budget)) {
                    Err(e) if retry_elsewhere(&e) => Route::Read,
                    done => {
                        self.inline_reads.fetch_add(1, Ordering::Relaxed);
                        Route::Done(Box::new(done))
                    }
                },
            },
        }
    }

    /// Runs a read on a reader thread.
    pub async fn read(self: Arc<Self>, sql: String, params: Vec<Value>) -> Result<Output> {
        self.check_open()?;
        let (conn, permit) = self.acquire_reader().await?;
        let result = conn
            .call_raw(move |c| run(c, &sql, &params, None))
            .await
            .map_err(closed)?;
        self.release_reader(conn, permit);
        self.thread_reads.fetch_add(1, Ordering::Relaxed);
        result
    }

    /// Runs a write (or anything not provably read-only) on the writer, in autocommit mode.
    pub async fn write(self: Arc<Self>, sql: String, params: Vec<Value>) -> Result<Output> {
        self.check_open()?;
        let guard = self.lock_writer().await?;
        let result = self
            .writer
            .call_raw(move |c| run(c, &sql, &params, None))
            .await
            .map_err(closed)?;
        drop(guard);
        self.writes.fetch_add(1, Ordering::Relaxed);
        result
    }

    /// Runs one statement per parameter set in one transaction; returns rows changed.
    pub async fn write_many(self: Arc<Self>, sql: String, sets: Vec<Vec<Value>>) -> Result<i64> {
        self.check_open()?;
        let guard = self.lock_writer().await?;
        let result = self
            .writer
            .call_raw(move |c| {
                c.execute_batch("BEGIN IMMEDIATE").map_err(map)?;
                match run_many(c, &sql, &sets) {
                    Ok(n) => c.execute_batch("COMMIT").map_err(map).map(|_| n),
                    Err(e) => {
                        let _ = c.execute_batch("ROLLBACK");
                        Err(e)
                    }
                }
            })
            .await
            .map_err(closed)?;
        drop(guard);
        self.writes.fetch_add(1, Ordering::Relaxed);
        result
    }

    /// Starts a transaction (`BEGIN IMMEDIATE`) holding the writer until it ends.
    pub async fn begin(self: Arc<Self>) -> Result<Transaction> {
        self.check_open()?;
        let guard = self.lock_writer().await?;
        self.writer
            .call_raw(|c| c.execute_batch("BEGIN IMMEDIATE").map_err(map))
            .await
            .map_err(closed)??;
        self.transactions.fetch_add(1, Ordering::Relaxed);
        Ok(Transaction {
            conn: self.writer.clone(),
            guard: Some(guard),
            runtime: self.runtime.clone(),
        })
    }

    async fn lock_writer(&self) -> Result<OwnedMutexGuard<()>> {
        self.waiting.fetch_add(1, Ordering::Relaxed);
        let got = tokio::time::timeout(
            self.config.acquire_timeout,
            self.writer_lock.clone().lock_owned(),
        )
        .await;
        self.waiting.fetch_sub(1, Ordering::Relaxed);
        got.map_err(|_| {
            self.timeouts.fetch_add(1, Ordering::Relaxed);
            Error::pool_timeout(format!(
                "timed out after {:?} waiting for the SQLite writer connection",
                self.config.acquire_timeout
            ))
        })
    }

    async fn acquire_reader(&self) -> Result<(tokio_rusqlite::Connection, OwnedSemaphorePermit)> {
        self.waiting.fetch_add(1, Ordering::Relaxed);
        let permit = tokio::time::timeout(
            self.config.acquire_timeout,
            self.reader_slots.clone().acquire_owned(),
        )
        .await;
        self.waiting.fetch_sub(1, Ordering::Relaxed);
        let permit = match permit {
            Ok(Ok(p)) => p,
            Ok(Err(_)) => return Err(Error::interface("the engine is closed")),
            Err(_) => {
                self.timeouts.fetch_add(1, Ordering::Relaxed);
                return Err(Error::pool_timeout(format!(
                    "timed out after {:?} waiting for a SQLite reader connection",
                    self.config.acquire_timeout
                )));
            }
        };
        let idle = self.idle_readers.lock().ok().and_then(|mut v| v.pop());
        let conn = match idle {
            Some(c) => c,
            None => {
                let c =
                    open_threaded(&self.path, self.uri, self.config.busy_timeout, self.wal).await?;
                self.readers_open.fetch_add(1, Ordering::Relaxed);
                c
            }
        };
        Ok((conn, permit))
    }

    fn release_reader(&self, conn: tokio_rusqlite::Connection, permit: OwnedSemaphorePermit) {
        if let Ok(mut idle) = self.idle_readers.lock() {
            idle.push(conn);
        }
        drop(permit);
    }

    /// Streams a read-only statement in batches on its own connection.
    pub fn stream(
        &self,
        sql: String,
        params: Vec<Value>,
        batch_size: usize,
    ) -> Result<super::stream::Stream> {
        self.check_open()?;
        super::stream::start(
            self.path.clone(),
            self.uri,
            self.config.busy_timeout,
            sql,
            params,
            batch_size,
        )
    }

    pub fn stats(&self) -> PoolStats {
        PoolStats {
            max_size: self.config.max_connections,
            readers_open: self.readers_open.load(Ordering::Relaxed),
            readers_idle: self.idle_readers.lock().map(|v| v.len()).unwrap_or(0),
            writer_in_use: self.writer_lock.try_lock().is_err(),
            waiting: self.waiting.load(Ordering::Relaxed),
            inline_reads: self.inline_reads.load(Ordering::Relaxed),
            thread_reads: self.thread_reads.load(Ordering::Relaxed),
            writes: self.writes.load(Ordering::Relaxed),
            transactions: self.transactions.load(Ordering::Relaxed),
            timeouts: self.timeouts.load(Ordering::Relaxed),
        }
    }

    /// Closes every connection once the current writer user (if any) is done.
    pub async fn close(self: Arc<Self>) -> Result<()> {
        if self.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        self.reader_slots.close();
        let guard = tokio::time::timeout(
            self.config.acquire_timeout,
            self.writer_lock.clone().lock_owned(),
        )
        .await
        .ok();
        if let Ok(mut inline) = self.inline.lock() {
            inline.take();
        }
        let readers: Vec<_> = self
            .idle_readers
            .lock()
            .map(|mut v| v.drain(..).collect())
            .unwrap_or_default();
        for r in readers {
            let _ = r.close().await;
        }
        let result = self.writer.clone().close().await.map_err(closed);
        drop(guard);
        result
    }
}

/// A transaction on the writer connection. Dropped without commit or rollback,
/// it rolls back in the background before the writer is released.
pub struct Transaction {
    conn: tokio_rusqlite::Connection,
    guard: Option<OwnedMutexGuard<()>>,
    runtime: tokio::runtime::Handle,
}

impl Transaction {
    fn check(&self) -> Result<()> {
        if self.guard.is_none() {
            Err(Error::interface("the transaction is already finished"))
        } else {
            Ok(())
        }
    }

    pub fn conn(&self) -> Result<tokio_rusqlite::Connection> {
        self.check()?;
        Ok(self.conn.clone())
    }

    /// Ends the transaction with COMMIT (or ROLLBACK when `commit` is false).
    /// The writer is released whatever happens.
    pub fn finish(
        &mut self,
        commit: bool,
    ) -> Result<impl std::future::Future<Output = Result<()>>> {
        self.check()?;
        let guard = self.guard.take();
        let conn = self.conn.clone();
        Ok(async move {
            let sql = if commit { "COMMIT" } else { "ROLLBACK" };
            let result = conn
                .call_raw(move |c| {
                    let r = c.execute_batch(sql).map_err(map);
                    if r.is_err() && !c.is_autocommit() {
                        let _ = c.execute_batch("ROLLBACK");
                    }
                    r
                })
                .await
                .map_err(closed)
                .and_then(|r| r);
            drop(guard);
            result
        })
    }

    pub fn is_finished(&self) -> bool {
        self.guard.is_none()
    }
}

impl Drop for Transaction {
    fn drop(&mut self) {
        if let Some(guard) = self.guard.take() {
            let conn = self.conn.clone();
            self.runtime.spawn(async move {
                let _ = conn
                    .call_raw(|c| {
                        if !c.is_autocommit() {
                            let _ = c.execute_batch("ROLLBACK");
                        }
                    })
                    .await;
                drop(guard);
            });
        }
    }
}

/// Runs one statement on a transaction's connection.
pub async fn run_on(
    conn: tokio_rusqlite::Connection,
    sql: String,
    params: Vec<Value>,
) -> Result<Output> {
    conn.call_raw(move |c| run(c, &sql, &params, None))
        .await
        .map_err(closed)?
}

/// Runs one statement per parameter set on a transaction's connection.
pub async fn run_many_on(
    conn: tokio_rusqlite::Connection,
    sql: String,
    sets: Vec<Vec<Value>>,
) -> Result<i64> {
    conn.call_raw(move |c| run_many(c, &sql, &sets))
        .await
        .map_err(closed)?
}

async fn open_threaded(
    path: &str,
    uri: bool,
    busy_timeout: Duration,
    wal: bool,
) -> Result<tokio_rusqlite::Connection> {
    let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    if uri {
        flags |= OpenFlags::SQLITE_OPEN_URI;
    }
    let conn = tokio_rusqlite::Connection::open_with_flags(path, flags)
        .await
        .map_err(map)?;
    conn.call_raw(move |c| configure(c, busy_timeout, wal))
        .await
        .map_err(closed)??;
    Ok(conn)
}

fn closed<E>(_: tokio_rusqlite::Error<E>) -> Error {
    Error::new(
        ErrorKind::Interface,
        "the SQLite connection thread has stopped",
    )
}

/// Errors after which a read should be retried on a reader thread.
fn retry_elsewhere(e: &Error) -> bool {
    matches!(
        e.sqlstate.as_deref(),
        Some("SQLITE_9")
            | Some("SQLITE_5")
            | Some("SQLITE_6")
            | Some("SQLITE_261")
            | Some("SQLITE_262")
            | Some("SQLITE_517")
    )
}
