"""Both sides of a ``back_populates`` pair kept in step in memory, before any flush (as
SQLAlchemy 2.0 does): many-to-one, one-to-many, one-to-one and many-to-many, on
objects in a session and on transient ones; an unloaded side is never loaded, never
raises, and stays unloaded; the flush writes what it wrote before, once."""

from __future__ import annotations

import copy
import os
import pickle
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from backends import ALL_BACKENDS, engine_with_tables
from statement_log import SqlLog

import ormkit
from ormkit import (
    AsyncSession,
    ForeignKey,
    Mapped,
    RelationshipNotLoaded,
    joinedload,
    mapped_column,
    relationship,
    selectinload,
)
from ormkit.orm import Registry, declarative_base
from ormkit.orm.backrefs import InstrumentedList

S = f"_{os.getpid()}"
Base: Any = declarative_base("BackPopulatesBase", registry=Registry(track=False))


class User(Base):
    __tablename__ = f"bp_users{S}"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]
    posts: Mapped[list[Post]] = relationship(back_populates="author", order_by="id")
    profile: Mapped[Profile | None] = relationship(back_populates="user", uselist=False)
    notes: Mapped[list[Note]] = relationship(
        back_populates="owner", cascade="all, delete-orphan", order_by="id"
    )
    badge: Mapped[Badge | None] = relationship(
        back_populates="user", uselist=False, cascade="all, delete-orphan"
    )


class Post(Base):
    __tablename__ = f"bp_posts{S}"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str]
    author_id: Mapped[int | None] = mapped_column(ForeignKey(f"bp_users{S}.id"))
    author: Mapped[User | None] = relationship(back_populates="posts")


class Profile(Base):
    """One-to-one (no unique key, so that a flush may reassign in any order)."""

    __tablename__ = f"bp_profiles{S}"

    id: Mapped[int] = mapped_column(primary_key=True)
    bio: Mapped[str]
    user_id: Mapped[int | None] = mapped_column(ForeignKey(f"bp_users{S}.id"))
    user: Mapped[User | None] = relationship(back_populates="profile")


class Note(Base):
    __tablename__ = f"bp_notes{S}"

    id: Mapped[int] = mapped_column(primary_key=True)
    text: Mapped[str]
    owner_id: Mapped[int | None] = mapped_column(ForeignKey(f"bp_users{S}.id"))
    owner: Mapped[User | None] = relationship(back_populates="notes")


class Badge(Base):
    """One-to-one with delete-orphan."""

    __tablename__ = f"bp_badges{S}"

    id: Mapped[int] = mapped_column(primary_key=True)
    label: Mapped[str]
    user_id: Mapped[int | None] = mapped_column(ForeignKey(f"bp_users{S}.id"))
    user: Mapped[User | None] = relationship(back_populates="badge")


class Article(Base):
    __tablename__ = f"bp_articles{S}"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str]
    tags: Mapped[list[Tag]] = relationship(
        secondary=f"bp_article_tags{S}", back_populates="articles", order_by="label"
    )


class Tag(Base):
    __tablename__ = f"bp_tags{S}"

    id: Mapped[int] = mapped_column(primary_key=True)
    label: Mapped[str]
    articles: Mapped[list[Article]] = relationship(
        secondary=f"bp_article_tags{S}", back_populates="tags", order_by="title"
    )


class ArticleTag(Base):
    __tablename__ = f"bp_article_tags{S}"
    __primary_key__ = ("article_id", "tag_id")

    article_id: Mapped[int] = mapped_column(ForeignKey(f"bp_articles{S}.id"))
    tag_id: Mapped[int] = mapped_column(ForeignKey(f"bp_tags{S}.id"))


class Node(Base):
    __tablename__ = f"bp_nodes{S}"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]
    parent_id: Mapped[int | None] = mapped_column(ForeignKey(f"bp_nodes{S}.id"))
    parent: Mapped[Node | None] = relationship(back_populates="children")
    children: Mapped[list[Node]] = relationship(back_populates="parent", order_by="id")


