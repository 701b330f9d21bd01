"""What every contender implements. Methods are coroutines unless ``sync`` is True.

Models returned must carry the attributes id, name, email, age, created_at, score, active
with model types (datetime, bool, ...); parents carry ``children`` (id, parent_id, title).
"""

from __future__ import annotations

from typing import Any


class Contender:
    sync = False
    kind = "raw"  # or "orm"
    # Workloads the contender cannot do, with the reason (shown in the report).
    unsupported: dict[str, str] = {}

    def __init__(self, url: str, slot: int) -> None:
        self.url = url
        self.slot = slot

    async def connect(self) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        pass

    # Latency workloads, one connection.
    async def get_pk(self, pk: int) -> Any: ...
    async def insert(self, row: tuple[Any, ...]) -> int: ...
    async def update(self, pk: int, name: str, score: float) -> None: ...
    async def delete(self, pk: int) -> None: ...
    async def select(self, n: int) -> list[Any]: ...
    async def tuples(self, n: int) -> list[Any]: ...
    async def page(self, min_age: int) -> list[Any]: ...
    async def count(self, min_age: int) -> int: ...
    async def bulk(self, rows: list[tuple[Any, ...]]) -> list[int]: ...
    async def rmw(self, pk: int) -> None:
        """In one transaction: read row pk of items_w (FOR UPDATE on PostgreSQL), then
        write score + 1 and name 'rmw'."""

    async def selectin(self) -> list[Any]: ...

    # Throughput scenario: a pool of `size` connections shared by many tasks.
    async def tp_open(self, size: int) -> None:
        raise NotImplementedError

    async def tp_get(self, pk: int) -> Any:
        raise NotImplementedError

    async def tp_close(self) -> None:
        pass
