"""Declarative models: ``Base``, its registry and the metaclass that maps classes.

A class deriving from :class:`Base` (or from a base made by :func:`declarative_base`)
becomes a model when it is defined: each annotated attribute becomes a column
(``Mapped[T]``, with or without ``mapped_column()``), each ``relationship()`` a
relationship, and the class gets ``__tablename__``, ``__columns__``,
``__primary_key__`` and ``__relationships__``, plus ``__table_constraints__`` and
``__indexes__`` from its ``__table_args__`` (see :mod:`ormkit.orm.constraints`).
Classes with ``__abstract__ = True`` and plain mixins are not mapped; their columns
(and ``__table_args__``) are copied into each model.
"""

from __future__ import annotations

import inspect
import re
import sys
import typing
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, ClassVar

from ormkit._ormkit import install_init, model_init, model_setattr
from ormkit.orm.backrefs import assign_all, install_setattr
from ormkit.orm.constraints import CheckConstraint, Index, UniqueConstraint, bind_table_args
from ormkit.orm.fields import (
    ColumnInfo,
    Mapped,
    MappedColumn,
    build_column_info,
)
from ormkit.orm.relationships import (
    RelationshipAttribute,
    RelationshipInfo,
    RelationshipProperty,
)
from ormkit.orm.validation import validate
from ormkit.sql.expressions import Column
from ormkit.sql.mapped import is_model_class
from ormkit.types import Converter, unwrap_optional

__all__ = [
    "Base",
    "DeclarativeMeta",
    "Registry",
    "declarative_base",
    "default_table_name",
    "primary_key_value",
    "registered_models",
]


class Registry:
    """The models of one declarative base, by class name and by table name.

    ``track=False`` keeps the registry out of :func:`registered_models` (and so out of
    ``engine.create_all()`` without ``models=``), e.g. for models made in tests.
    """

    def __init__(self, *, track: bool = True) -> None:
        self._by_name: dict[str, type] = {}
        self._by_table: dict[str, type] = {}
        if track:
            _REGISTRIES.add(self)

    @property
    def models(self) -> list[type]:
        """Every model of this registry, in definition order."""
        return list(self._by_table.values())

    def get(self, name: str) -> type | None:
        """The model whose class name is ``name``, or None."""
        return self._by_name.get(name)

    def by_table(self, table: str) -> type | None:
        """The model whose table is ``table``, or None."""
        return self._by_table.get(table)

    def add(self, model: type) -> None:
        """Register ``model``; a redefinition (same module and name) replaces the old one."""
        table = model.__tablename__  # type: ignore[attr-defined]
        old = self._by_table.get(table)
        if old is not None and old is not model:
            same = old.__module__ == model.__module__ and old.__qualname__ == model.__qualname__
            if not same:
                raise TypeError(
                    f"table {table!r} of {model.__name__} is already used by {old.__name__}"
                )
        self._by_table[table] = model
        self._by_name[model.__name__] = model

    def clear(self) -> None:
        """Forget every model (for tests)."""
        self._by_name.clear()
        self._by_table.clear()

    def __repr__(self) -> str:
        return f"<Registry {len(self._by_table)} models>"


_REGISTRIES: weakref.WeakSet[Registry] = weakref.WeakSet()


def registered_models() -> list[type]:
    """Every model of every registry (what ``engine.create_all()`` creates by default)."""
    out: list[type] = []
    for registry in list(_REGISTRIES):
        out.extend(registry.models)
    return out


_WORD_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def _pluralise(word: str) -> str:
    if re.search(r"[^aeiou]y$", word):
        return word[:-1] + "ies"
    if re.search(r"(s|x|z|ch|sh)$", word):
        return word + "es"
    return word + "s"


def default_table_name(class_name: str) -> str:
    """snake_case plural of a class name: ``BookCategory`` → ``book_categories``."""
    snake = _WORD_BOUNDARY.sub("_", class_name).lower()
    return _pluralise(snake)


def _is_classvar(tp: Any) -> bool:
    if isinstance(tp, str):
        return tp.startswith(("ClassVar", "typing.ClassVar"))
    return tp is ClassVar or typing.get_origin(tp) is ClassVar


def _module_namespace(cls: type) -> dict[str, Any]:
    """The live globals of the module defining ``cls`` (later definitions included)."""
    module = sys.modules.get(cls.__module__)
    return vars(module) if module is not None else {}


