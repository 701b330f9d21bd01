//! Python handles over the SQLite pool, its transactions and streams.
//!
//! A statement that ran at once on the caller's thread returns its QueryResult
//! (or raises) directly; one sent to a connection thread returns an asyncio
//! future, which that thread completes through `runtime::Completer` (one thread
//! crossing each way). Work that has to wait for a connection is withdrawn when
//! its future is cancelled (`runtime::OnCancel`).

use super::convert::{many_statement_params, statement_params};
use super::errors::{to_pyerr, to_pyerr_plain, with_context};
use super::result::QueryResult;
use super::runtime::{completer, handle, spawn, yield_once, Completer, OnCancel};
use crate::error::Error;
use crate::sqlite::job::{Abandon, Reply, Slot};
use crate::sqlite::keyed_insert::KeyedInsert;
use crate::sqlite::pool::Route;
use crate::sqlite::stream::{Batch, Stream};
use crate::sqlite::transaction::{Chunk, Transaction};
use crate::sqlite::{Output, PoolConfig, SqlitePool, Target};
use crate::value::Value;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyTuple};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

fn into_result(out: Output) -> QueryResult {
    QueryResult::new(
        out.columns.into(),
        out.rows,
        out.rowcount,
        Some(out.last_insert_rowid),
        false,
    )
    .of_dialect("sqlite")
}

fn result_or_error(
    py: Python<'_>,
    out: crate::error::Result<Output>,
    sql: &str,
    params: Option<Py<PyAny>>,
) -> PyResult<Py<PyAny>> {
    match out {
        Ok(o) => Ok(Py::new(py, into_result(o))?.into_any()),
        Err(e) => Err(with_context(&e, sql, params.as_ref())),
    }
}

/// The QueryResult of a statement that ran on this thread, or its exception.
fn done_now<'py>(
    py: Python<'py>,
    out: crate::error::Result<Output>,
    sql: &str,
    params: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    match out {
        Ok(out) => Ok(Bound::new(py, into_result(out))?.into_any()),
        Err(e) => Err(to_pyerr(&e, Some(sql), params)),
    }
}

fn count_or_error(
    py: Python<'_>,
    out: crate::error::Result<i64>,
    sql: &str,
) -> PyResult<Py<PyAny>> {
    match out {
        Ok(n) => Ok(n.into_pyobject(py)?.into_any().unbind()),
        Err(e) => Err(with_context(&e, sql, None)),
    }
}

/// The reply of a statement: its QueryResult, or its exception with the SQL and
/// parameters, delivered on the loop thread.
fn statement_reply(done: Completer, sql: String, params: Option<Py<PyAny>>) -> Reply<Output> {
    Box::new(move |out| done.complete(out, move |py, out| result_or_error(py, out, &sql, params)))
}

fn count_reply(done: Completer, sql: String) -> Reply<i64> {
    Box::new(move |out| done.complete(out, move |py, out| count_or_error(py, out, &sql)))
}

/// Withdraws `waits` (work still waiting for a connection) if `fut` is cancelled, or
/// interrupts it if it is already running in autocommit mode (see `sqlite::job`).
fn withdraw_on_cancel(fut: &Bound<'_, PyAny>, waits: Option<Arc<dyn Abandon>>) -> PyResult<()> {
    if let Some(w) = waits {
        OnCancel::watch(fut, move || {
            w.cancel();
        })?;
    }
    Ok(())
}

/// A pool of connections to one SQLite database.
#[pyclass(module = "ormkit._ormkit", name = "SqliteBackend", frozen)]
pub struct SqliteBackend {
    pool: Arc<SqlitePool>,
    budget: Option<Duration>,
    /// Reads in a row that ran at once (see [`ran_at_once`]), shared with the
    /// backend's transactions.
    streak: Arc<AtomicU32>,
}

/// Every this many reads that ran at once on the loop thread, one lets the loop run.
const YIELD_EVERY: u32 = 32;

/// The outcome of a read that ran at once on the loop thread: the QueryResult
/// itself, except every [`YIELD_EVERY`]-th time in a row, when it comes after one
/// pass of the event loop, so a task reading in a loop cannot starve the others.
/// (Writes done at once always let the loop run once: see `execute`.)
fn ran_at_once<'py>(
    py: Python<'py>,
    streak: &AtomicU32,
    result: Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    if streak.fetch_add(1, Ordering::Relaxed) + 1 < YIELD_EVERY {
        return Ok(result);
    }
    streak.store(0, Ordering::Relaxed);
    yield_once(py, result.unbind())
}

