"""The live host's own view for the operations page (``GET /v1/ops/live``): what only the host can see.

The core's summary (``/v1/ops/summary``) says what the core holds — backlog, dead letters, breaker
states, counters. The host sees the world around it, and this module turns that into plain JSON:

* per system, the latency of the recent calls over its links (p50/p90/p99, exact: the last
  ``LATENCY_WINDOW`` calls go through :class:`~retailsim.sim.monitors.Tally`) and every call's outcome
  by error class (``ok``, ``refused`` 4xx, ``throttled`` 429, ``server_error`` 5xx, ``no_reply``: lost
  or timed out);
* the core's token buckets and breakers in detail (tokens left, when the next call may go);
* status moves per workflow (order-to-cash, return-to-refund), counted as the core reports them;
* the business counts: orders waiting for ERP posting, shipments not yet reflected in Service Cloud,
  refunds waiting on finance;
* the scenario's fault windows on the host's clock (the one the backlog trend is drawn against).

Rules kept: nothing here changes what it observes — a bucket's tokens are computed, not refilled; the
link watch only reads the clock around a call it passes through unchanged (live mode only: a simulated
run never builds one, so no digest can move); memory is bounded (a ring of recent latencies per system,
counters otherwise).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Generator, Iterable, Mapping
from typing import Any

import simpy

from retailsim.core.adapters.http import OutboundRequest, Reply
from retailsim.core.reliability.breaker import CircuitBreaker
from retailsim.core.reliability.ratelimit import TokenBucket
from retailsim.core.workflows.order_to_cash import OrderStatus
from retailsim.core.workflows.return_to_refund import ReturnStatus
from retailsim.scenarios.schema import FaultSpec
from retailsim.sim.links import Links
from retailsim.sim.monitors import Tally
from retailsim.systems.base import MockSystem

LATENCY_WINDOW = 1000  # recent calls per system whose latency is reported (≤ Tally.EXACT_LIMIT: exact)
ERROR_CLASSES = ("ok", "refused", "throttled", "server_error", "no_reply")
WAITING_FOR_ERP = frozenset(
    {OrderStatus.RECEIVED, OrderStatus.STOCK_RESERVED, OrderStatus.PAYMENT_AUTHORIZED}
)
SHIPMENT_STATUSES = frozenset(
    {
        OrderStatus.SHIPPED,
        OrderStatus.IN_TRANSIT,
        OrderStatus.DELIVERED,
        OrderStatus.DELIVERY_FAILED,
        OrderStatus.REPLACED,
    }
)
WAITING_ON_FINANCE = frozenset({ReturnStatus.RECEIVED, ReturnStatus.REFUNDING})


def error_class(status: int | None) -> str:
    """The class of a call's outcome: no reply, throttled, a server error, refused (4xx) or ok."""
    if status is None:
        return "no_reply"
    if status == 429:
        return "throttled"
    if status >= 500:
        return "server_error"
    if status >= 400:
        return "refused"
    return "ok"


class LinkWatch:
    """Every call over the world's links, timed on the simulation clock and classed by its outcome."""

    def __init__(self, links: Links) -> None:
        self.env = links.env
        self.latencies: dict[str, deque[float]] = {}
        self.outcomes: dict[str, dict[str, int]] = {}
        call = links.call

        def watched(
            system: MockSystem, request: OutboundRequest, timeout_s: float
        ) -> Generator[simpy.Event, Any, Reply]:
            start = self.env.now
            reply = yield from call(system, request, timeout_s)
            self.record(system.name, self.env.now - start, reply.status)
            return reply

        setattr(links, "call", watched)  # noqa: B010 - an instance override: every caller holds this Links

    def record(self, system: str, seconds: float, status: int | None) -> None:
        self.latencies.setdefault(system, deque(maxlen=LATENCY_WINDOW)).append(seconds)
        outcomes = self.outcomes.setdefault(system, dict.fromkeys(ERROR_CLASSES, 0))
        outcomes[error_class(status)] += 1

    def view(self) -> dict[str, Any]:
        """Per system: calls so far by error class, and the recent calls' latency percentiles (seconds)."""
        systems: dict[str, Any] = {}
        for name in sorted(self.outcomes):
            tally = Tally()
            for seconds in self.latencies[name]:
                tally.add(seconds)
            summary = tally.summary()
            systems[name] = {
                "calls": sum(self.outcomes[name].values()),
                "errors": dict(self.outcomes[name]),
                "latency_s": {
                    "recent": tally.count,
                    **{q: summary[q] for q in ("p50", "p90", "p99", "max")},
                },
            }
        return systems


