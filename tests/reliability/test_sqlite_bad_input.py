"""Bad input through the engine and the ORM on SQLite, the counterpart of
``test_engine_bad_input.py`` (PostgreSQL): NUL bytes, lone surrogates, integers beyond
64 bits, NaN and infinities, 65,536 parameters (SQLite's limit is 32,766), deeply nested
JSON, 100 MB values. Each gives a clear error or is stored as plain data (SQLite's
columns take any type unless the table is STRICT), and the data and the connection
stay intact."""

from __future__ import annotations

import json
import math
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

import ormkit
from ormkit import JSON, AsyncSession, Mapped, mapped_column
from ormkit.orm import Registry, declarative_base

HOSTILE_TEXT = [
    "'; DROP TABLE bad; --",
    "$1",
    "?",
    "\\x00 not a nul",
    "\u202e right-to-left override",
    "😀" * 1000,
    "a" * 1_000_000,
    "\r\n\t\x7f\x1b[31m",
    "nul \x00 byte",
    "\x00",
]

Base = declarative_base("SqliteBadInput", registry=Registry(track=False))


class Doc(Base):
    __tablename__ = "bad_docs"

    id: Mapped[int] = mapped_column(primary_key=True)
    score: Mapped[float | None] = mapped_column(nullable=True)
    count: Mapped[int | None] = mapped_column(nullable=True)
    meta: Mapped[Any] = mapped_column(JSON, nullable=True)


@pytest.fixture(params=["file", "memory"])
async def one(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ormkit.Engine]:
    """An engine with a table ``bad`` holding one row that must survive every bad
    statement, and a STRICT table ``strict_bad`` (types enforced)."""
    url = f"sqlite:///{tmp_path / 'bad.db'}" if request.param == "file" else "sqlite::memory:"
    engine = await ormkit.create_engine(url)
    try:
        await engine.execute(
            "CREATE TABLE bad (id INTEGER PRIMARY KEY, t TEXT, n INTEGER NOT NULL DEFAULT 0,"
            " r REAL, j TEXT, b BLOB)"
        )
        await engine.execute(
            "CREATE TABLE strict_bad (id INTEGER PRIMARY KEY, n INTEGER, r REAL, t TEXT) STRICT"
        )
        await engine.execute("INSERT INTO bad (id, t, n, j) VALUES (1, 'kept', 7, '{}')")
        yield engine
    finally:
        await engine.close()


async def intact(engine: ormkit.Engine) -> None:
    rows = (await engine.execute("SELECT id, t, n FROM bad ORDER BY id")).all()
    assert rows[0] == {"id": 1, "t": "kept", "n": 7}
    stats = engine.stats()
    assert not stats["writer_in_use"] and stats["waiting"] == 0 and stats["timeouts"] == 0
    # The writer takes a transaction at once (nothing was left open).
    async with engine.transaction() as tx:
        await tx.execute("UPDATE bad SET n = n WHERE id = 1")
    assert (await engine.execute("PRAGMA integrity_check")).scalar() == "ok"


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT 1\x00; DELETE FROM bad",
        "DELETE FROM bad WHERE id = 2\x00 OR 1 = 1",
        "UPDATE bad SET t = 'lost' WHERE id = 1\x00 AND 0",
    ],
)
@pytest.mark.parametrize("via", ["engine", "transaction", "executemany"])
async def test_a_nul_character_in_the_sql_text_is_refused(
    one: ormkit.Engine, sql: str, via: str
) -> None:
    """SQLite would prepare the text up to the NUL and ignore the rest, so a statement
    could run as something else than written: it is refused before it runs."""
    with pytest.raises(ormkit.DataError, match="NUL character"):
        if via == "engine":
            await one.execute(sql)
        elif via == "transaction":
            async with one.transaction() as tx:
                await tx.execute(sql)
        else:
            await one.executemany(sql, [[], []])
    await intact(one)
    assert (await one.execute("SELECT count(*) FROM bad")).scalar() == 1


@pytest.mark.parametrize("value", HOSTILE_TEXT, ids=range(len(HOSTILE_TEXT)))
async def test_hostile_text_is_just_data(one: ormkit.Engine, value: str) -> None:
    await one.execute("INSERT INTO bad (id, t) VALUES (2, $1)", [value])
    assert (await one.execute("SELECT t FROM bad WHERE id = 2")).scalar() == value
    assert (await one.execute("SELECT id FROM bad WHERE t = $1", [value])).column("id") == [2]
    assert (await one.execute("SELECT id FROM bad WHERE t = ?", [value])).column("id") == [2]
    # As a BLOB too, byte for byte.
    data = value.encode()
    await one.execute("UPDATE bad SET b = $1 WHERE id = 2", [data])
    assert (await one.execute("SELECT b FROM bad WHERE id = 2")).scalar() == data
    await intact(one)


