//! rusqlite errors -> the shared `Error`, classed by SQLite's primary result code.

use super::decimal_functions;
use crate::error::{Error, ErrorKind};
use rusqlite::ffi;

pub fn map(err: rusqlite::Error) -> Error {
    match err {
        rusqlite::Error::SqliteFailure(e, msg) => {
            let message = msg.unwrap_or_else(|| e.to_string());
            let kind = match e.code {
                rusqlite::ErrorCode::ConstraintViolation => ErrorKind::Integrity,
                rusqlite::ErrorCode::DatabaseBusy
                | rusqlite::ErrorCode::DatabaseLocked
                | rusqlite::ErrorCode::SystemIoFailure
                | rusqlite::ErrorCode::CannotOpen
                | rusqlite::ErrorCode::DiskFull
                | rusqlite::ErrorCode::OperationInterrupted
                | rusqlite::ErrorCode::OutOfMemory
                | rusqlite::ErrorCode::ReadOnly
                | rusqlite::ErrorCode::FileLockingProtocolFailed
                | rusqlite::ErrorCode::PermissionDenied => ErrorKind::Operational,
                rusqlite::ErrorCode::TooBig | rusqlite::ErrorCode::TypeMismatch => ErrorKind::Data,
                rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase => {
                    ErrorKind::Database
                }
                rusqlite::ErrorCode::InternalMalfunction => ErrorKind::Internal,
                rusqlite::ErrorCode::ApiMisuse => ErrorKind::Interface,
                _ if e.extended_code == ffi::SQLITE_ERROR => classify_generic(&message),
                _ => ErrorKind::Database,
            };
            let mut out = Error::new(kind, message);
            out.sqlstate = Some(format!("SQLITE_{}", e.extended_code));
            if kind == ErrorKind::Integrity {
                name_constraint_parts(&mut out);
            }
            out
        }
        rusqlite::Error::SqlInputError {
            error,
            msg,
            sql,
            offset,
        } => {
            // The statement itself travels with the exception (shortened when shown);
            // the message names the place: at most 40 characters from the offset.
            let near = usize::try_from(offset)
                .ok()
                .and_then(|at| sql.get(at..))
                .map(|rest| rest.chars().take(40).collect::<String>())
                .unwrap_or_default();
            let mut out = if near.is_empty() {
                Error::programming(format!("{msg} at offset {offset}"))
            } else {
                Error::programming(format!("{msg} at offset {offset}, near {near:?}"))
            };
            out.position = u32::try_from(offset).ok();
            out.sqlstate = Some(format!("SQLITE_{}", error.extended_code));
            out
        }
        rusqlite::Error::InvalidParameterCount(got, expected) => {
            Error::parameter_count(expected, got)
        }
        rusqlite::Error::ToSqlConversionFailure(e) => Error::data(e.to_string()),
        rusqlite::Error::Utf8Error(_, e) => Error::data(e.to_string()),
        rusqlite::Error::NulError(e) => Error::data(format!("SQL text contains a NUL byte: {e}")),
        other => Error::interface(other.to_string()),
    }
}

/// What a constraint message names, as PostgreSQL's error fields carry it: SQLite says
/// `UNIQUE constraint failed: users.email` (also NOT NULL, PRIMARY KEY; several
/// `table.column`s for a composite key) or `CHECK constraint failed: name`. The table
/// goes in `table`, a single column in `column`, a CHECK constraint's name in
/// `constraint`.
fn name_constraint_parts(error: &mut Error) {
    let Some((what, named)) = error.message.split_once(" constraint failed: ") else {
        return;
    };
    if what == "CHECK" {
        error.constraint = Some(named.to_owned());
        return;
    }
    let mut tables = Vec::new();
    let mut columns = Vec::new();
    for part in named.split(", ") {
        let Some((table, column)) = part.split_once('.') else {
            return;
        };
        tables.push(table);
        columns.push(column);
    }
    if tables.iter().all(|t| Some(t) == tables.first()) {
        error.table = tables.first().map(|t| (*t).to_owned());
    }
    if let [column] = columns.as_slice() {
        error.column = Some((*column).to_owned());
    }
}

/// SQLITE_ERROR covers syntax errors, missing tables and more; all are the
/// caller's SQL being wrong, except a few run-time data problems (among them what the
/// `ormkit_dec_*` functions refuse: division by zero, text that is not a decimal).
fn classify_generic(message: &str) -> ErrorKind {
    if message.contains("datatype mismatch")
        || message.contains("too big")
        || decimal_functions::is_decimal_error(message)
    {
        ErrorKind::Data
    } else {
        ErrorKind::Programming
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        let conn = rusqlite::Connection::open_in_memory().expect("open");
        let err = conn.execute("SELEC 1", []).expect_err("syntax");
        assert_eq!(map(err).kind, ErrorKind::Programming);
        conn.execute("CREATE TABLE t (a INTEGER UNIQUE)", [])
            .expect("create");
        conn.execute("INSERT INTO t VALUES (1)", [])
            .expect("insert");
        let err = conn
            .execute("INSERT INTO t VALUES (1)", [])
            .expect_err("dup");
        let e = map(err);
        assert_eq!(e.kind, ErrorKind::Integrity);
        assert!(e.message.contains("UNIQUE"), "{}", e.message);
        assert_eq!(
            (e.table.as_deref(), e.column.as_deref()),
            (Some("t"), Some("a"))
        );
    }

    #[test]
    fn constraint_messages_name_their_parts() {
        let conn = rusqlite::Connection::open_in_memory().expect("open");
        conn.execute_batch(
            "CREATE TABLE p (a INTEGER, b INTEGER, n TEXT NOT NULL DEFAULT 'x', \
             c INTEGER CONSTRAINT positive CHECK (c > 0), UNIQUE (a, b)); \
             INSERT INTO p (a, b) VALUES (1, 2);",
        )
        .expect("schema");
        let fail = |sql: &str| map(conn.execute(sql, []).expect_err(sql));
        let pair = fail("INSERT INTO p (a, b) VALUES (1, 2)");
        assert_eq!((pair.table.as_deref(), pair.column), (Some("p"), None));
        let null = fail("INSERT INTO p (a, n) VALUES (5, NULL)");
        assert_eq!(null.column.as_deref(), Some("n"), "{null:?}");
        let check = fail("INSERT INTO p (c) VALUES (-1)");
        assert_eq!(check.constraint.as_deref(), Some("positive"), "{check:?}");
        assert_eq!(check.table, None);
    }

    #[test]
    fn errors_at_a_token_carry_the_result_code() {
        let conn = rusqlite::Connection::open_in_memory().expect("open");
        let e = map(conn.execute("SELEC 1", []).expect_err("syntax"));
        assert_eq!(e.sqlstate.as_deref(), Some("SQLITE_1"), "{e:?}");
        assert_eq!(e.position, Some(0));
        assert_eq!(
            e.message,
            r#"near "SELEC": syntax error at offset 0, near "SELEC 1""#
        );
        let long = format!(
            "SELECT 1 FROM nowhere WHERE x IN ({})",
            "1, ".repeat(5000) + "1"
        );
        let e = map(conn.execute(&long, []).expect_err("no table"));
        assert!(e.message.len() < 200, "{}", e.message);
    }
}
