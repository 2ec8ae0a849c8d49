"""The core's HTTP API over real HTTP: each promise of DESIGN.md "Live mode" against a running server."""

from __future__ import annotations

import json
import queue
import sqlite3
import threading
import time
from typing import Any

import httpx
import pytest

from tests.factories import scapi_order
from tests.live.conftest import LiveServer, new_order_no, place_order, signed

pytestmark = pytest.mark.live


def _ops_counter(client: httpx.Client, name: str) -> int:
    return int(client.get("/v1/ops/summary").json()["counters"].get(name, 0))


def test_health_openapi_and_catalog(client: httpx.Client, live_server: LiveServer) -> None:
    assert live_server.process is not None
    health = client.get("/healthz").json()
    assert health["status"] == "ok" and health["pid"] == live_server.process.pid
    schema = client.get("/openapi.json").json()
    assert schema["openapi"].startswith("3.")
    assert {"/v1/orders", "/v1/webhooks/carrier", "/v1/reconciliation", "/metrics"} <= set(schema["paths"])
    order_schema = schema["components"]["schemas"]["ScapiOrder"]
    assert "productItems" in order_schema["required"]
    catalog = client.get("/v1/catalog").json()
    assert catalog["scenario"] == "flash-sale"
    assert len(catalog["products"]) == 300 and catalog["products"][0]["hero"] is True
    assert catalog["stores"] == ["DC1"] and catalog["shoppers"]


def test_an_order_is_accepted_and_its_timeline_grows(client: httpx.Client) -> None:
    response, body = place_order(client)
    assert response.status_code == 202, response.text
    order_no = body["orderNo"]
    assert response.json() == {"order_id": order_no, "correlation_id": order_no, "status": "accepted"}
    deadline = time.monotonic() + 15
    timeline: dict[str, Any] = {}
    while time.monotonic() < deadline:
        timeline = client.get(f"/v1/orders/{order_no}").json()
        if timeline["erp"]["sales_order"]:
            break
        time.sleep(0.2)
    statuses = [entry["status"] for entry in timeline["timeline"]]
    assert statuses[:4] == ["received", "stock_reserved", "payment_authorized", "posted_to_erp"], statuses
    ledgers = client.get(f"/v1/sandbox/ledgers/{order_no}").json()
    assert ledgers["erp"]["sales_orders"] == [timeline["erp"]["sales_order"]]
    assert client.get("/v1/orders/NO-SUCH-ORDER").status_code == 404
    assert client.get("/v1/inventory/SKU-00020").json()["available_to_promise"]["DC1"] < 800
    assert client.get("/v1/inventory/NOPE").status_code == 404


def test_same_key_same_body_replays_the_stored_response(client: httpx.Client) -> None:
    first, body = place_order(client)
    key = f"key-{body['orderNo']}"
    # Same JSON, other formatting and key order: the fingerprint is over the canonical body.
    raw = json.dumps(dict(reversed(list(body.items()))), indent=2)
    again = client.post(
        "/v1/orders", content=raw, headers={"Idempotency-Key": key, "Content-Type": "application/json"}
    )
    assert first.status_code == again.status_code == 202
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    ledgers = client.get(f"/v1/sandbox/ledgers/{body['orderNo']}").json()
    assert ledgers["storefront"]["placed"] is True


def test_same_key_other_body_is_422_and_changes_nothing(client: httpx.Client) -> None:
    first, body = place_order(client)
    assert first.status_code == 202
    before = client.get("/v1/inventory/SKU-00020").json()
    other = {**body, "productItems": [{**body["productItems"][0], "quantity": 2}]}
    response = client.post("/v1/orders", json=other, headers={"Idempotency-Key": f"key-{body['orderNo']}"})
    assert response.status_code == 422 and response.json()["error"] == "idempotency_key_reused"
    assert client.get("/v1/inventory/SKU-00020").json() == before


def test_missing_key_is_400(client: httpx.Client) -> None:
    order_no = new_order_no()
    response = client.post("/v1/orders", json=scapi_order(order_no))
    assert response.status_code == 400 and response.json()["error"] == "missing_idempotency_key"
    assert client.get(f"/v1/orders/{order_no}").status_code == 404


