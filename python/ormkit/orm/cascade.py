"""Writes through relationships, worked out before a flush writes anything.

- *save-update*: an object reachable through a loaded relationship of an object being
  written, and not yet in the database, is inserted too (before the objects that
  reference it).
- *foreign keys*: ``post.author = user`` sets ``post.author_id`` from ``user``'s key;
  appending ``post`` to ``user.posts`` sets it too; removing a child from a collection
  sets its key to NULL, or deletes it with ``cascade="all, delete-orphan"``. Only a
  removal made through the parent's own collection (or one-to-one attribute) makes an
  orphan: a child that left because its own side changed (``post.author = other`` or
  None, which takes it out of the loaded collection, see :mod:`ormkit.orm.backrefs`)
  gets its key from that side. Nor does a child that has another parent by the flush
  (``a.posts.remove(p); b.posts.append(p)``, or ``p.author = b`` after the removal):
  it is written with the new parent's key. An orphan is deleted with the key it has.
- *unique keys*: a row that gives up a unique value which another row of the flush
  takes (a replaced one-to-one child whose unique key is set to NULL or which
  ``delete-orphan`` deletes, a unique foreign key moved to another row) is updated or
  deleted before the inserts and the other updates (see :func:`released_first`).
- *association rows*: appending to / removing from a many-to-many collection inserts /
  deletes the row of the association table; deleting an object deletes its rows.
- *delete*: deleting an object deletes the children of its ``cascade="delete"`` (or
  ``"all"``) relationships, and theirs: loaded ones from memory, the others (a
  relationship not loaded, or soft-deleted children a loaded collection leaves out)
  found by one query per relationship and level, unless the foreign key deletes them
  itself (``ondelete="CASCADE"``). Removing a child from a ``delete-orphan``
  collection deletes it as ``session.delete`` would: a ``SoftDeleteMixin`` child gets
  ``deleted_at``.

Changes are found by comparing each loaded relationship with the copy in the session's
snapshot (collections are compared by identity of their members). An insert of some
objects (``session.insert``) leaves the other side of their ``back_populates`` pairs,
on rows already in the database, as written.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Sequence
from itertools import chain
from typing import TYPE_CHECKING, Any

from ormkit.dialects.base import get_dialect
from ormkit.orm.backrefs import left_by_its_own_side, settle
from ormkit.orm.constraints import Index, UniqueConstraint
from ormkit.orm.loading import hydrate
from ormkit.orm.mixins import utcnow
from ormkit.orm.precompiled import has_expression
from ormkit.orm.state import model_pk
from ormkit.orm.strategies import key_chunks, keys_in
from ormkit.query import soft_delete_column
from ormkit.sql import delete, insert, select

if TYPE_CHECKING:
    from ormkit.orm.relationships import RelationshipInfo
    from ormkit.orm.state import InstanceState
    from ormkit.orm.unit_of_work import Runner, UnitOfWork

__all__ = [
    "FlushPlan",
    "cascades_deletes",
    "expand_deletes",
    "generations",
    "load_replaced",
    "prepare",
    "released_first",
    "sync_foreign_keys",
    "sync_own_foreign_keys",
    "unique_sets",
]

_MISSING: Any = object()


def _members(value: Any) -> list[Any]:
    if value is None or value is _MISSING:
        return []
    if isinstance(value, list | tuple | set):
        return list(value)
    return [value]


def _loaded(obj: Any) -> Sequence[tuple[Any, Any]]:
    """(relationship, value) for every loaded relationship of ``obj``."""
    relationships = type(obj).__relationships__
    if not relationships:
        return ()
    d = obj.__dict__
    return [(rel, d[key]) for key, rel in relationships.items() if key in d]


class FlushPlan:
    """What relationships add to one flush (or active-record insert)."""

    def __init__(self) -> None:
        #: objects to insert, in discovery order
        self.inserts: dict[int, Any] = {}
        #: id(child) → [(relationship, parent)] from collections the child joined
        self.links: dict[int, list[tuple[Any, Any]]] = {}
        #: (relationship, parent, child): children removed through a parent's side
        #: (see ``_settle_removed``)
        self.removed: list[tuple[Any, Any, Any]] = []
        #: (relationship, child) removed from a collection without delete-orphan, and
        #: added to none
        self.nullify: list[tuple[Any, Any]] = []
        #: (relationship, parent, child) association rows to insert / delete
        self.assoc_add: list[tuple[Any, Any, Any]] = []
        self.assoc_remove: list[tuple[Any, Any, Any]] = []
        #: parents whose relationship snapshots change after the flush
        self.touched: dict[int, Any] = {}
        #: whether a model in the flush has relationships (else every step of this
        #: module has nothing to do)
        self.relational = True
        #: (id(child), key) of the many-to-one side of children removed from a
        #: delete-orphan collection: their row is deleted (or soft-deleted) with the
        #: foreign key it has, not set to NULL from the cleared side
        self.orphans: set[tuple[int, str]] = set()
        #: an insert of some objects (``roots``), not a flush of the whole session
        self.partial = False
        #: (relationship, parent): one-to-one sides set on rows loaded without them, to
        #: compare with the database (see :func:`load_replaced`)
        self.unknown: list[tuple[Any, Any]] = []


def prepare(uow: UnitOfWork, roots: Sequence[Any] | None) -> FlushPlan:
    """Plan a flush (``roots`` None: everything the session tracks) or an insert of
    ``roots``: find the objects to insert and the relationship changes."""
    plan = FlushPlan()
    if roots is None:
        starts = [*uow.new.values(), *(s.obj for s in uow.states.values() if s.persistent)]
        plan.inserts = dict(uow.new)
    else:
        starts = list(roots)
        plan.inserts = {id(obj): obj for obj in starts}
        plan.partial = True
    models: set[Any] = set(map(type, starts))
    if not any(model.__relationships__ for model in models):
        plan.relational = False
        return plan  # nothing reachable, no collections to compare
    queue = list(starts)
    seen = {id(o) for o in queue}
    while queue:
        obj = queue.pop()
        for rel, value in _loaded(obj):
            if "save-update" not in rel.cascade:
                continue
            for other in _members(value):
                if id(other) in seen:
                    continue
                state = uow.state_of(other)
                if state is not None and state.persistent:
                    if roots is None:
                        seen.add(id(other))
                    continue
                seen.add(id(other))
                plan.inserts[id(other)] = other
                queue.append(other)
    start_ids = {id(o) for o in starts}
    for obj in [*starts, *(o for o in plan.inserts.values() if id(o) not in start_ids)]:
        _diff_collections(uow, plan, obj)
    if plan.removed and not plan.unknown:
        _settle_removed(uow, plan)  # else once :func:`load_replaced` compared the rest
    return plan


def _diff_collections(uow: UnitOfWork, plan: FlushPlan, obj: Any) -> None:
    loaded = _loaded(obj)
    if not loaded:
        return
    state = uow.state_of(obj)
    snapshot = state.snapshot if state is not None and state.persistent else None
    for rel, value in loaded:
        if rel.direction == "many_to_one":
            continue
        if snapshot is not None and rel.key not in snapshot:
            if rel.uselist:
                _refuse_unloaded(obj, rel)
            plan.unknown.append((rel, obj))  # compared by load_replaced
            continue
        _diff_one(plan, obj, rel, value, snapshot)


def _diff_one(
    plan: FlushPlan, obj: Any, rel: Any, value: Any, snapshot: dict[str, Any] | None
) -> None:
    """What changed in ``obj``'s side ``rel`` (holding ``value``) since ``snapshot``."""
    current = _members(value)
    before = _members(snapshot.get(rel.key, _MISSING)) if snapshot is not None else []
    if [id(x) for x in current] == [id(x) for x in before]:
        return
    plan.touched[id(obj)] = obj
    before_ids = {id(x) for x in before}
    current_ids = {id(x) for x in current}
    added = [x for x in current if id(x) not in before_ids]
    removed = [x for x in before if id(x) not in current_ids]
    if rel.direction == "many_to_many":
        plan.assoc_add.extend((rel, obj, child) for child in added)
        plan.assoc_remove.extend((rel, obj, child) for child in removed)
        return
    for child in added:
        plan.links.setdefault(id(child), []).append((rel, obj))
    for child in removed:
        if left_by_its_own_side(obj, rel, child):
            continue  # ``post.author = ...`` took it out: its key follows that side
        plan.removed.append((rel, obj, child))


