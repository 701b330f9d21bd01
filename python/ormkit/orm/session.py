"""``AsyncSession``: one unit of work on one real database transaction at a time.

A session holds a connection only while a transaction is open: from ``begin()`` (or
the first flush) to commit or rollback. Reads outside a transaction run on the
engine's pool. Active-record calls (``insert``, ``update``, ``remove`` …) are each
their own transaction unless one is open, in which case they join it. A call that is
one statement (an insert of one model without hooks or relationship work, an update or
delete of one row without hooks or cascades, a query's ``update()``/``delete()``) is
sent alone, without BEGIN/COMMIT: a single statement is atomic by itself, and a failure
puts the objects back as a rollback would.

``begin()``/``transaction()`` commit on exit and roll back on any exception,
cancellation included; nested ``begin()`` uses SAVEPOINTs. A rollback reaches the
database and the objects: rows inserted at that level lose their generated keys and
leave the session, updated objects get their previous values back.

A session belongs to one task at a time: an operation started while another task's
operation (or ``begin()`` block) is in progress raises ``InterfaceError``.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Awaitable,
    Generator,
    Hashable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

from ormkit.errors import InterfaceError, NoResultFound
from ormkit.orm import (
    entities,
    loading,
    merging,
    precompiled,
    strategies,
    streaming,
    synchronize,
)
from ormkit.orm.mixins import onupdate_values, utcnow
from ormkit.orm.results import Result, ScalarResult
from ormkit.orm.state import Journal, copy_json, identity_key, model_pk, mutable_columns
from ormkit.orm.transaction import (
    SessionBase,
    SessionTransaction,
    check_expire_on_commit,
    not_an_engine,
)
from ormkit.orm.validation import validate_statement
from ormkit.query import Query, soft_delete_column, soft_delete_condition
from ormkit.sql import Delete, Insert, Select, Update, pk_condition, select
from ormkit.sql.expressions import TextClause
from ormkit.sql.mapped import is_model_instance
from ormkit.sql.statements import key_values
from ormkit.sql.textual import bind_named

if TYPE_CHECKING:
    from ormkit._ormkit import QueryResult
    from ormkit.engine import Engine
    from ormkit.types import Converter

__all__ = ["AsyncSession", "SessionTransaction", "async_sessionmaker", "session_context"]

T = TypeVar("T")
S = TypeVar("S", bound="AsyncSession")


class _Done:
    """An awaitable that is already done, shared: awaiting it allocates nothing.

    A session's exit follows a read straight away, and a large read leaves the
    collector's young-generation count above its threshold (hydration pauses the
    collector, ``loading.gc_paused``). Any container allocated then, such as the
    coroutine an ``async def __aexit__`` would create, sets off a collection that walks
    every object just made, inside the caller's ``async with``. Without it, a result
    dropped before the next allocation is freed by reference counting alone, as the
    engine's are; a result kept is walked by the collection the next allocation sets
    off, as any objects would be."""

    __slots__ = ()

    def __await__(self) -> Generator[Any, None, None]:
        # An exhausted iterator: its first ``next()`` ends the await with None, and
        # raises no StopIteration that would have to be allocated.
        return _EXHAUSTED  # type: ignore[return-value]


_EXHAUSTED = iter(())
_DONE = _Done()


class AsyncSession(SessionBase):
    """Unit of work and active-record calls on an engine (see the module doc)."""

    def __repr__(self) -> str:
        state = "in transaction" if self._tx is not None else "idle"
        return f"<AsyncSession {self.dialect} {state}, {len(self._uow.identity)} objects>"

    async def __aenter__(self) -> AsyncSession:
        return self

    def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Awaitable[None]:
        if self._levels or self._busy is not None or self._owner is not None:
            return self.close()
        # Nothing open and no operation running: close() without the guard, done at
        # once. The awaitable returned is made once, not a coroutine per exit: see
        # ``_Done``.
        self._uow.clear()
        return _DONE

    # -- unit of work -----------------------------------------------------------------

    async def delete(self, obj: Any) -> None:
        """Delete ``obj``'s row at the next flush (a pending object is just dropped).
        On a soft-delete model, the flush sets ``deleted_at`` instead."""
        name = soft_delete_column(type(obj))
        if name is not None and id(obj) not in self._uow.new:
            obj.__dict__[name] = utcnow()
            return
        self._uow.mark_deleted(obj)

    def expunge(self, obj: Any) -> None:
        """Stop tracking ``obj`` (persistent or pending): it leaves the identity map and
        nothing of it is flushed. ``InterfaceError`` if the session does not hold it."""
        if obj not in self:
            if not is_model_instance(obj):
                raise TypeError(f"expunge() needs a model instance, got {obj!r}")
            raise InterfaceError(f"expunge(): {obj!r} is not in this session")
        self._uow.forget(obj)

    def expunge_all(self) -> None:
        """Stop tracking every object."""
        self._uow.clear()

    async def merge(self, obj: T, *, load: bool = True) -> T:
        """The instance this session tracks for ``obj``'s row, with ``obj``'s state
        copied onto it; ``obj`` itself (built by hand, loaded by another session,
        deserialised) is never attached and is left as it was.

        The instance is the one in the identity map; else (``load=True``) the row loaded
        by primary key, soft-deleted rows included; else a new pending instance made from
        ``obj`` (inserted at the next flush), also when ``obj`` has no primary key. The
        columns present on ``obj`` are copied (an UPDATE of those that differ at the
        flush), and the relationships loaded on it are merged too (a many-to-one points
        to the merged target, a collection becomes the list of merged members; an empty
        collection is not copied), each object once whatever the cycles.

        ``load=False``: ``obj`` is trusted to hold the row as stored: the instance is
        made persistent without a query and nothing is written for its values. It needs
        a primary key; an object of this session pending insertion or with unflushed
        changes raises ``InterfaceError``. An object marked for deletion in this session
        raises ``InterfaceError``; a version (``mapped_column(version=True)``) other than
        the row's raises ``StaleDataError``; anything but a model instance ``TypeError``.
        See :mod:`ormkit.orm.merging`."""
        return await merging.merge(self, obj, load=load)

    def __contains__(self, obj: Any) -> bool:
        """``obj in session``: whether the session holds ``obj``, persistent (loaded or
        written, in the identity map) or pending (added, not flushed yet)."""
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

    async def flush(self) -> None:
        """Write pending inserts, changes and deletes (beginning a transaction if none
        is open; it stays open until commit or rollback)."""
        with self._using():
            await self._flush_now()

    async def commit(self) -> None:
        """Flush and COMMIT the open transaction (every level of it)."""
        await self._commit_all()

    async def rollback(self) -> None:
        """ROLLBACK the open transaction; objects get back their committed values and
        pending inserts and deletes are dropped."""
        with self._using():
            if self._levels:
                await self._rollback_level(self._levels[0])
            self._uow.revert_unflushed()

    async def close(self) -> None:
        """Roll back anything uncommitted, release the connection, forget every object.
        An operation another task has under way on the session is waited for first (a
        ``begin()`` block another task is in is not: that is an ``InterfaceError``)."""
        if not self._levels and self._busy is None and self._owner is None:
            self._uow.clear()  # nothing to roll back and no operation running
            return
        await self._other_operation_ended()
        with self._using():
            if self._levels:
                await self._rollback_level(self._levels[0])
            self._uow.clear()

    # -- reading ----------------------------------------------------------------------

    async def _load(
        self, model: type[Any], stmt: Select, plan: dict[str, loading.PlanNode]
    ) -> list[Any]:
        with self._using():
            compiled = stmt.to_sql(self.dialect)  # bad names fail here, before any flush
            await self._autoflush()
            objs, _extra = await strategies.load_objects(self, model, stmt, plan, (), compiled)
            return _unique(objs)

    async def _load_template(
        self,
        model: type[Any],
        template: precompiled.Template,
        values: list[Any],
        plan: dict[str, loading.PlanNode],
    ) -> list[Any]:
        """Objects of ``model`` from a precompiled SELECT of all its columns, then what
        ``plan`` loads (no joined step at its top)."""
        with self._using():
            if self._flush_due():
                await self._flush_now()
            result = await self._runner().execute(template.sql, template.params(values))
            defer = not plan or strategies.defers(plan)
            objs, fresh = self._uow.load_fresh(model, result, template.converters, defer)
            if plan and objs:
                # deferred: registering waits (an eager load has registered everything)
                deferred = defer and self._uow.registers_later()
                await strategies.run_plan(self, model, objs, plan, deferred)
            return objs if fresh else _unique(objs)

    async def _scalar_sql(self, sql: str, params: list[Any]) -> Any:
        with self._using():
            await self._autoflush()
            result = await self._runner().execute(sql, params)
            return result.scalar()

    async def _write_sql(self, sql: str, params: list[Any]) -> int:
        """Run one UPDATE/DELETE (after an autoflush); returns its rowcount."""
        with self._using():
            if self._flush_due():
                await self._flush_now()
            if self._tx is None:  # the common case inline: one statement, autocommit
                result = await self.engine.execute(sql, params)
            else:
                result = await self._execute_write(sql, params)
            return result.rowcount

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
        """Run a query's UPDATE/DELETE (after an autoflush), synchronizing the objects of
        its model the session tracks (see :mod:`ormkit.orm.synchronize`); returns its
        rowcount."""
        with self._using():
            sql, params = stmt.to_sql(self.dialect)
            await self._autoflush()
            sync = synchronize.plan(self._uow, stmt)
            if sync is not None:
                return (await self._write_synchronized(stmt, sync)).rowcount
            result = await self._execute_write(sql, params)
            return result.rowcount

    def _synchronizing(self, model: type[Any]) -> bool:
        """Whether an UPDATE/DELETE of ``model`` may find, once autoflushed, objects of
        ``model`` the session tracks: ``Query.update()``/``delete()`` then leave their
        precompiled statement (sent as it is) for :meth:`_write_count`, which decides
        after the autoflush. False at once when the session tracks nothing; pending
        objects, or changed ones whose relationships may reach new objects, may become
        tracked objects of ``model`` at the autoflush."""
        uow = self._uow
        if not uow.tracks_anything():
            return False
        if uow.tracks_model(model):
            return True
        return self.autoflush and (bool(uow.new) or uow.any_dirty())

    async def _write_synchronized(self, stmt: Update | Delete, sync: synchronize.Sync) -> Result:
        """Send ``sync.statement`` (``stmt`` with the RETURNING synchronizing needs),
        bring the tracked objects of the rows it returns in step, and give the rows of
        ``stmt``'s own RETURNING (none without one) and the statement's rowcount."""
        sent = sync.statement
        sql, params = sent.to_sql(self.dialect)
        result = await self._execute_write(sql, params)
        rows = loading.plain_tuples(result, sent.result_converters(self.dialect))
        synchronize.apply(self._uow, sync, rows)
        width = sync.width
        mine = [row[:width] for row in rows] if width else []
        return Result(mine, stmt.result_columns, result.rowcount)

    def _stream(
        self, model: type[Any], stmt: Select, batch_size: int
    ) -> AsyncGenerator[list[Any], None]:
        return streaming.stream_objects(self, model, stmt, batch_size)

    def query(self, model: type[T]) -> Query[T]:
        """A fluent query on ``model`` (see :class:`ormkit.query.Query`)."""
        return Query(self, model)

    async def get(
        self, model: type[T], pk: Any, options: Sequence[loading.LoaderOption] | None = None
    ) -> T | None:
        """The object with primary key ``pk`` (a tuple for a composite key), from the
        identity map when it is there, else from the database; None if not found.

        ``options=``: loader options (``[selectinload("posts")]``) applied as by
        ``select(Model).options(...)``. An object found in the identity map gets the
        relationships they name that it has not loaded yet (one already loaded is kept
        as it is, as ``get`` sends no query for what the session holds)."""
        if options:
            return await self._get_with_options(model, pk, options)
        m: Any = model
        key: Hashable | None
        if isinstance(m.__primary_key__, str) and not isinstance(pk, dict):
            values = (pk,)
            key = None if pk is None else (m, pk)
        else:
            values = key_values(m, pk)  # a dict or a tuple, checked
            key = identity_key(m, dict(zip(model_pk(m), values, strict=True)))
        found = self._uow.identity.get(key) if key is not None else None
        if found is not None:
            deleted = soft_delete_column(m)
            if deleted is not None and found.__dict__.get(deleted) is not None:
                return None
            return found  # type: ignore[no-any-return]
        template = precompiled.get_by_pk(m, self.dialect)
        if template is not None and precompiled.plain_key(m, values):
            with self._using():
                if self._flush_due():
                    await self._flush_now()
                result = await self._runner().execute(template.sql, template.params(values))
                objs = self._uow.load(m, result, template.converters)
                return objs[0] if objs else None
        stmt = select(m).where(pk_condition(m, pk))
        extra = soft_delete_condition(m, "exclude")
        if extra is not None:
            stmt = stmt.where(extra)
        rows = await self._load(m, stmt, loading.build_plan(m, ()))
        return rows[0] if rows else None

    async def _get_with_options(self, model: type[T], pk: Any, options: Any) -> T | None:
        """:meth:`get` with loader options (kept off ``get``'s own path)."""
        m: Any = model
        if isinstance(options, loading.LoaderOption):
            options = [options]
        elif isinstance(options, str) or not isinstance(options, Iterable):
            raise TypeError(
                "get(): options takes a list of loader options such as "
                f"[selectinload('posts')], got {options!r}"
            )
        options = list(options)
        loading.check_options(m, options)  # a bad option fails before any query
        names = model_pk(m)
        key: Hashable | None = None
        if len(names) == 1:
            key = identity_key(m, {names[0]: pk})
        elif isinstance(pk, dict):
            key = identity_key(m, pk)
        elif isinstance(pk, tuple | list) and len(pk) == len(names):
            key = identity_key(m, dict(zip(names, pk, strict=True)))
        # (any other key: pk_condition below says what is wrong with it)
        found = self._uow.identity.get(key) if key is not None else None
        if found is not None:
            deleted = soft_delete_column(m)
            if deleted is not None and found.__dict__.get(deleted) is not None:
                return None
            plan = loading.build_plan(m, options, defaults=False)
            for node in _walk(plan):
                node.explicit = False  # what is loaded already stays
                if node.strategy == "joined":
                    node.strategy = "selectin"  # one object: a query per level
            with self._using():
                await self._autoflush()
                await strategies.run_plan(self, m, [found], plan)
            return found  # type: ignore[no-any-return]
        stmt = select(m).where(pk_condition(m, pk)).options(*options)
        extra = soft_delete_condition(m, "exclude")
        if extra is not None:
            stmt = stmt.where(extra)
        rows = await self._load(m, *loading.limited_select(m, stmt))
        return rows[0] if rows else None

    async def get_or_raise(
        self, model: type[T], pk: Any, *, options: Sequence[loading.LoaderOption] | None = None
    ) -> T:
        """Like :meth:`get`, raising ``NoResultFound`` when there is no such row."""
        found = await self.get(model, pk, options=options)
        if found is None:
            name = getattr(model, "__name__", repr(model))
            raise NoResultFound(f"no {name} with primary key {pk!r}")
        return found

    async def refresh(self, obj: T, attribute_names: Iterable[str] | None = None) -> T:
        """Reload ``obj``'s columns from the database (local changes are discarded).
        ``InterfaceError`` for an object that is not a row yet (see :meth:`_is_row`).

        ``attribute_names`` (as in SQLAlchemy): reload only these columns, and reload
        (select-in) the relationships among them; other attributes keep their values,
        unflushed changes included. An unknown name raises ``ValueError`` naming it,
        before any query."""
        if attribute_names is not None:
            return await self._refresh_some(obj, attribute_names)
        with self._using():
            self._is_row(obj, "refresh", pending_ok=False)
            model: Any = type(obj)
            stmt = select(model).where(self._stored_row(obj))
            sql, params = stmt.to_sql(self.dialect)
            result = await self._runner().execute(sql, params)
            converters = model.__ormkit_converters__(self.dialect, result.columns)
            rows = result.to_models(model, converters)
            if not rows:
                raise NoResultFound(f"{obj!r} no longer exists")
            obj.__dict__.update(rows[0].__dict__)
            self._uow.attach(obj)
            return obj

    def _stored_row(self, obj: Any) -> Any:
        """The condition on ``obj``'s row: its primary key as last loaded or written
        (the snapshot's, for a tracked object whose key attributes may have changed)."""
        model: Any = type(obj)
        state = self._uow.state_of(obj)
        source = state.snapshot if state is not None and state.persistent else obj.__dict__
        pk = tuple(source.get(k) for k in model_pk(model))
        return pk_condition(model, pk if len(pk) > 1 else pk[0])

    async def _refresh_some(self, obj: T, attribute_names: Iterable[str]) -> T:
        """:meth:`refresh` of the attributes ``attribute_names``."""
        with self._using():
            self._is_row(obj, "refresh", pending_ok=False)
            model: Any = type(obj)
            columns, relationships = _refresh_names(model, attribute_names)
            uow = self._uow
            state = uow.state_of(obj)
            tracked = state is not None and state.persistent
            d = obj.__dict__
            if columns:
                infos = model.__columns__
                stmt = select(*(infos[k].expr for k in columns)).where(self._stored_row(obj))
                sql, params = stmt.to_sql(self.dialect)
                result = await self._runner().execute(sql, params)
                rows = loading.plain_tuples(result, stmt.result_converters(self.dialect))
                if not rows:
                    raise NoResultFound(f"{obj!r} no longer exists")
                values = dict(zip(columns, rows[0], strict=True))
                d.update(values)
                if state is not None and tracked:
                    mutable = mutable_columns(model)
                    snapshot = state.snapshot
                    for k, v in values.items():
                        snapshot[k] = copy_json(v) if k in mutable else v
            if not tracked:
                uow.attach(obj)
                state = uow.state_of(obj)
            if relationships:
                for name in relationships:  # reloaded, local changes or not
                    d.pop(name, None)
                    if state is not None:
                        state.snapshot.pop(name, None)
                options = [loading.selectinload(name) for name in relationships]
                plan = loading.build_plan(model, options, defaults=False)
                await strategies.run_plan(self, model, [obj], plan)
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

    async def execute(
        self,
        statement: Select | Insert | Update | Delete | TextClause,
        params: Mapping[str, Any] | None = None,
    ) -> Result:
        """Run a statement built with ``select``/``insert``/``update``/``delete``, or SQL
        text with named parameters: ``execute(text("SELECT … WHERE id = :id"), {"id":
        1})`` (rows of plain values; see :mod:`ormkit.sql.textual`).

        ``select(Model)`` rows hold tracked instances (``result.scalars().all()``), and
        so does each model of ``select(Post, Author).join("author")`` or
        ``select(Post, Author.name)``: rows ``(post, author)``, None for the missing
        side of an outer join. Any other select (columns, aggregates,
        ``count()``/``exists()``) gives plain values. ``returning(Model)`` gives
        instances: tracked for an insert or update, for a delete the objects of the
        deleted rows, no longer in the session (see ``_returned``). Any other update or
        delete of a model the session holds objects of brings them in step: updated
        ones take the new values, deleted ones leave the session (see
        :mod:`ormkit.orm.synchronize`). The values of an insert or update are validated
        first, as the session's own writes are: a bad one raises ``ValidationError`` and
        nothing is sent."""
        if isinstance(statement, TextClause):
            return await self._execute_text(statement, params)
        if params is not None:
            raise TypeError(
                "execute(): parameters go with text(); a select/insert/update/delete "
                "carries its own values"
            )
        if isinstance(statement, Select):
            return await self._execute_select(statement)
        if not isinstance(statement, Insert | Update | Delete):
            raise TypeError(
                f"execute() takes a select/insert/update/delete or text(), got {statement!r}"
            )
        with self._using():
            validate_statement(statement)
            if isinstance(statement, Update):
                statement = _with_onupdate(statement)
            sql, bound = statement.to_sql(self.dialect)
            await self._autoflush()
            layout = statement._layout
            if layout is None and not isinstance(statement, Insert):
                sync = synchronize.plan(self._uow, statement)
                if sync is not None:
                    return await self._write_synchronized(statement, sync)
            result = await self._execute_write(sql, bound)
            if layout is not None:
                return await self._returned(statement, layout, result)
            rows = loading.plain_tuples(result, statement.result_converters(self.dialect))
            return Result(rows, statement.result_columns, result.rowcount)

    async def scalars(
        self,
        statement: Select | Insert | Update | Delete | TextClause,
        params: Mapping[str, Any] | None = None,
    ) -> ScalarResult:
        """``(await session.execute(statement)).scalars()``: the first column of every
        row (model instances for ``select(Model)``), as in SQLAlchemy 2.0."""
        return (await self.execute(statement, params)).scalars()

    async def scalar(
        self,
        statement: Select | Insert | Update | Delete | TextClause,
        params: Mapping[str, Any] | None = None,
    ) -> Any:
        """The first column of the first row, or None (``session.scalar(select(...))``)."""
        return (await self.execute(statement, params)).scalar()

    async def _execute_text(
        self, statement: TextClause, params: Mapping[str, Any] | None
    ) -> Result:
        """SQL text: pending changes are flushed first (the text may read them), then it
        runs in the open transaction, or on its own as ``execute_raw`` does."""
        sql, values = bind_named(statement.text, params)
        with self._using():
            await self._autoflush()
            result = await self._execute_write(sql, values)
            return Result(loading.plain_tuples(result, None), result.columns, result.rowcount)

    async def _execute_select(self, stmt: Select) -> Result:
        items = stmt._entities
        # select(Model) gives instances; select(Model).count()/.exists() gives one plain
        # value (the model only names the table), like every select of expressions.
        if len(items) == 1 and isinstance(items[0], type) and stmt._wrap is None:
            model: Any = items[0]
            fast = None
            if type(stmt) is Select and not stmt._options:
                fast = precompiled.select_template(stmt, self.dialect)
            if fast is not None:
                template, values, plan = fast
                objs = await self._load_template(model, template, values, plan)
            else:
                objs = await self._load(model, *loading.limited_select(model, stmt))
            return Result([(o,) for o in objs], [model.__name__], len(objs))
        layout = stmt.entity_layout()
        with self._using():
            sql, params = stmt.to_sql(self.dialect)
            await self._autoflush()
            result = await self._runner().execute(sql, params)
            converters = stmt.result_converters(self.dialect)
            if layout is None:
                rows = loading.plain_tuples(result, converters)
                return Result(rows, stmt.result_columns, len(rows))
            # several items, models among them: rows (post, author), (post, "Ann") ...
            uow = self._uow
            rows, loaded = entities.entity_rows(
                result, layout, converters, self.dialect, uow.register_loaded
            )
            await self._load_defaults(loaded)
            return Result(rows, entities.entity_keys(layout, stmt.result_columns), len(rows))

    async def _load_defaults(self, loaded: dict[type[Any], list[Any]]) -> None:
        """Load the ``relationship(lazy="selectin"/"joined"/"noload")`` defaults of the
        models of a several-item select or a ``returning(Model)``, as ``select(Model)``
        does; a joined default is loaded by a selectin query (the statement's own
        joins are the user's)."""
        for model, objs in loaded.items():
            plan = loading.build_plan(model, ())
            if not plan or not objs:
                continue
            for node in plan.values():
                if node.strategy == "joined":
                    node.strategy = "selectin"
            await strategies.run_plan(self, model, objs, plan)

    async def _returned(
        self, stmt: Insert | Update | Delete, layout: entities.Layout, result: QueryResult
    ) -> Result:
        """The rows of a write's ``returning(Model, ...)``, instances for the model.

        Insert and update: the instances are tracked as loaded rows are (a row already
        in the identity map gives its object, which takes the returned values unless it
        has unflushed changes). Inside a transaction the level's journal records them,
        so that a rollback drops the new ones from the session and gives the others
        their previous values back.

        Delete: the rows are gone, so nothing is tracked: a row in the identity map
        gives its object, which leaves the session (as after ``session.delete``; a
        rollback brings it back), others are new untracked objects."""
        uow = self._uow
        journal = uow.journal
        states = uow.states

        def register_written(model: type[Any], objs: list[Any]) -> list[Any]:
            if journal is not None:
                identity = uow.identity
                for obj in objs:
                    existing = identity.get(identity_key(model, obj.__dict__))
                    state = states.get(id(existing)) if existing is not None else None
                    if state is not None:
                        journal.record_update(state)  # before its snapshot changes
            out = uow.register_loaded(model, objs)
            if journal is not None:
                for fresh, obj in zip(objs, out, strict=True):
                    state = states.get(id(obj)) if fresh is obj else None
                    if state is not None:
                        journal.record_insert(state, dict(obj.__dict__))
            return out

        def register_deleted(model: type[Any], objs: list[Any]) -> list[Any]:
            identity = uow.identity
            out = list(objs)
            for i, obj in enumerate(objs):
                existing = identity.get(identity_key(model, obj.__dict__))
                if existing is None:
                    continue
                out[i] = existing
                state = states.get(id(existing))
                if state is not None:
                    if journal is not None:
                        journal.record_delete(state)
                    uow.forget(existing)
                    state.persistent = False
            return out

        deleting = isinstance(stmt, Delete)
        rows, loaded = entities.entity_rows(
            result,
            layout,
            stmt.result_converters(self.dialect),
            self.dialect,
            register_deleted if deleting else register_written,
        )
        if not deleting:
            await self._load_defaults(loaded)
        return Result(rows, entities.entity_keys(layout, stmt.result_columns), result.rowcount)

    # -- active record ----------------------------------------------------------------

    async def insert(self, obj: T) -> T:
        """INSERT ``obj``; generated keys and server defaults are set on it."""
        if self._tx is None:
            with self._using():
                uow = self._uow
                prepared = uow.prepare_plain([obj])
                if prepared is not None:  # one statement: atomic by itself
                    await uow.write_plain(self.engine, prepared)
                    return obj
        if self._tx is None and self._uow.can_insert_alone(obj):
            with self._using():
                await self._uow.insert_alone(self.engine, obj)
            return obj
        await self.insert_all([obj])
        return obj

    async def insert_all(self, objs: Iterable[T]) -> list[T]:
        """INSERT every object in one transaction, as multi-row statements batched
        under the bind-parameter limit; each object gets its generated key."""
        items = list(objs)
        if not items:
            return items
        with self._using():
            uow = self._uow
            prepared = uow.prepare_plain(items)
            if prepared is not None:
                if self._tx is None and uow.plain_one_statement(prepared):
                    await uow.write_plain(self.engine, prepared)  # atomic by itself
                else:
                    async with self._writing() as tx:
                        await uow.write_plain(tx, prepared)
                return items
            plan = uow.plan_insert(items)
            if self._tx is None and uow.one_statement(plan):
                await uow.write_insert(self.engine, plan)  # one INSERT: atomic by itself
            else:
                async with self._writing() as tx:
                    await uow.write_insert(tx, plan)
        return items

    async def update(self, obj: T, **values: Any) -> T:
        """Set ``values`` on ``obj`` and UPDATE its changed columns (version checked).
        ``InterfaceError`` for an object that is not a row yet (see :meth:`_is_row`)."""
        return await self._update(obj, values, "update")

    async def _update(self, obj: T, values: dict[str, Any], call: str) -> T:
        """:meth:`update` on behalf of ``call`` (named when ``obj`` is not a row)."""
        with self._using():
            self._is_row(obj, call, pending_ok=False)
            if self._tx is None and not _has_hooks(obj, _UPDATE_HOOKS):
                await self._update_alone(obj, values)
            else:
                async with self._writing() as tx:
                    await self._uow.update(tx, obj, values)
        return obj

    async def _update_alone(self, obj: Any, values: dict[str, Any]) -> None:
        """UPDATE ``obj`` with one statement and no transaction (a single statement is
        atomic); a failure puts the object back as a rollback would."""
        uow = self._uow
        journal = Journal()
        uow.journal = journal
        try:
            await uow.update(self.engine, obj, values)
        except BaseException:
            uow.undo(journal)
            raise
        finally:
            uow.journal = None

    async def bulk_update(
        self, model: type[Any], values: dict[str, Any], *conditions: Any, **filters: Any
    ) -> int:
        """UPDATE every row of ``model`` matching ``conditions``/``filters``; returns
        how many rows changed."""
        return await self.query(model).filter(*conditions, **filters).update(**values)

    def _is_row(self, obj: Any, call: str, *, pending_ok: bool) -> bool:
        """Whether ``obj`` stands for a row that ``call`` can write or reload: tracked by
        this session as persistent, or not tracked but with its whole primary key set
        (an object of another session, or one made with its key). An object pending
        insertion (``add()``-ed, not flushed) gives False when ``pending_ok``, else
        ``InterfaceError``; a transient one (never inserted or loaded: no primary key)
        raises ``InterfaceError`` naming it. Nothing is sent either way."""
        if not is_model_instance(obj):
            raise TypeError(f"{call}() needs a model instance, got {obj!r}")
        model = type(obj)
        uow = self._uow
        state = uow.states.get(id(obj))
        if state is not None and state.persistent:
            return True
        if id(obj) in uow.new:
            if pending_ok:
                return False
            raise InterfaceError(
                f"{call}(): {obj!r} is not persistent: it is pending (added to the session "
                "but not inserted yet); flush() or commit() first"
            )
        d = obj.__dict__
        missing = [k for k in model_pk(model) if d.get(k) is None]
        if not missing:
            return True
        raise InterfaceError(
            f"{call}(): {obj!r} is not persistent: it was never inserted or loaded "
            f"(no value for its primary key {', '.join(missing)}); insert() it first"
        )

    async def remove(self, obj: Any) -> None:
        """DELETE ``obj``'s row (on a soft-delete model: set ``deleted_at``). An object
        pending insertion is just dropped, as ``delete()`` does; a transient one raises
        ``InterfaceError`` (see :meth:`_is_row`)."""
        with self._using():
            if not self._is_row(obj, "remove", pending_ok=True):
                self._uow.mark_deleted(obj)  # pending: no longer to be inserted
                return
            if (
                self._tx is None
                and soft_delete_column(type(obj)) is None
                and await self._uow.delete_plain(self.engine, obj)  # one statement
            ):
                return
            await self._remove_rows([obj])

    async def remove_all(self, objs: Iterable[Any]) -> None:
        """DELETE the rows of every object in one transaction (soft-delete models get
        ``deleted_at`` set instead). Every object is checked first: one that is transient
        raises ``InterfaceError`` and nothing is removed; pending ones are dropped."""
        items = list(objs)
        with self._using():
            rows = [self._is_row(obj, "remove_all", pending_ok=True) for obj in items]
            if not all(rows):
                for obj, is_row in zip(items, rows, strict=True):
                    if not is_row:
                        self._uow.mark_deleted(obj)
                items = [obj for obj, is_row in zip(items, rows, strict=True) if is_row]
            if items:
                await self._remove_rows(items)

    async def _remove_rows(self, items: list[Any]) -> None:
        """The writes of :meth:`remove_all` for objects checked to be rows."""
        soft = [o for o in items if soft_delete_column(type(o)) is not None]
        hard = [o for o in items if soft_delete_column(type(o)) is None]
        if self._tx is None:  # one statement needs no transaction
            if len(soft) == 1 and not hard and not _has_hooks(soft[0], _UPDATE_HOOKS):
                name = soft_delete_column(type(soft[0]))
                assert name is not None
                await self._update_alone(soft[0], {name: utcnow()})
                return
            if hard and not soft and self._uow.delete_is_one_statement(hard):
                await self._uow.delete(self.engine, hard)
                return
        async with self._writing() as tx:
            for obj in soft:
                name = soft_delete_column(type(obj))
                assert name is not None
                await self._uow.update(tx, obj, {name: utcnow()})
            if hard:
                await self._uow.delete(tx, hard)

    async def force_delete(self, obj: Any) -> None:
        """DELETE ``obj``'s row, also on a soft-delete model (checked as :meth:`remove`
        checks it)."""
        with self._using():
            if not self._is_row(obj, "force_delete", pending_ok=True):
                self._uow.mark_deleted(obj)
                return
            if self._tx is None and self._uow.delete_is_one_statement([obj]):
                await self._uow.delete(self.engine, [obj])
                return
            async with self._writing() as tx:
                await self._uow.delete(tx, [obj])

    def _soft_column(self, obj: Any) -> str:
        name = soft_delete_column(type(obj))
        if name is None:
            raise TypeError(f"{type(obj).__name__} has no SoftDeleteMixin")
        return name

    async def soft_delete(self, obj: T) -> T:
        """Set ``deleted_at`` (SoftDeleteMixin): queries no longer return the row."""
        return await self._update(obj, {self._soft_column(obj): utcnow()}, "soft_delete")

    async def restore(self, obj: T) -> T:
        """Clear ``deleted_at``: the row is visible again."""
        return await self._update(obj, {self._soft_column(obj): None}, "restore")

    async def upsert(
        self,
        obj: T,
        conflict_target: str | Sequence[str],
        update_fields: Sequence[str] | None = None,
    ) -> T:
        """INSERT, or UPDATE the row that conflicts on ``conflict_target`` (a column
        name or attribute, or a list of them: a unique constraint's columns); ``obj``
        gets the stored row. ``update_fields``: the columns a conflict updates (by
        default every column given but the target, the primary key and ``created_at``;
        an empty list updates none, and ``obj`` still gets the stored row)."""
        await self.upsert_all([obj], conflict_target, update_fields)
        return obj

    async def upsert_all(
        self,
        objs: Iterable[T],
        conflict_target: str | Sequence[str],
        update_fields: Sequence[str] | None = None,
    ) -> list[T]:
        """:meth:`upsert` for many objects of one model, batched, in one transaction.
        Two objects with the same conflict-target value raise ``ValidationError`` (a row
        is written once per upsert) before anything is sent, as does a bad value."""
        items = list(objs)
        if not items:
            return items
        with self._using():
            planned = self._uow.plan_upsert(items, conflict_target, update_fields)
            async with self._writing() as tx:
                await self._uow.upsert(tx, planned)
        return items


_UPDATE_HOOKS = ("before_update", "after_update")


def _has_hooks(obj: Any, names: tuple[str, ...]) -> bool:
    """Whether ``obj`` has one of the lifecycle hooks ``names`` (they may write more)."""
    return any(getattr(obj, name, None) is not None for name in names)


def _walk(plan: dict[str, loading.PlanNode]) -> Iterator[loading.PlanNode]:
    """Every node of a loading plan, parents before children."""
    for node in plan.values():
        yield node
        yield from _walk(node.children)


def _refresh_names(model: Any, names: Iterable[str]) -> tuple[list[str], list[str]]:
    """The columns and the relationships that ``refresh(obj, attribute_names)`` reloads,
    in order, once each; ``TypeError``/``ValueError`` for anything else."""
    if isinstance(names, str):
        raise TypeError(
            f"refresh(): attribute_names takes a list of names, got the str {names!r}; "
            f"write [{names!r}]"
        )
    if not isinstance(names, Iterable):
        raise TypeError(f"refresh(): attribute_names takes a list of names, got {names!r}")
    columns: list[str] = []
    relationships: list[str] = []
    infos = model.__columns__
    rels = model.__relationships__
    for name in names:
        if not isinstance(name, str):
            raise TypeError(f"refresh(): attribute names must be str, got {name!r}")
        if name in infos:
            if name not in columns:
                columns.append(name)
        elif name in rels:
            if name not in relationships:
                relationships.append(name)
        else:
            known = ", ".join([*infos, *rels])
            raise ValueError(
                f"refresh(): {model.__name__} has no column or relationship {name!r} "
                f"(known: {known})"
            )
    if not columns and not relationships:
        raise ValueError(
            "refresh(): attribute_names is empty; leave it out to refresh every column"
        )
    return columns, relationships


def _unique(objs: list[Any]) -> list[Any]:
    """``objs`` without repeats (a joined collection repeats its parent), in order."""
    if len(objs) < 2 or len(set(map(id, objs))) == len(objs):
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


class async_sessionmaker(Generic[S]):
    """A factory of sessions on one engine with the same options, as SQLAlchemy 2.0's
    ``async_sessionmaker``::

        Session = async_sessionmaker(engine, autoflush=False)
        async with Session() as session: ...          # a session
        async with Session.begin() as session: ...    # committed on success

    ``bind`` is the engine (the first argument); ``class_`` the session class (an
    :class:`AsyncSession` subclass); other keywords are the session's own
    (``autoflush``, ``expire_on_commit=False``), checked here, so that a wrong one
    fails when the factory is made rather than at its first use."""

    @overload
    def __init__(
        self: async_sessionmaker[S], bind: Engine, *, class_: type[S], **session_kwargs: Any
    ) -> None: ...

    @overload
    def __init__(
        self: async_sessionmaker[AsyncSession], bind: Engine, **session_kwargs: Any
    ) -> None: ...

    def __init__(
        self,
        bind: Engine,
        *,
        class_: type[Any] = AsyncSession,
        **session_kwargs: Any,
    ) -> None:
        self.class_: type[S] = class_
        if not (isinstance(class_, type) and issubclass(class_, AsyncSession)):
            raise TypeError(
                f"async_sessionmaker(): class_ must be AsyncSession or a subclass, got {class_!r}"
            )
        if not hasattr(bind, "dialect"):
            raise TypeError(f"async_sessionmaker(): {not_an_engine(bind)}")
        self.bind = bind
        self.kw: dict[str, Any] = {}
        self.configure(**session_kwargs)

    def configure(self, **session_kwargs: Any) -> None:
        """Change the options of the sessions made from now on (``bind=`` too)."""
        bind = session_kwargs.pop("bind", self.bind)
        if not hasattr(bind, "dialect"):
            raise TypeError(f"async_sessionmaker.configure(): {not_an_engine(bind)}")
        kw = {**self.kw, **session_kwargs}
        _check_session_kwargs(self.class_, bind, kw)
        self.bind = bind
        self.kw = kw

    def __call__(self, **local_kwargs: Any) -> S:
        """A new session; ``local_kwargs`` override the factory's options for it."""
        if local_kwargs:
            return self.class_(self.bind, **{**self.kw, **local_kwargs})
        return self.class_(self.bind, **self.kw)

    @contextlib.asynccontextmanager
    async def begin(self) -> AsyncIterator[S]:
        """``async with maker.begin() as session:`` a new session in a transaction:
        committed when the block ends normally, rolled back on any exception, and the
        session closed either way."""
        session = self()
        async with session, session.begin():
            yield session

    def __repr__(self) -> str:
        return f"async_sessionmaker(class_={self.class_.__name__}, bind={self.bind!r}, {self.kw})"


def _check_session_kwargs(class_: type[Any], bind: Any, kw: dict[str, Any]) -> None:
    """``TypeError`` (or ``ValueError``) now for options ``class_(bind, **kw)`` would
    refuse."""
    try:
        inspect.signature(class_).bind(bind, **kw)
    except TypeError as exc:
        raise TypeError(f"async_sessionmaker(): {class_.__name__}() {exc}") from None
    if "expire_on_commit" in kw:
        check_expire_on_commit(kw["expire_on_commit"])


def _with_onupdate(stmt: Update) -> Update:
    """``stmt`` with the model's ``onupdate`` columns (``TimestampMixin.updated_at``) it
    does not set, as ``Query.update`` and the session's own updates set them."""
    missing = onupdate_values(stmt._model, stmt._values)
    return stmt.values(missing) if missing else stmt
