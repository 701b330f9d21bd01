"""Per-instance state kept by a session: identity key, snapshot, and the undo journal.

Instances are hydrated in Rust straight into ``__dict__``, so there is no attribute
hook: a session remembers, per object, a *snapshot* of its column values as last
loaded or written, and finds changes at flush by comparing ``__dict__`` with it (a
C-level dict comparison first, column by column only for objects that differ). JSON
values are copied into the snapshot so that in-place edits (``obj.meta["a"] = 1``)
are seen too.

A :class:`Journal` records what one transaction level wrote, so that a rollback (of
the transaction or of a SAVEPOINT) can put the objects back as they were.
"""

from __future__ import annotations

import inspect
from collections.abc import Hashable
from typing import Any

__all__ = [
    "InstanceState",
    "Journal",
    "changed_columns",
    "identity_key",
    "is_dirty",
    "model_pk",
    "mutable_columns",
    "relationships_changed",
    "run_hook",
    "take_snapshot",
]


def model_pk(model: type[Any]) -> tuple[str, ...]:
    """The primary key attribute names of ``model``."""
    pk = model.__primary_key__
    return (pk,) if isinstance(pk, str) else tuple(pk)


def identity_key(model: type[Any], values: dict[str, Any]) -> Hashable | None:
    """``(model, pk)`` for the identity map (``pk`` a tuple for a composite key), or
    None while the primary key is not known."""
    pk = model.__primary_key__
    if isinstance(pk, str):
        value = values.get(pk)
        return None if value is None else (model, value)
    key = tuple(values.get(k) for k in pk)
    return None if None in key else (model, key)


_MUTABLE: dict[type[Any], tuple[str, ...]] = {}


def mutable_columns(model: type[Any]) -> tuple[str, ...]:
    """Columns whose values can change in place (JSON), copied into snapshots."""
    found = _MUTABLE.get(model)
    if found is None:
        found = tuple(k for k, info in model.__columns__.items() if info.type.is_json)
        _MUTABLE[model] = found
    return found


def copy_json(value: Any) -> Any:
    """A deep copy of a JSON-shaped value (dicts and lists of anything), made without
    recursion so documents nested deeper than Python's recursion limit copy too."""
    if not isinstance(value, dict | list):
        return value
    root: Any = {} if isinstance(value, dict) else []
    stack: list[tuple[Any, Any]] = [(value, root)]
    while stack:
        source, target = stack.pop()
        items = source.items() if isinstance(source, dict) else enumerate(source)
        for key, item in items:
            if isinstance(item, dict | list):
                child: Any = {} if isinstance(item, dict) else []
                stack.append((item, child))
                item = child
            if isinstance(target, dict):
                target[key] = item
            else:
                target.append(item)
    return root


def take_snapshot(obj: Any) -> dict[str, Any]:
    """A copy of ``obj.__dict__`` to compare with at flush (JSON values deep-copied,
    loaded collections copied)."""
    snap: dict[str, Any] = obj.__dict__.copy()
    model = type(obj)
    mutable = _MUTABLE.get(model)
    if mutable is None:
        mutable = mutable_columns(model)
    for key in mutable:
        value = snap.get(key)
        if isinstance(value, dict | list):
            snap[key] = copy_json(value)
    if len(snap) > len(model.__columns__):
        for key in model.__relationships__:
            value = snap.get(key)
            if isinstance(value, list):
                snap[key] = list(value)
    return snap


def is_dirty(obj: Any, snapshot: dict[str, Any]) -> bool:
    """Whether a column or a loaded relationship of ``obj`` differs from ``snapshot``.
    An SQL expression assigned to a column (``obj.n = Model.n + 1``) is a change."""
    try:
        if obj.__dict__ == snapshot:
            return False
    except TypeError:
        pass  # a value's ``==`` has no truth value: compare column by column
    return bool(changed_columns(obj, snapshot)) or relationships_changed(obj, snapshot)


