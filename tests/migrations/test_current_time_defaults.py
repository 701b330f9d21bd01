"""``server_default=func.now()`` (and the other current-time functions) in migrations:
autogenerate writes the dialect's SQL as ``sa.text()`` into revisions that ormkit and
real Alembic both run, the defaults fill rows in the form ormkit reads back, a schema
that matches the models autogenerates nothing, and SQLite table rebuilds keep
expression defaults."""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from .conftest import (
    alembic_cli,
    assert_no_changes,
    needs_alembic,
    ormkit_cli,
    query,
    revision_text,
    run,
    schema_of,
    write_models,
)

MODELS_V1 = """
from datetime import date, datetime, time

from ormkit import func
from ormkit.orm import Mapped, declarative_base, mapped_column

Base = declarative_base()


class Event(Base):
    __tablename__ = "events"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]
    created: Mapped[datetime] = mapped_column(server_default=func.now())
    created_tz: Mapped[datetime] = mapped_column(
        timezone=True, server_default=func.current_timestamp()
    )
    day: Mapped[date] = mapped_column(server_default=func.current_date())
    clock: Mapped[time | None] = mapped_column(server_default=func.localtime())
"""

# clock goes, seen (NOT NULL, filled by its default in the existing rows) comes
MODELS_V2 = MODELS_V1.replace(
    "    clock: Mapped[time | None] = mapped_column(server_default=func.localtime())\n",
    "    seen: Mapped[datetime] = mapped_column(server_default=func.localtimestamp())\n",
)

CREATE_ALL = """
import asyncio, os, sys, app_models, ormkit

async def main():
    engine = await ormkit.create_engine(sys.argv[1])
    await engine.create_all([app_models.Event])
    await engine.close()

asyncio.run(main())
os._exit(0)
"""

#: what a revision's server_default is on each backend
EXPECTED_DEFAULTS = {
    "sqlite": [
        "sa.Column('created', sa.DateTime(), server_default=sa.text(\"replace(strftime("
        "'%Y-%m-%d %H:%M:%f000', 'now'), '.000000', '')\"), nullable=False)",
        "sa.Column('created_tz', sa.DateTime(timezone=True), server_default=sa.text("
        "\"(replace(strftime('%Y-%m-%d %H:%M:%f000', 'now'), '.000000', '') || '+00:00')\"),"
        " nullable=False)",
        "sa.Column('day', sa.Date(), server_default=sa.text(\"date('now')\"), nullable=False)",
        "sa.Column('clock', sa.Time(), server_default=sa.text(\"replace(strftime("
        "'%H:%M:%f000', 'now'), '.000000', '')\"), nullable=True)",
    ],
    "postgresql": [
        "sa.Column('created', sa.DateTime(), server_default=sa.text('now()'), nullable=False)",
        "sa.Column('created_tz', sa.DateTime(timezone=True), "
        "server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False)",
        "sa.Column('day', sa.Date(), server_default=sa.text('CURRENT_DATE'), nullable=False)",
        "sa.Column('clock', sa.Time(), server_default=sa.text('LOCALTIME'), nullable=True)",
    ],
}


def _dialect(url: str) -> str:
    return "sqlite" if url.startswith("sqlite") else "postgresql"


async def _now(url: str) -> datetime:
    """The database's naive current time (PostgreSQL: the session's time zone; SQLite:
    UTC)."""
    if _dialect(url) == "postgresql":
        rows = await query(url, "SELECT LOCALTIMESTAMP AS t")
        value: datetime = rows[0]["t"]
        return value
    return datetime.now(UTC).replace(tzinfo=None)  # SQLite's clock is UTC


def _check_filled(row: dict[str, Any], url: str, now: datetime, *columns: str) -> None:
    """The defaulted values of ``row`` are the current time, stored on SQLite as the text
    ormkit writes values of the column's type in."""
    minutes = timedelta(minutes=2)
    sqlite = _dialect(url) == "sqlite"
    for column in columns:
        raw = row[column]
        if column in ("created", "seen"):
            value = datetime.fromisoformat(raw) if sqlite else raw
            assert value.tzinfo is None and abs(value - now) < minutes, (column, raw)
            assert not sqlite or raw == value.isoformat(" ")
        elif column == "created_tz":
            value = datetime.fromisoformat(raw) if sqlite else raw
            assert value.utcoffset() == timedelta(0), (column, raw)
            assert abs(value.replace(tzinfo=None) - now) < minutes, (column, raw)
            assert not sqlite or raw == value.isoformat(" ")
        elif column == "day":
            value = date.fromisoformat(raw) if sqlite else raw
            assert value == now.date(), (column, raw)
        else:
            value = time.fromisoformat(raw) if sqlite else raw
            assert isinstance(value, time), (column, raw)
            assert not sqlite or raw == value.isoformat()


