//! The sans-I/O PostgreSQL connection: a state machine fed with socket bytes
//! that says what to write back and what happened. It never touches a socket,
//! so the same code runs on Python's event loop thread (asyncio transport)
//! and in pure-Rust tests.
//!
//! # Driving it
//!
//! ```text
//! let mut conn = PgConnection::new(Arc::new(config));
//! conn.start()?;                                   // SSLRequest or StartupMessage
//! loop {
//!     if let Some(bytes) = conn.take_output() { socket.write_all(&bytes) }
//!     let n = socket.read(&mut buf);               // n == 0: conn.connection_lost()
//!     conn.feed(&buf[..n])?;                       // Err: connection is broken
//!     while let Some(event) = conn.poll_event() { ... }
//! }
//! ```
//!
//! After every call (`start`, `feed`, `query`, `simple`, `terminate`), write
//! whatever [`PgConnection::take_output`] returns. With TLS, the bytes in and
//! out are TLS records: rustls runs inside, sans-I/O.
//!
//! # Events
//!
//! - [`Event::Connected`]: startup and authentication succeeded.
//! - [`Event::QueryDone`]: the one statement in flight finished (rows, or the
//!   server's error with every field and a kind chosen from the SQLSTATE).
//! - [`Event::Notice`]: a NoticeResponse (for the `ormkit` logger).
//! - [`Event::Notification`]: a LISTEN/NOTIFY message.
//! - [`Event::Closed`]: the connection is broken (startup failure, protocol
//!   violation, TLS error, FATAL error, or [`PgConnection::connection_lost`]);
//!   sent once, after a `QueryDone(Err)` for the statement in flight if any.
//!
//! # Statements
//!
//! One user statement at a time ([`PgConnection::query`] or
//! [`PgConnection::simple`] while another is in flight is an error).
//! `query` uses the extended protocol: on a statement-cache hit,
//! Bind + Execute + Sync go in one write (one round trip); on a miss,
//! Parse + Describe + Sync first, then Bind + Execute + Sync with parameters
//! encoded for the types the server inferred (two round trips). Statements
//! evicted from the cache are Closed in the next write. A stale cached
//! statement (SQLSTATE 0A000 "cached plan must not change result type", or
//! 26000) outside a transaction is dropped and the statement retried once,
//! transparently. [`PgConnection::begin_pipelined`] makes the next statement
//! go out as `BEGIN` + statement in one write.
//!
//! [`PgConnection::query_many`] pipelines a batch: Bind + Execute for every
//! parameter set and one Sync, in one write. [`PgConnection::portal_open`] /
//! [`PgConnection::portal_fetch`] read a named portal in chunks of at most
//! N rows inside a transaction (see `pipeline.rs`).
//!
//! The connection counts the ReadyForQuery messages it expects (one per
//! [`Step`]), so [`PgConnection::is_idle`] is true only when nothing is in
//! flight; a pool must not reuse a connection that is not idle, and must
//! discard one that [`PgConnection::is_broken`].

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::error::{Error, ErrorKind, Result};
use crate::value::rows::Rows;
use crate::value::Value;

use super::auth::scram;
use super::config::{Host, PgConfig};
use super::protocol::backend::{self, ErrorFields, Message};
use super::protocol::frontend::{self, Target};
use super::query::{self, Execute, Prepare, QueryOutput, Run, Simple, Step};
use super::statement_cache::{Statement, StatementCache};
use super::transport::Transport;

/// Something the caller should know about.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Connected,
    QueryDone(Result<QueryOutput>),
    Notice(Error),
    Notification {
        process_id: i32,
        channel: String,
        payload: String,
    },
    Closed(Error),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Created,
    /// SSLRequest sent; the next byte is 'S' or 'N'.
    SslRequested,
    /// StartupMessage sent; authentication exchange.
    Authenticating,
    /// AuthenticationOk received; waiting for ReadyForQuery.
    Starting,
    Ready,
    Broken,
}

/// A PostgreSQL connection, sans I/O. See the module documentation.
pub struct PgConnection {
    config: Arc<PgConfig>,
    phase: Phase,
    transport: Transport,
    inbuf: Vec<u8>,
    wbuf: Vec<u8>,
    events: VecDeque<Event>,
    steps: VecDeque<Step>,
    cache: StatementCache,
    tx_status: u8,
    backend_key: Option<(i32, i32)>,
    server_params: HashMap<String, String>,
    scram: Option<scram::ScramClient>,
    challenged: bool,
    begin_next: bool,
    /// An error of the pipelined BEGIN, reported with the statement after it.
    begin_error: Option<Error>,
    /// Named portals open in the current transaction, with their statement.
    portals: HashMap<String, Arc<Statement>>,
    /// The [`SCHEMA_EPOCH`] the cached statements were prepared in.
    epoch: u64,
    /// A schema change ran in the open transaction: its end changes the epoch again.
    ddl_in_tx: bool,
}

