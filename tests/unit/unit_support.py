"""Helpers shared by the compile tests (imported by name, not through conftest)."""

from __future__ import annotations

from typing import Any

from ormkit.sql import cache_info, clear_cache


def compile_both_ways(stmt: Any, dialect: str) -> tuple[str, list[Any]]:
    """Compile ``stmt`` on a cold cache, then again from the cache; both must agree."""
    clear_cache()
    cold = stmt.to_sql(dialect)
    misses = cache_info()["misses"]
    warm = stmt.to_sql(dialect)
    assert cache_info()["misses"] == misses, "second compile of the same shape missed"
    assert warm == cold
    return cold
