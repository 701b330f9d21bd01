use super::oid::*;
use super::*;
use crate::error::ErrorKind;
use proptest::prelude::*;

fn enc(v: &Value, oid: u32) -> Vec<u8> {
    let mut buf = Vec::new();
    assert_eq!(encode_param(v, oid, &mut buf).unwrap(), IsNull::No);
    buf
}

fn round(v: Value, oid: u32) {
    assert_eq!(param_format(&v, oid), FORMAT_BINARY, "{v:?} as {oid}");
    let raw = enc(&v, oid);
    assert_eq!(decode(oid, FORMAT_BINARY, &raw).unwrap(), v, "oid {oid}");
}

fn data_err(v: Value, oid: u32) -> Error {
    let mut buf = Vec::new();
    let e = encode_param(&v, oid, &mut buf).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Data, "{}", e.message);
    e
}

#[test]
fn integers() {
    for (oid, lo, hi) in [
        (INT2, i16::MIN as i64, i16::MAX as i64),
        (INT4, i32::MIN as i64, i32::MAX as i64),
        (INT8, i64::MIN, i64::MAX),
        (OID, 0, u32::MAX as i64),
    ] {
        for v in [lo, hi, 0, 1] {
            round(Value::Int(v), oid);
        }
    }
    assert_eq!(enc(&Value::Int(-2), INT2), [0xff, 0xfe]);
    assert_eq!(
        data_err(Value::Int(70000), INT2).message,
        "value 70000 out of range for smallint"
    );
    data_err(Value::Int(1 << 40), INT4);
    data_err(Value::Int(-1), OID);
}

#[test]
fn floats() {
    for v in [
        0.0,
        -1.5,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::MAX,
        1e-300,
    ] {
        round(Value::Float(v), FLOAT8);
    }
    for v in [0.5f32, -1.25, f32::INFINITY, f32::MAX] {
        round(Value::Float(v.into()), FLOAT4);
    }
    let raw = enc(&Value::Float(f64::NAN), FLOAT8);
    assert!(matches!(decode(FLOAT8, 1, &raw).unwrap(), Value::Float(f) if f.is_nan()));
    let raw = enc(&Value::Float(f64::NAN), FLOAT4);
    assert!(matches!(decode(FLOAT4, 1, &raw).unwrap(), Value::Float(f) if f.is_nan()));
    assert_eq!(
        decode(FLOAT8, 1, &enc(&Value::Int(3), FLOAT8)).unwrap(),
        Value::Float(3.0)
    );
    data_err(Value::Float(1e300), FLOAT4);
}

#[test]
fn numerics() {
    for s in [
        "0",
        "-12.3400",
        "NaN",
        "Infinity",
        "-Infinity",
        "123456789.000000001",
    ] {
        round(Value::Decimal(s.into()), NUMERIC);
    }
    let thousand = "7".repeat(1000);
    round(Value::Decimal(thousand), NUMERIC);
    let raw = enc(&Value::Int(-42), NUMERIC);
    assert_eq!(
        decode(NUMERIC, 1, &raw).unwrap(),
        Value::Decimal("-42".into())
    );
    let raw = enc(&Value::Float(0.1), NUMERIC);
    assert_eq!(
        decode(NUMERIC, 1, &raw).unwrap(),
        Value::Decimal("0.1".into())
    );
    data_err(Value::Decimal("nope".into()), NUMERIC);
}

#[test]
fn bool_text_bytea() {
    round(Value::Bool(true), BOOL);
    round(Value::Bool(false), BOOL);
    for oid in [TEXT, VARCHAR, BPCHAR, NAME, UNKNOWN] {
        round(Value::Text("héllo ☃".into()), oid);
        round(Value::Text(String::new()), oid);
    }
    round(Value::Bytes(vec![0, 1, 255]), BYTEA);
    round(Value::Bytes(vec![]), BYTEA);
    let e = data_err(Value::Text("a\0b".into()), TEXT);
    assert!(e.message.contains("NUL"));
    assert!(decode(TEXT, 1, b"\xff").is_err());
    assert!(decode(BOOL, 1, b"\x02").is_err());
}

