"""Transactions of a session: levels (the transaction, then SAVEPOINTs) and begin().

``SessionBase`` holds what every session operation needs: the engine, the unit of work,
the open engine transaction (if any) with its stack of levels, and the guard that lets
one task at a time use the session. ``begin()`` returns a :class:`SessionTransaction`:
BEGIN (or SAVEPOINT when one is open) on entry, COMMIT (or RELEASE) on normal exit,
ROLLBACK (or ROLLBACK TO SAVEPOINT) on any exception, cancellation included.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from asyncio import current_task
from collections.abc import AsyncIterator, Generator, Iterable, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar, cast

from ormkit.errors import InterfaceError
from ormkit.orm.state import Journal
from ormkit.orm.unit_of_work import UnitOfWork

if TYPE_CHECKING:
    from ormkit._ormkit import QueryResult
    from ormkit.engine import Engine, Transaction
    from ormkit.orm.session import AsyncSession

__all__ = ["SessionBase", "SessionTransaction", "check_expire_on_commit", "not_an_engine"]

T = TypeVar("T")


class _Level:
    """One transaction level: the transaction itself or a SAVEPOINT."""

    __slots__ = ("held", "journal", "savepoint")

    def __init__(self, savepoint: str | None) -> None:
        self.savepoint = savepoint
        self.journal = Journal()
        #: whether a ``begin()`` block ends it (else a flush began it, and a commit or
        #: rollback of the session does)
        self.held = False


class SessionTransaction:
    """``async with session.begin() as tx``: commits on exit, rolls back on exception.

    ``tx.add``, ``tx.add_all``, ``tx.delete`` and ``tx.merge`` work on the session;
    ``tx.commit()`` and ``tx.rollback()`` end the block's transaction (or SAVEPOINT) early.

    As in SQLAlchemy, it may also be awaited instead of entered: ``tx = await
    session.begin()`` (or ``begin_nested()``) begins it, and ``await tx.commit()`` or
    ``await tx.rollback()`` ends it. Until then it belongs to the task that began it,
    as a block does (see ``SessionBase._using``).
    """

    def __init__(self, session: SessionBase, *, nested: bool = False) -> None:
        self._session = session
        self._level: _Level | None = None
        self._owner = False
        #: always a SAVEPOINT (``begin_nested()``), never the outer transaction
        self._nested = nested

    def __await__(self) -> Generator[Any, None, SessionTransaction]:
        return self._start(awaited=True).__await__()

    async def __aenter__(self) -> SessionTransaction:
        return await self._start(awaited=False)

    async def _start(self, *, awaited: bool) -> SessionTransaction:
        session = self._session
        if self._active():
            # begun already (``async with await session.begin():``): the block ends it
            if not awaited and session._owner_tx is self:
                session._owner_tx = None
            return self
        with session._using():
            levels = session._levels
            if self._nested:
                if not levels:
                    # the transaction the SAVEPOINT lives in, begun as a flush begins
                    # one: the session's commit() or rollback() ends it (SQLAlchemy's
                    # autobegin)
                    await session._begin_level()
                await session._flush_now()
                self._level = await session._begin_level()
            elif len(levels) == 1 and not levels[0].held:
                # A flush began the transaction: the block takes it over (its exit
                # commits what was flushed before it too), rather than nesting a
                # SAVEPOINT in a transaction that nothing would commit.
                self._level = levels[0]
            else:
                if levels:
                    # Objects pending in the enclosing level are its own: written
                    # before the SAVEPOINT, a failure of this block leaves them be.
                    await session._flush_now()
                self._level = await session._begin_level()
            self._level.held = True
        owner = session._owner
        task = asyncio.current_task()
        if owner is None or (owner is not task and owner.done()):
            session._owner = task
            self._owner = True
            # awaited, no block ends it: the ownership goes when its level ends
            session._owner_tx = self if awaited else None
        return self

    @property
    def is_active(self) -> bool:
        """Whether this transaction (or SAVEPOINT) is begun and not ended yet."""
        return self._active()

    @property
    def nested(self) -> bool:
        """Whether this is a SAVEPOINT (``begin_nested()``, or ``begin()`` inside
        another transaction) rather than the outer transaction."""
        return self._level is not None and self._level.savepoint is not None

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if exc_type is None:
                if self._active() or self._level is None or self._level.savepoint is not None:
                    await self.commit()
                else:
                    # The block's transaction was committed early (``tx.commit()`` or
                    # ``session.commit()``): what the block did after it is committed
                    # on exit too, as the block promises, rather than left pending.
                    await self._session._commit_all()
            else:
                await self._rollback()
        finally:
            if self._owner:
                self._owner = False
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

    async def merge(self, obj: T, *, load: bool = True) -> T:
        """The session's instance for ``obj``'s row, with ``obj``'s state copied onto it
        (see ``AsyncSession.merge``)."""
        return await cast("AsyncSession", self._session).merge(obj, load=load)

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


class _Guard:
    """The context manager of ``SessionBase._using`` (a class: cheaper than a generator)."""

    __slots__ = ("session",)

    def __init__(self, session: SessionBase) -> None:
        self.session = session

    def __enter__(self) -> None:
        session = self.session
        task = current_task()
        busy = session._busy
        if busy is not None and busy is not task:
            _in_use("an operation")
        owner = session._owner
        if owner is not None and owner is not task and not owner.done():
            # (a task that ended leaves no block open: only an awaited transaction it
            # did not end, which the session's commit/rollback/close may end elsewhere)
            _in_use("a begin() block")
        session._busy = task
        session._depth += 1

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        session = self.session
        session._depth -= 1
        if session._depth == 0:
            session._busy = None
            waiters = session._idle_waiters
            if waiters is not None:
                session._idle_waiters = None
                for waiter in waiters:
                    if not waiter.done():
                        waiter.set_result(None)


def _in_use(what: str) -> NoReturn:
    raise InterfaceError(
        f"this AsyncSession is in use by another task ({what} is in progress); "
        "a session serves one task at a time: give each task its own session"
    )


def check_expire_on_commit(value: Any) -> None:
    """Refuse ``expire_on_commit=True``: ormkit never expires objects. After a commit
    they keep the values last loaded or written (what SQLAlchemy's
    ``expire_on_commit=False`` gives), and nothing is reloaded behind the caller's back;
    ``session.refresh(obj)`` reloads one explicitly."""
    if value is False:
        return
    if value is True:
        raise ValueError(
            "expire_on_commit=True is not supported: ormkit never expires objects; after "
            "a commit they keep the values they were loaded or written with (as with "
            "SQLAlchemy's expire_on_commit=False), and session.refresh(obj) reloads one. "
            "Pass expire_on_commit=False or leave it out"
        )
    raise TypeError(f"expire_on_commit must be a bool, got {value!r}")


def not_an_engine(value: Any) -> str:
    """Why ``value`` cannot be a session's engine (the message of a TypeError)."""
    if asyncio.iscoroutine(value):
        value.close()  # never awaited: no "coroutine was never awaited" warning
        return "a session needs an Engine, got a coroutine: await create_engine(...) first"
    return f"a session needs an Engine (from await create_engine(url)), got {value!r}"


