"""A minimal ``sqlalchemy`` namespace: what Alembic revision files use.

While ormkit loads or runs a revision file, ``import sqlalchemy as sa`` gives this
module's namespace (see :mod:`ormkit.migrations.shim`): ``sa.Column``, the common
column types, ``PrimaryKeyConstraint``, ``ForeignKeyConstraint``, ``UniqueConstraint``,
``CheckConstraint``, ``Index``, ``ForeignKey``, ``Identity``, ``text``, ``func``,
``false()``/``true()``/``null()``, ``table``/``column`` (for ``op.bulk_insert``),
``MetaData``/``Table``. Objects are plain data read by the DDL compiler
(:mod:`ormkit.migrations.ddl`); nothing here talks to a database.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from ormkit.dialects import get_dialect
from ormkit.migrations.sa_types import TypeEngine, to_instance

__all__ = [
    "CheckConstraint",
    "Column",
    "Computed",
    "Constraint",
    "DefaultClause",
    "False_",
    "ForeignKey",
    "ForeignKeyConstraint",
    "FunctionElement",
    "Identity",
    "Index",
    "MetaData",
    "Null",
    "PrimaryKeyConstraint",
    "Table",
    "TableClause",
    "TextClause",
    "True_",
    "UniqueConstraint",
    "column",
    "column_names",
    "false",
    "func",
    "literal",
    "literal_column",
    "null",
    "render_default",
    "render_literal",
    "table",
    "text",
    "true",
]


# -- SQL expressions ---------------------------------------------------------------------


class TextClause:
    """Literal SQL: ``sa.text("now()")``."""

    def __init__(self, text: str) -> None:
        if not isinstance(text, str):
            raise TypeError(f"text() takes a str, got {type(text).__name__}")
        self.text = text

    def bindparams(self, *args: Any, **kw: Any) -> TextClause:
        """Binding parameters into ``text()`` is not supported; raises ``NotImplementedError``."""
        raise NotImplementedError("text().bindparams() is not supported by ormkit migrations")

    def compile(self, dialect: str) -> str:
        """The SQL text."""
        return self.text

    def __repr__(self) -> str:
        return f"sa.text({self.text!r})"


def text(sql: str) -> TextClause:
    """Literal SQL (a server default, or a statement for ``op.execute``)."""
    return TextClause(sql)


def literal_column(sql: str, type_: Any = None) -> TextClause:
    """Literal SQL used as a column expression."""
    return TextClause(sql)


class False_:
    """``sa.false()``: ``false`` on PostgreSQL, ``0`` on SQLite."""

    def compile(self, dialect: str) -> str:
        """The literal."""
        return "false" if dialect == "postgresql" else "0"

    def __repr__(self) -> str:
        return "sa.false()"


class True_:
    """``sa.true()``: ``true`` on PostgreSQL, ``1`` on SQLite."""

    def compile(self, dialect: str) -> str:
        """The literal."""
        return "true" if dialect == "postgresql" else "1"

    def __repr__(self) -> str:
        return "sa.true()"


class Null:
    """``sa.null()``."""

    def compile(self, dialect: str) -> str:
        """``NULL``."""
        return "NULL"

    def __repr__(self) -> str:
        return "sa.null()"


def false() -> False_:
    """The boolean constant false."""
    return False_()


def true() -> True_:
    """The boolean constant true."""
    return True_()


def null() -> Null:
    """NULL."""
    return Null()


class _Literal:
    def __init__(self, value: Any) -> None:
        self.value = value

    def compile(self, dialect: str) -> str:
        return render_literal(self.value, dialect)


def literal(value: Any, type_: Any = None) -> _Literal:
    """A literal value rendered into SQL."""
    return _Literal(value)


_NO_PARENS = {"current_timestamp", "current_date", "current_time", "localtimestamp", "localtime"}


class FunctionElement:
    """``sa.func.name(args)``; ``now()`` is ``CURRENT_TIMESTAMP`` on SQLite."""

    def __init__(self, name: str, args: Sequence[Any]) -> None:
        self.name = name
        self.args = list(args)

    def compile(self, dialect: str) -> str:
        """The function call as SQL."""
        low = self.name.lower()
        if low == "now" and dialect == "sqlite":
            return "CURRENT_TIMESTAMP"
        if low in _NO_PARENS and not self.args:
            return low.upper()
        args = ", ".join(_expression(a, dialect) for a in self.args)
        return f"{self.name}({args})"

    def __repr__(self) -> str:
        return f"sa.func.{self.name}({', '.join(repr(a) for a in self.args)})"


class _FuncNamespace:
    """``sa.func``: any attribute is a SQL function."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)

        def make(*args: Any, **kw: Any) -> FunctionElement:
            return FunctionElement(name, args)

        return make


