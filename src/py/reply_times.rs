//! How long each statement's reply took last time on a connection, to wake up just
//! before the next one is due.
//!
//! A reply wait on an idle loop (`loop_idle`) polls awake for a short spin, then
//! sleeps in `poll`. A statement slower than the spin (a scan of some hundred
//! microseconds) is then always answered to a sleeping thread, and the wake-up costs
//! as much as a short statement's whole round trip. When the same statement took a
//! known time before, the wait can sleep until shortly before that time instead and
//! poll awake through the moment the reply is due: the thread is running when the
//! reply comes, for about as much processor time as the short spin costs.
//!
//! Statements are told apart by a hash of their text (its length, start and end: a
//! collision only moves a wake-up). The memory is small and starts over when full.

use super::loop_idle::Pace;
use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::{Duration, Instant};

/// Statements remembered per connection before the memory starts over.
pub const CAPACITY: usize = 256;
/// Replies slower than this are not predicted: their own spread is larger than the
/// wake-up saved.
pub const LONGEST: Duration = Duration::from_millis(5);
/// How long before the expected reply the wait wakes up (covers the timer's slack
/// and the wake-up itself).
pub const LEAD: Duration = Duration::from_micros(150);
/// How long the wait polls awake from then on before sleeping again.
pub const WINDOW: Duration = Duration::from_micros(300);

/// The last reply time of recent statements on one connection.
#[derive(Debug, Default)]
pub struct ReplyTimes {
    last: HashMap<u64, Duration>,
}

/// Bytes of the text hashed from each end.
const HASHED: usize = 256;

/// The key of `sql` for the methods below.
pub fn key(sql: &str) -> u64 {
    let bytes = sql.as_bytes();
    let mut h = DefaultHasher::new();
    bytes.len().hash(&mut h);
    if bytes.len() <= 2 * HASHED {
        bytes.hash(&mut h);
    } else {
        bytes[..HASHED].hash(&mut h);
        bytes[bytes.len() - HASHED..].hash(&mut h);
    }
    h.finish()
}

impl ReplyTimes {
    /// When to wake up for the reply to the statement of `key`, counted from sending
    /// it: None when it is not known, quicker than `spin` plus the lead (the spin
    /// covers it), or slower than [`LONGEST`].
    pub fn wake_after(&self, key: u64, spin: Duration) -> Option<Duration> {
        if spin.is_zero() {
            return None; // no polling awake at all
        }
        let took = *self.last.get(&key)?;
        (took > spin + LEAD && took <= LONGEST).then(|| took - LEAD)
    }

    /// How to wait for the reply to the statement of `key`, sent at `sent`: the plain
    /// `spin` first, or, for a statement known to take a while, a sleep until
    /// [`LEAD`] before its reply is due and a [`WINDOW`] of polling from then on.
    pub fn pace(&self, key: u64, spin: Duration, sent: Instant) -> Pace {
        match self.wake_after(key, spin) {
            Some(after) => Pace {
                sleep_until: Some(sent + after),
                spin: WINDOW,
            },
            None => Pace::spinning(spin),
        }
    }

    /// The reply to the statement of `key` came `took` after sending it.
    pub fn record(&mut self, key: u64, took: Duration) {
        if self.last.len() >= CAPACITY {
            self.last.clear();
        }
        self.last.insert(key, took);
    }

    /// The reply to the statement of `key` took longer than a wait: nothing to
    /// predict.
    pub fn forget(&mut self, key: u64) {
        self.last.remove(&key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPIN: Duration = Duration::from_micros(100);

    #[test]
    fn a_known_scan_wakes_before_its_time() {
        let mut times = ReplyTimes::default();
        assert_eq!(times.wake_after(key("SELECT count(*) FROM t"), SPIN), None);
        times.record(key("SELECT count(*) FROM t"), Duration::from_micros(460));
        assert_eq!(
            times.wake_after(key("SELECT count(*) FROM t"), SPIN),
            Some(Duration::from_micros(310))
        );
        assert_eq!(times.wake_after(key("SELECT count(*) FROM u"), SPIN), None);
        // the spin turned off turns this off too
        assert_eq!(
            times.wake_after(key("SELECT count(*) FROM t"), Duration::ZERO),
            None
        );
        times.forget(key("SELECT count(*) FROM t"));
        assert_eq!(times.wake_after(key("SELECT count(*) FROM t"), SPIN), None);
    }

    #[test]
    fn quick_and_slow_replies_are_left_to_the_spin_and_the_sleep() {
        let mut times = ReplyTimes::default();
        times.record(key("quick"), Duration::from_micros(40));
        times.record(key("edge"), SPIN + LEAD);
        times.record(key("slow"), Duration::from_millis(8));
        assert_eq!(times.wake_after(key("quick"), SPIN), None);
        assert_eq!(times.wake_after(key("edge"), SPIN), None);
        assert_eq!(times.wake_after(key("slow"), SPIN), None);
    }

    #[test]
    fn long_texts_differing_in_the_middle_share_a_slot_and_the_memory_is_bounded() {
        let a = format!("{}a{}", "x".repeat(600), "y".repeat(600));
        let b = format!("{}b{}", "x".repeat(600), "y".repeat(600));
        let mut times = ReplyTimes::default();
        times.record(key(&a), Duration::from_micros(900));
        assert_eq!(
            times.wake_after(key(&b), SPIN),
            Some(Duration::from_micros(750))
        );
        for i in 0..CAPACITY * 3 {
            times.record(key(&format!("SELECT {i}")), Duration::from_micros(500));
            assert!(times.last.len() <= CAPACITY);
        }
    }
}
