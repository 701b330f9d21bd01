"""PostgreSQL through the engine's fast path: the pool's common case taken inline by
``Engine.execute``, the general path when something is unusual (a broken idle
connection, command_timeout, query events, ageing), and ``Transaction.stream``."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator

import pytest

import ormkit
from ormkit import OperationalError, QueryEvent, create_engine

pytestmark = pytest.mark.pg


@pytest.fixture
async def engine(pg_url: str) -> AsyncIterator[ormkit.Engine]:
    e = await create_engine(pg_url, max_connections=2)
    try:
        yield e
    finally:
        await e.close()


@pytest.fixture
async def table(engine: ormkit.Engine) -> AsyncIterator[str]:
    name = f"hot_{uuid.uuid4().hex[:12]}"
    await engine.execute(f"CREATE TABLE {name} (id int PRIMARY KEY, v text)")
    try:
        yield name
    finally:
        await engine.execute(f"DROP TABLE IF EXISTS {name}")


async def test_statements_reuse_one_idle_connection(engine: ormkit.Engine) -> None:
    pids = {(await engine.execute("SELECT pg_backend_pid()")).scalar() for _ in range(20)}
    assert len(pids) == 1
    stats = engine.stats()
    assert stats["idle"] == stats["size"] == 1 and stats["in_use"] == 0


async def test_concurrent_statements_share_the_pool(engine: ormkit.Engine) -> None:
    results = await asyncio.gather(*(engine.execute("SELECT $1::int", [i]) for i in range(20)))
    assert [r.scalar() for r in results] == list(range(20))
    assert engine.stats()["in_use"] == 0 and engine.stats()["size"] <= 2


async def test_a_broken_idle_connection_is_replaced(
    engine: ormkit.Engine, admin: ormkit.Engine
) -> None:
    pid = (await engine.execute("SELECT pg_backend_pid()")).scalar()
    await admin.execute("SELECT pg_terminate_backend($1)", [pid])
    await asyncio.sleep(0.1)
    # The idle connection learnt it was closed; the next statement gets a new one.
    assert (await engine.execute("SELECT 1")).scalar() == 1
    assert (await engine.execute("SELECT pg_backend_pid()")).scalar() != pid


async def test_an_error_keeps_the_connection(engine: ormkit.Engine) -> None:
    pid = (await engine.execute("SELECT pg_backend_pid()")).scalar()
    with pytest.raises(ormkit.ProgrammingError):
        await engine.execute("SELECT * FROM no_such_table_here")
    assert (await engine.execute("SELECT pg_backend_pid()")).scalar() == pid
    assert engine.stats()["in_use"] == 0


async def test_a_cancelled_statement_does_not_leak_its_connection(engine: ormkit.Engine) -> None:
    task = asyncio.create_task(engine.execute("SELECT pg_sleep(5)"))
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    for _ in range(100):
        if engine.stats()["in_use"] == 0:
            break
        await asyncio.sleep(0.05)
    assert (await engine.execute("SELECT 2")).scalar() == 2
    assert engine.stats()["in_use"] == 0


async def test_command_timeout_and_events_take_the_general_path(pg_url: str) -> None:
    e = await create_engine(pg_url, command_timeout=0.2)
    try:
        with pytest.raises(OperationalError, match="command_timeout"):
            await e.execute("SELECT pg_sleep(2)")
        assert (await e.execute("SELECT 3")).scalar() == 3
        seen: list[QueryEvent] = []
        e.events.on("query", seen.append)
        await e.execute("SELECT $1::int", [4])
        assert [ev.sql for ev in seen] == ["SELECT $1::int"]
    finally:
        await e.close()


async def test_ageing_connections_take_the_general_path(pg_url: str) -> None:
    e = await create_engine(pg_url, max_lifetime=0.05)
    try:
        first = (await e.execute("SELECT pg_backend_pid()")).scalar()
        await asyncio.sleep(0.1)
        assert (await e.execute("SELECT pg_backend_pid()")).scalar() != first
    finally:
        await e.close()


async def test_transaction_stream_with_statements_in_between(
    engine: ormkit.Engine, table: str
) -> None:
    await engine.executemany(
        f"INSERT INTO {table} VALUES ($1, $2)", [[i, f"v{i}"] for i in range(1, 10)]
    )
    async with engine.transaction() as tx:
        await tx.execute(f"INSERT INTO {table} VALUES (10, 'mine')")
        got = []
        async for batch in tx.stream(f"SELECT id FROM {table} ORDER BY id", batch_size=4):
            got += batch.column("id")
            await tx.execute(f"UPDATE {table} SET v = 'seen' WHERE id = $1", [got[-1]])
        assert got == list(range(1, 11))
    seen = (await engine.execute(f"SELECT id FROM {table} WHERE v = 'seen' ORDER BY id")).column(
        "id"
    )
    assert seen == [4, 8, 10]


async def test_transaction_stream_closed_early(engine: ormkit.Engine, table: str) -> None:
    await engine.executemany(
        f"INSERT INTO {table} VALUES ($1, $2)", [[i, "x"] for i in range(1, 21)]
    )
    async with engine.transaction() as tx:
        async with contextlib.aclosing(
            tx.stream(f"SELECT id FROM {table}", batch_size=5)
        ) as chunks:
            async for _ in chunks:
                break
        await tx.execute(f"DELETE FROM {table} WHERE id > 10")
    assert (await engine.execute(f"SELECT count(*) FROM {table}")).scalar() == 10
    with pytest.raises(ValueError):
        async with engine.transaction() as tx:
            async for _ in tx.stream("SELECT 1", batch_size=0):
                pass