#[pymethods]
impl SqliteBackend {
    /// Opens a pool on `path` (None for a private in-memory database).
    #[staticmethod]
    #[pyo3(signature = (path, max_connections=10, busy_timeout=5.0, acquire_timeout=30.0, inline_budget=0.002))]
    fn open(
        py: Python<'_>,
        path: Option<PathBuf>,
        max_connections: usize,
        busy_timeout: f64,
        acquire_timeout: f64,
        inline_budget: Option<f64>,
    ) -> PyResult<Bound<'_, PyAny>> {
        let target = match path {
            Some(p) => Target::File(p),
            None => Target::Memory,
        };
        let config = PoolConfig {
            max_connections: max_connections.max(1),
            busy_timeout: seconds(busy_timeout, "busy_timeout")?,
            acquire_timeout: seconds(acquire_timeout, "acquire_timeout")?,
            inline_budget: inline_budget
                .map(|b| seconds(b, "inline_budget"))
                .transpose()?,
        };
        let budget = config.inline_budget;
        spawn(
            py,
            async move {
                // Opening may wait for a lock (busy_timeout): not on a tokio worker.
                tokio::task::spawn_blocking(move || SqlitePool::open(target, config, handle()))
                    .await
                    .unwrap_or_else(|e| Err(Error::internal(format!("open failed: {e}"))))
            },
            move |py, out| match out {
                Ok(pool) => Ok(Py::new(
                    py,
                    SqliteBackend {
                        pool,
                        budget,
                        streak: Arc::new(AtomicU32::new(0)),
                    },
                )?
                .into_any()),
                Err(e) => Err(to_pyerr_plain(&e)),
            },
        )
    }

    /// Runs one statement. Returns the QueryResult itself when it ran at once on
    /// this thread, otherwise an awaitable of it.
    #[pyo3(signature = (sql, params=None))]
    fn execute<'py>(
        &self,
        py: Python<'py>,
        sql: String,
        params: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let values = statement_params(&sql, params.as_ref())?;
        let write = match self.pool.route(&sql, &values) {
            Route::Done(done) => {
                let result = done_now(py, *done, &sql, params.as_ref())?;
                return ran_at_once(py, &self.streak, result);
            }
            Route::Read => false,
            Route::Write => true,
        };
        if write {
            if let Some(done) = self.pool.try_write_inline(&sql, &values) {
                // Like every write, it lets the other tasks run once before it returns.
                let result = done_now(py, done, &sql, params.as_ref())?;
                return yield_once(py, result.unbind());
            }
        }
        let (fut, done) = completer(py)?;
        let reply = statement_reply(done, sql.clone(), params.map(|p| p.unbind()));
        let waits = if write {
            self.pool.write(sql, values, reply)
        } else {
            self.pool.read(sql, values, reply)
        };
        withdraw_on_cancel(&fut, waits)?;
        Ok(fut)
    }

    /// A multi-row INSERT of `rows` rows into `table` that leaves the integer key `key`
    /// to SQLite: `sql` without RETURNING, `returning_sql` the same with `RETURNING key`.
    /// Answers what `returning_sql` would (one column, the keys in VALUES order), with
    /// the keys worked out when they can be (see `sqlite::keyed_insert`).
    #[pyo3(signature = (sql, returning_sql, params, table, key, rows))]
    #[allow(clippy::too_many_arguments)]
    fn insert_keys<'py>(
        &self,
        py: Python<'py>,
        sql: String,
        returning_sql: String,
        params: Option<Bound<'py, PyAny>>,
        table: &str,
        key: &str,
        rows: usize,
    ) -> PyResult<Bound<'py, PyAny>> {
        let values = statement_params(&returning_sql, params.as_ref())?;
        let keyed = KeyedInsert::new(sql, returning_sql, table, key, rows);
        if let Some(done) = self.pool.try_keyed_inline(&keyed, &values) {
            // Like every write, it lets the other tasks run once before it returns.
            let result = done_now(py, done, &keyed.returning, params.as_ref())?;
            return yield_once(py, result.unbind());
        }
        let (fut, done) = completer(py)?;
        let reply = statement_reply(done, keyed.returning.clone(), params.map(|p| p.unbind()));
        let waits = self.pool.keyed(keyed, values, reply);
        withdraw_on_cancel(&fut, waits)?;
        Ok(fut)
    }

    /// Runs one statement per parameter set in one transaction; returns rows changed.
    fn executemany<'py>(
        &self,
        py: Python<'py>,
        sql: String,
        seq_of_params: Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let sets = many_statement_params(&sql, &seq_of_params)?;
        let (fut, done) = completer(py)?;
        let waits = self
            .pool
            .write_many(sql.clone(), sets, count_reply(done, sql));
        withdraw_on_cancel(&fut, waits)?;
        Ok(fut)
    }

    /// Starts a transaction holding the writer: the SqliteTransaction itself when the
    /// writer is free, otherwise an awaitable of it.
    fn begin<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let budget = self.budget;
        let streak = self.streak.clone();
        match self.pool.try_begin() {
            Ok(Some(tx)) => {
                return Ok(Bound::new(py, SqliteTransaction::new(tx, budget, streak))?.into_any())
            }
            Ok(None) => {}
            Err(e) => return Err(to_pyerr(&e, Some("BEGIN IMMEDIATE"), None)),
        }
        let (fut, done) = completer(py)?;
        let reply: Reply<Transaction> = Box::new(move |out| {
            done.complete(out, move |py, out| match out {
                Ok(tx) => Ok(Py::new(py, SqliteTransaction::new(tx, budget, streak))?.into_any()),
                Err(e) => Err(with_context(&e, "BEGIN IMMEDIATE", None)),
            })
        });
        let waits = self.pool.begin(reply);
        withdraw_on_cancel(&fut, waits)?;
        Ok(fut)
    }

    /// Streams a read-only statement: returns a `SqliteStream` whose `fetch()`
    /// gives the next batch (an empty result once done).
    #[pyo3(signature = (sql, params=None, batch_size=1000))]
    fn stream(
        &self,
        sql: String,
        params: Option<Bound<'_, PyAny>>,
        batch_size: usize,
    ) -> PyResult<SqliteStream> {
        let values = statement_params(&sql, params.as_ref())?;
        let stream = self
            .pool
            .stream(sql.clone(), values, batch_size)
            .map_err(|e| to_pyerr(&e, Some(&sql), params.as_ref()))?;
        Ok(SqliteStream {
            inner: Mutex::new(Some(stream)),
            sql,
        })
    }

    fn close<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let (fut, done) = completer(py)?;
        self.pool.close(Box::new(move |out| {
            done.complete(out, |py, out| match out {
                Ok(()) => Ok(py.None()),
                Err(e) => Err(to_pyerr_plain(&e)),
            })
        }));
        Ok(fut)
    }

    /// Pool counters: the keys PostgreSQL's pool has too (`max_size`, `size`, `idle`,
    /// `in_use`, `waiting`, `timeouts`, `closed`) and SQLite's own (readers, writer,
    /// where statements ran).
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.pool.stats();
        let d = PyDict::new(py);
        // connections: the writer's and the reader threads'
        let size = s.readers_open + 1;
        let in_use = usize::from(s.writer_in_use) + s.readers_open.saturating_sub(s.readers_idle);
        d.set_item("max_size", s.max_size)?;
        d.set_item("size", size)?;
        d.set_item("idle", size.saturating_sub(in_use))?;
        d.set_item("in_use", in_use)?;
        d.set_item("readers_open", s.readers_open)?;
        d.set_item("readers_idle", s.readers_idle)?;
        d.set_item("writer_in_use", s.writer_in_use)?;
        d.set_item("waiting", s.waiting)?;
        d.set_item("inline_reads", s.inline_reads)?;
        d.set_item("thread_reads", s.thread_reads)?;
        d.set_item("inline_writes", s.inline_writes)?;
        d.set_item("writes", s.writes)?;
        d.set_item("transactions", s.transactions)?;
        d.set_item("timeouts", s.timeouts)?;
        Ok(d)
    }
}

