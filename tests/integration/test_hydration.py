"""Rows to Python objects in Rust (issue 4 item 8, issue 6 item 6): ``to_models`` on every
kind of class, converters run natively, ``columns=`` selections, ``unique_models`` and
``group_rows`` for joined results, and the garbage collector left as it was found. On
SQLite (file and memory) and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import enum
import gc
import uuid
import weakref
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from backends import ALL_BACKENDS, backend_url

import ormkit
from ormkit.errors import InterfaceError


@pytest.fixture(params=ALL_BACKENDS)
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ormkit.Engine]:
    eng = await ormkit.create_engine(backend_url(request, request.param, tmp_path))
    for table in ("hyd_children", "hyd_parents"):
        await eng.execute(f"DROP TABLE IF EXISTS {table}")
    await eng.execute("CREATE TABLE hyd_parents (id integer PRIMARY KEY, name text NOT NULL)")
    await eng.execute(
        "CREATE TABLE hyd_children (id integer PRIMARY KEY, parent_id integer, label text)"
    )
    async with eng.transaction() as tx:
        await tx.executemany(
            "INSERT INTO hyd_parents VALUES ($1, $2)", [(i, f"p{i}") for i in range(1, 5)]
        )
        # parent 1: three children, parent 2: one, parents 3 and 4: none; child 9: orphan
        await tx.executemany(
            "INSERT INTO hyd_children VALUES ($1, $2, $3)",
            [(1, 1, "a"), (2, 1, "b"), (3, 1, None), (4, 2, "c"), (9, None, "orphan")],
        )
    try:
        yield eng
    finally:
        for table in ("hyd_children", "hyd_parents"):
            await eng.execute(f"DROP TABLE IF EXISTS {table}")
        await eng.close()


class Plain:
    def __init__(self) -> None:
        raise AssertionError("to_models must not call __init__")


class WithProperty:
    """``name`` is a data descriptor: the row's values go into ``__dict__`` directly."""

    @property
    def name(self) -> str:
        return "from the property"

    @name.setter
    def name(self, value: str) -> None:
        raise AssertionError("to_models must not call a property setter")


class CustomNew:
    made = 0

    def __new__(cls) -> CustomNew:
        cls.made += 1
        obj = super().__new__(cls)
        obj.__dict__["extra"] = "kept"
        return obj


class Slots:
    __slots__ = ("id", "name")


PARENTS = "SELECT id, name FROM hyd_parents ORDER BY id"


async def test_to_models_on_every_kind_of_class(engine: ormkit.Engine) -> None:
    result = await engine.execute(PARENTS)
    expected = result.all()
    CustomNew.made = 0
    for cls in (Plain, WithProperty, CustomNew):
        objs = result.to_models(cls)
        assert [type(o) for o in objs] == [cls] * 4
        assert [{k: v for k, v in vars(o).items() if k != "extra"} for o in objs] == expected
    assert CustomNew.made == 4
    assert vars(result.to_models(CustomNew)[0])["extra"] == "kept"
    assert WithProperty.name.fget is not None
    assert result.to_models(WithProperty)[0].__dict__["name"] == "p1"
    with pytest.raises(AttributeError):
        result.to_models(Slots)
    # A plain object as __dict__ holder, and instances behave as usual afterwards.
    obj = result.to_models(Plain)[1]
    obj.other = 5
    assert (obj.id, obj.name, obj.other) == (2, "p2", 5)
    del obj.name
    assert vars(obj) == {"id": 2, "other": 5}


async def test_columns_selection(engine: ormkit.Engine) -> None:
    result = await engine.execute(PARENTS)
    objs = result.to_models(Plain, columns=[(1, "title"), 0])
    assert [vars(o) for o in objs][:2] == [{"title": "p1", "id": 1}, {"title": "p2", "id": 2}]
    assert vars(result.to_models(Plain, columns=[])[0]) == {}
    assert vars(result.to_models(Plain, [None], columns=[1])[0]) == {"name": "p1"}
    with pytest.raises(IndexError):
        result.to_models(Plain, columns=[2])
    with pytest.raises(IndexError):
        result.to_models(Plain, columns=[(-1, "x")])
    with pytest.raises(TypeError):
        result.to_models(Plain, columns=[(0, 1)])
    with pytest.raises(InterfaceError, match="2 converters given for 1 columns"):
        result.to_models(Plain, [None, None], columns=[0])


