#!/usr/bin/env bash
# Starts a private PostgreSQL server, runs the Rust and Python test suites against
# it, and stops it whatever happens. Called by `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."

eval "$(scripts/pg_cluster.sh start --watch $$)"
trap 'scripts/pg_cluster.sh stop >/dev/null 2>&1 || true' EXIT

echo "== cargo test (release profile, shares the extension build's dependencies)"
cargo test --release --quiet

echo "== pytest"
.venv/bin/python -m pytest "$@"
