"""Django conveniences of ``Query`` on every backend: ``get_or_create`` and
``update_or_create`` (transactions, soft-delete visibility, the race of two creators),
``last()``, ``__range``, ``pk`` as a field name, ``__year``/``__month``/``__day`` on date
and datetime columns, slices, and ``order_by()`` across many-to-one relationships."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from backends import ALL_BACKENDS, engine_with_tables
from session_models import MODELS, Account, Doc, Setting, User
from statement_log import SqlLog

import ormkit
from ormkit import (
    AsyncSession,
    ForeignKey,
    IntegrityError,
    Mapped,
    MultipleResultsFound,
    Q,
    joinedload,
    mapped_column,
    relationship,
    select,
)
from ormkit.orm import Registry, declarative_base
from ormkit.query import Query
from ormkit.sql import LOOKUPS, register_lookup
from ormkit.sql.lookups import check_lookup

S = f"_{os.getpid()}"

Base = declarative_base("ConvenienceBase", registry=Registry(track=False))


class Country(Base):
    __tablename__ = f"c_countries{S}"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str]


class Author(Base):
    __tablename__ = f"c_authors{S}"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]
    country_id: Mapped[int | None] = mapped_column(ForeignKey(f"c_countries{S}.id"))
    country: Mapped[Country | None] = relationship()
    books: Mapped[list[Book]] = relationship(back_populates="author")


class Book(Base):
    __tablename__ = f"c_books{S}"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str]
    author_id: Mapped[int | None] = mapped_column(ForeignKey(f"c_authors{S}.id"))
    author: Mapped[Author | None] = relationship(back_populates="books")
    published: Mapped[date | None] = mapped_column(nullable=True)
    written: Mapped[datetime | None] = mapped_column(nullable=True)
    stamped: Mapped[datetime | None] = mapped_column(nullable=True, timezone=True)


class Pair(Base):
    __tablename__ = f"c_pairs{S}"
    __primary_key__ = ("left", "right")

    left: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    right: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    note: Mapped[str | None] = mapped_column(nullable=True)


OWN_MODELS = [Country, Author, Book, Pair]


@pytest.fixture(params=ALL_BACKENDS)
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ormkit.Engine]:
    """The session suite's tables and this file's, on each backend."""
    async with engine_with_tables(request, request.param, tmp_path, [*MODELS, *OWN_MODELS]) as eng:
        yield eng


async def _names(engine: ormkit.Engine) -> list[str]:
    """User names as another connection sees them (what is committed)."""
    async with AsyncSession(engine) as other:
        return sorted(await other.query(User).values_list("name", flat=True))


def _first_get_misses(
    monkeypatch: pytest.MonkeyPatch, meanwhile: Callable[[], Awaitable[Any]] | None = None
) -> list[int]:
    """Make the first ``one_or_none()`` find nothing, as if another session created the
    row just after it looked (``meanwhile`` runs then). Returns the call counter."""
    real = Query.one_or_none
    calls: list[int] = []

    async def one_or_none(self: Query[Any]) -> Any:
        calls.append(1)
        if len(calls) == 1:
            if meanwhile is None:
                return None
            found = await real(self)
            await meanwhile()
            return found
        return await real(self)

    monkeypatch.setattr(Query, "one_or_none", one_or_none)
    return calls


# -- get_or_create ---------------------------------------------------------------------


async def test_get_or_create_creates_then_gets(
    session: AsyncSession, engine: ormkit.Engine
) -> None:
    users = session.query(User)
    ann, created = await users.get_or_create(email="ann@x.org", defaults={"name": "Ann", "age": 30})
    assert created is True
    assert ann.id is not None and (ann.name, ann.age, ann.email) == ("Ann", 30, "ann@x.org")
    assert await _names(engine) == ["Ann"]  # committed on its own

    again, created = await users.get_or_create(email="ann@x.org", defaults={"name": "Other"})
    assert created is False
    assert again is ann and again.name == "Ann"  # defaults are only for creating
    assert await users.count() == 1


async def test_get_or_create_more_than_one_match_raises(session: AsyncSession) -> None:
    await session.insert_all(
        [User(name="Twin", email="a@x.org"), User(name="Twin", email="b@x.org")]
    )
    with pytest.raises(MultipleResultsFound):
        await session.query(User).get_or_create(name="Twin", defaults={"email": "c@x.org"})
    assert await session.query(User).count() == 2


async def test_get_or_create_looks_within_the_query(session: AsyncSession) -> None:
    # the query's own conditions narrow the lookup; only lookups and defaults build
    await session.insert(User(name="Ann", email="old@x.org", active=False))
    ann, created = await (
        session.query(User)
        .filter(active=True)
        .get_or_create(name="Ann", defaults={"email": "new@x.org"})
    )
    assert created is True and ann.email == "new@x.org" and ann.active is True
    assert await session.query(User).filter(name="Ann").count() == 2


async def test_get_or_create_respects_soft_delete_visibility(session: AsyncSession) -> None:
    await session.insert_all([Doc(title="trashed"), Doc(title="kept")])
    await session.query(Doc).filter(title="trashed").delete()

    # hidden by default: a live one is created beside the trashed one
    doc, created = await session.query(Doc).get_or_create(title="trashed")
    assert created is True and doc.deleted_at is None
    assert await session.query(Doc).with_deleted().filter(title="trashed").count() == 2

    # with_deleted(): the trashed row counts
    await session.query(Doc).filter(title="kept").delete()
    kept, created = await session.query(Doc).with_deleted().get_or_create(title="kept")
    assert created is False and kept.deleted_at is not None

    with pytest.raises(ValueError, match=r"only_deleted\(\)"):
        await session.query(Doc).only_deleted().get_or_create(title="new")


async def test_get_or_create_pk_relationships_and_callable_defaults(session: AsyncSession) -> None:
    made: list[str] = []

    def value() -> str:
        made.append("x")
        return "dark"

    setting, created = await session.query(Setting).get_or_create(
        pk="theme", defaults={"value": value}
    )
    assert created is True and setting.key == "theme" and setting.value == "dark"
    again, created = await session.query(Setting).get_or_create(
        pk="theme", defaults={"value": value}
    )
    assert created is False and again is setting
    assert made == ["x"]  # a callable default is called only when creating

    ann = await session.insert(Author(name="Ann"))
    book, created = await session.query(Book).get_or_create(author=ann, title="One")
    assert created is True and book.author_id == ann.id
    same, created = await session.query(Book).get_or_create(author=ann, title="One")
    assert created is False and same is book


async def test_get_or_create_bad_input_sends_nothing(
    session: AsyncSession, sql_log: SqlLog
) -> None:
    users = session.query(User)
    with pytest.raises(ValueError, match=r"unknown field 'nmae' in lookup for User"):
        await users.get_or_create(nmae="Ann")
    with pytest.raises(ValueError, match=r"unknown field 'agee' in defaults for User"):
        await users.get_or_create(name="Ann", defaults={"agee": 3})
    with pytest.raises(ValueError, match=r"'age__gte'.*filter\(\) first"):
        await users.get_or_create(age__gte=3)
    with pytest.raises(TypeError, match="defaults must be a mapping"):
        await users.get_or_create(name="Ann", defaults=[("age", 3)])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="names must be strings"):
        await users.get_or_create(name="Ann", defaults={1: 3})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match=r"composite primary key \(left, right\)"):
        await session.query(Pair).get_or_create(pk=(1, 2))
    with pytest.raises(ValueError, match="unknown field 'nope' in lookup"):
        await users.update_or_create(nope=1)
    assert sql_log.sql == []


async def test_get_takes_a_key_as_a_value_a_tuple_or_a_dict(
    session: AsyncSession, engine: ormkit.Engine, sql_log: SqlLog
) -> None:
    """``session.get`` as SQLAlchemy's: a one-column key as a value or a dict naming its
    column, a composite key as a tuple/list or a dict naming each column. A key of the
    wrong shape is a ``ValueError`` saying what to pass, before any SQL (a scalar for a
    composite key was "'int' object is not iterable", a dict naming another column a
    bare ``KeyError``, a dict for a one-column key "unhashable type")."""
    async with AsyncSession(engine) as s:
        pair = await s.insert(Pair(left=1, right=2, note="n"))
        user = await s.insert(User(name="Ann", email="ann@x.org"))
    for key in ((1, 2), [1, 2], {"left": 1, "right": 2}, {"right": 2, "left": 1}):
        got = await session.get(Pair, key)
        assert got is not None and (got.left, got.right, got.note) == (1, 2, "n"), key
    assert await session.get(Pair, (2, 1)) is None
    for key in (user.id, {"id": user.id}):
        got_user = await session.get(User, key)
        assert got_user is not None and got_user.name == "Ann"
    sql_log.clear()
    bad: list[tuple[Any, str]] = [
        (1, r"composite primary key \(left, right\); pass a tuple .*got 1"),
        ((1,), r"composite primary key \(left, right\).*got \(1,\)"),
        ((1, 2, 3), r"got \(1, 2, 3\)"),
        ("12", r"got '12'"),
        ({"left": 1}, r"primary key is left, right: the dict given lacks 'right'"),
        ({"left": 1, "right": 2, "x": 3}, r"names 'x', not a key column"),
    ]
    for key, message in bad:
        with pytest.raises(ValueError, match=message):
            await session.get(Pair, key)
    with pytest.raises(ValueError, match=r"primary key is id: the dict given lacks 'id'"):
        await session.get(User, {"pk": user.id})
    assert sql_log.sql == []
    assert pair.note == "n"


async def test_get_or_create_inside_begin_commits_with_the_block(
    session: AsyncSession, engine: ormkit.Engine
) -> None:
    with pytest.raises(RuntimeError):
        async with session.begin():
            _, created = await session.query(User).get_or_create(
                email="a@x.org", defaults={"name": "A"}
            )
            assert created is True
            assert session.in_transaction
            raise RuntimeError("undo")
    assert await _names(engine) == []

    async with session.begin():
        await session.query(User).get_or_create(email="a@x.org", defaults={"name": "A"})
    assert await _names(engine) == ["A"]


async def test_get_or_create_race_outside_a_transaction(
    session: AsyncSession, engine: ormkit.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # another session creates the row between our lookup and our INSERT: the unique
    # constraint refuses ours, and the row is looked up again
    async def other_creator() -> None:
        async with AsyncSession(engine) as other:
            await other.insert(User(name="Theirs", email="race@x.org"))

    calls = _first_get_misses(monkeypatch, other_creator)
    user, created = await session.query(User).get_or_create(
        email="race@x.org", defaults={"name": "Ours"}
    )
    assert created is False and user.name == "Theirs"
    assert len(calls) == 2
    assert await _names(engine) == ["Theirs"]


async def test_get_or_create_race_inside_begin_keeps_the_transaction(
    session: AsyncSession, engine: ormkit.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The INSERT fails inside the block; a SAVEPOINT keeps the transaction usable (on
    # PostgreSQL it would refuse the second lookup otherwise) and the block's earlier
    # write in place.
    await session.insert(User(name="Theirs", email="race@x.org"))
    _first_get_misses(monkeypatch)
    async with session.begin():
        await session.insert(User(name="Before", email="before@x.org"))
        user, created = await session.query(User).get_or_create(
            email="race@x.org", defaults={"name": "Ours"}
        )
        assert created is False and user.name == "Theirs"
        await session.insert(User(name="After", email="after@x.org"))
    assert await _names(engine) == ["After", "Before", "Theirs"]


async def test_get_or_create_race_in_a_transaction_a_flush_began(
    session: AsyncSession, engine: ormkit.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No begin() block: a flush began the transaction. The failed INSERT must neither
    # roll back what was flushed nor commit it.
    await session.insert(User(name="Theirs", email="race@x.org"))
    session.add(User(name="Flushed", email="flushed@x.org"))
    await session.flush()
    assert session.in_transaction
    _first_get_misses(monkeypatch)
    user, created = await session.query(User).get_or_create(
        email="race@x.org", defaults={"name": "Ours"}
    )
    assert created is False and user.name == "Theirs"
    assert session.in_transaction
    await session.commit()
    assert await _names(engine) == ["Flushed", "Theirs"]


async def test_get_or_create_in_a_transaction_a_flush_began_commits_nothing(
    session: AsyncSession, engine: ormkit.Engine
) -> None:
    session.add(User(name="Flushed", email="flushed@x.org"))
    await session.flush()
    _, created = await session.query(User).get_or_create(
        email="new@x.org", defaults={"name": "New"}
    )
    assert created is True and session.in_transaction
    await session.rollback()
    assert await _names(engine) == []


async def test_get_or_create_other_integrity_errors_are_raised(
    session: AsyncSession, engine: ormkit.Engine
) -> None:
    # the INSERT breaks a unique constraint the lookups do not cover: nothing to find
    await session.insert(User(name="Ann", email="ann@x.org"))
    with pytest.raises(IntegrityError):
        await session.query(User).get_or_create(name="Bob", defaults={"email": "ann@x.org"})
    async with session.begin():
        with pytest.raises(IntegrityError):
            await session.query(User).get_or_create(name="Bob", defaults={"email": "ann@x.org"})
        await session.insert(User(name="Cy", email="cy@x.org"))  # the block goes on
    assert await _names(engine) == ["Ann", "Cy"]


async def test_get_or_create_does_not_hide_a_failed_flush(
    engine: ormkit.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Inside begin(), pending objects are flushed before the SAVEPOINT: their
    # IntegrityError is the caller's, not a concurrent creation to look up again.
    async with AsyncSession(engine, autoflush=False) as session:
        await session.insert(User(name="Theirs", email="race@x.org"))
        _first_get_misses(monkeypatch)
        with pytest.raises(IntegrityError):
            async with session.begin():
                session.add(User(name="Dup", email="race@x.org"))
                await session.query(User).get_or_create(email="race@x.org")
    assert await _names(engine) == ["Theirs"]


# -- update_or_create ------------------------------------------------------------------


async def test_update_or_create(session: AsyncSession, engine: ormkit.Engine) -> None:
    users = session.query(User)
    ann, created = await users.update_or_create(
        email="ann@x.org", defaults={"name": "Ann", "age": 30}
    )
    assert created is True and ann.age == 30
    assert await _names(engine) == ["Ann"]

    same, created = await users.update_or_create(email="ann@x.org", defaults={"age": lambda: 31})
    assert created is False and same is ann and ann.age == 31
    async with AsyncSession(engine) as other:
        assert await other.query(User).filter(email="ann@x.org").values_list("age", flat=True) == [
            31
        ]

    # nothing to update: found as it is
    same, created = await users.update_or_create(email="ann@x.org")
    assert created is False and same.age == 31

    with pytest.raises(MultipleResultsFound):
        await session.insert(User(name="Ann", email="ann2@x.org"))
        await users.update_or_create(name="Ann", defaults={"age": 1})


async def test_update_or_create_bumps_the_version_and_reads_for_update(
    session: AsyncSession, sql_log: SqlLog
) -> None:
    account, created = await session.query(Account).update_or_create(
        owner="ann", defaults={"balance": 5}
    )
    assert created is True and account.version == 1
    sql_log.clear()
    account, created = await session.query(Account).update_or_create(
        owner="ann", defaults={"balance": 7}
    )
    assert created is False and (account.balance, account.version) == (7, 2)
    reads = [s for s in sql_log.sql if s.startswith("SELECT")]
    if session.dialect == "postgresql":
        assert reads and all(s.endswith("FOR UPDATE") for s in reads)


async def test_update_or_create_holds_the_row_until_it_is_updated(
    session: AsyncSession, engine: ormkit.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One transaction from the read to the write: on PostgreSQL the row read FOR UPDATE
    # stays locked, so another writer cannot slip in between. (SQLite has no row locks:
    # its write transaction locks the whole database, and another writer waits.)
    await session.insert(User(name="Ann", email="ann@x.org", age=1))
    blocked: list[str] = []
    real = Query.one_or_none

    async def one_or_none(self: Query[Any]) -> Any:
        found = await real(self)
        if session.dialect == "postgresql":
            async with AsyncSession(engine) as other:
                stmt = select(User).filter(email="ann@x.org").for_update(nowait=True)
                try:
                    async with other.begin():
                        await other.execute(stmt)
                except ormkit.OperationalError as exc:
                    blocked.append(exc.sqlstate or "")
        return found

    monkeypatch.setattr(Query, "one_or_none", one_or_none)
    user, created = await session.query(User).update_or_create(
        email="ann@x.org", defaults={"age": 2}
    )
    assert created is False and user.age == 2 and not session.in_transaction
    if session.dialect == "postgresql":
        assert blocked == ["55P03"]  # lock_not_available


async def test_update_or_create_with_pending_changes_commits_nothing(
    session: AsyncSession, engine: ormkit.Engine
) -> None:
    # the autoflush of pending objects begins the session's transaction, which the
    # caller ends (as after any query): update_or_create does not commit it for them
    await session.insert(User(name="Ann", email="ann@x.org", age=1))
    session.add(User(name="Pending", email="p@x.org"))
    _, created = await session.query(User).update_or_create(email="ann@x.org", defaults={"age": 2})
    assert created is False and session.in_transaction
    await session.rollback()
    async with AsyncSession(engine) as other:
        assert await other.query(User).values_list("name", "age") == [("Ann", 1)]


async def test_update_or_create_race_updates_the_row_found_again(
    session: AsyncSession, engine: ormkit.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    await session.insert(User(name="Theirs", email="race@x.org", age=1))
    _first_get_misses(monkeypatch)
    user, created = await session.query(User).update_or_create(
        email="race@x.org", defaults={"name": "Ours", "age": 2}
    )
    assert created is False and (user.name, user.age) == ("Ours", 2)
    assert not session.in_transaction  # its own transaction, committed
    async with AsyncSession(engine) as other:
        assert await other.query(User).values_list("name", "age") == [("Ours", 2)]


async def test_update_or_create_inside_begin_rolls_back_with_the_block(
    session: AsyncSession, engine: ormkit.Engine
) -> None:
    await session.insert(User(name="Ann", email="ann@x.org", age=1))
    with pytest.raises(RuntimeError):
        async with session.begin():
            await session.query(User).update_or_create(email="ann@x.org", defaults={"age": 2})
            await session.query(User).update_or_create(email="bob@x.org", defaults={"name": "Bob"})
            raise RuntimeError("undo")
    async with AsyncSession(engine) as other:
        assert await other.query(User).values_list("name", "age") == [("Ann", 1)]


# -- last() ----------------------------------------------------------------------------


@pytest.fixture
async def people(session: AsyncSession) -> list[User]:
    rows = [
        User(name="Cy", email="cy@x.org", age=None),
        User(name="Ann", email="ann@x.org", age=31),
        User(name="Di", email="di@x.org", age=45),
        User(name="Bob", email="bob@x.org", age=17),
    ]
    await session.insert_all(rows)
    return rows


async def test_last(session: AsyncSession, people: list[User]) -> None:
    users = session.query(User)
    assert (await users.last()) is people[-1]  # unordered: by primary key
    assert (await users.order_by("name").last()) is people[2]
    assert (await users.order_by("-name").last()) is people[1]
    assert (await users.order_by(User.name).last()) is people[2]
    assert (await users.order_by(User.name.desc()).last()) is people[1]
    assert (await users.order_by("active", "-name").last()) is people[1]
    assert (await users.filter(age__lt=40).order_by("age").last()) is people[1]
    # NULLS FIRST reversed is NULLS LAST: the NULL age comes last in reverse
    assert (await users.order_by(User.age.asc().nulls_first()).last()) is people[2]
    assert (await users.order_by(User.age.desc().nulls_last()).last()) is people[0]
    assert (await users.filter(name="Nobody").last()) is None
    # within a slice
    assert (await users.order_by("name")[:2].last()) is people[3]
    assert (await users.order_by("name")[1:3].last()) is people[0]
    assert (await users.order_by("name")[9:12].last()) is None
    assert (await users[:2].last()) is people[1]  # a slice of an unordered query: by pk


async def test_last_bad_input(session: AsyncSession) -> None:
    with pytest.raises(ValueError, match=r"offset\(\) and no limit\(\)"):
        await session.query(User).offset(2).last()
    with pytest.raises(ValueError, match="needs order_by"):
        await session.query(User).group_by("name").last()


# -- __range ---------------------------------------------------------------------------


async def test_range_is_between(session: AsyncSession, people: list[User]) -> None:
    users = session.query(User)
    expected = ["Ann", "Bob"]
    for q in (
        users.filter(age__range=(17, 31)),
        users.filter(age__range=[17, 31]),
        users.filter(Q(age__range=(17, 31))),
        select(User).filter(age__range=(17, 31)),
    ):
        if isinstance(q, Query):
            assert sorted(u.name for u in await q.all()) == expected
        else:
            assert sorted(u.name for u in (await session.execute(q)).scalars().all()) == expected
    assert sorted(await users.exclude(age__range=(17, 31)).values_list("name", flat=True)) == ["Di"]
    assert (
        users.filter(age__range=(1, 2)).to_sql()[0] == users.filter(age__between=(1, 2)).to_sql()[0]
    )
    await session.insert(User(name="Json", email="j@x.org", meta={"n": 5}))
    assert [u.name for u in await users.filter(meta__n__range=(4, 6)).all()] == ["Json"]


@pytest.mark.parametrize("value", [5, "ab", (1, 2, 3), [1], None, {1, 2}])
async def test_range_needs_a_pair(session: AsyncSession, value: Any) -> None:
    with pytest.raises(
        ValueError, match=r"lookup 'age__range' on User: __range needs a \(low, high\) pair"
    ):
        session.query(User).filter(age__range=value)
    with pytest.raises(ValueError, match=r"__range needs a \(low, high\) pair"):
        Q(age__range=value)


# -- pk --------------------------------------------------------------------------------


async def test_pk_names_the_primary_key(session: AsyncSession, people: list[User]) -> None:
    users = session.query(User)
    ann, bob = people[1], people[3]
    assert await users.filter(pk=ann.id).all() == [ann]
    assert await users.filter_by(pk=ann.id).one() is ann
    assert sorted(u.name for u in await users.filter(pk__in=[ann.id, bob.id]).all()) == [
        "Ann",
        "Bob",
    ]
    assert await users.filter(pk__gt=bob.id).count() == 0
    assert await users.exclude(pk=ann.id).count() == 3
    assert await users.filter(Q(pk=ann.id) | Q(pk=bob.id)).count() == 2
    assert [u.id for u in await users.order_by("-pk").all()] == sorted(
        (u.id for u in people), reverse=True
    )
    assert [u.id for u in await users.order_by("pk").all()] == sorted(u.id for u in people)
    assert await users.filter(pk=ann.id).values("pk", "name") == [{"pk": ann.id, "name": "Ann"}]
    assert await users.order_by("pk").values_list("pk", flat=True) == sorted(u.id for u in people)
    assert await users.max("pk") == bob.id
    # the same SQL as the column's own name (and the same precompiled statement)
    assert users.filter(pk=5).to_sql() == users.filter(id=5).to_sql()
    assert users.filter(pk=5, id=6).to_sql()[1] == [5, 6]
    # a str key, and through a relationship
    await session.insert(Setting(key="theme", value="dark"))
    assert (await session.query(Setting).filter(pk="theme").one()).value == "dark"
    author = await session.insert(Author(name="Ann"))
    book = await session.insert(Book(title="One", author=author))
    assert await session.query(Book).filter(author__pk=author.id).all() == [book]
    assert await session.query(Author).filter(books__pk=book.id).all() == [author]
    stmt = select(User).where(User.active.is_(True)).filter(pk=ann.id)
    assert (await session.execute(stmt)).scalars().all() == [ann]


async def test_pk_of_a_composite_key_is_an_error(session: AsyncSession) -> None:
    pairs = session.query(Pair)
    message = r"composite primary key \(left, right\); name its columns"
    with pytest.raises(ValueError, match=message):
        pairs.filter(pk=(1, 2))
    with pytest.raises(ValueError, match=message):
        pairs.filter(Q(pk__in=[(1, 2)]))
    with pytest.raises(ValueError, match=message):
        pairs.order_by("-pk")
    with pytest.raises(ValueError, match=message):
        await pairs.values("pk")


# -- date parts ------------------------------------------------------------------------


@pytest.fixture
async def books(session: AsyncSession) -> list[Book]:
    plus2 = timezone(timedelta(hours=2))
    rows = [
        Book(
            title="a",
            published=date(2023, 12, 31),
            written=datetime(2023, 12, 31, 23, 59, 59, 999999),
            stamped=datetime(2024, 1, 1, 0, 30, tzinfo=plus2),  # 2023-12-31 22:30 UTC
        ),
        Book(
            title="b",
            published=date(2024, 2, 29),
            written=datetime(2024, 2, 29, 12, 0),
            stamped=datetime(2024, 2, 29, 12, 0, tzinfo=UTC),
        ),
        Book(
            title="c",
            published=date(2024, 11, 5),
            written=datetime(2024, 11, 5, 8, 15, 30),
            stamped=datetime(2024, 11, 5, 23, 30, tzinfo=timezone(timedelta(hours=-5))),
        ),
        Book(title="d"),
    ]
    await session.insert_all(rows)
    return rows


async def _titles(query: Query[Book]) -> list[str]:
    return sorted(b.title for b in await query.all())


async def test_date_parts(session: AsyncSession, books: list[Book]) -> None:
    q = session.query(Book)
    assert await _titles(q.filter(published__year=2024)) == ["b", "c"]
    assert await _titles(q.filter(published__month=2)) == ["b"]
    assert await _titles(q.filter(published__day=31)) == ["a"]
    assert await _titles(q.filter(published__year__gte=2024, published__month__lt=11)) == ["b"]
    assert await _titles(q.filter(written__year=2023)) == ["a"]
    assert await _titles(q.filter(written__day__in=[29, 5])) == ["b", "c"]
    assert await _titles(q.filter(written__day__in=(d for d in [29, 5]))) == ["b", "c"]
    assert await _titles(q.filter(Q(written__day__notin={29, 5}))) == ["a"]
    assert await _titles(q.filter(written__month__range=(2, 11))) == ["b", "c"]
    assert await _titles(q.filter(written__year__ne=2023)) == ["b", "c"]
    # timezone-aware: the UTC date, the same on both backends
    assert await _titles(q.filter(stamped__year=2023)) == ["a"]
    assert await _titles(q.filter(stamped__day=31)) == ["a"]
    assert await _titles(q.filter(stamped__day=6)) == ["c"]
    assert await _titles(q.filter(Q(published__year=2023) | Q(written__month=11))) == ["a", "c"]
    assert await _titles(q.exclude(published__year=2024)) == ["a"]
    assert await _titles(q.filter(published__year__isnull=True)) == ["d"]
    assert await _titles(q.filter(published__year=None)) == ["d"]
    assert await q.filter(published__year=2024).count() == 2
    assert await q.filter(published__year=2024).order_by("title").values_list(
        "title", flat=True
    ) == ["b", "c"]
    # the same shape with another part or value: no stale precompiled SQL
    assert await _titles(q.filter(published__month=12)) == ["a"]
    assert await _titles(q.filter(published__day=12)) == []
    assert await _titles(q.filter(published__year=2023)) == ["a"]
    # through a relationship
    ann = await session.insert(Author(name="Ann"))
    await session.query(Book).filter(title="b").update(author_id=ann.id)
    authors = await session.query(Author).filter(books__published__year=2024).all()
    assert authors == [ann]


def test_date_parts_sql() -> None:
    stmt = select(Book).filter(published__year=2024, stamped__month__gte=3)
    pg, params = stmt.to_sql("postgresql")
    assert "CAST(EXTRACT(YEAR FROM published) AS INTEGER) = $1" in pg
    assert "CAST(EXTRACT(MONTH FROM stamped AT TIME ZONE 'UTC') AS INTEGER) >= $2" in pg
    lite, _ = stmt.to_sql("sqlite")
    assert "CAST(strftime('%Y', published) AS INTEGER) = ?" in lite
    assert "CAST(strftime('%m', stamped) AS INTEGER) >= ?" in lite
    assert params == [2024, 3]


def test_an_application_lookup_named_like_a_date_part_keeps_working() -> None:
    # register_lookup("year", ...) is the application's: it applies where a date part
    # cannot (a column that is not a date or datetime)
    register_lookup("year", lambda lhs, v: lhs.startswith(v))
    try:
        sql, params = select(Book).filter(title__year="19", published__year=1999).to_sql("sqlite")
        assert "title LIKE ? ESCAPE" in sql and "strftime('%Y', published)" in sql
        assert params == ["19%", 1999]
        check_lookup(Book, "title__year", "19")  # as Query.filter() checks it: valid
    finally:
        del LOOKUPS["year"]
    with pytest.raises(ValueError, match="applies to date and datetime columns"):
        select(Book).filter(title__year="19").to_sql("sqlite")
    with pytest.raises(ValueError, match="applies to date and datetime columns"):
        check_lookup(Book, "title__year", "19")  # valid only while "year" was registered


async def test_date_parts_bad_input(session: AsyncSession) -> None:
    q = session.query(Book)
    with pytest.raises(
        ValueError,
        match=r"__year applies to date and datetime columns; Book\.title holds str values",
    ):
        q.filter(title__year=2024)
    with pytest.raises(ValueError, match=r"Book\.id holds int values"):
        q.filter(Q(pk__month=1))
    q.filter(published__year=2024, published__year__in=[2024])  # good values first
    for bad in ("2024", 2024.0, True):
        with pytest.raises(TypeError, match="a date part compares with an int"):
            q.filter(published__year=bad)
    with pytest.raises(TypeError, match="compares with an int, got str '2'"):
        q.filter(published__year__in=[2024, "2"])
    with pytest.raises(TypeError, match="compares with an int, got str '2'"):
        # an iterator is read once, when the lookup is made; its items checked when built
        await q.filter(published__year__in=(y for y in [2024, "2"])).all()
    with pytest.raises(TypeError, match="__in needs a list of values"):
        q.filter(published__year__in=2024)
    with pytest.raises(ValueError, match=r"__range needs a \(low, high\) pair"):
        q.filter(published__year__range=2024)
    with pytest.raises(TypeError, match="compares with an int"):
        q.filter(published__year__range=(2020, "2024"))
    with pytest.raises(TypeError, match="compares with an int"):
        q.filter(Q(published__day__gt=1.5))
    with pytest.raises(ValueError, match=r"operator 'contains' does not apply to __year"):
        q.filter(published__year__contains=2)
    with pytest.raises(ValueError, match=r"unknown lookup operator 'hour'"):
        q.filter(written__hour=3)
    with pytest.raises(ValueError, match=r"'written__year__gte__lt': 'gte__lt' is not an operator"):
        q.filter(written__year__gte__lt=3)
    with pytest.raises(ValueError, match="cannot compare with None"):
        q.filter(published__year__gte=None)
    # a statement built without Query.filter checks when compiled
    with pytest.raises(TypeError, match="compares with an int"):
        select(Book).filter(published__year="2024").to_sql("sqlite")


# -- slices ----------------------------------------------------------------------------


async def test_slices(session: AsyncSession, people: list[User], sql_log: SqlLog) -> None:
    ids = sorted(u.id for u in people)
    users = session.query(User).order_by("id")
    sql_log.clear()
    page = users[1:3]
    assert isinstance(page, Query) and len(sql_log) == 0  # nothing runs
    assert (page._offset, page._limit) == (1, 2)
    assert [u.id for u in await page.all()] == ids[1:3]
    assert [u.id for u in await users[:2].all()] == ids[:2]
    assert [u.id for u in await users[2:].all()] == ids[2:]
    assert [u.id for u in await users[:].all()] == ids
    assert [u.id for u in await users[1:4][1:2].all()] == ids[2:3]  # within the slice
    assert [u.id for u in await users[1:][:2].all()] == ids[1:3]
    assert [u.id for u in await users[:3][1:].all()] == ids[1:3]
    assert [u.id for u in await users[1:2][5:9].all()] == []
    assert [u.id for u in await users[3:1].all()] == []
    assert [u.id for u in await users.limit(3)[1:10].all()] == ids[1:3]
    assert [u.id for u in await users.offset(1)[1:2].all()] == ids[2:3]
    assert await users[1:3].count() == 2
    assert (await users[2:3].first()) is not None
    assert users[:5].to_sql() == users.limit(5).to_sql()
    assert users[0:5].to_sql() == users.limit(5).to_sql()


async def test_slices_bad_input(session: AsyncSession) -> None:
    users = session.query(User)
    with pytest.raises(TypeError, match=r"use `await query\.offset\(3\)\.first\(\)`"):
        users[3]  # type: ignore[index]
    with pytest.raises(ValueError, match=r"negative indexing.*last\(\)"):
        users[-1]  # type: ignore[index]
    with pytest.raises(ValueError, match="negative indexing"):
        users[-3:]
    with pytest.raises(ValueError, match="negative indexing"):
        users[:-1]
    with pytest.raises(ValueError, match="cannot have a step"):
        users[::2]
    with pytest.raises(TypeError, match="slice bounds must be ints"):
        users[1.5:]
    with pytest.raises(TypeError, match="slice bounds must be ints"):
        users[True:]
    with pytest.raises(TypeError, match="indices must be slices"):
        users["name"]  # type: ignore[index]
    # still not a (sync) iterable, and still refused as an IN list
    with pytest.raises(TypeError, match="not iterable"):
        list(users)  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="a session query"):
        users.filter(id__in=session.query(User))


# -- order_by across relationships -----------------------------------------------------


@pytest.fixture
async def library(session: AsyncSession) -> dict[str, Any]:
    fr, de = Country(code="fr"), Country(code="de")
    await session.insert_all([fr, de])
    zoe, ann, bob = (
        Author(name="Zoe", country=de),
        Author(name="Ann", country=fr),
        Author(name="Bob"),
    )
    await session.insert_all([zoe, ann, bob])
    books = [
        Book(title="z1", author=zoe),
        Book(title="a1", author=ann),
        Book(title="b1", author=bob),
        Book(title="a2", author=ann),
    ]
    await session.insert_all(books)
    return {"authors": [zoe, ann, bob], "books": books}


async def test_order_by_across_many_to_one(session: AsyncSession, library: dict[str, Any]) -> None:
    books = session.query(Book)

    async def titles(q: Query[Book]) -> list[str]:
        return [b.title for b in await q.all()]

    assert await titles(books.order_by("author__name", "title")) == ["a1", "a2", "b1", "z1"]
    assert await titles(books.order_by("-author__name", "-title")) == ["z1", "b1", "a2", "a1"]
    assert await titles(books.order_by("author__name", "title", desc=True)) == [
        "z1",
        "b1",
        "a2",
        "a1",
    ]
    # twice more: the precompiled statement of each direction is its own
    assert await titles(books.order_by("author__name", "title")) == ["a1", "a2", "b1", "z1"]
    assert await titles(books.order_by("-author__name", "-title")) == ["z1", "b1", "a2", "a1"]
    # two levels; a filter through the same relationship shares its join
    by_country = books.filter(author__country__isnull=False).order_by(
        "author__country__code", "title"
    )
    assert await titles(by_country) == ["z1", "a1", "a2"]
    filtered = books.filter(author__name__in=["Ann", "Zoe"]).order_by("-author__name", "title")
    assert await titles(filtered) == ["z1", "a1", "a2"]
    assert filtered.to_sql()[0].count("JOIN") == 1
    assert await titles(books.order_by("author__pk", "title")) == ["z1", "a1", "a2", "b1"]
    # with terminals and loader options
    ordered = books.order_by("author__name", "title")
    assert (await ordered.first()).title == "a1"  # type: ignore[union-attr]
    assert (await ordered.last()).title == "z1"  # type: ignore[union-attr]
    assert await titles(ordered[1:3]) == ["a2", "b1"]
    assert await ordered.values_list("title", flat=True) == ["a1", "a2", "b1", "z1"]
    assert await ordered.count() == 4
    joined = await ordered.options(joinedload("author")).all()
    assert [(b.title, b.author.name) for b in joined] == [  # type: ignore[union-attr]
        ("a1", "Ann"),
        ("a2", "Ann"),
        ("b1", "Bob"),
        ("z1", "Zoe"),
    ]
    streamed = [b.title async for b in books.order_by("-author__name", "title")]
    assert streamed == ["z1", "b1", "a1", "a2"]


async def test_new_lookups_send_what_the_compiler_builds(
    session: AsyncSession, library: dict[str, Any], sql_log: SqlLog
) -> None:
    # Queries that take the precompiled path send the SQL of the ordinary compiler, and
    # the ones it cannot hold (date parts) are left to the ordinary path.
    books = session.query(Book)
    fast = [
        books.filter(pk=library["books"][0].id),
        books.filter(pk__gte=1).order_by("-pk"),
        books.order_by("author__name", "-title"),
        books.order_by("-author__name", "title")[1:3],
        books.filter(title__like="a%").order_by("author__country__code"),
    ]
    for query in fast:
        assert query._rows_template(query._limit) is not None, query
    slow = [
        books.filter(published__year=2024),
        books.filter(written__month__gte=2).order_by("author__name"),
        books.filter(id__range=(1, 3)),
    ]
    for query in fast + slow:
        sql, params = query.to_sql()
        for _ in range(2):
            sql_log.clear()
            await query.all()
            assert sql_log.sql == [sql], query
            assert sql_log.events[0].param_count == len(params)


async def test_order_by_across_relationships_bad_input(session: AsyncSession) -> None:
    with pytest.raises(ValueError, match=r"Author\.books, a collection"):
        session.query(Author).order_by("books__title")
    with pytest.raises(ValueError, match=r"unknown field 'nmae' on Author in 'author__nmae'"):
        session.query(Book).order_by("author__nmae")
    with pytest.raises(ValueError, match=r"unknown field 'writer' on Book"):
        session.query(Book).order_by("-writer__name")
    with pytest.raises(ValueError, match="names a relationship, not a field"):
        session.query(Book).order_by("author__country")
    with pytest.raises(ValueError, match="'title' is a column, not a relationship"):
        session.query(Book).order_by("title__x")
    with pytest.raises(ValueError, match=r"'author' is a relationship of Book; order by one"):
        session.query(Book).order_by("-author")
    # SELECT DISTINCT (a lookup through a collection) cannot be ordered by a joined
    # column on PostgreSQL: refused alike on every backend
    distinct = session.query(Author).filter(books__title="x").order_by("country__code")
    with pytest.raises(ValueError, match="cannot be combined with a lookup or joined load"):
        await distinct.all()
    with pytest.raises(ValueError, match="cannot be combined with a lookup or joined load"):
        distinct.to_sql()
    assert await distinct.count() == 0  # unordered terminals are fine
