//! Decimal values with infinities and NaN: what the `ormkit_dec_*` functions compute.
//!
//! Finite values are `Fixed` (exact, see `decimal_math`). The special values follow
//! Python's `Decimal` and PostgreSQL's `numeric`: NaN in gives NaN out;
//! `Infinity + -Infinity` and `Infinity × 0` are NaN; a finite value divided by an
//! infinity is `0`. Division by zero is an error (as PostgreSQL raises), whatever is
//! divided.
//!
//! Text is read by `decimal_text::parse` with two changes: a value written with an
//! exponent above its last digit (`'1E+5'`) is read as the plain integer (`100000`,
//! scale 0), and a value whose plain form would have more than `MAX_DIGITS` digits is
//! refused, so `'1E+999999999'` cannot make a sum allocate gigabytes.

use super::decimal_math::Fixed;
use super::decimal_text::{parse, Number};
use std::fmt;

/// The most digits (whole and fractional, as written plainly) an operand may have.
/// A product of two such operands takes about a tenth of a second.
pub(crate) const MAX_DIGITS: usize = 10_000;

/// The fewest fractional digits a quotient is computed to (as PostgreSQL's `numeric`
/// division gives at least 16 significant digits, and Python's 28).
pub(crate) const QUOTIENT_DIGITS: usize = 20;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Decimal {
    Finite(Fixed),
    Infinity { negative: bool },
    NaN,
}

/// Why a text is not an operand.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ReadError {
    NotADecimal,
    TooManyDigits,
}

/// The division by zero that `Decimal::div` refuses.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct DivisionByZero;

impl Decimal {
    /// Reads decimal text (`'-3.50'`, `'1E-7'`, `'Infinity'`, `'NaN'`).
    pub(crate) fn read(text: &str) -> Result<Decimal, ReadError> {
        match parse(text) {
            Number::NaN => Ok(Decimal::NaN),
            Number::Infinity => Ok(Decimal::Infinity { negative: false }),
            Number::NegInfinity => Ok(Decimal::Infinity { negative: true }),
            Number::Text(_) => Err(ReadError::NotADecimal),
            Number::Zero { scale } => Ok(Decimal::Finite(Fixed::zero(plain_scale(scale)?))),
            Number::Finite {
                negative,
                exponent,
                digits,
                scale,
            } => {
                let scale = plain_scale(scale)?;
                // 0.DIGITS × 10^exponent has `exponent` whole digits; at `scale`, the
                // digits are followed by `exponent + scale - len` zeros
                let whole = usize::try_from(exponent.max(0)).unwrap_or(usize::MAX);
                let plain = whole.saturating_add(scale);
                if plain > MAX_DIGITS {
                    return Err(ReadError::TooManyDigits);
                }
                let zeros = i64::try_from(scale)
                    .ok()
                    .zip(i64::try_from(digits.len()).ok())
                    .and_then(|(s, len)| usize::try_from(exponent + s - len).ok())
                    .unwrap_or(0);
                Ok(Decimal::Finite(Fixed::from_ascii(
                    negative, &digits, zeros, scale,
                )))
            }
        }
    }

    pub(crate) fn neg(&self) -> Decimal {
        match self {
            Decimal::Finite(x) => Decimal::Finite(x.negated()),
            Decimal::Infinity { negative } => Decimal::Infinity {
                negative: !negative,
            },
            Decimal::NaN => Decimal::NaN,
        }
    }

    pub(crate) fn add(&self, other: &Decimal) -> Decimal {
        match (self, other) {
            (Decimal::Finite(a), Decimal::Finite(b)) => Decimal::Finite(a.add(b)),
            (Decimal::NaN, _) | (_, Decimal::NaN) => Decimal::NaN,
            (Decimal::Infinity { negative: a }, Decimal::Infinity { negative: b }) if a != b => {
                Decimal::NaN
            }
            (Decimal::Infinity { .. }, _) => self.clone(),
            (_, Decimal::Infinity { .. }) => other.clone(),
        }
    }