#[test]
fn temporal() {
    for d in [0, -1, 8000, i32::MIN, i32::MAX] {
        round(Value::Date(d), DATE);
    }
    round(Value::Time(0), TIME);
    round(Value::Time(86_399_999_999), TIME);
    round(Value::TimeTz(3_600_000_000, 7200), TIMETZ);
    round(Value::TimeTz(0, -19800), TIMETZ);
    // zone is sent as seconds west of UTC
    assert_eq!(
        &enc(&Value::TimeTz(0, 3600), TIMETZ)[8..],
        (-3600i32).to_be_bytes()
    );
    for t in [0, -1, 1_000_000_000_000, i64::MIN, i64::MAX] {
        round(Value::Timestamp(t), TIMESTAMP);
        round(Value::TimestampTz(t), TIMESTAMPTZ);
    }
    let raw = enc(&Value::Timestamp(5), TIMESTAMPTZ);
    assert_eq!(decode(TIMESTAMPTZ, 1, &raw).unwrap(), Value::TimestampTz(5));
    round(
        Value::Interval {
            months: -14,
            days: 3,
            micros: 4_000_001,
        },
        INTERVAL,
    );
    let e = data_err(Value::TimestampTz(1), TIMESTAMP);
    assert!(e.message.contains("aware datetime") && e.message.contains("timestamp"));
}

#[test]
fn python_bounds_are_sent_as_infinity() {
    use crate::value::{civil_from_days, days_from_civil, MICROS_PER_DAY};
    let (max, min) = (days_from_civil(9999, 12, 31), days_from_civil(1, 1, 1));
    assert_eq!(
        (civil_from_days(max), civil_from_days(min)),
        ((9999, 12, 31), (1, 1, 1))
    );
    assert_eq!(enc(&Value::Date(max), DATE), i32::MAX.to_be_bytes());
    assert_eq!(enc(&Value::Date(min), DATE), i32::MIN.to_be_bytes());
    assert_eq!(enc(&Value::Date(max - 1), DATE), (max - 1).to_be_bytes());
    // datetime.max is 9999-12-31 23:59:59.999999, datetime.min 0001-01-01 00:00
    let t_max = i64::from(max) * MICROS_PER_DAY + MICROS_PER_DAY - 1;
    let t_min = i64::from(min) * MICROS_PER_DAY;
    for oid in [TIMESTAMP, TIMESTAMPTZ] {
        assert_eq!(enc(&Value::Timestamp(t_max), oid), i64::MAX.to_be_bytes());
        assert_eq!(enc(&Value::Timestamp(t_min), oid), i64::MIN.to_be_bytes());
        assert_eq!(
            enc(&Value::Timestamp(t_max - 1), oid),
            (t_max - 1).to_be_bytes()
        );
    }
    assert_eq!(
        enc(&Value::TimestampTz(t_max), TIMESTAMPTZ),
        i64::MAX.to_be_bytes()
    );
}

