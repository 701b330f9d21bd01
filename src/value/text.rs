//! ISO-8601 text of dates and times, written into a fixed buffer.
//!
//! A SQLite bulk insert writes one timestamp per row as text: building it byte by byte
//! in a stack buffer, and binding that buffer, costs no allocation and no `char`
//! encoding per digit.

use super::{civil_from_days, split_time, MICROS_PER_DAY};

/// Room for the longest text written here: an `i32` year with its sign (11), then
/// `-MM-DD HH:MM:SS.ffffff` (22).
const CAPACITY: usize = 40;

/// ISO-8601 text held in a fixed buffer; [`IsoText::as_str`] gives it.
pub struct IsoText {
    buf: [u8; CAPACITY],
    len: usize,
}

impl IsoText {
    fn new() -> Self {
        IsoText {
            buf: [0; CAPACITY],
            len: 0,
        }
    }

    /// `2024-02-29`
    pub fn date(days: i32) -> Self {
        let mut out = IsoText::new();
        out.write_date(days);
        out
    }

    /// `13:05:00`, or `13:05:00.000120` with a fraction.
    pub fn time(micros: i64) -> Self {
        let mut out = IsoText::new();
        out.write_time(micros);
        out
    }

    /// `2024-02-29 13:05:00.000120` (a space between date and time, as SQLite's own
    /// date functions write it).
    pub fn timestamp(micros: i64) -> Self {
        let days = micros.div_euclid(MICROS_PER_DAY);
        let rest = micros.rem_euclid(MICROS_PER_DAY);
        let days = i32::try_from(days).unwrap_or(if days < 0 { i32::MIN } else { i32::MAX });
        let mut out = IsoText::new();
        out.write_date(days);
        out.push(b' ');
        out.write_time(rest);
        out
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII digits and separators are ever written.
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or_default()
    }

    fn push(&mut self, byte: u8) {
        if let Some(slot) = self.buf.get_mut(self.len) {
            *slot = byte;
            self.len += 1;
        }
    }

    /// `v` in decimal, zero-padded to at least `width` digits.
    fn push_padded(&mut self, v: u32, width: usize) {
        let mut digits = [0u8; 10];
        let mut n = v;
        let mut count = 0;
        loop {
            digits[count] = b'0' + (n % 10) as u8;
            count += 1;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        for _ in count..width {
            self.push(b'0');
        }
        for &d in digits[..count].iter().rev() {
            self.push(d);
        }
    }

    /// The year as `format!("{y:04}")` writes it: four digits at least, and for a
    /// year before 1 a minus sign counted in the width.
    fn push_year(&mut self, y: i32) {
        match u32::try_from(y) {
            Ok(year) if year <= 9999 => {
                self.push_pair(year / 100);
                self.push_pair(year % 100);
            }
            Ok(year) => self.push_padded(year, 4),
            Err(_) => {
                self.push(b'-');
                self.push_padded(y.unsigned_abs(), 3);
            }
        }
    }

    /// Two digits of `v` (below 100).
    fn push_pair(&mut self, v: u32) {
        let at = (v as usize % 100) * 2;
        self.push(PAIRS[at]);
        self.push(PAIRS[at + 1]);
    }

    fn write_date(&mut self, days: i32) {
        let (y, m, d) = civil_from_days(days);
        self.push_year(y);
        self.push(b'-');
        self.push_pair(m);
        self.push(b'-');
        self.push_pair(d);
    }

    fn write_time(&mut self, micros: i64) {
        let (h, mi, s, us) = split_time(micros);
        self.push_pair(h);
        self.push(b':');
        self.push_pair(mi);
        self.push(b':');
        self.push_pair(s);
        if us != 0 {
            self.push(b'.');
            self.push_pair(us / 10_000);
            self.push_pair(us / 100 % 100);
            self.push_pair(us % 100);
        }
    }
}

/// "00", "01", … "99", back to back.
const PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::days_from_civil;

    #[test]
    fn years_are_written_as_format_pads_them() {
        for y in [-4713, -10, -1, 0, 1, 99, 999, 2024, 9999, 10_000, 5_874_897] {
            let days = days_from_civil(y, 3, 7);
            assert_eq!(IsoText::date(days).as_str(), format!("{y:04}-03-07"));
        }
    }

    #[test]
    fn timestamps_with_and_without_fraction() {
        let day = i64::from(days_from_civil(2024, 2, 29)) * MICROS_PER_DAY;
        let t = day + ((13 * 60 + 5) * 60) * 1_000_000;
        assert_eq!(IsoText::timestamp(t).as_str(), "2024-02-29 13:05:00");
        assert_eq!(
            IsoText::timestamp(t + 120).as_str(),
            "2024-02-29 13:05:00.000120"
        );
        assert_eq!(
            IsoText::timestamp(-1).as_str(),
            "1999-12-31 23:59:59.999999"
        );
        assert_eq!(IsoText::time(999_999).as_str(), "00:00:00.999999");
    }

    #[test]
    fn the_extremes_fit_whole() {
        let micros = i64::MIN;
        let days = i32::try_from(micros.div_euclid(MICROS_PER_DAY)).expect("days");
        let (y, m, d) = civil_from_days(days);
        let (h, mi, s, us) = split_time(micros.rem_euclid(MICROS_PER_DAY));
        assert_eq!(
            IsoText::timestamp(micros).as_str(),
            format!("{y:04}-{m:02}-{d:02} {h:02}:{mi:02}:{s:02}.{us:06}")
        );
        for days in [i32::MIN, i32::MAX] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(
                IsoText::date(days).as_str(),
                format!("{y:04}-{m:02}-{d:02}")
            );
        }
    }
}