def _evaluate(annotation: Any, namespace: dict[str, Any], owner: str, key: str) -> Any:
    if isinstance(annotation, typing.ForwardRef):
        annotation = annotation.__forward_arg__
    if isinstance(annotation, str):
        try:
            return eval(annotation, namespace)
        except NameError as exc:
            raise TypeError(
                f"{owner}.{key}: cannot evaluate annotation {annotation!r}: {exc} (a column "
                "type must be importable from the module; a relationship needs "
                "= relationship(...))"
            ) from None
        except Exception as exc:
            raise TypeError(
                f"{owner}.{key}: cannot evaluate annotation {annotation!r}: {exc}"
            ) from None
    return annotation


def _column_type_of(annotation: Any, namespace: dict[str, Any], owner: str, key: str) -> Any:
    tp = _evaluate(annotation, namespace, owner, key)
    if typing.get_origin(tp) is Mapped:
        args = typing.get_args(tp)
        tp = args[0] if args else Any
    elif tp is Mapped:
        tp = Any
    return _evaluate(tp, namespace, owner, key)


def _mentions_model(tp: Any) -> bool:
    if isinstance(tp, str | typing.ForwardRef):
        return True
    if is_model_class(tp):
        return True
    return any(_mentions_model(a) for a in typing.get_args(tp))


class DeclarativeMeta(type):
    """Maps each concrete subclass of a declarative base to a table."""

    def __init__(cls, name: str, bases: tuple[type, ...], namespace: dict[str, Any]) -> None:
        super().__init__(name, bases, namespace)
        if namespace.get("__abstract__", False) or namespace.get("_ormkit_root", False):
            return
        _map_class(cls)
        # calling the class runs Base.__init__'s Rust fast path as its tp_init (unless
        # the class has an __init__ of its own)
        install_init(cls)


def _declarations(cls: type) -> tuple[dict[str, tuple[Any, Any, type]], list[type]]:
    """attribute → (annotation, declared value, declaring class), base classes first."""
    found: dict[str, tuple[Any, Any, type]] = {}
    sources: list[type] = []
    for klass in reversed(cls.__mro__):
        if klass is object or klass.__dict__.get("_ormkit_root", False):
            continue
        if klass is not cls and "__columns__" in klass.__dict__:
            raise TypeError(
                f"{cls.__name__} derives from the model {klass.__name__}; models cannot be "
                "subclassed: share columns through a mixin or an __abstract__ base"
            )
        sources.append(klass)
        annotations = inspect.get_annotations(klass)
        for key, ann in annotations.items():
            if key.startswith("_") or _is_classvar(ann):
                continue
            found[key] = (ann, klass.__dict__.get(key, _MISSING), klass)
    return found, sources


_MISSING: Any = object()


