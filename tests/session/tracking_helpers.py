"""What the tests of the session's tracking share: stored ``Item`` rows, the check of a
registered ``Item``, and a bare state class and row class for calling the Rust
registration functions directly."""

from __future__ import annotations

from typing import Any

from session_models import Item

import ormkit
from ormkit import AsyncSession
from ormkit.orm.state import InstanceState


def items(n: int) -> list[Item]:
    """``n`` new items with distinct values."""
    return [Item(a=i, b=f"b{i}", c=i / 2, d=i % 2 == 0, e=None, f=i) for i in range(n)]


def assert_registered(uow: Any, objs: list[Item]) -> None:
    """Each of ``objs`` is tracked as a persistent ``Item`` under its key, with a copy of
    its ``__dict__`` as its snapshot."""
    for obj in objs:
        state = uow.states[id(obj)]
        assert type(state) is InstanceState and state.obj is obj and state.persistent
        assert state.key == (Item, obj.id) and uow.identity[state.key] is obj
        assert state.snapshot == obj.__dict__ and state.snapshot is not obj.__dict__


async def stored_items(engine: ormkit.Engine, n: int) -> list[int]:
    """Insert ``items(n)``; their ids."""
    async with AsyncSession(engine) as s:
        return [o.id for o in await s.insert_all(items(n))]


class SlotState:
    """A state class with the four slots the session's state class has."""

    __slots__ = ("key", "obj", "persistent", "snapshot")


class Row:
    """A plain class for rows."""
