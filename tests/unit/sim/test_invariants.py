"""The harness's named invariants, judged on hand-written evidence.

What it is for: every invariant in ``retailsim.sim.invariants.CATALOGUE`` must (1) pass a healthy
history having checked something, (2) fail a deliberately broken history with an example that names the
order, SKU or dead letter at fault, and (3) report "not exercised" — never a pass — when there was nothing
to check (DESIGN.md, "Invariants"). The functions are pure, so no simulation runs here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from retailsim.sim.accounting import Attempt, Repair, SentEvent
from retailsim.sim.invariants import CATALOGUE, Evidence, judge
from retailsim.sim.retry_budget import FailedSends

DELIVERED, CANCELLED = "00000001", "00000002"
SKU = "SKU-00001"
FULL_LIFE = [
    "received",
    "stock_reserved",
    "payment_authorized",
    "posted_to_erp",
    "allocated",
    "shipped",
    "in_transit",
    "delivered",
]


def healthy() -> Evidence:
    """Two orders — one delivered, one cancelled — on which every system agrees."""
    return Evidence(
        accepted_orders=[DELIVERED, CANCELLED],
        erp_orders_by_reference={DELIVERED: ["4500000001"], CANCELLED: ["4500000002"]},
        status_histories={
            "storefront": {
                DELIVERED: list(FULL_LIFE),
                CANCELLED: ["received", "stock_reserved", "cancelled"],
            },
            "service_cloud": {DELIVERED: list(FULL_LIFE), CANCELLED: ["received", "cancelled"]},
        },
        committed_units={SKU: 10, "SKU-00002": 3},
        supply_units={SKU: 10, "SKU-00002": 800},
        erp_overcommitments=0,
        core_final={DELIVERED: "delivered", CANCELLED: "cancelled"},
        system_final={
            DELIVERED: {
                "storefront": "delivered",
                "service_cloud": "delivered",
                "erp": "completed",
                "wms": "shipped",
                "carrier": "delivered",
                "payment": "captured",
            },
            CANCELLED: {
                "storefront": "cancelled",
                "service_cloud": "cancelled",
                "erp": "cancelled",
                "wms": "absent",
                "carrier": "absent",
                "payment": "canceled",
            },
        },
        deliveries=12,
        missing_correlation=[],
        ledger_references=[("erp", DELIVERED), ("erp", CANCELLED), ("wms", DELIVERED)],
        known_references={DELIVERED, CANCELLED},
        drain_reference_s=4800.0,
        drained_at_s=6000.0,
        max_drain_s=3600.0,
        dead_letters=[
            {
                "dlq_id": "dlq-1",
                "seq": 41,
                "reason": "400 INVALID_FIELD: unknown material",
                "attempts": 3,
                "correlation_id": DELIVERED,
                "status": "replayed",
            }
        ],
        retry_budget=12,
        failed_sends=[FailedSends(41, "erp", "PostSalesOrder", DELIVERED, failures=12)],
        approved_returns=["RMA0000001"],
        refunds_by_return={"RMA0000001": [1999]},
        captured_by_intent={"pi_1": 5000},
        refunded_by_intent={"pi_1": 1999},
        stock_ledgers={("pos:S001", SKU): {"initial": 5, "on_hand": 6, "shipped": 0, "restocked": 1}},
        restock_expected={("pos:S001", SKU): 1},
        # The WMS's shipped event delivered twice (the copy a duplicate); a carrier event dropped by a
        # fault, whose order reconciliation repaired.
        events=[
            SentEvent(
                "wms",
                "1",
                "order.shipped",
                DELIVERED,
                100.0,
                2,
                [
                    Attempt(101.0, 1, 200, True, "processed", True),
                    Attempt(160.0, 0, 200, True, "duplicate", True),
                ],
            ),
            SentEvent("carrier", "evt_1", "tracker.updated", DELIVERED, 900.0, 0),
        ],
        repairs=[Repair(3000.0, "carrier", DELIVERED)],
        repairs_counted=1,
        stall_watched=True,
        recoveries=[
            {
                "destination": "erp",
                "start_s": 3900.0,
                "end_s": 5700.0,
                "pre_fault_lag_s": 2.0,
                "lag_at_end_s": 1800.0,
                "at_end": 540.0,
                "rate_per_s": 2.7,
                "bound_s": 990.0,
                "recovered_after_s": 420.0,
            }
        ],
        core_atp={(SKU, "DC1"): 0, ("SKU-00002", "DC1"): 797},
        true_atp={(SKU, "DC1"): 0, ("SKU-00002", "DC1"): 797},
        ledger_final={DELIVERED: "delivered", CANCELLED: "cancelled"},
        # An ERP migration: the delivered order moved to the cloud ERP (its legacy document closed), the
        # cancelled one stayed in the legacy ERP; the return of the delivered one credited in the cloud.
        erp_of_record={DELIVERED: "erp_cloud", CANCELLED: "erp"},
        erp_documents={DELIVERED: {"erp": ["cancelled"], "erp_cloud": ["completed"]}, CANCELLED: {"erp": ["cancelled"]}},
        erp_posted={DELIVERED, CANCELLED},
        return_erps={"RMA0000001": ("erp_cloud", ["erp_cloud"])},
    )


EPISODE = {
    "kind": "outage",
    "target": "erp",
    "start_s": 3900.0,
    "end_s": 5700.0,
    "drained_at_s": 6600.0,
    "drain_time_s": 900.0,
    "outlasted_run": False,
}


# ---- the broken histories ------------------------------------------------------------------------


def lost_order(ev: Evidence) -> None:
    ev.accepted_orders.append("00000003")  # accepted by the storefront, never reached the ERP


def duplicate_erp_orders(ev: Evidence) -> None:
    ev.erp_orders_by_reference[DELIVERED] = ["4500000001", "4500000009"]


def shipped_after_delivered(ev: Evidence) -> None:
    ev.status_histories["storefront"][DELIVERED] = [*FULL_LIFE, "shipped"]


def committed_above_supply(ev: Evidence) -> None:
    ev.committed_units[SKU] = 11


def erp_overcommitted(ev: Evidence) -> None:
    ev.erp_overcommitments = 2


def erp_still_open(ev: Evidence) -> None:
    ev.system_final[DELIVERED]["erp"] = "open"


def moved_twice_into_the_cloud(ev: Evidence) -> None:
    ev.erp_documents[DELIVERED]["erp_cloud"] = ["completed", "open"]


def live_in_both_erps(ev: Evidence) -> None:
    ev.erp_documents[DELIVERED]["erp"] = ["open"]


def in_neither_erp(ev: Evidence) -> None:
    del ev.erp_documents[DELIVERED]["erp_cloud"]
    ev.erp_documents[DELIVERED]["erp"] = ["cancelled"]


def return_credited_in_the_wrong_erp(ev: Evidence) -> None:
    ev.return_erps["RMA0000001"] = ("erp_cloud", ["erp"])


def order_not_terminal(ev: Evidence) -> None:
    ev.core_final["00000003"] = "posted_to_erp"
    ev.system_final["00000003"] = {"storefront": "posted_to_erp"}


def missing_correlation_id(ev: Evidence) -> None:
    ev.missing_correlation.append(f"PostSalesOrder for {DELIVERED}")


def reference_to_unknown_order(ev: Evidence) -> None:
    ev.ledger_references.append(("wms", "99999999"))


def drained_too_late(ev: Evidence) -> None:
    ev.drained_at_s = 4800.0 + 3600.0 + 60.0


def never_drained(ev: Evidence) -> None:
    ev.drained_at_s = None


def dead_letter_without_reason(ev: Evidence) -> None:
    ev.dead_letters.append(
        {"dlq_id": "dlq-7", "reason": "", "attempts": 12, "correlation_id": CANCELLED, "status": "dead"}
    )


def dead_letter_neither_replayed_nor_flagged(ev: Evidence) -> None:
    ev.dead_letters[0]["status"] = "pending"


def retried_past_the_budget(ev: Evidence) -> None:
    # Failed 13 times while the ERP answered other orders, and is still being retried.
    ev.failed_sends.append(FailedSends(57, "erp", "PostGoodsIssue", CANCELLED, failures=13))


def dead_lettered_only_after_the_budget(ev: Evidence) -> None:
    ev.failed_sends[0].failures = 13  # message 41 was dead-lettered, but one attempt too late


def refunded_twice(ev: Evidence) -> None:
    ev.refunds_by_return["RMA0000001"] = [1999, 1999]


def episode_drained_too_late(ev: Evidence) -> None:
    # The first episode drained in time; the second, measured from its own end, did not (the old
    # "after the last episode" reading would have timed only one of them).
    late = dict(EPISODE, start_s=9000.0, end_s=9600.0, drained_at_s=9600.0 + 3660.0, drain_time_s=3660.0)
    ev.episode_drains = [dict(EPISODE), late]


def episode_outlasted_the_run(ev: Evidence) -> None:
    ev.episode_drains = [dict(EPISODE, drained_at_s=None, drain_time_s=None, outlasted_run=True)]


def backlog_back_too_late(ev: Evidence) -> None:
    ev.recoveries[0]["recovered_after_s"] = 9000.0  # ERP backlog stayed up 2.5 h after the outage ended


def backlog_never_back(ev: Evidence) -> None:
    ev.recoveries[0]["recovered_after_s"] = None


def stalled_run(ev: Evidence) -> None:
    ev.stall = {
        "at_s": 34680.0,
        "no_progress_since_s": 32880.0,
        "stuck": [
            {
                "destination": "erp",
                "backlog": 278,
                "due_since_s": 3903.4,
                "breaker": "open",
                "breaker_opened_at_s": 3903.3,
                "bucket": "2.70 of 2.7 token(s) at 2.7/s",
            }
        ],
    }


def core_promises_stock_the_dc_does_not_have(ev: Evidence) -> None:
    ev.core_atp[(SKU, "DC1")] = 3


def core_status_not_what_the_ledgers_say(ev: Evidence) -> None:
    ev.ledger_final[DELIVERED] = "delivery_failed"  # the carrier gave up; the core says delivered


def restocked_twice(ev: Evidence) -> None:
    ev.stock_ledgers[("pos:S001", SKU)] = {"initial": 5, "on_hand": 7, "shipped": 0, "restocked": 2}


def adjustment_posted_twice(ev: Evidence) -> None:
    # The warehouse counted 2 units short once; the ERP booked the goods movement twice.
    ev.adjusted_vs_moved[("wms:DC1", SKU)] = (-2, -4)


def first_delivery_refused_as_duplicate(ev: Evidence) -> None:
    ev.events.append(
        SentEvent(
            "pos",
            "1",
            "pickup.ready",
            CANCELLED,
            50.0,
            1,
            [Attempt(51.0, 0, 200, True, "duplicate", True)],
        )
    )


@dataclass(frozen=True)
class Breakage:
    invariant: str
    breaks: Callable[[Evidence], None]
    example_names: tuple[str, ...]  # words the first example must contain: the culprit and the fault

    @property
    def id(self) -> str:
        return self.breaks.__name__


BREAKAGES = [
    Breakage("no_lost_orders", lost_order, ("00000003", "no sales order")),
    Breakage("no_duplicate_erp_orders", duplicate_erp_orders, (DELIVERED, "4500000001", "4500000009")),
    Breakage(
        "per_order_ordering",
        shipped_after_delivered,
        (DELIVERED, "storefront", "'shipped' after 'delivered'"),
    ),
    Breakage("no_oversell", committed_above_supply, (SKU, "11", "10")),
    Breakage("no_oversell", erp_overcommitted, ("ERP", "2 time")),
    Breakage("reconciled_at_quiescence", erp_still_open, (DELIVERED, "erp says open")),
    Breakage("reconciled_at_quiescence", order_not_terminal, ("00000003", "still 'posted_to_erp'")),
    Breakage("correlation_complete", missing_correlation_id, (DELIVERED, "correlation id")),
    Breakage("correlation_complete", reference_to_unknown_order, ("wms", "99999999", "unknown order")),
    Breakage("backlog_drained", drained_too_late, ("drained 3660s", "allowed 3600s")),
    Breakage("backlog_drained", never_drained, ("never drained",)),
    Breakage("dlq_accounted", dead_letter_without_reason, ("dlq-7", "missing reason")),
    Breakage(
        "dlq_accounted", dead_letter_neither_replayed_nor_flagged, ("dlq-1", "neither replayed nor flagged")
    ),
    Breakage(
        "dlq_accounted", retried_past_the_budget, ("message 57", "failed 13 times", "never dead-lettered")
    ),
    Breakage("dlq_accounted", dead_lettered_only_after_the_budget, ("message 41", "dead-lettered only then")),
    Breakage("refund_exactly_once", refunded_twice, ("RMA0000001", "refunded 2 time")),
    Breakage("inventory_conserved", restocked_twice, ("pos:S001", SKU, "restocked 2")),
    Breakage("inventory_conserved", adjustment_posted_twice, ("wms:DC1", SKU, "adjusted -2", "moved -4")),
    Breakage(
        "events_accounted",
        first_delivery_refused_as_duplicate,
        ("pos event 1", CANCELLED, "first delivery was refused as a duplicate"),
    ),
    Breakage("backlog_drained", episode_drained_too_late, ("9000s–9600s", "drained 3660s", "allowed 3600s")),
    Breakage("backlog_drained", episode_outlasted_the_run, ("outlasted the run",)),
    Breakage(
        "recovered_promptly", backlog_back_too_late, ("erp", "backlog 540", "only after 9000s", "bound 990s")
    ),
    Breakage("recovered_promptly", backlog_never_back, ("erp", "never")),
    Breakage(
        "recovered_promptly", stalled_run, ("stalled: erp", "backlog 278", "breaker open", "bucket 2.70")
    ),
    Breakage(
        "core_view_true", core_promises_stock_the_dc_does_not_have, (SKU, "DC1", "promises 3", "hold 0")
    ),
    Breakage("one_erp_of_record", moved_twice_into_the_cloud, (DELIVERED, "2 live sales orders in erp_cloud")),
    Breakage("one_erp_of_record", live_in_both_erps, (DELIVERED, "a live sales order in erp too")),
    Breakage("one_erp_of_record", in_neither_erp, (DELIVERED, "in neither ERP")),
    Breakage(
        "return_credited_in_erp_of_record",
        return_credited_in_the_wrong_erp,
        ("RMA0000001", "ERP of record is erp_cloud", "documents are in erp"),
    ),
    Breakage(
        "core_view_true",
        core_status_not_what_the_ledgers_say,
        (DELIVERED, "core says delivered", "delivery_failed"),
    ),
]


def test_every_invariant_in_the_catalogue_has_a_broken_history() -> None:
    assert {b.invariant for b in BREAKAGES} == set(CATALOGUE)


@pytest.mark.parametrize("name", sorted(CATALOGUE))
def test_a_healthy_history_passes_having_checked_something(name: str) -> None:
    result = CATALOGUE[name](healthy())
    assert result.name == name
    assert result.checked > 0
    assert result.violations == 0, result.examples
    assert result.passed
    assert result.status == "held"
    assert result.examples == ()


@pytest.mark.parametrize("breakage", BREAKAGES, ids=lambda b: b.id)
def test_a_broken_history_fails_with_an_example_naming_the_culprit(breakage: Breakage) -> None:
    evidence = healthy()
    breakage.breaks(evidence)
    result = CATALOGUE[breakage.invariant](evidence)
    assert result.violations > 0
    assert not result.passed
    assert result.status == "violated"
    assert result.examples, "a failure must come with an example"
    for word in breakage.example_names:
        assert word in result.examples[0], result.examples


@pytest.mark.parametrize("breakage", BREAKAGES, ids=lambda b: b.id)
def test_a_broken_history_breaks_only_its_own_invariant(breakage: Breakage) -> None:
    evidence = healthy()
    breakage.breaks(evidence)
    failed = {r.name for r in judge(evidence, sorted(CATALOGUE)) if r.violations}
    assert failed == {breakage.invariant}


@pytest.mark.parametrize("name", sorted(CATALOGUE))
def test_empty_evidence_is_not_checked_and_never_a_pass(name: str) -> None:
    result = CATALOGUE[name](Evidence())
    assert result.checked == 0
    assert result.violations == 0
    assert result.passed is False
    assert result.status == "not_exercised"


def test_examples_are_capped_but_every_violation_is_counted() -> None:
    evidence = healthy()
    evidence.accepted_orders += [f"{n:08d}" for n in range(100, 120)]
    result = CATALOGUE["no_lost_orders"](evidence)
    assert result.violations == 20
    assert result.checked == 22
    assert 0 < len(result.examples) < 20


def test_repeating_the_same_status_is_not_a_regression() -> None:
    # Webhooks are at least once: the same status applied twice is idempotent, not out of order.
    evidence = healthy()
    evidence.status_histories["storefront"][DELIVERED] = [*FULL_LIFE[:-1], "in_transit", "delivered"]
    assert CATALOGUE["per_order_ordering"](evidence).passed


def test_draining_exactly_at_the_limit_passes() -> None:
    evidence = healthy()
    evidence.drained_at_s = evidence.drain_reference_s + evidence.max_drain_s  # type: ignore[operator]
    assert CATALOGUE["backlog_drained"](evidence).passed


def test_an_overcommitment_alone_fails_even_with_no_committed_skus() -> None:
    evidence = Evidence(erp_overcommitments=1)
    result = CATALOGUE["no_oversell"](evidence)
    assert result.status == "violated"


def test_judge_returns_results_in_the_requested_order() -> None:
    names = ["dlq_accounted", "no_lost_orders", "backlog_drained"]
    assert [r.name for r in judge(healthy(), names)] == names


def test_every_episode_is_judged_from_its_own_end() -> None:
    evidence = healthy()
    evidence.episode_drains = [dict(EPISODE), dict(EPISODE, start_s=9000.0, end_s=9600.0, drain_time_s=60.0)]
    result = CATALOGUE["backlog_drained"](evidence)
    assert result.checked == 2 and result.status == "held"


def test_judge_all_marks_what_the_scenario_requires_and_judges_the_rest() -> None:
    from retailsim.sim.invariants import judge_all

    evidence = healthy()
    evidence.dead_letters = []
    evidence.failed_sends = []
    results = {r.name: r for r in judge_all(evidence, ["no_lost_orders"])}
    assert set(results) == set(CATALOGUE)
    assert results["no_lost_orders"].required and not results["dlq_accounted"].required
    assert results["dlq_accounted"].status == "not_exercised" and not results["dlq_accounted"].fails_run


def test_a_run_cut_off_before_quiescence_is_not_reconciled() -> None:
    evidence = healthy()
    evidence.not_quiescent = (
        "stopped at 40.0 d by the hard stop (expect.hard_stop) with 0 order(s), 2 return(s) open"
    )
    result = CATALOGUE["reconciled_at_quiescence"](evidence)
    assert result.status == "violated" and "never reached quiescence" in result.examples[0]
