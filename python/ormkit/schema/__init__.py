"""Schema introspection for migrations: tables, columns, indexes, constraints."""

from ormkit.schema.introspect import (
    Inspector,
    get_columns,
    get_constraints,
    get_indexes,
    get_tables,
    normalise_type,
)

__all__ = [
    "Inspector",
    "get_columns",
    "get_constraints",
    "get_indexes",
    "get_tables",
    "normalise_type",
]