@pytest.mark.parametrize(
    ("sql", "params", "error", "match"),
    [
        ("INSERT INTO bad (id, t) VALUES (3, $1)", ["a\ud800b"], ormkit.DataError, "surrogate"),
        ("INSERT INTO bad (id, n) VALUES (3, $1)", [2**64], ormkit.DataError, "64-bit"),
        ("INSERT INTO bad (id, n) VALUES (3, $1)", [2**63], ormkit.DataError, "64-bit"),
        ("INSERT INTO bad (id, n) VALUES (3, $1)", [-(2**63) - 1], ormkit.DataError, "64-bit"),
        ("INSERT INTO bad (id, n) VALUES (3, $1)", [-(10**100)], ormkit.DataError, "64-bit"),
        ("INSERT INTO strict_bad (id, n) VALUES (3, $1)", [1.5], ormkit.IntegrityError, "REAL"),
        ("INSERT INTO strict_bad (id, n) VALUES (3, $1)", ["12abc"], ormkit.IntegrityError, "TEXT"),
        ("INSERT INTO strict_bad (id, t) VALUES (3, $1)", [b"\xff"], ormkit.IntegrityError, "BLOB"),
        (
            "INSERT INTO bad (id, j) VALUES (3, json($1))",
            ["{not json"],
            ormkit.ProgrammingError,
            "malformed JSON",
        ),
        (
            "INSERT INTO bad (id, t) VALUES ($1, $2)",
            [3],
            ormkit.ProgrammingError,
            "takes 2 parameters, 1 was given",
        ),
        ("INSERT INTO bad (id, t) VALUES (3, $1)", [object()], ormkit.ProgrammingError, "type"),
        ("INSERT INTO bad (id, t) VALUES (3, $1)", [{1, 2}], ormkit.ProgrammingError, "type"),
        (
            "INSERT INTO bad (id, j) VALUES (3, $1)",
            [{"tags": {1, 2}}],
            ormkit.ProgrammingError,
            "type set cannot be stored in a JSON value",
        ),
        (
            "INSERT INTO bad (id, j) VALUES (3, $1)",
            [{"a": [object()]}],
            ormkit.ProgrammingError,
            "type object cannot be stored in a JSON value",
        ),
        (
            "INSERT INTO bad (id, j) VALUES (3, $1)",
            [{(1, 2): "x"}],
            ormkit.ProgrammingError,
            "keys must be str",
        ),
        (
            "INSERT INTO bad (id, j) VALUES (3, $1)",
            [{"a": math.nan}],
            ormkit.DataError,
            "NaN and infinities cannot be stored in a JSON value",
        ),
        (
            "INSERT INTO bad (id, j) VALUES (3, $1)",
            [{"a": b"x"}],
            ormkit.DataError,
            "bytes cannot be stored in a JSON value",
        ),
    ],
    ids=[
        "lone surrogate",
        "2**64",
        "2**63",
        "below int64",
        "-10**100",
        "fraction in STRICT int",
        "text in STRICT int",
        "bytes in STRICT text",
        "bad json",
        "missing parameter",
        "object",
        "set",
        "set in JSON",
        "object in JSON",
        "tuple key in JSON",
        "NaN in JSON",
        "bytes in JSON",
    ],
)
async def test_bad_values_are_clear_errors(
    one: ormkit.Engine, sql: str, params: list[Any], error: type[ormkit.Error], match: str
) -> None:
    with pytest.raises(error, match=match) as info:
        await one.execute(sql, params)
    # Refused while converting the value (nothing sent): the message names the parameter;
    # refused by SQLite: the error carries the statement.
    if info.value.sql is None:
        assert str(info.value).startswith("parameter $1: ")
    else:
        assert info.value.sql == sql
    # The same again inside a transaction: the transaction fails as a whole.
    with pytest.raises(error, match=match):
        async with one.transaction() as tx:
            await tx.execute("UPDATE bad SET t = 'changed' WHERE id = 1")
            await tx.execute(sql, params)
    # And in a batch: no row of it is kept.
    with pytest.raises(error, match=match):
        await one.executemany(sql, [params])
    assert (await one.execute("SELECT count(*) FROM bad WHERE id = 3")).scalar() == 0
    await intact(one)


