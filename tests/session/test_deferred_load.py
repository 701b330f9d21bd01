"""Deferred registration of a large load (``UnitOfWork.load_fresh`` with ``defer``): a
query of several rows into an empty identity map only hydrates its objects, and the
identity map and snapshots are filled from the rows when something first needs them.
Whatever the user does in between, the session behaves as if they had been filled at
once: changes are flushed, rolled back and seen as dirty; identity holds."""

from __future__ import annotations

import gc
from typing import Any

import pytest
from collector import GENERATIONAL, collections_during
from session_models import Item, Setting
from statement_log import SqlLog
from tracking_helpers import Row, SlotState, assert_registered, stored_items

import ormkit
from ormkit import AsyncSession


async def _stored(engine: ormkit.Engine) -> dict[int, tuple[Any, ...]]:
    async with AsyncSession(engine) as s:
        return {o.id: (o.a, o.b, o.f) for o in await s.query(Item).all()}


async def test_a_read_only_session_registers_nothing(engine: ormkit.Engine) -> None:
    ids = await stored_items(engine, 40)
    async with AsyncSession(engine) as s:
        objs = await s.query(Item).order_by("id").all()
        assert [o.id for o in objs] == ids and [o.b for o in objs[:2]] == ["b0", "b1"]
        uow = s._uow
        assert uow._deferred and not uow._states and not uow._identity
        # the first look at the maps registers every object, as an eager load would
        assert len(uow.identity) == len(uow.states) == 40 and not uow._deferred
        assert_registered(uow, objs)


async def test_changes_made_before_registering_are_flushed(
    engine: ormkit.Engine, sql_log: SqlLog
) -> None:
    ids = await stored_items(engine, 10)
    async with AsyncSession(engine) as s:
        objs = await s.query(Item).order_by("id").all()
        objs[2].b = "changed"
        objs[5].f = None
        objs[7].a = objs[7].a  # the same value: not a change
        sql_log.clear()
        assert s.dirty == [objs[2], objs[5]]  # snapshots come from the rows, not the objects
        await s.commit()
        writes = sql_log.writes()
        assert len(writes) == 2 and all(w.startswith("UPDATE") for w in writes)
    stored = await _stored(engine)
    assert stored[ids[2]][1] == "changed" and stored[ids[5]][2] is None
    assert stored[ids[7]] == (7, "b7", 7) and stored[ids[3]] == (3, "b3", 3)


async def test_autoflush_before_the_next_query_writes_the_change(engine: ormkit.Engine) -> None:
    ids = await stored_items(engine, 6)
    async with AsyncSession(engine) as s:
        objs = await s.query(Item).order_by("id").all()
        objs[1].b = "seen by the next query"
        found = await s.query(Item).filter(b="seen by the next query").all()
        assert found == [objs[1]]  # flushed first, and the same object comes back
        await s.commit()
    assert (await _stored(engine))[ids[1]][1] == "seen by the next query"


async def test_rollback_puts_back_the_loaded_values(engine: ormkit.Engine) -> None:
    await stored_items(engine, 5)
    async with AsyncSession(engine) as s:
        objs = await s.query(Item).order_by("id").all()
        objs[0].b = "discarded"
        objs[4].a = 99
        await s.rollback()
        assert (objs[0].b, objs[4].a) == ("b0", 4)
        assert s.dirty == []
        with pytest.raises(RuntimeError):
            async with s.begin():
                objs = await s.query(Item).order_by("id").all()
                objs[3].b = "inside a failed transaction"
                await s.flush()
                raise RuntimeError("boom")
        assert objs[3].b == "b3"
    assert (await _stored(engine))[objs[3].id][1] == "b3"


async def test_identity_holds_across_a_deferred_load(engine: ormkit.Engine) -> None:
    ids = await stored_items(engine, 8)
    async with AsyncSession(engine, autoflush=False) as s:
        objs = await s.query(Item).order_by("id").all()
        objs[6].b = "local"
        assert await s.get(Item, ids[3]) is objs[3]
        again = await s.query(Item).order_by("-id").all()
        assert [id(o) for o in again] == [id(o) for o in reversed(objs)]
        assert objs[6].b == "local"  # a reload never overwrites an unflushed change
        some = await s.query(Item).filter(id__in=ids[2:4]).all()
        assert some == objs[2:4]


