"""The database backends the integration suites run on, and a fresh URL for each."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest

import ormkit

SQLITE_BACKENDS = ["sqlite_file", "sqlite_memory"]
ALL_BACKENDS = [*SQLITE_BACKENDS, "postgresql"]


def backend_url(request: pytest.FixtureRequest, backend: str, tmp_path: Path) -> str:
    """The URL of a fresh database for ``backend``."""
    if backend == "sqlite_file":
        return f"sqlite:///{tmp_path / 'test.db'}"
    if backend == "sqlite_memory":
        return "sqlite::memory:"
    if backend == "postgresql":
        cluster: dict[str, str] = request.getfixturevalue("pg_cluster")
        return cluster["ORMKIT_TEST_PG_URL"]
    raise AssertionError(backend)


@contextlib.asynccontextmanager
async def engine_with_tables(
    request: pytest.FixtureRequest, backend: str, tmp_path: Path, models: Sequence[type[Any]]
) -> AsyncIterator[ormkit.Engine]:
    """An engine on ``backend`` with the tables of ``models`` created empty, dropped and
    closed afterwards."""
    engine = await ormkit.create_engine(backend_url(request, backend, tmp_path))
    try:
        await engine.drop_all(models)
        await engine.create_all(models)
        yield engine
        await engine.drop_all(models)
    finally:
        await engine.close()
