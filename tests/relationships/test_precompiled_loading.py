"""Loader options on queries that run a precompiled SELECT: the same statements, objects
and relationships as the ordinary path (an expression condition forces that one)."""

from __future__ import annotations

from typing import Any

from rel_models import Author, Comment, Node, Post, PostTag, Shop, ShopItem, Tag
from statement_log import SqlLog

from ormkit import AsyncSession, joinedload, noload, selectinload


async def _data(session: AsyncSession) -> list[Author]:
    authors = [Author(name=f"a{i}") for i in range(4)]
    await session.insert_all(authors)
    posts = [Post(title=f"p{i}", author_id=authors[i % 3].id) for i in range(9)]
    await session.insert_all(posts)
    await session.insert_all([Comment(post_id=p.id, body=f"c{p.id}") for p in posts[:4]])
    tags = [Tag(label="x"), Tag(label="y")]
    await session.insert_all(tags)
    await session.insert_all([PostTag(post_id=posts[0].id, tag_id=t.id) for t in tags])
    return authors


def _shape(authors: list[Any]) -> list[Any]:
    out = []
    for a in authors:
        posts = a.__dict__.get("posts")
        out.append(
            (
                a.name,
                None
                if posts is None
                else [
                    (
                        p.title,
                        [c.body for c in p.__dict__.get("comments", [])],
                        [t.label for t in p.__dict__.get("tags", [])],
                    )
                    for p in posts
                ],
            )
        )
    return out


async def test_selectin_options_on_a_precompiled_select(
    engine: Any, session: AsyncSession, queries: SqlLog
) -> None:
    await _data(session)
    options = (selectinload("posts").selectinload("comments"), selectinload("posts.tags"))
    fast = session.query(Author).filter(name__gte="a0").options(*options).order_by("id")
    assert fast._rows_template(None) is not None
    queries.clear()
    got = _shape(await fast.limit(3).all())
    fast_sql = queries.sql
    async with AsyncSession(engine) as other:
        slow = other.query(Author).filter(Author.name >= "a0").options(*options).order_by("id")
        assert slow._rows_template(None) is not None  # a plain comparison: precompiled too
        # the ordinary path of the same query, as Query.all() took it before templates
        stmt, plan = slow.limit(3)._rows(3)
        queries.clear()
        assert _shape(await other._load(Author, stmt, plan)) == got
        assert queries.sql == fast_sql
    assert got[0] == ("a0", [("p0", ["c1"], ["x", "y"]), ("p3", ["c4"], []), ("p6", [], [])])
    assert [name for name, _posts in got] == ["a0", "a1", "a2"]
    first = await session.query(Author).filter(name="a1").options(selectinload("posts")).first()
    assert first is not None and [p.title for p in first.posts] == ["p1", "p4", "p7"]
    assert (
        await session.query(Author).options(noload("posts")).filter(name="a3").one()
    ).posts == []


async def test_joined_loading_keeps_the_ordinary_path(session: AsyncSession) -> None:
    await _data(session)
    q = session.query(Author).filter(name="a0").options(joinedload("posts"))
    assert q._rows_template(None) is None
    (author,) = await q.all()
    assert [p.title for p in author.posts] == ["p0", "p3", "p6"]
    # relationship defaults: Shop loads items with selectin, ShopItem its shop joined
    shop = Shop(name="s")
    await session.insert(shop)
    await session.insert_all([ShopItem(shop_id=shop.id, name=n) for n in ("i", "j")])
    session.expunge_all()
    shops = session.query(Shop).filter(name="s")
    assert shops._rows_template(None) is not None
    (loaded,) = await shops.all()
    assert [i.name for i in loaded.items] == ["i", "j"]
    assert session.query(ShopItem).filter(name="i")._rows_template(None) is None
    item = await session.query(ShopItem).filter(name="i").one()
    assert item.shop is loaded


async def test_self_referential_children_through_precompiled_selects(
    session: AsyncSession,
) -> None:
    root = Node(name="root")
    await session.insert(root)
    kids = [Node(name=n, parent_id=root.id) for n in ("b", "a")]
    await session.insert_all(kids)
    session.expunge_all()
    (got,) = await session.query(Node).filter(name="root").options(selectinload("children")).all()
    assert [c.name for c in got.children] == ["a", "b"]
    assert all(c.parent is got for c in got.children)
