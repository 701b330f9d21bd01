"""DDL: CREATE TABLE / CREATE INDEX / DROP TABLE for models, in dependency order.

Tables are created so that every table a foreign key references exists first, and
dropped in the reverse order. Statements use ``IF NOT EXISTS`` / ``IF EXISTS``: creating
what exists is a no-op and nothing is ever altered. DDL cannot bind parameters, so
server defaults are rendered as literals by the dialect (strings quoted, ``''``
doubled) or given as ``text("SQL")``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ormkit.dialects.base import Dialect, get_dialect
from ormkit.orm.foreign_keys import foreign_key_groups

__all__ = ["create_all_sql", "create_table_sql", "drop_all_sql", "index_name", "sort_models"]


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
        parts.append("DEFAULT " + _default_sql(info.server_default, d))
    if info.unique and not info.index and not _sole_pk(info):
        parts.append("UNIQUE")
    return " ".join(parts)


def _sole_pk(info: Any) -> bool:
    pk = info.model.__primary_key__
    return isinstance(pk, str) and pk == info.key


def _default_sql(value: Any, d: Dialect) -> str:
    from ormkit.sql.expressions import TextClause

    sql = d.render_literal(value)
    return f"({sql})" if isinstance(value, TextClause) else sql


def create_table_sql(model: type[Any], dialect: str | Dialect) -> list[str]:
    """``CREATE TABLE IF NOT EXISTS`` for ``model`` followed by its ``CREATE INDEX``es."""
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
    body = ",\n    ".join(lines)
    statements = [f"CREATE TABLE IF NOT EXISTS {q(table)} (\n    {body}\n)"]
    for info in columns.values():
        if not info.index:
            continue
        unique = "UNIQUE " if info.unique else ""
        name = q(index_name(table, (info.name,)))
        statements.append(
            f"CREATE {unique}INDEX IF NOT EXISTS {name} ON {q(table)} ({q(info.name)})"
        )
    return statements


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
    in dependency order."""
    out: list[str] = []
    for model in sort_models(_models(models)):
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
