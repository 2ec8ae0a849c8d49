"""core/frozen.py: ``updated`` is ``model_copy(update=…)`` for frozen records, and leaves the original alone;
``share_fields_sets`` gives equal fields-sets one object without changing what a model says."""

from __future__ import annotations

from retailsim.core.frozen import share_fields_sets, updated
from retailsim.core.models import Address, Customer, Order, OrderLine
from retailsim.core.stores.memory import MemoryStore
from retailsim.core.workflows.order_to_cash import OrderRecord, OrderStatus


def _record() -> OrderRecord:
    return OrderRecord(order_no="A1", correlation_id="c-1", lines=[("SKU-1", 2)], synced={"erp": 1})


def test_updated_equals_model_copy() -> None:
    record = _record()
    changes = {"status": OrderStatus.STOCK_RESERVED, "status_seq": 1, "synced": {"erp": 1, "storefront": 3}}
    ours, pydantics = updated(record, changes), record.model_copy(update=changes)
    assert ours == pydantics
    assert ours.model_dump() == pydantics.model_dump()
    assert ours.model_fields_set == pydantics.model_fields_set
    assert type(ours) is OrderRecord


def test_updated_leaves_the_original_unchanged() -> None:
    record = _record()
    before = record.model_dump()
    copy = updated(record, {"status_seq": 7, "synced": {"erp": 2}})
    assert copy.status_seq == 7 and copy.synced == {"erp": 2}
    assert record.model_dump() == before
    assert "status_seq" not in record.model_fields_set


def test_updated_keeps_the_fields_set_when_nothing_new_is_named() -> None:
    record = updated(_record(), {"status_seq": 1})
    again = updated(record, {"status_seq": 2})
    assert again.model_fields_set is record.model_fields_set
    grown = updated(again, {"carrier": "UPS"})
    assert grown.model_fields_set == record.model_fields_set | {"carrier"}
    assert "carrier" not in record.model_fields_set


def _order() -> Order:
    return Order(
        order_no="A1",
        channel="web",
        site_id="RefArch",
        currency="USD",
        customer=Customer(customer_id="c1", email="a@example.com", name="Ann Lee"),
        ship_to=Address(
            name="Ann Lee",
            line1="1 Main St",
            city="Springfield",
            region="IL",
            postal_code="62701",
            country="US",
        ),
        lines=(
            OrderLine(line_no=1, sku="SKU-1", name="One", quantity=1, unit_price_minor=100),
            OrderLine(line_no=2, sku="SKU-2", name="Two", quantity=2, unit_price_minor=50),
        ),
        payment=None,
        total_minor=200,
        placed_at="2026-11-27T00:00:00Z",
    )


def test_share_fields_sets_shares_one_set_per_shape_inside_and_out() -> None:
    first, second = _order(), _order()
    before = first.model_dump(), first.model_fields_set, first.ship_to.model_fields_set
    share_fields_sets(first)
    share_fields_sets(second)
    assert (first.model_dump(), first.model_fields_set, first.ship_to.model_fields_set) == before
    assert first.model_fields_set is second.model_fields_set
    assert first.ship_to.model_fields_set is second.ship_to.model_fields_set
    assert (
        first.lines[0].model_fields_set is first.lines[1].model_fields_set is second.lines[1].model_fields_set
    )
    assert first == second


def test_a_copy_of_a_shared_model_never_changes_the_shared_set() -> None:
    order = _order()
    share_fields_sets(order)
    shared = order.customer.model_fields_set
    names = set(shared)
    copy = order.model_copy(update={"pickup_store": "S1"})
    assert "pickup_store" in copy.model_fields_set and "pickup_store" not in order.model_fields_set
    line = order.lines[0].model_copy(update={"quantity": 3})
    assert line.quantity == 3 and order.lines[0].quantity == 1
    assert shared == names


def test_the_memory_store_keeps_models_with_shared_fields_sets() -> None:
    store = MemoryStore()
    first, second = _record(), _record().model_copy(update={"order_no": "A2"})
    assert first.model_fields_set is not second.model_fields_set
    with store.transaction() as tx:
        tx.save_model("order", "A1", first, 1.0)
        tx.save_model("order", "A2", second, 1.0)
    with store.transaction() as tx:
        kept = [tx.load_model("order", number, OrderRecord) for number in ("A1", "A2")]
    assert kept == [first, second]
    assert kept[0] is not None and kept[1] is not None
    assert kept[0].model_fields_set is kept[1].model_fields_set


def test_equal_counter_dicts_are_one_shared_dict_and_others_stay_their_own() -> None:
    first = updated(_record(), {"synced": {"storefront": 3, "service_cloud": 4}})
    other = OrderRecord(order_no="A2", correlation_id="c-2")
    second = updated(other, {"synced": {"storefront": 3, "service_cloud": 4}})
    assert first.synced == second.synced and first.synced is second.synced
    third = updated(first, {"synced": {"storefront": 3, "service_cloud": 5}})
    assert third.synced is not first.synced and first.synced == {"storefront": 3, "service_cloud": 4}
    parcels = {"shp_1": {"tracking": "EZ1", "units": {"SKU-1": 1}, "status": "pre_transit"}}
    assert updated(first, {"parcels": parcels}).parcels is parcels  # not a dict of counters: its own


def test_new_order_records_share_their_empty_containers() -> None:
    first = OrderRecord(order_no="A1", correlation_id="c-1")
    second = OrderRecord(order_no="A2", correlation_id="c-2")
    for name in ("lines", "synced", "history", "routing", "parcels"):
        assert getattr(first, name) is getattr(second, name) and not getattr(first, name), name
    grown = updated(first, {"history": [*first.history, (1.0, "received", "OrderReceived")]})
    assert grown.history == [(1.0, "received", "OrderReceived")] and second.history == []
