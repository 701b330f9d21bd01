"""Decimal columns compare, order and aggregate (min/max) by value on every backend.

SQLite keeps a Decimal as its exact text; the compiler compares it through the
``ormkit_decimal`` collation (registered by every ormkit connection), so ``9.5`` equals
``9.50``, ``10.25`` comes after ``9.50``, and digits beyond a float's precision count."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest
from backends import ALL_BACKENDS, engine_with_tables

import ormkit
from ormkit import AsyncSession, Mapped, Q, mapped_column, select
from ormkit.orm import Registry, declarative_base

Base = declarative_base("DecimalBase", registry=Registry(track=False))


class Price(Base):
    __tablename__ = f"s_prices_{os.getpid()}"

    id: Mapped[int] = mapped_column(primary_key=True)
    label: Mapped[str]
    amount: Mapped[Decimal | None]


AMOUNTS = {
    "a": Decimal("9.50"),
    "b": Decimal("10.25"),
    "c": Decimal("100"),
    "d": Decimal("-3"),
    "e": Decimal("12345678901234567890.12"),
    "f": Decimal("12345678901234567890.13"),
    "g": Decimal("0.000001"),
}
BY_VALUE = ["d", "g", "a", "b", "c", "e", "f"]


@pytest.fixture(params=ALL_BACKENDS)
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ormkit.Engine]:
    async with engine_with_tables(request, request.param, tmp_path, [Price]) as eng:
        async with AsyncSession(eng) as session:
            await session.insert_all(
                [Price(label=k, amount=v) for k, v in AMOUNTS.items()]
                + [Price(label="none", amount=None)]
            )
        yield eng


async def labels(query: ormkit.Query[Price]) -> list[str]:
    return [p.label for p in await query.all()]


async def test_lookups_compare_by_value(engine: ormkit.Engine) -> None:
    async with AsyncSession(engine) as s:
        q = s.query(Price).order_by("id")
        assert await labels(q.filter(amount=Decimal("9.5"))) == ["a"]
        assert await labels(q.filter(amount=Decimal("1E+2"))) == ["c"]
        assert await labels(q.filter(amount=100)) == ["c"]
        assert await labels(q.filter(amount__gt=Decimal("9.9"))) == ["b", "c", "e", "f"]
        assert await labels(q.filter(amount__lte=Decimal("9.5"))) == ["a", "d", "g"]
        assert await labels(q.filter(amount__lt=0)) == ["d"]
        assert await labels(q.filter(amount__ne=Decimal("9.500"))) == ["b", "c", "d", "e", "f", "g"]
        assert await labels(q.filter(amount__in=[Decimal("10.250"), Decimal("-3.0")])) == ["b", "d"]
        assert await labels(q.filter(amount__notin=[Decimal("9.5")]).filter(amount__lt=10)) == [
            "d",
            "g",
        ]
        assert await labels(q.filter(amount__between=(Decimal("9.5"), Decimal("100.0")))) == [
            "a",
            "b",
            "c",
        ]
        # beyond a float's 15-16 significant digits
        assert await labels(q.filter(amount__gt=Decimal("12345678901234567890.12"))) == ["f"]
        assert await labels(q.exclude(Q(amount__gte=Decimal("0.0000010")))) == ["d"]


async def test_order_and_min_max_by_value(engine: ormkit.Engine) -> None:
    async with AsyncSession(engine) as s:
        q = s.query(Price).filter(amount__isnull=False)
        assert await labels(q.order_by("amount")) == BY_VALUE
        assert await labels(q.order_by("-amount")) == BY_VALUE[::-1]
        assert await s.query(Price).min("amount") == Decimal("-3")
        assert await s.query(Price).max("amount") == Decimal("12345678901234567890.13")
        # the values come back exactly as stored
        values = await q.order_by("amount").values_list("amount", flat=True)
        assert [str(v) for v in values] == [str(AMOUNTS[k]) for k in BY_VALUE]


async def test_column_expressions_and_statements(engine: ormkit.Engine) -> None:
    async with AsyncSession(engine) as s:
        q = s.query(Price).filter(Price.amount >= Decimal("10.250")).order_by(Price.amount.desc())
        assert await labels(q) == ["f", "e", "c", "b"]
        rows = await s.execute(
            select(Price)
            .where(Price.amount.in_([Decimal("9.5"), Decimal("100.00")]))
            .order_by(Price.amount)
        )
        assert [p.label for p in rows.scalars().all()] == ["a", "c"]


def test_sqlite_sql_collates_decimal_columns_only() -> None:
    stmt = (
        select(Price)
        .where((Price.amount > Decimal("1")) & (Price.label == "x"))
        .order_by(Price.amount, Price.label)
    )
    sqlite_sql, _ = stmt.to_sql("sqlite")
    assert "amount COLLATE ormkit_decimal > ?" in sqlite_sql
    assert "ORDER BY amount COLLATE ormkit_decimal, label" in sqlite_sql
    assert "label = ?" in sqlite_sql and sqlite_sql.count("COLLATE") == 2
    pg_sql, _ = stmt.to_sql("postgresql")
    assert "COLLATE" not in pg_sql


async def test_raw_sql_can_use_the_collation(engine: ormkit.Engine) -> None:
    if engine.dialect != "sqlite":
        pytest.skip("the collation is SQLite's")
    table = Price.__tablename__
    result = await engine.execute(
        f"SELECT label FROM {table} WHERE amount IS NOT NULL "
        "ORDER BY amount COLLATE ormkit_decimal DESC LIMIT 2"
    )
    assert result.column("label") == ["f", "e"]


async def test_sum_and_avg_are_exact(engine: ormkit.Engine) -> None:
    """SQLite summed decimal text as floats: 0.1 + 0.2 was 0.30000000000000004 and the
    big amounts lost their cents."""
    async with AsyncSession(engine) as session:
        await session.insert_all([Price(label="p", amount=Decimal(v)) for v in ("0.1", "0.2")])
        pennies = session.query(Price).filter(label="p")
        assert await pennies.sum("amount") == Decimal("0.3")
        assert await pennies.avg("amount") == Decimal("0.15")
        big = session.query(Price).filter(label__in=["e", "f"])
        assert await big.sum("amount") == Decimal("24691357802469135780.25")
        total = sum(AMOUNTS.values(), Decimal("0.3"))
        assert await session.query(Price).sum("amount") == total
        rows = await session.execute(select(ormkit.func.sum(Price.amount).label("s")))
        (value,) = rows.scalars().all()
        assert isinstance(value, Decimal) and value == total


async def test_arithmetic_is_exact_in_writes_and_conditions(engine: ormkit.Engine) -> None:
    """An UPDATE of ``amount + 0.1`` stored 0.30000000000000004 on SQLite, and
    ``amount * 2 > 3.1`` compared a float with text (a number is less than any text)."""
    async with AsyncSession(engine) as session:
        q = session.query(Price)
        assert await q.filter(label="a").update(amount=Price.amount + Decimal("0.1")) == 1
        assert await q.filter(amount=Decimal("9.6")).values_list("label", flat=True) == ["a"]
        doubled = q.filter(Price.amount * 2 > Decimal("200.5")).order_by("id")
        assert await labels(doubled) == ["e", "f"]
        g = await q.filter(label="g").one()
        g.amount = Price.amount - Decimal("0.0000005")
        await session.commit()
        assert g.amount == Decimal("0.0000005")
        third = await session.execute(
            select((Price.amount / 3).label("x")).where(Price.label == "c")
        )
        (value,) = third.scalars().all()  # PostgreSQL gives 16 places, SQLite 20
        assert value.quantize(Decimal("1e-15")) == Decimal("33.333333333333333")
        with pytest.raises(ormkit.DataError, match="division by zero"):
            await session.execute(select((Price.amount / 0).label("x")))
