"""Keyword lookups: every operator, JSON paths, relationships, Q, rejected keys."""

from __future__ import annotations

from typing import Any

import pytest
from sample_models import Category, Comment, Post, Tag, User
from unit_support import compile_both_ways

from ormkit.sql import LOOKUPS, Q, select

Compile = Any


def where(dialect: str, *q: Any, **lookups: Any) -> tuple[str, list[Any]]:
    sql, params = compile_both_ways(select(User.id).filter(*q, **lookups), dialect)
    return sql.removeprefix("SELECT id FROM users WHERE "), params


PG_AND_SQLITE = [
    ({"name": "Ann"}, "name = $1", "name = ?", ["Ann"]),
    ({"name__exact": "Ann"}, "name = $1", "name = ?", ["Ann"]),
    ({"age": None}, "age IS NULL", "age IS NULL", []),
    ({"age__ne": 3}, "age <> $1", "age <> ?", [3]),
    ({"age__ne": None}, "age IS NOT NULL", "age IS NOT NULL", []),
    ({"age__gt": 3}, "age > $1", "age > ?", [3]),
    ({"age__gte": 3}, "age >= $1", "age >= ?", [3]),
    ({"age__lt": 3}, "age < $1", "age < ?", [3]),
    ({"age__lte": 3}, "age <= $1", "age <= ?", [3]),
    ({"id__in": [1, 2]}, "id IN ($1, $2)", "id IN (?, ?)", [1, 2]),
    ({"id__in": {7}}, "id IN ($1)", "id IN (?)", [7]),
    ({"id__in": []}, "1 = 0", "1 = 0", []),
    ({"id__notin": [1]}, "id NOT IN ($1)", "id NOT IN (?)", [1]),
    ({"id__notin": []}, "1 = 1", "1 = 1", []),
    ({"name__like": "A%"}, "name LIKE $1", "name LIKE ?", ["A%"]),
    ({"name__ilike": "a%"}, "name ILIKE $1", "lower(name) LIKE lower(?)", ["a%"]),
    ({"name__contains": "a%"}, "name LIKE $1 ESCAPE '\\'", "name LIKE ? ESCAPE '\\'", ["%a\\%%"]),
    (
        {"name__icontains": "_"},
        "name ILIKE $1 ESCAPE '\\'",
        "lower(name) LIKE lower(?) ESCAPE '\\'",
        ["%\\_%"],
    ),
    ({"name__startswith": "a"}, "name LIKE $1 ESCAPE '\\'", "name LIKE ? ESCAPE '\\'", ["a%"]),
    ({"name__endswith": "a"}, "name LIKE $1 ESCAPE '\\'", "name LIKE ? ESCAPE '\\'", ["%a"]),
    ({"age__isnull": True}, "age IS NULL", "age IS NULL", []),
    ({"age__isnull": False}, "age IS NOT NULL", "age IS NOT NULL", []),
    ({"age__between": (1, 5)}, "age BETWEEN $1 AND $2", "age BETWEEN ? AND ?", [1, 5]),
    ({"age__gt": 1, "name": "x"}, "age > $1 AND name = $2", "age > ? AND name = ?", [1, "x"]),
]


@pytest.mark.parametrize(("lookups", "pg_sql", "lite_sql", "params"), PG_AND_SQLITE)
def test_lookup(lookups: dict[str, Any], pg_sql: str, lite_sql: str, params: list[Any]) -> None:
    assert where("postgresql", **lookups) == (pg_sql, params)
    assert where("sqlite", **lookups) == (lite_sql, params)


def test_registry_is_complete() -> None:
    expected = {
        "exact",
        "ne",
        "gt",
        "gte",
        "lt",
        "lte",
        "in",
        "notin",
        "like",
        "ilike",
        "contains",
        "icontains",
        "startswith",
        "endswith",
        "isnull",
        "between",
    }
    assert expected <= set(LOOKUPS)


