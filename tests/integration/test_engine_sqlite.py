"""The engine on real SQLite databases (files and in-memory): results, placeholders,
transactions, concurrency, durability, errors, events."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from loop_passes import loop_passes_during

import ormkit
from ormkit import (
    DataError,
    IntegrityError,
    InterfaceError,
    MultipleResultsFound,
    NoResultFound,
    OperationalError,
    ProgrammingError,
    QueryEvent,
    create_engine,
)


async def make_people(engine: ormkit.Engine) -> None:
    await engine.execute(
        "CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, age INTEGER,"
        " score REAL, photo BLOB)"
    )
    await engine.executemany(
        "INSERT INTO people (name, age, score, photo) VALUES ($1, $2, $3, $4)",
        [("ann", 31, 1.5, b"\x00\x01"), ("bob", None, 2.25, None), ("cy", 17, -3.0, b"")],
    )


async def test_every_query_result_accessor(sqlite_engine: ormkit.Engine) -> None:
    await make_people(sqlite_engine)
    r = await sqlite_engine.execute("SELECT id, name, age, score, photo FROM people ORDER BY id")
    assert r.columns == ["id", "name", "age", "score", "photo"]
    assert len(r) == 3 and r.rowcount == 3 and bool(r)
    assert r.all()[0] == {"id": 1, "name": "ann", "age": 31, "score": 1.5, "photo": b"\x00\x01"}
    assert r.tuples()[1] == (2, "bob", None, 2.25, None)
    assert r.first() == r.all()[0]
    assert r.scalar() == 1
    assert r.column("name") == ["ann", "bob", "cy"]
    assert r.column(2) == [31, None, 17]
    assert r[-1]["name"] == "cy"
    assert [row["name"] for row in r[0:2]] == ["ann", "bob"]
    assert [row["id"] for row in r] == [1, 2, 3]
    with pytest.raises(IndexError):
        r[3]
    with pytest.raises(KeyError, match="nope"):
        r.column("nope")
    with pytest.raises(MultipleResultsFound):
        r.one()
    with pytest.raises(MultipleResultsFound):
        r.one_or_none()
    one = await sqlite_engine.execute("SELECT name FROM people WHERE id = $1", [2])
    assert one.one() == {"name": "bob"} and one.one_or_none() == {"name": "bob"}
    none = await sqlite_engine.execute("SELECT name FROM people WHERE id = $1", [99])
    assert none.first() is None and none.one_or_none() is None and none.scalar() is None
    assert not none and len(none) == 0 and none.all() == [] and none.tuples() == []
    with pytest.raises(NoResultFound):
        none.one()
    upd = await sqlite_engine.execute("UPDATE people SET age = 1 WHERE age IS NOT NULL")
    assert upd.rowcount == 2 and upd.columns == []
    assert "rows=0" in repr(upd)


async def test_bool_true_false_and_numbers(sqlite_engine: ormkit.Engine) -> None:
    r = await sqlite_engine.execute(
        "SELECT $1 AS t, $2 AS f, $3 AS big, $4 AS neg, $5 AS txt",
        [True, False, 2**63 - 1, -(2**63), "žluťoučký 🐍"],
    )
    assert r.one() == {"t": 1, "f": 0, "big": 2**63 - 1, "neg": -(2**63), "txt": "žluťoučký 🐍"}


async def test_placeholders_both_styles(sqlite_engine: ormkit.Engine) -> None:
    r = await sqlite_engine.execute("SELECT $2 AS b, $1 AS a, $2 AS b2", ["x", "y"])
    assert r.one() == {"b": "y", "a": "x", "b2": "y"}
    r = await sqlite_engine.execute("SELECT ? AS a, ? AS b", ("x", 2))
    assert r.one() == {"a": "x", "b": 2}
    r = await sqlite_engine.execute("SELECT ?2 AS b, ?1 AS a", [1, 2])
    assert r.one() == {"b": 2, "a": 1}


async def test_executemany_ten_thousand_rows(sqlite_engine: ormkit.Engine) -> None:
    await sqlite_engine.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
    n = await sqlite_engine.executemany(
        "INSERT INTO t (id, v) VALUES ($1, $2)", ((i, f"v{i}") for i in range(10_000))
    )
    assert n == 10_000
    r = await sqlite_engine.execute("SELECT count(*), sum(id), max(v) FROM t")
    assert r.tuples() == [(10_000, sum(range(10_000)), "v9999")]


async def test_executemany_failure_leaves_nothing(sqlite_engine: ormkit.Engine) -> None:
    await sqlite_engine.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
    with pytest.raises(IntegrityError):
        await sqlite_engine.executemany("INSERT INTO t VALUES ($1)", [[1], [2], [1]])
    assert (await sqlite_engine.execute("SELECT count(*) FROM t")).scalar() == 0


async def test_transaction_commit(sqlite_engine: ormkit.Engine) -> None:
    await sqlite_engine.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
    async with await sqlite_engine.transaction() as tx:
        await tx.execute("INSERT INTO t VALUES ($1)", [1])
        inside = await tx.execute("SELECT count(*) FROM t")
        assert inside.scalar() == 1
        assert await tx.executemany("INSERT INTO t VALUES ($1)", [[2], [3]]) == 2
    assert (await sqlite_engine.execute("SELECT count(*) FROM t")).scalar() == 3
    assert not tx.active


async def test_transaction_rolls_back_on_exception(sqlite_engine: ormkit.Engine) -> None:
    await sqlite_engine.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
    with pytest.raises(RuntimeError, match="boom"):
        async with sqlite_engine.transaction() as tx:
            await tx.execute("INSERT INTO t VALUES ($1)", [1])
            raise RuntimeError("boom")
    assert (await sqlite_engine.execute("SELECT count(*) FROM t")).scalar() == 0
    with pytest.raises(InterfaceError, match="already committed or rolled back"):
        await tx.execute("SELECT 1")


async def test_explicit_commit_and_rollback(sqlite_engine: ormkit.Engine) -> None:
    await sqlite_engine.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
    tx = await sqlite_engine.transaction()
    await tx.execute("INSERT INTO t VALUES (1)")
    await tx.rollback()
    tx = await sqlite_engine.transaction()
    await tx.execute("INSERT INTO t VALUES (2)")
    await tx.commit()
    assert (await sqlite_engine.execute("SELECT id FROM t")).column("id") == [2]


async def test_transaction_rolls_back_on_cancellation(sqlite_engine: ormkit.Engine) -> None:
    await sqlite_engine.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
    started = asyncio.Event()

    async def writer() -> None:
        async with sqlite_engine.transaction() as tx:
            await tx.execute("INSERT INTO t VALUES ($1)", [1])
            started.set()
            await asyncio.sleep(10)

    task = asyncio.create_task(writer())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert (await sqlite_engine.execute("SELECT count(*) FROM t")).scalar() == 0
    # The writer was released: a new transaction and a plain write both work.
    async with sqlite_engine.transaction() as tx:
        await tx.execute("INSERT INTO t VALUES (2)")
    await sqlite_engine.execute("INSERT INTO t VALUES (3)")
    assert (await sqlite_engine.execute("SELECT count(*) FROM t")).scalar() == 2


async def test_cancel_during_statement_rolls_back(sqlite_engine: ormkit.Engine) -> None:
    await sqlite_engine.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")

    async def writer() -> None:
        async with sqlite_engine.transaction() as tx:
            await tx.execute("INSERT INTO t VALUES (1)")
            await tx.execute(
                "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000000)"
                " SELECT count(*) FROM c"
            )

    task = asyncio.create_task(writer())
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    async with sqlite_engine.transaction() as tx:
        assert (await tx.execute("SELECT count(*) FROM t")).scalar() == 0


async def test_twenty_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    engine = await create_engine(f"sqlite:///{tmp_path / 'w.db'}", max_connections=5)
    await engine.execute("CREATE TABLE t (task INTEGER, n INTEGER)")

    async def worker(k: int) -> None:
        for i in range(25):
            if i % 2:
                await engine.execute("INSERT INTO t VALUES ($1, $2)", [k, i])
            else:
                async with engine.transaction() as tx:
                    await tx.execute("INSERT INTO t VALUES ($1, $2)", [k, i])
            await engine.execute("SELECT count(*) FROM t WHERE task = $1", [k])

    await asyncio.gather(*(worker(k) for k in range(20)))
    r = await engine.execute("SELECT count(*), count(DISTINCT task) FROM t")
    assert r.tuples() == [(500, 20)]
    await engine.close()


async def test_two_engines_on_one_file_write_without_locked_errors(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'two.db'}"
    a = await create_engine(url)
    b = await create_engine(url)
    await a.execute("CREATE TABLE t (v INTEGER)")

    async def worker(engine: ormkit.Engine, base: int) -> None:
        for i in range(50):
            async with engine.transaction() as tx:
                await tx.execute("INSERT INTO t VALUES ($1)", [base + i])

    await asyncio.gather(worker(a, 0), worker(b, 1000))
    assert (await a.execute("SELECT count(*) FROM t")).scalar() == 100
    await a.close()
    await b.close()


KILL_SCRIPT = textwrap.dedent(
    """
    import asyncio, sys
    from ormkit import create_engine

    async def main(path):
        engine = await create_engine(f"sqlite:///{path}")
        await engine.execute(
            "CREATE TABLE IF NOT EXISTS acct (id INTEGER PRIMARY KEY, balance INTEGER)")
        if (await engine.execute("SELECT count(*) FROM acct")).scalar() == 0:
            await engine.executemany("INSERT INTO acct VALUES ($1, 100)", [[1], [2]])
        i = 0
        while True:
            async with engine.transaction() as tx:
                await tx.execute("UPDATE acct SET balance = balance - 7 WHERE id = 1")
                if i == 3:
                    print("mid", flush=True)
                await tx.execute("UPDATE acct SET balance = balance + 7 WHERE id = 2")
            i += 1

    asyncio.run(main(sys.argv[1]))
    """
)


async def test_sigkill_mid_transaction_leaves_database_consistent(tmp_path: Path) -> None:
    path = tmp_path / "kill.db"
    script = tmp_path / "killme.py"
    script.write_text(KILL_SCRIPT)
    for _ in range(3):
        proc = subprocess.Popen(
            [sys.executable, str(script), str(path)], stdout=subprocess.PIPE, text=True
        )
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "mid"
        await asyncio.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        proc.stdout.close()
        engine = await create_engine(f"sqlite:///{path}")
        r = await engine.execute("SELECT sum(balance), count(*) FROM acct")
        assert r.tuples() == [(200, 2)]
        check = await engine.execute("PRAGMA integrity_check")
        assert check.scalar() == "ok"
        await engine.close()


async def test_memory_database_is_shared_by_every_pooled_connection() -> None:
    engine = await create_engine("sqlite::memory:", max_connections=4)
    await engine.execute("CREATE TABLE t (v INTEGER)")
    await engine.executemany("INSERT INTO t VALUES ($1)", [[i] for i in range(100)])
    # Long reads move to reader threads: every one of them sees the same table.
    slow = (
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 200000)"
        " SELECT (SELECT count(*) FROM t) AS n, count(*) AS k FROM c"
    )
    results = await asyncio.gather(*(engine.execute(slow) for _ in range(6)))
    assert {r.first()["n"] for r in results} == {100}  # type: ignore[index]
    assert engine.stats()["readers_open"] >= 2
    other = await create_engine("sqlite::memory:")
    with pytest.raises(ProgrammingError, match="no such table"):
        await other.execute("SELECT * FROM t")
    await other.close()
    await engine.close()


async def test_memory_database_in_a_transaction_of_the_same_task_fails_at_once(
    tmp_path: Path,
) -> None:
    """The shared in-memory database is locked by an open transaction until it ends:
    a statement the same task runs on the engine beside it could only wait (30 s, then
    PoolTimeout), so it is refused at once; other tasks wait for the commit."""
    engine = await create_engine("sqlite::memory:", max_connections=4)
    try:
        await engine.execute("CREATE TABLE m (v INTEGER)")
        async with engine.transaction() as tx:
            await tx.execute("INSERT INTO m VALUES (1)")
            loop = asyncio.get_running_loop()
            started = loop.time()
            for attempt in (
                lambda: engine.execute("SELECT count(*) FROM m"),
                lambda: engine.executemany("INSERT INTO m VALUES ($1)", [[2]]),
                lambda: engine.transaction().__aenter__(),
            ):
                with pytest.raises(
                    InterfaceError, match="transaction open on this sqlite::memory:"
                ):
                    await attempt()
            assert loop.time() - started < 1.0
            other = asyncio.ensure_future(engine.execute("SELECT count(*) FROM m"))
            await asyncio.sleep(0.05)
            assert not other.done()  # another task waits for the commit
            await tx.execute("INSERT INTO m VALUES (3)")
        assert (await other).scalar() == 2
        assert (await engine.execute("SELECT count(*) FROM m")).scalar() == 2
        # the holder is released by a rollback too, and by a commit from another task
        with pytest.raises(RuntimeError):
            async with engine.transaction():
                raise RuntimeError
        tx = await engine.transaction()
        await asyncio.ensure_future(tx.commit())
        assert engine._holders == {}
        assert (await engine.execute("SELECT count(*) FROM m")).scalar() == 2
    finally:
        await engine.close()
    # a file database reads beside the transaction (WAL): nothing is refused
    filed = await create_engine(f"sqlite:///{tmp_path / 'side.db'}")
    try:
        await filed.execute("CREATE TABLE m (v INTEGER)")
        async with filed.transaction() as tx:
            await tx.execute("INSERT INTO m VALUES (1)")
            assert (await filed.execute("SELECT count(*) FROM m")).scalar() == 0
    finally:
        await filed.close()


async def test_error_classes_carry_sql_and_parameters(sqlite_engine: ormkit.Engine) -> None:
    await make_people(sqlite_engine)
    with pytest.raises(IntegrityError) as integrity:
        await sqlite_engine.execute("INSERT INTO people (name) VALUES ($1)", ["ann"])
    err = integrity.value
    assert err.sql == "INSERT INTO people (name) VALUES ($1)"
    assert err.params == "['ann']"
    assert "UNIQUE" in err.message and "[SQL: INSERT INTO people" in str(err)
    with pytest.raises(ProgrammingError) as syntax:
        await sqlite_engine.execute("SELEC 1")
    assert syntax.value.sql == "SELEC 1"
    with pytest.raises(ProgrammingError, match="no such table"):
        await sqlite_engine.execute("SELECT * FROM missing WHERE id = $1", [1])
    with pytest.raises(IntegrityError, match="NOT NULL"):
        await sqlite_engine.execute("INSERT INTO people (name) VALUES (NULL)")
    long_value = "x" * 500
    with pytest.raises(IntegrityError) as shortened:
        await sqlite_engine.execute(
            "INSERT INTO people (id, name) VALUES ($1, $2)", [1, long_value]
        )
    assert shortened.value.params is not None and len(shortened.value.params) < 120
    assert isinstance(shortened.value, ormkit.DatabaseError)
    assert isinstance(shortened.value, ormkit.Error)


HOLD_LOCK = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.readline()
conn.execute("ROLLBACK")
"""