def test_invalid_body_is_422_with_field_paths_and_frees_the_key(client: httpx.Client) -> None:
    order_no = new_order_no()
    bad = scapi_order(order_no, sku="SKU-00021")
    bad["productItems"][0]["quantity"] = 0
    del bad["customerInfo"]["email"]
    response = client.post("/v1/orders", json=bad, headers={"Idempotency-Key": f"k-{order_no}"})
    assert response.status_code == 422
    locations = {tuple(error["loc"]) for error in response.json()["errors"]}
    assert ("productItems", "0", "quantity") in locations and ("customerInfo", "email") in locations
    assert client.get(f"/v1/orders/{order_no}").status_code == 404
    # Nothing was stored under the key: the corrected order may use it.
    fixed, _ = place_order(client, order_no, sku="SKU-00021", key=f"k-{order_no}")
    assert fixed.status_code == 202
    broken_json = client.post(
        "/v1/orders",
        content=b'{"orderNo": ',
        headers={"Idempotency-Key": "k-json", "Content-Type": "application/json"},
    )
    assert broken_json.status_code == 422 and broken_json.json()["errors"][0]["loc"] == ["body"]


def test_bodies_over_one_mebibyte_are_413_and_leave_nothing(client: httpx.Client) -> None:
    order_no = new_order_no()
    body = scapi_order(order_no)
    body["c_padding"] = "x" * (1024 * 1024)
    response = client.post("/v1/orders", json=body, headers={"Idempotency-Key": f"k-{order_no}"})
    assert response.status_code == 413
    assert client.get(f"/v1/orders/{order_no}").status_code == 404
    # The key was never claimed either.
    accepted, _ = place_order(client, order_no, key=f"k-{order_no}")
    assert accepted.status_code == 202


