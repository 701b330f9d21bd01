"""Quoted relationship annotations, every spelling a SQLAlchemy 2.0 user writes
(``Mapped["Author | None"]``, ``Mapped["list[Post]"]``, ``Mapped["Optional[X]"]``,
``Mapped[Optional["X"]]``, ...): what they resolve to (the same as the unquoted forms),
loading and writing through them on every backend, and the errors of annotations that
name no model or several."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, List, Optional, Union  # noqa: UP035

import pytest
from backends import ALL_BACKENDS, engine_with_tables
from quoted_models import Author, Note, Post, PostTag, Profile, Review, Tag
from quoted_reviewers import Reviewer

import ormkit
from ormkit import AsyncSession, ForeignKey, Mapped, joinedload, mapped_column, selectinload
from ormkit.orm import Direction, Registry, declarative_base, relationship

MODELS = [Author, Reviewer, Post, Profile, Review, Note, Tag, PostTag]
LOADERS = [selectinload, joinedload]


@pytest.fixture(params=ALL_BACKENDS)
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ormkit.Engine]:
    async with engine_with_tables(request, request.param, tmp_path, MODELS) as eng:
        yield eng


# -- resolution of the suite's models ---------------------------------------------------


@pytest.mark.parametrize(
    ("model", "key", "target", "direction", "uselist"),
    [
        (Author, "posts", Post, Direction.ONE_TO_MANY, True),  # "list[Post]"
        (Author, "profile", Profile, Direction.ONE_TO_ONE, False),  # "Profile | None"
        (Author, "reviews", Review, Direction.ONE_TO_MANY, True),  # "List[Review]"
        (Author, "notes", Note, Direction.ONE_TO_MANY, True),  # list["Note"]
        (Post, "author", Author, Direction.MANY_TO_ONE, False),  # "Author | None"
        (Post, "tags", Tag, Direction.MANY_TO_MANY, True),  # "list[Tag]"
        (Profile, "author", Author, Direction.MANY_TO_ONE, False),  # "Optional[Author]"
        (Review, "author", Author, Direction.MANY_TO_ONE, False),  # "None | Author"
        (Review, "reviewer", Reviewer, Direction.MANY_TO_ONE, False),  # other module
        (Note, "author", Author, Direction.MANY_TO_ONE, False),  # Optional["Author"]
        (Tag, "posts", Post, Direction.MANY_TO_MANY, True),  # List["Post"]
        (Reviewer, "reviews", Review, Direction.ONE_TO_MANY, True),  # 'Mapped["list[Review]"]'
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_quoted_annotations_resolve(
    model: Any, key: str, target: type, direction: Direction, uselist: bool
) -> None:
    rel = model.__relationships__[key]
    assert rel.target is target
    assert rel.direction == direction
    assert rel.uselist is uselist


# -- every spelling, as source text (from __future__) and as objects ------------------------


def _model(base: Any, name: str, module: str = __name__, **fields: tuple[Any, Any]) -> Any:
    """A model ``name`` of ``base`` declared in ``module``: ``field=(annotation, value)``
    (a str annotation is source text, as ``from __future__ import annotations`` keeps
    it); every model gets ``id`` as its primary key."""
    annotations = {"id": "Mapped[int]"} | {k: ann for k, (ann, _value) in fields.items()}
    namespace = {k: value for k, (_ann, value) in fields.items()}
    namespace |= {
        "__module__": module,
        "__annotations__": annotations,
        "id": mapped_column(primary_key=True),
    }
    return type(name, (base,), namespace)


def _family(
    children: Any, parent: Any, only: Any = None, module: str = __name__
) -> tuple[Any, Any]:
    """A fresh Parent (``children``, and ``only`` when given) and Child (``parent``, with
    the foreign key), declared in ``module`` with the given relationship annotations."""
    base: Any = declarative_base(registry=Registry(track=False))
    extra = {"only": (only, relationship())} if only is not None else {}
    parent_cls = _model(
        base, "Parent", module, children=(children, relationship(back_populates="parent")), **extra
    )
    child_cls = _model(
        base,
        "Child",
        module,
        parent_id=("Mapped[int | None]", mapped_column(ForeignKey("parents.id"))),
        parent=(parent, relationship(back_populates="children")),
    )
    return parent_cls, child_cls


COLLECTIONS: list[Any] = [
    'Mapped["list[Child]"]',
    'Mapped["List[Child]"]',
    'Mapped[list["Child"]]',
    'Mapped[List["Child"]]',
    "Mapped[list[Child]]",
    "Mapped[List[Child]]",
    'Mapped["typing.List[Child]"]',
    'Mapped["Sequence[Child]"]',
    Mapped["list[Child]"],
    Mapped["List[Child]"],
    Mapped[list["Child"]],  # noqa: F821
    Mapped[List["Child"]],  # noqa: F821, UP006
]

SCALARS: list[Any] = [
    'Mapped["Parent"]',
    'Mapped["Parent | None"]',
    'Mapped["None | Parent"]',
    'Mapped["Optional[Parent]"]',
    'Mapped["Union[Parent, None]"]',
    'Mapped[Optional["Parent"]]',
    "Mapped[Parent | None]",
    "Mapped[Parent]",
    Mapped["Parent"],
    Mapped["Parent | None"],
    Mapped["None | Parent"],
    Mapped["Optional[Parent]"],
    Mapped[Optional["Parent"]],  # noqa: F821
    Mapped[Union["Parent", None]],  # noqa: F821
]


def _id(value: Any) -> str:
    return (
        value if isinstance(value, str) else f"object:{value!r}".replace("ormkit.orm.fields.", "")
    )


@pytest.mark.parametrize("children", COLLECTIONS, ids=_id)
def test_collection_spellings(children: Any) -> None:
    parent, child = _family(children, "Mapped[Parent | None]")
    rel = parent.__relationships__["children"]
    assert rel.target is child and rel.uselist is True
    assert rel.direction == Direction.ONE_TO_MANY
    assert rel.local_columns == ("id",) and rel.remote_columns == ("parent_id",)


@pytest.mark.parametrize("parent_ann", SCALARS, ids=_id)
def test_scalar_spellings(parent_ann: Any) -> None:
    parent, child = _family("Mapped[list[Child]]", parent_ann)
    rel = child.__relationships__["parent"]
    assert rel.target is parent and rel.uselist is False
    assert rel.direction == Direction.MANY_TO_ONE
    assert rel.local_columns == ("parent_id",) and rel.remote_columns == ("id",)


@pytest.mark.parametrize(
    "only",
    ['Mapped["Child | None"]', 'Mapped["Optional[Child]"]', Mapped[Optional["Child"]]],  # noqa: F821
    ids=_id,
)
def test_scalar_without_the_foreign_key_is_one_to_one(only: Any) -> None:
    """As with ``Mapped[Child | None]``: a scalar annotation on the side without the
    foreign key makes a one-to-one (no ``uselist=False`` needed)."""
    parent, child = _family("Mapped[list[Child]]", "Mapped[Parent]", only=only)
    rel = parent.__relationships__["only"]
    assert rel.target is child and rel.uselist is False
    assert rel.direction == Direction.ONE_TO_ONE


def test_quoted_and_unquoted_agree() -> None:
    quoted = _family('Mapped["list[Child]"]', 'Mapped["Parent | None"]')
    plain = _family("Mapped[list[Child]]", "Mapped[Parent | None]")
    for (parent, child), key in ((quoted, "children"), (plain, "children")):
        assert parent.__relationships__[key].target is child
    for side, key in ((0, "children"), (1, "parent")):
        a = quoted[side].__relationships__[key]
        b = plain[side].__relationships__[key]
        assert (a.direction, a.uselist, a.local_columns, a.remote_columns) == (
            b.direction,
            b.uselist,
            b.local_columns,
            b.remote_columns,
        )


def test_target_keyword_takes_the_same_spellings() -> None:
    parent, _child = _family("Mapped[list[Child]]", "Mapped[Parent]")
    other = _model(
        parent.__mro__[1],
        "Other",
        parent_id=("Mapped[int]", mapped_column(ForeignKey("parents.id"))),
        p=("Mapped[Any]", relationship(target="Parent | None")),
    )
    rel = other.__relationships__["p"]
    assert rel.target is parent and rel.direction == Direction.MANY_TO_ONE


def test_target_keyword_with_an_annotation_naming_no_model() -> None:
    """With ``target=`` the annotation need not name a model, but a collection in it
    still makes the relationship a list."""
    base: Any = declarative_base(registry=Registry(track=False))
    parent = _model(base, "Parent", kids=('Mapped["list[Whatever]"]', relationship(target="Child")))
    child = _model(
        base, "Child", parent_id=("Mapped[int]", mapped_column(ForeignKey("parents.id")))
    )
    rel = parent.__relationships__["kids"]
    assert rel.target is child and rel.direction == Direction.ONE_TO_MANY and rel.uselist


# -- errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("annotation", "shown", "problem"),
    [
        ('Mapped["Ghost | None"]', 'Mapped["Ghost | None"]', "unknown model 'Ghost'"),
        ('Mapped["list[Ghost]"]', 'Mapped["list[Ghost]"]', "unknown model 'Ghost'"),
        ("Mapped[Ghost]", "Mapped[Ghost]", "unknown model 'Ghost'"),
        (Mapped["Ghost | None"], "Mapped['Ghost | None']", "unknown model 'Ghost'"),
        ('Mapped["Parent | Child"]', 'Mapped["Parent | Child"]', "union of Parent and Child"),
        ('Mapped["Parent | Child | None"]', "", "union of Parent and Child"),
        (
            'Mapped[Union["Parent", "Child"]]',
            'Mapped[Union["Parent", "Child"]]',
            "union of Parent and Child",
        ),
        (
            Mapped[Union["Parent", "Child"]],  # noqa: F821
            "Mapped['Parent' | 'Child']",
            "union of Parent and Child",
        ),
        ('Mapped["list[list[Parent]]"]', "", "a collection of collections"),
        ('Mapped["int"]', 'Mapped["int"]', "int is not a model"),
        ('Mapped["Optional[str]"]', "", "str is not a model"),
        ('Mapped["Parent["]', 'Mapped["Parent["]', "cannot evaluate"),
    ],
    ids=_id,
)
def test_annotations_naming_no_single_model(annotation: Any, shown: str, problem: str) -> None:
    parent, _child = _family("Mapped[list[Child]]", "Mapped[Parent]")
    bad = _model(
        parent.__mro__[1],
        "Bad",
        parent_id=("Mapped[int]", mapped_column(ForeignKey("parents.id"))),
        link=(annotation, relationship()),
    )
    with pytest.raises(ValueError, match=r"^relationship Bad\.link: ") as info:
        _ = bad.__relationships__["link"].target
    message = str(info.value)
    assert "annotation" in message and problem in message
    assert shown in message


def test_unknown_model_message_names_the_module() -> None:
    _parent, child = _family("Mapped[list[Child]]", 'Mapped["Parnet | None"]')
    with pytest.raises(ValueError) as info:
        _ = child.__relationships__["parent"].direction
    assert str(info.value) == (
        "relationship Child.parent: unknown model 'Parnet' in annotation "
        'Mapped["Parnet | None"]: no model of that name in the base\'s registry or the '
        f"module {__name__!r} (define it, import it, or pass target=)"
    )


@pytest.mark.parametrize(
    ("children", "parent_ann"),
    [
        ('Mapped["List[Child]"]', 'Mapped["Optional[Parent]"]'),
        ('Mapped["typing.List[Child]"]', 'Mapped["typing.Optional[Parent]"]'),
        ('Mapped[List["Child"]]', 'Mapped[Optional["Parent"]]'),
    ],
)
def test_typing_names_need_no_import(children: str, parent_ann: str) -> None:
    """``Optional``/``List`` (and ``typing.``) in an annotation work in a module that does
    not import them (quoted_reviewers imports neither ``typing`` nor its names)."""
    import quoted_reviewers

    assert not {"typing", "List", "Optional"} & set(vars(quoted_reviewers))
    parent, child = _family(children, parent_ann, module="quoted_reviewers")
    assert parent.__relationships__["children"].uselist is True
    assert child.__relationships__["parent"].target is parent
    assert child.__relationships__["parent"].uselist is False


# -- loading and writing on every backend -------------------------------------------------


@pytest.fixture
async def data(session: AsyncSession) -> dict[str, int]:
    """ann: posts p1 (tags a, b), p2; a profile; reviews 5 (by rex), 3; a note.
    bob: nothing. rex reviews one of ann's reviews."""
    rex = Reviewer(name="rex")
    a, b = Tag(label="a"), Tag(label="b")
    ann = Author(
        name="ann",
        posts=[Post(title="p1", tags=[b, a]), Post(title="p2")],
        profile=Profile(bio="ann's bio"),
        reviews=[Review(stars=5, reviewer=rex), Review(stars=3)],
        notes=[Note(text="n")],
    )
    bob = Author(name="bob")
    await session.insert_all([ann, bob])
    ids = {"ann": ann.id, "bob": bob.id, "rex": rex.id}
    session.expunge_all()
    return ids


