"""The SQL current-time functions (``func.now()``, ``func.current_timestamp()``,
``func.localtimestamp()``, ``func.current_date()``, ``func.current_time()``,
``func.localtime()``) in every position — WHERE, BETWEEN, lookups, the select list,
ORDER BY, VALUES, SET — and as ``server_default``, on every backend.

SQLite has no ``now()``, no parenthesised ``current_timestamp()`` and stores dates and
times as text: the dialect writes the current time as the text of the column's stored
form, so comparisons with stored values are by time and written values read back as
values written from Python do."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from backends import ALL_BACKENDS, engine_with_tables
from statement_log import SqlLog

import ormkit
from ormkit import AsyncSession, Mapped, Q, func, insert, mapped_column, select, text, update
from ormkit.orm import Registry, declarative_base
from ormkit.sql.ddl import create_table_sql

S = f"_{os.getpid()}"

Base = declarative_base("TimeFunctionsBase", registry=Registry(track=False))


class Event(Base):
    __tablename__ = f"tf_events{S}"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]
    at: Mapped[datetime | None]
    at_tz: Mapped[datetime | None] = mapped_column(timezone=True)
    day: Mapped[date | None]
    clock: Mapped[time | None]


class Logged(Base):
    """Columns the database fills with the current time."""

    __tablename__ = f"tf_logged{S}"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]
    created: Mapped[datetime] = mapped_column(server_default=func.now())
    created_tz: Mapped[datetime] = mapped_column(
        timezone=True, server_default=func.current_timestamp()
    )
    local: Mapped[datetime] = mapped_column(server_default=func.localtimestamp())
    day: Mapped[date] = mapped_column(server_default=func.current_date())
    day_of_now: Mapped[date] = mapped_column(server_default=func.now())
    midnight: Mapped[datetime] = mapped_column(server_default=func.current_date())
    clock: Mapped[time | None] = mapped_column(server_default=func.localtime())
    label: Mapped[str] = mapped_column(server_default="plain")


MODELS = [Event, Logged]


@pytest.fixture(params=ALL_BACKENDS)
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ormkit.Engine]:
    """An engine on each backend with this module's tables created empty."""
    async with engine_with_tables(request, request.param, tmp_path, MODELS) as eng:
        yield eng


class Clock:
    """The database's current time, read without the functions under test: PostgreSQL
    gives naive values in the session's time zone; SQLite's clock is UTC."""

    def __init__(self, naive: datetime, aware: datetime) -> None:
        self.naive = naive
        self.aware = aware
        self.today = naive.date()


async def db_clock(engine: ormkit.Engine) -> Clock:
    aware = datetime.now(UTC)
    if engine.dialect == "postgresql":
        naive = (await engine.execute("SELECT LOCALTIMESTAMP AS t")).scalar()
        return Clock(naive, aware)
    return Clock(aware.replace(tzinfo=None), aware)


def near(value: object, reference: datetime) -> bool:
    return (
        type(value) is datetime
        and (value.tzinfo is None) == (reference.tzinfo is None)
        and abs(value - reference) < timedelta(minutes=2)
    )


def near_time(value: object, reference: datetime) -> bool:
    if not isinstance(value, time):
        return False
    moment = datetime.combine(reference.date(), value.replace(tzinfo=None))
    # a time of day two minutes around midnight may belong to either day
    return any(
        abs(moment + timedelta(days=d) - reference) < timedelta(minutes=2) for d in (-1, 0, 1)
    )


