//! Tests of [`PgConnection`] against a real server, driven by a tiny
//! blocking std::net loop. They run when `ORMKIT_TEST_PG_URL` is set (as
//! `scripts/pg_cluster.sh start` exports it) and pass vacuously otherwise.
//! Also used: `ORMKIT_TEST_PG_MD5_URL`, `ORMKIT_TEST_PG_TRUST_URL`,
//! `ORMKIT_TEST_PG_CA`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::Duration;

use super::config::{Host, PgConfig};
use super::connection::{Event, PgConnection};
use super::query::QueryOutput;
use crate::error::{ErrorKind, Result};
use crate::value::Value;

#[derive(Debug)]
enum Socket {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Socket {
    fn open(config: &PgConfig) -> Socket {
        match &config.host {
            Host::Tcp(h) => {
                let s = TcpStream::connect((h.as_str(), config.port)).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
                Socket::Tcp(s)
            }
            Host::Unix(_) => {
                let s = UnixStream::connect(config.socket_path().unwrap()).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
                Socket::Unix(s)
            }
        }
    }

    fn write_all(&mut self, b: &[u8]) -> std::io::Result<()> {
        match self {
            Socket::Tcp(s) => s.write_all(b),
            Socket::Unix(s) => s.write_all(b),
        }
    }

    fn read(&mut self, b: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Socket::Tcp(s) => s.read(b),
            Socket::Unix(s) => s.read(b),
        }
    }
}

#[derive(Debug)]
struct Driver {
    conn: PgConnection,
    socket: Socket,
    writes: usize,
    notices: Vec<String>,
}

impl Driver {
    fn connect(url: &str) -> Result<Driver> {
        let config = Arc::new(PgConfig::from_url(url)?);
        let socket = Socket::open(&config);
        let mut d = Driver {
            conn: PgConnection::new(config),
            socket,
            writes: 0,
            notices: Vec::new(),
        };
        d.conn.start()?;
        match d.next_event() {
            Event::Connected => Ok(d),
            Event::Closed(e) => Err(e),
            other => panic!("unexpected {other:?}"),
        }
    }

    fn flush(&mut self) {
        if let Some(out) = self.conn.take_output() {
            self.writes += 1;
            // The server may have closed already; the read side reports it.
            let _ = self.socket.write_all(&out);
        }
    }

    fn next_event(&mut self) -> Event {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            self.flush();
            while let Some(ev) = self.conn.poll_event() {
                match ev {
                    Event::Notice(n) => self.notices.push(n.message),
                    other => return other,
                }
            }
            let n = self.socket.read(&mut buf).unwrap_or(0);
            if n == 0 {
                self.conn.connection_lost();
            } else {
                let _ = self.conn.feed(&buf[..n]);
            }
        }
    }

    fn wait(&mut self) -> Result<QueryOutput> {
        match self.next_event() {
            Event::QueryDone(r) => r,
            other => panic!("unexpected {other:?}"),
        }
    }

    fn query(&mut self, sql: &str, params: Vec<Value>) -> Result<QueryOutput> {
        self.conn.query(sql, params)?;
        self.wait()
    }

    fn simple(&mut self, sql: &str) -> Result<QueryOutput> {
        self.conn.simple(sql)?;
        self.wait()
    }

    fn scalar(&mut self, sql: &str, params: Vec<Value>) -> Value {
        let out = self.query(sql, params).unwrap();
        out.rows[0][0].clone()
    }
}

fn url(var: &str) -> Option<String> {
    std::env::var(var).ok().filter(|s| !s.is_empty())
}

fn with_option(url: &str, option: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{option}")
}

macro_rules! need {
    ($var:expr) => {
        match url($var) {
            Some(u) => u,
            None => {
                eprintln!("skipped: {} is not set", $var);
                return;
            }
        }
    };
}

#[test]
fn scram_login_and_simple_select() {
    let url = need!("ORMKIT_TEST_PG_URL");
    let mut d = Driver::connect(&with_option(&url, "sslmode=disable")).unwrap();
    assert!(!d.conn.is_tls());
    assert!(d.conn.is_idle());
    assert!(d.conn.backend_key().is_some());
    assert!(d.conn.server_param("server_version").is_some());
    let out = d
        .query("SELECT 1 AS one, 'x'::text AS two", vec![])
        .unwrap();
    assert_eq!(&*out.columns, ["one", "two"]);
    assert_eq!(
        out.rows[0].as_slice(),
        [Value::Int(1), Value::Text("x".into())]
    );
    assert_eq!(out.rowcount, 1);
    assert!(!out.cache_hit);
    let out = d
        .query("SELECT 1 AS one, 'x'::text AS two", vec![])
        .unwrap();
    assert!(out.cache_hit);
    assert_eq!(d.conn.cache_stats(), (1, 1, 1));
}

