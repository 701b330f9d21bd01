"""``session.merge(obj, load=True)``: the session's instance for ``obj``'s row takes
``obj``'s state (identity map, else loaded, else a new pending instance), cascading
through the relationships loaded on ``obj``; ``load=False`` trusts ``obj`` as stored."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from backends import ALL_BACKENDS, engine_with_tables
from statement_log import SqlLog

import ormkit
from ormkit import (
    JSON,
    AsyncSession,
    ForeignKey,
    InterfaceError,
    Mapped,
    SoftDeleteMixin,
    StaleDataError,
    ValidationError,
    mapped_column,
    relationship,
    selectinload,
)
from ormkit.orm import Registry, declarative_base

S = f"_{os.getpid()}"

Base = declarative_base("MergeBase", registry=Registry(track=False))


class Team(Base):
    __tablename__ = f"mg_teams{S}"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(max_length=40)
    motto: Mapped[str | None] = mapped_column(nullable=True)
    rank: Mapped[int] = mapped_column(default=0)
    meta: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    players: Mapped[list[Player]] = relationship(back_populates="team", order_by="id")
    notes: Mapped[list[Note]] = relationship(back_populates="team", cascade="save-update")
    sponsors: Mapped[list[Sponsor]] = relationship(
        secondary=f"mg_team_sponsors{S}", back_populates="teams", order_by="name"
    )


class Player(Base):
    __tablename__ = f"mg_players{S}"

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int | None] = mapped_column(ForeignKey(f"mg_teams{S}.id"))
    name: Mapped[str] = mapped_column(max_length=40)
    team: Mapped[Team | None] = relationship(back_populates="players")


class Note(Base):
    __tablename__ = f"mg_notes{S}"

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int | None] = mapped_column(ForeignKey(f"mg_teams{S}.id"))
    text: Mapped[str]
    team: Mapped[Team | None] = relationship(back_populates="notes")


class Sponsor(Base):
    __tablename__ = f"mg_sponsors{S}"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]
    teams: Mapped[list[Team]] = relationship(
        secondary=f"mg_team_sponsors{S}", back_populates="sponsors"
    )


class TeamSponsor(Base):
    __tablename__ = f"mg_team_sponsors{S}"
    __primary_key__ = ("team_id", "sponsor_id")

    team_id: Mapped[int] = mapped_column(ForeignKey(f"mg_teams{S}.id"))
    sponsor_id: Mapped[int] = mapped_column(ForeignKey(f"mg_sponsors{S}.id"))


class Pair(Base):
    __tablename__ = f"mg_pairs{S}"
    __primary_key__ = ("region", "number")

    region: Mapped[str] = mapped_column(max_length=8)
    number: Mapped[int] = mapped_column(autoincrement=False)
    label: Mapped[str]


class Ledger(Base):
    __tablename__ = f"mg_ledgers{S}"

    id: Mapped[int] = mapped_column(primary_key=True)
    owner: Mapped[str]
    balance: Mapped[int] = mapped_column(default=0)
    version: Mapped[int] = mapped_column(version=True)


class Memo(SoftDeleteMixin, Base):
    __tablename__ = f"mg_memos{S}"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str]


MODELS = [Team, Player, Note, Sponsor, TeamSponsor, Pair, Ledger, Memo]


@pytest.fixture(params=ALL_BACKENDS)
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ormkit.Engine]:
    """An engine on each backend with this module's tables created empty."""
    async with engine_with_tables(request, request.param, tmp_path, MODELS) as eng:
        yield eng


async def _team(engine: ormkit.Engine, *players: str, **values: Any) -> int:
    """Insert a team (and its players); its id."""
    async with AsyncSession(engine) as s:
        team = Team(**{"name": "Reds", "motto": "go", "rank": 3, **values})
        team.players = [Player(name=name) for name in players]
        s.add(team)
        await s.commit()
        return team.id


async def _detached_team(engine: ormkit.Engine, team_id: int) -> Team:
    """The team loaded with its players by a session that is closed since."""
    async with AsyncSession(engine) as s:
        team = await s.get(Team, team_id, options=[selectinload("players")])
        assert team is not None
        return team


async def _stored(engine: ormkit.Engine, team_id: int) -> tuple[Any, ...]:
    async with AsyncSession(engine) as s:
        team = await s.get(Team, team_id, options=[selectinload("players")])
        assert team is not None
        players = [(p.name, p.team_id) for p in team.players]
        return team.name, team.motto, team.rank, team.meta, players