def relationships_changed(obj: Any, snapshot: dict[str, Any]) -> bool:
    """Whether a loaded relationship of ``obj`` holds other objects than in ``snapshot``
    (collections compared member by member, by identity)."""
    d = obj.__dict__
    for key in type(obj).__relationships__:
        if key not in d:
            continue
        value = d[key]
        old = snapshot.get(key, _MISSING)
        if isinstance(value, list):
            if not isinstance(old, list) or len(old) != len(value):
                return True
            if any(a is not b for a, b in zip(value, old, strict=True)):
                return True
        elif value is not old:
            return True
    return False


def changed_columns(obj: Any, snapshot: dict[str, Any]) -> dict[str, Any]:
    """Column values of ``obj`` that differ from ``snapshot`` (attribute → new value)."""
    d = obj.__dict__
    out: dict[str, Any] = {}
    missing = _MISSING
    for key in type(obj).__columns__:
        value = d.get(key, missing)
        if value is missing:
            continue
        old = snapshot.get(key, missing)
        if value is old:
            continue
        if old is missing or type(value) is not type(old) or value != old:
            out[key] = value
    return out


_MISSING: Any = object()


async def run_hook(obj: Any, name: str) -> None:
    """Call the lifecycle hook ``name`` (``before_insert`` …) if the model defines it;
    an async hook is awaited."""
    hook = getattr(obj, name, None)
    if hook is None:
        return
    result = hook()
    if inspect.isawaitable(result):
        await result


class InstanceState:
    """What a session knows about one object it tracks."""

    __slots__ = ("key", "obj", "persistent", "snapshot")

    def __init__(
        self,
        obj: Any,
        key: Hashable | None,
        persistent: bool,
        snapshot: dict[str, Any] | None = None,
    ) -> None:
        self.obj = obj
        self.key = key
        self.persistent = persistent
        if snapshot is None:
            snapshot = take_snapshot(obj) if persistent else {}
        #: ``snapshot`` (when given) must be what :func:`take_snapshot` would return
        self.snapshot: dict[str, Any] = snapshot

    def mark_persistent(self, key: Hashable | None) -> None:
        """The row exists now (after an insert or a load): remember its values."""
        self.key = key
        self.persistent = True
        self.snapshot = take_snapshot(self.obj)

    def __repr__(self) -> str:
        kind = "persistent" if self.persistent else "pending"
        return f"<InstanceState {self.obj!r} {kind}>"


class Journal:
    """What one transaction level (the transaction or a SAVEPOINT) did to objects."""

    __slots__ = ("added", "deleted", "inserted", "loaded", "updated")

    def __init__(self) -> None:
        #: states inserted at this level, with ``__dict__`` as it was before the insert
        self.inserted: list[tuple[InstanceState, dict[str, Any]]] = []
        #: id(state) → (state, snapshot before the first write at this level)
        self.updated: dict[int, tuple[InstanceState, dict[str, Any]]] = {}
        #: states whose rows were deleted at this level, with their snapshots
        self.deleted: list[tuple[InstanceState, dict[str, Any]]] = []
        #: objects given to ``add()`` at this level (dropped again on rollback)
        self.added: list[Any] = []
        #: (state, relationship key) loaded at this level where nothing was loaded
        #: before: what it read may be rolled back, so a rollback unloads it
        self.loaded: list[tuple[InstanceState, str]] = []

    def record_insert(self, state: InstanceState, before: dict[str, Any]) -> None:
        """``state`` was inserted; ``before`` is its ``__dict__`` before that."""
        self.inserted.append((state, before))

    def record_update(self, state: InstanceState) -> None:
        """``state`` is about to be updated (call before its snapshot changes)."""
        if id(state) not in self.updated:
            self.updated[id(state)] = (state, dict(state.snapshot))

    def record_delete(self, state: InstanceState) -> None:
        """``state``'s row was deleted."""
        self.deleted.append((state, dict(state.snapshot)))

    def merge_into(self, parent: Journal) -> None:
        """A SAVEPOINT was released: its writes now belong to the enclosing level."""
        parent.inserted.extend(self.inserted)
        for key, entry in self.updated.items():
            parent.updated.setdefault(key, entry)
        parent.deleted.extend(self.deleted)
        parent.added.extend(self.added)
        parent.loaded.extend(self.loaded)

    def __bool__(self) -> bool:
        return bool(self.inserted or self.updated or self.deleted or self.added)
