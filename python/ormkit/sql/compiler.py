"""The one SQL compiler: statements and expressions → ``(sql, params)`` for a dialect.

Compiling happens in two walks over the same tree. The *shape* walk resolves lookups
(adding joins), checks every column against the statement's models, collects the bound
parameters in the order they appear in the SQL and builds a hashable key in which the
values are replaced by markers. If that key was compiled before, the cached SQL is
reused with the new parameters; otherwise the *SQL* walk builds the text through the
dialect (quoting, placeholders, operators) and the result is cached.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from typing import TYPE_CHECKING, Any

from ormkit.dialects.base import Dialect, get_dialect

if TYPE_CHECKING:
    from ormkit.sql.expressions import ClauseElement, Column, ColumnExpr
    from ormkit.sql.lookups import Q

__all__ = [
    "CompileContext",
    "Join",
    "Scope",
    "cache_info",
    "clear_cache",
    "compile_statement",
    "subquery_key",
    "subquery_sql",
]


class Join:
    """One join of a statement: ``<kind> JOIN table AS alias ON …``, its condition either
    column equalities (a relationship) or an expression (``join(Post, Post.user_id ==
    User.id)``)."""

    __slots__ = ("alias", "kind", "live", "model", "named", "on", "onclause")

    def __init__(
        self,
        kind: str,
        model: type[Any],
        alias: str,
        on: tuple[tuple[str, str, str, str], ...],
        onclause: ClauseElement | None = None,
        named: bool = False,
        live: bool = False,
    ) -> None:
        self.kind = kind
        self.model = model
        self.alias = alias
        #: joined as an ``aliased()`` model: only that alias's columns name it
        self.named = named
        #: a ``SoftDeleteMixin`` model's soft-deleted rows are left out (in ON, so an
        #: outer join still gives its left row): what a loader's join reads
        self.live = live
        #: (left alias, left column name, right alias, right column name)
        self.on = on
        #: the ON condition as an expression (its shape is part of the statement's key)
        self.onclause = onclause

    def key(self) -> Hashable:
        """The join's part of a statement's cache key."""
        return (
            self.kind,
            self.model,
            self.alias,
            self.on,
            self.onclause is None,
            self.named,
            self.live,
        )

    def sql(self, ctx: CompileContext) -> str:
        """The JOIN clause."""
        q = ctx.dialect.quote
        table = q(self.model.__tablename__)
        alias = q(self.alias)
        target = table if alias == table else f"{table} AS {alias}"
        if self.onclause is not None:
            return f"{self.kind} JOIN {target} ON {self.onclause._sql(ctx)}"
        conditions = " AND ".join(
            f"{q(la)}.{q(lc)} = {q(ra)}.{q(rc)}" for la, lc, ra, rc in self.on
        )
        hidden = getattr(self.model, "__soft_delete_column__", None) if self.live else None
        if hidden in self.model.__columns__:
            conditions += f" AND {alias}.{q(self.model.__columns__[hidden].name)} IS NULL"
        return f"{self.kind} JOIN {target} ON {conditions}"


class Scope:
    """The models a statement can see: its root model and the joins added to it. A
    root or join that is an ``aliased()`` model is seen only through that alias's
    columns: the model's own columns then name another FROM item (or the enclosing
    statement's, in a subquery)."""

    __slots__ = ("_aliases", "_joins", "aliased", "distinct", "parent", "root", "root_alias")

    def __init__(self, root: type[Any], alias: str | None = None) -> None:
        self.root = root
        #: the enclosing statement's scope, for a subquery (its columns correlate)
        self.parent: Scope | None = None
        self.root_alias: str = alias or root.__tablename__
        #: whether the root is an ``aliased()`` model (``FROM table AS alias``)
        self.aliased = alias is not None
        self._joins: dict[tuple[str, ...], Join] = {}
        self._aliases: set[str] = {self.root_alias}
        #: True once a join to a collection makes rows repeat (SELECT gets DISTINCT).
        self.distinct = False

    @property
    def joins(self) -> list[Join]:
        """Joins in the order they were added (each one's left side precedes it)."""
        return list(self._joins.values())

    @property
    def qualify(self) -> bool:
        """Whether column names must be qualified (``table.column``)."""
        return bool(self._joins)

    def key(self) -> Hashable:
        """The joins' part of a statement's cache key."""
        return (self.distinct, tuple(j.key() for j in self._joins.values()))

    def _new_alias(self, wanted: str) -> str:
        alias = wanted
        n = 1
        while alias in self._aliases:
            n += 1
            alias = f"{wanted}_{n}"
        self._aliases.add(alias)
        return alias

    def join_relationship(
        self,
        path: tuple[str, ...],
        rel: Any,
        parent_alias: str | None,
        kind: str = "LEFT OUTER",
        live: bool = False,
    ) -> str:
        """Join the relationship at ``path`` (once) and return the target's alias."""
        existing = self._joins.get(path)
        if existing is not None:
            return existing.alias
        left = parent_alias or self.root_alias
        alias_base = "__".join(path)
        model = rel.model
        direction = rel.direction
        if direction == "many_to_many":
            secondary = rel.secondary_model
            link_alias = self._new_alias(f"{alias_base}_link")
            link_on = tuple(
                (
                    link_alias,
                    secondary.__columns__[s].name,
                    left,
                    model.__columns__[c].name,
                )
                for s, c in zip(rel.secondary_local_columns, rel.local_columns, strict=True)
            )
            self._joins[(*path, "<link>")] = Join(kind, secondary, link_alias, link_on)
            alias = self._new_alias(alias_base)
            on = tuple(
                (
                    alias,
                    rel.target.__columns__[r].name,
                    link_alias,
                    secondary.__columns__[s].name,
                )
                for r, s in zip(rel.remote_columns, rel.secondary_remote_columns, strict=True)
            )
        else:
            alias = self._new_alias(alias_base)
            on = tuple(
                (alias, rel.target.__columns__[r].name, left, model.__columns__[c].name)
                for r, c in zip(rel.remote_columns, rel.local_columns, strict=True)
            )
        self._joins[path] = Join(kind, rel.target, alias, on, live=live)
        if rel.uselist:
            self.distinct = True
        return alias

    def from_sql(self, ctx: CompileContext) -> str:
        """The FROM item of the root: ``table``, or ``table AS alias`` for an alias."""
        table = ctx.quote(self.root.__tablename__)
        return f"{table} AS {ctx.quote(self.root_alias)}" if self.aliased else table

    def has_alias(self, alias: str) -> bool:
        """Whether ``alias`` names this statement's root or one of its joins."""
        return alias in self._aliases

    def has_alias_within(self, alias: str) -> bool:
        """Whether ``alias`` is this statement's or an enclosing statement's."""
        return alias in self._aliases or (
            self.parent is not None and self.parent.has_alias_within(alias)
        )

    def sees_within(self, model: type[Any]) -> bool:
        """Whether ``model`` is this statement's or an enclosing statement's."""
        return self.sees(model) or (self.parent is not None and self.parent.sees_within(model))

    def join_on(
        self, model: type[Any], onclause: ClauseElement, kind: str, alias: str | None = None
    ) -> None:
        """Join ``model`` on an explicit condition (``Select.join(Model, onclause)``), or
        under ``alias``, an ``aliased()`` model's (``Select.join(Manager, onclause)``)."""
        named = alias is not None
        if alias is None:
            if self.sees(model):
                raise ValueError(
                    f"{model.__name__} is already part of this statement; join it again "
                    f"as an alias: m = aliased({model.__name__}); .join(m, ...)"
                )
            alias = self._new_alias(model.__tablename__)
        elif alias in self._aliases:
            raise ValueError(f"the alias {alias!r} is already part of this statement")
        else:
            self._aliases.add(alias)
        self._joins[("<on>", alias)] = Join(kind, model, alias, (), onclause, named)

    def join_conditions(self) -> list[ClauseElement]:
        """The explicit ON conditions, in SQL order (their parameters come before
        WHERE's)."""
        return [j.onclause for j in self._joins.values() if j.onclause is not None]

    def sees(self, model: type[Any]) -> bool:
        """Whether ``model``'s own columns name this statement's root or a join (not an
        ``aliased()`` one)."""
        return (model is self.root and not self.aliased) or any(
            j.model is model and not j.named for j in self._joins.values()
        )

    def alias_for(self, model: type[Any]) -> str:
        """The alias under which ``model``'s columns are visible in this statement (in a
        subquery, also the enclosing statements' models)."""
        if model is self.root and not self.aliased:
            return self.root_alias
        found = [j.alias for j in self._joins.values() if j.model is model and not j.named]
        if len(found) == 1:
            return found[0]
        name = getattr(model, "__name__", repr(model))
        if not found and self.parent is not None and self.parent.sees_within(model):
            return self.parent.alias_for(model)
        if not found and model is self.root:
            raise ValueError(
                f"{name}'s own columns are not part of this statement: it selects from "
                f"{name} only as the alias {self.root_alias!r}; use that alias's columns"
            )
        if not found:
            raise ValueError(
                f"{name} is not part of this statement (FROM {self.root.__name__}); "
                "filter through a relationship lookup (e.g. author__name=...) or .join() it"
            )
        raise ValueError(
            f"{name} is joined more than once ({', '.join(found)}); use a lookup path "
            "to say which one"
        )


