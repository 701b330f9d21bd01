"""Loading relationships: every kind with every loader, nested, empty, NULL, self-referential;
query counts through engine.events; RelationshipNotLoaded instead of hidden queries."""

from __future__ import annotations

import pytest
from rel_models import Author, Board, Comment, Node, Note, Post, Profile, Shop, ShopItem, Tag
from statement_log import SqlLog

import ormkit
from ormkit import (
    AsyncSession,
    RelationshipNotLoaded,
    joinedload,
    lazyload,
    noload,
    select,
    selectinload,
)

LOADERS = [selectinload, joinedload]


@pytest.fixture
async def blog(session: AsyncSession) -> dict[str, int]:
    """ann: two posts (p1 with two comments and tags a, b; p2 with none); bob: no posts,
    a profile; an orphan post without author, tagged b; tag c unused."""
    a, b, c = Tag(label="a"), Tag(label="b"), Tag(label="c")
    ann = Author(
        name="ann",
        posts=[
            Post(title="p1", comments=[Comment(body="c1"), Comment(body="c2")], tags=[b, a]),
            Post(title="p2"),
        ],
    )
    bob = Author(name="bob", profile=Profile(bio="bob's bio"))
    await session.insert_all([ann, bob])
    # made now: made before, it would be in b.posts (back_populates) and inserted with ann
    orphan = Post(title="orphan", tags=[b])
    await session.insert_all([orphan, c])
    ids = {"ann": ann.id, "bob": bob.id, "orphan": orphan.id}
    session.expunge_all()
    return ids


@pytest.mark.parametrize("loader", LOADERS)
async def test_many_to_one(session: AsyncSession, blog: dict[str, int], loader: object) -> None:
    posts = await session.query(Post).options(loader("author")).order_by("id").all()  # type: ignore[operator]
    assert [p.author.name if p.author else None for p in posts] == ["ann", "ann", None]
    assert posts[0].author is posts[1].author  # one object per row
    assert posts[2].author_id is None


@pytest.mark.parametrize("loader", LOADERS)
async def test_one_to_many_and_empty(
    session: AsyncSession, blog: dict[str, int], loader: object
) -> None:
    authors = await session.query(Author).options(loader("posts")).order_by("name").all()  # type: ignore[operator]
    ann, bob = authors
    assert [p.title for p in ann.posts] == ["p1", "p2"]  # order_by="id"
    assert bob.posts == []
    assert ann.posts[0].author is ann  # back_populates filled without a query


@pytest.mark.parametrize("loader", LOADERS)
async def test_one_to_one_both_sides(
    session: AsyncSession, blog: dict[str, int], loader: object
) -> None:
    authors = await session.query(Author).options(loader("profile")).order_by("name").all()  # type: ignore[operator]
    assert authors[0].profile is None
    assert authors[1].profile.bio == "bob's bio"
    assert authors[1].profile.author is authors[1]
    profile = await session.query(Profile).options(loader("author")).one()  # type: ignore[operator]
    assert profile.author is authors[1]


@pytest.mark.parametrize("loader", LOADERS)
async def test_many_to_many_both_sides(
    session: AsyncSession, blog: dict[str, int], loader: object
) -> None:
    posts = await session.query(Post).options(loader("tags")).order_by("id").all()  # type: ignore[operator]
    assert [[t.label for t in p.tags] for p in posts] == [["a", "b"], [], ["b"]]
    tags = await session.query(Tag).options(loader("posts")).order_by("label").all()  # type: ignore[operator]
    assert [sorted(p.title for p in t.posts) for t in tags] == [["p1"], ["orphan", "p1"], []]
    assert tags[1] is posts[0].tags[1]


@pytest.mark.parametrize(
    "options",
    [
        [selectinload("posts.comments")],
        [joinedload("posts.comments")],
        [selectinload("posts").joinedload("comments")],
        [joinedload("posts").selectinload("comments")],
        [joinedload("posts"), selectinload("posts.comments"), joinedload("posts.tags")],
        [selectinload(Author.posts).selectinload(Post.comments)],  # SQLAlchemy's spelling
    ],
    ids=["selectin", "joined", "selectin-joined", "joined-selectin", "mixed", "attributes"],
)
async def test_nested_two_levels(
    session: AsyncSession, blog: dict[str, int], options: list[object]
) -> None:
    authors = await session.query(Author).options(*options).order_by("name").all()
    ann, bob = authors
    assert [[c.body for c in p.comments] for p in ann.posts] == [["c2", "c1"], []]
    assert bob.posts == []
    if len(options) == 3:
        assert [t.label for t in ann.posts[0].tags] == ["a", "b"]