@pytest.mark.parametrize("loader", LOADERS)
async def test_loading_every_quoted_relationship(
    session: AsyncSession, data: dict[str, int], loader: Any
) -> None:
    authors = (
        await session.query(Author)
        .options(loader("posts"), loader("profile"), loader("reviews"), loader("notes"))
        .order_by("name")
        .all()
    )
    ann, bob = authors
    assert [p.title for p in ann.posts] == ["p1", "p2"]
    assert ann.profile is not None and ann.profile.bio == "ann's bio"
    assert [r.stars for r in ann.reviews] == [5, 3]
    assert [n.text for n in ann.notes] == ["n"]
    assert ann.posts[0].author is ann and ann.profile.author is ann
    assert ann.reviews[0].author is ann and ann.notes[0].author is ann
    assert (bob.posts, bob.profile, bob.reviews, bob.notes) == ([], None, [], [])

    posts = await session.query(Post).options(loader("author"), loader("tags")).order_by("id").all()
    assert [p.author for p in posts] == [ann, ann]
    assert [[t.label for t in p.tags] for p in posts] == [["a", "b"], []]
    tags = await session.query(Tag).options(loader("posts")).order_by("label").all()
    assert [[p.title for p in t.posts] for t in tags] == [["p1"], ["p1"]]

    reviews = await session.query(Review).options(loader("reviewer")).order_by("id").all()
    assert [r.reviewer.name if r.reviewer else None for r in reviews] == ["rex", None]
    rex = await session.query(Reviewer).options(loader("reviews")).one()
    assert rex.id == data["rex"] and [r.stars for r in rex.reviews] == [5]
    assert rex.reviews[0] is reviews[0]


async def test_writing_through_quoted_relationships(
    session: AsyncSession, data: dict[str, int]
) -> None:
    post = await session.query(Post).filter(title="p2").options(selectinload("author")).one()
    bob = await session.query(Author).options(selectinload("notes")).filter(name="bob").one()
    post.author = bob
    bob.notes.append(Note(text="m"))
    await session.commit()
    session.expunge_all()
    bob = (
        await session.query(Author)
        .options(selectinload("posts"), selectinload("notes"))
        .filter(name="bob")
        .one()
    )
    assert [p.title for p in bob.posts] == ["p2"] and [n.text for n in bob.notes] == ["m"]
    assert await session.query(Post).filter(author__name="bob").count() == 1
    assert bob.id == data["bob"]