class Shelf(Base):
    __tablename__ = f"bp_shelves{S}"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]
    volumes: Mapped[list[Volume]] = relationship(back_populates="shelf", order_by="id")


class Volume(Base):
    """Optimistic locking: a move another writer raced fails as stale."""

    __tablename__ = f"bp_volumes{S}"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str]
    version: Mapped[int] = mapped_column(version=True)
    shelf_id: Mapped[int | None] = mapped_column(ForeignKey(f"bp_shelves{S}.id"))
    shelf: Mapped[Shelf | None] = relationship(back_populates="volumes")


MODELS = [User, Post, Profile, Note, Badge, Article, Tag, ArticleTag, Node, Shelf, Volume]


@pytest.fixture(params=ALL_BACKENDS)
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ormkit.Engine]:
    """An engine on each backend with this module's tables created empty."""
    async with engine_with_tables(request, request.param, tmp_path, MODELS) as eng:
        yield eng


def ids(objs: list[Any]) -> list[int]:
    return [id(o) for o in objs]


def writes(log: SqlLog) -> list[str]:
    """The INSERT/UPDATE/DELETE statements sent, each cut to verb and table."""
    out = []
    for sql in log.writes():
        words = sql.replace('"', "").split()
        table = words[2] if words[0] in ("INSERT", "DELETE") else words[1]
        out.append(f"{words[0]} {table.removesuffix(S)}")
    return out


async def users_with_posts(engine: ormkit.Engine) -> None:
    """ann with posts a1, a2; bob with b1; cy with none."""
    async with AsyncSession(engine) as s:
        s.add_all(
            [
                User(name="ann", posts=[Post(title="a1"), Post(title="a2")]),
                User(name="bob", posts=[Post(title="b1")]),
                User(name="cy"),
            ]
        )
        await s.commit()


async def authors_by_title(engine: ormkit.Engine) -> dict[str, str | None]:
    """What a fresh session reads back: post title → author name."""
    async with AsyncSession(engine) as s:
        posts = await s.query(Post).options(joinedload("author")).order_by("id").all()
        return {p.title: p.author.name if p.author else None for p in posts}


# -- many-to-one ------------------------------------------------------------------------


async def test_setting_many_to_one_moves_the_object_between_loaded_collections(
    engine: ormkit.Engine, queries: SqlLog
) -> None:
    await users_with_posts(engine)
    async with AsyncSession(engine) as s:
        ann, bob, cy = await s.query(User).options(selectinload("posts")).order_by("id").all()
        a1, a2 = ann.posts
        queries.clear()
        a1.author = bob
        assert ids(ann.posts) == ids([a2]) and ids(bob.posts) == ids([bob.posts[0], a1])
        a1.author = bob  # already there: not appended twice
        assert len(bob.posts) == 2
        a2.author = None
        assert ann.posts == [] and a2.author is None
        assert len(queries) == 0  # nothing loaded, nothing written yet
        await s.commit()
        assert writes(queries) == ["UPDATE bp_posts", "UPDATE bp_posts"]  # once each
        assert s.dirty == []
        queries.clear()
        cy.posts.append(a1)  # and through the collection of a third
        assert a1.author is cy and ids(bob.posts) == ids([bob.posts[0]])
        await s.commit()
        assert writes(queries) == ["UPDATE bp_posts"]
    assert await authors_by_title(engine) == {"a1": "cy", "a2": None, "b1": "bob"}


