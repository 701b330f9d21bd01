"""A model's foreign-key constraints: single columns and composite keys.

A foreign key is declared per column with ``ForeignKey("table.column")``. When a model
references a model whose primary key is composite, it declares one foreign-key column
per key column, each pointing at its counterpart::

    class Order(Base):
        region: Mapped[str] = mapped_column(primary_key=True)
        number: Mapped[int] = mapped_column(primary_key=True)

    class OrderLine(Base):
        id: Mapped[int] = mapped_column(primary_key=True)
        order_region: Mapped[str] = mapped_column(ForeignKey("orders.region"))
        order_number: Mapped[int] = mapped_column(ForeignKey("orders.number"))

Those columns form one constraint, ``FOREIGN KEY (order_region, order_number)
REFERENCES orders (region, number)``, and a relationship between the two models joins
on both. Columns are grouped in declaration order: the foreign-key columns that point
at one table's composite primary key fill a group until every key column is covered,
so a model can hold two composite references to the same table (declare each one's
columns together). A group that stays incomplete, or a column that references a
column outside the referenced primary key, is a single-column foreign key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["ForeignKeyGroup", "foreign_key_groups"]


@dataclass(frozen=True)
class ForeignKeyGroup:
    """One foreign-key constraint of a model.

    ``keys`` are the attribute keys of its columns on the holding model and ``names``
    their column names; ``referenced`` are the referenced column names of ``table``, in
    the same order (for a composite key, the order of the referenced primary key).
    """

    table: str
    keys: tuple[str, ...]
    names: tuple[str, ...]
    referenced: tuple[str, ...]
    ondelete: str | None = None
    onupdate: str | None = None

    @property
    def composite(self) -> bool:
        """True when the constraint spans more than one column."""
        return len(self.keys) > 1


def _single(info: Any) -> ForeignKeyGroup:
    fk = info.foreign_key
    return ForeignKeyGroup(
        fk.table, (info.key,), (info.name,), (fk.column,), fk.ondelete, fk.onupdate
    )


def _composite_key(model: type[Any], table: str) -> tuple[str, ...] | None:
    """Column names of ``table``'s primary key when it is a registered model's composite
    key, else None."""
    registry = getattr(model, "__registry__", None)
    referenced = registry.by_table(table) if registry is not None else None
    if referenced is None:
        return None
    pk = referenced.__primary_key__
    if isinstance(pk, str):
        return None
    return tuple(referenced.__columns__[k].name for k in pk)


def _action(model: type[Any], infos: list[Any], which: str) -> str | None:
    actions = {getattr(i.foreign_key, which) for i in infos} - {None}
    if len(actions) > 1:
        names = ", ".join(i.key for i in infos)
        raise ValueError(
            f"{model.__name__}: the columns {names} form one composite foreign key but "
            f"give different {which} actions ({', '.join(sorted(actions))})"
        )
    return actions.pop() if actions else None


def _group(model: type[Any], infos: list[Any], pk_names: tuple[str, ...]) -> ForeignKeyGroup:
    by_name = {i.foreign_key.column: i for i in infos}
    ordered = [by_name[n] for n in pk_names]
    return ForeignKeyGroup(
        ordered[0].foreign_key.table,
        tuple(i.key for i in ordered),
        tuple(i.name for i in ordered),
        pk_names,
        _action(model, ordered, "ondelete"),
        _action(model, ordered, "onupdate"),
    )


def foreign_key_groups(model: type[Any]) -> tuple[ForeignKeyGroup, ...]:
    """The foreign-key constraints of ``model``, in the order of their first column.

    Grouping looks referenced models up in ``model``'s registry, so call it once the
    models it references are declared (relationships, DDL and autogenerate do).
    """
    placed: list[tuple[int, ForeignKeyGroup]] = []
    open_groups: dict[str, tuple[int, list[Any], tuple[str, ...]]] = {}
    for position, info in enumerate(model.__columns__.values()):
        fk = info.foreign_key
        if fk is None:
            continue
        pk_names = _composite_key(model, fk.table)
        if pk_names is None or fk.column not in pk_names:
            placed.append((position, _single(info)))
            continue
        start, members, _names = open_groups.get(fk.table, (position, [], pk_names))
        if any(m.foreign_key.column == fk.column for m in members):
            # The open group never covered the key: its columns stand alone.
            placed.extend((start, _single(m)) for m in members)
            start, members = position, []
        members.append(info)
        if len(members) == len(pk_names):
            placed.append((start, _group(model, members, pk_names)))
            open_groups.pop(fk.table, None)
        else:
            open_groups[fk.table] = (start, members, pk_names)
    for start, members, _names in open_groups.values():
        placed.extend((start, _single(m)) for m in members)
    placed.sort(key=lambda item: item[0])
    return tuple(group for _position, group in placed)