def _map_class(cls: type) -> None:
    name = cls.__name__
    declarations, _sources = _declarations(cls)
    columns: dict[str, ColumnInfo] = {}
    relationships: dict[str, RelationshipInfo] = {}
    for key, (ann, value, owner) in declarations.items():
        namespace = _module_namespace(owner)
        if isinstance(value, RelationshipProperty):
            relationships[key] = RelationshipInfo(key, cls, value, ann, namespace)
            continue
        py_type = _column_type_of(ann, namespace, name, key)
        py_type, optional = unwrap_optional(py_type)
        if _mentions_model(py_type) and typing.get_origin(py_type) is not None:
            raise TypeError(f"{name}.{key}: a relationship needs = relationship(...)")
        if isinstance(value, MappedColumn):
            decl = value
        elif value is _MISSING:
            decl = None
        elif isinstance(value, Column | RelationshipAttribute):
            raise TypeError(f"{name}.{key}: reuse of another model's attribute")
        else:
            # ``age: int = 0`` → a column with a default.
            from ormkit.orm.fields import mapped_column

            decl = mapped_column(default=value)
        try:
            columns[key] = build_column_info(key, decl, py_type, optional)
        except TypeError as exc:
            raise TypeError(f"{name}: {exc}") from None

    _assign_primary_key(cls, columns)
    # Primary key columns first, then the rest in declaration order (mixins first).
    pk = cls.__primary_key__  # type: ignore[attr-defined]
    pk_keys = (pk,) if isinstance(pk, str) else pk
    columns = {k: columns[k] for k in (*pk_keys, *(k for k in columns if k not in pk_keys))}
    tablename = cls.__dict__.get("__tablename__") or default_table_name(name)
    if not isinstance(tablename, str):
        raise TypeError(f"{name}.__tablename__ must be a str")
    cls.__tablename__ = tablename  # type: ignore[attr-defined]
    names: dict[str, str] = {}
    for key, info in columns.items():
        if info.name in names:
            raise TypeError(f"{name}: columns {names[info.name]!r} and {key!r} share a name")
        names[info.name] = key
        info.model = cls
        info.expr = Column(cls, key, info)
        setattr(cls, key, info.expr)
    for key, rel in relationships.items():
        if key in columns:
            raise TypeError(f"{name}.{key} is both a column and a relationship")
        setattr(cls, key, RelationshipAttribute(rel))
    versions = [k for k, c in columns.items() if c.version]
    if len(versions) > 1:
        raise TypeError(f"{name} has more than one version column: {versions}")
    cls.__columns__ = columns  # type: ignore[attr-defined]
    cls.__column_names__ = names  # type: ignore[attr-defined]
    cls.__relationships__ = relationships  # type: ignore[attr-defined]
    install_setattr(cls, relationships)  # back_populates pairs kept in step (backrefs)
    cls.__version_column__ = versions[0] if versions else None  # type: ignore[attr-defined]
    declared = {key: value for key, (_ann, value, _owner) in declarations.items()}
    constraints, indexes, table_info = bind_table_args(cls, columns, declared)
    cls.__table_constraints__ = constraints  # type: ignore[attr-defined]
    cls.__indexes__ = indexes  # type: ignore[attr-defined]
    cls.__table_info__ = table_info  # type: ignore[attr-defined]
    cls._ormkit_converters = {}  # type: ignore[attr-defined]
    cls._ormkit_init = (  # type: ignore[attr-defined]
        tuple(columns),
        tuple(None if info.default is None else info.make_default for info in columns.values()),
        () if not relationships else None,  # collections: resolved at the first __init__
    )
    cls._ormkit_onupdate = tuple(  # type: ignore[attr-defined]
        (key, info) for key, info in columns.items() if info.onupdate is not None
    )
    cls.__registry__.add(cls)  # type: ignore[attr-defined]


def _assign_primary_key(cls: type, columns: dict[str, ColumnInfo]) -> None:
    name = cls.__name__
    declared = cls.__dict__.get("__primary_key__")
    if declared is not None:
        keys = (declared,) if isinstance(declared, str) else tuple(declared)
        for key in keys:
            if key not in columns:
                raise TypeError(f"{name}.__primary_key__ names unknown column {key!r}")
            columns[key].primary_key = True
    keys = tuple(k for k, c in columns.items() if c.primary_key)
    if not keys:
        if "id" in columns:
            columns["id"].primary_key = True
            keys = ("id",)
        else:
            raise TypeError(
                f"{name} has no primary key: mark a column primary_key=True, add an 'id' "
                "column, or set __primary_key__"
            )
    for key in keys:
        info = columns[key]
        if info.nullable:
            raise TypeError(f"{name}.{key}: a primary key column cannot be nullable")
        info.nullable = False
    if len(keys) == 1:
        info = columns[keys[0]]
        declared_auto = info.autoincrement
        explicit = _explicit_autoincrement(cls, keys[0])
        if explicit is None:
            info.autoincrement = info.type.is_integer and info.foreign_key is None
        else:
            info.autoincrement = bool(declared_auto)
            if info.autoincrement and not info.type.is_integer:
                raise TypeError(f"{name}.{keys[0]}: only an int primary key can autoincrement")
    else:
        for key in keys:
            if columns[key].autoincrement:
                raise TypeError(f"{name}.{key}: a composite primary key cannot autoincrement")
    for key, info in columns.items():
        if not info.primary_key and info.autoincrement:
            raise TypeError(f"{name}.{key}: only a primary key can autoincrement")
    cls.__primary_key__ = keys[0] if len(keys) == 1 else keys  # type: ignore[attr-defined]


def _explicit_autoincrement(cls: type, key: str) -> bool | None:
    for klass in cls.__mro__:
        value = klass.__dict__.get(key)
        if isinstance(value, MappedColumn):
            auto = value.options.get("autoincrement")
            return None if auto is None else bool(auto)
    return None


