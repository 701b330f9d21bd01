"""Fixtures of the PostgreSQL client suite: engines closed after each test, an admin
engine (superuser over the unix socket) to watch the server, unique names."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from fake_pg.support import EngineFactory, engine_factory, unique

import ormkit


@pytest.fixture
async def engines() -> AsyncIterator[EngineFactory]:
    async with engine_factory() as factory:
        yield factory


@pytest.fixture
async def admin(pg_cluster: dict[str, str]) -> AsyncIterator[ormkit.Engine]:
    engine = await ormkit.create_engine(pg_cluster["ORMKIT_TEST_PG_ADMIN_URL"])
    try:
        yield engine
    finally:
        await engine.close()


@pytest.fixture
def app_name() -> str:
    """An application_name only this test's connections carry."""
    return unique("ormkit_test")
