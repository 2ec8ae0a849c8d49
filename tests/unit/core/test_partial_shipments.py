"""Orders the warehouse ships in several parcels: one ``order.shipped`` webhook per shipment, one tracker
per parcel. The core keeps parcels by shipment id; the order is shipped (one ERP goods issue, stock
issued) when its parcels hold every unit, in transit with a parcel on the way, delivered when every parcel
is; a failed parcel fails it; a parcel's late, reordered status never takes it back.
"""

from __future__ import annotations

from typing import Any

from retailsim.core.service import CoreConfig, IntegrationCore
from retailsim.core.stores.memory import MemoryStore
from retailsim.core.workflows.order_to_cash import OrderRecord, OrderStatus

ORDER = "00000077"
LINES = [("SKU-A", 1), ("SKU-B", 2)]


def allocated_core() -> IntegrationCore:
    core = IntegrationCore(MemoryStore(), CoreConfig())
    core.load_inventory([("SKU-A", "DC1", 10), ("SKU-B", "DC1", 10)], 0.0)
    record = OrderRecord(
        order_no=ORDER,
        correlation_id=ORDER,
        status=OrderStatus.ALLOCATED,
        status_seq=4,
        location="DC1",
        lines=LINES,
        reserved=True,
        wms_order_id="9",
    )
    with core.store.transaction() as tx:
        for sku, quantity in LINES:
            position = tx.get_position(sku, "DC1")
            assert position is not None
            position.reserved += quantity
            tx.put_position(position)
        tx.save_model("order", ORDER, record, 0.0)
    return core


def parcel(shipment: int, code: str, sku: str, quantity: int) -> dict[str, Any]:
    return {
        "topic": "order.shipped",
        "event_time": "2026-12-04T10:00:00Z",
        "order_id": 9,
        "reference_id": ORDER,
        "status": "PartiallyFulfilled",
        "shipment_id": shipment,
        "tracking": {"carrier": "USPS", "carrier_service": "Priority", "tracking_id": code},
        "products": [{"reference_id": sku, "quantity": quantity}],
    }


def tracker(code: str, status: str) -> dict[str, Any]:
    return {"id": "evt_x", "object": "Event", "result": {"tracking_code": code, "status": status}}


def status(core: IntegrationCore) -> str:
    record = core.order_record(ORDER)
    assert record is not None
    return record.status.value


def goods_issues(core: IntegrationCore) -> int:
    count = 0
    while (delivery := core.claim("erp", 1e6)) is not None:
        count += delivery.message.kind == "PostGoodsIssue"
        with core.store.transaction() as tx:
            tx.complete(delivery.message.seq)
    return count


def test_the_order_ships_when_its_last_parcel_leaves_and_issues_goods_once() -> None:
    core = allocated_core()
    first = core.receive_webhook("wms", "1", "order.shipped", parcel(11, "EZ1", "SKU-A", 1), 10.0)
    assert first.body["status"] == "processed" and "1 of 3 units" in first.body["reason"]
    # The same parcel told again under another event id (a re-sent webhook): still one parcel.
    core.receive_webhook("wms", "2", "order.shipped", parcel(11, "EZ1", "SKU-A", 1), 11.0)
    assert status(core) == "allocated"
    assert core.available_to_promise("SKU-A") == {"DC1": 9}  # still reserved, not yet issued
    core.receive_webhook("wms", "3", "order.shipped", parcel(12, "EZ2", "SKU-B", 2), 20.0)
    assert status(core) == "shipped"
    assert goods_issues(core) == 1
    assert core.available_to_promise("SKU-A") == {"DC1": 9} and core.available_to_promise("SKU-B") == {"DC1": 8}


def test_the_order_is_delivered_when_every_parcel_is() -> None:
    core = allocated_core()
    # The first parcel travels (and is delivered) before the second has left the warehouse.
    core.receive_webhook("wms", "1", "order.shipped", parcel(11, "EZ1", "SKU-A", 1), 10.0)
    early = core.receive_webhook("carrier", "evt_1", "tracker.updated", tracker("EZ1", "delivered"), 15.0)
    assert early.status == 200 and status(core) == "allocated"
    core.receive_webhook("wms", "2", "order.shipped", parcel(12, "EZ2", "SKU-B", 2), 20.0)
    core.receive_webhook("carrier", "evt_2", "tracker.updated", tracker("EZ2", "in_transit"), 30.0)
    assert status(core) == "in_transit"
    core.receive_webhook("carrier", "evt_3", "tracker.updated", tracker("EZ2", "delivered"), 40.0)
    assert status(core) == "delivered"


def test_a_reordered_parcel_status_never_goes_back_and_a_failed_parcel_fails_the_order() -> None:
    core = allocated_core()
    core.receive_webhook("wms", "1", "order.shipped", parcel(11, "EZ1", "SKU-A", 1), 10.0)
    core.receive_webhook("wms", "2", "order.shipped", parcel(12, "EZ2", "SKU-B", 2), 20.0)
    core.receive_webhook("carrier", "evt_1", "tracker.updated", tracker("EZ1", "delivered"), 30.0)
    core.receive_webhook("carrier", "evt_2", "tracker.updated", tracker("EZ1", "in_transit"), 31.0)  # late
    record = core.order_record(ORDER)
    assert record is not None and record.parcels["11"]["status"] == "delivered"
    core.receive_webhook("carrier", "evt_3", "tracker.updated", tracker("EZ2", "return_to_sender"), 40.0)
    assert status(core) == "delivery_failed"
