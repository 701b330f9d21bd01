"""Both sides of a ``back_populates`` pair kept in step in memory, before any flush.

A relationship declared with ``back_populates="other"`` keeps the relationship it names
on the target model in step with it, as SQLAlchemy 2.0 does:

- many-to-one: ``post.author = user`` takes ``post`` out of its old author's ``posts``
  and appends it to ``user.posts`` (unless it is there already); ``None`` takes it out;
- one-to-many: ``user.posts.append(post)`` (``extend``, ``insert``, ``+=``, slice
  assignment, a whole new list) sets ``post.author`` and takes ``post`` out of its
  previous author's ``posts``; ``remove``, ``pop``, ``clear``, ``del`` set
  ``post.author`` to None;
- one-to-one: ``user.profile = profile`` sets ``profile.user``; the user's previous
  profile and the profile's previous user lose their link;
- many-to-many: ``article.tags.append(tag)`` appends ``article`` to ``tag.articles``;
  removing it removes it there.

Nothing is ever loaded: a collection on the other side that is not loaded stays
unloaded (the flush still writes the change), and so does a single-object side that
would only be cleared; a single-object side that gains an object is set (that is no
load). Each side keeps the other in step from its own declaration. The other side is
changed directly in its ``__dict__``, never through these hooks, so a change does not
come back (no recursion).

How it hooks in without costing loading anything:

- a model with such relationships gets a ``__setattr__`` (:func:`install_setattr`)
  that hands assignments of them to :func:`assign`. Loading and the constructor's Rust
  fast path store with ``object.__setattr__`` or into ``__dict__``, which do not go
  through it;
- a collection is kept in an :class:`InstrumentedList`. Loading stores plain lists;
  the collection's class attribute (:class:`CollectionAttribute`) swaps a plain list
  for an instrumented one, with the same members, the first time it is read.
"""

from __future__ import annotations

import weakref
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, SupportsIndex, overload

from ormkit.orm.relationships import RelationshipAttribute

if TYPE_CHECKING:
    from typing import Self

    from ormkit.orm.relationships import RelationshipInfo

__all__ = [
    "CollectionAttribute",
    "InstrumentedList",
    "assign",
    "assign_all",
    "install_setattr",
    "left_by_its_own_side",
    "settle",
]

_MISSING: Any = object()
#: up to this many members a membership test looks at each; a longer collection keeps
#: a count per member (by identity), made at its first test
_SCAN = 16


#: single-object sides of one-to-one relationships that lost their object because the
#: other side changed (``profile.user = other``): (id(owner), key) → that object; kept
#: only while the object lives (see :func:`left_by_its_own_side`)
_LEFT: weakref.WeakValueDictionary[tuple[int, str], Any] = weakref.WeakValueDictionary()


def _left_one(owner: Any, key: str, item: Any) -> None:
    _LEFT[id(owner), key] = item


def _back_one(owner: Any, key: str, item: Any) -> None:
    """``item`` is ``owner``'s one-to-one object again: it no longer left."""
    if _LEFT.get((id(owner), key)) is item:
        del _LEFT[id(owner), key]


def _name(rel: RelationshipInfo) -> str:
    return f"{rel.model.__name__}.{rel.key}"


def _check_member(rel: RelationshipInfo, item: Any) -> None:
    target = rel.target
    if not isinstance(item, target):
        raise TypeError(f"{_name(rel)} holds {target.__name__} objects, got {item!r}")


