//! Opening a SQLite connection and running one statement on it.
//!
//! Placeholders: `?`, `?NNN` and `$N` all bind by position (`$2` is the second
//! parameter wherever it appears), so SQL written for PostgreSQL runs unchanged:
//! `$N` is rewritten to `?N` before preparing (see `placeholders`).

use super::errors::map;
use super::placeholders::Plans;
use super::types::{push_row, to_sqlite};
use super::{decimal, decimal_functions};
use crate::error::{Error, Result};
use crate::value::rows::Rows;
use crate::value::{IsoText, Value};
use rusqlite::{CachedStatement, Connection, OpenFlags};
use std::os::raw::c_int;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Once};
use std::time::{Duration, Instant};

/// What one statement produced.
#[derive(Debug, Default)]
pub struct Output {
    pub columns: Vec<String>,
    pub rows: Rows,
    /// Rows changed by a write, or rows returned by a read.
    pub rowcount: i64,
    pub last_insert_rowid: i64,
}

/// Opens a connection with the settings every ormkit connection uses (and the
/// `ormkit_decimal` collation and `ormkit_dec_*` functions).
pub fn open(path: &str, uri: bool, busy_timeout: Duration, wal: bool) -> Result<Connection> {
    configure_library();
    let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    if uri {
        flags |= OpenFlags::SQLITE_OPEN_URI;
    }
    let conn = Connection::open_with_flags(path, flags).map_err(map)?;
    configure(&conn, busy_timeout, wal)?;
    Ok(conn)
}

/// Settings of the SQLite library itself, made once before it initialises (the first
/// connection opened): memory statistics off. With them on, every allocation SQLite
/// makes takes a process-wide mutex to count it (6 % of the writer thread's samples in
/// `perf` of 1,000-row inserts, 1.8 % with them off). Nothing in ormkit reads them
/// (`sqlite3_memory_used`, soft heap limits). If the library was initialised already
/// (another user of this build of SQLite in the process), the call is refused and the
/// statistics stay on: only slower.
fn configure_library() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: `sqlite3_config` with an int argument, as SQLITE_CONFIG_MEMSTATUS takes;
        // before initialisation it only sets a global, after it returns SQLITE_MISUSE.
        unsafe {
            rusqlite::ffi::sqlite3_config(rusqlite::ffi::SQLITE_CONFIG_MEMSTATUS, c_int::from(0u8));
        }
    });
}

pub fn configure(conn: &Connection, busy_timeout: Duration, wal: bool) -> Result<()> {
    conn.busy_timeout(busy_timeout).map_err(map)?;
    if wal {
        let mode: String = conn
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
            .map_err(map)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(Error::operational(format!(
                "could not switch the database to WAL mode (it stayed in {mode})"
            )));
        }
        conn.execute_batch("PRAGMA synchronous=NORMAL")
            .map_err(map)?;
    }
    conn.execute_batch("PRAGMA foreign_keys=ON").map_err(map)?;
    conn.create_collation(decimal::COLLATION, decimal::compare)
        .map_err(map)?;
    decimal_functions::register(conn).map_err(map)?;
    conn.set_prepared_statement_cache_capacity(256);
    Ok(())
}

/// Whether `sql` only reads (so it may run on a reader connection).
pub fn is_read_only(conn: &Connection, plans: &Plans, sql: &str) -> Result<bool> {
    if is_transaction_control(sql) {
        return Ok(false);
    }
    let stmt = conn.prepare_cached(plans.plan(sql).sql()?).map_err(map)?;
    Ok(stmt.readonly())
}

pub(crate) fn is_transaction_control(sql: &str) -> bool {
    let head: String = sql
        .trim_start()
        .chars()
        .take(9)
        .collect::<String>()
        .to_ascii_uppercase();
    [
        "BEGIN",
        "COMMIT",
        "END",
        "ROLLBACK",
        "SAVEPOINT",
        "RELEASE",
        "PRAGMA",
        "ATTACH",
        "DETACH",
    ]
    .iter()
    .any(|k| head.starts_with(k))
}

/// Whether `error` interrupted a write that had already committed.
///
/// SQLite consults the progress handler once more when a statement returns from the
/// virtual machine, after `OP_Halt` has committed an autocommit write; a budget that ran
/// out just then makes the statement report SQLITE_INTERRUPT although its changes are
/// kept. Treated as interrupted, the statement would run a second time on a connection
/// thread (rows inserted twice, or "table already exists"). Under a budget, a write
/// runs with a commit hook that records its commit (`committed`).
fn committed_anyway(error: &rusqlite::Error, committed: Option<&AtomicBool>) -> bool {
    matches!(
        error.sqlite_error_code(),
        Some(rusqlite::ErrorCode::OperationInterrupted)
    ) && committed.is_some_and(|c| c.load(Ordering::Relaxed))
}

