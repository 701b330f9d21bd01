"""The connection password never shows: not in repr/str of the engine or its config, not
in exceptions (message, repr, attributes, traceback), not in log records with echo on,
not in engine.stats() — on success paths and on every failure path we can provoke."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import traceback
from collections.abc import Awaitable
from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import pytest
from fake_pg.proxy import FaultProxy
from fake_pg.support import EngineFactory, with_options

import ormkit

pytestmark = pytest.mark.pg

ODD_PASSWORD = "p@ss:w/rd% ü?&#"


def with_password(url: str, password: str) -> str:
    parts = urlsplit(url)
    netloc = f"{parts.username}:{quote(password, safe='')}@{parts.hostname}:{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


def exception_text(exc: BaseException) -> str:
    return "\n".join(
        [
            str(exc),
            repr(exc),
            repr(exc.args),
            repr(getattr(exc, "__dict__", {})),
            *traceback.format_exception(exc),
        ]
    )


def log_text(records: list[logging.LogRecord]) -> str:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    return "\n".join(
        handler.format(r) + repr(r.args) + repr(getattr(r, "__dict__", {})) for r in records
    )


def assert_hidden(text: str, *secrets: str) -> None:
    for secret in secrets:
        assert secret, "a secret to look for"
        for form in {secret, quote(secret, safe=""), quote(secret)}:
            assert form not in text, f"secret shown: {form!r}"


async def failure(op: Awaitable[Any]) -> BaseException:
    try:
        await asyncio.wait_for(op, 10)
    except ormkit.Error as exc:
        return exc
    raise AssertionError("expected an ormkit error")


async def test_success_paths_with_echo(
    pg_cluster: dict[str, str], engines: EngineFactory, caplog: pytest.LogCaptureFixture
) -> None:
    password = pg_cluster["ORMKIT_TEST_PG_PASSWORD"]
    url = pg_cluster["ORMKIT_TEST_PG_URL"]
    assert password in url
    shown: list[str] = []
    with caplog.at_level(logging.DEBUG):
        engine = await engines(url, echo=True, max_connections=2)
        await engine.execute("SELECT $1::text AS a", ["x"])
        async with engine.transaction() as tx:
            await tx.execute("SELECT 1")
        await engine.executemany("SELECT $1::int", [[1], [2]])
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(engine.execute("SELECT pg_sleep(1)"), 0.05)
        for exc in [
            await failure(engine.execute("SELEC broken")),
            await failure(engine.execute("SELECT 1/0")),
            await failure(engine.execute("SELECT $1::int", ["not a number"])),
        ]:
            shown.append(exception_text(exc))
        await asyncio.sleep(0.1)
        shown += [repr(engine), str(engine), engine.url, repr(engine.stats())]
        shown.append(repr(engine._backend.pool.config))
    records = caplog.records
    assert any("SELECT $1::text" in r.getMessage() for r in records), "echo logged SQL"
    shown.append(log_text(records))
    assert_hidden("\n".join(shown), password)


async def test_failure_paths(
    pg_cluster: dict[str, str],
    pg_url: str,
    proxy: FaultProxy,
    caplog: pytest.LogCaptureFixture,
) -> None:
    password = pg_cluster["ORMKIT_TEST_PG_PASSWORD"]
    md5_password = pg_cluster["ORMKIT_TEST_PG_MD5_PASSWORD"]
    parts = urlsplit(pg_url)
    proxy.set_mode("deaf")
    attempts = {
        "wrong password": with_password(pg_url, ODD_PASSWORD),
        "wrong md5 password": with_password(pg_cluster["ORMKIT_TEST_PG_MD5_URL"], ODD_PASSWORD),
        "unknown database": pg_url.replace("/ormkit_test", "/no_such_db"),
        "bad sslmode": with_options(pg_url, sslmode="bogus"),
        "unknown option": with_options(pg_url, no_such_option="1"),
        "bad port": pg_url.replace(f":{parts.port}/", ":99999/"),
        "refused": pg_url.replace(f":{parts.port}/", ":1/"),
        "deaf server": with_options(proxy.url(pg_url), connect_timeout="0.2"),
        "verify-full without CA": with_options(pg_url, sslmode="verify-full"),
        "missing CA file": with_options(pg_url, sslmode="verify-ca", sslrootcert="/nonexistent"),
        "malformed URL": pg_url.replace("@127.0.0.1:", "@[::1:"),
    }
    texts = []
    with caplog.at_level(logging.DEBUG):
        for name, url in attempts.items():
            try:
                engine = await asyncio.wait_for(ormkit.create_engine(url, echo=True), 10)
            except (ormkit.Error, ValueError) as exc:
                texts.append(f"{name}: {exception_text(exc)}")
            else:
                await engine.close()
                raise AssertionError(f"{name}: connected")
    texts.append(log_text(caplog.records))
    text = "\n".join(texts)
    assert "password authentication failed" in text
    assert_hidden(text, password, md5_password, ODD_PASSWORD, unquote(quote(ODD_PASSWORD)))


@pytest.mark.parametrize(
    "url",
    [
        "postgresql//app:S3cretPassw0rd@db.example.com/app",  # missing ':'
        " postgresql://app:S3cretPassw0rd@db.example.com/app",  # a leading space
        "postgres ql://app:S3cretPassw0rd@db.example.com/app",
        "postgresql:/app:S3cretPassw0rd@db.example.com/app",
        "postgresql://app:S3cret/Passw0rd@db.example.com/app",  # a raw '/'
        "postgresql://app:12345/Passw0rd@127.0.0.1/app",
        "postgresql://app:S3cret@Passw0rd@127.0.0.1:1/app",  # a raw '@'
        "postgresql://app:S3cret?Passw0rd@127.0.0.1:1/app",  # a raw '?'
    ],
)
async def test_a_malformed_url_never_shows_its_password(url: str) -> None:
    """Mistyped URLs were echoed whole in the ArgumentError, and a raw '/' in the
    password made its first half an "invalid port"."""
    try:
        engine = await ormkit.create_engine(url, connect_timeout=0.5)
    except (ormkit.Error, ValueError) as exc:
        assert_hidden(exception_text(exc), "S3cret", "Passw0rd", "12345")
    else:
        text = f"{engine!r} {engine.url}"
        await engine.close()
        assert_hidden(text, "S3cret", "Passw0rd")
    assert ormkit.engine.redact_url(url).count("***") == 1
