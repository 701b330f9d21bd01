"""A selectin load links children to parents in Rust (``collect_by_attribute``,
``link_fresh``, ``set_reverse``): the reverse side is set on objects and snapshots
alike, objects that already hold it keep it, and change tracking sees exactly what the
user changes."""

from __future__ import annotations

from typing import Any

import pytest
from collector import GENERATIONAL, collections_during
from rel_models import Author, Node, Post
from statement_log import SqlLog

import ormkit
from ormkit import AsyncSession, selectinload
from ormkit._ormkit import collect_by_attribute, link_fresh, set_reverse


async def _authors(engine: ormkit.Engine) -> tuple[int, int]:
    async with AsyncSession(engine) as s:
        ann = Author(name="ann", posts=[Post(title=f"a{i}") for i in range(3)])
        bob = Author(name="bob", posts=[Post(title="b0")])
        await s.insert_all([ann, bob, Author(name="cy")])
        return ann.id, bob.id


async def test_children_point_back_and_nothing_is_dirty(
    engine: ormkit.Engine, queries: SqlLog
) -> None:
    await _authors(engine)
    async with AsyncSession(engine) as s:
        ann, bob, cy = await s.query(Author).options(selectinload("posts")).order_by("id").all()
        assert [p.title for p in ann.posts] == ["a0", "a1", "a2"]
        assert [p.title for p in bob.posts] == ["b0"] and cy.posts == []
        assert all(p.author is ann for p in ann.posts) and bob.posts[0].author is bob
        for post in (*ann.posts, *bob.posts):
            assert s._uow.states[id(post)].snapshot["author"] is post.__dict__["author"]
        assert s.dirty == []
        queries.clear()
        await s.commit()
        assert queries.sql == []  # loading wrote nothing
        ann.posts[1].author = bob  # moved: only its foreign key is written
        await s.commit()
        updates = [q for q in queries.sql if q.startswith("UPDATE")]
        assert len(updates) == 1 and updates[0].startswith(f"UPDATE {Post.__tablename__} SET")
        assert "author_id" in updates[0] and "title" not in updates[0]
    async with AsyncSession(engine) as s:
        moved = await s.query(Post).filter(title="a1").one()
        assert moved.author_id == bob.id


async def test_a_reverse_side_already_held_is_kept(engine: ormkit.Engine) -> None:
    ann_id, bob_id = await _authors(engine)
    async with AsyncSession(engine, autoflush=False) as s:
        post = await s.query(Post).filter(title="a0").one()
        bob = await s.get_or_raise(Author, bob_id)
        post.author = bob  # unflushed: the row still says ann
        ann = await s.query(Author).options(selectinload("posts")).filter(id=ann_id).one()
        assert post in ann.posts  # the row links it to ann...
        assert post.author is bob  # ...but the object keeps what the user set
        assert s.dirty == [post]


async def test_self_referential_children(engine: ormkit.Engine) -> None:
    async with AsyncSession(engine) as s:
        root = Node(name="root", children=[Node(name="b"), Node(name="a")])
        await s.insert(root)
        root_id = root.id
    async with AsyncSession(engine) as s:
        nodes = await s.query(Node).options(selectinload("children")).order_by("id").all()
        top = next(n for n in nodes if n.id == root_id)
        assert [c.name for c in top.children] == ["a", "b"]
        assert all(c.parent is top for c in top.children)
        assert all(c.children == [] for c in top.children)
        assert s.dirty == []


class _Obj:
    def __init__(self, **values: Any) -> None:
        self.__dict__.update(values)


class _State:
    __slots__ = ("key", "obj", "persistent", "snapshot")

    def __init__(self, obj: Any, persistent: bool) -> None:
        self.obj, self.key, self.persistent = obj, None, persistent
        self.snapshot = dict(obj.__dict__)


def test_collect_by_attribute() -> None:
    a, b, c, d, e, f = _Obj(k=1), _Obj(k=2), _Obj(k=1), _Obj(k=None), _Obj(other=1), _Obj(k=3)
    found: dict[Any, list[Any]] = {(1,): [], (2,): [b], (None,): [], "x": []}
    collect_by_attribute([a, b, c, a, d, e, f, b], "k", found)
    # in order, each object once; 3 is not asked for, None never matches
    assert found == {(1,): [a, c], (2,): [b, b], (None,): [], "x": []}
    collect_by_attribute([], "k", found)
    assert found[(1,)] == [a, c]
    with pytest.raises(TypeError, match="unhashable"):
        collect_by_attribute([_Obj(k=[1])], "k", found)


def test_link_fresh() -> None:
    p1, p2, p3 = _Obj(name="p1"), _Obj(name="p2"), _Obj(name="p3")
    c1, c2, c3 = _Obj(), _Obj(), _Obj()
    kids = [c1, c2]
    loaded, linked = link_fresh([(p1, kids), (p2, []), (p3, [c3])], "kids", "parent", True)
    assert p1.kids is kids and p2.kids == [] and p3.kids == [c3]
    assert c1.parent is p1 and c2.parent is p1 and c3.parent is p3
    assert linked and [p for p, _ in loaded] == [p1, p2, p3]
    snapshot = loaded[0][1]
    assert snapshot == kids and snapshot is not kids  # a copy: appending shows as a change
    q1, q2, only = _Obj(), _Obj(), _Obj()
    loaded, linked = link_fresh([(q1, [only]), (q2, [])], "one", None, False)
    assert q1.one is only and q2.one is None and not hasattr(only, "parent")
    assert loaded == [(q1, only), (q2, None)] and not linked
    with pytest.raises(TypeError, match="list"):
        link_fresh([(q1, (only,))], "one", None, False)
    with pytest.raises(TypeError, match="tuples"):
        link_fresh([[q1, [only]]], "one", None, False)


