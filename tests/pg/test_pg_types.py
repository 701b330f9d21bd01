"""Every supported type makes the round trip Python -> PostgreSQL -> Python, NULL too:
as a parameter cast by the server, stored in a table column, and as a value the server
produces itself (infinities, NaN, enums and types without a codec)."""

from __future__ import annotations

import math
import struct
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from fake_pg.support import unique

import ormkit
from ormkit import Mapped, mapped_column
from ormkit.orm import Registry, declarative_base

pytestmark = pytest.mark.pg

IST = timezone(timedelta(hours=5, minutes=30))
WEST = timezone(-timedelta(hours=3, minutes=30))
BIG_NUMERIC = Decimal("9" * 500 + "." + "1234567890" * 50)  # 1,000 digits
TEXTS = ["héllo wörld ✓ 日本語 🎉", "", "quote ' dq \" backslash \\", "e\u0301 combining", "\u2028"]


def f32(x: float) -> float:
    """``x`` as the nearest float4 (what PostgreSQL stores in a real)."""
    return float(struct.unpack("!f", struct.pack("!f", x))[0])


def same(a: Any, b: Any) -> bool:
    """Equality where NaN equals NaN (floats and Decimals, also inside lists)."""
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    if isinstance(a, Decimal) and isinstance(b, Decimal) and a.is_nan():
        return b.is_nan()
    return type(a) is type(b) and a == b


@dataclass
class Case:
    pg_type: str
    values: list[Any]
    # What comes back, when it is not the value itself.
    expect: Any = None

    def expected(self) -> list[Any]:
        return self.values if self.expect is None else [self.expect(v) for v in self.values]


CASES = [
    Case("int2", [-32768, 0, 32767]),
    Case("int4", [-(2**31), 0, 2**31 - 1]),
    Case("int8", [-(2**63), 0, 2**63 - 1]),
    Case("float4", [1.1, -0.5, f32(3.4028234663852886e38), math.nan, math.inf, -math.inf], f32),
    Case("float8", [1.1, 1e308, 5e-324, -0.0, math.nan, math.inf, -math.inf]),
    Case(
        "numeric",
        [
            BIG_NUMERIC,
            -BIG_NUMERIC,
            Decimal("0"),
            Decimal("-0.000000000000000000001"),
            Decimal("123456789.987654321"),
            Decimal("1E+30"),
            Decimal("NaN"),
            Decimal("Infinity"),
            Decimal("-Infinity"),
        ],
    ),
    Case("bool", [True, False]),
    Case("text", TEXTS),
    Case("varchar", TEXTS),
    Case("char(6)", ["ab", "ünï"], lambda v: v.ljust(6)),
    Case("name", ["a_name", "ñame"]),
    Case("bytea", [bytes(range(256)), b"", b"\0" * 1000, bytes(range(256)) * 4096]),
    Case("date", [date(2024, 2, 29), date(1, 1, 1), date(9999, 12, 31), date(2000, 1, 1)]),
    Case("time", [time(0, 0), time(23, 59, 59, 999999), time(12, 34, 56, 789)]),
    Case("timetz", [time(12, 0, tzinfo=IST), time(0, 0, 1, tzinfo=WEST), time(7, tzinfo=UTC)]),
    Case(
        "timestamp",
        [
            datetime(2024, 1, 2, 3, 4, 5, 678901),
            datetime(1, 1, 1),
            datetime(9999, 12, 31, 23, 59, 59, 999999),
            datetime(1999, 12, 31, 23, 59, 59),
        ],
    ),
    Case(
        "timestamptz",
        [
            datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
            datetime(2024, 6, 1, 12, 0, tzinfo=IST),
            datetime(1970, 1, 1, tzinfo=WEST),
        ],
        lambda v: v.astimezone(UTC),
    ),
    Case(
        "interval",
        [timedelta(days=3, seconds=5, microseconds=7), timedelta(days=-1, seconds=3), timedelta()],
    ),
    Case("uuid", [uuid.uuid4(), uuid.UUID(int=0), uuid.UUID(int=2**128 - 1)]),
    Case("json", [{"a": [1, 2.5, None, "é"], "b": {"c": True}}, [1, "two", None], {}]),
    Case("jsonb", [{"a": [1, 2.5, None, "é"], "b": {"c": True}}, [1, "two", None], []]),
    Case("int4[]", [[1, None, 3], [], [None]]),
    Case("int8[]", [[-(2**63), 2**63 - 1, None]]),
    Case("text[]", [["a", None, "é🎉", ""], []]),
    Case("float8[]", [[1.5, math.nan, math.inf, None]]),
    Case("numeric[]", [[Decimal("1.5"), None, BIG_NUMERIC]]),
    Case("bool[]", [[True, None, False]]),
    Case("bytea[]", [[b"\x00\x01", None, b""]]),
    Case("date[]", [[date(2020, 1, 1), None]]),
    Case("timestamptz[]", [[datetime(2020, 1, 1, tzinfo=UTC), None]]),
    Case("uuid[]", [[uuid.UUID(int=5), None]]),
    Case("jsonb[]", [[{"a": 1}, None, {"b": [2]}]]),
]


