"""Whether an object is a model class or an instance of one: the one test for the whole
package. A model class carries its columns in ``__columns__``, a dict the declarative
metaclass sets (abstract bases and plain classes have none)."""

from __future__ import annotations

from typing import Any, TypeGuard

__all__ = ["is_model_class", "is_model_instance"]


def is_model_class(obj: Any) -> TypeGuard[type[Any]]:
    """True for a mapped model class (not an instance, not an abstract base)."""
    return isinstance(obj, type) and isinstance(getattr(obj, "__columns__", None), dict)


def is_model_instance(obj: Any) -> bool:
    """True for an instance of a mapped model class."""
    return not isinstance(obj, type) and isinstance(getattr(type(obj), "__columns__", None), dict)
