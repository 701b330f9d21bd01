"""DDL: CREATE TABLE / CREATE INDEX / DROP TABLE for models, in dependency order.

A model's ``__table_args__`` constraints go in its CREATE TABLE (``CONSTRAINT name
UNIQUE (...)`` / ``CHECK (...)``) and its indexes follow it; dropping the table drops
them with it.

Tables are created so that every table a foreign key references exists first, and
dropped in the reverse order. Statements use ``IF NOT EXISTS`` / ``IF EXISTS``: creating
what exists is a no-op and nothing is ever altered. DDL cannot bind parameters, so
server defaults are rendered as literals by the dialect (strings quoted, ``''``
doubled), given as ``text("SQL")``, or are a current-time function (``func.now()``)
the dialect writes for the column's type.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ormkit.dialects.base import Dialect, get_dialect
from ormkit.orm.foreign_keys import foreign_key_groups

__all__ = [
    "create_all_sql",
    "create_table_sql",
    "drop_all_sql",
    "index_name",
    "schema_object_names",
    "sort_models",
]


def index_name(table: str, columns: Iterable[str]) -> str:
    """The name ormkit gives an index: ``ix_<table>_<col>[_<col>…]``."""
    return "ix_" + "_".join((table, *columns))


def _column_sql(info: Any, d: Dialect, inline_pk: bool) -> str:
    q = d.quote
    if inline_pk:
        return f"{q(info.name)} {d.autoincrement_primary_key(info.type)}"
    parts = [q(info.name), d.column_type(info.type)]
    if not info.nullable:
        parts.append("NOT NULL")
    if info.server_default is not None:
        parts.append("DEFAULT " + _default_sql(info.server_default, info.type.kind, d))
    if info.unique and not info.index and not _sole_pk(info):
        parts.append("UNIQUE")
    return " ".join(parts)


def _sole_pk(info: Any) -> bool:
    pk = info.model.__primary_key__
    return isinstance(pk, str) and pk == info.key


def _default_sql(value: Any, kind: str, d: Dialect) -> str:
    """The SQL after ``DEFAULT`` for a column of type ``kind``: an expression (``text()``
    or a current-time function such as ``func.now()``, in the column's stored form) in
    parentheses, or a literal."""
    from ormkit.sql.expressions import TextClause, current_time_function

    function = current_time_function(value)
    if function is not None:
        return f"({d.current_time(function, kind)})"
    sql = d.render_literal(value)
    return f"({sql})" if isinstance(value, TextClause) else sql


def create_table_sql(model: type[Any], dialect: str | Dialect) -> list[str]:
    """``CREATE TABLE IF NOT EXISTS`` for ``model`` followed by its ``CREATE INDEX``es."""
    # here: ormkit.orm imports this module
    from ormkit.orm.constraints import UniqueConstraint, bound_name

    d = get_dialect(dialect)
    q = d.quote
    table = model.__tablename__
    columns = model.__columns__
    pk = model.__primary_key__
    pk_keys = (pk,) if isinstance(pk, str) else tuple(pk)
    inline = len(pk_keys) == 1 and columns[pk_keys[0]].autoincrement
    lines = [_column_sql(info, d, inline and info.key == pk_keys[0]) for info in columns.values()]
    if not inline:
        lines.append("PRIMARY KEY (" + ", ".join(q(columns[k].name) for k in pk_keys) + ")")
    for fk in foreign_key_groups(model):
        own = ", ".join(q(n) for n in fk.names)
        referenced = ", ".join(q(n) for n in fk.referenced)
        line = f"FOREIGN KEY ({own}) REFERENCES {q(fk.table)} ({referenced})"
        if fk.ondelete:
            line += f" ON DELETE {fk.ondelete}"
        if fk.onupdate:
            line += f" ON UPDATE {fk.onupdate}"
        lines.append(line)
    for con in getattr(model, "__table_constraints__", ()):
        if isinstance(con, UniqueConstraint):
            cols = ", ".join(q(columns[k].name) for k in con.columns)
            lines.append(f"CONSTRAINT {q(bound_name(con))} UNIQUE ({cols})")
        else:
            lines.append(f"CONSTRAINT {q(bound_name(con))} CHECK ({con.sqltext})")
    body = ",\n    ".join(lines)
    statements = [f"CREATE TABLE IF NOT EXISTS {q(table)} (\n    {body}\n)"]
    for name, unique, names in _column_indexes(model) + _declared_indexes(model):
        cols = ", ".join(q(n) for n in names)
        statements.append(
            f"CREATE {'UNIQUE ' if unique else ''}INDEX IF NOT EXISTS {q(name)} "
            f"ON {q(table)} ({cols})"
        )
    return statements


def _column_indexes(model: type[Any]) -> list[tuple[str, bool, list[str]]]:
    """(name, unique, column names) of the indexes of ``mapped_column(index=True)``."""
    table = model.__tablename__
    return [
        (index_name(table, (info.name,)), info.unique, [info.name])
        for info in model.__columns__.values()
        if info.index
    ]


def _declared_indexes(model: type[Any]) -> list[tuple[str, bool, list[str]]]:
    """(name, unique, column names) of the indexes of ``__table_args__``."""
    from ormkit.orm.constraints import bound_name

    columns = model.__columns__
    return [
        (bound_name(idx), idx.unique, [columns[k].name for k in idx.columns])
        for idx in getattr(model, "__indexes__", ())
    ]


def schema_object_names(model: type[Any]) -> list[str]:
    """The names ``model``'s table puts in the schema-wide namespace of indexes (on
    PostgreSQL unique constraints are indexes too): its column indexes, and the unique
    constraints and indexes of its ``__table_args__``."""
    from ormkit.orm.constraints import UniqueConstraint, bound_name

    names = [name for name, _, _ in _column_indexes(model)]
    for con in getattr(model, "__table_constraints__", ()):
        if isinstance(con, UniqueConstraint):
            names.append(bound_name(con))
    names.extend(name for name, _, _ in _declared_indexes(model))
    return names


def _check_unique_names(models: Iterable[type[Any]]) -> None:
    owner: dict[str, str] = {}
    for model in models:
        table = model.__tablename__
        for name in schema_object_names(model):
            other = owner.setdefault(name, table)
            if other != table:
                raise ValueError(
                    f"tables {other!r} and {table!r} both have an index or unique "
                    f"constraint named {name!r}; index names are shared by the whole schema"
                )


def sort_models(models: Iterable[type[Any]]) -> list[type[Any]]:
    """``models`` ordered so that referenced tables come before the tables that reference
    them (a stable topological sort; self-references are ignored). Raises ``ValueError``
    on a cycle."""
    ordered = list(dict.fromkeys(models))
    by_table = {m.__tablename__: m for m in ordered}
    deps: dict[type[Any], set[type[Any]]] = {}
    for model in ordered:
        refs = set()
        for info in model.__columns__.values():
            fk = info.foreign_key
            if fk is not None and fk.table in by_table and by_table[fk.table] is not model:
                refs.add(by_table[fk.table])
        deps[model] = refs
    done: list[type[Any]] = []
    placed: set[type[Any]] = set()
    while len(done) < len(ordered):
        progress = False
        for model in ordered:
            if model not in placed and deps[model] <= placed:
                done.append(model)
                placed.add(model)
                progress = True
        if not progress:
            cycle = sorted(m.__tablename__ for m in ordered if m not in placed)
            raise ValueError(f"foreign keys form a cycle between tables: {', '.join(cycle)}")
    return done


def _models(models: Iterable[type[Any]] | None) -> list[type[Any]]:
    if models is None:
        from ormkit.orm.base import registered_models

        return registered_models()
    return list(models)


def create_all_sql(models: Iterable[type[Any]] | None, dialect: str | Dialect) -> list[str]:
    """Every CREATE TABLE / CREATE INDEX for ``models`` (None: every registered model),
    in dependency order. Raises ``ValueError`` when two tables use one index or unique
    constraint name (the second would silently not be created)."""
    ordered = sort_models(_models(models))
    _check_unique_names(ordered)
    out: list[str] = []
    for model in ordered:
        out.extend(create_table_sql(model, dialect))
    return out


def drop_all_sql(models: Iterable[type[Any]] | None, dialect: str | Dialect) -> list[str]:
    """``DROP TABLE IF EXISTS`` for ``models`` (None: every registered model), referencing
    tables first."""
    d = get_dialect(dialect)
    return [
        f"DROP TABLE IF EXISTS {d.quote(m.__tablename__)}"
        for m in reversed(sort_models(_models(models)))
    ]