def bucket_view(bucket: TokenBucket, now: float) -> dict[str, float]:
    """A token bucket as it stands at ``now``, computed without refilling it."""
    tokens = bucket.tokens
    if now > bucket.updated_at:
        tokens = min(bucket.burst, tokens + (now - bucket.updated_at) * bucket.rate_per_s)
    wait = 0.0 if tokens >= 1.0 else (1.0 - tokens) / bucket.rate_per_s
    return {
        "tokens": round(tokens, 3),
        "burst": bucket.burst,
        "rate_per_s": bucket.rate_per_s,
        "ready_in_s": wait,
    }


def breaker_view(breaker: CircuitBreaker, now: float) -> dict[str, Any]:
    return {
        "state": breaker.state.value,
        "failures": breaker.failures,
        "retry_in_s": max(0.0, breaker.retry_at(now) - now),
    }


def business_counts(
    orders: Iterable[tuple[str, Mapping[str, Any]]],
    returns: Iterable[tuple[str, Mapping[str, Any]]],
    service_cloud: Mapping[str, str],
) -> dict[str, int]:
    """What operations asks first: orders not yet posted to the ERP, shipped orders whose latest status
    Service Cloud does not show yet, and returns received but not refunded."""
    waiting_for_erp = not_in_service_cloud = 0
    for order_no, record in orders:
        status = record.get("status")
        if status in WAITING_FOR_ERP:
            waiting_for_erp += 1
        elif status in SHIPMENT_STATUSES and service_cloud.get(order_no) != status:
            not_in_service_cloud += 1
    return {
        "orders_waiting_for_erp": waiting_for_erp,
        "shipments_not_in_service_cloud": not_in_service_cloud,
        "refunds_waiting_on_finance": sum(1 for _, r in returns if r.get("status") in WAITING_ON_FINANCE),
    }


def fault_windows(plan: Iterable[FaultSpec], now: float) -> list[dict[str, Any]]:
    """The scenario's fault windows on the host's clock, each ``upcoming``, ``active`` or ``over``
    (a crash at a crash point is ``armed`` from its start: when it strikes is the core's doing)."""
    windows = []
    for fault in plan:
        end = fault.start + fault.duration
        if fault.kind == "core_crash" and fault.point is not None:
            state = "armed" if now >= fault.start else "upcoming"
        else:
            state = "upcoming" if now < fault.start else "active" if now < end else "over"
        windows.append(
            {"kind": fault.kind, "target": fault.target, "start": fault.start, "end": end, "state": state}
        )
    return windows


class WorkflowMoves:
    """Status moves per workflow since this process started: wraps a core's status observers."""

    def __init__(self) -> None:
        self.moves: dict[str, dict[str, int]] = {"order_to_cash": {}, "return_to_refund": {}}

    def counting(
        self, workflow: str, observer: Callable[[str, str, float], None]
    ) -> Callable[[str, str, float], None]:
        moves = self.moves[workflow]

        def counted(key: str, status: str, now: float) -> None:
            moves[str(status)] = moves.get(str(status), 0) + 1
            observer(key, status, now)

        return counted

    def view(self) -> dict[str, dict[str, int]]:
        return {workflow: dict(sorted(moves.items())) for workflow, moves in self.moves.items()}
