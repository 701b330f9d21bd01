"""Shared fixtures: real databases only (SQLite files, in-memory SQLite, and the
private PostgreSQL server that ``make test`` starts)."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from backends import ALL_BACKENDS, SQLITE_BACKENDS, backend_url
from fake_pg.support import EngineFactory, engine_factory
from pg_cluster import ensure_cluster
from statement_log import SqlLog

import ormkit


@pytest.fixture(scope="session")
def pg_cluster() -> dict[str, str]:
    """The private PostgreSQL server (started on first use when not given by make test)."""
    return ensure_cluster()


@pytest.fixture
async def engines() -> AsyncIterator[EngineFactory]:
    """Engines opened through the factory are closed after the test."""
    async with engine_factory() as factory:
        yield factory


@pytest.fixture
async def admin(pg_cluster: dict[str, str]) -> AsyncIterator[ormkit.Engine]:
    """A superuser engine over the private server's unix socket, to watch the server."""
    engine = await ormkit.create_engine(pg_cluster["ORMKIT_TEST_PG_ADMIN_URL"])
    try:
        yield engine
    finally:
        await engine.close()


@pytest.fixture
def pg_url(pg_cluster: dict[str, str]) -> str:
    return pg_cluster["ORMKIT_TEST_PG_URL"]


@pytest.fixture
def sqlite_path(tmp_path: Path) -> Path:
    return tmp_path / "test.db"


__all__ = ["ALL_BACKENDS", "SQLITE_BACKENDS", "backend_url"]


@pytest.fixture(params=ALL_BACKENDS)
async def any_engine(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[ormkit.Engine]:
    """An engine on a SQLite file, on ``:memory:`` and on PostgreSQL, with no tables."""
    engine = await ormkit.create_engine(backend_url(request, request.param, tmp_path))
    try:
        yield engine
    finally:
        await engine.close()


@pytest.fixture(params=SQLITE_BACKENDS)
async def sqlite_engine(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[ormkit.Engine]:
    """An engine on a SQLite file and on ``:memory:``."""
    engine = await ormkit.create_engine(backend_url(request, request.param, tmp_path))
    try:
        yield engine
    finally:
        await engine.close()


@pytest.fixture
async def session(engine: ormkit.Engine) -> AsyncIterator[ormkit.AsyncSession]:
    """A session on the suite's ``engine`` fixture, closed afterwards."""
    async with ormkit.AsyncSession(engine) as s:
        yield s


@pytest.fixture
def sql_log(engine: ormkit.Engine) -> SqlLog:
    """Records every statement the suite's ``engine`` sends from now on."""
    log = SqlLog()
    engine.events.on("query", log)
    return log


@pytest.fixture
def queries(sql_log: SqlLog) -> SqlLog:
    """The relationships suite's name for :func:`sql_log`."""
    return sql_log


def pytest_collection_modifyitems(config: Any, items: list[pytest.Item]) -> None:
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and "postgresql" in callspec.id:
            item.add_marker(pytest.mark.pg)


@pytest.fixture
def anyio_backend() -> Iterator[str]:
    yield "asyncio"
