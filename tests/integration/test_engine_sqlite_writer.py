"""The SQLite writer: who may use it and in which order, waits bounded by
acquire_timeout, cancelled waiters that never run, statements run on the loop thread
when the writer is free (and moved to the writer thread when they cannot finish
there), checkpoints, and streams inside a transaction."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from loop_passes import loop_passes_during

import ormkit
from ormkit import InterfaceError, PoolTimeout, ProgrammingError, create_engine

SLOW_READ = (
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 400000)"
    " SELECT count(*) FROM c"
)


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[ormkit.Engine]:
    e = await create_engine(f"sqlite:///{tmp_path / 'w.db'}", acquire_timeout=5.0)
    await e.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
    try:
        yield e
    finally:
        await e.close()


async def ids(engine: ormkit.Engine) -> list[int]:
    return (await engine.execute("SELECT id FROM t ORDER BY id")).column("id")


async def test_dollar_placeholders_outside_strings(engine: ormkit.Engine) -> None:
    r = await engine.execute('SELECT \'$1\' AS s, $1 AS v, "$2" AS q FROM (SELECT 1 AS "$2")', [5])
    assert r.one() == {"s": "$1", "v": 5, "q": 1}
    n = 6000
    sql = "INSERT INTO t (id, v) VALUES " + ", ".join(
        f"(${2 * i + 1}, ${2 * i + 2})" for i in range(n // 2)
    )
    params: list[object] = []
    for i in range(n // 2):
        params += [i + 1, f"v{i}"]
    r = await engine.execute(sql, params)
    assert r.rowcount == n // 2
    assert (
        await engine.execute("SELECT v FROM t WHERE id = $1", [n // 2])
    ).scalar() == f"v{n // 2 - 1}"
    with pytest.raises(ProgrammingError, match="takes 6000 parameters, 5999 were given"):
        await engine.execute(sql, params[:-1])


async def test_autocommit_writes_wait_behind_a_transaction_in_order(engine: ormkit.Engine) -> None:
    tx = await engine.transaction()
    await tx.execute("INSERT INTO t (id) VALUES (1)")
    writes = [
        asyncio.create_task(engine.execute("INSERT INTO t (id) VALUES ($1)", [i])) for i in (2, 3)
    ]
    await asyncio.sleep(0.05)
    assert not any(w.done() for w in writes)
    assert engine.stats()["writer_in_use"] and engine.stats()["waiting"] == 2
    # Inside the transaction nothing of theirs is visible.
    assert (await tx.execute("SELECT count(*) FROM t")).scalar() == 1
    await tx.commit()
    await asyncio.gather(*writes)
    assert await ids(engine) == [1, 2, 3]
    stats = engine.stats()
    assert not stats["writer_in_use"] and stats["waiting"] == 0


async def test_a_second_transaction_waits_for_the_first(engine: ormkit.Engine) -> None:
    order: list[str] = []
    first = await engine.transaction()
    await first.execute("INSERT INTO t (id) VALUES (1)")

    async def second() -> None:
        async with engine.transaction() as tx:
            order.append("second begins")
            seen = await tx.execute("SELECT count(*) FROM t")
            order.append(f"second sees {seen.scalar()}")

    task = asyncio.create_task(second())
    await asyncio.sleep(0.05)
    order.append("first commits")
    await first.commit()
    await task
    assert order == ["first commits", "second begins", "second sees 1"]


async def test_waiting_for_the_writer_is_bounded(tmp_path: Path) -> None:
    e = await create_engine(f"sqlite:///{tmp_path / 'b.db'}", acquire_timeout=0.2)
    await e.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
    tx = await e.transaction()
    with pytest.raises(PoolTimeout, match="writer"):
        await e.transaction()
    with pytest.raises(PoolTimeout, match="writer"):
        await e.executemany("INSERT INTO t VALUES ($1)", [[1], [2]])
    assert e.stats()["timeouts"] == 2
    await tx.rollback()
    # What timed out never ran, and the writer works.
    await e.execute("INSERT INTO t VALUES (3)")
    assert (await e.execute("SELECT id FROM t")).column("id") == [3]
    await e.close()


async def test_a_write_queued_behind_a_long_write_times_out(tmp_path: Path) -> None:
    e = await create_engine(f"sqlite:///{tmp_path / 'b.db'}", acquire_timeout=0.1)
    await e.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
    long_write = asyncio.create_task(
        e.execute(
            "INSERT INTO t SELECT count(*) FROM (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL"
            " SELECT x + 1 FROM c WHERE x < 5000000) SELECT x FROM c)"
        )
    )
    await asyncio.sleep(0.02)
    assert not long_write.done()
    with pytest.raises(PoolTimeout):
        await e.execute("INSERT INTO t VALUES (0)")
    assert (await long_write).rowcount == 1
    assert (await e.execute("SELECT id FROM t")).column("id") == [5_000_000]
    await e.close()


async def test_a_cancelled_waiting_write_never_runs(engine: ormkit.Engine) -> None:
    tx = await engine.transaction()
    await tx.execute("INSERT INTO t (id) VALUES (1)")
    waiting = asyncio.create_task(engine.execute("INSERT INTO t (id) VALUES (2)"))
    later = asyncio.create_task(engine.execute("INSERT INTO t (id) VALUES (3)"))
    await asyncio.sleep(0.02)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await tx.commit()
    await later
    await asyncio.sleep(0.05)
    assert await ids(engine) == [1, 3]


LONG_INSERT = (
    "INSERT INTO t (id) WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c"
    " WHERE x < 3000000) SELECT x FROM c"
)


async def test_a_cancelled_running_write_is_undone(engine: ormkit.Engine) -> None:
    """A write already running on the writer thread when its caller gives up (a
    timeout, a cancelled task) is interrupted: SQLite undoes it, as PostgreSQL's cancel
    does. It used to run on and commit behind the caller's back."""
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(engine.execute(LONG_INSERT), 0.05)
    many = [[i] for i in range(300_000)]
    task = asyncio.create_task(engine.executemany("INSERT INTO t (id) VALUES ($1)", many))
    await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0.5)  # nothing still running may commit later
    assert await ids(engine) == []
    await engine.execute("INSERT INTO t (id) VALUES (7)")  # the writer goes on
    await engine.executemany("INSERT INTO t (id) VALUES ($1)", [[8], [9]])
    assert await ids(engine) == [7, 8, 9]


