//! Backend-neutral values: what a row holds in Rust until Python asks for it.
//!
//! Temporal values use PostgreSQL's epoch (2000-01-01) and microseconds, so the
//! PostgreSQL binary codecs are plain integer copies; SQLite stores them as text.

use smallvec::SmallVec;

pub mod iso;
pub mod rows;
pub mod text;

pub use text::IsoText;

/// Days between 1970-01-01 and 2000-01-01 (PostgreSQL's epoch).
pub const PG_EPOCH_DAYS_FROM_UNIX: i32 = 10_957;

/// One value of one column.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
    Bytes(Vec<u8>),
    /// Exact decimal in canonical text form (`-12.3400`, `NaN`, `Infinity`).
    Decimal(String),
    /// Days since 2000-01-01.
    Date(i32),
    /// Microseconds since midnight.
    Time(i64),
    /// Microseconds since midnight and the UTC offset in seconds (east positive).
    TimeTz(i64, i32),
    /// Naive timestamp: microseconds since 2000-01-01 00:00:00.
    Timestamp(i64),
    /// Instant: microseconds since 2000-01-01 00:00:00 UTC.
    TimestampTz(i64),
    Interval {
        months: i32,
        days: i32,
        micros: i64,
    },
    Uuid([u8; 16]),
    /// JSON document as text.
    Json(String),
    /// One-dimensional array; elements may be `Null`.
    Array(Vec<Value>),
}

impl Value {
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// Short name of the variant, used in error messages.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Text(_) => "str",
            Value::Bytes(_) => "bytes",
            Value::Decimal(_) => "Decimal",
            Value::Date(_) => "date",
            Value::Time(_) => "time",
            Value::TimeTz(_, _) => "time with time zone",
            Value::Timestamp(_) => "datetime",
            Value::TimestampTz(_) => "aware datetime",
            Value::Interval { .. } => "timedelta",
            Value::Uuid(_) => "UUID",
            Value::Json(_) => "JSON",
            Value::Array(_) => "list",
        }
    }
}

/// A row: values inline for the common case of up to eight columns.
pub type Row = SmallVec<[Value; 8]>;

/// Days from 2000-01-01 to the proleptic Gregorian date `y-m-d`.
pub fn days_from_civil(y: i32, m: u32, d: u32) -> i32 {
    let y = i64::from(y) - i64::from(m <= 2);
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = i64::from(m);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let unix_days = era * 146_097 + doe - 719_468;
    (unix_days - i64::from(PG_EPOCH_DAYS_FROM_UNIX)) as i32
}

/// The proleptic Gregorian date `(year, month, day)` that is `days` after 2000-01-01.
pub fn civil_from_days(days: i32) -> (i32, u32, u32) {
    let z = i64::from(days) + i64::from(PG_EPOCH_DAYS_FROM_UNIX) + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y as i32, m, d)
}

pub const MICROS_PER_DAY: i64 = 86_400_000_000;

/// Splits microseconds since midnight into `(hour, minute, second, microsecond)`.
pub fn split_time(micros: i64) -> (u32, u32, u32, u32) {
    let m = micros.rem_euclid(MICROS_PER_DAY);
    let secs = m / 1_000_000;
    (
        (secs / 3600) as u32,
        ((secs / 60) % 60) as u32,
        (secs % 60) as u32,
        (m % 1_000_000) as u32,
    )
}

/// ISO-8601 text of a date (`2024-02-29`).
pub fn format_date(days: i32) -> String {
    IsoText::date(days).as_str().to_owned()
}

/// ISO-8601 text of a time of day (`13:05:00` or `13:05:00.000120`).
pub fn format_time(micros: i64) -> String {
    IsoText::time(micros).as_str().to_owned()
}

/// ISO-8601 text of a UTC offset in seconds (`+05:30`).
pub fn format_offset(offset_secs: i32) -> String {
    let sign = if offset_secs < 0 { '-' } else { '+' };
    let a = offset_secs.unsigned_abs();
    if a % 60 == 0 {
        format!("{sign}{:02}:{:02}", a / 3600, (a / 60) % 60)
    } else {
        format!("{sign}{:02}:{:02}:{:02}", a / 3600, (a / 60) % 60, a % 60)
    }
}

/// ISO-8601 text of a timestamp (`2024-02-29 13:05:00.000120`).
pub fn format_timestamp(micros: i64) -> String {
    IsoText::timestamp(micros).as_str().to_owned()
}

/// Serialises a value as JSON text (used for lists sent to JSON columns and to SQLite).
/// Returns `None` for values JSON cannot hold (bytes, non-finite floats).
pub fn to_json_text(v: &Value) -> Option<String> {
    let mut out = String::new();
    write_json(v, &mut out).then_some(out)
}

