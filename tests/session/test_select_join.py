"""``select(...).join(Model, onclause)`` as SQLAlchemy 2.0 writes it: an explicit ON
condition, or one found from the relationship or foreign key linking the models;
``isouter``/``outerjoin``/``full``; clear errors when the join cannot be worked out."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from backends import ALL_BACKENDS, engine_with_tables

import ormkit
from ormkit import AsyncSession, ForeignKey, Mapped, func, mapped_column, relationship, select
from ormkit.orm import Registry, declarative_base

S = f"_{os.getpid()}"

Base = declarative_base("SelectJoinBase", registry=Registry(track=False))


class Shop(Base):
    __tablename__ = f"sj_shops{S}"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]


class Item(Base):
    """Linked to Shop by a foreign key only (no relationship)."""

    __tablename__ = f"sj_items{S}"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]
    price: Mapped[int]
    shop_id: Mapped[int] = mapped_column(ForeignKey(f"sj_shops{S}.id"))


class Writer(Base):
    __tablename__ = f"sj_writers{S}"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]
    notes: Mapped[list[Note]] = relationship(back_populates="writer")


class Note(Base):
    __tablename__ = f"sj_notes{S}"

    id: Mapped[int] = mapped_column(primary_key=True)
    body: Mapped[str]
    writer_id: Mapped[int] = mapped_column(ForeignKey(f"sj_writers{S}.id"))
    writer: Mapped[Writer] = relationship(back_populates="notes")


class Transfer(Base):
    """Two foreign keys to the same table: a join must say which one."""

    __tablename__ = f"sj_transfers{S}"

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey(f"sj_shops{S}.id"))
    target_id: Mapped[int] = mapped_column(ForeignKey(f"sj_shops{S}.id"))


class Loner(Base):
    __tablename__ = f"sj_loners{S}"

    id: Mapped[int] = mapped_column(primary_key=True)


MODELS = [Shop, Item, Writer, Note, Transfer, Loner]


@pytest.fixture(params=ALL_BACKENDS)
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ormkit.Engine]:
    """An engine on each backend with this module's tables holding a few rows."""
    async with engine_with_tables(request, request.param, tmp_path, MODELS) as eng:
        async with AsyncSession(eng) as s:
            await s.insert_all([Shop(name="north"), Shop(name="south"), Shop(name="empty")])
            await s.insert_all(
                [
                    Item(name="apple", price=3, shop_id=1),
                    Item(name="pear", price=5, shop_id=1),
                    Item(name="plum", price=7, shop_id=2),
                ]
            )
            await s.insert(Writer(name="ann"))
            await s.insert_all([Note(body="a", writer_id=1), Note(body="b", writer_id=1)])
            await s.insert(Transfer(source_id=1, target_id=2))
        yield eng


async def test_join_on_an_explicit_condition_gives_rows_of_both_models(
    session: AsyncSession,
) -> None:
    stmt = (
        select(Shop.name, Item.name)
        .join(Item, Item.shop_id == Shop.id)
        .where(Item.price > 3)
        .order_by(Item.price)
    )
    rows = (await session.execute(stmt)).all()
    assert [tuple(r) for r in rows] == [("north", "pear"), ("south", "plum")]
    pairs = (
        await session.execute(
            select(Shop, Item).join(Item, Item.shop_id == Shop.id).order_by(Item.id)
        )
    ).all()
    assert [(shop.name, item.name) for shop, item in pairs] == [
        ("north", "apple"),
        ("north", "pear"),
        ("south", "plum"),
    ]
    assert pairs[0][0] is pairs[1][0]  # one row, one object


async def test_join_without_a_condition_follows_the_one_foreign_key(
    session: AsyncSession,
) -> None:
    items = (
        await session.execute(select(Item).join(Shop).where(Shop.name == "north").order_by("id"))
    ).scalars()
    assert [i.name for i in items] == ["apple", "pear"]
    shops = (await session.execute(select(Shop).join(Item).where(Item.name == "plum"))).scalars()
    assert [s.name for s in shops] == ["south"]


async def test_join_without_a_condition_follows_the_one_relationship(
    session: AsyncSession,
) -> None:
    stmt = select(Note.body, Writer.name).join(Writer).order_by(Note.body)
    rows = (await session.execute(stmt)).all()
    assert [tuple(r) for r in rows] == [("a", "ann"), ("b", "ann")]


async def test_condition_parameters_bind_before_where_parameters(
    session: AsyncSession,
) -> None:
    """Values in the ON condition and in WHERE reach their own placeholders, also when
    the compiled SQL comes from the cache for the second statement."""
    for cheap, shop in ((4, "north"), (6, "south")):
        stmt = (
            select(Item.name)
            .join(Shop, (Shop.id == Item.shop_id) & (Item.price > cheap))
            .where(Shop.name == shop)
        )
        names = (await session.execute(stmt)).scalars().all()
        assert names == (["pear"] if shop == "north" else ["plum"])
    sql, params = (
        select(Item.name)
        .join(Shop, (Shop.id == Item.shop_id) & (Item.price > 4))
        .where(Shop.name == "x")
        .to_sql("postgresql")
    )
    assert params == [4, "x"]
    assert sql.index("$1") < sql.index("WHERE") < sql.index("$2")


async def test_outer_joins_keep_rows_without_a_match(session: AsyncSession) -> None:
    stmt = select(Shop.name, Item.name).outerjoin(Item, Item.shop_id == Shop.id)
    rows = (await session.execute(stmt.order_by(Shop.id, Item.id))).all()
    assert [tuple(r) for r in rows] == [
        ("north", "apple"),
        ("north", "pear"),
        ("south", "plum"),
        ("empty", None),
    ]
    same = select(Shop.name, Item.name).join(Item, Item.shop_id == Shop.id, isouter=True)
    assert len((await session.execute(same)).all()) == 4
    lonely = (
        await session.execute(select(Shop.name).outerjoin(Item).where(Item.id.is_(None)))
    ).scalars()
    assert list(lonely) == ["empty"]
    full = select(func.count()).select_from(Shop).join(Item, Item.shop_id == Shop.id, full=True)
    assert (await session.execute(full)).scalar() == 4


async def test_counting_a_joined_select(session: AsyncSession) -> None:
    stmt = select(Item).join(Shop).where(Shop.name == "north")
    assert (await session.execute(stmt.count())).scalar() == 2
    assert (await session.execute(stmt.exists())).scalar() is True


async def test_a_join_that_cannot_be_worked_out_is_a_clear_error(
    session: AsyncSession,
) -> None:
    with pytest.raises(ValueError, match=r"join\(Loner\): no relationship or foreign key"):
        select(Shop).join(Loner)
    with pytest.raises(ValueError, match=r"several foreign keys.*source_id.*target_id"):
        select(Shop).join(Transfer)
    with pytest.raises(TypeError, match="ON condition must be an SQL expression"):
        select(Shop).join(Item, "shop_id = id")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="brings its own ON condition"):
        select(Note).join("writer", Note.writer_id == Writer.id)
    with pytest.raises(ValueError, match="already part of this statement"):
        await session.execute(select(Shop).join(Shop, Shop.id == Shop.id))
    # the explicit condition still works where inference is ambiguous
    rows = (
        await session.execute(select(Transfer.id).join(Shop, Shop.id == Transfer.target_id))
    ).scalars()
    assert list(rows) == [1]
