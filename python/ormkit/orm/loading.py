"""Hydration: from a ``QueryResult`` to tracked model instances.

Rows become objects in Rust (``QueryResult.to_models``: ``cls.__new__`` plus the
``__dict__`` filled from the row, with per-column converters); the only per-row Python
work is registering each object in the session's identity map with a snapshot.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ormkit._ormkit import QueryResult
    from ormkit.orm.unit_of_work import UnitOfWork
    from ormkit.types import Converter

__all__ = ["hydrate", "hydrate_untracked", "plain_rows", "plain_tuples"]


class _Values:
    """A bare object for ``to_models``: converts plain rows in Rust."""


def hydrate(uow: UnitOfWork, model: type[Any], result: QueryResult) -> list[Any]:
    """Instances of ``model`` for every row, one object per row in the identity map."""
    converters = model.__ormkit_converters__(uow.dialect, result.columns)
    return uow.register_loaded(model, result.to_models(model, converters))


def hydrate_untracked(uow: UnitOfWork, model: type[Any], result: QueryResult) -> list[Any]:
    """Instances for ``stream()``: rows already in the identity map give their object,
    others are not tracked (so memory stays bounded)."""
    converters = model.__ormkit_converters__(uow.dialect, result.columns)
    objs = result.to_models(model, converters)
    identity = uow.identity
    if not identity:
        return objs
    pk = model.__primary_key__
    if isinstance(pk, str):
        return [identity.get((model, o.__dict__.get(pk)), o) for o in objs]
    return [identity.get((model, tuple(o.__dict__.get(k) for k in pk)), o) for o in objs]


def plain_rows(
    result: QueryResult, converters: tuple[Converter, ...] | None
) -> list[dict[str, Any]]:
    """Rows as dicts, values converted in Rust (dates, decimals, JSON on SQLite)."""
    if converters is None:
        return result.all()
    return [row.__dict__ for row in result.to_models(_Values, converters)]


def plain_tuples(
    result: QueryResult, converters: tuple[Converter, ...] | None
) -> list[tuple[Any, ...]]:
    """Rows as tuples, values converted in Rust."""
    if converters is None:
        return result.tuples()
    return [tuple(row.__dict__.values()) for row in result.to_models(_Values, converters)]


def check_options(model: type[Any], options: Any) -> None:
    """Check loader options against ``model`` (relationship loading: issue 6)."""
    if options:
        raise NotImplementedError("loader options are not implemented yet")


async def apply_loaders(session: Any, model: type[Any], objs: list[Any], options: Any) -> None:
    """Load relationships of ``objs`` per ``options`` and the relationship defaults."""


async def load_paths(session: Any, objs: list[Any], names: Any) -> None:
    """Load the relationship paths ``names`` of ``objs``."""
    raise NotImplementedError("load_related is not implemented yet")


def selectinload(path: str) -> Any:
    """Load ``path`` with one extra query per level (IN lists)."""
    raise NotImplementedError


def joinedload(path: str) -> Any:
    """Load ``path`` in the same query (LEFT OUTER JOIN)."""
    raise NotImplementedError


def noload(path: str) -> Any:
    """Leave ``path`` empty."""
    raise NotImplementedError


def lazyload(path: str) -> Any:
    """Leave ``path`` unloaded until ``session.load_related``."""
    raise NotImplementedError
