"""Models of the relationships suite (own registry; table names carry the process id)."""

from __future__ import annotations

import os

from ormkit import (
    ForeignKey,
    Mapped,
    SoftDeleteMixin,
    UniqueConstraint,
    mapped_column,
    relationship,
)
from ormkit.orm import Registry, declarative_base

S = f"_{os.getpid()}"

Base = declarative_base("RelBase", registry=Registry(track=False))


class Author(Base):
    __tablename__ = f"r_authors{S}"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]
    posts: Mapped[list[Post]] = relationship(back_populates="author", order_by="id")
    profile: Mapped[Profile | None] = relationship(back_populates="author", uselist=False)


class Profile(Base):
    __tablename__ = f"r_profiles{S}"

    id: Mapped[int] = mapped_column(primary_key=True)
    author_id: Mapped[int] = mapped_column(ForeignKey(f"r_authors{S}.id"), unique=True)
    bio: Mapped[str]
    author: Mapped[Author] = relationship(back_populates="profile")


class Post(Base):
    __tablename__ = f"r_posts{S}"

    id: Mapped[int] = mapped_column(primary_key=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey(f"r_authors{S}.id"))
    title: Mapped[str]
    author: Mapped[Author | None] = relationship(back_populates="posts")
    comments: Mapped[list[Comment]] = relationship(
        back_populates="post", cascade="all, delete-orphan", order_by="-id"
    )
    tags: Mapped[list[Tag]] = relationship(
        secondary=f"r_post_tags{S}", back_populates="posts", order_by="label"
    )


class Comment(Base):
    __tablename__ = f"r_comments{S}"

    id: Mapped[int] = mapped_column(primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey(f"r_posts{S}.id"))
    body: Mapped[str]
    post: Mapped[Post] = relationship(back_populates="comments")


class Tag(Base):
    __tablename__ = f"r_tags{S}"

    id: Mapped[int] = mapped_column(primary_key=True)
    label: Mapped[str] = mapped_column(unique=True)
    posts: Mapped[list[Post]] = relationship(secondary=f"r_post_tags{S}", back_populates="tags")


class PostTag(Base):
    __tablename__ = f"r_post_tags{S}"
    __primary_key__ = ("post_id", "tag_id")

    post_id: Mapped[int] = mapped_column(ForeignKey(f"r_posts{S}.id"))
    tag_id: Mapped[int] = mapped_column(ForeignKey(f"r_tags{S}.id"))


class Node(Base):
    __tablename__ = f"r_nodes{S}"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]
    parent_id: Mapped[int | None] = mapped_column(ForeignKey(f"r_nodes{S}.id"))
    parent: Mapped[Node | None] = relationship(back_populates="children")
    children: Mapped[list[Node]] = relationship(back_populates="parent", order_by="name")


class Shop(Base):
    """Relationship defaults: lazy="selectin" and lazy="joined"."""

    __tablename__ = f"r_shops{S}"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]
    items: Mapped[list[ShopItem]] = relationship(back_populates="shop", lazy="selectin")


class ShopItem(Base):
    __tablename__ = f"r_shop_items{S}"

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey(f"r_shops{S}.id"))
    name: Mapped[str]
    shop: Mapped[Shop] = relationship(back_populates="items", lazy="joined")


class Board(Base):
    """Deletes that cascade: to soft-delete children (and on to theirs), and through a
    foreign key that deletes by itself."""

    __tablename__ = f"r_boards{S}"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]
    notes: Mapped[list[Note]] = relationship(
        back_populates="board", cascade="all, delete-orphan", order_by="id"
    )
    stickers: Mapped[list[Sticker]] = relationship(cascade="all")


class Note(SoftDeleteMixin, Base):
    __tablename__ = f"r_notes{S}"

    id: Mapped[int] = mapped_column(primary_key=True)
    board_id: Mapped[int] = mapped_column(ForeignKey(f"r_boards{S}.id"))
    text: Mapped[str]
    board: Mapped[Board] = relationship(back_populates="notes")
    pins: Mapped[list[Pin]] = relationship(cascade="all")


class Pin(Base):
    __tablename__ = f"r_pins{S}"

    id: Mapped[int] = mapped_column(primary_key=True)
    note_id: Mapped[int] = mapped_column(ForeignKey(f"r_notes{S}.id"))


class Sticker(Base):
    __tablename__ = f"r_stickers{S}"

    id: Mapped[int] = mapped_column(primary_key=True)
    board_id: Mapped[int] = mapped_column(ForeignKey(f"r_boards{S}.id", ondelete="CASCADE"))


class Member(Base):
    """One-to-one children whose foreign key is unique: a badge (nullable key, set to NULL
    when replaced) and a card (not nullable, deleted when replaced: delete-orphan); and
    lockers, unique per member and room, through a collection without back_populates."""

    __tablename__ = f"r_members{S}"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]
    badge: Mapped[Badge | None] = relationship(back_populates="member", uselist=False)
    card: Mapped[Card | None] = relationship(
        back_populates="member", uselist=False, cascade="all, delete-orphan"
    )
    lockers: Mapped[list[Locker]] = relationship(order_by="id")
    desk: Mapped[Desk | None] = relationship(back_populates="member", uselist=False)


class Desk(Base):
    """A one-to-one child whose foreign key is not unique: only the ORM keeps one desk
    per member."""

    __tablename__ = f"r_desks{S}"

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int | None] = mapped_column(ForeignKey(f"r_members{S}.id"))
    room: Mapped[str]
    member: Mapped[Member | None] = relationship(back_populates="desk")


class Badge(Base):
    __tablename__ = f"r_badges{S}"

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int | None] = mapped_column(ForeignKey(f"r_members{S}.id"), unique=True)
    label: Mapped[str]
    member: Mapped[Member | None] = relationship(back_populates="badge")


class Card(Base):
    __tablename__ = f"r_cards{S}"

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey(f"r_members{S}.id"), unique=True)
    number: Mapped[str]
    member: Mapped[Member] = relationship(back_populates="card")


class Locker(Base):
    """A unique constraint over a foreign key and another column; no back_populates."""

    __tablename__ = f"r_lockers{S}"
    __table_args__ = (UniqueConstraint("member_id", "room"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    room: Mapped[str]
    member_id: Mapped[int | None] = mapped_column(ForeignKey(f"r_members{S}.id"))
    member: Mapped[Member | None] = relationship()


MODELS = [
    Author,
    Profile,
    Post,
    Comment,
    Tag,
    PostTag,
    Node,
    Shop,
    ShopItem,
    Board,
    Note,
    Pin,
    Sticker,
    Member,
    Badge,
    Card,
    Locker,
    Desk,
]
