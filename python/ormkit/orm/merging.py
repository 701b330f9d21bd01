"""``session.merge(obj)``: the session's instance for the row ``obj`` stands for.

``obj`` (an object built by hand, loaded by another session, or deserialised) is never
attached; the session's own instance for its primary key takes its state:

- an instance in the identity map takes ``obj``'s column values at once;
- else (``load=True``) the row is loaded by primary key, soft-deleted rows included (the
  row exists: an INSERT of its key would collide), and takes them;
- else (no such row, or ``obj`` has no primary key) a new pending instance made from
  ``obj``'s values is added, and inserted at the next flush.

What is copied: the columns present in ``obj.__dict__`` (ormkit's constructor sets every
column, to the value given, its default or None, so a hand-built object carries them
all; a column deleted from ``__dict__`` or never loaded is left alone), and the
relationships loaded on ``obj`` whose ``cascade`` includes ``"merge"`` (the default),
each merged in turn: a many-to-one points to the merged target, a collection becomes the
list of merged members. An empty collection is not copied: the constructor gives every
object empty collections, so an empty list cannot tell "no children" from "never loaded".
Before a collection is replaced on a persistent instance, the instance's own collection
is loaded (when it is not yet), so that members left out are detached at the flush
(their foreign key set to NULL, or deleted with ``delete-orphan``), as any change to a
loaded collection is. Changes are flushed as any change to a loaded object: an UPDATE of
the columns that differ.

``load=False`` trusts ``obj`` to hold the row as stored: the instance is made persistent
without a SELECT, its values taken as loaded (nothing is written for them). It needs a
primary key, and refuses an object of this session with unflushed changes or pending
insertion. A detached object keeps no record of its changes once its session is gone, so
for one of those the caller vouches.

The work is done in passes, so that an error leaves the session as it was (apart from
rows loaded): every object reachable is collected and checked, the rows missing from the
identity map are loaded (one query per model, keys in ``IN`` lists), each object gets its
target, the collections to replace are loaded, and only then are values copied.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import TYPE_CHECKING, Any, TypeVar

from ormkit.dialects.base import get_dialect
from ormkit.errors import InterfaceError, StaleDataError
from ormkit.orm import loading, strategies
from ormkit.orm.state import copy_json, identity_key, is_dirty, model_pk, mutable_columns
from ormkit.orm.validation import check_column
from ormkit.sql import select
from ormkit.sql.expressions import ClauseElement
from ormkit.sql.mapped import is_model_instance

if TYPE_CHECKING:
    from ormkit.orm.relationships import RelationshipInfo
    from ormkit.orm.session import AsyncSession
    from ormkit.orm.unit_of_work import UnitOfWork

__all__ = ["merge"]

T = TypeVar("T")


async def merge(session: AsyncSession, obj: T, *, load: bool = True) -> T:
    """The instance ``session`` tracks for ``obj``'s row, with ``obj``'s state copied onto
    it (see the module doc)."""
    if not is_model_instance(obj):
        raise TypeError(f"merge() needs a model instance, got {obj!r}")
    if load is not True and load is not False:
        raise TypeError(f"merge(): load must be True or False, got {load!r}")
    with session._using():
        work = _Merge(session, load)
        work.collect(obj)
        work.check()
        if load:
            await work.load_rows()
        work.resolve()
        if load:
            await work.load_collections()
        work.apply()
        return work.targets[id(obj)]  # type: ignore[no-any-return]


def _cascaded(obj: Any) -> list[tuple[RelationshipInfo, Any]]:
    """``(relationship, value)`` for each relationship loaded on ``obj`` that merge
    cascades through (empty collections left out: see the module doc)."""
    relationships = type(obj).__relationships__
    if not relationships:
        return []
    d = obj.__dict__
    out = []
    for key, rel in relationships.items():
        if key not in d or "merge" not in rel.cascade:
            continue
        value = d[key]
        if rel.uselist:
            if value is None:
                continue
            if not isinstance(value, list | tuple | set | frozenset):
                raise TypeError(
                    f"merge(): {type(obj).__name__}.{key} is a collection, got {value!r}"
                )
            if not value:
                continue
        out.append((rel, value))
    return out


def _members(rel: RelationshipInfo, value: Any) -> list[Any]:
    if rel.uselist:
        return list(value)
    return [] if value is None else [value]


class _Merge:
    """One ``merge()`` call: the objects reached from ``obj`` and their targets."""

    def __init__(self, session: AsyncSession, load: bool) -> None:
        self.session = session
        self.uow: UnitOfWork = session._uow
        self.load = load
        #: every object reached, the merged one first, each once
        self.order: list[Any] = []
        #: id(object) → (object, its loaded cascaded relationships)
        self.reached: dict[int, tuple[Any, list[tuple[RelationshipInfo, Any]]]] = {}
        #: id(object) → the instance the session tracks for it
        self.targets: dict[int, Any] = {}
        #: instances made by this merge (id → instance), in order
        self.fresh: dict[int, Any] = {}
        #: identity key → target, for the targets this merge made
        self.by_key: dict[Hashable, Any] = {}
        self.flushed = False

    # -- passes -----------------------------------------------------------------------

    def collect(self, root: Any) -> None:
        """Every object reachable from ``root`` through cascaded relationships."""
        stack = [root]
        while stack:
            obj = stack.pop()
            if id(obj) in self.reached:
                continue
            rels = _cascaded(obj)
            self.reached[id(obj)] = (obj, rels)
            self.order.append(obj)
            for rel, value in reversed(rels):
                members = _members(rel, value)
                target = rel.target
                for member in reversed(members):
                    if type(member) is not target:
                        raise TypeError(
                            f"merge(): {type(obj).__name__}.{rel.key} holds {member!r}, "
                            f"not a {target.__name__}"
                        )
                    if id(member) not in self.reached:
                        stack.append(member)

    def check(self) -> None:
        """Refuse what cannot be merged, before anything is sent or changed."""
        uow = self.uow
        states = uow.states
        identity = uow.identity
        for obj in self.order:
            if id(obj) in uow.deleted:
                raise InterfaceError(
                    f"merge(): {obj!r} is marked for deletion in this session; flush() "
                    "first (its row is then gone and merge() inserts it again) or "
                    "rollback() to keep it"
                )
            state = states.get(id(obj))
            if state is not None and state.persistent:
                if not self.load and is_dirty(obj, state.snapshot):
                    raise InterfaceError(
                        f"merge(load=False): {obj!r} has unflushed changes; flush() "
                        "first, or merge it with load=True"
                    )
                continue
            if id(obj) in uow.new:
                if not self.load:
                    raise InterfaceError(
                        f"merge(load=False): {obj!r} is pending (added but not inserted "
                        "yet); load=False merges rows that exist"
                    )
                continue
            model = type(obj)
            d = obj.__dict__
            for name in model_pk(model):
                value = d.get(name)
                if isinstance(value, ClauseElement):
                    raise TypeError(
                        f"merge(): {model.__name__}.{name} is an SQL expression ({value!r}); "
                        "merge() needs the primary key's value"
                    )
                if value is not None:
                    check_column(model, name, value, insert=False)
            key = identity_key(model, d)
            if key is None:
                if not self.load:
                    missing = [k for k in model_pk(model) if d.get(k) is None]
                    raise InterfaceError(
                        f"merge(load=False): {obj!r} has no value for its primary key "
                        f"{', '.join(missing)}; load=False merges rows that exist"
                    )
                continue
            existing = identity.get(key)
            if existing is not None and id(existing) in uow.deleted:
                raise InterfaceError(
                    f"merge(): the row of {obj!r} is marked for deletion in this session "
                    f"({existing!r}); flush() first (the row is then gone and merge() "
                    "inserts it again) or rollback() to keep it"
                )

    async def _before_query(self) -> None:
        """Autoflush once, before the first query of the merge (none after: objects
        half-merged are never flushed)."""
        if not self.flushed:
            self.flushed = True
            session = self.session
            if session._flush_due():
                await session._flush_now()

    def _untracked(self) -> list[tuple[Any, Hashable]]:
        """``(object, identity key)`` of the objects with a key the session does not
        track."""
        uow = self.uow
        states = uow.states
        out = []
        for obj in self.order:
            state = states.get(id(obj))
            if (state is not None and state.persistent) or id(obj) in uow.new:
                continue
            key = identity_key(type(obj), obj.__dict__)
            if key is not None:
                out.append((obj, key))
        return out

    def _pending(self) -> dict[Hashable, Any]:
        """The objects pending insertion, by identity key (those with a whole key)."""
        out: dict[Hashable, Any] = {}
        for obj in self.uow.new.values():
            key = identity_key(type(obj), obj.__dict__)
            if key is not None:
                out.setdefault(key, obj)
        return out

    async def load_rows(self) -> None:
        """Load the rows of the objects whose key is not in the identity map: one query
        per model (keys in ``IN`` lists), soft-deleted rows included."""
        if not any(key not in self.uow.identity for _obj, key in self._untracked()):
            return
        await self._before_query()  # may insert pending objects: look again
        identity = self.uow.identity
        pending = self._pending()
        wanted: dict[type[Any], dict[Hashable, None]] = {}
        for obj, key in self._untracked():
            if key not in identity and key not in pending:
                wanted.setdefault(type(obj), {})[key] = None
        session = self.session
        max_params = get_dialect(session.dialect).max_params
        for model, keys in wanted.items():
            names = model_pk(model)
            columns = [model.__columns__[k].expr for k in names]
            values = [k[1] if len(names) > 1 else (k[1],) for k in keys]  # type: ignore[index]
            plan = loading.build_plan(model, ())
            for chunk in strategies.key_chunks(values, len(names), max_params):
                stmt = select(model).where(strategies.keys_in(columns, chunk))
                await strategies.load_objects(session, model, stmt, plan)

    def resolve(self) -> None:
        """The target of every object: itself when the session tracks it, else the
        instance of its key (identity map, or pending), else a new instance."""
        uow = self.uow
        states = uow.states
        identity = uow.identity
        pending: dict[Hashable, Any] | None = None
        for obj in self.order:
            state = states.get(id(obj))
            if (state is not None and state.persistent) or id(obj) in uow.new:
                self.targets[id(obj)] = obj
                continue
            model = type(obj)
            key = identity_key(model, obj.__dict__)
            if key is None:
                self._make(obj, None)
                continue
            target = self.by_key.get(key)
            if target is None:
                target = identity.get(key)
                if target is not None:
                    self._check_version(obj, target)
            if target is None:
                if pending is None:
                    pending = self._pending()
                target = pending.get(key)
                if target is not None and not self.load:
                    raise InterfaceError(
                        f"merge(load=False): {target!r}, with the primary key of {obj!r}, "
                        "is pending insertion in this session; load=False merges rows "
                        "that exist"
                    )
            if target is None:
                self._make(obj, key)
            else:
                self.targets[id(obj)] = target

    def _make(self, obj: Any, key: Hashable | None) -> None:
        """A new instance for ``obj`` (filled by :meth:`apply`)."""
        model: Any = type(obj)
        target = model.__new__(model)  # no __init__: apply() gives it its values
        self.fresh[id(target)] = target
        self.targets[id(obj)] = target
        if key is not None:
            self.by_key[key] = target

    def _check_version(self, obj: Any, target: Any) -> None:
        """``StaleDataError`` when ``obj`` carries another version than the row's."""
        version = type(obj).__version_column__
        if version is None:
            return
        state = self.uow.states.get(id(target))
        if state is None or not state.persistent:
            return
        mine = obj.__dict__.get(version)
        stored = state.snapshot.get(version)
        if mine is not None and stored is not None and mine != stored:
            raise StaleDataError(
                f"merge(): {obj!r} has version {mine!r} but its row has version {stored!r} "
                "(another writer changed it); reload it, or leave its version None to "
                "merge onto the latest"
            )

    async def load_collections(self) -> None:
        """Load, on persistent targets, the collections (and one-to-one objects) that the
        merge replaces and that are not loaded yet: one query per relationship."""
        states = self.uow.states
        groups: dict[tuple[type[Any], str], dict[int, Any]] = {}
        for obj in self.order:
            target = self.targets[id(obj)]
            if target is obj:
                continue
            state = states.get(id(target))
            if state is None or not state.persistent:
                continue
            for rel, _value in self.reached[id(obj)][1]:
                if rel.direction != "many_to_one" and rel.key not in target.__dict__:
                    groups.setdefault((type(target), rel.key), {})[id(target)] = target
        for (model, key), targets in groups.items():
            await self._before_query()
            plan = loading.build_plan(model, [loading.selectinload(key)], defaults=False)
            await strategies.run_plan(self.session, model, list(targets.values()), plan)

    def apply(self) -> None:
        """Copy columns, then relationships, then put the new instances in the session."""
        for obj in self.order:
            target = self.targets[id(obj)]
            if target is not obj:
                self._copy_columns(obj, target)
        for obj in self.order:
            self._copy_relationships(obj, self.targets[id(obj)])
        uow = self.uow
        for target in self.fresh.values():
            if self.load:
                d = target.__dict__
                for key, rel in type(target).__relationships__.items():
                    if rel.uselist and key not in d:
                        d[key] = []  # as the constructor gives a new object
                uow.add(target)
            else:
                uow.attach(target)  # persistent, its values the loaded state

    # -- copying ----------------------------------------------------------------------

    def _copy_columns(self, obj: Any, target: Any) -> None:
        model = type(obj)
        src = obj.__dict__
        d = target.__dict__
        mutable = mutable_columns(model)
        columns = model.__columns__
        if id(target) in self.fresh:
            for key, info in columns.items():
                if key in src:
                    value = src[key]
                    d[key] = copy_json(value) if key in mutable else value
                elif self.load:  # a new row: what the constructor would give
                    d[key] = info.make_default() if info.default is not None else None
            return
        state = self.uow.states.get(id(target))
        persistent = state is not None and state.persistent
        skip = set(model_pk(model))
        version = model.__version_column__
        if persistent and version is not None:
            skip.add(version)  # the same (checked) or None: the row's stays
        for key in columns:
            if key not in src or key in skip:
                continue
            value = src[key]
            d[key] = copy_json(value) if key in mutable else value
            if persistent and not self.load:
                assert state is not None
                state.snapshot[key] = copy_json(value) if key in mutable else value

    def _copy_relationships(self, obj: Any, target: Any) -> None:
        targets = self.targets
        d = target.__dict__
        for rel, value in self.reached[id(obj)][1]:
            key = rel.key
            current = d.get(key)
            merged: Any
            if rel.uselist:
                merged = []
                seen: set[int] = set()
                for member in value:
                    other = targets[id(member)]
                    if id(other) not in seen:
                        seen.add(id(other))
                        merged.append(other)
                if (
                    target is obj
                    and isinstance(current, list)
                    and [id(x) for x in current] == [id(x) for x in merged]
                ):
                    continue
            else:
                merged = None if value is None else targets[id(value)]
                if target is obj and current is merged:
                    continue
            if self.load:
                setattr(target, key, merged)  # as the user would assign it (backrefs)
            else:
                loading.set_loaded(self.uow, target, key, merged)  # as loaded