async def test_a_cancelled_waiting_begin_never_takes_the_writer(engine: ormkit.Engine) -> None:
    tx = await engine.transaction()
    waiting = asyncio.create_task(engine.transaction()._begin())
    await asyncio.sleep(0.02)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await tx.rollback()
    # The writer is free at once: a new transaction is handed over without waiting.
    async with engine.transaction() as again:
        await again.execute("INSERT INTO t (id) VALUES (1)")
    assert await ids(engine) == [1]


async def test_a_transaction_dropped_without_commit_rolls_back(engine: ormkit.Engine) -> None:
    tx = await engine.transaction()
    await tx.execute("INSERT INTO t (id) VALUES (1)")
    del tx
    gc.collect()
    await engine.execute("INSERT INTO t (id) VALUES (2)")
    assert await ids(engine) == [2]


async def test_an_empty_transaction_costs_nothing(engine: ormkit.Engine) -> None:
    before = engine.stats()["transactions"]
    async with engine.transaction():
        pass
    async with engine.transaction() as tx:
        await tx.rollback()
    assert engine.stats()["transactions"] == before + 2
    assert not engine.stats()["writer_in_use"]


async def test_a_long_read_in_a_transaction_keeps_its_writes(engine: ormkit.Engine) -> None:
    # Reads in a transaction start on the loop thread under the budget; an
    # interrupted read (unlike a write) leaves the transaction intact.
    async with engine.transaction() as tx:
        await tx.execute("INSERT INTO t (id) VALUES (1)")
        assert (await tx.execute(SLOW_READ)).scalar() == 400000
        assert (await tx.execute("SELECT count(*) FROM t")).scalar() == 1
        await tx.execute("INSERT INTO t (id) VALUES (2)")
    assert await ids(engine) == [1, 2]


async def test_a_long_autocommit_write_moves_to_the_writer_thread(engine: ormkit.Engine) -> None:
    before = engine.stats()
    r = await engine.execute(
        "INSERT INTO t (id) SELECT x FROM (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL"
        " SELECT x + 1 FROM c WHERE x < 200000) SELECT x FROM c)"
    )
    after = engine.stats()
    # Interrupted on the loop thread, rolled back, run once more on the writer thread.
    assert r.rowcount == 200000
    assert after["writes"] == before["writes"] + 1
    assert after["inline_writes"] == before["inline_writes"]
    assert (await engine.execute("SELECT count(*) FROM t")).scalar() == 200000


