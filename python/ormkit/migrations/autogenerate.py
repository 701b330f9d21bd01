"""Autogenerate: compare ormkit models with the live schema and produce operations.

Detected: added and removed tables, columns, indexes, unique constraints and foreign
keys (single- and multi-column, including a model's ``__table_args__``); nullability
and type changes. Not compared (as in Alembic's defaults): server defaults, primary
keys, check constraints, comments; a new table is created with its check constraints.
Indexes are matched by name, unique constraints by their columns. An unchanged schema
gives no operations at all.

Types are compared in their normalised spelling (:func:`ormkit.schema.normalise_type`).
On SQLite, where a declared type only chooses a storage affinity, two types are the
same when their affinities are, and ``NUMERIC``-affinity names (``DATETIME``,
``BOOLEAN``, ``NUMERIC`` … as SQLAlchemy writes them) match any affinity, so a
database created by Alembic does not show up as changed.
"""

from __future__ import annotations

import importlib
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum
from typing import Any

from ormkit.migrations import sa
from ormkit.migrations import sa_types as t
from ormkit.migrations.operations import (
    AddColumnOp,
    AlterColumnOp,
    CreateForeignKeyOp,
    CreateIndexOp,
    CreateTableOp,
    CreateUniqueConstraintOp,
    DropColumnOp,
    DropConstraintOp,
    DropIndexOp,
    DropTableOp,
    MigrateOperation,
    conv,
)
from ormkit.migrations.version_table import VERSION_TABLE
from ormkit.orm.foreign_keys import foreign_key_groups
from ormkit.schema.introspect import Inspector, normalise_type
from ormkit.sql.mapped import is_model_class

__all__ = [
    "ColumnSpec",
    "TableSpec",
    "autogenerate",
    "collect_models",
    "compare_schemas",
    "live_schema",
    "model_schema",
    "sa_type_for",
    "types_equal",
]


@dataclass
class ColumnSpec:
    """A column as the comparison sees it."""

    name: str
    type: t.TypeEngine
    sql_type: str
    nullable: bool
    primary_key: bool = False
    autoincrement: bool = False
    server_default: Any = None

    def to_column(self) -> sa.Column:
        """The ``sa.Column`` for a revision file."""
        col = sa.Column(
            self.name, self.type, nullable=self.nullable, server_default=self.server_default
        )
        return col


@dataclass
class IndexSpec:
    """An index made with CREATE INDEX."""

    name: str
    columns: list[str]
    unique: bool


@dataclass
class UniqueSpec:
    """A unique constraint (name None when SQLite holds it unnamed)."""

    name: str | None
    columns: list[str]


@dataclass
class CheckSpec:
    """A check constraint (only written into a new table's ``create_table``)."""

    name: str | None
    sqltext: str


@dataclass
class ForeignKeySpec:
    """A foreign key constraint."""

    name: str | None
    columns: list[str]
    referred_table: str
    referred_columns: list[str]
    ondelete: str | None = None
    onupdate: str | None = None

    def key(self) -> tuple[Any, ...]:
        """What makes two foreign keys the same."""
        return (
            tuple(c.lower() for c in self.columns),
            self.referred_table.lower(),
            tuple(c.lower() for c in self.referred_columns),
            _action(self.ondelete),
            _action(self.onupdate),
        )

    def create_op(self, table: str) -> CreateForeignKeyOp:
        """``op.create_foreign_key`` of this constraint on ``table``."""
        return CreateForeignKeyOp(
            self.name,
            table,
            self.referred_table,
            list(self.columns),
            list(self.referred_columns),
            ondelete=self.ondelete,
            onupdate=self.onupdate,
        )


