//! Reading decimal text: what the `ormkit_decimal` collation compares and the
//! `ormkit_dec_*` functions compute with.
//!
//! ormkit stores a `Decimal` as the text `str()` gives it (`'0.1'`, `'-3.50'`, `'1E+5'`,
//! `'Infinity'`, `'NaN'`). `parse` reads such text into its value, digit by digit (no
//! float on the way), and keeps the scale it was written with (`'3.50'` has two
//! fractional digits, `'1E+5'` minus five), which arithmetic carries into its results.

/// What a decimal text stands for, in the collation's order of kinds.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Number<'a> {
    NegInfinity,
    /// A finite non-zero value `±0.DIGITS × 10^exponent`: `digits` (ASCII) has no
    /// leading or trailing zero. `scale` is the number of fractional digits as written
    /// (`'3.50'`: 2, `'1E+5'`: -5).
    Finite {
        negative: bool,
        exponent: i64,
        digits: Vec<u8>,
        scale: i64,
    },
    /// Zero of either sign, with the scale it was written with (`'0.00'`: 2).
    Zero {
        scale: i64,
    },
    Infinity,
    NaN,
    /// Not a number at all (compared by its bytes, after every number).
    Text(&'a str),
}

impl Number<'_> {
    /// The rank of the value's kind; finite values of one sign rank together with zero
    /// between them.
    pub(crate) fn rank(&self) -> u8 {
        match self {
            Number::NegInfinity => 0,
            Number::Finite { negative: true, .. } => 1,
            Number::Zero { .. } => 2,
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
pub(crate) fn parse(text: &str) -> Number<'_> {
    let trimmed = text.trim_matches(|c: char| c.is_ascii_whitespace());
    let (negative, body) = match trimmed.as_bytes().first() {
        Some(b'-') => (true, &trimmed[1..]),
        Some(b'+') => (false, &trimmed[1..]),
        _ => (false, trimmed),
    };
    let named = |names: [&str; 2]| names.iter().any(|n| body.eq_ignore_ascii_case(n));
    if named(["inf", "infinity"]) {
        return if negative {
            Number::NegInfinity
        } else {
            Number::Infinity
        };
    }
    if named(["nan", "snan"]) {
        return Number::NaN;
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
    let mut fraction_digits: i64 = 0;
    let mut seen_point = false;
    for b in mantissa.bytes() {
        match b {
            b'0'..=b'9' => {
                digits.push(b);
                if seen_point {
                    fraction_digits += 1;
                } else {
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
    let scale = fraction_digits.saturating_sub(exponent);
    let leading = digits.iter().take_while(|&&d| d == b'0').count();
    if leading == digits.len() {
        return Number::Zero { scale };
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
        scale,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn finite(negative: bool, exponent: i64, digits: &str, scale: i64) -> Number<'static> {
        Number::Finite {
            negative,
            exponent,
            digits: digits.as_bytes().to_vec(),
            scale,
        }
    }

    #[test]
    fn scale_is_kept_as_written() {
        assert_eq!(parse("-12.50"), finite(true, 2, "125", 2));
        assert_eq!(parse("1E+5"), finite(false, 6, "1", -5));
        assert_eq!(parse("1.5E-3"), finite(false, -2, "15", 4));
        assert_eq!(parse("0100"), finite(false, 3, "1", 0));
        assert_eq!(parse("-0.00"), Number::Zero { scale: 2 });
        assert_eq!(parse("0E+3"), Number::Zero { scale: -3 });
    }
}
