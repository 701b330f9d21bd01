"""The read path that makes and registers objects in one pass in Rust
(``QueryResult.to_tracked_models``, used by ``UnitOfWork.load``): the identity map and
change tracking behave as they do for objects registered in Python."""

from __future__ import annotations

import gc
from typing import Any

import pytest
from session_models import Item, Setting, User
from statement_log import SqlLog
from tracking_helpers import Row, SlotState, stored_items

import ormkit
from ormkit import AsyncSession
from ormkit._ormkit import changed_states, track_objects
from ormkit.orm import unit_of_work
from ormkit.orm.state import InstanceState


@pytest.fixture(autouse=True)
def _eager(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every load here registers at once (the path under test); the deferred path, which
    a first query of several rows takes by default, has test_deferred_load.py."""
    monkeypatch.setattr(unit_of_work, "_DEFER_MIN_ROWS", 1 << 60)


async def test_one_object_per_row_with_its_snapshot(engine: ormkit.Engine) -> None:
    ids = await stored_items(engine, 300)  # over the size that pauses the collector
    async with AsyncSession(engine) as s:
        first = await s.query(Item).order_by("id").all()
        assert [o.id for o in first] == ids
        second = await s.query(Item).order_by("-id").all()
        assert [id(o) for o in second] == [id(o) for o in reversed(first)]
        assert await s.get(Item, ids[7]) is first[7]
        assert await s.query(Item).filter(id=ids[3]).one() is first[3]
        uow = s._uow
        assert len(uow.identity) == len(uow.states) == 300
        for obj in first:
            state = uow.states[id(obj)]
            assert type(state) is InstanceState
            assert state.obj is obj and state.persistent
            assert state.key == (Item, obj.id)
            assert uow.identity[state.key] is obj
            assert state.snapshot == obj.__dict__ and state.snapshot is not obj.__dict__
            # keys hold a class and values only: left out of the cycle collector's walk
            assert not gc.is_tracked(state.key)
        assert s.dirty == []
        gc.collect()
        assert await s.get(Item, ids[7]) is first[7] and len(uow.identity) == 300


async def test_modified_attribute_flushed_alone(engine: ormkit.Engine, sql_log: SqlLog) -> None:
    ids = await stored_items(engine, 5)
    async with AsyncSession(engine) as s:
        objs = await s.query(Item).order_by("id").all()
        sql_log.clear()
        await s.commit()
        assert sql_log.writes() == []  # nothing changed: nothing written
        objs[2].b = "changed"
        objs[4].f = None
        assert s.dirty == [objs[2], objs[4]]
        await s.commit()
        writes = sql_log.writes()
        table = Item.__tablename__
        assert len(writes) == 2
        assert writes[0].startswith(f"UPDATE {table} SET b = ")
        assert writes[1].startswith(f"UPDATE {table} SET f = ")
        sql_log.clear()
        await s.commit()
        assert sql_log.writes() == []  # the flush took new snapshots
    async with AsyncSession(engine) as other:
        fresh = {o.id: o for o in await other.query(Item).all()}
        assert (fresh[ids[2]].b, fresh[ids[4]].f) == ("changed", None)
        assert fresh[ids[1]].b == "b1"


async def test_reload_keeps_objects_and_unflushed_changes(engine: ormkit.Engine) -> None:
    ids = await stored_items(engine, 3)
    async with AsyncSession(engine, autoflush=False) as s:
        objs = await s.query(Item).order_by("id").all()
        objs[0].b = "local"
        table = Item.__tablename__
        await engine.execute(f"UPDATE {table} SET a = a + 100")
        again = await s.query(Item).order_by("id").all()
        assert [id(o) for o in again] == [id(o) for o in objs]
        assert (objs[0].b, objs[0].a) == ("local", 0)  # a changed object is not overwritten
        assert (objs[1].a, objs[2].a) == (101, 102)  # clean ones follow the database
        assert s.dirty == [objs[0]]
        assert s._uow.states[id(objs[1])].snapshot == objs[1].__dict__
        assert await s.get(Item, ids[1]) is objs[1]


async def test_two_sessions_give_distinct_objects(engine: ormkit.Engine) -> None:
    await stored_items(engine, 4)
    async with AsyncSession(engine) as one, AsyncSession(engine) as two:
        a = await one.query(Item).order_by("id").all()
        b = await two.query(Item).order_by("id").all()
        assert [o.id for o in a] == [o.id for o in b]
        assert all(x is not y for x, y in zip(a, b, strict=True))
        assert all(o in one and o not in two for o in a)
        a[0].b = "only in one"
        assert one.dirty == [a[0]] and two.dirty == []


async def test_text_primary_key_and_json_model(engine: ormkit.Engine) -> None:
    async with AsyncSession(engine) as s:
        await s.insert_all([Setting(key="k1", value="v1"), Setting(key="k2", value="v2")])
        await s.insert(User(name="u", email="u@x.org", meta={"a": [1]}))
    async with AsyncSession(engine) as s:
        settings = await s.query(Setting).order_by("key").all()
        assert s._uow.states[id(settings[0])].key == (Setting, "k1")
        assert await s.get(Setting, "k2") is settings[1]
        user = await s.query(User).one()  # JSON column: snapshots copy the document
        user.meta["a"].append(2)
        assert s.dirty == [user]
        await s.commit()
    async with AsyncSession(engine) as s:
        assert (await s.query(User).one()).meta == {"a": [1, 2]}


async def test_to_tracked_models_leaves_null_and_repeated_keys(engine: ormkit.Engine) -> None:
    result = await engine.execute(
        "SELECT 1 AS id, 'a' AS name UNION ALL SELECT 2, 'b' UNION ALL SELECT 1, 'c' "
        "UNION ALL SELECT NULL, 'd'"
    )
    earlier = Row()
    identity: dict[Any, Any] = {(Row, 2): earlier}
    states: dict[int, Any] = {}
    objs, left = result.to_tracked_models(Row, ("id",), (identity, states, SlotState))
    assert [o.name for o in objs] == ["a", "b", "c", "d"]
    assert left == [1, 2, 3]  # 2 was mapped before, 1 by an earlier row, NULL never
    assert identity == {(Row, 1): objs[0], (Row, 2): earlier}
    assert list(states) == [id(objs[0])]
    state = states[id(objs[0])]
    assert (state.obj, state.key, state.persistent) == (objs[0], (Row, 1), True)
    assert state.snapshot == {"id": 1, "name": "a"} and state.snapshot is not objs[0].__dict__


async def test_to_tracked_models_composite_key(engine: ormkit.Engine) -> None:
    result = await engine.execute(
        "SELECT 1 AS a, 'x' AS b, 10 AS v UNION ALL SELECT 1, 'y', 11 "
        "UNION ALL SELECT 1, 'x', 12 UNION ALL SELECT 2, NULL, 13"
    )
    identity: dict[Any, Any] = {}
    states: dict[int, Any] = {}
    objs, left = result.to_tracked_models(Row, ["a", "b"], (identity, states, SlotState))
    assert left == [2, 3]
    assert identity == {(Row, (1, "x")): objs[0], (Row, (1, "y")): objs[1]}
    assert states[id(objs[1])].key == (Row, (1, "y"))
    assert not any(gc.is_tracked(key) or gc.is_tracked(key[1]) for key in identity)


async def test_to_tracked_models_rejects_bad_arguments(engine: ormkit.Engine) -> None:
    result = await engine.execute("SELECT 1 AS id")

    class OwnNew:
        def __new__(cls) -> OwnNew:
            return super().__new__(cls)

    with pytest.raises(TypeError, match=r"object\.__new__"):
        result.to_tracked_models(Row, ("id",), ({}, {}, OwnNew))
    with pytest.raises(TypeError, match="must be a str"):
        result.to_tracked_models(Row, (1,), ({}, {}, SlotState))
    with pytest.raises(ValueError, match="at least one"):
        result.to_tracked_models(Row, (), ({}, {}, SlotState))
    with pytest.raises(TypeError, match="identity must be a dict"):
        result.to_tracked_models(Row, ("id",), ([], {}, SlotState))
    with pytest.raises(AttributeError):
        result.to_tracked_models(Row, ("id",), ({}, {}, object))  # no slot to set


def _refuse_c(value: Any) -> Any:
    if value == "c":
        raise ValueError("no c")
    return value


def _list_for_2(value: Any) -> Any:
    return [value] if value == 2 else value


async def test_to_tracked_models_failure_registers_nothing(engine: ormkit.Engine) -> None:
    result = await engine.execute(
        "SELECT 1 AS id, 'a' AS name UNION ALL SELECT 2, 'b' UNION ALL SELECT 3, 'c'"
    )
    before = Row()
    identity: dict[Any, Any] = {(Row, 9): before}
    states: dict[int, Any] = {id(before): SlotState()}
    with pytest.raises(ormkit.DataError, match="no c"):  # a converter refuses the last row
        result.to_tracked_models(Row, ("id",), (identity, states, SlotState), [None, _refuse_c])
    assert list(identity) == [(Row, 9)] and list(states) == [id(before)]
    with pytest.raises(TypeError, match="unhashable"):  # the second key is a list
        result.to_tracked_models(Row, ("id",), (identity, states, SlotState), [_list_for_2, None])
    assert list(identity) == [(Row, 9)] and list(states) == [id(before)]
    objs, left = result.to_tracked_models(Row, ("id",), (identity, states, SlotState))
    assert [o.id for o in objs] == [1, 2, 3]
    assert left == [] and len(identity) == len(states) == 4


class _DictState:
    """A state class without slots: its attributes are stored the ordinary way."""


class _PropertyState:
    """``snapshot`` is a property: the tracker must go through its setter."""

    __slots__ = ("_snapshot", "key", "obj", "persistent")

    @property
    def snapshot(self) -> dict[str, Any]:
        return self._snapshot

    @snapshot.setter
    def snapshot(self, value: dict[str, Any]) -> None:
        self._snapshot = {"via": "setter", **value}


@pytest.mark.parametrize("state_cls", [SlotState, _DictState, _PropertyState])
async def test_state_classes_with_and_without_slots(
    engine: ormkit.Engine, state_cls: type[Any]
) -> None:
    result = await engine.execute("SELECT 7 AS id, 'x' AS name")
    states: dict[int, Any] = {}
    (obj,), left = result.to_tracked_models(Row, ("id",), ({}, states, state_cls))
    state = states[id(obj)]
    assert left == [] and type(state) is state_cls
    assert (state.obj, state.key, state.persistent) == (obj, (Row, 7), True)
    expected = {"id": 7, "name": "x"}
    if state_cls is _PropertyState:
        expected = {"via": "setter", **expected}
    assert state.snapshot == expected


async def test_a_state_class_changed_after_use_is_seen(engine: ormkit.Engine) -> None:
    class Changing:
        __slots__ = ("_other", "key", "obj", "persistent", "snapshot")

    result = await engine.execute("SELECT 1 AS id")
    states: dict[int, Any] = {}
    (first,), _ = result.to_tracked_models(Row, ("id",), ({}, states, Changing))
    assert states[id(first)].snapshot == {"id": 1}  # slots filled (and remembered)
    slot = Changing.snapshot  # type: ignore[attr-defined]

    def get(self: Any) -> Any:
        return ("via property", self._other)

    def put(self: Any, value: Any) -> None:
        self._other = value

    Changing.snapshot = property(get, put)  # type: ignore[attr-defined]
    states.clear()
    (second,), _ = result.to_tracked_models(Row, ("id",), ({}, states, Changing))
    assert states[id(second)].snapshot == ("via property", {"id": 1})
    with pytest.raises(AttributeError):  # the slot itself was not written
        slot.__get__(states[id(second)], Changing)


def test_track_objects_registers_written_rows() -> None:
    objs = [Row() for _ in range(5)]
    for i, obj in enumerate(objs):
        obj.id, obj.name = i, f"n{i}"
    objs[1].id = None  # no key yet: left
    earlier = Row()
    identity: dict[Any, Any] = {(Row, 2): earlier}  # mapped already: left
    states: dict[int, Any] = {id(objs[3]): "a state already"}  # left too
    left = track_objects(objs, Row, ("id",), (identity, states, SlotState))
    assert left == [1, 2, 3]
    assert identity == {(Row, 0): objs[0], (Row, 2): earlier, (Row, 4): objs[4]}
    state = states[id(objs[4])]
    assert (state.obj, state.key, state.persistent) == (objs[4], (Row, 4), True)
    assert state.snapshot == {"id": 4, "name": "n4"} and state.snapshot is not objs[4].__dict__
    assert states[id(objs[3])] == "a state already"


def test_track_objects_failure_registers_nothing() -> None:
    objs = [Row() for _ in range(3)]
    for i, obj in enumerate(objs):
        obj.id = i
    objs[2].id = [2]  # unhashable: the whole call fails
    identity: dict[Any, Any] = {}
    states: dict[int, Any] = {}
    with pytest.raises(TypeError, match="unhashable"):
        track_objects(objs, Row, ("id",), (identity, states, SlotState))
    assert identity == {} and states == {}


def _tracked(n: int, state_cls: Any) -> tuple[list[Row], dict[int, Any]]:
    objs = []
    states: dict[int, Any] = {}
    for i in range(n):
        obj = Row()
        obj.id, obj.name = i, f"n{i}"
        objs.append(obj)
        state = state_cls()
        state.obj, state.key, state.persistent = obj, None, True
        state.snapshot = dict(obj.__dict__)
        states[id(obj)] = state
    return objs, states


@pytest.mark.parametrize("state_cls", [SlotState, _DictState])
def test_changed_states_finds_changed_persistent_objects(state_cls: Any) -> None:
    objs, states = _tracked(6, state_cls)
    assert changed_states(states, {}) == []
    objs[4].name = "changed"
    objs[1].extra = "a new attribute"
    objs[2].name = "n2"  # an equal value is no change
    objs[3].name = "deleted anyway"
    states[id(objs[5])].persistent = False
    objs[5].name = "not persistent"
    found = changed_states(states, {id(objs[3]): objs[3]})
    assert [s.obj for s in found] == [objs[1], objs[4]]  # in the order of states
    assert [s.obj for s in changed_states(states, {}, True)] == [objs[1]]


def test_changed_states_survives_a_value_that_changes_the_session() -> None:
    objs, states = _tracked(3, SlotState)

    class Meddler:
        def __eq__(self, other: object) -> bool:
            states.clear()  # the dict being scanned changes under the scan
            return False

        __hash__ = object.__hash__

    objs[1].name = Meddler()
    objs[2].name = "changed"
    found = changed_states(states, {})  # a list of the states is scanned: no error
    assert [s.obj for s in found] == objs[1:]
    assert states == {}


async def test_flush_of_a_large_session_writes_only_what_changed(
    engine: ormkit.Engine, sql_log: SqlLog
) -> None:
    ids = await stored_items(engine, 300)
    async with AsyncSession(engine) as s:
        objs = await s.query(Item).order_by("id").all()
        objs[-1].b = "last one changed"
        objs[150].c = objs[150].c  # the same value
        await s.delete(objs[10])
        objs[10].b = "deleted: its change is not written"
        sql_log.clear()
        assert s.dirty == [objs[-1]]
        await s.commit()
        writes = sql_log.writes()
        assert len(writes) == 2
        assert writes[0].startswith(f"UPDATE {Item.__tablename__} SET b = ")
        assert writes[1].startswith(f"DELETE FROM {Item.__tablename__}")
    async with AsyncSession(engine) as s:
        rows = {o.id: o.b for o in await s.query(Item).all()}
    assert len(rows) == 299 and ids[10] not in rows and rows[ids[-1]] == "last one changed"
