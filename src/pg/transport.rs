//! The byte layer under the protocol: plaintext, or TLS through a sans-I/O
//! rustls session. Socket bytes go in through [`Transport::receive`] and come
//! out as protocol bytes; protocol bytes go in through [`Transport::send`]
//! and come out of [`Transport::take_output`] as socket bytes.

use std::io::{BufRead, ErrorKind as IoErrorKind, Write};

use rustls::ClientConnection;

use crate::error::{Error, Result};

fn tls_failure(e: impl std::fmt::Display) -> Error {
    Error::operational(format!("TLS error: {e}"))
}

/// Plaintext or TLS.
pub enum Transport {
    Plain { out: Vec<u8> },
    Tls(Box<ClientConnection>),
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Transport::Plain { .. } => "Plain",
            Transport::Tls(_) => "Tls",
        })
    }
}

impl Transport {
    pub fn plain() -> Transport {
        Transport::Plain { out: Vec::new() }
    }

    pub fn is_tls(&self) -> bool {
        matches!(self, Transport::Tls(_))
    }

    /// Takes socket bytes; appends the protocol bytes they carry to `inbuf`.
    /// Returns `true` when the peer closed the TLS session cleanly.
    pub fn receive(&mut self, mut data: &[u8], inbuf: &mut Vec<u8>) -> Result<bool> {
        match self {
            Transport::Plain { .. } => {
                inbuf.extend_from_slice(data);
                Ok(false)
            }
            Transport::Tls(tls) => {
                let mut closed = false;
                while !data.is_empty() {
                    let n = tls.read_tls(&mut data).map_err(tls_failure)?;
                    tls.process_new_packets().map_err(tls_failure)?;
                    closed |= drain_plaintext(tls, inbuf)?;
                    if n == 0 {
                        break;
                    }
                }
                Ok(closed)
            }
        }
    }

    /// Queues protocol bytes for sending.
    pub fn send(&mut self, bytes: &[u8]) -> Result<()> {
        match self {
            Transport::Plain { out } => {
                out.extend_from_slice(bytes);
                Ok(())
            }
            Transport::Tls(tls) => tls.writer().write_all(bytes).map_err(tls_failure),
        }
    }

    /// Socket bytes to write now, if any.
    pub fn take_output(&mut self) -> Result<Option<Vec<u8>>> {
        match self {
            Transport::Plain { out } => Ok((!out.is_empty()).then(|| std::mem::take(out))),
            Transport::Tls(tls) => {
                let mut out = Vec::new();
                while tls.wants_write() {
                    tls.write_tls(&mut out).map_err(tls_failure)?;
                }
                Ok((!out.is_empty()).then_some(out))
            }
        }
    }
}

fn drain_plaintext(tls: &mut ClientConnection, inbuf: &mut Vec<u8>) -> Result<bool> {
    // Copies straight out of rustls' buffer (BufRead): no scratch buffer to zero.
    loop {
        let mut reader = tls.reader();
        let n = match reader.fill_buf() {
            Ok([]) => return Ok(true),
            Ok(plain) => {
                inbuf.extend_from_slice(plain);
                plain.len()
            }
            Err(e) if e.kind() == IoErrorKind::WouldBlock => return Ok(false),
            // The peer went away without close_notify: treated as a close.
            Err(e) if e.kind() == IoErrorKind::UnexpectedEof => return Ok(true),
            Err(e) => return Err(tls_failure(e)),
        };
        reader.consume(n);
    }
}
