"""The ``ormkit`` command line.

``ormkit migrate init|create|auto|up|down|status|history|current|stamp|sql``. User
mistakes (no config, a bad revision name, a database error in a migration …) are
reported as one ``error: …`` line on stderr with exit status 1 (set
``ORMKIT_TRACEBACK=1`` to see the traceback too); an unexpected failure (a bug) shows
its traceback. The database URL comes from ``--url``,
else ``ORMKIT_DATABASE_URL``, else ``sqlalchemy.url`` in ``alembic.ini``.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Sequence

from ormkit.cli.migrate import USER_ERRORS, add_migrate_parser, run_migrate

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ormkit", description="ormkit command line: database migrations."
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    add_migrate_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command line and returns the exit status.

    Called without ``argv`` (as the ``ormkit`` program), it ends the process itself
    once output is flushed: the engine's native threads can still be winding down when
    the interpreter finalises, which has crashed the process after a successful run.
    """
    status = _run(argv)
    if argv is None:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    return status


def _run(argv: Sequence[str] | None) -> int:
    parser = _parser()
    args = parser.parse_args(list(argv) if argv is not None else None)
    if args.version:
        from ormkit import __version__

        print(f"ormkit {__version__}")
        return 0
    if args.command != "migrate":
        parser.print_help(sys.stderr)
        return 1
    try:
        return run_migrate(args)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except USER_ERRORS as exc:
        if os.environ.get("ORMKIT_TRACEBACK"):
            traceback.print_exc()
        message = str(exc).strip().splitlines()
        print(f"error: {message[0] if message else type(exc).__name__}", file=sys.stderr)
        return 1
