"""SQL expression nodes: columns, bound values, operators, functions and ordering.

Every node can do two things with a compile context: give its *shape* (``_key``, a
hashable value in which every bound value is replaced by a placeholder marker, used to
cache compiled SQL) and give its SQL text (``_sql``). Both walk the node in the same
order and bind the same values, so a cached statement gets its parameters from the
shape walk alone. Values never appear in SQL text; they are bound parameters.
"""

from __future__ import annotations

import json
import re
from collections.abc import Hashable, Iterable
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Generic, NoReturn, TypeVar

from ormkit.dialects.base import CURRENT_TIME_FUNCTIONS
from ormkit.sql.textual import split_statements
from ormkit.types import ColumnType, resolve_column_type

if TYPE_CHECKING:
    from ormkit.dialects.base import Dialect, InListParam
    from ormkit.sql.compiler import CompileContext
    from ormkit.sql.statements import Select

__all__ = [
    "Between",
    "BinaryExpression",
    "BindParam",
    "BooleanClause",
    "ClauseElement",
    "Column",
    "ColumnExpr",
    "Function",
    "InList",
    "IsNull",
    "JsonExtract",
    "Label",
    "Like",
    "Not",
    "OrderBy",
    "TextClause",
    "and_",
    "asc",
    "desc",
    "escape_like",
    "func",
    "not_",
    "or_",
    "slot_names",
    "text",
    "tuple_",
]

T = TypeVar("T")

LIKE_ESCAPE = "\\"


def escape_like(value: str) -> str:
    """Escape ``\\``, ``%`` and ``_`` so ``value`` matches itself in a LIKE pattern."""
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


#: per expression class, its slot names, base classes' included (see ``slot_names``)
_SLOT_NAMES: dict[type, tuple[str, ...]] = {}


def slot_names(cls: type) -> tuple[str, ...]:
    """Every slot of an expression class, its bases' included, once each: what a walk
    over an expression's children reads (``getattr(node, name)``). Cached per class."""
    found = _SLOT_NAMES.get(cls)
    if found is None:
        names: dict[str, None] = {}
        for klass in cls.__mro__:
            slots = getattr(klass, "__slots__", ())
            for name in (slots,) if isinstance(slots, str) else slots:
                if name != "__weakref__":
                    names[name] = None
        found = _SLOT_NAMES[cls] = tuple(names)
    return found


class ClauseElement:
    """Base of every SQL node."""

    __slots__ = ()
    #: True when the node must be parenthesised as an operand of another operator.
    _compound = False

    def _key(self, ctx: CompileContext) -> Hashable:
        raise NotImplementedError

    def _sql(self, ctx: CompileContext) -> str:
        raise NotImplementedError

    def _operand(self, ctx: CompileContext) -> str:
        sql = self._sql(ctx)
        return f"({sql})" if self._compound else sql

    def _grouping(self, ctx: CompileContext) -> str | None:
        """``"AND"``/``"OR"`` for a boolean group (parenthesised inside the other one)."""
        return None

    def _is_empty(self) -> bool:
        """True for a node that holds no condition at all (an empty ``Q()``): ``and_``,
        ``or_`` and ``not_`` leave it out, as Django does when combining an empty Q."""
        return False


def coerce(value: Any) -> ClauseElement:
    """A clause element as is; any other value becomes a bound parameter."""
    if isinstance(value, ClauseElement):
        if isinstance(value, TextClause):
            raise TypeError("text() is only accepted as a server_default, not in queries")
        return value
    return BindParam(value)


