"""``AsyncSession``: one unit of work on one real database transaction at a time.

A session holds a connection only while a transaction is open: from ``begin()`` (or
the first flush) to commit or rollback. Reads outside a transaction run on the
engine's pool. Active-record calls (``insert``, ``update``, ``remove`` …) are each
their own transaction unless one is open, in which case they join it.

``begin()``/``transaction()`` commit on exit and roll back on any exception,
cancellation included; nested ``begin()`` uses SAVEPOINTs. A rollback reaches the
database and the objects: rows inserted at that level lose their generated keys and
leave the session, updated objects get their previous values back.

A session belongs to one task at a time: an operation started while another task's
operation (or ``begin()`` block) is in progress raises ``InterfaceError``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncGenerator, AsyncIterator, Iterable, Iterator, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from ormkit.errors import InterfaceError, NoResultFound
from ormkit.orm import loading, strategies
from ormkit.orm.mixins import utcnow
from ormkit.orm.results import Result
from ormkit.orm.state import Journal, identity_key, model_pk
from ormkit.orm.unit_of_work import UnitOfWork
from ormkit.query import Query, soft_delete_column, soft_delete_condition
from ormkit.sql import Delete, Insert, Select, Update, pk_condition, select

if TYPE_CHECKING:
    from ormkit._ormkit import QueryResult
    from ormkit.engine import Engine, Transaction
    from ormkit.types import Converter

__all__ = ["AsyncSession", "SessionTransaction", "session_context"]

T = TypeVar("T")

_cursor_ids = itertools.count(1)


class _Level:
    """One transaction level: the transaction itself or a SAVEPOINT."""

    __slots__ = ("journal", "savepoint")

    def __init__(self, savepoint: str | None) -> None:
        self.savepoint = savepoint
        self.journal = Journal()


class SessionTransaction:
    """``async with session.begin() as tx``: commits on exit, rolls back on exception.

    ``tx.add``, ``tx.add_all`` and ``tx.delete`` work on the session; ``tx.commit()``
    and ``tx.rollback()`` end the block's transaction (or SAVEPOINT) early.
    """

    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self._level: _Level | None = None
        self._owner = False

    async def __aenter__(self) -> SessionTransaction:
        session = self._session
        with session._using():
            self._level = await session._begin_level()
        if session._owner is None:
            session._owner = asyncio.current_task()
            self._owner = True
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if exc_type is None:
                await self.commit()
            else:
                await self._rollback()
        finally:
            if self._owner:
                self._session._owner = None

    def _active(self) -> bool:
        return self._level is not None and self._level in self._session._levels

    def add(self, obj: Any) -> None:
        """Mark ``obj`` for insertion."""
        self._session.add(obj)

    def add_all(self, objs: Iterable[Any]) -> None:
        """Mark every object for insertion."""
        self._session.add_all(objs)

    async def delete(self, obj: Any) -> None:
        """Mark ``obj`` for deletion."""
        await self._session.delete(obj)

    async def commit(self) -> None:
        """Flush, then COMMIT (or RELEASE the SAVEPOINT)."""
        if not self._active():
            return
        session = self._session
        assert self._level is not None
        with session._using():
            try:
                await session._flush_now()
                await session._commit_level(self._level)
            except BaseException:
                if self._active():
                    await session._rollback_level(self._level)
                raise

    async def _rollback(self) -> None:
        if self._active():
            assert self._level is not None
            await self._session._rollback_level(self._level)

    async def rollback(self) -> None:
        """ROLLBACK (or roll back to the SAVEPOINT); objects get their old values."""
        with self._session._using():
            await self._rollback()


class AsyncSession:
    """Unit of work and active-record calls on an engine (see the module doc)."""

    def __init__(self, engine: Engine, *, autoflush: bool = True) -> None:
        self.engine = engine
        self.dialect: str = engine.dialect
        #: flush pending changes before a query runs
        self.autoflush = autoflush
        self._uow = UnitOfWork(self.dialect)
        self._tx: Transaction | None = None
        self._levels: list[_Level] = []
        self._savepoints = itertools.count(1)
        self._owner: asyncio.Task[Any] | None = None
        self._busy: asyncio.Task[Any] | None = None
        self._depth = 0

    def __repr__(self) -> str:
        state = "in transaction" if self._tx is not None else "idle"
        return f"<AsyncSession {self.dialect} {state}, {len(self._uow.identity)} objects>"

    async def __aenter__(self) -> AsyncSession:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- one task at a time -----------------------------------------------------------

    @contextlib.contextmanager
    def _using(self) -> Iterator[None]:
        task = asyncio.current_task()
        for holder, what in ((self._busy, "an operation"), (self._owner, "a begin() block")):
            if holder is not None and holder is not task:
                raise InterfaceError(
                    f"this AsyncSession is in use by another task ({what} is in progress); "
                    "a session serves one task at a time: give each task its own session"
                )
        self._busy = task
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
            if self._depth == 0:
                self._busy = None

    # -- transaction levels -----------------------------------------------------------

    @property
    def in_transaction(self) -> bool:
        """Whether a database transaction is open (and a connection held)."""
        return self._tx is not None

    def _set_levels(self) -> None:
        self._uow.journal = self._levels[-1].journal if self._levels else None

    async def _begin_level(self) -> _Level:
        if self._tx is None:
            tx = self.engine.transaction()
            await tx
            self._tx = tx
            level = _Level(None)
        else:
            name = f"ormkit_sp_{next(self._savepoints)}"
            await self._tx.execute(f"SAVEPOINT {name}")
            level = _Level(name)
        self._levels.append(level)
        self._set_levels()
        return level

    async def _commit_level(self, level: _Level) -> None:
        tx = self._tx
        assert tx is not None
        if level.savepoint is None:
            self._tx = None
            self._levels.clear()
            self._set_levels()
            await tx.commit()
            return
        await tx.execute(f"RELEASE SAVEPOINT {level.savepoint}")
        index = self._levels.index(level)
        for inner in self._levels[index:]:
            inner.journal.merge_into(self._levels[index - 1].journal)
        del self._levels[index:]
        self._set_levels()

    async def _rollback_level(self, level: _Level) -> None:
        tx = self._tx
        if tx is None or level not in self._levels:
            return
        index = self._levels.index(level)
        if level.savepoint is not None:
            try:
                await asyncio.shield(tx.execute(f"ROLLBACK TO SAVEPOINT {level.savepoint}"))
                await tx.execute(f"RELEASE SAVEPOINT {level.savepoint}")
            except BaseException:
                await self._rollback_level(self._levels[0])
                raise
            for inner in reversed(self._levels[index:]):
                self._uow.undo(inner.journal)
            del self._levels[index:]
            self._set_levels()
            return
        levels = list(self._levels)
        self._tx = None
        self._levels.clear()
        self._set_levels()
        try:
            await tx.rollback()
        finally:
            for inner in reversed(levels):
                self._uow.undo(inner.journal)

    @contextlib.asynccontextmanager
    async def _writing(self) -> AsyncIterator[Transaction]:
        """The open transaction, or a new one committed when the block ends. A failure
        outside a ``begin()`` block rolls the whole transaction back."""
        if self._tx is not None:
            try:
                yield self._tx
            except BaseException:
                if self._owner is None and self._levels:
                    await self._rollback_level(self._levels[0])
                raise
            return
        level = await self._begin_level()
        assert self._tx is not None
        try:
            yield self._tx
        except BaseException:
            await self._rollback_level(level)
            raise
        await self._commit_level(level)

    def begin(self) -> SessionTransaction:
        """``async with session.begin() as tx:`` a transaction (a SAVEPOINT when one is
        already open) committed on exit and rolled back on any exception."""
        return SessionTransaction(self)

    def transaction(self) -> SessionTransaction:
        """Same as :meth:`begin`."""
        return SessionTransaction(self)

    # -- unit of work -----------------------------------------------------------------

    def add(self, obj: Any) -> None:
        """Insert ``obj`` at the next flush."""
        self._uow.add(obj)

    def add_all(self, objs: Iterable[Any]) -> None:
        """Insert every object at the next flush."""
        for obj in objs:
            self._uow.add(obj)

    async def delete(self, obj: Any) -> None:
        """Delete ``obj``'s row at the next flush (a pending object is just dropped).
        On a soft-delete model, the flush sets ``deleted_at`` instead."""
        name = soft_delete_column(type(obj))
        if name is not None and id(obj) not in self._uow.new:
            obj.__dict__[name] = utcnow()
            return
        self._uow.mark_deleted(obj)

    def expunge(self, obj: Any) -> None:
        """Stop tracking ``obj``."""
        self._uow.forget(obj)

    def expunge_all(self) -> None:
        """Stop tracking every object."""
        self._uow.clear()

    def __contains__(self, obj: Any) -> bool:
        state = self._uow.state_of(obj)
        return (state is not None and state.persistent) or id(obj) in self._uow.new

    @property
    def new(self) -> list[Any]:
        """Objects waiting to be inserted."""
        return list(self._uow.new.values())

    @property
    def dirty(self) -> list[Any]:
        """Tracked objects with unflushed changes."""
        return [state.obj for state in self._uow.dirty_states()]

    async def _flush_now(self) -> None:
        uow = self._uow
        if not uow.new and not uow.deleted and not uow.dirty_states():
            return
        async with self._writing_keep() as tx:
            await uow.flush(tx)

    @contextlib.asynccontextmanager
    async def _writing_keep(self) -> AsyncIterator[Transaction]:
        """The open transaction, or a new one that stays open (a flush autobegins)."""
        if self._tx is None:
            await self._begin_level()
        assert self._tx is not None
        try:
            yield self._tx
        except BaseException:
            if self._owner is None and self._levels:
                await self._rollback_level(self._levels[0])
            raise

    async def flush(self) -> None:
        """Write pending inserts, changes and deletes (beginning a transaction if none
        is open; it stays open until commit or rollback)."""
        with self._using():
            await self._flush_now()

    async def commit(self) -> None:
        """Flush and COMMIT the open transaction (every level of it)."""
        with self._using():
            await self._flush_now()
            if self._levels:
                await self._commit_level(self._levels[0])

    async def rollback(self) -> None:
        """ROLLBACK the open transaction; objects get back their committed values and
        pending inserts and deletes are dropped."""
        with self._using():
            if self._levels:
                await self._rollback_level(self._levels[0])
            self._uow.revert_unflushed()

    async def close(self) -> None:
        """Roll back anything uncommitted, release the connection, forget every object."""
        with self._using():
            if self._levels:
                await self._rollback_level(self._levels[0])
            self._uow.clear()

    # -- reading ----------------------------------------------------------------------

    def _runner(self) -> Any:
        return self._tx if self._tx is not None else self.engine

    async def _autoflush(self) -> None:
        if self.autoflush:
            await self._flush_now()

    async def _load(
        self, model: type[Any], stmt: Select, plan: dict[str, loading.PlanNode]
    ) -> list[Any]:
        with self._using():
            stmt.to_sql(self.dialect)  # bad names fail here, before any flush
            await self._autoflush()
            objs, _extra = await strategies.load_objects(self, model, stmt, plan)
            return _unique(objs)

    async def _scalar(self, stmt: Select, converter: Converter = None) -> Any:
        with self._using():
            sql, params = stmt.to_sql(self.dialect)
            await self._autoflush()
            result = await self._runner().execute(sql, params)
            if converter is None or not result:
                return result.scalar()
            return loading.plain_tuples(result, (converter,))[0][0]

    async def _values(self, stmt: Select, *, tuples: bool) -> list[Any]:
        with self._using():
            sql, params = stmt.to_sql(self.dialect)
            await self._autoflush()
            result = await self._runner().execute(sql, params)
            converters = stmt.result_converters(self.dialect)
            if tuples:
                return loading.plain_tuples(result, converters)
            return loading.plain_rows(result, converters)

    async def _write_count(self, stmt: Update | Delete) -> int:
        with self._using():
            sql, params = stmt.to_sql(self.dialect)
            await self._autoflush()
            async with self._writing() as tx:
                result = await tx.execute(sql, params)
            return result.rowcount

    async def _stream(
        self, model: type[Any], stmt: Select, batch_size: int
    ) -> AsyncGenerator[list[Any], None]:
        with self._using():
            sql, params = stmt.to_sql(self.dialect)
            await self._autoflush()
            if self.dialect == "postgresql":
                batches = self._pg_cursor(sql, params, batch_size)
            else:
                batches = self._sqlite_batches(sql, params, batch_size)
            async with contextlib.aclosing(batches):
                async for result in batches:
                    yield loading.hydrate_untracked(self._uow, model, result)

    async def _pg_cursor(
        self, sql: str, params: list[Any], batch_size: int
    ) -> AsyncGenerator[QueryResult, None]:
        """A server-side cursor read ``batch_size`` rows at a time, in the session's
        transaction or in one of its own."""
        name = f"ormkit_cursor_{next(_cursor_ids)}"
        async with contextlib.AsyncExitStack() as stack:
            tx = self._tx
            if tx is None:
                tx = await stack.enter_async_context(self.engine.transaction())
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
                if tx.active and tx is self._tx:
                    with contextlib.suppress(Exception):
                        await asyncio.shield(tx.execute(f"CLOSE {name}"))

    async def _sqlite_batches(
        self, sql: str, params: list[Any], batch_size: int
    ) -> AsyncGenerator[QueryResult, None]:
        """SQLite, until the engine can step a statement: the rows are copied once into
        a private temporary table on the writer connection (temporary tables live with
        their connection, in SQLite's temp storage), then read back ``batch_size`` rows
        at a time by that table's rowid ranges, never LIMIT/OFFSET over the query. Each
        read is a short transaction of its own (or part of the session's), so writes
        between batches are not blocked."""
        name = f"ormkit_stream_{next(_cursor_ids)}"
        await self._on_writer(f"CREATE TEMP TABLE {name} AS {sql}", params)
        try:
            fetch = f"SELECT * FROM temp.{name} WHERE rowid > ? AND rowid <= ?"
            start = 0
            while True:
                result = await self._on_writer(fetch, [start, start + batch_size])
                if result:
                    yield result
                if len(result) < batch_size:
                    break
                start += batch_size
        finally:
            with contextlib.suppress(Exception):
                await asyncio.shield(self._on_writer(f"DROP TABLE IF EXISTS temp.{name}"))

    async def _on_writer(self, sql: str, params: Sequence[Any] | None = None) -> QueryResult:
        """Run on SQLite's writer connection: in the session's transaction or a new one."""
        if self._tx is not None:
            return await self._tx.execute(sql, params)
        async with self.engine.transaction() as tx:
            return await tx.execute(sql, params)

    def query(self, model: type[T]) -> Query[T]:
        """A fluent query on ``model`` (see :class:`ormkit.query.Query`)."""
        return Query(self, model)

    async def get(self, model: type[T], pk: Any) -> T | None:
        """The object with primary key ``pk`` (a tuple for a composite key), from the
        identity map when it is there, else from the database; None if not found."""
        m: Any = model
        names = model_pk(m)
        values = pk if len(names) > 1 else (pk,)
        if isinstance(values, dict):
            values = tuple(values[n] for n in names)
        key = identity_key(m, dict(zip(names, values, strict=False)))
        found = self._uow.identity.get(key) if key is not None else None
        deleted = soft_delete_column(m)
        if found is not None:
            if deleted is not None and found.__dict__.get(deleted) is not None:
                return None
            return found  # type: ignore[no-any-return]
        stmt = select(m).where(pk_condition(m, pk))
        extra = soft_delete_condition(m, "exclude")
        if extra is not None:
            stmt = stmt.where(extra)
        rows = await self._load(m, stmt, loading.build_plan(m, ()))
        return rows[0] if rows else None

    async def get_or_raise(self, model: type[T], pk: Any) -> T:
        """Like :meth:`get`, raising ``NoResultFound`` when there is no such row."""
        found = await self.get(model, pk)
        if found is None:
            name = getattr(model, "__name__", repr(model))
            raise NoResultFound(f"no {name} with primary key {pk!r}")
        return found

    async def refresh(self, obj: T) -> T:
        """Reload ``obj``'s columns from the database (local changes are discarded)."""
        with self._using():
            model: Any = type(obj)
            state = self._uow.state_of(obj)
            source = state.snapshot if state is not None and state.persistent else obj.__dict__
            pk = tuple(source.get(k) for k in model_pk(model))
            stmt = select(model).where(pk_condition(model, pk if len(pk) > 1 else pk[0]))
            sql, params = stmt.to_sql(self.dialect)
            result = await self._runner().execute(sql, params)
            converters = model.__ormkit_converters__(self.dialect, result.columns)
            rows = result.to_models(model, converters)
            if not rows:
                raise NoResultFound(f"{obj!r} no longer exists")
            obj.__dict__.update(rows[0].__dict__)
            self._uow.attach(obj)
            return obj

    async def load_related(self, objs: Any, *names: str) -> Any:
        """Load the relationships ``names`` (paths like ``"posts.comments"``) of one
        object or a list of objects, one query per level; returns ``objs``."""
        with self._using():
            items = list(objs) if isinstance(objs, list | tuple) else [objs]
            options = [loading.selectinload(name) for name in names]
            groups: dict[type[Any], list[Any]] = {}
            for obj in items:
                groups.setdefault(type(obj), []).append(obj)
            for model, group in groups.items():
                plan = loading.build_plan(model, options, defaults=False)
                await strategies.run_plan(self, model, group, plan)
            return objs

    async def execute_raw(self, sql: str, params: Sequence[Any] | None = None) -> QueryResult:
        """Run raw SQL (in the open transaction, if any) and return its QueryResult."""
        with self._using():
            result: QueryResult = await self._runner().execute(sql, params)
            return result

    async def execute(self, statement: Select | Insert | Update | Delete) -> Result:
        """Run a statement built with ``select``/``insert``/``update``/``delete``.

        ``select(Model)`` rows hold tracked instances (``result.scalars().all()``)."""
        if isinstance(statement, Select):
            return await self._execute_select(statement)
        if not isinstance(statement, Insert | Update | Delete):
            raise TypeError(f"execute() takes a select/insert/update/delete, got {statement!r}")
        with self._using():
            sql, params = statement.to_sql(self.dialect)
            await self._autoflush()
            async with self._writing() as tx:
                result = await tx.execute(sql, params)
            rows = loading.plain_tuples(result, statement.result_converters(self.dialect))
            return Result(rows, statement.result_columns, result.rowcount)

    async def _execute_select(self, stmt: Select) -> Result:
        entities = stmt._entities
        if len(entities) == 1 and isinstance(entities[0], type):
            model: Any = entities[0]
            objs = await self._load(model, stmt, loading.build_plan(model, ()))
            return Result([(o,) for o in objs], [model.__name__], len(objs))
        with self._using():
            sql, params = stmt.to_sql(self.dialect)
            await self._autoflush()
            result = await self._runner().execute(sql, params)
            rows = loading.plain_tuples(result, stmt.result_converters(self.dialect))
            return Result(rows, stmt.result_columns, len(rows))

    # -- active record ----------------------------------------------------------------

    async def insert(self, obj: T) -> T:
        """INSERT ``obj``; generated keys and server defaults are set on it."""
        await self.insert_all([obj])
        return obj

    async def insert_all(self, objs: Iterable[T]) -> list[T]:
        """INSERT every object in one transaction, as multi-row statements batched
        under the bind-parameter limit; each object gets its generated key."""
        items = list(objs)
        if not items:
            return items
        with self._using():
            async with self._writing() as tx:
                await self._uow.insert(tx, items)
        return items

    async def update(self, obj: T, **values: Any) -> T:
        """Set ``values`` on ``obj`` and UPDATE its changed columns (version checked)."""
        with self._using():
            async with self._writing() as tx:
                await self._uow.update(tx, obj, values)
        return obj

    async def bulk_update(
        self, model: type[Any], values: dict[str, Any], *conditions: Any, **filters: Any
    ) -> int:
        """UPDATE every row of ``model`` matching ``conditions``/``filters``; returns
        how many rows changed."""
        return await self.query(model).filter(*conditions, **filters).update(**values)

    async def remove(self, obj: Any) -> None:
        """DELETE ``obj``'s row (on a soft-delete model: set ``deleted_at``)."""
        await self.remove_all([obj])

    async def remove_all(self, objs: Iterable[Any]) -> None:
        """DELETE the rows of every object in one transaction (soft-delete models get
        ``deleted_at`` set instead)."""
        items = list(objs)
        soft = [o for o in items if soft_delete_column(type(o)) is not None]
        hard = [o for o in items if soft_delete_column(type(o)) is None]
        with self._using():
            async with self._writing() as tx:
                for obj in soft:
                    name = soft_delete_column(type(obj))
                    assert name is not None
                    await self._uow.update(tx, obj, {name: utcnow()})
                if hard:
                    await self._uow.delete(tx, hard)

    async def force_delete(self, obj: Any) -> None:
        """DELETE ``obj``'s row, also on a soft-delete model."""
        with self._using():
            async with self._writing() as tx:
                await self._uow.delete(tx, [obj])

    def _soft_column(self, obj: Any) -> str:
        name = soft_delete_column(type(obj))
        if name is None:
            raise TypeError(f"{type(obj).__name__} has no SoftDeleteMixin")
        return name

    async def soft_delete(self, obj: T) -> T:
        """Set ``deleted_at`` (SoftDeleteMixin): queries no longer return the row."""
        return await self.update(obj, **{self._soft_column(obj): utcnow()})

    async def restore(self, obj: T) -> T:
        """Clear ``deleted_at``: the row is visible again."""
        return await self.update(obj, **{self._soft_column(obj): None})

    async def upsert(
        self,
        obj: T,
        conflict_target: str | Sequence[str],
        update_fields: Sequence[str] | None = None,
    ) -> T:
        """INSERT, or UPDATE the row that conflicts on ``conflict_target``; ``obj``
        gets the stored row."""
        await self.upsert_all([obj], conflict_target, update_fields)
        return obj

    async def upsert_all(
        self,
        objs: Iterable[T],
        conflict_target: str | Sequence[str],
        update_fields: Sequence[str] | None = None,
    ) -> list[T]:
        """:meth:`upsert` for many objects of one model, batched, in one transaction."""
        items = list(objs)
        if not items:
            return items
        target = [conflict_target] if isinstance(conflict_target, str) else list(conflict_target)
        fields = [update_fields] if isinstance(update_fields, str) else update_fields
        with self._using():
            async with self._writing() as tx:
                await self._uow.upsert(tx, items, target, fields)
        return items


def _unique(objs: list[Any]) -> list[Any]:
    """``objs`` without repeats (a joined collection repeats its parent), in order."""
    if len(objs) < 2:
        return objs
    seen: set[int] = set()
    out = []
    for obj in objs:
        if id(obj) not in seen:
            seen.add(id(obj))
            out.append(obj)
    return out


@contextlib.asynccontextmanager
async def session_context(engine: Engine, **options: Any) -> AsyncIterator[AsyncSession]:
    """``async with session_context(engine) as session:`` commits on success, rolls
    back on error, and closes the session either way."""
    session = AsyncSession(engine, **options)
    try:
        yield session
    except BaseException:
        await session.rollback()
        raise
    else:
        await session.commit()
    finally:
        await session.close()
