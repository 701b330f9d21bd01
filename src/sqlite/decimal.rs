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

use super::decimal_text::{parse, Number};
use std::cmp::Ordering;

/// The name the compiler writes after `COLLATE`.
pub const COLLATION: &str = "ormkit_decimal";

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
                ..
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