class InstrumentedList(list[Any]):
    """The loaded collection of a relationship with ``back_populates``: a ``list``
    whose changes made through its methods keep the other side in step (see the module
    doc). Members must be instances of the relationship's target (TypeError otherwise,
    with the list unchanged). Equal to a plain list with the same members; a copy,
    slice or pickle of it is a plain list. Once the object holds another collection
    (a reload, a rollback), this one is a plain list to it: changing it changes no
    other object."""

    __slots__ = ("_index", "_owner", "_rel", "released")

    _owner: Any
    _rel: RelationshipInfo | None
    _index: Counter[int] | None
    #: ids of the members that left because their own side changed (``post.author =
    #: other``, or appended to another parent's collection), not through this list: the
    #: flush writes their foreign key from that side, and does not take them for orphans
    #: (None while there are none)
    released: set[int] | None

    def __init__(
        self, items: Iterable[Any] = (), owner: Any = None, rel: RelationshipInfo | None = None
    ) -> None:
        list.__init__(self, items)
        self._owner = owner
        self._rel = rel
        self._index = None
        self.released = None

    def __reduce_ex__(self, protocol: SupportsIndex) -> tuple[Any, ...]:
        return (list, (list(self),))

    # -- bookkeeping ------------------------------------------------------------------

    def _has(self, item: Any) -> bool:
        """Whether ``item`` itself (not an equal object) is a member."""
        index = self._index
        if index is None:
            if len(self) <= _SCAN:
                return any(member is item for member in self)
            index = self._index = Counter(map(id, self))
        return id(item) in index

    def _count(self, removed: Iterable[Any], added: Iterable[Any]) -> None:
        index = self._index
        if index is None:
            return
        for item in removed:
            left = index[id(item)] - 1
            if left > 0:
                index[id(item)] = left
            else:
                del index[id(item)]
        for item in added:
            index[id(item)] += 1

    def _check(self, items: Iterable[Any]) -> None:
        rel = self._rel
        if rel is not None:
            for item in items:
                _check_member(rel, item)

    def _changed(self, removed: list[Any], added: list[Any]) -> None:
        """After a change: keep the counts, then the other side of each member that
        left (unless still here) or came."""
        self._count(removed, added)
        if self.released and added:
            self.released.difference_update(map(id, added))
        rel = self._rel
        if rel is None:
            return
        owner = self._owner
        if owner.__dict__.get(rel.key) is not self:
            return  # no longer the owner's collection
        reverse = rel.reverse
        if reverse is None:
            return
        for item in removed:
            if not self._has(item):
                _detach(owner, rel, reverse, item)
        for item in added:
            _attach(owner, rel, reverse, item)

    # -- list methods -----------------------------------------------------------------

    def append(self, item: Any, /) -> None:
        """Append ``item``; the other side gains the owner."""
        self._check((item,))
        list.append(self, item)
        self._changed([], [item])

    def extend(self, items: Iterable[Any], /) -> None:
        """Append each of ``items``."""
        new = list(items)
        self._check(new)
        list.extend(self, new)
        self._changed([], new)

    def __iadd__(self, items: Iterable[Any], /) -> Self:  # type: ignore[misc]
        self.extend(items)
        return self

    def insert(self, index: SupportsIndex, item: Any, /) -> None:
        """Insert ``item`` before ``index``."""
        self._check((item,))
        list.insert(self, index, item)
        self._changed([], [item])

    def remove(self, item: Any, /) -> None:
        """Remove the first occurrence of ``item`` (itself, else an equal object);
        ValueError when absent."""
        i = next((n for n, member in enumerate(self) if member is item), None)
        if i is None:
            i = list.index(self, item)
        removed = self[i]
        list.__delitem__(self, i)
        self._changed([removed], [])

    def pop(self, index: SupportsIndex = -1, /) -> Any:
        """Remove and return the member at ``index`` (the last by default)."""
        removed = list.pop(self, index)
        self._changed([removed], [])
        return removed

    def clear(self) -> None:
        """Remove every member."""
        removed = list(self)
        list.clear(self)
        self._changed(removed, [])

    @overload
    def __setitem__(self, index: SupportsIndex, item: Any, /) -> None: ...

    @overload
    def __setitem__(self, index: slice, items: Iterable[Any], /) -> None: ...

    def __setitem__(self, index: SupportsIndex | slice, value: Any, /) -> None:
        if isinstance(index, slice):
            new = list(value)
            self._check(new)
            old = list.__getitem__(self, index)
            list.__setitem__(self, index, new)
            self._changed(old, new)
        else:
            self._check((value,))
            old_one = list.__getitem__(self, index)
            list.__setitem__(self, index, value)
            self._changed([old_one], [value])

    def __delitem__(self, index: SupportsIndex | slice, /) -> None:
        old = list.__getitem__(self, index)
        list.__delitem__(self, index)
        self._changed(old if isinstance(index, slice) else [old], [])

    def __imul__(self, times: SupportsIndex, /) -> Self:
        before = list(self)
        list.__imul__(self, times)
        n = times.__index__()
        if n <= 0:
            self._changed(before, [])
        else:
            self._changed([], before * (n - 1))
        return self


def _collection(obj: Any, rel: RelationshipInfo) -> InstrumentedList | None:
    """``obj``'s loaded collection ``rel`` as an :class:`InstrumentedList`, or None
    when it is not loaded."""
    d = obj.__dict__
    value = d.get(rel.key, _MISSING)
    if type(value) is list:
        value = d[rel.key] = _adopt(value, obj, rel)
    return value if isinstance(value, InstrumentedList) else None


_new_list = list.__new__
_extend = list.extend