async def test_an_unloaded_collection_is_left_unloaded(
    engine: ormkit.Engine, queries: SqlLog
) -> None:
    await users_with_posts(engine)
    async with AsyncSession(engine) as s:
        ann, bob = await s.query(User).filter(name__in=["ann", "bob"]).order_by("id").all()
        post = await s.query(Post).filter(title="b1").options(selectinload("author")).one()
        assert post.author is bob
        queries.clear()
        post.author = ann  # neither ann.posts nor bob.posts is loaded
        assert len(queries) == 0
        for user in (ann, bob):
            assert "posts" not in user.__dict__
            with pytest.raises(RelationshipNotLoaded):
                _ = user.posts
        new = Post(title="n1", author=ann)  # through the constructor too
        assert new.author is ann and "posts" not in ann.__dict__
        s.add(new)
        await s.commit()
        assert sorted(writes(queries)) == ["INSERT bp_posts", "UPDATE bp_posts"]
    assert await authors_by_title(engine) == {"a1": "ann", "a2": "ann", "b1": "ann", "n1": "ann"}


# -- one-to-many ----------------------------------------------------------------------


async def test_appending_sets_the_many_to_one_side_and_inserts_once(
    engine: ormkit.Engine, queries: SqlLog
) -> None:
    await users_with_posts(engine)
    async with AsyncSession(engine) as s:
        cy = await s.query(User).filter(name="cy").options(selectinload("posts")).one()
        post = Post(title="c1")
        queries.clear()
        cy.posts.append(post)
        assert post.author is cy and len(cy.posts) == 1  # the sync did not append again
        await s.commit()
        assert writes(queries) == ["INSERT bp_posts"]  # one INSERT, the key in it
        assert post.author_id == cy.id and s.dirty == []
        queries.clear()
        await s.commit()
        assert writes(queries) == []
    assert (await authors_by_title(engine))["c1"] == "cy"


async def test_every_list_operation_keeps_the_children_in_step(
    engine: ormkit.Engine, session: AsyncSession
) -> None:
    user = User(name="u")  # transient: not in a session
    p = [Post(title=f"p{i}") for i in range(8)]
    user.posts.append(p[0])
    user.posts.extend([p[1], p[2]])
    user.posts.insert(0, p[3])
    user.posts += [p[4]]
    assert all(x.author is user for x in p[:5])
    user.posts.remove(p[1])
    assert p[1].author is None
    assert user.posts.pop() is p[4] and p[4].author is None
    del user.posts[0]  # p[3]
    assert p[3].author is None
    user.posts[0] = p[5]  # replaces p[0]
    assert p[0].author is None and p[5].author is user
    user.posts[1:] = [p[6], p[7]]  # replaces p[2]
    assert p[2].author is None and p[6].author is user and p[7].author is user
    del user.posts[1:2]  # p[6]
    assert p[6].author is None
    assert ids(user.posts) == ids([p[5], p[7]])
    user.posts *= 1
    assert ids(user.posts) == ids([p[5], p[7]])
    user.posts.clear()
    assert p[5].author is None and p[7].author is None
    user.posts = [p[0], p[1]]  # a whole new list
    assert p[0].author is user and p[1].author is user
    user.posts = [p[1], p[2]]
    assert p[0].author is None and p[2].author is user
    assert isinstance(user.posts, InstrumentedList)
    session.add(user)
    session.add_all(p)
    await session.commit()
    assert await authors_by_title(engine) == {
        "p0": None,
        "p1": "u",
        "p2": "u",
        **{f"p{i}": None for i in range(3, 8)},
    }


async def test_moving_and_removing_children_writes_each_row_once(
    engine: ormkit.Engine, queries: SqlLog
) -> None:
    await users_with_posts(engine)
    async with AsyncSession(engine) as s:
        ann, bob, cy = await s.query(User).options(selectinload("posts")).order_by("id").all()
        a1, a2 = ann.posts
        (b1,) = bob.posts
        queries.clear()
        bob.posts.append(a1)  # a1 leaves ann's loaded collection
        assert a1.author is bob and ids(ann.posts) == ids([a2])
        ann.posts.remove(a2)
        assert a2.author is None
        cy.posts = [b1]  # taken from bob, who keeps a1
        assert b1.author is cy and ids(bob.posts) == ids([a1])
        await s.commit()
        assert writes(queries) == ["UPDATE bp_posts"] * 3
        assert s.dirty == []
    assert await authors_by_title(engine) == {"a1": "bob", "a2": None, "b1": "cy"}


