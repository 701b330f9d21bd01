"""Column mixins: soft delete and timestamps.

Both add timezone-aware (UTC) datetime columns. The session maintains them:
``soft_delete(obj)`` sets ``deleted_at``, queries on a ``SoftDeleteMixin`` model hide
soft-deleted rows unless ``with_deleted()``; ``created_at`` is set on insert and
``updated_at`` on insert and every update (``onupdate``).
"""

from __future__ import annotations

from collections.abc import Container
from datetime import UTC, datetime
from typing import Any, ClassVar

from ormkit.orm.fields import Mapped, mapped_column

__all__ = ["SoftDeleteMixin", "TimestampMixin", "onupdate_values", "utcnow"]


def utcnow() -> datetime:
    """The current time as an aware UTC datetime."""
    return datetime.now(UTC)


def onupdate_values(model: Any, given: Container[str]) -> dict[str, Any]:
    """The values of ``model``'s ``onupdate`` columns (``TimestampMixin.updated_at``) that
    an UPDATE setting ``given`` leaves out: what every update path adds."""
    return {key: info.make_onupdate() for key, info in model._ormkit_onupdate if key not in given}


class SoftDeleteMixin:
    """Adds ``deleted_at`` (NULL while the row is live)."""

    __soft_delete_column__: ClassVar[str] = "deleted_at"

    deleted_at: Mapped[datetime | None] = mapped_column(timezone=True, index=True)


class TimestampMixin:
    """Adds ``created_at`` and ``updated_at``, both aware UTC datetimes."""

    created_at: Mapped[datetime] = mapped_column(timezone=True, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(timezone=True, default=utcnow, onupdate=utcnow)