#[test]
fn tls_require_is_encrypted() {
    let url = need!("ORMKIT_TEST_PG_URL");
    let mut d = Driver::connect(&with_option(&url, "sslmode=require")).unwrap();
    assert!(d.conn.is_tls());
    let ssl = d
        .query(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            vec![],
        )
        .unwrap();
    assert_eq!(ssl.rows[0][0], Value::Bool(true));
}

#[test]
fn tls_verification_modes() {
    let url = need!("ORMKIT_TEST_PG_URL");
    let ca = need!("ORMKIT_TEST_PG_CA");
    let full = with_option(&url, &format!("sslmode=verify-full&sslrootcert={ca}"));
    let localhost = full.replacen("127.0.0.1", "localhost", 1);
    let ok = Driver::connect(&localhost).or_else(|_| Driver::connect(&full));
    assert!(ok.unwrap().conn.is_tls());
    // Without the run's CA (public roots only) verification fails.
    let e = Driver::connect(&with_option(&url, "sslmode=verify-full")).unwrap_err();
    assert!(e.message.contains("TLS"), "{}", e.message);
    // verify-ca: the run's CA passes, public roots do not.
    let ca_only = with_option(&url, &format!("sslmode=verify-ca&sslrootcert={ca}"));
    assert!(Driver::connect(&ca_only).unwrap().conn.is_tls());
    assert!(Driver::connect(&with_option(&url, "sslmode=verify-ca")).is_err());
}

#[test]
fn md5_login() {
    let url = need!("ORMKIT_TEST_PG_MD5_URL");
    let mut d = Driver::connect(&with_option(&url, "sslmode=disable")).unwrap();
    assert_eq!(d.scalar("SELECT 2", vec![]), Value::Int(2));
}

#[test]
fn wrong_password_is_operational_and_hides_password() {
    let url = need!("ORMKIT_TEST_PG_URL");
    let mut config = PgConfig::from_url(&url).unwrap();
    config.password = Some("definitely-wrong-pw".into());
    config.sslmode = super::config::SslMode::Disable;
    let socket = Socket::open(&config);
    let mut d = Driver {
        conn: PgConnection::new(Arc::new(config)),
        socket,
        writes: 0,
        notices: Vec::new(),
    };
    d.conn.start().unwrap();
    let Event::Closed(e) = d.next_event() else {
        panic!("connected with a wrong password")
    };
    assert_eq!(e.kind, ErrorKind::Operational);
    assert_eq!(e.sqlstate.as_deref(), Some("28P01"));
    assert!(!e.message.contains("definitely-wrong-pw"));
}

#[test]
fn trust_without_challenge() {
    let url = need!("ORMKIT_TEST_PG_TRUST_URL");
    let mut d = Driver::connect(&url).unwrap();
    assert_eq!(d.scalar("SELECT 3", vec![]), Value::Int(3));
    // A password was given but the server never asked: refused unless allowed.
    let with_pw = url.replacen("ormkit_trust@", "ormkit_trust:pw@", 1);
    if with_pw != url {
        let e = Driver::connect(&with_pw).unwrap_err();
        assert!(e.message.contains("allow_trust"), "{}", e.message);
        Driver::connect(&with_option(&with_pw, "allow_trust=true")).unwrap();
    }
}