async def add_events(session: AsyncSession, engine: ormkit.Engine) -> Clock:
    """Rows ten and twenty minutes in the past (the second at a whole second, stored
    without a fraction) and ten minutes in the future; yesterday, today and tomorrow;
    the first and the last instant of a day."""
    clock = await db_clock(engine)
    minute = timedelta(minutes=1)
    await session.insert_all(
        [
            Event(
                name="past",
                at=(clock.naive - 10 * minute).replace(microsecond=123456),
                at_tz=(clock.aware - 10 * minute).replace(microsecond=123456),
                day=clock.today - timedelta(days=1),
                clock=time(0, 0),
            ),
            Event(
                name="past0",
                at=(clock.naive - 20 * minute).replace(microsecond=0),
                at_tz=(clock.aware - 20 * minute).replace(microsecond=0),
                day=clock.today,
            ),
            Event(
                name="future",
                at=clock.naive + 10 * minute,
                at_tz=clock.aware + 10 * minute,
                day=clock.today + timedelta(days=1),
                clock=time(23, 59, 59, 999999),
            ),
        ]
    )
    return clock


async def names_where(session: AsyncSession, *conditions: Any) -> list[str]:
    result = await session.execute(select(Event.name).where(*conditions).order_by(Event.name))
    return list(result.scalars().all())


# -- comparisons -------------------------------------------------------------------------


async def test_where_and_filter_with_func_now_find_the_past_rows(
    session: AsyncSession, engine: ormkit.Engine
) -> None:
    await add_events(session, engine)
    past, future = ["past", "past0"], ["future"]
    for function in (func.now, func.current_timestamp, func.localtimestamp):
        assert await names_where(session, Event.at < function()) == past, function
        assert await names_where(session, Event.at >= function()) == future, function
        assert await names_where(session, function() > Event.at) == past, function
        assert await names_where(session, Event.at_tz <= function()) == past, function
        assert await names_where(session, Event.at_tz > function()) == future, function
    query = session.query(Event).filter(Event.at < func.now()).order_by("name")
    assert [e.name for e in await query.all()] == past
    assert await session.query(Event).filter(Event.at_tz < func.now()).count() == 2
    assert await session.query(Event).exclude(Event.at < func.now()).count() == 1


async def test_lookups_between_and_q_take_current_time_functions(
    session: AsyncSession, engine: ormkit.Engine
) -> None:
    clock = await add_events(session, engine)
    by_name = session.query(Event).order_by("name")
    assert [e.name for e in await by_name.filter(at__lt=func.now()).all()] == ["past", "past0"]
    assert [e.name for e in await by_name.filter(at_tz__gte=func.now()).all()] == ["future"]
    assert [e.name for e in await by_name.filter(day__lte=func.current_date()).all()] == [
        "past",
        "past0",
    ]
    either = Q(at__gt=func.localtimestamp()) | Q(day__lt=func.current_date())
    assert [e.name for e in await by_name.filter(either).all()] == ["future", "past"]
    day_before = clock.naive - timedelta(days=1)
    assert await names_where(session, Event.at.between(day_before, func.now())) == [
        "past",
        "past0",
    ]
    week = clock.aware + timedelta(days=7)
    assert await names_where(session, Event.at_tz.between(func.now(), week)) == ["future"]
    assert [e.name for e in await by_name.filter(at__range=(day_before, func.now())).all()] == [
        "past",
        "past0",
    ]


async def test_date_and_time_columns_compare_with_current_time_functions(
    session: AsyncSession, engine: ormkit.Engine
) -> None:
    """A date compares with a timestamp as its midnight (as PostgreSQL does); a time of
    day with the current time of day."""
    clock = await add_events(session, engine)
    assert await names_where(session, Event.day < func.current_date()) == ["past"]
    assert await names_where(session, Event.day == func.current_date()) == ["past0"]
    assert await names_where(session, Event.day > func.current_date()) == ["future"]
    assert await names_where(session, Event.day < func.now()) == ["past", "past0"]
    assert await names_where(session, Event.day > func.now()) == ["future"]
    midnight = datetime.combine(clock.today, time())
    rows = await session.query(Event).all()
    expected = sorted(e.name for e in rows if e.at is not None and e.at >= midnight)
    assert await names_where(session, Event.at >= func.current_date()) == expected
    assert await names_where(session, Event.clock < func.current_time()) == ["past"]
    assert await names_where(session, Event.clock > func.localtime()) == ["future"]


