"""The API while the core's process is down: every route that needs the core answers 503
``core_unavailable`` with Retry-After and changes nothing; the summary still answers (``core_up: false``).

One rule, written once in core/api/edge.py (``Api.with_core``), exercised here route by route — a router
that forgets it would reach for a core that is not there and answer 500. In process (httpx over ASGI, no
socket), over a host whose core is down: the host is a fake of the ``CoreHost`` port.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any

import httpx
import pytest

from retailsim.core.api import HostUnavailable, create_app, sign
from retailsim.core.service import ApiReply, IntegrationCore
from retailsim.core.stores.base import StoreUnavailable

OPS = {"Authorization": "Bearer ops"}
SECRET = "whsec_core_down"
RESTARTING = {
    "error": "core_unavailable",
    "detail": "the core process is restarting; retry with the same key",
}


class CoreDownHost:
    """A host whose core's process is down (``away``: raises ``HostUnavailable`` instead); it records
    what the API told it, so a test can see that nothing went through."""

    def __init__(self, away: str | None = None, store_down: str | None = None) -> None:
        self.away = away
        self.store_down = store_down
        self.lock = threading.Lock()
        self.told: list[str] = []

    def core(self) -> IntegrationCore | None:
        if self.away is not None:
            raise HostUnavailable(self.away)
        if self.store_down is not None:  # as the core's first transaction would raise it
            raise StoreUnavailable(self.store_down)
        return None

    def now(self) -> float:
        return 0.0

    def catalog(self) -> dict[str, Any]:
        return {"products": []}

    def webhook_secret(self, source: str) -> str | None:
        return SECRET if source == "carrier" else None

    def webhook_sources(self) -> tuple[str, ...]:
        return ("carrier",)

    def orders_received(self, bodies: list[Any]) -> None:
        self.told.append("orders_received")

    def order_answered(self, body: Any, reply: ApiReply) -> None:
        self.told.append("order_answered")

    def reconciliation(self) -> dict[str, Any]:
        self.told.append("reconciliation")
        return {}

    def ops_summary(self) -> dict[str, Any] | None:
        if self.away is not None:
            raise HostUnavailable(self.away)
        return None

    def sandbox_payment_intent(self, amount: int, currency: str, order_no: str) -> ApiReply | None:
        return None

    def sandbox_ledgers(self, order_no: str) -> dict[str, Any] | None:
        return None

    def payment_intent(self, intent_id: str) -> dict[str, Any] | None:
        return None


def signed_event() -> tuple[bytes, dict[str, str]]:
    raw = json.dumps({"id": "evt_1", "description": "tracker.updated", "result": {}}).encode()
    return raw, {"Webhook-Signature": sign(SECRET, raw, int(time.time())), "Content-Type": "application/json"}


def keyed(key: str, ops: bool = False) -> dict[str, str]:
    return {"Idempotency-Key": key, **(OPS if ops else {})}


# Every route that needs the core, as a client calls it (the ops routes with the token).
CORE_CALLS: list[tuple[str, str, dict[str, Any]]] = [
    ("POST", "/v1/orders", {"json": {"orderNo": "00001"}, "headers": keyed("k1")}),
    ("POST", "/v1/returns", {"json": {"orderNo": "00001"}, "headers": keyed("k2")}),
    ("POST", "/v1/orders/00001/actions", {"json": {"action": "refund"}, "headers": keyed("k3", ops=True)}),
    ("GET", "/v1/orders/00001", {"headers": OPS}),
    ("GET", "/v1/inventory/SKU-1", {}),
    ("POST", "/v1/webhooks/carrier", {}),  # signed when sent
    ("GET", "/v1/ops/dlq", {"headers": OPS}),
    ("POST", "/v1/ops/dlq/1/replay", {"headers": OPS}),
    ("GET", "/v1/reconciliation", {"headers": OPS}),
]


Call = tuple[str, str, dict[str, Any]]


def answers(host: CoreDownHost, calls: list[Call]) -> list[httpx.Response]:
    """Each call's answer from a fresh app over ``host`` (webhooks signed as they are sent)."""

    async def run() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=create_app(host, ops_token="ops"), raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://core.test", timeout=10) as client:
            results = []
            for method, path, options in calls:
                if path.startswith("/v1/webhooks/"):
                    raw, headers = signed_event()
                    results.append(await client.request(method, path, content=raw, headers=headers))
                else:
                    results.append(await client.request(method, path, **options))
            return results

    return asyncio.run(run())


@pytest.mark.parametrize(
    ("method", "path", "options"), CORE_CALLS, ids=[f"{m} {p}" for m, p, _ in CORE_CALLS]
)
def test_a_route_that_needs_the_core_answers_503_while_it_is_down(
    method: str, path: str, options: dict[str, Any]
) -> None:
    host = CoreDownHost()
    [answer] = answers(host, [(method, path, options)])
    assert (answer.status_code, answer.json()) == (503, RESTARTING), answer.text
    assert answer.headers["Retry-After"] == "5"
    assert host.told == []  # the storefront was not told of an order, the host asked for nothing


def test_the_summary_and_the_open_routes_answer_while_the_core_is_down() -> None:
    summary, health, catalog, metrics = answers(
        CoreDownHost(),
        [
            ("GET", "/v1/ops/summary", {"headers": OPS}),
            ("GET", "/healthz", {}),
            ("GET", "/v1/catalog", {}),
            ("GET", "/metrics", {"headers": OPS}),
        ],
    )
    assert summary.status_code == 200 and summary.json()["core_up"] is False
    assert health.json()["status"] == "ok"
    assert catalog.json() == {"products": []}
    assert "retailsim_core_up 0.0" in metrics.text


def test_a_host_that_cannot_reach_the_core_answers_503_with_its_reason() -> None:
    host = CoreDownHost(away="the process that owns the mocks is restarting")
    for (_, path, _), answer in zip(CORE_CALLS, answers(host, CORE_CALLS), strict=True):
        assert answer.status_code == 503, (path, answer.text)
        assert answer.json() == {
            "error": "core_unavailable",
            "detail": "the process that owns the mocks is restarting; retry (orders: with the same key)",
        }, path
        assert answer.headers["Retry-After"] == "5"


def test_a_store_without_a_free_connection_is_a_503_to_retry_never_a_500() -> None:
    """Under load the PostgreSQL pool can have no connection free in time (seen once as a 500 on an order
    in a locust run spread over two API hosts). It is the database's state, not a bug: 503 with
    Retry-After, and the storefront retries with the same key (the shipped locustfile does)."""
    host = CoreDownHost(store_down="no PostgreSQL connection free within 10.0s")
    for (_, path, _), answer in zip(CORE_CALLS, answers(host, CORE_CALLS), strict=True):
        assert answer.status_code == 503, (path, answer.text)
        assert answer.json() == {
            "error": "store_unavailable",
            "detail": "no PostgreSQL connection free within 10.0s; retry (orders: with the same key)",
        }, path
        assert answer.headers["Retry-After"] == "1"
