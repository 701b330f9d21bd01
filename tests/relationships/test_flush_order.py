"""The order of a flush's writes around unique keys, children moved between parents,
and objects whose only change is a relationship."""

from __future__ import annotations

import pytest
from rel_models import (
    Author,
    Badge,
    Board,
    Card,
    Comment,
    Locker,
    Member,
    Note,
    Post,
    Profile,
    Sticker,
)
from statement_log import SqlLog

import ormkit
from ormkit import AsyncSession, ValidationError, selectinload


async def rows(engine: ormkit.Engine, sql: str) -> list[tuple[object, ...]]:
    return (await engine.execute(sql)).tuples()


def kinds(log: SqlLog, table: str) -> list[str]:
    """The writes to ``table`` in order, as their first word."""
    return [sql.split(None, 1)[0].upper() for sql in log.writes() if table in sql]


# -- a row that gives up a unique value is written before the row that takes it ------


async def test_replacing_a_one_to_one_child_nulls_the_old_key_before_the_insert(
    session: AsyncSession, engine: ormkit.Engine, queries: SqlLog
) -> None:
    await session.insert(Member(name="m", badge=Badge(label="old")))
    session.expunge_all()
    member = await session.query(Member).options(selectinload("badge")).one()
    old = member.badge
    assert old is not None
    queries.clear()
    member.badge = Badge(label="new")
    await session.commit()
    assert kinds(queries, Badge.__tablename__) == ["UPDATE", "INSERT"]
    stored = await rows(engine, f"SELECT label, member_id FROM {Badge.__tablename__} ORDER BY id")
    assert stored == [("old", None), ("new", member.id)]
    assert old.member_id is None and old.member is None
    assert member.badge is not None and member.badge.member_id == member.id
    assert session.dirty == []
    queries.clear()
    await session.commit()
    assert queries.writes() == []


async def test_replacing_a_delete_orphan_one_to_one_child_deletes_the_old_one_first(
    session: AsyncSession, engine: ormkit.Engine, queries: SqlLog
) -> None:
    await session.insert(Member(name="m", card=Card(number="1")))
    session.expunge_all()
    member = await session.query(Member).options(selectinload("card")).one()
    queries.clear()
    member.card = Card(number="2")
    await session.commit()
    assert kinds(queries, Card.__tablename__) == ["DELETE", "INSERT"]
    stored = await rows(engine, f"SELECT number, member_id FROM {Card.__tablename__}")
    assert stored == [("2", member.id)]
    assert session.dirty == [] and session.new == []


async def test_a_deleted_row_and_a_new_one_with_its_unique_value_in_one_flush(
    session: AsyncSession, engine: ormkit.Engine, queries: SqlLog
) -> None:
    member = await session.insert(Member(name="m", card=Card(number="1")))
    old = member.card
    queries.clear()
    await session.delete(old)
    session.add(Card(number="2", member_id=member.id))
    await session.commit()
    assert kinds(queries, Card.__tablename__) == ["DELETE", "INSERT"]
    stored = await rows(engine, f"SELECT number, member_id FROM {Card.__tablename__}")
    assert stored == [("2", member.id)]


async def test_a_unique_foreign_key_moved_to_another_row_is_released_first(
    session: AsyncSession, engine: ormkit.Engine, queries: SqlLog
) -> None:
    member = await session.insert(Member(name="m"))
    await session.insert_all([Badge(label="a", member_id=member.id), Badge(label="b")])
    session.expunge_all()
    member = await session.get(Member, member.id)
    assert member is not None
    # loaded in reverse: the usual order updates "b" (which takes the key) first
    second, first = await session.query(Badge).order_by("-id").all()
    first.member = None
    second.member = member
    queries.clear()
    await session.commit()
    assert kinds(queries, Badge.__tablename__) == ["UPDATE", "UPDATE"]
    stored = await rows(engine, f"SELECT label, member_id FROM {Badge.__tablename__} ORDER BY id")
    assert stored == [("a", None), ("b", member.id)]
    assert session.dirty == []