def _set_clause(sql: str) -> str:
    return sql.split(" SET ", 1)[1].split(" WHERE ", 1)[0]


# -- the three targets ------------------------------------------------------------------


async def test_identity_map_hit_takes_the_values_and_updates_only_what_changed(
    engine: ormkit.Engine, sql_log: SqlLog
) -> None:
    team_id = await _team(engine)
    async with AsyncSession(engine) as s:
        mine = await s.get(Team, team_id)
        assert mine is not None
        detached = Team(id=team_id, name="Blues", motto="go", rank=3)
        sql_log.clear()
        merged = await s.merge(detached)
        assert merged is mine and merged is not detached
        assert (mine.name, mine.motto, mine.rank) == ("Blues", "go", 3)
        assert sql_log.sql == []  # found in the identity map: no query
        assert detached not in s and s.dirty == [mine]
        await s.commit()
        writes = sql_log.writes()
        assert len(writes) == 1 and writes[0].startswith("UPDATE")
        assert _set_clause(writes[0]).replace('"', "").split()[0] == "name"
        assert "motto" not in writes[0] and "rank" not in writes[0]
    assert (await _stored(engine, team_id))[:3] == ("Blues", "go", 3)


async def test_loaded_from_the_database_when_not_in_the_session(
    engine: ormkit.Engine, sql_log: SqlLog
) -> None:
    team_id = await _team(engine, meta={"a": 1})
    detached = await _detached_team(engine, team_id)
    detached.motto = "onwards"
    async with AsyncSession(engine) as s:
        sql_log.clear()
        merged = await s.merge(detached)
        assert [sql.split()[0] for sql in sql_log.sql] == ["SELECT"]
        assert merged is not detached and merged in s and detached not in s
        assert merged is await s.get(Team, team_id)
        assert merged.motto == "onwards" and s.dirty == [merged]
        sql_log.clear()
        await s.commit()
        (update,) = sql_log.writes()
        assert "motto" in _set_clause(update) and "name" not in _set_clause(update)
    assert (await _stored(engine, team_id))[:4] == ("Reds", "onwards", 3, {"a": 1})


async def test_obj_is_left_as_it_was(engine: ormkit.Engine) -> None:
    team_id = await _team(engine, "ann", meta={"a": [1]})
    detached = await _detached_team(engine, team_id)
    detached.name = "Greens"
    before = dict(detached.__dict__)
    players_before = list(detached.players)
    async with AsyncSession(engine) as s:
        merged = await s.merge(detached)
        assert merged.meta == {"a": [1]} and merged.meta is not detached.meta
        merged.meta["a"].append(2)  # the JSON value is the merged instance's own
        assert merged.players[0] is not detached.players[0]
        await s.commit()
    assert detached.__dict__ == before and detached.meta == {"a": [1]}
    assert detached.players == players_before and detached.players[0].team_id == team_id
    assert (await _stored(engine, team_id))[3] == {"a": [1, 2]}


async def test_a_missing_row_becomes_a_pending_insert(
    engine: ormkit.Engine, sql_log: SqlLog
) -> None:
    async with AsyncSession(engine) as s:
        detached = Team(id=77, name="Golds", motto="new")
        merged = await s.merge(detached)
        assert merged is not detached and s.new == [merged] and detached not in s
        assert (merged.id, merged.name, merged.rank, merged.players) == (77, "Golds", 0, [])
        sql_log.clear()
        await s.commit()
        assert [w.split()[0] for w in sql_log.writes()] == ["INSERT"]
        assert await s.get(Team, 77) is merged
    assert (await _stored(engine, 77))[:3] == ("Golds", "new", 0)


async def test_no_primary_key_gives_a_new_pending_instance(engine: ormkit.Engine) -> None:
    async with AsyncSession(engine) as s:
        detached = Team(name="Teals")
        merged = await s.merge(detached)
        again = await s.merge(detached)  # merged twice: two new rows, as obj has no key
        assert merged is not detached and again is not merged
        await s.commit()
        assert detached.id is None and detached not in s
        assert merged.id is not None and again.id is not None and merged.id != again.id
        assert await s.query(Team).filter(name="Teals").count() == 2


