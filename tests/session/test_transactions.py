"""begin()/transaction(): real database transactions, savepoints, cancellation, tasks."""

from __future__ import annotations

import asyncio
import contextlib
import gc

import pytest
from session_models import Account, User

import ormkit
from ormkit import AsyncSession, session_context


async def names(engine: ormkit.Engine) -> list[str]:
    rows = await engine.execute(f"SELECT name FROM {User.__tablename__} ORDER BY name")
    return [r["name"] for r in rows]


async def test_begin_commits_on_exit(session: AsyncSession, engine: ormkit.Engine) -> None:
    async with session.begin() as tx:
        tx.add(User(name="a", email="a@x.org"))
        tx.add_all([User(name="b", email="b@x.org")])
        await session.insert(User(name="c", email="c@x.org"))
        assert session.in_transaction
        if engine.url != "sqlite::memory:":  # shared-cache memory DB: readers wait
            assert await names(engine) == []  # not visible outside before COMMIT
    assert not session.in_transaction
    assert await names(engine) == ["a", "b", "c"]


async def test_failing_statement_inside_begin_leaves_nothing(
    session: AsyncSession, engine: ormkit.Engine
) -> None:
    first = User(name="first", email="dup@x.org")
    with pytest.raises(ormkit.IntegrityError):
        async with session.begin():
            await session.insert(first)
            await session.update(first, age=3)
            await session.insert(User(name="second", email="dup@x.org"))
    assert await names(engine) == []
    assert first.id is None and first not in session
    assert not session.in_transaction
    await session.insert(User(name="after", email="after@x.org"))  # the session still works
    assert await names(engine) == ["after"]


async def test_a_failure_swallowed_inside_begin_is_never_reported_as_committed(
    session: AsyncSession, engine: ormkit.Engine
) -> None:
    """PostgreSQL aborts a transaction at its first failed statement and would answer
    COMMIT by rolling it back: leaving the block says so, and the objects are put back
    as for a rollback. SQLite keeps the transaction going, and commits what succeeded."""
    kept = User(name="kept", email="k@x.org")
    with contextlib.ExitStack() as expect:
        if engine.dialect == "postgresql":
            failed = expect.enter_context(pytest.raises(ormkit.InternalError, match="aborted"))
        async with session.begin():
            await session.insert(kept)
            with pytest.raises(ormkit.IntegrityError):
                await session.insert(User(name="dup", email="k@x.org"))
    assert not session.in_transaction
    if engine.dialect == "postgresql":
        assert failed.value.sqlstate == "25P02"
        assert await names(engine) == [] and kept.id is None and kept not in session
    else:
        assert await names(engine) == ["kept"] and kept.id is not None and kept in session
    # the same through the engine's own transactions
    table = User.__tablename__
    with contextlib.ExitStack() as expect:
        if engine.dialect == "postgresql":
            expect.enter_context(pytest.raises(ormkit.InternalError, match="rolled back"))
        async with await engine.transaction() as tx:
            await tx.execute(
                f"INSERT INTO {table} (name, email, active) VALUES ('tx', 't@x.org', true)"
            )
            with pytest.raises(ormkit.IntegrityError):
                await tx.execute(
                    f"INSERT INTO {table} (name, email, active) VALUES ('d', 't@x.org', true)"
                )
    expected = ["after"] if engine.dialect == "postgresql" else ["after", "kept", "tx"]
    await session.insert(User(name="after", email="after@x.org"))  # everything still works
    assert await names(engine) == expected
    # the remedy on every backend: a nested begin() (a SAVEPOINT) around what may fail
    again = User(name="again", email="again@x.org")
    async with session.begin():
        await session.insert(again)
        with pytest.raises(ormkit.IntegrityError):
            async with session.begin():
                await session.insert(User(name="dup", email="again@x.org"))
    assert again.id is not None and "again" in await names(engine)


async def test_exception_in_block_rolls_back_and_restores_objects(
    session: AsyncSession, engine: ormkit.Engine
) -> None:
    user = await session.insert(User(name="orig", email="o@x.org", age=1))
    with pytest.raises(RuntimeError, match="boom"):
        async with session.transaction():
            await session.update(user, name="changed", age=2)
            await session.remove(user)
            raise RuntimeError("boom")
    assert (user.name, user.age) == ("orig", 1)
    assert user in session and await names(engine) == ["orig"]
    assert await session.get(User, user.id) is user