JSON_CASES = [
    (
        {"meta__plan": "pro"},
        "(meta ->> $1) = $2",
        ["plan", "pro"],
        "json_extract(meta, ?) = ?",
        ['$."plan"', "pro"],
    ),
    (
        {"meta__settings__theme": "dark"},
        "(meta -> $1 ->> $2) = $3",
        ["settings", "theme", "dark"],
        "json_extract(meta, ?) = ?",
        ['$."settings"."theme"', "dark"],
    ),
    (
        {"meta__count": 5},
        "(meta -> $1) = CAST($2 AS TEXT)::jsonb",
        ["count", "5"],
        "json_extract(meta, ?) = ?",
        ['$."count"', 5],
    ),
    (
        {"meta__active": True},
        "(meta -> $1) = CAST($2 AS TEXT)::jsonb",
        ["active", "true"],
        "json_extract(meta, ?) = ?",
        ['$."active"', 1],
    ),
    (
        {"meta__opts": {"a": [1]}},
        "(meta -> $1) = CAST($2 AS TEXT)::jsonb",
        ["opts", '{"a":[1]}'],
        "json_extract(meta, ?) = json(?)",
        ['$."opts"', '{"a":[1]}'],
    ),
    (
        {"meta__plan": None},
        "(meta ->> $1) IS NULL",
        ["plan"],
        "json_extract(meta, ?) IS NULL",
        ['$."plan"'],
    ),
    (
        {"meta__plan__ne": "free"},
        "(meta ->> $1) <> $2",
        ["plan", "free"],
        "json_extract(meta, ?) <> ?",
        ['$."plan"', "free"],
    ),
    (
        {"meta__score__gte": 10},
        "CAST((meta ->> $1) AS NUMERIC) >= $2",
        ["score", 10],
        "json_extract(meta, ?) >= ?",
        ['$."score"', 10],
    ),
    (
        {"meta__score__between": (1, 2)},
        "CAST((meta ->> $1) AS NUMERIC) BETWEEN $2 AND $3",
        ["score", 1, 2],
        "json_extract(meta, ?) BETWEEN ? AND ?",
        ['$."score"', 1, 2],
    ),
    (
        {"meta__name__gt": "m"},
        "(meta ->> $1) > $2",
        ["name", "m"],
        "json_extract(meta, ?) > ?",
        ['$."name"', "m"],
    ),
    (
        {"meta__plan__in": ["a", "b"]},
        "(meta ->> $1) IN ($2, $3)",
        ["plan", "a", "b"],
        "json_extract(meta, ?) IN (?, ?)",
        ['$."plan"', "a", "b"],
    ),
    (
        {"meta__n__in": [1, 2]},
        "(meta -> $1) IN (CAST($2 AS TEXT)::jsonb, CAST($3 AS TEXT)::jsonb)",
        ["n", "1", "2"],
        "json_extract(meta, ?) IN (?, ?)",
        ['$."n"', 1, 2],
    ),
    (
        {"meta__plan__in": []},
        "1 = 0",
        [],
        "1 = 0",
        [],
    ),
    (
        {"meta__plan__icontains": "p%"},
        "(meta ->> $1) ILIKE $2 ESCAPE '\\'",
        ["plan", "%p\\%%"],
        "lower(json_extract(meta, ?)) LIKE lower(?) ESCAPE '\\'",
        ['$."plan"', "%p\\%%"],
    ),
    (
        {"meta__plan__isnull": False},
        "(meta ->> $1) IS NOT NULL",
        ["plan"],
        "json_extract(meta, ?) IS NOT NULL",
        ['$."plan"'],
    ),
    (
        {"meta__tags__0": "x"},
        "(meta -> $1 ->> $2::integer) = $3",
        ["tags", 0, "x"],
        "json_extract(meta, ?) = ?",
        ['$."tags"[0]', "x"],
    ),
    (
        {"meta__weird key'); DROP TABLE users; --": "v"},
        "(meta ->> $1) = $2",
        ["weird key'); DROP TABLE users; --", "v"],
        "json_extract(meta, ?) = ?",
        ['$."weird key\'); DROP TABLE users; --"', "v"],
    ),
    (
        {"meta": {"a": 1}},
        "meta = CAST($1 AS TEXT)::jsonb",
        ['{"a":1}'],
        "meta = json(?)",
        ['{"a":1}'],
    ),
    (
        {"meta__isnull": True},
        "meta IS NULL",
        [],
        "meta IS NULL",
        [],
    ),
]


@pytest.mark.parametrize(("lookups", "pg_sql", "pg_params", "lite_sql", "lite_params"), JSON_CASES)
def test_json_lookups(
    lookups: dict[str, Any],
    pg_sql: str,
    pg_params: list[Any],
    lite_sql: str,
    lite_params: list[Any],
) -> None:
    assert where("postgresql", **lookups) == (pg_sql, pg_params)
    assert where("sqlite", **lookups) == (lite_sql, lite_params)


def test_json_containment() -> None:
    assert where("postgresql", meta__contains={"plan": "pro"}) == (
        "meta @> CAST($1 AS TEXT)::jsonb",
        ['{"plan":"pro"}'],
    )
    with pytest.raises(ValueError, match="not supported on sqlite"):
        where("sqlite", meta__contains={"plan": "pro"})