# -- one-to-one -----------------------------------------------------------------------


async def test_one_to_one_both_directions(engine: ormkit.Engine) -> None:
    async with AsyncSession(engine) as s:
        s.add_all([User(name="ann", profile=Profile(bio="pa")), User(name="bob")])
        s.add(Profile(bio="loose"))
        await s.commit()
    async with AsyncSession(engine) as s:
        ann, bob = await s.query(User).options(selectinload("profile")).order_by("id").all()
        pa = ann.profile
        assert pa is not None and pa.user is ann and bob.profile is None
        loose = await s.query(Profile).filter(bio="loose").options(selectinload("user")).one()
        ann.profile = loose  # ann's previous profile loses its user
        assert loose.user is ann and pa.user is None
        pa.user = bob  # from the other side
        assert bob.profile is pa
        loose.user = bob  # bob's profile (pa) is left without a user; ann without profile
        assert bob.profile is loose and pa.user is None and ann.profile is None
        await s.commit()
    async with AsyncSession(engine) as s:
        rows = await s.query(Profile).options(selectinload("user")).order_by("id").all()
        assert {p.bio: p.user.name if p.user else None for p in rows} == {
            "pa": None,
            "loose": "bob",
        }


# -- many-to-many ---------------------------------------------------------------------


async def test_many_to_many_both_directions(engine: ormkit.Engine, queries: SqlLog) -> None:
    async with AsyncSession(engine) as s:
        s.add_all([Article(title="x"), Article(title="y"), Tag(label="t"), Tag(label="u")])
        await s.commit()
    async with AsyncSession(engine) as s:
        x, y = await s.query(Article).options(selectinload("tags")).order_by("id").all()
        t = await s.query(Tag).filter(label="t").options(selectinload("articles")).one()
        u = await s.query(Tag).filter(label="u").one()  # articles not loaded
        queries.clear()
        x.tags.append(t)
        assert ids(t.articles) == ids([x])
        t.articles.append(y)
        assert ids(y.tags) == ids([t])
        x.tags.append(u)
        assert "articles" not in u.__dict__  # left unloaded, and no query
        assert len(queries) == 0
        await s.commit()
        assert writes(queries) == ["INSERT bp_article_tags"]  # one statement, three rows
        queries.clear()
        t.articles.remove(x)
        assert ids(x.tags) == ids([u])
        await s.commit()
        assert writes(queries) == ["DELETE bp_article_tags"]
    async with AsyncSession(engine) as s:
        x, y = await s.query(Article).options(selectinload("tags")).order_by("id").all()
        assert [g.label for g in x.tags] == ["u"] and [g.label for g in y.tags] == ["t"]


# -- delete-orphan ----------------------------------------------------------------------


async def test_delete_orphan_only_for_a_removal_from_the_collection(
    engine: ormkit.Engine, queries: SqlLog
) -> None:
    async with AsyncSession(engine) as s:
        s.add_all(
            [User(name="ann", notes=[Note(text=n) for n in ("n1", "n2", "n3")]), User(name="bob")]
        )
        await s.commit()
    async with AsyncSession(engine) as s:
        ann, bob = await s.query(User).options(selectinload("notes")).order_by("id").all()
        n1, n2, n3 = ann.notes
        queries.clear()
        ann.notes.remove(n1)  # an orphan: deleted
        assert n1.owner is None
        n2.owner = bob  # moved: kept
        n3.owner = None  # its own side cleared: its key is set to NULL, as before
        assert ann.notes == [] and ids(bob.notes) == ids([n2])
        await s.commit()
        assert sorted(writes(queries)) == ["DELETE bp_notes", "UPDATE bp_notes", "UPDATE bp_notes"]
    async with AsyncSession(engine) as s:
        notes = await s.query(Note).options(joinedload("owner")).order_by("id").all()
        assert {n.text: n.owner.name if n.owner else None for n in notes} == {
            "n2": "bob",
            "n3": None,
        }


