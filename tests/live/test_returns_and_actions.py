"""The return API and the agent's actions over real HTTP, with the order API's idempotency rules.

Orders are driven to "delivered" (or to a failed delivery) by signed warehouse and carrier webhooks, as
the products would send them, on a server of this module's own: the parcels these tests invent must
not show up as drift in the shared server's reconciliation.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.live.conftest import LiveServer, place_order, signed

pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    made = LiveServer(tmp_path_factory.mktemp("returns"))
    made.start()
    yield made
    made.stop()


@pytest.fixture
def client(server: LiveServer) -> Iterator[httpx.Client]:
    with server.client() as made:
        yield made


def wait_for(client: httpx.Client, order_no: str, ready: Any, what: str) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    timeline: dict[str, Any] = {}
    while time.monotonic() < deadline:
        timeline = client.get(f"/v1/orders/{order_no}").json()
        if ready(timeline):
            return timeline
        time.sleep(0.2)
    raise AssertionError(f"order {order_no}: no {what} within 20 s: {timeline}")


def ship(client: httpx.Client, carrier_status: str = "delivered") -> str:
    """An order placed, posted to the ERP, shipped by the warehouse and then delivered (or lost)."""
    response, body = place_order(client, sku="SKU-00040")
    assert response.status_code == 202, response.text
    order_no = str(body["orderNo"])
    wait_for(client, order_no, lambda t: t["erp"]["sales_order"], "ERP sales order")
    code = f"EZT{uuid.uuid4().hex[:10].upper()}"
    shipped = {
        "topic": "order.shipped",
        "event_time": "2026-11-27T10:00:00Z",
        "order_id": 900000 + int(uuid.uuid4().int % 99999),
        "reference_id": order_no,
        "status": "Completed",
        "tracking": {"carrier": "USPS", "carrier_service": "Priority", "tracking_id": code},
    }
    raw, headers = signed(shipped, event_id=f"sb-{code}")
    answer = client.post("/v1/webhooks/wms", content=raw, headers=headers)
    assert answer.status_code == 200, answer.text
    event = {
        "id": f"evt_{code}",
        "object": "Event",
        "description": "tracker.updated",
        "result": {"tracking_code": code, "status": carrier_status},
    }
    raw, headers = signed(event)
    assert client.post("/v1/webhooks/carrier", content=raw, headers=headers).status_code == 200
    wanted = "delivered" if carrier_status == "delivered" else "delivery_failed"
    wait_for(client, order_no, lambda t: t["status"] == wanted, wanted)
    return order_no


def a_return(order_no: str, return_no: str | None = None, quantity: int = 1) -> dict[str, Any]:
    return {
        "return_no": return_no or f"RMA{uuid.uuid4().hex[:10].upper()}",
        "order_no": order_no,
        "channel": "storefront",
        "reason": "R01",
        "lines": [{"sku": "SKU-00040", "quantity": quantity, "condition": "resellable"}],
    }


def test_a_return_of_a_delivered_order_is_authorized_by_the_erp_and_shows_on_the_timeline(
    client: httpx.Client,
) -> None:
    order_no = ship(client)
    body = a_return(order_no)
    response = client.post("/v1/returns", json=body, headers={"Idempotency-Key": f"r-{body['return_no']}"})
    assert response.status_code == 202, response.text
    assert response.json() == {
        "return_id": body["return_no"],
        "order_id": order_no,
        "correlation_id": body["return_no"],
        "status": "authorizing",
    }
    timeline = wait_for(
        client,
        order_no,
        lambda t: t["returns"] and t["returns"][0]["status"] == "authorized",
        "authorization",
    )
    assert timeline["returns"][0]["erp_return_order"]
    assert any(entry["source"] == f"return {body['return_no']}" for entry in timeline["timeline"])


def test_the_return_api_keeps_the_order_apis_idempotency_rules(client: httpx.Client) -> None:
    order_no = ship(client)
    body = a_return(order_no)
    key = {"Idempotency-Key": f"r-{body['return_no']}"}
    first = client.post("/v1/returns", json=body, headers=key)
    again = client.post("/v1/returns", json=body, headers=key)
    assert first.status_code == again.status_code == 202
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    other = client.post("/v1/returns", json={**body, "reason": "R02"}, headers=key)
    assert other.status_code == 422 and other.json()["error"] == "idempotency_key_reused"
    assert client.post("/v1/returns", json=body).status_code == 400
    # A second return of the same unit under another number and key is refused by policy, not booked.
    second = a_return(order_no)
    refused = client.post("/v1/returns", json=second, headers={"Idempotency-Key": f"r-{second['return_no']}"})
    assert refused.status_code == 202 and refused.json()["status"] == "rejected"


def test_an_invalid_return_is_422_with_field_paths_changes_nothing_and_frees_the_key(
    client: httpx.Client,
) -> None:
    order_no = ship(client)
    body = a_return(order_no)
    bad = {**body, "lines": [{"sku": "SKU-00040", "quantity": 0}], "channel": "fax"}
    key = {"Idempotency-Key": f"r-{body['return_no']}"}
    response = client.post("/v1/returns", json=bad, headers=key)
    assert response.status_code == 422
    locations = {tuple(error["loc"]) for error in response.json()["errors"]}
    assert ("lines", "0", "quantity") in locations and ("channel",) in locations
    assert client.get(f"/v1/orders/{order_no}").json()["returns"] == []
    unknown = client.post(
        "/v1/returns", json=a_return("NO-SUCH-ORDER"), headers={"Idempotency-Key": "r-unknown"}
    )
    assert unknown.status_code == 404 and unknown.json()["error"] == "order_not_found"
    broken = client.post(
        "/v1/returns", content=b'{"return_no": ', headers={**key, "Content-Type": "application/json"}
    )
    assert broken.status_code == 422 and broken.json()["errors"][0]["loc"] == ["body"]
    fixed = client.post("/v1/returns", json=body, headers=key)
    assert fixed.status_code == 202 and fixed.json()["status"] == "authorizing"


def test_an_agent_reships_a_failed_delivery_once_and_both_timelines_show_it(client: httpx.Client) -> None:
    delivered = ship(client)
    action = {"action": "reship", "case_number": "00009001", "case_id": "500000000000009001"}
    refused = client.post(f"/v1/orders/{delivered}/actions", json=action, headers={"Idempotency-Key": "a-1"})
    assert refused.status_code == 409 and refused.json()["error"] == "action_not_allowed"
    lost = ship(client, carrier_status="failure")
    path = f"/v1/orders/{lost}/actions"
    first = client.post(path, json=action, headers={"Idempotency-Key": "a-1"})  # the key was freed
    assert first.status_code == 202, first.text
    replacement = first.json()["replacement_order"]
    assert replacement == f"{lost}-R1"
    again = client.post(path, json=action, headers={"Idempotency-Key": "a-1"})
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    other_case = client.post(
        path, json={**action, "case_number": "00009002"}, headers={"Idempotency-Key": "a-2"}
    )
    assert other_case.status_code == 200 and other_case.json()["duplicate"] is True
    original = client.get(f"/v1/orders/{lost}").json()
    assert original["status"] == "replaced" and original["replacement"]["replaced_by"] == replacement
    assert [a["case_number"] for a in original["actions"]] == ["00009001", "00009002"]
    copy = client.get(f"/v1/orders/{replacement}").json()
    assert copy["replacement"]["replaces"] == lost and copy["correlation_id"] == lost
    assert copy["payment"]["payment_intent"] is None and copy["total_minor"] == 0


def test_invalid_or_unknown_actions_are_refused_with_field_errors(client: httpx.Client) -> None:
    bad = client.post(
        "/v1/orders/X/actions",
        json={"action": "teleport", "case_number": "1"},
        headers={"Idempotency-Key": "b-1"},
    )
    assert bad.status_code == 422 and ("action",) in {tuple(e["loc"]) for e in bad.json()["errors"]}
    unknown = client.post(
        "/v1/orders/NO-SUCH-ORDER/actions",
        json={"action": "reship", "case_number": "1"},
        headers={"Idempotency-Key": "b-2"},
    )
    assert unknown.status_code == 404
    assert (
        client.post("/v1/orders/X/actions", json={"action": "reship", "case_number": "1"}).status_code == 400
    )
    schema = client.get("/openapi.json").json()
    assert {"/v1/returns", "/v1/orders/{order_id}/actions"} <= set(schema["paths"])
    assert "AgentAction" in schema["components"]["schemas"] and "Return" in schema["components"]["schemas"]
