"""The lookups registry: ``field__op=value`` keyword filters and ``Q`` objects.

One registry maps each operator name to the expression it builds, so
``filter(name__startswith="A")``, ``Q(name__startswith="A")`` and
``User.name.startswith("A")`` produce the same SQL. A lookup key is split on ``__``
into a path: relationship names (joined), a column name, JSON keys (for JSON columns,
bound as parameters) and at most one operator. Anything that is not a known field or
operator raises ``ValueError`` naming it before any SQL is built. A value of the wrong
shape for its operator (``__in`` with something that is not a collection of values,
``__between`` with something that is not a pair, ``__isnull`` with a non-bool, ``None``
for an operator that compares with it such as ``__gt``) raises as soon as the lookup is
made: in ``filter()`` or ``Q(...)``, not when the query runs.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ormkit.sql.expressions import (
    TRUE,
    AliasedColumn,
    BooleanClause,
    ClauseElement,
    Column,
    ColumnExpr,
    JsonContains,
    JsonExtract,
    JsonValue,
    Not,
    and_,
    as_condition,
    coerce,
    in_list,
    not_,
    or_,
    tuple_,
)
from ormkit.sql.mapped import is_model_instance

if TYPE_CHECKING:
    from ormkit.sql.compiler import CompileContext
    from ormkit.sql.statements import Select

__all__ = [
    "DATE_PARTS",
    "LOOKUPS",
    "DatePart",
    "Q",
    "RelatedColumn",
    "check_lookup",
    "check_lookup_values",
    "check_q_lookups",
    "lookups_q",
    "pk_field",
    "pk_name",
    "register_lookup",
    "related_column",
    "resolve_lookup",
]

LookupFn = Callable[[ColumnExpr[Any], Any], ColumnExpr[bool]]
#: ``check(key, value, where) -> value``: raises for a value of the wrong shape for the
#: operator (``where`` names the model, or is empty), else returns the value to keep
ValueCheck = Callable[[str, Any, str], Any]

LOOKUPS: dict[str, LookupFn] = {}
_VALUE_CHECKS: dict[str, ValueCheck] = {}

_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def register_lookup(name: str, fn: LookupFn) -> None:
    """Register operator ``name`` (used as ``field__name=value``). Registering a built-in
    name replaces it, together with its check of the value's shape."""
    if not _FIELD_NAME.match(name):
        raise ValueError(f"invalid lookup name {name!r}")
    LOOKUPS[name] = fn
    _VALUE_CHECKS.pop(name, None)


def _shown(value: Any) -> str:
    """``value`` for a message: its type and a shortened repr."""
    if value is None:
        return "None"
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 60 else text[:57] + '...'}"


def _where(key: str, where: str) -> str:
    return f"lookup {key!r}" + (f" on {where}" if where else "")


def _is_subquery(value: Any) -> bool:
    return hasattr(value, "_scope") and hasattr(value, "to_sql")


def _check_in(key: str, value: Any, where: str) -> Any:
    """``__in``/``__notin``: a collection of values or a ``select()``; an iterator (a
    generator) is read here, once, so that the query can run any number of times."""
    if isinstance(value, list | tuple | set | frozenset) or _is_subquery(value):
        return value
    if isinstance(value, str | bytes | bytearray | memoryview) or not isinstance(value, Iterable):
        op = key.rpartition("__")[2]
        hint = ""
        if isinstance(value, str | bytes | bytearray):
            hint = f" (for one value, use {key.rpartition('__')[0]}=... or a one-item list)"
        elif hasattr(value, "_session") and hasattr(value, "to_sql"):
            hint = " (a session query: pass select(...) for a subquery, or await it first)"
        raise TypeError(
            f"{_where(key, where)}: __{op} needs a list of values (a list, tuple, set or "
            f"select() subquery), got {_shown(value)}{hint}"
        )
    if isinstance(value, Iterator):
        return tuple(value)
    return value


def _check_between(key: str, value: Any, where: str) -> Any:
    """``__between`` and its alias ``__range``: a (low, high) pair (a tuple or list)."""
    if isinstance(value, str | bytes) or not isinstance(value, Sequence) or len(value) != 2:
        op = key.rpartition("__")[2]
        raise ValueError(
            f"{_where(key, where)}: __{op} needs a (low, high) pair, got {_shown(value)}"
        )
    return value


def _check_isnull(key: str, value: Any, where: str) -> Any:
    if not isinstance(value, bool):
        raise ValueError(f"{_where(key, where)}: __isnull needs True or False, got {_shown(value)}")
    return value


