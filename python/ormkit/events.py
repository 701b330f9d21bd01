"""Query events: ``engine.events.on("query", callback)``."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["EventBus", "QueryEvent"]

logger = logging.getLogger("ormkit")


@dataclass(frozen=True, slots=True)
class QueryEvent:
    """What one statement sent to the database did.

    ``duration`` is in seconds; ``rowcount`` is -1 when the statement failed;
    ``error`` holds the exception in that case.
    """

    sql: str
    param_count: int
    rowcount: int
    duration: float
    cache_hit: bool
    error: BaseException | None = None


EventCallback = Callable[[QueryEvent], object]

_EVENT_NAMES = frozenset({"query"})


class EventBus:
    """Listeners for engine events. The only event today is ``"query"``."""

    def __init__(self, on_change: Callable[[], None]) -> None:
        self._listeners: dict[str, list[EventCallback]] = {name: [] for name in _EVENT_NAMES}
        self._on_change = on_change

    def on(self, name: str, callback: EventCallback) -> EventCallback:
        """Calls ``callback(event)`` after every statement; returns ``callback``."""
        self._check(name)
        if not callable(callback):
            raise TypeError("the callback must be callable")
        self._listeners[name].append(callback)
        self._on_change()
        return callback

    def off(self, name: str, callback: EventCallback) -> None:
        """Removes a callback added with ``on``; raises ValueError if it is not there."""
        self._check(name)
        try:
            self._listeners[name].remove(callback)
        except ValueError:
            raise ValueError(f"{callback!r} is not listening to {name!r}") from None
        self._on_change()

    def has_listeners(self) -> bool:
        """Whether any callback is registered."""
        return any(self._listeners.values())

    def emit(self, event: QueryEvent) -> None:
        """Calls every ``query`` listener; a listener's exception is logged, not raised."""
        for callback in tuple(self._listeners["query"]):
            try:
                callback(event)
            except Exception:
                logger.exception("query event listener %r failed", callback)

    @staticmethod
    def _check(name: str) -> None:
        if name not in _EVENT_NAMES:
            raise ValueError(f"unknown event {name!r}; known events: {sorted(_EVENT_NAMES)}")
