"""SQLAlchemy 2.0 session conveniences: ``begin_nested()``, awaited ``begin()``,
``async_sessionmaker``, ``refresh(obj, attribute_names)``, ``get(..., options=)``,
``expunge``/``in``."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from backends import ALL_BACKENDS, engine_with_tables
from statement_log import SqlLog

import ormkit
from ormkit import (
    AsyncSession,
    ForeignKey,
    Mapped,
    async_sessionmaker,
    joinedload,
    mapped_column,
    relationship,
    selectinload,
)
from ormkit.orm import Registry, declarative_base

S = f"_{os.getpid()}"

Base = declarative_base("ConveniencesBase", registry=Registry(track=False))


class Writer(Base):
    __tablename__ = f"cv_writers{S}"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(unique=True)
    age: Mapped[int | None] = mapped_column(nullable=True)
    books: Mapped[list[Book]] = relationship(back_populates="writer", order_by="id")


class Book(Base):
    __tablename__ = f"cv_books{S}"

    id: Mapped[int] = mapped_column(primary_key=True)
    writer_id: Mapped[int | None] = mapped_column(ForeignKey(f"cv_writers{S}.id"))
    title: Mapped[str]
    writer: Mapped[Writer | None] = relationship(back_populates="books")


MODELS = [Writer, Book]


@pytest.fixture(params=ALL_BACKENDS)
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ormkit.Engine]:
    """An engine on each backend with this module's tables created empty."""
    async with engine_with_tables(request, request.param, tmp_path, MODELS) as eng:
        yield eng


async def names(engine: ormkit.Engine) -> list[str]:
    rows = await engine.execute(f"SELECT name FROM {Writer.__tablename__} ORDER BY name")
    return [r["name"] for r in rows]


def sees_uncommitted(engine: ormkit.Engine) -> bool:
    """Whether another connection can read while a transaction is open (the shared
    in-memory SQLite database makes readers wait)."""
    return engine.url != "sqlite::memory:"


# -- begin_nested() ---------------------------------------------------------------------


async def test_begin_nested_rolls_back_only_its_own_work(
    session: AsyncSession, engine: ormkit.Engine
) -> None:
    kept = Writer(name="kept")
    lost = Writer(name="lost")
    async with session.begin():
        session.add(kept)
        with pytest.raises(RuntimeError):
            async with session.begin_nested() as sp:
                assert sp.nested and sp.is_active
                await session.insert(lost)
                assert lost.id is not None
                raise RuntimeError
        assert not sp.is_active
        assert lost.id is None and lost not in session
        await session.insert(Writer(name="after"))
    assert await names(engine) == ["after", "kept"]


async def test_begin_nested_recovers_from_a_failed_statement(
    session: AsyncSession, engine: ormkit.Engine
) -> None:
    """The SQLAlchemy idiom: a SAVEPOINT around a write that may violate a constraint
    (PostgreSQL aborts the transaction at a failed statement, the SAVEPOINT saves it)."""
    async with session.begin():
        await session.insert(Writer(name="a"))
        with pytest.raises(ormkit.IntegrityError):
            async with session.begin_nested():
                await session.insert(Writer(name="a"))
        await session.insert(Writer(name="b"))
    assert await names(engine) == ["a", "b"]


async def test_begin_nested_without_a_transaction_leaves_one_open_to_commit(
    session: AsyncSession, engine: ormkit.Engine
) -> None:
    """As in SQLAlchemy: the transaction begun for the SAVEPOINT goes on after it, and
    the session's commit() ends it."""
    pending = Writer(name="pending")
    session.add(pending)
    async with session.begin_nested() as sp:
        assert sp.nested
        await session.insert(Writer(name="inner"))
    assert session.in_transaction and pending.id is not None  # flushed before the SAVEPOINT
    if sees_uncommitted(engine):
        assert await names(engine) == []
    await session.commit()
    assert not session.in_transaction
    assert await names(engine) == ["inner", "pending"]


