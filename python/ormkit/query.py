"""The fluent query: ``session.query(User).filter(age__gte=18).order_by("-name")``.

Every builder returns a new query; nothing runs until a terminal is awaited. The SQL
comes from :mod:`ormkit.sql` (one compiler): a query only collects conditions, order
and options, and builds a ``select``/``update``/``delete`` statement for its terminal.
Unknown fields, lookups and hostile names raise ``ValueError`` when the statement is
built, before anything is sent.

On a model with ``SoftDeleteMixin``, soft-deleted rows are left out unless
``with_deleted()`` (all rows) or ``only_deleted()`` (only those) is used; ``delete()``
then soft-deletes unless ``force=True``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, AsyncIterator
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from ormkit.errors import MultipleResultsFound, NoResultFound
from ormkit.orm.mixins import utcnow
from ormkit.orm.validation import validate_values
from ormkit.sql import Column, ColumnExpr, Q, delete, func, not_, select, update
from ormkit.sql.expressions import ClauseElement

if TYPE_CHECKING:
    from ormkit.orm.session import AsyncSession
    from ormkit.sql import Select

__all__ = ["Query"]

T = TypeVar("T")

_DELETED_MODES = ("exclude", "include", "only")


def soft_delete_column(model: type[Any]) -> str | None:
    """The soft-delete column of ``model`` (``deleted_at``), or None."""
    name = getattr(model, "__soft_delete_column__", None)
    return name if isinstance(name, str) and name in model.__columns__ else None


def soft_delete_condition(model: type[Any], mode: str) -> ClauseElement | None:
    """The condition that hides (``exclude``) or selects (``only``) soft-deleted rows."""
    name = soft_delete_column(model)
    if name is None or mode == "include":
        return None
    col: Column[Any] = model.__columns__[name].expr
    return col.is_(None) if mode == "exclude" else col.is_not(None)


def model_column(model: type[Any], item: Any, what: str) -> Column[Any]:
    """The column ``item`` (a name or ``Model.attr``) of ``model``, else ValueError."""
    if isinstance(item, Column) and item.model is model:
        return item
    if isinstance(item, str) and item in model.__columns__:
        col: Column[Any] = model.__columns__[item].expr
        return col
    raise ValueError(
        f"{what}: unknown column {item!r} on {model.__name__} "
        f"(known: {', '.join(model.__columns__)})"
    )


class Query(Generic[T]):
    """A query on one model, bound to a session. Build it, then await a terminal."""

    __slots__ = (
        "_deleted",
        "_distinct",
        "_for_update",
        "_group_by",
        "_having",
        "_limit",
        "_model",
        "_offset",
        "_options",
        "_order",
        "_session",
        "_where",
    )

    def __init__(self, session: AsyncSession, model: type[T]) -> None:
        select(model)  # checks that it is a mapped model
        self._session = session
        self._model: type[T] = model
        self._where: tuple[ClauseElement, ...] = ()
        self._order: tuple[Any, ...] = ()
        self._group_by: tuple[Any, ...] = ()
        self._having: tuple[ClauseElement, ...] = ()
        self._limit: int | None = None
        self._offset: int | None = None
        self._distinct = False
        self._for_update = False
        self._options: tuple[Any, ...] = ()
        self._deleted = "exclude"

    def _copy(self, **changes: Any) -> Query[T]:
        new: Query[T] = Query.__new__(Query)
        for name in Query.__slots__:
            setattr(new, name, changes.get(name.lstrip("_"), getattr(self, name)))
        return new

    def __repr__(self) -> str:
        return f"<Query {self._model.__name__}>"

    # -- builders ---------------------------------------------------------------------

    def filter(self, *conditions: ClauseElement, **lookups: Any) -> Query[T]:
        """Add conditions (``User.age >= 18``, ``Q(...)``) and lookups (``age__gte=18``)."""
        for cond in conditions:
            if not isinstance(cond, ClauseElement):
                raise TypeError(f"filter() needs SQL conditions or Q objects, got {cond!r}")
        extra = (Q(**lookups),) if lookups else ()
        return self._copy(where=(*self._where, *conditions, *extra))

    def filter_by(self, **equals: Any) -> Query[T]:
        """Add keyword lookups (``name="Ann"``)."""
        return self.filter(**equals)

    def exclude(self, *conditions: ClauseElement, **lookups: Any) -> Query[T]:
        """Leave out rows matching all of the given conditions and lookups."""
        parts = (*conditions, *((Q(**lookups),) if lookups else ()))
        if not parts:
            return self
        return self._copy(where=(*self._where, not_(Q(*parts))))

    def order_by(self, *cols: Any, desc: bool = False) -> Query[T]:
        """Add ORDER BY items: names (``"-name"`` is descending), columns or
        ``User.name.desc()``. ``desc=True`` makes plain items descending."""
        items: list[Any] = []
        for col in cols:
            if desc and isinstance(col, str) and not col.startswith("-"):
                col = "-" + col
            elif desc and isinstance(col, ColumnExpr):
                col = col.desc()
            items.append(col)
        select(self._model).order_by(*items)  # checks every name now
        return self._copy(order=(*self._order, *items))

    def limit(self, n: int | None) -> Query[T]:
        """At most ``n`` rows (None: no limit)."""
        select(self._model).limit(n)
        return self._copy(limit=n)

    def offset(self, n: int | None) -> Query[T]:
        """Skip ``n`` rows."""
        select(self._model).offset(n)
        return self._copy(offset=n)

    def distinct(self, flag: bool = True) -> Query[T]:
        """SELECT DISTINCT."""
        return self._copy(distinct=flag)

    def group_by(self, *cols: Any) -> Query[T]:
        """GROUP BY columns (names or expressions)."""
        select(self._model).group_by(*cols)
        return self._copy(group_by=(*self._group_by, *cols))

    def having(self, *conditions: ClauseElement, **lookups: Any) -> Query[T]:
        """HAVING conditions and lookups."""
        extra = (Q(**lookups),) if lookups else ()
        return self._copy(having=(*self._having, *conditions, *extra))

    def options(self, *loader_options: Any) -> Query[T]:
        """Relationship loader options: ``selectinload("posts")``, ``joinedload(...)``."""
        from ormkit.orm.loading import check_options

        check_options(self._model, loader_options)
        return self._copy(options=(*self._options, *loader_options))

    def with_deleted(self) -> Query[T]:
        """Include soft-deleted rows."""
        return self._copy(deleted="include")

    def only_deleted(self) -> Query[T]:
        """Only soft-deleted rows."""
        return self._copy(deleted="only")

    def select_for_update(self) -> Query[T]:
        """Lock the selected rows (``FOR UPDATE`` on PostgreSQL; SQLite locks the
        database for the whole write transaction anyway)."""
        return self._copy(for_update=True)

    # -- statements -------------------------------------------------------------------

    def _conditions(self) -> tuple[ClauseElement, ...]:
        extra = soft_delete_condition(self._model, self._deleted)
        return self._where if extra is None else (*self._where, extra)

    def _select(self, *, ordered: bool = True, limited: bool = True) -> Select:
        stmt = select(self._model).where(*self._conditions())
        if self._group_by:
            stmt = stmt.group_by(*self._group_by)
        if self._having:
            stmt = stmt.having(*self._having)
        if self._distinct:
            stmt = stmt.distinct()
        if self._for_update:
            stmt = stmt.for_update()
        if ordered and self._order:
            stmt = stmt.order_by(*self._order)
        if limited:
            stmt = stmt.limit(self._limit).offset(self._offset)
        return stmt

    def to_sql(self) -> tuple[str, list[Any]]:
        """The ``(sql, params)`` of ``all()`` for the session's dialect, without running."""
        return self._select().to_sql(self._session.dialect)

    # -- terminals: rows --------------------------------------------------------------

    def _rows(self, limit: int | None) -> tuple[Select, dict[str, Any]]:
        """The SELECT for row terminals and its loading plan. With a LIMIT/OFFSET and a
        joined collection, the limit applies to the parents: ``pk IN (SELECT pk …)``."""
        from ormkit.orm.loading import build_plan, has_joined_collection

        plan = build_plan(self._model, self._options)
        limited = self._copy(limit=limit)
        if (limit is None and self._offset is None) or not has_joined_collection(plan):
            return limited._select(), plan
        model: Any = self._model
        pk = model.__primary_key__
        if not isinstance(pk, str):
            from ormkit.orm.loading import demote_joined

            demote_joined(plan)
            return limited._select(), plan
        column = model.__columns__[pk].expr
        inner = limited._select().with_only_columns(column)
        return self._select(limited=False).where(column.in_(inner)), plan

    async def all(self) -> list[T]:
        """Every matching row as a model instance."""
        stmt, plan = self._rows(self._limit)
        return await self._session._load(self._model, stmt, plan)

    async def first(self) -> T | None:
        """The first row, or None."""
        limit = 1 if self._limit is None else min(1, self._limit)
        stmt, plan = self._rows(limit)
        rows = await self._session._load(self._model, stmt, plan)
        return rows[0] if rows else None

    async def one(self) -> T:
        """The only row (``NoResultFound`` / ``MultipleResultsFound`` otherwise)."""
        found = await self.one_or_none()
        if found is None:
            raise NoResultFound(f"no {self._model.__name__} matched the query")
        return found

    async def one_or_none(self) -> T | None:
        """The only row, or None (``MultipleResultsFound`` for more than one)."""
        limit = 2 if self._limit is None else min(2, self._limit)
        stmt, plan = self._rows(limit)
        rows = await self._session._load(self._model, stmt, plan)
        if len(rows) > 1:
            raise MultipleResultsFound(f"more than one {self._model.__name__} matched the query")
        return rows[0] if rows else None

    async def stream(self, batch_size: int = 1000) -> AsyncGenerator[T, None]:
        """Rows one by one with bounded memory, fetched ``batch_size`` at a time from a
        server-side cursor (PostgreSQL) or a stepped statement (SQLite). Streamed
        objects are not tracked by the session unless it already held them."""
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        batches = self._session._stream(self._model, self._select(), batch_size)
        async with contextlib.aclosing(batches):
            async for batch in batches:
                for obj in batch:
                    yield obj

    def __aiter__(self) -> AsyncIterator[T]:
        return self.stream().__aiter__()

    # -- terminals: values ------------------------------------------------------------

    async def values(self, *cols: Any) -> list[dict[str, Any]]:
        """Rows as dicts of the given columns (default: all columns)."""
        stmt = self._values_select(cols, "values()")
        return await self._session._values(stmt, tuples=False)

    async def values_list(self, *cols: Any, flat: bool = False) -> list[Any]:
        """Rows as tuples of the given columns; ``flat=True`` with one column gives a
        list of values."""
        if flat and len(cols) != 1:
            raise ValueError("values_list(flat=True) needs exactly one column")
        stmt = self._values_select(cols, "values_list()")
        rows = await self._session._values(stmt, tuples=True)
        if flat:
            return [row[0] for row in rows]
        return rows

    def _values_select(self, cols: tuple[Any, ...], what: str) -> Select:
        model: Any = self._model
        columns = [model_column(model, c, what) for c in cols] or [
            info.expr for info in model.__columns__.values()
        ]
        return self._select().with_only_columns(*columns)

    # -- terminals: aggregates --------------------------------------------------------

    async def count(self) -> int:
        """The number of matching rows."""
        stmt = self._select(ordered=False).count()
        value = await self._session._scalar(stmt)
        return int(value or 0)

    async def exists(self) -> bool:
        """Whether any row matches."""
        stmt = self._select(ordered=False).exists()
        return bool(await self._session._scalar(stmt))

    async def _aggregate(self, name: str, col: Any) -> Any:
        column = model_column(self._model, col, f"{name}()")
        if self._limit is not None or self._offset is not None:
            raise ValueError(f"{name}() over a query with limit()/offset() is not supported")
        expr = getattr(func, name)(column).label("value")
        stmt = self._select(ordered=False, limited=False).with_only_columns(expr)
        info = column.info
        converter = info.converter(self._session.dialect) if name in ("min", "max") else None
        value = await self._session._scalar(stmt, converter)
        if value is None or name in ("min", "max"):
            return value
        kind = info.type.kind
        if kind == "decimal":
            return value if isinstance(value, Decimal) else Decimal(str(value))
        if name == "sum" and kind in ("int", "int4"):
            return int(value)
        return float(value)

    async def sum(self, col: Any) -> Any:
        """SUM of a column (None when no row matches)."""
        return await self._aggregate("sum", col)

    async def avg(self, col: Any) -> Any:
        """AVG of a column (a float; a Decimal for Decimal columns)."""
        return await self._aggregate("avg", col)

    async def min(self, col: Any) -> Any:
        """MIN of a column."""
        return await self._aggregate("min", col)

    async def max(self, col: Any) -> Any:
        """MAX of a column."""
        return await self._aggregate("max", col)

    # -- terminals: writes ------------------------------------------------------------

    async def delete(self, *, force: bool = False) -> int:
        """Delete the matching rows; returns how many. On a soft-delete model this sets
        ``deleted_at`` unless ``force=True``."""
        if self._limit is not None or self._offset is not None:
            raise ValueError("delete() with limit()/offset() is not supported")
        name = soft_delete_column(self._model)
        if name is not None and not force:
            return await self.update(**{name: utcnow()})
        where = self._conditions() if not force else self._where
        stmt = delete(self._model).where(*where)
        return await self._session._write_count(stmt)

    async def update(self, **values: Any) -> int:
        """UPDATE the matching rows with ``values``; returns how many. Bumps the
        version column and sets ``onupdate`` columns (``updated_at``)."""
        if not values:
            raise ValueError("update() needs values")
        if self._limit is not None or self._offset is not None:
            raise ValueError("update() with limit()/offset() is not supported")
        model: Any = self._model
        validate_values(model, values)
        values = dict(values)
        for key, info in model.__columns__.items():
            if info.onupdate is not None and key not in values:
                values[key] = info.make_onupdate()
        version = model.__version_column__
        if version is not None and version not in values:
            values[version] = model.__columns__[version].expr + 1
        stmt = update(model).values(values).where(*self._conditions())
        return await self._session._write_count(stmt)
