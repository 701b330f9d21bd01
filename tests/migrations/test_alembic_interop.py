"""Interop with real Alembic (run as a subprocess from the separate
``.venv-alembic``; see scripts/setup_alembic_venv.sh): a directory made by
``alembic init`` is driven by ormkit, ormkit's directories and generated revisions
are applied and reverted by ``alembic upgrade/downgrade``, and both tools keep
``alembic_version`` identically through branches, merges and dependencies."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from .conftest import (
    alembic_cli,
    alembic_url,
    needs_alembic,
    ormkit_cli,
    query,
    schema_of,
    versions_of,
    write_revision,
)

pytestmark = needs_alembic

MODELS_V1 = """
from datetime import datetime
from decimal import Decimal

from ormkit.orm import JSON, ForeignKey, Mapped, declarative_base, mapped_column
from ormkit.types import Numeric

Base = declarative_base()


class Author(Base):
    __tablename__ = "authors"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(max_length=80, index=True)
    email: Mapped[str | None] = mapped_column(unique=True)
    joined: Mapped[datetime] = mapped_column(timezone=True)
    meta: Mapped[dict | None] = mapped_column(JSON)
    fee: Mapped[Decimal | None] = mapped_column(Numeric(8, 2))
    active: Mapped[bool] = mapped_column(server_default=True)


class Book(Base):
    __tablename__ = "books"
    id: Mapped[int] = mapped_column(primary_key=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("authors.id", ondelete="CASCADE"))
    title: Mapped[str]
