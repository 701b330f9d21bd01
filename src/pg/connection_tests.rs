//! Server-free tests of [`PgConnection`]: a scripted peer hands it bytes and
//! we check what it writes and reports, including hostile input.

use std::sync::Arc;

use super::config::PgConfig;
use super::connection::{Event, PgConnection};
use crate::error::ErrorKind;
use crate::value::Value;

pub(super) fn frame(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![tag];
    v.extend_from_slice(&(body.len() as i32 + 4).to_be_bytes());
    v.extend_from_slice(body);
    v
}

fn auth(code: i32, extra: &[u8]) -> Vec<u8> {
    let mut body = code.to_be_bytes().to_vec();
    body.extend_from_slice(extra);
    frame(b'R', &body)
}

pub(super) fn ready(status: u8) -> Vec<u8> {
    frame(b'Z', &[status])
}

fn started(url: &str) -> PgConnection {
    let mut c = PgConnection::new(Arc::new(PgConfig::from_url(url).unwrap()));
    c.start().unwrap();
    let out = c.take_output().unwrap();
    assert_eq!(&out[4..8], &196_608i32.to_be_bytes(), "StartupMessage");
    c
}

pub(super) fn connected(url: &str) -> PgConnection {
    let mut c = started(url);
    let mut bytes = auth(0, &[]);
    bytes.extend(frame(b'K', b"\0\0\0\x07\0\0\0\x09"));
    bytes.extend(frame(b'S', b"server_version\x0015.0\0"));
    bytes.extend(ready(b'I'));
    c.feed(&bytes).unwrap();
    assert_eq!(c.poll_event(), Some(Event::Connected));
    c
}

fn closed_error(c: &mut PgConnection) -> crate::error::Error {
    while let Some(ev) = c.poll_event() {
        if let Event::Closed(e) = ev {
            assert!(c.is_broken());
            return e;
        }
    }
    panic!("no Closed event")
}

pub(super) const TRUST: &str = "postgresql://u@127.0.0.1/d?sslmode=disable";

#[test]
fn startup_collects_key_and_params() {
    let c = connected(TRUST);
    assert!(c.is_idle());
    assert_eq!(c.backend_key(), Some((7, 9)));
    assert_eq!(c.server_param("server_version"), Some("15.0"));
    let cancel = c.cancel_request_bytes().unwrap();
    assert_eq!(cancel.len(), 16);
}

#[test]
fn ssl_request_first_and_no_fallback_when_required() {
    let mut c = PgConnection::new(Arc::new(
        PgConfig::from_url("postgresql://u@h/d?sslmode=require").unwrap(),
    ));
    c.start().unwrap();
    assert_eq!(c.take_output().unwrap(), [0, 0, 0, 8, 4, 210, 22, 47]);
    let e = c.feed(b"N").unwrap_err();
    assert_eq!(e.kind, ErrorKind::Operational);
    assert!(e.message.contains("sslmode=require"), "{}", e.message);
    // prefer falls back to plaintext
    let mut c = PgConnection::new(Arc::new(PgConfig::from_url("postgresql://u@h/d").unwrap()));
    c.start().unwrap();
    c.take_output();
    c.feed(b"N").unwrap();
    assert!(c.take_output().is_some());
    // bytes smuggled after 'S' are refused
    let mut c = PgConnection::new(Arc::new(PgConfig::from_url("postgresql://u@h/d").unwrap()));
    c.start().unwrap();
    c.take_output();
    assert!(c.feed(b"Sgarbage").is_err());
}

#[test]
fn trust_refused_when_a_password_was_given() {
    let mut c = started("postgresql://u:pw@127.0.0.1/d?sslmode=disable");
    let e = c.feed(&auth(0, &[])).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Operational);
    assert!(e.message.contains("allow_trust"));
    assert!(!e.message.contains("pw@"));
    let mut c = started("postgresql://u:pw@127.0.0.1/d?sslmode=disable&allow_trust=true");
    c.feed(&auth(0, &[])).unwrap();
}

#[test]
fn cleartext_only_when_local_or_tls() {
    let mut c = started("postgresql://u:pw@db.example.com/d?sslmode=disable");
    let e = c.feed(&auth(3, &[])).unwrap_err();
    assert!(e.message.contains("cleartext"), "{}", e.message);
    let mut c = started("postgresql://u:pw@127.0.0.1/d?sslmode=disable");
    c.feed(&auth(3, &[])).unwrap();
    assert_eq!(c.take_output().unwrap(), frame(b'p', b"pw\0"));
}

