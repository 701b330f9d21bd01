"""Typed SQL values: ``cast(expr, type)``, ``literal(value)`` and ``case(...)``.

Each knows the type of its value, so a select reads it back as that Python type on both
backends (SQLite answers text or integers for dates, booleans, decimals …), and
PostgreSQL is told the type of a bound value it cannot infer (``SELECT $1`` alone has
none)."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import TYPE_CHECKING, Any

from ormkit.sql.expressions import ClauseElement, ColumnExpr, ValueType, coerce
from ormkit.sql.statements import _value_column
from ormkit.types import ColumnType, TypeMarker, resolve_column_type

if TYPE_CHECKING:
    from ormkit.sql.compiler import CompileContext

__all__ = ["Case", "TypeCast", "case", "cast", "literal"]


def _column_type(type_: Any, what: str) -> ColumnType:
    """The column type for a Python type (``int``, ``datetime``) or an ormkit type
    marker (``String``, ``String(20)``, ``Numeric(10, 2)``, ``DateTime(timezone=True)``)."""
    try:
        if isinstance(type_, TypeMarker) or (
            isinstance(type_, type) and issubclass(type_, TypeMarker)
        ):
            return resolve_column_type(Any, type_)
        if isinstance(type_, type):
            return resolve_column_type(type_)
    except TypeError as exc:
        raise TypeError(f"{what}: {exc}") from None
    raise TypeError(f"{what} needs a Python type or an ormkit type (String, ...), got {type_!r}")


class TypeCast(ColumnExpr[Any]):
    """``CAST(expr AS type)``, the type written for the dialect."""

    __slots__ = ("column_type", "operand")

    def __init__(self, operand: ClauseElement, column_type: ColumnType) -> None:
        self.operand = operand
        self.column_type = column_type

    def __repr__(self) -> str:
        return f"cast({self.operand!r}, {self.column_type.kind})"

    @property
    def value_info(self) -> ValueType:
        """The value is read back as the cast's type."""
        return ValueType(self.column_type)

    def _key(self, ctx: CompileContext) -> Hashable:
        return ("cast", self.column_type.kind, self.operand._key(ctx))

    def _sql(self, ctx: CompileContext) -> str:
        sql_type = self.column_type.sql_type(ctx.dialect.name)
        return f"CAST({self.operand._sql(ctx)} AS {sql_type})"


def cast(expr: Any, type_: Any) -> ColumnExpr[Any]:
    """``CAST(expr AS type)``: ``cast(User.age, str)``, ``cast(Order.total, Numeric(10,
    2))``. The selected value comes back as the Python type of ``type_``."""
    return TypeCast(coerce(expr), _column_type(type_, "cast()"))


def literal(value: Any, type_: Any = None) -> ColumnExpr[Any]:
    """A bound value used as an expression (``select(User.name, literal(1))``), typed
    by ``type_`` or else by the value's own type so that PostgreSQL knows it."""
    if isinstance(value, ClauseElement):
        raise TypeError(f"literal() takes a plain value, got the expression {value!r}")
    if type_ is None:
        if value is None:
            raise TypeError("literal(None) needs a type: literal(None, int)")
        type_ = type(value)
    return TypeCast(coerce(value), _column_type(type_, "literal()"))


def _result(value: Any) -> ClauseElement:
    """A THEN/ELSE result: an expression as is, a plain value typed by its Python type."""
    if isinstance(value, ClauseElement):
        return value
    return _Null() if value is None else literal(value)


class _Null(ColumnExpr[Any]):
    """``NULL`` as a CASE result."""

    __slots__ = ()

    def _key(self, ctx: CompileContext) -> Hashable:
        return "null"

    def _sql(self, ctx: CompileContext) -> str:
        return "NULL"


class Case(ColumnExpr[Any]):
    """``CASE [value] WHEN … THEN … [ELSE …] END``."""

    __slots__ = ("else_", "value", "whens")

    def __init__(
        self,
        whens: tuple[tuple[ClauseElement, ClauseElement], ...],
        value: ClauseElement | None,
        else_: ClauseElement | None,
    ) -> None:
        self.whens = whens
        self.value = value
        self.else_ = else_

    @property
    def value_info(self) -> Any:
        """Read back as the first result that has a known type."""
        for result in (*(r for _c, r in self.whens), self.else_):
            info = None if result is None else _value_column(result)
            if info is not None:
                return info
        return None

    def _key(self, ctx: CompileContext) -> Hashable:
        value = None if self.value is None else self.value._key(ctx)
        whens = tuple((c._key(ctx), r._key(ctx)) for c, r in self.whens)
        return ("case", value, whens, None if self.else_ is None else self.else_._key(ctx))

    def _sql(self, ctx: CompileContext) -> str:
        parts = ["CASE"]
        if self.value is not None:
            parts.append(self.value._operand(ctx))
        for condition, result in self.whens:
            parts.append(f"WHEN {condition._sql(ctx)} THEN {result._sql(ctx)}")
        if self.else_ is not None:
            parts.append(f"ELSE {self.else_._sql(ctx)}")
        parts.append("END")
        return " ".join(parts)


def case(
    *whens: tuple[Any, Any] | Mapping[Any, Any], value: Any = None, else_: Any = None
) -> ColumnExpr[Any]:
    """``CASE WHEN condition THEN result … ELSE else_ END``:
    ``case((User.age >= 18, "adult"), else_="minor")``. With ``value``, the WHEN items
    are values compared with it: ``case({"a": 1, "b": 2}, value=User.grade)``. Plain
    results are bound, typed by their Python type."""
    items: list[tuple[Any, Any]] = []
    for when in whens:
        if isinstance(when, Mapping):
            if value is None:
                raise TypeError("case() takes a dict of WHEN values only with value=")
            items.extend(when.items())
        elif isinstance(when, tuple) and len(when) == 2:
            items.append(when)
        else:
            raise TypeError(f"case() takes (condition, result) pairs, got {when!r}")
    if not items:
        raise ValueError("case() needs at least one WHEN")
    pairs: list[tuple[ClauseElement, ClauseElement]] = []
    for condition, result in items:
        if value is None and not isinstance(condition, ClauseElement):
            raise TypeError(
                f"case(): a WHEN condition must be an SQL expression, got {condition!r}; "
                "give value= to compare values"
            )
        pairs.append((coerce(condition), _result(result)))
    subject = None if value is None else coerce(value)
    return Case(tuple(pairs), subject, None if else_ is None else _result(else_))