def _refuse_unloaded(obj: Any, rel: Any) -> None:
    """``user.posts = [...]`` on a row loaded without ``posts``: the rows it has in the
    database are not known, so the flush could not take them out (they would stay beside
    the new ones). ``RelationshipNotLoaded`` before anything is sent. Only collections:
    a one-to-one side (also set when its partner's side changes, ``profile.user =
    user``) is compared with the database's row by :func:`load_replaced`."""
    from ormkit.errors import RelationshipNotLoaded

    model, key = type(obj).__name__, rel.key
    raise RelationshipNotLoaded(
        f"{model}.{key} was assigned on a {model} loaded without it: its rows in the "
        "database are not known, so they would stay beside the new ones. Load it first "
        f"(.options(selectinload({key!r})) on the query, or await "
        f"session.load_related(obj, {key!r})), then assign or append"
    )


async def load_replaced(uow: UnitOfWork, runner: Runner, plan: FlushPlan) -> None:
    """The one-to-one sides that :func:`prepare` found set on rows loaded without them
    (``user.profile = new`` on a user loaded alone, or ``new.user = user``): their rows in
    the database (soft-deleted ones left out, as a load does) are read, one query per
    relationship, become the snapshot as a later load would make them, and are compared
    with what is set now. A row replaced is then an orphan like one replaced on a loaded
    side: set to NULL, or deleted with ``delete-orphan`` — not left holding the key."""
    wanted: dict[int, tuple[Any, list[Any]]] = {}
    for rel, obj in plan.unknown:
        wanted.setdefault(id(rel), (rel, []))[1].append(obj)
    for rel, parents in wanted.values():
        soft = soft_delete_column(rel.target)
        by_key: dict[tuple[Any, ...], list[Any]] = {}
        for child in await _children(uow, runner, rel, parents):
            if soft is not None and child.__dict__.get(soft) is not None:
                continue
            state = uow.state_of(child)  # its key as read, even if changed in memory
            row = state.snapshot if state is not None else child.__dict__
            by_key.setdefault(tuple(row.get(c) for c in rel.remote_columns), []).append(child)
        for parent in parents:
            state = uow.state_of(parent)
            if state is None:
                continue
            found = by_key.get(tuple(parent.__dict__.get(c) for c in rel.local_columns), [])
            # several rows already hold the key: all of them are replaced
            state.snapshot[rel.key] = found[0] if len(found) == 1 else (found or None)
            _diff_one(plan, parent, rel, parent.__dict__.get(rel.key), state.snapshot)
    plan.unknown.clear()
    if plan.removed:
        _settle_removed(uow, plan)


