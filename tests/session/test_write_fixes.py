"""Write fixes: upsert batches with one conflict key twice, and SQL expressions as
``default=``/``onupdate=`` (``func.now()``) on every backend."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from backends import ALL_BACKENDS, engine_with_tables
from session_models import Stamped
from statement_log import SqlLog

import ormkit
from ormkit import AsyncSession, Mapped, func, insert, mapped_column, select, text, update
from ormkit.orm import Registry, declarative_base

S = f"_{os.getpid()}"

Base = declarative_base("WriteFixesBase", registry=Registry(track=False))


class Code(Base):
    __tablename__ = f"wf_codes{S}"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(unique=True)
    name: Mapped[str]
    alt: Mapped[str | None] = mapped_column(unique=True, nullable=True)


class Pair(Base):
    __tablename__ = f"wf_pairs{S}"
    __primary_key__ = ("a", "b")

    a: Mapped[int]
    b: Mapped[str]
    n: Mapped[int] = mapped_column(default=0)


class Stamp(Base):
    __tablename__ = f"wf_stamps{S}"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]
    n: Mapped[int] = mapped_column(default=0)
    made: Mapped[datetime] = mapped_column(default=func.now())
    made_tz: Mapped[datetime] = mapped_column(timezone=True, default=func.current_timestamp())
    changed: Mapped[datetime | None] = mapped_column(nullable=True, onupdate=func.now())
    changed_tz: Mapped[datetime | None] = mapped_column(
        timezone=True, nullable=True, onupdate=func.now()
    )
    day: Mapped[date | None] = mapped_column(nullable=True, onupdate=func.now())


class Moment(Base):
    """A unique column the database fills (``func.now()``: one value per statement)."""

    __tablename__ = f"wf_moments{S}"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(unique=True, default=func.now())
    name: Mapped[str]


MODELS = [Code, Pair, Stamp, Moment, Stamped]


@pytest.fixture(params=ALL_BACKENDS)
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ormkit.Engine]:
    """An engine on each backend with this module's tables created empty."""
    async with engine_with_tables(request, request.param, tmp_path, MODELS) as eng:
        yield eng


async def codes(engine: ormkit.Engine) -> list[str]:
    rows = await engine.execute(f"SELECT code FROM {Code.__tablename__} ORDER BY code")
    return [r["code"] for r in rows]


# -- upsert: one conflict key twice in a call --------------------------------------------


async def test_upsert_all_with_a_conflict_key_twice_raises_and_sends_nothing(
    session: AsyncSession, engine: ormkit.Engine, sql_log: SqlLog
) -> None:
    first, second = Code(code="dup", name="a"), Code(code="dup", name="b")
    with pytest.raises(ormkit.ValidationError, match=r"positions 0 and 1.*code='dup'") as info:
        await session.upsert_all([first, second], "code")
    assert info.value.model == "Code" and info.value.field == "code"
    assert isinstance(info.value, ValueError)
    assert sql_log.sql == []  # not even BEGIN
    assert await codes(engine) == []
    assert first.id is None and second.id is None
    assert first not in session and second not in session
    assert not session.in_transaction


async def test_upsert_all_with_a_key_twice_names_their_positions_among_distinct_ones(
    session: AsyncSession, engine: ormkit.Engine
) -> None:
    await session.insert(Code(code="b", name="old"))
    objs = [Code(code=c, name=c) for c in ("a", "b", "c", "b")]
    with pytest.raises(ormkit.ValidationError, match="positions 1 and 3"):
        await session.upsert_all(objs, ["code"])
    rows = await engine.execute(f"SELECT code, name FROM {Code.__tablename__}")
    assert [(r["code"], r["name"]) for r in rows] == [("b", "old")]


async def test_upsert_all_with_a_composite_key_twice_raises(
    session: AsyncSession, engine: ormkit.Engine
) -> None:
    objs = [Pair(a=1, b="x", n=1), Pair(a=1, b="y", n=2), Pair(a=1, b="x", n=3)]
    with pytest.raises(ormkit.ValidationError, match=r"positions 0 and 2 .*a=1, b='x'") as info:
        await session.upsert_all(objs, ("a", "b"))
    assert info.value.field is None
    count = await engine.execute(f"SELECT count(*) AS n FROM {Pair.__tablename__}")
    assert count.scalar() == 0
    # distinct composite keys sharing a column are fine
    done = await session.upsert_all(objs[:2], ("a", "b"))
    assert [(p.a, p.b, p.n) for p in done] == [(1, "x", 1), (1, "y", 2)]


