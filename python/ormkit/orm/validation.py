"""Validation before writes: missing values, lengths and Python types.

``validate(obj)`` raises :class:`ormkit.errors.ValidationError` naming the model and
the field; nothing is sent to the database. ``validate_values`` checks an update's
values, ``validate_statement`` the values of an ``insert(Model).values(...)`` or
``update(Model).values(...)`` statement (the session runs it before executing one).
Rules per column:

- ``None`` is accepted when the column is nullable, or, for an insert, when the
  database or the constructor fills it (autoincrement primary key, ``server_default``,
  ``default``); otherwise the value is missing.
- a str (or bytes) longer than ``max_length`` is rejected.
- the value must have the column's Python type (see :func:`ormkit.types.check_value`:
  ``bool`` is not an ``int``; an ``int`` is a valid ``float`` or ``Decimal``; aware and
  naive datetimes go to ``timezone=True`` and plain columns respectively).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from ormkit.dialects.base import current_time_fits
from ormkit.sql.expressions import ClauseElement, current_time_function
from ormkit.sql.statements import Insert, Statement, Update
from ormkit.types import check_value

__all__ = ["check_column", "validate", "validate_row", "validate_statement", "validate_values"]


def _error(model: type[Any], key: str, reason: str) -> Exception:
    from ormkit.errors import ValidationError

    return ValidationError(f"{model.__name__}.{key}: {reason}", model=model.__name__, field=key)


def check_column(model: type[Any], key: str, value: Any, *, insert: bool) -> None:
    """Validate one value for column ``key`` of ``model``."""
    info = model.__columns__[key]
    if type(value) in info.type.plain_types:
        return
    if value is None:
        if info.nullable:
            return
        if insert and (info.generated or info.default is not None):
            return
        raise _error(model, key, "a value is required (the column is not nullable)")
    if isinstance(value, ClauseElement):  # an SQL expression such as User.count + 1
        function = current_time_function(value)
        if function is not None and not current_time_fits(function, info.type.kind):
            raise _error(
                model, key, f"func.{function}() cannot be stored in a {info.type.kind} column"
            )
        return
    reason = check_value(info.type, value)
    if reason is not None:
        raise _error(model, key, reason)
    limit = info.type.max_length
    if limit is not None and isinstance(value, str | bytes) and len(value) > limit:
        raise _error(model, key, f"length {len(value)} is over max_length {limit}")


def validate(obj: Any, *, fields: Iterable[str] | None = None, insert: bool = True) -> None:
    """Check every column of ``obj`` (or only ``fields``) before a write."""
    model = type(obj)
    columns = model.__columns__
    d = obj.__dict__
    if fields is None:
        for key, info in columns.items():
            value = d.get(key)
            ctype = info.type
            if type(value) in ctype.plain_types:
                continue
            if value is None:
                if info.nullable or (insert and info.generated):
                    continue
            elif ctype.naive_datetime and type(value) is datetime and value.tzinfo is None:
                continue
            check_column(model, key, value, insert=insert)
        return
    for key in fields:
        if key not in columns:
            raise ValueError(f"unknown field {key!r} on {model.__name__}")
        check_column(model, key, d.get(key), insert=insert)


def validate_values(model: type[Any], values: Mapping[str, Any]) -> None:
    """Check the values of an UPDATE (``update(**values)``, ``bulk_update``)."""
    columns = model.__columns__
    for key, value in values.items():
        if key not in columns:
            raise ValueError(f"unknown field {key!r} on {model.__name__}")
        check_column(model, key, value, insert=False)


def validate_row(model: type[Any], row: Mapping[str, Any]) -> None:
    """Check one row of an INSERT given as values (``insert(Model).values(...)``). A
    column left out must be one the database or a default fills, as for
    :func:`validate`; a None given is sent as NULL, so its column must be nullable."""
    columns = model.__columns__
    for key, value in row.items():
        if key not in columns:
            raise ValueError(f"unknown field {key!r} on {model.__name__}")
        check_column(model, key, value, insert=False)
    for key in columns:
        if key not in row:
            check_column(model, key, None, insert=True)


def validate_statement(stmt: Statement) -> None:
    """Check the values of an ``insert(Model).values(...)`` (every row, as
    :func:`validate_row`) or ``update(Model).values(...)`` (the columns given, as
    :func:`validate_values`) statement before it is run; other statements pass.
    SQL expressions (``User.n + 1``, functions, bound parameters) are not checked."""
    if isinstance(stmt, Insert):
        model = stmt._model
        assert model is not None
        for row in stmt._rows or ({},):  # no values(): one row of DEFAULT VALUES
            validate_row(model, row)
    elif isinstance(stmt, Update):
        assert stmt._model is not None
        validate_values(stmt._model, stmt._values)