async def test_current_time_compared_on_sqlite_is_the_stored_text_form(
    session: AsyncSession, engine: ormkit.Engine
) -> None:
    """The SQL a current-time function is compared as gives text in the column's stored
    form (space separator, microseconds only when not zero, ``+00:00`` for an aware
    column): SQLite compares text, so any other form misorders values of one second.
    On PostgreSQL the functions are the server's own."""
    for column, expected in (
        (Event.at, "naive"),
        (Event.at_tz, "aware"),
        (Event.day, "date"),
        (Event.clock, "time"),
    ):
        function = func.current_time() if expected == "time" else func.now()
        if expected == "date":
            function = func.current_date()
        sql, _ = select(Event.id).where(column < function).to_sql(engine.dialect)
        right = sql.split(" < ", 1)[1]
        if engine.dialect == "postgresql":
            assert right in ("now()", "CURRENT_DATE", "CURRENT_TIME"), right
            continue
        raw = (await engine.execute(f"SELECT {right} AS v")).scalar()
        assert isinstance(raw, str)
        if expected == "naive":
            value = datetime.fromisoformat(raw)
            assert value.tzinfo is None and raw == value.isoformat(" ")
        elif expected == "aware":
            value = datetime.fromisoformat(raw)
            assert value.utcoffset() == timedelta(0) and raw == value.isoformat(" ")
        elif expected == "date":
            assert raw == date.fromisoformat(raw).isoformat()
        else:
            assert raw == time.fromisoformat(raw).isoformat()


async def test_current_time_next_to_a_column_in_coalesce(
    session: AsyncSession, engine: ormkit.Engine
) -> None:
    """``coalesce(column, now())`` gives the column's form for both arguments: it is
    written to the column as values from Python are, and, within one statement, equals
    the current time it is compared with (SQLite's clock stands still for a statement)."""
    old = datetime(2001, 2, 3, 4, 5, 6)
    await session.insert_all(
        [
            Event(name="set", at=old, at_tz=old.replace(tzinfo=UTC), day=old.date()),
            Event(name="unset"),
        ]
    )
    for column in (Event.at, Event.at_tz):
        for function in (func.now, func.localtimestamp):
            same = func.coalesce(column, function()) == function()
            assert await names_where(session, same) == ["unset"], (column, function)
            within = func.coalesce(column, function()).between(function(), function())
            assert await names_where(session, within) == ["unset"], (column, function)
    assert await names_where(session, func.coalesce(Event.day, func.now()) < func.now()) == ["set"]
    await session.execute(
        update(Event).values(
            at=func.coalesce(Event.at, func.localtimestamp()),
            at_tz=func.coalesce(Event.at_tz, func.now()),
            day=func.coalesce(Event.day, func.current_date()),
        )
    )
    clock = await db_clock(engine)
    async with AsyncSession(engine) as other:
        rows = {e.name: e for e in await other.query(Event).all()}
    assert (rows["set"].at, rows["set"].at_tz) == (old, old.replace(tzinfo=UTC))
    unset = rows["unset"]
    assert near(unset.at, clock.naive) and near(unset.at_tz, clock.aware)
    assert unset.day == clock.today
    if engine.dialect == "sqlite":
        raw = (
            await engine.execute(
                f"SELECT at, at_tz, day FROM {Event.__tablename__} WHERE name = 'unset'"
            )
        ).first()
        assert raw is not None and unset.at is not None and unset.at_tz is not None
        assert (raw["at"], raw["at_tz"], raw["day"]) == (
            unset.at.isoformat(" "),
            unset.at_tz.isoformat(" "),
            clock.today.isoformat(),
        )


# -- the select list and ORDER BY --------------------------------------------------------


