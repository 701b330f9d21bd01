"""SQLAlchemy-style results of ``await session.execute(statement)``.

``select(User)`` gives rows of one model instance each (``result.scalars().all()``);
``select(User.id, User.name)`` gives rows of values; ``insert``/``update``/``delete``
give ``rowcount`` (and rows with ``returning(...)``). Rows are :class:`~ormkit.orm.rows.Row`
tuples, reachable by name too (``row.name``, ``row._mapping["name"]``).

Every row is already in memory (fetched when the statement ran), so a result is a list
with a cursor:

- ``fetchone()``, ``fetchmany(size)``, ``fetchall()`` and ``partitions(size)`` hand out
  rows and move the cursor past them, as a DB-API cursor does;
- ``all()``, ``first()``, ``one()``, ``one_or_none()``, ``scalar()``, iteration,
  ``len()`` and the derived results (``scalars()``, ``mappings()``, ``columns()``,
  ``unique()``) read the rows not fetched yet and leave the cursor where it is, so they
  can be called again (SQLAlchemy closes the result after them instead; code written
  for SQLAlchemy behaves the same). A derived result starts with the rows its parent
  had not fetched and then has a cursor of its own.

Rows become ``Row`` objects only when handed out: ``scalars()`` never makes them, and
``first()`` makes one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import islice
from operator import itemgetter
from typing import Any, Generic, TypeVar, overload

from ormkit.errors import MultipleResultsFound, NoResultFound
from ormkit.orm.loading import gc_paused
from ormkit.orm.rows import Row, RowMapping, row_class

__all__ = ["MappingResult", "Result", "Row", "RowMapping", "ScalarResult"]

T = TypeVar("T")

#: compact the buffer once this many rows before the cursor are dead and they are more
#: than the live ones (keeps a fetchone() loop O(n) overall and frees fetched rows)
_COMPACT_AFTER = 1024


class _Buffered(Generic[T]):
    """Items with a cursor; ``_wrap`` turns a stored item into the one handed out (None:
    the stored items are handed out as they are)."""

    __slots__ = ("_items", "_pos", "_wrap")

    def __init__(self, items: list[Any], wrap: Callable[[Any], T] | None = None) -> None:
        self._items = items
        self._pos = 0
        self._wrap = wrap

    # -- reading without moving the cursor ----------------------------------------------

    def _rest(self) -> list[Any]:
        """The stored items not fetched yet (a new list)."""
        return self._items[self._pos :] if self._pos else list(self._items)

    def _out(self, item: Any) -> T:
        wrap = self._wrap
        return item if wrap is None else wrap(item)

    def _out_all(self) -> list[T]:
        """Every item not fetched yet, handed-out form. Once converted, the converted
        items are kept, so converting happens once."""
        wrap = self._wrap
        if wrap is None:
            return self._rest()
        items, pos = self._items, self._pos
        with gc_paused(len(items) - pos):
            out = list(map(wrap, islice(items, pos, None) if pos else items))
        self._items, self._pos, self._wrap = out, 0, None
        return list(out)

    def all(self) -> list[T]:
        """Every row not fetched yet (the cursor stays)."""
        return self._out_all()

    def first(self) -> T | None:
        """The first row not fetched yet, or None."""
        items, pos = self._items, self._pos
        return self._out(items[pos]) if pos < len(items) else None

    def one(self) -> T:
        """The only row (``NoResultFound`` / ``MultipleResultsFound`` otherwise)."""
        n = len(self)
        if n == 0:
            raise NoResultFound("expected one row, found none")
        if n > 1:
            raise MultipleResultsFound(f"expected one row, found {n}")
        return self._out(self._items[self._pos])

    def one_or_none(self) -> T | None:
        """The only row or None (``MultipleResultsFound`` for more than one)."""
        n = len(self)
        if n > 1:
            raise MultipleResultsFound(f"expected at most one row, found {n}")
        return self._out(self._items[self._pos]) if n else None

    def __iter__(self) -> Iterator[T]:
        rest = islice(self._items, self._pos, None) if self._pos else iter(self._items)
        wrap = self._wrap
        return rest if wrap is None else map(wrap, rest)

    def __len__(self) -> int:
        """How many rows are not fetched yet."""
        return len(self._items) - self._pos

    # -- fetching: moves the cursor -----------------------------------------------------

    def _take(self, n: int) -> list[T]:
        items, pos = self._items, self._pos
        end = min(pos + n, len(items))
        chunk = items[pos:end]
        if end >= _COMPACT_AFTER and end * 2 > len(items):
            self._items, self._pos = items[end:], 0
        else:
            self._pos = end
        wrap = self._wrap
        if wrap is None:
            return chunk
        with gc_paused(len(chunk)):
            return list(map(wrap, chunk))

    def fetchone(self) -> T | None:
        """The next row, moving the cursor past it; None once every row is fetched."""
        items, pos = self._items, self._pos
        if pos >= len(items):
            return None
        item = items[pos]
        pos += 1
        if pos >= _COMPACT_AFTER and pos * 2 > len(items):
            self._items, pos = items[pos:], 0
        self._pos = pos
        wrap = self._wrap
        return item if wrap is None else wrap(item)

    def fetchmany(self, size: int | None = None) -> list[T]:
        """The next ``size`` rows (fewer at the end, ``[]`` after it; every remaining
        row when ``size`` is None), moving the cursor past them. ``ValueError`` for a
        size below 1."""
        if size is None:
            return self.fetchall()
        return self._take(_check_size(size, "fetchmany"))

    def fetchall(self) -> list[T]:
        """Every remaining row, moving the cursor to the end."""
        items, pos, wrap = self._items, self._pos, self._wrap
        self._items, self._pos = [], 0
        rest = items[pos:] if pos else items
        if wrap is None:
            return rest if rest is not items else list(items)
        with gc_paused(len(rest)):
            return list(map(wrap, rest))

    def partitions(self, size: int | None = None) -> Iterator[list[T]]:
        """Lists of up to ``size`` rows (every remaining row in one list when ``size`` is
        None) until the rows run out, each fetched as it is asked for. ``ValueError``
        for a size below 1, raised at the call."""
        n = len(self._items) if size is None else _check_size(size, "partitions")
        return self._partitions(max(n, 1))

    def _partitions(self, size: int) -> Iterator[list[T]]:
        while chunk := self._take(size):
            yield chunk


def _check_size(size: int, what: str) -> int:
    if isinstance(size, bool) or not isinstance(size, int):
        raise TypeError(f"{what}() size must be an int, got {size!r}")
    if size < 1:
        raise ValueError(f"{what}() size must be at least 1, got {size}")
    return size


#: marks a unique() key made from an unhashable value's identity
_BY_IDENTITY = object()


def _unique_key(value: Any) -> Any:
    """``value`` when hashable, else its identity (equal unhashable values, a JSON dict
    say, are then kept apart rather than failing)."""
    try:
        hash(value)
    except TypeError:
        return (_BY_IDENTITY, id(value))
    return value


def _unique_rows(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    seen: set[Any] = set()
    out = []
    for row in rows:
        try:
            key: Any = tuple(row)
            hash(key)
        except TypeError:
            key = tuple(map(_unique_key, row))
        if key not in seen:
            seen.add(key)
            out.append(row)
    return out


class ScalarResult(_Buffered[Any]):
    """The first column of every row: model instances for ``select(Model)``."""

    __slots__ = ()

    def __init__(self, items: list[Any]) -> None:
        super().__init__(items)

    def unique(self) -> ScalarResult:
        """The values without repeats, first occurrence kept: equal values are one
        (model instances are equal by primary key); unhashable values (JSON dicts,
        lists) are compared by identity."""
        seen: set[Any] = set()
        out = []
        for item in islice(self._items, self._pos, None):
            key = _unique_key(item)
            if key not in seen:
                seen.add(key)
                out.append(item)
        return ScalarResult(out)


def _index_of(names: list[str], key: int | str, what: str) -> int:
    """The position of column ``key`` (a name or a position) among ``names``."""
    if isinstance(key, str):
        where = [i for i, n in enumerate(names) if n == key]
        if len(where) == 1:
            return where[0]
        if where:
            raise KeyError(f"{what}: {key!r} is ambiguous, it names the columns {where}")
        raise KeyError(f"{what}: no column {key!r}; the columns: {names}")
    if isinstance(key, bool) or not isinstance(key, int):
        raise TypeError(f"{what}: a column is a name or a position, got {key!r}")
    if not -len(names) <= key < len(names):
        raise IndexError(f"{what}: no column at position {key}, there are {len(names)}")
    return key % len(names)


def _project(
    rows: list[tuple[Any, ...]], names: list[str], keys: tuple[int | str, ...], what: str
) -> tuple[list[tuple[Any, ...]], list[str]]:
    """``rows`` cut down to the columns ``keys``, and those columns' names."""
    positions = [_index_of(names, k, what) for k in keys]
    if len(positions) == 1:
        (i,) = positions
        return [(row[i],) for row in rows], [names[i]]
    return list(map(itemgetter(*positions), rows)), [names[i] for i in positions]