async def test_delete_and_expunge_of_deferred_objects(engine: ormkit.Engine) -> None:
    ids = await stored_items(engine, 4)
    async with AsyncSession(engine) as s:
        objs = await s.query(Item).order_by("id").all()
        s.expunge(objs[1])
        objs[1].b = "not tracked any more"
        await s.delete(objs[0])
        await s.commit()
        assert objs[0] not in s and objs[1] not in s and objs[2] in s
    stored = await _stored(engine)
    assert sorted(stored) == ids[1:] and stored[ids[1]][1] == "b1"


async def test_a_second_load_in_the_session_registers_the_first(engine: ormkit.Engine) -> None:
    await stored_items(engine, 5)
    async with AsyncSession(engine, autoflush=False) as s:
        first = await s.query(Item).order_by("id").limit(3).all()
        first[0].b = "kept"
        second = await s.query(Item).order_by("id").all()
        assert second[:3] == first and len(s._uow.states) == 5
        assert s.dirty == [first[0]]


async def test_text_keys_are_deferred_and_tracked(engine: ormkit.Engine) -> None:
    async with AsyncSession(engine) as s:
        await s.insert_all([Setting(key=f"k{i}", value=f"v{i}") for i in range(3)])
    async with AsyncSession(engine) as s:
        settings = await s.query(Setting).order_by("key").all()
        assert s._uow._deferred
        settings[1].hits = 5
        assert await s.get(Setting, "k1") is settings[1]
        await s.commit()
    async with AsyncSession(engine) as s:
        assert (await s.get(Setting, "k1")).hits == 5  # type: ignore[union-attr]


async def test_closing_drops_deferred_objects(engine: ormkit.Engine) -> None:
    await stored_items(engine, 3)
    s = AsyncSession(engine)
    objs = await s.query(Item).all()
    await s.close()
    assert not s._uow._deferred and objs[0] not in s
    objs[0].b = "after close"
    await s.commit()  # nothing tracked: nothing written
    assert (await _stored(engine))[objs[0].id][1] == "b0"


# -- the two QueryResult methods behind it -------------------------------------------


@pytest.mark.parametrize(
    ("sql", "key", "distinct"),
    [
        ("SELECT 3 AS id UNION ALL SELECT 1 UNION ALL SELECT 2", ("id",), True),
        ("SELECT 1 AS id UNION ALL SELECT 2 UNION ALL SELECT 1", ("id",), False),
        ("SELECT 1 AS id UNION ALL SELECT NULL", ("id",), False),
        ("SELECT 'a' AS id UNION ALL SELECT 'b'", ("id",), True),
        ("SELECT 'a' AS id UNION ALL SELECT 'a'", ("id",), False),
        ("SELECT 1 AS a, 'x' AS b UNION ALL SELECT 1, 'y'", ("a", "b"), True),
        ("SELECT 1 AS a, 'x' AS b UNION ALL SELECT 1, 'x'", ("a", "b"), False),
        ("SELECT 1 AS a, 'x' AS b UNION ALL SELECT 1, NULL", ("a", "b"), False),
        ("SELECT 1.5 AS id UNION ALL SELECT 2.5", ("id",), False),  # floats: not judged
        ("SELECT 1 AS other", ("id",), False),  # no such column
    ],
)
async def test_distinct_keys(
    engine: ormkit.Engine, sql: str, key: tuple[str, ...], distinct: bool
) -> None:
    assert (await engine.execute(sql)).distinct_keys(key) is distinct


async def test_distinct_keys_refuses_a_converted_key(engine: ormkit.Engine) -> None:
    result = await engine.execute("SELECT 1 AS id UNION ALL SELECT 2")
    assert result.distinct_keys(["id"], [None]) is True
    assert result.distinct_keys(["id"], [str]) is False  # a callable may map two to one
    with pytest.raises(ValueError, match="at least one"):
        result.distinct_keys([])
    with pytest.raises(TypeError):
        result.distinct_keys([1])


async def test_track_models_uses_the_rows_not_the_objects(engine: ormkit.Engine) -> None:
    result = await engine.execute(
        "SELECT 1 AS id, 'a' AS name UNION ALL SELECT 2, 'b' UNION ALL SELECT 3, 'c'"
    )
    objs = result.to_models(Row)
    objs[0].name = "changed"
    objs[1].id = 20  # even the key: the row's is the one the database has
    earlier = Row()
    identity: dict[Any, Any] = {(Row, 3): earlier}
    states: dict[int, Any] = {}
    left = result.track_models(objs, Row, ("id",), (identity, states, SlotState))
    assert left == [2]  # 3 was mapped already
    assert identity == {(Row, 1): objs[0], (Row, 2): objs[1], (Row, 3): earlier}
    assert states[id(objs[0])].snapshot == {"id": 1, "name": "a"}
    assert states[id(objs[1])].key == (Row, 2) and states[id(objs[1])].persistent is True
    assert id(objs[2]) not in states


