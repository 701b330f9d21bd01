"""Property tests of the query compiler (hypothesis, derandomized, 200 examples each).

- Filter VALUES never change the SQL text: a statement compiles to the same SQL as the
  same statement with a neutral value of the same Python type in every place (``""``
  for a str, ``0`` for an int, ...), on PostgreSQL and SQLite, from a cold cache and
  from a cache warmed by other statements; the values are the parameters.
- Hostile NAMES (arbitrary strings as filter keys, order_by, group_by, values()
  columns, insert/update keys, JSON path keys, table and column names) raise
  ValueError before any SQL is built or sent, or are bound / quoted: they never reach
  the SQL text as they are.
- End to end on SQLite: LIKE escaping matches exactly what Python's ``in`` says, and
  hostile table and column names create, fill and read a real table.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from functools import partial
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import ormkit
from ormkit import JSON, AsyncSession, Mapped, Q, QueryEvent, mapped_column, select
from ormkit import delete as delete_stmt
from ormkit import insert as insert_stmt
from ormkit import update as update_stmt
from ormkit.orm import Registry, declarative_base
from ormkit.sql import clear_cache
from ormkit.sql.lookups import LOOKUPS

SETTINGS = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
DIALECTS = ("postgresql", "sqlite")

Base = declarative_base("PropertyBase", registry=Registry(track=False))


class Person(Base):
    __tablename__ = "prop_people"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(max_length=100)
    age: Mapped[int | None] = mapped_column(nullable=True)
    score: Mapped[float | None] = mapped_column(nullable=True)
    photo: Mapped[bytes | None] = mapped_column(nullable=True)
    born: Mapped[datetime | None] = mapped_column(nullable=True)
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


COLUMNS = tuple(Person.__columns__)
SCALAR_COLUMNS = ("id", "name", "age", "score", "photo", "born")

# -- values ---------------------------------------------------------------------------

any_char = st.characters(exclude_categories=())  # lone surrogates too
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(),  # NaN and infinities included
    st.text(any_char, max_size=30),
    st.binary(max_size=30),
    st.datetimes(timezones=st.sampled_from([None, UTC, timezone(timedelta(hours=-5))])),
)
json_values = st.recursive(
    scalars.filter(lambda v: not isinstance(v, bytes | datetime)),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=6,
)


def neutral(value: Any) -> Any:
    """A value of the same Python type (and shape, for containers) as ``value``."""
    if value is None or isinstance(value, bool):
        return None if value is None else False
    if isinstance(value, int):
        return 0
    if isinstance(value, float):
        return 0.0
    if isinstance(value, str):
        return "\x00" if "\x00" in value else ""  # a LIKE pattern refuses a NUL
    if isinstance(value, bytes):
        return b""
    if isinstance(value, datetime):
        return datetime(2000, 1, 1, tzinfo=value.tzinfo and UTC)
    if isinstance(value, list):
        return [neutral(v) for v in value]
    if isinstance(value, tuple):
        return tuple(neutral(v) for v in value)
    if isinstance(value, dict):
        return {}
    raise AssertionError(type(value))


VALUE_OPS = [
    "",
    "exact",
    "ne",
    "gt",
    "gte",
    "lt",
    "lte",
    "contains",
    "icontains",
    "startswith",
    "istartswith",
    "endswith",
    "iendswith",
    "iexact",
    "like",
    "ilike",
]
JSON_PATHS = ["plan", "settings__theme", "tags__0", "a__b__2__c"]
JSON_OPS = ["", "exact", "ne", "gt", "lte", "contains", "startswith", "icontains"]


@st.composite
def lookups(draw: st.DrawFn) -> tuple[str, Any]:
    """A ``key=value`` filter with a hostile value (names are all valid here)."""
    kind = draw(st.sampled_from(["scalar", "in", "between", "json", "json_in"]))
    if kind == "scalar":
        column = draw(st.sampled_from(SCALAR_COLUMNS))
        op = draw(st.sampled_from(VALUE_OPS))
        return (f"{column}__{op}" if op else column), draw(scalars)
    if kind == "in":
        column = draw(st.sampled_from(SCALAR_COLUMNS))
        op = draw(st.sampled_from(["in", "notin"]))
        return f"{column}__{op}", draw(st.lists(scalars, max_size=6))
    if kind == "between":
        column = draw(st.sampled_from(SCALAR_COLUMNS))
        return f"{column}__between", draw(st.tuples(scalars, scalars))
    path = draw(st.sampled_from(JSON_PATHS))
    if kind == "json_in":
        return f"meta__{path}__in", draw(st.lists(json_values, max_size=4))
    op = draw(st.sampled_from(JSON_OPS))
    return (f"meta__{path}__{op}" if op else f"meta__{path}"), draw(json_values)


filter_sets = st.lists(lookups(), min_size=1, max_size=4)


def build(
    filters: list[tuple[str, Any]], limit: int | None = None, shape: str = "filter_by"
) -> Any:
    """A statement using ``filters`` in one of several ways the API allows."""
    if shape == "filter_by":
        stmt: Any = select(Person)
        for key, value in filters:
            stmt = stmt.filter_by(**{key: value})
    elif shape == "q":
        cond = Q(**{filters[0][0]: filters[0][1]})
        for i, (key, value) in enumerate(filters[1:]):
            cond = (cond | Q(**{key: value})) if i % 2 else (cond & ~Q(**{key: value}))
        stmt = select(Person).where(cond)
    elif shape == "exclude":
        stmt = (
            select(Person)
            .exclude(**dict(filters[:1]))
            .filter(*[Q(**{k: v}) for k, v in filters[1:]])
        )
    elif shape == "update":
        stmt = update_stmt(Person).values(name="x").filter(*[Q(**{k: v}) for k, v in filters])
    else:
        stmt = delete_stmt(Person).filter(*[Q(**{k: v}) for k, v in filters])
    if limit is not None and shape in ("filter_by", "q", "exclude"):
        stmt = stmt.limit(limit).offset(limit)
    return stmt


SHAPES = ["filter_by", "q", "exclude", "update", "delete"]


def compile_cold(stmt_factory: Callable[[], Any], dialect: str) -> tuple[str, list[Any]] | type:
    """``(sql, params)`` on an empty compile cache, or the exception type raised."""
    clear_cache()
    try:
        sql, params = stmt_factory().to_sql(dialect)
    except (ValueError, TypeError, ormkit.DataError) as exc:
        return type(exc)
    return sql, params


def placeholders(sql: str, dialect: str) -> int:
    if dialect == "postgresql":
        found = {int(n) for n in re.findall(r"\$(\d+)", sql)}
        assert found == set(range(1, len(found) + 1)), sql
        return len(found)
    return sql.count("?")


def same_values(a: list[Any], b: list[Any]) -> bool:
    """Parameter lists equal, NaN included."""
    return len(a) == len(b) and all(
        x is y or x == y or (x != x and y != y) for x, y in zip(a, b, strict=True)
    )


@SETTINGS
@given(filter_sets, st.sampled_from(SHAPES), st.none() | st.integers(0, 2**62))
def test_values_never_change_the_sql(
    filters: list[tuple[str, Any]], shape: str, limit: int | None
) -> None:
    neutral_filters = [(k, neutral(v)) for k, v in filters]
    neutral_limit = None if limit is None else 0
    for dialect in DIALECTS:
        got = compile_cold(lambda: build(filters, limit, shape), dialect)
        want = compile_cold(lambda: build(neutral_filters, neutral_limit, shape), dialect)
        if isinstance(got, type) or isinstance(want, type):
            # A value the lookup cannot take fails the same way whatever its content.
            assert got == want, (dialect, filters)
            continue
        (sql, params), (neutral_sql, neutral_params) = got, want
        assert sql == neutral_sql, (dialect, filters)
        assert len(params) == len(neutral_params) == placeholders(sql, dialect)


@SETTINGS
@given(st.lists(st.tuples(filter_sets, st.sampled_from(SHAPES)), min_size=2, max_size=6))
def test_a_warm_cache_gives_the_cold_result(cases: list[tuple[list[Any], str]]) -> None:
    """Statements of different shapes share the compile cache; none gets another's SQL."""
    for dialect in DIALECTS:
        cold = [compile_cold(partial(build, f, None, s), dialect) for f, s in cases]
        clear_cache()
        for (filters, shape), expected in zip(cases, cold, strict=True):
            try:
                warm = build(filters, None, shape).to_sql(dialect)
            except (ValueError, TypeError, ormkit.DataError) as exc:
                assert type(exc) is expected
                continue
            assert not isinstance(expected, type)
            assert warm[0] == expected[0]
            assert same_values(warm[1], expected[1])


