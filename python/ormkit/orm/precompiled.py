"""Per-model SQL for the single-row paths, compiled once per dialect and shape.

``session.get`` by primary key, the INSERT of an insert or a flush, and UPDATE/DELETE
by primary key build the same statements again and again with new values. Their SQL is
compiled once per (model, dialect, shape) by the ordinary compiler, with :class:`Slot`
objects standing in for the values; where the slots land in the compiled parameter
list says where each value goes. A later call costs a dict lookup and a list of its
values: no statement objects, no compiler walk.

The cache lives on the model class (``_ormkit_sql``), so it goes away with the class.
"""

from __future__ import annotations

import datetime as _dt
import uuid
from collections.abc import Callable, Hashable, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ormkit.orm.state import model_pk
from ormkit.sql.expressions import BinaryExpression, BindParam, ClauseElement, Column, OrderBy
from ormkit.sql.lookups import Q

if TYPE_CHECKING:
    from ormkit.sql.statements import Select, Statement
    from ormkit.types import Converter

__all__ = [
    "IntSlot",
    "Slot",
    "StrSlot",
    "Template",
    "cached",
    "compile_template",
    "default_plan",
    "delete_by_pk",
    "delete_in",
    "get_by_pk",
    "has_expression",
    "insert_returning",
    "insert_rows",
    "plain_conditions",
    "plain_key",
    "select_template",
    "slot",
    "slotted_conditions",
    "try_template",
    "update_by_pk",
]

#: at most this many templates per model (insert shapes vary with the row count)
_MAX_PER_MODEL = 256
_MISSING: Any = object()
#: what a key of several values may be (a constant: ``tuple | list`` is built per call)
_SEQUENCES = (tuple, list)


class Slot:
    """Stands for the ``index``-th value of a call while a template is compiled."""

    __slots__ = ("slot_index",)

    def __init__(self, index: int) -> None:
        self.slot_index = index

    def __repr__(self) -> str:
        return f"<slot {self.slot_index}>"


class IntSlot(int):
    """A slot that is an int, for values a builder checks (``limit()``, ``offset()``)."""

    slot_index: int


class StrSlot(str):
    """A slot that is a str, for values a builder checks (``like()`` patterns)."""

    slot_index: int


_SLOT_TYPES = (Slot, IntSlot, StrSlot)


def slot(index: int, like: Any = None) -> Any:
    """A slot for the ``index``-th value, of the kind a builder accepts for ``like``."""
    if isinstance(like, int) and not isinstance(like, bool):
        made: Any = IntSlot(like)
    elif isinstance(like, str):
        made = StrSlot(like)
    else:
        return Slot(index)
    made.slot_index = index
    return made


def slots(n: int) -> tuple[Slot, ...]:
    """``n`` fresh slots, numbered from 0."""
    return tuple(Slot(i) for i in range(n))


class Template:
    """Compiled SQL and, per bound parameter, the index of the value it takes."""

    __slots__ = ("converters", "in_order", "positions", "sql")

    def __init__(
        self, sql: str, params: Sequence[Any], converters: tuple[Converter, ...] | None = None
    ) -> None:
        positions: list[int] = []
        for param in params:
            if type(param) not in _SLOT_TYPES:
                raise AssertionError(f"a template bound a value that is not a slot: {param!r}")
            positions.append(param.slot_index)
        self.sql = sql
        self.positions = tuple(positions)
        self.in_order = self.positions == tuple(range(len(positions)))
        #: converters of the result columns (``to_models``), when the SQL returns rows
        self.converters = converters

    def params(self, values: Sequence[Any]) -> list[Any]:
        """The parameter list for ``values`` (in slot order)."""
        if self.in_order:
            return list(values)
        return [values[i] for i in self.positions]

    def __repr__(self) -> str:
        return f"<Template {self.sql!r}>"


def compile_template(
    stmt: Statement, dialect: str, converters: tuple[Converter, ...] | None = None
) -> Template:
    """Compile ``stmt`` (built with slots for its values) into a template."""
    sql, params = stmt.to_sql(dialect)
    return Template(sql, params, converters)


