"""Active-record calls of AsyncSession on every backend: each its own transaction."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from session_models import Account, Doc, Hooked, Item, Setting, Stamped, Ticket, User
from statement_log import SqlLog

import ormkit
from ormkit import AsyncSession, NoResultFound, StaleDataError, ValidationError, update


async def test_insert_sets_generated_key_and_server_default(
    session: AsyncSession, sql_log: SqlLog
) -> None:
    user = User(name="Ann", email="ann@example.com", age=30, meta={"plan": "pro"})
    assert user.id is None and user.status is None
    returned = await session.insert(user)
    assert returned is user
    assert isinstance(user.id, int) and user.status == "new"
    assert user.active is True and user.meta == {"plan": "pro"}
    assert len(sql_log.writes()) == 1 and "RETURNING" in sql_log.writes()[0]
    assert not session.in_transaction


async def test_insert_all_one_statement_and_every_id(
    session: AsyncSession, sql_log: SqlLog
) -> None:
    users = [User(name=f"u{i}", email=f"u{i}@x.org", age=i) for i in range(25)]
    out = await session.insert_all(users)
    assert out == users
    ids = [u.id for u in users]
    assert len(set(ids)) == 25 and all(isinstance(i, int) for i in ids)
    assert ids == sorted(ids)
    assert len(sql_log.writes()) == 1
    rows = await session.execute_raw(f"SELECT id, email FROM {User.__tablename__} ORDER BY id")
    assert {r["id"]: r["email"] for r in rows} == {u.id: u.email for u in users}
    assert await session.insert_all([]) == []


async def test_insert_all_with_explicit_keys_matches_rows(session: AsyncSession) -> None:
    settings = [Setting(key=k, value=k.upper()) for k in ("b", "a", "c")]
    await session.insert_all(settings)
    assert [s.hits for s in settings] == [0, 0, 0]
    got = await session.get(Setting, "a")
    assert got is settings[1]


async def test_given_keys_and_server_defaults_come_back_together(
    session: AsyncSession, engine: ormkit.Engine
) -> None:
    one = await session.insert(Ticket(title="one"))  # key from the model's default
    assert isinstance(one.id, uuid.UUID) and one.state == "open"
    batch = await session.insert_all([Ticket(title=f"t{i}") for i in range(3)])
    assert [t.state for t in batch] == ["open"] * 3
    explicit = await session.insert(User(id=10, name="Ten", email="ten@example.com"))
    assert explicit.status == "new"
    session.add(Ticket(title="flushed"))
    await session.commit()
    for ticket in [one, *batch]:  # tracked as written: nothing left to write
        assert await session.get(Ticket, ticket.id) is ticket
    assert not session.dirty
    stored = await engine.execute(f"SELECT title, state FROM {Ticket.__tablename__}")
    assert sorted(stored.tuples()) == [
        ("flushed", "open"),
        ("one", "open"),
        ("t0", "open"),
        ("t1", "open"),
        ("t2", "open"),
    ]


async def test_insert_all_is_one_transaction(session: AsyncSession, engine: ormkit.Engine) -> None:
    users = [User(name="a", email="same@x.org"), User(name="b", email="other@x.org")]
    await session.insert(users[0])
    batch = [User(name="c", email="new@x.org"), User(name="d", email="same@x.org")]
    with pytest.raises(ormkit.IntegrityError):
        await session.insert_all(batch)
    # Nothing of the failed call remains, and the objects are back to unsaved.
    count = await engine.execute(f"SELECT count(*) AS n FROM {User.__tablename__}")
    assert count.scalar() == 1
    assert batch[0].id is None and batch[0] not in session


async def test_get_get_or_raise_and_identity(session: AsyncSession, sql_log: SqlLog) -> None:
    user = await session.insert(User(name="Bo", email="bo@x.org", joined=date(2024, 1, 2)))
    sql_log.clear()
    assert await session.get(User, user.id) is user
    assert sql_log.sql == []  # identity map: no query
    assert await session.get(User, 999_999) is None
    with pytest.raises(NoResultFound, match="999999"):
        await session.get_or_raise(User, 999_999)
    async with AsyncSession(session.engine) as other:
        loaded = await other.get_or_raise(User, user.id)
        assert loaded is not user and loaded == user
        assert loaded.joined == date(2024, 1, 2) and loaded.status == "new"
        assert await other.get(User, user.id) is loaded


async def test_update_writes_changed_columns(session: AsyncSession, sql_log: SqlLog) -> None:
    user = await session.insert(User(name="Cy", email="cy@x.org", age=1))
    sql_log.clear()
    await session.update(user, age=2)
    assert user.age == 2
    (sql,) = sql_log.writes()
    assert sql.startswith(f"UPDATE {User.__tablename__} SET age = ")
    assert "name" not in sql and "email" not in sql
    sql_log.clear()
    await session.update(user, age=2)  # nothing changed: nothing sent
    assert sql_log.sql == []
    user.name = "Cyd"
    await session.update(user)
    assert "SET name = " in sql_log.writes()[0]
    fresh = await AsyncSession(session.engine).get(User, user.id)
    assert fresh is not None and (fresh.name, fresh.age) == ("Cyd", 2)


async def test_bulk_update_remove_and_remove_all(session: AsyncSession) -> None:
    users = await session.insert_all(
        [User(name=f"n{i}", email=f"n{i}@x.org", age=i) for i in range(6)]
    )
    assert await session.bulk_update(User, {"active": False}, User.age >= 3) == 3
    assert await session.bulk_update(User, {"age": 100}, name="n0") == 1
    assert await session.query(User).filter(active=False).count() == 3
    await session.remove(users[0])
    assert users[0] not in session
    await session.remove_all(users[1:3])
    assert await session.query(User).count() == 3
    assert await session.get(User, users[1].id) is None


async def test_upsert_and_upsert_all(session: AsyncSession, engine: ormkit.Engine) -> None:
    first = await session.upsert(Setting(key="theme", value="light"), "key")
    assert first.value == "light"
    again = Setting(key="theme", value="dark", hits=5)
    await session.upsert(again, "key", update_fields=["value"])
    assert again.value == "dark" and again.hits == 0  # the stored row comes back
    assert first.value == "dark"  # the object already in the session follows
    rows = await session.upsert_all(
        [Setting(key="theme", value="blue"), Setting(key="lang", value="en")], ["key"]
    )
    assert [r.value for r in rows] == ["blue", "en"]
    stored = await engine.execute(f"SELECT key, value FROM {Setting.__tablename__} ORDER BY key")
    assert stored.tuples() == [("lang", "en"), ("theme", "blue")]
    user = await session.upsert(User(name="U", email="u@x.org", age=1), "email")
    same = await session.upsert(User(name="U2", email="u@x.org", age=2), "email")
    assert same.id == user.id and same.name == "U2"


async def test_soft_delete_restore_force_delete(session: AsyncSession) -> None:
    docs = await session.insert_all([Doc(title="a"), Doc(title="b"), Doc(title="c")])
    await session.soft_delete(docs[0])
    assert isinstance(docs[0].deleted_at, datetime)
    await session.remove(docs[1])  # remove() on a soft-delete model is soft
    assert [d.title for d in await session.query(Doc).order_by("id").all()] == ["c"]
    assert await session.query(Doc).with_deleted().count() == 3
    assert {d.title for d in await session.query(Doc).only_deleted().all()} == {"a", "b"}
    assert await session.get(Doc, docs[0].id) is None
    await session.restore(docs[0])
    assert docs[0].deleted_at is None
    assert await session.query(Doc).count() == 2
    await session.force_delete(docs[1])
    assert await session.query(Doc).with_deleted().count() == 2
    assert await session.query(Doc).delete() == 2  # soft
    assert await session.query(Doc).with_deleted().count() == 2
    assert await session.query(Doc).with_deleted().delete(force=True) == 2
    assert await session.query(Doc).with_deleted().count() == 0
    with pytest.raises(TypeError, match="SoftDeleteMixin"):
        await session.soft_delete(User(name="x", email="x"))


async def test_timestamps_are_maintained(session: AsyncSession) -> None:
    row = await session.insert(Stamped(name="t"))
    created, updated = row.created_at, row.updated_at
    assert created.tzinfo is not None and updated >= created
    await asyncio.sleep(0.01)
    await session.update(row, name="t2")
    assert row.created_at == created and row.updated_at > updated
    async with AsyncSession(session.engine) as other:
        stored = await other.get_or_raise(Stamped, row.id)
        assert stored.updated_at == row.updated_at and stored.created_at == created


async def test_update_statements_set_updated_at_too(session: AsyncSession) -> None:
    row = await session.insert(Stamped(name="s"))
    created, updated = row.created_at, row.updated_at
    await asyncio.sleep(0.01)
    stmt = update(Stamped).where(Stamped.id == row.id).values(name="s2")
    assert (await session.execute(stmt)).rowcount == 1
    await session.refresh(row)
    assert row.name == "s2" and row.created_at == created and row.updated_at > updated
    # a value given for it is kept
    fixed = datetime(2020, 1, 2, tzinfo=UTC)
    await session.execute(update(Stamped).where(Stamped.id == row.id).values(updated_at=fixed))
    await session.refresh(row)
    assert row.updated_at == fixed


async def test_optimistic_locking_second_writer(
    session: AsyncSession, engine: ormkit.Engine
) -> None:
    acct = await session.insert(Account(owner="ann", balance=10))
    assert acct.version == 1
    await session.update(acct, balance=20)
    assert acct.version == 2
    async with AsyncSession(engine) as other:
        theirs = await other.get_or_raise(Account, acct.id)
        await other.update(theirs, balance=99)
        assert theirs.version == 3
    with pytest.raises(StaleDataError):
        await session.update(acct, balance=30)
    assert (acct.balance, acct.version) == (20, 2)  # back to what this session knew
    await session.refresh(acct)
    assert (acct.balance, acct.version) == (99, 3)
    await session.update(acct, balance=31)
    assert acct.version == 4
    stale = Account(id=acct.id, owner="ann", balance=0, version=1)
    with pytest.raises(StaleDataError):
        await AsyncSession(engine).remove(stale)
    assert await session.query(Account).count() == 1


async def test_an_upsert_moves_the_version_on(session: AsyncSession) -> None:
    acct = await session.insert(Account(owner="ann", balance=10))
    await session.update(acct, balance=20)
    assert acct.version == 2
    async with AsyncSession(session.engine) as other:  # a fresh object: version 1 given
        merged = await other.upsert(Account(id=acct.id, owner="ann", balance=5), ["id"])
        assert (merged.balance, merged.version) == (5, 3)  # not set back to 1
        created = await other.upsert(Account(owner="bob", balance=1), ["id"])
        assert created.version == 1  # an insert starts at 1
    with pytest.raises(StaleDataError):  # this session's copy is stale, as after any write
        await session.update(acct, balance=30)


async def test_bulk_query_update_bumps_version(session: AsyncSession) -> None:
    acct = await session.insert(Account(owner="bo"))
    assert await session.query(Account).filter(owner="bo").update(balance=5) == 1
    await session.refresh(acct)
    assert (acct.balance, acct.version) == (5, 2)


async def test_lifecycle_hooks(session: AsyncSession) -> None:
    Hooked.calls.clear()
    obj = await session.insert(Hooked(name="  spaced  "))
    assert obj.name == "spaced"
    assert Hooked.calls == ["before_insert:  spaced  ", f"after_insert:{obj.id}"]
    Hooked.calls.clear()
    await session.update(obj, name="other")
    await session.remove(obj)
    assert Hooked.calls == ["before_update", "after_update", "before_delete", "after_delete"]


async def test_a_hook_refusing_an_update_leaves_the_object_as_it_was(
    session: AsyncSession, engine: ormkit.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The values stayed on the object (dirty), and the next commit wrote what the hook
    refused: an update, a soft delete, a value the hook made invalid."""

    def refuse(self: object) -> None:
        raise PermissionError("refused")

    obj = await session.insert(Hooked(name="good"))
    doc = await session.insert(Doc(title="published"))
    monkeypatch.setattr(Hooked, "before_update", refuse)
    monkeypatch.setattr(Doc, "before_update", refuse, raising=False)
    with pytest.raises(PermissionError):
        await session.update(obj, name="rejected")
    with pytest.raises(PermissionError):
        await session.soft_delete(doc)
    async with session.begin():
        with pytest.raises(PermissionError):
            await session.update(obj, name="rejected in a transaction")
    assert (obj.name, doc.deleted_at, session.dirty) == ("good", None, [])

    def invalid(self: Hooked) -> None:
        self.name = None  # type: ignore[assignment]  # not nullable: ValidationError

    monkeypatch.setattr(Hooked, "before_update", invalid)
    with pytest.raises(ValidationError):
        await session.update(obj, name="bad")
    assert obj.name == "good"
    monkeypatch.undo()
    await session.update(obj, name="fine")
    await session.commit()
    names = await engine.execute(f"SELECT name FROM {Hooked.__tablename__}")
    assert names.column("name") == ["fine"]
    assert await session.query(Doc).count() == 1


