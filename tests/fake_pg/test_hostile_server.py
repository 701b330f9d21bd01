"""A hostile or broken server never crashes or hangs the client.

Each case runs the client in its own process against :class:`FakeServer` and checks
that the process exits normally, having printed the expected error, within a second
of starting (a crash would show as a signal exit code, a hang as a timeout).
"""

from __future__ import annotations

import asyncio
import base64
import json
import struct
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from fake_pg.server import FakeServer, Peer, frame, scram_server_first, scram_signature

CLIENT = Path(__file__).with_name("client.py")
PASSWORD = "s3cret-pw"
MAX_SECONDS = 1.0


async def run_client(url: str, sql: str | None = None) -> dict[str, Any]:
    """Runs client.py in a subprocess; returns its JSON outcome after checking it
    exited normally."""
    args = [sys.executable, str(CLIENT), url] + ([sql] if sql is not None else [])
    proc = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 30)
    except TimeoutError:
        proc.kill()
        await proc.communicate()
        raise AssertionError("the client hung") from None
    assert proc.returncode == 0, f"client died with {proc.returncode}: {err.decode()[-2000:]}"
    lines = out.decode().strip().splitlines()
    assert lines, err.decode()
    outcome: dict[str, Any] = json.loads(lines[-1])
    return outcome


# ---- authentication scenarios --------------------------------------------------


async def ok_without_challenge(peer: Peer) -> None:
    await peer.trust_login()


async def scram_start(peer: Peer, iterations: int = 4096) -> tuple[str, str, bytes]:
    """SASL + the client's first message + our server-first; returns
    (client-first-bare, server-first, salt)."""
    await peer.auth(10, b"SCRAM-SHA-256\0\0")
    tag, body = await peer.read_message()
    assert tag == b"p"
    server_first, salt = scram_server_first(body, iterations)
    mech_end = body.index(b"\0")
    client_first = body[mech_end + 5 :].decode()
    await peer.auth(11, server_first.encode())
    return client_first.removeprefix("n,,"), server_first, salt


async def scram_correct(peer: Peer) -> None:
    bare, server_first, salt = await scram_start(peer)
    _, body = await peer.read_message()
    without_proof = body.decode().rsplit(",p=", 1)[0]
    auth_message = f"{bare},{server_first},{without_proof}".encode()
    signature = scram_signature(PASSWORD, salt, 4096, auth_message)
    await peer.auth(12, b"v=" + base64.b64encode(signature))
    await peer.trust_login()


async def scram_wrong_signature(peer: Peer) -> None:
    await scram_start(peer)
    await peer.read_message()
    await peer.auth(12, b"v=" + base64.b64encode(bytes(32)))
    await peer.trust_login()


async def scram_iterations_over_cap(peer: Peer) -> None:
    await scram_start(peer, iterations=10_000_001)


async def scram_ok_without_final(peer: Peer) -> None:
    await scram_start(peer)
    await peer.read_message()
    await peer.trust_login()


async def sasl_final_first(peer: Peer) -> None:
    await peer.auth(12, b"v=" + base64.b64encode(bytes(32)))


async def sasl_unknown_mechanism(peer: Peer) -> None:
    await peer.auth(10, b"SCRAM-SHA-1\0\0")


async def gss_requested(peer: Peer) -> None:
    await peer.auth(7)


async def fatal_at_login(peer: Peer) -> None:
    await peer.error("28P01", 'password authentication failed for user "fake"', "FATAL")


async def close_at_login(peer: Peer) -> None:
    peer.writer.close()


async def query_before_login(peer: Peer) -> None:
    await peer.send(frame(b"D", b"\0\0"))


async def silent_after_startup(peer: Peer) -> None:
    await peer.hang()


# ---- query-phase scenarios (trust login, then a broken answer) -------------------


def after_prepare(reply: bytes, *, described: bool = True) -> Callable[[Peer], Awaitable[None]]:
    """Logs in, answers the Parse/Describe of the first statement (unless
    ``described`` is false), then answers the next request with ``reply``."""

    async def scenario(peer: Peer) -> None:
        await peer.trust_login()
        await peer.read_until_sync()
        if described:
            await peer.describe_int4_column()
            await peer.read_until_sync()
        await peer.send(reply)

    return scenario


def eof_mid_frame() -> Callable[[Peer], Awaitable[None]]:
    async def scenario(peer: Peer) -> None:
        await peer.trust_login()
        await peer.read_until_sync()
        await peer.describe_int4_column()
        await peer.read_until_sync()
        await peer.send(frame(b"2") + b"D\0\0\0\x20\0\x01")
        peer.writer.close()

    return scenario


BIND_OK = frame(b"2")
TRUNCATED_ROW = frame(b"D", b"\0\x01\0\0\0\x04\0\x2a")  # says 4 bytes, carries 2


@dataclass
class Case:
    name: str
    scenario: Callable[[Peer], Awaitable[None]]
    expect: str  # substring of the error message
    password: bool = False
    sql: str | None = None
    options: dict[str, str] | None = None
    error: str | None = None  # expected class name, when it matters
    # After a failed statement: whether the pool must have thrown the connection away
    # (the byte stream is out of sync) or kept it (a bad value in a well-formed row).
    discarded: bool = True