@SETTINGS
@given(
    st.sampled_from(SCALAR_COLUMNS),
    st.sampled_from(["", "exact", "ne", "gt", "lte"]),
    scalars.filter(lambda v: v is not None and not isinstance(v, bool)),
)
def test_values_are_the_parameters(column: str, op: str, value: Any) -> None:
    key = f"{column}__{op}" if op else column
    for dialect in DIALECTS:
        sql, params = select(Person).filter_by(**{key: value}).to_sql(dialect)
        assert len(params) == 1 and same_values(params, [value])
        assert placeholders(sql, dialect) == 1


@SETTINGS
@given(st.text(any_char, max_size=30), st.sampled_from(["contains", "startswith", "endswith"]))
def test_like_patterns_are_escaped(value: str, op: str) -> None:
    stmt = select(Person).filter_by(**{f"name__{op}": value})
    if "\x00" in value:  # SQLite's LIKE would stop at it: refused on every backend
        with pytest.raises(ormkit.DataError, match="cannot contain a NUL"):
            stmt.to_sql("sqlite")
        return
    (param,) = stmt.to_sql("sqlite")[1]
    body = param.removeprefix("%") if op != "startswith" else param
    body = body.removesuffix("%") if op != "endswith" else body
    # Every %, _ and \ of the value is escaped: unescaping gives the value back.
    assert re.sub(r"\\(.)", r"\1", body, flags=re.S) == value
    assert re.fullmatch(r"(?:[^\\%_]|\\[\\%_])*", body, flags=re.S)