def primary_key_value(obj: Any) -> Any:
    """The primary key of ``obj``: a value, or a tuple for a composite key."""
    pk = type(obj).__primary_key__
    d = obj.__dict__
    if isinstance(pk, str):
        return d.get(pk)
    return tuple(d.get(k) for k in pk)


class Base(metaclass=DeclarativeMeta):
    """Base class of declarative models (with the default registry).

    ``Base.__registry__`` holds every model derived from it. For a separate set of
    models use :func:`declarative_base`.
    """

    _ormkit_root: ClassVar[bool] = True
    __abstract__: ClassVar[bool] = True
    __registry__: ClassVar[Registry] = Registry()
    __tablename__: ClassVar[str]
    __columns__: ClassVar[dict[str, ColumnInfo]]
    __column_names__: ClassVar[dict[str, str]]
    __relationships__: ClassVar[dict[str, RelationshipInfo]]
    __primary_key__: ClassVar[str | tuple[str, ...]]
    __version_column__: ClassVar[str | None]
    #: the unique and check constraints of ``__table_args__`` (final names; columns as
    #: attribute names), in declaration order (set by the metaclass)
    __table_constraints__: ClassVar[tuple[UniqueConstraint | CheckConstraint, ...]]
    #: the indexes of ``__table_args__`` (final names; columns as attribute names);
    #: ``mapped_column(index=True)`` indexes are in ``__columns__`` instead
    __indexes__: ClassVar[tuple[Index, ...]]
    #: the ``info`` option of ``__table_args__`` (user data, unused by ormkit)
    __table_info__: ClassVar[dict[str, Any]]
    _ormkit_converters: ClassVar[dict[Any, tuple[Converter, ...] | None]]
    #: the columns with ``onupdate`` (set by the metaclass)
    _ormkit_onupdate: ClassVar[tuple[tuple[str, ColumnInfo], ...]]
    #: what the Rust ``__init__`` needs (set by the metaclass): the column keys in column
    #: order, per column its ``make_default`` or None, and the keys of the collection
    #: relationships (None until the first construction resolves them)
    _ormkit_init: ClassVar[
        tuple[tuple[str, ...], tuple[Callable[[], Any] | None, ...], tuple[str, ...] | None]
    ]

    def __init__(self, **kwargs: Any) -> None:
        """Set each column to the keyword argument of its name, its default or None;
        relationships and settable properties may be given too (anything else:
        TypeError). The common case (column keywords only) runs in Rust: see
        ``_ormkit_init_general`` for the whole of it."""
        cls = type(self)
        d = self.__dict__
        for key, info in cls.__columns__.items():
            if key in kwargs:
                d[key] = kwargs.pop(key)
            elif info.default is not None:
                d[key] = info.make_default()
            else:
                d[key] = None
        if kwargs:
            rels = cls.__relationships__
            paired: list[tuple[RelationshipInfo, Any]] = []
            for key, value in kwargs.items():
                if key in rels:
                    rel = rels[key]
                    if rel.back_populates is None:
                        d[key] = value
                    else:
                        paired.append((rel, value))
                elif isinstance(getattr(cls, key, None), property):
                    setattr(self, key, value)
                else:
                    raise TypeError(f"{cls.__name__}() got an unexpected keyword argument {key!r}")
            if paired:
                assign_all(self, paired)  # the other sides follow, once all are checked
        for key in _collection_keys(cls):
            if key not in d:
                d[key] = []  # a new object has no related rows yet: append to it

    #: the Python implementation: what ``__init__`` (``_ormkit.model_init``) hands every
    #: call that is not column keywords only (so this never sees that common case)
    _ormkit_init_general = __init__

    def __repr__(self) -> str:
        cls = type(self)
        pk = cls.__primary_key__
        keys = (pk,) if isinstance(pk, str) else pk
        parts = " ".join(f"{k}={self.__dict__.get(k)!r}" for k in keys)
        return f"<{cls.__name__} {parts}>"

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if type(other) is not type(self):
            return NotImplemented
        mine = primary_key_value(self)
        if mine is None or (isinstance(mine, tuple) and None in mine):
            return False
        return bool(mine == primary_key_value(other))

    def __hash__(self) -> int:
        pk = primary_key_value(self)
        if pk is None or (isinstance(pk, tuple) and None in pk):
            return id(self)
        return hash((type(self), pk))

    def to_dict(self, include_relationships: bool = False) -> dict[str, Any]:
        """Column values by attribute name; loaded relationships too when asked (one
        level: related objects as their own column dicts)."""
        d = self.__dict__
        out = {key: d.get(key) for key in type(self).__columns__}
        if include_relationships:
            for key in type(self).__relationships__:
                if key not in d:
                    continue
                value = d[key]
                if value is None:
                    out[key] = None
                elif isinstance(value, list | tuple | set):
                    out[key] = [item.to_dict() for item in value]
                else:
                    out[key] = value.to_dict()
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Any:
        """Build an instance from a dict of attribute values (unknown keys: TypeError)."""
        return cls(**dict(data))

    def __ormkit_insert_values__(self) -> dict[str, Any]:
        """Column values to INSERT: defaults applied where the value is None; None left
        out for columns the database fills (autoincrement keys, server defaults)."""
        d = self.__dict__
        out: dict[str, Any] = {}
        for key, info, has_default, generated in _insert_spec(type(self)):
            value = d.get(key)
            if value is None:
                if has_default:
                    value = info.make_default()
                    d[key] = value
                if value is None and generated:
                    continue
            out[key] = value
        return out

    def __ormkit_validate__(self, fields: Iterable[str] | None = None) -> None:
        """Raise ``ValidationError`` if the instance cannot be written (see validation)."""
        validate(self, fields=fields)

    @classmethod
    def __ormkit_converters__(
        cls, dialect: Any, columns: Sequence[str] | None = None
    ) -> tuple[Converter, ...] | None:
        """Per result column, the converter for ``QueryResult.to_models``: None (as is),
        a tag such as ``"datetime"``, or a callable (an Enum class). Returns None when
        no column needs converting. Cached per (dialect, columns)."""
        name = getattr(dialect, "name", dialect)
        cache_key = (name, None if columns is None else tuple(columns))
        cache = cls._ormkit_converters
        try:
            return cache[cache_key]
        except KeyError:
            pass
        infos = cls.__columns__
        keys = list(infos) if columns is None else list(columns)
        out = tuple(infos[k].converter(name) if k in infos else None for k in keys)
        result = out if any(c is not None for c in out) else None
        if len(cache) < 256:
            cache[cache_key] = result
        return result