async def test_upsert_all_key_twice_inside_begin_leaves_the_transaction_usable(
    session: AsyncSession, engine: ormkit.Engine
) -> None:
    """Nothing reaches the server, so PostgreSQL's transaction is not aborted."""
    async with session.begin():
        await session.insert(Code(code="kept", name="k"))
        with pytest.raises(ormkit.ValidationError):
            await session.upsert_all([Code(code="x", name="1"), Code(code="x", name="2")], "code")
        await session.upsert_all([Code(code="y", name="3")], "code")
    assert await codes(engine) == ["kept", "y"]


async def test_upsert_all_null_conflict_values_are_not_duplicates(
    session: AsyncSession, engine: ormkit.Engine
) -> None:
    """NULLs never conflict in a unique column: both rows are inserted."""
    objs = [Code(code="n1", name="a", alt=None), Code(code="n2", name="b", alt=None)]
    await session.upsert_all(objs, "alt")
    assert objs[0].id is not None and objs[1].id is not None and objs[0].id != objs[1].id
    assert await codes(engine) == ["n1", "n2"]


async def test_upsert_all_rows_the_database_makes_equal_raise(
    session: AsyncSession, engine: ormkit.Engine
) -> None:
    """Conflict values computed by the database cannot be compared before sending: two
    objects meeting in one row raise (PostgreSQL's own error, or ormkit's on SQLite)
    rather than leaving both objects with one row."""
    objs = [Moment(name="a"), Moment(name="b")]
    expected = ormkit.DatabaseError if engine.dialect == "postgresql" else ormkit.InterfaceError
    with pytest.raises(expected, match=r"same row|a second time"):
        await session.upsert_all(objs, "at")
    count = await engine.execute(f"SELECT count(*) AS n FROM {Moment.__tablename__}")
    assert count.scalar() == 0
    assert objs[0].id is None and objs[1].id is None
    assert objs[0] not in session and objs[1] not in session


async def test_upsert_bad_targets_and_fields_fail_before_sending(
    session: AsyncSession, engine: ormkit.Engine, sql_log: SqlLog
) -> None:
    with pytest.raises(ValueError, match="unknown column 'nope'"):
        await session.upsert(Code(code="a", name="a"), "nope")
    with pytest.raises(ValueError, match="needs a conflict target"):
        await session.upsert(Code(code="a", name="a"), [])
    with pytest.raises(ValueError, match="update_fields: unknown column 'nope'"):
        await session.upsert(Code(code="a", name="a"), "code", ["nope"])
    with pytest.raises(TypeError, match="one model"):
        await session.upsert_all([Code(code="a", name="a"), Pair(a=1, b="x")], "code")
    assert sql_log.sql == []
    assert await codes(engine) == []


async def test_upsert_with_no_fields_to_update_keeps_the_row_and_returns_it(
    session: AsyncSession, engine: ormkit.Engine
) -> None:
    stored = await session.insert(Code(code="a", name="stored"))
    other = AsyncSession(engine)
    async with other:
        again = await other.upsert(Code(code="a", name="ignored"), Code.code, update_fields=[])
        assert again.id == stored.id and again.name == "stored"
    with pytest.raises(ValueError, match="on_conflict_do_nothing"):
        insert(Code).values(code="a", name="b").on_conflict_do_update(["code"], [])


# -- func.now() as default= and onupdate= -----------------------------------------------


async def db_now(engine: ormkit.Engine) -> tuple[datetime, datetime]:
    """The database's current time for a naive and for an aware column. PostgreSQL
    writes ``now()`` into a naive column in the session's time zone; SQLite's clock is
    UTC."""
    aware = datetime.now(UTC)
    if engine.dialect == "postgresql":
        naive = (await engine.execute("SELECT LOCALTIMESTAMP AS t")).scalar()
        return naive, aware
    return aware.replace(tzinfo=None), aware


