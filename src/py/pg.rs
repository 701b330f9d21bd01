//! The PostgreSQL connection as an asyncio protocol, driven on the event-loop thread.
//!
//! asyncio calls `data_received` with socket bytes; the sans-I/O `PgConnection`
//! decodes them and this class completes the statement's asyncio future directly.
//! No thread hop sits between a write and its rows (DESIGN.md, "Performance
//! architecture"). Python side effects (transport writes, completing futures) run
//! after the Rust state is updated and its borrow released, so re-entrant calls
//! from asyncio (e.g. `pause_writing` inside `transport.write`) are safe.

use super::convert::{many_statement_params, statement_params};
use super::errors::{to_pyerr, to_pyerr_plain};
use super::loop_idle::Pace;
use super::pg_inline::{self, InlineWait};
use super::reply_times::{self, ReplyTimes};
use super::result::QueryResult;
use crate::error::Error;
use crate::pg::config::{Host, PgConfig};
use crate::pg::connection::{Event, PgConnection};
use crate::pg::query::QueryOutput;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyTuple};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

/// Parsed connection settings, shared by every connection of a pool.
#[pyclass(module = "ormkit._ormkit", name = "PgConfig", frozen)]
pub struct PyPgConfig {
    inner: Arc<PgConfig>,
}

fn secs(d: Option<std::time::Duration>) -> Option<f64> {
    d.map(|d| d.as_secs_f64())
}

#[pymethods]
impl PyPgConfig {
    #[new]
    #[pyo3(signature = (url, options=None))]
    fn new(url: &str, options: Option<HashMap<String, String>>) -> PyResult<Self> {
        let build = || -> crate::error::Result<PgConfig> {
            let mut config = PgConfig::from_url(url)?;
            let mut opts: Vec<_> = options.unwrap_or_default().into_iter().collect();
            opts.sort();
            for (k, v) in opts {
                config.set_option(&k, &v)?;
            }
            config.fill_defaults();
            config.validate()?;
            Ok(config)
        };
        let config = build().map_err(|e| to_pyerr_plain(&e))?;
        Ok(PyPgConfig {
            inner: Arc::new(config),
        })
    }

    /// TCP host name, or None for a unix socket.
    #[getter]
    fn host(&self) -> Option<String> {
        match &self.inner.host {
            Host::Tcp(h) => Some(h.clone()),
            Host::Unix(_) => None,
        }
    }

    #[getter]
    fn port(&self) -> u16 {
        self.inner.port
    }

    /// Path of the unix socket file, or None for TCP.
    #[getter]
    fn socket_path(&self) -> Option<String> {
        self.inner
            .socket_path()
            .map(|p| p.to_string_lossy().into_owned())
    }

    /// `host:port` or the socket path, for messages.
    #[getter]
    fn display_target(&self) -> String {
        match &self.inner.host {
            Host::Tcp(h) => format!("{h}:{}", self.inner.port),
            Host::Unix(_) => self.socket_path().unwrap_or_default(),
        }
    }

    #[getter]
    fn connect_timeout(&self) -> Option<f64> {
        secs(self.inner.connect_timeout)
    }

    #[getter]
    fn command_timeout(&self) -> Option<f64> {
        secs(self.inner.command_timeout)
    }

    #[getter]
    fn acquire_timeout(&self) -> f64 {
        secs(self.inner.acquire_timeout).unwrap_or(30.0)
    }

    #[getter]
    fn max_idle_time(&self) -> Option<f64> {
        secs(self.inner.max_idle_time)
    }

    #[getter]
    fn max_lifetime(&self) -> Option<f64> {
        secs(self.inner.max_lifetime)
    }

    #[getter]
    fn min_connections(&self) -> usize {
        self.inner.min_connections
    }

    #[getter]
    fn max_connections(&self) -> usize {
        self.inner.max_connections
    }

    #[getter]
    fn statement_cache_size(&self) -> usize {
        self.inner.statement_cache_size
    }

    /// The URL with the password hidden.
    #[getter]
    fn redacted_url(&self) -> String {
        self.inner.redacted_url()
    }

    fn __repr__(&self) -> String {
        format!("<PgConfig {}>", self.inner.redacted_url())
    }
}

/// What the statement's future resolves to.
enum Job {
    /// The QueryResult.
    Query,
    /// The rows-affected count (a pipelined batch).
    Count,
    /// `(QueryResult, more)` for one chunk of a portal.
    Chunk,
}

