"""The ``ormkit migrate`` commands: init, create, history, current, status, stamp, sql,
and where the URL and config come from."""

from __future__ import annotations

import os
from pathlib import Path

from .conftest import ormkit_cli, query, run, schema_of, versions_of, write_revision

TABLE = """
op.create_table('notes',
sa.Column('id', sa.Integer(), nullable=False),
sa.Column('body', sa.Text(), nullable=True),
sa.PrimaryKeyConstraint('id')
)
op.bulk_insert(sa.table('notes', sa.column('id'), sa.column('body')),
               [{'id': 1, 'body': "it's"}, {'id': 2, 'body': None}])
"""


def test_init_writes_an_alembic_directory(project: Path) -> None:
    out = ormkit_cli(project, "init", "db/migrations", "--url", "sqlite:///app.db").stdout
    assert "Created" in out
    ini = (project / "alembic.ini").read_text()
    assert "script_location = %(here)s/db/migrations" in ini
    assert "sqlalchemy.url = sqlite:///app.db" in ini
    for name in ("env.py", "script.py.mako", "README", "versions"):
        assert (project / "db" / "migrations" / name).exists()
    env_py = (project / "db" / "migrations" / "env.py").read_text()
    compile(env_py, "env.py", "exec")
    assert "ormkit never runs this file" in env_py
    proc = ormkit_cli(project, "init", check=False)
    assert proc.returncode == 1 and "already exists" in proc.stderr


