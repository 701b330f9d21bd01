//! The writer: one connection, one thread of ours, and the rule for who may use it.
//!
//! Every write and every transaction runs on this connection, in the order asked
//! for. The thread takes tasks from a FIFO queue and replies straight to the
//! waiting event loop (see `py::runtime::Completer`): one thread crossing there and
//! one back, where tokio-rusqlite behind a tokio task cost four.
//!
//! Who may use the writer: while a transaction holds it (from `begin` to its
//! COMMIT/ROLLBACK), autocommit work and other `begin`s wait in `waiting`, in order;
//! when it ends they move to the run queue behind its COMMIT, up to the next
//! `begin`, which takes the writer in turn. Work that waits (behind a transaction,
//! or behind other queued work) is bounded by `acquire_timeout` (a `PoolTimeout`
//! reply) and is withdrawn if its caller goes away first ([`super::job::Slot`]).
//!
//! When the writer is free, the event-loop thread may use the connection itself
//! ([`Writer::claim`]): for reads inside a transaction and short autocommit writes,
//! each under the progress-handler budget, and for COMMIT/ROLLBACK; see `pool.rs`
//! and `transaction.rs`.
//!
//! Checkpoints: SQLite's automatic checkpoint runs inside the commit that crosses
//! 1,000 WAL pages (copying pages back and syncing: milliseconds). Here a WAL hook
//! only notes the size, and the checkpoint (PASSIVE) runs on the writer thread after
//! the reply, so neither a caller nor the event-loop thread waits for it.

use super::errors::map;
use super::job::{closed, deferring, Abandon, Counters, Db, Reply, Slot, Work};
use super::transaction::{Chunk, Transaction};
use crate::error::{Error, Result};
use rusqlite::hooks::Wal;
use rusqlite::InterruptHandle;
use std::cell::Cell;
use std::collections::VecDeque;
use std::ffi::c_int;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

/// What the writer thread runs.
pub(crate) enum Task {
    Run(Work),
    /// The COMMIT or ROLLBACK of the transaction that holds the writer.
    End(Work),
    /// The next rows of an open stream (see `transaction.rs`).
    Fetch {
        stream: u64,
        rows: usize,
        slot: Arc<Slot<Chunk>>,
    },
    CloseStream(u64),
    /// Close the connection and end the thread; replied to once it is closed.
    Stop(Reply<()>),
}

impl Task {
    /// Replies `error` without running.
    fn fail(self, error: Error) {
        match self {
            Task::Run(work) | Task::End(work) => work(Err(error)),
            Task::Fetch { slot, .. } => {
                if let Some(reply) = slot.take() {
                    reply(Err(error));
                }
            }
            Task::CloseStream(_) => {}
            Task::Stop(reply) => reply(Ok(())),
        }
    }
}

enum Waiter {
    Task(Task),
    Begin(u64, Arc<Slot<Transaction>>),
}

#[derive(Default)]
struct State {
    run: VecDeque<Task>,
    waiting: VecDeque<Waiter>,
    /// The transaction holding the writer (0: none).
    owner: u64,
    /// The thread is inside a task.
    busy: bool,
    /// The thread is to stop at its next turn (a forced close).
    stopping: bool,
    /// The thread has ended: nothing runs any more.
    exited: bool,
}

/// Settings of the writer.
#[derive(Debug, Clone)]
pub struct WriterConfig {
    pub acquire_timeout: Duration,
    pub busy_timeout: Duration,
}

pub struct Writer {
    db: Mutex<Option<Db>>,
    state: Mutex<State>,
    wake: Condvar,
    interrupt: InterruptHandle,
    next_id: AtomicU64,
    pub(crate) config: WriterConfig,
    runtime: tokio::runtime::Handle,
    pub(crate) counters: Arc<Counters>,
    /// The timer that forces a close that waits too long.
    close_timer: Mutex<Option<tokio::task::AbortHandle>>,
}