def _has_new_parent(plan: FlushPlan, rel: Any, parent: Any, child: Any) -> bool:
    """Whether ``child``, removed from ``parent``'s side ``rel``, has another parent by
    now: it was added to a collection (or one-to-one side) that sets the same foreign
    key, or its own side of the pair (``back_populates``) holds another object."""
    for other_rel, other in plan.links.get(id(child), ()):
        if (
            other is not parent
            and other_rel.target is rel.target
            and other_rel.remote_columns == rel.remote_columns
        ):
            return True
    back = rel.back_populates
    if back is not None:
        value = child.__dict__.get(back)
        if value is not None and value is not parent:
            return True
    return False


def _settle_removed(uow: UnitOfWork, plan: FlushPlan) -> None:
    """Decide, once every collection was compared, what happens to the children
    removed through a parent's side: one that has another parent now (re-parented
    before the flush) is written with the new parent's key; the others are orphans,
    deleted (or soft-deleted) with ``delete-orphan`` and given a NULL key without it."""
    for rel, parent, child in plan.removed:
        if _has_new_parent(plan, rel, parent, child):
            continue
        if "delete-orphan" not in rel.cascade:
            plan.nullify.append((rel, child))
            continue
        if rel.back_populates is not None:
            plan.orphans.add((id(child), rel.back_populates))
        if id(child) in uow.new:
            uow.new.pop(id(child))
            continue
        child_state = uow.state_of(child)
        if child_state is not None and child_state.persistent:
            soft = soft_delete_column(type(child))
            if soft is None:
                uow.deleted[id(child)] = child
            elif child.__dict__.get(soft) is None:
                child.__dict__[soft] = utcnow()  # written with the updates


def _deleting(model: type[Any]) -> list[Any]:
    """The relationships of ``model`` whose children a delete of its rows deletes."""
    return [
        rel
        for rel in model.__relationships__.values()
        if "delete" in rel.cascade and rel.direction in ("one_to_many", "one_to_one")
    ]


def cascades_deletes(model: type[Any]) -> bool:
    """Whether deleting a row of ``model`` may delete other rows (see :func:`expand_deletes`)."""
    return bool(model.__relationships__) and bool(_deleting(model))


def _database_deletes(rel: Any) -> bool:
    """Whether the children's foreign key is ``ondelete="CASCADE"``: the database
    deletes the rows the session has not loaded."""
    columns = rel.target.__columns__
    for name in rel.remote_columns:
        fk = columns[name].foreign_key
        if fk is None or (fk.ondelete or "").upper() != "CASCADE":
            return False
    return True