@pytest.mark.parametrize("dialect", ["postgresql", "sqlite"])
def test_json_keys_with_nul_are_rejected(dialect: str) -> None:
    with pytest.raises(ValueError, match="NUL"):
        where(dialect, **{"meta__a\x00b": 1})


def test_sqlite_json_keys_with_double_quotes_are_rejected() -> None:
    assert where("postgresql", **{'meta__a"b': "x"})[1] == ['a"b', "x"]
    with pytest.raises(ValueError, match="cannot hold"):
        where("sqlite", **{'meta__a"b': "x"})


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("name; DROP TABLE x", "invalid field name 'name; DROP TABLE x'"),
        ("name__gt OR 1=1", "unknown lookup operator 'gt OR 1=1'"),
        ("nmae", "unknown field 'nmae' on User"),
        ("name__foo", "unknown lookup operator 'foo'"),
        ("name__gt__lt", "is not an operator"),
        ("1=1", "invalid field name"),
        ("", "invalid lookup"),
        ("posts", "names a relationship"),
        ("posts__nope", "unknown field 'nope' on Post"),
        ("name__", "unknown lookup operator ''"),
        ("__class__", "invalid field name ''"),
    ],
)
def test_rejected_keys(key: str, message: str) -> None:
    for dialect in ("postgresql", "sqlite"):
        with pytest.raises(ValueError, match=message):
            where(dialect, **{key: 1})


def test_rejected_values() -> None:
    with pytest.raises(ValueError, match="__isnull needs True or False"):
        where("sqlite", age__isnull="yes")
    with pytest.raises(ValueError, match="pair"):
        where("sqlite", age__between=5)
    with pytest.raises(TypeError, match="list of values"):
        where("sqlite", id__in=5)


@pytest.mark.parametrize(
    ("lookups", "error", "message"),
    [
        ({"age__in": 5}, TypeError, r"'age__in' on User: __in needs a list of values.*got int 5"),
        ({"age__notin": 5}, TypeError, "'age__notin' on User: __notin needs a list of values"),
        ({"name__in": "abc"}, TypeError, r"got str 'abc' \(for one value, use name=\.\.\."),
        ({"name__in": b"ab"}, TypeError, "got bytes"),
        ({"name__in": None}, TypeError, "needs a list of values .* got None"),
        ({"meta__plan__in": 3}, TypeError, "'meta__plan__in' on User: __in needs a list"),
        ({"posts__id__in": 3}, TypeError, "'posts__id__in' on User"),
        ({"age__between": 5}, ValueError, "'age__between' on User: __between needs a .* pair"),
        ({"age__between": (1, 2, 3)}, ValueError, r"pair, got tuple \(1, 2, 3\)"),
        ({"age__between": "ab"}, ValueError, "__between needs a"),
        ({"age__isnull": 1}, ValueError, "'age__isnull' on User: __isnull needs True or False"),
        ({"profile__isnull": "yes"}, ValueError, "'profile__isnull' on User: __isnull needs"),
    ],
)
def test_values_of_the_wrong_shape_fail_when_the_lookup_is_made(
    lookups: dict[str, Any], error: type[Exception], message: str
) -> None:
    """Not when the statement is built: ``filter()``, ``exclude()``, ``having()`` and
    ``Q()`` raise at once, naming the lookup (and the model when they know it)."""
    for build in (
        lambda: select(User.id).filter(**lookups),
        lambda: select(User.id).exclude(**lookups),
        lambda: select(User.id).group_by(User.age).having(**lookups),
        lambda: select(User.id).filter_by(**lookups),
    ):
        with pytest.raises(error, match=message):
            build()
    with pytest.raises(error, match=message.replace(" on User", "")):
        Q(**lookups)


def test_in_takes_any_collection_and_reads_an_iterator_once() -> None:
    assert where("sqlite", id__in=(1, 2)) == ("id IN (?, ?)", [1, 2])
    assert where("sqlite", id__in=range(2)) == ("id IN (?, ?)", [0, 1])
    assert where("sqlite", id__in={3: "x"}.keys()) == ("id IN (?)", [3])
    stmt = select(User.id).filter(id__in=(i for i in [4, 5]))
    q = Q(id__notin=iter([6]))
    for _ in range(2):  # the same SQL each time the statement is built
        assert compile_both_ways(stmt, "sqlite") == (
            "SELECT id FROM users WHERE id IN (?, ?)",
            [4, 5],
        )
        assert where("sqlite", q) == ("id NOT IN (?)", [6])
    sub = select(Post.author_id).filter(title="x")
    assert where("postgresql", id__in=sub)[0].startswith("id IN (SELECT")


