"""core/frozen.py: ``updated`` is ``model_copy(update=…)`` for frozen records, and leaves the original alone."""

from __future__ import annotations

from retailsim.core.frozen import updated
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