async def test_busy_database_is_an_operational_error(tmp_path: Path) -> None:
    # The lock holder runs in another process: two copies of SQLite in one process
    # (stdlib sqlite3 and ormkit's bundled one) do not see each other's POSIX locks.
    path = tmp_path / "busy.db"
    engine = await create_engine(f"sqlite:///{path}", busy_timeout=0.2)
    await engine.execute("CREATE TABLE t (v INTEGER)")
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdin is not None
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(OperationalError, match="locked"):
            await engine.execute("INSERT INTO t VALUES (1)")
    finally:
        holder.communicate("\n", timeout=10)
    await engine.execute("INSERT INTO t VALUES (1)")
    assert (await engine.execute("SELECT count(*) FROM t")).scalar() == 1
    await engine.close()


async def test_bad_parameters_give_clear_errors_and_leave_engine_usable(
    sqlite_engine: ormkit.Engine,
) -> None:
    await sqlite_engine.execute("CREATE TABLE t (v INTEGER)")
    with pytest.raises(DataError, match="does not fit in a signed 64-bit integer"):
        await sqlite_engine.execute("INSERT INTO t VALUES ($1)", [2**64])
    with pytest.raises(ProgrammingError, match="takes 2 parameters, 1 was given") as count:
        await sqlite_engine.execute("SELECT $1, $2", [1])
    assert count.value.sqlstate == "SQLITE_25" and count.value.sql == "SELECT $1, $2"
    with pytest.raises(ProgrammingError, match="takes 0 parameters, 1 was given"):
        await sqlite_engine.execute("SELECT 1", [1])
    with pytest.raises(ProgrammingError, match="type object is not supported"):
        await sqlite_engine.execute("INSERT INTO t VALUES ($1)", [object()])
    with pytest.raises(ProgrammingError, match="must be a list or tuple"):
        await sqlite_engine.execute("INSERT INTO t VALUES ($1)", "1")  # type: ignore[arg-type]
    with pytest.raises(DataError):
        await sqlite_engine.executemany("INSERT INTO t VALUES ($1)", [[1], [2**70]])
    assert (await sqlite_engine.execute("SELECT count(*) FROM t")).scalar() == 0
    await sqlite_engine.execute("INSERT INTO t VALUES ($1)", [5])
    assert (await sqlite_engine.execute("SELECT v FROM t")).scalar() == 5


