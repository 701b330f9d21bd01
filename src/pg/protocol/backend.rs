//! Backend (server → client) messages, decoded one frame at a time.
//!
//! [`decode`] returns `Ok(None)` when the buffer holds only part of a frame,
//! and `Ok(Some((message, consumed)))` for a complete one. Everything a broken
//! or hostile server can send — an unknown type byte, a bad or oversized
//! length, a truncated or overlong body, invalid UTF-8 where text is required —
//! is an `InterfaceError`, never a panic. Decoded messages borrow from the
//! input buffer.

use crate::error::{Error, ErrorKind, Result};

use super::MAX_MESSAGE_LEN;

/// One column of a RowDescription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldDescription<'a> {
    pub name: &'a str,
    pub table_oid: u32,
    pub column_attr: i16,
    pub type_oid: u32,
    pub type_size: i16,
    pub type_modifier: i32,
    pub format: i16,
}

/// A DataRow whose column lengths were validated when it was decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataRow<'a> {
    count: usize,
    body: &'a [u8],
}

impl<'a> DataRow<'a> {
    /// Number of columns.
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The columns in order: `None` is SQL NULL.
    pub fn columns(&self) -> DataRowColumns<'a> {
        DataRowColumns {
            rest: self.body,
            left: self.count,
        }
    }
}

/// Iterator over the column values of a [`DataRow`].
#[derive(Debug, Clone)]
pub struct DataRowColumns<'a> {
    rest: &'a [u8],
    left: usize,
}

impl<'a> Iterator for DataRowColumns<'a> {
    type Item = Option<&'a [u8]>;

    fn next(&mut self) -> Option<Self::Item> {
        // Lengths were checked by `decode`; the `get`s only guard against a
        // logic error without panicking.
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let len = i32::from_be_bytes(self.rest.get(..4)?.try_into().ok()?);
        self.rest = self.rest.get(4..)?;
        if len < 0 {
            return Some(None);
        }
        let (value, rest) = self.rest.split_at_checked(len as usize)?;
        self.rest = rest;
        Some(Some(value))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

/// Every field of an ErrorResponse or NoticeResponse.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrorFields<'a> {
    pub severity_localized: Option<&'a str>,
    pub severity: Option<&'a str>,
    pub code: Option<&'a str>,
    pub message: Option<&'a str>,
    pub detail: Option<&'a str>,
    pub hint: Option<&'a str>,
    pub position: Option<&'a str>,
    pub internal_position: Option<&'a str>,
    pub internal_query: Option<&'a str>,
    pub where_: Option<&'a str>,
    pub schema: Option<&'a str>,
    pub table: Option<&'a str>,
    pub column: Option<&'a str>,
    pub data_type: Option<&'a str>,
    pub constraint: Option<&'a str>,
    pub file: Option<&'a str>,
    pub line: Option<&'a str>,
    pub routine: Option<&'a str>,
}

impl ErrorFields<'_> {
    /// The shared [`Error`], its kind chosen from the SQLSTATE.
    pub fn to_error(&self) -> Error {
        let kind = self
            .code
            .map_or(ErrorKind::Database, ErrorKind::from_sqlstate);
        let owned = |s: Option<&str>| s.map(str::to_owned);
        Error {
            kind,
            message: self.message.unwrap_or("unknown server error").to_owned(),
            sqlstate: owned(self.code),
            severity: owned(self.severity.or(self.severity_localized)),
            detail: owned(self.detail),
            hint: owned(self.hint),
            position: self.position.and_then(|p| p.parse().ok()),
            schema: owned(self.schema),
            table: owned(self.table),
            column: owned(self.column),
            constraint: owned(self.constraint),
        }
    }
}

