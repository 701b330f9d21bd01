"""Type stub for the compiled module ``ormkit._ormkit`` (built from src/ by maturin)."""

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from os import PathLike
from typing import Any, TypeVar, overload

_T = TypeVar("_T")

__version__: str

Converter = str | Callable[[Any], Any] | None

class QueryResult:
    """Rows held in Rust; Python objects are made only when asked for.

    Converters (``to_models``, ``unique_models``, ``all``, ``tuples``): None, or one per
    converted column, each None (the value as the driver gives it), a converter name or a
    callable. Names: ``"bool"`` (0/1 -> bool), ``"datetime"``, ``"datetime_tz"`` (naive
    text taken as UTC), ``"date"``, ``"time"`` (ISO-8601 text, common shapes parsed in
    Rust, others by ``fromisoformat``), ``"timedelta"`` (microseconds), ``"decimal"``,
    ``"uuid"`` (text or 16 bytes), ``"json"``; an unknown name is an InterfaceError. A
    callable is called with each non-None value; an Enum class is looked up by value
    first (``_value2member_map_``) and called only on a miss.

    Columns (``to_models``, ``unique_models``): None for every result column under its
    own name, or a sequence of result column indexes and ``(index, attribute name)``
    pairs, so one result can fill several classes (a joined query); then ``converters``
    has one entry per selected column.
    """

    def all(self, converters: Sequence[Converter] | None = None) -> list[dict[str, Any]]: ...
    def tuples(self, converters: Sequence[Converter] | None = None) -> list[tuple[Any, ...]]: ...
    def first(self) -> dict[str, Any] | None: ...
    def one(self) -> dict[str, Any]: ...
    def one_or_none(self) -> dict[str, Any] | None: ...
    def scalar(self) -> Any: ...
    def column(self, name: str | int) -> list[Any]: ...
    @property
    def rowcount(self) -> int: ...
    @property
    def lastrowid(self) -> int | None: ...
    @property
    def cache_hit(self) -> bool: ...
    @property
    def columns(self) -> list[str]: ...
    def __len__(self) -> int: ...
    def __bool__(self) -> bool: ...
    def __iter__(self) -> Iterator[dict[str, Any]]: ...
    @overload
    def __getitem__(self, key: int) -> dict[str, Any]: ...
    @overload
    def __getitem__(self, key: slice) -> list[dict[str, Any]]: ...
    def to_models(
        self,
        cls: type[_T],
        converters: Sequence[Converter] | None = None,
        columns: Sequence[int | tuple[int, str]] | None = None,
    ) -> list[_T]:
        """One instance of ``cls`` per row, made without calling ``__init__``.

        Given neither ``converters`` nor ``columns``, a model class (one with
        ``__ormkit_converters__``) gets the converters it declares for the engine's
        dialect and this result's columns, so raw SQL gives the model's own types (a
        SQLite datetime column becomes a ``datetime``, enum text a member); other
        classes get the values as the driver gives them.

        When ``cls.__new__`` is ``object.__new__``, each instance is made by it and every
        value stored as ``object.__setattr__`` stores it (into the instance's own
        attribute table: nothing else runs, no property or ``__setattr__`` override); if
        one of the names is a data descriptor on the class (a property, a slot), the
        row's dict becomes ``__dict__`` instead. Other classes: ``cls.__new__(cls)``, then
        the values go into its ``__dict__``. A class without ``__dict__`` is an
        AttributeError. The cyclic garbage collector is held off while 256 rows or more
        are built (none of these objects can form a cycle) and re-enabled afterwards
        unless it was disabled before.
        """

    def to_tracked_models(
        self,
        cls: type[_T],
        key: Sequence[str],
        session: tuple[dict[Any, Any], dict[int, Any], type[Any]],
        converters: Sequence[Converter] | None = None,
    ) -> tuple[list[_T], list[int]]:
        """``to_models``, each instance registered in a session as it is made (the ORM's
        read path in one pass). ``session`` is ``(identity, states, state_cls)``: each
        instance goes in ``identity`` under ``(cls, pk)`` (``key``: the primary key
        attribute names; ``pk`` is a tuple for several) and in ``states`` under
        ``id(instance)``, as an instance of ``state_cls`` made without ``__init__`` (it
        must not override ``__new__``) with the attributes ``obj``, ``key``,
        ``persistent`` (True) and ``snapshot`` (a copy of the instance's ``__dict__``).

        Returns the instances and the positions of the rows left unregistered: a key
        with a None part, or a key already in ``identity`` (from before, or an earlier
        row of this result); the instances at those positions are fresh ones, and
        what to do with them is the caller's choice. Every row is made before the first
        is registered, and an error (a converter refusing a value, an unhashable key)
        leaves ``identity`` and ``states`` as they were.
        """

    def distinct_keys(
        self, key: Sequence[str], converters: Sequence[Converter] | None = None
    ) -> bool:
        """Whether every row has a primary key (``key``: attribute names) that is not
        None and that no other row has, judged from the raw values before any object is
        made. False also when that cannot be told cheaply: a key column with a converter
        that can map two raw values to one (SQLite text read as a datetime or UUID), or
        of an unusual type."""

    def track_models(
        self,
        objs: list[Any],
        cls: type[Any],
        key: Sequence[str],
        session: tuple[dict[Any, Any], dict[int, Any], type[Any]],
        converters: Sequence[Converter] | None = None,
    ) -> list[int]:
        """Registers ``objs``, the list ``to_models(cls, converters)`` made from this
        result (perhaps changed since), as ``to_tracked_models`` would have registered
        them: each row is converted again, and those values (not the objects' current
        ones) give the key and the snapshot. Returns the positions it left unregistered
        (a key with a None part, or one already in ``identity``); an error leaves
        ``identity`` and ``states`` as they were."""

    def unique_models(
        self,
        cls: type[_T],
        key: int | Sequence[int],
        converters: Sequence[Converter] | None = None,
        columns: Sequence[int | tuple[int, str]] | None = None,
    ) -> tuple[list[_T], list[int]]:
        """One instance per distinct value of the ``key`` columns (result column indexes,
        compared as stored), in order of first appearance, and for every row the position
        of its instance in that list: -1 where every key column is NULL (the missing side
        of an outer join). Instances are made as by ``to_models``.

        For a joined load: ``parents, parent_rows = r.unique_models(Parent, pk_index,
        columns=parent_columns)``, the same for each joined level, then
        ``QueryResult.group_rows(parent_rows, child_rows, len(parents), children)``.
        """

    @staticmethod
    def group_rows(
        parent_rows: Sequence[int],
        child_rows: Sequence[int],
        parent_count: int,
        items: list[Any] | None = None,
    ) -> list[list[Any]]:
        """For each parent position ``0 .. parent_count - 1``, the distinct child positions
        found on the same rows, in row order (two ``unique_models`` position lists of one
        result); with ``items`` (a list indexed by child position, such as the children
        after the identity map), those items instead of positions. Rows where either
        position is -1 add nothing; a parent with no child gets an empty list. ValueError
        if the position lists differ in length, IndexError for a position out of range."""