/// Counts the schema changes (CREATE, ALTER, DROP) any connection of this process saw
/// complete, and the ends of transactions that made one. A cached statement keeps the
/// parameter types the server inferred when it was prepared: after `ALTER COLUMN v TYPE
/// bigint` a statement prepared for `float8` would still send `2**60 + 1` as a float
/// (rounded), and a column re-created as `text` would refuse text. So a connection
/// that finds the epoch moved forgets its statements before its next one. Changes made
/// by other programs are not seen (see docs/engine.md).
static SCHEMA_EPOCH: AtomicU64 = AtomicU64::new(0);

/// Notes a schema change (see [`SCHEMA_EPOCH`]) by its command tag; one inside a
/// transaction changes the epoch again when the transaction ends (`ddl_in_tx`). A
/// pipelined BEGIN's ReadyForQuery comes before the statement's tag, so `tx_status`
/// already says whether it ran in a transaction.
fn saw_command(tag: &str, tx_status: u8, ddl_in_tx: &mut bool) {
    if changes_schema(tag) {
        SCHEMA_EPOCH.fetch_add(1, Ordering::Relaxed);
        if tx_status != b'I' {
            *ddl_in_tx = true;
        }
    }
}

/// Whether a command tag is that of a schema change.
fn changes_schema(tag: &str) -> bool {
    ["CREATE", "ALTER", "DROP"]
        .iter()
        .any(|k| tag.starts_with(k))
}

mod pipeline;
mod startup;

impl std::fmt::Debug for PgConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgConnection")
            .field("config", &self.config)
            .field("phase", &self.phase)
            .field("transport", &self.transport)
            .field("in_flight", &self.steps.len())
            .finish_non_exhaustive()
    }
}

fn violation(what: &str) -> Error {
    Error::interface(format!("protocol violation: unexpected {what}"))
}

fn is_stale_statement(f: &ErrorFields<'_>) -> bool {
    match f.code {
        Some("26000") => true,
        Some("0A000") => {
            f.routine == Some("RevalidateCachedQuery")
                || f.message
                    .is_some_and(|m| m.contains("cached plan must not change result type"))
        }
        _ => false,
    }
}

impl PgConnection {
    pub fn new(config: Arc<PgConfig>) -> PgConnection {
        let cache = StatementCache::new(config.statement_cache_size);
        PgConnection {
            config,
            phase: Phase::Created,
            transport: Transport::plain(),
            inbuf: Vec::new(),
            wbuf: Vec::new(),
            events: VecDeque::new(),
            steps: VecDeque::new(),
            cache,
            tx_status: b'I',
            backend_key: None,
            server_params: HashMap::new(),
            scram: None,
            challenged: false,
            begin_next: false,
            begin_error: None,
            portals: HashMap::new(),
            epoch: SCHEMA_EPOCH.load(Ordering::Relaxed),
            ddl_in_tx: false,
        }
    }

    /// Queues the first message: SSLRequest (unless `sslmode=disable` or a
    /// unix socket, where PostgreSQL has no TLS) or the StartupMessage.
    pub fn start(&mut self) -> Result<()> {
        if self.phase != Phase::Created {
            return Err(Error::interface("connection already started"));
        }
        let tls_possible = !matches!(self.config.host, Host::Unix(_));
        if tls_possible && self.config.sslmode != super::config::SslMode::Disable {
            frontend::ssl_request(&mut self.wbuf);
            self.phase = Phase::SslRequested;
            Ok(())
        } else {
            self.send_startup()
        }
    }

    fn send_startup(&mut self) -> Result<()> {
        frontend::startup(&mut self.wbuf, &self.config.startup_params())?;
        self.phase = Phase::Authenticating;
        Ok(())
    }

    /// Bytes received from the socket. An `Err` means the connection is now
    /// broken (an [`Event::Closed`] was queued too).
    pub fn feed(&mut self, data: &[u8]) -> Result<()> {
        if self.phase == Phase::Broken {
            return Err(Error::interface("connection is closed"));
        }
        match self.feed_inner(data) {
            Ok(()) => Ok(()),
            Err(e) => Err(self.fail(e)),
        }
    }

