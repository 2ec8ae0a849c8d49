"""The invariants' omnichannel cases, judged on hand-written evidence: store pickups, replacement orders,
exchanges, write-offs and the ERP-versus-warehouse check, and Service Cloud cases. Each healthy history
passes having checked something; each deliberately broken one fails with an example naming the order,
return, case or SKU."""

from __future__ import annotations

from retailsim.sim.invariants import (
    Evidence,
    inventory_conserved,
    reconciled_at_quiescence,
    refund_exactly_once,
)

DELIVERED_HOME = {
    "storefront": "delivered",
    "service_cloud": "delivered",
    "erp": "completed",
    "wms": "shipped",
    "carrier": "delivered",
    "payment": "captured",
    "pos": "absent",
    "storefront_pickup": "n/a",
    "service_cloud_pickup": "n/a",
}


def pickups() -> Evidence:
    """A BOPIS order collected in S002 after S001 declined, and one rerouted to the DC and shipped home."""
    return Evidence(
        core_final={"00000001": "delivered", "00000002": "delivered"},
        core_fulfilment={"00000001": "store"},
        system_final={
            "00000001": {
                **DELIVERED_HOME,
                "wms": "absent",
                "carrier": "absent",
                "pos": "collected",
                "storefront_pickup": "matches",
                "service_cloud_pickup": "matches",
            },
            "00000002": {**DELIVERED_HOME, "pos": "declined", "storefront_pickup": "matches"},
        },
    )


def test_pickups_collected_in_store_or_shipped_home_after_a_decline_are_reconciled() -> None:
    result = reconciled_at_quiescence(pickups())
    assert result.checked == 2 and result.violations == 0, result.examples


def test_a_pickup_left_live_at_another_store_or_a_customer_sent_to_the_wrong_store_is_caught() -> None:
    evidence = pickups()
    evidence.system_final["00000001"]["pos"] = "live_elsewhere"
    evidence.system_final["00000002"]["storefront_pickup"] = "shows S001"
    examples = " | ".join(reconciled_at_quiescence(evidence).examples)
    assert "order 00000001: core says delivered, pos says live_elsewhere" in examples
    assert "order 00000002: core says delivered, storefront_pickup says shows S001" in examples


def test_an_order_collected_in_store_must_have_no_parcel() -> None:
    evidence = pickups()
    evidence.system_final["00000001"]["wms"] = "shipped"
    result = reconciled_at_quiescence(evidence)
    assert result.examples == ("order 00000001: core says delivered, wms says shipped",)


def replacements() -> Evidence:
    """A lost parcel (order 1) replaced by 1-R1 through case 1001; the ERP holds one free delivery."""
    return Evidence(
        core_final={"00000001": "replaced", "00000001-R1": "delivered"},
        core_replacements={"00000001-R1": "00000001"},
        core_replaced_by={"00000001": "00000001-R1"},
        erp_replacements={"00000001": ["0000000002"]},
        system_final={
            "00000001": {
                **DELIVERED_HOME,
                "storefront": "replaced",
                "service_cloud": "replaced",
                "carrier": "failure",
            },
            "00000001-R1": {**DELIVERED_HOME, "storefront": "absent", "payment": "absent"},
        },
        cases=[
            {
                "case": "00001001",
                "closed": True,
                "order_no": "00000001",
                "remedy": "reship",
                "reference": "00000001-R1",
                "return_status": "",
            }
        ],
    )


def test_a_reshipped_lost_parcel_agrees_everywhere() -> None:
    result = reconciled_at_quiescence(replacements())
    assert result.checked == 3 and result.violations == 0, result.examples


def test_a_second_replacement_an_open_case_and_a_case_that_disagrees_with_the_core_are_caught() -> None:
    evidence = replacements()
    evidence.erp_replacements["00000001"].append("0000000003")
    evidence.cases[0].update(closed=False, reference="00000001-R2")
    examples = " | ".join(reconciled_at_quiescence(evidence).examples)
    assert "order 00000001: 2 free replacement deliveries in the ERP (0000000002, 0000000003)" in examples
    assert "case 00001001 (order 00000001): still open at quiescence" in examples
    assert "case 00001001: says reshipped as 00000001-R2, the core has 00000001-R1" in examples


def test_a_replacement_the_erp_never_got_and_a_case_showing_a_stale_return_status_are_caught() -> None:
    evidence = replacements()
    evidence.erp_replacements = {}
    evidence.core_returns = {"AGT00001002": "refunded"}
    evidence.return_systems = {
        "AGT00001002": {
            "erp_return": "present",
            "erp_credit_memo": "present",
            "payment": "refunded",
            "storefront": "refunded",
            "pos": "n/a",
            "exchange_order": "absent",
        }
    }
    evidence.cases.append(
        {
            "case": "00001002",
            "closed": True,
            "order_no": "00000001",
            "remedy": "refund",
            "reference": "AGT00001002",
            "return_status": "received",
        }
    )
    examples = " | ".join(reconciled_at_quiescence(evidence).examples)
    assert "order 00000001: replaced by 00000001-R1, the ERP has no replacement delivery" in examples
    assert "case 00001002: shows return AGT00001002 received, the core says refunded" in examples


def test_an_exchange_is_approved_once_and_made_good_once_and_never_also_refunded() -> None:
    evidence = Evidence(approved_returns=["AGT1"], exchanges_by_return={"AGT1": ["0000000009"]})
    assert refund_exactly_once(evidence).violations == 0
    evidence.refunds_by_return = {"AGT1": [1999]}
    result = refund_exactly_once(evidence)
    assert result.violations == 1
    assert (
        result.examples[0]
        == "return AGT1: approved, refunded 1 time(s) [1999] and exchanged 1 time(s) ['0000000009']"
    )


def test_units_written_off_balance_a_store_and_the_erp_must_issue_what_the_warehouse_shipped() -> None:
    evidence = Evidence(
        stock_ledgers={
            ("pos:S001", "SKU-1"): {
                "initial": 6,
                "on_hand": 1,
                "shipped": 3,
                "restocked": 0,
                "written_off": 2,
            },
            ("erp:DC1", "SKU-1"): {"initial": 10, "on_hand": 7, "shipped": 3, "restocked": 0},
        },
        restock_expected={("erp:DC1", "SKU-1"): 0},
        issued_vs_shipped={("erp:DC1", "SKU-1"): (3, 3)},
    )
    assert inventory_conserved(evidence).violations == 0
    evidence.issued_vs_shipped[("erp:DC1", "SKU-1")] = (3, 5)
    evidence.stock_ledgers[("pos:S001", "SKU-1")]["written_off"] = 0
    examples = " | ".join(inventory_conserved(evidence).examples)
    assert "erp:DC1 SKU SKU-1: the ERP issued 3 unit(s), the warehouse shipped 5" in examples
    assert "pos:S001 SKU SKU-1: on hand 1 + shipped 3 - restocked 0 = 4, started with 6" in examples