fn relock<T>(r: std::sync::LockResult<MutexGuard<'_, T>>) -> MutexGuard<'_, T> {
    match r {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

impl Writer {
    /// Starts the thread that owns `db`.
    pub fn start(
        db: Db,
        config: WriterConfig,
        runtime: tokio::runtime::Handle,
        counters: Arc<Counters>,
    ) -> Result<Arc<Writer>> {
        // Replaces SQLite's automatic checkpoint, which would run inside a commit.
        db.conn.wal_hook(Some(note_wal_pages));
        let writer = Arc::new(Writer {
            interrupt: db.conn.get_interrupt_handle(),
            db: Mutex::new(Some(db)),
            state: Mutex::new(State::default()),
            wake: Condvar::new(),
            next_id: AtomicU64::new(1),
            config,
            runtime,
            counters,
            close_timer: Mutex::new(None),
        });
        let serving = writer.clone();
        std::thread::Builder::new()
            .name("ormkit-sqlite-writer".into())
            .spawn(move || serving.serve())
            .map_err(|e| Error::operational(format!("could not start the writer thread: {e}")))?;
        Ok(writer)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        relock(self.state.lock())
    }

    // ---- the thread ----------------------------------------------------------

    fn serve(self: Arc<Self>) {
        let mut stops = Vec::new();
        while let Some(task) = self.next_task() {
            if let Task::Stop(reply) = task {
                stops.push(reply);
                break;
            }
            let replies = {
                let guard = relock(self.db.lock());
                let Some(db) = guard.as_ref() else {
                    task.fail(closed());
                    continue;
                };
                deferring(|| {
                    // A panic (a bug) fails this job only: its reply, dropped while
                    // unwinding, tells its caller; the thread goes on.
                    let _ = catch_unwind(AssertUnwindSafe(|| self.perform(db, task)));
                })
            };
            {
                let mut st = self.state();
                if st.run.is_empty() {
                    st.busy = false;
                }
            }
            // The connection is free before the replies go: a caller woken by one
            // may use it at once from its own thread (`claim`).
            for reply in replies {
                reply();
            }
            // After the reply: nobody waits for the checkpoint.
            if wal_is_long() {
                if let Some(db) = relock(self.db.lock()).as_ref() {
                    checkpoint(db);
                }
            }
        }
        // Closing the connection rolls back a transaction left open.
        drop(relock(self.db.lock()).take());
        let (run, waiting) = {
            let mut st = self.state();
            st.exited = true;
            st.busy = false;
            (std::mem::take(&mut st.run), std::mem::take(&mut st.waiting))
        };
        for task in run {
            task.fail(closed());
        }
        for waiter in waiting {
            match waiter {
                Waiter::Task(task) => task.fail(closed()),
                Waiter::Begin(_, slot) => {
                    slot.expire(closed());
                }
            }
        }
        if let Some(timer) = relock(self.close_timer.lock()).take() {
            timer.abort();
        }
        for reply in stops {
            reply(Ok(()));
        }
    }

    /// The next task, waiting for one; None once the thread is to stop.
    pub(crate) fn next_task(&self) -> Option<Task> {
        let mut st = self.state();
        loop {
            if st.stopping {
                return None;
            }
            if let Some(task) = st.run.pop_front() {
                st.busy = true;
                return Some(task);
            }
            st.busy = false;
            st = relock(self.wake.wait(st));
        }
    }

    /// Puts `task` back at the head of the queue (a stream loop handing over).
    pub(crate) fn requeue_front(&self, task: Task) {
        self.state().run.push_front(task);
    }

    /// Runs one task outside any stream.
    pub(crate) fn perform(&self, db: &Db, task: Task) {
        match task {
            Task::Run(work) | Task::End(work) => work(Ok(db)),
            Task::Fetch { slot, .. } => {
                if let Some(reply) = slot.take() {
                    reply(Err(Error::interface("the stream is closed")));
                }
            }
            Task::CloseStream(_) => {}
            Task::Stop(reply) => self.requeue_front(Task::Stop(reply)),
        }
    }

    // ---- queueing ------------------------------------------------------------

    /// Queues `task` for `tx` (0: autocommit work). Returns whether it has to wait
    /// for other work or for a transaction to end.
    pub(crate) fn submit(&self, tx: u64, task: Task) -> Result<bool> {
        let mut st = self.state();
        if st.exited || st.stopping {
            drop(st);
            task.fail(closed());
            return Err(closed());
        }
        if tx == 0 && st.owner != 0 {
            st.waiting.push_back(Waiter::Task(task));
            return Ok(true);
        }
        if tx != 0 && st.owner != tx {
            drop(st);
            let e = Error::interface("the transaction is already finished");
            task.fail(e.clone());
            return Err(e);
        }
        let behind = st.busy || !st.run.is_empty();
        st.run.push_back(task);
        if !st.busy {
            self.wake.notify_one();
        }
        Ok(behind)
    }

    /// Bounds the wait of `slot` by `acquire_timeout`; returns it to withdraw it
    /// when its caller goes away.
    pub(crate) fn waiting<T: Send + 'static>(&self, slot: Arc<Slot<T>>) -> Arc<dyn Abandon> {
        let timeout = self.config.acquire_timeout;
        let counters = self.counters.clone();
        slot.expire_after(&self.runtime, timeout, counters, move || {
            Error::pool_timeout(format!(
                "timed out after {timeout:?} waiting for the SQLite writer connection"
            ))
        });
        slot
    }

    /// Queues a job; returns its slot when it has to wait.
    pub(crate) fn queue<T: Send + 'static>(
        &self,
        tx: u64,
        slot: &Arc<Slot<T>>,
        work: Work,
    ) -> Option<Arc<dyn Abandon>> {
        match self.submit(tx, Task::Run(work)) {
            Ok(true) => Some(self.waiting(slot.clone())),
            // an autocommit write about to run: a caller that gives up interrupts it
            // (see `job::write_job`); a transaction's statement just finishes
            Ok(false) if tx == 0 => Some(slot.clone()),
            _ => None,
        }
    }

    /// To call after work on the caller's thread: a checkpoint due goes to the
    /// writer thread.
    pub(crate) fn after_inline(&self) {
        if wal_is_long() {
            let _ = self.submit(
                0,
                Task::Run(Box::new(|db| {
                    if let Ok(db) = db {
                        checkpoint(db);
                    }
                })),
            );
        }
    }

    /// The connection, for the caller's thread, when `tx` (0: autocommit work)
    /// may use the writer and nothing is queued or running on it.
    pub(crate) fn claim(&self, tx: u64) -> Option<MutexGuard<'_, Option<Db>>> {
        let st = self.state();
        if st.owner != tx || st.busy || !st.run.is_empty() || st.exited || st.stopping {
            return None;
        }
        let guard = self.db.try_lock().ok()?;
        drop(st);
        guard.is_some().then_some(guard)
    }

    // ---- transactions ---------------------------------------------------------

    /// Takes the writer for a new transaction if nobody holds it.
    pub fn try_begin(self: &Arc<Self>) -> Result<Option<Transaction>> {
        let mut st = self.state();
        if st.exited || st.stopping {
            return Err(closed());
        }
        if st.owner != 0 {
            return Ok(None);
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        st.owner = id;
        drop(st);
        self.counters.transactions.fetch_add(1, Ordering::Relaxed);
        Ok(Some(Transaction::new(self.clone(), id)))
    }

    /// Takes the writer for a new transaction, now or once the transactions ahead
    /// ended; replies with it. Returns the slot to withdraw when it has to wait.
    pub fn begin(self: &Arc<Self>, reply: Reply<Transaction>) -> Option<Arc<dyn Abandon>> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let slot = Slot::new(reply);
        let mut st = self.state();
        if st.exited || st.stopping {
            drop(st);
            slot.expire(closed());
            return None;
        }
        if st.owner == 0 {
            st.owner = id;
            drop(st);
            self.grant(&slot, id);
            return None;
        }
        st.waiting.push_back(Waiter::Begin(id, slot.clone()));
        drop(st);
        Some(self.waiting(slot))
    }

    fn grant(self: &Arc<Self>, slot: &Arc<Slot<Transaction>>, id: u64) {
        match slot.take() {
            Some(reply) => {
                self.counters.transactions.fetch_add(1, Ordering::Relaxed);
                reply(Ok(Transaction::new(self.clone(), id)));
            }
            // Withdrawn meanwhile: hand the writer on.
            None => self.end(id, None),
        }
    }

    /// Queues the end of transaction `id` (None: it already ended on the caller's
    /// thread) and hands the writer to the work that waited for it, up to the next
    /// transaction.
    pub(crate) fn end(self: &Arc<Self>, id: u64, task: Option<Task>) {
        let mut grants = Vec::new();
        let mut st = self.state();
        if st.owner != id || st.exited {
            drop(st);
            if let Some(task) = task {
                task.fail(Error::interface("the transaction is already finished"));
            }
            return;
        }
        if let Some(task) = task {
            st.run.push_back(task);
        }
        st.owner = 0;
        while let Some(waiter) = st.waiting.pop_front() {
            match waiter {
                Waiter::Task(task) => st.run.push_back(task),
                Waiter::Begin(next, slot) => {
                    if slot.is_waiting() {
                        st.owner = next;
                        grants.push((next, slot));
                        break;
                    }
                }
            }
        }
        if !st.busy {
            self.wake.notify_one();
        }
        drop(st);
        for (next, slot) in grants {
            self.grant(&slot, next);
        }
    }

    // ---- closing and counters ---------------------------------------------------

    /// Stops the thread once the work queued before (and a transaction holding the
    /// writer) is done, or after `acquire_timeout` at the latest: then the running
    /// statement is interrupted and what still waits fails. Replies once the
    /// connection is closed.
    pub fn close(self: &Arc<Self>, reply: Reply<()>) {
        let mut st = self.state();
        if st.exited {
            drop(st);
            reply(Ok(()));
            return;
        }
        let stop = Task::Stop(reply);
        if st.owner != 0 {
            st.waiting.push_back(Waiter::Task(stop));
        } else {
            st.run.push_back(stop);
            self.wake.notify_one();
        }
        drop(st);
        let writer = self.clone();
        let timeout = self.config.acquire_timeout;
        let timer = self.runtime.spawn(async move {
            tokio::time::sleep(timeout).await;
            writer.force_stop();
        });
        let mut slot = relock(self.close_timer.lock());
        if self.state().exited {
            timer.abort();
        } else {
            *slot = Some(timer.abort_handle());
        }
    }

    /// Stops the thread once the work queued before is done (the pool was dropped
    /// without `close`).
    pub fn shutdown(&self) {
        let mut st = self.state();
        if st.exited || st.stopping {
            return;
        }
        let stop = Task::Stop(Box::new(|_| {}));
        if st.owner != 0 {
            st.waiting.push_back(Waiter::Task(stop));
        } else {
            st.run.push_back(stop);
            self.wake.notify_one();
        }
    }

    fn force_stop(&self) {
        let mut st = self.state();
        if st.exited {
            return;
        }
        st.stopping = true;
        if st.busy {
            self.interrupt.interrupt();
        }
        self.wake.notify_all();
    }

    /// (writer in use, tasks waiting)
    pub fn usage(&self) -> (bool, usize) {
        let st = self.state();
        (
            st.owner != 0 || st.busy || !st.run.is_empty(),
            st.waiting.len() + st.run.len(),
        )
    }
}

/// Pages in the write-ahead log after which it is copied back into the database
/// (SQLite's default for its automatic checkpoint).
const CHECKPOINT_PAGES: c_int = 1000;

thread_local! {
    /// Pages in the WAL after the last commit on this thread (writer connections).
    static WAL_PAGES: Cell<c_int> = const { Cell::new(0) };
}

fn note_wal_pages(_wal: &Wal, pages: c_int) -> rusqlite::Result<()> {
    WAL_PAGES.with(|p| p.set(pages));
    Ok(())
}

/// Whether a commit on this thread left the WAL long enough for a checkpoint.
fn wal_is_long() -> bool {
    WAL_PAGES.with(|p| p.replace(0)) >= CHECKPOINT_PAGES
}

/// A passive checkpoint: never waits for readers; errors are left for the next one.
fn checkpoint(db: &Db) {
    let _ = db
        .conn
        .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
}

/// Runs `sql` as one batch, mapping the error.
pub(crate) fn batch(db: &Db, sql: &str) -> Result<()> {
    db.conn.execute_batch(sql).map_err(map)
}
