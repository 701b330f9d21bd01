//! ISO-8601 text as SQLite stores dates and times, parsed without Python.
//!
//! Only the common shapes are accepted: `YYYY-MM-DD`, `HH:MM[:SS[.f…]]` (one to six
//! fraction digits) and both joined by `T` or a space, with an optional `Z` or
//! `±HH:MM[:SS]` offset. For anything else the parsers answer `None` and the caller
//! asks Python's `fromisoformat`, which knows every variant and words the errors.

/// A date and time of day as written, with the offset in seconds east of UTC if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateTimeParts {
    pub year: i32,
    pub month: u8,
    pub day: u8,
    pub time: TimeParts,
}

/// A time of day as written, with the offset in seconds east of UTC if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeParts {
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
    pub micro: u32,
    pub offset: Option<i32>,
}

fn digits(s: &[u8]) -> Option<u32> {
    if s.is_empty() {
        return None;
    }
    s.iter().try_fold(0u32, |acc, &b| {
        b.is_ascii_digit().then(|| acc * 10 + u32::from(b - b'0'))
    })
}

fn two(s: &[u8], at: usize, max: u32) -> Option<u8> {
    let v = digits(s.get(at..at + 2)?)?;
    (v <= max).then_some(v as u8)
}

fn days_in_month(year: i32, month: u8) -> u8 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        _ => 31,
    }
}

/// `YYYY-MM-DD` (year 1 to 9999).
pub fn parse_date(s: &str) -> Option<(i32, u8, u8)> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let year = digits(&b[..4])? as i32;
    let month = two(b, 5, 12)?;
    let day = two(b, 8, 31)?;
    (year >= 1 && month >= 1 && day >= 1 && day <= days_in_month(year, month))
        .then_some((year, month, day))
}

/// `HH:MM[:SS[.ffffff]]` with an optional offset.
pub fn parse_time(s: &str) -> Option<TimeParts> {
    let b = s.as_bytes();
    let hour = two(b, 0, 23)?;
    if b.get(2) != Some(&b':') {
        return None;
    }
    let minute = two(b, 3, 59)?;
    let (mut second, mut micro, mut at) = (0, 0, 5);
    if b.get(at) == Some(&b':') {
        second = two(b, at + 1, 59)?;
        at += 3;
        if b.get(at) == Some(&b'.') {
            let start = at + 1;
            let end = b[start..]
                .iter()
                .position(|c| !c.is_ascii_digit())
                .map_or(b.len(), |n| start + n);
            let n = end - start;
            if !(1..=6).contains(&n) {
                return None;
            }
            micro = digits(&b[start..end])? * 10u32.pow(6 - n as u32);
            at = end;
        }
    }
    let offset = match &b[at..] {
        [] => None,
        [b'Z'] => Some(0),
        [sign @ (b'+' | b'-'), rest @ ..] => {
            let (h, m) = (two(rest, 0, 23)?, two(rest, 3, 59)?);
            let sec = match rest.len() {
                5 => 0,
                8 if rest[5] == b':' => two(rest, 6, 59)?,
                _ => return None,
            };
            if rest[2] != b':' {
                return None;
            }
            let secs = (i32::from(h) * 60 + i32::from(m)) * 60 + i32::from(sec);
            Some(if *sign == b'-' { -secs } else { secs })
        }
        _ => return None,
    };
    Some(TimeParts {
        hour,
        minute,
        second,
        micro,
        offset,
    })
}

/// `YYYY-MM-DD HH:MM[:SS[.ffffff]][offset]` (or `T` for the space).
pub fn parse_datetime(s: &str) -> Option<DateTimeParts> {
    let (date, time) = (s.get(..10)?, s.get(11..)?);
    if !matches!(s.as_bytes()[10], b' ' | b'T') {
        return None;
    }
    let (year, month, day) = parse_date(date)?;
    Some(DateTimeParts {
        year,
        month,
        day,
        time: parse_time(time)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(hour: u8, minute: u8, second: u8, micro: u32, offset: Option<i32>) -> TimeParts {
        TimeParts {
            hour,
            minute,
            second,
            micro,
            offset,
        }
    }

    #[test]
    fn accepted_shapes() {
        assert_eq!(parse_date("2024-02-29"), Some((2024, 2, 29)));
        assert_eq!(parse_time("10:00"), Some(t(10, 0, 0, 0, None)));
        assert_eq!(parse_time("23:59:59.5"), Some(t(23, 59, 59, 500_000, None)));
        assert_eq!(parse_time("00:00:01.000120"), Some(t(0, 0, 1, 120, None)));
        assert_eq!(parse_time("10:00:00Z"), Some(t(10, 0, 0, 0, Some(0))));
        assert_eq!(
            parse_time("10:00:00-05:30"),
            Some(t(10, 0, 0, 0, Some(-19_800)))
        );
        assert_eq!(
            parse_time("10:00+01:00:15"),
            Some(t(10, 0, 0, 0, Some(3_615)))
        );
        let dt = parse_datetime("2024-01-31T13:05:07.123+00:00").expect("a datetime");
        assert_eq!((dt.year, dt.month, dt.day), (2024, 1, 31));
        assert_eq!(dt.time, t(13, 5, 7, 123_000, Some(0)));
        assert!(parse_datetime("2024-01-31 13:05").is_some());
    }

    #[test]
    fn everything_else_is_left_to_python() {
        for s in [
            "2023-02-29",
            "2024-13-01",
            "2024-00-10",
            "0000-01-01",
            "20240101",
            "2024-1-01",
            "2024-01-01x10:00",
            "2024-01-01 24:00",
            "2024-01-01 10:00:60",
            "2024-01-01 10",
            "2024-01-01 10:00:00.1234567",
            "2024-01-01 10:00:00.",
            "2024-01-01 10:00:00,5",
            "2024-01-01 10:00:00+05",
            "2024-01-01 10:00:00+0530",
            "2024-01-01 10:00:00 +05:30",
            "2024-01-01 10:00:00+05:30:15.5",
            "2024-01-01 ١٠:00",
            "",
        ] {
            assert_eq!(parse_datetime(s), None, "{s:?}");
        }
        assert_eq!(parse_time("10"), None);
        assert_eq!(parse_date("2024-01-01 "), None);
    }
}
