"""Set-based writes keep held objects in step also where relationships are involved:
objects the autoflush inserts through a loaded collection, and composite keys."""

from __future__ import annotations

from rel_models import Author, Post, PostTag, Tag

from ormkit import AsyncSession, delete, selectinload, update


async def test_child_inserted_by_the_autoflush_is_synchronized(session: AsyncSession) -> None:
    await session.insert(Author(name="ann"))
    session.expunge_all()
    ann = await session.query(Author).options(selectinload("posts")).one()
    new = Post(title="draft")
    ann.posts.append(new)  # no Post tracked yet: the autoflush inserts this one
    assert await session.query(Post).filter(title="draft").update(title="final") == 1
    assert new.id is not None and new.title == "final" and session.dirty == []
    result = await session.execute(delete(Post).where(Post.id == new.id))
    assert result.rowcount == 1 and await session.get(Post, new.id) is None


async def test_composite_keys_are_matched(session: AsyncSession) -> None:
    post = await session.insert(Post(title="p"))
    one = await session.insert(Tag(label="one"))
    two = await session.insert(Tag(label="two"))
    first = await session.insert(PostTag(post_id=post.id, tag_id=one.id))
    second = await session.insert(PostTag(post_id=post.id, tag_id=two.id))
    moved = await session.execute(
        update(PostTag).where(PostTag.tag_id == one.id).values(post_id=post.id)
    )
    assert moved.rowcount == 1  # a key column set: sent as written, nothing to match
    assert await session.query(PostTag).filter(tag_id=one.id).delete() == 1
    assert await session.get(PostTag, (post.id, one.id)) is None and first not in session
    assert await session.get(PostTag, (post.id, two.id)) is second
