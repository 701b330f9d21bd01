//! Connections to one SQLite database: a reader the event-loop thread uses
//! directly for short reads, reader threads for longer reads, and one writer
//! thread through which every write and every transaction passes (so concurrent
//! writers queue instead of failing with "database is locked").
//!
//! A short autocommit write runs on the event-loop thread too, on the writer
//! connection, when nothing else is queued for it: under the progress-handler
//! budget and without waiting for locks. Interrupted or blocked, SQLite rolls the
//! statement back (autocommit), and it goes to the writer thread instead.

use super::budget::{run_budgeted, within, Budgeted};
use super::connection::{is_read_only, is_transaction_control, open, run, run_many, Output};
use super::job::{closed, job, write_job, Abandon, Counters, Db, Reply, Slot, Work};
use super::keyed_insert::{run_keyed, KeyedInsert};
use super::placeholders::Plans;
use super::readers::Readers;
use super::transaction::Transaction;
use super::writer::{batch, Writer, WriterConfig};
use crate::error::{Error, Result};
use crate::value::Value;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

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
    /// Longest a statement may run on the caller's thread before moving to a
    /// connection thread (None: never on the caller's thread).
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
    pub inline_writes: u64,
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
    config: PoolConfig,
    plans: Arc<Plans>,
    inline: Mutex<Option<Db>>,
    writer: Arc<Writer>,
    readers: Arc<Readers>,
    closed: AtomicBool,
    counters: Arc<Counters>,
}

impl SqlitePool {
    /// Opens the writer and the inline reader; reader threads open on demand.
    pub fn open(
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
        let plans = Arc::new(Plans::default());
        let counters = Arc::new(Counters::default());
        let writer_db = Db::new(open(&path, uri, config.busy_timeout, wal)?, plans.clone());
        let inline = Db::new(open(&path, uri, Duration::ZERO, false)?, plans.clone());
        let writer = Writer::start(
            writer_db,
            WriterConfig {
                acquire_timeout: config.acquire_timeout,
                busy_timeout: config.busy_timeout,
            },
            runtime.clone(),
            counters.clone(),
        )?;
        let (reader_path, reader_plans, busy) = (path.clone(), plans.clone(), config.busy_timeout);
        let readers = Readers::new(
            Box::new(move || {
                Ok(Db::new(
                    open(&reader_path, uri, busy, wal)?,
                    reader_plans.clone(),
                ))
            }),
            config.max_connections.saturating_sub(1).max(1),
            config.acquire_timeout,
            runtime,
            counters.clone(),
        );
        Ok(Arc::new(SqlitePool {
            path,
            uri,
            inline: Mutex::new(Some(inline)),
            writer,
            readers,
            closed: AtomicBool::new(false),
            plans,
            counters,
            config,
        }))
    }

    fn check_open(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            Err(closed())
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
        let Some(db) = guard.as_mut() else {
            return Route::Done(Box::new(Err(closed())));
        };
        let Some(budget) = self.config.inline_budget else {
            return match is_read_only(&db.conn, &self.plans, sql) {
                Ok(true) => Route::Read,
                _ => Route::Write,
            };
        };
        match run_budgeted(db, sql, params, budget, true) {
            // The reader's view of the schema may be stale (a table renamed or dropped
            // by the writer): let the writer prepare it and report any real error.
            Err(_) | Ok(Budgeted::Writes) => Route::Write,
            Ok(Budgeted::Elsewhere) => Route::Read,
            Ok(Budgeted::Ran(done)) if done.as_ref().as_ref().is_err_and(retry_elsewhere) => {
                Route::Read
            }
            Ok(Budgeted::Ran(done)) => {
                self.counters.inline_reads.fetch_add(1, Ordering::Relaxed);
                Route::Done(done)
            }
        }
    }

    /// Runs a read on a reader thread; returns the job's slot when it has to wait.
    pub fn read(
        &self,
        sql: String,
        params: Vec<Value>,
        reply: Reply<Output>,
    ) -> Option<Arc<dyn Abandon>> {
        let (slot, work) = self.statement_job(sql, params, reply, |c| &c.thread_reads, false)?;
        self.readers.submit(&slot, work)
    }

