"""PostgreSQL backend: connections driven on the event-loop thread, and their pool.

The Rust ``PgProtocol`` is an asyncio protocol: asyncio hands it the bytes it receives,
Rust decodes rows into its own buffers and completes the statement's future. No thread
hop sits between sending a statement and its rows being ready (DESIGN.md).

Pool rules: a connection whose transport failed is discarded; one released while a
statement is still in flight (a cancelled await) is cancelled on the server with a
CancelRequest and drained to ReadyForQuery in the background, or closed; one released
inside a transaction is rolled back first. Idle and old connections are replaced.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from . import _ormkit
from ._ormkit import QueryResult
from .engine import Engine
from .errors import InterfaceError, InternalError, OperationalError, PoolTimeout

__all__ = ["PgBackend", "PgEngine", "PgPool", "PgTransaction", "open_pg_backend"]

logger = logging.getLogger("ormkit")

_DRAIN_TIMEOUT = 5.0
_CANCEL_TIMEOUT = 2.0
_CLOSE_CANCEL_TIMEOUT = 1.0
_portal_ids = itertools.count(1)


class _Conn:
    """A pooled connection: the Rust protocol plus pool bookkeeping."""

    __slots__ = ("created", "last_used", "proto", "transport")

    def __init__(self, proto: Any, transport: asyncio.BaseTransport) -> None:
        self.proto = proto
        self.transport = transport
        self.created = self.last_used = time.monotonic()


async def _connect(config: Any, deadline: float | None = None) -> _Conn:
    """A new connection, within ``connect_timeout`` and before ``deadline`` (a
    ``time.monotonic()`` instant, e.g. the end of an acquire) if given."""
    loop = asyncio.get_running_loop()
    proto = _ormkit.PgProtocol(config)
    target = config.display_target
    timeout = config.connect_timeout
    if deadline is not None:
        remaining = max(deadline - time.monotonic(), 0.0)
        timeout = remaining if timeout is None else min(timeout, remaining)
    try:
        async with asyncio.timeout(timeout):
            socket_path = config.socket_path
            if socket_path is not None:
                transport, _ = await loop.create_unix_connection(lambda: proto, socket_path)
            else:
                transport, _ = await loop.create_connection(lambda: proto, config.host, config.port)
            try:
                await proto.ready()
            except BaseException:
                transport.close()
                raise
    except TimeoutError:
        raise OperationalError(
            f"could not connect to {target}: timed out after {timeout:.3g} s"
        ) from None
    except OSError as exc:
        # asyncio's "Connect call failed (...)" hides the reason the errno gives.
        reason = os.strerror(exc.errno) if exc.errno else (exc.strerror or str(exc))
        raise OperationalError(f"could not connect to {target}: {reason}") from None
    return _Conn(proto, transport)


async def _send_cancel(config: Any, request: bytes, needed: Callable[[], bool]) -> bool:
    """Sends a CancelRequest on a new connection (the protocol's out-of-band cancel)
    unless ``needed()`` became false meanwhile, and waits until the server closes that
    connection: by then it has signalled the backend, so the cancel cannot land on a
    later statement of the connection. Returns False when a request was written but
    that was not confirmed: the cancel may still arrive, so the connection must not be
    reused."""
    writer = None
    written = False
    try:
        async with asyncio.timeout(_CANCEL_TIMEOUT):
            socket_path = config.socket_path
            if socket_path is not None:
                reader, writer = await asyncio.open_unix_connection(socket_path)
            else:
                reader, writer = await asyncio.open_connection(config.host, config.port)
            if not needed():
                return True
            writer.write(request)
            written = True
            await writer.drain()
            await reader.read()
        return True
    except (OSError, TimeoutError) as exc:
        logger.warning("could not send a cancel request to %s: %s", config.display_target, exc)
        return not written
    finally:
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


class PgPool:
    """Connections to one server, handed out on the event-loop thread."""

    def __init__(self, config: Any) -> None:
        self.config = config
        self.max_size: int = config.max_connections
        self.min_size: int = config.min_connections
        self.acquire_timeout: float = config.acquire_timeout
        self.max_idle_time: float | None = config.max_idle_time
        self.max_lifetime: float | None = config.max_lifetime
        # Whether connections age out (then acquire checks, release stamps them).
        self.tracks_use = self.max_idle_time is not None or self.max_lifetime is not None
        self.idle: deque[_Conn] = deque()
        self.size = 0
        self.waiters: deque[asyncio.Future[_Conn | None]] = deque()
        self.closed = False
        self.background: set[asyncio.Task[None]] = set()
        # Connections handed to a background reset (cancel, drain, rollback).
        self.resetting: set[_Conn] = set()
        self.counters = {"acquired": 0, "timeouts": 0, "discarded": 0, "cancelled": 0}
        self.loop: asyncio.AbstractEventLoop | None = None

    async def start(self) -> None:
        """Opens ``min_connections`` (at least one, so bad credentials fail here)."""
        self.loop = asyncio.get_running_loop()
        conns = []
        try:
            for _ in range(max(1, self.min_size)):
                self.size += 1
                try:
                    conns.append(await _connect(self.config))
                except BaseException:
                    self.size -= 1
                    raise
        except BaseException:
            for c in conns:
                self._discard(c)
            raise
        self.idle.extend(conns)

    def _expired(self, conn: _Conn, now: float) -> bool:
        if self.max_lifetime is not None and now - conn.created > self.max_lifetime:
            return True
        return self.max_idle_time is not None and now - conn.last_used > self.max_idle_time

    def try_acquire(self) -> _Conn | None:
        """An idle healthy connection at once, or None."""
        idle = self.idle
        while idle:
            conn = idle.pop()
            proto = conn.proto
            if proto.is_broken or (self.tracks_use and self._expired(conn, time.monotonic())):
                self._discard(conn)
                continue
            self.counters["acquired"] += 1
            return conn
        return None

    async def acquire(self) -> _Conn:
        """A connection, waiting up to ``acquire_timeout`` (then PoolTimeout)."""
        if self.closed:
            raise InterfaceError("the engine is closed")
        conn = self.try_acquire()
        if conn is not None:
            return conn
        deadline = time.monotonic() + self.acquire_timeout
        while True:
            if self.size < self.max_size:
                self.size += 1
                try:
                    # A new connection counts against acquire_timeout too.
                    conn = await _connect(self.config, deadline)
                except BaseException:
                    self.size -= 1
                    self._wake_one()
                    raise
                self.counters["acquired"] += 1
                return conn
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.counters["timeouts"] += 1
                raise PoolTimeout(
                    f"timed out after {self.acquire_timeout} s waiting for a connection "
                    f"(pool of {self.max_size}, all in use)"
                )
            fut: asyncio.Future[_Conn | None] = asyncio.get_running_loop().create_future()
            self.waiters.append(fut)
            try:
                async with asyncio.timeout(remaining):
                    await fut
            except TimeoutError:
                pass
            except BaseException:
                # Cancelled: a connection (or a free slot) handed to us as we gave
                # up goes to the next waiter instead of leaking.
                woken, handed = self._settle(fut)
                if handed is not None:
                    self.release(handed)
                elif woken:
                    self._wake_one()
                raise
            finally:
                with contextlib.suppress(ValueError):
                    self.waiters.remove(fut)
            woken, got = self._settle(fut)
            if self.closed:
                if got is not None:
                    self._discard(got)
                raise InterfaceError("the engine is closed")
            if got is not None:
                self.counters["acquired"] += 1
                return got
            conn = self.try_acquire()
            if conn is not None:
                return conn

    @staticmethod
    def _settle(fut: asyncio.Future[_Conn | None]) -> tuple[bool, _Conn | None]:
        """Whether a waiter's future was woken, and the connection it was handed.

        A future still pending is cancelled, so nobody hands it anything later."""
        if not fut.done():
            fut.cancel()
            return False, None
        if fut.cancelled():
            return False, None
        return True, fut.result()

    def _wake_one(self, conn: _Conn | None = None) -> bool:
        while self.waiters:
            fut = self.waiters.popleft()
            if not fut.done():
                fut.set_result(conn)
                return True
        return False

    def _discard(self, conn: _Conn) -> None:
        self.size -= 1
        self.counters["discarded"] += 1
        with contextlib.suppress(Exception):
            conn.proto.terminate()
        self._wake_one()

    def release(self, conn: _Conn) -> None:
        """Returns ``conn``; one in an unknown state is reset in the background or closed."""
        proto = conn.proto
        if proto.reusable and not self.closed:
            # The common case, in one call into Rust.
            if self.tracks_use:
                conn.last_used = time.monotonic()
            if not self.waiters or not self._wake_one(conn):
                self.idle.append(conn)
            return
        if self.closed or proto.is_broken:
            self._discard(conn)
            return
        if proto.begin_pending:  # a BEGIN never sent: the next user must not inherit it
            proto.cancel_begin()
        if not proto.is_idle or proto.in_transaction:
            self.resetting.add(conn)
            self._spawn(self._reset(conn))
            return
        conn.last_used = time.monotonic()
        if not self._wake_one(conn):
            self.idle.append(conn)

    def release_abandoned(self, conn: _Conn) -> None:
        """Returns the connection of a transaction dropped without commit or rollback
        (see ``PgTransaction.__del__``), from any thread: ``release`` runs on the pool's
        loop, which drops a BEGIN not yet sent and rolls back the rest in the
        background."""
        loop = self.loop
        if loop is None or loop.is_closed():
            return  # nothing left to roll back on: the loop and its sockets are gone
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(self.release, conn)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    async def _reset(self, conn: _Conn) -> None:
        """Cancels what ``conn`` still runs and rolls it back, then returns it to the
        pool, or closes it. Owned by ``self.resetting`` until then (close() closes
        connections still being reset, even if this task never got to run)."""
        try:
            reusable = await self._reset_steps(conn)
        except asyncio.CancelledError:
            if conn in self.resetting:
                self.resetting.discard(conn)
                self._discard(conn)
            raise
        except Exception as exc:
            logger.info("discarding a connection that could not be reset: %s", exc)
            reusable = False
        if conn not in self.resetting:
            return
        self.resetting.discard(conn)
        proto = conn.proto
        if not reusable or proto.is_broken or not proto.is_idle or proto.in_transaction:
            self._discard(conn)
            return
        self.release(conn)

    async def _reset_steps(self, conn: _Conn) -> bool:
        proto = conn.proto
        if not proto.is_idle:
            self.counters["cancelled"] += 1
            request = proto.cancel_request()
            if request is not None and not await _send_cancel(
                self.config, request, lambda: not proto.is_idle
            ):
                return False
            async with asyncio.timeout(_DRAIN_TIMEOUT):
                await proto.wait_idle()
        if proto.in_transaction and not proto.is_broken:
            async with asyncio.timeout(_DRAIN_TIMEOUT):
                await proto.simple("ROLLBACK")
        return True

    async def close(self) -> None:
        """Closes idle connections and those being reset now, the others as they come
        back."""
        self.closed = True
        while self.waiters:
            fut = self.waiters.popleft()
            if not fut.done():
                fut.set_result(None)
        for task in list(self.background):
            task.cancel()
        # A statement still running on the server would go on after the socket is
        # closed (a backend notices only when it next reads): cancel it first.
        requests = [c.proto.cancel_request() for c in self.resetting if not c.proto.is_idle]
        sends = [_send_cancel(self.config, r, lambda: True) for r in requests if r is not None]
        if sends:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(_CLOSE_CANCEL_TIMEOUT):
                    await asyncio.gather(*sends)
        for conn in list(self.resetting):
            self._discard(conn)
        self.resetting.clear()
        while self.idle:
            self._discard(self.idle.pop())

    def stats(self) -> dict[str, Any]:
        hits = misses = cached = 0
        for conn in self.idle:
            h, m, c = conn.proto.cache_stats()
            hits += h
            misses += m
            cached += c
        return {
            "max_size": self.max_size,
            "size": self.size,
            "idle": len(self.idle),
            "in_use": self.size - len(self.idle),
            "waiting": len(self.waiters),
            **self.counters,
            "statement_cache_hits": hits,
            "statement_cache_misses": misses,
            "statements_cached": cached,
        }


class PgBackend:
    """The engine's PostgreSQL backend: statements on pooled connections."""

    def __init__(self, pool: PgPool) -> None:
        self.pool = pool
        self.command_timeout: float | None = pool.config.command_timeout

    async def execute(self, sql: str, params: Sequence[Any] | None = None) -> Any:
        """One statement on a pooled connection. The hot path: one frame, the pool's
        common case inline (an idle connection, no ageing, no timeout)."""
        pool = self.pool
        idle = pool.idle
        if idle and not pool.tracks_use:
            conn = idle.pop()
            if conn.proto.is_broken:
                pool._discard(conn)
                conn = pool.try_acquire() or await pool.acquire()
            else:
                pool.counters["acquired"] += 1
        else:
            conn = pool.try_acquire() or await pool.acquire()
        try:
            if self.command_timeout is None:
                return await conn.proto.query(sql, params)
            return await self._run(conn.proto.query(sql, params))
        finally:
            pool.release(conn)

    async def _run(self, fut: Any) -> Any:
        if self.command_timeout is None:
            return await fut
        try:
            async with asyncio.timeout(self.command_timeout):
                return await fut
        except TimeoutError:
            raise OperationalError(
                f"statement cancelled: command_timeout of {self.command_timeout} s reached"
            ) from None

    async def executemany(self, sql: str, seq_of_params: Sequence[Sequence[Any]]) -> int:
        pool = self.pool
        conn = pool.try_acquire() or await pool.acquire()
        try:
            proto = conn.proto
            proto.begin_pipelined()
            try:
                count: int = await self._run(proto.query_many(sql, seq_of_params))
            except BaseException:
                # failed before anything was sent: release() drops the queued BEGIN
                if proto.in_transaction and proto.is_idle and not proto.is_broken:
                    await self._run(proto.simple("ROLLBACK"))
                raise
            await self._run(proto.simple("COMMIT"))
            return count
        finally:
            pool.release(conn)

    async def begin(self) -> PgTransaction:
        pool = self.pool
        conn = pool.try_acquire() or await pool.acquire()
        conn.proto.begin_pipelined()
        return PgTransaction(self, conn)

    async def close(self) -> None:
        await self.pool.close()

    def stats(self) -> dict[str, Any]:
        return self.pool.stats()


class PgEngine(Engine):
    """The Engine on PostgreSQL: ``execute`` takes the pool's common case (an idle
    connection, no ageing, no timeout, nobody listening to query events) in this one
    frame; everything else goes through the general path."""

    async def execute(self, sql: str, params: Sequence[Any] | None = None) -> QueryResult:
        backend = self._backend
        if backend is None or self._observed or backend.command_timeout is not None:
            return await Engine.execute(self, sql, params)
        pool = backend.pool
        idle = pool.idle
        if not idle or pool.tracks_use:
            return await backend.execute(sql, params)  # type: ignore[no-any-return]
        conn = idle.pop()
        proto = conn.proto
        if proto.is_broken:
            idle.append(conn)
            return await backend.execute(sql, params)  # type: ignore[no-any-return]
        pool.counters["acquired"] += 1
        try:
            return await proto.query(sql, params)  # type: ignore[no-any-return]
        finally:
            if proto.reusable and not pool.waiters and not pool.closed:
                idle.append(conn)
            else:
                pool.release(conn)


class PgTransaction:
    """A transaction holding one connection; BEGIN rides with the first statement."""

    def __init__(self, backend: PgBackend, conn: _Conn) -> None:
        self._backend = backend
        self._conn: _Conn | None = conn

    def _proto(self) -> Any:
        if self._conn is None:
            raise InterfaceError("the transaction is already finished")
        return self._conn.proto

    @property
    def finished(self) -> bool:
        return self._conn is None

    def __del__(self) -> None:
        # Dropped without commit() or rollback() (a session never closed, a transaction
        # never ended): its connection would stay checked out, in its transaction and
        # holding its locks, for good. Give it back; the pool rolls it back.
        conn = self.__dict__.get("_conn")
        if conn is None:
            return
        self._conn = None
        logger.warning(
            "a transaction was dropped without commit() or rollback(): it is rolled back "
            "and its connection returned to the pool (end transactions and close "
            "sessions, e.g. with `async with`)"
        )
        self._backend.pool.release_abandoned(conn)

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> Any:
        fut = self._proto().query(sql, params)
        backend = self._backend
        return fut if backend.command_timeout is None else backend._run(fut)

    async def executemany(self, sql: str, seq_of_params: Sequence[Sequence[Any]]) -> int:
        count: int = await self._backend._run(self._proto().query_many(sql, seq_of_params))
        return count

    async def stream(
        self, sql: str, params: Sequence[Any] | None, batch_size: int
    ) -> AsyncIterator[Any]:
        """Yields the rows of ``sql`` in QueryResult chunks of at most ``batch_size``
        rows, read from a named portal with a row limit (one round trip per chunk,
        no DECLARE CURSOR). Empty chunks are not yielded. The portal is closed when
        the iteration stops early while the transaction goes on."""
        conn = self._conn
        proto = self._proto()
        run = self._backend._run
        portal = f"ormkit_portal_{next(_portal_ids)}"
        result, more = await run(proto.portal_open(sql, params, portal, batch_size))
        try:
            if len(result):
                yield result
            while more:
                result, more = await run(self._proto().portal_fetch(portal, batch_size))
                if len(result):
                    yield result
        finally:
            if more and self._conn is conn and proto.is_idle and not proto.is_broken:
                await run(proto.portal_close(portal))

    async def _finish(self, sql: str) -> None:
        proto = self._proto()
        conn = self._conn
        assert conn is not None
        self._conn = None
        try:
            if proto.begin_pending:
                proto.cancel_begin()
            elif (
                sql == "COMMIT"
                and proto.is_idle
                and not proto.is_broken
                and proto.in_failed_transaction
            ):
                # The server would answer COMMIT with a silent rollback: say so instead
                # of reporting writes that were thrown away.
                await self._backend._run(proto.simple("ROLLBACK"))
                raise InternalError(
                    "the transaction cannot be committed: a statement in it failed, so "
                    "PostgreSQL aborted it; it was rolled back and nothing in it was "
                    "written (use a nested transaction, a SAVEPOINT, around a statement "
                    "whose failure you handle)",
                    sqlstate="25P02",
                )
            elif proto.is_idle and not proto.is_broken:
                await self._backend._run(proto.simple(sql))
            elif sql == "COMMIT":
                # Never report a commit that did not happen: the server rolls back a
                # broken connection's transaction, and the pool rolls back one whose
                # statement was interrupted.
                why = (
                    "the connection was lost"
                    if proto.is_broken
                    else "a statement of it was interrupted (cancelled or timed out)"
                )
                raise OperationalError(
                    f"the transaction cannot be committed: {why}; it was rolled back"
                )
        finally:
            self._backend.pool.release(conn)

    async def commit(self) -> None:
        await self._finish("COMMIT")

    async def rollback(self) -> None:
        await self._finish("ROLLBACK")


async def open_pg_backend(url: str, options: dict[str, Any]) -> PgBackend:
    """Parses ``url`` and ``options``, opens the pool and returns the backend."""
    # ORMKIT_SPIN_US (how long a reply wait polls before it sleeps, read by each new
    # connection) must be a whole number of microseconds
    _ormkit.check_spin_setting()
    text_options = {
        k: ("true" if v is True else "false" if v is False else str(v))
        for k, v in options.items()
        if v is not None
    }
    config = _ormkit.PgConfig(url, text_options)
    pool = PgPool(config)
    await pool.start()
    return PgBackend(pool)
