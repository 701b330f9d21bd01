"""Fixtures of the relationships suite: an engine per backend with fresh tables, and a
recorder of the statements sent (``engine.events``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from backends import ALL_BACKENDS, engine_with_tables
from rel_models import MODELS
from rel_support import Queries

import ormkit
from ormkit import AsyncSession


@pytest.fixture(params=ALL_BACKENDS)
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ormkit.Engine]:
    """An engine on each backend with the suite's tables created empty."""
    async with engine_with_tables(request, request.param, tmp_path, MODELS) as eng:
        yield eng


@pytest.fixture
async def session(engine: ormkit.Engine) -> AsyncIterator[AsyncSession]:
    """A session on ``engine``, closed afterwards."""
    async with AsyncSession(engine) as s:
        yield s


@pytest.fixture
def queries(engine: ormkit.Engine) -> Queries:
    """Records every statement the engine sends from now on."""
    log = Queries()
    engine.events.on("query", log)
    return log