    fn feed_inner(&mut self, mut data: &[u8]) -> Result<()> {
        if self.phase == Phase::SslRequested {
            let Some((&answer, rest)) = data.split_first() else {
                return Ok(());
            };
            self.ssl_answer(answer)?;
            data = rest;
            if self.transport.is_tls() {
                // Anything after 'S' arrived before the TLS handshake: it
                // cannot be trusted, and a real server sends nothing there.
                if !data.is_empty() {
                    return Err(violation("data after the TLS acceptance byte"));
                }
                return Ok(());
            }
        }
        let mut inbuf = std::mem::take(&mut self.inbuf);
        let closed = self.transport.receive(data, &mut inbuf);
        let outcome = closed.and_then(|closed| {
            let consumed = self.process(&inbuf);
            let result = consumed.map(|n| {
                inbuf.drain(..n);
            });
            if closed && result.is_ok() {
                self.connection_lost();
            }
            result
        });
        self.inbuf = inbuf;
        self.flush_wbuf()?;
        outcome
    }

    /// Decodes and handles every complete message; returns the bytes used.
    fn process(&mut self, buf: &[u8]) -> Result<usize> {
        let mut pos = 0;
        while self.phase != Phase::Broken {
            pos += self.data_rows(&buf[pos..])?;
            match backend::decode(&buf[pos..])? {
                None => break,
                Some((message, n)) => {
                    pos += n;
                    self.handle(message)?;
                }
            }
        }
        Ok(pos)
    }

    /// The DataRows at the front of `buf` for the statement in flight, decoded straight
    /// into its rows (the bulk of a result: no message value per row); returns the
    /// bytes used. Anything else is left to [`backend::decode`] and [`Self::handle`].
    fn data_rows(&mut self, buf: &[u8]) -> Result<usize> {
        if self.phase != Phase::Ready || buf.first() != Some(&b'D') {
            return Ok(0);
        }
        match self.steps.front_mut() {
            Some(Step::Execute(x)) => {
                query::decode_data_rows(buf, &x.decoders, &mut x.rows, &mut x.error)
            }
            Some(Step::Simple(s)) if s.columns.is_some() => {
                query::decode_data_rows(buf, &s.decoders, &mut s.rows, &mut s.error)
            }
            _ => Ok(0),
        }
    }

    fn handle(&mut self, message: Message<'_>) -> Result<()> {
        match message {
            Message::NoticeResponse(f) => {
                self.events.push_back(Event::Notice(f.to_error()));
                return Ok(());
            }
            Message::ParameterStatus { name, value } => {
                self.server_params.insert(name.to_owned(), value.to_owned());
                return Ok(());
            }
            Message::NotificationResponse {
                process_id,
                channel,
                payload,
            } => {
                self.events.push_back(Event::Notification {
                    process_id,
                    channel: channel.to_owned(),
                    payload: payload.to_owned(),
                });
                return Ok(());
            }
            Message::ErrorResponse(ref f)
                if matches!(f.severity.or(f.severity_localized), Some("FATAL" | "PANIC"))
                    || self.phase != Phase::Ready =>
            {
                // The server closes the connection after a FATAL error.
                return Err(f.to_error());
            }
            _ => {}
        }
        match self.phase {
            Phase::Authenticating => self.handle_auth(message),
            Phase::Starting => self.handle_startup(message),
            Phase::Ready => self.handle_query(message),
            _ => Err(violation("message before startup")),
        }
    }