async def _children(uow: UnitOfWork, runner: Runner, rel: Any, parents: list[Any]) -> list[Any]:
    """Every row (soft-deleted ones included) that references one of ``parents``
    through ``rel``, as objects of the session's identity map."""
    keys = dict.fromkeys(tuple(p.__dict__.get(c) for c in rel.local_columns) for p in parents)
    wanted = [k for k in keys if None not in k]  # in the parents' order, each once
    target = rel.target
    cols = [target.__columns__[c].expr for c in rel.remote_columns]
    found: list[Any] = []
    for chunk in key_chunks(wanted, len(cols), get_dialect(uow.dialect).max_params):
        sql, params = select(target).where(keys_in(cols, chunk)).to_sql(uow.dialect)
        found.extend(hydrate(uow, target, await runner.execute(sql, params)))
    return found


async def expand_deletes(uow: UnitOfWork, runner: Runner, objs: Iterable[Any]) -> list[Any]:
    """``objs`` plus the children of their ``cascade="delete"`` relationships, and
    theirs, level by level. Loaded children come from memory. A relationship not loaded,
    or a loaded collection of a soft-delete model (which leaves out the soft-deleted
    rows, still referencing the parent), is queried: one statement per relationship and
    level, skipped when the foreign key is ``ondelete="CASCADE"``. Children are deleted
    outright, soft-delete models included: their parent's row is going."""
    out: dict[int, Any] = {}
    level = list(objs)
    while level:
        wanted: dict[int, tuple[Any, list[Any]]] = {}
        below: list[Any] = []
        for obj in level:
            if id(obj) in out:
                continue
            out[id(obj)] = obj
            model = type(obj)
            if not model.__relationships__:
                continue
            d = obj.__dict__
            state = uow.state_of(obj)
            snapshot = state.snapshot if state is not None else {}
            for rel in _deleting(model):
                value = d.get(rel.key, _MISSING)
                below.extend(_members(value))
                if _database_deletes(rel):
                    continue
                if (
                    value is _MISSING
                    or rel.key not in snapshot  # not loaded: built by hand with its key
                    or soft_delete_column(rel.target) is not None
                ):
                    wanted.setdefault(id(rel), (rel, []))[1].append(obj)
        for rel, parents in wanted.values():
            below.extend(await _children(uow, runner, rel, parents))
        level = below
    return list(out.values())


def _changed_parents(
    obj: Any, snapshot: dict[str, Any] | None, orphans: set[tuple[int, str]] | tuple[()]
) -> Iterator[tuple[RelationshipInfo, Any]]:
    """``obj``'s loaded many-to-one relationships whose foreign keys a flush sets: those
    changed since ``snapshot`` (all of them for a new object), except the sides that
    ``orphans`` (``(id(obj), key)``) leave to the orphan rules."""
    for rel, target in _loaded(obj):
        if rel.direction != "many_to_one":
            continue
        if snapshot is not None and snapshot.get(rel.key, _MISSING) is target:
            continue
        if orphans and (id(obj), rel.key) in orphans:
            continue
        yield rel, target


def sync_foreign_keys(uow: UnitOfWork, obj: Any, plan: FlushPlan | None) -> None:
    """Set ``obj``'s foreign-key columns from its changed many-to-one relationships and
    from the collections it was added to (the related rows exist by now)."""
    if not type(obj).__relationships__ and (plan is None or id(obj) not in plan.links):
        return
    d = obj.__dict__
    state = uow.state_of(obj)
    snapshot = state.snapshot if state is not None and state.persistent else None
    orphans = plan.orphans if plan is not None else ()
    for rel, target in _changed_parents(obj, snapshot, orphans):
        for local, remote in zip(rel.local_columns, rel.remote_columns, strict=True):
            d[local] = None if target is None else target.__dict__.get(remote)
    if plan is None:
        return
    for rel, parent in plan.links.get(id(obj), ()):
        for local, remote in zip(rel.local_columns, rel.remote_columns, strict=True):
            d[remote] = parent.__dict__.get(local)
        back = rel.back_populates
        if back is not None and back not in d:
            reverse = type(obj).__relationships__.get(back)
            if reverse is not None and not reverse.uselist:
                d[back] = parent  # the child now knows its parent too
                if snapshot is not None:
                    snapshot[back] = parent