/// Batches of a streamed statement.
#[pyclass(module = "ormkit._ormkit", name = "SqliteStream", frozen)]
pub struct SqliteStream {
    inner: Mutex<Option<Stream>>,
    sql: String,
}

#[pymethods]
impl SqliteStream {
    /// The next batch as a QueryResult; an empty one means the stream is done.
    fn fetch<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let (fut, done) = completer(py)?;
        let sql = self.sql.clone();
        let reply: Reply<Option<Batch>> = Box::new(move |next| {
            done.complete(next, move |py, next| {
                let result = match next {
                    Ok(Some(batch)) => QueryResult::new(batch.columns, batch.rows, -1, None, false)
                        .of_dialect("sqlite"),
                    Err(e) => return Err(with_context(&e, &sql, None)),
                    Ok(None) => QueryResult::new(Vec::new().into(), Vec::new(), 0, None, false),
                };
                Ok(Py::new(py, result)?.into_any())
            })
        });
        let slot = Slot::new(reply);
        {
            let guard = match self.inner.lock() {
                Ok(g) => g,
                Err(poisoned) => poisoned.into_inner(),
            };
            match guard.as_ref() {
                Some(stream) => stream.fetch(slot.clone()),
                None => {
                    if let Some(reply) = slot.take() {
                        reply(Ok(None));
                    }
                }
            }
        }
        // Cancelled before its turn, the fetch takes no batch (no rows are skipped).
        withdraw_on_cancel(&fut, Some(slot))?;
        Ok(fut)
    }

    /// Stops the stream early; the reading thread ends once its current batch is made.
    fn close(&self) {
        if let Ok(mut guard) = self.inner.lock() {
            guard.take();
        }
    }
}

