"""The mock products behave as their real counterparts do, including the ways they misbehave."""

from __future__ import annotations

import math
import random
from typing import Any

import simpy

from retailsim.systems import (
    LOST_REPLY,
    Carrier,
    Erp,
    Latency,
    PaymentGateway,
    Request,
    Response,
    ServiceCloud,
    Storefront,
    Webhook,
    Wms,
)
from tests.unit.systems.support import sales_order

SO = "/sap/opu/odata/sap/API_SALES_ORDER_SRV/A_SalesOrder"


def served(system: Any, request: Request) -> Response | object:
    """Run one call through the SimPy path (faults, limits, capacity, latency)."""
    result: list[object] = []

    def client(env: simpy.Environment) -> Any:
        result.append((yield from system.call(request)))

    system.env.process(client(system.env))
    system.env.run()
    return result[0]


def test_stripe_idempotency_key_replays_and_refuses_other_parameters() -> None:
    gateway = PaymentGateway(simpy.Environment(), random.Random(1), decline_rate=0.0)
    body = {"amount": 1000, "currency": "usd", "capture_method": "manual", "metadata": {"order_no": "1"}}
    first = gateway.dispatch(Request("POST", "/v1/payment_intents", body, {"Idempotency-Key": "k"}))
    again = gateway.dispatch(Request("POST", "/v1/payment_intents", body, {"Idempotency-Key": "k"}))
    assert first.status == again.status == 200 and first.body["id"] == again.body["id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    other = gateway.dispatch(
        Request("POST", "/v1/payment_intents", {**body, "amount": 2000}, {"Idempotency-Key": "k"})
    )
    assert other.status == 400 and other.body["error"]["type"] == "idempotency_error"
    assert len(gateway.intents) == 1


def test_stripe_refund_without_a_key_refunds_twice_and_never_above_the_capture() -> None:
    gateway = PaymentGateway(simpy.Environment(), random.Random(1), decline_rate=0.0)
    intent = gateway.dispatch(
        Request("POST", "/v1/payment_intents", {"amount": 1000, "currency": "usd"})
    ).body
    assert gateway.dispatch(Request("POST", f"/v1/payment_intents/{intent['id']}/capture", {})).status == 200
    refund = {"payment_intent": intent["id"], "amount": 600}
    assert gateway.dispatch(Request("POST", "/v1/refunds", refund)).status == 200
    too_much = gateway.dispatch(Request("POST", "/v1/refunds", refund))
    assert too_much.status == 400 and too_much.body["error"]["code"] == "amount_too_large"
    assert gateway.refunded_amount(intent["id"]) == 600


def test_sap_has_no_duplicate_check_and_never_reserves_beyond_stock() -> None:
    erp = Erp(simpy.Environment(), random.Random(1), stock={"DC1": {"SKU-1": 3}})
    first = erp.dispatch(Request("POST", SO, sales_order("PO-1")))
    second = erp.dispatch(Request("POST", SO, sales_order("PO-1")))
    assert first.status == second.status == 201
    assert len(erp.by_po["PO-1"]) == 2  # exactly like SAP: the integration must look up first
    assert erp.stock[("DC1", "SKU-1")] == {"on_hand": 3, "reserved": 3}
    assert erp.max_reserved_over_on_hand == 0
    found = erp.dispatch(Request("GET", SO, query={"$filter": "PurchaseOrderByCustomer eq 'PO-1'"}))
    assert len(found.body["d"]["results"]) == 2


def test_sap_errors_are_odata_and_goods_issue_is_once() -> None:
    erp = Erp(simpy.Environment(), random.Random(1), stock={"DC1": {"SKU-1": 5}})
    bad = erp.dispatch(Request("POST", SO, {"SalesOrderType": "OR"}))
    assert bad.status == 400 and set(bad.body["error"]) >= {"code", "message", "innererror"}
    number = erp.dispatch(Request("POST", SO, sales_order("PO-2"))).body["d"]["SalesOrder"]
    path = "/sap/opu/odata/sap/API_OUTBOUND_DELIVERY_SRV;v=0002/PostGoodsIssue"
    assert erp.dispatch(Request("POST", path, query={"DeliveryDocument": f"'{number}'"})).status == 200
    twice = erp.dispatch(Request("POST", path, query={"DeliveryDocument": f"'{number}'"}))
    assert twice.status == 400 and "already" in twice.body["error"]["message"]["value"]
    assert erp.stock[("DC1", "SKU-1")] == {"on_hand": 3, "reserved": 0}


