"""ormkit quickstart on an embedded SQLite file: ``python examples/quickstart.py demo.db``."""

from __future__ import annotations

import asyncio
import sys

from ormkit import IntegrityError, create_engine


async def main(path: str) -> None:
    async with await create_engine(f"sqlite:///{path}") as engine:
        print(f"opened {engine!r}")
        await engine.execute(
            "CREATE TABLE IF NOT EXISTS users ("
            " id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT UNIQUE NOT NULL, age INTEGER)"
        )
        inserted = await engine.executemany(
            "INSERT INTO users (name, email, age) VALUES ($1, $2, $3)",
            [
                ("Ann", "ann@example.com", 31),
                ("Bob", "bob@example.com", 17),
                ("Cy", "cy@x.org", None),
            ],
        )
        print(f"inserted {inserted} users")

        adults = await engine.execute(
            "SELECT name, age FROM users WHERE age >= $1 ORDER BY name", [18]
        )
        print("adults:", adults.all())

        async with engine.transaction() as tx:
            await tx.execute("UPDATE users SET age = age + 1 WHERE name = $1", ["Bob"])
        print(
            "Bob is now",
            (await engine.execute("SELECT age FROM users WHERE name = 'Bob'")).scalar(),
        )

        try:
            async with engine.transaction() as tx:
                await tx.execute("INSERT INTO users (name, email) VALUES ('Dee', 'dee@x.org')")
                await tx.execute(
                    "INSERT INTO users (name, email) VALUES ('Ann2', 'ann@example.com')"
                )
        except IntegrityError as exc:
            print(f"rolled back: {exc.message}")
        count = (await engine.execute("SELECT count(*) FROM users")).scalar()
        print(f"{count} users in {path} (the failed transaction left nothing behind)")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "demo.db"))
