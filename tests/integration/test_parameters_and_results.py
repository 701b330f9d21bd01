"""Parameters whose order or size cannot be what the statement means, and result
indexes out of range: clear errors, on every backend (API.md §2, "every bad input gets
a clear error")."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

import ormkit


@pytest.mark.parametrize("params", [{"a", "b"}, frozenset({"a", "b"}), {"a": 1, "b": 2}.keys()])
async def test_unordered_parameters_are_refused(any_engine: ormkit.Engine, params: Any) -> None:
    """A set has no order: bound to $1, $2 its values changed places from run to run."""
    with pytest.raises(ormkit.ProgrammingError, match="must be a list or tuple, not"):
        await any_engine.execute("SELECT CAST($1 AS TEXT), CAST($2 AS TEXT)", params)
    ordered = await any_engine.execute(
        "SELECT CAST($1 AS TEXT), CAST($2 AS TEXT)", iter(["a", "b"])
    )
    assert ordered.tuples() == [("a", "b")]


@pytest.mark.parametrize(
    "value", [Decimal("1E+999999999999999999"), Decimal("1E+131072"), Decimal("1E-16384")]
)
async def test_a_decimal_no_numeric_holds_is_a_data_error(
    any_engine: ormkit.Engine, value: Decimal
) -> None:
    """Refused before it is written out digit by digit (a bare MemoryError, or 100 MB of
    text); the limits are PostgreSQL numeric's."""
    with pytest.raises(ormkit.DataError, match="Decimal out of range"):
        await any_engine.execute("SELECT $1", [value])


async def test_result_indexes_out_of_range_are_index_errors(any_engine: ormkit.Engine) -> None:
    result = await any_engine.execute("SELECT 1 AS a, 2 AS b")
    assert result.column(-1) == [2] and result.column(-2) == [1] and result.column("a") == [1]
    for bad in (-3, 2, 2**70):
        with pytest.raises(IndexError, match="column index"):
            result.column(bad)
    assert result[-1] == {"a": 1, "b": 2}
    for index in (1, -2, 2**63, -(2**63) - 1):
        with pytest.raises(IndexError):
            result[index]
    with pytest.raises(TypeError, match="indexed by int or slice"):
        result["a"]  # type: ignore[index]


@pytest.mark.parametrize("sql", ["", "   ", "-- nothing", "/* nothing */"])
async def test_an_empty_statement(any_engine: ormkit.Engine, sql: str) -> None:
    """SQLite has no statement to prepare: a ``ProgrammingError`` saying so (it was
    "bad parameter or other API misuse"); PostgreSQL answers an empty query with no
    rows, as its protocol does."""
    if any_engine.dialect == "sqlite":
        with pytest.raises(ormkit.ProgrammingError, match="the SQL text is empty"):
            await any_engine.execute(sql)
        with pytest.raises(ormkit.ProgrammingError, match="the SQL text is empty"):
            async for _ in any_engine.stream(sql):
                pass
    else:
        result = await any_engine.execute(sql)
        assert result.all() == [] and result.columns == []