def sync_own_foreign_keys(
    uow: UnitOfWork, obj: Any, snapshot: dict[str, Any], values: dict[str, Any] | None
) -> set[str]:
    """For ``update(obj)`` outside a flush: set the foreign keys of ``obj``'s changed
    many-to-one relationships whose targets are rows (or None), as a flush would.
    Returns the relationships written by that (or by a key given in ``values``, which
    wins over the relationship). Left for the next flush: a target not inserted yet,
    and None on a side that a ``delete-orphan`` parent's collection emptied (the flush
    deletes the child)."""
    linked: set[str] = set()
    d = obj.__dict__
    for rel, target in _loaded(obj):
        if rel.direction != "many_to_one":
            continue
        before = snapshot.get(rel.key, _MISSING)
        if before is target:
            continue
        locals_ = rel.local_columns
        if values and any(local in values for local in locals_):
            linked.add(rel.key)
            continue
        if target is None:
            reverse = rel.reverse
            if (
                before is not _MISSING
                and before is not None
                and reverse is not None
                and "delete-orphan" in reverse.cascade
                and not left_by_its_own_side(before, reverse, obj)
            ):
                continue
            keys: list[Any] = [None] * len(locals_)
        else:
            if id(target) in uow.new:
                continue
            target_state = uow.state_of(target)
            if target_state is not None and not target_state.persistent:
                continue
            keys = [target.__dict__.get(remote) for remote in rel.remote_columns]
            if None in keys or has_expression(keys):
                continue
        for local, key in zip(locals_, keys, strict=True):
            d[local] = key
        linked.add(rel.key)
    return linked


#: a foreign key a flush takes from an object it has not inserted yet: not known before
_UNKNOWN: Any = object()
_UNIQUE: dict[type[Any], tuple[tuple[str, ...], ...]] = {}


def unique_sets(model: type[Any]) -> tuple[tuple[str, ...], ...]:
    """The sets of columns of ``model`` that no two rows may hold the same values of:
    ``unique=True`` columns, ``UniqueConstraint``s and unique ``Index``es (the primary
    key left out; cached per model)."""
    found = _UNIQUE.get(model)
    if found is None:
        columns = model.__columns__
        pk = model_pk(model)
        sets: dict[tuple[str, ...], None] = {}
        for key, info in columns.items():
            if info.unique and not info.primary_key:
                sets[(key,)] = None
        declared = (
            *getattr(model, "__table_constraints__", ()),
            *getattr(model, "__indexes__", ()),
        )
        for item in declared:
            if isinstance(item, UniqueConstraint) or (isinstance(item, Index) and item.unique):
                names = tuple(item.columns)
                if all(isinstance(n, str) and n in columns for n in names) and names != pk:
                    sets[names] = None
        found = _UNIQUE[model] = tuple(sets)
    return found


def _key_of(plan: FlushPlan, obj: Any, column: str) -> Any:
    value = obj.__dict__.get(column)
    if value is None and id(obj) in plan.inserts:
        return _UNKNOWN  # the insert gives it
    return value


def _planned_keys(
    plan: FlushPlan, obj: Any, snapshot: dict[str, Any] | None, nulled: dict[int, Any]
) -> dict[str, Any]:
    """The foreign-key columns a flush will set on ``obj`` (see :func:`sync_foreign_keys`
    and :func:`apply_nullify`), without setting them: column → value, or ``_UNKNOWN``
    for a key of an object not inserted yet."""
    out: dict[str, Any] = {}
    for rel, target in _changed_parents(obj, snapshot, plan.orphans):
        for local, remote in zip(rel.local_columns, rel.remote_columns, strict=True):
            out[local] = None if target is None else _key_of(plan, target, remote)
    for rel, parent in plan.links.get(id(obj), ()):
        for local, remote in zip(rel.local_columns, rel.remote_columns, strict=True):
            out[remote] = _key_of(plan, parent, local)
    emptied = nulled.get(id(obj))
    if emptied is not None:
        for remote in emptied.remote_columns:
            out[remote] = None
    return out


def _unique_values(
    obj: Any, planned: dict[str, Any], cols: tuple[str, ...]
) -> tuple[Any, ...] | None:
    """``obj``'s values of ``cols`` after the flush, or None when one is not known yet
    or is an SQL expression."""
    d = obj.__dict__
    values = tuple(planned[c] if c in planned else d.get(c) for c in cols)
    if has_expression(values) or any(v is _UNKNOWN for v in values):
        return None
    return values


