"""Where a migration's SQL goes: the database (in one transaction) or the terminal.

Revision files call ``op`` synchronously, as they do under Alembic. ormkit runs each
``upgrade()``/``downgrade()`` in a worker thread and sends every statement to the
event loop that owns the engine (:meth:`MigrationContext.run`), so a statement runs
when ``op`` is called, errors point at the revision file's line, and a data migration
can read what it needs.

In ``sql`` (offline) mode statements are printed with their parameters inlined. On
SQLite the schema changes among them also run against a scratch in-memory database,
so a table rebuild can be planned exactly as it would be online.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, TypeVar

from ormkit.migrations.sa import render_literal
from ormkit.schema.introspect import Executor, Inspector
from ormkit.sql.textual import skip_quoted

__all__ = ["MigrationContext", "inline_params"]

T = TypeVar("T")


class MigrationContext:
    """The connection of one migration command, used from the worker thread."""

    def __init__(
        self,
        dialect: str,
        executor: Executor | None,
        loop: asyncio.AbstractEventLoop,
        *,
        as_sql: bool = False,
        output: Callable[[str], None] | None = None,
    ) -> None:
        self.dialect = dialect
        self.executor = executor
        self.loop = loop
        self.as_sql = as_sql
        self.output = output or print
        #: Tables rebuilt in this command (their foreign keys are checked before commit).
        self.rebuilt: set[str] = set()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Runs ``coro`` on the engine's event loop and waits for it (worker thread only)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> Any:
        """Runs one statement (prints it in ``sql`` mode); returns the QueryResult or None."""
        if self.as_sql:
            self.output(inline_params(sql, params, self.dialect) + ";\n")
            if self.executor is None or not _is_schema_change(sql):
                # The scratch database follows the schema only; data is not its business.
                return None
        if self.executor is None:
            raise RuntimeError("no database connection")
        return self.run(self.executor.execute(sql, list(params) if params else None))

    def query(self, sql: str, params: Sequence[Any] | None = None) -> list[dict[str, Any]]:
        """Runs a read that is never printed (schema lookups)."""
        if self.executor is None:
            raise RuntimeError(
                "this operation needs to read the database schema, which sql mode cannot do "
                f"on {self.dialect}"
            )
        result = self.run(self.executor.execute(sql, list(params) if params else None))
        rows: list[dict[str, Any]] = result.all()
        return rows

    def inspector(self) -> Inspector:
        """Introspection of the schema as this migration sees it."""
        if self.executor is None:
            raise RuntimeError(
                "this operation needs to read the database schema, which sql mode cannot do "
                f"on {self.dialect}"
            )
        return Inspector(self.executor, self.dialect)


_PLACEHOLDER = re.compile(r"\$(\d+)")
_SCHEMA_CHANGE = re.compile(r"^\s*(create|alter|drop|pragma)\b", re.I)


def _is_schema_change(sql: str) -> bool:
    return bool(_SCHEMA_CHANGE.match(sql))


def inline_params(sql: str, params: Sequence[Any] | None, dialect: str) -> str:
    """``sql`` with ``$N`` placeholders (outside quotes) replaced by literals."""
    if not params:
        return sql
    out: list[str] = []
    i = 0
    while i < len(sql):
        ch = sql[i]
        if ch == "$":
            m = _PLACEHOLDER.match(sql, i)
            if m:
                out.append(render_literal(params[int(m.group(1)) - 1], dialect))
                i = m.end()
                continue
        if ch in "'\"-/$":
            j = skip_quoted(sql, i)
            out.append(sql[i:j])
            i = j
            continue
        out.append(ch)
        i += 1
    return "".join(out)
