//! Reader threads: reads too long for the event-loop thread run here, each thread
//! with its own connection, all taking jobs from one FIFO queue. Threads start on
//! demand, up to a maximum; a job that finds them all busy waits in the queue,
//! bounded by `acquire_timeout`. A thread replies straight to the waiting event
//! loop (one crossing there, one back).

use super::job::{closed, Abandon, Counters, Db, Slot, Work};
use crate::error::{Error, Result};
use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

#[derive(Default)]
struct State {
    run: VecDeque<Work>,
    /// Threads started and not ended.
    threads: usize,
    /// Threads waiting for a job.
    idle: usize,
    closed: bool,
}

type Opener = Box<dyn Fn() -> Result<Db> + Send + Sync>;

pub struct Readers {
    state: Mutex<State>,
    wake: Condvar,
    open: Opener,
    max: usize,
    acquire_timeout: Duration,
    runtime: tokio::runtime::Handle,
    counters: Arc<Counters>,
}

impl Readers {
    pub fn new(
        open: Opener,
        max: usize,
        acquire_timeout: Duration,
        runtime: tokio::runtime::Handle,
        counters: Arc<Counters>,
    ) -> Arc<Readers> {
        Arc::new(Readers {
            state: Mutex::new(State::default()),
            wake: Condvar::new(),
            open,
            max: max.max(1),
            acquire_timeout,
            runtime,
            counters,
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        match self.state.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Queues a read whose reply sits in `slot`; returns the slot when the read has
    /// to wait for a thread (to withdraw it if the caller goes away).
    pub fn submit<T: Send + 'static>(
        self: &Arc<Self>,
        slot: &Arc<Slot<T>>,
        work: Work,
    ) -> Option<Arc<dyn Abandon>> {
        let mut st = self.state();
        if st.closed {
            drop(st);
            work(Err(closed()));
            return None;
        }
        st.run.push_back(work);
        if st.idle >= st.run.len() {
            self.wake.notify_one();
            return None;
        }
        if st.threads < self.max {
            st.threads += 1;
            drop(st);
            let readers = self.clone();
            let started = std::thread::Builder::new()
                .name("ormkit-sqlite-reader".into())
                .spawn(move || readers.serve());
            if let Err(e) = started {
                let mut st = self.state();
                st.threads -= 1;
                let work = st.run.pop_back();
                drop(st);
                if let Some(work) = work {
                    work(Err(Error::operational(format!(
                        "could not start a reader thread: {e}"
                    ))));
                }
            }
            return None;
        }
        drop(st);
        let timeout = self.acquire_timeout;
        let slot = slot.clone();
        slot.expire_after(&self.runtime, timeout, self.counters.clone(), move || {
            Error::pool_timeout(format!(
                "timed out after {timeout:?} waiting for a SQLite reader connection"
            ))
        });
        Some(slot)
    }

    fn serve(self: Arc<Self>) {
        let db = match (self.open)() {
            Ok(db) => db,
            Err(e) => {
                // Fail the job this thread was started for; the next read tries again.
                let mut st = self.state();
                st.threads -= 1;
                let work = st.run.pop_front();
                drop(st);
                if let Some(work) = work {
                    work(Err(e));
                }
                return;
            }
        };
        let mut st = self.state();
        loop {
            if let Some(work) = st.run.pop_front() {
                drop(st);
                // A panic (a bug) fails this read only (its reply, dropped while
                // unwinding, tells its caller).
                let _ = catch_unwind(AssertUnwindSafe(|| work(Ok(&db))));
                st = self.state();
                continue;
            }
            if st.closed {
                st.threads -= 1;
                return;
            }
            st.idle += 1;
            st = match self.wake.wait(st) {
                Ok(g) => g,
                Err(poisoned) => poisoned.into_inner(),
            };
            st.idle -= 1;
        }
    }

    /// Ends the threads (each after its current read); queued reads fail.
    pub fn close(&self) {
        let queued = {
            let mut st = self.state();
            st.closed = true;
            self.wake.notify_all();
            std::mem::take(&mut st.run)
        };
        for work in queued {
            work(Err(closed()));
        }
    }

    /// (threads, idle threads, reads waiting)
    pub fn usage(&self) -> (usize, usize, usize) {
        let st = self.state();
        (st.threads, st.idle, st.run.len())
    }
}