async def test_track_models_failure_registers_nothing(engine: ormkit.Engine) -> None:
    result = await engine.execute("SELECT 1 AS id, 'a' AS name UNION ALL SELECT 2, 'b'")
    objs = result.to_models(Row)
    identity: dict[Any, Any] = {}
    states: dict[int, Any] = {}
    session = (identity, states, SlotState)
    with pytest.raises(ValueError, match="1 objects for 2 rows"):
        result.track_models(objs[:1], Row, ("id",), session)

    def refuse_b(value: Any) -> Any:
        if value == "b":
            raise ValueError("refused")
        return value

    with pytest.raises(ormkit.DataError, match="refused"):
        result.track_models(objs, Row, ("id",), session, [None, refuse_b])
    assert identity == {} and states == {}


async def test_select_statements_defer_too(engine: ormkit.Engine) -> None:
    ids = await stored_items(engine, 5)
    async with AsyncSession(engine) as s:
        objs = (await s.execute(ormkit.select(Item).order_by(Item.id))).scalars().all()
        assert [o.id for o in objs] == ids and s._uow._deferred
        objs[4].b = "through execute"
        assert s.dirty == [objs[4]]
        await s.commit()
    assert (await _stored(engine))[ids[4]][1] == "through execute"


async def test_a_failed_registration_is_kept_for_the_next_look(engine: ormkit.Engine) -> None:
    await stored_items(engine, 3)
    async with AsyncSession(engine) as s:
        objs = await s.query(Item).order_by("id").all()
        uow = s._uow
        (entry,) = uow._deferred
        made, result = entry.objs, entry.result
        assert made == objs and made is not objs  # a list of its own
        failing = list(entry.converters or [None] * len(result.columns))

        def refuse(value: Any) -> Any:
            raise MemoryError("no room")

        failing[-1] = refuse
        uow._deferred = [entry._replace(converters=tuple(failing))]
        with pytest.raises(MemoryError):
            s.dirty  # noqa: B018
        assert not uow._states and len(uow._deferred) == 1  # nothing lost, nothing half-done
        uow._deferred = [entry]
        objs[0].b = "after the retry"
        assert s.dirty == [objs[0]]


async def test_the_returned_list_is_the_callers_to_change(engine: ormkit.Engine) -> None:
    ids = await stored_items(engine, 6)
    async with AsyncSession(engine) as s:
        objs = await s.query(Item).order_by("id").all()
        objs.reverse()  # row 0 is now last: registering must not pair objects and rows by it
        objs[0].b = "was the last row"
        kept = objs[:2]
        objs.clear()
        assert s.dirty == [kept[0]]
        assert await s.get(Item, ids[-1]) is kept[0]
        await s.commit()
    stored = await _stored(engine)
    assert stored[ids[-1]][1] == "was the last row" and stored[ids[0]][1] == "b0"


async def test_a_failed_hydration_defers_nothing(engine: ormkit.Engine) -> None:
    await stored_items(engine, 4)
    async with AsyncSession(engine) as s:
        template = s.query(Item).order_by("id")
        result = await engine.execute(f"SELECT id, a, b, f FROM {Item.__tablename__}")

        def refuse(value: Any) -> Any:
            raise ValueError("refused")

        uow = s._uow
        with pytest.raises(ormkit.DataError, match="refused"):
            uow.load_fresh(Item, result, (None, None, refuse, None), defer=True)
        assert not uow._deferred and not uow._states  # no entry left without its objects
        assert [o.id for o in await template.all()] == [o.id for o in uow.identity.values()]


@GENERATIONAL
async def test_a_large_read_and_the_session_exit_set_off_no_collection(
    engine: ormkit.Engine,
) -> None:
    """Hydration pauses the collector, so 1,000 fresh objects leave its young count
    above the threshold: the first container allocated after them sets off a collection
    that walks them all. Neither the deferred load nor the session's exit allocates one,
    so a result dropped at once is freed by reference counting alone."""
    await stored_items(engine, 1000)

    async def read() -> list[Item]:
        async with AsyncSession(engine) as s:
            objs: list[Item] = await s.query(Item).all()
        assert len(objs) == 1000
        return objs

    objs, starts = await collections_during(read)
    assert len(objs) == 1000 and not starts
    # what the session would have done is still done when it is needed
    async with AsyncSession(engine) as s:
        objs = await s.query(Item).all()
        objs[0].b = "seen"
        assert s.dirty == [objs[0]] and gc.is_tracked(objs[0])
