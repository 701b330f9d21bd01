"""Pieces without a database: alembic.ini reading, the revision graph and the
``alembic_version`` rules, the module stand-ins, templates and rendering."""

from __future__ import annotations

import os
import sys
import textwrap
import types
from pathlib import Path

import pytest

from ormkit.migrations import AlembicConfig, ConfigError, MigrationScript, RevisionError, Step
from ormkit.migrations.context import inline_params
from ormkit.migrations.render import render_ops, render_template, slugify
from ormkit.migrations.shim import injected_modules
from ormkit.migrations.templates import SCRIPT_PY_MAKO
from ormkit.migrations.version_table import apply_step, stamp_changes
from ormkit.schema.introspect import normalise_type
from ormkit.schema.sqlite_sql import parse_create_table
from ormkit.sql.textual import split_statements

from .conftest import write_revision

# -- config ----------------------------------------------------------------------------------


def test_config_reads_alembic_ini(tmp_path: Path) -> None:
    ini = tmp_path / "alembic.ini"
    ini.write_text(
        textwrap.dedent(
            """\
            [alembic]
            script_location = %(here)s/db
            file_template = %%(year)d_%%(rev)s_%%(slug)s
            version_locations = %(here)s/db/versions %(here)s/extra
            sqlalchemy.url = postgresql+psycopg://u:p%%40ss@h/db
            truncate_slug_length = 12
            """
        )
    )
    cfg = AlembicConfig(ini)
    assert cfg.script_location == tmp_path / "db"
    assert cfg.file_template == "%(year)d_%(rev)s_%(slug)s"
    assert cfg.version_locations == [tmp_path / "db" / "versions", tmp_path / "extra"]
    assert cfg.url == "postgresql+psycopg://u:p%40ss@h/db"
    assert cfg.truncate_slug_length == 12


def test_config_path_separator_placeholder_and_pyproject(tmp_path: Path) -> None:
    ini = tmp_path / "alembic.ini"
    ini.write_text(
        "[alembic]\nscript_location = migrations\npath_separator = os\n"
        f"version_locations = %(here)s/a{os.pathsep}%(here)s/b c\n"
        "sqlalchemy.url = driver://user:pass@localhost/dbname\n"
    )
    cfg = AlembicConfig(ini)
    assert cfg.version_locations == [tmp_path / "a", tmp_path / "b c"]
    assert cfg.url is None
    assert cfg.script_location == tmp_path / "migrations"
    ini.write_text("[alembic]\n")
    (tmp_path / "pyproject.toml").write_text('[tool.alembic]\nscript_location = "%(here)s/mig"\n')
    assert AlembicConfig(ini).script_location == tmp_path / "mig"
    with pytest.raises(ConfigError, match="no config file"):
        AlembicConfig(tmp_path / "missing.ini")


def test_config_without_script_location(tmp_path: Path) -> None:
    ini = tmp_path / "alembic.ini"
    ini.write_text("[alembic]\n")
    with pytest.raises(ConfigError, match="no script_location"):
        _ = AlembicConfig(ini).script_location


# -- graph and version table ---------------------------------------------------------------


@pytest.fixture
def graph(tmp_path: Path) -> MigrationScript:
    revs = [
        ("r1", None, ""),
        ("r2", "r1", ""),
        ("r3a", "r2", "branch_labels = ('feature',)"),
        ("r3b", "r2", ""),
        ("m4", ("r3a", "r3b"), ""),
        ("x1", None, "branch_labels = ('other',)"),
        ("x2", "x1", "depends_on = 'r3b'"),
    ]
    for rev, down, extra in revs:
        write_revision(tmp_path, rev, down, "pass", extra=extra, directory="versions")
    return MigrationScript([tmp_path / "versions"])


def test_graph_heads_bases_and_names(graph: MigrationScript) -> None:
    assert graph.heads == ["m4", "x2"]
    assert graph.bases == ["r1", "x1"]
    with pytest.raises(RevisionError, match="multiple revisions start with 'r3'"):
        graph.get("r3")
    assert graph.get("feature").revision == "r3a"
    assert [s.revision for s in graph.resolve("feature@head")] == ["m4"]
    assert [s.revision for s in graph.resolve("other@head")] == ["x2"]
    with pytest.raises(RevisionError, match="multiple head revisions"):
        graph.resolve("head")
    assert graph.revisions["x2"].dependencies == ("r3b",)
    assert graph.revisions["r2"].is_branch_point and graph.revisions["m4"].is_merge