def test_gateway_rate_limit_answers_429_with_retry_after() -> None:
    erp = Erp(simpy.Environment(), random.Random(1), stock={"DC1": {"SKU-1": 50}}, rate_limit_per_s=1)
    assert served(erp, Request("POST", SO, sales_order("A"))).status == 201  # type: ignore[union-attr]
    refused = served(erp, Request("POST", SO, sales_order("B")))
    assert isinstance(refused, Response) and refused.status == 429 and "Retry-After" in refused.headers


def test_salesforce_limit_is_403_request_limit_exceeded_as_an_array() -> None:
    org = ServiceCloud(simpy.Environment(), random.Random(1), rate_limit_per_s=1)
    path = "/services/data/v59.0/sobjects/Order/External_Id__c/0001"
    created = served(org, Request("PATCH", path, {"OMS_Status__c": "posted_to_erp"}))
    assert isinstance(created, Response) and created.status == 201
    refused = served(org, Request("PATCH", path, {"OMS_Status__c": "shipped"}))
    assert isinstance(refused, Response) and refused.status == 403
    assert refused.body[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED" and "Retry-After" not in refused.headers
    assert org.status_history["0001"] == ["posted_to_erp"]


def test_outage_answers_503_in_each_products_shape() -> None:
    env = simpy.Environment()
    for system, request, check in [
        (Erp(env, random.Random(1)), Request("GET", SO), lambda b: "error" in b),
        (
            ServiceCloud(env, random.Random(1)),
            Request("GET", "/x"),
            lambda b: b[0]["errorCode"] == "SERVER_UNAVAILABLE",
        ),
        (
            PaymentGateway(env, random.Random(1)),
            Request("GET", "/x"),
            lambda b: b["error"]["type"] == "api_error",
        ),
    ]:
        system.faults.outage = True
        response = served(system, request)
        assert isinstance(response, Response) and response.status == 503 and check(response.body)


def test_lost_reply_commits_then_loses_the_answer() -> None:
    erp = Erp(simpy.Environment(), random.Random(1), stock={"DC1": {"SKU-1": 5}})
    erp.faults.lost_reply_rate = 1.0
    assert served(erp, Request("POST", SO, sales_order("PO-9"))) is LOST_REPLY
    assert erp.by_po["PO-9"]  # the order exists: only the reply was lost


def test_warehouse_ships_through_the_carrier_and_refuses_a_duplicate_reference() -> None:
    env = simpy.Environment()
    hooks: list[Webhook] = []
    carrier = Carrier(env, random.Random(2))
    wms = Wms(
        env, random.Random(3), stock={"SKU-1": 5}, pick_time=Latency(60, 120), pack_time=Latency(60, 120)
    )
    wms.carrier = carrier
    wms.webhook_sink = carrier.webhook_sink = hooks.append
    order = {
        "reference_id": "0001",
        "recipient": {"name": "A", "address": {"city": "X"}},
        "products": [{"reference_id": "SKU-1", "quantity": 2}],
    }
    assert wms.dispatch(Request("POST", "/1.0/order", order)).status == 201
    duplicate = wms.dispatch(Request("POST", "/1.0/order", order))
    assert duplicate.status == 422 and "already exists" in str(duplicate.body)
    env.run()
    topics = [h.topic for h in hooks]
    assert topics[0] == "order.shipped" and topics.count("tracker.updated") == 3
    assert hooks[-1].body["result"]["status"] == "delivered"
    assert wms.stock["SKU-1"] == 3 and wms.shipped_units["SKU-1"] == 2


def test_short_pick_puts_the_shipment_on_hold() -> None:
    env = simpy.Environment()
    hooks: list[Webhook] = []
    wms = Wms(env, random.Random(3), stock={"SKU-1": 1})
    wms.webhook_sink = hooks.append
    order = {
        "reference_id": "0002",
        "recipient": {"name": "A"},
        "products": [{"reference_id": "SKU-1", "quantity": 2}],
    }
    wms.dispatch(Request("POST", "/1.0/order", order))
    env.run()
    assert [h.topic for h in hooks] == ["order.shipment.on_hold"] and wms.stock["SKU-1"] == 1


def test_storefront_applies_whatever_status_it_is_sent_and_records_it() -> None:
    storefront = Storefront(simpy.Environment(), random.Random(1))
    order = storefront.build_order(
        "0003", {"customerId": "c"}, [("SKU-1", "Thing", 1, 9.99)], {"city": "X"}, "pi_1", "not_confirmed"
    )
    storefront.record_placed(order)
    path = "/s/-/dw/data/v24_5/sites/RefArch/orders/0003"
    for status in ("shipped", "posted_to_erp"):  # an older status after a newer one: applied as told
        assert storefront.dispatch(Request("PATCH", path, {"c_omsStatus": status})).status == 200
    assert storefront.status_history["0003"] == ["shipped", "posted_to_erp"]
    missing = storefront.dispatch(Request("PATCH", path.replace("0003", "9999"), {"c_omsStatus": "shipped"}))
    assert missing.status == 404 and set(missing.body) >= {"type", "title", "detail"}


def test_a_storefront_patch_changes_its_own_order_only() -> None:
    """Orders share the parts nobody changes in place (shipping method, authorization status); a patch
    of one order's shipment or fields leaves every other order as it was."""
    storefront = Storefront(simpy.Environment(), random.Random(1))
    address = {"firstName": "Ann", "city": "X"}
    for number in ("0001", "0002"):
        storefront.record_placed(
            storefront.build_order(
                number, {"customerId": "c"}, [("SKU-1", "Thing", 1, 9.99)], address, "pi_1", "new"
            )
        )
    before = storefront.get_order(Request("GET", "/"), "RefArch", "0002").body
    path = "/s/-/dw/data/v24_5/sites/RefArch/orders/0001"
    patch = {
        "shipping_status": "shipped",
        "c_fromStoreId": "S1",
        "status": "completed",
        "c_omsStatus": "shipped",
    }
    assert storefront.dispatch(Request("PATCH", path, patch)).status == 200
    first = storefront.orders["0001"]
    assert (
        first["shipments"][0]["shippingStatus"] == "shipped"
        and first["shipments"][0]["c_fromStoreId"] == "S1"
    )
    assert storefront.get_order(Request("GET", "/"), "RefArch", "0002").body == before
    assert before["shipments"][0] == {
        "shipmentId": "me",
        "shippingAddress": address,
        "shippingMethod": {"id": "001"},
        "shippingStatus": "not_shipped",
    }
    assert before["billingAddress"] == address and before["paymentInstruments"][0]["authorizationStatus"] == {
        "status": "authorized"
    }


def test_latency_is_lognormal_with_the_given_median_and_p99() -> None:
    latency = Latency(0.4, 2.0)
    # The same draws as the standard library's lognormal (so seeds keep their meaning).
    mine, reference = random.Random(5), random.Random(5)
    sigma = math.log(2.0 / 0.4) / 2.326
    assert [latency.sample(mine) for _ in range(5)] == [
        reference.lognormvariate(math.log(0.4), sigma) for _ in range(5)
    ]
    rng = random.Random(6)
    sample = sorted(latency.sample(rng) for _ in range(20_000))
    assert abs(sample[10_000] - 0.4) < 0.02
    assert abs(sample[19_800] - 2.0) < 0.2
    assert Latency(0.3, 0.3).sample(rng) == 0.3  # no spread: always the median


def test_a_system_serves_at_most_its_concurrency_at_once_first_come_first_served() -> None:
    env = simpy.Environment()
    system = Erp(env, random.Random(1), concurrency=2, latency=Latency(1.0, 1.0))
    done: list[tuple[int, float]] = []

    def client(number: int) -> Any:
        yield from system.call(Request("GET", f"{SO}('{number}')"))
        done.append((number, env.now))

    for number in range(5):
        env.process(client(number))
    env.run(until=0.5)
    assert (system.in_service(), system.queue_length()) == (2, 3)
    env.run()
    assert done == [(0, 1.0), (1, 1.0), (2, 2.0), (3, 2.0), (4, 3.0)]
    assert (system.in_service(), system.queue_length()) == (0, 0)
