"""Declarative models: ``Base``, ``Mapped``, ``mapped_column``, ``relationship``."""

from ormkit.orm.base import (
    Base,
    DeclarativeMeta,
    Registry,
    declarative_base,
    default_table_name,
    primary_key_value,
    registered_models,
)
from ormkit.orm.constraints import CheckConstraint, Index, UniqueConstraint
from ormkit.orm.fields import (
    JSON,
    ColumnInfo,
    ForeignKey,
    ForeignKeyInfo,
    Mapped,
    MappedColumn,
    mapped_column,
)
from ormkit.orm.mixins import SoftDeleteMixin, TimestampMixin
from ormkit.orm.relationships import (
    Direction,
    RelationshipAttribute,
    RelationshipInfo,
    relationship,
)
from ormkit.orm.validation import validate, validate_values

__all__ = [
    "JSON",
    "Base",
    "CheckConstraint",
    "ColumnInfo",
    "DeclarativeMeta",
    "Direction",
    "ForeignKey",
    "ForeignKeyInfo",
    "Index",
    "Mapped",
    "MappedColumn",
    "Registry",
    "RelationshipAttribute",
    "RelationshipInfo",
    "SoftDeleteMixin",
    "TimestampMixin",
    "UniqueConstraint",
    "declarative_base",
    "default_table_name",
    "mapped_column",
    "primary_key_value",
    "registered_models",
    "relationship",
    "validate",
    "validate_values",
]