class CompileContext:
    """State of one compilation: dialect, scope, bound parameters, resolved lookups."""

    __slots__ = ("_resolved", "dialect", "params", "scope")

    def __init__(
        self,
        dialect: Dialect,
        scope: Scope | None,
        resolved: dict[int, ColumnExpr[bool]] | None = None,
    ) -> None:
        self.dialect = dialect
        self.scope: Scope = scope  # type: ignore[assignment]
        self.params: list[Any] = []
        self._resolved: dict[int, ColumnExpr[bool]] = {} if resolved is None else resolved

    def fork(self) -> CompileContext:
        """A context for the SQL walk: same scope and resolved lookups, no parameters."""
        return CompileContext(self.dialect, self.scope, self._resolved)

    def bind(self, value: Any) -> str:
        """Bind ``value`` and return its placeholder."""
        self.params.append(value)
        return self.dialect.placeholder(len(self.params))

    def quote(self, identifier: str) -> str:
        """Quote an identifier for the dialect."""
        return self.dialect.quote(identifier)

    def resolve(self, q: Q) -> ColumnExpr[bool]:
        """The expression a ``Q`` stands for in this statement (resolved once)."""
        found = self._resolved.get(id(q))
        if found is None:
            if self.scope is None:
                raise ValueError("keyword lookups need a statement with a model")
            found = q.resolve(self)
            self._resolved[id(q)] = found
        return found

    def column_key(self, column: Column[Any], alias: str | None) -> Hashable:
        """Check ``column`` is visible and return its part of the cache key."""
        if self.scope is None:
            raise ValueError(f"column {column!r} used outside a statement")
        if alias is None:
            alias = self.scope.alias_for(column.model)
        return (column, alias)

    def column_sql(self, column: Column[Any], alias: str | None) -> str:
        """``name`` or ``alias.name`` (qualified when the statement has joins, and for a
        column of an enclosing statement inside a subquery)."""
        name = self.dialect.quote(column.info.name)
        scope = self.scope
        if alias is None and scope.parent is not None and not scope.sees(column.model):
            return f"{self.dialect.quote(scope.alias_for(column.model))}.{name}"
        if not scope.qualify:
            return name
        if alias is None:
            alias = self.scope.alias_for(column.model)
        return f"{self.dialect.quote(alias)}.{name}"

    def keys_of(self, clauses: tuple[ClauseElement, ...] | list[ClauseElement]) -> Hashable:
        """Cache-key parts of several clauses, in order."""
        return tuple(c._key(self) for c in clauses)


