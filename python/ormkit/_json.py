"""JSON encoding used for dict/list parameters: handles the types ormkit stores.

A value JSON cannot hold raises an ``ormkit`` error, as other parameters the engine
cannot send do: ``ProgrammingError`` for a type it does not store (a set, an arbitrary
object, a key that is not a str, int, float, bool or None), ``DataError`` for a value it
cannot represent (NaN or an infinity, bytes, a value that contains itself, nesting too
deep). The engine adds the parameter's position (``parameter $1: ...``).
"""

from __future__ import annotations

import datetime as _dt
import decimal
import enum
import json
import uuid
from typing import Any

from ormkit.errors import DataError, ProgrammingError

__all__ = ["STORED_AS_TEXT", "dumps", "unstorable_hint"]

#: values ``dumps`` stores as strings (a timedelta as its seconds, an Enum as its value)
STORED_AS_TEXT = (
    _dt.datetime | _dt.date | _dt.time | _dt.timedelta | decimal.Decimal | uuid.UUID | enum.Enum
)


def unstorable_hint(value: Any) -> str:
    """What to do instead, for a value of a type JSON has no place for."""
    return " (use a list)" if isinstance(value, set | frozenset) else ""


def _default(value: Any) -> Any:
    if isinstance(value, _dt.datetime | _dt.date | _dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, _dt.timedelta):
        return value.total_seconds()
    if isinstance(value, bytes | bytearray | memoryview):
        raise DataError("bytes cannot be stored in a JSON value")
    raise ProgrammingError(
        f"type {type(value).__name__} cannot be stored in a JSON value{unstorable_hint(value)}"
    )


def dumps(value: Any) -> str:
    """Serialise ``value`` as compact JSON, refusing NaN and infinities."""
    try:
        return json.dumps(value, default=_default, separators=(",", ":"), allow_nan=False)
    except TypeError as exc:  # a dict key of a type JSON has no place for
        raise ProgrammingError(f"a JSON value cannot be stored: {exc}") from None
    except RecursionError:
        raise DataError("a JSON value is nested too deeply to be stored") from None
    except ValueError as exc:
        text = str(exc)
        if "Circular reference" in text:
            raise DataError("a JSON value cannot contain itself (circular reference)") from None
        if "Out of range float" in text:
            raise DataError("NaN and infinities cannot be stored in a JSON value") from None
        raise DataError(f"a JSON value cannot be stored: {text}") from None
