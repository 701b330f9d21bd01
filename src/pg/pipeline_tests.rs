//! Server-free tests of pipelined batches (`query_many`) and portals read in
//! chunks: what goes out in one write, and how the answers are folded.

use super::connection::{Event, PgConnection};
use super::connection_tests::{connected, frame, ready, TRUST};
use crate::error::ErrorKind;
use crate::pg::query::QueryOutput;
use crate::value::Value;

/// The message tags of a frontend write (every message after the first
/// startup is `tag + i32 length + body`).
fn tags(out: &[u8]) -> Vec<u8> {
    let mut tags = Vec::new();
    let mut pos = 0;
    while pos + 5 <= out.len() {
        tags.push(out[pos]);
        let len = i32::from_be_bytes([out[pos + 1], out[pos + 2], out[pos + 3], out[pos + 4]]);
        pos += 1 + len as usize;
    }
    assert_eq!(pos, out.len(), "whole messages");
    tags
}

/// ParseComplete, ParameterDescription (one int4), NoData, ReadyForQuery.
fn described_int4_no_rows(status: u8) -> Vec<u8> {
    let mut reply = frame(b'1', b"");
    reply.extend(frame(b't', b"\0\x01\0\0\0\x17"));
    reply.extend(frame(b'n', b""));
    reply.extend(ready(status));
    reply
}

/// ParseComplete, no parameters, RowDescription (one int4 column), ReadyForQuery.
fn described_int4_column(status: u8) -> Vec<u8> {
    let mut reply = frame(b'1', b"");
    reply.extend(frame(b't', b"\0\0"));
    let mut rd = b"\0\x01n\0".to_vec();
    rd.extend_from_slice(&[
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0x17, 0, 4, 0xff, 0xff, 0xff, 0xff, 0, 0,
    ]);
    reply.extend(frame(b'T', &rd));
    reply.extend(ready(status));
    reply
}

fn int4_row(v: i32) -> Vec<u8> {
    let mut body = b"\0\x01\0\0\0\x04".to_vec();
    body.extend_from_slice(&v.to_be_bytes());
    frame(b'D', &body)
}

fn done(c: &mut PgConnection) -> crate::error::Result<QueryOutput> {
    match c.poll_event() {
        Some(Event::QueryDone(result)) => result,
        other => panic!("expected QueryDone, got {other:?}"),
    }
}

fn sets(values: &[i64]) -> Vec<Vec<Value>> {
    values.iter().map(|&v| vec![Value::Int(v)]).collect()
}

#[test]
fn batch_is_one_write_with_one_sync() {
    let mut c = connected(TRUST);
    c.query_many("INSERT INTO t VALUES ($1)", sets(&[1, 2, 3]))
        .unwrap();
    assert_eq!(tags(&c.take_output().unwrap()), b"PDS", "prepared first");
    c.feed(&described_int4_no_rows(b'I')).unwrap();
    assert!(c.poll_event().is_none());
    let out = c.take_output().unwrap();
    assert_eq!(tags(&out), b"BEBEBES", "every set, then one Sync");
    let mut reply = Vec::new();
    for _ in 0..3 {
        reply.extend(frame(b'2', b""));
        reply.extend(frame(b'C', b"INSERT 0 1\0"));
    }
    reply.extend(ready(b'I'));
    c.feed(&reply).unwrap();
    let out = done(&mut c).unwrap();
    assert_eq!(out.rowcount, 3, "summed over the batch");
    assert!(c.is_idle());

    // cached now: BEGIN + the whole batch in one write
    c.begin_pipelined();
    c.query_many("INSERT INTO t VALUES ($1)", sets(&[4, 5]))
        .unwrap();
    assert_eq!(tags(&c.take_output().unwrap()), b"QBEBES");
    assert!(c.take_output().is_none());
}

#[test]
fn batch_errors() {
    let mut c = connected(TRUST);
    let e = c.query_many("INSERT", Vec::new()).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Interface);
    c.query_many("INSERT INTO t VALUES ($1)", sets(&[1]))
        .unwrap();
    c.take_output();
    c.feed(&described_int4_no_rows(b'I')).unwrap();
    c.take_output();
    let mut reply = frame(b'2', b"");
    reply.extend(frame(b'C', b"INSERT 0 1\0"));
    reply.extend(ready(b'I'));
    c.feed(&reply).unwrap();
    done(&mut c).unwrap();

    // a value the cached type cannot take: error naming the set, nothing sent
    let e = c
        .query_many("INSERT INTO t VALUES ($1)", sets(&[1, 1 << 40, 2]))
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Data);
    assert!(
        e.message.starts_with("parameter set 2: parameter $1"),
        "{}",
        e.message
    );
    assert!(c.take_output().is_none());
    assert!(c.is_idle());
    let e = c
        .query_many(
            "INSERT INTO t VALUES ($1)",
            vec![vec![Value::Text("a\0".into())]],
        )
        .unwrap_err();
    assert!(e.message.starts_with("parameter set 1:"), "{}", e.message);

    // the server fails the second statement: the error is the batch's result
    c.query_many("INSERT INTO t VALUES ($1)", sets(&[7, 8, 9]))
        .unwrap();
    assert_eq!(tags(&c.take_output().unwrap()), b"BEBEBES");
    let mut reply = frame(b'2', b"");
    reply.extend(frame(b'C', b"INSERT 0 1\0"));
    reply.extend(frame(b'2', b""));
    reply.extend(frame(
        b'E',
        b"SERROR\0VERROR\0C23505\0Mduplicate key value\0\0",
    ));
    reply.extend(ready(b'I'));
    c.feed(&reply).unwrap();
    let e = done(&mut c).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Integrity);
    assert!(c.is_idle());
}

