"""Query behaviour a Django / SQLAlchemy user relies on, on every backend: soft-delete
visibility of ``delete(force=True)``, empty ``Q()``, ``group_by().count()``, the order
of ``first()``, ``None`` with comparison lookups and ``Q`` field names checked in
``filter()``."""

from __future__ import annotations

import pytest
from session_models import Account, Doc, User
from statement_log import SqlLog

from ormkit import AsyncSession, Q, and_, not_, or_


@pytest.fixture
async def people(session: AsyncSession) -> list[User]:
    rows = [
        User(name="Ann", email="ann@x.org", age=31, active=True),
        User(name="Bob", email="bob@x.org", age=17, active=True),
        User(name="Cy", email="cy@x.org", age=None, active=False),
        User(name="Di", email="di@x.org", age=45, active=False),
    ]
    await session.insert_all(rows)
    return rows


async def _trash(session: AsyncSession) -> None:
    """Two live docs and one soft-deleted one (``trashed``)."""
    await session.insert_all([Doc(title="live 1"), Doc(title="live 2"), Doc(title="trashed")])
    assert await session.query(Doc).filter(title="trashed").delete() == 1  # soft


async def _titles(session: AsyncSession) -> list[str]:
    return sorted(await session.query(Doc).with_deleted().values_list("title", flat=True))


async def test_delete_force_sees_only_the_rows_the_query_sees(session: AsyncSession) -> None:
    # emptying the trash leaves the live rows alone
    await _trash(session)
    assert await session.query(Doc).only_deleted().delete(force=True) == 1
    assert await _titles(session) == ["live 1", "live 2"]
    await session.query(Doc).with_deleted().delete(force=True)

    # the default (live rows only) leaves the trash alone
    await _trash(session)
    assert await session.query(Doc).delete(force=True) == 2
    assert await _titles(session) == ["trashed"]

    # with_deleted(): everything
    await _trash(session)
    assert await session.query(Doc).with_deleted().delete(force=True) == 4
    assert await _titles(session) == []


async def test_delete_force_with_non_plain_conditions_keeps_visibility(
    session: AsyncSession,
) -> None:
    # a condition the precompiled path does not take (an OR of Qs) goes the general way
    await _trash(session)
    either = Q(title="live 1") | Q(title="trashed")
    assert await session.query(Doc).only_deleted().filter(either).delete(force=True) == 1
    assert await _titles(session) == ["live 1", "live 2"]
    assert await session.query(Doc).filter(either).delete(force=True) == 1
    assert await _titles(session) == ["live 2"]


async def test_empty_q_is_no_condition(session: AsyncSession, people: list[User]) -> None:
    q = Q()
    for name in ["Ann", "Bob"]:
        q |= Q(name=name)
    query = session.query(User)
    assert sorted(u.name for u in await query.filter(q).all()) == ["Ann", "Bob"]
    assert query.filter(q).to_sql() == query.filter(Q(name="Ann") | Q(name="Bob")).to_sql()
    acc = Q()
    acc &= Q(active=True)
    assert sorted(u.name for u in await query.filter(acc).all()) == ["Ann", "Bob"]
    assert await query.filter(Q()).count() == 4
    assert await query.filter(~Q()).count() == 4
    assert await query.exclude(Q()).count() == 4
    assert await query.exclude(~Q()).count() == 4
    assert await query.filter(Q(Q(), ~Q())).count() == 4
    # combined with expressions, and through and_/or_/not_
    assert await query.filter(Q() | (User.age > 40)).count() == 1
    assert await query.filter((User.age > 40) | Q()).count() == 1
    assert await query.filter(or_(Q(), User.age > 40)).count() == 1
    assert await query.filter(and_(Q(), Q())).count() == 4
    assert await query.filter(not_(Q())).count() == 4
    assert not Q() and not ~Q() and not Q(Q()) and Q(name="x")


