"""Subqueries inside a statement: ``exists(select(...))`` and
``select(...).scalar_subquery()``. Their columns may name the enclosing statement's
models (``Post.author_id == User.id`` inside a select of ``User``): the subquery
correlates, as in SQLAlchemy."""

from __future__ import annotations

from collections.abc import Hashable
from typing import TYPE_CHECKING, Any

from ormkit.sql.compiler import subquery_key, subquery_sql
from ormkit.sql.expressions import ColumnExpr

if TYPE_CHECKING:
    from ormkit.sql.compiler import CompileContext

__all__ = ["Exists", "ScalarSubquery", "exists", "relationship_exists"]


def _select_of(query: Any, what: str) -> Any:
    from ormkit.sql.statements import Select

    if not isinstance(query, Select):
        raise TypeError(f"{what} takes a select(...), got {query!r}")
    if query._model is None:
        raise ValueError(f"{what}: the select has no model to select from")
    return query


class _Subquery(ColumnExpr[Any]):
    """A select compiled inside another statement (``subquery_key``/``subquery_sql``)."""

    __slots__ = ("query",)

    def __init__(self, query: Any) -> None:
        self.query = query


class Exists(_Subquery):
    """``EXISTS (SELECT …)``; ``~exists(...)`` is ``NOT EXISTS``."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"exists({self.query!r})"

    def _key(self, ctx: CompileContext) -> Hashable:
        return ("exists", subquery_key(ctx, self.query))

    def _sql(self, ctx: CompileContext) -> str:
        return f"EXISTS ({subquery_sql(ctx, self.query)})"


class ScalarSubquery(_Subquery):
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


def exists(query: Any) -> ColumnExpr[bool]:
    """``EXISTS (query)``, a condition: ``select(User).where(exists(select(Post.id)
    .where(Post.author_id == User.id)))``; ``~exists(...)`` negates it."""
    return Exists(_select_of(query, "exists()"))


def relationship_exists(info: Any, criterion: Any, filters: dict[str, Any], what: str) -> Exists:
    """``EXISTS`` of a related row for ``User.posts.any(...)`` / ``Post.author.has(...)``:
    the target's rows linked to the enclosing statement's row (through the association
    table for many-to-many) that also match ``criterion`` and the ``filters``
    (``name="Ann"``, lookups as in ``filter_by``)."""
    from ormkit.sql.expressions import ClauseElement, and_
    from ormkit.sql.statements import select

    model, target = info.model, info.target
    if target is model:
        raise NotImplementedError(
            f"{model.__name__}.{info.key}.{what}(): a relationship of a model to itself "
            "needs table aliases, which ormkit does not have; filter with a subquery on "
            "the foreign key instead"
        )
    if criterion is not None and not isinstance(criterion, ClauseElement):
        raise TypeError(f"{what}() takes an SQL condition, got {criterion!r}")
    columns = target.__columns__
    pk = target.__primary_key__
    first_pk = columns[pk if isinstance(pk, str) else pk[0]].expr
    local = [model.__columns__[c].expr for c in info.local_columns]
    if info.direction == "many_to_many":
        link = info.secondary_model
        on = and_(
            *(
                columns[r].expr == link.__columns__[s].expr
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
            *(columns[r].expr == c for r, c in zip(info.remote_columns, local, strict=True))
        )
    if criterion is not None:
        stmt = stmt.where(criterion)
    if filters:
        stmt = stmt.filter_by(**filters)
    return Exists(stmt)
