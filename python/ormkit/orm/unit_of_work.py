"""The unit of work: identity map, change tracking, and the writes of a flush.

One :class:`UnitOfWork` belongs to one session. It knows every object the session
tracks (``states``, by ``id(obj)``), maps each row to one object (``identity``), holds
the objects waiting to be inserted (``new``) or deleted (``deleted``), and writes
them through whatever runs SQL for the session (a transaction, or the engine for a
write that is one statement). Statements are built with :mod:`ormkit.sql` — the
single-row and multi-row shapes once per model and dialect (:mod:`ormkit.orm.precompiled`)
— and rows come back through ``QueryResult.to_models``.

Flush order: inserts (referenced tables first), then updates, then deletes
(referencing tables first); except that rows giving up a unique value which another
row of the flush takes (a replaced one-to-one child, a unique foreign key moved to
another row) are updated or deleted first. Within a write, before-hooks and validation run for every
object before the first statement is sent.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable, Iterable, Sequence
from datetime import datetime
from itertools import chain, repeat
from operator import itemgetter
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from ormkit._ormkit import changed_states, set_returned, track_objects, written_snapshots
from ormkit.dialects.base import get_dialect
from ormkit.errors import InterfaceError, StaleDataError, ValidationError
from ormkit.orm import bulk_insert, cascade, precompiled
from ormkit.orm.backrefs import assign
from ormkit.orm.loading import gc_paused
from ormkit.orm.mixins import onupdate_values
from ormkit.orm.state import (
    InstanceState,
    Journal,
    changed_columns,
    identity_key,
    is_dirty,
    model_pk,
    mutable_columns,
    relationships_changed,
    run_hook,
    take_snapshot,
)
from ormkit.orm.validation import check_column, validate_values
from ormkit.sql import delete, insert, pk_condition, sort_models, update
from ormkit.sql.expressions import ClauseElement
from ormkit.sql.mapped import is_model_class, is_model_instance

if TYPE_CHECKING:
    from ormkit._ormkit import QueryResult
    from ormkit.types import Converter

__all__ = ["Runner", "UnitOfWork", "Upsert"]

#: converters to take from the result's columns (statements compiled the ordinary way)
_FROM_RESULT: Any = object()
#: per model, the primary key names ``to_tracked_models`` registers under, or None for a
#: model with JSON columns (its snapshots copy the JSON: the Python path)
_TRACKED_KEY: dict[type[Any], tuple[str, ...] | None] = {}
_MISSING_KEY: Any = object()
#: the fewest rows a load defers registering (see ``UnitOfWork.load_fresh``): a single
#: row is usually loaded to be changed, and registered at once
_DEFER_MIN_ROWS = 2
#: rows from which a SQLite INSERT's generated keys are worked out instead of returned
_KEYED_MIN_ROWS = 16


class _DeferredLoad(NamedTuple):
    """Objects made from a result, not registered yet (see ``UnitOfWork.load_fresh``)."""

    model: type[Any]
    key: tuple[str, ...]
    result: QueryResult
    converters: tuple[Converter, ...] | None
    objs: list[Any]

    def register(self, session: tuple[dict[Any, Any], dict[int, Any], type[Any]]) -> list[int]:
        """Register the objects with keys and snapshots from their rows; the positions
        left (see ``QueryResult.track_models``)."""
        return self.result.track_models(self.objs, self.model, self.key, session, self.converters)

    def leftover(self, uow: UnitOfWork, positions: list[int]) -> None:
        """Objects ``register`` left: none can be, as a load is deferred only into an
        empty identity map with distinct keys."""
        raise InterfaceError(
            f"internal error: {len(positions)} deferred {self.model.__name__} objects "
            "could not be registered"
        )


class _DeferredInsert(NamedTuple):
    """Objects just inserted, not registered yet (see ``UnitOfWork._take_plain``)."""

    model: type[Any]
    key: tuple[str, ...]
    objs: list[Any]
    #: what the objects' snapshots are made from: the snapshot layout, the statement's
    #: parameters, their row width, what RETURNING brought back and its width (see
    #: ``written_snapshots``)
    written: tuple[tuple[tuple[str, int], ...], list[Any], int, list[Any], int]

    def register(self, session: tuple[dict[Any, Any], dict[int, Any], type[Any]]) -> list[int]:
        """Register the objects with keys and snapshots as written; the positions left
        (see ``track_objects``)."""
        snapshots = written_snapshots(*self.written)
        return track_objects(self.objs, self.model, self.key, session, snapshots)

    def leftover(self, uow: UnitOfWork, positions: list[int]) -> None:
        """Objects ``register`` left (an object given twice) go through ``attach()``, as
        on ``_take_plain``'s eager path."""
        for position in positions:
            uow.attach(self.objs[position])


class _DeferredLinks(NamedTuple):
    """A relationship a deferred selectin load set on deferred parents and children:
    its snapshot entries wait for their states (see ``strategies._assign_many``)."""

    #: the parents' model
    model: type[Any]
    #: the relationship on the parents, and the reverse side set on the children (None
    #: when the load did not set it)
    key: str
    back: str | None
    uselist: bool
    #: each parent and what its snapshot records as loaded: a copy of the list made by
    #: the load, or the one related object (or None)
    loaded: list[tuple[Any, Any]]

    def register(self, session: tuple[dict[Any, Any], dict[int, Any], type[Any]]) -> list[int]:
        """Record the loaded values in the snapshots, as ``_assign_many`` does at once
        for registered objects: the parent's under ``key``, each child's under
        ``back``. Runs after the loads it links were registered."""
        states = session[1]
        key, back = self.key, self.back
        for parent, value in self.loaded:
            state = states.get(id(parent))
            if state is not None:
                state.snapshot[key] = value  # a list: the load's own copy
            if back is None:
                continue
            for child in value if self.uselist else (() if value is None else (value,)):
                child_state = states.get(id(child))
                if child_state is not None:
                    child_state.snapshot[back] = parent
        return []

    def leftover(self, uow: UnitOfWork, positions: list[int]) -> None:
        """``register`` leaves nothing."""


_Deferred = _DeferredLoad | _DeferredInsert | _DeferredLinks


class Runner(Protocol):
    """Something that runs SQL: an ``Engine`` or a ``Transaction``."""

    async def execute(self, sql: str, params: Sequence[Any] | None = None) -> QueryResult:
        """Run one statement."""


def _group(objs: Iterable[Any]) -> dict[type[Any], list[Any]]:
    groups: dict[type[Any], list[Any]] = {}
    for obj in objs:
        groups.setdefault(type(obj), []).append(obj)
    return groups


def _require_model(obj: Any) -> type[Any]:
    if not is_model_instance(obj):
        raise TypeError(f"expected a model instance, got {obj!r}")
    return type(obj)


