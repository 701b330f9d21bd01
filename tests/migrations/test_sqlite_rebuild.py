"""SQLite table rebuilds (the changes ALTER TABLE cannot make) keep every row, the
indexes, foreign keys (in both directions), triggers, views and what only the CREATE
TABLE statement records; a rebuild that would break a foreign key rolls back."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import ormkit_cli, query, schema_of, versions_of, write_revision

SETUP = """
op.execute('''CREATE TABLE parents (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    code TEXT NOT NULL COLLATE NOCASE,
    qty INTEGER DEFAULT 0 CHECK (qty >= 0),
    note VARCHAR(20),
    CONSTRAINT uq_parents_code UNIQUE (code)
)''')
op.execute("CREATE INDEX ix_parents_note ON parents (note) WHERE note IS NOT NULL")
op.execute('''CREATE TABLE children (
    id INTEGER PRIMARY KEY,
    parent_id INTEGER NOT NULL,
    CONSTRAINT fk_children_parent FOREIGN KEY (parent_id) REFERENCES parents (id)
        ON DELETE CASCADE
)''')
op.execute('''CREATE TABLE audit (n INTEGER)''')
op.execute('''CREATE TRIGGER parents_audit AFTER INSERT ON parents
BEGIN
    INSERT INTO audit (n) VALUES (new.qty);
END''')
op.execute("CREATE VIEW big_parents AS SELECT id, code FROM parents WHERE qty > 100")
op.execute('''WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000)
INSERT INTO parents (code, qty, note)
SELECT 'c' || i, i, CASE WHEN i % 2 = 0 THEN 'even' END FROM n''')
op.execute("INSERT INTO children (parent_id) SELECT id FROM parents")
"""


@pytest.fixture
def sqlite_project(project: Path, tmp_path: Path) -> tuple[Path, str]:
    url = f"sqlite:///{tmp_path / 'rebuild.db'}"
    ormkit_cli(project, "init")
    write_revision(project, "a1", None, SETUP)
    return project, url


async def test_rebuild_keeps_rows_indexes_keys_triggers_views(
    sqlite_project: tuple[Path, str],
) -> None:
    project, url = sqlite_project
    write_revision(
        project,
        "b2",
        "a1",
        """
        op.alter_column('parents', 'note', existing_type=sa.String(20), type_=sa.Text(),
                        new_column_name='remark')
        op.alter_column('parents', 'qty', existing_type=sa.Integer(), nullable=False)
        op.add_column('parents', sa.Column('flag', sa.Boolean(), server_default=sa.false(),
                                           nullable=False))
        """,
        """
        with op.batch_alter_table('parents') as batch_op:
            batch_op.drop_column('flag')
            batch_op.alter_column('qty', existing_type=sa.Integer(), nullable=True)
            batch_op.alter_column('remark', type_=sa.String(20), new_column_name='note')
        """,
    )
    ormkit_cli(project, "up", "a1", url=url)
    before_rows = await query(url, "SELECT id, code, qty, note FROM parents ORDER BY id")
    before = await schema_of(url)
    ormkit_cli(project, "up", url=url)
    after = await schema_of(url)
    rows = await query(url, "SELECT id, code, qty, remark, flag FROM parents ORDER BY id")
    assert len(rows) == 5000
    assert [(r["id"], r["code"], r["qty"], r["remark"]) for r in rows] == [
        (r["id"], r["code"], r["qty"], r["note"]) for r in before_rows
    ]
    assert {r["flag"] for r in rows} == {0}
    # Children were not cascaded away when the parent table was replaced.
    assert (await query(url, "SELECT COUNT(*) AS n FROM children"))[0]["n"] == 5000
    assert after["children"]["constraints"] == before["children"]["constraints"]
    assert after["parents"]["constraints"] == before["parents"]["constraints"]
    assert after["parents"]["indexes"] == [
        {"name": "ix_parents_note", "columns": ["remark"], "unique": False}
    ]
    sql = await query(url, "SELECT sql FROM sqlite_master WHERE name = 'parents'")
    text = sql[0]["sql"]
    assert "AUTOINCREMENT" in text and "COLLATE" in text and "CHECK (qty >= 0)" in text
    index_sql = await query(url, "SELECT sql FROM sqlite_master WHERE name = 'ix_parents_note'")
    assert "WHERE remark IS NOT NULL" in index_sql[0]["sql"]
    # The trigger and the view came back and work.
    await query(url, "INSERT INTO parents (code, qty) VALUES ('new', 500)")
    assert (await query(url, "SELECT COUNT(*) AS n FROM audit"))[0]["n"] == 5001
    assert (await query(url, "SELECT code FROM big_parents WHERE code = 'new'"))[0]["code"] == "new"
    # COLLATE NOCASE survived: the unique constraint is case-insensitive.
    with pytest.raises(Exception, match="UNIQUE"):
        await query(url, "INSERT INTO parents (code, qty) VALUES ('NEW', 1)")
    # Cascades still work after the rebuild.
    await query(url, "DELETE FROM parents WHERE id = 1")
    assert (await query(url, "SELECT COUNT(*) AS n FROM children"))[0]["n"] == 4999

    ormkit_cli(project, "down", url=url)
    back = await schema_of(url)
    assert [c["name"] for c in back["parents"]["columns"]] == ["id", "code", "qty", "note"]
    assert back["parents"]["indexes"] == before["parents"]["indexes"]
    assert (await query(url, "SELECT COUNT(*) AS n FROM parents"))[0]["n"] == 5000


async def test_rebuild_failure_rolls_back(sqlite_project: tuple[Path, str]) -> None:
    project, url = sqlite_project
    write_revision(
        project,
        "b2",
        "a1",
        "op.alter_column('parents', 'note', existing_type=sa.String(20), nullable=False)",
    )
    ormkit_cli(project, "up", "a1", url=url)
    before = await schema_of(url)
    proc = ormkit_cli(project, "up", url=url, check=False)
    assert proc.returncode == 1 and "NOT NULL" in proc.stderr
    assert await schema_of(url) == before
    assert await versions_of(url) == ["a1"]
    assert (await query(url, "SELECT COUNT(*) AS n FROM parents"))[0]["n"] == 5000
    # Foreign keys are enforced again after the command.
    with pytest.raises(Exception, match="FOREIGN KEY"):
        await query(url, "INSERT INTO children (parent_id) VALUES (999999)")


async def test_new_foreign_key_checked_against_existing_rows(
    sqlite_project: tuple[Path, str],
) -> None:
    project, url = sqlite_project
    write_revision(
        project,
        "b2",
        "a1",
        """
        op.add_column('audit', sa.Column('parent_id', sa.Integer(), nullable=True))
        op.execute("UPDATE audit SET parent_id = n + 1000000")
        op.create_foreign_key('fk_audit_parent', 'audit', 'parents', ['parent_id'], ['id'])
        """,
    )
    ormkit_cli(project, "up", "a1", url=url)
    proc = ormkit_cli(project, "up", url=url, check=False)
    assert proc.returncode == 1
    assert "break foreign keys: audit -> parents" in proc.stderr
    assert await versions_of(url) == ["a1"]
    assert "parent_id" not in {c["name"] for c in (await schema_of(url))["audit"]["columns"]}


async def test_drop_column_with_index_and_unique(sqlite_project: tuple[Path, str]) -> None:
    project, url = sqlite_project
    write_revision(
        project,
        "b2",
        "a1",
        """
        op.drop_column('parents', 'note')
        op.drop_column('parents', 'code')
        """,
    )
    ormkit_cli(project, "up", url=url)
    schema = await schema_of(url)
    assert [c["name"] for c in schema["parents"]["columns"]] == ["id", "qty"]
    assert schema["parents"]["indexes"] == []
    assert [c["type"] for c in schema["parents"]["constraints"]] == ["primary_key"]
    assert (await query(url, "SELECT COUNT(*) AS n FROM parents"))[0]["n"] == 5000