async def test_an_object_of_the_session_is_its_own_target(engine: ormkit.Engine) -> None:
    team_id = await _team(engine)
    async with AsyncSession(engine) as s:
        mine = await s.get(Team, team_id)
        assert mine is not None
        assert await s.merge(mine) is mine
        pending = Team(name="Pending")
        s.add(pending)
        assert await s.merge(pending) is pending and s.new == [pending]
        await s.commit()
        assert await s.query(Team).count() == 2


async def test_a_pending_object_with_the_key_is_the_target(engine: ormkit.Engine) -> None:
    async with AsyncSession(engine, autoflush=False) as s:
        pending = Team(id=5, name="First")
        s.add(pending)
        merged = await s.merge(Team(id=5, name="Second"))
        assert merged is pending and pending.name == "Second" and s.new == [pending]
        await s.commit()
    assert (await _stored(engine, 5))[0] == "Second"


async def test_pending_objects_are_flushed_before_the_query(
    engine: ormkit.Engine, sql_log: SqlLog
) -> None:
    team_id = await _team(engine)
    async with AsyncSession(engine) as s:
        s.add(Team(id=60, name="Pending"))
        sql_log.clear()
        merged = await s.merge(Team(id=team_id, name="Loaded"))
        # autoflush before the SELECT, as before any query (merge() flushes nothing else)
        assert [sql.split()[0] for sql in sql_log.sql] == ["INSERT", "SELECT"]
        assert s.new == [] and s.dirty == [merged]
        await s.rollback()
    assert await _stored_count(engine) == 1


async def _stored_count(engine: ormkit.Engine) -> int:
    async with AsyncSession(engine) as s:
        return await s.query(Team).count()


async def test_composite_primary_keys(engine: ormkit.Engine, sql_log: SqlLog) -> None:
    async with AsyncSession(engine) as s:
        s.add_all(
            [Pair(region="eu", number=1, label="one"), Pair(region="eu", number=2, label="b")]
        )
        await s.commit()
    async with AsyncSession(engine, autoflush=False) as s:
        sql_log.clear()
        merged = await s.merge(Pair(region="eu", number=1, label="uno"))
        assert merged is await s.get(Pair, ("eu", 1))
        mine = await s.get(Pair, ("eu", 2))
        assert await s.merge(Pair(region="eu", number=2, label="dos")) is mine
        trusted = await s.merge(Pair(region="us", number=1, label="x"), load=False)
        created = await s.merge(Pair(region="us", number=2, label="new"))
        assert s.new == [created] and trusted not in s.new and s.dirty == [merged, mine]
        await s.commit()
        assert sorted(w.split()[0] for w in sql_log.writes()) == ["INSERT", "UPDATE", "UPDATE"]
    async with AsyncSession(engine) as s:
        rows = await s.query(Pair).order_by("region", "number").all()
        assert [(p.region, p.number, p.label) for p in rows] == [
            ("eu", 1, "uno"),
            ("eu", 2, "dos"),
            ("us", 2, "new"),
        ]


async def test_soft_deleted_rows_are_found_and_take_the_values(engine: ormkit.Engine) -> None:
    async with AsyncSession(engine) as s:
        memo = await s.insert(Memo(title="old"))
        await s.soft_delete(memo)
        memo_id = memo.id
    async with AsyncSession(engine) as s:
        assert await s.get(Memo, memo_id) is None  # hidden from get
        merged = await s.merge(Memo(id=memo_id, title="back"))  # deleted_at None: restored
        assert merged in s and s.new == []
        await s.commit()
    async with AsyncSession(engine) as s:
        restored = await s.get(Memo, memo_id)
        assert restored is not None and restored.title == "back"


async def test_merge_in_a_begin_block(engine: ormkit.Engine) -> None:
    team_id = await _team(engine)
    async with AsyncSession(engine) as s:
        async with s.begin() as tx:
            merged = await tx.merge(Team(id=team_id, name="Block", motto=None, rank=1))
            assert merged in s
        assert not s.in_transaction
    assert (await _stored(engine, team_id))[:3] == ("Block", None, 1)


async def test_a_rollback_undoes_the_merge(engine: ormkit.Engine) -> None:
    team_id = await _team(engine)
    async with AsyncSession(engine) as s:
        mine = await s.get(Team, team_id)
        assert mine is not None
        await s.merge(Team(id=team_id, name="Gone", motto=None, rank=9))
        created = await s.merge(Team(id=50, name="New"))
        await s.rollback()
        assert (mine.name, mine.motto, mine.rank) == ("Reds", "go", 3)
        assert s.new == [] and created not in s
        await s.commit()
    assert (await _stored(engine, team_id))[:3] == ("Reds", "go", 3)