def test_graph_plans(graph: MigrationScript) -> None:
    steps = graph.upgrade_steps([], "x2")
    assert [s.revision for s in steps] == ["r1", "x1", "r2", "r3b", "x2"]
    steps = graph.upgrade_steps(["r3b", "x2"], "heads")
    assert [s.revision for s in steps] == ["r3a", "m4"]
    steps = graph.downgrade_steps(["m4", "x2"], "r2")
    assert steps[0].revision in ("m4", "x2")
    assert {s.revision for s in steps} == {"m4", "r3a", "r3b", "x2"}
    assert [s.revision for s in graph.downgrade_steps(["r2"], "-1")] == ["r2"]
    assert [s.revision for s in graph.upgrade_steps(["r1"], "+1")] == ["r2"]
    with pytest.raises(RevisionError, match="ambiguous"):
        graph.upgrade_steps(["r2"], "+1")


def test_version_rows_follow_alembic(graph: MigrationScript) -> None:
    heads: set[str] = set()
    for step in graph.upgrade_steps([], "r3a"):
        apply_step(graph, heads, step)
    assert heads == {"r3a"}
    changes = []
    for step in graph.upgrade_steps(sorted(heads), "r3b"):
        changes += apply_step(graph, heads, step)
    assert changes == [("insert", "r3b", None)] and heads == {"r3a", "r3b"}
    (step,) = graph.upgrade_steps(sorted(heads), "m4")
    assert apply_step(graph, heads, step) == [("delete", "r3a", None), ("update", "r3b", "m4")]
    step = graph.downgrade_steps(["m4"], "r3a")[0]
    assert apply_step(graph, heads, step) == [("update", "m4", "r3b"), ("insert", "r3a", None)]
    assert heads == {"r3a", "r3b"}
    step = Step(graph.revisions["r3b"], upgrade=False)
    assert apply_step(graph, heads, step) == [("delete", "r3b", None)]
    step = Step(graph.revisions["r3a"], upgrade=False)
    assert apply_step(graph, heads, step) == [("update", "r3a", "r2")]
    heads = {"r3b", "x1"}
    assert graph.downgrade_steps(["r3a", "r3b"], "r3a") == []
    (step,) = graph.upgrade_steps(sorted(heads), "x2")
    assert apply_step(graph, heads, step) == [("delete", "r3b", None), ("update", "x1", "x2")]
    # As Alembic: x2 depends on r3b, so r2 is on its line and replaces it.
    assert stamp_changes(graph, heads, ["r2"]) == [("update", "x2", "r2")]
    assert stamp_changes(graph, heads, ["m4"]) == [("update", "r2", "m4")]
    assert stamp_changes(graph, heads, ["x1"]) == [("insert", "x1", None)]
    assert stamp_changes(graph, heads, []) == [("delete", "m4", None), ("delete", "x1", None)]


def test_graph_errors(tmp_path: Path) -> None:
    write_revision(tmp_path, "a", "b", "pass", directory="v")
    write_revision(tmp_path, "b", "a", "pass", directory="v")
    with pytest.raises(RevisionError, match="own ancestor"):
        MigrationScript([tmp_path / "v"])
    (tmp_path / "w").mkdir()
    (tmp_path / "w" / "bad.py").write_text("revision = 5\n")
    with pytest.raises(RevisionError, match="non-empty string"):
        MigrationScript([tmp_path / "w"])


# -- stand-in modules ------------------------------------------------------------------------


def test_stand_ins_only_while_loading_or_running(tmp_path: Path) -> None:
    real = types.ModuleType("sqlalchemy")
    before = sys.modules.get("sqlalchemy")
    sys.modules["sqlalchemy"] = real
    try:
        with injected_modules():
            import alembic
            import sqlalchemy as sa

            assert sa is not real and hasattr(sa, "Column") and hasattr(alembic, "op")
            from sqlalchemy.dialects import postgresql

            assert postgresql.JSONB().compile("postgresql") == "JSONB"
            with pytest.raises(AttributeError, match="not provided by ormkit's stand-in"):
                _ = sa.orm_magic
            with pytest.raises(RuntimeError, match="only available while ormkit runs"):
                _ = alembic.op.create_table
        assert sys.modules["sqlalchemy"] is real
        assert "alembic" not in sys.modules or not getattr(
            sys.modules["alembic"], "__ormkit_shim__", False
        )
    finally:
        if before is None:
            sys.modules.pop("sqlalchemy", None)
        else:
            sys.modules["sqlalchemy"] = before