    fn handle_query(&mut self, message: Message<'_>) -> Result<()> {
        if let Message::ReadyForQuery(status) = message {
            self.tx_status = status;
            if status == b'I' {
                // Portals live until the end of their transaction.
                self.portals.clear();
                if self.ddl_in_tx {
                    // committed (or rolled back): other connections may have
                    // prepared statements against the schema of before
                    self.ddl_in_tx = false;
                    SCHEMA_EPOCH.fetch_add(1, Ordering::Relaxed);
                }
            }
            let step = self
                .steps
                .pop_front()
                .ok_or_else(|| violation("ReadyForQuery"))?;
            return self.finish_step(step);
        }
        let step = self
            .steps
            .front_mut()
            .ok_or_else(|| violation("message while no statement is in flight"))?;
        match (step, message) {
            (step, Message::ErrorResponse(f)) => {
                if let Step::Execute(x) = step {
                    x.stale = is_stale_statement(&f);
                }
                step.set_error(f.to_error());
            }
            // Answers to the Close of an evicted or stale statement, which
            // rides along with whatever is sent next.
            (_, Message::CloseComplete) => {}
            (Step::Begin { .. }, Message::CommandComplete(_)) => {}
            (Step::Prepare(_), Message::ParseComplete) => {}
            (Step::Prepare(p), Message::ParameterDescription(oids)) => {
                p.param_types = Some(oids);
            }
            (Step::Prepare(p), Message::RowDescription(fields)) => {
                p.columns = Some(query::columns_of(&fields));
            }
            (Step::Prepare(p), Message::NoData) => p.columns = Some(Vec::new()),
            (Step::Execute(_), Message::BindComplete) => {}
            (Step::Execute(x), Message::PortalSuspended) => x.suspended = true,
            (Step::Execute(x), Message::CommandComplete(tag)) => {
                saw_command(tag, self.tx_status, &mut self.ddl_in_tx);
                x.complete(tag)
            }
            (Step::Execute(_) | Step::Simple(_), Message::EmptyQueryResponse) => {}
            (Step::Simple(s), Message::RowDescription(fields)) => {
                s.columns = Some(fields.iter().map(|f| f.name.to_owned()).collect());
                s.decoders = fields
                    .iter()
                    .map(|f| query::Decoder::new(f.type_oid, super::types::FORMAT_TEXT))
                    .collect();
                s.rows = Rows::new(fields.len());
            }
            (Step::Simple(s), Message::CommandComplete(tag)) => {
                saw_command(tag, self.tx_status, &mut self.ddl_in_tx);
                s.rowcount = query::rowcount(tag)
            }
            (step, Message::CopyInResponse) => {
                step.set_error(Error::new(ErrorKind::NotSupported, "COPY is not supported"));
                frontend::copy_fail(&mut self.wbuf, "COPY is not supported by ormkit")?;
            }
            (Step::Simple(s), Message::CopyOutResponse) => {
                s.in_copy_out = true;
                s.error = Some(Error::new(ErrorKind::NotSupported, "COPY is not supported"));
            }
            (Step::Simple(s), Message::CopyData(_) | Message::CopyDone) if s.in_copy_out => {}
            (_, other) => return Err(violation(&format!("{other:?}"))),
        }
        Ok(())
    }

    fn finish_step(&mut self, step: Step) -> Result<()> {
        match step {
            Step::Begin { error } => {
                self.begin_error = error;
                Ok(())
            }
            Step::Simple(s) => {
                let result = match s.error {
                    Some(e) => Err(e),
                    None => Ok(QueryOutput {
                        columns: s.columns.unwrap_or_else(|| Arc::from(Vec::new())),
                        rows: s.rows,
                        rowcount: s.rowcount,
                        cache_hit: false,
                        suspended: false,
                    }),
                };
                self.done(result);
                Ok(())
            }
            Step::Prepare(p) => self.finish_prepare(p),
            Step::Execute(x) => {
                if let Some(e) = x.error {
                    if x.stale && x.cache_hit && !x.retried && self.tx_status == b'I' {
                        // Stale cached statement: forget it, close it, prepare again.
                        self.cache.remove(&x.sql);
                        frontend::close(&mut self.wbuf, Target::Statement, &x.statement.name)?;
                        self.send_prepare(x.sql, x.run, true)?;
                        return Ok(());
                    }
                    self.done(Err(e));
                } else {
                    if let Run::Portal { portal, .. } = x.run {
                        self.portals.insert(portal, x.statement.clone());
                    }
                    self.done(Ok(QueryOutput {
                        columns: x.statement.column_names.clone(),
                        rows: x.rows,
                        rowcount: x.rowcount,
                        cache_hit: x.cache_hit,
                        suspended: x.suspended,
                    }));
                }
                Ok(())
            }
        }
    }

