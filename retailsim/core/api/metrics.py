"""Prometheus metrics of the core's API, in a registry of its own (never the process-global one).

Request series are recorded by a plain ASGI middleware (route template, method, status, duration; a
client that went away before it was answered is status ``499``, nginx's "client closed request", never
a 500 — the server did nothing wrong); the
core's state — outbox backlog per destination, DLQ size, breaker state per destination, the core's event
counters — is read at scrape time by a collector, so a gauge can never go stale.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

BREAKER_VALUES = {"closed": 0.0, "half_open": 1.0, "open": 2.0}
CLIENT_CLOSED_REQUEST = 499
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class CoreStateCollector(Collector):
    """Reads ``ops_summary()`` (via ``read``) when Prometheus scrapes."""

    def __init__(self, read: Callable[[], dict[str, Any] | None]) -> None:
        self._read = read

    def collect(self) -> Iterator[Metric]:
        summary = self._read()
        up = GaugeMetricFamily("retailsim_core_up", "1 while the core process is up")
        up.add_metric([], 0.0 if summary is None else 1.0)
        yield up
        if summary is None:
            return
        backlog = GaugeMetricFamily(
            "retailsim_outbox_backlog", "outbox messages pending or in flight", labels=["destination"]
        )
        for destination, count in sorted(summary["outbox"]["by_destination"].items()):
            backlog.add_metric([destination], float(count))
        yield backlog
        in_flight = GaugeMetricFamily("retailsim_outbox_in_flight", "outbox messages being delivered")
        in_flight.add_metric([], float(summary["outbox"]["in_flight"]))
        yield in_flight
        dlq = GaugeMetricFamily("retailsim_dlq_size", "dead-lettered messages not yet replayed")
        dlq.add_metric([], float(summary["dlq"]["size"]))
        yield dlq
        breaker = GaugeMetricFamily(
            "retailsim_breaker_state",
            "circuit breaker: 0 closed, 1 half-open, 2 open",
            labels=["destination"],
        )
        for destination, state in sorted(summary["breakers"].items()):
            breaker.add_metric([destination], BREAKER_VALUES.get(str(state), -1.0))
        yield breaker
        events = CounterMetricFamily("retailsim_core_events", "the core's event counters", labels=["event"])
        for name, value in sorted(summary["counters"].items()):
            events.add_metric([name], float(value))
        yield events


class ApiMetrics:
    """The registry and the request series of one app."""

    def __init__(self, read_core: Callable[[], dict[str, Any] | None]) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "retailsim_http_requests",
            "HTTP requests answered",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "retailsim_http_request_duration_seconds",
            "time to answer an HTTP request",
            ["route", "method"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(CoreStateCollector(read_core))

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(route, method, str(status)).inc()
        self.latency.labels(route, method).observe(seconds)


class MetricsMiddleware:
    """Pure ASGI middleware (no body buffering): counts every answer by its route template."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        answered = disconnected = False

        async def record_status(message: Message) -> None:
            nonlocal status, answered
            if message["type"] == "http.response.start":
                status = int(message["status"])
                answered = True
            await send(message)

        async def watch_disconnect() -> Message:
            nonlocal disconnected
            message = await receive()
            if message["type"] == "http.disconnect":
                disconnected = True
            return message

        try:
            await self.app(scope, watch_disconnect, record_status)
        except ClientDisconnect:
            disconnected = True  # nobody is left to answer: not an error of ours, and nothing to send
        finally:
            if disconnected and not answered:
                status = CLIENT_CLOSED_REQUEST
            route = scope.get("route")
            template = str(getattr(route, "path", "unmatched"))
            self.metrics.observe(
                template, str(scope.get("method", "")), status, time.perf_counter() - started
            )
