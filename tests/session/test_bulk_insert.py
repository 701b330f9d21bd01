"""The fast INSERT of plain models (``ormkit.orm.bulk_insert``) on every backend: keys on
the right objects, what the database fills set on them, bad values rejected before any
statement, nothing left behind by a failure, and the objects tracked as after the
general path."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from backends import ALL_BACKENDS, engine_with_tables
from collector import GENERATIONAL, collections_during
from statement_log import SqlLog

import ormkit
from ormkit import AsyncSession, Mapped, TimestampMixin, ValidationError, mapped_column
from ormkit.orm import Registry, declarative_base
from ormkit.orm.bulk_insert import model_spec
from ormkit.sql import text

S = f"_{os.getpid()}"
Base: Any = declarative_base("BulkBase", registry=Registry(track=False))


class Row(Base):
    __tablename__ = f"b_rows{S}"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(max_length=20)
    email: Mapped[str] = mapped_column(unique=True)
    age: Mapped[int | None] = mapped_column(nullable=True)
    seen: Mapped[datetime]
    score: Mapped[float]
    flag: Mapped[bool]
    status: Mapped[str | None] = mapped_column(server_default="fresh")
    rank: Mapped[int] = mapped_column(default=7)


class Keyed(Base):
    __tablename__ = f"b_keyed{S}"

    code: Mapped[str] = mapped_column(primary_key=True)
    label: Mapped[str]
    status: Mapped[str | None] = mapped_column(server_default="fresh")


class Note(Base):
    __tablename__ = f"b_notes{S}"

    id: Mapped[int] = mapped_column(primary_key=True)
    body: Mapped[str]
    n: Mapped[int]


class Stamp(TimestampMixin, Base):
    __tablename__ = f"b_stamps{S}"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]


MODELS = [Row, Keyed, Note, Stamp]
T0 = datetime(2024, 5, 6, 7, 8, 9, 123456)


def make(n: int, tag: str = "r") -> list[Row]:
    return [
        Row(
            name=f"n{i}",
            email=f"{tag}{i}@x.org",
            age=None if i % 5 == 0 else i,
            seen=T0,
            score=i / 4,
            flag=i % 2 == 0,
        )
        for i in range(n)
    ]


@pytest.fixture(params=ALL_BACKENDS)
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ormkit.Engine]:
    async with engine_with_tables(request, request.param, tmp_path, MODELS) as eng:
        yield eng


async def stored(engine: ormkit.Engine) -> dict[int, tuple[Any, ...]]:
    result = await engine.execute(
        f"SELECT id, email, age, status, rank FROM {Row.__tablename__} ORDER BY id"
    )
    return {t[0]: t[1:] for t in result.tuples()}


def test_plain_models_take_the_fast_path() -> None:
    assert model_spec(Row) is not None and model_spec(Stamp) is not None
    from session_models import Hooked, User

    assert model_spec(User) is None  # a JSON column
    assert model_spec(Hooked) is None  # insert hooks


@pytest.mark.parametrize("n", [1, 999, 1000, 5000])
async def test_keys_land_on_the_right_objects(
    engine: ormkit.Engine, sql_log: SqlLog, n: int
) -> None:
    rows = make(n)
    async with AsyncSession(engine) as session:
        assert await session.insert_all(rows) == rows
        db = await stored(engine)
        assert len(db) == n
        for obj in rows:
            assert db[obj.id] == (obj.email, obj.age, "fresh", 7)
            assert obj.status == "fresh" and obj.rank == 7
        assert [o.id for o in rows] == sorted(o.id for o in rows)
        # tracked as after any insert: the identity map answers, nothing is dirty
        sql_log.clear()
        assert await session.get(Row, rows[-1].id) is rows[-1]
        assert sql_log.sql == [] and session.dirty == []
        rows[0].name = "changed"
        assert session.dirty == [rows[0]]
    # the RETURNING list holds what the database fills, not every column
    sql_log.clear()
    async with AsyncSession(engine) as session:
        await session.insert_all(make(2, "again"))
    (insert,) = sql_log.writes()
    returning = insert.rsplit("RETURNING", 1)[1]
    assert "id" in returning and "status" in returning and "email" not in returning


async def test_an_object_given_twice_is_inserted_once(engine: ormkit.Engine) -> None:
    """As ``add_all([k, k])`` and SQLAlchemy do; the fast path inserted two rows and the
    object kept the second key."""
    note = Note(body="once", n=1)
    other = Note(body="other", n=2)
    async with AsyncSession(engine) as session:
        assert await session.insert_all([note, other, note]) == [note, other, note]
    rows = await engine.execute(f"SELECT id, body FROM {Note.__tablename__} ORDER BY id")
    assert sorted(rows.tuples()) == sorted([(note.id, "once"), (other.id, "other")])


async def test_explicit_keys_and_server_defaults_matched_by_key(engine: ormkit.Engine) -> None:
    objs = [Keyed(code=c, label=c.upper()) for c in ("m", "b", "z", "a")]
    objs[2].status = "given"
    async with AsyncSession(engine) as session:
        await session.insert_all(objs)
        assert [o.status for o in objs] == ["fresh", "fresh", "given", "fresh"]
        assert await session.get(Keyed, "z") is objs[2]
    result = await engine.execute(f"SELECT code, label FROM {Keyed.__tablename__}")
    assert dict(result.tuples()) == {"m": "M", "b": "B", "z": "Z", "a": "A"}


async def test_timestamps_and_defaults_are_set(engine: ormkit.Engine) -> None:
    before = datetime.now(UTC)
    objs = [Stamp(name=f"s{i}") for i in range(3)]
    async with AsyncSession(engine) as session:
        await session.insert_all(objs)
    for obj in objs:
        assert obj.id is not None
        assert obj.created_at >= before and obj.updated_at >= before
    # an explicit None where a default applies: the default is written
    row = make(1, "nd")[0]
    row.rank = None
    async with AsyncSession(engine) as session:
        await session.insert_all([row])
    assert row.rank == 7 and (await stored(engine))[row.id][3] == 7


@pytest.mark.parametrize(
    ("field", "value"),
    [("name", "x" * 21), ("name", 5), ("score", "1.5"), ("flag", 1), ("seen", T0.date())],
)
async def test_bad_value_names_model_and_field_and_sends_nothing(
    engine: ormkit.Engine, sql_log: SqlLog, field: str, value: Any
) -> None:
    rows = make(50, field)
    setattr(rows[37], field, value)
    async with AsyncSession(engine) as session:
        with pytest.raises(ValidationError) as info:
            await session.insert_all(rows)
        assert info.value.model == "Row" and info.value.field == field
        assert all(o.id is None for o in rows) and rows[0] not in session
    assert sql_log.writes() == []
    assert await stored(engine) == {}


async def test_aware_datetime_in_a_naive_column_is_rejected(
    engine: ormkit.Engine, sql_log: SqlLog
) -> None:
    rows = make(3, "tz")
    rows[1].seen = datetime.now(UTC)
    async with AsyncSession(engine) as session:
        with pytest.raises(ValidationError, match=r"Row\.seen"):
            await session.insert_all(rows)
    assert sql_log.writes() == []


async def test_missing_required_value_is_rejected(engine: ormkit.Engine, sql_log: SqlLog) -> None:
    rows = make(4, "miss")
    rows[2].email = None
    async with AsyncSession(engine) as session:
        with pytest.raises(ValidationError, match=r"Row\.email"):
            await session.insert_all(rows)
    assert sql_log.writes() == []


async def test_integer_overflow_inserts_nothing(engine: ormkit.Engine) -> None:
    rows = make(10, "big")
    rows[6].age = 2**70
    async with AsyncSession(engine) as session:
        with pytest.raises(ormkit.Error, match="64-bit"):
            await session.insert_all(rows)
        assert all(o.id is None for o in rows) and rows[0] not in session
    assert await stored(engine) == {}


async def test_nul_character_inserts_nothing_on_postgresql(engine: ormkit.Engine) -> None:
    if engine.dialect != "postgresql":
        pytest.skip("SQLite stores NUL characters in TEXT")
    rows = make(10, "nul")
    rows[4].email = "a\x00b@x.org"
    async with AsyncSession(engine) as session:
        with pytest.raises(ormkit.Error):
            await session.insert_all(rows)
        assert all(o.id is None for o in rows)
    assert await stored(engine) == {}


async def test_failure_in_a_later_batch_leaves_nothing(
    engine: ormkit.Engine, sql_log: SqlLog
) -> None:
    limit = 65535 if engine.dialect == "postgresql" else 32766
    per_statement = limit // 7  # Row writes 7 of its 9 columns (not the key, not status)
    rows = make(per_statement + 10, "batch")
    rows[-1].email = rows[0].email  # unique violation in the second statement
    async with AsyncSession(engine) as session:
        with pytest.raises(ormkit.IntegrityError):
            await session.insert_all(rows)
        assert not session.in_transaction
        assert all(o.id is None for o in rows) and all(o not in session for o in rows)
        assert all(o.status is None for o in rows)
    assert len(sql_log.writes()) == 2
    assert await stored(engine) == {}
    # the same objects insert fine once fixed
    rows[-1].email = "fixed@x.org"
    async with AsyncSession(engine) as session:
        await session.insert_all(rows)
    assert len(await stored(engine)) == len(rows)


async def test_rollback_of_a_begin_block_undoes_the_insert(engine: ormkit.Engine) -> None:
    rows = make(5, "tx")
    async with AsyncSession(engine) as session:
        with pytest.raises(RuntimeError):
            async with session.begin():
                await session.insert_all(rows)
                assert all(o.id is not None for o in rows)
                raise RuntimeError("abort")
        assert all(o.id is None and o.status is None for o in rows)
        assert all(o not in session for o in rows)
    assert await stored(engine) == {}


async def test_flush_of_added_objects_and_mixed_shapes(engine: ormkit.Engine) -> None:
    rows = make(6, "fl")
    rows[3].id = 10_000  # one row with its own key: a different shape, the general path
    async with AsyncSession(engine) as session:
        session.add_all(rows)
        await session.commit()
        assert session.new == []
        assert rows[3].id == 10_000 and all(o.id is not None for o in rows)
    db = await stored(engine)
    assert {o.id: o.email for o in rows} == {k: v[0] for k, v in db.items()}


async def test_objects_of_two_models_in_one_call(engine: ormkit.Engine) -> None:
    """Objects of two plain models in one call: each class goes to its own table, every
    object gets its key (the one-statement fast path takes one class only)."""
    rows = make(3, "two")
    notes = [Note(body="first", n=1), Note(body="second", n=2)]
    async with AsyncSession(engine) as session:
        await session.insert_all([rows[0], notes[0], rows[1], notes[1], rows[2]])
    db = await stored(engine)
    assert {o.id: o.email for o in rows} == {k: v[0] for k, v in db.items()}
    got = await engine.execute(f"SELECT id, body, n FROM {Note.__tablename__} ORDER BY id")
    assert got.tuples() == [(o.id, o.body, o.n) for o in notes]


async def test_single_insert_and_events(engine: ormkit.Engine, sql_log: SqlLog) -> None:
    row = make(1, "one")[0]
    async with AsyncSession(engine) as session:
        await session.insert(row)
        assert row.id is not None and row.status == "fresh"
        assert await session.get(Row, row.id) is row
    assert len(sql_log.writes()) == 1


class Label(str):
    """A str subclass: not a type the fast check takes as it is."""


async def test_values_of_other_accepted_types_take_the_general_path(
    engine: ormkit.Engine,
) -> None:
    rows = make(3, "sub")
    rows[1].name = Label("lab")
    rows[2].score = 4  # an int in a float column is fine as it is
    async with AsyncSession(engine) as session:
        await session.insert_all(rows)
    assert all(o.id is not None for o in rows)
    result = await engine.execute(f"SELECT name, score FROM {Row.__tablename__} ORDER BY id")
    assert result.tuples() == [("n0", 0.0), ("lab", 0.25), ("n2", 4.0)]


async def test_flush_validates_every_new_object_before_the_first_write(
    engine: ormkit.Engine, sql_log: SqlLog
) -> None:
    rows = make(3, "fv")
    bad = Stamp(name=5)
    async with AsyncSession(engine) as session:
        session.add_all([*rows, bad])
        with pytest.raises(ValidationError) as info:
            await session.commit()
        assert info.value.model == "Stamp" and info.value.field == "name"
    assert sql_log.writes() == []
    assert await stored(engine) == {}


async def test_non_models_are_refused_as_before(engine: ormkit.Engine) -> None:
    class Plain:
        pass

    async with AsyncSession(engine) as session:
        for bad in (42, Plain()):
            with pytest.raises(TypeError, match="model instance"):
                await session.insert(bad)
            with pytest.raises(TypeError, match="model instance"):
                await session.insert_all([bad])
    assert "_ormkit_bulk_spec" not in vars(Plain)


RANDOM_KEY = {
    "postgresql": "gen_random_uuid()::text",
    "sqlite": "(lower(hex(randomblob(16))))",
}


async def test_keys_from_a_server_default_land_on_the_right_objects(
    request: pytest.FixtureRequest, engine: ormkit.Engine, tmp_path: Path
) -> None:
    """A random key says nothing about the order of the rows: each object keeps its own
    values and gets the key of its own row."""
    reg: Any = declarative_base("TokBase", registry=Registry(track=False))

    class Tok(reg):  # type: ignore[misc, valid-type]
        __tablename__ = f"b_toks{S}"
        id: Mapped[str] = mapped_column(
            primary_key=True, server_default=text(RANDOM_KEY[engine.dialect])
        )
        label: Mapped[str]

    await engine.drop_all([Tok])
    await engine.create_all([Tok])
    try:
        objs = [Tok(label=f"l{i}") for i in range(60)]
        async with AsyncSession(engine) as session:
            await session.insert_all(objs)
        assert [o.label for o in objs] == [f"l{i}" for i in range(60)]
        result = await engine.execute(f"SELECT id, label FROM {Tok.__tablename__}")
        stored = dict(result.tuples())
        assert {o.id: o.label for o in objs} == stored
    finally:
        await engine.drop_all([Tok])


async def test_rollback_after_a_flush_puts_the_objects_back(engine: ormkit.Engine) -> None:
    rows = make(4, "fr")
    async with AsyncSession(engine) as session:
        session.add_all(rows)
        await session.flush()
        assert all(o.id is not None and o.status == "fresh" for o in rows)
        await session.rollback()
        assert all(o.id is None and o.status is None for o in rows)
        assert all(o not in session for o in rows) and session.new == []
    assert await stored(engine) == {}


@GENERATIONAL
async def test_a_bulk_insert_sets_off_no_collection(engine: ormkit.Engine) -> None:
    """The values are read where the objects keep them (no ``__dict__`` made) and the
    snapshots are made only when the session registers the objects: writing 1,000 built
    objects makes no container per object, so it sets off no collection."""
    batches = iter([[Note(body=f"b{k}", n=i) for i in range(1000)] for k in range(11)])

    async def write() -> list[Note]:
        objs = next(batches)
        async with AsyncSession(engine) as session:
            await session.insert_all(objs)
        return objs

    objs, starts = await collections_during(write)
    assert not starts
    assert [o.n for o in objs] == list(range(1000))
    ids = [o.id for o in objs]
    assert ids == sorted(ids) and len(set(ids)) == 1000
    async with AsyncSession(engine) as session:
        assert [o.n for o in await session.query(Note).filter(id__in=ids[:3]).all()] == [0, 1, 2]


async def test_attributes_of_its_own_stay_through_the_insert_and_a_rollback(
    engine: ormkit.Engine,
) -> None:
    rows = make(3, "own")
    for obj in rows:
        obj.note = "mine"
    async with AsyncSession(engine) as session:
        with pytest.raises(RuntimeError):
            async with session.begin():
                await session.insert_all(rows)
                assert all(o.id is not None and o.note == "mine" for o in rows)
                raise RuntimeError("abort")
        assert all(o.id is None and o.status is None and o.note == "mine" for o in rows)
        await session.insert_all(rows)
        assert all(o.note == "mine" and o.status == "fresh" for o in rows)
        assert session.dirty == [] and await session.get(Row, rows[1].id) is rows[1]
        rows[1].email = "moved@x.org"
        assert session.dirty == [rows[1]]
        await session.commit()
    assert [v[0] for v in (await stored(engine)).values()] == [
        "own0@x.org",
        "moved@x.org",
        "own2@x.org",
    ]


async def test_an_object_made_without_its_constructor(engine: ormkit.Engine) -> None:
    """Values it lacks are the general path's to judge: a required one is named."""
    bare = Row.__new__(Row)
    bare.name = "bare"
    async with AsyncSession(engine) as session:
        with pytest.raises(ValidationError, match="email"):
            await session.insert_all([bare, *make(2, "with")])
    assert await stored(engine) == {}