func = _FuncNamespace()


def _expression(value: Any, dialect: str) -> str:
    if hasattr(value, "compile") and not isinstance(value, TypeEngine):
        return str(value.compile(dialect))
    if isinstance(value, ColumnClause):
        return get_dialect(dialect).quote(value.name)
    return render_literal(value, dialect)


def render_literal(value: Any, dialect: str) -> str:
    """A Python value as an SQL literal (DDL defaults and offline ``bulk_insert``)."""
    import datetime as dt
    import uuid
    from decimal import Decimal

    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return get_dialect(dialect).boolean_literal(value)
    if isinstance(value, int | float | Decimal):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        hexed = bytes(value).hex()
        return f"'\\x{hexed}'::bytea" if dialect == "postgresql" else f"X'{hexed}'"
    if isinstance(value, dt.datetime | dt.date | dt.time):
        text_value = (
            value.isoformat(sep=" ") if isinstance(value, dt.datetime) else value.isoformat()
        )
        return "'" + text_value + "'"
    if isinstance(value, uuid.UUID):
        return "'" + str(value) + "'"
    if isinstance(value, dt.timedelta):
        if dialect == "postgresql":
            return f"'{value.total_seconds()} seconds'::interval"
        return str(value // dt.timedelta(microseconds=1))
    if isinstance(value, dict | list):
        import json

        return "'" + json.dumps(value).replace("'", "''") + "'"
    return "'" + str(value).replace("'", "''") + "'"


_PLAIN_DEFAULT = re.compile(
    r"^(?:-?\d+(?:\.\d+)?|'(?:[^']|'')*'|null|true|false|current_timestamp|current_date"
    r"|current_time)$",
    re.I,
)


def render_default(value: Any, dialect: str) -> str:
    """The SQL after ``DEFAULT`` for a ``server_default``: a str is a quoted literal,
    ``text()``/``func``/``false()`` are SQL. On SQLite an expression is parenthesised."""
    if isinstance(value, DefaultClause):
        value = value.arg
    if isinstance(value, str):
        return render_literal(value, dialect)
    if hasattr(value, "compile") and not isinstance(value, TypeEngine):
        sql = str(value.compile(dialect))
    else:
        sql = render_literal(value, dialect)
    if dialect == "sqlite" and not _PLAIN_DEFAULT.match(sql.strip()):
        return f"({sql})"
    return sql


class DefaultClause:
    """``sa.DefaultClause(arg)``: a server default."""

    def __init__(self, arg: Any, for_update: bool = False) -> None:
        self.arg = arg


# -- schema items ------------------------------------------------------------------------


class ForeignKey:
    """``sa.ForeignKey("table.column", ondelete=..., onupdate=..., name=...)``."""

    def __init__(
        self,
        column: Any,
        _constraint: Any = None,
        use_alter: bool = False,
        name: str | None = None,
        onupdate: str | None = None,
        ondelete: str | None = None,
        deferrable: bool | None = None,
        initially: str | None = None,
        link_to_name: bool = False,
        match: str | None = None,
        **kw: Any,
    ) -> None:
        target = column if isinstance(column, str) else _qualified_name(column)
        parts = target.split(".")
        if len(parts) < 2:
            raise ValueError(f"ForeignKey target must be 'table.column', got {target!r}")
        self.referred_schema = ".".join(parts[:-2]) or None
        self.referred_table = parts[-2]
        self.referred_column = parts[-1]
        self.name = name
        self.onupdate = onupdate
        self.ondelete = ondelete
        self.deferrable = deferrable
        self.initially = initially
        self.match = match


def _qualified_name(column: Any) -> str:
    table = getattr(column, "table", None)
    if table is None or not getattr(column, "name", None):
        raise TypeError(f"ForeignKey needs 'table.column' or a column of a table: {column!r}")
    return f"{table.name}.{column.name}"


class Identity:
    """``sa.Identity(always=False, start=..., increment=...)``: an identity column."""

    def __init__(
        self,
        always: bool = False,
        on_null: bool | None = None,
        start: int | None = None,
        increment: int | None = None,
        **kw: Any,
    ) -> None:
        self.always = always
        self.start = start
        self.increment = increment


class Computed:
    """``sa.Computed(sqltext, persisted=None)``: a generated column."""

    def __init__(self, sqltext: Any, persisted: bool | None = None) -> None:
        self.sqltext = sqltext if isinstance(sqltext, str) else sqltext.text
        self.persisted = persisted


class Column:
    """``sa.Column(name, type_, *constraints, nullable=..., server_default=..., ...)``."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        rest = list(args)
        name: str | None = None
        if rest and isinstance(rest[0], str):
            name = rest.pop(0)
        type_ = kw.pop("type_", None)
        if rest and (isinstance(rest[0], TypeEngine) or _is_type_class(rest[0])):
            type_ = rest.pop(0)
        self.name: str = kw.pop("name", name) or ""
        self.foreign_keys: list[ForeignKey] = []
        self.constraints: list[Constraint] = []
        self.identity: Identity | None = None
        self.computed: Computed | None = None
        for item in rest:
            if isinstance(item, ForeignKey):
                self.foreign_keys.append(item)
            elif isinstance(item, Identity):
                self.identity = item
            elif isinstance(item, Computed):
                self.computed = item
            elif isinstance(item, Constraint):
                self.constraints.append(item)
            else:
                raise TypeError(f"Column {self.name!r}: unexpected argument {item!r}")
        if type_ is None:
            raise TypeError(
                f"Column {self.name!r} has no type; ormkit needs it spelled out "
                "(sa.Column('x', sa.Integer(), ...))"
            )
        self.type: TypeEngine = to_instance(type_)
        self.primary_key: bool = bool(kw.pop("primary_key", False))
        nullable = kw.pop("nullable", None)
        self.nullable: bool = (not self.primary_key) if nullable is None else bool(nullable)
        self.server_default: Any = kw.pop("server_default", None)
        self.default: Any = kw.pop("default", None)
        self.unique: bool = bool(kw.pop("unique", False))
        self.index: bool = bool(kw.pop("index", False))
        self.autoincrement: Any = kw.pop("autoincrement", "auto")
        self.comment: str | None = kw.pop("comment", None)
        self.table: TableClause | None = None
        for ignored in ("info", "key", "doc", "onupdate", "server_onupdate", "quote", "system"):
            kw.pop(ignored, None)
        kw = {k: v for k, v in kw.items() if not k.startswith(("postgresql_", "sqlite_"))}
        if kw:
            raise TypeError(f"Column {self.name!r}: unsupported arguments {sorted(kw)}")

    def __repr__(self) -> str:
        return f"Column({self.name!r}, {self.type!r})"


def _is_type_class(value: Any) -> bool:
    return isinstance(value, type) and issubclass(value, TypeEngine)


ColumnClause = Column


def column(name: str, type_: Any = None, **kw: Any) -> Column:
    """A lightweight column (for ``table()`` in data migrations)."""
    from ormkit.migrations.sa_types import String

    return Column(name, type_ if type_ is not None else String(), **kw)


def column_names(items: Iterable[Any]) -> list[str]:
    """Names of columns given as strings or column objects."""
    out = []
    for item in items:
        if isinstance(item, str):
            out.append(item)
        elif isinstance(item, Column):
            out.append(item.name)
        else:
            raise TypeError(f"expected a column name, got {item!r}")
    return out


class Constraint:
    """Base of table constraints."""

    def __init__(self, name: str | None = None) -> None:
        self.name = name


class PrimaryKeyConstraint(Constraint):
    """``sa.PrimaryKeyConstraint("id", name=...)``."""

    def __init__(self, *columns: Any, name: str | None = None, **kw: Any) -> None:
        super().__init__(name)
        self.columns = column_names(columns)


class UniqueConstraint(Constraint):
    """``sa.UniqueConstraint("a", "b", name=...)``."""

    def __init__(
        self,
        *columns: Any,
        name: str | None = None,
        deferrable: bool | None = None,
        initially: str | None = None,
        **kw: Any,
    ) -> None:
        super().__init__(name)
        self.columns = column_names(columns)
        self.deferrable = deferrable
        self.initially = initially


class ForeignKeyConstraint(Constraint):
    """``sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete=..., name=...)``."""

    def __init__(
        self,
        columns: Sequence[Any],
        refcolumns: Sequence[Any],
        name: str | None = None,
        onupdate: str | None = None,
        ondelete: str | None = None,
        deferrable: bool | None = None,
        initially: str | None = None,
        use_alter: bool = False,
        link_to_name: bool = False,
        match: str | None = None,
        **kw: Any,
    ) -> None:
        super().__init__(name)
        self.columns = column_names(columns)
        refs = [r if isinstance(r, str) else _qualified_name(r) for r in refcolumns]
        targets = [ForeignKey(r) for r in refs]
        tables = {t.referred_table for t in targets}
        if len(tables) != 1 or len(targets) != len(self.columns):
            raise ValueError(
                "ForeignKeyConstraint needs as many 'table.column' targets as columns, "
                "all in one table"
            )
        self.referred_table = targets[0].referred_table
        self.referred_schema = targets[0].referred_schema
        self.referred_columns = [t.referred_column for t in targets]
        self.onupdate = onupdate
        self.ondelete = ondelete
        self.deferrable = deferrable
        self.initially = initially
        self.match = match


class CheckConstraint(Constraint):
    """``sa.CheckConstraint("x > 0", name=...)``."""

    def __init__(self, sqltext: Any, name: str | None = None, **kw: Any) -> None:
        super().__init__(name)
        self.sqltext = sqltext if isinstance(sqltext, str) else str(sqltext.text)


class Index:
    """``sa.Index("ix_name", "col", unique=...)`` (inside ``op.create_table``)."""

    def __init__(self, name: str | None, *expressions: Any, unique: bool = False, **kw: Any):
        self.name = name
        self.expressions = list(expressions)
        self.unique = unique
        self.kw = kw


class TableClause:
    """``sa.table("name", sa.column("a"), ...)``: a table for ``op.bulk_insert``."""

    def __init__(self, name: str, *columns: Any, schema: str | None = None, **kw: Any) -> None:
        self.name = name
        self.schema = schema
        self.columns: list[Column] = []
        self.constraints: list[Constraint] = []
        self.indexes: list[Index] = []
        for item in columns:
            if isinstance(item, Column):
                item.table = self
                self.columns.append(item)
            elif isinstance(item, Constraint):
                self.constraints.append(item)
            elif isinstance(item, Index):
                self.indexes.append(item)
            else:
                raise TypeError(f"table {name!r}: unexpected argument {item!r}")

    @property
    def c(self) -> _Columns:
        """Columns by name: ``t.c.name``."""
        return _Columns(self.columns)

    def __repr__(self) -> str:
        return f"table({self.name!r})"


class _Columns:
    def __init__(self, columns: list[Column]) -> None:
        self._by_name = {c.name: c for c in columns}

    def __getattr__(self, name: str) -> Column:
        try:
            return self._by_name[name]
        except KeyError:
            raise AttributeError(name) from None

    def __getitem__(self, name: str) -> Column:
        return self._by_name[name]


def table(name: str, *columns: Any, **kw: Any) -> TableClause:
    """A lightweight table description (for ``op.bulk_insert``)."""
    return TableClause(name, *columns, **kw)


class MetaData:
    """``sa.MetaData()``: accepted so ``sa.Table(name, sa.MetaData(), ...)`` works."""

    def __init__(self, schema: str | None = None, naming_convention: Any = None) -> None:
        self.schema = schema


def Table(name: str, metadata: Any, *columns: Any, **kw: Any) -> TableClause:
    """``sa.Table(name, metadata, *columns)``: same as :func:`table`."""
    if not isinstance(metadata, MetaData):
        raise TypeError("sa.Table() takes a MetaData as its second argument")
    kw = {k: v for k, v in kw.items() if k == "schema"}
    return TableClause(name, *columns, **kw)
