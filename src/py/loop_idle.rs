//! Waiting on the event-loop thread while the loop is idle.
//!
//! When a statement has been sent to the PostgreSQL server, asyncio would block in `epoll_wait` until the reply's
//! descriptor is readable, run the read callback, complete the statement's future,
//! run one more loop pass to wake the awaiting task, and only then resume it. When
//! the loop has nothing else to do — no callback ready, no timer due before the wait
//! ends — the same wait can happen on the spot: block in `poll` on the reply's
//! descriptor *and* the loop's own selector (readable as soon as anything the loop
//! watches is), handle the reply, and give the caller a future that is already done.
//! Whenever anything else wants the loop (a ready callback, a timer, another socket,
//! a signal's wake-up fd) or the reply is slow, the wait stops and the reply arrives
//! through asyncio as usual: nothing is read twice and nothing is lost.
//!
//! Only with asyncio's own selector event loop on a selector that has a descriptor
//! (epoll, kqueue); other loops (uvloop, a proactor, a custom one) keep the plain
//! path, and so does everything when `ORMKIT_INLINE_WAIT=0` is set.
//!
//! Not used for replies from the SQLite connection threads: there the loop's own
//! work after handing a job over overlaps with the job, and waiting on the spot
//! measured no faster (benchmarks/NOTES.md).

use crate::error::Error;
use crate::py::errors::to_pyerr_plain;
use pyo3::intern;
use pyo3::prelude::*;
use std::os::fd::RawFd;
use std::time::{Duration, Instant};

/// The longest wait done here; a slower reply completes through asyncio.
pub const MAX_WAIT: Duration = Duration::from_millis(20);

/// An event loop seen from the inside, to tell whether it is idle.
pub struct IdleLoop {
    selector: RawFd,
    spin: Duration,
    event_loop: Py<PyAny>,
    ready: Py<PyAny>,
    scheduled: Py<PyAny>,
}

/// What ended a wait.
#[derive(Debug, PartialEq, Eq)]
pub enum Woken {
    /// The descriptor waited on is readable.
    Readable,
    /// Something else wants the loop, the time is up, or a signal came.
    Yield,
}

/// `os.environ.get(name)`: read through Python, so that settings made from Python
/// (tests, `os.environ[...] = ...`) count.
fn env_var(py: Python<'_>, name: &str) -> PyResult<Option<String>> {
    py.import(intern!(py, "os"))?
        .getattr(intern!(py, "environ"))?
        .call_method1(intern!(py, "get"), (name,))?
        .extract()
}

/// Whether inline waits are allowed: `ORMKIT_INLINE_WAIT=0` turns them off (to
/// compare, or to rule them out when chasing a problem).
pub fn enabled(py: Python<'_>) -> PyResult<bool> {
    Ok(env_var(py, "ORMKIT_INLINE_WAIT")?.is_none_or(|v| v != "0"))
}

impl IdleLoop {
    /// `event_loop` seen from the inside, or None when it is not of the supported
    /// kind or inline waits are turned off.
    pub fn new(event_loop: &Bound<'_, PyAny>) -> PyResult<Option<Self>> {
        let py = event_loop.py();
        if !enabled(py)? {
            return Ok(None);
        }
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
        if selector_fd < 0 {
            return Ok(None);
        }
        Ok(Some(IdleLoop {
            selector: selector_fd,
            spin: spin_time(py)?,
            event_loop: event_loop.clone().unbind(),
            ready: ready.unbind(),
            scheduled: scheduled.unbind(),
        }))
    }

