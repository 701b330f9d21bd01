"""Set-based writes keep the objects the session holds in step (SQLAlchemy 2.0's
``synchronize_session="fetch"``): ``Query.update()``/``delete()``, ``bulk_update`` and
``session.execute(update(...)/delete(...))`` return the keys (and set columns) of the
rows they wrote when the session tracks objects of the model, and only then."""

from __future__ import annotations

import pytest
from session_models import Account, Doc, Setting, Stamped, User
from statement_log import SqlLog

from ormkit import AsyncSession, delete, update


def _user(name: str, **values: object) -> User:
    return User(name=name, email=f"{name}@x.org", **values)


async def _two(session: AsyncSession) -> tuple[User, User]:
    ann = await session.insert(_user("ann", age=30))
    bob = await session.insert(_user("bob", age=40))
    return ann, bob


async def _stored(session: AsyncSession, column: str, pk: int) -> object:
    result = await session.execute_raw(f"SELECT {column} FROM {User.__tablename__} WHERE id = {pk}")
    return result.scalar()


async def test_query_update_refreshes_tracked_objects_and_snapshots(
    session: AsyncSession, sql_log: SqlLog
) -> None:
    ann, bob = await _two(session)
    n = await session.query(User).filter(id=ann.id).update(name="anna", age=User.age + 1)
    assert n == 1
    assert ann.name == "anna" and ann.age == 31  # the expression's result, from RETURNING
    assert (bob.name, bob.age) == ("bob", 40)  # not matched: untouched
    assert await session.get(User, ann.id) is ann
    assert session.dirty == []  # the new values are the snapshot too
    sql_log.clear()
    await session.commit()
    assert sql_log.writes() == []  # nothing written back
    ann.age = 50  # later changes are still seen against the new snapshot
    await session.commit()
    assert await _stored(session, "age", ann.id) == 50
    assert await _stored(session, "name", ann.id) == "anna"


async def test_bulk_update_refreshes_every_matched_object(session: AsyncSession) -> None:
    ann, bob = await _two(session)
    assert await session.bulk_update(User, {"age": 77}, User.age >= 30) == 2
    assert (ann.age, bob.age) == (77, 77)
    assert (await session.get_or_raise(User, bob.id)).age == 77 and session.dirty == []


async def test_execute_update_without_returning_refreshes_tracked_objects(
    session: AsyncSession,
) -> None:
    ann, bob = await _two(session)
    result = await session.execute(update(User).where(User.name == "bob").values(age=70))
    assert result.rowcount == 1 and result.all() == [] and result.keys() == []
    assert bob.age == 70 and ann.age == 30 and session.dirty == []
    # RETURNING of columns: the caller gets its own columns only
    result = await session.execute(
        update(User).where(User.age >= 30).values(age=User.age + 5).returning(User.name)
    )
    assert sorted(result.scalars().all()) == ["ann", "bob"] and result.keys() == ["name"]
    assert result.rowcount == 2
    assert (ann.age, bob.age) == (35, 75)


async def test_query_delete_removes_tracked_objects(session: AsyncSession) -> None:
    ann, bob = await _two(session)
    assert await session.query(User).filter(id=bob.id).delete() == 1
    assert bob not in session and await session.get(User, bob.id) is None
    assert ann in session and await session.get(User, ann.id) is ann
    result = await session.execute(delete(User).where(User.id == ann.id))
    assert result.rowcount == 1 and result.all() == []
    assert ann not in session and await session.get(User, ann.id) is None
    await session.commit()  # nothing left to write: no DELETE of a missing row


async def test_soft_delete_query_hides_tracked_objects_from_get(session: AsyncSession) -> None:
    doc = await session.insert(Doc(title="draft"))
    keep = await session.insert(Doc(title="final"))
    assert await session.query(Doc).filter(id=doc.id).delete() == 1
    assert doc.deleted_at is not None and session.dirty == []
    assert await session.get(Doc, doc.id) is None
    assert await session.get(Doc, keep.id) is keep and keep.deleted_at is None


