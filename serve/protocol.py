"""uvicorn's HTTP protocol (httptools) with the guards a server facing strangers needs, which
uvicorn does not give it: a cap on connections in all and per client address, a time limit on
receiving a request's headers, and a size limit on them. uvicorn's own ``limit_concurrency``
counts a connection that never sends a request for as long as it stays open, and its
httptools protocol takes headers of any size; both let a few idle or slow clients shut
everyone else out, or fill the memory.

Refusals are JSON like every other error of the server, written straight to the socket before
it is closed: 503 (the server is full), 429 (this address holds too many connections), 408
(headers not received in time), 431 (headers too large).
"""

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Optional, Tuple, Type

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

MAX_HEADER_BYTES = 64 * 1024

_REASONS = {408: "Request Timeout", 429: "Too Many Requests", 431: "Request Header Fields Too Large", 503: "Service Unavailable"}


@dataclass
class ConnectionGuards:
    max_connections: int
    max_per_client: int
    header_timeout_s: float  # from connecting (or the last answer) to a request's complete headers
    open: Counter = field(default_factory=Counter)
    total: int = 0

    def admit(self, host: str) -> Optional[Tuple[int, str]]:
        """None when the connection may stay, else the (status, message) that refuses it."""
        if self.total >= self.max_connections:
            return 503, f"the server holds {self.max_connections} connections, its limit (--max-connections); try again shortly"
        if self.open[host] >= self.max_per_client:
            return 429, f"{host} holds {self.max_per_client} connections, the limit per client (--max-client-connections); reuse them"
        self.open[host] += 1
        self.total += 1
        return None

    def leave(self, host: str) -> None:
        self.total -= 1
        self.open[host] -= 1
        if self.open[host] <= 0:
            del self.open[host]


class GuardedProtocol(HttpToolsProtocol):
    guards: ConnectionGuards  # set on the subclass ``guarded_protocol`` makes

    def connection_made(self, transport: Any) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.host = self.client[0] if self.client else "-"
        self.admitted = False
        self.header_bytes = 0
        self.header_timer: Any = None
        refusal = self.guards.admit(self.host)
        if refusal is not None:
            self._refuse(*refusal)
            return
        self.admitted = True
        self._await_headers()

    def connection_lost(self, exc: Optional[Exception]) -> None:
        if self.admitted:
            self.guards.leave(self.host)
            self.admitted = False
        self._stop_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        # Counted only while a request's headers are still incomplete after this chunk: every
        # byte so far is then part of them (a chunk that completes them is not counted).
        if self.header_timer is not None and not self.transport.is_closing():
            self.header_bytes += len(data)
            if self.header_bytes > MAX_HEADER_BYTES:
                self._refuse(431, f"the request's headers are over {MAX_HEADER_BYTES} bytes")

    def on_headers_complete(self) -> None:
        self._stop_timer()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        idle = self.cycle is None or self.cycle.response_complete  # not a pipelined request started
        if idle and not self.transport.is_closing():
            self._await_headers()

    def _await_headers(self) -> None:
        self._stop_timer()
        self.header_bytes = 0
        self.header_timer = self.loop.call_later(self.guards.header_timeout_s, self._headers_too_slow)

    def _stop_timer(self) -> None:
        if self.header_timer is not None:
            self.header_timer.cancel()
            self.header_timer = None

    def _headers_too_slow(self) -> None:
        self.header_timer = None
        if not self.transport.is_closing():
            self._refuse(408, f"no complete request headers within {self.guards.header_timeout_s:g} s (--header-timeout-s)")

    def _refuse(self, status: int, message: str) -> None:
        self._stop_timer()
        body = json.dumps({"error": {"status": status, "message": message}}).encode()
        head = (f"HTTP/1.1 {status} {_REASONS[status]}\r\ncontent-type: application/json\r\n"
                f"content-length: {len(body)}\r\nconnection: close\r\n\r\n").encode()  # fmt: skip
        self.transport.write(head + body)
        self.transport.close()


def guarded_protocol(guards: ConnectionGuards) -> Type[GuardedProtocol]:
    """The protocol class for ``uvicorn.Config(http=...)``, sharing ``guards`` across connections."""
    return type("GuardedProtocol", (GuardedProtocol,), {"guards": guards})