class SessionBase:
    """Engine, unit of work and transaction levels of a session (see AsyncSession)."""

    #: the awaited transaction (``tx = await session.begin()``) that set ``_owner``: no
    #: block ends it, so ``_set_levels`` lets the ownership go with its level (a class
    #: default: most sessions never set it)
    _owner_tx: SessionTransaction | None = None
    #: futures of ``close()`` calls waiting for another task's operation to end (a class
    #: default: set only while one waits)
    _idle_waiters: list[asyncio.Future[None]] | None = None

    def __init__(
        self, engine: Engine, *, autoflush: bool = True, expire_on_commit: bool = False
    ) -> None:
        """A session on ``engine``. ``autoflush``: flush pending changes before a query
        runs. ``expire_on_commit`` is accepted for SQLAlchemy code and must be False:
        ormkit never expires objects (see :func:`check_expire_on_commit`)."""
        if expire_on_commit is not False:
            check_expire_on_commit(expire_on_commit)
        try:
            dialect: str = engine.dialect
        except AttributeError:
            raise TypeError(not_an_engine(engine)) from None
        self.engine = engine
        self.dialect = dialect
        #: flush pending changes before a query runs
        self.autoflush = autoflush
        self._uow = UnitOfWork(self.dialect)
        self._tx: Transaction | None = None
        self._levels: list[_Level] = []
        self._savepoints = itertools.count(1)
        self._owner: asyncio.Task[Any] | None = None
        self._busy: asyncio.Task[Any] | None = None
        self._depth = 0

    # -- one task at a time -----------------------------------------------------------

    def _using(self) -> _Guard:
        """``with self._using():`` marks the session busy for the current task (an
        operation of another task meanwhile raises ``InterfaceError``)."""
        return _Guard(self)

    async def _other_operation_ended(self) -> None:
        """Wait until no other task has an operation under way on this session.

        ``close()`` waits here: when tasks share a session by mistake
        (``asyncio.gather(session.get(...), session.get(...))``), the first error leaves
        the ``async with`` block while another task's statement is still running on the
        session's transaction. Raising there would leave that transaction open and its
        connection out of the pool for good; waiting lets ``close()`` roll it back."""
        task = current_task()
        while True:
            busy = self._busy
            if busy is None or busy is task or busy.done():
                return
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            if self._idle_waiters is None:
                self._idle_waiters = []
            self._idle_waiters.append(waiter)
            await waiter

    # -- transaction levels -----------------------------------------------------------

    @property
    def in_transaction(self) -> bool:
        """Whether a database transaction is open (and a connection held)."""
        return self._tx is not None

    def _set_levels(self) -> None:
        self._uow.journal = self._levels[-1].journal if self._levels else None
        owner = self._owner_tx
        if owner is not None and not owner._active():
            self._owner_tx = None
            if owner._owner:
                owner._owner = False
                self._owner = None

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
            levels = list(self._levels)
            self._tx = None
            self._levels.clear()
            self._set_levels()
            try:
                await tx.commit()
            except BaseException:
                # not committed (the backend says why): objects back as for a rollback
                for inner in reversed(levels):
                    self._uow.undo(inner.journal)
                raise
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

    async def _execute_write(self, sql: str, params: Sequence[Any] | None) -> QueryResult:
        """One statement that writes: on its own (autocommit: a single statement is atomic)
        when no transaction is open, else in the open one, which a failure outside a
        ``begin()`` block rolls back."""
        tx = self._tx
        if tx is None:
            return await self.engine.execute(sql, params)
        try:
            return await tx.execute(sql, params)
        except BaseException:
            if self._owner is None and self._levels:
                await self._rollback_level(self._levels[0])
            raise

    async def _commit_all(self) -> None:
        """Flush, then COMMIT the open transaction (every level of it)."""
        with self._using():
            await self._flush_now()
            if self._levels:
                await self._commit_level(self._levels[0])

    def begin(self) -> SessionTransaction:
        """``async with session.begin() as tx:`` a transaction committed on exit and
        rolled back on any exception. Inside another ``begin()`` block it is a SAVEPOINT
        (pending objects of the enclosing block are flushed first, so a failure of the
        inner block does not lose them). When a flush has already begun the session's
        transaction, the block takes that transaction over: its exit commits what was
        flushed before it too."""
        return SessionTransaction(self)

    def transaction(self) -> SessionTransaction:
        """Same as :meth:`begin`."""
        return SessionTransaction(self)

    def begin_nested(self) -> SessionTransaction:
        """``async with session.begin_nested():`` a SAVEPOINT, released on exit and
        rolled back to on any exception (the enclosing transaction goes on either way);
        ``sp = await session.begin_nested()`` then ``await sp.commit()`` or
        ``await sp.rollback()`` is the same without a block. Pending objects are
        flushed first, so a rollback of the SAVEPOINT does not lose them.

        With no transaction open, one is begun for the SAVEPOINT to live in, and stays
        open after it, as in SQLAlchemy: ``session.commit()`` commits it (or
        ``rollback()``/``close()`` rolls it back). Inside a ``begin()`` block, this is
        what a nested ``begin()`` does."""
        return SessionTransaction(self, nested=True)

    def _runner(self) -> Any:
        return self._tx if self._tx is not None else self.engine

    # -- unit of work (AsyncSession) --------------------------------------------------

    def add(self, obj: Any) -> None:
        """Insert ``obj`` at the next flush."""
        self._uow.add(obj)

    def add_all(self, objs: Iterable[Any]) -> None:
        """Insert every object at the next flush."""
        for obj in objs:
            self._uow.add(obj)

    async def delete(self, obj: Any) -> None:
        """Mark ``obj`` for deletion (see AsyncSession.delete)."""
        raise NotImplementedError

    async def _flush_now(self) -> None:
        uow = self._uow
        if not uow.new and not uow.deleted and not uow.any_dirty():
            return
        # the open transaction, or a new one that stays open (a flush autobegins)
        if self._tx is None:
            await self._begin_level()
        tx = self._tx
        assert tx is not None
        try:
            await uow.flush(tx)
        except BaseException:
            if self._owner is None and self._levels:
                await self._rollback_level(self._levels[0])
            raise

    def _flush_due(self) -> bool:
        """Whether a query must flush first (autoflush on and something tracked). Hot
        read paths test this before awaiting ``_flush_now`` instead of awaiting
        ``_autoflush`` (a coroutine per query that mostly does nothing)."""
        return self.autoflush and self._uow.tracks_anything()

    async def _autoflush(self) -> None:
        if self._flush_due():
            await self._flush_now()
