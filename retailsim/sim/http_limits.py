"""Connection limits for the live API's HTTP server: uvicorn's httptools protocol with a header size
limit (431) and a header-read timeout (408), which uvicorn itself does not offer for httptools.

What it is for: without them a 16 MB header was accepted and a client that sent its headers one byte at
a time (or nothing at all) held a connection forever. The limits, and the ones uvicorn does have
(keep-alive timeout), are set in ``sim.live.server_options`` and documented in the README:

* request line + headers larger than ``MAX_HEADER_BYTES`` → 431, connection closed;
* headers not complete ``HEADER_TIMEOUT_S`` after the connection opened, or after the first byte of
  the next request on a kept-alive connection → 408, connection closed;
* an idle kept-alive connection is closed after ``KEEP_ALIVE_S`` (uvicorn's ``timeout_keep_alive``);
* bodies over 1 MiB → 413 from the app (``core.api.edge.read_json_body``, before buffering).

Rules kept: loopback tests only; nothing here touches the app — a refused request never reaches it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

MAX_HEADER_BYTES = 32 * 1024
HEADER_TIMEOUT_S = 10.0
KEEP_ALIVE_S = 5


def _refusal(status: int, reason: str, detail: str) -> bytes:
    body = f'{{"error":"{reason}","detail":"{detail}"}}'.encode()
    head = (
        f"HTTP/1.1 {status} {reason.replace('_', ' ').title()}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """``HttpToolsProtocol`` that refuses oversized headers (431) and headers that take too long (408)."""

    max_header_bytes = MAX_HEADER_BYTES
    header_timeout_s = HEADER_TIMEOUT_S

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._header_bytes = 0
        self._refused = False
        self._header_timer: asyncio.TimerHandle | None = None
        super().connection_made(transport)
        self._arm_header_timer()

    def _arm_header_timer(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self.header_timeout_s, self._headers_too_slow)

    def _disarm_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _refuse(self, response: bytes) -> None:
        self._refused = True
        self._disarm_header_timer()
        if not self.transport.is_closing():
            self.transport.write(response)
            self.transport.close()

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if self.cycle is None or self.cycle.response_complete:
            self._refuse(
                _refusal(408, "request_timeout", f"headers not received within {self.header_timeout_s:g} s")
            )

    def _count(self, size: int) -> None:
        self._header_bytes += size
        if self._header_bytes > self.max_header_bytes:
            self._refuse(
                _refusal(
                    431,
                    "request_header_fields_too_large",
                    f"request line and headers are limited to {self.max_header_bytes} bytes",
                )
            )
            raise ValueError("header too large")  # stops the parser; the 431 is already written

    def data_received(self, data: bytes) -> None:
        if not self._refused:
            super().data_received(data)

    def send_400_response(self, msg: str) -> None:
        if not self._refused:  # the parser stopped because we refused: the answer is already sent
            super().send_400_response(msg)

    def on_message_begin(self) -> None:
        self._header_bytes = 0
        self._arm_header_timer()  # the next request on a kept-alive connection: its headers are timed too
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + 4)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._disarm_header_timer()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_timer()
        super().connection_lost(exc)


def limits() -> dict[str, Any]:
    """uvicorn options for these limits."""
    return {
        "http": LimitedHttpToolsProtocol,
        "timeout_keep_alive": KEEP_ALIVE_S,
        "h11_max_incomplete_event_size": MAX_HEADER_BYTES,  # the same bound should h11 ever be chosen
    }
