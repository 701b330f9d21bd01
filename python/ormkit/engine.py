"""The Engine: a pool of connections to one database, and raw SQL on it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterable, Sequence
from types import TracebackType
from typing import Any

from . import _ormkit
from ._ormkit import QueryResult
from ._url import parse_url, redact_url
from .errors import ArgumentError, InterfaceError
from .events import EventBus, QueryEvent

__all__ = ["Engine", "Transaction", "create_engine"]

logger = logging.getLogger("ormkit")

_FLOAT_OPTIONS = {
    "connect_timeout",
    "command_timeout",
    "acquire_timeout",
    "max_idle_time",
    "max_lifetime",
    "busy_timeout",
    "inline_budget",
}
_INT_OPTIONS = {"statement_cache_size", "min_connections", "max_connections"}
_BOOL_OPTIONS = {"echo", "allow_trust"}
_STR_OPTIONS = {"sslmode", "sslrootcert", "application_name"}
_KNOWN_OPTIONS = _FLOAT_OPTIONS | _INT_OPTIONS | _BOOL_OPTIONS | _STR_OPTIONS


def _coerce(name: str, value: Any) -> Any:
    if name not in _KNOWN_OPTIONS:
        raise ArgumentError(
            f"unknown engine option {name!r}; known: {', '.join(sorted(_KNOWN_OPTIONS))}"
        )
    if value is None:
        return None
    try:
        if name in _BOOL_OPTIONS:
            if isinstance(value, str):
                low = value.lower()
                if low in ("1", "true", "yes", "on"):
                    return True
                if low in ("0", "false", "no", "off"):
                    return False
                raise ValueError(value)
            return bool(value)
        if name in _INT_OPTIONS:
            if isinstance(value, bool):
                raise ValueError(value)
            out = int(value)
            if out < 0:
                raise ValueError(value)
            return out
        if name in _FLOAT_OPTIONS:
            outf = float(value)
            if not outf >= 0:
                raise ValueError(value)
            return outf
        return str(value)
    except (TypeError, ValueError):
        raise ArgumentError(f"invalid value {value!r} for engine option {name!r}") from None


def _echo_logging() -> None:
    if logger.level == logging.NOTSET or logger.level > logging.INFO:
        logger.setLevel(logging.INFO)
    if not logger.hasHandlers():
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s ormkit %(message)s"))
        logger.addHandler(handler)


def _shorten(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _params_text(params: Any) -> str:
    if not params:
        return "()"
    items = list(params)
    shown = ", ".join(_shorten(v) for v in items[:10])
    if len(items) > 10:
        shown += f", ... {len(items) - 10} more"
    return f"({shown})"


async def create_engine(
    url: str, *, min_connections: int = 1, max_connections: int = 10, **options: Any
) -> Engine:
    """Opens an engine for ``url`` (``postgresql://...`` or ``sqlite:///file.db``).

    Options may also be given in the URL's query string; keywords win.
    """
    parsed = parse_url(url)
    merged: dict[str, Any] = {}
    for key, value in parsed.options.items():
        merged[key] = _coerce(key, value)
    merged.setdefault("min_connections", min_connections)
    merged.setdefault("max_connections", max_connections)
    if min_connections != 1:
        merged["min_connections"] = _coerce("min_connections", min_connections)
    if max_connections != 10:
        merged["max_connections"] = _coerce("max_connections", max_connections)
    for key, value in options.items():
        merged[key] = _coerce(key, value)
    if merged["max_connections"] < 1:
        raise ArgumentError("max_connections must be at least 1")
    if merged["min_connections"] > merged["max_connections"]:
        raise ArgumentError("min_connections cannot be larger than max_connections")
    backend: Any
    if parsed.dialect == "sqlite":
        path = parsed.sqlite_path
        if path is not None:
            path = os.path.abspath(path)
        backend = await _ormkit.SqliteBackend.open(
            path,
            max_connections=merged["max_connections"],
            busy_timeout=merged.get("busy_timeout") or 5.0,
            acquire_timeout=merged.get("acquire_timeout") or 30.0,
            inline_budget=merged.get("inline_budget", 0.002),
        )
    else:
        from ._pg import PgEngine, open_pg_backend

        backend = await open_pg_backend(url, merged)
        return PgEngine(parsed.dialect, url, backend, merged)
    return Engine(parsed.dialect, url, backend, merged, memory=path is None)


def _held_by_this_task() -> InterfaceError:
    return InterfaceError(
        "this task has a transaction open on this sqlite::memory: engine: the shared "
        "in-memory database is locked until it ends, so a statement run on the engine "
        "beside it would wait forever; run it through the transaction (tx.execute), or "
        "end the transaction first"
    )


class Engine:
    """A pool of connections to one database. Create it with ``await create_engine(url)``."""

    def __init__(
        self, dialect: str, url: str, backend: Any, options: dict[str, Any], *, memory: bool = False
    ) -> None:
        self.dialect = dialect
        self._url = redact_url(url)
        self._backend: Any = backend
        self._options = options
        #: on a ``sqlite::memory:`` engine, the tasks holding an open transaction (and how
        #: many): the shared in-memory database is locked until it ends, so anything else
        #: the same task runs on the engine meanwhile could only wait forever
        self._holders: dict[asyncio.Task[Any], int] | None = {} if memory else None
        self._echo = bool(options.get("echo"))
        self.events = EventBus(self._refresh_observed)
        self._observed = False
        self._refresh_observed()
        if self._echo:
            _echo_logging()

    def _refresh_observed(self) -> None:
        self._observed = self._echo or self.events.has_listeners()

    @property
    def url(self) -> str:
        """The URL with its password hidden."""
        return self._url

    def __repr__(self) -> str:
        return f"<Engine {self.dialect} {self._url}>"

    def _live_backend(self) -> Any:
        backend = self._backend
        if backend is None:
            raise InterfaceError("the engine is closed")
        holders = self._holders
        if holders and asyncio.current_task() in holders:
            raise _held_by_this_task()
        return backend

    def _hold(self, task: asyncio.Task[Any], delta: int) -> None:
        """``task`` began (1) or ended (-1) a transaction (memory engines)."""
        holders = self._holders
        if holders is None:
            return
        count = holders.get(task, 0) + delta
        if count > 0:
            holders[task] = count
        else:
            holders.pop(task, None)

    async def execute(self, sql: str, params: Sequence[Any] | None = None) -> QueryResult:
        """Runs one statement with ``$1..$N`` (or, on SQLite, ``?``) placeholders."""
        backend = self._backend
        if backend is None or self._holders:
            backend = self._live_backend()
        if self._observed:
            return await self._observe(backend.execute, sql, params)
        result = backend.execute(sql, params)
        # A QueryResult ran at once on this thread (a short SQLite read); the backend
        # hands every 32nd such read in a row as an awaitable that lets the loop run.
        if result.__class__ is not QueryResult:
            result = await result
        return result  # type: ignore[no-any-return]

    async def _insert_keys(
        self, sql: str, returning_sql: str, params: list[Any], table: str, key: str, rows: int
    ) -> QueryResult:
        """SQLite only: the multi-row INSERT ``returning_sql`` (``… RETURNING key``, the
        integer key left to SQLite), answered as it would be, but run as ``sql`` (the same
        without RETURNING) with the keys worked out where SQLite allows it: RETURNING
        costs SQLite a temporary table of the returned rows. Reported to listeners and
        errors as ``returning_sql``."""
        backend = self._backend
        if backend is None or self._holders:
            backend = self._live_backend()

        def run(statement: str, values: Sequence[Any] | None) -> Any:
            return backend.insert_keys(sql, statement, values, table, key, rows)

        if self._observed:
            return await self._observe(run, returning_sql, params)
        result = run(returning_sql, params)
        if result.__class__ is not QueryResult:
            result = await result
        return result  # type: ignore[no-any-return]

    async def _observe(
        self, run: Callable[..., Any], sql: str, params: Sequence[Any] | None
    ) -> QueryResult:
        started = time.perf_counter()
        try:
            result = run(sql, params)
            if result.__class__ is not QueryResult:
                result = await result
        except BaseException as exc:
            self._report(sql, params, -1, time.perf_counter() - started, False, exc)
            raise
        self._report(
            sql, params, result.rowcount, time.perf_counter() - started, result.cache_hit, None
        )
        return result  # type: ignore[no-any-return]

    def _report(
        self,
        sql: str,
        params: Any,
        rowcount: int,
        duration: float,
        cache_hit: bool,
        error: BaseException | None,
    ) -> None:
        count = len(params) if params is not None and hasattr(params, "__len__") else 0
        if self._echo:
            if error is None:
                logger.info(
                    "%s %s -> %d rows in %.3f ms",
                    sql,
                    _params_text(params),
                    rowcount,
                    duration * 1000,
                )
            else:
                logger.info(
                    "%s %s -> failed in %.3f ms: %s",
                    sql,
                    _params_text(params),
                    duration * 1000,
                    type(error).__name__,
                )
        if self.events.has_listeners():
            self.events.emit(QueryEvent(sql, count, rowcount, duration, cache_hit, error))

    async def executemany(self, sql: str, seq_of_params: Iterable[Sequence[Any]]) -> int:
        """Runs ``sql`` once per parameter set, in one transaction; returns rows affected."""
        backend = self._live_backend()
        params = list(seq_of_params)
        if not self._observed:
            return await backend.executemany(sql, params)  # type: ignore[no-any-return]
        started = time.perf_counter()
        try:
            count: int = await backend.executemany(sql, params)
        except BaseException as exc:
            self._report(sql, None, -1, time.perf_counter() - started, False, exc)
            raise
        self._report(sql, None, count, time.perf_counter() - started, False, None)
        return count

    async def stream(
        self, sql: str, params: Sequence[Any] | None = None, *, batch_size: int = 1000
    ) -> AsyncIterator[QueryResult]:
        """Yields the rows of a read-only statement in batches of ``batch_size``, with
        bounded memory: a stepping statement on its own connection on SQLite, a named
        portal read with a row limit inside a transaction on PostgreSQL (one round
        trip per batch). Never LIMIT/OFFSET."""
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        backend = self._live_backend()
        if self.dialect == "sqlite":
            stream = backend.stream(sql, params, batch_size)
            try:
                while True:
                    batch = await stream.fetch()
                    if not batch:
                        return
                    yield batch
            finally:
                stream.close()
        else:
            async with self.transaction() as tx:
                chunks = tx._live().stream(sql, params, batch_size)
                async with contextlib.aclosing(chunks):
                    async for batch in chunks:
                        yield batch

    def transaction(self) -> Transaction:
        """A transaction: ``async with await engine.transaction() as tx:`` (or without
        ``await``). Commits on normal exit, rolls back on any exception, cancellation
        included."""
        self._live_backend()
        return Transaction(self)

    async def close(self) -> None:
        """Closes every connection; the engine cannot be used afterwards."""
        backend, self._backend = self._backend, None
        if backend is not None:
            await backend.close()

    async def __aenter__(self) -> Engine:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def create_all(self, models: Iterable[type[Any]] | None = None) -> None:
        """Creates the tables and indexes of ``models`` (default: every registered model)
        that do not exist yet, in foreign-key order, in one transaction. Never alters."""
        from .sql.ddl import create_all_sql

        statements = create_all_sql(list(models) if models is not None else None, self.dialect)
        async with self.transaction() as tx:
            for sql in statements:
                await tx.execute(sql)

    async def drop_all(self, models: Iterable[type[Any]] | None = None) -> None:
        """Drops the tables of ``models`` (default: every registered model) that exist,
        referencing tables first, in one transaction."""
        from .sql.ddl import drop_all_sql

        statements = drop_all_sql(list(models) if models is not None else None, self.dialect)
        async with self.transaction() as tx:
            for sql in statements:
                await tx.execute(sql)

    async def get_tables(self) -> list[str]:
        """Names of the user tables in the database (migrations use this)."""
        from .schema.introspect import get_tables

        return await get_tables(self)

    async def get_columns(self, table: str) -> list[dict[str, Any]]:
        """Columns of ``table``: name, type, nullable, default, primary_key."""
        from .schema.introspect import get_columns

        return await get_columns(self, table)

    async def get_indexes(self, table: str) -> list[dict[str, Any]]:
        """Indexes of ``table``: name, columns, unique."""
        from .schema.introspect import get_indexes

        return await get_indexes(self, table)

    async def get_constraints(self, table: str) -> list[dict[str, Any]]:
        """Constraints of ``table``: primary key, unique and foreign keys."""
        from .schema.introspect import get_constraints

        return await get_constraints(self, table)

    def stats(self) -> dict[str, Any]:
        """Pool counters (and statement-cache counters on PostgreSQL)."""
        backend = self._backend
        if backend is None:
            return {"closed": True}
        out: dict[str, Any] = dict(backend.stats())
        out["closed"] = False
        return out


class Transaction:
    """One database transaction on one connection.

    ``await engine.transaction()`` begins it; ``async with`` commits on normal exit and
    rolls back on any exception (``asyncio.CancelledError`` included).
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._tx: Any = None
        self._done = False
        #: the task that began it, on a memory engine (see ``Engine._holders``)
        self._holder: asyncio.Task[Any] | None = None

    async def _begin(self) -> Transaction:
        if self._tx is None:
            engine = self._engine
            tx = engine._live_backend().begin()
            # SQLite hands the transaction over at once when the writer is free.
            if tx.__class__ is not _ormkit.SqliteTransaction:
                tx = await tx
            self._tx = tx
            if engine._holders is not None:
                self._holder = asyncio.current_task()
                if self._holder is not None:
                    engine._hold(self._holder, 1)
        return self

    def _release(self) -> None:
        """The transaction is ending: its task no longer holds the engine."""
        task, self._holder = self._holder, None
        if task is not None:
            self._engine._hold(task, -1)

    def __del__(self) -> None:
        # Dropped without commit or rollback: the backend's transaction rolls back on
        # its own (the SQLite writer when its Rust object goes, PostgreSQL's in
        # PgTransaction.__del__), and its task must stop holding a memory engine, or
        # everything that task runs on the engine afterwards is refused.
        if self.__dict__.get("_holder") is not None:
            self._release()

    def __await__(self) -> Generator[Any, None, Transaction]:
        return self._begin().__await__()

    async def __aenter__(self) -> Transaction:
        return await self._begin()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._done or self._tx is None:
            return
        if exc_type is None:
            await self.commit()
        else:
            await self._rollback_shielded()

    async def _rollback_shielded(self) -> None:
        self._done = True
        self._release()
        fut = self._tx.rollback()
        try:
            await asyncio.shield(fut)
        except asyncio.CancelledError:
            # The rollback goes on in the background; the writer is released when it ends.
            raise

    def _live(self) -> Any:
        if self._tx is None:
            raise InterfaceError("the transaction has not begun: await it or use async with")
        if self._done:
            raise InterfaceError("the transaction is already committed or rolled back")
        return self._tx

    async def execute(self, sql: str, params: Sequence[Any] | None = None) -> QueryResult:
        """Runs one statement inside the transaction."""
        tx = self._live()
        engine = self._engine
        if engine._observed:
            return await engine._observe(tx.execute, sql, params)
        result = tx.execute(sql, params)
        if result.__class__ is not QueryResult:  # else it ran at once (see Engine.execute)
            result = await result
        return result  # type: ignore[no-any-return]

    async def stream(
        self, sql: str, params: Sequence[Any] | None = None, *, batch_size: int = 1000
    ) -> AsyncIterator[QueryResult]:
        """Yields the rows of a read-only statement in batches of at most
        ``batch_size`` rows, inside this transaction (so its own writes are seen), with
        bounded memory: a named portal read with a row limit on PostgreSQL, the
        statement stepped on the writer connection on SQLite. Empty batches are not
        yielded.

        Other statements of the transaction may run while the stream is open, between
        batches, in the order they are awaited. On SQLite one stream at a time per
        transaction (opening a second one raises ``InterfaceError``), and whether rows
        not read yet reflect writes made meanwhile is up to SQLite. The stream closes
        when read to the end, when the iteration stops (``break``, an exception,
        cancellation; use ``contextlib.aclosing`` to close it at once), and when the
        transaction ends. Cancelling a fetch that did not start yet reads nothing."""
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        tx = self._live()
        if self._engine.dialect != "sqlite":
            chunks = tx.stream(sql, params, batch_size)
            async with contextlib.aclosing(chunks):
                async for batch in chunks:
                    yield batch
            return
        stream = tx.stream(sql, params, batch_size)
        try:
            more = True
            while more:
                batch, more = await stream.fetch()
                if batch:
                    yield batch
        finally:
            stream.close()

    async def executemany(self, sql: str, seq_of_params: Iterable[Sequence[Any]]) -> int:
        """Runs ``sql`` once per parameter set inside the transaction."""
        return await self._live().executemany(sql, list(seq_of_params))  # type: ignore[no-any-return]

    async def commit(self) -> None:
        """Commits; the connection goes back to the pool whatever happens."""
        tx = self._live()
        self._done = True
        self._release()
        await tx.commit()

    async def rollback(self) -> None:
        """Rolls back; the connection goes back to the pool whatever happens."""
        self._live()
        await self._rollback_shielded()

    @property
    def active(self) -> bool:
        """True between begin and commit/rollback."""
        return self._tx is not None and not self._done


def run_sync(coro: Awaitable[Any]) -> Any:
    """Runs a coroutine to completion (for scripts and the CLI)."""
    return asyncio.run(coro)  # type: ignore[arg-type]
