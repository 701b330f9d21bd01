"""Issue 8, PostgreSQL bulk insert 1,000 (ids returned): how close may any client come?

    .venv-bench/bin/python benchmarks/bulk_floor.py [--rounds 150]

The goal is ormkit at <= 0.5x psqlpy. This script sets up the benchmark's tables
(`run.setup_pg`) and times, alternating in one process on one server (the private one
run.py starts, or ORMKIT_TEST_PG_URL's):

  A. ormkit's engine: the benchmark's multi-row INSERT ... RETURNING id into items_w
     (`workloads.SQL.bulk`), 6,000 parameters, rows as `workloads.new_row` makes them
  B. psqlpy: the same statement and parameters (the goal's baseline)
  C. the server alone: EXPLAIN (ANALYZE) of an INSERT of 1,000 rows of the same shape
     from generate_series -- no parameters, no client, no network: the heap, the two
     B-trees and the WAL the insert itself costs ("Execution Time")

Medians over the rounds. If C is above half of B, no client can meet the goal with this
statement, since every client pays C.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import run  # noqa: E402
import workloads as W  # noqa: E402

N = 1_000


def server_sql(first: int) -> str:
    """EXPLAIN ANALYZE of inserting rows ``first``.. of the shape ``W.new_row`` makes."""
    return (
        "EXPLAIN (ANALYZE, TIMING OFF, SUMMARY ON, FORMAT JSON) "
        f"INSERT INTO items_w ({W.INSERT_COLS_SQL}) SELECT 'new ' || g, "
        "'floor-' || g || '@bench.example', CASE WHEN g % 7 = 0 THEN NULL ELSE g % 90 END, "
        f"timestamp '{W.EPOCH.isoformat(sep=' ')}' + g * interval '1 second', g * 0.25, "
        f"g % 2 = 0 FROM generate_series({first}, {first + N - 1}) g RETURNING id"
    )


async def measure(url: str, rounds: int) -> dict[str, float]:
    import psqlpy

    import ormkit

    await run.setup_pg(url)  # the benchmark's tables and rows
    engine = await ormkit.create_engine(url, min_connections=1, max_connections=1)
    other = await psqlpy.connect(dsn=url)
    sql, next_seq = W.SQL.bulk(N), 0

    def params() -> list[Any]:
        """The next 1,000 rows, as the benchmark's bulk workload makes them."""
        nonlocal next_seq
        first, next_seq = next_seq, next_seq + N
        return [v for seq in range(first, first + N) for v in W.new_row("floor", seq)]

    times: dict[str, list[float]] = {"ormkit": [], "psqlpy": [], "server": []}
    try:
        for r in range(rounds):
            values = params()
            t0 = time.perf_counter()
            ids = (await engine.execute(sql, values)).column(0)
            times["ormkit"].append(time.perf_counter() - t0)
            values = params()
            t0 = time.perf_counter()
            rows = (await other.execute(sql, values)).result(as_tuple=True)
            times["psqlpy"].append(time.perf_counter() - t0)
            if len(ids) != N or len(rows) != N:
                raise SystemExit(f"wrong row counts: {len(ids)}, {len(rows)}")
            plan = (await engine.execute(server_sql(next_seq))).scalar()
            next_seq += N
            found = json.loads(plan) if isinstance(plan, str) else plan
            times["server"].append(found[0]["Execution Time"] / 1e3)
            if r % 50 == 49:  # back to the benchmark's table size (it deletes what it adds)
                await engine.execute("DELETE FROM items_w WHERE id > $1", [W.WRITE_SEED])
                await engine.execute("VACUUM items_w")
    finally:
        await engine.close()
    return {k: statistics.median(v) for k, v in times.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=150)
    ns = ap.parse_args()
    cluster = run.Cluster()
    cluster.start()
    try:
        m = asyncio.run(measure(cluster.url, ns.rounds))
    finally:
        cluster.stop()
    ms = {k: v * 1e3 for k, v in m.items()}
    ratio = {k: v / m["psqlpy"] for k, v in m.items()}
    print(f"bulk insert 1,000 rows, ids returned; medians of {ns.rounds} alternating rounds")
    print(f"  A. ormkit engine      {ms['ormkit']:7.3f} ms  ({ratio['ormkit']:.2f}x psqlpy)")
    print(f"  B. psqlpy             {ms['psqlpy']:7.3f} ms  (goal: <= {ms['psqlpy'] / 2:.3f} ms)")
    print(f"  C. the server alone   {ms['server']:7.3f} ms  ({ratio['server']:.2f}x psqlpy)")
    print(f"  A - C (client, network, parameters): {ms['ormkit'] - ms['server']:.3f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
