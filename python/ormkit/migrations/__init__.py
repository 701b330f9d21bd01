"""Alembic-compatible migrations.

A migration directory is an Alembic one (``alembic.ini``, ``env.py``,
``script.py.mako``, ``versions/*.py``); ormkit reads it, runs its revision files
without Alembic or SQLAlchemy installed, records applied revisions in
``alembic_version`` exactly as Alembic does, and writes revision files Alembic can
run. See docs/migrations.md.
"""

from ormkit.migrations.config import AlembicConfig, ConfigError
from ormkit.migrations.ddl import MigrationError
from ormkit.migrations.operations import (
    AddColumnOp,
    AlterColumnOp,
    BatchOperations,
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
    Operations,
    RenameTableOp,
)
from ormkit.migrations.runner import MigrationFailed, MigrationRunner, StepReport
from ormkit.migrations.script import MigrationScript, RevisionError, Script, Step

__all__ = [
    "AddColumnOp",
    "AlembicConfig",
    "AlterColumnOp",
    "BatchOperations",
    "BulkInsertOp",
    "ConfigError",
    "CreateCheckConstraintOp",
    "CreateForeignKeyOp",
    "CreateIndexOp",
    "CreateTableOp",
    "CreateUniqueConstraintOp",
    "DropColumnOp",
    "DropConstraintOp",
    "DropIndexOp",
    "DropTableOp",
    "ExecuteSQLOp",
    "MigrateOperation",
    "MigrationError",
    "MigrationFailed",
    "MigrationRunner",
    "MigrationScript",
    "Operations",
    "RenameTableOp",
    "RevisionError",
    "Script",
    "Step",
    "StepReport",
]
