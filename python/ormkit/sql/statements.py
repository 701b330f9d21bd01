"""Statements: ``select``, ``insert``, ``update``, ``delete``.

Builders are generative (every method returns a new statement) and check names as
they are given: an unknown column in ``values()``, ``order_by()``, ``returning()`` or
a lookup raises ``ValueError`` before any SQL exists. ``to_sql(dialect)`` compiles
through :mod:`ormkit.sql.compiler` and returns ``(sql, params)``.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from ormkit.dialects.base import CURRENT_TIME_FUNCTIONS, Dialect, current_time_fits, get_dialect
from ormkit.orm.state import model_pk
from ormkit.sql.aliases import AliasColumn, AliasedClass, not_part
from ormkit.sql.compiler import CompileContext, Scope, compile_statement
from ormkit.sql.expressions import (
    DECIMAL_VALUE,
    AliasedColumn,
    BinaryExpression,
    ClauseElement,
    Column,
    ColumnExpr,
    Function,
    Label,
    OrderBy,
    TextClause,
    ValueType,
    and_,
    coerce,
    conditions_of,
    current_time_function,
    is_decimal,
    not_,
    slot_names,
)
from ormkit.sql.lookups import Q, lookups_q
from ormkit.sql.mapped import is_model_class
from ormkit.sql.subqueries import Subquery
from ormkit.types import resolve_column_type

if TYPE_CHECKING:
    from ormkit.types import Converter

__all__ = [
    "Delete",
    "Insert",
    "Select",
    "Update",
    "delete",
    "insert",
    "key_values",
    "pk_condition",
    "select",
    "update",
]

S = TypeVar("S", bound="Statement")

_ORDER_STRING = re.compile(r"(-?)([A-Za-z_][A-Za-z0-9_]*)\Z")

#: the type of ``exists()``'s one column
_BOOL = resolve_column_type(bool)


def _function_column_name(name: str, taken: set[str]) -> str:
    """``name`` for the first unlabelled function of that name in a select, then
    ``name_1``, ``name_2`` … (recorded in ``taken``)."""
    found, n = name, 0
    while found in taken:
        n += 1
        found = f"{name}_{n}"
    taken.add(found)
    return found


def _require_model(obj: Any, what: str) -> type[Any]:
    if not is_model_class(obj):
        raise TypeError(f"{what} needs a model class, got {obj!r}")
    if getattr(obj, "__abstract__", False) and "__abstract__" in obj.__dict__:
        raise TypeError(f"{obj.__name__} is abstract and has no table")
    return obj


def _column_of(model: type[Any], name: Any, what: str) -> Column[Any]:
    if isinstance(name, Column):
        if name.model is not model:
            raise ValueError(f"{what}: {name!r} is not a column of {model.__name__}")
        return name
    if not isinstance(name, str) or name not in model.__columns__:
        known = ", ".join(model.__columns__)
        raise ValueError(f"{what}: unknown column {name!r} on {model.__name__} (known: {known})")
    col: Column[Any] = model.__columns__[name].expr
    return col


class _OnJoin:
    """A join of a model on an explicit condition (see :meth:`Select.join`), under the
    name of an ``aliased()`` model or not."""

    __slots__ = ("alias", "model", "onclause")

    def __init__(self, model: type[Any], onclause: ClauseElement, alias: str | None = None) -> None:
        self.model = model
        self.onclause = onclause
        self.alias = alias


#: what a select joins: a relationship path from its model, or a model on a condition
JoinTarget = tuple[str, ...] | _OnJoin


def _foreign_key_condition(left: list[type[Any]], model: type[Any]) -> ClauseElement:
    """``model.fk == Left.pk`` (or the other way round) for the one foreign key between
    ``model`` and a model of ``left``; ``ValueError`` when there is none or several."""
    found: list[ClauseElement] = []
    names: list[str] = []
    for other in left:
        for a, b in ((model, other), (other, model)):
            for info in a.__columns__.values():
                fk = info.foreign_key
                if fk is None or fk.table != b.__tablename__:
                    continue
                target = next((c for c in b.__columns__.values() if c.name == fk.column), None)
                if target is not None:
                    found.append(info.expr == target.expr)
                    names.append(f"{a.__name__}.{info.key} -> {b.__name__}.{target.key}")
    if len(found) == 1:
        return found[0]
    statement = ", ".join(m.__name__ for m in left)
    if not found:
        raise ValueError(
            f"join({model.__name__}): no relationship or foreign key links it to "
            f"{statement}; give an ON condition, e.g. join({model.__name__}, <condition>)"
        )
    raise ValueError(
        f"join({model.__name__}): several foreign keys link it to {statement} "
        f"({'; '.join(names)}); give an ON condition"
    )


def _first_column(node: Any) -> Column[Any] | AliasColumn | None:
    """The first model column inside an expression (it names the table to select from);
    none inside a subquery, which has its own FROM."""
    if isinstance(node, (Column, AliasColumn)):
        return node
    if isinstance(node, Subquery):
        return None
    for slot in slot_names(type(node)):
        value = getattr(node, slot, None)
        children = value if isinstance(value, tuple) else (value,)
        for child in children:
            if isinstance(child, tuple):  # (condition, result) pairs of case()
                child = next((c for c in map(_first_column, child) if c is not None), None)
            if isinstance(child, ClauseElement):
                found = _first_column(child)
                if found is not None:
                    return found
    return None


def _value_column(expr: Any) -> Any:
    """The ColumnInfo whose type the value of a selected expression has, or None: a
    column under a label, ``min()``/``max()`` of one (read back as the column is), or a
    Decimal computed (``sum()``, arithmetic: decimal text on SQLite)."""
    if isinstance(expr, Label):
        expr = expr.expr
    typed = getattr(expr, "value_info", None)  # cast(), literal(), case(), subqueries
    if typed is not None:
        return typed
    if isinstance(expr, Function):
        if expr.name in ("min", "max") and len(expr.args) == 1:
            expr = expr.args[0]
        elif expr.name in CURRENT_TIME_FUNCTIONS:  # read back as that type (SQLite: text)
            return _CURRENT_TIME_VALUES[CURRENT_TIME_FUNCTIONS[expr.name]]
        elif is_decimal(expr):
            return DECIMAL_VALUE
    elif isinstance(expr, BinaryExpression) and is_decimal(expr):
        return DECIMAL_VALUE
    return expr.info if isinstance(expr, Column) else None


#: the type of a selected ``EXISTS (…)``: a bool on both backends
BOOL_VALUE = ValueType(_BOOL)

#: the type of a current-time function's value, by its kind
_CURRENT_TIME_VALUES = {
    "datetime_tz": ValueType(resolve_column_type(_dt.datetime, timezone=True)),
    "datetime": ValueType(resolve_column_type(_dt.datetime)),
    "date": ValueType(resolve_column_type(_dt.date)),
    "time": ValueType(resolve_column_type(_dt.time)),
}


def key_values(model: type[Any], value: Any) -> tuple[Any, ...]:
    """The primary key values of ``model`` that ``value`` gives, one per key column: the
    value itself for a one-column key, a tuple or list of one value per column for a
    composite key, or a dict naming every key column. Anything else (a scalar for a
    composite key, a dict missing a column or naming another) is a ``ValueError``
    saying what to pass."""
    names = model_pk(model)
    if isinstance(value, Mapping):
        missing = [n for n in names if n not in value]
        unknown = [k for k in value if k not in names]
        if missing or unknown:
            wrong = ", ".join(
                [f"lacks {n!r}" for n in missing]
                + [f"names {k!r}, not a key column" for k in unknown]
            )
            raise ValueError(
                f"{model.__name__}'s primary key is {', '.join(names)}: the dict given {wrong}"
            )
        return tuple(value[n] for n in names)
    if len(names) == 1:
        return (value,)
    if (
        isinstance(value, Sequence)
        and not isinstance(value, str | bytes)
        and len(value) == len(names)
    ):
        return tuple(value)
    raise ValueError(
        f"{model.__name__} has a composite primary key ({', '.join(names)}); pass a tuple "
        f"of values (or a dict naming each), got {value!r}"
    )


def pk_condition(model: type[Any], value: Any) -> ColumnExpr[bool]:
    """``pk = value`` for ``model``; a tuple (or dict) of values for a composite key (see
    :func:`key_values`)."""
    pk = model.__primary_key__
    if isinstance(pk, str) and not isinstance(value, Mapping):
        return model.__columns__[pk].expr == value  # type: ignore[no-any-return]
    names = model_pk(model)
    values = key_values(model, value)
    return and_(*(model.__columns__[n].expr == v for n, v in zip(names, values, strict=True)))


class Statement:
    """Base of the four statements."""

    _model: type[Any] | None = None
    #: see :meth:`entity_layout` (writes: set by ``returning()``)
    _layout: tuple[tuple[type[Any] | None, int], ...] | None = None

    def _clone(self: S) -> S:
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        return new

    def _scope(self) -> Scope | None:
        return Scope(self._model) if self._model is not None else None

    def _key(self, ctx: CompileContext) -> Hashable:
        raise NotImplementedError

    def _sql(self, ctx: CompileContext) -> str:
        raise NotImplementedError

    def to_sql(self, dialect: str | Dialect) -> tuple[str, list[Any]]:
        """Compile for ``dialect`` (``"postgresql"``/``"sqlite"``) → ``(sql, params)``."""
        return compile_statement(self, dialect)

    def _result_columns(self) -> list[tuple[str, Any]]:
        return []

    def entity_layout(self) -> tuple[tuple[type[Any] | None, int], ...] | None:
        """How ``session.execute`` shapes the rows when a model is selected (or
        returned) next to other items: per item of a result row, ``(model, index of
        its first column)`` for a model, whose columns follow in ``__columns__`` order,
        or ``(None, column index)`` for a plain value. None when the rows are plain
        values (no model among the items) or ``select(Model)`` alone."""
        return self._layout

    @property
    def result_columns(self) -> list[str]:
        """Names of the result columns (model attribute names for model columns)."""
        return [name for name, _info in self._result_columns()]

    def result_converters(self, dialect: str | Dialect) -> tuple[Converter, ...] | None:
        """Per result column, how to turn the stored value into the Python value on
        ``dialect`` (see :mod:`ormkit.types`); None when nothing needs converting."""
        name = get_dialect(dialect).name
        out = tuple(
            None if info is None else info.type.converter(name)
            for _n, info in self._result_columns()
        )
        return out if any(c is not None for c in out) else None

    def __repr__(self) -> str:
        model = self._model.__name__ if self._model is not None else "?"
        return f"<{type(self).__name__} {model}>"


class _Filtered(Statement):
    """``where``/``filter``/``filter_by``/``exclude`` shared by select, update and delete."""

    _where: tuple[ClauseElement, ...] = ()

    def where(self: S, *conditions: ClauseElement | Select) -> S:
        """Add conditions (ANDed): expressions such as ``User.age >= 18`` or ``Q`` objects
        (``select(...).exists()`` is ``EXISTS (…)``)."""
        checked: tuple[ClauseElement, ...]
        for cond in conditions:
            if not isinstance(cond, ClauseElement) or isinstance(cond, TextClause):
                checked = conditions_of(
                    conditions,
                    "where() needs SQL conditions (e.g. User.age >= 18), got {!r}; "
                    "a plain bool usually means a comparison was evaluated in Python",
                )
                for clause in checked:
                    coerce(clause)  # text() is refused here
                break
        else:
            checked = conditions  # type: ignore[assignment]  # all clauses (the usual case)
        new = self._clone()
        new._where = (*self._where, *checked)  # type: ignore[attr-defined]
        return new

    def filter(self: S, *conditions: ClauseElement | Select, **lookups: Any) -> S:
        """Add conditions and keyword lookups (``age__gte=18``), all ANDed."""
        extra = (lookups_q(lookups, self._model),) if lookups else ()
        return self.where(*conditions, *extra)  # type: ignore[attr-defined, no-any-return]

    def filter_by(self: S, **lookups: Any) -> S:
        """Add keyword lookups (``name="Ann"``, ``age__gte=18``), ANDed."""
        return self.filter(**lookups)  # type: ignore[attr-defined, no-any-return]

    def exclude(self: S, *conditions: ClauseElement | Select, **lookups: Any) -> S:
        """Add the negation of the given conditions and lookups taken together."""
        extra = (lookups_q(lookups, self._model),) if lookups else ()
        parts = (*conditions, *extra)
        if not parts:
            return self
        return self.where(not_(Q(*parts)))  # type: ignore[attr-defined, no-any-return]

    def _where_key(self, ctx: CompileContext) -> Hashable:
        return tuple(c._key(ctx) for c in self._where)

    def _where_sql(self, ctx: CompileContext) -> str:
        if not self._where:
            return ""
        if len(self._where) == 1:
            return " WHERE " + self._where[0]._sql(ctx)
        return " WHERE " + and_(*self._where)._sql(ctx)


def _returning_items(model: type[Any], items: tuple[Any, ...]) -> tuple[Column[Any], ...]:
    cols: list[Column[Any]] = []
    for item in items:
        if item is model:
            cols.extend(info.expr for info in model.__columns__.values())
        else:
            cols.append(_column_of(model, item, "returning()"))
    return tuple(cols)


def _returning(stmt: S, items: tuple[Any, ...]) -> S:
    """``stmt`` RETURNING ``items``; the model among them makes the rows hold instances
    through ``session.execute`` (see :meth:`Statement.entity_layout`)."""
    model = stmt._model
    assert model is not None
    new = stmt._clone()
    new._returning = _returning_items(model, items)  # type: ignore[attr-defined]
    layout: list[tuple[type[Any] | None, int]] = []
    if any(item is model for item in items):
        start = 0
        for item in items:
            if item is model:
                layout.append((model, start))
                start += len(model.__columns__)
            else:
                layout.append((None, start))
                start += 1
    new._layout = tuple(layout) or None
    return new


def _written_sql(ctx: CompileContext, info: Any, value: Any, *, item: bool) -> str:
    """The SQL of ``value`` written to the column ``info``: a VALUES ``item`` (an
    expression in parentheses when compound) or a SET value.

    ``func.now()`` and the other current-time functions become what the dialect has for
    the current time in the column's type (``Dialect.current_time``); one that the
    column's type cannot hold (a time of day in a datetime column) is a ``ValueError``."""
    expr = coerce(value)
    function = current_time_function(expr)
    if function is not None:
        if not current_time_fits(function, info.type.kind):
            raise ValueError(_unfit_time_message(function, info))
        return ctx.dialect.current_time(function, info.type.kind)
    return expr._operand(ctx) if item else expr._sql(ctx)


