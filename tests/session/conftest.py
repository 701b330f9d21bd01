"""Fixtures of the session suite: an engine per backend with fresh tables, and a
recorder of the statements sent (``engine.events``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from session_models import MODELS
from session_support import SqlLog

import ormkit
from ormkit import AsyncSession

BACKENDS = ["sqlite_file", "sqlite_memory", "postgresql"]


def url_for(request: pytest.FixtureRequest, backend: str, tmp_path: Path) -> str:
    """A fresh database URL for ``backend`` (the private PostgreSQL server for "postgresql")."""
    if backend == "sqlite_file":
        return f"sqlite:///{tmp_path / 'session.db'}"
    if backend == "sqlite_memory":
        return "sqlite::memory:"
    cluster: dict[str, str] = request.getfixturevalue("pg_cluster")
    return cluster["ORMKIT_TEST_PG_URL"]


@pytest.fixture(params=BACKENDS)
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ormkit.Engine]:
    """An engine on each backend with the suite's tables created empty."""
    eng = await ormkit.create_engine(url_for(request, request.param, tmp_path))
    try:
        await eng.drop_all(MODELS)
        await eng.create_all(MODELS)
        yield eng
        await eng.drop_all(MODELS)
    finally:
        await eng.close()


@pytest.fixture
async def session(engine: ormkit.Engine) -> AsyncIterator[AsyncSession]:
    """A session on ``engine``, closed afterwards."""
    async with AsyncSession(engine) as s:
        yield s


@pytest.fixture
def sql_log(engine: ormkit.Engine) -> SqlLog:
    """Records every statement the engine sends from now on."""
    log = SqlLog()
    engine.events.on("query", log)
    return log
