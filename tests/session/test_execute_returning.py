"""session.execute(insert/update/delete(...).returning(Model)) gives model instances (as
in SQLAlchemy 2.0): tracked for an insert or update, out of the session for a delete;
``returning(Model.id, ...)`` keeps giving plain values."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from session_models import User

from ormkit import AsyncSession, delete, insert, update


def _user(name: str, **values: object) -> dict[str, object]:
    return {"name": name, "email": f"{name}@x.org", **values}


async def test_insert_returning_model_gives_tracked_instances(session: AsyncSession) -> None:
    result = await session.execute(
        insert(User)
        .values(**_user("ann", meta={"plan": "pro"}, balance=Decimal("1.50")))
        .returning(User)
    )
    ann = result.scalars().first()
    assert isinstance(ann, User) and result.keys() == ["User"] and result.rowcount == 1
    assert ann.id is not None and ann.name == "ann"
    assert ann.status == "new"  # the server default, from the returned row
    assert ann.meta == {"plan": "pro"} and ann.balance == Decimal("1.50")  # converted
    assert ann.active is True and ann.joined is None
    assert ann in session and await session.get(User, ann.id) is ann
    # tracked: a change is written at commit
    ann.age = 40
    await session.commit()
    stored = await session.execute_raw(f"SELECT age FROM {User.__tablename__} WHERE id = {ann.id}")
    assert stored.scalar() == 40
    many = await session.execute(insert(User).values([_user("bob"), _user("cy")]).returning(User))
    bob, cy = many.scalars().all()
    assert [type(bob), bob.name, type(cy), cy.name] == [User, "bob", User, "cy"]
    assert many.all() == [(bob,), (cy,)]


async def test_returning_columns_stays_plain(session: AsyncSession) -> None:
    result = await session.execute(
        insert(User).values(**_user("ann", joined=date(2020, 1, 2))).returning(User.id, "joined")
    )
    (row,) = result.all()
    assert type(row[0]) is int and row[1] == date(2020, 1, 2)
    assert result.scalars().first() == row[0] and result.keys() == ["id", "joined"]
    both = await session.execute(insert(User).values(**_user("bob")).returning(User, User.id))
    bob, bob_id = both.one()
    assert isinstance(bob, User) and bob.id == bob_id and both.keys() == ["User", "id"]


async def test_update_returning_model_refreshes_the_tracked_object(
    session: AsyncSession,
) -> None:
    ann = await session.insert(User(**_user("ann", age=30)))
    await session.insert(User(**_user("bob", age=10)))
    session.expunge(await session.get_or_raise(User, ann.id + 1))
    result = await session.execute(
        update(User).where(User.age >= 10).values(age=User.age + 1).returning(User)
    )
    got = sorted(result.scalars().all(), key=lambda u: u.name)
    assert got[0] is ann and ann.age == 31  # the object in the identity map, refreshed
    bob = got[1]
    assert isinstance(bob, User) and bob.age == 11 and bob in session
    assert await session.get(User, bob.id) is bob
    assert session.dirty == []  # the returned values are the snapshot
    plain = await session.execute(update(User).values(age=1).returning(User.age))
    assert plain.scalars().all() == [1, 1]


async def test_delete_returning_model_gives_objects_out_of_the_session(
    session: AsyncSession,
) -> None:
    ann = await session.insert(User(**_user("ann")))
    bob = await session.insert(User(**_user("bob")))
    session.expunge(bob)
    result = await session.execute(delete(User).returning(User))
    gone = sorted(result.scalars().all(), key=lambda u: u.name)
    assert gone[0] is ann and ann not in session  # deleted, as after session.delete
    assert gone[1] is not bob and gone[1].name == "bob" and gone[1] not in session
    assert result.rowcount == 2
    assert await session.get(User, ann.id) is None


async def test_returning_model_inside_a_rolled_back_transaction(
    session: AsyncSession,
) -> None:
    ann = await session.insert(User(**_user("ann", age=30)))
    with pytest.raises(RuntimeError):
        async with session.begin():
            new = (
                await session.execute(insert(User).values(**_user("bob")).returning(User))
            ).scalar_one()
            assert new in session
            upd = (
                await session.execute(
                    update(User).values(age=5).where(User.id == ann.id).returning(User)
                )
            ).scalar_one()
            assert upd is ann and ann.age == 5
            raise RuntimeError
    assert new not in session  # its row is gone again
    assert ann.age == 30 and ann in session and session.dirty == []
    with pytest.raises(RuntimeError):
        async with session.begin():
            (gone,) = (await session.execute(delete(User).returning(User))).scalars()
            assert gone is ann and ann not in session
            raise RuntimeError
    assert ann in session and await session.get(User, ann.id) is ann
