"""``session.execute(text("… :name …"), {"name": value})`` as SQLAlchemy 2.0 code writes
it: named parameters bound (never spliced), rows of plain values, the session's
transaction and autoflush respected, on every backend."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from backends import ALL_BACKENDS, engine_with_tables

import ormkit
from ormkit import AsyncSession, Mapped, mapped_column, select, text
from ormkit.orm import Registry, declarative_base

S = f"_{os.getpid()}"

Base = declarative_base("TextStatementsBase", registry=Registry(track=False))


class Pet(Base):
    __tablename__ = f"ts_pets{S}"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]
    legs: Mapped[int]


TABLE = Pet.__tablename__


@pytest.fixture(params=ALL_BACKENDS)
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ormkit.Engine]:
    """An engine on each backend with three pets."""
    async with engine_with_tables(request, request.param, tmp_path, [Pet]) as eng:
        async with AsyncSession(eng) as s:
            await s.insert_all(
                [Pet(name="rex", legs=4), Pet(name="tweety", legs=2), Pet(name="nemo", legs=0)]
            )
        yield eng


async def test_named_parameters_are_bound(session: AsyncSession) -> None:
    result = await session.execute(
        text(f"SELECT name, legs FROM {TABLE} WHERE legs >= :low AND legs <= :high ORDER BY id"),
        {"low": 1, "high": 4},
    )
    rows = result.all()
    assert [tuple(r) for r in rows] == [("rex", 4), ("tweety", 2)]
    assert rows[0].name == "rex" and rows[1]._mapping["legs"] == 2
    names = await session.scalars(
        text(f"SELECT name FROM {TABLE} WHERE legs = :n OR legs = :n + 2 ORDER BY id"), {"n": 2}
    )
    assert names.all() == ["rex", "tweety"]
    count = await session.scalar(text(f"SELECT count(*) FROM {TABLE}"))
    assert count == 3


async def test_writes_follow_the_session_transaction(
    session: AsyncSession, engine: ormkit.Engine
) -> None:
    async with session.begin():
        changed = await session.execute(
            text(f"UPDATE {TABLE} SET legs = :legs WHERE name = :name"), {"legs": 3, "name": "rex"}
        )
        assert changed.rowcount == 1
        await session.rollback()
    legs = await engine.execute(f"SELECT legs FROM {TABLE} WHERE name = 'rex'")
    assert legs.scalar() == 4
    async with session.begin():
        await session.execute(
            text(f"INSERT INTO {TABLE} (name, legs) VALUES (:name, :legs)"),
            {"name": "spider", "legs": 8},
        )
    stored = await engine.execute(f"SELECT legs FROM {TABLE} WHERE name = 'spider'")
    assert stored.scalar() == 8


async def test_pending_objects_are_flushed_before_the_text_runs(session: AsyncSession) -> None:
    async with session.begin():
        session.add(Pet(name="kiwi", legs=2))
        found = await session.scalar(
            text(f"SELECT count(*) FROM {TABLE} WHERE legs = :legs"), {"legs": 2}
        )
        assert found == 2


async def test_values_that_look_like_sql_stay_values(
    session: AsyncSession, engine: ormkit.Engine
) -> None:
    evil = f"x' OR '1'='1'; DROP TABLE {TABLE}; --"
    result = await session.execute(
        text(f"SELECT id FROM {TABLE} WHERE name = :name"), {"name": evil}
    )
    assert result.all() == []
    quoted = await session.scalar(text("SELECT ':name is not a parameter'"))
    assert quoted == ":name is not a parameter"
    assert (await engine.execute(f"SELECT count(*) FROM {TABLE}")).scalar() == 3


async def test_bad_text_calls_are_clear_errors(session: AsyncSession) -> None:
    with pytest.raises(ValueError, match="needs a value for :name"):
        await session.execute(text(f"SELECT id FROM {TABLE} WHERE name = :name"), {})
    with pytest.raises(ValueError, match="no parameter :nmae"):
        await session.execute(
            text(f"SELECT id FROM {TABLE} WHERE name = :name"), {"name": "rex", "nmae": "x"}
        )
    with pytest.raises(TypeError, match="dict of names"):
        await session.execute(text(f"SELECT id FROM {TABLE} WHERE id = :id"), [1])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="parameters go with text"):
        await session.execute(select(Pet), {"id": 1})
    with pytest.raises(ValueError, match="one SQL statement or expression, got 2"):
        text(f"DELETE FROM {TABLE}; SELECT 1")
    with pytest.raises(ValueError, match="got 2"):
        text(f"SELECT 1 FROM {TABLE} WHERE name = 'a;b'; DELETE FROM {TABLE} -- ;")
    with pytest.raises(ValueError, match="NUL"):
        text("SELECT '\x00'")
    with pytest.raises(TypeError, match="takes a str"):
        text(42)  # type: ignore[arg-type]
    with pytest.raises(ormkit.ProgrammingError):
        await session.execute(text("SELECT * FROM no_such_table_here WHERE id = :id"), {"id": 1})
    assert (await session.scalar(text(f"SELECT count(*) FROM {TABLE}"))) == 3


async def test_semicolons_inside_literals_and_a_trailing_one_are_text(
    session: AsyncSession, engine: ormkit.Engine
) -> None:
    """A ``;`` inside a quoted literal, a quoted identifier or a comment is part of the
    statement, and a trailing ``;`` (as SQL scripts and SQLAlchemy code often end one)
    is dropped: only a second statement is refused."""
    await session.execute(
        text(f"INSERT INTO {TABLE} (name, legs) VALUES ('semi;colon', :legs); -- done;"),
        {"legs": 6},
    )
    rows = (
        await session.execute(
            text(f'SELECT name AS "a;b" FROM {TABLE} /* ; */ WHERE legs = :legs;  '),
            {"legs": 6},
        )
    ).all()
    assert [tuple(r) for r in rows] == [("semi;colon",)]
    assert text("SELECT 1;").text == "SELECT 1"
    assert text("SELECT ';'").text == "SELECT ';'"
    with pytest.raises(ValueError, match="got 2"):
        text(f"SELECT 1; DROP TABLE {TABLE}")
    assert (await engine.execute(f"SELECT count(*) FROM {TABLE}")).scalar() == 4