class UnitOfWork:
    """Identity map, pending objects and writes for one session."""

    def __init__(self, dialect: str) -> None:
        self.dialect = dialect
        self._states: dict[int, InstanceState] = {}
        self._identity: dict[Hashable, Any] = {}
        #: loads whose objects are not registered yet (see :meth:`load_fresh`)
        self._deferred: list[_Deferred] = []
        self.new: dict[int, Any] = {}
        self.deleted: dict[int, Any] = {}
        #: the journal of the innermost open transaction level, if any
        self.journal: Journal | None = None

    # -- tracking ---------------------------------------------------------------------

    @property
    def states(self) -> dict[int, InstanceState]:
        """Every tracked object's state, by ``id(obj)``."""
        if self._deferred:
            self._settle()
        return self._states

    @property
    def identity(self) -> dict[Hashable, Any]:
        """The identity map: ``(model, pk)`` → object."""
        if self._deferred:
            self._settle()
        return self._identity

    def tracks_anything(self) -> bool:
        """Whether a flush could have anything to do (an object pending, deleted or
        tracked), without registering deferred loads."""
        return bool(self.new or self.deleted or self._states or self._deferred)

    def tracks_model(self, model: type[Any]) -> bool:
        """Whether an object of ``model`` is in the identity map or waits to be entered
        (a deferred load or insert), without registering what waits. A pass over the
        identity map's keys that stops at the first object of ``model``."""
        for entry in self._deferred:
            if entry.model is model:
                return True
        keys: Iterable[tuple[Any, ...]] = self._identity.keys()  # type: ignore[assignment]
        return any(key[0] is model for key in keys)

    def _settle(self) -> None:
        """Register the objects of deferred loads and inserts, as :meth:`load_fresh` and
        :meth:`_take_plain` would have at once: their keys and snapshots come from their
        rows as read or written, not from their current values, so changes made since
        are seen at the next flush."""
        deferred, self._deferred = self._deferred, []
        session = (self._identity, self._states, InstanceState)
        for i, entry in enumerate(deferred):
            try:
                left = entry.register(session)
            except BaseException:
                # nothing of the entry was registered: keep it (and the rest) for next time
                self._deferred = deferred[i:]
                raise
            if left:
                entry.leftover(self, left)

    def state_of(self, obj: Any) -> InstanceState | None:
        """The state of ``obj`` if this session tracks it."""
        return self.states.get(id(obj))

    def load(
        self,
        model: type[Any],
        result: QueryResult,
        converters: tuple[Converter, ...] | None,
        defer: bool = False,
        join: bool = False,
    ) -> list[Any]:
        """Instances of ``model`` for the rows of ``result``, registered in the identity
        map: one object per row (a row already mapped gives its object). ``defer`` and
        ``join``: see :meth:`load_fresh`."""
        return self.load_fresh(model, result, converters, defer, join)[0]

    def load_fresh(
        self,
        model: type[Any],
        result: QueryResult,
        converters: tuple[Converter, ...] | None,
        defer: bool = False,
        join: bool = False,
    ) -> tuple[list[Any], bool]:
        """:meth:`load`, and whether every object was made from this result (then none
        repeats). Instances are made and registered, with their snapshots, in one pass
        in Rust (``QueryResult.to_tracked_models``); the rows it leaves (a NULL key, a
        key already mapped) and models with JSON columns (their snapshots copy the JSON)
        go through :meth:`register_loaded`'s Python path.

        With ``defer`` (the caller does not use the session's maps before returning), a
        result of several rows into an empty identity map, whose keys are present and
        distinct, is only hydrated: registering waits until something reads ``states``
        or ``identity`` (a flush, another query, ``get``, ``delete``...), and a session
        closed before then never pays for it. That is the cost of a read-only session
        that loads many rows: the identity map and snapshots were 2-3x the hydration.

        With ``join`` as well, the load may also join deferred loads of other models
        (keys of different models never meet): the children of a selectin load whose
        parents were deferred (``strategies._selectin``)."""
        key = _TRACKED_KEY.get(model, _MISSING_KEY)
        if key is _MISSING_KEY:
            key = _TRACKED_KEY[model] = None if mutable_columns(model) else model_pk(model)
        if key is None:
            with gc_paused(len(result)):  # see ``loading.gc_paused``
                raw = result.to_models(model, converters)
                objs = self.register_loaded(model, raw)
            return objs, objs is raw
        if (
            defer
            and not self._identity
            and (not self._deferred or (join and self._defers_none_of(model)))
            and len(result) >= _DEFER_MIN_ROWS
            and result.distinct_keys(key, converters)
        ):
            # Its own list (the caller's may be sorted or cut before registering). The
            # entry is made before hydrating: a container allocated after the objects
            # would set off a collection that walks them all (see ``session._Done``).
            mine: list[Any] = []
            self._deferred.append(_DeferredLoad(model, key, result, converters, mine))
            try:
                objs = result.to_models(model, converters)
            except BaseException:
                self._deferred.pop()
                raise
            mine.extend(objs)
            return objs, True
        raw, left = result.to_tracked_models(
            model, key, (self.identity, self.states, InstanceState), converters
        )
        if not left:
            return raw, True
        objs = self._merge_loaded(model, raw, left)
        return objs, objs is raw

    def _defers_none_of(self, model: type[Any]) -> bool:
        return all(entry.model is not model for entry in self._deferred)

    def registers_later(self) -> bool:
        """Whether objects wait to be registered. Right after a load asked to defer,
        whether it did: every eager load looks at the maps, which registers what waits."""
        return bool(self._deferred)

    def defer_links(
        self, model: type[Any], key: str, back: str | None, uselist: bool, loaded: list[Any]
    ) -> None:
        """Record the snapshot entries of a relationship loaded on deferred objects
        (see ``_DeferredLinks``)."""
        self._deferred.append(_DeferredLinks(model, key, back, uselist, loaded))

    def register_loaded(self, model: type[Any], objs: list[Any]) -> list[Any]:
        """Put freshly hydrated ``objs`` (their ``__dict__`` holds column values only) in
        the identity map. A row already mapped keeps its object; that object takes the new
        values unless it has unflushed changes."""
        identity = self.identity
        states = self.states
        pk = model.__primary_key__
        if isinstance(pk, str) and not mutable_columns(model):
            if len(objs) == 1:
                obj = objs[0]
                d = obj.__dict__
                value = d.get(pk)
                one: Hashable = (model, value)
                if value is not None and one not in identity:
                    identity[one] = obj
                    states[id(obj)] = InstanceState(obj, one, True, d.copy())
                    return objs
            # The common case, in bulk (C-level loops): rows new to the session, each with
            # its own key. The snapshot of a fresh object is a plain copy of its __dict__.
            dicts = [obj.__dict__ for obj in objs]
            try:
                keys = list(zip(repeat(model), map(itemgetter(pk), dicts)))
            except KeyError:
                keys = None
            if keys is not None:
                fresh: dict[Hashable, Any] = dict(zip(keys, objs, strict=True))
                if (
                    len(fresh) == len(objs)
                    and (model, None) not in fresh
                    and (not identity or identity.keys().isdisjoint(fresh))
                ):
                    identity.update(fresh)
                    states.update(
                        zip(
                            map(id, objs),
                            map(InstanceState, objs, keys, repeat(True), map(dict.copy, dicts)),
                            strict=True,
                        )
                    )
                    return objs
        return self._merge_loaded(model, objs, range(len(objs)))

    def _merge_loaded(
        self, model: type[Any], objs: list[Any], positions: Iterable[int]
    ) -> list[Any]:
        """Register the fresh objects at ``positions`` of ``objs`` one by one: a row
        already mapped gives its object instead (which takes the row's values unless it
        has unflushed changes), a NULL key leaves the object untracked. Returns ``objs``,
        or a copy with those replacements."""
        identity = self.identity
        states = self.states
        pk = model.__primary_key__
        out = objs
        for i in positions:
            obj = objs[i]
            d = obj.__dict__
            if isinstance(pk, str):
                value = d.get(pk)
                key: Hashable | None = None if value is None else (model, value)
            else:
                key = identity_key(model, d)
            if key is None:
                continue
            existing = identity.get(key)
            if existing is None:
                identity[key] = obj
                states[id(obj)] = InstanceState(obj, key, True)
                continue
            state = states[id(existing)]
            if existing.__dict__ == state.snapshot:
                existing.__dict__.update(d)
                state.snapshot = take_snapshot(existing)
            if out is objs:
                out = list(objs)
            out[i] = existing
        return out

    def attach(self, obj: Any) -> InstanceState:
        """Track ``obj`` as a persistent row (after a write made it so)."""
        model = type(obj)
        key = identity_key(model, obj.__dict__)
        state = self.states.get(id(obj))
        if state is None:
            state = InstanceState(obj, key, True)
            self.states[id(obj)] = state
        else:
            if state.key is not None and state.key != key:
                self.identity.pop(state.key, None)
            state.mark_persistent(key)
        if key is not None:
            self.identity[key] = obj
        return state

    def forget(self, obj: Any) -> None:
        """Stop tracking ``obj`` (expunge)."""
        state = self.states.pop(id(obj), None)
        if state is not None and state.key is not None and self.identity.get(state.key) is obj:
            del self.identity[state.key]
        self.new.pop(id(obj), None)
        self.deleted.pop(id(obj), None)

    def clear(self) -> None:
        """Forget every object."""
        self._deferred.clear()
        self._states.clear()
        self._identity.clear()
        self.new.clear()
        self.deleted.clear()

    def add(self, obj: Any) -> None:
        """Mark ``obj`` for insertion at the next flush (a tracked row: nothing to do)."""
        _require_model(obj)
        state = self.states.get(id(obj))
        if state is not None and state.persistent:
            self.deleted.pop(id(obj), None)
            return
        if id(obj) not in self.new:
            self.new[id(obj)] = obj
            if self.journal is not None:
                self.journal.added.append(obj)

    def mark_deleted(self, obj: Any) -> None:
        """Mark ``obj`` for deletion at the next flush (a pending object is just dropped)."""
        _require_model(obj)
        if self.new.pop(id(obj), None) is not None:
            return
        state = self.states.get(id(obj))
        if state is None or not state.persistent:
            raise InterfaceError(f"{obj!r} is not persistent in this session; nothing to delete")
        self.deleted[id(obj)] = obj

    def dirty_states(self) -> list[InstanceState]:
        """Persistent objects whose columns or loaded relationships changed since they
        were loaded or written (objects marked for deletion left out). The pass over
        every state is ``_ormkit.changed_states``; what differs is judged here."""
        return [
            state
            for state in changed_states(self.states, self.deleted)
            if is_dirty(state.obj, state.snapshot)
        ]

    def any_dirty(self) -> bool:
        """Whether :meth:`dirty_states` would find anything (stops at the first)."""
        found = changed_states(self.states, self.deleted, True)
        if not found:
            return False
        state = found[0]
        return is_dirty(state.obj, state.snapshot) or bool(self.dirty_states())

    def has_changes(self) -> bool:
        """Whether a flush would write anything."""
        return bool(self.new or self.deleted or self.dirty_states())

    # -- flush ------------------------------------------------------------------------

    async def flush(self, runner: Runner) -> None:
        """Write pending inserts, changes and deletes through ``runner``, with what
        relationships imply (see :mod:`ormkit.orm.cascade`)."""
        plan = cascade.prepare(self, None)
        if plan.unknown:
            await cascade.load_replaced(self, runner, plan)
        dirty = self._prevalidate(plan.inserts.values())
        if plan.relational and (dirty or self.deleted):
            await self._release_first(runner, plan, dirty)
        if plan.inserts:
            await self._insert_all(runner, list(plan.inserts.values()), plan)
        if plan.relational:
            for state in list(self.states.values()):
                if state.persistent and id(state.obj) not in plan.inserts:
                    cascade.sync_foreign_keys(self, state.obj, plan)
            cascade.apply_nullify(self, plan)
        if plan.relational or plan.inserts:
            dirty = self.dirty_states()  # inserts and relationships may have changed more
        for state in dirty:
            if not await self.update(runner, state.obj, None, False) and plan.relational:
                # only relationships changed: what they imply is written by now
                self.relationships_written(state, None)
        await cascade.write_associations(self, runner, plan)
        if self.deleted:
            await self.delete(runner, list(self.deleted.values()))
        cascade.finish(self, plan)

    async def _release_first(
        self, runner: Runner, plan: cascade.FlushPlan, dirty: list[InstanceState]
    ) -> None:
        """Before a flush's inserts: write the rows that give up a unique value another
        row of the flush takes (see :func:`cascade.released_first`) — a replaced
        one-to-one child set to NULL or deleted, a unique foreign key moved to another
        row — so that no statement meets the old value still in place."""
        deletes, updates = cascade.released_first(self, plan, dirty)
        if deletes:
            await self.delete(runner, deletes)
        for obj in updates:
            cascade.sync_foreign_keys(self, obj, plan)
            await self.update(runner, obj, None, False)

    # -- writes -----------------------------------------------------------------------

    async def insert(self, runner: Runner, objs: Sequence[Any]) -> None:
        """INSERT ``objs`` (and the new objects their loaded relationships reach),
        referenced tables first, multi-row, batched under the bind-parameter limit;
        generated keys and server defaults come back through RETURNING."""
        await self.write_insert(runner, self.plan_insert(objs))

    def can_insert_alone(self, obj: Any) -> bool:
        """Whether ``obj`` is a new object whose INSERT is the whole write (see
        :meth:`insert_alone`): a model without relationships, insert hooks or overridden
        insert/validate methods."""
        model = type(obj)
        if not plain_insert_model(model):
            return False
        state = self.states.get(id(obj))
        if state is not None and state.persistent:
            return False  # insert() says why
        return getattr(obj, "before_insert", None) is None and (
            getattr(obj, "after_insert", None) is None
        )

    async def insert_alone(self, runner: Runner, obj: Any) -> None:
        """INSERT one object that :meth:`can_insert_alone` accepted: what :meth:`insert`
        does for it, without the relationship planning it does not need (objects the fast
        path takes, see :meth:`prepare_plain`, do not come here)."""
        model = type(obj)
        self._prevalidate((obj,))
        row = obj.__ormkit_insert_values__()
        obj.__ormkit_validate__()
        columns = tuple(row)
        values = list(row.values())
        if precompiled.has_expression(values):
            await self.insert(runner, [obj])
            return
        template = precompiled.insert_rows(model, self.dialect, columns, 1, True)
        before = dict(obj.__dict__) if self.journal is not None else {}
        result = await runner.execute(template.sql, template.params(values))
        fresh = result.to_models(model, template.converters)
        if len(fresh) != 1:
            raise InterfaceError(
                f"INSERT into {model.__tablename__} returned {len(fresh)} rows for 1"
            )
        obj.__dict__.update(fresh[0].__dict__)
        self.new.pop(id(obj), None)
        state = self.attach(obj)
        if self.journal is not None:
            self.journal.record_insert(state, before)

    def prepare_plain(self, objs: list[Any]) -> bulk_insert.Prepared | None:
        """``objs`` checked for the fast INSERT of a plain model (see
        :mod:`ormkit.orm.bulk_insert`), or None: the general path (:meth:`plan_insert`)
        decides. Pending changes of tracked objects are validated as there."""
        prepared = bulk_insert.prepare(objs, self.states)
        if prepared is not None and self.states:
            self._prevalidate(())
        return prepared

    def plain_one_statement(self, prepared: bulk_insert.Prepared) -> bool:
        """Whether :meth:`write_plain` sends one statement (atomic by itself)."""
        return len(prepared.objs) <= prepared.rows_per_statement(self.dialect)

    async def write_plain(self, runner: Runner, prepared: bulk_insert.Prepared) -> None:
        """INSERT prepared objects, multi-row, batched under the bind-parameter limit; what
        the database fills comes back through RETURNING and is set on the objects, which
        join the identity map batch by batch (a later failure: the caller's rollback
        puts them back through the journal)."""
        total = len(prepared.objs)
        if total == 1:
            template = precompiled.insert_returning(
                prepared.model, self.dialect, prepared.columns, 1, prepared.returning
            )
            result = await runner.execute(template.sql, template.params(prepared.params))
            self._take_plain(prepared, 0, prepared.params, result, template.converters)
            return
        size = prepared.rows_per_statement(self.dialect)
        width = len(prepared.columns)
        params = prepared.params
        for start in range(0, total, size):
            count = min(size, total - start)
            template = precompiled.insert_returning(
                prepared.model, self.dialect, prepared.columns, count, prepared.returning
            )
            chunk = params if count == total else params[start * width : (start + count) * width]
            sent = chunk if template.in_order else template.params(chunk)
            insert_keys = self._key_inserter(runner, prepared) if count >= _KEYED_MIN_ROWS else None
            if insert_keys is not None:
                plain = precompiled.insert_returning(
                    prepared.model, self.dialect, prepared.columns, count, ()
                )
                result = await insert_keys(
                    plain.sql,
                    template.sql,
                    sent,
                    prepared.model.__tablename__,
                    prepared.spec.pk,
                    count,
                )
            else:
                result = await runner.execute(template.sql, sent)
            self._take_plain(prepared, start, chunk, result, template.converters)

    def _key_inserter(
        self, runner: Runner, prepared: bulk_insert.Prepared
    ) -> Callable[..., Awaitable[QueryResult]] | None:
        """``Engine._insert_keys`` of ``runner`` when the keys of this insert may be worked
        out rather than returned: on SQLite, through the engine (a transaction's
        statements go to the writer thread anyway), when RETURNING would bring back only
        the generated integer key; else None."""
        spec = prepared.spec
        if self.dialect != "sqlite" or not spec.autoincrement or prepared.returning != (spec.pk,):
            return None
        found: Callable[..., Awaitable[QueryResult]] | None = getattr(runner, "_insert_keys", None)
        return found

    def _take_plain(
        self,
        prepared: bulk_insert.Prepared,
        start: int,
        chunk: list[Any],
        result: QueryResult,
        converters: tuple[Converter, ...] | None,
    ) -> None:
        """Set what RETURNING brought back on the objects of one statement (written with
        the parameters ``chunk``, from object ``start`` on) and register them (identity
        map, snapshots, journal)."""
        model = prepared.model
        width = len(prepared.columns)
        count = len(chunk) // width
        objs = (
            prepared.objs if count == len(prepared.objs) else prepared.objs[start : start + count]
        )
        journal = self.journal
        befores = [dict(vars(obj)) for obj in objs] if journal is not None else []
        pk = prepared.spec.pk
        returning = prepared.returning
        returned: list[Any] = []
        if returning:
            if len(result) != count:
                raise InterfaceError(
                    f"INSERT into {model.__tablename__} returned {len(result)} rows for {count}"
                )
            # RETURNING rows come in the order the rows were written, VALUES order, on
            # both backends; generated keys need not ascend in it (a descending
            # sequence; SQLite's rowids past the largest, picked at random)
            if len(returning) == 1 and converters is None:
                returned = result.column(0)  # the generated key alone
                if None in returned:
                    raise _null_key(model, pk)
            else:
                rows = result.tuples(converters)
                if returning[0] == pk and pk not in prepared.columns:  # a generated key
                    if any(row[0] is None for row in rows):
                        raise _null_key(model, pk)
                else:
                    by_key = {row[0]: row for row in rows}
                    try:
                        rows = [by_key[k] for k in chunk[prepared.columns.index(pk) :: width]]
                    except (KeyError, TypeError):
                        raise InterfaceError(
                            f"INSERT into {model.__tablename__} returned rows that do not "
                            "match the inserted keys"
                        ) from None
                returned = [row[0] for row in rows] if len(returning) == 1 else rows
            set_returned(objs, returning, returned)
        new = self.new
        if new:
            for obj in objs:
                new.pop(id(obj), None)
        written = (prepared.layout, chunk, width, returned, len(returning))
        if (
            journal is None
            and count == len(prepared.objs)
            and count >= _DEFER_MIN_ROWS
            and not self._identity
            and not self._states
            and not self._deferred
        ):
            # Keys freshly written are distinct and the session maps nothing: as for a
            # large load (load_fresh), registering waits until the session's maps are
            # read; the snapshots are made then, from what was written. A session closed
            # first (a bulk load) never pays for it.
            self._deferred.append(_DeferredInsert(model, (pk,), objs, written))
            return
        # identity map, states and snapshots in one Rust pass; objects it leaves (a
        # state already, a key already mapped) go through attach()
        states = self.states
        snapshots = written_snapshots(*written)
        session = (self.identity, states, InstanceState)
        for i in track_objects(objs, model, (pk,), session, snapshots):
            self.attach(objs[i])
        if journal is not None:
            for obj, before in zip(objs, befores, strict=True):
                journal.record_insert(states[id(obj)], before)

    def plan_insert(self, objs: Sequence[Any]) -> cascade.FlushPlan:
        """Check that ``objs`` can be inserted, find what their loaded relationships add,
        and validate the values of every object the insert will write."""
        for obj in objs:
            _require_model(obj)
            state = self.states.get(id(obj))
            if state is not None and state.persistent:
                raise InterfaceError(f"{obj!r} is already persistent; use update() to change it")
        plan = cascade.prepare(self, objs)
        self._prevalidate(plan.inserts.values())
        return plan

    def one_statement(self, plan: cascade.FlushPlan) -> bool:
        """Whether writing ``plan`` is a single INSERT, atomic by itself (no transaction
        needed): objects of one model without insert hooks or relationship work, whose
        rows share their columns and fit in one statement."""
        if plan.assoc_add or plan.assoc_remove or plan.links or plan.nullify or plan.touched:
            return False
        objs = list(plan.inserts.values())
        if not objs:
            return False
        model = type(objs[0])
        for obj in objs:
            if type(obj) is not model:
                return False
        for hook in ("before_insert", "after_insert"):
            if getattr(model, hook, None) is not None:
                return False
        relationships = model.__relationships__
        if relationships:
            for obj in objs:
                d = obj.__dict__
                for key in relationships:
                    if key in d:
                        return False
        if len(objs) == 1:
            return True
        columns = model.__columns__
        if len(objs) * max(1, len(columns)) > get_dialect(self.dialect).max_params:
            return False
        for key, info in columns.items():
            if not info.generated:
                continue
            if info.default is not None:
                return False  # the row's columns depend on what the default gives
            missing = objs[0].__dict__.get(key) is None
            for obj in objs:
                if (obj.__dict__.get(key) is None) is not missing:
                    return False
        return True

    async def write_insert(self, runner: Runner, plan: cascade.FlushPlan) -> None:
        """Write a planned insert (see :meth:`plan_insert`) through ``runner``."""
        await self._insert_all(runner, list(plan.inserts.values()), plan)
        await cascade.write_associations(self, runner, plan)
        cascade.finish(self, plan)

    def _prevalidate(self, new: Iterable[Any]) -> list[InstanceState]:
        """Check the values of every object a write will touch before its first
        statement: types and lengths of new objects (missing values are checked once
        defaults, hooks and foreign keys are applied), and every pending change. Objects
        of a plain model whose values all fit as they are (the fast insert's check) need
        no look one by one. Returns the dirty states it checked."""
        rest: list[Any] = []
        for group in _group(new).values():
            if bulk_insert.prepare(group, {}) is None:
                rest.extend(group)
        for obj in rest:
            model = type(obj)
            columns = model.__columns__
            for key, value in obj.__dict__.items():
                if value is not None:
                    info = columns.get(key)
                    if info is None:
                        continue
                    ctype = info.type
                    kind = type(value)
                    if kind in ctype.plain_types or (
                        ctype.naive_datetime and kind is datetime and value.tzinfo is None
                    ):
                        continue
                    check_column(model, key, value, insert=True)
        dirty = self.dirty_states()
        for state in dirty:
            validate_values(type(state.obj), changed_columns(state.obj, state.snapshot))
        return dirty

    async def _insert_all(self, runner: Runner, objs: list[Any], plan: cascade.FlushPlan) -> None:
        groups = _group(objs)
        for model in sort_models(groups) if len(groups) > 1 else groups:
            for generation in cascade.generations(self, groups[model], plan):
                if model.__relationships__ or plan.links:
                    for obj in generation:
                        cascade.sync_foreign_keys(self, obj, plan)
                await self._insert_model(runner, model, generation)

    async def _insert_model(self, runner: Runner, model: type[Any], objs: list[Any]) -> None:
        prepared = bulk_insert.prepare(objs, self.states)
        if prepared is not None:
            await self.write_plain(runner, prepared)
            return
        for obj in objs:
            if getattr(obj, "before_insert", None) is not None:
                await run_hook(obj, "before_insert")
        journal = self.journal
        befores = [dict(obj.__dict__) for obj in objs] if journal is not None else []
        rows = [obj.__ormkit_insert_values__() for obj in objs]
        for obj in objs:
            obj.__ormkit_validate__()
        pk = model_pk(model)
        new = self.new
        states = self.states
        identity = self.identity
        # a plain key and no JSON: the object's snapshot is a copy of its __dict__
        pk_name = pk[0]
        simple = len(pk) == 1 and not mutable_columns(model) and not model.__relationships__
        for start, count, sql, params, converters in self._insert_batches(model, rows):
            result = await runner.execute(sql, params)
            if converters is _FROM_RESULT:
                converters = model.__ormkit_converters__(self.dialect, result.columns)
            fresh = result.to_models(model, converters)
            matched = _match_rows(model, rows[start : start + count], fresh, pk)
            for i, row in enumerate(matched, start):
                obj = objs[i]
                d = obj.__dict__
                d.update(row.__dict__)
                new.pop(id(obj), None)
                value = d.get(pk_name) if simple else None
                key = (model, value)
                if value is not None and id(obj) not in states and key not in identity:
                    state = InstanceState(obj, key, True, d.copy())
                    states[id(obj)] = state
                    identity[key] = obj
                else:
                    state = self.attach(obj)
                if journal is not None:
                    journal.record_insert(state, befores[i])
        for obj in objs:
            if getattr(obj, "after_insert", None) is not None:
                await run_hook(obj, "after_insert")

    def _insert_batches(
        self, model: type[Any], rows: list[dict[str, Any]]
    ) -> list[tuple[int, int, str, list[Any], Any]]:
        """``(start, count, sql, params, converters)`` per INSERT … RETURNING: consecutive
        rows with the same columns share a statement, under the bind-parameter limit."""
        dialect = get_dialect(self.dialect)
        out: list[tuple[int, int, str, list[Any], Any]] = []
        start = 0
        total = len(rows)
        while start < total:
            keys = rows[start].keys()
            end = start + 1
            while end < total and rows[end].keys() == keys:
                end += 1
            columns = tuple(keys)
            size = dialect.rows_per_statement(len(columns)) if columns else 1
            for first in range(start, end, size):
                chunk = rows[first : min(first + size, end)]
                out.append((first, len(chunk), *self._insert_sql(model, columns, chunk)))
            start = end
        return out

    def _insert_sql(
        self, model: type[Any], columns: tuple[str, ...], rows: list[dict[str, Any]]
    ) -> tuple[str, list[Any], Any]:
        """SQL, parameters and result converters of one multi-row INSERT … RETURNING."""
        values: list[Any]
        if len(columns) == 1:
            values = [row[columns[0]] for row in rows]
        elif columns:
            values = list(chain.from_iterable(map(itemgetter(*columns), rows)))
        else:
            values = []
        if precompiled.has_expression(values):
            stmt = insert(model)._values_as_given(rows).returning(model)
            sql, params = stmt.to_sql(self.dialect)
            return sql, params, _FROM_RESULT
        template = precompiled.insert_rows(model, self.dialect, columns, len(rows), True)
        return template.sql, template.params(values), template.converters

    def _returned(self, model: type[Any], result: QueryResult) -> list[Any]:
        converters = model.__ormkit_converters__(self.dialect, result.columns)
        return result.to_models(model, converters)

    async def update(
        self,
        runner: Runner,
        obj: Any,
        values: dict[str, Any] | None = None,
        relationships: bool = True,
    ) -> bool:
        """UPDATE the changed columns of ``obj`` (and ``values``, set on it first).

        With ``relationships`` (``session.update()``), a tracked object's changed
        many-to-one relationships whose targets are rows (or None) set their foreign
        keys first, as a flush would (a key given in ``values`` wins); its other
        relationship changes (collections, a target not inserted yet) are left for the
        next flush. A flush passes False: it has set the keys and writes the rest itself
        (:mod:`ormkit.orm.cascade`).

        Checks and bumps the version column; raises ``StaleDataError`` when no row
        matched. Returns False when nothing changed (no SQL is sent)."""
        model = _require_model(obj)
        if values:
            validate_values(model, values)
        state = self.states.get(id(obj))
        tracked = state is not None and state.persistent
        d = obj.__dict__
        before_call = dict(d) if tracked else None
        try:
            if values:
                d.update(values)
            #: on update() of a model with relationships: the many-to-one ones written
            linked: set[str] | None = None
            if tracked:
                assert state is not None
                if relationships and model.__relationships__:
                    linked = cascade.sync_own_foreign_keys(self, obj, state.snapshot, values)
                changes = changed_columns(obj, state.snapshot)
                if not changes:
                    if linked:
                        self.relationships_written(state, linked)
                    return False
                if getattr(obj, "before_update", None) is not None:
                    await run_hook(obj, "before_update")
                    changes = changed_columns(obj, state.snapshot)  # the hook may change more
                where_values: dict[str, Any] = state.snapshot
            else:
                await run_hook(obj, "before_update")
                pk = set(model_pk(model))
                changes = {k: d[k] for k in (values or model.__columns__) if k not in pk and k in d}
                where_values = d
            columns = model.__columns__
            for key, value in onupdate_values(model, values or ()).items():
                d[key] = changes[key] = value
            version = model.__version_column__
            pk_values = [where_values.get(k) for k in model_pk(model)]
            current = where_values.get(version) if version is not None else None
            if current is not None:
                assert version is not None
                changes[version] = current + 1
            validate_values(model, changes)
            computed: tuple[str, ...] = ()
            converters: tuple[Converter, ...] | None = None
            if (
                precompiled.has_expression(pk_values)
                or None in pk_values
                or precompiled.has_expression(changes.values())
            ):
                conditions = [
                    pk_condition(model, dict(zip(model_pk(model), pk_values, strict=True)))
                ]
                if current is not None:
                    conditions.append(columns[version].expr == current)
                stmt = update(model).values(changes).where(*conditions)
                # values the database computes (``User.n + 1``, ``func.now()``) come back
                # through RETURNING: the object holds them, not the expressions
                computed = tuple(k for k, v in changes.items() if isinstance(v, ClauseElement))
                if computed:
                    stmt = stmt.returning(*computed)
                    converters = stmt.result_converters(self.dialect)
                sql, params = stmt.to_sql(self.dialect)
            else:
                template = precompiled.update_by_pk(
                    model, self.dialect, tuple(changes), current is not None
                )
                bound = [*changes.values(), *pk_values]
                if current is not None:
                    bound.append(current)
                sql, params = template.sql, template.params(bound)
        except BaseException:
            if before_call is not None:  # a hook or a check refused it: nothing was sent
                d.clear()
                d.update(before_call)
            raise
        if tracked and self.journal is not None:
            assert state is not None
            self.journal.record_update(state)
        result = await runner.execute(sql, params)
        if (len(result) if computed else result.rowcount) == 0:
            raise StaleDataError(
                f"UPDATE of {obj!r} matched no row: "
                + (
                    "another writer changed or deleted it first (version check)"
                    if version is not None
                    else "the row was deleted"
                )
            )
        if version is not None and version in changes:
            d[version] = changes[version]
        if computed:
            d.update(zip(computed, result.tuples(converters)[0], strict=True))
        if tracked:
            assert state is not None
            before = state.snapshot
            if state.key != identity_key(model, d):
                self.attach(obj)
            else:
                state.snapshot = take_snapshot(obj)
            if linked is not None:
                _keep_pending(state.snapshot, before, model, linked)
        else:
            self.attach(obj)
        await run_hook(obj, "after_update")
        return True

    def relationships_written(self, state: InstanceState, keys: Iterable[str] | None) -> None:
        """The relationships ``keys`` (None: every loaded one) of a persistent object
        were written though none of its columns changed (its foreign key already held
        the new target's key, or the rows on the other side were written): its snapshot
        takes them (journalled), so the object is no longer dirty."""
        obj = state.obj
        d = obj.__dict__
        snapshot = state.snapshot
        if keys is None:
            if not relationships_changed(obj, snapshot):
                return
            written = [key for key in type(obj).__relationships__ if key in d]
        else:
            written = [
                key for key in keys if key in d and snapshot.get(key, _MISSING_KEY) is not d[key]
            ]
            if not written:
                return
        if self.journal is not None:
            self.journal.record_update(state)
        for key in written:
            value = d[key]
            snapshot[key] = list(value) if isinstance(value, list) else value

    async def delete_plain(self, runner: Runner, obj: Any) -> bool:
        """DELETE the row of one object of a model without relationships, delete hooks,
        version column or composite key by its primary key, in one statement; False
        (nothing done) for anything else: :meth:`delete` handles it."""
        model = type(obj)
        if not isinstance(model.__dict__.get("__columns__"), dict):
            return False
        if model.__dict__.get("_ormkit_plain_delete") is None:
            model._ormkit_plain_delete = (
                not model.__relationships__
                and model.__version_column__ is None
                and isinstance(model.__primary_key__, str)
                and getattr(model, "before_delete", None) is None
                and getattr(model, "after_delete", None) is None
            )
        d = obj.__dict__
        if not model._ormkit_plain_delete or "before_delete" in d or "after_delete" in d:
            return False
        state = self.states.get(id(obj))
        where = state.snapshot if state is not None and state.persistent else obj.__dict__
        value = where.get(model.__primary_key__)
        if value is None or isinstance(value, ClauseElement):
            return False
        template = precompiled.delete_by_pk(model, self.dialect, False)
        await runner.execute(template.sql, [value])
        if state is not None:
            if self.journal is not None:
                self.journal.record_delete(state)
            self.forget(obj)
            state.persistent = False
        return True

    def delete_is_one_statement(self, objs: Sequence[Any]) -> bool:
        """Whether :meth:`delete` of ``objs`` is a single DELETE, atomic by itself:
        objects of one model without delete hooks, cascades or association rows, one
        row (or, without a version column or composite key, up to 1,000 rows)."""
        if not objs:
            return False
        model = type(objs[0])
        if not is_model_class(model):
            return False
        for obj in objs:
            if type(obj) is not model:
                return False
            for hook in ("before_delete", "after_delete"):
                if getattr(obj, hook, None) is not None:
                    return False
        relationships = model.__relationships__
        if relationships:
            if any(rel.direction == "many_to_many" for rel in relationships.values()):
                return False
            if cascade.cascades_deletes(model):
                return False
        if model.__version_column__ is not None or not isinstance(model.__primary_key__, str):
            return len(objs) == 1
        return len(objs) <= 1000

    async def delete(self, runner: Runner, objs: Sequence[Any]) -> None:
        """DELETE the rows of ``objs`` and of the children their ``cascade="delete"``
        relationships reach (see :func:`cascade.expand_deletes`), referencing tables
        first; with a version column each row is checked (``StaleDataError``)."""
        objs = await cascade.expand_deletes(self, runner, objs)
        for obj in objs:
            _require_model(obj)
            await run_hook(obj, "before_delete")
        await cascade.delete_associations(self, runner, objs)
        groups = _group(objs)
        for model in reversed(sort_models(groups)):
            await self._delete_model(runner, model, groups[model])
        for obj in objs:
            state = self.states.get(id(obj))
            if state is not None:
                if self.journal is not None:
                    self.journal.record_delete(state)
                self.forget(obj)
                state.persistent = False
            await run_hook(obj, "after_delete")

    async def _delete_model(self, runner: Runner, model: type[Any], objs: list[Any]) -> None:
        pk = model_pk(model)
        version = model.__version_column__

        def where_of(obj: Any) -> dict[str, Any]:
            state = self.states.get(id(obj))
            return state.snapshot if state is not None and state.persistent else obj.__dict__

        if version is not None or len(pk) > 1:
            for obj in objs:
                values = where_of(obj)
                pk_values = [values.get(k) for k in pk]
                current = values.get(version) if version is not None else None
                if precompiled.has_expression(pk_values) or None in pk_values:
                    conditions = [pk_condition(model, dict(zip(pk, pk_values, strict=True)))]
                    if current is not None:
                        conditions.append(model.__columns__[version].expr == current)
                    sql, params = delete(model).where(*conditions).to_sql(self.dialect)
                else:
                    template = precompiled.delete_by_pk(model, self.dialect, current is not None)
                    if current is not None:
                        pk_values.append(current)
                    sql, params = template.sql, template.params(pk_values)
                result = await runner.execute(sql, params)
                if result.rowcount == 0 and version is not None:
                    raise StaleDataError(
                        f"DELETE of {obj!r} matched no row: another writer changed or "
                        "deleted it first (version check)"
                    )
            return
        column = model.__columns__[pk[0]].expr
        keys = [where_of(obj).get(pk[0]) for obj in objs]
        size = 1000
        for start in range(0, len(keys), size):
            chunk = keys[start : start + size]
            if precompiled.has_expression(chunk) or None in chunk:
                sql, params = delete(model).where(column.in_(chunk)).to_sql(self.dialect)
            else:
                template = precompiled.delete_in(model, self.dialect, len(chunk))
                sql, params = template.sql, template.params(chunk)
            await runner.execute(sql, params)

    def plan_upsert(
        self,
        objs: Sequence[Any],
        conflict_target: str | Any | Iterable[Any],
        update_fields: str | Any | Iterable[Any] | None,
    ) -> Upsert:
        """Check an upsert of ``objs`` (of one model) before anything is sent: column
        names, defaults applied, values validated, and no two objects with the same
        conflict-target value (``ValidationError``: PostgreSQL refuses a statement that
        writes a row twice, SQLite would give both objects the one row, and across
        batches the second would overwrite the first)."""
        groups = _group(objs)
        if len(groups) > 1:
            raise TypeError("upsert_all() takes objects of one model")
        ((model, items),) = groups.items()
        _require_model(items[0])
        base = insert(model)
        target = base._conflict_columns(conflict_target, "upsert_all() conflict_target")
        if not target:
            raise ValueError("upsert_all() needs a conflict target (a column name)")
        fields: Sequence[str] | None = None
        if update_fields is not None:
            fields = base._conflict_columns(update_fields, "upsert_all() update_fields")
        rows = [obj.__ormkit_insert_values__() for obj in items]
        for obj in items:
            obj.__ormkit_validate__()
        _check_distinct_targets(model, rows, target)
        if fields is None:
            skip = {*target, *model_pk(model), "created_at"}
            fields = [k for k in rows[0] if k not in skip] if rows else []
        # nothing to update: the conflict target set to itself, a no-op that still
        # returns the stored row
        fields = fields or list(target[:1])
        befores = [dict(obj.__dict__) for obj in items]
        stmt = base._values_as_given(rows).on_conflict_do_update(target, fields).returning(model)
        return Upsert(model, items, rows, befores, target, stmt)

    async def upsert(self, runner: Runner, planned: Upsert) -> None:
        """``INSERT … ON CONFLICT (target) DO UPDATE`` of a :meth:`plan_upsert`; each
        object gets the stored row."""
        model, items, rows, befores, target, stmt = planned
        start = 0
        written: set[Hashable | None] = set()
        for sql, params, count in stmt.to_sql_batches(self.dialect):
            fresh = self._returned(model, await runner.execute(sql, params))
            # one row for two objects: target values the database computed (SQL
            # expressions) came out equal, which plan_upsert could not see
            written.update(identity_key(model, f.__dict__) for f in fresh)
            if len(written) < start + count:
                raise InterfaceError(
                    f"upsert_all(): two {model.__name__} objects were written to the same "
                    f"row (their {', '.join(target)} values, computed by the database, are "
                    "equal); the upsert is rolled back with its transaction"
                )
            matched = _match_rows(model, rows[start : start + count], fresh, target)
            chunk = zip(
                items[start : start + count], matched, befores[start : start + count], strict=True
            )
            for obj, row, before in chunk:
                self._take_upserted(model, obj, row.__dict__, before)
            start += count

    def _take_upserted(
        self, model: type[Any], obj: Any, values: dict[str, Any], before: dict[str, Any]
    ) -> None:
        obj.__dict__.update(values)
        key = identity_key(model, values)
        existing = self.identity.get(key) if key is not None else None
        if existing is not None and existing is not obj:
            existing_state = self.states[id(existing)]
            if self.journal is not None:
                self.journal.record_update(existing_state)
            existing.__dict__.update(values)
            existing_state.snapshot = take_snapshot(existing)
            return
        state = self.states.get(id(obj))
        if state is not None and state.persistent:
            if self.journal is not None:
                self.journal.record_update(state)
            self.attach(obj)
            return
        self.new.pop(id(obj), None)
        state = self.attach(obj)
        if self.journal is not None:
            self.journal.record_insert(state, before)

    # -- rollback ---------------------------------------------------------------------

    def undo(self, journal: Journal) -> None:
        """Put objects back as they were before the rolled-back level wrote them."""
        inserted = {id(state) for state, _before in journal.inserted}
        for state, snapshot in journal.deleted:
            if id(state) not in inserted:
                self._restore(state, snapshot)
        for state, snapshot in journal.updated.values():
            if id(state) not in inserted and state.persistent:
                self._restore(state, snapshot)
        for state, before in reversed(journal.inserted):
            obj = state.obj
            self.forget(obj)
            state.persistent = False
            state.key = None
            obj.__dict__.clear()
            obj.__dict__.update(before)
        for obj in journal.added:
            self.new.pop(id(obj), None)
        for state, key in journal.loaded:  # read inside the rolled-back level: unload
            state.obj.__dict__.pop(key, None)
            state.snapshot.pop(key, None)

    def _restore(self, state: InstanceState, snapshot: dict[str, Any]) -> None:
        d = state.obj.__dict__
        model = type(state.obj)
        for key in model.__columns__:
            if key in snapshot:
                d[key] = snapshot[key]
        for key, rel in model.__relationships__.items():
            if key in snapshot:
                value = snapshot[key]
                if rel.back_populates is not None and not rel.uselist:
                    if d.get(key, _MISSING_KEY) is not value:
                        # back on its side: out of the collection it moved to, into the
                        # one it left (where loaded), as an assignment would
                        assign(state.obj, rel, value)
                    continue
                d[key] = list(value) if isinstance(value, list) else value
        self.states[id(state.obj)] = state
        self.attach(state.obj)

    def revert_unflushed(self) -> None:
        """Drop pending inserts and deletes and undo unflushed attribute and
        relationship changes."""
        self.new.clear()
        self.deleted.clear()
        for state in self.dirty_states():
            self._restore(state, state.snapshot)


