"""``Base.__init__``: the Rust path (column keywords only) against the Python one.

The constructor is a method descriptor made by ``_ormkit.model_init``. A call whose
keywords are all column keys is handled in Rust; any other call goes unchanged to
``Base._ormkit_init_general``. Both must give the same instance, and every error must
be the Python one.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sample_models import Everything, Order, Post, User

from ormkit import JSON
from ormkit._ormkit import install_init
from ormkit.orm import Base, Mapped, Registry, declarative_base, mapped_column


def general(cls: type[Any], *args: Any, **kwargs: Any) -> Any:
    """An instance built by the Python implementation alone."""
    obj = cls.__new__(cls)
    Base._ormkit_init_general(obj, *args, **kwargs)
    return obj


def test_constructor_is_the_rust_method() -> None:
    init = Base.__dict__["__init__"]
    assert type(init).__name__ == "method_descriptor"
    assert User.__init__ is init
    assert "column" in (init.__doc__ or "")


def test_same_instance_as_the_python_path() -> None:
    kwargs = {"name": "n", "email": "e", "age": 3}
    fast, slow = User(**kwargs), general(User, **kwargs)
    assert list(fast.__dict__.items()) == list(slow.__dict__.items())
    assert fast.meta == {} and fast.meta is not User(**kwargs).meta  # a fresh default each


ALL_KEYS = list(Order.__columns__)


@given(
    st.dictionaries(
        st.sampled_from(ALL_KEYS),
        st.one_of(st.none(), st.integers(), st.text(max_size=5)),
    )
)
def test_any_subset_of_columns_in_any_order(kwargs: dict[str, Any]) -> None:
    # Order has a column with a default (select_) and reserved names
    fast, slow = Order(**kwargs), general(Order, **kwargs)
    assert list(fast.__dict__.items()) == list(slow.__dict__.items())
    assert list(fast.__dict__) == ALL_KEYS


def test_keywords_that_are_not_the_interned_names() -> None:
    # names built at run time: equal to the column keys, not the same objects
    name, email = "".join(["na", "me"]), "".join(["em", "ail"])
    user = User(**{name: "n", email: "e"})
    assert user.to_dict() == {"id": None, "name": "n", "email": "e", "age": None, "meta": {}}
    typo = "".join(["nm", "ae"])
    with pytest.raises(TypeError, match="unexpected keyword argument 'nmae'"):
        User(**{typo: "x", email: "e"})


def test_positional_arguments_get_the_python_error() -> None:
    with pytest.raises(TypeError, match="positional argument"):
        User("Ann")  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="positional argument"):
        User("Ann", email="e")  # type: ignore[call-arg]


def test_relationships_and_properties_take_the_python_path() -> None:
    author = User(id=1, name="a", email="e")
    post = Post(title="t", author=author)
    assert post.author is author and post.author_id is None and post.version == 1

    base: Any = declarative_base(registry=Registry(track=False))

    class Person(base):
        __tablename__ = "people"
        id: Mapped[int] = mapped_column(primary_key=True)
        first: Mapped[str]
        last: Mapped[str]

        @property
        def full(self) -> str:
            return f"{self.first} {self.last}"

        @full.setter
        def full(self, value: str) -> None:
            self.first, self.last = value.split(" ", 1)

    person = Person(id=1, full="Ada Lovelace")
    assert (person.first, person.last) == ("Ada", "Lovelace")


def test_own_init_calling_super() -> None:
    base: Any = declarative_base(registry=Registry(track=False))

    class Note(base):
        __tablename__ = "notes"
        id: Mapped[int] = mapped_column(primary_key=True)
        body: Mapped[str]
        words: Mapped[int] = mapped_column(default=0)

        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.words = len(self.body.split())

    note = Note(body="two words")
    assert note.words == 2 and note.id is None
    assert not install_init(Note)  # its own __init__: left alone


def test_a_failing_default_factory_raises_its_error() -> None:
    base: Any = declarative_base(registry=Registry(track=False))

    def broken() -> int:
        raise RuntimeError("no value today")

    class Thing(base):
        __tablename__ = "things"
        id: Mapped[int] = mapped_column(primary_key=True)
        n: Mapped[int] = mapped_column(default=broken)

    with pytest.raises(RuntimeError, match="no value today"):
        Thing(id=1)
    assert Thing(id=1, n=5).n == 5  # given: the factory is not called


def test_nested_containers_of_a_default_are_each_instances_own() -> None:
    base: Any = declarative_base(registry=Registry(track=False))

    class Doc(base):
        __tablename__ = "docs"
        id: Mapped[int] = mapped_column(primary_key=True)
        meta: Mapped[dict[str, Any]] = mapped_column(JSON, default={"tags": [], "by": {}})

    a, b = Doc(), Doc()
    a.meta["tags"].append("x")
    a.meta["by"]["k"] = 1
    assert b.meta == {"tags": [], "by": {}}
    assert Doc.__columns__["meta"].default == {"tags": [], "by": {}}


def test_wide_model() -> None:
    # more columns than the Rust path keeps on its stack
    base: Any = declarative_base(registry=Registry(track=False))
    annotations = {f"c{i}": Mapped[int | None] for i in range(40)}
    namespace: dict[str, Any] = {
        "__tablename__": "wide",
        "__annotations__": {"id": Mapped[int], **annotations},
        "id": mapped_column(primary_key=True),
    }
    Wide = type(base)("Wide", (base,), namespace)
    kwargs = {f"c{i}": i for i in range(0, 40, 3)}
    fast, slow = Wide(id=7, **kwargs), general(Wide, id=7, **kwargs)
    assert list(fast.__dict__.items()) == list(slow.__dict__.items())
    assert fast.c3 == 3 and fast.c4 is None and len(fast.__dict__) == 41


def test_every_type_and_defaults() -> None:
    thing = Everything(i=1, s="x")
    assert thing.id is not None and thing.b is None and thing.i == 1
    assert list(thing.__dict__) == list(Everything.__columns__)


def test_calling_a_model_class_runs_the_fast_path_as_its_slot() -> None:
    """The metaclass installs the fast path as each model class's ``tp_init``; the
    interpreter's own slot update takes over when ``__init__`` is assigned later."""
    base: Any = declarative_base(registry=Registry(track=False))

    class Tag(base):
        __tablename__ = "tags"
        id: Mapped[int] = mapped_column(primary_key=True)
        label: Mapped[str]
        uses: Mapped[int] = mapped_column(default=0)

    assert install_init(Tag)  # already installed by the metaclass: installed again
    expected = {"id": None, "label": "x", "uses": 0}
    assert Tag(label="x").__dict__ == expected
    assert Tag(**{"label": "x"}).__dict__ == expected
    by_method = Tag.__new__(Tag)
    Base.__init__(by_method, label="x")  # the method itself (vectorcall)
    assert by_method.__dict__ == expected
    with pytest.raises(TypeError, match="unexpected keyword argument 'nope'"):
        Tag(label="x", nope=1)
    with pytest.raises(TypeError, match="positional argument"):
        Tag("x")

    def custom(self: Any, **kwargs: Any) -> None:
        Base.__init__(self, **kwargs)
        self.uses = 5

    Tag.__init__ = custom  # type: ignore[method-assign]
    assert Tag(label="y").uses == 5
    del Tag.__init__
    assert Tag(label="y").uses == 0
    assert install_init(Tag) and Tag(label="z").__dict__ == {**expected, "label": "z"}


