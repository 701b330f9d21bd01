//! Python values <-> `Value`. The only place that knows both sides' types.
//! Result rows go to Python through [`cells`]; [`objects`] makes model instances.

pub mod cells;
pub mod objects;
pub mod slots;

use crate::error::Error;
use crate::value::{civil_from_days, days_from_civil, split_time, Value, MICROS_PER_DAY};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{
    PyBool, PyByteArray, PyBytes, PyDate, PyDateAccess, PyDateTime, PyDelta, PyDeltaAccess, PyDict,
    PyFloat, PyInt, PyList, PyString, PyTime, PyTimeAccess, PyTuple, PyType, PyTzInfo,
    PyTzInfoAccess,
};

static DECIMAL: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static UUID: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static ENUM: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static JSON_DUMPS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static JSON_LOADS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static DATETIME_FROMISO: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static DATE_FROMISO: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static TIME_FROMISO: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

fn cached_attr<'py>(
    py: Python<'py>,
    cell: &'static PyOnceLock<Py<PyAny>>,
    class: &str,
    attr: &str,
) -> PyResult<&'py Bound<'py, PyAny>> {
    Ok(cell
        .get_or_try_init(py, || -> PyResult<Py<PyAny>> {
            Ok(py
                .import("datetime")?
                .getattr(class)?
                .getattr(attr)?
                .unbind())
        })?
        .bind(py))
}