class MappingResult(_Buffered[RowMapping]):
    """``result.mappings()``: every row as a read-only mapping of column names to values
    (a :class:`~ormkit.orm.rows.RowMapping`, equal to the dict of the same items). Also
    indexable and sized like the list of dicts ``mappings()`` used to return."""

    __slots__ = ("_columns",)

    def __init__(self, rows: list[tuple[Any, ...]], columns: list[str]) -> None:
        cls = row_class(columns)
        super().__init__(rows, lambda row: RowMapping(cls(row)))
        self._columns = columns

    def keys(self) -> list[str]:
        """The column names."""
        return list(self._columns)

    def unique(self) -> MappingResult:
        """The rows without repeats (as :meth:`Result.unique`)."""
        return MappingResult(_unique_rows(self._rest()), self._columns)

    def columns(self, *keys: int | str) -> MappingResult:
        """Only the columns ``keys`` (names or positions), in that order."""
        rows, names = _project(self._rest(), self._columns, keys, "columns()")
        return MappingResult(rows, names)

    @overload
    def __getitem__(self, index: int) -> RowMapping: ...
    @overload
    def __getitem__(self, index: slice) -> list[RowMapping]: ...
    def __getitem__(self, index: int | slice) -> RowMapping | list[RowMapping]:
        """Row ``index`` (or the rows of a slice) of the rows not fetched yet."""
        if isinstance(index, slice):
            return list(map(self._out, self._rest()[index]))
        rest = len(self)
        if not -rest <= index < rest:
            raise IndexError(f"mapping result index {index} out of range ({rest} rows)")
        return self._out(self._items[self._pos + index % rest])

    def __repr__(self) -> str:
        return f"<MappingResult keys={self._columns} rows={len(self)}>"


