"""Deferred registration against the eager path, side by side: the same random sequence
of operations runs on two databases, one session deferring registration (of loads,
inserts, selectin links) and one registering at once. Everything a user can observe
must match at every step (results, objects, errors) and the tables must end equal.
Shared by the session's and the relationships' equivalence tests."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import ormkit
from ormkit import AsyncSession
from ormkit.orm import unit_of_work

#: an operation on one side
Op = Callable[[Any], Awaitable[Any]]


class Side:
    """One database and one session; ``observe()`` is what a user sees of the objects
    the operations keep (reading it registers nothing: the session's maps are looked at
    only by the operations)."""

    def __init__(self, engine: ormkit.Engine, defer: bool) -> None:
        self.engine = engine
        self.defer = defer
        self.session = AsyncSession(engine)
        #: operations after which something was still deferred
        self.deferred_after = 0
        #: per kind of deferred entry, operations after which one was left
        self.kinds: Counter[type] = Counter()

    async def run(self, op: Op) -> Any:
        saved = unit_of_work._DEFER_MIN_ROWS
        unit_of_work._DEFER_MIN_ROWS = 2 if self.defer else 1 << 60
        try:
            return await op(self)
        except ormkit.Error as exc:  # the same error on both sides is the same outcome
            return ("error", type(exc).__name__)
        finally:
            unit_of_work._DEFER_MIN_ROWS = saved
            deferred = self.session._uow._deferred
            self.deferred_after += bool(deferred)
            self.kinds.update({type(e) for e in deferred})

    def observe(self) -> Any:
        raise NotImplementedError


def sequence(rng: random.Random, choices: Sequence[Op], count: int, value: list[int]) -> list[Op]:
    """``count`` operations drawn from ``choices``; each puts its own random number in
    ``value[0]`` before it runs (the operations pick their targets by it, by position,
    so both sides act on the same rows as long as they behave the same)."""
    out: list[Op] = []
    for _ in range(count):
        op, v = rng.choice(choices), rng.randrange(1000)

        async def step(side: Side, op: Op = op, v: int = v) -> Any:
            value[0] = v
            return await op(side)

        out.append(step)
    return out


async def compare(
    seed: int,
    deferred: Side,
    eager: Side,
    ops: list[Op],
    tables: Callable[[ormkit.Engine], Awaitable[Any]],
    check: Callable[[Side, Side], None],
) -> None:
    """Run ``ops`` on both sides, comparing results and observations after each; then
    ``check(deferred, eager)``, a commit on both sides, and their ``tables``."""
    try:
        for i, op in enumerate(ops):
            a, b = await deferred.run(op), await eager.run(op)
            assert a == b, f"seed {seed}, step {i}: results differ"
            assert deferred.observe() == eager.observe(), f"seed {seed}, step {i}"
        check(deferred, eager)
        await deferred.run(lambda side: side.session.commit())
        await eager.run(lambda side: side.session.commit())
        assert await tables(deferred.engine) == await tables(eager.engine)
    finally:
        for side in (deferred, eager):
            await side.session.close()
            await side.engine.close()