def _check_not_none(key: str, value: Any, where: str) -> Any:
    """Operators that compare with their value (``__gt``, ``__contains``, …): ``None``
    would send ``> NULL``, which matches no row; ask for ``__isnull`` (as Django does)."""
    if value is None:
        field, _, op = key.rpartition("__")
        raise ValueError(
            f"{_where(key, where)}: __{op} cannot compare with None (it would match no "
            f"row); use {field}__isnull=True to match NULL"
        )
    return value


def check_lookup_values(lookups: dict[str, Any], where: str = "") -> dict[str, Any]:
    """Check the value of every lookup whose operator needs a value of a given shape
    (``__in``, ``__notin``, ``__between``, ``__isnull``) or cannot take ``None``
    (``__gt``, ``__contains``, ``__startswith``, …), raising ``TypeError`` or
    ``ValueError`` naming the lookup (and ``where``, the model) and what it needs.
    Returns ``lookups``, or a copy where an iterator given to ``__in`` is a tuple."""
    out = lookups
    for key, value in lookups.items():
        if type(key) is not str or "__" not in key:
            continue
        check = _VALUE_CHECKS.get(key.rpartition("__")[2])
        if check is None:
            continue
        checked = check(key, value, where)
        if checked is not value:
            if out is lookups:
                out = dict(lookups)
            out[key] = checked
    return out


def lookups_q(lookups: dict[str, Any], model: type[Any] | None = None) -> Q:
    """``Q(**lookups)``, its values checked as :func:`check_lookup_values` does, with
    the name of ``model`` in the message."""
    checked = check_lookup_values(lookups, model.__name__ if model is not None else "")
    return Q._make(tuple(checked.items()), "AND", False)


def _exact(lhs: ColumnExpr[Any], value: Any) -> ColumnExpr[bool]:
    return lhs.__eq__(value)


# The values of these two were checked when the lookup was made (_check_between,
# _check_isnull: every Q and Query filter goes through check_lookup_values).
def _between(lhs: ColumnExpr[Any], value: Any) -> ColumnExpr[bool]:
    return lhs.between(value[0], value[1])


def _isnull(lhs: ColumnExpr[Any], value: Any) -> ColumnExpr[bool]:
    return lhs.isnull(value)


for _name, _fn in {
    "exact": _exact,
    "ne": lambda lhs, v: lhs != v,
    "gt": lambda lhs, v: lhs > v,
    "gte": lambda lhs, v: lhs >= v,
    "lt": lambda lhs, v: lhs < v,
    "lte": lambda lhs, v: lhs <= v,
    "in": lambda lhs, v: lhs.in_(v),
    "notin": lambda lhs, v: lhs.not_in(v),
    "like": lambda lhs, v: lhs.like(v),
    "ilike": lambda lhs, v: lhs.ilike(v),
    "contains": lambda lhs, v: lhs.contains(v),
    "icontains": lambda lhs, v: lhs.icontains(v),
    "startswith": lambda lhs, v: lhs.startswith(v),
    "istartswith": lambda lhs, v: lhs.istartswith(v),
    "endswith": lambda lhs, v: lhs.endswith(v),
    "iendswith": lambda lhs, v: lhs.iendswith(v),
    "iexact": lambda lhs, v: lhs.iexact(v),
    "isnull": _isnull,
    "between": _between,
    "range": _between,  # Django's name for BETWEEN
}.items():
    register_lookup(_name, _fn)
_TEXT_LOOKUPS = frozenset(
    {"like", "ilike", "icontains", "startswith", "istartswith", "endswith", "iendswith", "iexact"}
)
_PAIR_LOOKUPS = frozenset({"between", "range"})
_ORDER_LOOKUPS = frozenset({"gt", "gte", "lt", "lte"}) | _PAIR_LOOKUPS

_VALUE_CHECKS.update(
    {
        "in": _check_in,
        "notin": _check_in,
        "between": _check_between,
        "range": _check_between,
        "isnull": _check_isnull,
    }
)
# None has a meaning only for exact/ne (IS NULL / IS NOT NULL), in/notin (a member).
_VALUE_CHECKS.update(
    dict.fromkeys((_TEXT_LOOKUPS | _ORDER_LOOKUPS | {"contains"}) - _PAIR_LOOKUPS, _check_not_none)
)


