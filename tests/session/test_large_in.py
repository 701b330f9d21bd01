"""Long ``__in`` / ``__notin`` lists and ``Column.in_()`` / ``not_in()``: a list of more
than 1,000 values is sent as one parameter (a PostgreSQL array unnested in a subquery, a
JSON list read by SQLite's ``json_each``), so a list of any length fits under the
backends' parameter limits (65,535 and 32,766) and matches exactly the rows a list of
one parameter per value matches. Shorter lists keep their SQL."""

from __future__ import annotations

import datetime as dt
import enum
import json
import os
import re
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from backends import ALL_BACKENDS, SQLITE_BACKENDS, engine_with_tables
from statement_log import SqlLog

import ormkit
from ormkit import (
    JSON,
    AsyncSession,
    ForeignKey,
    Mapped,
    Q,
    mapped_column,
    relationship,
    select,
    selectinload,
)
from ormkit.dialects import SQLITE, get_dialect
from ormkit.orm import Registry, declarative_base
from ormkit.sql.expressions import tuple_
from ormkit.types import Integer

S = f"_{os.getpid()}"

Base = declarative_base("LargeInBase", registry=Registry(track=False))


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"
    BLUE = "blue"


class Level(enum.IntEnum):
    LOW = 1
    MID = 2
    HIGH = 3


class Num(Base):
    __tablename__ = f"li_nums{S}"

    id: Mapped[int] = mapped_column(primary_key=True)
    small: Mapped[int] = mapped_column(Integer)
    name: Mapped[str]
    flag: Mapped[bool] = mapped_column(default=False)
    maybe: Mapped[int | None] = mapped_column(nullable=True)
    meta: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class Typed(Base):
    __tablename__ = f"li_typed{S}"

    id: Mapped[int] = mapped_column(primary_key=True)
    big: Mapped[int]
    i4: Mapped[int] = mapped_column(Integer)
    s: Mapped[str]
    vs: Mapped[str] = mapped_column(max_length=20)
    f: Mapped[float]
    b: Mapped[bool]
    d: Mapped[Decimal]
    u: Mapped[uuid.UUID]
    day: Mapped[dt.date]
    ts: Mapped[dt.datetime]
    tstz: Mapped[dt.datetime] = mapped_column(timezone=True)
    tm: Mapped[dt.time]
    iv: Mapped[dt.timedelta]
    by: Mapped[bytes]
    color: Mapped[Color]
    level: Mapped[Level]


class Parent(Base):
    __tablename__ = f"li_parents{S}"

    id: Mapped[int] = mapped_column(primary_key=True)
    children: Mapped[list[Child]] = relationship(back_populates="parent", order_by="id")


class Child(Base):
    __tablename__ = f"li_children{S}"

    id: Mapped[int] = mapped_column(primary_key=True)
    parent_id: Mapped[int] = mapped_column(ForeignKey(f"li_parents{S}.id"))
    parent: Mapped[Parent] = relationship(back_populates="children")


MODELS = [Num, Typed, Parent, Child]
ROWS = 3000
#: the values a list sends as one parameter start above this many
THRESHOLD = 1000


@pytest.fixture(params=ALL_BACKENDS)
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ormkit.Engine]:
    """An engine on each backend with this module's tables created empty."""
    async with engine_with_tables(request, request.param, tmp_path, MODELS) as eng:
        yield eng


