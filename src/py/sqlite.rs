//! Python handles over the SQLite pool and its transactions.

use super::convert::params_to_values;
use super::errors::{to_pyerr, to_pyerr_plain, with_context};
use super::result::QueryResult;
use super::runtime::{handle, spawn};
use crate::error::Error;
use crate::sqlite::pool::{run_many_on, run_on, Route, Transaction};
use crate::sqlite::stream::Stream;
use crate::sqlite::{Output, PoolConfig, SqlitePool, Target};
use crate::value::Value;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn into_result(out: Output) -> QueryResult {
    QueryResult::new(
        out.columns.into(),
        out.rows,
        out.rowcount,
        Some(out.last_insert_rowid),
        false,
    )
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

fn many_params(seq: &Bound<'_, PyAny>) -> PyResult<Vec<Vec<Value>>> {
    let mut sets = Vec::new();
    for item in seq.try_iter()? {
        sets.push(params_to_values(Some(&item?))?);
    }
    Ok(sets)
}

/// A pool of connections to one SQLite database.
#[pyclass(module = "ormkit._ormkit", name = "SqliteBackend", frozen)]
pub struct SqliteBackend {
    pool: Arc<SqlitePool>,
}

#[pymethods]
impl SqliteBackend {
    /// Opens a pool on `path` (None for a private in-memory database).
    #[staticmethod]
    #[pyo3(signature = (path, max_connections=10, busy_timeout=5.0, acquire_timeout=30.0, inline_budget=0.001))]
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
        spawn(
            py,
            async move { SqlitePool::open(target, config, handle()).await },
            |py, out| match out {
                Ok(pool) => Ok(Py::new(py, SqliteBackend { pool })?.into_any()),
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
        let values = params_to_values(params.as_ref())?;
        match self.pool.route(&sql, &values) {
            Route::Done(done) => match *done {
                Ok(out) => Ok(Bound::new(py, into_result(out))?.into_any()),
                Err(e) => Err(to_pyerr(&e, Some(&sql), params.as_ref())),
            },
            route => {
                let pool = self.pool.clone();
                let ctx = params.map(|p| p.unbind());
                let text = sql.clone();
                spawn(
                    py,
                    async move {
                        match route {
                            Route::Read => pool.read(text, values).await,
                            _ => pool.write(text, values).await,
                        }
                    },
                    move |py, out| result_or_error(py, out, &sql, ctx),
                )
            }
        }
    }

    /// Runs one statement per parameter set in one transaction; returns rows changed.
    fn executemany<'py>(
        &self,
        py: Python<'py>,
        sql: String,
        seq_of_params: Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let sets = many_params(&seq_of_params)?;
        let pool = self.pool.clone();
        let text = sql.clone();
        spawn(
            py,
            async move { pool.write_many(text, sets).await },
            move |py, out| count_or_error(py, out, &sql),
        )
    }

    /// Starts a transaction on the writer connection.
    fn begin<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let pool = self.pool.clone();
        spawn(py, async move { pool.begin().await }, |py, out| match out {
            Ok(tx) => Ok(Py::new(py, SqliteTransaction { tx: Mutex::new(tx) })?.into_any()),
            Err(e) => Err(with_context(&e, "BEGIN IMMEDIATE", None)),
        })
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
        let values = params_to_values(params.as_ref())?;
        let stream = self
            .pool
            .stream(sql.clone(), values, batch_size)
            .map_err(|e| to_pyerr(&e, Some(&sql), params.as_ref()))?;
        Ok(SqliteStream {
            inner: Arc::new(tokio::sync::Mutex::new(Some(stream))),
            sql,
        })
    }

    fn close<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let pool = self.pool.clone();
        spawn(py, async move { pool.close().await }, |py, out| match out {
            Ok(()) => Ok(py.None()),
            Err(e) => Err(to_pyerr_plain(&e)),
        })
    }

    /// Pool counters.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.pool.stats();
        let d = PyDict::new(py);
        d.set_item("max_size", s.max_size)?;
        d.set_item("readers_open", s.readers_open)?;
        d.set_item("readers_idle", s.readers_idle)?;
        d.set_item("writer_in_use", s.writer_in_use)?;
        d.set_item("waiting", s.waiting)?;
        d.set_item("inline_reads", s.inline_reads)?;
        d.set_item("thread_reads", s.thread_reads)?;
        d.set_item("writes", s.writes)?;
        d.set_item("transactions", s.transactions)?;
        d.set_item("timeouts", s.timeouts)?;
        Ok(d)
    }
}

