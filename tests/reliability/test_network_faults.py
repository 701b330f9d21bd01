"""Network faults between ormkit and the server, injected by a proxy: every operation
ends within its timeout with a clear error, nothing hangs, a connection whose byte
stream was cut is thrown away, and the pool serves again once the network is back."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from fake_pg.proxy import FaultProxy
from fake_pg.support import (
    EngineFactory,
    activity,
    wait_for_idle_pool,
    wait_until,
    with_options,
)

import ormkit

pytestmark = pytest.mark.pg

Figure = Callable[[str, str], None]


async def timed_error(
    op: Awaitable[Any], expected: type[BaseException] = ormkit.OperationalError
) -> tuple[BaseException, float]:
    """Awaits ``op``, which must fail with ``expected`` (and not hang past 10 s)."""
    started = time.perf_counter()
    with pytest.raises(expected) as info:
        await asyncio.wait_for(op, 10)
    return info.value, time.perf_counter() - started


async def open_through(
    proxy: FaultProxy, pg_url: str, engines: EngineFactory, app_name: str, **options: Any
) -> ormkit.Engine:
    url = with_options(proxy.url(pg_url), sslmode="disable")
    settings: dict[str, Any] = {
        "max_connections": 1,
        "application_name": app_name,
        "connect_timeout": 0.5,
        "command_timeout": 0.5,
        "acquire_timeout": 0.5,
    }
    settings.update(options)
    return await engines(url, **settings)


async def serves_again(engine: ormkit.Engine, timeout: float = 3.0) -> float:
    """Seconds until the engine answers a query correctly again."""
    started = time.perf_counter()
    while True:
        try:
            value = (await engine.execute("SELECT $1::int AS v", [31337])).scalar()
            assert value == 31337
            return time.perf_counter() - started
        except ormkit.OperationalError:
            if time.perf_counter() - started > timeout:
                raise
            await asyncio.sleep(0.05)


@pytest.mark.parametrize("mode", ["deaf", "blackhole", "reset"])
async def test_connect(
    proxy: FaultProxy, pg_url: str, engines: EngineFactory, app_name: str, mode: str, figure: Figure
) -> None:
    proxy.set_mode(mode)
    exc, elapsed = await timed_error(
        open_through(proxy, pg_url, engines, app_name, connect_timeout=0.5)
    )
    assert "could not connect" in str(exc) or "closed the connection" in str(exc)
    limit = 1.0 if mode != "reset" else 0.5
    assert elapsed < limit, elapsed
    figure(f"connect under {mode}: time to error", f"{elapsed:.3f} s")
    proxy.set_mode("pass")
    engine = await open_through(proxy, pg_url, engines, app_name)
    assert (await engine.execute("SELECT 1")).scalar() == 1


@pytest.mark.parametrize("mode", ["blackhole", "delay"])
async def test_query_and_recovery(
    proxy: FaultProxy,
    pg_url: str,
    engines: EngineFactory,
    app_name: str,
    admin: ormkit.Engine,
    mode: str,
    figure: Figure,
) -> None:
    engine = await open_through(proxy, pg_url, engines, app_name)
    assert (await engine.execute("SELECT 1")).scalar() == 1
    if mode == "blackhole":
        proxy.set_mode("blackhole")
    else:
        proxy.delay = 1.0
    exc, elapsed = await timed_error(engine.execute("SELECT 2"))
    assert "command_timeout" in str(exc)
    assert 0.45 < elapsed < 1.0, elapsed
    figure(f"query under {mode}: time to error", f"{elapsed:.3f} s")
    proxy.set_mode("pass")
    proxy.delay = 0.0
    recovery = await serves_again(engine)
    figure(f"query under {mode}: serving again after restore", f"{recovery:.3f} s")
    assert recovery < 2.0
    await wait_for_idle_pool(engine)
    rows = await activity(admin, app_name)
    assert [r["state"] for r in rows] == ["idle"] * len(rows)


async def test_acquire_needing_a_new_connection(
    proxy: FaultProxy, pg_url: str, engines: EngineFactory, app_name: str, figure: Figure
) -> None:
    # No connect_timeout: only acquire_timeout bounds the new connection.
    engine = await open_through(
        proxy, pg_url, engines, app_name, max_connections=2, connect_timeout=None
    )
    engine_full = await open_through(proxy, pg_url, engines, app_name, max_connections=1)
    tx = await engine.transaction()
    await tx.execute("SELECT 1")
    proxy.set_mode("deaf")
    # The second connection cannot be made: bounded by acquire_timeout/connect_timeout.
    exc, elapsed = await timed_error(engine.execute("SELECT 1"))
    assert "could not connect" in str(exc) and "timed out" in str(exc)
    assert elapsed < 1.0, elapsed
    figure("acquire (new connection) under deaf: time to error", f"{elapsed:.3f} s")
    # And with the pool exhausted, PoolTimeout.
    proxy.set_mode("pass")
    held = await engine_full.transaction()
    await held.execute("SELECT 1")
    proxy.set_mode("deaf")
    _, elapsed = await timed_error(engine_full.execute("SELECT 1"), ormkit.PoolTimeout)
    assert elapsed < 1.0
    figure("acquire (pool exhausted) under deaf: time to PoolTimeout", f"{elapsed:.3f} s")
    proxy.set_mode("pass")
    await held.rollback()
    await tx.commit()
    assert (await engine.execute("SELECT 3")).scalar() == 3
    assert (await engine_full.execute("SELECT 4")).scalar() == 4


async def test_transaction_under_blackhole(
    proxy: FaultProxy, pg_url: str, engines: EngineFactory, app_name: str, figure: Figure
) -> None:
    engine = await open_through(proxy, pg_url, engines, app_name)
    started = time.perf_counter()
    with pytest.raises(ormkit.OperationalError):
        async with engine.transaction() as tx:
            await tx.execute("SELECT 1")
            proxy.set_mode("blackhole")
            await tx.execute("SELECT 2")
    elapsed = time.perf_counter() - started
    assert elapsed < 1.0
    figure("transaction under blackhole: time to error", f"{elapsed:.3f} s")
    # A commit that cannot reach the server fails too.
    proxy.set_mode("pass")
    await serves_again(engine)
    tx = await engine.transaction()
    await tx.execute("SELECT 1")
    proxy.set_mode("blackhole")
    _, elapsed = await timed_error(tx.commit())
    figure("commit under blackhole: time to error", f"{elapsed:.3f} s")
    assert elapsed < 1.0
    proxy.set_mode("pass")
    assert await serves_again(engine) < 2.0


async def test_close_under_blackhole(
    proxy: FaultProxy, pg_url: str, app_name: str, figure: Figure
) -> None:
    url = with_options(proxy.url(pg_url), sslmode="disable")
    engine = await ormkit.create_engine(url, max_connections=2, application_name=app_name)
    busy = asyncio.ensure_future(engine.execute("SELECT pg_sleep(0.2)"))
    await asyncio.sleep(0.05)
    proxy.set_mode("blackhole")
    started = time.perf_counter()
    await asyncio.wait_for(engine.close(), 2)
    elapsed = time.perf_counter() - started
    figure("engine.close under blackhole", f"{elapsed:.3f} s")
    assert elapsed < 1.0
    proxy.set_mode("pass")
    # The statement in flight ends either way (its result or an error), promptly,
    # and its connection is closed instead of going back to the closed pool.
    with contextlib.suppress(ormkit.Error):
        await asyncio.wait_for(busy, 2)
    assert engine.stats() == {"closed": True}

    async def no_links() -> bool:
        return proxy.open_links == 0

    await wait_until(no_links, 2.0)
    with pytest.raises(ormkit.InterfaceError):
        await engine.execute("SELECT 1")


async def test_reset_of_every_connection(
    proxy: FaultProxy, pg_url: str, engines: EngineFactory, app_name: str, figure: Figure
) -> None:
    engine = await open_through(proxy, pg_url, engines, app_name, max_connections=3)
    await asyncio.gather(*(engine.execute("SELECT pg_sleep(0.01)") for _ in range(3)))
    busy = asyncio.ensure_future(engine.execute("SELECT pg_sleep(0.3)"))
    await asyncio.sleep(0.05)
    proxy.set_mode("reset")
    exc, elapsed = await timed_error(busy)
    assert "closed the connection" in str(exc) or "reset" in str(exc).lower(), exc
    figure("query when reset (RST): time to error", f"{elapsed:.3f} s")
    assert elapsed < 0.5
    proxy.set_mode("pass")
    # Idle connections that were reset are discarded; the pool serves again.
    assert await serves_again(engine) < 2.0
    results = await asyncio.gather(*(engine.execute("SELECT 5") for _ in range(6)))
    assert [r.scalar() for r in results] == [5] * 6


async def test_cut_mid_result_discards_the_connection(
    proxy: FaultProxy,
    pg_url: str,
    engines: EngineFactory,
    app_name: str,
    admin: ormkit.Engine,
    figure: Figure,
) -> None:
    engine = await open_through(proxy, pg_url, engines, app_name, command_timeout=5)
    big = "SELECT g, repeat('x', 100) FROM generate_series(1, 20000) g"
    assert len(await engine.execute(big)) == 20000  # prepared and cached
    proxy.set_mode("cut", cut_after=100_000)
    _, elapsed = await timed_error(engine.execute(big))
    figure("cut after 100 kB of a 2 MB result: time to error", f"{elapsed:.3f} s")
    assert elapsed < 0.5
    assert engine.stats()["discarded"] == 1
    proxy.set_mode("pass")
    assert len(await engine.execute(big)) == 20000
    await wait_for_idle_pool(engine)
    assert len(await activity(admin, app_name)) == 1


async def test_cancel_requests_go_through_the_proxy(
    proxy: FaultProxy,
    pg_url: str,
    engines: EngineFactory,
    app_name: str,
    admin: ormkit.Engine,
    figure: Figure,
) -> None:
    engine = await open_through(proxy, pg_url, engines, app_name, command_timeout=None)
    before = proxy.counters.connections
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(engine.execute("SELECT pg_sleep(5)"), 0.2)

    async def stopped() -> bool:
        return all(r["state"] != "active" for r in await activity(admin, app_name))

    took = await wait_until(stopped, 2.0)
    figure("cancel through the proxy: query stopped on the server after", f"{took:.3f} s")
    assert proxy.counters.connections == before + 1, "one CancelRequest connection"
    assert (await engine.execute("SELECT 'next'")).scalar() == "next"