async def test_begin_nested_without_a_transaction_rolled_back_keeps_the_flushed_work(
    session: AsyncSession, engine: ormkit.Engine
) -> None:
    session.add(Writer(name="before"))
    with pytest.raises(KeyError):
        async with session.begin_nested():
            await session.insert(Writer(name="inner"))
            raise KeyError
    assert session.in_transaction
    await session.commit()
    assert await names(engine) == ["before"]


async def test_begin_nested_awaited_commit_and_rollback(
    session: AsyncSession, engine: ormkit.Engine
) -> None:
    async with session.begin():
        await session.insert(Writer(name="outer"))
        sp = await session.begin_nested()
        assert sp.is_active and sp.nested
        gone = await session.insert(Writer(name="gone"))
        await sp.rollback()
        assert not sp.is_active and gone.id is None
        await sp.rollback()  # ended already: nothing to do
        sp2 = await session.begin_nested()
        await session.insert(Writer(name="kept"))
        await sp2.commit()
        assert not sp2.is_active
        await sp2.commit()  # ended already: nothing to do
    assert await names(engine) == ["kept", "outer"]


async def test_awaited_transactions_belong_to_their_task_until_they_end(
    session: AsyncSession, engine: ormkit.Engine
) -> None:
    async def other_task() -> object:
        return await session.query(Writer).filter(name="a").first()

    tx = await session.begin()
    assert tx.is_active and not tx.nested
    await session.insert(Writer(name="a"))
    with pytest.raises(ormkit.InterfaceError, match="another task"):
        await asyncio.create_task(other_task())
    await tx.commit()
    assert not tx.is_active and not session.in_transaction
    assert await asyncio.create_task(other_task()) is not None  # released
    # ended by the session rather than by the transaction: released too
    sp = await session.begin_nested()
    await session.insert(Writer(name="b"))
    await session.commit()
    assert not sp.is_active
    assert await asyncio.create_task(other_task()) is not None
    sp = await session.begin_nested()
    await session.insert(Writer(name="c"))
    await session.rollback()
    assert not sp.is_active
    assert await asyncio.create_task(other_task()) is not None
    assert await names(engine) == ["a", "b"]


async def test_an_awaited_transaction_left_open_by_a_finished_task_can_be_ended(
    session: AsyncSession, engine: ormkit.Engine
) -> None:
    async def begin_and_leave() -> None:
        await session.begin()
        await session.insert(Writer(name="left"))

    await asyncio.create_task(begin_and_leave())
    assert session.in_transaction
    await session.rollback()  # the task that began it has ended: this one may
    assert not session.in_transaction
    await session.insert(Writer(name="after"))
    assert await names(engine) == ["after"]


async def test_a_begun_transaction_entered_as_a_block(
    session: AsyncSession, engine: ormkit.Engine
) -> None:
    async with await session.begin() as tx:
        await session.insert(Writer(name="a"))
        async with await session.begin_nested():
            await session.insert(Writer(name="b"))
    assert not tx.is_active and not session.in_transaction
    assert await names(engine) == ["a", "b"]
    assert await asyncio.create_task(session.get(Writer, 1)) is not None


# -- async_sessionmaker -----------------------------------------------------------------


async def test_async_sessionmaker_makes_sessions_with_its_options(engine: ormkit.Engine) -> None:
    maker = async_sessionmaker(engine, autoflush=False, expire_on_commit=False)
    session = maker()
    assert isinstance(session, AsyncSession) and session.engine is engine
    assert session.autoflush is False
    assert maker(autoflush=True).autoflush is True  # per-call override
    assert async_sessionmaker(bind=engine)().autoflush is True
    maker.configure(autoflush=True)
    assert maker().autoflush is True

    class MySession(AsyncSession):
        pass

    mine = async_sessionmaker(engine, class_=MySession)
    assert type(mine()) is MySession
    assert "MySession" in repr(mine)
    assert ormkit.async_sessionmaker is async_sessionmaker