# -- what is copied -----------------------------------------------------------------------


async def test_only_the_columns_present_on_obj_are_copied(engine: ormkit.Engine) -> None:
    team_id = await _team(engine)
    async with AsyncSession(engine) as s:
        partial = Team(id=team_id, name="Partial")
        del partial.motto  # not loaded/set: left alone
        del partial.rank
        merged = await s.merge(partial)
        assert (merged.name, merged.motto, merged.rank) == ("Partial", "go", 3)
        await s.commit()
    assert (await _stored(engine, team_id))[:3] == ("Partial", "go", 3)


async def test_a_partial_object_for_a_new_row_gets_the_defaults(engine: ormkit.Engine) -> None:
    async with AsyncSession(engine) as s:
        partial = Team(id=88, name="New", motto="m", rank=5)
        del partial.rank
        merged = await s.merge(partial)
        assert (merged.name, merged.motto, merged.rank) == ("New", "m", 0)  # its default
        await s.commit()
    assert (await _stored(engine, 88))[:3] == ("New", "m", 0)


async def test_load_false_leaves_absent_columns_unloaded(engine: ormkit.Engine) -> None:
    team_id = await _team(engine)
    async with AsyncSession(engine) as s:
        partial = Team(id=team_id, name="Reds")
        del partial.rank
        merged = await s.merge(partial, load=False)
        assert "rank" not in merged.__dict__ and merged.motto is None and s.dirty == []


async def test_hand_built_objects_carry_every_column(engine: ormkit.Engine) -> None:
    team_id = await _team(engine)
    async with AsyncSession(engine) as s:
        # the constructor sets motto None and rank to its default: both are copied
        merged = await s.merge(Team(id=team_id, name="Full"))
        assert (merged.name, merged.motto, merged.rank) == ("Full", None, 0)
        await s.commit()
    assert (await _stored(engine, team_id))[:3] == ("Full", None, 0)


# -- relationships ------------------------------------------------------------------------


async def test_many_to_one_targets_are_merged_too(engine: ormkit.Engine) -> None:
    team_id = await _team(engine, "ann")
    async with AsyncSession(engine) as s:
        player = await s.query(Player).options(selectinload("team")).first()
        assert player is not None and player.team is not None
    player.name = "Ann"
    player.team.name = "Renamed"
    async with AsyncSession(engine) as s:
        merged = await s.merge(player)
        assert merged is not player and merged.team is not player.team
        assert merged.team is await s.get(Team, team_id)
        assert (merged.name, merged.team.name) == ("Ann", "Renamed")
        await s.commit()
    assert await _stored(engine, team_id) == ("Renamed", "go", 3, None, [("Ann", team_id)])


async def test_a_new_many_to_one_target_is_inserted_and_referenced(engine: ormkit.Engine) -> None:
    await _team(engine, "ann")
    async with AsyncSession(engine) as s:
        player = await s.query(Player).first()
        assert player is not None
    detached = Player(id=player.id, name="Ann", team=Team(name="Fresh"))
    async with AsyncSession(engine) as s:
        merged = await s.merge(detached)
        assert merged.team is not None and merged.team in s.new
        await s.commit()
        assert merged.team_id == merged.team.id and merged.team.id is not None
    assert detached.team is not None and detached.team.id is None  # obj's own: untouched
    assert (await _stored(engine, merged.team.id))[4] == [("Ann", merged.team.id)]


async def test_a_loaded_collection_is_replaced_by_the_merged_children(
    engine: ormkit.Engine,
) -> None:
    team_id = await _team(engine, "ann", "bob")
    detached = await _detached_team(engine, team_id)
    ann, bob = detached.players
    ann.name = "Ann"
    detached.players = [ann, Player(name="cid")]  # bob leaves, cid joins
    async with AsyncSession(engine) as s:
        merged = await s.merge(detached)
        assert [p.name for p in merged.players] == ["Ann", "cid"]
        assert merged.players[0] is await s.get(Player, ann.id)
        assert all(p is not q for p, q in zip(merged.players, detached.players, strict=True))
        await s.commit()
        cid = merged.players[1]
        assert cid.team_id == team_id and cid.id is not None
    stored = await _stored(engine, team_id)
    assert stored[4] == [("Ann", team_id), ("cid", team_id)]
    async with AsyncSession(engine) as s:
        left = await s.get(Player, bob.id)
        assert left is not None and left.team_id is None  # removed from the collection
    assert bob.team_id == team_id and [p.name for p in detached.players] == ["Ann", "cid"]


