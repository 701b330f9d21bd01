"""``Query.stream()``: rows in batches with bounded memory, never LIMIT/OFFSET.

Outside a session transaction, ``engine.stream()``: a named portal read with a row
limit on PostgreSQL, a stepping statement on its own connection on SQLite. Inside the
session's transaction (so that its own writes are seen): a server-side cursor
(``DECLARE … NO SCROLL CURSOR`` then ``FETCH FORWARD n``) on PostgreSQL, and on SQLite
a private temporary table on the writer read back by rowid ranges (see
:func:`sqlite_batches`). Batches are hydrated in Rust; streamed objects are not added to
the identity map (rows already in it give their object).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncGenerator, Sequence
from typing import TYPE_CHECKING, Any

from ormkit.orm import loading

if TYPE_CHECKING:
    from ormkit._ormkit import QueryResult
    from ormkit.orm.transaction import SessionBase
    from ormkit.sql import Select

__all__ = ["engine_batches", "pg_cursor", "sqlite_batches", "stream_objects"]

_cursor_ids = itertools.count(1)


async def stream_objects(
    session: SessionBase, model: type[Any], stmt: Select, batch_size: int
) -> AsyncGenerator[list[Any], None]:
    with session._using():
        sql, params = stmt.to_sql(session.dialect)
        await session._autoflush()
        batches: AsyncGenerator[QueryResult, None]
        if session._tx is None:
            batches = engine_batches(session, sql, params, batch_size)
        elif session.dialect == "postgresql":
            batches = pg_cursor(session, sql, params, batch_size)
        else:
            batches = sqlite_batches(session, sql, params, batch_size)
        async with contextlib.aclosing(batches):
            async for result in batches:
                yield loading.hydrate_untracked(session._uow, model, result)


async def engine_batches(
    session: SessionBase, sql: str, params: list[Any], batch_size: int
) -> AsyncGenerator[QueryResult, None]:
    """``engine.stream()``: a connection (and on PostgreSQL a transaction) of its own."""
    chunks = session.engine.stream(sql, params, batch_size=batch_size)
    async with contextlib.aclosing(chunks):  # type: ignore[type-var]
        async for result in chunks:
            yield result


async def pg_cursor(
    session: SessionBase, sql: str, params: list[Any], batch_size: int
) -> AsyncGenerator[QueryResult, None]:
    """A server-side cursor read ``batch_size`` rows at a time, in the session's
    transaction or in one of its own."""
    name = f"ormkit_cursor_{next(_cursor_ids)}"
    async with contextlib.AsyncExitStack() as stack:
        tx = session._tx
        if tx is None:
            tx = await stack.enter_async_context(session.engine.transaction())
        await tx.execute(f"DECLARE {name} NO SCROLL CURSOR FOR {sql}", params)
        fetch = f"FETCH FORWARD {int(batch_size)} FROM {name}"
        try:
            while True:
                result = await tx.execute(fetch)
                if result:
                    yield result
                if len(result) < batch_size:
                    break
        finally:
            if tx.active and tx is session._tx:
                with contextlib.suppress(Exception):
                    await asyncio.shield(tx.execute(f"CLOSE {name}"))


async def sqlite_batches(
    session: SessionBase, sql: str, params: list[Any], batch_size: int
) -> AsyncGenerator[QueryResult, None]:
    """SQLite, until the engine can step a statement: the rows are copied once into
    a private temporary table on the writer connection (temporary tables live with
    their connection, in SQLite's temp storage), then read back ``batch_size`` rows
    at a time by that table's rowid ranges, never LIMIT/OFFSET over the query. Each
    read is a short transaction of its own (or part of the session's), so writes
    between batches are not blocked."""
    name = f"ormkit_stream_{next(_cursor_ids)}"
    await on_writer(session, f"CREATE TEMP TABLE {name} AS {sql}", params)
    try:
        fetch = f"SELECT * FROM temp.{name} WHERE rowid > ? AND rowid <= ?"
        start = 0
        while True:
            result = await on_writer(session, fetch, [start, start + batch_size])
            if result:
                yield result
            if len(result) < batch_size:
                break
            start += batch_size
    finally:
        with contextlib.suppress(Exception):
            await asyncio.shield(on_writer(session, f"DROP TABLE IF EXISTS temp.{name}"))


async def on_writer(
    session: SessionBase, sql: str, params: Sequence[Any] | None = None
) -> QueryResult:
    """Run on SQLite's writer connection: in the session's transaction or a new one."""
    if session._tx is not None:
        return await session._tx.execute(sql, params)
    async with session.engine.transaction() as tx:
        return await tx.execute(sql, params)