async def _insert_and_check(url: str, name: str, *columns: str) -> None:
    await query(url, f"INSERT INTO events (name) VALUES ('{name}')")
    (row,) = await query(url, f"SELECT * FROM events WHERE name = '{name}'")
    _check_filled(row, url, await _now(url), *columns)


async def test_create_all_schema_autogenerates_nothing(migrations: Path, db_url: str) -> None:
    write_models(migrations, MODELS_V1)
    (migrations / "make.py").write_text(CREATE_ALL)
    proc = run([sys.executable, "make.py", db_url], migrations)
    assert proc.returncode == 0, proc.stderr
    await _insert_and_check(db_url, "a", "created", "created_tz", "day", "clock")
    assert_no_changes(migrations, db_url)
    assert not list((migrations / "migrations" / "versions").glob("*.py"))


async def test_autogenerated_revision_writes_the_dialect_sql(migrations: Path, db_url: str) -> None:
    write_models(migrations, MODELS_V1)
    ormkit_cli(migrations, "auto", "v1", "-m", "app_models", "--rev-id", "v1", url=db_url)
    text = revision_text(migrations, "v1")
    for expected in EXPECTED_DEFAULTS[_dialect(db_url)]:
        assert expected in text, (expected, text)
    assert "func" not in text
    ormkit_cli(migrations, "up", url=db_url)
    await _insert_and_check(db_url, "a", "created", "created_tz", "day", "clock")
    assert_no_changes(migrations, db_url)
    ormkit_cli(migrations, "down", "base", url=db_url)
    assert "events" not in await schema_of(db_url)


async def test_added_and_dropped_current_time_columns_on_a_table_with_rows(
    migrations: Path, db_url: str
) -> None:
    """On SQLite both need a table rebuild: the rebuilt table keeps the other columns'
    expression defaults (SQLite reports them without their parentheses)."""
    write_models(migrations, MODELS_V1)
    ormkit_cli(migrations, "auto", "v1", "-m", "app_models", "--rev-id", "v1", url=db_url)
    ormkit_cli(migrations, "up", url=db_url)
    await query(db_url, "INSERT INTO events (name) VALUES ('old')")
    write_models(migrations, MODELS_V2)
    ormkit_cli(migrations, "auto", "v2", "-m", "app_models", "--rev-id", "v2", url=db_url)
    text = revision_text(migrations, "v2")
    upgrade, downgrade = text.split("def downgrade")
    assert "add_column(" in upgrade and "'seen'" in upgrade and "drop_column(" in upgrade
    # the dropped column comes back with the default the database reports
    assert "'clock', sa.Time(), server_default=sa.text(" in downgrade
    ormkit_cli(migrations, "up", url=db_url)
    (old,) = await query(db_url, "SELECT * FROM events")
    assert "clock" not in old
    _check_filled(old, db_url, await _now(db_url), "created", "created_tz", "day", "seen")
    await _insert_and_check(db_url, "new", "created", "created_tz", "day", "seen")
    assert_no_changes(migrations, db_url)
    ormkit_cli(migrations, "down", "v1", url=db_url)
    await _insert_and_check(db_url, "back", "created", "created_tz", "day", "clock")
    names = [r["name"] for r in await query(db_url, "SELECT name FROM events ORDER BY id")]
    assert names == ["old", "new", "back"]
    (migrations / "migrations" / "versions" / "v2_v2.py").unlink()
    write_models(migrations, MODELS_V1)
    assert_no_changes(migrations, db_url)


@needs_alembic
async def test_generated_revisions_run_under_alembic(migrations: Path, db_url: str) -> None:
    write_models(migrations, MODELS_V1)
    ormkit_cli(migrations, "auto", "v1", "-m", "app_models", "--rev-id", "v1", url=db_url)
    alembic_cli(migrations, "upgrade", "head", url=db_url)
    await _insert_and_check(db_url, "a", "created", "created_tz", "day", "clock")
    assert_no_changes(migrations, db_url)
    write_models(migrations, MODELS_V2)
    ormkit_cli(migrations, "auto", "v2", "-m", "app_models", "--rev-id", "v2", url=db_url)
    alembic_cli(migrations, "upgrade", "head", url=db_url)  # (SQLite: a batch rebuild)
    (old,) = await query(db_url, "SELECT * FROM events")
    _check_filled(old, db_url, await _now(db_url), "created", "created_tz", "day", "seen")
    await _insert_and_check(db_url, "b", "created", "created_tz", "day", "seen")
    assert_no_changes(migrations, db_url)
    alembic_cli(migrations, "downgrade", "v1", url=db_url)
    await _insert_and_check(db_url, "c", "created", "created_tz", "day", "clock")
    alembic_cli(migrations, "downgrade", "base", url=db_url)
    assert set(await schema_of(db_url)) == {"alembic_version"}
    # and back up with ormkit: the same schema, nothing to change
    ormkit_cli(migrations, "up", url=db_url)
    await _insert_and_check(db_url, "d", "created", "created_tz", "day", "seen")
    assert_no_changes(migrations, db_url)
