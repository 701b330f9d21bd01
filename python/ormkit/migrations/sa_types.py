"""Column types of the minimal ``sqlalchemy`` namespace that revision files use.

Each type knows the SQL it stands for on PostgreSQL and SQLite and how to write itself
back as source (``sa.String(length=100)``) for generated revision files. Every type
compiles to what SQLAlchemy's DDL compiler emits for it (``sa.JSON()`` is ``JSON``,
``sa.DateTime()`` is ``DATETIME`` on SQLite …), so one revision file gives the same
schema whether Alembic or ormkit runs it. Where ormkit's own models want something
else, the revision files ormkit generates say so with ``with_variant`` (see
:func:`ormkit.migrations.autogenerate.sa_type_for`).
"""

from __future__ import annotations

import copy
import enum as _enum
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, ClassVar

__all__ = [
    "ARRAY",
    "BIGINT",
    "BLOB",
    "BOOLEAN",
    "BYTEA",
    "CHAR",
    "CLOB",
    "DATE",
    "DATETIME",
    "DECIMAL",
    "DOUBLE",
    "DOUBLE_PRECISION",
    "ENUM",
    "FLOAT",
    "INET",
    "INTEGER",
    "INTERVAL",
    "JSON",
    "JSONB",
    "NUMERIC",
    "NVARCHAR",
    "REAL",
    "SMALLINT",
    "TEXT",
    "TIME",
    "TIMESTAMP",
    "UUID",
    "VARCHAR",
    "BigInteger",
    "Boolean",
    "Date",
    "DateTime",
    "Double",
    "Enum",
    "Float",
    "Integer",
    "Interval",
    "LargeBinary",
    "Numeric",
    "SmallInteger",
    "String",
    "Text",
    "Time",
    "TypeEngine",
    "Unicode",
    "UnicodeText",
    "Uuid",
    "to_instance",
]


def _dialect_name(dialect: str) -> str:
    if dialect in ("postgres", "postgresql", "pg"):
        return "postgresql"
    return dialect


def _pg(dialect: str, pg: str, other: str) -> str:
    return pg if dialect == "postgresql" else other


class TypeEngine:
    """Base of column types."""

    #: How the type is written in generated files (``sa.X`` or ``postgresql.X``).
    _namespace: ClassVar[str] = "sa"
    _variants: Mapping[str, TypeEngine] = MappingProxyType({})

    def compile(self, dialect: str) -> str:
        """The SQL type on ``dialect`` (``"postgresql"`` or ``"sqlite"``)."""
        variant = self._variants.get(dialect)
        if variant is not None:
            return variant.compile(dialect)
        return self._sql(dialect)

    def _sql(self, dialect: str) -> str:
        raise NotImplementedError

    def with_variant(self, type_: Any, *dialect_names: str) -> TypeEngine:
        """A copy of this type that is ``type_`` on the given dialects."""
        new = copy.copy(self)
        variants = dict(self._variants)
        for name in dialect_names:
            variants[_dialect_name(name)] = to_instance(type_)
        new._variants = MappingProxyType(variants)
        return new

    def _args(self) -> list[str]:
        return []

    def source(self) -> str:
        """Python source that builds this type in a revision file."""
        text = f"{self._namespace}.{type(self).__name__}({', '.join(self._args())})"
        for name, variant in self._variants.items():
            text += f".with_variant({variant.source()}, {name!r})"
        return text

    def __repr__(self) -> str:
        return self.source()

    def create_statements(self, dialect: str, quote: Any) -> list[str]:
        """DDL that must run before a table using this type is created (enum types)."""
        return []


def to_instance(type_: Any) -> TypeEngine:
    """``type_`` as an instance (``sa.Integer`` and ``sa.Integer()`` are both accepted)."""
    if isinstance(type_, type) and issubclass(type_, TypeEngine):
        return type_()
    if isinstance(type_, TypeEngine):
        return type_
    raise TypeError(f"not a column type: {type_!r}")


