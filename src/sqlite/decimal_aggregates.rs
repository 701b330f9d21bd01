//! The `ormkit_dec_sum(x)` and `ormkit_dec_avg(x)` aggregates: exact decimal totals.
//!
//! NULLs are skipped; with no other row the result is NULL, as SQL's `sum` and `avg`
//! give. A sum keeps the largest scale of its rows (`0.10 + 2 = 2.10`); an average is
//! the sum divided by the count as `ormkit_dec_div` divides (`avg(1, 2) = 1.5`).
//! Both work as window functions too (`OVER (… ROWS …)`): a row leaving the window
//! is subtracted exactly, and the scale is that of the rows still in it.

use super::decimal_functions::{failure, flags, operand, DIVISION_BY_ZERO};
use super::decimal_math::Fixed;
use super::decimal_value::Decimal;
use rusqlite::functions::{Aggregate, Context, WindowAggregate};
use rusqlite::Connection;
use std::collections::BTreeMap;

/// Registers the aggregates on `conn`.
pub(crate) fn register(conn: &Connection) -> rusqlite::Result<()> {
    conn.create_window_function(
        "ormkit_dec_sum",
        1,
        flags(),
        Total {
            name: "ormkit_dec_sum",
            average: false,
        },
    )?;
    conn.create_window_function(
        "ormkit_dec_avg",
        1,
        flags(),
        Total {
            name: "ormkit_dec_avg",
            average: true,
        },
    )
}

/// `ormkit_dec_sum` or (with `average`) `ormkit_dec_avg`.
struct Total {
    name: &'static str,
    average: bool,
}

/// The rows aggregated so far, kept so that any of them can be taken out again:
/// infinities and NaNs are counted apart from the finite sum.
#[derive(Debug)]
struct Running {
    finite: Fixed,
    /// How many finite rows have each scale.
    scales: BTreeMap<usize, u64>,
    infinities: u64,
    negative_infinities: u64,
    nans: u64,
    /// Non-NULL rows.
    count: u64,
}

impl Running {
    fn new() -> Running {
        Running {
            finite: Fixed::zero(0),
            scales: BTreeMap::new(),
            infinities: 0,
            negative_infinities: 0,
            nans: 0,
            count: 0,
        }
    }

    /// Adds a row (`leaving`: takes out a row added before).
    fn take(&mut self, value: &Decimal, leaving: bool) {
        let change = |n: &mut u64| {
            *n = if leaving {
                n.saturating_sub(1)
            } else {
                n.saturating_add(1)
            }
        };
        change(&mut self.count);
        match value {
            Decimal::NaN => change(&mut self.nans),
            Decimal::Infinity { negative: false } => change(&mut self.infinities),
            Decimal::Infinity { negative: true } => change(&mut self.negative_infinities),
            Decimal::Finite(x) => {
                self.finite = if leaving {
                    self.finite.sub(x)
                } else {
                    self.finite.add(x)
                };
                let rows = self.scales.entry(x.scale()).or_insert(0);
                change(rows);
                if *rows == 0 {
                    self.scales.remove(&x.scale());
                }
            }
        }
    }

    /// The sum of the rows; `None` without any.
    fn sum(&self) -> Option<Decimal> {
        if self.count == 0 {
            return None;
        }
        Some(
            if self.nans > 0 || (self.infinities > 0 && self.negative_infinities > 0) {
                Decimal::NaN
            } else if self.infinities > 0 {
                Decimal::Infinity { negative: false }
            } else if self.negative_infinities > 0 {
                Decimal::Infinity { negative: true }
            } else {
                // every row left is a multiple of 10^-scale, so the sum's digits
                // beyond it are zeros
                let scale = self.scales.keys().next_back().copied().unwrap_or(0);
                Decimal::Finite(self.finite.clone().trimmed(scale))
            },
        )
    }
}

impl Total {
    fn result(&self, running: Option<&Running>) -> rusqlite::Result<Option<String>> {
        let Some(sum) = running.and_then(Running::sum) else {
            return Ok(None);
        };
        if !self.average {
            return Ok(Some(sum.to_string()));
        }
        let count = running.map_or(0, |r| r.count);
        sum.div(&Decimal::Finite(Fixed::from_integer(count)))
            .map(|mean| Some(mean.to_string()))
            .map_err(|_| failure(DIVISION_BY_ZERO.to_owned()))
    }

    fn step_by(
        &self,
        ctx: &mut Context<'_>,
        running: &mut Running,
        leaving: bool,
    ) -> rusqlite::Result<()> {
        if let Some(value) = operand(ctx, 0, self.name)? {
            running.take(&value, leaving);
        }
        Ok(())
    }
}

impl Aggregate<Running, Option<String>> for Total {
    fn init(&self, _: &mut Context<'_>) -> rusqlite::Result<Running> {
        Ok(Running::new())
    }

