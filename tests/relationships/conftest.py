"""Fixtures of the relationships suite: an engine per backend with the suite's tables created
fresh. ``session``, ``sql_log`` and ``queries`` (tests/conftest.py) build on it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from backends import ALL_BACKENDS, engine_with_tables
from rel_models import MODELS

import ormkit


@pytest.fixture(params=ALL_BACKENDS)
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ormkit.Engine]:
    """An engine on each backend with the suite's tables created empty."""
    async with engine_with_tables(request, request.param, tmp_path, MODELS) as eng:
        yield eng