async def test_injection_in_values_is_just_data(sqlite_engine: ormkit.Engine) -> None:
    await sqlite_engine.execute("CREATE TABLE t (v TEXT)")
    evil = "x'); DROP TABLE t; --"
    await sqlite_engine.execute("INSERT INTO t VALUES ($1)", [evil])
    nul = "a\x00b"
    await sqlite_engine.execute("INSERT INTO t VALUES ($1)", [nul])
    assert (await sqlite_engine.execute("SELECT v FROM t")).column("v") == [evil, nul]


async def test_closed_engine_raises_interface_error(sqlite_path: Path) -> None:
    engine = await create_engine(f"sqlite:///{sqlite_path}")
    await engine.close()
    with pytest.raises(InterfaceError, match="closed"):
        await engine.execute("SELECT 1")
    await engine.close()
    assert engine.stats() == {"closed": True}


async def test_async_with_engine_closes(sqlite_path: Path) -> None:
    async with await create_engine(f"sqlite:///{sqlite_path}") as engine:
        assert engine.dialect == "sqlite"
        assert (await engine.execute("SELECT 1")).scalar() == 1
    with pytest.raises(InterfaceError):
        await engine.execute("SELECT 1")


async def test_query_events_fire_once_per_statement(sqlite_engine: ormkit.Engine) -> None:
    events: list[QueryEvent] = []
    callback = sqlite_engine.events.on("query", events.append)
    await sqlite_engine.execute("CREATE TABLE t (v INTEGER)")
    await sqlite_engine.execute("INSERT INTO t VALUES ($1), ($2)", [1, 2])
    await sqlite_engine.execute("SELECT v FROM t")
    async with sqlite_engine.transaction() as tx:
        await tx.execute("DELETE FROM t WHERE v = $1", [1])
    with pytest.raises(ProgrammingError):
        await sqlite_engine.execute("SELECT nope FROM t")
    assert [e.sql for e in events] == [
        "CREATE TABLE t (v INTEGER)",
        "INSERT INTO t VALUES ($1), ($2)",
        "SELECT v FROM t",
        "DELETE FROM t WHERE v = $1",
        "SELECT nope FROM t",
    ]
    assert [e.param_count for e in events] == [0, 2, 0, 1, 0]
    assert [e.rowcount for e in events] == [0, 2, 2, 1, -1]
    assert all(e.duration >= 0 and e.cache_hit is False for e in events)
    assert isinstance(events[-1].error, ProgrammingError)
    sqlite_engine.events.off("query", callback)
    await sqlite_engine.execute("SELECT 1")
    assert len(events) == 5
    with pytest.raises(ValueError, match="unknown event"):
        sqlite_engine.events.on("nope", events.append)
    with pytest.raises(ValueError, match="not listening"):
        sqlite_engine.events.off("query", callback)


