"""A fault-injecting TCP proxy between ormkit and the private PostgreSQL server.

Every connection made to the proxy (CancelRequest connections included) is forwarded
to the server. Faults can be switched at run time, for every connection at once:

``pass``
    forward bytes as they come (optionally after ``delay`` seconds per chunk);
``blackhole``
    stop forwarding in both directions; bytes are held (as TCP would retransmit them)
    and delivered when the proxy passes again;
``deaf``
    stop accepting new connections (they wait in the listen backlog: the client's
    connect succeeds, then nothing answers); existing connections go on;
``reset``
    abort every connection with a TCP RST, and reset new ones at once;
``cut``
    after ``cut_after`` more bytes from the server on a connection, reset it (a cut
    in the middle of a result).

The proxy also counts traffic: a *burst* is a run of chunks in one direction, so
``client_bursts`` counts the client's writes that were answered before the next one
(round trips) and ``server_bursts`` the server's answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

__all__ = ["FaultProxy", "ProxyCounters"]

_CHUNK = 65536


@dataclass
class ProxyCounters:
    """Traffic through the proxy since the last :meth:`FaultProxy.reset_counters`."""

    connections: int = 0
    client_bursts: int = 0
    server_bursts: int = 0
    client_bytes: int = 0
    server_bytes: int = 0


@dataclass(eq=False)
class _Link:
    client: socket.socket
    upstream: socket.socket | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    last_direction: str = ""
    cut_budget: int | None = None
    closed: bool = False


def _rst(sock: socket.socket) -> None:
    """Closes ``sock`` with a TCP reset instead of a FIN."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.close()


class FaultProxy:
    """``async with FaultProxy(host, port) as proxy:`` then connect to ``proxy.port``."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.host = "127.0.0.1"
        self.port = 0
        self.delay = 0.0
        self.cut_after: int | None = None
        self.counters = ProxyCounters()
        self._mode = "pass"
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._accepting = asyncio.Event()
        self._accepting.set()
        self._listener: socket.socket | None = None
        self._accept_task: asyncio.Task[None] | None = None
        self._links: set[_Link] = set()

    # ---- lifecycle -------------------------------------------------------

    async def start(self) -> FaultProxy:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, 0))
        listener.listen(64)
        listener.setblocking(False)
        self._listener = listener
        self.port = listener.getsockname()[1]
        self._accept_task = asyncio.get_running_loop().create_task(self._accept_loop())
        return self

    async def close(self) -> None:
        if self._accept_task is not None:
            self._accept_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._accept_task
            self._accept_task = None
        for link in list(self._links):
            await self._close_link(link, reset=False)
        if self._listener is not None:
            self._listener.close()
            self._listener = None

    async def __aenter__(self) -> FaultProxy:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def url(self, url: str) -> str:
        """``url`` with its host and port replaced by the proxy's."""
        parts = urlsplit(url)
        userinfo = parts.netloc.rpartition("@")[0]
        netloc = f"{userinfo}@{self.host}:{self.port}" if userinfo else f"{self.host}:{self.port}"
        return urlunsplit(parts._replace(netloc=netloc))

    # ---- faults ----------------------------------------------------------

    @property
    def mode(self) -> str:
        return self._mode

    def set_mode(self, mode: str, *, cut_after: int | None = None) -> None:
        """Switches to ``pass``, ``blackhole``, ``deaf``, ``reset`` or ``cut``."""
        if mode not in ("pass", "blackhole", "deaf", "reset", "cut"):
            raise ValueError(mode)
        self._mode = mode
        if mode == "blackhole":
            self._flowing.clear()
        else:
            self._flowing.set()
        if mode == "deaf":
            self._accepting.clear()
        else:
            self._accepting.set()
        if mode == "reset":
            for link in list(self._links):
                self._abort(link)
        self.cut_after = cut_after if mode == "cut" else None
        for link in self._links:
            link.cut_budget = self.cut_after

    def reset_counters(self) -> None:
        self.counters = ProxyCounters()

    @property
    def open_links(self) -> int:
        return len(self._links)

    # ---- forwarding ------------------------------------------------------

    async def _accept_loop(self) -> None:
        loop = asyncio.get_running_loop()
        assert self._listener is not None
        while True:
            client, _ = await loop.sock_accept(self._listener)
            if self._mode == "reset":
                _rst(client)
                continue
            link = _Link(client=client, cut_budget=self.cut_after)
            self._links.add(link)
            self.counters.connections += 1
            link.tasks.append(loop.create_task(self._serve(link)))

    async def _serve(self, link: _Link) -> None:
        loop = asyncio.get_running_loop()
        link.client.setblocking(False)
        # Deaf: the kernel completed the handshake, but nobody reads or answers.
        await self._accepting.wait()
        if link.closed:
            return
        upstream = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        upstream.setblocking(False)
        link.upstream = upstream
        try:
            await loop.sock_connect(upstream, self.target)
        except OSError:
            self._abort(link)
            return
        link.tasks.append(loop.create_task(self._pump(link, link.client, upstream, "client")))
        link.tasks.append(loop.create_task(self._pump(link, upstream, link.client, "server")))

    async def _pump(
        self, link: _Link, src: socket.socket, dst: socket.socket, direction: str
    ) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                data = await loop.sock_recv(src, _CHUNK)
                if not data:
                    break
                await self._flowing.wait()
                if self.delay:
                    await asyncio.sleep(self.delay)
                    await self._flowing.wait()
                if link.closed:
                    return
                if direction == "server" and link.cut_budget is not None:
                    if len(data) >= link.cut_budget:
                        data = data[: link.cut_budget]
                        if data:
                            await loop.sock_sendall(dst, data)
                        self._abort(link)
                        return
                    link.cut_budget -= len(data)
                self._count(link, direction, len(data))
                await loop.sock_sendall(dst, data)
        except OSError:
            pass
        finally:
            # One side finished: pass the close on (FIN) and let the other pump end.
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)
            if all(t.done() or t is asyncio.current_task() for t in link.tasks[1:]):
                self._forget(link)

    def _count(self, link: _Link, direction: str, n: int) -> None:
        c = self.counters
        if direction == "client":
            c.client_bytes += n
            if link.last_direction != "client":
                c.client_bursts += 1
        else:
            c.server_bytes += n
            if link.last_direction != "server":
                c.server_bursts += 1
        link.last_direction = direction

    def _abort(self, link: _Link) -> None:
        """Resets both sides of ``link`` at once."""
        if link.closed:
            return
        link.closed = True
        for task in link.tasks:
            if task is not asyncio.current_task():
                task.cancel()
        _rst(link.client)
        if link.upstream is not None:
            _rst(link.upstream)
        self._links.discard(link)

    def _forget(self, link: _Link) -> None:
        if link.closed:
            return
        link.closed = True
        link.client.close()
        if link.upstream is not None:
            link.upstream.close()
        self._links.discard(link)

    async def _close_link(self, link: _Link, *, reset: bool) -> None:
        tasks = [t for t in link.tasks if t is not asyncio.current_task()]
        if reset:
            self._abort(link)
        else:
            for task in tasks:
                task.cancel()
            self._forget(link)
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, OSError):
                await task