def test_calling_a_model_class_is_its_own_vectorcall() -> None:
    """A model class call goes straight to the fast path (no keyword dict); what the
    class's slots say since — a ``__new__`` or ``__init__`` assigned later, positional
    arguments — is honoured as a plain ``type.__call__`` would."""
    base: Any = declarative_base(registry=Registry(track=False))

    class Tag(base):
        __tablename__ = "tags"
        id: Mapped[int] = mapped_column(primary_key=True)
        label: Mapped[str]
        uses: Mapped[int] = mapped_column(default=0)

    expected = {"id": None, "label": "x", "uses": 0}
    assert type(base).__flags__ & (1 << 11)  # Py_TPFLAGS_HAVE_VECTORCALL on the metaclass
    assert Tag(label="x").__dict__ == expected
    assert Tag().__dict__ == {**expected, "label": None}
    assert Tag(**{"label": "x"}).__dict__ == expected
    assert type.__call__(Tag, label="x").__dict__ == expected
    made: list[Any] = []

    def new(cls: type, *args: Any, **kwargs: Any) -> Any:
        made.append((args, kwargs))
        return object.__new__(cls)

    Tag.__new__ = new  # type: ignore[method-assign,assignment]
    assert Tag(label="n").__dict__ == {**expected, "label": "n"}
    assert made == [((), {"label": "n"})]
    with pytest.raises(TypeError, match="positional argument"):
        Tag("x", uses=1)


def test_a_metaclass_call_of_its_own_is_not_bypassed() -> None:
    base: Any = declarative_base(registry=Registry(track=False))
    calls: list[dict[str, Any]] = []

    class Counting(type(base)):  # type: ignore[misc]
        def __call__(cls, *args: Any, **kwargs: Any) -> Any:
            calls.append(kwargs)
            return super().__call__(*args, **kwargs)

    class Tag(base, metaclass=Counting):
        __tablename__ = "tags"
        id: Mapped[int] = mapped_column(primary_key=True)
        label: Mapped[str]

    assert Tag(label="x").__dict__ == {"id": None, "label": "x"}
    assert calls == [{"label": "x"}]


def test_an_error_in_the_constructor_leaves_nothing_behind() -> None:
    import gc
    import weakref

    base: Any = declarative_base(registry=Registry(track=False))
    seen: list[Any] = []

    def broken() -> int:
        raise RuntimeError("no value today")

    class Thing(base):
        __tablename__ = "things"
        id: Mapped[int] = mapped_column(primary_key=True)
        n: Mapped[int] = mapped_column(default=broken)

        def __del__(self) -> None:
            seen.append(self.__dict__.get("id"))

    with pytest.raises(RuntimeError, match="no value today"):
        Thing(id=41)
    gc.collect()
    assert seen == [41]  # the half-built instance was released
    thing = Thing(id=1, n=2)
    ref = weakref.ref(thing)
    del thing
    assert ref() is None