def _unfit_time_message(function: str, info: Any) -> str:
    return (
        f"func.{function}() cannot be stored in {info.model.__name__}.{info.key}, "
        f"a {info.type.kind} column"
    )


def _entity_width(entity: Any) -> int:
    if isinstance(entity, AliasedClass):
        return len(entity._model.__columns__)
    return len(entity.__columns__) if is_model_class(entity) else 1


def _entity_model(entity: Any) -> type[Any] | None:
    """The model whose instances an item of a select gives: a model's, an alias's."""
    if isinstance(entity, AliasedClass):
        return entity._model
    return entity if is_model_class(entity) else None


def _returning_sql(ctx: CompileContext, cols: tuple[Column[Any], ...]) -> str:
    if not cols:
        return ""
    q = ctx.dialect.quote
    return " RETURNING " + ", ".join(_named(q(c.info.name), c.key, c.info.name, q) for c in cols)


def _named(sql: str, key: str, name: str, q: Any) -> str:
    return sql if key == name else f"{sql} AS {q(key)}"


def _check_count(value: Any, what: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} needs an int, got {value!r}")
    if value < 0:
        raise ValueError(f"{what} must not be negative, got {value}")
    return value


class Select(_Filtered):
    """``SELECT`` of models and/or expressions."""

    def __init__(self, *entities: Any) -> None:
        self._entities: tuple[Any, ...] = entities
        self._model = None
        #: the root's alias when it is an ``aliased()`` model
        self._root_alias: str | None = None
        #: relationship joins leave soft-deleted rows out (a loader's joins)
        self._live_joins = False
        for entity in entities:
            if not is_model_class(entity) and not isinstance(entity, (ColumnExpr, AliasedClass)):
                raise TypeError(f"select() takes models and column expressions, got {entity!r}")
        for entity in entities:
            if is_model_class(entity):
                self._model = _require_model(entity, "select()")
                break
            if isinstance(entity, AliasedClass):
                self._model, self._root_alias = entity._model, entity._name
                break
            column = _first_column(entity)
            if isinstance(column, AliasColumn):
                self._model, self._root_alias = column.entity._model, column.alias
                break
            if column is not None:
                self._model = column.model
                break
        self._joins: tuple[tuple[JoinTarget, str], ...] = ()
        self._group_by: tuple[ClauseElement, ...] = ()
        self._having: tuple[ClauseElement, ...] = ()
        self._order_by: tuple[OrderBy, ...] = ()
        self._limit: int | None = None
        self._offset: int | None = None
        self._distinct = False
        self._for_update: tuple[bool, bool] | None = None
        self._wrap: str | None = None
        self._options: tuple[Any, ...] = ()

    # -- builders ---------------------------------------------------------------------

    def options(self, *loader_options: Any) -> Select:
        """Relationship loader options for ``session.execute(select(Model))``:
        ``selectinload("posts")``, ``joinedload("author")``, ``noload``, ``lazyload``
        (as ``Query.options``). Only a ``select()`` of one model takes them."""
        from ormkit.orm.loading import check_options

        model = self._model
        if model is None or len(self._entities) != 1 or self._entities[0] is not model:
            raise ValueError("options() applies to select(Model) of one model")
        check_options(model, loader_options)
        new = self._clone()
        new._options = (*self._options, *loader_options)
        return new

    def scalar_subquery(self) -> ColumnExpr[Any]:
        """This select of one column as a value inside another statement:
        ``select(User.name, select(func.count(Post.id)).where(Post.author_id ==
        User.id).scalar_subquery())``."""
        from ormkit.sql.subqueries import ScalarSubquery

        return ScalarSubquery(self)

    def select_from(self, model: type[Any] | AliasedClass[Any]) -> Select:
        """Set the model (or ``aliased()`` model) to select from (for
        ``select(func.count())``)."""
        new = self._clone()
        if isinstance(model, AliasedClass):
            new._model, new._root_alias = model._model, model._name
        else:
            new._model, new._root_alias = _require_model(model, "select_from()"), None
        return new

    def with_only_columns(self, *entities: Any) -> Select:
        """The same statement selecting other columns (e.g. ``func.sum(User.age)``)."""
        new = Select(*entities)
        model = self._model
        new.__dict__.update({k: v for k, v in self.__dict__.items() if k != "_entities"})
        new._model = model
        return new

    def _relationship_path(self, target: Any) -> tuple[str, ...]:
        if self._model is None:
            raise ValueError("join() needs a model to select from")
        if isinstance(target, str):
            path = tuple(re.split(r"\.|__", target))
        elif hasattr(target, "info") and hasattr(target.info, "direction"):
            if target.info.model is not self._model:
                raise ValueError(f"join({target!r}): give the path from {self._model.__name__}")
            path = (target.info.key,)
        else:
            raise TypeError(f"join() takes a relationship name or attribute, got {target!r}")
        model = self._model
        for name in path:
            rels = getattr(model, "__relationships__", {})
            if name not in rels:
                raise ValueError(f"unknown relationship {name!r} on {model.__name__}")
            model = rels[name].target
        return path

    def join(
        self,
        target: Any,
        onclause: ClauseElement | None = None,
        *,
        isouter: bool = False,
        full: bool = False,
    ) -> Select:
        """JOIN ``target``: a relationship (``"author"``, ``"author.posts"``,
        ``Post.author``), or a model with an ON condition (``join(Post, Post.user_id ==
        User.id)``) or without one, found from the one relationship or foreign key that
        links it to the statement's models. ``isouter=True`` makes it a LEFT OUTER JOIN,
        ``full=True`` a FULL OUTER JOIN."""
        kind = "FULL OUTER" if full else "LEFT OUTER" if isouter else "INNER"
        new = self._clone()
        new._joins = (*self._joins, (self._join_target(target, onclause), kind))
        return new

    def outerjoin(
        self, target: Any, onclause: ClauseElement | None = None, *, full: bool = False
    ) -> Select:
        """LEFT OUTER JOIN ``target`` (see :meth:`join`)."""
        return self.join(target, onclause, isouter=True, full=full)

    def _join_target(self, target: Any, onclause: ClauseElement | None) -> JoinTarget:
        """What :meth:`join` joins: a relationship path, or a model and its condition."""
        if onclause is not None and not isinstance(onclause, ClauseElement):
            raise TypeError(f"join(): the ON condition must be an SQL expression, got {onclause!r}")
        if isinstance(target, AliasedClass):
            if self._model is None:
                raise ValueError("join() needs a model to select from")
            if onclause is None:
                raise ValueError(
                    f"join({target._name}): joining an alias needs its ON condition "
                    f"(.join({target._name}, <condition>))"
                )
            return _OnJoin(target._model, onclause, target._name)
        if not is_model_class(target):
            if onclause is not None:
                raise TypeError(
                    f"join({target!r}, ...): a relationship brings its own ON condition; "
                    "give a model to join on a condition"
                )
            return self._relationship_path(target)
        model = _require_model(target, "join()")
        if self._model is None:
            raise ValueError("join() needs a model to select from")
        if onclause is not None:
            return _OnJoin(model, onclause)
        rels = [k for k, r in self._model.__relationships__.items() if r.target is model]
        if len(rels) == 1:
            return (rels[0],)
        if len(rels) > 1:
            raise ValueError(
                f"join({model.__name__}): {self._model.__name__} has several relationships "
                f"to it ({', '.join(rels)}); join one by name or give an ON condition"
            )
        left = [self._model, *(j.model for j, _ in self._joins if isinstance(j, _OnJoin))]
        return _OnJoin(model, _foreign_key_condition(left, model))

    def _order_item(self, item: Any) -> OrderBy:
        if isinstance(item, OrderBy):
            return item
        if isinstance(item, str):
            m = _ORDER_STRING.match(item)
            if m is None or self._model is None:
                raise ValueError(f"order_by: {item!r} is not a column name or '-column'")
            col = _column_of(self._model, m.group(2), "order_by()")
            named = col if self._root_alias is None else AliasedColumn(col, self._root_alias)
            return OrderBy(named, descending=bool(m.group(1)))
        if isinstance(item, ColumnExpr):
            return OrderBy(item, descending=False)
        raise TypeError(f"order_by() takes column names or expressions, got {item!r}")

    def order_by(self, *items: Any) -> Select:
        """Add ORDER BY items: ``"name"``, ``"-created_at"``, ``User.name.desc()``."""
        new = self._clone()
        new._order_by = (*self._order_by, *(self._order_item(i) for i in items))
        return new

    def limit(self, n: int | None) -> Select:
        """LIMIT (bound as a parameter); None removes it."""
        new = self._clone()
        new._limit = _check_count(n, "limit()")
        return new

    def offset(self, n: int | None) -> Select:
        """OFFSET (bound as a parameter); None removes it."""
        new = self._clone()
        new._offset = _check_count(n, "offset()")
        return new

    def distinct(self, flag: bool = True) -> Select:
        """SELECT DISTINCT."""
        new = self._clone()
        new._distinct = flag
        return new

    def group_by(self, *items: Any) -> Select:
        """GROUP BY column names or expressions."""
        cols: list[ClauseElement] = []
        for item in items:
            if isinstance(item, str):
                if self._model is None:
                    raise ValueError("group_by() with a name needs a model")
                cols.append(_column_of(self._model, item, "group_by()"))
            elif isinstance(item, ColumnExpr):
                cols.append(item)
            else:
                raise TypeError(f"group_by() takes column names or expressions, got {item!r}")
        new = self._clone()
        new._group_by = (*self._group_by, *cols)
        return new

    def having(self, *conditions: ClauseElement | Select, **lookups: Any) -> Select:
        """HAVING conditions and keyword lookups (ANDed)."""
        checked = conditions_of(conditions, "having() needs SQL conditions, got {!r}")
        extra = (lookups_q(lookups, self._model),) if lookups else ()
        new = self._clone()
        new._having = (*self._having, *checked, *extra)
        return new

    def for_update(self, *, nowait: bool = False, skip_locked: bool = False) -> Select:
        """SELECT … FOR UPDATE (PostgreSQL; SQLite locks the whole database on write)."""
        new = self._clone()
        new._for_update = (nowait, skip_locked)
        return new

    def count(self) -> Select:
        """A statement giving the number of rows this one would return (column ``count``):
        with ``group_by()``, the number of groups."""
        new = self._clone()
        new._wrap = "count"
        return new

    def exists(self) -> Select:
        """A statement giving whether this one returns any row (column ``exists``). Given
        where a condition goes (``where()``, ``filter()``, ``and_``/``or_``, ``~``) it is
        ``EXISTS (…)``, correlated as ``exists(select(...))`` is."""
        new = self._clone()
        new._wrap = "exists"
        return new

    def _exists_condition(self) -> Any:
        """``EXISTS (this select)`` for :func:`as_condition`; a select that is not an
        ``exists()`` is left as it is (not a condition)."""
        if self._wrap != "exists":
            return self
        from ormkit.sql.subqueries import exists

        inner = self._clone()
        inner._wrap = None
        return exists(inner)

    def __invert__(self) -> ColumnExpr[bool]:
        """``~select(...).exists()``: ``NOT EXISTS (…)``."""
        if self._wrap != "exists":
            raise TypeError("~ applies to conditions; a select is one only as select(...).exists()")
        return not_(self._exists_condition())

    # -- compiling --------------------------------------------------------------------

    def _scope(self) -> Scope | None:
        if self._model is None:
            return None
        scope = Scope(self._model, self._root_alias)
        for path, kind in self._joins:
            if isinstance(path, _OnJoin):
                scope.join_on(path.model, path.onclause, kind, path.alias)
                continue
            model = self._model
            alias: str | None = None
            for i, name in enumerate(path):
                rel = model.__relationships__[name]
                alias = scope.join_relationship(
                    path[: i + 1], rel, alias, kind=kind, live=self._live_joins
                )
                model = rel.target
        return scope

    def _entity_columns(self, scope: Scope | None) -> list[tuple[Any, str, Any]]:
        """(expression, result name, ColumnInfo or None) per selected column; columns of
        a joined model are named ``<join alias>__<attribute>``. An unlabelled function
        is named after the function, as in SQLAlchemy (``count``; ``count_1``,
        ``count_2`` … for the next ones of that name); any other unlabelled expression has
        the name ``""``."""
        out: list[tuple[Any, str, Any]] = []
        function_names: set[str] = set()
        for entity in self._entities:
            if is_model_class(entity):
                prefix = ""
                if entity is not self._model or self._root_alias is not None:
                    if scope is None:
                        scope = self._scope()
                    assert scope is not None
                    prefix = scope.alias_for(entity) + "__"
                for info in entity.__columns__.values():
                    out.append((info.expr, prefix + info.key, info))
            elif isinstance(entity, AliasedClass):
                prefix = "" if entity._name == self._root_alias else entity._name + "__"
                for info in entity._model.__columns__.values():
                    out.append((getattr(entity, info.key), prefix + info.key, info))
            elif isinstance(entity, Column):
                out.append((entity, entity.key, entity.info))
            elif isinstance(entity, AliasColumn):
                out.append((entity, entity.column.key, entity.column.info))
            elif isinstance(entity, Label):
                out.append((entity.expr, entity.name, None))
            elif isinstance(entity, Function):
                out.append((entity, _function_column_name(entity.name, function_names), None))
            else:
                out.append((entity, "", None))
        return out

    def entity_layout(self) -> tuple[tuple[type[Any] | None, int], ...] | None:
        """As :meth:`Statement.entity_layout`: for ``select(Post, Author)`` or
        ``select(Post, Author.name)`` (several items, a model among them, no
        ``count()``/``exists()``)."""
        entities = self._entities
        if self._wrap is not None or not any(map(_entity_model, entities)):
            return None
        if len(entities) < 2 and not isinstance(entities[0], AliasedClass):
            return None  # select(Model): its own path
        layout: list[tuple[type[Any] | None, int]] = []
        start = 0
        for entity in entities:
            layout.append((_entity_model(entity), start))
            start += _entity_width(entity)
        return tuple(layout)

    def _result_columns(self) -> list[tuple[str, Any]]:
        if self._wrap == "count":
            return [("count", None)]
        if self._wrap == "exists":
            return [("exists", None)]
        return [
            (name, info if info is not None else _value_column(expr))
            for expr, name, info in self._entity_columns(None)
        ]

    def result_converters(self, dialect: str | Dialect) -> tuple[Converter, ...] | None:
        """As :meth:`Statement.result_converters`; ``exists()`` gives a bool (SQLite
        answers 0/1)."""
        if self._wrap == "exists":
            converter = _BOOL.converter(get_dialect(dialect).name)
            return None if converter is None else (converter,)
        return super().result_converters(dialect)

    def _count_subquery(self, ctx: CompileContext) -> bool:
        return bool(
            self._distinct
            or ctx.scope.distinct
            or self._group_by
            or self._limit is not None
            or self._offset is not None
            or any(not isinstance(e, Column) and not is_model_class(e) for e in self._entities)
        )

    def _key(self, ctx: CompileContext) -> Hashable:
        if self._model is None:
            return self._key_no_model(ctx)
        entities: Hashable = None
        if self._wrap != "exists":
            entities = tuple(self._entity_key(e, ctx) for e in self._entities)
        joins: Hashable = ()
        if self._joins:  # ON conditions bind between the columns and WHERE
            joins = tuple(c._key(ctx) for c in ctx.scope.join_conditions())
        parts = (
            "select",
            self._model,
            self._root_alias,
            self._wrap,
            self._distinct,
            entities,
            joins,
            self._where_key(ctx),
            tuple(g._key(ctx) for g in self._group_by),
            tuple(h._key(ctx) for h in self._having),
        )
        order = () if self._wrap else tuple(o._key(ctx) for o in self._order_by)
        if self._limit is not None:
            ctx.bind(self._limit)
        if self._offset is not None:
            ctx.bind(self._offset)
        tail = (self._limit is not None, self._offset is not None, self._for_update)
        return (*parts, order, tail)

    def _entity_key(self, entity: Any, ctx: CompileContext) -> Hashable:
        if is_model_class(entity):
            # A model's columns are fixed: the model (and where it is joined) is the shape.
            return ("model", entity, ctx.scope.alias_for(entity))
        if isinstance(entity, AliasedClass):
            if not ctx.scope.has_alias(entity._name):
                raise not_part(entity)
            return ("alias", entity._model, entity._name)
        if isinstance(entity, Label):
            return ("label", entity.name, entity.expr._key(ctx))
        key: Hashable = entity._key(ctx)
        return key

    def _key_no_model(self, ctx: CompileContext) -> Hashable:
        if self._where or self._order_by or self._group_by or self._having or self._joins:
            raise ValueError("this select has no model: use select_from(Model)")
        return ("select-nomodel", tuple(e._key(ctx) for e in self._entities), self._wrap)

    def _columns_sql(self, ctx: CompileContext) -> str:
        q = ctx.dialect.quote
        items = []
        for expr, name, info in self._entity_columns(ctx.scope):
            sql = expr._sql(ctx)
            if info is not None:
                items.append(sql if name == info.name else f"{sql} AS {q(name)}")
            elif name:
                items.append(f"{sql} AS {q(name)}")
            else:
                items.append(sql)
        return ", ".join(items)

    def _body_sql(self, ctx: CompileContext, columns: str, *, order: bool) -> str:
        scope = ctx.scope
        distinct = "DISTINCT " if (self._distinct or scope.distinct) and columns != "1" else ""
        sql = [f"SELECT {distinct}{columns} FROM {scope.from_sql(ctx)}"]
        sql.extend(" " + j.sql(ctx) for j in scope.joins)
        sql.append(self._where_sql(ctx))
        if self._group_by:
            sql.append(" GROUP BY " + ", ".join(g._sql(ctx) for g in self._group_by))
        if self._having:
            sql.append(" HAVING " + and_(*self._having)._sql(ctx))
        if order and self._order_by:
            sql.append(" ORDER BY " + ", ".join(o._sql(ctx) for o in self._order_by))
        if self._limit is not None:
            sql.append(" LIMIT " + ctx.bind(self._limit))
        if self._offset is not None:
            if self._limit is None and ctx.dialect.offset_requires_limit:
                sql.append(" LIMIT -1")
            sql.append(" OFFSET " + ctx.bind(self._offset))
        if self._for_update is not None and ctx.dialect.supports_for_update:
            nowait, skip_locked = self._for_update
            sql.append(" FOR UPDATE")
            if nowait:
                sql.append(" NOWAIT")
            elif skip_locked:
                sql.append(" SKIP LOCKED")
        return "".join(sql)

    def _sql(self, ctx: CompileContext) -> str:
        if self._model is None:
            return f"SELECT {self._columns_sql(ctx)}"
        if self._wrap == "exists":
            body = self._body_sql(ctx, "1", order=False)
            return f"SELECT EXISTS ({body}) AS {ctx.quote('exists')}"
        if self._wrap == "count":
            if self._count_subquery(ctx):
                # Grouped rows of a whole model: one row per group is what is counted,
                # and PostgreSQL refuses the model's columns beside GROUP BY (42803).
                grouped = bool(self._group_by) and any(map(is_model_class, self._entities))
                columns = "1" if grouped else self._columns_sql(ctx)
                inner = self._body_sql(ctx, columns, order=False)
                return f"SELECT count(*) AS count FROM ({inner}) AS subquery"
            return self._body_sql(ctx, "count(*) AS count", order=False)
        return self._body_sql(ctx, self._columns_sql(ctx), order=True)


