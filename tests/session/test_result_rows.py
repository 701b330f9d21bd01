"""The rows and results of ``session.execute`` behave as SQLAlchemy 2.0's: rows are
tuples reachable by name (``row.name``, ``row.User``, ``row._mapping``, ``row._asdict()``),
``mappings()`` gives a MappingResult, and a result has ``fetchone``/``fetchmany``/
``fetchall``/``partitions``/``unique``/``columns``/``tuples``. On every backend, for
selects of columns, of a model, of a model and a column, and for writes with RETURNING;
then the bad inputs, and the name rules on rows made without a database."""

from __future__ import annotations

import copy
import pickle
from datetime import datetime
from decimal import Decimal

import pytest
from session_models import User

from ormkit import (
    AsyncSession,
    MultipleResultsFound,
    NoResultFound,
    delete,
    insert,
    select,
    update,
)
from ormkit.orm.results import MappingResult, Result, Row, RowMapping, ScalarResult
from ormkit.orm.rows import row_class
from ormkit.sql import func

NAMES = ["ann", "bob", "cy", "dee", "eve"]


@pytest.fixture
async def users(session: AsyncSession) -> list[User]:
    """Five users, ann..eve, aged 20, 30, 30, 40, 40; ann and bob with the same meta."""
    people = [
        User(name=n, email=f"{n}@x.org", age=a, meta={"k": 1} if n in ("ann", "bob") else None)
        for n, a in zip(NAMES, [20, 30, 30, 40, 40], strict=True)
    ]
    await session.insert_all(people)
    return people


# -- rows by name, on every backend ------------------------------------------------------


async def test_column_rows_are_tuples_reachable_by_name(
    session: AsyncSession, users: list[User]
) -> None:
    result = await session.execute(select(User.id, User.name, User.age).order_by("name"))
    rows = result.all()
    expected = [(u.id, u.name, u.age) for u in users]
    assert rows == expected and expected == rows  # equal to plain tuples, both ways
    row = rows[0]
    assert isinstance(row, tuple) and isinstance(row, Row)
    assert hash(row) == hash(expected[0]) and row in set(expected)
    row_id, name, age = row  # unpacking
    assert (row.id, row.name, row.age) == (row_id, name, age) == (users[0].id, "ann", 20)
    assert row[1] == "ann" and row[-1] == 20 and row[:2] == (users[0].id, "ann")
    assert row._fields == ("id", "name", "age") and list(row._fields) == result.keys()
    assert row._asdict() == {"id": users[0].id, "name": "ann", "age": 20}
    assert type(row._asdict()) is dict
    assert row._tuple() == expected[0] and type(row._tuple()) is tuple
    assert row._t is row
    mapping = row._mapping
    assert isinstance(mapping, RowMapping)
    assert mapping["name"] == "ann" and list(mapping) == ["id", "name", "age"]
    assert len(mapping) == 3 and "age" in mapping and "email" not in mapping
    assert mapping == {"id": users[0].id, "name": "ann", "age": 20}
    assert dict(mapping.items()) == row._asdict() and list(mapping.values()) == list(row)
    assert repr(row) == f"Row(id={users[0].id}, name='ann', age=20)"
    assert repr(mapping) == f"{{'id': {users[0].id}, 'name': 'ann', 'age': 20}}"
    # the same shape of row is the same class, on every execute
    again = await session.execute(select(User.id, User.name, User.age).limit(1))
    assert type(again.one()) is type(row)
    # iteration, first(), one() hand out rows too
    assert [r.name for r in result] == NAMES
    assert result.first() is not None and result.first().name == "ann"  # type: ignore[union-attr]
    one = await session.execute(select(User.name).where(User.name == "bob"))
    assert one.one().name == "bob"


async def test_model_rows_are_named_by_the_model(session: AsyncSession, users: list[User]) -> None:
    result = await session.execute(select(User).order_by("name"))
    row = result.first()
    assert row is not None and row.User is users[0] and row == (users[0],)
    assert row._fields == ("User",) and row._mapping["User"] is users[0]
    assert row._asdict() == {"User": users[0]}
    assert repr(row) == f"Row(User={users[0]!r})"
    # scalars() hands out the instances themselves, never rows
    objs = result.scalars().all()
    assert objs == users and not any(isinstance(o, Row) for o in objs)
    (only,) = (await session.execute(select(User).filter_by(name="cy"))).one()
    assert only is users[2]