struct Pending {
    fut: Py<PyAny>,
    sql: String,
    params: Option<Py<PyAny>>,
    job: Job,
}

/// What to do in Python once the Rust state is updated.
enum Effect {
    Resolve(Py<PyAny>, Py<PyAny>),
    Reject(Py<PyAny>, PyErr),
    Log(String),
}

/// One connection to PostgreSQL, as an asyncio protocol.
#[pyclass(module = "ormkit._ormkit", name = "PgProtocol")]
pub struct PgProtocol {
    conn: PgConnection,
    transport: Option<Py<PyAny>>,
    /// `transport.write`, bound once.
    write: Option<Py<PyAny>>,
    /// `create_future` of the event loop the transport belongs to, bound once (the
    /// per-statement `asyncio.get_running_loop()` calls `getpid()` on 3.11).
    create_future: Option<Py<PyAny>>,
    ready: Option<Py<PyAny>>,
    /// Why startup failed, kept for a `ready()` asked after the failure.
    startup_error: Option<Error>,
    /// Startup and authentication succeeded at some point.
    connected_once: bool,
    pending: Option<Pending>,
    idle_waiters: Vec<Py<PyAny>>,
    closed: bool,
    /// Waiting for replies on the loop thread while the loop is idle (`pg_inline`).
    inline: Option<InlineWait>,
    /// The buffer of those reads, kept between statements.
    inline_buf: Vec<u8>,
    /// How long recent statements' replies took, for those waits.
    reply_times: ReplyTimes,
}

fn running_loop(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    py.import(intern!(py, "asyncio"))?
        .call_method0(intern!(py, "get_running_loop"))
}

/// What makes a future of `event_loop`: `loop.create_future`, or, when the loop
/// keeps asyncio's own (which only calls `asyncio.Future(loop=loop)` from Python),
/// that call prepared once in C (`functools.partial`).
fn future_factory(event_loop: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
    let py = event_loop.py();
    let asyncio = py.import(intern!(py, "asyncio"))?;
    let standard = asyncio
        .getattr(intern!(py, "BaseEventLoop"))?
        .getattr(intern!(py, "create_future"))?;
    let own = event_loop
        .get_type()
        .getattr(intern!(py, "create_future"))?;
    if !own.is(&standard) {
        return Ok(event_loop.getattr(intern!(py, "create_future"))?.unbind());
    }
    let kwargs = PyDict::new(py);
    kwargs.set_item(intern!(py, "loop"), event_loop)?;
    let partial = py
        .import(intern!(py, "functools"))?
        .getattr(intern!(py, "partial"))?;
    Ok(partial
        .call((asyncio.getattr(intern!(py, "Future"))?,), Some(&kwargs))?
        .unbind())
}

fn new_future(py: Python<'_>) -> PyResult<Py<PyAny>> {
    Ok(running_loop(py)?
        .call_method0(intern!(py, "create_future"))?
        .unbind())
}

fn output_of(out: QueryOutput) -> QueryResult {
    QueryResult::new(out.columns, out.rows, out.rowcount, None, out.cache_hit)
        .of_dialect("postgresql")
}

impl PgProtocol {
    /// A new future of the connection's event loop.
    fn future(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        match &self.create_future {
            Some(create) => Ok(create.bind(py).call0()?.unbind()),
            None => new_future(py),
        }
    }

    /// Moves pending output to the transport and runs the effects, outside any borrow.
    fn flush(slf: &Bound<'_, Self>, effects: Vec<Effect>) -> PyResult<()> {
        Self::flush_output(slf, effects).map(|_| ())
    }