async def test_moving_a_one_to_one_child_through_the_parent_side(
    session: AsyncSession, engine: ormkit.Engine
) -> None:
    member = await session.insert(Member(name="m", badge=Badge(label="a")))
    await session.insert(Badge(label="b"))
    session.expunge_all()
    second, first = await session.query(Badge).order_by("-id").all()
    member = await session.query(Member).options(selectinload("badge")).one()
    assert member.badge is first
    member.badge = second  # "a" lets go of the member (in memory at once)
    assert first.member is None and second.member is member
    await session.commit()
    stored = await rows(engine, f"SELECT label, member_id FROM {Badge.__tablename__} ORDER BY id")
    assert stored == [("a", None), ("b", member.id)]
    assert session.dirty == []


async def test_rows_written_first_go_in_the_order_of_the_values_they_pass_on(
    session: AsyncSession, engine: ormkit.Engine, queries: SqlLog
) -> None:
    """ "a" lets m1 go, "b" takes m1 and lets m2 go, a new badge takes m2: a, b, then
    the insert (the usual order would update b first: it was loaded first)."""
    m1 = await session.insert(Member(name="m1"))
    m2 = await session.insert(Member(name="m2"))
    await session.insert_all([Badge(label="a", member_id=m1.id), Badge(label="b", member_id=m2.id)])
    session.expunge_all()
    m1, m2 = await session.query(Member).order_by("id").all()
    b, a = await session.query(Badge).order_by("-id").all()
    a.member = None
    b.member = m1
    session.add(Badge(label="c", member=m2))
    queries.clear()
    await session.commit()
    assert kinds(queries, Badge.__tablename__) == ["UPDATE", "UPDATE", "INSERT"]
    stored = await rows(engine, f"SELECT label, member_id FROM {Badge.__tablename__} ORDER BY id")
    assert stored == [("a", None), ("b", m1.id), ("c", m2.id)]


async def test_a_row_taking_a_value_from_a_row_moved_to_a_new_parent_waits_for_it(
    session: AsyncSession, engine: ormkit.Engine
) -> None:
    """ "g" moves to a member not inserted yet, so it is written in the usual place
    (after the insert); "r", which takes g's member, must not be written before it."""
    m1 = await session.insert(Member(name="m1"))
    m2 = await session.insert(Member(name="m2"))
    await session.insert_all(
        [
            Badge(label="g", member_id=m1.id),
            Badge(label="r", member_id=m2.id),
            Badge(label="t"),
        ]
    )
    session.expunge_all()
    m1, m2 = await session.query(Member).order_by("id").all()
    g, r, t = await session.query(Badge).order_by("id").all()
    fresh = Member(name="new")
    g.member = fresh
    r.member = m1
    t.member = m2  # and "t" takes r's member: "r" goes before it
    await session.commit()
    assert fresh.id is not None
    stored = await rows(engine, f"SELECT label, member_id FROM {Badge.__tablename__} ORDER BY id")
    assert stored == [("g", fresh.id), ("r", m1.id), ("t", m2.id)]


async def test_a_unique_constraint_over_a_foreign_key_and_a_column(
    session: AsyncSession, engine: ormkit.Engine
) -> None:
    member = await session.insert(Member(name="m"))
    await session.insert_all(
        [Locker(room="r1", member_id=member.id), Locker(room="r1"), Locker(room="r2")]
    )
    session.expunge_all()
    member = await session.get(Member, member.id)
    assert member is not None
    third, second, first = await session.query(Locker).order_by("-id").all()
    first.member = None
    second.member = member  # same room: takes (member, "r1") from the first
    third.member = member  # another room: no conflict
    await session.commit()
    stored = await rows(engine, f"SELECT room, member_id FROM {Locker.__tablename__} ORDER BY id")
    assert stored == [("r1", None), ("r1", member.id), ("r2", member.id)]


async def test_a_unique_value_moved_through_a_collection_without_back_populates(
    session: AsyncSession, engine: ormkit.Engine
) -> None:
    """Only the parent's collection changes: the lockers' keys come from it."""
    member = await session.insert(Member(name="m"))
    await session.insert_all([Locker(room="r1", member_id=member.id), Locker(room="r1")])
    session.expunge_all()
    second, first = await session.query(Locker).order_by("-id").all()
    member = await session.query(Member).options(selectinload("lockers")).one()
    assert member.lockers == [first]
    member.lockers.remove(first)
    member.lockers.append(second)
    await session.commit()
    stored = await rows(engine, f"SELECT member_id FROM {Locker.__tablename__} ORDER BY id")
    assert stored == [(None,), (member.id,)]
    assert session.dirty == []