#[test]
fn uuid_and_json() {
    let u = *b"\x12\x34\x56\x78\x9a\xbc\xde\xf0\x12\x34\x56\x78\x9a\xbc\xde\xf0";
    round(Value::Uuid(u), UUID);
    round(Value::Json(r#"{"a": [1, "é"]}"#.into()), JSON);
    round(Value::Json("[]".into()), JSONB);
    assert_eq!(enc(&Value::Json("1".into()), JSONB), b"\x011");
    assert!(decode(JSONB, 1, b"\x021").is_err());
    assert!(decode(UUID, 1, b"short").is_err());
}

#[test]
fn arrays() {
    round(
        Value::Array(vec![Value::Int(1), Value::Null, Value::Int(-3)]),
        INT4_ARRAY,
    );
    round(Value::Array(vec![]), TEXT_ARRAY);
    round(
        Value::Array(vec![Value::Text("a".into()), Value::Null]),
        TEXT_ARRAY,
    );
    for (oid, v) in [
        (BOOL_ARRAY, Value::Bool(true)),
        (BYTEA_ARRAY, Value::Bytes(vec![1])),
        (INT2_ARRAY, Value::Int(1)),
        (INT8_ARRAY, Value::Int(1)),
        (FLOAT4_ARRAY, Value::Float(1.5)),
        (FLOAT8_ARRAY, Value::Float(1.5)),
        (NUMERIC_ARRAY, Value::Decimal("1.50".into())),
        (DATE_ARRAY, Value::Date(1)),
        (TIME_ARRAY, Value::Time(1)),
        (TIMETZ_ARRAY, Value::TimeTz(1, 60)),
        (TIMESTAMP_ARRAY, Value::Timestamp(1)),
        (TIMESTAMPTZ_ARRAY, Value::TimestampTz(1)),
        (
            INTERVAL_ARRAY,
            Value::Interval {
                months: 1,
                days: 2,
                micros: 3,
            },
        ),
        (UUID_ARRAY, Value::Uuid([7; 16])),
        (JSON_ARRAY, Value::Json("{}".into())),
        (JSONB_ARRAY, Value::Json("{}".into())),
        (VARCHAR_ARRAY, Value::Text("x".into())),
        (OID_ARRAY, Value::Int(1)),
    ] {
        round(Value::Array(vec![v.clone(), Value::Null, v]), oid);
    }
    data_err(Value::Array(vec![Value::Int(70000)]), INT2_ARRAY);
    // nested lists go as a text literal the server parses as a 2-D array
    let nested = Value::Array(vec![
        Value::Array(vec![Value::Int(1), Value::Int(2)]),
        Value::Array(vec![Value::Null, Value::Int(4)]),
    ]);
    assert_eq!(param_format(&nested, INT4_ARRAY), FORMAT_TEXT);
    assert_eq!(enc(&nested, INT4_ARRAY), br#"{{"1","2"},{NULL,"4"}}"#);
}

#[test]
fn multidimensional_array_result() {
    // int4[2][2] = {{1,2},{3,NULL}}
    let mut raw = Vec::new();
    for x in [2i32, 1, INT4 as i32, 2, 1, 2, 1] {
        raw.extend_from_slice(&x.to_be_bytes());
    }
    for x in [Some(1i32), Some(2), Some(3), None] {
        match x {
            Some(v) => {
                raw.extend_from_slice(&4i32.to_be_bytes());
                raw.extend_from_slice(&v.to_be_bytes());
            }
            None => raw.extend_from_slice(&(-1i32).to_be_bytes()),
        }
    }
    assert_eq!(
        decode(INT4_ARRAY, 1, &raw).unwrap(),
        Value::Array(vec![
            Value::Array(vec![Value::Int(1), Value::Int(2)]),
            Value::Array(vec![Value::Int(3), Value::Null]),
        ])
    );
    // wrong element type, truncated, absurd sizes
    assert!(decode(TEXT_ARRAY, 1, &raw).is_err());
    assert!(decode(INT4_ARRAY, 1, &raw[..raw.len() - 2]).is_err());
    let mut huge = raw[..12].to_vec();
    huge.extend_from_slice(&i32::MAX.to_be_bytes());
    huge.extend_from_slice(&1i32.to_be_bytes());
    huge.extend_from_slice(&i32::MAX.to_be_bytes());
    huge.extend_from_slice(&1i32.to_be_bytes());
    assert!(decode(INT4_ARRAY, 1, &huge).is_err());
}

#[test]
fn text_fallbacks_for_params() {
    const ENUM_OID: u32 = 16_500;
    // str for an enum, for an int, and for a uuid: text format, parsed by the server
    for oid in [ENUM_OID, INT4, UUID] {
        let v = Value::Text("x".into());
        assert_eq!(param_format(&v, oid), FORMAT_TEXT);
        assert_eq!(enc(&v, oid), b"x");
    }
    // any scalar to an unknown type goes as text
    assert_eq!(param_format(&Value::Int(5), ENUM_OID), FORMAT_TEXT);
    assert_eq!(enc(&Value::Int(5), ENUM_OID), b"5");
    assert_eq!(enc(&Value::Bool(true), ENUM_OID), b"t");
    assert_eq!(enc(&Value::Uuid([0xab; 16]), ENUM_OID).len(), 36);
    // arrays with text elements for a non-text element type, or unknown array types
    let arr = Value::Array(vec![
        Value::Text("a\"b".into()),
        Value::Null,
        Value::Text("c\\".into()),
    ]);
    assert_eq!(param_format(&arr, UUID_ARRAY), FORMAT_TEXT);
    assert_eq!(enc(&arr, 16_501), br#"{"a\"b",NULL,"c\\"}"#);
    // a type that cannot go as text to an unknown OID
    let e = data_err(Value::Date(1), ENUM_OID);
    assert!(
        e.message.contains("date") && e.message.contains("16500"),
        "{}",
        e.message
    );
    // NULL never needs a type
    let mut buf = Vec::new();
    assert_eq!(
        encode_param(&Value::Null, INT4, &mut buf).unwrap(),
        IsNull::Yes
    );
    assert!(buf.is_empty());
}

#[test]
fn mismatches_name_both_types() {
    let e = data_err(Value::Bool(true), INT4);
    assert_eq!(
        e.message,
        "cannot convert Python bool to PostgreSQL integer"
    );
    data_err(Value::Int(1), TEXT);
    data_err(Value::Bytes(vec![]), UUID);
    data_err(Value::Float(1.0), INT8);
}

#[test]
fn text_format_columns() {
    assert_eq!(decode(INT4, 0, b"-12").unwrap(), Value::Int(-12));
    assert!(matches!(decode(FLOAT8, 0, b"NaN").unwrap(), Value::Float(f) if f.is_nan()));
    assert_eq!(
        decode(FLOAT8, 0, b"-Infinity").unwrap(),
        Value::Float(f64::NEG_INFINITY)
    );
    assert_eq!(decode(BOOL, 0, b"t").unwrap(), Value::Bool(true));
    assert_eq!(
        decode(NUMERIC, 0, b"1.50").unwrap(),
        Value::Decimal("1.50".into())
    );
    assert_eq!(
        decode(BYTEA, 0, b"\\x00ff").unwrap(),
        Value::Bytes(vec![0, 255])
    );
    assert_eq!(decode(JSONB, 0, b"{}").unwrap(), Value::Json("{}".into()));
    assert_eq!(
        decode(UUID, 0, b"12345678-9abc-def0-1234-56789abcdef0").unwrap(),
        Value::Uuid(*b"\x12\x34\x56\x78\x9a\xbc\xde\xf0\x12\x34\x56\x78\x9a\xbc\xde\xf0")
    );
    assert_eq!(
        decode(DATE, 0, b"2024-01-01").unwrap(),
        Value::Text("2024-01-01".into())
    );
    assert_eq!(
        decode(16_500, 0, b"happy").unwrap(),
        Value::Text("happy".into())
    );
    assert!(decode(INT4, 0, b"x").is_err());
    assert!(decode(16_500, 0, b"\xff").is_err());
    assert_eq!(result_format(INT4), FORMAT_BINARY);
    assert_eq!(result_format(869), FORMAT_TEXT);
}

proptest! {
    #[test]
    fn decoders_never_panic(
        oid in prop::sample::select(vec![
            BOOL, BYTEA, NAME, INT8, INT2, INT4, TEXT, OID, JSON, FLOAT4, FLOAT8, BPCHAR,
            VARCHAR, DATE, TIME, TIMESTAMP, TIMESTAMPTZ, INTERVAL, TIMETZ, NUMERIC, UUID,
            JSONB, INT4_ARRAY, TEXT_ARRAY, NUMERIC_ARRAY, 16_500,
        ]),
        format in 0i16..2,
        raw in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let _ = decode(oid, format, &raw);
    }

    #[test]
    fn int8_round_trip(i: i64) {
        round(Value::Int(i), INT8);
    }

    #[test]
    fn text_round_trip(s in "[^\u{0}]*") {
        round(Value::Text(s), TEXT);
    }
}
