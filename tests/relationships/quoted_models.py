"""Models whose relationship annotations are quoted in each way a SQLAlchemy 2.0 user
writes them. This module has no ``from __future__ import annotations``, so every quoted
part stays a forward reference until the relationship is resolved; ``Reviewer`` lives in
quoted_reviewers.py (registered with the same base), which this module never imports."""

import os
from typing import List, Optional  # noqa: UP035

from ormkit import ForeignKey, Mapped, mapped_column, relationship
from ormkit.orm import Registry, declarative_base

S = f"_{os.getpid()}"

QuotedBase = declarative_base("QuotedBase", registry=Registry(track=False))


class Author(QuotedBase):
    __tablename__ = f"q_authors{S}"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]
    posts: Mapped["list[Post]"] = relationship(back_populates="author", order_by="id")
    profile: Mapped["Profile | None"] = relationship(back_populates="author")
    reviews: Mapped["List[Review]"] = relationship(  # noqa: UP006
        back_populates="author", order_by="id"
    )
    notes: Mapped[list["Note"]] = relationship(back_populates="author", order_by="id")


class Post(QuotedBase):
    __tablename__ = f"q_posts{S}"

    id: Mapped[int] = mapped_column(primary_key=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey(f"q_authors{S}.id"))
    title: Mapped[str]
    author: Mapped["Author | None"] = relationship(back_populates="posts")
    tags: Mapped["list[Tag]"] = relationship(
        secondary=f"q_post_tags{S}", back_populates="posts", order_by="label"
    )


class Profile(QuotedBase):
    __tablename__ = f"q_profiles{S}"

    id: Mapped[int] = mapped_column(primary_key=True)
    author_id: Mapped[int] = mapped_column(ForeignKey(f"q_authors{S}.id"), unique=True)
    bio: Mapped[str]
    author: Mapped["Optional[Author]"] = relationship(back_populates="profile")  # noqa: UP045


class Review(QuotedBase):
    __tablename__ = f"q_reviews{S}"

    id: Mapped[int] = mapped_column(primary_key=True)
    author_id: Mapped[int] = mapped_column(ForeignKey(f"q_authors{S}.id"))
    reviewer_id: Mapped[int | None] = mapped_column(ForeignKey(f"q_reviewers{S}.id"))
    stars: Mapped[int]
    author: Mapped["None | Author"] = relationship(back_populates="reviews")  # noqa: RUF036
    reviewer: Mapped["Reviewer | None"] = relationship(back_populates="reviews")  # noqa: F821


class Note(QuotedBase):
    __tablename__ = f"q_notes{S}"

    id: Mapped[int] = mapped_column(primary_key=True)
    author_id: Mapped[int] = mapped_column(ForeignKey(f"q_authors{S}.id"))
    text: Mapped[str]
    author: Mapped[Optional["Author"]] = relationship(back_populates="notes")


class Tag(QuotedBase):
    __tablename__ = f"q_tags{S}"

    id: Mapped[int] = mapped_column(primary_key=True)
    label: Mapped[str]
    posts: Mapped[List["Post"]] = relationship(  # noqa: UP006
        secondary=f"q_post_tags{S}", back_populates="tags", order_by="id"
    )


class PostTag(QuotedBase):
    __tablename__ = f"q_post_tags{S}"
    __primary_key__ = ("post_id", "tag_id")

    post_id: Mapped[int] = mapped_column(ForeignKey(f"q_posts{S}.id"))
    tag_id: Mapped[int] = mapped_column(ForeignKey(f"q_tags{S}.id"))