class Insert(Statement):
    """``INSERT`` of one or more rows, with optional upsert and RETURNING."""

    def __init__(self, model: type[Any]) -> None:
        self._model = _require_model(model, "insert()")
        self._rows: tuple[dict[str, Any], ...] = ()
        self._returning: tuple[Column[Any], ...] = ()
        self._conflict: tuple[str, tuple[str, ...], tuple[str, ...]] | None = None
        #: columns some row got from its ``default=`` rather than from the caller
        self._defaulted: frozenset[str] = frozenset()

    def _row(self, row: Any, defaulted: set[str] | None) -> dict[str, Any]:
        model = self._model
        assert model is not None
        if isinstance(row, model):
            return dict(type(row).__ormkit_insert_values__(row))  # defaults already set
        if not isinstance(row, Mapping):
            raise TypeError(f"values() takes dicts or {model.__name__} instances, got {row!r}")
        for key in row:
            _column_of(model, key, "values()")
        out = dict(row)
        if defaulted is not None:
            for key, info in model.__columns__.items():
                if key not in out and info.has_default:
                    out[key] = info.make_default()
                    defaulted.add(key)
        return out

    def values(self, *rows: Any, **values: Any) -> Insert:
        """Set the rows: ``values(name="Ann")``, ``values({...})``, ``values([{...}, …])``
        or model instances. Keys are column attribute names. A column left out of a row
        gets its ``default=`` (as the model's constructor would give it); an upsert's
        default update list leaves such columns alone."""
        return self._values(rows, values, defaults=True)

    def _values_as_given(self, rows: Sequence[Any]) -> Insert:
        """``values(rows)`` without defaults: the rows the session builds are complete."""
        return self._values(rows, {}, defaults=False)

    def _values(self, rows: Sequence[Any], values: dict[str, Any], *, defaults: bool) -> Insert:
        items: list[dict[str, Any]] = []
        defaulted: set[str] | None = set() if defaults else None
        for arg in rows:
            if isinstance(arg, list | tuple):
                items.extend(self._row(r, defaulted) for r in arg)
            else:
                items.append(self._row(arg, defaulted))
        if values:
            if items:
                raise TypeError("values() takes rows or keywords, not both")
            items.append(self._row(values, defaulted))
        new = self._clone()
        new._rows = tuple(items)
        new._defaulted = frozenset(defaulted or ())
        return new

    def returning(self, *cols: Any) -> Insert:
        """RETURNING the given columns (names, ``User.id``, or the model for all: then
        ``session.execute`` gives model instances)."""
        return _returning(self, cols)

    def _conflict_columns(self, cols: Iterable[Any], what: str) -> tuple[str, ...]:
        assert self._model is not None
        if isinstance(cols, str | Column):
            cols = (cols,)
        out = tuple(_column_of(self._model, c, what).key for c in cols)
        return out

    def on_conflict_do_update(
        self, conflict_target: Iterable[Any], update_fields: Iterable[Any] | None = None
    ) -> Insert:
        """Upsert: ``ON CONFLICT (target) DO UPDATE SET f = excluded.f``. By default
        every inserted column outside the conflict target and primary key is updated."""
        target = self._conflict_columns(conflict_target, "on_conflict_do_update()")
        if not target:
            raise ValueError("on_conflict_do_update() needs a conflict target")
        fields = (
            ()
            if update_fields is None
            else self._conflict_columns(update_fields, "on_conflict_do_update()")
        )
        if update_fields is not None and not fields:
            raise ValueError(
                "on_conflict_do_update() needs columns to update; to leave a conflicting "
                "row as it is, use on_conflict_do_nothing()"
            )
        new = self._clone()
        new._conflict = ("update" if update_fields is not None else "update-all", target, fields)
        return new

    def on_conflict_do_nothing(self, conflict_target: Iterable[Any] = ()) -> Insert:
        """``ON CONFLICT [(target)] DO NOTHING``."""
        target = self._conflict_columns(conflict_target, "on_conflict_do_nothing()")
        new = self._clone()
        new._conflict = ("nothing", target, ())
        return new

    def _result_columns(self) -> list[tuple[str, Any]]:
        return [(c.key, c.info) for c in self._returning]

    def _columns(self) -> tuple[str, ...]:
        assert self._model is not None
        if not self._rows:
            return ()
        keys = set(self._rows[0])
        for row in self._rows[1:]:
            if set(row) != keys:
                raise ValueError(
                    "all rows of a multi-row insert need the same columns; "
                    "use to_sql_batches() to group them"
                )
        return tuple(k for k in self._model.__columns__ if k in keys)

    def _update_fields(self, columns: tuple[str, ...]) -> tuple[str, ...]:
        assert self._conflict is not None and self._model is not None
        mode, target, fields = self._conflict
        if mode == "update":
            return fields
        pk = self._model.__primary_key__
        skip = {pk} if isinstance(pk, str) else set(pk)
        skip.update(target, self._defaulted)
        fields = tuple(c for c in columns if c not in skip)
        return fields or target[:1]

    def _key(self, ctx: CompileContext) -> Hashable:
        columns = self._columns()
        rows = tuple(tuple(coerce(row[c])._key(ctx) for c in columns) for row in self._rows)
        conflict: Hashable = None
        if self._conflict is not None:
            conflict = (self._conflict[0], self._conflict[1], self._update_fields(columns))
        n_params = len(ctx.params)
        if n_params > ctx.dialect.max_params:
            raise ValueError(
                f"insert of {len(self._rows)} rows binds {n_params} parameters, more than "
                f"{ctx.dialect.name} allows ({ctx.dialect.max_params}); use to_sql_batches()"
            )
        return ("insert", self._model, columns, rows, conflict, self._returning)

    def _sql(self, ctx: CompileContext) -> str:
        assert self._model is not None
        q = ctx.dialect.quote
        columns = self._columns()
        table = q(self._model.__tablename__)
        names = [q(self._model.__columns__[c].name) for c in columns]
        if not columns:
            if len(self._rows) > 1:
                raise ValueError("a multi-row insert needs at least one column")
            sql = f"INSERT INTO {table} DEFAULT VALUES"
        else:
            infos = [self._model.__columns__[c] for c in columns]
            rows = ", ".join(
                "("
                + ", ".join(
                    _written_sql(ctx, info, row[c], item=True)
                    for c, info in zip(columns, infos, strict=True)
                )
                + ")"
                for row in self._rows
            )
            sql = f"INSERT INTO {table} ({', '.join(names)}) VALUES {rows}"
        if self._conflict is not None:
            mode, target, _fields = self._conflict
            target_sql = (
                "(" + ", ".join(q(self._model.__columns__[c].name) for c in target) + ")"
                if target
                else ""
            )
            if mode == "nothing":
                sql += f" ON CONFLICT {target_sql} DO NOTHING".replace("  ", " ")
            else:
                infos = self._model.__columns__
                version = self._model.__version_column__
                sets = [
                    f"{q(infos[c].name)} = excluded.{q(infos[c].name)}"
                    for c in self._update_fields(columns)
                    if c != version
                ]
                if version is not None:  # the row changes: its version moves on, never back
                    name = q(infos[version].name)
                    sets.append(f"{name} = {table}.{name} + 1")
                sql += f" ON CONFLICT {target_sql} DO UPDATE SET {', '.join(sets)}"
        return sql + _returning_sql(ctx, self._returning)

    def to_sql_batches(
        self, dialect: str | Dialect, *, max_rows: int | None = None
    ) -> list[tuple[str, list[Any], int]]:
        """Split the rows into statements under the dialect's bind-parameter limit.

        Consecutive rows with the same columns share a statement; returns
        ``[(sql, params, row_count), …]`` in row order.
        """
        d = get_dialect(dialect)
        batches: list[tuple[str, list[Any], int]] = []
        group: list[dict[str, Any]] = []

        def flush() -> None:
            if not group:
                return
            per_row = max(1, len(group[0]))
            size = d.rows_per_statement(per_row)
            if max_rows is not None:
                size = max(1, min(size, max_rows))
            if not group[0]:
                size = 1
            for start in range(0, len(group), size):
                chunk = group[start : start + size]
                stmt = self._clone()
                stmt._rows = tuple(chunk)
                sql, params = stmt.to_sql(d)
                batches.append((sql, params, len(chunk)))
            group.clear()

        for row in self._rows:
            if group and set(row) != set(group[0]):
                flush()
            group.append(row)
        flush()
        return batches


