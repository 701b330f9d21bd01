"""ormkit's exceptions: the PEP 249 hierarchy plus ORM-level errors.

Database errors carry the server's fields (``sqlstate``, ``message``, ``detail``,
``hint``, ``constraint`` ...), the SQL that failed and its parameters, shortened.
Connection passwords never appear in any of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = [
    "ArgumentError",
    "DataError",
    "DatabaseError",
    "Error",
    "IntegrityError",
    "InterfaceError",
    "InternalError",
    "MultipleResultsFound",
    "NoResultFound",
    "NotSupportedError",
    "OperationalError",
    "PoolTimeout",
    "ProgrammingError",
    "RelationshipNotLoaded",
    "StaleDataError",
    "ValidationError",
]

_MAX_PARAMS_SHOWN = 10
_MAX_VALUE_CHARS = 60
_MAX_SQL_CHARS = 1000


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def shorten_params(params: Any) -> str:
    """A short, safe rendering of statement parameters for error messages."""
    if params is None:
        return "[]"
    try:
        items = list(params) if isinstance(params, Sequence) else [params]
    except TypeError:
        items = [params]
    shown = [_shorten(repr(v), _MAX_VALUE_CHARS) for v in items[:_MAX_PARAMS_SHOWN]]
    more = len(items) - len(shown)
    if more > 0:
        shown.append(f"... {more} more")
    return "[" + ", ".join(shown) + "]"


class Error(Exception):
    """Base class of every ormkit error (PEP 249 ``Error``)."""

    def __init__(
        self,
        message: str = "",
        *,
        sqlstate: str | None = None,
        severity: str | None = None,
        detail: str | None = None,
        hint: str | None = None,
        position: int | None = None,
        schema: str | None = None,
        table: str | None = None,
        column: str | None = None,
        constraint: str | None = None,
        sql: str | None = None,
        params: Any = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.sqlstate = sqlstate
        self.severity = severity
        self.detail = detail
        self.hint = hint
        self.position = position
        self.schema = schema
        self.table = table
        self.column = column
        self.constraint = constraint
        self.sql = sql
        self.params = shorten_params(params) if params is not None else None

    def __str__(self) -> str:
        parts = [self.message]
        if self.sqlstate and not self.sqlstate.startswith("SQLITE"):
            parts[0] += f" (SQLSTATE {self.sqlstate})"
        if self.detail:
            parts.append(f"DETAIL: {self.detail}")
        if self.hint:
            parts.append(f"HINT: {self.hint}")
        if self.sql:
            parts.append(f"[SQL: {_shorten(self.sql, _MAX_SQL_CHARS)}]")
        if self.params is not None:
            parts.append(f"[parameters: {self.params}]")
        return "\n".join(parts)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.message, self.__dict__.copy()))


def _rebuild(cls: type[Error], message: str, state: dict[str, Any]) -> Error:
    err = cls.__new__(cls)
    Exception.__init__(err, message)
    err.__dict__.update(state)
    return err


class InterfaceError(Error):
    """The driver was misused or its connection is unusable (PEP 249)."""


class ArgumentError(InterfaceError, ValueError):
    """A bad connection URL or engine option (also a ``ValueError``); nothing was
    connected."""


class DatabaseError(Error):
    """The database reported an error (PEP 249)."""


class DataError(DatabaseError):
    """A value does not fit: out of range, wrong encoding, NUL byte ... (PEP 249)."""


class OperationalError(DatabaseError):
    """A connection, authentication, timeout or resource problem (PEP 249)."""


class IntegrityError(DatabaseError):
    """A constraint was violated: unique, foreign key, not null, check (PEP 249)."""


class InternalError(DatabaseError):
    """The database is in an unexpected internal state (PEP 249)."""


class ProgrammingError(DatabaseError):
    """The SQL is wrong: syntax, unknown table, wrong parameter count (PEP 249)."""


class NotSupportedError(DatabaseError):
    """The database does not support what was asked (PEP 249)."""


class PoolTimeout(OperationalError):
    """No connection became free within ``acquire_timeout``."""


class ValidationError(Error, ValueError):
    """A model instance failed validation before anything was sent to the database."""

    def __init__(self, message: str, *, model: str | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.model = model
        self.field = field


class NoResultFound(Error):
    """A query expected one row and found none."""


class MultipleResultsFound(Error):
    """A query expected at most one row and found more."""


class RelationshipNotLoaded(Error, AttributeError):
    """A relationship was read before it was loaded; the message names the fix."""


class StaleDataError(Error):
    """An optimistic-locking update found that another writer changed the row first."""
