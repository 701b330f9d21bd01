//! A multi-row INSERT whose integer primary keys SQLite assigns, with the keys worked
//! out instead of sent back by RETURNING.
//!
//! SQLite runs `INSERT … RETURNING` by storing every returned row in a temporary table
//! first and reading it back afterwards: for 1,000 rows that is about a third of the
//! statement (`benchmarks/NOTES.md`). When a table's key is its rowid and the INSERT
//! leaves the key out, SQLite gives each row in turn the largest rowid so far plus one.
//! So, inside one transaction (nobody else can write meanwhile): read the largest rowid
//! `m` before, run the INSERT without RETURNING, and if it inserted exactly `n` rows
//! and the last of them got `m + n`, the keys are `m + 1 ..= m + n` in VALUES order
//! (the rows fill that range, and each came after the ones before it). A check that
//! the key column holds the rowid rules out a key that is not the rowid's alias.
//!
//! Anything else — an `AUTOINCREMENT` table whose counter is ahead, a trigger that
//! inserts into the same table, a rowid at the top of its range, a table without
//! rowids — fails the check: the INSERT is undone and the RETURNING form runs instead,
//! and that SQL text takes the RETURNING form from then on.

use super::connection::{run, Output};
use super::errors::map;
use super::placeholders::Plans;
use crate::error::Result;
use crate::value::rows::{Cell, Rows};
use crate::value::Value;
use rusqlite::{Connection, OptionalExtension};
use std::time::Duration;

/// The statements of one keyed insert.
pub struct KeyedInsert {
    /// The INSERT without RETURNING.
    pub insert: String,
    /// The same INSERT with `RETURNING key` (run when the keys cannot be worked out).
    pub returning: String,
    /// `SELECT max(rowid) FROM table`
    largest: String,
    /// `SELECT key FROM table WHERE rowid = ?1`
    key_of: String,
    /// The key column's name (the result's one column).
    key: String,
    /// Rows the INSERT writes.
    rows: usize,
}

fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

impl KeyedInsert {
    pub fn new(
        insert: String,
        returning: String,
        table: &str,
        key: &str,
        rows: usize,
    ) -> KeyedInsert {
        let (table_q, key_q) = (quoted(table), quoted(key));
        KeyedInsert {
            insert,
            returning,
            largest: format!("SELECT max(rowid) FROM {table_q}"),
            key_of: format!("SELECT {key_q} FROM {table_q} WHERE rowid = ?1"),
            key: key.to_owned(),
            rows,
        }
    }
}

/// How the insert runs: in a transaction of its own (the connection was in autocommit
/// mode) or in a savepoint of the caller's transaction.
#[derive(Clone, Copy)]
enum Scope {
    Own,
    Savepoint,
}

impl Scope {
    fn begin(conn: &Connection) -> Result<Scope> {
        if conn.is_autocommit() {
            conn.execute_batch("BEGIN IMMEDIATE").map_err(map)?;
            Ok(Scope::Own)
        } else {
            conn.execute_batch("SAVEPOINT ormkit_keyed_insert")
                .map_err(map)?;
            Ok(Scope::Savepoint)
        }
    }

    fn commit(self, conn: &Connection) -> Result<()> {
        let sql = match self {
            Scope::Own => "COMMIT",
            Scope::Savepoint => "RELEASE ormkit_keyed_insert",
        };
        conn.execute_batch(sql).map_err(map)
    }

    /// Undoes the insert. An interrupted or failed INSERT may have ended a transaction
    /// of our own already (SQLite rolls it back): then there is nothing to undo.
    fn undo(self, conn: &Connection) {
        let sql = match self {
            Scope::Own if conn.is_autocommit() => return,
            Scope::Own => "ROLLBACK",
            Scope::Savepoint => "ROLLBACK TO ormkit_keyed_insert; RELEASE ormkit_keyed_insert",
        };
        // Failing here leaves SQLite's own rollback (or the caller's) to finish it.
        let _ = conn.execute_batch(sql);
    }
}

/// Runs `k` with `params` on `conn` (the writer), with `budget` for the INSERT as
/// `connection::run` takes it. The result has one column, the key, one row per
/// inserted row in VALUES order, as the RETURNING form gives it.
pub fn run_keyed(
    conn: &Connection,
    plans: &Plans,
    k: &KeyedInsert,
    params: &[Value],
    budget: Option<Duration>,
) -> Result<Output> {
    let plan = plans.plan(&k.insert);
    if plan.keys_returned() {
        return run(conn, plans, &k.returning, params, budget);
    }
    let scope = Scope::begin(conn)?;
    let keys = match worked_out_keys(conn, plans, k, params, budget) {
        Ok(keys) => keys,
        Err(e) => {
            scope.undo(conn);
            return Err(e);
        }
    };
    let Some(first) = keys else {
        scope.undo(conn);
        plan.return_keys();
        return run(conn, plans, &k.returning, params, budget);
    };
    if let Err(e) = scope.commit(conn) {
        scope.undo(conn);
        return Err(e);
    }
    let mut rows = Rows::new(1);
    rows.reserve(k.rows, 0);
    for key in (first..).take(k.rows) {
        rows.push(Cell::Int(key));
        rows.end_row();
    }
    Ok(Output {
        columns: vec![k.key.clone()],
        rows,
        rowcount: i64::try_from(k.rows).unwrap_or(i64::MAX),
        last_insert_rowid: conn.last_insert_rowid(),
    })
}

/// Runs the INSERT and answers the first row's key, or None when the keys cannot be
/// told (see the module doc). An error of the INSERT itself is returned as is.
fn worked_out_keys(
    conn: &Connection,
    plans: &Plans,
    k: &KeyedInsert,
    params: &[Value],
    budget: Option<Duration>,
) -> Result<Option<i64>> {
    // A table without rowids (or gone): the RETURNING form reports what is wrong.
    let Ok(largest) = conn
        .prepare_cached(&k.largest)
        .and_then(|mut s| s.query_row([], |r| r.get::<_, Option<i64>>(0)))
    else {
        return Ok(None);
    };
    let before = largest.unwrap_or(0);
    run(conn, plans, &k.insert, params, budget)?;
    let (Ok(n), Ok(rows)) = (i64::try_from(k.rows), u64::try_from(k.rows)) else {
        return Ok(None);
    };
    let last = conn.last_insert_rowid();
    // `changes()`: the rows this INSERT wrote, not those its triggers wrote elsewhere
    // (rows a trigger adds to this table take keys in the range: the last check fails).
    if conn.changes() != rows || before.checked_add(n) != Some(last) {
        return Ok(None);
    }
    let key: Option<i64> = conn
        .prepare_cached(&k.key_of)
        .and_then(|mut s| {
            s.query_row([last], |r| r.get::<_, Option<i64>>(0))
                .optional()
        })
        .ok()
        .flatten()
        .flatten();
    Ok((key == Some(last)).then_some(before + 1))
}