#[test]
fn portal_chunks_inside_a_transaction() {
    let mut c = connected(TRUST);
    let e = c.portal_open("SELECT n", vec![], "p1", 2).unwrap_err();
    assert!(e.message.contains("transaction"), "{}", e.message);
    c.begin_pipelined();
    assert!(
        c.portal_open("SELECT n", vec![], "p1", 0).is_err(),
        "row limit"
    );
    assert!(c.portal_open("SELECT n", vec![], "", 2).is_err(), "name");
    c.portal_open("SELECT n", vec![], "p1", 2).unwrap();
    assert_eq!(
        tags(&c.take_output().unwrap()),
        b"QPDS",
        "BEGIN rides along"
    );
    let mut reply = frame(b'C', b"BEGIN\0");
    reply.extend(ready(b'T'));
    reply.extend(described_int4_column(b'T'));
    c.feed(&reply).unwrap();
    let out = c.take_output().unwrap();
    assert_eq!(tags(&out), b"BES");
    assert!(out.windows(3).any(|w| w == b"p1\0"), "named portal");
    assert!(
        out.ends_with(b"E\0\0\0\x0bp1\0\0\0\0\x02S\0\0\0\x04"),
        "limit 2"
    );

    let mut reply = frame(b'2', b"");
    reply.extend(int4_row(1));
    reply.extend(int4_row(2));
    reply.extend(frame(b's', b""));
    reply.extend(ready(b'T'));
    c.feed(&reply).unwrap();
    let chunk = done(&mut c).unwrap();
    assert!(chunk.suspended);
    assert_eq!(chunk.rows.len(), 2);
    assert_eq!(chunk.columns.as_ref(), ["n".to_owned()]);
    assert!(c.has_portal("p1"));
    assert!(
        c.portal_open("SELECT n", vec![], "p1", 2).is_err(),
        "already open"
    );

    c.portal_fetch("p1", 2).unwrap();
    assert_eq!(
        tags(&c.take_output().unwrap()),
        b"ES",
        "nothing but Execute"
    );
    let mut reply = int4_row(3);
    reply.extend(frame(b'C', b"SELECT 1\0"));
    reply.extend(ready(b'T'));
    c.feed(&reply).unwrap();
    let chunk = done(&mut c).unwrap();
    assert!(!chunk.suspended);
    assert_eq!(chunk.rows[0][0], Value::Int(3));

    c.portal_close("p1").unwrap();
    assert_eq!(tags(&c.take_output().unwrap()), b"CS");
    let mut reply = frame(b'3', b"");
    reply.extend(ready(b'T'));
    c.feed(&reply).unwrap();
    done(&mut c).unwrap();
    assert!(!c.has_portal("p1"));
    assert!(c.portal_fetch("p1", 2).is_err(), "closed");
}

#[test]
fn portals_end_with_their_transaction() {
    let mut c = connected(TRUST);
    c.begin_pipelined();
    c.portal_open("SELECT n", vec![], "p9", 1).unwrap();
    c.take_output();
    let mut reply = frame(b'C', b"BEGIN\0");
    reply.extend(ready(b'T'));
    reply.extend(described_int4_column(b'T'));
    c.feed(&reply).unwrap();
    c.take_output();
    let mut reply = frame(b'2', b"");
    reply.extend(int4_row(1));
    reply.extend(frame(b's', b""));
    reply.extend(ready(b'T'));
    c.feed(&reply).unwrap();
    assert!(done(&mut c).unwrap().suspended);
    c.simple("COMMIT").unwrap();
    c.take_output();
    let mut reply = frame(b'C', b"COMMIT\0");
    reply.extend(ready(b'I'));
    c.feed(&reply).unwrap();
    done(&mut c).unwrap();
    assert!(!c.has_portal("p9"));
}

proptest::proptest! {
    /// Arbitrary bytes while a batch or a portal is in flight: errors, never a panic,
    /// and a connection that is either usable or broken (never stuck in between).
    #[test]
    fn arbitrary_bytes_during_batches_and_portals(
        chunks in proptest::collection::vec(
            proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64), 0..6),
        portal: bool,
    ) {
        let mut c = connected(TRUST);
        if portal {
            c.begin_pipelined();
            c.portal_open("SELECT n", vec![], "p", 3).unwrap();
        } else {
            c.query_many("INSERT INTO t VALUES ($1)", sets(&[1, 2])).unwrap();
        }
        let _ = c.take_output();
        for chunk in &chunks {
            let _ = c.feed(chunk);
            let _ = c.take_output();
            while c.poll_event().is_some() {}
        }
        if !c.is_broken() && c.is_idle() {
            proptest::prop_assert!(c.query("SELECT 1", vec![]).is_ok());
        }
    }
}