@pytest.fixture
async def engine(pg_url: str) -> AsyncIterator[ormkit.Engine]:
    engine = await ormkit.create_engine(pg_url, max_connections=1)
    try:
        yield engine
    finally:
        await engine.close()


@pytest.mark.parametrize("case", CASES, ids=[c.pg_type for c in CASES])
async def test_parameter_round_trip(engine: ormkit.Engine, case: Case) -> None:
    sql = f"SELECT $1::{case.pg_type} AS v, $2::{case.pg_type} AS n"
    for value, expected in zip(case.values, case.expected(), strict=True):
        row = (await engine.execute(sql, [value, None])).one()
        assert same(row["v"], expected), (value, row["v"])
        assert row["n"] is None


@pytest.mark.parametrize("case", CASES, ids=[c.pg_type for c in CASES])
async def test_column_round_trip(engine: ormkit.Engine, case: Case) -> None:
    table = unique("types")
    await engine.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, v {case.pg_type})")
    try:
        rows = [(i, v) for i, v in enumerate(case.values)] + [(len(case.values), None)]
        await engine.executemany(f"INSERT INTO {table} VALUES ($1, $2)", rows)
        got = (await engine.execute(f"SELECT v FROM {table} ORDER BY id")).column("v")
        assert len(got) == len(rows)
        for value, expected, back in zip(case.values, case.expected(), got, strict=False):
            assert same(back, expected), (value, back)
        assert got[-1] is None
    finally:
        await engine.execute(f"DROP TABLE {table}")


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("'NaN'::float8", math.nan),
        ("'Infinity'::float8", math.inf),
        ("'-Infinity'::float4", -math.inf),
        ("'NaN'::numeric", Decimal("NaN")),
        ("'Infinity'::numeric", Decimal("Infinity")),
        ("'-Infinity'::numeric", Decimal("-Infinity")),
        ("'infinity'::timestamp", datetime.max),
        ("'-infinity'::timestamp", datetime.min),
        ("'infinity'::timestamptz", datetime.max.replace(tzinfo=UTC)),
        ("'-infinity'::timestamptz", datetime.min.replace(tzinfo=UTC)),
        ("'infinity'::date", date.max),
        ("'-infinity'::date", date.min),
        ("'1 mon 2 days 03:00:00.5'::interval", timedelta(days=32, hours=3, milliseconds=500)),
        ("'12:00:00-03:30'::timetz", time(12, 0, tzinfo=WEST)),
        ("'2000-01-01 00:00:00+02'::timestamptz", datetime(1999, 12, 31, 22, tzinfo=UTC)),
        ("repeat('9', 1000)::numeric", Decimal("9" * 1000)),
        ("ARRAY[1, NULL, 3]::int2[]", [1, None, 3]),
        ("'{}'::text[]", []),
        ("'{\"é\": [1, null]}'::jsonb", {"é": [1, None]}),
        ("'null'::jsonb", None),
        ("'10.0.0.1/8'::inet", "10.0.0.1/8"),
        ("point(1, 2)", "(1,2)"),
        ("int4range(1, 5)", "[1,5)"),
        ("'08:00:2b:01:02:03'::macaddr", "08:00:2b:01:02:03"),
        ("'<a>é</a>'::xml", "<a>é</a>"),
        ("'a b'::tsvector", "'a' 'b'"),
        ("NULL::inet", None),
    ],
)
async def test_server_values(engine: ormkit.Engine, expression: str, expected: Any) -> None:
    value = (await engine.execute(f"SELECT {expression} AS v")).scalar()
    assert same(value, expected), value


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("'4713-01-01 BC'::date", "a date in the year 4713 BC"),
        ("'0001-01-01 BC'::date", "a date in the year 1 BC"),
        ("'10000-01-01'::date", "a date in the year 10000"),
        ("'294276-12-31 23:59:59'::timestamp", "a timestamp in the year 294276"),
        ("'0044-03-15 12:00 BC'::timestamptz", "a timestamp in the year 44 BC"),
        ("'24:00:00'::time", "time 24:00:00"),
    ],
)
async def test_values_python_cannot_hold_are_data_errors(
    engine: ormkit.Engine, expression: str, message: str
) -> None:
    """PostgreSQL's years outside 1..9999 and its ``24:00:00`` have no Python value: a
    ``DataError`` saying so, however the rows are read, model instances built in Rust
    included (24:00 was read as midnight, the years were a bare ``ValueError``)."""
    with pytest.raises(ormkit.DataError, match="out of the range of Python's datetime") as err:
        (await engine.execute(f"SELECT {expression} AS v")).scalar()
    assert message in str(err.value)
    result = await engine.execute(f"SELECT {expression} AS v")
    with pytest.raises(ormkit.DataError, match=message):
        result.all()
    with pytest.raises(ormkit.DataError, match=message):
        result.tuples()
    with pytest.raises(ormkit.DataError, match=message):
        result.to_models(Moment)


