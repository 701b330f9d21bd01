//! Streaming a large result in batches with bounded memory, outside a transaction:
//! a dedicated thread with its own read connection steps the statement up to two
//! batches ahead of the reader and replies to each fetch straight to the waiting
//! event loop (one thread crossing each way). Dropping the stream stops the thread
//! once its current batch is made.

use super::connection::{bind, open};
use super::errors::map;
use super::job::{Reply, Slot};
use super::placeholders::{scan, BLANK};
use super::types::push_row;
use crate::error::{Error, Result};
use crate::value::rows::Rows;
use crate::value::Value;
use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

/// One batch of a streamed result.
pub struct Batch {
    pub columns: Arc<[String]>,
    pub rows: Rows,
}

/// Batches made ahead of the fetches at most.
const AHEAD: usize = 2;

/// A fetch: replied with the next batch, or `None` once every row was delivered.
/// A fetch withdrawn before its turn takes no batch: the next one gets it.
pub type Fetch = Arc<Slot<Option<Batch>>>;

#[derive(Default)]
struct Requests {
    queue: VecDeque<Fetch>,
    /// The thread has ended: fetches are answered `None` at once.
    ended: bool,
    /// The stream was dropped: the thread may stop.
    dropped: bool,
}

#[derive(Default)]
struct Shared {
    requests: Mutex<Requests>,
    wake: Condvar,
}

impl Shared {
    fn requests(&self) -> MutexGuard<'_, Requests> {
        match self.requests.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// The reply of the next fetch not withdrawn; None once the stream was dropped.
    fn next_live(&self) -> Option<Reply<Option<Batch>>> {
        let mut r = self.requests();
        loop {
            while let Some(fetch) = r.queue.pop_front() {
                if let Some(reply) = fetch.take() {
                    return Some(reply);
                }
            }
            if r.dropped {
                return None;
            }
            r = match self.wake.wait(r) {
                Ok(g) => g,
                Err(poisoned) => poisoned.into_inner(),
            };
        }
    }

    /// The reply of a fetch not withdrawn that is waiting already.
    fn try_next_live(&self) -> Option<Reply<Option<Batch>>> {
        let mut r = self.requests();
        while let Some(fetch) = r.queue.pop_front() {
            if let Some(reply) = fetch.take() {
                return Some(reply);
            }
        }
        None
    }

    /// The thread ends: what is queued, and what comes later, is answered `None`.
    fn end(&self) {
        let queued = {
            let mut r = self.requests();
            r.ended = true;
            std::mem::take(&mut r.queue)
        };
        for fetch in queued {
            if let Some(reply) = fetch.take() {
                reply(Ok(None));
            }
        }
    }
}

/// The reading end of a streamed statement.
pub struct Stream {
    shared: Arc<Shared>,
}

impl Stream {
    /// Asks for the next batch (replied `None` once every row was delivered).
    pub fn fetch(&self, fetch: Fetch) {
        let mut r = self.shared.requests();
        if r.ended {
            drop(r);
            if let Some(reply) = fetch.take() {
                reply(Ok(None));
            }
            return;
        }
        r.queue.push_back(fetch);
        self.shared.wake.notify_one();
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        self.shared.requests().dropped = true;
        self.shared.wake.notify_one();
    }
}

/// Starts streaming `sql` on a new read connection to `path`.
pub fn start(
    path: String,
    uri: bool,
    busy_timeout: Duration,
    sql: String,
    params: Vec<Value>,
    batch_size: usize,
) -> Result<Stream> {
    let shared = Arc::new(Shared::default());
    let serving = shared.clone();
    let batch_size = batch_size.max(1);
    std::thread::Builder::new()
        .name("ormkit-sqlite-stream".into())
        .spawn(move || {
            let made = catch_unwind(AssertUnwindSafe(|| {
                produce(
                    &path,
                    uri,
                    busy_timeout,
                    &sql,
                    &params,
                    batch_size,
                    &serving,
                )
            }))
            .unwrap_or_else(|_| Err(Error::internal("the stream thread failed")));
            if let Err(e) = made {
                if let Some(reply) = serving.next_live() {
                    reply(Err(e));
                }
            }
            serving.end();
        })
        .map_err(|e| Error::operational(format!("could not start a stream thread: {e}")))?;
    Ok(Stream { shared })
}