async def test_all_and_tuples_take_converters(engine: ormkit.Engine) -> None:
    result = await engine.execute("SELECT id, id % 2 AS odd, name FROM hyd_parents ORDER BY id")
    assert result.tuples(["decimal", "bool", None])[:2] == [
        (Decimal(1), True, "p1"),
        (Decimal(2), False, "p2"),
    ]
    assert result.all([str, None, None])[0] == {"id": "1", "odd": 1, "name": "p1"}
    with pytest.raises(InterfaceError):
        result.tuples([None])


async def test_row_tuples_of_plain_values_are_left_out_of_the_collector(
    engine: ormkit.Engine,
) -> None:
    # CPython untracks such tuples at the first collection they survive; ormkit does it
    # as it makes them, so that collection does not walk a large result. A value that
    # can hold references (a list, a dict, an object) keeps its row tracked.
    result = await engine.execute("SELECT id, name, id * 1.5 AS f FROM hyd_parents ORDER BY id")
    rows = result.tuples(["decimal", None, None])
    assert rows[0] == (Decimal(1), "p1", 1.5)
    assert not any(gc.is_tracked(row) for row in rows)
    mixed = result.tuples([None, lambda name: [name], None])
    assert mixed[0] == (1, ["p1"], 1.5) and all(gc.is_tracked(row) for row in mixed)

    class Node:
        row: Any = None

    node = Node()
    node.row = result.tuples([None, lambda name, n=node: n, None])[0]  # a cycle via a row
    gone = weakref.ref(node)
    del node
    gc.collect()
    assert gone() is None  # collectable


JOINED = (
    "SELECT p.id, p.name, c.id AS c_id, c.parent_id, c.label "
    "FROM hyd_parents p LEFT OUTER JOIN hyd_children c ON c.parent_id = p.id "
    "ORDER BY p.id, c.id"
)


async def test_joined_result_into_two_classes(engine: ormkit.Engine) -> None:
    """What the joinedload loader does: one instance per parent, one per child, the
    children grouped under their parents, parents without children kept."""
    result = await engine.execute(JOINED)
    assert len(result) == 6  # 3 + 1 + 1 (no child) + 1 (no child)
    parents, parent_rows = result.unique_models(Plain, key=0, columns=[0, 1])
    assert [vars(p) for p in parents] == [{"id": i, "name": f"p{i}"} for i in range(1, 5)]
    assert parent_rows == [0, 0, 0, 1, 2, 3]
    children, child_rows = result.unique_models(
        Plain, [2], columns=[(2, "id"), (3, "parent_id"), (4, "label")]
    )
    assert [vars(c) for c in children] == [
        {"id": 1, "parent_id": 1, "label": "a"},
        {"id": 2, "parent_id": 1, "label": "b"},
        {"id": 3, "parent_id": 1, "label": None},
        {"id": 4, "parent_id": 2, "label": "c"},
    ]
    assert child_rows == [0, 1, 2, 3, -1, -1]
    groups = result.group_rows(parent_rows, child_rows, len(parents))
    assert groups == [[0, 1, 2], [3], [], []]
    grouped = result.group_rows(parent_rows, child_rows, len(parents), children)
    assert grouped == [children[:3], children[3:], [], []]
    assert grouped[0][0] is children[0]
    # The same instance for every row of a parent.
    assert parents[parent_rows[1]] is parents[0]


async def test_unique_models_keys(engine: ormkit.Engine) -> None:
    result = await engine.execute(
        "SELECT c.parent_id, c.label, c.id FROM hyd_children c ORDER BY c.id"
    )
    # Composite keys; a row whose key columns are all NULL has no instance.
    objs, rows = result.unique_models(Plain, [0, 1], columns=[0, 1])
    assert len(objs) == 5 and rows == [0, 1, 2, 3, 4]
    objs, rows = result.unique_models(Plain, (0,), columns=[0])
    assert [vars(o) for o in objs] == [{"parent_id": 1}, {"parent_id": 2}]
    assert rows == [0, 0, 0, 1, -1]
    with pytest.raises(ValueError, match="at least one column"):
        result.unique_models(Plain, [])
    with pytest.raises(IndexError):
        result.unique_models(Plain, 7)


