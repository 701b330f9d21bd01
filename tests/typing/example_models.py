"""Typed example checked by mypy (not run by pytest): models, expressions, statements.

``user.name`` is a ``str``; ``User.name`` is a column expression; comparisons build
boolean expressions that statements accept.
"""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal
from typing import Any, assert_type

from ormkit.orm import (
    JSON,
    Base,
    ForeignKey,
    Mapped,
    SoftDeleteMixin,
    TimestampMixin,
    mapped_column,
    relationship,
)
from ormkit.sql import Q, aliased, and_, exists, func, or_, select, update
from ormkit.sql.aliases import AliasedClass
from ormkit.sql.expressions import ColumnExpr, Function, OrderBy
from ormkit.sql.subqueries import Exists


class Status(enum.Enum):
    ACTIVE = "active"
    BANNED = "banned"


class TypedUser(TimestampMixin, Base):
    __tablename__ = "typed_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(max_length=100)
    age: Mapped[int | None] = mapped_column(nullable=True)
    balance: Mapped[Decimal] = mapped_column(precision=12, scale=2, default=Decimal(0))
    status: Mapped[Status] = mapped_column(default=Status.ACTIVE)
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    posts: Mapped[list[TypedPost]] = relationship(back_populates="author")


class TypedPost(SoftDeleteMixin, Base):
    __tablename__ = "typed_posts"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str]
    author_id: Mapped[int] = mapped_column(ForeignKey("typed_users.id"))
    author: Mapped[TypedUser] = relationship(back_populates="posts")


def instance_types(user: TypedUser, post: TypedPost) -> None:
    assert_type(user.name, str)
    assert_type(user.age, int | None)
    assert_type(user.balance, Decimal)
    assert_type(user.status, Status)
    assert_type(user.created_at, datetime)
    assert_type(post.deleted_at, datetime | None)
    assert_type(user.posts, list[TypedPost])
    assert_type(post.author, TypedUser)
    user.name = "Ann"
    user.age = None


def class_types() -> None:
    assert_type(TypedUser.name, ColumnExpr[str])
    assert_type(TypedUser.age, ColumnExpr[int | None])
    assert_type(TypedUser.name >= "A", ColumnExpr[bool])
    assert_type(TypedUser.name.like("A%"), ColumnExpr[bool])
    assert_type(TypedUser.id.in_([1, 2]), ColumnExpr[bool])
    assert_type(TypedUser.age.is_(None), ColumnExpr[bool])
    assert_type(TypedUser.name.desc(), OrderBy)
    cond = (TypedUser.age >= 18) & ~(TypedUser.name == "x") | TypedUser.id.between(1, 9)
    assert_type(cond, ColumnExpr[bool])
    both = and_(TypedUser.age > 1, or_(TypedUser.name.startswith("A"), Q(name="B")))
    stmt = select(TypedUser).where(both).filter(age__gte=18).order_by("-name").limit(10)
    sql, params = stmt.to_sql("postgresql")
    assert_type(sql, str)
    assert_type(params, list[Any])
    bump = update(TypedUser).values(age=TypedUser.age + 1).where(TypedUser.id == 1)
    assert_type(bump.to_sql("sqlite"), tuple[str, list[Any]])
    assert_type(func.count(TypedUser.id), Function)
    older = select(TypedUser.id).where(TypedUser.age > 60).exists()
    assert_type(~older, ColumnExpr[bool])
    select(TypedUser).where(older, or_(older, TypedUser.id == 1)).filter(Q(older))
    wrote = exists().where(TypedPost.author_id == TypedUser.id)
    assert_type(wrote, Exists)
    assert_type(~wrote, ColumnExpr[bool])
    select(TypedUser).where(wrote, exists(select(TypedPost.id)).where(TypedPost.title == "x"))
    other = aliased(TypedUser)
    assert_type(other, AliasedClass[TypedUser])
    select(TypedUser, other).join(other, TypedUser.age > other.age).where(other.name == "x")


def constructors() -> TypedUser:
    user = TypedUser(name="Ann", age=30)
    data = user.to_dict()
    assert_type(data, dict[str, Any])
    return user
