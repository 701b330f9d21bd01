"""Replies read on the loop thread while the loop is idle (src/py/pg_inline.rs): a
statement sent with nothing else to do completes before `query()` returns; anything
else that wants the loop — a ready callback, a due timer, another socket, a slow
reply — gets it, and the statement completes through asyncio as before."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from fake_pg.support import EngineFactory

import ormkit
from ormkit._pg import PgBackend

pytestmark = pytest.mark.pg


def _proto(engine: ormkit.Engine) -> object:
    backend = engine._backend
    assert isinstance(backend, PgBackend)
    (conn,) = backend.pool.idle
    return conn.proto


@pytest.fixture(params=["0", None, "20000"], ids=["no-spin", "default-spin", "longest-spin"])
def spin(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str | None:
    """How long a wait polls before sleeping (ORMKIT_SPIN_US): off, the default, and
    the longest allowed (the whole 20 ms wait)."""
    value: str | None = request.param
    if value is None:
        monkeypatch.delenv("ORMKIT_SPIN_US", raising=False)
    else:
        monkeypatch.setenv("ORMKIT_SPIN_US", value)
    return value


@pytest.fixture
def no_inline(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("ORMKIT_INLINE_WAIT", "0")
    yield


@pytest.mark.usefixtures("spin")
async def test_an_idle_loop_gets_the_reply_before_query_returns(
    pg_url: str, engines: EngineFactory
) -> None:
    engine = await engines(pg_url, max_connections=1, min_connections=1)
    proto = _proto(engine)
    fut = proto.query("SELECT $1::int AS n", [41])  # type: ignore[attr-defined]
    assert fut.done() and fut.result().scalar() == 41
    # A callback waiting to run: the loop is not idle, the statement waits for asyncio.
    asyncio.get_running_loop().call_soon(lambda: None)
    fut = proto.query("SELECT 2")  # type: ignore[attr-defined]
    assert not fut.done()
    assert (await fut).scalar() == 2


@pytest.mark.usefixtures("no_inline")
async def test_inline_waits_can_be_turned_off(pg_url: str, engines: EngineFactory) -> None:
    engine = await engines(pg_url, max_connections=1, min_connections=1)
    fut = _proto(engine).query("SELECT 1")  # type: ignore[attr-defined]
    assert not fut.done()
    assert (await fut).scalar() == 1


@pytest.mark.usefixtures("spin")
async def test_a_slow_reply_completes_through_asyncio(pg_url: str, engines: EngineFactory) -> None:
    engine = await engines(pg_url, max_connections=1, min_connections=1)
    fut = _proto(engine).query("SELECT pg_sleep(0.15), 'late' AS v")  # type: ignore[attr-defined]
    assert not fut.done()  # the wait here stops long before 150 ms
    assert (await fut).column("v") == ["late"]


@pytest.mark.usefixtures("spin")
async def test_timers_fire_on_time_during_a_stream_of_queries(
    pg_url: str, engines: EngineFactory
) -> None:
    engine = await engines(pg_url, max_connections=1)
    await engine.execute("SELECT 1")
    lateness: list[float] = []

    async def ticker() -> None:
        for _ in range(20):
            due = time.perf_counter() + 0.005
            await asyncio.sleep(0.005)
            lateness.append(time.perf_counter() - due)

    tick = asyncio.create_task(ticker())
    count = 0
    while not tick.done():
        assert (await engine.execute("SELECT $1::int", [count])).scalar() == count
        count += 1
    await tick
    assert count > 20 and len(lateness) == 20
    # A timer is never held up behind a wait here (sleeping is never precise: the
    # bound only rules out waits as long as this module's 20 ms limit).
    assert sorted(lateness)[len(lateness) // 2] < 0.015


@pytest.mark.usefixtures("spin")
async def test_another_connection_is_served_while_one_waits(
    pg_url: str, engines: EngineFactory
) -> None:
    engine = await engines(pg_url, max_connections=2, min_connections=2)
    started = time.perf_counter()
    slow = asyncio.create_task(engine.execute("SELECT pg_sleep(0.3), 'slow'"))
    await asyncio.sleep(0)
    fast = [(await engine.execute("SELECT $1::int", [i])).scalar() for i in range(50)]
    assert fast == list(range(50))
    assert time.perf_counter() - started < 0.3 and not slow.done()
    assert (await slow).tuples()[0][1] == "slow"


@pytest.mark.usefixtures("spin")
async def test_a_timeout_still_cancels(pg_url: str, engines: EngineFactory) -> None:
    engine = await engines(pg_url, max_connections=1)
    t0 = time.perf_counter()
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.05):
            await engine.execute("SELECT pg_sleep(2)")
    assert time.perf_counter() - t0 < 0.5
    assert (await engine.execute("SELECT 'next'")).scalar() == "next"


@pytest.mark.usefixtures("spin")
async def test_large_results_and_errors_arrive_whole(pg_url: str, engines: EngineFactory) -> None:
    engine = await engines(pg_url, max_connections=1)
    res = await engine.execute(
        "SELECT g, repeat('x', 100) AS pad FROM generate_series(1, 20000) AS g"
    )
    assert len(res) == 20000 and res.column("g")[-1] == 20000
    with pytest.raises(ormkit.ProgrammingError, match="no_such_table"):
        await engine.execute("SELECT * FROM no_such_table")
    async with await engine.transaction() as tx:
        assert (await tx.execute("SELECT 3")).scalar() == 3
    assert (await engine.execute("SELECT 4")).scalar() == 4


@pytest.mark.parametrize("value", ["abc", "-5", "+5", "1.5", "", "\u00b2", "\u0663"])
async def test_a_bad_spin_setting_is_refused(
    value: str, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORMKIT_SPIN_US", value)
    with pytest.raises(ormkit.ArgumentError, match="ORMKIT_SPIN_US must be a whole number"):
        await ormkit.create_engine(pg_url)


@pytest.mark.parametrize("value", [" 250 ", "99999999999999999999999"])
async def test_a_spin_setting_of_digits_is_taken(
    value: str, pg_url: str, engines: EngineFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORMKIT_SPIN_US", value)  # spaces around; too large: the longest
    engine = await engines(pg_url, max_connections=1, min_connections=1)
    assert (await engine.execute("SELECT 1")).scalar() == 1


@pytest.mark.parametrize(("value", "spins"), [("0", False), ("20000", True)])
async def test_the_spin_polls_awake_then_sleeps(
    value: str, spins: bool, pg_url: str, engines: EngineFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A reply slower than the wait: with the longest spin the loop thread stays on the
    # processor for the whole 20 ms wait; with none it sleeps in poll.
    monkeypatch.setenv("ORMKIT_SPIN_US", value)
    engine = await engines(pg_url, max_connections=1, min_connections=1)
    proto = _proto(engine)
    cpu = time.thread_time()
    fut = proto.query("SELECT pg_sleep(0.1), 'done' AS v")  # type: ignore[attr-defined]
    used = time.thread_time() - cpu
    assert not fut.done()
    assert (await fut).column("v") == ["done"]
    if spins and len(os.sched_getaffinity(0)) >= 2:
        assert used > 0.005
    else:
        assert used < 0.005


@pytest.mark.usefixtures("spin")
async def test_another_thread_wakes_the_loop_during_a_wait(
    pg_url: str, engines: EngineFactory
) -> None:
    # call_soon_threadsafe writes to the loop's self-pipe, which the selector watches:
    # that ends the wait (polling or sleeping) at once, rather than when the reply comes.
    engine = await engines(pg_url, max_connections=1, min_connections=1)
    proto = _proto(engine)
    loop = asyncio.get_running_loop()
    ran = asyncio.Event()
    timer = threading.Timer(0.003, lambda: loop.call_soon_threadsafe(ran.set))
    started = time.perf_counter()
    timer.start()
    fut = proto.query("SELECT pg_sleep(0.015), 'late' AS v")  # type: ignore[attr-defined]
    waited = time.perf_counter() - started
    timer.join()
    assert not fut.done() and waited < 0.012
    await ran.wait()
    assert (await fut).column("v") == ["late"]


async def _known_to_take_a_while(proto: object, sql: str) -> None:
    # A few runs let the connection learn how long the reply takes: the next wait
    # sleeps until shortly before that, then polls awake (src/py/reply_times.rs).
    for _ in range(3):
        await proto.query(sql)  # type: ignore[attr-defined]


@pytest.mark.usefixtures("spin")
async def test_a_wait_timed_from_earlier_replies_still_gives_way(
    pg_url: str, engines: EngineFactory
) -> None:
    engine = await engines(pg_url, max_connections=1, min_connections=1)
    proto = _proto(engine)
    sql = "SELECT pg_sleep(0.0045), 'v' AS v"
    await _known_to_take_a_while(proto, sql)
    # Another socket the loop watches has data: the wait (here one that would sleep
    # until shortly before the reply is due) gives way at once, however slow the
    # machine, and the reply completes through asyncio.
    loop = asyncio.get_running_loop()
    rsock, wsock = socket.socketpair()
    got = asyncio.Event()
    loop.add_reader(rsock, lambda: (rsock.recv(1), got.set()))
    try:
        wsock.send(b"x")
        fut = proto.query(sql)  # type: ignore[attr-defined]
        assert not fut.done()
        await got.wait()
        assert (await fut).column("v") == ["v"]
    finally:
        loop.remove_reader(rsock)
        rsock.close()
        wsock.close()
    # With nothing else to do, the same statement completes as before.
    for _ in range(3):
        assert (await proto.query(sql)).column("v") == ["v"]  # type: ignore[attr-defined]