    fn finish_prepare(&mut self, p: Prepare) -> Result<()> {
        if let Some(e) = p.error {
            self.done(Err(e));
            return Ok(());
        }
        let (Some(param_types), Some(columns)) = (p.param_types, p.columns) else {
            return Err(violation(
                "ReadyForQuery before the statement was described",
            ));
        };
        let statement = Arc::new(Statement::new(p.name, param_types, columns));
        if let Some(evicted) = self.cache.insert(p.sql.clone(), statement.clone()) {
            frontend::close(&mut self.wbuf, Target::Statement, &evicted.name)?;
        }
        match query::write_run(&mut self.wbuf, &statement, &p.run) {
            Ok(()) => {
                let mut x = Execute::new(p.sql, p.run, statement, false);
                x.retried = p.retried;
                self.steps.push_back(Step::Execute(x));
            }
            // Nothing was executed: the Sync after Describe ended that cycle.
            Err(e) => self.done(Err(e)),
        }
        Ok(())
    }

    fn done(&mut self, result: Result<QueryOutput>) {
        let result = match self.begin_error.take() {
            Some(e) => Err(e),
            None => result,
        };
        self.events.push_back(Event::QueryDone(result));
    }

    fn send_prepare(&mut self, sql: String, run: Run, retried: bool) -> Result<()> {
        let name = self.cache.next_name();
        let start = self.wbuf.len();
        let written = frontend::parse(&mut self.wbuf, &name, &sql, &[])
            .and_then(|()| frontend::describe(&mut self.wbuf, Target::Statement, &name));
        if let Err(e) = written {
            self.wbuf.truncate(start);
            return Err(e);
        }
        frontend::sync(&mut self.wbuf);
        self.steps.push_back(Step::Prepare(Prepare {
            sql,
            run,
            name,
            param_types: None,
            columns: None,
            error: None,
            retried,
        }));
        Ok(())
    }

    fn ready_for_statement(&self) -> Result<()> {
        match self.phase {
            Phase::Ready if self.steps.is_empty() => Ok(()),
            Phase::Ready => Err(Error::interface(
                "another statement is in progress on this connection",
            )),
            // Usually the server went away between two statements of a transaction:
            // an operational failure, like the loss that broke the connection.
            Phase::Broken => Err(Error::operational(
                "the connection to the server is closed (it was lost or failed earlier)",
            )),
            _ => Err(Error::interface("connection is not ready yet")),
        }
    }

    /// Queues the pipelined BEGIN if one was requested.
    fn write_begin(&mut self) -> Result<()> {
        if std::mem::take(&mut self.begin_next) {
            frontend::query(&mut self.wbuf, "BEGIN")?;
            self.steps.push_back(Step::Begin { error: None });
        }
        Ok(())
    }

    /// Runs `sql` with `params` through the extended protocol; the result
    /// comes as [`Event::QueryDone`]. Errors found before anything is sent
    /// (too many parameters, NUL in text, a value the cached statement's
    /// parameter type cannot take, another statement in flight) are
    /// returned here and leave the connection as it was.
    pub fn query(&mut self, sql: &str, params: Vec<Value>) -> Result<()> {
        self.ready_for_statement()?;
        query::precheck_params(&params)?;
        self.start_run(sql, Run::Once(params))
    }

    /// Closes every cached statement (the Close messages ride with the next write)
    /// when the schema changed since they were prepared; not while a portal is open,
    /// which closing its statement would close too.
    fn forget_stale_statements(&mut self) -> Result<()> {
        let now = SCHEMA_EPOCH.load(Ordering::Relaxed);
        if now == self.epoch || !self.portals.is_empty() {
            return Ok(());
        }
        for name in self.cache.drain_names() {
            frontend::close(&mut self.wbuf, Target::Statement, &name)?;
        }
        self.epoch = now;
        Ok(())
    }

    /// Sends `run` of `sql`: on a cache hit its Bind/Execute at once, else
    /// Parse + Describe first. On error nothing is queued.
    fn start_run(&mut self, sql: &str, run: Run) -> Result<()> {
        let (start, had_begin) = (self.wbuf.len(), self.begin_next);
        let outcome = self
            .write_begin()
            .and_then(|()| self.forget_stale_statements())
            .and_then(|()| match self.cache.get(sql) {
                Some(statement) => {
                    query::write_run(&mut self.wbuf, &statement, &run)?;
                    let x = Execute::new(sql.to_owned(), run, statement, true);
                    self.steps.push_back(Step::Execute(x));
                    Ok(())
                }
                None => self.send_prepare(sql.to_owned(), run, false),
            });
        if let Err(e) = outcome {
            self.wbuf.truncate(start);
            self.steps.clear();
            self.begin_next = had_begin;
            return Err(e);
        }
        self.flush_wbuf()
    }

