//! The `ormkit_decimal` collation: decimal text compared by value, exactly.
//!
//! SQLite has no exact decimal type, so ormkit stores a `Decimal` column as its text
//! (`TEXT` affinity: never turned into a float). Compared as text, `'10.25' < '9.50'`
//! and `'9.5' <> '9.50'`. The SQL compiler adds `COLLATE ormkit_decimal` where such a
//! column is compared, ordered or aggregated by `min`/`max`, and every ormkit connection
//! registers this collation: two texts are ordered by the numbers they spell, digit by
//! digit (no float on the way, so any precision compares exactly).
//!
//! The order is total: `-Infinity` < finite numbers < `Infinity` < `NaN` (as PostgreSQL
//! orders `numeric`), then any text that is not a number, by its bytes. `-0` equals `0`.

use std::cmp::Ordering;

/// The name the compiler writes after `COLLATE`.
pub const COLLATION: &str = "ormkit_decimal";

/// What a decimal text stands for, in the collation's order of kinds.
#[derive(Debug, PartialEq, Eq)]
enum Number<'a> {
    NegInfinity,
    /// A finite non-zero value `±0.DIGITS × 10^exponent`: `digits` has no leading or
    /// trailing zero.
    Finite {
        negative: bool,
        exponent: i64,
        digits: Vec<u8>,
    },
    Zero,
    Infinity,
    NaN,
    /// Not a number at all (compared by its bytes, after every number).
    Text(&'a str),
}

impl Number<'_> {
    /// The rank of the value's kind; finite values of one sign rank together with zero
    /// between them.
    fn rank(&self) -> u8 {
        match self {
            Number::NegInfinity => 0,
            Number::Finite { negative: true, .. } => 1,
            Number::Zero => 2,
            Number::Finite {
                negative: false, ..
            } => 3,
            Number::Infinity => 4,
            Number::NaN => 5,
            Number::Text(_) => 6,
        }
    }
}

/// Reads `text` as `Decimal`'s `str()` writes it (and as people type numbers): an
/// optional sign, digits with at most one point, an optional exponent; or `Infinity`,
/// `Inf` or `NaN` (any case, `sNaN` too).
fn parse(text: &str) -> Number<'_> {
    let trimmed = text.trim_matches(|c: char| c.is_ascii_whitespace());
    let (negative, body) = match trimmed.as_bytes().first() {
        Some(b'-') => (true, &trimmed[1..]),
        Some(b'+') => (false, &trimmed[1..]),
        _ => (false, trimmed),
    };
    let lower = body.to_ascii_lowercase();
    match lower.as_str() {
        "inf" | "infinity" => {
            return if negative {
                Number::NegInfinity
            } else {
                Number::Infinity
            }
        }
        "nan" | "snan" => return Number::NaN,
        _ => {}
    }
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(at) => (&body[..at], Some(&body[at + 1..])),
        None => (body, None),
    };
    let exponent = match exponent {
        None => 0,
        Some(digits) => match parse_exponent(digits) {
            Some(e) => e,
            None => return Number::Text(text),
        },
    };
    let mut digits = Vec::with_capacity(mantissa.len());
    let mut whole_digits: i64 = 0;
    let mut seen_point = false;
    for b in mantissa.bytes() {
        match b {
            b'0'..=b'9' => {
                digits.push(b);
                if !seen_point {
                    whole_digits += 1;
                }
            }
            b'.' if !seen_point => seen_point = true,
            _ => return Number::Text(text),
        }
    }
    if digits.is_empty() {
        return Number::Text(text);
    }
    let leading = digits.iter().take_while(|&&d| d == b'0').count();
    if leading == digits.len() {
        return Number::Zero;
    }
    let trailing = digits.iter().rev().take_while(|&&d| d == b'0').count();
    let significant = digits[leading..digits.len() - trailing].to_vec();
    // 0.DIGITS × 10^exponent: the point moves left past the whole digits that remain
    let leading = i64::try_from(leading).unwrap_or(i64::MAX);
    Number::Finite {
        negative,
        exponent: whole_digits
            .saturating_sub(leading)
            .saturating_add(exponent),
        digits: significant,
    }
}

/// An exponent's digits (with an optional sign), saturated far beyond any real value.
fn parse_exponent(text: &str) -> Option<i64> {
    let (negative, digits) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut value: i64 = 0;
    for b in digits.bytes() {
        value = value
            .saturating_mul(10)
            .saturating_add(i64::from(b - b'0'))
            .min(1 << 40);
    }
    Some(if negative { -value } else { value })
}

/// The collation's comparison of two texts.
pub fn compare(a: &str, b: &str) -> Ordering {
    let (x, y) = (parse(a), parse(b));
    let by_rank = x.rank().cmp(&y.rank());
    if by_rank != Ordering::Equal {
        return by_rank;
    }
    match (&x, &y) {
        (
            Number::Finite {
                negative,
                exponent: e1,
                digits: d1,
            },
            Number::Finite {
                exponent: e2,
                digits: d2,
                ..
            },
        ) => {
            let magnitude = e1.cmp(e2).then_with(|| d1.cmp(d2));
            if *negative {
                magnitude.reverse()
            } else {
                magnitude
            }
        }
        (Number::Text(s), Number::Text(t)) => s.as_bytes().cmp(t.as_bytes()),
        _ => Ordering::Equal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ordered(texts: &[&str]) {
        for (i, a) in texts.iter().enumerate() {
            for (j, b) in texts.iter().enumerate() {
                assert_eq!(compare(a, b), i.cmp(&j), "{a} against {b}");
            }
        }
    }

    #[test]
    fn numbers_order_by_value() {
        ordered(&[
            "-Infinity",
            "-100",
            "-10.25",
            "-9.5",
            "-0.001",
            "0",
            "1E-7",
            "0.5",
            "9.5",
            "9.50000000000000000000000001",
            "10.25",
            "100",
            "1E+2000",
            "Infinity",
            "NaN",
            "abc",
            "abd",
        ]);
    }

    #[test]
    fn equal_values_written_differently() {
        for (a, b) in [
            ("9.5", "9.50"),
            ("100", "1E+2"),
            ("100", "1.00e2"),
            ("0", "-0.000"),
            ("0E-8", "0"),
            ("007.50", "7.5"),
            (" 3 ", "3"),
            ("+2", "2"),
            ("inf", "INFINITY"),
            ("NaN", "snan"),
            (".5", "0.5"),
            ("5.", "5"),
        ] {
            assert_eq!(compare(a, b), Ordering::Equal, "{a} = {b}");
        }
    }

    #[test]
    fn exact_beyond_float_precision() {
        assert_eq!(
            compare("12345678901234567890.12", "12345678901234567890.13"),
            Ordering::Less
        );
        assert_eq!(compare("-1E-40", "-1E-41"), Ordering::Less);
    }

    #[test]
    fn not_numbers_are_text_after_numbers() {
        for text in ["", "-", ".", "1.2.3", "1e", "1e+", "e5", "1,5", "x"] {
            assert_eq!(compare("NaN", text), Ordering::Less, "{text}");
        }
        assert_eq!(compare("1.2.3", "1e"), "1.2.3".cmp("1e"));
    }

    #[test]
    fn huge_exponents_saturate_without_overflow() {
        assert_eq!(
            compare("1E+99999999999999999999", "1E+9999999"),
            Ordering::Greater
        );
        assert_eq!(
            compare("1E-99999999999999999999", "1E-9999999"),
            Ordering::Less
        );
        assert_eq!(
            compare("-1E+99999999999999999999", "1E-99999999999999999999"),
            Ordering::Less
        );
    }
}
