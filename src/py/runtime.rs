//! The one bridge from Rust futures to asyncio futures.
//!
//! Work runs on the tokio runtime or on a thread of our own (the SQLite connection
//! threads); its result comes back to the event loop without any foreign thread
//! touching Python: the thread pushes a completion onto the loop's queue and writes
//! one byte to a socket pair whose read end the loop watches (`loop.add_reader`).
//! The loop thread then converts the result and completes the asyncio future. This
//! keeps the GIL off other threads (no GIL hand-offs, and no thread can be caught
//! inside Python while the interpreter shuts down).
//!
//! [`spawn`] runs a Rust future on tokio; [`completer`] gives a [`Completer`] that any
//! thread may use once to complete a new asyncio future of the running loop (one
//! crossing back, where `spawn` also pays one to reach a tokio worker).

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::PyCFunction;
use std::future::Future;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::task::AbortHandle;

type Completion = Box<dyn FnOnce(Python<'_>) -> PyResult<Py<PyAny>> + Send>;

/// Completions waiting for one event loop, and the socket pair that wakes it.
struct Queue {
    items: Mutex<Vec<(Py<PyAny>, Completion)>>,
    wake: UnixStream,
    watch: UnixStream,
}

impl Queue {
    fn items(&self) -> MutexGuard<'_, Vec<(Py<PyAny>, Completion)>> {
        match self.items.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Called from any thread: queues a completion and wakes the loop.
    fn push(&self, fut: Py<PyAny>, completion: Completion) {
        let was_empty = {
            let mut items = self.items();
            let was_empty = items.is_empty();
            items.push((fut, completion));
            was_empty
        };
        if was_empty {
            // A full socket buffer already means a wake-up is pending.
            let _ = (&self.wake).write(&[1]);
        }
    }

    /// Called on the loop thread when the socket is readable.
    fn drain(&self, py: Python<'_>) -> PyResult<()> {
        let mut buf = [0u8; 256];
        loop {
            match (&self.watch).read(&mut buf) {
                Ok(n) if n == buf.len() => continue,
                Ok(_) => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => break,
            }
        }
        let items = std::mem::take(&mut *self.items());
        for (fut, completion) in items {
            let fut = fut.bind(py);
            let outcome = completion(py);
            if fut.call_method0(intern!(py, "done"))?.is_truthy()? {
                continue;
            }
            match outcome {
                Ok(value) => fut.call_method1(intern!(py, "set_result"), (value,))?,
                Err(err) => {
                    fut.call_method1(intern!(py, "set_exception"), (err.into_value(py),))?
                }
            };
        }
        Ok(())
    }
}

/// One event loop's bridge: its queue and the loop itself.
struct Bridge {
    event_loop: Py<PyAny>,
    queue: Arc<Queue>,
}

static BRIDGES: Mutex<Vec<Bridge>> = Mutex::new(Vec::new());

fn bridges() -> MutexGuard<'static, Vec<Bridge>> {
    match BRIDGES.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// The queue of the running event loop, created (and watched) on first use.
/// No Python code runs while the registry lock is held.
fn queue_for(py: Python<'_>, event_loop: &Bound<'_, PyAny>) -> PyResult<Arc<Queue>> {
    let known: Vec<(Py<PyAny>, Arc<Queue>)> = {
        let all = bridges();
        if let Some(b) = all.iter().find(|b| b.event_loop.bind(py).is(event_loop)) {
            return Ok(b.queue.clone());
        }
        all.iter()
            .map(|b| (b.event_loop.clone_ref(py), b.queue.clone()))
            .collect()
    };
    // Forget bridges of loops that were closed (their sockets close on drop).
    let mut closed = Vec::new();
    for (lp, _) in &known {
        let is_closed = lp
            .bind(py)
            .call_method0(intern!(py, "is_closed"))
            .and_then(|c| c.is_truthy())
            .unwrap_or(true);
        if is_closed {
            closed.push(lp.clone_ref(py));
        }
    }
    let (wake, watch) = UnixStream::pair()
        .map_err(|e| pyo3::exceptions::PyOSError::new_err(format!("socketpair: {e}")))?;
    wake.set_nonblocking(true)
        .and_then(|()| watch.set_nonblocking(true))
        .map_err(|e| pyo3::exceptions::PyOSError::new_err(format!("socketpair: {e}")))?;
    let queue = Arc::new(Queue {
        items: Mutex::new(Vec::new()),
        wake,
        watch,
    });
    let reader_queue = queue.clone();
    let callback = PyCFunction::new_closure(py, None, None, move |args, _kwargs| {
        reader_queue.drain(args.py())
    })?;
    event_loop.call_method1(
        intern!(py, "add_reader"),
        (queue.watch.as_raw_fd(), callback),
    )?;
    let mut all = bridges();
    all.retain(|b| !closed.iter().any(|c| c.bind(py).is(b.event_loop.bind(py))));
    all.push(Bridge {
        event_loop: event_loop.clone().unbind(),
        queue: queue.clone(),
    });
    Ok(queue)
}

/// Completes one asyncio future from any thread, exactly once. Dropped without
/// completing, it fails the future (so an awaiting task never hangs).
pub struct Completer {
    target: Option<(Arc<Queue>, Py<PyAny>)>,
}

impl Completer {
    /// Queues `convert(value)` to run on the loop thread and complete the future.
    pub fn complete<T, C>(mut self, value: T, convert: C)
    where
        T: Send + 'static,
        C: FnOnce(Python<'_>, T) -> PyResult<Py<PyAny>> + Send + 'static,
    {
        if let Some((queue, fut)) = self.target.take() {
            queue.push(fut, Box::new(move |py| convert(py, value)));
        }
    }
}

impl Drop for Completer {
    fn drop(&mut self) {
        if let Some((queue, fut)) = self.target.take() {
            queue.push(
                fut,
                Box::new(|_| {
                    Err(pyo3::exceptions::PyRuntimeError::new_err(
                        "ormkit: an operation was dropped without a result",
                    ))
                }),
            );
        }
    }
}

/// A new future of the running event loop, and the completer that resolves it.
pub fn completer(py: Python<'_>) -> PyResult<(Bound<'_, PyAny>, Completer)> {
    let event_loop = py
        .import(intern!(py, "asyncio"))?
        .call_method0(intern!(py, "get_running_loop"))?;
    let queue = queue_for(py, &event_loop)?;
    let fut = event_loop.call_method0(intern!(py, "create_future"))?;
    let target = fut.clone().unbind();
    Ok((
        fut,
        Completer {
            target: Some((queue, target)),
        },
    ))
}

/// Calls `hook` when the asyncio future it is added to (`add_done_callback`) ends
/// cancelled: e.g. to withdraw work still waiting for a connection.
#[pyclass(module = "ormkit._ormkit", name = "_OnCancel", frozen)]
pub struct OnCancel {
    hook: Box<dyn Fn() + Send + Sync>,
}

impl OnCancel {
    /// Adds the hook to `fut`.
    pub fn watch(fut: &Bound<'_, PyAny>, hook: impl Fn() + Send + Sync + 'static) -> PyResult<()> {
        let py = fut.py();
        let guard = Py::new(
            py,
            OnCancel {
                hook: Box::new(hook),
            },
        )?;
        fut.call_method1(intern!(py, "add_done_callback"), (guard,))?;
        Ok(())
    }
}

#[pymethods]
impl OnCancel {
    fn __call__(&self, fut: &Bound<'_, PyAny>) -> PyResult<()> {
        if fut
            .call_method0(intern!(fut.py(), "cancelled"))?
            .is_truthy()?
        {
            (self.hook)();
        }
        Ok(())
    }
}

/// An awaitable of a value that is already known, which lets the event loop run
/// once before handing it over (what `asyncio.sleep(0)` does): for work done at
/// once on the loop thread that should still not keep other tasks waiting.
#[pyclass(module = "ormkit._ormkit", name = "_YieldOnce")]
pub struct YieldOnce {
    value: Option<Py<PyAny>>,
    yielded: bool,
}

/// `value`, awaitable after one pass of the event loop.
pub fn yield_once(py: Python<'_>, value: Py<PyAny>) -> PyResult<Bound<'_, PyAny>> {
    Ok(Bound::new(
        py,
        YieldOnce {
            value: Some(value),
            yielded: false,
        },
    )?
    .into_any())
}

#[pymethods]
impl YieldOnce {
    fn __await__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&mut self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        if !self.yielded {
            // A bare `yield` inside a task: the loop runs once, then resumes it.
            self.yielded = true;
            return Ok(py.None());
        }
        let value = self.value.take().unwrap_or_else(|| py.None());
        Err(pyo3::exceptions::PyStopIteration::new_err((value,)))
    }
}

/// Aborts the tokio task when its asyncio future is cancelled.
#[pyclass(module = "ormkit._ormkit", name = "_AbortOnCancel", frozen)]
pub struct AbortOnCancel {
    handle: AbortHandle,
}

#[pymethods]
impl AbortOnCancel {
    fn __call__(&self, fut: &Bound<'_, PyAny>) -> PyResult<()> {
        if fut
            .call_method0(intern!(fut.py(), "cancelled"))?
            .is_truthy()?
        {
            self.handle.abort();
        }
        Ok(())
    }
}

/// Runs `fut` on the tokio runtime and returns an asyncio future of
/// `convert(result)`, which runs on the event-loop thread. Cancelling the asyncio
/// future drops the Rust future at its next await point.
pub fn spawn<'py, F, T, C>(py: Python<'py>, fut: F, convert: C) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = T> + Send + 'static,
    T: Send + 'static,
    C: FnOnce(Python<'_>, T) -> PyResult<Py<PyAny>> + Send + 'static,
{
    let event_loop = py
        .import(intern!(py, "asyncio"))?
        .call_method0(intern!(py, "get_running_loop"))?;
    let queue = queue_for(py, &event_loop)?;
    let py_fut = event_loop.call_method0(intern!(py, "create_future"))?;
    let target = py_fut.clone().unbind();
    let task = runtime().spawn(async move {
        let out = fut.await;
        queue.push(target, Box::new(move |py| convert(py, out)));
    });
    let guard = Py::new(
        py,
        AbortOnCancel {
            handle: task.abort_handle(),
        },
    )?;
    py_fut.call_method1(intern!(py, "add_done_callback"), (guard,))?;
    Ok(py_fut)
}

fn runtime() -> &'static tokio::runtime::Runtime {
    pyo3_async_runtimes::tokio::get_runtime()
}

/// A handle to the runtime, for work started from `Drop`.
pub fn handle() -> tokio::runtime::Handle {
    runtime().handle().clone()
}
