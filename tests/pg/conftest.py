"""Fixtures of the PostgreSQL client suite: engines closed after each test, an admin
engine (superuser over the unix socket) to watch the server, unique names."""

from __future__ import annotations

import pytest
from fake_pg.support import unique


@pytest.fixture
def app_name() -> str:
    """An application_name only this test's connections carry."""
    return unique("ormkit_test")
