"""ShipBob-style warehouse: order intake, allocate → pick → pack → ship, short picks, cancels, webhooks."""

from __future__ import annotations

import random
from typing import Any

import simpy

from retailsim.systems import LOST_REPLY, Carrier, Request, Webhook, Wms
from tests.unit.systems.support import answered, collect, served


def world(stock: dict[str, int] | None = None, **knobs: Any) -> tuple[Wms, Carrier, list[Webhook]]:
    env = simpy.Environment()
    carrier = Carrier(env, random.Random(2))
    wms = Wms(env, random.Random(3), stock=stock if stock is not None else {"SKU-1": 5, "SKU-2": 1}, **knobs)
    wms.carrier = carrier
    return wms, carrier, collect(wms, carrier)


def order(reference: str = "00001", *products: tuple[str, int]) -> dict[str, Any]:
    return {
        "reference_id": reference,
        "shipping_method": "Standard",
        "recipient": {
            "name": "Ada Lovelace",
            "address": {
                "address1": "1 Main St",
                "city": "Springfield",
                "state": "IL",
                "zip_code": "62701",
                "country": "US",
            },
        },
        "products": [{"reference_id": sku, "quantity": qty} for sku, qty in (products or (("SKU-1", 2),))],
    }


def place(wms: Wms, reference: str = "00001", *products: tuple[str, int]) -> int:
    response = wms.dispatch(Request("POST", "/1.0/order", order(reference, *products)))
    assert response.status == 201, response.body
    return int(response.body["id"])


def run_until_status(wms: Wms, order_id: int, status: str) -> None:
    while wms.orders[order_id]["status"] != status:
        wms.env.step()


def test_an_order_is_accepted_as_processing() -> None:
    wms, _, _ = world()
    response = wms.dispatch(Request("POST", "/1.0/order", order("00001")))
    assert response.status == 201
    assert response.body == {
        "id": 1,
        "reference_id": "00001",
        "status": "Processing",
        "created_date": "2026-11-27T00:00:00Z",
    }
    assert wms.by_reference == {"00001": [1]} and wms.status_history["00001"] == ["Processing"]
    assert place(wms, "00002") == 2


def test_a_second_order_with_the_same_reference_is_a_422_field_error() -> None:
    wms, _, _ = world()
    place(wms, "00001")
    duplicate = wms.dispatch(Request("POST", "/1.0/order", order("00001")))
    assert duplicate.status == 422
    assert list(duplicate.body) == ["reference_id"] and "already exists" in duplicate.body["reference_id"][0]
    assert wms.by_reference == {"00001": [1]} and len(wms.orders) == 1


def test_invalid_orders_are_field_validation_errors() -> None:
    wms, _, _ = world()
    response = wms.dispatch(Request("POST", "/1.0/order", {"reference_id": "", "products": []}))
    assert response.status == 400
    assert set(response.body) == {"reference_id", "products", "recipient"}
    bad_qty = wms.dispatch(
        Request("POST", "/1.0/order", {**order(), "products": [{"reference_id": "SKU-1"}]})
    )
    assert bad_qty.status == 400 and "products" in bad_qty.body
    assert wms.orders == {}


def test_full_flow_ships_with_a_carrier_label_then_the_parcel_is_delivered() -> None:
    wms, carrier, hooks = world()
    order_id = place(wms, "00001", ("SKU-1", 2))
    wms.env.run()
    assert wms.status_history["00001"] == ["Processing", "Allocated", "Picked", "Completed"]
    assert [h.topic for h in hooks] == ["order.shipped"] + ["tracker.updated"] * 3
    shipped = hooks[0]
    assert shipped.source == "wms" and shipped.event_id.startswith("sbwh_")
    assert set(shipped.body) == {"topic", "event_time", "order_id", "reference_id", "status", "tracking"}
    assert (shipped.body["order_id"], shipped.body["reference_id"], shipped.body["status"]) == (
        order_id,
        "00001",
        "Completed",
    )
    tracking = shipped.body["tracking"]
    assert tracking["carrier"] == "USPS" and tracking["carrier_service"]
    code = tracking["tracking_id"]
    assert code in carrier.by_tracking_code
    assert [h.body["result"]["status"] for h in hooks[1:]] == ["in_transit", "out_for_delivery", "delivered"]
    assert all(h.body["result"]["tracking_code"] == code for h in hooks[1:])
    assert carrier.status_history[code][-1] == "delivered"
    assert wms.stock == {"SKU-1": 3, "SKU-2": 1} and wms.shipped_units == {"SKU-1": 2}
    assert wms.initial_stock == {"SKU-1": 5, "SKU-2": 1}
    assert wms.orders[order_id]["tracking"] == tracking
    # the warehouse took hours (allocate + pick + pack), the parcel took about a day more
    assert 0 < shipped.sent_at < hooks[-1].sent_at


def test_the_flow_is_reproducible_from_the_seed() -> None:
    def times() -> list[tuple[str, float]]:
        wms, _, hooks = world()
        place(wms, "00001")
        wms.env.run()
        return [(h.topic, h.sent_at) for h in hooks]

    assert times() == times()