    pub(crate) fn sub(&self, other: &Decimal) -> Decimal {
        self.add(&other.neg())
    }

    pub(crate) fn mul(&self, other: &Decimal) -> Decimal {
        match (self, other) {
            (Decimal::Finite(a), Decimal::Finite(b)) => Decimal::Finite(a.mul(b)),
            (Decimal::NaN, _) | (_, Decimal::NaN) => Decimal::NaN,
            _ => match (self.sign(), other.sign()) {
                (Some(a), Some(b)) => Decimal::Infinity { negative: a != b },
                _ => Decimal::NaN,
            },
        }
    }

    /// `self ÷ other` to `max(20, scale(self), scale(other))` fractional digits,
    /// rounded half-even, then without trailing zeros beyond the larger scale of the
    /// two: `1 / 3 = 0.33333333333333333333`, `10 / 4 = 2.5`, `2.00 / 1 = 2.00`.
    pub(crate) fn div(&self, other: &Decimal) -> Result<Decimal, DivisionByZero> {
        if matches!(self, Decimal::NaN) || matches!(other, Decimal::NaN) {
            return Ok(Decimal::NaN);
        }
        if matches!(other, Decimal::Finite(b) if b.is_zero()) {
            return Err(DivisionByZero);
        }
        Ok(match (self, other) {
            (Decimal::Finite(a), Decimal::Finite(b)) => {
                let keep = a.scale().max(b.scale());
                a.div(b, keep.max(QUOTIENT_DIGITS))
                    .map_or(Decimal::NaN, |q| Decimal::Finite(q.trimmed(keep)))
            }
            (Decimal::Finite(_), Decimal::Infinity { .. }) => Decimal::Finite(Fixed::zero(0)),
            (Decimal::Infinity { .. }, Decimal::Infinity { .. }) => Decimal::NaN,
            _ => match (self.sign(), other.sign()) {
                (Some(a), Some(b)) => Decimal::Infinity { negative: a != b },
                _ => Decimal::NaN,
            },
        })
    }

    /// Whether the value is negative; `None` for zero and NaN.
    fn sign(&self) -> Option<bool> {
        match self {
            Decimal::Finite(x) if x.is_zero() => None,
            Decimal::Finite(x) => Some(x.is_negative()),
            Decimal::Infinity { negative } => Some(*negative),
            Decimal::NaN => None,
        }
    }
}

/// A scale as written, with the negative scale of `'1E+5'` read as 0; refused beyond
/// `MAX_DIGITS`.
fn plain_scale(scale: i64) -> Result<usize, ReadError> {
    match usize::try_from(scale.max(0)) {
        Ok(s) if s <= MAX_DIGITS => Ok(s),
        _ => Err(ReadError::TooManyDigits),
    }
}