async def test_version_and_onupdate_columns_are_synchronized(session: AsyncSession) -> None:
    acct = await session.insert(Account(owner="ann", balance=1))
    before = acct.version
    assert await session.query(Account).filter(id=acct.id).update(balance=5) == 1
    assert acct.balance == 5 and acct.version == before + 1
    acct.balance = 6  # the next UPDATE checks the version the database holds now
    await session.commit()
    assert (await session.query(Account).values_list("balance", flat=True)) == [6]
    stamped = await session.insert(Stamped(name="a"))
    stamp = stamped.updated_at
    await session.query(Stamped).filter(id=stamped.id).update(name="b")
    assert stamped.name == "b" and stamped.updated_at is not None
    assert stamp is None or stamped.updated_at >= stamp
    assert session.dirty == []


async def test_rollback_puts_synchronized_objects_back(session: AsyncSession) -> None:
    ann, bob = await _two(session)
    with pytest.raises(RuntimeError):
        async with session.begin():
            await session.query(User).filter(id=ann.id).update(age=1)
            await session.query(User).filter(id=bob.id).delete()
            assert ann.age == 1 and bob not in session
            raise RuntimeError
    assert ann.age == 30 and session.dirty == []
    assert bob in session and await session.get(User, bob.id) is bob
    async with session.begin():
        async with session.begin():  # a SAVEPOINT rolled back alone
            await session.execute(update(User).where(User.id == ann.id).values(age=2))
            await session.execute(delete(User).where(User.id == bob.id))
            await session.rollback()
        assert ann.age == 30 and await session.get(User, bob.id) is bob


async def test_unflushed_local_changes_are_kept(engine: object) -> None:
    async with AsyncSession(engine, autoflush=False) as session:  # type: ignore[arg-type]
        ann = await session.insert(_user("ann", age=30))
        ann.name = "local"
        await session.query(User).filter(id=ann.id).update(name="db", age=31)
        assert ann.name == "local" and ann.age == 31  # the local change wins, as in SA
        assert session.dirty == [ann]
        await session.commit()
        assert await _stored(session, "name", ann.id) == "local"


async def test_json_snapshot_is_a_copy(session: AsyncSession) -> None:
    ann = await session.insert(_user("ann"))
    await session.query(User).filter(id=ann.id).update(meta={"plan": "pro"})
    assert ann.meta == {"plan": "pro"} and session.dirty == []
    ann.meta["plan"] = "free"  # an in-place edit is still seen
    assert session.dirty == [ann]


async def test_string_keys_and_deferred_loads_are_matched(session: AsyncSession) -> None:
    await session.insert_all([Setting(key="a", value="1"), Setting(key="b", value="2")])
    session.expunge_all()
    loaded = await session.query(Setting).order_by("key").all()  # registering deferred
    await session.query(Setting).filter(key="b").update(value="x")
    assert [s.value for s in loaded] == ["1", "x"]
    assert (await session.get_or_raise(Setting, "b")) is loaded[1]


async def test_pending_objects_flushed_first_are_synchronized(session: AsyncSession) -> None:
    ann = _user("ann", age=1)
    session.add(ann)  # inserted by the autoflush before the UPDATE
    assert await session.query(User).filter(name="ann").update(age=2) == 1
    assert ann.age == 2 and session.dirty == []


async def test_nothing_tracked_sends_the_statement_as_written(
    session: AsyncSession, sql_log: SqlLog
) -> None:
    ann, _bob = await _two(session)
    post_free = await session.insert(Doc(title="x"))
    session.expunge(ann)
    session.expunge(_bob)
    sql_log.clear()
    await session.query(User).filter(id=ann.id).update(age=5)  # only a Doc tracked
    await session.query(User).filter(id=ann.id).delete()
    await session.execute(update(User).values(age=6))
    await session.execute(delete(User).where(User.id == -1))
    assert len(sql_log.writes()) == 4
    assert not any("RETURNING" in sql for sql in sql_log.writes())
    assert post_free in session


async def test_update_of_a_primary_key_is_sent_as_written(
    session: AsyncSession, sql_log: SqlLog
) -> None:
    ann, bob = await _two(session)
    sql_log.clear()
    n = await session.query(User).filter(id=ann.id).update(id=ann.id + 100)
    assert n == 1 and "RETURNING" not in sql_log.writes()[0]
    assert bob.age == 40 and bob in session  # another object is never mistaken for it