class ColumnExpr(ClauseElement, Generic[T]):
    """An SQL expression with a value of type ``T``: supports operators and methods."""

    __slots__ = ()

    # Comparison operators build SQL; identity hashing keeps nodes usable in dicts.
    __hash__ = ClauseElement.__hash__

    def __bool__(self) -> bool:
        raise TypeError(
            "an SQL expression has no truth value; combine conditions with &, | and ~ "
            "(or and_/or_/not_), not with 'and', 'or' and 'not'"
        )

    def __eq__(self, other: Any) -> ColumnExpr[bool]:  # type: ignore[override]
        if other is None:
            return IsNull(self, False)
        return BinaryExpression(self, "=", coerce(other))

    def __ne__(self, other: Any) -> ColumnExpr[bool]:  # type: ignore[override]
        if other is None:
            return IsNull(self, True)
        return BinaryExpression(self, "<>", coerce(other))

    def __lt__(self, other: Any) -> ColumnExpr[bool]:
        return BinaryExpression(self, "<", coerce(other))

    def __le__(self, other: Any) -> ColumnExpr[bool]:
        return BinaryExpression(self, "<=", coerce(other))

    def __gt__(self, other: Any) -> ColumnExpr[bool]:
        return BinaryExpression(self, ">", coerce(other))

    def __ge__(self, other: Any) -> ColumnExpr[bool]:
        return BinaryExpression(self, ">=", coerce(other))

    def __add__(self, other: Any) -> ColumnExpr[T]:
        right = coerce(other)
        return BinaryExpression(self, _plus(self, right), right)

    def __radd__(self, other: Any) -> ColumnExpr[T]:
        left = coerce(other)
        return BinaryExpression(left, _plus(left, self), self)

    def __sub__(self, other: Any) -> ColumnExpr[T]:
        return BinaryExpression(self, "-", coerce(other))

    def __rsub__(self, other: Any) -> ColumnExpr[T]:
        return BinaryExpression(coerce(other), "-", self)

    def __mul__(self, other: Any) -> ColumnExpr[T]:
        return BinaryExpression(self, "*", coerce(other))

    def __rmul__(self, other: Any) -> ColumnExpr[T]:
        return BinaryExpression(coerce(other), "*", self)

    def __truediv__(self, other: Any) -> ColumnExpr[T]:
        return BinaryExpression(self, "/", coerce(other))

    def __and__(self, other: ClauseElement) -> ColumnExpr[bool]:
        return and_(self, other)

    def __rand__(self, other: ClauseElement) -> ColumnExpr[bool]:
        return and_(other, self)

    def __or__(self, other: ClauseElement) -> ColumnExpr[bool]:
        return or_(self, other)

    def __ror__(self, other: ClauseElement) -> ColumnExpr[bool]:
        return or_(other, self)

    def __invert__(self) -> ColumnExpr[bool]:
        return not_(self)

    # -- methods (the lookups registry uses the same constructors) --------------------

    def like(self, pattern: str) -> ColumnExpr[bool]:
        """``LIKE pattern`` (the pattern is used as given: ``%`` and ``_`` are wildcards)."""
        return Like(self, _pattern(pattern, "like"), ci=False, negate=False, escape=False)

    def not_like(self, pattern: str) -> ColumnExpr[bool]:
        """``NOT LIKE pattern``."""
        return Like(self, _pattern(pattern, "like"), ci=False, negate=True, escape=False)

    def ilike(self, pattern: str) -> ColumnExpr[bool]:
        """Case-insensitive LIKE (``ILIKE`` on PostgreSQL, ``lower() LIKE lower()`` on SQLite)."""
        return Like(self, _pattern(pattern, "ilike"), ci=True, negate=False, escape=False)

    def contains(self, value: Any) -> ColumnExpr[bool]:
        """Text contains ``value`` (LIKE-escaped); on a JSON column (or a JSON path not
        extracted as text) a non-str ``value`` is JSON containment. A non-str value on a
        text column raises ``TypeError``, as ``icontains`` does."""
        if not isinstance(value, str):
            if _holds_json(self):
                return JsonContains(self, value)
            _text(value, "contains")
        return Like(self, _escaped(f"%{escape_like(value)}%"), ci=False, negate=False)

    def icontains(self, value: str) -> ColumnExpr[bool]:
        """Case-insensitive :meth:`contains`."""
        return Like(self, _escaped(f"%{escape_like(_text(value, 'icontains'))}%"), ci=True)

    def startswith(self, value: str) -> ColumnExpr[bool]:
        """Text starts with ``value`` (LIKE-escaped)."""
        return Like(self, _escaped(f"{escape_like(_text(value, 'startswith'))}%"), ci=False)

    def istartswith(self, value: str) -> ColumnExpr[bool]:
        """Case-insensitive :meth:`startswith`."""
        return Like(self, _escaped(f"{escape_like(_text(value, 'istartswith'))}%"), ci=True)

    def endswith(self, value: str) -> ColumnExpr[bool]:
        """Text ends with ``value`` (LIKE-escaped)."""
        return Like(self, _escaped(f"%{escape_like(_text(value, 'endswith'))}"), ci=False)

    def iendswith(self, value: str) -> ColumnExpr[bool]:
        """Case-insensitive :meth:`endswith`."""
        return Like(self, _escaped(f"%{escape_like(_text(value, 'iendswith'))}"), ci=True)

    def iexact(self, value: str) -> ColumnExpr[bool]:
        """Case-insensitive equality (an escaped ILIKE without wildcards)."""
        return Like(self, _escaped(escape_like(_text(value, "iexact"))), ci=True)

    def in_(self, values: Iterable[Any]) -> ColumnExpr[bool]:
        """``IN (…)``; an empty list matches nothing; ``None`` in the list matches NULL.
        A list of more than 1,000 values is sent as one parameter (see :class:`InList`)."""
        return in_list(self, values, negate=False)

    def not_in(self, values: Iterable[Any]) -> ColumnExpr[bool]:
        """``NOT IN (…)``; an empty list matches everything. A list of more than 1,000
        values is sent as one parameter (see :class:`InList`)."""
        return in_list(self, values, negate=True)

    def is_(self, value: bool | None) -> ColumnExpr[bool]:
        """``IS NULL`` / ``IS TRUE`` / ``IS FALSE``."""
        if value is None:
            return IsNull(self, False)
        return IsBool(self, _bool(value), False)

    def is_not(self, value: bool | None) -> ColumnExpr[bool]:
        """``IS NOT NULL`` / ``IS NOT TRUE`` / ``IS NOT FALSE``."""
        if value is None:
            return IsNull(self, True)
        return IsBool(self, _bool(value), True)

    #: SQLAlchemy's older spellings
    isnot = is_not
    notin_ = not_in
    notlike = not_like

    def isnull(self, value: bool = True) -> ColumnExpr[bool]:
        """``IS NULL`` when ``value`` is true, else ``IS NOT NULL``."""
        return IsNull(self, not _bool(value))

    def between(self, low: Any, high: Any) -> ColumnExpr[bool]:
        """``BETWEEN low AND high`` (inclusive)."""
        return Between(self, coerce(low), coerce(high))

    def asc(self) -> OrderBy:
        """Ascending order."""
        return OrderBy(self, descending=False)

    def desc(self) -> OrderBy:
        """Descending order."""
        return OrderBy(self, descending=True)

    def label(self, name: str) -> Label:
        """``expr AS name`` in a select list."""
        return Label(self, name)

    def __getitem__(self, key: str | int) -> JsonExtract:
        """JSON path step: ``User.meta["plan"]`` (the key is a bound parameter)."""
        return JsonExtract(self, (key,), as_text=False)

    # Without this, ``__getitem__`` (JSON paths) makes every expression look like a
    # sequence: ``list(User.email)`` or ``x in User.email`` would step forever. ``None``
    # keeps ``isinstance(expr, Iterable)`` false, as the value checks expect.
    __iter__ = None

    def __contains__(self, item: object) -> NoReturn:
        raise TypeError(
            f"an SQL expression is no container ({self!r}); to test membership in SQL "
            "use .in_([...]) or a __in lookup"
        )


