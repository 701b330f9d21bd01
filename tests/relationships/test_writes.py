"""Writes through relationships land with the right foreign keys and association rows."""

from __future__ import annotations

import pytest
from rel_models import Author, Board, Comment, Node, Note, Pin, Post, PostTag, Profile, Sticker, Tag
from statement_log import SqlLog

import ormkit
from ormkit import AsyncSession, selectinload


async def rows(engine: ormkit.Engine, sql: str) -> list[tuple[object, ...]]:
    return (await engine.execute(sql)).tuples()


async def test_assigning_many_to_one_sets_the_foreign_key(
    session: AsyncSession, engine: ormkit.Engine, queries: SqlLog
) -> None:
    post = await session.insert(Post(title="t"))
    assert post.author_id is None
    author = Author(name="new")  # not in the database yet: inserted first
    post.author = author
    await session.commit()
    assert author.id is not None and post.author_id == author.id
    assert queries.sql[-2].startswith(f"INSERT INTO {Author.__tablename__}")
    assert queries.sql[-1].startswith(f"UPDATE {Post.__tablename__} SET author_id")
    other = await session.insert(Author(name="other"))
    post.author = other
    await session.commit()
    post.author = None
    await session.commit()
    assert await rows(engine, f"SELECT author_id FROM {Post.__tablename__}") == [(None,)]
    created = await session.insert(Post(title="with author", author=other))
    assert created.author_id == other.id


async def test_appending_to_a_loaded_collection_inserts_the_child(
    session: AsyncSession, engine: ormkit.Engine
) -> None:
    await session.insert(Author(name="ann"))
    session.expunge_all()
    ann = await session.query(Author).options(selectinload("posts")).one()
    assert ann.posts == []
    ann.posts.append(Post(title="appended"))
    ann.posts.append(Post(title="second"))
    await session.commit()
    assert [p.author_id for p in ann.posts] == [ann.id, ann.id]
    stored = await rows(engine, f"SELECT title, author_id FROM {Post.__tablename__} ORDER BY id")
    assert stored == [("appended", ann.id), ("second", ann.id)]
    moved = ann.posts.pop()  # removed from a collection without delete-orphan: FK set NULL
    await session.commit()
    assert moved.author_id is None
    stored = await rows(engine, f"SELECT title, author_id FROM {Post.__tablename__} ORDER BY id")
    assert stored == [("appended", ann.id), ("second", None)]
    await session.commit()  # nothing left to write
    session.expunge_all()
    ann = await session.query(Author).options(selectinload("posts")).one()
    assert [p.title for p in ann.posts] == ["appended"]


async def test_replacing_a_collection_that_was_never_loaded(
    session: AsyncSession, engine: ormkit.Engine
) -> None:
    """``author.posts = [...]`` on an author loaded without posts would leave the posts
    the database holds beside the new one: the flush refuses it, naming the fix, and
    sends nothing. Loaded first (even after the assignment), it replaces them."""
    await session.insert(Author(name="ann", posts=[Post(title="old1"), Post(title="old2")]))
    await session.insert(Post(title="tagged", tags=[Tag(label="x")]))
    session.expunge_all()
    ann = await session.query(Author).one()
    ann.posts = [Post(title="new")]
    with pytest.raises(ormkit.RelationshipNotLoaded, match=r"Author\.posts was assigned"):
        await session.commit()
    await session.rollback()
    assert await rows(engine, f"SELECT title, author_id FROM {Post.__tablename__} ORDER BY id") == [
        ("old1", ann.id),
        ("old2", ann.id),
        ("tagged", None),
    ]
    session.expunge_all()
    tagged = await session.query(Post).filter(title="tagged").one()
    tagged.tags = [Tag(label="y")]  # many-to-many alike
    with pytest.raises(ormkit.RelationshipNotLoaded, match=r"Post\.tags was assigned"):
        await session.flush()
    await session.rollback()
    session.expunge_all()

    ann = await session.query(Author).one()
    ann.posts = [Post(title="new")]
    await session.load_related(ann, "posts")  # the assignment stays; the old rows known
    assert [p.title for p in ann.posts] == ["new"]
    await session.commit()
    assert await rows(engine, f"SELECT title, author_id FROM {Post.__tablename__} ORDER BY id") == [
        ("old1", None),
        ("old2", None),
        ("tagged", None),
        ("new", ann.id),
    ]


