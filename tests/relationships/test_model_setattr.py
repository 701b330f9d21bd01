"""The ``__setattr__`` of a model with ``back_populates`` relationships (in Rust:
``_ormkit.model_setattr``): a relationship assignment keeps the other side in step, any
other attribute is stored as ``object.__setattr__`` stores it, and the method, the
class's slot and ``super().__setattr__`` all behave the same way."""

from __future__ import annotations

from typing import Any

import pytest
from rel_models import Author, Post

from ormkit import ForeignKey, Mapped, mapped_column, relationship
from ormkit.orm import Registry, declarative_base


def test_columns_are_stored_and_relationships_kept_in_step() -> None:
    ann, bob = Author(name="ann"), Author(name="bob")
    post = Post(title="t")
    post.title = "u"  # a column: stored as object.__setattr__ stores it
    post.author = ann  # a relationship: the other side follows
    assert post.title == "u" and post.__dict__["title"] == "u"
    assert ann.posts == [post]
    post.author = bob
    assert ann.posts == [] and bob.posts == [post]
    key = "author"
    setattr(post, key, None)  # the same through setattr()
    assert bob.posts == [] and post.author is None
    post.anything = 1  # not a column: stored like any attribute
    assert post.__dict__["anything"] == 1


def test_the_method_is_the_same_code() -> None:
    ann = Author(name="ann")
    post = Post(title="t")
    assert type(Post.__dict__["__setattr__"]).__name__ == "method_descriptor"
    Post.__setattr__(post, "author", ann)
    assert ann.posts == [post]
    Post.__setattr__(post, "title", "v")
    assert post.title == "v"
    object.__setattr__(post, "author", None)  # bypasses the hook, as loading does
    assert ann.posts == [post]


def test_deleting_goes_to_the_attribute_as_before() -> None:
    post = Post(title="t")
    del post.title
    assert "title" not in post.__dict__
    with pytest.raises(AttributeError):
        del post.title


def test_bad_names_arguments_and_values_raise_and_change_nothing() -> None:
    ann = Author(name="ann")
    post = Post(title="t", author=ann)
    with pytest.raises(TypeError, match="attribute name must be string, not 'int'"):
        Post.__setattr__(post, 5, 1)
    with pytest.raises(TypeError, match="expected 2 arguments, got 1"):
        Post.__setattr__(post, "title")  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="takes a Author or None"):
        post.author = "ann"  # type: ignore[assignment]
    with pytest.raises(TypeError, match="takes a list of Post objects"):
        ann.posts = "posts"  # type: ignore[assignment]
    assert post.author is ann and ann.posts == [post] and post.title == "t"


_base: Any = declarative_base("SetattrBase", registry=Registry(track=False))
_seen: list[tuple[str, Any]] = []


class _Plain(_base):
    __tablename__ = "setattr_plain"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]


class Owner(_base):
    __tablename__ = "setattr_owners"
    id: Mapped[int] = mapped_column(primary_key=True)
    pets: Mapped[list[Pet]] = relationship(back_populates="owner")


class Pet(_base):
    __tablename__ = "setattr_pets"
    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("setattr_owners.id"))
    name: Mapped[str]
    owner: Mapped[Owner | None] = relationship(back_populates="pets")

    def __setattr__(self, name: str, value: Any) -> None:
        _seen.append((name, value))
        super().__setattr__(name, value)


def test_a_model_of_its_own_setattr_and_a_reassigned_one() -> None:
    """Before ormkit's ``__setattr__`` was in Rust, a model defining its own had no
    hooks at all: ``pet.owner = owner`` left ``owner.pets`` as it was."""
    owner, pet = Owner(id=1), Pet(id=2, name="rex")
    _seen.clear()
    pet.owner = owner  # the class's own __setattr__, then (super) the base's store
    pet.name = "max"
    assert _seen == [("owner", owner), ("name", "max")]
    assert owner.pets == [pet] and pet.name == "max"

    hooked = Owner.__dict__["__setattr__"]
    calls: list[str] = []

    def replaced(self: Any, name: str, value: Any) -> None:
        calls.append(name)
        hooked(self, name, value)

    Owner.__setattr__ = replaced  # type: ignore[method-assign,assignment]
    try:
        owner.pets = []  # the reassigned one runs, and calls ours
        assert calls == ["pets"] and pet.owner is None
    finally:
        Owner.__setattr__ = hooked  # type: ignore[method-assign]
    owner.pets = [pet]
    assert calls == ["pets"] and pet.owner is owner


def test_a_model_without_hooks_stores_through_objects_slot() -> None:
    assert Owner.__setattr__ is not object.__setattr__  # hooked: ormkit's
    assert _Plain.__setattr__ is object.__setattr__
    plain = _Plain(id=1, name="a")
    plain.name = "b"
    assert plain.__dict__ == {"id": 1, "name": "b"}
