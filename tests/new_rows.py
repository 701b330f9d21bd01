"""The ways a session writes new objects, for tests that check every one of them: the
active-record bulk call, the unit of work's flush, and an upsert of rows that are all
new (no key to match them on)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import ormkit
from ormkit import AsyncSession

#: parametrize a test with these, then call :func:`write_new`
NEW_ROW_CALLS = ["insert_all", "add_all", "upsert_all"]


async def write_new(engine: ormkit.Engine, objs: Sequence[Any], how: str) -> None:
    """Write ``objs`` (new objects with a generated key ``id``) the way ``how`` names,
    in a session of their own."""
    async with AsyncSession(engine) as session:
        if how == "insert_all":
            await session.insert_all(objs)
        elif how == "upsert_all":
            await session.upsert_all(objs, conflict_target=["id"])
        elif how == "add_all":
            session.add_all(objs)
            await session.commit()
        else:
            raise AssertionError(how)
