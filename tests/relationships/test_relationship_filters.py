"""Filters through relationships on every backend: aggregates over a lookup that joins a
collection count each row once; ``rel__in`` / ``rel__isnull`` on the relationship itself;
operators a relationship does not take are refused naming what to write instead."""

from __future__ import annotations

import pytest
from rel_models import Author, Comment, Post, Profile, Tag

from ormkit import AsyncSession, Q, select


@pytest.fixture
async def blog(session: AsyncSession) -> dict[str, int]:
    """ann: posts p1 (tags a, b; two comments) and p2; bob: no posts, a profile; cy: post
    p3; an orphan post without author."""
    a, b = Tag(label="a"), Tag(label="b")
    ann = Author(
        name="ann",
        posts=[
            Post(title="p1", tags=[a, b], comments=[Comment(body="c1"), Comment(body="c2")]),
            Post(title="p2"),
        ],
    )
    bob = Author(name="bob", profile=Profile(bio="hi"))
    cy = Author(name="cy", posts=[Post(title="p3")])
    orphan = Post(title="orphan")
    await session.insert_all([ann, bob, cy])
    await session.insert(orphan)
    return {"ann": ann.id, "bob": bob.id, "cy": cy.id, "orphan": orphan.id}


async def test_aggregates_count_each_row_once_over_a_collection_join(
    session: AsyncSession, blog: dict[str, int]
) -> None:
    ann, cy = blog["ann"], blog["cy"]
    q = session.query(Author).filter(posts__title__in=["p1", "p2", "p3"])
    assert await q.count() == 2  # ann matches twice through her posts
    assert await q.sum("id") == ann + cy
    assert await q.avg("id") == (ann + cy) / 2
    assert await q.min("id") == min(ann, cy)
    assert await q.max("id") == max(ann, cy)
    # deeper and many-to-many joins, and an OR with a plain condition
    deep = session.query(Author).filter(posts__comments__body__in=["c1", "c2"])
    assert await deep.sum("id") == ann
    tagged = session.query(Post).filter(tags__label__in=["a", "b"])
    assert await tagged.sum("id") == await tagged.max("id")
    either = session.query(Author).filter(Q(posts__title__in=["p1", "p2"]) | Q(name="bob"))
    assert await either.sum("id") == ann + blog["bob"]
    assert await session.query(Author).filter(posts__title="nope").sum("id") is None


async def test_many_to_one_in_takes_objects_or_keys(
    session: AsyncSession, blog: dict[str, int]
) -> None:
    ann = await session.get(Author, blog["ann"])
    cy = await session.get(Author, blog["cy"])
    q = session.query(Post).order_by("title")

    async def titles(**lookups: object) -> list[str]:
        return [p.title for p in await q.filter(**lookups).all()]

    assert await titles(author__in=[ann, cy]) == ["p1", "p2", "p3"]
    assert await titles(author__in=[blog["cy"]]) == ["p3"]
    assert await titles(author__in=[]) == []
    assert await titles(author__in=[cy, None]) == ["orphan", "p3"]
    assert await titles(author__notin=[ann]) == ["p3"]  # NULL author: unknown, as in SQL
    assert await titles(author__in=select(Author.id).filter(name="cy")) == ["p3"]
    assert await q.exclude(author__in=[ann]).count() == 1
    with pytest.raises(ValueError, match="needs Author objects or key values, got a Tag"):
        await q.filter(author__in=[Tag(label="x")]).count()
    with pytest.raises(ValueError, match="no primary key value yet"):
        await q.filter(author__in=[Author(name="new")]).count()
    with pytest.raises(TypeError, match="'author__in' on Post: __in needs a list"):
        q.filter(author__in=ann)


async def test_isnull_on_relationships(session: AsyncSession, blog: dict[str, int]) -> None:
    authors = session.query(Author).order_by("name")

    async def names(**lookups: object) -> list[str]:
        return [a.name for a in await authors.filter(**lookups).all()]

    assert await names(posts__isnull=True) == ["bob"]
    assert await names(posts__isnull=False) == ["ann", "cy"]
    assert await authors.filter(posts__isnull=False).count() == 2  # each author once
    assert await names(profile__isnull=False) == ["bob"]  # one-to-one
    assert await names(profile__isnull=True) == ["ann", "cy"]
    assert [a.name for a in await authors.exclude(posts__isnull=True).all()] == ["ann", "cy"]
    posts = session.query(Post).order_by("title")
    assert [p.title for p in await posts.filter(tags__isnull=False).all()] == ["p1"]
    assert await posts.filter(tags__isnull=True).count() == 3  # many-to-many
    assert [p.title for p in await posts.filter(author__isnull=True).all()] == ["orphan"]
    # through a path: posts whose author has no profile
    assert await posts.filter(author__profile__isnull=True).count() == 3
    with pytest.raises(ValueError, match="__isnull needs True or False"):
        authors.filter(posts__isnull="yes")


async def test_operators_a_relationship_does_not_take(session: AsyncSession) -> None:
    with pytest.raises(
        ValueError,
        match=r"operator 'gt' does not apply to the many_to_one relationship Post\.author "
        r"itself \(it takes =, __in, __notin, __isnull\).*author__id__gt=",
    ):
        session.query(Post).filter(author__gt=1)
    with pytest.raises(
        ValueError,
        match=r"operator 'in' does not apply to the one_to_many relationship Author\.posts "
        r"itself \(it takes only __isnull\).*posts__id__in=",
    ):
        session.query(Author).filter(posts__in=[1])
    with pytest.raises(ValueError, match=r"operator 'exact' .* Author\.posts"):
        session.query(Author).filter(Q(posts__exact=1))
