"""stream() keeps memory bounded: 1,000,000 rows with RSS growth under 150 MB."""

from __future__ import annotations

import gc
import time

import pytest
from session_models import Item

import ormkit
from ormkit import AsyncSession

ROWS = 1_000_000
LIMIT_MB = 150


def rss_mb() -> float:
    """Resident set size of this process, in MB (Linux)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


async def fill(engine: ormkit.Engine) -> None:
    table = Item.__tablename__
    if engine.dialect == "postgresql":
        await engine.execute(
            f"INSERT INTO {table} (a, b, c, d, e, f) SELECT g, 'b' || g, g * 0.5, g % 2 = 0, "
            f"NULL, g FROM generate_series(1, {ROWS}) AS g"
        )
    else:
        await engine.execute(
            f"WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < {ROWS}) "
            f"INSERT INTO {table} (a, b, c, d, e, f) SELECT x, 'b' || x, x * 0.5, x % 2 = 0, "
            "NULL, x FROM n"
        )


@pytest.mark.slow
async def test_stream_a_million_rows_in_bounded_memory(engine: ormkit.Engine) -> None:
    await fill(engine)
    async with AsyncSession(engine) as session:
        gc.collect()
        base = rss_mb()
        peak = base
        seen = total = 0
        started = time.perf_counter()
        async for item in session.query(Item).stream(batch_size=2000):
            seen += 1
            total += item.a
            if seen % 50_000 == 0:
                peak = max(peak, rss_mb())
        peak = max(peak, rss_mb())
        elapsed = time.perf_counter() - started
        assert seen == ROWS and total == ROWS * (ROWS + 1) // 2
        assert peak - base < LIMIT_MB, f"RSS grew {peak - base:.0f} MB"
        assert len(session._uow.identity) == 0  # streamed rows are not tracked
        print(f"\n{engine.dialect}: {ROWS} rows in {elapsed:.1f} s, RSS +{peak - base:.0f} MB")