/// A decoded backend message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message<'a> {
    AuthenticationOk,
    AuthenticationCleartextPassword,
    AuthenticationMd5Password {
        salt: [u8; 4],
    },
    AuthenticationSasl {
        mechanisms: Vec<&'a str>,
    },
    AuthenticationSaslContinue(&'a [u8]),
    AuthenticationSaslFinal(&'a [u8]),
    /// A method we do not implement (Kerberos, GSSAPI, SSPI, SCM), by name.
    AuthenticationUnsupported(&'static str),
    BackendKeyData {
        process_id: i32,
        secret_key: i32,
    },
    ParameterStatus {
        name: &'a str,
        value: &'a str,
    },
    /// Transaction status: `I` idle, `T` in a transaction, `E` failed transaction.
    ReadyForQuery(u8),
    RowDescription(Vec<FieldDescription<'a>>),
    DataRow(DataRow<'a>),
    CommandComplete(&'a str),
    EmptyQueryResponse,
    ErrorResponse(ErrorFields<'a>),
    NoticeResponse(ErrorFields<'a>),
    ParseComplete,
    BindComplete,
    CloseComplete,
    NoData,
    ParameterDescription(Vec<u32>),
    PortalSuspended,
    NotificationResponse {
        process_id: i32,
        channel: &'a str,
        payload: &'a str,
    },
    /// COPY is not supported; these are decoded so the connection can back out.
    CopyInResponse,
    CopyOutResponse,
    CopyBothResponse,
    CopyData(&'a [u8]),
    CopyDone,
    NegotiateProtocolVersion {
        newest_minor: i32,
        unrecognized: Vec<&'a str>,
    },
}

fn malformed(what: &str) -> Error {
    Error::interface(format!("protocol violation: {what}"))
}

/// Cursor over one message body.
struct Reader<'a> {
    buf: &'a [u8],
    what: &'static str,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let (head, rest) = self
            .buf
            .split_at_checked(n)
            .ok_or_else(|| malformed(&format!("truncated {}", self.what)))?;
        self.buf = rest;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn i16(&mut self) -> Result<i16> {
        let b = self.take(2)?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    }

    fn i32(&mut self) -> Result<i32> {
        let b = self.take(4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u32(&mut self) -> Result<u32> {
        Ok(self.i32()? as u32)
    }

    fn cstr(&mut self) -> Result<&'a str> {
        let end = self
            .buf
            .iter()
            .position(|&b| b == 0)
            .ok_or_else(|| malformed(&format!("unterminated string in {}", self.what)))?;
        let s = self.take(end)?;
        self.buf = &self.buf[1..];
        std::str::from_utf8(s).map_err(|_| malformed(&format!("invalid UTF-8 in {}", self.what)))
    }

    fn count(&mut self) -> Result<usize> {
        let n = self.i16()?;
        usize::try_from(n).map_err(|_| malformed(&format!("negative count in {}", self.what)))
    }

    fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.buf)
    }

    fn finish(self) -> Result<()> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(malformed(&format!("trailing bytes in {}", self.what)))
        }
    }
}

/// Decodes one message from the front of `buf`.
///
/// `Ok(None)`: more bytes are needed. `Ok(Some((msg, n)))`: `msg` used the
/// first `n` bytes of `buf`.
pub fn decode(buf: &[u8]) -> Result<Option<(Message<'_>, usize)>> {
    let Some(header) = buf.get(..5) else {
        return Ok(None);
    };
    let tag = header[0];
    let len = i32::from_be_bytes([header[1], header[2], header[3], header[4]]);
    if len < 4 {
        return Err(malformed(&format!("message length {len} is too small")));
    }
    let len = len as usize;
    if len > MAX_MESSAGE_LEN {
        return Err(malformed(&format!(
            "message length {len} exceeds the limit"
        )));
    }
    let Some(body) = buf.get(5..1 + len) else {
        return Ok(None);
    };
    let message = decode_body(tag, body)?;
    Ok(Some((message, 1 + len)))
}

/// Decodes the body of a message whose type byte is `tag`.
pub fn decode_body(tag: u8, body: &[u8]) -> Result<Message<'_>> {
    let what = match tag {
        b'R' => "authentication request",
        b'K' => "BackendKeyData",
        b'S' => "ParameterStatus",
        b'Z' => "ReadyForQuery",
        b'T' => "RowDescription",
        b'D' => "DataRow",
        b'C' => "CommandComplete",
        b'I' => "EmptyQueryResponse",
        b'E' => "ErrorResponse",
        b'N' => "NoticeResponse",
        b'1' => "ParseComplete",
        b'2' => "BindComplete",
        b'3' => "CloseComplete",
        b'n' => "NoData",
        b't' => "ParameterDescription",
        b's' => "PortalSuspended",
        b'A' => "NotificationResponse",
        b'G' => "CopyInResponse",
        b'H' => "CopyOutResponse",
        b'W' => "CopyBothResponse",
        b'd' => "CopyData",
        b'c' => "CopyDone",
        b'v' => "NegotiateProtocolVersion",
        other => {
            return Err(malformed(&format!(
                "unknown message type {:?}",
                char::from(other)
            )))
        }
    };
    let mut r = Reader { buf: body, what };
    let message = match tag {
        b'R' => authentication(&mut r)?,
        b'K' => Message::BackendKeyData {
            process_id: r.i32()?,
            secret_key: r.i32()?,
        },
        b'S' => Message::ParameterStatus {
            name: r.cstr()?,
            value: r.cstr()?,
        },
        b'Z' => match r.u8()? {
            s @ (b'I' | b'T' | b'E') => Message::ReadyForQuery(s),
            other => return Err(malformed(&format!("transaction status {other}"))),
        },
        b'T' => row_description(&mut r)?,
        b'D' => data_row(&mut r)?,
        b'C' => Message::CommandComplete(r.cstr()?),
        b'I' => Message::EmptyQueryResponse,
        b'E' => Message::ErrorResponse(error_fields(&mut r)?),
        b'N' => Message::NoticeResponse(error_fields(&mut r)?),
        b'1' => Message::ParseComplete,
        b'2' => Message::BindComplete,
        b'3' => Message::CloseComplete,
        b'n' => Message::NoData,
        b't' => {
            // The server sends the count as 16 bits that reach 65535 (the most
            // parameters a statement can have): read them unsigned, as libpq does.
            let n = usize::from(r.u16()?);
            let mut oids = Vec::with_capacity(n.min(r.buf.len() / 4));
            for _ in 0..n {
                oids.push(r.u32()?);
            }
            Message::ParameterDescription(oids)
        }
        b's' => Message::PortalSuspended,
        b'A' => Message::NotificationResponse {
            process_id: r.i32()?,
            channel: r.cstr()?,
            payload: r.cstr()?,
        },
        b'G' | b'H' | b'W' => {
            copy_response(&mut r)?;
            match tag {
                b'G' => Message::CopyInResponse,
                b'H' => Message::CopyOutResponse,
                _ => Message::CopyBothResponse,
            }
        }
        b'd' => Message::CopyData(r.rest()),
        b'c' => Message::CopyDone,
        _ => {
            let newest_minor = r.i32()?;
            let n = r.i32()?;
            let n = usize::try_from(n).map_err(|_| malformed("negative option count"))?;
            let mut unrecognized = Vec::with_capacity(n.min(r.buf.len()));
            for _ in 0..n {
                unrecognized.push(r.cstr()?);
            }
            Message::NegotiateProtocolVersion {
                newest_minor,
                unrecognized,
            }
        }
    };
    r.finish()?;
    Ok(message)
}

fn authentication<'a>(r: &mut Reader<'a>) -> Result<Message<'a>> {
    Ok(match r.i32()? {
        0 => Message::AuthenticationOk,
        2 => Message::AuthenticationUnsupported("Kerberos V5"),
        3 => Message::AuthenticationCleartextPassword,
        5 => {
            let s = r.take(4)?;
            Message::AuthenticationMd5Password {
                salt: [s[0], s[1], s[2], s[3]],
            }
        }
        6 => Message::AuthenticationUnsupported("SCM credentials"),
        7 => Message::AuthenticationUnsupported("GSSAPI"),
        8 => {
            r.rest();
            Message::AuthenticationUnsupported("GSSAPI")
        }
        9 => Message::AuthenticationUnsupported("SSPI"),
        10 => {
            let mut mechanisms = Vec::new();
            loop {
                let m = r.cstr()?;
                if m.is_empty() {
                    break;
                }
                mechanisms.push(m);
            }
            Message::AuthenticationSasl { mechanisms }
        }
        11 => Message::AuthenticationSaslContinue(r.rest()),
        12 => Message::AuthenticationSaslFinal(r.rest()),
        other => {
            return Err(malformed(&format!(
                "unknown authentication request {other}"
            )))
        }
    })
}

fn row_description<'a>(r: &mut Reader<'a>) -> Result<Message<'a>> {
    let n = r.count()?;
    // Each field takes at least 19 bytes: never trust the count for capacity.
    let mut fields = Vec::with_capacity(n.min(r.buf.len() / 19));
    for _ in 0..n {
        fields.push(FieldDescription {
            name: r.cstr()?,
            table_oid: r.u32()?,
            column_attr: r.i16()?,
            type_oid: r.u32()?,
            type_size: r.i16()?,
            type_modifier: r.i32()?,
            format: match r.i16()? {
                f @ (0 | 1) => f,
                other => return Err(malformed(&format!("format code {other}"))),
            },
        });
    }
    Ok(Message::RowDescription(fields))
}

