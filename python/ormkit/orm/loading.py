"""Hydration and relationship loader options.

Rows become objects in Rust (``QueryResult.to_models``: ``cls.__new__`` plus the
``__dict__`` filled from the row, with per-column converters); the only per-row Python
work is registering each object in the session's identity map with a snapshot.

Loader options say how a query loads relationships: ``selectinload(path)`` (one more
query per level, IN lists chunked under the parameter limit), ``joinedload(path)`` (a
LEFT OUTER JOIN in the same query), ``noload(path)`` (set empty) and
``lazyload(path)`` (left unloaded until ``session.load_related``). A path is
``"posts"`` or ``"posts.comments"``; a path option applies its strategy to each step
not named by another option, and options chain:
``selectinload("posts").joinedload("author")``. Relationships no option names use
``relationship(lazy=...)``: ``"selectin"``/``"joined"`` load, ``"noload"`` sets
empty, ``"raise"``/``"select"`` leave them unloaded. Reading an unloaded relationship
raises ``RelationshipNotLoaded``; nothing is ever loaded behind the user's back.
"""

from __future__ import annotations

import gc
from typing import TYPE_CHECKING, Any, Union

if TYPE_CHECKING:
    from ormkit._ormkit import QueryResult
    from ormkit.orm.relationships import RelationshipAttribute
    from ormkit.orm.unit_of_work import UnitOfWork
    from ormkit.sql.statements import Select
    from ormkit.types import Converter

__all__ = [
    "LoaderOption",
    "PlanNode",
    "build_plan",
    "gc_paused",
    "hydrate",
    "hydrate_untracked",
    "joinedload",
    "lazyload",
    "noload",
    "plain_rows",
    "plain_tuples",
    "selectinload",
    "set_loaded",
]

STRATEGIES = ("selectin", "joined", "noload", "lazy")
_DEFAULT_STRATEGY = {"selectin": "selectin", "joined": "joined", "noload": "noload"}
#: from this many rows on, hydration pauses the cyclic garbage collector (see
#: ``UnitOfWork.load``)
GC_PAUSE_ROWS = 1000
#: how deep relationship(lazy="selectin"/"joined") defaults follow each other
MAX_DEFAULT_DEPTH = 4


# -- hydration ------------------------------------------------------------------------


class gc_paused:
    """Pause the cyclic garbage collector while ``rows`` rows (at least
    ``GC_PAUSE_ROWS``) become tracked objects: they are not garbage, and scanning them
    again and again while they are made costs more than making them. It runs once
    afterwards. Nothing happens for fewer rows or when the collector is off."""

    __slots__ = ("paused",)

    def __init__(self, rows: int) -> None:
        self.paused = rows >= GC_PAUSE_ROWS and gc.isenabled()

    def __enter__(self) -> None:
        if self.paused:
            gc.disable()

    def __exit__(self, *exc: object) -> None:
        if self.paused:
            gc.enable()


def hydrate(
    uow: UnitOfWork, model: type[Any], result: QueryResult, defer: bool = False
) -> list[Any]:
    """Instances of ``model`` for every row, one object per row in the identity map
    (``defer``: as for ``UnitOfWork.load_fresh``)."""
    converters = model.__ormkit_converters__(uow.dialect, result.columns)
    return uow.load(model, result, converters, defer)


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
    return result.all(converters)


def plain_tuples(
    result: QueryResult, converters: tuple[Converter, ...] | None
) -> list[tuple[Any, ...]]:
    """Rows as tuples, values converted in Rust."""
    if converters is None or len(set(result.columns)) != len(result.columns):
        return result.tuples()
    return result.tuples(converters)


def set_loaded(uow: UnitOfWork, obj: Any, key: str, value: Any) -> None:
    """Mark relationship ``key`` of ``obj`` loaded with ``value`` (a list for a
    collection), as the session's snapshot sees it too."""
    d = obj.__dict__
    fresh = key not in d
    d[key] = value
    state = uow.state_of(obj)
    if state is not None and state.persistent:
        state.snapshot[key] = list(value) if isinstance(value, list) else value
        if fresh and uow.journal is not None:
            uow.journal.loaded.append((state, key))


