//! ormkit's compiled core. This file only registers modules; see DESIGN.md for the layers.

// Errors carry every server field; they are cold-path values, so their size is accepted.
#![allow(clippy::result_large_err)]

pub mod error;
pub mod pg;
mod py;
pub mod sqlite;
pub mod value;

use pyo3::prelude::*;

#[pymodule]
fn _ormkit(m: &Bound<'_, PyModule>) -> PyResult<()> {
    py::register(m)
}