async def test_create_history_status_current_stamp(project: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    ormkit_cli(project, "init", "--url", url)
    out = ormkit_cli(project, "create", "first step", "--rev-id", "aaa").stdout
    assert "aaa_first_step.py" in out
    ormkit_cli(project, "create", "second", "--rev-id", "bbb")
    ormkit_cli(
        project,
        "create",
        "side",
        "--rev-id",
        "ccc",
        "--head",
        "aaa",
        "--splice",
        "--branch-label",
        "side",
    )
    text = (project / "migrations" / "versions" / "ccc_side.py").read_text()
    assert "down_revision: Union[str, Sequence[str], None] = 'aaa'" in text
    assert "branch_labels: Union[str, Sequence[str], None] = 'side'" in text
    proc = ormkit_cli(project, "create", "x", check=False)
    assert proc.returncode == 1 and "multiple heads" in proc.stderr
    ormkit_cli(project, "create", "merge", "--head", "heads", "--rev-id", "ddd")
    text = (project / "migrations" / "versions" / "ddd_merge.py").read_text()
    assert "down_revision: Union[str, Sequence[str], None] = ('bbb', 'ccc')" in text

    history = ormkit_cli(project, "history").stdout.splitlines()
    assert history[0] == "bbb, ccc -> ddd (head) (mergepoint), merge"
    assert "aaa (branchpoint)" in "\n".join(history)
    assert history[-1] == "<base> -> aaa (branchpoint), first step"

    out = ormkit_cli(project, "status").stdout
    assert "Current: base (empty)" in out and "Pending: 4 revisions" in out
    out = ormkit_cli(project, "up", "side").stdout
    assert out.count("Running upgrade") == 2 and "now at ccc" in out
    assert ormkit_cli(project, "current").stdout.strip() == "ccc, side"
    out = ormkit_cli(project, "up").stdout
    assert "Running upgrade bbb, ccc -> ddd, merge" in out
    assert "Up to date." in ormkit_cli(project, "status").stdout
    assert "Nothing to do." in ormkit_cli(project, "up").stdout
    proc = ormkit_cli(project, "down", "-1", check=False)  # as Alembic: an ambiguous walk
    assert proc.returncode == 1 and "ambiguous at merge point ddd" in proc.stderr
    ormkit_cli(project, "down", "bbb")
    assert await versions_of(url) == ["bbb", "ccc"]
    ormkit_cli(project, "down", "aaa")
    assert await versions_of(url) == ["aaa"]
    assert "Stamped: ddd" in ormkit_cli(project, "stamp", "head").stdout
    assert await versions_of(url) == ["ddd"]
    ormkit_cli(project, "stamp", "bbb", "ccc")
    assert await versions_of(url) == ["bbb", "ccc"]
    ormkit_cli(project, "stamp", "base")
    assert await versions_of(url) == []


async def test_url_sources_and_config_path(project: Path, tmp_path: Path) -> None:
    ini_url = f"sqlite:///{tmp_path / 'ini.db'}"
    env_url = f"sqlite:///{tmp_path / 'env.db'}"
    flag_url = f"sqlite:///{tmp_path / 'flag.db'}"
    ormkit_cli(project, "-c", "conf/db.ini", "init", "conf/migrations", "--url", ini_url)
    write_revision(project, "a1", None, TABLE, directory="conf/migrations/versions")
    ormkit_cli(project, "-c", "conf/db.ini", "up")
    ormkit_cli(project, "up", "-c", "conf/db.ini", url=env_url)
    ormkit_cli(project, "up", "-c", "conf/db.ini", "--url", flag_url, url=env_url)
    proc = run(
        [__import__("sys").executable, "-m", "ormkit.cli", "migrate", "up"],
        project,
        {"ALEMBIC_CONFIG": str(project / "conf" / "db.ini")},
    )
    assert proc.returncode == 0, proc.stderr
    for url in (ini_url, env_url, flag_url):
        assert await versions_of(url) == ["a1"]
        rows = await query(url, "SELECT body FROM notes ORDER BY id")
        assert [r["body"] for r in rows] == ["it's", None]


def test_sql_prints_without_running(project: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'never.db'}"
    ormkit_cli(project, "init", "--url", url)
    write_revision(project, "a1", None, TABLE, "op.drop_table('notes')")
    write_revision(
        project,
        "b2",
        "a1",
        "op.alter_column('notes', 'body', existing_type=sa.Text(), nullable=False)",
        "op.alter_column('notes', 'body', existing_type=sa.Text(), nullable=True)",
    )
    out = ormkit_cli(project, "sql").stdout
    assert out.startswith("PRAGMA foreign_keys=OFF;")
    assert "CREATE TABLE alembic_version" in out
    assert "INSERT INTO notes (id, body) VALUES (1, 'it''s'), (2, NULL);" in out
    assert "CREATE TABLE _ormkit_tmp_notes" in out and "body TEXT NOT NULL" in out
    assert "INSERT INTO alembic_version (version_num) VALUES ('a1');" in out
    assert "UPDATE alembic_version SET version_num = 'b2' WHERE version_num = 'a1';" in out
    assert out.rstrip().endswith("PRAGMA foreign_keys=ON;")
    assert not os.path.exists(tmp_path / "never.db")

    pg = ormkit_cli(project, "sql", "a1", "--dialect", "postgresql").stdout
    assert "CREATE TABLE notes (\n    id INTEGER NOT NULL GENERATED BY DEFAULT AS IDENTITY" in pg
    assert "b2" not in pg and pg.rstrip().endswith("COMMIT;")
    down = ormkit_cli(project, "sql", "--down", "b2:base", "--dialect", "postgresql").stdout
    assert "ALTER TABLE notes ALTER COLUMN body DROP NOT NULL;" in down
    assert "DROP TABLE notes;" in down and "DROP TABLE alembic_version;" in down
    assert not os.path.exists(tmp_path / "never.db")


async def test_progress_line_per_revision(project: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'p.db'}"
    ormkit_cli(project, "init", "--url", url)
    for i in range(1, 4):
        write_revision(project, f"r{i}", f"r{i - 1}" if i > 1 else None, "pass", message=f"m{i}")
    lines = ormkit_cli(project, "up").stdout.splitlines()
    assert [line.split(" ... ")[0] for line in lines[:3]] == [
        "Running upgrade <base> -> r1, m1",
        "Running upgrade r1 -> r2, m2",
        "Running upgrade r2 -> r3, m3",
    ]
    assert all(" ms" in line for line in lines)
    assert lines[3].startswith("Upgraded 3 revisions in ")
    lines = ormkit_cli(project, "down", "r1").stdout.splitlines()
    assert lines[0].startswith("Running downgrade r3 -> r2, m3 ... done in")
    assert (await schema_of(url)).keys() == {"alembic_version"}


async def test_file_template_and_several_version_locations(project: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'loc.db'}"
    ormkit_cli(project, "init", "--url", url)
    ini = project / "alembic.ini"
    text = (
        ini.read_text()
        .replace("# file_template = %%(year)d", "file_template = %%(year)d")
        .replace(
            "# version_locations = %(here)s/bar:%(here)s/bat:%(here)s/migrations/versions",
            "version_locations = %(here)s/migrations/versions:%(here)s/more",
        )
    )
    text = text.replace("path_separator = os", "path_separator = :")
    ini.write_text(text)
    (project / "more").mkdir()
    out = ormkit_cli(project, "create", "first one", "--rev-id", "f1").stdout
    (path,) = (project / "migrations" / "versions").glob("*.py")
    assert str(path) in out
    assert path.name.endswith("-f1_first_one.py") and path.name[:4].isdigit()
    ormkit_cli(project, "create", "elsewhere", "--rev-id", "f2", "--version-path", "more")
    assert len(list((project / "more").glob("*f2_elsewhere.py"))) == 1
    out = ormkit_cli(project, "up").stdout
    assert "f1 -> f2" in out
    assert await versions_of(url) == ["f2"]
