"""Column declarations: ``Mapped[T]``, ``mapped_column()``, ``ForeignKey`` and ``ColumnInfo``.

``Mapped[T]`` is what type checkers see: reading ``user.name`` gives ``T`` and reading
``User.name`` gives a :class:`~ormkit.sql.expressions.ColumnExpr`. At run time the
declarative metaclass replaces each declaration with a
:class:`~ormkit.sql.expressions.Column`, a non-data descriptor (instances read their
values straight from ``__dict__``) that is also the column expression.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

from ormkit.dialects.base import CURRENT_TIME_FUNCTIONS, current_time_fits
from ormkit.sql.expressions import (
    ClauseElement,
    Column,
    ColumnExpr,
    TextClause,
    current_time_function,
)
from ormkit.types import (
    JSON,
    ColumnType,
    Converter,
    TypeMarker,
    resolve_column_type,
)

__all__ = [
    "JSON",
    "ColumnInfo",
    "ForeignKey",
    "ForeignKeyInfo",
    "Mapped",
    "MappedColumn",
    "mapped_column",
]

T = TypeVar("T")

_FK_ACTIONS = frozenset({"CASCADE", "SET NULL", "SET DEFAULT", "RESTRICT", "NO ACTION"})


class Mapped(Generic[T]):
    """Annotation of a model attribute: ``name: Mapped[str]``.

    On an instance the attribute is a ``T``; on the class it is a column expression.
    """

    __slots__ = ()

    if TYPE_CHECKING:

        @overload
        def __get__(self, instance: None, owner: Any) -> ColumnExpr[T]: ...

        @overload
        def __get__(self, instance: object, owner: Any) -> T: ...

        def __get__(self, instance: object | None, owner: Any) -> ColumnExpr[T] | T: ...

        def __set__(self, instance: Any, value: T) -> None: ...


def _check_action(action: str | None, what: str) -> str | None:
    if action is None:
        return None
    normal = " ".join(action.upper().split())
    if normal not in _FK_ACTIONS:
        raise ValueError(f"{what} must be one of {sorted(_FK_ACTIONS)}, got {action!r}")
    return normal


class ForeignKey:
    """A reference to another table's column: ``ForeignKey("users.id", ondelete="CASCADE")``.

    ``target`` is ``"table.column"`` or a column attribute such as ``User.id``.
    """

    __slots__ = ("_target", "ondelete", "onupdate")

    def __init__(
        self, target: str | Column[Any], *, ondelete: str | None = None, onupdate: str | None = None
    ) -> None:
        if isinstance(target, str):
            table, dot, column = target.rpartition(".")
            if not dot or not table or not column:
                raise ValueError(f"ForeignKey target must be 'table.column', got {target!r}")
        elif not isinstance(target, Column):
            raise TypeError(f"ForeignKey target must be 'table.column' or a column: {target!r}")
        self._target = target
        self.ondelete = _check_action(ondelete, "ondelete")
        self.onupdate = _check_action(onupdate, "onupdate")

    def info(self) -> ForeignKeyInfo:
        """The resolved reference."""
        if isinstance(self._target, Column):
            table = self._target.model.__tablename__
            column = self._target.info.name
        else:
            table, _dot, column = self._target.rpartition(".")
        return ForeignKeyInfo(table, column, self.ondelete, self.onupdate)

    def __repr__(self) -> str:
        return f"ForeignKey({self._target!r})"


class ForeignKeyInfo:
    """A column's foreign key: ``target`` (``"table.column"``), ``table``, ``column``."""

    __slots__ = ("column", "ondelete", "onupdate", "table")

    def __init__(self, table: str, column: str, ondelete: str | None, onupdate: str | None) -> None:
        self.table = table
        self.column = column
        self.ondelete = ondelete
        self.onupdate = onupdate

    @property
    def target(self) -> str:
        """``"table.column"``."""
        return f"{self.table}.{self.column}"

    def __repr__(self) -> str:
        return f"ForeignKeyInfo({self.target!r})"


class MappedColumn(Mapped[T]):
    """A column declaration, as returned by :func:`mapped_column`."""

    __slots__ = ("foreign_key", "options", "type_")

    def __init__(self, type_: Any, foreign_key: ForeignKey | None, options: dict[str, Any]) -> None:
        self.type_ = type_
        self.foreign_key = foreign_key
        self.options = options

    def __repr__(self) -> str:
        return f"mapped_column({self.type_!r}, {self.options!r})"


