"""``:name`` parameters of SQL text become ``$N``: what is rewritten and what is not."""

from __future__ import annotations

import pytest

from ormkit.sql.textual import bind_named, named_parameters


def test_names_become_numbers_and_a_repeated_name_is_bound_once() -> None:
    sql, params = bind_named(
        "SELECT * FROM t WHERE id = :id OR parent = :id AND kind = :kind", {"kind": "a", "id": 7}
    )
    assert sql == "SELECT * FROM t WHERE id = $1 OR parent = $1 AND kind = $2"
    assert params == [7, "a"]
    assert named_parameters("SELECT :b, :a, :b") == ["b", "a"]


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT ':x'",
        "SELECT 'it''s :x'",
        'SELECT "col:x" FROM t',
        "SELECT 1 -- :x\n",
        "SELECT /* :x */ 1",
        "SELECT $$ :x $$",
        "SELECT $body$ :x $body$",
        "SELECT id::text FROM t",
        "SELECT a:b FROM t",
        "SELECT arr[1:2] FROM t",
    ],
)
def test_strings_comments_casts_and_slices_are_left_alone(sql: str) -> None:
    assert bind_named(sql, None) == (sql, [])


def test_an_escaped_colon_is_a_literal_colon() -> None:
    assert bind_named(r"SELECT 'a' || \:b", None) == ("SELECT 'a' || :b", [])


def test_missing_unused_and_positional_parameters_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="needs a value for :id"):
        bind_named("SELECT :id", {})
    with pytest.raises(ValueError, match=r"no parameter :idd; its parameters: :id"):
        bind_named("SELECT :id", {"id": 1, "idd": 2})
    with pytest.raises(TypeError, match="dict of names"):
        bind_named("SELECT :id", [1])  # type: ignore[arg-type]


def test_values_never_enter_the_text() -> None:
    evil = "1; DROP TABLE users; --"
    sql, params = bind_named("SELECT * FROM users WHERE name = :name", {"name": evil})
    assert evil not in sql and params == [evil]
