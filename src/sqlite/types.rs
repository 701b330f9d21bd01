//! `Value` <-> SQLite storage classes. Types SQLite lacks are stored as text
//! (ISO-8601 temporals, decimals, UUIDs, JSON) or integers (bools, intervals as
//! microseconds); docs/types.md lists the choices.

use crate::error::{Error, Result};
use crate::value::rows::{Cell, Rows, TextKind};
use crate::value::{
    format_date, format_offset, format_time, format_timestamp, format_uuid, to_json_text, Value,
    MICROS_PER_DAY,
};
use rusqlite::types::{ToSqlOutput, Value as SqlValue, ValueRef};

/// The SQLite storage of one parameter.
pub fn to_sqlite(v: &Value) -> Result<ToSqlOutput<'_>> {
    Ok(match v {
        Value::Null => ToSqlOutput::Owned(SqlValue::Null),
        Value::Bool(b) => ToSqlOutput::Owned(SqlValue::Integer(i64::from(*b))),
        Value::Int(i) => ToSqlOutput::Owned(SqlValue::Integer(*i)),
        Value::Float(f) if f.is_nan() => {
            return Err(Error::data(
                "SQLite cannot store NaN (it would silently become NULL)",
            ))
        }
        Value::Float(f) => ToSqlOutput::Owned(SqlValue::Real(*f)),
        Value::Text(s) | Value::Decimal(s) | Value::Json(s) => {
            ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes()))
        }
        Value::Bytes(b) => ToSqlOutput::Borrowed(ValueRef::Blob(b)),
        Value::Date(d) => text(format_date(*d)),
        Value::Time(t) => text(format_time(*t)),
        Value::TimeTz(t, o) => text(format!("{}{}", format_time(*t), format_offset(*o))),
        Value::Timestamp(t) => text(format_timestamp(*t)),
        Value::TimestampTz(t) => text(format!("{}+00:00", format_timestamp(*t))),
        Value::Interval {
            months,
            days,
            micros,
        } => {
            let total = i64::from(*months)
                .checked_mul(30)
                .and_then(|d| d.checked_add(i64::from(*days)))
                .and_then(|d| d.checked_mul(MICROS_PER_DAY))
                .and_then(|d| d.checked_add(*micros))
                .ok_or_else(|| Error::data("interval out of range for SQLite storage"))?;
            ToSqlOutput::Owned(SqlValue::Integer(total))
        }
        Value::Uuid(u) => text(format_uuid(u)),
        Value::Array(_) => match to_json_text(v) {
            Some(json) => text(json),
            None => {
                return Err(Error::data(
                    "a list parameter holds a value JSON cannot store (bytes or NaN/inf)",
                ))
            }
        },
    })
}

fn text(s: String) -> ToSqlOutput<'static> {
    ToSqlOutput::Owned(SqlValue::Text(s))
}

/// Appends one SQLite column value as stored (text that is not UTF-8 as bytes).
pub fn push_value(rows: &mut Rows, v: ValueRef<'_>) {
    match v {
        ValueRef::Null => rows.push(Cell::Null),
        ValueRef::Integer(i) => rows.push(Cell::Int(i)),
        ValueRef::Real(f) => rows.push(Cell::Float(f)),
        ValueRef::Text(t) => {
            if !rows.push_utf8(t, TextKind::Text) {
                rows.push_bytes(t);
            }
        }
        ValueRef::Blob(b) => rows.push_bytes(b),
    }
}

/// Appends the first `ncols` columns of `row` to `rows` as one row. On an error the
/// row is left half pushed: the caller drops `rows`.
pub fn push_row(rows: &mut Rows, row: &rusqlite::Row<'_>, ncols: usize) -> Result<()> {
    for i in 0..ncols {
        push_value(rows, row.get_ref(i).map_err(super::errors::map)?);
    }
    rows.end_row();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(v: &Value) -> SqlValue {
        match to_sqlite(v) {
            Ok(ToSqlOutput::Owned(o)) => o,
            Ok(ToSqlOutput::Borrowed(ValueRef::Text(t))) => {
                SqlValue::Text(String::from_utf8_lossy(t).into_owned())
            }
            Ok(ToSqlOutput::Borrowed(ValueRef::Blob(b))) => SqlValue::Blob(b.to_vec()),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn storage_choices() {
        assert_eq!(stored(&Value::Bool(true)), SqlValue::Integer(1));
        assert_eq!(stored(&Value::Date(0)), SqlValue::Text("2000-01-01".into()));
        assert_eq!(
            stored(&Value::TimestampTz(1)),
            SqlValue::Text("2000-01-01 00:00:00.000001+00:00".into())
        );
        assert_eq!(
            stored(&Value::Interval {
                months: 0,
                days: 1,
                micros: 5
            }),
            SqlValue::Integer(MICROS_PER_DAY + 5)
        );
        assert_eq!(
            stored(&Value::Array(vec![Value::Int(1), Value::Null])),
            SqlValue::Text("[1,null]".into())
        );
        assert!(to_sqlite(&Value::Array(vec![Value::Float(f64::NAN)])).is_err());
    }

    #[test]
    fn values_read_into_compact_rows() {
        let mut rows = Rows::new(5);
        for v in [
            ValueRef::Null,
            ValueRef::Integer(-3),
            ValueRef::Real(1.5),
            ValueRef::Text("žluť".as_bytes()),
            ValueRef::Text(&[0xff, 0x00]), // not UTF-8: comes back as bytes
        ] {
            push_value(&mut rows, v);
        }
        rows.end_row();
        assert_eq!(
            rows[0].as_slice(),
            &[
                Value::Null,
                Value::Int(-3),
                Value::Float(1.5),
                Value::Text("žluť".into()),
                Value::Bytes(vec![0xff, 0])
            ]
        );
    }
}