/// Batches of a streamed statement.
#[pyclass(module = "ormkit._ormkit", name = "SqliteStream", frozen)]
pub struct SqliteStream {
    inner: Arc<tokio::sync::Mutex<Option<Stream>>>,
    sql: String,
}

#[pymethods]
impl SqliteStream {
    /// The next batch as a QueryResult; an empty one means the stream is done.
    fn fetch<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let inner = self.inner.clone();
        let sql = self.sql.clone();
        spawn(
            py,
            async move {
                let mut guard = inner.lock().await;
                let next = match guard.as_mut() {
                    Some(stream) => stream.next().await,
                    None => None,
                };
                if !matches!(next, Some(Ok(_))) {
                    guard.take();
                }
                next
            },
            move |py, next| {
                let result = match next {
                    Some(Ok(batch)) => QueryResult::new(batch.columns, batch.rows, -1, None, false),
                    Some(Err(e)) => return Err(with_context(&e, &sql, None)),
                    None => QueryResult::new(Vec::new().into(), Vec::new(), 0, None, false),
                };
                Ok(Py::new(py, result)?.into_any())
            },
        )
    }

    /// Stops the stream early; the reading thread ends at its next batch.
    fn close(&self) {
        if let Ok(mut guard) = self.inner.try_lock() {
            guard.take();
        }
    }
}

/// A transaction holding the SQLite writer until commit or rollback.
#[pyclass(module = "ormkit._ormkit", name = "SqliteTransaction", frozen)]
pub struct SqliteTransaction {
    tx: Mutex<Transaction>,
}

impl SqliteTransaction {
    fn conn(&self) -> PyResult<tokio_rusqlite::Connection> {
        let tx = self
            .tx
            .lock()
            .map_err(|_| to_pyerr_plain(&Error::internal("transaction lock poisoned")))?;
        tx.conn().map_err(|e| to_pyerr_plain(&e))
    }

    fn finish<'py>(&self, py: Python<'py>, commit: bool) -> PyResult<Bound<'py, PyAny>> {
        let fut = {
            let mut tx = self
                .tx
                .lock()
                .map_err(|_| to_pyerr_plain(&Error::internal("transaction lock poisoned")))?;
            tx.finish(commit).map_err(|e| to_pyerr_plain(&e))?
        };
        let sql = if commit { "COMMIT" } else { "ROLLBACK" };
        spawn(py, fut, move |py, out| match out {
            Ok(()) => Ok(py.None()),
            Err(e) => Err(with_context(&e, sql, None)),
        })
    }
}

#[pymethods]
impl SqliteTransaction {
    #[pyo3(signature = (sql, params=None))]
    fn execute<'py>(
        &self,
        py: Python<'py>,
        sql: String,
        params: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let values = params_to_values(params.as_ref())?;
        let conn = self.conn()?;
        let ctx = params.map(|p| p.unbind());
        let text = sql.clone();
        spawn(
            py,
            async move { run_on(conn, text, values).await },
            move |py, out| result_or_error(py, out, &sql, ctx),
        )
    }

    fn executemany<'py>(
        &self,
        py: Python<'py>,
        sql: String,
        seq_of_params: Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let sets = many_params(&seq_of_params)?;
        let conn = self.conn()?;
        let text = sql.clone();
        spawn(
            py,
            async move { run_many_on(conn, text, sets).await },
            move |py, out| count_or_error(py, out, &sql),
        )
    }

    fn commit<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.finish(py, true)
    }

    fn rollback<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.finish(py, false)
    }

    /// True once commit or rollback has been called.
    #[getter]
    fn finished(&self) -> bool {
        self.tx.lock().map(|t| t.is_finished()).unwrap_or(true)
    }
}

fn seconds(value: f64, name: &str) -> PyResult<Duration> {
    Duration::try_from_secs_f64(value).map_err(|_| {
        to_pyerr_plain(&Error::interface(format!(
            "{name} must be a non-negative number of seconds, not {value}"
        )))
    })
}