async def test_async_sessionmaker_begin_commits_and_closes(engine: ormkit.Engine) -> None:
    maker = async_sessionmaker(engine)
    async with maker.begin() as session:
        session.add(Writer(name="a"))
        await session.insert(Writer(name="b"))
        assert session.in_transaction
    assert not session.in_transaction
    assert await names(engine) == ["a", "b"]
    with pytest.raises(ZeroDivisionError):
        async with maker.begin() as session:
            await session.insert(Writer(name="c"))
            raise ZeroDivisionError
    assert not session.in_transaction
    assert await names(engine) == ["a", "b"]
    async with maker() as plain:
        assert await plain.get(Writer, 1) is not None


async def test_async_sessionmaker_and_session_refuse_bad_options(engine: ormkit.Engine) -> None:
    with pytest.raises(ValueError, match="never expires objects"):
        async_sessionmaker(engine, expire_on_commit=True)
    with pytest.raises(ValueError, match="expire_on_commit=False"):
        AsyncSession(engine, expire_on_commit=True)
    with pytest.raises(TypeError, match="must be a bool"):
        AsyncSession(engine, expire_on_commit="no")  # type: ignore[arg-type]
    assert AsyncSession(engine, expire_on_commit=False).autoflush is True
    with pytest.raises(TypeError, match="autoflsh"):
        async_sessionmaker(engine, autoflsh=False)
    maker = async_sessionmaker(engine)
    with pytest.raises(TypeError, match="autoflsh"):
        maker.configure(autoflsh=False)
    with pytest.raises(TypeError, match="class_ must be AsyncSession"):
        async_sessionmaker(engine, class_=dict)  # type: ignore[type-var]
    with pytest.raises(TypeError, match="needs an Engine"):
        async_sessionmaker("sqlite::memory:")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"await create_engine\(\.\.\.\) first"):
        async_sessionmaker(ormkit.create_engine("sqlite::memory:"))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="needs an Engine"):
        AsyncSession("sqlite::memory:")  # type: ignore[arg-type]


# -- refresh(obj, attribute_names) ------------------------------------------------------


async def test_refresh_some_columns_keeps_the_other_changes(
    session: AsyncSession, engine: ormkit.Engine, sql_log: SqlLog
) -> None:
    writer = await session.insert(Writer(name="ann", age=30))
    table = Writer.__tablename__
    await engine.execute(f"UPDATE {table} SET name = 'anna', age = 31 WHERE id = $1", [writer.id])
    writer.name = "local"
    writer.age = 40
    sql_log.clear()
    assert await session.refresh(writer, attribute_names=["name"]) is writer
    (sql,) = sql_log.sql
    assert "age" not in sql  # only the column asked for
    assert writer.name == "anna" and writer.age == 40
    assert session.dirty == [writer]  # age is still a change to write
    await session.commit()
    rows = await engine.execute(f"SELECT name, age FROM {table}")
    assert [(r["name"], r["age"]) for r in rows] == [("anna", 40)]


async def test_refresh_a_relationship_by_name(session: AsyncSession, engine: ormkit.Engine) -> None:
    writer = await session.insert(Writer(name="ann"))
    await session.insert(Book(writer_id=writer.id, title="one"))
    assert writer.books == []  # as made: the book was inserted on its own
    await session.refresh(writer, ["books", "name", "books"])
    assert [b.title for b in writer.books] == ["one"]
    await engine.execute(
        f"INSERT INTO {Book.__tablename__} (writer_id, title) VALUES ($1, 'two')", [writer.id]
    )
    writer.books.append(Book(title="local"))  # unflushed: the refresh discards it
    await session.refresh(writer, ["books"])
    assert [b.title for b in writer.books] == ["one", "two"]
    assert session.dirty == []


