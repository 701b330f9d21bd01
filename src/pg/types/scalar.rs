//! Binary codecs of the scalar types.

use super::{mismatch, numeric, oid::*};
use crate::error::{Error, Result};
use crate::value::Value;

fn malformed(oid: u32) -> Error {
    Error::interface(format!(
        "malformed {} value from the server",
        super::type_name(oid)
    ))
}

fn fixed<const N: usize>(raw: &[u8], oid: u32) -> Result<[u8; N]> {
    raw.try_into().map_err(|_| malformed(oid))
}

fn utf8(raw: &[u8], oid: u32) -> Result<String> {
    std::str::from_utf8(raw)
        .map(str::to_owned)
        .map_err(|_| malformed(oid))
}

/// Decodes a binary scalar of type `oid`.
pub fn decode(oid: u32, raw: &[u8]) -> Result<Value> {
    Ok(match oid {
        BOOL => match fixed::<1>(raw, oid)? {
            [0] => Value::Bool(false),
            [1] => Value::Bool(true),
            _ => return Err(malformed(oid)),
        },
        INT2 => Value::Int(i16::from_be_bytes(fixed(raw, oid)?).into()),
        INT4 => Value::Int(i32::from_be_bytes(fixed(raw, oid)?).into()),
        INT8 => Value::Int(i64::from_be_bytes(fixed(raw, oid)?)),
        OID => Value::Int(u32::from_be_bytes(fixed(raw, oid)?).into()),
        FLOAT4 => Value::Float(f32::from_be_bytes(fixed(raw, oid)?).into()),
        FLOAT8 => Value::Float(f64::from_be_bytes(fixed(raw, oid)?)),
        NUMERIC => Value::Decimal(numeric::decode(raw)?),
        BYTEA => Value::Bytes(raw.to_vec()),
        DATE => Value::Date(i32::from_be_bytes(fixed(raw, oid)?)),
        TIME => Value::Time(i64::from_be_bytes(fixed(raw, oid)?)),
        TIMETZ => {
            let b: [u8; 12] = fixed(raw, oid)?;
            let micros = i64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
            // PostgreSQL sends the zone as seconds *west* of UTC.
            let west = i32::from_be_bytes([b[8], b[9], b[10], b[11]]);
            Value::TimeTz(micros, west.checked_neg().ok_or_else(|| malformed(oid))?)
        }
        TIMESTAMP => Value::Timestamp(i64::from_be_bytes(fixed(raw, oid)?)),
        TIMESTAMPTZ => Value::TimestampTz(i64::from_be_bytes(fixed(raw, oid)?)),
        INTERVAL => {
            let b: [u8; 16] = fixed(raw, oid)?;
            Value::Interval {
                micros: i64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]),
                days: i32::from_be_bytes([b[8], b[9], b[10], b[11]]),
                months: i32::from_be_bytes([b[12], b[13], b[14], b[15]]),
            }
        }
        UUID => Value::Uuid(fixed(raw, oid)?),
        JSON => Value::Json(utf8(raw, oid)?),
        JSONB => match raw.split_first() {
            Some((1, rest)) => Value::Json(utf8(rest, oid)?),
            _ => return Err(malformed(oid)),
        },
        // Text types, and anything else the server chose to send as binary.
        _ => Value::Text(utf8(raw, oid)?),
    })
}

fn out_of_range(v: impl std::fmt::Display, oid: u32) -> Error {
    Error::data(format!(
        "value {v} out of range for {}",
        super::type_name(oid)
    ))
}

fn no_nul<'a>(s: &'a str, what: &str) -> Result<&'a str> {
    if s.contains('\0') {
        Err(Error::data(format!(
            "{what} value contains a NUL character, which PostgreSQL cannot store"
        )))
    } else {
        Ok(s)
    }
}

