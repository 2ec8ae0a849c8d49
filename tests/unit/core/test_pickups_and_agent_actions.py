"""The core on a real (memory) store: store pickups and their rerouting, the agent's timeline and actions.

The core is driven as production drives it — order API, webhooks, outbox claims and product replies —
with hand-written replies in the products' shapes.
"""

from __future__ import annotations

from typing import Any

import pytest

from retailsim.core import CoreConfig, IntegrationCore
from retailsim.core.adapters.http import Reply
from retailsim.core.stores.memory import MemoryStore
from tests.factories import scapi_order

SKU = "SKU-00001"


def new_core(store_units: tuple[int, int] = (1, 2), dc_units: int = 5) -> IntegrationCore:
    core = IntegrationCore(MemoryStore(), CoreConfig(stores=["S001", "S002"]))
    core.load_inventory(
        [(SKU, "DC1", dc_units), (SKU, "S001", store_units[0]), (SKU, "S002", store_units[1])], 0.0
    )
    return core


def pickup_order(order_no: str = "00000001", store: str = "S001", quantity: int = 1) -> dict[str, Any]:
    body = scapi_order(order_no, quantity=quantity)
    body["shipments"][0].update(shippingMethod={"id": "005"}, c_fromStoreId=store)
    return body


def deliver(core: IntegrationCore, destination: str, kind: str, reply: Reply, now: float) -> dict[str, Any]:
    """Claim the next message for ``destination`` (it must be ``kind``), answer it; the request sent."""
    delivery = core.claim(destination, now)
    while delivery is not None and delivery.message.kind != kind:
        core.on_reply(delivery, Reply(200, {}), now)  # status pushes and the like: acknowledged
        delivery = core.claim(destination, now)
    assert delivery is not None, f"no {kind} for {destination}"
    sent = {"path": delivery.request.path, "body": delivery.request.body, "headers": delivery.request.headers}
    core.on_reply(delivery, reply, now)
    return sent


def to_erp(core: IntegrationCore, order_no: str = "00000001", number: str = "0000000001") -> None:
    deliver(core, "payment", "VerifyPaymentAuthorization", Reply(200, {"status": "requires_capture"}), 1.0)
    deliver(core, "erp", "PostSalesOrder", Reply(201, {"d": {"SalesOrder": number}}), 2.0)


def pos_event(core: IntegrationCore, topic: str, store: str, event_id: str, **extra: Any) -> int:
    body = {"event_id": event_id, "type": topic, "store_id": store, "order_reference": "00000001", **extra}
    return core.receive_webhook("pos", event_id, topic, body, 10.0).status


def test_a_pickup_is_reserved_at_the_chosen_store_and_released_to_it() -> None:
    core = new_core()
    assert core.submit_order(pickup_order(), "k1", 0.5).status == 202
    record = core.order_record("00000001")
    assert record is not None and record.location == "S001" and record.reserved
    assert core.available_to_promise(SKU) == {"DC1": 5}  # store reservations leave the DC's ATP alone
    to_erp(core)
    sent = deliver(core, "pos", "ReleaseToStore", Reply(201, {"pickup_id": "PU1", "status": "accepted"}), 3.0)
    assert sent["path"] == "/v1/stores/S001/pickups"
    assert sent["headers"]["Idempotency-Key"] == "00000001:pickup:S001"
    assert core.order_record("00000001").status.value == "allocated"  # type: ignore[union-attr]


def test_a_store_short_at_acceptance_routes_to_the_next_store_and_says_why() -> None:
    core = new_core(store_units=(1, 2))
    core.submit_order(pickup_order(quantity=2), "k1", 0.5)
    record = core.order_record("00000001")
    assert record is not None and record.location == "S002"
    assert [(loc, why) for _, loc, why in record.routing] == [
        ("S001", "chosen by the customer"),
        ("S002", "S001 short at acceptance"),
    ]


