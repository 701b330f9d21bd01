"""Unit of work: identity map, change tracking, flush order, commit and rollback."""

from __future__ import annotations

import pytest
from session_models import Account, Post, User
from statement_log import SqlLog

import ormkit
from ormkit import AsyncSession


async def count(engine: ormkit.Engine, model: type) -> int:
    result = await engine.execute(f"SELECT count(*) AS n FROM {model.__tablename__}")
    return int(result.scalar())


async def test_identity_map_one_object_per_row(session: AsyncSession) -> None:
    await session.insert_all([User(name=f"i{i}", email=f"i{i}@x.org", age=i) for i in range(3)])
    session.expunge_all()
    first = await session.query(User).order_by("id").all()
    second = await session.query(User).order_by("-id").all()
    assert [id(o) for o in first] == [id(o) for o in reversed(second)]
    one = await session.query(User).filter(name="i1").one()
    assert one is first[1]
    assert await session.get(User, one.id) is one
    (row,) = (await session.execute(ormkit.select(User).filter_by(name="i1"))).one()
    assert row is one


async def test_clean_objects_follow_the_database(
    session: AsyncSession, engine: ormkit.Engine
) -> None:
    user = await session.insert(User(name="F", email="f@x.org", age=1))
    await engine.execute(f"UPDATE {User.__tablename__} SET age = 5 WHERE id = $1", [user.id])
    assert (await session.query(User).one()) is user and user.age == 5
    user.name = "local"  # an unflushed change is never overwritten by a load
    await engine.execute(f"UPDATE {User.__tablename__} SET age = 6 WHERE id = $1", [user.id])
    session.autoflush = False
    await session.query(User).all()
    assert (user.name, user.age) == ("local", 5)


async def test_dirty_tracking_writes_only_changed_columns(
    session: AsyncSession, sql_log: SqlLog
) -> None:
    users = await session.insert_all(
        [User(name="a", email="a@x.org", age=1, meta={"k": [1]}), User(name="b", email="b@x.org")]
    )
    await session.commit()
    sql_log.clear()
    users[0].age = 2
    users[1].meta = {"x": 1}
    assert set(session.dirty) == set(users)
    await session.commit()
    writes = sql_log.writes()
    assert len(writes) == 2
    table = User.__tablename__
    assert writes[0].startswith(f"UPDATE {table} SET age = ") and "name" not in writes[0]
    assert writes[1].startswith(f"UPDATE {table} SET meta = ") and "age" not in writes[1]
    sql_log.clear()
    users[0].meta["k"].append(2)  # in-place change of a JSON value is seen too
    await session.commit()
    assert len(sql_log.writes()) == 1 and "SET meta = " in sql_log.writes()[0]
    sql_log.clear()
    await session.commit()
    assert sql_log.writes() == []
    async with AsyncSession(session.engine) as other:
        stored = await other.get_or_raise(User, users[0].id)
        assert (stored.age, stored.meta) == (2, {"k": [1, 2]})


async def test_add_flush_commit(session: AsyncSession, engine: ormkit.Engine) -> None:
    user = User(name="n", email="n@x.org")
    session.add(user)
    assert user in session and session.new == [user]
    assert not session.in_transaction
    await session.flush()
    assert isinstance(user.id, int) and session.in_transaction
    assert await session.query(User).count() == 1  # visible inside the transaction
    await session.commit()
    assert not session.in_transaction
    assert await count(engine, User) == 1


async def test_rollback_reaches_the_database_and_the_objects(
    session: AsyncSession, engine: ormkit.Engine
) -> None:
    kept = await session.insert(User(name="kept", email="k@x.org", age=1))
    fresh = User(name="fresh", email="fresh@x.org")
    session.add(fresh)
    kept.age = 99
    await session.flush()
    assert fresh.id is not None
    await session.rollback()
    assert not session.in_transaction
    assert await count(engine, User) == 1
    assert fresh.id is None and fresh not in session
    assert kept.age == 1 and session.dirty == []
    stored = await engine.execute(f"SELECT age FROM {User.__tablename__}")
    assert stored.scalar() == 1
    kept.name = "unflushed"
    await session.rollback()
    assert kept.name == "kept"


async def test_delete_through_the_unit_of_work(
    session: AsyncSession, engine: ormkit.Engine
) -> None:
    users = await session.insert_all([User(name=f"d{i}", email=f"d{i}@x.org") for i in range(3)])
    await session.delete(users[0])
    pending = User(name="p", email="p@x.org")
    session.add(pending)
    await session.delete(pending)  # a pending object is just dropped
    await session.commit()
    assert await count(engine, User) == 2 and users[0] not in session
    with pytest.raises(ormkit.InterfaceError, match="not persistent"):
        await session.delete(User(name="x", email="x"))


async def test_flush_order_respects_foreign_keys(
    session: AsyncSession, engine: ormkit.Engine, sql_log: SqlLog
) -> None:
    session.add(Post(id=1, user_id=10, title="child first"))
    session.add(User(id=10, name="parent", email="parent@x.org"))
    await session.commit()
    writes = sql_log.writes()
    assert writes[0].startswith(f"INSERT INTO {User.__tablename__}")
    assert writes[1].startswith(f"INSERT INTO {Post.__tablename__}")
    post = await session.get_or_raise(Post, 1)
    user = await session.get_or_raise(User, 10)
    await session.delete(user)
    await session.delete(post)
    sql_log.clear()
    await session.commit()
    writes = sql_log.writes()
    assert writes[0].startswith(f"DELETE FROM {Post.__tablename__}")
    assert writes[1].startswith(f"DELETE FROM {User.__tablename__}")


async def test_autoflush_before_queries(session: AsyncSession) -> None:
    session.add(User(name="auto", email="auto@x.org"))
    assert await session.query(User).filter(name="auto").count() == 1
    await session.rollback()
    assert await session.query(User).count() == 0


async def test_connection_held_only_inside_a_transaction(engine: ormkit.Engine) -> None:
    if engine.dialect != "postgresql":
        pytest.skip("pool counters of the PostgreSQL backend")
    base = engine.stats()["in_use"]
    async with AsyncSession(engine) as session:
        await session.insert(Account(owner="x"))
        await session.query(Account).all()
        assert engine.stats()["in_use"] == base
        session.add(Account(owner="y"))
        await session.flush()
        assert engine.stats()["in_use"] == base + 1
        await session.commit()
        assert engine.stats()["in_use"] == base
        session.add(Account(owner="z"))
        await session.flush()
    assert engine.stats()["in_use"] == base  # closing rolled back and released it
    assert await count(engine, Account) == 2


async def test_session_close_discards_uncommitted(engine: ormkit.Engine) -> None:
    async with AsyncSession(engine) as session:
        session.add(User(name="gone", email="gone@x.org"))
        await session.flush()
    assert await count(engine, User) == 0
