"""The public API contract (/work/shared/API.md, sections 1-7 and 9), name by name.

Breadth, not depth: every name the contract lists is called here at least once, spelt as
the contract spells it, on SQLite (file and memory) and PostgreSQL where it makes sense.
The suites under tests/session, tests/relationships and tests/migrations test the same
things in depth. Table names carry the process id (concurrent runs share the PostgreSQL
database)."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

import pytest
from backends import ALL_BACKENDS, engine_with_tables
from statement_log import SqlLog

import ormkit
import ormkit.errors
from ormkit import (
    JSON,
    AsyncSession,
    ForeignKey,
    Mapped,
    Q,
    QueryEvent,
    QueryResult,
    SoftDeleteMixin,
    TimestampMixin,
    and_,
    create_engine,
    delete,
    insert,
    joinedload,
    lazyload,
    mapped_column,
    noload,
    not_,
    or_,
    relationship,
    select,
    selectinload,
    session_context,
    update,
)
from ormkit.orm import Registry, declarative_base

S = f"_{os.getpid()}"

Base = declarative_base("ApiContractBase", registry=Registry(track=False))


class Author(Base):
    __tablename__ = f"api_authors{S}"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(max_length=50)
    email: Mapped[str] = mapped_column(unique=True, index=True)
    age: Mapped[int | None] = mapped_column(nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=datetime.now)
    meta: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    nickname: Mapped[str | None]  # a bare annotation is a plain column
    posts: Mapped[list[Post]] = relationship(
        back_populates="author", order_by="id", cascade="all, delete-orphan"
    )
    profile: Mapped[Profile | None] = relationship(back_populates="author", uselist=False)


class Profile(Base):
    __tablename__ = f"api_profiles{S}"

    id: Mapped[int] = mapped_column(primary_key=True)
    author_id: Mapped[int] = mapped_column(ForeignKey(f"api_authors{S}.id"), unique=True)
    bio: Mapped[str]
    author: Mapped[Author] = relationship(back_populates="profile")


class Post(Base):
    __tablename__ = f"api_posts{S}"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    author_id: Mapped[int] = mapped_column(
        ForeignKey(f"api_authors{S}.id", ondelete="CASCADE", onupdate="CASCADE")
    )
    title: Mapped[str] = mapped_column(name="headline", max_length=200)
    views: Mapped[int] = mapped_column(default=0)
    status: Mapped[str] = mapped_column(server_default="draft")
    author: Mapped[Author] = relationship(back_populates="posts")
    tags: Mapped[list[Tag]] = relationship(
        secondary=f"api_post_tags{S}", back_populates="posts", order_by="label"
    )


class Tag(Base):
    __tablename__ = f"api_tags{S}"

    id: Mapped[int] = mapped_column(primary_key=True)
    label: Mapped[str] = mapped_column(unique=True)
    posts: Mapped[list[Post]] = relationship(secondary=f"api_post_tags{S}", back_populates="tags")


class PostTag(Base):
    __tablename__ = f"api_post_tags{S}"
    __primary_key__ = ("post_id", "tag_id")

    post_id: Mapped[int] = mapped_column(ForeignKey(f"api_posts{S}.id", ondelete="CASCADE"))
    tag_id: Mapped[int] = mapped_column(ForeignKey(f"api_tags{S}.id"))


class Note(SoftDeleteMixin, Base):
    __tablename__ = f"api_notes{S}"

    id: Mapped[int] = mapped_column(primary_key=True)
    body: Mapped[str]
    labels: Mapped[list[str] | None] = mapped_column(type_=JSON, nullable=True)


class Stamped(TimestampMixin, Base):
    __tablename__ = f"api_stamped{S}"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]


class Hooked(Base):
    __tablename__ = f"api_hooked{S}"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]

    calls: ClassVar[list[str]] = []

    def before_insert(self) -> None:
        Hooked.calls.append(f"before_insert:{self.id}")

    async def after_insert(self) -> None:
        Hooked.calls.append(f"after_insert:{self.id}")

    def before_update(self) -> None:
        Hooked.calls.append(f"before_update:{self.name}")

    def after_update(self) -> None:
        Hooked.calls.append(f"after_update:{self.name}")

    def before_delete(self) -> None:
        Hooked.calls.append("before_delete")

    def after_delete(self) -> None:
        Hooked.calls.append("after_delete")


class Setting(Base):
    __tablename__ = f"api_settings{S}"

    key: Mapped[str] = mapped_column(primary_key=True)
    value: Mapped[str]
    hits: Mapped[int] = mapped_column(default=0)


MODELS = [Author, Profile, Post, Tag, PostTag, Note, Stamped, Hooked, Setting]


@pytest.fixture(params=ALL_BACKENDS)
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ormkit.Engine]:
    async with engine_with_tables(request, request.param, tmp_path, MODELS) as eng:
        yield eng


@pytest.fixture
async def authors(session: AsyncSession) -> list[Author]:
    rows = [
        Author(name="Ann", email="ann@x.org", age=31,
               meta={"plan": "pro", "settings": {"theme": "dark"}}),
        Author(name="Bob", email="bob@x.org", age=17,
               meta={"plan": "free", "settings": {"theme": "light"}}),
        Author(name="Cy_%", email="cy@x.org", age=None, meta=None),
    ]  # fmt: skip
    await session.insert_all(rows)
    posts = [
        Post(author_id=rows[0].id, title="a1", views=10),
        Post(author_id=rows[0].id, title="a2", views=20),
        Post(author_id=rows[1].id, title="b1", views=5),
    ]
    await session.insert_all(posts)
    return rows


def pg_url_of(request: pytest.FixtureRequest) -> str:
    cluster: dict[str, str] = request.getfixturevalue("pg_cluster")
    return cluster["ORMKIT_TEST_PG_URL"]


# -- 1. Engine ----------------------------------------------------------------------------


async def test_sqlite_memory_url_forms_share_one_database_per_engine() -> None:
    for url in ("sqlite::memory:", "sqlite://:memory:"):
        async with await create_engine(url, max_connections=4) as engine:
            assert engine.dialect == "sqlite"
            await engine.execute("CREATE TABLE t (x INTEGER)")
            await engine.execute("INSERT INTO t VALUES ($1)", [7])
            # several connections of the pool all see the one in-memory database
            results = [await engine.execute("SELECT x FROM t") for _ in range(4)]
            assert [r.scalar() for r in results] == [7, 7, 7, 7]
        async with await create_engine(url) as other:  # a new engine: a new database
            with pytest.raises(ormkit.ProgrammingError):
                await other.execute("SELECT x FROM t")


async def test_sqlite_relative_absolute_and_driver_suffix_urls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    async with await create_engine("sqlite:///relative.db") as engine:
        await engine.execute("CREATE TABLE t (x INTEGER)")
    assert (tmp_path / "relative.db").exists()
    absolute = tmp_path / "abs.db"
    async with await create_engine(f"sqlite:///{absolute}") as engine:  # sqlite:////abs/path
        await engine.execute("CREATE TABLE t (x INTEGER)")
    assert absolute.exists()
    async with await create_engine(f"sqlite+aiosqlite:///{absolute}") as engine:
        assert engine.dialect == "sqlite"
        assert await engine.get_tables() == ["t"]


@pytest.mark.pg
async def test_postgresql_url_forms(request: pytest.FixtureRequest) -> None:
    url = pg_url_of(request)
    rest = url.split("://", 1)[1]
    for scheme in ("postgresql+psycopg", "postgres"):
        async with await create_engine(f"{scheme}://{rest}") as engine:
            assert engine.dialect == "postgresql"
            assert (await engine.execute("SELECT 1 AS one")).scalar() == 1
    # options in the URL query string, application_name reaching the server
    async with await create_engine(
        f"{url}?sslmode=disable&application_name=api_contract&statement_cache_size=0"
    ) as engine:
        name = (await engine.execute("SELECT current_setting('application_name')")).scalar()
        assert name == "api_contract"


@pytest.mark.pg
async def test_percent_encoded_password_and_unix_socket(request: pytest.FixtureRequest) -> None:
    cluster: dict[str, str] = request.getfixturevalue("pg_cluster")
    url = cluster["ORMKIT_TEST_PG_URL"]
    password = cluster["ORMKIT_TEST_PG_PASSWORD"]
    encoded = "".join(f"%{b:02X}" for b in password.encode())
    async with await create_engine(url.replace(f":{password}@", f":{encoded}@")) as engine:
        assert (await engine.execute("SELECT current_user")).scalar() == "ormkit_scram"
        assert password not in repr(engine) and encoded not in repr(engine)
    async with await create_engine(cluster["ORMKIT_TEST_PG_ADMIN_URL"]) as admin:
        assert (await admin.execute("SELECT 2")).scalar() == 2  # host= a socket directory


async def test_engine_options_keyword_and_url(tmp_path: Path) -> None:
    engine = await create_engine(
        f"sqlite:///{tmp_path / 'o.db'}?acquire_timeout=5",
        min_connections=1,
        max_connections=2,
        connect_timeout=3,
        command_timeout=10,
        max_idle_time=60,
        max_lifetime=600,
        statement_cache_size=0,
        echo=False,
    )
    try:
        assert (await engine.execute("SELECT 1")).scalar() == 1
    finally:
        await engine.close()
    with pytest.raises(ValueError, match="unknown engine option 'bogus'"):
        await create_engine("sqlite::memory:", bogus=1)
    with pytest.raises(ValueError, match="max_connections must be at least 1"):
        await create_engine("sqlite::memory:?max_connections=0")


@pytest.mark.pg
async def test_pg_statement_cache_size_zero_and_sslmode(request: pytest.FixtureRequest) -> None:
    cluster: dict[str, str] = request.getfixturevalue("pg_cluster")
    url = cluster["ORMKIT_TEST_PG_URL"]
    async with await create_engine(
        url, sslmode="verify-full", sslrootcert=cluster["ORMKIT_TEST_PG_CA"]
    ) as engine:
        ssl = "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
        assert (await engine.execute(ssl)).scalar() is True
    # a bad URL or option is an ArgumentError, both an InterfaceError and a ValueError,
    # however it is given
    bad: list[tuple[str, dict[str, Any], str]] = [
        (url, {"sslmode": "bogus"}, "invalid sslmode"),
        (url + "?sslmode=bogus", {}, "invalid sslmode"),
        (url + "?statement_cache_size=x", {}, "statement_cache_size"),
        (url, {"statement_cache_size": -1}, "statement_cache_size"),
        (url + "?bogus=1", {}, "bogus"),
        (url.replace(cluster["ORMKIT_TEST_PG_PORT"], "99999"), {}, "invalid port"),
        ("mysql://u@h/db", {}, "unsupported database"),
        ("sqlite:///x.db?busy_timeout=soon", {}, "busy_timeout"),
    ]
    for bad_url, options, message in bad:
        with pytest.raises(ormkit.ArgumentError, match=message) as caught:
            await create_engine(bad_url, **options)
        assert isinstance(caught.value, ormkit.InterfaceError)
        assert isinstance(caught.value, ValueError)
        assert cluster["ORMKIT_TEST_PG_PASSWORD"] not in str(caught.value)
    async with await create_engine(url, statement_cache_size=0, sslmode="disable") as engine:
        for _ in range(3):
            result = await engine.execute("SELECT $1::int + 1", [1])
            assert result.scalar() == 2
            assert result.cache_hit is False  # no named prepared statements
    async with await create_engine(url, statement_cache_size=10) as engine:
        await engine.execute("SELECT $1::int + 1", [1])
        assert (await engine.execute("SELECT $1::int + 1", [1])).cache_hit is True


async def test_execute_placeholders_executemany_and_transaction(engine: ormkit.Engine) -> None:
    table = Setting.__tablename__
    assert (
        await engine.executemany(
            f"INSERT INTO {table} (key, value, hits) VALUES ($1, $2, $3)",
            [("a", "1", 0), ("b", "2", 0), ("c", "3", 0)],
        )
        == 3
    )
    result = await engine.execute(f"SELECT key FROM {table} WHERE value >= $1 ORDER BY key", ["2"])
    assert isinstance(result, QueryResult) and result.column("key") == ["b", "c"]
    if engine.dialect == "sqlite":
        assert (
            await engine.execute(f"SELECT count(*) FROM {table} WHERE key = ?", ["a"])
        ).scalar() == 1
    async with await engine.transaction() as tx:
        await tx.execute(f"UPDATE {table} SET hits = $1", [5])
    assert (await engine.execute(f"SELECT sum(hits) FROM {table}")).scalar() == 15
    with pytest.raises(RuntimeError, match="boom"):
        async with await engine.transaction() as tx:
            await tx.execute(f"DELETE FROM {table}")
            raise RuntimeError("boom")
    assert (await engine.execute(f"SELECT count(*) FROM {table}")).scalar() == 3


async def test_create_all_drop_all_only_what_is_missing(engine: ormkit.Engine) -> None:
    await engine.execute(
        f"INSERT INTO {Setting.__tablename__} (key, value, hits) VALUES ('k', 'v', 0)"
    )
    await engine.create_all(models=MODELS)  # everything exists: nothing is touched
    assert (await engine.execute(f"SELECT value FROM {Setting.__tablename__}")).scalar() == "v"
    await engine.drop_all(models=[Setting])
    assert Setting.__tablename__ not in await engine.get_tables()
    await engine.create_all(models=[Setting])
    assert Setting.__tablename__ in await engine.get_tables()
    assert (await engine.execute(f"SELECT count(*) FROM {Setting.__tablename__}")).scalar() == 0


async def test_introspection(engine: ormkit.Engine) -> None:
    tables = await engine.get_tables()
    assert {m.__tablename__ for m in MODELS} <= set(tables)
    columns = {c["name"]: c for c in await engine.get_columns(Post.__tablename__)}
    assert set(columns) == {"id", "author_id", "headline", "views", "status"}  # name= is the column
    assert columns["id"]["primary_key"] and not columns["headline"]["nullable"]
    indexes = await engine.get_indexes(Author.__tablename__)
    assert any(i["columns"] == ["email"] for i in indexes)
    constraints = await engine.get_constraints(Post.__tablename__)
    fks = [c for c in constraints if c["type"] == "foreign_key"]
    assert len(fks) == 1 and fks[0]["referred_table"] == Author.__tablename__
    assert fks[0]["columns"] == ["author_id"] and fks[0]["referred_columns"] == ["id"]
    assert (fks[0]["ondelete"], fks[0]["onupdate"]) == ("CASCADE", "CASCADE")


@pytest.mark.pg
async def test_repr_and_errors_hide_the_password(request: pytest.FixtureRequest) -> None:
    cluster: dict[str, str] = request.getfixturevalue("pg_cluster")
    password = cluster["ORMKIT_TEST_PG_PASSWORD"]
    async with await create_engine(cluster["ORMKIT_TEST_PG_URL"]) as engine:
        assert password not in repr(engine) and "***" in repr(engine)
    wrong = cluster["ORMKIT_TEST_PG_URL"].replace(f":{password}@", ":not-the-password@")
    with pytest.raises(ormkit.OperationalError) as info:
        await create_engine(wrong)
    assert "not-the-password" not in str(info.value) and password not in str(info.value)


async def test_engine_close_and_dialect(tmp_path: Path) -> None:
    engine = await create_engine(f"sqlite:///{tmp_path / 'c.db'}")
    assert engine.dialect == "sqlite"
    await engine.close()
    with pytest.raises(ormkit.InterfaceError, match="closed"):
        await engine.execute("SELECT 1")


# -- 2. QueryResult -----------------------------------------------------------------------


async def test_query_result(session: AsyncSession, authors: list[Author]) -> None:
    engine = session.engine
    table = Author.__tablename__
    result = await engine.execute(f"SELECT id, name FROM {table} ORDER BY id")
    assert result.columns == ["id", "name"]
    assert len(result) == 3 and result.rowcount == 3
    assert result.all() == [{"id": a.id, "name": a.name} for a in authors]
    assert result.tuples() == [(a.id, a.name) for a in authors]
    assert result.first() == {"id": authors[0].id, "name": "Ann"}
    assert [row for row in result] == result.all()  # iteration yields dicts
    assert result[1] == {"id": authors[1].id, "name": "Bob"} and result[-1]["name"] == "Cy_%"
    assert result.column("name") == ["Ann", "Bob", "Cy_%"]
    assert result.scalar() == authors[0].id
    with pytest.raises(ormkit.MultipleResultsFound):
        result.one()
    with pytest.raises(ormkit.MultipleResultsFound):
        result.one_or_none()
    empty = await engine.execute(f"SELECT id FROM {table} WHERE id < 0")
    assert empty.first() is None and empty.scalar() is None and empty.one_or_none() is None
    assert len(empty) == 0 and empty.all() == []
    with pytest.raises(ormkit.NoResultFound):
        empty.one()
    one = await engine.execute(f"SELECT id, name FROM {table} WHERE name = $1", ["Bob"])
    assert one.one() == {"id": authors[1].id, "name": "Bob"} == one.one_or_none()
    written = await engine.execute(f"UPDATE {table} SET nickname = $1 WHERE age IS NOT NULL", ["x"])
    assert written.rowcount == 2


async def test_query_result_to_models_does_not_call_init(
    session: AsyncSession, authors: list[Author]
) -> None:
    class Plain:
        def __init__(self) -> None:
            raise AssertionError("__init__ must not run")

    result = await session.engine.execute(
        f"SELECT id, name FROM {Author.__tablename__} ORDER BY id"
    )
    plain = result.to_models(Plain)
    assert [(p.id, p.name) for p in plain] == [(a.id, a.name) for a in authors]  # type: ignore[attr-defined]
    models = result.to_models(Author)
    assert all(type(m) is Author for m in models) and [m.name for m in models] == [
        "Ann",
        "Bob",
        "Cy_%",
    ]


# -- 3. Models ----------------------------------------------------------------------------


def test_default_table_names() -> None:
    local = declarative_base("NamesBase", registry=Registry(track=False))

    class User(local):  # type: ignore[valid-type,misc]
        id: Mapped[int] = mapped_column(primary_key=True)

    class BookCategory(local):  # type: ignore[valid-type,misc]
        id: Mapped[int] = mapped_column(primary_key=True)

    assert User.__tablename__ == "users"
    assert BookCategory.__tablename__ == "book_categories"
    assert Author.__tablename__ == f"api_authors{S}"  # an explicit name wins


def test_column_info_and_class_metadata() -> None:
    cols = Author.__columns__
    assert set(cols) >= {"id", "name", "email", "age", "created_at", "meta", "nickname"}
    assert cols["id"].primary_key and not cols["id"].nullable
    assert cols["name"].max_length == 50 and not cols["name"].nullable
    assert cols["email"].unique and cols["email"].index
    assert cols["age"].nullable and cols["nickname"].nullable  # Optional[...] implies nullable
    assert cols["created_at"].default == datetime.now
    assert cols["age"].python_type is int and cols["nickname"].python_type is str
    assert cols["meta"].sql_type("postgresql") == "JSONB"
    assert cols["name"].sql_type("postgresql") == "VARCHAR(50)"
    assert cols["id"].foreign_key is None
    fk = Post.__columns__["author_id"].foreign_key
    assert fk is not None
    assert fk.target == f"api_authors{S}.id"
    assert (fk.table, fk.column) == (f"api_authors{S}", "id")
    assert Author.__primary_key__ == "id"
    assert set(Author.__relationships__) == {"posts", "profile"}
    assert set(Post.__relationships__) == {"author", "tags"}
    assert Note.__columns__["labels"].sql_type("postgresql") == "JSONB"  # type_=JSON
    assert Post.__columns__["status"].server_default == "draft"
    assert Author.__columns__["nickname"].sql_type("sqlite") == "TEXT"


def test_mapped_column_name_and_autoincrement() -> None:
    local = declarative_base("ColumnOptionsBase", registry=Registry(track=False))

    class Event(local):  # type: ignore[valid-type,misc]
        __tablename__ = "events"

        id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
        label: Mapped[str] = mapped_column(name="label_text")

    assert Event.__columns__["label"].name == "label_text"
    assert Event.__columns__["id"].autoincrement is False
    assert Post.__columns__["id"].autoincrement is True
    sql, _ = select(Event).where(Event.label == "x").to_sql("postgresql")
    assert "label_text" in sql


def test_composite_primary_key_is_a_tuple() -> None:
    local = declarative_base("CompositeBase", registry=Registry(track=False))

    class Link(local):  # type: ignore[valid-type,misc]
        __tablename__ = "links"
        __primary_key__ = ("a_id", "b_id")

        a_id: Mapped[int]
        b_id: Mapped[int]

    assert Link.__primary_key__ == ("a_id", "b_id")


def test_column_expressions() -> None:
    def pg(clause: Any) -> tuple[str, list[Any]]:
        return select(Author.id).where(clause).to_sql("postgresql")

    assert pg(Author.age >= 18) == (f"SELECT id FROM api_authors{S} WHERE age >= $1", [18])
    assert pg(Author.name.like("A%"))[1] == ["A%"]
    assert pg(Author.id.in_([1, 2]))[1] == [1, 2]
    assert "age IS NULL" in pg(Author.age.is_(None))[0]
    sql, params = pg(and_(Author.age >= 18, or_(Author.name == "a", not_(Author.id == 1))))
    assert params == [18, "a", 1] and " AND " in sql and " OR " in sql and "NOT" in sql
    sql, params = pg((Author.age >= 18) & ((Author.name == "a") | ~(Author.id == 1)))
    assert params == [18, "a", 1] and " AND " in sql and " OR " in sql and "NOT" in sql
    sql, _ = select(Author).order_by(Author.name.desc()).to_sql("postgresql")
    assert sql.endswith("ORDER BY name DESC")
    with pytest.raises(AttributeError, match="nam"):
        Author.nam  # noqa: B018 - a misspelt attribute fails at once


def test_instances() -> None:
    ann = Author(name="Ann", email="a@x.org")
    assert ann.age is None and ann.meta is None and isinstance(ann.created_at, datetime)
    assert Post(author_id=1, title="t").views == 0  # defaults applied by the constructor
    ann.id = 1
    assert repr(ann) == "<Author id=1>"
    data = ann.to_dict()
    assert data["name"] == "Ann" and data["id"] == 1 and "posts" not in data
    copy = Author.from_dict(data)
    assert isinstance(copy, Author) and copy.to_dict() == data
    assert copy == ann and hash(copy) == hash(ann)  # equality by class and primary key
    assert Author(id=2, name="Ann", email="a@x.org") != ann
    assert Post(id=1, author_id=1, title="t") != ann
    post = Post(author_id=1, title="t")
    post.id = 9
    assert post.to_dict()["title"] == "t"  # attribute names, not column names


async def test_to_dict_include_relationships(session: AsyncSession, authors: list[Author]) -> None:
    ann = await session.query(Author).options(selectinload("posts")).filter(name="Ann").one()
    data = ann.to_dict(include_relationships=True)
    assert [p["title"] for p in data["posts"]] == ["a1", "a2"]
    assert "posts" not in ann.to_dict(include_relationships=False)


async def test_validation_before_any_write(session: AsyncSession, sql_log: SqlLog) -> None:
    cases = [
        (Author(email="no-name@x.org"), "name"),  # missing non-nullable value
        (Author(name="x" * 51, email="long@x.org"), "name"),  # over max_length
        (Author(name="Ann", email="e@x.org", age="old"), "age"),  # wrong type
    ]
    for obj, field in cases:
        with pytest.raises(ormkit.ValidationError) as info:
            await session.insert(obj)
        assert info.value.model == "Author" and info.value.field == field
        assert "Author" in str(info.value) and field in str(info.value)
    assert sql_log.writes() == []


def test_python_types_have_one_column_type_per_dialect() -> None:
    local = declarative_base("TypesContractBase", registry=Registry(track=False))

    class Kinds(local):  # type: ignore[valid-type,misc]
        __tablename__ = "kinds"

        id: Mapped[int] = mapped_column(primary_key=True)
        naive: Mapped[datetime]
        aware: Mapped[datetime] = mapped_column(timezone=True)
        flag: Mapped[bool]
        blob: Mapped[bytes]
        doc: Mapped[dict[str, Any]]

    cols = Kinds.__columns__
    expected = {
        "naive": ("TIMESTAMP", "TEXT"),
        "aware": ("TIMESTAMPTZ", "TEXT"),
        "flag": ("BOOLEAN", "INTEGER"),
        "blob": ("BYTEA", "BLOB"),
        "doc": ("JSONB", "TEXT"),
    }
    for name, (pg, lite) in expected.items():
        assert (cols[name].sql_type("postgresql"), cols[name].sql_type("sqlite")) == (pg, lite)


async def test_timestamp_mixin_and_hooks(session: AsyncSession) -> None:
    stamped = await session.insert(Stamped(name="a"))
    created, updated = stamped.created_at, stamped.updated_at
    assert created.tzinfo is not None and updated >= created
    await session.update(stamped, name="b")
    assert stamped.created_at == created and stamped.updated_at >= updated
    Hooked.calls.clear()
    hooked = await session.insert(Hooked(name="h"))
    await session.update(hooked, name="i")
    await session.remove(hooked)
    assert Hooked.calls == [
        "before_insert:None",
        f"after_insert:{hooked.id}",
        "before_update:i",
        "after_update:i",
        "before_delete",
        "after_delete",
    ]


# -- 4. AsyncSession ----------------------------------------------------------------------


async def test_active_record_calls(engine: ormkit.Engine) -> None:
    async with AsyncSession(engine) as session:
        ann = await session.insert(Author(name="Ann", email="ann@x.org", age=30))
        assert isinstance(ann.id, int)
        many = await session.insert_all(
            [Author(name=f"u{i}", email=f"u{i}@x.org") for i in range(3)]
        )
        assert len({a.id for a in many}) == 3
        assert await session.get(Author, ann.id) is ann
        assert await session.get(Author, -1) is None
        with pytest.raises(ormkit.NoResultFound):
            await session.get_or_raise(Author, -1)
        assert await session.update(ann, age=31) is ann and ann.age == 31
        changed = await session.bulk_update(
            Author, {"age": 5}, Author.name.like("u%"), nickname=None
        )
        assert changed == 3
        await session.remove(many[0])
        await session.remove_all(many[1:])
        result = await session.execute_raw(f"SELECT name, age FROM {Author.__tablename__}", None)
        assert result.all() == [{"name": "Ann", "age": 31}]
        await engine.execute(f"UPDATE {Author.__tablename__} SET age = 40")
        assert await session.refresh(ann) is ann and ann.age == 40
        await session.insert(Post(author_id=ann.id, title="p"))
        assert await session.load_related(ann, "posts") is ann
        assert [p.title for p in ann.posts] == ["p"]


async def test_upsert(session: AsyncSession) -> None:
    first = await session.upsert(Setting(key="a", value="1", hits=1), "key")
    assert first.value == "1"
    again = await session.upsert(
        Setting(key="a", value="2", hits=9), "key", update_fields=["value"]
    )
    assert (again.value, again.hits) == ("2", 1)  # only update_fields changed
    both = await session.upsert_all(
        [Setting(key="a", value="3"), Setting(key="b", value="4")], ["key"], ["value"]
    )
    assert [s.value for s in both] == ["3", "4"]
    rows = await session.engine.execute(
        f"SELECT key, value, hits FROM {Setting.__tablename__} ORDER BY key"
    )
    assert rows.tuples() == [("a", "3", 1), ("b", "4", 0)]


async def test_soft_delete_restore_force_delete(session: AsyncSession) -> None:
    note = await session.insert(Note(body="n"))
    assert await session.soft_delete(note) is note and note.deleted_at is not None
    assert await session.query(Note).count() == 0
    assert await session.query(Note).with_deleted().count() == 1
    assert [n.id for n in await session.query(Note).only_deleted().all()] == [note.id]
    assert await session.restore(note) is note and note.deleted_at is None
    assert await session.query(Note).count() == 1
    await session.force_delete(note)
    assert (
        await session.engine.execute(f"SELECT count(*) FROM {Note.__tablename__}")
    ).scalar() == 0


async def test_unit_of_work(engine: ormkit.Engine) -> None:
    async with AsyncSession(engine) as session:
        ann = Author(name="Ann", email="ann@x.org")
        session.add(ann)
        session.add_all(
            [Author(name="Bob", email="bob@x.org"), Author(name="Cy", email="cy@x.org")]
        )
        await session.flush()
        assert ann.id is not None
        await session.commit()
        loaded = await session.query(Author).filter(name="Ann").one()
        assert loaded is ann  # identity map: one row, one object
        ann.age = 50  # change detected and flushed on commit
        bob = await session.query(Author).filter(name="Bob").one()
        await session.delete(bob)
        await session.commit()
        session.add(Author(name="Dan", email="dan@x.org"))
        await session.rollback()
    rows = await engine.execute(f"SELECT name, age FROM {Author.__tablename__} ORDER BY name")
    assert rows.tuples() == [("Ann", 50), ("Cy", None)]


async def test_session_exits_roll_back_on_error(engine: ormkit.Engine) -> None:
    with pytest.raises(RuntimeError):
        async with AsyncSession(engine) as session:
            session.add(Author(name="Ann", email="ann@x.org"))
            await session.flush()
            raise RuntimeError
    assert (await engine.execute(f"SELECT count(*) FROM {Author.__tablename__}")).scalar() == 0


async def test_begin_transaction_and_savepoints(engine: ormkit.Engine) -> None:
    async with AsyncSession(engine) as session:
        async with session.begin() as tx:
            tx.add(Author(name="Ann", email="ann@x.org"))
            tx.add_all([Author(name="Bob", email="bob@x.org")])
            async with session.begin():  # nested: a SAVEPOINT
                session.add(Author(name="Cy", email="cy@x.org"))
            with pytest.raises(RuntimeError):
                async with session.begin():
                    session.add(Author(name="Dan", email="dan@x.org"))
                    await session.flush()
                    raise RuntimeError
        async with session.begin() as tx:
            bob = await session.query(Author).filter(name="Bob").one()
            await tx.delete(bob)
            await tx.commit()
        with pytest.raises(RuntimeError):
            async with session.transaction():
                await session.insert(Author(name="Eve", email="eve@x.org"))
                raise RuntimeError
        async with session.transaction():
            await session.insert(Author(name="Fay", email="fay@x.org"))
    names = (await engine.execute(f"SELECT name FROM {Author.__tablename__} ORDER BY name")).column(
        "name"
    )
    assert names == ["Ann", "Cy", "Fay"]


async def test_session_context(engine: ormkit.Engine) -> None:
    async with session_context(engine) as session:
        assert isinstance(session, AsyncSession)
        session.add(Author(name="Ann", email="ann@x.org"))
    with pytest.raises(RuntimeError):
        async with session_context(engine) as session:
            session.add(Author(name="Bob", email="bob@x.org"))
            await session.flush()
            raise RuntimeError
    names = (await engine.execute(f"SELECT name FROM {Author.__tablename__}")).column("name")
    assert names == ["Ann"]


async def test_sqlalchemy_style_execute(session: AsyncSession, authors: list[Author]) -> None:
    adults = await session.execute(select(Author).where(Author.age >= 18))
    assert adults.scalars().all() == [authors[0]] and adults.scalars().all()[0] is authors[0]
    ordered = await session.execute(select(Author).order_by(Author.name.desc()))
    assert ordered.scalars().first() is authors[2]
    assert ordered.rowcount == 3
    names = await session.execute(select(Author.name).where(Author.age >= 18))
    assert names.one() == ("Ann",) and names.one_or_none() == ("Ann",)
    assert names.all() == [("Ann",)]
    none = await session.execute(select(Author.name).where(Author.id < 0))
    assert none.one_or_none() is None and none.scalars().first() is None
    with pytest.raises(ormkit.NoResultFound):
        none.one()
    many = await session.execute(select(Author.name))
    with pytest.raises(ormkit.MultipleResultsFound):
        many.one()
    changed = await session.execute(update(Author).values(nickname="n").where(Author.age.is_(None)))
    assert changed.rowcount == 1
    # SQLAlchemy 2.0's shortcuts: session.scalars() and session.scalar()
    assert (await session.scalars(select(Author).where(Author.age >= 18))).all() == [authors[0]]
    assert await session.scalar(select(Author.name).where(Author.age >= 18)) == "Ann"
    assert await session.scalar(select(Author).where(Author.id < 0)) is None
    assert await session.scalar(select(Author).where(Author.id == authors[1].id)) is authors[1]


# -- 5. Query -----------------------------------------------------------------------------


async def names_of(query: ormkit.Query[Author]) -> list[str]:
    return [a.name for a in await query.all()]


async def test_query_builders(session: AsyncSession, authors: list[Author]) -> None:
    q = session.query(Author)
    assert q.filter(age__gte=18) is not q
    assert await names_of(q.filter(Author.age >= 18, name="Ann")) == ["Ann"]
    assert await names_of(q.filter(Q(name="Ann") | Q(name="Bob")).order_by("name")) == [
        "Ann",
        "Bob",
    ]
    assert await names_of(q.filter_by(name="Bob")) == ["Bob"]
    assert await names_of(q.exclude(name="Bob").order_by("name")) == ["Ann", "Cy_%"]
    assert await names_of(q.order_by("-name")) == ["Cy_%", "Bob", "Ann"]
    assert await names_of(q.order_by("name", desc=True)) == ["Cy_%", "Bob", "Ann"]
    assert await names_of(q.order_by(Author.name).limit(2)) == ["Ann", "Bob"]
    assert await names_of(q.order_by("name").offset(1).limit(1)) == ["Bob"]
    posts = session.query(Post)
    distinct_ids = sorted(await posts.distinct().values_list("author_id", flat=True))
    assert distinct_ids == [authors[0].id, authors[1].id]
    grouped = posts.group_by("author_id").having(author_id__gt=authors[0].id)
    assert await grouped.values_list("author_id", flat=True) == [authors[1].id]
    with_posts = await q.options(selectinload("posts")).filter(name="Ann").one()
    assert [p.title for p in with_posts.posts] == ["a1", "a2"]
    locked = q.select_for_update()
    if session.dialect == "postgresql":
        assert locked.to_sql()[0].endswith("FOR UPDATE")
    async with session.begin():
        assert len(await locked.all()) == 3


async def test_query_terminals(session: AsyncSession, authors: list[Author]) -> None:
    q = session.query(Author)
    assert len(await q.all()) == 3
    assert (await q.order_by("name").first()) is authors[0]
    assert await q.filter(name="nobody").first() is None
    assert (await q.filter(name="Bob").one()) is authors[1]
    assert await q.filter(name="nobody").one_or_none() is None
    with pytest.raises(ormkit.NoResultFound):
        await q.filter(name="nobody").one()
    with pytest.raises(ormkit.MultipleResultsFound):
        await q.one_or_none()
    assert await q.count() == 3
    posts = session.query(Post)
    assert await posts.sum("views") == 35
    assert await posts.avg("views") == pytest.approx(35 / 3)
    assert await posts.min("views") == 5 and await posts.max(Post.views) == 20
    assert await posts.filter(views__gt=100).sum("views") is None
    assert await q.filter(name="Ann").exists() is True
    assert await q.filter(name="nobody").exists() is False
    assert await q.order_by("name").values("name", "age") == [
        {"name": "Ann", "age": 31},
        {"name": "Bob", "age": 17},
        {"name": "Cy_%", "age": None},
    ]
    assert await q.order_by("name").values_list("name", "age") == [
        ("Ann", 31),
        ("Bob", 17),
        ("Cy_%", None),
    ]
    assert await q.order_by("name").values_list("name", flat=True) == ["Ann", "Bob", "Cy_%"]
    assert await posts.filter(title="b1").update(views=6) == 1
    assert await posts.filter(author_id=authors[0].id).delete() == 2
    assert await posts.values_list("title", "views") == [("b1", 6)]


async def test_query_stream_and_async_iteration(
    session: AsyncSession, authors: list[Author]
) -> None:
    q = session.query(Author).order_by("name")
    streamed = [a.name async for a in q.stream(batch_size=2)]
    assert streamed == ["Ann", "Bob", "Cy_%"]
    assert [a.name async for a in q] == ["Ann", "Bob", "Cy_%"]
    assert [a.name async for a in q.stream()] == ["Ann", "Bob", "Cy_%"]


async def test_query_to_sql_does_not_run(session: AsyncSession, sql_log: SqlLog) -> None:
    sql, params = session.query(Author).filter(age__gte=18).order_by("-name").limit(5).to_sql()
    mark = "$" if session.dialect == "postgresql" else "?"
    assert sql.startswith("SELECT ") and f"age >= {mark}" in sql and "ORDER BY name DESC" in sql
    assert params == [18, 5]
    assert sql_log.sql == []


async def test_lookups(session: AsyncSession, authors: list[Author]) -> None:
    q = session.query(Author).order_by("name")

    async def n(**lookups: Any) -> list[str]:
        return await names_of(q.filter(**lookups))

    assert await n(name="Ann") == ["Ann"]
    assert await n(age__gt=17) == ["Ann"]
    assert await n(age__gte=17) == ["Ann", "Bob"]
    assert await n(age__lt=31) == ["Bob"]
    assert await n(age__lte=31) == ["Ann", "Bob"]
    assert await n(name__ne="Ann") == ["Bob", "Cy_%"]
    assert await n(name__in=["Ann", "Cy_%", "zz"]) == ["Ann", "Cy_%"]
    assert await n(name__in=[]) == []  # an empty list matches nothing
    assert await n(name__notin=[]) == ["Ann", "Bob", "Cy_%"]  # ... or everything
    assert await n(name__notin=["Ann"]) == ["Bob", "Cy_%"]
    assert await n(name__like="A%") == ["Ann"]
    assert await n(name__ilike="a%") == ["Ann"]
    assert await n(name__contains="_%") == ["Cy_%"]  # % and _ escaped
    assert await n(name__contains="n") == ["Ann"]
    assert await n(name__icontains="AN") == ["Ann"]
    assert await n(name__startswith="B") == ["Bob"]
    assert await n(name__startswith="_") == []
    assert await n(name__endswith="_%") == ["Cy_%"]
    assert await n(age__isnull=True) == ["Cy_%"]
    assert await n(age__isnull=False) == ["Ann", "Bob"]
    assert await n(age__between=(17, 30)) == ["Bob"]
    assert await n(meta__plan="pro") == ["Ann"]
    assert await n(meta__settings__theme="dark") == ["Ann"]
    assert await n(meta__settings__theme="light") == ["Bob"]
    titles = [
        p.title for p in await session.query(Post).filter(author__name="Ann").order_by("id").all()
    ]
    assert titles == ["a1", "a2"]
    assert await names_of(q.filter(~Q(name="Ann") & Q(age__isnull=False))) == ["Bob"]


async def test_unknown_lookups_fail_at_once(session: AsyncSession, sql_log: SqlLog) -> None:
    q = session.query(Author)
    with pytest.raises(ValueError, match="unknown field 'nmae' on Author in lookup 'nmae'"):
        q.filter(nmae="Ann")
    with pytest.raises(ValueError, match="unknown lookup operator 'gtx' in 'age__gtx'"):
        q.filter_by(age__gtx=1)
    with pytest.raises(ValueError, match="unknown field 'titel' on Post"):
        q.exclude(posts__titel="x")
    with pytest.raises(ValueError, match="unknown field 'nmae'"):
        session.query(Post).group_by("author_id").having(author__nmae="x")
    with pytest.raises(ValueError, match="'a__b' is not an operator"):
        q.filter(name__a__b=1)
    assert sql_log.sql == []
    # what is spelt right is accepted: JSON keys, relationship comparisons, paths
    assert await q.filter(meta__any__key__gte=1, posts__title__startswith="a").count() == 0
    assert (
        await session.query(Post).filter(author=None, author__id=1, author__name__in=[]).count()
        == 0
    )


async def test_statements(session: AsyncSession, authors: list[Author]) -> None:
    table = Post.__tablename__
    stmt = insert(Post).values(author_id=authors[2].id, title="c1", views=1).returning(Post.id)
    sql, params = stmt.to_sql("postgresql")
    assert sql.startswith(f"INSERT INTO {table} (author_id, headline, views) VALUES ($1, $2, $3)")
    assert sql.endswith("RETURNING id") and params == [authors[2].id, "c1", 1]
    assert stmt.to_sql("sqlite")[0].startswith(
        f"INSERT INTO {table} (author_id, headline, views) VALUES (?, ?, ?)"
    )
    new_id = (await session.execute(stmt)).scalar()
    assert isinstance(new_id, int)
    upd = update(Post).values(views=99).where(Post.id == new_id).returning(Post.views)
    assert (await session.execute(upd)).scalars().all() == [99]
    upd2 = update(Post).values(views=0).filter_by(author_id=authors[0].id)
    assert (await session.execute(upd2)).rowcount == 2
    gone = delete(Post).where(Post.views == 0).returning(Post.title)
    assert sorted((await session.execute(gone)).scalars().all()) == ["a1", "a2"]
    sel = select(Post).filter_by(author_id=authors[1].id).order_by(Post.id).limit(1).offset(0)
    sql, params = sel.to_sql("postgresql")
    assert sql == (  # a column whose name differs from its attribute is read under the latter
        f"SELECT id, author_id, headline AS title, views, status FROM {table} "
        "WHERE author_id = $1 ORDER BY id LIMIT $2 OFFSET $3"
    )
    assert params == [authors[1].id, 1, 0]
    assert [p.title for p in (await session.execute(sel)).scalars().all()] == ["b1"]
    two = insert(Post).values(
        [{"author_id": authors[2].id, "title": f"c{i}", "views": i} for i in (2, 3)]
    )
    assert (await session.execute(two)).rowcount == 2
    # a column left out gets its default= (views=0), and an upsert's default SET list
    # leaves it alone: the stored 99 is not reset by the row's default
    fresh = insert(Post).values(author_id=authors[2].id, title="c9").returning(Post.views)
    assert (await session.execute(fresh)).scalars().all() == [0]
    again = (
        insert(Post)
        .values(id=new_id, author_id=authors[2].id, title="c1 again")
        .on_conflict_do_update("id")
        .returning(Post.title, Post.views)
    )
    assert (await session.execute(again)).all() == [("c1 again", 99)]
    # quoting: plain lower-case identifiers bare, reserved words and others quoted
    local = declarative_base("QuotingBase", registry=Registry(track=False))

    class Order(local):  # type: ignore[valid-type,misc]
        __tablename__ = "order"

        id: Mapped[int] = mapped_column(primary_key=True)
        userName: Mapped[str]

    sql, _ = select(Order).to_sql("sqlite")
    assert sql == 'SELECT id, "userName" FROM "order"'


# -- 6. Relationships ---------------------------------------------------------------------


async def test_relationship_loaders(
    session: AsyncSession, authors: list[Author], sql_log: SqlLog
) -> None:
    sql_log.clear()
    loaded = await session.query(Author).options(selectinload("posts")).order_by("id").all()
    assert [len(a.posts) for a in loaded] == [2, 1, 0] and len(sql_log) == 2
    sql_log.clear()
    posts = await session.query(Post).options(joinedload("author")).order_by("id").all()
    assert [p.author.name for p in posts] == ["Ann", "Ann", "Bob"] and len(sql_log) == 1
    assert "LEFT OUTER JOIN" in sql_log.sql[0]


async def test_noload_lazyload_and_not_loaded(engine: ormkit.Engine) -> None:
    async with AsyncSession(engine) as setup:
        ann = await setup.insert(Author(name="Ann", email="ann@x.org"))
        await setup.insert(Post(author_id=ann.id, title="p"))
    async with AsyncSession(engine) as session:
        plain = await session.query(Author).one()
        with pytest.raises(ormkit.RelationshipNotLoaded) as info:
            plain.posts  # noqa: B018
        message = str(info.value)
        assert "Author.posts" in message and "selectinload('posts')" in message
        assert "load_related" in message
        assert isinstance(info.value, AttributeError)
    async with AsyncSession(engine) as session:
        none = await session.query(Author).options(noload("posts")).one()
        assert none.posts == []
    async with AsyncSession(engine) as session:
        lazy = await session.query(Author).options(lazyload("posts")).one()
        with pytest.raises(ormkit.RelationshipNotLoaded):
            lazy.posts  # noqa: B018
        await session.load_related(lazy, "posts")
        assert [p.title for p in lazy.posts] == ["p"]
    async with AsyncSession(engine) as session:
        nested = await session.query(Author).options(selectinload("posts.author")).one()
        assert nested.posts[0].author is nested


async def test_relationship_writes(engine: ormkit.Engine) -> None:
    async with AsyncSession(engine) as session:
        ann = await session.insert(Author(name="Ann", email="ann@x.org"))
        post = Post(title="p1")
        post.author = ann
        session.add(post)
        await session.commit()
        assert post.author_id == ann.id
        await session.load_related(ann, "posts")
        ann.posts.append(Post(title="p2"))
        await session.commit()
    rows = await engine.execute(f"SELECT headline, author_id FROM {Post.__tablename__} ORDER BY id")
    assert rows.tuples() == [("p1", ann.id), ("p2", ann.id)]


async def test_one_to_one_many_to_many_and_delete_orphan(engine: ormkit.Engine) -> None:
    async with AsyncSession(engine) as session:
        ann = await session.insert(Author(name="Ann", email="ann@x.org"))
        await session.insert(Profile(author_id=ann.id, bio="hi"))
        post = await session.insert(Post(author_id=ann.id, title="p"))
        assert post.status == "draft"  # server default set on the instance
        red, blue = await session.insert_all([Tag(label="red"), Tag(label="blue")])
        await session.load_related(post, "tags")
        post.tags.append(red)
        post.tags.append(blue)
        await session.commit()
        loaded = (
            await session.query(Author)
            .options(joinedload("profile"), selectinload("posts.tags"))
            .one()
        )
        assert loaded.profile is not None and loaded.profile.bio == "hi"
        assert [t.label for t in loaded.posts[0].tags] == ["blue", "red"]
        post.tags.remove(red)
        await session.commit()
        links = await engine.execute(f"SELECT tag_id FROM {PostTag.__tablename__}")
        assert links.column("tag_id") == [blue.id]
        ann.posts.remove(post)  # delete-orphan: the post row goes
        await session.commit()
    assert (await engine.execute(f"SELECT count(*) FROM {Post.__tablename__}")).scalar() == 0


# -- 7. Errors ----------------------------------------------------------------------------

ERROR_NAMES = [
    "Error",
    "InterfaceError",
    "DatabaseError",
    "DataError",
    "OperationalError",
    "IntegrityError",
    "InternalError",
    "ProgrammingError",
    "NotSupportedError",
    "ValidationError",
    "NoResultFound",
    "MultipleResultsFound",
    "RelationshipNotLoaded",
    "StaleDataError",
    "PoolTimeout",
]


def test_error_classes_and_hierarchy() -> None:
    for name in ERROR_NAMES:
        assert getattr(ormkit, name) is getattr(ormkit.errors, name), name
        assert issubclass(getattr(ormkit, name), ormkit.Error), name
        assert name in ormkit.__all__ and name in ormkit.errors.__all__
    E = ormkit.errors
    assert issubclass(E.Error, Exception)
    assert issubclass(E.InterfaceError, E.Error) and issubclass(E.DatabaseError, E.Error)
    assert not issubclass(E.InterfaceError, E.DatabaseError)
    for name in ("DataError", "OperationalError", "IntegrityError", "InternalError",
                 "ProgrammingError", "NotSupportedError"):  # fmt: skip
        assert issubclass(getattr(E, name), E.DatabaseError), name
    assert issubclass(E.PoolTimeout, E.OperationalError)


async def test_database_errors_carry_fields(engine: ormkit.Engine) -> None:
    table = Author.__tablename__
    sql = f"INSERT INTO {table} (name, email, created_at) VALUES ($1, $2, $3)"
    now = datetime(2020, 1, 1)
    await engine.execute(sql, ["Ann", "dup@x.org", now])
    with pytest.raises(ormkit.IntegrityError) as info:
        await engine.execute(sql, ["Bob", "dup@x.org", now])
    err = info.value
    assert isinstance(err, ormkit.DatabaseError)
    assert err.sql == sql and err.params is not None and "'dup@x.org'" in err.params
    assert err.message and err.sqlstate
    if engine.dialect == "postgresql":
        assert err.sqlstate == "23505"
        assert err.constraint is not None and err.detail is not None and "dup@x.org" in err.detail
        assert err.hint is None
    else:
        assert err.sqlstate.startswith("SQLITE_")  # SQLITE_<extended result code>
        # "UNIQUE constraint failed: <table>.email": the parts PostgreSQL's fields carry
        assert (err.table, err.column) == (table, "email")
    assert "[SQL: INSERT INTO" in str(err) and "[parameters: " in str(err)
    long_value = "z" * 500 + "@x.org"
    await engine.execute(sql, ["Cy", long_value, now])
    with pytest.raises(ormkit.IntegrityError) as info:
        await engine.execute(sql, ["Cy", long_value, now])
    assert info.value.params is not None and long_value not in info.value.params
    with pytest.raises(ormkit.ProgrammingError) as syntax:
        await engine.execute("SELEKT 1")
    assert syntax.value.sql == "SELEKT 1" and syntax.value.position in (0, 1)
    assert syntax.value.sqlstate == ("42601" if engine.dialect == "postgresql" else "SQLITE_1")


async def test_stale_data_error_and_pool_timeout(tmp_path: Path) -> None:
    local = declarative_base("VersionBase", registry=Registry(track=False))

    class Doc(local):  # type: ignore[valid-type,misc]
        __tablename__ = "docs"

        id: Mapped[int] = mapped_column(primary_key=True)
        body: Mapped[str]
        version: Mapped[int] = mapped_column(version=True)

    async with await create_engine(f"sqlite:///{tmp_path / 'v.db'}", max_connections=1,
                                   acquire_timeout=0.05) as engine:  # fmt: skip
        await engine.create_all(models=[Doc])
        async with AsyncSession(engine) as one, AsyncSession(engine) as two:
            doc = await one.insert(Doc(body="a"))
            other = await two.get(Doc, doc.id)
            assert other is not None
            await one.update(doc, body="b")
            with pytest.raises(ormkit.StaleDataError):
                await two.update(other, body="c")
        async with await engine.transaction():
            with pytest.raises(ormkit.PoolTimeout) as info:
                async with await engine.transaction():
                    pass
            assert isinstance(info.value, ormkit.OperationalError)


# -- 9. Observability ---------------------------------------------------------------------


async def test_query_events_on_and_off(engine: ormkit.Engine) -> None:
    seen: list[QueryEvent] = []
    callback = engine.events.on("query", seen.append)
    await engine.execute(f"SELECT key FROM {Setting.__tablename__} WHERE key = $1", ["x"])
    await engine.execute(
        f"INSERT INTO {Setting.__tablename__} (key, value, hits) VALUES ($1, $2, $3)", ["a", "b", 0]
    )
    assert [e.sql.split()[0] for e in seen] == ["SELECT", "INSERT"]
    event = seen[1]
    assert event.param_count == 3 and event.rowcount == 1
    assert isinstance(event.duration, float) and event.duration >= 0
    assert isinstance(event.cache_hit, bool) and seen[0].rowcount == 0
    engine.events.off("query", callback)
    await engine.execute("SELECT 1")
    assert len(seen) == 2
    with pytest.raises(ValueError):
        engine.events.off("query", callback)


async def test_echo_logs_under_ormkit(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="ormkit")
    async with await create_engine(f"sqlite:///{tmp_path / 'e.db'}", echo=True) as engine:
        await engine.execute("SELECT $1 AS echoed", [41])
    records = [r for r in caplog.records if r.name == "ormkit" and "echoed" in r.getMessage()]
    assert records and "41" in records[0].getMessage() and " ms" in records[0].getMessage()


async def test_engine_stats(engine: ormkit.Engine) -> None:
    await engine.execute("SELECT 1")
    stats = engine.stats()
    assert stats["closed"] is False
    assert stats["max_size"] == 10 and stats["timeouts"] == 0 and stats["waiting"] == 0
    # the pool keys both backends report: connections open, idle and in use
    assert stats["size"] >= 1 and stats["in_use"] == 0 and stats["idle"] == stats["size"]
    async with await engine.transaction() as tx:
        await tx.execute("SELECT 2")
        inside = engine.stats()
        assert inside["in_use"] == 1 and inside["idle"] == inside["size"] - 1
    assert engine.stats()["in_use"] == 0
    if engine.dialect == "postgresql":
        keys = {"statement_cache_hits", "statement_cache_misses", "statements_cached"}
        assert keys <= set(stats), stats
    else:
        assert stats["inline_reads"] + stats["thread_reads"] >= 1


async def test_engine_stats_after_close(tmp_path: Path) -> None:
    engine = await create_engine(f"sqlite:///{tmp_path / 's.db'}")
    assert engine.stats()["closed"] is False
    await engine.close()
    assert engine.stats() == {"closed": True}
