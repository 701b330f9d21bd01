"""ormkit's engine with raw SQL: `engine.execute` -> QueryResult -> `to_models` (models
made in Rust, no `__init__`), `tuples()`, `scalar()`, `column()`."""

from __future__ import annotations

from typing import Any

from workloads import SQL, Child, Item, Parent, attach_children

from .base import Contender

# SQLite stores datetimes as text and booleans as 0/1: the converters give model types.
SQLITE_ITEM_CONVERTERS = [None, None, None, None, "datetime", None, "bool"]


class _OrmkitRaw(Contender):
    dialect = "pg"
    item_conv: list[Any] | None = None

    async def connect(self) -> None:
        import ormkit

        self.ormkit = ormkit
        self.engine = await ormkit.create_engine(self.url, min_connections=1, max_connections=1)
        self.rmw_read = SQL.rmw_read_pg if self.dialect == "pg" else SQL.rmw_read_sqlite

    async def close(self) -> None:
        await self.engine.close()

    async def get_pk(self, pk: int) -> Any:
        models = (await self.engine.execute(SQL.get, [pk])).to_models(Item, self.item_conv)
        return models[0] if models else None

    async def insert(self, row: tuple[Any, ...]) -> int:
        return (await self.engine.execute(SQL.insert, row)).scalar()  # type: ignore[no-any-return]

    async def update(self, pk: int, name: str, score: float) -> None:
        await self.engine.execute(SQL.update, [name, score, pk])

    async def delete(self, pk: int) -> None:
        await self.engine.execute(SQL.delete, [pk])

    async def select(self, n: int) -> list[Any]:
        return (await self.engine.execute(SQL.select, [n])).to_models(Item, self.item_conv)

    async def tuples(self, n: int) -> list[Any]:
        return (await self.engine.execute(SQL.select, [n])).tuples()

    async def page(self, min_age: int) -> list[Any]:
        return (await self.engine.execute(SQL.page, [min_age])).to_models(Item, self.item_conv)

    async def count(self, min_age: int) -> int:
        return (await self.engine.execute(SQL.count, [min_age])).scalar()  # type: ignore[no-any-return]

    async def bulk(self, rows: list[tuple[Any, ...]]) -> list[int]:
        params = [v for row in rows for v in row]
        # One multi-row statement is one transaction by itself (as for the other drivers).
        return (await self.engine.execute(SQL.bulk(len(rows)), params)).column(0)

    async def rmw(self, pk: int) -> None:
        async with self.engine.transaction() as tx:
            r = (await tx.execute(self.rmw_read, [pk])).tuples()[0]
            await tx.execute(SQL.update, ["rmw", r[5] + 1.0, pk])

    async def selectin(self) -> list[Any]:
        engine = self.engine
        parents = (await engine.execute(SQL.parents)).to_models(Parent)
        for p in parents:
            p.children = []
        ids = [p.id for p in parents]
        if self.dialect == "pg":
            res = await engine.execute(SQL.children_pg, [ids])
        else:
            res = await engine.execute(SQL.children_in(len(ids), qmark=False), ids)
        return attach_children(parents, res.to_models(Child))

    async def tp_open(self, size: int) -> None:
        self.pool = await self.ormkit.create_engine(
            self.url, min_connections=size, max_connections=size
        )

    async def tp_get(self, pk: int) -> Any:
        return (await self.pool.execute(SQL.get, [pk])).to_models(Item, self.item_conv)[0]

    async def tp_close(self) -> None:
        await self.pool.close()


class OrmkitRawPg(_OrmkitRaw):
    dialect = "pg"


class OrmkitRawSqlite(_OrmkitRaw):
    dialect = "sqlite"
    item_conv = SQLITE_ITEM_CONVERTERS