    /// Runs `sql` through the simple protocol (no parameters; COMMIT,
    /// ROLLBACK, SAVEPOINT, DDL). Results are text; the last result set wins.
    pub fn simple(&mut self, sql: &str) -> Result<()> {
        self.ready_for_statement()?;
        let (start, had_begin) = (self.wbuf.len(), self.begin_next);
        let outcome = self
            .write_begin()
            .and_then(|()| frontend::query(&mut self.wbuf, sql));
        if let Err(e) = outcome {
            self.wbuf.truncate(start);
            self.steps.clear();
            self.begin_next = had_begin;
            return Err(e);
        }
        self.steps.push_back(Step::Simple(Simple {
            rowcount: -1,
            ..Simple::default()
        }));
        self.flush_wbuf()
    }

    /// The next statement goes out as `BEGIN` + that statement in one write.
    pub fn begin_pipelined(&mut self) {
        self.begin_next = true;
    }

    /// True while a BEGIN requested by [`PgConnection::begin_pipelined`] has not been sent.
    pub fn begin_pending(&self) -> bool {
        self.begin_next
    }

    /// Forgets a pipelined BEGIN that was never sent (a transaction with no statements).
    pub fn cancel_begin(&mut self) {
        self.begin_next = false;
    }

    /// Polite goodbye: queues Terminate; the connection is closed afterwards.
    pub fn terminate(&mut self) {
        if matches!(self.phase, Phase::Ready | Phase::Starting) {
            frontend::terminate(&mut self.wbuf);
            let _ = self.flush_wbuf();
        }
        self.phase = Phase::Broken;
    }

    /// The socket reached EOF or failed: fails what is in flight.
    pub fn connection_lost(&mut self) {
        if self.phase != Phase::Broken {
            self.fail(Error::operational("the server closed the connection"));
        }
    }

    /// Marks the connection broken, completes what is in flight with `e`,
    /// and queues [`Event::Closed`]. Returns `e`.
    fn fail(&mut self, e: Error) -> Error {
        self.phase = Phase::Broken;
        if self.steps.drain(..).any(|s| s.is_user_query()) {
            self.begin_error = None;
            self.events.push_back(Event::QueryDone(Err(e.clone())));
        }
        self.events.push_back(Event::Closed(e.clone()));
        e
    }

    fn flush_wbuf(&mut self) -> Result<()> {
        if self.wbuf.is_empty() {
            return Ok(());
        }
        let bytes = std::mem::take(&mut self.wbuf);
        let sent = self.transport.send(&bytes);
        self.wbuf = bytes;
        self.wbuf.clear();
        sent
    }

    /// Socket bytes to write now.
    pub fn take_output(&mut self) -> Option<Vec<u8>> {
        if let Err(e) = self.flush_wbuf() {
            self.fail(e);
            return None;
        }
        match self.transport.take_output() {
            Ok(out) => out,
            Err(e) => {
                self.fail(e);
                None
            }
        }
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// `I` idle, `T` in a transaction, `E` in a failed transaction, as of
    /// the last ReadyForQuery.
    pub fn transaction_status(&self) -> u8 {
        self.tx_status
    }

    /// Connected, nothing in flight, not broken.
    pub fn is_idle(&self) -> bool {
        self.phase == Phase::Ready && self.steps.is_empty()
    }

    pub fn is_connected(&self) -> bool {
        self.phase == Phase::Ready
    }

    pub fn is_broken(&self) -> bool {
        self.phase == Phase::Broken
    }

    /// Whether the bytes on the wire are TLS.
    pub fn is_tls(&self) -> bool {
        self.transport.is_tls()
    }

    /// (process id, secret key) for CancelRequest.
    pub fn backend_key(&self) -> Option<(i32, i32)> {
        self.backend_key
    }

    /// The CancelRequest to send on a new connection to the same server.
    pub fn cancel_request_bytes(&self) -> Option<Vec<u8>> {
        let (pid, key) = self.backend_key?;
        let mut buf = Vec::with_capacity(16);
        frontend::cancel_request(&mut buf, pid, key);
        Some(buf)
    }

    /// A server parameter reported by ParameterStatus (`server_version`, `TimeZone`...).
    pub fn server_param(&self, name: &str) -> Option<&str> {
        self.server_params.get(name).map(String::as_str)
    }

    /// (hits, misses, size) of the statement cache.
    pub fn cache_stats(&self) -> (u64, u64, usize) {
        self.cache.stats()
    }

    pub fn config(&self) -> &Arc<PgConfig> {
        &self.config
    }
}
