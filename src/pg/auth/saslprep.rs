//! SASLprep (RFC 4013), the stringprep profile applied to SCRAM passwords.
//!
//! Steps: map non-ASCII spaces to SPACE and "commonly mapped to nothing"
//! characters to nothing (RFC 3454 tables C.1.2 and B.1), normalise with NFKC,
//! reject prohibited characters (tables C.1.2–C.9), and apply the bidi rule
//! (tables D.1 / D.2). Like PostgreSQL, a password that fails is used as its
//! raw bytes: [`saslprep_or_raw`].
//!
//! Limits, documented: unassigned code points (table A.1) are not rejected,
//! and table D.2 ("LCat") is approximated by "alphabetic and not RandALCat";
//! both only matter for passwords mixing right-to-left and left-to-right
//! scripts or using unassigned characters.

use unicode_normalization::UnicodeNormalization;

type Ranges = &'static [(u32, u32)];

/// RFC 3454 C.1.2: non-ASCII space characters (mapped to SPACE).
const NON_ASCII_SPACE: Ranges = &[
    (0x00A0, 0x00A0),
    (0x1680, 0x1680),
    (0x2000, 0x200B),
    (0x202F, 0x202F),
    (0x205F, 0x205F),
    (0x3000, 0x3000),
];

/// RFC 3454 B.1: commonly mapped to nothing.
const MAPPED_TO_NOTHING: Ranges = &[
    (0x00AD, 0x00AD),
    (0x034F, 0x034F),
    (0x1806, 0x1806),
    (0x180B, 0x180D),
    (0x200B, 0x200D),
    (0x2060, 0x2060),
    (0xFE00, 0xFE0F),
    (0xFEFF, 0xFEFF),
];

/// RFC 3454 C.1.2 and C.2.1–C.9: prohibited output.
const PROHIBITED: Ranges = &[
    // C.2.1 ASCII control
    (0x0000, 0x001F),
    (0x007F, 0x007F),
    // C.2.2 non-ASCII control
    (0x0080, 0x009F),
    (0x06DD, 0x06DD),
    (0x070F, 0x070F),
    (0x180E, 0x180E),
    (0x200C, 0x200D),
    (0x2028, 0x2029),
    (0x2060, 0x2063),
    (0x206A, 0x206F),
    (0xFEFF, 0xFEFF),
    (0xFFF9, 0xFFFC),
    (0x1D173, 0x1D17A),
    // C.3 private use
    (0xE000, 0xF8FF),
    (0xF0000, 0xFFFFD),
    (0x100000, 0x10FFFD),
    // C.4 non-character code points
    (0xFDD0, 0xFDEF),
    (0xFFFE, 0xFFFF),
    (0x1FFFE, 0x1FFFF),
    (0x2FFFE, 0x2FFFF),
    (0x3FFFE, 0x3FFFF),
    (0x4FFFE, 0x4FFFF),
    (0x5FFFE, 0x5FFFF),
    (0x6FFFE, 0x6FFFF),
    (0x7FFFE, 0x7FFFF),
    (0x8FFFE, 0x8FFFF),
    (0x9FFFE, 0x9FFFF),
    (0xAFFFE, 0xAFFFF),
    (0xBFFFE, 0xBFFFF),
    (0xCFFFE, 0xCFFFF),
    (0xDFFFE, 0xDFFFF),
    (0xEFFFE, 0xEFFFF),
    (0xFFFFE, 0xFFFFF),
    (0x10FFFE, 0x10FFFF),
    // C.5 surrogates cannot occur in a Rust `str`.
    // C.6 inappropriate for plain text
    (0xFFF9, 0xFFFD),
    // C.7 inappropriate for canonical representation
    (0x2FF0, 0x2FFB),
    // C.8 change display properties or deprecated
    (0x0340, 0x0341),
    (0x200E, 0x200F),
    (0x202A, 0x202E),
    // C.9 tagging characters
    (0xE0001, 0xE0001),
    (0xE0020, 0xE007F),
];

/// RFC 3454 D.1: characters with bidirectional property R or AL.
const RAND_AL_CAT: Ranges = &[
    (0x05BE, 0x05BE),
    (0x05C0, 0x05C0),
    (0x05C3, 0x05C3),
    (0x05D0, 0x05EA),
    (0x05F0, 0x05F4),
    (0x061B, 0x061B),
    (0x061F, 0x061F),
    (0x0621, 0x063A),
    (0x0640, 0x064A),
    (0x066D, 0x066F),
    (0x0671, 0x06D5),
    (0x06DD, 0x06DD),
    (0x06E5, 0x06E6),
    (0x06FA, 0x06FE),
    (0x0700, 0x070D),
    (0x0710, 0x0710),
    (0x0712, 0x072C),
    (0x0780, 0x07A5),
    (0x07B1, 0x07B1),
    (0x200F, 0x200F),
    (0xFB1D, 0xFB1D),
    (0xFB1F, 0xFB28),
    (0xFB2A, 0xFB36),
    (0xFB38, 0xFB3C),
    (0xFB3E, 0xFB3E),
    (0xFB40, 0xFB41),
    (0xFB43, 0xFB44),
    (0xFB46, 0xFBB1),
    (0xFBD3, 0xFD3D),
    (0xFD50, 0xFD8F),
    (0xFD92, 0xFDC7),
    (0xFDF0, 0xFDFC),
    (0xFE70, 0xFE74),
    (0xFE76, 0xFEFC),
];