"""

MODELS_V2 = MODELS_V1.replace(
    "    title: Mapped[str]\n",
    "    title: Mapped[str]\n    pages: Mapped[int | None] = mapped_column(index=True)\n",
).replace(
    "    fee: Mapped[Decimal | None] = mapped_column(Numeric(8, 2))\n",
    "    fee: Mapped[Decimal] = mapped_column(Numeric(8, 2))\n",
)


def _models(project: Path, text: str) -> None:
    (project / "app_models.py").write_text(textwrap.dedent(text), encoding="utf-8")


def _set_ini_url(ini: Path, url: str) -> None:
    text = ini.read_text()
    text = re.sub(r"(?m)^sqlalchemy\.url = .*$", "sqlalchemy.url = " + url.replace("%", "%%"), text)
    ini.write_text(text)


async def test_ormkit_generated_revisions_run_under_alembic(project: Path, db_url: str) -> None:
    ormkit_cli(project, "init")
    _models(project, MODELS_V1)
    ormkit_cli(
        project, "auto", "authors and books", "-m", "app_models", "--rev-id", "r1", url=db_url
    )
    out = alembic_cli(project, "upgrade", "head", url=db_url).stderr
    assert "Running upgrade  -> r1, authors and books" in out
    assert await versions_of(db_url) == ["r1"]
    # ormkit agrees about the state, and sees nothing to change.
    assert "Up to date." in ormkit_cli(project, "status", url=db_url).stdout
    out = ormkit_cli(project, "auto", "none", "-m", "app_models", url=db_url).stdout
    assert "No changes detected" in out
    await query(
        db_url,
        "INSERT INTO authors (name, joined, fee) VALUES ('ann', '2024-01-01T00:00:00+00:00', 1)",
    )
    _models(project, MODELS_V2)
    ormkit_cli(project, "auto", "pages", "-m", "app_models", "--rev-id", "r2", url=db_url)
    alembic_cli(project, "upgrade", "head", url=db_url)
    assert await versions_of(db_url) == ["r2"]
    schema = await schema_of(db_url)
    assert "pages" in {c["name"] for c in schema["books"]["columns"]}
    fee = next(c for c in schema["authors"]["columns"] if c["name"] == "fee")
    assert fee["nullable"] is False
    assert (await query(db_url, "SELECT name FROM authors"))[0]["name"] == "ann"
    out = ormkit_cli(project, "auto", "none", "-m", "app_models", url=db_url).stdout
    assert "No changes detected" in out
    alembic_cli(project, "downgrade", "-1", url=db_url)
    assert await versions_of(db_url) == ["r1"]
    assert "pages" not in {c["name"] for c in (await schema_of(db_url))["books"]["columns"]}
    alembic_cli(project, "downgrade", "base", url=db_url)
    assert set(await schema_of(db_url)) == {"alembic_version"}
    # And back up with ormkit, then down with Alembic again.
    ormkit_cli(project, "up", url=db_url)
    alembic_cli(project, "downgrade", "base", url=db_url)
    assert await versions_of(db_url) == []


async def test_alembic_init_directory_driven_by_ormkit(project: Path, db_url: str) -> None:
    alembic_cli(project, "init", "alembic")
    ini = project / "alembic.ini"
    assert "driver://" in ini.read_text()
    # ormkit takes the URL from --url; the Alembic placeholder in the file is ignored.
    proc = ormkit_cli(project, "--url", db_url, "current")
    assert "base" in proc.stdout
    _models(project, MODELS_V1)
    out = ormkit_cli(project, "auto", "first", "-m", "app_models", "--url", db_url).stdout
    (path,) = (project / "alembic" / "versions").glob("*_first.py")
    assert str(path) in out
    # Rendered from Alembic's own script.py.mako.
    text = path.read_text()
    assert '"""Upgrade schema."""' in text and "Revises: \nCreate Date:" in text
    ormkit_cli(project, "create", "data fix", "--url", db_url)
    assert "2 revisions" in ormkit_cli(project, "up", "--url", db_url).stdout
    assert len(await versions_of(db_url)) == 1
    history = ormkit_cli(project, "history").stdout.splitlines()
    assert len(history) == 2 and history[0].endswith("(head), data fix")
    ormkit_cli(project, "down", "base", "--url", db_url)
    assert set(await schema_of(db_url)) == {"alembic_version"}
    # Alembic runs what ormkit wrote into its directory.
    _set_ini_url(ini, alembic_url(db_url))
    alembic_cli(project, "upgrade", "head")
    assert {"authors", "books"} <= set(await schema_of(db_url))
    ormkit_cli(project, "down", "base", "--url", db_url)
    alembic_cli(project, "upgrade", "+1")
    assert len(await versions_of(db_url)) == 1


async def test_ormkit_init_directory_accepted_by_alembic(project: Path, db_url: str) -> None:
    ormkit_cli(project, "init")
    write_revision(
        project,
        "a1",
        None,
        """
        op.create_table('t',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('v', sa.String(length=10), server_default='x', nullable=False),
        sa.PrimaryKeyConstraint('id')
        )
        op.create_index(op.f('ix_t_v'), 't', ['v'], unique=False)
        """,
        "op.drop_index(op.f('ix_t_v'), table_name='t')\nop.drop_table('t')",
    )
    assert "a1 (head)" in alembic_cli(project, "history").stdout
    alembic_cli(project, "upgrade", "head", url=db_url)
    ormkit_schema = None
    alembic_schema = await schema_of(db_url)
    alembic_cli(project, "downgrade", "base", url=db_url)
    ormkit_cli(project, "up", url=db_url)
    ormkit_schema = await schema_of(db_url)
    # The same table either way (column names, nullability, index).
    for schema in (alembic_schema, ormkit_schema):
        cols = {c["name"]: c["nullable"] for c in schema["t"]["columns"]}
        assert cols == {"id": False, "v": False}
        assert schema["t"]["indexes"] == [{"name": "ix_t_v", "columns": ["v"], "unique": False}]
    assert "a1 (head)" in alembic_cli(project, "current", url=db_url).stdout


GRAPH = [
    # rev, down_revision, extra module-level settings
    ("r1", None, ""),
    ("r2", "r1", ""),
    ("r3a", "r2", "branch_labels = ('feature',)"),
    ("r3b", "r2", ""),
    ("r4a", "r3a", ""),
    ("m5", ("r4a", "r3b"), ""),
    ("x1", None, "branch_labels = ('other',)"),
    ("x2", "x1", "depends_on = 'r3b'"),
]

COMMANDS = [
    ("upgrade", "r3a"),
    ("upgrade", "r3b"),
    ("upgrade", "x1"),
    ("upgrade", "other@head"),
    ("downgrade", "r2"),
    ("upgrade", "feature@head"),
    ("upgrade", "heads"),
    ("downgrade", "r4a"),
    ("downgrade", "x1"),
    ("stamp", "r3b"),
    ("upgrade", "heads"),
    ("downgrade", "other@base"),
    ("downgrade", "base"),
    ("stamp", "heads"),
    ("stamp", "base"),
    ("upgrade", "x2"),
    ("stamp", "r2"),
    ("stamp", "x1"),
    ("stamp", "base"),
    ("upgrade", "r3a"),
    ("downgrade", "-1"),
    ("downgrade", "-1"),
    ("upgrade", "+1"),
    ("downgrade", "base"),
]


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_version_table_matches_alembic_through_branches_and_merges(
    tmp_path: Path, backend: str
) -> None:
    projects = {}
    for tool in ("alembic", "ormkit"):
        project = tmp_path / tool
        project.mkdir()
        ormkit_cli(project, "init")
        for rev, down, extra in GRAPH:
            write_revision(
                project,
                rev,
                down,
                f"op.execute('CREATE TABLE IF NOT EXISTS t_{rev} (id INTEGER)')",
                f"op.execute('DROP TABLE IF EXISTS t_{rev}')",
                extra=extra,
            )
        projects[tool] = (project, f"sqlite:///{tmp_path / (tool + '.db')}")
    for command, target in COMMANDS:
        project, url = projects["alembic"]
        alembic_cli(project, command, target, url=url)
        project, url = projects["ormkit"]
        action = {"upgrade": "up", "downgrade": "down"}.get(command, command)
        ormkit_cli(project, action, target, url=url)
        expected = await versions_of(projects["alembic"][1])
        assert await versions_of(url) == expected, (command, target)
        tables = {t for t in (await schema_of(url)) if t.startswith("t_")}
        alembic_tables = {
            t for t in (await schema_of(projects["alembic"][1])) if t.startswith("t_")
        }
        if command != "stamp":
            assert tables == alembic_tables, (command, target)


SA_MODELS_V1 = """
import sqlalchemy as sa