async def test_one_to_one_delete_orphan_only_for_the_owners_own_change(
    engine: ormkit.Engine, queries: SqlLog
) -> None:
    async with AsyncSession(engine) as s:
        s.add_all([User(name=f"u{i}", badge=Badge(label=f"b{i}")) for i in range(5)])
        await s.commit()
    async with AsyncSession(engine) as s:
        u0, u1, u2, u3, u4 = await s.query(User).options(selectinload("badge")).order_by("id").all()
        b0, b1, b2, b3, b4 = (u.badge for u in (u0, u1, u2, u3, u4))
        queries.clear()
        u0.badge = None  # the owner lets go: an orphan, deleted
        assert b0 is not None and b0.user is None
        assert b1 is not None and b2 is not None and b3 is not None and b4 is not None
        b1.user = None  # its own side: kept, its key set to NULL
        assert u1.badge is None
        b2.user = u0  # moved to u0 (who has none now): kept
        assert u0.badge is b2 and u2.badge is None
        b3.user = u4  # u4's badge b4 is left without a user: kept, key NULL
        assert u4.badge is b3 and b4.user is None and u3.badge is None
        u3.badge = b4  # and given to u3 from the owner's side
        assert b4.user is u3
        await s.commit()
        assert sorted(writes(queries)) == ["DELETE bp_badges", *["UPDATE bp_badges"] * 4]
    async with AsyncSession(engine) as s:
        badges = await s.query(Badge).options(joinedload("user")).order_by("id").all()
        assert {b.label: b.user.name if b.user else None for b in badges} == {
            "b1": None,
            "b2": "u0",
            "b3": "u4",
            "b4": "u3",
        }


# -- transient graphs, constructors, inserts --------------------------------------------


async def test_a_transient_graph_is_in_step_and_written_once(
    engine: ormkit.Engine, session: AsyncSession, queries: SqlLog
) -> None:
    ann = User(name="ann")
    post = Post(title="p", author=ann)  # the constructor goes through the same setter
    assert ids(ann.posts) == ids([post])
    other = User(name="bob", posts=[Post(title="q")])
    assert other.posts[0].author is other
    tag = Tag(label="t")
    article = Article(title="a", tags=[tag])
    assert ids(tag.articles) == ids([article])
    root = Node(name="root")
    leaf = Node(name="leaf", parent=root)
    assert ids(root.children) == ids([leaf])
    session.add_all([ann, other, tag, root])  # the rest is reached from these
    await session.commit()
    assert sorted(writes(queries)) == [
        "INSERT bp_article_tags",
        "INSERT bp_articles",
        "INSERT bp_nodes",
        "INSERT bp_nodes",
        "INSERT bp_posts",
        "INSERT bp_tags",
        "INSERT bp_users",
    ]
    assert session.dirty == []
    assert await authors_by_title(engine) == {"p": "ann", "q": "bob"}
    async with AsyncSession(engine) as s:
        (stored,) = await s.query(Node).filter(name="leaf").options(selectinload("parent")).all()
        assert stored.parent is not None and stored.parent.name == "root"


async def test_an_insert_takes_the_other_side_as_written(
    engine: ormkit.Engine, session: AsyncSession, queries: SqlLog
) -> None:
    await users_with_posts(engine)
    cy = await session.query(User).filter(name="cy").options(selectinload("posts")).one()
    tag = await session.insert(Tag(label="t"))
    await session.load_related(tag, "articles")
    post = await session.insert(Post(title="c1", author=cy))  # appended to cy.posts
    article = await session.insert(Article(title="a", tags=[tag]))  # and to tag.articles
    assert ids(cy.posts) == ids([post]) and ids(tag.articles) == ids([article])
    assert session.dirty == []
    queries.clear()
    await session.commit()
    assert writes(queries) == []  # the association row is not written a second time
    async with AsyncSession(engine) as s:
        (stored,) = await s.query(Tag).options(selectinload("articles")).all()
        assert [a.title for a in stored.articles] == ["a"]
    assert (await authors_by_title(engine))["c1"] == "cy"