class SqliteTransaction:
    """Holds the SQLite writer until commit or rollback; BEGIN IMMEDIATE rides with
    the first statement."""

    def execute(
        self, sql: str, params: Sequence[Any] | None = None
    ) -> QueryResult | Awaitable[QueryResult]: ...
    def executemany(self, sql: str, seq_of_params: Sequence[Sequence[Any]]) -> Awaitable[int]: ...
    def commit(self) -> Awaitable[None]: ...
    def rollback(self) -> Awaitable[None]: ...
    def stream(
        self, sql: str, params: Sequence[Any] | None = None, batch_size: int = 1000
    ) -> SqliteTxStream: ...
    @property
    def finished(self) -> bool: ...

class SqliteTxStream:
    """A read-only statement stepped on the writer inside a transaction."""

    def fetch(self) -> Awaitable[tuple[QueryResult, bool]]: ...
    def close(self) -> None: ...

class SqliteBackend:
    @staticmethod
    def open(
        path: str | PathLike[str] | None,
        max_connections: int = 10,
        busy_timeout: float = 5.0,
        acquire_timeout: float = 30.0,
        inline_budget: float | None = 0.002,
    ) -> Awaitable[SqliteBackend]: ...
    def execute(
        self, sql: str, params: Sequence[Any] | None = None
    ) -> QueryResult | Awaitable[QueryResult]: ...
    def insert_keys(
        self,
        sql: str,
        returning_sql: str,
        params: Sequence[Any] | None,
        table: str,
        key: str,
        rows: int,
    ) -> Awaitable[QueryResult]:
        """A multi-row INSERT leaving the integer ``key`` to SQLite: ``sql`` without
        RETURNING, ``returning_sql`` with ``RETURNING key``; answers what
        ``returning_sql`` would, the keys worked out when SQLite allows it."""
    def executemany(self, sql: str, seq_of_params: Sequence[Sequence[Any]]) -> Awaitable[int]: ...
    def begin(self) -> SqliteTransaction | Awaitable[SqliteTransaction]: ...
    def stream(
        self, sql: str, params: Sequence[Any] | None = None, batch_size: int = 1000
    ) -> SqliteStream: ...
    def close(self) -> Awaitable[None]: ...
    def stats(self) -> dict[str, Any]: ...