def _keep_pending(
    snapshot: dict[str, Any], before: dict[str, Any], model: type[Any], linked: set[str]
) -> None:
    """After ``update()`` wrote an object: its snapshot (taken from the object) keeps
    the relationships it did not write (all but the many-to-one ones in ``linked``) as
    they were in ``before``, so that they stay pending for the next flush."""
    for key in model.__relationships__:
        if key in linked:
            continue
        old = before.get(key, _MISSING_KEY)
        if old is _MISSING_KEY:
            snapshot.pop(key, None)
        else:
            snapshot[key] = old


def plain_insert_model(model: type[Any]) -> bool:
    """A mapped model without relationships whose insert and validate methods are
    ``Base``'s own (cached on the class)."""
    found: bool | None = model.__dict__.get("_ormkit_plain_insert")
    if found is None:
        if not isinstance(model.__dict__.get("__columns__"), dict):
            return False
        from ormkit.orm.base import Base

        found = (
            not model.__relationships__
            and getattr(model, "__ormkit_insert_values__", None) is Base.__ormkit_insert_values__
            and getattr(model, "__ormkit_validate__", None) is Base.__ormkit_validate__
        )
        model._ormkit_plain_insert = found
    return found


class Upsert(NamedTuple):
    """An upsert checked by ``UnitOfWork.plan_upsert``, ready to send."""

    model: type[Any]
    objs: list[Any]
    #: the values inserted, per object
    rows: list[dict[str, Any]]
    #: each object's attributes before the upsert (what a rollback gives back)
    befores: list[dict[str, Any]]
    target: tuple[str, ...]
    statement: Any


