"""Hand-written Alembic-style revision files (laid out as Alembic's autogenerate writes
them) run with ``ormkit migrate up/down`` on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import ormkit_cli, query, schema_of, versions_of, write_revision

CREATE = """
op.create_table('users',
sa.Column('id', sa.Integer(), nullable=False),
sa.Column('name', sa.String(length=100), nullable=False),
sa.Column('email', sa.String(length=200), nullable=True),
sa.Column('active', sa.Boolean(), server_default=sa.true(), nullable=False),
sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=True),
sa.Column('balance', sa.Numeric(precision=10, scale=2), nullable=True),
sa.Column('meta', sa.JSON(), nullable=True),
sa.Column('uid', sa.Uuid(), nullable=True),
sa.Column('born', sa.Date(), nullable=True),
sa.Column('wakes', sa.Time(), nullable=True),
sa.Column('span', sa.Interval(), nullable=True),
sa.Column('photo', sa.LargeBinary(), nullable=True),
sa.Column('score', sa.Float(), nullable=True),
sa.Column('rank', sa.SmallInteger(), nullable=True),
sa.Column('big', sa.BigInteger(), nullable=True),
sa.Column('bio', sa.Text(), nullable=True),
sa.PrimaryKeyConstraint('id')
)
op.create_index(op.f('ix_users_email'), 'users', ['email'], unique=True)
op.create_table('posts',
sa.Column('id', sa.Integer(), nullable=False),
sa.Column('user_id', sa.Integer(), nullable=True),
sa.Column('title', sa.String(length=200), server_default='untitled', nullable=False),
sa.ForeignKeyConstraint(['user_id'], ['users.id'], name='fk_posts_user', ondelete='CASCADE'),
sa.PrimaryKeyConstraint('id'),
sa.UniqueConstraint('user_id', 'title', name='uq_posts_user_title')
)
"""

DROP = """
op.drop_table('posts')
op.drop_index(op.f('ix_users_email'), table_name='users')
op.drop_table('users')
"""


def _columns(schema: dict, table: str) -> dict[str, dict]:
    return {c["name"]: c for c in schema[table]["columns"]}


def _constraints(schema: dict, table: str, kind: str) -> list[dict]:
    return [c for c in schema[table]["constraints"] if c["type"] == kind]


async def test_create_and_drop_tables(migrations: Path, db_url: str) -> None:
    write_revision(migrations, "a1", None, CREATE, DROP, message="create users and posts")
    out = ormkit_cli(migrations, "up", url=db_url).stdout
    assert "Running upgrade <base> -> a1, create users and posts ... done in" in out
    schema = await schema_of(db_url)
    assert set(schema) == {"alembic_version", "users", "posts"}
    users = _columns(schema, "users")
    assert list(users)[:3] == ["id", "name", "email"]
    assert users["name"]["type"] == "varchar(100)"
    assert users["name"]["nullable"] is False
    assert users["email"]["nullable"] is True
    assert users["id"]["primary_key"] and users["id"]["autoincrement"]
    assert schema["users"]["indexes"] == [
        {"name": "ix_users_email", "columns": ["email"], "unique": True}
    ]
    fks = _constraints(schema, "posts", "foreign_key")
    assert fks[0]["name"] == "fk_posts_user"
    assert fks[0]["referred_table"] == "users" and fks[0]["ondelete"] == "CASCADE"
    assert _constraints(schema, "posts", "unique")[0]["name"] == "uq_posts_user_title"
    # Server defaults and the autoincrement key work.
    await query(db_url, "INSERT INTO users (name) VALUES ($1)", ["ann"])
    await query(db_url, "INSERT INTO posts (user_id) VALUES ($1)", [1])
    rows = await query(
        db_url, "SELECT u.id, u.active, p.title FROM users u JOIN posts p ON p.user_id = u.id"
    )
    assert rows[0]["id"] == 1 and rows[0]["title"] == "untitled" and rows[0]["active"] in (1, True)
    assert await versions_of(db_url) == ["a1"]

    out = ormkit_cli(migrations, "down", url=db_url).stdout
    assert "Running downgrade a1 -> <base>" in out
    assert set(await schema_of(db_url)) == {"alembic_version"}
    assert await versions_of(db_url) == []


async def test_column_operations(migrations: Path, db_url: str) -> None:
    write_revision(migrations, "a1", None, CREATE, DROP)
    write_revision(
        migrations,
        "b2",
        "a1",
        """
        op.add_column('users', sa.Column('age', sa.Integer(), nullable=True))
        op.add_column('users', sa.Column('level', sa.Integer(), server_default='1', nullable=False))
        op.alter_column('users', 'name', existing_type=sa.String(length=100),
                        type_=sa.Text(), existing_nullable=False)
        op.alter_column('users', 'email', existing_type=sa.String(length=200), nullable=False)
        op.alter_column('users', 'bio', existing_type=sa.Text(), server_default='none')
        op.alter_column('users', 'score', new_column_name='points')
        op.drop_column('users', 'rank')
        """,
        """
        op.add_column('users', sa.Column('rank', sa.SmallInteger(), nullable=True))
        op.alter_column('users', 'points', new_column_name='score')
        op.alter_column('users', 'bio', existing_type=sa.Text(), server_default=None)
        op.alter_column('users', 'email', existing_type=sa.String(length=200), nullable=True)
        op.alter_column('users', 'name', existing_type=sa.Text(), type_=sa.String(length=100))
        op.drop_column('users', 'level')
        op.drop_column('users', 'age')
        """,
    )
    ormkit_cli(migrations, "up", "a1", url=db_url)
    for name in ("ann", "bob", "cy"):
        await query(db_url, "INSERT INTO users (name, email) VALUES ($1, $2)", [name, name + "@x"])
    before = await schema_of(db_url)
    ormkit_cli(migrations, "up", url=db_url)
    schema = await schema_of(db_url)
    users = _columns(schema, "users")
    assert users["name"]["type"] == "text"
    assert users["email"]["nullable"] is False
    assert "rank" not in users and "score" not in users and "points" in users
    assert users["level"]["nullable"] is False
    assert "none" in (users["bio"]["default"] or "")
    assert schema["users"]["indexes"] == before["users"]["indexes"]
    rows = await query(db_url, "SELECT name, email, level FROM users ORDER BY id")
    assert [(r["name"], r["email"], r["level"]) for r in rows] == [
        ("ann", "ann@x", 1),
        ("bob", "bob@x", 1),
        ("cy", "cy@x", 1),
    ]
    ormkit_cli(migrations, "down", url=db_url)
    after = await schema_of(db_url)
    assert {c["name"] for c in after["users"]["columns"]} == {
        c["name"] for c in before["users"]["columns"]
    }
    assert _columns(after, "users")["name"]["type"] == "varchar(100)"
    assert _columns(after, "users")["email"]["nullable"] is True
    assert _columns(after, "users")["bio"]["default"] is None
    assert after["users"]["indexes"] == before["users"]["indexes"]
    assert len(await query(db_url, "SELECT * FROM users")) == 3


async def test_constraint_index_and_table_operations(migrations: Path, db_url: str) -> None:
    write_revision(migrations, "a1", None, CREATE, DROP)
    write_revision(
        migrations,
        "b2",
        "a1",
        """
        op.create_table('tags',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('label', sa.String(length=50), nullable=False),
        sa.Column('post_id', sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint('id')
        )
        op.create_unique_constraint('uq_tags_label', 'tags', ['label'])
        op.create_foreign_key('fk_tags_post', 'tags', 'posts', ['post_id'], ['id'],
                              ondelete='SET NULL')
        op.create_index('ix_tags_post', 'tags', ['post_id'])
        op.drop_constraint('uq_posts_user_title', 'posts', type_='unique')
        op.drop_index(op.f('ix_users_email'), table_name='users')
        op.rename_table('tags', 'labels')
        """,
        """
        op.rename_table('labels', 'tags')
        op.create_index(op.f('ix_users_email'), 'users', ['email'], unique=True)
        op.create_unique_constraint('uq_posts_user_title', 'posts', ['user_id', 'title'])
        op.drop_index('ix_tags_post', table_name='tags')
        op.drop_constraint('fk_tags_post', 'tags', type_='foreignkey')
        op.drop_constraint('uq_tags_label', 'tags', type_='unique')
        op.drop_table('tags')
        """,
    )
    ormkit_cli(migrations, "up", url=db_url)
    schema = await schema_of(db_url)
    assert "labels" in schema and "tags" not in schema
    assert [c["name"] for c in _constraints(schema, "labels", "unique")] == ["uq_tags_label"]
    fk = _constraints(schema, "labels", "foreign_key")[0]
    assert (fk["name"], fk["referred_table"], fk["ondelete"]) == (
        "fk_tags_post",
        "posts",
        "SET NULL",
    )
    assert schema["labels"]["indexes"] == [
        {"name": "ix_tags_post", "columns": ["post_id"], "unique": False}
    ]
    assert _constraints(schema, "posts", "unique") == []
    assert schema["users"]["indexes"] == []
    ormkit_cli(migrations, "down", url=db_url)
    schema = await schema_of(db_url)
    assert "tags" not in schema and "labels" not in schema
    assert [c["name"] for c in _constraints(schema, "posts", "unique")] == ["uq_posts_user_title"]
    assert schema["users"]["indexes"][0]["name"] == "ix_users_email"


async def test_execute_bulk_insert_and_batch(migrations: Path, db_url: str) -> None:
    write_revision(migrations, "a1", None, CREATE, DROP)
    write_revision(
        migrations,
        "b2",
        "a1",
        """
        users = sa.table('users', sa.column('id', sa.Integer), sa.column('name', sa.String),
                         sa.column('meta', sa.JSON))
        op.bulk_insert(users, [{'id': i, 'name': f'user {i}', 'meta': {'n': i}}
                               for i in range(1, 1201)])
        op.execute("UPDATE users SET email = 'u' || CAST(id AS TEXT) || '@example.com'")
        op.execute(sa.text("INSERT INTO posts (user_id, title) "
                           "SELECT id, 'first; post' FROM users WHERE id <= 10"))
        with op.batch_alter_table('users', schema=None) as batch_op:
            batch_op.add_column(sa.Column('nick', sa.String(length=30), nullable=True))
            batch_op.alter_column('email', existing_type=sa.String(length=200), nullable=False)
            batch_op.create_unique_constraint('uq_users_nick', ['nick'])
            batch_op.create_index('ix_users_nick_name', ['nick', 'name'], unique=False)
        """,
        """
        with op.batch_alter_table('users', schema=None) as batch_op:
            batch_op.drop_index('ix_users_nick_name')
            batch_op.drop_constraint('uq_users_nick', type_='unique')
            batch_op.alter_column('email', existing_type=sa.String(length=200), nullable=True)
            batch_op.drop_column('nick')
        op.execute("DELETE FROM posts")
        op.execute("DELETE FROM users")
        """,
    )
    ormkit_cli(migrations, "up", url=db_url)
    rows = await query(db_url, "SELECT COUNT(*) AS n FROM users")
    assert rows[0]["n"] == 1200
    rows = await query(db_url, "SELECT email, meta FROM users WHERE id = 999")
    assert rows[0]["email"] == "u999@example.com"
    assert rows[0]["meta"] in ({"n": 999}, '{"n": 999}')
    assert (await query(db_url, "SELECT title FROM posts LIMIT 1"))[0]["title"] == "first; post"
    schema = await schema_of(db_url)
    assert _columns(schema, "users")["email"]["nullable"] is False
    assert {i["name"] for i in schema["users"]["indexes"]} == {
        "ix_users_email",
        "ix_users_nick_name",
    }
    assert [c["name"] for c in _constraints(schema, "users", "unique")] == ["uq_users_nick"]
    ormkit_cli(migrations, "down", url=db_url)
    schema = await schema_of(db_url)
    assert "nick" not in _columns(schema, "users")
    assert await query(db_url, "SELECT COUNT(*) AS n FROM users") == [{"n": 0}]


async def test_enum_identity_check_and_data_migration(migrations: Path, db_url: str) -> None:
    write_revision(
        migrations,
        "a1",
        None,
        """
        op.create_table('moods',
        sa.Column('id', sa.Integer(), sa.Identity(always=False), nullable=False),
        sa.Column('mood', sa.Enum('happy', 'sad', name='mood_kind'), nullable=False),
        sa.Column('level', sa.Integer(), server_default=sa.text('3'), nullable=False),
        sa.CheckConstraint('level > 0', name='ck_level_positive'),
        sa.PrimaryKeyConstraint('id')
        )
        op.execute("INSERT INTO moods (mood) VALUES ('happy');"
                   "INSERT INTO moods (mood) VALUES ('sad')")
        bind = op.get_bind()
        rows = bind.execute(sa.text("SELECT id, mood FROM moods ORDER BY id")).all()
        op.add_column('moods', sa.Column('label', sa.String(20), nullable=True))
        for row in rows:
            bind.execute("UPDATE moods SET label = $1 WHERE id = $2",
                         [row['mood'].upper(), row['id']])
        """,
        """
        op.drop_table('moods')
        if op.get_context().dialect == 'postgresql':
            op.execute('DROP TYPE mood_kind')
        """,
    )
    ormkit_cli(migrations, "up", url=db_url)
    rows = await query(db_url, "SELECT id, mood, level, label FROM moods ORDER BY id")
    assert [(r["id"], r["mood"], r["level"], r["label"]) for r in rows] == [
        (1, "happy", 3, "HAPPY"),
        (2, "sad", 3, "SAD"),
    ]
    if db_url.startswith("postgresql"):
        types = await query(db_url, "SELECT typname FROM pg_type WHERE typname = 'mood_kind'")
        assert types == [{"typname": "mood_kind"}]
        bad = "INSERT INTO moods (mood) VALUES ('angry')"
    else:
        bad = "INSERT INTO moods (mood, level) VALUES ('sad', 0)"
    with pytest.raises(Exception):  # noqa: B017 - enum or check violation, backend-specific
        await query(db_url, bad)
    ormkit_cli(migrations, "down", url=db_url)
    ormkit_cli(migrations, "up", url=db_url)
