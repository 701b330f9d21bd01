"""Counting the event-loop passes other tasks get while a task works."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable


async def loop_passes_during(work: Callable[[], Awaitable[None]]) -> int:
    """How many times a task spinning on ``asyncio.sleep(0)`` ran while ``work`` ran."""
    ticks = 0
    done = False

    async def ticker() -> None:
        nonlocal ticks
        while not done:
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    start = ticks
    try:
        await work()
    finally:
        done = True
        await task
    return ticks - start