@dataclass
class TableSpec:
    """A table as the comparison sees it."""

    name: str
    columns: list[ColumnSpec]
    primary_key: list[str] = field(default_factory=list)
    indexes: list[IndexSpec] = field(default_factory=list)
    uniques: list[UniqueSpec] = field(default_factory=list)
    foreign_keys: list[ForeignKeySpec] = field(default_factory=list)
    checks: list[CheckSpec] = field(default_factory=list)

    def column(self, name: str) -> ColumnSpec | None:
        """The column called ``name``, or None."""
        for col in self.columns:
            if col.name.lower() == name.lower():
                return col
        return None

    def create_ops(self) -> list[MigrateOperation]:
        """``create_table`` (columns, primary key, foreign keys, uniques, checks) and its
        indexes."""
        items: list[Any] = []
        for spec in self.columns:
            col = spec.to_column()
            if spec.primary_key and not spec.autoincrement and _is_integer(spec.type):
                col.autoincrement = False
            items.append(col)
        if self.primary_key:
            items.append(sa.PrimaryKeyConstraint(*self.primary_key))
        for fk in self.foreign_keys:
            items.append(
                sa.ForeignKeyConstraint(
                    fk.columns,
                    [f"{fk.referred_table}.{c}" for c in fk.referred_columns],
                    name=fk.name,
                    ondelete=fk.ondelete,
                    onupdate=fk.onupdate,
                )
            )
        for uq in self.uniques:
            items.append(sa.UniqueConstraint(*uq.columns, name=uq.name))
        for ck in self.checks:
            items.append(sa.CheckConstraint(ck.sqltext, name=ck.name))
        ops: list[MigrateOperation] = [CreateTableOp(self.name, items)]
        for idx in self.indexes:
            ops.append(CreateIndexOp(idx.name, self.name, list(idx.columns), idx.unique))
        return ops


def _action(value: str | None) -> str | None:
    if not value:
        return None
    text = " ".join(value.upper().split())
    return None if text == "NO ACTION" else text


def _is_integer(type_: t.TypeEngine) -> bool:
    return isinstance(type_, t.Integer | t.BigInteger | t.SmallInteger | t.INTEGER | t.BIGINT)


# -- from models ------------------------------------------------------------------------


def sa_type_for(ctype: Any, *, autoincrement_pk: bool = False) -> t.TypeEngine:
    """The revision-file type for an ormkit :class:`~ormkit.types.ColumnType`.

    Written the way SQLAlchemy spells it, so Alembic and ormkit create the same column
    from it: exactly ``ctype.sql_type("postgresql")`` on PostgreSQL, and on SQLite a
    type of the same storage class as ormkit's, with variants where it matters (an
    ``INTEGER`` rowid key; decimals and JSON kept as text).
    """
    kind = ctype.kind
    if kind == "enum":
        values = [m.value for m in ctype.enum_class]
        if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            kind = "int"
        else:
            kind = "str"
    simple: dict[str, t.TypeEngine] = {
        "int4": t.Integer(),
        "float": t.Double(),
        "bool": t.Boolean(),
        "bytes": t.LargeBinary(),
        "datetime": t.DateTime(),
        "datetime_tz": t.DateTime(timezone=True),
        "date": t.Date(),
        "time": t.Time(),
        "timedelta": t.Interval(),
        "uuid": t.Uuid(),
    }
    if kind in simple:
        return simple[kind]
    if kind == "int":
        base: t.TypeEngine = t.BigInteger()
        if autoincrement_pk:
            base = base.with_variant(t.Integer(), "sqlite")
        return base
    if kind == "str":
        return t.String(length=ctype.max_length) if ctype.max_length else t.Text()
    if kind == "decimal":
        return t.Numeric(ctype.precision, ctype.scale).with_variant(t.Text(), "sqlite")
    if kind == "json":
        return t.JSON().with_variant(t.JSONB(), "postgresql").with_variant(t.Text(), "sqlite")
    raise TypeError(f"no revision-file type for column kind {kind!r}")


