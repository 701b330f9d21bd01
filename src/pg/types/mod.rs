//! Conversion between [`Value`] and PostgreSQL's wire formats.
//!
//! Results: columns whose type has a binary codec ([`has_binary_codec`]) are
//! requested in binary and decoded by [`decode`]; all others arrive as text
//! and become `Value::Text` (enums, inet, ...). Text-format columns of known
//! types (the simple protocol) are parsed where cheap, see [`text`].
//!
//! Parameters: the server infers each parameter's type (ParameterDescription)
//! and [`param_format`] / [`encode_param`] encode the value for it. A
//! `Value::Text` given for a non-text type (an enum, an int written as text)
//! and any value for a type we have no codec for go in text format and are
//! parsed by the server. A value that cannot become the inferred type is a
//! `DataError` naming both, raised before anything is sent.

mod array;
mod numeric;
pub mod oid;
mod scalar;
mod text;

pub use oid::{has_binary_codec, type_name};

use crate::error::{Error, Result};
use crate::pg::protocol::frontend::IsNull;
use crate::value::rows::{Cell, Rows, TextKind};
use crate::value::Value;

/// Format code of text values.
pub const FORMAT_TEXT: i16 = 0;
/// Format code of binary values.
pub const FORMAT_BINARY: i16 = 1;

/// The result format to request for a column of type `oid`.
pub fn result_format(oid: u32) -> i16 {
    if has_binary_codec(oid) {
        FORMAT_BINARY
    } else {
        FORMAT_TEXT
    }
}

/// Decodes one non-NULL column value received in `format`.
pub fn decode(oid: u32, format: i16, raw: &[u8]) -> Result<Value> {
    if format == FORMAT_BINARY {
        if let Some(element) = oid::array_element(oid) {
            return array::decode(element, raw);
        }
        scalar::decode(oid, raw)
    } else {
        text::decode(oid, raw)
    }
}

/// Decodes a column that may be NULL.
pub fn decode_column(oid: u32, format: i16, raw: Option<&[u8]>) -> Result<Value> {
    match raw {
        None => Ok(Value::Null),
        Some(raw) => decode(oid, format, raw),
    }
}

/// How the values of one result column are decoded, chosen once per statement so
/// that a row is decoded without looking its column types up again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decoder {
    Bool,
    Int2,
    Int4,
    Int8,
    Oid,
    Float4,
    Float8,
    Date,
    Time,
    Timestamp,
    TimestampTz,
    /// Text types, and any other type the server sends as binary text.
    Text(u32),
    Bytea,
    Uuid,
    Json,
    Jsonb,
    /// Everything else, through [`decode`]: numeric, arrays, intervals, text format.
    Other(u32, i16),
}

impl Decoder {
    /// The decoder of a column of type `oid` received in `format`.
    pub fn new(oid: u32, format: i16) -> Decoder {
        if format != FORMAT_BINARY {
            // Text format: the types `text::decode` parses, else the text as it is.
            return match oid {
                oid::INT2
                | oid::INT4
                | oid::INT8
                | oid::OID
                | oid::FLOAT4
                | oid::FLOAT8
                | oid::BOOL
                | oid::NUMERIC
                | oid::JSON
                | oid::JSONB
                | oid::BYTEA
                | oid::UUID => Decoder::Other(oid, format),
                _ => Decoder::Text(oid),
            };
        }
        match oid {
            oid::BOOL => Decoder::Bool,
            oid::INT2 => Decoder::Int2,
            oid::INT4 => Decoder::Int4,
            oid::INT8 => Decoder::Int8,
            oid::OID => Decoder::Oid,
            oid::FLOAT4 => Decoder::Float4,
            oid::FLOAT8 => Decoder::Float8,
            oid::DATE => Decoder::Date,
            oid::TIME => Decoder::Time,
            oid::TIMESTAMP => Decoder::Timestamp,
            oid::TIMESTAMPTZ => Decoder::TimestampTz,
            oid::BYTEA => Decoder::Bytea,
            oid::UUID => Decoder::Uuid,
            oid::JSON => Decoder::Json,
            oid::JSONB => Decoder::Jsonb,
            oid::NUMERIC | oid::INTERVAL | oid::TIMETZ => Decoder::Other(oid, format),
            _ if oid::array_element(oid).is_some() => Decoder::Other(oid, format),
            _ => Decoder::Text(oid),
        }
    }

    fn oid(self) -> u32 {
        match self {
            Decoder::Bool => oid::BOOL,
            Decoder::Int2 => oid::INT2,
            Decoder::Int4 => oid::INT4,
            Decoder::Int8 => oid::INT8,
            Decoder::Oid => oid::OID,
            Decoder::Float4 => oid::FLOAT4,
            Decoder::Float8 => oid::FLOAT8,
            Decoder::Date => oid::DATE,
            Decoder::Time => oid::TIME,
            Decoder::Timestamp => oid::TIMESTAMP,
            Decoder::TimestampTz => oid::TIMESTAMPTZ,
            Decoder::Bytea => oid::BYTEA,
            Decoder::Uuid => oid::UUID,
            Decoder::Json => oid::JSON,
            Decoder::Jsonb => oid::JSONB,
            Decoder::Text(oid) | Decoder::Other(oid, _) => oid,
        }
    }