async def test_the_target_collection_is_loaded_before_it_is_replaced(
    engine: ormkit.Engine, sql_log: SqlLog
) -> None:
    team_id = await _team(engine, "ann", "bob", "cy")
    detached = await _detached_team(engine, team_id)
    for player in detached.players:
        player.name = player.name.upper()
    async with AsyncSession(engine) as s:
        sql_log.clear()
        merged = await s.merge(detached)
        # the team, the three players in one IN list, the team's collection
        assert [sql.split()[0] for sql in sql_log.sql] == ["SELECT"] * 3
        assert [p.name for p in merged.players] == ["ANN", "BOB", "CY"]
        await s.commit()
    assert [name for name, _ in (await _stored(engine, team_id))[4]] == ["ANN", "BOB", "CY"]


async def test_many_to_many_collections_are_merged(engine: ormkit.Engine) -> None:
    team_id = await _team(engine)
    async with AsyncSession(engine) as s:
        team = await s.get(Team, team_id, options=[selectinload("sponsors")])
        assert team is not None
        team.sponsors = [Sponsor(name="a"), Sponsor(name="b")]
        await s.commit()
    async with AsyncSession(engine) as s:
        detached = await s.get(Team, team_id, options=[selectinload("sponsors")])
        assert detached is not None
    a, _b = detached.sponsors
    a.name = "a2"
    detached.sponsors = [a, Sponsor(name="c")]
    async with AsyncSession(engine) as s:
        merged = await s.merge(detached)
        assert [x.name for x in merged.sponsors] == ["a2", "c"]
        await s.commit()
    async with AsyncSession(engine) as s:
        stored = await s.get(Team, team_id, options=[selectinload("sponsors")])
        assert stored is not None and [x.name for x in stored.sponsors] == ["a2", "c"]
        assert await s.query(Sponsor).count() == 3  # b is unlinked, not deleted
        assert await s.query(TeamSponsor).count() == 2


async def test_cycles_through_back_references_are_merged_once(engine: ormkit.Engine) -> None:
    team_id = await _team(engine, "ann")
    async with AsyncSession(engine) as s:
        team = await s.get(Team, team_id, options=[selectinload("players")])
        assert team is not None
        await s.load_related(team.players, "team")
    ann = team.players[0]
    assert ann.team is team  # team → players → ann → team
    ann.name = "Ann"
    async with AsyncSession(engine) as s:
        merged = await s.merge(ann)
        assert merged.team is not None and merged.team.players == [merged]
        assert merged.team.players[0] is merged
        await s.commit()
    async with AsyncSession(engine) as s:
        merged_team = await s.merge(team)
        assert merged_team.players[0].team is merged_team
    assert (await _stored(engine, team_id))[4] == [("Ann", team_id)]


async def test_two_copies_of_one_row_give_one_instance(engine: ormkit.Engine) -> None:
    team_id = await _team(engine, "ann")
    detached = await _detached_team(engine, team_id)
    first = detached.players[0]
    copy = Player(id=first.id, team_id=team_id, name="Ann")
    detached.players = [first, copy]
    async with AsyncSession(engine) as s:
        merged = await s.merge(detached)
        assert len(merged.players) == 1 and merged.players[0].name == "Ann"
        await s.commit()
    assert (await _stored(engine, team_id))[4] == [("Ann", team_id)]


async def test_two_copies_of_a_new_row_give_one_pending_instance(engine: ormkit.Engine) -> None:
    team_id = await _team(engine)
    detached = await _detached_team(engine, team_id)
    detached.players = [Player(id=500, name="x"), Player(id=500, name="y")]
    async with AsyncSession(engine) as s:
        merged = await s.merge(detached)
        (player,) = merged.players
        assert player.name == "y" and s.new == [player]  # the later copy's values
        await s.commit()
    assert (await _stored(engine, team_id))[4] == [("y", team_id)]


