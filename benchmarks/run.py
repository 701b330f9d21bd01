"""The benchmark runner: ormkit against raw drivers and ORMs, on PostgreSQL and SQLite.

    .venv-bench/bin/python benchmarks/run.py [--quick] [--db pg,sqlite]
        [--contenders ormkit,asyncpg,...] [--workloads get_pk,select_10000,...]
        [--rounds N] [--target SECONDS] [--no-throughput] [--no-charts]

(`make bench` builds the extension, creates the benchmark venv and runs this; pass
options with `make bench BENCH_ARGS=--quick`.) See benchmarks/README.md for the method.

A private PostgreSQL server is started for the run (scripts/pg_cluster.sh) and stopped at
the end, unless ORMKIT_TEST_PG_URL points at one already. Results go to
benchmarks/results/run-<time>/ (results.md, results.json, *.png, logs/), and
benchmarks/results/latest points at the newest run.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import contenders as C  # noqa: E402
import report  # noqa: E402
import workloads as W  # noqa: E402

QUICK = {"rounds": 3, "target": 0.06, "warmup": 0.02, "min_iter": 3, "max_iter": 2000,
         "tp_rounds": 2, "tp_seconds": 1.0, "pgbench_seconds": 1}
FULL = {"rounds": 5, "target": 0.35, "warmup": 0.08, "min_iter": 5, "max_iter": 20000,
        "tp_rounds": 3, "tp_seconds": 3.0, "pgbench_seconds": 3}
WORKER_TIMEOUT = 300.0


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --- PostgreSQL server ------------------------------------------------------------------


class Cluster:
    """Our own throwaway server, or the one ORMKIT_TEST_PG_URL names."""

    def __init__(self) -> None:
        self.started = False
        self.env: dict[str, str] = {}

    def start(self) -> None:
        if os.environ.get("ORMKIT_TEST_PG_URL"):
            self.env = {k: v for k, v in os.environ.items() if k.startswith("ORMKIT_TEST_PG_")}
            log("using the PostgreSQL server of ORMKIT_TEST_PG_URL")
            return
        log("starting a private PostgreSQL server (scripts/pg_cluster.sh)")
        out = subprocess.run(
            [os.path.join(ROOT, "scripts", "pg_cluster.sh"), "start", "--watch", str(os.getpid())],
            check=True, capture_output=True, text=True,
        ).stdout
        for line in out.splitlines():
            if line.startswith("export "):
                k, _, v = line[len("export "):].partition("=")
                self.env[k] = v.strip("'")
        self.started = True

    def stop(self) -> None:
        if self.started:
            subprocess.run(
                [os.path.join(ROOT, "scripts", "pg_cluster.sh"), "stop", self.env["ORMKIT_TEST_PG_DIR"]],
                check=False,
            )
            self.started = False

    @property
    def url(self) -> str:
        """The scram role's URL over TCP with TLS off, for every contender alike."""
        u = urlsplit(self.env["ORMKIT_TEST_PG_URL"])
        q = dict(parse_qsl(u.query))
        q["sslmode"] = "disable"
        return urlunsplit((u.scheme, u.netloc, u.path, urlencode(q), ""))

    def libpq_env(self) -> dict[str, str]:
        u = urlsplit(self.env["ORMKIT_TEST_PG_URL"])
        env = dict(os.environ)
        env.update(PGHOST=u.hostname or "127.0.0.1", PGPORT=str(u.port or 5432),
                   PGUSER=u.username or "", PGPASSWORD=u.password or "",
                   PGDATABASE=u.path.lstrip("/"), PGSSLMODE="disable")
        return env

    def bin(self, name: str) -> str | None:
        cands = []
        if self.env.get("ORMKIT_TEST_PG_BIN"):
            cands.append(os.path.join(self.env["ORMKIT_TEST_PG_BIN"], name))
        cands += sorted(
            (os.path.join("/usr/lib/postgresql", v, "bin", name)
             for v in (os.listdir("/usr/lib/postgresql") if os.path.isdir("/usr/lib/postgresql") else [])),
            reverse=True,
        )
        for c in cands:
            if os.access(c, os.X_OK):
                return c
        return shutil.which(name)


# --- data ---------------------------------------------------------------------------------


def _w_rows() -> list[tuple[Any, ...]]:
    return [W.item_row(i) for i in range(1, W.WRITE_SEED + 1)]


