"""The order-to-cash table on the home-delivery path: what each step asks of the other systems, stale
and repeated events that change nothing, illegal events that raise and change nothing. Pure functions."""

from __future__ import annotations

import pytest

from retailsim.core.errors import IllegalTransition
from retailsim.core.workflows import order_to_cash as o2c
from retailsim.core.workflows.order_to_cash import OrderEvent as E
from retailsim.core.workflows.order_to_cash import OrderRecord, OrderStatus

POLICY = o2c.Policy()
HOME_DELIVERY = (
    E.STOCK_RESERVED,
    E.PAYMENT_AUTHORIZED,
    E.SALES_ORDER_POSTED,
    E.WAREHOUSE_ACCEPTED,
    E.SHIPPED,
    E.IN_TRANSIT,
    E.DELIVERED,
)


def fresh() -> OrderRecord:
    return OrderRecord(
        order_no="00000001",
        correlation_id="00000001",
        location="DC1",
        lines=[("SKU-1", 2)],
        payment_ref="pi_0000001",
        reserved=True,
    )


def walk(*events: E) -> tuple[OrderRecord, list[list[str]]]:
    record, kinds = fresh(), []
    for step, event in enumerate(events):
        outcome = o2c.apply(record, event, float(step), POLICY)
        record = outcome.record
        kinds.append([c.kind for c in outcome.commands])
    return record, kinds


def test_the_home_delivery_path_issues_each_systems_command_once_and_numbers_every_status() -> None:
    record, kinds = walk(*HOME_DELIVERY)
    assert record.status is OrderStatus.DELIVERED
    assert record.status_seq == len(HOME_DELIVERY)
    assert [status for _, status, _ in record.history] == [
        "stock_reserved",
        "payment_authorized",
        "posted_to_erp",
        "allocated",
        "shipped",
        "in_transit",
        "delivered",
    ]
    assert "VerifyPaymentAuthorization" in kinds[0]
    assert "PostSalesOrder" in kinds[1]
    assert {"ReleaseToWarehouse", "WatchShipment"} <= set(kinds[2])
    assert {"CapturePayment", "PostGoodsIssue", "WatchDelivery"} <= set(kinds[4])
    flat = [kind for step in kinds for kind in step]
    for once in ("PostSalesOrder", "ReleaseToWarehouse", "CapturePayment", "PostGoodsIssue"):
        assert flat.count(once) == 1, once


def test_a_late_shipped_after_delivered_is_stale_counted_and_issues_nothing() -> None:
    delivered, _ = walk(*HOME_DELIVERY)
    late = o2c.apply(delivered, E.SHIPPED, 99.0, POLICY)
    assert late.stale and not late.repeat and late.commands == ()
    assert late.record.status is OrderStatus.DELIVERED and late.record.status_seq == delivered.status_seq
    assert late.record.stale_events == delivered.stale_events + 1


def test_a_second_in_transit_scan_is_a_repeat_not_a_stale_event() -> None:
    in_transit, _ = walk(*HOME_DELIVERY[:-1])
    again = o2c.apply(in_transit, E.IN_TRANSIT, 99.0, POLICY)  # "out for delivery" after "in transit"
    assert again.stale and again.repeat and again.commands == ()
    assert again.record == in_transit


@pytest.mark.parametrize(
    ("events", "illegal"),
    [
        ((), E.SHIPPED),  # received: nothing was ever posted or released
        ((E.STOCK_RESERVED,), E.SALES_ORDER_POSTED),  # the payment was never verified
        ((E.STOCK_RESERVED, E.PAYMENT_AUTHORIZED), E.BACKORDER_EXPIRED),
    ],
)
def test_an_illegal_event_raises_a_typed_error_and_changes_nothing(events: tuple[E, ...], illegal: E) -> None:
    record, _ = walk(*events)
    before = record.model_copy(deep=True)
    with pytest.raises(IllegalTransition) as caught:
        o2c.apply(record, illegal, 5.0, POLICY)
    assert caught.value.retryable is False  # a retry of the same event cannot help
    assert record == before


def test_every_status_the_customer_sees_is_pushed_with_its_sequence_number() -> None:
    record = fresh()
    for step, event in enumerate(HOME_DELIVERY):
        outcome = o2c.apply(record, event, float(step), POLICY)
        record = outcome.record
        pushes = [c for c in outcome.commands if c.kind in ("UpdateOrderStatus", "UpsertOrderStatus")]
        if record.status in o2c.STOREFRONT_VISIBLE:
            assert any(c.destination == "storefront" for c in pushes), record.status
        for push in pushes:
            assert push.payload == {"status": record.status.value, "seq": record.status_seq}