async def test_refresh_and_execute_raw(session: AsyncSession, engine: ormkit.Engine) -> None:
    user = await session.insert(User(name="R", email="r@x.org", balance=Decimal("1.50")))
    await engine.execute(f"UPDATE {User.__tablename__} SET age = 42 WHERE id = $1", [user.id])
    user.name = "local change"
    await session.refresh(user)
    assert (user.name, user.age, user.balance) == ("R", 42, Decimal("1.50"))
    assert session.dirty == []
    result = await session.execute_raw(
        f"SELECT count(*) AS n FROM {User.__tablename__} WHERE age = $1", [42]
    )
    assert result.scalar() == 1
    await session.remove(user)
    with pytest.raises(NoResultFound):
        await session.refresh(user)


async def test_insert_all_twenty_thousand_rows(engine: ormkit.Engine, sql_log: SqlLog) -> None:
    """insert_all of 20,000 rows x 6 columns: every id back, batches under the limit."""
    items = [
        Item(a=i, b=f"b{i}", c=i / 2, d=i % 2 == 0, e=None if i % 3 else "e", f=i * 7)
        for i in range(20_000)
    ]
    async with AsyncSession(engine) as session:
        await session.insert_all(items)
        ids = [it.id for it in items]
        assert len(set(ids)) == 20_000 and None not in ids
        inserts = sql_log.writes()
        limit = 65535 if engine.dialect == "postgresql" else 32766
        assert len(inserts) == -(-20_000 * 6 // (limit - limit % 6))
        assert await session.query(Item).count() == 20_000
        row = await session.query(Item).filter(a=12_345).one()
        assert row is items[12_345] and row.id == ids[12_345]
        stored = await engine.execute(f"SELECT id, a FROM {Item.__tablename__} WHERE a = $1", [777])
        assert stored.one() == {"id": items[777].id, "a": 777}