/// A transaction holding the SQLite writer until commit or rollback.
#[pyclass(module = "ormkit._ormkit", name = "SqliteTransaction", frozen)]
pub struct SqliteTransaction {
    tx: Mutex<Transaction>,
    budget: Option<Duration>,
    streak: Arc<AtomicU32>,
}

impl SqliteTransaction {
    fn new(tx: Transaction, budget: Option<Duration>, streak: Arc<AtomicU32>) -> SqliteTransaction {
        SqliteTransaction {
            tx: Mutex::new(tx),
            budget,
            streak,
        }
    }

    fn tx(&self) -> MutexGuard<'_, Transaction> {
        match self.tx.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    fn finish<'py>(&self, py: Python<'py>, commit: bool) -> PyResult<Bound<'py, PyAny>> {
        let sql = if commit { "COMMIT" } else { "ROLLBACK" };
        self.tx().check().map_err(|e| to_pyerr_plain(&e))?;
        let now = self.tx().try_finish_inline(commit);
        if let Some(done) = now {
            return match done {
                Ok(()) => yield_once(py, py.None()),
                Err(e) => Err(to_pyerr(&e, Some(sql), None)),
            };
        }
        let (fut, done) = completer(py)?;
        let reply: Reply<()> = Box::new(move |out| {
            done.complete(out, move |py, out| match out {
                Ok(()) => Ok(py.None()),
                Err(e) => Err(with_context(&e, sql, None)),
            })
        });
        self.tx()
            .finish(commit, reply)
            .map_err(|e| to_pyerr_plain(&e))?;
        Ok(fut)
    }
}

#[pymethods]
impl SqliteTransaction {
    /// Runs one statement: the QueryResult itself when it ran at once on this
    /// thread (a read while the writer is free), otherwise an awaitable of it.
    #[pyo3(signature = (sql, params=None))]
    fn execute<'py>(
        &self,
        py: Python<'py>,
        sql: String,
        params: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let values = statement_params(&sql, params.as_ref())?;
        let now = self.tx().try_inline(&sql, &values, self.budget);
        if let Some(done) = now {
            let result = done_now(py, done, &sql, params.as_ref())?;
            return ran_at_once(py, &self.streak, result);
        }
        self.tx().check().map_err(|e| to_pyerr_plain(&e))?;
        let (fut, done) = completer(py)?;
        let reply = statement_reply(done, sql.clone(), params.map(|p| p.unbind()));
        let waits = self
            .tx()
            .execute(sql, values, reply)
            .map_err(|e| to_pyerr_plain(&e))?;
        withdraw_on_cancel(&fut, waits)?;
        Ok(fut)
    }

    fn executemany<'py>(
        &self,
        py: Python<'py>,
        sql: String,
        seq_of_params: Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let sets = many_statement_params(&sql, &seq_of_params)?;
        self.tx().check().map_err(|e| to_pyerr_plain(&e))?;
        let (fut, done) = completer(py)?;
        let waits = self
            .tx()
            .execute_many(sql.clone(), sets, count_reply(done, sql))
            .map_err(|e| to_pyerr_plain(&e))?;
        withdraw_on_cancel(&fut, waits)?;
        Ok(fut)
    }

    fn commit<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.finish(py, true)
    }

    fn rollback<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.finish(py, false)
    }

    /// A stream of a read-only statement inside this transaction, read in batches
    /// of `batch_size` rows (see `SqliteTxStream.fetch`).
    #[pyo3(signature = (sql, params=None, batch_size=1000))]
    fn stream(
        slf: &Bound<'_, Self>,
        sql: String,
        params: Option<Bound<'_, PyAny>>,
        batch_size: usize,
    ) -> PyResult<SqliteTxStream> {
        let values = statement_params(&sql, params.as_ref())?;
        if slf.get().tx().is_finished() {
            return Err(to_pyerr_plain(&Error::interface(
                "the transaction is already finished",
            )));
        }
        Ok(SqliteTxStream {
            tx: slf.clone().unbind(),
            state: Mutex::new(TxStreamState::New(sql, values)),
            batch_size: batch_size.max(1),
        })
    }

    /// True once commit or rollback has been called.
    #[getter]
    fn finished(&self) -> bool {
        self.tx().is_finished()
    }
}

