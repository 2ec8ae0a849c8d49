"""SFCC-style storefront: SCAPI order documents, availability view, status receiver, problem+json."""

from __future__ import annotations

import random
from typing import Any

import simpy

from retailsim.systems import LOST_REPLY, Request, Storefront
from tests.unit.systems.support import answered, served

DATA = "/s/-/dw/data/v24_5/sites/RefArch/orders"
CUSTOMER = {"customerId": "c1", "customerNo": "000001", "email": "ada@example.com"}
ADDRESS = {
    "firstName": "Ada",
    "lastName": "Lovelace",
    "address1": "1 Main St",
    "city": "Springfield",
    "stateCode": "IL",
    "postalCode": "62701",
    "countryCode": "US",
}


def storefront() -> Storefront:
    return Storefront(simpy.Environment(), random.Random(1))


def placed(system: Storefront, order_no: str = "00001", intent: str | None = "pi_0000001") -> dict[str, Any]:
    order = system.build_order(
        order_no,
        CUSTOMER,
        [("SKU-1", "Widget", 2, 19.99), ("SKU-2", "Gadget", 1, 5.5)],
        ADDRESS,
        intent,
        "confirmed",
    )
    system.record_placed(order)
    return order


def test_build_order_produces_a_scapi_order_document() -> None:
    system = storefront()
    order = placed(system)
    assert set(order) == {
        "orderNo",
        "orderToken",
        "siteId",
        "creationDate",
        "currency",
        "channelType",
        "status",
        "confirmationStatus",
        "exportStatus",
        "paymentStatus",
        "shippingStatus",
        "customerInfo",
        "billingAddress",
        "productItems",
        "shipments",
        "paymentInstruments",
        "productSubTotal",
        "shippingTotal",
        "taxTotal",
        "orderTotal",
    }
    assert (order["orderNo"], order["siteId"], order["currency"], order["channelType"]) == (
        "00001",
        "RefArch",
        "USD",
        "storefront",
    )
    assert order["creationDate"] == "2026-11-27T00:00:00Z"
    assert (order["status"], order["confirmationStatus"], order["exportStatus"]) == (
        "new",
        "confirmed",
        "ready",
    )
    assert (order["paymentStatus"], order["shippingStatus"]) == ("not_paid", "not_shipped")
    assert order["customerInfo"] == CUSTOMER and order["billingAddress"] == ADDRESS
    first = order["productItems"][0]
    assert set(first) == {
        "itemId",
        "productId",
        "productName",
        "quantity",
        "basePrice",
        "price",
        "tax",
        "shipmentId",
    }
    assert (first["productId"], first["quantity"], first["basePrice"], first["price"]) == (
        "SKU-1",
        2,
        19.99,
        39.98,
    )
    assert first["shipmentId"] == "me"
    [shipment] = order["shipments"]
    assert shipment["shipmentId"] == "me" and shipment["shippingMethod"] == {"id": "001"}
    assert shipment["shippingAddress"] == ADDRESS and shipment["shippingStatus"] == "not_shipped"
    [instrument] = order["paymentInstruments"]
    assert instrument["paymentMethodId"] == "CREDIT_CARD" and instrument["amount"] == 45.48
    assert instrument["authorizationStatus"] == {"status": "authorized"}
    assert instrument["c_paymentIntentId"] == "pi_0000001"
    assert (order["productSubTotal"], order["shippingTotal"], order["taxTotal"], order["orderTotal"]) == (
        45.48,
        0.0,
        0.0,
        45.48,
    )


def test_an_order_without_a_payment_intent_has_no_instrument() -> None:
    order = storefront().build_order(
        "00002", CUSTOMER, [("SKU-1", "W", 1, 1.0)], ADDRESS, None, "not_confirmed"
    )
    assert order["paymentInstruments"] == [] and order["confirmationStatus"] == "not_confirmed"


def test_record_placed_counts_confirmed_units() -> None:
    system = storefront()
    placed(system, "00001")
    placed(system, "00002")
    assert list(system.orders) == ["00001", "00002"]
    assert system.confirmed_units == {"SKU-1": 4, "SKU-2": 2}
    assert system.failed_orders == []


