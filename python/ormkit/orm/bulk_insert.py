"""The INSERT of many new objects of one *plain* model, checked and gathered column-wise.

A plain model has no relationships, no JSON columns, no ``before_insert``/``after_insert``
hooks and ``Base``'s own insert/validate methods. For objects of such a model whose
values need no default applied and no per-value check beyond what the column's type
says (the common case: what the constructor and the caller set), every step of an
insert is a whole-column operation done by C loops: reading the values
(``itemgetter``), checking them (the set of value types per column against the types
the column accepts as they are, tzinfo of datetimes, lengths), and building the flat
parameter list. RETURNING brings back only what the database fills (generated keys,
server defaults), which is set on the objects.

Anything else — a value of another type, None where a default or a check applies, a
row shape that differs from the others, an object the session already tracks —
makes :func:`prepare` return None, and the unit of work's general path (per-object
defaults, validation naming the model and field, relationship planning) runs instead.
So this path never raises for a value: it only declines.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from itertools import chain
from operator import attrgetter, itemgetter
from typing import Any

from ormkit.dialects.base import get_dialect

__all__ = ["ColumnSpec", "ModelSpec", "Prepared", "model_spec", "prepare"]

_NONE = type(None)
_TZINFO = attrgetter("tzinfo")
_UTCOFFSET = datetime.utcoffset


class ColumnSpec:
    """What one column accepts without a per-value check."""

    __slots__ = (
        "aware",
        "generated",
        "has_default",
        "key",
        "max_length",
        "naive",
        "none",
        "nullable",
        "plain",
    )

    def __init__(self, info: Any) -> None:
        ctype = info.type
        self.key: str = info.key
        self.plain: frozenset[type] = ctype.plain_types
        self.naive: bool = ctype.kind == "datetime"
        self.aware: bool = ctype.kind == "datetime_tz"
        self.max_length: int | None = ctype.max_length
        self.nullable: bool = info.nullable
        self.has_default: bool = info.default is not None
        self.generated: bool = info.generated
        #: what a None value means: the column is left out (the database fills it),
        #: written as NULL, or the general path decides (a default, a missing value)
        self.none: bool | None
        if self.has_default:
            self.none = False
        elif self.generated:
            self.none = None
        else:
            self.none = self.nullable

    def accepts(self, values: Sequence[Any]) -> bool | None:
        """True when every value fits as it is, None when the column is to be left out
        (all None and the database fills it), False when the general path must decide."""
        types = set(map(type, values))
        if _NONE in types:
            if self.generated and not self.has_default:
                return None if len(types) == 1 else False
            if self.has_default or not self.nullable:
                return False
            types.discard(_NONE)
            if not types:
                return True
            values = [v for v in values if v is not None]
        if types <= self.plain:
            return True
        if types != {datetime}:
            if self.max_length is not None and (types == {str} or types == {bytes}):
                return max(map(len, values)) <= self.max_length
            return False
        if self.naive:
            return set(map(_TZINFO, values)) == {None}
        if self.aware:
            return None not in set(map(_UTCOFFSET, values))
        return False


class ModelSpec:
    """Per model (cached on the class): whether the fast path applies, and its columns."""

    __slots__ = ("autoincrement", "columns", "getter", "keys", "pk")

    def __init__(self, model: type[Any]) -> None:
        columns = model.__columns__
        self.keys: tuple[str, ...] = tuple(columns)
        self.getter = itemgetter(*self.keys)
        self.columns = tuple(ColumnSpec(info) for info in columns.values())
        pk = model.__primary_key__
        self.pk: str = pk if isinstance(pk, str) else ""
        self.autoincrement: bool = bool(self.pk) and bool(columns[self.pk].autoincrement)


def model_spec(model: type[Any]) -> ModelSpec | None:
    """The spec of ``model``, or None when its objects never take this path."""
    found: ModelSpec | bool | None = model.__dict__.get("_ormkit_bulk_spec", False)
    if found is not False:
        return found if isinstance(found, ModelSpec) else None
    spec: ModelSpec | None = None
    if _eligible(model):
        spec = ModelSpec(model)
    model._ormkit_bulk_spec = spec
    return spec


def _eligible(model: type[Any]) -> bool:
    from ormkit.orm.unit_of_work import plain_insert_model

    if not plain_insert_model(model):
        return False
    if not isinstance(model.__primary_key__, str) or len(model.__columns__) < 1:
        return False
    for hook in ("before_insert", "after_insert"):
        if getattr(model, hook, None) is not None:
            return False
    for info in model.__columns__.values():
        ctype = info.type
        if ctype.kind in ("json", "enum"):
            return False
        checked = ctype.kind in ("datetime", "datetime_tz") or ctype.max_length is not None
        if not ctype.plain_types and not checked:
            return False
    return True


class Prepared:
    """Objects checked for a fast INSERT: their ``__dict__``s, the columns written, the
    flat parameter values (row by row) and the columns RETURNING brings back."""

    __slots__ = ("columns", "dicts", "model", "objs", "params", "returning", "spec")

    def __init__(
        self,
        model: type[Any],
        spec: ModelSpec,
        objs: list[Any],
        dicts: list[dict[str, Any]],
        columns: tuple[str, ...],
        params: list[Any],
        returning: tuple[str, ...],
    ) -> None:
        self.model = model
        self.spec = spec
        self.objs = objs
        self.dicts = dicts
        self.columns = columns
        self.params = params
        self.returning = returning

    def rows_per_statement(self, dialect: str) -> int:
        """How many rows one statement takes under the bind-parameter limit."""
        return get_dialect(dialect).rows_per_statement(len(self.columns)) if self.columns else 1


def prepare(objs: list[Any], states: dict[int, Any]) -> Prepared | None:
    """Check ``objs`` for the fast path (see the module doc); None: take the general one."""
    model = type(objs[0])
    spec = model_spec(model)
    if spec is None:
        return None
    ncols = len(spec.keys)
    if len(objs) == 1:
        dicts = [objs[0].__dict__]
        if len(dicts[0]) != ncols or (states and id(objs[0]) in states):
            return None
    else:
        if len(set(map(type, objs))) != 1:
            return None
        if states and not states.keys().isdisjoint(map(id, objs)):
            return None  # tracked already: the general path says what that means
        dicts = [obj.__dict__ for obj in objs]
        if set(map(len, dicts)) != {ncols}:
            return None  # a relationship value, a missing column or an attribute of its own
    try:
        if ncols == 1:
            table: list[Sequence[Any]] = [[d[spec.keys[0]] for d in dicts]]
        elif len(dicts) == 1:
            table = [spec.getter(dicts[0])]
        else:
            table = list(zip(*map(spec.getter, dicts), strict=True))
    except KeyError:
        return None
    checked = _check_one(spec, table[0]) if len(dicts) == 1 else _check(spec, table, dicts)
    if checked is None:
        return None
    columns, omitted, params = checked
    pk = spec.pk
    if pk in omitted and not spec.autoincrement:
        return None  # a key from a server default: match rows the general way
    if not columns:
        return None  # DEFAULT VALUES rows: one statement each, the general way
    # the key comes back first, to match rows on (unless it is not needed at all)
    returning = (pk, *omitted) if omitted and pk not in omitted else omitted
    return Prepared(model, spec, list(objs), dicts, columns, params, returning)


_Checked = tuple[tuple[str, ...], tuple[str, ...], list[Any]]


def _check(
    spec: ModelSpec, table: list[Sequence[Any]], dicts: list[dict[str, Any]]
) -> _Checked | None:
    """Columns written, columns left out and the flat parameters, column by column."""
    written: list[str] = []
    omitted: list[str] = []
    for column, values in zip(spec.columns, table, strict=True):
        ok = column.accepts(values)
        if ok is False:
            return None
        (written if ok else omitted).append(column.key)
    if len(written) == len(spec.keys):
        params = list(chain.from_iterable(zip(*table, strict=True)))
    elif len(written) == 1:
        params = list(table[spec.keys.index(written[0])])
    else:
        params = list(chain.from_iterable(map(itemgetter(*written), dicts)))
    return tuple(written), tuple(omitted), params


def _check_one(spec: ModelSpec, values: Sequence[Any]) -> _Checked | None:
    """:func:`_check` for one object, value by value."""
    written: list[str] = []
    omitted: list[str] = []
    params: list[Any] = []
    for column, value in zip(spec.columns, values, strict=True):
        if value is None:
            action = column.none
            if action is None:
                omitted.append(column.key)
                continue
            if not action:
                return None
        elif type(value) not in column.plain and not column.accepts((value,)):
            return None
        written.append(column.key)
        params.append(value)
    return tuple(written), tuple(omitted), params