#[test]
fn type_round_trips() {
    let url = need!("ORMKIT_TEST_PG_URL");
    let mut d = Driver::connect(&url).unwrap();
    let cases: Vec<(&str, Value)> = vec![
        ("int2", Value::Int(i16::MIN.into())),
        ("int4", Value::Int(i32::MAX.into())),
        ("int8", Value::Int(i64::MIN)),
        ("float4", Value::Float(1.5)),
        ("float8", Value::Float(f64::INFINITY)),
        ("float8", Value::Float(-0.1)),
        ("numeric", Value::Decimal("-12.3400".into())),
        ("numeric", Value::Decimal("NaN".into())),
        ("numeric", Value::Decimal("Infinity".into())),
        ("numeric", Value::Decimal("9".repeat(1000))),
        ("numeric", Value::Decimal("0.000000000000000000001".into())),
        ("bool", Value::Bool(true)),
        ("text", Value::Text("héllo ☃ 日本".into())),
        ("varchar", Value::Text("v".into())),
        ("bytea", Value::Bytes(vec![0, 1, 2, 255])),
        ("date", Value::Date(-1)),
        ("date", Value::Date(i32::MAX)),
        ("time", Value::Time(3_723_000_004)),
        ("timetz", Value::TimeTz(3_723_000_004, 19_800)),
        ("timestamp", Value::Timestamp(-1_000_000)),
        ("timestamptz", Value::TimestampTz(1_000_000_000_000)),
        ("timestamptz", Value::TimestampTz(i64::MAX)),
        (
            "interval",
            Value::Interval {
                months: 14,
                days: -3,
                micros: 5_000_001,
            },
        ),
        ("uuid", Value::Uuid([0xab; 16])),
        ("jsonb", Value::Json(r#"{"a": [1, "é", null]}"#.into())),
        ("json", Value::Json(r#"{"b":1}"#.into())),
        (
            "int4[]",
            Value::Array(vec![Value::Int(1), Value::Null, Value::Int(3)]),
        ),
        (
            "text[]",
            Value::Array(vec![Value::Text("a".into()), Value::Null]),
        ),
        ("uuid[]", Value::Array(vec![])),
    ];
    for (ty, value) in cases {
        let sql = format!("SELECT $1::{ty}");
        let got = d.scalar(&sql, vec![value.clone()]);
        assert_eq!(got, value, "{ty}");
        assert_eq!(d.scalar(&sql, vec![Value::Null]), Value::Null, "{ty} NULL");
    }
    let nan = d.scalar("SELECT 'NaN'::float8", vec![]);
    assert!(matches!(nan, Value::Float(f) if f.is_nan()));
    // text to a non-text type is parsed by the server
    assert_eq!(
        d.scalar("SELECT $1::int4 + 1", vec![Value::Text("41".into())]),
        Value::Int(42)
    );
    // unknown types come back as text
    assert_eq!(
        d.scalar("SELECT '10.0.0.1'::inet", vec![]),
        Value::Text("10.0.0.1".into())
    );
    assert_eq!(
        d.scalar("SELECT ARRAY[[1,2],[3,4]]", vec![]),
        Value::Array(vec![
            Value::Array(vec![Value::Int(1), Value::Int(2)]),
            Value::Array(vec![Value::Int(3), Value::Int(4)]),
        ])
    );
}

#[test]
fn errors_keep_fields_and_connection_survives() {
    let url = need!("ORMKIT_TEST_PG_URL");
    let mut d = Driver::connect(&url).unwrap();
    d.simple("DROP TABLE IF EXISTS pg_rs_err; CREATE TEMP TABLE pg_rs_err (id int PRIMARY KEY, s smallint)")
        .unwrap();
    d.query("INSERT INTO pg_rs_err VALUES ($1, 1)", vec![Value::Int(1)])
        .unwrap();
    let e = d
        .query("INSERT INTO pg_rs_err VALUES ($1, 1)", vec![Value::Int(1)])
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Integrity);
    assert_eq!(e.sqlstate.as_deref(), Some("23505"));
    assert_eq!(e.constraint.as_deref(), Some("pg_rs_err_pkey"));
    assert!(e.detail.is_some());
    let e = d.query("SELEC 1", vec![]).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Programming);
    assert_eq!(e.position, Some(1));
    // client-side DataErrors: nothing executed, connection fine
    let e = d
        .query(
            "INSERT INTO pg_rs_err VALUES ($1, $2)",
            vec![Value::Int(2), Value::Int(70000)],
        )
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Data);
    assert!(
        e.message.contains("out of range for smallint"),
        "{}",
        e.message
    );
    let e = d
        .query("SELECT $1::text", vec![Value::Text("a\0b".into())])
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Data);
    let e = d.query("SELECT 1", vec![Value::Null; 65_536]).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Data);
    assert!(d.conn.is_idle());
    let n = d.query("SELECT count(*) FROM pg_rs_err", vec![]).unwrap();
    assert_eq!(n.rows[0][0], Value::Int(1));
    let out = d
        .query("UPDATE pg_rs_err SET s = $1", vec![Value::Int(5)])
        .unwrap();
    assert_eq!(out.rowcount, 1);
}

#[test]
fn pipelined_begin_and_round_trips() {
    let url = need!("ORMKIT_TEST_PG_URL");
    let mut d = Driver::connect(&with_option(&url, "sslmode=disable")).unwrap();
    d.simple("CREATE TEMP TABLE pg_rs_tx (v int)").unwrap();
    let insert = "INSERT INTO pg_rs_tx VALUES ($1)";
    d.query(insert, vec![Value::Int(0)]).unwrap(); // warm the cache
    let before = d.writes;
    d.conn.begin_pipelined();
    d.query(insert, vec![Value::Int(1)]).unwrap();
    assert_eq!(d.conn.transaction_status(), b'T');
    d.simple("COMMIT").unwrap();
    assert_eq!(d.writes - before, 2, "BEGIN+INSERT, COMMIT");
    assert_eq!(d.conn.transaction_status(), b'I');
    // a failed transaction leaves nothing
    d.conn.begin_pipelined();
    d.query(insert, vec![Value::Int(2)]).unwrap();
    assert!(d.query("SELECT 1/0", vec![]).is_err());
    assert_eq!(d.conn.transaction_status(), b'E');
    d.simple("ROLLBACK").unwrap();
    let n = d.query("SELECT count(*) FROM pg_rs_tx", vec![]).unwrap();
    assert_eq!(n.rows[0][0], Value::Int(2));
}

