//! The one bridge from Rust futures to asyncio awaitables.

use pyo3::prelude::*;
use std::future::Future;

/// Runs `fut` on the tokio runtime and returns an asyncio awaitable for its result.
/// Cancelling the awaitable drops the future.
pub fn spawn<'py, F, T>(py: Python<'py>, fut: F) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = PyResult<T>> + Send + 'static,
    T: for<'a> IntoPyObject<'a> + Send + 'static,
{
    pyo3_async_runtimes::tokio::future_into_py(py, fut)
}

/// A handle to the runtime, for work started from `Drop`.
pub fn handle() -> tokio::runtime::Handle {
    pyo3_async_runtimes::tokio::get_runtime().handle().clone()
}
