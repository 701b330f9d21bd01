# One-word targets. `make demo` and `make test` work on a fresh Debian machine
# with Rust and Python 3.11+: they install what they need.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.ormkit-deps
# Bounded time for the property tests and fuzz-style tests in `make test`.
export PROPTEST_CASES ?= 2000

.PHONY: demo test lint fmt dev build deps venv clean bench soak

$(STAMP): pyproject.toml scripts/install_deps.sh
	PYTHON=$(PYTHON) scripts/install_deps.sh
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "maturin>=1.9.4,<2" "pytest>=8" "pytest-asyncio>=0.23" \
		"hypothesis>=6" "ruff>=0.5" "mypy>=1.10"
	touch $(STAMP)

venv: $(STAMP)

deps: $(STAMP)

# Release build of the extension into the venv (the one release build of a run).
build: $(STAMP)
	$(VENV)/bin/maturin develop --release --quiet

# Quick debug build while developing.
dev: $(STAMP)
	$(VENV)/bin/maturin develop --quiet

demo: build
	rm -f demo.db demo.db-wal demo.db-shm
	$(PY) examples/quickstart.py demo.db

lint: $(STAMP)
	cargo fmt --all -- --check
	cargo clippy --all-targets -- -D warnings
	$(VENV)/bin/ruff check python tests examples
	$(VENV)/bin/ruff format --check python tests examples
	$(VENV)/bin/mypy
	$(VENV)/bin/mypy --strict tests/typing

fmt: $(STAMP)
	cargo fmt --all
	$(VENV)/bin/ruff format python tests examples
	$(VENV)/bin/ruff check --fix python tests examples

# Builds, lints, starts a private PostgreSQL server, runs cargo test and pytest, stops it.
test: build
	$(MAKE) lint
	scripts/setup_alembic_venv.sh
	scripts/run_tests.sh

clean:
	cargo clean
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache demo.db*

# Benchmarks (issue 8; benchmarks/README.md): release build, the benchmark venv
# (.venv-bench, never product dependencies), then a full run (~15 min) writing
# benchmarks/results/. `make bench BENCH_ARGS=--quick` for a short one.
BENCH_ARGS ?=
bench: build
	benchmarks/setup_venv.sh
	.venv-bench/bin/python benchmarks/run.py $(BENCH_ARGS)

# Long reliability runs (load and soak against the private PostgreSQL server).
soak: build
	PROPTEST_CASES=100000 cargo test --release --quiet
	ORMKIT_SOAK=1 scripts/run_tests.sh -m soak tests/reliability
