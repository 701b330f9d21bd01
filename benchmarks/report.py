"""Turns a run's raw figures into medians, ratios, goal checks, markdown and charts."""

from __future__ import annotations

import os
import statistics
from typing import Any

import contenders as C
import workloads as W

ORMKIT = ("ormkit", "ormkit-orm")
DB_TITLES = {"pg": "PostgreSQL", "sqlite": "SQLite"}

# The speed goals of issue 8: (db, workload, compared with the fastest of, at most ratio).
GOALS = [
    ("pg", "get_pk", ("asyncpg",), 0.85),
    ("pg", "get_pk", ("pgbench",), 1.15),
    ("pg", "select_10000", ("asyncpg", "psycopg", "psqlpy"), 0.6),
    ("pg", "tuples_10000", ("asyncpg", "psycopg", "psqlpy"), 0.8),
    ("pg", "insert", ("asyncpg",), 0.9),
    ("pg", "update", ("asyncpg",), 0.9),
    ("pg", "delete", ("asyncpg",), 0.9),
    ("pg", "bulk_1000", ("psqlpy",), 0.5),
    ("pg", "rmw", ("asyncpg",), 0.9),
    ("pg", "page", ("asyncpg",), 1.0),
    ("pg", "count", ("asyncpg",), 1.0),
    ("sqlite", "get_pk", ("aiosqlite",), 0.5),
    ("sqlite", "select_10000", ("aiosqlite",), 0.5),
    ("sqlite", "bulk_1000", ("aiosqlite",), 0.7),
]
ORM_FACTOR = 0.5  # every ormkit figure beats SQLAlchemy and Tortoise by at least 2x
NOISY = 1.3  # rounds whose medians differ by more than this: the cell gets a mark


def _median(xs: list[float]) -> float:
    return float(statistics.median(xs))


def summarize(raw: dict[str, Any]) -> dict[str, Any]:
    lat: dict[str, Any] = {}
    ratios: dict[str, Any] = {}
    for db, by_key in raw.get("latency", {}).items():
        lat[db] = {}
        ratios[db] = {}
        floors = C.FLOORS[db]
        base = C.BASELINE[db]
        for key, by_name in by_key.items():
            cell = {}
            for name, rounds in by_name.items():
                meds = [r["median_us"] for r in rounds]
                cell[name] = {
                    "median_us": _median(meds),
                    "round_medians_us": meds,
                    "spread": (max(meds) / min(meds)) if min(meds) > 0 else None,
                    "iterations": sum(r["n"] for r in rounds),
                    "min_us": min(r["min_us"] for r in rounds),
                }
            lat[db][key] = cell
            rk: dict[str, Any] = {}
            for name, v in cell.items():
                t = v["median_us"]
                out: dict[str, Any] = {}
                if base in cell:
                    out["vs_baseline"] = t / cell[base]["median_us"]
                peers = [
                    n for n in cell
                    if n != name and n not in floors
                    and not (name in ORMKIT and n in ORMKIT)
                ]
                if peers:
                    best = min(peers, key=lambda n: cell[n]["median_us"])
                    out["vs_peer"] = t / cell[best]["median_us"]
                    out["peer"] = best
                rk[name] = out
            ratios[db][key] = rk
    tp: dict[str, Any] = {}
    for db, by_name in raw.get("throughput", {}).items():
        tp[db] = {}
        for name, rounds in by_name.items():
            ops = [r["ops_per_s"] for r in rounds]
            served = [r["tasks_served"] for r in rounds if "tasks_served" in r]
            tp[db][name] = {"ops_per_s": _median(ops), "rounds": ops,
                            "tasks": rounds[0].get("tasks"),
                            "tasks_served": min(served) if served else None}
    return {"latency": lat, "ratios": ratios, "throughput": tp, "goals": goals(lat)}


