"""select / insert / update / delete compile to the expected SQL and parameters."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sample_models import Category, Everything, Order, Post, PostTag, Priority, Status, User

from ormkit.sql import (
    Q,
    cache_info,
    clear_cache,
    delete,
    func,
    insert,
    pk_condition,
    select,
    update,
)

Compile = Any
USER_COLS = "id, name, email, age, meta"


def test_select_model(pg: Compile, lite: Compile) -> None:
    assert pg(select(User)) == (f"SELECT {USER_COLS} FROM users", [])
    stmt = select(User).where(User.age >= 18).order_by("-name", "id").limit(10).offset(20)
    assert pg(stmt) == (
        f"SELECT {USER_COLS} FROM users WHERE age >= $1 ORDER BY name DESC, id LIMIT $2 OFFSET $3",
        [18, 10, 20],
    )
    assert lite(stmt) == (
        f"SELECT {USER_COLS} FROM users WHERE age >= ? ORDER BY name DESC, id LIMIT ? OFFSET ?",
        [18, 10, 20],
    )


def test_offset_without_limit(pg: Compile, lite: Compile) -> None:
    assert pg(select(User.id).offset(5)) == ("SELECT id FROM users OFFSET $1", [5])
    assert lite(select(User.id).offset(5)) == ("SELECT id FROM users LIMIT -1 OFFSET ?", [5])


def test_select_builders_are_generative() -> None:
    base = select(User)
    filtered = base.filter_by(name="a")
    assert base.to_sql("sqlite") == (f"SELECT {USER_COLS} FROM users", [])
    assert filtered.to_sql("sqlite")[1] == ["a"]


def test_distinct_group_by_having(pg: Compile) -> None:
    stmt = (
        select(Post.author_id, func.count(Post.id).label("n"))
        .group_by("author_id")
        .having(func.count(Post.id) > 2)
        .order_by(Post.author_id)
    )
    assert pg(stmt) == (
        "SELECT author_id, count(id) AS n FROM posts GROUP BY author_id "
        "HAVING count(id) > $1 ORDER BY author_id",
        [2],
    )
    assert stmt.result_columns == ["author_id", "n"]
    assert pg(select(User.name).distinct()) == ("SELECT DISTINCT name FROM users", [])
    assert pg(select(User.id).group_by(User.name).having(name__startswith="a")) == (
        "SELECT id FROM users GROUP BY name HAVING name LIKE $1 ESCAPE '\\'",
        ["a%"],
    )


def test_order_by_rejects_anything_but_columns() -> None:
    for bad in ["name; DROP TABLE users", "name DESC", "--name", "nmae", "-", "author__name", ""]:
        with pytest.raises(ValueError, match="order_by"):
            select(User).order_by(bad)
    with pytest.raises(TypeError):
        select(User).order_by(3)
    with pytest.raises(ValueError, match="group_by"):
        select(User).group_by("name, 1")


def test_limit_validation() -> None:
    with pytest.raises(TypeError):
        select(User).limit("10")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        select(User).limit(True)
    with pytest.raises(ValueError):
        select(User).offset(-1)


def test_for_update(pg: Compile, lite: Compile) -> None:
    stmt = select(User.id).filter(id=1).for_update(skip_locked=True)
    assert pg(stmt) == ("SELECT id FROM users WHERE id = $1 FOR UPDATE SKIP LOCKED", [1])
    assert lite(stmt) == ("SELECT id FROM users WHERE id = ?", [1])
    assert pg(select(User.id).for_update(nowait=True))[0].endswith("FOR UPDATE NOWAIT")


def test_count_and_exists(pg: Compile, lite: Compile) -> None:
    stmt = select(User).filter(age__gt=3).order_by("name")
    assert pg(stmt.count()) == ("SELECT count(*) AS count FROM users WHERE age > $1", [3])
    assert pg(stmt.limit(5).count()) == (
        f"SELECT count(*) AS count FROM (SELECT {USER_COLS} FROM users WHERE age > $1 "
        "LIMIT $2) AS subquery",
        [3, 5],
    )
    assert pg(select(User).filter(posts__title="x").count()) == (
        "SELECT count(*) AS count FROM (SELECT DISTINCT users.id, users.name, users.email, "
        "users.age, users.meta FROM users LEFT OUTER JOIN posts ON posts.author_id = users.id "
        "WHERE posts.title = $1) AS subquery",
        ["x"],
    )
    assert lite(stmt.exists()) == (
        'SELECT EXISTS (SELECT 1 FROM users WHERE age > ?) AS "exists"',
        [3],
    )
    assert stmt.count().result_columns == ["count"]
    assert stmt.exists().result_columns == ["exists"]


def test_aggregates_with_only_columns(pg: Compile) -> None:
    stmt = select(User).filter(age__gt=1).with_only_columns(func.sum(User.age))
    assert pg(stmt) == ("SELECT sum(age) AS sum FROM users WHERE age > $1", [1])
    assert pg(select(func.count()).select_from(Post).filter(title="x")) == (
        "SELECT count(*) AS count FROM posts WHERE title = $1",
        ["x"],
    )


def test_explicit_joins(pg: Compile) -> None:
    stmt = select(Post).join("author").where(User.name == "Ann").order_by("-id")
    assert pg(stmt) == (
        "SELECT posts.id, posts.created_at, posts.updated_at, posts.title, posts.author_id, "
        "posts.version FROM posts INNER JOIN users AS author ON author.id = posts.author_id "
        "WHERE author.name = $1 ORDER BY posts.id DESC",
        ["Ann"],
    )
    outer = select(Post.id).outerjoin(Post.author).filter(author__name="x")
    assert pg(outer)[0] == (
        "SELECT posts.id FROM posts LEFT OUTER JOIN users AS author ON "
        "author.id = posts.author_id WHERE author.name = $1"
    )
    both = select(Post.id, User.name).join("author")
    assert pg(both)[0] == (
        "SELECT posts.id, author.name FROM posts INNER JOIN users AS author "
        "ON author.id = posts.author_id"
    )
    with pytest.raises(ValueError, match="unknown relationship"):
        select(Post).join("writer")


def test_select_two_models_prefixes_joined_columns(pg: Compile) -> None:
    stmt = select(Post, User).join("author")
    sql, _ = pg(stmt)
    assert "author.name AS author__name" in sql
    assert stmt.result_columns[-5:] == [
        "author__id",
        "author__name",
        "author__email",
        "author__age",
        "author__meta",
    ]


def test_result_converters() -> None:
    stmt = select(Everything.id, Everything.status, Everything.i)
    assert stmt.result_converters("sqlite") == ("uuid", Status, None)
    assert stmt.result_converters("postgresql") == (None, Status, None)
    assert select(User.id).result_converters("sqlite") is None
    assert select(Everything.priority).result_converters("postgresql") == (Priority,)
    # a label or min()/max() keeps the column's type; count() is an int, exists() a bool
    typed = select(Everything.b.label("flag"), func.max(Everything.day), func.count())
    assert typed.result_converters("sqlite") == ("bool", "date", None)
    assert typed.result_converters("postgresql") is None
    assert select(Everything).exists().result_converters("sqlite") == ("bool",)
    assert select(Everything).exists().result_converters("postgresql") is None
    assert select(Everything).count().result_converters("sqlite") is None


def test_insert(pg: Compile, lite: Compile) -> None:
    # ``meta`` has ``default=dict``: a row that leaves it out gets it, as User() would
    stmt = insert(User).values(email="a@x", name="Ann").returning("id")
    assert pg(stmt) == (
        "INSERT INTO users (name, email, meta) VALUES ($1, $2, $3) RETURNING id",
        ["Ann", "a@x", {}],
    )
    assert lite(stmt) == (
        "INSERT INTO users (name, email, meta) VALUES (?, ?, ?) RETURNING id",
        ["Ann", "a@x", {}],
    )
    assert pg(insert(User).values()) == ("INSERT INTO users DEFAULT VALUES", [])
    two = insert(User).values({"name": "a"}, {"name": "b", "meta": {"k": 1}}).returning(User)
    assert pg(two) == (
        f"INSERT INTO users (name, meta) VALUES ($1, $2), ($3, $4) RETURNING {USER_COLS}",
        ["a", {}, "b", {"k": 1}],
    )
    multi = insert(User).values([{"name": "a", "email": "x"}, {"name": "b", "email": "y"}])
    assert lite(multi) == (
        "INSERT INTO users (name, email, meta) VALUES (?, ?, ?), (?, ?, ?)",
        ["a", "x", {}, "b", "y", {}],
    )


def test_insert_defaults_are_fresh_and_left_out_of_upserts(pg: Compile) -> None:
    first, second = (insert(User).values(name="a") for _ in range(2))
    meta_1, meta_2 = pg(first)[1][1], pg(second)[1][1]
    assert meta_1 == meta_2 == {} and meta_1 is not meta_2  # default=dict called per row
    upsert = insert(User).values(name="a", email="x").on_conflict_do_update(["email"])
    assert pg(upsert)[0] == (
        "INSERT INTO users (name, email, meta) VALUES ($1, $2, $3) "
        "ON CONFLICT (email) DO UPDATE SET name = excluded.name"
    )
    given = insert(User).values(name="a", email="x", meta={"k": 1}).on_conflict_do_update("email")
    assert pg(given)[0].endswith("DO UPDATE SET name = excluded.name, meta = excluded.meta")
    mixed = insert(User).values([{"email": "x", "meta": {}}, {"email": "y"}])
    assert pg(mixed.on_conflict_do_update("email"))[0].endswith(
        "DO UPDATE SET email = excluded.email"  # meta came from a default in one row
    )


def test_insert_instances_and_names(pg: Compile) -> None:
    user = User(name="Ann", email="a@x")
    assert pg(insert(User).values(user).returning(User.id)) == (
        "INSERT INTO users (name, email, age, meta) VALUES ($1, $2, $3, $4) RETURNING id",
        ["Ann", "a@x", None, {}],
    )
    order = Order(user="u", display_name="D")
    assert pg(insert(Order).values(order).returning(Order)) == (
        'INSERT INTO "order" ("user", "group", "DisplayName", "select") VALUES ($1, $2, $3, $4) '
        'RETURNING id, "user", "group", "DisplayName" AS display_name, "select" AS select_',
        ["u", None, "D", 0],
    )


def test_values_reject_unknown_columns() -> None:
    for bad in ["name; DROP TABLE users", "nmae", "name)", "posts"]:
        with pytest.raises(ValueError, match="unknown column"):
            insert(User).values({bad: 1})
        with pytest.raises(ValueError, match="unknown column"):
            update(User).values({bad: 1})
    with pytest.raises(ValueError, match="returning"):
        insert(User).returning("password")
    with pytest.raises(TypeError):
        insert(User).values(3)
    with pytest.raises(ValueError, match="same columns"):
        insert(User).values([{"name": "a"}, {"email": "b"}]).to_sql("sqlite")


def test_upsert(pg: Compile, lite: Compile) -> None:
    rows = [{"name": "a", "email": "x", "meta": {}}, {"name": "b", "email": "y", "meta": {}}]
    stmt = insert(User).values(rows).on_conflict_do_update(["email"]).returning(User.id)
    expected = (
        "INSERT INTO users (name, email, meta) VALUES ($1, $2, $3), ($4, $5, $6) "
        "ON CONFLICT (email) DO UPDATE SET name = excluded.name, meta = excluded.meta "
        "RETURNING id"
    )
    assert pg(stmt) == (expected, ["a", "x", {}, "b", "y", {}])
    assert lite(stmt)[0] == re.sub(r"\$\d", "?", expected)
    only = insert(User).values(name="a", email="x", age=3).on_conflict_do_update("email", ["age"])
    assert pg(only)[0].endswith("ON CONFLICT (email) DO UPDATE SET age = excluded.age")
    nothing_left = insert(User).values(email="x").on_conflict_do_update(["email"]).returning("id")
    assert pg(nothing_left)[0] == (
        "INSERT INTO users (email, meta) VALUES ($1, $2) ON CONFLICT (email) "
        "DO UPDATE SET email = excluded.email RETURNING id"
    )
    ignore = insert(PostTag).values(post_id=1, tag_id=2).on_conflict_do_nothing()
    assert lite(ignore) == (
        "INSERT INTO post_tags (post_id, tag_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
        [1, 2],
    )
    target = (
        insert(PostTag).values(post_id=1, tag_id=2).on_conflict_do_nothing(["post_id", "tag_id"])
    )
    assert pg(target)[0].endswith("ON CONFLICT (post_id, tag_id) DO NOTHING")
    with pytest.raises(ValueError, match="unknown column"):
        insert(User).values(name="a").on_conflict_do_update(["emial"])


def test_insert_batches() -> None:
    rows = [{"name": f"n{i}", "email": f"e{i}"} for i in range(7)]
    rows.insert(3, {"name": "solo"})
    batches = insert(User).values(rows).returning("id").to_sql_batches("postgresql", max_rows=2)
    assert [n for _sql, _params, n in batches] == [2, 1, 1, 2, 2]
    assert batches[2] == (
        "INSERT INTO users (name, meta) VALUES ($1, $2) RETURNING id",
        ["solo", {}],
        1,
    )
    assert batches[0][1] == ["n0", "e0", {}, "n1", "e1", {}]
    many = [{"name": "x", "email": "y", "age": 1}] * 30000  # + meta: 4 parameters a row
    sizes = [n for *_rest, n in insert(User).values(many).to_sql_batches("sqlite")]
    assert sizes == [8191, 8191, 8191, 5427]  # 32,766 parameters at most
    sizes = [n for *_rest, n in insert(User).values(many).to_sql_batches("postgresql")]
    assert sizes == [16383, 13617]  # 65,535
    with pytest.raises(ValueError, match="to_sql_batches"):
        insert(User).values(many).to_sql("sqlite")


def test_update(pg: Compile, lite: Compile) -> None:
    stmt = update(User).values(name="Bob", age=3).where(User.id == 1).returning(User)
    assert pg(stmt) == (
        f"UPDATE users SET name = $1, age = $2 WHERE id = $3 RETURNING {USER_COLS}",
        ["Bob", 3, 1],
    )
    bump = update(Post).values({"title": "t", "version": Post.version + 1}).filter(id=5, version=2)
    assert lite(bump) == (
        "UPDATE posts SET title = ?, version = version + ? WHERE id = ? AND version = ?",
        ["t", 1, 5, 2],
    )
    assert pg(update(Order).values(user="x", display_name="y").filter(group="g")) == (
        'UPDATE "order" SET "user" = $1, "DisplayName" = $2 WHERE "group" = $3',
        ["x", "y", "g"],
    )
    with pytest.raises(ValueError, match="needs values"):
        update(User).to_sql("sqlite")


def test_update_and_delete_across_relationships(pg: Compile) -> None:
    stmt = update(Post).values(title="x").filter(author__name="Ann")
    assert pg(stmt) == (
        "UPDATE posts SET title = $1 WHERE id IN (SELECT posts.id FROM posts "
        "LEFT OUTER JOIN users AS author ON author.id = posts.author_id "
        "WHERE author.name = $2)",
        ["x", "Ann"],
    )
    stmt2 = delete(PostTag).filter(post__title="T")
    assert pg(stmt2) == (
        "DELETE FROM post_tags WHERE (post_id, tag_id) IN (SELECT post_tags.post_id, "
        "post_tags.tag_id FROM post_tags LEFT OUTER JOIN posts AS post ON "
        "post.id = post_tags.post_id WHERE post.title = $1)",
        ["T"],
    )


def test_delete(pg: Compile, lite: Compile) -> None:
    assert pg(delete(User)) == ("DELETE FROM users", [])
    stmt = delete(User).where(Q(age__lt=18) | Q(name=None)).returning("id", "name")
    assert pg(stmt) == ("DELETE FROM users WHERE age < $1 OR name IS NULL RETURNING id, name", [18])
    assert lite(delete(Category).filter(parent=None)) == (
        "DELETE FROM categories WHERE parent_id IS NULL",
        [],
    )


def test_pk_condition(pg: Compile) -> None:
    assert pg(select(User.id).where(pk_condition(User, 5))) == (
        "SELECT id FROM users WHERE id = $1",
        [5],
    )
    assert pg(select(PostTag.tag_id).where(pk_condition(PostTag, (1, 2)))) == (
        "SELECT tag_id FROM post_tags WHERE post_id = $1 AND tag_id = $2",
        [1, 2],
    )
    with pytest.raises(ValueError, match="composite"):
        pk_condition(PostTag, 1)


def test_shape_cache() -> None:
    clear_cache()
    for i in range(50):
        select(User).filter(age__gt=i, name__startswith=f"A{i}").limit(i).to_sql("postgresql")
    info = cache_info()
    assert info["misses"] == 1 and info["hits"] == 49
    sql1, _ = select(User).filter(id__in=[1, 2]).to_sql("sqlite")
    sql2, params2 = select(User).filter(id__in=[1, 2, 3]).to_sql("sqlite")
    assert sql1 != sql2 and params2 == [1, 2, 3]
    _, p = select(User).filter(age=None).to_sql("sqlite")
    sql4, p4 = select(User).filter(age=4).to_sql("sqlite")
    assert p == [] and p4 == [4] and "age = ?" in sql4


def test_abstract_and_non_models_rejected() -> None:
    with pytest.raises(TypeError):
        select(42)
    with pytest.raises(TypeError):
        insert(dict)
    with pytest.raises(ValueError, match="select_from"):
        select(func.count()).filter(name="x").to_sql("sqlite")


def test_labels_are_part_of_the_shape() -> None:
    a = select(func.count(User.id).label("a")).to_sql("sqlite")
    b = select(func.count(User.id).label("b")).to_sql("sqlite")
    assert a == ("SELECT count(id) AS a FROM users", [])
    assert b == ("SELECT count(id) AS b FROM users", [])


def test_in_subquery(pg: Compile, lite: Compile) -> None:
    authors = select(Post.author_id).filter(title__startswith="P", tags__label="x")
    stmt = select(User.id).where(User.age > 1, User.id.in_(authors)).limit(2)
    assert pg(stmt) == (
        "SELECT id FROM users WHERE age > $1 AND id IN (SELECT DISTINCT posts.author_id FROM "
        "posts LEFT OUTER JOIN post_tags AS tags_link ON tags_link.post_id = posts.id "
        "LEFT OUTER JOIN tags ON tags.id = tags_link.tag_id WHERE posts.title LIKE $2 "
        "ESCAPE '\\' AND tags.label = $3) LIMIT $4",
        [1, "P%", "x", 2],
    )
    assert lite(select(User.id).filter(id__notin=select(Post.author_id))) == (
        "SELECT id FROM users WHERE id NOT IN (SELECT author_id FROM posts)",
        [],
    )