def _server_default(value: Any, kind: str, dialect: str) -> Any:
    """A model column's ``server_default`` as a revision file writes it. A current-time
    function (``func.now()``) becomes ``sa.text()`` of the SQL the dialect has for it in
    a column of type ``kind``, as CREATE TABLE writes it: on SQLite an expression giving
    the text ormkit stores the type in, which real Alembic writes as given as well."""
    if value is None:
        return None
    from ormkit.dialects import get_dialect
    from ormkit.sql.expressions import TextClause, current_time_function

    if isinstance(value, TextClause):
        return sa.text(value.text)
    function = current_time_function(value)
    if function is not None:
        return sa.text(get_dialect(dialect).current_time(function, kind))
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, bool):
        return sa.text("true" if value else "false")
    if isinstance(value, int | float | Decimal):
        return sa.text(str(value))
    return str(value)


def model_schema(models: Iterable[type[Any]], dialect: str) -> dict[str, TableSpec]:
    """The schema the models describe, by table name."""
    from ormkit.sql.ddl import index_name

    out: dict[str, TableSpec] = {}
    for model in models:
        table = model.__tablename__
        pk = model.__primary_key__
        pk_keys = (pk,) if isinstance(pk, str) else tuple(pk)
        columns = model.__columns__
        spec = TableSpec(table, [], [columns[k].name for k in pk_keys])
        for info in columns.values():
            auto = bool(info.autoincrement)
            spec.columns.append(
                ColumnSpec(
                    name=info.name,
                    type=sa_type_for(info.type, autoincrement_pk=auto),
                    sql_type=normalise_type(info.type.sql_type(dialect)),
                    nullable=bool(info.nullable),
                    primary_key=bool(info.primary_key),
                    autoincrement=auto,
                    server_default=_server_default(info.server_default, info.type.kind, dialect),
                )
            )
            sole_pk = list(pk_keys) == [info.key]
            if info.index:
                spec.indexes.append(
                    IndexSpec(conv(index_name(table, (info.name,))), [info.name], info.unique)
                )
            elif info.unique and not sole_pk:
                spec.uniques.append(UniqueSpec(conv(f"uq_{table}_{info.name}"), [info.name]))
        _table_args_specs(model, spec)
        for fk in foreign_key_groups(model):
            spec.foreign_keys.append(
                ForeignKeySpec(
                    conv(f"fk_{table}_{'_'.join(fk.names)}_{fk.table}"),
                    list(fk.names),
                    fk.table,
                    list(fk.referenced),
                    fk.ondelete,
                    fk.onupdate,
                )
            )
        out[table] = spec
    return out


def _table_args_specs(model: type[Any], spec: TableSpec) -> None:
    """The constraints and indexes of ``model``'s ``__table_args__`` into ``spec``."""
    from ormkit.orm.constraints import UniqueConstraint, bound_name

    columns = model.__columns__
    for con in getattr(model, "__table_constraints__", ()):
        if isinstance(con, UniqueConstraint):
            names = [columns[k].name for k in con.columns]
            spec.uniques.append(UniqueSpec(conv(bound_name(con)), names))
        else:
            spec.checks.append(CheckSpec(conv(bound_name(con)), con.sqltext))
    for idx in getattr(model, "__indexes__", ()):
        names = [columns[k].name for k in idx.columns]
        spec.indexes.append(IndexSpec(conv(bound_name(idx)), names, idx.unique))


# -- from the database --------------------------------------------------------------------


