"""The database backends the integration suites run on, and a fresh URL for each."""

from __future__ import annotations

from pathlib import Path

import pytest

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
