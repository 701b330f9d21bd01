"""Deferred registration of a bulk insert (``UnitOfWork._take_plain``): ``insert_all``
of several plain objects into a session that tracks nothing, outside a transaction,
sets the generated keys at once and registers the objects (identity map, states,
snapshots as written) only when something first reads the session's maps. Whatever
the user does in between, the session behaves as if they had been registered at once.
"""

from __future__ import annotations

import pytest
from session_models import Item
from statement_log import SqlLog
from tracking_helpers import Row, SlotState, assert_registered, items

import ormkit
from ormkit import AsyncSession
from ormkit._ormkit import set_returned, track_objects, written_snapshots
from ormkit.orm import unit_of_work
from ormkit.orm.unit_of_work import _DeferredInsert


async def _stored(engine: ormkit.Engine) -> dict[int, tuple[object, ...]]:
    async with AsyncSession(engine) as s:
        return {o.id: (o.a, o.b, o.f) for o in await s.query(Item).all()}


async def test_a_bulk_insert_registers_when_the_maps_are_read(engine: ormkit.Engine) -> None:
    async with AsyncSession(engine) as s:
        objs = await s.insert_all(items(30))
        ids = [o.id for o in objs]
        assert None not in ids and len(set(ids)) == 30  # keys are set at once
        uow = s._uow
        assert [type(e) for e in uow._deferred] == [_DeferredInsert]
        assert not uow._states and not uow._identity
        assert len(uow.identity) == len(uow.states) == 30 and not uow._deferred
        assert_registered(uow, objs)
    assert sorted(await _stored(engine)) == sorted(ids)


async def test_changes_made_before_registering_are_flushed(
    engine: ormkit.Engine, sql_log: SqlLog
) -> None:
    async with AsyncSession(engine) as s:
        objs = await s.insert_all(items(8))
        objs[2].b = "changed after the insert"
        objs[5].f = None
        objs[6].a = objs[6].a  # the same value: not a change
        sql_log.clear()
        assert s.dirty == [objs[2], objs[5]]  # snapshots as written, not as now
        await s.commit()
        writes = sql_log.writes()
        assert len(writes) == 2 and all(w.startswith("UPDATE") for w in writes)
    stored = await _stored(engine)
    assert stored[objs[2].id][1] == "changed after the insert"
    assert stored[objs[5].id][2] is None and stored[objs[6].id] == (6, "b6", 6)


async def test_get_finds_the_inserted_object_without_a_query(
    engine: ormkit.Engine, sql_log: SqlLog
) -> None:
    async with AsyncSession(engine) as s:
        objs = await s.insert_all(items(4))
        sql_log.clear()
        assert await s.get(Item, objs[3].id) is objs[3]
        assert sql_log.sql == []
        again = await s.query(Item).order_by("id").all()
        assert again == objs and all(a is b for a, b in zip(again, objs, strict=True))


async def test_delete_expunge_and_membership(engine: ormkit.Engine) -> None:
    async with AsyncSession(engine) as s:
        objs = await s.insert_all(items(5))
        assert objs[0] in s
        s.expunge(objs[1])
        assert objs[1] not in s
        await s.delete(objs[2])
        await s.commit()
    stored = await _stored(engine)
    assert objs[2].id not in stored and objs[1].id in stored and len(stored) == 4


async def test_rollback_after_a_deferred_insert(engine: ormkit.Engine) -> None:
    # the insert is one statement, committed by itself; the later change is undone
    async with AsyncSession(engine) as s:
        objs = await s.insert_all(items(3))
        objs[0].b = "discarded"
        await s.rollback()
        assert objs[0].b == "b0" and s.dirty == []
    assert (await _stored(engine))[objs[0].id] == (0, "b0", 0)


async def test_a_session_that_tracks_objects_registers_at_once(engine: ormkit.Engine) -> None:
    async with AsyncSession(engine) as s:
        first = await s.insert_all(items(3))
        assert s._uow._deferred  # nothing tracked yet: deferred
        second = await s.insert_all(items(3))
        # the second insert read the maps (the first one's objects got registered), and
        # registered its own objects at once
        assert not s._uow._deferred and len(s._uow._states) == 6
        assert all(o in s for o in first + second)


async def test_inside_a_transaction_inserts_register_at_once(engine: ormkit.Engine) -> None:
    async with AsyncSession(engine) as s:
        async with s.begin():
            objs = await s.insert_all(items(4))
            assert not s._uow._deferred and len(s._uow._states) == 4
            await s.rollback()
        assert all(o not in s for o in objs)
    assert await _stored(engine) == {}


@pytest.mark.parametrize("defer", [True, False])
async def test_an_object_given_twice(engine: ormkit.Engine, defer: bool) -> None:
    # one row per object (the fast path declines such a list), tracked once
    saved = unit_of_work._DEFER_MIN_ROWS
    unit_of_work._DEFER_MIN_ROWS = 2 if defer else 1 << 60
    try:
        async with AsyncSession(engine) as s:
            a, b = items(2)
            await s.insert_all([a, b, a])
            assert a in s and b in s and len(s._uow.states) == 2
            assert a.id != b.id and await s.get(Item, a.id) is a
            assert await s.query(Item).count() == 2
    finally:
        unit_of_work._DEFER_MIN_ROWS = saved