    /// The job running `sql` once on a connection thread (counted in `counter`; a
    /// [`write_job`] when `write`), or None once it has failed the job because the
    /// pool is closed.
    fn statement_job(
        &self,
        sql: String,
        params: Vec<Value>,
        reply: Reply<Output>,
        counter: fn(&Counters) -> &AtomicU64,
        write: bool,
    ) -> Option<(Arc<Slot<Output>>, Work)> {
        self.output_job(reply, counter, write, move |db| {
            run(&db.conn, &db.plans, &sql, &params, None)
        })
    }

    /// The job running `work` on a connection thread (counted in `counter`; a
    /// [`write_job`], interrupted when its caller gives up, when `write`), or None once
    /// it has failed the job because the pool is closed.
    fn output_job(
        &self,
        reply: Reply<Output>,
        counter: fn(&Counters) -> &AtomicU64,
        write: bool,
        work: impl FnOnce(&Db) -> Result<Output> + Send + 'static,
    ) -> Option<(Arc<Slot<Output>>, Work)> {
        let slot = Slot::new(reply);
        let counters = self.counters.clone();
        let counted = move |db: &Db| {
            counter(&counters).fetch_add(1, Ordering::Relaxed);
            work(db)
        };
        let work = if write {
            write_job(&slot, counted)
        } else {
            job(&slot, counted)
        };
        if let Err(e) = self.check_open() {
            work(Err(e));
            return None;
        }
        Some((slot, work))
    }

    /// Runs a write at once on the caller's thread when the writer is free and the
    /// statement fits in the budget; None when it has to go to the writer thread.
    pub fn try_write_inline(&self, sql: &str, params: &[Value]) -> Option<Result<Output>> {
        if is_transaction_control(sql) {
            return None;
        }
        self.inline_on_writer(|db, budget| run_budgeted(db, sql, params, budget, false))
    }

    /// Runs a keyed insert (`keyed_insert`) at once on the caller's thread when the
    /// writer is free and it fits in the budget; None when it has to go to the writer
    /// thread (an interrupted or blocked try has been undone).
    pub fn try_keyed_inline(&self, k: &KeyedInsert, params: &[Value]) -> Option<Result<Output>> {
        self.inline_on_writer(|db, budget| {
            within(&db.plans.plan(&k.insert), budget, |limit| {
                run_keyed(&db.conn, &db.plans, k, params, limit)
            })
        })
    }

    /// Runs `work` on the writer connection from the caller's thread, when there is a
    /// budget, the writer is free and in autocommit mode, without waiting for locks;
    /// None when the work has to go to the writer thread (it ran over, a lock was busy,
    /// or it may write where only reads were asked for).
    fn inline_on_writer(
        &self,
        work: impl FnOnce(&Db, Duration) -> Result<Budgeted>,
    ) -> Option<Result<Output>> {
        let budget = self.config.inline_budget?;
        let guard = self.writer.claim(0)?;
        let db = guard.as_ref()?;
        // Inside a transaction someone opened by hand, an interrupt would roll it back.
        if !db.conn.is_autocommit() {
            return None;
        }
        let _ = db.conn.busy_timeout(Duration::ZERO);
        let result = work(db, budget);
        let _ = db.conn.busy_timeout(self.config.busy_timeout);
        drop(guard);
        let done = match result {
            Ok(Budgeted::Ran(done)) if done.as_ref().as_ref().is_err_and(retry_elsewhere) => {
                return None
            }
            Ok(Budgeted::Writes | Budgeted::Elsewhere) => return None,
            Ok(Budgeted::Ran(done)) => *done,
            Err(e) => Err(e),
        };
        self.counters.inline_writes.fetch_add(1, Ordering::Relaxed);
        self.writer.after_inline();
        Some(done)
    }