enum TxStreamState {
    New(String, Vec<Value>),
    Open(u64, String),
    Done,
}

/// A stream inside a SQLite transaction: a statement stepped on the writer
/// connection, one batch per `fetch()`.
#[pyclass(module = "ormkit._ormkit", name = "SqliteTxStream", frozen)]
pub struct SqliteTxStream {
    tx: Py<SqliteTransaction>,
    state: Mutex<TxStreamState>,
    batch_size: usize,
}

impl SqliteTxStream {
    fn state(&self) -> MutexGuard<'_, TxStreamState> {
        match self.state.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}

fn chunk_reply(done: Completer, sql: String) -> Reply<Chunk> {
    Box::new(move |out| {
        done.complete(out, move |py, out| match out {
            Ok(chunk) => {
                let result = Bound::new(
                    py,
                    QueryResult::new(chunk.columns, chunk.rows, -1, None, false)
                        .of_dialect("sqlite"),
                )?;
                let more = PyBool::new(py, chunk.more).to_owned().into_any();
                Ok(PyTuple::new(py, [result.into_any(), more])?
                    .into_any()
                    .unbind())
            }
            Err(e) => Err(with_context(&e, &sql, None)),
        })
    })
}

#[pymethods]
impl SqliteTxStream {
    /// An awaitable of `(QueryResult, more)`: the next batch (possibly empty), and
    /// whether more rows may follow.
    fn fetch<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        {
            let tx = self.tx.get().tx();
            let ready = match &*self.state() {
                TxStreamState::New(..) => tx.check_stream(),
                TxStreamState::Open(..) => tx.check(),
                TxStreamState::Done => Err(Error::interface("the stream is closed")),
            };
            ready.map_err(|e| to_pyerr_plain(&e))?;
        }
        let (fut, done) = completer(py)?;
        let tx = self.tx.get().tx();
        let mut state = self.state();
        let waits = match std::mem::replace(&mut *state, TxStreamState::Done) {
            TxStreamState::New(sql, values) => {
                let reply = chunk_reply(done, sql.clone());
                let (sid, waits) = tx
                    .stream(sql.clone(), values, self.batch_size, reply)
                    .map_err(|e| to_pyerr(&e, Some(&sql), None))?;
                *state = TxStreamState::Open(sid, sql);
                waits
            }
            TxStreamState::Open(sid, sql) => {
                let reply = chunk_reply(done, sql.clone());
                let waits = tx
                    .fetch(sid, self.batch_size, reply)
                    .map_err(|e| to_pyerr_plain(&e))?;
                *state = TxStreamState::Open(sid, sql);
                waits
            }
            TxStreamState::Done => {
                return Err(to_pyerr_plain(&Error::interface("the stream is closed")));
            }
        };
        drop(state);
        drop(tx);
        withdraw_on_cancel(&fut, waits)?;
        Ok(fut)
    }

    /// Closes the statement if it is still open (the writer moves on).
    fn close(&self) {
        let state = std::mem::replace(&mut *self.state(), TxStreamState::Done);
        if let TxStreamState::Open(sid, _) = state {
            self.tx.get().tx().close_stream(sid);
        }
    }
}

impl Drop for SqliteTxStream {
    fn drop(&mut self) {
        self.close();
    }
}

fn seconds(value: f64, name: &str) -> PyResult<Duration> {
    Duration::try_from_secs_f64(value).map_err(|_| {
        to_pyerr_plain(&Error::interface(format!(
            "{name} must be a non-negative number of seconds, not {value}"
        )))
    })
}
