"""Fixtures for the migration tests: a fresh database per test on SQLite and on
PostgreSQL (a new database in the private server, dropped afterwards), a migration
directory, and helpers that run ``ormkit`` and real ``alembic`` as subprocesses."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

import ormkit

ROOT = Path(__file__).resolve().parents[2]
ALEMBIC = ROOT / ".venv-alembic" / "bin" / "alembic"
ALEMBIC_PYTHON = ROOT / ".venv-alembic" / "bin" / "python"

needs_alembic = pytest.mark.skipif(
    not ALEMBIC.exists(),
    reason=(
        "real Alembic is not installed: run scripts/setup_alembic_venv.sh to create "
        f"{ALEMBIC.parent.parent} (alembic, sqlalchemy, psycopg)"
    ),
)


def _with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, parts.fragment))


async def _admin(url: str, sql: str) -> None:
    admin = await ormkit.create_engine(url)
    try:
        await admin.execute(sql)
    finally:
        await admin.close()


@pytest.fixture
def pg_database(pg_cluster: dict[str, str]) -> Iterator[str]:
    """The URL of a new, empty PostgreSQL database (dropped after the test)."""
    name = "mig_" + uuid.uuid4().hex[:12]
    admin_url = pg_cluster["ORMKIT_TEST_PG_ADMIN_URL"]
    asyncio.run(_admin(admin_url, f"CREATE DATABASE {name} OWNER ormkit_scram"))
    try:
        yield _with_database(pg_cluster["ORMKIT_TEST_PG_URL"], name)
    finally:
        asyncio.run(_admin(admin_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database: a SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'app.db'}"
    url: str = request.getfixturevalue("pg_database")
    return url


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """An empty project directory (the subprocesses' working directory)."""
    path = tmp_path / "project"
    path.mkdir()
    return path


def run(
    cmd: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Runs a command; its stdout/stderr are kept for assertions."""
    full_env = {k: v for k, v in os.environ.items() if k not in ("ORMKIT_DATABASE_URL",)}
    full_env.pop("ALEMBIC_CONFIG", None)
    full_env.update(env or {})
    return subprocess.run(
        cmd, cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout, check=False
    )


def ormkit_cli(
    project: Path, *args: str, url: str | None = None, check: bool = True, **env: str
) -> subprocess.CompletedProcess[str]:
    """``ormkit migrate ARGS`` in ``project`` (URL in ORMKIT_DATABASE_URL)."""
    extra = dict(env)
    if url is not None:
        extra["ORMKIT_DATABASE_URL"] = url
    proc = run([sys.executable, "-m", "ormkit.cli", "migrate", *args], project, extra)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"ormkit migrate {' '.join(args)} failed ({proc.returncode}):\n"
            f"{proc.stdout}\n{proc.stderr}"
        )
    return proc


def alembic_url(url: str) -> str:
    """The SQLAlchemy spelling of an ormkit URL."""
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def alembic_cli(
    project: Path, *args: str, url: str | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Real ``alembic ARGS`` in ``project``."""
    env = {"ORMKIT_DATABASE_URL": url} if url else {}
    proc = run([str(ALEMBIC), *args], project, env)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"alembic {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        )
    return proc


def write_models(project: Path, text: str) -> None:
    """``project/app_models.py`` from ``text`` (dedented): the models autogenerate reads."""
    (project / "app_models.py").write_text(textwrap.dedent(text), encoding="utf-8")


def revision_text(project: Path, rev: str) -> str:
    """The source of revision ``rev``'s script."""
    (path,) = (project / "migrations" / "versions").glob(f"{rev}_*.py")
    return path.read_text()


def assert_no_changes(project: Path, url: str) -> None:
    """``ormkit migrate auto`` against ``url`` finds nothing to generate."""
    out = ormkit_cli(project, "auto", "nothing", "-m", "app_models", url=url).stdout
    assert "No changes detected" in out, out


def write_revision(
    project: Path,
    rev: str,
    down: Any,
    upgrade: str,
    downgrade: str = "pass",
    *,
    message: str = "",
    imports: str = "",
    extra: str = "",
    directory: str = "migrations/versions",
) -> Path:
    """Writes an Alembic-style revision file, as Alembic's autogenerate lays them out."""
    path = project / directory / f"{rev}_{(message or rev).replace(' ', '_')}.py"
    body = textwrap.dedent(
        '''\
        """{message}

        Revision ID: {rev}
        Revises: {down_text}
        Create Date: 2024-01-01 00:00:00.000000

        """
        from typing import Sequence, Union

        from alembic import op
        import sqlalchemy as sa
        {imports}

        # revision identifiers, used by Alembic.
        revision: str = {rev!r}
        down_revision: Union[str, Sequence[str], None] = {down!r}
        branch_labels: Union[str, Sequence[str], None] = None
        depends_on: Union[str, Sequence[str], None] = None
        {extra}

        def upgrade() -> None:
        {upgrade}


        def downgrade() -> None:
        {downgrade}
        '''
    ).format(
        message=message or rev,
        rev=rev,
        down=down,
        down_text=down or "",
        imports=imports,
        extra=extra,
        upgrade=textwrap.indent(textwrap.dedent(upgrade).strip(), "    "),
        downgrade=textwrap.indent(textwrap.dedent(downgrade).strip(), "    "),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body, encoding="utf-8")
    return path


@pytest.fixture
def migrations(project: Path, db_url: str) -> Iterator[Path]:
    """``ormkit migrate init`` in ``project`` (URL given through the environment)."""
    ormkit_cli(project, "init")
    yield project


async def schema_of(url: str) -> dict[str, Any]:
    """Every table's columns, indexes and constraints, for comparisons."""
    engine = await ormkit.create_engine(url)
    try:
        out: dict[str, Any] = {}
        for table in await engine.get_tables():
            out[table] = {
                "columns": await engine.get_columns(table),
                "indexes": await engine.get_indexes(table),
                "constraints": await engine.get_constraints(table),
            }
        return out
    finally:
        await engine.close()


async def versions_of(url: str) -> list[str]:
    """The rows of alembic_version (sorted), or [] when the table does not exist."""
    engine = await ormkit.create_engine(url)
    try:
        if "alembic_version" not in await engine.get_tables():
            return []
        rows = (await engine.execute("SELECT version_num FROM alembic_version")).column(
            "version_num"
        )
        return sorted(rows)
    finally:
        await engine.close()


async def query(url: str, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
    """Rows of one query on a fresh engine."""
    engine = await ormkit.create_engine(url)
    try:
        result = await engine.execute(sql, params)
        rows: list[dict[str, Any]] = result.all()
        return rows
    finally:
        await engine.close()
