"""Relationship declarations and their resolution (loading lives elsewhere).

``relationship()`` records what the user declared; :class:`RelationshipInfo` works out,
on first use, the target model, the direction and the join columns from the foreign
keys of the two models (or of the ``secondary`` association table).
"""

from __future__ import annotations

import collections.abc
import enum
import types
import typing
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from ormkit.orm.fields import Mapped
from ormkit.orm.foreign_keys import ForeignKeyGroup, foreign_key_groups
from ormkit.sql.expressions import ColumnExpr, OrderBy
from ormkit.sql.mapped import is_model_class

if TYPE_CHECKING:
    from ormkit.orm.base import Registry

__all__ = [
    "Direction",
    "RelationshipAttribute",
    "RelationshipInfo",
    "RelationshipProperty",
    "relationship",
]

T = TypeVar("T")

LAZY_STRATEGIES = frozenset({"raise", "select", "selectin", "joined", "noload"})
CASCADE_OPTIONS = frozenset(
    {"save-update", "merge", "expunge", "delete", "delete-orphan", "refresh-expire"}
)
DEFAULT_CASCADE = frozenset({"save-update", "merge"})


class Direction(enum.StrEnum):
    """How two models are related; compares equal to its string value."""

    MANY_TO_ONE = "many_to_one"
    ONE_TO_MANY = "one_to_many"
    ONE_TO_ONE = "one_to_one"
    MANY_TO_MANY = "many_to_many"


def parse_cascade(cascade: str | Sequence[str] | None) -> frozenset[str]:
    """``"all, delete-orphan"`` → the set of cascade options (``all`` expands)."""
    if cascade is None:
        return DEFAULT_CASCADE
    tokens = cascade.split(",") if isinstance(cascade, str) else list(cascade)
    out: set[str] = set()
    for raw in tokens:
        token = raw.strip()
        if not token:
            continue
        if token == "all":
            out |= CASCADE_OPTIONS - {"delete-orphan"}
        elif token in CASCADE_OPTIONS:
            out.add(token)
        else:
            raise ValueError(
                f"unknown cascade option {token!r}; known: all, {sorted(CASCADE_OPTIONS)}"
            )
    return frozenset(out)


class RelationshipProperty(Mapped[T]):
    """A relationship declaration, as returned by :func:`relationship`."""

    __slots__ = (
        "back_populates",
        "cascade",
        "foreign_key",
        "lazy",
        "order_by",
        "secondary",
        "target",
        "uselist",
    )

    def __init__(
        self,
        back_populates: str | None,
        uselist: bool | None,
        secondary: Any,
        lazy: str,
        order_by: Any,
        cascade: frozenset[str],
        target: Any,
        foreign_key: str | Sequence[str] | None,
    ) -> None:
        self.back_populates = back_populates
        self.uselist = uselist
        self.secondary = secondary
        self.lazy = lazy
        self.order_by = order_by
        self.cascade = cascade
        self.target = target
        self.foreign_key = foreign_key

    def __repr__(self) -> str:
        return f"relationship(back_populates={self.back_populates!r})"


