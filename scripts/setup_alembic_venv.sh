#!/usr/bin/env bash
# Creates .venv-alembic: real Alembic, SQLAlchemy and psycopg for the migration interop
# tests (tests/migrations/test_alembic_interop.py). Kept apart from .venv so that the
# product's own environment never has Alembic or SQLAlchemy installed. Idempotent;
# called by `make test`. Without it, the interop tests are skipped with a reason.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
VENV=".venv-alembic"
STAMP="$VENV/.ormkit-alembic-deps"

if [ -f "$STAMP" ] && "$VENV/bin/alembic" --version >/dev/null 2>&1; then
    exit 0
fi
test -x "$VENV/bin/python" || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q "alembic>=1.13" "sqlalchemy>=2.0" "psycopg[binary]>=3.1"
"$VENV/bin/alembic" --version
touch "$STAMP"
