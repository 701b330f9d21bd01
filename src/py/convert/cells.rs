//! Row cells to Python objects, with the per-column converters of `to_models`.
//!
//! Built-in values go straight to the interpreter's constructors (ints, floats, str
//! from the stored UTF-8, datetimes through the datetime C API). The converters that
//! turn SQLite storage into model types run in Rust where that is exact: 0/1 → bool,
//! ISO-8601 text → datetime/date/time (common shapes parsed here, the rest by
//! `fromisoformat`), UUIDs built without `UUID.__init__`, Enum members looked up by
//! value; Decimal and JSON still call `Decimal` and `json.loads`.

use super::objects::{new_object, plain_new};
use super::{
    cached_attr, date_to_py, decimal_type, json_loads, time_of_day, timestamp_to_py, to_py,
    uuid_type, DATETIME_FROMISO, DATE_FROMISO, TIME_FROMISO,
};
use crate::error::Error;
use crate::py::errors::to_pyerr_plain;
use crate::value::iso::{self, TimeParts};
use crate::value::rows::{Cell, Rows};
use crate::value::Value;
use pyo3::exceptions::PyTypeError;
use pyo3::ffi;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{
    PyBool, PyBytes, PyDate, PyDateTime, PyDelta, PyDict, PyFloat, PyString, PyTime, PyTuple,
    PyType, PyTzInfo,
};

/// A `str` from UTF-8 bytes.
#[inline]
pub fn py_str<'py>(py: Python<'py>, b: &[u8]) -> PyResult<Bound<'py, PyAny>> {
    let len = isize::try_from(b.len())
        .map_err(|_| to_pyerr_plain(&Error::data("text value too large")))?;
    if b.is_ascii() {
        // SAFETY: `PyUnicode_New(len, 127)` makes a compact ASCII string with room for
        // `len` one-byte characters (or returns NULL with an exception set, checked by
        // `from_owned_ptr_or_err`); we fill exactly those `len` bytes from `b`, all
        // below 128 as the maximum character promised, before anyone sees the string.
        unsafe {
            let s = Bound::from_owned_ptr_or_err(py, ffi::PyUnicode_New(len, 127))?;
            std::ptr::copy_nonoverlapping(
                b.as_ptr(),
                ffi::PyUnicode_1BYTE_DATA(s.as_ptr()),
                b.len(),
            );
            return Ok(s);
        }
    }
    // SAFETY: `b` outlives the call, which copies `len` bytes from it; the result is a
    // new reference or NULL with an exception set (invalid UTF-8 raises, never UB).
    unsafe {
        Bound::from_owned_ptr_or_err(py, ffi::PyUnicode_FromStringAndSize(b.as_ptr().cast(), len))
    }
}

/// One cell as the Python object of its type.
#[inline]
pub fn cell_to_py<'py>(py: Python<'py>, rows: &Rows, cell: Cell) -> PyResult<Bound<'py, PyAny>> {
    Ok(match cell {
        Cell::Null => py.None().into_bound(py),
        Cell::Bool(b) => PyBool::new(py, b).to_owned().into_any(),
        Cell::Int(i) => i.into_pyobject(py)?.into_any(),
        Cell::Float(f) => PyFloat::new(py, f).into_any(),
        Cell::Text(s) => py_str(py, rows.bytes(s))?,
        Cell::Timestamp(t) => timestamp_to_py(py, t, None)?,
        Cell::TimestampTz(t) => {
            let utc = PyTzInfo::utc(py)?.to_owned();
            timestamp_to_py(py, t, Some(&utc))?
        }
        Cell::Date(d) => date_to_py(py, d)?,
        Cell::Time(t) => {
            let (h, m, s, us) = time_of_day(t)?;
            PyTime::new(py, h as u8, m as u8, s as u8, us, None)?.into_any()
        }
        Cell::Bytes(s) => PyBytes::new(py, rows.bytes(s)).into_any(),
        Cell::Decimal(s) => decimal_type(py)?.call1((py_str(py, rows.bytes(s))?,))?,
        Cell::Json(s) => json_loads(py)?.call1((py_str(py, rows.bytes(s))?,))?,
        Cell::Uuid(s) => uuid_from_bytes(py, rows.bytes(s))?,
        Cell::Other(i) => match rows.other(i) {
            Some(v) => to_py(py, v)?,
            None => py.None().into_bound(py),
        },
    })
}

/// How one column's values become Python values (see `QueryResult.to_models`).
pub enum Conv<'py> {
    Plain,
    Bool,
    Json,
    Decimal,
    Uuid,
    DateTime,
    DateTimeTz,
    Date,
    Time,
    Timedelta,
    /// An Enum class: members looked up by value, the class called on a miss.
    Enum {
        cls: Bound<'py, PyAny>,
        members: Bound<'py, PyDict>,
    },
    /// Any other callable, called with each non-None value.
    Call(Bound<'py, PyAny>),
}