fn data_row<'a>(r: &mut Reader<'a>) -> Result<Message<'a>> {
    let count = r.count()?;
    let body = r.buf;
    for _ in 0..count {
        let len = r.i32()?;
        if len < -1 {
            return Err(malformed(&format!("column length {len}")));
        }
        if len > 0 {
            r.take(len as usize)?;
        }
    }
    Ok(Message::DataRow(DataRow { count, body }))
}

fn error_fields<'a>(r: &mut Reader<'a>) -> Result<ErrorFields<'a>> {
    let mut f = ErrorFields::default();
    loop {
        let code = r.u8()?;
        if code == 0 {
            return Ok(f);
        }
        let value = Some(r.cstr()?);
        match code {
            b'S' => f.severity_localized = value,
            b'V' => f.severity = value,
            b'C' => f.code = value,
            b'M' => f.message = value,
            b'D' => f.detail = value,
            b'H' => f.hint = value,
            b'P' => f.position = value,
            b'p' => f.internal_position = value,
            b'q' => f.internal_query = value,
            b'W' => f.where_ = value,
            b's' => f.schema = value,
            b't' => f.table = value,
            b'c' => f.column = value,
            b'd' => f.data_type = value,
            b'n' => f.constraint = value,
            b'F' => f.file = value,
            b'L' => f.line = value,
            b'R' => f.routine = value,
            // The protocol says unknown field types are to be ignored.
            _ => {}
        }
    }
}