    /// [`flush`](Self::flush), saying whether the output went straight to the socket
    /// in full (so the transport has nothing buffered).
    fn flush_output(slf: &Bound<'_, Self>, effects: Vec<Effect>) -> PyResult<bool> {
        let py = slf.py();
        let (out, write, close) = {
            let mut this = slf.borrow_mut();
            let out = this.conn.take_output();
            let close = this.conn.is_broken() && !this.closed;
            if close {
                this.closed = true;
            }
            let write = match out {
                Some(_) => this.write.as_ref().map(|w| w.clone_ref(py)),
                None => None,
            };
            (out, write, close)
        };
        let mut direct = false;
        if let (Some(bytes), Some(write)) = (&out, &write) {
            let sent = match &slf.borrow().inline {
                Some(inline) => inline.send(py, bytes)?,
                None => 0,
            };
            direct = sent == bytes.len();
            if !direct {
                write.bind(py).call1((PyBytes::new(py, &bytes[sent..]),))?;
            }
        }
        for effect in effects {
            match effect {
                Effect::Resolve(fut, value) => {
                    let fut = fut.bind(py);
                    if !fut.call_method0(intern!(py, "done"))?.is_truthy()? {
                        fut.call_method1(intern!(py, "set_result"), (value,))?;
                    }
                }
                Effect::Reject(fut, err) => {
                    let fut = fut.bind(py);
                    if !fut.call_method0(intern!(py, "done"))?.is_truthy()? {
                        fut.call_method1(intern!(py, "set_exception"), (err.into_value(py),))?;
                    }
                }
                Effect::Log(msg) => {
                    let logger = py
                        .import(intern!(py, "logging"))?
                        .call_method1(intern!(py, "getLogger"), ("ormkit",))?;
                    logger.call_method1(intern!(py, "info"), ("server notice: %s", msg))?;
                }
            }
        }
        if close {
            let transport = slf.borrow().transport.as_ref().map(|t| t.clone_ref(py));
            if let Some(t) = transport {
                t.bind(py).call_method0(intern!(py, "close"))?;
            }
        }
        Ok(direct)
    }

    /// Turns connection events into effects.
    fn drain_events(&mut self, py: Python<'_>) -> Vec<Effect> {
        let mut effects = Vec::new();
        while let Some(event) = self.conn.poll_event() {
            match event {
                Event::Connected => {
                    self.connected_once = true;
                    if let Some(fut) = self.ready.take() {
                        effects.push(Effect::Resolve(fut, py.None()));
                    }
                }
                Event::QueryDone(result) => self.finish_statement(py, result, &mut effects),
                Event::Notice(e) => effects.push(Effect::Log(e.message)),
                Event::Notification { .. } => {}
                Event::Closed(e) => {
                    self.startup_failed(&e, &mut effects);
                    if let Some(p) = self.pending.take() {
                        let err = to_pyerr(&e, Some(&p.sql), p.params.as_ref().map(|x| x.bind(py)));
                        effects.push(Effect::Reject(p.fut, err));
                    }
                }
            }
        }
        if self.conn.is_idle() || self.conn.is_broken() {
            for fut in self.idle_waiters.drain(..) {
                effects.push(Effect::Resolve(fut, py.None()));
            }
        }
        effects
    }

    /// Fails the `ready()` future with `e`, or keeps `e` for when it is asked for
    /// (the transport may report the failure before anyone awaits readiness).
    fn startup_failed(&mut self, e: &Error, effects: &mut Vec<Effect>) {
        if self.connected_once {
            return;
        }
        match self.ready.take() {
            Some(fut) => effects.push(Effect::Reject(fut, to_pyerr_plain(e))),
            None if self.startup_error.is_none() => self.startup_error = Some(e.clone()),
            None => {}
        }
    }

    fn finish_statement(
        &mut self,
        py: Python<'_>,
        result: crate::error::Result<QueryOutput>,
        effects: &mut Vec<Effect>,
    ) {
        let Some(p) = self.pending.take() else {
            return;
        };
        let value = match result {
            Err(e) => Err(to_pyerr(
                &e,
                Some(&p.sql),
                p.params.as_ref().map(|x| x.bind(py)),
            )),
            Ok(out) => match p.job {
                Job::Query => Bound::new(py, output_of(out)).map(|r| r.into_any().unbind()),
                Job::Count => out
                    .rowcount
                    .max(0)
                    .into_pyobject(py)
                    .map(|n| n.into_any().unbind())
                    .map_err(|never| match never {}),
                Job::Chunk => {
                    let more = out.suspended;
                    Bound::new(py, output_of(out)).and_then(|r| {
                        let more = PyBool::new(py, more).to_owned().into_any();
                        PyTuple::new(py, [r.into_any(), more]).map(|t| t.into_any().unbind())
                    })
                }
            },
        };
        effects.push(match value {
            Ok(v) => Effect::Resolve(p.fut, v),
            Err(e) => Effect::Reject(p.fut, e),
        });
    }

