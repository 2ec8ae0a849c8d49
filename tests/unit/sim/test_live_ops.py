"""The live host's view for /ops (sim/live_ops.py): what it reports is what happened, and it changes
nothing it looks at.

What it is for: the operations page shows these numbers to people deciding what to do during an incident,
so a latency percentile must be the percentile of the calls' real durations, an error class must be the
class of what came back, a token bucket must read as it stands without being refilled by the reading,
and a fault window must be active exactly between its start and its end.
"""

from __future__ import annotations

import math
import random
from collections.abc import Generator
from typing import Any

import simpy

from retailsim.core.adapters.http import OutboundRequest
from retailsim.core.reliability.breaker import CircuitBreaker
from retailsim.core.reliability.ratelimit import TokenBucket
from retailsim.scenarios.schema import FaultSpec, LatencySpec
from retailsim.sim.links import Links
from retailsim.sim.live_ops import (
    LATENCY_WINDOW,
    LinkWatch,
    WorkflowMoves,
    breaker_view,
    bucket_view,
    business_counts,
    error_class,
    fault_windows,
)
from retailsim.systems.base import MockSystem, Request, Response


class Answering(MockSystem):
    """A mock that answers the status its path names: ``GET /status/429`` → 429."""

    name = "answering"
    routes = (("GET", r"/status/(\d+)", "answer"),)

    def answer(self, request: Request, status: str) -> Response:
        return Response(int(status), {})


def nearest_rank(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def test_the_link_watch_reports_the_calls_real_durations_and_outcomes() -> None:
    env = simpy.Environment()
    links = Links(env, LatencySpec(median=0.05, p99=0.4), random.Random(7))
    system = Answering(env, random.Random(8))
    watch = LinkWatch(links)
    statuses = [200] * 40 + [404] * 5 + [429] * 3 + [503] * 2
    random.Random(9).shuffle(statuses)
    measured: list[float] = []
    seen: list[int | None] = []

    def caller() -> Generator[simpy.Event, Any, None]:
        for status in statuses:
            start = env.now
            reply = yield from links.call(system, OutboundRequest("GET", f"/status/{status}"), 30.0)
            measured.append(env.now - start)
            seen.append(reply.status)
        start = env.now  # a caller that cannot wait: no reply, and the whole timeout spent
        reply = yield from links.call(system, OutboundRequest("GET", "/status/200"), 1e-6)
        measured.append(env.now - start)
        seen.append(reply.status)

    env.process(caller())
    env.run()

    assert seen == [*statuses, None]  # the watch passes every reply through unchanged
    view = watch.view()["answering"]
    assert view["calls"] == len(statuses) + 1
    assert view["errors"] == {"ok": 40, "refused": 5, "throttled": 3, "server_error": 2, "no_reply": 1}
    latency = view["latency_s"]
    assert latency["recent"] == len(measured)
    for q, name in ((0.5, "p50"), (0.9, "p90"), (0.99, "p99")):
        assert latency[name] == nearest_rank(measured, q)
    assert latency["max"] == max(measured)


def test_the_latency_window_keeps_the_recent_calls_and_counts_them_all() -> None:
    watch = LinkWatch(Links(simpy.Environment(), LatencySpec(), random.Random(1)))
    for i in range(LATENCY_WINDOW + 10):
        watch.record("erp", 100.0 if i < 10 else 1.0, 200)
    view = watch.view()["erp"]
    assert view["calls"] == LATENCY_WINDOW + 10
    assert view["latency_s"]["recent"] == LATENCY_WINDOW
    assert view["latency_s"]["max"] == 1.0  # the ten slow calls have left the window


def test_error_classes() -> None:
    assert [error_class(s) for s in (None, 200, 201, 302, 400, 409, 429, 500, 503)] == [
        "no_reply", "ok", "ok", "ok", "refused", "refused", "throttled", "server_error", "server_error"
    ]  # fmt: skip


def test_a_bucket_reads_as_it_stands_without_being_refilled() -> None:
    bucket = TokenBucket(rate_per_s=2.0, burst=4.0)
    for _ in range(4):
        assert bucket.try_take(10.0)
    before = (bucket.tokens, bucket.updated_at)
    view = bucket_view(bucket, 10.25)
    assert (bucket.tokens, bucket.updated_at) == before  # reading changed nothing
    assert view["tokens"] == 0.5 and view["burst"] == 4.0 and view["rate_per_s"] == 2.0
    assert view["ready_in_s"] == bucket.ready_at(10.25) - 10.25 == 0.25
    assert bucket_view(bucket, 99.0)["tokens"] == 4.0 and bucket_view(bucket, 99.0)["ready_in_s"] == 0.0


def test_an_open_breaker_says_when_it_will_let_a_probe_through() -> None:
    breaker = CircuitBreaker(failure_threshold=2, open_s=30.0)
    breaker.record_failure(100.0)
    assert breaker_view(breaker, 101.0) == {"state": "closed", "failures": 1, "retry_in_s": 0.0}
    breaker.record_failure(101.0)
    assert breaker_view(breaker, 111.0) == {"state": "open", "failures": 2, "retry_in_s": 20.0}


def test_a_fault_window_is_active_from_its_start_to_its_end() -> None:
    outage = FaultSpec(kind="outage", target="erp", start=60.0, duration=30.0)
    crash = FaultSpec(kind="core_crash", target="core", start=50.0, duration=5.0, point="random")
    states = [[w["state"] for w in fault_windows([outage, crash], now)] for now in (0.0, 60.0, 89.9, 90.0)]
    assert states == [["upcoming", "upcoming"], ["active", "armed"], ["active", "armed"], ["over", "armed"]]
    (window,) = fault_windows([outage], 0.0)
    assert window == {"kind": "outage", "target": "erp", "start": 60.0, "end": 90.0, "state": "upcoming"}


def test_the_business_counts() -> None:
    orders = [
        ("A", {"status": "received"}),
        ("B", {"status": "payment_authorized"}),
        ("C", {"status": "posted_to_erp"}),  # posted: waiting for nothing the counts name
        ("D", {"status": "shipped"}),  # Service Cloud still shows an older status
        ("E", {"status": "delivered"}),  # Service Cloud shows it
        ("F", {"status": "in_transit"}),  # Service Cloud has no record yet
        ("G", {"status": "rejected"}),
    ]
    returns = [("R1", {"status": "received"}), ("R2", {"status": "refunding"}), ("R3", {"status": "refunded"})]
    service_cloud = {"C": "posted_to_erp", "D": "posted_to_erp", "E": "delivered"}
    assert business_counts(orders, returns, service_cloud) == {
        "orders_waiting_for_erp": 2,
        "shipments_not_in_service_cloud": 2,
        "refunds_waiting_on_finance": 2,
    }


def test_workflow_moves_count_what_the_core_reports_and_pass_it_on() -> None:
    moves = WorkflowMoves()
    told: list[tuple[str, str, float]] = []
    orders = moves.counting("order_to_cash", lambda *args: told.append(args))
    for status in ("received", "stock_reserved", "received"):
        orders("A", status, 1.0)
    assert told == [("A", "received", 1.0), ("A", "stock_reserved", 1.0), ("A", "received", 1.0)]
    assert moves.view() == {"order_to_cash": {"received": 2, "stock_reserved": 1}, "return_to_refund": {}}
