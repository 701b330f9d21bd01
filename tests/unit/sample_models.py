"""Models shared by the compile tests (a private registry: not seen by create_all)."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from ormkit.orm import (
    JSON,
    ForeignKey,
    Mapped,
    Registry,
    SoftDeleteMixin,
    TimestampMixin,
    declarative_base,
    mapped_column,
    relationship,
)
from ormkit.sql import text
from ormkit.types import DateTime, Numeric, String

Model = declarative_base("Model", registry=Registry(track=False))


class Status(enum.Enum):
    ACTIVE = "active"
    BANNED = "banned"


class Priority(enum.IntEnum):
    LOW = 1
    HIGH = 2


class User(Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(max_length=100)
    email: Mapped[str] = mapped_column(unique=True, index=True)
    age: Mapped[int | None]
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    posts: Mapped[list[Post]] = relationship(back_populates="author", order_by="-id")
    profile: Mapped[Profile | None] = relationship(uselist=False, back_populates="user")


class Profile(Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), unique=True)
    bio: Mapped[str] = mapped_column(default="")
    user: Mapped[User] = relationship(back_populates="profile")


class Post(TimestampMixin, Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(max_length=200)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(version=True)
    author: Mapped[User] = relationship(back_populates="posts")
    tags: Mapped[list[Tag]] = relationship(secondary="post_tags", back_populates="posts")
    comments: Mapped[list[Comment]] = relationship(back_populates="post", cascade="all")


class Tag(Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    label: Mapped[str] = mapped_column(unique=True)
    posts: Mapped[list[Post]] = relationship(secondary="post_tags", back_populates="tags")


class PostTag(Model):
    __tablename__ = "post_tags"
    __primary_key__ = ("post_id", "tag_id")

    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"))
    tag_id: Mapped[int] = mapped_column(ForeignKey("tags.id", ondelete="CASCADE"))
    post: Mapped[Post] = relationship()


class Comment(SoftDeleteMixin, Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id"))
    body: Mapped[str]
    post: Mapped[Post] = relationship(back_populates="comments")


class Category(Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("categories.id", ondelete="SET NULL"))
    parent: Mapped[Category | None] = relationship(back_populates="children")
    children: Mapped[list[Category]] = relationship(back_populates="parent")


class Order(Model):
    """Reserved and mixed-case names everywhere."""

    __tablename__ = "order"

    id: Mapped[int] = mapped_column(primary_key=True)
    user: Mapped[str] = mapped_column(name="user")
    group: Mapped[str | None]
    display_name: Mapped[str] = mapped_column(name="DisplayName")
    select_: Mapped[int] = mapped_column(name="select", default=0)


class Everything(Model):
    """One column of every supported type."""

    __tablename__ = "everything"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    i: Mapped[int]
    s: Mapped[str] = mapped_column(String(20))
    f: Mapped[float]
    b: Mapped[bool] = mapped_column(server_default=False)
    raw: Mapped[bytes | None]
    naive: Mapped[datetime]
    aware: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    day: Mapped[date]
    clock: Mapped[time]
    span: Mapped[timedelta]
    amount: Mapped[Decimal] = mapped_column(Numeric(10, 2))
    ident: Mapped[uuid.UUID]
    doc: Mapped[list[Any]] = mapped_column(JSON)
    status: Mapped[Status] = mapped_column(server_default="active")
    priority: Mapped[Priority | None]
    created: Mapped[datetime] = mapped_column(
        timezone=True, server_default=text("CURRENT_TIMESTAMP")
    )
    note: Mapped[str] = mapped_column(server_default="it's")