def _kw(name: str, value: Any) -> str:
    return f"{name}={value!r}"


# -- generic types ---------------------------------------------------------------------


class Integer(TypeEngine):
    """A 32-bit integer (``INTEGER``)."""

    def _sql(self, dialect: str) -> str:
        return "INTEGER"


class BigInteger(TypeEngine):
    """A 64-bit integer (``BIGINT``)."""

    def _sql(self, dialect: str) -> str:
        return "BIGINT"


class SmallInteger(TypeEngine):
    """A 16-bit integer (``SMALLINT``)."""

    def _sql(self, dialect: str) -> str:
        return "SMALLINT"


class String(TypeEngine):
    """``VARCHAR(length)`` (``VARCHAR`` without a length)."""

    def __init__(self, length: int | None = None, collation: str | None = None) -> None:
        self.length = length
        self.collation = collation

    def _sql(self, dialect: str) -> str:
        sql = "VARCHAR" if self.length is None else f"VARCHAR({self.length})"
        return _collate(sql, self.collation)

    def _args(self) -> list[str]:
        out = [] if self.length is None else [_kw("length", self.length)]
        if self.collation:
            out.append(_kw("collation", self.collation))
        return out


def _collate(sql: str, collation: str | None) -> str:
    if not collation:
        return sql
    return f'{sql} COLLATE "{collation.replace(chr(34), chr(34) * 2)}"'


class Unicode(String):
    """Same as :class:`String`."""


class Text(TypeEngine):
    """Unlimited text (``TEXT``)."""

    def __init__(self, length: int | None = None, collation: str | None = None) -> None:
        self.length = length
        self.collation = collation

    def _sql(self, dialect: str) -> str:
        return _collate("TEXT", self.collation)

    def _args(self) -> list[str]:
        return [_kw("collation", self.collation)] if self.collation else []


class UnicodeText(Text):
    """Same as :class:`Text`."""


class Boolean(TypeEngine):
    """A boolean (``BOOLEAN``)."""

    def __init__(self, create_constraint: bool = False, name: str | None = None) -> None:
        self.create_constraint = create_constraint
        self.name = name

    def _sql(self, dialect: str) -> str:
        return "BOOLEAN"


class Float(TypeEngine):
    """A float (``FLOAT``, ``FLOAT(precision)``)."""

    def __init__(
        self,
        precision: int | None = None,
        asdecimal: bool = False,
        decimal_return_scale: int | None = None,
    ) -> None:
        self.precision = precision
        self.asdecimal = asdecimal

    def _sql(self, dialect: str) -> str:
        return "FLOAT" if self.precision is None else f"FLOAT({self.precision})"

    def _args(self) -> list[str]:
        return [] if self.precision is None else [_kw("precision", self.precision)]


class Double(Float):
    """A double (``DOUBLE PRECISION``; ``DOUBLE`` on SQLite)."""

    def _sql(self, dialect: str) -> str:
        return _pg(dialect, "DOUBLE PRECISION", "DOUBLE")


class Numeric(TypeEngine):
    """An exact decimal, ``NUMERIC(precision, scale)``."""

    def __init__(
        self,
        precision: int | None = None,
        scale: int | None = None,
        asdecimal: bool = True,
        decimal_return_scale: int | None = None,
    ) -> None:
        self.precision = precision
        self.scale = scale
        self.asdecimal = asdecimal

    def _sql(self, dialect: str) -> str:
        if self.precision is None:
            return "NUMERIC"
        if self.scale is None:
            return f"NUMERIC({self.precision})"
        return f"NUMERIC({self.precision}, {self.scale})"

    def _args(self) -> list[str]:
        out = []
        if self.precision is not None:
            out.append(_kw("precision", self.precision))
        if self.scale is not None:
            out.append(_kw("scale", self.scale))
        return out


