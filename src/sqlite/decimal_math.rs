//! Exact arithmetic on finite decimals, for the `ormkit_dec_*` SQL functions.
//!
//! A `Fixed` is a sign, a whole-number coefficient and a scale: `-12.50` is `-1250`
//! with scale 2. The coefficient is a vector of decimal digits, least significant
//! first and without zeros at the most significant end (zero has no digits), so any
//! precision is exact and no float is on the way.
//!
//! Scales follow Python's `Decimal` (and PostgreSQL's `numeric`): a sum or difference
//! keeps the larger scale (`1.10 + 2 = 3.10`), a product the sum of the scales
//! (`1.10 × 3 = 3.30`); a quotient is rounded half-even to the scale asked for. Zero
//! has no sign: `-0` is written `0`.

use std::cmp::Ordering;
use std::fmt;

/// A finite decimal `±coefficient × 10^-scale`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fixed {
    negative: bool,
    /// Decimal digits (0-9), least significant first; no zero at the end.
    digits: Vec<u8>,
    scale: usize,
}

impl Fixed {
    /// Zero written with `scale` fractional digits.
    pub(crate) fn zero(scale: usize) -> Fixed {
        Fixed {
            negative: false,
            digits: Vec::new(),
            scale,
        }
    }

    /// The value of the ASCII digits `ascii` (most significant first) followed by
    /// `zeros` zeros, with `scale` of them fractional.
    pub(crate) fn from_ascii(negative: bool, ascii: &[u8], zeros: usize, scale: usize) -> Fixed {
        let mut digits = vec![0; zeros];
        digits.extend(ascii.iter().rev().map(|b| b.wrapping_sub(b'0') % 10));
        Fixed::new(negative, digits, scale)
    }

    /// The integer `n` (scale 0).
    pub(crate) fn from_integer(mut n: u64) -> Fixed {
        let mut digits = Vec::new();
        while n > 0 {
            // `n % 10` is a single digit
            digits.push((n % 10) as u8);
            n /= 10;
        }
        Fixed::new(false, digits, 0)
    }

    /// A value from raw digits: trims zeros at the most significant end and takes the
    /// sign off zero.
    fn new(negative: bool, mut digits: Vec<u8>, scale: usize) -> Fixed {
        trim(&mut digits);
        Fixed {
            negative: negative && !digits.is_empty(),
            digits,
            scale,
        }
    }

    pub(crate) fn is_zero(&self) -> bool {
        self.digits.is_empty()
    }

    pub(crate) fn is_negative(&self) -> bool {
        self.negative
    }

    pub(crate) fn scale(&self) -> usize {
        self.scale
    }

    /// The value with the other sign.
    pub(crate) fn negated(&self) -> Fixed {
        Fixed::new(!self.negative, self.digits.clone(), self.scale)
    }

    /// `self + other`, at the larger of the two scales.
    pub(crate) fn add(&self, other: &Fixed) -> Fixed {
        let scale = self.scale.max(other.scale);
        let (a, b) = (self.coefficient_at(scale), other.coefficient_at(scale));
        if self.negative == other.negative {
            return Fixed::new(self.negative, add_magnitudes(&a, &b), scale);
        }
        match compare_magnitudes(&a, &b) {
            Ordering::Less => Fixed::new(other.negative, sub_magnitudes(&b, &a), scale),
            _ => Fixed::new(self.negative, sub_magnitudes(&a, &b), scale),
        }
    }

    /// `self - other`, at the larger of the two scales.
    pub(crate) fn sub(&self, other: &Fixed) -> Fixed {
        self.add(&other.negated())
    }

    /// `self × other`, at the sum of the two scales.
    pub(crate) fn mul(&self, other: &Fixed) -> Fixed {
        Fixed::new(
            self.negative != other.negative,
            mul_magnitudes(&self.digits, &other.digits),
            self.scale + other.scale,
        )
    }