async def test_one_object_registers_at_once(engine: ormkit.Engine) -> None:
    async with AsyncSession(engine) as s:
        (obj,) = await s.insert_all(items(1))
        assert not s._uow._deferred and s._uow._states[id(obj)].obj is obj


def test_track_objects_takes_keys_and_snapshots_as_given() -> None:
    objs = [Row() for _ in range(3)]
    snapshots = []
    for i, obj in enumerate(objs):
        obj.id, obj.name = i, f"n{i}"
        snapshots.append(dict(obj.__dict__))
        obj.name = f"changed {i}"  # after the snapshot: a change the flush must see
    objs[2].id = 99  # the key comes from the snapshot
    identity: dict[object, object] = {}
    states: dict[int, SlotState] = {}
    left = track_objects(objs, Row, ("id",), (identity, states, SlotState), snapshots)
    assert left == []
    assert identity == {(Row, 0): objs[0], (Row, 1): objs[1], (Row, 2): objs[2]}
    for obj, snapshot in zip(objs, snapshots, strict=True):
        assert states[id(obj)].snapshot is snapshot
    assert snapshots[0] == {"id": 0, "name": "n0"}


def test_track_objects_refuses_bad_snapshots() -> None:
    objs = [Row(), Row()]
    for i, obj in enumerate(objs):
        obj.id = i
    identity: dict[object, object] = {}
    states: dict[int, SlotState] = {}
    session = (identity, states, SlotState)
    with pytest.raises(ValueError, match="1 snapshots for 2 objects"):
        track_objects(objs, Row, ("id",), session, [{"id": 0}])
    with pytest.raises(TypeError, match="snapshot must be a dict"):
        track_objects(objs, Row, ("id",), session, [{"id": 0}, ("id", 1)])  # type: ignore[list-item]
    assert identity == {} and states == {}


def test_written_snapshots_are_made_from_the_parameters_and_what_came_back() -> None:
    # the model's column order: the key came back, the others were written
    layout = (("id", -1), ("name", 0), ("n", 1))
    snapshots = written_snapshots(layout, ["a", 1, "b", 2], 2, [10, 11], 1)
    assert snapshots == [{"id": 10, "name": "a", "n": 1}, {"id": 11, "name": "b", "n": 2}]
    assert [list(s) for s in snapshots] == [["id", "name", "n"]] * 2
    # two columns came back (a key and a server default): a tuple per row
    layout = (("id", -1), ("name", 0), ("status", -2))
    assert written_snapshots(layout, ["a"], 1, [(5, "fresh")], 2) == [
        {"id": 5, "name": "a", "status": "fresh"}
    ]
    # a given key was written and comes back first (rows are matched on it), then a
    # server default
    layout = (("id", 0), ("name", 1), ("status", -2))
    assert written_snapshots(layout, [9, "a"], 2, [(9, "fresh")], 2) == [
        {"id": 9, "name": "a", "status": "fresh"}
    ]
    # nothing came back (the keys were written)
    assert written_snapshots((("id", 0),), [7, 8], 1, [], 0) == [{"id": 7}, {"id": 8}]


def test_written_snapshots_refuse_what_does_not_fit() -> None:
    layout = (("id", -1), ("name", 0), ("n", 1))
    with pytest.raises(ValueError, match="not whole rows"):
        written_snapshots(layout, ["a", 1, "b"], 2, [10, 11], 1)
    with pytest.raises(ValueError, match="no returned values for row 1"):
        written_snapshots(layout, ["a", 1, "b", 2], 2, [10], 1)
    with pytest.raises(ValueError, match="beyond the row"):
        written_snapshots((("name", 3),), ["a"], 1, [], 0)
    two = (("id", -1), ("status", -2))
    with pytest.raises(TypeError, match="must be tuples"):
        written_snapshots(two, [], 0, [5], 2)
    with pytest.raises(ValueError, match="1 values for 2 columns"):
        written_snapshots(two, [], 0, [(5,)], 2)
    with pytest.raises(ValueError, match="returned place beyond the row"):
        written_snapshots(two, [], 0, [5], 1)


def test_set_returned_sets_each_row_on_its_object() -> None:
    objs = [Row(), Row()]
    set_returned(objs, ("id",), [1, 2])
    assert [o.id for o in objs] == [1, 2]
    set_returned(objs, ("id", "name"), [(3, "c"), (4, "d")])
    assert [(o.id, o.name) for o in objs] == [(3, "c"), (4, "d")]
    with pytest.raises(ValueError, match="1 returned rows for 2 objects"):
        set_returned(objs, ("id",), [9])
    with pytest.raises(TypeError, match="attribute name must be a str"):
        set_returned(objs, (1,), [9, 9])  # type: ignore[arg-type]
    assert [o.id for o in objs] == [3, 4]
