"""Serving the app with uvicorn: header limits, sockets, and the drain on SIGTERM.

Shutdown (SIGTERM or SIGINT), in order:

1. uvicorn stops the main loop; `Server.shutdown` first starts the gateway's drain: open SSE
   streams are told to come back (`retry:`, then the response is closed), new requests get
   503, running task turns get `shutdown_grace` seconds to finish, then are cancelled
   (recorded FAILED with reason GATEWAY_SHUTDOWN).
2. Meanwhile uvicorn closes the listening sockets and waits for open requests (a blocking
   SendMessage waits for its turn) up to `shutdown_grace` + 2 seconds.
3. The lifespan shutdown (which uvicorn starts as soon as no request is open) first waits
   for the drain, so running turns keep their grace, then closes the agents' channels. The
   process exits 0.

Connections: every request's scope carries `sse.CONNECTION` (an ASGI extension), the protocol
itself: it tells the request's stream (its `watcher`) when the connection is lost, so no task
per stream waits for `http.disconnect`, and its `reset()` drops the connection (SO_LINGER 0,
then the transport's abort: an RST). A stream whose client stopped reading resets it
(sse.py), since a plain close waits for the client to read what is queued: the descriptor and
the kernel's buffers would stay until then.

Header limits: with httptools (the fast parser) uvicorn has no limit on the size of, or time to
receive, a request head; `LimitedHttpTools` adds both (431 when a head exceeds
`max_header_bytes`, 408 when it takes over `header_timeout` seconds: slowloris). Under h11,
its `max_incomplete_event_size` bounds the head (a 400 past it).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from typing import Any, cast

import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from gateway.http import sse
from gateway.http.flow import Flow, Pipeline, Signal
from gateway.http.state import Gateway

try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # pragma: no cover - httptools not installed: h11 is used
    HttpToolsProtocol = None  # type: ignore[assignment,misc]


LINGER_NONE = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() resets the connection


def reset(transport: asyncio.Transport) -> None:
    """Drop a connection now: RST, not FIN. A plain close (even the transport's abort) leaves
    the kernel socket alive, FIN_WAIT with every queued byte, until the peer reads them or
    the kernel gives up on it minutes later."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):  # already gone
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_NONE)
    transport.abort()


def tell_lost(connection: sse.Connection) -> None:
    """Tell the connection's stream, if any, that the connection is lost (once)."""
    watcher, connection.watcher = connection.watcher, None
    if watcher is not None:
        watcher.lost()


def with_connection(app: ASGIApp, connection: sse.Connection) -> ASGIApp:
    """`app`, with `sse.CONNECTION` in the scope of each request on this connection."""

    async def connected(scope: Scope, receive: Receive, send: Send) -> None:
        scope.setdefault("extensions", {})[sse.CONNECTION] = connection
        await app(scope, receive, send)

    return connected


class AbortableH11(H11Protocol):
    """h11 (when httptools is not installed), an `sse.Connection` in every scope."""

    watcher: sse.Watcher | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.app = with_connection(self.app, self)

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        tell_lost(self)

    def reset(self) -> None:
        reset(self.transport)


def _refuse(transport: asyncio.Transport, status: bytes, text: bytes) -> None:
    transport.write(
        b"HTTP/1.1 %b\r\ncontent-type: text/plain; charset=utf-8\r\n"
        b"content-length: %d\r\nconnection: close\r\n\r\n%b" % (status, len(text), text)
    )
    transport.close()


def limited_protocol(max_header_bytes: int, header_timeout: float) -> Any:
    """An HttpToolsProtocol class that bounds the size of, and time to receive, a head."""
    if HttpToolsProtocol is None:  # pragma: no cover
        return AbortableH11

    class LimitedHttpTools(HttpToolsProtocol):
        # Slots, not instance attributes: uvicorn's protocol already has about 30, and five
        # more push each connection's __dict__ past CPython's shared-key size (1.3 KB more
        # per open connection, `make bench` idle streams).
        __slots__ = (
            "_head_bytes",
            "_head_timer",
            "_in_head",
            "_oversize",
            "_parsed_bytes",
            "watcher",
        )

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._head_bytes = 0  # raw bytes received while the head is incomplete
            self._parsed_bytes = 0  # bytes of the url and headers parsed so far
            self._in_head = True
            self._oversize = False
            self._head_timer: asyncio.TimerHandle | None = None
            self.watcher: sse.Watcher | None = None  # sse.Connection: told when the peer goes
            self.pipeline = Pipeline()  # type: ignore[assignment]  # deque's methods, lazily: flow.py

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self.flow = Flow(transport)  # no Event per connection until it stalls (flow.py)
            self._arm()

        def reset(self) -> None:
            reset(self.transport)

        def _arm(self) -> None:
            if self._head_timer is None:
                self._head_timer = self.loop.call_later(header_timeout, self._head_too_slow)

        def _disarm(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _head_too_slow(self) -> None:
            self._head_timer = None
            if self._in_head and not self.transport.is_closing():
                _refuse(self.transport, b"408 Request Timeout", b"request head too slow\n")

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)
            tell_lost(self)

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self._in_head:
                self._head_bytes += len(data)
                if self._head_bytes > max_header_bytes and not self.transport.is_closing():
                    self._disarm()
                    _refuse(
                        self.transport,
                        b"431 Request Header Fields Too Large",
                        b"request head too large\n",
                    )

        def _parsed(self, size: int) -> None:
            self._parsed_bytes += size
            if self._parsed_bytes > max_header_bytes:
                self._oversize = True
                raise ValueError("request head too large")  # the parser stops here

        def send_400_response(self, msg: str) -> None:
            if self._oversize:
                self._disarm()
                _refuse(
                    self.transport,
                    b"431 Request Header Fields Too Large",
                    b"request head too large\n",
                )
            else:
                super().send_400_response(msg)

        def on_message_begin(self) -> None:
            super().on_message_begin()
            # The scope uvicorn just made for this request: its SSE response, if any, learns
            # of a lost connection from us rather than from a task waiting in receive().
            extensions = cast(dict[str, Any], self.scope.setdefault("extensions", {}))
            extensions[sse.CONNECTION] = self
            self._in_head = True
            self._parsed_bytes = 0
            self._arm()

        def on_url(self, url: bytes) -> None:
            self._parsed(len(url))
            super().on_url(url)

        def on_header(self, name: bytes, value: bytes) -> None:
            self._parsed(len(name) + len(value) + 4)
            super().on_header(name, value)

        def on_headers_complete(self) -> None:
            self._in_head = False
            self._head_bytes = 0
            self._disarm()
            cycle = self.cycle
            super().on_headers_complete()
            if self.cycle is not None and self.cycle is not cycle:
                self.cycle.message_event = Signal()  # a new request's: see flow.py

    return LimitedHttpTools


class Server(uvicorn.Server):
    """uvicorn's server, with the gateway's drain at the start of shutdown."""

    def __init__(self, config: uvicorn.Config, gateway: Gateway) -> None:
        super().__init__(config)
        self.gateway = gateway

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        drain = self.gateway.start_drain()
        await super().shutdown(sockets)  # ends with the lifespan, which awaits the drain
        await drain


def listen(host: str, port: int) -> socket.socket:
    """A bound, listening, non-blocking socket (port 0 picks a free port)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted sockets inherit this: without it a response's head and body (two writes)
    # meet Nagle + delayed ACK and every response takes ~40 ms more.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.setblocking(False)
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if sock.family == socket.AF_INET6 else host
    return f"http://{shown}:{port}"
