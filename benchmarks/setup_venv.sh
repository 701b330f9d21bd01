#!/usr/bin/env bash
# Creates (or refreshes) the benchmark venv, /work/main/.venv-bench by default:
# the comparison drivers and ORMs, matplotlib for the charts, and py-spy for profiles.
# None of these is a dependency of ormkit itself.
#
#   benchmarks/setup_venv.sh            # idempotent; re-runs pip only when this file changed
#   BENCH_VENV=/path benchmarks/setup_venv.sh
#
# ormkit itself is not pip-installed into this venv: a `.pth` file puts the repository's
# python/ directory on sys.path, so the benchmark imports the package source together with
# the extension `python/ormkit/_ormkit*.so` that `make build` (maturin develop --release)
# leaves there. This measures exactly the tree under test, with no second release build.
# The venv must therefore use the same Python as .venv (the .so is built for it); we take
# the base interpreter of .venv when it exists, else $PYTHON, else python3.
# (The alternative, `pip install /work/main`, makes maturin build a separate release wheel:
# several minutes on 2 cores and a copy that goes stale when the source changes.)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${BENCH_VENV:-$ROOT/.venv-bench}
STAMP=$VENV/.bench-deps

pick_python() {
    if [[ -n ${PYTHON:-} ]] && command -v "$PYTHON" >/dev/null; then
        # An explicit choice wins only when .venv does not exist (the .so must match).
        [[ -f $ROOT/.venv/pyvenv.cfg ]] || { command -v "$PYTHON"; return; }
    fi
    if [[ -f $ROOT/.venv/pyvenv.cfg ]]; then
        local exe
        exe=$(sed -n 's/^executable = //p' "$ROOT/.venv/pyvenv.cfg")
        if [[ -n $exe && -x $exe ]]; then
            echo "$exe"
            return
        fi
        # Fall back to the venv's own interpreter (its symlink target).
        readlink -f "$ROOT/.venv/bin/python"
        return
    fi
    command -v python3
}

PY=$(pick_python)
if [[ ! -x $VENV/bin/python ]]; then
    echo "setup_venv: creating $VENV with $PY" >&2
    "$PY" -m venv "$VENV"
fi

if [[ ! -f $STAMP || $STAMP -ot ${BASH_SOURCE[0]} ]]; then
    "$VENV/bin/python" -m pip install -q --upgrade pip
    "$VENV/bin/python" -m pip install -q \
        asyncpg "psycopg[binary]" psycopg-pool psqlpy "sqlalchemy[asyncio]" aiosqlite tortoise-orm \
        matplotlib py-spy
    touch "$STAMP"
fi

# ormkit from the source tree (see above).
SITE=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
echo "$ROOT/python" >"$SITE/ormkit-source.pth"

if ! "$VENV/bin/python" -c 'import ormkit._ormkit' 2>/dev/null; then
    echo "setup_venv: 'import ormkit' fails in $VENV: build the extension first (make build)" >&2
    exit 1
fi
echo "setup_venv: $VENV ready" >&2