    /// Starts one statement with `send` (a call on the sans-I/O connection)
    /// and returns the future its result completes.
    fn start_job(
        slf: &Bound<'_, Self>,
        sql: String,
        params: Option<Py<PyAny>>,
        job: Job,
        send: impl FnOnce(&mut PgConnection, &str) -> crate::error::Result<()>,
    ) -> PyResult<Py<PyAny>> {
        let py = slf.py();
        let fut = slf.borrow().future(py)?;
        {
            let mut this = slf.borrow_mut();
            if this.pending.is_some() {
                return Err(to_pyerr_plain(&Error::interface(
                    "another statement is already running on this connection \
                     (one connection, or one session, cannot be used by two tasks at once)",
                )));
            }
            if let Err(e) = send(&mut this.conn, &sql) {
                return Err(to_pyerr(
                    &e,
                    Some(&sql),
                    params.as_ref().map(|p| p.bind(py)),
                ));
            }
            this.pending = Some(Pending {
                fut: fut.clone_ref(py),
                sql,
                params,
                job,
            });
        }
        let direct = Self::flush_output(slf, Vec::new())?;
        Self::wait_inline(slf, direct)?;
        Ok(fut)
    }

    /// Waits for the reply of the statement just sent here, on the loop thread, while
    /// the loop has nothing else to do (see `pg_inline`). Returns with the statement
    /// complete (its future done) or still pending for asyncio to finish.
    /// `sent_direct`: the statement went straight to the socket (nothing buffered).
    fn wait_inline(slf: &Bound<'_, Self>, sent_direct: bool) -> PyResult<()> {
        let py = slf.py();
        let started = Instant::now();
        let (fds, until, spin, key, mut pace) = {
            let this = slf.borrow();
            let Some(inline) = &this.inline else {
                return Ok(());
            };
            let until = match inline.budget(py, !sent_direct) {
                Ok(Some(budget)) => started + budget,
                Ok(None) => return Ok(()),
                Err(_) => {
                    // The loop is not what it looked like: keep to the plain path.
                    drop(this);
                    slf.borrow_mut().inline = None;
                    return Ok(());
                }
            };
            let spin = inline.spin();
            // statements are told apart only for the timed wake-up, which needs a spin
            let key = match &this.pending {
                Some(p) if !spin.is_zero() => Some(reply_times::key(&p.sql)),
                _ => None,
            };
            let pace = key.map_or(Pace::spinning(spin), |k| {
                this.reply_times.pace(k, spin, started)
            });
            (inline.fds(), until, spin, key, pace)
        };
        let mut buf = std::mem::take(&mut slf.borrow_mut().inline_buf);
        let done = loop {
            let Some(len) = pg_inline::read(py, fds, until, pace, &mut buf) else {
                break Ok(());
            };
            pace = Pace::spinning(spin); // the rest of a reply follows at once
            let effects = {
                let mut this = slf.borrow_mut();
                // A decode error marks the connection broken and queues Closed.
                let _ = this.conn.feed(&buf[..len]);
                this.drain_events(py)
            };
            if let Err(e) = Self::flush(slf, effects) {
                break Err(e);
            }
            let this = slf.borrow();
            if this.pending.is_none() || this.closed {
                break Ok(());
            }
        };
        let mut this = slf.borrow_mut();
        if let Some(key) = key {
            if this.pending.is_none() {
                this.reply_times.record(key, started.elapsed());
            } else if Instant::now() >= until {
                this.reply_times.forget(key);
            }
        }
        // A large reply is not worth keeping a large buffer for.
        if buf.capacity() <= 4 * pg_inline::CHUNK {
            this.inline_buf = buf;
        }
        done
    }
}

/// A future that is already resolved with `value`.
fn resolved(this: &PgProtocol, py: Python<'_>, value: Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
    let fut = this.future(py)?;
    fut.bind(py)
        .call_method1(intern!(py, "set_result"), (value,))?;
    Ok(fut)
}

#[pymethods]
impl PgProtocol {
    #[new]
    fn new(config: &Bound<'_, PyPgConfig>) -> Self {
        PgProtocol {
            conn: PgConnection::new(config.get().inner.clone()),
            transport: None,
            write: None,
            create_future: None,
            ready: None,
            startup_error: None,
            connected_once: false,
            pending: None,
            idle_waiters: Vec::new(),
            closed: false,
            inline: None,
            inline_buf: Vec::new(),
            reply_times: ReplyTimes::default(),
        }
    }

    // ---- asyncio.Protocol ------------------------------------------------