def type_from_sql(sql_type: str) -> t.TypeEngine:
    """A revision-file type for a normalised SQL type read from the database."""
    m = re.match(
        r"^([a-z_][a-z0-9_ ]*?)(?:\((\d+)(?:,(\d+))?\))?(\[\])?$", normalise_type(sql_type)
    )
    if m is None:
        return t.Text()
    base, a, b, array = m.group(1), m.group(2), m.group(3), m.group(4)
    if array:
        return t.ARRAY(type_from_sql(base))
    simple: dict[str, t.TypeEngine] = {
        "integer": t.Integer(),
        "bigint": t.BigInteger(),
        "smallint": t.SmallInteger(),
        "text": t.Text(),
        "boolean": t.Boolean(),
        "double precision": t.Double(),
        "real": t.REAL(),
        "float": t.Float(),
        "date": t.Date(),
        "time": t.Time(),
        "timetz": t.Time(timezone=True),
        "interval": t.Interval(),
        "bytea": t.LargeBinary(),
        "blob": t.LargeBinary(),
        "uuid": t.Uuid(),
        "jsonb": t.JSONB(),
        "json": t.PGJSON(),
        "datetime": t.DateTime(),
        "double": t.Double(),
        "timestamp": t.DateTime(),
        "timestamptz": t.DateTime(timezone=True),
    }
    if base in ("varchar", "nvarchar"):
        return t.String(length=int(a)) if a else t.String()
    if base == "char":
        return t.CHAR(length=int(a) if a else None)
    if base == "numeric":
        return t.Numeric(int(a) if a else None, int(b) if b else None)
    if base in simple:
        return simple[base]
    affinity = _affinity(base)
    if affinity == "INTEGER":
        return t.BigInteger()
    if affinity == "REAL":
        return t.Double()
    if affinity == "BLOB" and base:
        return t.LargeBinary()
    if affinity == "NUMERIC" and base.startswith(("num", "dec")):
        return t.Numeric()
    return t.Text()


async def live_schema(
    inspector: Inspector, *, exclude: Sequence[str] = (VERSION_TABLE,)
) -> dict[str, TableSpec]:
    """The schema in the database, by table name."""
    out: dict[str, TableSpec] = {}
    for table in await inspector.get_tables():
        if table in exclude or table.startswith("_ormkit_tmp_"):
            continue
        spec = TableSpec(table, [])
        for col in await inspector.get_columns(table):
            default = col["default"]
            spec.columns.append(
                ColumnSpec(
                    name=col["name"],
                    type=type_from_sql(col["type"]),
                    sql_type=col["type"],
                    nullable=bool(col["nullable"]),
                    primary_key=bool(col["primary_key"]),
                    autoincrement=bool(col.get("autoincrement")),
                    server_default=sa.text(default) if default is not None else None,
                )
            )
        for idx in await inspector.get_indexes(table):
            if any(c is None for c in idx["columns"]):
                continue
            spec.indexes.append(IndexSpec(idx["name"], list(idx["columns"]), bool(idx["unique"])))
        for con in await inspector.get_constraints(table):
            if con["type"] == "primary_key":
                spec.primary_key = list(con["columns"])
            elif con["type"] == "unique":
                spec.uniques.append(UniqueSpec(con["name"], list(con["columns"])))
            else:
                spec.foreign_keys.append(
                    ForeignKeySpec(
                        con["name"],
                        list(con["columns"]),
                        con["referred_table"],
                        list(con["referred_columns"]),
                        con.get("ondelete"),
                        con.get("onupdate"),
                    )
                )
        out[table] = spec
    return out


# -- comparing ----------------------------------------------------------------------------


def _affinity(sql_type: str) -> str:
    up = sql_type.upper()
    if "INT" in up:
        return "INTEGER"
    if any(k in up for k in ("CHAR", "CLOB", "TEXT")):
        return "TEXT"
    if "BLOB" in up or not up:
        return "BLOB"
    if any(k in up for k in ("REAL", "FLOA", "DOUB")):
        return "REAL"
    return "NUMERIC"


def types_equal(target: str, live: str, dialect: str) -> bool:
    """True when a model column of type ``target`` fits a live column of type ``live``."""
    a, b = normalise_type(target), normalise_type(live)
    if a == b:
        return True
    if dialect == "sqlite":
        fa, fb = _affinity(a), _affinity(b)
        return fa == fb or "NUMERIC" in (fa, fb)
    return False


