"""ormkit: an async Python ORM whose engine is written in Rust.

Start with ``engine = await create_engine("sqlite:///app.db")`` and
``await engine.execute("SELECT $1", [1])``; see docs/ for models and sessions.
"""

from __future__ import annotations

from ._ormkit import QueryResult, __version__
from .engine import Engine, Transaction, create_engine
from .errors import (
    DatabaseError,
    DataError,
    Error,
    IntegrityError,
    InterfaceError,
    InternalError,
    MultipleResultsFound,
    NoResultFound,
    NotSupportedError,
    OperationalError,
    PoolTimeout,
    ProgrammingError,
    RelationshipNotLoaded,
    StaleDataError,
    ValidationError,
)
from .events import QueryEvent

__all__ = [
    "DataError",
    "DatabaseError",
    "Engine",
    "Error",
    "IntegrityError",
    "InterfaceError",
    "InternalError",
    "MultipleResultsFound",
    "NoResultFound",
    "NotSupportedError",
    "OperationalError",
    "PoolTimeout",
    "ProgrammingError",
    "QueryEvent",
    "QueryResult",
    "RelationshipNotLoaded",
    "StaleDataError",
    "Transaction",
    "ValidationError",
    "__version__",
    "create_engine",
]