# -- templates, rendering, SQL helpers -----------------------------------------------------


def test_template_engine_renders_alembic_template() -> None:
    text = render_template(
        SCRIPT_PY_MAKO,
        {
            "up_revision": "abc",
            "down_revision": ("x", "y"),
            "branch_labels": None,
            "depends_on": None,
            "create_date": "2024-01-01",
            "message": "merge",
            "imports": "",
            "upgrades": "",
            "downgrades": "op.drop_table('t')",
        },
    )
    assert "Revises: x, y" in text
    assert "down_revision: Union[str, Sequence[str], None] = ('x', 'y')" in text
    assert "    pass\n" in text and "    op.drop_table('t')" in text
    compile(text, "rev.py", "exec")
    custom = "% if flag:\nyes ${value | n}\n% else:\nno\n% endif\n## comment\n"
    assert render_template(custom, {"flag": True, "value": 3}) == "yes 3\n"
    assert render_template(custom, {"flag": False, "value": 3}) == "no\n"


def test_slug_and_rendering() -> None:
    assert slugify("Add users, and their emails!") == "add_users_and_their_emails"
    assert slugify("a" * 30 + " " + "b" * 30, 40) == "a" * 30 + "_"
    from ormkit.migrations import sa
    from ormkit.migrations.operations import AddColumnOp, AlterColumnOp

    ops = [
        AddColumnOp("t", sa.Column("c", sa_types_integer(), nullable=True)),
        AlterColumnOp("t", "d", nullable=False, existing_type=sa_types_integer()),
    ]
    body, imports = render_ops(ops, batch=True)
    assert "with op.batch_alter_table('t', schema=None) as batch_op:" in body
    assert "batch_op.add_column(sa.Column('c', sa.Integer(), nullable=True))" in body
    assert imports == set()


def sa_types_integer() -> object:
    from ormkit.migrations.sa_types import Integer

    return Integer()


def test_sql_helpers() -> None:
    script = "CREATE TABLE a (x TEXT DEFAULT ';');\n-- c;\nINSERT INTO a VALUES ('$1;'); "
    script += "CREATE TRIGGER t AFTER INSERT ON a BEGIN UPDATE a SET x = 'y'; END;"
    assert split_statements(script) == [
        "CREATE TABLE a (x TEXT DEFAULT ';')",
        "-- c;\nINSERT INTO a VALUES ('$1;')",
        "CREATE TRIGGER t AFTER INSERT ON a BEGIN UPDATE a SET x = 'y'; END",
    ]
    assert split_statements("DO $$ BEGIN PERFORM 1; END $$; SELECT 1") == [
        "DO $$ BEGIN PERFORM 1; END $$",
        "SELECT 1",
    ]
    assert inline_params("SELECT $1, '$2', $2", ["o'k", None], "postgresql") == (
        "SELECT 'o''k', '$2', NULL"
    )
    assert normalise_type("character varying(20)") == "varchar(20)"
    assert normalise_type("NUMERIC(10, 2)") == "numeric(10,2)"
    assert normalise_type("timestamp(3) with time zone") == "timestamptz(3)"
    parsed = parse_create_table(
        'CREATE TABLE "t" (id INTEGER PRIMARY KEY AUTOINCREMENT, "na,me" TEXT COLLATE NOCASE '
        'CONSTRAINT ck CHECK (length("na,me") > 0), CONSTRAINT fk FOREIGN KEY (id) '
        'REFERENCES o (id), CONSTRAINT uq UNIQUE ("na,me")) WITHOUT ROWID'
    )
    assert [c.name for c in parsed.columns] == ["id", "na,me"]
    assert parsed.columns[0].autoincrement and parsed.columns[1].collate == "NOCASE"
    assert parsed.constraint_name("unique", ["na,me"]) == "uq"
    assert parsed.constraint_name("foreign_key", ["id"]) == "fk"
    assert parsed.options == "WITHOUT ROWID"