def _pattern(value: Any, op: str) -> BindParam:
    return _escaped(_text(value, op))


def _escaped(pattern: str) -> BindParam:
    if "\x00" in pattern:
        # SQLite's LIKE reads a pattern up to its first NUL: "a\x00junk" would match
        # "a", and "\x00" everything. PostgreSQL refuses NUL in text anyway.
        from ormkit.errors import DataError

        raise DataError("a LIKE pattern cannot contain a NUL character (\\x00)")
    return BindParam(pattern)


def _text(value: Any, op: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{op} needs a str value, got {type(value).__name__}")
    return value


def _holds_json(expr: ClauseElement) -> bool:
    """Whether ``expr`` may hold a JSON document: not a known non-JSON column nor a JSON
    path extracted as text (other expressions are left to the database)."""
    if isinstance(expr, JsonExtract):
        return not expr.as_text
    column = expr.column if isinstance(expr, AliasedColumn) else expr
    if isinstance(column, Column):
        return bool(column.info.type.is_json)
    return True


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"expected True, False or None, got {value!r}")
    return value


class Column(ColumnExpr[T]):
    """A model's column as a class attribute: ``User.name``.

    A non-data descriptor: reading ``user.name`` finds the value in the instance
    ``__dict__`` without calling into Python; ``User.name`` returns this expression.
    """

    __slots__ = ("info", "key", "model")

    def __init__(self, model: type[Any], key: str, info: Any) -> None:
        self.model = model
        self.key = key
        self.info = info

    def __get__(self, instance: object | None, owner: type | None = None) -> Any:
        if instance is None:
            return self
        raise AttributeError(
            f"{type(instance).__name__}.{self.key} has no value: the column was not "
            "loaded or set on this instance"
        )

    def __repr__(self) -> str:
        return f"{self.model.__name__}.{self.key}"

    def _key(self, ctx: CompileContext) -> Hashable:
        return ctx.column_key(self, None)

    def _sql(self, ctx: CompileContext) -> str:
        return ctx.column_sql(self, None)


class AliasedColumn(ColumnExpr[Any]):
    """A column reached through a join: compiled as ``alias.column``."""

    __slots__ = ("alias", "column")

    def __init__(self, column: Column[Any], alias: str) -> None:
        self.column = column
        self.alias = alias

    def __repr__(self) -> str:
        return f"{self.alias}.{self.column.key}"

    def _key(self, ctx: CompileContext) -> Hashable:
        return ctx.column_key(self.column, self.alias)

    def _sql(self, ctx: CompileContext) -> str:
        return ctx.column_sql(self.column, self.alias)


def _compared(expr: ClauseElement, ctx: CompileContext, sql: str) -> str:
    """``sql``, the SQL of ``expr``, as an operand of a comparison, ORDER BY or
    ``min``/``max``: a column goes through the dialect (``Dialect.compared``)."""
    column = expr.column if isinstance(expr, AliasedColumn) else expr
    if isinstance(column, Column):
        return ctx.dialect.compared(sql, column.info)
    if not isinstance(expr, BindParam) and is_decimal(expr):
        return ctx.dialect.compared(sql, DECIMAL_VALUE)  # Order.total * 2 > $1
    return sql


