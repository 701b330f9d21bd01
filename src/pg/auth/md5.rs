//! PostgreSQL's MD5 password response: `"md5" + md5(md5(password + user) + salt)`,
//! both digests in lower-case hex.

use md5::{Digest, Md5};

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    s
}

/// The PasswordMessage payload answering AuthenticationMD5Password.
pub fn md5_response(user: &str, password: &[u8], salt: [u8; 4]) -> String {
    let mut inner = Md5::new();
    inner.update(password);
    inner.update(user.as_bytes());
    let inner = hex(&inner.finalize());
    let mut outer = Md5::new();
    outer.update(inner.as_bytes());
    outer.update(salt);
    format!("md5{}", hex(&outer.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answer() {
        // Computed independently with Python's hashlib:
        // "md5" + md5(md5(b"secretbob").hexdigest().encode() + b"\x01\x02\x03\x04")
        assert_eq!(
            md5_response("bob", b"secret", [1, 2, 3, 4]),
            "md5f21dfe33ff3a9e03dbc3e008251fe5cc"
        );
    }

    #[test]
    fn shape() {
        let r = md5_response("u", b"p", [0; 4]);
        assert_eq!(r.len(), 35);
        assert!(r.starts_with("md5"));
    }
}
