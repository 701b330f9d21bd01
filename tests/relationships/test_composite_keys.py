"""Relationships over composite foreign keys, on every backend: the constraint in the
schema, every loader, nested loads, NULL keys, many-to-many, a self-referential tree, two
references to one table, writes through relationships and lookups across them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from backends import ALL_BACKENDS, engine_with_tables
from composite_models import (
    MODELS,
    Bin,
    Item,
    Supplier,
    Transfer,
    Warehouse,
    WarehouseSupplier,
    Zone,
)
from statement_log import SqlLog

import ormkit
from ormkit import (
    AsyncSession,
    ForeignKey,
    Mapped,
    RelationshipNotLoaded,
    joinedload,
    lazyload,
    mapped_column,
    relationship,
    select,
    selectinload,
)
from ormkit.orm import Registry, declarative_base
from ormkit.orm.foreign_keys import foreign_key_groups
from ormkit.orm.strategies import ROW_VALUES_PER_IN

LOADERS = [selectinload, joinedload]


@pytest.fixture(params=ALL_BACKENDS)
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ormkit.Engine]:
    async with engine_with_tables(request, request.param, tmp_path, MODELS) as eng:
        yield eng


@pytest.fixture
async def stock(session: AsyncSession) -> None:
    """north/1 with bins A (items x, y) and B (no items); north/2 with no bins; south/1
    with bin C; bin D without a warehouse; suppliers acme (north/1, south/1) and idle."""
    north1 = Warehouse(
        region="north",
        number=1,
        name="N1",
        bins=[Bin(label="A", items=[Item(sku="x"), Item(sku="y")]), Bin(label="B")],
    )
    north2 = Warehouse(region="north", number=2, name="N2")
    south1 = Warehouse(region="south", number=1, name="S1", bins=[Bin(label="C")])
    await session.insert_all([north1, north2, south1])
    await session.insert(Bin(label="D"))
    acme = Supplier(name="acme", warehouses=[north1, south1])
    await session.insert_all([acme, Supplier(name="idle")])
    session.expunge_all()


async def rows(engine: ormkit.Engine, sql: str) -> list[tuple[object, ...]]:
    return (await engine.execute(sql)).tuples()


def test_columns_pointing_at_a_composite_key_form_one_constraint() -> None:
    (group,) = foreign_key_groups(Bin)
    assert group.keys == ("wh_region", "wh_number")  # the referenced key's order
    assert group.referenced == ("region", "number") and group.ondelete == "CASCADE"
    assert [g.keys for g in foreign_key_groups(Transfer)] == [
        ("from_region", "from_number"),
        ("to_region", "to_number"),
    ]
    assert [g.keys for g in foreign_key_groups(WarehouseSupplier)] == [
        ("wh_region", "wh_number"),
        ("supplier_id",),
    ]
    rel = Bin.__relationships__["warehouse"]
    assert (rel.local_columns, rel.remote_columns) == (
        ("wh_region", "wh_number"),
        ("region", "number"),
    )
    rel = Warehouse.__relationships__["suppliers"]
    assert rel.secondary_local_columns == ("wh_region", "wh_number")
    assert Transfer.__relationships__["destination"].local_columns == ("to_region", "to_number")


async def test_the_schema_holds_the_composite_constraint(engine: ormkit.Engine) -> None:
    fks = [c for c in await engine.get_constraints(Bin.__tablename__) if c["type"] == "foreign_key"]
    assert [(fk["columns"], fk["referred_table"], fk["referred_columns"]) for fk in fks] == [
        (["wh_region", "wh_number"], Warehouse.__tablename__, ["region", "number"])
    ]
    assert fks[0]["ondelete"] == "CASCADE"
    await engine.execute(
        f"INSERT INTO {Warehouse.__tablename__} (region, number, name) VALUES ('w', 1, 'W')"
    )
    # Each column exists on its own in some warehouse, the pair does not: refused.
    await engine.execute(
        f"INSERT INTO {Warehouse.__tablename__} (region, number, name) VALUES ('v', 2, 'V')"
    )
    with pytest.raises(ormkit.IntegrityError):
        await engine.execute(
            f"INSERT INTO {Bin.__tablename__} (label, wh_region, wh_number) VALUES ('z', 'w', 2)"
        )
    assert await rows(engine, f"SELECT count(*) FROM {Bin.__tablename__}") == [(0,)]


@pytest.mark.parametrize("loader", LOADERS)
@pytest.mark.usefixtures("stock")
async def test_many_to_one_with_null_keys(session: AsyncSession, loader: object) -> None:
    bins = await session.query(Bin).options(loader("warehouse")).order_by("label").all()  # type: ignore[operator]
    assert [(b.label, b.warehouse.name if b.warehouse else None) for b in bins] == [
        ("A", "N1"),
        ("B", "N1"),
        ("C", "S1"),
        ("D", None),
    ]
    assert bins[0].warehouse is bins[1].warehouse  # one object per row


@pytest.mark.parametrize("loader", LOADERS)
@pytest.mark.usefixtures("stock")
async def test_one_to_many_nested_and_empty(session: AsyncSession, loader: object) -> None:
    whs = await (
        session.query(Warehouse)
        .options(loader("bins.items"))  # type: ignore[operator]
        .order_by("region", "number")
        .all()
    )
    got = {(w.region, w.number): {b.label: [i.sku for i in b.items] for b in w.bins} for w in whs}
    assert got == {
        ("north", 1): {"A": ["x", "y"], "B": []},
        ("north", 2): {},
        ("south", 1): {"C": []},
    }
    assert all(b.warehouse is whs[0] for b in whs[0].bins)  # back_populates filled


@pytest.mark.parametrize("parents", [10, 1000])
async def test_query_counts_do_not_grow_with_parents(
    session: AsyncSession, engine: ormkit.Engine, parents: int
) -> None:
    whs = [
        Warehouse(
            region=f"r{i % 7}",
            number=i,
            name=f"w{i}",
            bins=[Bin(label=f"b{i}", items=[Item(sku=f"s{i}")])],
        )
        for i in range(parents)
    ]
    await session.insert_all(whs)
    session.expunge_all()
    log = SqlLog()
    engine.events.on("query", log)
    loaded = await session.query(Warehouse).options(selectinload("bins.items")).all()
    # row values go at most 500 to an IN list (ROW_VALUES_PER_IN): the bins of 1,000
    # parents take two statements, and each loads the items of its bins
    chunks = -(-parents // ROW_VALUES_PER_IN)
    assert len(log) == 1 + 2 * chunks and len(loaded) == parents
    assert all(w.bins[0].items[0].sku == f"s{w.number}" for w in loaded)
    session.expunge_all()
    log.clear()
    loaded = await session.query(Warehouse).options(joinedload("bins.items")).all()
    assert len(log) == 1 and sorted(w.bins[0].label for w in loaded) == sorted(
        f"b{i}" for i in range(parents)
    )


async def test_a_load_over_tens_of_thousands_of_composite_keys(
    session: AsyncSession, engine: ormkit.Engine
) -> None:
    """35,000 parents: one ``(region, number) IN (…)`` of them all fits under
    PostgreSQL's parameter limit but exceeded its stack depth (``OperationalError``,
    SQLSTATE 54001)."""
    await session.insert_all([Warehouse(region="r", number=i, name="w") for i in range(35_000)])
    await session.insert(Bin(label="last", wh_region="r", wh_number=34_999))
    session.expunge_all()
    loaded = await session.query(Warehouse).options(selectinload("bins")).all()
    assert len(loaded) == 35_000
    assert [(w.number, b.label) for w in loaded for b in w.bins] == [(34_999, "last")]


@pytest.mark.parametrize("loader", LOADERS)
@pytest.mark.usefixtures("stock")
async def test_many_to_many_through_a_composite_key(session: AsyncSession, loader: object) -> None:
    suppliers = await session.query(Supplier).options(loader("warehouses")).order_by("name").all()  # type: ignore[operator]
    assert [[w.name for w in s.warehouses] for s in suppliers] == [["N1", "S1"], []]
    session.expunge_all()
    whs = await session.query(Warehouse).options(loader("suppliers")).order_by("name").all()  # type: ignore[operator]
    assert {w.name: [s.name for s in w.suppliers] for w in whs} == {
        "N1": ["acme"],
        "N2": [],
        "S1": ["acme"],
    }


@pytest.mark.parametrize("loader", LOADERS)
async def test_self_referential_tree_on_a_composite_key(
    session: AsyncSession, loader: object
) -> None:
    root = Zone(region="eu", code="root")
    root.children = [Zone(region="eu", code="a"), Zone(region="eu", code="b")]
    await session.insert(root)
    await session.insert(Zone(region="us", code="root"))
    session.expunge_all()
    zones = await (
        session.query(Zone)
        .options(loader("children"), loader("parent"))  # type: ignore[operator]
        .order_by("region", "code")
        .all()
    )
    by = {(z.region, z.code): z for z in zones}
    assert [c.code for c in by["eu", "root"].children] == ["a", "b"]
    assert by["eu", "a"].parent is by["eu", "root"]
    assert (by["eu", "a"].parent_region, by["eu", "a"].parent_code) == ("eu", "root")
    assert by["us", "root"].parent is None and by["us", "root"].children == []


@pytest.mark.usefixtures("stock")
async def test_two_composite_references_to_one_table(session: AsyncSession) -> None:
    n1 = await session.get_or_raise(Warehouse, ("north", 1))
    s1 = await session.get_or_raise(Warehouse, ("south", 1))
    await session.insert(Transfer(source=n1, destination=s1))
    session.expunge_all()
    t = (
        await session.query(Transfer)
        .options(selectinload("source"), joinedload("destination"))
        .one()
    )
    assert (t.from_region, t.from_number, t.to_region, t.to_number) == ("north", 1, "south", 1)
    assert (t.source.name, t.destination.name) == ("N1", "S1")
    assert await session.query(Transfer).filter(destination__name="S1").count() == 1
    assert await session.query(Transfer).filter(source__name="S1").count() == 0


def test_ambiguous_composite_references_ask_for_foreign_key() -> None:
    base = declarative_base("AmbiguousBase", registry=Registry(track=False))

    class Depot(base):  # type: ignore[misc, valid-type]
        __tablename__ = "depots"
        region: Mapped[str] = mapped_column(primary_key=True)
        number: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)

    class Move(base):  # type: ignore[misc, valid-type]
        __tablename__ = "moves"
        id: Mapped[int] = mapped_column(primary_key=True)
        a_region: Mapped[str] = mapped_column(ForeignKey("depots.region"))
        a_number: Mapped[int] = mapped_column(ForeignKey("depots.number"))
        b_region: Mapped[str] = mapped_column(ForeignKey("depots.region"))
        b_number: Mapped[int] = mapped_column(ForeignKey("depots.number"))
        depot: Mapped[Depot] = relationship()
        wrong: Mapped[Depot] = relationship(foreign_key=("a_region", "b_number"))

    with pytest.raises(ValueError, match=r"\(a_region, a_number\), \(b_region, b_number\)"):
        _ = Move.__relationships__["depot"].local_columns
    with pytest.raises(ValueError, match="is not a foreign key between"):
        _ = Move.__relationships__["wrong"].local_columns
    with pytest.raises(TypeError, match="foreign_key must be"):
        relationship(foreign_key=[1, 2])  # type: ignore[list-item]
    assert Depot.__relationships__ == {}


@pytest.mark.usefixtures("stock")
async def test_lazyload_and_not_loaded(session: AsyncSession) -> None:
    b = await session.query(Bin).options(lazyload("warehouse")).filter(label="C").one()
    with pytest.raises(RelationshipNotLoaded, match="warehouse"):
        _ = b.warehouse
    await session.load_related(b, "warehouse")
    assert b.warehouse is not None and b.warehouse.name == "S1"
    w = await session.get_or_raise(Warehouse, ("north", 1))
    await session.load_related(w, "bins")
    assert [x.label for x in w.bins] == ["A", "B"]


@pytest.mark.usefixtures("stock")
async def test_lookups_across_a_composite_relationship(session: AsyncSession) -> None:
    labels = await session.query(Bin).filter(warehouse__name="N1").values_list("label", flat=True)
    assert sorted(labels) == ["A", "B"]
    s1 = await session.get_or_raise(Warehouse, ("south", 1))
    assert [b.label for b in await session.query(Bin).filter(warehouse=s1).all()] == ["C"]
    assert [b.label for b in await session.query(Bin).filter(warehouse=None).all()] == ["D"]
    # A collection across the key: DISTINCT parents, once each.
    whs = await session.query(Warehouse).filter(bins__label__in=["A", "B", "C"]).all()
    assert sorted((w.region, w.number) for w in whs) == [("north", 1), ("south", 1)]
    names = (
        await session.query(Warehouse).filter(suppliers__name="acme").values_list("name", flat=True)
    )
    assert sorted(names) == ["N1", "S1"]


async def test_writes_set_every_key_column(session: AsyncSession, engine: ormkit.Engine) -> None:
    b = await session.insert(Bin(label="loose"))
    b.warehouse = Warehouse(region="east", number=7, name="E7")  # new: inserted first
    await session.commit()
    bins = f"SELECT label, wh_region, wh_number FROM {Bin.__tablename__} ORDER BY id"
    assert await rows(engine, bins) == [("loose", "east", 7)]
    b.warehouse = None
    await session.commit()
    assert await rows(engine, bins) == [("loose", None, None)]
    session.expunge_all()
    e7 = (
        await session.query(Warehouse)
        .options(selectinload("bins"), selectinload("suppliers"))
        .one()
    )
    e7.bins.append(Bin(label="new"))
    e7.suppliers.append(Supplier(name="s"))
    await session.commit()
    assert await rows(engine, bins) == [("loose", None, None), ("new", "east", 7)]
    links = f"SELECT wh_region, wh_number FROM {WarehouseSupplier.__tablename__}"
    assert await rows(engine, links) == [("east", 7)]
    e7.suppliers.clear()  # association rows go, the supplier stays
    e7.bins.clear()  # delete-orphan: the bin goes
    await session.commit()
    assert await rows(engine, links) == []
    assert await rows(engine, bins) == [("loose", None, None)]
    assert await rows(engine, f"SELECT name FROM {Supplier.__tablename__}") == [("s",)]


@pytest.mark.usefixtures("stock")
async def test_select_statement_takes_loader_options(
    session: AsyncSession, engine: ormkit.Engine
) -> None:
    log = SqlLog()
    engine.events.on("query", log)
    stmt = select(Warehouse).where(Warehouse.region == "north").order_by(Warehouse.number)
    whs = (await session.execute(stmt.options(selectinload("bins.items")))).scalars().all()
    assert len(log) == 3
    assert [[b.label for b in w.bins] for w in whs] == [["A", "B"], []]
    session.expunge_all()
    log.clear()
    first = (await session.execute(stmt.options(joinedload("bins")).limit(1))).scalars().all()
    assert len(log) == 1 and [b.label for b in first[0].bins] == ["A", "B"]
    session.expunge_all()
    plain = (await session.execute(stmt)).scalars().all()
    with pytest.raises(RelationshipNotLoaded):
        _ = plain[0].bins
    with pytest.raises(ValueError, match="unknown relationship 'nope'"):
        stmt.options(selectinload("nope"))
    with pytest.raises(ValueError, match="select\\(Model\\) of one model"):
        select(Warehouse.name).options(selectinload("bins"))


async def test_autogenerate_sees_the_composite_key_created_by_create_all(
    engine: ormkit.Engine,
) -> None:
    from ormkit.migrations.autogenerate import compare_schemas, live_schema, model_schema
    from ormkit.schema.introspect import Inspector

    target = model_schema(MODELS, engine.dialect)
    (fk,) = target[Bin.__tablename__].foreign_keys
    assert (fk.columns, fk.referred_columns) == (["wh_region", "wh_number"], ["region", "number"])
    live = await live_schema(Inspector(engine, engine.dialect))
    ours = {name: spec for name, spec in live.items() if name in target}
    assert sorted(ours) == sorted(target)
    ops, warnings = compare_schemas(target, ours, engine.dialect)
    assert (ops, warnings) == ([], [])