class BindParam(ColumnExpr[Any]):
    """A bound value: a placeholder in SQL, the value in the parameter list."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __repr__(self) -> str:
        return f"BindParam({self.value!r})"

    def _key(self, ctx: CompileContext) -> Hashable:
        ctx.bind(self.value)
        return "?"

    def _sql(self, ctx: CompileContext) -> str:
        return ctx.bind(self.value)


class JsonValue(ColumnExpr[Any]):
    """A value bound as JSON text and compared as JSON (``jsonb`` / ``json(?)``)."""

    __slots__ = ("text",)

    def __init__(self, value: Any) -> None:
        self.text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)

    def _key(self, ctx: CompileContext) -> Hashable:
        ctx.bind(self.text)
        return "json?"

    def _sql(self, ctx: CompileContext) -> str:
        return ctx.dialect.json_value(ctx.bind(self.text))


_COMPARISONS = frozenset({"=", "<>", "<", "<=", ">", ">="})
_BINARY_OPS = _COMPARISONS | {"+", "-", "*", "/", "||"}


def _plus(left: ClauseElement, right: ClauseElement) -> str:
    """``+`` of two expressions: ``||`` (concatenation, as SQLAlchemy writes for strings)
    when one side is text (a text column, a ``str`` value) and the other is text too or
    of no known type (``func.lower(...)``); else ``+``, so ``name + 1`` still fails on
    PostgreSQL rather than write text into a number. (``name + "!"`` was ``name + $1``:
    0 on SQLite, an error on PostgreSQL.)"""
    sides = (_text_side(left), _text_side(right))
    return "||" if True in sides and False not in sides else "+"


def _text_side(expr: ClauseElement) -> bool | None:
    """Whether ``expr`` is text (True), of another known type (False), or unknown."""
    if isinstance(expr, BindParam):
        return isinstance(expr.value, str)
    column = _typed_by(expr)
    return None if column is None else column.info.type.kind == "str"


class BinaryExpression(ColumnExpr[Any]):
    """``left op right`` for comparison and arithmetic operators."""

    __slots__ = ("left", "op", "right")
    _compound = True

    def __init__(self, left: ClauseElement, op: str, right: ClauseElement) -> None:
        if op not in _BINARY_OPS:
            raise ValueError(f"unknown operator {op!r}")
        self.left = left
        self.op = op
        self.right = right

    def __bool__(self) -> bool:
        # ``col in [User.id, User.name]`` compares columns with ==; answer by identity.
        if self.op == "=" and isinstance(self.left, Column) and isinstance(self.right, Column):
            return self.left is self.right
        if self.op == "<>" and isinstance(self.left, Column) and isinstance(self.right, Column):
            return self.left is not self.right
        return super().__bool__()

    def __repr__(self) -> str:
        return f"({self.left!r} {self.op} {self.right!r})"

    def _key(self, ctx: CompileContext) -> Hashable:
        return (self.op, self.left._key(ctx), self.right._key(ctx))

    def _sql(self, ctx: CompileContext) -> str:
        if self.op in _COMPARISONS:
            left = _compared(self.left, ctx, _beside(self.left, self.right, ctx))
            right = _compared(self.right, ctx, _beside(self.right, self.left, ctx))
        else:
            left, right = self.left._operand(ctx), self.right._operand(ctx)
            if self.op != "||" and (is_decimal(self.left) or is_decimal(self.right)):
                return ctx.dialect.decimal_arithmetic(self.op, left, right)
        return f"{left} {self.op} {right}"


class Constant(ColumnExpr[bool]):
    """An always-true (``1 = 1``) or always-false (``1 = 0``) condition."""

    __slots__ = ("value",)
    _compound = True

    def __init__(self, value: bool) -> None:
        self.value = value

    def _key(self, ctx: CompileContext) -> Hashable:
        return ("const", self.value)

    def _sql(self, ctx: CompileContext) -> str:
        return "1 = 1" if self.value else "1 = 0"


TRUE = Constant(True)
FALSE = Constant(False)


class BooleanClause(ColumnExpr[bool]):
    """Conditions joined by ``AND`` or ``OR``."""

    __slots__ = ("clauses", "op")
    _compound = True

    def __init__(self, op: str, clauses: tuple[ClauseElement, ...]) -> None:
        self.op = op
        self.clauses = clauses

    def __repr__(self) -> str:
        return f" {self.op} ".join(repr(c) for c in self.clauses)

    def _grouping(self, ctx: CompileContext) -> str | None:
        return self.op

    def _key(self, ctx: CompileContext) -> Hashable:
        return (self.op, tuple(c._key(ctx) for c in self.clauses))

    def _sql(self, ctx: CompileContext) -> str:
        parts = []
        for clause in self.clauses:
            sql = clause._sql(ctx)
            group = clause._grouping(ctx)
            parts.append(f"({sql})" if group is not None and group != self.op else sql)
        return f" {self.op} ".join(parts)


class Not(ColumnExpr[bool]):
    """``NOT (condition)``."""

    __slots__ = ("operand",)

    def __init__(self, operand: ClauseElement) -> None:
        self.operand = operand

    def _key(self, ctx: CompileContext) -> Hashable:
        return ("not", self.operand._key(ctx))

    def _sql(self, ctx: CompileContext) -> str:
        return f"NOT ({self.operand._sql(ctx)})"


def as_condition(value: Any) -> Any:
    """``select(...).exists()`` given where a condition goes becomes ``EXISTS (…)``, as
    SQLAlchemy 2.0 writes it (``select(User).where(select(Post.id).where(Post.author_id
    == User.id).exists())``); anything else is returned as it is, for the caller to
    check. Only called on values that are not clauses, so expressions pay nothing."""
    make = getattr(value, "_exists_condition", None)
    return make() if make is not None else value


def conditions_of(values: tuple[Any, ...], message: str) -> tuple[ClauseElement, ...]:
    """``values`` as conditions (:func:`as_condition` applied to each); one that is still
    not a clause is a ``TypeError``, ``message`` with the value put in its ``{!r}``.
    ``where()`` and ``filter()`` call it only once a value is not a clause, keeping
    their usual case a plain loop."""
    values = tuple(map(as_condition, values))
    for value in values:
        if not isinstance(value, ClauseElement):
            raise TypeError(message.format(value))
    return values


def _combine(op: str, clauses: tuple[Any, ...]) -> ColumnExpr[bool]:
    flat: list[ClauseElement] = []
    empty: ClauseElement | None = None
    for clause in clauses:
        if not isinstance(clause, ClauseElement):
            clause = as_condition(clause)
        if not isinstance(clause, ClauseElement) or isinstance(clause, TextClause):
            raise TypeError(f"{op.lower()}_() needs SQL conditions, got {clause!r}")
        if clause._is_empty():
            empty = clause  # no condition: dropped
        elif isinstance(clause, BooleanClause) and clause.op == op:
            flat.extend(clause.clauses)
        else:
            flat.append(clause)
    if not flat:
        if empty is not None:  # only empty Q()s: still no condition
            return empty  # type: ignore[return-value]
        return TRUE if op == "AND" else FALSE
    if len(flat) == 1 and isinstance(flat[0], ColumnExpr):
        return flat[0]
    return BooleanClause(op, tuple(flat))


def and_(*clauses: ClauseElement | Select) -> ColumnExpr[bool]:
    """All ``clauses`` hold (``AND``); no clauses is always true."""
    return _combine("AND", clauses)


def or_(*clauses: ClauseElement | Select) -> ColumnExpr[bool]:
    """Any of ``clauses`` holds (``OR``); no clauses is always false."""
    return _combine("OR", clauses)


def not_(clause: ClauseElement | Select) -> ColumnExpr[bool]:
    """The negation of ``clause``."""
    if not isinstance(clause, ClauseElement):
        clause = as_condition(clause)
    if not isinstance(clause, ClauseElement) or isinstance(clause, TextClause):
        raise TypeError(f"not_() needs an SQL condition, got {clause!r}")
    if clause._is_empty():
        return clause  # type: ignore[return-value]  # the negation of no condition
    if isinstance(clause, Not):
        inner = clause.operand
        if isinstance(inner, ColumnExpr):
            return inner
    return Not(clause)


class IsNull(ColumnExpr[bool]):
    """``x IS NULL`` / ``x IS NOT NULL``."""

    __slots__ = ("negate", "operand")
    _compound = True

    def __init__(self, operand: ClauseElement, negate: bool) -> None:
        self.operand = operand
        self.negate = negate

    def _key(self, ctx: CompileContext) -> Hashable:
        return ("isnull", self.negate, self.operand._key(ctx))

    def _sql(self, ctx: CompileContext) -> str:
        return f"{self.operand._operand(ctx)} IS {'NOT NULL' if self.negate else 'NULL'}"


class IsBool(ColumnExpr[bool]):
    """``x IS [NOT] TRUE`` / ``x IS [NOT] FALSE``."""

    __slots__ = ("negate", "operand", "value")
    _compound = True

    def __init__(self, operand: ClauseElement, value: bool, negate: bool) -> None:
        self.operand = operand
        self.value = value
        self.negate = negate

    def _key(self, ctx: CompileContext) -> Hashable:
        return ("isbool", self.value, self.negate, self.operand._key(ctx))

    def _sql(self, ctx: CompileContext) -> str:
        word = "TRUE" if self.value else "FALSE"
        return f"{self.operand._operand(ctx)} IS {'NOT ' if self.negate else ''}{word}"


class InList(ColumnExpr[bool]):
    """``x IN ($1, $2, …)`` / ``x NOT IN (…)`` with a non-empty list.

    A list of more values than the dialect's ``in_list_threshold`` (1,000) is sent as
    one parameter when the dialect can send those values so (``Dialect.in_list_param``):
    ``x [NOT] IN (SELECT unnest($1::BIGINT[]))`` with an array of the column's type on
    PostgreSQL, ``x [NOT] IN (SELECT value FROM json_each(?))`` on SQLite, matching the
    rows one parameter per value would. So a list of any length fits under the
    backends' parameter limits, and statements of one shape share one SQL text whatever
    the list's length. Shorter lists, and lists holding SQL expressions or values of
    other types, keep one parameter per value.
    """

    __slots__ = ("_sent", "negate", "operand", "values")
    _compound = True

    def __init__(
        self, operand: ClauseElement, values: tuple[ClauseElement, ...], negate: bool
    ) -> None:
        self.operand = operand
        self.values = values
        self.negate = negate
        #: (dialect, what it made of a long list), kept for the second compiler walk
        self._sent: tuple[Dialect, InListParam | str] | None = None

    def _one_param(self, ctx: CompileContext) -> InListParam | None:
        """The list as one parameter for ``ctx``'s dialect, or None to bind value by
        value. ``ValueError`` for a list that cannot be sent as one parameter and has
        more values than a statement can bind."""
        dialect = ctx.dialect
        if len(self.values) <= dialect.in_list_threshold:
            return None
        sent = self._sent
        if sent is None or sent[0] is not dialect:
            sent = (dialect, self._as_one_param(dialect))
            self._sent = sent
        found = sent[1]
        if not isinstance(found, str):
            return found
        if len(self.values) > dialect.max_params:
            raise ValueError(
                f"an IN list of {len(self.values)} values is more than the "
                f"{dialect.max_params} parameters a {dialect.name} statement can bind, "
                f"and cannot be sent as one parameter: it holds {found}; split the list "
                "or select the values with a subquery"
            )
        return None

    def _as_one_param(self, dialect: Dialect) -> InListParam | str:
        if type(self.operand) is BindParam:
            return "a bound value on the left (its type is unknown)"
        values: list[Any] = []
        for item in self.values:
            if type(item) is not BindParam:
                if isinstance(item, Tuple):
                    return "rows of values (a tuple_() of columns on the left)"
                return f"an SQL expression ({item!r})"
            values.append(item.value)
        operand = self.operand
        column = getattr(operand, "column", operand)  # AliasedColumn, RelatedColumn
        return dialect.in_list_param(values, column.info if isinstance(column, Column) else None)

    def _key(self, ctx: CompileContext) -> Hashable:
        sent = self._one_param(ctx)
        operand = self.operand._key(ctx)
        if sent is not None:
            ctx.bind(sent.value)
            return ("in_param", self.negate, operand, sent.form)
        return ("in", self.negate, operand, tuple(v._key(ctx) for v in self.values))

    def _sql(self, ctx: CompileContext) -> str:
        operand = _compared(self.operand, ctx, self.operand._operand(ctx))
        sent = self._one_param(ctx)
        if sent is not None:
            placeholder = ctx.bind(sent.value)
            return ctx.dialect.in_list_sql(operand, placeholder, sent.form, self.negate)
        items = ", ".join(v._operand(ctx) for v in self.values)
        return f"{operand} {'NOT IN' if self.negate else 'IN'} ({items})"


class InSubquery(ColumnExpr[bool]):
    """``x IN (SELECT …)`` / ``x NOT IN (SELECT …)``."""

    __slots__ = ("negate", "operand", "query")
    _compound = True

    def __init__(self, operand: ClauseElement, query: Any, negate: bool) -> None:
        self.operand = operand
        self.query = query
        self.negate = negate

    def _key(self, ctx: CompileContext) -> Hashable:
        from ormkit.sql.compiler import subquery_key

        operand = self.operand._key(ctx)
        return ("insub", self.negate, operand, subquery_key(ctx, self.query))

    def _sql(self, ctx: CompileContext) -> str:
        from ormkit.sql.compiler import subquery_sql

        operand = _compared(self.operand, ctx, self.operand._operand(ctx))
        inner = subquery_sql(ctx, self.query)
        return f"{operand} {'NOT IN' if self.negate else 'IN'} ({inner})"


class Tuple(ColumnExpr[Any]):
    """A row value ``(a, b, …)``, for comparing composite keys: ``tuple_(A.x, A.y).in_(
    [(1, "a"), (2, "b")])`` or ``.in_(select(...))`` (PostgreSQL and SQLite both take
    row values)."""

    __slots__ = ("items",)

    def __init__(self, items: tuple[ClauseElement, ...]) -> None:
        self.items = items

    def _key(self, ctx: CompileContext) -> Hashable:
        return ("tuple", tuple(item._key(ctx) for item in self.items))

    def _sql(self, ctx: CompileContext) -> str:
        return "(" + ", ".join(item._sql(ctx) for item in self.items) + ")"

    def in_(self, values: Iterable[Any]) -> ColumnExpr[bool]:
        """``(a, b) IN ((…), (…))`` from tuples of values (an empty list matches
        nothing), or ``(a, b) IN (SELECT …)``."""
        if hasattr(values, "_scope") and hasattr(values, "to_sql"):
            return InSubquery(self, values, False)
        if isinstance(values, str | bytes) or not isinstance(values, Iterable):
            raise TypeError(f"in_() needs a list of tuples, got {type(values).__name__}")
        width = len(self.items)
        rows: list[ClauseElement] = []
        for row in values:
            if not isinstance(row, tuple | list) or len(row) != width:
                raise ValueError(f"in_() on a row of {width} needs tuples of {width} values")
            rows.append(Tuple(tuple(coerce(v) for v in row)))
        if not rows:
            return FALSE
        return InList(self, tuple(rows), False)


def tuple_(*items: Any) -> Tuple:
    """A row value of columns or values, e.g. ``tuple_(Order.region, Order.number)``."""
    if not items:
        raise ValueError("tuple_() needs at least one item")
    return Tuple(tuple(coerce(item) for item in items))


def in_list(operand: ClauseElement, values: Iterable[Any], negate: bool) -> ColumnExpr[bool]:
    """``IN``/``NOT IN`` with the edge cases: empty list, ``None`` members; a ``select()``
    gives a subquery."""
    if hasattr(values, "_scope") and hasattr(values, "to_sql"):
        return InSubquery(operand, values, negate)
    if isinstance(values, str | bytes | bytearray | memoryview) or not isinstance(values, Iterable):
        raise TypeError(f"in_() needs a list of values, got {type(values).__name__}")
    items = list(values)
    has_null = any(v is None for v in items)
    rest = tuple(coerce(v) for v in items if v is not None)
    if not rest:
        if has_null:
            return IsNull(operand, negate)
        return TRUE if negate else FALSE
    node = InList(operand, rest, negate)
    if not has_null:
        return node
    if negate:
        return and_(node, IsNull(operand, True))
    return or_(node, IsNull(operand, False))


class Between(ColumnExpr[bool]):
    """``x BETWEEN low AND high``."""

    __slots__ = ("high", "low", "operand")
    _compound = True

    def __init__(self, operand: ClauseElement, low: ClauseElement, high: ClauseElement) -> None:
        self.operand = operand
        self.low = low
        self.high = high

    def _key(self, ctx: CompileContext) -> Hashable:
        return ("between", self.operand._key(ctx), self.low._key(ctx), self.high._key(ctx))

    def _sql(self, ctx: CompileContext) -> str:
        operand = _compared(self.operand, ctx, self.operand._operand(ctx))
        low, high = _beside(self.low, self.operand, ctx), _beside(self.high, self.operand, ctx)
        return f"{operand} BETWEEN {low} AND {high}"


class Like(ColumnExpr[bool]):
    """``x LIKE pattern`` (``ESCAPE '\\'`` when the pattern was escaped by ormkit)."""

    __slots__ = ("ci", "escape", "negate", "operand", "pattern")
    _compound = True

    def __init__(
        self,
        operand: ClauseElement,
        pattern: ClauseElement,
        *,
        ci: bool,
        negate: bool = False,
        escape: bool = True,
    ) -> None:
        self.operand = operand
        self.pattern = pattern
        self.ci = ci
        self.negate = negate
        self.escape = escape

    def _key(self, ctx: CompileContext) -> Hashable:
        return (
            "like",
            self.ci,
            self.negate,
            self.escape,
            self.operand._key(ctx),
            self.pattern._key(ctx),
        )

    def _sql(self, ctx: CompileContext) -> str:
        left = self.operand._operand(ctx)
        right = self.pattern._operand(ctx)
        if self.ci:
            sql = ctx.dialect.ilike(left, right, self.negate)
        else:
            sql = f"{left} {'NOT LIKE' if self.negate else 'LIKE'} {right}"
        if self.escape:
            sql += f" ESCAPE '{LIKE_ESCAPE}'"
        return sql


class JsonExtract(ColumnExpr[Any]):
    """A value inside a JSON column: ``meta -> $1 ->> $2`` / ``json_extract(meta, ?)``.

    Path keys are bound parameters. ``as_text`` extracts text (``->>``) on PostgreSQL.
    """

    __slots__ = ("as_text", "keys", "operand")

    def __init__(
        self, operand: ClauseElement, keys: tuple[str | int, ...], *, as_text: bool
    ) -> None:
        for key in keys:
            if isinstance(key, bool) or not isinstance(key, str | int):
                raise TypeError(f"JSON path keys are str or int, got {key!r}")
        self.operand = operand
        self.keys = keys
        self.as_text = as_text

    def __getitem__(self, key: str | int) -> JsonExtract:
        return JsonExtract(self.operand, (*self.keys, key), as_text=self.as_text)

    @property
    def astext(self) -> JsonExtract:
        """The same path extracted as text (``->>`` on PostgreSQL)."""
        return JsonExtract(self.operand, self.keys, as_text=True)

    def _key(self, ctx: CompileContext) -> Hashable:
        operand = self.operand._key(ctx)
        for param in ctx.dialect.json_path_params(self.keys):
            ctx.bind(param)
        kinds = tuple(isinstance(k, int) for k in self.keys)
        return ("json", self.as_text, kinds, operand)

    def _sql(self, ctx: CompileContext) -> str:
        column = self.operand._operand(ctx)
        placeholders = [ctx.bind(p) for p in ctx.dialect.json_path_params(self.keys)]
        return ctx.dialect.json_extract(column, placeholders, self.keys, self.as_text)


class JsonContains(ColumnExpr[bool]):
    """JSON containment ``meta @> '{"a": 1}'`` (PostgreSQL)."""

    __slots__ = ("operand", "value")
    _compound = True

    def __init__(self, operand: ClauseElement, value: Any) -> None:
        self.operand = operand
        self.value = JsonValue(value)

    def _key(self, ctx: CompileContext) -> Hashable:
        if not ctx.dialect.supports_json_containment:
            raise ValueError(f"JSON containment (contains) is not supported on {ctx.dialect.name}")
        return ("jsoncontains", self.operand._key(ctx), self.value._key(ctx))

    def _sql(self, ctx: CompileContext) -> str:
        column = self.operand._operand(ctx)
        return ctx.dialect.json_contains(column, ctx.bind(self.value.text))


class Cast(ColumnExpr[Any]):
    """A numeric cast of JSON text, for ordering comparisons on JSON paths."""

    __slots__ = ("operand",)

    def __init__(self, operand: ClauseElement) -> None:
        self.operand = operand

    def _key(self, ctx: CompileContext) -> Hashable:
        return ("cast_numeric", self.operand._key(ctx))

    def _sql(self, ctx: CompileContext) -> str:
        return ctx.dialect.cast_numeric(self.operand._sql(ctx))


_FUNCTION_NAME = re.compile(r"[a-z_][a-z0-9_]*\Z")


class Function(ColumnExpr[Any]):
    """An SQL function call: ``count(*)``, ``lower(name)``, ``sum(age)``.

    The current-time functions (``now()``, ``current_timestamp()``, ``localtimestamp()``,
    ``current_date()``, ``current_time()``, ``localtime()``; see
    :data:`ormkit.dialects.base.CURRENT_TIME_FUNCTIONS`) take no arguments and are
    written by the dialect (``Dialect.current_time``) wherever they appear: on SQLite,
    as text in the form ormkit stores the column's type in when written to or compared
    with a column."""

    __slots__ = ("args", "name")

    def __init__(self, name: str, args: tuple[ClauseElement, ...]) -> None:
        if not _FUNCTION_NAME.match(name):
            raise ValueError(f"invalid SQL function name {name!r}")
        if args and name in CURRENT_TIME_FUNCTIONS:
            raise TypeError(f"func.{name}() takes no arguments, got {len(args)}")
        self.name = name
        self.args = args

    def __repr__(self) -> str:
        return f"{self.name}({', '.join(repr(a) for a in self.args)})"

    def _key(self, ctx: CompileContext) -> Hashable:
        return ("fn", self.name, tuple(a._key(ctx) for a in self.args))

    def _sql(self, ctx: CompileContext) -> str:
        if not self.args:
            if self.name == "count":
                return "count(*)"
            if self.name in CURRENT_TIME_FUNCTIONS:
                return ctx.dialect.current_time(self.name)
        if self.name in ("sum", "avg") and len(self.args) == 1 and is_decimal(self.args[0]):
            return ctx.dialect.decimal_aggregate(self.name, self._args_sql(ctx))
        if self.name in ("min", "max") and len(self.args) == 1:
            (arg,) = self.args
            return f"{self.name}({_compared(arg, ctx, arg._sql(ctx))})"
        return f"{self.name}({self._args_sql(ctx)})"

    def _args_sql(self, ctx: CompileContext) -> str:
        """The arguments; a current-time one next to a column in a function whose value
        has the type of its arguments (``coalesce(deleted_at, now())``) is written in
        that column's form, as when compared with it."""
        args = self.args
        if self.name in _SAME_TYPE_FUNCTIONS and any(current_time_function(a) for a in args):
            column = next((a for a in args if _typed_by(a) is not None), None)
            if column is not None:
                return ", ".join(
                    _beside(a, column, ctx) if current_time_function(a) else a._sql(ctx)
                    for a in args
                )
        return ", ".join(a._sql(ctx) for a in args)