# -- options --------------------------------------------------------------------------


#: a relationship path: ``"posts"``, ``"posts.comments"``, or the attribute ``Author.posts``
Path = Union[str, "RelationshipAttribute"]


def _path_of(path: Any) -> str | tuple[str, ...]:
    """``path`` as names: a relationship attribute (``Author.posts``, as SQLAlchemy
    writes it) gives its key; anything but a str or a tuple of str is a TypeError."""
    from ormkit.orm.relationships import RelationshipAttribute

    if isinstance(path, RelationshipAttribute):
        return path.key
    if isinstance(path, str) or (
        isinstance(path, tuple) and all(isinstance(step, str) for step in path)
    ):
        return path
    raise TypeError(
        "a loader option takes a relationship: a path such as 'posts' or "
        f"'posts.comments', or an attribute such as Author.posts; got {path!r}"
    )


class LoaderOption:
    """One loader option: a relationship path and a strategy (chainable)."""

    __slots__ = ("parent", "path", "strategy")

    def __init__(
        self, path: Path | tuple[str, ...], strategy: str, parent: LoaderOption | None = None
    ) -> None:
        if strategy not in STRATEGIES:
            raise ValueError(f"unknown loader strategy {strategy!r}")
        path = _path_of(path)
        steps = tuple(path.split(".")) if isinstance(path, str) else tuple(path)
        if not steps or not all(isinstance(s, str) and s for s in steps):
            raise ValueError(f"invalid relationship path {path!r}")
        base: tuple[str, ...] = parent.path if parent is not None else ()
        self.path: tuple[str, ...] = base + steps
        self.strategy = strategy
        self.parent = parent

    def __repr__(self) -> str:
        return f"{self.strategy}load({'.'.join(self.path)!r})"

    def flatten(self) -> list[LoaderOption]:
        """This option and the ones it was chained from, outermost first."""
        chain: list[LoaderOption] = []
        option: LoaderOption | None = self
        while option is not None:
            chain.append(option)
            option = option.parent
        return chain[::-1]

    def selectinload(self, path: Path) -> LoaderOption:
        """Then load ``path`` (relative to this one) with selectin."""
        return LoaderOption(path, "selectin", self)

    def joinedload(self, path: Path) -> LoaderOption:
        """Then load ``path`` (relative to this one) with a join."""
        return LoaderOption(path, "joined", self)

    def noload(self, path: Path) -> LoaderOption:
        """Then leave ``path`` (relative to this one) empty."""
        return LoaderOption(path, "noload", self)

    def lazyload(self, path: Path) -> LoaderOption:
        """Then leave ``path`` (relative to this one) unloaded."""
        return LoaderOption(path, "lazy", self)


def selectinload(path: Path) -> LoaderOption:
    """Load the relationship ``path`` with one more query per level (IN lists)."""
    return LoaderOption(path, "selectin")


def joinedload(path: Path) -> LoaderOption:
    """Load the relationship ``path`` in the same query (LEFT OUTER JOIN)."""
    return LoaderOption(path, "joined")


def noload(path: Path) -> LoaderOption:
    """Set the relationship ``path`` empty (``[]`` or None) without a query."""
    return LoaderOption(path, "noload")


def lazyload(path: Path) -> LoaderOption:
    """Leave the relationship ``path`` unloaded (``await session.load_related``)."""
    return LoaderOption(path, "lazy")


# -- plans ----------------------------------------------------------------------------


class PlanNode:
    """How to load one relationship, and what to load below it."""

    __slots__ = ("children", "explicit", "rel", "strategy")

    def __init__(self, rel: Any, strategy: str, explicit: bool) -> None:
        self.rel = rel
        self.strategy = strategy
        self.explicit = explicit
        self.children: dict[str, PlanNode] = {}

    def __repr__(self) -> str:
        return f"<PlanNode {self.rel.key} {self.strategy} {list(self.children)}>"


