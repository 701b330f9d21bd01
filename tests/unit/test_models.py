"""Declarative models: metadata, constructor, descriptors, relationships, converters."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from sample_models import (
    Category,
    Comment,
    Everything,
    Model,
    Order,
    Post,
    PostTag,
    Priority,
    Profile,
    Status,
    User,
)

from ormkit.errors import RelationshipNotLoaded
from ormkit.orm import (
    Base,
    ColumnInfo,
    Direction,
    ForeignKey,
    Mapped,
    Registry,
    declarative_base,
    default_table_name,
    mapped_column,
    primary_key_value,
    registered_models,
    relationship,
)
from ormkit.sql.expressions import Column, ColumnExpr


def private_base() -> Any:
    return declarative_base(registry=Registry(track=False))


@pytest.mark.parametrize(
    ("cls", "table"),
    [
        ("User", "users"),
        ("BookCategory", "book_categories"),
        ("Category", "categories"),
        ("Address", "addresses"),
        ("Box", "boxes"),
        ("Match", "matches"),
        ("Wish", "wishes"),
        ("Buzz", "buzzes"),
        ("Day", "days"),
        ("HTTPRequest", "http_requests"),
        ("OAuth2Token", "o_auth2_tokens"),
        ("Status", "statuses"),
    ],
)
def test_default_table_names(cls: str, table: str) -> None:
    assert default_table_name(cls) == table


def test_table_names_of_models() -> None:
    assert User.__tablename__ == "users"
    assert Category.__tablename__ == "categories"
    assert Profile.__tablename__ == "profiles"
    assert Order.__tablename__ == "order"


def test_column_metadata() -> None:
    cols = User.__columns__
    assert list(cols) == ["id", "name", "email", "age", "meta"]
    assert all(isinstance(c, ColumnInfo) for c in cols.values())
    assert cols["id"].primary_key and cols["id"].autoincrement and not cols["id"].nullable
    assert cols["name"].max_length == 100 and not cols["name"].nullable
    assert cols["email"].unique and cols["email"].index
    assert cols["age"].nullable and cols["age"].python_type is int
    assert cols["meta"].python_type is dict
    assert cols["name"].sql_type("postgresql") == "VARCHAR(100)"
    assert cols["age"].sql_type("sqlite") == "INTEGER"
    fk = Post.__columns__["author_id"].foreign_key
    assert fk is not None
    assert (fk.target, fk.table, fk.column, fk.ondelete) == ("users.id", "users", "id", "CASCADE")
    assert User.__primary_key__ == "id"
    assert PostTag.__primary_key__ == ("post_id", "tag_id")
    assert not PostTag.__columns__["post_id"].autoincrement
    assert Post.__version_column__ == "version"
    assert Post.__columns__["version"].default == 1


def test_mixin_columns_and_order() -> None:
    assert list(Post.__columns__)[:1] == ["id"]
    assert {"created_at", "updated_at"} <= set(Post.__columns__)
    assert Post.__columns__["created_at"].type.timezone
    assert Post.__columns__["updated_at"].onupdate is not None
    assert Comment.__columns__["deleted_at"].nullable
    assert Comment.__soft_delete_column__ == "deleted_at"


def test_column_names_differ_from_attributes() -> None:
    assert Order.__columns__["display_name"].name == "DisplayName"
    assert Order.__column_names__["DisplayName"] == "display_name"


def test_class_attributes_are_expressions() -> None:
    assert isinstance(User.name, Column)
    assert isinstance(User.age >= 18, ColumnExpr)
    assert repr(User.name) == "User.name"
    with pytest.raises(AttributeError):
        _ = User.nmae  # type: ignore[attr-defined]


def test_descriptor_reads_instance_dict() -> None:
    user = User.__new__(User)
    user.__dict__.update(id=1, name="Ann")
    assert user.name == "Ann"
    user.name = "Bob"
    assert user.__dict__["name"] == "Bob"
    with pytest.raises(AttributeError, match="email"):
        _ = user.email
    assert not hasattr(type(User.__dict__["name"]), "__set__")


def test_constructor_defaults_and_unknown_keyword() -> None:
    user = User(name="Ann", email="a@x")
    assert user.id is None and user.age is None
    assert user.meta == {}
    assert User(name="B", email="b").meta is not user.meta
    post = Post(title="t", author_id=1)
    assert post.version == 1
    assert post.created_at.tzinfo is not None
    assert Everything(i=1).id is not None
    assert isinstance(Everything(i=1).id, uuid.UUID)
    with pytest.raises(TypeError, match="'nmae'"):
        User(nmae="x")


def test_constructor_fills_every_column_in_order() -> None:
    user = User(email="e", meta=None, name="n")
    assert list(user.__dict__) == [*User.__columns__, "posts"]  # then empty collections
    assert user.posts == []
    assert user.meta is None  # given explicitly: the default is not applied
    assert user.to_dict() == {"id": None, "name": "n", "email": "e", "age": None, "meta": None}
    post = Post(title="t", author=User(id=2, name="a", email="e"))
    assert list(post.__dict__)[: len(Post.__columns__)] == list(Post.__columns__)
    assert post.author_id is None and post.version == 1


def test_constructor_accepts_relationships() -> None:
    user = User(id=1, name="a", email="e")
    post = Post(title="t", author=user)
    assert post.author is user


def test_to_dict_from_dict_repr_eq() -> None:
    user = User(id=1, name="Ann", email="a@x", age=3)
    assert user.to_dict() == {"id": 1, "name": "Ann", "email": "a@x", "age": 3, "meta": {}}
    copy = User.from_dict(user.to_dict())
    assert copy == user and hash(copy) == hash(user)
    assert repr(user) == "<User id=1>"
    assert User(id=2, name="x", email="y") != user
    assert repr(PostTag(post_id=1, tag_id=2)) == "<PostTag post_id=1 tag_id=2>"
    assert primary_key_value(PostTag(post_id=1, tag_id=2)) == (1, 2)
    unsaved_a, unsaved_b = User(name="a", email="b"), User(name="a", email="b")
    assert unsaved_a != unsaved_b and unsaved_a == unsaved_a
    assert len({unsaved_a, unsaved_b}) == 2
    with pytest.raises(TypeError):
        User.from_dict({"bogus": 1})


def test_to_dict_with_relationships() -> None:
    user = User(id=1, name="Ann", email="a")
    post = Post(id=5, title="t", author_id=1)
    user.__dict__["posts"] = [post]
    data = user.to_dict(include_relationships=True)
    assert data["posts"][0]["id"] == 5
    assert "profile" not in data  # not loaded
    post.__dict__["author"] = None
    assert post.to_dict(include_relationships=True)["author"] is None


def test_unloaded_relationship_raises() -> None:
    user = User.__new__(User)  # as a row from the database is made: no __init__
    user.__dict__.update(id=1, name="Ann", email="a")
    with pytest.raises(RelationshipNotLoaded, match="selectinload"):
        _ = user.posts
    assert not hasattr(user, "posts")  # RelationshipNotLoaded is an AttributeError
    user.__dict__["posts"] = []
    assert user.posts == []


def test_relationship_resolution() -> None:
    posts = User.__relationships__["posts"]
    assert posts.target is Post and posts.direction == Direction.ONE_TO_MANY
    assert posts.local_columns == ("id",) and posts.remote_columns == ("author_id",)
    assert posts.uselist and posts.back_populates == "author" and posts.lazy == "raise"
    assert [(o.expr, o.descending) for o in posts.order_by] == [(Post.id, True)]
    author = Post.__relationships__["author"]
    assert author.direction == "many_to_one" and not author.uselist
    assert author.local_columns == ("author_id",) and author.remote_columns == ("id",)
    profile = User.__relationships__["profile"]
    assert profile.direction == Direction.ONE_TO_ONE and not profile.uselist
    tags = Post.__relationships__["tags"]
    assert tags.direction == Direction.MANY_TO_MANY
    assert tags.secondary == "post_tags" and tags.secondary_model is PostTag
    assert tags.secondary_local_columns == ("post_id",)
    assert tags.secondary_remote_columns == ("tag_id",)
    assert Post.__relationships__["comments"].cascade >= {"delete", "save-update"}
    parent = Category.__relationships__["parent"]
    children = Category.__relationships__["children"]
    assert parent.direction == Direction.MANY_TO_ONE and parent.local_columns == ("parent_id",)
    assert children.direction == Direction.ONE_TO_MANY
    assert children.remote_columns == ("parent_id",)
    assert isinstance(Post.author.info.target, type)  # type: ignore[attr-defined]


def test_relationship_errors() -> None:
    B = private_base()

    class Person(B):
        id: Mapped[int] = mapped_column(primary_key=True)
        pets: Mapped[list[Pet]] = relationship()
        ghost: Mapped[Ghost] = relationship()  # type: ignore[name-defined]  # noqa: F821

    class Pet(B):
        id: Mapped[int] = mapped_column(primary_key=True)
        owner_id: Mapped[int] = mapped_column(ForeignKey("persons.id"))
        sitter_id: Mapped[int] = mapped_column(ForeignKey("persons.id"))
        owner: Mapped[list[Person]] = relationship()
        sitter: Mapped[Person] = relationship(foreign_key="sitter_id", back_populates="nope")

    with pytest.raises(ValueError, match="several foreign keys"):
        _ = Person.__relationships__["pets"].direction
    with pytest.raises(ValueError, match="Ghost"):
        _ = Person.__relationships__["ghost"].target
    with pytest.raises(ValueError, match="several foreign keys"):
        _ = Pet.__relationships__["owner"].direction
    with pytest.raises(ValueError, match="back_populates='nope'"):
        _ = Pet.__relationships__["sitter"].direction
    with pytest.raises(TypeError, match="back_populates"):
        relationship(Person)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="lazy"):
        relationship(lazy="eager")
    with pytest.raises(ValueError, match="cascade"):
        relationship(cascade="all, explode")


def test_converters() -> None:
    assert User.__ormkit_converters__("postgresql") is None
    assert User.__ormkit_converters__("sqlite") == (None, None, None, None, "json")
    names = ["id", "status", "priority", "aware", "b", "span", "amount"]
    assert Everything.__ormkit_converters__("sqlite", names) == (
        "uuid",
        Status,
        Priority,
        "datetime_tz",
        "bool",
        "timedelta",
        "decimal",
    )
    assert Everything.__ormkit_converters__("postgresql", names) == (
        None,
        Status,
        Priority,
        None,
        None,
        None,
        None,
    )
    assert Everything.__ormkit_converters__("sqlite", ["unknown_col"]) is None
    assert Everything.__ormkit_converters__("sqlite", names) is Everything.__ormkit_converters__(
        "sqlite", tuple(names)
    )


def test_insert_values() -> None:
    user = User(name="a", email="b")
    assert user.__ormkit_insert_values__() == {
        "name": "a",
        "email": "b",
        "age": None,
        "meta": {},
    }
    thing = Everything.__new__(Everything)
    thing.__dict__.update(i=1, b=None, note=None)
    values = thing.__ormkit_insert_values__()
    assert "b" not in values and "note" not in values and "created" not in values
    assert isinstance(values["id"], uuid.UUID)  # default applied to a missing value


def test_declaration_errors() -> None:
    B = private_base()
    with pytest.raises(TypeError, match="no primary key"):

        class NoKey(B):
            name: Mapped[str]

    with pytest.raises(TypeError, match="cannot be nullable"):

        class NullKey(B):
            id: Mapped[int] = mapped_column(primary_key=True, nullable=True)

    with pytest.raises(TypeError, match="version column must be an int"):

        class BadVersion(B):
            id: Mapped[int] = mapped_column(primary_key=True)
            v: Mapped[str] = mapped_column(version=True)

    with pytest.raises(TypeError, match="relationship"):

        class Forgot(B):
            id: Mapped[int] = mapped_column(primary_key=True)
            things: Mapped[list[Forgot]]

    with pytest.raises(TypeError, match="already used"):

        class Clash(B):
            __tablename__ = "dupes"
            id: Mapped[int] = mapped_column(primary_key=True)

        class Clash2(B):
            __tablename__ = "dupes"
            id: Mapped[int] = mapped_column(primary_key=True)

    class Parent(B):
        id: Mapped[int] = mapped_column(primary_key=True)

    with pytest.raises(TypeError, match="cannot be subclassed"):

        class Child(Parent):
            extra: Mapped[int]


def test_bare_annotations_implicit_id_and_abstract_bases() -> None:
    B = private_base()

    class Stamped(B):
        __abstract__ = True
        stamp: Mapped[datetime] = mapped_column(default=lambda: datetime(2020, 1, 1))

    class Thing(Stamped):
        id: Mapped[int]
        label: Mapped[str]
        count: int = 3

    assert Thing.__primary_key__ == "id" and Thing.__columns__["id"].autoincrement
    assert list(Thing.__columns__) == ["id", "stamp", "label", "count"]
    assert Thing(label="x").count == 3
    assert Thing(label="x").stamp == datetime(2020, 1, 1)
    assert B.__registry__.get("Thing") is Thing
    assert B.__registry__.by_table("things") is Thing
    assert "Stamped" not in [m.__name__ for m in B.__registry__.models]


def test_registries() -> None:
    assert Model.__registry__ is not Base.__registry__
    assert User not in registered_models()  # the sample registry is untracked
    tracked = declarative_base()

    class Tracked(tracked):
        __tablename__ = "tracked_things_for_test"
        id: Mapped[int] = mapped_column(primary_key=True)

    assert Tracked in registered_models()
    tracked.__registry__.clear()
    assert Tracked not in registered_models()


def test_timezone_column_from_option() -> None:
    B = private_base()

    class Event(B):
        id: Mapped[int] = mapped_column(primary_key=True)
        at: Mapped[datetime] = mapped_column(timezone=True, default=lambda: datetime.now(UTC))

    assert Event.__columns__["at"].sql_type("postgresql") == "TIMESTAMPTZ"
