"""Column expressions compile to the same SQL as the equivalent lookups."""

from __future__ import annotations

from typing import Any

import pytest
from sample_models import Order, Post, User
from unit_support import compile_both_ways

from ormkit.sql import Q, and_, func, not_, or_, select
from ormkit.sql.expressions import ColumnExpr, escape_like

Compile = Any


def where(dialect: str, *conds: Any) -> tuple[str, list[Any]]:
    sql, params = compile_both_ways(select(User.id).where(*conds), dialect)
    return sql.removeprefix("SELECT id FROM users WHERE "), params


@pytest.mark.parametrize(
    ("expr", "pg", "lite", "params"),
    [
        (User.age == 18, "age = $1", "age = ?", [18]),
        (User.age != 18, "age <> $1", "age <> ?", [18]),
        (User.age < 18, "age < $1", "age < ?", [18]),
        (User.age <= 18, "age <= $1", "age <= ?", [18]),
        (User.age > 18, "age > $1", "age > ?", [18]),
        (User.age >= 18, "age >= $1", "age >= ?", [18]),
        (User.age == None, "age IS NULL", "age IS NULL", []),  # noqa: E711
        (User.age != None, "age IS NOT NULL", "age IS NOT NULL", []),  # noqa: E711
        (User.age.is_(None), "age IS NULL", "age IS NULL", []),
        (User.age.is_not(None), "age IS NOT NULL", "age IS NOT NULL", []),
        (User.age.is_(True), "age IS TRUE", "age IS TRUE", []),
        (User.age.is_not(False), "age IS NOT FALSE", "age IS NOT FALSE", []),
        (User.name.like("A%"), "name LIKE $1", "name LIKE ?", ["A%"]),
        (User.name.not_like("A%"), "name NOT LIKE $1", "name NOT LIKE ?", ["A%"]),
        (User.name.ilike("a%"), "name ILIKE $1", "lower(name) LIKE lower(?)", ["a%"]),
        (
            User.name.contains("50%_off"),
            "name LIKE $1 ESCAPE '\\'",
            "name LIKE ? ESCAPE '\\'",
            ["%50\\%\\_off%"],
        ),
        (
            User.name.icontains("a\\b"),
            "name ILIKE $1 ESCAPE '\\'",
            "lower(name) LIKE lower(?) ESCAPE '\\'",
            ["%a\\\\b%"],
        ),
        (
            User.name.startswith("A_"),
            "name LIKE $1 ESCAPE '\\'",
            "name LIKE ? ESCAPE '\\'",
            ["A\\_%"],
        ),
        (User.name.endswith("%"), "name LIKE $1 ESCAPE '\\'", "name LIKE ? ESCAPE '\\'", ["%\\%"]),
        (
            User.name.istartswith("a"),
            "name ILIKE $1 ESCAPE '\\'",
            "lower(name) LIKE lower(?) ESCAPE '\\'",
            ["a%"],
        ),
        (
            User.name.iendswith("z"),
            "name ILIKE $1 ESCAPE '\\'",
            "lower(name) LIKE lower(?) ESCAPE '\\'",
            ["%z"],
        ),
        (
            User.name.iexact("ann"),
            "name ILIKE $1 ESCAPE '\\'",
            "lower(name) LIKE lower(?) ESCAPE '\\'",
            ["ann"],
        ),
        (User.id.in_([1, 2, 3]), "id IN ($1, $2, $3)", "id IN (?, ?, ?)", [1, 2, 3]),
        (User.id.not_in((1, 2)), "id NOT IN ($1, $2)", "id NOT IN (?, ?)", [1, 2]),
        (User.id.in_([]), "1 = 0", "1 = 0", []),
        (User.id.not_in([]), "1 = 1", "1 = 1", []),
        (User.age.in_([1, None]), "age IN ($1) OR age IS NULL", "age IN (?) OR age IS NULL", [1]),
        (
            User.age.not_in([1, None]),
            "age NOT IN ($1) AND age IS NOT NULL",
            "age NOT IN (?) AND age IS NOT NULL",
            [1],
        ),
        (User.age.in_([None]), "age IS NULL", "age IS NULL", []),
        (User.age.between(1, 9), "age BETWEEN $1 AND $2", "age BETWEEN ? AND ?", [1, 9]),
        (User.age.isnull(), "age IS NULL", "age IS NULL", []),
        (User.age.isnull(False), "age IS NOT NULL", "age IS NOT NULL", []),
        (User.age == User.id, "age = id", "age = id", []),
        (User.age + 1 > 5, "(age + $1) > $2", "(age + ?) > ?", [1, 5]),
    ],
)
def test_operators(expr: Any, pg: str, lite: str, params: list[Any]) -> None:
    assert where("postgresql", expr) == (pg, params)
    assert where("sqlite", expr) == (lite.replace("$1", "?").replace("$2", "?"), params)