def _relationship(model: type[Any], name: str, path: tuple[str, ...]) -> Any:
    rels = getattr(model, "__relationships__", {})
    if name not in rels:
        raise ValueError(
            f"unknown relationship {name!r} on {model.__name__} in loader path "
            f"{'.'.join(path)!r}; known: {', '.join(rels) or 'none'}"
        )
    return rels[name]


def check_options(model: type[Any], options: Any) -> None:
    """Raise ``TypeError``/``ValueError`` if ``options`` do not fit ``model``."""
    build_plan(model, options, defaults=False)


def build_plan(model: type[Any], options: Any, *, defaults: bool = True) -> dict[str, PlanNode]:
    """The loading plan of ``model`` for ``options``: relationship key → node."""
    explicit: dict[tuple[str, ...], str] = {}
    implied: dict[tuple[str, ...], str] = {}
    for option in options:
        if not isinstance(option, LoaderOption):
            raise TypeError(
                f"options() takes selectinload/joinedload/noload/lazyload, got {option!r}"
            )
        for step in option.flatten():
            explicit[step.path] = step.strategy
            for i in range(1, len(step.path)):
                implied.setdefault(step.path[:i], step.strategy)
    plan: dict[str, PlanNode] = {}
    paths = sorted({*explicit, *implied}, key=len)
    for path in paths:
        strategy = explicit.get(path) or implied[path]
        nodes = plan
        current = model
        for i, name in enumerate(path):
            rel = _relationship(current, name, path)
            if i == len(path) - 1:
                nodes[name] = PlanNode(rel, strategy, True)
            node = nodes[name]
            nodes = node.children
            current = rel.target
    if defaults:
        add_defaults(model, plan, None, 0)
    return plan


def add_defaults(model: type[Any], plan: dict[str, PlanNode], incoming: Any, depth: int) -> None:
    """Add the ``relationship(lazy=...)`` defaults of ``model`` to ``plan`` (in place),
    skipping the way back along ``incoming`` and stopping at ``MAX_DEFAULT_DEPTH``."""
    if depth >= MAX_DEFAULT_DEPTH:
        return
    reverse = incoming.back_populates if incoming is not None else None
    for key, rel in getattr(model, "__relationships__", {}).items():
        node = plan.get(key)
        if node is None:
            strategy = _DEFAULT_STRATEGY.get(rel.lazy)
            if strategy is None or (key == reverse and rel.target is incoming.model):
                continue
            node = plan[key] = PlanNode(rel, strategy, False)
        if node.strategy in ("selectin", "joined"):
            add_defaults(rel.target, node.children, rel, depth + 1)


def has_joined_collection(plan: dict[str, PlanNode]) -> bool:
    """Whether a joined step of ``plan`` (from the top) reaches a collection."""
    for node in plan.values():
        if node.strategy == "joined" and (node.rel.uselist or has_joined_collection(node.children)):
            return True
    return False


def limit_parents(model: type[Any], stmt: Select, plan: dict[str, PlanNode]) -> Select:
    """``stmt`` ready to load ``plan``. With a LIMIT/OFFSET and a joined collection the
    limit must count parents, not joined rows: ``pk IN (SELECT pk … LIMIT …)`` (a row
    value for a composite primary key)."""
    if (stmt._limit is None and stmt._offset is None) or not has_joined_collection(plan):
        return stmt
    from ormkit.sql.expressions import tuple_

    pk = model.__primary_key__
    if isinstance(pk, str):
        column: Any = model.__columns__[pk].expr
        inner = stmt.with_only_columns(column)
    else:
        key = [model.__columns__[k].expr for k in pk]
        column = tuple_(*key)
        inner = stmt.with_only_columns(*key)
    outer = stmt._clone()
    outer._limit = None
    outer._offset = None
    return outer.where(column.in_(inner))


def limited_select(model: type[Any], stmt: Select) -> tuple[Select, dict[str, PlanNode]]:
    """The statement and loading plan of ``session.execute(select(model).options(...))``."""
    plan = build_plan(model, stmt._options)
    return limit_parents(model, stmt, plan), plan
