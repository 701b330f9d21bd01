//! `numeric` binary format ↔ exact decimal text.
//!
//! Wire layout: ndigits (i16), weight (i16, base-10000 exponent of the first
//! digit), sign (u16), display scale (u16), then ndigits base-10000 digits.

use crate::error::{Error, Result};

const POSITIVE: u16 = 0x0000;
const NEGATIVE: u16 = 0x4000;
const NAN: u16 = 0xC000;
const PINF: u16 = 0xD000;
const NINF: u16 = 0xF000;
/// PostgreSQL's largest display scale.
const MAX_DSCALE: i64 = 0x3FFF;

fn bad() -> Error {
    Error::interface("malformed numeric value from the server")
}

/// Decodes a binary `numeric` into canonical text (`-12.3400`, `NaN`, `Infinity`).
pub fn decode(raw: &[u8]) -> Result<String> {
    let header = raw.get(..8).ok_or_else(bad)?;
    let ndigits = i16::from_be_bytes([header[0], header[1]]);
    let weight = i64::from(i16::from_be_bytes([header[2], header[3]]));
    let sign = u16::from_be_bytes([header[4], header[5]]);
    let dscale = u16::from_be_bytes([header[6], header[7]]);
    let ndigits = usize::try_from(ndigits).map_err(|_| bad())?;
    let body = &raw[8..];
    if body.len() != ndigits * 2 {
        return Err(bad());
    }
    match sign {
        NAN => return Ok("NaN".into()),
        PINF => return Ok("Infinity".into()),
        NINF => return Ok("-Infinity".into()),
        POSITIVE | NEGATIVE => {}
        _ => return Err(bad()),
    }
    if i64::from(dscale) > MAX_DSCALE {
        return Err(bad());
    }
    let mut digits = Vec::with_capacity(ndigits);
    for pair in body.chunks_exact(2) {
        let d = u16::from_be_bytes([pair[0], pair[1]]);
        if d > 9999 {
            return Err(bad());
        }
        digits.push(d);
    }
    // The base-10000 digit at group position `g` (0 = the units group).
    let group = |g: i64| -> u16 {
        let idx = weight - g;
        usize::try_from(idx)
            .ok()
            .and_then(|i| digits.get(i).copied())
            .unwrap_or(0)
    };
    let mut out = String::new();
    if sign == NEGATIVE {
        out.push('-');
    }
    if weight < 0 {
        out.push('0');
    } else {
        out.push_str(&group(weight).to_string());
        for g in (0..weight).rev() {
            out.push_str(&format!("{:04}", group(g)));
        }
    }
    if dscale > 0 {
        out.push('.');
        let mut left = usize::from(dscale);
        let mut g = -1;
        while left > 0 {
            let s = format!("{:04}", group(g));
            let take = left.min(4);
            out.push_str(&s[..take]);
            left -= take;
            g -= 1;
        }
    }
    Ok(out)
}

fn invalid(text: &str) -> Error {
    let shown: String = text.chars().take(40).collect();
    Error::data(format!("invalid input for type numeric: {shown:?}"))
}

/// Encodes decimal text (`-1.50`, `1E+5`, `NaN`, `Infinity`) as binary `numeric`.
pub fn encode(text: &str, buf: &mut Vec<u8>) -> Result<()> {
    let t = text.trim();
    let special = match t.to_ascii_lowercase().as_str() {
        "nan" => Some(NAN),
        "infinity" | "+infinity" | "inf" | "+inf" => Some(PINF),
        "-infinity" | "-inf" => Some(NINF),
        _ => None,
    };
    if let Some(sign) = special {
        header(buf, 0, 0, sign, 0);
        return Ok(());
    }
    let (negative, rest) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let (mantissa, exponent) = match rest.find(['e', 'E']) {
        Some(i) => {
            let e: i64 = rest[i + 1..].parse().map_err(|_| invalid(text))?;
            if e.abs() > 1_000_000 {
                return Err(Error::data(format!(
                    "numeric value out of range: {text:.40}"
                )));
            }
            (&rest[..i], e)
        }
        None => (rest, 0),
    };
    let (int_part, frac_part) = match mantissa.split_once('.') {
        Some((i, f)) => (i, f),
        None => (mantissa, ""),
    };
    if (int_part.is_empty() && frac_part.is_empty())
        || !int_part
            .bytes()
            .chain(frac_part.bytes())
            .all(|b| b.is_ascii_digit())
    {
        return Err(invalid(text));
    }
    let out_of_range = || Error::data(format!("numeric value out of range: {:.40}", text));
    // Power of ten of the last digit written.
    let frac_len = i64::try_from(frac_part.len()).map_err(|_| out_of_range())?;
    let last_power = exponent.checked_sub(frac_len).ok_or_else(out_of_range)?;
    let dscale = (-last_power).max(0);
    if dscale > MAX_DSCALE {
        return Err(out_of_range());
    }
    let all: Vec<u8> = int_part
        .bytes()
        .chain(frac_part.bytes())
        .map(|b| b - b'0')
        .collect();
    let n = i64::try_from(all.len()).map_err(|_| out_of_range())?;
    // Groups keyed by base-10000 position, from the most significant.
    let mut groups: Vec<(i64, u16)> = Vec::new();
    for (j, &d) in all.iter().enumerate() {
        if d == 0 {
            continue;
        }
        let power = last_power + (n - 1 - j as i64);
        let g = power.div_euclid(4);
        let mult = 10u16.pow(power.rem_euclid(4) as u32);
        match groups.last_mut() {
            Some((last, v)) if *last == g => *v += u16::from(d) * mult,
            _ => groups.push((g, u16::from(d) * mult)),
        }
    }
    let Some(&(first, _)) = groups.first() else {
        header(buf, 0, 0, POSITIVE, dscale as u16);
        return Ok(());
    };
    let lowest = groups.last().map_or(first, |(g, _)| *g);
    let weight = i16::try_from(first).map_err(|_| out_of_range())?;
    let ndigits = i16::try_from(first - lowest + 1).map_err(|_| out_of_range())?;
    let sign = if negative { NEGATIVE } else { POSITIVE };
    header(buf, ndigits, weight, sign, dscale as u16);
    let mut it = groups.iter().peekable();
    for g in (lowest..=first).rev() {
        let v = match it.peek() {
            Some(&&(pos, v)) if pos == g => {
                it.next();
                v
            }
            _ => 0,
        };
        buf.extend_from_slice(&v.to_be_bytes());
    }
    Ok(())
}