    /// How long the loop can spare: None when it has other work now (a ready
    /// callback, a timer due).
    pub fn budget(&self, py: Python<'_>) -> PyResult<Option<Duration>> {
        if self.ready.bind(py).len()? != 0 {
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

    /// The loop's selector descriptor, for [`wait`].
    pub fn selector(&self) -> RawFd {
        self.selector
    }

    /// How long a wait polls before it sleeps, for [`wait`].
    pub fn spin(&self) -> Duration {
        self.spin
    }
}

/// How long a wait polls before it sleeps: `ORMKIT_SPIN_US` microseconds
/// ([`DEFAULT_SPIN_US`] when unset, or when set since `create_engine` checked it to
/// something that is not a whole number), at most [`MAX_WAIT`], and none on a machine
/// with one CPU, where polling would keep the server itself off the processor.
pub fn spin_time(py: Python<'_>) -> PyResult<Duration> {
    if std::thread::available_parallelism().map_or(true, |n| n.get() < 2) {
        return Ok(Duration::ZERO);
    }
    let us = env_var(py, "ORMKIT_SPIN_US")?
        .and_then(|text| parse_spin_us(&text))
        .unwrap_or(DEFAULT_SPIN_US);
    Ok(Duration::from_micros(us).min(MAX_WAIT))
}

/// `ORMKIT_SPIN_US`'s value as microseconds: ASCII digits, spaces around them allowed
/// (a number too large for a u64 is the longest); None for anything else.
fn parse_spin_us(text: &str) -> Option<u64> {
    let digits = text.trim();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(digits.parse::<u64>().unwrap_or(u64::MAX))
}

/// `create_engine`'s check of `ORMKIT_SPIN_US`: an `ArgumentError` when it is set to
/// something that is not a whole number of microseconds.
#[pyfunction]
pub fn check_spin_setting(py: Python<'_>) -> PyResult<()> {
    match env_var(py, "ORMKIT_SPIN_US")? {
        Some(text) if parse_spin_us(&text).is_none() => {
            Err(to_pyerr_plain(&Error::argument(format!(
                "ORMKIT_SPIN_US must be a whole number of microseconds (0 turns the spin \
                 off), got {text:?}"
            ))))
        }
        _ => Ok(()),
    }
}

/// How long a wait polls before sleeping when `ORMKIT_SPIN_US` is not set. A short
/// statement's reply on a local server comes within it, and catching it awake
/// saves the wake-up from a sleeping `poll` (benchmarks/NOTES.md); a slower reply
/// costs this much processor time, then the wait sleeps.
pub const DEFAULT_SPIN_US: u64 = 100;

/// How a wait spends its time: it sleeps until `sleep_until` (when given: a reply
/// known not to come sooner, see `reply_times`), then polls awake for `spin`, then
/// sleeps again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pace {
    pub sleep_until: Option<Instant>,
    pub spin: Duration,
}

impl Pace {
    /// Poll awake for `spin` from the start, then sleep.
    pub fn spinning(spin: Duration) -> Pace {
        Pace {
            sleep_until: None,
            spin,
        }
    }
}

/// Blocks (without the GIL) until `fd` is readable, the loop's `selector` is
/// readable for another reason, or `until` passes, at `pace`.
pub fn wait(py: Python<'_>, fd: RawFd, selector: RawFd, until: Instant, pace: Pace) -> Woken {
    py.detach(move || wait_readable(fd, selector, until, pace))
}

fn wait_readable(fd: RawFd, selector: RawFd, until: Instant, pace: Pace) -> Woken {
    if let Some(at) = pace.sleep_until {
        let left = at.min(until).saturating_duration_since(Instant::now());
        if let Some(woken) = poll_once(fd, selector, Some(left)) {
            return woken;
        }
    }
    let spin = pace.spin;
    if !spin.is_zero() {
        let spin_until = (Instant::now() + spin).min(until);
        loop {
            match poll_once(fd, selector, None) {
                Some(woken) => return woken,
                None if Instant::now() >= spin_until => break,
                None => std::hint::spin_loop(),
            }
        }
    }
    let left = until.saturating_duration_since(Instant::now());
    poll_once(fd, selector, Some(left)).unwrap_or(Woken::Yield)
}

/// One `ppoll` of `fd` and `selector` for at most `timeout` (None: do not block);
/// None when nothing was ready.
fn poll_once(fd: RawFd, selector: RawFd, timeout: Option<Duration>) -> Option<Woken> {
    let mut fds = [
        libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        },
        libc::pollfd {
            fd: selector,
            events: libc::POLLIN,
            revents: 0,
        },
    ];
    let left = timeout.unwrap_or(Duration::ZERO);
    let timeout = libc::timespec {
        tv_sec: left.as_secs() as libc::time_t,
        tv_nsec: left.subsec_nanos() as libc::c_long,
    };
    // SAFETY: `fds` is a valid array of two pollfd for the duration of the call;
    // the timeout is a valid timespec and no signal mask is given.
    let n = unsafe { libc::ppoll(fds.as_mut_ptr(), 2, &timeout, std::ptr::null()) };
    // `fd` is also watched by the selector, so the selector alone being readable
    // means another descriptor; an error or hang-up on `fd` is the loop's to see.
    if n > 0 && fds[0].revents & libc::POLLIN != 0 {
        Some(Woken::Readable)
    } else if n == 0 {
        None
    } else {
        Some(Woken::Yield)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::fd::AsRawFd;
    use std::os::unix::net::UnixStream;

    /// The statement's socket pair and another pair standing for the loop's selector.
    fn sockets() -> ((UnixStream, UnixStream), (UnixStream, UnixStream)) {
        let pair = || UnixStream::pair().expect("socketpair");
        (pair(), pair())
    }

    /// `wait_readable` on the reading ends of the two pairs.
    fn wait_on(rx: &UnixStream, selector: &UnixStream, until: Instant, pace: Pace) -> Woken {
        wait_readable(rx.as_raw_fd(), selector.as_raw_fd(), until, pace)
    }

    #[test]
    fn the_spin_setting_is_digits_only() {
        assert_eq!(parse_spin_us("0"), Some(0));
        assert_eq!(parse_spin_us(" 250 "), Some(250));
        assert_eq!(parse_spin_us("99999999999999999999999"), Some(u64::MAX));
        for bad in [
            "", " ", "abc", "-5", "+5", "1.5", "1e3", "\u{b2}", "\u{663}",
        ] {
            assert_eq!(parse_spin_us(bad), None, "{bad:?}");
        }
    }

    fn paces() -> [Pace; 5] {
        let soon = Instant::now() + Duration::from_millis(1);
        let spin = |spin| Pace {
            sleep_until: None,
            spin,
        };
        [
            spin(Duration::ZERO),
            spin(Duration::from_micros(100)),
            spin(Duration::from_secs(10)),
            Pace {
                sleep_until: Some(soon),
                spin: Duration::from_micros(300),
            },
            Pace {
                sleep_until: Some(soon + Duration::from_secs(10)),
                spin: Duration::from_secs(10),
            },
        ]
    }

    #[test]
    fn readable_descriptor_wakes_the_wait() {
        for pace in paces() {
            let ((mut tx, rx), (_other_tx, other_rx)) = sockets();
            let started = Instant::now();
            let until = started + Duration::from_millis(5);
            assert_eq!(wait_on(&rx, &other_rx, until, pace), Woken::Yield);
            // The time is up even when the spin would be longer.
            assert!(started.elapsed() < Duration::from_secs(1));
            tx.write_all(b"x").expect("write");
            let until = Instant::now() + Duration::from_secs(5);
            assert_eq!(wait_on(&rx, &other_rx, until, pace), Woken::Readable);
        }
    }

    #[test]
    fn a_reply_arriving_during_the_wait_wakes_it() {
        for pace in paces() {
            let ((mut tx, rx), (_other_tx, other_rx)) = sockets();
            let writer = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(2));
                tx.write_all(b"x").expect("write");
                tx
            });
            let started = Instant::now();
            let until = started + Duration::from_secs(5);
            assert_eq!(wait_on(&rx, &other_rx, until, pace), Woken::Readable);
            assert!(started.elapsed() < Duration::from_secs(1));
            writer.join().expect("writer");
        }
    }

    #[test]
    fn other_work_for_the_loop_ends_the_wait() {
        for pace in paces() {
            let ((_tx, rx), (mut other_tx, other_rx)) = sockets();
            other_tx.write_all(b"x").expect("write");
            let started = Instant::now();
            let until = started + Duration::from_secs(5);
            assert_eq!(wait_on(&rx, &other_rx, until, pace), Woken::Yield);
            assert!(started.elapsed() < Duration::from_secs(1));
        }
    }
}