CASES = [
    Case(
        "auth ok without challenge",
        ok_without_challenge,
        "without asking for the password",
        password=True,
        error="OperationalError",
    ),
    Case(
        "wrong SCRAM server signature",
        scram_wrong_signature,
        "server signature mismatch",
        password=True,
        error="OperationalError",
    ),
    Case(
        "SCRAM iteration count over the cap",
        scram_iterations_over_cap,
        "exceeds the limit",
        password=True,
        error="OperationalError",
    ),
    Case(
        "SCRAM ended without the server's proof",
        scram_ok_without_final,
        "without proving",
        password=True,
        error="OperationalError",
    ),
    Case("SASL final before SASL start", sasl_final_first, "protocol violation", password=True),
    Case(
        "no supported SASL mechanism",
        sasl_unknown_mechanism,
        "none of which is supported",
        password=True,
        error="NotSupportedError",
    ),
    Case("GSSAPI requested", gss_requested, "not supported", error="NotSupportedError"),
    Case(
        "FATAL at login",
        fatal_at_login,
        "password authentication failed",
        password=True,
        error="OperationalError",
    ),
    Case("connection closed at login", close_at_login, "closed the connection"),
    Case("DataRow before login", query_before_login, "protocol violation"),
    Case(
        "silent server after startup",
        silent_after_startup,
        "timed out",
        options={"connect_timeout": "0.3"},
        error="OperationalError",
    ),
    Case(
        "truncated DataRow",
        after_prepare(BIND_OK + TRUNCATED_ROW),
        "truncated DataRow",
        sql="SELECT n FROM t",
    ),
    Case(
        "huge message length",
        after_prepare(b"D\x7f\xff\xff\xff", described=False),
        "exceeds the limit",
        sql="SELECT n FROM t",
    ),
    Case(
        "length below the header size",
        after_prepare(b"C\0\0\0\x02", described=False),
        "too small",
        sql="SELECT n FROM t",
    ),
    Case(
        "unknown message type",
        after_prepare(frame(b"?", b"hello"), described=False),
        "unknown message type",
        sql="SELECT n FROM t",
    ),
    Case(
        "BindComplete in answer to Parse",
        after_prepare(frame(b"2") + frame(b"Z", b"I"), described=False),
        "protocol violation",
        sql="SELECT n FROM t",
    ),
    Case(
        "DataRow before RowDescription",
        after_prepare(frame(b"1") + frame(b"D", b"\0\x01\0\0\0\x04\0\0\0\x01"), described=False),
        "protocol violation",
        sql="SELECT n FROM t",
    ),
    Case(
        "DataRow with more columns than described",
        after_prepare(BIND_OK + frame(b"D", b"\0\x02\0\0\0\x04\0\0\0\x01\xff\xff\xff\xff")),
        "DataRow has 2 columns",
        sql="SELECT n FROM t",
    ),
    Case(
        "int4 column of 3 bytes",
        after_prepare(
            BIND_OK
            + frame(b"D", b"\0\x01\0\0\0\x03abc")
            + frame(b"C", b"SELECT 1\0")
            + frame(b"Z", b"I")
        ),
        "malformed integer",
        sql="SELECT n FROM t",
        discarded=False,
    ),
    Case(
        "invalid UTF-8 in CommandComplete",
        after_prepare(BIND_OK + frame(b"C", b"SELECT \xff\xfe\0")),
        "invalid UTF-8",
        sql="SELECT n FROM t",
    ),
    Case(
        "bad ReadyForQuery status",
        after_prepare(BIND_OK + frame(b"C", b"SELECT 0\0") + frame(b"Z", b"X")),
        "transaction status",
        sql="SELECT n FROM t",
    ),
    Case(
        "ErrorResponse without terminator",
        after_prepare(frame(b"E", b"SERROR\0C42000")),
        "unterminated",
        sql="SELECT n FROM t",
    ),
    Case(
        "negative column count",
        after_prepare(BIND_OK + frame(b"D", struct.pack("!h", -3))),
        "negative count",
        sql="SELECT n FROM t",
    ),
    Case(
        "connection closed mid-frame",
        eof_mid_frame(),
        "closed the connection",
        sql="SELECT n FROM t",
        error="OperationalError",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
async def test_hostile_server_gives_an_error_quickly(case: Case) -> None:
    async with FakeServer(case.scenario) as server:
        url = server.url(password=PASSWORD if case.password else None, **(case.options or {}))
        outcome = await run_client(url, case.sql)
    assert not server.errors, server.errors
    assert outcome["ok"] is False, outcome
    assert case.expect in outcome["message"], outcome
    assert PASSWORD not in outcome["message"]
    if case.error is not None:
        assert outcome["error"] == case.error, outcome
    assert outcome["elapsed"] < MAX_SECONDS, outcome
    if case.sql is not None:
        stats = outcome["stats"]
        assert (stats["discarded"] == 1) is case.discarded, stats
        assert stats["size"] == (0 if case.discarded else 1), stats


async def test_fake_server_scram_is_real() -> None:
    """Control case: the fake server's correct SCRAM flow is accepted, so the refusals
    above come from the hostile variations, not from a broken fake."""
    async with FakeServer(scram_correct) as server:
        outcome = await run_client(server.url(password=PASSWORD))
    assert not server.errors, server.errors
    assert outcome["ok"] is True, outcome


async def test_fake_server_query_is_real() -> None:
    """Control case: a well-formed answer to the same query is accepted."""
    reply = (
        BIND_OK
        + frame(b"D", b"\0\x01\0\0\0\x04\0\0\0\x2a")
        + frame(b"C", b"SELECT 1\0")
        + frame(b"Z", b"I")
    )
    async with FakeServer(after_prepare(reply)) as server:
        outcome = await run_client(server.url(), "SELECT n FROM t")
    assert not server.errors, server.errors
    assert outcome["ok"] is True, outcome
