"""A model of quoted_models.py's base defined in another module, whose annotations name
models this module never imports (resolved through the base's registry)."""

from __future__ import annotations

from quoted_models import QuotedBase, S

from ormkit import Mapped, mapped_column, relationship


class Reviewer(QuotedBase):
    __tablename__ = f"q_reviewers{S}"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]
    reviews: Mapped["list[Review]"] = relationship(  # noqa: F821, UP037
        back_populates="reviewer", order_by="id"
    )
