"""The rows of ``session.execute``: tuples whose items can also be reached by name.

A :class:`Row` is a ``tuple`` (indexing, unpacking, ``==`` with plain tuples and hashing
behave as for the tuple of its values) whose class knows the names of its items, as
SQLAlchemy 2.0's ``Row`` does: ``row.name``, ``row.User`` (a model item is named by its
class), ``row._mapping["name"]``, ``row._asdict()``, ``row._fields``, ``row._tuple()``.

Which names are attributes: a name is ``row.<name>`` when it is a Python identifier,
appears once among the row's names, and is not already an attribute of ``tuple`` or
:class:`Row` (``count``, ``index``, ``_fields``, ``_mapping``, ``_asdict``, ``_tuple``,
``_t``, dunder names). Every name that appears once, whatever it is (``"count"``,
``"a b"``, ``""`` for an unlabelled expression), is a key of ``row._mapping``. A name
that appears more than once (``select(User.id, Post.id)``) is ambiguous: reaching it
by name raises (``AttributeError`` / ``KeyError``) and says which positions share it;
label one of them (``Post.id.label("post_id")``) or use the index.

One ``Row`` subclass is made per distinct tuple of names (cached), with one
``property(itemgetter(i))`` per attribute name, so making a row costs one tuple
allocation and reading ``row.name`` is a C-level item lookup.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from operator import itemgetter
from typing import Any, ClassVar

__all__ = ["Row", "RowMapping", "row_class"]

#: position recorded for a name that several items share
_AMBIGUOUS = -1


class Row(tuple[Any, ...]):
    """A result row: a tuple whose items are also reachable by name (see the module
    docstring for which names are attributes)."""

    __slots__ = ()

    #: the items' names, position for position (``Result.keys()``)
    _fields: ClassVar[tuple[str, ...]] = ()
    #: name -> position, ``_AMBIGUOUS`` for a name several items share
    _row_index: ClassVar[dict[str, int]] = {}
    #: the distinct names, in order of first appearance (``_mapping``'s keys)
    _row_keys: ClassVar[tuple[str, ...]] = ()
    #: per position, what ``repr`` puts before the value (``"name="`` or nothing)
    _row_labels: ClassVar[tuple[str, ...]] = ()

    @property
    def _mapping(self) -> RowMapping:
        """A read-only mapping of the row's names to its values."""
        return RowMapping(self)

    @property
    def _t(self) -> Row:
        """The row itself (SQLAlchemy's typed-tuple accessor)."""
        return self

    def _tuple(self) -> tuple[Any, ...]:
        """The values as a plain tuple."""
        return tuple(self)

    def _asdict(self) -> dict[str, Any]:
        """A new dict of the row's names to its values (``KeyError`` if a name is
        ambiguous)."""
        cls = type(self)
        if len(cls._row_keys) == len(cls._fields):
            return dict(zip(cls._fields, self, strict=True))
        return {name: _lookup(self, name) for name in cls._row_keys}

    def __getattr__(self, name: str) -> Any:
        # reached only when ordinary lookup fails: the name is no attribute of this row
        if name.startswith("__"):  # a protocol probe (copy, pickle, ...): no message
            raise AttributeError(name)
        raise AttributeError(_no_attribute(type(self), name), name=name, obj=self)

    def __repr__(self) -> str:
        labels = type(self)._row_labels
        if not labels:
            return f"Row{tuple.__repr__(self)}"
        return "Row(" + ", ".join(f"{lb}{v!r}" for lb, v in zip(labels, self, strict=True)) + ")"

    def __reduce__(self) -> tuple[Any, ...]:
        # the classes are made at run time: pickle/copy rebuild by names and values
        return (_rebuild, (type(self)._fields, tuple(self)))


class RowMapping(Mapping[str, Any]):
    """``row._mapping``: the row's values by name, read-only. Equal to a dict with the
    same items; ``repr`` looks like one."""

    __slots__ = ("_row",)

    def __init__(self, row: Row) -> None:
        self._row = row

    def __getitem__(self, key: str) -> Any:
        return _lookup(self._row, key)

    def __contains__(self, key: object) -> bool:
        return key in type(self._row)._row_index

    def __iter__(self) -> Iterator[str]:
        return iter(type(self._row)._row_keys)

    def __len__(self) -> int:
        return len(type(self._row)._row_keys)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, RowMapping):
            other = other._row._asdict()
        if isinstance(other, dict):
            return self._row._asdict() == other
        return super().__eq__(other)

    __hash__ = None  # type: ignore[assignment]  # as a dict's

    def __repr__(self) -> str:
        row = self._row
        return "{" + ", ".join(f"{k!r}: {v!r}" for k, v in zip(row._fields, row, strict=True)) + "}"


def _lookup(row: Row, key: str) -> Any:
    """The value named ``key`` (``KeyError`` for an unknown or ambiguous name)."""
    cls = type(row)
    i = cls._row_index.get(key) if isinstance(key, str) else None
    if i is None:
        hint = " (use row[i] for a position)" if isinstance(key, int) else ""
        raise KeyError(f"{key!r} is no column of this row{hint}; its names: {_listing(cls)}")
    if i == _AMBIGUOUS:
        raise KeyError(_ambiguous(cls, key))
    return row[i]


def _listing(cls: type[Row]) -> str:
    return ", ".join(repr(n) for n in cls._fields) or "none"


def _ambiguous(cls: type[Row], name: str) -> str:
    where = [i for i, n in enumerate(cls._fields) if n == name]
    return (
        f"{name!r} is ambiguous: it names the items at positions {where} of this row; "
        f"label one of them (e.g. Model.{name}.label('other_{name}')) or use row[i]"
    )


def _no_attribute(cls: type[Row], name: str) -> str:
    index = cls._row_index.get(name)
    if index == _AMBIGUOUS:
        return _ambiguous(cls, name)
    if index is not None:
        return f"{name!r} is not an attribute name: reach it as row._mapping[{name!r}]"
    return f"row has no field {name!r}; its names: {_listing(cls)}"


def _make_class(names: tuple[str, ...]) -> type[Row]:
    index: dict[str, int] = {}
    for i, name in enumerate(names):
        index[name] = _AMBIGUOUS if name in index else i
    ns: dict[str, Any] = {
        "__slots__": (),
        "_fields": names,
        "_row_index": index,
        "_row_keys": tuple(index),
        "_row_labels": tuple(
            f"{n}=" if n.isidentifier() else f"{n!r}=" if n else "" for n in names
        ),
    }
    for name, i in index.items():
        if i != _AMBIGUOUS and name.isidentifier() and not hasattr(Row, name):
            ns[name] = property(itemgetter(i), doc=f"Item {i} of the row.")
    return type("Row", (Row,), ns)


#: Row classes by names; a few hundred distinct shapes at most in practice
_CLASSES: dict[tuple[str, ...], type[Row]] = {}
_CACHE_LIMIT = 512


def row_class(names: Sequence[str]) -> type[Row]:
    """The :class:`Row` subclass for items named ``names`` (made once, then cached)."""
    key = tuple(names)
    cls = _CLASSES.get(key)
    if cls is None:
        cls = _make_class(key)
        if len(_CLASSES) >= _CACHE_LIMIT:  # forget the oldest shape
            _CLASSES.pop(next(iter(_CLASSES)), None)
        _CLASSES[key] = cls
    return cls


def _rebuild(names: tuple[str, ...], values: tuple[Any, ...]) -> Row:
    return row_class(names)(values)