def test_group_rows_checks_its_input() -> None:
    group = ormkit._ormkit.QueryResult.group_rows
    assert group([0, 0, 1, 0, -1], [0, 0, 1, 1, 2], 3) == [[0, 1], [1], []]
    assert group([], [], 2) == [[], []]
    assert group([0, 0, 0], [1, 1, 0], 1, ["a", "b"]) == [["b", "a"]]
    with pytest.raises(IndexError):
        group([0], [2], 1, ["a"])
    with pytest.raises(TypeError):
        group([0], [0], 1, ("a",))
    with pytest.raises(ValueError):
        group([0], [], 1)
    with pytest.raises(IndexError):
        group([1], [0], 1)


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"

    @classmethod
    def _missing_(cls, value: object) -> Color | None:
        return cls.RED if value == "rouge" else None


async def test_enum_and_callable_converters(engine: ormkit.Engine) -> None:
    result = await engine.execute(
        "SELECT 1 AS n, 'green' AS c UNION ALL SELECT 2, 'rouge' UNION ALL SELECT 3, NULL "
        "ORDER BY n"
    )
    assert [c for _, c in result.tuples([None, Color])] == [Color.GREEN, Color.RED, None]
    bad = await engine.execute("SELECT 'blue' AS c")
    with pytest.raises(ormkit.DataError, match=r"column 'c': .*'blue' is not a valid Color") as err:
        bad.to_models(Plain, [Color])
    assert isinstance(err.value.__cause__, ValueError)  # the converter's own error
    assert bad.tuples([str.upper]) == [("BLUE",)]


ISO_TEXTS = [
    "2024-02-29 13:05:07",
    "2024-02-29T13:05:07.5",
    "2024-02-29 13:05:07.123456",
    "2024-02-29 13:05",
    "2024-02-29 13:05:07+00:00",
    "2024-02-29 13:05:07Z",
    "2024-02-29 13:05:07.000001-05:30",
    "2024-02-29 13:05:07+05:30:15",
    # shapes left to Python's fromisoformat
    "2024-02-29 13",
    "20240229T130507",
    "2024-02-29 13:05:07.1234567",
    "2024-02-29 13:05:07+0530",
    "2024-02-29 13:05:07,5",
    "2024-02-29",
]


async def test_iso_text_converters_match_fromisoformat(engine: ormkit.Engine) -> None:
    if engine.dialect != "sqlite":
        pytest.skip("datetimes arrive as binary on PostgreSQL")
    sql = " UNION ALL ".join(f"SELECT {i} AS n, '{t}' AS t" for i, t in enumerate(ISO_TEXTS))
    result = await engine.execute(sql + " ORDER BY n")
    got = [t for _, t in result.tuples([None, "datetime"])]
    assert got == [dt.datetime.fromisoformat(t) for t in ISO_TEXTS]
    assert [x.tzinfo for x in got] == [dt.datetime.fromisoformat(t).tzinfo for t in ISO_TEXTS]
    aware = [t for _, t in result.tuples([None, "datetime_tz"])]
    for text, value in zip(ISO_TEXTS, aware, strict=True):
        want = dt.datetime.fromisoformat(text)
        assert value == (want if want.tzinfo else want.replace(tzinfo=dt.UTC))
        assert value.tzinfo is not None
    assert aware[4].tzinfo is dt.UTC
    dates = await engine.execute("SELECT '2024-02-29' AS d, '13:05:07.25+01:00' AS t")
    assert dates.tuples(["date", "time"]) == [
        (dt.date(2024, 2, 29), dt.time(13, 5, 7, 250_000, dt.timezone(dt.timedelta(hours=1))))
    ]
    for bad in ("2023-02-29 10:00", "2024-01-01 25:00", "not a date"):
        wrong = await engine.execute(f"SELECT '{bad}' AS t")
        with pytest.raises(ormkit.DataError, match=f"column 't': .*{bad}") as err:
            wrong.tuples(["datetime"])
        assert isinstance(err.value.__cause__, ValueError)