def try_template(
    stmt: Statement, dialect: str, converters: tuple[Converter, ...] | None = None
) -> Template | None:
    """:func:`compile_template`, or None when the compiled statement binds a value that
    is not a slot (a shape that is not worth a template: the ordinary path runs)."""
    sql, params = stmt.to_sql(dialect)
    if any(type(param) not in _SLOT_TYPES for param in params):
        return None
    return Template(sql, params, converters)


def cached(model: type[Any], key: Hashable, build: Callable[[], Any]) -> Any:
    """The entry ``key`` of ``model``'s template cache, made by ``build()`` and kept on
    first use (a None, "no template for this shape", is kept too)."""
    cache = _cache(model)
    found = cache.get(key, _MISSING)
    if found is _MISSING:
        found = _store(cache, key, build())
    return found


def _cache(model: type[Any]) -> dict[Hashable, Any]:
    cache: dict[Hashable, Any] | None = model.__dict__.get("_ormkit_sql")
    if cache is None:
        cache = {}
        model._ormkit_sql = cache
    return cache


def _store(cache: dict[Hashable, Any], key: Hashable, value: Any) -> Any:
    if len(cache) >= _MAX_PER_MODEL:
        cache.clear()
    cache[key] = value
    return value


def has_expression(values: Any) -> bool:
    """Whether one of ``values`` is an SQL expression (templates bind plain values)."""
    return any(issubclass(kind, ClauseElement) for kind in set(map(type, values)))


def plain_key(model: type[Any], values: Any) -> bool:
    """Whether ``values`` are a full primary key of ``model`` made of plain values (no
    None, no SQL expression): what a template can bind."""
    if not isinstance(values, _SEQUENCES):
        return False
    pk = model.__primary_key__
    if isinstance(pk, str):
        if len(values) != 1:
            return False
        value = values[0]
        return value is not None and not isinstance(value, ClauseElement)
    if len(values) != len(pk):
        return False
    return not any(value is None or isinstance(value, ClauseElement) for value in values)


#: value types a plain condition binds as they are (the SQL does not depend on the value)
_PLAIN_VALUES = frozenset(
    {int, float, str, bytes, bool, Decimal, _dt.datetime, _dt.date, _dt.time, _dt.timedelta}
    | {uuid.UUID}
)
#: lookup operators that bind the value as it is, once
_PLAIN_OPS = frozenset({"", "exact", "ne", "gt", "gte", "lt", "lte", "like", "ilike"})
#: comparison operators of plain ``BinaryExpression`` conditions
_COMPARISONS = frozenset({"=", "<>", "<", "<=", ">", ">="})


def plain_conditions(
    model: Any, where: Sequence[ClauseElement]
) -> tuple[list[Any], tuple[Any, ...]] | None:
    """The values and the shape of ``where`` when every condition is *plain*: a ``Q`` of
    keyword lookups (ANDed, not negated) on non-JSON columns of ``model`` with operators
    that bind their value as it is (``id=5``, ``age__gte=18``, ``name__like="A%"``), or
    a column of ``model`` compared with a value (``User.age >= 18``), every value of a
    scalar type. Conditions of one shape compile to the same SQL whatever the values;
    anything else (None, lists, JSON paths, relationships, other expressions): None."""
    columns: Any = model.__columns__
    values: list[Any] = []
    shape: list[Any] = []
    for cond in where:
        if type(cond) is BinaryExpression:
            left, right = cond.left, cond.right
            if (
                type(left) is not Column
                or left.model is not model
                or cond.op not in _COMPARISONS
                or type(right) is not BindParam
                or type(right.value) not in _PLAIN_VALUES
            ):
                return None
            shape.append((left.key, cond.op))
            values.append(right.value)
            continue
        if type(cond) is not Q or cond.negated or cond.connector != "AND":
            return None
        for child in cond.children:
            if type(child) is not tuple:
                return None
            key, value = child
            kind = type(value)
            if kind not in _PLAIN_VALUES:
                return None
            name, _sep, op = key.partition("__")
            info = columns.get(name)
            if info is None or info.type.is_json or op not in _PLAIN_OPS:
                return None
            if kind is not str and (op == "like" or op == "ilike"):
                return None
            shape.append(key)
            values.append(value)
        shape.append(None)
    return values, tuple(shape)


