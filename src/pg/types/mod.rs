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
