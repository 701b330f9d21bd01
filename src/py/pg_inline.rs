//! Waiting for a statement's reply on the event-loop thread while the loop is idle.
//!
//! After a statement is sent, asyncio would block in `epoll_wait` until the reply
//! arrives, run the transport's read callback, complete the statement's future, run
//! one more loop pass to wake the awaiting task, and only then resume it. When the
//! loop has nothing else to do — no callback ready, no timer due before the wait
//! ends, no other file descriptor readable — the same wait can happen here: block in
//! `poll` on the connection's socket *and* the loop's own selector (readable as soon
//! as anything the loop watches is), read the reply from the socket, and hand the
//! caller a future that is already done. Whenever anything else wants the loop (a
//! ready callback, a timer, another socket, a signal's wake-up fd) or the reply is
//! slow, the wait stops and the statement completes through asyncio as usual, with
//! nothing read twice and nothing lost: the bytes read here are exactly the bytes
//! the transport would have delivered.
//!
//! Used only with asyncio's own selector event loop on a selector that has a file
//! descriptor (epoll, kqueue); any other loop (uvloop, a proactor, a custom one) keeps
//! the plain path.

use pyo3::intern;
use pyo3::prelude::*;
use std::os::fd::RawFd;
use std::time::{Duration, Instant};

/// The longest wait done here; a statement slower than this completes through asyncio.
const MAX_WAIT: Duration = Duration::from_millis(20);
/// Bytes read per `recv`.
const CHUNK: usize = 64 * 1024;

/// What the loop must look like for an inline wait, bound once per connection.
pub struct InlineWait {
    sock: RawFd,
    selector: RawFd,
    event_loop: Py<PyAny>,
    ready: Py<PyAny>,
    scheduled: Py<PyAny>,
    write_buffer_size: Py<PyAny>,
}

/// What stopped a wait.
pub enum Waited {
    /// Bytes were read from the socket (possibly not the whole reply).
    Data(Vec<u8>),
    /// Something else wants the loop, the time is up, or the socket has news
    /// (EOF, error) that the transport must see: complete through asyncio.
    Yield,
}

impl InlineWait {
    /// The inline wait for `transport` on `event_loop`, or None when either is not
    /// of the kind it supports.
    pub fn new(
        event_loop: &Bound<'_, PyAny>,
        transport: &Bound<'_, PyAny>,
    ) -> PyResult<Option<Self>> {
        let py = event_loop.py();
        let base = py
            .import(intern!(py, "asyncio.selector_events"))?
            .getattr(intern!(py, "BaseSelectorEventLoop"))?;
        if !event_loop.is_instance(&base)? {
            return Ok(None);
        }
        let (Ok(ready), Ok(scheduled), Ok(selector)) = (
            event_loop.getattr(intern!(py, "_ready")),
            event_loop.getattr(intern!(py, "_scheduled")),
            event_loop.getattr(intern!(py, "_selector")),
        ) else {
            return Ok(None);
        };
        let Ok(selector_fd) = selector
            .call_method0(intern!(py, "fileno"))
            .and_then(|fd| fd.extract::<RawFd>())
        else {
            return Ok(None); // select/poll selectors have no descriptor to wait on
        };
        let socket = transport.call_method1(intern!(py, "get_extra_info"), ("socket",))?;
        if socket.is_none() {
            return Ok(None);
        }
        let sock = socket
            .call_method0(intern!(py, "fileno"))?
            .extract::<RawFd>()?;
        if sock < 0 || selector_fd < 0 {
            return Ok(None);
        }
        Ok(Some(InlineWait {
            sock,
            selector: selector_fd,
            event_loop: event_loop.clone().unbind(),
            ready: ready.unbind(),
            scheduled: scheduled.unbind(),
            write_buffer_size: transport
                .getattr(intern!(py, "get_write_buffer_size"))?
                .unbind(),
        }))
    }

    /// How long the loop can spare: None when it has other work now (a ready
    /// callback, a timer due, unsent output).
    pub fn budget(&self, py: Python<'_>) -> PyResult<Option<Duration>> {
        if self.ready.bind(py).len()? != 0 {
            return Ok(None);
        }
        if self
            .write_buffer_size
            .bind(py)
            .call0()?
            .extract::<usize>()?
            != 0
        {
            return Ok(None);
        }
        let scheduled = self.scheduled.bind(py);
        if scheduled.len()? == 0 {
            return Ok(Some(MAX_WAIT));
        }
        let when: f64 = scheduled
            .get_item(0)?
            .call_method0(intern!(py, "when"))?
            .extract()?;
        let now: f64 = self
            .event_loop
            .bind(py)
            .call_method0(intern!(py, "time"))?
            .extract()?;
        let left = when - now;
        if !left.is_finite() || left <= 0.0 {
            return Ok(None);
        }
        Ok(Some(Duration::from_secs_f64(left).min(MAX_WAIT)))
    }

    /// The descriptors a wait watches: the connection's socket and the selector's.
    pub fn fds(&self) -> (RawFd, RawFd) {
        (self.sock, self.selector)
    }
}

/// Blocks (without the GIL) until `sock` has bytes, `selector` is readable
/// (something else wants the loop) or `until` passes.
pub fn wait(py: Python<'_>, (sock, selector): (RawFd, RawFd), until: Instant) -> Waited {
    py.detach(move || wait_readable(sock, selector, until))
}

fn wait_readable(sock: RawFd, selector: RawFd, until: Instant) -> Waited {
    let mut fds = [
        libc::pollfd {
            fd: sock,
            events: libc::POLLIN,
            revents: 0,
        },
        libc::pollfd {
            fd: selector,
            events: libc::POLLIN,
            revents: 0,
        },
    ];
    let left = until.saturating_duration_since(Instant::now());
    let timeout = libc::timespec {
        tv_sec: left.as_secs() as libc::time_t,
        tv_nsec: left.subsec_nanos() as libc::c_long,
    };
    // SAFETY: `fds` is a valid array of two pollfd for the duration of the call;
    // the timeout is a valid timespec and no signal mask is given.
    let n = unsafe { libc::ppoll(fds.as_mut_ptr(), 2, &timeout, std::ptr::null()) };
    if n <= 0 {
        return Waited::Yield; // timed out, or interrupted by a signal: asyncio handles it
    }
    if fds[0].revents & libc::POLLIN == 0 {
        return Waited::Yield; // another descriptor of the loop, or an error/hang-up
    }
    let mut buf = vec![0u8; CHUNK];
    let mut len = 0;
    loop {
        // SAFETY: the pointer and length describe the unused tail of `buf`.
        let got = unsafe {
            libc::recv(
                sock,
                buf[len..].as_mut_ptr().cast(),
                buf.len() - len,
                libc::MSG_DONTWAIT,
            )
        };
        if got > 0 {
            len += got as usize;
            if len == buf.len() {
                buf.resize(buf.len() * 2, 0);
            }
            continue;
        }
        if got < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::WouldBlock {
            break;
        }
        // EOF or an error: leave it for the transport to see; deliver what came before.
        break;
    }
    if len == 0 {
        return Waited::Yield;
    }
    buf.truncate(len);
    Waited::Data(buf)
}
