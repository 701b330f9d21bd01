//! The pieces of one statement's trip through the extended protocol: what
//! is in flight (one [`Step`] per expected ReadyForQuery), how Bind/Execute
//! are written for a prepared statement, and how rows are decoded.

use std::sync::Arc;

use smallvec::SmallVec;

use crate::error::{Error, Result};
use crate::value::rows::Rows;
use crate::value::Value;

use super::protocol::backend::FieldDescription;
use super::protocol::frontend::{self, MAX_PARAMS};
use super::protocol::MAX_MESSAGE_LEN;
use super::statement_cache::{Column, Statement};
use super::types;
pub use super::types::Decoder;

/// The result of one statement.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryOutput {
    pub columns: Arc<[String]>,
    pub rows: Rows,
    /// From the CommandComplete tag (`UPDATE 3` → 3); -1 when it has no count.
    pub rowcount: i64,
    /// Whether the statement came from the statement cache.
    pub cache_hit: bool,
    /// A portal returned its row limit and has more rows (PortalSuspended).
    pub suspended: bool,
}

/// What to send once a statement is prepared (kept for a transparent retry).
#[derive(Debug, Clone, PartialEq)]
pub enum Run {
    /// Bind + Execute of the unnamed portal, all rows, then Sync.
    Once(Vec<Value>),
    /// Bind + Execute for every parameter set, then one Sync: one write and
    /// one round trip for the whole batch.
    Batch(Vec<Vec<Value>>),
    /// Bind to a named portal and Execute at most `max_rows` rows, then Sync.
    /// Inside a transaction the portal outlives the Sync.
    Portal {
        params: Vec<Value>,
        portal: String,
        max_rows: i32,
    },
    /// Execute an open portal again for at most `max_rows` more rows, then Sync.
    Fetch { portal: String, max_rows: i32 },
}

impl Run {
    /// The rows-affected count is the sum over a batch's statements.
    fn sums_rowcounts(&self) -> bool {
        matches!(self, Run::Batch(_))
    }
}

/// A statement waiting for its Parse/Describe answers.
#[derive(Debug)]
pub struct Prepare {
    pub sql: String,
    pub run: Run,
    pub name: String,
    pub param_types: Option<Vec<u32>>,
    pub columns: Option<Vec<Column>>,
    pub error: Option<Error>,
    /// This is the transparent retry after a stale cached statement.
    pub retried: bool,
}

/// A statement whose Bind/Execute were sent.
#[derive(Debug)]
pub struct Execute {
    pub sql: String,
    /// Kept for a transparent retry when the cached statement went stale.
    pub run: Run,
    pub statement: Arc<Statement>,
    pub cache_hit: bool,
    pub retried: bool,
    /// How each result column is decoded.
    pub decoders: Vec<Decoder>,
    pub rows: Rows,
    pub rowcount: i64,
    pub error: Option<Error>,
    /// The server said the cached plan is stale (0A000 / 26000).
    pub stale: bool,
    /// The portal stopped at its row limit (PortalSuspended).
    pub suspended: bool,
}

impl Execute {
    /// A step for `run` of `statement`, before any answer arrived.
    pub fn new(sql: String, run: Run, statement: Arc<Statement>, cache_hit: bool) -> Execute {
        let decoders = statement
            .columns
            .iter()
            .map(|c| Decoder::new(c.type_oid, c.format))
            .collect::<Vec<_>>();
        Execute {
            sql,
            run,
            rows: Rows::new(decoders.len()),
            decoders,
            statement,
            cache_hit,
            retried: false,
            rowcount: -1,
            error: None,
            stale: false,
            suspended: false,
        }
    }

    /// Records a CommandComplete tag.
    pub fn complete(&mut self, tag: &str) {
        let n = rowcount(tag);
        self.rowcount = if self.run.sums_rowcounts() {
            self.rowcount.max(0) + n.max(0)
        } else {
            n
        };
    }
}

/// A simple-protocol Query; the last result set wins.
#[derive(Debug, Default)]
pub struct Simple {
    pub columns: Option<Arc<[String]>>,
    /// How each column of the current result set is decoded (all text format).
    pub decoders: Vec<Decoder>,
    pub rows: Rows,
    pub rowcount: i64,
    pub error: Option<Error>,
    /// Inside a COPY we refused: CopyData is skipped until CopyDone.
    pub in_copy_out: bool,
}