def test_a_declined_pickup_is_rerouted_believing_the_stores_count_and_the_erp_order_follows() -> None:
    core = new_core()
    core.submit_order(pickup_order(), "k1", 0.5)
    to_erp(core)
    deliver(core, "pos", "ReleaseToStore", Reply(201, {"status": "accepted"}), 3.0)
    short = [{"sku": SKU, "quantity": 1, "available": 0}]
    assert pos_event(core, "pickup.declined", "S001", "e1", line_items=short) == 200
    record = core.order_record("00000001")
    assert record is not None and record.location == "S002" and record.status.value == "posted_to_erp"
    with core.store.transaction() as tx:
        s001, s002 = tx.get_position(SKU, "S001"), tx.get_position(SKU, "S002")
    assert s001 is not None and (s001.on_hand, s001.reserved) == (0, 0)
    assert s002 is not None and s002.reserved == 1
    plant = deliver(core, "erp", "ChangeSalesOrderPlant", Reply(204, None), 11.0)
    assert plant["path"].endswith("A_SalesOrderItem(SalesOrder='0000000001',SalesOrderItem='10')")
    assert plant["body"] == {"ProductionPlant": "S002"}
    storefront = deliver(core, "storefront", "UpdateOrderStatus", Reply(200, {}), 11.0)
    assert storefront["body"]["c_fromStoreId"] == "S002"
    sent = deliver(core, "pos", "ReleaseToStore", Reply(201, {"status": "accepted"}), 12.0)
    assert sent["path"] == "/v1/stores/S002/pickups"
    # A copy of the old store's decline, and its ready event, change nothing now.
    assert pos_event(core, "pickup.declined", "S001", "e2", line_items=short) == 200
    assert pos_event(core, "pickup.ready", "S001", "e3") == 200
    record = core.order_record("00000001")
    assert record is not None and record.location == "S002" and record.status.value == "allocated"
    assert pos_event(core, "pickup.ready", "S002", "e4") == 200
    assert pos_event(core, "pickup.collected", "S002", "e5") == 200
    assert core.order_record("00000001").status.value == "delivered"  # type: ignore[union-attr]
    capture = deliver(core, "payment", "CapturePayment", Reply(200, {"status": "succeeded"}), 13.0)
    assert capture["headers"]["Idempotency-Key"] == "00000001:capture"
    timeline = core.order_timeline("00000001")
    assert timeline is not None
    assert [step["location"] for step in timeline["fulfilment"]["routing"]] == ["S001", "S002"]
    assert any(
        entry["source"] == "fulfilment" and "S001 declined" in entry["event"]
        for entry in timeline["timeline"]
    )


def test_when_no_store_and_no_dc_can_fulfil_the_order_is_cancelled() -> None:
    core = new_core(store_units=(1, 0), dc_units=0)
    core.submit_order(pickup_order(), "k1", 0.5)
    to_erp(core)
    pos_event(core, "pickup.declined", "S001", "e1", line_items=[{"sku": SKU, "quantity": 1, "available": 0}])
    record = core.order_record("00000001")
    assert record is not None and record.status.value == "cancelled" and not record.reserved
    deliver(core, "erp", "CancelSalesOrder", Reply(204, None), 11.0)
    deliver(core, "payment", "VoidPaymentAuthorization", Reply(200, {"status": "canceled"}), 11.0)


# ---- the agent's actions ----------------------------------------------------------------------------


def failed_parcel(core: IntegrationCore) -> None:
    """An order shipped from the DC whose parcel the carrier gave up on."""
    core.submit_order(scapi_order(), "k1", 0.5)
    to_erp(core)
    deliver(core, "wms", "ReleaseToWarehouse", Reply(201, {"id": 7, "reference_id": "00000001"}), 3.0)
    shipped = {
        "topic": "order.shipped",
        "event_time": "t",
        "order_id": 7,
        "reference_id": "00000001",
        "status": "Completed",
        "tracking": {"carrier": "USPS", "carrier_service": "Priority", "tracking_id": "EZ1"},
    }
    assert core.receive_webhook("wms", "w1", "order.shipped", shipped, 4.0).status == 200
    failure = {
        "id": "evt_1",
        "description": "tracker.updated",
        "result": {"tracking_code": "EZ1", "status": "failure"},
    }
    assert core.receive_webhook("carrier", "evt_1", "tracker.updated", failure, 5.0).status == 200


def action(kind: str, case: str = "00001001", **extra: Any) -> dict[str, Any]:
    return {"action": kind, "case_number": case, "case_id": "500000000000000001", **extra}


