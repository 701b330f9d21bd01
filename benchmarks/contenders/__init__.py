"""The contenders: one class per (library, database), each run in its own process.

Every contender implements the same methods (see ``base.Contender``); the worker maps
workloads onto them, checks their results, then times them.
"""

from __future__ import annotations

import importlib
from typing import Any

# name -> (module, class) per database. The order is the column order of the tables.
PG = {
    "ormkit": ("ormkit_raw", "OrmkitRawPg"),
    "ormkit-orm": ("ormkit_orm", "OrmkitOrmPg"),
    "asyncpg": ("pg_raw", "AsyncpgRaw"),
    "psycopg": ("pg_raw", "PsycopgRaw"),
    "psqlpy": ("pg_raw", "PsqlpyRaw"),
    "sqlalchemy": ("sqlalchemy_orm", "SqlalchemyPg"),
    "tortoise": ("tortoise_orm", "TortoisePg"),
}
SQLITE = {
    "ormkit": ("ormkit_raw", "OrmkitRawSqlite"),
    "ormkit-orm": ("ormkit_orm", "OrmkitOrmSqlite"),
    "aiosqlite": ("sqlite_raw", "AiosqliteRaw"),
    "sqlite3": ("sqlite_raw", "Sqlite3Raw"),
    "sqlalchemy": ("sqlalchemy_orm", "SqlalchemySqlite"),
    "tortoise": ("tortoise_orm", "TortoiseSqlite"),
}
REGISTRY = {"pg": PG, "sqlite": SQLITE}

# Baselines of the ratios, and the floors (not "peers": they are not async libraries).
BASELINE = {"pg": "asyncpg", "sqlite": "aiosqlite"}
FLOORS = {"pg": {"pgbench"}, "sqlite": {"sqlite3"}}

LABELS = {
    ("pg", "ormkit"): "ormkit (engine)",
    ("pg", "ormkit-orm"): "ormkit (ORM)",
    ("pg", "asyncpg"): "asyncpg + hand hydration",
    ("pg", "psycopg"): "psycopg 3 async + hand hydration",
    ("pg", "psqlpy"): "psqlpy + hand hydration",
    ("pg", "sqlalchemy"): "SQLAlchemy 2 ORM (asyncpg)",
    ("pg", "tortoise"): "Tortoise ORM (asyncpg)",
    ("pg", "pgbench"): "pgbench -S -M prepared (floor)",
    ("sqlite", "ormkit"): "ormkit (engine)",
    ("sqlite", "ormkit-orm"): "ormkit (ORM)",
    ("sqlite", "aiosqlite"): "aiosqlite + hand hydration",
    ("sqlite", "sqlite3"): "stdlib sqlite3, sync (floor)",
    ("sqlite", "sqlalchemy"): "SQLAlchemy 2 ORM (aiosqlite)",
    ("sqlite", "tortoise"): "Tortoise ORM (aiosqlite)",
}


def load(db: str, name: str) -> type[Any]:
    module, cls = REGISTRY[db][name]
    mod = importlib.import_module(f"contenders.{module}")
    return getattr(mod, cls)  # type: ignore[no-any-return]