def test_q_objects() -> None:
    assert where("postgresql", Q(name="a") | Q(name="b")) == (
        "name = $1 OR name = $2",
        ["a", "b"],
    )
    assert where("postgresql", ~Q(name="a", age=3)) == (
        "NOT (name = $1 AND age = $2)",
        ["a", 3],
    )
    assert where("postgresql", (Q(name="a") | Q(age__gt=1)) & Q(id__in=[])) == (
        "(name = $1 OR age > $2) AND 1 = 0",
        ["a", 1],
    )
    assert where("sqlite", Q(Q(name="a") | Q(name="b"), age=3)) == (
        "(name = ? OR name = ?) AND age = ?",
        ["a", "b", 3],
    )
    assert where("sqlite", Q(), name="x") == ("name = ?", ["x"])  # Q(): no condition
    with pytest.raises(TypeError):
        Q("name")  # type: ignore[arg-type]


def test_many_to_one_join(pg: Compile, lite: Compile) -> None:
    stmt = select(Post.id).filter(author__name="Ann")
    join = "FROM posts LEFT OUTER JOIN users AS author ON author.id = posts.author_id"
    assert pg(stmt) == (f"SELECT posts.id {join} WHERE author.name = $1", ["Ann"])
    assert lite(stmt) == (f"SELECT posts.id {join} WHERE author.name = ?", ["Ann"])


def test_one_to_many_join_is_distinct(pg: Compile) -> None:
    stmt = select(User.id).filter(posts__title__startswith="Py")
    assert pg(stmt) == (
        "SELECT DISTINCT users.id FROM users LEFT OUTER JOIN posts ON "
        "posts.author_id = users.id WHERE posts.title LIKE $1 ESCAPE '\\'",
        ["Py%"],
    )


def test_many_to_many_join(pg: Compile) -> None:
    stmt = select(Post.id).filter(tags__label="python")
    assert pg(stmt) == (
        "SELECT DISTINCT posts.id FROM posts "
        "LEFT OUTER JOIN post_tags AS tags_link ON tags_link.post_id = posts.id "
        "LEFT OUTER JOIN tags ON tags.id = tags_link.tag_id WHERE tags.label = $1",
        ["python"],
    )


def test_nested_and_reused_joins(pg: Compile) -> None:
    stmt = select(Comment.id).filter(post__author__name="Ann", post__title="T")
    assert pg(stmt) == (
        "SELECT comments.id FROM comments "
        "LEFT OUTER JOIN posts AS post ON post.id = comments.post_id "
        "LEFT OUTER JOIN users AS post__author ON post__author.id = post.author_id "
        "WHERE post__author.name = $1 AND post.title = $2",
        ["Ann", "T"],
    )


def test_self_referential_join(pg: Compile) -> None:
    stmt = select(Category.id).filter(parent__name="root", name="leaf")
    assert pg(stmt) == (
        "SELECT categories.id FROM categories "
        "LEFT OUTER JOIN categories AS parent ON parent.id = categories.parent_id "
        "WHERE parent.name = $1 AND categories.name = $2",
        ["root", "leaf"],
    )


def test_relationship_lookups_without_join(pg: Compile) -> None:
    user = User(id=7, name="a", email="b")
    assert pg(select(Post.id).filter(author=user)) == (
        "SELECT id FROM posts WHERE author_id = $1",
        [7],
    )
    assert pg(select(Post.id).filter(author__id=7)) == (
        "SELECT id FROM posts WHERE author_id = $1",
        [7],
    )
    assert pg(select(Post.id).filter(author__id__in=[1, 2])) == (
        "SELECT id FROM posts WHERE author_id IN ($1, $2)",
        [1, 2],
    )
    assert pg(select(Category.id).filter(parent=None)) == (
        "SELECT id FROM categories WHERE parent_id IS NULL",
        [],
    )
    assert pg(select(Category.id).filter(parent__isnull=False)) == (
        "SELECT id FROM categories WHERE parent_id IS NOT NULL",
        [],
    )
    with pytest.raises(ValueError, match="no primary key value"):
        select(Post.id).filter(author=User(name="x", email="y")).to_sql("sqlite")
    with pytest.raises(ValueError, match="needs a User"):
        select(Post.id).filter(author=Tag(id=1, label="x")).to_sql("sqlite")
    with pytest.raises(ValueError, match="one_to_many relationship with an object"):
        select(User.id).filter(posts=Post(id=1)).to_sql("sqlite")


def test_exclude(pg: Compile) -> None:
    stmt = select(User.id).exclude(name="a", age__gt=3).filter(id__gt=0)
    assert pg(stmt) == (
        "SELECT id FROM users WHERE NOT (name = $1 AND age > $2) AND id > $3",
        ["a", 3, 0],
    )