def test_a_short_pick_puts_the_shipment_on_hold() -> None:
    wms, _, hooks = world(short_pick_rate=1.0)
    order_id = place(wms, "00001")
    wms.env.run()
    assert [h.topic for h in hooks] == ["order.shipment.on_hold"]
    assert hooks[0].body["status"] == "OnHold" and hooks[0].body["tracking"] is None
    assert wms.orders[order_id]["status"] == "OnHold"
    assert wms.status_history["00001"] == ["Processing", "Allocated", "OnHold"]
    assert wms.stock["SKU-1"] == 5 and wms.shipped_units == {}


def test_too_little_physical_stock_puts_the_shipment_on_hold() -> None:
    wms, _, hooks = world({"SKU-1": 3})
    place(wms, "00001", ("SKU-1", 2), ("SKU-1", 2))  # 4 wanted in two lines, 3 on the shelf
    wms.env.run()
    assert [h.topic for h in hooks] == ["order.shipment.on_hold"] and wms.stock == {"SKU-1": 3}


def test_cancel_before_the_pick_stops_fulfilment() -> None:
    wms, _, hooks = world()
    order_id = place(wms, "00001")
    response = wms.dispatch(Request("POST", f"/1.0/order/{order_id}/cancel"))
    assert response.status == 200 and response.body == {"id": order_id, "status": "Cancelled"}
    wms.env.run()
    assert [h.topic for h in hooks] == ["order.shipment.cancelled"]
    assert wms.stock["SKU-1"] == 5 and wms.shipped_units == {}


def test_cancel_after_the_pick_returns_the_units_to_stock() -> None:
    wms, _, hooks = world()
    order_id = place(wms, "00001", ("SKU-1", 2))
    run_until_status(wms, order_id, "Picked")
    assert wms.stock["SKU-1"] == 3
    assert wms.dispatch(Request("POST", f"/1.0/order/{order_id}/cancel")).status == 200
    wms.env.run()
    assert wms.stock["SKU-1"] == 5
    assert [h.topic for h in hooks] == ["order.shipment.cancelled"]


def test_a_shipped_order_cannot_be_cancelled_and_unknown_ones_are_404() -> None:
    wms, _, _ = world()
    order_id = place(wms, "00001")
    wms.env.run()
    late = wms.dispatch(Request("POST", f"/1.0/order/{order_id}/cancel"))
    assert late.status == 422 and wms.orders[order_id]["status"] == "Completed"
    missing = wms.dispatch(Request("POST", "/1.0/order/999/cancel"))
    assert missing.status == 404 and set(missing.body) >= {"title", "status", "detail"}


def test_look_up_by_reference_ids_and_by_id() -> None:
    wms, _, _ = world()
    first, second = place(wms, "00001"), place(wms, "00002")
    place(wms, "00003")
    listed = wms.dispatch(Request("GET", "/1.0/order", query={"ReferenceIds": "00001,00002,nope"}))
    assert listed.status == 200 and [o["id"] for o in listed.body] == [first, second]
    one = wms.dispatch(Request("GET", f"/1.0/order/{second}"))
    assert one.status == 200 and one.body["reference_id"] == "00002"
    missing = wms.dispatch(Request("GET", "/1.0/order/404"))
    assert missing.status == 404 and missing.body["status"] == 404


def test_rate_limit_is_429_with_retry_after_and_outage_503_problem_shaped() -> None:
    wms, _, _ = world(rate_limit_per_s=1)
    assert answered(wms, Request("GET", "/1.0/order/1")).status == 404
    refused = answered(wms, Request("POST", "/1.0/order", order()))
    assert refused.status == 429 and int(refused.headers["Retry-After"]) >= 1
    assert refused.body["status"] == 429 and wms.orders == {}
    down_wms, _, _ = world()
    down_wms.faults.outage = True
    down = answered(down_wms, Request("POST", "/1.0/order", order()))
    assert down.status == 503 and set(down.body) >= {"title", "status", "detail"}


def test_a_lost_reply_still_accepted_the_order() -> None:
    wms, _, hooks = world()
    wms.faults.lost_reply_rate = 1.0
    assert served(wms, Request("POST", "/1.0/order", order("00005"))) is LOST_REPLY
    assert wms.by_reference == {"00005": [1]} and hooks[0].topic == "order.shipped"


def test_kept_orders_share_their_product_lines_and_a_read_has_its_own() -> None:
    wms, _, _ = world()
    first, second = place(wms, "00001", ("SKU-1", 2)), place(wms, "00002", ("SKU-1", 2), ("SKU-2", 1))
    assert wms.orders[first]["products"][0] is wms.orders[second]["products"][0]
    read = wms.dispatch(Request("GET", f"/1.0/order/{second}"))
    assert read.body["products"] == [
        {"reference_id": "SKU-1", "quantity": 2},
        {"reference_id": "SKU-2", "quantity": 1},
    ]
    read.body["products"][0]["quantity"] = 99  # a reader changing what it got changes no kept order
    listed = wms.dispatch(Request("GET", "/1.0/order", query={"ReferenceIds": "00001"}))
    listed.body[0]["products"][0]["quantity"] = 98
    assert wms.orders[first]["products"] == [{"reference_id": "SKU-1", "quantity": 2}]
