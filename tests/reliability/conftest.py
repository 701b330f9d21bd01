"""Fixtures of the reliability suite: engines closed after each test, an admin engine
to watch the server, a fault-injecting proxy in front of it, unique names.

Long variants carry the ``soak`` marker and run only when asked for, with
``-m soak`` or ``ORMKIT_SOAK=1`` (``ORMKIT_SOAK_SECONDS`` sets their length).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from urllib.parse import urlsplit

import pytest
from fake_pg.proxy import FaultProxy
from fake_pg.support import unique

# (test, figure, value) measured by the tests, printed in pytest's summary.
FIGURES: list[tuple[str, str, str]] = []


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not FIGURES:
        return
    terminalreporter.section("reliability figures")
    for test, figure, value in FIGURES:
        terminalreporter.line(f"{test}: {figure} = {value}")


@pytest.fixture
def figure(request: pytest.FixtureRequest) -> Callable[[str, str], None]:
    """``figure("time to error", "0.31 s")`` records a measured figure for the summary."""

    def record(name: str, value: str) -> None:
        FIGURES.append((request.node.name, name, value))

    return record


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "soak: long reliability runs (make soak)")


def soak_enabled(config: pytest.Config) -> bool:
    return bool(os.environ.get("ORMKIT_SOAK")) or "soak" in (config.option.markexpr or "")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if soak_enabled(config):
        return
    skip = pytest.mark.skip(reason="soak run: use -m soak or ORMKIT_SOAK=1")
    for item in items:
        if "soak" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def app_name() -> str:
    """An application_name only this test's connections carry."""
    return unique("ormkit_rel")


@pytest.fixture
async def proxy(pg_url: str) -> AsyncIterator[FaultProxy]:
    parts = urlsplit(pg_url)
    assert parts.hostname and parts.port
    async with FaultProxy(parts.hostname, parts.port) as proxy:
        yield proxy
