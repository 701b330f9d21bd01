"""``__table_args__`` on real databases: ``create_all`` makes the multi-column unique
constraints, indexes and check constraints, the database enforces them (an
``IntegrityError`` naming the constraint where the backend says which), upserts can
target them, and ``drop_all`` takes them away with the tables."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from backends import ALL_BACKENDS, backend_url

import ormkit
from ormkit import AsyncSession, CheckConstraint, Index, UniqueConstraint
from ormkit.orm import ForeignKey, Mapped, Registry, declarative_base, mapped_column

Model = declarative_base("Model", registry=Registry(track=False))


class Team(Model):
    __tablename__ = "tbl_args_teams"
    id: Mapped[int] = mapped_column(primary_key=True)
    org: Mapped[str] = mapped_column(max_length=40)
    slug: Mapped[str] = mapped_column(max_length=40)
    __table_args__ = (UniqueConstraint("org", "slug"),)


class Member(Model):
    __tablename__ = "tbl_args_members"
    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("tbl_args_teams.id"))
    user_id: Mapped[int] = mapped_column(name="uid")
    role: Mapped[str] = mapped_column(max_length=20, default="member")
    seat: Mapped[int | None]
    desk: Mapped[str | None]
    __table_args__ = (
        UniqueConstraint("team_id", "user_id", name="uq_member_once"),
        Index(None, "team_id", "seat", unique=True),
        Index("ix_members_role_desk", "role", "desk"),
        CheckConstraint("role IN ('owner', 'member')", name="ck_member_role"),
    )


MODELS = [Team, Member]


@pytest.fixture(params=ALL_BACKENDS)
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ormkit.Engine]:
    """An engine on each backend with this module's tables created empty."""
    engine = await ormkit.create_engine(backend_url(request, request.param, tmp_path))
    try:
        await engine.drop_all(MODELS)
        await engine.create_all(MODELS)
        yield engine
        await engine.drop_all(MODELS)
    finally:
        await engine.close()


async def _team(session: AsyncSession, org: str = "acme", slug: str = "core") -> Team:
    return await session.insert(Team(org=org, slug=slug))


async def _violation(session: AsyncSession, obj: Any) -> ormkit.IntegrityError:
    with pytest.raises(ormkit.IntegrityError) as info:
        await session.insert(obj)
    return info.value


def _names_it(err: ormkit.IntegrityError, engine: ormkit.Engine, name: str, table: str) -> None:
    """PostgreSQL names the violated constraint; SQLite names only the table and columns
    of a unique violation (its message has no constraint name to give)."""
    if engine.dialect == "postgresql":
        assert err.constraint == name, err
        assert err.sqlstate == "23505"
    else:
        assert err.constraint is None and err.table == table, err


async def test_create_all_makes_them_and_introspection_reads_them(
    engine: ormkit.Engine,
) -> None:
    indexes = {
        i["name"]: (i["columns"], i["unique"])
        for i in await engine.get_indexes(Member.__tablename__)
    }
    assert indexes == {
        "ix_tbl_args_members_team_id_seat": (["team_id", "seat"], True),
        "ix_members_role_desk": (["role", "desk"], False),
    }
    uniques = [
        (c["name"], c["columns"])
        for c in await engine.get_constraints(Member.__tablename__)
        if c["type"] == "unique"
    ]
    assert uniques == [("uq_member_once", ["team_id", "uid"])]
    teams = await engine.get_constraints(Team.__tablename__)
    assert [(c["name"], c["columns"]) for c in teams if c["type"] == "unique"] == [
        ("uq_tbl_args_teams_org_slug", ["org", "slug"])
    ]
    # Creating again is a no-op.
    await engine.create_all(MODELS)
    assert len(await engine.get_indexes(Member.__tablename__)) == 2


async def test_duplicate_pair_violates_the_unique_constraint(engine: ormkit.Engine) -> None:
    async with AsyncSession(engine) as session:
        team = await _team(session)
        other = await _team(session, slug="other")
        await session.insert(Member(team_id=team.id, user_id=1))
        # Either column alone may repeat; only the pair is unique.
        await session.insert(Member(team_id=team.id, user_id=2))
        await session.insert(Member(team_id=other.id, user_id=1))
        err = await _violation(session, Member(team_id=team.id, user_id=1))
        _names_it(err, engine, "uq_member_once", Member.__tablename__)
        dup_team = await _violation(session, Team(org="acme", slug="core"))
        _names_it(dup_team, engine, "uq_tbl_args_teams_org_slug", Team.__tablename__)
        assert await session.query(Member).count() == 3


async def test_unique_index_and_nulls(engine: ormkit.Engine) -> None:
    async with AsyncSession(engine) as session:
        team = await _team(session)
        await session.insert(Member(team_id=team.id, user_id=1, seat=5))
        # NULLs never conflict (both backends).
        await session.insert(Member(team_id=team.id, user_id=2, seat=None))
        await session.insert(Member(team_id=team.id, user_id=3, seat=None))
        err = await _violation(session, Member(team_id=team.id, user_id=4, seat=5))
        _names_it(err, engine, "ix_tbl_args_members_team_id_seat", Member.__tablename__)


async def test_check_constraint_is_enforced_and_named(engine: ormkit.Engine) -> None:
    async with AsyncSession(engine) as session:
        team = await _team(session)
        await session.insert(Member(team_id=team.id, user_id=1, role="owner"))
        err = await _violation(session, Member(team_id=team.id, user_id=2, role="guest"))
        assert err.constraint == "ck_member_role"  # both backends give a CHECK's name


async def test_upsert_targets_the_pair(engine: ormkit.Engine) -> None:
    async with AsyncSession(engine) as session:
        team = await _team(session)
        await session.insert(Member(team_id=team.id, user_id=1, desk="a"))
        again = Member(team_id=team.id, user_id=1, desk="b")
        await session.upsert(again, ["team_id", "user_id"], ["desk"])
        rows = await session.query(Member).values("user_id", "desk")
        assert rows == [{"user_id": 1, "desk": "b"}]


async def test_drop_all_takes_them_away(engine: ormkit.Engine) -> None:
    await engine.drop_all(MODELS)
    tables = await engine.get_tables()
    assert Member.__tablename__ not in tables and Team.__tablename__ not in tables
    names = ["uq_member_once", "ix_tbl_args_members_team_id_seat", "ix_members_role_desk"]
    if engine.dialect == "postgresql":
        rows = await engine.execute(
            "SELECT relname::text AS name FROM pg_catalog.pg_class "
            "WHERE relname::text = ANY ($1::text[])",
            [names],
        )
    else:
        rows = await engine.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND name IN ($1, $2, $3)",
            names,
        )
    assert rows.all() == []
    # And they come back whole.
    await engine.create_all(MODELS)
    assert len(await engine.get_indexes(Member.__tablename__)) == 2