def current_time_function(expr: Any) -> str | None:
    """The function's name when ``expr`` is ``func.now()`` or another current-time
    function (:data:`~ormkit.dialects.base.CURRENT_TIME_FUNCTIONS`), else None."""
    if type(expr) is Function and expr.name in CURRENT_TIME_FUNCTIONS:
        return expr.name
    return None


def _beside(expr: ClauseElement, other: ClauseElement, ctx: CompileContext) -> str:
    """The SQL of ``expr`` as an operand compared with ``other``: a current-time
    function compared with a column is written in the column's stored form
    (``Dialect.current_time(..., compared=True)``), so SQLite compares the text of two
    values of one form."""
    name = current_time_function(expr)
    if name is not None:
        column = _typed_by(other)
        if column is not None:
            return ctx.dialect.current_time(name, column.info.type.kind, compared=True)
    return expr._operand(ctx)


#: functions whose value has the type of their arguments
_SAME_TYPE_FUNCTIONS = frozenset({"coalesce", "nullif", "min", "max", "greatest", "least"})


def _typed_by(expr: ClauseElement) -> Column[Any] | None:
    """The column whose type the value of ``expr`` has: the column itself (reached
    through a join or not), or the first column argument of ``coalesce``, ``min``, …"""
    if isinstance(expr, AliasedColumn):
        return expr.column
    if isinstance(expr, Column):
        return expr
    if isinstance(expr, Function) and expr.name in _SAME_TYPE_FUNCTIONS:
        for arg in expr.args:
            column = _typed_by(arg)
            if column is not None:
                return column
    return None