def _sort_tables(specs: Sequence[TableSpec]) -> list[TableSpec]:
    names = {s.name for s in specs}
    placed: list[TableSpec] = []
    done: set[str] = set()
    pending = list(specs)
    while pending:
        ready = [
            s
            for s in pending
            if all(
                fk.referred_table in done
                or fk.referred_table not in names
                or fk.referred_table == s.name
                for fk in s.foreign_keys
            )
        ] or pending[:1]
        for s in ready:
            placed.append(s)
            done.add(s.name)
            pending.remove(s)
    return placed


def _drop_table_ops(spec: TableSpec) -> list[MigrateOperation]:
    create = spec.create_ops()
    ops: list[MigrateOperation] = []
    for op in create[1:]:
        assert isinstance(op, CreateIndexOp)
        ops.append(DropIndexOp(op.index_name, spec.name, existing=op))
    first = create[0]
    assert isinstance(first, CreateTableOp)
    ops.append(DropTableOp(spec.name, existing=first))
    return ops


def _compare_table(
    target: TableSpec, live: TableSpec, dialect: str, warnings: list[str]
) -> list[MigrateOperation]:
    name = target.name
    adds: list[MigrateOperation] = []
    alters: list[MigrateOperation] = []
    drop_cols: list[MigrateOperation] = []
    drop_fks: list[MigrateOperation] = []
    drop_uqs: list[MigrateOperation] = []
    drop_idx: list[MigrateOperation] = []
    new_idx: list[MigrateOperation] = []
    new_uqs: list[MigrateOperation] = []
    new_fks: list[MigrateOperation] = []

    for col in target.columns:
        have = live.column(col.name)
        if have is None:
            adds.append(AddColumnOp(name, col.to_column()))
            continue
        nullable_changed = not col.primary_key and col.nullable != have.nullable
        type_changed = not types_equal(col.sql_type, have.sql_type, dialect)
        if nullable_changed or type_changed:
            alters.append(
                AlterColumnOp(
                    name,
                    have.name,
                    nullable=col.nullable if nullable_changed else None,
                    type_=col.type if type_changed else None,
                    existing_type=have.type,
                    existing_nullable=have.nullable,
                )
            )
    dropped = set()
    for col in live.columns:
        if target.column(col.name) is None:
            dropped.add(col.name.lower())
            drop_cols.append(DropColumnOp(name, col.name, existing=col.to_column()))

    def unnamed(kind: str, columns: Sequence[str]) -> None:
        """A constraint not in the models that cannot be dropped by name: warn, unless
        its columns go anyway."""
        if not any(c.lower() in dropped for c in columns):
            warnings.append(
                f"{name}: an unnamed {kind} on ({', '.join(columns)}) is not in the models; "
                "it cannot be dropped by name, drop it by hand"
            )

    live_idx = {i.name: i for i in live.indexes}
    target_idx = {i.name: i for i in target.indexes}
    for idx_name, idx in live_idx.items():
        want = target_idx.get(idx_name)
        if (
            want is None
            or [c.lower() for c in want.columns] != [c.lower() for c in idx.columns]
            or want.unique != idx.unique
        ):
            existing = CreateIndexOp(idx_name, name, list(idx.columns), idx.unique)
            drop_idx.append(DropIndexOp(idx_name, name, existing=existing))
    for idx_name, idx in target_idx.items():
        have_idx = live_idx.get(idx_name)
        if (
            have_idx is None
            or [c.lower() for c in have_idx.columns] != [c.lower() for c in idx.columns]
            or have_idx.unique != idx.unique
        ):
            new_idx.append(CreateIndexOp(idx_name, name, list(idx.columns), idx.unique))

    def cols_key(columns: Sequence[str]) -> tuple[str, ...]:
        return tuple(c.lower() for c in columns)

    live_unique_sets = {cols_key(u.columns) for u in live.uniques}
    dropped_idx = {op.index_name for op in drop_idx if isinstance(op, DropIndexOp)}
    live_unique_sets |= {
        cols_key(i.columns) for i in live.indexes if i.unique and i.name not in dropped_idx
    }
    target_unique_sets = {cols_key(u.columns) for u in target.uniques}
    target_unique_sets |= {cols_key(i.columns) for i in target.indexes if i.unique}
    for uq in target.uniques:
        if cols_key(uq.columns) not in live_unique_sets:
            new_uqs.append(CreateUniqueConstraintOp(uq.name, name, list(uq.columns)))
    for uq in live.uniques:
        if cols_key(uq.columns) in target_unique_sets:
            continue
        if uq.name is None:
            unnamed("unique constraint", uq.columns)
            continue
        existing_uq = CreateUniqueConstraintOp(uq.name, name, list(uq.columns))
        drop_uqs.append(DropConstraintOp(uq.name, name, "unique", existing=existing_uq))

    live_fks = {fk.key(): fk for fk in live.foreign_keys}
    target_fks = {fk.key(): fk for fk in target.foreign_keys}
    for key, fk in target_fks.items():
        if key not in live_fks:
            new_fks.append(fk.create_op(name))
    for key, fk in live_fks.items():
        if key in target_fks:
            continue
        if fk.name is None:
            unnamed("foreign key", fk.columns)
            continue
        drop_fks.append(DropConstraintOp(fk.name, name, "foreignkey", existing=fk.create_op(name)))

    return adds + alters + drop_fks + drop_uqs + drop_idx + drop_cols + new_idx + new_uqs + new_fks


