//! ormkit's compiled core. This file only registers modules; see DESIGN.md for the layers.

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
