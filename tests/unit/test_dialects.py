"""Dialect objects: quoting, placeholders, capabilities, the type table."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pytest

from ormkit.dialects import POSTGRESQL, SQLITE, get_dialect
from ormkit.sql.expressions import text
from ormkit.types import JSON, DateTime, Enum, Integer, Numeric, String, resolve_column_type


@pytest.mark.parametrize("dialect", [POSTGRESQL, SQLITE])
@pytest.mark.parametrize(
    ("name", "quoted"),
    [
        ("users", "users"),
        ("author_id", "author_id"),
        ("_private2", "_private2"),
        ("order", '"order"'),
        ("user", '"user"'),
        ("group", '"group"'),
        ("select", '"select"'),
        ("DisplayName", '"DisplayName"'),
        ("Users", '"Users"'),
        ("2fa", '"2fa"'),
        ("first name", '"first name"'),
        ('we"ird', '"we""ird"'),
        ("x; DROP TABLE y", '"x; DROP TABLE y"'),
    ],
)
def test_quoting(dialect: Any, name: str, quoted: str) -> None:
    assert dialect.quote(name) == quoted


@pytest.mark.parametrize("bad", ["", "a\x00b"])
def test_invalid_identifiers(bad: str) -> None:
    with pytest.raises(ValueError, match="invalid SQL identifier"):
        POSTGRESQL.quote(bad)


def test_placeholders_and_capabilities() -> None:
    assert [POSTGRESQL.placeholder(i) for i in (1, 2, 10)] == ["$1", "$2", "$10"]
    assert SQLITE.placeholder(7) == "?"
    assert POSTGRESQL.max_params == 65535
    assert SQLITE.max_params == 32766
    assert POSTGRESQL.supports_ilike and not SQLITE.supports_ilike
    assert POSTGRESQL.supports_returning and SQLITE.supports_returning
    assert POSTGRESQL.upsert_syntax == SQLITE.upsert_syntax == "on_conflict"
    assert POSTGRESQL.rows_per_statement(3) == 21845
    assert SQLITE.rows_per_statement(3) == 10922


def test_get_dialect() -> None:
    assert get_dialect("postgresql") is POSTGRESQL
    assert get_dialect("postgres") is POSTGRESQL
    assert get_dialect("sqlite") is SQLITE
    assert get_dialect(SQLITE) is SQLITE
    with pytest.raises(ValueError, match="unknown dialect"):
        get_dialect("mysql")


class Color(enum.Enum):
    RED = "red"


class Level(enum.IntEnum):
    ONE = 1


@pytest.mark.parametrize(
    ("py", "marker", "options", "pg", "sqlite", "sqlite_conv"),
    [
        (int, None, {}, "BIGINT", "INTEGER", None),
        (int, Integer, {}, "INTEGER", "INTEGER", None),
        (str, None, {}, "TEXT", "TEXT", None),
        (str, None, {"max_length": 30}, "VARCHAR(30)", "VARCHAR(30)", None),
        (str, String(12), {}, "VARCHAR(12)", "VARCHAR(12)", None),
        (float, None, {}, "DOUBLE PRECISION", "REAL", None),
        (bool, None, {}, "BOOLEAN", "INTEGER", "bool"),
        (bytes, None, {}, "BYTEA", "BLOB", None),
        (datetime, None, {}, "TIMESTAMP", "TEXT", "datetime"),
        (datetime, None, {"timezone": True}, "TIMESTAMPTZ", "TEXT", "datetime_tz"),
        (datetime, DateTime(timezone=True), {}, "TIMESTAMPTZ", "TEXT", "datetime_tz"),
        (date, None, {}, "DATE", "TEXT", "date"),
        (time, None, {}, "TIME", "TEXT", "time"),
        (timedelta, None, {}, "INTERVAL", "INTEGER", "timedelta"),
        (Decimal, None, {}, "NUMERIC", "TEXT", "decimal"),
        (Decimal, Numeric(10, 2), {}, "NUMERIC(10, 2)", "TEXT", "decimal"),
        (Decimal, None, {"precision": 8}, "NUMERIC(8)", "TEXT", "decimal"),
        (uuid.UUID, None, {}, "UUID", "TEXT", "uuid"),
        (dict, None, {}, "JSONB", "TEXT", "json"),
        (list[int], None, {}, "JSONB", "TEXT", "json"),
        (Any, JSON, {}, "JSONB", "TEXT", "json"),
        (Color, None, {}, "TEXT", "TEXT", Color),
        (Level, None, {}, "BIGINT", "INTEGER", Level),
        (Any, Enum(Color), {}, "TEXT", "TEXT", Color),
    ],
)
def test_type_table(
    py: Any, marker: Any, options: dict[str, Any], pg: str, sqlite: str, sqlite_conv: Any
) -> None:
    ctype = resolve_column_type(py, marker, **options)
    assert ctype.sql_type("postgresql") == pg
    assert ctype.sql_type("sqlite") == sqlite
    assert ctype.converter("sqlite") == sqlite_conv
    expected_pg = sqlite_conv if isinstance(sqlite_conv, type) else None
    assert ctype.converter("postgresql") == expected_pg


@pytest.mark.parametrize(
    ("py", "marker", "options", "message"),
    [
        (object, None, {}, "no column type"),
        (set, None, {}, "no column type"),
        (int, None, {"timezone": True}, "timezone=True"),
        (int, None, {"max_length": 3}, "max_length"),
        (str, None, {"precision": 3}, "precision"),
        (Any, Enum, {}, "needs the enum class"),
        (Any, 42, {}, "not a column type"),
    ],
)
def test_type_errors(py: Any, marker: Any, options: dict[str, Any], message: str) -> None:
    with pytest.raises(TypeError, match=message):
        resolve_column_type(py, marker, **options)


def test_render_literal() -> None:
    assert POSTGRESQL.render_literal("it's") == "'it''s'"
    assert POSTGRESQL.render_literal(True) == "TRUE"
    assert SQLITE.render_literal(True) == "1"
    assert SQLITE.render_literal(3) == "3"
    assert SQLITE.render_literal(Decimal("1.50")) == "1.50"
    assert SQLITE.render_literal(Color.RED) == "'red'"
    assert SQLITE.render_literal(None) == "NULL"
    assert SQLITE.render_literal(text("CURRENT_TIMESTAMP")) == "CURRENT_TIMESTAMP"
    with pytest.raises(ValueError):
        SQLITE.render_literal(float("nan"))
    with pytest.raises(ValueError):
        SQLITE.render_literal("a\x00")
    with pytest.raises(TypeError):
        SQLITE.render_literal(object())
    with pytest.raises(ValueError):
        text("1; DROP TABLE x")
