//! SCRAM-SHA-256 client (RFC 5802, RFC 7677) without channel binding ("n,,").
//!
//! Flow: [`ScramClient::client_first`] goes in SASLInitialResponse;
//! [`ScramClient::client_final`] answers AuthenticationSASLContinue;
//! [`ScramClient::verify_server_final`] checks AuthenticationSASLFinal, so a
//! server that does not know the password cannot pass itself off as one that does.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

use super::saslprep::saslprep_or_raw;

/// The SASL mechanism name.
pub const MECHANISM: &str = "SCRAM-SHA-256";

/// The highest iteration count we accept. PostgreSQL's default is 4096; a
/// larger count from a hostile server would only burn our CPU.
pub const MAX_ITERATIONS: u32 = 10_000_000;

const GS2_HEADER: &str = "n,,";
const NONCE_BYTES: usize = 18;

type HmacSha256 = Hmac<Sha256>;

fn hmac(key: &[u8], parts: &[&[u8]]) -> Result<[u8; 32]> {
    let mut mac = HmacSha256::new_from_slice(key)
        .map_err(|_| Error::internal("HMAC-SHA-256 rejected its key"))?;
    for p in parts {
        mac.update(p);
    }
    Ok(mac.finalize().into_bytes().into())
}

fn auth_error(message: impl Into<String>) -> Error {
    Error::operational(message)
}

fn malformed(what: &str) -> Error {
    Error::interface(format!("malformed SCRAM {what} from the server"))
}

/// Escapes a SCRAM user name: `=` → `=3D`, `,` → `=2C`.
fn escape_name(name: &str) -> String {
    name.replace('=', "=3D").replace(',', "=2C")
}

#[derive(Debug)]
enum State {
    Initial,
    /// Client-final sent; the server signature we expect.
    AwaitingFinal([u8; 32]),
    Done,
}

/// One SCRAM-SHA-256 exchange.
pub struct ScramClient {
    password: Vec<u8>,
    nonce: String,
    client_first_bare: String,
    state: State,
}

