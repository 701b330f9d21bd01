"""The dialect object: quoting, placeholders, capabilities and per-dialect SQL pieces.

The compiler never decides how an identifier is quoted, how a parameter is written or
which operators exist; it asks the dialect. Two dialects exist: PostgreSQL and SQLite.
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from ormkit.types import ColumnType

__all__ = ["RESERVED_WORDS", "Dialect", "get_dialect"]

# PostgreSQL's reserved key words, SQLite's key words, and a few SQL-standard words
# (``user``, ``value``) that break one backend or the other when bare. Quoting more
# than strictly needed is harmless; quoting less is a bug.
_RESERVED = """
abort action add after all alter always analyse analyze and any array as asc
asymmetric attach authorization autoincrement before begin between binary both by
cascade case cast check collate collation column commit concurrently conflict
constraint create cross current current_catalog current_date current_role
current_schema current_time current_timestamp current_user database default
deferrable deferred delete desc detach distinct do drop each else end escape except
exclude exclusive exists explain fail false fetch filter first following for foreign
freeze from full generated glob grant group groups having if ignore ilike immediate
in index indexed initially inner insert instead intersect into is isnull join key
lateral last leading left like limit localtime localtimestamp match materialized
natural no not nothing notnull null nulls of offset on only or order others outer
over overlaps partition placing plan pragma preceding primary query raise range
recursive references regexp reindex release rename replace restrict returning right
rollback row rows savepoint select session_user set similar some symmetric
system_user table tablesample temp temporary then ties to trailing transaction
trigger true unbounded union unique update user using vacuum values variadic verbose
view virtual when where window with without
"""
RESERVED_WORDS: frozenset[str] = frozenset(_RESERVED.split())

_PLAIN_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]*\Z")


class Dialect:
    """What differs between backends. Subclasses: PostgreSQL and SQLite."""

    name: ClassVar[str] = ""
    #: ``"numeric_dollar"`` (``$1``) or ``"qmark"`` (``?``).
    paramstyle: ClassVar[str] = ""
    #: Most bind parameters one statement may carry.
    max_params: ClassVar[int] = 0
    supports_returning: ClassVar[bool] = True
    supports_ilike: ClassVar[bool] = False
    supports_for_update: ClassVar[bool] = False
    supports_json_operators: ClassVar[bool] = False
    supports_json_containment: ClassVar[bool] = False
    #: SQLite cannot say OFFSET without LIMIT (``LIMIT -1`` is added).
    offset_requires_limit: ClassVar[bool] = False
    #: ``INSERT … ON CONFLICT (cols) DO UPDATE SET col = excluded.col`` on both backends.
    upsert_syntax: ClassVar[str] = "on_conflict"
    reserved_words: ClassVar[frozenset[str]] = RESERVED_WORDS

    def __init__(self) -> None:
        self._quoted: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"<Dialect {self.name}>"

    # -- identifiers ------------------------------------------------------------------

    def quote(self, identifier: str) -> str:
        """Quote ``identifier`` unless it is a plain lower-case, non-reserved name."""
        cached = self._quoted.get(identifier)
        if cached is not None:
            return cached
        if not isinstance(identifier, str) or not identifier:
            raise ValueError(f"invalid SQL identifier {identifier!r}")
        if "\x00" in identifier:
            raise ValueError(f"invalid SQL identifier {identifier!r}: contains NUL")
        if _PLAIN_IDENTIFIER.match(identifier) and identifier not in self.reserved_words:
            quoted = identifier
        else:
            quoted = '"' + identifier.replace('"', '""') + '"'
        if len(self._quoted) < 10_000:
            self._quoted[identifier] = quoted
        return quoted

    # -- parameters -------------------------------------------------------------------

    def placeholder(self, index: int) -> str:
        """The text of the ``index``-th (1-based) bind parameter."""
        raise NotImplementedError

    def rows_per_statement(self, params_per_row: int) -> int:
        """How many rows of ``params_per_row`` parameters fit in one statement."""
        if params_per_row <= 0:
            return 1_000
        return max(1, self.max_params // params_per_row)

    # -- operators --------------------------------------------------------------------

    def ilike(self, left: str, right: str, negate: bool) -> str:
        """Case-insensitive LIKE of two compiled operands (escape clause added by caller)."""
        raise NotImplementedError

    def json_path_params(self, keys: Sequence[str | int]) -> list[Any]:
        """The bind parameters that carry a JSON path (keys are never formatted into SQL)."""
        raise NotImplementedError

    def json_extract(
        self, column: str, placeholders: Sequence[str], keys: Sequence[str | int], as_text: bool
    ) -> str:
        """SQL that extracts the path ``keys`` (bound as ``placeholders``) from ``column``."""
        raise NotImplementedError

    def json_value(self, placeholder: str) -> str:
        """SQL that turns a bound JSON text parameter into a comparable JSON value."""
        raise NotImplementedError

    def json_contains(self, column: str, placeholder: str) -> str:
        """SQL for "JSON ``column`` contains the bound JSON document"."""
        raise NotImplementedError(f"JSON containment is not supported on {self.name}")

    def compared(self, sql: str, info: Any) -> str:
        """``sql``, the column ``info``, as an operand of a comparison, of ORDER BY or of
        ``min``/``max``: as it is, unless the backend stores the column's type in a form
        that does not compare by value (see the SQLite dialect)."""
        return sql

    def cast_numeric(self, sql: str) -> str:
        """SQL that casts ``sql`` (text extracted from JSON) to a number for comparison."""
        return f"CAST({sql} AS NUMERIC)"

    def boolean_literal(self, value: bool) -> str:
        """A boolean constant."""
        return "TRUE" if value else "FALSE"

    def current_time(self, function: str, kind: str) -> str:
        """The SQL an INSERT/UPDATE writes for ``func.now()`` / ``func.current_timestamp()``
        (``function``) into a column of type ``kind``."""
        return "now()" if function == "now" else "CURRENT_TIMESTAMP"

    def date_part(self, part: str, sql: str, kind: str) -> str:
        """The ``part`` (``"year"``, ``"month"``, ``"day"``) of the date or datetime
        ``sql`` (a column of type ``kind``) as an integer."""
        raise NotImplementedError(f"date parts are not supported on {self.name}")

    # -- DDL --------------------------------------------------------------------------

    def column_type(self, ctype: ColumnType) -> str:
        """The column type for a resolved column type."""
        return ctype.sql_type(self.name)

    def autoincrement_primary_key(self, ctype: ColumnType) -> str:
        """Type and constraint of a single-column autoincrement integer primary key."""
        raise NotImplementedError

    def render_literal(self, value: Any) -> str:
        """A literal for DDL (server defaults), where parameters cannot be bound."""
        from ormkit.sql.expressions import TextClause

        if isinstance(value, TextClause):
            return value.text
        if isinstance(value, enum.Enum):
            value = value.value
        if value is None:
            return "NULL"
        if isinstance(value, bool):
            return self.boolean_literal(value)
        if isinstance(value, int):
            return str(value)
        if isinstance(value, float):
            if not math.isfinite(value):
                raise ValueError(f"cannot render non-finite float {value!r} as a default")
            return repr(value)
        if isinstance(value, Decimal):
            if not value.is_finite():
                raise ValueError(f"cannot render {value!r} as a default")
            return str(value)
        if isinstance(value, str):
            if "\x00" in value:
                raise ValueError("a server default may not contain NUL")
            return "'" + value.replace("'", "''") + "'"
        raise TypeError(
            f"cannot render {type(value).__name__} as a server default; "
            "use a str, number, bool or text('SQL expression')"
        )


_DIALECTS: dict[str, Dialect] = {}


def register_dialect(dialect: Dialect, *aliases: str) -> None:
    """Make ``dialect`` available to :func:`get_dialect` under its name and ``aliases``."""
    for name in (dialect.name, *aliases):
        _DIALECTS[name] = dialect


def get_dialect(dialect: str | Dialect) -> Dialect:
    """The dialect object for a name (``"postgresql"``, ``"postgres"``, ``"sqlite"``)."""
    if isinstance(dialect, Dialect):
        return dialect
    if not _DIALECTS:
        import ormkit.dialects.postgresql
        import ormkit.dialects.sqlite  # noqa: F401
    found = _DIALECTS.get(dialect)
    if found is None:
        raise ValueError(f"unknown dialect {dialect!r}; expected 'postgresql' or 'sqlite'")
    return found