class Q(ClauseElement):
    """A combinable set of lookups: ``Q(name="Ann") | ~Q(age__lt=18)``.

    Keyword lookups inside one ``Q`` are ANDed. ``Q`` objects combine with ``&``, ``|``
    and ``~``, and with column expressions. An empty ``Q()`` is no condition: combining
    drops it (``Q() | Q(name="Ann")`` is ``Q(name="Ann")``), and ``filter(Q())``,
    ``filter(~Q())`` and ``exclude(Q())`` filter nothing, as in Django. The shape of a
    lookup's value is checked here (see :func:`check_lookup_values`); field names,
    against a model, when the statement is built (or at once by ``Query.filter``).
    """

    __slots__ = ("children", "connector", "negated")

    def __init__(self, *args: ClauseElement | Select, **lookups: Any) -> None:
        children: list[ClauseElement | tuple[str, Any]] = []
        for arg in args:
            if not isinstance(arg, ClauseElement):
                arg = as_condition(arg)
            if not isinstance(arg, ClauseElement):
                raise TypeError(f"Q() positional arguments must be Q or expressions, got {arg!r}")
            children.append(arg)
        children.extend(check_lookup_values(lookups).items())
        self.children = tuple(children)
        self.connector = "AND"
        self.negated = False

    @classmethod
    def _make(
        cls, children: tuple[ClauseElement | tuple[str, Any], ...], connector: str, negated: bool
    ) -> Q:
        q = cls.__new__(cls)
        q.children = children
        q.connector = connector
        q.negated = negated
        return q

    def _combine(self, left: ClauseElement, right: ClauseElement, connector: str) -> Q:
        """``left <connector> right``; an empty ``Q()`` on either side is dropped, as in
        Django (``q = Q(); q |= Q(name="Ann")`` is ``Q(name="Ann")``)."""
        if right._is_empty():
            left, right = right, left
        if left._is_empty():
            return right if isinstance(right, Q) else Q._make((right,), "AND", False)
        return Q._make((left, right), connector, False)

    def __and__(self, other: Any) -> Q:
        if not isinstance(other, ClauseElement):
            return NotImplemented
        return self._combine(self, other, "AND")

    def __rand__(self, other: Any) -> Q:
        if not isinstance(other, ClauseElement):
            return NotImplemented
        return self._combine(other, self, "AND")

    def __or__(self, other: Any) -> Q:
        if not isinstance(other, ClauseElement):
            return NotImplemented
        return self._combine(self, other, "OR")

    def __ror__(self, other: Any) -> Q:
        if not isinstance(other, ClauseElement):
            return NotImplemented
        return self._combine(other, self, "OR")

    def __invert__(self) -> Q:
        return Q._make(self.children, self.connector, not self.negated)

    def _is_empty(self) -> bool:
        """No lookup and no condition in it, only (possibly) other empty Qs."""
        return all(isinstance(c, ClauseElement) and c._is_empty() for c in self.children)

    def __bool__(self) -> bool:
        return not self._is_empty()

    def __repr__(self) -> str:
        inner = f" {self.connector} ".join(repr(c) for c in self.children)
        return f"{'~' if self.negated else ''}Q({inner})"

    def _key(self, ctx: CompileContext) -> Hashable:
        return ctx.resolve(self)._key(ctx)

    def _sql(self, ctx: CompileContext) -> str:
        return ctx.resolve(self)._sql(ctx)

    def _operand(self, ctx: CompileContext) -> str:
        return ctx.resolve(self)._operand(ctx)

    def _grouping(self, ctx: CompileContext) -> str | None:
        return ctx.resolve(self)._grouping(ctx)

    def resolve(self, ctx: CompileContext) -> ColumnExpr[bool]:
        """Build the expression for this Q against the statement's model (``ctx.scope``).
        An empty Q (also negated) is no condition: always true, filtering nothing."""
        parts: list[ClauseElement] = []
        for child in self.children:
            if isinstance(child, tuple):
                key, value = child
                parts.append(resolve_lookup(ctx, key, value))
            elif not child._is_empty():
                parts.append(child)
        if not parts:
            return TRUE
        node = and_(*parts) if self.connector == "AND" else or_(*parts)
        return not_(node) if self.negated else node


def resolve_lookup(ctx: CompileContext, key: str, value: Any) -> ColumnExpr[bool]:
    """Turn ``field__path__op=value`` into an expression (joins are added to ``ctx.scope``)."""
    if not isinstance(key, str) or not key:
        raise ValueError(f"invalid lookup {key!r}")
    parts = key.split("__")
    scope = ctx.scope
    model = scope.root
    alias: str | None = scope.root_alias if scope.aliased else None
    path: tuple[str, ...] = ()
    i = 0
    while i < len(parts):
        name = parts[i]
        if not _FIELD_NAME.match(name):
            raise ValueError(f"invalid field name {name!r} in lookup {key!r}")
        columns = model.__columns__
        if name == "pk":
            name = pk_field(model, f"lookup {key!r}")
        if name in columns:
            info = columns[name]
            col: ColumnExpr[Any] = _column(info, alias)
            rest = parts[i + 1 :]
            if info.type.is_json:
                return _json_lookup(ctx, col, rest, value, key)
            return _apply(col, rest, value, key, model)
        relationships = getattr(model, "__relationships__", {})
        if name in relationships:
            rel = relationships[name]
            if i + 1 < len(parts) and parts[i + 1] == "pk":
                parts[i + 1] = pk_field(rel.target, f"lookup {key!r}")
            rest = parts[i + 1 :]
            direct = _direct_relationship_lookup(rel, alias, rest, value, key)
            if direct is not None:
                return direct
            path = (*path, name)
            alias = ctx.scope.join_relationship(path, rel, alias)
            model = rel.target
            i += 1
            continue
        raise _unknown_field(model, name, key)
    raise ValueError(f"lookup {key!r} names a relationship, not a field: add a field name")