async def test_delete_orphan_and_cascade_delete(
    session: AsyncSession, engine: ormkit.Engine
) -> None:
    post = await session.insert(
        Post(title="p", comments=[Comment(body="a"), Comment(body="b")], tags=[Tag(label="t")])
    )
    session.expunge_all()
    post = await session.query(Post).options(selectinload("comments")).one()
    dropped = post.comments.pop(0)  # order_by="-id": "b"
    assert dropped.body == "b"
    await session.commit()
    assert await rows(engine, f"SELECT body FROM {Comment.__tablename__}") == [("a",)]
    await session.remove(post)  # cascade="all": the loaded comments go too, and tag links
    assert await rows(engine, f"SELECT count(*) FROM {Comment.__tablename__}") == [(0,)]
    assert await rows(engine, f"SELECT count(*) FROM {PostTag.__tablename__}") == [(0,)]
    assert await rows(engine, f"SELECT label FROM {Tag.__tablename__}") == [("t",)]


async def test_cascade_delete_reaches_children_that_are_not_loaded(
    session: AsyncSession, engine: ormkit.Engine, queries: SqlLog
) -> None:
    first = await session.insert(Post(title="p", comments=[Comment(body="a"), Comment(body="b")]))
    second = await session.insert(Post(title="q", comments=[Comment(body="c")]))
    session.expunge_all()
    post = await session.get_or_raise(Post, first.id)  # comments not loaded
    queries.clear()
    await session.delete(post)
    await session.commit()  # as SQLAlchemy: the comments are found and deleted first
    assert queries.sql[0].startswith("SELECT") and Comment.__tablename__ in queries.sql[0]
    remaining = f"SELECT body FROM {Comment.__tablename__} ORDER BY body"
    assert await rows(engine, remaining) == [("c",)]
    assert await rows(engine, f"SELECT title FROM {Post.__tablename__}") == [("q",)]
    await session.remove(await session.get_or_raise(Post, second.id))  # active record
    assert await rows(engine, remaining) == []
    assert await rows(engine, f"SELECT count(*) FROM {Post.__tablename__}") == [(0,)]


async def test_removing_an_object_built_with_its_key_cascades(
    session: AsyncSession, engine: ormkit.Engine
) -> None:
    """``remove(Post(id=..., title=...))``: its empty-by-default collections say nothing
    of the rows in the database, which are found and deleted as for a loaded row (it was
    the foreign key's IntegrityError, nothing deleted)."""
    post = await session.insert(Post(title="p", comments=[Comment(body="a"), Comment(body="b")]))
    session.expunge_all()
    await session.remove(Post(id=post.id, title="p"))
    assert await rows(engine, f"SELECT count(*) FROM {Comment.__tablename__}") == [(0,)]
    assert await rows(engine, f"SELECT count(*) FROM {Post.__tablename__}") == [(0,)]


async def test_hard_delete_of_a_parent_takes_its_soft_deleted_children(
    session: AsyncSession, engine: ormkit.Engine
) -> None:
    board = await session.insert(
        Board(name="b", notes=[Note(text="hidden"), Note(text="shown", pins=[Pin(), Pin()])])
    )
    await session.insert(Board(name="other", notes=[Note(text="kept")]))
    await session.soft_delete(board.notes[0])
    session.expunge_all()
    board = await session.query(Board).filter(name="b").options(selectinload("notes")).one()
    assert [n.text for n in board.notes] == ["shown"]  # the soft-deleted note is left out
    await session.remove(board)  # its row still references the board: deleted too
    left = await rows(engine, f"SELECT text, deleted_at FROM {Note.__tablename__}")
    assert left == [("kept", None)]
    assert await rows(engine, f"SELECT count(*) FROM {Pin.__tablename__}") == [(0,)]
    assert board not in session and board.notes[0] not in session