def test_a_concurrent_retry_with_the_same_key_is_409_and_one_order_exists(live_server: LiveServer) -> None:
    """Storefronts retry on timeouts; while the first attempt is in flight the retry must not run it twice.

    The overlap is made, not hoped for: this test holds the SQLite file's write lock (as another writer
    would), so whichever of the two requests claims the key first waits inside its transaction while the
    other arrives; then the lock is let go (well inside the store's 5 s busy timeout)."""
    with live_server.client() as setup:
        order_no = new_order_no()
        intent = setup.post(
            "/v1/sandbox/payment_intents", json={"amount": 1000, "currency": "usd", "order_no": order_no}
        ).json()["id"]
    body = scapi_order(order_no, sku="SKU-00030", intent=intent, price=10.0)
    key = f"burst-{body['orderNo']}"
    answers: queue.Queue[httpx.Response] = queue.Queue()

    def send() -> None:
        with live_server.client() as c:
            answers.put(c.post("/v1/orders", json=body, headers={"Idempotency-Key": key}))

    holder = sqlite3.connect(live_server.store.removeprefix("sqlite:"), timeout=5.0, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        threads = [threading.Thread(target=send) for _ in range(2)]
        for thread in threads:
            thread.start()
        first = answers.get(timeout=3.0)  # the one that did not get the key, answered without the store
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    for thread in threads:
        thread.join(timeout=30)
    second = answers.get(timeout=1.0)
    assert first.status_code == 409 and first.json()["error"] == "request_in_flight", first.text
    assert second.status_code == 202, second.text
    with live_server.client() as check:
        retry = check.post("/v1/orders", json=body, headers={"Idempotency-Key": key})
        assert retry.status_code == 202 and retry.headers["idempotent-replayed"] == "true"
        assert retry.json() == second.json()
        ledgers = check.get(f"/v1/sandbox/ledgers/{body['orderNo']}").json()
        assert ledgers["storefront"]["placed"] is True


def _payment_event(event_id: str) -> dict[str, Any]:
    return {"id": event_id, "object": "event", "type": "payment_intent.succeeded", "data": {"object": {}}}


def test_webhook_signatures_are_checked_and_a_refused_event_has_no_effect(client: httpx.Client) -> None:
    event_id = f"evt_{new_order_no()}"
    raw, headers = signed(_payment_event(event_id))
    ignored_before = _ops_counter(client, "webhooks_ignored")

    wrong_secret = signed(_payment_event(event_id), secret="whsec_wrong")[1]
    assert client.post("/v1/webhooks/payment", content=raw, headers=wrong_secret).status_code == 401
    tampered = raw.replace(b"payment_intent.succeeded", b"payment_intent.canceled")
    assert client.post("/v1/webhooks/payment", content=tampered, headers=headers).status_code == 401
    stale = signed(_payment_event(event_id), at=time.time() - 301)[1]
    assert client.post("/v1/webhooks/payment", content=raw, headers=stale).status_code == 401
    future = signed(_payment_event(event_id), at=time.time() + 301)[1]
    assert client.post("/v1/webhooks/payment", content=raw, headers=future).status_code == 401
    unsigned = client.post("/v1/webhooks/payment", content=raw, headers={"Content-Type": "application/json"})
    assert unsigned.status_code == 401 and "missing" in unsigned.json()["detail"]
    assert _ops_counter(client, "webhooks_ignored") == ignored_before

    # None of the refused deliveries reached the inbox: the genuine one is taken, not a duplicate (a payment
    # event confirms what the core knows: "ignored", with its reason).
    first = client.post("/v1/webhooks/payment", content=raw, headers=headers)
    assert first.status_code == 200 and first.json()["status"] == "ignored", first.text
    assert first.json()["event_id"] == event_id and first.json()["reason"]
    assert _ops_counter(client, "webhooks_ignored") == ignored_before + 1


def test_duplicate_webhook_events_are_200_with_no_effect(client: httpx.Client) -> None:
    event_id = f"evt_{new_order_no()}"
    raw, headers = signed(_payment_event(event_id))
    assert client.post("/v1/webhooks/payment", content=raw, headers=headers).json()["status"] == "ignored"
    ignored = _ops_counter(client, "webhooks_ignored")
    duplicates = _ops_counter(client, "inbox_duplicates")
    for _ in range(3):
        again = client.post("/v1/webhooks/payment", content=raw, headers=signed(_payment_event(event_id))[1])
        assert again.status_code == 200 and again.json()["status"] == "duplicate"
    assert _ops_counter(client, "webhooks_ignored") == ignored
    assert _ops_counter(client, "inbox_duplicates") == duplicates + 3


def test_webhook_edge_cases(client: httpx.Client) -> None:
    raw, headers = signed({"id": "evt_x"})
    assert client.post("/v1/webhooks/pos", content=raw, headers=headers).status_code == 404
    no_id, no_id_headers = signed({"object": "event"})
    assert client.post("/v1/webhooks/payment", content=no_id, headers=no_id_headers).status_code == 400
    # A carrier event for a tracking code the core has not heard of: "retry later", and not remembered.
    event = {
        "id": f"evt_{new_order_no()}",
        "description": "tracker.updated",
        "result": {"tracking_code": "EZ404", "status": "in_transit"},
    }
    raw, headers = signed(event)
    for _ in range(2):
        answer = client.post("/v1/webhooks/carrier", content=raw, headers=headers)
        assert answer.status_code == 409 and answer.headers["Retry-After"]
    # A ShipBob-style event carries its id in a header.
    shipbob = {"topic": "order.shipment.cancelled", "reference_id": "X", "order_id": 1, "event_time": "t"}
    raw, headers = signed(shipbob, event_id="sb-1")
    answer = client.post("/v1/webhooks/wms", content=raw, headers=headers)
    assert answer.status_code in (200, 409)
    big, big_headers = signed({"id": "evt_big", "pad": "x" * (1024 * 1024)})
    assert client.post("/v1/webhooks/payment", content=big, headers=big_headers).status_code == 413


def test_metrics_in_prometheus_format(client: httpx.Client) -> None:
    place_order(client)
    text = client.get("/metrics").text
    assert 'retailsim_http_requests_total{method="POST",route="/v1/orders",status="202"}' in text
    assert "retailsim_http_request_duration_seconds_bucket" in text
    assert 'retailsim_outbox_backlog{destination="' in text
    assert "retailsim_dlq_size " in text
    assert 'retailsim_breaker_state{destination="erp"} 0.0' in text
    assert "retailsim_core_up 1.0" in text


def test_ops_summary_and_reconciliation(client: httpx.Client) -> None:
    summary = client.get("/v1/ops/summary").json()
    assert summary["core_up"] is True and set(summary["breakers"]) >= {"erp", "payment", "wms"}
    assert summary["counters"]["accepted"] >= 1
    report = client.get("/v1/reconciliation").json()
    assert report["clean"] is True, report["drift"]
    assert report["checked"] >= 1 and report["in_progress"]["count"] >= 1
    assert client.get("/v1/ops/dlq").json() == {"dead_letters": []}
    assert client.post("/v1/ops/dlq/999999/replay").status_code == 404


def test_unknown_routes_and_methods_answer_json(client: httpx.Client) -> None:
    missing = client.get("/v1/nothing")
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("application/json")
    wrong = client.delete("/v1/orders")
    assert wrong.status_code == 405 and wrong.json()["error"] == "http_error"