_NO_VALUE: Any = object()


#: (model, key) of the lookups on a model's own column that passed
#: :func:`check_lookup` and need no check of their value, with their operator ("" for a
#: JSON path): checked once, valid while the operator is registered (a model's columns
#: never change). Bounded, for keys that applications build.
_KNOWN_LOOKUPS: dict[tuple[type[Any], str], str] = {}
_KNOWN_LOOKUPS_SIZE = 4096


def check_lookup(model: type[Any], key: str, value: Any = _NO_VALUE) -> None:
    """Raise the ``ValueError`` :func:`resolve_lookup` raises for an unknown field or
    operator in ``key``, without building anything: ``Query.filter`` calls it so that a
    misspelt lookup fails at once. When ``value`` is given, a value a date part
    (``created_at__year``) cannot compare with raises too; other values (and what
    depends on them) are checked when the statement is built."""
    if not isinstance(key, str) or not key:
        raise ValueError(f"invalid lookup {key!r}")
    known = _KNOWN_LOOKUPS.get((model, key))
    if known is not None and (not known or known in LOOKUPS):
        return
    parts = key.split("__")
    for i, name in enumerate(parts):
        if not _FIELD_NAME.match(name):
            raise ValueError(f"invalid field name {name!r} in lookup {key!r}")
        rest = parts[i + 1 :]
        columns = model.__columns__
        if name == "pk":
            name = pk_field(model, f"lookup {key!r}")
        if name in columns:
            info = columns[name]
            op = ""  # JSON keys are free-form
            if not info.type.is_json:
                part, op = _column_operator(info, rest, key, model)
                if part is not None:
                    if value is not _NO_VALUE:
                        _check_date_part_value(key, op, value, model)
                    return  # its value is checked each time
            if i == 0 and len(_KNOWN_LOOKUPS) < _KNOWN_LOOKUPS_SIZE:
                _KNOWN_LOOKUPS[(model, key)] = op
            return
        relationships = getattr(model, "__relationships__", {})
        if name not in relationships:
            raise _unknown_field(model, name, key)
        rel = relationships[name]
        operator = _relationship_operator(rel, rest)
        if operator is not None:
            _check_relationship_operator(rel, operator, key)
            return  # the relationship itself compared: its value checked when built
        if not rest:
            return
        model = rel.target


def check_q_lookups(model: type[Any], *clauses: Any) -> None:
    """Run :func:`check_lookup` on every keyword lookup of the ``Q`` objects in
    ``clauses`` (also inside ``&``/``|``/``~`` combinations with expressions; anything
    that is not a clause is left to the caller), so that ``filter(Q(nmae=1))`` fails in
    ``filter()`` as ``filter(nmae=1)`` does."""
    columns = model.__columns__
    for clause in clauses:
        if isinstance(clause, Q):
            for child in clause.children:
                if isinstance(child, tuple):
                    if child[0] not in columns:
                        check_lookup(model, child[0], child[1])
                else:
                    check_q_lookups(model, child)
        elif isinstance(clause, BooleanClause):
            check_q_lookups(model, *clause.clauses)
        elif isinstance(clause, Not):
            check_q_lookups(model, clause.operand)


def pk_name(model: type[Any], what: str) -> str:
    """The primary key column that ``pk`` stands for on ``model`` (``what`` names the
    lookup or call, for the message); ``ValueError`` for a composite primary key."""
    pk = model.__primary_key__
    if isinstance(pk, str):
        return pk
    raise ValueError(
        f"{what}: 'pk' names the primary key, but {model.__name__} has a composite primary "
        f"key ({', '.join(pk)}); name its columns instead"
    )


def pk_field(model: type[Any], what: str) -> str:
    """What the name ``pk`` stands for on ``model``: a field called ``pk`` if it has one,
    else its primary key column (``what`` names the lookup or call for the message of
    :func:`pk_name`)."""
    if "pk" in model.__columns__ or "pk" in getattr(model, "__relationships__", {}):
        return "pk"
    return pk_name(model, what)