/// What is in flight: each step ends with one ReadyForQuery.
#[derive(Debug)]
pub enum Step {
    /// The `BEGIN` sent in the same write as a transaction's first statement.
    Begin {
        error: Option<Error>,
    },
    Prepare(Prepare),
    Execute(Execute),
    Simple(Simple),
}

impl Step {
    /// Records a server or decoding error; the first one wins.
    pub fn set_error(&mut self, e: Error) {
        let slot = match self {
            Step::Begin { error } => error,
            Step::Prepare(p) => &mut p.error,
            Step::Execute(x) => &mut x.error,
            Step::Simple(s) => &mut s.error,
        };
        if slot.is_none() {
            *slot = Some(e);
        }
    }

    /// Whether the step answers a user's call (BEGIN does not).
    pub fn is_user_query(&self) -> bool {
        !matches!(self, Step::Begin { .. })
    }
}

/// The affected-row count of a CommandComplete tag.
pub fn rowcount(tag: &str) -> i64 {
    let mut words = tag.split(' ');
    match words.next() {
        Some("INSERT" | "UPDATE" | "DELETE" | "SELECT" | "MOVE" | "FETCH" | "COPY" | "MERGE") => {
            words.next_back().and_then(|n| n.parse().ok()).unwrap_or(-1)
        }
        _ => -1,
    }
}

/// Columns of a RowDescription, each with the format we will request.
pub fn columns_of(fields: &[FieldDescription<'_>]) -> Vec<Column> {
    fields
        .iter()
        .map(|f| Column {
            name: f.name.to_owned(),
            type_oid: f.type_oid,
            format: types::result_format(f.type_oid),
        })
        .collect()
}

/// Decodes the complete DataRow frames at the front of `buf` into `rows`, in one pass
/// over each frame (its layout is checked as it is decoded); returns the bytes used.
/// It stops at anything else — another message, a partial frame, a length the frame
/// decoder refuses — for [`backend::decode`] to handle or report.
///
/// A broken row layout or a column count that differs from the decoders' is an error
/// (a protocol violation: the connection cannot go on). A value that does not decode
/// leaves its row out and is kept in `error` unless one is there already (the
/// statement fails, the connection is fine); once `error` is set, rows are checked but
/// no longer decoded.
///
/// [`backend::decode`]: super::protocol::backend::decode
pub fn decode_data_rows(
    buf: &[u8],
    decoders: &[Decoder],
    rows: &mut Rows,
    error: &mut Option<Error>,
) -> Result<usize> {
    let mut pos = 0;
    while let Some(&[b'D', a, b, c, d]) = buf.get(pos..pos + 5) {
        let len = i32::from_be_bytes([a, b, c, d]);
        let Some(len) = usize::try_from(len)
            .ok()
            .filter(|&n| (4..=MAX_MESSAGE_LEN).contains(&n))
        else {
            break;
        };
        let Some(body) = buf.get(pos + 5..pos + 1 + len) else {
            break;
        };
        decode_data_row(body, decoders, rows, error)?;
        pos += 1 + len;
    }
    Ok(pos)
}

fn violation(what: String) -> Error {
    Error::interface(format!("protocol violation: {what}"))
}

fn take<'a>(rest: &mut &'a [u8], n: usize) -> Result<&'a [u8]> {
    let (head, tail) = rest
        .split_at_checked(n)
        .ok_or_else(|| violation("truncated DataRow".into()))?;
    *rest = tail;
    Ok(head)
}