/// Runs one statement. With `budget`, a statement that runs longer is interrupted
/// (SQLITE_INTERRUPT) so the caller can move it to a connection thread.
pub fn run(
    conn: &Connection,
    plans: &Plans,
    sql: &str,
    params: &[Value],
    budget: Option<Duration>,
) -> Result<Output> {
    let plan = plans.plan(sql);
    let stmt = conn.prepare_cached(plan.sql()?).map_err(map)?;
    run_prepared(conn, stmt, plan.positional(), params, budget)
}

pub(crate) fn run_prepared(
    conn: &Connection,
    stmt: CachedStatement<'_>,
    positional: bool,
    params: &[Value],
    budget: Option<Duration>,
) -> Result<Output> {
    let Some(limit) = budget else {
        return run_inner(conn, stmt, positional, params, None);
    };
    let start = Instant::now();
    conn.progress_handler(1000, Some(move || start.elapsed() > limit))
        .map_err(map)?;
    // Only a write commits (and may then be interrupted after its commit).
    let committed = (!stmt.readonly()).then(|| Arc::new(AtomicBool::new(false)));
    if let Some(flag) = &committed {
        let seen = flag.clone();
        conn.commit_hook(Some(move || {
            seen.store(true, Ordering::Relaxed);
            false // let it commit
        }))
        .map_err(map)?;
    }
    let result = run_inner(conn, stmt, positional, params, committed.as_deref());
    if committed.is_some() {
        conn.commit_hook(None::<fn() -> bool>).map_err(map)?;
    }
    conn.progress_handler(0, None::<fn() -> bool>)
        .map_err(map)?;
    result
}

fn run_inner(
    conn: &Connection,
    mut stmt: CachedStatement<'_>,
    positional: bool,
    params: &[Value],
    committed: Option<&AtomicBool>,
) -> Result<Output> {
    bind(&mut stmt, params, positional)?;
    let ncols = stmt.column_count();
    let columns: Vec<String> = stmt
        .column_names()
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    let read_only = stmt.readonly();
    let before = conn.total_changes();
    let mut rows = Rows::new(ncols);
    {
        let mut cursor = stmt.raw_query();
        loop {
            let row = match cursor.next() {
                Ok(Some(row)) => row,
                Ok(None) => break,
                Err(e) if committed_anyway(&e, committed) => break,
                Err(e) => return Err(map(e)),
            };
            push_row(&mut rows, row, ncols)?;
        }
    }
    let rowcount = if read_only {
        rows.len() as i64
    } else {
        (conn.total_changes() - before) as i64
    };
    Ok(Output {
        columns,
        rows,
        rowcount,
        last_insert_rowid: conn.last_insert_rowid(),
    })
}

/// Runs one statement once per parameter set; returns the rows changed.
pub fn run_many(
    conn: &Connection,
    plans: &Plans,
    sql: &str,
    param_sets: &[Vec<Value>],
) -> Result<i64> {
    let plan = plans.plan(sql);
    let mut stmt = conn.prepare_cached(plan.sql()?).map_err(map)?;
    let before = conn.total_changes();
    for params in param_sets {
        bind(&mut stmt, params, plan.positional())?;
        let mut cursor = stmt.raw_query();
        while cursor.next().map_err(map)?.is_some() {}
    }
    Ok((conn.total_changes() - before) as i64)
}

/// Binds `params` by position. `positional`: every placeholder is `?` or `?N`
/// (see `placeholders`), so index i is position i and no names are looked up
/// (a lookup is a linear search in SQLite: quadratic over a statement).
pub(crate) fn bind(
    stmt: &mut rusqlite::Statement<'_>,
    params: &[Value],
    positional: bool,
) -> Result<()> {
    let count = stmt.parameter_count();
    if positional {
        if count != params.len() {
            return Err(wrong_count(count, params.len()));
        }
        for (i, value) in params.iter().enumerate() {
            bind_one(stmt, i + 1, value)?;
        }
        return Ok(());
    }
    let mut expected = 0usize;
    for i in 1..=count {
        let position = match stmt.parameter_name(i) {
            None => i,
            Some(name) => parse_position(name).ok_or_else(|| {
                Error::programming(format!("unsupported placeholder {name:?}: use ?, ?N or $N"))
            })?,
        };
        expected = expected.max(position);
        let value = params
            .get(position - 1)
            .ok_or_else(|| wrong_count(count, params.len()))?;
        bind_one(stmt, i, value)?;
    }
    if expected != params.len() {
        return Err(wrong_count(expected, params.len()));
    }
    Ok(())
}