fn produce(
    path: &str,
    uri: bool,
    busy_timeout: Duration,
    sql: &str,
    params: &[Value],
    batch_size: usize,
    requests: &Shared,
) -> Result<()> {
    let conn = open(path, uri, busy_timeout, false)?;
    let scanned = scan(sql);
    if scanned.blank {
        return Err(Error::programming(BLANK));
    }
    let mut stmt = conn
        .prepare(scanned.rewritten.as_deref().unwrap_or(sql))
        .map_err(map)?;
    if !stmt.readonly() {
        return Err(Error::programming("stream() takes a read-only statement"));
    }
    bind(&mut stmt, params, scanned.positional)?;
    let ncols = stmt.column_count();
    let columns: Arc<[String]> = stmt
        .column_names()
        .iter()
        .map(|s| (*s).to_owned())
        .collect::<Vec<_>>()
        .into();
    // Up to AHEAD batches are made before anyone asks, so a short result is read to
    // the end (and the statement finished, its read lock released) while the
    // caller works on the first batch.
    let mut ready: VecDeque<Batch> = VecDeque::new();
    {
        let mut cursor = stmt.raw_query();
        loop {
            let mut rows = Rows::new(ncols);
            while rows.len() < batch_size {
                let Some(row) = cursor.next().map_err(map)? else {
                    break;
                };
                push_row(&mut rows, row, ncols)?;
            }
            let last = rows.len() < batch_size;
            if !rows.is_empty() {
                ready.push_back(Batch {
                    columns: columns.clone(),
                    rows,
                });
            }
            if last {
                break;
            }
            // Hand over what is asked for already, then wait while AHEAD are made.
            while !ready.is_empty() {
                let Some(reply) = requests.try_next_live() else {
                    break;
                };
                reply(Ok(ready.pop_front()));
            }
            while ready.len() >= AHEAD {
                let Some(reply) = requests.next_live() else {
                    return Ok(());
                };
                reply(Ok(ready.pop_front()));
            }
        }
    }
    drop(stmt);
    drop(conn);
    for batch in ready {
        let Some(reply) = requests.next_live() else {
            return Ok(());
        };
        reply(Ok(Some(batch)));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sqlite::job::Abandon;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn counting(n: &Arc<AtomicUsize>) -> Fetch {
        let n = n.clone();
        Slot::new(Box::new(move |_| {
            n.fetch_add(1, Ordering::SeqCst);
        }))
    }

    #[test]
    fn a_withdrawn_fetch_takes_no_batch() {
        let shared = Shared::default();
        let (withdrawn, live) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let a = counting(&withdrawn);
        shared.requests().queue.push_back(a.clone());
        shared.requests().queue.push_back(counting(&live));
        assert!(a.cancel());
        let reply = shared.next_live().expect("a live fetch");
        reply(Ok(None));
        assert_eq!(withdrawn.load(Ordering::SeqCst), 0);
        assert_eq!(live.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn fetches_after_the_end_are_answered() {
        let dir = std::env::temp_dir().join(format!("ormkit-stream-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("s.db").to_string_lossy().into_owned();
        let conn = open(&path, false, Duration::from_millis(100), false).expect("open");
        conn.execute_batch("CREATE TABLE IF NOT EXISTS t (v INTEGER); DELETE FROM t; INSERT INTO t VALUES (1), (2), (3)")
            .expect("fill");
        let stream = start(
            path,
            false,
            Duration::from_millis(100),
            "SELECT v FROM t".into(),
            vec![],
            2,
        )
        .expect("start");
        let (tx, rx) = std::sync::mpsc::channel();
        for _ in 0..5 {
            let tx = tx.clone();
            stream.fetch(Slot::new(Box::new(move |r: Result<Option<Batch>>| {
                let _ = tx.send(r.map(|b| b.map_or(0, |b| b.rows.len())));
            })));
        }
        let sizes: Vec<usize> = (0..5)
            .map(|_| {
                rx.recv_timeout(Duration::from_secs(5))
                    .expect("answered")
                    .expect("ok")
            })
            .collect();
        assert_eq!(sizes, vec![2, 1, 0, 0, 0]);
    }
}