def relationship(
    back_populates: str | None = None,
    *,
    uselist: bool | None = None,
    secondary: str | type | None = None,
    lazy: str = "raise",
    order_by: Any = None,
    cascade: str | Sequence[str] | None = None,
    target: str | type | None = None,
    foreign_key: str | Sequence[str] | None = None,
) -> Any:
    """Declare a relationship to another model.

    The target model comes from the annotation (``Mapped[list["Post"]]`` is a
    collection, ``Mapped["User"]`` / ``Mapped["User | None"]`` a single object) or from
    ``target=``. ``secondary`` names the association table (or model) of a
    many-to-many relationship. ``foreign_key`` names the foreign-key column (on either
    model) when two models are linked by more than one; for a composite foreign key,
    name one of its columns or give all of them as a tuple. A composite foreign key
    (one ``ForeignKey`` per column of the target's composite primary key, see
    :mod:`ormkit.orm.foreign_keys`) makes a relationship that joins on all its columns.
    ``lazy`` is the default loader: ``"raise"`` (reading an unloaded relationship
    raises), ``"select"``, ``"selectin"``, ``"joined"`` or ``"noload"``. ``order_by``
    orders collections
    (``"-created_at"`` or an expression); ``cascade`` is e.g. ``"all, delete-orphan"``.
    """
    if back_populates is not None and not isinstance(back_populates, str):
        raise TypeError(
            "relationship()'s first argument is back_populates (a str); "
            "give the target model with target= or the Mapped[...] annotation"
        )
    if lazy not in LAZY_STRATEGIES:
        raise ValueError(f"lazy must be one of {sorted(LAZY_STRATEGIES)}, got {lazy!r}")
    if foreign_key is not None and not isinstance(foreign_key, str):
        if (
            isinstance(foreign_key, Sequence)
            and foreign_key
            and all(isinstance(k, str) for k in foreign_key)
        ):
            foreign_key = tuple(foreign_key)
        else:
            raise TypeError(
                f"foreign_key must be a column name or a tuple of column names, got {foreign_key!r}"
            )
    return RelationshipProperty(
        back_populates,
        uselist,
        secondary,
        lazy,
        order_by,
        parse_cascade(cascade),
        target,
        foreign_key,
    )


class _RegistryNamespace(Mapping[str, Any]):
    """Local namespace for evaluating annotations: registered model names."""

    def __init__(self, registry: Registry) -> None:
        self._registry = registry

    def __getitem__(self, name: str) -> Any:
        found = self._registry.get(name)
        if found is None:
            raise KeyError(name)
        return found

    def __iter__(self) -> typing.Iterator[str]:
        return iter(m.__name__ for m in self._registry.models)

    def __len__(self) -> int:
        return len(self._registry.models)


# Collection types whose annotation makes a relationship a list (``list[Post]``).
_COLLECTIONS: tuple[Any, ...] = (
    list,
    set,
    frozenset,
    tuple,
    Sequence,
    collections.abc.Collection,
    collections.abc.MutableSequence,
)

# Names a quoted annotation may use without importing them (``Mapped["Optional[X]"]``,
# ``Mapped["List[X]"]``); the defining module's own names take precedence.
_TYPING_NAMES: dict[str, Any] = {
    "typing": typing,
    "Optional": typing.Optional,
    "Union": typing.Union,
    "List": typing.List,  # noqa: UP006
    "Set": typing.Set,  # noqa: UP006
    "FrozenSet": typing.FrozenSet,  # noqa: UP006
    "Sequence": typing.Sequence,
    "Annotated": typing.Annotated,
    "Mapped": Mapped,
}

# Bound on the nesting of an annotation (strings inside strings inside Mapped[...]).
_MAX_DEPTH = 16


def _is_union(tp: Any) -> bool:
    return typing.get_origin(tp) is typing.Union or isinstance(tp, types.UnionType)


def _member_name(tp: Any) -> str:
    """A union member as its name, unquoted (``Author``, ``list[Post]``)."""
    if isinstance(tp, typing.ForwardRef):
        return tp.__forward_arg__
    return tp if isinstance(tp, str) else _describe(tp)


def _describe(tp: Any) -> str:
    """A readable rendering of (part of) an annotation: ``Mapped['Author | None']``."""
    if isinstance(tp, str):
        return repr(tp)
    if isinstance(tp, typing.ForwardRef):
        return repr(tp.__forward_arg__)
    if tp is None or tp is type(None):
        return "None"
    if _is_union(tp):
        return " | ".join(_describe(a) for a in typing.get_args(tp))
    origin = typing.get_origin(tp)
    if origin is not None:
        name = getattr(origin, "__name__", None) or repr(origin)
        return f"{name}[{', '.join(_describe(a) for a in typing.get_args(tp))}]"
    if isinstance(tp, type):
        return tp.__name__
    return repr(tp)