async def test_cancelling_a_task_inside_begin_rolls_back(engine: ormkit.Engine) -> None:
    inserted = asyncio.Event()

    async def work() -> None:
        async with AsyncSession(engine) as session, session.begin():
            await session.insert(User(name="cancelled", email="c@x.org"))
            inserted.set()
            await asyncio.sleep(30)

    task = asyncio.create_task(work())
    await inserted.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await names(engine) == []
    async with AsyncSession(engine) as session:  # the writer / connection was released
        await session.insert(User(name="next", email="n@x.org"))
    assert await names(engine) == ["next"]


async def test_nested_begin_uses_savepoints(
    session: AsyncSession, engine: ormkit.Engine, sql_log: object
) -> None:
    outer_user = User(name="outer", email="outer@x.org")
    inner_user = User(name="inner", email="inner@x.org")
    async with session.begin():
        await session.insert(outer_user)
        with pytest.raises(ormkit.IntegrityError):
            async with session.begin():
                await session.insert(inner_user)
                await session.insert(User(name="dup", email="outer@x.org"))
        assert inner_user.id is None and outer_user.id is not None
        async with session.begin() as inner:
            await session.insert(User(name="kept", email="kept@x.org"))
            await inner.commit()
        async with session.begin() as inner:
            await session.update(outer_user, age=5)
            await inner.rollback()
        assert outer_user.age is None
    assert await names(engine) == ["kept", "outer"]
    sql = [e.sql for e in sql_log.events]  # type: ignore[attr-defined]
    assert any(s.startswith("SAVEPOINT ") for s in sql)
    assert any(s.startswith("ROLLBACK TO SAVEPOINT ") for s in sql)
    assert any(s.startswith("RELEASE SAVEPOINT ") for s in sql)


async def test_tx_commit_and_rollback_inside_block(
    session: AsyncSession, engine: ormkit.Engine
) -> None:
    async with session.begin() as tx:
        await session.insert(User(name="one", email="one@x.org"))
        await tx.commit()
        assert not session.in_transaction
    async with session.begin() as tx:
        await session.insert(User(name="two", email="two@x.org"))
        await tx.rollback()
    assert await names(engine) == ["one"]


async def test_begin_after_a_flush_takes_the_transaction_over(
    session: AsyncSession, engine: ormkit.Engine
) -> None:
    session.add(User(name="flushed", email="flushed@x.org"))
    await session.flush()  # begins the session's transaction, which nothing commits yet
    async with session.begin():  # not a SAVEPOINT inside it: the block commits it all
        session.add(User(name="in block", email="block@x.org"))
    assert not session.in_transaction
    assert await names(engine) == ["flushed", "in block"]
    session.add(User(name="autoflushed", email="auto@x.org"))
    await session.query(User).count()  # an autoflush begins it too
    with pytest.raises(RuntimeError):
        async with session.begin():
            session.add(User(name="lost", email="lost@x.org"))
            raise RuntimeError("the block fails: the whole transaction rolls back")
    assert await names(engine) == ["flushed", "in block"]


async def test_a_failed_savepoint_keeps_what_the_enclosing_block_added(
    session: AsyncSession, engine: ormkit.Engine
) -> None:
    async with session.begin():
        keep = User(name="keep", email="keep@x.org")
        session.add(keep)  # pending in the outer block: written before the SAVEPOINT
        with pytest.raises(ormkit.IntegrityError):
            async with session.begin():
                session.add(User(name="dup", email="keep@x.org"))
                await session.flush()
        assert keep in session and keep.id is not None
    assert await names(engine) == ["keep"]


async def test_what_a_block_does_after_an_early_commit_is_committed_on_exit(
    session: AsyncSession, engine: ormkit.Engine
) -> None:
    async with session.begin():
        session.add(User(name="first", email="first@x.org"))
        await session.commit()
        session.add(User(name="after", email="after@x.org"))
    assert not session.in_transaction
    assert await names(engine) == ["after", "first"]


async def test_session_context(engine: ormkit.Engine) -> None:
    async with session_context(engine) as session:
        session.add(User(name="ctx", email="ctx@x.org"))
    assert await names(engine) == ["ctx"]
    with pytest.raises(ValueError, match="nope"):
        async with session_context(engine) as session:
            session.add(User(name="lost", email="lost@x.org"))
            await session.flush()
            raise ValueError("nope")
    assert await names(engine) == ["ctx"]