_ARITHMETIC = frozenset({"+", "-", "*", "/"})
#: functions whose value is a Decimal when their argument is one
_DECIMAL_FUNCTIONS = _SAME_TYPE_FUNCTIONS | {"sum", "avg"}


def is_decimal(expr: ClauseElement) -> bool:
    """Whether the value of ``expr`` is a ``Decimal``: a Decimal column or value,
    arithmetic with one, or ``sum``/``avg``/``min``/… of one. SQLite computes those
    through ormkit's exact decimal functions (``Dialect.decimal_arithmetic``)."""
    if isinstance(expr, Column):
        return bool(expr.info.type.kind == "decimal")
    if isinstance(expr, BindParam):
        return isinstance(expr.value, Decimal)
    if isinstance(expr, BinaryExpression):
        return expr.op in _ARITHMETIC and (is_decimal(expr.left) or is_decimal(expr.right))
    if isinstance(expr, Function):
        return expr.name in _DECIMAL_FUNCTIONS and any(is_decimal(a) for a in expr.args)
    if isinstance(expr, Label):
        return is_decimal(expr.expr)
    column = _typed_by(expr)  # through an alias
    if column is not None:
        return bool(column.info.type.kind == "decimal")
    typed = getattr(expr, "value_info", None)  # a scalar subquery, cast(), case()
    return typed is not None and typed.type.kind == "decimal"