async def test_a_new_locker_takes_the_value_a_moved_one_gives_up(
    session: AsyncSession, engine: ormkit.Engine, queries: SqlLog
) -> None:
    member = await session.insert(Member(name="m"))
    other = await session.insert(Member(name="o"))
    old = await session.insert(Locker(room="r1", member_id=member.id))
    old.member = other  # re-pointed to a row that exists: written before the insert
    session.add(Locker(room="r1", member=member))
    queries.clear()
    await session.commit()
    assert kinds(queries, Locker.__tablename__) == ["UPDATE", "INSERT"]
    stored = await rows(engine, f"SELECT room, member_id FROM {Locker.__tablename__} ORDER BY id")
    assert stored == [("r1", other.id), ("r1", member.id)]


async def test_replacing_a_child_whose_key_cannot_be_null_names_the_column(
    session: AsyncSession, engine: ormkit.Engine
) -> None:
    """Profile.author_id is unique and not nullable, and the relationship has no
    delete-orphan: the old profile would need a NULL key. Nothing is written."""
    await session.insert(Author(name="a", profile=Profile(bio="old")))
    session.expunge_all()
    author = await session.query(Author).options(selectinload("profile")).one()
    author.profile = Profile(bio="new")
    with pytest.raises(ValidationError, match=r"Profile\.author_id"):
        await session.commit()
    await session.rollback()
    stored = await rows(engine, f"SELECT bio, author_id FROM {Profile.__tablename__}")
    assert stored == [("old", author.id)]


async def test_the_usual_order_stays_for_everything_else(
    session: AsyncSession, engine: ormkit.Engine, queries: SqlLog
) -> None:
    """A new parent is inserted before the row that points to it is updated, and a row
    is deleted after the rows that pointed to it are re-pointed."""
    old = await session.insert(Author(name="old"))
    post = await session.insert(Post(title="p", author_id=old.id))
    fresh = Author(name="new")
    post.author = fresh
    await session.delete(old)
    queries.clear()
    await session.commit()
    assert [sql.split(None, 1)[0] for sql in queries.writes()] == ["INSERT", "UPDATE", "DELETE"]
    stored = await rows(engine, f"SELECT name FROM {Author.__tablename__}")
    assert stored == [("new",)]
    assert post.author_id == fresh.id


# -- a child moved to another parent before the flush is no orphan --------------------


async def test_a_child_moved_between_delete_orphan_collections_is_kept(
    session: AsyncSession, engine: ormkit.Engine, queries: SqlLog
) -> None:
    await session.insert(Post(title="p1", comments=[Comment(body="c")]))
    await session.insert(Post(title="p2"))
    session.expunge_all()
    p1, p2 = await session.query(Post).options(selectinload("comments")).order_by("id").all()
    comment = p1.comments[0]
    p1.comments.remove(comment)
    p2.comments.append(comment)
    queries.clear()
    await session.commit()
    assert kinds(queries, Comment.__tablename__) == ["UPDATE"]
    assert await rows(engine, f"SELECT body, post_id FROM {Comment.__tablename__}") == [
        ("c", p2.id)
    ]
    assert comment.post is p2 and comment.post_id == p2.id
    assert session.dirty == []


async def test_a_soft_delete_child_moved_between_collections_is_not_soft_deleted(
    session: AsyncSession, engine: ormkit.Engine
) -> None:
    await session.insert(Board(name="b1", notes=[Note(text="n")]))
    await session.insert(Board(name="b2"))
    session.expunge_all()
    b1, b2 = await session.query(Board).options(selectinload("notes")).order_by("id").all()
    note = b1.notes[0]
    b1.notes.remove(note)
    b2.notes.append(note)
    await session.commit()
    stored = await rows(engine, f"SELECT text, board_id, deleted_at FROM {Note.__tablename__}")
    assert stored == [("n", b2.id, None)]