Base.__init__ = model_init(Base)  # type: ignore[method-assign]
# back_populates hooks (``backrefs.install_setattr``); each concrete model without any
# gets ``object.__setattr__`` back
Base.__setattr__ = model_setattr(Base)  # type: ignore[method-assign]


def _collection_keys(cls: type) -> tuple[str, ...]:
    """The keys of ``cls``'s collection relationships, resolved at its first construction
    and kept in ``_ormkit_init`` for the Rust ``__init__`` (which then sets them too)."""
    init = cls._ormkit_init  # type: ignore[attr-defined]
    if init[2] is not None:
        return init[2]  # type: ignore[no-any-return]
    try:
        keys = tuple(
            key
            for key, rel in cls.__relationships__.items()  # type: ignore[attr-defined]
            if rel.uselist
        )
    except Exception:  # a target not defined yet: its error is for the query that needs it
        return ()
    cls._ormkit_init = (init[0], init[1], keys)  # type: ignore[attr-defined]
    return keys


def _insert_spec(model: type) -> tuple[tuple[str, ColumnInfo, bool, bool], ...]:
    """Per column of ``model``: key, info, whether it has a default, whether the database
    fills it (cached on the class: column declarations do not change once mapped)."""
    spec: tuple[tuple[str, ColumnInfo, bool, bool], ...] | None = model.__dict__.get(
        "_ormkit_insert_spec"
    )
    if spec is None:
        columns: dict[str, ColumnInfo] = model.__columns__  # type: ignore[attr-defined]
        spec = tuple(
            (key, info, info.default is not None, info.generated) for key, info in columns.items()
        )
        model._ormkit_insert_spec = spec  # type: ignore[attr-defined]
    return spec


def declarative_base(name: str = "Base", *, registry: Registry | None = None) -> type[Base]:
    """A new abstract base class with its own registry (a new one unless given)."""
    namespace = {"__abstract__": True, "__registry__": registry or Registry()}
    base = DeclarativeMeta(name, (Base,), namespace)
    return typing.cast("type[Base]", base)
