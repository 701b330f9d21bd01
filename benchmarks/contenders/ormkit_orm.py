"""ormkit's ORM: declarative models, AsyncSession and Query (API.md sections 4 to 6).

Written like the SQLAlchemy contender: one session per operation, statement-style
UPDATE/DELETE by pk through the Query, the unit of work for the read-modify-write, and
`selectinload` for the loader workload.
"""

from __future__ import annotations

import datetime
from typing import Any

from ormkit import AsyncSession, ForeignKey, Mapped, mapped_column, relationship, selectinload
from ormkit.orm import declarative_base

from workloads import build_item

from .base import Contender

Base: Any = declarative_base("BenchBase")


class OItem(Base):
    __tablename__ = "items"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]
    email: Mapped[str] = mapped_column(unique=True)
    age: Mapped[int | None]
    created_at: Mapped[datetime.datetime]
    score: Mapped[float]
    active: Mapped[bool]


class OItemW(Base):
    __tablename__ = "items_w"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]
    email: Mapped[str] = mapped_column(unique=True)
    age: Mapped[int | None]
    created_at: Mapped[datetime.datetime]
    score: Mapped[float]
    active: Mapped[bool]


class OParent(Base):
    __tablename__ = "parents"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]
    children: Mapped[list[OChild]] = relationship(back_populates="parent")


class OChild(Base):
    __tablename__ = "children"
    id: Mapped[int] = mapped_column(primary_key=True)
    parent_id: Mapped[int] = mapped_column(ForeignKey("parents.id"))
    title: Mapped[str]
    parent: Mapped[OParent] = relationship(back_populates="children")


TUPLE_COLS = ("id", "name", "email", "age", "created_at", "score", "active")


class _OrmkitOrm(Contender):
    kind = "orm"
    for_update = True

    async def connect(self) -> None:
        import ormkit

        self.ormkit = ormkit
        self.engine = await ormkit.create_engine(self.url, min_connections=1, max_connections=1)

    async def close(self) -> None:
        await self.engine.close()

    async def get_pk(self, pk: int) -> Any:
        async with AsyncSession(self.engine) as s:
            return await s.get(OItem, pk)

    async def insert(self, row: tuple[Any, ...]) -> int:
        async with AsyncSession(self.engine) as s:
            obj = await s.insert(build_item(OItemW, row))
            return obj.id  # type: ignore[no-any-return]

    async def update(self, pk: int, name: str, score: float) -> None:
        async with AsyncSession(self.engine) as s:
            await s.query(OItemW).filter(id=pk).update(name=name, score=score)

    async def delete(self, pk: int) -> None:
        async with AsyncSession(self.engine) as s:
            await s.query(OItemW).filter(id=pk).delete()

    async def select(self, n: int) -> list[Any]:
        async with AsyncSession(self.engine) as s:
            return await s.query(OItem).order_by("id").limit(n).all()  # type: ignore[no-any-return]

    async def tuples(self, n: int) -> list[Any]:
        async with AsyncSession(self.engine) as s:
            return await s.query(OItem).order_by("id").limit(n).values_list(*TUPLE_COLS)  # type: ignore[no-any-return]

    async def page(self, min_age: int) -> list[Any]:
        async with AsyncSession(self.engine) as s:
            q = s.query(OItem).filter(age__gte=min_age).order_by("id").limit(20).offset(100)
            return await q.all()  # type: ignore[no-any-return]

    async def count(self, min_age: int) -> int:
        async with AsyncSession(self.engine) as s:
            return await s.query(OItem).filter(age__gte=min_age).count()  # type: ignore[no-any-return]

    async def bulk(self, rows: list[tuple[Any, ...]]) -> list[int]:
        async with AsyncSession(self.engine) as s:
            objs = [build_item(OItemW, r) for r in rows]
            await s.insert_all(objs)
            return [o.id for o in objs]

    async def rmw(self, pk: int) -> None:
        async with AsyncSession(self.engine) as s, s.begin():
            q = s.query(OItemW).filter(id=pk)
            if self.for_update:
                q = q.select_for_update()
            obj = await q.one()
            obj.score = obj.score + 1.0
            obj.name = "rmw"

    async def selectin(self) -> list[Any]:
        async with AsyncSession(self.engine) as s:
            q = s.query(OParent).options(selectinload("children")).order_by("id").limit(100)
            return await q.all()  # type: ignore[no-any-return]

    async def tp_open(self, size: int) -> None:
        self.pool = await self.ormkit.create_engine(
            self.url, min_connections=size, max_connections=size
        )

    async def tp_get(self, pk: int) -> Any:
        async with AsyncSession(self.pool) as s:
            return await s.get(OItem, pk)

    async def tp_close(self) -> None:
        await self.pool.close()


class OrmkitOrmPg(_OrmkitOrm):
    pass


class OrmkitOrmSqlite(_OrmkitOrm):
    for_update = False
