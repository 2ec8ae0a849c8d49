"""What the HTTP API needs from whoever runs the core: the ``CoreHost`` protocol, and ``HostUnavailable``.

What it is for: the API never imports the simulation; the live runtime (sim/live.py, sim/scaleout.py) and
the tests each provide a host. Rules kept: the host's clock is the core's time base (``now``); a host
that cannot serve a call right now raises ``HostUnavailable``, which the API answers 503 with Retry-After.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any, Protocol, runtime_checkable

from retailsim.core.service import ApiReply, IntegrationCore


class HostUnavailable(Exception):
    """The host cannot serve this call now (a process it relies on is restarting): 503, retry later."""


@runtime_checkable
class LiveViewHost(Protocol):
    """A host that sees the world around the core (the one-process live runtime) and says what it sees
    for ``GET /v1/ops/live``: latency and error classes per system, token buckets and breakers, status
    moves per workflow, the business counts, the scenario's fault windows. Optional: a host without it
    answers 404 ``no_live_view``."""

    def ops_live(self) -> dict[str, Any]: ...


class CoreHost(Protocol):
    """What the API needs from whoever runs the core (the live runtime, or a test)."""

    @property
    def lock(self) -> AbstractContextManager[Any]:
        """Serialises calls that touch the host's runtime (its event loop, its mocks)."""

    def core(self) -> IntegrationCore | None:
        """The running core; None while its process is down (a crash fault): the API answers 503."""

    def now(self) -> float:
        """The host's clock, in the core's time base (seconds)."""

    def catalog(self) -> dict[str, Any]: ...

    def webhook_secret(self, source: str) -> str | None:
        """The signing secret of a webhook source; None for an unknown source (404)."""

    def webhook_sources(self) -> tuple[str, ...]: ...

    def orders_received(self, bodies: list[Any]) -> None:
        """Told before ingest: the storefront holds its orders before it exports them to the core."""

    def order_answered(self, body: Any, reply: ApiReply) -> None:
        """Told after every order answer (a storefront mock records what it placed)."""

    def reconciliation(self) -> dict[str, Any]: ...

    def ops_summary(self) -> dict[str, Any] | None:
        """The core's backlog, DLQ, breakers and counters; None while the core is down."""

    def sandbox_payment_intent(self, amount: int, currency: str, order_no: str) -> ApiReply | None:
        """Create an authorised PaymentIntent in a mock gateway; None when the host has no sandbox."""

    def sandbox_ledgers(self, order_no: str) -> dict[str, Any] | None: ...

    def payment_intent(self, intent_id: str) -> dict[str, Any] | None:
        """The gateway's record of a PaymentIntent (amount, currency, metadata); None when unknown or when
        the host cannot look it up (``HostUnavailable`` when it is away)."""