class ValueType:
    """The type of a value that is no column (a selected ``sum()``, ``cast()``, a computed
    Decimal compared): what a column's info gives the result converters and
    ``Dialect.compared``, its ``type``."""

    __slots__ = ("type",)

    def __init__(self, column_type: ColumnType) -> None:
        self.type = column_type


#: the type of a computed ``Decimal`` value (see :func:`is_decimal`)
DECIMAL_VALUE = ValueType(resolve_column_type(Decimal))


class _FunctionNamespace:
    """``func.count()``, ``func.lower(User.name)``: any lower-case SQL function name."""

    def __getattr__(self, name: str) -> _FunctionFactory:
        if name.startswith("__") or not _FUNCTION_NAME.match(name):
            raise AttributeError(name)
        return _FunctionFactory(name)


class _FunctionFactory:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(self, *args: Any) -> Function:
        return Function(self.name, tuple(coerce(a) for a in args))


func = _FunctionNamespace()


class Label(ColumnExpr[Any]):
    """``expr AS name`` in a select list; elsewhere the bare expression."""

    __slots__ = ("expr", "name")

    def __init__(self, expr: ClauseElement, name: str) -> None:
        self.expr = expr
        self.name = name

    def _key(self, ctx: CompileContext) -> Hashable:
        return self.expr._key(ctx)

    def _sql(self, ctx: CompileContext) -> str:
        return self.expr._sql(ctx)