#[test]
fn cache_survives_alter_table_and_evicts() {
    let url = need!("ORMKIT_TEST_PG_URL");
    let mut d = Driver::connect(&with_option(&url, "statement_cache_size=100")).unwrap();
    d.simple("CREATE TEMP TABLE pg_rs_alt (a int)").unwrap();
    d.query("INSERT INTO pg_rs_alt VALUES (1)", vec![]).unwrap();
    let sel = "SELECT * FROM pg_rs_alt";
    assert_eq!(d.query(sel, vec![]).unwrap().columns.len(), 1);
    d.simple("ALTER TABLE pg_rs_alt ADD COLUMN b text DEFAULT 'x'")
        .unwrap();
    let out = d.query(sel, vec![]).unwrap();
    assert_eq!(&*out.columns, ["a", "b"]);
    assert_eq!(out.rows[0][1], Value::Text("x".into()));
    for i in 0..300 {
        d.query(&format!("SELECT {i}"), vec![]).unwrap();
    }
    let n = d
        .query("SELECT count(*) FROM pg_prepared_statements", vec![])
        .unwrap();
    let Value::Int(n) = n.rows[0][0] else {
        panic!("count")
    };
    assert!(n <= 100, "{n} prepared statements");
    assert!(d.conn.cache_stats().2 <= 100);
}

#[test]
fn unnamed_statements_without_cache() {
    let url = need!("ORMKIT_TEST_PG_URL");
    let mut d = Driver::connect(&with_option(&url, "statement_cache_size=0")).unwrap();
    for i in 0..3 {
        assert_eq!(
            d.scalar("SELECT $1::int8", vec![Value::Int(i)]),
            Value::Int(i)
        );
    }
    let n = d
        .query("SELECT count(*) FROM pg_prepared_statements", vec![])
        .unwrap();
    assert_eq!(n.rows[0][0], Value::Int(0));
}

#[test]
fn cancel_request_interrupts_and_connection_recovers() {
    let url = need!("ORMKIT_TEST_PG_URL");
    let mut d = Driver::connect(&url).unwrap();
    let sleep = "SELECT pg_sleep($1)";
    d.query(sleep, vec![Value::Float(0.0)]).unwrap(); // cached: one write from now on
    d.conn.query(sleep, vec![Value::Float(5.0)]).unwrap();
    d.flush();
    std::thread::sleep(Duration::from_millis(200));
    let mut side = Socket::open(d.conn.config());
    side.write_all(&d.conn.cancel_request_bytes().unwrap())
        .unwrap();
    let mut sink = [0u8; 1];
    let _ = side.read(&mut sink); // the server closes it
    let e = d.wait().unwrap_err();
    assert_eq!(e.sqlstate.as_deref(), Some("57014"));
    assert!(d.conn.is_idle());
    assert_eq!(d.scalar("SELECT 7", vec![]), Value::Int(7));
}

#[test]
fn terminated_backend_breaks_connection() {
    let url = need!("ORMKIT_TEST_PG_URL");
    let mut victim = Driver::connect(&url).unwrap();
    let pid = victim.conn.backend_key().unwrap().0;
    let mut killer = Driver::connect(&url).unwrap();
    killer
        .query(
            "SELECT pg_terminate_backend($1)",
            vec![Value::Int(pid.into())],
        )
        .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let e = victim.query("SELECT 1", vec![]).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Operational);
    assert!(victim.conn.is_broken());
}

#[test]
fn simple_protocol_and_notices() {
    let url = need!("ORMKIT_TEST_PG_URL");
    let mut d = Driver::connect(&url).unwrap();
    let out = d.simple("SELECT 1 AS a, 'b' AS b; SELECT 2 AS c").unwrap();
    assert_eq!(&*out.columns, ["c"]);
    assert_eq!(out.rows[0][0], Value::Int(2));
    d.simple("DO $$BEGIN RAISE NOTICE 'hello notice'; END$$")
        .unwrap();
    assert!(d.notices.iter().any(|n| n == "hello notice"));
    let out = d.simple("").unwrap();
    assert!(out.rows.is_empty());
}