    /// Runs a keyed insert on the writer thread; returns the job's slot (to withdraw it,
    /// or interrupt it, when its caller goes away).
    pub fn keyed(
        &self,
        k: KeyedInsert,
        params: Vec<Value>,
        reply: Reply<Output>,
    ) -> Option<Arc<dyn Abandon>> {
        let (slot, work) = self.output_job(
            reply,
            |c| &c.writes,
            true,
            move |db| run_keyed(&db.conn, &db.plans, &k, &params, None),
        )?;
        self.writer.queue(0, &slot, work)
    }

    /// Runs a write (or anything not provably read-only) on the writer thread, in
    /// autocommit mode; returns the job's slot (to withdraw it, or interrupt it, when its
    /// caller goes away).
    pub fn write(
        &self,
        sql: String,
        params: Vec<Value>,
        reply: Reply<Output>,
    ) -> Option<Arc<dyn Abandon>> {
        let (slot, work) = self.statement_job(sql, params, reply, |c| &c.writes, true)?;
        self.writer.queue(0, &slot, work)
    }

    /// Runs one statement per parameter set in one transaction; replies with the
    /// rows changed.
    pub fn write_many(
        &self,
        sql: String,
        sets: Vec<Vec<Value>>,
        reply: Reply<i64>,
    ) -> Option<Arc<dyn Abandon>> {
        let slot = Slot::new(reply);
        let counters = self.counters.clone();
        let work = write_job(&slot, move |db| {
            batch(db, "BEGIN IMMEDIATE")?;
            match run_many(&db.conn, &db.plans, &sql, &sets) {
                Ok(n) => {
                    if let Err(e) = batch(db, "COMMIT") {
                        let _ = db.conn.execute_batch("ROLLBACK");
                        return Err(e);
                    }
                    counters.writes.fetch_add(1, Ordering::Relaxed);
                    Ok(n)
                }
                Err(e) => {
                    let _ = db.conn.execute_batch("ROLLBACK");
                    Err(e)
                }
            }
        });
        if let Err(e) = self.check_open() {
            work(Err(e));
            return None;
        }
        self.writer.queue(0, &slot, work)
    }

    /// A transaction at once, if nobody holds the writer.
    pub fn try_begin(&self) -> Result<Option<Transaction>> {
        self.check_open()?;
        self.writer.try_begin()
    }

    /// A transaction once the writer is free (replied); returns the request's slot
    /// when it has to wait.
    pub fn begin(&self, reply: Reply<Transaction>) -> Option<Arc<dyn Abandon>> {
        if let Err(e) = self.check_open() {
            reply(Err(e));
            return None;
        }
        self.writer.begin(reply)
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
        let (readers_open, readers_idle, readers_waiting) = self.readers.usage();
        let (writer_in_use, writer_waiting) = self.writer.usage();
        let c = &self.counters;
        PoolStats {
            max_size: self.config.max_connections,
            readers_open,
            readers_idle,
            writer_in_use,
            waiting: readers_waiting + writer_waiting,
            inline_reads: c.inline_reads.load(Ordering::Relaxed),
            thread_reads: c.thread_reads.load(Ordering::Relaxed),
            inline_writes: c.inline_writes.load(Ordering::Relaxed),
            writes: c.writes.load(Ordering::Relaxed),
            transactions: c.transactions.load(Ordering::Relaxed),
            timeouts: c.timeouts.load(Ordering::Relaxed),
        }
    }

    /// Closes every connection once the transaction holding the writer (if any) and
    /// the work queued before are done, or after `acquire_timeout`; then replies.
    pub fn close(&self, reply: Reply<()>) {
        if self.closed.swap(true, Ordering::AcqRel) {
            return reply(Ok(()));
        }
        self.readers.close();
        if let Ok(mut inline) = self.inline.lock() {
            inline.take();
        }
        self.writer.close(reply);
    }
}

impl Drop for SqlitePool {
    fn drop(&mut self) {
        self.readers.close();
        self.writer.shutdown();
    }
}

/// Errors after which a statement should be retried on a connection thread: the
/// budget ran out (interrupted), or a lock was busy.
pub(crate) fn retry_elsewhere(e: &Error) -> bool {
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
