"""Precompiled statements (``ormkit.orm.precompiled``) give the same SQL and the same
results as statements compiled the ordinary way, and single-statement writes outside a
transaction behave like the transactional ones did."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from session_models import Account, Doc, Hooked, Item, Setting, User
from statement_log import SqlLog

import ormkit
from ormkit import AsyncSession, StaleDataError
from ormkit.orm import precompiled
from ormkit.query import Query
from ormkit.sql import delete, select, update


async def _users(session: AsyncSession) -> list[User]:
    users = [
        User(name=f"user {i}", email=f"u{i}@x.org", age=None if i % 4 == 0 else 15 + i)
        for i in range(12)
    ]
    await session.insert_all(users)
    return users


def _plain_queries(session: AsyncSession) -> list[Query[User]]:
    q = session.query(User)
    return [
        q,
        q.filter(age__gte=18),
        q.filter(age=20),
        q.filter(age__exact=20),
        q.filter(age__ne=20).order_by("-id"),
        q.filter(age__gt=18, age__lt=24).order_by("name"),
        q.filter(age__lte=20).filter(name__like="user 1%").order_by(User.id),
        q.filter(name__ilike="USER 1%").order_by(User.name.desc()),
        q.filter(email="u3@x.org").limit(3),
        q.filter(age__gte=16).order_by("id").limit(4).offset(2),
        q.filter(age__gte=16).order_by("id").offset(3),
        q.filter(active=True).distinct(),
        q.filter(User.age >= 18).order_by("id"),
        q.filter(User.age != 20, name__like="user%").filter(User.email < "u5").limit(2),
        q.filter(User.age > 18).order_by(User.age.desc()),
    ]


async def test_row_terminals_match_the_compiled_statement(
    session: AsyncSession, sql_log: SqlLog
) -> None:
    await _users(session)
    for query in _plain_queries(session):
        assert query._rows_template(query._limit) is not None, query
        sql, params = query.to_sql()
        sql_log.clear()
        got = await query.all()
        assert sql_log.sql == [sql]
        assert sql_log.events[0].param_count == len(params)
        rows = await session.execute_raw(sql, params)
        assert [u.id for u in got] == [r["id"] for r in rows]
        # first: the same statement with its limit, ordered by primary key when the
        # query has no order_by() (as Django's first())
        ordered = query if query._order else query.order_by("id")
        expected = (await ordered.limit(1).all())[:1] if query._limit != 0 else []
        assert [await query.first()] == (expected or [None])


async def test_templates_are_shared_by_shape_not_values(session: AsyncSession) -> None:
    await _users(session)
    q = session.query(User)
    assert [u.age for u in await q.filter(age__gte=25).order_by("id").all()] == [25, 26]
    assert [u.age for u in await q.filter(age__gte=26).order_by("id").all()] == [26]
    assert [u.age for u in await q.filter(age__gte=99).order_by("id").all()] == []
    assert (await q.filter(email="u5@x.org").one()).age == 20
    assert await q.filter(email="nobody").one_or_none() is None
    # other value types and other shapes are not confused with the cached ones
    assert [u.email for u in await q.filter(name="user 7").all()] == ["u7@x.org"]
    assert len(await q.filter(age=None).all()) == 3  # IS NULL: the ordinary path
    assert len(await q.filter(age__in=[17, 18]).all()) == 2
    assert len(await q.filter(User.age.in_([17, 18])).all()) == 2
    assert q.filter(User.age.in_([17, 18]))._rows_template(None) is None
    assert len(await q.filter(User.age == None).all()) == 3  # noqa: E711 - IS NULL
    assert [u.age for u in await q.filter(User.age > 25).all()] == [26]
    with pytest.raises(TypeError):
        await q.filter(name__like=5).all()


async def test_count_update_delete_match_the_compiled_statements(
    session: AsyncSession, sql_log: SqlLog
) -> None:
    await _users(session)
    # nothing held: the writes go out as compiled (held users would add RETURNING,
    # see test_synchronize_session.py)
    session.expunge_all()
    q = session.query(User).filter(age__gte=20)
    count_sql, _ = q._select(ordered=False).count().to_sql(session.dialect)
    sql_log.clear()
    assert await q.count() == 6
    assert sql_log.sql == [count_sql]
    assert await q.limit(3).count() == 3
    assert await session.query(User).filter(age__gte=20).offset(5).count() == 1

    stmt = update(User).values(name="old").where(*q._conditions())
    sql_log.clear()
    assert await q.update(name="old") == 6
    assert sql_log.sql == [stmt.to_sql(session.dialect)[0]]
    assert await session.query(User).filter(name="old").count() == 6

    stmt_d = delete(User).where(*session.query(User).filter(age__lt=18)._conditions())
    sql_log.clear()
    assert await session.query(User).filter(age__lt=18).delete() == 2
    assert sql_log.sql == [stmt_d.to_sql(session.dialect)[0]]
    assert await session.query(User).count() == 10
    assert not session.in_transaction


async def test_soft_delete_and_version_columns(session: AsyncSession) -> None:
    docs = [Doc(title=t) for t in ("a", "b", "c")]
    await session.insert_all(docs)
    assert await session.query(Doc).filter(title="b").delete() == 1  # soft: sets deleted_at
    assert [d.title for d in await session.query(Doc).order_by("id").all()] == ["a", "c"]
    assert [d.title for d in await session.query(Doc).only_deleted().all()] == ["b"]
    assert await session.query(Doc).with_deleted().count() == 3
    assert await session.query(Doc).filter(title="c").delete(force=True) == 1
    assert await session.query(Doc).with_deleted().count() == 2
    session.expunge_all()
    assert await session.get(Doc, docs[1].id) is None  # soft-deleted: not found
    assert (await session.get(Doc, docs[0].id)).title == "a"  # type: ignore[union-attr]

    account = Account(owner="ann", balance=5)
    await session.insert(account)
    assert await session.query(Account).filter(owner="ann").update(balance=6) == 1
    session.expunge_all()
    fresh = await session.get(Account, account.id)
    assert fresh is not None and fresh.balance == 6 and fresh.version == 2


async def test_get_by_key_of_each_kind(session: AsyncSession, sql_log: SqlLog) -> None:
    users = await _users(session)
    await session.insert_all([Setting(key="k1", value="one"), Setting(key="k2", value="two")])
    session.expunge_all()
    sql_log.clear()
    got = await session.get(User, users[3].id)
    assert got is not None and got.email == "u3@x.org" and got is not users[3]
    assert await session.get(User, users[3].id) is got  # identity map, no query
    assert len(sql_log.sql) == 1
    assert (await session.get(Setting, "k2")).value == "two"  # type: ignore[union-attr]
    assert await session.get(Setting, "nope") is None
    assert await session.get(User, None) is None
    assert await session.get(User, 10**9) is None


async def test_generated_sql_is_the_compiled_one(session: AsyncSession) -> None:
    dialect = session.dialect
    template = precompiled.get_by_pk(User, dialect)
    assert template is not None
    assert template.sql == select(User).where(User.id == 1).to_sql(dialect)[0]
    soft = precompiled.get_by_pk(Doc, dialect)
    assert soft is not None
    assert (
        soft.sql
        == select(Doc).where(Doc.id == 1).where(Doc.deleted_at.is_(None)).to_sql(dialect)[0]
    )
    upd = precompiled.update_by_pk(Account, dialect, ("balance", "version"), True)
    expected = (
        update(Account)
        .values(balance=1, version=2)
        .where(Account.id == 3, Account.version == 1)
        .to_sql(dialect)
    )
    assert upd.sql == expected[0]
    assert upd.params([1, 2, 3, 1]) == expected[1]
    dele = precompiled.delete_in(User, dialect, 3)
    assert dele.sql == delete(User).where(User.id.in_([1, 2, 3])).to_sql(dialect)[0]


async def test_insert_batches_with_different_columns(
    session: AsyncSession, sql_log: SqlLog
) -> None:
    items: list[Any] = [Item(a=i, b=str(i), c=i / 2, d=i % 2 == 0) for i in range(5)]
    items[2].id = 1000
    items[3].e = "e"
    await session.insert_all(items)
    assert [i.id for i in items][2] == 1000
    assert len(sql_log.writes()) == 3  # rows 0-1, row 2 (with its id), rows 3-4
    session.expunge_all()
    got = await session.query(Item).order_by("a").all()
    assert [(i.a, i.b, i.c, i.d, i.e) for i in got] == [(i.a, i.b, i.c, i.d, i.e) for i in items]
    assert got[2].id == 1000


async def test_insert_values_of_every_type(session: AsyncSession) -> None:
    user = User(
        name="Typed",
        email="t@x.org",
        age=3,
        meta={"a": [1, 2]},
        balance=Decimal("1.50"),
        joined=date(2024, 2, 29),
    )
    await session.insert(user)
    session.expunge_all()
    got = await session.get(User, user.id)
    assert got is not None
    assert (got.meta, got.balance, got.joined, got.status) == (
        {"a": [1, 2]},
        Decimal("1.50"),
        date(2024, 2, 29),
        "new",
    )


async def test_one_statement_writes_run_without_a_transaction(
    session: AsyncSession, engine: ormkit.Engine
) -> None:
    users = await _users(session)
    assert not session.in_transaction
    await session.update(users[1], name="renamed")
    await session.remove(users[2])
    await session.force_delete(users[3])
    assert not session.in_transaction
    rows = await engine.execute(f"SELECT id, name FROM {User.__tablename__} ORDER BY id")
    names = {r["id"]: r["name"] for r in rows}
    assert names[users[1].id] == "renamed"
    assert users[2].id not in names and users[3].id not in names
    assert users[2] not in session and users[3] not in session


async def test_failed_update_without_transaction_restores_the_object(
    session: AsyncSession, engine: ormkit.Engine
) -> None:
    users = await _users(session)
    with pytest.raises(ormkit.IntegrityError):
        await session.update(users[1], email="u2@x.org", name="clash")
    assert (users[1].email, users[1].name) == ("u1@x.org", "user 1")
    assert users[1] not in session.dirty
    assert not session.in_transaction
    # and the session still works
    await session.update(users[1], name="fine")
    rows = await engine.execute(f"SELECT name FROM {User.__tablename__} WHERE id = {users[1].id}")
    assert rows.scalar() == "fine"


async def test_stale_version_without_transaction(
    session: AsyncSession, engine: ormkit.Engine
) -> None:
    account = Account(owner="bob", balance=1)
    await session.insert(account)
    await engine.execute(f"UPDATE {Account.__tablename__} SET version = version + 1")
    with pytest.raises(StaleDataError):
        await session.update(account, balance=2)
    assert (account.balance, account.version) == (1, 1)
    with pytest.raises(StaleDataError):
        await session.remove(account)
    assert account in session


async def test_hooks_still_run_in_a_transaction(session: AsyncSession) -> None:
    Hooked.calls.clear()
    obj = Hooked(name="  spaced  ")
    await session.insert(obj)
    await session.update(obj, name="x")
    await session.remove(obj)
    assert Hooked.calls == [
        "before_insert:  spaced  ",
        f"after_insert:{obj.id}",
        "before_update",
        "after_update",
        "before_delete",
        "after_delete",
    ]
    assert not session.in_transaction


async def test_plain_lookup_values_of_other_types(session: AsyncSession) -> None:
    user = User(name="Dee", email="d@x.org", balance=Decimal("2.25"), joined=date(2020, 1, 2))
    await session.insert(user)
    q = session.query(User)
    assert (await q.filter(balance=Decimal("2.25")).one()).id == user.id
    assert (await q.filter(joined__gte=date(2020, 1, 1)).one()).id == user.id
    assert await q.filter(joined__lt=date(2020, 1, 1)).all() == []
    assert (await q.filter(active=True).one()).id == user.id
    assert (await q.filter(meta__plan="pro").all()) == []  # JSON path: the ordinary path


async def test_execute_select_statements(session: AsyncSession, sql_log: SqlLog) -> None:
    await _users(session)
    statements = [
        select(User).where(User.age >= 20).order_by(User.id.desc()).limit(3),
        select(User).filter_by(name="user 3"),
        select(User).filter(age__gt=16, age__lt=22).order_by("name").offset(1),
        select(User).where(User.age.in_([17, 18])),  # the ordinary path
        select(User).where(User.age.is_(None)).order_by("id"),  # the ordinary path
    ]
    for stmt in statements:
        sql, params = stmt.to_sql(session.dialect)
        sql_log.clear()
        result = await session.execute(stmt)
        assert sql_log.sql == [sql]
        rows = await session.execute_raw(sql, params)
        assert [u.id for u in result.scalars().all()] == [r["id"] for r in rows]
    assert precompiled.select_template(statements[0], session.dialect) is not None
    assert precompiled.select_template(statements[3], session.dialect) is None
    assert precompiled.select_template(select(User.id), session.dialect) is None
    values = await session.execute(select(User.name).where(User.age >= 25).order_by("id"))
    assert values.scalars().all() == ["user 10", "user 11"]