class Moment(declarative_base("PgTypesBase", registry=Registry(track=False))):  # type: ignore[misc]
    __tablename__ = "pg_types_moments"

    v: Mapped[date] = mapped_column(primary_key=True)


async def test_infinity_parameters_as_text(engine: ormkit.Engine) -> None:
    """PostgreSQL's special values can be sent as text for any type."""
    row = (
        await engine.execute(
            "SELECT $1::timestamp AS a, $2::timestamptz AS b, $3::date AS c, $4::float8 AS d",
            ["infinity", "-infinity", "infinity", "NaN"],
        )
    ).one()
    assert row["a"] == datetime.max
    assert row["b"] == datetime.min.replace(tzinfo=UTC)
    assert row["c"] == date.max
    assert math.isnan(row["d"])


async def test_python_bounds_are_written_as_infinity(engine: ormkit.Engine) -> None:
    """``datetime.max``/``date.max`` (and min) are how PostgreSQL's ±infinity reads
    back, so they are written as ±infinity: a row read and written back keeps them."""
    row = (
        await engine.execute(
            "SELECT $1::timestamp = 'infinity' AS a, $2::timestamp = '-infinity' AS b,"
            " $3::timestamptz = 'infinity' AS c, $4::date = 'infinity' AS d,"
            " $5::date = '-infinity' AS e, $6::timestamp AS f, $7::date AS g",
            [
                datetime.max,
                datetime.min,
                datetime.max.replace(tzinfo=UTC),
                date.max,
                date.min,
                datetime(9999, 12, 31, 23, 59, 59),
                date(9999, 12, 30),
            ],
        )
    ).one()
    assert row == {
        "a": True,
        "b": True,
        "c": True,
        "d": True,
        "e": True,
        "f": datetime(9999, 12, 31, 23, 59, 59),
        "g": date(9999, 12, 30),
    }


