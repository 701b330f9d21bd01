//! A transaction on the writer connection, and streams read inside it.
//!
//! The transaction holds the writer from `begin` (see `writer.rs`); its BEGIN
//! IMMEDIATE rides with its first statement, so an empty transaction costs nothing
//! and a short one saves a round trip to the thread. Dropped without commit or
//! rollback, it rolls back (in order, on the writer thread) and hands the writer on.
//!
//! Its statements run on the writer thread, except reads while the writer is free:
//! those run at once on the caller's thread under the progress-handler budget (an
//! interrupted *read* leaves the transaction intact; an interrupted write would roll
//! all of it back, so writes never run there).
//!
//! A stream (`Transaction::stream`) steps one read-only statement on the writer,
//! one batch per fetch, so memory stays bounded. While it is open the writer thread
//! stays with it and serves the transaction's other statements in between, in
//! order: they work (they see the transaction's state; whether the stream's later
//! rows see their writes is up to SQLite). One stream at a time per transaction.
//! The stream closes when read to the end, when closed or dropped, and when the
//! transaction ends (before its COMMIT/ROLLBACK runs). A fetch withdrawn before its
//! turn reads nothing, so no rows are skipped.

use super::budget::{run_budgeted, Budgeted};
use super::connection::{bind, is_read_only, run, run_many, Output};
use super::errors::map;
use super::job::{flush_deferred, job, reply_deferred, Abandon, Db, Reply, Slot, Work};
use super::pool::retry_elsewhere;
use super::types::push_row;
use super::writer::{batch, Task, Writer};
use crate::error::{Error, Result};
use crate::value::rows::Rows;
use crate::value::Value;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

static STREAM_IDS: AtomicU64 = AtomicU64::new(1);

/// One batch of a stream, and whether more rows may follow.
pub struct Chunk {
    pub columns: Arc<[String]>,
    pub rows: Rows,
    pub more: bool,
}

pub struct Transaction {
    writer: Arc<Writer>,
    id: u64,
    finished: bool,
    /// The open stream of this transaction (0: none); reset by the writer thread
    /// when the stream ends.
    stream: Arc<AtomicU64>,
}

/// Makes sure transaction `id` has begun on `db` (BEGIN IMMEDIATE on its first
/// statement), and that SQLite has not rolled it back meanwhile.
fn enter(db: &Db, id: u64) -> Result<()> {
    if db.begun.get() == id {
        if db.conn.is_autocommit() {
            return Err(Error::operational(
                "the transaction was rolled back by SQLite after an earlier error; \
                 roll it back and start again",
            ));
        }
        return Ok(());
    }
    batch(db, "BEGIN IMMEDIATE")?;
    db.begun.set(id);
    Ok(())
}

/// COMMIT or ROLLBACK of transaction `id`, if it began.
fn leave(db: &Db, id: u64, commit: bool) -> Result<()> {
    if db.begun.get() != id {
        return Ok(());
    }
    db.begun.set(0);
    if db.conn.is_autocommit() {
        return if commit {
            Err(Error::operational(
                "the transaction cannot be committed: SQLite rolled it back after an error",
            ))
        } else {
            Ok(())
        };
    }
    let r = batch(db, if commit { "COMMIT" } else { "ROLLBACK" });
    if r.is_err() && !db.conn.is_autocommit() {
        let _ = db.conn.execute_batch("ROLLBACK");
    }
    r
}

impl Transaction {
    pub(crate) fn new(writer: Arc<Writer>, id: u64) -> Transaction {
        Transaction {
            writer,
            id,
            finished: false,
            stream: Arc::new(AtomicU64::new(0)),
        }
    }

    /// An error if the transaction cannot take statements any more.
    pub fn check(&self) -> Result<()> {
        if self.finished {
            Err(Error::interface("the transaction is already finished"))
        } else {
            Ok(())
        }
    }

