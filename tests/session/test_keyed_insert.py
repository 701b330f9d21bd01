"""SQLite bulk inserts whose generated keys are worked out instead of returned
(``sqlite::keyed_insert``): every object gets the key of its own row, in every case
where the shortcut cannot apply too (an AUTOINCREMENT counter ahead, a trigger writing
the same table, rowids at the top of their range, a key that is not the rowid), and a
failure leaves nothing behind."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from new_rows import NEW_ROW_CALLS, write_new

import ormkit
from ormkit import JSON, AsyncSession, Mapped, mapped_column
from ormkit.orm import Registry, declarative_base
from ormkit.sql import text

Base: Any = declarative_base("KeyedBase", registry=Registry(track=False))

N = 40  # above the fewest rows the shortcut is used for


class Item(Base):
    __tablename__ = "k_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(unique=True)
    n: Mapped[int]


class Tagged(Base):
    """RETURNING brings back a server default too (never the shortcut)."""

    __tablename__ = "k_tagged"

    id: Mapped[int] = mapped_column(primary_key=True)
    n: Mapped[int]
    tag: Mapped[str | None] = mapped_column(server_default="fresh")


class Hooked(Base):
    """A model the plain insert path does not take (a JSON column): the general one does."""

    __tablename__ = "k_hooked"

    id: Mapped[int] = mapped_column(primary_key=True)
    n: Mapped[int]
    meta: Mapped[dict[str, Any] | None] = mapped_column(JSON)


TABLES = {
    "plain": "CREATE TABLE k_items (id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE, "
    "n INTEGER NOT NULL)",
    "autoincrement": "CREATE TABLE k_items (id INTEGER PRIMARY KEY AUTOINCREMENT, "
    "email TEXT NOT NULL UNIQUE, n INTEGER NOT NULL)",
    # the key is not the rowid's alias: SQLite leaves it NULL when it is not given
    "not_rowid": "CREATE TABLE k_items (id INT PRIMARY KEY, email TEXT NOT NULL UNIQUE, "
    "n INTEGER NOT NULL)",
}


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[ormkit.Engine]:
    eng = await ormkit.create_engine(f"sqlite:///{tmp_path / 'keyed.db'}")
    try:
        yield eng
    finally:
        await eng.close()


def make(tag: str, count: int = N) -> list[Item]:
    return [Item(email=f"{tag}{i}@x.org", n=i) for i in range(count)]


async def stored(engine: ormkit.Engine) -> dict[Any, tuple[str, int]]:
    result = await engine.execute("SELECT id, email, n FROM k_items")
    return {row[0]: (row[1], row[2]) for row in result.tuples()}


async def insert(engine: ormkit.Engine, objs: list[Item]) -> None:
    async with AsyncSession(engine) as session:
        await session.insert_all(objs)


def assert_keys_match(objs: list[Item], db: dict[Any, tuple[str, int]]) -> None:
    for obj in objs:
        assert db[obj.id] == (obj.email, obj.n), obj.id


async def test_keys_are_worked_out_and_reported_as_returning(engine: ormkit.Engine) -> None:
    await engine.execute(TABLES["plain"])
    await engine.execute("INSERT INTO k_items VALUES (7, 'seed@x.org', 0)")
    seen: list[str] = []
    engine.events.on("query", lambda e: seen.append(e.sql))
    objs = make("a")
    await insert(engine, objs)
    assert [o.id for o in objs] == list(range(8, 8 + N))
    assert_keys_match(objs, await stored(engine))
    # listeners see the statement the ORM asked for
    assert "RETURNING" in seen[0]
    # again, with a gap left by a delete at the end: the keys follow the largest rowid
    await engine.execute(f"DELETE FROM k_items WHERE id > {N}")
    more = make("b")
    await insert(engine, more)
    assert_keys_match(more, await stored(engine))
    assert more[0].id == N + 1


async def test_autoincrement_counter_ahead_falls_back_to_returning(
    engine: ormkit.Engine,
) -> None:
    await engine.execute(TABLES["autoincrement"])
    await engine.execute("INSERT INTO k_items VALUES (100, 'seed@x.org', 0)")
    await engine.execute("DELETE FROM k_items")  # the counter stays at 100
    for tag in ("a", "b"):  # the second time the SQL text goes straight to RETURNING
        objs = make(tag)
        await insert(engine, objs)
        assert_keys_match(objs, await stored(engine))
        assert min(o.id for o in objs) > 100
    assert len(await stored(engine)) == 2 * N


async def test_a_trigger_writing_the_same_table_falls_back(engine: ormkit.Engine) -> None:
    await engine.execute(TABLES["plain"])
    await engine.execute(
        "CREATE TRIGGER k_shadow AFTER INSERT ON k_items WHEN NEW.n = 3 BEGIN "
        "INSERT INTO k_items (email, n) VALUES ('shadow-' || NEW.email, -1); END"
    )
    objs = make("t")
    await insert(engine, objs)
    db = await stored(engine)
    assert_keys_match(objs, db)
    assert len(db) == N + 1 and sum(1 for v in db.values() if v[1] == -1) == 1


async def test_rowids_at_the_top_of_their_range(engine: ormkit.Engine) -> None:
    """Past the largest rowid SQLite picks free ones at random: the keys are not worked
    out, and the returned ones are matched to the objects in the order written."""
    await engine.execute(TABLES["plain"])
    await engine.execute(f"INSERT INTO k_items VALUES ({2**63 - 5}, 'near@x.org', 0)")
    objs = make("top")
    await insert(engine, objs)
    db = await stored(engine)
    assert_keys_match(objs, db)
    assert len(db) == N + 1
    # the same with a server default returned beside the key
    await engine.create_all([Tagged])
    await engine.execute(f"INSERT INTO k_tagged (id, n) VALUES ({2**63 - 5}, -1)")
    tagged = [Tagged(n=i) for i in range(N)]
    async with AsyncSession(engine) as session:
        await session.insert_all(tagged)
    rows = (await engine.execute("SELECT id, n, tag FROM k_tagged")).tuples()
    assert {(o.id, o.n, o.tag) for o in tagged} <= set(rows)


@pytest.mark.parametrize("how", NEW_ROW_CALLS)
async def test_rowids_at_the_top_of_their_range_on_the_general_path(
    engine: ormkit.Engine, how: str
) -> None:
    """The same on the insert path of models with hooks, relationships or JSON (and the
    unit of work's flush, and new rows of an upsert): the rows returned are matched in
    the order written, not sorted by key."""
    await engine.create_all([Hooked])
    await engine.execute(f"INSERT INTO k_hooked (id, n) VALUES ({2**63 - 5}, -1)")
    objs = [Hooked(n=i) for i in range(N)]
    await write_new(engine, objs, how)
    rows = dict((await engine.execute("SELECT id, n FROM k_hooked")).tuples())
    assert len(rows) == N + 1
    assert [o.n for o in objs] == list(range(N))  # each object kept its own values
    assert {o.id: o.n for o in objs} == {k: v for k, v in rows.items() if v != -1}


async def test_a_key_that_is_not_the_rowid_is_reported(engine: ormkit.Engine) -> None:
    """``INT PRIMARY KEY`` is not the rowid: SQLite leaves the key NULL. The shortcut
    does not make keys up from rowids; the ORM says what is wrong."""
    await engine.execute(TABLES["not_rowid"])
    objs = make("nr")
    with pytest.raises(ormkit.InterfaceError, match=r"left id NULL.*INTEGER PRIMARY KEY"):
        await insert(engine, objs)
    assert set(await stored(engine)) == {None}
    # the same with a server default returned beside the key
    await engine.execute("CREATE TABLE k_tagged (id INT PRIMARY KEY, n INT, tag TEXT DEFAULT 'x')")
    tagged = [Tagged(n=i) for i in range(3)]
    with pytest.raises(ormkit.InterfaceError, match=r"left id NULL"):
        async with AsyncSession(engine) as session:
            await session.insert_all(tagged)
    assert all(o.id is None for o in tagged)


async def test_a_failing_insert_leaves_nothing_and_the_engine_usable(
    engine: ormkit.Engine,
) -> None:
    await engine.execute(TABLES["plain"])
    await engine.execute("INSERT INTO k_items VALUES (1, 'taken@x.org', 0)")
    objs = make("f")
    objs[N // 2].email = "taken@x.org"
    with pytest.raises(ormkit.IntegrityError):
        await insert(engine, objs)
    assert list(await stored(engine)) == [1]
    # no transaction left open on the writer: the next writes run and commit
    fresh = make("g")
    await insert(engine, fresh)
    assert_keys_match(fresh, await stored(engine))
    async with engine.transaction() as tx:
        await tx.execute("UPDATE k_items SET n = n + 1 WHERE id = 1")
    assert (await stored(engine))[1] == ("taken@x.org", 1)


async def test_run_on_the_writer_thread_when_over_the_budget(tmp_path: Path) -> None:
    eng = await ormkit.create_engine(f"sqlite:///{tmp_path / 'b.db'}", inline_budget=1e-9)
    try:
        await eng.execute(TABLES["plain"])
        before = eng.stats()
        for tag in ("a", "b", "c"):
            objs = make(tag)
            await insert(eng, objs)
            assert_keys_match(objs, await stored(eng))
        after = eng.stats()
        # some ran on the writer thread after an interrupted try, and each ran once
        # (SQLite checks the budget every 1,000 steps: a short try may finish inline)
        ran = {k: after[k] - before[k] for k in ("writes", "inline_writes")}
        assert ran["writes"] >= 1 and ran["writes"] + ran["inline_writes"] == 3
    finally:
        await eng.close()


async def test_inside_a_transaction_the_keys_are_returned(engine: ormkit.Engine) -> None:
    await engine.execute(TABLES["plain"])
    objs = make("tx")
    async with AsyncSession(engine) as session, session.begin():
        await session.insert_all(objs)
        assert_keys_match(objs, await stored_in(session))
    assert_keys_match(objs, await stored(engine))


async def stored_in(session: AsyncSession) -> dict[Any, tuple[str, int]]:
    rows = (await session.execute(text("SELECT id, email, n FROM k_items"))).all()
    return {row[0]: (row[1], row[2]) for row in rows}
