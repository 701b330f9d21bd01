//! Statements that take more than one Bind/Execute per round trip: a batch
//! (`executemany`: one Parse, then Bind + Execute per parameter set and one
//! Sync, in one write) and portals read in chunks (`Execute` with a row limit
//! on a named portal, inside a transaction, answered by PortalSuspended
//! while rows remain).

use crate::error::{Error, Result};
use crate::value::Value;

use super::super::protocol::frontend::{self, Target};
use super::super::query::{self, Execute, Run, Simple, Step};
use super::PgConnection;

/// The largest row limit of one Execute (the field is an int32).
fn row_limit(max_rows: usize) -> Result<i32> {
    match i32::try_from(max_rows) {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(Error::interface(format!(
            "invalid chunk size {max_rows} (1 to {})",
            i32::MAX
        ))),
    }
}

fn check_portal_name(portal: &str) -> Result<()> {
    if portal.is_empty() || portal.contains('\0') {
        return Err(Error::interface(
            "a portal needs a non-empty name without NUL",
        ));
    }
    Ok(())
}

impl PgConnection {
    /// Runs `sql` once per parameter set as one pipeline: (Parse + Describe +
    /// Sync on a cache miss, then) Bind + Execute per set and a single Sync,
    /// in one write. One [`super::Event::QueryDone`] reports the summed
    /// rows-affected count, or the first error (the server skips the rest of
    /// the batch up to the Sync; outside a transaction the whole batch is one
    /// implicit transaction and is rolled back). A value that cannot be encoded
    /// fails the call before anything is sent.
    pub fn query_many(&mut self, sql: &str, sets: Vec<Vec<Value>>) -> Result<()> {
        self.ready_for_statement()?;
        if sets.is_empty() {
            return Err(Error::interface(
                "executemany needs at least one parameter set",
            ));
        }
        for (i, params) in sets.iter().enumerate() {
            query::precheck_params(params).map_err(|e| Error {
                message: format!("parameter set {}: {}", i + 1, e.message),
                ..e
            })?;
        }
        self.start_run(sql, Run::Batch(sets))
    }

    /// Binds `sql` with `params` to the named `portal` and reads at most
    /// `max_rows` rows; the [`super::Event::QueryDone`] output says
    /// `suspended` while rows remain. Needs a transaction (an open one, or a
    /// pipelined BEGIN that goes out first): portals end with their transaction.
    pub fn portal_open(
        &mut self,
        sql: &str,
        params: Vec<Value>,
        portal: &str,
        max_rows: usize,
    ) -> Result<()> {
        self.ready_for_statement()?;
        check_portal_name(portal)?;
        let max_rows = row_limit(max_rows)?;
        if self.tx_status == b'I' && !self.begin_next {
            return Err(Error::interface(
                "a portal can only be read in chunks inside a transaction",
            ));
        }
        if self.portals.contains_key(portal) {
            return Err(Error::interface(format!(
                "portal {portal:?} is already open"
            )));
        }
        query::precheck_params(&params)?;
        let run = Run::Portal {
            params,
            portal: portal.to_owned(),
            max_rows,
        };
        self.start_run(sql, run)
    }

    /// Reads at most `max_rows` more rows from an open `portal` (one round trip).
    pub fn portal_fetch(&mut self, portal: &str, max_rows: usize) -> Result<()> {
        self.ready_for_statement()?;
        let max_rows = row_limit(max_rows)?;
        let statement = self
            .portals
            .get(portal)
            .cloned()
            .ok_or_else(|| Error::interface(format!("portal {portal:?} is not open")))?;
        let run = Run::Fetch {
            portal: portal.to_owned(),
            max_rows,
        };
        query::write_run(&mut self.wbuf, &statement, &run)?;
        let mut x = Execute::new(String::new(), run, statement, true);
        // An open portal has nothing to prepare again.
        x.retried = true;
        self.steps.push_back(Step::Execute(x));
        self.flush_wbuf()
    }

    /// Closes `portal` on the server (Close + Sync); the result is an empty
    /// [`super::Event::QueryDone`]. Closing a portal that is not open is not
    /// an error (the transaction may have ended it).
    pub fn portal_close(&mut self, portal: &str) -> Result<()> {
        self.ready_for_statement()?;
        check_portal_name(portal)?;
        self.portals.remove(portal);
        let start = self.wbuf.len();
        if let Err(e) = frontend::close(&mut self.wbuf, Target::Portal, portal) {
            self.wbuf.truncate(start);
            return Err(e);
        }
        frontend::sync(&mut self.wbuf);
        self.steps.push_back(Step::Simple(Simple {
            rowcount: -1,
            ..Simple::default()
        }));
        self.flush_wbuf()
    }

    /// Whether `portal` is open in the current transaction.
    pub fn has_portal(&self, portal: &str) -> bool {
        self.portals.contains_key(portal)
    }
}