async def test_delete_orphan_soft_deletes_a_soft_delete_child(
    session: AsyncSession, engine: ormkit.Engine
) -> None:
    board = await session.insert(Board(name="b", notes=[Note(text="x"), Note(text="y")]))
    dropped = board.notes.pop(0)
    await session.commit()  # deleted as session.delete(note) would: deleted_at set
    assert dropped.deleted_at is not None
    assert [n.text for n in await session.query(Note).all()] == ["y"]
    hidden = await session.query(Note).only_deleted().all()
    assert [(n.text, n.board_id) for n in hidden] == [("x", board.id)]
    await session.rollback()  # nothing pending: the soft delete stays
    assert await rows(engine, f"SELECT count(*) FROM {Note.__tablename__}") == [(2,)]


async def test_a_foreign_key_that_cascades_is_left_to_the_database(
    session: AsyncSession, engine: ormkit.Engine, queries: SqlLog
) -> None:
    board = await session.insert(Board(name="b", stickers=[Sticker(), Sticker()]))
    session.expunge_all()
    board = await session.get_or_raise(Board, board.id)
    queries.clear()
    await session.remove(board)
    assert not any(Sticker.__tablename__ in sql for sql in queries.sql)  # no query for them
    assert await rows(engine, f"SELECT count(*) FROM {Sticker.__tablename__}") == [(0,)]


async def test_a_new_object_starts_with_empty_collections(
    session: AsyncSession, engine: ormkit.Engine
) -> None:
    first, second = Author(name="a"), Author(name="b")  # the first resolves, then Rust
    for author in (first, second):
        assert author.posts == [] and author.posts is not Author(name="c").posts
    tagged = Post(title="t", tags=[Tag(label="x")])  # given ones are kept, others empty
    assert [t.label for t in tagged.tags] == ["x"] and tagged.comments == []
    first.posts.append(Post(title="p"))  # as in SQLAlchemy: build the graph, then write
    first.posts[0].comments.append(Comment(body="c"))
    await session.insert(first)
    session.add(second)
    await session.commit()
    assert not session.dirty
    assert await rows(engine, f"SELECT title, author_id FROM {Post.__tablename__}") == [
        ("p", first.id)
    ]
    assert await rows(engine, f"SELECT body FROM {Comment.__tablename__}") == [("c",)]
    with pytest.raises(ormkit.RelationshipNotLoaded):
        _ = Post(title="new").author  # a reference is not assumed: it may be set by key
    session.expunge_all()
    loaded = await session.get_or_raise(Author, second.id)
    with pytest.raises(ormkit.RelationshipNotLoaded):
        _ = loaded.posts  # a row from the database: its collection is not known


async def test_many_to_many_add_and_remove(
    session: AsyncSession, engine: ormkit.Engine, queries: SqlLog
) -> None:
    x, y = Tag(label="x"), Tag(label="y")
    post = await session.insert(Post(title="p", tags=[x]))
    assert await rows(engine, f"SELECT post_id, tag_id FROM {PostTag.__tablename__}") == [
        (post.id, x.id)
    ]
    post.tags.append(y)  # a new tag: inserted, then linked
    await session.commit()
    links = f"SELECT tag_id FROM {PostTag.__tablename__} ORDER BY tag_id"
    assert await rows(engine, links) == [(x.id,), (y.id,)]
    post.tags.remove(x)
    queries.clear()
    await session.commit()
    assert len(queries) == 1 and queries.sql[0].startswith(f"DELETE FROM {PostTag.__tablename__}")
    assert await rows(engine, links) == [(y.id,)]
    session.expunge_all()
    tag = await session.query(Tag).filter(label="x").options(selectinload("posts")).one()
    post = await session.query(Post).options(selectinload("tags")).one()
    tag.posts.append(post)  # both sides changed: one association row
    post.tags.append(tag)
    await session.commit()
    assert await rows(engine, links) == [(x.id,), (y.id,)]