class PgConfig:
    """Parsed PostgreSQL connection settings (the password is never shown)."""

    def __init__(self, url: str, options: dict[str, str] | None = None) -> None: ...
    @property
    def host(self) -> str | None: ...
    @property
    def port(self) -> int: ...
    @property
    def socket_path(self) -> str | None: ...
    @property
    def display_target(self) -> str: ...
    @property
    def connect_timeout(self) -> float | None: ...
    @property
    def command_timeout(self) -> float | None: ...
    @property
    def acquire_timeout(self) -> float: ...
    @property
    def max_idle_time(self) -> float | None: ...
    @property
    def max_lifetime(self) -> float | None: ...
    @property
    def min_connections(self) -> int: ...
    @property
    def max_connections(self) -> int: ...
    @property
    def statement_cache_size(self) -> int: ...
    @property
    def redacted_url(self) -> str: ...

class PgProtocol(asyncio.Protocol):
    """One PostgreSQL connection as an asyncio protocol, driven on the loop thread."""

    def __init__(self, config: PgConfig) -> None: ...
    def connection_made(self, transport: Any) -> None: ...
    def data_received(self, data: bytes) -> None: ...
    def eof_received(self) -> bool: ...
    def connection_lost(self, exc: BaseException | None = None) -> None: ...
    def pause_writing(self) -> None: ...
    def resume_writing(self) -> None: ...
    def ready(self) -> Awaitable[None]: ...
    def query(self, sql: str, params: Sequence[Any] | None = None) -> Awaitable[QueryResult]: ...
    def query_many(self, sql: str, seq_of_params: Sequence[Sequence[Any]]) -> Awaitable[int]: ...
    def simple(self, sql: str) -> Awaitable[QueryResult]: ...
    def portal_open(
        self, sql: str, params: Sequence[Any] | None, portal: str, max_rows: int
    ) -> Awaitable[tuple[QueryResult, bool]]: ...
    def portal_fetch(self, portal: str, max_rows: int) -> Awaitable[tuple[QueryResult, bool]]: ...
    def portal_close(self, portal: str) -> Awaitable[QueryResult]: ...
    def begin_pipelined(self) -> None: ...
    @property
    def begin_pending(self) -> bool: ...
    def cancel_begin(self) -> None: ...
    def wait_idle(self) -> Awaitable[None]: ...
    def cancel_request(self) -> bytes | None: ...
    def terminate(self) -> None: ...
    @property
    def is_idle(self) -> bool: ...
    @property
    def is_broken(self) -> bool: ...
    @property
    def reusable(self) -> bool: ...
    @property
    def in_transaction(self) -> bool: ...
    @property
    def in_failed_transaction(self) -> bool: ...
    @property
    def is_tls(self) -> bool: ...
    @property
    def backend_pid(self) -> int | None: ...
    def cache_stats(self) -> tuple[int, int, int]: ...
    def server_parameters(self, names: list[str]) -> dict[str, str | None]: ...

class SqliteStream:
    def fetch(self) -> Awaitable[QueryResult]: ...
    def close(self) -> None: ...

class InsertRules:
    def __init__(
        self, specs: tuple[tuple[str, tuple[type, ...], bool | None, int, int | None], ...]
    ) -> None: ...
    def __len__(self) -> int: ...

def gather_insert_values(
    objs: list[Any], rules: InsertRules
) -> tuple[list[Any], list[bool]] | None:
    """Row by row, the column values of each object (read as ``object.__getattribute__``
    reads them) as one flat list, and per column whether it is left out; None when the
    objects are of more than one class, an object lacks a column or a value does not fit
    its column as it is."""

def written_snapshots(
    layout: tuple[tuple[str, int], ...],
    params: list[Any],
    width: int,
    returned: list[Any],
    returned_width: int,
) -> list[dict[str, Any]]:
    """The snapshots of rows just written: per row, a dict of the names in ``layout``,
    each taken from the row's ``width`` parameters (a place >= 0) or from what RETURNING
    brought back for it (a place < 0: ``-place - 1`` among its ``returned_width``
    values; a given primary key comes back too, to match rows on)."""

