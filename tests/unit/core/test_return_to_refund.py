"""The return-to-refund table: the happy path and its commands, eligibility, stale and illegal events.

Pure functions, no store and no simulation: the table is the whole truth (core/workflows).
"""

from __future__ import annotations

import pytest

from retailsim.core.errors import IllegalTransition
from retailsim.core.workflows import return_to_refund as r2r
from retailsim.core.workflows.return_to_refund import ReturnEvent as E
from retailsim.core.workflows.return_to_refund import ReturnRecord, ReturnStatus

POLICY = r2r.ReturnPolicy(window_s=7 * 86400.0, dc_locations=("DC1",))


def record(location: str = "DC1", channel: str = "storefront", condition: str = "resellable") -> ReturnRecord:
    return ReturnRecord(
        return_no="RMA0000001",
        order_no="00000001",
        correlation_id="RMA0000001",
        channel=channel,
        location=location,
        lines=[r2r.ReturnLineState(sku="SKU-1", quantity=1, condition=condition, unit_price_minor=1999)],
        amount_minor=1999,
    )


def kinds(outcome: r2r.ReturnOutcome) -> list[str]:
    return [c.kind for c in outcome.commands]


def facts(**changes: object) -> r2r.OrderFacts:
    values: dict[str, object] = {
        "status": "delivered",
        "invoiced": True,
        "delivered_at": 0.0,
        "lines": {"SKU-1": 2},
        "already_returned": {},
    }
    values.update(changes)
    return r2r.OrderFacts(**values)  # type: ignore[arg-type]


def test_an_online_return_runs_to_one_refund_with_the_return_numbers_key() -> None:
    seen: list[str] = []
    rec = record()
    for event in (
        E.ELIGIBLE,
        E.AUTHORIZATION_POSTED,
        E.GOODS_RECEIVED,
        E.CREDIT_MEMO_POSTED,
        E.REFUND_SUCCEEDED,
    ):
        outcome = r2r.apply(rec, event, 10.0, POLICY)
        seen += kinds(outcome)
        rec = outcome.record
    assert rec.status is ReturnStatus.REFUNDED
    assert seen.count("RefundPayment") == 1
    assert seen.index("CreateCustomerReturn") < seen.index("CreateWarehouseReturn")
    assert (
        seen.index("PostReturnGoodsReceipt")
        < seen.index("CreateCreditMemoRequest")
        < seen.index("RefundPayment")
    )
    assert "RestockReturnedGoods" not in seen  # a DC return is restocked through the ERP's goods receipt
    assert r2r.refund_idempotency_key("RMA0000001") == "RMA0000001:refund"


def test_a_store_receipt_before_the_authorization_is_applied_when_it_lands() -> None:
    rec = r2r.apply(record("S001", "pos"), E.ELIGIBLE, 0.0, POLICY).record
    parked = r2r.apply(rec, E.GOODS_RECEIVED, 1.0, POLICY, {"received_at": 1.0})
    assert parked.record.status is ReturnStatus.AUTHORIZING and parked.commands == ()
    landed = r2r.apply(parked.record, E.AUTHORIZATION_POSTED, 2.0, POLICY)
    assert landed.record.status is ReturnStatus.RECEIVED
    assert "RestockReturnedGoods" in kinds(landed) and "CreateWarehouseReturn" not in kinds(landed)
    assert "UpdateStoreReturn" in kinds(landed)


@pytest.mark.parametrize(
    ("condition", "disposition"), [("resellable", "restock"), ("opened", "refurbish"), ("damaged", "scrap")]
)
def test_disposition_follows_the_condition_and_only_resellable_goods_are_restocked(
    condition: str, disposition: str
) -> None:
    rec = record(condition=condition)
    for event in (E.ELIGIBLE, E.AUTHORIZATION_POSTED):
        rec = r2r.apply(rec, event, 0.0, POLICY).record
    received = r2r.apply(rec, E.GOODS_RECEIVED, 0.0, POLICY)
    assert received.record.lines[0].disposition == disposition
    assert ("PostReturnGoodsReceipt" in kinds(received)) is (disposition == "restock")


@pytest.mark.parametrize(
    ("order", "now", "reason"),
    [
        (None, 0.0, "unknown_order"),
        (facts(invoiced=False), 0.0, "not_invoiced"),
        (facts(), 8 * 86400.0, "outside_return_window"),
        (facts(lines={"SKU-1": 1}, already_returned={"SKU-1": 1}), 0.0, "quantity_exceeds_order:SKU-1"),
    ],
)
def test_eligibility_refuses_with_a_reason(order: r2r.OrderFacts | None, now: float, reason: str) -> None:
    assert r2r.eligibility(record(), order, now, POLICY) == reason


def test_eligibility_refuses_an_unknown_condition_and_accepts_a_good_return() -> None:
    assert r2r.eligibility(record(condition="worn"), facts(), 0.0, POLICY) == "condition_not_accepted:worn"
    assert r2r.eligibility(record(), facts(), 86400.0, POLICY) is None


def test_an_ineligible_return_is_rejected_without_any_erp_or_payment_command() -> None:
    outcome = r2r.apply(record(), E.INELIGIBLE, 0.0, POLICY, {"rejection": "outside_return_window"})
    assert outcome.record.status is ReturnStatus.REJECTED
    assert kinds(outcome) == ["UpdateReturnStatus"]


