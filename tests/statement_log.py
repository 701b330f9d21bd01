"""A recorder of the statements an engine sends (``engine.events.on("query", log)``)."""

from __future__ import annotations

from ormkit import QueryEvent


class SqlLog:
    """Statements sent to the database while it listens."""

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

    def writes(self) -> list[str]:
        """INSERT/UPDATE/DELETE statements."""
        return [
            s for s in self.sql if s.split(None, 1)[0].upper() in {"INSERT", "UPDATE", "DELETE"}
        ]