def set_returned(objs: list[Any], names: tuple[str, ...], returned: list[Any]) -> None:
    """Sets, on each object, ``names`` to its row of ``returned`` (the value itself for
    one name, a tuple for more), as ``object.__setattr__`` does."""

def check_spin_setting() -> None:
    """Raises ``ArgumentError`` when ``ORMKIT_SPIN_US`` is set to something that is not
    a whole number of microseconds."""

def track_objects(
    objs: list[Any],
    cls: type[Any],
    key: Sequence[str],
    session: tuple[dict[Any, Any], dict[int, Any], type[Any]],
    snapshots: list[dict[str, Any]] | None = None,
) -> list[int]:
    """Registers ``objs``, rows just written (each ``__dict__`` holds the row's values),
    as ``QueryResult.to_tracked_models`` registers loaded rows: identity map, a state,
    and a copy of the ``__dict__`` as its snapshot. With ``snapshots`` (one dict per
    object, its values as written), each key is read from the object's snapshot, which
    becomes its snapshot as it is. Returns the positions left to the caller: an object
    with a state already, a key with a None part, or a key already in ``identity``. An
    error leaves ``identity`` and ``states`` as they were."""

def install_init(cls: type[Any]) -> bool:
    """Makes calling ``cls`` run ``Base.__init__``'s fast path as the class's ``tp_init``
    when ``cls.__init__`` is ``Base.__init__``; returns whether it did."""

def model_init(base: type[Any]) -> Any:
    """A method descriptor of ``base`` to use as its ``__init__``: keyword arguments that
    are all column keys set every column (the value given, the default, or None) in
    Rust; any other call goes unchanged to ``base._ormkit_init_general``."""

def model_setattr(cls: type[Any]) -> Any:
    """A method descriptor of ``cls`` to use as its ``__setattr__``: a name in
    ``cls._ormkit_setattr[0]`` (relationship key → info) calls
    ``cls._ormkit_setattr[1](obj, info, value)``; any other is stored as
    ``object.__setattr__`` stores it."""

def changed_states(
    states: dict[int, Any], deleted: dict[int, Any], first: bool = False
) -> list[Any]:
    """The states of ``states`` (``id(obj)`` → state with ``obj``, ``persistent`` and
    ``snapshot``) whose object is persistent, not in ``deleted`` and whose ``__dict__``
    differs (``!=``) from the snapshot, in order; with ``first``, at most the first."""

def sqlite_json_list(values: list[Any]) -> tuple[str, bool]:
    """``(json_text, blobs)``: a long IN list's values as one JSON array of what SQLite
    stores for each (binding it alone), bytes as hex (``blobs`` then True). ``TypeError``
    for a value ormkit cannot bind, ``DataError`` for one SQLite or JSON cannot hold
    (bytes mixed with other values among them)."""

def collect_by_attribute(objs: Iterable[Any], name: str, found: dict[Any, list[Any]]) -> None:
    """Append each of ``objs`` (the same object once) to ``found[(value,)]``, ``value``
    being its attribute ``name`` read as ``object.__getattribute__`` reads it, keeping
    their order. Objects whose value is None, missing (AttributeError) or not a key of
    ``found`` are left out; keys of ``found`` that are not 1-tuples are ignored."""

def link_fresh(
    pairs: Iterable[tuple[Any, list[Any]]], key: str, back: str | None, uselist: bool
) -> tuple[list[tuple[Any, Any]], bool]:
    """For each ``(parent, children)``: ``parent.key`` becomes ``children`` (without
    ``uselist``, the first child or None) and, with ``back``, each child's ``back``
    becomes ``parent``, both stored as ``object.__setattr__`` stores them. Returns
    ``(parent, snapshot value)`` per pair (a copy of the list for a collection) and
    whether any child got its parent."""

def set_reverse(
    pairs: Iterable[tuple[Any, Sequence[Any]]], back: str, states: dict[int, Any]
) -> None:
    """For each ``(parent, children)``, in order: every child without the attribute
    ``back`` gets ``parent`` there and, when ``states[id(child)]`` is persistent, in that
    state's ``snapshot`` too (the reverse side of a loaded relationship). Fresh children
    of a load not registered yet get theirs from :func:`link_fresh`."""
