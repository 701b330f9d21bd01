"""``aliased(Model)``: a model under another name in one statement, as in SQLAlchemy, for
joining a table to itself (an employee and their manager) and for a subquery on the
table of the statement around it.

    Manager = aliased(Employee)
    select(Employee.name, Manager.name).join(Manager, Employee.manager_id == Manager.id)
    select(Employee).where(exists().where(Manager.id == Employee.manager_id, Manager.age > 60))

An alias's attributes are its model's columns under the alias (``manager.name`` in SQL).
The model's own columns keep naming the unaliased table, or the enclosing statement's
row inside a subquery.
"""

from __future__ import annotations

import weakref
from collections.abc import Hashable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from ormkit.sql.expressions import AliasedColumn, ClauseElement, Column, slot_names
from ormkit.sql.mapped import is_model_class

if TYPE_CHECKING:
    from ormkit.sql.compiler import CompileContext

__all__ = ["AliasColumn", "AliasedClass", "adapt_to_alias", "aliased", "not_part"]

T = TypeVar("T")

#: per table, the default-named aliases alive, by number: a new one takes the lowest
#: number free, so an alias made anew for every request (``aliased(User)`` in a
#: function) gets the same name each time, and its statements the same cache entry
_live: dict[str, weakref.WeakValueDictionary[int, AliasedClass[Any]]] = {}


class AliasedClass(Generic[T]):
    """A model under an alias (see :func:`aliased`). Not a model class: it selects,
    joins and compares, and rows selected through it are instances of the model."""

    __slots__ = ("__weakref__", "_columns", "_model", "_name")

    def __init__(self, model: type[T], name: str) -> None:
        self._model = model
        self._name = name
        self._columns: dict[str, AliasColumn] = {}

    def __getattr__(self, key: str) -> Any:
        if key.startswith("__"):
            raise AttributeError(key)
        found = self._columns.get(key)
        if found is not None:
            return found
        model = self._model
        info = model.__columns__.get(key)  # type: ignore[attr-defined]
        if info is None:
            if key in getattr(model, "__relationships__", {}):
                raise AttributeError(
                    f"{self!r}.{key}: an alias has its model's columns, not its "
                    "relationships; join on a condition with its columns"
                )
            raise AttributeError(f"{model.__name__} has no column {key!r} (alias {self._name!r})")
        column = AliasColumn(info.expr, self)
        self._columns[key] = column
        return column

    def __repr__(self) -> str:
        return f"aliased({self._model.__name__}, name={self._name!r})"


class AliasColumn(AliasedColumn):
    """A column of an :class:`AliasedClass`: ``alias.column`` in SQL, valid where the
    statement (or one around it) selects from or joins that alias."""

    __slots__ = ("entity",)

    def __init__(self, column: Column[Any], entity: AliasedClass[Any]) -> None:
        super().__init__(column, entity._name)
        self.entity = entity

    def __repr__(self) -> str:
        return f"{self.entity._name}.{self.column.key}"

    def _key(self, ctx: CompileContext) -> Hashable:
        scope = ctx.scope
        if scope is None or not scope.has_alias_within(self.alias):
            raise not_part(self.entity)
        return ctx.column_key(self.column, self.alias)

    def _sql(self, ctx: CompileContext) -> str:
        name = ctx.quote(self.column.info.name)
        scope = ctx.scope
        if not scope.qualify and scope.aliased and scope.root_alias == self.alias:
            return name
        return f"{ctx.quote(self.alias)}.{name}"


def not_part(alias: AliasedClass[Any]) -> ValueError:
    """The error of a statement that uses ``alias`` without selecting from it or joining
    it. (A function, not a method: an alias's attributes are its model's columns.)"""
    return ValueError(
        f"{alias!r} is not part of this statement: select from it or "
        f".join({alias._name}, <condition>)"
    )


def aliased(model: type[T], name: str | None = None) -> AliasedClass[T]:
    """``model`` under another name for one statement: ``Manager = aliased(Employee)``
    (its SQL name ``employees_1``, ``employees_2`` …, or ``name``). Use its columns
    (``Manager.name``) in conditions and select lists, ``select(Manager)`` for rows
    of the model, and ``.join(Manager, <condition>)`` to join the table again."""
    if not is_model_class(model):
        raise TypeError(f"aliased() takes a model class, got {model!r}")
    table: str = model.__tablename__
    if name is None:
        live = _live.setdefault(table, weakref.WeakValueDictionary())
        number = next(n for n in range(1, len(live) + 2) if n not in live)
        alias = AliasedClass(model, f"{table}_{number}")
        live[number] = alias
        return alias
    if not isinstance(name, str) or not name or "\x00" in name:
        raise ValueError(f"aliased(): the name must be a non-empty string, got {name!r}")
    elif name == table:
        raise ValueError(f"aliased(): the name {name!r} is the table's own")
    return AliasedClass(model, name)


def adapt_to_alias(node: Any, alias: AliasedClass[Any], what: str = "") -> Any:
    """A copy of the expression ``node`` in which the columns of ``alias``'s model name
    the alias (what a relationship of a model to itself compares its related rows
    with); nodes without such a column are shared, not copied. A subquery inside
    ``node`` is refused (``NotImplementedError``, ``what`` naming the call): its
    columns of the model could mean the alias or the outer row."""
    if isinstance(node, Column):
        return getattr(alias, node.key) if node.model is alias._model else node
    if isinstance(node, tuple | list):
        items = [adapt_to_alias(item, alias, what) for item in node]
        if all(a is b for a, b in zip(items, node, strict=True)):
            return node
        return type(node)(items)
    if not isinstance(node, ClauseElement) or isinstance(node, AliasedColumn):
        return node
    if hasattr(node, "query"):  # exists(), a scalar subquery, in_(select(...))
        model = alias._model.__name__
        raise NotImplementedError(
            f"{what}: a subquery in the condition of a relationship of {model} to itself "
            f"is ambiguous (its {model} columns could be the related row's or the outer "
            f"row's); write it with aliased(): related = aliased({model}); "
            "exists().where(<link with related's columns>, <conditions>)"
        )
    values: dict[str, Any] = {}
    changed = False
    for slot in slot_names(type(node)):
        if not hasattr(node, slot):
            continue
        value = getattr(node, slot)
        values[slot] = adapted = adapt_to_alias(value, alias, what)
        changed = changed or adapted is not value
    if not changed:
        return node
    copy = object.__new__(type(node))
    for slot, value in values.items():
        object.__setattr__(copy, slot, value)
    if hasattr(node, "__dict__"):
        copy.__dict__.update(node.__dict__)
    return copy
