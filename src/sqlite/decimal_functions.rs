//! The `ormkit_dec_*` SQL functions: exact decimal arithmetic on SQLite.
//!
//! SQLite computes `sum`, `avg`, `+` and `*` in floating point, so `0.1 + 0.2` gives
//! `0.30000000000000004` and `UPDATE … SET bal = bal + '0.1'` stores it. Every ormkit
//! connection registers these functions, and the SQL compiler calls them where a
//! `Decimal` column is computed with:
//!
//! - `ormkit_dec_add(a, b)`, `ormkit_dec_sub(a, b)`, `ormkit_dec_mul(a, b)`,
//!   `ormkit_dec_div(a, b)`, `ormkit_dec_neg(a)`: NULL if an operand is NULL;
//! - `ormkit_dec_sum(x)`, `ormkit_dec_avg(x)` (in `decimal_aggregates`).
//!
//! Results are decimal text (see `decimal_value`). An operand may be TEXT (decimal
//! text), INTEGER (exact) or REAL (its shortest round-trip text: `0.1` is `'0.1'`).
//! Text that is not a number, a BLOB, an operand of more than `MAX_DIGITS` digits
//! and division by zero are errors (SQLITE_ERROR, which ormkit raises as a data error).

use super::decimal_aggregates;
use super::decimal_value::{Decimal, ReadError, MAX_DIGITS};
use rusqlite::functions::{Context, FunctionFlags};
use rusqlite::types::ValueRef;
use rusqlite::{ffi, Connection};

/// The message of the error division by zero raises (PostgreSQL's words).
pub const DIVISION_BY_ZERO: &str = "division by zero";

/// How much of a text that is not a decimal an error message quotes.
const QUOTED_CHARS: usize = 40;

/// Registers the functions on `conn`.
pub fn register(conn: &Connection) -> rusqlite::Result<()> {
    binary(conn, "ormkit_dec_add", |a, b| Ok(a.add(b)))?;
    binary(conn, "ormkit_dec_sub", |a, b| Ok(a.sub(b)))?;
    binary(conn, "ormkit_dec_mul", |a, b| Ok(a.mul(b)))?;
    binary(conn, "ormkit_dec_div", |a, b| {
        a.div(b).map_err(|_| failure(DIVISION_BY_ZERO.to_owned()))
    })?;
    conn.create_scalar_function("ormkit_dec_neg", 1, flags(), |ctx| {
        Ok(operand(ctx, 0, "ormkit_dec_neg")?.map(|a| a.neg().to_string()))
    })?;
    decimal_aggregates::register(conn)
}

/// Deterministic functions of UTF-8 text.
pub(crate) fn flags() -> FunctionFlags {
    FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC
}

/// Registers `name(a, b)` computing `op`: NULL when either operand is NULL.
fn binary(
    conn: &Connection,
    name: &'static str,
    op: fn(&Decimal, &Decimal) -> rusqlite::Result<Decimal>,
) -> rusqlite::Result<()> {
    conn.create_scalar_function(name, 2, flags(), move |ctx| {
        let (a, b) = (operand(ctx, 0, name)?, operand(ctx, 1, name)?);
        match (a, b) {
            (Some(a), Some(b)) => op(&a, &b).map(|x| Some(x.to_string())),
            _ => Ok(None),
        }
    })
}

/// Argument `idx` of a call of `function`: `None` for NULL.
pub(crate) fn operand(
    ctx: &Context<'_>,
    idx: usize,
    function: &str,
) -> rusqlite::Result<Option<Decimal>> {
    let read = |text: &str| {
        Decimal::read(text).map_err(|e| {
            let quoted: String = text.chars().take(QUOTED_CHARS).collect();
            failure(match e {
                ReadError::NotADecimal => format!("{function}: not a decimal: '{quoted}'"),
                ReadError::TooManyDigits => format!(
                    "{function}: decimal out of range (more than {MAX_DIGITS} digits): '{quoted}'"
                ),
            })
        })
    };
    match ctx.get_raw(idx) {
        ValueRef::Null => Ok(None),
        ValueRef::Integer(i) => read(&i.to_string()).map(Some),
        ValueRef::Real(f) => read(&f.to_string()).map(Some),
        ValueRef::Text(bytes) => read(&String::from_utf8_lossy(bytes)).map(Some),
        ValueRef::Blob(_) => Err(failure(format!("{function}: not a decimal: a BLOB"))),
    }
}

/// An error the statement fails with: SQLITE_ERROR and `message`.
pub(crate) fn failure(message: String) -> rusqlite::Error {
    rusqlite::Error::SqliteFailure(ffi::Error::new(ffi::SQLITE_ERROR), Some(message))
}

