//! Text format: decoding text-format columns, and the text form of
//! parameters sent for types without a binary codec (enums, domains, inet...)
//! or given as `str` for a non-text type.
//!
//! Text-format columns of integer, float, boolean, numeric, JSON, bytea and
//! uuid type are parsed into their `Value`; every other type stays `Text`
//! (dates and timestamps only arrive as text through the simple protocol).

use super::{mismatch, oid::*, scalar::float_text};
use crate::error::{Error, Result};
use crate::value::Value;

fn malformed(oid: u32) -> Error {
    Error::interface(format!(
        "malformed {} text from the server",
        super::type_name(oid)
    ))
}

fn hex_digit(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn unhex(s: &[u8]) -> Option<Vec<u8>> {
    let pairs = s.chunks_exact(2);
    if !pairs.remainder().is_empty() {
        return None;
    }
    pairs
        .map(|p| Some(hex_digit(p[0])? << 4 | hex_digit(p[1])?))
        .collect()
}

/// Decodes a text-format column of type `oid`.
pub fn decode(oid: u32, raw: &[u8]) -> Result<Value> {
    let s = std::str::from_utf8(raw).map_err(|_| malformed(oid))?;
    Ok(match oid {
        INT2 | INT4 | INT8 | OID => Value::Int(s.parse().map_err(|_| malformed(oid))?),
        FLOAT4 | FLOAT8 => Value::Float(s.parse().map_err(|_| malformed(oid))?),
        BOOL => match s {
            "t" => Value::Bool(true),
            "f" => Value::Bool(false),
            _ => return Err(malformed(oid)),
        },
        NUMERIC => Value::Decimal(s.to_owned()),
        JSON | JSONB => Value::Json(s.to_owned()),
        BYTEA => match s.strip_prefix("\\x") {
            Some(hex) => Value::Bytes(unhex(hex.as_bytes()).ok_or_else(|| malformed(oid))?),
            None => Value::Bytes(raw.to_vec()),
        },
        UUID => {
            let hex: Vec<u8> = s.bytes().filter(|&b| b != b'-').collect();
            let bytes = unhex(&hex).ok_or_else(|| malformed(oid))?;
            Value::Uuid(bytes.try_into().map_err(|_| malformed(oid))?)
        }
        _ => Value::Text(s.to_owned()),
    })
}

/// The canonical text of a UUID.
pub fn uuid_text(u: &[u8; 16]) -> String {
    let mut s = String::with_capacity(36);
    for (i, b) in u.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            s.push('-');
        }
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// The text form of a scalar, or `None` when it has none we can send.
fn scalar_text(value: &Value) -> Option<String> {
    Some(match value {
        Value::Text(s) | Value::Decimal(s) | Value::Json(s) => s.clone(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => float_text(*f),
        Value::Bool(b) => if *b { "t" } else { "f" }.to_owned(),
        Value::Uuid(u) => uuid_text(u),
        Value::Bytes(b) => {
            let mut s = String::with_capacity(2 + 2 * b.len());
            s.push_str("\\x");
            for byte in b {
                s.push_str(&format!("{byte:02x}"));
            }
            s
        }
        _ => return None,
    })
}

/// Appends an array literal: `{"a","b",NULL}`.
fn array_literal(value: &Value, oid: u32, out: &mut String) -> Result<()> {
    match value {
        Value::Null => out.push_str("NULL"),
        Value::Array(items) => {
            out.push('{');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                array_literal(item, oid, out)?;
            }
            out.push('}');
        }
        other => {
            let text = scalar_text(other).ok_or_else(|| mismatch(other, oid))?;
            out.push('"');
            for c in text.chars() {
                if c == '"' || c == '\\' {
                    out.push('\\');
                }
                out.push(c);
            }
            out.push('"');
        }
    }
    Ok(())
}

/// Appends the text form of `value` for a parameter of type `oid`.
pub fn encode(value: &Value, oid: u32, buf: &mut Vec<u8>) -> Result<()> {
    let text = match value {
        Value::Array(_) => {
            let mut s = String::new();
            array_literal(value, oid, &mut s)?;
            s
        }
        other => scalar_text(other).ok_or_else(|| mismatch(other, oid))?,
    };
    if text.contains('\0') {
        return Err(Error::data(
            "text value contains a NUL character, which PostgreSQL cannot store",
        ));
    }
    buf.extend_from_slice(text.as_bytes());
    Ok(())
}
