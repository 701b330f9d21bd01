"""SQLite: ``?`` placeholders, ``lower() LIKE lower()`` for ILIKE, ``json_extract``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ormkit.dialects.base import Dialect, register_dialect

if TYPE_CHECKING:
    from ormkit.types import ColumnType

__all__ = ["SQLiteDialect"]

#: the current UTC time (SQLite's ``CURRENT_TIMESTAMP`` is UTC) as the ISO-8601 text of
#: ``datetime.isoformat(" ")``, the form ormkit stores datetimes in: microseconds only
#: when not zero
_TIMESTAMP_NOW = "replace(strftime('%Y-%m-%d %H:%M:%f000', 'now'), '.000000', '')"
#: ``func.now()`` written to a column, per column type
_NOW = {
    "datetime": _TIMESTAMP_NOW,
    "datetime_tz": f"({_TIMESTAMP_NOW} || '+00:00')",
    "date": "date('now')",
    "time": "replace(strftime('%H:%M:%f000', 'now'), '.000000', '')",
}
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

    def compared(self, sql: str, info: Any) -> str:
        """A ``Decimal`` column (stored as its exact text) is compared, ordered and
        aggregated by ``min``/``max`` through the ``ormkit_decimal`` collation, which
        every ormkit connection registers: by value, exactly (text would put
        ``'10.25'`` before ``'9.50'``, and ``'9.5'`` apart from ``'9.50'``)."""
        if info.type.kind == "decimal":
            return f"{sql} COLLATE ormkit_decimal"
        return sql

    def current_time(self, function: str, kind: str) -> str:
        """SQLite has no ``now()``: the current UTC time as text in the form ormkit
        stores the column's type in, so that it reads back and compares as values
        written from Python do (``CURRENT_TIMESTAMP`` for other types)."""
        return _NOW.get(kind, "CURRENT_TIMESTAMP")

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


SQLITE = SQLiteDialect()
register_dialect(SQLITE, "sqlite3")
