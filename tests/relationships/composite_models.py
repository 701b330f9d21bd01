"""Models linked by composite foreign keys (own registry; table names carry the process id).

Warehouses are keyed by (region, number). Bins reference them through a two-column
foreign key that may be NULL; items hang under bins (a second level); suppliers link to
warehouses through an association model whose key has three columns; zones form a tree
keyed by (region, code); transfers hold two composite references to warehouses.
"""

from __future__ import annotations

import os

from ormkit import ForeignKey, Mapped, mapped_column, relationship
from ormkit.orm import Registry, declarative_base

S = f"_{os.getpid()}"
WAREHOUSES = f"c_warehouses{S}"

Base = declarative_base("CompositeBase", registry=Registry(track=False))


class Warehouse(Base):
    __tablename__ = WAREHOUSES

    region: Mapped[str] = mapped_column(primary_key=True, max_length=8)
    number: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    name: Mapped[str]
    bins: Mapped[list[Bin]] = relationship(
        back_populates="warehouse", order_by="id", cascade="all, delete-orphan"
    )
    suppliers: Mapped[list[Supplier]] = relationship(
        back_populates="warehouses", secondary=f"c_warehouse_suppliers{S}", order_by="name"
    )


class Bin(Base):
    __tablename__ = f"c_bins{S}"

    id: Mapped[int] = mapped_column(primary_key=True)
    label: Mapped[str]
    # Declared key-last on purpose: the group follows the referenced key's order.
    wh_number: Mapped[int | None] = mapped_column(ForeignKey(f"{WAREHOUSES}.number"))
    wh_region: Mapped[str | None] = mapped_column(
        ForeignKey(f"{WAREHOUSES}.region", ondelete="CASCADE")
    )
    warehouse: Mapped[Warehouse | None] = relationship(back_populates="bins")
    items: Mapped[list[Item]] = relationship(back_populates="bin", order_by="id")


class Item(Base):
    __tablename__ = f"c_items{S}"

    id: Mapped[int] = mapped_column(primary_key=True)
    bin_id: Mapped[int] = mapped_column(ForeignKey(f"c_bins{S}.id"))
    sku: Mapped[str]
    bin: Mapped[Bin] = relationship(back_populates="items")


class Supplier(Base):
    __tablename__ = f"c_suppliers{S}"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]
    warehouses: Mapped[list[Warehouse]] = relationship(
        back_populates="suppliers", secondary=f"c_warehouse_suppliers{S}", order_by="number"
    )


class WarehouseSupplier(Base):
    __tablename__ = f"c_warehouse_suppliers{S}"
    __primary_key__ = ("wh_region", "wh_number", "supplier_id")

    wh_region: Mapped[str] = mapped_column(ForeignKey(f"{WAREHOUSES}.region"), max_length=8)
    wh_number: Mapped[int] = mapped_column(ForeignKey(f"{WAREHOUSES}.number"))
    supplier_id: Mapped[int] = mapped_column(ForeignKey(f"c_suppliers{S}.id"))


class Zone(Base):
    __tablename__ = f"c_zones{S}"

    region: Mapped[str] = mapped_column(primary_key=True, max_length=8)
    code: Mapped[str] = mapped_column(primary_key=True, max_length=8)
    parent_region: Mapped[str | None] = mapped_column(ForeignKey(f"c_zones{S}.region"))
    parent_code: Mapped[str | None] = mapped_column(ForeignKey(f"c_zones{S}.code"))
    parent: Mapped[Zone | None] = relationship(back_populates="children")
    children: Mapped[list[Zone]] = relationship(back_populates="parent", order_by="code")


class Transfer(Base):
    __tablename__ = f"c_transfers{S}"

    id: Mapped[int] = mapped_column(primary_key=True)
    from_region: Mapped[str] = mapped_column(ForeignKey(f"{WAREHOUSES}.region"))
    from_number: Mapped[int] = mapped_column(ForeignKey(f"{WAREHOUSES}.number"))
    to_region: Mapped[str] = mapped_column(ForeignKey(f"{WAREHOUSES}.region"))
    to_number: Mapped[int] = mapped_column(ForeignKey(f"{WAREHOUSES}.number"))
    source: Mapped[Warehouse] = relationship(
        target="Warehouse", foreign_key=("from_region", "from_number")
    )
    destination: Mapped[Warehouse] = relationship(target="Warehouse", foreign_key="to_number")


MODELS = [Warehouse, Bin, Item, Supplier, WarehouseSupplier, Zone, Transfer]
