"""Tortoise ORM over asyncpg (PostgreSQL) and aiosqlite (SQLite).

A pool of one connection for the latency figures. Bulk insert with ids: Tortoise's
`bulk_create` does not return generated primary keys (its documentation says so), so the
workload creates the objects one by one inside `in_transaction()`, which is what a
Tortoise user needing the ids writes.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from tortoise import fields
from tortoise.models import Model

from workloads import build_item

from .base import Contender


class TItem(Model):
    id = fields.IntField(primary_key=True)
    name = fields.TextField()
    email = fields.TextField()
    age = fields.IntField(null=True)
    created_at = fields.DatetimeField()
    score = fields.FloatField()
    active = fields.BooleanField()

    class Meta:
        table = "items"


class TItemW(Model):
    id = fields.IntField(primary_key=True)
    name = fields.TextField()
    email = fields.TextField()
    age = fields.IntField(null=True)
    created_at = fields.DatetimeField()
    score = fields.FloatField()
    active = fields.BooleanField()

    class Meta:
        table = "items_w"


class TParent(Model):
    id = fields.IntField(primary_key=True)
    name = fields.TextField()

    class Meta:
        table = "parents"


class TChild(Model):
    id = fields.IntField(primary_key=True)
    parent: fields.ForeignKeyRelation[TParent] = fields.ForeignKeyField(
        "models.TParent", related_name="children"
    )
    title = fields.TextField()

    class Meta:
        table = "children"


class _Tortoise(Contender):
    kind = "orm"
    for_update = True

    def _connection(self, size: int) -> dict[str, Any]:
        raise NotImplementedError

    async def _init(self, size: int) -> None:
        from tortoise import Tortoise

        self.ctx = await Tortoise.init(
            config={
                "connections": {"default": self._connection(size)},
                "apps": {"models": {"models": ["contenders.tortoise_orm"]}},
                "use_tz": False,
            },
            _enable_global_fallback=True,
        )

    async def connect(self) -> None:
        from tortoise.transactions import in_transaction

        self.in_transaction = in_transaction
        await self._init(1)

    async def close(self) -> None:
        from tortoise import Tortoise

        await Tortoise.close_connections()

    async def get_pk(self, pk: int) -> Any:
        return await TItem.get_or_none(id=pk)

    async def insert(self, row: tuple[Any, ...]) -> int:
        obj = await build_item(TItemW.create, row)
        return obj.id  # type: ignore[no-any-return]

    async def update(self, pk: int, name: str, score: float) -> None:
        await TItemW.filter(id=pk).update(name=name, score=score)

    async def delete(self, pk: int) -> None:
        await TItemW.filter(id=pk).delete()

    async def select(self, n: int) -> list[Any]:
        return await TItem.all().order_by("id").limit(n)

    async def tuples(self, n: int) -> list[Any]:
        return await TItem.all().order_by("id").limit(n).values_list(  # type: ignore[no-any-return]
            "id", "name", "email", "age", "created_at", "score", "active"
        )

    async def page(self, min_age: int) -> list[Any]:
        return await TItem.filter(age__gte=min_age).order_by("id").limit(20).offset(100)

    async def count(self, min_age: int) -> int:
        return await TItem.filter(age__gte=min_age).count()

    async def bulk(self, rows: list[tuple[Any, ...]]) -> list[int]:
        ids = []
        async with self.in_transaction():
            for r in rows:
                obj = await build_item(TItemW.create, r)
                ids.append(obj.id)
        return ids

    async def rmw(self, pk: int) -> None:
        async with self.in_transaction():
            q = TItemW.filter(id=pk)
            if self.for_update:
                q = q.select_for_update()
            obj = await q.get()
            obj.score = obj.score + 1.0
            obj.name = "rmw"
            await obj.save(update_fields=["score", "name"])

    async def selectin(self) -> list[Any]:
        # parent.children is a ReverseRelation, iterable once prefetched.
        return await TParent.all().order_by("id").limit(100).prefetch_related("children")

    async def tp_open(self, size: int) -> None:
        await self.close()
        await self._init(size)

    async def tp_get(self, pk: int) -> Any:
        return await TItem.get(id=pk)


class TortoisePg(_Tortoise):
    def _connection(self, size: int) -> dict[str, Any]:
        u = urlsplit(self.url)
        return {
            "engine": "tortoise.backends.asyncpg",
            "credentials": {
                "host": u.hostname, "port": u.port, "user": u.username,
                "password": u.password, "database": u.path.lstrip("/"),
                "minsize": size, "maxsize": size, "ssl": False,
            },
        }


class TortoiseSqlite(_Tortoise):
    for_update = False

    def _connection(self, size: int) -> dict[str, Any]:
        # WAL is Tortoise's default; synchronous=NORMAL as ormkit and the raw drivers.
        return {
            "engine": "tortoise.backends.sqlite",
            "credentials": {"file_path": self.url.removeprefix("sqlite:///"), "synchronous": "NORMAL"},
        }
