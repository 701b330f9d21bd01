"""Compile tests need no database and no compiled extension."""

from __future__ import annotations

from typing import Any

import pytest
from unit_support import compile_both_ways


@pytest.fixture
def pg() -> Any:
    return lambda stmt: compile_both_ways(stmt, "postgresql")


@pytest.fixture
def lite() -> Any:
    return lambda stmt: compile_both_ways(stmt, "sqlite")