metadata = sa.MetaData()

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("email", sa.String(200), unique=True),
    sa.Column("created", sa.DateTime(timezone=True), server_default=sa.func.now()),
    sa.Column("data", sa.JSON),
    sa.Column("kind", sa.Enum("a", "b", name="kind_enum")),
    sa.Column("score", sa.Numeric(10, 2)),
    sa.Column("active", sa.Boolean, server_default=sa.false(), nullable=False),
    sa.Index("ix_users_name", "name"),
)

posts = sa.Table(
    "posts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("user_id", sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("body", sa.Text),
)
"""

SA_MODELS_V2 = (
    SA_MODELS_V1.replace(
        'sa.Column("name", sa.String(100), nullable=False)',
        'sa.Column("name", sa.String(200), nullable=False)',
    )
    .replace('    sa.Index("ix_users_name", "name"),\n', "")
    .replace(
        'sa.Column("body", sa.Text),',
        'sa.Column("body", sa.Text, nullable=False),\n'
        '    sa.Column("title", sa.String(50), server_default="untitled"),\n'
        '    sa.UniqueConstraint("user_id", "title", name="uq_posts_user_title"),',
    )
)


async def test_alembic_autogenerated_revisions_run_under_ormkit(project: Path, db_url: str) -> None:
    ormkit_cli(project, "init")
    env = project / "migrations" / "env.py"
    env.write_text(
        env.read_text().replace(
            "target_metadata = None", "import sa_models\ntarget_metadata = sa_models.metadata"
        )
    )
    (project / "sa_models.py").write_text(SA_MODELS_V1)
    alembic_cli(project, "revision", "--autogenerate", "-m", "v1", "--rev-id", "v1", url=db_url)
    ormkit_cli(project, "up", url=db_url)
    await query(db_url, "INSERT INTO users (name, kind) VALUES ('ann', 'a')")
    await query(db_url, "INSERT INTO posts (user_id, body) VALUES (1, 'hello')")
    # Alembic sees the schema ormkit made from its file as up to date.
    (project / "sa_models.py").write_text(SA_MODELS_V1)
    alembic_cli(project, "revision", "--autogenerate", "-m", "noop", "--rev-id", "noop", url=db_url)
    noop = (project / "migrations" / "versions" / "noop_noop.py").read_text()
    assert "op." not in noop.split("def upgrade")[1].split("def downgrade")[0], noop
    (project / "migrations" / "versions" / "noop_noop.py").unlink()

    (project / "sa_models.py").write_text(SA_MODELS_V2)
    alembic_cli(project, "revision", "--autogenerate", "-m", "v2", "--rev-id", "v2", url=db_url)
    text = (project / "migrations" / "versions" / "v2_v2.py").read_text()
    assert "uq_posts_user_title" in text and "ix_users_name" in text
    ormkit_cli(project, "up", url=db_url)
    schema = await schema_of(db_url)
    assert "title" in {c["name"] for c in schema["posts"]["columns"]}
    assert schema["users"]["indexes"] == []
    if db_url.startswith("postgresql"):
        name = next(c for c in schema["users"]["columns"] if c["name"] == "name")
        assert name["type"] == "varchar(200)"
    assert (await query(db_url, "SELECT title FROM posts"))[0]["title"] == "untitled"
    ormkit_cli(project, "down", "v1", url=db_url)
    assert await versions_of(db_url) == ["v1"]
    assert (await query(db_url, "SELECT body FROM posts"))[0]["body"] == "hello"
    ormkit_cli(project, "down", "base", url=db_url)
    assert set(await schema_of(db_url)) == {"alembic_version"}