def near(value: object, reference: datetime) -> bool:
    return (
        type(value) is datetime
        and (value.tzinfo is None) == (reference.tzinfo is None)
        and abs(value - reference) < timedelta(minutes=2)
    )


async def test_onupdate_func_now_sets_the_stored_time_on_update(
    session: AsyncSession, engine: ormkit.Engine
) -> None:
    stamp = await session.insert(Stamp(name="a"))
    assert stamp.changed is None and stamp.changed_tz is None and stamp.day is None
    await session.update(stamp, name="b")
    naive, aware = await db_now(engine)
    assert near(stamp.changed, naive)
    assert near(stamp.changed_tz, aware)
    assert stamp.changed_tz is not None and stamp.changed_tz.utcoffset() == timedelta(0)
    assert stamp.day == naive.date()
    # what the object holds is what the row holds, and the session sees nothing to write
    async with AsyncSession(engine) as other:
        row = await other.get_or_raise(Stamp, stamp.id)
        assert (row.changed, row.changed_tz, row.day) == (
            stamp.changed,
            stamp.changed_tz,
            stamp.day,
        )
    assert session.dirty == []
    # and it compares equal in SQL to the value read back (same stored form)
    found = session.query(Stamp).filter(changed=stamp.changed, changed_tz=stamp.changed_tz)
    assert [s.id for s in await found.all()] == [stamp.id]


async def test_onupdate_func_now_on_flush_and_in_a_transaction(
    session: AsyncSession, engine: ormkit.Engine
) -> None:
    stamp = await session.insert(Stamp(name="a"))
    stamp.name = "b"
    await session.commit()
    naive, aware = await db_now(engine)
    assert near(stamp.changed, naive) and near(stamp.changed_tz, aware)
    first = stamp.changed_tz
    async with session.begin():
        await session.update(stamp, name="c")
        assert near(stamp.changed_tz, aware)
        assert stamp.changed_tz is not None and first is not None
        assert stamp.changed_tz >= first
    assert (await session.query(Stamp).filter(changed_tz=stamp.changed_tz).count()) == 1


async def test_onupdate_func_now_rolled_back_gives_the_old_values(
    session: AsyncSession,
) -> None:
    stamp = await session.insert(Stamp(name="a"))
    with pytest.raises(RuntimeError):
        async with session.begin():
            await session.update(stamp, name="b")
            assert isinstance(stamp.changed, datetime)
            raise RuntimeError
    assert stamp.name == "a" and stamp.changed is None and stamp.changed_tz is None


async def test_onupdate_func_now_through_query_and_statement_updates(
    session: AsyncSession, engine: ormkit.Engine
) -> None:
    one, two = await session.insert_all([Stamp(name="one"), Stamp(name="two")])
    assert await session.query(Stamp).filter(name="one").update(n=5) == 1
    await session.execute(update(Stamp).where(Stamp.name == "two").values(n=6))
    naive, aware = await db_now(engine)
    for obj in (one, two):  # tracked objects are brought in step with the stored values
        assert near(obj.changed, naive) and near(obj.changed_tz, aware)
    rows = await engine.execute(f"SELECT changed FROM {Stamp.__tablename__} WHERE changed IS NULL")
    assert len(rows) == 0


async def test_default_func_now_is_computed_by_the_insert(
    session: AsyncSession, engine: ormkit.Engine
) -> None:
    one = Stamp(name="one")
    await session.insert(one)
    many = await session.insert_all([Stamp(name="two"), Stamp(name="three")])
    added = Stamp(name="four")
    session.add(added)
    await session.commit()
    upserted = await session.upsert(Stamp(name="five"), "id")
    result = await session.execute(insert(Stamp).values(name="six").returning(Stamp))
    (stated,) = result.scalars().all()
    naive, aware = await db_now(engine)
    for obj in (one, *many, added, upserted, stated):
        assert near(obj.made, naive), obj.made
        assert near(obj.made_tz, aware), obj.made_tz
    async with AsyncSession(engine) as other:
        rows = await other.query(Stamp).order_by("id").all()
        assert [(r.made, r.made_tz) for r in rows] == [
            (o.made, o.made_tz) for o in (one, *many, added, upserted, stated)
        ]