class Update(_Filtered):
    """``UPDATE`` with SET values (plain values or expressions such as ``User.n + 1``)."""

    def __init__(self, model: type[Any]) -> None:
        self._model = _require_model(model, "update()")
        self._values: dict[str, Any] = {}
        self._returning: tuple[Column[Any], ...] = ()

    def values(self, values: Mapping[str, Any] | None = None, **kwargs: Any) -> Update:
        """Set columns: ``values(name="Ann")`` or ``values({"name": "Ann"})``."""
        assert self._model is not None
        merged = {**(values or {}), **kwargs}
        for key in merged:
            _column_of(self._model, key, "values()")
        new = self._clone()
        new._values = {**self._values, **merged}
        return new

    def returning(self, *cols: Any) -> Update:
        """RETURNING the given columns (names, ``User.id``, or the model for all: then
        ``session.execute`` gives model instances)."""
        return _returning(self, cols)

    def _result_columns(self) -> list[tuple[str, Any]]:
        return [(c.key, c.info) for c in self._returning]

    def _ordered(self) -> list[str]:
        assert self._model is not None
        if not self._values:
            raise ValueError(f"update({self._model.__name__}) needs values()")
        return [k for k in self._model.__columns__ if k in self._values]

    def _key(self, ctx: CompileContext) -> Hashable:
        sets = tuple((k, coerce(self._values[k])._key(ctx)) for k in self._ordered())
        return ("update", self._model, sets, self._where_key(ctx), self._returning)

    def _sql(self, ctx: CompileContext) -> str:
        assert self._model is not None
        q = ctx.dialect.quote
        cols = self._model.__columns__
        sets = ", ".join(
            f"{q(cols[k].name)} = {_written_sql(ctx, cols[k], self._values[k], item=False)}"
            for k in self._ordered()
        )
        sql = f"UPDATE {q(self._model.__tablename__)} SET {sets}"
        sql += _where_via_pk(self, ctx)
        return sql + _returning_sql(ctx, self._returning)


