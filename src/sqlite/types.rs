//! `Value` <-> SQLite storage classes. Types SQLite lacks are stored as text
//! (ISO-8601 temporals, decimals, UUIDs, JSON) or integers (bools, intervals as
//! microseconds); docs/types.md lists the choices.

use crate::error::{Error, Result};
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

/// The `Value` of one SQLite column value as stored.
pub fn from_sqlite(v: ValueRef<'_>) -> Value {
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Int(i),
        ValueRef::Real(f) => Value::Float(f),
        ValueRef::Text(t) => match std::str::from_utf8(t) {
            Ok(s) => Value::Text(s.to_owned()),
            Err(_) => Value::Bytes(t.to_vec()),
        },
        ValueRef::Blob(b) => Value::Bytes(b.to_vec()),
    }
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
    fn invalid_utf8_text_comes_back_as_bytes() {
        assert_eq!(
            from_sqlite(ValueRef::Text(&[0xff, 0x00])),
            Value::Bytes(vec![0xff, 0])
        );
    }
}