def slotted_conditions(where: Sequence[ClauseElement], first: int = 0) -> tuple[Any, ...]:
    """``where`` (accepted by :func:`plain_conditions`) with slots numbered from ``first``
    in place of its values, in the same order."""
    out: list[ClauseElement] = []
    n = first
    for cond in where:
        if isinstance(cond, BinaryExpression):
            out.append(BinaryExpression(cond.left, cond.op, BindParam(Slot(n))))
            n += 1
            continue
        assert isinstance(cond, Q)
        lookups: dict[str, Any] = {}
        for child in cond.children:
            assert isinstance(child, tuple)
            key, value = child
            lookups[key] = slot(n, value if isinstance(value, str) else None)
            n += 1
        out.append(Q(**lookups))
    return tuple(out)


def default_plan(model: type[Any]) -> dict[str, Any]:
    """``loading.build_plan(model, ())``, with the common answer (nothing to load)
    remembered per model. Plans may be changed by their user: a non-empty one is new."""
    from ormkit.orm.loading import build_plan

    cache = _cache(model)
    empty = cache.get(("default-plan-empty",))
    if empty is None:
        plan = build_plan(model, ())
        _store(cache, ("default-plan-empty",), not plan)
        return plan
    return {} if empty else build_plan(model, ())


def select_template(
    stmt: Select, dialect: str
) -> tuple[Template, list[Any], dict[str, Any]] | None:
    """For ``select(Model)`` with plain conditions (:func:`plain_conditions`), ordering by
    columns of the model, LIMIT/OFFSET and nothing else: the precompiled statement, its
    parameter values and the default loading plan (None when a joined load or anything
    else needs the ordinary path)."""
    model: Any = stmt._model
    if (
        model is None
        or len(stmt._entities) != 1
        or stmt._entities[0] is not model
        or stmt._joins
        or stmt._group_by
        or stmt._having
        or stmt._wrap is not None
    ):
        return None
    plain = plain_conditions(model, stmt._where)
    if plain is None:
        return None
    order: list[Any] = []
    for item in stmt._order_by:
        expr = item.expr
        if type(item) is not OrderBy or type(expr) is not Column or expr.model is not model:
            return None
        order.append((expr.key, item.descending, item.nulls))
    plan = default_plan(model)
    for node in plan.values():
        if node.strategy == "joined":
            return None
    values, shape = plain
    limit, offset = stmt._limit, stmt._offset
    key: Hashable = (
        "select",
        dialect,
        shape,
        tuple(order),
        limit is not None,
        offset is not None,
        stmt._distinct,
        stmt._for_update,
    )
    cache = _cache(model)
    template: Template | None = cache.get(key, _MISSING)
    if template is _MISSING:
        n = len(values)
        slotted = stmt._clone()
        slotted._where = slotted_conditions(stmt._where)
        if limit is not None:
            slotted._limit = slot(n, limit)
            n += 1
        if offset is not None:
            slotted._offset = slot(n, offset)
        template = try_template(slotted, dialect, all_converters(model, dialect))
        _store(cache, key, template)
    if template is None:
        return None
    if limit is not None:
        values.append(limit)
    if offset is not None:
        values.append(offset)
    return template, values, plan


def all_converters(model: type[Any], dialect: str) -> tuple[Converter, ...] | None:
    converters: tuple[Converter, ...] | None = model.__ormkit_converters__(
        dialect, list(model.__columns__)
    )
    return converters


def get_by_pk(model: type[Any], dialect: str) -> Template | None:
    """``SELECT <all columns> WHERE pk = …`` (soft-deleted rows left out), values in
    primary-key order; None when the model's relationship defaults load something
    (that needs the full loader)."""
    cache = _cache(model)
    key = ("get", dialect)
    try:
        found: Template | None = cache[key]
        return found
    except KeyError:
        pass
    from ormkit.orm.loading import build_plan
    from ormkit.query import soft_delete_condition
    from ormkit.sql.statements import pk_condition, select

    template: Template | None = None
    if not build_plan(model, ()):
        names = model_pk(model)
        values = slots(len(names))
        stmt = select(model).where(pk_condition(model, values if len(names) > 1 else values[0]))
        extra = soft_delete_condition(model, "exclude")
        if extra is not None:
            stmt = stmt.where(extra)
        template = compile_template(stmt, dialect, all_converters(model, dialect))
    return _store(cache, key, template)  # type: ignore[no-any-return]