class DateTime(TypeEngine):
    """A timestamp (``TIMESTAMP WITH[OUT] TIME ZONE``; ``DATETIME`` on SQLite)."""

    def __init__(self, timezone: bool = False) -> None:
        self.timezone = timezone

    def _sql(self, dialect: str) -> str:
        if dialect != "postgresql":
            return "DATETIME"
        return "TIMESTAMP WITH TIME ZONE" if self.timezone else "TIMESTAMP WITHOUT TIME ZONE"

    def _args(self) -> list[str]:
        return [_kw("timezone", True)] if self.timezone else []


class Date(TypeEngine):
    """A calendar date."""

    def _sql(self, dialect: str) -> str:
        return "DATE"


class Time(TypeEngine):
    """A time of day."""

    def __init__(self, timezone: bool = False) -> None:
        self.timezone = timezone

    def _sql(self, dialect: str) -> str:
        if dialect != "postgresql":
            return "TIME"
        return "TIME WITH TIME ZONE" if self.timezone else "TIME WITHOUT TIME ZONE"

    def _args(self) -> list[str]:
        return [_kw("timezone", True)] if self.timezone else []


class Interval(TypeEngine):
    """A duration (``INTERVAL``; ``DATETIME`` on SQLite, as SQLAlchemy stores it)."""

    def __init__(
        self,
        native: bool = True,
        second_precision: int | None = None,
        day_precision: int | None = None,
    ) -> None:
        self.native = native

    def _sql(self, dialect: str) -> str:
        return _pg(dialect, "INTERVAL", "DATETIME")


class LargeBinary(TypeEngine):
    """Bytes (``BYTEA`` / ``BLOB``)."""

    def __init__(self, length: int | None = None) -> None:
        self.length = length

    def _sql(self, dialect: str) -> str:
        return _pg(dialect, "BYTEA", "BLOB")


class JSON(TypeEngine):
    """A JSON document (``JSON``; use ``postgresql.JSONB`` for ``JSONB``)."""

    def __init__(self, none_as_null: bool = False) -> None:
        self.none_as_null = none_as_null

    def _sql(self, dialect: str) -> str:
        return "JSON"


class Uuid(TypeEngine):
    """A UUID (``UUID``; ``CHAR(32)`` on SQLite)."""

    def __init__(self, as_uuid: bool = True, native_uuid: bool = True) -> None:
        self.as_uuid = as_uuid
        self.native_uuid = native_uuid

    def _sql(self, dialect: str) -> str:
        return _pg(dialect, "UUID", "CHAR(32)")


class Enum(TypeEngine):
    """A string enumeration: a named ``ENUM`` type on PostgreSQL (created with the table,
    as Alembic does) unless ``native_enum=False``; ``VARCHAR(n)`` otherwise."""

    def __init__(self, *enums: Any, **kw: Any) -> None:
        values: list[str] = []
        class_name: str | None = None
        if len(enums) == 1 and isinstance(enums[0], type) and issubclass(enums[0], _enum.Enum):
            members = list(enums[0])
            class_name = enums[0].__name__.lower()
            values_callable = kw.get("values_callable")
            if values_callable is not None:
                values = [str(v) for v in values_callable(enums[0])]
            else:
                values = [m.name for m in members]
        else:
            values = [str(v) for v in enums]
        self.enums = values
        self.name: str | None = kw.get("name") or class_name
        self.native_enum = bool(kw.get("native_enum", True))
        self.create_type = bool(kw.get("create_type", True))
        self.schema: str | None = kw.get("schema")
        self.length: int | None = kw.get("length")

    def _native(self, dialect: str) -> bool:
        return dialect == "postgresql" and self.native_enum

    def _sql(self, dialect: str) -> str:
        if self._native(dialect):
            if not self.name:
                raise ValueError("a PostgreSQL ENUM type requires a name: sa.Enum(..., name='x')")
            return '"' + self.name.replace('"', '""') + '"'
        length = self.length or max((len(v) for v in self.enums), default=1)
        return f"VARCHAR({length})"

    def create_statements(self, dialect: str, quote: Any) -> list[str]:
        """``CREATE TYPE name AS ENUM (...)`` on PostgreSQL."""
        if not self._native(dialect) or not self.create_type:
            return []
        labels = ", ".join("'" + v.replace("'", "''") + "'" for v in self.enums)
        return [f"CREATE TYPE {self._sql(dialect)} AS ENUM ({labels})"]

    def _args(self) -> list[str]:
        out = [repr(v) for v in self.enums]
        if self.name:
            out.append(_kw("name", self.name))
        if not self.native_enum:
            out.append(_kw("native_enum", False))
        return out