async def test_current_time_functions_in_the_select_list_read_back_typed(
    session: AsyncSession, engine: ormkit.Engine
) -> None:
    clock = await db_clock(engine)
    # (on SQLite now() and current_timestamp() are the same SQL, and so are
    # current_time() and localtime(): one select holds one of each)
    result = await session.execute(
        select(
            func.now().label("now"),
            func.localtimestamp().label("local"),
            func.current_date().label("today"),
            func.localtime().label("local_time"),
        )
    )
    row = result.one()
    now, local, today, local_time = row
    assert row.today == today and row.local_time == local_time
    current, current_time = (
        await session.execute(select(func.current_timestamp(), func.current_time()))
    ).one()
    assert near(now, clock.aware) and now.utcoffset() == timedelta(0)
    assert near(current, clock.aware) and current.utcoffset() == timedelta(0)
    assert near(local, clock.naive)
    assert type(today) is date and today == clock.today
    assert near_time(current_time, clock.naive)
    assert near_time(local_time, clock.naive) and local_time.tzinfo is None


async def test_current_time_functions_labelled_and_in_order_by(
    session: AsyncSession, engine: ormkit.Engine
) -> None:
    clock = await add_events(session, engine)
    stmt = (
        select(Event.name, func.now().label("seen"))
        .where(Event.at_tz < func.now())
        .order_by(func.now(), Event.name)
    )
    rows = (await session.execute(stmt)).all()
    assert [r.name for r in rows] == ["past", "past0"]
    assert all(near(r.seen, clock.aware) for r in rows)
    ordered = session.query(Event).order_by(func.current_timestamp(), "-name")
    assert [e.name for e in await ordered.all()] == ["past0", "past", "future"]


# -- VALUES and SET ----------------------------------------------------------------------


async def test_current_time_functions_written_by_insert_and_update(
    session: AsyncSession, engine: ormkit.Engine
) -> None:
    stmt = insert(Event).values(
        name="w",
        at=func.localtimestamp(),
        at_tz=func.current_timestamp(),
        day=func.current_date(),
        clock=func.localtime(),
    )
    (written,) = (await session.execute(stmt.returning(Event))).scalars().all()
    clock = await db_clock(engine)
    assert near(written.at, clock.naive) and near(written.at_tz, clock.aware)
    assert written.day == clock.today and near_time(written.clock, clock.naive)
    # a date written to a datetime column is its midnight; a timestamp to a date column
    # or a time column is cut to its date or time of day
    await session.execute(
        update(Event).where(Event.id == written.id).values(at=func.current_date())
    )
    await session.update(written, day=func.now(), clock=func.now())
    await session.refresh(written)
    assert written.at == datetime.combine(clock.today, time())
    assert written.day == clock.today and near_time(written.clock, clock.naive)
    assert await session.query(Event).filter(name="w").update(at_tz=func.now()) == 1
    await session.refresh(written)
    assert near(written.at_tz, clock.aware)
    raw = (await engine.execute(f"SELECT at, at_tz, day, clock FROM {Event.__tablename__}")).first()
    assert raw is not None
    if engine.dialect == "sqlite":  # the text a Python value of the same time is written as
        assert raw["at"] == written.at.isoformat(" ")
        assert written.at_tz is not None and raw["at_tz"] == written.at_tz.isoformat(" ")
        assert written.day is not None and raw["day"] == written.day.isoformat()
        assert written.clock is not None and raw["clock"] == written.clock.isoformat()
    # what was written compares equal to what was read back
    same = session.query(Event).filter(at=written.at, at_tz=written.at_tz, clock=written.clock)
    assert await same.count() == 1