    fn connection_made(slf: &Bound<'_, Self>, transport: Py<PyAny>) -> PyResult<()> {
        let py = slf.py();
        // Called by the event loop that owns the transport: bind what every
        // statement needs once.
        let write = transport.bind(py).getattr(intern!(py, "write"))?.unbind();
        let event_loop = running_loop(py)?;
        let create_future = future_factory(&event_loop)?;
        let inline = InlineWait::new(&event_loop, transport.bind(py))?;
        let effects = {
            let mut this = slf.borrow_mut();
            this.inline = inline;
            this.transport = Some(transport);
            this.write = Some(write);
            this.create_future = Some(create_future);
            let mut effects = Vec::new();
            if let Err(e) = this.conn.start() {
                this.startup_failed(&e, &mut effects);
            }
            effects
        };
        Self::flush(slf, effects)
    }

    fn data_received(slf: &Bound<'_, Self>, data: &Bound<'_, PyBytes>) -> PyResult<()> {
        let py = slf.py();
        let effects = {
            let mut this = slf.borrow_mut();
            // A decode error marks the connection broken and queues Closed.
            let _ = this.conn.feed(data.as_bytes());
            this.drain_events(py)
        };
        Self::flush(slf, effects)
    }

    fn eof_received(&self) -> bool {
        false
    }

    #[pyo3(signature = (_exc=None))]
    fn connection_lost(slf: &Bound<'_, Self>, _exc: Option<Py<PyAny>>) -> PyResult<()> {
        let py = slf.py();
        let effects = {
            let mut this = slf.borrow_mut();
            this.conn.connection_lost();
            this.transport = None;
            this.write = None;
            this.closed = true;
            let mut effects = this.drain_events(py);
            let e = Error::operational("the server closed the connection during startup");
            this.startup_failed(&e, &mut effects);
            effects
        };
        Self::flush(slf, effects)
    }

    fn pause_writing(&self) {}

    fn resume_writing(&self) {}

    // ---- ormkit ----------------------------------------------------------

    /// A future resolved once startup and authentication succeeded.
    fn ready(slf: &Bound<'_, Self>) -> PyResult<Py<PyAny>> {
        let py = slf.py();
        let mut this = slf.borrow_mut();
        if let Some(e) = &this.startup_error {
            let fut = this.future(py)?;
            let exc = to_pyerr_plain(e).into_value(py);
            fut.bind(py)
                .call_method1(intern!(py, "set_exception"), (exc,))?;
            return Ok(fut);
        }
        if this.connected_once {
            return resolved(&this, py, py.None().into_bound(py));
        }
        if let Some(f) = &this.ready {
            return Ok(f.clone_ref(py));
        }
        let fut = this.future(py)?;
        this.ready = Some(fut.clone_ref(py));
        Ok(fut)
    }

    /// Runs one statement (extended protocol); returns a future of its QueryResult.
    #[pyo3(signature = (sql, params=None))]
    fn query(
        slf: &Bound<'_, Self>,
        sql: String,
        params: Option<Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let values = statement_params(&sql, params.as_ref())?;
        let params = params.map(|p| p.unbind());
        Self::start_job(slf, sql, params, Job::Query, |c, sql| c.query(sql, values))
    }

    /// Runs `sql` once per parameter set as one pipeline (one Parse, then
    /// Bind + Execute per set and one Sync, in one write); returns a future of
    /// the rows affected.
    fn query_many(
        slf: &Bound<'_, Self>,
        sql: String,
        seq_of_params: Bound<'_, PyAny>,
    ) -> PyResult<Py<PyAny>> {
        let sets = many_statement_params(&sql, &seq_of_params)?;
        if sets.is_empty() {
            let py = slf.py();
            return resolved(&slf.borrow(), py, 0i64.into_pyobject(py)?.into_any());
        }
        Self::start_job(slf, sql, None, Job::Count, |c, sql| c.query_many(sql, sets))
    }

    /// Binds `sql` to the named `portal` and reads at most `max_rows` rows
    /// (inside a transaction); returns a future of `(QueryResult, more)`.
    #[pyo3(signature = (sql, params, portal, max_rows))]
    fn portal_open(
        slf: &Bound<'_, Self>,
        sql: String,
        params: Option<Bound<'_, PyAny>>,
        portal: String,
        max_rows: usize,
    ) -> PyResult<Py<PyAny>> {
        let values = statement_params(&sql, params.as_ref())?;
        let params = params.map(|p| p.unbind());
        Self::start_job(slf, sql, params, Job::Chunk, |c, sql| {
            c.portal_open(sql, values, &portal, max_rows)
        })
    }