# -- types written as named --------------------------------------------------------------


class _Named(TypeEngine):
    """A type written as its SQL name, with the dialect-specific names of ``_names``."""

    _sql_name: ClassVar[str] = ""
    _names: ClassVar[dict[str, str]] = {}

    def __init__(self, *args: Any, **kw: Any) -> None:
        """Arguments SQLAlchemy accepts (``precision=53``, ``astext_type=`` …) are ignored."""

    def _base(self, dialect: str) -> str:
        return self._names.get(dialect, self._sql_name or type(self).__name__)

    def _sql(self, dialect: str) -> str:
        return self._base(dialect)


class _Sized(_Named):
    def __init__(self, length: int | None = None, collation: str | None = None) -> None:
        self.length = length
        self.collation = collation

    def _sql(self, dialect: str) -> str:
        base = self._base(dialect)
        return _collate(base if self.length is None else f"{base}({self.length})", self.collation)

    def _args(self) -> list[str]:
        return [] if self.length is None else [_kw("length", self.length)]


class VARCHAR(_Sized):
    """``VARCHAR(n)``."""


class NVARCHAR(_Sized):
    """``NVARCHAR(n)`` (``VARCHAR(n)`` on PostgreSQL)."""

    _names: ClassVar[dict[str, str]] = {"postgresql": "VARCHAR"}


class CHAR(_Sized):
    """``CHAR(n)``."""


class TEXT(_Named):
    """``TEXT``."""

    def __init__(self, length: int | None = None, collation: str | None = None) -> None:
        self.collation = collation


class CLOB(_Named):
    """``CLOB`` (``TEXT`` on PostgreSQL)."""

    _names: ClassVar[dict[str, str]] = {"postgresql": "TEXT"}


class INTEGER(_Named):
    """``INTEGER``."""


class BIGINT(_Named):
    """``BIGINT``."""


class SMALLINT(_Named):
    """``SMALLINT``."""


class BOOLEAN(_Named):
    """``BOOLEAN``."""

    def __init__(self, create_constraint: bool = False, name: str | None = None) -> None:
        self.name = name


class REAL(_Named):
    """``REAL``."""


class DOUBLE(_Named):
    """``DOUBLE`` (``DOUBLE PRECISION`` on PostgreSQL)."""

    _names: ClassVar[dict[str, str]] = {"postgresql": "DOUBLE PRECISION"}


class DOUBLE_PRECISION(_Named):
    """``DOUBLE PRECISION``."""

    _sql_name = "DOUBLE PRECISION"


class FLOAT(_Named):
    """``FLOAT``."""

    def __init__(self, precision: int | None = None, asdecimal: bool = False) -> None:
        self.precision = precision

    def _sql(self, dialect: str) -> str:
        return "FLOAT" if self.precision is None else f"FLOAT({self.precision})"


class NUMERIC(_Named):
    """``NUMERIC(p, s)``."""

    def __init__(
        self, precision: int | None = None, scale: int | None = None, asdecimal: bool = True
    ) -> None:
        self.precision = precision
        self.scale = scale

    def _sql(self, dialect: str) -> str:
        base = self._base(dialect)
        if self.precision is None:
            return base
        if self.scale is None:
            return f"{base}({self.precision})"
        return f"{base}({self.precision}, {self.scale})"

    def _args(self) -> list[str]:
        out = []
        if self.precision is not None:
            out.append(_kw("precision", self.precision))
        if self.scale is not None:
            out.append(_kw("scale", self.scale))
        return out