def test_a_loader_option_names_what_it_takes() -> None:
    assert selectinload(Author.posts).path == ("posts",)
    assert joinedload(Author.posts).joinedload(Post.tags).path == ("posts", "tags")
    with pytest.raises(TypeError, match=r"a path such as 'posts'.*Author\.posts"):
        selectinload(Author.name)  # type: ignore[arg-type]  # a column, not a relationship


@pytest.mark.parametrize("loader", LOADERS)
async def test_self_referential_tree(session: AsyncSession, loader: object) -> None:
    root = Node(
        name="root",
        children=[Node(name="b", children=[Node(name="b1")]), Node(name="a", children=[])],
    )
    await session.insert(root)
    session.expunge_all()
    (top,) = await (
        session.query(Node)
        .filter(parent_id__isnull=True)
        .options(loader("children.children"), loader("parent"))  # type: ignore[operator]
        .all()
    )
    assert top.parent is None
    assert [n.name for n in top.children] == ["a", "b"]  # order_by="name"
    assert [n.name for n in top.children[1].children] == ["b1"]
    assert top.children[0].children == []
    assert top.children[1].parent is top
    leaf = await session.query(Node).filter(name="b1").options(loader("parent.parent")).one()  # type: ignore[operator]
    assert leaf.parent is top.children[1] and leaf.parent.parent is top


async def test_not_loaded_raises_and_names_the_fix(
    session: AsyncSession, blog: dict[str, int], queries: SqlLog
) -> None:
    post = await session.query(Post).filter(title="p1").one()
    queries.clear()
    with pytest.raises(RelationshipNotLoaded, match=r"Post\.author.*selectinload\('author'\)"):
        _ = post.author
    with pytest.raises(RelationshipNotLoaded, match="load_related"):
        _ = post.comments
    assert len(queries) == 0  # never a hidden query
    await session.load_related(post, "author", "comments", "tags.posts")
    assert post.author.name == "ann" and [c.body for c in post.comments] == ["c2", "c1"]
    assert [t.label for t in post.tags] == ["a", "b"]
    assert {p.title for p in post.tags[1].posts} == {"p1", "orphan"}
    assert len(queries) == 4
    with pytest.raises(ValueError, match="nope"):
        await session.load_related(post, "nope")


async def test_noload_and_lazyload(session: AsyncSession, blog: dict[str, int]) -> None:
    authors = await session.query(Author).options(noload("posts"), noload("profile")).all()
    assert all(a.posts == [] and a.profile is None for a in authors)
    posts = await session.query(Post).options(lazyload("comments")).all()
    with pytest.raises(RelationshipNotLoaded):
        _ = posts[0].comments
    await session.load_related(posts, "comments")
    assert sum(len(p.comments) for p in posts) == 2


async def test_relationship_defaults(session: AsyncSession, queries: SqlLog) -> None:
    shop = Shop(name="s", items=[ShopItem(name="i1"), ShopItem(name="i2")])
    await session.insert_all([shop, Shop(name="empty")])
    session.expunge_all()
    queries.clear()
    shops = await session.query(Shop).order_by("id").all()  # lazy="selectin"
    assert [i.name for i in shops[0].items] == ["i1", "i2"] and shops[1].items == []
    assert len(queries) == 2
    session.expunge_all()
    queries.clear()
    item = await session.query(ShopItem).filter(name="i2").one()  # lazy="joined"
    assert item.shop.name == "s" and len(queries) <= 2
    session.expunge_all()
    queries.clear()
    shops = await session.query(Shop).options(lazyload("items")).all()
    with pytest.raises(RelationshipNotLoaded):
        _ = shops[0].items
    assert len(queries) == 1


async def make_tree(session: AsyncSession, parents: int) -> None:
    authors = [
        Author(
            name=f"a{i}",
            posts=[Post(title=f"p{i}-{j}", comments=[Comment(body="x")]) for j in range(2)],
        )
        for i in range(parents)
    ]
    await session.insert_all(authors)
    session.expunge_all()