/// Appends the binary encoding of `value` for a parameter of scalar type `oid`.
pub fn encode(value: &Value, oid: u32, buf: &mut Vec<u8>) -> Result<()> {
    match (oid, value) {
        (BOOL, Value::Bool(b)) => buf.push(u8::from(*b)),
        (INT2, Value::Int(i)) => {
            let v = i16::try_from(*i).map_err(|_| out_of_range(i, oid))?;
            buf.extend_from_slice(&v.to_be_bytes());
        }
        (INT4, Value::Int(i)) => {
            let v = i32::try_from(*i).map_err(|_| out_of_range(i, oid))?;
            buf.extend_from_slice(&v.to_be_bytes());
        }
        (INT8, Value::Int(i)) => buf.extend_from_slice(&i.to_be_bytes()),
        (OID, Value::Int(i)) => {
            let v = u32::try_from(*i).map_err(|_| out_of_range(i, oid))?;
            buf.extend_from_slice(&v.to_be_bytes());
        }
        (FLOAT4, Value::Float(_) | Value::Int(_)) => {
            let f = as_f64(value);
            let narrow = f as f32;
            if f.is_finite() && !narrow.is_finite() {
                return Err(out_of_range(f, oid));
            }
            buf.extend_from_slice(&narrow.to_be_bytes());
        }
        (FLOAT8, Value::Float(_) | Value::Int(_)) => {
            buf.extend_from_slice(&as_f64(value).to_be_bytes())
        }
        (NUMERIC, Value::Decimal(s)) => numeric::encode(s, buf)?,
        (NUMERIC, Value::Int(i)) => numeric::encode(&i.to_string(), buf)?,
        (NUMERIC, Value::Float(f)) => numeric::encode(&float_text(*f), buf)?,
        (TEXT | VARCHAR | BPCHAR | NAME | UNKNOWN, Value::Text(s)) => {
            buf.extend_from_slice(no_nul(s, "text")?.as_bytes())
        }
        (BYTEA, Value::Bytes(b)) => buf.extend_from_slice(b),
        (DATE, Value::Date(d)) => buf.extend_from_slice(&date_or_infinity(*d).to_be_bytes()),
        (TIME, Value::Time(t)) => buf.extend_from_slice(&t.to_be_bytes()),
        (TIMETZ, Value::TimeTz(t, east)) => {
            let west = east.checked_neg().ok_or_else(|| out_of_range(east, oid))?;
            buf.extend_from_slice(&t.to_be_bytes());
            buf.extend_from_slice(&west.to_be_bytes());
        }
        (TIMESTAMP, Value::Timestamp(t)) => {
            buf.extend_from_slice(&timestamp_or_infinity(*t).to_be_bytes())
        }
        // A naive datetime given for timestamptz is taken as UTC.
        (TIMESTAMPTZ, Value::TimestampTz(t) | Value::Timestamp(t)) => {
            buf.extend_from_slice(&timestamp_or_infinity(*t).to_be_bytes())
        }
        (
            INTERVAL,
            Value::Interval {
                months,
                days,
                micros,
            },
        ) => {
            buf.extend_from_slice(&micros.to_be_bytes());
            buf.extend_from_slice(&days.to_be_bytes());
            buf.extend_from_slice(&months.to_be_bytes());
        }
        (UUID, Value::Uuid(u)) => buf.extend_from_slice(u),
        (JSON, Value::Json(s)) => buf.extend_from_slice(no_nul(s, "JSON")?.as_bytes()),
        (JSONB, Value::Json(s)) => {
            buf.push(1);
            buf.extend_from_slice(no_nul(s, "JSON")?.as_bytes());
        }
        _ => return Err(mismatch(value, oid)),
    }
    Ok(())
}

// Python's `date.max`/`date.min` and `datetime.max`/`datetime.min` stand for
// PostgreSQL's `infinity`/`-infinity`: the decoder reads those back as them, so a value
// read and written back stays what it was. Days and microseconds from 2000-01-01.
const DATE_MAX: i32 = 2_921_939;
const DATE_MIN: i32 = -730_119;
const TIMESTAMP_MAX: i64 = 252_455_615_999_999_999;
const TIMESTAMP_MIN: i64 = -63_082_281_600_000_000;

fn date_or_infinity(days: i32) -> i32 {
    match days {
        DATE_MAX => i32::MAX,
        DATE_MIN => i32::MIN,
        d => d,
    }
}

fn timestamp_or_infinity(micros: i64) -> i64 {
    match micros {
        TIMESTAMP_MAX => i64::MAX,
        TIMESTAMP_MIN => i64::MIN,
        t => t,
    }
}

fn as_f64(value: &Value) -> f64 {
    match value {
        Value::Int(i) => *i as f64,
        Value::Float(f) => *f,
        _ => f64::NAN,
    }
}

/// Text form of a float that PostgreSQL's numeric and float input accept.
pub fn float_text(f: f64) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f.is_infinite() {
        if f > 0.0 { "Infinity" } else { "-Infinity" }.into()
    } else {
        // Display gives the shortest text that reads back as the same f64.
        format!("{f}")
    }
}
