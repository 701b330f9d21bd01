"""``ormkit migrate auto``: revisions generated from the models are applied and
reverted, every kind of change is detected, and an unchanged schema gives nothing."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from ormkit.migrations.autogenerate import model_schema, sa_type_for, types_equal
from ormkit.orm import Mapped, declarative_base, mapped_column
from ormkit.schema import normalise_type
from ormkit.types import ColumnType

from .conftest import ormkit_cli, query, run, schema_of, versions_of, write_models

MODELS_V1 = """
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from enum import Enum
from uuid import UUID

from ormkit.orm import JSON, ForeignKey, Mapped, declarative_base, mapped_column
from ormkit.types import Numeric

Base = declarative_base()


class Mood(Enum):
    HAPPY = "happy"
    SAD = "sad"


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(max_length=100)
    email: Mapped[str] = mapped_column(unique=True, index=True)
    nick: Mapped[str | None] = mapped_column(unique=True)
    age: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(timezone=True)
    birthday: Mapped[date | None]
    wakes: Mapped[time | None]
    span: Mapped[timedelta | None]
    balance: Mapped[Decimal] = mapped_column(Numeric(10, 2), server_default="0")
    token: Mapped[UUID | None]
    photo: Mapped[bytes | None]
    score: Mapped[float | None]
    active: Mapped[bool] = mapped_column(server_default=True)
    mood: Mapped[Mood | None]
    meta: Mapped[dict] = mapped_column(JSON)


class Post(Base):
    __tablename__ = "posts"
    id: Mapped[int] = mapped_column(primary_key=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    title: Mapped[str]


class Tag(Base):
    __tablename__ = "tags"
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id"), primary_key=True)
    label: Mapped[str] = mapped_column(max_length=30, primary_key=True)
"""

MODELS_V2 = """
from datetime import datetime

from ormkit.orm import ForeignKey, Mapped, declarative_base, mapped_column

Base = declarative_base()


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]                                   # varchar(100) -> text
    email: Mapped[str] = mapped_column(unique=True)     # unique index -> unique constraint
    nick: Mapped[str | None]                            # unique constraint dropped
    age: Mapped[int]                                    # now NOT NULL
    created_at: Mapped[datetime] = mapped_column(timezone=True)
    city: Mapped[str | None] = mapped_column(index=True)  # new column, new index


class Post(Base):
    __tablename__ = "posts"
    id: Mapped[int] = mapped_column(primary_key=True)
    author_id: Mapped[int] = mapped_column(index=True)      # foreign key dropped
    editor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))  # new foreign key
    title: Mapped[str]


