//! Work handed to a SQLite connection thread, and the one-shot reply it owes.
//!
//! A job's reply sits in a [`Slot`]. Whoever takes it first decides the job's fate:
//! the connection thread (the job runs, then replies), a caller that gave up
//! (cancelled: the job never runs), or a timer (it replies `PoolTimeout`, and the
//! job never runs). So a job that was still waiting when its caller went away is
//! skipped. An autocommit write already taken by the writer thread ([`write_job`]) is
//! interrupted (SQLite undoes the statement): a cancelled write is not committed
//! behind its caller's back. Other jobs finish (a statement of a transaction is undone
//! by the transaction's own rollback).

use super::placeholders::Plans;
use crate::error::{Error, Result};
use rusqlite::Connection;
use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// A connection as the threads hold it.
pub struct Db {
    pub conn: Connection,
    pub plans: Arc<Plans>,
    /// The transaction whose BEGIN ran on this connection (0: none); writer only.
    pub(crate) begun: Cell<u64>,
}

impl Db {
    pub fn new(conn: Connection, plans: Arc<Plans>) -> Db {
        Db {
            conn,
            plans,
            begun: Cell::new(0),
        }
    }
}

/// Counters reported by `engine.stats()`.
#[derive(Debug, Default)]
pub struct Counters {
    pub inline_reads: AtomicU64,
    pub thread_reads: AtomicU64,
    pub inline_writes: AtomicU64,
    pub writes: AtomicU64,
    pub transactions: AtomicU64,
    pub timeouts: AtomicU64,
}

/// Delivers a job's outcome (to the event loop that awaits it).
pub type Reply<T> = Box<dyn FnOnce(Result<T>) + Send>;

/// One job for a connection thread: it receives the connection, or the reason
/// there is none (the engine was closed, the connection could not be opened),
/// and must reply either way.
pub type Work = Box<dyn FnOnce(Result<&Db, Error>) + Send>;

/// The error of work that finds the engine closed.
pub fn closed() -> Error {
    Error::interface("the engine is closed")
}

/// Giving up on a job that has not started yet.
pub trait Abandon: Send + Sync {
    /// The caller went away: the job will not run. False if it already started.
    fn cancel(&self) -> bool;
    /// The job waited too long: it replies `error` instead of running.
    fn expire(&self, error: Error) -> bool;
}

struct SlotInner<T> {
    reply: Option<Reply<T>>,
    timer: Option<tokio::task::AbortHandle>,
}

/// The reply of one job, taken exactly once.
pub struct Slot<T> {
    inner: Mutex<SlotInner<T>>,
    /// Set when the caller gave up, also after the job started (see [`write_job`]).
    cancelled: AtomicBool,
}

impl<T> Slot<T> {
    pub fn new(reply: Reply<T>) -> Arc<Slot<T>> {
        Arc::new(Slot {
            inner: Mutex::new(SlotInner {
                reply: Some(reply),
                timer: None,
            }),
            cancelled: AtomicBool::new(false),
        })
    }

    fn lock(&self) -> MutexGuard<'_, SlotInner<T>> {
        match self.inner.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Takes the reply to run the job; None if the job was abandoned.
    pub fn take(&self) -> Option<Reply<T>> {
        let mut inner = self.lock();
        if let Some(timer) = inner.timer.take() {
            timer.abort();
        }
        inner.reply.take()
    }

    /// Takes the reply to answer it without running the job (its timer, if
    /// any, is the caller or no longer needed).
    fn take_expired(&self) -> Option<Reply<T>> {
        let mut inner = self.lock();
        inner.timer = None;
        inner.reply.take()
    }

    /// Whether nobody took the reply yet.
    pub fn is_waiting(&self) -> bool {
        self.lock().reply.is_some()
    }
}

impl<T: Send + 'static> Slot<T> {
    /// Replies `error` after `after` unless the job started (or was abandoned)
    /// first, and counts the timeout.
    pub fn expire_after(
        self: &Arc<Self>,
        runtime: &tokio::runtime::Handle,
        after: Duration,
        counters: Arc<Counters>,
        error: impl FnOnce() -> Error + Send + 'static,
    ) {
        let slot = self.clone();
        let task = runtime.spawn(async move {
            tokio::time::sleep(after).await;
            // Counted before the reply is sent, so a caller woken by the
            // timeout already sees it in `engine.stats()`.
            if let Some(reply) = slot.take_expired() {
                counters.timeouts.fetch_add(1, Ordering::Relaxed);
                reply(Err(error()));
            }
        });
        let mut inner = self.lock();
        if inner.reply.is_some() {
            inner.timer = Some(task.abort_handle());
        } else {
            task.abort();
        }
    }
}

impl<T: Send> Abandon for Slot<T> {
    fn cancel(&self) -> bool {
        self.cancelled.store(true, Ordering::Relaxed);
        let reply = self.take();
        reply.is_some()
    }

    fn expire(&self, error: Error) -> bool {
        match self.take_expired() {
            Some(reply) => {
                reply(Err(error));
                true
            }
            None => false,
        }
    }
}