async def setup_pg(url: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        for sql in W.PG_SCHEMA:
            await conn.execute(sql)
        await conn.copy_records_to_table("items", records=W.EXPECTED_ITEMS, columns=list(W.COLS))
        await conn.copy_records_to_table("items_w", records=_w_rows(), columns=list(W.COLS))
        await conn.execute("SELECT setval(pg_get_serial_sequence('items_w', 'id'), $1)", W.WRITE_SEED)
        await conn.copy_records_to_table(
            "parents", records=[(p, f"parent {p}") for p in range(1, W.N_PARENTS + 1)],
            columns=["id", "name"])
        await conn.copy_records_to_table(
            "children",
            records=[W.child_row(p, k) for p in range(1, W.N_PARENTS + 1)
                     for k in range(W.CHILDREN_PER_PARENT)],
            columns=["id", "parent_id", "title"])
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()


def setup_sqlite(path: str) -> None:
    import sqlite3

    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    for sql in W.SQLITE_SCHEMA:
        db.execute(sql)
    db.execute("BEGIN")
    ins = f"INSERT INTO {{}} ({W.COLS_SQL}) VALUES (?, ?, ?, ?, ?, ?, ?)"
    db.executemany(ins.format("items"), ([W.sqlite_value(v) for v in r] for r in W.EXPECTED_ITEMS))
    db.executemany(ins.format("items_w"), ([W.sqlite_value(v) for v in r] for r in _w_rows()))
    db.executemany("INSERT INTO parents (id, name) VALUES (?, ?)",
                   [(p, f"parent {p}") for p in range(1, W.N_PARENTS + 1)])
    db.executemany("INSERT INTO children (id, parent_id, title) VALUES (?, ?, ?)",
                   [W.child_row(p, k) for p in range(1, W.N_PARENTS + 1)
                    for k in range(W.CHILDREN_PER_PARENT)])
    db.execute("COMMIT")
    db.execute("ANALYZE")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()


# --- the ormkit under test ------------------------------------------------------------------


def snapshot_ormkit(dest: str, so_override: str | None = None) -> dict[str, Any]:
    """Copies python/ormkit and its built extension into `dest`/ormkit, so that the run
    measures one consistent build even if someone rebuilds the tree meanwhile (and a
    rebuild cannot pull the .so from under a running worker). Workers import it first
    (PYTHONPATH). Reports whether the extension is a debug build: its figures would say
    nothing about ormkit's speed."""
    import glob

    src = os.path.join(ROOT, "python", "ormkit")
    dst = os.path.join(dest, "ormkit")
    info: dict[str, Any] = {}
    for attempt in range(3):
        shutil.rmtree(dst, ignore_errors=True)
        shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__", "*.so"))
        built = sorted(glob.glob(os.path.join(src, "_ormkit*.so")))
        so = so_override or (built[0] if built else None)
        if so is None:
            info = {"error": "no built extension in python/ormkit: run `make build`"}
            break
        name = os.path.basename(built[0]) if built else "_ormkit" + sysconfig_suffix()
        shutil.copy2(so, os.path.join(dst, name))
        with open(os.path.join(dst, name), "rb") as fh:
            data = fh.read()
        info = {
            "so": so,
            "so_bytes": len(data),
            "so_mtime": dt.datetime.fromtimestamp(os.path.getmtime(so)).isoformat(timespec="seconds"),
            # rustc's overflow checks (on in debug builds only) leave this message behind.
            "debug_build": b"attempt to add with overflow" in data,
        }
        probe = subprocess.run(
            [sys.executable, "-c", "import ormkit, sys; sys.stdout.write(ormkit.__file__ + ' ' + ormkit.__version__)"],
            env={**os.environ, "PYTHONPATH": dest}, capture_output=True, text=True, check=False)
        if probe.returncode == 0 and probe.stdout.startswith(dst):
            info["version"] = probe.stdout.split()[-1]
            break
        info["error"] = f"import ormkit failed: {probe.stderr.strip()[-400:]}"
        log(f"{info['error']} (attempt {attempt + 1}; a rebuild may be under way, retrying in 30 s)")
        time.sleep(30)
    return info


def sysconfig_suffix() -> str:
    import sysconfig

    return str(sysconfig.get_config_var("EXT_SUFFIX"))


# --- worker processes ---------------------------------------------------------------------


class WorkerProc:
    def __init__(self, db: str, name: str, url: str, admin_url: str, slot: int, logdir: str,
                 python: str, pythonpath: str | None = None) -> None:
        self.db, self.name = db, name
        self.log = open(os.path.join(logdir, f"{db}-{name}.log"), "w")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [python, os.path.join(HERE, "worker.py"), "--db", db, "--contender", name,
             "--url", url, "--admin-url", admin_url, "--slot", str(slot)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, text=True, bufsize=1,
            cwd=HERE, env={**os.environ, "PYTHONPATH": pythonpath} if pythonpath else None,
        )
        self.dead: str | None = None

    def recv(self, timeout: float = WORKER_TIMEOUT) -> dict[str, Any]:
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            self.kill(f"no answer in {timeout:.0f} s")
            raise RuntimeError(self.dead)
        line = self.proc.stdout.readline()
        if not line:
            self.kill(f"exited (code {self.proc.poll()}); see logs/{self.db}-{self.name}.log")
            raise RuntimeError(self.dead)
        return json.loads(line)  # type: ignore[no-any-return]

    def ask(self, msg: dict[str, Any], timeout: float = WORKER_TIMEOUT) -> dict[str, Any]:
        if self.dead:
            raise RuntimeError(self.dead)
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps(msg) + "\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            self.kill("its stdin closed")
            raise RuntimeError(self.dead) from None
        return self.recv(timeout)

    def kill(self, why: str) -> None:
        self.dead = why
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def quit(self) -> None:
        if not self.dead:
            try:
                self.ask({"cmd": "quit"}, timeout=30)
            except (RuntimeError, OSError):
                pass
        if self.proc.poll() is None:
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


# --- pgbench, the PostgreSQL round-trip floor --------------------------------------------


class Pgbench:
    def __init__(self, cluster: Cluster, workdir: str) -> None:
        self.exe = cluster.bin("pgbench")
        self.env = cluster.libpq_env()
        self.workdir = workdir
        self.error: str | None = None if self.exe else "pgbench not found"

    def init(self) -> None:
        if self.exe is None:
            return
        r = subprocess.run([self.exe, "-i", "-s", "1", "-q", "-n"], env=self.env,
                           capture_output=True, text=True, check=False)
        if r.returncode != 0:
            self.error = f"pgbench -i failed: {r.stderr.strip()[-300:]}"

    def latency(self, seconds: int) -> dict[str, Any]:
        """`pgbench -S -M prepared -c 1`, per-transaction log -> median latency."""
        assert self.exe is not None
        prefix = os.path.join(self.workdir, "pgbench_log")
        for f in os.listdir(self.workdir):
            if f.startswith("pgbench_log"):
                os.remove(os.path.join(self.workdir, f))
        r = subprocess.run(
            [self.exe, "-n", "-S", "-M", "prepared", "-c", "1", "-j", "1", "-T", str(seconds),
             "-l", f"--log-prefix={prefix}"],
            env=self.env, capture_output=True, text=True, check=False, cwd=self.workdir)
        if r.returncode != 0:
            raise RuntimeError(f"pgbench failed: {r.stderr.strip()[-300:]}")
        times = []
        for f in os.listdir(self.workdir):
            if f.startswith("pgbench_log"):
                with open(os.path.join(self.workdir, f)) as fh:
                    times += [int(line.split()[2]) for line in fh if line.strip()]
        times.sort()
        n = len(times)
        return {"n": n, "median_us": float(statistics.median(times)), "min_us": float(times[0]),
                "p90_us": float(times[int(0.9 * (n - 1))]), "mean_us": sum(times) / n}

    def throughput(self, seconds: float, clients: int) -> dict[str, Any]:
        assert self.exe is not None
        r = subprocess.run(
            [self.exe, "-n", "-S", "-M", "prepared", "-c", str(clients), "-j", "2",
             "-T", str(max(1, round(seconds)))],
            env=self.env, capture_output=True, text=True, check=False)
        for line in r.stdout.splitlines():
            if line.startswith("tps = "):
                return {"ops_per_s": float(line.split()[2]), "tasks": clients, "size": clients}
        raise RuntimeError(f"pgbench failed: {r.stderr.strip()[-300:]}")


# --- the run ------------------------------------------------------------------------------


def versions() -> dict[str, str]:
    from importlib import metadata

    out = {"python": platform.python_version()}
    for pkg in ("asyncpg", "psycopg", "psycopg-binary", "psqlpy", "SQLAlchemy", "aiosqlite",
                "tortoise-orm", "matplotlib"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    import sqlite3

    out["sqlite3 (stdlib)"] = sqlite3.sqlite_version
    try:
        out["git"] = subprocess.run(["git", "-C", ROOT, "describe", "--always", "--dirty"],
                                    capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        pass
    return out


def _on_sigterm(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt  # so that `finally` stops the workers and the server


def main() -> int:
    import signal

    signal.signal(signal.SIGTERM, _on_sigterm)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="short run (a couple of minutes)")
    ap.add_argument("--db", default="pg,sqlite")
    ap.add_argument("--contenders", help="comma-separated names (default: all)")
    ap.add_argument("--workloads", help="comma-separated keys (default: all): " + ",".join(W.WORKLOAD_KEYS))
    ap.add_argument("--rounds", type=int)
    ap.add_argument("--target", type=float, help="seconds of timed operations per batch")
    ap.add_argument("--no-throughput", action="store_true")
    ap.add_argument("--no-charts", action="store_true")
    ap.add_argument("--out", help="results directory (default: benchmarks/results/run-<time>)")
    ap.add_argument("--so", help="use this built extension instead of python/ormkit/_ormkit*.so "
                    "(e.g. target/release/lib_ormkit.so); it must match the Python source")
    ns = ap.parse_args()

    cfg = dict(QUICK if ns.quick else FULL)
    if ns.rounds:
        cfg["rounds"] = ns.rounds
    if ns.target:
        cfg["target"] = ns.target
    dbs = [d for d in ns.db.split(",") if d]
    keys = ns.workloads.split(",") if ns.workloads else list(W.WORKLOAD_KEYS)
    for k in keys:
        if k not in W.WORKLOAD_KEYS:
            ap.error(f"unknown workload {k!r}")
    wanted = set(ns.contenders.split(",")) if ns.contenders else None

    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    outdir = ns.out or os.path.join(HERE, "results", f"run-{stamp}{'-quick' if ns.quick else ''}")
    logdir = os.path.join(outdir, "logs")
    os.makedirs(logdir, exist_ok=True)
    tmpdir = tempfile.mkdtemp(prefix="ormkit-bench-")

    snap = snapshot_ormkit(os.path.join(tmpdir, "snapshot"), ns.so)
    if snap.get("error"):
        log(f"ormkit: {snap['error']}")
    if snap.get("debug_build"):
        log("WARNING: the ormkit extension is a DEBUG build: its figures mean nothing "
            "(make build, or make bench, builds the release one)")
    raw: dict[str, Any] = {
        "meta": {
            "started": dt.datetime.now().isoformat(timespec="seconds"),
            "mode": "quick" if ns.quick else "full",
            "config": cfg,
            "cpus": os.cpu_count(),
            "loadavg_start": os.getloadavg(),
            "versions": versions(),
            "platform": platform.platform(),
            "ormkit_build": snap,
        },
        "checks": {}, "latency": {}, "throughput": {}, "errors": [],
    }
    cluster = Cluster()
    workers: dict[str, dict[str, WorkerProc]] = {}
    pgbench: Pgbench | None = None
    t_start = time.time()
    try:
        urls: dict[str, str] = {}
        if "pg" in dbs:
            cluster.start()
            urls["pg"] = cluster.url
            log("loading the PostgreSQL tables")
            asyncio.run(setup_pg(urls["pg"]))
            pgbench = Pgbench(cluster, tmpdir)
            pgbench.init()
            if pgbench.error:
                raw["errors"].append(pgbench.error)
                log(pgbench.error)
        if "sqlite" in dbs:
            path = os.path.join(tmpdir, "bench.db")
            log(f"loading the SQLite tables ({path})")
            setup_sqlite(path)
            urls["sqlite"] = "sqlite:///" + path

        # Start every contender (its own process), connect, check its results.
        for db in dbs:
            workers[db] = {}
            raw["checks"][db] = {}
            for slot, name in enumerate(C.REGISTRY[db]):
                if wanted and name not in wanted:
                    continue
                wp = WorkerProc(db, name, urls[db], urls[db], slot + 1, logdir, sys.executable,
                                os.path.join(tmpdir, "snapshot"))
                try:
                    hello = wp.recv(120)
                except RuntimeError as exc:
                    hello = {"ok": False, "error": str(exc)}
                if not hello.get("ok"):
                    log(f"{db}/{name}: cannot start: {hello.get('error')}")
                    raw["checks"][db][name] = {"_start": {"ok": False, "error": hello.get("error")}}
                    wp.kill("could not start")
                    wp.quit()
                    continue
                try:
                    checks = wp.ask({"cmd": "check", "keys": keys})
                except RuntimeError as exc:
                    checks = {k: {"ok": False, "error": str(exc)} for k in keys}
                raw["checks"][db][name] = checks
                bad = {k: v["error"] for k, v in checks.items() if not v["ok"]}
                for k, e in bad.items():
                    log(f"{db}/{name}: check {k} FAILED: {e}")
                log(f"{db}/{name}: {len(keys) - len(bad)}/{len(keys)} workloads checked ok")
                workers[db][name] = wp

        # Latency rounds: A B C, A B C ... with the starting contender rotating.
        for r in range(cfg["rounds"]):
            log(f"round {r + 1}/{cfg['rounds']}")
            for db in dbs:
                lat = raw["latency"].setdefault(db, {})
                for key in keys:
                    names = [n for n, wp in workers[db].items()
                             if raw["checks"][db][n].get(key, {}).get("ok") and not wp.dead]
                    if db == "pg" and key == "get_pk" and pgbench and not pgbench.error:
                        names.append("pgbench")
                    if not names:
                        continue
                    shift = r % len(names)
                    for name in names[shift:] + names[:shift]:
                        try:
                            if name == "pgbench":
                                assert pgbench is not None
                                res = pgbench.latency(cfg["pgbench_seconds"])
                            else:
                                res = workers[db][name].ask({
                                    "cmd": "run", "key": key, "target": cfg["target"],
                                    "warmup": cfg["warmup"], "min_iter": cfg["min_iter"],
                                    "max_iter": cfg["max_iter"]})
                        except RuntimeError as exc:
                            raw["errors"].append(f"{db}/{name}/{key}: {exc}")
                            log(f"{db}/{name}/{key}: {exc}")
                            continue
                        if "error" in res:
                            raw["errors"].append(f"{db}/{name}/{key}: {res['error']}")
                            log(f"{db}/{name}/{key}: {res['error']}")
                            continue
                        lat.setdefault(key, {}).setdefault(name, []).append(res)

        # Throughput: a pool of 10 connections, 50 concurrent tasks doing get-by-pk.
        if not ns.no_throughput and ("get_pk" in keys):
            for r in range(cfg["tp_rounds"]):
                log(f"throughput round {r + 1}/{cfg['tp_rounds']}")
                for db in dbs:
                    tp = raw["throughput"].setdefault(db, {})
                    names = [n for n, wp in workers[db].items() if not wp.dead]
                    if db == "pg" and pgbench and not pgbench.error:
                        names.append("pgbench")
                    shift = r % max(1, len(names))
                    for name in names[shift:] + names[:shift]:
                        try:
                            if name == "pgbench":
                                assert pgbench is not None
                                res = pgbench.throughput(cfg["tp_seconds"], 10)
                            else:
                                res = workers[db][name].ask({
                                    "cmd": "throughput", "seconds": cfg["tp_seconds"],
                                    "size": 10, "tasks": 50})
                        except RuntimeError as exc:
                            res = {"error": str(exc)}
                        if "error" in res:
                            raw["errors"].append(f"{db}/{name}/throughput: {res['error']}")
                            log(f"{db}/{name}/throughput: {res['error']}")
                            continue
                        tp.setdefault(name, []).append(res)
    except KeyboardInterrupt:
        raw["errors"].append("interrupted")
        log("interrupted: writing what was measured")
    finally:
        for dbw in workers.values():
            for wp in dbw.values():
                wp.quit()
        cluster.stop()
        shutil.rmtree(tmpdir, ignore_errors=True)

    raw["meta"]["seconds"] = round(time.time() - t_start, 1)
    raw["meta"]["loadavg_end"] = os.getloadavg()
    summary = report.summarize(raw)
    with open(os.path.join(outdir, "results.json"), "w") as fh:
        json.dump({"raw": raw, "summary": summary}, fh, indent=1, default=str)
    md = report.markdown(raw, summary)
    with open(os.path.join(outdir, "results.md"), "w") as fh:
        fh.write(md)
    if not ns.no_charts:
        try:
            for f in report.charts(summary, outdir):
                log(f"chart: {f}")
        except Exception as exc:  # noqa: BLE001
            log(f"charts failed: {exc}")
    latest = os.path.join(HERE, "results", "latest")
    if os.path.dirname(os.path.abspath(outdir)) == os.path.join(HERE, "results"):
        if os.path.islink(latest) or os.path.exists(latest):
            os.remove(latest)
        os.symlink(os.path.basename(outdir), latest)
    print(md)
    log(f"results in {outdir} ({raw['meta']['seconds']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