async def test_model_and_column_rows(session: AsyncSession, users: list[User]) -> None:
    result = await session.execute(select(User, User.age).order_by("name"))
    assert result.keys() == ["User", "age"]
    rows = result.all()
    assert [(r.User, r.age) for r in rows] == [(u, u.age) for u in users]
    assert rows[0].User is users[0] and rows[0]._mapping["age"] == 20
    maps = result.mappings().all()
    assert maps[1]["User"] is users[1] and maps[1] == {"User": users[1], "age": 30}
    assert result.columns("age", "User").first() == (20, users[0])
    assert result.scalars("User").all() == users
    assert result.scalars(1).all() == [20, 30, 30, 40, 40]


async def test_returning_rows_are_reachable_by_name(session: AsyncSession) -> None:
    ins = await session.execute(
        insert(User)
        .values([{"name": n, "email": f"{n}@x.org", "age": 1} for n in ("ann", "bob")])
        .returning(User.id, User.name)
    )
    assert ins.keys() == ["id", "name"] and ins.rowcount == 2
    rows = ins.all()
    assert sorted(r.name for r in rows) == ["ann", "bob"] and all(type(r.id) is int for r in rows)
    made = await session.execute(
        insert(User).values(name="cy", email="cy@x.org", balance=Decimal("2.50")).returning(User)
    )
    cy = made.one().User
    assert isinstance(cy, User) and cy.balance == Decimal("2.50") and cy in session
    upd = await session.execute(
        update(User).where(User.name != "cy").values(age=User.age + 1).returning(User.name, "age")
    )
    assert sorted(m["name"] for m in upd.mappings()) == ["ann", "bob"]
    assert upd.mappings().fetchall()[0]["age"] == 2 and upd.rowcount == 2
    both = await session.execute(
        update(User).where(User.name == "cy").values(age=5).returning(User, User.age)
    )
    row = both.one()
    assert row.User is cy and row.age == 5 and cy.age == 5
    gone = await session.execute(
        delete(User).where(User.name == "ann").returning(User.id, User.name)
    )
    (row,) = gone.fetchall()
    assert row.name == "ann" and row._asdict() == {"id": row[0], "name": "ann"}
    assert gone.fetchone() is None and gone.fetchall() == [] and gone.rowcount == 1
    # a write the session brings in step with its tracked objects (synchronized path)
    synced = await session.execute(update(User).values(age=9).returning(User.name))
    assert sorted(r.name for r in synced) == ["bob", "cy"] and cy.age == 9
    nothing = await session.execute(delete(User).where(User.name == "nobody"))
    assert nothing.all() == [] and nothing.keys() == [] and nothing.first() is None


async def test_names_that_are_no_attributes(session: AsyncSession, users: list[User]) -> None:
    """``count``/``index`` are tuple methods and ``a b`` / an unlabelled expression are no
    identifiers: all are keys of ``row._mapping``; a repeated name is ambiguous."""
    result = await session.execute(
        select(User.name.label("index"), User.age.label("count")).where(User.name == "ann")
    )
    row = result.one()
    assert row._mapping["index"] == "ann" and row._mapping["count"] == 20
    assert row.count("ann") == 1 and row.index(20) == 1  # still the tuple methods
    assert row._asdict() == {"index": "ann", "count": 20}
    counted = await session.execute(
        select(func.count(), func.max(User.age).label("a b")).select_from(User)
    )
    row = counted.one()
    assert counted.keys() == ["count", "a b"] and row == (5, 40)
    assert row._mapping["count"] == 5 and row._mapping["a b"] == 40
    assert repr(row) == "Row(count=5, 'a b'=40)"
    with pytest.raises(AttributeError, match=r"row\._mapping\['a b'\]"):
        getattr(row, "a b")
    assert (await session.execute(select(User).count())).one()._mapping["count"] == 5
    twice = await session.execute(
        select(User.name, User.email.label("name")).where(User.name == "ann")
    )
    row = twice.one()
    assert row == ("ann", "ann@x.org") and row._fields == ("name", "name")
    with pytest.raises(AttributeError, match=r"ambiguous.*positions \[0, 1\]"):
        _ = row.name
    with pytest.raises(KeyError, match="ambiguous"):
        row._mapping["name"]
    with pytest.raises(KeyError, match="ambiguous"):
        row._asdict()
    with pytest.raises(KeyError, match="ambiguous"):
        twice.columns("name")
    assert "name" in row._mapping and twice.columns(1).scalar() == "ann@x.org"