# -- hostile names ----------------------------------------------------------------------

names = st.one_of(
    st.text(any_char, max_size=30),
    st.sampled_from(
        [
            "",
            "name; DROP TABLE prop_people",
            'name" OR "1"="1',
            "name--",
            "name__",
            "__name",
            "name____gt",
            "name__gt__lt",
            "-name",
            "--name",
            "name ",
            "NAME",
            "name\x00",
            "id)",
            "meta__",
            "__class__",
            "__dict__",
            "_sa_instance_state",
            "name\u200b",
            "\uff4e\uff41\uff4d\uff45",  # fullwidth "name"
        ]
    ),
    st.builds(lambda c, s: c + s, st.sampled_from(COLUMNS), st.text(any_char, max_size=8)),
)


def split_lookup(key: str) -> tuple[str, list[str], str | None]:
    """``column``, JSON path segments, operator (as the lookup grammar reads them)."""
    parts = key.split("__")
    column, rest = parts[0], parts[1:]
    op = rest.pop() if rest and rest[-1] in LOOKUPS else None
    return column, rest, op


def is_valid_lookup(key: str) -> bool:
    column, rest, _op = split_lookup(key)
    if column not in Person.__columns__:
        return False
    return column == "meta" or not rest


def is_index(segment: str) -> bool:
    """A JSON path segment that is an array index: ASCII digits only."""
    return segment.isascii() and segment.isdigit()


def value_for(op: str | None) -> Any:
    """A value every operator ``op`` accepts, so that only the name can be wrong."""
    return {"in": ["v"], "notin": ["v"], "between": ("a", "b"), "isnull": True}.get(op or "", "v")


