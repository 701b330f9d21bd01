"""``Author.posts.any(...)`` and ``Post.author.has(...)``: correlated EXISTS through a
relationship (one-to-many, many-to-one, one-to-one, many-to-many), in ``select()`` and in
``session.query()``, negated, and refused where they do not apply."""

from __future__ import annotations

import pytest
from rel_models import Author, Node, Post, Profile, Tag

from ormkit import AsyncSession, aliased, exists, select


@pytest.fixture
async def blog(session: AsyncSession) -> None:
    """ann: posts p1 (tags a, b) and p2; bob: a profile, no posts; cy: post p3 (tag b);
    an orphan post."""
    a, b = Tag(label="a"), Tag(label="b")
    ann = Author(name="ann", posts=[Post(title="p1", tags=[a, b]), Post(title="p2")])
    bob = Author(name="bob", profile=Profile(bio="hi"))
    cy = Author(name="cy", posts=[Post(title="p3", tags=[b])])
    await session.insert_all([ann, bob, cy])
    await session.insert(Post(title="orphan"))


async def author_names(session: AsyncSession, condition: object) -> list[str]:
    stmt = select(Author).where(condition).order_by(Author.name)  # type: ignore[arg-type]
    return [a.name for a in (await session.execute(stmt)).scalars()]


async def test_any_over_a_one_to_many_collection(session: AsyncSession, blog: None) -> None:
    assert await author_names(session, Author.posts.any()) == ["ann", "cy"]
    assert await author_names(session, Author.posts.any(Post.title == "p2")) == ["ann"]
    assert await author_names(session, Author.posts.any(title="p3")) == ["cy"]
    assert await author_names(session, ~Author.posts.any()) == ["bob"]
    assert await author_names(session, Author.posts.any(Post.title.startswith("x"))) == []


async def test_has_over_many_to_one_and_one_to_one(session: AsyncSession, blog: None) -> None:
    titles = (
        await session.execute(
            select(Post.title).where(Post.author.has(Author.name == "ann")).order_by(Post.title)
        )
    ).scalars()
    assert list(titles) == ["p1", "p2"]
    without = (await session.execute(select(Post.title).where(~Post.author.has()))).scalars()
    assert list(without) == ["orphan"]
    assert await author_names(session, Author.profile.has(bio="hi")) == ["bob"]


async def test_any_over_many_to_many(session: AsyncSession, blog: None) -> None:
    tagged_b = (
        await session.execute(
            select(Post.title).where(Post.tags.any(Tag.label == "b")).order_by(Post.title)
        )
    ).scalars()
    assert list(tagged_b) == ["p1", "p3"]
    only_a = select(Post.title).where(Post.tags.any(label="a"), ~Post.tags.any(label="zz"))
    assert list((await session.execute(only_a)).scalars()) == ["p1"]
    labels = (
        await session.execute(select(Tag.label).where(~Tag.posts.any()).order_by(Tag.label))
    ).scalars()
    assert list(labels) == []


async def test_any_in_session_query_and_with_other_conditions(
    session: AsyncSession, blog: None
) -> None:
    found = await session.query(Author).filter(Author.posts.any(Post.title == "p1")).all()
    assert [a.name for a in found] == ["ann"]
    both = session.query(Author).filter(Author.posts.any(), name__startswith="c")
    assert [a.name for a in await both.all()] == ["cy"]
    assert await session.query(Author).filter(~Author.posts.any()).count() == 1


async def test_any_and_has_on_a_relationship_of_a_model_to_itself(
    session: AsyncSession,
) -> None:
    """The related rows come from the table under an alias: in the criterion the
    model's columns are the related row's (as in SQLAlchemy)."""
    root = Node(name="root", children=[Node(name="a", children=[Node(name="a1")]), Node(name="b")])
    await session.insert_all([root, Node(name="lone")])

    async def names(condition: object) -> list[str]:
        stmt = select(Node.name).where(condition).order_by(Node.name)  # type: ignore[arg-type]
        return list((await session.execute(stmt)).scalars())

    assert await names(Node.children.any()) == ["a", "root"]
    assert await names(~Node.children.any()) == ["a1", "b", "lone"]
    assert await names(Node.children.any(Node.name == "b")) == ["root"]
    assert await names(Node.children.any(name="a1")) == ["a"]
    assert await names(Node.children.any(Node.name.in_(["a", "a1"]))) == ["a", "root"]
    assert await names(Node.parent.has()) == ["a", "a1", "b"]
    assert await names(Node.parent.has(Node.name == "root")) == ["a", "b"]
    assert await names(Node.parent.has(parent_id=None)) == ["a", "b"]
    # a subquery in the condition could mean the related row or the outer one: refused
    with pytest.raises(NotImplementedError, match=r"Node\.parent\.has\(\): a subquery"):
        Node.parent.has(Node.children.any(name="a1"))
    # ... and written with aliased(), it says which: nodes whose parent has a child a1
    up, kid = aliased(Node, name="up"), aliased(Node)
    has_a1 = exists().where(kid.parent_id == up.id, kid.name == "a1")
    assert await names(exists().where(up.id == Node.parent_id, has_a1)) == ["a1"]
    found = await session.query(Node).filter(Node.children.any(name="b")).all()
    assert [n.name for n in found] == ["root"]


async def test_any_and_has_where_they_do_not_apply(session: AsyncSession) -> None:
    with pytest.raises(TypeError, match=r"not a collection: use \.has\(\)"):
        Post.author.any()
    with pytest.raises(TypeError, match=r"is a collection: use \.any\(\)"):
        Author.posts.has()
    with pytest.raises(TypeError, match="takes an SQL condition"):
        Author.posts.any("title = 'x'")
    with pytest.raises(ValueError, match="nope"):
        await session.execute(select(Author).where(Author.posts.any(nope=1)))
