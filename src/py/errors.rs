//! The one conversion point from `Error` to a Python exception of `ormkit.errors`.

use crate::error::{Error, ErrorKind};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyType};

static CLASSES: [PyOnceLock<Py<PyType>>; 12] = [const { PyOnceLock::new() }; 12];

fn class_name(kind: ErrorKind) -> (usize, &'static str) {
    match kind {
        ErrorKind::Interface => (0, "InterfaceError"),
        ErrorKind::Database => (1, "DatabaseError"),
        ErrorKind::Data => (2, "DataError"),
        ErrorKind::Operational => (3, "OperationalError"),
        ErrorKind::Integrity => (4, "IntegrityError"),
        ErrorKind::Internal => (5, "InternalError"),
        ErrorKind::Programming => (6, "ProgrammingError"),
        ErrorKind::NotSupported => (7, "NotSupportedError"),
        ErrorKind::PoolTimeout => (8, "PoolTimeout"),
        ErrorKind::Argument => (11, "ArgumentError"),
    }
}

/// An `ormkit.errors` class by name (also used for NoResultFound and friends).
pub fn error_class<'py>(
    py: Python<'py>,
    slot: usize,
    name: &str,
) -> PyResult<&'py Bound<'py, PyType>> {
    CLASSES[slot].import(py, "ormkit.errors", name)
}

pub fn no_result_found(py: Python<'_>, message: &str) -> PyErr {
    match error_class(py, 9, "NoResultFound").and_then(|c| c.call1((message,))) {
        Ok(exc) => PyErr::from_value(exc),
        Err(e) => e,
    }
}

pub fn multiple_results_found(py: Python<'_>, message: &str) -> PyErr {
    match error_class(py, 10, "MultipleResultsFound").and_then(|c| c.call1((message,))) {
        Ok(exc) => PyErr::from_value(exc),
        Err(e) => e,
    }
}

/// Builds the exception for `err`, attaching the statement and its parameters.
pub fn to_pyerr(err: &Error, sql: Option<&str>, params: Option<&Bound<'_, PyAny>>) -> PyErr {
    Python::attach(|py| match build(py, err, sql, params) {
        Ok(e) => e,
        Err(e) => e,
    })
}

/// The exception for an error that no statement caused.
pub fn to_pyerr_plain(err: &Error) -> PyErr {
    to_pyerr(err, None, None)
}

fn build(
    py: Python<'_>,
    err: &Error,
    sql: Option<&str>,
    params: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyErr> {
    let (slot, name) = class_name(err.kind);
    let cls = error_class(py, slot, name)?;
    let kwargs = PyDict::new(py);
    kwargs.set_item("sqlstate", err.sqlstate.as_deref())?;
    kwargs.set_item("severity", err.severity.as_deref())?;
    kwargs.set_item("detail", err.detail.as_deref())?;
    kwargs.set_item("hint", err.hint.as_deref())?;
    kwargs.set_item("position", err.position)?;
    kwargs.set_item("schema", err.schema.as_deref())?;
    kwargs.set_item("table", err.table.as_deref())?;
    kwargs.set_item("column", err.column.as_deref())?;
    kwargs.set_item("constraint", err.constraint.as_deref())?;
    kwargs.set_item("sql", sql)?;
    if let Some(p) = params {
        kwargs.set_item("params", p)?;
    }
    let exc = cls.call((err.message.as_str(),), Some(&kwargs))?;
    Ok(PyErr::from_value(exc))
}

/// Like `to_pyerr`, for futures that hold the statement's parameters as `Py<PyAny>`.
pub fn with_context(err: &Error, sql: &str, params: Option<&Py<PyAny>>) -> PyErr {
    Python::attach(|py| {
        let bound = params.map(|p| p.bind(py).clone());
        to_pyerr(err, Some(sql), bound.as_ref())
    })
}

static ERROR_BASE: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static SHORTEN_PARAMS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// Adds the statement and its (shortened) parameters to an `ormkit.errors.Error`
/// raised before the statement was sent (e.g. a parameter that cannot be converted).
pub fn attach_statement(err: PyErr, sql: &str, params: Option<&Bound<'_, PyAny>>) -> PyErr {
    Python::attach(|py| {
        let value = err.value(py);
        let is_ours = ERROR_BASE
            .import(py, "ormkit.errors", "Error")
            .and_then(|base| value.is_instance(base))
            .unwrap_or(false);
        if is_ours && value.getattr("sql").map(|s| s.is_none()).unwrap_or(false) {
            let _ = value.setattr("sql", sql);
            if let Some(p) = params {
                if let Ok(shorten) = SHORTEN_PARAMS.import(py, "ormkit.errors", "shorten_params") {
                    if let Ok(text) = shorten.call1((p,)) {
                        let _ = value.setattr("params", text);
                    }
                }
            }
        }
        err
    })
}
