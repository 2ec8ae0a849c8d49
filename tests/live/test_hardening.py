"""Issue 13, the live API: every input gets an honest answer — over real HTTP, against real servers.

One test (or a few) per item of the issue, each of which failed before its fix: webhook ids and topics
covered by the signature, signature parsing and content types; one text check for every string;
operations endpoints behind a bearer token; a PaymentIntent bound to its order; idempotency keys
limited and scoped per client; connection limits; checkout while the dispatcher of ``--workers 2`` is
away; stored replies replayed byte for byte on PostgreSQL.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from retailsim.sim.http_limits import HEADER_TIMEOUT_S, MAX_HEADER_BYTES
from tests.contract.backends import drop_postgres_schema
from tests.factories import scapi_order
from tests.live.conftest import (
    OPS_TOKEN,
    LiveServer,
    erp_orders,
    new_order_no,
    place_order,
    postgres_schema_or_skip,
    signed,
    wait_until_in_erp,
)

pytestmark = pytest.mark.live


def _counters(client: httpx.Client) -> dict[str, int]:
    return dict(client.get("/v1/ops/summary").json()["counters"])


def _post_json(client: httpx.Client, path: str, raw: bytes, **headers: str) -> httpx.Response:
    return client.post(path, content=raw, headers={"Content-Type": "application/json", **headers})


# ---- 1. webhooks: id, topic and timestamp under the signature; parsing that cannot raise; 415 ---------


def _payment_event(event_id: str) -> dict[str, Any]:
    return {"id": event_id, "object": "event", "type": "payment_intent.succeeded", "data": {"object": {}}}


def test_a_signed_body_under_a_new_id_or_relabelled_topic_is_401_and_changes_nothing(
    client: httpx.Client,
) -> None:
    event_id = f"evt_{new_order_no()}"
    raw, headers = signed(_payment_event(event_id))
    # A ShipBob-style event carries its id in a header: signed as "{id}.{t}.{body}", so it cannot move.
    shipbob = {"topic": "order.shipment.cancelled", "reference_id": "X", "order_id": 1, "event_time": "t"}
    raw_sb, headers_sb = signed(shipbob, event_id=f"sb-{new_order_no()}")
    assert client.post("/v1/webhooks/wms", content=raw_sb, headers=headers_sb).status_code in (200, 409)
    before = _counters(client)
    moved = {**headers_sb, "webhook-id": f"sb-{new_order_no()}"}
    assert client.post("/v1/webhooks/wms", content=raw_sb, headers=moved).status_code == 401
    swapped = client.post("/v1/webhooks/payment", content=raw, headers={**headers, "webhook-id": "evt_new"})
    assert swapped.status_code == 401, swapped.text
    relabelled = client.post(
        "/v1/webhooks/payment", content=raw, headers={**headers, "webhook-topic": "charge.refunded"}
    )
    assert relabelled.status_code == 401, relabelled.text
    assert _counters(client) == before  # nothing refused reached the core
    first = client.post("/v1/webhooks/payment", content=raw, headers=headers)
    # The genuine one is not a duplicate: the core reads it (a payment event confirms what it knows).
    assert first.json()["event_id"] == event_id and first.json()["status"] == "ignored", first.text


@pytest.mark.parametrize(
    "signature",
    ["t=" + "9" * 400 + ",v1=" + "0" * 64, "t=1" + "0" * 30 + ",v1=ab", b"t=1700000000,v1=\xe9\xe9"],
)
def test_a_signature_header_that_cannot_be_parsed_is_401_not_500(
    client: httpx.Client, signature: str | bytes
) -> None:
    raw = json.dumps(_payment_event(f"evt_{new_order_no()}")).encode()
    answer = client.post(
        "/v1/webhooks/payment",
        content=raw,
        headers=[(b"Content-Type", b"application/json"), (b"Webhook-Signature", signature)],  # type: ignore[list-item]
    )
    assert answer.status_code == 401, answer.text


def test_bodies_that_are_not_json_are_415(client: httpx.Client) -> None:
    order_no = new_order_no()
    body = json.dumps(scapi_order(order_no, sku="SKU-00022", intent=None)).encode()
    as_text = client.post(
        "/v1/orders", content=body, headers={"Content-Type": "text/plain", "Idempotency-Key": f"k-{order_no}"}
    )
    assert as_text.status_code == 415, as_text.text
    as_form = client.post(
        "/v1/orders", data={"orderNo": order_no}, headers={"Idempotency-Key": f"f-{order_no}"}
    )
    assert as_form.status_code == 415
    raw, headers = signed(_payment_event(f"evt_{order_no}"))
    hook = client.post("/v1/webhooks/payment", content=raw, headers={**headers, "Content-Type": "text/plain"})
    assert hook.status_code == 415
    assert client.get(f"/v1/orders/{order_no}").status_code == 404


# ---- 2. one text check for every string, before any store -------------------------------------------


@pytest.fixture(scope="module")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    name = f"hardening_{os.getpid()}"
    url = postgres_schema_or_skip(name)
    server = LiveServer(tmp_path_factory.mktemp("hardening-pg"), store=url)
    server.start()
    yield server
    server.stop()
    drop_postgres_schema(name)


def _bad_text_is_422_everywhere(client: httpx.Client) -> None:
    order_no = new_order_no()
    cases: list[tuple[httpx.Response, tuple[Any, ...]]] = []
    for field, path in (("customerId", ("customerInfo", "customerId")), ("productId", None)):
        body = scapi_order(order_no, sku="SKU-00023", intent=None)
        if path is None:
            body["productItems"][0]["productId"] = "SKU\x0000023"
            where: tuple[Any, ...] = ("body", "productItems", 0, "productId")
        else:
            body["customerInfo"]["customerId"] = "\ud800"
            where = ("body", *path)
        raw = json.dumps(body).encode()  # ensure_ascii: "\ud800" and "\u0000" travel as escapes
        cases.append(
            (_post_json(client, "/v1/orders", raw, **{"Idempotency-Key": f"k-{field}-{order_no}"}), where)
        )
    hook, headers = signed(b'{"id": "evt_\\ud800", "type": "payment_intent.succeeded"}')
    cases.append((client.post("/v1/webhooks/payment", content=hook, headers=headers), ("body", "id")))
    ret = json.dumps({"return_no": "R\x01", "order_no": order_no, "lines": []}).encode()
    cases.append(
        (
            _post_json(client, "/v1/returns", ret, **{"Idempotency-Key": f"r-{order_no}"}),
            ("body", "return_no"),
        )
    )
    cases.append((client.get("/v1/inventory/SKU%00"), ("path", "sku")))
    cases.append((client.get("/v1/orders/A%01B"), ("path", "order_id")))
    for answer, where in cases:
        assert answer.status_code == 422, (where, answer.status_code, answer.text)
        assert where in {tuple(e["loc"]) for e in answer.json()["errors"]}, answer.text
    assert client.get(f"/v1/orders/{order_no}").status_code == 404
    assert client.get("/healthz").status_code == 200


def test_lone_surrogates_and_control_characters_are_422_with_the_path_on_sqlite(client: httpx.Client) -> None:
    _bad_text_is_422_everywhere(client)


@pytest.mark.services
def test_lone_surrogates_and_control_characters_are_422_with_the_path_on_postgres(
    postgres_server: LiveServer,
) -> None:
    with postgres_server.client() as client:
        _bad_text_is_422_everywhere(client)


# ---- 3. operations endpoints behind a bearer token -----------------------------------------------------


OPS_CALLS = [
    ("GET", "/v1/ops/summary"),
    ("GET", "/v1/ops/dlq"),
    ("POST", "/v1/ops/dlq/1/replay"),
    ("GET", "/v1/reconciliation"),
    ("GET", "/v1/orders/{order}"),
    ("POST", "/v1/orders/{order}/actions"),
    ("GET", "/v1/sandbox/ledgers/{order}"),
    ("GET", "/metrics"),
]


def test_operations_endpoints_need_the_bearer_token(live_server: LiveServer) -> None:
    with live_server.client() as ops:
        response, body = place_order(ops)
        assert response.status_code == 202
        order_no = body["orderNo"]
        assert ops.get(f"/v1/orders/{order_no}").status_code == 200
        assert ops.get("/v1/ops/dlq").status_code == 200
    with live_server.client(ops=False) as anyone:
        for method, path in OPS_CALLS:
            url = path.format(order=order_no)
            for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {OPS_TOKEN}"}):
                answer = anyone.request(method, url, headers=headers, json={"action": "refund"})
                assert answer.status_code == 401, (method, url, headers, answer.status_code)
                assert answer.headers["WWW-Authenticate"].startswith("Bearer")
        # The storefront's endpoints keep their own rules.
        assert place_order(anyone)[0].status_code == 202
        assert anyone.get("/v1/inventory/SKU-00020").status_code == 200
        assert anyone.get("/v1/catalog").status_code == 200


def test_serve_without_a_token_makes_one_and_prints_it_once(tmp_path: Path) -> None:
    server = LiveServer(tmp_path, ops_token=None)
    server.start()
    try:
        deadline = time.monotonic() + 10
        tokens: list[str] = []
        while time.monotonic() < deadline and not tokens:
            tokens = re.findall(r"Authorization: Bearer (\S+)", server.log.read_text())
            time.sleep(0.1)
        assert len(tokens) == 1, server.log.read_text()
        with httpx.Client(base_url=server.url, timeout=10) as client:
            assert client.get("/v1/ops/dlq").status_code == 401
            ok = client.get("/v1/ops/dlq", headers={"Authorization": f"Bearer {tokens[0]}"})
            assert ok.status_code == 200
    finally:
        server.stop()


# ---- 4. a PaymentIntent is bound to its order number and amount --------------------------------------


def test_an_intent_made_for_another_order_or_amount_is_422_and_changes_nothing(client: httpx.Client) -> None:
    sku = "SKU-00024"
    stock = client.get(f"/v1/inventory/{sku}").json()["available_to_promise"]
    order_a, order_b = new_order_no(), new_order_no()
    intent = client.post(
        "/v1/sandbox/payment_intents", json={"amount": 1000, "currency": "usd", "order_no": order_a}
    ).json()["id"]
    for_b = scapi_order(order_b, sku=sku, quantity=1, intent=intent, price=10.0)
    stolen = client.post("/v1/orders", json=for_b, headers={"Idempotency-Key": f"k-{order_b}"})
    assert stolen.status_code == 422 and stolen.json()["error"] == "payment_mismatch", stolen.text
    more = scapi_order(order_a, sku=sku, quantity=3, intent=intent, price=10.0)  # 30.00 on a 10.00 intent
    assert (
        client.post("/v1/orders", json=more, headers={"Idempotency-Key": f"m-{order_a}"}).status_code == 422
    )
    cheap = scapi_order(order_a, sku=sku, quantity=3, intent=intent, price=10.0)
    cheap["orderTotal"] = cheap["paymentInstruments"][0]["amount"] = 10.0  # below its lines
    assert (
        client.post("/v1/orders", json=cheap, headers={"Idempotency-Key": f"c-{order_a}"}).status_code == 422
    )
    for order_no in (order_a, order_b):
        assert client.get(f"/v1/orders/{order_no}").status_code == 404
    assert client.get(f"/v1/inventory/{sku}").json()["available_to_promise"] == stock
    honest = scapi_order(order_a, sku=sku, quantity=1, intent=intent, price=10.0)
    assert (
        client.post("/v1/orders", json=honest, headers={"Idempotency-Key": f"h-{order_a}"}).status_code == 202
    )


# ---- 5. idempotency keys: at most 255 characters, scoped per client ------------------------------------


def test_idempotency_keys_over_255_characters_are_400(client: httpx.Client) -> None:
    order_no = new_order_no()
    body = scapi_order(order_no, sku="SKU-00025", intent=None)
    long_key = client.post("/v1/orders", json=body, headers={"Idempotency-Key": "k" * 256})
    assert long_key.status_code == 400 and long_key.json()["error"] == "idempotency_key_too_long"
    assert client.get(f"/v1/orders/{order_no}").status_code == 404
    assert client.post("/v1/orders", json=body, headers={"Idempotency-Key": "k" * 255}).status_code == 202


def test_idempotency_keys_are_scoped_per_client(client: httpx.Client) -> None:
    key = f"shared-{new_order_no()}"
    answers = []
    for shop in ("shop-a", "shop-b"):
        order_no = new_order_no()
        intent = client.post(
            "/v1/sandbox/payment_intents", json={"amount": 1000, "currency": "usd", "order_no": order_no}
        ).json()["id"]
        order = scapi_order(order_no, sku="SKU-00026", intent=intent, price=10.0)
        answers.append(
            client.post("/v1/orders", json=order, headers={"Idempotency-Key": key, "X-Client-Id": shop})
        )
    assert [a.status_code for a in answers] == [202, 202], [a.text for a in answers]
    assert answers[0].json()["order_id"] != answers[1].json()["order_id"]
    bad = client.post("/v1/orders", json={}, headers={"Idempotency-Key": key, "X-Client-Id": "a b"})
    assert bad.status_code == 422


# ---- 6. connection limits -------------------------------------------------------------------------------


def _raw_exchange(url: str, request: bytes, read_timeout: float) -> bytes:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(request)
        sock.settimeout(read_timeout)
        received = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                return received + b"<timed out>"
            if not chunk:
                return received
            received += chunk


def test_oversized_headers_are_431_and_slow_headers_are_cut_off(live_server: LiveServer) -> None:
    with live_server.client() as client:
        big = client.get("/healthz", headers={"X-Pad": "x" * (MAX_HEADER_BYTES + 1)})
        assert big.status_code == 431
        assert client.get("/healthz").status_code == 200
    started = time.monotonic()
    answer = _raw_exchange(live_server.url, b"GET /healthz HTTP/1.1\r\nHost: x\r\n", HEADER_TIMEOUT_S + 10)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert time.monotonic() - started < HEADER_TIMEOUT_S + 5


def _series(text: str, route: str) -> dict[str, float]:
    found: dict[str, float] = {}
    for line in text.splitlines():
        match = re.match(r"retailsim_http_requests_total\{(.*)\} (\S+)", line)
        if match and f'route="{route}"' in match.group(1):
            status = re.search(r'status="(\d+)"', match.group(1))
            assert status is not None
            found[status.group(1)] = float(match.group(2))
    return found


def test_a_client_that_goes_away_is_not_a_500_in_metrics(live_server: LiveServer) -> None:
    partial = (
        b"POST /v1/returns HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b'Idempotency-Key: gone-1\r\nContent-Length: 1000\r\n\r\n{"return_no": '
    )
    with live_server.client() as client:
        before = _series(client.get("/metrics").text, "/v1/returns")
        host, port = live_server.url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=5) as sock:
            sock.sendall(partial)
        deadline = time.monotonic() + 10
        after = before
        while time.monotonic() < deadline and after.get("499", 0) == before.get("499", 0):
            time.sleep(0.1)
            after = _series(client.get("/metrics").text, "/v1/returns")
    assert after.get("499", 0) == before.get("499", 0) + 1, after
    assert after.get("500", 0) == before.get("500", 0), after


# ---- 8. the stored reply, byte for byte, on PostgreSQL ---------------------------------------------------


@pytest.mark.services
def test_a_replayed_reply_is_the_bytes_first_sent_on_postgres(postgres_server: LiveServer) -> None:
    with postgres_server.client() as client:
        first, body = place_order(client)
        assert first.status_code == 202
        again = client.post("/v1/orders", json=body, headers={"Idempotency-Key": f"key-{body['orderNo']}"})
        assert again.headers["Idempotent-Replayed"] == "true"
        assert again.content == first.content


# ---- 7. --workers 2: checkout while the dispatcher is away -------------------------------------------------


@pytest.mark.services
def test_workers_accept_orders_while_the_dispatcher_is_down(tmp_path: Path) -> None:
    name = f"hardening_disp_{os.getpid()}"
    url = postgres_schema_or_skip(name)
    server = LiveServer(tmp_path, store=url, speed=20.0, workers=2)
    server.start()
    try:
        found = re.search(r"dispatcher pid (\d+)", server.log.read_text())
        assert found, server.log.read_text()
        with server.client(timeout=20.0) as client:
            intents = []
            for _ in range(6):
                order_no = new_order_no()
                intent = client.post(
                    "/v1/sandbox/payment_intents",
                    json={"amount": 1000, "currency": "usd", "order_no": order_no},
                )
                assert intent.status_code == 200
                intents.append((order_no, intent.json()["id"]))
            os.kill(int(found.group(1)), signal.SIGKILL)
            answers = {}
            for order_no, intent_id in intents:
                order = scapi_order(order_no, sku="SKU-00027", intent=intent_id, price=10.0)
                answers[order_no] = client.post(
                    "/v1/orders", json=order, headers={"Idempotency-Key": f"k-{order_no}"}
                ).status_code
            assert set(answers.values()) == {202}, answers
            pending = wait_until_in_erp(client, list(answers), timeout_s=90.0)
            assert not pending, f"accepted while the dispatcher was down, never in the ERP: {pending}"
            assert all(len(erp_orders(client, no)) == 1 for no in answers)
            ledgers = [client.get(f"/v1/sandbox/ledgers/{no}").json() for no in answers]
            assert all(entry["storefront"]["placed"] for entry in ledgers), ledgers
    finally:
        server.stop()
        drop_postgres_schema(name)