def mapped_column(
    *args: Any,
    type_: Any = None,
    primary_key: bool = False,
    nullable: bool | None = None,
    unique: bool = False,
    index: bool = False,
    default: Any = None,
    server_default: Any = None,
    max_length: int | None = None,
    autoincrement: bool | None = None,
    name: str | None = None,
    version: bool = False,
    timezone: bool | None = None,
    precision: int | None = None,
    scale: int | None = None,
    onupdate: Any = None,
) -> MappedColumn[Any]:
    """Declare a column.

    Positional arguments are a type marker (``JSON``, ``String(50)``,
    ``DateTime(timezone=True)``, …) and/or a :class:`ForeignKey`, in any order.

    - ``nullable``: default from the annotation (``X | None`` is nullable), never for
      a primary key.
    - ``default``: a value or a zero-argument callable applied by the constructor, or an
      SQL expression such as ``func.now()`` that the INSERT computes (the attribute
      holds the expression until the insert sets the stored value).
    - ``server_default``: a literal, ``text("SQL")`` or a current-time function
      (``func.now()``, ``func.current_timestamp()``, ``func.localtimestamp()``,
      ``func.current_date()``, ``func.current_time()``, ``func.localtime()``) on a date,
      time or datetime column, rendered into CREATE TABLE (on SQLite as an expression
      giving the text ormkit stores the column's type in). The inserted object gets the
      value the database filled in.
    - ``autoincrement``: default True for a single integer primary key without a
      foreign key.
    - ``name``: the database column name when it differs from the attribute name.
    - ``version``: optimistic-locking counter (int), checked and bumped by updates.
    - ``timezone``: a datetime column holding aware values (``TIMESTAMPTZ``).
    - ``onupdate``: a value or callable the session writes on every update, or an SQL
      expression such as ``func.now()`` that the UPDATE computes (the attribute then
      holds the stored value, read back through RETURNING). ``func.now()`` is the
      current time on both backends: on SQLite (UTC), written in the text form ormkit
      stores the column's type in.
    """
    foreign_key: ForeignKey | None = None
    for arg in args:
        if isinstance(arg, ForeignKey):
            if foreign_key is not None:
                raise TypeError("mapped_column() takes at most one ForeignKey")
            foreign_key = arg
        elif type_ is None and isinstance(arg, TypeMarker | type):
            type_ = arg
        else:
            raise TypeError(f"mapped_column(): unexpected positional argument {arg!r}")
    if max_length is not None and (isinstance(max_length, bool) or max_length <= 0):
        raise ValueError(f"max_length must be a positive int, got {max_length!r}")
    if server_default is not None and not isinstance(
        server_default, TextClause | str | int | float | bool
    ):
        from decimal import Decimal
        from enum import Enum

        if not isinstance(server_default, Decimal | Enum) and (
            current_time_function(server_default) is None
        ):
            functions = ", ".join(f"func.{name}()" for name in CURRENT_TIME_FUNCTIONS)
            what = "SQL expression" if isinstance(server_default, ClauseElement) else "value"
            raise TypeError(
                f"server_default must be a literal (str, number, bool), text('SQL') or "
                f"one of {functions}; got the {what} {server_default!r} (write other SQL "
                "expressions as text('SQL'))"
            )
    for what, value in (("default", default), ("onupdate", onupdate)):
        if isinstance(value, TextClause):
            raise TypeError(
                f"mapped_column(): {what}=text(...) is not supported: text() is only for "
                f"server_default; for an SQL expression the database computes, pass "
                f"{what}=func.now() (or another func call)"
            )
    options = {
        "primary_key": primary_key,
        "nullable": nullable,
        "unique": unique,
        "index": index,
        "default": default,
        "server_default": server_default,
        "max_length": max_length,
        "autoincrement": autoincrement,
        "name": name,
        "version": version,
        "timezone": timezone,
        "precision": precision,
        "scale": scale,
        "onupdate": onupdate,
    }
    return MappedColumn(type_, foreign_key, options)