async def test_unlabelled_functions_are_named_after_the_function(
    session: AsyncSession, users: list[User]
) -> None:
    # as SQLAlchemy 2.0: count, then count_1, count_2 ... for the next ones of that name
    per_age = await session.execute(
        select(User.age, func.count(User.id), func.max(User.name))
        .group_by(User.age)
        .order_by(User.age)
    )
    assert per_age.keys() == ["age", "count", "max"]
    rows = per_age.all()
    assert [(r.age, r._mapping["count"], r.max) for r in rows] == [
        (20, 1, "ann"),
        (30, 2, "cy"),
        (40, 2, "eve"),
    ]
    both = await session.execute(
        select(func.count(), func.count(User.age), func.max(User.name), func.count(User.id))
        .select_from(User)
        .where(User.name == "bob")
    )
    assert both.keys() == ["count", "count_1", "max", "count_2"]
    row = both.one()
    assert row._asdict() == {"count": 1, "count_1": 1, "max": "bob", "count_2": 1}
    assert row.count_1 == 1 and row.max == "bob"
    # a label wins; the function's own name stays free for the next one
    labelled = await session.execute(
        select(func.count().label("n"), func.count(User.id)).select_from(User)
    )
    assert labelled.keys() == ["n", "count"] and labelled.one() == (5, 5)
    # without a model: two current-time functions are two named datetime columns (on
    # SQLite they had the same unnamed text, and came back as strings)
    times = await session.execute(select(func.now(), func.current_timestamp()))
    row = times.one()
    assert times.keys() == ["now", "current_timestamp"]
    assert all(isinstance(v, datetime) for v in row), row


# -- mappings() ------------------------------------------------------------------------


async def test_mappings(session: AsyncSession, users: list[User]) -> None:
    result = await session.execute(select(User.name, User.age).order_by("name"))
    maps = result.mappings()
    assert isinstance(maps, MappingResult) and maps.keys() == ["name", "age"]
    assert maps.all() == [
        {"name": n, "age": a} for n, a in zip(NAMES, [20, 30, 30, 40, 40], strict=True)
    ]
    assert maps.first() == {"name": "ann", "age": 20}
    assert [m["name"] for m in maps] == NAMES
    # list-like, as mappings() used to be a list of dicts
    assert len(maps) == 5 and maps[0]["name"] == "ann" and maps[-1]["name"] == "eve"
    assert [m["name"] for m in maps[1:3]] == ["bob", "cy"]
    with pytest.raises(IndexError):
        maps[5]
    with pytest.raises(TypeError):
        maps[0]["name"] = "x"  # type: ignore[index]  # read-only
    assert maps.fetchone() == {"name": "ann", "age": 20}
    assert [m["name"] for m in maps.fetchmany(2)] == ["bob", "cy"]
    assert len(maps) == 2 and [m["name"] for m in maps.fetchall()] == ["dee", "eve"]
    assert maps.fetchone() is None and maps.all() == [] and len(maps) == 0
    assert result.mappings().columns("age").unique().all() == [{"age": a} for a in (20, 30, 40)]
    ann = (await session.execute(select(User.name).where(User.name == "ann"))).mappings()
    assert ann.one() == {"name": "ann"} and ann.one_or_none() == {"name": "ann"}
    with pytest.raises(MultipleResultsFound):
        result.mappings().one()
    with pytest.raises(MultipleResultsFound):
        result.mappings().one_or_none()


async def test_mappings_of_an_empty_result(session: AsyncSession) -> None:
    maps = (await session.execute(select(User.name, User.age))).mappings()
    assert maps.all() == [] and maps.first() is None and maps.one_or_none() is None
    assert maps.fetchone() is None and maps.fetchmany(3) == [] and maps.fetchall() == []
    assert len(maps) == 0 and list(maps) == [] and maps.keys() == ["name", "age"]
    assert list(maps.partitions(2)) == []
    with pytest.raises(NoResultFound):
        maps.one()
    with pytest.raises(IndexError):
        maps[0]