async def test_a_child_removed_then_given_a_parent_through_its_own_side(
    session: AsyncSession, engine: ormkit.Engine
) -> None:
    """The new parent's collection is not loaded: the child's own side says where it
    went."""
    await session.insert(Post(title="p1", comments=[Comment(body="c")]))
    p2 = await session.insert(Post(title="p2"))
    session.expunge_all()
    p1 = await session.query(Post).options(selectinload("comments")).filter(title="p1").one()
    p2 = await session.get(Post, p2.id)
    assert p2 is not None
    comment = p1.comments[0]
    p1.comments.remove(comment)
    comment.post = p2
    await session.commit()
    assert await rows(engine, f"SELECT body, post_id FROM {Comment.__tablename__}") == [
        ("c", p2.id)
    ]


async def test_a_child_moved_to_a_new_parent_is_kept(
    session: AsyncSession, engine: ormkit.Engine
) -> None:
    await session.insert(Post(title="p1", comments=[Comment(body="c")]))
    session.expunge_all()
    p1 = await session.query(Post).options(selectinload("comments")).one()
    comment = p1.comments[0]
    p1.comments.remove(comment)
    p3 = Post(title="p3", comments=[comment])
    session.add(p3)
    await session.commit()
    assert p3.id is not None
    assert await rows(engine, f"SELECT body, post_id FROM {Comment.__tablename__}") == [
        ("c", p3.id)
    ]


async def test_a_delete_orphan_one_to_one_child_handed_to_another_parent_is_kept(
    session: AsyncSession, engine: ormkit.Engine
) -> None:
    await session.insert(Member(name="m1", card=Card(number="1")))
    await session.insert(Member(name="m2"))
    session.expunge_all()
    m1, m2 = await session.query(Member).options(selectinload("card")).order_by("id").all()
    card = m1.card
    assert card is not None and m2.card is None
    m1.card = None  # through the parent's side: an orphan, unless it finds a parent
    m2.card = card
    await session.commit()
    stored = await rows(engine, f"SELECT number, member_id FROM {Card.__tablename__}")
    assert stored == [("1", m2.id)]


async def test_a_child_removed_and_not_re_parented_is_still_an_orphan(
    session: AsyncSession, engine: ormkit.Engine
) -> None:
    await session.insert(Post(title="p1", comments=[Comment(body="a"), Comment(body="b")]))
    await session.insert(Board(name="b", notes=[Note(text="n")]))
    session.expunge_all()
    p1 = await session.query(Post).options(selectinload("comments")).one()
    board = await session.query(Board).options(selectinload("notes")).one()
    p1.comments.remove(p1.comments[0])  # "b" (order_by="-id")
    board.notes.clear()
    await session.commit()
    assert await rows(engine, f"SELECT body FROM {Comment.__tablename__}") == [("a",)]
    stored = await rows(engine, f"SELECT deleted_at IS NOT NULL FROM {Note.__tablename__}")
    assert [bool(flag) for (flag,) in stored] == [True]


async def test_a_child_moved_without_delete_orphan_keeps_its_new_parent(
    session: AsyncSession, engine: ormkit.Engine
) -> None:
    """Author.posts has no delete-orphan: the removal would set NULL, but the post's own
    side gave it another author (whose collection is not loaded)."""
    ann = await session.insert(Author(name="ann", posts=[Post(title="p")]))
    bob = await session.insert(Author(name="bob"))
    session.expunge_all()
    ann = await session.query(Author).options(selectinload("posts")).filter(name="ann").one()
    bob = await session.get(Author, bob.id)
    assert bob is not None
    post = ann.posts[0]
    ann.posts.remove(post)
    post.author = bob
    await session.commit()
    assert await rows(engine, f"SELECT author_id FROM {Post.__tablename__}") == [(bob.id,)]
    assert session.dirty == []


# -- an object whose only change is a relationship -----------------------------------


async def _post_and_authors(session: AsyncSession) -> tuple[Post, Author, Author]:
    ann = await session.insert(Author(name="ann"))
    bob = await session.insert(Author(name="bob"))
    await session.insert(Post(title="p", author_id=ann.id))
    session.expunge_all()
    ann, bob = await session.query(Author).order_by("id").all()
    post = await session.query(Post).one()  # post.author not loaded
    return post, ann, bob


async def test_a_flush_of_a_relationship_only_change_leaves_nothing_dirty(
    session: AsyncSession, engine: ormkit.Engine, queries: SqlLog
) -> None:
    post, ann, _bob = await _post_and_authors(session)
    post.author = ann  # the key it already has
    assert session.dirty == [post]
    queries.clear()
    await session.flush()
    assert queries.writes() == []
    assert session.dirty == []
    await session.commit()
    queries.clear()
    await session.commit()
    assert queries.sql == []