class Comment(Base):
    __tablename__ = "comments"
    id: Mapped[int] = mapped_column(primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"))
    body: Mapped[str | None]
"""

CREATE_ALL = """
import asyncio, os, sys, app_models, ormkit

async def main():
    engine = await ormkit.create_engine(sys.argv[1])
    await engine.create_all([app_models.User, app_models.Post, app_models.Tag])
    await engine.close()

asyncio.run(main())
# As the ormkit CLI does: skip interpreter finalisation, during which the engine's
# native threads have crashed the process after a successful run.
os._exit(0)
"""


def _revisions(project: Path) -> list[Path]:
    return sorted((project / "migrations" / "versions").glob("*.py"))


async def test_auto_apply_and_nothing_more(migrations: Path, db_url: str) -> None:
    write_models(migrations, MODELS_V1)
    out = ormkit_cli(migrations, "auto", "initial schema", "-m", "app_models", url=db_url).stdout
    assert "Generated" in out and "initial_schema.py" in out
    (path,) = _revisions(migrations)
    text = path.read_text()
    assert "op.create_table('users'," in text and "def downgrade() -> None:" in text
    assert "op.drop_table('users')" in text
    compile(text, str(path), "exec")
    ormkit_cli(migrations, "up", url=db_url)
    schema = await schema_of(db_url)
    assert {"users", "posts", "tags"} <= set(schema)
    await query(
        db_url,
        "INSERT INTO users (name, email, created_at, meta) VALUES ($1, $2, $3, $4)",
        ["ann", "ann@x", "2024-01-01T00:00:00+00:00", "{}"],
    )
    out = ormkit_cli(migrations, "auto", "again", "-m", "app_models", url=db_url).stdout
    assert "No changes detected" in out
    assert len(_revisions(migrations)) == 1
    ormkit_cli(migrations, "down", "base", url=db_url)
    assert set(await schema_of(db_url)) == {"alembic_version"}


async def test_auto_detects_every_kind_of_change(migrations: Path, db_url: str) -> None:
    write_models(migrations, MODELS_V1)
    ormkit_cli(migrations, "auto", "v1", "-m", "app_models", "--rev-id", "v1", url=db_url)
    ormkit_cli(migrations, "up", url=db_url)
    await query(
        db_url,
        "INSERT INTO users (id, name, email, age, created_at, meta) VALUES (1, 'a', 'a@x', 3, "
        "'2024-01-01T00:00:00+00:00', '{}')",
    )
    v1 = await schema_of(db_url)
    write_models(migrations, MODELS_V2)
    ormkit_cli(migrations, "auto", "v2", "-m", "app_models", "--rev-id", "v2", url=db_url)
    text = (migrations / "migrations" / "versions" / "v2_v2.py").read_text()
    add_city = "add_column(sa.Column('city'" if "sqlite" in db_url else "add_column('users', sa."
    for expected in (
        "create_table('comments'",
        "drop_table('tags')",
        add_city,
        "drop_column('balance')" if "sqlite" in db_url else "drop_column('users', 'balance')",
        "nullable=False",
        "type_=sa.Text()" if "postgresql" in db_url else "op.",  # same affinity on SQLite
        "'ix_users_city'",
        "'ix_users_email'",
        "'uq_users_email'",
        "'fk_posts_editor_id_users'",
        "create_foreign_key",
        "drop_constraint",
    ):
        assert expected in text, expected
    ormkit_cli(migrations, "up", url=db_url)
    out = ormkit_cli(migrations, "auto", "v3", "-m", "app_models", url=db_url).stdout
    assert "No changes detected" in out, out
    schema = await schema_of(db_url)
    users = {c["name"]: c for c in schema["users"]["columns"]}
    assert users["age"]["nullable"] is False
    if "postgresql" in db_url:
        assert users["name"]["type"] == "text"
    assert "balance" not in users and "city" in users
    assert "tags" not in schema and "comments" in schema
    posts_fks = [c for c in schema["posts"]["constraints"] if c["type"] == "foreign_key"]
    assert [fk["columns"] for fk in posts_fks] == [["editor_id"]]
    assert (await query(db_url, "SELECT name FROM users"))[0]["name"] == "a"

    # Re-adding the dropped NOT NULL columns needs an empty table (as under Alembic).
    await query(db_url, "DELETE FROM users")
    ormkit_cli(migrations, "down", "v1", url=db_url)
    assert await versions_of(db_url) == ["v1"]
    back = await schema_of(db_url)
    assert set(back) == set(v1)
    for table in v1:
        assert {c["name"] for c in back[table]["columns"]} == {
            c["name"] for c in v1[table]["columns"]
        }, table
        assert {i["name"] for i in back[table]["indexes"]} == {
            i["name"] for i in v1[table]["indexes"]
        }
    # The downgrade restored what the v1 models describe.
    (migrations / "migrations" / "versions" / "v2_v2.py").unlink()
    write_models(migrations, MODELS_V1)
    out = ormkit_cli(migrations, "auto", "v1 again", "-m", "app_models", url=db_url).stdout
    assert "No changes detected" in out, out


async def test_auto_on_a_schema_made_by_create_all(migrations: Path, db_url: str) -> None:
    write_models(migrations, MODELS_V1)
    (migrations / "make.py").write_text(CREATE_ALL)
    proc = run([sys.executable, "make.py", db_url], migrations)
    assert proc.returncode == 0, proc.stderr
    out = ormkit_cli(migrations, "auto", "nothing", "-m", "app_models", url=db_url).stdout
    assert "No changes detected" in out, out


async def test_auto_needs_an_up_to_date_database(migrations: Path, db_url: str) -> None:
    write_models(migrations, MODELS_V1)
    ormkit_cli(migrations, "auto", "v1", "-m", "app_models", url=db_url)
    proc = ormkit_cli(migrations, "auto", "v2", "-m", "app_models", url=db_url, check=False)
    assert proc.returncode == 1 and "not up to date" in proc.stderr
    proc = ormkit_cli(migrations, "auto", "v2", "-m", "no_such_module", url=db_url, check=False)
    assert proc.returncode == 1 and "no_such_module" in proc.stderr


KINDS = [
    ColumnType("int", int),
    ColumnType("int4", int),
    ColumnType("str", str),
    ColumnType("str", str, max_length=20),
    ColumnType("float", float),
    ColumnType("bool", bool),
    ColumnType("bytes", bytes),
    ColumnType("datetime", object),
    ColumnType("datetime_tz", object),
    ColumnType("date", object),
    ColumnType("time", object),
    ColumnType("timedelta", object),
    ColumnType("decimal", object),
    ColumnType("decimal", object, precision=10, scale=2),
    ColumnType("uuid", object),
    ColumnType("json", dict),
]


@pytest.mark.parametrize("dialect", ["postgresql", "sqlite"])
@pytest.mark.parametrize("ctype", KINDS, ids=repr)
def test_rendered_types_compile_to_the_model_types(dialect: str, ctype: ColumnType) -> None:
    for auto in (False, True):
        rendered = sa_type_for(ctype, autoincrement_pk=auto).compile(dialect)
        if dialect == "postgresql":
            assert normalise_type(rendered) == normalise_type(ctype.sql_type(dialect))
        else:
            assert types_equal(ctype.sql_type(dialect), rendered, dialect), rendered
    if ctype.kind == "int":
        assert sa_type_for(ctype, autoincrement_pk=True).compile("sqlite") == "INTEGER"
    if ctype.kind in ("decimal", "json"):
        assert sa_type_for(ctype).compile("sqlite") == "TEXT"


def test_model_schema_reads_models() -> None:
    base = declarative_base()

    class Thing(base):  # type: ignore[valid-type, misc]
        __tablename__ = "things"
        id: Mapped[int] = mapped_column(primary_key=True)
        code: Mapped[str] = mapped_column(max_length=5, unique=True)

    spec = model_schema([Thing], "postgresql")["things"]
    assert [c.sql_type for c in spec.columns] == ["bigint", "varchar(5)"]
    assert [u.columns for u in spec.uniques] == [["code"]]
    assert spec.primary_key == ["id"]
