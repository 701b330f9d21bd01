"""Subqueries inside a statement: ``exists(select(...))``, ``exists().where(...)`` and
``select(...).scalar_subquery()``. Their columns may name the enclosing statement's
models (``Post.author_id == User.id`` inside a select of ``User``): the subquery
correlates, as in SQLAlchemy."""

from __future__ import annotations

from collections.abc import Hashable
from typing import TYPE_CHECKING, Any

from ormkit.sql.aliases import AliasColumn, AliasedClass, adapt_to_alias, aliased
from ormkit.sql.compiler import subquery_key, subquery_sql
from ormkit.sql.expressions import (
    ClauseElement,
    Column,
    ColumnExpr,
    as_condition,
    slot_names,
)
from ormkit.sql.mapped import is_model_class

if TYPE_CHECKING:
    from ormkit.sql.compiler import CompileContext

__all__ = [
    "Exists",
    "InferredExists",
    "ScalarSubquery",
    "Subquery",
    "exists",
    "relationship_exists",
]


def _select_of(query: Any, what: str) -> Any:
    from ormkit.sql.statements import Select

    if not isinstance(query, Select):
        raise TypeError(f"{what} takes a select(...), got {query!r}")
    if query._model is None:
        raise ValueError(f"{what}: the select has no model to select from")
    return query


class Subquery(ColumnExpr[Any]):
    """A select compiled inside another statement (``subquery_key``/``subquery_sql``)."""

    __slots__ = ("query",)

    def __init__(self, query: Any) -> None:
        self.query = query


class Exists(Subquery):
    """``EXISTS (SELECT …)``; ``~exists(...)`` is ``NOT EXISTS``."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"exists({self.query!r})"

    def _key(self, ctx: CompileContext) -> Hashable:
        return ("exists", subquery_key(ctx, self.query))

    def _sql(self, ctx: CompileContext) -> str:
        return f"EXISTS ({subquery_sql(ctx, self.query)})"

    @property
    def value_info(self) -> Any:
        """Selected as a value (``select(exists(...))``), it reads back as a ``bool`` on
        both backends (SQLite stores 0/1)."""
        from ormkit.sql.statements import BOOL_VALUE

        return BOOL_VALUE

    def where(self, *conditions: ClauseElement | Any) -> Exists:
        """The same ``EXISTS`` with more conditions in its subquery."""
        return Exists(self.query.where(*conditions))


class InferredExists(Exists):
    """``exists().where(Post.author_id == User.id)``: SQLAlchemy's form, whose FROM is the
    one table its conditions (and selected column) name that the enclosing statement does
    not: the rest correlate. Found when the statement is compiled, since only then is
    the enclosing statement known."""

    __slots__ = ("conditions", "entity", "from_model")

    def __init__(
        self,
        entity: Any = None,
        conditions: tuple[ClauseElement, ...] = (),
        from_model: type[Any] | AliasedClass[Any] | None = None,
    ) -> None:
        super().__init__(None)
        self.entity = entity
        self.conditions = conditions
        self.from_model = from_model

    def __repr__(self) -> str:
        return f"exists().where{self.conditions!r}"

    def where(self, *conditions: ClauseElement | Any) -> InferredExists:
        """Add conditions (column expressions) to the subquery."""
        checked = []
        for condition in map(as_condition, conditions):
            if not isinstance(condition, ClauseElement):
                raise TypeError(f"exists().where() takes SQL conditions, got {condition!r}")
            checked.append(condition)
        return InferredExists(self.entity, (*self.conditions, *checked), self.from_model)

    def select_from(self, model: type[Any] | AliasedClass[Any]) -> InferredExists:
        """Name the subquery's FROM model (or ``aliased()`` model) instead of inferring
        it."""
        if not is_model_class(model) and not isinstance(model, AliasedClass):
            raise TypeError(f"exists().select_from() takes a model class, got {model!r}")
        return InferredExists(self.entity, self.conditions, model)

    def _query(self, ctx: CompileContext) -> Any:
        from ormkit.sql.statements import select

        source = self.from_model
        if source is None:
            named: list[Any] = [] if self.entity is None else [_source_of(self.entity)]
            for column in columns_in(self.conditions, []):
                found = _source_of(column)
                if found not in named:
                    named.append(found)
            own = [m for m in named if not _visible(ctx.scope, m)]
            if not own:
                raise ValueError(
                    "exists(): no table to select from; its conditions name "
                    + (
                        "only the enclosing statement's tables"
                        if named
                        else "no column (give .where() column expressions)"
                    )
                    + ". Write exists(select(Model.id).where(...)) or "
                    "exists().select_from(Model)"
                )
            if len(own) > 1:
                names = ", ".join(_source_name(m) for m in own)
                raise ValueError(
                    f"exists().where(...) names the columns of several tables ({names}); "
                    "write exists(select(...).join(...).where(...)) to say how they join"
                )
            source = own[0]
        if self.entity is None:
            model = source._model if isinstance(source, AliasedClass) else source
            pk = model.__primary_key__
            key = pk if isinstance(pk, str) else pk[0]
            entity = getattr(source, key)  # the alias's column, or the model's
        else:
            entity = self.entity
        return select(entity).select_from(source).where(*self.conditions)

    def _key(self, ctx: CompileContext) -> Hashable:
        return ("exists", subquery_key(ctx, self._query(ctx)))

    def _sql(self, ctx: CompileContext) -> str:
        return f"EXISTS ({subquery_sql(ctx, self._query(ctx))})"


class ScalarSubquery(Subquery):
    """``(SELECT one column …)`` used as a value: in a select list, a comparison, an
    ORDER BY. Its value is read back as the selected column's type."""

    __slots__ = ()

    def __init__(self, query: Any) -> None:
        query = _select_of(query, "scalar_subquery()")
        if len(query._entities) != 1 or isinstance(query._entities[0], type):
            raise ValueError("scalar_subquery() needs a select of exactly one column")
        super().__init__(query)

    def __repr__(self) -> str:
        return f"scalar_subquery({self.query!r})"

    @property
    def value_info(self) -> Any:
        """What the value is read back as: the selected column's info, or None."""
        from ormkit.sql.statements import _value_column

        return _value_column(self.query._entities[0])

    def _key(self, ctx: CompileContext) -> Hashable:
        return ("scalar_subquery", subquery_key(ctx, self.query))

    def _sql(self, ctx: CompileContext) -> str:
        return f"({subquery_sql(ctx, self.query)})"