class ColumnInfo:
    """Everything known about one column of a model (``Model.__columns__[key]``)."""

    __slots__ = (
        "autoincrement",
        "default",
        "expr",
        "foreign_key",
        "index",
        "key",
        "model",
        "name",
        "nullable",
        "onupdate",
        "primary_key",
        "server_default",
        "type",
        "unique",
        "version",
    )

    def __init__(
        self,
        *,
        key: str,
        name: str,
        ctype: ColumnType,
        primary_key: bool,
        nullable: bool,
        unique: bool,
        index: bool,
        default: Any,
        server_default: Any,
        autoincrement: bool,
        foreign_key: ForeignKeyInfo | None,
        version: bool,
        onupdate: Any,
    ) -> None:
        self.key = key
        self.name = name
        self.type = ctype
        self.primary_key = primary_key
        self.nullable = nullable
        self.unique = unique
        self.index = index
        self.default = default
        self.server_default = server_default
        self.autoincrement = autoincrement
        self.foreign_key = foreign_key
        self.version = version
        self.onupdate = onupdate
        self.model: type[Any] = object
        self.expr: Column[Any] = None  # type: ignore[assignment]

    @property
    def python_type(self) -> Any:
        """The Python type values must have (``object`` for untyped JSON)."""
        return self.type.python_type

    @property
    def max_length(self) -> int | None:
        """The maximum length of a str/bytes value, if limited."""
        return self.type.max_length

    @property
    def has_default(self) -> bool:
        """True when the constructor fills the column (``default=``)."""
        return self.default is not None

    @property
    def generated(self) -> bool:
        """True when the database fills a NULL/omitted value (autoincrement, server default)."""
        return self.autoincrement or self.server_default is not None

    def make_default(self) -> Any:
        """A fresh default value (callables called, dict/list defaults deep-copied)."""
        return _produce(self.default)

    def make_onupdate(self) -> Any:
        """The value the session writes on update, or None."""
        return _produce(self.onupdate)

    def sql_type(self, dialect: Any) -> str:
        """The column type for ``dialect`` (``"postgresql"``/``"sqlite"`` or a Dialect)."""
        return self.type.sql_type(getattr(dialect, "name", dialect))

    def converter(self, dialect: Any) -> Converter:
        """How a value read from ``dialect`` becomes the Python value (see ormkit.types)."""
        return self.type.converter(getattr(dialect, "name", dialect))

    def __repr__(self) -> str:
        flags = [
            f
            for f in ("primary_key", "nullable", "unique", "index", "autoincrement", "version")
            if getattr(self, f)
        ]
        return f"<ColumnInfo {self.key} {self.type.kind} {' '.join(flags)}>".replace(" >", ">")


def _produce(value: Any) -> Any:
    if value is None:
        return None
    if callable(value):
        return value()
    if isinstance(value, dict | list | set):
        # nested containers are the instance's own too (an empty one: a quick copy)
        return copy.deepcopy(value) if value else value.copy()
    return value


_TEMPORAL_KINDS = frozenset({"datetime", "datetime_tz", "date", "time"})


def _check_current_time_values(key: str, ctype: ColumnType, opts: dict[str, Any]) -> None:
    """``TypeError`` for a current-time function as ``server_default``/``default``/
    ``onupdate`` that the column cannot hold (``func.current_time()`` in a datetime
    column), and for one as the ``server_default`` of a non-temporal column."""
    for what in ("server_default", "default", "onupdate"):
        function = current_time_function(opts.get(what))
        if function is None:
            continue
        if what == "server_default" and ctype.kind not in _TEMPORAL_KINDS:
            raise TypeError(
                f"column {key!r}: server_default=func.{function}() needs a date, time or "
                f"datetime column, not a column of type {ctype.kind} (write other defaults "
                "as text('SQL'))"
            )
        if not current_time_fits(function, ctype.kind):
            raise TypeError(
                f"column {key!r}: {what}=func.{function}() gives a "
                f"{_TIME_VALUE_NAMES[CURRENT_TIME_FUNCTIONS[function]]}, which a "
                f"{ctype.kind} column cannot hold"
            )


_TIME_VALUE_NAMES = {
    "datetime_tz": "timestamp",
    "datetime": "timestamp",
    "date": "date",
    "time": "time of day",
}


def build_column_info(
    key: str, decl: MappedColumn[Any] | None, python_type: Any, optional: bool
) -> ColumnInfo:
    """Resolve a declaration against its annotation into a :class:`ColumnInfo`."""
    opts: dict[str, Any] = dict(decl.options) if decl is not None else {}
    marker = decl.type_ if decl is not None else None
    try:
        ctype = resolve_column_type(
            python_type,
            marker,
            max_length=opts.get("max_length"),
            timezone=opts.get("timezone"),
            precision=opts.get("precision"),
            scale=opts.get("scale"),
        )
    except TypeError as exc:
        raise TypeError(f"column {key!r}: {exc}") from None
    primary_key = bool(opts.get("primary_key", False))
    nullable = opts.get("nullable")
    if nullable is None:
        nullable = optional and not primary_key
    fk = decl.foreign_key.info() if decl is not None and decl.foreign_key is not None else None
    version = bool(opts.get("version", False))
    default = opts.get("default")
    if version:
        if not ctype.is_integer:
            raise TypeError(f"column {key!r}: a version column must be an int")
        if default is None:
            default = 1
    name = opts.get("name") or key
    if not isinstance(name, str):
        raise TypeError(f"column {key!r}: name must be a str")
    _check_current_time_values(key, ctype, opts)
    return ColumnInfo(
        key=key,
        name=name,
        ctype=ctype,
        primary_key=primary_key,
        nullable=bool(nullable),
        unique=bool(opts.get("unique", False)),
        index=bool(opts.get("index", False)),
        default=default,
        server_default=opts.get("server_default"),
        autoincrement=bool(opts.get("autoincrement")),  # finalised by the metaclass
        foreign_key=fk,
        version=version,
        onupdate=opts.get("onupdate"),
    )