/// A job that runs `work` on the connection and replies with its outcome,
/// unless it was abandoned before its turn.
pub fn job<T, W>(slot: &Arc<Slot<T>>, work: W) -> Work
where
    T: Send + 'static,
    W: FnOnce(&Db) -> Result<T> + Send + 'static,
{
    make_job(slot, work, false)
}

/// [`job`] for an autocommit write on the writer thread: once its caller gives up it
/// is interrupted, also while it runs (see [`interruptible`]).
pub fn write_job<T, W>(slot: &Arc<Slot<T>>, work: W) -> Work
where
    T: Send + 'static,
    W: FnOnce(&Db) -> Result<T> + Send + 'static,
{
    make_job(slot, work, true)
}

fn make_job<T, W>(slot: &Arc<Slot<T>>, work: W, interrupt: bool) -> Work
where
    T: Send + 'static,
    W: FnOnce(&Db) -> Result<T> + Send + 'static,
{
    let slot = slot.clone();
    Box::new(move |db| {
        if let Some(reply) = slot.take() {
            let out = db.and_then(|db| {
                if interrupt {
                    interruptible(db, &slot, work)
                } else {
                    work(db)
                }
            });
            deliver(Box::new(move || reply(out)));
        }
    })
}

/// Runs `work` on `db`; in autocommit mode (not inside a transaction someone opened by
/// hand), SQLite interrupts it (and undoes what it did) once `cancelled` is set.
/// Checked every 1,000 virtual-machine steps.
fn interruptible<T: Send + 'static, R>(
    db: &Db,
    slot: &Arc<Slot<T>>,
    work: impl FnOnce(&Db) -> Result<R>,
) -> Result<R> {
    if !db.conn.is_autocommit() {
        return work(db);
    }
    let slot = slot.clone();
    if db
        .conn
        .progress_handler(1000, Some(move || slot.cancelled.load(Ordering::Relaxed)))
        .is_err()
    {
        return work(db);
    }
    let out = work(db);
    let _ = db.conn.progress_handler(0, None::<fn() -> bool>);
    out
}

/// Replies `out` now, or after the current [`deferring`] scope when called on a
/// connection thread (so the caller never sees the thread still busy).
pub fn reply_deferred<T: Send + 'static>(reply: Reply<T>, out: Result<T>) {
    deliver(Box::new(move || reply(out)));
}

/// A reply ready to be sent.
pub type Sending = Box<dyn FnOnce()>;

thread_local! {
    /// Replies held back until the thread has marked itself idle (see [`deferring`]).
    static DEFERRED: RefCell<Option<Vec<Sending>>> = const { RefCell::new(None) };
}

/// Sends a job's reply now, or after the current [`deferring`] scope.
fn deliver(reply: Sending) {
    let reply = DEFERRED.with(|d| match d.borrow_mut().as_mut() {
        Some(held) => {
            held.push(reply);
            None
        }
        None => Some(reply),
    });
    if let Some(reply) = reply {
        reply();
    }
}

/// Runs `f` holding back the replies of the jobs it runs; returns them, to send
/// once the thread's state says it is done (so a caller woken by its reply never
/// sees the connection still busy with its own job).
pub fn deferring(f: impl FnOnce()) -> Vec<Sending> {
    let outer = DEFERRED.with(|d| d.borrow_mut().replace(Vec::new()));
    f();
    DEFERRED
        .with(|d| std::mem::replace(&mut *d.borrow_mut(), outer))
        .unwrap_or_default()
}

/// Sends the replies held back so far in the current [`deferring`] scope.
pub fn flush_deferred() {
    let held = DEFERRED.with(|d| d.borrow_mut().as_mut().map(std::mem::take));
    for reply in held.into_iter().flatten() {
        reply();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    fn counting() -> (Arc<AtomicUsize>, Reply<i32>) {
        let n = Arc::new(AtomicUsize::new(0));
        let m = n.clone();
        (
            n,
            Box::new(move |_| {
                m.fetch_add(1, Ordering::SeqCst);
            }),
        )
    }

    #[test]
    fn a_cancelled_job_never_runs() {
        let (replies, reply) = counting();
        let slot = Slot::new(reply);
        let ran = Arc::new(AtomicUsize::new(0));
        let r = ran.clone();
        let work = job(&slot, move |_| {
            r.fetch_add(1, Ordering::SeqCst);
            Ok(1)
        });
        assert!(slot.cancel());
        let db = Db::new(
            Connection::open_in_memory().expect("open"),
            Arc::new(Plans::default()),
        );
        work(Ok(&db));
        assert_eq!(ran.load(Ordering::SeqCst), 0);
        assert_eq!(replies.load(Ordering::SeqCst), 0);
        assert!(!slot.cancel());
    }

    #[test]
    fn a_started_job_cannot_be_cancelled_or_expired() {
        let (replies, reply) = counting();
        let slot = Slot::new(reply);
        let taken = slot.take().expect("waiting");
        assert!(!slot.cancel());
        assert!(!slot.expire(Error::pool_timeout("late")));
        taken(Ok(1));
        assert_eq!(replies.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn an_expired_job_replies_once() {
        let (replies, reply) = counting();
        let slot = Slot::new(reply);
        assert!(slot.expire(Error::pool_timeout("waited")));
        assert!(slot.take().is_none());
        assert_eq!(replies.load(Ordering::SeqCst), 1);
    }
}