fn write_json(v: &Value, out: &mut String) -> bool {
    use std::fmt::Write;
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Float(f) => {
            if !f.is_finite() {
                return false;
            }
            let _ = write!(out, "{f:?}");
        }
        Value::Decimal(d) => {
            if d.chars().any(|c| c.is_ascii_alphabetic()) {
                return false;
            }
            out.push_str(d);
        }
        Value::Json(j) => out.push_str(j),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                if !write_json(item, out) {
                    return false;
                }
            }
            out.push(']');
        }
        Value::Bytes(_) => return false,
        Value::Text(s) => write_json_string(s, out),
        other => {
            let text = match other {
                Value::Date(d) => format_date(*d),
                Value::Time(t) => format_time(*t),
                Value::TimeTz(t, o) => format!("{}{}", format_time(*t), format_offset(*o)),
                Value::Timestamp(t) => format_timestamp(*t).replacen(' ', "T", 1),
                Value::TimestampTz(t) => {
                    format!("{}+00:00", format_timestamp(*t).replacen(' ', "T", 1))
                }
                Value::Uuid(u) => format_uuid(u),
                _ => return false,
            };
            write_json_string(&text, out);
        }
    }
    true
}

pub fn write_json_string(s: &str, out: &mut String) {
    use std::fmt::Write;
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Canonical 36-character text of a UUID.
pub fn format_uuid(u: &[u8; 16]) -> String {
    let mut s = String::with_capacity(36);
    for (i, b) in u.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            s.push('-');
        }
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    s
}

const HEX: &[u8; 16] = b"0123456789abcdef";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip() {
        for days in [-800_000, -1, 0, 1, 59, 60, 366, 8_000, 2_000_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(days_from_civil(2000, 1, 1), 0);
        assert_eq!(civil_from_days(-10_957), (1970, 1, 1));
        assert_eq!(format_date(days_from_civil(2024, 2, 29)), "2024-02-29");
    }

    /// The text forms as `format!` writes them (what they were before being built by hand).
    fn reference_timestamp(micros: i64) -> String {
        let days = micros.div_euclid(MICROS_PER_DAY);
        let days = i32::try_from(days).unwrap_or(if days < 0 { i32::MIN } else { i32::MAX });
        let (y, m, d) = civil_from_days(days);
        let (h, mi, s, us) = split_time(micros);
        if us == 0 {
            format!("{y:04}-{m:02}-{d:02} {h:02}:{mi:02}:{s:02}")
        } else {
            format!("{y:04}-{m:02}-{d:02} {h:02}:{mi:02}:{s:02}.{us:06}")
        }
    }

    #[test]
    fn hand_built_text_forms_match_format() {
        let mut edges = vec![
            0,
            -1,
            1,
            i64::MIN,
            i64::MAX,
            MICROS_PER_DAY - 1,
            -MICROS_PER_DAY,
            // 0000-01-01, 9999-12-31 23:59:59.999999, 10000-01-01 and -0001-12-31
            i64::from(days_from_civil(0, 1, 1)) * MICROS_PER_DAY,
            i64::from(days_from_civil(10_000, 1, 1)) * MICROS_PER_DAY - 1,
            i64::from(days_from_civil(10_000, 1, 1)) * MICROS_PER_DAY,
            i64::from(days_from_civil(0, 1, 1)) * MICROS_PER_DAY - 1,
        ];
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // spread over every magnitude, both signs
            let shift = x % 64;
            edges.push((x as i64) >> shift);
        }
        for micros in edges {
            assert_eq!(
                format_timestamp(micros),
                reference_timestamp(micros),
                "{micros}"
            );
            let days = i32::try_from(micros.div_euclid(MICROS_PER_DAY)).unwrap_or(0);
            let (y, m, d) = civil_from_days(days);
            assert_eq!(format_date(days), format!("{y:04}-{m:02}-{d:02}"));
        }
        let u: [u8; 16] = [
            0x00, 0x01, 0x0a, 0x0f, 0x10, 0x7f, 0x80, 0x9a, 0xa9, 0xbc, 0xcd, 0xde, 0xef, 0xf0,
            0xfe, 0xff,
        ];
        assert_eq!(format_uuid(&u), "00010a0f-107f-809a-a9bc-cddeeff0feff");
    }

    #[test]
    fn text_forms() {
        assert_eq!(
            format_time(13 * 3_600_000_000 + 5 * 60_000_000 + 120),
            "13:05:00.000120"
        );
        assert_eq!(format_offset(19_800), "+05:30");
        assert_eq!(format_offset(-3600), "-01:00");
        assert_eq!(format_timestamp(-1), "1999-12-31 23:59:59.999999");
        let u = [0x12u8; 16];
        assert_eq!(format_uuid(&u), "12121212-1212-1212-1212-121212121212");
    }

    #[test]
    fn json_text() {
        let v = Value::Array(vec![
            Value::Int(1),
            Value::Text("a\"b\n".into()),
            Value::Null,
            Value::Json("{\"k\":1}".into()),
        ]);
        assert_eq!(
            to_json_text(&v).as_deref(),
            Some("[1,\"a\\\"b\\n\",null,{\"k\":1}]")
        );
        assert_eq!(to_json_text(&Value::Float(f64::NAN)), None);
        assert_eq!(to_json_text(&Value::Bytes(vec![1])), None);
    }
}