async def test_an_empty_collection_is_not_copied(engine: ormkit.Engine) -> None:
    team_id = await _team(engine, "ann")
    async with AsyncSession(engine) as s:
        hand_built = Team(id=team_id, name="Reds", motto="go", rank=3)
        assert hand_built.players == []  # the constructor's: says nothing of the rows
        merged = await s.merge(hand_built)
        assert "players" not in merged.__dict__
        await s.commit()
    assert (await _stored(engine, team_id))[4] == [("ann", team_id)]


async def test_relationships_without_merge_cascade_are_left_alone(engine: ormkit.Engine) -> None:
    team_id = await _team(engine)
    async with AsyncSession(engine) as s:
        await s.insert(Note(team_id=team_id, text="kept"))
    async with AsyncSession(engine) as s:
        detached = await s.get(Team, team_id, options=[selectinload("notes")])
        assert detached is not None
    detached.notes[0].text = "changed"
    detached.name = "Notes"
    async with AsyncSession(engine) as s:
        merged = await s.merge(detached)
        assert merged.name == "Notes" and "notes" not in merged.__dict__
        await s.commit()
        note = await s.query(Note).one()
        assert note.text == "kept" and note.team_id == team_id


async def test_load_false_trusts_the_object(engine: ormkit.Engine, sql_log: SqlLog) -> None:
    team_id = await _team(engine, "ann")
    detached = await _detached_team(engine, team_id)
    async with AsyncSession(engine) as s:
        sql_log.clear()
        merged = await s.merge(detached, load=False)
        assert sql_log.sql == []  # no SELECT
        assert merged is not detached and merged in s and detached not in s
        assert merged is await s.get(Team, team_id)  # in the identity map
        assert merged.players[0] in s and merged.players[0] is not detached.players[0]
        assert s.dirty == [] and s.new == []
        await s.commit()
        assert sql_log.writes() == []  # its values are the loaded state
        merged.players[0].name = "Ann"
        await s.commit()
        (update,) = sql_log.writes()
        assert update.startswith("UPDATE") and "name" in _set_clause(update)
    assert (await _stored(engine, team_id))[4] == [("Ann", team_id)]


async def test_load_false_onto_an_instance_of_the_session(
    engine: ormkit.Engine, sql_log: SqlLog
) -> None:
    team_id = await _team(engine, "ann")
    detached = await _detached_team(engine, team_id)
    detached.name = "Stored"
    async with AsyncSession(engine) as s:
        mine = await s.get(Team, team_id)  # players not loaded
        assert mine is not None
        merged = await s.merge(detached, load=False)
        assert merged is mine and mine.name == "Stored"
        assert [p.name for p in mine.players] == ["ann"] and mine.players[0] in s
        assert s.dirty == []  # columns and collection taken as loaded
        sql_log.clear()
        await s.commit()
        assert sql_log.writes() == []


async def test_load_false_refusals(engine: ormkit.Engine) -> None:
    team_id = await _team(engine)
    async with AsyncSession(engine) as s:
        with pytest.raises(InterfaceError, match=r"no value for its primary key id"):
            await s.merge(Team(name="keyless"), load=False)
        pending = Team(name="Pending")
        s.add(pending)
        with pytest.raises(InterfaceError, match=r"is pending"):
            await s.merge(pending, load=False)
        mine = await s.get(Team, team_id)
        assert mine is not None
        mine.name = "Changed"
        with pytest.raises(InterfaceError, match=r"unflushed changes"):
            await s.merge(mine, load=False)
        s.expunge(pending)
        s.add(Team(id=40, name="Forty"))
        with pytest.raises(InterfaceError, match=r"pending insertion"):
            await s.merge(Team(id=40, name="Other"), load=False)
        assert s.new[0].name == "Forty"


# -- errors -------------------------------------------------------------------------------


async def test_not_a_model_instance(session: AsyncSession) -> None:
    with pytest.raises(TypeError, match=r"merge\(\) needs a model instance, got 'team'"):
        await session.merge("team")
    with pytest.raises(TypeError, match=r"needs a model instance, got <class"):
        await session.merge(Team)
    with pytest.raises(TypeError, match=r"load must be True or False, got 'no'"):
        await session.merge(Team(name="x"), load="no")  # type: ignore[arg-type]
    bad = Player(id=1, name="x")
    bad.__dict__["team"] = "not a team"
    with pytest.raises(TypeError, match=r"Player\.team holds 'not a team', not a Team"):
        await session.merge(bad)
    team = Team(id=1, name="x")
    team.__dict__["players"] = Player(name="p")  # past any check an assignment makes
    with pytest.raises(TypeError, match=r"Team\.players is a collection"):
        await session.merge(team)
    assert session.new == [] and session.dirty == []