/// One DataRow body; see [`decode_data_rows`].
fn decode_data_row(
    body: &[u8],
    decoders: &[Decoder],
    rows: &mut Rows,
    error: &mut Option<Error>,
) -> Result<()> {
    let mut rest = body;
    let count = take(&mut rest, 2)?;
    let count = i16::from_be_bytes([count[0], count[1]]);
    let count =
        usize::try_from(count).map_err(|_| violation("negative count in DataRow".into()))?;
    if count != decoders.len() {
        return Err(violation(format!(
            "DataRow has {count} columns, RowDescription {}",
            decoders.len()
        )));
    }
    let mark = rows.mark();
    let mut decoding = error.is_none();
    for decoder in decoders {
        let len = take(&mut rest, 4)?;
        let len = i32::from_be_bytes([len[0], len[1], len[2], len[3]]);
        let raw = match len {
            -1 => None,
            n if n < -1 => {
                rows.truncate(mark);
                return Err(violation(format!("column length {n} in DataRow")));
            }
            n => match take(&mut rest, n as usize) {
                Ok(raw) => Some(raw),
                Err(e) => {
                    rows.truncate(mark);
                    return Err(e);
                }
            },
        };
        if decoding {
            if let Err(e) = decoder.decode_into(raw, rows) {
                rows.truncate(mark);
                *error = Some(e);
                decoding = false;
            }
        }
    }
    if !rest.is_empty() {
        rows.truncate(mark);
        return Err(violation("trailing bytes in DataRow".into()));
    }
    if decoding {
        rows.end_row();
    }
    Ok(())
}

/// Checks the parameter count before anything is sent.
pub fn check_param_count(n: usize) -> Result<()> {
    if n > MAX_PARAMS {
        return Err(Error::data(format!(
            "too many parameters: {n} (PostgreSQL allows at most {MAX_PARAMS})"
        )));
    }
    Ok(())
}

/// Checks parameter values that no type could accept (NUL in text).
pub fn precheck_params(params: &[Value]) -> Result<()> {
    check_param_count(params.len())?;
    for (i, p) in params.iter().enumerate() {
        if let Value::Text(s) = p {
            if s.contains('\0') {
                return Err(Error::data(format!(
                    "parameter ${} contains a NUL character, which PostgreSQL cannot store",
                    i + 1
                )));
            }
        }
    }
    Ok(())
}

/// The result format codes for Bind: none (all text), one (all binary) or one per column.
pub fn result_formats(columns: &[Column]) -> Vec<i16> {
    if columns.iter().all(|c| c.format == types::FORMAT_TEXT) {
        Vec::new()
    } else if columns.iter().all(|c| c.format == types::FORMAT_BINARY) {
        vec![types::FORMAT_BINARY]
    } else {
        columns.iter().map(|c| c.format).collect()
    }
}

/// Appends Bind + Execute + Sync for `statement` with `params`. On error
/// (a value the inferred type cannot take) the buffer is left unchanged.
pub fn write_execute(buf: &mut Vec<u8>, statement: &Statement, params: &[Value]) -> Result<()> {
    write_bind_execute(buf, statement, params, "", 0)?;
    frontend::sync(buf);
    Ok(())
}

/// Appends the messages of `run` for `statement`, ending with one Sync. On
/// error nothing is appended (the buffer is truncated back).
pub fn write_run(buf: &mut Vec<u8>, statement: &Statement, run: &Run) -> Result<()> {
    let start = buf.len();
    let written = match run {
        Run::Once(params) => write_bind_execute(buf, statement, params, "", 0),
        Run::Batch(sets) => sets.iter().enumerate().try_for_each(|(i, params)| {
            write_bind_execute(buf, statement, params, "", 0).map_err(|e| Error {
                message: format!("parameter set {}: {}", i + 1, e.message),
                ..e
            })
        }),
        Run::Portal {
            params,
            portal,
            max_rows,
        } => write_bind_execute(buf, statement, params, portal, *max_rows),
        Run::Fetch { portal, max_rows } => frontend::execute(buf, portal, *max_rows),
    };
    if let Err(e) = written {
        buf.truncate(start);
        return Err(e);
    }
    frontend::sync(buf);
    Ok(())
}