async def test_many_to_many_rows_of_a_thousand_pairs_and_more_are_deleted(
    session: AsyncSession, engine: ormkit.Engine
) -> None:
    """Association rows go in batches: a clear() of 1,200 pairs and a delete of 1,200
    tagged objects (one DELETE of 1,200 ORs was over SQLite's expression depth)."""
    link = PostTag.__tablename__
    tags = [Tag(label=f"t{i}") for i in range(1_200)]
    await session.insert(Post(title="many", tags=tags))
    session.expunge_all()
    post = await session.query(Post).options(selectinload("tags")).one()
    assert len(post.tags) == 1_200
    post.tags.clear()
    await session.commit()
    assert await rows(engine, f"SELECT count(*) FROM {link}") == [(0,)]
    session.expunge_all()
    posts = [
        Post(title=f"p{i}", tags=[tag]) for i, tag in enumerate(await session.query(Tag).all())
    ]
    await session.insert_all(posts)
    assert await rows(engine, f"SELECT count(*) FROM {link}") == [(1_200,)]
    for p in posts:
        await session.delete(p)
    await session.commit()
    assert await rows(engine, f"SELECT count(*) FROM {link}") == [(0,)]
    assert await rows(engine, f"SELECT count(*) FROM {Post.__tablename__}") == [(1,)]


async def test_one_to_one_assignment(session: AsyncSession, engine: ormkit.Engine) -> None:
    author = await session.insert(Author(name="a"))
    session.expunge_all()
    author = await session.query(Author).options(selectinload("profile")).one()
    assert author.profile is None
    author.profile = Profile(bio="hello")
    await session.commit()
    assert author.profile.author_id == author.id
    stored = await rows(engine, f"SELECT author_id, bio FROM {Profile.__tablename__}")
    assert stored == [(author.id, "hello")]


async def test_self_referential_tree_in_one_flush(
    session: AsyncSession, engine: ormkit.Engine, queries: SqlLog
) -> None:
    root = Node(name="root")
    child = Node(name="child", parent=root)
    grandchild = Node(name="grandchild")
    child.children = [grandchild]
    session.add_all([grandchild, child, root])  # any order: parents go first
    await session.commit()
    assert child.parent_id == root.id and grandchild.parent_id == child.id
    inserts = [s for s in queries.sql if s.startswith("INSERT")]
    assert len(inserts) == 3
    stored = await rows(engine, f"SELECT name, parent_id FROM {Node.__tablename__} ORDER BY id")
    assert stored == [("root", None), ("child", root.id), ("grandchild", child.id)]


async def test_rollback_puts_collections_back(session: AsyncSession, engine: ormkit.Engine) -> None:
    await session.insert(Author(name="ann", posts=[Post(title="kept")]))
    session.expunge_all()
    ann = await session.query(Author).options(selectinload("posts")).one()
    extra = Post(title="extra")
    with pytest.raises(RuntimeError):
        async with session.begin():
            ann.posts.append(extra)
            await session.flush()
            assert extra.id is not None
            raise RuntimeError
    assert [p.title for p in ann.posts] == ["kept"] and extra.id is None
    assert await rows(engine, f"SELECT title FROM {Post.__tablename__}") == [("kept",)]
    ann.posts.append(extra)  # and the same change works afterwards
    await session.commit()
    assert extra.author_id == ann.id


async def test_children_know_their_parent_after_a_write(session: AsyncSession) -> None:
    author = await session.insert(Author(name="a", posts=[Post(title="p")]))
    assert author.posts[0].author is author
    assert session.dirty == []


async def test_moving_a_persistent_child_is_clean_afterwards(session: AsyncSession) -> None:
    await session.insert_all([Author(name="a"), Post(title="p")])
    session.expunge_all()
    author = await session.query(Author).options(selectinload("posts")).one()
    post = await session.query(Post).one()
    author.posts.append(post)
    await session.commit()
    assert post.author_id == author.id and post.author is author
    assert session.dirty == []
