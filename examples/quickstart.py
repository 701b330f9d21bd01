"""ormkit quickstart on an embedded SQLite file: ``python examples/quickstart.py demo.db``.

Declares two models, creates their tables, writes through a session (unit of work and
active-record calls), queries with Django-style lookups and SQLAlchemy-style
statements, eager-loads a relationship, and shows that a failed transaction leaves
nothing behind.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import datetime

from ormkit import (
    AsyncSession,
    Base,
    ForeignKey,
    IntegrityError,
    Mapped,
    Q,
    ValidationError,
    create_engine,
    mapped_column,
    relationship,
    select,
    selectinload,
)


class Author(Base):
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(max_length=100)
    email: Mapped[str] = mapped_column(unique=True)
    age: Mapped[int | None]
    joined: Mapped[datetime] = mapped_column(default=datetime.now)
    books: Mapped[list[Book]] = relationship(back_populates="author", order_by="title")


class Book(Base):
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str]
    year: Mapped[int]
    author_id: Mapped[int] = mapped_column(ForeignKey("authors.id", ondelete="CASCADE"))
    author: Mapped[Author] = relationship(back_populates="books")


async def main(path: str) -> None:
    async with await create_engine(f"sqlite:///{path}") as engine:
        print(f"opened {engine!r}")
        await engine.create_all([Author, Book])
        print("created tables:", ", ".join(await engine.get_tables()))

        async with AsyncSession(engine) as session:
            ann = Author(name="Ann", email="ann@example.com", age=31)
            bob = Author(name="Bob", email="bob@example.com", age=17)
            session.add_all([ann, bob])
            ann_books = [
                Book(title=t, year=y, author=ann) for t, y in [("Rust", 2021), ("Async", 2023)]
            ]
            session.add_all([*ann_books, Book(title="Teen", year=2024, author=bob)])
            await session.commit()
            print(f"inserted {ann!r} and {bob!r}; Ann's id is {ann.id}")

            adults = await session.query(Author).filter(age__gte=18).order_by("name").all()
            print("adults:", [a.name for a in adults])

            recent = (
                await session.query(Book)
                .filter(Q(year__gte=2023) | Q(title__startswith="R"))
                .count()
            )
            print("books from 2023 on, or starting with R:", recent)

            result = await session.execute(select(Author).where(Author.name.like("A%")))
            print("SQLAlchemy style:", [a.email for a in result.scalars().all()])

            with_books = await session.query(Author).options(selectinload("books")).all()
            for author in with_books:
                print(f"{author.name} wrote", [b.title for b in author.books])

            bob.age = 18
            await session.commit()
            print("Bob is now", (await session.get_or_raise(Author, bob.id)).age)

        try:
            Author(name="x" * 200, email="long@example.com").__ormkit_validate__()
        except ValidationError as exc:
            print("validation:", exc)

        try:
            async with AsyncSession(engine) as session, session.begin():
                session.add(Author(name="Dee", email="dee@example.com"))
                session.add(Author(name="Ann again", email="ann@example.com"))
        except IntegrityError as exc:
            print("rolled back:", exc.message)
        count = (await engine.execute("SELECT count(*) FROM authors")).scalar()
        print(f"{count} authors in {path} (the failed transaction left nothing behind)")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "demo.db"))