    /// An error if a stream cannot be opened now (another one is open).
    pub fn check_stream(&self) -> Result<()> {
        self.check()?;
        if self.stream.load(Ordering::Acquire) != 0 {
            return Err(Error::interface(
                "another stream of this transaction is still open: read it to the end \
                 or close it first (SQLite streams one statement at a time per transaction)",
            ));
        }
        Ok(())
    }

    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Runs a read at once on the caller's thread when the writer is free and the
    /// read fits in `budget`; None when it has to go to the writer thread.
    pub fn try_inline(
        &self,
        sql: &str,
        params: &[Value],
        budget: Option<Duration>,
    ) -> Option<Result<Output>> {
        let budget = budget?;
        if self.finished {
            return None;
        }
        let guard = self.writer.claim(self.id)?;
        let db = guard.as_ref()?;
        if !matches!(is_read_only(&db.conn, &db.plans, sql), Ok(true)) {
            return None;
        }
        if db.begun.get() != self.id {
            // Never wait for a lock here: another process may hold it for long.
            let _ = db.conn.busy_timeout(Duration::ZERO);
            let begun = enter(db, self.id);
            let _ = db.conn.busy_timeout(self.writer.config.busy_timeout);
            match begun {
                Err(e) if retry_elsewhere(&e) => return None,
                Err(e) => return Some(Err(e)),
                Ok(()) => {}
            }
        } else if let Err(e) = enter(db, self.id) {
            return Some(Err(e));
        }
        match run_budgeted(db, sql, params, budget, true) {
            Err(e) => Some(Err(e)),
            Ok(Budgeted::Writes | Budgeted::Elsewhere) => None,
            Ok(Budgeted::Ran(done)) if done.as_ref().as_ref().is_err_and(retry_elsewhere) => None,
            Ok(Budgeted::Ran(done)) => {
                self.writer
                    .counters
                    .inline_reads
                    .fetch_add(1, Ordering::Relaxed);
                Some(*done)
            }
        }
    }

    /// Runs one statement on the writer thread. Returns the job's slot when it has
    /// to wait (to withdraw it if the caller goes away).
    pub fn execute(
        &self,
        sql: String,
        params: Vec<Value>,
        reply: Reply<Output>,
    ) -> Result<Option<Arc<dyn Abandon>>> {
        self.check()?;
        let id = self.id;
        let slot = Slot::new(reply);
        let work = job(&slot, move |db| {
            enter(db, id)?;
            run(&db.conn, &db.plans, &sql, &params, None)
        });
        Ok(self.writer.queue(id, &slot, work))
    }

    /// Runs one statement per parameter set; replies with the rows changed.
    pub fn execute_many(
        &self,
        sql: String,
        sets: Vec<Vec<Value>>,
        reply: Reply<i64>,
    ) -> Result<Option<Arc<dyn Abandon>>> {
        self.check()?;
        let id = self.id;
        let slot = Slot::new(reply);
        let work = job(&slot, move |db| {
            enter(db, id)?;
            run_many(&db.conn, &db.plans, &sql, &sets)
        });
        Ok(self.writer.queue(id, &slot, work))
    }

    /// Ends the transaction with COMMIT (or ROLLBACK when `commit` is false). The
    /// writer is handed on whatever happens.
    pub fn finish(&mut self, commit: bool, reply: Reply<()>) -> Result<()> {
        self.check()?;
        self.finished = true;
        let id = self.id;
        let work: Work = Box::new(move |db| {
            let out = match db {
                Ok(db) => leave(db, id, commit),
                Err(e) if commit => Err(e),
                // A closed connection rolled back whatever was open.
                Err(_) => Ok(()),
            };
            reply_deferred(reply, out);
        });
        self.writer.end(id, Some(Task::End(work)));
        Ok(())
    }

    /// Ends the transaction at once on the caller's thread when the writer is free:
    /// a COMMIT or ROLLBACK only writes the pages the transaction changed (bounded
    /// by SQLite's page cache; the checkpoint is left to the writer thread). None
    /// when it has to go to the writer thread.
    pub fn try_finish_inline(&mut self, commit: bool) -> Option<Result<()>> {
        if self.finished {
            return None;
        }
        let guard = self.writer.claim(self.id)?;
        let db = guard.as_ref()?;
        let done = leave(db, self.id, commit);
        drop(guard);
        self.finished = true;
        self.writer.after_inline();
        self.writer.end(self.id, None);
        Some(done)
    }

    /// Opens a stream of `sql` (read-only); replies with its first batch of at most
    /// `rows` rows. Returns the stream's id.
    pub fn stream(
        &self,
        sql: String,
        params: Vec<Value>,
        rows: usize,
        reply: Reply<Chunk>,
    ) -> Result<(u64, Option<Arc<dyn Abandon>>)> {
        self.check()?;
        let sid = STREAM_IDS.fetch_add(1, Ordering::Relaxed);
        if self
            .stream
            .compare_exchange(0, sid, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return Err(Error::interface(
                "another stream of this transaction is still open: read it to the end \
                 or close it first (SQLite streams one statement at a time per transaction)",
            ));
        }
        let slot = Slot::new(reply);
        let open = StreamOpen {
            writer: self.writer.clone(),
            tx: self.id,
            sid,
            open: self.stream.clone(),
            sql,
            params,
            rows: rows.max(1),
            slot: slot.clone(),
        };
        let waits = self.writer.queue(
            self.id,
            &slot,
            Box::new(move |db| match db {
                Ok(db) => open.serve(db),
                Err(e) => open.abort(e),
            }),
        );
        Ok((sid, waits))
    }