    /// `self ÷ other` rounded half-even to `scale` fractional digits; `None` when
    /// `other` is zero.
    pub(crate) fn div(&self, other: &Fixed, scale: usize) -> Option<Fixed> {
        if other.is_zero() {
            return None;
        }
        // (A / 10^sa) / (B / 10^sb) × 10^scale = A × 10^(scale + sb - sa) / B; when the
        // shift would be negative, B takes the zeros instead.
        let up = scale + other.scale;
        let (numerator, denominator) = if up >= self.scale {
            (shifted(&self.digits, up - self.scale), other.digits.clone())
        } else {
            (self.digits.clone(), shifted(&other.digits, self.scale - up))
        };
        let (mut quotient, remainder) = divide_magnitudes(&numerator, &denominator);
        let twice = add_magnitudes(&remainder, &remainder);
        let odd = quotient.first().is_some_and(|d| d % 2 == 1);
        match compare_magnitudes(&twice, &denominator) {
            Ordering::Greater => quotient = add_magnitudes(&quotient, &[1]),
            Ordering::Equal if odd => quotient = add_magnitudes(&quotient, &[1]),
            _ => {}
        }
        Some(Fixed::new(self.negative != other.negative, quotient, scale))
    }

    /// The same value with trailing fractional zeros dropped, but keeping at least
    /// `min_scale` fractional digits (`2.500` to scale 1 is `2.5`, to scale 2 `2.50`).
    pub(crate) fn trimmed(mut self, min_scale: usize) -> Fixed {
        let zeros = self.digits.iter().take_while(|&&d| d == 0).count();
        let drop = if self.digits.is_empty() {
            self.scale.saturating_sub(min_scale)
        } else {
            zeros.min(self.scale.saturating_sub(min_scale))
        };
        self.digits.drain(..drop.min(self.digits.len()));
        self.scale -= drop;
        self
    }

    /// The coefficient at a scale at least this value's own.
    fn coefficient_at(&self, scale: usize) -> Vec<u8> {
        shifted(&self.digits, scale.saturating_sub(self.scale))
    }
}

/// Plain decimal text, as Python's `str(Decimal)` writes values of ordinary size:
/// `-12.50`, `0.003`, `0`, `0.00`; never an exponent.
impl fmt::Display for Fixed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digit = |i: usize| char::from(b'0' + self.digits.get(i).copied().unwrap_or(0));
        if self.negative {
            f.write_str("-")?;
        }
        let whole = self.digits.len().saturating_sub(self.scale);
        if whole == 0 {
            f.write_str("0")?;
        }
        for i in (self.scale..self.scale + whole).rev() {
            fmt::Write::write_char(f, digit(i))?;
        }
        if self.scale > 0 {
            f.write_str(".")?;
            for i in (0..self.scale).rev() {
                fmt::Write::write_char(f, digit(i))?;
            }
        }
        Ok(())
    }
}

/// Drops zeros at the most significant end.
fn trim(digits: &mut Vec<u8>) {
    while digits.last() == Some(&0) {
        digits.pop();
    }
}

/// `digits × 10^zeros`.
fn shifted(digits: &[u8], zeros: usize) -> Vec<u8> {
    if digits.is_empty() {
        return Vec::new();
    }
    let mut out = vec![0; zeros];
    out.extend_from_slice(digits);
    out
}

fn compare_magnitudes(a: &[u8], b: &[u8]) -> Ordering {
    a.len()
        .cmp(&b.len())
        .then_with(|| a.iter().rev().cmp(b.iter().rev()))
}

fn add_magnitudes(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(a.len().max(b.len()) + 1);
    let mut carry = 0;
    for i in 0..a.len().max(b.len()) {
        let sum = a.get(i).copied().unwrap_or(0) + b.get(i).copied().unwrap_or(0) + carry;
        out.push(sum % 10);
        carry = sum / 10;
    }
    if carry > 0 {
        out.push(carry);
    }
    out
}

/// `a - b` for `a >= b`.
fn sub_magnitudes(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut out = a.to_vec();
    subtract_in_place(&mut out, b);
    out
}

/// `a -= b` for `a >= b`; `a` keeps no zeros at the most significant end.
fn subtract_in_place(a: &mut Vec<u8>, b: &[u8]) {
    let mut borrow = 0;
    for (i, digit) in a.iter_mut().enumerate() {
        let take = b.get(i).copied().unwrap_or(0) + borrow;
        if i >= b.len() && take == 0 {
            break;
        }
        if *digit >= take {
            *digit -= take;
            borrow = 0;
        } else {
            *digit = *digit + 10 - take;
            borrow = 1;
        }
    }
    trim(a);
}