impl std::fmt::Debug for ScramClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScramClient")
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl ScramClient {
    /// A client with a fresh random nonce. PostgreSQL takes the user name
    /// from the StartupMessage, so the SCRAM one is left empty, as libpq does.
    pub fn new(password: &str) -> Result<ScramClient> {
        let mut raw = [0u8; NONCE_BYTES];
        getrandom::fill(&mut raw)
            .map_err(|e| Error::internal(format!("no randomness for the SCRAM nonce: {e}")))?;
        Ok(ScramClient::with_nonce("", password, &B64.encode(raw)))
    }

    /// A client with a chosen user name and nonce (printable, no comma), for
    /// known-answer tests.
    pub fn with_nonce(user: &str, password: &str, nonce: &str) -> ScramClient {
        ScramClient {
            password: saslprep_or_raw(password),
            nonce: nonce.to_owned(),
            client_first_bare: format!("n={},r={}", escape_name(user), nonce),
            state: State::Initial,
        }
    }

    /// The client-first message.
    pub fn client_first(&self) -> Vec<u8> {
        format!("{GS2_HEADER}{}", self.client_first_bare).into_bytes()
    }

    /// Answers the server-first message with the client-final message.
    pub fn client_final(&mut self, server_first: &[u8]) -> Result<Vec<u8>> {
        if !matches!(self.state, State::Initial) {
            return Err(Error::interface("unexpected SCRAM server-first message"));
        }
        let server_first =
            std::str::from_utf8(server_first).map_err(|_| malformed("server-first message"))?;
        let mut nonce = None;
        let mut salt = None;
        let mut iterations = None;
        for attr in server_first.split(',') {
            match attr.split_at_checked(2) {
                Some(("r=", v)) => nonce = Some(v),
                Some(("s=", v)) => salt = Some(v),
                Some(("i=", v)) => iterations = Some(v),
                Some(("m=", _)) => {
                    return Err(auth_error(
                        "SCRAM server requires an extension we do not support",
                    ))
                }
                Some(("e=", v)) => return Err(auth_error(format!("SCRAM error from server: {v}"))),
                _ => return Err(malformed("server-first message")),
            }
        }
        let (Some(nonce), Some(salt), Some(iterations)) = (nonce, salt, iterations) else {
            return Err(malformed("server-first message"));
        };
        if nonce.len() <= self.nonce.len() || !nonce.starts_with(&self.nonce) {
            return Err(auth_error(
                "SCRAM server nonce does not extend the client nonce",
            ));
        }
        if !nonce
            .bytes()
            .all(|b| (0x21..0x7F).contains(&b) && b != b',')
        {
            return Err(malformed("nonce"));
        }
        let salt = B64.decode(salt).map_err(|_| malformed("salt"))?;
        if salt.is_empty() {
            return Err(malformed("salt"));
        }
        let iterations: u32 = iterations
            .parse()
            .map_err(|_| malformed("iteration count"))?;
        if iterations == 0 {
            return Err(malformed("iteration count"));
        }
        if iterations > MAX_ITERATIONS {
            return Err(auth_error(format!(
                "SCRAM iteration count {iterations} exceeds the limit of {MAX_ITERATIONS}"
            )));
        }

        let mut salted = [0u8; 32];
        pbkdf2::pbkdf2_hmac::<Sha256>(&self.password, &salt, iterations, &mut salted);
        let client_key = hmac(&salted, &[b"Client Key"])?;
        let stored_key: [u8; 32] = Sha256::digest(client_key).into();
        let without_proof = format!("c={},r={nonce}", B64.encode(GS2_HEADER));
        let auth_message = [
            self.client_first_bare.as_bytes(),
            b",",
            server_first.as_bytes(),
            b",",
            without_proof.as_bytes(),
        ];
        let client_signature = hmac(&stored_key, &auth_message)?;
        let mut proof = client_key;
        for (p, s) in proof.iter_mut().zip(client_signature) {
            *p ^= s;
        }
        let server_key = hmac(&salted, &[b"Server Key"])?;
        self.state = State::AwaitingFinal(hmac(&server_key, &auth_message)?);
        Ok(format!("{without_proof},p={}", B64.encode(proof)).into_bytes())
    }

    /// Checks the server-final message: the server must prove it knows the password.
    pub fn verify_server_final(&mut self, server_final: &[u8]) -> Result<()> {
        let State::AwaitingFinal(expected) = self.state else {
            return Err(Error::interface("unexpected SCRAM server-final message"));
        };
        self.state = State::Done;
        let text =
            std::str::from_utf8(server_final).map_err(|_| malformed("server-final message"))?;
        if let Some(e) = text.strip_prefix("e=") {
            return Err(auth_error(format!("SCRAM error from server: {e}")));
        }
        let signature = text
            .split(',')
            .find_map(|a| a.strip_prefix("v="))
            .ok_or_else(|| malformed("server-final message"))?;
        let signature = B64
            .decode(signature)
            .map_err(|_| malformed("server signature"))?;
        let same = signature.len() == expected.len()
            && signature
                .iter()
                .zip(expected)
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0;
        if same {
            Ok(())
        } else {
            Err(auth_error("server signature mismatch"))
        }
    }

    /// Whether the server's signature was verified.
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    // RFC 7677 section 3.
    const NONCE: &str = "rOprNGfwEbeRWgbNEkqO";
    const SERVER_FIRST: &str =
        "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
    const CLIENT_FINAL: &str = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
    const SERVER_FINAL: &str = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

    #[test]
    fn rfc7677_known_answer() {
        let mut c = ScramClient::with_nonce("user", "pencil", NONCE);
        assert_eq!(c.client_first(), b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
        let fin = c.client_final(SERVER_FIRST.as_bytes()).unwrap();
        assert_eq!(String::from_utf8(fin).unwrap(), CLIENT_FINAL);
        c.verify_server_final(SERVER_FINAL.as_bytes()).unwrap();
        assert!(c.is_done());
    }

    #[test]
    fn wrong_server_signature_is_refused() {
        let mut c = ScramClient::with_nonce("user", "pencil", NONCE);
        c.client_final(SERVER_FIRST.as_bytes()).unwrap();
        let e = c
            .verify_server_final(b"v=AAAATRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Operational);
        assert_eq!(e.message, "server signature mismatch");
    }

    #[test]
    fn iteration_cap() {
        let mut c = ScramClient::with_nonce("user", "pencil", NONCE);
        let first = SERVER_FIRST.replace("i=4096", "i=100000000");
        let e = c.client_final(first.as_bytes()).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Operational);
        assert!(e.message.contains("iteration count"), "{}", e.message);
    }

    #[test]
    fn malformed_server_first() {
        for bad in [
            "",
            "r=other,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
            "r=rOprNGfwEbeRWgbNEkqO,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
            "r=rOprNGfwEbeRWgbNEkqOx,s=!!,i=4096",
            "r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=-1",
            "r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=0",
            "r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ==",
            "m=ext,r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=1",
            "e=other-error",
        ] {
            let mut c = ScramClient::with_nonce("user", "pencil", NONCE);
            assert!(c.client_final(bad.as_bytes()).is_err(), "{bad}");
        }
        let mut c = ScramClient::with_nonce("user", "pencil", NONCE);
        assert!(c.client_final(b"\xff").is_err());
    }

    #[test]
    fn final_before_first_and_server_error() {
        let mut c = ScramClient::with_nonce("user", "pencil", NONCE);
        assert!(c.verify_server_final(SERVER_FINAL.as_bytes()).is_err());
        c.client_final(SERVER_FIRST.as_bytes()).unwrap();
        let e = c.verify_server_final(b"e=invalid-proof").unwrap_err();
        assert!(e.message.contains("invalid-proof"));
    }

    #[test]
    fn random_nonce_and_name_escaping() {
        let a = ScramClient::new("pw").unwrap();
        let b = ScramClient::new("pw").unwrap();
        assert_ne!(a.client_first(), b.client_first());
        assert!(a.client_first().starts_with(b"n,,n=,r="));
        let c = ScramClient::with_nonce("a=b,c", "pw", "xyz");
        assert_eq!(c.client_first(), b"n,,n=a=3Db=2Cc,r=xyz");
        assert!(!format!("{a:?}").contains("pw"));
    }

    proptest::proptest! {
        /// Arbitrary server messages (raw bytes, or shaped like the real ones with
        /// hostile fields) are refused or accepted, never a panic.
        #[test]
        fn server_messages_never_panic(
            first in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..96),
            suffix in "[ -~]{0,12}",
            salt in "[ -~]{0,12}",
            iterations in "[0-9a-z+-]{0,11}",
            last in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64),
            password in "\\PC{0,12}",
        ) {
            let mut c = ScramClient::with_nonce("", &password, NONCE);
            let _ = c.client_final(&first);
            let _ = c.verify_server_final(&last);
            let mut c = ScramClient::with_nonce("", &password, NONCE);
            let shaped = format!("r={NONCE}{suffix},s={salt},i={iterations}");
            // Keep the key derivation cheap: only small iteration counts pass.
            let cheap = iterations.parse::<u32>().map_or(true, |n| n <= 64);
            if cheap && c.client_final(shaped.as_bytes()).is_ok() {
                let _ = c.verify_server_final(&last);
                let _ = c.verify_server_final(b"v=");
            }
        }
    }
}