    fn step(&self, ctx: &mut Context<'_>, running: &mut Running) -> rusqlite::Result<()> {
        self.step_by(ctx, running, false)
    }

    fn finalize(
        &self,
        _: &mut Context<'_>,
        running: Option<Running>,
    ) -> rusqlite::Result<Option<String>> {
        self.result(running.as_ref())
    }
}

impl WindowAggregate<Running, Option<String>> for Total {
    fn value(&self, running: Option<&mut Running>) -> rusqlite::Result<Option<String>> {
        self.result(running.map(|r| &*r))
    }

    fn inverse(&self, ctx: &mut Context<'_>, running: &mut Running) -> rusqlite::Result<()> {
        self.step_by(ctx, running, true)
    }
}

#[cfg(test)]
mod tests {
    use super::super::decimal_functions::register;
    use rusqlite::Connection;

    fn table(values: &str) -> Connection {
        let conn = Connection::open_in_memory().expect("open");
        register(&conn).expect("register");
        conn.execute_batch(&format!(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, x); INSERT INTO t (x) VALUES {values};"
        ))
        .expect("table");
        conn
    }

    fn column(conn: &Connection, sql: &str) -> Vec<String> {
        let mut stmt = conn.prepare(sql).expect(sql);
        let rows = stmt
            .query_map([], |r| r.get::<_, Option<String>>(0))
            .expect(sql);
        rows.map(|r| r.expect(sql).unwrap_or_else(|| "NULL".to_owned()))
            .collect()
    }

    fn sum_and_avg(values: &str) -> (String, String) {
        let conn = table(values);
        let got = column(
            &conn,
            "SELECT ormkit_dec_sum(x) FROM t UNION ALL SELECT ormkit_dec_avg(x) FROM t",
        );
        (got[0].clone(), got[1].clone())
    }

    #[test]
    fn text_integer_real_and_null_rows() {
        let (sum, avg) = sum_and_avg("('0.1'), (2), (0.2), (NULL), ('-0.10')");
        assert_eq!(sum, "2.20");
        assert_eq!(avg, "0.55");
        let (sum, avg) = sum_and_avg("(1), (2)");
        assert_eq!((sum.as_str(), avg.as_str()), ("3", "1.5"));
        let (sum, avg) = sum_and_avg("('1'), ('1'), ('1')");
        assert_eq!((sum.as_str(), avg.as_str()), ("3", "1"));
        let (sum, avg) = sum_and_avg("('1.00'), ('0'), ('1')");
        assert_eq!(
            (sum.as_str(), avg.as_str()),
            ("2.00", "0.66666666666666666667")
        );
        let (sum, avg) = sum_and_avg("('12345678901234567890.01'), ('0.1'), ('0.2')");
        assert_eq!(sum, "12345678901234567890.31");
        assert_eq!(avg, "4115226300411522630.10333333333333333333");
    }

    #[test]
    fn no_rows_or_only_nulls_give_null() {
        assert_eq!(
            sum_and_avg("(NULL), (NULL)"),
            ("NULL".into(), "NULL".into())
        );
        let conn = table("(1)");
        let got = column(
            &conn,
            "SELECT ormkit_dec_sum(x) FROM t WHERE id > 5
             UNION ALL SELECT ormkit_dec_avg(x) FROM t WHERE id > 5",
        );
        assert_eq!(got, ["NULL", "NULL"]);
    }

    #[test]
    fn special_values() {
        assert_eq!(
            sum_and_avg("('Infinity'), (1)"),
            ("Infinity".into(), "Infinity".into())
        );
        assert_eq!(
            sum_and_avg("('-inf'), ('Infinity')"),
            ("NaN".into(), "NaN".into())
        );
        assert_eq!(sum_and_avg("('NaN'), (1)"), ("NaN".into(), "NaN".into()));
    }

    #[test]
    fn bad_rows_fail_the_query() {
        let conn = table("('1'), ('one')");
        let err = conn
            .query_row("SELECT ormkit_dec_sum(x) FROM t", [], |r| {
                r.get::<_, String>(0)
            })
            .expect_err("fails");
        assert_eq!(err.to_string(), "ormkit_dec_sum: not a decimal: 'one'");
    }

    #[test]
    fn window_frames_take_rows_out_exactly() {
        let conn = table("('0.1'), ('0.25'), ('3'), ('NaN'), ('4'), (NULL), (NULL)");
        assert_eq!(
            column(
                &conn,
                "SELECT ormkit_dec_sum(x) OVER (ORDER BY id ROWS 1 PRECEDING) FROM t ORDER BY id"
            ),
            ["0.1", "0.35", "3.25", "NaN", "NaN", "4", "NULL"]
        );
        assert_eq!(
            column(
                &conn,
                "SELECT ormkit_dec_avg(x) OVER (ORDER BY id ROWS 1 PRECEDING) FROM t ORDER BY id"
            ),
            ["0.1", "0.175", "1.625", "NaN", "NaN", "4", "NULL"]
        );
    }
}
