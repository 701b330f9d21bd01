"""Turning operations into SQL for PostgreSQL and SQLite, and running them.

PostgreSQL can do every operation with ``ALTER TABLE``. SQLite can add a plain column,
drop an unconstrained one, rename tables and columns, and create or drop indexes;
everything else (type, nullability and default changes, adding or dropping
constraints, columns with constraints) rebuilds the table
(:mod:`ormkit.migrations.sqlite_rebuild`) inside the migration's transaction.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ormkit.dialects import get_dialect
from ormkit.migrations.context import MigrationContext
from ormkit.migrations.operations import (
    NOT_GIVEN,
    AddColumnOp,
    AlterColumnOp,
    BulkInsertOp,
    CreateCheckConstraintOp,
    CreateForeignKeyOp,
    CreateIndexOp,
    CreateTableOp,
    CreateUniqueConstraintOp,
    DropColumnOp,
    DropConstraintOp,
    DropIndexOp,
    DropTableOp,
    ExecuteSQLOp,
    MigrateOperation,
    RenameTableOp,
)
from ormkit.migrations.sa import (
    CheckConstraint,
    Column,
    ForeignKeyConstraint,
    Index,
    PrimaryKeyConstraint,
    TableClause,
    TextClause,
    UniqueConstraint,
    render_default,
)
from ormkit.migrations.sa_types import (
    BIGINT,
    INTEGER,
    JSON,
    JSONB,
    SMALLINT,
    BigInteger,
    Integer,
    SmallInteger,
    TypeEngine,
    to_instance,
)
from ormkit.sql.textual import split_statements

__all__ = ["MigrationError", "MigrationImpl", "column_sql", "fk_clause"]

_INTEGER_TYPES = (Integer, BigInteger, SmallInteger, INTEGER, BIGINT, SMALLINT)
_SHAPE_OPS = (
    AddColumnOp,
    DropColumnOp,
    AlterColumnOp,
    CreateUniqueConstraintOp,
    CreateForeignKeyOp,
    CreateCheckConstraintOp,
    DropConstraintOp,
)


class MigrationError(Exception):
    """A migration cannot be carried out as written (bad revision file or schema state)."""


def fk_clause(
    quote: Any,
    referred_table: str,
    referred_columns: Sequence[str],
    ondelete: str | None,
    onupdate: str | None,
    deferrable: bool | None = None,
    initially: str | None = None,
    referred_schema: str | None = None,
) -> str:
    """``REFERENCES t (cols) [ON DELETE x] [ON UPDATE y] [DEFERRABLE …]``."""
    target = quote(referred_table)
    if referred_schema:
        target = f"{quote(referred_schema)}.{target}"
    sql = f"REFERENCES {target} ({', '.join(quote(c) for c in referred_columns)})"
    if ondelete:
        sql += f" ON DELETE {_action(ondelete)}"
    if onupdate:
        sql += f" ON UPDATE {_action(onupdate)}"
    if deferrable is not None:
        sql += " DEFERRABLE" if deferrable else " NOT DEFERRABLE"
    if initially:
        sql += f" INITIALLY {_action(initially)}"
    return sql


def _action(value: str) -> str:
    text = " ".join(str(value).upper().split())
    allowed = {
        "CASCADE",
        "SET NULL",
        "SET DEFAULT",
        "RESTRICT",
        "NO ACTION",
        "DEFERRED",
        "IMMEDIATE",
    }
    if text not in allowed:
        raise MigrationError(f"unknown foreign key action {value!r}")
    return text


def _is_autoincrement(col: Column, pk_columns: Sequence[str]) -> bool:
    if col.identity is not None:
        return True
    if list(pk_columns) != [col.name] or col.autoincrement is False:
        return False
    if col.foreign_keys or col.server_default is not None:
        return False
    return isinstance(col.type, _INTEGER_TYPES)


def column_sql(
    col: Column,
    dialect: str,
    *,
    autoincrement: bool = False,
    inline_pk: str = "",
) -> str:
    """One column definition: ``name TYPE [NOT NULL] [DEFAULT …] [identity]``."""
    q = get_dialect(dialect).quote
    parts = [q(col.name), col.type.compile(dialect)]
    if col.computed is not None:
        stored = " STORED" if dialect == "postgresql" or col.computed.persisted else ""
        parts.append(f"GENERATED ALWAYS AS ({col.computed.sqltext}){stored}")
    if inline_pk:
        parts.append(inline_pk)
    elif not col.nullable:
        parts.append("NOT NULL")
    if col.server_default is not None:
        parts.append("DEFAULT " + render_default(col.server_default, dialect))
    if autoincrement and dialect == "postgresql":
        ident = col.identity
        kind = "ALWAYS" if ident is not None and ident.always else "BY DEFAULT"
        opts = []
        if ident is not None and ident.start is not None:
            opts.append(f"START WITH {int(ident.start)}")
        if ident is not None and ident.increment is not None:
            opts.append(f"INCREMENT BY {int(ident.increment)}")
        parts.append(f"GENERATED {kind} AS IDENTITY" + (f" ({' '.join(opts)})" if opts else ""))
    return " ".join(parts)


class _Bind:
    """``op.get_bind()``: runs statements and returns ormkit QueryResults."""

    def __init__(self, impl: MigrationImpl) -> None:
        self._impl = impl
        self.dialect = _DialectName(impl.dialect)

    def execute(self, statement: Any, params: Sequence[Any] | None = None) -> Any:
        """Runs ``statement`` (str or ``sa.text()``); returns the result."""
        sql = statement.text if isinstance(statement, TextClause) else statement
        if not isinstance(sql, str):
            raise TypeError("op.get_bind().execute() takes SQL text or sa.text()")
        return self._impl.ctx.execute(sql, params)

    def exec_driver_sql(self, sql: str, params: Sequence[Any] | None = None) -> Any:
        """Same as :meth:`execute`."""
        return self.execute(sql, params)


class _DialectName:
    def __init__(self, name: str) -> None:
        self.name = name


class MigrationImpl:
    """Applies operation objects through a :class:`MigrationContext`."""

    def __init__(self, ctx: MigrationContext) -> None:
        self.ctx = ctx
        self.dialect = ctx.dialect
        self.as_sql = ctx.as_sql
        self.quote = get_dialect(self.dialect).quote

    # -- helpers -------------------------------------------------------------------------

    def _table(self, name: str, schema: str | None = None) -> str:
        q = self.quote
        return f"{q(schema)}.{q(name)}" if schema else q(name)

    def _exec(self, sql: str, params: Sequence[Any] | None = None) -> Any:
        return self.ctx.execute(sql, params)

    def get_bind(self) -> Any:
        """A minimal connection for data migrations (not in ``sql`` mode)."""
        if self.as_sql:
            raise MigrationError("op.get_bind() cannot be used in sql (offline) mode")
        return _Bind(self)

    def apply(self, operation: MigrateOperation) -> Any:
        """Runs (or prints) one operation."""
        method = getattr(self, "_" + type(operation).__name__, None)
        if method is None:
            raise MigrationError(f"unsupported operation {type(operation).__name__}")
        return method(operation)

    def apply_batch(self, table_name: str, schema: str | None, ops: list[MigrateOperation]) -> None:
        """Runs a ``batch_alter_table`` block: on SQLite the changes that need a rebuild
        share one; elsewhere each runs in order."""
        if self.dialect != "sqlite" or not ops:
            for operation in ops:
                self.apply(operation)
            return
        shape = [o for o in ops if isinstance(o, _SHAPE_OPS)]
        if not any(self._sqlite_needs_rebuild(o) for o in shape):
            for operation in ops:
                self.apply(operation)
            return
        from ormkit.migrations.sqlite_rebuild import rebuild_table

        for operation in ops:
            if isinstance(operation, DropIndexOp):
                self.apply(operation)
        rebuild_table(self.ctx, table_name, shape)
        for operation in ops:
            if not isinstance(operation, (*_SHAPE_OPS, DropIndexOp)):
                self.apply(operation)

    # -- tables --------------------------------------------------------------------------

    def _CreateTableOp(self, op: CreateTableOp) -> TableClause:
        d = self.dialect
        q = self.quote
        columns = op.columns
        pk_cols = [c.name for c in columns if c.primary_key]
        pk_name: str | None = None
        for item in op.items:
            if isinstance(item, PrimaryKeyConstraint):
                pk_cols = item.columns or pk_cols
                pk_name = item.name
        sqlite_auto = bool(op.kw.get("sqlite_autoincrement"))
        lines: list[str] = []
        pre: list[str] = []
        for col in columns:
            auto = _is_autoincrement(col, pk_cols)
            inline = ""
            if d == "sqlite" and sqlite_auto and auto:
                inline = "PRIMARY KEY AUTOINCREMENT"
            pre.extend(col.type.create_statements(d, q))
            lines.append(column_sql(col, d, autoincrement=auto, inline_pk=inline))
        if pk_cols and not (d == "sqlite" and sqlite_auto and len(pk_cols) == 1):
            named = f"CONSTRAINT {q(pk_name)} " if pk_name else ""
            lines.append(f"{named}PRIMARY KEY ({', '.join(q(c) for c in pk_cols)})")
        indexes: list[CreateIndexOp] = []
        for col in columns:
            if col.unique and not col.index:
                lines.append(f"UNIQUE ({q(col.name)})")
            if col.index:
                name = f"ix_{op.table_name}_{col.name}"
                indexes.append(
                    CreateIndexOp(name, op.table_name, [col.name], col.unique, op.schema)
                )
            for fk in col.foreign_keys:
                named = f"CONSTRAINT {q(fk.name)} " if fk.name else ""
                ref = fk_clause(
                    q,
                    fk.referred_table,
                    [fk.referred_column],
                    fk.ondelete,
                    fk.onupdate,
                    fk.deferrable,
                    fk.initially,
                    fk.referred_schema,
                )
                lines.append(f"{named}FOREIGN KEY ({q(col.name)}) {ref}")
            for con in col.constraints:
                if isinstance(con, CheckConstraint):
                    named = f"CONSTRAINT {q(con.name)} " if con.name else ""
                    lines.append(f"{named}CHECK ({con.sqltext})")
        for item in op.items:
            if isinstance(item, UniqueConstraint):
                named = f"CONSTRAINT {q(item.name)} " if item.name else ""
                lines.append(f"{named}UNIQUE ({', '.join(q(c) for c in item.columns)})")
            elif isinstance(item, ForeignKeyConstraint):
                named = f"CONSTRAINT {q(item.name)} " if item.name else ""
                ref = fk_clause(
                    q,
                    item.referred_table,
                    item.referred_columns,
                    item.ondelete,
                    item.onupdate,
                    item.deferrable,
                    item.initially,
                    item.referred_schema,
                )
                lines.append(f"{named}FOREIGN KEY ({', '.join(q(c) for c in item.columns)}) {ref}")
            elif isinstance(item, CheckConstraint):
                named = f"CONSTRAINT {q(item.name)} " if item.name else ""
                lines.append(f"{named}CHECK ({item.sqltext})")
            elif isinstance(item, Index):
                indexes.append(
                    CreateIndexOp(
                        item.name,
                        op.table_name,
                        list(item.expressions),
                        item.unique,
                        op.schema,
                        None,
                        dict(item.kw),
                    )
                )
        for stmt in pre:
            self._exec(stmt)
        exists = "IF NOT EXISTS " if op.if_not_exists else ""
        body = ",\n    ".join(lines)
        self._exec(f"CREATE TABLE {exists}{self._table(op.table_name, op.schema)} (\n    {body}\n)")
        for index in indexes:
            self._CreateIndexOp(index)
        return op.to_table()

    def _DropTableOp(self, op: DropTableOp) -> None:
        exists = "IF EXISTS " if op.if_exists else ""
        self._exec(f"DROP TABLE {exists}{self._table(op.table_name, op.schema)}")

    def _RenameTableOp(self, op: RenameTableOp) -> None:
        self._exec(
            f"ALTER TABLE {self._table(op.old_table_name, op.schema)} "
            f"RENAME TO {self.quote(op.new_table_name)}"
        )

    # -- columns -------------------------------------------------------------------------

    def _sqlite_needs_rebuild(self, op: MigrateOperation) -> bool:
        if isinstance(op, AddColumnOp):
            col = op.column
            if col.primary_key or col.unique or col.computed is not None:
                return True
            if not col.nullable and col.server_default is None:
                return True
            if col.server_default is not None:
                rendered = render_default(col.server_default, "sqlite")
                return rendered.startswith("(") or rendered.upper().startswith("CURRENT_")
            return False
        if isinstance(op, DropColumnOp):
            return self._sqlite_column_constrained(op.table_name, op.column_name)
        if isinstance(op, AlterColumnOp):
            return (
                op.nullable is not None
                or op.type_ is not None
                or op.server_default is not NOT_GIVEN
            )
        return True

    def _sqlite_column_constrained(self, table: str, column: str) -> bool:
        insp = self.ctx.inspector()
        low = column.lower()
        for con in self.ctx.run(insp.get_constraints(table)):
            if low in (c.lower() for c in con["columns"]):
                return True
        for idx in self.ctx.run(insp.get_indexes(table)):
            if low in (str(c).lower() for c in idx["columns"]):
                return True
        rows = self.ctx.query(
            "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = $1 "
            "AND sql IS NOT NULL",
            [table],
        )
        from ormkit.schema.sqlite_sql import tokenize

        for row in rows:
            names = {t.name.lower() for t in tokenize(row["sql"]) if t.kind in ("word", "quoted")}
            if low in names:
                return True
        parsed = self.ctx.run(insp.parsed_table(table))
        if parsed is not None:
            for pcon in parsed.all_constraints():
                if pcon.kind == "check":
                    names = {t.name.lower() for t in tokenize(pcon.text)}
                    if low in names:
                        return True
            col = parsed.column(column)
            if col is not None and col.checks:
                return True
        return False

    def _rebuild(self, op: MigrateOperation, table: str) -> None:
        from ormkit.migrations.sqlite_rebuild import rebuild_table

        rebuild_table(self.ctx, table, [op])

    def _AddColumnOp(self, op: AddColumnOp) -> None:
        d = self.dialect
        q = self.quote
        col = op.column
        if d == "sqlite" and self._sqlite_needs_rebuild(op):
            self._rebuild(op, op.table_name)
        else:
            parts = [column_sql(col, d)]
            if col.primary_key:
                parts.append("PRIMARY KEY")
            if col.unique and not col.index:
                parts.append("UNIQUE")
            for fk in col.foreign_keys:
                named = f"CONSTRAINT {q(fk.name)} " if fk.name else ""
                parts.append(
                    named
                    + fk_clause(
                        q,
                        fk.referred_table,
                        [fk.referred_column],
                        fk.ondelete,
                        fk.onupdate,
                        fk.deferrable,
                        fk.initially,
                        fk.referred_schema,
                    )
                )
            exists = "IF NOT EXISTS " if op.if_not_exists and d == "postgresql" else ""
            self._exec(
                f"ALTER TABLE {self._table(op.table_name, op.schema)} "
                f"ADD COLUMN {exists}{' '.join(parts)}"
            )
        if col.index:
            self._CreateIndexOp(
                CreateIndexOp(
                    f"ix_{op.table_name}_{col.name}",
                    op.table_name,
                    [col.name],
                    col.unique,
                    op.schema,
                )
            )

    def _DropColumnOp(self, op: DropColumnOp) -> None:
        if self.dialect == "sqlite" and self._sqlite_needs_rebuild(op):
            self._rebuild(op, op.table_name)
            return
        exists = "IF EXISTS " if op.if_exists and self.dialect == "postgresql" else ""
        self._exec(
            f"ALTER TABLE {self._table(op.table_name, op.schema)} "
            f"DROP COLUMN {exists}{self.quote(op.column_name)}"
        )

    def _AlterColumnOp(self, op: AlterColumnOp) -> None:
        q = self.quote
        table = self._table(op.table_name, op.schema)
        if self.dialect == "sqlite":
            if self._sqlite_needs_rebuild(op):
                self._rebuild(op, op.table_name)
            elif op.new_column_name:
                self._exec(
                    f"ALTER TABLE {table} RENAME COLUMN {q(op.column_name)} "
                    f"TO {q(op.new_column_name)}"
                )
            return
        col = q(op.column_name)
        if op.nullable is not None:
            change = "DROP NOT NULL" if op.nullable else "SET NOT NULL"
            self._exec(f"ALTER TABLE {table} ALTER COLUMN {col} {change}")
        if op.server_default is not NOT_GIVEN:
            if op.server_default is None:
                self._exec(f"ALTER TABLE {table} ALTER COLUMN {col} DROP DEFAULT")
            else:
                default = render_default(op.server_default, self.dialect)
                self._exec(f"ALTER TABLE {table} ALTER COLUMN {col} SET DEFAULT {default}")
        if op.type_ is not None:
            new_type = to_instance(op.type_)
            for stmt in new_type.create_statements(self.dialect, q):
                self._exec(stmt)
            using = f" USING {op.postgresql_using}" if op.postgresql_using else ""
            self._exec(
                f"ALTER TABLE {table} ALTER COLUMN {col} TYPE "
                f"{new_type.compile(self.dialect)}{using}"
            )
        if op.new_column_name:
            self._exec(f"ALTER TABLE {table} RENAME COLUMN {col} TO {q(op.new_column_name)}")

    # -- indexes and constraints -----------------------------------------------------------

    def _CreateIndexOp(self, op: CreateIndexOp) -> None:
        q = self.quote
        exprs = []
        names = []
        for item in op.columns:
            if isinstance(item, TextClause):
                exprs.append(item.text)
            elif isinstance(item, Column):
                exprs.append(q(item.name))
                names.append(item.name)
            else:
                exprs.append(q(str(item)))
                names.append(str(item))
        name = op.index_name or "ix_" + "_".join([op.table_name, *names])
        unique = "UNIQUE " if op.unique else ""
        exists = "IF NOT EXISTS " if op.if_not_exists else ""
        using = ""
        if self.dialect == "postgresql" and op.kw.get("postgresql_using"):
            using = f" USING {op.kw['postgresql_using']}"
        where = op.kw.get(f"{self.dialect}_where")
        where_sql = ""
        if where is not None:
            where_sql = " WHERE " + (where.text if isinstance(where, TextClause) else str(where))
        self._exec(
            f"CREATE {unique}INDEX {exists}{q(name)} ON {self._table(op.table_name, op.schema)}"
            f"{using} ({', '.join(exprs)}){where_sql}"
        )

    def _DropIndexOp(self, op: DropIndexOp) -> None:
        if op.index_name is None:
            raise MigrationError("drop_index needs the index name")
        exists = "IF EXISTS " if op.if_exists else ""
        self._exec(f"DROP INDEX {exists}{self._table(op.index_name, op.schema)}")

    def _add_constraint(self, table: str, schema: str | None, name: str | None, body: str) -> None:
        named = f"CONSTRAINT {self.quote(name)} " if name else ""
        self._exec(f"ALTER TABLE {self._table(table, schema)} ADD {named}{body}")

    def _CreateUniqueConstraintOp(self, op: CreateUniqueConstraintOp) -> None:
        if self.dialect == "sqlite":
            self._rebuild(op, op.table_name)
            return
        cols = ", ".join(self.quote(c) for c in op.columns)
        self._add_constraint(op.table_name, op.schema, op.constraint_name, f"UNIQUE ({cols})")

    def _CreateForeignKeyOp(self, op: CreateForeignKeyOp) -> None:
        if self.dialect == "sqlite":
            self._rebuild(op, op.source_table)
            return
        q = self.quote
        ref = fk_clause(
            q,
            op.referent_table,
            op.remote_cols,
            op.ondelete,
            op.onupdate,
            op.deferrable,
            op.initially,
            op.referent_schema,
        )
        cols = ", ".join(q(c) for c in op.local_cols)
        self._add_constraint(
            op.source_table, op.source_schema, op.constraint_name, f"FOREIGN KEY ({cols}) {ref}"
        )

    def _CreateCheckConstraintOp(self, op: CreateCheckConstraintOp) -> None:
        if self.dialect == "sqlite":
            self._rebuild(op, op.table_name)
            return
        self._add_constraint(
            op.table_name, op.schema, op.constraint_name, f"CHECK ({op.condition})"
        )

    def _DropConstraintOp(self, op: DropConstraintOp) -> None:
        if op.constraint_name is None:
            raise MigrationError(
                f"drop_constraint on {op.table_name!r} needs the constraint's name"
            )
        if self.dialect == "sqlite":
            self._rebuild(op, op.table_name)
            return
        exists = "IF EXISTS " if op.if_exists else ""
        self._exec(
            f"ALTER TABLE {self._table(op.table_name, op.schema)} "
            f"DROP CONSTRAINT {exists}{self.quote(op.constraint_name)}"
        )

    # -- data ----------------------------------------------------------------------------

    def _ExecuteSQLOp(self, op: ExecuteSQLOp) -> None:
        sql = op.sqltext.text if isinstance(op.sqltext, TextClause) else op.sqltext
        if not isinstance(sql, str):
            raise MigrationError(
                "op.execute() takes SQL text or sa.text(); SQLAlchemy Core statements are "
                "not supported by ormkit"
            )
        for stmt in split_statements(sql):
            self._exec(stmt)

    def _BulkInsertOp(self, op: BulkInsertOp) -> None:
        if not op.rows:
            return
        q = self.quote
        types = {c.name: c.type for c in op.table.columns}
        table = self._table(op.table.name, op.table.schema)
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for row in op.rows:
            unknown = [k for k in row if types and k not in types]
            if unknown:
                raise MigrationError(
                    f"bulk_insert into {op.table.name!r}: unknown column(s) {unknown}"
                )
            groups.setdefault(tuple(row), []).append(row)
        limit = get_dialect(self.dialect).max_params
        for keys, rows in groups.items():
            cols = ", ".join(q(k) for k in keys)
            per_stmt = max(1, min(500, limit // max(1, len(keys))))
            for start in range(0, len(rows), per_stmt):
                chunk = rows[start : start + per_stmt]
                params: list[Any] = []
                values = []
                for row in chunk:
                    marks = []
                    for key in keys:
                        params.append(_bind_value(row[key], types.get(key)))
                        marks.append(f"${len(params)}")
                    values.append(f"({', '.join(marks)})")
                self._exec(f"INSERT INTO {table} ({cols}) VALUES {', '.join(values)}", params)


def _bind_value(value: Any, type_: TypeEngine | None) -> Any:
    if isinstance(value, dict | list) or (
        isinstance(type_, JSON | JSONB) and value is not None and not isinstance(value, str)
    ):
        return json.dumps(value)
    return value