def _check_distinct_targets(
    model: type[Any], rows: list[dict[str, Any]], target: tuple[str, ...]
) -> None:
    """``ValidationError`` when two rows have the same (non-NULL) conflict-target value.
    Rows without a value for the whole target (NULL, the database fills it, an SQL
    expression) never conflict with each other and are left out."""
    if len(rows) < 2:
        return
    seen: dict[tuple[Any, ...], int] = {}
    for i, row in enumerate(rows):
        try:
            values = tuple(row[k] for k in target)
        except KeyError:
            continue
        if precompiled.has_expression(values) or None in values:
            continue
        try:
            first = seen.setdefault(values, i)
        except TypeError:  # an unhashable value: the database judges
            continue
        if first != i:
            shown = ", ".join(f"{k}={v!r}" for k, v in zip(target, values, strict=True))
            raise ValidationError(
                f"upsert_all(): the {model.__name__} objects at positions {first} and {i} "
                f"have the same conflict target value ({shown}); an upsert writes each row "
                "once: merge them into one object (nothing was written)",
                model=model.__name__,
                field=target[0] if len(target) == 1 else None,
            )


def _null_key(model: type[Any], pk: str) -> InterfaceError:
    return InterfaceError(
        f"INSERT into {model.__tablename__} left {pk} NULL: the database does not "
        "generate it (on SQLite an int key must be INTEGER PRIMARY KEY)"
    )


