//! Frontend (client → server) messages, appended to a caller's buffer.
//!
//! Every function writes one complete message or, on error, leaves the buffer
//! exactly as it was. Strings sent as C strings must not contain NUL.

use crate::error::{Error, Result};

use super::PROTOCOL_VERSION;

const SSL_REQUEST_CODE: i32 = 80_877_103;
const CANCEL_REQUEST_CODE: i32 = 80_877_102;

/// The most parameters one Bind can carry (the count is an Int16).
pub const MAX_PARAMS: usize = u16::MAX as usize;

/// Whether a Bind parameter value is SQL NULL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IsNull {
    Yes,
    No,
}

/// What Describe and Close act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Statement,
    Portal,
}

impl Target {
    fn byte(self) -> u8 {
        match self {
            Target::Statement => b'S',
            Target::Portal => b'P',
        }
    }
}

/// Runs `body` to write a message body after its header, then patches the
/// length; restores the buffer if `body` fails.
fn message<F>(buf: &mut Vec<u8>, tag: Option<u8>, body: F) -> Result<()>
where
    F: FnOnce(&mut Vec<u8>) -> Result<()>,
{
    let start = buf.len();
    if let Some(tag) = tag {
        buf.push(tag);
    }
    let len_at = buf.len();
    buf.extend_from_slice(&[0; 4]);
    let outcome = body(buf).and_then(|()| {
        let len = i32::try_from(buf.len() - len_at)
            .map_err(|_| Error::interface("message too large for the protocol"))?;
        buf[len_at..len_at + 4].copy_from_slice(&len.to_be_bytes());
        Ok(())
    });
    if outcome.is_err() {
        buf.truncate(start);
    }
    outcome
}

fn cstr(buf: &mut Vec<u8>, s: &str) -> Result<()> {
    if s.as_bytes().contains(&0) {
        return Err(Error::data("string contains a NUL character"));
    }
    buf.extend_from_slice(s.as_bytes());
    buf.push(0);
    Ok(())
}

fn i16_count(n: usize, what: &str) -> Result<[u8; 2]> {
    u16::try_from(n)
        .map(|n| n.to_be_bytes())
        .map_err(|_| Error::data(format!("too many {what}: {n} (at most {MAX_PARAMS})")))
}

/// StartupMessage with `params` (user, database, options...) as name/value pairs.
pub fn startup(buf: &mut Vec<u8>, params: &[(&str, &str)]) -> Result<()> {
    message(buf, None, |buf| {
        buf.extend_from_slice(&PROTOCOL_VERSION.to_be_bytes());
        for (name, value) in params {
            cstr(buf, name)?;
            cstr(buf, value)?;
        }
        buf.push(0);
        Ok(())
    })
}

/// SSLRequest: asks the server whether it will speak TLS.
pub fn ssl_request(buf: &mut Vec<u8>) {
    buf.extend_from_slice(&8i32.to_be_bytes());
    buf.extend_from_slice(&SSL_REQUEST_CODE.to_be_bytes());
}

/// CancelRequest, sent on a fresh connection.
pub fn cancel_request(buf: &mut Vec<u8>, process_id: i32, secret_key: i32) {
    buf.extend_from_slice(&16i32.to_be_bytes());
    buf.extend_from_slice(&CANCEL_REQUEST_CODE.to_be_bytes());
    buf.extend_from_slice(&process_id.to_be_bytes());
    buf.extend_from_slice(&secret_key.to_be_bytes());
}

/// PasswordMessage with a cleartext or MD5-hashed password.
pub fn password(buf: &mut Vec<u8>, password: &[u8]) -> Result<()> {
    message(buf, Some(b'p'), |buf| {
        if password.contains(&0) {
            return Err(Error::data("password contains a NUL character"));
        }
        buf.extend_from_slice(password);
        buf.push(0);
        Ok(())
    })
}

/// SASLInitialResponse: the chosen mechanism and the client-first message.
pub fn sasl_initial_response(buf: &mut Vec<u8>, mechanism: &str, data: &[u8]) -> Result<()> {
    message(buf, Some(b'p'), |buf| {
        cstr(buf, mechanism)?;
        let len = i32::try_from(data.len()).map_err(|_| Error::interface("SASL data too large"))?;
        buf.extend_from_slice(&len.to_be_bytes());
        buf.extend_from_slice(data);
        Ok(())
    })
}

/// SASLResponse: a later SASL message (client-final for SCRAM).
pub fn sasl_response(buf: &mut Vec<u8>, data: &[u8]) -> Result<()> {
    message(buf, Some(b'p'), |buf| {
        buf.extend_from_slice(data);
        Ok(())
    })
}