def _adopt(items: list[Any], owner: Any, rel: RelationshipInfo) -> InstrumentedList:
    """``InstrumentedList(items, owner, rel)``, made in about half the time (a plain
    list loading stored becomes one on its first read)."""
    collection: InstrumentedList = _new_list(InstrumentedList)
    _extend(collection, items)
    collection._owner = owner
    collection._rel = rel
    collection._index = None
    collection.released = None
    return collection


def _add(collection: InstrumentedList, item: Any) -> None:
    """Append ``item`` unless it is a member already (no hooks run)."""
    if collection._has(item):
        return
    list.append(collection, item)
    index = collection._index
    if index is not None:
        index[id(item)] += 1
    if collection.released:
        collection.released.discard(id(item))


def _discard(collection: InstrumentedList, item: Any) -> None:
    """Remove every occurrence of ``item`` (no hooks run): it left because its own
    side changed."""
    if not collection._has(item):
        return
    index = collection._index
    if index is not None and index.pop(id(item)) == 1:  # once: stop at it
        at = next(n for n, member in enumerate(collection) if member is item)
        list.__delitem__(collection, at)
    else:
        list.__setitem__(collection, slice(None), [m for m in collection if m is not item])
    if collection.released is None:
        collection.released = set()
    collection.released.add(id(item))


def _attach(owner: Any, rel: RelationshipInfo, reverse: RelationshipInfo, item: Any) -> None:
    """``owner``'s side ``rel`` now holds ``item``: ``item``'s side ``reverse`` gets
    ``owner``, and whatever ``item`` held there before lets go of ``item``."""
    if reverse.uselist:
        collection = _collection(item, reverse)
        if collection is not None:
            _add(collection, owner)
        return
    d = item.__dict__
    previous = d.get(reverse.key, _MISSING)
    if previous is owner:
        return
    if previous is not _MISSING and previous is not None:
        if rel.uselist:  # one-to-many: out of the previous parent's collection
            collection = _collection(previous, rel)
            if collection is not None:
                _discard(collection, item)
        else:  # one-to-one: the previous partner is left without one
            other = previous.__dict__
            if other.get(rel.key, _MISSING) is item:
                other[rel.key] = None
                if rel.direction == "one_to_one":
                    _left_one(previous, rel.key, item)
        if reverse.direction == "one_to_one":
            _left_one(item, reverse.key, previous)
    elif _LEFT and reverse.direction == "one_to_one":
        _back_one(item, reverse.key, owner)
    d[reverse.key] = owner


def _detach(owner: Any, rel: RelationshipInfo, reverse: RelationshipInfo, item: Any) -> None:
    """``owner``'s side ``rel`` no longer holds ``item``: take ``owner`` off ``item``'s
    side ``reverse`` (where loaded)."""
    if reverse.uselist:
        collection = _collection(item, reverse)
        if collection is not None:
            _discard(collection, owner)
        return
    d = item.__dict__
    if d.get(reverse.key, _MISSING) is owner:
        d[reverse.key] = None
        if reverse.direction == "one_to_one":
            _left_one(item, reverse.key, owner)


def left_by_its_own_side(owner: Any, rel: RelationshipInfo, item: Any) -> bool:
    """Whether ``item`` left ``owner``'s collection or one-to-one side ``rel`` because
    its own side changed (``post.author = other``, or it was added to another parent),
    not through ``owner``'s attribute: the flush then writes its foreign key from that
    side, and does not take it for an orphan."""
    value = owner.__dict__.get(rel.key)
    if isinstance(value, InstrumentedList):
        released = value.released
        return released is not None and id(item) in released
    return _LEFT.get((id(owner), rel.key)) is item


def settle(owner: Any, rel: RelationshipInfo) -> None:
    """``owner``'s side ``rel`` was written: forget what left it (see
    :func:`left_by_its_own_side`)."""
    value = owner.__dict__.get(rel.key)
    if isinstance(value, InstrumentedList):
        value.released = None
    elif _LEFT:
        _LEFT.pop((id(owner), rel.key), None)


def _checked(obj: Any, rel: RelationshipInfo, value: Any) -> Any:
    """``value`` as :func:`assign` stores it (a collection as a new list; the current
    collection itself, for ``obj.posts += [...]``, as it is), or TypeError."""
    if not rel.uselist:
        target = rel.target
        if value is not None and not isinstance(value, target):
            raise TypeError(f"{_name(rel)} takes a {target.__name__} or None, got {value!r}")
        return value
    if value is obj.__dict__.get(rel.key) and type(value) is InstrumentedList:
        return value
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Iterable):
        raise TypeError(
            f"{_name(rel)} takes a list of {rel.target.__name__} objects, got {value!r}"
        )
    items = list(value)
    for item in items:
        _check_member(rel, item)
    return items