def test_set_reverse() -> None:
    p1, p2 = _Obj(name="p1"), _Obj(name="p2")
    tracked, pending, untracked, holding = _Obj(), _Obj(), _Obj(), _Obj(parent=p2)
    states = {
        id(tracked): _State(tracked, True),
        id(pending): _State(pending, False),
        id(holding): _State(holding, True),
    }
    set_reverse([(p1, [tracked, pending, untracked, holding]), (p2, [tracked])], "parent", states)
    assert tracked.parent is p1 and pending.parent is p1 and untracked.parent is p1
    assert holding.parent is p2  # already set: kept
    assert states[id(tracked)].snapshot == {"parent": p1}
    assert states[id(pending)].snapshot == {}  # not persistent: no snapshot to keep
    assert states[id(holding)].snapshot == {"parent": p2}
    with pytest.raises(TypeError, match="tuples"):
        set_reverse([[p1, [tracked]]], "parent", states)


class _PlainState:
    """A state without slots (read as attributes)."""

    def __init__(self, obj: Any, persistent: bool) -> None:
        self.obj, self.key, self.persistent = obj, None, persistent
        self.snapshot = dict(obj.__dict__)


class _Guarded:
    """Attribute access the user's way is refused; the loaders read and write
    attributes as ``object.__getattribute__``/``object.__setattr__`` do."""

    k = property(lambda self: (_ for _ in ()).throw(ValueError("no k")))

    def __init__(self, **attrs: Any) -> None:
        for name, value in attrs.items():
            object.__setattr__(self, name, value)

    def __getattribute__(self, name: str) -> Any:
        raise RuntimeError(f"read of {name}")

    def __setattr__(self, name: str, value: Any) -> None:
        raise RuntimeError(f"write of {name}")


def test_collect_by_attribute_reads_as_object_does() -> None:
    a, b, c = _Guarded(fk=1), _Guarded(fk=2), _Guarded()
    found: dict[Any, list[Any]] = {(1,): [], (2,): []}
    collect_by_attribute([a, b, c, a], "fk", found)
    assert found == {(1,): [a], (2,): [b]}  # c: missing
    posts = [Post(title="t", author_id=7), Post(title="u")]
    del posts[1].__dict__["author_id"]  # the column's descriptor: AttributeError, missing
    found = {(7,): []}
    collect_by_attribute(posts, "author_id", found)
    assert found == {(7,): posts[:1]}
    with pytest.raises(ValueError, match="no k"):  # anything else comes through
        collect_by_attribute([_Guarded()], "k", {(1,): []})


def test_link_fresh_writes_as_object_does() -> None:
    parent, child = _Guarded(), _Guarded()
    link_fresh([(parent, [child])], "kids", "parent", True)
    assert object.__getattribute__(parent, "kids") == [child]
    assert object.__getattribute__(child, "parent") is parent


def test_link_fresh_of_fresh_children() -> None:
    """Fresh children (a load not registered yet) get their parent from ``link_fresh``
    (``set_reverse`` is for children the session tracks)."""
    parent, other = _Obj(name="p"), _Obj(name="o")
    fresh, guarded = _Obj(), _Guarded()
    link_fresh([(parent, [fresh, guarded]), (other, [])], "kids", "parent", True)
    assert fresh.parent is parent and object.__getattribute__(guarded, "parent") is parent
    with pytest.raises(TypeError, match="tuples"):
        link_fresh([[parent, [fresh]]], "kids", "parent", True)


def test_set_reverse_reads_any_state_class() -> None:
    parent = _Obj(name="p")
    a, b, c, d = _Obj(), _Obj(), _Obj(), _Obj()
    half = _State(d, True)
    del half.snapshot  # an empty slot reads as a missing attribute
    states = {
        id(a): _State(a, True),
        id(b): _PlainState(b, True),
        id(c): _State(c, True),
        id(d): half,
    }
    set_reverse([(parent, [a, b, c])], "parent", states)
    assert [states[id(o)].snapshot for o in (a, b, c)] == [{"parent": parent}] * 3
    with pytest.raises(AttributeError):
        set_reverse([(parent, [d])], "parent", states)


@GENERATIONAL
async def test_a_large_selectin_load_sets_off_no_collection(engine: ormkit.Engine) -> None:
    """The children of a selectin load are made, grouped and linked both ways with the
    collector paused, and nothing the load and the session's exit do afterwards
    allocates a container: no collection walks the load's objects while they are
    alive. Parents and children refer to each other, so a collection then would
    promote them, and once dropped they would wait as cyclic garbage for an older
    generation's collection, which walks the garbage of many loads."""
    async with AsyncSession(engine) as s:
        await s.insert_all(
            [
                Author(name=f"a{i}", posts=[Post(title=f"p{i}.{j}") for j in range(10)])
                for i in range(100)
            ]
        )

    async def load() -> list[Author]:
        async with AsyncSession(engine) as s:
            q = s.query(Author).options(selectinload("posts")).order_by("id")
            authors: list[Author] = await q.all()
        assert len(authors) == 100
        return authors

    authors, walked = await collections_during(load)
    assert walked == []
    assert [len(a.posts) for a in authors] == [10] * 100
    assert all(p.author is a for a in authors for p in a.posts)
