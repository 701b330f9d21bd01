"""``Query.stream()``: rows in batches with bounded memory, never LIMIT/OFFSET.

Outside a session transaction, ``engine.stream()``: a named portal read with a row
limit on PostgreSQL, a stepping statement on its own connection on SQLite. Inside the
session's transaction (so that its own writes are seen), the transaction's
``stream()``: the same portal on PostgreSQL, the statement stepped on the writer
connection on SQLite. Batches are hydrated in Rust; streamed objects are not added to
the identity map (rows already in it give their object).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING, Any

from ormkit.orm import loading

if TYPE_CHECKING:
    from ormkit._ormkit import QueryResult
    from ormkit.orm.transaction import SessionBase
    from ormkit.sql import Select

__all__ = ["engine_batches", "stream_objects", "transaction_batches"]


async def stream_objects(
    session: SessionBase, model: type[Any], stmt: Select, batch_size: int
) -> AsyncGenerator[list[Any], None]:
    with session._using():
        sql, params = stmt.to_sql(session.dialect)
        await session._autoflush()
        batches: AsyncGenerator[QueryResult, None]
        if session._tx is None:
            batches = engine_batches(session, sql, params, batch_size)
        else:
            batches = transaction_batches(session, sql, params, batch_size)
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


async def transaction_batches(
    session: SessionBase, sql: str, params: list[Any], batch_size: int
) -> AsyncGenerator[QueryResult, None]:
    """The session transaction's own stream (its writes are visible)."""
    tx = session._tx
    assert tx is not None
    chunks = tx.stream(sql, params, batch_size=batch_size)
    async with contextlib.aclosing(chunks):  # type: ignore[type-var]
        async for result in chunks:
            yield result