/// Parse: prepares `query` as statement `name` ("" for the unnamed one).
pub fn parse(buf: &mut Vec<u8>, name: &str, query: &str, param_types: &[u32]) -> Result<()> {
    message(buf, Some(b'P'), |buf| {
        cstr(buf, name)?;
        cstr(buf, query)?;
        buf.extend_from_slice(&i16_count(param_types.len(), "parameters")?);
        for oid in param_types {
            buf.extend_from_slice(&oid.to_be_bytes());
        }
        Ok(())
    })
}

/// Bind: `param_count` values written by `write_param(index, buf)`, which
/// appends the value's bytes and says whether it is NULL (then it writes none).
pub fn bind<F>(
    buf: &mut Vec<u8>,
    portal: &str,
    statement: &str,
    param_formats: &[i16],
    param_count: usize,
    mut write_param: F,
    result_formats: &[i16],
) -> Result<()>
where
    F: FnMut(usize, &mut Vec<u8>) -> Result<IsNull>,
{
    message(buf, Some(b'B'), |buf| {
        cstr(buf, portal)?;
        cstr(buf, statement)?;
        buf.extend_from_slice(&i16_count(param_formats.len(), "parameter formats")?);
        for f in param_formats {
            buf.extend_from_slice(&f.to_be_bytes());
        }
        buf.extend_from_slice(&i16_count(param_count, "parameters")?);
        for i in 0..param_count {
            let len_at = buf.len();
            buf.extend_from_slice(&[0; 4]);
            let len = match write_param(i, buf)? {
                IsNull::Yes => {
                    buf.truncate(len_at + 4);
                    -1
                }
                IsNull::No => i32::try_from(buf.len() - len_at - 4)
                    .map_err(|_| Error::data(format!("parameter ${} is too large", i + 1)))?,
            };
            buf[len_at..len_at + 4].copy_from_slice(&len.to_be_bytes());
        }
        buf.extend_from_slice(&i16_count(result_formats.len(), "result formats")?);
        for f in result_formats {
            buf.extend_from_slice(&f.to_be_bytes());
        }
        Ok(())
    })
}

/// Describe a prepared statement or a portal.
pub fn describe(buf: &mut Vec<u8>, target: Target, name: &str) -> Result<()> {
    message(buf, Some(b'D'), |buf| {
        buf.push(target.byte());
        cstr(buf, name)
    })
}

/// Execute a portal, returning at most `max_rows` rows (0 = all).
pub fn execute(buf: &mut Vec<u8>, portal: &str, max_rows: i32) -> Result<()> {
    message(buf, Some(b'E'), |buf| {
        cstr(buf, portal)?;
        buf.extend_from_slice(&max_rows.to_be_bytes());
        Ok(())
    })
}

/// Close a prepared statement or a portal.
pub fn close(buf: &mut Vec<u8>, target: Target, name: &str) -> Result<()> {
    message(buf, Some(b'C'), |buf| {
        buf.push(target.byte());
        cstr(buf, name)
    })
}

/// Sync: ends an extended-query cycle; the server answers ReadyForQuery.
pub fn sync(buf: &mut Vec<u8>) {
    buf.extend_from_slice(&[b'S', 0, 0, 0, 4]);
}

/// Flush: asks the server to send what it has buffered.
pub fn flush(buf: &mut Vec<u8>) {
    buf.extend_from_slice(&[b'H', 0, 0, 0, 4]);
}

/// Terminate: polite goodbye before closing the socket.
pub fn terminate(buf: &mut Vec<u8>) {
    buf.extend_from_slice(&[b'X', 0, 0, 0, 4]);
}

/// Query: simple-protocol statement(s).
pub fn query(buf: &mut Vec<u8>, sql: &str) -> Result<()> {
    message(buf, Some(b'Q'), |buf| cstr(buf, sql))
}