/// Appends Bind (into `portal`) + Execute (at most `max_rows`, 0 = all) for
/// `statement` with `params`, without Sync. On error the buffer is left unchanged.
fn write_bind_execute(
    buf: &mut Vec<u8>,
    statement: &Statement,
    params: &[Value],
    portal: &str,
    max_rows: i32,
) -> Result<()> {
    let types = &statement.param_types;
    if params.len() != types.len() {
        // 08P01: what the server answers to a Bind with the wrong count (never sent)
        return Err(Error::parameter_count(types.len(), params.len()).with_sqlstate("08P01"));
    }
    let formats: SmallVec<[i16; 16]> = params
        .iter()
        .zip(types)
        .map(|(v, &oid)| types::param_format(v, oid))
        .collect();
    let formats: &[i16] = if formats.iter().all(|&f| f == types::FORMAT_BINARY) {
        &[types::FORMAT_BINARY][..formats.len().min(1)]
    } else {
        &formats
    };
    let start = buf.len();
    let result_formats = result_formats(&statement.columns);
    let written = frontend::bind(
        buf,
        portal,
        &statement.name,
        formats,
        params.len(),
        |i, b| {
            types::encode_param(&params[i], types[i], b).map_err(|e| Error {
                message: format!("parameter ${}: {}", i + 1, e.message),
                ..e
            })
        },
        &result_formats,
    )
    .and_then(|()| frontend::execute(buf, portal, max_rows));
    if let Err(e) = written {
        buf.truncate(start);
        return Err(e);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pg::types::oid;

    #[test]
    fn rowcounts() {
        assert_eq!(rowcount("INSERT 0 5"), 5);
        assert_eq!(rowcount("UPDATE 3"), 3);
        assert_eq!(rowcount("DELETE 0"), 0);
        assert_eq!(rowcount("SELECT 12"), 12);
        assert_eq!(rowcount("MERGE 2"), 2);
        assert_eq!(rowcount("CREATE TABLE"), -1);
        assert_eq!(rowcount("BEGIN"), -1);
        assert_eq!(rowcount(""), -1);
    }

    fn statement(types: Vec<u32>, columns: Vec<(u32, i16)>) -> Statement {
        Statement::new(
            "ok_1".into(),
            types,
            columns
                .into_iter()
                .map(|(t, f)| Column {
                    name: "c".into(),
                    type_oid: t,
                    format: f,
                })
                .collect(),
        )
    }

    #[test]
    fn execute_messages() {
        let s = statement(vec![oid::INT4], vec![(oid::INT4, 1)]);
        let mut buf = Vec::new();
        write_execute(&mut buf, &s, &[Value::Int(7)]).unwrap();
        assert_eq!(buf[0], b'B');
        assert!(buf.ends_with(b"E\0\0\0\x09\0\0\0\0\0S\0\0\0\x04"));
    }

    #[test]
    fn encode_errors_leave_buffer_alone() {
        let s = statement(vec![oid::INT2], vec![]);
        let mut buf = b"prefix".to_vec();
        let e = write_execute(&mut buf, &s, &[Value::Int(70000)]).unwrap_err();
        assert_eq!(e.kind, crate::error::ErrorKind::Data);
        assert_eq!(
            e.message,
            "parameter $1: value 70000 out of range for smallint"
        );
        assert_eq!(buf, b"prefix");
        let e = write_execute(&mut buf, &s, &[]).unwrap_err();
        assert_eq!(e.kind, crate::error::ErrorKind::Programming);
    }

    #[test]
    fn prechecks() {
        assert!(precheck_params(&vec![Value::Null; 65_535]).is_ok());
        let e = precheck_params(&vec![Value::Null; 65_536]).unwrap_err();
        assert_eq!(e.kind, crate::error::ErrorKind::Data);
        assert!(e.message.contains("65536"));
        let e = precheck_params(&[Value::Int(1), Value::Text("a\0".into())]).unwrap_err();
        assert!(e.message.contains("$2"));
    }

    #[test]
    fn result_format_codes() {
        let col = |f| Column {
            name: String::new(),
            type_oid: 0,
            format: f,
        };
        assert!(result_formats(&[]).is_empty());
        assert!(result_formats(&[col(0), col(0)]).is_empty());
        assert_eq!(result_formats(&[col(1), col(1)]), vec![1]);
        assert_eq!(result_formats(&[col(1), col(0)]), vec![1, 0]);
    }

    fn data_row(columns: &[Option<&[u8]>]) -> Vec<u8> {
        let mut body = (columns.len() as i16).to_be_bytes().to_vec();
        for c in columns {
            match c {
                None => body.extend_from_slice(&(-1i32).to_be_bytes()),
                Some(v) => {
                    body.extend_from_slice(&(v.len() as i32).to_be_bytes());
                    body.extend_from_slice(v);
                }
            }
        }
        let mut frame = vec![b'D'];
        frame.extend_from_slice(&(body.len() as i32 + 4).to_be_bytes());
        frame.extend_from_slice(&body);
        frame
    }

    #[test]
    fn rows_decode_by_column() {
        let decoders = [Decoder::new(oid::INT4, 1), Decoder::new(oid::TEXT, 1)];
        let mut buf = data_row(&[Some(&42i32.to_be_bytes()), None]);
        buf.extend(data_row(&[Some(&7i32.to_be_bytes()), Some("é".as_bytes())]));
        let whole = buf.len();
        buf.extend(b"C\0\0\0\x0dSELECT 2\0");
        let (mut rows, mut error) = (Rows::new(2), None);
        let n = decode_data_rows(&buf, &decoders, &mut rows, &mut error).unwrap();
        assert_eq!(n, whole, "stops at the next message");
        assert!(error.is_none());
        assert_eq!(
            rows.to_vec(),
            vec![
                smallvec::smallvec![Value::Int(42), Value::Null] as crate::value::Row,
                smallvec::smallvec![Value::Int(7), Value::Text("é".into())],
            ]
        );
        // A partial frame waits for more bytes.
        let n = decode_data_rows(&buf[..whole - 1], &decoders, &mut rows, &mut error).unwrap();
        assert_eq!(
            n,
            whole - data_row(&[Some(&7i32.to_be_bytes()), Some("é".as_bytes())]).len()
        );
    }

    #[test]
    fn bad_values_fail_the_statement_not_the_connection() {
        let decoders = [Decoder::new(oid::INT4, 1), Decoder::new(oid::INT8, 1)];
        let mut buf = data_row(&[Some(&1i32.to_be_bytes()), Some(b"\x07")]);
        buf.extend(data_row(&[
            Some(&2i32.to_be_bytes()),
            Some(&3i64.to_be_bytes()),
        ]));
        let (mut rows, mut error) = (Rows::new(2), None);
        let n = decode_data_rows(&buf, &decoders, &mut rows, &mut error).unwrap();
        assert_eq!(n, buf.len());
        assert_eq!(
            error.map(|e| e.message),
            Some("malformed bigint value from the server".to_owned())
        );
        // The bad row was taken back, and rows after the error are not decoded.
        assert!(rows.is_empty());
        assert!(rows.row(0).is_empty());
        let text = [Decoder::new(oid::TEXT, 1)];
        let (mut rows, mut error) = (Rows::new(1), None);
        decode_data_rows(&data_row(&[Some(b"\xff")]), &text, &mut rows, &mut error).unwrap();
        assert!(error.is_some() && rows.is_empty());
    }

    #[test]
    fn broken_rows_are_protocol_violations() {
        let decoders = [Decoder::new(oid::INT4, 1)];
        let run = |frame: &[u8]| {
            let (mut rows, mut error) = (Rows::new(1), None);
            let e = decode_data_rows(frame, &decoders, &mut rows, &mut error).unwrap_err();
            assert!(rows.is_empty() && rows.row(0).is_empty());
            e.message
        };
        let two = data_row(&[None, None]);
        assert_eq!(
            run(&two),
            "protocol violation: DataRow has 2 columns, RowDescription 1"
        );
        let mut truncated = data_row(&[Some(b"abcd")]);
        truncated[4] -= 1; // the frame ends one byte early
        truncated.pop();
        assert_eq!(run(&truncated), "protocol violation: truncated DataRow");
        let mut trailing = data_row(&[None]);
        trailing.push(0);
        trailing[4] += 1;
        assert_eq!(
            run(&trailing),
            "protocol violation: trailing bytes in DataRow"
        );
        let mut negative = data_row(&[None]);
        negative[7..11].copy_from_slice(&(-2i32).to_be_bytes());
        assert_eq!(
            run(&negative),
            "protocol violation: column length -2 in DataRow"
        );
        // Lengths the frame decoder refuses are left to it.
        let (mut rows, mut error) = (Rows::new(1), None);
        let tiny = b"D\0\0\0\x02";
        assert_eq!(
            decode_data_rows(tiny, &decoders, &mut rows, &mut error).unwrap(),
            0
        );
    }
}