async def test_a_written_relationship_does_not_come_back_over_a_later_key_change(
    session: AsyncSession, engine: ormkit.Engine
) -> None:
    post, ann, bob = await _post_and_authors(session)
    post.author = ann
    await session.flush()
    post.author_id = bob.id  # a later change of the key itself
    await session.commit()
    assert await rows(engine, f"SELECT author_id FROM {Post.__tablename__}") == [(bob.id,)]


async def test_a_rollback_gives_back_a_relationship_written_without_a_column(
    session: AsyncSession, engine: ormkit.Engine
) -> None:
    ann = await session.insert(Author(name="ann"))
    await session.insert(Post(title="p"))
    session.expunge_all()
    ann = await session.get(Author, ann.id)
    assert ann is not None
    post = await session.query(Post).options(selectinload("author")).one()
    assert post.author is None
    post.author_id = ann.id  # the key alone
    await session.commit()
    post.author = ann  # now the relationship, with the key it already has
    await session.flush()
    assert session.dirty == []
    await session.rollback()
    assert post.author is None and post.author_id == ann.id
    assert session.dirty == []


async def test_update_writes_the_key_of_a_changed_many_to_one(
    session: AsyncSession, engine: ormkit.Engine, queries: SqlLog
) -> None:
    post, ann, bob = await _post_and_authors(session)
    post.author = bob
    queries.clear()
    await session.update(post, title="t2")
    writes = queries.writes()
    assert len(writes) == 1 and "author_id" in writes[0] and "title" in writes[0]
    assert session.dirty == []
    stored = await rows(engine, f"SELECT title, author_id FROM {Post.__tablename__}")
    assert stored == [("t2", bob.id)]
    post.author = ann  # the relationship alone: update() writes it too
    await session.update(post)
    assert session.dirty == []
    assert await rows(engine, f"SELECT author_id FROM {Post.__tablename__}") == [(ann.id,)]
    post.author = ann
    queries.clear()
    await session.update(post)  # nothing changed: nothing sent
    assert queries.sql == []


async def test_update_with_the_key_given_keeps_that_key(
    session: AsyncSession, engine: ormkit.Engine
) -> None:
    post, ann, bob = await _post_and_authors(session)
    post.author = bob
    await session.update(post, author_id=ann.id)
    await session.commit()
    assert await rows(engine, f"SELECT author_id FROM {Post.__tablename__}") == [(ann.id,)]


async def test_update_leaves_a_new_target_and_collections_to_the_flush(
    session: AsyncSession, engine: ormkit.Engine
) -> None:
    post, _ann, _bob = await _post_and_authors(session)
    carl = Author(name="carl")  # not inserted yet
    post.author = carl
    await session.update(post, title="t2")
    assert session.dirty == [post]  # the relationship is still to write
    board = await session.insert(Board(name="b"))
    board.stickers.append(Sticker())  # no back_populates: only the collection knows
    await session.update(board, name="b2")
    assert board in session.dirty
    await session.commit()
    assert carl.id is not None
    stored = await rows(engine, f"SELECT title, author_id FROM {Post.__tablename__}")
    assert stored == [("t2", carl.id)]
    stored = await rows(engine, f"SELECT board_id FROM {Sticker.__tablename__}")
    assert stored == [(board.id,)]
    assert session.dirty == []


async def test_update_of_a_child_taken_out_of_a_delete_orphan_collection(
    session: AsyncSession, engine: ormkit.Engine
) -> None:
    """Its NULL parent is not written by update() (the key is not nullable): the flush
    deletes it as an orphan."""
    await session.insert(Post(title="p", comments=[Comment(body="c")]))
    session.expunge_all()
    post = await session.query(Post).options(selectinload("comments")).one()
    comment = post.comments.pop()
    assert comment.post is None
    await session.update(comment, body="edited")
    assert await rows(engine, f"SELECT body, post_id FROM {Comment.__tablename__}") == [
        ("edited", post.id)
    ]
    await session.commit()
    assert await rows(engine, f"SELECT count(*) FROM {Comment.__tablename__}") == [(0,)]