def _match_rows(
    model: type[Any], rows: list[dict[str, Any]], fresh: list[Any], keys: Sequence[str]
) -> list[Any]:
    """Returned rows in the order of the inserted ``rows``: matched on ``keys`` when the
    rows carry them, else as returned: in the order written, VALUES order (a generated
    key need not ascend in it: a descending sequence, SQLite's rowids past the largest).
    Rows with a NULL in ``keys`` (which never conflict: each is a new row) take the
    returned rows no key matched, in that order."""
    if len(fresh) != len(rows):
        raise InterfaceError(
            f"INSERT into {model.__tablename__} returned {len(fresh)} rows for {len(rows)}"
        )
    if rows and all(k in rows[0] for k in keys):
        try:
            return _match_on_keys(model, rows, fresh, keys)
        except (KeyError, TypeError):
            return fresh
    return fresh


def _match_on_keys(
    model: type[Any], rows: list[dict[str, Any]], fresh: list[Any], keys: Sequence[str]
) -> list[Any]:
    """:func:`_match_rows` on ``keys`` (KeyError/TypeError: they do not match)."""
    wanted = [tuple(row[k] for k in keys) for row in rows]
    got = [tuple(f.__dict__.get(k) for k in keys) for f in fresh]
    if not any(None in key for key in wanted):
        by_key = dict(zip(got, fresh, strict=True))
        return [by_key[key] for key in wanted]
    # rows with a NULL key are new rows: the returned rows left once the others matched
    by_key = {}
    for key, row in zip(got, fresh, strict=True):
        if None not in key and key not in by_key:
            by_key[key] = row
    out = [None if None in key else by_key.pop(key) for key in wanted]
    taken = {id(row) for row in out if row is not None}
    left = [row for row in fresh if id(row) not in taken]  # in the order returned
    if len(left) != out.count(None):
        raise KeyError(keys)
    rest = iter(left)
    return [next(rest) if row is None else row for row in out]
