"""Cancellation sweep: a scripted piece of work (acquire, begin, insert, select, commit)
is cancelled after 0, 1, 2, ... passes of the event loop, until it completes before the
cancel; then again after 0, 50, 100, ... microseconds. The cancel thus lands at every
await of the work, and in between (while bytes are in flight). After each
run: no connection leaked (pool counters), no backend left ``active`` or ``idle in
transaction``, the next query on the same (only) connection returns its own row, and
the data is all-or-nothing."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest
from fake_pg.support import EngineFactory, activity, unique, wait_until

import ormkit

pytestmark = pytest.mark.pg

Work = Callable[[int, list[str]], Awaitable[None]]
BUSY_STATES = {"active", "idle in transaction", "idle in transaction (aborted)"}


async def run_cancelled_after(
    work: Work, k: int, passes: int | None, delay: float | None = None
) -> tuple[bool, list[str]]:
    """Runs ``work``, cancelling it after ``passes`` loop passes, or after ``delay``
    seconds (neither: never). Returns (completed, the stages it reached)."""
    stages: list[str] = []
    task = asyncio.ensure_future(work(k, stages))
    if delay is not None:
        await asyncio.wait([task], timeout=delay)
        task.cancel()
    elif passes is not None:
        for _ in range(passes):
            await asyncio.sleep(0)
            if task.done():
                break
        task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        return False, stages
    return True, stages


async def settled(engine: ormkit.Engine, admin: ormkit.Engine, app_name: str) -> None:
    """No leaked connection, nothing running or open on the server."""

    async def pool_idle() -> bool:
        s = engine.stats()
        return s["in_use"] == 0 and s["waiting"] == 0

    await wait_until(pool_idle, 5.0, interval=0.002)
    stats = engine.stats()
    assert stats["size"] <= 1 and stats["idle"] == stats["size"], stats

    async def server_idle() -> bool:
        rows = await activity(admin, app_name)
        return not any(r["state"] in BUSY_STATES for r in rows)

    await wait_until(server_idle, 2.0, interval=0.005)


def make_work(kind: str, engine: ormkit.Engine, table: str) -> Work:
    async def transaction(k: int, stages: list[str]) -> None:
        stages.append("acquire")
        async with engine.transaction() as tx:
            stages.append("insert")
            await tx.execute(f"INSERT INTO {table} VALUES ($1)", [k])
            stages.append("select")
            seen = await tx.execute(f"SELECT count(*) FROM {table} WHERE id = $1", [k])
            assert seen.scalar() == 1
            stages.append("commit")
        stages.append("done")

    async def executemany(k: int, stages: list[str]) -> None:
        stages.append("commit")  # one call: BEGIN + batch, then COMMIT
        await engine.executemany(
            f"INSERT INTO {table} VALUES ($1)", [[k * 1000 + i] for i in range(20)]
        )
        stages.append("done")

    async def stream(k: int, stages: list[str]) -> None:
        stages.append("stream")
        ids = []
        async for batch in engine.stream(
            f"SELECT id FROM {table} WHERE id < 0 ORDER BY id", batch_size=3
        ):
            ids.extend(batch.column("id"))
        assert ids == list(range(-10, 0))
        stages.append("done")

    async def execute(k: int, stages: list[str]) -> None:
        stages.append("commit")  # autocommit: the insert may land when cancelled
        await engine.execute(f"INSERT INTO {table} VALUES ($1)", [k])
        assert (await engine.execute("SELECT $1::int", [k])).scalar() == k
        stages.append("done")

    return {
        "transaction": transaction,
        "executemany": executemany,
        "stream": stream,
        "execute": execute,
    }[kind]


async def stored(engine: ormkit.Engine, table: str, kind: str, k: int) -> int:
    if kind == "executemany":
        sql = f"SELECT count(*) FROM {table} WHERE id >= $1 AND id < $1 + 1000"
        return int((await engine.execute(sql, [k * 1000])).scalar())
    sql = f"SELECT count(*) FROM {table} WHERE id = $1"
    return int((await engine.execute(sql, [k])).scalar())


@pytest.mark.parametrize("kind", ["transaction", "executemany", "stream", "execute"])
async def test_cancellation_sweep(
    pg_url: str,
    engines: EngineFactory,
    admin: ormkit.Engine,
    app_name: str,
    kind: str,
    figure: Callable[[str, str], None],
) -> None:
    engine = await engines(pg_url, max_connections=1, application_name=app_name)
    table = unique("sweep")
    await engine.execute(f"CREATE TABLE {table} (id int PRIMARY KEY)")
    await engine.executemany(f"INSERT INTO {table} VALUES ($1)", [[-i] for i in range(1, 11)])
    work = make_work(kind, engine, table)
    full = 20 if kind == "executemany" else 1
    started = time.perf_counter()
    try:
        # Warm run (statements prepared), then the sweep.
        assert (await run_cancelled_after(work, 1, None))[0]
        cancelled_at: dict[str, int] = {}
        k = 2
        runs = 0
        for by_time in (False, True):
            step = 0
            while True:
                if by_time:
                    outcome = await run_cancelled_after(work, k, None, delay=step * 50e-6)
                else:
                    outcome = await run_cancelled_after(work, k, step)
                completed, stages = outcome
                await settled(engine, admin, app_name)
                # The connection serves the next statement with its own result.
                next_sql = "SELECT $1::int AS k FROM pg_sleep(0.002)"
                assert (await engine.execute(next_sql, [k])).scalar() == k
                count = await stored(engine, table, kind, k)
                k += 1
                if completed:
                    assert stages[-1] == "done"
                    assert count == (full if kind != "stream" else 0)
                    break
                runs += 1
                last = stages[-1] if stages else "before start"
                cancelled_at[last] = cancelled_at.get(last, 0) + 1
                # All or nothing; only a cancel during the commit leaves it open.
                if last == "commit":
                    assert count in (0, full), (step, by_time, stages, count)
                else:
                    assert count == 0, (step, by_time, stages, count)
                step += 1
                assert step < 5000, "the work never completed"
        stats = engine.stats()
        assert stats["size"] == 1 and stats["in_use"] == 0
        figure(
            f"{kind}: {runs} cancelled runs (by loop pass, then by time)",
            f"{cancelled_at} in {time.perf_counter() - started:.1f} s, "
            f"{stats['cancelled']} server-side cancels, {stats['discarded']} discarded",
        )
    finally:
        await engine.execute(f"DROP TABLE {table}")
