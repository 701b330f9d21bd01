//! A list of parameters as one JSON array of their SQLite storage, for a long IN list
//! sent as `IN (SELECT value FROM json_each(?))`: each item is what binding the value
//! alone would store (ISO-8601 text for temporals, exact text for decimals, integer
//! microseconds for intervals, 0/1 for bools), so the rows compare as with one
//! parameter per value. Blobs, which JSON cannot hold, are hex text (read back with
//! `unhex(value)`); a list mixing them with other values is refused.

use crate::error::{Error, Result};
use crate::sqlite::types::to_sqlite;
use crate::value::{write_json_string, Value};
use rusqlite::types::{ToSqlOutput, Value as SqlValue, ValueRef};
use std::fmt::Write;

/// The JSON array of `values` as stored, and whether its items are blobs as hex.
pub fn stored_json(values: &[Value]) -> Result<(String, bool)> {
    let mut out = String::with_capacity(values.len() * 8 + 2);
    out.push('[');
    let mut blobs = 0usize;
    for (i, value) in values.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let stored = to_sqlite(value)?;
        let item = match &stored {
            ToSqlOutput::Borrowed(item) => *item,
            ToSqlOutput::Owned(owned) => owned_ref(owned),
            _ => {
                return Err(Error::data(
                    "a parameter SQLite stores in an unexpected form",
                ))
            }
        };
        match item {
            ValueRef::Null => out.push_str("null"),
            ValueRef::Integer(n) => {
                let _ = write!(out, "{n}");
            }
            ValueRef::Real(f) if f.is_finite() => {
                let _ = write!(out, "{f:?}");
            }
            ValueRef::Real(_) => return Err(Error::data("an infinite float (JSON has none)")),
            ValueRef::Text(bytes) => {
                let text = std::str::from_utf8(bytes)
                    .map_err(|_| Error::data("a text parameter that is not UTF-8"))?;
                write_json_string(text, &mut out);
            }
            ValueRef::Blob(bytes) => {
                blobs += 1;
                out.push('"');
                for b in bytes {
                    let _ = write!(out, "{b:02x}");
                }
                out.push('"');
            }
        }
    }
    out.push(']');
    if blobs != 0 && blobs != values.len() {
        return Err(Error::data("bytes mixed with values of other types"));
    }
    Ok((out, blobs != 0))
}

fn owned_ref(value: &SqlValue) -> ValueRef<'_> {
    match value {
        SqlValue::Null => ValueRef::Null,
        SqlValue::Integer(n) => ValueRef::Integer(*n),
        SqlValue::Real(f) => ValueRef::Real(*f),
        SqlValue::Text(s) => ValueRef::Text(s.as_bytes()),
        SqlValue::Blob(b) => ValueRef::Blob(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_are_the_stored_forms() {
        let values = [
            Value::Int(-3),
            Value::Bool(true),
            Value::Float(0.5),
            Value::Text("a\"b".into()),
            Value::Decimal("1.50".into()),
            Value::Timestamp(0),
            Value::TimestampTz(1),
            Value::Interval {
                months: 0,
                days: 1,
                micros: 2,
            },
        ];
        let (json, blobs) = stored_json(&values).expect("stored");
        assert!(!blobs);
        assert_eq!(
            json,
            r#"[-3,1,0.5,"a\"b","1.50","2000-01-01 00:00:00","2000-01-01 00:00:00.000001+00:00",86400000002]"#
        );
    }

    #[test]
    fn blobs_are_hex_and_not_mixed() {
        let (json, blobs) =
            stored_json(&[Value::Bytes(vec![0, 255]), Value::Bytes(vec![])]).expect("blobs");
        assert_eq!((json.as_str(), blobs), (r#"["00ff",""]"#, true));
        assert!(stored_json(&[Value::Bytes(vec![1]), Value::Int(1)]).is_err());
        assert!(stored_json(&[Value::Float(f64::INFINITY)]).is_err());
        assert!(stored_json(&[Value::Float(f64::NAN)]).is_err());
    }
}
