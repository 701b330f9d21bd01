"""The fluent query: ``session.query(User).filter(age__gte=18).order_by("-name")``.

Every builder returns a new query; nothing runs until a terminal is awaited. The SQL
comes from :mod:`ormkit.sql` (one compiler): a query only collects conditions, order
and options, and builds a ``select``/``update``/``delete`` statement for its terminal.
Unknown fields, lookups and hostile names raise ``ValueError`` at once: in ``filter()``,
``order_by()`` and friends, before anything is sent; so does a lookup value of the wrong
shape for its operator (``age__in=5``). What depends on a value and the model together
(comparing a relationship with an object) is checked when the statement is built.

On a model with ``SoftDeleteMixin``, soft-deleted rows are left out unless
``with_deleted()`` (all rows) or ``only_deleted()`` (only those) is used, by every
terminal, ``delete(force=True)`` included; ``delete()`` soft-deletes unless ``force=True``.

A slice (``query[10:20]``) is ``offset(10).limit(10)``: a new query, nothing runs.
``pk`` names the primary key in lookups, ``order_by()`` and ``values()``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Hashable, Mapping
from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from ormkit.errors import DataError, IntegrityError, MultipleResultsFound, NoResultFound
from ormkit.orm import precompiled
from ormkit.orm.mixins import onupdate_values, utcnow
from ormkit.orm.state import model_pk
from ormkit.orm.validation import validate_values
from ormkit.sql import Column, ColumnExpr, Q, delete, func, not_, select, update
from ormkit.sql.expressions import ClauseElement, OrderBy, conditions_of
from ormkit.sql.lookups import (
    RelatedColumn,
    check_lookup,
    check_q_lookups,
    lookups_q,
    pk_field,
    pk_name,
    related_column,
)
from ormkit.sql.statements import _check_count, _require_model

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
    """The column ``item`` (a name, ``"pk"`` or ``Model.attr``) of ``model``, else
    ValueError."""
    if isinstance(item, Column) and item.model is model:
        return item
    if isinstance(item, str) and item in model.__columns__:
        col: Column[Any] = model.__columns__[item].expr
        return col
    if type(item) is str and item == "pk":
        name = pk_field(model, f"{what}: 'pk'")
        if name in model.__columns__:
            pk: Column[Any] = model.__columns__[name].expr
            return pk
    raise ValueError(
        f"{what}: unknown column {item!r} on {model.__name__} "
        f"(known: {', '.join(model.__columns__)})"
    )


def _pk_renamed(model: Any, lookups: dict[str, Any]) -> dict[str, Any]:
    """``lookups`` with ``pk`` (and ``pk__op``) renamed to the primary key column, so
    that ``filter(pk=5)`` takes the precompiled path ``filter(id=5)`` takes. Left as
    they are (``resolve_lookup`` reads ``pk`` too) when ``pk`` is a relationship or the
    new name is given as well."""
    if "pk" in getattr(model, "__relationships__", {}):
        return lookups
    name = model.__primary_key__  # a single column: check_lookup raised for a composite
    out: dict[str, Any] = {}
    for key, value in lookups.items():
        if key == "pk" or key.startswith("pk__"):
            key = name + key[2:]
            if key in lookups:
                return lookups
        out[key] = value
    return out


_NULLS_SWAPPED = {"first": "last", "last": "first", None: None}


def _reversed(item: Any) -> Any:
    """The ``order_by()`` item ``item`` (checked by ``order_by()``) in reverse order."""
    if isinstance(item, str):
        return item[1:] if item.startswith("-") else "-" + item
    if isinstance(item, OrderBy):
        return OrderBy(item.expr, descending=not item.descending, nulls=_NULLS_SWAPPED[item.nulls])
    return OrderBy(item, descending=True)


def _resolved(values: Mapping[str, Any]) -> dict[str, Any]:
    """``defaults`` of ``get_or_create()``/``update_or_create()`` with callables called
    (as Django does), when they are about to be written."""
    return {k: v() if callable(v) else v for k, v in values.items()}


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
        try:
            _require_model(model, "select()")
        except TypeError:
            select(model)  # raises what select() says about it
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
        """A copy with ``changes`` (``limit=5`` sets ``_limit``). The common builders
        (``filter``, ``order_by``, ``limit``, ``offset``) call it without any and set
        their one attribute on the copy: no keyword dict, no setattr by name."""
        new: Query[T] = Query.__new__(Query)
        new._session = self._session
        new._model = self._model
        new._where = self._where
        new._order = self._order
        new._group_by = self._group_by
        new._having = self._having
        new._limit = self._limit
        new._offset = self._offset
        new._distinct = self._distinct
        new._for_update = self._for_update
        new._options = self._options
        new._deleted = self._deleted
        for name, value in changes.items():
            setattr(new, "_" + name, value)
        return new

    def __repr__(self) -> str:
        return f"<Query {self._model.__name__}>"

    # -- builders ---------------------------------------------------------------------

    def filter(self, *conditions: ClauseElement | Select, **lookups: Any) -> Query[T]:
        """Add conditions (``User.age >= 18``, ``Q(...)``, ``select(...).exists()``) and
        lookups (``age__gte=18``)."""
        checked: tuple[ClauseElement, ...]
        for cond in conditions:
            if not isinstance(cond, ClauseElement):
                message = "filter() needs SQL conditions or Q objects, got {!r}"
                checked = conditions_of(conditions, message)
                break
        else:
            checked = conditions  # type: ignore[assignment]  # all clauses (the usual case)
        check_q_lookups(self._model, *checked)
        extra = (self._lookups(lookups),) if lookups else ()
        kept = tuple(c for c in checked if not c._is_empty())  # Q(): no condition
        new = self._copy()
        new._where = (*self._where, *kept, *extra)
        return new

    def _lookups(self, lookups: dict[str, Any]) -> Q:
        """``Q(**lookups)``, after checking that every field and operator they name is
        known and that values have the shape their operator needs (``__in`` a list,
        ``__between`` a pair, ``__isnull`` a bool): a misspelt lookup or a value of the
        wrong shape fails here, not when a terminal runs."""
        columns = self._model.__columns__  # type: ignore[attr-defined]
        renamed = False
        for key in lookups:
            if key not in columns:
                check_lookup(self._model, key, lookups[key])
                renamed = renamed or key == "pk" or key.startswith("pk__")
        if renamed:
            lookups = _pk_renamed(self._model, lookups)
        return lookups_q(lookups, self._model)

    def filter_by(self, **equals: Any) -> Query[T]:
        """Add keyword lookups (``name="Ann"``)."""
        return self.filter(**equals)

    def exclude(self, *conditions: ClauseElement | Select, **lookups: Any) -> Query[T]:
        """Leave out rows matching all of the given conditions and lookups."""
        check_q_lookups(self._model, *conditions)
        parts = (*conditions, *((self._lookups(lookups),) if lookups else ()))
        group = Q(*parts)
        if group._is_empty():  # nothing, or only empty Q()s: excludes nothing
            return self
        return self._copy(where=(*self._where, not_(group)))

    def order_by(self, *cols: Any, desc: bool = False) -> Query[T]:
        """Add ORDER BY items: names (``"-name"`` is descending), columns or
        ``User.name.desc()``. ``desc=True`` makes plain items descending."""
        items: list[Any] = []
        columns = getattr(self._model, "__columns__", None)
        plain = True  # every item a column name: nothing more to check
        for col in cols:
            if desc and isinstance(col, str) and not col.startswith("-"):
                col = "-" + col
            elif desc and isinstance(col, ColumnExpr):
                col = col.desc()
            if not (
                type(col) is str and columns and col.isascii() and col.removeprefix("-") in columns
            ):
                if type(col) is str and columns:
                    col = self._order_name(col)
                plain = False
            items.append(col)
        if not plain:
            select(self._model).order_by(*items)  # checks every item now
        new = self._copy()
        new._order = (*self._order, *items)
        return new

    def _order_name(self, item: str) -> Any:
        """``order_by()`` item ``item``, a name that is not a column: ``"pk"``/``"-pk"``
        becomes the primary key column's name, ``"author__name"`` (a column through
        many-to-one relationships) an ``OrderBy`` that joins them; anything else is left
        for ``select().order_by`` to reject."""
        model: Any = self._model
        name = item.removeprefix("-")
        sign = item[: len(item) - len(name)]
        relationships = getattr(model, "__relationships__", {})
        if name == "pk":
            name = pk_field(model, f"order_by({item!r})")
            if name != "pk":  # (else a relationship called pk: refused below)
                return sign + name
        if name in relationships:
            raise ValueError(
                f"order_by({item!r}): {name!r} is a relationship of {model.__name__}; "
                f"order by one of its fields ({name}__<field>)"
            )
        if "__" in name:
            return OrderBy(related_column(model, name, "order_by()"), descending=bool(sign))
        return item

    def __getitem__(self, key: slice) -> Query[T]:
        """``query[10:20]``: the same query with ``offset(10).limit(10)`` (a slice of a
        sliced query is taken within it, as in Django). Nothing runs: await a terminal
        on the result. A negative bound or a step raises ``ValueError``; an int index
        raises ``TypeError`` (a query runs only when awaited: use
        ``await query.offset(3).first()``)."""
        if not isinstance(key, slice):
            if isinstance(key, int) and not isinstance(key, bool):
                if key < 0:
                    raise ValueError(
                        f"negative indexing is not supported ({self!r}[{key}]); use "
                        "order_by() and slices, or `await query.last()` for the last row"
                    )
                raise TypeError(
                    f"{self!r}[{key}]: a query cannot be indexed, since it runs only when "
                    f"awaited; use `await query.offset({key}).first()` for that row, or "
                    f"query[{key}:{key + 1}] for a query of it"
                )
            raise TypeError(
                f"query indices must be slices (query[10:20]), not {type(key).__name__}"
            )
        start, stop, step = key.start, key.stop, key.step
        for bound in (start, stop, step):
            if bound is not None and (not isinstance(bound, int) or isinstance(bound, bool)):
                raise TypeError(f"query slice bounds must be ints or None, got {bound!r}")
        if step is not None and step != 1:
            raise ValueError(f"query slices cannot have a step, got {key!r}")
        if (start is not None and start < 0) or (stop is not None and stop < 0):
            raise ValueError(f"negative indexing is not supported, got {key!r}")
        base = self._offset or 0
        offset = base + (start or 0)
        end = None if stop is None else base + stop
        if self._limit is not None:
            end = base + self._limit if end is None else min(end, base + self._limit)
        new = self._copy()
        new._offset = offset if offset or self._offset is not None else None
        new._limit = None if end is None else max(end - offset, 0)
        return new

    #: not iterable (``__getitem__`` would make ``iter()`` take it for a sequence): a
    #: query is an async iterator (``async for obj in query``)
    __iter__ = None

    def limit(self, n: int | None) -> Query[T]:
        """At most ``n`` rows (None: no limit)."""
        _check_count(n, "limit()")
        new = self._copy()
        new._limit = n
        return new

    def offset(self, n: int | None) -> Query[T]:
        """Skip ``n`` rows."""
        _check_count(n, "offset()")
        new = self._copy()
        new._offset = n
        return new

    def distinct(self, flag: bool = True) -> Query[T]:
        """SELECT DISTINCT."""
        return self._copy(distinct=flag)

    def group_by(self, *cols: Any) -> Query[T]:
        """GROUP BY columns (names or expressions)."""
        select(self._model).group_by(*cols)
        return self._copy(group_by=(*self._group_by, *cols))

    def having(self, *conditions: ClauseElement | Select, **lookups: Any) -> Query[T]:
        """HAVING conditions and lookups."""
        check_q_lookups(self._model, *conditions)
        extra = (self._lookups(lookups),) if lookups else ()
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

    # -- precompiled statements -------------------------------------------------------

    def _plain(self) -> tuple[list[Any], tuple[Any, ...]] | None:
        """The values and shape of the conditions when every one is plain (see
        ``precompiled.plain_conditions``); None otherwise. Queries of one shape share
        one precompiled statement."""
        return precompiled.plain_conditions(self._model, self._where)

    def _slotted(self, first: int = 0) -> Query[T]:
        """This query with slots numbered from ``first`` in place of the condition values
        (only for queries :meth:`_plain` accepts)."""
        return self._copy(where=precompiled.slotted_conditions(self._where, first))

    def _order_shape(self) -> tuple[Any, ...] | None:
        model = self._model
        out: list[Any] = []
        for item in self._order:
            if isinstance(item, str):
                out.append(item)
            elif isinstance(item, Column) and item.model is model:
                out.append(("col", item.key))
            elif (
                type(item) is OrderBy and isinstance(item.expr, Column) and item.expr.model is model
            ):
                out.append(("by", item.expr.key, item.descending, item.nulls))
            elif type(item) is OrderBy and type(item.expr) is RelatedColumn:
                expr = item.expr
                out.append(("related", expr.path, expr.column.key, item.descending, item.nulls))
            else:
                return None
        return tuple(out)

    def _plan(self) -> dict[str, Any]:
        """The loading plan of the row terminals (see ``loading.build_plan``)."""
        from ormkit.orm.loading import build_plan

        if not self._options:
            return precompiled.default_plan(self._model)
        return build_plan(self._model, self._options)

    def _rows_template(
        self, limit: int | None
    ) -> tuple[precompiled.Template, list[Any], dict[str, Any]] | None:
        """The precompiled SELECT of a row terminal, its parameter values and the loading
        plan to run after it, for a query with plain lookups, simple ordering and no
        joined loading at the top (else None)."""
        if self._group_by or self._having:
            return None
        plain = self._plain()
        if plain is None:
            return None
        order = self._order_shape()
        if order is None:
            return None
        plan = self._plan()
        for node in plan.values():
            if node.strategy == "joined":
                return None
        values, shape = plain
        key = self._shape_key("rows", shape, limit, order)
        template = precompiled.cached(
            self._model, key, lambda: self._build_rows_template(limit, len(values))
        )
        if template is None:
            return None
        return template, self._with_limits(values, limit), plan

    def _shape_key(self, kind: str, shape: Any, limit: int | None, *more: Any) -> Hashable:
        """The template-cache key of a row or count terminal of this query's shape."""
        return (
            kind,
            self._session.dialect,
            self._deleted,
            shape,
            *more,
            limit is not None,
            self._offset is not None,
            self._distinct,
            self._for_update,
        )

    def _slotted_limits(self, n: int, limit: int | None) -> Query[T]:
        """This query with slots for its condition values (``n`` of them) and then for
        ``limit`` and the offset (see :meth:`_with_limits`)."""
        slotted = self._slotted()
        if limit is not None:
            slotted = slotted._copy(limit=precompiled.slot(n, limit))
            n += 1
        if self._offset is not None:
            slotted = slotted._copy(offset=precompiled.slot(n, self._offset))
        return slotted

    def _with_limits(self, values: list[Any], limit: int | None) -> list[Any]:
        """``values`` followed by the limit and offset the slots of
        :meth:`_slotted_limits` stand for."""
        if limit is not None:
            values.append(limit)
        if self._offset is not None:
            values.append(self._offset)
        return values

    def _build_rows_template(self, limit: int | None, n: int) -> precompiled.Template | None:
        # What _rows() builds when the plan has no joined step at its top.
        model: Any = self._model
        stmt = self._slotted_limits(n, limit)._select()
        dialect = self._session.dialect
        return precompiled.try_template(stmt, dialect, precompiled.all_converters(model, dialect))

    def _count_template(self) -> tuple[precompiled.Template, list[Any]] | None:
        if self._group_by or self._having:
            return None
        plain = self._plain()
        if plain is None:
            return None
        values, shape = plain
        dialect = self._session.dialect
        limit = self._limit

        def build() -> precompiled.Template | None:
            stmt = self._slotted_limits(len(values), limit)._select(ordered=False).count()
            return precompiled.try_template(stmt, dialect)

        template = precompiled.cached(self._model, self._shape_key("count", shape, limit), build)
        if template is None:
            return None
        return template, self._with_limits(values, limit)

    def to_sql(self) -> tuple[str, list[Any]]:
        """The ``(sql, params)`` of ``all()`` for the session's dialect, without running."""
        return self._select().to_sql(self._session.dialect)

    # -- terminals: rows --------------------------------------------------------------

    def _rows(self, limit: int | None) -> tuple[Select, dict[str, Any]]:
        """The SELECT for row terminals and its loading plan. With a LIMIT/OFFSET and a
        joined collection, the limit applies to the parents: ``pk IN (SELECT pk …)``."""
        from ormkit.orm.loading import build_plan, limit_parents

        plan = build_plan(self._model, self._options)
        return limit_parents(self._model, self._copy(limit=limit)._select(), plan), plan

    async def _load(self, limit: int | None) -> list[T]:
        fast = self._rows_template(limit)
        if fast is not None:
            template, values, plan = fast
            return await self._session._load_template(self._model, template, values, plan)
        stmt, plan = self._rows(limit)
        return await self._session._load(self._model, stmt, plan)

    async def all(self) -> list[T]:
        """Every matching row as a model instance."""
        return await self._load(self._limit)

    async def first(self) -> T | None:
        """The first row, or None. A query without ``order_by()`` is ordered by primary
        key here (as Django does), so that "first" is the same row every time rather
        than whichever the database happens to return first."""
        query: Query[T] = self
        if not self._order and not self._group_by:  # a group has no one primary key
            model: Any = self._model
            pk = model.__primary_key__
            query = self._copy(order=(pk,) if isinstance(pk, str) else tuple(pk))
        rows = await query._load(1 if self._limit is None else min(1, self._limit))
        return rows[0] if rows else None

    async def last(self) -> T | None:
        """The last row, or None: the first row of the query in reverse order (by its
        ``order_by()`` reversed, NULLS FIRST/LAST swapped; by primary key descending
        when it has no order), as in Django. On a query with a ``limit()`` (a slice),
        the last row of that slice. ``ValueError`` for a query with an ``offset()`` and
        no limit, and for a grouped query with no order."""
        if self._limit is not None:
            query: Query[T] = self
            if not self._order and not self._group_by:
                query = self._copy(order=tuple(model_pk(self._model)))
            rows = await query._load(self._limit)
            return rows[-1] if rows else None
        if self._offset is not None:
            raise ValueError(
                "last() of a query with offset() and no limit() is not supported; "
                "slice it (query[start:stop]) or reverse order_by() and use first()"
            )
        if self._order:
            order = tuple(_reversed(item) for item in self._order)
        elif self._group_by:
            raise ValueError("last() of a grouped query needs order_by(): its groups have no key")
        else:
            order = tuple("-" + name for name in model_pk(self._model))
        rows = await self._copy(order=order)._load(1)
        return rows[0] if rows else None

    async def one(self) -> T:
        """The only row (``NoResultFound`` / ``MultipleResultsFound`` otherwise)."""
        found = await self.one_or_none()
        if found is None:
            raise NoResultFound(f"no {self._model.__name__} matched the query")
        return found

    async def one_or_none(self) -> T | None:
        """The only row, or None (``MultipleResultsFound`` for more than one)."""
        rows = await self._load(2 if self._limit is None else min(2, self._limit))
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

    # -- terminals: get or create -----------------------------------------------------

    async def get_or_create(
        self, defaults: Mapping[str, Any] | None = None, **lookups: Any
    ) -> tuple[T, bool]:
        """The row matching ``lookups`` (and the query's own conditions), or a new one
        inserted from ``lookups`` and ``defaults``: ``(obj, created)``, as in Django.

        ``lookups`` are ``field=value`` equalities (``pk`` and many-to-one relationships
        too), used to find the row and to build it; ``defaults`` fills other fields
        when creating (a callable value is called then). More than one match raises
        ``MultipleResultsFound``. Soft-deleted rows count only on ``with_deleted()``.
        Outside a ``begin()`` block the INSERT is its own transaction; in an open
        transaction it runs in a SAVEPOINT and commits nothing. When the INSERT fails
        with ``IntegrityError`` (another session created the row meanwhile: a unique
        constraint), the row is looked up once more and returned if found, else the
        error is raised."""
        fields, extra = self._creation_values("get_or_create", defaults, lookups)
        query = self.filter(**lookups) if lookups else self
        return await query._get_or_create(fields, extra)

    async def update_or_create(
        self, defaults: Mapping[str, Any] | None = None, **lookups: Any
    ) -> tuple[T, bool]:
        """:meth:`get_or_create`, then, for a row that was found, an update of it with
        ``defaults`` (version column, ``updated_at`` and hooks as ``session.update``):
        ``(obj, created)``, as in Django. The row is read ``FOR UPDATE`` (PostgreSQL).
        Outside a transaction all of it is one transaction, committed at the end; inside
        ``begin()``, or when pending changes are flushed first (which begins the
        session's transaction, as any query's autoflush does), it commits nothing."""
        fields, extra = self._creation_values("update_or_create", defaults, lookups)
        query = self.select_for_update()
        if lookups:
            query = query.filter(**lookups)
        session = self._session
        if session._tx is None:
            with session._using():
                await session._autoflush()  # pending changes begin the transaction
        if session._tx is None:
            async with session.begin():
                return await query._update_or_create(fields, extra)
        return await query._update_or_create(fields, extra)

    async def _update_or_create(
        self, fields: dict[str, Any], extra: dict[str, Any]
    ) -> tuple[T, bool]:
        obj, created = await self._get_or_create(fields, extra)
        if not created and extra:
            await self._session.update(obj, **_resolved(extra))
        return obj, created

    async def _get_or_create(self, fields: dict[str, Any], extra: dict[str, Any]) -> tuple[T, bool]:
        """:meth:`get_or_create` on this query, which has the lookups among its
        conditions; ``fields`` are the lookups by field name, ``extra`` the defaults."""
        found = await self.one_or_none()
        if found is not None:
            return found, False
        model: Any = self._model
        obj: T = model(**{**fields, **_resolved(extra)})
        session = self._session
        inserting = False  # an IntegrityError of a flush before the SAVEPOINT is not ours
        try:
            if session._tx is None:
                inserting = True
                await session.insert(obj)
            else:
                # a SAVEPOINT: a failure leaves the open transaction usable
                async with session.begin_nested():
                    inserting = True
                    await session.insert(obj)
        except IntegrityError:
            if not inserting:
                raise
            found = await self.one_or_none()  # created by someone else meanwhile?
            if found is None:
                raise
            return found, False
        return obj, True

    def _creation_values(
        self, call: str, defaults: Mapping[str, Any] | None, lookups: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The lookups and the defaults of ``call`` by field name (``pk`` renamed),
        checked: ``TypeError`` for defaults that are not a mapping, ``ValueError`` for a
        name that is not a field of the model or a lookup with an operator, and for a
        query of ``only_deleted()`` (a created row would be live, not what it sees)."""
        if defaults is None:
            defaults = {}
        elif not isinstance(defaults, Mapping):
            raise TypeError(
                f"{call}(): defaults must be a mapping of field names to values, "
                f"got {type(defaults).__name__}"
            )
        if self._deleted == "only":
            raise ValueError(
                f"{call}() on only_deleted(): a row it created would not be deleted, so "
                "the query would not see it; use with_deleted()"
            )
        fields = {self._field_name(call, k, "lookup"): v for k, v in lookups.items()}
        extra = {self._field_name(call, k, "defaults"): v for k, v in defaults.items()}
        return fields, extra

    def _field_name(self, call: str, name: Any, where: str) -> str:
        """The field ``name`` of a ``call`` lookup or default names (``pk``: the primary
        key column); ``ValueError`` (``TypeError`` for a name that is not a string)."""
        model: Any = self._model
        if not isinstance(name, str):
            raise TypeError(f"{call}(): {where} names must be strings, got {name!r}")
        relationships = getattr(model, "__relationships__", {})
        if name in model.__columns__ or name in relationships:
            return name
        if name == "pk":
            return pk_name(model, f"{call}()")
        if where == "lookup" and "__" in name:
            raise ValueError(
                f"{call}(): lookup {name!r} is not a field of {model.__name__}: its lookups "
                "are field=value equalities, used to find the row and to create it; put "
                f"other conditions in filter() first (query.filter({name}=...).{call}(...))"
            )
        known = ", ".join([*model.__columns__, *relationships])
        raise ValueError(
            f"{call}(): unknown field {name!r} in {where} for {model.__name__}; "
            f"known fields: {known}"
        )

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
        columns: list[Any] = [model_column(model, c, what) for c in cols] or [
            info.expr for info in model.__columns__.values()
        ]
        for i, c in enumerate(cols):
            if type(c) is str and c == "pk" and "pk" not in model.__columns__:
                columns[i] = columns[i].label("pk")  # values("pk") gives {"pk": …}
        return self._select().with_only_columns(*columns)

    # -- terminals: aggregates --------------------------------------------------------

    async def count(self) -> int:
        """The number of matching rows."""
        fast = self._count_template()
        if fast is not None:
            template, values = fast
            value = await self._session._scalar_sql(template.sql, template.params(values))
            return int(value or 0)
        stmt = self._select(ordered=False).count()
        value = await self._session._scalar(stmt)
        return int(value or 0)

    async def exists(self) -> bool:
        """Whether any row matches."""
        stmt = self._select(ordered=False).exists()
        return bool(await self._session._scalar(stmt))

    def _aggregate_select(self, *columns: Any) -> Select:
        """The SELECT of ``columns`` (aggregates) over the matching rows, each row of the
        model counted once. A lookup through a collection (``books__title__in=[...]``)
        joins and repeats a row per related match; ``all()`` and ``count()`` use DISTINCT
        for that, which cannot apply inside ``sum()``: the rows are then picked by
        ``pk IN (SELECT pk … WHERE …)`` and aggregated without the join."""
        stmt = self._select(ordered=False, limited=False)
        if not self._where or self._plain() is not None or not self._repeats_rows(stmt):
            return stmt.with_only_columns(*columns)
        from ormkit.sql.expressions import tuple_

        model: Any = self._model
        pk = model.__primary_key__
        keys = [model.__columns__[k].expr for k in ((pk,) if isinstance(pk, str) else pk)]
        inner = select(model).where(*self._conditions()).with_only_columns(*keys)
        key: Any = keys[0] if len(keys) == 1 else tuple_(*keys)
        outer = self._copy(where=(key.in_(inner),), deleted="include")
        return outer._select(ordered=False, limited=False).with_only_columns(*columns)

    def _repeats_rows(self, stmt: Select) -> bool:
        """Whether ``stmt``'s lookups join a collection (its rows then repeat)."""
        from ormkit.dialects.base import get_dialect
        from ormkit.sql.compiler import CompileContext

        ctx = CompileContext(get_dialect(self._session.dialect), stmt._scope())
        stmt._key(ctx)  # the shape walk resolves the lookups and adds their joins
        return ctx.scope.distinct

    async def _aggregate(self, name: str, col: Any) -> Any:
        column = model_column(self._model, col, f"{name}()")
        if self._limit is not None or self._offset is not None:
            raise ValueError(f"{name}() over a query with limit()/offset() is not supported")
        if self._group_by or self._having:
            model: Any = self._model
            raise ValueError(
                f"{name}() over a query with group_by()/having() would give one value per "
                f"group; for those, session.execute(select({model.__name__}.<key>, "
                f"func.{name}({model.__name__}.{column.key})).group_by(...)); for the total, "
                "leave out group_by()"
            )
        info = column.info
        if name in ("sum", "avg") and info.type.kind == "timedelta":
            return await self._interval_aggregate(name, column)
        expr = getattr(func, name)(column).label("value")
        stmt = self._aggregate_select(expr)
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

    async def _interval_aggregate(self, name: str, column: Column[Any]) -> timedelta | None:
        """SUM/AVG of a ``timedelta`` column, as a ``timedelta``, the same on both backends.

        The database sums (PostgreSQL the ``INTERVAL`` values, SQLite the whole
        microseconds it stores, both exactly) and counts the non-NULL values; the average
        is that sum divided here, rounded half-even to the microsecond (PostgreSQL's own
        ``avg(interval)`` divides days and microseconds apart in floating point and can be
        1 µs off). A result beyond ``timedelta``'s range is a ``DataError``."""
        stmt = self._aggregate_select(
            func.sum(column).label("value"), func.count(column).label("n")
        )
        try:
            rows = await self._session._values(stmt, tuples=True)
            total, count = rows[0] if rows else (None, 0)
            if total is None or not count:
                return None
            delta = total if isinstance(total, timedelta) else timedelta(microseconds=total)
            return delta if name == "sum" else delta / int(count)
        except (OverflowError, DataError) as exc:
            # beyond timedelta here, or while the sum was read (a DataError naming its
            # column): any other DataError is the server's
            if isinstance(exc, DataError) and exc.column != "value":
                raise
            model: Any = self._model
            raise DataError(
                f"{name}() of {model.__name__}.{column.key} is out of the range of "
                "datetime.timedelta",
                table=model.__tablename__,
                column=column.info.name,
            ) from None

    async def sum(self, col: Any) -> Any:
        """SUM of a column (None when no row matches): an int for int columns, a
        Decimal for Decimal columns, a timedelta for timedelta columns."""
        return await self._aggregate("sum", col)

    async def avg(self, col: Any) -> Any:
        """AVG of a column (a float; a Decimal for Decimal columns, a timedelta rounded
        to the microsecond for timedelta columns; None when no row matches)."""
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
        ``deleted_at`` unless ``force=True``. Either way it acts on the rows the query
        sees: live ones by default, ``only_deleted()`` the trashed ones (so
        ``only_deleted().delete(force=True)`` empties the trash), ``with_deleted()`` all."""
        if self._limit is not None or self._offset is not None:
            raise ValueError("delete() with limit()/offset() is not supported")
        name = soft_delete_column(self._model)
        if name is not None and not force:
            return await self.update(**{name: utcnow()})
        plain = self._plain()
        if plain is not None and self._session._synchronizing(self._model):
            plain = None  # objects of the model tracked: _write_count brings them in step
        if plain is not None:
            values, shape = plain
            dialect = self._session.dialect
            key: Hashable = ("delete", dialect, self._deleted, shape)

            def build() -> precompiled.Template | None:
                stmt = delete(self._model).where(*self._slotted()._conditions())
                return precompiled.try_template(stmt, dialect)

            template = precompiled.cached(self._model, key, build)
            if template is not None:
                return await self._session._write_sql(template.sql, template.params(values))
        stmt = delete(self._model).where(*self._conditions())
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
        values = {**values, **onupdate_values(model, values)}
        version = model.__version_column__
        if version is not None and version not in values:
            values[version] = model.__columns__[version].expr + 1
        plain = self._plain()
        if plain is not None and self._session._synchronizing(model):
            plain = None  # objects of the model tracked: _write_count brings them in step
        if plain is not None and not precompiled.has_expression(values.values()):
            where_values, shape = plain
            dialect = self._session.dialect
            names = tuple(values)
            key = ("update", dialect, self._deleted, shape, names)

            def build() -> precompiled.Template | None:
                sets = {k: precompiled.slot(i) for i, k in enumerate(names)}
                slotted = self._slotted(len(names))
                stmt = update(model).values(sets).where(*slotted._conditions())
                return precompiled.try_template(stmt, dialect)

            template = precompiled.cached(model, key, build)
            if template is not None:
                params = template.params([*values.values(), *where_values])
                return await self._session._write_sql(template.sql, params)
        stmt = update(model).values(values).where(*self._conditions())
        return await self._session._write_count(stmt)