async def test_two_tasks_on_one_session_raise(session: AsyncSession) -> None:
    await session.insert_all([Account(owner=f"o{i}") for i in range(3)])
    release = asyncio.Event()
    entered = asyncio.Event()

    async def hold() -> None:
        async with session.begin():
            entered.set()
            await release.wait()

    task = asyncio.create_task(hold())
    await entered.wait()
    with pytest.raises(ormkit.InterfaceError, match="another task"):
        await session.query(Account).all()
    release.set()
    await task
    results = await asyncio.gather(
        session.insert(Account(owner="x")),
        session.insert(Account(owner="y")),
        return_exceptions=True,
    )
    errors = [r for r in results if isinstance(r, BaseException)]
    assert len(errors) == 1 and isinstance(errors[0], ormkit.InterfaceError)
    assert len(await session.query(Account).all()) == 4  # usable again afterwards


async def test_a_shared_session_left_mid_operation_gives_its_connection_back(
    engine: ormkit.Engine,
) -> None:
    """Tasks sharing a session by mistake: the first ``InterfaceError`` leaves the
    ``async with`` block while another task's statement still runs in the session's
    transaction. ``close()`` waits for that statement, then rolls back: the connection
    goes back to the pool (it stayed checked out, in its transaction, for good) and the
    flushed row is not kept."""
    for _ in range(3):
        try:
            async with AsyncSession(engine) as s:
                s.add(Account(owner="flushed"))
                await s.flush()  # the session's transaction is open
                await asyncio.gather(*(s.query(Account).all() for _ in range(4)))
        except ormkit.InterfaceError as exc:
            assert "another task" in str(exc)
        else:
            # SQLite runs a statement of an open transaction at once (no task waits
            # on another): only PostgreSQL's wait on the network makes tasks overlap
            assert engine.dialect == "sqlite"
        assert engine.stats()["in_use"] == 0
    async with AsyncSession(engine) as s:
        assert await s.query(Account).count() == 0


async def wait_for_the_pool(engine: ormkit.Engine) -> None:
    """Until no connection is checked out (the pool gets one back in the background)."""
    for _ in range(500):
        if engine.stats()["in_use"] == 0:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"connections still checked out: {engine.stats()}")


async def test_a_transaction_dropped_without_ending_is_rolled_back(
    engine: ormkit.Engine, caplog: pytest.LogCaptureFixture
) -> None:
    """A session never closed, or a transaction never committed nor rolled back, and then
    dropped: its connection goes back to the pool rolled back, so its row locks go and
    what it wrote is not kept (on PostgreSQL it stayed checked out for good)."""
    async with AsyncSession(engine) as s:
        kept = await s.insert(Account(owner="kept"))

    async def abandon_a_session() -> None:
        s = AsyncSession(engine)
        s.add(Account(owner="abandoned"))
        (await s.get_or_raise(Account, kept.id)).balance = 5  # locks kept's row
        await s.flush()

    async def abandon_a_transaction() -> None:
        tx = await engine.transaction()
        await tx.execute(f"UPDATE {Account.__tablename__} SET balance = 7")

    for abandon in (abandon_a_session, abandon_a_transaction):
        await abandon()
        gc.collect()
        await wait_for_the_pool(engine)
    async with AsyncSession(engine) as s:
        assert [(a.owner, a.balance) for a in await s.query(Account).all()] == [("kept", 0)]
        async with s.begin():  # the row is not locked by a transaction left behind
            (await s.get_or_raise(Account, kept.id)).balance = 1
    if engine.dialect == "postgresql":
        assert caplog.text.count("dropped without commit() or rollback()") == 2


async def test_the_session_exit_awaits_in_every_form(engine: ormkit.Engine) -> None:
    """``__aexit__`` returns an awaitable made once when nothing is open, ``close()``'s
    coroutine otherwise: both end the session however they are awaited."""
    s = AsyncSession(engine)
    async with s:
        pending = User(name="pending", email="p@x.org")
        s.add(pending)
        assert pending in s
    assert pending not in s and not s.new  # forgotten, not inserted

    idle = AsyncSession(engine)
    awaitable = idle.__aexit__(None, None, None)
    assert not asyncio.iscoroutine(awaitable)
    assert await awaitable is None
    assert await idle.__aexit__(None, None, None) is None  # again: the same one, still done

    async with contextlib.AsyncExitStack() as stack:
        s2 = await stack.enter_async_context(AsyncSession(engine))
        s2.add(User(name="rolled back", email="r@x.org"))
        await s2.flush()  # the first flush opens a transaction
        assert s2.in_transaction
    assert not s2.in_transaction  # exit closed it: the transaction was rolled back
    assert await names(engine) == []