def goals(lat: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for db, key, against, limit in GOALS:
        cell = lat.get(db, {}).get(key, {})
        ref = [n for n in against if n in cell]
        for who in ORMKIT:
            row: dict[str, Any] = {
                "db": db, "workload": key, "against": list(against), "limit": limit,
                "contender": who, "ratio": None, "met": None,
            }
            if who in cell and ref:
                best = min(ref, key=lambda n: cell[n]["median_us"])
                row["ratio"] = cell[who]["median_us"] / cell[best]["median_us"]
                row["ref"] = best
                row["met"] = row["ratio"] <= limit
            out.append(row)
    # ormkit vs SQLAlchemy and Tortoise, every workload
    for db, by_key in lat.items():
        for key, cell in by_key.items():
            orms = [n for n in ("sqlalchemy", "tortoise") if n in cell]
            if not orms:
                continue
            best = min(orms, key=lambda n: cell[n]["median_us"])
            for who in ORMKIT:
                if who in cell:
                    r = cell[who]["median_us"] / cell[best]["median_us"]
                    out.append({
                        "db": db, "workload": key, "against": orms, "limit": ORM_FACTOR,
                        "contender": who, "ratio": r, "ref": best, "met": r <= ORM_FACTOR,
                        "orm_goal": True,
                    })
    return out


# --- markdown --------------------------------------------------------------------------


def fmt_us(us: float) -> str:
    if us < 10:
        return f"{us:.2f} µs"
    if us < 1000:
        return f"{us:.0f} µs"
    if us < 100_000:
        return f"{us / 1000:.2f} ms"
    return f"{us / 1000:.0f} ms"


def _order(db: str, names: set[str]) -> list[str]:
    known = [*C.REGISTRY[db], "pgbench"]
    return [n for n in known if n in names] + sorted(names - set(known))


def markdown(raw: dict[str, Any], s: dict[str, Any]) -> str:
    m = raw["meta"]
    v = m["versions"]
    lines = [
        f"# ormkit benchmarks: {m['mode']} run of {m['started']}",
        "",
        f"{m['cpus']} CPUs, load average {m['loadavg_start'][0]:.2f} at the start and "
        f"{m.get('loadavg_end', [0])[0]:.2f} at the end; {m.get('seconds', '?')} s; "
        f"{m['config']['rounds']} alternating rounds, ~{m['config']['target']} s of timed "
        f"operations per contender, workload and round. Python {v.get('python')}, "
        f"ormkit {m.get('ormkit_build', {}).get('version', '?')} ({v.get('git', '?')}; "
        f"extension built {m.get('ormkit_build', {}).get('so_mtime', '?')}).",
        "",
        "Cells: median of the per-round medians of one operation's time; in brackets the "
        "ratio to the baseline (asyncpg on PostgreSQL, aiosqlite on SQLite): below 1 is "
        "faster. **Bold**: the fastest contender that is not a floor. †: the slowest round's "
        f"median was more than {NOISY}× the fastest one's (a noisy figure: the machine was busy).",
    ]
    if m.get("ormkit_build", {}).get("debug_build"):
        lines[2:2] = ["**WARNING: the ormkit extension measured here is a DEBUG build; its "
                      "figures say nothing about ormkit's speed.**", ""]
    for db in s["latency"]:
        lat = s["latency"][db]
        names: set[str] = set()
        for cell in lat.values():
            names |= set(cell)
        cols = _order(db, names)
        lines += ["", f"## {DB_TITLES[db]}: latency, one connection", ""]
        lines.append("| workload | " + " | ".join(C.LABELS.get((db, n), n) for n in cols) + " |")
        lines.append("|---|" + "---:|" * len(cols))
        for key in W.WORKLOAD_KEYS:
            cell = lat.get(key)
            if not cell:
                continue
            rat = s["ratios"][db][key]
            contenders_only = [n for n in cell if n not in C.FLOORS[db]]
            best = min(contenders_only, key=lambda n: cell[n]["median_us"]) if contenders_only else None
            row = []
            for n in cols:
                if n not in cell:
                    err = raw["checks"].get(db, {}).get(n, {}).get(key)
                    row.append("check failed" if err and not err.get("ok") else "–")
                    continue
                t = fmt_us(cell[n]["median_us"])
                r = rat[n].get("vs_baseline")
                txt = f"{t} ({r:.2f}×)" if r is not None else t
                if (cell[n].get("spread") or 1) > NOISY:
                    txt += " †"
                row.append(f"**{txt}**" if n == best else txt)
            lines.append(f"| {W.WORKLOAD_LABELS[key]} | " + " | ".join(row) + " |")
        # ormkit against its fastest peer
        lines += ["", f"ormkit against the fastest other contender ({DB_TITLES[db]}; floors excluded):", ""]
        lines.append("| workload | ormkit (engine) | vs | ormkit (ORM) | vs |")
        lines.append("|---|---:|---|---:|---|")
        for key in W.WORKLOAD_KEYS:
            rat = s["ratios"][db].get(key)
            if not rat:
                continue
            cells = []
            for who in ORMKIT:
                r = rat.get(who, {})
                if "vs_peer" in r:
                    cells += [f"{r['vs_peer']:.2f}×", r["peer"]]
                else:
                    cells += ["–", ""]
            lines.append(f"| {W.WORKLOAD_LABELS[key]} | " + " | ".join(cells) + " |")

    g = s["goals"]
    if g:
        lines += ["", "## Goals of issue 8", "", "| database | goal | ormkit (engine) | ormkit (ORM) |",
                  "|---|---|---:|---:|"]
        seen = []
        for row in g:
            if row.get("orm_goal"):
                continue
            k = (row["db"], row["workload"], tuple(row["against"]), row["limit"])
            if k not in seen:
                seen.append(k)
        for db, key, against, limit in seen:
            cells = []
            for who in ORMKIT:
                row = next((r for r in g if not r.get("orm_goal") and r["db"] == db
                            and r["workload"] == key and tuple(r["against"]) == against
                            and r["contender"] == who), None)
                if row is None or row["ratio"] is None:
                    cells.append("–")
                else:
                    cells.append(f"{row['ratio']:.2f}× {'met' if row['met'] else '**not met**'}")
            goal = f"{W.WORKLOAD_LABELS[key]} ≤ {limit}× " + ("fastest of " if len(against) > 1 else "") + "/".join(against)
            lines.append(f"| {DB_TITLES[db]} | {goal} | " + " | ".join(cells) + " |")
        for who in ORMKIT:
            rows = [r for r in g if r.get("orm_goal") and r["contender"] == who]
            if rows:
                ok = [r for r in rows if r["met"]]
                miss = ", ".join(f"{r['db']}/{r['workload']} {r['ratio']:.2f}×" for r in rows if not r["met"])
                lines.append(f"| both | {who}: every figure ≤ 0.5× the faster of SQLAlchemy/Tortoise | "
                             f"{len(ok)}/{len(rows)} met | {('not met: ' + miss) if miss else ''} |")

    if s["throughput"]:
        lines += ["", "## Throughput: get by pk, pool of 10 connections, 50 concurrent tasks", "",
                  "| database | contender | operations/s (median of rounds) | ratio to baseline | tasks served |",
                  "|---|---|---:|---:|---:|"]
        for db, by_name in s["throughput"].items():
            base = by_name.get(C.BASELINE[db], {}).get("ops_per_s")
            for n in _order(db, set(by_name)):
                ops = by_name[n]["ops_per_s"]
                label = C.LABELS.get((db, n), n)
                if n == "pgbench":
                    label = "pgbench -S -M prepared -c 10 -j 2 (floor)"
                if n == "sqlite3":
                    label += "; one connection, no concurrency"
                r = f"{ops / base:.2f}×" if base else "–"
                t = by_name[n].get("tasks")
                sv = by_name[n].get("tasks_served")
                served = f"{sv}/{t}" if sv is not None else "–"
                if sv is not None and t and sv < t:
                    served = f"**{served}**"
                lines.append(f"| {DB_TITLES[db]} | {label} | {ops:,.0f} | {r} | {served} |")
        lines += ["", "Tasks served: how many of the concurrent tasks completed at least one "
                  "operation in the timed window (the fewest over the rounds). Fewer than all "
                  "means some tasks starved: an await that completes without suspending never "
                  "lets the others run."]

    fails = [(db, n, k, v["error"]) for db, by in raw["checks"].items() for n, ck in by.items()
             for k, v in ck.items() if not v.get("ok")]
    if fails or raw["errors"]:
        lines += ["", "## Failed checks and errors (those figures are missing)", ""]
        for db, n, k, e in fails:
            lines.append(f"- {db}/{n}/{k}: {e}")
        for e in raw["errors"]:
            lines.append(f"- {e}")
    lines += ["", "Versions: " + ", ".join(f"{k} {val}" for k, val in v.items()), ""]
    return "\n".join(lines)


# --- charts ------------------------------------------------------------------------------


def charts(s: dict[str, Any], outdir: str) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    files = []
    for db, by_key in s["latency"].items():
        keys = [k for k in W.WORKLOAD_KEYS if k in by_key]
        names: set[str] = set()
        for k in keys:
            names |= set(by_key[k])
        cols = _order(db, names)
        base = C.BASELINE[db]
        fig, ax = plt.subplots(figsize=(11, 0.14 * len(keys) * max(3, len(cols)) + 1.5))
        h = 0.8 / max(1, len(cols))
        cmap = plt.get_cmap("tab10")
        for j, n in enumerate(cols):
            ys, xs = [], []
            for i, k in enumerate(keys):
                r = s["ratios"][db][k].get(n, {}).get("vs_baseline")
                if r is not None:
                    ys.append(i + j * h)
                    xs.append(r)
            color = cmap(j % 10)
            ax.barh(ys, xs, height=h, label=C.LABELS.get((db, n), n), color=color,
                    edgecolor="black" if n in ORMKIT else color, linewidth=1.2 if n in ORMKIT else 0)
        ax.set_yticks([i + 0.4 - h / 2 for i in range(len(keys))])
        ax.set_yticklabels([W.WORKLOAD_LABELS[k] for k in keys], fontsize=8)
        ax.invert_yaxis()
        ax.set_xscale("log")
        ax.axvline(1.0, color="black", linewidth=0.8)
        ax.set_xlabel(f"time relative to {C.LABELS.get((db, base), base)} (log scale; < 1 is faster)")
        ax.set_title(f"{DB_TITLES[db]}: median time per operation, ratio to {base}")
        ax.legend(fontsize=7, loc="lower right")
        ax.grid(axis="x", which="both", alpha=0.3)
        fig.tight_layout()
        f = os.path.join(outdir, f"{db}_latency_ratios.png")
        fig.savefig(f, dpi=110)
        plt.close(fig)
        files.append(f)
    if s["throughput"]:
        dbs = list(s["throughput"])
        fig, axes = plt.subplots(1, len(dbs), figsize=(6 * len(dbs), 4), squeeze=False)
        for ax, db in zip(axes[0], dbs, strict=True):
            by = s["throughput"][db]
            cols = _order(db, set(by))
            vals = [by[n]["ops_per_s"] for n in cols]
            colors = ["#d62728" if n in ORMKIT else ("#999999" if n in C.FLOORS[db] else "#1f77b4")
                      for n in cols]
            ax.barh(range(len(cols)), vals, color=colors)
            ax.set_yticks(range(len(cols)))
            labels = []
            for n in cols:
                lab = C.LABELS.get((db, n), n)
                sv, t = by[n].get("tasks_served"), by[n].get("tasks")
                if sv is not None and t and sv < t:
                    lab += f"\n(only {sv}/{t} tasks served)"
                labels.append(lab)
            ax.set_yticklabels(labels, fontsize=8)
            ax.invert_yaxis()
            ax.xaxis.set_major_formatter(
                matplotlib.ticker.FuncFormatter(lambda x, _: f"{x / 1000:.0f}k"))
            ax.set_xlabel("get-by-pk operations per second")
            ax.set_title(f"{DB_TITLES[db]}: pool of 10, 50 tasks")
            ax.grid(axis="x", alpha=0.3)
        fig.tight_layout()
        f = os.path.join(outdir, "throughput.png")
        fig.savefig(f, dpi=110)
        plt.close(fig)
        files.append(f)
    return files


if __name__ == "__main__":
    # Re-make results.md and the charts of a finished run: python report.py RESULTS_DIR
    import json
    import sys

    d = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "results", "latest")
    with open(os.path.join(d, "results.json")) as fh:
        raw = json.load(fh)["raw"]
    summ = summarize(raw)
    with open(os.path.join(d, "results.md"), "w") as fh:
        fh.write(markdown(raw, summ))
    for f in charts(summ, d):
        print(f)