def compare_schemas(
    target: dict[str, TableSpec], live: dict[str, TableSpec], dialect: str
) -> tuple[list[MigrateOperation], list[str]]:
    """The operations that turn ``live`` into ``target``, and warnings about what
    cannot be generated."""
    warnings: list[str] = []
    ops: list[MigrateOperation] = []
    live_names = {n.lower(): n for n in live}
    new = [s for n, s in target.items() if n.lower() not in live_names]
    for spec in _sort_tables(new):
        ops.extend(spec.create_ops())
    for table in sorted(target):
        if table.lower() in live_names:
            ops.extend(
                _compare_table(target[table], live[live_names[table.lower()]], dialect, warnings)
            )
    target_names = {n.lower() for n in target}
    gone = [s for n, s in live.items() if n.lower() not in target_names]
    for spec in reversed(_sort_tables(gone)):
        ops.extend(_drop_table_ops(spec))
    return ops, warnings


def downgrade_ops(ops: Sequence[MigrateOperation]) -> list[MigrateOperation]:
    """The operations that undo ``ops``, in order."""
    return [op.reverse() for op in reversed(ops)]


async def autogenerate(
    engine: Any, models: Iterable[type[Any]]
) -> tuple[list[MigrateOperation], list[MigrateOperation], list[str]]:
    """Upgrade operations, downgrade operations and warnings for ``models`` against the
    database of ``engine``."""
    target = model_schema(models, engine.dialect)
    live = await live_schema(Inspector(engine, engine.dialect))
    ops, warnings = compare_schemas(target, live, engine.dialect)
    return ops, downgrade_ops(ops), warnings


def collect_models(module_names: Sequence[str], extra_paths: Sequence[Any] = ()) -> list[type[Any]]:
    """Imports ``module_names`` and returns the models they define or import (and the
    registered models defined in those modules or their submodules)."""
    for path in reversed([str(p) for p in extra_paths]):
        if path not in sys.path:
            sys.path.insert(0, path)
    found: dict[type[Any], None] = {}
    for module_name in module_names:
        module = importlib.import_module(module_name)
        for value in vars(module).values():
            if _is_model(value):
                found[value] = None
    from ormkit.orm.base import registered_models

    for model in registered_models():
        mod = getattr(model, "__module__", "")
        if any(mod == m or mod.startswith(m + ".") for m in module_names):
            found[model] = None
    return list(found)


def _is_model(value: Any) -> bool:
    return is_model_class(value) and isinstance(getattr(value, "__tablename__", None), str)