@SETTINGS
@given(names, st.sampled_from(DIALECTS))
def test_hostile_filter_keys(key: str, dialect: str) -> None:
    column, path, op = split_lookup(key)
    value = value_for(op)
    try:
        sql, params = select(Person).filter_by(**{key: value}).to_sql(dialect)
    except ValueError:
        refused_json_key = column == "meta" and any(
            "\x00" in p or (dialect == "sqlite" and '"' in p) for p in path
        )
        assert not is_valid_lookup(key) or refused_json_key, key
        return
    assert is_valid_lookup(key), f"accepted {key!r}: {sql}"
    if column != "meta" or not path:
        assert "__" not in sql
        return
    # JSON path keys are bound: the SQL is the one for neutral keys of the same kinds.
    canonical = "__".join(
        ["meta", *("0" if is_index(p) else "k" for p in path), *([op] if op else [])]
    )
    neutral_sql, neutral_params = select(Person).filter_by(**{canonical: value}).to_sql(dialect)
    assert sql == neutral_sql, (key, sql)
    assert len(params) == len(neutral_params)
    for segment in path:
        if not is_index(segment):
            assert any(isinstance(p, str) and segment in p for p in params), (segment, params)


@pytest.mark.parametrize("segment", ["\u0661", "\u00b2", "\u0663\u0664"])
def test_json_keys_that_are_unicode_digits_are_keys(segment: str) -> None:
    sql, params = select(Person).filter_by(**{f"meta__{segment}": "x"}).to_sql("postgresql")
    assert sql == select(Person).filter_by(meta__k="x").to_sql("postgresql")[0]
    assert params == [segment, "x"]


@SETTINGS
@given(names)
def test_hostile_order_by_and_group_by(name: str) -> None:
    column = name[1:] if name.startswith("-") else name
    builders: list[Callable[[], Any]] = [
        lambda: select(Person).order_by(name),
        lambda: select(Person).group_by(name),
    ]
    for build_stmt in builders:
        try:
            sql, _ = build_stmt().to_sql("postgresql")
        except ValueError:
            continue
        assert column in Person.__columns__, f"accepted {name!r}: {sql}"


@SETTINGS
@given(names, st.sampled_from(["insert", "update", "returning"]))
def test_hostile_write_keys(name: str, kind: str) -> None:
    try:
        if kind == "insert":
            stmt: Any = insert_stmt(Person).values(**{name: 1})
        elif kind == "update":
            stmt = update_stmt(Person).values({name: 1}).filter_by(id=1)
        else:
            stmt = insert_stmt(Person).values(name="x").returning(name)
        sql, _ = stmt.to_sql("sqlite")
    except (ValueError, TypeError):
        assert name not in Person.__columns__
        return
    assert name in Person.__columns__, f"accepted {name!r}: {sql}"


# -- through a real engine: nothing is sent for a hostile name ----------------------------


@pytest.fixture(scope="module")
def runner() -> Iterator[asyncio.Runner]:
    with asyncio.Runner() as r:
        yield r


@pytest.fixture(scope="module")
def people(runner: asyncio.Runner) -> Iterator[tuple[ormkit.Engine, list[QueryEvent]]]:
    """A SQLite engine with the people table and three rows; the list records every
    statement sent."""

    async def open_engine() -> ormkit.Engine:
        engine = await ormkit.create_engine("sqlite::memory:")
        await engine.create_all(models=[Person])
        async with AsyncSession(engine) as session:
            await session.insert_all(
                [
                    Person(name="ann", age=30, meta={"plan": "pro"}),
                    Person(name="bob", age=None, meta={"plan": "free"}),
                    Person(name="c%_\\", age=5, meta={"a b": {"'": [1, 2]}}),
                ]
            )
        return engine

    engine = runner.run(open_engine())
    sent: list[QueryEvent] = []
    engine.events.on("query", sent.append)
    try:
        yield engine, sent
    finally:
        runner.run(engine.close())


@SETTINGS
@given(names, st.sampled_from(["values", "values_list", "order_by", "filter", "sum", "update"]))
def test_hostile_names_send_nothing(
    runner: asyncio.Runner,
    people: tuple[ormkit.Engine, list[QueryEvent]],
    name: str,
    terminal: str,
) -> None:
    engine, sent = people

    async def run() -> Any:
        async with AsyncSession(engine) as session:
            query = session.query(Person)
            if terminal == "values":
                return await query.values(name)
            if terminal == "values_list":
                return await query.values_list(name, flat=True)
            if terminal == "order_by":
                return await query.order_by(name).all()
            if terminal == "filter":
                return await query.filter(**{name: "ann"}).all()
            if terminal == "sum":
                return await query.sum(name)
            return await query.filter(id=-1).update(**{name: None})

    sent.clear()
    try:
        runner.run(run())
    except (ValueError, TypeError, ormkit.ValidationError):
        # Refused before anything was sent (ValidationError: a known column, wrong value).
        assert sent == [], [e.sql for e in sent]
        return
    assert name.lstrip("-") in Person.__columns__ or is_valid_lookup(name), name
    assert all(e.error is None for e in sent)
    count = runner.run(engine.execute("SELECT count(*) FROM prop_people")).scalar()
    assert count == 3


