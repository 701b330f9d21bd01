"""Round trips counted by a proxy on the wire: pipelined BEGIN, cached statements,
pipelined executemany and portal streaming each cost what they should."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest
from fake_pg.proxy import FaultProxy
from fake_pg.support import EngineFactory, unique, wait_for_idle_pool, with_options

import ormkit

pytestmark = pytest.mark.pg


@pytest.fixture
async def proxy(pg_url: str) -> AsyncIterator[FaultProxy]:
    parts = urlsplit(pg_url)
    assert parts.hostname and parts.port
    async with FaultProxy(parts.hostname, parts.port) as proxy:
        yield proxy


@pytest.fixture
async def table(pg_url: str) -> AsyncIterator[str]:
    name = unique("rt")
    engine = await ormkit.create_engine(pg_url, max_connections=1)
    await engine.execute(f"CREATE TABLE {name} (id int PRIMARY KEY, n int NOT NULL)")
    await engine.execute(f"INSERT INTO {name} SELECT g, 0 FROM generate_series(1, 2500) g")
    try:
        yield name
    finally:
        await engine.execute(f"DROP TABLE {name}")
        await engine.close()


async def through(
    proxy: FaultProxy, pg_url: str, engines: EngineFactory, sslmode: str = "disable"
) -> ormkit.Engine:
    url = with_options(proxy.url(pg_url), sslmode=sslmode)
    return await engines(url, max_connections=1)


def trips(proxy: FaultProxy) -> tuple[int, int]:
    return proxy.counters.client_bursts, proxy.counters.server_bursts


@pytest.mark.parametrize("sslmode", ["disable", "require"])
async def test_transaction_costs_two_round_trips(
    proxy: FaultProxy, pg_url: str, engines: EngineFactory, table: str, sslmode: str
) -> None:
    engine = await through(proxy, pg_url, engines, sslmode)
    update = f"UPDATE {table} SET n = n + 1 WHERE id = $1"
    await engine.execute(update, [1])  # prepared and cached
    proxy.reset_counters()
    async with engine.transaction() as tx:
        result = await tx.execute(update, [1])
        assert result.rowcount == 1
    # BEGIN + Bind/Execute/Sync in one write, then COMMIT: two, not three.
    assert trips(proxy) == (2, 2)
    assert (await engine.execute(f"SELECT n FROM {table} WHERE id = 1")).scalar() == 2


async def test_statement_round_trips(
    proxy: FaultProxy, pg_url: str, engines: EngineFactory, table: str
) -> None:
    engine = await through(proxy, pg_url, engines)
    select = f"SELECT n FROM {table} WHERE id = $1"
    proxy.reset_counters()
    await engine.execute(select, [1])
    assert trips(proxy) == (2, 2), "Parse/Describe, then Bind/Execute"
    proxy.reset_counters()
    result = await engine.execute(select, [2])
    assert result.cache_hit
    assert trips(proxy) == (1, 1), "a cached statement is one write and one read"
    proxy.reset_counters()
    async with engine.transaction():
        pass
    assert trips(proxy) == (0, 0), "an empty transaction sends nothing"


async def test_executemany_is_one_pipeline(
    proxy: FaultProxy, pg_url: str, engines: EngineFactory, table: str
) -> None:
    engine = await through(proxy, pg_url, engines)
    update = f"UPDATE {table} SET n = $2 WHERE id = $1"
    sets = [[i, i * 10] for i in range(1, 1001)]
    proxy.reset_counters()
    assert await engine.executemany(update, sets) == 1000
    # BEGIN + Parse/Describe; all Bind/Execute + one Sync; COMMIT.
    assert trips(proxy) == (3, 3)
    proxy.reset_counters()
    assert await engine.executemany(update, [[i, -i] for i in range(1, 2001)]) == 2000
    assert trips(proxy) == (2, 2), "cached: BEGIN + batch, COMMIT"
    total = (await engine.execute(f"SELECT sum(n) FROM {table}")).scalar()
    assert total == -sum(range(1, 2001))
    # Inside a transaction: one round trip for the batch.
    async with engine.transaction() as tx:
        await tx.execute("SELECT 1")
        proxy.reset_counters()
        assert await tx.executemany(update, [[1, 5], [2, 5], [999_999, 5]]) == 2
        assert trips(proxy) == (1, 1)
    assert (await engine.execute(f"SELECT n FROM {table} WHERE id = 2")).scalar() == 5


async def test_executemany_error_mid_batch(
    proxy: FaultProxy, pg_url: str, engines: EngineFactory, table: str
) -> None:
    engine = await through(proxy, pg_url, engines)
    insert = f"INSERT INTO {table} VALUES ($1, 0)"
    proxy.reset_counters()
    with pytest.raises(ormkit.IntegrityError):
        await engine.executemany(insert, [[5000], [5001], [1], [5002]])
    assert trips(proxy)[0] <= 3, "the failing batch is still one pipeline"
    count = f"SELECT count(*) FROM {table} WHERE id >= 5000"
    assert (await engine.execute(count)).scalar() == 0
    with pytest.raises(ormkit.DataError, match="parameter set 2"):
        await engine.executemany(insert, [[6000], [2**40]])
    assert (await engine.execute(count)).scalar() == 0
    assert (await wait_for_idle_pool(engine))["discarded"] == 0


async def test_stream_reads_a_portal_in_chunks(
    proxy: FaultProxy, pg_url: str, engines: EngineFactory, table: str
) -> None:
    engine = await through(proxy, pg_url, engines)
    select = f"SELECT id, n FROM {table} WHERE id > $1 ORDER BY id"
    proxy.reset_counters()
    sizes, ids = [], []
    async for batch in engine.stream(select, [0], batch_size=1000):
        sizes.append(len(batch))
        ids.extend(batch.column("id"))
    assert sizes == [1000, 1000, 500]
    assert ids == list(range(1, 2501))
    # BEGIN + Parse/Describe; Bind/Execute(1000); Execute(1000) twice; COMMIT.
    assert trips(proxy) == (5, 5)
    proxy.reset_counters()
    sizes = [len(b) async for b in engine.stream(select, [2000], batch_size=200)]
    assert sizes == [200, 200, 100]
    assert trips(proxy) == (4, 4), "cached: one round trip per chunk, plus COMMIT"
    assert [len(b) async for b in engine.stream(select, [9999])] == []


async def test_stream_stopped_early_releases_the_connection(
    proxy: FaultProxy, pg_url: str, engines: EngineFactory, table: str
) -> None:
    engine = await through(proxy, pg_url, engines)
    chunks = engine.stream(f"SELECT id FROM {table} ORDER BY id", batch_size=10)
    async with contextlib.aclosing(chunks):
        async for batch in chunks:
            assert batch.column("id")[0] == 1
            break
    stats = await wait_for_idle_pool(engine)
    assert stats["in_use"] == 0 and stats["discarded"] == 0
    # The same (only) connection serves the next statement, outside any transaction.
    assert (await engine.execute("SELECT count(*) FROM pg_cursors WHERE name <> ''")).scalar() == 0
    # A stream inside no transaction still cannot leave one open after an error.
    with pytest.raises(ormkit.ProgrammingError):
        async for _ in engine.stream("SELECT nope FROM " + table):
            pass
    assert (await wait_for_idle_pool(engine))["in_use"] == 0
