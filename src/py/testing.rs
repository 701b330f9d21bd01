//! Test-only hooks. `_force_panic` lets the test suite check that a Rust panic
//! becomes a Python exception (`pyo3_runtime.PanicException`) instead of aborting
//! the process, as the `panic = "unwind"` profiles promise.

use pyo3::prelude::*;

/// Panics with `message`; PyO3 raises it as `pyo3_runtime.PanicException`.
#[pyfunction]
pub fn _force_panic(message: &str) {
    panic!("{message}");
}