def ascii_lower(text: str) -> str:
    return text.translate({c: c + 32 for c in range(ord("A"), ord("Z") + 1)})


# No NUL: SQLite's LIKE stops at a NUL in the text (a limitation of SQLite itself).
like_text = st.text(
    st.sampled_from("aA%_\\b'\"é")
    | st.characters(exclude_categories=["Cs"], exclude_characters="\x00"),
    max_size=8,
)


@SETTINGS
@given(
    st.lists(like_text, min_size=1, max_size=6),
    like_text,
    st.sampled_from(["contains", "startswith", "endswith"]),
)
def test_like_lookups_match_what_python_says(
    runner: asyncio.Runner,
    people: tuple[ormkit.Engine, list[QueryEvent]],
    rows: list[str],
    fragment: str,
    op: str,
) -> None:
    """On SQLite, LIKE is case-insensitive for ASCII (docs/queries.md): compare with
    ASCII-lowered text; everything else, %, _ and \\ included, matches literally."""
    engine, _ = people
    check: Callable[[str], bool] = {
        "contains": lambda s: ascii_lower(fragment) in ascii_lower(s),
        "startswith": lambda s: ascii_lower(s).startswith(ascii_lower(fragment)),
        "endswith": lambda s: ascii_lower(s).endswith(ascii_lower(fragment)),
    }[op]

    async def run() -> list[str]:
        async with AsyncSession(engine) as session:
            objs = await session.insert_all([Person(name=r, meta={}) for r in rows])
            ids = [o.id for o in objs]
            query = session.query(Person).filter(id__in=ids)
            try:
                found = await query.filter(**{f"name__{op}": fragment}).values_list(
                    "name", flat=True
                )
            finally:
                await query.delete()
        return sorted(found)

    assert runner.run(run()) == sorted(r for r in rows if check(r))


identifiers = st.text(
    st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), min_size=1, max_size=24
)


@SETTINGS
@given(identifiers, identifiers)
def test_hostile_table_and_column_names_are_quoted(
    runner: asyncio.Runner, table: str, column: str
) -> None:
    """A model whose table and column names are arbitrary text creates, fills and reads a
    real SQLite table — or the database refuses it with a clear error."""
    assume(column.lower() != "id")
    base = declarative_base("Hostile", registry=Registry(track=False))
    model: Any = type(
        "Hostile",
        (base,),
        {
            "__tablename__": table,
            "__annotations__": {"id": Mapped[int], "value": Mapped[str]},
            "id": mapped_column(primary_key=True),
            "value": mapped_column(name=column),
        },
    )
    for dialect in DIALECTS:
        sql, _ = select(model).filter_by(value="x").to_sql(dialect)
        quoted = '"' + table.replace('"', '""') + '"'
        assert f"FROM {table} " in sql or f"FROM {quoted} " in sql, sql

    async def run() -> list[tuple[Any, ...]]:
        async with await ormkit.create_engine("sqlite::memory:") as engine:
            try:
                await engine.create_all(models=[model])
            except ormkit.DatabaseError as exc:
                # SQLite reserves names starting with sqlite_.
                assert table.lower().startswith("sqlite_"), exc
                return []
            async with AsyncSession(engine) as session:
                await session.insert(model(value="hello"))
                got = await session.query(model).filter(value="hello").values("value")
                assert got == [{"value": "hello"}]
            result = await engine.execute(f"SELECT * FROM {quoted}")
            assert result.columns == ["id", column]
            return result.tuples()

    rows = runner.run(run())
    assert rows in ([], [(1, "hello")])
