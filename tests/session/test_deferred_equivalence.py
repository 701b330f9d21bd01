"""Deferred registration against the eager path, side by side: the same random sequence
of session operations runs on two databases, one session deferring large loads and bulk
inserts and one registering at once; everything a user can observe must match at every step (objects
returned, their values, ``dirty``, membership, errors) and the tables must end equal.
Only the operations look at the session's maps, so changes land in the window between
a deferred load and its registering."""

from __future__ import annotations

import random
from typing import Any

import pytest
import side_by_side
from session_models import Item
from tracking_helpers import items

import ormkit
from ormkit import AsyncSession
from ormkit.orm import unit_of_work

ROWS = 12
#: per seed, how many steps left a deferred load behind (checked at the end)
DEFERRED_STEPS: list[int] = []
#: per seed, how many steps left a deferred insert behind
DEFERRED_INSERT_STEPS: list[int] = []


def _view(obj: Any) -> tuple[Any, ...]:
    d = obj.__dict__
    return tuple(d.get(k) for k in ("id", "a", "b", "c", "d", "e", "f"))


class Side(side_by_side.Side):
    """One database and one session, with the objects its loads returned so far."""

    def __init__(self, engine: ormkit.Engine, defer: bool) -> None:
        super().__init__(engine, defer)
        self.seen: list[Any] = []

    def observe(self) -> list[tuple[Any, ...]]:
        """The values of the objects seen (reading them registers nothing: the session's
        maps are looked at only by the operations, ``inspect`` among them)."""
        return [_view(o) for o in self.seen]


def _ops(rng: random.Random) -> list[side_by_side.Op]:
    """A random sequence of operations; each picks its targets by position, so both
    sides act on the same rows as long as they behave the same."""

    def pick(side: Side) -> Any | None:
        return side.seen[rng_choice[0] % len(side.seen)] if side.seen else None

    rng_choice = [0]

    async def load_all(side: Side) -> Any:
        objs = await side.session.query(Item).order_by("id").all()
        side.seen = objs
        return [_view(o) for o in objs]

    async def load_some(side: Side) -> Any:
        low = rng_choice[0] % ROWS
        objs = await side.session.query(Item).filter(a__gte=low).order_by("-id").all()
        side.seen = objs + [o for o in side.seen if o not in objs]
        return [_view(o) for o in objs]

    async def change(side: Side) -> Any:
        obj = pick(side)
        if obj is not None:
            field = ("a", "b", "f")[rng_choice[0] % 3]
            obj.__setattr__(field, {"a": rng_choice[0], "b": f"v{rng_choice[0]}", "f": None}[field])

    async def get(side: Side) -> Any:
        found = await side.session.get(Item, 1 + rng_choice[0] % (ROWS + 2))
        return None if found is None else (_view(found), any(found is o for o in side.seen))

    async def delete(side: Side) -> Any:
        obj = pick(side)
        if obj is not None and obj in side.session:
            await side.session.delete(obj)

    async def expunge(side: Side) -> Any:
        obj = pick(side)
        if obj is not None and obj in side.session:
            side.session.expunge(obj)

    async def add(side: Side) -> Any:
        n = rng_choice[0]
        side.session.add(Item(a=n, b=f"new{n}", c=0.5, d=True, e=None, f=n))

    async def insert_many(side: Side) -> Any:
        n = rng_choice[0]
        objs = [Item(a=n + k, b=f"ins{n}.{k}", c=0.25, d=False, e=None, f=k) for k in range(3)]
        await side.session.insert_all(objs)
        side.seen = objs + side.seen
        return [_view(o) for o in objs]

    async def reorder(side: Side) -> Any:
        side.seen.reverse()  # in place: the list a load returned is the caller's

    async def inspect(side: Side) -> Any:
        s = side.session
        return sorted(o.__dict__.get("id") or -1 for o in s.dirty), [o in s for o in side.seen]

    async def commit(side: Side) -> Any:
        await side.session.commit()

    async def rollback(side: Side) -> Any:
        await side.session.rollback()

    async def flush(side: Side) -> Any:
        await side.session.flush()

    async def close(side: Side) -> Any:
        await side.session.close()

    choices = [load_all, load_all, load_some, change, change, change, get, delete]
    choices += [expunge, add, commit, commit, rollback, flush, close, inspect, inspect, reorder]
    choices += [insert_many, insert_many]
    return side_by_side.sequence(rng, choices, 40, rng_choice)


async def _engine() -> ormkit.Engine:
    engine = await ormkit.create_engine("sqlite::memory:")
    await engine.create_all([Item])
    async with AsyncSession(engine) as s:
        await s.insert_all(items(ROWS))
    return engine


async def _table(engine: ormkit.Engine) -> list[tuple[Any, ...]]:
    rows = await engine.execute(
        f"SELECT id, a, b, c, d, e, f FROM {Item.__tablename__} ORDER BY id"
    )
    return rows.tuples()


def _count(deferred: side_by_side.Side, eager: side_by_side.Side) -> None:
    assert eager.deferred_after == 0
    DEFERRED_STEPS.append(deferred.deferred_after)
    DEFERRED_INSERT_STEPS.append(deferred.kinds[unit_of_work._DeferredInsert])


@pytest.mark.parametrize("seed", range(100))
async def test_deferred_and_eager_sessions_behave_the_same(seed: int) -> None:
    rng = random.Random(seed)
    deferred, eager = Side(await _engine(), True), Side(await _engine(), False)
    await side_by_side.compare(seed, deferred, eager, _ops(rng), _table, _count)


def test_the_sequences_did_defer() -> None:
    """The comparison above means something only if loads were deferred."""
    if not DEFERRED_STEPS:
        pytest.skip("run with the seeds above")
    assert sum(1 for n in DEFERRED_STEPS if n) >= len(DEFERRED_STEPS) // 2
    assert sum(1 for n in DEFERRED_INSERT_STEPS if n) >= len(DEFERRED_INSERT_STEPS) // 4
