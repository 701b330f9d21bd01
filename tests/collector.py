"""The cycle collector's runs around one operation, for the tests that a large read
sets off none (CPython 3.11-3.13's generational collector)."""

from __future__ import annotations

import gc
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest

T = TypeVar("T")

#: skips a test that counts collections where the collector is not generational
GENERATIONAL = pytest.mark.skipif(
    sys.implementation.name != "cpython" or sys.version_info >= (3, 14),
    reason="counts collections of CPython's generational collector (3.11-3.13)",
)


async def collections_during(op: Callable[[], Awaitable[T]]) -> tuple[T, list[int]]:
    """``op``'s result and the generations of the collections that started while it
    ran. In the steady state: ``op`` runs ten times first, so that the interpreter's
    specialised instructions and free lists allocate nothing where their first runs
    do (a generic tuple unpack makes an iterator), then the young count starts from 0
    so that nothing before the operation's own work reaches the threshold."""
    for _ in range(10):
        await op()
    starts: list[int] = []

    def record(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            starts.append(info["generation"])

    gc.collect(0)
    gc.callbacks.append(record)
    try:
        result = await op()
    finally:
        gc.callbacks.remove(record)
    return result, starts