fn header(buf: &mut Vec<u8>, ndigits: i16, weight: i16, sign: u16, dscale: u16) {
    buf.extend_from_slice(&ndigits.to_be_bytes());
    buf.extend_from_slice(&weight.to_be_bytes());
    buf.extend_from_slice(&sign.to_be_bytes());
    buf.extend_from_slice(&dscale.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn enc(s: &str) -> Vec<u8> {
        let mut b = Vec::new();
        encode(s, &mut b).unwrap();
        b
    }

    fn round(s: &str) -> String {
        decode(&enc(s)).unwrap()
    }

    #[test]
    fn known_layouts() {
        // 12345.678 = [1][2345].[6780], weight 1, dscale 3
        assert_eq!(
            enc("12345.678"),
            [0, 3, 0, 1, 0, 0, 0, 3, 0, 1, 0x09, 0x29, 0x1a, 0x7c]
        );
        // 0.0001 = weight -1, one digit 1, dscale 4
        assert_eq!(enc("0.0001"), [0, 1, 0xff, 0xff, 0, 0, 0, 4, 0, 1]);
        assert_eq!(enc("0"), [0, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(enc("-0.00"), [0, 0, 0, 0, 0, 0, 0, 2]);
    }

    #[test]
    fn round_trips() {
        for s in [
            "0",
            "1",
            "-1",
            "12345.678",
            "-12.3400",
            "0.0001",
            "10000",
            "100000000",
            "0.00000001",
            "9999.9999",
            "1.5",
            "NaN",
            "Infinity",
            "-Infinity",
        ] {
            assert_eq!(round(s), s);
        }
    }

    #[test]
    fn exponents_and_signs() {
        assert_eq!(round("1E+5"), "100000");
        assert_eq!(round("1.23E-7"), "0.000000123");
        assert_eq!(round("+7"), "7");
        assert_eq!(round(".5"), "0.5");
        assert_eq!(round("5."), "5");
        assert_eq!(round("inf"), "Infinity");
    }

    #[test]
    fn thousand_digits() {
        let big: String = "9".repeat(600) + "." + &"1234567890".repeat(40);
        assert_eq!(round(&big), big);
        let neg = format!("-{}", "1".repeat(1000));
        assert_eq!(round(&neg), neg);
    }

    #[test]
    fn invalid_inputs() {
        for s in [
            "",
            "abc",
            "1.2.3",
            "1e",
            "--1",
            "1e999999999999999999999",
            "1e-20000",
            "11e9223372036854775807",
            "sNaN",
        ] {
            let mut b = Vec::new();
            let e = encode(s, &mut b).unwrap_err();
            assert_eq!(e.kind, crate::error::ErrorKind::Data, "{s}");
        }
    }

    #[test]
    fn malformed_binary() {
        assert!(decode(&[0, 1]).is_err());
        assert!(decode(&[0, 1, 0, 0, 0, 0, 0, 0]).is_err());
        assert!(decode(&[0, 1, 0, 0, 0, 0, 0, 0, 0x27, 0x10]).is_err()); // digit 10000
        assert!(decode(&[0, 0, 0, 0, 0x12, 0x34, 0, 0]).is_err()); // bad sign
        assert!(decode(&[0xff, 0xff, 0, 0, 0, 0, 0, 0]).is_err());
    }

    proptest! {
        #[test]
        fn decimal_round_trip(int in "[1-9][0-9]{0,30}|0", frac in "[0-9]{0,30}", neg: bool) {
            let mut s = String::new();
            if neg && (int != "0" || frac.bytes().any(|b| b != b'0')) { s.push('-'); }
            s.push_str(&int);
            if !frac.is_empty() { s.push('.'); s.push_str(&frac); }
            prop_assert_eq!(round(&s), s);
        }

        #[test]
        fn decode_never_panics(raw in proptest::collection::vec(any::<u8>(), 0..40)) {
            let _ = decode(&raw);
        }
    }
}
