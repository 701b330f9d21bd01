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


class _Opaque:
    pass


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([{1, 2}], r"JSON cannot store a value of type set at \[0\] \(use a list\)"),
        ([{"a": [frozenset()]}], r"type frozenset at \[0\]\['a'\]\[0\]"),
        ([_Opaque()], r"JSON cannot store a value of type _Opaque at \[0\]"),
        ([float("nan")], "JSON cannot store nan"),
        ([{"a": float("inf")}], r"JSON cannot store inf at \[0\]\['a'\]"),
        ([b"raw"], "JSON cannot store bytes"),
        ([{"a": bytearray(b"x")}], "JSON cannot store bytes"),
        ([{1: "x"}], r"JSON object keys must be str, got int key 1 at \[0\] \(JSON would"),
        ([{(1, 2): "x"}], r"keys must be str, got tuple key \(1, 2\)"),
        ([{"a": {None: 1}}], "keys must be str, got NoneType key None at"),
        # in a list (not inside a dict) the engine encodes the value: no timedelta, no
        # non-finite Decimal, no integer beyond 64 bits
        ([timedelta(seconds=1)], r"a timedelta at \[0\] cannot be stored in a JSON list"),
        ([[Decimal("NaN")]], r"JSON cannot store Decimal\('NaN'\) at \[0\]\[0\]"),
        ([2**64], "does not fit in 64 bits"),
    ],
)
def test_json_values_json_cannot_store(value: Any, message: str) -> None:
    """A JSON value that could not be encoded (or read back as it was) is a
    ValidationError naming the model, the field and where in the document it is."""
    with pytest.raises(ValidationError, match=message) as info:
        validate(everything(doc=value))
    assert (info.value.model, info.value.field) == ("Everything", "doc")
    with pytest.raises(ValidationError, match=message):
        validate_values(type(everything()), {"doc": value})


def test_json_values_that_are_stored() -> None:
    """What ``ormkit._json`` encodes passes: strings for dates, decimals, UUIDs, an
    enum's value, and inside a dict a timedelta (seconds) and any integer."""
    validate(everything(doc=[]))
    validate(everything(doc=[1, 2.5, "x", True, None, (1, 2), [[[]]], {"a": {"b": [1]}}]))
    validate(everything(doc=[datetime(2024, 1, 1), date(2024, 1, 1), time(1), Decimal("1.5")]))
    validate(everything(doc=[uuid.uuid4(), Status.ACTIVE, Decimal("1e400"), 2**63 - 1]))
    validate(everything(doc=[{"span": timedelta(seconds=1), "big": 2**70, "n": Decimal("NaN")}]))


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