async def test_echo_logs_through_logging(
    sqlite_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    engine = await create_engine(f"sqlite:///{sqlite_path}", echo=True)
    with caplog.at_level(logging.INFO, logger="ormkit"):
        await engine.execute("SELECT $1 AS v", ["secret-ish value"])
    records = [r for r in caplog.records if r.name == "ormkit"]
    assert len(records) == 1
    assert "SELECT $1 AS v" in records[0].getMessage()
    assert "ms" in records[0].getMessage()
    await engine.close()


async def test_url_forms_and_options(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    engine = await create_engine("sqlite:///rel.db?max_connections=3")
    await engine.execute("CREATE TABLE t (v INTEGER)")
    await engine.close()
    assert (tmp_path / "rel.db").exists()
    engine = await create_engine(f"sqlite+aiosqlite:///{tmp_path / 'rel.db'}")
    assert (await engine.execute("SELECT count(*) FROM t")).scalar() == 0
    await engine.close()
    engine = await create_engine("sqlite://:memory:")
    assert (await engine.execute("SELECT 1")).scalar() == 1
    await engine.close()
    with pytest.raises(ValueError, match="unknown engine option 'bogus'"):
        await create_engine("sqlite::memory:", bogus=1)
    with pytest.raises(ValueError, match="invalid value"):
        await create_engine("sqlite::memory:?max_connections=lots")
    with pytest.raises(ValueError, match="unsupported database 'mysql'"):
        await create_engine("mysql://u:hunter2@h/db")
    with pytest.raises(ValueError) as exc:
        await create_engine("mysql://u:hunter2@h/db")
    assert "hunter2" not in str(exc.value)
    with pytest.raises(ValueError, match="no host"):
        await create_engine("sqlite://host/x.db")
    with pytest.raises(OperationalError):
        await create_engine(f"sqlite:///{tmp_path / 'no' / 'such' / 'dir.db'}")


async def test_pool_timeout_when_writer_is_held(sqlite_path: Path) -> None:
    engine = await create_engine(f"sqlite:///{sqlite_path}", acquire_timeout=0.2)
    await engine.execute("CREATE TABLE t (v INTEGER)")
    tx = await engine.transaction()
    with pytest.raises(ormkit.PoolTimeout, match="timed out"):
        await engine.execute("INSERT INTO t VALUES (1)")
    assert engine.stats()["timeouts"] == 1
    await tx.rollback()
    await engine.execute("INSERT INTO t VALUES (1)")
    await engine.close()


async def test_schema_changes_by_the_writer_are_routed_correctly(
    sqlite_engine: ormkit.Engine,
) -> None:
    # The reader that routes statements has seen table t; after the writer drops it,
    # renaming another table to t must still work (it goes to the writer).
    await sqlite_engine.execute("CREATE TABLE t (v INTEGER)")
    await sqlite_engine.execute("INSERT INTO t VALUES (1)")
    assert (await sqlite_engine.execute("SELECT count(*) FROM t")).scalar() == 1
    await sqlite_engine.execute("CREATE TABLE tmp (v INTEGER, w TEXT)")
    await sqlite_engine.execute("INSERT INTO tmp VALUES (2, 'x')")
    await sqlite_engine.execute("DROP TABLE t")
    await sqlite_engine.execute("ALTER TABLE tmp RENAME TO t")
    assert (await sqlite_engine.execute("SELECT v, w FROM t")).tuples() == [(2, "x")]


EXIT_SCRIPT = textwrap.dedent(
    """
    import asyncio, sys
    from ormkit import create_engine

    async def main(path):
        engine = await create_engine(f"sqlite:///{path}")
        async with engine.transaction() as tx:
            await tx.execute("CREATE TABLE IF NOT EXISTS t (x INTEGER)")
        await engine.execute("INSERT INTO t VALUES (1)")
        await engine.close()

    asyncio.run(main(sys.argv[1]))
    print("done", flush=True)
    """
)


def test_interpreter_exits_cleanly_after_close(tmp_path: Path) -> None:
    # No Rust thread may be inside Python while the interpreter shuts down.
    script = tmp_path / "exit.py"
    script.write_text(EXIT_SCRIPT)
    for i in range(15):
        out = subprocess.run(
            [sys.executable, str(script), str(tmp_path / f"e{i}.db")],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == "done"


@pytest.mark.parametrize("where", ["engine", "transaction", "observed"])
async def test_inline_reads_do_not_starve_other_tasks(
    sqlite_engine: ormkit.Engine, where: str
) -> None:
    await sqlite_engine.execute("CREATE TABLE t (v INTEGER)")
    if where == "observed":  # the path that times statements for event listeners
        sqlite_engine.events.on("query", lambda event: None)

    async def work() -> None:
        if where == "transaction":
            async with sqlite_engine.transaction() as tx:
                for _ in range(1000):
                    await tx.execute("SELECT count(*) FROM t")
        else:
            for _ in range(1000):
                await sqlite_engine.execute("SELECT count(*) FROM t")

    progressed = await loop_passes_during(work)
    # One loop pass every 32 reads that ran at once (src/py/sqlite.rs).
    assert progressed >= 1000 // 32 - 1


async def test_deeply_nested_list_parameter_is_a_clear_error(
    sqlite_engine: ormkit.Engine,
) -> None:
    deep: list[object] = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(DataError, match="nested deeper than 256 levels"):
        await sqlite_engine.execute("SELECT $1", [deep])
    shallow: list[object] = [1]
    for _ in range(200):
        shallow = [shallow]
    assert (await sqlite_engine.execute("SELECT length($1)", [shallow])).scalar() > 200


async def test_conversion_errors_name_the_statement(sqlite_engine: ormkit.Engine) -> None:
    with pytest.raises(DataError) as exc:
        await sqlite_engine.execute("SELECT $1, $2", [1, 2**64])
    assert exc.value.sql == "SELECT $1, $2"
    assert exc.value.params is not None and "18446744073709551616" in exc.value.params
    assert "[SQL: SELECT $1, $2]" in str(exc.value)
    async with sqlite_engine.transaction() as tx:
        with pytest.raises(ProgrammingError) as bad_type:
            await tx.execute("SELECT $1", [object()])
    assert bad_type.value.sql == "SELECT $1"