class _Move:
    """A persistent row whose update a flush may write before its inserts."""

    __slots__ = ("gives", "obj", "planned", "takes")

    def __init__(self, obj: Any, planned: dict[str, Any]) -> None:
        self.obj = obj
        self.planned = planned
        #: (model, columns, values) it holds now and will not after the flush
        self.gives: list[tuple[Any, ...]] = []
        #: (model, columns, values) it will hold after the flush and does not now
        self.takes: list[tuple[Any, ...]] = []


def released_first(
    uow: UnitOfWork, plan: FlushPlan, dirty: Iterable[InstanceState]
) -> tuple[list[Any], list[Any]]:
    """The rows a flush writes before its inserts: persistent rows that give up a
    unique value (see :func:`unique_sets`) that another row of the flush takes — a
    one-to-one child replaced (its key set to NULL, or deleted by ``delete-orphan``),
    a unique foreign key moved from one row to another. Returns the objects to delete
    first and those to update first (each after the ones whose values it takes), with
    their foreign keys already set. The usual flush, where no such pair exists, costs
    a look at the unique columns of the models of its dirty and deleted objects.

    An update whose new key comes from an object not inserted yet stays in its usual
    place (its foreign key is not known before the insert), and so does an update that
    takes a value from such a row."""
    links = plan.links
    deleted = uow.deleted
    nulled = {
        id(child): rel
        for rel, child in plan.nullify
        if id(child) not in links and id(child) not in deleted
    }
    # the rows a flush updates: the dirty ones, and children whose key only their new or
    # former parent's collection changes (no ``back_populates`` side on them)
    changing: dict[int, InstanceState] = {id(state.obj): state for state in dirty}
    states = uow.states
    for child_id in chain(nulled, links):
        if child_id not in changing:
            state = states.get(child_id)
            if state is not None and state.persistent and child_id not in deleted:
                changing[child_id] = state
    giving: dict[tuple[Any, ...], Any] = {}
    moves: dict[int, _Move] = {}
    for state in changing.values():
        obj = state.obj
        model = type(obj)
        sets = unique_sets(model)
        if not sets:
            continue
        snapshot = state.snapshot
        move = _Move(obj, _planned_keys(plan, obj, snapshot, nulled))
        for cols in sets:
            old = tuple(snapshot.get(c) for c in cols)
            new = _unique_values(obj, move.planned, cols)
            if new == old:
                continue
            if None not in old and not has_expression(old):
                move.gives.append((model, cols, old))
            if new is not None and None not in new:
                move.takes.append((model, cols, new))
        if move.gives or move.takes:
            moves[id(obj)] = move
    for obj in deleted.values():
        sets = unique_sets(type(obj))
        state = uow.state_of(obj)
        if not sets or state is None or not state.persistent:
            continue
        for cols in sets:
            old = tuple(state.snapshot.get(c) for c in cols)
            if None not in old and not has_expression(old):
                _give(giving, (type(obj), cols, old), obj)
    for move in moves.values():
        for entry in move.gives:
            _give(giving, entry, move.obj)
    if not giving:
        return [], []
    # who takes a value given up: the inserts of those models, and the changing rows
    models = {entry[0] for entry in giving}
    taken: dict[tuple[Any, ...], list[Any]] = {}
    for obj in plan.inserts.values():
        model = type(obj)
        if model not in models:
            continue
        planned = _planned_keys(plan, obj, None, nulled)
        for cols in unique_sets(model):
            new = _unique_values(obj, planned, cols)
            if new is not None and None not in new:
                _take(taken, (model, cols, new), obj)
    for move in moves.values():
        for entry in move.takes:
            _take(taken, entry, move.obj)
    first: dict[int, Any] = {}
    for entry, giver in giving.items():
        if any(taker is not giver for taker in taken.get(entry, ())):
            first[id(giver)] = giver
    if not first:
        return [], []
    # In the usual order, the row taking the value is written before the delete: that
    # always fails, so deleting first can only help (a row still referencing the deleted
    # one fails as it would have, unless its foreign key says ``ondelete=``).
    deletes = [obj for obj in first.values() if id(obj) in deleted]
    updates = [
        moves[i]
        for i in first
        if i in moves
        and i not in deleted
        and not any(v is _UNKNOWN for v in moves[i].planned.values())
    ]
    return deletes, _update_order(updates, giving, {id(obj) for obj in deletes})


def _give(giving: dict[tuple[Any, ...], Any], entry: tuple[Any, ...], obj: Any) -> None:
    with contextlib.suppress(TypeError):  # an unhashable value (JSON): the database judges
        giving.setdefault(entry, obj)