async def test_enums_and_unknown_types_as_text(engine: ormkit.Engine) -> None:
    mood, table = unique("mood"), unique("enum_t")
    await engine.execute(f"CREATE TYPE {mood} AS ENUM ('sad', 'ok', 'happy ☺')")
    try:
        await engine.execute(
            f"CREATE TABLE {table} (id int PRIMARY KEY, m {mood}, ms {mood}[], addr inet, "
            "r int4range, p point)"
        )
        await engine.execute(
            f"INSERT INTO {table} VALUES ($1, $2, $3, $4, $5, $6), (2, NULL, NULL, NULL, "
            "NULL, NULL)",
            [1, "happy ☺", "{sad,ok}", "192.168.0.1/24", "[2,7)", "(1.5,2)"],
        )
        rows = (await engine.execute(f"SELECT * FROM {table} ORDER BY id")).all()
        assert rows[0] == {
            "id": 1,
            "m": "happy ☺",
            "ms": "{sad,ok}",
            "addr": "192.168.0.1/24",
            "r": "[2,7)",
            "p": "(1.5,2)",
        }
        assert rows[1] == {"id": 2, "m": None, "ms": None, "addr": None, "r": None, "p": None}
        # The enum as a filter parameter, and an invalid label as a clean error.
        got = await engine.execute(f"SELECT id FROM {table} WHERE m = $1", ["happy ☺"])
        assert got.column("id") == [1]
        with pytest.raises(ormkit.DataError) as info:
            await engine.execute(f"SELECT id FROM {table} WHERE m = $1", ["angry"])
        assert info.value.sqlstate == "22P02"
        assert (await engine.execute("SELECT 1")).scalar() == 1
    finally:
        await engine.execute(f"DROP TABLE IF EXISTS {table}")
        await engine.execute(f"DROP TYPE {mood}")


async def test_large_values_over_tls(pg_url: str) -> None:
    """Statements far larger than a TLS record (and than rustls' default buffer)."""
    engine = await ormkit.create_engine(pg_url + "?sslmode=require", max_connections=1)
    try:
        blob = bytes(range(256)) * 40_000  # ~10 MB
        text = "ü" * 3_000_000
        row = (
            await engine.execute(
                "SELECT $1::bytea AS b, length($2::text) AS n, md5($1::bytea) AS h",
                [blob, text],
            )
        ).one()
        assert row["b"] == blob
        assert row["n"] == len(text)
        import hashlib

        assert row["h"] == hashlib.md5(blob).hexdigest()
    finally:
        await engine.close()


async def test_out_of_range_values_are_data_errors(engine: ormkit.Engine) -> None:
    cases: list[tuple[str, list[Any]]] = [
        ("SELECT $1::int2", [32768]),
        ("SELECT $1::int4", [-(2**31) - 1]),
        ("SELECT $1::int8", [2**63]),
        ("SELECT $1::text", ["nul \x00 inside"]),
        ("SELECT $1::int4[]", [[1, 2**40]]),
    ]
    for sql, params in cases:
        with pytest.raises(ormkit.DataError):
            await engine.execute(sql, params)
    assert (await engine.execute("SELECT 2 AS x")).scalar() == 2


@pytest.mark.parametrize(
    "expression",
    [
        "interval '1000000000 days'",
        "interval '999999999 days 24 hours'",
        "interval '-1000000000 days'",
    ],
)
async def test_intervals_past_timedelta_are_data_errors(
    engine: ormkit.Engine, expression: str
) -> None:
    """Past timedelta's 999,999,999 days (but within 32 bits): a ``DataError``, where
    it was a bare ``OverflowError`` from the constructor."""
    with pytest.raises(ormkit.DataError, match="interval out of range for timedelta"):
        (await engine.execute(f"SELECT {expression}")).scalar()
    edge = (await engine.execute("SELECT interval '-999999999 days'")).scalar()
    assert edge == timedelta(days=-999_999_999)
