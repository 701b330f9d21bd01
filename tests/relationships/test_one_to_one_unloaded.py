"""A one-to-one side set on a row loaded without it (``member.desk = Desk(...)`` after
``session.get(Member, 1)``, or ``Desk(member=member)``): the flush reads the row the
database holds and replaces it as it would on a loaded side, instead of leaving two
children with the parent's key."""

from __future__ import annotations

from rel_models import Badge, Card, Desk, Member
from statement_log import SqlLog

import ormkit
from ormkit import AsyncSession, selectinload


async def rows(engine: ormkit.Engine, table: str, columns: str) -> list[tuple[object, ...]]:
    return (await engine.execute(f"SELECT {columns} FROM {table} ORDER BY id")).tuples()


async def _member_with(session: AsyncSession, **children: object) -> int:
    member = await session.insert(Member(name="m", **children))
    session.expunge_all()
    return member.id


async def test_a_new_child_replaces_the_one_in_the_database(
    session: AsyncSession, engine: ormkit.Engine
) -> None:
    mid = await _member_with(session, desk=Desk(room="old"))
    member = await session.get_or_raise(Member, mid)
    member.desk = Desk(room="new")
    await session.commit()
    assert await rows(engine, Desk.__tablename__, "room, member_id") == [
        ("old", None),
        ("new", mid),
    ]
    assert member.desk is not None and member.desk.room == "new"
    assert session.dirty == []


async def test_a_child_given_its_parent_replaces_the_one_in_the_database(
    session: AsyncSession, engine: ormkit.Engine
) -> None:
    mid = await _member_with(session, desk=Desk(room="old"))
    member = await session.get_or_raise(Member, mid)
    session.add(Desk(room="new", member=member))
    await session.commit()
    assert await rows(engine, Desk.__tablename__, "room, member_id") == [
        ("old", None),
        ("new", mid),
    ]


async def test_none_takes_the_child_in_the_database_out(
    session: AsyncSession, engine: ormkit.Engine
) -> None:
    mid = await _member_with(session, desk=Desk(room="old"))
    member = await session.get_or_raise(Member, mid)
    member.desk = None
    await session.commit()
    assert await rows(engine, Desk.__tablename__, "room, member_id") == [("old", None)]


async def test_the_child_already_in_the_database_is_kept(
    session: AsyncSession, engine: ormkit.Engine, queries: SqlLog
) -> None:
    mid = await _member_with(session, desk=Desk(room="old"))
    desk = await session.query(Desk).one()
    member = await session.get_or_raise(Member, mid)
    member.desk = desk
    queries.clear()
    await session.commit()
    assert queries.writes() == []
    assert await rows(engine, Desk.__tablename__, "room, member_id") == [("old", mid)]


async def test_a_unique_key_is_given_up_before_the_new_child_takes_it(
    session: AsyncSession, engine: ormkit.Engine
) -> None:
    mid = await _member_with(session, badge=Badge(label="old"))
    member = await session.get_or_raise(Member, mid)
    member.badge = Badge(label="new")
    await session.commit()  # was an IntegrityError on the unique member_id
    assert await rows(engine, Badge.__tablename__, "label, member_id") == [
        ("old", None),
        ("new", mid),
    ]


async def test_a_delete_orphan_child_in_the_database_is_deleted(
    session: AsyncSession, engine: ormkit.Engine
) -> None:
    mid = await _member_with(session, card=Card(number="1"))
    member = await session.get_or_raise(Member, mid)
    member.card = Card(number="2")
    await session.commit()
    assert await rows(engine, Card.__tablename__, "number, member_id") == [("2", mid)]


async def test_only_the_parents_that_changed_are_touched(
    session: AsyncSession, engine: ormkit.Engine, queries: SqlLog
) -> None:
    """Several parents set in one flush: one query for their rows, and each parent's
    old child (none for a parent that had none) is the one replaced."""
    a = await _member_with(session, desk=Desk(room="a-old"))
    b = await _member_with(session)
    c = await _member_with(session, desk=Desk(room="c-old"))
    members = await session.query(Member).order_by("id").all()
    members[0].desk = Desk(room="a-new")
    members[1].desk = Desk(room="b-new")
    queries.clear()
    await session.commit()
    reads = [sql for sql in queries.sql if Desk.__tablename__ in sql]
    assert sum(sql.lstrip().upper().startswith("SELECT") for sql in reads) == 1
    assert sorted(await rows(engine, Desk.__tablename__, "room, member_id")) == [
        ("a-new", a),
        ("a-old", None),
        ("b-new", b),
        ("c-old", c),
    ]


async def test_a_load_after_the_assignment_keeps_it(
    session: AsyncSession, engine: ormkit.Engine
) -> None:
    mid = await _member_with(session, desk=Desk(room="old"))
    member = await session.get_or_raise(Member, mid)
    member.desk = Desk(room="new")
    await session.load_related(member, "desk")
    assert member.desk is not None and member.desk.room == "new"
    await session.commit()
    again = await session.query(Member).options(selectinload("desk")).one()
    assert again.desk is not None and again.desk.room == "new"
    assert await rows(engine, Desk.__tablename__, "room, member_id") == [
        ("old", None),
        ("new", mid),
    ]
