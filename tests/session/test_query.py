"""The fluent Query and session.execute(select(...)) on every backend."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from session_models import Post, User
from statement_log import SqlLog

import ormkit
from ormkit import AsyncSession, Q, delete, insert, select, update
from ormkit.sql import func


@pytest.fixture
async def people(session: AsyncSession) -> list[User]:
    rows = [
        User(name="Ann", email="ann@x.org", age=31, meta={"plan": "pro", "n": 3},
             balance=Decimal("10.50"), joined=date(2020, 1, 1)),
        User(name="Bob", email="bob@x.org", age=17, meta={"plan": "free", "n": 1},
             balance=Decimal("2.25"), joined=date(2021, 6, 1)),
        User(name="Cy", email="cy@x.org", age=None, meta=None, active=False),
        User(name="Di_a%", email="di@x.org", age=45, meta={"plan": "pro", "n": 7},
             balance=Decimal("0"), joined=date(2019, 3, 4)),
    ]  # fmt: skip
    await session.insert_all(rows)
    return rows


async def names(query: ormkit.Query[User]) -> list[str]:
    return [u.name for u in await query.all()]


async def test_filters_and_lookups(session: AsyncSession, people: list[User]) -> None:
    q = session.query(User).order_by("name")
    assert await names(q.filter(age__gte=18)) == ["Ann", "Di_a%"]
    assert await names(q.filter(User.age < 20)) == ["Bob"]
    assert await names(q.filter_by(name="Cy")) == ["Cy"]
    assert await names(q.exclude(age__gte=18)) == ["Bob"]  # SQL: NOT (NULL >= 18) is NULL
    assert await names(q.filter(age__isnull=True)) == ["Cy"]
    assert await names(q.filter(name__in=["Ann", "Cy", "zz"])) == ["Ann", "Cy"]
    assert await names(q.filter(name__in=[])) == []
    assert await names(q.filter(name__notin=[])) == ["Ann", "Bob", "Cy", "Di_a%"]
    assert await names(q.filter(name__contains="_a%")) == ["Di_a%"]  # escaped
    assert await names(q.filter(name__icontains="AN")) == ["Ann"]
    assert await names(q.filter(name__startswith="B", active=True)) == ["Bob"]
    assert await names(q.filter(age__between=(17, 31))) == ["Ann", "Bob"]
    assert await names(q.filter(Q(age__lt=18) | Q(name="Di_a%"))) == ["Bob", "Di_a%"]
    assert await names(q.filter(~Q(active=True))) == ["Cy"]
    assert await names(q.filter(meta__plan="pro")) == ["Ann", "Di_a%"]
    assert await names(q.filter(meta__n__gt=2)) == ["Ann", "Di_a%"]
    assert await names(q.filter(ormkit.or_(User.age > 40, User.name == "Bob"))) == ["Bob", "Di_a%"]
    assert await names(q.filter(joined__lt=date(2020, 6, 1))) == ["Ann", "Di_a%"]


async def test_ordering_limit_offset_distinct(session: AsyncSession, people: list[User]) -> None:
    assert await names(session.query(User).order_by("-name")) == ["Di_a%", "Cy", "Bob", "Ann"]
    assert await names(session.query(User).order_by("name", desc=True).limit(2)) == [
        "Di_a%",
        "Cy",
    ]
    by_age = session.query(User).filter(age__isnull=False).order_by(User.age.desc(), "name")
    assert await names(by_age.offset(1)) == ["Ann", "Bob"]
    page = session.query(User).order_by("name").limit(2).offset(1)
    assert await names(page) == ["Bob", "Cy"]
    assert await session.query(User).distinct().count() == 4
    base = session.query(User)
    assert base.limit(1) is not base and await base.count() == 4  # builders return copies


async def test_terminals(session: AsyncSession, people: list[User]) -> None:
    q = session.query(User)
    assert (await q.order_by("name").first()) is people[0]
    assert await q.filter(name="nobody").first() is None
    assert (await q.filter(name="Bob").one()) is people[1]
    with pytest.raises(ormkit.NoResultFound):
        await q.filter(name="nobody").one()
    with pytest.raises(ormkit.MultipleResultsFound):
        await q.one()
    with pytest.raises(ormkit.MultipleResultsFound):
        await q.one_or_none()
    assert await q.filter(name="nobody").one_or_none() is None
    assert await q.count() == 4 and await q.filter(active=False).count() == 1
    assert await q.exists() is True and await q.filter(age__gt=100).exists() is False
    assert await q.sum("age") == 93 and isinstance(await q.sum("age"), int)
    assert await q.avg(User.age) == pytest.approx(31.0)
    assert await q.min("age") == 17 and await q.max("age") == 45
    assert await q.min("joined") == date(2019, 3, 4)
    assert await q.sum("balance") == Decimal("12.75")
    assert await q.filter(age__gt=100).sum("age") is None
    collected = [u.name async for u in q.order_by("name")]
    assert collected == ["Ann", "Bob", "Cy", "Di_a%"]
    streamed = [u async for u in q.order_by("name").stream(batch_size=3)]
    assert streamed == people and streamed[0] is people[0]


async def test_group_by_and_having(session: AsyncSession, people: list[User]) -> None:
    rows = await session.execute(
        select(User.active, ormkit.sql.func.count().label("n")).group_by(User.active)
    )
    assert sorted((bool(a), n) for a, n in rows.all()) == [(False, 1), (True, 3)]
    grouped = session.query(User).group_by("active", "id").having(age__gt=20)
    assert sorted(u.name for u in await grouped.all()) == ["Ann", "Di_a%"]


async def test_values_and_values_list(session: AsyncSession, people: list[User]) -> None:
    q = session.query(User).order_by("name")
    assert await q.filter(age__gt=30).values("name", "joined") == [
        {"name": "Ann", "joined": date(2020, 1, 1)},
        {"name": "Di_a%", "joined": date(2019, 3, 4)},
    ]
    assert await q.values_list("name", flat=True) == ["Ann", "Bob", "Cy", "Di_a%"]
    assert await q.limit(2).values_list(User.name, "balance") == [
        ("Ann", Decimal("10.50")),
        ("Bob", Decimal("2.25")),
    ]
    everything = await q.limit(1).values()
    assert everything[0]["meta"] == {"plan": "pro", "n": 3} and everything[0]["active"] is True
    with pytest.raises(ValueError, match="exactly one"):
        await q.values_list("name", "age", flat=True)


async def test_query_update_and_delete(session: AsyncSession, people: list[User]) -> None:
    assert await session.query(User).filter(age__lt=18).update(active=False) == 1
    assert await session.query(User).filter(active=False).count() == 2
    assert await session.query(User).filter(active=False).delete() == 2
    assert await session.query(User).count() == 2


async def test_to_sql_and_select_for_update(session: AsyncSession, people: list[User]) -> None:
    sql, params = session.query(User).filter(age__gte=18).order_by("-name").limit(5).to_sql()
    ph = "$1" if session.dialect == "postgresql" else "?"
    assert f"WHERE age >= {ph}" in sql and "ORDER BY name DESC" in sql and params == [18, 5]
    async with session.begin():
        locked = await session.query(User).filter(name="Ann").select_for_update().all()
        assert locked == [people[0]]
    sql, _ = session.query(User).select_for_update().to_sql()
    assert ("FOR UPDATE" in sql) == (session.dialect == "postgresql")


async def test_session_execute_statements(
    session: AsyncSession, people: list[User], sql_log: SqlLog
) -> None:
    result = await session.execute(select(User).where(User.age >= 18).order_by("name"))
    assert result.scalars().all() == [people[0], people[3]]
    assert (await session.execute(select(User).filter_by(name="Bob"))).scalars().first() is people[
        1
    ]
    assert (await session.execute(select(User).filter_by(name="Bob"))).scalar_one() is people[1]
    (row,) = (await session.execute(select(User).filter_by(name="Cy"))).one()
    assert row is people[2]
    assert (await session.execute(select(User).filter_by(name="x"))).one_or_none() is None
    assert (await session.execute(select(User).filter_by(name="x"))).scalars().first() is None
    cols = await session.execute(select(User.name, User.joined).order_by("name").limit(2))
    assert cols.all() == [("Ann", date(2020, 1, 1)), ("Bob", date(2021, 6, 1))]
    assert cols.keys() == ["name", "joined"]
    upd = await session.execute(update(User).where(User.age > 30).values(active=False))
    assert upd.rowcount == 2
    ins = await session.execute(
        insert(Post)
        .values(user_id=people[0].id, title="hello", views=0)
        .returning(Post.id, Post.title)
    )
    assert ins.rowcount == 1 and ins.one()[1] == "hello"
    dele = await session.execute(delete(Post).where(Post.title == "hello"))
    assert dele.rowcount == 1
    assert not session.in_transaction


async def test_session_execute_count_and_exists_give_plain_values(
    session: AsyncSession, people: list[User]
) -> None:
    """``select(Model).count()``/``.exists()`` give an int / a bool, not a model
    instance: the model only names the table (as ``select(func.count()).select_from``)."""
    assert await session.scalar(select(User).count()) == 4
    assert await session.scalar(select(User).where(User.age >= 18).count()) == 2
    assert await session.scalar(select(User).order_by("name").limit(3).count()) == 3
    assert await session.scalar(select(User.active).distinct().count()) == 2
    assert await session.scalar(select(User).exists()) is True
    assert await session.scalar(select(User).filter_by(name="nobody").exists()) is False
    assert await session.scalar(select(User.name).where(User.age > 40).exists()) is True
    counted = await session.execute(select(User).filter(age__lt=40).count())
    assert counted.scalar() == 2 and type(counted.scalar()) is int
    assert counted.scalars().first() == 2 and counted.scalars().all() == [2]
    assert counted.one() == (2,) and counted.all() == [(2,)] and counted.keys() == ["count"]
    found = await session.execute(select(User).filter_by(name="Bob").exists())
    assert found.one() == (True,) and found.scalars().all() == [True]
    assert found.keys() == ["exists"] and found.scalar_one() is True
    assert (await session.scalars(select(User).count())).all() == [4]
    assert (await session.scalars(select(User).exists())).one() is True
    assert await session.scalar(select(func.count()).select_from(User)) == 4


async def test_session_execute_columns_and_aggregates(
    session: AsyncSession, people: list[User]
) -> None:
    """Selects of columns and expressions give plain values, typed as the columns are
    on both backends (also under a label and through min()/max())."""
    cols = await session.execute(select(User.id, User.name).order_by("name"))
    assert cols.all() == [(u.id, u.name) for u in people]
    assert cols.scalars().all() == [u.id for u in people]
    assert cols.scalars(1).first() == "Ann" and cols.first() == (people[0].id, "Ann")
    assert await session.scalar(select(User.name).filter_by(age=17)) == "Bob"
    flags = await session.scalars(select(User.active.label("on")).order_by("name"))
    assert flags.all() == [True, True, False, True]
    assert all(type(flag) is bool for flag in flags)  # not 0/1 on SQLite
    assert await session.scalar(select(func.max(User.joined))) == date(2021, 6, 1)
    assert await session.scalar(select(func.min(User.balance))) == Decimal("0")
    assert await session.scalar(select(func.count(User.age))) == 3
    both = await session.execute(
        select(func.count(), func.max(User.age).label("oldest")).select_from(User)
    )
    assert both.one() == (4, 45) and both.keys() == ["count", "oldest"]
    sums = await session.execute(
        select(User).where(User.age > 20).with_only_columns(func.count(User.id))
    )
    assert sums.scalar_one() == 2


async def test_writing_while_iterating(session: AsyncSession, people: list[User]) -> None:
    async for user in session.query(User).order_by("name").stream(batch_size=2):
        await session.update(user, age=(user.age or 0) + 1)
        session.add(User(name=f"{user.name}-copy", email=f"{user.email}.copy"))
        await session.flush()
    await session.commit()
    assert await session.query(User).count() == 8
    assert await session.query(User).filter(name="Bob").values_list("age", flat=True) == [18]
    stream = session.query(User).stream(batch_size=3)
    async for _ in stream:
        break
    await stream.aclose()  # an abandoned stream releases what it held
    async with session.begin():
        assert await session.query(User).filter(name__endswith="-copy").count() == 4


async def test_stream_inside_a_transaction_sees_its_writes(session: AsyncSession) -> None:
    async with session.begin():
        await session.insert_all([User(name=f"s{i}", email=f"s{i}@x.org", age=i) for i in range(7)])
        ages = [u.age async for u in session.query(User).order_by("age").stream(batch_size=3)]
        assert ages == list(range(7))
        assert session.in_transaction
    assert await session.query(User).count() == 7
