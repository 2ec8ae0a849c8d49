"""refund_exactly_once and inventory_conserved, judged on hand-written evidence.

Each passes a healthy history having checked something, fails a deliberately broken one with an example
naming the return, payment or SKU, and reports "not exercised" when there was nothing to check.
"""

from __future__ import annotations

from retailsim.sim.invariants import (
    Evidence,
    inventory_conserved,
    reconciled_at_quiescence,
    refund_exactly_once,
)


def refunds_ok() -> Evidence:
    return Evidence(
        approved_returns=["RMA1", "POS1"],
        refunds_by_return={"RMA1": [1999], "POS1": [500]},
        captured_by_intent={"pi_1": 5000, "pi_2": 500},
        refunded_by_intent={"pi_1": 1999, "pi_2": 500},
    )


def test_refund_exactly_once_holds_for_one_refund_per_approved_return() -> None:
    result = refund_exactly_once(refunds_ok())
    assert result.checked == 4 and result.violations == 0


def test_a_second_refund_for_a_return_is_caught() -> None:
    evidence = refunds_ok()
    evidence.refunds_by_return["RMA1"] = [1999, 1999]
    evidence.refunded_by_intent["pi_1"] = 3998
    result = refund_exactly_once(evidence)
    assert result.violations == 1 and "RMA1" in result.examples[0]


def test_a_missing_refund_an_unapproved_refund_and_refunding_more_than_captured_are_caught() -> None:
    evidence = refunds_ok()
    evidence.refunds_by_return.pop("POS1")
    evidence.refunds_by_return["RMA9"] = [100]
    evidence.refunded_by_intent["pi_2"] = 900
    examples = " | ".join(refund_exactly_once(evidence).examples)
    assert "POS1: approved, refunded 0" in examples
    assert "RMA9: refunded without an approved return" in examples
    assert "pi_2: refunded 900 > captured 500" in examples


def test_refund_exactly_once_with_no_returns_is_not_checked() -> None:
    assert refund_exactly_once(Evidence()).checked == 0


def stock_ok() -> Evidence:
    return Evidence(
        stock_ledgers={
            ("erp:DC1", "SKU-1"): {"initial": 10, "on_hand": 8, "shipped": 4, "restocked": 2},
            ("wms:DC1", "SKU-1"): {"initial": 10, "on_hand": 8, "shipped": 4, "restocked": 2},
            ("pos:S001", "SKU-1"): {"initial": 5, "on_hand": 6, "shipped": 0, "restocked": 1},
        },
        restock_expected={("erp:DC1", "SKU-1"): 2, ("pos:S001", "SKU-1"): 1},
    )


def test_inventory_conserved_holds_when_every_ledger_balances() -> None:
    result = inventory_conserved(stock_ok())
    assert result.checked == 3 and result.violations == 0


def test_goods_restocked_twice_are_caught() -> None:
    evidence = stock_ok()
    evidence.stock_ledgers[("pos:S001", "SKU-1")] = {"initial": 5, "on_hand": 7, "shipped": 0, "restocked": 2}
    result = inventory_conserved(evidence)
    assert (
        result.violations == 1
        and "pos:S001 SKU SKU-1: restocked 2, returned to stock 1" in result.examples[0]
    )


def test_goods_never_restocked_and_units_that_vanish_are_caught() -> None:
    evidence = stock_ok()
    evidence.stock_ledgers[("erp:DC1", "SKU-1")] = {"initial": 10, "on_hand": 6, "shipped": 4, "restocked": 0}
    evidence.stock_ledgers[("wms:DC1", "SKU-1")] = {"initial": 10, "on_hand": 7, "shipped": 4, "restocked": 2}
    examples = " | ".join(inventory_conserved(evidence).examples)
    assert "erp:DC1 SKU SKU-1: restocked 0, returned to stock 2" in examples
    assert "wms:DC1 SKU SKU-1: on hand 7 + shipped 4 - restocked 2 = 9, started with 10" in examples


def test_inventory_conserved_without_returns_still_checks_every_stock_balance() -> None:
    # A run without returns still balances its stock ledgers: they are checked, not "not exercised".
    evidence = stock_ok()
    evidence.restock_expected = {}
    result = inventory_conserved(evidence)
    assert result.checked == len(evidence.stock_ledgers) > 0 and result.status == "held"
    evidence.stock_ledgers[("erp:DC1", "SKU-1")]["on_hand"] -= 1
    assert inventory_conserved(evidence).status == "violated"


def test_reconciliation_covers_returns_left_open_or_not_refunded_downstream() -> None:
    evidence = Evidence(
        core_returns={"RMA1": "refunding", "RMA2": "refunded"},
        return_systems={
            "RMA2": {
                "erp_return": "present",
                "erp_credit_memo": "absent",
                "payment": "refunded",
                "storefront": "refunded",
                "pos": "n/a",
            }
        },
    )
    result = reconciled_at_quiescence(evidence)
    assert result.checked == 2
    assert result.examples == (
        "return RMA1: still 'refunding' at quiescence",
        "return RMA2: core says refunded, erp_credit_memo says absent",
    )