    /// Decodes one value (None: SQL NULL) and appends it to `rows`. On error nothing
    /// was appended.
    #[inline]
    pub fn decode_into(self, raw: Option<&[u8]>, rows: &mut Rows) -> Result<()> {
        let Some(raw) = raw else {
            rows.push(Cell::Null);
            return Ok(());
        };
        let bad = || malformed(self.oid());
        let cell = match self {
            Decoder::Bool => match raw {
                [0] => Cell::Bool(false),
                [1] => Cell::Bool(true),
                _ => return Err(bad()),
            },
            Decoder::Int2 => Cell::Int(i16::from_be_bytes(fixed(raw).ok_or_else(bad)?).into()),
            Decoder::Int4 => Cell::Int(i32::from_be_bytes(fixed(raw).ok_or_else(bad)?).into()),
            Decoder::Int8 => Cell::Int(i64::from_be_bytes(fixed(raw).ok_or_else(bad)?)),
            Decoder::Oid => Cell::Int(u32::from_be_bytes(fixed(raw).ok_or_else(bad)?).into()),
            Decoder::Float4 => Cell::Float(f32::from_be_bytes(fixed(raw).ok_or_else(bad)?).into()),
            Decoder::Float8 => Cell::Float(f64::from_be_bytes(fixed(raw).ok_or_else(bad)?)),
            Decoder::Date => Cell::Date(i32::from_be_bytes(fixed(raw).ok_or_else(bad)?)),
            Decoder::Time => Cell::Time(i64::from_be_bytes(fixed(raw).ok_or_else(bad)?)),
            Decoder::Timestamp => Cell::Timestamp(i64::from_be_bytes(fixed(raw).ok_or_else(bad)?)),
            Decoder::TimestampTz => {
                Cell::TimestampTz(i64::from_be_bytes(fixed(raw).ok_or_else(bad)?))
            }
            Decoder::Text(_) => {
                return push_utf8(rows, raw, TextKind::Text).ok_or_else(bad);
            }
            Decoder::Json => return push_utf8(rows, raw, TextKind::Json).ok_or_else(bad),
            Decoder::Jsonb => match raw.split_first() {
                Some((1, rest)) => return push_utf8(rows, rest, TextKind::Json).ok_or_else(bad),
                _ => return Err(bad()),
            },
            Decoder::Bytea => {
                rows.push_bytes(raw);
                return Ok(());
            }
            Decoder::Uuid => {
                rows.push_uuid(&fixed(raw).ok_or_else(bad)?);
                return Ok(());
            }
            Decoder::Other(oid, format) => {
                rows.push_value(decode(oid, format, raw)?);
                return Ok(());
            }
        };
        rows.push(cell);
        Ok(())
    }
}

#[inline]
fn push_utf8(rows: &mut Rows, raw: &[u8], kind: TextKind) -> Option<()> {
    rows.push_utf8(raw, kind).then_some(())
}

#[inline]
fn fixed<const N: usize>(raw: &[u8]) -> Option<[u8; N]> {
    raw.try_into().ok()
}

fn malformed(oid: u32) -> Error {
    Error::interface(format!(
        "malformed {} value from the server",
        type_name(oid)
    ))
}

/// The format `value` will be sent in for a parameter of type `oid`.
pub fn param_format(value: &Value, oid: u32) -> i16 {
    if sends_as_text(value, oid) {
        FORMAT_TEXT
    } else {
        FORMAT_BINARY
    }
}

/// A list, number or bool sent to a json/jsonb parameter becomes that JSON document.
fn as_json_document(value: &Value, oid: u32) -> Option<Result<String>> {
    if oid != oid::JSON && oid != oid::JSONB {
        return None;
    }
    match value {
        Value::Array(_) | Value::Int(_) | Value::Float(_) | Value::Bool(_) | Value::Decimal(_) => {
            Some(crate::value::to_json_text(value).ok_or_else(|| {
                Error::data("the value holds something JSON cannot store (bytes, NaN or infinity)")
            }))
        }
        _ => None,
    }
}

fn sends_as_text(value: &Value, oid: u32) -> bool {
    if matches!(as_json_document(value, oid), Some(Ok(_))) {
        return false;
    }
    match value {
        Value::Null => false,
        Value::Text(_) => !oid::is_text(oid),
        Value::Array(items) => match oid::array_element(oid) {
            Some(element) => items.iter().any(|v| sends_as_text(v, element)),
            None => true,
        },
        _ => !has_binary_codec(oid),
    }
}

/// The error for a value that cannot be sent as type `oid`.
pub(crate) fn mismatch(value: &Value, oid: u32) -> Error {
    Error::data(format!(
        "cannot convert Python {} to PostgreSQL {}",
        value.kind_name(),
        type_name(oid)
    ))
}

/// Appends `value` encoded for a parameter of type `oid`, in the format
/// [`param_format`] chose.
pub fn encode_param(value: &Value, oid: u32, buf: &mut Vec<u8>) -> Result<IsNull> {
    if value.is_null() {
        return Ok(IsNull::Yes);
    }
    if let Some(json) = as_json_document(value, oid) {
        scalar::encode(&Value::Json(json?), oid, buf)?;
        return Ok(IsNull::No);
    }
    if sends_as_text(value, oid) {
        text::encode(value, oid, buf)?;
    } else if let (Some(element), Value::Array(items)) = (oid::array_element(oid), value) {
        array::encode(element, items, buf)?;
    } else {
        scalar::encode(value, oid, buf)?;
    }
    Ok(IsNull::No)
}

#[cfg(test)]
mod tests;
