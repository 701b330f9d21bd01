"""An SQL expression assigned to a loaded object's column (``obj.n = Model.n + 1``) is a
change like any other: the flush writes ``SET n = n + 1`` and the object holds the
value the database computed, on every backend."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from backends import ALL_BACKENDS, engine_with_tables
from statement_log import SqlLog

import ormkit
from ormkit import AsyncSession, Mapped, mapped_column
from ormkit.orm import Registry, declarative_base

S = f"_{os.getpid()}"

Base = declarative_base("ExpressionAssignBase", registry=Registry(track=False))


class Counter(Base):
    __tablename__ = f"ea_counters{S}"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]
    n: Mapped[int] = mapped_column(default=0)


class Wallet(Base):
    __tablename__ = f"ea_wallets{S}"

    id: Mapped[int] = mapped_column(primary_key=True)
    balance: Mapped[int] = mapped_column(default=0)
    version: Mapped[int] = mapped_column(version=True)


@pytest.fixture(params=ALL_BACKENDS)
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ormkit.Engine]:
    """An engine on each backend with this module's tables created empty."""
    async with engine_with_tables(request, request.param, tmp_path, [Counter, Wallet]) as eng:
        yield eng


async def stored(engine: ormkit.Engine, model: type[Base], column: str) -> list[object]:
    rows = await engine.execute(f"SELECT {column} FROM {model.__tablename__} ORDER BY id")
    return [r[column] for r in rows]


async def test_only_an_expression_changed_is_written_on_commit(
    engine: ormkit.Engine, sql_log: SqlLog
) -> None:
    async with AsyncSession(engine) as session:
        await session.insert_all([Counter(name="a", n=1), Counter(name="b", n=5)])
    async with AsyncSession(engine) as session:
        first = await session.get_or_raise(Counter, 1)
        first.n = Counter.n + 1
        await session.commit()
        assert first.n == 2  # the value the database computed, not the expression
        assert not session.dirty
    updates = [s for s in sql_log.sql if s.lstrip().upper().startswith("UPDATE")]
    assert len(updates) == 1 and "n + " in updates[0]
    assert await stored(engine, Counter, "n") == [2, 5]


async def test_an_expression_and_a_plain_value_are_written_together(
    engine: ormkit.Engine,
) -> None:
    async with AsyncSession(engine) as session:
        await session.insert(Counter(name="a", n=3))
        obj = await session.get_or_raise(Counter, 1)
        obj.name = "renamed"
        obj.n = Counter.n * 10
        await session.commit()
        assert (obj.name, obj.n) == ("renamed", 30)
    assert await stored(engine, Counter, "name") == ["renamed"]
    assert await stored(engine, Counter, "n") == [30]


async def test_flush_autoflush_and_rollback_with_an_expression(engine: ormkit.Engine) -> None:
    async with AsyncSession(engine) as session:
        await session.insert(Counter(name="a", n=1))
    async with AsyncSession(engine) as session:
        obj = await session.get_or_raise(Counter, 1)
        obj.n = Counter.n + 41
        assert obj in session.dirty
        await session.flush()
        assert obj.n == 42
        # the query autoflushes a second expression before it reads
        obj.n = Counter.n + 1
        found = await session.query(Counter).filter(n=43).all()
        assert found == [obj] and obj.n == 43
        await session.rollback()
    assert await stored(engine, Counter, "n") == [1]


async def test_an_expression_on_a_versioned_row_checks_and_bumps_the_version(
    engine: ormkit.Engine,
) -> None:
    async with AsyncSession(engine) as session:
        await session.insert(Wallet(balance=10))
    async with AsyncSession(engine) as session:
        wallet = await session.get_or_raise(Wallet, 1)
        async with AsyncSession(engine) as other:
            await other.update(await other.get_or_raise(Wallet, 1), balance=11)
        wallet.balance = Wallet.balance + 5
        with pytest.raises(ormkit.StaleDataError):
            await session.commit()
    assert await stored(engine, Wallet, "balance") == [11]
    async with AsyncSession(engine) as session:
        wallet = await session.get_or_raise(Wallet, 1)
        wallet.balance = Wallet.balance + 5
        await session.commit()
        assert (wallet.balance, wallet.version) == (16, 3)
    assert await stored(engine, Wallet, "balance") == [16]


async def test_an_expression_over_a_missing_column_fails_and_writes_nothing(
    engine: ormkit.Engine,
) -> None:
    async with AsyncSession(engine) as session:
        await session.insert(Counter(name="a", n=1))
        obj = await session.get_or_raise(Counter, 1)
        with pytest.raises(AttributeError, match="nope"):
            obj.n = Counter.nope + 1  # type: ignore[attr-defined]
        assert obj.n == 1 and obj not in session.dirty
        obj.n = Counter.name + 1  # text + int: PostgreSQL refuses it, SQLite gives 1
        if engine.dialect == "postgresql":
            with pytest.raises(ormkit.ProgrammingError, match="operator does not exist"):
                await session.commit()
            await session.rollback()
        else:
            await session.commit()
            assert obj.n == 1
    assert await stored(engine, Counter, "n") == [1]
    assert await stored(engine, Counter, "name") == ["a"]
