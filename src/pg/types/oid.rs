//! Type OIDs of the built-in types we know, and their SQL names for messages.

use std::borrow::Cow;

pub const BOOL: u32 = 16;
pub const BYTEA: u32 = 17;
pub const NAME: u32 = 19;
pub const INT8: u32 = 20;
pub const INT2: u32 = 21;
pub const INT4: u32 = 23;
pub const TEXT: u32 = 25;
pub const OID: u32 = 26;
pub const JSON: u32 = 114;
pub const FLOAT4: u32 = 700;
pub const FLOAT8: u32 = 701;
pub const UNKNOWN: u32 = 705;
pub const BPCHAR: u32 = 1042;
pub const VARCHAR: u32 = 1043;
pub const DATE: u32 = 1082;
pub const TIME: u32 = 1083;
pub const TIMESTAMP: u32 = 1114;
pub const TIMESTAMPTZ: u32 = 1184;
pub const INTERVAL: u32 = 1186;
pub const TIMETZ: u32 = 1266;
pub const NUMERIC: u32 = 1700;
pub const UUID: u32 = 2950;
pub const JSONB: u32 = 3802;

pub const BOOL_ARRAY: u32 = 1000;
pub const BYTEA_ARRAY: u32 = 1001;
pub const NAME_ARRAY: u32 = 1003;
pub const INT2_ARRAY: u32 = 1005;
pub const INT4_ARRAY: u32 = 1007;
pub const TEXT_ARRAY: u32 = 1009;
pub const BPCHAR_ARRAY: u32 = 1014;
pub const VARCHAR_ARRAY: u32 = 1015;
pub const INT8_ARRAY: u32 = 1016;
pub const FLOAT4_ARRAY: u32 = 1021;
pub const FLOAT8_ARRAY: u32 = 1022;
pub const OID_ARRAY: u32 = 1028;
pub const TIMESTAMP_ARRAY: u32 = 1115;
pub const DATE_ARRAY: u32 = 1182;
pub const TIME_ARRAY: u32 = 1183;
pub const TIMESTAMPTZ_ARRAY: u32 = 1185;
pub const INTERVAL_ARRAY: u32 = 1187;
pub const NUMERIC_ARRAY: u32 = 1231;
pub const TIMETZ_ARRAY: u32 = 1270;
pub const UUID_ARRAY: u32 = 2951;
pub const JSON_ARRAY: u32 = 199;
pub const JSONB_ARRAY: u32 = 3807;

/// (array OID, element OID) for every array type we know.
const ARRAYS: &[(u32, u32)] = &[
    (BOOL_ARRAY, BOOL),
    (BYTEA_ARRAY, BYTEA),
    (NAME_ARRAY, NAME),
    (INT2_ARRAY, INT2),
    (INT4_ARRAY, INT4),
    (TEXT_ARRAY, TEXT),
    (BPCHAR_ARRAY, BPCHAR),
    (VARCHAR_ARRAY, VARCHAR),
    (INT8_ARRAY, INT8),
    (FLOAT4_ARRAY, FLOAT4),
    (FLOAT8_ARRAY, FLOAT8),
    (OID_ARRAY, OID),
    (TIMESTAMP_ARRAY, TIMESTAMP),
    (DATE_ARRAY, DATE),
    (TIME_ARRAY, TIME),
    (TIMESTAMPTZ_ARRAY, TIMESTAMPTZ),
    (INTERVAL_ARRAY, INTERVAL),
    (NUMERIC_ARRAY, NUMERIC),
    (TIMETZ_ARRAY, TIMETZ),
    (UUID_ARRAY, UUID),
    (JSON_ARRAY, JSON),
    (JSONB_ARRAY, JSONB),
];

/// The element OID of a known array type.
pub fn array_element(oid: u32) -> Option<u32> {
    ARRAYS.iter().find(|(a, _)| *a == oid).map(|(_, e)| *e)
}

/// Whether values of this OID are text on the wire in either format.
pub fn is_text(oid: u32) -> bool {
    matches!(oid, TEXT | VARCHAR | BPCHAR | NAME | UNKNOWN)
}

/// Whether we have a binary codec for this scalar OID.
pub fn is_known_scalar(oid: u32) -> bool {
    is_text(oid)
        || matches!(
            oid,
            BOOL | BYTEA
                | INT8
                | INT2
                | INT4
                | OID
                | JSON
                | FLOAT4
                | FLOAT8
                | DATE
                | TIME
                | TIMESTAMP
                | TIMESTAMPTZ
                | INTERVAL
                | TIMETZ
                | NUMERIC
                | UUID
                | JSONB
        )
}

/// Whether we have a binary codec for this OID (a scalar or an array of one).
pub fn has_binary_codec(oid: u32) -> bool {
    is_known_scalar(oid) || array_element(oid).is_some()
}

/// The SQL name of a type, for error messages.
pub fn type_name(oid: u32) -> Cow<'static, str> {
    let name = match oid {
        BOOL => "boolean",
        BYTEA => "bytea",
        NAME => "name",
        INT8 => "bigint",
        INT2 => "smallint",
        INT4 => "integer",
        TEXT => "text",
        OID => "oid",
        JSON => "json",
        FLOAT4 => "real",
        FLOAT8 => "double precision",
        UNKNOWN => "unknown",
        BPCHAR => "character",
        VARCHAR => "character varying",
        DATE => "date",
        TIME => "time without time zone",
        TIMESTAMP => "timestamp without time zone",
        TIMESTAMPTZ => "timestamp with time zone",
        INTERVAL => "interval",
        TIMETZ => "time with time zone",
        NUMERIC => "numeric",
        UUID => "uuid",
        JSONB => "jsonb",
        _ => {
            return match array_element(oid) {
                Some(e) => Cow::Owned(format!("{}[]", type_name(e))),
                None => Cow::Owned(format!("type with OID {oid}")),
            }
        }
    };
    Cow::Borrowed(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_arrays() {
        assert_eq!(type_name(INT2), "smallint");
        assert_eq!(type_name(INT4_ARRAY), "integer[]");
        assert_eq!(type_name(99999), "type with OID 99999");
        assert_eq!(array_element(JSONB_ARRAY), Some(JSONB));
        assert!(has_binary_codec(UUID_ARRAY));
        assert!(!has_binary_codec(869)); // inet
    }
}