def _unknown_field(model: type[Any], name: str, key: str) -> ValueError:
    known = [*model.__columns__, *getattr(model, "__relationships__", {})]
    return ValueError(
        f"unknown field {name!r} on {model.__name__} in lookup {key!r}; "
        f"known fields: {', '.join(known)}"
    )


def _column(info: Any, alias: str | None) -> ColumnExpr[Any]:
    column: Column[Any] = info.expr
    if alias is None:
        return column
    return AliasedColumn(column, alias)


def _operator(rest: Sequence[str], key: str) -> str:
    """The operator named by what follows a column in lookup ``key``."""
    if not rest:
        return "exact"
    if len(rest) == 1 and rest[0] in LOOKUPS:
        return rest[0]
    if len(rest) == 1:
        raise ValueError(
            f"unknown lookup operator {rest[0]!r} in {key!r}; "
            f"known operators: {', '.join(sorted(LOOKUPS))}"
        )
    raise ValueError(f"invalid lookup {key!r}: {'__'.join(rest)!r} is not an operator")


def _column_operator(
    info: Any, rest: Sequence[str], key: str, model: type[Any]
) -> tuple[str | None, str]:
    """The date part (or None) and the operator that follow the non-JSON column ``info``
    in lookup ``key``; ``ValueError`` for an unknown operator, a date part of a column
    that is not a date or datetime, or an operator a date part does not take."""
    if not rest or rest[0] not in DATE_PARTS:
        return None, _operator(rest, key)
    part = rest[0]
    kind = info.type.kind
    if kind not in _TEMPORAL_KINDS:
        if part in LOOKUPS:  # an operator of that name, registered by the application
            return None, _operator(rest, key)
        raise ValueError(
            f"lookup {key!r}: __{part} applies to date and datetime columns; "
            f"{model.__name__}.{info.key} holds {kind} values"
        )
    op = _operator(rest[1:], key)
    if op not in _DATE_PART_OPERATORS:
        raise ValueError(
            f"lookup {key!r}: operator {op!r} does not apply to __{part} (an int); it "
            f"takes {', '.join(sorted(_DATE_PART_OPERATORS))}"
        )
    return part, op


def _apply(
    col: ColumnExpr[Any], rest: Sequence[str], value: Any, key: str, model: type[Any]
) -> ColumnExpr[bool]:
    if rest and rest[0] in DATE_PARTS:
        base: Any = col.column if isinstance(col, AliasedColumn) else col
        info = base.info
        part, op = _column_operator(info, rest, key, model)
        if part is not None:
            _check_date_part_value(key, op, value, model)
            return LOOKUPS[op](DatePart(col, part, info.type.kind), value)
        return LOOKUPS[op](col, value)
    return LOOKUPS[_operator(rest, key)](col, value)


def _direct_relationship_lookup(
    rel: Any, alias: str | None, rest: Sequence[str], value: Any, key: str
) -> ColumnExpr[bool] | None:
    """``author=user``, ``author=None``, ``author__isnull=True``, ``author__in=[a, b]``
    and ``author__id=5`` on a many-to-one relationship compare the local foreign key
    columns with no join; ``posts__isnull=True/False`` on a collection (or one-to-one)
    tests whether any related row exists, through ``pk [NOT] IN (SELECT fk …)``."""
    operator = _relationship_operator(rel, rest)
    if rel.direction != "many_to_one":
        if not rest and (value is None or is_model_instance(value)):
            raise ValueError(
                f"lookup {key!r}: comparing a {rel.direction} relationship with an object "
                "is not supported; filter on a field of it instead"
            )
        if operator is not None:
            _check_relationship_operator(rel, operator, key)
            return _related_rows_exist(rel, alias, value, key)
        return None
    local = [_column(rel.model.__columns__[c], alias) for c in rel.local_columns]
    if operator is not None:
        _check_relationship_operator(rel, operator, key)
        if operator in ("in", "notin"):
            return _relationship_in(rel, local, value, key, negate=operator == "notin")
    if not rest or rest == ["exact"] or rest == ["isnull"]:
        if rest == ["isnull"]:  # the value was checked when the lookup was made
            checks = [c.isnull(value) for c in local]
            return and_(*checks) if value else or_(*checks)
        if value is None:
            return and_(*(c.is_(None) for c in local))
        if not is_model_instance(value):
            if len(local) == 1:
                return local[0].__eq__(value)
            raise ValueError(f"lookup {key!r} needs a {rel.target.__name__} instance")
        remote_values = _related_key(rel, value, key, f"a {rel.target.__name__}")
        return and_(*(c == v for c, v in zip(local, remote_values, strict=True)))
    if (
        len(rel.remote_columns) == 1
        and rest[0] == rel.remote_columns[0]
        and (len(rest) == 1 or (len(rest) == 2 and rest[1] in LOOKUPS))
    ):
        return _apply(local[0], rest[1:], value, key, rel.model)
    return None