def test_a_failed_parcel_is_reshipped_once_whatever_the_keys() -> None:
    core = new_core()
    failed_parcel(core)
    assert core.order_record("00000001").status.value == "delivery_failed"  # type: ignore[union-attr]
    first = core.agent_action("00000001", action("reship"), "a1", 6.0)
    assert first.status == 202 and first.body["replacement_order"] == "00000001-R1"
    again = core.agent_action("00000001", action("reship"), "a1", 7.0)
    assert again.status == 202 and again.body == first.body and again.headers["Idempotent-Replayed"] == "true"
    other_case = core.agent_action("00000001", action("reship", "00001002"), "a2", 8.0)
    assert other_case.status == 200 and other_case.body["duplicate"] is True
    refund_too = core.agent_action("00000001", action("refund", "00001003"), "a3", 8.0)
    assert refund_too.status == 200 and refund_too.body["replacement_order"] == "00000001-R1"
    original, replacement = core.order_record("00000001"), core.order_record("00000001-R1")
    assert original is not None and original.status.value == "replaced"
    assert replacement is not None and replacement.replaces == "00000001" and replacement.payment_ref is None
    assert replacement.correlation_id == "00000001" and replacement.status.value == "payment_authorized"
    post = deliver(core, "erp", "PostSalesOrder", Reply(201, {"d": {"SalesOrder": "0000000002"}}), 9.0)
    assert post["body"]["SalesOrderType"] == "SDF" and post["body"]["ReferenceSDDocument"] == "0000000001"
    assert post["body"]["PurchaseOrderByCustomer"] == "00000001-R1"
    timeline = core.order_timeline("00000001")
    assert timeline is not None and timeline["replacement"]["replaced_by"] == "00000001-R1"
    assert [a["action"] for a in timeline["actions"]] == ["reship", "reship", "refund"]


def test_a_lost_parcel_can_be_refunded_instead_through_the_return_to_refund_table() -> None:
    core = new_core()
    failed_parcel(core)
    reply = core.agent_action("00000001", action("refund"), "a1", 6.0)
    assert reply.status == 202 and reply.body["return_id"] == "AGT00001001"
    record = core.return_record("AGT00001001")
    assert record is not None and not record.goods_expected and record.status.value == "authorizing"
    assert record.case_id == "500000000000000001"
    reship = core.agent_action("00000001", action("reship", "00001002"), "a2", 7.0)
    assert reship.status == 200 and reship.body["return_id"] == "AGT00001001"
    assert core.order_record("00000001-R1") is None


@pytest.mark.parametrize(
    ("order_no", "body", "status", "error"),
    [
        ("00000001", action("reship"), 409, "action_not_allowed"),  # delivered orders are not reshipped
        ("NOPE", action("reship"), 404, "order_not_found"),
        ("00000001", {"action": "teleport", "case_number": "1"}, 422, "invalid_action"),
        ("00000001", {"action": "reship"}, 422, "invalid_action"),
    ],
)
def test_refused_actions_change_nothing_and_free_the_key(
    order_no: str, body: dict[str, Any], status: int, error: str
) -> None:
    core = new_core()
    core.submit_order(scapi_order(), "k1", 0.5)
    to_erp(core)
    backlog = core.store.backlog()
    reply = core.agent_action(order_no, body, "a1", 6.0)
    assert reply.status == status and reply.body["error"] == error
    assert core.store.backlog() == backlog and core.order_record("00000001-R1") is None
    if status == 422:
        assert reply.body["errors"] and all(e["loc"] for e in reply.body["errors"])
    # The key is free again: the same key with a corrected body is a new request, not a 422.
    retry = core.agent_action("00000001", action("return"), "a1", 7.0)
    assert retry.status == 202 and retry.body["status"] == "rejected"  # not delivered yet: refused by policy
    assert core.agent_action("00000001", action("return"), None, 7.0).status == 400


def test_a_pickup_whose_store_events_never_came_is_settled_by_asking_the_store() -> None:
    core = new_core()
    core.submit_order(pickup_order(), "k1", 0.5)
    to_erp(core)
    deliver(core, "pos", "ReleaseToStore", Reply(201, {"status": "accepted"}), 3.0)
    watch_at = 3.0 + core.config.shipment_watch_s
    assert core.run_timers(watch_at) >= 1
    listing = {
        "pickups": [
            {
                "pickup_id": "PU1",
                "store_id": "S001",
                "order_reference": "00000001",
                "status": "collected",
                "line_items": [{"sku": SKU, "quantity": 1}],
            }
        ]
    }
    sent = deliver(core, "pos", "FetchPickup", Reply(200, listing), watch_at)
    assert sent["path"] == "/v1/pickups"
    record = core.order_record("00000001")
    assert record is not None and record.status.value == "delivered"
    assert [event for _, _, event in record.history][-2:] == ["PickupReady", "PickedUp"]
    assert core.counters["reconciliation_repairs"] == 1
