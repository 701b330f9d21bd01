"""Introspection behind ``engine.get_tables()`` etc., on SQLite (file and memory) and
PostgreSQL: the same shapes on both, names bound as parameters."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import ormkit

DDL = [
    'CREATE TABLE "Odd ""Name""" (id INTEGER PRIMARY KEY, v TEXT)',
    """CREATE TABLE owners (
        id INTEGER NOT NULL,
        code VARCHAR(10) NOT NULL,
        amount NUMERIC(10, 2) DEFAULT 0,
        note TEXT,
        CONSTRAINT pk_owners PRIMARY KEY (id),
        CONSTRAINT uq_owners_code UNIQUE (code)
    )""",
    """CREATE TABLE pets (
        id INTEGER NOT NULL PRIMARY KEY,
        owner_id INTEGER,
        name VARCHAR(50) NOT NULL,
        CONSTRAINT fk_pets_owner FOREIGN KEY (owner_id) REFERENCES owners (id)
            ON DELETE CASCADE ON UPDATE SET NULL
    )""",
    "CREATE INDEX ix_pets_name ON pets (name, owner_id)",
    "CREATE UNIQUE INDEX ux_owners_note ON owners (note)",
]


@pytest.fixture(params=["sqlite_file", "sqlite_memory", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite_file":
        return f"sqlite:///{tmp_path / 'i.db'}"
    if request.param == "sqlite_memory":
        return "sqlite::memory:"
    pg: str = request.getfixturevalue("pg_database")
    return pg


@pytest.fixture
async def engine(url: str) -> AsyncIterator[ormkit.Engine]:
    eng = await ormkit.create_engine(url)
    for stmt in DDL:
        await eng.execute(stmt)
    try:
        yield eng
    finally:
        await eng.close()


async def test_tables_and_columns(engine: ormkit.Engine) -> None:
    assert await engine.get_tables() == sorted(['Odd "Name"', "owners", "pets"])
    cols = await engine.get_columns("owners")
    assert [c["name"] for c in cols] == ["id", "code", "amount", "note"]
    by_name = {c["name"]: c for c in cols}
    assert by_name["code"]["type"] == "varchar(10)"
    assert by_name["amount"]["type"] == "numeric(10,2)"
    assert by_name["amount"]["default"] is not None and "0" in by_name["amount"]["default"]
    assert by_name["id"]["primary_key"] and not by_name["id"]["nullable"]
    assert by_name["code"]["nullable"] is False and by_name["note"]["nullable"] is True
    assert set(cols[0]) >= {"name", "type", "nullable", "default", "primary_key"}
    odd = await engine.get_columns('Odd "Name"')
    assert [c["name"] for c in odd] == ["id", "v"]
    assert await engine.get_columns("missing' OR '1'='1") == []


async def test_indexes_and_constraints(engine: ormkit.Engine) -> None:
    assert await engine.get_indexes("pets") == [
        {"name": "ix_pets_name", "columns": ["name", "owner_id"], "unique": False}
    ]
    assert await engine.get_indexes("owners") == [
        {"name": "ux_owners_note", "columns": ["note"], "unique": True}
    ]
    owners = await engine.get_constraints("owners")
    assert owners == [
        {"type": "primary_key", "name": "pk_owners", "columns": ["id"]},
        {"type": "unique", "name": "uq_owners_code", "columns": ["code"]},
    ]
    pets = await engine.get_constraints("pets")
    fk = next(c for c in pets if c["type"] == "foreign_key")
    assert fk == {
        "type": "foreign_key",
        "name": "fk_pets_owner",
        "columns": ["owner_id"],
        "referred_table": "owners",
        "referred_columns": ["id"],
        "ondelete": "CASCADE",
        "onupdate": "SET NULL",
    }
    assert [c["columns"] for c in pets if c["type"] == "primary_key"] == [["id"]]