async def test_a_current_time_function_the_column_cannot_hold_is_refused(
    session: AsyncSession, engine: ormkit.Engine, sql_log: SqlLog
) -> None:
    """A time of day in a date or datetime column, a date in a time column: refused
    before anything is sent, the object and the row as they were."""
    event = await session.insert(Event(name="keep", day=date(2020, 1, 2)))
    sql_log.clear()
    refused = r"Event\.{}: func\.{}\(\) cannot be stored in a {} column"
    with pytest.raises(
        ormkit.ValidationError, match=refused.format("at", "current_time", "datetime")
    ):
        await session.execute(update(Event).values(at=func.current_time()))
    with pytest.raises(
        ormkit.ValidationError, match=refused.format("clock", "current_date", "time")
    ):
        await session.execute(insert(Event).values(name="x", clock=func.current_date()))
    with pytest.raises(ormkit.ValidationError, match=refused.format("day", "localtime", "date")):
        await session.query(Event).update(day=func.localtime())
    with pytest.raises(ormkit.ValidationError, match=refused.format("at", "localtime", "datetime")):
        await session.update(event, name="changed", at=func.localtime())
    assert (event.name, event.at) == ("keep", None) and session.dirty == []
    event.day = func.current_time()
    with pytest.raises(ormkit.ValidationError, match=refused.format("day", "current_time", "date")):
        await session.commit()
    assert sql_log.writes() == []
    assert not session.in_transaction
    async with AsyncSession(engine) as other:
        rows = await other.query(Event).all()
        assert [(e.name, e.at, e.day) for e in rows] == [("keep", None, date(2020, 1, 2))]
    # compiled without a session: the statement says which column
    stmt = update(Event).values(at=func.current_time())
    with pytest.raises(ValueError, match=r"func\.current_time\(\) cannot be stored in Event\.at"):
        stmt.to_sql(engine.dialect)
    with pytest.raises(TypeError, match=r"func\.now\(\) takes no arguments"):
        func.now(1)
    with pytest.raises(TypeError, match=r"func\.current_timestamp\(\) takes no arguments"):
        func.current_timestamp(Event.at)


# -- server_default ----------------------------------------------------------------------


def check_filled(obj: Logged, clock: Clock) -> None:
    assert near(obj.created, clock.naive), obj.created
    assert near(obj.created_tz, clock.aware), obj.created_tz
    assert obj.created_tz.utcoffset() == timedelta(0)
    assert near(obj.local, clock.naive), obj.local
    assert obj.day == clock.today and obj.day_of_now == clock.today
    assert obj.midnight == datetime.combine(clock.today, time())
    assert near_time(obj.clock, clock.naive), obj.clock
    assert obj.label == "plain"


async def test_server_default_func_now_fills_the_inserted_objects(
    session: AsyncSession, engine: ormkit.Engine
) -> None:
    one = await session.insert(Logged(name="one"))
    many = await session.insert_all([Logged(name="two"), Logged(name="three")])
    added = Logged(name="four")
    session.add(added)
    await session.commit()
    (stated,) = (
        (await session.execute(insert(Logged).values(name="five").returning(Logged)))
        .scalars()
        .all()
    )
    await engine.execute(f"INSERT INTO {Logged.__tablename__} (name) VALUES ('raw')")
    clock = await db_clock(engine)
    objects = [one, *many, added, stated]
    for obj in objects:
        check_filled(obj, clock)
    async with AsyncSession(engine) as other:
        rows = await other.query(Logged).order_by("id").all()
        assert [r.name for r in rows] == ["one", "two", "three", "four", "five", "raw"]
        check_filled(rows[-1], clock)
        fields = list(Logged.__columns__)
        assert [[getattr(r, f) for f in fields] for r in rows[:-1]] == [
            [getattr(o, f) for f in fields] for o in objects
        ]
    # the values read back find their rows
    found = session.query(Logged).filter(created=one.created, created_tz=one.created_tz)
    assert one.id in [r.id for r in await found.all()]
    assert await session.query(Logged).filter(Logged.created <= func.now()).count() == 6


