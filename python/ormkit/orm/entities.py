"""Rows that hold model instances next to other items.

``session.execute(select(Post, Author).join("author"))`` gives rows ``(post, author)``,
``select(Post, Author.name)`` rows ``(post, "Ann")``, and
``insert(Author).values(...).returning(Author)`` rows ``(author,)``, as SQLAlchemy 2.0
does. The statement's :meth:`~ormkit.sql.statements.Statement.entity_layout` says where
each item's columns are in the result row, so columns are picked by position: two models
that both have an ``id`` never mix (the SQL labels a joined model's columns
``<alias>__<attribute>``, and positions do not depend on the labels anyway).

Each model item becomes one instance per distinct primary key (made in Rust by
``QueryResult.unique_models``), which the caller registers (the identity map for a
select); a row where every key column is NULL (the missing side of an outer join) gives
None for that item. Plain items are the row's values, converted as their columns are.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from ormkit.orm.loading import gc_paused
from ormkit.orm.state import model_pk

if TYPE_CHECKING:
    from ormkit._ormkit import QueryResult
    from ormkit.types import Converter

__all__ = ["Layout", "entity_keys", "entity_rows"]

#: per item of a result row: (model, index of its first column) or (None, column index)
Layout = tuple[tuple[type[Any] | None, int], ...]

#: makes the instances of one model item part of the session (or not): gets the fresh
#: instances, returns the objects to put in the rows, position for position
Register = Callable[[type[Any], list[Any]], list[Any]]


def entity_keys(layout: Layout, names: Sequence[str]) -> list[str]:
    """``Result.keys()``: a model item is named by its class, a plain item by its
    result column."""
    return [model.__name__ if model is not None else names[i] for model, i in layout]


def entity_rows(
    result: QueryResult,
    layout: Layout,
    converters: tuple[Converter, ...] | None,
    dialect: str,
    register: Register,
) -> tuple[list[tuple[Any, ...]], dict[type[Any], list[Any]]]:
    """The rows of ``result`` shaped by ``layout`` (``converters``: the statement's
    ``result_converters``, one per result column, used for the plain items), and per
    model the objects ``register`` returned (each once)."""
    n = len(result)
    columns: list[list[Any]] = []
    loaded: dict[type[Any], list[Any]] = {}
    plain: list[tuple[Any, ...]] | None = None
    with gc_paused(n * len(layout)):
        for model, start in layout:
            if model is None:
                if plain is None:
                    plain = _plain_values(result, layout, converters)
                columns.append(list(map(itemgetter(start), plain)))
                continue
            keys = list(model.__columns__)
            objs, positions = result.unique_models(
                model,
                [start + keys.index(k) for k in model_pk(model)],
                model.__ormkit_converters__(dialect),
                [(start + i, k) for i, k in enumerate(keys)],
            )
            objs = register(model, objs)
            loaded.setdefault(model, []).extend(objs)
            lookup = [*objs, None]  # position -1: no row for this item
            columns.append(list(map(lookup.__getitem__, positions)))
        rows = list(zip(*columns, strict=True))
    return rows, loaded


def _plain_values(
    result: QueryResult, layout: Layout, converters: tuple[Converter, ...] | None
) -> list[tuple[Any, ...]]:
    """Every row as a tuple, the plain items' columns converted (the models' columns
    are made by ``unique_models``, so converting them here would be wasted)."""
    if converters is None:
        return result.tuples()
    wanted = {i for model, i in layout if model is None}
    only = tuple(c if i in wanted else None for i, c in enumerate(converters))
    if all(c is None for c in only):
        return result.tuples()
    return result.tuples(only)