async def test_refresh_attribute_names_bad_input(
    session: AsyncSession, engine: ormkit.Engine, sql_log: SqlLog
) -> None:
    writer = await session.insert(Writer(name="ann"))
    sql_log.clear()
    with pytest.raises(ValueError, match=r"no column or relationship 'nmae' \(known: id, name"):
        await session.refresh(writer, ["name", "nmae"])
    with pytest.raises(TypeError, match=r"got the str 'name'; write \['name'\]"):
        await session.refresh(writer, "name")
    with pytest.raises(ValueError, match="attribute_names is empty"):
        await session.refresh(writer, [])
    with pytest.raises(TypeError, match="must be str"):
        await session.refresh(writer, [Writer.name])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="takes a list of names"):
        await session.refresh(writer, 3)  # type: ignore[arg-type]
    with pytest.raises(ormkit.InterfaceError, match="never inserted"):
        await session.refresh(Writer(name="new"), ["name"])
    assert sql_log.sql == []
    await engine.execute(f"DELETE FROM {Writer.__tablename__}")
    with pytest.raises(ormkit.NoResultFound, match="no longer exists"):
        await session.refresh(writer, ["age"])


# -- get(..., options=) -----------------------------------------------------------------


async def test_get_with_loader_options(
    session: AsyncSession, engine: ormkit.Engine, sql_log: SqlLog
) -> None:
    writer = await session.insert(Writer(name="ann"))
    await session.insert_all([Book(writer_id=writer.id, title=t) for t in ("a", "b")])
    wid = writer.id
    async with AsyncSession(engine) as other:
        found = await other.get(Writer, wid, options=[selectinload("books")])
        assert found is not None and [b.title for b in found.books] == ["a", "b"]
        book = await other.get(Book, found.books[0].id, options=[joinedload(Book.writer)])
        assert book is found.books[0] and book.writer is found
        assert await other.get(Writer, wid + 100, options=[selectinload("books")]) is None
    # in the identity map without the relationship: it is loaded
    session.expunge_all()
    writer = await session.get_or_raise(Writer, wid)
    with pytest.raises(ormkit.RelationshipNotLoaded):
        _ = writer.books
    sql_log.clear()
    again = await session.get(Writer, wid, options=[selectinload(Writer.books)])
    assert again is writer and [b.title for b in writer.books] == ["a", "b"]
    assert len(sql_log) == 1
    # loaded already: get sends nothing, as for any object it holds
    sql_log.clear()
    assert await session.get(Writer, wid, options=[selectinload("books")]) is writer
    assert sql_log.sql == []
    raised = await session.get_or_raise(Writer, wid, options=[selectinload("books")])
    assert raised is writer
    with pytest.raises(ormkit.NoResultFound):
        await session.get_or_raise(Writer, wid + 100, options=[selectinload("books")])


async def test_get_with_bad_options_fails_before_any_query(
    session: AsyncSession, sql_log: SqlLog
) -> None:
    with pytest.raises(ValueError, match="unknown relationship 'bokos' on Writer"):
        await session.get(Writer, 1, options=[selectinload("bokos")])
    with pytest.raises(TypeError, match="takes selectinload"):
        await session.get(Writer, 1, options=["books"])  # type: ignore[list-item]
    with pytest.raises(TypeError, match=r"a list of loader options .* got 'books'"):
        await session.get(Writer, 1, options="books")  # type: ignore[arg-type]
    assert sql_log.sql == []
    # one option alone is taken as a list of one
    assert await session.get(Writer, 1, options=selectinload("books")) is None  # type: ignore[arg-type]


# -- expunge / in -----------------------------------------------------------------------


async def test_expunge_and_contains(session: AsyncSession, engine: ormkit.Engine) -> None:
    kept = await session.insert(Writer(name="kept"))
    pending = Writer(name="pending")
    session.add(pending)
    assert kept in session and pending in session
    assert Writer(name="x") not in session and object() not in session
    session.expunge(pending)
    assert pending not in session
    session.expunge(kept)
    assert kept not in session
    await session.commit()
    assert await names(engine) == ["kept"]  # the pending one was never written
    with pytest.raises(ormkit.InterfaceError, match="is not in this session"):
        session.expunge(kept)
    with pytest.raises(TypeError, match="needs a model instance"):
        session.expunge("kept")
    loaded = await session.get_or_raise(Writer, kept.id)
    assert loaded is not kept and loaded in session
    await session.delete(loaded)
    assert loaded in session  # until the delete is flushed
    session.expunge_all()
    assert loaded not in session
    await session.commit()
    assert await names(engine) == ["kept"]