def _related_key(rel: Any, obj: Any, key: str, need: str) -> tuple[Any, ...]:
    """The key values by which rows reference ``obj``, an object given to the lookup
    ``key`` on the many-to-one ``rel``. ``ValueError`` when it is not a ``rel.target``
    (the message says the lookup needs ``need``) or has no key yet."""
    if not isinstance(obj, rel.target):
        raise ValueError(f"lookup {key!r} needs {need}, got a {type(obj).__name__}")
    values = tuple(obj.__dict__.get(c) for c in rel.remote_columns)
    if any(v is None for v in values):
        raise ValueError(
            f"lookup {key!r}: the {rel.target.__name__} has no primary key value yet "
            "(insert it first)"
        )
    return values


def _relationship_operator(rel: Any, rest: Sequence[str]) -> str | None:
    """The operator when ``rest`` (what follows a relationship in a lookup) is one
    operator and not a field of the target, else None."""
    if len(rest) != 1 or rest[0] not in LOOKUPS:
        return None
    target = rel.target
    if rest[0] in target.__columns__ or rest[0] in getattr(target, "__relationships__", {}):
        return None
    return rest[0]


def _check_relationship_operator(rel: Any, op: str, key: str) -> None:
    """Raise ``ValueError`` for an operator applied to a relationship itself that it does
    not take: a many-to-one takes ``=``, ``__in``, ``__notin`` and ``__isnull``, a
    collection (or one-to-one) ``__isnull``. The message names the operator, the
    relationship and the lookup on a field of the target to write instead."""
    many_to_one = rel.direction == "many_to_one"
    if op == "isnull" or (many_to_one and op in ("exact", "in", "notin")):
        return
    supported = "=, __in, __notin, __isnull" if many_to_one else "only __isnull"
    path = key.rpartition("__")[0]
    pk = rel.target.__primary_key__
    field = pk if isinstance(pk, str) else pk[0]
    raise ValueError(
        f"lookup {key!r}: operator {op!r} does not apply to the {rel.direction} relationship "
        f"{rel.model.__name__}.{rel.key} itself (it takes {supported}); compare a field of "
        f"{rel.target.__name__} instead, e.g. {path}__{field}__{op}=..."
    )


def _relationship_in(
    rel: Any, local: list[ColumnExpr[Any]], value: Any, key: str, *, negate: bool
) -> ColumnExpr[bool]:
    """``author__in=[user, 7, None]`` (objects or key values, or a ``select()`` of keys)
    on a many-to-one relationship: the foreign key ``[NOT] IN`` their keys."""
    operand: Any = local[0] if len(local) == 1 else tuple_(*local)
    if _is_subquery(value):
        return operand.not_in(value) if negate else operand.in_(value)  # type: ignore[no-any-return]
    need = f"{rel.target.__name__} objects or key values"
    keys: list[Any] = []
    for item in value:
        if is_model_instance(item):
            remote = _related_key(rel, item, key, need)
            keys.append(remote[0] if len(local) == 1 else remote)
        else:
            keys.append(item)
    if len(local) == 1:
        return local[0].not_in(keys) if negate else local[0].in_(keys)
    node: ColumnExpr[bool] = operand.in_(keys)
    return not_(node) if negate else node


def _related_rows_exist(rel: Any, alias: str | None, value: Any, key: str) -> ColumnExpr[bool]:
    """``posts__isnull=False``: some related row exists (``id IN (SELECT author_id FROM
    posts)``); ``True``: none does (``NOT IN``, the subquery's NULLs left out). The value
    was checked when the lookup was made."""
    from ormkit.sql.statements import select

    local = [_column(rel.model.__columns__[c], alias) for c in rel.local_columns]
    if rel.direction == "many_to_many":
        holder, fks = rel.secondary_model, rel.secondary_local_columns
    else:
        holder, fks = rel.target, rel.remote_columns
    fk_cols = [holder.__columns__[c].expr for c in fks]
    inner = select(holder).with_only_columns(*fk_cols).where(*(c.isnull(False) for c in fk_cols))
    operand: Any = local[0] if len(local) == 1 else tuple_(*local)
    node: ColumnExpr[bool] = operand.in_(inner)
    return not_(node) if value else node


