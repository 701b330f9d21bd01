"""JSON encoding used for dict/list parameters: handles the types ormkit stores."""

from __future__ import annotations

import datetime as _dt
import decimal
import enum
import json
import uuid
from typing import Any

__all__ = ["dumps"]


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
    if isinstance(value, bytes | bytearray):
        raise TypeError("bytes cannot be stored in a JSON value")
    raise TypeError(f"type {type(value).__name__} cannot be stored in a JSON value")


def dumps(value: Any) -> str:
    """Serialise ``value`` as compact JSON, refusing NaN and infinities."""
    return json.dumps(value, default=_default, separators=(",", ":"), allow_nan=False)