async def test_writes_let_other_tasks_run(engine: ormkit.Engine) -> None:
    async def work() -> None:
        for i in range(50):
            await engine.execute("INSERT INTO t (id) VALUES ($1)", [i])

    progressed = await loop_passes_during(work)
    assert progressed >= 45


async def test_checkpoints_keep_the_wal_short(tmp_path: Path) -> None:
    path = tmp_path / "wal.db"
    e = await create_engine(f"sqlite:///{path}")
    await e.execute("CREATE TABLE big (id INTEGER PRIMARY KEY, b BLOB)")
    blob = os.urandom(4000)
    for i in range(3000):  # ~12 MB of pages through the WAL
        await e.execute("INSERT INTO big VALUES ($1, $2)", [i, blob])
    await asyncio.sleep(0.1)
    wal = Path(f"{path}-wal").stat().st_size
    assert wal < 8_000_000, wal
    assert (await e.execute("SELECT count(*) FROM big")).scalar() == 3000
    await e.close()


async def test_a_statement_error_inside_a_transaction_leaves_it_usable(
    engine: ormkit.Engine,
) -> None:
    async with engine.transaction() as tx:
        await tx.execute("INSERT INTO t (id) VALUES (1)")
        with pytest.raises(ormkit.IntegrityError):
            await tx.execute("INSERT INTO t (id) VALUES (1)")
        await tx.execute("INSERT INTO t (id) VALUES (2)")
    assert await ids(engine) == [1, 2]


# --- streams inside a transaction ----------------------------------------------------


async def fill(engine: ormkit.Engine, n: int) -> None:
    await engine.executemany(
        "INSERT INTO t (id, v) VALUES ($1, $2)", [[i, f"v{i}"] for i in range(1, n + 1)]
    )


async def test_stream_reads_in_batches_and_sees_the_transaction(engine: ormkit.Engine) -> None:
    await fill(engine, 10)
    async with engine.transaction() as tx:
        await tx.execute("INSERT INTO t (id, v) VALUES (11, 'mine')")
        sizes = []
        seen = []
        async for batch in tx.stream(
            "SELECT id, v FROM t WHERE id > $1 ORDER BY id", [0], batch_size=4
        ):
            sizes.append(len(batch))
            seen += batch.column("id")
        assert sizes == [4, 4, 3]
        assert seen == list(range(1, 12))
        # The writer is the transaction's again.
        assert (await tx.execute("SELECT count(*) FROM t")).scalar() == 11


async def test_statements_between_batches_work(engine: ormkit.Engine) -> None:
    await fill(engine, 9)
    async with engine.transaction() as tx:
        got = []
        async for batch in tx.stream("SELECT id FROM t ORDER BY id", batch_size=3):
            got += batch.column("id")
            # A read and a write of the same transaction, while the stream is open.
            assert (await tx.execute("SELECT count(*) FROM t WHERE id <= 3")).scalar() == 3
            await tx.execute("UPDATE t SET v = 'seen' WHERE id = $1", [got[-1]])
        assert got == list(range(1, 10))
    seen = (await engine.execute("SELECT id FROM t WHERE v = 'seen' ORDER BY id")).column("id")
    assert seen == [3, 6, 9]


async def test_one_stream_at_a_time(engine: ormkit.Engine) -> None:
    await fill(engine, 5)
    async with engine.transaction() as tx:
        first = tx.stream("SELECT id FROM t ORDER BY id", batch_size=2)
        assert len(await first.__anext__()) == 2
        second = tx.stream("SELECT id FROM t", batch_size=2)
        with pytest.raises(InterfaceError, match="another stream"):
            await second.__anext__()
        await first.aclose()
        # Closed: a new one may open.
        third = [b async for b in tx.stream("SELECT id FROM t", batch_size=10)]
        assert [len(b) for b in third] == [5]


async def test_breaking_out_of_a_stream_then_committing(engine: ormkit.Engine) -> None:
    await fill(engine, 20)
    async with engine.transaction() as tx:
        async with contextlib.aclosing(tx.stream("SELECT id FROM t", batch_size=5)) as chunks:
            async for _ in chunks:
                break
        await tx.execute("DELETE FROM t WHERE id > 10")
    assert await ids(engine) == list(range(1, 11))


