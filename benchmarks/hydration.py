"""Issue 4, point 8: QueryResult.to_models against the class constructor, 10,000 rows x 8
columns. The goal is to_models at least 4x faster than building the same objects by
calling the class in Python.

    .venv-bench/bin/python benchmarks/hydration.py [--url URL] [--repeat 15]

Default database: an in-memory SQLite engine (no server needed); `--url` takes a
PostgreSQL URL (or ORMKIT_TEST_PG_URL when it is set and --url is "env"). Both paths
start from the same QueryResult, already fetched: only the conversion is timed.

  A. to_models(Model, converters)      what the session does (objects made in Rust)
  B. [Model(**d) for d in result.all()]  the declarative class's keyword constructor
  C. [Model(**d) for d in dicts]         the constructor alone, dicts made beforehand
  D. to_models(Plain) vs [Plain(*t) for t in result.tuples()], for a plain class
  E. to_models(Plain) without converters (on SQLite: no text -> datetime, 0/1 -> bool)
  F. a joined result (1,000 parents LEFT JOIN 10 children each: 10,000 rows) into parent
     and child objects, children grouped under their parent: as the joinedload loader
     does it in Python (to_models into bare objects, then per level and per row), and
     with unique_models + group_rows (issue 6 item 6)
Ratio reported: B / A (the goal: >= 4).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import gc
import os
import statistics
import sys
import time
from typing import Any

import ormkit
from ormkit import Mapped, mapped_column
from ormkit.orm import declarative_base

N = 10_000


Base: Any = declarative_base("HydrationBase")


class Row8(Base):
    __tablename__ = "hydration_rows"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]
    email: Mapped[str]
    age: Mapped[int | None]
    created_at: Mapped[dt.datetime]
    score: Mapped[float]
    active: Mapped[bool]
    note: Mapped[str | None]


class Plain:
    def __init__(self, id, name, email, age, created_at, score, active, note):  # noqa: A002
        self.id = id
        self.name = name
        self.email = email
        self.age = age
        self.created_at = created_at
        self.score = score
        self.active = active
        self.note = note


class Parent:
    pass


class Child:
    pass


class _Values:
    pass


def joined_in_python(result: Any) -> list[Any]:
    """What python/ormkit/orm/strategies.py `_hydrate_joined` does, minus the session."""
    rows = [r.__dict__ for r in result.to_models(_Values)]
    identity: dict[Any, Any] = {}
    roots = []
    for d in rows:
        obj = Parent.__new__(Parent)
        od = obj.__dict__
        od["id"] = d["id"]
        od["name"] = d["name"]
        roots.append(identity.setdefault(d["id"], obj))
    column: list[Any] = [None] * len(rows)
    for i, d in enumerate(rows):
        if d["c_id"] is None:
            continue
        obj = Child.__new__(Child)
        od = obj.__dict__
        od["id"] = d["c_id"]
        od["parent_id"] = d["parent_id"]
        od["label"] = d["label"]
        column[i] = obj
    groups: dict[int, tuple[Any, list[Any], set[int]]] = {}
    for parent, child in zip(roots, column, strict=True):
        entry = groups.setdefault(id(parent), (parent, [], set()))
        if child is not None and id(child) not in entry[2]:
            entry[2].add(id(child))
            entry[1].append(child)
    for parent, children, _seen in groups.values():
        parent.__dict__["children"] = children
    return list(identity.values())


def joined_in_rust(result: Any) -> list[Any]:
    """The same with QueryResult.unique_models and group_rows."""
    parents, parent_rows = result.unique_models(Parent, 0, columns=[0, 1])
    children, child_rows = result.unique_models(
        Child, 2, columns=[(2, "id"), (3, "parent_id"), (4, "label")]
    )
    groups = result.group_rows(parent_rows, child_rows, len(parents), children)
    for parent, group in zip(parents, groups, strict=True):
        parent.__dict__["children"] = group
    return parents  # type: ignore[no-any-return]


def timeit(fn: Any, repeat: int) -> float:
    """Median time of ``fn()`` plus the young-generation collection it leaves due:
    ``to_models`` holds the collector off while it builds a batch, so the collection of
    the new objects runs after it returns; ``gc.collect(0)`` keeps that cost in the
    figure (for the Python constructors it is the last partial collection)."""
    fn()
    times = []
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        out = fn()
        gc.collect(0)
        times.append(time.perf_counter() - t0)
        del out
    return statistics.median(times)


async def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", default="sqlite::memory:")
    ap.add_argument("--repeat", type=int, default=15)
    ns = ap.parse_args()
    url = os.environ["ORMKIT_TEST_PG_URL"] if ns.url == "env" else ns.url

    engine = await ormkit.create_engine(url, max_connections=1)
    pg = engine.dialect == "postgresql"
    await engine.execute("DROP TABLE IF EXISTS hydration_rows")
    await engine.execute(
        "CREATE TABLE hydration_rows (id integer PRIMARY KEY, name text NOT NULL, "
        "email text NOT NULL, age integer, created_at "
        + ("timestamp" if pg else "TEXT")
        + " NOT NULL, score "
        + ("double precision" if pg else "REAL")
        + " NOT NULL, active "
        + ("boolean" if pg else "INTEGER")
        + " NOT NULL, note text)"
    )
    base = dt.datetime(2024, 1, 1)
    rows = [
        (i, f"name {i}", f"user{i}@example.com", None if i % 10 == 0 else i % 90,
         base + dt.timedelta(seconds=i), i * 0.5, i % 2 == 0, None if i % 3 else f"note {i}")
        for i in range(1, N + 1)
    ]
    async with engine.transaction() as tx:
        await tx.executemany("INSERT INTO hydration_rows VALUES ($1, $2, $3, $4, $5, $6, $7, $8)", rows)
    result = await engine.execute("SELECT * FROM hydration_rows ORDER BY id")
    assert len(result) == N and len(result.columns) == 8
    converters = Row8.__ormkit_converters__(engine.dialect, result.columns)

    # The same objects either way.
    a, b = result.to_models(Row8, converters)[:50], [Row8(**d) for d in result.all()[:50]]
    for x, y in zip(a, b, strict=True):
        for c in result.columns:
            assert getattr(x, c) == getattr(y, c) or engine.dialect == "sqlite", (c, x, y)

    dicts = result.all()
    t_a = timeit(lambda: result.to_models(Row8, converters), ns.repeat)
    t_b = timeit(lambda: [Row8(**d) for d in result.all()], ns.repeat)
    t_c = timeit(lambda: [Row8(**d) for d in dicts], ns.repeat)
    plain_conv = converters
    t_d1 = timeit(lambda: result.to_models(Plain, plain_conv), ns.repeat)
    t_d2 = timeit(lambda: [Plain(*t) for t in result.tuples()], ns.repeat)
    t_e = timeit(lambda: result.to_models(Plain), ns.repeat)

    await engine.execute("DROP TABLE IF EXISTS hydration_children")
    await engine.execute("DROP TABLE IF EXISTS hydration_parents")
    await engine.execute("CREATE TABLE hydration_parents (id integer PRIMARY KEY, name text)")
    await engine.execute(
        "CREATE TABLE hydration_children (id integer PRIMARY KEY, parent_id integer, label text)"
    )
    async with engine.transaction() as tx:
        await tx.executemany(
            "INSERT INTO hydration_parents VALUES ($1, $2)", [(p, f"p{p}") for p in range(1, 1001)]
        )
        await tx.executemany(
            "INSERT INTO hydration_children VALUES ($1, $2, $3)",
            [(c, (c - 1) // 10 + 1, f"c{c}") for c in range(1, 10_001)],
        )
    joined = await engine.execute(
        "SELECT p.id, p.name, c.id AS c_id, c.parent_id, c.label FROM hydration_parents p "
        "LEFT OUTER JOIN hydration_children c ON c.parent_id = p.id ORDER BY p.id, c.id"
    )
    t_f1 = timeit(lambda: joined_in_python(joined), ns.repeat)
    t_f2 = float("nan")
    if hasattr(joined, "unique_models"):  # older builds lack it
        py_objs, rust_objs = joined_in_python(joined), joined_in_rust(joined)
        assert len(py_objs) == len(rust_objs) == 1000
        for x, y in zip(py_objs, rust_objs, strict=True):
            assert (x.id, x.name, [vars(c) for c in x.children]) == (
                y.id,
                y.name,
                [vars(c) for c in y.children],
            )
        t_f2 = timeit(lambda: joined_in_rust(joined), ns.repeat)
    await engine.execute("DROP TABLE hydration_children")
    await engine.execute("DROP TABLE hydration_parents")
    await engine.close()

    so = ormkit._ormkit.__file__
    with open(so, "rb") as fh:
        debug = b"attempt to add with overflow" in fh.read()
    print(f"{N:,} rows x 8 columns, {engine.dialect}, median of {ns.repeat}; extension {so}"
          + (" -- WARNING: a DEBUG build, these figures mean nothing" if debug else ""))
    print(f"  A  to_models(Model, converters)        {t_a * 1000:8.2f} ms")
    print(f"  B  [Model(**d) for d in result.all()]   {t_b * 1000:8.2f} ms   B/A = {t_b / t_a:5.1f}x  (goal >= 4x)")
    print(f"  C  [Model(**d) for d in dicts]          {t_c * 1000:8.2f} ms   C/A = {t_c / t_a:5.1f}x  (constructor alone)")
    print(f"  D  to_models(Plain)                     {t_d1 * 1000:8.2f} ms")
    print(f"     [Plain(*t) for t in result.tuples()] {t_d2 * 1000:8.2f} ms   ratio {t_d2 / t_d1:5.1f}x")
    print(f"  E  to_models(Plain), no converters      {t_e * 1000:8.2f} ms   "
          f"(D - E = cost of the converters: {(t_d1 - t_e) * 1000:.2f} ms)")
    print(f"  F  joined, grouped in Python            {t_f1 * 1000:8.2f} ms")
    print(f"     unique_models + group_rows           {t_f2 * 1000:8.2f} ms   ratio {t_f1 / t_f2:5.1f}x")
    if engine.dialect == "sqlite":
        print("  (on SQLite, B and C keep datetimes as text and booleans as 0/1, while A converts "
              "them: B/A understates the gain)")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
