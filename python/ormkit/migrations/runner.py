"""Running migrations: ``up``, ``down``, ``stamp``, ``current``, ``history``,
``status`` and ``sql`` (offline).

Every ``up``/``down``/``stamp`` runs in one transaction on both backends (DDL is
transactional on PostgreSQL and SQLite): if any revision fails, the schema and
``alembic_version`` stay exactly as they were. On SQLite, foreign key enforcement is
switched off for the command (it can only be switched outside a transaction) so that
table rebuilds do not cascade; the rebuilt tables are checked with
``PRAGMA foreign_key_check`` before the commit instead.
"""

from __future__ import annotations

import asyncio
import logging
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ormkit.migrations.config import AlembicConfig, ConfigError
from ormkit.migrations.context import MigrationContext
from ormkit.migrations.ddl import MigrationImpl
from ormkit.migrations.operations import Operations
from ormkit.migrations.script import MigrationScript, RevisionError, Script, Step
from ormkit.migrations.shim import injected_modules
from ormkit.migrations.sqlite_rebuild import check_foreign_keys
from ormkit.migrations.version_table import (
    VERSION_TABLE,
    apply_step,
    create_table_sql,
    run_changes,
    stamp_changes,
)
from ormkit.schema.introspect import Inspector

__all__ = ["MigrationFailed", "MigrationRunner", "StepReport"]

logger = logging.getLogger("ormkit.migrations")


class MigrationFailed(Exception):
    """A revision's ``upgrade()``/``downgrade()`` raised; nothing was committed."""

    def __init__(self, step: Step, error: BaseException) -> None:
        self.step = step
        self.error = error
        where = _where(step.script.path, error)
        direction = "upgrade" if step.upgrade else "downgrade"
        super().__init__(
            f"{direction} of revision {step.revision} ({step.script.doc or step.script.path.name})"
            f" failed{where}: {type(error).__name__}: {error}"
        )


def _where(path: Path, error: BaseException) -> str:
    frames = traceback.extract_tb(error.__traceback__)
    target = str(path.resolve())
    for frame in reversed(frames):
        if str(Path(frame.filename).resolve()) == target:
            return f" at {path.name}:{frame.lineno}"
    return ""


@dataclass
class StepReport:
    """One revision run: the step, how long it took, and the heads afterwards."""

    step: Step
    seconds: float

    def line(self, scripts: MigrationScript) -> str:
        """``Running upgrade a -> b, message ... done in 12.3 ms``."""
        script = self.step.script
        downs = ", ".join(scripts.normalized_down(script)) or "<base>"
        if self.step.upgrade:
            arrow = f"{downs} -> {script.revision}"
        else:
            arrow = f"{script.revision} -> {downs}"
        kind = "upgrade" if self.step.upgrade else "downgrade"
        doc = f", {script.doc}" if script.doc else ""
        return f"Running {kind} {arrow}{doc} ... done in {self.seconds * 1000:.1f} ms"