async def test_a_bad_primary_key_value_fails_before_any_query(
    session: AsyncSession, sql_log: SqlLog
) -> None:
    sql_log.clear()
    with pytest.raises(ValidationError, match=r"Team\.id"):
        await session.merge(Team(id="seven", name="x"))
    assert sql_log.sql == [] and session.new == []


async def test_an_expression_as_primary_key_is_refused(session: AsyncSession) -> None:
    with pytest.raises(TypeError, match=r"Team\.id is an SQL expression"):
        await session.merge(Team(id=Team.id + 1, name="x"))
    assert session.new == []


async def test_objects_marked_deleted_cannot_be_merged(engine: ormkit.Engine) -> None:
    team_id = await _team(engine)
    async with AsyncSession(engine) as s:
        mine = await s.get(Team, team_id)
        assert mine is not None
        await s.delete(mine)
        with pytest.raises(InterfaceError, match=r"is marked for deletion in this session"):
            await s.merge(mine)
        with pytest.raises(InterfaceError, match=r"row of <Team id=\d+> is marked for deletion"):
            await s.merge(Team(id=team_id, name="copy"))
        assert mine.name == "Reds" and s.new == []
        await s.rollback()
    assert (await _stored(engine, team_id))[0] == "Reds"


async def test_an_error_in_the_graph_changes_nothing(engine: ormkit.Engine) -> None:
    team_id = await _team(engine, "ann")
    detached = await _detached_team(engine, team_id)
    detached.name = "Changed"
    detached.__dict__["players"] = [*detached.players, "not a player"]  # past any check
    async with AsyncSession(engine) as s:
        mine = await s.get(Team, team_id)
        assert mine is not None
        with pytest.raises(TypeError, match=r"Team\.players holds 'not a player'"):
            await s.merge(detached)
        assert mine.name == "Reds" and s.dirty == [] and s.new == []


async def test_invalid_values_fail_at_the_flush(engine: ormkit.Engine, sql_log: SqlLog) -> None:
    team_id = await _team(engine)
    async with AsyncSession(engine) as s:
        merged = await s.merge(Team(id=team_id, name="x" * 41, motto="go", rank=3))
        assert merged.name == "x" * 41
        sql_log.clear()
        with pytest.raises(ValidationError, match=r"Team\.name"):
            await s.commit()
        assert sql_log.writes() == []
    assert (await _stored(engine, team_id))[0] == "Reds"


# -- versions -----------------------------------------------------------------------------


async def _ledger_at_version_2(engine: ormkit.Engine) -> Ledger:
    """A ledger as loaded at version 1, whose row another writer moved to version 2."""
    async with AsyncSession(engine) as s:
        ledger = await s.insert(Ledger(owner="ann", balance=10))
    async with AsyncSession(engine) as other:
        theirs = await other.get_or_raise(Ledger, ledger.id)
        await other.update(theirs, balance=20)
        assert theirs.version == 2
    return ledger


async def test_a_stale_version_is_refused(engine: ormkit.Engine) -> None:
    ledger = await _ledger_at_version_2(engine)
    ledger.balance = 99
    async with AsyncSession(engine) as s:
        with pytest.raises(StaleDataError, match=r"has version 1 but its row has version 2"):
            await s.merge(ledger)
        assert s.dirty == [] and s.new == []
        ledger.version = None  # type: ignore[assignment]
        merged = await s.merge(ledger)  # onto the latest
        await s.commit()
        assert (merged.balance, merged.version) == (99, 3)
    assert ledger.version is None


async def test_a_stale_instance_of_the_session_fails_at_the_flush(engine: ormkit.Engine) -> None:
    async with AsyncSession(engine) as s:
        ledger = await s.insert(Ledger(owner="ann", balance=10))
        async with AsyncSession(engine) as other:
            theirs = await other.get_or_raise(Ledger, ledger.id)
            await other.update(theirs, balance=20)
        merged = await s.merge(Ledger(id=ledger.id, owner="ann", balance=30, version=1))
        assert merged is ledger and ledger.balance == 30
        with pytest.raises(StaleDataError):
            await s.commit()
    async with AsyncSession(engine) as s:
        stored = await s.get_or_raise(Ledger, ledger.id)
        assert (stored.balance, stored.version) == (20, 2)
