"""What every live host shares: the one-process ``LiveRuntime`` (sim/live.py) and the API worker that
reaches the mocks through a dispatcher (sim/scaleout.py) answer these parts of the API's ``CoreHost``
protocol the same way, so they are written once, here.

Rules kept: a host's clock is ``LiveClock`` from the origin of the first boot (every process that knows
the origin reads the same time); webhooks are signed with one secret for every known source; only orders
with a string ``orderNo`` are told to the storefront. The wire form of an ``ApiReply`` (what crosses
between a worker and its dispatcher) is defined here too, so both ends agree by construction.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from retailsim.core.service import ApiReply

WEBHOOK_SOURCES = ("carrier", "wms", "payment")


class LiveClock:
    """The core's time in live mode: seconds since ``origin`` (Unix time of the first boot) times ``speed``.

    Read from the monotonic clock from the moment it is made, so a wall-clock step does not move it.
    """

    def __init__(self, origin: float, speed: float) -> None:
        self.origin = origin
        self.speed = speed
        self.anchor = time.monotonic()
        self.start = max(0.0, (time.time() - origin) * speed)

    def now(self) -> float:
        return self.start + (time.monotonic() - self.anchor) * self.speed


def storefront_orders(bodies: list[Any]) -> list[dict[str, Any]]:
    """The order bodies the storefront can know: objects with a string ``orderNo`` (others are refused by
    validation and were never exported)."""
    return [b for b in bodies if isinstance(b, dict) and isinstance(b.get("orderNo"), str)]


def reply_to_wire(reply: ApiReply) -> dict[str, Any]:
    return {"status": reply.status, "body": reply.body, "headers": reply.headers}


def reply_from_wire(wire: dict[str, Any]) -> ApiReply:
    return ApiReply(int(wire["status"]), dict(wire["body"]), dict(wire["headers"]))


class SharedHost:
    """The ``CoreHost`` members that do not depend on where the mocks run. A subclass sets ``clock``,
    ``secret`` and ``_catalog`` while it is built."""

    clock: LiveClock
    secret: str
    _catalog: dict[str, Any]

    def __init__(self) -> None:
        self._lock = threading.RLock()

    @property
    def lock(self) -> threading.RLock:
        return self._lock

    def now(self) -> float:
        return self.clock.now()

    def catalog(self) -> dict[str, Any]:
        return self._catalog

    def webhook_secret(self, source: str) -> str | None:
        return self.secret if source in WEBHOOK_SOURCES else None

    def webhook_sources(self) -> tuple[str, ...]:
        return WEBHOOK_SOURCES
