"""Fuzzing through the public API: the URL parsers (``ormkit._url.parse_url`` and the
Rust ``PgConfig``) take arbitrary text and only ever raise ``ValueError`` or an
``ormkit.Error`` — no panic, no crash, no password in a message; and a Rust panic,
forced through the test-only hook ``_ormkit._force_panic``, surfaces as
``pyo3_runtime.PanicException`` and leaves the process (and its engines) working.

The default run draws 200 examples per property (derandomized, so CI is stable);
the ``soak`` variants draw ``ORMKIT_FUZZ_EXAMPLES`` (20,000 by default).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ormkit
from ormkit import _ormkit
from ormkit._url import ParsedURL, parse_url

ROOT = Path(__file__).resolve().parents[2]

FAST = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
SOAK = settings(
    FAST,
    max_examples=int(os.environ.get("ORMKIT_FUZZ_EXAMPLES", "20000")),
)

PgConfig: Any = _ormkit.PgConfig
force_panic: Callable[[str], None] = _ormkit.__dict__["_force_panic"]

# -- strategies ---------------------------------------------------------------------

# Every code point, lone surrogates included.
any_char = st.characters(exclude_categories=())
URL_SYNTAX = [*":/@?#&=[]%+.-_ ~!$'()*,;", "%00", "%zz", "%ff", "%2F", "::", "//", "\x00"]
url_piece = st.lists(
    st.sampled_from(URL_SYNTAX) | st.text(any_char, max_size=6) | st.text("az09", max_size=6),
    max_size=5,
).map("".join)
known_schemes = st.sampled_from(
    ["postgresql", "postgres", "postgresql+psycopg", "POSTGRESQL", "sqlite", "sqlite+aiosqlite"]
)
# Mostly the schemes ormkit knows (to get past the first check), sometimes anything.
schemes = st.one_of(
    known_schemes,
    known_schemes,
    known_schemes,
    st.sampled_from(["mysql", "", "p", "postgresql+", "+psycopg"]) | st.text(any_char, max_size=8),
)
ports = st.one_of(
    st.integers(1, 65535).map(str),
    st.integers(-(2**70), 2**70).map(str) | st.integers(0, 70_000).map(str),
    url_piece,
)
OPTION_KEYS = [
    "sslmode",
    "sslrootcert",
    "application_name",
    "statement_cache_size",
    "connect_timeout",
    "command_timeout",
    "acquire_timeout",
    "max_idle_time",
    "max_lifetime",
    "min_connections",
    "max_connections",
    "host",
    "port",
    "user",
    "password",
    "dbname",
    "options",
]
option_keys = st.sampled_from(OPTION_KEYS) | url_piece
option_values = (
    st.sampled_from(
        [
            *["", "0", "-1", "1e400", "nan", "inf", "-inf", "1.5", "1e-400", "9" * 40, "/tmp"],
            *["disable", "prefer", "require", "verify-ca", "verify-full", "true"],
        ]
    )
    | st.integers(-(2**70), 2**70).map(str)
    | st.floats().map(str)
    | url_piece
)


@st.composite
def urls(draw: st.DrawFn) -> str:
    """URL-shaped text: every part optional, every part possibly hostile."""
    scheme = draw(schemes)
    text = scheme + draw(st.sampled_from(["://"] * 6 + [":", ":///", ":////", "", ":/"]))
    if draw(st.booleans()):
        text += draw(url_piece)
        if draw(st.booleans()):
            text += ":" + draw(url_piece)
        text += "@"
    host = draw(
        st.one_of(
            st.sampled_from(["localhost", "127.0.0.1", "[::1]", "db.example", "%2Ftmp"]),
            st.sampled_from(["[::1", "[]", "", "/tmp", "[::1]x", "h:1:2"]),
            url_piece,
        )
    )
    text += host
    if draw(st.booleans()):
        text += ":" + draw(ports)
    if draw(st.booleans()):
        text += "/" + draw(url_piece)
    if draw(st.booleans()):
        pairs = draw(st.lists(st.tuples(option_keys, option_values), max_size=4))
        text += "?" + "&".join(f"{k}={v}" for k, v in pairs)
    if draw(st.booleans()):
        text += draw(url_piece)
    return text


any_url = urls() | st.text(any_char, max_size=120)
option_dicts = st.dictionaries(option_keys, option_values, max_size=4)

# -- URL parsing never crashes --------------------------------------------------------


def check_parse_url(url: str) -> None:
    try:
        parsed = parse_url(url)
    except ValueError as exc:
        assert str(exc)
        return
    assert isinstance(parsed, ParsedURL)
    assert parsed.dialect in ("postgresql", "sqlite")
    assert parsed.url == url
    if parsed.dialect == "sqlite":
        assert parsed.sqlite_path is None or parsed.sqlite_path != ""
        assert all(isinstance(k, str) for k in parsed.options)


def check_pg_config(url: str, options: dict[str, str]) -> None:
    try:
        config = PgConfig(url, options)
    except (ValueError, ormkit.Error) as exc:
        assert str(exc)
        return
    # A config that was accepted is sane in every field a connection will use.
    assert 1 <= config.port <= 65535
    assert (config.host is None) != (config.socket_path is None)
    assert config.max_connections >= 1
    assert 0 <= config.min_connections <= config.max_connections
    assert config.statement_cache_size >= 0
    assert config.acquire_timeout > 0
    for timeout in (
        config.connect_timeout,
        config.command_timeout,
        config.max_idle_time,
        config.max_lifetime,
    ):
        assert timeout is None or 0 <= timeout < float("inf")
    assert config.display_target
    assert isinstance(config.redacted_url, str)
    assert repr(config)


@FAST
@given(any_url)
def test_parse_url_never_crashes(url: str) -> None:
    check_parse_url(url)


@FAST
@given(any_url, option_dicts)
def test_pg_config_never_crashes(url: str, options: dict[str, str]) -> None:
    check_pg_config(url, options)


@FAST
@given(
    st.sampled_from(["postgresql://", "postgres://u:p@h/db?", "postgresql://[::1]:5432/x?"]),
    st.lists(st.tuples(option_keys, option_values), max_size=6),
)
def test_pg_config_query_options_never_crash(prefix: str, pairs: list[tuple[str, str]]) -> None:
    check_pg_config(prefix + "&".join(f"{k}={v}" for k, v in pairs), {})


# Anything but lone surrogates and NUL (a NUL cannot go into a startup message; the
# connection rejects it, see the PostgreSQL client tests).
name_text = st.characters(exclude_categories=["Cs"], exclude_characters=["\x00"])


@FAST
@given(
    user=st.text(name_text, min_size=1, max_size=20),
    password=st.text(name_text, min_size=1, max_size=30),
    host=st.sampled_from(["localhost", "127.0.0.1", "db.example.org", "::1"]),
    port=st.integers(1, 65535),
    database=st.text(name_text, max_size=20),
    timeout=st.floats(0.001, 1e6, allow_nan=False, allow_infinity=False),
    size=st.integers(1, 500),
)
def test_well_formed_urls_round_trip(
    user: str, password: str, host: str, port: int, database: str, timeout: float, size: int
) -> None:
    """Any user, password and database name, percent-encoded, gives a URL that is
    accepted with the host, port and options it names, and whose redacted form hides
    the password."""
    netloc_host = f"[{host}]" if ":" in host else host
    url = (
        f"postgresql://{quote(user, safe='')}:{quote(password, safe='')}@{netloc_host}:{port}"
        f"/{quote(database, safe='')}?connect_timeout={timeout!r}&max_connections={size}"
    )
    assert parse_url(url).dialect == "postgresql"
    config = PgConfig(url, {})
    assert (config.host, config.port) == (host, port)
    assert config.connect_timeout == pytest.approx(timeout)
    assert config.max_connections == size
    redacted = config.redacted_url
    assert redacted.startswith("postgresql://") and ":***@" in redacted, redacted
    assert unquote(redacted[len("postgresql://") : redacted.index(":***@")]) == user


@pytest.mark.soak
@SOAK
@given(any_url, option_dicts)
def test_url_parsers_soak(url: str, options: dict[str, str]) -> None:
    check_parse_url(url)
    check_pg_config(url, options)


# -- no password in messages ------------------------------------------------------------

# Passwords a user could write without percent-encoding (no URL delimiter in them).
passwords = st.text(
    st.characters(
        exclude_categories=["Cs", "Cc"],
        exclude_characters=list("/?#@:[]%&="),
    ),
    min_size=8,
    max_size=24,
).map(lambda p: "S3cr" + p)


@st.composite
def urls_with_password(draw: st.DrawFn, schemes: list[str]) -> tuple[str, str]:
    password = draw(passwords)
    scheme = draw(st.sampled_from(schemes))
    host = draw(st.sampled_from(["h", "[::1]", "[::1", "", "h:", "h:99999", "h:x", "/tmp"]))
    db = draw(st.sampled_from(["", "/db", "/%zz", "/d%00b"]))
    query = draw(
        st.sampled_from(
            ["", "?sslmode=bogus", "?connect_timeout=-1", "?max_connections=0", "?nope=1"]
        )
    )
    return f"{scheme}://user:{password}@{host}{db}{query}", password


def assert_not_in_error(call: Callable[[], Any], password: str) -> None:
    try:
        result = call()
    except (ValueError, ormkit.Error) as exc:
        assert password not in str(exc), f"password in {type(exc).__name__}: {exc}"
        assert password not in repr(exc.args)
    else:
        if isinstance(result, PgConfig):
            assert password not in repr(result)
            assert password not in result.redacted_url
            assert password not in result.display_target


@FAST
@given(urls_with_password(["postgresql", "postgres", "postgresql+psycopg", "mysql", "http"]))
def test_password_never_in_url_errors(case: tuple[str, str]) -> None:
    url, password = case
    assert_not_in_error(lambda: parse_url(url), password)
    assert_not_in_error(lambda: PgConfig(url, {}), password)
    assert_not_in_error(lambda: PgConfig(url, {"sslmode": "bogus"}), password)


async def test_password_not_in_sqlite_url_errors() -> None:
    password = "S3cr-hunter2-sqlite"
    for url in [f"sqlite://user:{password}@host/app.db", f"sqlite://user:{password}@"]:
        with pytest.raises(ValueError) as info:
            await ormkit.create_engine(url)
        assert password not in str(info.value)


# -- a Rust panic is an exception, never an abort -----------------------------------------


def test_cargo_profiles_unwind() -> None:
    manifest = tomllib.loads((ROOT / "Cargo.toml").read_text())
    profiles = manifest.get("profile", {})
    assert profiles["release"]["panic"] == "unwind"
    assert profiles["dev"]["panic"] == "unwind"
    assert all(p.get("panic", "unwind") == "unwind" for p in profiles.values())
    config = ROOT / ".cargo" / "config.toml"
    if config.exists():
        assert "panic=abort" not in config.read_text().replace(" ", "")


def test_forced_panic_raises_panic_exception_in_process() -> None:
    for i in range(100):
        with pytest.raises(BaseException) as info:
            force_panic(f"forced panic {i}")
        exc_type = info.type
        assert exc_type.__name__ == "PanicException"
        assert exc_type.__module__ == "pyo3_runtime"
        # `except Exception` in user code does not swallow it, like KeyboardInterrupt.
        assert not issubclass(exc_type, Exception)
        assert str(info.value) == f"forced panic {i}"


async def test_engine_keeps_working_around_panics(tmp_path: Path) -> None:
    async with await ormkit.create_engine(f"sqlite:///{tmp_path / 'p.db'}") as engine:
        await engine.execute("CREATE TABLE t (v INTEGER)")

        async def panicking(i: int) -> None:
            await engine.execute("INSERT INTO t VALUES ($1)", [i])
            force_panic(f"in task {i}")

        async def writer(i: int) -> None:
            await engine.execute("INSERT INTO t VALUES ($1)", [i])

        tasks = [asyncio.create_task(panicking(i) if i % 2 else writer(i)) for i in range(20)]
        outcomes = await asyncio.gather(*tasks, return_exceptions=True)
        panics = [o for o in outcomes if type(o).__name__ == "PanicException"]
        assert len(panics) == 10
        assert [o for o in outcomes if o not in panics] == [None] * 10
        assert (await engine.execute("SELECT count(*) FROM t")).scalar() == 20
        async with engine.transaction() as tx:
            await tx.execute("INSERT INTO t VALUES (100)")
        assert (await engine.execute("SELECT sum(v) FROM t")).scalar() == sum(range(20)) + 100


PANIC_SCRIPT = textwrap.dedent(
    """
    import asyncio, sys
    import ormkit
    from ormkit import _ormkit

    force_panic = _ormkit.__dict__["_force_panic"]

    if sys.argv[1] == "uncaught":
        force_panic("uncaught forced panic")

    async def main():
        async with await ormkit.create_engine("sqlite::memory:") as engine:
            await engine.execute("CREATE TABLE t (v INTEGER)")
            caught = 0
            for i in range(50):
                try:
                    force_panic(f"boom {i}")
                except BaseException as exc:
                    assert type(exc).__name__ == "PanicException", type(exc)
                    caught += 1
                await engine.execute("INSERT INTO t VALUES ($1)", [i])
            total = (await engine.execute("SELECT sum(v) FROM t")).scalar()
            print(f"alive {caught} {total}", flush=True)

    asyncio.run(main())
    """
)


def test_forced_panic_in_a_subprocess(tmp_path: Path) -> None:
    script = tmp_path / "panic.py"
    script.write_text(PANIC_SCRIPT)
    env = {**os.environ, "RUST_BACKTRACE": "0"}
    caught = subprocess.run(
        [sys.executable, str(script), "caught"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert caught.returncode == 0, caught.stderr
    assert caught.stdout.split() == ["alive", "50", str(sum(range(50)))]
    # Uncaught, it ends the interpreter like any exception (exit code 1 and a traceback),
    # not with SIGABRT.
    uncaught = subprocess.run(
        [sys.executable, str(script), "uncaught"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert uncaught.returncode == 1, (uncaught.returncode, uncaught.stderr)
    assert "pyo3_runtime.PanicException: uncaught forced panic" in uncaught.stderr
