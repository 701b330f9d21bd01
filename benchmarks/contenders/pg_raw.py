"""Raw PostgreSQL drivers with hand-written hydration into plain classes.

Each uses the same SQL as ormkit's engine contender, the way a careful user of the driver
would: prepared statements where the driver does that by default, one statement per
operation, explicit transactions only where the workload needs more than one statement.
"""

from __future__ import annotations

from typing import Any

from workloads import SQL, Child, Item, Parent, attach_children

from .base import Contender


class AsyncpgRaw(Contender):
    async def connect(self) -> None:
        import asyncpg

        self.asyncpg = asyncpg
        self.conn = await asyncpg.connect(self.url)

    async def close(self) -> None:
        await self.conn.close()

    async def get_pk(self, pk: int) -> Any:
        r = await self.conn.fetchrow(SQL.get, pk)
        return None if r is None else Item(*r)

    async def insert(self, row: tuple[Any, ...]) -> int:
        return await self.conn.fetchval(SQL.insert, *row)  # type: ignore[no-any-return]

    async def update(self, pk: int, name: str, score: float) -> None:
        await self.conn.execute(SQL.update, name, score, pk)

    async def delete(self, pk: int) -> None:
        await self.conn.execute(SQL.delete, pk)

    async def select(self, n: int) -> list[Any]:
        return [Item(*r) for r in await self.conn.fetch(SQL.select, n)]

    async def tuples(self, n: int) -> list[Any]:
        # asyncpg Records are tuple-like (indexable, iterable): no conversion.
        return await self.conn.fetch(SQL.select, n)  # type: ignore[no-any-return]

    async def page(self, min_age: int) -> list[Any]:
        return [Item(*r) for r in await self.conn.fetch(SQL.page, min_age)]

    async def count(self, min_age: int) -> int:
        return await self.conn.fetchval(SQL.count, min_age)  # type: ignore[no-any-return]

    async def bulk(self, rows: list[tuple[Any, ...]]) -> list[int]:
        params = [v for row in rows for v in row]
        return [r[0] for r in await self.conn.fetch(SQL.bulk(len(rows)), *params)]

    async def rmw(self, pk: int) -> None:
        conn = self.conn
        async with conn.transaction():
            r = await conn.fetchrow(SQL.rmw_read_pg, pk)
            await conn.execute(SQL.update, "rmw", r[5] + 1.0, pk)

    async def selectin(self) -> list[Any]:
        parents = [Parent(*r) for r in await self.conn.fetch(SQL.parents)]
        ids = [p.id for p in parents]
        children = [Child(*r) for r in await self.conn.fetch(SQL.children_pg, ids)]
        return attach_children(parents, children)

    async def tp_open(self, size: int) -> None:
        self.pool = await self.asyncpg.create_pool(self.url, min_size=size, max_size=size)

    async def tp_get(self, pk: int) -> Any:
        async with self.pool.acquire() as conn:
            r = await conn.fetchrow(SQL.get, pk)
        return Item(*r)

    async def tp_close(self) -> None:
        await self.pool.close()


def _pct(sql: str) -> str:
    """$N -> %s (every $N of our SQL appears once, in order)."""
    import re

    return re.sub(r"\$\d+", "%s", sql)


