"""Statements: the prepared-statement cache, errors with the server's fields,
client-side limits, notices."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest
from fake_pg.support import EngineFactory, unique

import ormkit

pytestmark = pytest.mark.pg


@pytest.fixture
async def one(pg_url: str) -> AsyncIterator[ormkit.Engine]:
    """A pool of one: every statement runs on the same server connection."""
    engine = await ormkit.create_engine(pg_url, max_connections=1)
    try:
        yield engine
    finally:
        await engine.close()


async def test_cached_select_star_survives_alter_table(one: ormkit.Engine) -> None:
    table = unique("alter")
    await one.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, a text)")
    try:
        await one.execute(f"INSERT INTO {table} VALUES (1, 'x')")
        select = f"SELECT * FROM {table} WHERE id = $1"
        first = await one.execute(select, [1])
        again = await one.execute(select, [1])
        assert again.cache_hit and again.all() == first.all() == [{"id": 1, "a": "x"}]
        await one.execute(f"ALTER TABLE {table} ADD COLUMN b int DEFAULT 7")
        after = await one.execute(select, [1])
        assert after.all() == [{"id": 1, "a": "x", "b": 7}]
        await one.execute(f"ALTER TABLE {table} DROP COLUMN a, ALTER COLUMN b TYPE text")
        assert (await one.execute(select, [1])).all() == [{"id": 1, "b": "7"}]
        assert (await one.execute(select, [1])).cache_hit
    finally:
        await one.execute(f"DROP TABLE {table}")


async def test_cached_parameter_types_follow_a_schema_change(
    pg_url: str, engines: EngineFactory
) -> None:
    """A prepared statement keeps the parameter types of the schema it was prepared in:
    after ``ALTER COLUMN v TYPE bigint`` a statement prepared for ``float8`` sent
    ``2**60 + 1`` as a float (stored rounded), and one prepared for a column re-created
    as ``text`` refused text. Every connection of the process forgets its statements
    once a schema change completes (inside a transaction: again at its end)."""
    a = await engines(pg_url, max_connections=1)
    b = await engines(pg_url, max_connections=1)
    table = unique("schema")
    insert = f"INSERT INTO {table} (id, v) VALUES ($1, $2)"
    await a.execute(f"CREATE TABLE {table} (id bigint PRIMARY KEY, v double precision)")
    try:
        for engine, key in ((a, 1), (b, 2)):
            await engine.execute(insert, [key, 1.5])
            assert (await engine.execute(insert, [key + 10, 2.5])).cache_hit
        await a.execute(f"ALTER TABLE {table} ALTER COLUMN v TYPE bigint")
        big = 2**60 + 1
        await a.execute(insert, [3, big])
        await b.execute(insert, [4, big])  # another connection, prepared before
        async with await a.transaction() as tx:
            await tx.execute(f"ALTER TABLE {table} ALTER COLUMN v TYPE text")
            await b.execute("SELECT 1")  # b runs meanwhile, before the commit
        await b.execute(insert, [5, "text now"])
        rows = await a.execute(f"SELECT id, v FROM {table} WHERE id BETWEEN 3 AND 5 ORDER BY id")
        assert rows.tuples() == [(3, str(big)), (4, str(big)), (5, "text now")]
    finally:
        await a.execute(f"DROP TABLE {table}")


async def test_cache_stays_bounded_on_the_server(pg_url: str, engines: EngineFactory) -> None:
    engine = await engines(pg_url, max_connections=1, statement_cache_size=100)
    for i in range(300):
        assert (await engine.execute(f"SELECT {i} AS n, $1::int AS p", [i])).all() == [
            {"n": i, "p": i}
        ]
    # Same connection (pool of one): the server's own list of prepared statements.
    count = "SELECT count(*) FROM pg_prepared_statements"
    prepared = (await engine.execute(count)).scalar()
    assert 99 <= prepared <= 100
    assert engine.stats()["statements_cached"] == 100
    # Evicted statements are gone on the server, recent ones are still there.
    names = (await engine.execute("SELECT statement FROM pg_prepared_statements")).column(
        "statement"
    )
    assert not any("SELECT 0 AS n" in s for s in names)
    assert any("SELECT 299 AS n" in s for s in names)
    # An evicted statement still runs (prepared again).
    assert (await engine.execute("SELECT 0 AS n, $1::int AS p", [5])).one() == {"n": 0, "p": 5}


async def test_no_cache_uses_unnamed_statements(pg_url: str, engines: EngineFactory) -> None:
    engine = await engines(pg_url, max_connections=1, statement_cache_size=0)
    for i in range(5):
        assert (await engine.execute("SELECT $1::int AS v", [i])).scalar() == i
    assert (await engine.execute("SELECT count(*) FROM pg_prepared_statements")).scalar() == 0
    async with engine.transaction() as tx:
        await tx.execute("SELECT 1")
    assert await engine.executemany("SELECT $1::int", [[1], [2]]) == 2


async def test_65536_parameters_is_a_clear_error(one: ormkit.Engine) -> None:
    placeholders = ", ".join(f"${i}" for i in range(1, 65537))
    with pytest.raises(ormkit.DataError) as info:
        await one.execute(f"SELECT ARRAY[{placeholders}]::int[]", list(range(65536)))
    assert "too many parameters: 65536" in str(info.value)
    assert "65535" in str(info.value)
    # The connection was never touched: the same pool of one answers at once.
    assert (await one.execute("SELECT 41 + 1")).scalar() == 42
    with pytest.raises(ormkit.DataError):
        await one.executemany("SELECT $1::int", [list(range(65536))])
    assert one.stats()["discarded"] == 0


async def test_wrong_parameter_count_is_caught_before_sending(one: ormkit.Engine) -> None:
    for params in ([1], [1, 2, 3]):
        with pytest.raises(ormkit.ProgrammingError, match="takes 2 parameters") as info:
            await one.execute("SELECT $1::int + $2::int", params)
        assert info.value.sqlstate == "08P01"  # what the server would answer
        assert info.value.sql == "SELECT $1::int + $2::int"
    assert (await one.execute("SELECT $1::int + $2::int", [40, 2])).scalar() == 42
    assert one.stats()["discarded"] == 0


async def test_65535_parameters_work(one: ormkit.Engine) -> None:
    placeholders = ", ".join(f"${i}" for i in range(1, 65536))
    result = await one.execute(
        f"SELECT array_length(ARRAY[{placeholders}]::int[], 1)", list(range(65535))
    )
    assert result.scalar() == 65535


async def test_server_errors_keep_their_fields(one: ormkit.Engine) -> None:
    table = unique("errs")
    await one.execute(
        f"CREATE TABLE {table} (id int PRIMARY KEY, n int CONSTRAINT {table}_pos CHECK (n > 0))"
    )
    try:
        await one.execute(f"INSERT INTO {table} VALUES (1, 1)")
        with pytest.raises(ormkit.IntegrityError) as info:
            await one.execute(f"INSERT INTO {table} VALUES ($1, $2)", [1, 5])
        e = info.value
        assert e.sqlstate == "23505"
        assert e.constraint == f"{table}_pkey"
        assert e.table == table and e.schema == "public"
        assert e.detail == "Key (id)=(1) already exists."
        assert e.sql is not None and "INSERT INTO" in e.sql
        with pytest.raises(ormkit.IntegrityError) as info:
            await one.execute(f"INSERT INTO {table} VALUES (2, -1)")
        assert info.value.sqlstate == "23514" and info.value.constraint == f"{table}_pos"
        with pytest.raises(ormkit.ProgrammingError) as info:
            await one.execute("SELECT nosuchcolumn FROM " + table)
        assert info.value.sqlstate == "42703" and info.value.position is not None
        with pytest.raises(ormkit.DataError) as info:
            await one.execute("SELECT 1 / 0")
        assert info.value.sqlstate == "22012"
        with pytest.raises(ormkit.ProgrammingError):
            await one.execute("SELEC 1")
        assert (await one.execute(f"SELECT count(*) FROM {table}")).scalar() == 1
    finally:
        await one.execute(f"DROP TABLE {table}")


async def test_notices_go_to_the_ormkit_logger(
    one: ormkit.Engine, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="ormkit"):
        await one.execute("DO $$ BEGIN RAISE NOTICE 'hello from plpgsql %', 42; END $$")
        await one.execute("DROP TABLE IF EXISTS " + unique("never_existed"))
    notices = [r for r in caplog.records if r.name == "ormkit"]
    messages = [r.getMessage() for r in notices]
    assert any("hello from plpgsql 42" in m for m in messages), messages
    assert any("does not exist, skipping" in m for m in messages), messages


async def test_multiple_statements_and_empty_query(one: ormkit.Engine) -> None:
    with pytest.raises(ormkit.ProgrammingError):
        await one.execute("SELECT 1; SELECT 2")
    assert (await one.execute("")).all() == []
    assert (await one.execute("SELECT 3")).scalar() == 3