/// Whether an SQLITE_ERROR message comes from these functions (so the error is the
/// data's fault, not the SQL's).
pub fn is_decimal_error(message: &str) -> bool {
    message == DIVISION_BY_ZERO || message.starts_with("ormkit_dec_")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mem() -> Connection {
        let conn = Connection::open_in_memory().expect("open");
        register(&conn).expect("register");
        conn
    }

    fn one(conn: &Connection, sql: &str) -> rusqlite::Result<Option<String>> {
        conn.query_row(sql, [], |r| r.get(0))
    }

    fn text(conn: &Connection, sql: &str) -> String {
        one(conn, sql)
            .expect(sql)
            .unwrap_or_else(|| "NULL".to_owned())
    }

    fn message(conn: &Connection, sql: &str) -> String {
        match one(conn, sql) {
            Err(rusqlite::Error::SqliteFailure(e, Some(m))) => {
                assert_eq!(e.code, rusqlite::ErrorCode::Unknown, "{sql}");
                m
            }
            other => panic!("{sql}: {other:?}"),
        }
    }

    #[test]
    fn scalar_functions_compute_exactly() {
        let c = mem();
        for (sql, want) in [
            ("SELECT ormkit_dec_add('0.1', '0.2')", "0.3"),
            (
                "SELECT ormkit_dec_add('12345678901234567890.01', '0.30')",
                "12345678901234567890.31",
            ),
            ("SELECT ormkit_dec_sub('1', '0.01')", "0.99"),
            ("SELECT ormkit_dec_mul('1.10', 3)", "3.30"),
            ("SELECT ormkit_dec_div(1, 3)", "0.33333333333333333333"),
            ("SELECT ormkit_dec_div(10, 4)", "2.5"),
            ("SELECT ormkit_dec_div('2.00', 1)", "2.00"),
            ("SELECT ormkit_dec_neg('-3.50')", "3.50"),
            ("SELECT ormkit_dec_neg(0)", "0"),
            ("SELECT ormkit_dec_add(0.1, 0.2)", "0.3"),
            (
                "SELECT ormkit_dec_add(9223372036854775807, 1)",
                "9223372036854775808",
            ),
            ("SELECT ormkit_dec_add('1E+5', 1)", "100001"),
            ("SELECT ormkit_dec_add('Infinity', '-Infinity')", "NaN"),
            ("SELECT ormkit_dec_mul('Infinity', 0)", "NaN"),
            ("SELECT ormkit_dec_sub('NaN', 1)", "NaN"),
            ("SELECT ormkit_dec_add(NULL, 1)", "NULL"),
            ("SELECT ormkit_dec_div(1, NULL)", "NULL"),
            ("SELECT ormkit_dec_neg(NULL)", "NULL"),
            ("SELECT typeof(ormkit_dec_add(1, 2))", "text"),
        ] {
            assert_eq!(text(&c, sql), want, "{sql}");
        }
    }

    #[test]
    fn update_stores_the_exact_sum() {
        let c = mem();
        c.execute_batch(
            "CREATE TABLE a (bal TEXT); INSERT INTO a VALUES ('0.1');
             UPDATE a SET bal = ormkit_dec_add(bal, '0.2');",
        )
        .expect("update");
        assert_eq!(text(&c, "SELECT bal FROM a"), "0.3");
    }

    #[test]
    fn errors_name_the_function_and_the_operand() {
        let c = mem();
        assert_eq!(
            message(&c, "SELECT ormkit_dec_div(1, '0.00')"),
            "division by zero"
        );
        assert_eq!(
            message(&c, "SELECT ormkit_dec_add('abc', 1)"),
            "ormkit_dec_add: not a decimal: 'abc'"
        );
        assert_eq!(
            message(&c, "SELECT ormkit_dec_mul(1, '1,5')"),
            "ormkit_dec_mul: not a decimal: '1,5'"
        );
        assert_eq!(
            message(
                &c,
                "SELECT ormkit_dec_neg(replace(hex(zeroblob(25)), '0', 'x'))"
            ),
            format!("ormkit_dec_neg: not a decimal: '{}'", "x".repeat(40))
        );
        assert_eq!(
            message(&c, "SELECT ormkit_dec_sub(x'01', 1)"),
            "ormkit_dec_sub: not a decimal: a BLOB"
        );
        assert_eq!(
            message(&c, "SELECT ormkit_dec_add('1E+999999999', 1)"),
            "ormkit_dec_add: decimal out of range (more than 10000 digits): '1E+999999999'"
        );
    }

    #[test]
    fn errors_are_data_errors_for_ormkit() {
        let c = mem();
        let err = one(&c, "SELECT ormkit_dec_div(1, 0)").expect_err("fails");
        let mapped = super::super::errors::map(err);
        assert_eq!(mapped.kind, crate::error::ErrorKind::Data);
        assert_eq!(mapped.message, "division by zero");
    }
}