class PsycopgRaw(Contender):
    """psycopg 3, AsyncConnection in autocommit mode, default (text) result format and
    the default prepare threshold (server-side prepared after 5 executions)."""

    async def connect(self) -> None:
        import psycopg

        self.psycopg = psycopg
        self.conn = await psycopg.AsyncConnection.connect(self.url, autocommit=True)
        self.sql = {k: _pct(v) for k, v in vars(SQL).items() if isinstance(v, str)}
        self.sql["children_any"] = "SELECT id, parent_id, title FROM children WHERE parent_id = ANY(%s) ORDER BY id"
        self._bulk: dict[int, str] = {}

    async def close(self) -> None:
        await self.conn.close()

    async def _fetch(self, sql: str, params: Any) -> list[Any]:
        cur = await self.conn.execute(sql, params)
        return await cur.fetchall()

    async def get_pk(self, pk: int) -> Any:
        cur = await self.conn.execute(self.sql["get"], (pk,))
        r = await cur.fetchone()
        return None if r is None else Item(*r)

    async def insert(self, row: tuple[Any, ...]) -> int:
        cur = await self.conn.execute(self.sql["insert"], row)
        return (await cur.fetchone())[0]  # type: ignore[index,no-any-return]

    async def update(self, pk: int, name: str, score: float) -> None:
        await self.conn.execute(self.sql["update"], (name, score, pk))

    async def delete(self, pk: int) -> None:
        await self.conn.execute(self.sql["delete"], (pk,))

    async def select(self, n: int) -> list[Any]:
        return [Item(*r) for r in await self._fetch(self.sql["select"], (n,))]

    async def tuples(self, n: int) -> list[Any]:
        return await self._fetch(self.sql["select"], (n,))

    async def page(self, min_age: int) -> list[Any]:
        return [Item(*r) for r in await self._fetch(self.sql["page"], (min_age,))]

    async def count(self, min_age: int) -> int:
        cur = await self.conn.execute(self.sql["count"], (min_age,))
        return (await cur.fetchone())[0]  # type: ignore[index,no-any-return]

    async def bulk(self, rows: list[tuple[Any, ...]]) -> list[int]:
        n = len(rows)
        sql = self._bulk.get(n)
        if sql is None:
            sql = self._bulk[n] = _pct(SQL.bulk(n))
        params = [v for row in rows for v in row]
        return [r[0] for r in await self._fetch(sql, params)]

    async def rmw(self, pk: int) -> None:
        conn = self.conn
        async with conn.transaction():
            cur = await conn.execute(self.sql["rmw_read_pg"], (pk,))
            r = await cur.fetchone()
            await conn.execute(self.sql["update"], ("rmw", r[5] + 1.0, pk))  # type: ignore[index]

    async def selectin(self) -> list[Any]:
        parents = [Parent(*r) for r in await self._fetch(self.sql["parents"], None)]
        ids = [p.id for p in parents]
        children = [Child(*r) for r in await self._fetch(self.sql["children_any"], (ids,))]
        return attach_children(parents, children)

    async def tp_open(self, size: int) -> None:
        from psycopg_pool import AsyncConnectionPool

        self.pool = AsyncConnectionPool(
            self.url, min_size=size, max_size=size, kwargs={"autocommit": True}, open=False
        )
        await self.pool.open(wait=True)

    async def tp_get(self, pk: int) -> Any:
        async with self.pool.connection() as conn:
            cur = await conn.execute(self.sql["get"], (pk,))
            r = await cur.fetchone()
        return Item(*r)  # type: ignore[misc]

    async def tp_close(self) -> None:
        await self.pool.close()


class PsqlpyRaw(Contender):
    """psqlpy (Rust, tokio): a single connection from psqlpy.connect; rows as tuples."""

    async def connect(self) -> None:
        import psqlpy

        self.psqlpy = psqlpy
        self.conn = await psqlpy.connect(dsn=self.url)

    async def close(self) -> None:
        self.conn.close()

    async def get_pk(self, pk: int) -> Any:
        rows = (await self.conn.execute(SQL.get, [pk])).result(as_tuple=True)
        return Item(*rows[0]) if rows else None

    async def insert(self, row: tuple[Any, ...]) -> int:
        return await self.conn.fetch_val(SQL.insert, list(row))  # type: ignore[no-any-return]

    async def update(self, pk: int, name: str, score: float) -> None:
        await self.conn.execute(SQL.update, [name, score, pk])

    async def delete(self, pk: int) -> None:
        await self.conn.execute(SQL.delete, [pk])

    async def select(self, n: int) -> list[Any]:
        rows = (await self.conn.execute(SQL.select, [n])).result(as_tuple=True)
        return [Item(*r) for r in rows]

    async def tuples(self, n: int) -> list[Any]:
        return (await self.conn.execute(SQL.select, [n])).result(as_tuple=True)

    async def page(self, min_age: int) -> list[Any]:
        rows = (await self.conn.execute(SQL.page, [min_age])).result(as_tuple=True)
        return [Item(*r) for r in rows]

    async def count(self, min_age: int) -> int:
        return await self.conn.fetch_val(SQL.count, [min_age])  # type: ignore[no-any-return]

    async def bulk(self, rows: list[tuple[Any, ...]]) -> list[int]:
        params = [v for row in rows for v in row]
        res = (await self.conn.execute(SQL.bulk(len(rows)), params)).result(as_tuple=True)
        return [r[0] for r in res]

    async def rmw(self, pk: int) -> None:
        async with self.conn.transaction() as tx:
            r = (await tx.execute(SQL.rmw_read_pg, [pk])).result(as_tuple=True)[0]
            await tx.execute(SQL.update, ["rmw", r[5] + 1.0, pk])

    async def selectin(self) -> list[Any]:
        rows = (await self.conn.execute(SQL.parents)).result(as_tuple=True)
        parents = [Parent(*r) for r in rows]
        ids = [p.id for p in parents]
        rows = (await self.conn.execute(SQL.children_pg, [ids])).result(as_tuple=True)
        return attach_children(parents, [Child(*r) for r in rows])

    async def tp_open(self, size: int) -> None:
        self.pool = self.psqlpy.ConnectionPool(dsn=self.url, max_db_pool_size=size)

    async def tp_get(self, pk: int) -> Any:
        async with self.pool.acquire() as conn:
            rows = (await conn.execute(SQL.get, [pk])).result(as_tuple=True)
        return Item(*rows[0])

    async def tp_close(self) -> None:
        self.pool.close()
