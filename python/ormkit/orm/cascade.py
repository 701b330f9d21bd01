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
  gets its key from that side. An orphan is deleted with the key it has.
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

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from ormkit.dialects.base import get_dialect
from ormkit.orm.backrefs import left_by_its_own_side, settle
from ormkit.orm.loading import hydrate
from ormkit.orm.mixins import utcnow
from ormkit.orm.strategies import key_chunks, keys_in
from ormkit.query import soft_delete_column
from ormkit.sql import and_, delete, insert, or_, select

if TYPE_CHECKING:
    from ormkit.orm.unit_of_work import Runner, UnitOfWork

__all__ = [
    "FlushPlan",
    "cascades_deletes",
    "expand_deletes",
    "generations",
    "prepare",
    "sync_foreign_keys",
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
        #: (relationship, child) removed from a collection without delete-orphan
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
        current = _members(value)
        before = _members(snapshot.get(rel.key, _MISSING)) if snapshot is not None else []
        if [id(x) for x in current] == [id(x) for x in before]:
            continue
        plan.touched[id(obj)] = obj
        before_ids = {id(x) for x in before}
        current_ids = {id(x) for x in current}
        added = [x for x in current if id(x) not in before_ids]
        removed = [x for x in before if id(x) not in current_ids]
        if rel.direction == "many_to_many":
            plan.assoc_add.extend((rel, obj, child) for child in added)
            plan.assoc_remove.extend((rel, obj, child) for child in removed)
            continue
        for child in added:
            plan.links.setdefault(id(child), []).append((rel, obj))
        for child in removed:
            if left_by_its_own_side(obj, rel, child):
                continue  # ``post.author = ...`` took it out: its key follows that side
            if "delete-orphan" in rel.cascade:
                if rel.back_populates is not None:
                    plan.orphans.add((id(child), rel.back_populates))
                if id(child) in uow.new:
                    uow.new.pop(id(child))
                else:
                    child_state = uow.state_of(child)
                    if child_state is not None and child_state.persistent:
                        soft = soft_delete_column(type(child))
                        if soft is None:
                            uow.deleted[id(child)] = child
                        elif child.__dict__.get(soft) is None:
                            child.__dict__[soft] = utcnow()  # written with the updates
            else:
                plan.nullify.append((rel, child))


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
            for rel in _deleting(model):
                value = d.get(rel.key, _MISSING)
                below.extend(_members(value))
                if _database_deletes(rel):
                    continue
                if value is _MISSING or soft_delete_column(rel.target) is not None:
                    wanted.setdefault(id(rel), (rel, []))[1].append(obj)
        for rel, parents in wanted.values():
            below.extend(await _children(uow, runner, rel, parents))
        level = below
    return list(out.values())


def sync_foreign_keys(uow: UnitOfWork, obj: Any, plan: FlushPlan | None) -> None:
    """Set ``obj``'s foreign-key columns from its changed many-to-one relationships and
    from the collections it was added to (the related rows exist by now)."""
    if not type(obj).__relationships__ and (plan is None or id(obj) not in plan.links):
        return
    d = obj.__dict__
    state = uow.state_of(obj)
    snapshot = state.snapshot if state is not None and state.persistent else None
    orphans = plan.orphans if plan is not None else ()
    for rel, target in _loaded(obj):
        if rel.direction != "many_to_one":
            continue
        if snapshot is not None and snapshot.get(rel.key, _MISSING) is target:
            continue
        if orphans and (id(obj), rel.key) in orphans:
            continue
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
        condition = or_(
            *(
                and_(*(model.__columns__[k].expr == v for k, v in row.items()))
                for row in rows.values()
            )
        )
        sql, params = delete(model).where(condition).to_sql(uow.dialect)
        await runner.execute(sql, params)
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
            secondary = rel.secondary_model
            conditions = [
                and_(
                    *(
                        secondary.__columns__[sec].expr == obj.__dict__.get(own)
                        for sec, own in zip(
                            rel.secondary_local_columns, rel.local_columns, strict=True
                        )
                    )
                )
                for obj in group
            ]
            sql, params = delete(secondary).where(or_(*conditions)).to_sql(uow.dialect)
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
