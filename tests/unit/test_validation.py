"""Validation before writes raises ValidationError naming model and field."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sample_models import Everything, Post, Priority, Status, User

from ormkit.errors import ValidationError
from ormkit.orm import validate, validate_values
from ormkit.orm.validation import validate_statement
from ormkit.sql import delete, func, insert, select, update


def everything(**overrides: Any) -> Everything:
    values: dict[str, Any] = {
        "i": 1,
        "s": "short",
        "f": 1.5,
        "b": True,
        "naive": datetime(2024, 1, 2, 3, 4, 5),
        "aware": datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
        "day": date(2024, 1, 2),
        "clock": time(1, 2, 3),
        "span": timedelta(seconds=3),
        "amount": Decimal("1.25"),
        "ident": uuid.uuid4(),
        "doc": [1, 2],
        "status": Status.ACTIVE,
    }
    values.update(overrides)
    return Everything(**values)


def test_valid_instances_pass() -> None:
    validate(everything())
    validate(User(name="Ann", email="a@x"))  # id autoincrements, meta defaults
    everything().__ormkit_validate__()


def test_missing_value() -> None:
    with pytest.raises(ValidationError, match=r"User\.name: a value is required") as info:
        validate(User(email="a@x"))
    assert info.value.model == "User" and info.value.field == "name"
    assert isinstance(info.value, ValueError)


def test_none_allowed_when_database_fills_it() -> None:
    validate(everything(b=None, note=None, created=None))  # server defaults
    validate(User(name="a", email="b", age=None))  # nullable


def test_max_length() -> None:
    with pytest.raises(ValidationError, match=r"User\.name: length 101 is over max_length 100"):
        validate(User(name="x" * 101, email="e"))
    validate(User(name="x" * 100, email="e"))


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("i", True, "expected int, got bool"),
        ("i", 1.0, "expected int, got float"),
        ("i", "1", "expected int, got str"),
        ("f", False, "expected float, got bool"),
        ("b", 1, "expected bool, got int"),
        ("s", 5, "expected str, got int"),
        ("naive", date(2024, 1, 1), "expected datetime"),
        ("naive", datetime(2024, 1, 1, tzinfo=UTC), "naive datetime is required"),
        ("aware", datetime(2024, 1, 1), "timezone-aware datetime is required"),
        ("day", datetime(2024, 1, 1), "expected date, got datetime"),
        ("clock", "01:02", "expected time"),
        ("span", 3, "expected timedelta"),
        ("amount", 1.5, "expected Decimal, got float"),
        ("ident", str(uuid.uuid4()), "expected UUID"),
        ("doc", {"a": 1}, "expected JSON list, got dict"),
        ("status", "unknown", "expected Status"),
        ("status", Priority.LOW, "expected Status"),
        ("priority", 3, "expected Priority"),
        ("raw", "text", "expected bytes"),
        ("s", "x" * 21, "over max_length 20"),
    ],
)
def test_wrong_types(field: str, value: Any, message: str) -> None:
    with pytest.raises(ValidationError, match=message) as info:
        validate(everything(**{field: value}))
    assert info.value.field == field and info.value.model == "Everything"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("f", 3),  # int is a valid float
        ("amount", 3),  # int is a valid Decimal
        ("status", "banned"),  # an enum's value
        ("priority", Priority.HIGH),
        ("raw", bytearray(b"x")),
    ],
)
def test_accepted_conversions(field: str, value: Any) -> None:
    validate(everything(**{field: value}))


def test_partial_and_update_values() -> None:
    user = User(email="x")
    validate(user, fields=["email"])
    with pytest.raises(ValidationError):
        validate(user, fields=["name"])
    with pytest.raises(ValueError, match="unknown field 'nope'"):
        validate(user, fields=["nope"])
    validate_values(Post, {"title": "ok", "version": Post.version + 1})
    with pytest.raises(ValidationError, match=r"Post\.title: a value is required"):
        validate_values(Post, {"title": None})
    with pytest.raises(ValidationError, match=r"Post\.title"):
        validate_values(Post, {"title": 3})
    with pytest.raises(ValueError, match="unknown field"):
        validate_values(Post, {"titel": "x"})


def test_statement_values() -> None:
    """``validate_statement`` checks insert rows (a column left out as for an object, a
    None given as NULL) and update values; SQL expressions and other statements pass."""
    validate_statement(insert(User).values(name="Ann", email="a@x"))  # id, meta filled
    validate_statement(insert(User).values([{"name": "a", "email": "x", "age": None}]))
    validate_statement(update(Post).values(title="ok", version=Post.version + 1))
    validate_statement(insert(User).values(name=func.lower("A"), email="a@x"))
    validate_statement(select(User))
    validate_statement(delete(User))
    for stmt, field in [
        (insert(User).values(name="Ann"), "email"),  # left out, no default
        (insert(User).values(name=None, email="a@x"), "name"),
        (insert(User).values(id=None, name="a", email="x"), "id"),  # sent as NULL
        (insert(User).values(meta=None, name="a", email="x"), "meta"),
        (
            insert(User).values({"name": "a", "email": "x"}, {"name": "b" * 101, "email": "y"}),
            "name",
        ),
        (insert(User).values(User(name="a", email="x", age="3")), "age"),
        (insert(User), "name"),  # DEFAULT VALUES
        (update(User).values(age=1.5), "age"),
        (update(Post).values(title=None), "title"),
    ]:
        with pytest.raises(ValidationError) as info:
            validate_statement(stmt)
        assert (info.value.model, info.value.field) == (stmt._model.__name__, field)
