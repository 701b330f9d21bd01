//! Reading a PostgreSQL reply on the event-loop thread while the loop is idle
//! (see `loop_idle`): after a statement is sent, poll the connection's socket and
//! the loop's selector, read what arrived, and feed it to the connection as
//! `data_received` would have.

use super::loop_idle::{wait, IdleLoop, Pace, Woken};
use pyo3::intern;
use pyo3::prelude::*;
use std::os::fd::RawFd;
use std::time::{Duration, Instant};

/// Bytes read per `recv`.
pub const CHUNK: usize = 64 * 1024;

/// A connection's socket and its idle-loop view, bound once per connection.
pub struct InlineWait {
    idle: IdleLoop,
    sock: RawFd,
    write_buffer_size: Py<PyAny>,
}

impl InlineWait {
    /// The inline wait for `transport` on `event_loop`, or None when either is not
    /// of the kind it supports.
    pub fn new(
        event_loop: &Bound<'_, PyAny>,
        transport: &Bound<'_, PyAny>,
    ) -> PyResult<Option<Self>> {
        let py = event_loop.py();
        let Some(idle) = IdleLoop::new(event_loop)? else {
            return Ok(None);
        };
        let socket = transport.call_method1(intern!(py, "get_extra_info"), ("socket",))?;
        if socket.is_none() {
            return Ok(None);
        }
        let sock = socket
            .call_method0(intern!(py, "fileno"))?
            .extract::<RawFd>()?;
        if sock < 0 {
            return Ok(None);
        }
        Ok(Some(InlineWait {
            idle,
            sock,
            write_buffer_size: transport
                .getattr(intern!(py, "get_write_buffer_size"))?
                .unbind(),
        }))
    }

    /// How long the loop can spare: None when it has other work now, including
    /// output the transport has not sent yet (looked at when `check_buffer`; the
    /// caller knows it is empty when its statement went straight to the socket).
    pub fn budget(&self, py: Python<'_>, check_buffer: bool) -> PyResult<Option<Duration>> {
        if check_buffer && self.buffered(py)? {
            return Ok(None);
        }
        self.idle.budget(py)
    }

    /// Whether the transport holds output it has not sent yet.
    fn buffered(&self, py: Python<'_>) -> PyResult<bool> {
        Ok(self
            .write_buffer_size
            .bind(py)
            .call0()?
            .extract::<usize>()?
            != 0)
    }

    /// Sends what it can of `data` straight to the socket when the transport has
    /// nothing buffered (what `transport.write` would do, without its Python
    /// frames); returns how many bytes went. The rest, if any, is the transport's:
    /// it buffers it, or meets the error (a broken pipe) and reports it.
    pub fn send(&self, py: Python<'_>, data: &[u8]) -> PyResult<usize> {
        if self.buffered(py)? {
            return Ok(0);
        }
        let mut sent = 0;
        while sent < data.len() {
            // SAFETY: the pointer and length describe the unsent tail of `data`.
            let n = unsafe {
                libc::send(
                    self.sock,
                    data[sent..].as_ptr().cast(),
                    data.len() - sent,
                    libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
                )
            };
            if n > 0 {
                sent += n as usize;
            } else if n < 0
                && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted
            {
                continue;
            } else {
                break;
            }
        }
        Ok(sent)
    }

    /// The descriptors [`read`] watches: the socket and the loop's selector.
    pub fn fds(&self) -> (RawFd, RawFd) {
        (self.sock, self.idle.selector())
    }

    /// How long a wait polls awake before it sleeps (`ORMKIT_SPIN_US`).
    pub fn spin(&self) -> Duration {
        self.idle.spin()
    }
}

/// Waits until the socket has bytes and reads them into `buf` (returning how many),
/// or returns None when the wait must end: something else wants the loop, the time
/// is up, or the socket has news (EOF, error) that the transport must see. `buf`
/// grows as needed and is kept by the caller for the next read.
pub fn read(
    py: Python<'_>,
    (sock, selector): (RawFd, RawFd),
    until: Instant,
    pace: Pace,
    buf: &mut Vec<u8>,
) -> Option<usize> {
    if wait(py, sock, selector, until, pace) != Woken::Readable {
        return None;
    }
    py.detach(|| read_available(sock, buf))
}

fn read_available(sock: RawFd, buf: &mut Vec<u8>) -> Option<usize> {
    if buf.len() < CHUNK {
        buf.resize(CHUNK, 0);
    }
    let mut len = 0;
    loop {
        if len == buf.len() {
            buf.resize(buf.len() * 2, 0);
        }
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
            continue;
        }
        if got < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
            continue;
        }
        // Would block (all read), EOF or an error: EOF and errors stay for the
        // transport to see; what came before them is delivered.
        break;
    }
    (len > 0).then_some(len)
}