async def test_func_now_is_stored_on_sqlite_as_ormkit_writes_datetimes(
    session: AsyncSession, engine: ormkit.Engine
) -> None:
    """The text SQLite holds is the text a Python datetime of the same value is written
    as, so values written either way sort and compare together."""
    stamp = await session.insert(Stamp(name="a"))
    await session.update(stamp, name="b")
    raw = (
        await engine.execute(
            f"SELECT made, made_tz, changed, changed_tz, day FROM {Stamp.__tablename__}"
        )
    ).first()
    assert raw is not None
    if engine.dialect != "sqlite":
        assert raw["changed_tz"] == stamp.changed_tz
        return
    for key in ("made", "made_tz", "changed", "changed_tz"):
        assert raw[key] == getattr(stamp, key).isoformat(" "), key
    assert stamp.day is not None and raw["day"] == stamp.day.isoformat()


async def test_onupdate_sql_expression_value_is_read_back(
    session: AsyncSession, engine: ormkit.Engine
) -> None:
    """Any SQL expression an update sets comes back as the stored value."""
    stamp = await session.insert(Stamp(name="a", n=1))
    await session.update(stamp, n=Stamp.n + 41)
    assert stamp.n == 42
    async with session.begin():
        await session.update(stamp, n=Stamp.n * 2)
        assert stamp.n == 84
    await engine.execute(f"DELETE FROM {Stamp.__tablename__}")
    with pytest.raises(ormkit.StaleDataError, match="deleted"):
        await session.update(stamp, n=Stamp.n + 1)


async def test_timestamp_mixin_is_unaffected(
    session: AsyncSession, engine: ormkit.Engine, sql_log: SqlLog
) -> None:
    row = await session.insert(Stamped(name="a"))
    created, updated = row.created_at, row.updated_at
    assert created.tzinfo is not None and updated.tzinfo is not None
    sql_log.clear()
    await session.update(row, name="b")
    assert row.updated_at > updated and row.created_at == created
    assert row.updated_at.tzinfo is not None
    (sql,) = sql_log.writes()
    assert "RETURNING" not in sql.upper()  # a Python value: sent, not read back


def test_func_now_renders_per_dialect_and_column_type() -> None:
    sql, params = update(Stamp).values(changed=func.now(), name="x").to_sql("postgresql")
    assert sql.startswith(f"UPDATE {Stamp.__tablename__} SET name = $1, changed = now()")
    assert params == ["x"]
    sql, _ = update(Stamp).values(changed=func.current_timestamp()).to_sql("postgresql")
    assert "changed = CURRENT_TIMESTAMP" in sql
    sql, _ = update(Stamp).values(changed=func.now(), changed_tz=func.now()).to_sql("sqlite")
    assert "now()" not in sql
    assert "changed = replace(strftime('%Y-%m-%d %H:%M:%f000', 'now'), '.000000', '')" in sql
    assert "|| '+00:00')" in sql
    sql, _ = update(Stamp).values(day=func.now(), name=func.now()).to_sql("sqlite")
    assert "day = date('now')" in sql and "name = CURRENT_TIMESTAMP" in sql
    sql, _ = insert(Stamp).values(name="x").to_sql("sqlite")
    assert "now()" not in sql and "strftime" in sql


def test_text_default_or_onupdate_fails_at_class_definition() -> None:
    with pytest.raises(TypeError, match=r"default=text\(\.\.\.\) is not supported"):
        mapped_column(default=text("CURRENT_TIMESTAMP"))
    with pytest.raises(TypeError, match=r"onupdate=text\(\.\.\.\) is not supported.*func\.now"):
        mapped_column(onupdate=text("CURRENT_TIMESTAMP"))


def test_func_now_in_select_is_left_to_the_expression_compiler() -> None:
    """Only a value written to a column is rendered per column type."""
    sql, _ = select(Stamp.id).where(Stamp.changed < func.now()).to_sql("postgresql")
    assert "changed < now()" in sql
