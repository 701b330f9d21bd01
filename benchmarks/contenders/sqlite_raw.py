"""Raw SQLite: aiosqlite (a thread per connection, like most async SQLite) and stdlib
sqlite3 called synchronously on the loop thread (the floor: no async at all).

Hydration converts the storage forms a model user does not want (ISO text -> datetime,
0/1 -> bool), as ormkit's models and the ORMs do.
"""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
from typing import Any

from workloads import SQL, Child, Item, Parent, attach_children, sqlite_value

from .base import Contender

_fromiso = dt.datetime.fromisoformat

Q = {k: SQL.qmark(v) for k, v in vars(SQL).items() if isinstance(v, str)}


def _item(r: Any) -> Item:
    return Item(r[0], r[1], r[2], r[3], _fromiso(r[4]), r[5], bool(r[6]))


def _params(row: tuple[Any, ...]) -> list[Any]:
    return [sqlite_value(v) for v in row]


def _path(url: str) -> str:
    return url.removeprefix("sqlite:///")


class AiosqliteRaw(Contender):
    async def connect(self) -> None:
        import aiosqlite

        self.aiosqlite = aiosqlite
        self.db = await self._open()

    async def _open(self) -> Any:
        # What ormkit's engine does for a file database: WAL, synchronous=NORMAL.
        db = await self.aiosqlite.connect(_path(self.url), isolation_level=None)
        await db.execute("PRAGMA journal_mode=WAL")
        await db.execute("PRAGMA synchronous=NORMAL")
        return db

    async def close(self) -> None:
        await self.db.close()

    async def get_pk(self, pk: int) -> Any:
        rows = await self.db.execute_fetchall(Q["get"], (pk,))
        return _item(rows[0]) if rows else None

    async def insert(self, row: tuple[Any, ...]) -> int:
        rows = await self.db.execute_fetchall(Q["insert"], _params(row))
        return rows[0][0]  # type: ignore[no-any-return]

    async def update(self, pk: int, name: str, score: float) -> None:
        await self.db.execute(Q["update"], (name, score, pk))

    async def delete(self, pk: int) -> None:
        await self.db.execute(Q["delete"], (pk,))

    async def select(self, n: int) -> list[Any]:
        return [_item(r) for r in await self.db.execute_fetchall(Q["select"], (n,))]

    async def tuples(self, n: int) -> list[Any]:
        return list(await self.db.execute_fetchall(Q["select"], (n,)))

    async def page(self, min_age: int) -> list[Any]:
        return [_item(r) for r in await self.db.execute_fetchall(Q["page"], (min_age,))]

    async def count(self, min_age: int) -> int:
        rows = await self.db.execute_fetchall(Q["count"], (min_age,))
        return rows[0][0]  # type: ignore[no-any-return]

    async def bulk(self, rows: list[tuple[Any, ...]]) -> list[int]:
        params = [sqlite_value(v) for row in rows for v in row]
        db = self.db
        await db.execute("BEGIN")
        try:
            out = await db.execute_fetchall(SQL.bulk(len(rows), qmark=True), params)
            await db.execute("COMMIT")
        except BaseException:
            await db.execute("ROLLBACK")
            raise
        return [r[0] for r in out]

    async def rmw(self, pk: int) -> None:
        db = self.db
        await db.execute("BEGIN IMMEDIATE")
        try:
            r = (await db.execute_fetchall(Q["rmw_read_sqlite"], (pk,)))[0]
            await db.execute(Q["update"], ("rmw", r[5] + 1.0, pk))
            await db.execute("COMMIT")
        except BaseException:
            await db.execute("ROLLBACK")
            raise

    async def selectin(self) -> list[Any]:
        parents = [Parent(*r) for r in await self.db.execute_fetchall(Q["parents"])]
        ids = [p.id for p in parents]
        rows = await self.db.execute_fetchall(SQL.children_in(len(ids), qmark=True), ids)
        return attach_children(parents, [Child(*r) for r in rows])

    # Throughput: aiosqlite has no pool; this is a small FIFO one (a released connection
    # goes to the longest waiter; an asyncio.Queue would let the releasing task barge
    # ahead and starve the others).
    async def tp_open(self, size: int) -> None:
        self.free: collections.deque[Any] = collections.deque()
        self.waiters: collections.deque[asyncio.Future[Any]] = collections.deque()
        self.all = [await self._open() for _ in range(size)]
        self.free.extend(self.all)

    async def _acquire(self) -> Any:
        if self.free and not self.waiters:
            return self.free.popleft()
        fut = asyncio.get_running_loop().create_future()
        self.waiters.append(fut)
        return await fut

    def _release(self, db: Any) -> None:
        while self.waiters:
            w = self.waiters.popleft()
            if not w.done():
                w.set_result(db)
                return
        self.free.append(db)

    async def tp_get(self, pk: int) -> Any:
        db = await self._acquire()
        try:
            rows = await db.execute_fetchall(Q["get"], (pk,))
        finally:
            self._release(db)
        return _item(rows[0])

    async def tp_close(self) -> None:
        for db in self.all:
            await db.close()