class Result(_Buffered[Row]):
    """Rows of a statement (:class:`~ormkit.orm.rows.Row` tuples), with ``rowcount`` for
    writes. See the module docstring for which calls move the cursor."""

    __slots__ = ("_columns", "rowcount")

    def __init__(self, rows: list[tuple[Any, ...]], columns: list[str], rowcount: int) -> None:
        super().__init__(rows, row_class(columns))
        self._columns = columns
        #: rows matched by an UPDATE/DELETE, inserted by an INSERT, or returned by a SELECT
        self.rowcount = rowcount

    def _derived(self, rows: list[tuple[Any, ...]], columns: list[str]) -> Result:
        return Result(rows, columns, self.rowcount)

    def keys(self) -> list[str]:
        """The column names (a model item is named by its class)."""
        return list(self._columns)

    def scalar(self) -> Any:
        """The first column of the first row not fetched yet, or None."""
        items, pos = self._items, self._pos
        return items[pos][0] if pos < len(items) else None

    def scalar_one(self) -> Any:
        """The first column of the only row."""
        return self.one()[0]

    def scalar_one_or_none(self) -> Any:
        """The first column of the only row, or None."""
        row = self.one_or_none()
        return None if row is None else row[0]

    def scalars(self, index: int | str = 0) -> ScalarResult:
        """Column ``index`` (a position, default the first, or a name) of every row not
        fetched yet. No ``Row`` is made."""
        column = 0 if index == 0 else _index_of(self._columns, index, "scalars()")
        items = islice(self._items, self._pos, None) if self._pos else self._items
        return ScalarResult(list(map(itemgetter(column), items)))

    def mappings(self) -> MappingResult:
        """Every row not fetched yet as a read-only mapping of column names to values."""
        return MappingResult(self._rest(), self._columns)

    def unique(self) -> Result:
        """The rows not fetched yet without repeats, first occurrence kept: rows are
        equal when their values are (model instances are equal by primary key);
        unhashable values (JSON dicts, lists) are compared by identity."""
        return self._derived(_unique_rows(self._rest()), self._columns)

    def columns(self, *keys: int | str) -> Result:
        """Rows of only the columns ``keys`` (names or positions), in that order:
        ``result.columns("name", 0)``. ``KeyError`` for an unknown or ambiguous name,
        ``IndexError`` for a position out of range."""
        if not keys:
            return self._derived(self._rest(), self._columns)
        rows, names = _project(self._rest(), self._columns, keys, "columns()")
        return self._derived(rows, names)

    def tuples(self) -> Result:
        """The result itself (SQLAlchemy's typing hint: its rows already are tuples)."""
        return self

    def __repr__(self) -> str:
        return f"<Result keys={self._columns} rows={len(self)} rowcount={self.rowcount}>"