def _store_scalar(obj: Any, rel: RelationshipInfo, value: Any) -> None:
    d = obj.__dict__
    old = d.get(rel.key, _MISSING)
    d[rel.key] = value
    if old is value:
        return
    if _LEFT and rel.direction == "one_to_one":
        _back_one(obj, rel.key, value)
    reverse = rel.reverse
    if reverse is None:
        return
    if old is not _MISSING and old is not None:
        _detach(obj, rel, reverse, old)
    if value is not None:
        _attach(obj, rel, reverse, value)


def _store_collection(obj: Any, rel: RelationshipInfo, items: list[Any]) -> None:
    d = obj.__dict__
    old = d.get(rel.key, _MISSING)
    if items is old:
        return  # ``obj.posts += [...]`` stores the same list back
    d[rel.key] = _adopt(items, obj, rel)
    reverse = rel.reverse
    if reverse is None:
        return
    before = list(old) if isinstance(old, list | tuple | set | frozenset) else []
    now_ids = set(map(id, items))
    before_ids = set(map(id, before))
    for item in before:
        if id(item) not in now_ids:
            now_ids.add(id(item))  # once each
            _detach(obj, rel, reverse, item)
    for item in items:
        if id(item) not in before_ids:
            before_ids.add(id(item))
            _attach(obj, rel, reverse, item)


def assign(obj: Any, rel: RelationshipInfo, value: Any) -> None:
    """``obj.<rel.key> = value`` for a relationship with ``back_populates``: store it
    (a collection as an :class:`InstrumentedList`) and bring the other side in step.
    TypeError, with nothing changed, for a value that is not a target object (or None)
    for a single object, or an iterable of target objects for a collection."""
    value = _checked(obj, rel, value)
    if rel.uselist:
        _store_collection(obj, rel, value)
    else:
        _store_scalar(obj, rel, value)


def assign_all(obj: Any, values: list[tuple[RelationshipInfo, Any]]) -> None:
    """:func:`assign` of several relationships (the constructor's keywords): every value
    is checked before any is stored, so a bad one changes no object."""
    checked = [(rel, _checked(obj, rel, value)) for rel, value in values]
    for rel, value in checked:
        if rel.uselist:
            _store_collection(obj, rel, value)
        else:
            _store_scalar(obj, rel, value)


def install_setattr(cls: type[Any], relationships: Mapping[str, RelationshipInfo]) -> None:
    """Keep ``cls``'s relationships with ``back_populates`` in step on assignment.

    ``Base.__setattr__`` (``_ormkit.model_setattr``, in Rust) hands an assignment of a
    name in the class's ``_ormkit_setattr`` hooks to :func:`assign` and stores anything
    else as ``object`` does. A model with such relationships gets its hooks and that
    ``__setattr__``; a ``__setattr__`` the class defines itself is kept, and reaches the
    hooks through ``super().__setattr__``. A model without hooks (of its own or
    inherited) gets ``object.__setattr__``, whose C slot stores without a method call."""
    from ormkit.orm.base import Base

    own = "__setattr__" in cls.__dict__
    hooks = {key: rel for key, rel in relationships.items() if rel.back_populates is not None}
    if hooks:
        type.__setattr__(cls, "_ormkit_setattr", (hooks, assign))
        if not own:
            type.__setattr__(cls, "__setattr__", Base.__dict__["__setattr__"])
    elif not own and getattr(cls, "_ormkit_setattr", None) is None:
        type.__setattr__(cls, "__setattr__", object.__setattr__)


class CollectionAttribute(RelationshipAttribute):
    """The class attribute of a collection with ``back_populates`` (installed when the
    relationship is resolved): reading it gives the collection as an
    :class:`InstrumentedList`, swapping the plain list loading stored for one the first
    time. Storing through it (``object.__setattr__``, as loading and the constructor
    do) puts the value in ``__dict__`` as it is; a model's own assignments go through
    its ``__setattr__`` (see :func:`install_setattr`)."""

    __slots__ = ("_key",)

    def __init__(self, info: RelationshipInfo) -> None:
        super().__init__(info)
        self._key = info.key

    def __get__(self, instance: object | None, owner: type | None = None) -> Any:
        if instance is None:
            return self
        d = instance.__dict__
        try:
            value = d[self._key]
        except KeyError:
            return RelationshipAttribute.__get__(self, instance, owner)  # raises
        if type(value) is list:
            value = d[self._key] = _adopt(value, instance, self.info)
        return value

    def __set__(self, instance: object, value: Any) -> None:
        instance.__dict__[self._key] = value

    def __delete__(self, instance: object) -> None:
        try:
            del instance.__dict__[self._key]
        except KeyError:
            raise AttributeError(self._key) from None