async def test_group_by_count_counts_the_groups(session: AsyncSession, people: list[User]) -> None:
    assert await session.query(User).group_by("active").count() == 2
    assert await session.query(User).filter(age__gte=18).group_by("active").count() == 2
    assert await session.query(User).filter(age__gte=40).group_by("active").count() == 1
    assert await session.query(User).group_by("active", "age").count() == 4


async def test_first_without_order_by_is_the_lowest_primary_key(
    session: AsyncSession, sql_log: SqlLog
) -> None:
    accounts = [Account(owner=f"o{i}") for i in range(1, 4)]
    await session.insert_all(accounts)
    # PostgreSQL writes the updated row at the end of the heap: an unordered scan
    # would then give another row first
    assert await session.query(Account).filter(owner="o1").update(balance=5) == 1
    sql_log.clear()
    first = await session.query(Account).first()
    assert first is not None and first.id == accounts[0].id
    assert "ORDER BY id" in sql_log.sql[-1]
    # an explicit order is kept as given
    last = await session.query(Account).order_by("-id").first()
    assert last is not None and last.id == accounts[2].id
    only = await session.query(Account).filter(owner="o1").one()
    assert only.balance == 5


@pytest.mark.parametrize(
    "lookup",
    [
        "age__gt",
        "age__gte",
        "age__lt",
        "age__lte",
        "name__like",
        "name__ilike",
        "name__contains",
        "name__icontains",
        "name__startswith",
        "name__istartswith",
        "name__endswith",
        "name__iendswith",
        "name__iexact",
    ],
)
async def test_comparison_lookups_refuse_none_in_filter(session: AsyncSession, lookup: str) -> None:
    field = lookup.rpartition("__")[0]
    expected = rf"'{lookup}' on User: __\w+ cannot compare with None.*{field}__isnull=True"
    with pytest.raises(ValueError, match=expected):
        session.query(User).filter(**{lookup: None})
    with pytest.raises(ValueError, match=expected):
        session.query(User).exclude(**{lookup: None})
    with pytest.raises(ValueError, match=rf"'{lookup}': __\w+ cannot compare with None"):
        Q(**{lookup: None})


async def test_none_keeps_its_is_null_meaning(session: AsyncSession, people: list[User]) -> None:
    query = session.query(User)
    assert [u.name for u in await query.filter(age=None).all()] == ["Cy"]
    assert [u.name for u in await query.filter(age__exact=None).all()] == ["Cy"]
    assert await query.filter(age__ne=None).count() == 3
    assert [u.name for u in await query.filter(age__in=[None]).all()] == ["Cy"]


async def test_contains_with_a_non_str_on_a_text_column(
    session: AsyncSession, people: list[User]
) -> None:
    query = session.query(User)
    for lookup in ("name__contains", "name__icontains"):
        with pytest.raises(TypeError, match=r"contains needs a str value, got int"):
            await query.filter(**{lookup: 5}).count()
    with pytest.raises(TypeError, match=r"contains needs a str value, got int"):
        await query.filter(User.name.contains(5)).count()  # type: ignore[arg-type]
    assert await query.filter(name__contains="n").count() == 1  # str still works


async def test_q_field_names_are_checked_in_filter(session: AsyncSession) -> None:
    query = session.query(User)
    unknown = r"unknown field 'nmae' on User"
    with pytest.raises(ValueError, match=unknown):
        query.filter(Q(nmae=1))
    with pytest.raises(ValueError, match=unknown):
        query.filter(Q(name="a") | ~Q(nmae=1))
    with pytest.raises(ValueError, match=unknown):
        query.filter((User.age > 3) | Q(nmae=1))
    with pytest.raises(ValueError, match=unknown):
        query.exclude(Q(Q(age=1), nmae=1))
    with pytest.raises(ValueError, match=r"unknown lookup operator 'gtx'"):
        query.filter(Q(age__gtx=1))
    with pytest.raises(ValueError, match=unknown):
        query.having(Q(nmae=1))
    query.filter(Q(name="a") | Q(age__gte=3), Q(meta__any__key=1))  # known fields pass
