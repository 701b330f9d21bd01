"""A deliberately broken PostgreSQL server: just enough protocol to reach the point
where it misbehaves.

``FakeServer(scenario)`` listens on 127.0.0.1; each connection answers the SSLRequest
with ``N``, reads the StartupMessage, then runs ``scenario(peer)``, a coroutine that
speaks to the client through a :class:`Peer` (typed helpers for the backend messages a
real server would send, and raw bytes for the ones no server should send).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import os
import struct
from collections.abc import Awaitable, Callable

__all__ = ["FakeServer", "Peer", "Scenario", "frame"]

SSL_REQUEST = 80877103
PROTOCOL_3 = 196608
INT4_OID = 23


def frame(tag: bytes, body: bytes = b"") -> bytes:
    """One backend message: tag, int32 length (itself included), body."""
    return tag + struct.pack("!i", len(body) + 4) + body


class Peer:
    """The server side of one client connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.startup: dict[str, str] = {}

    # ---- reading ---------------------------------------------------------

    async def read_startup(self) -> None:
        while True:
            (length,) = struct.unpack("!i", await self.reader.readexactly(4))
            body = await self.reader.readexactly(length - 4)
            (code,) = struct.unpack("!i", body[:4])
            if code == SSL_REQUEST:
                await self.send(b"N")
                continue
            assert code == PROTOCOL_3, code
            items = body[4:].split(b"\0")
            self.startup = {
                items[i].decode(): items[i + 1].decode() for i in range(0, len(items) - 2, 2)
            }
            return

    async def read_message(self) -> tuple[bytes, bytes]:
        """The next frontend message as (tag, body)."""
        header = await self.reader.readexactly(5)
        (length,) = struct.unpack("!i", header[1:])
        return header[:1], await self.reader.readexactly(length - 4)

    async def read_until_sync(self) -> list[bytes]:
        """Reads frontend messages up to a Sync (or a simple Query); returns their tags."""
        tags = []
        while True:
            tag, _ = await self.read_message()
            tags.append(tag)
            if tag in (b"S", b"Q"):
                return tags

    # ---- writing ---------------------------------------------------------

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def auth(self, code: int, extra: bytes = b"") -> None:
        await self.send(frame(b"R", struct.pack("!i", code) + extra))

    async def ready(self, status: bytes = b"I") -> None:
        await self.send(frame(b"Z", status))

    async def startup_done(self) -> None:
        """BackendKeyData, a ParameterStatus and ReadyForQuery after AuthenticationOk."""
        await self.send(
            frame(b"K", struct.pack("!ii", 4242, 99))
            + frame(b"S", b"server_version\x0015.0\0")
            + frame(b"Z", b"I")
        )

    async def trust_login(self) -> None:
        await self.auth(0)
        await self.startup_done()

    async def describe_int4_column(self) -> None:
        """Answers Parse/Describe/Sync of a statement with no parameters and one
        int4 column named ``n``."""
        field = b"n\0" + struct.pack("!ihihih", 0, 0, INT4_OID, 4, -1, 0)
        await self.send(
            frame(b"1")
            + frame(b"t", struct.pack("!h", 0))
            + frame(b"T", struct.pack("!h", 1) + field)
            + frame(b"Z", b"I")
        )

    async def error(self, code: str, message: str, severity: str = "ERROR") -> None:
        body = b"".join(
            k + v.encode() + b"\0"
            for k, v in ((b"S", severity), (b"V", severity), (b"C", code), (b"M", message))
        )
        await self.send(frame(b"E", body + b"\0"))

    async def hang(self) -> None:
        """Keeps the connection open, answering nothing, until the client leaves."""
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while await self.reader.read(4096):
                pass


Scenario = Callable[[Peer], Awaitable[None]]


class FakeServer:
    """``async with FakeServer(scenario) as server:`` then connect to ``server.url()``."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.port = 0
        self.errors: list[BaseException] = []
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> FakeServer:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._server.wait_closed()

    def url(self, user: str = "fake", password: str | None = None, **options: str) -> str:
        auth = f"{user}:{password}" if password is not None else user
        settings = {"sslmode": "disable", "connect_timeout": "5", **options}
        query = "&".join(f"{k}={v}" for k, v in settings.items())
        return f"postgresql://{auth}@127.0.0.1:{self.port}/fake?{query}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        peer = Peer(reader, writer)
        try:
            await peer.read_startup()
            await self.scenario(peer)
            await peer.hang()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except Exception as exc:  # a broken scenario must fail the test, not vanish
            self.errors.append(exc)
        finally:
            self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError, asyncio.CancelledError):
                await writer.wait_closed()


# ---- SCRAM-SHA-256, server side (RFC 5802/7677), for hostile variations -------------


def scram_server_first(client_first: bytes, iterations: int = 4096) -> tuple[str, bytes]:
    """Parses the SASLInitialResponse body; returns (server-first message, salt)."""
    mech_end = client_first.index(b"\0")
    assert client_first[:mech_end] == b"SCRAM-SHA-256", client_first[:mech_end]
    (length,) = struct.unpack("!i", client_first[mech_end + 1 : mech_end + 5])
    message = client_first[mech_end + 5 : mech_end + 5 + length].decode()
    nonce = message.split("r=", 1)[1].split(",", 1)[0]
    salt = os.urandom(16)
    server_nonce = nonce + base64.b64encode(os.urandom(18)).decode()
    first = f"r={server_nonce},s={base64.b64encode(salt).decode()},i={iterations}"
    return first, salt


def scram_signature(password: str, salt: bytes, iterations: int, auth_message: bytes) -> bytes:
    """The server signature a real server would send (for a correct-flow control case)."""
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    return hmac.new(server_key, auth_message, hashlib.sha256).digest()