def _json_lookup(
    ctx: CompileContext, col: ColumnExpr[Any], rest: Sequence[str], value: Any, key: str
) -> ColumnExpr[bool]:
    if rest and rest[-1] in LOOKUPS:
        op = rest[-1]
        raw_keys = rest[:-1]
    else:
        op = "exact"
        raw_keys = rest
    if not raw_keys:
        if op == "contains" and not isinstance(value, str):
            return JsonContains(col, value)
        if op in ("exact", "ne") and value is not None:
            doc = JsonValue(value)
            return col == doc if op == "exact" else col != doc
        return LOOKUPS[op](col, value)
    keys: tuple[str | int, ...] = tuple(_json_key(k, key) for k in raw_keys)
    postgres = ctx.dialect.supports_json_operators
    if op in _TEXT_LOOKUPS or op in ("contains", "isnull"):
        return LOOKUPS[op](JsonExtract(col, keys, as_text=True), value)
    if op in ("in", "notin"):
        if isinstance(value, str | bytes) or not isinstance(value, Sequence | set | frozenset):
            raise ValueError(f"__{op} needs a list of values, got {value!r}")
        items = list(value)
        if postgres and not all(isinstance(v, str) or v is None for v in items):
            extract = JsonExtract(col, keys, as_text=False)
            vals = [None if v is None else JsonValue(v) for v in items]
            return in_list(extract, vals, negate=op == "notin")
        extract = JsonExtract(col, keys, as_text=True)
        return in_list(extract, [_json_scalar(v, postgres) for v in items], negate=op == "notin")
    if op in _ORDER_LOOKUPS:
        extract = JsonExtract(col, keys, as_text=True)
        sample = value[0] if op in _PAIR_LOOKUPS and isinstance(value, Sequence) else value
        if postgres and _is_number(sample):
            from ormkit.sql.expressions import Cast

            return LOOKUPS[op](Cast(extract), value)
        return LOOKUPS[op](extract, value)
    # exact / ne
    if value is None:
        return JsonExtract(col, keys, as_text=True).isnull(op == "exact")
    right: ClauseElement
    if isinstance(value, str) or not postgres:
        extract = JsonExtract(col, keys, as_text=True)
        right = coerce(_json_scalar(value, postgres))
    else:
        extract = JsonExtract(col, keys, as_text=False)
        right = JsonValue(value)
    return extract == right if op == "exact" else extract != right


def _json_key(raw: str, key: str) -> str | int:
    if "\x00" in raw:
        raise ValueError(f"invalid JSON key {raw!r} in lookup {key!r}: contains NUL")
    if raw.isascii() and raw.isdigit():
        return int(raw)
    return raw


def _json_scalar(value: Any, postgres: bool) -> Any:
    """A value to compare with extracted JSON: JSON text for containers, 0/1 for bools
    on SQLite (``json_extract`` returns those)."""
    if isinstance(value, dict | list):
        return JsonValue(value)
    if isinstance(value, bool) and not postgres:
        return int(value)
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


# -- date parts: created_at__year=2024 ---------------------------------------------------

#: the parts of a date or datetime a lookup can compare (``created_at__year__gte=2024``)
DATE_PARTS = ("year", "month", "day")
_TEMPORAL_KINDS = frozenset({"date", "datetime", "datetime_tz"})
_DATE_PART_OPERATORS = frozenset(
    {"exact", "ne", "gt", "gte", "lt", "lte", "in", "notin", "between", "range", "isnull"}
)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_date_part_value(key: str, op: str, value: Any, model: type[Any]) -> None:
    """``TypeError`` unless ``value`` is what a date part compared by ``op`` takes: an
    int (a collection of ints for ``__in``, a pair of ints for ``__range``; ``None``
    for ``=``/``__ne``, which is IS [NOT] NULL). A value of the wrong shape for ``op``
    (not a list for ``__in``, not a pair for ``__range``), an iterator (read once, when
    the lookup is made) or a subquery is left to the operator's own check."""
    if op == "isnull" or (value is None and op in ("exact", "ne")):
        return
    if value is None and op in _VALUE_CHECKS:
        _VALUE_CHECKS[op](key, value, model.__name__)  # says what None needs instead
    if op in ("in", "notin"):
        if not isinstance(value, list | tuple | set | frozenset):
            return
        items: Any = value
    elif op in _PAIR_LOOKUPS:
        if isinstance(value, str | bytes) or not isinstance(value, Sequence) or len(value) != 2:
            return
        items = value
    else:
        items = (value,)
    for item in items:
        if not _is_int(item):
            raise TypeError(
                f"lookup {key!r} on {model.__name__}: a date part compares with an int, "
                f"got {_shown(item)}"
            )