# -- the cursor, unique(), columns() -----------------------------------------------------


async def test_fetching_moves_a_cursor(session: AsyncSession, users: list[User]) -> None:
    result = await session.execute(select(User.name).order_by("name"))
    assert len(result) == 5
    assert result.fetchone() == ("ann",)
    assert result.fetchone().name == "bob"  # type: ignore[union-attr]
    # reading without fetching sees the rows not fetched yet, and can be repeated
    assert result.first() == ("cy",) and result.all() == [("cy",), ("dee",), ("eve",)]
    assert result.all() == [("cy",), ("dee",), ("eve",)] and len(result) == 3
    assert result.scalars().all() == ["cy", "dee", "eve"] and result.scalar() == "cy"
    assert result.fetchmany(2) == [("cy",), ("dee",)]
    assert result.fetchmany(2) == [("eve",)] and result.fetchmany(2) == []
    assert result.fetchone() is None and result.fetchone() is None
    assert result.all() == [] and result.first() is None and result.scalar() is None
    assert result.one_or_none() is None and len(result) == 0 and not result

    again = await session.execute(select(User.name).order_by("name"))
    assert [[r.name for r in part] for part in again.partitions(2)] == [
        ["ann", "bob"],
        ["cy", "dee"],
        ["eve"],
    ]
    assert again.fetchall() == []
    rest = await session.execute(select(User.name).order_by("name"))
    rest.fetchone()
    assert rest.fetchmany() == [("bob",), ("cy",), ("dee",), ("eve",)]  # no size: the rest
    whole = await session.execute(select(User.name).order_by("name"))
    everything = whole.all()
    assert list(whole.partitions()) == [everything] and whole.fetchone() is None


async def test_scalar_result_fetching(session: AsyncSession, users: list[User]) -> None:
    result = await session.execute(select(User.age).order_by("name"))
    ages = result.scalars()
    assert isinstance(ages, ScalarResult) and len(ages) == 5
    assert ages.fetchone() == 20 and ages.fetchmany(2) == [30, 30]
    assert ages.all() == [40, 40] and ages.first() == 40
    assert ages.fetchall() == [40, 40] and ages.fetchall() == [] and ages.fetchone() is None
    assert list(result.scalars().partitions(2)) == [[20, 30], [30, 40], [40]]
    assert result.scalars().unique().all() == [20, 30, 40]
    objs = (await session.execute(select(User).order_by("name"))).scalars()
    assert objs.fetchmany(3) == users[:3] and objs.fetchall() == users[3:]


async def test_unique_columns_tuples(session: AsyncSession, users: list[User]) -> None:
    result = await session.execute(select(User.age, User.name).order_by("name"))
    assert result.columns("age").unique().all() == [(20,), (30,), (40,)]
    assert result.columns(1, "age").first() == ("ann", 20)
    assert result.columns(-1).scalars().all() == NAMES
    assert result.columns(1).first().name == "ann"  # type: ignore[union-attr]
    assert result.columns().all() == result.all() and result.tuples() is result
    assert result.unique().all() == result.all()  # every row differs
    # unhashable values (JSON dicts) are compared by identity, never an error
    metas = await session.execute(select(User.meta).order_by("name"))
    # (ann's and bob's equal dicts stay two rows; the three NULLs become one)
    assert metas.unique().all() == [({"k": 1},), ({"k": 1},), (None,)]
    assert metas.scalars().unique().all() == [{"k": 1}, {"k": 1}, None]
    # model rows: one object per row already, unique() keeps each once
    twice = await session.execute(select(User, User.age).order_by("name"))
    assert twice.columns("User").unique().scalars().all() == users


# -- bad inputs --------------------------------------------------------------------------


