//! Statements run on the caller's (event-loop) thread under a time budget.
//!
//! A statement that runs over the budget is interrupted (SQLITE_INTERRUPT) and the
//! caller sends it to a connection thread instead: the work done inline is lost.
//! So a statement that ran over lately is not tried inline again for its next
//! [`SKIPS`] runs (a bulk insert of 1,000 rows, a 10,000-row select): they go to
//! the thread at once; each further overrun in a row doubles that (up to 64×). The
//! memory is kept with the SQL text's plan (`placeholders::Plans`), which every
//! statement looks up anyway.

use super::connection::{is_transaction_control, run_prepared, Output};
use super::errors::map;
use super::job::Db;
use super::placeholders::Planned;
use crate::error::Result;
use crate::value::Value;
use std::time::Duration;

/// Runs a statement that ran over the budget skips inline.
const SKIPS: u16 = 16;

/// What happened to a statement offered to the caller's thread.
pub enum Budgeted {
    /// It may write, and only reads were asked for.
    Writes,
    /// It ran over the budget lately, or now (then SQLite rolled back what it did):
    /// run it on a connection thread.
    Elsewhere,
    /// It ran; its outcome (which may be a lock that was busy: see `retry_elsewhere`).
    Ran(Box<Result<Output>>),
}

/// Runs `sql` on `db` within `budget`; with `reads_only`, only if it cannot write.
/// An error preparing it is returned as is.
pub fn run_budgeted(
    db: &Db,
    sql: &str,
    params: &[Value],
    budget: Duration,
    reads_only: bool,
) -> Result<Budgeted> {
    if reads_only && is_transaction_control(sql) {
        return Ok(Budgeted::Writes);
    }
    let plan = db.plans.plan(sql);
    let stmt = db.conn.prepare_cached(plan.sql()?).map_err(map)?;
    if reads_only && !stmt.readonly() {
        return Ok(Budgeted::Writes);
    }
    let positional = plan.positional();
    within(&plan, budget, |limit| {
        run_prepared(&db.conn, stmt, positional, params, limit)
    })
}

/// Runs `work` (the statements of `plan`'s SQL) with `budget` as its limit, unless it
/// ran over lately; an overrun (SQLITE_INTERRUPT) sends its next runs elsewhere.
pub fn within(
    plan: &Planned<'_>,
    budget: Duration,
    work: impl FnOnce(Option<Duration>) -> Result<Output>,
) -> Result<Budgeted> {
    if plan.skip_inline() {
        return Ok(Budgeted::Elsewhere);
    }
    match work(Some(budget)) {
        Err(e) if e.sqlstate.as_deref() == Some("SQLITE_9") => {
            plan.ran_over(SKIPS);
            Ok(Budgeted::Elsewhere)
        }
        done => {
            plan.ran_within();
            Ok(Budgeted::Ran(Box::new(done)))
        }
    }
}