def test_arithmetic_nesting() -> None:
    assert where("postgresql", 2 * User.age - 1 == 3) == ("(($1 * age) - $2) = $3", [2, 1, 3])
    assert where("sqlite", User.age / 2 >= 1) == ("(age / ?) >= ?", [2, 1])


def test_boolean_combinations() -> None:
    a, b, c = User.age > 1, User.name == "x", User.id < 5
    assert where("postgresql", a & b) == ("age > $1 AND name = $2", [1, "x"])
    assert where("postgresql", a | b) == ("age > $1 OR name = $2", [1, "x"])
    assert where("postgresql", ~a) == ("NOT (age > $1)", [1])
    assert where("postgresql", (a | b) & c) == ("(age > $1 OR name = $2) AND id < $3", [1, "x", 5])
    assert where("postgresql", a | (b & c)) == ("age > $1 OR (name = $2 AND id < $3)", [1, "x", 5])
    assert where("postgresql", and_(a, b, c)) == (
        "age > $1 AND name = $2 AND id < $3",
        [1, "x", 5],
    )
    assert where("postgresql", or_(a, or_(b, c))) == (
        "age > $1 OR name = $2 OR id < $3",
        [1, "x", 5],
    )
    assert where("postgresql", not_(not_(a))) == ("age > $1", [1])
    assert where("sqlite", and_()) == ("1 = 1", [])
    assert where("sqlite", or_()) == ("1 = 0", [])
    assert where("postgresql", a, b) == ("age > $1 AND name = $2", [1, "x"])
    assert where("postgresql", a & Q(name="x")) == ("age > $1 AND name = $2", [1, "x"])
    assert where("postgresql", Q(name="x") | a) == ("name = $1 OR age > $2", ["x", 1])


def test_expressions_and_lookups_agree() -> None:
    pairs = [
        (User.name.startswith("A%"), Q(name__startswith="A%")),
        (User.name.icontains("x"), Q(name__icontains="x")),
        (User.id.in_([1, 2]), Q(id__in=[1, 2])),
        (User.age.between(1, 2), Q(age__between=(1, 2))),
        (User.age.is_(None), Q(age__isnull=True)),
        (User.age != 3, Q(age__ne=3)),
        (User.age >= 3, Q(age__gte=3)),
    ]
    for expr, q in pairs:
        for dialect in ("postgresql", "sqlite"):
            assert where(dialect, expr) == where(dialect, q)


def test_expression_misuse() -> None:
    with pytest.raises(TypeError, match="truth value"):
        bool(User.age > 3)
    with pytest.raises(TypeError, match="truth value"):
        _ = (User.age > 3) and (User.id < 2)
    assert User.id in [User.name, User.id]  # identity comparison of columns
    assert User.id not in [User.name]
    with pytest.raises(TypeError, match="list of values"):
        User.id.in_("abc")
    with pytest.raises(TypeError, match="needs a str"):
        User.name.startswith(3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="True, False or None"):
        User.age.is_(1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="SQL conditions"):
        select(User).where(True)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        and_(True)  # type: ignore[arg-type]


def test_escape_like() -> None:
    assert escape_like("a%b_c\\d") == "a\\%b\\_c\\\\d"


