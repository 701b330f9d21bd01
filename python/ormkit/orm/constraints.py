"""Table-level constraints and indexes declared in a model's ``__table_args__``.

As in SQLAlchemy's declarative mapping::

    class Membership(Base):
        __table_args__ = (
            UniqueConstraint("team_id", "user_id"),
            Index("ix_memberships_joined", "team_id", "joined_at"),
            CheckConstraint("role IN ('owner', 'member')", name="ck_memberships_role"),
        )

``__table_args__`` is a tuple of :class:`UniqueConstraint`, :class:`Index` and
:class:`CheckConstraint`, optionally ending with a dict of table options, or that dict
alone; it may also be a classmethod (or a function taking the class) returning one,
which can then name columns as ``cls.user_id``. Columns are given by attribute name,
by database column name, as the ``mapped_column()`` object from the class body, or as
the model's class attribute. Everything is checked when the class is defined.

A constraint or index without a name gets one built from the table and column names
(``uq_<table>_<col>_<col>``, ``ix_<table>_<col>_<col>``, ``ck_<table>_<col>``, like the
``ix_<table>_<col>`` of ``mapped_column(index=True)``), cut to PostgreSQL's 63 bytes
with a hash suffix when longer. The mapped class keeps the results, with final names
and attribute names, in ``__table_constraints__`` and ``__indexes__``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from ormkit.orm.fields import ColumnInfo, MappedColumn
from ormkit.sql.expressions import Column, TextClause

__all__ = [
    "MAX_NAME_BYTES",
    "TABLE_OPTIONS",
    "CheckConstraint",
    "Index",
    "TableArgs",
    "UniqueConstraint",
    "bind_table_args",
    "bound_name",
    "generated_name",
]

#: the longest constraint or index name PostgreSQL keeps (longer ones are cut)
MAX_NAME_BYTES = 63

#: the table options ``__table_args__`` accepts in its dict
TABLE_OPTIONS = frozenset({"info"})

_OPTION_HINTS = {
    "schema": "ormkit uses the connection's current schema",
    "comment": "table comments are not supported",
    "extend_existing": "redefining a model (same module and name) already replaces it",
    "keep_existing": "redefining a model (same module and name) already replaces it",
    "sqlite_autoincrement": "ormkit creates INTEGER PRIMARY KEY rowid keys",
}


def _check_name(name: object, what: str) -> None:
    if name is None:
        return
    if not isinstance(name, str):
        raise TypeError(f"{what}: name must be a str or None, not {type(name).__name__}")
    if not name:
        raise ValueError(f"{what}: name cannot be empty")
    if len(name.encode()) > MAX_NAME_BYTES:
        raise ValueError(
            f"{what}: name {name!r} is longer than {MAX_NAME_BYTES} bytes, which PostgreSQL "
            "would cut short"
        )


def _check_columns(columns: tuple[Any, ...], what: str) -> None:
    if not columns:
        raise TypeError(f"{what} needs at least one column")
    for col in columns:
        if not isinstance(col, str | Column | MappedColumn):
            raise TypeError(
                f"{what}: a column is given by name (str), as the model's attribute or as "
                f"its mapped_column(), not {col!r}"
            )


def _ref_repr(col: Any) -> str:
    return repr(col) if isinstance(col, str) else f"<{col!r}>"


class UniqueConstraint:
    """``UNIQUE (col, col, ...)``: no two rows may hold the same combination of values.

    ``name`` defaults to ``uq_<table>_<col>_<col>``. Rows where one of the columns is
    NULL never conflict (SQL's rule on both backends).
    """

    __slots__ = ("columns", "name")

    def __init__(
        self, *columns: str | Column[Any] | MappedColumn[Any], name: str | None = None
    ) -> None:
        _check_columns(columns, "UniqueConstraint()")
        _check_name(name, "UniqueConstraint()")
        #: the columns: as given, and attribute names once bound to a model
        self.columns: tuple[Any, ...] = columns
        #: the constraint name: as given, and the final name once bound to a model
        self.name: str | None = name

    def __repr__(self) -> str:
        cols = ", ".join(_ref_repr(c) for c in self.columns)
        return f"UniqueConstraint({cols}, name={self.name!r})"


class Index:
    """``CREATE [UNIQUE] INDEX name ON table (col, col, ...)``.

    The name comes first, as in SQLAlchemy; None gives ``ix_<table>_<col>_<col>``.
    """

    __slots__ = ("columns", "name", "unique")

    def __init__(
        self,
        name: str | None,
        *columns: str | Column[Any] | MappedColumn[Any],
        unique: bool = False,
    ) -> None:
        _check_name(name, "Index()")
        _check_columns(columns, "Index()")
        if not isinstance(unique, bool):
            raise TypeError(f"Index(): unique must be a bool, not {type(unique).__name__}")
        #: the index name: as given, and the final name once bound to a model
        self.name: str | None = name
        #: the columns: as given, and attribute names once bound to a model
        self.columns: tuple[Any, ...] = columns
        self.unique = unique

    def __repr__(self) -> str:
        cols = "".join(", " + _ref_repr(c) for c in self.columns)
        return f"Index({self.name!r}{cols}, unique={self.unique!r})"


class CheckConstraint:
    """``CHECK (sqltext)``: every row must satisfy a SQL condition.

    ``sqltext`` is SQL (a str or ``text()``) written into the DDL as it is, so it must
    suit every backend the model runs on; columns are named there by their database
    names. ``name`` defaults to ``ck_<table>_<columns the condition mentions>``
    (``ck_<table>`` when it mentions none, with ``_2``, ``_3`` … when taken).
    """

    __slots__ = ("name", "sqltext")

    def __init__(self, sqltext: str | TextClause, name: str | None = None) -> None:
        if isinstance(sqltext, TextClause):
            sqltext = sqltext.text
        if not isinstance(sqltext, str):
            raise TypeError(
                f"CheckConstraint(): the condition must be SQL text (a str or text()), "
                f"not {sqltext!r}"
            )
        if not sqltext.strip():
            raise ValueError("CheckConstraint(): the condition cannot be empty")
        _check_name(name, "CheckConstraint()")
        #: the condition's SQL text
        self.sqltext: str = sqltext
        #: the constraint name: as given, and the final name once bound to a model
        self.name: str | None = name

    def __repr__(self) -> str:
        return f"CheckConstraint({self.sqltext!r}, name={self.name!r})"


#: what ``__table_args__`` can hold (besides the trailing dict of options)
TableArgs = UniqueConstraint | Index | CheckConstraint


def bound_name(item: TableArgs) -> str:
    """The final name of a constraint or index taken from a model's
    ``__table_constraints__`` or ``__indexes__`` (ValueError for one not bound yet)."""
    if item.name is None:
        raise ValueError(f"{item!r} is not bound to a model: it has no name yet")
    return item.name


def generated_name(prefix: str, table: str, parts: Sequence[str]) -> str:
    """``<prefix>_<table>_<part>_<part>``, cut to :data:`MAX_NAME_BYTES` bytes by
    keeping the start and adding 8 hex digits of its SHA-1 when longer (so the name the
    database keeps is the name the models give)."""
    name = "_".join((prefix, table, *parts))
    encoded = name.encode()
    if len(encoded) <= MAX_NAME_BYTES:
        return name
    digest = hashlib.sha1(encoded).hexdigest()[:8]
    head = encoded[: MAX_NAME_BYTES - 9].decode(errors="ignore")
    return f"{head}_{digest}"


def _raw_table_args(cls: type) -> Any:
    """``__table_args__`` as declared on the class or inherited, called when it is a
    classmethod or a function (which then sees the mapped columns as ``cls.x``)."""
    for klass in cls.__mro__:
        if "__table_args__" not in klass.__dict__:
            continue
        raw = klass.__dict__["__table_args__"]
        if isinstance(raw, classmethod | staticmethod):
            return cls.__table_args__()  # type: ignore[attr-defined]
        if callable(raw) and not isinstance(raw, type):
            return raw(cls)
        return raw
    return None


def _split(owner: str, raw: Any) -> tuple[list[Any], Mapping[str, Any]]:
    if raw is None:
        return [], {}
    if isinstance(raw, Mapping):
        return [], raw
    if isinstance(raw, list):
        raise TypeError(f"{owner}.__table_args__ must be a tuple or a dict, not a list")
    if not isinstance(raw, tuple):
        raise TypeError(
            f"{owner}.__table_args__ must be a tuple of UniqueConstraint, Index and "
            f"CheckConstraint (optionally ending with a dict of options) or a dict, not "
            f"{type(raw).__name__}"
        )
    items = list(raw)
    options: Mapping[str, Any] = {}
    if items and isinstance(items[-1], Mapping):
        options = items.pop()
    for pos, item in enumerate(items):
        if isinstance(item, UniqueConstraint | Index | CheckConstraint):
            continue
        kind = type(item).__name__
        if isinstance(item, Mapping):
            why = "a dict of options can only come last"
        elif kind in ("UniqueConstraint", "Index", "CheckConstraint"):
            why = f"this {kind} is not ormkit's: import it from ormkit"
        elif kind in ("ForeignKeyConstraint", "PrimaryKeyConstraint"):
            why = "declare keys with mapped_column(ForeignKey(...)) and __primary_key__"
        else:
            why = "it takes UniqueConstraint, Index and CheckConstraint"
        raise TypeError(f"{owner}.__table_args__[{pos}] is {item!r}: {why}")
    return items, options


def _options(owner: str, options: Mapping[str, Any]) -> dict[str, Any]:
    for key in options:
        if key not in TABLE_OPTIONS:
            hint = _OPTION_HINTS.get(key, "") if isinstance(key, str) else ""
            supported = ", ".join(repr(k) for k in sorted(TABLE_OPTIONS))
            raise TypeError(
                f"{owner}.__table_args__: unsupported table option {key!r}"
                + (f" ({hint})" if hint else "")
                + f"; supported: {supported}"
            )
    info = options.get("info", {})
    if not isinstance(info, Mapping):
        raise TypeError(f"{owner}.__table_args__: 'info' must be a dict")
    return dict(info)


class _Binder:
    """Resolves the items of one model's ``__table_args__``."""

    def __init__(
        self,
        cls: type,
        columns: Mapping[str, ColumnInfo],
        declared: Mapping[str, Any],
    ) -> None:
        self.cls = cls
        self.owner = f"{cls.__name__}.__table_args__"
        self.table: str = cls.__tablename__  # type: ignore[attr-defined]
        self.columns = columns
        self.by_name = {info.name: key for key, info in columns.items()}
        self.by_object = {id(v): k for k, v in declared.items() if isinstance(v, MappedColumn)}

    def key(self, ref: Any, what: str) -> str:
        if isinstance(ref, str):
            if ref in self.columns:
                return ref
            if ref in self.by_name:
                return self.by_name[ref]
            known = ", ".join(self.columns)
            raise TypeError(
                f"{self.owner}: {what} names unknown column {ref!r} of {self.cls.__name__} "
                f"(columns: {known})"
            )
        if isinstance(ref, MappedColumn):
            found = self.by_object.get(id(ref))
            if found is None:
                raise TypeError(
                    f"{self.owner}: {what} is given a mapped_column() that is not a column "
                    f"of {self.cls.__name__}"
                )
            return found
        assert isinstance(ref, Column)
        if ref.model is not self.cls or ref.key not in self.columns:
            raise TypeError(
                f"{self.owner}: {what} is given {ref!r}, a column of another model "
                f"({ref.model.__name__}), not of {self.cls.__name__}"
            )
        return ref.key

    def keys(self, refs: tuple[Any, ...], what: str) -> tuple[str, ...]:
        keys = tuple(self.key(ref, what) for ref in refs)
        seen: set[str] = set()
        for k in keys:
            if k in seen:
                raise TypeError(f"{self.owner}: {what} names column {k!r} twice")
            seen.add(k)
        return keys

    def db_names(self, keys: Sequence[str]) -> list[str]:
        return [self.columns[k].name for k in keys]

    def check_parts(self, sqltext: str) -> list[str]:
        from ormkit.schema.sqlite_sql import tokenize

        names = {info.name.lower(): info.name for info in self.columns.values()}
        out: list[str] = []
        for tok in tokenize(sqltext):
            if tok.kind not in ("word", "quoted"):
                continue
            name = names.get(tok.name.lower())
            if name is not None and name not in out:
                out.append(name)
        return out


def bind_table_args(
    cls: type,
    columns: Mapping[str, ColumnInfo],
    declared: Mapping[str, Any],
) -> tuple[tuple[UniqueConstraint | CheckConstraint, ...], tuple[Index, ...], dict[str, Any]]:
    """The constraints, indexes and ``info`` option of ``cls``'s ``__table_args__``,
    as new objects with final names and attribute names (the declared ones are left as
    they are: a mixin's may serve several models).

    ``columns`` are the mapped columns by attribute name, ``declared`` the values given
    in the class bodies by attribute name (to recognise ``mapped_column()`` objects).
    Raises TypeError or ValueError naming the model for anything wrong.
    """
    owner = f"{cls.__name__}.__table_args__"
    items, options = _split(cls.__name__, _raw_table_args(cls))
    info = _options(cls.__name__, options)
    b = _Binder(cls, columns, declared)
    constraints: list[UniqueConstraint | CheckConstraint] = []
    indexes: list[Index] = []
    pending_checks: list[tuple[CheckConstraint, CheckConstraint]] = []
    for item in items:
        if isinstance(item, UniqueConstraint):
            keys = b.keys(item.columns, "UniqueConstraint")
            bound = UniqueConstraint(*keys, name=item.name)
            bound.name = item.name or generated_name("uq", b.table, b.db_names(keys))
            constraints.append(bound)
        elif isinstance(item, Index):
            keys = b.keys(item.columns, f"Index {item.name!r}" if item.name else "Index")
            name = item.name or generated_name("ix", b.table, b.db_names(keys))
            indexes.append(Index(name, *keys, unique=item.unique))
        else:
            bound_check = CheckConstraint(item.sqltext, name=item.name)
            constraints.append(bound_check)
            if item.name is None:
                pending_checks.append((item, bound_check))
    used: dict[str, str] = {}

    def claim(name: str, what: str) -> None:
        if name in used:
            raise TypeError(f"{owner}: the name {name!r} is used by {used[name]} and by {what}")
        used[name] = what

    from ormkit.sql.ddl import index_name

    for key, col in columns.items():
        if col.index:
            claim(index_name(b.table, (col.name,)), f"the index of column {key!r}")
    for con in constraints:
        if con.name is not None:
            claim(con.name, repr(con))
    for idx in indexes:
        claim(idx.name or "", repr(idx))
    for item, bound_check in pending_checks:
        base = generated_name("ck", b.table, b.check_parts(item.sqltext))
        name, n = base, 1
        while name in used:
            n += 1
            name = generated_name("ck", b.table, [*b.check_parts(item.sqltext), str(n)])
        bound_check.name = name
        claim(name, repr(bound_check))
    return tuple(constraints), tuple(indexes), info
