"""Bad input never reaches SQL: ValueError (unknown or hostile names) or ValidationError
(wrong values) before any statement is sent, and the table is intact afterwards."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from session_models import User
from statement_log import SqlLog

import ormkit
from ormkit import AsyncSession, ValidationError, insert, update
from ormkit.sql import func
from ormkit.sql.expressions import BindParam

HOSTILE = [
    "name; DROP TABLE users",
    "name--",
    'name" OR "1"="1',
    "name) OR (1=1",
    "1=1",
    "name\x00",
    "__class__",
    "",
]


@pytest.fixture
async def seeded(session: AsyncSession) -> list[User]:
    rows = [User(name=n, email=f"{n}@x.org", age=i) for i, n in enumerate(["a", "b", "c"])]
    await session.insert_all(rows)
    return rows


async def assert_rejected(
    session: AsyncSession,
    sql_log: SqlLog,
    call: Callable[[], Awaitable[Any]],
    error: type[Exception] = ValueError,
) -> None:
    sql_log.clear()
    with pytest.raises(error):
        await call()
    assert sql_log.sql == [], f"SQL was sent: {sql_log.sql}"


async def table_intact(engine: ormkit.Engine) -> None:
    rows = await engine.execute(f"SELECT name, age FROM {User.__tablename__} ORDER BY name")
    assert rows.tuples() == [("a", 0), ("b", 1), ("c", 2)]


async def test_unknown_fields_and_lookups(
    session: AsyncSession, sql_log: SqlLog, seeded: list[User], engine: ormkit.Engine
) -> None:
    q = session.query(User)
    for call in [
        lambda: q.filter(nope=1).all(),
        lambda: q.filter(name__nope="x").all(),
        lambda: q.filter(name__gt__lt=1).count(),
        lambda: q.exclude(nope=1).delete(),
        lambda: q.filter(nope=1).update(age=1),
        lambda: q.update(nope=1),
        lambda: q.sum("nope"),
        lambda: q.values("nope"),
        lambda: q.values_list("name", "nope"),
        lambda: session.bulk_update(User, {"nope": 1}),
        lambda: session.update(seeded[0], nope=1),
    ]:
        await assert_rejected(session, sql_log, call)
    with pytest.raises(ValueError, match="nope"):
        q.order_by("nope")
    await assert_rejected(session, sql_log, lambda: q.filter_by(age__in=5).exists(), TypeError)
    await table_intact(engine)


async def test_hostile_strings_in_keys(
    session: AsyncSession, sql_log: SqlLog, seeded: list[User], engine: ormkit.Engine
) -> None:
    q = session.query(User)
    for key in HOSTILE:
        for call in [
            lambda key=key: q.filter(**{key: 1}).all(),
            lambda key=key: q.filter(**{f"name__{key}": 1}).all(),
            lambda key=key: q.exclude(**{key: 1}).count(),
            lambda key=key: q.values(key),
            lambda key=key: q.values_list(key, flat=True),
            lambda key=key: q.update(**{key: "x"}),
            lambda key=key: session.update(seeded[0], **{key: "x"}),
            lambda key=key: q.min(key),
        ]:
            await assert_rejected(session, sql_log, call)
        with pytest.raises(ValueError):
            q.order_by(key)
        with pytest.raises(ValueError):
            q.order_by(f"-{key}")
        with pytest.raises(ValueError):
            q.group_by(key)
    # Hostile *values* are bound parameters: harmless, and matched literally.
    assert await q.filter(name=HOSTILE[0]).all() == []
    assert await q.filter(name__contains="%").count() == 0
    await table_intact(engine)


async def test_wrong_types_raise_validation_error(
    session: AsyncSession, sql_log: SqlLog, seeded: list[User], engine: ormkit.Engine
) -> None:
    for call in [
        lambda: session.insert(User(name="x", email="x@x.org", age="old")),
        lambda: session.insert(User(name=None, email="x@x.org")),
        lambda: session.insert(User(name="x" * 51, email="x@x.org")),
        lambda: session.insert_all([User(name="ok", email="ok@x.org"), User(name=1, email="e")]),
        lambda: session.update(seeded[0], age="1"),
        lambda: session.update(seeded[0], active=1),
        lambda: session.query(User).update(age=True),
        lambda: session.upsert(User(name="u", email="u", age=1.5), "email"),
    ]:
        await assert_rejected(session, sql_log, call, ValidationError)
    try:
        await session.insert(User(name="x", email="x@x.org", age="old"))
    except ValidationError as exc:
        assert exc.model == "User" and exc.field == "age"
    assert seeded[0].age == 0
    await table_intact(engine)
    session.add(User(name="bad", email="bad@x.org", age="nope"))
    with pytest.raises(ValidationError):
        await session.commit()
    assert not session.in_transaction
    await table_intact(engine)


async def test_statement_values_raise_validation_error(
    session: AsyncSession, sql_log: SqlLog, seeded: list[User], engine: ormkit.Engine
) -> None:
    """``insert(Model).values(...)`` and ``update(Model).values(...)`` run by the session
    are validated as its own writes are, whatever form ``values()`` takes; nothing is
    sent, not even the autoflush of a pending object."""
    too_long = "x" * 51
    for call in [
        lambda: session.execute(insert(User).values(name="x", email="x@x.org", age="old")),
        lambda: session.execute(insert(User).values(name=too_long, email="x@x.org")),
        lambda: session.execute(insert(User).values(email="x@x.org")),  # name left out
        lambda: session.execute(insert(User).values(name=None, email="x@x.org")),
        lambda: session.execute(insert(User).values(name="x", email="x@x.org", active=None)),
        lambda: session.execute(insert(User).values({"name": "x", "email": "x", "age": 1.5})),
        lambda: session.execute(
            insert(User).values([{"name": "ok", "email": "ok@x.org"}, {"name": 1, "email": "e"}])
        ),
        lambda: session.execute(
            insert(User).values({"name": "ok", "email": "o"}, {"name": too_long, "email": "p"})
        ),
        lambda: session.execute(insert(User).values(User(name="x", email="x", age="old"))),
        lambda: session.execute(insert(User)),  # DEFAULT VALUES: name and email missing
        lambda: session.execute(
            insert(User).values(name=too_long, email="a@x.org").on_conflict_do_update(["email"])
        ),
        lambda: session.scalar(insert(User).values(name="x", email="x", age="1").returning("id")),
        lambda: session.execute(update(User).values(age="1")),
        lambda: session.execute(update(User).where(User.name == "a").values({"name": too_long})),
        lambda: session.execute(update(User).values(name=None)),
        lambda: session.execute(update(User).values(active=1)),
        lambda: session.scalars(update(User).values(age=True).returning(User.id)),
    ]:
        await assert_rejected(session, sql_log, call, ValidationError)
    with pytest.raises(ValidationError) as info:
        await session.execute(insert(User).values(name=too_long, email="x@x.org"))
    assert (info.value.model, info.value.field) == ("User", "name")
    with pytest.raises(ValidationError, match=r"User\.age") as info:
        await session.execute(update(User).values(age="1"))
    assert (info.value.model, info.value.field) == ("User", "age")
    session.add(User(name="pending", email="pending@x.org"))
    bad = update(User).values(age="1")
    await assert_rejected(session, sql_log, lambda: session.execute(bad), ValidationError)
    await session.rollback()
    async with session.begin():
        bad_insert = insert(User).values(name=too_long, email="t@x.org")
        await assert_rejected(
            session, sql_log, lambda: session.execute(bad_insert), ValidationError
        )
        assert session.in_transaction
    await table_intact(engine)


async def test_statement_values_may_be_sql_expressions(
    session: AsyncSession, seeded: list[User], engine: ormkit.Engine
) -> None:
    """Expressions, functions and bound parameters are SQL, not values: not checked."""
    await session.execute(update(User).values(age=User.age + 1))
    await session.execute(update(User).where(User.name == "a").values(name=func.upper(User.name)))
    await session.execute(update(User).where(User.name == "b").values(age=BindParam(7)))
    await session.execute(insert(User).values(name=func.lower("NEW"), email="n@x.org", age=None))
    await session.execute(
        insert(User).values([{"name": "d", "email": "d@x.org"}, {"name": "e", "email": "e@x.org"}])
    )
    await session.execute(insert(User).values(User(name="f", email="f@x.org", age=5)))
    rows = await engine.execute(f"SELECT name, age FROM {User.__tablename__} ORDER BY name")
    assert rows.tuples() == [
        ("A", 1),
        ("b", 7),
        ("c", 3),
        ("d", None),
        ("e", None),
        ("f", 5),
        ("new", None),
    ]


async def test_a_flush_validates_everything_before_sending(
    session: AsyncSession, sql_log: SqlLog, seeded: list[User], engine: ormkit.Engine
) -> None:
    from session_models import Post

    seeded[0].age = 40  # a valid change
    session.add(User(name="ok", email="ok@x.org"))
    session.add(Post(user_id=seeded[0].id, title=123))  # wrong type in a later table
    await assert_rejected(session, sql_log, session.commit, ValidationError)
    await session.rollback()
    await table_intact(engine)


async def test_lookup_values_of_the_wrong_shape_fail_in_filter(
    session: AsyncSession, sql_log: SqlLog, seeded: list[User], engine: ormkit.Engine
) -> None:
    """``age__in=5`` and friends raise in ``filter()`` itself, naming the model, the
    lookup and what it needs; nothing reaches the database."""
    q = session.query(User)
    # the same lookups with good values first: a lookup found valid once (and not
    # checked again) still has each value checked
    q.filter(age__in=[1], name__in=["a"], age__between=(1, 2), age__isnull=True)
    q.exclude(age__notin=[5])
    sql_log.clear()
    for build, error, message in [
        (lambda: q.filter(age__in=5), TypeError, "'age__in' on User: __in needs a list of"),
        (lambda: q.exclude(age__notin=5), TypeError, "'age__notin' on User: __notin needs"),
        (lambda: q.filter(name__in="abc"), TypeError, "got str 'abc'"),
        (lambda: q.filter(name__in=b"ab"), TypeError, "got bytes"),
        (lambda: q.filter(age__between=5), ValueError, "'age__between' on User: __between"),
        (lambda: q.filter(age__between=[1]), ValueError, "needs a \\(low, high\\) pair"),
        (lambda: q.filter(age__isnull="yes"), ValueError, "'age__isnull' on User: __isnull"),
        (lambda: q.group_by("age").having(age__in=1), TypeError, "'age__in' on User"),
        (lambda: q.filter(ormkit.Q(age__in=5)), TypeError, "'age__in': __in needs a list"),
    ]:
        with pytest.raises(error, match=message):
            build()
    assert sql_log.sql == []
    bulk = session.bulk_update
    await assert_rejected(session, sql_log, lambda: bulk(User, {"age": 1}, age__in=5), TypeError)
    # Collections of every kind work; a generator is read once, in filter().
    ages = q.filter(age__in=(a for a in [0, 2]))
    assert [await ages.count(), await ages.count()] == [2, 2]
    assert sorted(u.name for u in await ages.all()) == ["a", "c"]
    assert await q.filter(age__in={1}).count() == 1
    assert await q.filter(age__notin=range(2)).count() == 1
    assert await q.filter(id__in=ormkit.select(User.id).where(User.age >= 1)).count() == 2
    await table_intact(engine)


async def test_a_nul_in_a_like_pattern_is_refused_before_sending(
    session: AsyncSession, sql_log: SqlLog, seeded: list[User], engine: ormkit.Engine
) -> None:
    """SQLite's LIKE stops reading a pattern at a NUL: ``iexact="A\x00junk"`` matched
    ``a`` and ``contains="\x00"`` every row. Every LIKE-based lookup refuses it, on
    every backend (PostgreSQL refuses NUL in text anyway)."""
    q = session.query(User)
    sql_log.clear()
    for build in [
        lambda: q.filter(name__iexact="A\x00junk"),
        lambda: q.filter(name__contains="\x00"),
        lambda: q.filter(name__icontains="\x00"),
        lambda: q.filter(name__startswith="a\x00zz"),
        lambda: q.filter(name__endswith="\x00"),
        lambda: q.filter(name__like="a\x00%"),
        lambda: q.filter(User.name.ilike("%\x00")),
        lambda: q.exclude(name__contains="\x00"),
    ]:
        with pytest.raises(ormkit.DataError, match="LIKE pattern cannot contain a NUL"):
            await build().all()
    assert sql_log.sql == []
    assert await q.filter(name__iexact="A").count() == 1
    await table_intact(engine)


async def test_transient_objects_are_not_persistent(
    session: AsyncSession, sql_log: SqlLog, seeded: list[User], engine: ormkit.Engine
) -> None:
    """An object the session never inserted or loaded (no primary key) is not a row:
    removing, updating or refreshing it raises InterfaceError naming it, and nothing is
    sent; ``remove_all`` with one among real rows removes none of them."""
    from session_models import Doc

    doc = await session.insert(Doc(title="kept"))

    def ghost() -> User:
        return User(name="ghost", email="ghost@x.org")

    for call in [
        lambda: session.remove(ghost()),
        lambda: session.remove_all([seeded[0], ghost(), seeded[1]]),
        lambda: session.force_delete(ghost()),
        lambda: session.update(ghost(), age=3),
        lambda: session.refresh(ghost()),
        lambda: session.remove(Doc(title="ghost")),  # a soft-delete model
        lambda: session.soft_delete(Doc(title="ghost")),
        lambda: session.restore(Doc(title="ghost")),
        lambda: session.remove_all([doc, Doc(title="ghost")]),
    ]:
        await assert_rejected(session, sql_log, call, ormkit.InterfaceError)
    with pytest.raises(
        ormkit.InterfaceError, match=r"remove\(\): <User id=None> is not persistent"
    ):
        await session.remove(ghost())
    await table_intact(engine)
    assert (await session.query(Doc).one()).deleted_at is None

    # Pending (added, not flushed): remove() drops it as delete() does; update() and
    # refresh() say to flush first.
    pending = User(name="pending", email="pending@x.org")
    session.add(pending)
    for call in [
        lambda: session.update(pending, age=1),
        lambda: session.refresh(pending),
    ]:
        with pytest.raises(ormkit.InterfaceError, match="pending"):
            await call()
    await session.remove(pending)
    assert pending not in session and session.new == []
    await session.commit()
    await table_intact(engine)

    # An object with its key set (of another session, say) is still removed by key.
    async with AsyncSession(engine) as other:
        loaded = await other.get_or_raise(User, seeded[2].id)
    await session.remove(loaded)
    assert await session.query(User).count() == 2


async def test_json_values_json_cannot_store_raise_validation_error(
    session: AsyncSession, sql_log: SqlLog, seeded: list[User], engine: ormkit.Engine
) -> None:
    """A set, an object, NaN, bytes or a non-str key in a JSON column is a
    ValidationError naming the model and field, on every write path, before anything is
    sent (it used to be a bare TypeError from json, raised while sending)."""
    for bad in [
        {"tags": {"a", "b"}},
        {"when": object()},
        {"score": math.nan},
        {"raw": b"x"},
        {1: "one"},
        {"deep": [{"x": math.inf}]},
    ]:
        for call in [
            lambda bad=bad: session.insert(User(name="j", email="j@x.org", meta=bad)),
            lambda bad=bad: session.insert_all([User(name="j", email="j@x.org", meta=bad)]),
            lambda bad=bad: session.update(seeded[0], meta=bad),
            lambda bad=bad: session.query(User).filter(name="a").update(meta=bad),
            lambda bad=bad: session.execute(insert(User).values(name="j", email="j", meta=bad)),
            lambda bad=bad: session.upsert(User(name="j", email="a@x.org", meta=bad), "email"),
        ]:
            await assert_rejected(session, sql_log, call, ValidationError)
        session.add(User(name="j", email="j@x.org", meta=bad))
        with pytest.raises(ValidationError) as info:
            await session.commit()
        assert (info.value.model, info.value.field) == ("User", "meta")
        assert sql_log.sql == []
        await session.rollback()
    with pytest.raises(ValidationError, match=r"User\.meta: JSON cannot store a value of type set"):
        await session.update(seeded[0], meta={"tags": {"a"}})
    assert seeded[0].meta is None
    await table_intact(engine)