def test_functions_labels_and_order() -> None:
    stmt = select(func.count(), func.max(User.age).label("oldest")).select_from(User)
    assert stmt.to_sql("postgresql") == (
        "SELECT count(*) AS count, max(age) AS oldest FROM users",
        [],
    )
    assert stmt.result_columns == ["count", "oldest"]
    assert select(func.lower(User.name)).to_sql("sqlite") == (
        "SELECT lower(name) AS lower FROM users",
        [],
    )
    with pytest.raises(AttributeError):
        func.__getattr__("drop table")
    order = select(User.id).order_by(User.name.desc().nulls_last(), User.age.asc())
    assert order.to_sql("postgresql")[0].endswith("ORDER BY name DESC NULLS LAST, age")


def test_json_item_access() -> None:
    expr: ColumnExpr[Any] = User.meta["plan"]["tier"].astext == "pro"
    assert where("postgresql", expr) == ("(meta -> $1 ->> $2) = $3", ["plan", "tier", "pro"])
    assert where("sqlite", expr) == ("json_extract(meta, ?) = ?", ['$."plan"."tier"', "pro"])
    assert where("postgresql", User.meta["tags"][0].astext == "a") == (
        "(meta -> $1 ->> $2::integer) = $3",
        ["tags", 0, "a"],
    )
    assert where("sqlite", User.meta["tags"][0] == "a") == (
        "json_extract(meta, ?) = ?",
        ['$."tags"[0]', "a"],
    )


def test_reserved_and_mixed_case_columns() -> None:
    stmt = select(Order).where(Order.user == "u", Order.group.is_(None), Order.select_ > 1)
    assert stmt.to_sql("postgresql") == (
        'SELECT id, "user", "group", "DisplayName" AS display_name, "select" AS select_ '
        'FROM "order" WHERE "user" = $1 AND "group" IS NULL AND "select" > $2',
        ["u", 1],
    )
    assert select(Order.display_name).order_by("-display_name").to_sql("sqlite") == (
        'SELECT "DisplayName" AS display_name FROM "order" ORDER BY "DisplayName" DESC',
        [],
    )


def test_columns_of_other_models_need_a_join() -> None:
    with pytest.raises(ValueError, match="Post is not part of this statement"):
        select(User).where(Post.title == "x").to_sql("postgresql")


def test_row_values_compare_composite_keys() -> None:
    from ormkit.sql.expressions import tuple_

    row = tuple_(User.id, User.name)
    assert where("postgresql", row.in_([(1, "a"), (2, "b")])) == (
        "(id, name) IN (($1, $2), ($3, $4))",
        [1, "a", 2, "b"],
    )
    assert where("sqlite", row.in_([(1, "a")])) == ("(id, name) IN ((?, ?))", [1, "a"])
    assert where("sqlite", row.in_([])) == ("1 = 0", [])
    inner = select(User.id, User.name).where(User.age > 3).limit(2)
    assert where("postgresql", row.in_(inner)) == (
        "(id, name) IN (SELECT id, name FROM users WHERE age > $1 LIMIT $2)",
        [3, 2],
    )
    with pytest.raises(ValueError, match="tuples of 2 values"):
        row.in_([(1,)])
    with pytest.raises(TypeError, match="list of tuples"):
        row.in_("ab")
    with pytest.raises(ValueError, match="at least one"):
        tuple_()


@pytest.mark.parametrize(
    "expr", [User.email, User.age + 1, User.meta["plan"], func.lower(User.name)], ids=repr
)
def test_expressions_are_not_iterable(expr: Any) -> None:
    # __getitem__ (JSON paths) would otherwise make list()/in step through 0, 1, 2, ...
    # forever; they must fail at once, and the value checks must not take an
    # expression for a collection.
    from collections.abc import Iterable

    assert not isinstance(expr, Iterable)
    with pytest.raises(TypeError, match="not iterable"):
        iter(expr)  # (before the fix an iterator over 0, 1, 2, ... without end)
    with pytest.raises(TypeError, match="not iterable"):
        list(expr)
    with pytest.raises(TypeError, match=r"no container.*in_"):
        _ = "a" in expr
    with pytest.raises(TypeError, match="in_"):
        User.id.in_(expr)
