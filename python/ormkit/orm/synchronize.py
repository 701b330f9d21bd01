"""Tracked objects kept in step with a set-based UPDATE or DELETE of their rows.

``session.query(User).filter(...).update(...)``/``delete()``, ``bulk_update`` and
``session.execute(update(User)...)``/``delete(User)...`` write rows the session may
already hold as objects. As SQLAlchemy 2.0's ``synchronize_session="fetch"`` does, such
a statement is sent with a RETURNING of what the session needs, but only when the
session tracks an object of the statement's model (otherwise it goes out exactly as
written, at no cost):

- an UPDATE returns the primary key and every column it sets, so values computed by
  the database (``User.age + 1``, a bumped version) are known. The tracked objects of
  those rows take the values in their attributes and their snapshots (the next flush
  sees nothing to write); a column changed locally and not flushed (autoflush off)
  keeps its local value, which the next flush writes;
- a DELETE returns the primary key; the tracked objects of those rows leave the
  session, as after ``session.delete(obj)`` and a flush.

Inside a transaction the level's journal records both, so a rollback gives updated
objects their previous values back and brings deleted ones back into the session.

An UPDATE that sets a primary key column is not synchronized: the rows it returns carry
the new keys only, which cannot be matched with the objects held under the old ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from ormkit.orm.state import copy_json, identity_key, model_pk, mutable_columns
from ormkit.sql import Delete, Update

if TYPE_CHECKING:
    from ormkit.orm.unit_of_work import UnitOfWork

__all__ = ["Sync", "apply", "plan"]

_MISSING: Any = object()


class Sync(NamedTuple):
    """How one statement is sent and read back to synchronize tracked objects."""

    #: the statement as sent: the caller's RETURNING items, then what is missing of the
    #: primary key and (for an UPDATE) the columns it sets
    statement: Update | Delete
    #: how many leading columns of a returned row the caller's own RETURNING asked for
    width: int
    #: the position of each primary key column in a returned row
    pk: tuple[tuple[str, int], ...]
    #: for an UPDATE, the attribute and position of each column it sets; empty for a
    #: DELETE
    columns: tuple[tuple[str, int], ...]


def plan(uow: UnitOfWork, stmt: Update | Delete) -> Sync | None:
    """The synchronized form of ``stmt`` (which returns no model: ``returning(Model)``
    is handled by the session's ``_returned``), or None when it is to be sent as it is:
    the session tracks no object of its model, or it is an UPDATE of a primary key."""
    model: Any = stmt._model
    if model is None or not uow.tracks_model(model):
        return None
    keys = model_pk(model)
    sets: list[str] = []
    if isinstance(stmt, Update):
        values = stmt._values
        if any(k in values for k in keys):
            return None
        sets = [k for k in model.__columns__ if k in values]
    given: tuple[Any, ...] = stmt._returning
    items = list(given)
    positions: dict[str, int] = {}
    for i, col in enumerate(given):
        positions.setdefault(col.key, i)
    for name in (*keys, *sets):
        if name not in positions:
            positions[name] = len(items)
            items.append(model.__columns__[name].expr)
    sent = stmt.returning(*items) if len(items) != len(given) else stmt
    return Sync(
        sent,
        len(given),
        tuple((k, positions[k]) for k in keys),
        tuple((k, positions[k]) for k in sets),
    )


def apply(uow: UnitOfWork, sync: Sync, rows: Sequence[Sequence[Any]]) -> None:
    """Bring the tracked objects of the returned ``rows`` in step with what the
    statement of ``sync`` did (see the module doc); rows of objects the session does
    not hold are skipped."""
    stmt = sync.statement
    model: Any = stmt._model
    identity = uow.identity
    states = uow.states
    journal = uow.journal
    deleting = isinstance(stmt, Delete)
    mutable = mutable_columns(model)
    for row in rows:
        key = identity_key(model, {name: row[i] for name, i in sync.pk})
        obj = identity.get(key) if key is not None else None
        if obj is None:
            continue
        state = states.get(id(obj))
        if state is None or not state.persistent:
            continue
        if deleting:
            if journal is not None:
                journal.record_delete(state)
            uow.forget(obj)
            state.persistent = False
            continue
        if journal is not None:
            journal.record_update(state)  # before its snapshot changes
        d = obj.__dict__
        snapshot = state.snapshot
        for name, i in sync.columns:
            value = row[i]
            if name not in d or _unchanged(d[name], snapshot.get(name, _MISSING)):
                d[name] = value
            snapshot[name] = copy_json(value) if name in mutable else value


def _unchanged(value: Any, old: Any) -> bool:
    """Whether an attribute holding ``value`` is unchanged since its snapshot recorded
    ``old`` (the test of ``state.changed_columns``)."""
    if value is old:
        return True
    return old is not _MISSING and type(value) is type(old) and value == old