async def test_bad_inputs(session: AsyncSession, users: list[User]) -> None:
    result = await session.execute(select(User.id, User.name))
    row = result.first()
    assert row is not None
    with pytest.raises(AttributeError, match="no field 'nope'; its names: 'id', 'name'"):
        _ = row.nope
    assert not hasattr(row, "nope") and getattr(row, "nope", 7) == 7
    with pytest.raises(KeyError, match="'nope' is no column of this row"):
        row._mapping["nope"]
    with pytest.raises(KeyError, match=r"use row\[i\]"):
        row._mapping[0]  # type: ignore[index]
    with pytest.raises(AttributeError):
        row.name = "x"  # type: ignore[misc]  # read-only
    for size in (0, -1):
        with pytest.raises(ValueError, match="at least 1"):
            result.fetchmany(size)
        with pytest.raises(ValueError, match="at least 1"):
            result.partitions(size)  # at the call, not at the first next()
        with pytest.raises(ValueError, match="at least 1"):
            result.scalars().fetchmany(size)
        with pytest.raises(ValueError, match="at least 1"):
            result.mappings().fetchmany(size)
    for bad in ("2", 1.5, True):
        with pytest.raises(TypeError):
            result.fetchmany(bad)  # type: ignore[arg-type]
    assert len(result) == 5  # nothing was fetched by the refused calls
    with pytest.raises(MultipleResultsFound, match="expected one row, found 5"):
        result.one()
    with pytest.raises(MultipleResultsFound):
        result.one_or_none()
    with pytest.raises(MultipleResultsFound):
        result.scalar_one()
    with pytest.raises(MultipleResultsFound):
        result.scalars().one()
    with pytest.raises(KeyError, match="no column 'nope'"):
        result.columns("nope")
    with pytest.raises(IndexError):
        result.columns(2)
    with pytest.raises(TypeError):
        result.columns(1.0)  # type: ignore[arg-type]
    with pytest.raises(KeyError):
        result.scalars("nope")
    with pytest.raises(IndexError):
        result.scalars(2)
    empty = await session.execute(select(User.id).where(User.name == "nobody"))
    with pytest.raises(NoResultFound):
        empty.one()
    with pytest.raises(NoResultFound):
        empty.scalar_one()
    with pytest.raises(NoResultFound):
        empty.scalars().one()
    assert empty.scalar_one_or_none() is None and empty.scalars().first() is None


# -- rows without a database -------------------------------------------------------------


def test_row_classes_are_cached_and_cheap() -> None:
    cls = row_class(["id", "name"])
    assert row_class(("id", "name")) is cls and row_class(["name", "id"]) is not cls
    row = cls((1, "a"))
    assert row.__slots__ == () and not hasattr(row, "__dict__")
    assert cls.__name__ == "Row" and issubclass(cls, Row)


def test_rows_pickle_and_copy() -> None:
    row = row_class(["id", "a b"])((1, {"x": [1]}))
    for twin in (pickle.loads(pickle.dumps(row)), copy.copy(row), copy.deepcopy(row)):
        assert twin == row and twin._fields == ("id", "a b") and twin.id == 1
        assert twin._mapping["a b"] == {"x": [1]}
    assert copy.deepcopy(row)[1] is not row[1]


def test_names_that_clash_with_row_attributes() -> None:
    names = ["_fields", "_mapping", "_asdict", "__len__", "class", "ok"]
    row = row_class(names)((1, 2, 3, 4, 5, 6))
    assert row._fields == tuple(names) and row._mapping["_fields"] == 1
    assert row._mapping["_mapping"] == 2 and row._mapping["__len__"] == 4
    assert getattr(row, "class") == 5 and row.ok == 6 and len(row) == 6
    assert row._asdict() == dict(zip(names, range(1, 7), strict=True))


def test_result_built_directly() -> None:
    """``Result(rows, columns, rowcount)`` as the session builds it; rows become Row
    objects only when handed out, once for ``all()``."""
    raw = [(i, f"n{i}") for i in range(3000)]
    result = Result(raw, ["id", "name"], 3000)
    assert repr(result) == "<Result keys=['id', 'name'] rows=3000 rowcount=3000>"
    assert result.scalars().all() == list(range(3000))
    first = result.all()
    assert first == raw and all(type(r) is type(first[0]) for r in first)
    assert result.all()[5] is first[5]  # converted once
    assert raw[0] is not first[0] and type(raw[0]) is tuple  # the input is left alone
    # a long fetchone() loop drops the fetched rows as it goes and stays exact
    seen = []
    while (row := result.fetchone()) is not None:
        seen.append(row.id)
    assert seen == list(range(3000)) and len(result) == 0