class RelationshipInfo:
    """A resolved relationship (``Model.__relationships__[key]``).

    Resolution happens on first use of a resolved attribute, when every model it
    mentions should be declared. Column attributes are tuples of attribute keys:

    - many-to-one: ``local_columns`` are the foreign key on this model,
      ``remote_columns`` the referenced key of the target;
    - one-to-many / one-to-one: ``local_columns`` are this model's referenced key,
      ``remote_columns`` the target's foreign key;
    - many-to-many: ``local_columns``/``remote_columns`` are the keys of this model and
      the target, ``secondary_local_columns``/``secondary_remote_columns`` the foreign
      keys of the association model (``secondary_model``) that reference them.
    """

    def __init__(
        self,
        key: str,
        model: type[Any],
        declaration: RelationshipProperty[Any],
        annotation: Any,
        namespace: dict[str, Any],
    ) -> None:
        self.key = key
        self.model = model
        self.back_populates = declaration.back_populates
        self.lazy = declaration.lazy
        self.cascade = declaration.cascade
        self._declaration = declaration
        self._annotation = annotation
        self._namespace = namespace
        self._resolved = False
        self._target: type[Any] | None = None
        self._direction = Direction.MANY_TO_ONE
        self._uselist = False
        self._local: tuple[str, ...] = ()
        self._remote: tuple[str, ...] = ()
        self._secondary_model: type[Any] | None = None
        self._secondary_local: tuple[str, ...] = ()
        self._secondary_remote: tuple[str, ...] = ()
        self._reverse: RelationshipInfo | None = None

    def __repr__(self) -> str:
        return f"<RelationshipInfo {self.model.__name__}.{self.key}>"

    # -- resolved attributes ----------------------------------------------------------

    def _ensure(self) -> None:
        if not self._resolved:
            self._resolve()

    @property
    def target(self) -> type[Any]:
        """The related model class."""
        self._ensure()
        assert self._target is not None
        return self._target

    @property
    def direction(self) -> Direction:
        """many_to_one, one_to_many, one_to_one or many_to_many."""
        self._ensure()
        return self._direction

    @property
    def uselist(self) -> bool:
        """True when the attribute holds a list."""
        self._ensure()
        return self._uselist

    @property
    def local_columns(self) -> tuple[str, ...]:
        """Join columns on this model (see class doc)."""
        self._ensure()
        return self._local

    @property
    def remote_columns(self) -> tuple[str, ...]:
        """Join columns on the target model (see class doc)."""
        self._ensure()
        return self._remote

    @property
    def secondary(self) -> str | None:
        """The association table's name (many-to-many), else None."""
        self._ensure()
        return self._secondary_model.__tablename__ if self._secondary_model else None

    @property
    def secondary_model(self) -> type[Any] | None:
        """The association model (many-to-many), else None."""
        self._ensure()
        return self._secondary_model

    @property
    def secondary_local_columns(self) -> tuple[str, ...]:
        """Association columns referencing this model (many-to-many)."""
        self._ensure()
        return self._secondary_local

    @property
    def secondary_remote_columns(self) -> tuple[str, ...]:
        """Association columns referencing the target (many-to-many)."""
        self._ensure()
        return self._secondary_remote

    @property
    def reverse(self) -> RelationshipInfo | None:
        """The target's relationship that ``back_populates`` names (kept in step with
        this one in memory, see :mod:`ormkit.orm.backrefs`), or None."""
        found = self._reverse
        if found is None and self.back_populates is not None:
            found = self._reverse = self.target.__relationships__[self.back_populates]
        return found

    @property
    def order_by(self) -> tuple[OrderBy, ...]:
        """ORDER BY items for loading the collection (on target columns)."""
        raw = self._declaration.order_by
        if raw is None:
            return ()
        items = raw if isinstance(raw, list | tuple) else (raw,)
        target = self.target
        out: list[OrderBy] = []
        for item in items:
            if isinstance(item, OrderBy):
                out.append(item)
            elif isinstance(item, ColumnExpr):
                out.append(item.asc())
            elif isinstance(item, str):
                name = item.removeprefix("-")
                if name not in target.__columns__:
                    raise ValueError(
                        f"{self}: order_by {item!r} is not a column of {target.__name__}"
                    )
                col = target.__columns__[name].expr
                out.append(col.desc() if item.startswith("-") else col.asc())
            else:
                raise TypeError(f"{self}: invalid order_by {item!r}")
        return tuple(out)

    # -- resolution -------------------------------------------------------------------

    def _error(self, message: str) -> ValueError:
        return ValueError(f"relationship {self.model.__name__}.{self.key}: {message}")

    def _annotation_text(self) -> str:
        """The annotation as written (for error messages)."""
        ann = self._annotation
        return ann if isinstance(ann, str) else _describe(ann)

    def _evaluate(self, text: str, source: str) -> Any:
        """A quoted reference → the object it names: a model of the base's registry by
        class name, else the expression evaluated with the registry's model names, then
        the defining module's globals (then a few ``typing`` names) in scope."""
        registry: Registry = self.model.__registry__
        found = registry.get(text.strip())
        if found is not None:
            return found
        namespace = {**_TYPING_NAMES, **self._namespace}
        try:
            return eval(text, namespace, _RegistryNamespace(registry))
        except NameError as exc:
            name = exc.name or str(exc)
            raise self._error(
                f"unknown model {name!r} in {source}: no model of that name in the "
                f"base's registry or the module {self.model.__module__!r} "
                "(define it, import it, or pass target=)"
            ) from None
        except Exception as exc:
            raise self._error(f"cannot evaluate {source}: {exc}") from None

    def _unwrap(self, ref: Any, source: str) -> tuple[Any, bool]:
        """Strip ``Mapped[...]``, ``Optional``/``| None`` and one collection from an
        annotation or ``target=``, evaluating quoted parts (``Mapped["list[Post]"]``,
        ``Mapped[Optional["Author"]]``, ``Mapped["Author | None"]``) as they come.

        Returns what is left (normally a model class) and whether a collection
        (``list[...]``, ``List[...]``, ``set[...]``, ...) was found on the way. Raises
        for a quoted name that names nothing, a union of several types, or nested
        collections."""
        tp = ref
        many = False
        for _ in range(_MAX_DEPTH):
            if isinstance(tp, typing.ForwardRef):
                tp = tp.__forward_arg__
            if isinstance(tp, str):
                tp = self._evaluate(tp, source)
                continue
            origin = typing.get_origin(tp)
            args = typing.get_args(tp)
            if origin is Mapped or origin is typing.Annotated:
                if not args:
                    return None, many
                tp = args[0]
                continue
            if origin in _COLLECTIONS:
                if many:
                    raise self._error(f"{source} is a collection of collections")
                many = True
                if not args:
                    return None, many
                tp = args[0]
                continue
            if _is_union(tp):
                members = [a for a in args if a is not type(None) and a is not None]
                if len(members) != 1:
                    raise self._error(
                        f"{source} is a union of {' and '.join(_member_name(m) for m in members)}; "
                        "a relationship has one target model (annotate it as `Target` or "
                        "`Target | None`, or pass target=)"
                    )
                tp = members[0]
                continue
            return tp, many
        raise self._error(f"cannot resolve {source}: nested too deeply")

    def _lookup_model(self, ref: Any) -> type[Any]:
        """The model named by ``target=`` (a class, its name, or an annotation-like
        string such as ``"Author | None"``)."""
        source = f"target={ref!r}"
        found, _many = self._unwrap(ref, source)
        if not is_model_class(found):
            raise self._error(f"{source} is not a model")
        return found

    def _target_from_annotation(self) -> tuple[type[Any] | None, bool | None]:
        """The target model and whether the annotation is a collection; (None, None)
        without an annotation."""
        ann = self._annotation
        if ann is None:
            return None, None
        source = f"annotation {self._annotation_text()}"
        found, many = self._unwrap(ann, source)
        if found is None:
            return None, many
        if not is_model_class(found):
            raise self._error(f"{source}: {_describe(found)} is not a model")
        return found, many

    def _uselist_from_annotation(self) -> bool | None:
        """Whether the annotation is a collection, when ``target=`` gives the model (the
        annotation then need not name a model)."""
        if self._annotation is None:
            return None
        try:
            _found, many = self._unwrap(self._annotation, "annotation")
        except ValueError:
            return None
        return many

    def _resolve(self) -> None:
        decl = self._declaration
        if decl.target is not None:
            target = self._lookup_model(decl.target)
            ann_many = self._uselist_from_annotation()
        else:
            ann_target, ann_many = self._target_from_annotation()
            if ann_target is None:
                raise self._error("no target model: annotate with Mapped[...] or pass target=")
            target = ann_target
        uselist = decl.uselist if decl.uselist is not None else ann_many
        if decl.secondary is not None:
            self._resolve_many_to_many(target, uselist)
        else:
            self._resolve_direct(target, uselist)
        self._target = target
        if self.back_populates is not None:
            rels = getattr(target, "__relationships__", {})
            if self.back_populates not in rels:
                raise self._error(
                    f"back_populates={self.back_populates!r} but {target.__name__} "
                    "has no such relationship"
                )
        self._resolved = True
        if self.back_populates is not None and self._uselist:
            self._instrument_collection()

    def _instrument_collection(self) -> None:
        """Make the model's class attribute a :class:`~ormkit.orm.backrefs.CollectionAttribute`,
        which hands out the collection as a list that keeps the other side in step."""
        from ormkit.orm.backrefs import CollectionAttribute

        current = self.model.__dict__.get(self.key)
        if (
            isinstance(current, RelationshipAttribute)
            and current.info is self
            and not isinstance(current, CollectionAttribute)
        ):
            type.__setattr__(self.model, self.key, CollectionAttribute(self))

    def _fk_columns(self, holder: type[Any], referenced: type[Any]) -> list[ForeignKeyGroup]:
        """The foreign keys (single or composite) of ``holder`` to ``referenced``."""
        table = referenced.__tablename__
        return [g for g in foreign_key_groups(holder) if g.table == table]

    def _named(self, groups: list[ForeignKeyGroup]) -> list[ForeignKeyGroup]:
        """The groups the declaration's ``foreign_key=`` names (one of their columns,
        or all of them as a tuple)."""
        named = self._declaration.foreign_key
        if named is None:
            return groups
        if isinstance(named, str):
            return [g for g in groups if named in g.keys]
        wanted = set(named)
        return [g for g in groups if set(g.keys) == wanted]

    def _referenced_key(self, group: ForeignKeyGroup, referenced: type[Any]) -> tuple[str, ...]:
        names = referenced.__column_names__
        keys = []
        for name in group.referenced:
            key = names.get(name)
            if key is None:
                raise self._error(
                    f"foreign key {', '.join(group.keys)} references {group.table}.{name}, "
                    f"which is not a column of {referenced.__name__}"
                )
            keys.append(str(key))
        return tuple(keys)

    def _resolve_direct(self, target: type[Any], uselist: bool | None) -> None:
        model = self.model
        local = self._fk_columns(model, target)
        remote = self._fk_columns(target, model)
        named = self._declaration.foreign_key
        if named is not None:
            local = self._named(local)
            remote = self._named(remote)
            if not local and not remote:
                raise self._error(
                    f"foreign_key={named!r} is not a foreign key between "
                    f"{model.__name__} and {target.__name__}"
                )
        if model is target and local:
            # Self-referential: a collection is the "children" side, a scalar the parent.
            if uselist:
                local = []
            else:
                remote = []
        if local and not remote:
            if len(local) > 1:
                raise self._error(self._ambiguous(local))
            if uselist:
                raise self._error(
                    f"the foreign key {', '.join(local[0].keys)} is on {model.__name__}, "
                    "so this is many-to-one: annotate it with a single object, not a list"
                )
            self._direction = Direction.MANY_TO_ONE
            self._uselist = False
            self._local = local[0].keys
            self._remote = self._referenced_key(local[0], target)
        elif remote and not local:
            if len(remote) > 1:
                raise self._error(self._ambiguous(remote))
            self._uselist = True if uselist is None else uselist
            self._direction = Direction.ONE_TO_MANY if self._uselist else Direction.ONE_TO_ONE
            self._local = self._referenced_key(remote[0], model)
            self._remote = remote[0].keys
        elif local and remote:
            raise self._error(
                "foreign keys point both ways between "
                f"{model.__name__} and {target.__name__}; pass foreign_key='column'"
            )
        else:
            raise self._error(
                f"no foreign key between {model.__tablename__} and "
                f"{target.__tablename__}; add ForeignKey(...) to a column"
            )

    def _ambiguous(self, candidates: list[ForeignKeyGroup]) -> str:
        names = ", ".join(
            "(" + ", ".join(g.keys) + ")" if g.composite else g.keys[0] for g in candidates
        )
        return f"several foreign keys could link the models ({names}); pass foreign_key='...'"

    def _resolve_many_to_many(self, target: type[Any], uselist: bool | None) -> None:
        registry: Registry = self.model.__registry__
        secondary = self._declaration.secondary
        if isinstance(secondary, str):
            found = registry.by_table(secondary) or registry.get(secondary)
            if found is None:
                raise self._error(
                    f"secondary={secondary!r} is not the table of a registered model; "
                    "declare the association table as a model with a composite primary key"
                )
            secondary = found
        if not is_model_class(secondary):
            raise self._error(f"secondary={secondary!r} is not a model or table name")
        local = self._fk_columns(secondary, self.model)
        remote = self._fk_columns(secondary, target)
        if self.model is target:
            chosen = self._named(local) if self._declaration.foreign_key else []
            if len(chosen) != 1:
                raise self._error(
                    "a self-referential many-to-many needs foreign_key= naming the "
                    "association column that points at this side"
                )
            local = chosen
            remote = [g for g in remote if g != chosen[0]]
        if len(local) != 1 or len(remote) != 1:
            raise self._error(
                f"{secondary.__name__} needs exactly one foreign key to each of "
                f"{self.model.__name__} and {target.__name__}"
            )
        if uselist is False:
            raise self._error("a many-to-many relationship is a collection")
        self._direction = Direction.MANY_TO_MANY
        self._uselist = True
        self._secondary_model = secondary
        self._secondary_local = local[0].keys
        self._secondary_remote = remote[0].keys
        self._local = self._referenced_key(local[0], self.model)
        self._remote = self._referenced_key(remote[0], target)


