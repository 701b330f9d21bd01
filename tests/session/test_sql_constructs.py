"""SQLAlchemy constructs users reach for: ``exists()`` and ``scalar_subquery()`` (both
correlating with the enclosing statement), ``case()``, ``cast()`` and ``literal()``,
read back as their Python types on every backend."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from backends import ALL_BACKENDS, engine_with_tables

import ormkit
from ormkit import (
    AsyncSession,
    ForeignKey,
    Mapped,
    Q,
    aliased,
    and_,
    case,
    cast,
    exists,
    func,
    literal,
    mapped_column,
    not_,
    or_,
    select,
)
from ormkit.orm import Registry, declarative_base
from ormkit.types import Numeric, String

S = f"_{os.getpid()}"

Base = declarative_base("SqlConstructsBase", registry=Registry(track=False))


class Member(Base):
    __tablename__ = f"sc_members{S}"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]
    age: Mapped[int | None] = mapped_column(nullable=True)
    joined: Mapped[date]


class Order(Base):
    __tablename__ = f"sc_orders{S}"

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey(f"sc_members{S}.id"))
    total: Mapped[Decimal]
    paid: Mapped[bool]


@pytest.fixture(params=ALL_BACKENDS)
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ormkit.Engine]:
    """An engine on each backend with three members and their orders."""
    async with engine_with_tables(request, request.param, tmp_path, [Member, Order]) as eng:
        async with AsyncSession(eng) as s:
            await s.insert_all(
                [
                    Member(name="ann", age=34, joined=date(2020, 1, 5)),
                    Member(name="bob", age=12, joined=date(2021, 6, 1)),
                    Member(name="cid", age=None, joined=date(2022, 3, 9)),
                ]
            )
            await s.insert_all(
                [
                    Order(member_id=1, total=Decimal("10.50"), paid=True),
                    Order(member_id=1, total=Decimal("4.25"), paid=False),
                    Order(member_id=2, total=Decimal("7.00"), paid=True),
                ]
            )
        yield eng


async def names(session: AsyncSession, stmt: ormkit.sql.Select) -> list[str]:
    return [m.name for m in (await session.execute(stmt.order_by(Member.id))).scalars()]


async def test_plus_on_text_concatenates_as_in_sqlalchemy(
    session: AsyncSession, engine: ormkit.Engine
) -> None:
    """``name + "!"`` was ``name + $1``: 0 on SQLite (and an update stored "0"), an
    error on PostgreSQL. Text ``+`` is ``||`` now; numbers still add."""
    stmt = select((Member.name + "!").label("x"), ("<" + Member.name).label("y"))
    sql, _ = stmt.to_sql(engine.dialect)
    assert "||" in sql and "+" not in sql
    rows = (await session.execute(stmt.where(Member.id == 1))).all()
    assert [tuple(r) for r in rows] == [("ann!", "<ann")]
    assert await session.query(Member).filter(id=2).update(name=Member.name + "-" + Member.name)
    assert await session.query(Member).filter(id=2).values_list("name", flat=True) == ["bob-bob"]
    older = await session.query(Member).filter(id=1).update(age=Member.age + 1)
    assert older == 1
    assert await session.query(Member).filter(id=1).values_list("age", flat=True) == [35]


async def test_exists_correlates_with_the_enclosing_select(session: AsyncSession) -> None:
    unpaid = exists(select(Order.id).where((Order.member_id == Member.id) & ~Order.paid))
    assert await names(session, select(Member).where(unpaid)) == ["ann"]
    any_order = exists(select(Order.id).where(Order.member_id == Member.id))
    assert await names(session, select(Member).where(~any_order)) == ["cid"]
    assert await names(session, select(Member).where(any_order, Member.age > 20)) == ["ann"]


async def test_select_exists_is_a_condition_as_in_sqlalchemy_2(session: AsyncSession) -> None:
    """``select(...).exists()`` where a condition goes (SQLAlchemy 2.0's form): EXISTS,
    correlated, negated by ``~``/``not_``, inside ``and_``/``or_``/``Q`` and in
    ``Query.filter``/``exclude``; on its own it still runs as ``SELECT EXISTS (…)``."""
    has_orders = select(Order.id).where(Order.member_id == Member.id).exists()
    assert await names(session, select(Member).where(has_orders)) == ["ann", "bob"]
    assert await names(session, select(Member).where(~has_orders)) == ["cid"]
    assert await names(session, select(Member).where(not_(has_orders))) == ["cid"]
    either = or_(and_(has_orders, Member.age > 20), Member.name == "cid")
    assert await names(session, select(Member).where(either)) == ["ann", "cid"]
    assert await names(session, select(Member).where(Q(has_orders) | Q(name="cid"))) == [
        "ann",
        "bob",
        "cid",
    ]
    q = session.query(Member).order_by("id")
    assert [m.name for m in await q.filter(has_orders).all()] == ["ann", "bob"]
    assert [m.name for m in await q.exclude(has_orders).all()] == ["cid"]
    assert (await session.execute(select(Order).where(Order.paid).exists())).scalar() is True
    with pytest.raises(TypeError, match=r"where\(\) needs SQL conditions"):
        select(Member).where(select(Order.id))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"only as select\(\.\.\.\)\.exists\(\)"):
        ~select(Order.id)


async def test_exists_where_infers_its_from_as_in_sqlalchemy(session: AsyncSession) -> None:
    """``exists().where(...)`` selects from the one table its conditions name that the
    enclosing statement does not; the enclosing one's columns correlate. Selected on its
    own it reads back as a bool on every backend."""
    has_orders = exists().where(Order.member_id == Member.id)
    assert await names(session, select(Member).where(has_orders)) == ["ann", "bob"]
    assert await names(session, select(Member).where(~has_orders)) == ["cid"]
    unpaid = has_orders.where(~Order.paid)
    assert await names(session, select(Member).where(unpaid)) == ["ann"]
    assert await names(
        session,
        select(Member).where(exists(Order.id).where(Order.member_id == Member.id, Order.total > 8)),
    ) == ["ann"]
    q = session.query(Member).order_by("id")
    assert [m.name for m in await q.filter(has_orders, age__gt=20).all()] == ["ann"]
    assert [m.name for m in await q.exclude(has_orders).all()] == ["cid"]
    # ``exists(select(...)).where(...)`` adds to that select
    some = exists(select(Order.id)).where(Order.member_id == Member.id, Order.paid)
    assert await names(session, select(Member).where(some)) == ["ann", "bob"]

    found = await session.scalar(select(exists().where(Member.name == "bob")))
    missing = await session.scalar(select(exists().where(Member.name == "zed")))
    assert found is True and missing is False
    named = exists().select_from(Order).where(Order.total > 100)
    assert await session.scalar(select(named)) is False


async def test_exists_where_without_one_table_to_select_from_says_so(
    session: AsyncSession,
) -> None:
    with pytest.raises(ValueError, match="only the enclosing statement's tables"):
        select(Member).where(exists().where(Member.age > 3)).to_sql(session.dialect)
    with pytest.raises(ValueError, match="no column"):
        select(exists()).to_sql(session.dialect)
    with pytest.raises(ValueError, match=r"several tables \(Order, Member\)"):
        select(exists().where(Order.member_id == Member.id)).to_sql(session.dialect)
    with pytest.raises(TypeError, match=r"exists\(\)\.where\(\) takes SQL conditions"):
        exists().where("1 = 1")
    with pytest.raises(TypeError, match=r"exists\(\) takes a select"):
        exists("sc_orders")
    # nothing ran, the data is as it was
    assert await names(session, select(Member)) == ["ann", "bob", "cid"]


async def test_aliased_joins_a_table_to_itself(session: AsyncSession) -> None:
    """``aliased(Model)``: the same table twice in one statement, as in SQLAlchemy."""
    other = aliased(Member, name="other")
    older = (
        select(Member.name, other.name)
        .join(other, Member.age > other.age)
        .order_by(Member.id, other.id)
    )
    assert [tuple(r) for r in (await session.execute(older)).all()] == [("ann", "bob")]
    than_bob = select(Member).join(other, Member.age > other.age).where(other.name == "bob")
    assert [m.name for m in (await session.execute(than_bob)).scalars()] == ["ann"]
    # rows of both: instances of the model, one object per row in the session
    pairs = (
        await session.execute(
            select(Member, other)
            .join(other, Member.joined < other.joined)
            .order_by(Member.id, other.id)
        )
    ).all()
    assert [(a.name, b.name) for a, b in pairs] == [("ann", "bob"), ("ann", "cid"), ("bob", "cid")]
    assert pairs[0][1] is pairs[2][0]  # bob: one object per row in the session
    # an alias alone, with lookups and names resolved on it
    alone = select(other).filter_by(name="cid").order_by("-id")
    assert [m.name for m in (await session.execute(alone)).scalars()] == ["cid"]
    assert await session.scalar(select(func.count(other.id)).select_from(other)) == 3


async def test_aliased_in_a_subquery_on_the_same_table(session: AsyncSession) -> None:
    """Inside a subquery the model's own columns are the outer row, the alias's the
    subquery's rows: members with someone younger who joined later."""
    later = aliased(Member)
    younger_later = exists().where(later.age < Member.age, later.joined > Member.joined)
    assert await names(session, select(Member).where(younger_later)) == ["ann"]
    assert await names(session, select(Member).where(~younger_later)) == ["bob", "cid"]
    n_older = (
        select(func.count(later.id)).where(later.age > Member.age).scalar_subquery().label("n")
    )
    rows = (await session.execute(select(Member.name, n_older).order_by(Member.id))).all()
    assert [tuple(r) for r in rows] == [("ann", 0), ("bob", 1), ("cid", 0)]


def test_default_alias_names_are_reused_once_an_alias_is_gone() -> None:
    """An alias made anew for every call gets the same name, so its statements compile
    once (the compile cache keys on the name); two alive at once differ."""
    import gc

    def build() -> str:
        other = aliased(Member)
        sql, _ = select(Member.name).join(other, Member.age > other.age).to_sql("sqlite")
        return sql

    gc.collect()  # aliases earlier tests left
    first = build()
    gc.collect()
    assert build() == first
    one, two = aliased(Member), aliased(Member)
    assert repr(one) != repr(two)


async def test_aliased_misuse_says_what_to_do(session: AsyncSession) -> None:
    other = aliased(Member, name="other")
    with pytest.raises(ValueError, match=r"aliased\(Member, name='other'\) is not part"):
        select(Member).where(other.age > 3).to_sql(session.dialect)
    with pytest.raises(ValueError, match="only as the alias 'other'; use that alias's columns"):
        select(other).where(Member.age > 3).to_sql(session.dialect)
    with pytest.raises(ValueError, match="joining an alias needs its ON condition"):
        select(Member).join(other)
    with pytest.raises(ValueError, match=r"join it again as an alias"):
        select(Member).join(Member, Member.id == Member.id).to_sql(session.dialect)
    with pytest.raises(ValueError, match="the alias 'other' is already part"):
        select(other).join(aliased(Member, name="other"), other.id == 1).to_sql(session.dialect)
    with pytest.raises(AttributeError, match="Member has no column 'nope'"):
        other.nope  # noqa: B018
    with pytest.raises(TypeError, match="aliased\\(\\) takes a model class"):
        aliased("members")  # type: ignore[arg-type]
    for bad in ("", "x\x00", Member.__tablename__):
        with pytest.raises(ValueError, match="aliased\\(\\): the name"):
            aliased(Member, name=bad)
    # a quote in the name is quoted, not SQL
    odd = aliased(Member, name='o"; DROP TABLE x; --')
    stmt = select(odd.name).where(odd.age > 30)
    assert list((await session.execute(stmt)).scalars()) == ["ann"]
    assert await names(session, select(Member)) == ["ann", "bob", "cid"]


async def test_a_correlated_in_subquery(session: AsyncSession) -> None:
    big = select(Order.member_id).where(Order.total > 5, Order.member_id == Member.id)
    assert await names(session, select(Member).where(Member.id.in_(big))) == ["ann", "bob"]


async def test_scalar_subquery_as_a_selected_value_a_condition_and_an_order(
    session: AsyncSession,
) -> None:
    spent = select(func.sum(Order.total)).where(Order.member_id == Member.id).scalar_subquery()
    count = select(func.count(Order.id)).where(Order.member_id == Member.id).scalar_subquery()
    rows = (await session.execute(select(Member.name, count).order_by(Member.id))).all()
    assert [tuple(r) for r in rows] == [("ann", 2), ("bob", 1), ("cid", 0)]
    assert await names(session, select(Member).where(count >= 1)) == ["ann", "bob"]
    top = (
        await session.execute(select(Member.name).order_by(spent.desc().nulls_last()).limit(1))
    ).scalar()
    assert top == "ann"
    paid = select(func.max(Order.total)).where(Order.member_id == Member.id).scalar_subquery()
    most = (await session.execute(select(paid).select_from(Member).where(Member.id == 1))).scalar()
    assert most == Decimal("10.50") and isinstance(most, Decimal)  # read back as the column


async def test_case_with_conditions_and_with_a_value(session: AsyncSession) -> None:
    group = case((Member.age >= 18, "adult"), (Member.age < 18, "minor"), else_="unknown")
    rows = (await session.execute(select(Member.name, group).order_by(Member.id))).all()
    assert [tuple(r) for r in rows] == [("ann", "adult"), ("bob", "minor"), ("cid", "unknown")]
    code = case({"ann": 1, "bob": 2}, value=Member.name)
    codes = (await session.execute(select(code).order_by(Member.id))).scalars().all()
    assert codes == [1, 2, None]
    # typed results come back as their Python types (SQLite stores them as text/ints)
    flag = case((Member.age > 30, True), else_=False)
    assert (await session.execute(select(flag).order_by(Member.id))).scalars().all() == [
        True,
        False,
        False,
    ]
    when = case((Member.age > 30, Member.joined), else_=date(1999, 1, 1))
    assert (await session.execute(select(when).order_by(Member.id))).scalars().all() == [
        date(2020, 1, 5),
        date(1999, 1, 1),
        date(1999, 1, 1),
    ]
    sorted_names = (
        await session.execute(
            select(Member.name).order_by(case((Member.name == "cid", 0), else_=1))
        )
    ).scalars()
    assert next(iter(sorted_names)) == "cid"


async def test_cast_reads_back_as_the_cast_type(session: AsyncSession) -> None:
    text_age = (await session.execute(select(cast(Member.age, str)).where(Member.id == 1))).scalar()
    assert text_age == "34"
    bounded = cast(Member.age, String(10))
    assert (await session.execute(select(bounded).where(Member.id == 2))).scalar() == "12"
    money = cast(Order.total, Numeric(10, 2))
    totals = (await session.execute(select(money).order_by(Order.id))).scalars().all()
    assert totals == [Decimal("10.50"), Decimal("4.25"), Decimal("7.00")]
    assert all(isinstance(t, Decimal) for t in totals)
    as_float = cast(Member.age, float)
    ages = (await session.execute(select(as_float).order_by(Member.id))).scalars().all()
    assert ages == [34.0, 12.0, None] and isinstance(ages[0], float)
    matched = select(Member).where(cast(Member.age, str) == "12")
    assert await names(session, matched) == ["bob"]


async def test_literal_values_are_typed(session: AsyncSession) -> None:
    stmt = select(
        Member.name,
        literal(1).label("one"),
        literal("x").label("tag"),
        literal(datetime(2024, 5, 6, 7, 8, 9)).label("at"),
        literal(Decimal("1.5")).label("amount"),
        literal(None, int).label("nothing"),
    ).where(Member.id == 1)
    row = (await session.execute(stmt)).one()
    assert tuple(row) == ("ann", 1, "x", datetime(2024, 5, 6, 7, 8, 9), Decimal("1.5"), None)
    assert row.one == 1 and isinstance(row.amount, Decimal)


async def test_older_sqlalchemy_spellings(session: AsyncSession) -> None:
    assert await names(session, select(Member).where(Member.age.isnot(None))) == ["ann", "bob"]
    assert await names(session, select(Member).where(Member.id.notin_([1, 2]))) == ["cid"]
    assert await names(session, select(Member).where(Member.name.notlike("a%"))) == ["bob", "cid"]


async def test_bad_constructs_are_clear_errors(session: AsyncSession) -> None:
    with pytest.raises(ValueError, match="at least one WHEN"):
        case(else_=1)
    with pytest.raises(TypeError, match="WHEN condition must be an SQL expression"):
        case(("ann", 1))
    with pytest.raises(TypeError, match="only with value="):
        case({"ann": 1})
    with pytest.raises(TypeError, match=r"cast\(\) needs a Python type"):
        cast(Member.age, "text")
    with pytest.raises(TypeError, match=r"cast\(\)"):
        cast(Member.age, set)
    with pytest.raises(TypeError, match=r"literal\(None\) needs a type"):
        literal(None)
    with pytest.raises(TypeError, match="plain value"):
        literal(Member.age)
    with pytest.raises(TypeError, match=r"exists\(\) takes a select"):
        exists(Member.id == 1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="exactly one column"):
        select(Member).scalar_subquery()
    # a value that tries to break out of the SQL stays a bound parameter
    evil = "x'); DROP TABLE t; --"
    rows = (await session.execute(select(literal(evil)).select_from(Member))).scalars().all()
    assert rows == [evil] * 3
    assert len((await session.execute(select(Member))).scalars().all()) == 3
