"""SQL dialects: PostgreSQL and SQLite."""

from ormkit.dialects.base import RESERVED_WORDS, Dialect, get_dialect
from ormkit.dialects.postgresql import POSTGRESQL, PostgreSQLDialect
from ormkit.dialects.sqlite import SQLITE, SQLiteDialect

__all__ = [
    "POSTGRESQL",
    "RESERVED_WORDS",
    "SQLITE",
    "Dialect",
    "PostgreSQLDialect",
    "SQLiteDialect",
    "get_dialect",
]