impl<'py> Conv<'py> {
    /// The converter of one item of a `converters` sequence.
    pub fn parse(item: &Bound<'py, PyAny>) -> PyResult<Conv<'py>> {
        if item.is_none() {
            return Ok(Conv::Plain);
        }
        if let Ok(tag) = item.cast::<PyString>() {
            return Ok(match tag.to_str()? {
                "bool" => Conv::Bool,
                "json" => Conv::Json,
                "decimal" => Conv::Decimal,
                "uuid" => Conv::Uuid,
                "datetime" => Conv::DateTime,
                "datetime_tz" => Conv::DateTimeTz,
                "date" => Conv::Date,
                "time" => Conv::Time,
                "timedelta" => Conv::Timedelta,
                unknown => {
                    return Err(to_pyerr_plain(&Error::interface(format!(
                        "unknown column converter {unknown:?}"
                    ))))
                }
            });
        }
        if !item.is_callable() {
            return Err(PyTypeError::new_err(
                "a converter is None, a converter name or a callable",
            ));
        }
        let py = item.py();
        if let Ok(ty) = item.cast::<PyType>() {
            if ty.is_subclass(super::enum_type(py)?)? {
                if let Ok(map) = ty.getattr(intern!(py, "_value2member_map_")) {
                    if let Ok(members) = map.cast_into::<PyDict>() {
                        return Ok(Conv::Enum {
                            cls: item.clone(),
                            members,
                        });
                    }
                }
            }
        }
        Ok(Conv::Call(item.clone()))
    }

    /// Converts one cell.
    #[inline]
    pub fn apply(&self, py: Python<'py>, rows: &Rows, cell: Cell) -> PyResult<Bound<'py, PyAny>> {
        if let (Conv::Plain, _) | (_, Cell::Null) = (self, cell) {
            return cell_to_py(py, rows, cell);
        }
        let text = |s| rows.str(s);
        match (self, cell) {
            (Conv::Bool, Cell::Int(i)) => Ok(PyBool::new(py, i != 0).to_owned().into_any()),
            (Conv::Json, Cell::Text(s)) => json_loads(py)?.call1((py_str(py, rows.bytes(s))?,)),
            (Conv::Decimal, Cell::Text(s)) => {
                decimal_type(py)?.call1((py_str(py, rows.bytes(s))?,))
            }
            (Conv::Decimal, Cell::Int(i)) => decimal_type(py)?.call1((i,)),
            (Conv::Decimal, Cell::Float(f)) => decimal_type(py)?.call1((f.to_string(),)),
            (Conv::Uuid, Cell::Text(s)) => match parse_uuid(rows.bytes(s)) {
                Some(u) => uuid_from_bytes(py, &u),
                None => uuid_type(py)?.call1((text(s),)),
            },
            (Conv::Uuid, Cell::Bytes(s)) => uuid_from_bytes(py, rows.bytes(s)),
            (Conv::DateTime | Conv::DateTimeTz, Cell::Text(s)) => {
                datetime_from_text(py, text(s), matches!(self, Conv::DateTimeTz))
            }
            (Conv::Date, Cell::Text(s)) => match iso::parse_date(text(s)) {
                Some((y, m, d)) => Ok(PyDate::new(py, y, m, d)?.into_any()),
                None => cached_attr(py, &DATE_FROMISO, "date", "fromisoformat")?.call1((text(s),)),
            },
            (Conv::Time, Cell::Text(s)) => match iso::parse_time(text(s)) {
                Some(t) => time_to_py(py, t),
                None => cached_attr(py, &TIME_FROMISO, "time", "fromisoformat")?.call1((text(s),)),
            },
            (Conv::Timedelta, Cell::Int(us)) => to_py(
                py,
                &Value::Interval {
                    months: 0,
                    days: 0,
                    micros: us,
                },
            ),
            (Conv::Enum { cls, members }, _) => {
                let raw = cell_to_py(py, rows, cell)?;
                match members.get_item(&raw) {
                    Ok(Some(member)) => Ok(member),
                    // A miss (or an unhashable value): the class decides, as `cls(raw)` does.
                    _ => cls.call1((raw,)),
                }
            }
            (Conv::Call(f), _) => f.call1((cell_to_py(py, rows, cell)?,)),
            _ => cell_to_py(py, rows, cell),
        }
    }
}

/// The tzinfo for an offset in seconds east of UTC (`timezone.utc` for zero).
fn offset_tz(py: Python<'_>, offset: i32) -> PyResult<Bound<'_, PyTzInfo>> {
    if offset == 0 {
        return Ok(PyTzInfo::utc(py)?.to_owned());
    }
    PyTzInfo::fixed_offset(py, PyDelta::new(py, 0, offset, 0, true)?)
}

fn time_to_py(py: Python<'_>, t: TimeParts) -> PyResult<Bound<'_, PyAny>> {
    let tz = t.offset.map(|o| offset_tz(py, o)).transpose()?;
    Ok(PyTime::new(py, t.hour, t.minute, t.second, t.micro, tz.as_ref())?.into_any())
}

/// `datetime.fromisoformat(text)`; with `aware`, a naive result is taken as UTC.
fn datetime_from_text<'py>(
    py: Python<'py>,
    text: &str,
    aware: bool,
) -> PyResult<Bound<'py, PyAny>> {
    if let Some(p) = iso::parse_datetime(text) {
        let t = p.time;
        let offset = t.offset.or(aware.then_some(0));
        let tz = offset.map(|o| offset_tz(py, o)).transpose()?;
        return Ok(PyDateTime::new(
            py,
            p.year,
            p.month,
            p.day,
            t.hour,
            t.minute,
            t.second,
            t.micro,
            tz.as_ref(),
        )?
        .into_any());
    }
    let dt = cached_attr(py, &DATETIME_FROMISO, "datetime", "fromisoformat")?.call1((text,))?;
    if aware && dt.getattr(intern!(py, "tzinfo"))?.is_none() {
        let kwargs = PyDict::new(py);
        kwargs.set_item(intern!(py, "tzinfo"), PyTzInfo::utc(py)?)?;
        return dt.call_method(intern!(py, "replace"), (), Some(&kwargs));
    }
    Ok(dt)
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// The bytes of `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` or of 32 hex digits; other
/// spellings (braces, `urn:uuid:`) are left to `uuid.UUID`.
fn parse_uuid(text: &[u8]) -> Option<[u8; 16]> {
    let mut digits = [0u8; 32];
    let mut n = 0;
    match text.len() {
        32 => {
            for &c in text {
                digits[n] = hex(c)?;
                n += 1;
            }
        }
        36 => {
            for (i, &c) in text.iter().enumerate() {
                if matches!(i, 8 | 13 | 18 | 23) {
                    if c != b'-' {
                        return None;
                    }
                    continue;
                }
                digits[n] = hex(c)?;
                n += 1;
            }
        }
        _ => return None,
    }
    let mut out = [0u8; 16];
    for (o, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        *o = pair[0] << 4 | pair[1];
    }
    Some(out)
}

/// What a UUID is made of, when `uuid.UUID` keeps its value in `__slots__` as it does
/// from Python 3.8 on: the class, and `SafeUUID.unknown`.
struct UuidParts {
    cls: Py<PyType>,
    unknown: Py<PyAny>,
}

static UUID_PARTS: PyOnceLock<Option<UuidParts>> = PyOnceLock::new();

fn uuid_parts(py: Python<'_>) -> PyResult<Option<&UuidParts>> {
    let parts = UUID_PARTS.get_or_try_init(py, || -> PyResult<Option<UuidParts>> {
        let cls = uuid_type(py)?;
        let slots = cls.getattr("__slots__").ok();
        let has = |name: &str| {
            slots
                .as_ref()
                .is_some_and(|s| s.contains(name).unwrap_or(false))
        };
        if !(plain_new(cls) && has("int") && has("is_safe")) {
            return Ok(None);
        }
        let unknown = py
            .import("uuid")?
            .getattr("SafeUUID")?
            .getattr("unknown")?
            .unbind();
        Ok(Some(UuidParts {
            cls: cls.clone().unbind(),
            unknown,
        }))
    })?;
    Ok(parts.as_ref())
}

/// `uuid.UUID(bytes=b)`, built as `UUID.__init__` builds it (`int` and `is_safe` set
/// through `object.__setattr__`) without running its checks in Python.
pub fn uuid_from_bytes<'py>(py: Python<'py>, b: &[u8]) -> PyResult<Bound<'py, PyAny>> {
    let (Ok(bytes), Some(parts)) = (<[u8; 16]>::try_from(b), uuid_parts(py)?) else {
        let kwargs = PyDict::new(py);
        kwargs.set_item(intern!(py, "bytes"), PyBytes::new(py, b))?;
        return uuid_type(py)?.call((), Some(&kwargs));
    };
    let int = u128::from_be_bytes(bytes).into_pyobject(py)?;
    let obj = new_object(parts.cls.bind(py), &PyTuple::empty(py))?;
    for (name, value) in [
        (intern!(py, "int"), int.as_any()),
        (intern!(py, "is_safe"), parts.unknown.bind(py)),
    ] {
        // SAFETY: live objects; `PyObject_GenericSetAttr` is `object.__setattr__`,
        // returning -1 with an exception set on failure.
        let rc =
            unsafe { ffi::PyObject_GenericSetAttr(obj.as_ptr(), name.as_ptr(), value.as_ptr()) };
        if rc < 0 {
            return Err(PyErr::fetch(py));
        }
    }
    Ok(obj)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_text() {
        let u = parse_uuid(b"12345678-9abc-DEF0-1234-56789abcdef0").expect("a UUID");
        assert_eq!(u[0], 0x12);
        assert_eq!(u[15], 0xf0);
        assert_eq!(parse_uuid(b"123456789abcdef0123456789abcdef0"), Some(u));
        assert_eq!(parse_uuid(b"12345678-9abc-def0-1234-56789abcdef"), None);
        assert_eq!(parse_uuid(b"12345678x9abc-def0-1234-56789abcdef0"), None);
        assert_eq!(parse_uuid(b"{12345678-9abc-def0-1234-56789abcdef0}"), None);
        assert_eq!(parse_uuid(b"g2345678-9abc-def0-1234-56789abcdef0"), None);
    }
}
