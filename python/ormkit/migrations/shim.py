"""The ``alembic`` and ``sqlalchemy`` modules that revision files import.

:func:`injected_modules` puts ormkit's stand-ins into ``sys.modules`` only while a
revision file is being loaded or run, and puts back whatever was there before
(including a real Alembic or SQLAlchemy the application imported), so the rest of
the program never sees them. ``alembic.op`` forwards every attribute to the
:class:`~ormkit.migrations.operations.Operations` of the migration being run.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

__all__ = ["MODULE_NAMES", "build_modules", "injected_modules"]

MODULE_NAMES = (
    "alembic",
    "alembic.op",
    "alembic.context",
    "sqlalchemy",
    "sqlalchemy.types",
    "sqlalchemy.schema",
    "sqlalchemy.sql",
    "sqlalchemy.sql.expression",
    "sqlalchemy.dialects",
    "sqlalchemy.dialects.postgresql",
    "sqlalchemy.dialects.sqlite",
)


class _Namespace(ModuleType):
    """A module whose missing attributes fail with a message that names ormkit."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        raise AttributeError(
            f"{self.__name__}.{name} is not provided by ormkit's stand-in for "
            f"{self.__name__.split('.')[0]} (ormkit runs revision files without it); "
            "see docs/migrations.md for what is supported"
        )


class _OpProxy(_Namespace):
    """``alembic.op``: forwards to the operations of the running migration."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        from ormkit.migrations.operations import current_operations

        ops = current_operations()
        if ops is None:
            raise RuntimeError(f"alembic.op.{name} is only available while ormkit runs a migration")
        return getattr(ops, name)


class _Context(_Namespace):
    """``alembic.context``: env.py's module. ormkit never runs env.py."""


def _module(name: str, values: dict[str, Any], cls: type[_Namespace] = _Namespace) -> ModuleType:
    module = cls(name, f"ormkit stand-in for {name}")
    module.__dict__.update(values)
    module.__dict__["__ormkit_shim__"] = True
    return module


def _public(module: ModuleType) -> dict[str, Any]:
    return {name: getattr(module, name) for name in getattr(module, "__all__", ())}


_built: dict[str, ModuleType] | None = None
_lock = threading.RLock()


def build_modules() -> dict[str, ModuleType]:
    """The stand-in modules by dotted name (built once)."""
    global _built
    with _lock:
        if _built is not None:
            return _built
        from ormkit.migrations import sa as sa_mod
        from ormkit.migrations import sa_types

        types_ns = _public(sa_types)
        types_ns.pop("to_instance", None)
        for name in ("BYTEA", "JSONB", "INET", "ENUM", "ARRAY"):
            types_ns.pop(name, None)
        schema_ns = {
            k: getattr(sa_mod, k)
            for k in (
                "Column",
                "ForeignKey",
                "ForeignKeyConstraint",
                "PrimaryKeyConstraint",
                "UniqueConstraint",
                "CheckConstraint",
                "Index",
                "Identity",
                "Computed",
                "MetaData",
                "Table",
                "DefaultClause",
            )
        }
        sql_ns = {
            k: getattr(sa_mod, k)
            for k in (
                "text",
                "func",
                "table",
                "column",
                "literal",
                "literal_column",
                "false",
                "true",
                "null",
            )
        }
        pg_ns = dict(types_ns)
        pg_ns.update(
            {
                "JSONB": sa_types.JSONB,
                "JSON": sa_types.PGJSON,
                "BYTEA": sa_types.BYTEA,
                "INET": sa_types.INET,
                "ENUM": sa_types.ENUM,
                "ARRAY": sa_types.ARRAY,
                "UUID": sa_types.UUID,
            }
        )
        sqlite_ns = dict(types_ns)
        modules: dict[str, ModuleType] = {
            "sqlalchemy.types": _module("sqlalchemy.types", types_ns),
            "sqlalchemy.schema": _module("sqlalchemy.schema", schema_ns),
            "sqlalchemy.sql.expression": _module("sqlalchemy.sql.expression", sql_ns),
            "sqlalchemy.dialects.postgresql": _module("sqlalchemy.dialects.postgresql", pg_ns),
            "sqlalchemy.dialects.sqlite": _module("sqlalchemy.dialects.sqlite", sqlite_ns),
            "alembic.op": _module("alembic.op", {}, _OpProxy),
            "alembic.context": _module("alembic.context", {}, _Context),
        }
        modules["sqlalchemy.sql"] = _module(
            "sqlalchemy.sql", {**sql_ns, "expression": modules["sqlalchemy.sql.expression"]}
        )
        modules["sqlalchemy.dialects"] = _module(
            "sqlalchemy.dialects",
            {
                "postgresql": modules["sqlalchemy.dialects.postgresql"],
                "sqlite": modules["sqlalchemy.dialects.sqlite"],
            },
        )
        modules["sqlalchemy"] = _module(
            "sqlalchemy",
            {
                **types_ns,
                **schema_ns,
                **sql_ns,
                "types": modules["sqlalchemy.types"],
                "schema": modules["sqlalchemy.schema"],
                "sql": modules["sqlalchemy.sql"],
                "dialects": modules["sqlalchemy.dialects"],
                "ARRAY": sa_types.ARRAY,
                "__version__": "2.0.0+ormkit",
            },
        )
        modules["alembic"] = _module(
            "alembic",
            {
                "op": modules["alembic.op"],
                "context": modules["alembic.context"],
                "__version__": "1.13.0+ormkit",
            },
        )
        _built = modules
        return modules


_MISSING = object()
_depth = 0
_saved: dict[str, Any] = {}


@contextmanager
def injected_modules() -> Iterator[None]:
    """Within the block, ``import alembic`` / ``import sqlalchemy`` give ormkit's
    stand-ins; afterwards ``sys.modules`` is as it was. Re-entrant."""
    global _depth
    modules = build_modules()
    with _lock:
        if _depth == 0:
            _saved.clear()
            for name in MODULE_NAMES:
                _saved[name] = sys.modules.get(name, _MISSING)
                sys.modules[name] = modules[name]
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                for name, previous in _saved.items():
                    if previous is _MISSING:
                        sys.modules.pop(name, None)
                    else:
                        sys.modules[name] = previous
                _saved.clear()
