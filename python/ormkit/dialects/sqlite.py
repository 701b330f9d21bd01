"""SQLite: ``?`` placeholders, ``lower() LIKE lower()`` for ILIKE, ``json_extract``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ormkit._ormkit import sqlite_json_list
from ormkit.dialects.base import (
    CURRENT_TIME_FUNCTIONS,
    Dialect,
    InListParam,
    _check_current_time,
    plain_list,
    register_dialect,
)
from ormkit.errors import DataError

if TYPE_CHECKING:
    from ormkit.types import ColumnType

__all__ = ["SQLiteDialect"]

#: the current UTC time as the ISO-8601 text of ``datetime.isoformat(" ")``, the form
#: ormkit stores naive datetimes in (microseconds only when not zero; SQLite's clock
#: gives milliseconds); timezone-aware ones get ``+00:00`` (they are stored in UTC)
_TIMESTAMP_NOW = "replace(strftime('%Y-%m-%d %H:%M:%f000', 'now'), '.000000', '')"
#: the current UTC time of day as ``time.isoformat()`` writes it
_TIME_NOW = "replace(strftime('%H:%M:%f000', 'now'), '.000000', '')"
_DATE_NOW = "date('now')"
#: (what the function gives, the column type whose stored form it takes) → SQL; the
#: value is cut to a date or a time of day, and a date as a timestamp is its midnight
_CURRENT = {
    ("timestamp", "datetime"): _TIMESTAMP_NOW,
    ("timestamp", "datetime_tz"): f"({_TIMESTAMP_NOW} || '+00:00')",
    ("timestamp", "date"): _DATE_NOW,
    ("timestamp", "time"): _TIME_NOW,
    ("date", "datetime"): f"({_DATE_NOW} || ' 00:00:00')",
    ("date", "datetime_tz"): f"({_DATE_NOW} || ' 00:00:00+00:00')",
    ("date", "date"): _DATE_NOW,
    ("time", "time"): _TIME_NOW,
}
#: what a function gives, by the column type of its value
_SOURCE = {"datetime_tz": "timestamp", "datetime": "timestamp", "date": "date", "time": "time"}
#: SQLite's own key words, written to a column of a non-temporal type
_KEYWORDS = {"timestamp": "CURRENT_TIMESTAMP", "date": "CURRENT_DATE", "time": "CURRENT_TIME"}
_TEMPORAL_KINDS = frozenset({"datetime", "datetime_tz", "date", "time"})
_STRFTIME = {"year": "%Y", "month": "%m", "day": "%d"}


#: the exact decimal function of each arithmetic operator (``ormkit_dec_<name>``)
_DECIMAL_OPS = {"+": "add", "-": "sub", "*": "mul", "/": "div"}


class SQLiteDialect(Dialect):
    """SQLite 3.35 and later (RETURNING, ON CONFLICT … DO UPDATE, JSON functions)."""

    name = "sqlite"
    paramstyle = "qmark"
    max_params = 32766
    offset_requires_limit = True

    def placeholder(self, index: int) -> str:
        """``?``."""
        return "?"

    def in_list_param(self, values: Sequence[Any], info: Any) -> InListParam | str:
        """The values as one JSON text parameter, read back as rows by ``json_each``.
        The engine writes each value in the form binding it alone stores
        (``_ormkit.sqlite_json_list``: ISO-8601 text, exact decimal text, integer
        microseconds, 0/1), so the rows compare as the bound values would; bytes, which
        JSON cannot hold, go as hex text turned back into blobs by ``unhex()`` (SQLite
        3.41+; the engine bundles a newer one). A list that mixes bytes with other
        values, or holds a value SQLite or JSON cannot store (a non-finite float, an
        interval out of range), is bound value by value (the reason is returned)."""
        items = plain_list(values)
        if isinstance(items, str):
            return items
        try:
            text, blobs = sqlite_json_list(items)
        except (DataError, TypeError, ValueError, OverflowError) as exc:
            reason = str(exc).split("\n", 1)[0]
            return f"a value it cannot send in a JSON list ({reason})"
        if blobs:
            return InListParam(text, "hex")
        return InListParam(text, "text" if info is not None and _text_affinity(info) else "json")

    def in_list_sql(self, operand: str, placeholder: str, form: str, negate: bool) -> str:
        """``operand [NOT] IN (SELECT value FROM json_each(?))``. A column of TEXT
        affinity gets the values as text (``CAST(value AS TEXT)``): with a list of
        parameters SQLite converts them to text before comparing, with a subquery it
        does not (a TEXT column holding ``'1'`` would not match ``1``)."""
        item = _JSON_EACH_ITEM[form]
        op = "NOT IN" if negate else "IN"
        return f"{operand} {op} (SELECT {item} FROM json_each({placeholder}))"

    def compared(self, sql: str, info: Any) -> str:
        """A ``Decimal`` column (stored as its exact text) is compared, ordered and
        aggregated by ``min``/``max`` through the ``ormkit_decimal`` collation, which
        every ormkit connection registers: by value, exactly (text would put
        ``'10.25'`` before ``'9.50'``, and ``'9.5'`` apart from ``'9.50'``)."""
        if info.type.kind == "decimal":
            return f"{sql} COLLATE ormkit_decimal"
        return sql

    def decimal_arithmetic(self, op: str, left: str, right: str) -> str:
        """SQLite would compute in floating point (``0.1 + 0.2`` is
        ``0.30000000000000004``, and an UPDATE stores it): ormkit's exact decimal
        functions, which every ormkit connection registers, give the decimal text."""
        return f"ormkit_dec_{_DECIMAL_OPS[op]}({left}, {right})"

    def decimal_aggregate(self, name: str, arg: str) -> str:
        """Exact ``sum``/``avg`` of decimal text (see :meth:`decimal_arithmetic`)."""
        return f"ormkit_dec_{name}({arg})"

    def current_time(
        self, function: str, kind: str | None = None, *, compared: bool = False
    ) -> str:
        """SQLite has no ``now()`` and its clock is UTC; dates and times are stored as
        ISO-8601 text, which compares as text. So the current time is written as the
        text ormkit stores the column's type in: a value written to a column of type
        ``kind`` reads back as values written from Python do (a timestamp cut to the
        column's date or time of day, a date as midnight), and a value compared with a
        datetime column has the column's form, so that the comparison is by time (a
        date column compared with a timestamp compares as its midnight, as on
        PostgreSQL). Elsewhere, and written to a column of another type, the value has
        its own form: ``now()`` an aware timestamp (``+00:00``), ``localtimestamp()`` a
        naive one, ``current_date()`` a date, ``current_time()``/``localtime()`` a time
        of day (written to a non-temporal column: SQLite's ``CURRENT_TIMESTAMP``,
        ``CURRENT_DATE`` or ``CURRENT_TIME``)."""
        _check_current_time(function)
        value = CURRENT_TIME_FUNCTIONS[function]
        source = _SOURCE[value]
        if kind not in _TEMPORAL_KINDS:
            if kind is not None and not compared:
                return _KEYWORDS[source]
            return _CURRENT[source, value]
        if compared and kind == "date" and source == "timestamp":
            kind = "datetime"  # the date compares as its midnight
        # no conversion (a time of day as a date; PostgreSQL refuses it): as it is
        return _CURRENT.get((source, kind)) or _CURRENT[source, value]

    def date_part(self, part: str, sql: str, kind: str) -> str:
        """``strftime`` of the ISO-8601 text the column is stored as (timezone-aware
        values are stored in UTC)."""
        return f"CAST(strftime('{_STRFTIME[part]}', {sql}) AS INTEGER)"

    def ilike(self, left: str, right: str, negate: bool) -> str:
        """``lower(left) [NOT] LIKE lower(right)``."""
        return f"lower({left}) {'NOT LIKE' if negate else 'LIKE'} lower({right})"

    def json_path_params(self, keys: Sequence[str | int]) -> list[Any]:
        """One parameter: the whole path, ``$."a"."b"[0]``, built from checked keys."""
        path = ["$"]
        for key in keys:
            if isinstance(key, int):
                path.append(f"[{key}]")
                continue
            if "\x00" in key:
                raise ValueError(f"invalid JSON path key {key!r}: contains NUL")
            if '"' in key:
                raise ValueError(f"invalid JSON path key {key!r}: SQLite paths cannot hold '\"'")
            path.append(f'."{key}"')
        return ["".join(path)]

    def json_extract(
        self, column: str, placeholders: Sequence[str], keys: Sequence[str | int], as_text: bool
    ) -> str:
        """``json_extract(column, ?)`` (SQLite returns strings as text either way)."""
        (ph,) = placeholders
        return f"json_extract({column}, {ph})"

    def json_value(self, placeholder: str) -> str:
        """``json(?)``: normalises the bound JSON text so it compares with stored JSON."""
        return f"json({placeholder})"

    def boolean_literal(self, value: bool) -> str:
        """``1`` / ``0``, as booleans are stored."""
        return "1" if value else "0"

    def autoincrement_primary_key(self, ctype: ColumnType) -> str:
        """``INTEGER PRIMARY KEY``: an alias of the rowid, assigned when NULL is inserted."""
        return "INTEGER PRIMARY KEY"


#: the item a long IN list's subquery selects from ``json_each``, by InListParam form
_JSON_EACH_ITEM = {"json": "value", "text": "CAST(value AS TEXT)", "hex": "unhex(value)"}


def _text_affinity(info: Any) -> bool:
    """Whether SQLite gives the column ``info`` TEXT affinity (its declared type names
    CHAR, CLOB or TEXT and not INT)."""
    declared = info.type.sql_type("sqlite").upper()
    return "INT" not in declared and any(w in declared for w in ("CHAR", "CLOB", "TEXT"))


SQLITE = SQLiteDialect()
register_dialect(SQLITE, "sqlite3")
