"""Issue 8, SQLite count with a filter: how close may any client come?

    .venv-bench/bin/python benchmarks/sqlite_count_floor.py [--rounds 15] [--ops 200]

The goal is every ormkit figure at <= 0.5x Tortoise ORM. This script sets up the
benchmark's SQLite file (`run.setup_sqlite`) and times the benchmark's count
(`SELECT count(*) FROM items WHERE age >= ?`, a scan of the 10,000 rows), alternating in
one run:

  A. ormkit's engine (the runner's `ormkit_raw` contender)
  B. Tortoise ORM (the runner's contender: the goal's baseline)
  C. SQLite alone: a C program linked with the very SQLite amalgamation ormkit bundles
     (libsqlite3-sys's, compiled with its flags at -O3) that prepares the statement once
     and then only binds, steps and resets it -- no Python, no thread, no conversion

Medians of per-round medians. If C is above half of B, no client using this SQLite can
meet the goal, since every client pays C. Needs a C compiler (`cc`) and the
libsqlite3-sys sources cargo fetched for the build.
"""

from __future__ import annotations

import argparse
import asyncio
import glob
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import run  # noqa: E402
import workloads as W  # noqa: E402

# libsqlite3-sys's build.rs flags for the bundled build (its `bundled` feature)
BUNDLED_FLAGS = """-DSQLITE_CORE -DSQLITE_DEFAULT_FOREIGN_KEYS=1 -DSQLITE_ENABLE_API_ARMOR
-DSQLITE_ENABLE_COLUMN_METADATA -DSQLITE_ENABLE_DBSTAT_VTAB -DSQLITE_ENABLE_FTS3
-DSQLITE_ENABLE_FTS3_PARENTHESIS -DSQLITE_ENABLE_FTS5 -DSQLITE_ENABLE_JSON1
-DSQLITE_ENABLE_LOAD_EXTENSION=1 -DSQLITE_ENABLE_MEMORY_MANAGEMENT -DSQLITE_ENABLE_RTREE
-DSQLITE_ENABLE_STAT4 -DSQLITE_SOUNDEX -DSQLITE_THREADSAFE=1 -DSQLITE_USE_URI
-DHAVE_USLEEP=1 -DHAVE_ISNAN -DHAVE_LOCALTIME_R""".split()

C_SOURCE = r"""
#include "sqlite3.h"
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
static double now(void) {
    struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}
static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b; return (x > y) - (x < y);
}
/* argv: db sql int-param expected ops -> the median of ops timings, in microseconds */
int main(int argc, char **argv) {
    sqlite3 *db; sqlite3_stmt *st;
    if (argc != 6) return 2;
    int param = atoi(argv[3]), expected = atoi(argv[4]), ops = atoi(argv[5]);
    if (sqlite3_open_v2(argv[1], &db, SQLITE_OPEN_READONLY, 0) != SQLITE_OK) return 3;
    if (sqlite3_prepare_v3(db, argv[2], -1, SQLITE_PREPARE_PERSISTENT, &st, 0) != SQLITE_OK)
        return 4;
    double *ts = malloc(sizeof(double) * ops);
    for (int i = 0; i < ops + 20; i++) {   /* the first 20: warm-up */
        double t0 = now();
        sqlite3_bind_int(st, 1, param);
        if (sqlite3_step(st) != SQLITE_ROW) return 5;
        int got = sqlite3_column_int(st, 0);
        sqlite3_reset(st);
        double t = now() - t0;
        if (got != expected) return 6;
        if (i >= 20) ts[i - 20] = t;
    }
    qsort(ts, ops, sizeof(double), cmp);
    printf("%.3f\n", ts[ops / 2]);
    return 0;
}
"""


def bundled_amalgamation() -> str:
    """The directory of the sqlite3.c that ormkit's build compiled (Cargo.lock's
    libsqlite3-sys version, in cargo's registry)."""
    lock = open(os.path.join(ROOT, "Cargo.lock")).read()
    m = re.search(r'name = "libsqlite3-sys"\nversion = "([^"]+)"', lock)
    if m is None:
        raise SystemExit("libsqlite3-sys is not in Cargo.lock")
    home = os.environ.get("CARGO_HOME", os.path.expanduser("~/.cargo"))
    found = glob.glob(os.path.join(home, "registry", "src", "*", f"libsqlite3-sys-{m[1]}", "sqlite3"))
    if not found:
        raise SystemExit(f"libsqlite3-sys {m[1]}'s sources are not in {home}: build ormkit first")
    return found[0]


def build_floor(workdir: str) -> str:
    src = bundled_amalgamation()
    c_file = os.path.join(workdir, "count_floor.c")
    exe = os.path.join(workdir, "count_floor")
    with open(c_file, "w") as f:
        f.write(C_SOURCE)
    cmd = ["cc", "-O3", *BUNDLED_FLAGS, f"-I{src}", c_file, os.path.join(src, "sqlite3.c"),
           "-o", exe, "-lpthread", "-ldl", "-lm"]
    subprocess.run(cmd, check=True)
    return exe


async def measure(path: str, exe: str, rounds: int, ops: int) -> dict[str, float]:
    from contenders.ormkit_raw import OrmkitRawSqlite
    from contenders.tortoise_orm import TortoiseSqlite

    url = f"sqlite:///{path}"
    ours, theirs = OrmkitRawSqlite(url, 0), TortoiseSqlite(url, 0)
    await ours.connect()
    await theirs.connect()
    sql = W.SQL.qmark(W.SQL.count)
    per_round: dict[str, list[float]] = {"ormkit": [], "tortoise": [], "sqlite": []}
    try:
        for _ in range(rounds):
            for name, contender in (("ormkit", ours), ("tortoise", theirs)):
                times = []
                for i in range(ops + 20):
                    t0 = time.perf_counter()
                    got = await contender.count(W.COUNT_MIN_AGE)
                    t = time.perf_counter() - t0
                    if got != W.EXPECTED_COUNT:
                        raise SystemExit(f"{name}: count {got}, expected {W.EXPECTED_COUNT}")
                    if i >= 20:
                        times.append(t)
                per_round[name].append(statistics.median(times) * 1e6)
            out = subprocess.run(
                [exe, path, sql, str(W.COUNT_MIN_AGE), str(W.EXPECTED_COUNT), str(ops)],
                check=True, capture_output=True, text=True,
            ).stdout
            per_round["sqlite"].append(float(out))
    finally:
        await ours.close()
        await theirs.close()
    return {k: statistics.median(v) for k, v in per_round.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--ops", type=int, default=200)
    ns = ap.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        exe = build_floor(workdir)
        path = os.path.join(workdir, "bench.db")
        run.setup_sqlite(path)
        m = asyncio.run(measure(path, exe, ns.rounds, ns.ops))
    base = m["tortoise"]
    print(f"SQLite count with a filter; medians of {ns.rounds} alternating rounds of {ns.ops}")
    print(f"  A. ormkit engine   {m['ormkit']:7.1f} us  ({m['ormkit'] / base:.2f}x Tortoise)")
    print(f"  B. Tortoise ORM    {base:7.1f} us  (goal: <= {base / 2:.1f} us)")
    print(f"  C. SQLite alone    {m['sqlite']:7.1f} us  ({m['sqlite'] / base:.2f}x Tortoise)")
    print(f"  A - C (ormkit's own share): {m['ormkit'] - m['sqlite']:.1f} us")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
