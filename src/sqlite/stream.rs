//! Streaming a large result in batches with bounded memory: a dedicated thread
//! steps the statement and hands over one batch at a time through a channel of
//! capacity one, so at most two batches exist at once. Dropping the stream stops
//! the thread at its next batch.

use super::connection::{bind, open};
use super::errors::map;
use super::placeholders::scan;
use super::types::from_sqlite;
use crate::error::{Error, Result};
use crate::value::{Row, Value};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// One batch of a streamed result.
pub struct Batch {
    pub columns: Arc<[String]>,
    pub rows: Vec<Row>,
}

/// The receiving end of a streamed statement.
pub struct Stream {
    rx: mpsc::Receiver<Result<Batch>>,
}

impl Stream {
    /// The next batch; `None` once every row was delivered.
    pub async fn next(&mut self) -> Option<Result<Batch>> {
        self.rx.recv().await
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
    let (tx, rx) = mpsc::channel(1);
    let batch_size = batch_size.max(1);
    std::thread::Builder::new()
        .name("ormkit-sqlite-stream".into())
        .spawn(move || {
            if let Err(e) = produce(&path, uri, busy_timeout, &sql, &params, batch_size, &tx) {
                let _ = tx.blocking_send(Err(e));
            }
        })
        .map_err(|e| Error::operational(format!("could not start a stream thread: {e}")))?;
    Ok(Stream { rx })
}

fn produce(
    path: &str,
    uri: bool,
    busy_timeout: Duration,
    sql: &str,
    params: &[Value],
    batch_size: usize,
    tx: &mpsc::Sender<Result<Batch>>,
) -> Result<()> {
    let conn = open(path, uri, busy_timeout, false)?;
    let scanned = scan(sql);
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
    let mut cursor = stmt.raw_query();
    loop {
        let mut rows = Vec::with_capacity(batch_size);
        while rows.len() < batch_size {
            let Some(row) = cursor.next().map_err(map)? else {
                break;
            };
            let mut out = Row::with_capacity(ncols);
            for i in 0..ncols {
                out.push(from_sqlite(row.get_ref(i).map_err(map)?));
            }
            rows.push(out);
        }
        let last = rows.len() < batch_size;
        if !rows.is_empty() {
            let batch = Batch {
                columns: columns.clone(),
                rows,
            };
            if tx.blocking_send(Ok(batch)).is_err() {
                return Ok(());
            }
        }
        if last {
            return Ok(());
        }
    }
}
