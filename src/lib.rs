use pyo3::prelude::*;
#[pymodule]
fn _ormkit(_m: &Bound<'_, PyModule>) -> PyResult<()> { Ok(()) }