fn in_table(c: char, table: Ranges) -> bool {
    let c = u32::from(c);
    table.iter().any(|&(lo, hi)| lo <= c && c <= hi)
}

fn is_rand_al(c: char) -> bool {
    in_table(c, RAND_AL_CAT)
}

fn is_l(c: char) -> bool {
    c.is_alphabetic() && !is_rand_al(c)
}

/// Why a string failed SASLprep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaslprepError {
    Prohibited(char),
    Bidi,
}

/// Applies SASLprep to `input`.
pub fn saslprep(input: &str) -> Result<String, SaslprepError> {
    // Fast path: printable ASCII is unchanged by every step.
    if input.bytes().all(|b| (0x20..0x7F).contains(&b)) {
        return Ok(input.to_owned());
    }
    let mapped: String = input
        .chars()
        .filter_map(|c| {
            if in_table(c, NON_ASCII_SPACE) {
                Some(' ')
            } else if in_table(c, MAPPED_TO_NOTHING) {
                None
            } else {
                Some(c)
            }
        })
        .collect();
    let normalized: String = mapped.nfkc().collect();
    if let Some(c) = normalized
        .chars()
        .find(|&c| in_table(c, PROHIBITED) || in_table(c, NON_ASCII_SPACE))
    {
        return Err(SaslprepError::Prohibited(c));
    }
    if normalized.chars().any(is_rand_al) {
        let first = normalized.chars().next();
        let last = normalized.chars().next_back();
        if normalized.chars().any(is_l)
            || !first.is_some_and(is_rand_al)
            || !last.is_some_and(is_rand_al)
        {
            return Err(SaslprepError::Bidi);
        }
    }
    Ok(normalized)
}

/// The bytes PostgreSQL hashes: the SASLprep'd password, or the raw bytes
/// when SASLprep fails.
pub fn saslprep_or_raw(password: &str) -> Vec<u8> {
    match saslprep(password) {
        Ok(s) => s.into_bytes(),
        Err(_) => password.as_bytes().to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4013_examples() {
        // The examples of RFC 4013 section 3.
        assert_eq!(saslprep("I\u{00AD}X").unwrap(), "IX");
        assert_eq!(saslprep("user").unwrap(), "user");
        assert_eq!(saslprep("USER").unwrap(), "USER");
        assert_eq!(saslprep("\u{00AA}").unwrap(), "a");
        assert_eq!(saslprep("\u{2168}").unwrap(), "IX");
        assert_eq!(
            saslprep("\u{0007}"),
            Err(SaslprepError::Prohibited('\u{7}'))
        );
        assert_eq!(saslprep("\u{0627}\u{0031}"), Err(SaslprepError::Bidi));
    }

    #[test]
    fn spaces_and_nothing() {
        assert_eq!(saslprep("a\u{00A0}b").unwrap(), "a b");
        assert_eq!(saslprep("a\u{3000}b").unwrap(), "a b");
        assert_eq!(saslprep("a\u{FEFF}b\u{200D}").unwrap(), "ab");
        // NFKC: ligature and full-width letters
        assert_eq!(saslprep("\u{FB01}").unwrap(), "fi");
        assert_eq!(saslprep("\u{FF21}").unwrap(), "A");
        assert_eq!(saslprep("").unwrap(), "");
    }

    #[test]
    fn prohibited() {
        for c in ['\u{E000}', '\u{FDD0}', '\u{200E}', '\u{E0001}', '\u{0085}'] {
            assert!(saslprep(&format!("a{c}")).is_err(), "{c:?}");
        }
    }

    #[test]
    fn bidi_rule() {
        // All right-to-left: fine.
        assert_eq!(saslprep("\u{05D0}\u{05D1}").unwrap(), "\u{05D0}\u{05D1}");
        // RandAL with an L character: rejected.
        assert_eq!(saslprep("\u{05D0}a\u{05D1}"), Err(SaslprepError::Bidi));
        // RandAL not at both ends: rejected.
        assert_eq!(saslprep("\u{05D0}1"), Err(SaslprepError::Bidi));
    }

    #[test]
    fn raw_fallback() {
        assert_eq!(saslprep_or_raw("pen\u{0007}cil"), b"pen\x07cil");
        assert_eq!(saslprep_or_raw("p\u{00A0}w"), b"p w");
    }
}