/// CopyFail: aborts a COPY FROM STDIN we did not ask for.
pub fn copy_fail(buf: &mut Vec<u8>, reason: &str) -> Result<()> {
    message(buf, Some(b'f'), |buf| cstr(buf, reason))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn be32(b: &[u8]) -> i32 {
        i32::from_be_bytes([b[0], b[1], b[2], b[3]])
    }

    #[test]
    fn startup_layout() {
        let mut buf = Vec::new();
        startup(&mut buf, &[("user", "bob"), ("database", "db")]).unwrap();
        assert_eq!(be32(&buf) as usize, buf.len());
        assert_eq!(be32(&buf[4..]), 196_608);
        assert_eq!(&buf[8..], b"user\0bob\0database\0db\0\0");
    }

    #[test]
    fn ssl_and_cancel() {
        let mut buf = Vec::new();
        ssl_request(&mut buf);
        assert_eq!(buf, [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]);
        buf.clear();
        cancel_request(&mut buf, 7, -2);
        assert_eq!(buf.len(), 16);
        assert_eq!(be32(&buf[4..]), 80_877_102);
        assert_eq!(be32(&buf[8..]), 7);
        assert_eq!(be32(&buf[12..]), -2);
    }

    #[test]
    fn simple_messages() {
        let mut buf = Vec::new();
        sync(&mut buf);
        flush(&mut buf);
        terminate(&mut buf);
        assert_eq!(buf, b"S\0\0\0\x04H\0\0\0\x04X\0\0\0\x04");
        buf.clear();
        query(&mut buf, "SELECT 1").unwrap();
        assert_eq!(buf, b"Q\0\0\0\x0dSELECT 1\0");
    }

    #[test]
    fn nul_in_query_is_data_error_and_buffer_untouched() {
        let mut buf = b"keep".to_vec();
        let err = query(&mut buf, "SELECT '\0'").unwrap_err();
        assert_eq!(err.kind, crate::error::ErrorKind::Data);
        assert_eq!(buf, b"keep");
    }

    #[test]
    fn password_and_sasl() {
        let mut buf = Vec::new();
        password(&mut buf, b"secret").unwrap();
        assert_eq!(buf, b"p\0\0\0\x0bsecret\0");
        buf.clear();
        sasl_initial_response(&mut buf, "SCRAM-SHA-256", b"n,,n=,r=abc").unwrap();
        let mut expected = b"p".to_vec();
        expected.extend_from_slice(&(4 + 14 + 4 + 11i32).to_be_bytes());
        expected.extend_from_slice(b"SCRAM-SHA-256\0");
        expected.extend_from_slice(&11i32.to_be_bytes());
        expected.extend_from_slice(b"n,,n=,r=abc");
        assert_eq!(buf, expected);
        buf.clear();
        sasl_response(&mut buf, b"xyz").unwrap();
        assert_eq!(buf, b"p\0\0\0\x07xyz");
    }

    #[test]
    fn parse_describe_execute_close() {
        let mut buf = Vec::new();
        parse(&mut buf, "s1", "SELECT $1", &[23]).unwrap();
        assert_eq!(buf, b"P\0\0\0\x17s1\0SELECT $1\0\0\x01\0\0\0\x17");
        buf.clear();
        describe(&mut buf, Target::Statement, "s1").unwrap();
        assert_eq!(buf, b"D\0\0\0\x08Ss1\0");
        buf.clear();
        execute(&mut buf, "", 0).unwrap();
        assert_eq!(buf, b"E\0\0\0\x09\0\0\0\0\0");
        buf.clear();
        close(&mut buf, Target::Portal, "p").unwrap();
        assert_eq!(buf, b"C\0\0\0\x07Pp\0");
        buf.clear();
        copy_fail(&mut buf, "no").unwrap();
        assert_eq!(buf, b"f\0\0\0\x07no\0");
    }

    #[test]
    fn bind_with_null_and_values() {
        let mut buf = Vec::new();
        bind(
            &mut buf,
            "",
            "s",
            &[1],
            2,
            |i, b| {
                if i == 0 {
                    b.extend_from_slice(&5i32.to_be_bytes());
                    Ok(IsNull::No)
                } else {
                    b.push(9); // discarded: NULL writes nothing
                    Ok(IsNull::Yes)
                }
            },
            &[1, 0],
        )
        .unwrap();
        let mut expected = b"B".to_vec();
        let body: &[u8] =
            b"\0s\0\0\x01\0\x01\0\x02\0\0\0\x04\0\0\0\x05\xff\xff\xff\xff\0\x02\0\x01\0\0";
        expected.extend_from_slice(&(body.len() as i32 + 4).to_be_bytes());
        expected.extend_from_slice(body);
        assert_eq!(buf, expected);
    }

    #[test]
    fn bind_error_restores_buffer() {
        let mut buf = b"x".to_vec();
        let err = bind(
            &mut buf,
            "",
            "",
            &[],
            1,
            |_, _| Err(Error::data("bad")),
            &[],
        )
        .unwrap_err();
        assert_eq!(err.message, "bad");
        assert_eq!(buf, b"x");
    }

    #[test]
    fn too_many_params() {
        let mut buf = Vec::new();
        let oids = vec![0u32; MAX_PARAMS + 1];
        let err = parse(&mut buf, "", "x", &oids).unwrap_err();
        assert_eq!(err.kind, crate::error::ErrorKind::Data);
        assert!(buf.is_empty());
    }
}
