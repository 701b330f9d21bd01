"""The files ``ormkit migrate init`` writes: a directory that Alembic accepts as is.

``env.py`` is only for Alembic: ormkit never runs it (it reads ``alembic.ini`` and the
revision files itself). Under Alembic it does what Alembic's generic ``env.py``
does, and also takes the URL from ``ORMKIT_DATABASE_URL`` when that is set, and
picks the installed PostgreSQL driver for a plain ``postgresql://`` URL.
"""

from __future__ import annotations

__all__ = ["ALEMBIC_INI", "ENV_PY", "README", "SCRIPT_PY_MAKO"]

ALEMBIC_INI = """\
# Migrations for ormkit and Alembic: both read this file.

[alembic]
# Where env.py, script.py.mako and versions/ live (relative to this file's directory).
script_location = {script_location}

# Revision file names: %%(rev)s, %%(slug)s, %%(year)d, %%(month).2d, %%(day).2d,
# %%(hour).2d, %%(minute).2d, %%(second).2d, %%(epoch)s.
# file_template = %%(year)d_%%(month).2d_%%(day).2d_%%(hour).2d%%(minute).2d-%%(rev)s_%%(slug)s

# Added to sys.path before model modules are imported ("ormkit migrate auto -m app.models").
prepend_sys_path = .

# Zone for dates in new revision files (blank: local time).
# timezone =

# Longest slug in a file name.
# truncate_slug_length = 40

# Extra directories of revision files, separated by path_separator.
# version_locations = %(here)s/bar:%(here)s/bat:{script_location}/versions

# How lists of paths are split: os (os.pathsep), ":", ";", space, newline.
path_separator = os

# Look for revision files in subdirectories of the version locations too.
# recursive_version_locations = false

# Encoding of new revision files.
# output_encoding = utf-8

# The database. ormkit also takes --url and ORMKIT_DATABASE_URL (which win); the
# "+driver" part (postgresql+psycopg://) is for SQLAlchemy and ignored by ormkit.
sqlalchemy.url = {url}


[post_write_hooks]
# Commands Alembic runs on new revision files (ormkit does not run them).

# Logging, used by env.py under Alembic.
[loggers]
keys = root,sqlalchemy,alembic

[handlers]
keys = console

[formatters]
keys = generic

[logger_root]
level = WARNING
handlers = console
qualname =

[logger_sqlalchemy]
level = WARNING
handlers =
qualname = sqlalchemy.engine

[logger_alembic]
level = INFO
handlers =
qualname = alembic

[handler_console]
class = StreamHandler
args = (sys.stderr,)
level = NOTSET
formatter = generic

[formatter_generic]
format = %(levelname)-5.5s [%(name)s] %(message)s
datefmt = %H:%M:%S
"""

ENV_PY = '''\
"""Alembic's environment script for this directory.

ormkit never runs this file: ``ormkit migrate`` reads alembic.ini and the revision
files itself. It is here so that ``alembic upgrade head`` works on the same
directory, with SQLAlchemy's engine as usual.
"""

import os
from logging.config import fileConfig

from alembic import context
from sqlalchemy import engine_from_config, pool

config = context.config

if config.config_file_name is not None:
    fileConfig(config.config_file_name)

# Autogenerate with Alembic needs SQLAlchemy metadata here; ormkit's own
# "ormkit migrate auto -m app.models" reads ormkit models instead.
target_metadata = None


def _url() -> str:
    url = os.environ.get("ORMKIT_DATABASE_URL") or config.get_main_option("sqlalchemy.url")
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        try:
            import psycopg2  # noqa: F401
        except ImportError:
            url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def run_migrations_offline() -> None:
    """Emit SQL for the migrations without a database connection."""
    context.configure(
        url=_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run the migrations on a connection."""
    section = config.get_section(config.config_ini_section, {})
    section["sqlalchemy.url"] = _url()
    connectable = engine_from_config(section, prefix="sqlalchemy.", poolclass=pool.NullPool)
    with connectable.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
'''

SCRIPT_PY_MAKO = '''\
"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
Create Date: ${create_date}

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
${imports if imports else ""}

# revision identifiers, used by Alembic.
revision: str = ${repr(up_revision)}
down_revision: Union[str, Sequence[str], None] = ${repr(down_revision)}
branch_labels: Union[str, Sequence[str], None] = ${repr(branch_labels)}
depends_on: Union[str, Sequence[str], None] = ${repr(depends_on)}


def upgrade() -> None:
    """Upgrade schema."""
    ${upgrades if upgrades else "pass"}


def downgrade() -> None:
    """Downgrade schema."""
    ${downgrades if downgrades else "pass"}
'''

README = """\
Migrations for this project, in Alembic's format.

    ormkit migrate create "add users"          # an empty revision
    ormkit migrate auto "add users" -m app.models   # from the models
    ormkit migrate up                           # apply
    ormkit migrate down                         # undo the last one

Alembic runs the same directory: alembic upgrade head (env.py is only for Alembic).
"""