class DatePart(ColumnExpr[int]):
    """The year, month or day of a date or datetime column, as an int: PostgreSQL
    ``EXTRACT`` (of the UTC time for a timezone-aware column), SQLite ``strftime`` of
    the ISO-8601 text the column is stored as (timezone-aware values are stored in UTC,
    so both backends give the same answer)."""

    __slots__ = ("kind", "operand", "part")

    def __init__(self, operand: ColumnExpr[Any], part: str, kind: str) -> None:
        if part not in DATE_PARTS:
            raise ValueError(f"unknown date part {part!r}")
        self.operand = operand
        self.part = part
        self.kind = kind

    def __repr__(self) -> str:
        return f"DatePart({self.operand!r}, {self.part!r})"

    def _key(self, ctx: CompileContext) -> Hashable:
        return ("date_part", self.part, self.kind, self.operand._key(ctx))

    def _sql(self, ctx: CompileContext) -> str:
        return ctx.dialect.date_part(self.part, self.operand._sql(ctx), self.kind)


# -- related columns: order_by("author__name") -------------------------------------------


class RelatedColumn(ColumnExpr[Any]):
    """A column reached from a statement's model through many-to-one (or one-to-one)
    relationships, ``author__name``: compiled as the column of the joined table, the
    join added (LEFT OUTER, once per path, shared with lookups) when the statement is
    compiled. Made by :func:`related_column` for ``order_by()``."""

    __slots__ = ("column", "path", "rels")

    def __init__(self, rels: tuple[Any, ...], column: Column[Any]) -> None:
        self.rels = rels
        self.path = tuple(rel.key for rel in rels)
        self.column = column

    def __repr__(self) -> str:
        return f"{'__'.join(self.path)}__{self.column.key}"

    def _alias(self, ctx: CompileContext) -> str:
        if ctx.scope is None or ctx.scope.root is not self.rels[0].model:
            raise ValueError(f"{self!r} is not a path from the statement's model")
        alias: str | None = None
        for i, rel in enumerate(self.rels):
            alias = ctx.scope.join_relationship(self.path[: i + 1], rel, alias)
        assert alias is not None
        return alias

    def _key(self, ctx: CompileContext) -> Hashable:
        if ctx.scope is not None and ctx.scope.distinct:
            # SELECT DISTINCT (a join to a collection) can only be ordered by what it
            # selects: PostgreSQL refuses it (42P10), so it is refused on every backend
            raise ValueError(
                f"order_by({self!r}) cannot be combined with a lookup or joined load "
                "through a collection (the rows are then SELECT DISTINCT, which can only "
                "be ordered by the model's own columns)"
            )
        return ctx.column_key(self.column, self._alias(ctx))

    def _sql(self, ctx: CompileContext) -> str:
        sql = ctx.column_sql(self.column, self._alias(ctx))
        return ctx.dialect.compared(sql, self.column.info)


def related_column(model: type[Any], name: str, what: str) -> RelatedColumn:
    """The column ``name`` (``author__name``, ``author__country__code``, ``author__pk``)
    reached from ``model`` through relationships that each lead to one row (many-to-one
    or one-to-one). ``ValueError`` naming the problem for an unknown name, a collection
    on the way (its rows would repeat each row of ``model``) or a path that does not end
    in a column."""
    parts = name.split("__")
    rels: list[Any] = []
    current = model
    for i, part in enumerate(parts):
        if not _FIELD_NAME.match(part):
            raise ValueError(f"{what}: invalid field name {part!r} in {name!r}")
        columns = current.__columns__
        relationships = getattr(current, "__relationships__", {})
        last = i == len(parts) - 1
        if part == "pk":
            part = pk_field(current, f"{what}: {name!r}")
        if part in columns and last and rels:
            return RelatedColumn(tuple(rels), columns[part].expr)
        if part in relationships and not last:
            rel = relationships[part]
            if rel.uselist:
                raise ValueError(
                    f"{what}: {name!r} goes through {current.__name__}.{part}, a collection "
                    "(each row would repeat once per related row); only many-to-one and "
                    "one-to-one relationships can be followed"
                )
            rels.append(rel)
            current = rel.target
            continue
        if part in relationships:
            raise ValueError(
                f"{what}: {name!r} names a relationship, not a field: add a field name"
            )
        if part in columns:
            raise ValueError(f"{what}: {name!r}: {part!r} is a column, not a relationship")
        known = ", ".join([*columns, *relationships])
        raise ValueError(
            f"{what}: unknown field {part!r} on {current.__name__} in {name!r}; "
            f"known fields: {known}"
        )
    raise AssertionError(name)  # pragma: no cover - the loop returns or raises