@pytest.mark.parametrize(
    ("column", "value", "stored_as"),
    [
        ("n", 2**63 - 1, "integer"),
        ("n", -(2**63), "integer"),
        ("n", 1.5, "real"),
        ("n", "12abc", "text"),
        ("n", math.inf, "real"),
        ("r", -math.inf, "real"),
        ("r", 5e-324, "real"),
        ("t", b"\xff\x00 bytes in text", "blob"),
        ("b", "text in blob", "text"),
    ],
    ids=["int64 max", "int64 min", "fraction", "text", "inf", "-inf", "denormal", "bytes", "text"],
)
async def test_values_sqlite_keeps_as_plain_data(
    one: ormkit.Engine, column: str, value: Any, stored_as: str
) -> None:
    """A column without STRICT keeps what it is given (SQLite's type affinity), exactly."""
    await one.execute(f"INSERT INTO bad (id, {column}) VALUES (3, $1)", [value])
    row = await one.execute(f"SELECT {column} AS v, typeof({column}) AS k FROM bad WHERE id = 3")
    assert row.one() == {"v": value, "k": stored_as}
    assert (await one.execute(f"SELECT id FROM bad WHERE {column} = $1", [value])).scalar() == 3
    await intact(one)


async def test_nan_in_a_not_null_column_is_a_data_error(one: ormkit.Engine) -> None:
    # SQLite has no NaN (it would bind as NULL): refused before anything is sent.
    with pytest.raises(ormkit.DataError, match="NaN"):
        await one.execute("INSERT INTO bad (id, n) VALUES (3, $1)", [math.nan])
    await intact(one)


@pytest.mark.parametrize("via", ["engine", "session"])
async def test_nan_is_not_silently_null(one: ormkit.Engine, via: str) -> None:
    try:
        if via == "engine":
            await one.execute("INSERT INTO bad (id, r) VALUES (3, $1)", [math.nan])
            stored = (await one.execute("SELECT r FROM bad WHERE id = 3")).scalar()
        else:
            await one.create_all(models=[Doc])
            async with AsyncSession(one) as session:
                doc = await session.insert(Doc(score=math.nan))
            async with AsyncSession(one) as session:
                loaded = await session.get(Doc, doc.id)
                assert loaded is not None
                stored = loaded.score
    except ormkit.DataError:
        stored = math.nan  # refused clearly: fine as well
    assert stored is not None and math.isnan(stored)


# -- many parameters ----------------------------------------------------------------------


def in_list(n: int, style: str = "$") -> str:
    marks = (f"${i}" for i in range(1, n + 1)) if style == "$" else ("?" for _ in range(n))
    return f"SELECT count(*) FROM bad WHERE id IN ({', '.join(marks)})"


async def test_32766_parameters_work(one: ormkit.Engine) -> None:
    assert (await one.execute(in_list(32766), list(range(32766)))).scalar() == 1
    await intact(one)


@pytest.mark.parametrize(("n", "style"), [(32767, "$"), (65536, "$"), (65536, "?")])
async def test_too_many_parameters_is_a_clear_error(one: ormkit.Engine, n: int, style: str) -> None:
    with pytest.raises(ormkit.ProgrammingError, match=r"32766|too many SQL variables") as info:
        await one.execute(in_list(n, style), list(range(n)))
    assert info.value.params is not None and len(info.value.params) < 200
    # the statement travels with the error; the message and its text stay short
    assert info.value.sql is not None and len(info.value.message) < 300
    assert len(str(info.value)) < 3000
    with pytest.raises(ormkit.ProgrammingError, match="takes 1 parameter, 65536 were given"):
        await one.executemany("INSERT INTO bad (id) VALUES ($1)", [list(range(65536))])
    await intact(one)


async def test_orm_batches_stay_under_the_limit(one: ormkit.Engine) -> None:
    """insert_all of 20,000 rows x 4 columns (80,000 values) is cut into batches; a long
    IN list is one parameter, and one that cannot be (it holds an SQL expression) and is
    over the limit is a clear error and the session goes on."""
    await one.create_all(models=[Doc])
    async with AsyncSession(one) as session:
        docs = await session.insert_all(
            [Doc(score=i / 2, count=i, meta={"i": i}) for i in range(20_000)]
        )
        assert len({d.id for d in docs}) == 20_000
        assert await session.query(Doc).count() == 20_000
        assert await session.query(Doc).sum("count") == sum(range(20_000))
        assert await session.query(Doc).filter(id__in=list(range(40_000))).count() == 20_000
        with pytest.raises(ValueError, match=r"32766 parameters"):
            await session.query(Doc).filter(Doc.id.in_([*range(40_000), Doc.count])).count()
        assert await session.query(Doc).filter(id__in=list(range(1, 30_001))).count() == 20_000
    await intact(one)


