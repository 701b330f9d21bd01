"""The SQL compiler: expressions, lookups, statements and DDL."""

from ormkit.sql.aliases import aliased
from ormkit.sql.compiler import cache_info, clear_cache, compile_statement
from ormkit.sql.ddl import create_all_sql, create_table_sql, drop_all_sql, sort_models
from ormkit.sql.elements import case, cast, literal
from ormkit.sql.expressions import (
    ClauseElement,
    Column,
    ColumnExpr,
    and_,
    asc,
    desc,
    func,
    not_,
    or_,
    text,
)
from ormkit.sql.lookups import LOOKUPS, Q, register_lookup
from ormkit.sql.statements import (
    Delete,
    Insert,
    Select,
    Update,
    delete,
    insert,
    pk_condition,
    select,
    update,
)
from ormkit.sql.subqueries import exists

__all__ = [
    "LOOKUPS",
    "ClauseElement",
    "Column",
    "ColumnExpr",
    "Delete",
    "Insert",
    "Q",
    "Select",
    "Update",
    "aliased",
    "and_",
    "asc",
    "cache_info",
    "case",
    "cast",
    "clear_cache",
    "compile_statement",
    "create_all_sql",
    "create_table_sql",
    "delete",
    "desc",
    "drop_all_sql",
    "exists",
    "func",
    "insert",
    "literal",
    "not_",
    "or_",
    "pk_condition",
    "register_lookup",
    "select",
    "sort_models",
    "text",
    "update",
]
