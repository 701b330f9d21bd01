"""Where does a contender spend its time on one workload? py-spy on a worker process.

    .venv-bench/bin/python benchmarks/profile.py --db pg --contender ormkit --workload get_pk
        [--seconds 10] [--rate 2000] [--native] [--flamegraph]

Starts the database (as run.py does), runs the workload in a loop in the contender's
worker process and samples that process with py-spy (installed in .venv-bench by
setup_venv.sh). Writes the collapsed stacks (and an SVG flame graph with --flamegraph) to
benchmarks/results/profiles/ and prints the functions with the most samples, by own time
(leaf frames) and by inclusive time. `--native` adds the Rust/C frames of extensions
(py-spy needs ptrace: run as root or with CAP_SYS_PTRACE).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import shutil
import subprocess
import sys
import tempfile
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import run  # noqa: E402
import workloads as W  # noqa: E402


def short(frame: str) -> str:
    # py-spy raw frames: "function (path/to/file.py:123)"; keep function + file name.
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    if where:
        path, _, line = where.rpartition(":")
        return f"{name} ({os.path.basename(path)}:{line})" if path else f"{name} ({where})"
    return name


def summarize(collapsed: str, top: int, focus: str | None = None) -> str:
    """Own and inclusive sample counts per function; with `focus`, only the stacks that
    pass through a frame containing that text (e.g. the contender's method)."""
    own: collections.Counter[str] = collections.Counter()
    incl: collections.Counter[str] = collections.Counter()
    total = 0
    everything = 0
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        everything += int(count)
        if focus and focus not in stack:
            continue
        n = int(count)
        total += n
        frames = [short(f) for f in stack.split(";")]
        # drop line numbers for inclusive counts so one function counts once per stack
        seen = set()
        for f in frames:
            key = f.rsplit(":", 1)[0] + ")" if ":" in f else f
            if key not in seen:
                seen.add(key)
                incl[key] += n
        own[frames[-1].rsplit(":", 1)[0] + ")" if ":" in frames[-1] else frames[-1]] += n
    total = max(total, 1)
    out = [f"{total} samples" + (f" of {everything} pass through {focus!r}" if focus else ""),
           "", "own time (leaf frames):"]
    for f, n in own.most_common(top):
        out.append(f"  {100 * n / total:5.1f}%  {f}")
    out += ["", "inclusive time:"]
    for f, n in incl.most_common(top):
        out.append(f"  {100 * n / total:5.1f}%  {f}")
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", default="pg", choices=["pg", "sqlite"])
    ap.add_argument("--contender", default="ormkit")
    ap.add_argument("--workload", default="get_pk", choices=W.WORKLOAD_KEYS)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--rate", type=int, default=1000, help="samples per second")
    ap.add_argument("--native", action="store_true", help="include native (Rust/C) frames")
    ap.add_argument("--flamegraph", action="store_true", help="also write an SVG flame graph")
    ap.add_argument("--top", type=int, default=30)
    ap.add_argument("--so", help="built extension to use (see run.py --so)")
    ap.add_argument("--focus", help="only stacks through a frame containing this text "
                    "(default: the event loop's _run_once, i.e. no idle thread)", default="_run_once")
    ns = ap.parse_args()

    pyspy = shutil.which("py-spy", path=os.path.dirname(sys.executable)) or shutil.which("py-spy")
    if not pyspy:
        print("py-spy not found: run benchmarks/setup_venv.sh", file=sys.stderr)
        return 1
    outdir = os.path.join(HERE, "results", "profiles")
    os.makedirs(outdir, exist_ok=True)
    base = os.path.join(outdir, f"{ns.db}-{ns.contender}-{ns.workload}{'-native' if ns.native else ''}")
    tmp = tempfile.mkdtemp(prefix="ormkit-prof-")
    cluster = run.Cluster()
    wp = None
    snap = run.snapshot_ormkit(os.path.join(tmp, "snapshot"), ns.so)
    if snap.get("debug_build"):
        print("WARNING: the ormkit extension is a DEBUG build", file=sys.stderr)
    try:
        if ns.db == "pg":
            cluster.start()
            url = cluster.url
            asyncio.run(run.setup_pg(url))
        else:
            path = os.path.join(tmp, "bench.db")
            run.setup_sqlite(path)
            url = "sqlite:///" + path
        wp = run.WorkerProc(ns.db, ns.contender, url, url, 1, tmp, sys.executable,
                            os.path.join(tmp, "snapshot"))
        hello = wp.recv(120)
        if not hello.get("ok"):
            print(f"cannot start: {hello}", file=sys.stderr)
            return 1
        checks = wp.ask({"cmd": "check", "keys": [ns.workload]})
        if not checks[ns.workload]["ok"]:
            print(f"check failed: {checks}", file=sys.stderr)
            return 1
        wp.ask({"cmd": "loop", "key": ns.workload, "seconds": 1.0})  # warm up
        pid = hello["pid"]
        answer: dict = {}

        def drive() -> None:
            answer.update(wp.ask({"cmd": "loop", "key": ns.workload, "seconds": ns.seconds + 1.5}))

        t = threading.Thread(target=drive)
        t.start()
        cmd = [pyspy, "record", "--pid", str(pid), "--duration", str(int(ns.seconds)),
               "--rate", str(ns.rate), "--format", "raw", "-o", base + ".txt"]
        if ns.native:
            cmd.append("--native")
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        t.join()
        if ns.flamegraph:
            svg = base + ".svg"
            t = threading.Thread(target=drive)
            t.start()
            subprocess.run([*cmd[:cmd.index("--format")], "--format", "flamegraph", "-o", svg,
                            *(["--native"] if ns.native else [])], check=True, stdout=subprocess.DEVNULL)
            t.join()
        with open(base + ".txt") as fh:
            text = summarize(fh.read(), ns.top, ns.focus or None)
        head = (f"{ns.db}/{ns.contender}/{ns.workload}: {answer.get('count')} operations, "
                f"mean {answer.get('mean_us', 0):.1f} µs each while sampled (sampling slows it)")
        with open(base + ".summary.txt", "w") as fh:
            fh.write(head + "\n" + text + "\n")
        print(head)
        print(text)
        print(f"\ncollapsed stacks: {base}.txt", file=sys.stderr)
    finally:
        if wp is not None:
            wp.quit()
        cluster.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
