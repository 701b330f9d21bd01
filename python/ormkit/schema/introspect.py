"""Reading the live schema: tables, columns, indexes and constraints.

SQLite is read with ``sqlite_master`` and the table-valued PRAGMA functions
(``pragma_table_xinfo`` …), PostgreSQL with ``pg_catalog``; both in the current
schema only. Table names given by the caller are always bound as parameters.

The result shapes are the same on both backends:

- columns: ``name``, ``type`` (normalised lower-case SQL type, see
  :func:`normalise_type`), ``nullable``, ``default`` (SQL text or None),
  ``primary_key``, ``autoincrement``
- indexes (not those backing a primary key or unique constraint): ``name``,
  ``columns``, ``unique``
- constraints: ``type`` (``"primary_key"``, ``"unique"``, ``"foreign_key"``), ``name``
  (None for an unnamed SQLite constraint), ``columns``, ``referred_table``,
  ``referred_columns``, ``ondelete``, ``onupdate`` (upper-case action or None)
"""

from __future__ import annotations

import re
from typing import Any, Protocol

from ormkit.schema.sqlite_sql import ParsedTable, parse_create_table

__all__ = [
    "Executor",
    "Inspector",
    "get_columns",
    "get_constraints",
    "get_indexes",
    "get_tables",
    "normalise_type",
]


class Executor(Protocol):
    """Anything that runs SQL: an :class:`~ormkit.Engine` or a transaction."""

    async def execute(self, sql: str, params: Any = None) -> Any:
        """Runs one statement."""
        ...


_ALIASES = {
    "int": "integer",
    "int4": "integer",
    "int8": "bigint",
    "int2": "smallint",
    "float8": "double precision",
    "float4": "real",
    "bool": "boolean",
    "decimal": "numeric",
    "character varying": "varchar",
    "character": "char",
    "timestamp without time zone": "timestamp",
    "timestamp with time zone": "timestamptz",
    "time without time zone": "time",
    "time with time zone": "timetz",
}
_WITH_TZ = re.compile(r"^(timestamp|time)(\(\d+\))? (with|without) time zone$")


def normalise_type(sql_type: str | None) -> str:
    """A canonical lower-case spelling of a column type: ``"VARCHAR(100)"`` and
    ``"character varying(100)"`` both become ``"varchar(100)"``, ``"NUMERIC(10, 2)"``
    becomes ``"numeric(10,2)"``, ``"timestamp with time zone"`` ``"timestamptz"``."""
    text = " ".join((sql_type or "").lower().split())
    text = re.sub(r"\s*\(\s*", "(", text)
    text = re.sub(r"\s*,\s*", ",", text)
    text = re.sub(r"\s*\)", ")", text)
    m = _WITH_TZ.match(text)
    if m:
        base = m.group(1) + ("tz" if m.group(3) == "with" else "")
        return base + (m.group(2) or "")
    m = re.match(r"^([a-z_ ]+?)(\(.*\))?(\[\])?$", text)
    if m:
        base = _ALIASES.get(m.group(1), m.group(1))
        return base + (m.group(2) or "") + (m.group(3) or "")
    return text


_PG_ACTIONS = {"a": None, "r": "RESTRICT", "c": "CASCADE", "n": "SET NULL", "d": "SET DEFAULT"}


def _action(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).upper()
    return None if text in ("NO ACTION", "") else text