class MigrationRunner:
    """Runs the revisions of an Alembic-style directory against one database.

    Give it an :class:`AlembicConfig` (or a :class:`MigrationScript`) and a URL or an
    open engine. ``on_step`` is called after each revision with a
    :class:`StepReport` (the CLI prints them).
    """

    def __init__(
        self,
        config: AlembicConfig | None = None,
        *,
        script: MigrationScript | None = None,
        url: str | None = None,
        engine: Any = None,
        on_step: Callable[[StepReport], None] | None = None,
    ) -> None:
        self.config = config
        self._script = script
        self.url = url or (config.url if config is not None else None)
        self.engine = engine
        self.on_step = on_step

    @property
    def script(self) -> MigrationScript:
        """The revision files (loaded on first use)."""
        if self._script is None:
            if self.config is None:
                raise ConfigError("no migration directory configured")
            self._script = MigrationScript.from_config(self.config)
        return self._script

    # -- engine ---------------------------------------------------------------------------

    async def _open(self) -> tuple[Any, bool]:
        if self.engine is not None:
            return self.engine, False
        if not self.url:
            raise ConfigError(
                "no database URL: pass --url, set ORMKIT_DATABASE_URL, or set sqlalchemy.url "
                "in alembic.ini"
            )
        from ormkit import create_engine

        return await create_engine(self.url), True

    async def current(self) -> list[str]:
        """The revisions recorded in ``alembic_version`` (sorted)."""
        engine, owned = await self._open()
        try:
            return await _read_heads(engine, engine.dialect)
        finally:
            if owned:
                await engine.close()

    # -- commands -------------------------------------------------------------------------

    async def upgrade(self, target: str = "heads") -> list[StepReport]:
        """Runs every revision needed to reach ``target`` (default: all heads)."""
        return await self._run(lambda heads: self.script.upgrade_steps(heads, target))

    async def downgrade(self, target: str = "-1") -> list[StepReport]:
        """Undoes revisions down to ``target`` (a revision, ``-N`` or ``base``)."""
        return await self._run(lambda heads: self.script.downgrade_steps(heads, target))

    async def stamp(self, target: str | Sequence[str], *, purge: bool = False) -> list[str]:
        """Sets ``alembic_version`` to ``target`` without running anything; returns the
        new heads."""
        targets = [target] if isinstance(target, str) else list(target)
        revs: list[str] = []
        for t in targets:
            revs.extend(s.revision for s in self.script.resolve(t))
        engine, owned = await self._open()
        try:
            async with engine.transaction() as tx:
                await tx.execute(create_table_sql())
                heads = set(await _read_heads(tx, engine.dialect))
                changes = stamp_changes(self.script, heads, revs, purge)
                loop = asyncio.get_running_loop()
                ctx = MigrationContext(engine.dialect, tx, loop)
                await asyncio.to_thread(
                    run_changes, lambda sql, p: ctx.execute(sql, p), changes, True
                )
            return sorted(heads)
        finally:
            if owned:
                await engine.close()

    async def history(self) -> list[Script]:
        """Every revision, newest first."""
        order = self.script.topological(self.script.revisions)
        return [self.script.revisions[r] for r in reversed(order)]

    async def status(self) -> dict[str, Any]:
        """``current`` heads, script ``heads`` and the ``pending`` revisions (in order)."""
        current = await self.current()
        steps = self.script.upgrade_steps(current, "heads")
        return {
            "current": current,
            "heads": self.script.heads,
            "pending": [s.script for s in steps],
        }

    async def _run(self, plan: Callable[[list[str]], list[Step]]) -> list[StepReport]:
        engine, owned = await self._open()
        dialect = engine.dialect
        reports: list[StepReport] = []
        try:
            restore_fk = await _foreign_keys_off(engine) if dialect == "sqlite" else None
            try:
                async with engine.transaction() as tx:
                    await tx.execute(create_table_sql())
                    heads = await _read_heads(tx, dialect)
                    steps = plan(heads)
                    ctx = MigrationContext(dialect, tx, asyncio.get_running_loop())
                    head_set = set(heads)
                    for step in steps:
                        started = time.perf_counter()
                        await asyncio.to_thread(self._run_step, ctx, step, head_set)
                        report = StepReport(step, time.perf_counter() - started)
                        reports.append(report)
                        self._report(report)
                    if ctx.rebuilt:
                        await asyncio.to_thread(check_foreign_keys, ctx, ctx.rebuilt)
            finally:
                if restore_fk:
                    await engine.execute("PRAGMA foreign_keys=ON")
        finally:
            if owned:
                await engine.close()
        return reports

    def _report(self, report: StepReport) -> None:
        if self.on_step is not None:
            self.on_step(report)
        else:
            logger.info("%s", report.line(self.script))

    def _run_step(self, ctx: MigrationContext, step: Step, heads: set[str]) -> None:
        name = "upgrade" if step.upgrade else "downgrade"
        fn = getattr(step.script.module, name, None)
        if not callable(fn):
            raise RevisionError(f"{step.script.path.name} has no {name}() function")
        ops = Operations(MigrationImpl(ctx))
        try:
            with injected_modules(), ops.context():
                fn()
        except Exception as exc:
            raise MigrationFailed(step, exc) from exc
        changes = apply_step(self.script, heads, step)
        run_changes(lambda sql, p: ctx.execute(sql, p), changes, not ctx.as_sql)

    # -- offline ----------------------------------------------------------------------------

    async def sql(
        self,
        target: str = "heads",
        *,
        start: str | None = None,
        downgrade: bool = False,
        dialect: str | None = None,
    ) -> str:
        """The SQL that ``up`` to ``target`` (or, with ``downgrade``, ``down`` from
        ``start`` to ``target``) would run, starting from ``start`` (default: base),
        without touching the database."""
        dialect = dialect or _dialect_of(self.url)
        start_heads = [s.revision for s in self.script.resolve(start)] if start else []
        if downgrade and not start_heads:
            raise RevisionError("sql --down needs a range: FROM:TO")
        out: list[str] = []
        shadow = None
        if dialect == "sqlite":
            from ormkit import create_engine

            shadow = await create_engine("sqlite::memory:")
        try:
            if shadow is None:
                await self._sql_steps(dialect, None, target, start, start_heads, downgrade, out)
            else:
                # All scratch work goes through one transaction, on one connection.
                async with shadow.transaction() as scratch:
                    await self._sql_steps(
                        dialect, scratch, target, start, start_heads, downgrade, out
                    )
                    await scratch.rollback()
        finally:
            if shadow is not None:
                await shadow.close()
        return "\n".join(s.rstrip("\n") + "\n" for s in out)

    async def _sql_steps(
        self,
        dialect: str,
        scratch: Any,
        target: str,
        start: str | None,
        start_heads: list[str],
        downgrade: bool,
        out: list[str],
    ) -> None:
        loop = asyncio.get_running_loop()
        if scratch is not None:
            await scratch.execute(create_table_sql())
            if start_heads:
                quiet = MigrationContext(dialect, scratch, loop)
                heads: set[str] = set()
                for step in self.script.upgrade_steps([], start or "heads"):
                    await asyncio.to_thread(self._run_step, quiet, step, heads)
        ctx = MigrationContext(dialect, scratch, loop, as_sql=True, output=out.append)
        if downgrade:
            steps = self.script.downgrade_steps(start_heads, target)
        else:
            steps = self.script.upgrade_steps(start_heads, target)
        if not start_heads and not downgrade:
            out.append(create_table_sql(if_not_exists=False) + ";\n")
        out.append("BEGIN;\n")
        head_set = set(start_heads)
        for step in steps:
            out.append("-- " + StepReport(step, 0).line(self.script).split(" ... ")[0] + "\n")
            await asyncio.to_thread(self._run_step, ctx, step, head_set)
        if downgrade and not head_set:
            out.append(f"DROP TABLE {VERSION_TABLE};\n")
        out.append("COMMIT;\n")
        if ctx.rebuilt:
            out.insert(0, "PRAGMA foreign_keys=OFF;\n")
            out.append("PRAGMA foreign_keys=ON;\n")


def _dialect_of(url: str | None) -> str:
    if not url:
        raise ConfigError(
            "sql mode needs to know the database: pass --url (or --dialect postgresql|sqlite)"
        )
    from ormkit._url import parse_url

    return parse_url(url).dialect


async def _read_heads(executor: Any, dialect: str) -> list[str]:
    if not await Inspector(executor, dialect).has_table(VERSION_TABLE):
        return []
    result = await executor.execute(f"SELECT version_num FROM {VERSION_TABLE}")
    return sorted(str(v) for v in result.column("version_num"))


async def _foreign_keys_off(engine: Any) -> bool:
    """Switches SQLite foreign key enforcement off; True when it was on."""
    result = await engine.execute("PRAGMA foreign_keys")
    was_on = bool(result.scalar())
    if was_on:
        await engine.execute("PRAGMA foreign_keys=OFF")
    return was_on
