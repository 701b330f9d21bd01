"""One contender in its own process, driven by run.py over stdin/stdout (JSON lines).

    python worker.py --db pg|sqlite --contender NAME --url URL --slot K

Commands (one JSON object per line on stdin; one answer per line on stdout):
  {"cmd": "check", "keys": [...]}            correctness of every workload, before timing
  {"cmd": "run", "key": K, "target": s, "warmup": s, "min_iter": n, "max_iter": n}
                                              one timed batch -> summary of per-op times
  {"cmd": "throughput", "seconds": s, "size": 10, "tasks": 50}
  {"cmd": "loop", "key": K, "seconds": s}    run K for s seconds (for py-spy profiles)
  {"cmd": "quit"}
Anything the libraries print goes to stderr (run.py keeps it in results/logs/).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import sys
import time
import traceback
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import workloads as W  # noqa: E402
from workloads import SQL, CheckError  # noqa: E402

# --- admin connection: untimed setup, cleanup and read-back for the checks -------------


class PgAdmin:
    async def open(self, url: str) -> None:
        import asyncpg

        self.conn = await asyncpg.connect(url)

    async def insert_rows(self, rows: list[tuple[Any, ...]]) -> list[int]:
        ids: list[int] = []
        for i in range(0, len(rows), 1000):
            chunk = rows[i : i + 1000]
            params = [v for r in chunk for v in r]
            ids += [r[0] for r in await self.conn.fetch(SQL.bulk(len(chunk)), *params)]
        return ids

    async def delete_ids(self, ids: list[int]) -> None:
        if ids:
            await self.conn.execute("DELETE FROM items_w WHERE id = ANY($1)", list(ids))

    async def fetch_w(self, pk: int) -> tuple[Any, ...] | None:
        r = await self.conn.fetchrow(f"SELECT {W.COLS_SQL} FROM items_w WHERE id = $1", pk)
        return None if r is None else tuple(r)

    async def close(self) -> None:
        await self.conn.close()


class SqliteAdmin:
    async def open(self, url: str) -> None:
        import sqlite3

        self.db = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        self.db.execute("PRAGMA busy_timeout=10000")

    async def insert_rows(self, rows: list[tuple[Any, ...]]) -> list[int]:
        ids: list[int] = []
        self.db.execute("BEGIN")
        for i in range(0, len(rows), 1000):
            chunk = rows[i : i + 1000]
            params = [W.sqlite_value(v) for r in chunk for v in r]
            ids += [r[0] for r in self.db.execute(SQL.bulk(len(chunk), qmark=True), params)]
        self.db.execute("COMMIT")
        return ids

    async def delete_ids(self, ids: list[int]) -> None:
        self.db.execute("BEGIN")
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            marks = ",".join("?" * len(chunk))
            self.db.execute(f"DELETE FROM items_w WHERE id IN ({marks})", chunk)
        self.db.execute("COMMIT")

    async def fetch_w(self, pk: int) -> tuple[Any, ...] | None:
        r = self.db.execute(f"SELECT {W.COLS_SQL} FROM items_w WHERE id = ?", (pk,)).fetchone()
        if r is None:
            return None
        import datetime as dt

        return (r[0], r[1], r[2], r[3], dt.datetime.fromisoformat(r[4]), r[5], bool(r[6]))

    async def close(self) -> None:
        self.db.close()


# --- the worker --------------------------------------------------------------------------


def _clamp(v: int, lo: int, hi: int) -> int:
    return max(lo, min(hi, v))


class Worker:
    def __init__(self, contender: Any, admin: Any, slot: int) -> None:
        self.c = contender
        self.admin = admin
        self.slot = slot
        self.seq = 0
        self.tag = f"s{slot}p{os.getpid()}"
        self.counter = 0
        self.est: dict[str, float] = {}
        self.tp_ready = False

    # rows and keys ---------------------------------------------------------------------

    def fresh_rows(self, k: int) -> list[tuple[Any, ...]]:
        out = []
        for _ in range(k):
            self.seq += 1
            out.append(W.new_row(self.tag, self.seq))
        return out

    def next_pk(self) -> int:
        self.counter += 1
        return 1 + (self.counter * 7919) % W.N_ITEMS

    def slot_pk(self) -> int:
        self.counter += 1
        return self.slot * W.SLOT_ROWS + 1 + self.counter % W.SLOT_ROWS

    # per-workload: method, args for k iterations, whether results are kept, cleanup ----

    def method(self, key: str) -> str:
        if key.startswith("select_"):
            return "select"
        if key.startswith("tuples_"):
            return "tuples"
        if key.startswith("bulk_"):
            return "bulk"
        return {"get_pk": "get_pk"}.get(key, key)

    async def make_args(self, key: str, k: int) -> list[tuple[Any, ...]]:
        if key == "get_pk":
            return [(self.next_pk(),) for _ in range(k)]
        if key == "insert":
            return [(r,) for r in self.fresh_rows(k)]
        if key == "update":
            return [(self.slot_pk(), f"upd {i}", float(i)) for i in range(k)]
        if key == "delete":
            return [(pk,) for pk in await self.admin.insert_rows(self.fresh_rows(k))]
        if key.startswith(("select_", "tuples_")):
            n = int(key.split("_")[1])
            return [(n,)] * k
        if key == "page":
            return [(W.PAGE_MIN_AGE,)] * k
        if key == "count":
            return [(W.COUNT_MIN_AGE,)] * k
        if key.startswith("bulk_"):
            n = int(key.split("_")[1])
            return [(self.fresh_rows(n),) for _ in range(k)]
        if key == "rmw":
            return [(self.slot_pk(),) for _ in range(k)]
        if key == "selectin":
            return [()] * k
        raise KeyError(key)

    @staticmethod
    def collects(key: str) -> bool:
        return key == "insert" or key.startswith("bulk_")

    async def cleanup(self, key: str, results: list[Any]) -> None:
        if key == "insert":
            await self.admin.delete_ids(list(results))
        elif key.startswith("bulk_"):
            await self.admin.delete_ids([i for ids in results for i in ids])

    # calling ---------------------------------------------------------------------------

    async def call(self, name: str, *args: Any) -> Any:
        r = getattr(self.c, name)(*args)
        if not self.c.sync:
            r = await r
        return r

    async def timed(self, key: str, args: list[tuple[Any, ...]]) -> tuple[list[int], list[Any]]:
        fn = getattr(self.c, self.method(key))
        collect = self.collects(key)
        pc = time.perf_counter_ns
        times = [0] * len(args)
        out: list[Any] = []
        r: Any = None
        if self.c.sync:
            for i, a in enumerate(args):
                t0 = pc()
                r = fn(*a)
                t1 = pc()
                times[i] = t1 - t0
                if collect:
                    out.append(r)
                r = None  # free the previous result outside the timed span
        else:
            for i, a in enumerate(args):
                t0 = pc()
                r = await fn(*a)
                t1 = pc()
                times[i] = t1 - t0
                if collect:
                    out.append(r)
                r = None
        return times, out

    # checks ----------------------------------------------------------------------------

    async def check(self, key: str) -> None:
        E = W.EXPECTED_ITEMS
        what = key
        if key == "get_pk":
            for pk in (42, 10, 3, 10_000):
                W.check_model(await self.call("get_pk", pk), E[pk - 1], what)
        elif key == "insert":
            row = self.fresh_rows(1)[0]
            new_id = await self.call("insert", row)
            if not isinstance(new_id, int):
                raise CheckError(f"{what}: id {new_id!r} is not an int")
            got = await self.admin.fetch_w(new_id)
            await self.admin.delete_ids([new_id])
            if got != (new_id, *row):
                raise CheckError(f"{what}: stored {got!r}, expected {(new_id, *row)!r}")
        elif key == "update":
            pk = self.slot * W.SLOT_ROWS + 1
            await self.call("update", pk, "checked", 1234.5)
            got = await self.admin.fetch_w(pk)
            if got is None or got[1] != "checked" or got[5] != 1234.5:
                raise CheckError(f"{what}: row {pk} is {got!r} after the update")
        elif key == "delete":
            (pk,) = await self.admin.insert_rows(self.fresh_rows(1))
            await self.call("delete", pk)
            if await self.admin.fetch_w(pk) is not None:
                raise CheckError(f"{what}: row {pk} still there")
        elif key.startswith("select_"):
            n = int(key.split("_")[1])
            W.check_models(list(await self.call("select", n)), E[:n], what)
        elif key.startswith("tuples_"):
            n = int(key.split("_")[1])
            W.check_tuples(list(await self.call("tuples", n)), n, what)
        elif key == "page":
            objs = list(await self.call("page", W.PAGE_MIN_AGE))
            W.check_models(objs, [E[i - 1] for i in W.EXPECTED_PAGE_IDS], what)
        elif key == "count":
            got = await self.call("count", W.COUNT_MIN_AGE)
            if got != W.EXPECTED_COUNT:
                raise CheckError(f"{what}: got {got!r}, expected {W.EXPECTED_COUNT}")
        elif key.startswith("bulk_"):
            n = int(key.split("_")[1])
            rows = self.fresh_rows(n)
            ids = list(await self.call("bulk", rows))
            try:
                if len(ids) != n or len(set(ids)) != n or not all(isinstance(i, int) for i in ids):
                    raise CheckError(f"{what}: {len(ids)} ids returned, {n} expected")
                for i in (0, n // 2, n - 1):
                    got = await self.admin.fetch_w(ids[i])
                    if got != (ids[i], *rows[i]):
                        raise CheckError(f"{what}: id {ids[i]} is {got!r}, expected {rows[i]!r}")
            finally:
                await self.admin.delete_ids([i for i in ids if isinstance(i, int)])
        elif key == "rmw":
            pk = self.slot * W.SLOT_ROWS + 2
            before = await self.admin.fetch_w(pk)
            await self.call("rmw", pk)
            after = await self.admin.fetch_w(pk)
            if before is None or after is None or after[5] != before[5] + 1 or after[1] != "rmw":
                raise CheckError(f"{what}: row {pk} went from {before!r} to {after!r}")
        elif key == "selectin":
            W.check_parents(list(await self.call("selectin")), what)
        else:
            raise KeyError(key)

    async def check_all(self, keys: list[str]) -> dict[str, Any]:
        results: dict[str, Any] = {}
        for key in keys:
            why = getattr(self.c, "unsupported", {}).get(key)
            if why:
                results[key] = {"ok": False, "error": f"not supported: {why}"}
                continue
            t0 = time.perf_counter()
            try:
                await self.check(key)
                # A second, warm call gives the first estimate of the op's time.
                t0 = time.perf_counter()
                args = await self.make_args(key, 1)
                times, out = await self.timed(key, args)
                await self.cleanup(key, out)
                self.est[key] = times[0] / 1e9
                results[key] = {"ok": True}
            except Exception as exc:  # noqa: BLE001
                tb = traceback.format_exc(limit=-3)
                print(f"check {key} failed:\n{tb}", file=sys.stderr)
                results[key] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:500]}
            del t0
        return results

    # timing ----------------------------------------------------------------------------

    async def run(self, key: str, target: float, warmup: float, min_iter: int, max_iter: int) -> dict[str, Any]:
        est = self.est.get(key, 1e-3)
        k = _clamp(int(warmup / max(est, 1e-7)), 2, max(2, max_iter // 4))
        args = await self.make_args(key, k)
        times, out = await self.timed(key, args)
        await self.cleanup(key, out)
        est = statistics.median(times) / 1e9
        n = _clamp(int(target / max(est, 1e-7)), min_iter, max_iter)
        args = await self.make_args(key, n)
        out = []
        gc.collect()
        times, out = await self.timed(key, args)
        await self.cleanup(key, out)
        med = statistics.median(times)
        self.est[key] = med / 1e9
        times.sort()
        return {
            "n": n,
            "median_us": med / 1000,
            "min_us": times[0] / 1000,
            "p90_us": times[int(0.9 * (n - 1))] / 1000,
            "mean_us": sum(times) / n / 1000,
        }

    async def loop(self, key: str, seconds: float) -> dict[str, Any]:
        deadline = time.perf_counter() + seconds
        count = 0
        busy = 0
        while time.perf_counter() < deadline:
            args = await self.make_args(key, 50 if self.est.get(key, 1) < 0.01 else 2)
            times, out = await self.timed(key, args)
            await self.cleanup(key, out)
            count += len(times)
            busy += sum(times)
        return {"count": count, "mean_us": busy / max(count, 1) / 1000}

    async def throughput(self, seconds: float, size: int, tasks: int) -> dict[str, Any]:
        c = self.c
        if not self.tp_ready:
            await c.tp_open(size)
            self.tp_ready = True
            r = c.tp_get(42)
            if not c.sync:
                r = await r
            W.check_model(r, W.EXPECTED_ITEMS[41], "throughput get_pk")
        if c.sync:
            # No concurrency to have: one connection in a plain loop.
            fn = c.tp_get
            pk, count = 1, 0
            end_warm = time.perf_counter() + min(0.3, seconds / 4)
            while time.perf_counter() < end_warm:
                fn(pk)
                pk = 1 + (pk * 7919) % W.N_ITEMS
            t0 = time.perf_counter()
            end = t0 + seconds
            while True:
                for _ in range(100):
                    fn(pk)
                    pk = 1 + (pk * 7919) % W.N_ITEMS
                count += 100
                t1 = time.perf_counter()
                if t1 >= end:
                    break
            return {"ops_per_s": count / (t1 - t0), "tasks": 1, "size": 1}
        # Each task checks the clock itself: an await that completes without suspending
        # (ormkit's inline SQLite reads) never lets a sleeping supervisor task run.
        counts = [0] * tasks
        pc = time.perf_counter
        warm_end = pc() + min(0.3, seconds / 4)
        end = warm_end + seconds

        async def runner(j: int) -> None:
            pk = 1 + j * 197
            get = c.tp_get
            n = 0
            while True:
                await get(pk)
                now = pc()
                if now >= end:
                    break
                if now >= warm_end:
                    n += 1
                pk = 1 + (pk * 7919) % W.N_ITEMS
            counts[j] = n

        await asyncio.gather(*(runner(j) for j in range(tasks)))
        # Fairness: how many tasks got anything done in the window, and the spread.
        return {"ops_per_s": sum(counts) / seconds, "tasks": tasks, "size": size,
                "tasks_served": sum(1 for n in counts if n), "min_task_ops": min(counts),
                "max_task_ops": max(counts)}


async def amain(ns: argparse.Namespace, out: Any) -> int:
    def send(obj: Any) -> None:
        out.write(json.dumps(obj) + "\n")
        out.flush()

    try:
        import contenders

        cls = contenders.load(ns.db, ns.contender)
        c = cls(ns.url, ns.slot)
        admin: Any = PgAdmin() if ns.db == "pg" else SqliteAdmin()
        await admin.open(ns.admin_url or ns.url)
        await c.connect()
    except Exception as exc:  # noqa: BLE001
        traceback.print_exc()
        send({"ok": False, "error": f"{type(exc).__name__}: {exc}"[:500]})
        return 1
    w = Worker(c, admin, ns.slot)
    send({"ok": True, "pid": os.getpid(), "kind": c.kind, "sync": c.sync})
    while True:
        # Blocking read on the loop thread: nothing needs to run between two commands,
        # and no reader thread shows up in profiles.
        line = sys.stdin.readline()
        if not line:
            break
        msg = json.loads(line)
        cmd = msg["cmd"]
        try:
            if cmd == "check":
                send(await w.check_all(msg["keys"]))
            elif cmd == "run":
                send(
                    await w.run(
                        msg["key"], msg["target"], msg["warmup"], msg["min_iter"], msg["max_iter"]
                    )
                )
            elif cmd == "throughput":
                send(await w.throughput(msg["seconds"], msg["size"], msg["tasks"]))
            elif cmd == "loop":
                send(await w.loop(msg["key"], msg["seconds"]))
            elif cmd == "quit":
                break
            else:
                send({"error": f"unknown command {cmd!r}"})
        except Exception as exc:  # noqa: BLE001
            traceback.print_exc()
            send({"error": f"{type(exc).__name__}: {exc}"[:500]})
    try:
        if w.tp_ready:
            await c.tp_close()
        await c.close()
        await admin.close()
    except Exception:  # noqa: BLE001
        traceback.print_exc()
    send({"bye": True})
    return 0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", required=True, choices=["pg", "sqlite"])
    ap.add_argument("--contender", required=True)
    ap.add_argument("--url", required=True)
    ap.add_argument("--admin-url")
    ap.add_argument("--slot", type=int, required=True)
    ns = ap.parse_args()
    # The protocol owns the real stdout; whatever else writes to fd 1 lands on stderr.
    out = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return asyncio.run(amain(ns, out))


if __name__ == "__main__":
    sys.exit(main())