def columns_in(node: Any, out: list[Any]) -> list[Any]:
    """Append to ``out`` the model columns (and ``aliased()`` models' columns) inside an
    expression or a tuple of them, in order; not those inside a subquery, which has its
    own FROM. Returns ``out``."""
    if isinstance(node, (Column, AliasColumn)):
        out.append(node)
    elif isinstance(node, (tuple, list)):
        for child in node:
            columns_in(child, out)
    elif isinstance(node, ClauseElement) and not isinstance(node, Subquery):
        for slot in slot_names(type(node)):
            columns_in(getattr(node, slot, None), out)
    return out


def _source_of(entity: Any) -> Any:
    """The FROM item a selected entity or a column names: a model, or an alias."""
    if isinstance(entity, AliasColumn):
        return entity.entity
    if isinstance(entity, Column):
        return entity.model
    return entity


def _source_name(source: Any) -> str:
    return repr(source) if isinstance(source, AliasedClass) else str(source.__name__)


def _visible(scope: Any, source: Any) -> bool:
    """Whether the statement around (``scope``) already has ``source`` (it correlates)."""
    if scope is None:
        return False
    if isinstance(source, AliasedClass):
        return bool(scope.has_alias_within(source._name))
    return bool(scope.sees_within(source))


def exists(query: Any = None) -> Exists:
    """``EXISTS (query)``, a condition: ``select(User).where(exists(select(Post.id)
    .where(Post.author_id == User.id)))``; ``~exists(...)`` negates it. Without a select
    (``exists().where(Post.author_id == User.id)``, or ``exists(Post.id)``) the FROM is
    the one table the conditions name that the enclosing statement does not."""
    from ormkit.sql.statements import Select

    if query is None or isinstance(query, Column | AliasColumn | AliasedClass):
        return InferredExists(query)
    if is_model_class(query):
        return InferredExists(query)
    if not isinstance(query, Select):
        raise TypeError(f"exists() takes a select(...), a column or a model, got {query!r}")
    return Exists(_select_of(query, "exists()"))


def relationship_exists(info: Any, criterion: Any, filters: dict[str, Any], what: str) -> Exists:
    """``EXISTS`` of a related row for ``User.posts.any(...)`` / ``Post.author.has(...)``:
    the target's rows linked to the enclosing statement's row (through the association
    table for many-to-many) that also match ``criterion`` and the ``filters``
    (``name="Ann"``, lookups as in ``filter_by``)."""
    from ormkit.sql.expressions import ClauseElement, and_
    from ormkit.sql.statements import select

    model, target = info.model, info.target
    if criterion is not None and not isinstance(criterion, ClauseElement):
        raise TypeError(f"{what}() takes an SQL condition, got {criterion!r}")
    # A relationship of a model to itself: the related rows come from the table under
    # an alias, and the criterion's columns of the model name that alias (as in
    # SQLAlchemy); the model's own columns name the enclosing statement's row.
    related: Any = target
    if target is model:
        related = aliased(target, name=f"{target.__tablename__}_{info.key}")
        if criterion is not None:
            criterion = adapt_to_alias(criterion, related, f"{model.__name__}.{info.key}.{what}()")
    pk = target.__primary_key__
    first_pk = getattr(related, pk if isinstance(pk, str) else pk[0])
    local = [model.__columns__[c].expr for c in info.local_columns]
    if info.direction == "many_to_many":
        link = info.secondary_model
        on = and_(
            *(
                getattr(related, r) == link.__columns__[s].expr
                for r, s in zip(info.remote_columns, info.secondary_remote_columns, strict=True)
            )
        )
        linked = [
            link.__columns__[s].expr == c
            for s, c in zip(info.secondary_local_columns, local, strict=True)
        ]
        stmt = select(first_pk).join(link, on).where(*linked)
    else:
        stmt = select(first_pk).where(
            *(getattr(related, r) == c for r, c in zip(info.remote_columns, local, strict=True))
        )
    if criterion is not None:
        stmt = stmt.where(criterion)
    if filters:
        stmt = stmt.filter_by(**filters)
    return Exists(stmt)
