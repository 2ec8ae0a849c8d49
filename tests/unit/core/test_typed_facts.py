"""A misspelt or mistyped fact is refused where it enters a transition table, not dropped or kept silently."""

from __future__ import annotations

from typing import Any

import pytest

from retailsim.core.workflows import order_to_cash as o2c
from retailsim.core.workflows import return_to_refund as r2r
from retailsim.core.workflows.facts import InvalidFacts

ORDER = o2c.OrderRecord(order_no="00000001", correlation_id="00000001")
RETURN = r2r.ReturnRecord(
    return_no="RMA1", order_no="00000001", correlation_id="RMA1", channel="pos", location="DC1"
)


def reserve(facts: dict[str, Any]) -> o2c.Outcome:
    return o2c.apply(ORDER, o2c.OrderEvent.STOCK_RESERVED, 5.0, o2c.Policy(), facts)


def test_facts_of_the_record_are_applied_as_given() -> None:
    new = reserve({"location": "DC2", "reserved": True}).record
    assert (new.location, new.reserved) == ("DC2", True)


@pytest.mark.parametrize(
    ("facts", "named"),
    [
        ({"locaton": "DC2"}, "OrderRecord has no field locaton"),
        ({"reserved": "yes"}, "OrderRecord.reserved"),
        ({"erp_sales_order": 4711}, "OrderRecord.erp_sales_order"),  # strict: no number for a document id
        ({"posted_at": "soon"}, "OrderRecord.posted_at"),
    ],
)
def test_a_misspelt_or_mistyped_order_fact_is_refused(facts: dict[str, Any], named: str) -> None:
    with pytest.raises(InvalidFacts, match=named):
        reserve(facts)


def test_a_stale_event_with_a_bad_fact_is_refused_too() -> None:
    """The check is where the facts enter, before the table decides the event is stale."""
    shipped = ORDER.model_copy(update={"status": o2c.OrderStatus.SHIPPED})
    with pytest.raises(InvalidFacts, match="no field shiped_at"):
        o2c.apply(shipped, o2c.OrderEvent.STOCK_RESERVED, 5.0, o2c.Policy(), {"shiped_at": 5.0})


@pytest.mark.parametrize(
    ("facts", "named"),
    [({"refund": "re_1"}, "ReturnRecord has no field refund"), ({"rejection": 3}, "ReturnRecord.rejection")],
)
def test_a_misspelt_or_mistyped_return_fact_is_refused(facts: dict[str, Any], named: str) -> None:
    with pytest.raises(InvalidFacts, match=named):
        r2r.apply(RETURN, r2r.ReturnEvent.INELIGIBLE, 5.0, r2r.ReturnPolicy(), facts)


def test_a_remembered_check_is_per_value_type_and_only_for_plain_scalar_fields() -> None:
    """A plain-scalar field's passed check is remembered per value type: a value of another type is still
    checked (and refused); a structured field (``lines``) is checked every time."""
    reserve({"erp_sales_order": "4711", "lines": [("SKU-1", 1)]})
    reserve({"erp_sales_order": "4712", "lines": [("SKU-2", 2)]})  # remembered: passes again
    with pytest.raises(InvalidFacts, match=r"OrderRecord\.erp_sales_order"):
        reserve({"erp_sales_order": 4713})
    with pytest.raises(InvalidFacts, match=r"OrderRecord\.lines"):
        reserve({"lines": [("SKU-1", "one")]})
