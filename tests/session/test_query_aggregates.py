"""Query.sum()/avg() of a timedelta column (INTERVAL on PostgreSQL, integer microseconds
on SQLite): a timedelta, the same on every backend, None when no row matches. The other
aggregates are covered by test_query.py::test_terminals."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from backends import ALL_BACKENDS, engine_with_tables

import ormkit
from ormkit import AsyncSession, Mapped, mapped_column
from ormkit.errors import DatabaseError, DataError
from ormkit.orm import Registry, declarative_base

Base = declarative_base("AggregateBase", registry=Registry(track=False))


class Shift(Base):
    __tablename__ = f"s_shifts_{os.getpid()}"

    id: Mapped[int] = mapped_column(primary_key=True)
    crew: Mapped[str]
    length: Mapped[timedelta | None]


@pytest.fixture(params=ALL_BACKENDS)
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ormkit.Engine]:
    async with engine_with_tables(request, request.param, tmp_path, [Shift]) as eng:
        yield eng


async def add(session: AsyncSession, crew: str, *lengths: timedelta | None) -> None:
    await session.insert_all([Shift(crew=crew, length=length) for length in lengths])


async def test_sum_and_avg_of_a_timedelta_column(session: AsyncSession) -> None:
    q = session.query(Shift)
    assert await q.sum("length") is None and await q.avg("length") is None  # no rows
    await add(session, "a", timedelta(hours=1), timedelta(days=2, microseconds=3), None)
    await add(session, "a", -timedelta(microseconds=2))
    await add(session, "b", None)
    total = await q.sum("length")
    assert type(total) is timedelta and total == timedelta(days=2, hours=1, microseconds=1)
    average = await q.avg(Shift.length)  # NULLs are left out: 3 values
    assert type(average) is timedelta and average == timedelta(hours=16, minutes=20)
    assert await q.filter(length__gt=timedelta(0)).sum("length") == timedelta(
        days=2, hours=1, microseconds=3
    )
    assert await q.filter(crew="b").sum("length") is None  # only NULLs
    assert await q.filter(crew="b").avg("length") is None
    assert await q.filter(crew="nobody").avg("length") is None
    assert await q.min("length") == -timedelta(microseconds=2)
    assert await q.max("length") == timedelta(days=2, microseconds=3)


@pytest.mark.parametrize(
    ("lengths", "expected"),
    [
        ([1, 2], 2),  # 1.5 µs: half to even
        ([1, 4], 2),  # 2.5 µs
        ([-1, -2], -2),
        ([0, 0, 2], 1),
        ([86_400_000_000 + 1, 0], 43_200_000_000),  # a day and 1 µs, halved
    ],
)
async def test_avg_is_rounded_half_even_to_the_microsecond(
    session: AsyncSession, lengths: list[int], expected: int
) -> None:
    await add(session, "a", *(timedelta(microseconds=us) for us in lengths))
    assert await session.query(Shift).avg("length") == timedelta(microseconds=expected)


async def test_avg_is_exact_on_every_backend(session: AsyncSession) -> None:
    """PostgreSQL's own avg(interval) gives 8:35:35.042082 here (days and microseconds
    divided apart in floating point); sum/count gives the exact value on both backends."""
    lengths = [
        timedelta(days=1, seconds=83586, microseconds=853797),
        timedelta(days=3, seconds=42896, microseconds=354733),
        timedelta(days=1, seconds=83534, microseconds=485996),
        timedelta(days=1, seconds=70263, microseconds=182620),
        timedelta(seconds=54453, microseconds=949782),
        timedelta(days=3, seconds=55707, microseconds=68609),
        timedelta(days=2, seconds=85303, microseconds=399043),
    ]
    await add(session, "a", *lengths)
    q = session.query(Shift)
    assert await q.sum("length") == sum(lengths, timedelta())
    average = await q.avg("length")
    assert average == sum(lengths, timedelta()) / len(lengths)
    assert average == timedelta(days=2, hours=8, minutes=35, seconds=35, microseconds=42083)


async def test_sum_out_of_range_is_an_ormkit_error(session: AsyncSession) -> None:
    """Beyond timedelta (PostgreSQL) or SQLite's 64-bit integer: an ormkit error, not an
    OverflowError."""
    sqlite = session.dialect == "sqlite"
    big = timedelta(days=100_000_000) if sqlite else timedelta(days=999_999_999)
    await add(session, "a", big, big)
    q = session.query(Shift)
    for aggregate in (q.sum, q.avg):
        with pytest.raises(DatabaseError) as info:
            await aggregate("length")
        if not sqlite:
            assert isinstance(info.value, DataError)
            assert "out of the range of datetime.timedelta" in str(info.value)


async def test_an_aggregate_of_a_grouped_query_is_refused(session: AsyncSession) -> None:
    """It gave the value of whichever group came first; count() counts the groups."""
    await add(session, "a", timedelta(hours=1), timedelta(hours=2))
    await add(session, "b", timedelta(hours=4))
    grouped = session.query(Shift).group_by("crew")
    assert await grouped.count() == 2
    for name in ("sum", "avg", "min", "max"):
        with pytest.raises(ValueError, match=rf"{name}\(\) over a query with group_by"):
            await getattr(grouped, name)("id")
        with pytest.raises(ValueError, match="one value per group"):
            await getattr(session.query(Shift).having(id__gt=0), name)("length")
    assert await session.query(Shift).sum("length") == timedelta(hours=7)