def insert_rows(
    model: type[Any], dialect: str, columns: tuple[str, ...], count: int, returning: bool
) -> Template:
    """``INSERT INTO … (columns) VALUES (…), … [RETURNING <all columns>]`` for ``count``
    rows; values row by row, each in ``columns`` order."""
    return insert_returning(
        model, dialect, columns, count, tuple(model.__columns__) if returning else ()
    )


def insert_returning(
    model: type[Any], dialect: str, columns: tuple[str, ...], count: int, returning: tuple[str, ...]
) -> Template:
    """``INSERT INTO … (columns) VALUES (…), … [RETURNING returning]`` for ``count`` rows;
    values row by row, each in ``columns`` order. The converters are those of the
    RETURNING columns (None when nothing needs converting)."""
    cache = _cache(model)
    key = ("insert-returning", dialect, columns, count, returning)
    try:
        found: Template = cache[key]
        return found
    except KeyError:
        pass
    from ormkit.sql.statements import insert

    values = iter(slots(len(columns) * count))
    rows = [{c: next(values) for c in columns} for _ in range(count)]
    stmt = insert(model)._values_as_given(rows)
    converters = None
    if returning:
        stmt = stmt.returning(*returning)
        converters = model.__ormkit_converters__(dialect, list(returning))
    return _store(cache, key, compile_template(stmt, dialect, converters))  # type: ignore[no-any-return]


def update_by_pk(
    model: type[Any], dialect: str, columns: tuple[str, ...], version: bool
) -> Template:
    """``UPDATE … SET columns WHERE pk = … [AND version = …]``; values: the SET values
    in ``columns`` order, then the primary key values, then the expected version."""
    cache = _cache(model)
    key = ("update", dialect, columns, version)
    try:
        found: Template = cache[key]
        return found
    except KeyError:
        pass
    from ormkit.sql.statements import pk_condition, update

    names = model_pk(model)
    values = slots(len(columns) + len(names) + (1 if version else 0))
    sets = dict(zip(columns, values, strict=False))
    pk_values = values[len(columns) : len(columns) + len(names)]
    conditions = [pk_condition(model, dict(zip(names, pk_values, strict=True)))]
    if version:
        conditions.append(model.__columns__[model.__version_column__].expr == values[-1])
    stmt = update(model).values(sets).where(*conditions)
    return _store(cache, key, compile_template(stmt, dialect))  # type: ignore[no-any-return]


def delete_by_pk(model: type[Any], dialect: str, version: bool) -> Template:
    """``DELETE … WHERE pk = … [AND version = …]``; values: the primary key values,
    then the expected version."""
    cache = _cache(model)
    key = ("delete", dialect, version)
    try:
        found: Template = cache[key]
        return found
    except KeyError:
        pass
    from ormkit.sql.statements import delete, pk_condition

    names = model_pk(model)
    values = slots(len(names) + (1 if version else 0))
    conditions = [pk_condition(model, dict(zip(names, values, strict=False)))]
    if version:
        conditions.append(model.__columns__[model.__version_column__].expr == values[-1])
    stmt = delete(model).where(*conditions)
    return _store(cache, key, compile_template(stmt, dialect))  # type: ignore[no-any-return]


def delete_in(model: type[Any], dialect: str, count: int) -> Template:
    """``DELETE … WHERE pk IN (…)`` for ``count`` keys of a single-column primary key."""
    cache = _cache(model)
    key = ("delete-in", dialect, count)
    try:
        found: Template = cache[key]
        return found
    except KeyError:
        pass
    from ormkit.sql.statements import delete

    (name,) = model_pk(model)
    stmt = delete(model).where(model.__columns__[name].expr.in_(slots(count)))
    return _store(cache, key, compile_template(stmt, dialect))  # type: ignore[no-any-return]