def _take(taken: dict[tuple[Any, ...], list[Any]], entry: tuple[Any, ...], obj: Any) -> None:
    with contextlib.suppress(TypeError):
        taken.setdefault(entry, []).append(obj)


def _update_order(
    moves: list[_Move], giving: dict[tuple[Any, ...], Any], gone: set[int]
) -> list[Any]:
    """The objects of ``moves`` in the order to update them, their foreign keys set:
    each after the rows whose values it takes (``gone``: rows deleted first). One that
    takes a value from a row not written first stays in its usual place (sooner, it
    would fail where the usual order may not); a cycle (two rows swapping values)
    keeps the given order, and the database decides."""

    def givers(move: _Move) -> list[Any]:
        found = []
        for entry in move.takes:
            try:
                giver = giving.get(entry)
            except TypeError:  # an unhashable value
                continue
            if giver is not None and giver is not move.obj and id(giver) not in gone:
                found.append(giver)
        return found

    waits = {id(m.obj): (m, givers(m)) for m in moves}
    dropped = True
    while dropped:
        dropped = False
        for key, (_move, before) in list(waits.items()):
            if any(id(giver) not in waits for giver in before):
                del waits[key]
                dropped = True
    out: list[Any] = []
    done: set[int] = set()
    pending = list(waits.values())
    while pending:
        ready = [(m, b) for m, b in pending if all(id(giver) in done for giver in b)]
        for move, _before in ready or pending:
            move.obj.__dict__.update(move.planned)
            out.append(move.obj)
            done.add(id(move.obj))
        pending = [(m, b) for m, b in pending if id(m.obj) not in done]
    return out


def apply_nullify(uow: UnitOfWork, plan: FlushPlan) -> None:
    """Children removed from a collection (and added to none) lose their foreign key."""
    for rel, child in plan.nullify:
        if id(child) in plan.links or id(child) in uow.deleted:
            continue
        state = uow.state_of(child)
        if state is None or not state.persistent:
            continue
        for remote in rel.remote_columns:
            child.__dict__[remote] = None


def generations(uow: UnitOfWork, objs: list[Any], plan: FlushPlan) -> list[list[Any]]:
    """``objs`` (one model) in insert order: an object after the objects of the same
    batch it references (self-referential trees)."""
    if not objs:
        return []
    if not type(objs[0]).__relationships__:
        return [objs]  # one model: without relationships nothing references anything
    ids = {id(o) for o in objs}
    deps: dict[int, set[int]] = {}
    for obj in objs:
        need: set[int] = set()
        for rel, target in _loaded(obj):
            if rel.direction == "many_to_one" and target is not None and id(target) in ids:
                need.add(id(target))
        for _rel, parent in plan.links.get(id(obj), ()):
            if id(parent) in ids:
                need.add(id(parent))
        need.discard(id(obj))
        deps[id(obj)] = need
    out: list[list[Any]] = []
    done: set[int] = set()
    pending = list(objs)
    while pending:
        ready = [o for o in pending if deps[id(o)] <= done]
        if not ready:
            raise ValueError(
                f"objects of {type(objs[0]).__name__} reference each other in a cycle; "
                "insert one of them first"
            )
        out.append(ready)
        done.update(id(o) for o in ready)
        pending = [o for o in pending if id(o) not in done]
    return out


def _assoc_values(rel: Any, parent: Any, child: Any) -> dict[str, Any]:
    values = {}
    for sec, own in zip(rel.secondary_local_columns, rel.local_columns, strict=True):
        values[sec] = parent.__dict__.get(own)
    for sec, other in zip(rel.secondary_remote_columns, rel.remote_columns, strict=True):
        values[sec] = child.__dict__.get(other)
    return values


async def write_associations(uow: UnitOfWork, runner: Runner, plan: FlushPlan) -> None:
    """Insert and delete the association rows of changed many-to-many collections
    (each pair once, whichever side it was changed from)."""
    if not plan.assoc_remove and not plan.assoc_add:
        return
    removes: dict[Any, dict[tuple[Any, ...], dict[str, Any]]] = {}
    for rel, parent, child in plan.assoc_remove:
        values = _assoc_values(rel, parent, child)
        removes.setdefault(rel.secondary_model, {})[tuple(sorted(values.items()))] = values
    for model, rows in removes.items():
        columns = list(next(iter(rows.values())))
        keys = [tuple(row[c] for c in columns) for row in rows.values()]
        await _delete_keys(uow, runner, model, columns, keys)
    adds: dict[Any, dict[tuple[Any, ...], dict[str, Any]]] = {}
    for rel, parent, child in plan.assoc_add:
        values = _assoc_values(rel, parent, child)
        adds.setdefault(rel.secondary_model, {})[tuple(sorted(values.items()))] = values
    for model, rows in adds.items():
        stmt = insert(model)._values_as_given(list(rows.values()))
        for sql, params, _count in stmt.to_sql_batches(uow.dialect):
            await runner.execute(sql, params)


