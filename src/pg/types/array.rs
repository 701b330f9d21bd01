//! Binary arrays: header (ndim, has-null flag, element OID), one (length,
//! lower bound) pair per dimension, then the elements (-1 length = NULL).
//! Multi-dimensional results decode as nested lists; we send one dimension.

use super::{mismatch, scalar, type_name};
use crate::error::{Error, Result};
use crate::value::Value;

/// PostgreSQL's limit on array dimensions.
const MAX_DIMS: usize = 6;

fn malformed() -> Error {
    Error::interface("malformed array value from the server")
}

struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn i32(&mut self) -> Result<i32> {
        let (head, rest) = self.0.split_at_checked(4).ok_or_else(malformed)?;
        self.0 = rest;
        Ok(i32::from_be_bytes([head[0], head[1], head[2], head[3]]))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let (head, rest) = self.0.split_at_checked(n).ok_or_else(malformed)?;
        self.0 = rest;
        Ok(head)
    }
}

/// Decodes a binary array whose elements should be of type `element`.
pub fn decode(element: u32, raw: &[u8]) -> Result<Value> {
    let mut c = Cursor(raw);
    let ndim = usize::try_from(c.i32()?).map_err(|_| malformed())?;
    let _has_null = c.i32()?;
    let elem_oid = c.i32()? as u32;
    if ndim > MAX_DIMS {
        return Err(malformed());
    }
    if ndim > 0 && elem_oid != element {
        return Err(Error::interface(format!(
            "array of {} where {} was expected",
            type_name(elem_oid),
            type_name(element)
        )));
    }
    let mut dims = Vec::with_capacity(ndim);
    let mut total: usize = 1;
    for _ in 0..ndim {
        let len = usize::try_from(c.i32()?).map_err(|_| malformed())?;
        let _lower_bound = c.i32()?;
        total = total.checked_mul(len).ok_or_else(malformed)?;
        dims.push(len);
    }
    if ndim == 0 {
        total = 0;
    }
    // Every element takes at least its 4-byte length.
    if total > c.0.len() / 4 {
        return Err(malformed());
    }
    let mut flat = Vec::with_capacity(total);
    for _ in 0..total {
        let len = c.i32()?;
        if len == -1 {
            flat.push(Value::Null);
        } else {
            let len = usize::try_from(len).map_err(|_| malformed())?;
            flat.push(scalar::decode(element, c.take(len)?)?);
        }
    }
    if !c.0.is_empty() {
        return Err(malformed());
    }
    Ok(nest(flat, &dims))
}

/// Splits a flat row-major element list into nested lists per dimension.
fn nest(flat: Vec<Value>, dims: &[usize]) -> Value {
    match dims {
        [] | [_] => Value::Array(flat),
        [first, inner @ ..] => {
            let chunk: usize = inner.iter().product();
            let mut it = flat.into_iter();
            let rows = (0..*first)
                .map(|_| nest(it.by_ref().take(chunk).collect(), inner))
                .collect();
            Value::Array(rows)
        }
    }
}

/// Appends a one-dimensional binary array of `element` values.
pub fn encode(element: u32, items: &[Value], buf: &mut Vec<u8>) -> Result<()> {
    let len = i32::try_from(items.len()).map_err(|_| Error::data("array too large"))?;
    let has_null = items.iter().any(Value::is_null);
    buf.extend_from_slice(&i32::from(!items.is_empty()).to_be_bytes());
    buf.extend_from_slice(&i32::from(has_null).to_be_bytes());
    buf.extend_from_slice(&element.to_be_bytes());
    if !items.is_empty() {
        buf.extend_from_slice(&len.to_be_bytes());
        buf.extend_from_slice(&1i32.to_be_bytes());
    }
    for item in items {
        if item.is_null() {
            buf.extend_from_slice(&(-1i32).to_be_bytes());
            continue;
        }
        if matches!(item, Value::Array(_)) {
            return Err(Error::data(
                "multidimensional array parameters are not supported",
            ));
        }
        if super::param_format(item, element) != super::FORMAT_BINARY {
            return Err(mismatch(item, element));
        }
        let at = buf.len();
        buf.extend_from_slice(&[0; 4]);
        scalar::encode(item, element, buf)?;
        let n = i32::try_from(buf.len() - at - 4)
            .map_err(|_| Error::data("array element too large"))?;
        buf[at..at + 4].copy_from_slice(&n.to_be_bytes());
    }
    Ok(())
}
