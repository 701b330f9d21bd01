//! `sqlite_json_list(values)`: a long IN list's values as one JSON array of their
//! SQLite storage (see `crate::sqlite::json_list`), converted as parameters are.

use super::convert::to_value;
use super::errors::to_pyerr_plain;
use crate::sqlite::json_list::stored_json;
use pyo3::prelude::*;
use pyo3::types::PyList;

/// `(json_text, blobs)`: the JSON array of `values` as SQLite stores each one, and
/// whether its items are blobs written as hex. `TypeError` for a value ormkit cannot
/// bind, `DataError` for one SQLite cannot store or JSON cannot hold.
#[pyfunction]
pub fn sqlite_json_list(values: &Bound<'_, PyList>) -> PyResult<(String, bool)> {
    let values = values
        .iter()
        .map(|v| to_value(&v))
        .collect::<PyResult<Vec<_>>>()?;
    stored_json(&values).map_err(|e| to_pyerr_plain(&e))
}