async def delete_associations(uow: UnitOfWork, runner: Runner, objs: Sequence[Any]) -> None:
    """Delete the association rows of objects about to be deleted."""
    for model in {type(o) for o in objs}:
        group = [o for o in objs if type(o) is model]
        for rel in model.__relationships__.values():
            if rel.direction != "many_to_many":
                continue
            keys = list(
                dict.fromkeys(
                    tuple(obj.__dict__.get(own) for own in rel.local_columns) for obj in group
                )
            )
            columns = list(rel.secondary_local_columns)
            await _delete_keys(uow, runner, rel.secondary_model, columns, keys)


async def _delete_keys(
    uow: UnitOfWork,
    runner: Runner,
    model: type[Any],
    columns: list[str],
    keys: list[tuple[Any, ...]],
) -> None:
    """``DELETE FROM <model> WHERE (columns) IN (keys)``, in as many statements as the
    bind-parameter limit needs (one ``IN`` list each: no expression grows with the
    number of keys, which SQLite limits to a depth of 1,000; row values go a few hundred
    to a statement, see :func:`key_chunks`)."""
    exprs = [model.__columns__[c].expr for c in columns]
    limit = get_dialect(uow.dialect).max_params
    for chunk in key_chunks(keys, len(exprs), limit):
        sql, params = delete(model).where(keys_in(exprs, chunk)).to_sql(uow.dialect)
        await runner.execute(sql, params)


def finish(uow: UnitOfWork, plan: FlushPlan) -> None:
    """After the writes: the changed relationships of persistent parents are the new
    baseline (journalled, so a rollback puts the old ones back)."""
    if plan.partial and plan.relational:
        _mirror_inserts(uow, plan)
    for obj in plan.touched.values():
        state = uow.state_of(obj)
        if state is None or not state.persistent:
            continue
        if uow.journal is not None:
            uow.journal.record_update(state)
        for rel, value in _loaded(obj):
            if rel.direction != "many_to_one":
                state.snapshot[rel.key] = list(value) if isinstance(value, list) else value
                settle(obj, rel)


def _mirror_inserts(uow: UnitOfWork, plan: FlushPlan) -> None:
    """After an insert of some objects (not a whole flush): an object already in the
    database whose loaded collection gained some of them through ``back_populates``
    (``post.author = user`` appends to ``user.posts``) takes that as written, in its
    snapshot: the insert wrote the foreign key or the association row from the new
    objects' side, and a later flush must not write it again. Other changes of that
    object stay pending."""
    states = uow.states
    inserted = plan.inserts
    paired: dict[type[Any], list[Any]] = {}
    gained: dict[tuple[int, str], tuple[Any, Any, Any, dict[int, Any]]] = {}
    for obj in inserted.values():
        model = type(obj)
        rels = paired.get(model)
        if rels is None:
            rels = paired[model] = [
                r for r in model.__relationships__.values() if r.back_populates is not None
            ]
        if not rels:
            continue
        d = obj.__dict__
        for rel in rels:
            value = d.get(rel.key)
            if value is None:
                continue
            reverse = rel.reverse
            if reverse is None or not reverse.uselist:
                continue
            for partner in value if isinstance(value, list) else (value,):
                if id(partner) in inserted:
                    continue
                state = states.get(id(partner))
                if state is None or not state.persistent:
                    continue
                entry = gained.get((id(partner), reverse.key))
                if entry is None:
                    entry = gained[id(partner), reverse.key] = (partner, state, reverse, {})
                entry[3][id(obj)] = obj
    for partner, state, reverse, objs in gained.values():
        current = partner.__dict__.get(reverse.key)
        before = state.snapshot.get(reverse.key, _MISSING)
        if not isinstance(current, list) or not isinstance(before, list):
            continue
        current_ids = set(map(id, current))
        baseline = set(map(id, before))
        written = {i for i in objs if i in current_ids and i not in baseline}
        if not written:
            continue
        if uow.journal is not None:
            uow.journal.record_update(state)
        baseline |= written
        state.snapshot[reverse.key] = [
            *(x for x in current if id(x) in baseline),
            *(x for x in before if id(x) not in current_ids),  # removals still pending
        ]