    /// Reads at most `max_rows` more rows of an open `portal`; returns a future
    /// of `(QueryResult, more)`.
    fn portal_fetch(slf: &Bound<'_, Self>, portal: String, max_rows: usize) -> PyResult<Py<PyAny>> {
        let sql = format!("(fetch from portal {portal})");
        Self::start_job(slf, sql, None, Job::Chunk, |c, _| {
            c.portal_fetch(&portal, max_rows)
        })
    }

    /// Closes `portal` on the server; returns a future resolved when done.
    fn portal_close(slf: &Bound<'_, Self>, portal: String) -> PyResult<Py<PyAny>> {
        let sql = format!("(close portal {portal})");
        Self::start_job(slf, sql, None, Job::Query, |c, _| c.portal_close(&portal))
    }

    /// Runs a parameterless statement through the simple protocol (COMMIT, ROLLBACK...).
    fn simple(slf: &Bound<'_, Self>, sql: String) -> PyResult<Py<PyAny>> {
        Self::start_job(slf, sql, None, Job::Query, |c, sql| c.simple(sql))
    }

    /// The next statement goes out as BEGIN + statement in one write.
    fn begin_pipelined(&mut self) {
        self.conn.begin_pipelined();
    }

    /// True while a pipelined BEGIN has not been sent yet.
    #[getter]
    fn begin_pending(&self) -> bool {
        self.conn.begin_pending()
    }

    /// Forgets a pipelined BEGIN that was never sent (an empty transaction).
    fn cancel_begin(&mut self) {
        self.conn.cancel_begin();
    }

    /// A future resolved when nothing is in flight (or the connection broke).
    fn wait_idle(&mut self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let fut = self.future(py)?;
        if self.conn.is_idle() || self.conn.is_broken() {
            fut.bind(py)
                .call_method1(intern!(py, "set_result"), (py.None(),))?;
        } else {
            self.idle_waiters.push(fut.clone_ref(py));
        }
        Ok(fut)
    }

    /// The 16-byte CancelRequest for this connection's backend, if known.
    fn cancel_request<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
        self.conn
            .cancel_request_bytes()
            .map(|b| PyBytes::new(py, &b))
    }

    /// Sends Terminate and closes the transport.
    fn terminate(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let transport = {
            let mut this = slf.borrow_mut();
            this.conn.terminate();
            this.transport.as_ref().map(|t| t.clone_ref(py))
        };
        Self::flush(slf, Vec::new())?;
        if let Some(t) = transport {
            t.bind(py).call_method0(intern!(py, "close"))?;
        }
        Ok(())
    }

    #[getter]
    fn is_idle(&self) -> bool {
        self.conn.is_idle() && self.pending.is_none()
    }

    #[getter]
    fn is_broken(&self) -> bool {
        self.conn.is_broken() || self.closed
    }

    /// Idle, healthy and outside a transaction: ready for the next user as is
    /// (`is_idle and not is_broken and not in_transaction`, in one call).
    #[getter]
    fn reusable(&self) -> bool {
        self.conn.is_idle()
            && self.pending.is_none()
            && !self.conn.begin_pending()
            && !self.conn.is_broken()
            && !self.closed
            && self.conn.transaction_status() == b'I'
    }

    /// True inside a transaction (also a failed one).
    #[getter]
    fn in_transaction(&self) -> bool {
        self.conn.transaction_status() != b'I'
    }

    /// True inside a transaction a failed statement aborted: the server ignores
    /// everything until its end, and answers COMMIT by rolling it back.
    #[getter]
    fn in_failed_transaction(&self) -> bool {
        self.conn.transaction_status() == b'E'
    }

    #[getter]
    fn is_tls(&self) -> bool {
        self.conn.is_tls()
    }

    /// The server process id serving this connection.
    #[getter]
    fn backend_pid(&self) -> Option<i32> {
        self.conn.backend_key().map(|(pid, _)| pid)
    }

    /// `(hits, misses, cached statements)` of the statement cache.
    fn cache_stats(&self) -> (u64, u64, usize) {
        self.conn.cache_stats()
    }

    fn server_parameters<'py>(
        &self,
        py: Python<'py>,
        names: Vec<String>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for n in names {
            d.set_item(&n, self.conn.server_param(&n))?;
        }
        Ok(d)
    }
}