#[test]
fn md5_and_missing_password() {
    let mut c = started("postgresql://bob:secret@127.0.0.1/d?sslmode=disable");
    c.feed(&auth(5, &[1, 2, 3, 4])).unwrap();
    let out = c.take_output().unwrap();
    assert_eq!(out, frame(b'p', b"md5f21dfe33ff3a9e03dbc3e008251fe5cc\0"));
    let mut c = started(TRUST);
    let e = c.feed(&auth(5, &[1, 2, 3, 4])).unwrap_err();
    assert!(e.message.contains("none was given"));
}

#[test]
fn scram_exchange_checks_the_server() {
    let mut c = started("postgresql://u:pencil@127.0.0.1/d?sslmode=disable");
    c.feed(&auth(10, b"SCRAM-SHA-256\0\0")).unwrap();
    let out = c.take_output().unwrap();
    let first = String::from_utf8_lossy(&out);
    let nonce = first.split("r=").nth(1).unwrap().to_owned();
    // an iteration count over the cap is refused
    let server_first = format!("r={nonce}xyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=999999999");
    let e = c.feed(&auth(11, server_first.as_bytes())).unwrap_err();
    assert!(e.message.contains("iteration count"), "{}", e.message);

    let mut c = started("postgresql://u:pencil@127.0.0.1/d?sslmode=disable");
    c.feed(&auth(10, b"SCRAM-SHA-256\0\0")).unwrap();
    let out = c.take_output().unwrap();
    let nonce = String::from_utf8_lossy(&out)
        .split("r=")
        .nth(1)
        .unwrap()
        .to_owned();
    let server_first = format!("r={nonce}xyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096");
    c.feed(&auth(11, server_first.as_bytes())).unwrap();
    assert!(c.take_output().unwrap().starts_with(b"p"));
    // a forged server signature is refused
    let e = c
        .feed(&auth(12, b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="))
        .unwrap_err();
    assert_eq!(e.message, "server signature mismatch");
    // and AuthenticationOk without the final message too
    let mut c = started("postgresql://u:pencil@127.0.0.1/d?sslmode=disable");
    c.feed(&auth(10, b"SCRAM-SHA-256\0\0")).unwrap();
    c.take_output();
    assert!(c.feed(&auth(0, &[])).is_err());
}

#[test]
fn unsupported_auth_and_server_errors() {
    let mut c = started(TRUST);
    let e = c.feed(&auth(7, &[])).unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotSupported);
    let mut c = started(TRUST);
    let e = c
        .feed(&frame(
            b'E',
            b"SFATAL\0VFATAL\0C28P01\0Mpassword authentication failed\0\0",
        ))
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Operational);
    assert_eq!(closed_error(&mut c).sqlstate.as_deref(), Some("28P01"));
}

#[test]
fn hostile_frames_break_the_connection_at_once() {
    for bad in [
        frame(b'?', b""),                   // unknown type
        b"D\x7f\xff\xff\xff".to_vec(),      // length over the cap
        frame(b'D', b"\0\x01\0\0\0\x09ab"), // truncated DataRow
        frame(b'1', b""),                   // ParseComplete with nothing in flight
        frame(b'C', b"\xff\xfe\0"),         // invalid UTF-8
    ] {
        let mut c = connected(TRUST);
        assert!(c.feed(&bad).is_err(), "{bad:?}");
        let e = closed_error(&mut c);
        assert_eq!(e.kind, ErrorKind::Interface);
        assert!(c.query("SELECT 1", vec![]).is_err());
    }
}

#[test]
fn query_in_flight_fails_on_violation_and_on_lost_connection() {
    let mut c = connected(TRUST);
    c.query("SELECT 1", vec![]).unwrap();
    c.take_output();
    assert!(!c.is_idle());
    assert!(
        c.query("SELECT 2", vec![]).is_err(),
        "one statement at a time"
    );
    c.feed(&frame(b'D', b"\0\x01\0\0\0\x09ab")).unwrap_err();
    assert!(matches!(c.poll_event(), Some(Event::QueryDone(Err(_)))));
    let mut c = connected(TRUST);
    c.query("SELECT 1", vec![]).unwrap();
    c.connection_lost();
    match c.poll_event() {
        Some(Event::QueryDone(Err(e))) => assert_eq!(e.kind, ErrorKind::Operational),
        other => panic!("{other:?}"),
    }
    assert!(matches!(c.poll_event(), Some(Event::Closed(_))));
}

