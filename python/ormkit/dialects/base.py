"""The dialect object: quoting, placeholders, capabilities and per-dialect SQL pieces.

The compiler never decides how an identifier is quoted, how a parameter is written or
which operators exist; it asks the dialect. Two dialects exist: PostgreSQL and SQLite.
"""

from __future__ import annotations

import datetime as _dt
import enum
import math
import re
import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

if TYPE_CHECKING:
    from ormkit.types import ColumnType

__all__ = [
    "CURRENT_TIME_FUNCTIONS",
    "IN_LIST_VALUE_TYPES",
    "RESERVED_WORDS",
    "Dialect",
    "InListParam",
    "current_time_fits",
    "get_dialect",
]

#: The SQL functions for the current date and time (``func.now()``, …), each with the
#: column kind of the value it gives: ``now()`` and ``CURRENT_TIMESTAMP`` are
#: timezone-aware timestamps, ``LOCALTIMESTAMP`` a naive one, ``CURRENT_DATE`` a date,
#: ``CURRENT_TIME`` and ``LOCALTIME`` times of day. They take no arguments and are
#: rendered by the dialect (:meth:`Dialect.current_time`) wherever they appear.
CURRENT_TIME_FUNCTIONS: dict[str, str] = {
    "now": "datetime_tz",
    "current_timestamp": "datetime_tz",
    "localtimestamp": "datetime",
    "current_date": "date",
    "current_time": "time",
    "localtime": "time",
}

_TIMESTAMP_KINDS = frozenset({"datetime", "datetime_tz"})


def current_time_fits(function: str, kind: str) -> bool:
    """Whether the value of ``func.<function>()`` can be stored in a column of type
    ``kind``, as PostgreSQL converts it: a timestamp fits a date or a time of day column
    (it is cut to its date or time), a date fits a timestamp column (midnight), but a
    time of day fits no date or timestamp column and a date no time column. Columns of
    other types are left to the database."""
    value = CURRENT_TIME_FUNCTIONS[function]
    if kind in _TIMESTAMP_KINDS or kind == "date":
        return value != "time"
    if kind == "time":
        return value != "date"
    return True


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

#: The exact types of the values a long IN list may send as one parameter (an Enum member
#: counts as its value); a list holding anything else (an SQL expression, a subclass, a
#: dict) is bound value by value.
IN_LIST_VALUE_TYPES: frozenset[type] = frozenset(
    {int, float, str, bool, bytes, bytearray, Decimal, uuid.UUID}
    | {_dt.datetime, _dt.date, _dt.time, _dt.timedelta}
)


class InListParam(NamedTuple):
    """A long IN list sent as one bound parameter (see :meth:`Dialect.in_list_param`)."""

    #: the value bound: a list (PostgreSQL gets it as an array, SQLite as JSON text)
    value: Any
    #: which SQL :meth:`Dialect.in_list_sql` writes for it (part of the statement's
    #: cache key)
    form: str


def plain_list_value(value: Any) -> Any:
    """``value`` as a long IN list sends it: itself when its type is one of
    :data:`IN_LIST_VALUE_TYPES`, an Enum member's value (the engine binds members by
    value), or ``NotImplemented`` for anything else."""
    while type(value) not in IN_LIST_VALUE_TYPES:
        if not isinstance(value, enum.Enum):
            return NotImplemented
        value = value.value
    return value


def plain_list(values: Sequence[Any]) -> list[Any] | str:
    """``values`` through :func:`plain_list_value`, or why one cannot be sent in a long
    IN list's single parameter (``"a <type> value"``)."""
    items: list[Any] = []
    for value in values:
        plain = plain_list_value(value)
        if plain is NotImplemented:
            return f"a {type(value).__name__} value"
        items.append(plain)
    return items


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
    #: An IN list of more values than this is sent as one parameter where
    #: :meth:`in_list_param` can; shorter ones keep one parameter per value (so their SQL,
    #: and the prepared statements cached for it, stay as they are).
    in_list_threshold: ClassVar[int] = 1000

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

    def in_list_param(self, values: Sequence[Any], info: Any) -> InListParam | str:
        """The values of a long IN list (more than :attr:`in_list_threshold`; plain
        Python values, never None) as one parameter, or a str saying why they cannot be
        one (the list is then bound value by value). ``info`` is the column the list is
        compared with, None for another expression. The result must match rows exactly
        as the value-by-value list would."""
        return f"{self.name} has no one-parameter IN list"

    def in_list_sql(self, operand: str, placeholder: str, form: str, negate: bool) -> str:
        """``operand [NOT] IN`` the values bound as ``placeholder``, an
        :class:`InListParam` of ``form``."""
        raise NotImplementedError(f"{self.name} has no one-parameter IN list")

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

    def decimal_arithmetic(self, op: str, left: str, right: str) -> str:
        """``left op right`` (``+ - * /``) of ``Decimal`` values, exactly: the plain
        operator on a backend with an exact decimal type (PostgreSQL's ``numeric``)."""
        return f"{left} {op} {right}"

    def decimal_aggregate(self, name: str, arg: str) -> str:
        """``sum``/``avg`` of ``Decimal`` values, exactly: the plain function on a
        backend with an exact decimal type."""
        return f"{name}({arg})"

    def cast_numeric(self, sql: str) -> str:
        """SQL that casts ``sql`` (text extracted from JSON) to a number for comparison."""
        return f"CAST({sql} AS NUMERIC)"

    def boolean_literal(self, value: bool) -> str:
        """A boolean constant."""
        return "TRUE" if value else "FALSE"

    def current_time(
        self, function: str, kind: str | None = None, *, compared: bool = False
    ) -> str:
        """The SQL of ``func.<function>()``, one of :data:`CURRENT_TIME_FUNCTIONS`, in
        every position: a value written to a column of type ``kind`` (INSERT VALUES,
        UPDATE SET, a ``server_default``), compared with a column of type ``kind``
        (``compared``: WHERE, HAVING, BETWEEN) or anywhere else (``kind`` None: the
        select list, ORDER BY, a function argument).

        PostgreSQL (this default) has them all: ``now()`` and the SQL-standard key
        words, written without parentheses. ``kind`` matters where the backend stores
        dates and times as text (SQLite)."""
        _check_current_time(function)
        return "now()" if function == "now" else function.upper()

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


def _check_current_time(function: str) -> None:
    if function not in CURRENT_TIME_FUNCTIONS:
        known = ", ".join(f"{name}()" for name in CURRENT_TIME_FUNCTIONS)
        raise ValueError(f"{function}() is not a current-time SQL function ({known})")


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