/// Binds one value at `index`. Dates and times go as text written in a stack buffer
/// (SQLite copies it), with no allocation per value.
fn bind_one(stmt: &mut rusqlite::Statement<'_>, index: usize, value: &Value) -> Result<()> {
    let text = match value {
        Value::Timestamp(t) => IsoText::timestamp(*t),
        Value::Date(d) => IsoText::date(*d),
        Value::Time(t) => IsoText::time(*t),
        _ => {
            return stmt
                .raw_bind_parameter(index, to_sqlite(value)?)
                .map_err(map)
        }
    };
    stmt.raw_bind_parameter(index, text.as_str()).map_err(map)
}

fn parse_position(name: &str) -> Option<usize> {
    let digits = name.strip_prefix('$').or_else(|| name.strip_prefix('?'))?;
    match digits.parse::<usize>() {
        Ok(n) if n >= 1 => Some(n),
        _ => None,
    }
}

fn wrong_count(expected: usize, got: usize) -> Error {
    Error::parameter_count(expected, got)
        // SQLITE_RANGE: what SQLite answers for a parameter it has no slot for
        .with_sqlstate("SQLITE_25")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    fn mem() -> Connection {
        open(":memory:", false, Duration::from_millis(100), false).expect("open")
    }

    fn run(
        c: &Connection,
        sql: &str,
        params: &[Value],
        budget: Option<Duration>,
    ) -> Result<Output> {
        super::run(c, &Plans::default(), sql, params, budget)
    }

    fn run_many(c: &Connection, sql: &str, sets: &[Vec<Value>]) -> Result<i64> {
        super::run_many(c, &Plans::default(), sql, sets)
    }

    fn is_read_only(c: &Connection, sql: &str) -> Result<bool> {
        super::is_read_only(c, &Plans::default(), sql)
    }

    #[test]
    fn decimal_functions_are_registered() {
        let c = mem();
        let out = run(
            &c,
            "SELECT ormkit_dec_add($1, '0.2'), ormkit_dec_sum(x) FROM (SELECT 0.1 AS x)",
            &[Value::Text("0.1".into())],
            None,
        )
        .expect("run");
        assert_eq!(
            out.rows[0].as_slice(),
            &[Value::Text("0.3".into()), Value::Text("0.1".into())]
        );
        let err = run(&c, "SELECT ormkit_dec_div(1, 0)", &[], None).expect_err("fails");
        assert_eq!(err.kind, ErrorKind::Data);
        assert_eq!(err.message, "division by zero");
    }

    #[test]
    fn dollar_and_question_placeholders() {
        let c = mem();
        let out = run(
            &c,
            "SELECT $2, $1, $2",
            &[Value::Int(1), Value::Int(2)],
            None,
        )
        .expect("run");
        assert_eq!(
            out.rows[0].as_slice(),
            &[Value::Int(2), Value::Int(1), Value::Int(2)]
        );
        let out = run(
            &c,
            "SELECT ?, ?",
            &[Value::Int(1), Value::Text("x".into())],
            None,
        )
        .expect("run");
        assert_eq!(out.rows[0][1], Value::Text("x".into()));
    }

    #[test]
    fn dollar_placeholders_in_strings_and_comments_are_text() {
        let c = mem();
        let out = run(
            &c,
            "SELECT '$1' AS s, $1 AS v /* $2 */ -- $3",
            &[Value::Int(5)],
            None,
        )
        .expect("run");
        assert_eq!(
            out.rows[0].as_slice(),
            &[Value::Text("$1".into()), Value::Int(5)]
        );
        assert_eq!(out.columns, vec!["s".to_owned(), "v".to_owned()]);
        let err = run(&c, "SELECT $1a", &[Value::Int(1)], None).expect_err("named");
        assert!(
            err.message.contains("unsupported placeholder"),
            "{}",
            err.message
        );
        let out = run(&c, "SELECT ?, $1, ?1", &[Value::Int(7)], None).expect("mixed");
        assert_eq!(
            out.rows[0].as_slice(),
            &[Value::Int(7), Value::Int(7), Value::Int(7)]
        );
    }

    #[test]
    fn thousands_of_dollar_placeholders_bind_by_position() {
        let c = mem();
        let n = 6000;
        let values: Vec<String> = (1..=n).map(|k| format!("({k}, ${})", n + 1 - k)).collect();
        let sql = format!(
            "SELECT column2 FROM (VALUES {}) WHERE column1 IN (1, {n}) ORDER BY column1",
            values.join(", ")
        );
        let params: Vec<Value> = (1..=n as i64).map(Value::Int).collect();
        let out = run(&c, &sql, &params, None).expect("run");
        assert_eq!(out.rows.len(), 2);
        assert_eq!(out.rows[0][0], Value::Int(n as i64));
        assert_eq!(out.rows[1][0], Value::Int(1));
        let err = run(&c, &sql, &params[1..], None).expect_err("count");
        assert!(
            err.message
                .contains("takes 6000 parameters, 5999 were given"),
            "{}",
            err.message
        );
    }

    #[test]
    fn wrong_parameter_count_is_an_error() {
        let c = mem();
        let err = run(&c, "SELECT ?", &[], None).expect_err("count");
        assert_eq!(err.kind, ErrorKind::Programming);
        assert_eq!(err.sqlstate.as_deref(), Some("SQLITE_25"));
        let err = run(&c, "SELECT $1", &[Value::Int(1), Value::Int(2)], None).expect_err("count");
        assert!(
            err.message.contains("takes 1 parameter, 2 were given"),
            "{}",
            err.message
        );
    }

    #[test]
    fn rowcount_counts_changes_and_rows() {
        let c = mem();
        run(&c, "CREATE TABLE t (a INTEGER)", &[], None).expect("create");
        let n = run_many(
            &c,
            "INSERT INTO t VALUES ($1)",
            &[vec![Value::Int(1)], vec![Value::Int(2)]],
        )
        .expect("many");
        assert_eq!(n, 2);
        let out = run(&c, "UPDATE t SET a = a + 1", &[], None).expect("update");
        assert_eq!(out.rowcount, 2);
        let out = run(&c, "SELECT a FROM t ORDER BY a", &[], None).expect("select");
        assert_eq!(out.rowcount, 2);
        assert_eq!(out.columns, vec!["a".to_owned()]);
    }

    #[test]
    fn budget_interrupts_long_reads() {
        let c = mem();
        let sql = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c";
        let err = run(&c, sql, &[], Some(Duration::from_millis(5))).expect_err("interrupted");
        assert_eq!(err.kind, ErrorKind::Operational);
        let out = run(&c, "SELECT 1", &[], None).expect("usable afterwards");
        assert_eq!(out.rows.len(), 1);
    }

    #[test]
    fn a_write_interrupted_after_its_commit_reports_success() {
        // With no budget at all, every progress callback interrupts, including the one
        // SQLite makes after an autocommit INSERT has committed: that run must report
        // success (it would otherwise be run again elsewhere), the others must have
        // rolled back. So the rows stored are exactly the runs that succeeded.
        let c = mem();
        run(&c, "CREATE TABLE t (v INTEGER)", &[], None).expect("create");
        let mut succeeded = 0;
        let mut interrupted = 0;
        for i in 0..3000 {
            match run(
                &c,
                "INSERT INTO t VALUES ($1)",
                &[Value::Int(i)],
                Some(Duration::ZERO),
            ) {
                Ok(out) => {
                    assert_eq!(out.rowcount, 1);
                    succeeded += 1;
                }
                Err(e) => {
                    assert_eq!(e.sqlstate.as_deref(), Some("SQLITE_9"), "{e:?}");
                    interrupted += 1;
                }
            }
        }
        assert!(
            interrupted > 0,
            "the budget never interrupted: the test proves nothing"
        );
        let out = run(&c, "SELECT count(*) FROM t", &[], None).expect("count");
        assert_eq!(out.rows[0][0], Value::Int(succeeded));
    }

    #[test]
    fn ddl_interrupted_after_its_commit_reports_success() {
        // A statement that changes no row (DDL) leaves total_changes alone: the
        // commit hook tells whether it committed before the interrupt.
        let c = mem();
        let mut interrupted = 0;
        for i in 0..300 {
            let table = format!("t{i}");
            // CREATE TABLE … AS of a growing series: step counts of every size, so
            // some runs end just past a progress check, after their commit.
            let sql = format!(
                "CREATE TABLE {table} AS WITH RECURSIVE c(x) AS \
                 (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < {i}) SELECT x FROM c"
            );
            let reported = run(&c, &sql, &[], Some(Duration::ZERO));
            let exists = run(
                &c,
                "SELECT count(*) FROM sqlite_master WHERE name = $1",
                &[Value::Text(table.clone())],
                None,
            )
            .expect("look up");
            let exists = exists.rows[0][0] == Value::Int(1);
            match reported {
                Ok(_) => assert!(exists, "{table} reported created but missing"),
                Err(e) => {
                    assert_eq!(e.sqlstate.as_deref(), Some("SQLITE_9"), "{e:?}");
                    assert!(!exists, "{table} reported interrupted but created");
                    interrupted += 1;
                }
            }
        }
        assert!(
            interrupted > 0,
            "the budget never interrupted: the test proves nothing"
        );
    }

    #[test]
    fn transaction_control_is_not_read_only() {
        let c = mem();
        assert!(!is_read_only(&c, "BEGIN").expect("begin"));
        assert!(is_read_only(&c, "SELECT 1").expect("select"));
    }
}