    /// The next batch of stream `sid`.
    pub fn fetch(
        &self,
        sid: u64,
        rows: usize,
        reply: Reply<Chunk>,
    ) -> Result<Option<Arc<dyn Abandon>>> {
        self.check()?;
        let slot = Slot::new(reply);
        let task = Task::Fetch {
            stream: sid,
            rows: rows.max(1),
            slot: slot.clone(),
        };
        Ok(match self.writer.submit(self.id, task) {
            Ok(true) => Some(slot),
            _ => None,
        })
    }

    /// Closes stream `sid` if still open. Another stream may open at once: its
    /// statement is queued behind the close.
    pub fn close_stream(&self, sid: u64) {
        if self.finished
            || self
                .stream
                .compare_exchange(sid, 0, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
        {
            return;
        }
        let _ = self.writer.submit(self.id, Task::CloseStream(sid));
    }
}

impl Drop for Transaction {
    fn drop(&mut self) {
        if !self.finished {
            self.finished = true;
            let id = self.id;
            let work: Work = Box::new(move |db| {
                if let Ok(db) = db {
                    let _ = leave(db, id, false);
                }
            });
            self.writer.end(id, Some(Task::End(work)));
        }
    }
}

/// What opening a stream needs on the writer thread.
struct StreamOpen {
    writer: Arc<Writer>,
    tx: u64,
    sid: u64,
    open: Arc<AtomicU64>,
    sql: String,
    params: Vec<Value>,
    rows: usize,
    slot: Arc<Slot<Chunk>>,
}

/// Up to `n` more rows of `cursor`.
fn step(cursor: &mut rusqlite::Rows<'_>, n: usize, ncols: usize) -> Result<(Rows, bool)> {
    let mut rows = Rows::new(ncols);
    while rows.len() < n {
        let Some(row) = cursor.next().map_err(map)? else {
            return Ok((rows, false));
        };
        push_row(&mut rows, row, ncols)?;
    }
    Ok((rows, true))
}

impl StreamOpen {
    fn ended(&self) {
        let _ = self
            .open
            .compare_exchange(self.sid, 0, Ordering::AcqRel, Ordering::Acquire);
    }

    fn abort(self, e: Error) {
        self.ended();
        if let Some(reply) = self.slot.take() {
            reply(Err(e));
        }
    }

    /// Opens the statement, replies with the first batch, then serves this
    /// transaction's tasks until the stream ends.
    fn serve(self, db: &Db) {
        let Some(reply) = self.slot.take() else {
            return self.ended();
        };
        let opened = (|| {
            enter(db, self.tx)?;
            let plan = db.plans.plan(&self.sql);
            let mut stmt = db.conn.prepare(plan.sql()?).map_err(map)?;
            if !stmt.readonly() {
                return Err(Error::programming("stream() takes a read-only statement"));
            }
            bind(&mut stmt, &self.params, plan.positional())?;
            Ok(stmt)
        })();
        let mut stmt = match opened {
            Ok(stmt) => stmt,
            Err(e) => {
                self.ended();
                return reply(Err(e));
            }
        };
        let columns: Arc<[String]> = stmt
            .column_names()
            .iter()
            .map(|s| (*s).to_owned())
            .collect::<Vec<_>>()
            .into();
        let ncols = columns.len();
        let mut cursor = stmt.raw_query();
        let more = self.deliver(reply, step(&mut cursor, self.rows, ncols), &columns);
        if !more {
            return self.ended();
        }
        while let Some(task) = self.writer.next_task() {
            match task {
                Task::Fetch { stream, rows, slot } if stream == self.sid => {
                    let Some(reply) = slot.take() else {
                        continue;
                    };
                    if !self.deliver(reply, step(&mut cursor, rows, ncols), &columns) {
                        return self.ended();
                    }
                }
                Task::CloseStream(stream) if stream == self.sid => return self.ended(),
                Task::End(work) => {
                    drop(cursor);
                    drop(stmt);
                    self.ended();
                    return work(Ok(db));
                }
                Task::Stop(reply) => {
                    self.writer.requeue_front(Task::Stop(reply));
                    return self.ended();
                }
                // Inside this loop the thread stays busy: replies go out at once.
                other => {
                    self.writer.perform(db, other);
                    flush_deferred();
                }
            }
        }
        self.ended();
    }

    /// Replies with one batch; returns whether the stream goes on.
    fn deliver(
        &self,
        reply: Reply<Chunk>,
        batch: Result<(Rows, bool)>,
        columns: &Arc<[String]>,
    ) -> bool {
        match batch {
            Ok((rows, more)) => {
                if !more {
                    self.ended();
                }
                reply(Ok(Chunk {
                    columns: columns.clone(),
                    rows,
                    more,
                }));
                more
            }
            Err(e) => {
                self.ended();
                reply(Err(e));
                false
            }
        }
    }
}
