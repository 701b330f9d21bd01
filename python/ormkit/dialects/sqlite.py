"""SQLite: ``?`` placeholders, ``lower() LIKE lower()`` for ILIKE, ``json_extract``."""

from __future__ import annotations

import datetime as _dt
import math
import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ormkit.dialects.base import (
    CURRENT_TIME_FUNCTIONS,
    Dialect,
    InListParam,
    _check_current_time,
    plain_list_value,
    register_dialect,
)

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
        """The values as one list parameter, which the engine sends as JSON text, read
        back as rows by ``json_each``. Each value is in the form ormkit stores it in
        (:func:`_json_stored`), so the rows compare as the bound values would; bytes,
        which JSON cannot hold, go as hex text turned back into blobs by ``unhex()``
        (SQLite 3.41+; the engine bundles a newer one). A list that mixes bytes with
        other values, or holds a non-finite float or a value out of the range SQLite
        stores, is bound value by value (the reason is returned)."""
        items: list[Any] = []
        blobs = 0
        for value in values:
            plain = plain_list_value(value)
            if plain is NotImplemented:
                return f"a {type(value).__name__} value"
            kind = type(plain)
            if kind is bytes or kind is bytearray:
                items.append(plain.hex())
                blobs += 1
                continue
            stored = _json_stored(plain)
            if stored is NotImplemented:
                return f"the {kind.__name__} {plain!r}"
            items.append(stored)
        if blobs:
            if blobs != len(items):
                return "bytes mixed with values of other types"
            return InListParam(items, "hex")
        return InListParam(items, "text" if info is not None and _text_affinity(info) else "json")

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
_MICROSECOND = _dt.timedelta(microseconds=1)
_MICROS_PER_DAY = 86_400_000_000
_INT64 = range(-(2**63), 2**63)
#: values the engine writes into JSON in the very form it stores them in
_JSON_AS_STORED = frozenset({int, str, bool, _dt.date, _dt.time, uuid.UUID})


def _json_stored(value: Any) -> Any:
    """``value`` (of a type in ``IN_LIST_VALUE_TYPES``, not bytes) in the form ormkit
    stores it in on SQLite, as an item of a list the engine writes as JSON text, or
    ``NotImplemented`` when SQLite would not store it (the value is then bound alone,
    and the engine says why). The engine writes ints, text, bools (JSON ``true`` is
    read back as 1), dates, times and UUIDs in their stored form already; a datetime
    is stored as ``isoformat(" ")`` text (an aware one in UTC, with ``+00:00``), a
    Decimal as its exact text, a timedelta as integer microseconds: JSON would have a
    ``T``, a float and no place for them."""
    kind = type(value)
    if kind in _JSON_AS_STORED:
        return value
    if kind is float:
        return value if math.isfinite(value) else NotImplemented
    if kind is _dt.datetime:
        offset = value.utcoffset()
        naive = value.replace(tzinfo=None)
        if offset is None:
            return naive.isoformat(" ")
        try:
            return (naive - offset).isoformat(" ") + "+00:00"
        except OverflowError:
            return NotImplemented
    if kind is Decimal:
        if value.is_nan():
            return "NaN"
        if value.is_infinite():
            return "-Infinity" if value.is_signed() else "Infinity"
        return format(value, "f")
    if kind is _dt.timedelta:
        micros = value // _MICROSECOND
        if value.days * _MICROS_PER_DAY not in _INT64 or micros not in _INT64:
            return NotImplemented
        return micros
    return NotImplemented


def _text_affinity(info: Any) -> bool:
    """Whether SQLite gives the column ``info`` TEXT affinity (its declared type names
    CHAR, CLOB or TEXT and not INT)."""
    declared = info.type.sql_type("sqlite").upper()
    return "INT" not in declared and any(w in declared for w in ("CHAR", "CLOB", "TEXT"))


SQLITE = SQLiteDialect()
register_dialect(SQLITE, "sqlite3")
