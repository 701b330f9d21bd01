"""session.execute(select(Post, Author).join("author")): rows of instances, as in
SQLAlchemy 2.0, one object per row through the identity map, None for the missing side
of an outer join; models mixed with columns; the relationship defaults applied."""

from __future__ import annotations

import pytest
from rel_models import Author, Post, Shop, ShopItem
from statement_log import SqlLog

from ormkit import AsyncSession, MultipleResultsFound, select
from ormkit.sql import func


@pytest.fixture
async def blog(session: AsyncSession) -> dict[str, int]:
    """An orphan post first (so post and author ids differ), then ann with p1 and p2,
    and bob without posts."""
    orphan = Post(title="orphan")
    await session.insert(orphan)
    ann = Author(name="ann", posts=[Post(title="p1"), Post(title="p2")])
    bob = Author(name="bob")
    await session.insert_all([ann, bob])
    ids = {"orphan": orphan.id, "ann": ann.id, "bob": bob.id}
    ids.update({p.title: p.id for p in ann.posts})
    session.expunge_all()
    return ids


async def test_rows_of_two_models(session: AsyncSession, blog: dict[str, int]) -> None:
    result = await session.execute(select(Post, Author).join("author").order_by(Post.id))
    rows = result.all()
    assert [(type(p), type(a)) for p, a in rows] == [(Post, Author), (Post, Author)]
    assert [(p.id, p.title, a.id, a.name) for p, a in rows] == [
        (blog["p1"], "p1", blog["ann"], "ann"),
        (blog["p2"], "p2", blog["ann"], "ann"),
    ]
    # both tables have ``id``: each object got its own
    assert all(p.author_id == a.id and p.id != a.id for p, a in rows)
    assert rows[0][1] is rows[1][1]  # one row, one object
    assert result.keys() == ["Post", "Author"]
    assert result.scalars().all() == [rows[0][0], rows[1][0]]
    assert result.scalars(1).all() == [rows[0][1], rows[0][1]]
    assert result.first() == rows[0] and list(result) == rows and result.rowcount == 2
    post, author = (
        await session.execute(select(Post, Author).join("author").where(Post.title == "p2"))
    ).one()
    assert post is rows[1][0] and author is rows[0][1]
    assert (
        await session.execute(select(Post, Author).join("author").where(Post.title == "x"))
    ).one_or_none() is None
    with pytest.raises(MultipleResultsFound):
        (await session.execute(select(Post, Author).join("author"))).one_or_none()
    first = (await session.execute(select(Post, Author).join("author").order_by("-id"))).first()
    assert first == (rows[1][0], author)


async def test_objects_go_through_the_identity_map(
    session: AsyncSession, blog: dict[str, int]
) -> None:
    ann = await session.get(Author, blog["ann"])
    rows = (await session.execute(select(Post, Author).join("author").order_by(Post.id))).all()
    assert {id(a) for _p, a in rows} == {id(ann)}
    post = rows[0][0]
    assert post in session and await session.get(Post, post.id) is post
    # changes to loaded objects are seen at commit
    post.title = "renamed"
    assert ann is not None
    ann.name = "ANN"
    await session.commit()
    check = await session.execute_raw(
        f"SELECT title FROM {Post.__tablename__} WHERE id = {post.id}"
    )
    assert check.scalar() == "renamed"
    session.expunge_all()
    again = (await session.execute(select(Author, Post).join("posts").order_by(Post.id))).all()
    assert [(a.name, p.title) for a, p in again] == [("ANN", "renamed"), ("ANN", "p2")]
    assert again[0][0] is again[1][0]  # a joined collection: the author once per row


async def test_outer_join_gives_none(session: AsyncSession, blog: dict[str, int]) -> None:
    rows = (await session.execute(select(Post, Author).outerjoin("author").order_by(Post.id))).all()
    assert [(p.title, a.name if a else None) for p, a in rows] == [
        ("orphan", None),
        ("p1", "ann"),
        ("p2", "ann"),
    ]
    authors = (
        await session.execute(select(Author, Post).outerjoin("posts").order_by(Author.name))
    ).all()
    assert [(a.name, p.title if p else None) for a, p in authors] in (
        [("ann", "p1"), ("ann", "p2"), ("bob", None)],
        [("ann", "p2"), ("ann", "p1"), ("bob", None)],
    )
    assert authors[2][1] is None and authors[0][0] is authors[1][0]


async def test_models_mixed_with_columns(session: AsyncSession, blog: dict[str, int]) -> None:
    rows = (
        await session.execute(
            select(Post, Author.name, Author.id).outerjoin("author").order_by(Post.id)
        )
    ).all()
    assert [(type(p), p.title, name, aid) for p, name, aid in rows] == [
        (Post, "orphan", None, None),
        (Post, "p1", "ann", blog["ann"]),
        (Post, "p2", "ann", blog["ann"]),
    ]
    result = await session.execute(
        select(Post.title, Author).join("author").where(Post.title == "p1")
    )
    assert result.keys() == ["title", "Author"]
    title, author = result.one()
    assert title == "p1" and author is await session.get(Author, blog["ann"])
    same = await session.execute(select(Author, Author.id).where(Author.name == "bob"))
    bob, bob_id = same.one()
    assert isinstance(bob, Author) and bob.id == bob_id == blog["bob"]
    counted = await session.execute(
        select(Author, func.count(Post.id).label("n"))
        .outerjoin("posts")
        .group_by(Author.id)
        .order_by(Author.name)
    )
    assert [(a.name, n) for a, n in counted] == [("ann", 2), ("bob", 0)]
    assert counted.keys() == ["Author", "n"] and counted.scalars().first() is author
    # count()/exists() stay plain values
    assert await session.scalar(select(Post, Author).join("author").count()) == 2
    assert await session.scalar(select(Post, Author).join("author").exists()) is True


async def test_relationship_defaults_are_loaded(session: AsyncSession, queries: SqlLog) -> None:
    await session.insert(Shop(name="s", items=[ShopItem(name="a"), ShopItem(name="b")]))
    session.expunge_all()
    queries.clear()
    rows = (
        await session.execute(select(ShopItem, Shop).join("shop").order_by(ShopItem.name))
    ).all()
    # Shop.items is lazy="selectin", ShopItem.shop lazy="joined": both loaded
    shop = rows[0][1]
    assert [i.name for i in shop.items] == ["a", "b"]
    assert all(item.shop is shop for item, _s in rows)
    assert [i for i, _s in rows] == shop.items
    assert len(queries) == 2  # the select, then Shop.items (the shops are in the map)