/// The text Python's `str(Decimal)` gives: plain digits (`'-12.50'`, `'0'`),
/// `'Infinity'`, `'-Infinity'` or `'NaN'`.
impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Decimal::Finite(x) => x.fmt(f),
            Decimal::Infinity { negative: false } => f.write_str("Infinity"),
            Decimal::Infinity { negative: true } => f.write_str("-Infinity"),
            Decimal::NaN => f.write_str("NaN"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(text: &str) -> Decimal {
        Decimal::read(text).expect("a decimal")
    }

    fn div(a: &str, b: &str) -> String {
        dec(a)
            .div(&dec(b))
            .map_or("division by zero".to_owned(), |q| q.to_string())
    }

    #[test]
    fn reads_what_python_writes() {
        for (text, plain) in [
            ("-3.50", "-3.50"),
            ("1E+5", "100000"),
            ("1.5E+1", "15"),
            ("1E-7", "0.0000001"),
            ("1.50E-2", "0.0150"),
            ("0E-8", "0.00000000"),
            ("-0", "0"),
            ("-0.00", "0.00"),
            ("0E+3", "0"),
            (" 7 ", "7"),
            ("inf", "Infinity"),
            ("-Infinity", "-Infinity"),
            ("snan", "NaN"),
        ] {
            assert_eq!(dec(text).to_string(), plain, "{text}");
        }
    }

    #[test]
    fn refuses_what_is_not_a_decimal_or_too_big() {
        assert_eq!(Decimal::read("abc"), Err(ReadError::NotADecimal));
        assert_eq!(Decimal::read(""), Err(ReadError::NotADecimal));
        assert_eq!(Decimal::read("1E+999999999"), Err(ReadError::TooManyDigits));
        assert_eq!(Decimal::read("1E-10001"), Err(ReadError::TooManyDigits));
        assert_eq!(Decimal::read("0E-10001"), Err(ReadError::TooManyDigits));
        assert_eq!(
            Decimal::read("1E+99999999999999999999"),
            Err(ReadError::TooManyDigits)
        );
        assert!(Decimal::read("1E+9999").is_ok());
        assert!(Decimal::read("1E-10000").is_ok());
        assert_eq!(
            Decimal::read("1E+9999").map(|d| d.to_string().len()),
            Ok(10_000)
        );
    }

    #[test]
    fn special_values() {
        let cases = [
            (dec("NaN").add(&dec("1")), "NaN"),
            (dec("1").mul(&dec("NaN")), "NaN"),
            (dec("Infinity").add(&dec("-Infinity")), "NaN"),
            (dec("Infinity").sub(&dec("Infinity")), "NaN"),
            (dec("Infinity").add(&dec("Infinity")), "Infinity"),
            (dec("-Infinity").add(&dec("5")), "-Infinity"),
            (dec("5").sub(&dec("Infinity")), "-Infinity"),
            (dec("Infinity").mul(&dec("0")), "NaN"),
            (dec("0.00").mul(&dec("-Infinity")), "NaN"),
            (dec("-2").mul(&dec("Infinity")), "-Infinity"),
            (dec("-Infinity").mul(&dec("-Infinity")), "Infinity"),
            (dec("Infinity").neg(), "-Infinity"),
            (dec("NaN").neg(), "NaN"),
            (dec("-0.10").neg(), "0.10"),
        ];
        for (got, want) in cases {
            assert_eq!(got.to_string(), want);
        }
    }

    #[test]
    fn divides_to_twenty_digits_then_trims_to_the_scales() {
        assert_eq!(div("1", "3"), "0.33333333333333333333");
        assert_eq!(div("10", "4"), "2.5");
        assert_eq!(div("2.00", "1"), "2.00");
        assert_eq!(div("3.30", "2"), "1.65");
        assert_eq!(div("6", "-2"), "-3");
        // the divisor's scale is kept
        assert_eq!(div("1", "0.00010"), "10000.00000");
        assert_eq!(
            div("0.0000000000000000000000001", "3"),
            "0.0000000000000000000000000"
        );
        // half-even at the 20th fractional digit: 2.5E-20 and 1.5E-20
        assert_eq!(div("5", "200000000000000000000"), "0.00000000000000000002");
        assert_eq!(div("3", "200000000000000000000"), "0.00000000000000000002");
        assert_eq!(div("7", "200000000000000000000"), "0.00000000000000000004");
        assert_eq!(
            div("-5", "200000000000000000000"),
            "-0.00000000000000000002"
        );
    }

    #[test]
    fn division_special_values_and_zero() {
        assert_eq!(div("1", "0"), "division by zero");
        assert_eq!(div("0", "0.00"), "division by zero");
        assert_eq!(div("Infinity", "0"), "division by zero");
        assert_eq!(div("NaN", "0"), "NaN");
        assert_eq!(div("5", "Infinity"), "0");
        assert_eq!(div("-Infinity", "2"), "-Infinity");
        assert_eq!(div("Infinity", "-Infinity"), "NaN");
        assert_eq!(div("0", "3"), "0");
    }
}
