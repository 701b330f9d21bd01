"""The pool under cancellation, timeouts, killed backends and exhaustion; transactions
that fail leave nothing behind."""

from __future__ import annotations

import asyncio
import time

import pytest
from fake_pg.support import EngineFactory, activity, unique, wait_for_idle_pool, wait_until

import ormkit

pytestmark = pytest.mark.pg


async def no_active_query(admin: ormkit.Engine, app_name: str) -> bool:
    rows = await activity(admin, app_name)
    return all(r["state"] != "active" for r in rows)


async def test_wait_for_cancels_the_query_on_the_server(
    pg_url: str, admin: ormkit.Engine, engines: EngineFactory, app_name: str
) -> None:
    engine = await engines(pg_url, max_connections=1, application_name=app_name)
    started = time.perf_counter()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(engine.execute("SELECT pg_sleep(5)"), 0.3)
    # The server stops the statement (CancelRequest), long before its 5 seconds.
    await wait_until(lambda: no_active_query(admin, app_name), timeout=1.0)
    # The next query on the pool of one returns its own row, at once.
    t0 = time.perf_counter()
    assert (await engine.execute("SELECT $1::int AS n", [7])).all() == [{"n": 7}]
    assert time.perf_counter() - t0 < 1.0
    assert time.perf_counter() - started < 2.0
    stats = await wait_for_idle_pool(engine)
    assert stats["cancelled"] == 1 and stats["discarded"] == 0 and stats["size"] == 1
    rows = await activity(admin, app_name)
    assert [r["state"] for r in rows] == ["idle"]


async def test_command_timeout_cancels(
    pg_url: str, admin: ormkit.Engine, engines: EngineFactory, app_name: str
) -> None:
    engine = await engines(
        pg_url, max_connections=1, application_name=app_name, command_timeout=0.3
    )
    t0 = time.perf_counter()
    with pytest.raises(ormkit.OperationalError) as info:
        await engine.execute("SELECT pg_sleep(5)")
    assert time.perf_counter() - t0 < 1.0
    assert "command_timeout" in str(info.value)
    await wait_until(lambda: no_active_query(admin, app_name), timeout=1.0)
    assert (await engine.execute("SELECT 'after'")).scalar() == "after"
    # Inside a transaction: the timeout ends it, and commit cannot pretend otherwise.
    table = unique("ct")
    await engine.execute(f"CREATE TABLE {table} (n int)")
    try:
        tx = await engine.transaction()
        await tx.execute(f"INSERT INTO {table} VALUES (1)")
        with pytest.raises(ormkit.OperationalError):
            await tx.execute("SELECT pg_sleep(5)")
        with pytest.raises(ormkit.OperationalError, match="cannot be committed"):
            await tx.commit()
        assert (await engine.execute(f"SELECT count(*) FROM {table}")).scalar() == 0
    finally:
        await engine.execute(f"DROP TABLE {table}")
    stats = await wait_for_idle_pool(engine)
    assert stats["discarded"] == 0


async def test_terminated_idle_connection_is_replaced(
    pg_url: str, admin: ormkit.Engine, engines: EngineFactory, app_name: str
) -> None:
    engine = await engines(pg_url, max_connections=1, application_name=app_name)
    pid = (await engine.execute("SELECT pg_backend_pid()")).scalar()
    assert (await admin.execute("SELECT pg_terminate_backend($1)", [pid])).scalar() is True

    async def gone() -> bool:
        return not await activity(admin, app_name)

    await wait_until(gone, timeout=2.0)
    # At most one failure (the pool may not have seen the FATAL yet), then it works.
    errors = 0
    for _ in range(2):
        try:
            new_pid = (await engine.execute("SELECT pg_backend_pid()")).scalar()
            break
        except ormkit.OperationalError:
            errors += 1
    else:
        raise AssertionError("the pool did not recover")
    assert errors <= 1
    assert new_pid != pid
    assert engine.stats()["discarded"] == 1


async def test_terminated_busy_connection_gives_one_error(
    pg_url: str, admin: ormkit.Engine, engines: EngineFactory, app_name: str
) -> None:
    engine = await engines(pg_url, max_connections=1, application_name=app_name)
    query = asyncio.ensure_future(engine.execute("SELECT pg_sleep(5)"))

    async def busy() -> bool:
        return any(r["state"] == "active" for r in await activity(admin, app_name))

    await wait_until(busy, timeout=2.0)
    (pid,) = [r["pid"] for r in await activity(admin, app_name)]
    await admin.execute("SELECT pg_terminate_backend($1)", [pid])
    t0 = time.perf_counter()
    with pytest.raises(ormkit.OperationalError) as info:
        await query
    assert time.perf_counter() - t0 < 1.0
    assert info.value.sqlstate == "57P01" or "closed the connection" in str(info.value)
    # Then the pool works again, on a new backend.
    assert (await engine.execute("SELECT pg_backend_pid() <> $1", [pid])).scalar() is True
    stats = engine.stats()
    assert stats["size"] == 1 and stats["discarded"] == 1