class RelationshipAttribute:
    """The class attribute of a relationship: ``User.posts``.

    A non-data descriptor: a loaded relationship is read from the instance
    ``__dict__``; an unloaded one raises ``RelationshipNotLoaded`` naming the fix.
    """

    __slots__ = ("info",)

    def __init__(self, info: RelationshipInfo) -> None:
        self.info = info

    @property
    def key(self) -> str:
        """The attribute name."""
        return self.info.key

    def __get__(self, instance: object | None, owner: type | None = None) -> Any:
        if instance is None:
            return self
        from ormkit.errors import RelationshipNotLoaded

        model = type(instance).__name__
        key = self.info.key
        raise RelationshipNotLoaded(
            f"{model}.{key} is not loaded; load it with "
            f".options(selectinload({key!r})) / joinedload({key!r}) on the query, or "
            f"await session.load_related(obj, {key!r})"
        )

    def __repr__(self) -> str:
        return f"{self.info.model.__name__}.{self.info.key}"

    def any(self, criterion: Any = None, **filters: Any) -> Any:
        """``EXISTS`` a related row (of a collection) matching ``criterion`` and
        ``filters``: ``select(User).where(User.posts.any(Post.title == "x"))``."""
        if not self.info.uselist:
            raise TypeError(f"{self!r} is not a collection: use .has() for a single object")
        from ormkit.sql.subqueries import relationship_exists

        return relationship_exists(self.info, criterion, filters, "any")

    def has(self, criterion: Any = None, **filters: Any) -> Any:
        """``EXISTS`` the related object (many-to-one, one-to-one) matching ``criterion``
        and ``filters``: ``select(Post).where(Post.author.has(name="Ann"))``."""
        if self.info.uselist:
            raise TypeError(f"{self!r} is a collection: use .any()")
        from ormkit.sql.subqueries import relationship_exists

        return relationship_exists(self.info, criterion, filters, "has")