# -- no recursion, loading, bad input -------------------------------------------------


async def test_no_recursion_and_no_duplicates_in_large_collections(
    engine: ormkit.Engine, session: AsyncSession
) -> None:
    ann, bob = User(name="ann"), User(name="bob")
    posts = [Post(title=f"p{i:02}", author=ann) for i in range(40)]  # counts per member
    for post in posts:
        post.author = ann  # the same: nothing appended
    assert len(ann.posts) == 40
    for post in posts[::2]:
        bob.posts.append(post)
    assert len(ann.posts) == 20 and len(bob.posts) == 20
    assert all(p.author is (bob if i % 2 == 0 else ann) for i, p in enumerate(posts))
    for post in posts[::2]:
        post.author = bob  # no change
    assert len(bob.posts) == 20
    bob.posts.append(posts[0])  # a list keeps what it is given twice...
    assert len(bob.posts) == 21 and posts[0].author is bob
    bob.posts.remove(posts[0])  # ...and the child stays while one is left
    assert posts[0].author is bob
    bob.posts.append(posts[0])  # again, now that the list counts its members
    bob.posts.remove(posts[0])
    assert posts[0].author is bob
    bob.posts.remove(posts[0])
    assert posts[0].author is None and len(bob.posts) == 19
    root = Node(name="root")
    root.children.append(root)  # a cycle through one object: no endless sync
    assert root.parent is root and len(root.children) == 1
    root.children.remove(root)
    assert root.parent is None and root.children == []
    session.add_all([ann, bob, posts[0]])
    await session.commit()
    stored = await authors_by_title(engine)
    assert list(stored.values()).count("ann") == 20 and list(stored.values()).count("bob") == 19


async def test_loading_does_no_sync_and_leaves_the_session_clean(
    engine: ormkit.Engine, queries: SqlLog
) -> None:
    await users_with_posts(engine)
    for option in (selectinload, joinedload):
        async with AsyncSession(engine) as s:
            users = await s.query(User).options(option("posts")).order_by("id").all()
            # filled in bulk, as plain lists: nothing ran per object
            assert all(type(u.__dict__["posts"]) is list for u in users)
            ann = users[0]
            assert isinstance(ann.posts, InstrumentedList) and ann.posts[0].author is ann
            assert [len(u.posts) for u in users] == [2, 1, 0]
            assert s.dirty == []
            queries.clear()
            await s.commit()
            assert writes(queries) == []


