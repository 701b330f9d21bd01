"""Helpers of the relationships suite."""

from __future__ import annotations

from ormkit import QueryEvent


class Queries:
    """Statements sent while it listens."""

    def __init__(self) -> None:
        self.events: list[QueryEvent] = []

    def __call__(self, event: QueryEvent) -> None:
        self.events.append(event)

    @property
    def sql(self) -> list[str]:
        """The SQL of every statement, in order."""
        return [e.sql for e in self.events]

    def __len__(self) -> int:
        return len(self.events)

    def clear(self) -> None:
        """Forget what was recorded."""
        self.events.clear()
