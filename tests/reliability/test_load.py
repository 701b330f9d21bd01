"""Load: 50 tasks on a pool of 10, mixed reads and writes, for a bounded time (about
60 s in the default run, ``ORMKIT_LOAD_SECONDS`` to change it; the ``soak`` variant runs
``ORMKIT_SOAK_SECONDS``, 300 by default). Zero errors, no leaked connection, memory
flat after warm-up (RSS growth under 20 MB), queries per second reported."""

from __future__ import annotations

import asyncio
import gc
import os
import random
import time
from collections import Counter
from collections.abc import Callable

import pytest
from fake_pg.support import EngineFactory, activity, unique, wait_for_idle_pool

import ormkit

pytestmark = pytest.mark.pg

TASKS = 50
POOL = 10
MAX_RSS_GROWTH = 20 * 1024 * 1024


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def run_load(
    pg_url: str,
    engines: EngineFactory,
    admin: ormkit.Engine,
    app_name: str,
    seconds: float,
    figure: Callable[[str, str], None],
) -> None:
    engine = await engines(
        pg_url, max_connections=POOL, application_name=app_name, command_timeout=30
    )
    table = unique("load")
    await engine.execute(
        f"CREATE TABLE {table} (id bigint PRIMARY KEY, owner int NOT NULL, "
        "payload text NOT NULL, n int NOT NULL DEFAULT 0)"
    )
    await engine.executemany(
        f"INSERT INTO {table} (id, owner, payload) VALUES ($1, $2, $3)",
        [[i, i % TASKS, f"seed {i}"] for i in range(1, 2001)],
    )
    counts: Counter[str] = Counter()
    errors: list[BaseException] = []
    stop_at = time.monotonic() + seconds
    ids = iter(range(10_000_000, 100_000_000))

    async def worker(n: int) -> None:
        rng = random.Random(n)
        while time.monotonic() < stop_at:
            op = rng.random()
            try:
                if op < 0.45:
                    key = rng.randint(1, 2000)
                    row = (
                        await engine.execute(
                            f"SELECT id, payload FROM {table} WHERE id = $1", [key]
                        )
                    ).one()
                    assert row["id"] == key
                    counts["queries"] += 1
                elif op < 0.65:
                    new_id = next(ids)
                    async with engine.transaction() as tx:
                        await tx.execute(
                            f"INSERT INTO {table} (id, owner, payload) VALUES ($1, $2, $3)",
                            [new_id, n, "x" * rng.randint(0, 200)],
                        )
                        got = await tx.execute(f"SELECT owner FROM {table} WHERE id = $1", [new_id])
                        assert got.scalar() == n
                    counts["queries"] += 2
                elif op < 0.85:
                    result = await engine.execute(
                        f"UPDATE {table} SET n = n + 1 WHERE id = $1", [rng.randint(1, 2000)]
                    )
                    assert result.rowcount == 1
                    counts["queries"] += 1
                elif op < 0.95:
                    base = next(ids)
                    rows = [[base + i, n, "batch"] for i in range(10)]
                    # Reserve the ids the batch uses.
                    for _ in range(9):
                        next(ids)
                    affected = await engine.executemany(
                        f"INSERT INTO {table} (id, owner, payload) VALUES ($1, $2, $3)", rows
                    )
                    assert affected == 10
                    counts["queries"] += 10
                else:
                    seen = 0
                    async for batch in engine.stream(
                        f"SELECT id FROM {table} WHERE owner = $1 AND id <= 2000",
                        [n],
                        batch_size=16,
                    ):
                        seen += len(batch)
                    assert seen == 40
                    counts["queries"] += 1
            except Exception as exc:
                errors.append(exc)

    warmup = min(5.0, seconds / 4)
    started = time.perf_counter()
    workers = [asyncio.ensure_future(worker(n)) for n in range(TASKS)]
    try:
        await asyncio.sleep(warmup)
        gc.collect()
        rss_warm, queries_warm, t_warm = rss_bytes(), counts["queries"], time.perf_counter()
        await asyncio.wait_for(asyncio.gather(*workers), seconds + 60)
        elapsed = time.perf_counter() - t_warm
        gc.collect()
        growth = rss_bytes() - rss_warm
        qps = (counts["queries"] - queries_warm) / elapsed
        figure(
            f"{TASKS} tasks on a pool of {POOL} for {time.perf_counter() - started:.0f} s",
            f"{qps:,.0f} queries/s after warm-up, {counts['queries']:,} queries, "
            f"{len(errors)} errors, RSS growth {growth / 2**20:+.1f} MB",
        )
        assert not errors, errors[:3]
        assert growth < MAX_RSS_GROWTH, f"RSS grew by {growth / 2**20:.1f} MB"
        stats = await wait_for_idle_pool(engine)
        assert stats["in_use"] == 0 and stats["size"] <= POOL and stats["timeouts"] == 0
        rows = await activity(admin, app_name)
        assert len(rows) == stats["size"] and all(r["state"] == "idle" for r in rows), rows
    finally:
        for w in workers:
            w.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        await engine.execute(f"DROP TABLE {table}")


async def test_load(
    pg_url: str,
    engines: EngineFactory,
    admin: ormkit.Engine,
    app_name: str,
    figure: Callable[[str, str], None],
) -> None:
    seconds = float(os.environ.get("ORMKIT_LOAD_SECONDS", "60"))
    await run_load(pg_url, engines, admin, app_name, seconds, figure)


@pytest.mark.soak
async def test_soak(
    pg_url: str,
    engines: EngineFactory,
    admin: ormkit.Engine,
    app_name: str,
    figure: Callable[[str, str], None],
) -> None:
    seconds = float(os.environ.get("ORMKIT_SOAK_SECONDS", "300"))
    await run_load(pg_url, engines, admin, app_name, seconds, figure)