# -- deeply nested JSON ----------------------------------------------------------------------


def nested(depth: int) -> list[Any]:
    doc: list[Any] = []
    for _ in range(depth):
        doc = [doc]
    return doc


async def test_deeply_nested_json(one: ormkit.Engine) -> None:
    await one.create_all(models=[Doc])
    # Encoding: Python's recursion limit, before anything is sent.
    with pytest.raises((RecursionError, ormkit.DataError)):
        await one.execute("UPDATE bad SET j = $1 WHERE id = 1", [{"a": nested(5000)}])
    async with AsyncSession(one) as session:
        session.add(Doc(meta=nested(5000)))
        with pytest.raises(ormkit.ValidationError, match="nested deeper than 500 levels"):
            await session.commit()
    assert (await one.execute("SELECT count(*) FROM bad_docs")).scalar() == 0
    # SQLite's own JSON functions stop at depth 1000.
    with pytest.raises(ormkit.ProgrammingError, match="malformed JSON"):
        await one.execute("SELECT json($1)", ["[" * 3000 + "]" * 3000])
    assert (await one.execute("SELECT json($1)", ["[" * 900 + "]" * 900])).scalar().count(
        "["
    ) == 900
    # A stored document too deep to decode: loading it is a clear error, not a crash.
    await one.execute("INSERT INTO bad_docs (id, meta) VALUES (1, $1)", ["[" * 3000 + "]" * 3000])
    await one.execute("INSERT INTO bad_docs (id, meta) VALUES (2, $1)", ["[" * 50 + "]" * 50])
    async with AsyncSession(one) as session:
        with pytest.raises((RecursionError, ormkit.DataError)):
            await session.get(Doc, 1)
        shallow = await session.get(Doc, 2)
        assert shallow is not None and json.dumps(shallow.meta).count("[") == 50
    await intact(one)


async def test_json_that_python_reads_loads_through_the_session(one: ormkit.Engine) -> None:
    await one.create_all(models=[Doc])
    text = "[" * 600 + "]" * 600
    assert json.dumps(json.loads(text)) == text.replace("][", "], [")
    await one.execute("INSERT INTO bad_docs (id, meta) VALUES (1, $1)", [text])
    async with AsyncSession(one) as session:
        loaded = await session.get(Doc, 1)
        assert loaded is not None and loaded.meta == json.loads(text)


@pytest.mark.parametrize("depth", [600, 5000])
async def test_a_failed_session_insert_writes_nothing(one: ormkit.Engine, depth: int) -> None:
    await one.create_all(models=[Doc])
    async with AsyncSession(one) as session:
        try:
            await session.insert(Doc(id=1, meta=nested(depth)))
        except (RecursionError, ormkit.DataError, ormkit.ValidationError):
            rows = (await one.execute("SELECT count(*) FROM bad_docs")).scalar()
            assert rows == 0, "insert() raised, yet its row was committed"
        else:
            assert (await one.execute("SELECT count(*) FROM bad_docs")).scalar() == 1


# -- 100 MB values ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["blob", "text"])
async def test_100_mb_values(tmp_path: Path, kind: str) -> None:
    size = 100 * 2**20
    value: bytes | str = b"\x01\xff\x00" * (size // 3) if kind == "blob" else "ü" * (size // 2)
    async with await ormkit.create_engine(f"sqlite:///{tmp_path / 'big.db'}") as engine:
        await engine.execute("CREATE TABLE big (id INTEGER PRIMARY KEY, v BLOB)")
        await engine.execute("INSERT INTO big VALUES (1, 'small')")
        row = (await engine.execute("SELECT length($1) AS n, $1 AS v", [value])).one()
        assert row["n"] == len(value)
        assert row["v"] == value
        del row
        await engine.execute("INSERT INTO big VALUES (2, $1)", [value])
        got = (await engine.execute("SELECT v FROM big WHERE id = 2")).scalar()
        assert got == value
        del got, value
        assert (await engine.execute("SELECT v FROM big WHERE id = 1")).scalar() == "small"
        assert (await engine.execute("PRAGMA integrity_check")).scalar() == "ok"