class Inspector:
    """Introspection over one executor (an engine, or a transaction so that changes
    made inside it are seen)."""

    def __init__(self, executor: Executor, dialect: str) -> None:
        self.executor = executor
        self.dialect = dialect

    async def _rows(self, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
        result = await self.executor.execute(sql, params)
        rows: list[dict[str, Any]] = result.all()
        return rows

    # -- tables -----------------------------------------------------------------------

    async def get_tables(self) -> list[str]:
        """Names of the user tables, sorted."""
        if self.dialect == "sqlite":
            rows = await self._rows(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name"
            )
        else:
            rows = await self._rows(
                "SELECT c.relname::text AS name FROM pg_catalog.pg_class c "
                "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
                "WHERE c.relkind IN ('r', 'p') AND n.nspname = current_schema() "
                "ORDER BY 1"
            )
        return [str(r["name"]) for r in rows]

    async def has_table(self, table: str) -> bool:
        """True when ``table`` exists."""
        if self.dialect == "sqlite":
            rows = await self._rows(
                "SELECT 1 AS x FROM sqlite_master WHERE type = 'table' AND name = $1", [table]
            )
        else:
            rows = await self._rows(
                "SELECT 1 AS x FROM pg_catalog.pg_class c "
                "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
                "WHERE c.relkind IN ('r', 'p') AND n.nspname = current_schema() "
                "AND c.relname = $1::text",
                [table],
            )
        return bool(rows)

    async def table_sql(self, table: str) -> str | None:
        """SQLite only: the stored ``CREATE TABLE`` statement of ``table``."""
        rows = await self._rows(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = $1", [table]
        )
        return str(rows[0]["sql"]) if rows and rows[0]["sql"] else None

    async def parsed_table(self, table: str) -> ParsedTable | None:
        """SQLite only: the parsed ``CREATE TABLE`` statement of ``table``."""
        sql = await self.table_sql(table)
        return parse_create_table(sql) if sql else None

    # -- columns ----------------------------------------------------------------------

    async def get_columns(self, table: str) -> list[dict[str, Any]]:
        """Columns of ``table`` in table order."""
        if self.dialect == "sqlite":
            return await self._sqlite_columns(table)
        rows = await self._rows(
            "SELECT a.attname::text AS name, "
            "pg_catalog.format_type(a.atttypid, a.atttypmod) AS type, "
            "NOT a.attnotnull AS nullable, "
            "pg_catalog.pg_get_expr(d.adbin, d.adrelid) AS dflt, "
            "a.attidentity::text AS identity, "
            "EXISTS (SELECT 1 FROM pg_catalog.pg_index i WHERE i.indrelid = c.oid "
            "AND i.indisprimary AND a.attnum = ANY (i.indkey)) AS pk "
            "FROM pg_catalog.pg_attribute a "
            "JOIN pg_catalog.pg_class c ON c.oid = a.attrelid "
            "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
            "LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
            "WHERE c.relname = $1::text AND n.nspname = current_schema() "
            "AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
            [table],
        )
        out = []
        for r in rows:
            default = r["dflt"]
            identity = bool(r["identity"])
            auto = identity or (isinstance(default, str) and default.startswith("nextval("))
            out.append(
                {
                    "name": r["name"],
                    "type": normalise_type(r["type"]),
                    "nullable": bool(r["nullable"]),
                    "default": None if auto else default,
                    "primary_key": bool(r["pk"]),
                    "autoincrement": auto,
                }
            )
        return out

    async def _sqlite_columns(self, table: str) -> list[dict[str, Any]]:
        rows = await self._rows(
            'SELECT name, type, "notnull" AS nn, dflt_value, pk, hidden '
            "FROM pragma_table_xinfo($1) ORDER BY cid",
            [table],
        )
        rows = [r for r in rows if r["hidden"] != 1]
        pks = [r for r in rows if r["pk"]]
        rowid_alias = len(pks) == 1 and str(pks[0]["type"]).upper() == "INTEGER"
        out = []
        for r in rows:
            alias = rowid_alias and bool(r["pk"])
            out.append(
                {
                    "name": r["name"],
                    "type": normalise_type(r["type"]),
                    "nullable": not r["nn"] and not alias,
                    "default": r["dflt_value"],
                    "primary_key": bool(r["pk"]),
                    "autoincrement": alias,
                }
            )
        return out

    # -- indexes ----------------------------------------------------------------------

    async def get_indexes(self, table: str) -> list[dict[str, Any]]:
        """Indexes made with CREATE INDEX (not those backing a key or unique constraint)."""
        if self.dialect == "sqlite":
            found = await self._rows(
                'SELECT name, "unique" AS uq FROM pragma_index_list($1) '
                "WHERE origin = 'c' ORDER BY name",
                [table],
            )
            out = []
            for idx in found:
                cols = await self._rows(
                    "SELECT name FROM pragma_index_info($1) ORDER BY seqno", [idx["name"]]
                )
                out.append(
                    {
                        "name": idx["name"],
                        "columns": [c["name"] for c in cols],
                        "unique": bool(idx["uq"]),
                    }
                )
            return out
        rows = await self._rows(
            "SELECT ic.relname::text AS name, i.indisunique AS uq, a.attname::text AS col "
            "FROM pg_catalog.pg_index i "
            "JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid "
            "JOIN pg_catalog.pg_class t ON t.oid = i.indrelid "
            "JOIN pg_catalog.pg_namespace n ON n.oid = t.relnamespace "
            "CROSS JOIN generate_series(0, i.indnkeyatts - 1) AS k(n) "
            "LEFT JOIN pg_catalog.pg_attribute a "
            "ON a.attrelid = t.oid AND a.attnum = i.indkey[k.n] "
            "WHERE t.relname = $1::text AND n.nspname = current_schema() "
            "AND NOT i.indisprimary AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint c "
            "WHERE c.conindid = i.indexrelid AND c.contype IN ('p', 'u', 'x')) "
            "ORDER BY 1, k.n",
            [table],
        )
        by_name: dict[str, dict[str, Any]] = {}
        for r in rows:
            entry = by_name.setdefault(
                r["name"], {"name": r["name"], "columns": [], "unique": bool(r["uq"])}
            )
            entry["columns"].append(r["col"])
        return list(by_name.values())

    # -- constraints ------------------------------------------------------------------

    async def get_constraints(self, table: str) -> list[dict[str, Any]]:
        """Primary key, unique constraints and foreign keys of ``table``."""
        if self.dialect == "sqlite":
            return await self._sqlite_constraints(table)
        rows = await self._rows(
            "SELECT con.conname::text AS name, con.contype::text AS kind, "
            "a.attname::text AS col, rt.relname::text AS rtable, ra.attname::text AS rcol, "
            "con.confdeltype::text AS ondelete, con.confupdtype::text AS onupdate "
            "FROM pg_catalog.pg_constraint con "
            "JOIN pg_catalog.pg_class t ON t.oid = con.conrelid "
            "JOIN pg_catalog.pg_namespace n ON n.oid = t.relnamespace "
            "CROSS JOIN generate_subscripts(con.conkey, 1) AS k(n) "
            "JOIN pg_catalog.pg_attribute a "
            "ON a.attrelid = con.conrelid AND a.attnum = con.conkey[k.n] "
            "LEFT JOIN pg_catalog.pg_class rt ON rt.oid = con.confrelid "
            "LEFT JOIN pg_catalog.pg_attribute ra "
            "ON ra.attrelid = con.confrelid AND ra.attnum = con.confkey[k.n] "
            "WHERE t.relname = $1::text AND n.nspname = current_schema() "
            "AND con.contype IN ('p', 'u', 'f') ORDER BY con.contype, 1, k.n",
            [table],
        )
        kinds = {"p": "primary_key", "u": "unique", "f": "foreign_key"}
        by_name: dict[str, dict[str, Any]] = {}
        for r in rows:
            kind = kinds[r["kind"]]
            entry = by_name.get(r["name"])
            if entry is None:
                entry = {"type": kind, "name": r["name"], "columns": []}
                if kind == "foreign_key":
                    entry.update(
                        referred_table=r["rtable"],
                        referred_columns=[],
                        ondelete=_PG_ACTIONS.get(r["ondelete"]),
                        onupdate=_PG_ACTIONS.get(r["onupdate"]),
                    )
                by_name[r["name"]] = entry
            entry["columns"].append(r["col"])
            if kind == "foreign_key":
                entry["referred_columns"].append(r["rcol"])
        return _ordered(list(by_name.values()))

    async def _sqlite_constraints(self, table: str) -> list[dict[str, Any]]:
        parsed = await self.parsed_table(table)
        out: list[dict[str, Any]] = []
        cols = await self._rows(
            "SELECT name, pk FROM pragma_table_info($1) WHERE pk > 0 ORDER BY pk", [table]
        )
        if cols:
            names = [c["name"] for c in cols]
            pk_name = parsed.constraint_name("primary_key", names) if parsed else None
            out.append({"type": "primary_key", "name": pk_name, "columns": names})
        uniques = await self._rows(
            "SELECT name FROM pragma_index_list($1) WHERE origin = 'u' ORDER BY seq DESC",
            [table],
        )
        for idx in uniques:
            info = await self._rows(
                "SELECT name FROM pragma_index_info($1) ORDER BY seqno", [idx["name"]]
            )
            names = [c["name"] for c in info]
            name = parsed.constraint_name("unique", names) if parsed else None
            out.append({"type": "unique", "name": name, "columns": names})
        fks = await self._rows(
            'SELECT id, seq, "table" AS rtable, "from" AS col, "to" AS rcol, '
            "on_update, on_delete FROM pragma_foreign_key_list($1) ORDER BY id DESC, seq",
            [table],
        )
        groups: dict[int, dict[str, Any]] = {}
        for r in fks:
            entry = groups.get(r["id"])
            if entry is None:
                entry = {
                    "type": "foreign_key",
                    "name": None,
                    "columns": [],
                    "referred_table": r["rtable"],
                    "referred_columns": [],
                    "ondelete": _action(r["on_delete"]),
                    "onupdate": _action(r["on_update"]),
                }
                groups[r["id"]] = entry
            entry["columns"].append(r["col"])
            entry["referred_columns"].append(r["rcol"])
        for entry in groups.values():
            if any(c is None for c in entry["referred_columns"]):
                entry["referred_columns"] = await self._primary_key_of(entry["referred_table"])
            if parsed:
                entry["name"] = parsed.constraint_name("foreign_key", entry["columns"])
            out.append(entry)
        return _ordered(out)

    async def _primary_key_of(self, table: str) -> list[str]:
        rows = await self._rows(
            "SELECT name FROM pragma_table_info($1) WHERE pk > 0 ORDER BY pk", [table]
        )
        return [r["name"] for r in rows]


def _ordered(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rank = {"primary_key": 0, "unique": 1, "foreign_key": 2}
    return sorted(items, key=lambda c: (rank[c["type"]], c["name"] or "", c["columns"]))


def _inspector(engine: Any) -> Inspector:
    return Inspector(engine, engine.dialect)


async def get_tables(engine: Any) -> list[str]:
    """Names of the user tables of the engine's database (current schema), sorted."""
    return await _inspector(engine).get_tables()


async def get_columns(engine: Any, table: str) -> list[dict[str, Any]]:
    """Columns of ``table``: name, type, nullable, default, primary_key, autoincrement."""
    return await _inspector(engine).get_columns(table)


async def get_indexes(engine: Any, table: str) -> list[dict[str, Any]]:
    """Indexes of ``table``: name, columns, unique."""
    return await _inspector(engine).get_indexes(table)


async def get_constraints(engine: Any, table: str) -> list[dict[str, Any]]:
    """Constraints of ``table``: type, name, columns and, for foreign keys,
    referred_table, referred_columns, ondelete, onupdate."""
    return await _inspector(engine).get_constraints(table)