fn decimal_type(py: Python<'_>) -> PyResult<&Bound<'_, PyType>> {
    DECIMAL.import(py, "decimal", "Decimal")
}

fn uuid_type(py: Python<'_>) -> PyResult<&Bound<'_, PyType>> {
    UUID.import(py, "uuid", "UUID")
}

pub(crate) fn enum_type(py: Python<'_>) -> PyResult<&Bound<'_, PyType>> {
    ENUM.import(py, "enum", "Enum")
}

pub fn json_dumps(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    JSON_DUMPS.import(py, "ormkit._json", "dumps")
}

pub fn json_loads(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    JSON_LOADS.import(py, "json", "loads")
}

/// Converts the parameters of `sql`; a conversion error names the statement too.
pub fn statement_params(sql: &str, params: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<Value>> {
    params_to_values(params).map_err(|e| crate::py::errors::attach_statement(e, sql, params))
}

/// Converts the parameter sets of an `executemany`; an error carries `sql` and the
/// offending set (API.md §7), like [`statement_params`].
pub fn many_statement_params(sql: &str, seq: &Bound<'_, PyAny>) -> PyResult<Vec<Vec<Value>>> {
    let mut sets = Vec::new();
    for item in seq.try_iter()? {
        let item = item?;
        sets.push(statement_params(sql, Some(&item))?);
    }
    Ok(sets)
}

/// Converts a parameter sequence (list or tuple; None means no parameters).
pub fn params_to_values(params: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<Value>> {
    let Some(params) = params else {
        return Ok(Vec::new());
    };
    if params.is_none() {
        return Ok(Vec::new());
    }
    if let Ok(list) = params.cast::<PyList>() {
        let mut out = Vec::with_capacity(list.len());
        // The length is read again each time: converting an unusual value runs Python
        // code (`__bytes__`, an enum's `value`), which could change the list.
        let mut i = 0;
        while i < list.len() {
            let v = list.get_item(i)?;
            out.push(match plain_value(&v) {
                Some(value) => value,
                None => to_value_at(&v, i)?,
            });
            i += 1;
        }
        return Ok(out);
    }
    if let Ok(tuple) = params.cast::<PyTuple>() {
        let mut out = Vec::with_capacity(tuple.len());
        for (i, v) in tuple.iter().enumerate() {
            out.push(match plain_value(&v) {
                Some(value) => value,
                None => to_value_at(&v, i)?,
            });
        }
        return Ok(out);
    }
    if params.is_instance_of::<PyString>()
        || params.is_instance_of::<PyBytes>()
        || params.is_instance_of::<PyDict>()
        || unordered(params)?
    {
        return Err(type_error(format!(
            "parameters must be a list or tuple, not {}",
            type_name(params)
        )));
    }
    let mut out = Vec::new();
    for (i, v) in params.try_iter()?.enumerate() {
        out.push(to_value_at(&v?, i)?);
    }
    Ok(out)
}

/// Whether `params` is a set or a mapping (`set`, `frozenset`, `dict.keys()`, …): its
/// order is not the placeholders' order, so binding it would put values in the wrong
/// places from one run to the next.
fn unordered(params: &Bound<'_, PyAny>) -> PyResult<bool> {
    let abc = params.py().import("collections.abc")?;
    Ok(
        params.is_instance(&abc.getattr("Set")?)?
            || params.is_instance(&abc.getattr("Mapping")?)?,
    )
}

/// The value of a parameter of one of the common exact types (int in range, str
/// without lone surrogates, float, None, bool), found by comparing type pointers;
/// None for anything else, which [`to_value_at`] converts (or explains).
///
/// A bulk statement converts thousands of parameters: this keeps each to a type
/// comparison and a copy, without building a `PyResult` per value.
#[inline]
fn plain_value(v: &Bound<'_, PyAny>) -> Option<Value> {
    use pyo3::ffi;
    let ty = v.get_type_ptr();
    let ptr = v.as_ptr();
    // SAFETY: `ptr` is a live object of exactly the type compared against (the GIL is
    // held through `v`); the C calls below are the ones that type documents, and an
    // error they set is cleared before returning None (the slow path then reports it).
    unsafe {
        if ty == std::ptr::addr_of_mut!(ffi::PyLong_Type) {
            let mut overflow: std::os::raw::c_int = 0;
            let i = ffi::PyLong_AsLongLongAndOverflow(ptr, &mut overflow);
            if overflow != 0 || (i == -1 && !ffi::PyErr_Occurred().is_null()) {
                if !ffi::PyErr_Occurred().is_null() {
                    ffi::PyErr_Clear();
                }
                return None;
            }
            return Some(Value::Int(i));
        }
        if ty == std::ptr::addr_of_mut!(ffi::PyUnicode_Type) {
            let mut len: ffi::Py_ssize_t = 0;
            let data = ffi::PyUnicode_AsUTF8AndSize(ptr, &mut len);
            if data.is_null() {
                ffi::PyErr_Clear();
                return None;
            }
            let bytes = std::slice::from_raw_parts(data.cast::<u8>(), usize::try_from(len).ok()?);
            // CPython's UTF-8 form of a str is valid UTF-8.
            return std::str::from_utf8(bytes)
                .ok()
                .map(|t| Value::Text(t.to_owned()));
        }
        if ty == std::ptr::addr_of_mut!(ffi::PyFloat_Type) {
            return Some(Value::Float(ffi::PyFloat_AS_DOUBLE(ptr)));
        }
        if ptr == ffi::Py_None() {
            return Some(Value::Null);
        }
        if ty == std::ptr::addr_of_mut!(ffi::PyBool_Type) {
            return Some(Value::Bool(ptr == ffi::Py_True()));
        }
    }
    None
}

fn to_value_at(v: &Bound<'_, PyAny>, index: usize) -> PyResult<Value> {
    to_value(v).map_err(|e| {
        let py = v.py();
        let msg = format!("parameter ${}: {}", index + 1, e.value(py));
        let cls = e.get_type(py);
        match cls.call1((msg,)) {
            Ok(exc) => {
                let err = PyErr::from_value(exc);
                err.set_cause(py, Some(e));
                err
            }
            // Exception classes whose constructor takes other arguments keep their own
            // message; the parameter position is in the cause chain instead.
            Err(_) => e,
        }
    })
}

fn type_error(msg: String) -> PyErr {
    crate::py::errors::to_pyerr_plain(&Error::programming(msg))
}

fn type_name(v: &Bound<'_, PyAny>) -> String {
    v.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".to_owned())
}

/// One Python value as a `Value`.
pub fn to_value(v: &Bound<'_, PyAny>) -> PyResult<Value> {
    to_value_at_depth(v, 0)
}

/// Lists nested deeper than this are refused: converting (and later encoding) them
/// recurses once per level, and a deep enough list would overflow the thread's stack.
const MAX_NESTING: usize = 256;

/// An int (or int subclass) as a 64-bit integer, or a clear error when it does not fit.
fn int_value(v: &Bound<'_, PyAny>) -> PyResult<Value> {
    match v.extract::<i64>() {
        Ok(i) => Ok(Value::Int(i)),
        Err(_) => Err(crate::py::errors::to_pyerr_plain(&Error::data(format!(
            "integer {} does not fit in a signed 64-bit integer",
            short_repr(v)
        )))),
    }
}

fn to_value_at_depth(v: &Bound<'_, PyAny>, depth: usize) -> PyResult<Value> {
    if depth > MAX_NESTING {
        return Err(crate::py::errors::to_pyerr_plain(&Error::data(format!(
            "a list parameter is nested deeper than {MAX_NESTING} levels"
        ))));
    }
    let py = v.py();
    if let Some(value) = plain_value(v) {
        return Ok(value);
    }
    if v.is_exact_instance_of::<PyInt>() {
        // out of range (plain_value declined it); a plain int cannot be an enum member:
        // no isinstance test against Enum (a metaclass `__instancecheck__` call)
        return int_value(v);
    }
    if let Ok(s) = v.cast::<PyString>() {
        return match s.to_str() {
            Ok(text) => Ok(Value::Text(text.to_owned())),
            Err(_) => Err(crate::py::errors::to_pyerr_plain(&Error::data(
                "the string is not valid Unicode (it holds a lone surrogate)",
            ))),
        };
    }
    if v.is_instance_of::<PyInt>() && !v.is_instance_of::<PyBool>() {
        if v.is_instance(enum_type(py)?)? {
            return to_value_at_depth(&v.getattr("value")?, depth + 1);
        }
        return int_value(v);
    }
    if let Ok(f) = v.cast::<PyFloat>() {
        return Ok(Value::Float(f.value()));
    }
    if let Ok(b) = v.cast::<PyBytes>() {
        return Ok(Value::Bytes(b.as_bytes().to_vec()));
    }
    if let Ok(dt) = v.cast::<PyDateTime>() {
        return datetime_to_value(dt);
    }
    if let Ok(d) = v.cast::<PyDate>() {
        return Ok(Value::Date(days_from_civil(
            d.get_year(),
            u32::from(d.get_month()),
            u32::from(d.get_day()),
        )));
    }
    if let Ok(t) = v.cast::<PyTime>() {
        let micros = time_micros(
            t.get_hour(),
            t.get_minute(),
            t.get_second(),
            t.get_microsecond(),
        );
        return match t.get_tzinfo() {
            None => Ok(Value::Time(micros)),
            Some(tz) => {
                let off = tz.call_method1("utcoffset", (py.None(),))?;
                let secs = if off.is_none() {
                    0
                } else {
                    delta_micros(off.cast::<PyDelta>()?) / 1_000_000
                };
                Ok(Value::TimeTz(micros, secs as i32))
            }
        };
    }
    if let Ok(d) = v.cast::<PyDelta>() {
        return Ok(Value::Interval {
            months: 0,
            days: d.get_days(),
            micros: i64::from(d.get_seconds()) * 1_000_000 + i64::from(d.get_microseconds()),
        });
    }
    if v.is_instance(decimal_type(py)?)? {
        return decimal_to_value(v);
    }
    if v.is_instance(uuid_type(py)?)? {
        let bytes: Vec<u8> = v.getattr("bytes")?.extract()?;
        let arr: [u8; 16] = bytes
            .try_into()
            .map_err(|_| crate::py::errors::to_pyerr_plain(&Error::data("malformed UUID")))?;
        return Ok(Value::Uuid(arr));
    }
    if v.is_instance_of::<PyDict>() {
        let text: String = json_dumps(py)?.call1((v,))?.extract()?;
        return Ok(Value::Json(text));
    }
    if let Ok(list) = v.cast::<PyList>() {
        return list
            .iter()
            .map(|x| to_value_at_depth(&x, depth + 1))
            .collect::<PyResult<Vec<_>>>()
            .map(Value::Array);
    }
    if let Ok(tuple) = v.cast::<PyTuple>() {
        return tuple
            .iter()
            .map(|x| to_value_at_depth(&x, depth + 1))
            .collect::<PyResult<Vec<_>>>()
            .map(Value::Array);
    }
    if v.is_instance(enum_type(py)?)? {
        return to_value_at_depth(&v.getattr("value")?, depth + 1);
    }
    if let Ok(b) = v.cast::<PyByteArray>() {
        return Ok(Value::Bytes(b.to_vec()));
    }
    if let Ok(bytes) = v.call_method0("__bytes__") {
        if let Ok(b) = bytes.cast::<PyBytes>() {
            return Ok(Value::Bytes(b.as_bytes().to_vec()));
        }
    }
    Err(type_error(format!(
        "type {} is not supported as a parameter (use int, float, str, bytes, bool, None, \
         datetime, date, time, timedelta, Decimal, UUID, dict, list or an Enum)",
        type_name(v)
    )))
}

fn short_repr(v: &Bound<'_, PyAny>) -> String {
    let text = v.repr().map(|r| r.to_string()).unwrap_or_default();
    if text.chars().count() > 40 {
        format!("{}...", text.chars().take(40).collect::<String>())
    } else {
        text
    }
}

fn time_micros(h: u8, m: u8, s: u8, us: u32) -> i64 {
    ((i64::from(h) * 60 + i64::from(m)) * 60 + i64::from(s)) * 1_000_000 + i64::from(us)
}

fn delta_micros(d: &Bound<'_, PyDelta>) -> i64 {
    (i64::from(d.get_days()) * 86_400 + i64::from(d.get_seconds())) * 1_000_000
        + i64::from(d.get_microseconds())
}

fn datetime_to_value(dt: &Bound<'_, PyDateTime>) -> PyResult<Value> {
    let days = days_from_civil(
        dt.get_year(),
        u32::from(dt.get_month()),
        u32::from(dt.get_day()),
    );
    let micros = i64::from(days) * MICROS_PER_DAY
        + time_micros(
            dt.get_hour(),
            dt.get_minute(),
            dt.get_second(),
            dt.get_microsecond(),
        );
    match dt.get_tzinfo() {
        None => Ok(Value::Timestamp(micros)),
        Some(_) => {
            let off = dt.call_method0("utcoffset")?;
            if off.is_none() {
                return Ok(Value::Timestamp(micros));
            }
            Ok(Value::TimestampTz(
                micros - delta_micros(off.cast::<PyDelta>()?),
            ))
        }
    }
}

fn decimal_to_value(v: &Bound<'_, PyAny>) -> PyResult<Value> {
    let finite: bool = v.call_method0("is_finite")?.extract()?;
    if !finite {
        let nan: bool = v.call_method0("is_nan")?.extract()?;
        if nan {
            return Ok(Value::Decimal("NaN".to_owned()));
        }
        let signed: bool = v.call_method0("is_signed")?.extract()?;
        return Ok(Value::Decimal(
            if signed { "-Infinity" } else { "Infinity" }.to_owned(),
        ));
    }
    // Written out in full below: refuse first what no column holds (PostgreSQL's numeric
    // takes 131,072 digits before the point and 16,383 after), rather than spell out
    // `1E+999999999` digit by digit.
    let parts = v.call_method0("as_tuple")?;
    let exponent: i64 = parts.getattr("exponent")?.extract()?;
    let digits = parts.getattr("digits")?.len()? as i64;
    let adjusted = digits + exponent - 1; // Decimal.adjusted(): the leading digit's power
    if adjusted >= 131_072 || exponent < -16_383 {
        return Err(crate::py::errors::to_pyerr_plain(&Error::data(format!(
            "Decimal out of range: {} digits before the point and {} after; a numeric \
             holds at most 131,072 and 16,383",
            adjusted.max(-1) + 1,
            (-exponent).max(0)
        ))));
    }
    let text: String = v
        .py()
        .import("builtins")?
        .call_method1("format", (v, "f"))?
        .extract()?;
    Ok(Value::Decimal(text))
}

/// One `Value` as a Python object.
pub fn to_py<'py>(py: Python<'py>, v: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match v {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Int(i) => i.into_pyobject(py)?.into_any(),
        Value::Float(f) => PyFloat::new(py, *f).into_any(),
        Value::Text(s) => PyString::new(py, s).into_any(),
        Value::Bytes(b) => PyBytes::new(py, b).into_any(),
        Value::Decimal(d) => decimal_type(py)?.call1((d.as_str(),))?,
        Value::Date(days) => date_to_py(py, *days)?,
        Value::Time(t) => {
            let (h, m, s, us) = time_of_day(*t)?;
            PyTime::new(py, h as u8, m as u8, s as u8, us, None)?.into_any()
        }
        Value::TimeTz(t, off) => {
            let (h, m, s, us) = time_of_day(*t)?;
            let tz = PyTzInfo::fixed_offset(py, PyDelta::new(py, 0, *off, 0, true)?)?;
            PyTime::new(py, h as u8, m as u8, s as u8, us, Some(&tz))?.into_any()
        }
        Value::Timestamp(t) => timestamp_to_py(py, *t, None)?,
        Value::TimestampTz(t) => {
            let utc = PyTzInfo::utc(py)?.to_owned();
            timestamp_to_py(py, *t, Some(&utc))?
        }
        Value::Interval {
            months,
            days,
            micros,
        } => {
            let total_days =
                i64::from(*months) * 30 + i64::from(*days) + micros.div_euclid(MICROS_PER_DAY);
            let rest = micros.rem_euclid(MICROS_PER_DAY);
            // Python's timedelta holds at most 999,999,999 days either way.
            let days = i32::try_from(total_days)
                .ok()
                .filter(|d| d.unsigned_abs() <= 999_999_999)
                .ok_or_else(|| {
                    crate::py::errors::to_pyerr_plain(&Error::data(
                        "interval out of range for timedelta",
                    ))
                })?;
            PyDelta::new(
                py,
                days,
                (rest / 1_000_000) as i32,
                (rest % 1_000_000) as i32,
                true,
            )?
            .into_any()
        }
        Value::Uuid(u) => {
            let kwargs = PyDict::new(py);
            kwargs.set_item("bytes", PyBytes::new(py, u))?;
            uuid_type(py)?.call((), Some(&kwargs))?
        }
        Value::Json(j) => json_loads(py)?.call1((j.as_str(),))?,
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(to_py(py, item)?)?;
            }
            list.into_any()
        }
    })
}

/// The hour, minute, second and microsecond of a `time` (microseconds since midnight).
/// PostgreSQL's `24:00:00` has no Python `time`: a `DataError`, not midnight.
fn time_of_day(micros: i64) -> PyResult<(u32, u32, u32, u32)> {
    if (0..MICROS_PER_DAY).contains(&micros) {
        return Ok(split_time(micros));
    }
    let shown = if micros == MICROS_PER_DAY {
        "24:00:00".to_owned()
    } else {
        format!("{micros} microseconds after midnight")
    };
    Err(crate::py::errors::to_pyerr_plain(&Error::data(format!(
        "time {shown} is out of the range of Python's datetime.time (00:00:00 to \
         23:59:59.999999)"
    ))))
}

/// A `DataError` for a date or timestamp whose year Python's `datetime` cannot hold (it
/// takes years 1 to 9999; PostgreSQL goes from 4713 BC to 294276 AD).
fn check_year(what: &str, year: i32) -> PyResult<()> {
    if (1..=9999).contains(&year) {
        return Ok(());
    }
    let shown = if year <= 0 {
        format!("{} BC", 1 - i64::from(year))
    } else {
        year.to_string()
    };
    Err(crate::py::errors::to_pyerr_plain(&Error::data(format!(
        "{what} in the year {shown} is out of the range of Python's datetime (years 1 to 9999)"
    ))))
}

fn date_to_py(py: Python<'_>, days: i32) -> PyResult<Bound<'_, PyAny>> {
    if days == i32::MAX || days == i32::MIN {
        let cls = py.import("datetime")?.getattr("date")?;
        return cls.getattr(if days == i32::MAX { "max" } else { "min" });
    }
    let (y, m, d) = civil_from_days(days);
    check_year("a date", y)?;
    Ok(PyDate::new(py, y, m as u8, d as u8)?.into_any())
}

fn timestamp_to_py<'py>(
    py: Python<'py>,
    micros: i64,
    tz: Option<&Bound<'py, PyTzInfo>>,
) -> PyResult<Bound<'py, PyAny>> {
    if micros == i64::MAX || micros == i64::MIN {
        let cls = py.import("datetime")?.getattr("datetime")?;
        let bound = cls.getattr(if micros == i64::MAX { "max" } else { "min" })?;
        return match tz {
            Some(tz) => {
                let kwargs = PyDict::new(py);
                kwargs.set_item("tzinfo", tz)?;
                bound.call_method("replace", (), Some(&kwargs))
            }
            None => Ok(bound),
        };
    }
    let days = micros.div_euclid(MICROS_PER_DAY);
    let rest = micros.rem_euclid(MICROS_PER_DAY);
    let days = i32::try_from(days)
        .map_err(|_| crate::py::errors::to_pyerr_plain(&Error::data("timestamp out of range")))?;
    let (y, m, d) = civil_from_days_cached(days);
    check_year("a timestamp", y)?;
    let (h, mi, s, us) = split_time(rest);
    Ok(PyDateTime::new(py, y, m as u8, d as u8, h as u8, mi as u8, s as u8, us, tz)?.into_any())
}

thread_local! {
    /// The last day converted and its date: the timestamps of a result often share days.
    static LAST_DAY: std::cell::Cell<(i32, (i32, u32, u32))> =
        const { std::cell::Cell::new((0, (2000, 1, 1))) };
}

/// `civil_from_days`, remembering the last answer.
fn civil_from_days_cached(days: i32) -> (i32, u32, u32) {
    LAST_DAY.with(|last| {
        let (day, date) = last.get();
        if day == days {
            return date;
        }
        let date = civil_from_days(days);
        last.set((days, date));
        date
    })
}