class OrderBy(ClauseElement):
    """An ORDER BY item: expression, direction and optional NULLS FIRST/LAST."""

    __slots__ = ("descending", "expr", "nulls")

    def __init__(self, expr: ClauseElement, *, descending: bool, nulls: str | None = None) -> None:
        if nulls not in (None, "first", "last"):
            raise ValueError(f"nulls must be 'first' or 'last', got {nulls!r}")
        self.expr = expr
        self.descending = descending
        self.nulls = nulls

    def nulls_first(self) -> OrderBy:
        """Put NULLs first."""
        return OrderBy(self.expr, descending=self.descending, nulls="first")

    def nulls_last(self) -> OrderBy:
        """Put NULLs last."""
        return OrderBy(self.expr, descending=self.descending, nulls="last")

    def _key(self, ctx: CompileContext) -> Hashable:
        return ("order", self.descending, self.nulls, self.expr._key(ctx))

    def _sql(self, ctx: CompileContext) -> str:
        sql = _compared(self.expr, ctx, self.expr._sql(ctx)) + (" DESC" if self.descending else "")
        if self.nulls:
            sql += f" NULLS {self.nulls.upper()}"
        return sql


def asc(expr: ColumnExpr[Any]) -> OrderBy:
    """Ascending order of ``expr``."""
    return OrderBy(expr, descending=False)


def desc(expr: ColumnExpr[Any]) -> OrderBy:
    """Descending order of ``expr``."""
    return OrderBy(expr, descending=True)


class TextClause(ClauseElement):
    """Literal SQL: a column's ``server_default`` or a check (DDL cannot bind), or a
    statement for ``session.execute(text(...), {"name": value})`` with ``:name``
    parameters. Never part of a built query's expressions. One statement: a ``;``
    inside a quoted literal, a quoted identifier or a comment is part of the text, a
    trailing ``;`` is dropped, and a second statement is a ``ValueError``."""

    __slots__ = ("text",)

    def __init__(self, sql: str) -> None:
        if not isinstance(sql, str):
            raise TypeError(f"text() takes a str, got {type(sql).__name__}")
        if "\x00" in sql:
            raise ValueError(
                f"text() takes SQL without NUL bytes, got {sql!r}; bind values as :name parameters"
            )
        if ";" in sql:
            statements = split_statements(sql)
            if len(statements) > 1:
                raise ValueError(
                    f"text() takes one SQL statement or expression, got {len(statements)} "
                    f"separated by ';' in {sql!r}; run each on its own, and bind values as "
                    ":name parameters"
                )
            # a ';' inside a literal, identifier or comment is text; a trailing one goes
            sql = statements[0] if statements else sql
        self.text = sql

    def __repr__(self) -> str:
        return f"text({self.text!r})"


def text(sql: str) -> TextClause:
    """Literal SQL: ``server_default=text("CURRENT_TIMESTAMP")``, or a statement with
    ``:name`` parameters for ``session.execute(text(...), {...})``."""
    return TextClause(sql)
