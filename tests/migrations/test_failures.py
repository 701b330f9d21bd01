"""A failed migration leaves the schema and ``alembic_version`` as they were, and the
command says so in one line with a non-zero exit status."""

from __future__ import annotations

from pathlib import Path

from .conftest import ormkit_cli, query, schema_of, versions_of, write_revision

GOOD = """
op.create_table('accounts',
sa.Column('id', sa.Integer(), nullable=False),
sa.Column('owner', sa.String(length=50), nullable=True),
sa.PrimaryKeyConstraint('id')
)
op.execute("INSERT INTO accounts (id, owner) VALUES (1, 'ann'), (2, NULL)")
"""


async def test_failure_in_second_revision_rolls_back_everything(
    migrations: Path, db_url: str
) -> None:
    write_revision(migrations, "a1", None, GOOD, "op.drop_table('accounts')", message="accounts")
    write_revision(
        migrations,
        "b2",
        "a1",
        """
        op.create_table('ledger',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('id')
        )
        op.add_column('accounts', sa.Column('balance', sa.Integer(), nullable=True))
        op.alter_column('accounts', 'owner', existing_type=sa.String(length=50), nullable=False)
        """,
        message="ledger",
    )
    proc = ormkit_cli(migrations, "up", url=db_url, check=False)
    assert proc.returncode == 1
    assert "Running upgrade <base> -> a1, accounts ... done in" in proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert lines[-1].startswith("error: upgrade of revision b2 (ledger) failed at b2_ledger.py:")
    assert "Traceback" not in proc.stderr
    assert "Rolled back" in proc.stderr
    # Nothing of either revision was committed: not a1's table, not b2's.
    assert set(await schema_of(db_url)) <= {"alembic_version"}
    assert await versions_of(db_url) == []

    ormkit_cli(migrations, "up", "a1", url=db_url)
    before = await schema_of(db_url)
    proc = ormkit_cli(migrations, "up", url=db_url, check=False)
    assert proc.returncode == 1
    assert await schema_of(db_url) == before
    assert await versions_of(db_url) == ["a1"]
    assert len(await query(db_url, "SELECT * FROM accounts")) == 2


async def test_failed_downgrade_keeps_state(migrations: Path, db_url: str) -> None:
    write_revision(migrations, "a1", None, GOOD, "op.drop_table('accounts')")
    write_revision(
        migrations,
        "b2",
        "a1",
        "op.create_index('ix_owner', 'accounts', ['owner'])",
        """
        op.drop_index('ix_owner', table_name='accounts')
        op.execute("SELECT no_such_function()")
        """,
    )
    ormkit_cli(migrations, "up", url=db_url)
    before = await schema_of(db_url)
    proc = ormkit_cli(migrations, "down", "base", url=db_url, check=False)
    assert proc.returncode == 1
    assert "downgrade of revision b2" in proc.stderr
    assert await schema_of(db_url) == before
    assert await versions_of(db_url) == ["b2"]


async def test_python_error_in_revision(migrations: Path, db_url: str) -> None:
    write_revision(migrations, "a1", None, GOOD + "\nraise RuntimeError('boom')\n")
    proc = ormkit_cli(migrations, "up", url=db_url, check=False)
    assert proc.returncode == 1
    assert "RuntimeError: boom" in proc.stderr
    assert "a1_a1.py:" in proc.stderr
    assert set(await schema_of(db_url)) <= {"alembic_version"}


async def test_user_errors_are_one_line(migrations: Path, db_url: str) -> None:
    write_revision(migrations, "a1", None, GOOD)
    cases = [
        (["up", "nope"], "can't locate revision identified by 'nope'"),
        (["-c", "missing.ini", "status"], "no config file"),
        (["down", "a1"], "not applied"),
    ]
    for args, expected in cases:
        proc = ormkit_cli(migrations, *args, url=db_url, check=False)
        assert proc.returncode == 1, args
        assert proc.stderr.count("\n") == 1 and expected in proc.stderr, proc.stderr
    proc = ormkit_cli(migrations, "up", check=False)
    assert proc.returncode == 1
    assert "no database URL" in proc.stderr
    proc = ormkit_cli(migrations, "up", url="mysql://x/y", check=False)
    assert proc.returncode == 1 and "unsupported database 'mysql'" in proc.stderr
    write_revision(migrations, "b2", "zz", "pass")
    proc = ormkit_cli(migrations, "history", check=False)
    assert proc.returncode == 1
    assert "revision b2 (b2_b2.py) revises zz, which does not exist" in proc.stderr
