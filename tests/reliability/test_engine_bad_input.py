"""Bad input through the engine: each hostile value gives a clear error (or is stored
faithfully, when it is just data) and leaves the data and the connection intact."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from typing import Any

import pytest
from fake_pg.support import unique

import ormkit

pytestmark = pytest.mark.pg

HOSTILE_TEXT = [
    "'; DROP TABLE users; --",
    "$1",
    "\\x00 not a nul",
    "\u202e right-to-left override",
    "😀" * 1000,
    "a" * 1_000_000,
    "\r\n\t\x7f\x1b[31m",
]


@pytest.fixture
async def one(pg_url: str) -> AsyncIterator[tuple[ormkit.Engine, str]]:
    """A pool of one and a table with one row that must survive every bad statement."""
    engine = await ormkit.create_engine(pg_url, max_connections=1)
    table = unique("bad")
    await engine.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, t text, n int, j jsonb)")
    await engine.execute(f"INSERT INTO {table} VALUES (1, 'kept', 7, '{{}}')")
    try:
        yield engine, table
    finally:
        await engine.execute(f"DROP TABLE {table}")
        await engine.close()


async def intact(engine: ormkit.Engine, table: str) -> None:
    rows = (await engine.execute(f"SELECT id, t, n FROM {table} ORDER BY id")).all()
    assert rows[0] == {"id": 1, "t": "kept", "n": 7}
    assert engine.stats()["discarded"] == 0


@pytest.mark.parametrize("value", HOSTILE_TEXT, ids=range(len(HOSTILE_TEXT)))
async def test_hostile_text_is_just_data(one: tuple[ormkit.Engine, str], value: str) -> None:
    engine, table = one
    await engine.execute(f"INSERT INTO {table} (id, t) VALUES (2, $1)", [value])
    assert (await engine.execute(f"SELECT t FROM {table} WHERE id = 2")).scalar() == value
    assert (await engine.execute(f"SELECT id FROM {table} WHERE t = $1", [value])).column("id") == [
        2
    ]
    await intact(engine, table)


@pytest.mark.parametrize(
    ("sql", "params"),
    [
        ("INSERT INTO {t} (id, t) VALUES (3, $1)", ["nul \x00 byte"]),
        ("INSERT INTO {t} (id, n) VALUES (3, $1)", [2**64]),
        ("INSERT INTO {t} (id, n) VALUES (3, $1)", [-(2**63) - 1]),
        ("INSERT INTO {t} (id, n) VALUES (3, $1)", [2**31]),
        ("INSERT INTO {t} (id, n) VALUES (3, $1)", [math.nan]),
        ("INSERT INTO {t} (id, n) VALUES (3, $1)", [math.inf]),
        ("INSERT INTO {t} (id, n) VALUES (3, $1)", [1.5]),
        ("INSERT INTO {t} (id, n) VALUES (3, $1)", ["12abc"]),
        ("INSERT INTO {t} (id, t) VALUES (3, $1)", [b"\xff bytes for text"]),
        ("INSERT INTO {t} (id, j) VALUES (3, $1)", ["{not json"]),
        ("INSERT INTO {t} (id, j) VALUES (3, $1)", [{"tags": {1, 2}}]),
        ("INSERT INTO {t} (id, j) VALUES (3, $1)", [{"a": [object()]}]),
        ("INSERT INTO {t} (id, j) VALUES (3, $1)", [{(1, 2): "x"}]),
        ("INSERT INTO {t} (id, j) VALUES (3, $1)", [{"a": math.nan}]),
        ("INSERT INTO {t} (id, j) VALUES (3, $1)", [{"a": b"x"}]),
        ("INSERT INTO {t} (id, t) VALUES ($1, $2)", [3]),
    ],
    ids=[
        "NUL",
        "2**64",
        "below int64",
        "int4 overflow",
        "NaN in int",
        "inf in int",
        "fraction in int",
        "text in int",
        "bytes in text",
        "bad json",
        "set in JSON",
        "object in JSON",
        "tuple key in JSON",
        "NaN in JSON",
        "bytes in JSON",
        "missing parameter",
    ],
)
async def test_bad_values_are_clear_errors(
    one: tuple[ormkit.Engine, str], sql: str, params: list[Any]
) -> None:
    engine, table = one
    with pytest.raises((ormkit.DataError, ormkit.ProgrammingError)) as info:
        await engine.execute(sql.format(t=table), params)
    assert str(info.value)
    # The same again inside a transaction: the transaction fails as a whole.
    with pytest.raises((ormkit.DataError, ormkit.ProgrammingError)):
        async with engine.transaction() as tx:
            await tx.execute(f"UPDATE {table} SET t = 'changed' WHERE id = 1")
            await tx.execute(sql.format(t=table), params)
    await intact(engine, table)


async def test_lone_surrogate_is_a_data_error(one: tuple[ormkit.Engine, str]) -> None:
    engine, table = one
    try:
        with pytest.raises(ormkit.DataError):
            await engine.execute(f"INSERT INTO {table} (id, t) VALUES (4, $1)", ["a\ud800b"])
    finally:
        await intact(engine, table)


async def test_parameter_list_emptied_while_converting(
    one: tuple[ormkit.Engine, str],
) -> None:
    """A value whose conversion runs Python code that empties the parameter list: the
    conversion stops at the list's new end and the count check refuses the statement
    (no read past the end, nothing written)."""
    engine, table = one
    params: list[Any] = []

    class Emptier:
        def __bytes__(self) -> bytes:
            params.clear()
            return b"x"

    params.extend([Emptier(), 5, "lost"])
    try:
        with pytest.raises(ormkit.ProgrammingError, match="takes 3 parameters, 1 was given"):
            await engine.execute(f"INSERT INTO {table} (id, n, t) VALUES ($1, $2, $3)", params)
    finally:
        await intact(engine, table)


async def test_deeply_nested_json(one: tuple[ormkit.Engine, str]) -> None:
    engine, table = one
    deep: Any = []
    for _ in range(5000):
        deep = [deep]
    with pytest.raises((RecursionError, ormkit.DataError)):
        await engine.execute(f"UPDATE {table} SET j = $1 WHERE id = 1", [{"a": deep}])
    # From the server: decoding fails when the rows are read, the connection is fine.
    result = await engine.execute("SELECT (repeat('[', 3000) || repeat(']', 3000))::jsonb AS j")
    with pytest.raises((RecursionError, ormkit.DataError)):
        result.all()
    shallow = await engine.execute("SELECT (repeat('[', 50) || repeat(']', 50))::jsonb AS j")
    assert str(shallow.scalar()).count("[") == 50
    await intact(engine, table)


async def test_65536_parameters_in_a_batch(one: tuple[ormkit.Engine, str]) -> None:
    engine, table = one
    with pytest.raises(ormkit.DataError, match="too many parameters"):
        await engine.executemany(f"INSERT INTO {table} (id) VALUES ($1)", [list(range(65536))])
    await intact(engine, table)


@pytest.mark.parametrize("kind", ["bytea", "text"])
async def test_100_mb_values(one: tuple[ormkit.Engine, str], kind: str) -> None:
    engine, table = one
    size = 100 * 2**20
    value: bytes | str = b"\x01\xff" * (size // 2) if kind == "bytea" else "ü" * (size // 2)
    result = await engine.execute(f"SELECT length($1::{kind}) AS n, $1::{kind} AS v", [value])
    row = result.one()
    assert row["n"] == (size if kind == "bytea" else size // 2)
    assert row["v"] == value
    del row, result, value
    await intact(engine, table)
