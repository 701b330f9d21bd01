"""Every column type of API.md §3 through create_all -> insert -> select -> to_models,
on SQLite (file and memory) and PostgreSQL."""

from __future__ import annotations

import enum
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from backends import ALL_BACKENDS, backend_url

import ormkit
from ormkit.orm import JSON, Mapped, declarative_base, mapped_column
from ormkit.sql import insert, select

Model = declarative_base("TypesBase")


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


class Level(enum.Enum):
    LOW = 1
    HIGH = 2


class Sample(Model):
    __tablename__ = "type_samples"

    id: Mapped[int] = mapped_column(primary_key=True)
    i: Mapped[int | None]
    s: Mapped[str | None] = mapped_column(max_length=40)
    t: Mapped[str | None]
    f: Mapped[float | None]
    b: Mapped[bool | None]
    raw: Mapped[bytes | None]
    naive: Mapped[datetime | None]
    aware: Mapped[datetime | None] = mapped_column(timezone=True)
    d: Mapped[date | None]
    tm: Mapped[time | None]
    td: Mapped[timedelta | None]
    dec: Mapped[Decimal | None]
    u: Mapped[uuid.UUID | None]
    meta: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    items: Mapped[list[Any] | None] = mapped_column(JSON)
    color: Mapped[Color | None]
    level: Mapped[Level | None]


VALUES: list[dict[str, Any]] = [
    {
        "i": 2**63 - 1,
        "s": "žluťoučký kůň 🐍",
        "t": "x" * 10_000,
        "f": 1.0e-300,
        "b": True,
        "raw": bytes(range(256)),
        "naive": datetime(2024, 2, 29, 23, 59, 59, 999_999),
        "aware": datetime(
            2024, 2, 29, 23, 59, 59, 1, tzinfo=timezone(timedelta(hours=5, minutes=30))
        ),
        "d": date(1, 1, 1),
        "tm": time(13, 5, 0, 120),
        "td": timedelta(days=-3, seconds=5, microseconds=7),
        "dec": Decimal("-12345678901234567890.000000000000000001"),
        "u": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "meta": {"plan": "pro", "nested": {"k": [1, 2.5, None, "é"]}},
        "items": [1, "two", {"three": 3}],
        "color": Color.GREEN,
        "level": Level.HIGH,
    },
    {
        "i": -(2**63),
        "s": "",
        "t": "quote ' and \" and \\ and NUL-free",
        "f": -0.5,
        "b": False,
        "raw": b"",
        "naive": datetime(9999, 12, 31, 0, 0),
        "aware": datetime(1970, 1, 1, tzinfo=UTC),
        "d": date(9999, 12, 31),
        "tm": time(0, 0),
        "td": timedelta(0),
        "dec": Decimal("0.10"),
        "u": uuid.UUID(int=0),
        "meta": {},
        "items": [],
        "color": Color.RED,
        "level": Level.LOW,
    },
    {
        key: None
        for key in (
            "i",
            "s",
            "t",
            "f",
            "b",
            "raw",
            "naive",
            "aware",
            "d",
            "tm",
            "td",
            "dec",
            "u",
            "meta",
            "items",
            "color",
            "level",
        )
    },
]


@pytest.fixture(params=ALL_BACKENDS)
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ormkit.Engine]:
    eng = await ormkit.create_engine(backend_url(request, request.param, tmp_path))
    await eng.drop_all([Sample])
    await eng.create_all([Sample])
    try:
        yield eng
    finally:
        await eng.drop_all([Sample])
        await eng.close()


async def test_every_type_round_trips(engine: ormkit.Engine) -> None:
    for values in VALUES:
        sql, params = insert(Sample).values(values).to_sql(engine.dialect)
        await engine.execute(sql, params)
    sql, params = select(Sample).order_by("id").to_sql(engine.dialect)
    result = await engine.execute(sql, params)
    rows = result.to_models(Sample, Sample.__ormkit_converters__(engine.dialect, result.columns))
    assert len(rows) == len(VALUES)
    for row, expected in zip(rows, VALUES, strict=True):
        assert isinstance(row, Sample)
        for key, value in expected.items():
            got = getattr(row, key)
            assert got == value, (key, got, value)
            if value is not None:
                assert type(got) is type(value), (key, type(got), type(value))
        if expected["aware"] is not None:
            assert row.aware is not None and row.aware.utcoffset() == timedelta(0)
        if expected["dec"] is not None:
            assert str(row.dec) == str(expected["dec"])


async def test_float_specials_and_decimal_precision(engine: ormkit.Engine) -> None:
    for f in (float("inf"), float("-inf")):
        sql, params = insert(Sample).values({"f": f}).to_sql(engine.dialect)
        await engine.execute(sql, params)
    sql, params = select(Sample).order_by("id").to_sql(engine.dialect)
    result = await engine.execute(sql, params)
    rows = result.to_models(Sample, Sample.__ormkit_converters__(engine.dialect, result.columns))
    assert [r.f for r in rows] == [float("inf"), float("-inf")]
    big = Decimal("9" * 300 + "." + "1" * 200)
    sql, params = insert(Sample).values({"dec": big}).to_sql(engine.dialect)
    await engine.execute(sql, params)
    sql, params = select(Sample).where(Sample.dec.is_not(None)).to_sql(engine.dialect)
    result = await engine.execute(sql, params)
    (row,) = result.to_models(Sample, Sample.__ormkit_converters__(engine.dialect, result.columns))
    assert row.dec == big