async def test_server_default_func_now_stored_on_sqlite_as_ormkit_writes_values(
    session: AsyncSession, engine: ormkit.Engine
) -> None:
    obj = await session.insert(Logged(name="one"))
    raw = (await engine.execute(f"SELECT * FROM {Logged.__tablename__}")).first()
    assert raw is not None
    if engine.dialect != "sqlite":
        assert raw["created_tz"] == obj.created_tz
        return
    for key in ("created", "created_tz", "local", "midnight"):
        assert raw[key] == getattr(obj, key).isoformat(" "), key
    for key in ("day", "day_of_now", "clock"):
        assert raw[key] == getattr(obj, key).isoformat(), key


async def test_a_given_value_overrides_the_server_default(
    session: AsyncSession, engine: ormkit.Engine
) -> None:
    when = datetime(2001, 2, 3, 4, 5, 6, 7)
    obj = await session.insert(
        Logged(
            name="given",
            created=when,
            created_tz=when.replace(tzinfo=UTC),
            day=date(2001, 2, 3),
            clock=time(1, 2, 3, 4),
        )
    )
    assert obj.created == when and obj.day == date(2001, 2, 3) and obj.clock == time(1, 2, 3, 4)
    async with AsyncSession(engine) as other:
        again = await other.get_or_raise(Logged, obj.id)
        assert again.created == when and again.created_tz == when.replace(tzinfo=UTC)
        assert again.clock == time(1, 2, 3, 4) and again.day == date(2001, 2, 3)
        clock = await db_clock(engine)
        assert near(again.local, clock.naive) and near(obj.local, clock.naive)


async def test_create_table_writes_the_current_time_defaults(engine: ormkit.Engine) -> None:
    (ddl,) = create_table_sql(Logged, engine.dialect)
    if engine.dialect == "postgresql":
        assert "created TIMESTAMP NOT NULL DEFAULT (now())" in ddl
        assert "created_tz TIMESTAMPTZ NOT NULL DEFAULT (CURRENT_TIMESTAMP)" in ddl
        assert "local TIMESTAMP NOT NULL DEFAULT (LOCALTIMESTAMP)" in ddl
        assert "day DATE NOT NULL DEFAULT (CURRENT_DATE)" in ddl
        assert "clock TIME DEFAULT (LOCALTIME)" in ddl
    else:
        assert "now()" not in ddl and "()" not in ddl.replace("('now')", "")
        assert "day TEXT NOT NULL DEFAULT (date('now'))" in ddl
        assert "midnight TEXT NOT NULL DEFAULT ((date('now') || ' 00:00:00'))" in ddl
    assert "label TEXT NOT NULL DEFAULT 'plain'" in ddl


def test_unsupported_server_defaults_fail_at_class_definition() -> None:
    with pytest.raises(TypeError, match=r"server_default must be .*func\.now\(\).*lower"):
        mapped_column(server_default=func.lower("X"))
    with pytest.raises(TypeError, match=r"server_default must be .*got the value \[1\]"):
        mapped_column(server_default=[1])
    cases: list[tuple[Any, Any, str]] = [
        (int, {"server_default": func.now()}, r"'v': server_default=func\.now\(\) needs a"),
        (str, {"server_default": func.current_date()}, r"not a column of type str"),
        (datetime, {"server_default": func.current_time()}, r"gives a time of day"),
        (time, {"server_default": func.current_date()}, r"gives a date, which a time column"),
        (date, {"default": func.localtime()}, r"'v': default=func\.localtime\(\) gives"),
        (datetime, {"onupdate": func.current_time()}, r"onupdate=func\.current_time\(\)"),
    ]
    for python_type, options, message in cases:
        namespace = {
            "__tablename__": "tf_bad",
            "__annotations__": {"id": Mapped[int], "v": Mapped[python_type]},
            "id": mapped_column(primary_key=True),
            "v": mapped_column(**options),
        }
        with pytest.raises(TypeError, match=message):
            type("Bad", (Base,), namespace)

    # text() remains the way to write any other SQL
    assert mapped_column(server_default=text("CURRENT_TIMESTAMP")) is not None
