"""``ormkit migrate …``: the subcommands and what they print."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

from ormkit.errors import Error as DatabaseErrorBase
from ormkit.migrations.config import PLACEHOLDER_URL, AlembicConfig, ConfigError
from ormkit.migrations.ddl import MigrationError
from ormkit.migrations.render import TemplateError
from ormkit.migrations.runner import MigrationFailed, MigrationRunner, StepReport
from ormkit.migrations.script import MigrationScript, RevisionError, Script

__all__ = ["USER_ERRORS", "add_migrate_parser", "run_migrate"]

URL_ENV = "ORMKIT_DATABASE_URL"


class UsageError(Exception):
    """A wrong command line."""


USER_ERRORS: tuple[type[BaseException], ...] = (
    UsageError,
    ConfigError,
    RevisionError,
    MigrationError,
    MigrationFailed,
    TemplateError,
    DatabaseErrorBase,
    ValueError,
    ImportError,
    OSError,
)


def _common(parser: argparse.ArgumentParser, suppress: bool) -> None:
    default: Any = argparse.SUPPRESS if suppress else None
    parser.add_argument(
        "-c",
        "--config",
        default=default,
        help="the alembic.ini file (default: $ALEMBIC_CONFIG or ./alembic.ini)",
    )
    parser.add_argument(
        "--url", default=default, help=f"database URL (default: ${URL_ENV}, then alembic.ini)"
    )
    parser.add_argument(
        "-n",
        "--name",
        default=argparse.SUPPRESS if suppress else "alembic",
        help="the ini section to read (default: alembic)",
    )


def _revision_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("message", help="what the revision does")
    parser.add_argument("--head", default="head", help="revision to build on (default: head)")
    parser.add_argument("--splice", action="store_true", help="allow a --head that is not a head")
    parser.add_argument("--branch-label", help="a branch label for the new revision")
    parser.add_argument("--depends-on", action="append", help="a revision this one depends on")
    parser.add_argument("--rev-id", help="use this revision id instead of a random one")
    parser.add_argument("--version-path", help="directory to write the file to")


def add_migrate_parser(commands: Any) -> None:
    """Adds ``migrate`` and its subcommands to the top-level parser."""
    migrate = commands.add_parser("migrate", help="Alembic-compatible migrations")
    _common(migrate, suppress=False)
    sub = migrate.add_subparsers(dest="action", metavar="ACTION")
    sub.required = True

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = sub.add_parser(name, help=help_text)
        _common(p, suppress=True)
        return p

    p = add("init", "create alembic.ini and a migration directory (Alembic accepts both)")
    p.add_argument("directory", nargs="?", default="migrations")
    p = add("create", "write an empty revision file")
    _revision_options(p)
    p = add("auto", "write a revision from the difference between models and the database")
    _revision_options(p)
    p.add_argument(
        "-m", "--models", action="append", required=True, help="module(s) defining the models"
    )
    p.add_argument(
        "--allow-empty", action="store_true", help="write a revision even when nothing changed"
    )
    p = add("up", "apply revisions up to REV (default: every head)")
    p.add_argument("revision", nargs="?", default="heads")
    p = add("down", "undo revisions down to REV, -N or base (default: -1)")
    p.add_argument("revision", nargs="?", default="-1")
    add("status", "show the current revision and what is pending")
    p = add("history", "list the revisions, newest first")
    p.add_argument("-v", "--verbose", action="store_true", help="show file paths")
    add("current", "show the revision(s) recorded in the database")
    p = add("stamp", "record REV in alembic_version without running anything")
    p.add_argument("revision", nargs="+")
    p.add_argument("--purge", action="store_true", help="delete every row first")
    p = add("sql", "print the SQL of an upgrade (or --down) without running it")
    p.add_argument("range", nargs="?", default="heads", help="REV or FROM:TO (default: heads)")
    p.add_argument("--down", action="store_true", help="a downgrade; needs FROM:TO")
    p.add_argument("--dialect", choices=["postgresql", "sqlite"], help="instead of --url")


def _config_path(args: argparse.Namespace) -> Path:
    return Path(args.config or os.environ.get("ALEMBIC_CONFIG") or "alembic.ini")


def _url(args: argparse.Namespace, config: AlembicConfig | None) -> str | None:
    return args.url or os.environ.get(URL_ENV) or (config.url if config else None)


def _config(args: argparse.Namespace) -> AlembicConfig:
    return AlembicConfig(_config_path(args), ini_section=args.name)


def _print(text: str = "") -> None:
    print(text, flush=True)


def run_migrate(args: argparse.Namespace) -> int:
    """Runs one ``ormkit migrate`` subcommand."""
    if args.action == "init":
        return _init(args)
    config = _config(args)
    handler = {
        "create": _create,
        "auto": _auto,
        "up": _up,
        "down": _down,
        "status": _status,
        "history": _history,
        "current": _current,
        "stamp": _stamp,
        "sql": _sql,
    }[args.action]
    return handler(args, config)


# -- init ----------------------------------------------------------------------------------


def _init(args: argparse.Namespace) -> int:
    from ormkit.migrations.templates import ALEMBIC_INI, ENV_PY, README, SCRIPT_PY_MAKO

    ini = _config_path(args).resolve()
    directory = Path(args.directory)
    if not directory.is_absolute():
        directory = (Path.cwd() / directory).resolve()
    if ini.exists():
        raise UsageError(f"{ini} already exists")
    if directory.exists() and any(directory.iterdir()):
        raise UsageError(f"directory {directory} already exists and is not empty")
    try:
        location = "%(here)s/" + directory.relative_to(ini.parent).as_posix()
    except ValueError:
        location = directory.as_posix()
    (directory / "versions").mkdir(parents=True, exist_ok=True)
    (directory / "env.py").write_text(ENV_PY, encoding="utf-8")
    (directory / "script.py.mako").write_text(SCRIPT_PY_MAKO, encoding="utf-8")
    (directory / "README").write_text(README, encoding="utf-8")
    url = (args.url or PLACEHOLDER_URL).replace("%", "%%")
    ini.parent.mkdir(parents=True, exist_ok=True)
    ini.write_text(ALEMBIC_INI.format(script_location=location, url=url), encoding="utf-8")
    _print(f"Created {ini}")
    _print(f"Created {directory} (env.py, script.py.mako, README, versions/)")
    if not args.url:
        _print(f"Set sqlalchemy.url in {ini.name}, or use --url / ${URL_ENV}.")
    return 0


# -- writing revisions -------------------------------------------------------------------


def _write(
    args: argparse.Namespace, config: AlembicConfig, script: MigrationScript, **kw: Any
) -> Path:
    from ormkit.migrations.render import write_revision

    return write_revision(
        config,
        script,
        args.message,
        head=args.head,
        splice=args.splice,
        branch_label=args.branch_label,
        depends_on=args.depends_on,
        rev_id=args.rev_id,
        version_path=args.version_path,
        **kw,
    )


def _create(args: argparse.Namespace, config: AlembicConfig) -> int:
    script = MigrationScript.from_config(config)
    path = _write(args, config, script)
    _print(f"Generated {path}")
    return 0


def _auto(args: argparse.Namespace, config: AlembicConfig) -> int:
    from ormkit.migrations.autogenerate import autogenerate, collect_models

    script = MigrationScript.from_config(config)
    url = _require_url(args, config)
    paths = [Path.cwd(), *config.prepend_sys_path]
    models = collect_models(args.models, paths)
    if not models:
        raise UsageError(f"no ormkit models found in {', '.join(args.models)}")

    async def run() -> tuple[list[Any], list[Any], list[str], str]:
        from ormkit import create_engine

        runner = MigrationRunner(config, script=script, url=url)
        current = await runner.current()
        if sorted(current) != sorted(script.heads):
            raise UsageError(
                f"the database is not up to date (at {', '.join(current) or 'base'}, heads are "
                f"{', '.join(script.heads) or 'base'}); run 'ormkit migrate up' first"
            )
        engine = await create_engine(url)
        try:
            up, down, warnings = await autogenerate(engine, models)
            return up, down, warnings, engine.dialect
        finally:
            await engine.close()

    up, down, warnings, dialect = asyncio.run(run())
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if not up and not args.allow_empty:
        _print("No changes detected; no revision written.")
        return 0
    path = _write(
        args, config, script, upgrade_ops=up, downgrade_ops=down, batch=dialect == "sqlite"
    )
    _print(f"Generated {path} ({len(up)} operation{'s' if len(up) != 1 else ''})")
    return 0


# -- running -----------------------------------------------------------------------------


def _require_url(args: argparse.Namespace, config: AlembicConfig | None) -> str:
    url = _url(args, config)
    if not url:
        raise ConfigError(
            f"no database URL: pass --url, set {URL_ENV}, or set sqlalchemy.url in alembic.ini"
        )
    return url


def _runner(args: argparse.Namespace, config: AlembicConfig, **kw: Any) -> MigrationRunner:
    script = MigrationScript.from_config(config)
    return MigrationRunner(config, script=script, url=_require_url(args, config), **kw)


def _run_steps(args: argparse.Namespace, config: AlembicConfig, upgrade: bool) -> int:
    runner: MigrationRunner | None = None

    def report(rep: StepReport) -> None:
        assert runner is not None
        _print(rep.line(runner.script))

    runner = _runner(args, config, on_step=report)
    started = time.perf_counter()
    try:
        if upgrade:
            reports = asyncio.run(runner.upgrade(args.revision))
        else:
            reports = asyncio.run(runner.downgrade(args.revision))
    except (MigrationFailed, DatabaseErrorBase):
        print("Rolled back: the schema and alembic_version are unchanged.", file=sys.stderr)
        raise
    elapsed = (time.perf_counter() - started) * 1000
    if not reports:
        _print("Nothing to do.")
        return 0
    current = asyncio.run(runner.current())
    n = len(reports)
    _print(
        f"{'Upgraded' if upgrade else 'Downgraded'} {n} revision{'s' if n != 1 else ''} in "
        f"{elapsed:.1f} ms; now at {', '.join(current) or 'base'}."
    )
    return 0


def _up(args: argparse.Namespace, config: AlembicConfig) -> int:
    return _run_steps(args, config, upgrade=True)


def _down(args: argparse.Namespace, config: AlembicConfig) -> int:
    return _run_steps(args, config, upgrade=False)


def _flags(script: Script) -> str:
    flags = []
    if script.is_head:
        flags.append(" (head)")
    if script.is_branch_point:
        flags.append(" (branchpoint)")
    if script.is_merge:
        flags.append(" (mergepoint)")
    return "".join(flags)


def _describe(scripts: MigrationScript, rev: str) -> str:
    script = scripts.revisions.get(rev)
    if script is None:
        return f"{rev} (unknown revision)"
    doc = f", {script.doc}" if script.doc else ""
    return f"{rev}{_flags(script)}{doc}"


def _status(args: argparse.Namespace, config: AlembicConfig) -> int:
    runner = _runner(args, config)
    status = asyncio.run(runner.status())
    scripts = runner.script
    current = status["current"]
    _print("Current: " + (", ".join(_describe(scripts, r) for r in current) or "base (empty)"))
    _print("Heads:   " + (", ".join(status["heads"]) or "none"))
    pending: list[Script] = status["pending"]
    if not pending:
        _print("Up to date.")
    else:
        _print(f"Pending: {len(pending)} revision{'s' if len(pending) != 1 else ''}")
        for script in pending:
            _print(f"  {_describe(scripts, script.revision)}")
    return 0


def _history(args: argparse.Namespace, config: AlembicConfig) -> int:
    runner = MigrationRunner(config, script=MigrationScript.from_config(config))
    scripts = asyncio.run(runner.history())
    for script in scripts:
        downs = ", ".join(script.down_revisions) or "<base>"
        doc = f", {script.doc}" if script.doc else ""
        _print(f"{downs} -> {script.revision}{_flags(script)}{doc}")
        if args.verbose:
            _print(f"    {script.path}")
    if not scripts:
        _print("No revisions.")
    return 0


def _current(args: argparse.Namespace, config: AlembicConfig) -> int:
    runner = _runner(args, config)
    current = asyncio.run(runner.current())
    if not current:
        _print("base (no revision applied)")
    for rev in current:
        _print(_describe(runner.script, rev))
    return 0


def _stamp(args: argparse.Namespace, config: AlembicConfig) -> int:
    runner = _runner(args, config)
    heads = asyncio.run(runner.stamp(args.revision, purge=args.purge))
    _print(f"Stamped: {', '.join(heads) or 'base'}")
    return 0


def _sql(args: argparse.Namespace, config: AlembicConfig) -> int:
    url = _url(args, config)
    if not url and not args.dialect:
        raise ConfigError("sql needs the database kind: pass --url or --dialect")
    runner = MigrationRunner(config, script=MigrationScript.from_config(config), url=url)
    start, sep, target = args.range.rpartition(":")
    if not sep:
        start, target = "", args.range
    text = asyncio.run(
        runner.sql(
            target or "heads", start=start or None, downgrade=args.down, dialect=args.dialect
        )
    )
    sys.stdout.write(text)
    sys.stdout.flush()
    return 0
