"""Models of the session suite, in their own registry. Table names carry the process id
so that concurrent runs sharing the test PostgreSQL database never collide."""

from __future__ import annotations

import os
import uuid
from datetime import date
from decimal import Decimal
from typing import Any, ClassVar

from ormkit import JSON, ForeignKey, Mapped, SoftDeleteMixin, TimestampMixin, mapped_column
from ormkit.orm import Registry, declarative_base

S = f"_{os.getpid()}"

Base = declarative_base("SessionBase", registry=Registry(track=False))


class User(Base):
    __tablename__ = f"s_users{S}"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(max_length=50)
    email: Mapped[str] = mapped_column(unique=True)
    age: Mapped[int | None] = mapped_column(nullable=True)
    active: Mapped[bool] = mapped_column(default=True)
    meta: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    balance: Mapped[Decimal | None] = mapped_column(nullable=True)
    joined: Mapped[date | None] = mapped_column(nullable=True)
    status: Mapped[str | None] = mapped_column(server_default="new")


class Post(Base):
    __tablename__ = f"s_posts{S}"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey(f"s_users{S}.id"))
    title: Mapped[str]
    views: Mapped[int] = mapped_column(default=0)


class Doc(SoftDeleteMixin, Base):
    __tablename__ = f"s_docs{S}"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str]


class Stamped(TimestampMixin, Base):
    __tablename__ = f"s_stamped{S}"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]


class Account(Base):
    __tablename__ = f"s_accounts{S}"

    id: Mapped[int] = mapped_column(primary_key=True)
    owner: Mapped[str]
    balance: Mapped[int] = mapped_column(default=0)
    version: Mapped[int] = mapped_column(version=True)


class Setting(Base):
    __tablename__ = f"s_settings{S}"

    key: Mapped[str] = mapped_column(primary_key=True)
    value: Mapped[str]
    hits: Mapped[int] = mapped_column(default=0)


class Item(Base):
    __tablename__ = f"s_items{S}"

    id: Mapped[int] = mapped_column(primary_key=True)
    a: Mapped[int]
    b: Mapped[str]
    c: Mapped[float]
    d: Mapped[bool]
    e: Mapped[str | None] = mapped_column(nullable=True)
    f: Mapped[int | None] = mapped_column(nullable=True)


class Hooked(Base):
    __tablename__ = f"s_hooked{S}"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]

    calls: ClassVar[list[str]] = []

    def before_insert(self) -> None:
        Hooked.calls.append(f"before_insert:{self.name}")
        self.name = self.name.strip()

    async def after_insert(self) -> None:
        Hooked.calls.append(f"after_insert:{self.id}")

    def before_update(self) -> None:
        Hooked.calls.append("before_update")

    def after_update(self) -> None:
        Hooked.calls.append("after_update")

    def before_delete(self) -> None:
        Hooked.calls.append("before_delete")

    def after_delete(self) -> None:
        Hooked.calls.append("after_delete")


class Ticket(Base):
    """A key given by the client (a random UUID) beside a column the database fills."""

    __tablename__ = f"s_tickets{S}"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    title: Mapped[str]
    state: Mapped[str] = mapped_column(server_default="open")


MODELS = [User, Post, Doc, Stamped, Account, Setting, Item, Hooked, Ticket]