_CACHE: OrderedDict[Hashable, str] = OrderedDict()
_CACHE_SIZE = 2048
_STATS = {"hits": 0, "misses": 0}


def _subquery_context(ctx: CompileContext, query: Any) -> CompileContext:
    """A context for compiling ``query`` inside the statement ``ctx`` compiles: its own
    scope, in which the enclosing statement's models stay visible (correlation)."""
    scope = query._scope()
    if scope is not None:
        scope.parent = ctx.scope
    return CompileContext(ctx.dialect, scope)


def subquery_key(ctx: CompileContext, query: Any) -> Hashable:
    """The shape of the select ``query`` inside the statement ``ctx`` compiles (its
    shape walk finds its joins); its parameters join ``ctx``'s in order."""
    sub = _subquery_context(ctx, query)
    key = query._key(sub)
    ctx.params.extend(sub.params)
    return (key, sub.scope.key() if sub.scope is not None else None)


def subquery_sql(ctx: CompileContext, query: Any) -> str:
    """The SQL of the select ``query`` inside the statement ``ctx`` compiles, its
    placeholders numbered on from the enclosing statement's."""
    sub = _subquery_context(ctx, query)
    query._key(sub)  # its lookups add the joins its SQL names
    sql_ctx = sub.fork()
    sql_ctx.params = ctx.params
    sql: str = query._sql(sql_ctx)
    return sql


def compile_statement(stmt: Any, dialect: str | Dialect) -> tuple[str, list[Any]]:
    """Compile ``stmt`` for ``dialect``, reusing the cached SQL of a statement of the
    same shape. Returns ``(sql, params)``."""
    d = get_dialect(dialect)
    ctx = CompileContext(d, stmt._scope())
    shape = stmt._key(ctx)
    scope_key = ctx.scope.key() if ctx.scope is not None else None
    key = (d.name, shape, scope_key)
    try:
        sql = _CACHE[key]
    except KeyError:
        pass
    except TypeError as exc:  # an unhashable value ended up in the shape
        raise TypeError(f"cannot compile statement: {exc}") from None
    else:
        _CACHE.move_to_end(key)
        _STATS["hits"] += 1
        return sql, ctx.params
    sql_ctx = ctx.fork()
    sql = stmt._sql(sql_ctx)
    if len(sql_ctx.params) != len(ctx.params) or not all(
        a is b or a == b for a, b in zip(sql_ctx.params, ctx.params, strict=True)
    ):  # pragma: no cover - a compiler bug: a node binds in a different order in the walks
        raise AssertionError("shape walk and SQL walk bound different parameters")
    _STATS["misses"] += 1
    _CACHE[key] = sql
    if len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return sql, sql_ctx.params


def cache_info() -> dict[str, int]:
    """Compiled-SQL cache counters: ``hits``, ``misses``, ``size``."""
    return {**_STATS, "size": len(_CACHE)}


def clear_cache() -> None:
    """Empty the compiled-SQL cache and reset its counters."""
    _CACHE.clear()
    _STATS["hits"] = 0
    _STATS["misses"] = 0
