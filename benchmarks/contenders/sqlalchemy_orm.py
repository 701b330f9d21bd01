"""SQLAlchemy 2 async ORM, over asyncpg (PostgreSQL) and aiosqlite (SQLite).

One AsyncSession per operation (what a web request does), `expire_on_commit=False`, a
pool of one connection for the latency figures. Statement-style UPDATE/DELETE by pk;
the read-modify-write goes through the unit of work (get, change, commit).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from typing import List, Optional

from sqlalchemy import Boolean, DateTime, Float, ForeignKey, Integer, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from workloads import build_item

from .base import Contender


class Base(DeclarativeBase):
    pass


class _Cols:
    name: Mapped[str] = mapped_column(String)
    email: Mapped[str] = mapped_column(String, unique=True)
    age: Mapped[Optional[int]] = mapped_column(Integer, nullable=True)  # noqa: UP045
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    score: Mapped[float] = mapped_column(Float)
    active: Mapped[bool] = mapped_column(Boolean)


class SItem(_Cols, Base):
    __tablename__ = "items"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)


class SItemW(_Cols, Base):
    __tablename__ = "items_w"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)


class SParent(Base):
    __tablename__ = "parents"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String)
    children: Mapped[List[SChild]] = relationship(back_populates="parent")  # noqa: UP006


class SChild(Base):
    __tablename__ = "children"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    parent_id: Mapped[int] = mapped_column(ForeignKey("parents.id"))
    title: Mapped[str] = mapped_column(String)
    parent: Mapped[SParent] = relationship(back_populates="children")


class _Sqlalchemy(Contender):
    kind = "orm"
    url_prefix = ""
    for_update = True

    def _sa_url(self) -> str:
        raise NotImplementedError

    def _engine(self, size: int) -> Any:
        from sqlalchemy.ext.asyncio import create_async_engine

        return create_async_engine(self._sa_url(), pool_size=size, max_overflow=0)

    async def connect(self) -> None:
        import sqlalchemy as sa
        from sqlalchemy.ext.asyncio import async_sessionmaker
        from sqlalchemy.orm import selectinload

        self.sa = sa
        self.selectinload = selectinload
        self.Item, self.ItemW, self.Parent, self.Child = SItem, SItemW, SParent, SChild
        self.engine = self._engine(1)
        self.Session = async_sessionmaker(self.engine, expire_on_commit=False)
        I = self.Item  # noqa: E741
        self.q_select = sa.select(I).order_by(I.id)
        self.q_tuples = sa.select(
            I.id, I.name, I.email, I.age, I.created_at, I.score, I.active
        ).order_by(I.id)
        self.q_page = lambda age: (
            sa.select(I).where(I.age >= age).order_by(I.id).limit(20).offset(100)
        )
        self.q_count = lambda age: sa.select(sa.func.count()).select_from(I).where(I.age >= age)

    async def close(self) -> None:
        await self.engine.dispose()

    async def get_pk(self, pk: int) -> Any:
        async with self.Session() as s:
            return await s.get(self.Item, pk)

    def _new(self, row: tuple[Any, ...]) -> Any:
        return build_item(self.ItemW, row)

    async def insert(self, row: tuple[Any, ...]) -> int:
        async with self.Session() as s:
            obj = self._new(row)
            s.add(obj)
            await s.commit()
            return obj.id  # type: ignore[no-any-return]

    async def update(self, pk: int, name: str, score: float) -> None:
        W = self.ItemW
        async with self.Session() as s:
            await s.execute(self.sa.update(W).where(W.id == pk).values(name=name, score=score))
            await s.commit()

    async def delete(self, pk: int) -> None:
        W = self.ItemW
        async with self.Session() as s:
            await s.execute(self.sa.delete(W).where(W.id == pk))
            await s.commit()

    async def select(self, n: int) -> list[Any]:
        async with self.Session() as s:
            return list((await s.execute(self.q_select.limit(n))).scalars().all())

    async def tuples(self, n: int) -> list[Any]:
        async with self.Session() as s:
            return list((await s.execute(self.q_tuples.limit(n))).all())

    async def page(self, min_age: int) -> list[Any]:
        async with self.Session() as s:
            return list((await s.execute(self.q_page(min_age))).scalars().all())

    async def count(self, min_age: int) -> int:
        async with self.Session() as s:
            return (await s.execute(self.q_count(min_age))).scalar_one()  # type: ignore[no-any-return]

    async def bulk(self, rows: list[tuple[Any, ...]]) -> list[int]:
        async with self.Session() as s:
            objs = [self._new(r) for r in rows]
            s.add_all(objs)
            await s.commit()
            return [o.id for o in objs]

    async def rmw(self, pk: int) -> None:
        async with self.Session() as s, s.begin():
            obj = await s.get(self.ItemW, pk, with_for_update=self.for_update)
            obj.score = obj.score + 1.0
            obj.name = "rmw"

    async def selectin(self) -> list[Any]:
        P = self.Parent
        q = self.sa.select(P).options(self.selectinload(P.children)).order_by(P.id).limit(100)
        async with self.Session() as s:
            return list((await s.execute(q)).scalars().all())

    async def tp_open(self, size: int) -> None:
        from sqlalchemy.ext.asyncio import async_sessionmaker

        self.tp_engine = self._engine(size)
        self.TpSession = async_sessionmaker(self.tp_engine, expire_on_commit=False)

    async def tp_get(self, pk: int) -> Any:
        async with self.TpSession() as s:
            return await s.get(self.Item, pk)

    async def tp_close(self) -> None:
        await self.tp_engine.dispose()


class SqlalchemyPg(_Sqlalchemy):
    def _sa_url(self) -> str:
        # asyncpg does not take sslmode in the URL query; TLS is off through connect_args.
        return self.url.replace("postgresql://", "postgresql+asyncpg://", 1).split("?")[0]

    def _engine(self, size: int) -> Any:
        from sqlalchemy.ext.asyncio import create_async_engine

        return create_async_engine(
            self._sa_url(), pool_size=size, max_overflow=0, connect_args={"ssl": False}
        )


class SqlalchemySqlite(_Sqlalchemy):
    for_update = False

    def _sa_url(self) -> str:
        return self.url.replace("sqlite:///", "sqlite+aiosqlite:///", 1)

    def _engine(self, size: int) -> Any:
        from sqlalchemy import event
        from sqlalchemy.ext.asyncio import create_async_engine

        engine = create_async_engine(self._sa_url(), pool_size=size, max_overflow=0)

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            # WAL + synchronous=NORMAL, as ormkit's engine and the raw drivers.
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