def test_a_duplicate_event_is_stale_and_issues_nothing() -> None:
    rec = record()
    for event in (E.ELIGIBLE, E.AUTHORIZATION_POSTED, E.GOODS_RECEIVED, E.CREDIT_MEMO_POSTED):
        rec = r2r.apply(rec, event, 0.0, POLICY).record
    again = r2r.apply(rec, E.GOODS_RECEIVED, 5.0, POLICY)
    assert again.stale and again.commands == () and again.record.status is ReturnStatus.REFUNDING
    done = r2r.apply(rec, E.REFUND_SUCCEEDED, 6.0, POLICY).record
    twice = r2r.apply(done, E.REFUND_SUCCEEDED, 7.0, POLICY)
    assert twice.stale and twice.commands == () and twice.record.stale_events == 1


def test_an_illegal_event_raises_and_changes_nothing() -> None:
    rec = record()
    with pytest.raises(IllegalTransition) as raised:
        r2r.apply(rec, E.REFUND_SUCCEEDED, 0.0, POLICY)
    assert not raised.value.retryable
    assert rec.status is ReturnStatus.REQUESTED


def test_an_exchange_ships_the_goods_again_instead_of_a_credit_memo_and_a_refund() -> None:
    rec = record().model_copy(update={"exchange": True})
    seen: list[str] = []
    for event in (E.ELIGIBLE, E.AUTHORIZATION_POSTED, E.GOODS_RECEIVED):
        outcome = r2r.apply(rec, event, 1.0, POLICY)
        seen += kinds(outcome)
        rec = outcome.record
    assert "CreateExchangeOrder" in seen and "CreateCreditMemoRequest" not in seen
    done = r2r.apply(rec, E.EXCHANGE_ORDERED, 2.0, POLICY, {"replacement_order": "00000001-R1"})
    assert done.record.status is ReturnStatus.EXCHANGED and done.record.replacement_order == "00000001-R1"
    assert "RefundPayment" not in kinds(done) and "UpdateReturnStatus" in kinds(done)
    assert r2r.apply(done.record, E.CREDIT_MEMO_POSTED, 3.0, POLICY).stale


def test_an_exchange_without_stock_for_the_replacement_falls_back_to_a_refund() -> None:
    rec = record().model_copy(update={"exchange": True})
    for event in (E.ELIGIBLE, E.AUTHORIZATION_POSTED, E.GOODS_RECEIVED):
        rec = r2r.apply(rec, event, 1.0, POLICY).record
    fallback = r2r.apply(rec, E.EXCHANGE_UNAVAILABLE, 2.0, POLICY)
    assert kinds(fallback) == ["CreateCreditMemoRequest"] and not fallback.record.exchange
    refunding = r2r.apply(fallback.record, E.CREDIT_MEMO_POSTED, 3.0, POLICY)
    assert kinds(refunding).count("RefundPayment") == 1


def test_a_lost_parcel_claim_needs_a_failed_delivery_and_is_received_as_soon_as_it_is_authorized() -> None:
    claim = record(condition="lost").model_copy(update={"goods_expected": False, "received_at": 0.0})
    assert r2r.eligibility(claim, facts(status="delivered"), 0.0, POLICY) == "parcel_not_lost"
    lost = facts(status="delivery_failed", delivered_at=None)
    assert r2r.eligibility(claim, lost, 90 * 86400.0, POLICY) is None  # no return window for a loss
    assert r2r.eligibility(record(condition="lost"), facts(), 0.0, POLICY) == "condition_not_accepted:lost"
    rec = r2r.apply(claim, E.ELIGIBLE, 0.0, POLICY).record
    authorized = r2r.apply(rec, E.AUTHORIZATION_POSTED, 1.0, POLICY)
    assert authorized.record.status is ReturnStatus.RECEIVED
    assert authorized.record.lines[0].disposition == "write_off"
    assert "CreateWarehouseReturn" not in kinds(authorized) and "PostReturnGoodsReceipt" not in kinds(
        authorized
    )
    assert "CreateCreditMemoRequest" in kinds(authorized)


def test_a_return_opened_from_a_case_writes_each_customer_visible_status_on_the_case() -> None:
    rec = record(channel="agent").model_copy(update={"case_id": "500000000000000001"})
    rec = r2r.apply(rec, E.ELIGIBLE, 0.0, POLICY).record
    authorized = r2r.apply(rec, E.AUTHORIZATION_POSTED, 1.0, POLICY)
    case_updates = [c for c in authorized.commands if c.kind == "UpdateCaseReturnStatus"]
    assert [(c.destination, c.payload["status"]) for c in case_updates] == [("service_cloud", "authorized")]


def test_an_exchange_restocked_at_the_dc_waits_for_the_erps_goods_receipt_before_its_replacement() -> None:
    # The replacement is delivered out of the returned units: ordered before the ERP has booked them
    # back, the ERP confirms (and later issues) fewer units than the warehouse ships.
    rec = record().model_copy(update={"exchange": True})
    rec = r2r.apply(rec, E.ELIGIBLE, 1.0, POLICY).record
    rec = r2r.apply(rec, E.AUTHORIZATION_POSTED, 1.0, POLICY, {"erp_return_order": "6000000001"}).record
    received = r2r.apply(rec, E.GOODS_RECEIVED, 2.0, POLICY)
    assert "PostReturnGoodsReceipt" in kinds(received)
    assert "CreateExchangeOrder" not in kinds(received) and "CreateCreditMemoRequest" not in kinds(received)
    assert r2r.restocked_at_dc(received.record, POLICY)
    # Returned to a store, or nothing to restock: the replacement is ordered at once.
    at_store = r2r.apply(
        record(location="S001").model_copy(update={"exchange": True}), E.ELIGIBLE, 1.0, POLICY
    )
    store_rec = r2r.apply(
        at_store.record, E.AUTHORIZATION_POSTED, 1.0, POLICY, {"erp_return_order": "6"}
    ).record
    assert "CreateExchangeOrder" in kinds(r2r.apply(store_rec, E.GOODS_RECEIVED, 2.0, POLICY))