/// Schoolbook multiplication, summing each column before carrying.
fn mul_magnitudes(a: &[u8], b: &[u8]) -> Vec<u8> {
    if a.is_empty() || b.is_empty() {
        return Vec::new();
    }
    let mut columns = vec![0u64; a.len() + b.len()];
    for (i, &x) in a.iter().enumerate() {
        if x == 0 {
            continue;
        }
        for (j, &y) in b.iter().enumerate() {
            columns[i + j] += u64::from(x) * u64::from(y);
        }
    }
    let mut out = Vec::with_capacity(columns.len());
    let mut carry = 0u64;
    for column in columns {
        let total = column + carry;
        // `total % 10` is a single digit
        out.push((total % 10) as u8);
        carry = total / 10;
    }
    while carry > 0 {
        out.push((carry % 10) as u8);
        carry /= 10;
    }
    trim(&mut out);
    out
}

/// Long division of `numerator` by a non-zero `denominator`: (quotient, remainder).
/// Each quotient digit is found among the denominator's multiples 1-9, so it costs
/// one subtraction.
fn divide_magnitudes(numerator: &[u8], denominator: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let multiples: Vec<Vec<u8>> = (1..=9).map(|k| mul_magnitudes(denominator, &[k])).collect();
    let mut quotient = Vec::with_capacity(numerator.len());
    let mut remainder: Vec<u8> = Vec::with_capacity(denominator.len() + 1);
    for &digit in numerator.iter().rev() {
        // remainder × 10 + digit
        if !remainder.is_empty() || digit != 0 {
            remainder.insert(0, digit);
        }
        let fits = multiples
            .iter()
            .rposition(|m| compare_magnitudes(&remainder, m) != Ordering::Less);
        let mut q = 0;
        if let Some(at) = fits {
            subtract_in_place(&mut remainder, &multiples[at]);
            q = at + 1;
        }
        // `q` is a single digit
        quotient.push(q as u8);
    }
    quotient.reverse();
    trim(&mut quotient);
    (quotient, remainder)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Test input: plain decimal text only (`-12.50`).
    fn fixed(text: &str) -> Fixed {
        let (negative, body) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let scale = body.find('.').map_or(0, |at| body.len() - at - 1);
        let ascii: Vec<u8> = body.bytes().filter(|&b| b != b'.').collect();
        Fixed::from_ascii(negative, &ascii, 0, scale)
    }

    fn add(a: &str, b: &str) -> String {
        fixed(a).add(&fixed(b)).to_string()
    }

    fn sub(a: &str, b: &str) -> String {
        fixed(a).sub(&fixed(b)).to_string()
    }

    fn mul(a: &str, b: &str) -> String {
        fixed(a).mul(&fixed(b)).to_string()
    }

    fn div(a: &str, b: &str, scale: usize) -> String {
        fixed(a)
            .div(&fixed(b), scale)
            .map_or("division by zero".to_owned(), |q| q.to_string())
    }

    #[test]
    fn writes_plain_text() {
        for text in [
            "0",
            "0.00",
            "-12.50",
            "0.003",
            "-0.1",
            "100",
            "12345678901234567890.01",
        ] {
            assert_eq!(fixed(text).to_string(), text);
        }
        assert_eq!(fixed("-0.00").to_string(), "0.00");
        assert_eq!(fixed("007.5").to_string(), "7.5");
    }

    #[test]
    fn adds_with_carries_and_scales() {
        assert_eq!(add("0.1", "0.2"), "0.3");
        assert_eq!(add("999.99", "0.01"), "1000.00");
        assert_eq!(add("1.10", "2"), "3.10");
        assert_eq!(add("1", "0.001"), "1.001");
        assert_eq!(
            add(&add("12345678901234567890.01", "0.1"), "0.2"),
            "12345678901234567890.31"
        );
        assert_eq!(add("99999999999999999999", "1"), "100000000000000000000");
    }

    #[test]
    fn adds_and_subtracts_with_signs_and_borrows() {
        assert_eq!(add("-3.50", "1"), "-2.50");
        assert_eq!(add("3.50", "-1"), "2.50");
        assert_eq!(add("-0.1", "-0.2"), "-0.3");
        assert_eq!(sub("1000", "0.01"), "999.99");
        assert_eq!(sub("0.01", "1000"), "-999.99");
        assert_eq!(sub("100000", "99999"), "1");
        assert_eq!(sub("1.5", "1.50"), "0.00");
        assert_eq!(sub("-2", "-2"), "0");
        assert_eq!(add("0", "-0.0"), "0.0");
    }

    #[test]
    fn multiplies_with_summed_scales() {
        assert_eq!(mul("1.10", "3"), "3.30");
        assert_eq!(mul("-1.5", "0.2"), "-0.30");
        assert_eq!(mul("-1.5", "-2"), "3.0");
        assert_eq!(mul("0.00", "-7"), "0.00");
        assert_eq!(mul("99999", "99999"), "9999800001");
        assert_eq!(
            mul("12345678901234567890", "98765432109876543210"),
            "1219326311370217952237463801111263526900"
        );
    }

    #[test]
    fn divides_rounding_half_even() {
        assert_eq!(div("1", "3", 20), "0.33333333333333333333");
        assert_eq!(div("2", "3", 20), "0.66666666666666666667");
        assert_eq!(div("-2", "3", 2), "-0.67");
        assert_eq!(div("10", "4", 1), "2.5");
        assert_eq!(div("0.25", "1", 1), "0.2");
        assert_eq!(div("0.35", "1", 1), "0.4");
        assert_eq!(div("-0.25", "1", 1), "-0.2");
        assert_eq!(div("0.251", "1", 1), "0.3");
        assert_eq!(div("1", "0.001", 0), "1000");
        assert_eq!(div("1.000", "8", 0), "0");
        assert_eq!(div("0", "-5", 2), "0.00");
        assert_eq!(div("1", "0.00", 2), "division by zero");
    }

    #[test]
    fn trims_fractional_zeros_down_to_a_scale() {
        assert_eq!(fixed("2.500").trimmed(0).to_string(), "2.5");
        assert_eq!(fixed("2.500").trimmed(2).to_string(), "2.50");
        assert_eq!(fixed("2.000").trimmed(0).to_string(), "2");
        assert_eq!(fixed("100").trimmed(0).to_string(), "100");
        assert_eq!(fixed("0.000").trimmed(1).to_string(), "0.0");
    }

    /// `value × 10^-scale` written plainly, by integer arithmetic.
    fn plain(value: i128, scale: usize) -> String {
        let digits = format!("{:0>width$}", value.unsigned_abs(), width = scale + 1);
        let (whole, fraction) = digits.split_at(digits.len() - scale);
        let sign = if value < 0 { "-" } else { "" };
        if scale == 0 {
            format!("{sign}{whole}")
        } else {
            format!("{sign}{whole}.{fraction}")
        }
    }

    /// `a / b` rounded half-even, by integer arithmetic.
    fn rounded_quotient(a: i128, b: i128) -> i128 {
        let (q, r) = (a / b, a % b);
        let twice = 2 * r.abs();
        let away = twice > b.abs() || (twice == b.abs() && q % 2 != 0);
        if !away {
            q
        } else if (a < 0) == (b < 0) {
            q + 1
        } else {
            q - 1
        }
    }

    proptest! {
        #[test]
        fn agrees_with_integer_arithmetic(
            a in -10_000_000_000i64..10_000_000_000,
            b in -10_000_000_000i64..10_000_000_000,
            sa in 0usize..8,
            sb in 0usize..8,
            scale in 0usize..8,
        ) {
            let (x, y) = (fixed(&plain(a.into(), sa)), fixed(&plain(b.into(), sb)));
            let s = sa.max(sb);
            let (a2, b2) = (i128::from(a) * 10i128.pow((s - sa) as u32), i128::from(b) * 10i128.pow((s - sb) as u32));
            prop_assert_eq!(x.add(&y).to_string(), plain(a2 + b2, s));
            prop_assert_eq!(x.sub(&y).to_string(), plain(a2 - b2, s));
            prop_assert_eq!(x.mul(&y).to_string(), plain(i128::from(a) * i128::from(b), sa + sb));
            if b != 0 {
                // a / 10^sa / (b / 10^sb) × 10^scale = a × 10^(scale + sb) / (b × 10^sa)
                let n = i128::from(a) * 10i128.pow((scale + sb) as u32);
                let d = i128::from(b) * 10i128.pow(sa as u32);
                let q = x.div(&y, scale).map(|q| q.to_string());
                prop_assert_eq!(q, Some(plain(rounded_quotient(n, d), scale)));
            }
        }
    }
}