async def test_a_stream_left_open_closes_with_its_transaction(engine: ormkit.Engine) -> None:
    await fill(engine, 20)
    tx = await engine.transaction()
    chunks = tx.stream("SELECT id FROM t", batch_size=5)
    assert len(await chunks.__anext__()) == 5
    await tx.execute("INSERT INTO t (id) VALUES (100)")
    await tx.commit()
    # The writer moved on: an autocommit write and a new transaction work.
    await engine.execute("INSERT INTO t (id) VALUES (101)")
    async with engine.transaction() as again:
        assert (await again.execute("SELECT count(*) FROM t")).scalar() == 22
    with pytest.raises(InterfaceError):
        await chunks.__anext__()
    await chunks.aclose()


async def test_a_cancelled_fetch_skips_no_rows(engine: ormkit.Engine) -> None:
    await fill(engine, 6)
    async with engine.transaction() as tx:
        stream = tx._live().stream("SELECT id FROM t ORDER BY id", None, 2)
        first, more = await stream.fetch()
        assert first.column("id") == [1, 2] and more
        # Queue a fetch behind a slow statement, and withdraw it before its turn.
        slow = asyncio.ensure_future(tx.execute(SLOW_READ))
        await asyncio.sleep(0)
        fetch = asyncio.ensure_future(stream.fetch())
        await asyncio.sleep(0)
        fetch.cancel()
        await slow
        nxt, more = await stream.fetch()
        assert nxt.column("id") == [3, 4]
        stream.close()


async def test_stream_rejects_writes_and_reports_errors(engine: ormkit.Engine) -> None:
    async with engine.transaction() as tx:
        with pytest.raises(ProgrammingError, match="read-only"):
            async for _ in tx.stream("DELETE FROM t RETURNING id"):
                pass
        with pytest.raises(ProgrammingError, match="no such table"):
            async for _ in tx.stream("SELECT * FROM missing"):
                pass
        await tx.execute("INSERT INTO t (id) VALUES (1)")
    assert await ids(engine) == [1]


async def test_stream_on_a_finished_transaction(engine: ormkit.Engine) -> None:
    tx = await engine.transaction()
    await tx.commit()
    with pytest.raises(InterfaceError):
        async for _ in tx.stream("SELECT 1"):
            pass


async def test_close_waits_for_the_transaction_then_closes(tmp_path: Path) -> None:
    e = await create_engine(f"sqlite:///{tmp_path / 'c.db'}", acquire_timeout=0.2)
    await e.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
    tx = await e.transaction()
    await tx.execute("INSERT INTO t VALUES (1)")
    # The transaction is never finished: close gives up waiting after acquire_timeout.
    await asyncio.wait_for(e.close(), 5)
    with pytest.raises(InterfaceError):
        await tx.execute("INSERT INTO t VALUES (2)")
    e2 = await create_engine(f"sqlite:///{tmp_path / 'c.db'}")
    assert (await e2.execute("SELECT count(*) FROM t")).scalar() == 0
    await e2.close()


# --- engine.stream (its own connection and thread) ------------------------------------


async def test_engine_stream_batches_and_end(engine: ormkit.Engine) -> None:
    await fill(engine, 7)
    got = [
        b.column("id") async for b in engine.stream("SELECT id FROM t ORDER BY id", batch_size=3)
    ]
    assert got == [[1, 2, 3], [4, 5, 6], [7]]
    stream = engine._live_backend().stream("SELECT id FROM t ORDER BY id", None, 4)
    try:
        sizes = [len(await stream.fetch()) for _ in range(5)]
        # After the last rows every fetch is answered, empty.
        assert sizes == [4, 3, 0, 0, 0]
    finally:
        stream.close()
    with pytest.raises(ProgrammingError, match="read-only"):
        async for _ in engine.stream("DELETE FROM t RETURNING id"):
            pass


async def test_a_write_interrupted_after_its_commit_is_not_run_twice(tmp_path: Path) -> None:
    """With a budget that runs out at every check, some inline INSERTs are interrupted
    by SQLite's last progress check, after their commit; each must be stored once."""
    e = await create_engine(f"sqlite:///{tmp_path / 'i.db'}", inline_budget=1e-9)
    try:
        await e.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER NOT NULL)")
        for i in range(2000):
            assert (await e.execute("INSERT INTO t (v) VALUES ($1)", [i])).rowcount == 1
        stored = (await e.execute("SELECT count(*), count(DISTINCT v) FROM t")).tuples()
        assert stored == [(2000, 2000)]
        assert e.stats()["inline_writes"] > 0 and e.stats()["writes"] > 0
    finally:
        await e.close()