async def test_bad_values_raise_and_change_nothing(engine: ormkit.Engine, queries: SqlLog) -> None:
    await users_with_posts(engine)
    async with AsyncSession(engine) as s:
        ann, bob = await s.query(User).options(selectinload("posts")).order_by("id").limit(2).all()
        a1 = ann.posts[0]
        queries.clear()
        with pytest.raises(TypeError, match=r"Post\.author takes a User or None, got 'bob'"):
            a1.author = "bob"
        with pytest.raises(TypeError, match=r"User\.posts takes a list of Post objects, got None"):
            ann.posts = None
        with pytest.raises(TypeError, match=r"User\.posts takes a list of Post objects"):
            ann.posts = "posts"
        with pytest.raises(TypeError, match=r"User\.posts holds Post objects, got <User"):
            ann.posts.append(bob)
        with pytest.raises(TypeError, match=r"User\.posts holds Post objects, got 1"):
            ann.posts = [a1, 1]
        with pytest.raises(TypeError, match=r"User\.posts holds Post objects"):
            ann.posts.extend([bob.posts[0], "x"])
        with pytest.raises(TypeError, match=r"User\.posts holds Post objects"):
            ann.posts[0:1] = [None]
        with pytest.raises(TypeError, match=r"User\.profile takes a Profile or None"):
            ann.profile = a1
        with pytest.raises(ValueError, match=r"not in list"):
            ann.posts.remove(bob.posts[0])
        with pytest.raises(TypeError, match=r"unexpected keyword argument 'writer'"):
            Post(title="t", author=ann, writer=ann)
        with pytest.raises(TypeError, match=r"User\.profile takes a Profile or None, got 'p'"):
            User(name="x", posts=[bob.posts[0]], profile="p")  # checked before any is set
        assert [p.title for p in ann.posts] == ["a1", "a2"] and a1.author is ann
        assert [p.title for p in bob.posts] == ["b1"] and bob.posts[0].author is bob
        assert s.dirty == []
        await s.commit()
        assert writes(queries) == []
    assert await authors_by_title(engine) == {"a1": "ann", "a2": "ann", "b1": "bob"}


async def test_a_replaced_collection_no_longer_changes_anything(
    engine: ormkit.Engine, session: AsyncSession
) -> None:
    user = User(name="u")
    kept, loose = Post(title="kept"), Post(title="loose")
    old = user.posts
    user.posts = [kept]
    old.append(loose)  # the list the user held is not the user's collection any more
    assert "author" not in loose.__dict__ and ids(user.posts) == ids([kept])
    plain = copy.copy(user.posts)  # copies are plain lists
    assert type(plain) is list and ids(plain) == ids([kept])
    unpickled = pickle.loads(pickle.dumps(user.posts))
    assert type(unpickled) is list and [p.title for p in unpickled] == ["kept"]
    session.add_all([user, loose])
    await session.commit()
    assert await authors_by_title(engine) == {"kept": "u", "loose": None}


async def test_a_move_refused_as_stale_puts_both_collections_back(
    session: AsyncSession, engine: ormkit.Engine
) -> None:
    """The object gets its last known values back, and so do the collections on the
    other side: it was left in the new parent's, and a later commit wrote the move."""
    await session.insert_all([Shelf(name="a", volumes=[Volume(title="x")]), Shelf(name="b")])
    session.expunge_all()
    load = session.query(Shelf).options(selectinload("volumes"))
    a = await load.filter(name="a").one()
    b = await load.filter(name="b").one()
    x = a.volumes[0]
    await engine.execute(f"UPDATE {Volume.__tablename__} SET version = version + 1")
    x.shelf = b
    with pytest.raises(ormkit.StaleDataError):
        await session.commit()
    assert x.shelf is a and a.volumes == [x] and b.volumes == []
    await session.refresh(x)
    await session.commit()
    stored = await engine.execute(f"SELECT shelf_id FROM {Volume.__tablename__}")
    assert stored.column(0) == [a.id]


async def test_a_rollback_unloads_a_collection_loaded_inside_it(
    session: AsyncSession,
) -> None:
    """A collection first loaded inside a transaction read rows that a rollback may
    undo: the rollback unloads it (it kept the rolled-back move: the object in two
    parents)."""
    await session.insert_all([User(name="ann"), User(name="bob", posts=[Post(title="x")])])
    session.expunge_all()
    bob = await session.query(User).filter(name="bob").options(selectinload("posts")).one()
    ann = await session.query(User).filter(name="ann").one()
    x = bob.posts[0]
    x.author = ann
    await session.flush()
    await session.load_related(ann, "posts")
    assert ann.posts == [x]
    await session.rollback()
    assert x.author is bob and bob.posts == [x]
    with pytest.raises(ormkit.RelationshipNotLoaded):
        ann.posts  # noqa: B018
    await session.load_related(ann, "posts")
    assert ann.posts == [] and bob.posts == [x]