@pytest.fixture(params=SQLITE_BACKENDS)
async def sqlite_engine(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[ormkit.Engine]:
    """An engine on a SQLite file and on ``:memory:`` with this module's tables."""
    async with engine_with_tables(request, request.param, tmp_path, MODELS) as eng:
        yield eng


async def fill_nums(session: AsyncSession) -> None:
    """Rows 1 … ROWS; ``maybe`` is NULL on every tenth row, else the id."""
    await session.insert_all(
        Num(
            id=i,
            small=i,
            name=f"n{i}",
            maybe=None if i % 10 == 0 else i,
            meta={"tag": f"t{i}"},
        )
        for i in range(1, ROWS + 1)
    )


def evens(count: int) -> list[int]:
    """``count`` even numbers from 2: the even rows (ROWS // 2 of them) and many more."""
    return list(range(2, 2 * count + 1, 2))


async def ids(query: ormkit.Query[Any]) -> list[int]:
    return sorted(obj.id for obj in await query.all())


# -- the SQL ----------------------------------------------------------------------------


async def test_long_lists_are_one_parameter_and_short_ones_unchanged(
    session: AsyncSession,
) -> None:
    q = session.query(Num)
    postgres = session.dialect == "postgresql"

    sql, params = q.filter(id__in=list(range(THRESHOLD))).to_sql()
    assert len(params) == THRESHOLD and params == list(range(THRESHOLD))
    first, last = ("$1", f"${THRESHOLD}") if postgres else ("?", "?")
    assert f".id IN ({first}, " in sql or f" id IN ({first}, " in sql
    assert sql.endswith(f"{last})")

    for count in (THRESHOLD + 1, 70_000):
        values = list(range(count))
        sql, params = q.filter(id__in=values).to_sql()
        # an array on PostgreSQL, JSON text on SQLite (written by the engine)
        assert params == [values] if postgres else json.loads(params[0]) == values
        if postgres:
            assert sql.endswith("WHERE id IN (SELECT unnest($1::BIGINT[]))")
        else:
            assert sql.endswith("WHERE id IN (SELECT value FROM json_each(?))")
        sql, params = q.filter(name__notin=[str(v) for v in values]).to_sql()
        if postgres:
            assert sql.endswith("WHERE name NOT IN (SELECT unnest($1::TEXT[]))")
        else:  # a TEXT column compares with the values as text
            assert sql.endswith("WHERE name NOT IN (SELECT CAST(value AS TEXT) FROM json_each(?))")

    # one SQL text (one cached statement) whatever the length
    texts = {q.filter(small__in=list(range(n))).to_sql()[0] for n in (1001, 5000, 40_000)}
    assert len(texts) == 1
    assert ("INTEGER[]" if postgres else "json_each") in texts.pop()


async def test_sql_sent_has_one_parameter(session: AsyncSession, sql_log: SqlLog) -> None:
    await fill_nums(session)
    sql_log.clear()
    assert await ids(session.query(Num).filter(id__in=evens(40_000))) == list(range(2, ROWS + 1, 2))
    (event,) = sql_log.events
    assert event.param_count == 1
    assert ("unnest" if session.dialect == "postgresql" else "json_each") in event.sql


# -- every operation, beyond both parameter limits ---------------------------------------


@pytest.mark.parametrize("count", [40_000, 70_000])
async def test_operations_with_many_values(session: AsyncSession, count: int) -> None:
    await fill_nums(session)
    big = evens(count)
    even = [i for i in range(1, ROWS + 1) if i % 2 == 0]
    odd = [i for i in range(1, ROWS + 1) if i % 2]
    q = session.query(Num)

    assert await ids(q.filter(id__in=big)) == even
    assert await q.filter(id__in=big).count() == len(even)
    assert await ids(q.exclude(id__in=big)) == odd
    assert await ids(q.filter(id__notin=big)) == odd
    assert await ids(q.filter(pk__in=big)) == even
    assert await ids(q.filter(small__in=big)) == even  # a 32-bit column
    assert await ids(q.filter(Q(id__in=big) | Q(name="n1"))) == [1, *even]
    assert await ids(q.filter(Q(id__in=big) & Q(id__lt=10))) == [2, 4, 6, 8]
    assert await ids(q.filter(~Q(id__in=big))) == odd
    assert await ids(q.filter(~Q(id__notin=big))) == even
    assert await ids(q.filter(name__in=[f"n{i}" for i in big])) == even

    rows = (await session.execute(select(Num).where(Num.id.in_(big)))).scalars().all()
    assert sorted(r.id for r in rows) == even
    rows = (await session.execute(select(Num).where(Num.id.not_in(big)))).scalars().all()
    assert sorted(r.id for r in rows) == odd
    rows = (await session.execute(select(Num).where(~Num.id.in_(big)))).scalars().all()
    assert sorted(r.id for r in rows) == odd

    assert await q.filter(id__in=big).update(flag=True) == len(even)
    assert await ids(q.filter(flag=True)) == even
    assert await q.filter(id__in=big).delete() == len(even)
    assert await ids(q) == odd


async def test_none_in_long_and_short_lists_means_the_same(session: AsyncSession) -> None:
    """``None`` in a list matches NULL for ``__in`` and keeps NULL rows out for
    ``__notin`` (and under NOT: ``exclude``, ``~Q``), long or short."""
    await fill_nums(session)
    q = session.query(Num)
    nulls = [i for i in range(1, ROWS + 1) if i % 10 == 0]
    for count in (5, 70_000):
        big = evens(count)
        with_none = [*big, None]
        chosen = {v for v in big if v <= ROWS}
        in_ = sorted(i for i in range(1, ROWS + 1) if i in chosen and i % 10)
        not_null_out = sorted(i for i in range(1, ROWS + 1) if i not in chosen and i % 10)
        assert await ids(q.filter(maybe__in=big)) == in_
        assert await ids(q.filter(maybe__in=with_none)) == sorted(in_ + nulls)
        # NOT IN leaves NULL rows out, with or without None in the list
        assert await ids(q.filter(maybe__notin=big)) == not_null_out
        assert await ids(q.filter(maybe__notin=with_none)) == not_null_out
        # NOT (x NOT IN …) is NULL for NULL x: still left out (three-valued logic)
        assert await ids(q.exclude(maybe__notin=big)) == in_
        assert await ids(q.filter(~Q(maybe__notin=big))) == in_
        assert await ids(q.exclude(maybe__in=big)) == not_null_out
        assert await ids(q.exclude(maybe__in=with_none)) == not_null_out
        expr = (await session.execute(select(Num).where(Num.maybe.in_(with_none)))).scalars()
        assert sorted(r.id for r in expr.all()) == sorted(in_ + nulls)
    # only None: IS NULL / IS NOT NULL; an empty list: nothing / everything
    assert await ids(q.filter(maybe__in=[None])) == nulls
    assert await q.filter(id__in=[]).count() == 0
    assert await q.filter(id__notin=[]).count() == ROWS


# -- every column type ------------------------------------------------------------------

UTC = dt.UTC
SPECIAL_TEXT = ["", "a'b", 'q"q', "c,d", "{x}", "back\\slash", "ünï €", "NULL", "1", "  "]


def typed_row(k: int) -> dict[str, Any]:
    """The values of row ``k`` (and, for k above the rows, values matching no row)."""
    offset = dt.timezone(dt.timedelta(hours=k % 7 - 3, minutes=30 * (k % 2)))
    return {
        "big": k * 7 - 100,
        "i4": k,
        "s": SPECIAL_TEXT[k] if k < len(SPECIAL_TEXT) else f"s{k}",
        "vs": f"v{k}",
        "f": k / 10 + 0.1 + 0.2,
        "b": k % 2 == 0,
        "d": Decimal(k * 7) / 100 + Decimal("98765432109876.000100"),  # beyond a float
        "u": uuid.UUID(int=k * 7919),
        "day": dt.date(1999, 12, 31) + dt.timedelta(days=k * 37),
        "ts": dt.datetime(2020, 1, 1) + dt.timedelta(seconds=k * 3601, microseconds=13 * (k % 3)),
        "tstz": dt.datetime(2021, 5, 6, 7, 8, 9, k, tzinfo=offset) + dt.timedelta(hours=k),
        "tm": (dt.datetime(2000, 1, 1) + dt.timedelta(seconds=k * 37, microseconds=k % 3)).time(),
        "iv": dt.timedelta(days=k, seconds=k * 5, microseconds=k),
        "by": bytes([k % 256, 0, 255, k % 7]),
        "color": list(Color)[k % 3],
        "level": list(Level)[k % 3],
    }


def probe(column: str, k: int) -> Any:
    """The value a list holds to find row ``k`` by ``column``: equal to the stored one,
    in another form where the type has several (an equal Decimal of another scale, the
    same instant in another time zone)."""
    value = typed_row(k)[column]
    if column == "d":
        return value.normalize()
    if column == "tstz":
        return value.astimezone(dt.timezone(dt.timedelta(hours=-11)))
    return value


TYPED_ROWS = 30
COLUMNS = [c for c in typed_row(0) if c not in ("b", "color", "level")]


@pytest.fixture
async def typed(session: AsyncSession) -> list[Typed]:
    rows = [Typed(id=k, **typed_row(k)) for k in range(TYPED_ROWS)]
    await session.insert_all(rows)
    session.expunge_all()
    return rows


async def in_both_forms(
    session: AsyncSession, column: str, values: list[Any], negate: bool
) -> tuple[list[int], list[int]]:
    """The ids ``column__in`` (``__notin``) ``values`` finds as one long list, and as the
    union (intersection) of lists of 1,000 values at most, bound one by one."""
    op = "notin" if negate else "in"
    q = session.query(Typed)
    long = await ids(q.filter(**{f"{column}__{op}": values}))
    found: set[int] | None = None
    for start in range(0, len(values), THRESHOLD):
        part = set(await ids(q.filter(**{f"{column}__{op}": values[start : start + THRESHOLD]})))
        if found is None:
            found = part
        elif negate:
            found &= part
        else:
            found |= part
    assert found is not None
    return long, sorted(found)


@pytest.mark.parametrize("column", COLUMNS)
async def test_every_type_matches_as_short_lists_do(
    session: AsyncSession, typed: list[Typed], column: str
) -> None:
    wanted = [k for k in range(TYPED_ROWS) if k % 3 != 1]
    others = list(range(TYPED_ROWS + 1, TYPED_ROWS + 1 + THRESHOLD))  # match no row
    values = [probe(column, k) for k in wanted] + [typed_row(k)[column] for k in others]
    assert len(values) > THRESHOLD
    assert len(session.query(Typed).filter(**{f"{column}__in": values}).to_sql()[1]) == 1

    long, short = await in_both_forms(session, column, values, negate=False)
    assert long == short == wanted
    long, short = await in_both_forms(session, column, values, negate=True)
    expected = [k for k in range(TYPED_ROWS) if k not in wanted]
    assert long == short == expected


@pytest.mark.parametrize(
    ("column", "value"),
    [("b", True), ("b", False), ("color", Color.BLUE), ("level", Level.MID)],
)
async def test_few_distinct_values_repeated(
    session: AsyncSession, typed: list[Typed], column: str, value: Any
) -> None:
    values = [value] * (THRESHOLD + 1)
    wanted = [k for k in range(TYPED_ROWS) if typed_row(k)[column] == value]
    assert 0 < len(wanted) < TYPED_ROWS
    long, short = await in_both_forms(session, column, values, negate=False)
    assert long == short == wanted
    long, short = await in_both_forms(session, column, values, negate=True)
    assert long == short == [k for k in range(TYPED_ROWS) if k not in wanted]


@pytest.mark.parametrize("column", ["big", "i4"])
async def test_70000_ints_in_each_integer_column(
    session: AsyncSession, typed: list[Typed], column: str
) -> None:
    values = [k * 7 - 100 if column == "big" else k for k in range(0, 140_000, 2)]
    assert len(values) == 70_000
    assert await ids(session.query(Typed).filter(**{f"{column}__in": values})) == list(
        range(0, TYPED_ROWS, 2)
    )
    assert await ids(session.query(Typed).filter(**{f"{column}__notin": values})) == list(
        range(1, TYPED_ROWS, 2)
    )


async def outcome(session: AsyncSession, column: str, values: list[Any], negate: bool) -> Any:
    """What ``in_both_forms`` gives, or for each form the error it raises (its type and
    message, without the parameter's position, which differs)."""
    try:
        return await in_both_forms(session, column, values, negate)
    except ormkit.Error as exc:
        long_error = (type(exc), re.sub(r"parameter \$\d+: ", "", str(exc).splitlines()[0]))
    op = "notin" if negate else "in"
    short = session.query(Typed).filter(**{f"{column}__{op}": values[:THRESHOLD]})
    with pytest.raises(ormkit.Error) as info:
        await short.all()
    short_error = (info.type, re.sub(r"parameter \$\d+: ", "", str(info.value).splitlines()[0]))
    return long_error, short_error


async def test_loose_types_match_as_short_lists_do(
    session: AsyncSession, typed: list[Typed]
) -> None:
    """Values of another Python type than the column's compare (or are refused) as they
    are bound one by one: ints in a float column, floats in an integer column, ints out
    of range of a 32-bit column, Decimals in a text column, text in a date column."""
    filler = list(range(1000, 2001))
    cases: list[tuple[str, list[Any]]] = [
        ("f", [float(typed_row(k)["f"]) for k in range(5)] + filler),
        ("big", [-100.0, -93.0, *filler]),
        ("i4", [0, 1, *range(2**40, 2**40 + 1000)]),
        ("s", ["1", "a'b", *map(Decimal, filler)]),
        (
            "day",
            [typed_row(k)["day"].isoformat() for k in range(3)] + [f"{k}-01-01" for k in filler],
        ),
        ("d", [float(typed_row(k)["d"]) for k in range(3)] + filler),
    ]
    matched = 0
    for column, values in cases:
        for negate in (False, True):
            long, short = await outcome(session, column, values, negate)
            assert long == short, (column, negate)
            matched += isinstance(long, list) and 0 < len(long) < TYPED_ROWS
    assert matched >= 4


# -- other operands ----------------------------------------------------------------------


async def test_json_path_and_relationship_lookups(session: AsyncSession) -> None:
    await fill_nums(session)
    big = evens(THRESHOLD + 500)
    even = [i for i in range(1, ROWS + 1) if i % 2 == 0]
    q = session.query(Num)
    assert await ids(q.filter(meta__tag__in=[f"t{i}" for i in big])) == even
    assert len(await ids(q.filter(meta__tag__notin=[f"t{i}" for i in big]))) == ROWS - len(even)

    parents = [Parent(id=i) for i in range(1, 1501)]
    await session.insert_all(parents)
    await session.insert_all(Child(id=i, parent_id=i) for i in range(1, 1501))
    children = session.query(Child)
    assert await ids(children.filter(parent__in=parents[::2])) == list(range(1, 1501, 2))
    assert await ids(children.filter(parent__notin=list(range(2, 1501, 2)))) == list(
        range(1, 1501, 2)
    )
    assert await ids(children.filter(parent__id__in=list(range(1, 3000)))) == list(range(1, 1501))


async def test_selectinload_of_many_parents(session: AsyncSession, sql_log: SqlLog) -> None:
    """The loaders cut their IN lists at the parameter limit and build them with the same
    ``in_()``: a load below which more is loaded (here ``children.parent``) sends the keys
    of thousands of parents as one parameter, and every child still finds its parent."""
    count = 4000
    await session.insert_all(Parent(id=i) for i in range(1, count + 1))
    await session.insert_all(Child(id=i, parent_id=(i + 1) // 2) for i in range(1, 2 * count + 1))
    session.expunge_all()
    sql_log.clear()
    loaded = (
        await session.query(Parent).options(selectinload("children.parent")).order_by("id").all()
    )
    assert len(loaded) == count
    assert all([c.id for c in p.children] == [2 * p.id - 1, 2 * p.id] for p in loaded)
    assert all(c.parent is p for p in loaded for c in p.children)
    assert len(sql_log) == 2
    assert sql_log.events[1].param_count == 1
    assert ("unnest" if session.dialect == "postgresql" else "json_each") in sql_log.sql[1]


# -- what cannot be one parameter --------------------------------------------------------


async def test_list_with_expressions_stays_value_by_value(session: AsyncSession) -> None:
    await fill_nums(session)
    values: list[Any] = [*range(2, 2 * THRESHOLD + 2, 2), Num.small]
    sql, params = session.query(Num).filter(Num.id.in_(values)).to_sql()
    assert len(params) == THRESHOLD
    assert "unnest" not in sql and "json_each" not in sql
    assert await session.query(Num).filter(Num.id.in_(values)).count() == ROWS


async def test_too_many_values_that_cannot_be_one_parameter(session: AsyncSession) -> None:
    limit = get_dialect(session.dialect).max_params
    values: list[Any] = [*range(limit), Num.small]
    with pytest.raises(ValueError, match=rf"IN list of {limit + 1} values .* {limit} parameters"):
        await session.query(Num).filter(Num.id.in_(values)).all()
    with pytest.raises(ValueError, match=r"an SQL expression \(Num\.small\)"):
        session.query(Num).filter(Num.id.not_in(values)).to_sql()
    rows = [(i, i) for i in range(limit + 1)]
    with pytest.raises(ValueError, match=r"rows of values \(a tuple_\(\) of columns"):
        await session.query(Num).filter(tuple_(Num.id, Num.small).in_(rows)).count()
    # a composite IN list under the limit is sent as it was
    await fill_nums(session)
    rows = [(i, i) for i in range(1, 2 * ROWS, 2)]
    assert await session.query(Num).filter(tuple_(Num.id, Num.small).in_(rows)).count() == ROWS // 2
    await session.query(Num).delete()
    assert await session.query(Num).count() == 0


async def test_sqlite_list_of_other_floats_or_mixed_bytes(sqlite_engine: ormkit.Engine) -> None:
    """SQLite: JSON holds no infinity and no bytes: a list with an infinity, or bytes
    mixed with other values, is bound value by value, and above the parameter limit
    refused with a clear error."""
    async with AsyncSession(sqlite_engine) as session:
        await session.insert_all(Typed(id=k, **typed_row(k)) for k in range(TYPED_ROWS))
        q = session.query(Typed)
        floats = [typed_row(k)["f"] for k in range(3)] + [float("inf")] * THRESHOLD
        sql, params = q.filter(f__in=floats).to_sql()
        assert len(params) == len(floats) and "json_each" not in sql
        assert await ids(q.filter(f__in=floats)) == [0, 1, 2]
        mixed: list[Any] = [typed_row(0)["by"], *[str(k) for k in range(THRESHOLD)]]
        assert len(q.filter(by__in=mixed).to_sql()[1]) == len(mixed)
        assert await ids(q.filter(by__in=mixed)) == [0]
        blobs = [typed_row(k)["by"] for k in range(3)] + [b"x%d" % k for k in range(THRESHOLD)]
        sql, params = q.filter(by__in=blobs).to_sql()
        assert json.loads(params[0]) == [b.hex() for b in blobs] and "unhex(value)" in sql
        assert await ids(q.filter(by__in=blobs)) == [0, 1, 2]
        with pytest.raises(ValueError, match=r"32766 parameters .* holds .*an infinite float"):
            await q.filter(f__notin=[1.5, *[float("inf")] * 40_000]).count()
        with pytest.raises(ValueError, match="bytes mixed with values of other types"):
            await q.filter(by__in=[b"x", *range(40_000)]).count()


async def test_sqlite_text_affinity(sqlite_engine: ormkit.Engine) -> None:
    """SQLite converts the values of a parameter list to text when compared with a TEXT
    column, but not those of a subquery: the long form casts them, so ``'1'`` stored
    in a text column matches the int 1 in either form; in an INTEGER column ``'7'``
    matches 7 both ways (numeric affinity)."""
    async with AsyncSession(sqlite_engine) as session:
        await session.insert_all(
            Num(id=i, small=i, name=name, maybe=i)
            for i, name in enumerate(["1", "2.5", "x", "10", "1.0", "7"], start=1)
        )
        q = session.query(Num)
        filler = [f"z{k}" for k in range(THRESHOLD)]
        for probes, wanted in [([1], [1]), ([2.5], [2]), ([10], [4]), ([1.0], [5]), ([True], [1])]:
            values = [*probes, *filler]
            assert await ids(q.filter(name__in=probes)) == wanted
            assert await ids(q.filter(name__in=values)) == wanted
            assert await ids(q.filter(name__notin=values)) == [
                i for i in range(1, 7) if i not in wanted
            ]
        assert await ids(q.filter(maybe__in=["6", "7", *filler])) == [6]


async def test_sqlite_json_items_are_the_stored_form(sqlite_engine: ormkit.Engine) -> None:
    """Each value of a long list reaches ``json_each`` as the very value the engine
    stores when it binds it alone (``SELECT ?``)."""
    odd_offset = dt.timezone(dt.timedelta(hours=-3, minutes=-7, seconds=-5, microseconds=-9))
    values: list[Any] = [
        0,
        -(2**63),
        2**63 - 1,
        True,
        False,
        1.5,
        -0.0,
        5e-324,
        1.7976931348623157e308,
        0.1 + 0.2,
        "",
        'a"b\\c\n\t\x01ü€😀',
        Decimal("12.340"),
        Decimal("-0.00"),
        Decimal("1E+3"),
        Decimal("1.5E-10"),
        Decimal("NaN"),
        Decimal("-Infinity"),
        uuid.UUID(int=2**128 - 1),
        dt.date(1, 1, 1),
        dt.date(9999, 12, 31),
        dt.datetime(2024, 2, 29, 13, 5),
        dt.datetime(999, 1, 2, 3, 4, 5, 6),
        dt.datetime(2024, 1, 1, 0, 30, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30))),
        dt.datetime(2024, 1, 1, 0, 0, 0, 1, tzinfo=odd_offset),
        dt.datetime(2024, 1, 1, tzinfo=UTC),
        dt.time(0, 0),
        dt.time(23, 59, 59, 999_999),
        dt.time(12, 0, tzinfo=dt.timezone(dt.timedelta(hours=-2))),
        dt.timedelta(0),
        dt.timedelta(days=-1, microseconds=1),
        dt.timedelta(days=106_751_991, seconds=14_454, microseconds=775_807),
        Color.RED,
        Level.HIGH,
    ]
    for value in values:
        stored = (await sqlite_engine.execute("SELECT ?", [value])).scalar()
        sent = SQLITE.in_list_param([value], None)
        assert not isinstance(sent, str), (value, sent)
        read = await sqlite_engine.execute("SELECT value FROM json_each(?)", [sent.value])
        got = read.scalar()
        assert (type(got), got) == (type(stored), stored), value
    blob = b"\x00\xffab"
    sent = SQLITE.in_list_param([blob], None)
    assert not isinstance(sent, str) and sent.form == "hex"
    read = await sqlite_engine.execute("SELECT unhex(value) FROM json_each(?)", [sent.value])
    assert read.scalar() == (await sqlite_engine.execute("SELECT ?", [blob])).scalar() == blob
    # what SQLite would not store alone is bound alone (the engine then says why)
    for unsent in (float("nan"), float("inf"), dt.timedelta(days=999_999_999)):
        assert isinstance(SQLITE.in_list_param([unsent], None), str)


async def test_postgresql_generic_plan_is_not_a_scan_per_value(pg_url: str) -> None:
    """A prepared statement may get a generic plan (PostgreSQL switches after five runs),
    in which an array parameter is guessed to hold 10 values: ``x = ANY($1)`` would then
    test every row against every value in turn. The subquery is hashed (or looked up in
    an index) whatever the plan."""
    engine = await ormkit.create_engine(pg_url)
    try:
        await engine.drop_all([Num])
        await engine.create_all([Num])
        async with AsyncSession(engine) as session:
            await fill_nums(session)
            query = session.query(Num).filter(small__notin=evens(50_000))
            sql, params = query.to_sql()
        async with engine.transaction() as tx:
            await tx.execute("SET LOCAL plan_cache_mode = force_generic_plan")
            plan = "\n".join((await tx.execute("EXPLAIN " + sql, params)).column(0))
            rows = await tx.execute(sql, params)
        assert sorted(row["id"] for row in rows) == list(range(1, ROWS + 1, 2))
        assert "ALL (" not in plan and "ANY (" not in plan, plan
        assert "hashed SubPlan" in plan or "Hash" in plan, plan
        await engine.drop_all([Num])
    finally:
        await engine.close()