async def test_uuid_converter_and_native_uuids(engine: ormkit.Engine) -> None:
    u = uuid.UUID("12345678-9abc-def0-1234-56789abcdef0")
    if engine.dialect == "postgresql":
        result = await engine.execute("SELECT $1::uuid AS u, NULL::uuid AS n", [u])
        ((got, none),) = result.tuples()
    else:
        result = await engine.execute(
            "SELECT $1 AS u, $2 AS h, $3 AS b, $4 AS braces, NULL AS n",
            [str(u), u.hex.upper(), u.bytes, "{" + str(u) + "}"],
        )
        got, *others, none = result.tuples(["uuid", "uuid", "uuid", "uuid", "uuid"])[0]
        assert others == [u, u, u]
    assert (got, none) == (u, None)
    assert type(got) is uuid.UUID and hash(got) == hash(u) and str(got) == str(u)
    assert got.is_safe is uuid.SafeUUID.unknown
    assert got.int == u.int and got.version == u.version
    with pytest.raises(TypeError):
        got.int = 5
    if engine.dialect == "sqlite":
        short = await engine.execute("SELECT $1 AS b", [b"\x01\x02"])
        with pytest.raises(ormkit.DataError, match=r"column 'b': .*16-char"):
            short.tuples(["uuid"])


async def test_many_rows_and_the_collector(engine: ormkit.Engine) -> None:
    """10,000 rows over several network reads, every value checked; the collector is
    enabled afterwards, stays disabled if it was, and comes back after an error."""
    sql = (
        "SELECT i, 'name ' || i AS name, CASE WHEN i % 3 = 0 THEN NULL ELSE i * 0.5 END AS f "
        "FROM generate_series(1, 10000) AS s(i)"
        if engine.dialect == "postgresql"
        else "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 10000) "
        "SELECT i, 'name ' || i AS name, CASE WHEN i % 3 = 0 THEN NULL ELSE i * 0.5 END AS f "
        "FROM s"
    )
    result = await engine.execute(sql)
    objs = result.to_models(Plain)
    assert len(objs) == 10_000
    assert all(
        vars(o) == {"i": n, "name": f"name {n}", "f": None if n % 3 == 0 else n * 0.5}
        for n, o in enumerate(objs, 1)
    )
    assert gc.isenabled()
    assert result.tuples()[9_999] == (10_000, "name 10000", 5000.0)
    assert gc.isenabled()

    def boom(value: Any) -> Any:
        if value == 5_000:
            raise RuntimeError("converter failed")
        return value

    with pytest.raises(RuntimeError):
        result.to_models(Plain, [boom, None, None])
    assert gc.isenabled()
    # A failure in the middle of a row, half-way through the rows: the partly built
    # tuple and list are dropped, and the result still reads whole afterwards.
    with pytest.raises(RuntimeError, match="converter failed"):
        result.tuples([None, None, lambda v: boom(5_000) if v == 2_500.0 else v])
    with pytest.raises(RuntimeError, match="converter failed"):
        result.tuples([boom, None, None])
    assert gc.isenabled()
    gc.collect()
    assert result.tuples()[4_999] == (5_000, "name 5000", 2500.0)
    assert len(result.all()) == 10_000 and result.column("i")[-1] == 10_000

    def collect(value: Any) -> Any:
        if value == 7_000:
            gc.collect()  # sees the half-built tuple and list: empty slots are skipped
        return value

    rows = result.tuples([collect, None, None])
    assert rows[6_999] == (7_000, "name 7000", 3500.0) and len(rows) == 10_000
    gc.disable()
    try:
        result.to_models(Plain)
        assert not gc.isenabled()
    finally:
        gc.enable()


async def test_text_values(engine: ormkit.Engine) -> None:
    texts = ["", "ascii", "žluťoučký kůň 🐍", "x" * 100_000, "tab\tnew\nline"]
    rows = []
    for t in texts:
        result = await engine.execute("SELECT $1 AS t", [t])
        rows.append(result.scalar())
    assert rows == texts
    result = await engine.execute("SELECT $1 AS a, $2 AS b", ["é", "e"])
    assert result.one() == {"a": "é", "b": "e"}
    assert result.column("b") == ["e"] and result.column(0) == ["é"]