class Sqlite3Raw(Contender):
    """Synchronous: the methods are plain functions (the worker does not await them)."""

    sync = True

    async def connect(self) -> None:
        import sqlite3

        self.db = sqlite3.connect(_path(self.url), isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")

    async def close(self) -> None:
        self.db.close()

    def get_pk(self, pk: int) -> Any:  # type: ignore[override]
        r = self.db.execute(Q["get"], (pk,)).fetchone()
        return None if r is None else _item(r)

    def insert(self, row: tuple[Any, ...]) -> int:  # type: ignore[override]
        return self.db.execute(Q["insert"], _params(row)).fetchone()[0]  # type: ignore[no-any-return]

    def update(self, pk: int, name: str, score: float) -> None:  # type: ignore[override]
        self.db.execute(Q["update"], (name, score, pk))

    def delete(self, pk: int) -> None:  # type: ignore[override]
        self.db.execute(Q["delete"], (pk,))

    def select(self, n: int) -> list[Any]:  # type: ignore[override]
        return [_item(r) for r in self.db.execute(Q["select"], (n,)).fetchall()]

    def tuples(self, n: int) -> list[Any]:  # type: ignore[override]
        return self.db.execute(Q["select"], (n,)).fetchall()

    def page(self, min_age: int) -> list[Any]:  # type: ignore[override]
        return [_item(r) for r in self.db.execute(Q["page"], (min_age,)).fetchall()]

    def count(self, min_age: int) -> int:  # type: ignore[override]
        return self.db.execute(Q["count"], (min_age,)).fetchone()[0]  # type: ignore[no-any-return]

    def bulk(self, rows: list[tuple[Any, ...]]) -> list[int]:  # type: ignore[override]
        params = [sqlite_value(v) for row in rows for v in row]
        db = self.db
        db.execute("BEGIN")
        try:
            out = db.execute(SQL.bulk(len(rows), qmark=True), params).fetchall()
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return [r[0] for r in out]

    def rmw(self, pk: int) -> None:  # type: ignore[override]
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            r = db.execute(Q["rmw_read_sqlite"], (pk,)).fetchone()
            db.execute(Q["update"], ("rmw", r[5] + 1.0, pk))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def selectin(self) -> list[Any]:  # type: ignore[override]
        parents = [Parent(*r) for r in self.db.execute(Q["parents"]).fetchall()]
        ids = [p.id for p in parents]
        rows = self.db.execute(SQL.children_in(len(ids), qmark=True), ids).fetchall()
        return attach_children(parents, [Child(*r) for r in rows])

    # Throughput: one connection, no concurrency (the worker runs it as a plain loop).
    async def tp_open(self, size: int) -> None:
        pass

    def tp_get(self, pk: int) -> Any:  # type: ignore[override]
        return self.get_pk(pk)