async def test_pool_exhaustion_is_pool_timeout(pg_url: str, engines: EngineFactory) -> None:
    engine = await engines(pg_url, max_connections=2, acquire_timeout=0.2)
    holders = [await engine.transaction() for _ in range(2)]
    for tx in holders:
        await tx.execute("SELECT 1")
    t0 = time.perf_counter()
    with pytest.raises(ormkit.PoolTimeout) as info:
        await engine.execute("SELECT 1")
    elapsed = time.perf_counter() - t0
    assert 0.15 < elapsed < 1.0
    assert isinstance(info.value, ormkit.OperationalError)
    assert "pool of 2" in str(info.value)
    assert engine.stats()["timeouts"] == 1
    # A waiter is served as soon as a connection comes back.
    waiter = asyncio.ensure_future(engine.execute("SELECT 'served'"))
    await asyncio.sleep(0.05)
    assert not waiter.done()
    await holders[0].commit()
    assert (await waiter).scalar() == "served"
    await holders[1].rollback()
    stats = engine.stats()
    assert stats["in_use"] == 0 and stats["size"] == 2


@pytest.mark.parametrize("failure", ["sql error", "python exception", "cancelled"])
async def test_failed_transaction_leaves_no_rows(
    pg_url: str, engines: EngineFactory, failure: str
) -> None:
    engine = await engines(pg_url, max_connections=2)
    table = unique("txfail")
    await engine.execute(f"CREATE TABLE {table} (id int PRIMARY KEY)")
    started = asyncio.Event()

    async def work() -> None:
        async with engine.transaction() as tx:
            await tx.execute(f"INSERT INTO {table} VALUES (1)")
            await tx.executemany(f"INSERT INTO {table} VALUES ($1)", [[2], [3]])
            if failure == "sql error":
                await tx.execute(f"INSERT INTO {table} VALUES (1)")
            elif failure == "python exception":
                raise KeyError("boom")
            started.set()
            await tx.execute("SELECT pg_sleep(5)")

    try:
        if failure == "cancelled":
            task = asyncio.ensure_future(work())
            await started.wait()
            await asyncio.sleep(0.05)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        else:
            expected = ormkit.IntegrityError if failure == "sql error" else KeyError
            with pytest.raises(expected):
                await work()
        await wait_for_idle_pool(engine)
        assert (await engine.execute(f"SELECT count(*) FROM {table}")).scalar() == 0
    finally:
        await engine.execute(f"DROP TABLE {table}")


async def test_executemany_is_atomic(pg_url: str, engines: EngineFactory) -> None:
    engine = await engines(pg_url, max_connections=1)
    table = unique("many")
    await engine.execute(f"CREATE TABLE {table} (id int PRIMARY KEY)")
    try:
        rows = [[i] for i in range(100)] + [[5]]
        with pytest.raises(ormkit.IntegrityError):
            await engine.executemany(f"INSERT INTO {table} VALUES ($1)", rows)
        assert (await engine.execute(f"SELECT count(*) FROM {table}")).scalar() == 0
        assert await engine.executemany(f"INSERT INTO {table} VALUES ($1)", rows[:100]) == 100
        assert (await engine.execute(f"SELECT count(*) FROM {table}")).scalar() == 100
    finally:
        await engine.execute(f"DROP TABLE {table}")


async def test_close_during_a_background_reset_closes_the_connection(
    pg_url: str, admin: ormkit.Engine, app_name: str
) -> None:
    engine = await ormkit.create_engine(pg_url, max_connections=1, application_name=app_name)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(engine.execute("SELECT pg_sleep(5)"), 0.05)
    # The connection is being cancelled and drained in the background: close now.
    await engine.close()

    async def gone() -> bool:
        return not await activity(admin, app_name)

    await wait_until(gone, timeout=2.0)


async def test_waiter_cancelled_as_it_is_served_does_not_leak(
    pg_url: str, engines: EngineFactory
) -> None:
    engine = await engines(pg_url, max_connections=1, acquire_timeout=1)
    tx = await engine.transaction()
    await tx.execute("SELECT 1")
    waiter = asyncio.ensure_future(engine.execute("SELECT 2"))
    await asyncio.sleep(0.01)
    assert engine.stats()["waiting"] == 1
    # The commit hands the connection to the waiter; it is cancelled before it runs.
    await tx.commit()
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    stats = engine.stats()
    assert stats["in_use"] == 0 and stats["idle"] == 1, stats
    assert (await engine.execute("SELECT 3")).scalar() == 3