#[test]
fn extended_query_flow_and_cache_hit_in_one_write() {
    let mut c = connected(TRUST);
    c.query("SELECT $1::int4", vec![Value::Int(5)]).unwrap();
    let out = c.take_output().unwrap();
    assert_eq!(out[0], b'P');
    assert!(out.ends_with(b"S\0\0\0\x04"));
    // ParseComplete, ParameterDescription(int4), RowDescription(int4), RFQ
    let mut reply = frame(b'1', b"");
    reply.extend(frame(b't', b"\0\x01\0\0\0\x17"));
    let mut rd = b"\0\x01int4\0".to_vec();
    rd.extend_from_slice(&[
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0x17, 0, 4, 0xff, 0xff, 0xff, 0xff, 0, 0,
    ]);
    reply.extend(frame(b'T', &rd));
    reply.extend(ready(b'I'));
    c.feed(&reply).unwrap();
    let out = c.take_output().unwrap();
    assert_eq!(out[0], b'B', "Bind follows once the types are known");
    let mut reply = frame(b'2', b"");
    reply.extend(frame(b'D', b"\0\x01\0\0\0\x04\0\0\0\x05"));
    reply.extend(frame(b'C', b"SELECT 1\0"));
    reply.extend(ready(b'I'));
    // delivered in two pieces: a partial frame waits for more bytes
    c.feed(&reply[..7]).unwrap();
    assert!(c.poll_event().is_none());
    c.feed(&reply[7..]).unwrap();
    match c.poll_event() {
        Some(Event::QueryDone(Ok(out))) => {
            assert_eq!(out.rows[0][0], Value::Int(5));
            assert_eq!(out.rowcount, 1);
            assert!(!out.cache_hit);
        }
        other => panic!("{other:?}"),
    }
    assert!(c.is_idle());
    // cache hit: BEGIN + Bind + Execute + Sync in one write
    c.begin_pipelined();
    c.query("SELECT $1::int4", vec![Value::Int(6)]).unwrap();
    let out = c.take_output().unwrap();
    assert_eq!(out[0], b'Q');
    assert!(out.windows(6).any(|w| w == b"BEGIN\0"));
    assert!(c.take_output().is_none());
    // a value the cached type cannot take: error now, nothing sent
    let e = c.query("SELECT $1::int4", vec![Value::Bool(true)]);
    assert!(e.is_err(), "busy");
}

#[test]
fn data_error_on_cache_hit_sends_nothing() {
    let mut c = connected(TRUST);
    c.query("SELECT $1::int2", vec![Value::Int(1)]).unwrap();
    c.take_output();
    let mut reply = frame(b'1', b"");
    reply.extend(frame(b't', b"\0\x01\0\0\0\x15"));
    reply.extend(frame(b'n', b""));
    reply.extend(ready(b'I'));
    c.feed(&reply).unwrap();
    c.take_output();
    let mut reply = frame(b'2', b"");
    reply.extend(frame(b'C', b"SELECT 0\0"));
    reply.extend(ready(b'I'));
    c.feed(&reply).unwrap();
    assert!(matches!(c.poll_event(), Some(Event::QueryDone(Ok(_)))));
    c.begin_pipelined();
    let e = c
        .query("SELECT $1::int2", vec![Value::Int(70000)])
        .unwrap_err();
    assert_eq!(
        e.message,
        "parameter $1: value 70000 out of range for smallint"
    );
    assert!(c.take_output().is_none(), "not even the BEGIN");
    assert!(c.is_idle());
}

proptest::proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(
        chunks in proptest::collection::vec(proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64), 0..6),
        start_query: bool,
    ) {
        let mut c = connected(TRUST);
        if start_query {
            c.query("SELECT 1", vec![]).unwrap();
        }
        for chunk in &chunks {
            let _ = c.feed(chunk);
            let _ = c.take_output();
            while c.poll_event().is_some() {}
        }
    }
}