class Delete(_Filtered):
    """``DELETE`` with optional RETURNING."""

    def __init__(self, model: type[Any]) -> None:
        self._model = _require_model(model, "delete()")
        self._returning: tuple[Column[Any], ...] = ()

    def returning(self, *cols: Any) -> Delete:
        """RETURNING the given columns (names, ``User.id``, or the model for all: then
        ``session.execute`` gives model instances)."""
        return _returning(self, cols)

    def _result_columns(self) -> list[tuple[str, Any]]:
        return [(c.key, c.info) for c in self._returning]

    def _key(self, ctx: CompileContext) -> Hashable:
        return ("delete", self._model, self._where_key(ctx), self._returning)

    def _sql(self, ctx: CompileContext) -> str:
        assert self._model is not None
        sql = f"DELETE FROM {ctx.quote(self._model.__tablename__)}"
        sql += _where_via_pk(self, ctx)
        return sql + _returning_sql(ctx, self._returning)


def _where_via_pk(stmt: _Filtered, ctx: CompileContext) -> str:
    """WHERE for UPDATE/DELETE; with joins, ``pk IN (SELECT pk FROM … JOIN … WHERE …)``."""
    if not ctx.scope.qualify:
        return stmt._where_sql(ctx)
    model = ctx.scope.root
    q = ctx.dialect.quote
    pk = model.__primary_key__
    names = [model.__columns__[k].name for k in ((pk,) if isinstance(pk, str) else pk)]
    table = q(model.__tablename__)
    outer = ", ".join(q(n) for n in names)
    inner = ", ".join(f"{table}.{q(n)}" for n in names)
    joins = "".join(" " + j.sql(ctx) for j in ctx.scope.joins)
    where = stmt._where_sql(ctx)
    if len(names) > 1:
        outer = f"({outer})"
    return f" WHERE {outer} IN (SELECT {inner} FROM {table}{joins}{where})"


def select(*entities: Any) -> Select:
    """``SELECT`` models and/or column expressions: ``select(User)``, ``select(User.id)``."""
    return Select(*entities)


def insert(model: type[Any]) -> Insert:
    """``INSERT INTO`` the model's table."""
    return Insert(model)


def update(model: type[Any]) -> Update:
    """``UPDATE`` the model's table."""
    return Update(model)


def delete(model: type[Any]) -> Delete:
    """``DELETE FROM`` the model's table."""
    return Delete(model)
