"""``session.remove`` of one object of a plain model outside a transaction: one DELETE
by the key the row was loaded with, and the object leaves the session."""

from __future__ import annotations

from session_models import Doc, Hooked, Item
from statement_log import SqlLog

import ormkit
from ormkit import AsyncSession


def item(i: int) -> Item:
    return Item(a=i, b=f"b{i}", c=i / 2, d=True)


async def test_remove_deletes_by_the_loaded_key(
    session: AsyncSession, engine: ormkit.Engine, sql_log: SqlLog
) -> None:
    a, b = item(1), item(2)
    await session.insert_all([a, b])
    old_key = a.id
    a.id = b.id  # changed in memory only: the row to delete is the one loaded
    sql_log.clear()
    await session.remove(a)
    assert len(sql_log.writes()) == 1 and sql_log.writes()[0].startswith("DELETE")
    assert a not in session and not session.in_transaction
    left = await engine.execute(f"SELECT id FROM {Item.__tablename__} ORDER BY id")
    assert left.column(0) == [b.id] and old_key != b.id
    assert await session.get(Item, b.id) is b


async def test_remove_of_a_row_already_gone_is_quiet(
    session: AsyncSession, engine: ormkit.Engine
) -> None:
    a = item(3)
    await session.insert(a)
    await engine.execute(f"DELETE FROM {Item.__tablename__}")
    await session.remove(a)
    assert a not in session


async def test_remove_with_hooks_and_soft_delete_keep_their_paths(
    session: AsyncSession,
) -> None:
    Hooked.calls.clear()
    h = Hooked(name="h")
    await session.insert(h)
    await session.remove(h)
    assert Hooked.calls[-2:] == ["before_delete", "after_delete"]
    doc = Doc(title="d")
    await session.insert(doc)
    await session.remove(doc)
    assert doc.deleted_at is not None
    assert await session.get(Doc, doc.id) is None
