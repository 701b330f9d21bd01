"""A parameter set that cannot be converted fails ``executemany`` before anything is
sent, with the statement and the offending set on the error (API.md §7); on SQLite
(file and memory) and PostgreSQL, on the engine and inside a transaction."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from backends import backend_url

import ormkit


async def test_conversion_errors_carry_the_statement_and_the_set(any_engine: ormkit.Engine) -> None:
    table = f"em_{uuid.uuid4().hex[:10]}"
    await any_engine.execute(f"CREATE TABLE {table} (id integer PRIMARY KEY, n bigint)")
    sql = f"INSERT INTO {table} (id, n) VALUES ($1, $2)"
    try:
        with pytest.raises(ormkit.DataError, match="64-bit") as info:
            await any_engine.executemany(sql, [(1, 1), (2, 2**64)])
        assert info.value.sql == sql
        assert info.value.params is not None and str(2**64) in str(info.value.params)
        with pytest.raises(ormkit.ProgrammingError, match="type") as info2:
            async with any_engine.transaction() as tx:
                await tx.executemany(sql, [(3, object())])
        assert info2.value.sql == sql
        assert (await any_engine.execute(f"SELECT count(*) FROM {table}")).scalar() == 0
    finally:
        await any_engine.execute(f"DROP TABLE {table}")


async def test_a_failed_executemany_leaves_no_transaction_open(
    any_engine: ormkit.Engine, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """The statement already prepared (so nothing is sent before a set fails): later
    statements on the same connection still commit, as another connection sees."""
    backend = request.node.callspec.params["any_engine"]
    single = await ormkit.create_engine(backend_url(request, backend, tmp_path), max_connections=1)
    # a memory database is the engine's own: look at it through the same engine
    other = single if backend == "sqlite_memory" else any_engine
    table = f"em_{uuid.uuid4().hex[:10]}"
    await single.execute(f"CREATE TABLE {table} (id integer PRIMARY KEY, n bigint)")
    sql = f"INSERT INTO {table} (id, n) VALUES ($1, $2)"
    try:
        await single.executemany(sql, [(1, 1)])
        for bad in ([(2, 2**64)], [(2,)], [(2, 2), (3, object())]):
            with pytest.raises(ormkit.Error):
                await single.executemany(sql, bad)
        await single.execute(f"INSERT INTO {table} (id, n) VALUES (4, 4)")
        await single.executemany(sql, [(5, 5)])
        rows = await other.execute(f"SELECT id FROM {table} ORDER BY id")
        assert rows.column(0) == [1, 4, 5]
    finally:
        await single.execute(f"DROP TABLE {table}")
        await single.close()
