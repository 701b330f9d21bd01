"""ormkit: an async Python ORM whose engine is written in Rust.

Start with ``engine = await create_engine("sqlite:///app.db")`` and
``await engine.execute("SELECT $1", [1])``; see docs/ for models and sessions.
"""

from __future__ import annotations

from ._ormkit import QueryResult, __version__
from .engine import Engine, Transaction, create_engine
from .errors import (
    ArgumentError,
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
from .orm.base import Base
from .orm.constraints import CheckConstraint, Index, UniqueConstraint
from .orm.fields import JSON, ForeignKey, Mapped, mapped_column
from .orm.loading import joinedload, lazyload, noload, selectinload
from .orm.mixins import SoftDeleteMixin, TimestampMixin
from .orm.relationships import relationship
from .orm.results import MappingResult, Result, ScalarResult
from .orm.rows import Row, RowMapping
from .orm.session import AsyncSession, SessionTransaction, async_sessionmaker, session_context
from .query import Query
from .sql import (
    Q,
    aliased,
    and_,
    asc,
    case,
    cast,
    delete,
    desc,
    exists,
    func,
    insert,
    literal,
    not_,
    or_,
    select,
    text,
    update,
)

__all__ = [
    "JSON",
    "ArgumentError",
    "AsyncSession",
    "Base",
    "CheckConstraint",
    "DataError",
    "DatabaseError",
    "Engine",
    "Error",
    "ForeignKey",
    "Index",
    "IntegrityError",
    "InterfaceError",
    "InternalError",
    "Mapped",
    "MappingResult",
    "MultipleResultsFound",
    "NoResultFound",
    "NotSupportedError",
    "OperationalError",
    "PoolTimeout",
    "ProgrammingError",
    "Q",
    "Query",
    "QueryEvent",
    "QueryResult",
    "RelationshipNotLoaded",
    "Result",
    "Row",
    "RowMapping",
    "ScalarResult",
    "SessionTransaction",
    "SoftDeleteMixin",
    "StaleDataError",
    "TimestampMixin",
    "Transaction",
    "UniqueConstraint",
    "ValidationError",
    "__version__",
    "aliased",
    "and_",
    "asc",
    "async_sessionmaker",
    "case",
    "cast",
    "create_engine",
    "delete",
    "desc",
    "exists",
    "func",
    "insert",
    "joinedload",
    "lazyload",
    "literal",
    "mapped_column",
    "noload",
    "not_",
    "or_",
    "relationship",
    "select",
    "selectinload",
    "session_context",
    "text",
    "update",
]