class PlainRow:
    """Not a model: to_models gives it the values as the driver does."""


async def test_to_models_of_a_model_applies_its_own_converters(engine: ormkit.Engine) -> None:
    for values in VALUES:
        sql, params = insert(Sample).values(values).to_sql(engine.dialect)
        await engine.execute(sql, params)
    sql = f"SELECT * FROM {Sample.__tablename__} ORDER BY id"  # raw SQL, no converters given
    result = await engine.execute(sql)
    declared = Sample.__ormkit_converters__(engine.dialect, result.columns)
    expected = result.to_models(Sample, declared)
    async with engine.transaction() as tx:
        in_tx = await tx.execute(sql)
    for got in (result.to_models(Sample), in_tx.to_models(Sample)):
        assert [r.to_dict() for r in got] == [r.to_dict() for r in expected]
    (first, *_) = result.to_models(Sample)
    assert type(first.naive) is datetime and first.color is Color.GREEN
    assert type(first.dec) is Decimal and type(first.u) is uuid.UUID
    # Explicit converters replace the model's; another class gets the driver's values.
    as_is = result.to_models(Sample, [None] * len(result.columns))[0]
    plain = result.to_models(PlainRow)[0]
    assert as_is.color == plain.color == "green"  # type: ignore[attr-defined]
    if engine.dialect == "sqlite":
        assert type(plain.naive) is str  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("column", "stored", "cause"),
    [
        ("d", "garbage", ValueError),
        ("naive", "2024-13-45 10:00:00", ValueError),
        ("tm", "24:00:00", ValueError),
        ("u", "not-a-uuid", ValueError),
        ("dec", "abc", ArithmeticError),
        ("meta", "{bad json", ValueError),
        ("color", "purple", ValueError),
    ],
)
async def test_a_stored_value_not_of_the_columns_type_is_a_data_error(
    tmp_path: Path, column: str, stored: str, cause: type[Exception]
) -> None:
    """SQLite stores whatever another program wrote: reading a value that is not of the
    column's type into a model is a ``DataError`` naming the column and the value (the
    converter's exception is its cause), not a bare ``ValueError`` from deep inside."""
    async with await ormkit.create_engine(f"sqlite:///{tmp_path / 'other.db'}") as eng:
        await eng.create_all([Sample])
        await eng.execute(f"INSERT INTO type_samples (id, {column}) VALUES (1, ?)", [stored])
        sql, params = select(Sample).to_sql("sqlite")
        result = await eng.execute(sql, params)
        converters = Sample.__ormkit_converters__("sqlite", result.columns)
        with pytest.raises(ormkit.DataError, match=f"column '{column}'") as err:
            result.to_models(Sample, converters)
        assert stored[:20] in str(err.value) and err.value.column == column
        assert isinstance(err.value.__cause__, cause)
        async with ormkit.AsyncSession(eng) as session:
            with pytest.raises(ormkit.DataError, match=f"column '{column}'"):
                await session.get(Sample, 1)
        assert (await eng.execute("SELECT count(*) FROM type_samples")).scalar() == 1


async def test_an_aware_datetime_outside_years_1_to_9999_in_utc_is_refused(
    engine: ormkit.Engine,
) -> None:
    """Stored in UTC, these would be year 10000 or year 0: a ValidationError before
    anything is sent, on every write path, where it used to be written and then
    unreadable (or written while insert() raised)."""
    late = datetime(9999, 12, 31, 20, 0, tzinfo=timezone(timedelta(hours=-8)))
    early = datetime(1, 1, 1, 3, 0, tzinfo=timezone(timedelta(hours=5)))
    fine = datetime(9999, 12, 31, 20, 0, tzinfo=timezone(timedelta(hours=3)))
    async with ormkit.AsyncSession(engine) as s:
        for bad in (late, early):
            with pytest.raises(ormkit.ValidationError, match="outside years 1 to 9999 in UTC"):
                await s.insert(Sample(aware=bad, meta={"k": 1}))
            with pytest.raises(ormkit.ValidationError, match=r"Sample\.aware"):
                await s.insert_all([Sample(aware=bad)])
            with pytest.raises(ormkit.ValidationError):
                await s.execute(ormkit.insert(Sample).values(aware=bad))
        kept = await s.insert(Sample(aware=fine))
        with pytest.raises(ormkit.ValidationError):
            await s.update(kept, aware=late)
    assert (await engine.execute("SELECT count(*) FROM type_samples")).scalar() == 1
    async with ormkit.AsyncSession(engine) as s:
        got = await s.get(Sample, kept.id)
        assert got is not None and got.aware == fine
