"""The INSERT of many new objects of one *plain* model, checked and gathered in one pass.

A plain model has no relationships, no JSON columns, no ``before_insert``/``after_insert``
hooks and ``Base``'s own insert/validate methods. For objects of such a model whose
values need no default applied and no per-value check beyond what the column's type
says (the common case: what the constructor and the caller set), every step of an
insert is done in one pass in Rust (``_ormkit.gather_insert_values``): reading the
values from each object (as ``object.__getattribute__`` does: attributes kept inline
stay there, no ``__dict__`` is made), checking each against the types its column
accepts as they are (exact types, tzinfo of datetimes, lengths) and building the flat
parameter list. RETURNING brings back only what the database fills (generated keys,
server defaults), which is set on the objects (``_ormkit.set_returned``). The objects'
snapshots are made from the parameters and what came back
(``_ormkit.written_snapshots``), when the session registers them.

Anything else — a value of another type, None where a default or a check applies, a
row shape that differs from the others, an object the session already tracks —
makes :func:`prepare` return None, and the unit of work's general path (per-object
defaults, validation naming the model and field, relationship planning) runs instead.
So this path never raises for a value: it only declines.
"""

from __future__ import annotations

from typing import Any

from ormkit._ormkit import InsertRules, gather_insert_values
from ormkit.dialects.base import get_dialect

__all__ = ["ModelSpec", "Prepared", "Shape", "column_rule", "model_spec", "prepare"]

#: the columns written, the columns RETURNING brings back, and each column's place in a
#: snapshot made from them (see ``_ormkit.written_snapshots``)
Shape = tuple[tuple[str, ...], tuple[str, ...], tuple[tuple[str, int], ...]]


#: the value types a length-limited column takes (then checked for length)
_LIMITED: dict[str, tuple[type, ...]] = {"str": (str,), "bytes": (bytes,)}
_ZONES = {"datetime": 1, "datetime_tz": 2}


def column_rule(info: Any) -> tuple[str, tuple[type, ...], bool | None, int, int | None]:
    """What ``gather_insert_values`` needs to know of one column: its key, the value
    types it takes as they are, what a None means (None: left out, the database fills
    it; True: written as NULL; False: the general path decides — a default or a missing
    value), its datetime rule (0 none, 1 naive, 2 aware) and its length limit."""
    ctype = info.type
    limit: int | None = ctype.max_length
    types = tuple(ctype.plain_types) if limit is None else _LIMITED.get(ctype.kind, ())
    none: bool | None
    if info.default is not None:
        none = False
    elif info.generated:
        none = None
    else:
        none = bool(info.nullable)
    return (info.key, types, none, _ZONES.get(ctype.kind, 0), limit)


class ModelSpec:
    """Per model (cached on the class): whether the fast path applies, and its columns."""

    __slots__ = ("autoincrement", "keys", "pk", "rules", "shapes")

    def __init__(self, model: type[Any]) -> None:
        columns = model.__columns__
        self.keys: tuple[str, ...] = tuple(columns)
        self.rules = InsertRules(tuple(column_rule(info) for info in columns.values()))
        pk = model.__primary_key__
        self.pk: str = pk if isinstance(pk, str) else ""
        self.autoincrement: bool = bool(self.pk) and bool(columns[self.pk].autoincrement)
        self.shapes: dict[tuple[bool, ...], Shape | None] = {}

    def shape(self, omits: tuple[bool, ...]) -> Shape | None:
        """The columns written, the columns RETURNING brings back and the snapshot's
        layout when the columns flagged in ``omits`` are left out; None when the general
        path must write it."""
        try:
            return self.shapes[omits]
        except KeyError:
            pass
        columns = tuple(k for k, left_out in zip(self.keys, omits, strict=True) if not left_out)
        omitted = tuple(k for k, left_out in zip(self.keys, omits, strict=True) if left_out)
        pk = self.pk
        found: Shape | None = None
        # not for a key from a server default (match rows the general way), nor for
        # DEFAULT VALUES rows (one statement each)
        if columns and (pk not in omitted or self.autoincrement):
            # the key comes back first, to match rows on (unless it is not needed)
            returning = (pk, *omitted) if omitted and pk not in omitted else omitted
            layout = tuple(
                (key, columns.index(key) if key in columns else -returning.index(key) - 1)
                for key in self.keys
            )
            found = (columns, returning, layout)
        self.shapes[omits] = found
        return found


def model_spec(model: type[Any]) -> ModelSpec | None:
    """The spec of ``model``, or None when its objects never take this path."""
    if not isinstance(model.__dict__.get("__columns__"), dict):
        return None  # not a model: the general path says so
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
        _key, types, _none, zone, _limit = column_rule(info)
        if info.type.kind in ("json", "enum") or not (types or zone):
            return False
    return True


class Prepared:
    """Objects checked for a fast INSERT: the columns written, the flat parameter values
    (row by row), the columns RETURNING brings back and the snapshots' layout."""

    __slots__ = ("columns", "layout", "model", "objs", "params", "returning", "spec")

    def __init__(
        self, model: type[Any], spec: ModelSpec, objs: list[Any], params: list[Any], shape: Shape
    ) -> None:
        self.model = model
        self.spec = spec
        self.objs = objs
        self.params = params
        self.columns, self.returning, self.layout = shape

    def rows_per_statement(self, dialect: str) -> int:
        """How many rows one statement takes under the bind-parameter limit."""
        return get_dialect(dialect).rows_per_statement(len(self.columns)) if self.columns else 1


def prepare(objs: list[Any], states: dict[int, Any]) -> Prepared | None:
    """Check ``objs`` for the fast path (see the module doc); None: take the general one."""
    model = type(objs[0])
    spec = model_spec(model)
    if spec is None:
        return None
    if len(objs) == 1:
        if states and id(objs[0]) in states:
            return None  # tracked already: the general path says what that means
    elif states and not states.keys().isdisjoint(map(id, objs)):
        return None
    objs = list(objs)
    gathered = gather_insert_values(objs, spec.rules)  # None for objects of several classes
    if gathered is None:
        return None
    params, omits = gathered
    shape = spec.shape(tuple(omits))
    if shape is None:
        return None
    return Prepared(model, spec, objs, params, shape)
