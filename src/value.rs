//! Backend-neutral values: what a row holds in Rust until Python asks for it.
//!
//! Temporal values use PostgreSQL's epoch (2000-01-01) and microseconds, so the
//! PostgreSQL binary codecs are plain integer copies; SQLite stores them as text.

use smallvec::SmallVec;

/// Days between 1970-01-01 and 2000-01-01 (PostgreSQL's epoch).
pub const PG_EPOCH_DAYS_FROM_UNIX: i32 = 10_957;

/// One value of one column.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
    Bytes(Vec<u8>),
    /// Exact decimal in canonical text form (`-12.3400`, `NaN`, `Infinity`).
    Decimal(String),
    /// Days since 2000-01-01.
    Date(i32),
    /// Microseconds since midnight.
    Time(i64),
    /// Microseconds since midnight and the UTC offset in seconds (east positive).
    TimeTz(i64, i32),
    /// Naive timestamp: microseconds since 2000-01-01 00:00:00.
    Timestamp(i64),
    /// Instant: microseconds since 2000-01-01 00:00:00 UTC.
    TimestampTz(i64),
    Interval {
        months: i32,
        days: i32,
        micros: i64,
    },
    Uuid([u8; 16]),
    /// JSON document as text.
    Json(String),
    /// One-dimensional array; elements may be `Null`.
    Array(Vec<Value>),
}

impl Value {
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// Short name of the variant, used in error messages.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Text(_) => "str",
            Value::Bytes(_) => "bytes",
            Value::Decimal(_) => "Decimal",
            Value::Date(_) => "date",
            Value::Time(_) => "time",
            Value::TimeTz(_, _) => "time with time zone",
            Value::Timestamp(_) => "datetime",
            Value::TimestampTz(_) => "aware datetime",
            Value::Interval { .. } => "timedelta",
            Value::Uuid(_) => "UUID",
            Value::Json(_) => "JSON",
            Value::Array(_) => "list",
        }
    }
}

/// A row: values inline for the common case of up to eight columns.
pub type Row = SmallVec<[Value; 8]>;