def test_availability_view_is_set_decremented_and_fed() -> None:
    system = storefront()
    system.set_availability("SKU-1", 5)
    system.decrement_availability("SKU-1", 2)
    assert system.availability["SKU-1"] == 3
    system.decrement_availability("SKU-1", 10)
    assert system.availability["SKU-1"] == 0
    system.apply_inventory_feed({"SKU-2": 7, "SKU-1": 4})
    assert system.availability == {"SKU-1": 4, "SKU-2": 7}


def test_status_patch_applies_whatever_it_is_told_and_records_it() -> None:
    system = storefront()
    placed(system)
    shipped = {"shipping_status": "shipped", "c_omsStatus": "shipped", "c_omsStatusSeq": 5}
    response = system.dispatch(Request("PATCH", f"{DATA}/00001", shipped))
    assert response.status == 200 and response.body["shippingStatus"] == "shipped"
    assert response.body["shipments"][0]["shippingStatus"] == "shipped"
    assert response.body["c_omsStatus"] == "shipped" and response.body["c_omsStatusSeq"] == 5
    older = {"status": "new", "c_omsStatus": "posted_to_erp", "c_omsStatusSeq": 3}
    assert system.dispatch(Request("PATCH", f"{DATA}/00001", older)).status == 200
    assert system.status_history["00001"] == ["shipped", "posted_to_erp"]  # a regression, applied as told
    assert system.current["00001"] == "posted_to_erp"
    paid = {"payment_status": "paid", "c_omsStatus": "posted_to_erp", "c_omsStatusSeq": 3}
    system.dispatch(Request("PATCH", f"{DATA}/00001", paid))
    assert system.status_history["00001"] == ["shipped", "posted_to_erp", "posted_to_erp"]
    assert system.orders["00001"]["paymentStatus"] == "paid"


def test_a_status_update_racing_the_export_reply_finds_the_order_and_survives_it() -> None:
    system = storefront()
    order = system.build_order("00007", CUSTOMER, [("SKU-1", "Widget", 1, 19.99)], ADDRESS, None, "confirmed")
    system.record_exporting(order)  # created at checkout, export to the core still in flight
    update = {"status": "open", "c_omsStatus": "stock_reserved", "c_omsStatusSeq": 2}
    assert system.dispatch(Request("PATCH", f"{DATA}/00007", update)).status == 200
    system.record_placed(dict(order))  # the export's 202 arrives after the core's first status update
    assert system.orders["00007"]["c_omsStatus"] == "stock_reserved"
    assert system.exporting == {} and system.confirmed_units == {"SKU-1": 1}


def test_unknown_orders_are_404_problem_json() -> None:
    system = storefront()
    path = f"{DATA}/09999"
    for method in ("PATCH", "GET"):
        response = system.dispatch(
            Request(method, path, {"c_omsStatus": "shipped"} if method == "PATCH" else None)
        )
        assert response.status == 404
        assert set(response.body) == {"type", "title", "detail", "instance"}
        assert response.body["instance"] == path
    assert system.status_history == {} and system.current == {}


def test_get_returns_the_order_for_reconciliation() -> None:
    system = storefront()
    placed(system)
    response = system.dispatch(Request("GET", f"{DATA}/00001"))
    assert response.status == 200 and response.body["orderNo"] == "00001"


def test_outage_is_503_problem_json() -> None:
    system = storefront()
    placed(system)
    system.faults.outage = True
    down = answered(system, Request("GET", f"{DATA}/00001"))
    assert down.status == 503 and set(down.body) == {"type", "title", "detail", "instance"}


def test_a_lost_reply_still_applied_the_status() -> None:
    system = storefront()
    placed(system)
    system.faults.lost_reply_rate = 1.0
    patch = Request("PATCH", f"{DATA}/00001", {"c_omsStatus": "shipped", "c_omsStatusSeq": 1})
    assert served(system, patch) is LOST_REPLY
    assert system.current["00001"] == "shipped"