class DECIMAL(NUMERIC):
    """``DECIMAL(p, s)``."""


class TIMESTAMP(_Named):
    """``TIMESTAMP`` (``TIMESTAMPTZ`` with ``timezone=True`` on PostgreSQL)."""

    def __init__(self, timezone: bool = False, precision: int | None = None) -> None:
        self.timezone = timezone
        self.precision = precision

    def _sql(self, dialect: str) -> str:
        base = "TIMESTAMP" if self.precision is None else f"TIMESTAMP({self.precision})"
        if self.timezone:
            return base + " WITH TIME ZONE"
        return base

    def _args(self) -> list[str]:
        return [_kw("timezone", True)] if self.timezone else []


class DATETIME(_Named):
    """``DATETIME`` (``TIMESTAMP`` on PostgreSQL)."""

    _names: ClassVar[dict[str, str]] = {"postgresql": "TIMESTAMP"}

    def __init__(self, timezone: bool = False) -> None:
        self.timezone = timezone


class DATE(_Named):
    """``DATE``."""


class TIME(_Named):
    """``TIME``."""

    def __init__(self, timezone: bool = False, precision: int | None = None) -> None:
        self.timezone = timezone

    def _sql(self, dialect: str) -> str:
        return "TIME WITH TIME ZONE" if self.timezone else "TIME"


class INTERVAL(_Named):
    """``INTERVAL``."""

    def __init__(self, precision: int | None = None, fields: str | None = None) -> None:
        self.fields = fields


class BLOB(_Named):
    """``BLOB`` (``BYTEA`` on PostgreSQL)."""

    _names: ClassVar[dict[str, str]] = {"postgresql": "BYTEA"}


class BYTEA(_Named):
    """``BYTEA`` (``BLOB`` on SQLite)."""

    _namespace = "postgresql"
    _names: ClassVar[dict[str, str]] = {"sqlite": "BLOB"}

    def __init__(self, length: int | None = None) -> None:
        self.length = length


class JSONB(_Named):
    """``JSONB`` (JSON text on SQLite)."""

    _namespace = "postgresql"
    _names: ClassVar[dict[str, str]] = {"sqlite": "TEXT"}

    def __init__(self, none_as_null: bool = False, astext_type: Any = None) -> None:
        self.none_as_null = none_as_null


class PGJSON(_Named):
    """PostgreSQL's ``JSON`` (text on SQLite)."""

    _namespace = "postgresql"
    _sql_name = "JSON"
    _names: ClassVar[dict[str, str]] = {"sqlite": "TEXT"}

    def __init__(self, none_as_null: bool = False, astext_type: Any = None) -> None:
        self.none_as_null = none_as_null

    def source(self) -> str:
        """``postgresql.JSON()``."""
        return "postgresql.JSON()"


class UUID(_Named):
    """``UUID`` (``CHAR(32)`` on SQLite)."""

    _names: ClassVar[dict[str, str]] = {"sqlite": "CHAR(32)"}

    def __init__(self, as_uuid: bool = True) -> None:
        self.as_uuid = as_uuid


class INET(_Named):
    """``INET`` (text on SQLite)."""

    _namespace = "postgresql"
    _names: ClassVar[dict[str, str]] = {"sqlite": "TEXT"}


class ENUM(Enum):
    """PostgreSQL's named ``ENUM`` type."""

    _namespace = "postgresql"


class ARRAY(TypeEngine):
    """``item[]`` on PostgreSQL (JSON text on SQLite)."""

    def __init__(self, item_type: Any, dimensions: int | None = None, **kw: Any) -> None:
        self.item_type = to_instance(item_type)
        self.dimensions = dimensions or 1

    def _sql(self, dialect: str) -> str:
        if dialect != "postgresql":
            return "TEXT"
        return self.item_type.compile(dialect) + "[]" * self.dimensions

    def _args(self) -> list[str]:
        return [self.item_type.source()]
