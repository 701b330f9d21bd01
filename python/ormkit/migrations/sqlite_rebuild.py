"""SQLite table rebuilds: the changes ``ALTER TABLE`` cannot make.

The procedure is the one SQLite documents (``lang_altertable.html``, "making other
kinds of table schema changes"), run inside the migration's transaction with foreign
key enforcement switched off by the runner beforehand:

1. read the table: columns (``pragma_table_xinfo``), primary key, unique constraints,
   foreign keys (PRAGMAs) and what only the stored statement holds (constraint names,
   ``CHECK``, ``COLLATE``, ``AUTOINCREMENT``), plus its indexes, triggers and the
   views that mention it;
2. apply the requested changes to that description;
3. ``CREATE TABLE`` a new table, copy every row with ``INSERT … SELECT``, drop the
   old table, rename the new one, and recreate the indexes, triggers and views
   (with renamed columns renamed, and those on dropped columns dropped);
4. ``PRAGMA foreign_key_check`` on the table and on the tables that reference it,
   failing (so the transaction rolls back) if any row now breaks a foreign key.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ormkit.dialects import get_dialect
from ormkit.migrations.context import MigrationContext
from ormkit.migrations.ddl import MigrationError, fk_clause
from ormkit.migrations.operations import (
    NOT_GIVEN,
    AddColumnOp,
    AlterColumnOp,
    CreateCheckConstraintOp,
    CreateForeignKeyOp,
    CreateUniqueConstraintOp,
    DropColumnOp,
    DropConstraintOp,
    MigrateOperation,
)
from ormkit.migrations.sa import render_default
from ormkit.migrations.sa_types import to_instance
from ormkit.schema.sqlite_sql import tokenize

__all__ = ["TableDef", "load_table", "rebuild_table"]

_TYPE_ALIASES = {
    "foreignkey": "foreign_key",
    "foreign_key": "foreign_key",
    "fk": "foreign_key",
    "unique": "unique",
    "primary": "primary_key",
    "primary_key": "primary_key",
    "check": "check",
}


@dataclass
class ColumnDef:
    """One column of the rebuilt table; ``source`` is the old column it is copied from."""

    name: str
    type: str
    notnull: bool
    default: str | None
    source: str | None
    collate: str | None = None
    autoincrement: bool = False


@dataclass
class ConstraintDef:
    """A primary key, unique, foreign key or check constraint."""

    kind: str
    name: str | None
    columns: list[str] = field(default_factory=list)
    referred_table: str | None = None
    referred_columns: list[str] = field(default_factory=list)
    ondelete: str | None = None
    onupdate: str | None = None
    text: str = ""


@dataclass
class TableDef:
    """A table as the rebuild sees it."""

    name: str
    columns: list[ColumnDef]
    constraints: list[ConstraintDef]
    options: str = ""
    dropped: set[str] = field(default_factory=set)
    renamed: dict[str, str] = field(default_factory=dict)

    def column(self, name: str) -> ColumnDef:
        """The column called ``name``; raises MigrationError when there is none."""
        low = name.lower()
        for col in self.columns:
            if col.name.lower() == low:
                return col
        raise MigrationError(f"table {self.name!r} has no column {name!r}")


#: a default SQLite takes without parentheses: a number, a string or blob literal, NULL,
#: TRUE/FALSE or CURRENT_TIME/CURRENT_DATE/CURRENT_TIMESTAMP
_LITERAL_DEFAULT = re.compile(
    r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:e[+-]?\d+)?|0x[0-9a-f]+|'(?:[^']|'')*'|x'[0-9a-f]*'"
    r"|null|true|false|current_(?:time|date|timestamp)",
    re.IGNORECASE,
)


def _default_clause(default: str | None) -> str | None:
    """The SQL after ``DEFAULT`` for a default as ``pragma_table_xinfo`` reports it:
    SQLite gives an expression default (``DEFAULT (date('now'))``) without its
    parentheses, which CREATE TABLE needs back."""
    if default is None or _LITERAL_DEFAULT.fullmatch(default.strip()):
        return default
    return f"({default})"


def load_table(ctx: MigrationContext, table: str) -> TableDef:
    """Reads ``table``'s definition (inside the migration's transaction)."""
    insp = ctx.inspector()
    parsed = ctx.run(insp.parsed_table(table))
    if parsed is None:
        raise MigrationError(f"no table {table!r} to alter")
    rows = ctx.query(
        'SELECT name, type, "notnull" AS nn, dflt_value, pk, hidden '
        "FROM pragma_table_xinfo($1) ORDER BY cid",
        [table],
    )
    columns: list[ColumnDef] = []
    for r in rows:
        if r["hidden"] in (2, 3):
            raise MigrationError(f"table {table!r} has generated columns; ormkit cannot rebuild it")
        if r["hidden"]:
            continue
        pc = parsed.column(r["name"])
        columns.append(
            ColumnDef(
                name=r["name"],
                type=r["type"] or "",
                notnull=bool(r["nn"]),
                default=_default_clause(r["dflt_value"]),
                source=r["name"],
                collate=pc.collate if pc else None,
                autoincrement=bool(pc and pc.autoincrement),
            )
        )
    constraints: list[ConstraintDef] = []
    for con in ctx.run(insp.get_constraints(table)):
        constraints.append(
            ConstraintDef(
                kind=con["type"],
                name=con["name"],
                columns=list(con["columns"]),
                referred_table=con.get("referred_table"),
                referred_columns=list(con.get("referred_columns") or []),
                ondelete=con.get("ondelete"),
                onupdate=con.get("onupdate"),
            )
        )
    for pcon in parsed.all_constraints():
        if pcon.kind == "check":
            constraints.append(ConstraintDef("check", pcon.name, text=_strip_name(pcon.text)))
    for pcol in parsed.columns:
        for check in pcol.checks:
            if not any(c.kind == "check" and c.text == check for c in constraints):
                constraints.append(ConstraintDef("check", None, text=check))
    return TableDef(table, columns, constraints, parsed.options)


def _strip_name(text: str) -> str:
    toks = tokenize(text)
    if len(toks) > 2 and toks[0].word == "constraint":
        return text[toks[2].start :]
    return text


def _rename_in(columns: list[str], old: str, new: str) -> list[str]:
    return [new if c.lower() == old.lower() else c for c in columns]


def _rename_sql(sql: str, mapping: dict[str, str], quote: Any) -> str:
    """``sql`` with identifier tokens in ``mapping`` (lower-case keys) replaced."""
    if not mapping:
        return sql
    out: list[str] = []
    pos = 0
    for tok in tokenize(sql):
        if tok.kind in ("word", "quoted") and tok.name.lower() in mapping:
            out.append(sql[pos : tok.start])
            out.append(quote(mapping[tok.name.lower()]))
            pos = tok.end
    out.append(sql[pos:])
    return "".join(out)


def _mentions(sql: str, names: set[str]) -> bool:
    return any(t.kind in ("word", "quoted") and t.name.lower() in names for t in tokenize(sql))


def _apply(tdef: TableDef, op: MigrateOperation) -> None:
    d = "sqlite"
    if isinstance(op, AddColumnOp):
        col = op.column
        if any(c.name.lower() == col.name.lower() for c in tdef.columns):
            if op.if_not_exists:
                return
            raise MigrationError(f"table {tdef.name!r} already has a column {col.name!r}")
        default = None
        if col.server_default is not None:
            default = render_default(col.server_default, d)
        tdef.columns.append(
            ColumnDef(col.name, col.type.compile(d), not col.nullable, default, None)
        )
        if col.primary_key:
            tdef.constraints = [c for c in tdef.constraints if c.kind != "primary_key"]
            tdef.constraints.append(ConstraintDef("primary_key", None, [col.name]))
        if col.unique and not col.index:
            tdef.constraints.append(ConstraintDef("unique", None, [col.name]))
        for fk in col.foreign_keys:
            tdef.constraints.append(
                ConstraintDef(
                    "foreign_key",
                    fk.name,
                    [col.name],
                    fk.referred_table,
                    [fk.referred_column],
                    fk.ondelete,
                    fk.onupdate,
                )
            )
    elif isinstance(op, DropColumnOp):
        try:
            col_def = tdef.column(op.column_name)
        except MigrationError:
            if op.if_exists:
                return
            raise
        tdef.columns.remove(col_def)
        low = col_def.name.lower()
        tdef.dropped.add(low)
        kept = []
        for con in tdef.constraints:
            if con.kind == "check":
                if _mentions(con.text, {low}):
                    continue
            elif low in (c.lower() for c in con.columns):
                continue
            kept.append(con)
        tdef.constraints = kept
    elif isinstance(op, AlterColumnOp):
        col_def = tdef.column(op.column_name)
        if op.type_ is not None:
            col_def.type = to_instance(op.type_).compile(d)
        if op.nullable is not None:
            col_def.notnull = not op.nullable
        if op.server_default is not NOT_GIVEN:
            col_def.default = (
                None if op.server_default is None else render_default(op.server_default, d)
            )
        if op.new_column_name:
            old = col_def.name
            col_def.name = op.new_column_name
            tdef.renamed[old.lower()] = op.new_column_name
            for con in tdef.constraints:
                con.columns = _rename_in(con.columns, old, op.new_column_name)
                if con.kind == "check":
                    con.text = _rename_sql(
                        con.text, {old.lower(): op.new_column_name}, get_dialect(d).quote
                    )
    elif isinstance(op, CreateUniqueConstraintOp):
        for name in op.columns:
            tdef.column(name)
        tdef.constraints.append(ConstraintDef("unique", op.constraint_name, list(op.columns)))
    elif isinstance(op, CreateForeignKeyOp):
        for name in op.local_cols:
            tdef.column(name)
        tdef.constraints.append(
            ConstraintDef(
                "foreign_key",
                op.constraint_name,
                list(op.local_cols),
                op.referent_table,
                list(op.remote_cols),
                op.ondelete,
                op.onupdate,
            )
        )
    elif isinstance(op, CreateCheckConstraintOp):
        tdef.constraints.append(
            ConstraintDef("check", op.constraint_name, text=f"CHECK ({op.condition})")
        )
    elif isinstance(op, DropConstraintOp):
        kind = _TYPE_ALIASES.get((op.type_ or "").lower()) if op.type_ else None
        found = [
            c
            for c in tdef.constraints
            if c.name is not None
            and c.name.lower() == (op.constraint_name or "").lower()
            and (kind is None or c.kind == kind)
        ]
        if not found:
            if op.if_exists:
                return
            raise MigrationError(
                f"table {tdef.name!r} has no constraint named {op.constraint_name!r}"
            )
        for con in found:
            tdef.constraints.remove(con)
    else:
        raise MigrationError(f"{type(op).__name__} cannot be done by a SQLite table rebuild")


def create_sql(tdef: TableDef, name: str) -> str:
    """The ``CREATE TABLE`` statement for ``tdef`` under ``name``."""
    q = get_dialect("sqlite").quote
    pk = next((c for c in tdef.constraints if c.kind == "primary_key"), None)
    lines: list[str] = []
    inline_pk: str | None = None
    if pk is not None and len(pk.columns) == 1:
        col = tdef.column(pk.columns[0])
        if col.autoincrement:
            inline_pk = col.name
    for col in tdef.columns:
        parts = [q(col.name)]
        if col.type:
            parts.append(col.type)
        if inline_pk == col.name:
            named = f"CONSTRAINT {q(pk.name)} " if pk is not None and pk.name else ""
            parts.append(f"{named}PRIMARY KEY AUTOINCREMENT")
        elif col.notnull:
            parts.append("NOT NULL")
        if col.default is not None:
            parts.append(f"DEFAULT {col.default}")
        if col.collate:
            parts.append(f"COLLATE {q(col.collate)}")
        lines.append(" ".join(parts))
    for con in tdef.constraints:
        named = f"CONSTRAINT {q(con.name)} " if con.name else ""
        cols = ", ".join(q(c) for c in con.columns)
        if con.kind == "primary_key":
            if inline_pk is None:
                lines.append(f"{named}PRIMARY KEY ({cols})")
        elif con.kind == "unique":
            lines.append(f"{named}UNIQUE ({cols})")
        elif con.kind == "foreign_key":
            ref = fk_clause(
                q, con.referred_table or "", con.referred_columns, con.ondelete, con.onupdate
            )
            lines.append(f"{named}FOREIGN KEY ({cols}) {ref}")
        elif con.kind == "check":
            lines.append(f"{named}{con.text}")
    body = ",\n    ".join(lines)
    options = f" {tdef.options}" if tdef.options else ""
    return f"CREATE TABLE {q(name)} (\n    {body}\n){options}"


def rebuild_table(ctx: MigrationContext, table: str, ops: Sequence[MigrateOperation]) -> None:
    """Applies ``ops`` to ``table`` by rebuilding it (see the module docstring)."""
    q = get_dialect("sqlite").quote
    tdef = load_table(ctx, table)
    for op in ops:
        _apply(tdef, op)
    if not tdef.columns:
        raise MigrationError(f"table {table!r} would have no columns left")
    schema_rows = ctx.query(
        "SELECT type, name, tbl_name, sql FROM sqlite_master "
        "WHERE sql IS NOT NULL AND type IN ('index', 'trigger', 'view') ORDER BY rowid"
    )
    low_table = table.lower()
    indexes = [
        r for r in schema_rows if r["type"] == "index" and r["tbl_name"].lower() == low_table
    ]
    # Triggers on the table, and triggers or views elsewhere that mention it: SQLite
    # checks them when the new table is renamed into place, so they are dropped first.
    triggers = [
        r
        for r in schema_rows
        if r["type"] == "trigger"
        and (r["tbl_name"].lower() == low_table or _mentions(r["sql"], {low_table}))
    ]
    views = [r for r in schema_rows if r["type"] == "view" and _mentions(r["sql"], {low_table})]
    temp = f"_ormkit_tmp_{table}"
    for view in views:
        ctx.execute(f"DROP VIEW {q(view['name'])}")
    for trigger in triggers:
        ctx.execute(f"DROP TRIGGER {q(trigger['name'])}")
    ctx.execute(create_sql(tdef, temp))
    copied = [c for c in tdef.columns if c.source is not None]
    if copied:
        targets = ", ".join(q(c.name) for c in copied)
        sources = ", ".join(q(c.source or "") for c in copied)
        ctx.execute(f"INSERT INTO {q(temp)} ({targets}) SELECT {sources} FROM {q(table)}")
    ctx.execute(f"DROP TABLE {q(table)}")
    ctx.execute(f"ALTER TABLE {q(temp)} RENAME TO {q(table)}")
    for row in indexes:
        if _mentions(_after_on(row["sql"]), tdef.dropped):
            continue
        ctx.execute(_rename_sql(row["sql"], tdef.renamed, q))
    for row in triggers:
        own = row["tbl_name"].lower() == low_table
        ctx.execute(_rename_sql(row["sql"], tdef.renamed, q) if own else row["sql"])
    for row in views:
        ctx.execute(row["sql"])
    ctx.rebuilt.add(table)


def _after_on(sql: str) -> str:
    toks = tokenize(sql)
    for tok in toks:
        if tok.word == "on":
            return sql[tok.end :]
    return sql


def check_foreign_keys(ctx: MigrationContext, tables: set[str]) -> None:
    """Fails when rows of ``tables``, or rows referencing them, break a foreign key."""
    if not tables or ctx.executor is None:
        return
    lows = {t.lower() for t in tables}
    rows = ctx.query('SELECT "table" AS t, parent FROM pragma_foreign_key_check')
    bad = sorted(
        {
            f"{r['t']} -> {r['parent']}"
            for r in rows
            if r["t"].lower() in lows or str(r["parent"]).lower() in lows
        }
    )
    if bad:
        raise MigrationError("rebuilding left rows that break foreign keys: " + ", ".join(bad))
