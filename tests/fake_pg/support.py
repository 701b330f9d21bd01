"""Helpers shared by the PostgreSQL client and reliability suites: engines that are
always closed, unique names, and what the server says about our connections."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import ormkit

__all__ = [
    "EngineFactory",
    "activity",
    "unique",
    "wait_for_idle_pool",
    "wait_until",
    "with_options",
]


def unique(prefix: str) -> str:
    """A name no other test uses (tables share one database)."""
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def with_options(url: str, **options: Any) -> str:
    """``url`` with query options added or replaced."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.update({k: str(v) for k, v in options.items()})
    return urlunsplit(parts._replace(query=urlencode(query)))


class EngineFactory:
    """Opens engines for one test and closes every one of them at the end."""

    def __init__(self) -> None:
        self.engines: list[ormkit.Engine] = []

    async def __call__(self, url: str, **options: Any) -> ormkit.Engine:
        engine = await ormkit.create_engine(url, **options)
        self.engines.append(engine)
        return engine

    async def close(self) -> None:
        for engine in self.engines:
            await engine.close()
        # Let the transports finish closing (no ResourceWarning at interpreter exit).
        await asyncio.sleep(0)


@asynccontextmanager
async def engine_factory() -> AsyncIterator[EngineFactory]:
    factory = EngineFactory()
    try:
        yield factory
    finally:
        await factory.close()


async def activity(admin: ormkit.Engine, application_name: str) -> list[dict[str, Any]]:
    """pg_stat_activity rows (pid, state, query) of the connections named so."""
    result = await admin.execute(
        "SELECT pid, state, query FROM pg_stat_activity WHERE application_name = $1",
        [application_name],
    )
    return result.all()


async def wait_until(predicate: Any, timeout: float, interval: float = 0.02) -> float:
    """Polls the (async) ``predicate`` until it is true; returns the seconds it took.
    Raises AssertionError after ``timeout``."""
    started = time.perf_counter()
    while True:
        if await predicate():
            return time.perf_counter() - started
        if time.perf_counter() - started > timeout:
            raise AssertionError(f"condition not reached within {timeout} s")
        await asyncio.sleep(interval)


async def wait_for_idle_pool(engine: ormkit.Engine, timeout: float = 5.0) -> dict[str, Any]:
    """Waits until no connection is in use (background resets done); returns stats."""

    async def idle() -> bool:
        stats = engine.stats()
        return stats["in_use"] == 0 and stats["waiting"] == 0

    await wait_until(idle, timeout)
    return engine.stats()
