"""Server-side faults under load: backends terminated (idle and mid-query) and a fast
restart of the server. Every task gets its result or a clear OperationalError, nothing
else; the pool recovers by itself, promptly, and leaks nothing."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from fake_pg.support import EngineFactory, activity, unique, wait_for_idle_pool
from pg_cluster import pg_ctl

import ormkit

pytestmark = pytest.mark.pg

Figure = Callable[[str, str], None]


@dataclass
class Load:
    """Tasks running statements until stopped, keeping score."""

    engine: ormkit.Engine
    table: str
    outcomes: Counter[str] = field(default_factory=Counter)
    messages: Counter[str] = field(default_factory=Counter)
    unexpected: list[BaseException] = field(default_factory=list)
    last_ok: float = 0.0
    stopping: bool = False
    next_id: int = 0

    async def worker(self, n: int) -> None:
        while not self.stopping:
            try:
                await self.step(n)
                self.outcomes["ok"] += 1
                self.last_ok = time.perf_counter()
            except ormkit.OperationalError as exc:
                self.outcomes["OperationalError"] += 1
                self.messages[str(exc).splitlines()[0][:90]] += 1
                await asyncio.sleep(0.01)
            except Exception as exc:
                self.unexpected.append(exc)
                await asyncio.sleep(0.01)

    async def step(self, n: int) -> None:
        kind = n % 3
        if kind == 0:
            assert (await self.engine.execute("SELECT $1::int AS n", [n])).scalar() == n
        elif kind == 1:
            self.next_id += 1
            row_id = self.next_id
            async with self.engine.transaction() as tx:
                await tx.execute(f"INSERT INTO {self.table} VALUES ($1, $2)", [row_id, n])
                got = await tx.execute(f"SELECT n FROM {self.table} WHERE id = $1", [row_id])
                assert got.scalar() == n
        else:
            result = await self.engine.execute("SELECT pg_sleep(0.02), $1::text AS t", [str(n)])
            assert result.column("t") == [str(n)]

    async def run(self, tasks: int, during: Callable[[], object]) -> None:
        workers = [asyncio.ensure_future(self.worker(n)) for n in range(tasks)]
        try:
            await asyncio.sleep(0.3)
            result = during()
            if asyncio.iscoroutine(result):
                await result
        finally:
            self.stopping = True
            await asyncio.wait_for(asyncio.gather(*workers), 30)


async def prepare(engines: EngineFactory, pg_url: str, app_name: str) -> Load:
    engine = await engines(
        pg_url,
        max_connections=10,
        application_name=app_name,
        connect_timeout=2,
        command_timeout=10,
        acquire_timeout=10,
    )
    table = unique("faults")
    await engine.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, n int)")
    return Load(engine, table)


async def test_terminated_backends_under_load(
    pg_url: str, engines: EngineFactory, admin: ormkit.Engine, app_name: str, figure: Figure
) -> None:
    load = await prepare(engines, pg_url, app_name)
    killed: list[int] = []

    async def terminate_all() -> None:
        for _ in range(3):
            rows = await activity(admin, app_name)
            pids = [r["pid"] for r in rows]
            killed.extend(pids)
            for pid in pids:  # idle ones and those mid-query alike
                await admin.execute("SELECT pg_terminate_backend($1)", [pid])
            await asyncio.sleep(0.2)
        await asyncio.sleep(0.3)

    try:
        started_ok = load.outcomes["ok"]
        await load.run(20, terminate_all)
        assert not load.unexpected, load.unexpected[:3]
        assert killed
        assert load.outcomes["ok"] > started_ok
        assert time.perf_counter() - load.last_ok < 0.5, "serving until the end"
        stats = await wait_for_idle_pool(load.engine)
        assert stats["size"] <= 10 and stats["discarded"] >= 1
        figure(
            "terminate every backend 3 times under 20 tasks",
            f"{dict(load.outcomes)}, {len(killed)} backends killed, errors: "
            f"{dict(load.messages.most_common(3))}",
        )
    finally:
        await load.engine.execute(f"DROP TABLE {load.table}")


async def test_fast_restart_under_load(
    pg_cluster: dict[str, str],
    pg_url: str,
    engines: EngineFactory,
    app_name: str,
    figure: Figure,
) -> None:
    load = await prepare(engines, pg_url, app_name)
    timings: dict[str, float] = {}

    async def restart() -> None:
        timings["down"] = time.perf_counter()
        await asyncio.to_thread(pg_ctl, pg_cluster, "restart", "-m", "fast")
        timings["up"] = time.perf_counter()
        ok_before = load.outcomes["ok"]
        while load.outcomes["ok"] == ok_before:
            await asyncio.sleep(0.005)
            assert time.perf_counter() - timings["up"] < 5, "the pool did not recover"
        timings["recovered"] = time.perf_counter()
        await asyncio.sleep(0.5)

    try:
        await load.run(20, restart)
        assert not load.unexpected, load.unexpected[:3]
        assert load.outcomes["OperationalError"] >= 1, "the restart was seen"
        recovery = timings["recovered"] - timings["up"]
        assert recovery < 1.0, recovery
        stats = await wait_for_idle_pool(load.engine)
        assert stats["size"] <= 10 and stats["in_use"] == 0
        figure("pg_ctl restart -m fast", f"{timings['up'] - timings['down']:.2f} s down")
        figure("pool serving again after the server is up", f"{recovery:.3f} s")
        figure(
            "outcomes under 20 tasks",
            f"{dict(load.outcomes)}; errors: {dict(load.messages.most_common(4))}",
        )
    finally:
        await load.engine.execute(f"DROP TABLE IF EXISTS {load.table}")
