"""SQLAlchemy-style results of ``await session.execute(statement)``.

``select(User)`` gives rows of one model instance each (``result.scalars().all()``);
``select(User.id, User.name)`` gives rows of values; ``insert``/``update``/``delete``
give ``rowcount`` (and rows with ``returning(...)``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ormkit.errors import MultipleResultsFound, NoResultFound

__all__ = ["Result", "ScalarResult"]


def _one(items: list[Any], what: str) -> Any:
    if not items:
        raise NoResultFound(f"expected one {what}, found none")
    if len(items) > 1:
        raise MultipleResultsFound(f"expected one {what}, found {len(items)}")
    return items[0]


def _one_or_none(items: list[Any], what: str) -> Any:
    if len(items) > 1:
        raise MultipleResultsFound(f"expected at most one {what}, found {len(items)}")
    return items[0] if items else None


class ScalarResult:
    """The first column of every row: model instances for ``select(Model)``."""

    __slots__ = ("_items",)

    def __init__(self, items: list[Any]) -> None:
        self._items = items

    def all(self) -> list[Any]:
        """Every value."""
        return list(self._items)

    def first(self) -> Any:
        """The first value, or None."""
        return self._items[0] if self._items else None

    def one(self) -> Any:
        """The only value (``NoResultFound`` / ``MultipleResultsFound`` otherwise)."""
        return _one(self._items, "row")

    def one_or_none(self) -> Any:
        """The only value or None (``MultipleResultsFound`` for more than one)."""
        return _one_or_none(self._items, "row")

    def unique(self) -> ScalarResult:
        """The values without repeats (by identity for objects), first occurrence kept."""
        seen: set[int] = set()
        out = []
        for item in self._items:
            if id(item) not in seen:
                seen.add(id(item))
                out.append(item)
        return ScalarResult(out)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)


class Result:
    """Rows (tuples) of a statement, with ``rowcount`` for writes."""

    __slots__ = ("_columns", "_rows", "rowcount")

    def __init__(self, rows: list[tuple[Any, ...]], columns: list[str], rowcount: int) -> None:
        self._rows = rows
        self._columns = columns
        #: rows matched by an UPDATE/DELETE, inserted by an INSERT, or returned by a SELECT
        self.rowcount = rowcount

    def keys(self) -> list[str]:
        """The column names."""
        return list(self._columns)

    def all(self) -> list[tuple[Any, ...]]:
        """Every row as a tuple."""
        return list(self._rows)

    def first(self) -> tuple[Any, ...] | None:
        """The first row, or None."""
        return self._rows[0] if self._rows else None

    def one(self) -> tuple[Any, ...]:
        """The only row (``NoResultFound`` / ``MultipleResultsFound`` otherwise)."""
        return _one(self._rows, "row")  # type: ignore[no-any-return]

    def one_or_none(self) -> tuple[Any, ...] | None:
        """The only row or None (``MultipleResultsFound`` for more than one)."""
        return _one_or_none(self._rows, "row")  # type: ignore[no-any-return]

    def scalar(self) -> Any:
        """The first column of the first row, or None."""
        return self._rows[0][0] if self._rows else None

    def scalar_one(self) -> Any:
        """The first column of the only row."""
        return self.one()[0]

    def scalar_one_or_none(self) -> Any:
        """The first column of the only row, or None."""
        row = self.one_or_none()
        return None if row is None else row[0]

    def scalars(self, index: int = 0) -> ScalarResult:
        """Column ``index`` (default the first) of every row."""
        return ScalarResult([row[index] for row in self._rows])

    def mappings(self) -> list[dict[str, Any]]:
        """Every row as a dict keyed by column name."""
        cols = self._columns
        return [dict(zip(cols, row, strict=False)) for row in self._rows]

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        return iter(self._rows)

    def __len__(self) -> int:
        return len(self._rows)

    def __repr__(self) -> str:
        return f"<Result rows={len(self._rows)} rowcount={self.rowcount}>"