fn copy_response(r: &mut Reader<'_>) -> Result<()> {
    r.u8()?;
    let n = r.count()?;
    for _ in 0..n {
        r.i16()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn frame(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut v = vec![tag];
        v.extend_from_slice(&(body.len() as i32 + 4).to_be_bytes());
        v.extend_from_slice(body);
        v
    }

    fn one(tag: u8, body: &[u8]) -> Message<'static> {
        let bytes: &'static [u8] = Box::leak(frame(tag, body).into_boxed_slice());
        let (m, n) = decode(bytes).unwrap().unwrap();
        assert_eq!(n, bytes.len());
        m
    }

    fn err(bytes: &[u8]) -> Error {
        let e = decode(bytes).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Interface);
        e
    }

    #[test]
    fn authentication_variants() {
        assert_eq!(one(b'R', &0i32.to_be_bytes()), Message::AuthenticationOk);
        assert_eq!(
            one(b'R', &3i32.to_be_bytes()),
            Message::AuthenticationCleartextPassword
        );
        assert_eq!(
            one(b'R', b"\0\0\0\x05abcd"),
            Message::AuthenticationMd5Password { salt: *b"abcd" }
        );
        assert_eq!(
            one(b'R', b"\0\0\0\x0aSCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0\0"),
            Message::AuthenticationSasl {
                mechanisms: vec!["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"]
            }
        );
        assert_eq!(
            one(b'R', b"\0\0\0\x0br=x"),
            Message::AuthenticationSaslContinue(b"r=x")
        );
        assert_eq!(
            one(b'R', b"\0\0\0\x0cv=y"),
            Message::AuthenticationSaslFinal(b"v=y")
        );
        assert_eq!(
            one(b'R', &7i32.to_be_bytes()),
            Message::AuthenticationUnsupported("GSSAPI")
        );
        err(&frame(b'R', &99i32.to_be_bytes()));
        err(&frame(b'R', b"\0\0\0\x05abc"));
    }

    #[test]
    fn simple_messages() {
        assert_eq!(
            one(b'K', b"\0\0\0\x01\xff\xff\xff\xfe"),
            Message::BackendKeyData {
                process_id: 1,
                secret_key: -2
            }
        );
        assert_eq!(
            one(b'S', b"TimeZone\0UTC\0"),
            Message::ParameterStatus {
                name: "TimeZone",
                value: "UTC"
            }
        );
        assert_eq!(one(b'Z', b"T"), Message::ReadyForQuery(b'T'));
        err(&frame(b'Z', b"X"));
        assert_eq!(
            one(b'C', b"INSERT 0 3\0"),
            Message::CommandComplete("INSERT 0 3")
        );
        assert_eq!(one(b'I', b""), Message::EmptyQueryResponse);
        assert_eq!(one(b'1', b""), Message::ParseComplete);
        assert_eq!(one(b'2', b""), Message::BindComplete);
        assert_eq!(one(b'3', b""), Message::CloseComplete);
        assert_eq!(one(b'n', b""), Message::NoData);
        assert_eq!(one(b's', b""), Message::PortalSuspended);
        assert_eq!(
            one(b't', b"\0\x02\0\0\0\x17\0\0\0\x19"),
            Message::ParameterDescription(vec![23, 25])
        );
        assert_eq!(
            one(b'A', b"\0\0\0\x05ch\0hi\0"),
            Message::NotificationResponse {
                process_id: 5,
                channel: "ch",
                payload: "hi"
            }
        );
        assert_eq!(one(b'G', b"\0\0\x01\0\0"), Message::CopyInResponse);
        assert_eq!(one(b'H', b"\0\0\0"), Message::CopyOutResponse);
        assert_eq!(one(b'W', b"\0\0\0"), Message::CopyBothResponse);
        assert_eq!(one(b'd', b"xy"), Message::CopyData(b"xy"));
        assert_eq!(one(b'c', b""), Message::CopyDone);
        assert_eq!(
            one(b'v', b"\0\0\0\x00\0\0\0\x01_pq_.x\0"),
            Message::NegotiateProtocolVersion {
                newest_minor: 0,
                unrecognized: vec!["_pq_.x"]
            }
        );
    }

    #[test]
    fn row_description() {
        let mut body = vec![0, 2];
        for (name, oid, fmt) in [("id", 23u32, 1i16), ("nom", 25, 0)] {
            body.extend_from_slice(name.as_bytes());
            body.push(0);
            body.extend_from_slice(&16384u32.to_be_bytes());
            body.extend_from_slice(&1i16.to_be_bytes());
            body.extend_from_slice(&oid.to_be_bytes());
            body.extend_from_slice(&4i16.to_be_bytes());
            body.extend_from_slice(&(-1i32).to_be_bytes());
            body.extend_from_slice(&fmt.to_be_bytes());
        }
        let Message::RowDescription(fields) = one(b'T', &body) else {
            panic!("not a RowDescription")
        };
        assert_eq!(fields.len(), 2);
        assert_eq!(fields[0].name, "id");
        assert_eq!(fields[0].type_oid, 23);
        assert_eq!(fields[0].format, 1);
        assert_eq!(fields[1].name, "nom");
        assert_eq!(fields[1].table_oid, 16384);
        assert_eq!(fields[1].type_modifier, -1);
        // bad format code
        let last = body.len() - 1;
        body[last] = 7;
        err(&frame(b'T', &body));
    }

    #[test]
    fn data_row_borrows_columns() {
        let body = b"\0\x03\0\0\0\x02ab\xff\xff\xff\xff\0\0\0\0";
        let Message::DataRow(row) = one(b'D', body) else {
            panic!("not a DataRow")
        };
        assert_eq!(row.len(), 3);
        let cols: Vec<_> = row.columns().collect();
        assert_eq!(cols, vec![Some(&b"ab"[..]), None, Some(&b""[..])]);
    }

    #[test]
    fn parameter_description_counts_up_to_65535() {
        let mut body = vec![0xff, 0xff];
        body.extend(std::iter::repeat_n([0, 0, 0, 23], 65_535).flatten());
        match one(b't', &body) {
            Message::ParameterDescription(oids) => assert_eq!(oids.len(), 65_535),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn truncated_data_row_is_an_error() {
        err(&frame(b'D', b"\0\x01\0\0\0\x05ab"));
        err(&frame(b'D', b"\0\x02\0\0\0\x01a"));
        err(&frame(b'D', b"\0\x01\xff\xff\xff\xfe"));
        err(&frame(b'D', b"\xff\xff"));
        // trailing garbage
        err(&frame(b'D', b"\0\x00z"));
    }

    #[test]
    fn error_response_all_fields() {
        let body = b"SERREUR\0VERROR\0C23505\0Mduplicate key\0Dkey exists\0Huse another\0P12\0spublic\0tusers\0cemail\0nusers_email_key\0Wsomewhere\0Fnbtinsert.c\0L1\0R_bt\0Zunknown\0\0";
        let Message::ErrorResponse(f) = one(b'E', body) else {
            panic!("not an ErrorResponse")
        };
        assert_eq!(f.where_, Some("somewhere"));
        let e = f.to_error();
        assert_eq!(e.kind, ErrorKind::Integrity);
        assert_eq!(e.message, "duplicate key");
        assert_eq!(e.sqlstate.as_deref(), Some("23505"));
        assert_eq!(e.severity.as_deref(), Some("ERROR"));
        assert_eq!(e.detail.as_deref(), Some("key exists"));
        assert_eq!(e.hint.as_deref(), Some("use another"));
        assert_eq!(e.position, Some(12));
        assert_eq!(e.schema.as_deref(), Some("public"));
        assert_eq!(e.table.as_deref(), Some("users"));
        assert_eq!(e.column.as_deref(), Some("email"));
        assert_eq!(e.constraint.as_deref(), Some("users_email_key"));
        let Message::NoticeResponse(n) = one(b'N', b"SNOTICE\0Mhello\0\0") else {
            panic!("not a notice")
        };
        assert_eq!(n.message, Some("hello"));
        // missing terminator
        err(&frame(b'E', b"Mx\0"));
    }

    #[test]
    fn partial_frames_need_more_bytes() {
        let full = frame(b'C', b"SELECT 1\0");
        for cut in 0..full.len() {
            assert_eq!(decode(&full[..cut]).unwrap(), None, "cut at {cut}");
        }
        let mut two = full.clone();
        two.extend_from_slice(&frame(b'Z', b"I"));
        let (m, n) = decode(&two).unwrap().unwrap();
        assert_eq!(m, Message::CommandComplete("SELECT 1"));
        assert_eq!(
            decode(&two[n..]).unwrap().unwrap().0,
            Message::ReadyForQuery(b'I')
        );
    }

    #[test]
    fn malformed_frames() {
        let e = err(b"?\0\0\0\x04");
        assert!(e.message.contains("unknown message type"), "{}", e.message);
        err(b"Z\0\0\0\x03");
        err(b"Z\xff\xff\xff\xff");
        // a length over the cap fails at once, without waiting for the body
        let e = err(b"D\x7f\xff\xff\xff");
        assert!(e.message.contains("exceeds"), "{}", e.message);
        // invalid UTF-8
        err(&frame(b'C', b"\xff\xfe\0"));
        // truncated fixed field
        err(&frame(b'K', b"\0\0\0\x01"));
        // negative counts
        err(&frame(b't', b"\xff\xff"));
        err(&frame(b'v', b"\0\0\0\0\xff\xff\xff\xff"));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]
        #[test]
        fn decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let mut rest = &bytes[..];
            while let Ok(Some((msg, n))) = decode(rest) {
                if let Message::DataRow(row) = msg {
                    prop_assert_eq!(row.columns().count(), row.len());
                }
                rest = &rest[n..];
            }
        }

        #[test]
        fn framed_bodies_never_panic(
            tag in prop::sample::select(b"RKSZTDCIEN123nstAGHWdcv".to_vec()),
            body in proptest::collection::vec(any::<u8>(), 0..128),
        ) {
            let _ = decode(&frame(tag, &body));
        }
    }
}