@pytest.mark.parametrize("parents", [10, 1000])
async def test_query_counts(session: AsyncSession, queries: SqlLog, parents: int) -> None:
    await make_tree(session, parents)
    queries.clear()
    authors = await session.query(Author).options(selectinload("posts.comments")).all()
    assert len(authors) == parents
    assert all(len(a.posts) == 2 and len(a.posts[0].comments) == 1 for a in authors)
    assert len(queries) == 3
    session.expunge_all()
    queries.clear()
    authors = await session.query(Author).options(joinedload("posts.comments")).all()
    assert len(authors) == parents
    assert all(len(a.posts) == 2 and len(a.posts[1].comments) == 1 for a in authors)
    assert len(queries) == 1


async def test_in_lists_are_chunked(
    session: AsyncSession, queries: SqlLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    await make_tree(session, 120)
    dialect = ormkit.dialects.get_dialect(session.dialect)
    monkeypatch.setattr(dialect, "max_params", 150)  # 50 keys per IN list
    queries.clear()
    authors = await session.query(Author).options(selectinload("posts")).all()
    assert all(len(a.posts) == 2 for a in authors)
    assert all(p.author is a for a in authors for p in a.posts)  # every chunk linked back
    assert len(queries) == 1 + 3


async def test_joinedload_with_limit_counts_parents(
    session: AsyncSession, blog: dict[str, int], queries: SqlLog
) -> None:
    queries.clear()
    first = await session.query(Author).options(joinedload("posts")).order_by("name").first()
    assert first is not None and first.name == "ann" and len(first.posts) == 2
    page = await session.query(Author).options(joinedload("posts")).order_by("name").limit(2).all()
    assert [a.name for a in page] == ["ann", "bob"]
    assert len(queries) == 2


async def test_lookups_across_relationships(session: AsyncSession, blog: dict[str, int]) -> None:
    titles = await session.query(Post).filter(author__name="ann").order_by("title").all()
    assert [p.title for p in titles] == ["p1", "p2"]
    tagged = await session.query(Post).filter(tags__label__in=["a", "b"]).order_by("id").all()
    assert [p.title for p in tagged] == ["p1", "orphan"]  # p1 once, although two tags match
    assert await session.query(Post).filter(tags__label__in=["a", "b"]).count() == 2
    authors = await session.query(Author).filter(posts__comments__body="c1").all()
    assert [a.name for a in authors] == ["ann"]
    assert await session.query(Author).filter(posts__title__startswith="p").count() == 1
    with pytest.raises(ValueError, match="nope"):
        await session.query(Post).filter(author__nope="x").all()


async def test_execute_select_applies_defaults(session: AsyncSession) -> None:
    await session.insert(Shop(name="s", items=[ShopItem(name="i")]))
    session.expunge_all()
    shops = (await session.execute(select(Shop))).scalars().all()
    assert [i.name for i in shops[0].items] == ["i"]


async def test_options_are_checked(session: AsyncSession) -> None:
    with pytest.raises(ValueError, match="unknown relationship 'nope'"):
        session.query(Author).options(selectinload("posts.nope"))
    with pytest.raises(TypeError):
        session.query(Author).options("posts")


async def test_joined_loading_leaves_soft_deleted_rows_out_as_selectin_does(
    session: AsyncSession,
) -> None:
    """A ``SoftDeleteMixin`` model's soft-deleted related rows are left out by every
    loader: ``joinedload`` puts the condition in the join's ON, so a parent whose
    related rows are all soft-deleted is still returned, with an empty collection."""
    full = Board(name="full", notes=[Note(text="a"), Note(text="b"), Note(text="c")])
    empty = Board(name="empty", notes=[Note(text="gone")])
    await session.insert_all([full, empty])
    await session.soft_delete(full.notes[1])
    await session.soft_delete(empty.notes[0])
    session.expunge_all()
    for option in (selectinload("notes"), joinedload("notes")):
        boards = await session.query(Board).options(option).order_by("id").all()
        assert [[n.text for n in b.notes] for b in boards] == [["a", "c"], []], option
        session.expunge_all()
