"""The order-to-cash table's omnichannel paths: store pickups and their rerouting, failed deliveries and
replacement orders. Pure functions, no store (core/workflows)."""

from __future__ import annotations

import pytest

from retailsim.core.errors import IllegalTransition
from retailsim.core.workflows import order_to_cash as o2c
from retailsim.core.workflows.order_to_cash import OrderEvent as E
from retailsim.core.workflows.order_to_cash import OrderRecord, OrderStatus

POLICY = o2c.Policy(dc_locations=("DC1",))


def record(location: str = "S001", **changes: object) -> OrderRecord:
    values: dict[str, object] = {
        "order_no": "00000001",
        "correlation_id": "00000001",
        "location": location,
        "pickup_store": "S001",
        "lines": [("SKU-1", 1), ("SKU-2", 2)],
        "payment_ref": "pi_0000001",
        "reserved": True,
    }
    values.update(changes)
    return OrderRecord.model_validate(values)


def run(
    rec: OrderRecord, *events: E, facts: dict[str, object] | None = None
) -> tuple[OrderRecord, list[o2c.Command]]:
    commands: list[o2c.Command] = []
    for event in events:
        outcome = o2c.apply(rec, event, 1.0, POLICY, facts)
        rec = outcome.record
        commands += outcome.commands
    return rec, commands


def kinds(commands: list[o2c.Command]) -> list[str]:
    return [c.kind for c in commands]


def test_a_pickup_order_goes_to_its_store_not_the_warehouse_and_is_charged_at_the_counter() -> None:
    rec, commands = run(record(), E.STOCK_RESERVED, E.PAYMENT_AUTHORIZED, E.SALES_ORDER_POSTED)
    assert rec.status is OrderStatus.POSTED_TO_ERP
    release = [c for c in commands if c.kind == "ReleaseToStore"]
    assert release and release[0].destination == "pos" and release[0].payload == {"location": "S001"}
    assert "ReleaseToWarehouse" not in kinds(commands) and "WatchShipment" not in kinds(commands)
    rec, commands = run(rec, E.PICKUP_ACCEPTED, E.PICKUP_READY)
    assert rec.status is OrderStatus.READY_FOR_PICKUP and "CapturePayment" not in kinds(commands)
    assert "UpdateOrderStatus" in kinds(commands)  # "ready for pickup" is what the customer waits for
    rec, commands = run(rec, E.PICKED_UP)
    assert rec.status is OrderStatus.DELIVERED
    assert {"CapturePayment", "PostGoodsIssue"} <= set(kinds(commands))


def test_a_reroute_re_enters_posted_to_erp_moving_the_erp_order_and_releasing_to_the_new_place() -> None:
    allocated, _ = run(
        record(), E.STOCK_RESERVED, E.PAYMENT_AUTHORIZED, E.SALES_ORDER_POSTED, E.PICKUP_ACCEPTED
    )
    to_store, commands = run(allocated, E.PICKUP_REROUTED, facts={"location": "S002"})
    assert to_store.status is OrderStatus.POSTED_TO_ERP and to_store.status_seq == allocated.status_seq + 1
    plants = [c.payload for c in commands if c.kind == "ChangeSalesOrderPlant"]
    assert plants == [{"location": "S002", "item": "10"}, {"location": "S002", "item": "20"}]
    assert [c.payload for c in commands if c.kind == "ReleaseToStore"] == [{"location": "S002"}]
    assert "UpdateOrderStatus" in kinds(commands) and "UpsertOrderStatus" in kinds(commands)
    to_dc, commands = run(to_store, E.PICKUP_REROUTED, facts={"location": "DC1"})
    assert to_dc.location == "DC1"
    assert {"ReleaseToWarehouse", "WatchShipment"} <= set(kinds(commands))
    assert "ReleaseToStore" not in kinds(commands)


def test_a_late_decline_after_the_goods_were_set_aside_is_stale_and_nowhere_to_go_cancels() -> None:
    ready, _ = run(record(), E.STOCK_RESERVED, E.PAYMENT_AUTHORIZED, E.SALES_ORDER_POSTED, E.PICKUP_READY)
    late = o2c.apply(ready, E.PICKUP_REROUTED, 2.0, POLICY, {"location": "S002"})
    assert late.stale and late.commands == () and late.record.status is OrderStatus.READY_FOR_PICKUP
    posted, _ = run(record(), E.STOCK_RESERVED, E.PAYMENT_AUTHORIZED, E.SALES_ORDER_POSTED)
    posted = posted.model_copy(update={"erp_sales_order": "0000000001"})
    cancelled, commands = run(posted, E.PICKUP_UNFULFILLABLE)
    assert cancelled.status is OrderStatus.CANCELLED
    assert {"CancelSalesOrder", "VoidPaymentAuthorization"} <= set(kinds(commands))
    assert "CancelWarehouseOrder" not in kinds(commands)


def test_a_parcel_the_carrier_gave_up_on_waits_for_an_agent_and_can_only_be_replaced() -> None:
    shipped, _ = run(
        record("DC1", pickup_store=None),
        E.STOCK_RESERVED,
        E.PAYMENT_AUTHORIZED,
        E.SALES_ORDER_POSTED,
        E.SHIPPED,
        E.IN_TRANSIT,
    )
    failed, commands = run(shipped, E.DELIVERY_FAILED)
    assert failed.status is OrderStatus.DELIVERY_FAILED
    assert kinds(commands) == ["UpdateOrderStatus", "UpsertOrderStatus"]
    stale = o2c.apply(failed, E.IN_TRANSIT, 3.0, POLICY)  # a reordered carrier event
    assert stale.stale and stale.record.status is OrderStatus.DELIVERY_FAILED
    replaced, _ = run(failed, E.REPLACEMENT_ORDERED, facts={"replaced_by": "00000001-R1"})
    assert replaced.status is OrderStatus.REPLACED and replaced.replaced_by == "00000001-R1"
    assert o2c.apply(replaced, E.DELIVERED, 4.0, POLICY).stale
    with pytest.raises(IllegalTransition):
        o2c.apply(shipped, E.REPLACEMENT_ORDERED, 3.0, POLICY)


def test_a_replacement_order_needs_no_payment_and_is_never_pushed_to_the_storefront() -> None:
    rec = record("DC1", pickup_store=None, payment_ref=None, replaces="00000001", total_minor=0)
    rec, commands = run(rec, E.STOCK_RESERVED, E.PAYMENT_NOT_REQUIRED, E.SALES_ORDER_POSTED, E.SHIPPED)
    assert rec.status is OrderStatus.SHIPPED
    assert not {"VerifyPaymentAuthorization", "CapturePayment", "UpdateOrderStatus"} & set(kinds(commands))
    assert {"PostSalesOrder", "ReleaseToWarehouse", "PostGoodsIssue", "UpsertOrderStatus"} <= set(
        kinds(commands)
    )
