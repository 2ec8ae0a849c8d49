"""``systems.erp.dialect = "sap_ecc"``: the legacy ECC that posts IDocs in batch windows, and the guards its
batch protocol needs, each caught when missing. That every shipped scenario holds with it, and flash-sale
exits 0, is tests/sim/test_erp_dialects.py's (parametrised over every dialect).

Runs are small (``workload.orders``); the full sizes are run by hand (figures in the merge note). The
guard-off proofs run "batch trouble": bad master data for an hour (whole windows rejected) and one ERP
reply in ten lost after the ECC took the IDoc, so resubmissions of every kind happen:

* a core that resends without looking the order up first (``no-erp-lookup``) posts orders twice —
  ``no_duplicate_erp_orders``;
* a core that takes "batch aborted" for done drops the good orders of every rejected window —
  ``no_lost_orders``.
"""

from __future__ import annotations

import pytest

from retailsim.core.adapters import registry, sap_ecc
from retailsim.core.service import deferred_replies
from retailsim.core.stores.base import OutboxMessage, Transaction
from retailsim.scenarios import load
from retailsim.scenarios.schema import Scenario
from retailsim.sim.broken_cores import CORES
from retailsim.sim.runner import Run, run_scenario
from retailsim.systems.sap_ecc import SapEcc

ECC = "systems.erp.dialect=sap_ecc"


def batch_trouble(orders: int = 400) -> Scenario:
    """bad-master-data on the ECC, plus one ERP reply in ten lost after it committed."""
    scenario = load("bad-master-data", [ECC, f"workload.orders={orders}"])
    lost = type(scenario.faults[0]).model_validate(
        {"kind": "lost_response", "target": "erp", "start": "0s", "duration": "4h", "probability": 0.1}
    )
    return scenario.model_copy(update={"faults": [*scenario.faults, lost]})


def verdicts(run: Run) -> dict[str, tuple[int, int]]:
    return {r.name: (r.checked, r.violations) for r in run.record.invariants}


def test_the_key_builds_the_ecc_and_every_sales_order_comes_from_an_idoc_posted_in_a_window() -> None:
    run = run_scenario(load("baseline", [ECC, "workload.orders=80"]), 1)
    erp = run.world.erp
    assert isinstance(erp, SapEcc) and run.world.core_config.erp_dialect == "sap_ecc"
    posted = {idoc["VBELN"]: idoc for idoc in erp.idocs.values() if idoc["STATUS"] == "53"}
    assert erp.sales_orders and sorted(posted) == sorted(erp.sales_orders)
    assert all(idoc["posted_at"] % erp.batch_window_s == 0 for idoc in posted.values())
    assert all(idoc["posted_at"] > idoc["received_at"] for idoc in posted.values())
    assert run.record.passed


def test_batch_trouble_holds_with_the_real_core() -> None:
    run = run_scenario(batch_trouble(), 1)
    erp = run.world.erp
    assert isinstance(erp, SapEcc)
    assert any(not batch["posted"] for batch in erp.batches)  # windows were rejected...
    assert len(erp.idocs) > len(erp.sales_orders)  # ...and their good orders resubmitted
    failed = {r.name: r.examples for r in run.record.invariants if r.violations}
    assert not failed, failed
    assert verdicts(run)["no_duplicate_erp_orders"][0] > 0


def test_resending_without_a_look_up_is_caught_by_no_duplicate_erp_orders() -> None:
    run = run_scenario(batch_trouble(), 1, core_factory=CORES["no-erp-lookup"], core_name="no-erp-lookup")
    checked, violations = verdicts(run)["no_duplicate_erp_orders"]
    assert checked > 0 and violations > 0, "resends without a look-up were not caught"


def _drop_instead_of_resend(
    self: deferred_replies.DeferredReplies, tx: Transaction, message: OutboxMessage, text: str, now: float
) -> None:
    """A broken core: "batch aborted" taken for done — the message completes, nothing is resent."""
    tx.complete(message.seq)


def test_dropping_an_aborted_batchs_good_orders_is_caught_by_no_lost_orders(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(deferred_replies.DeferredReplies, "_resend", _drop_instead_of_resend)
    run = run_scenario(batch_trouble(), 1)
    checked, violations = verdicts(run)["no_lost_orders"]
    assert checked > 0 and violations > 0, "the aborted batches' good orders were dropped unseen"


def test_the_ecc_adapter_is_registered_with_its_collector() -> None:
    dialect = registry.erp_dialect("sap_ecc")
    assert [spec.kind for spec in dialect.extra_commands] == [sap_ecc.COLLECT.kind]
    assert sap_ecc.COLLECT.kind in registry.build_registry("sap_ecc")
    assert sap_ecc.COLLECT.kind not in registry.build_registry("sap")


def test_late_acknowledgements_change_nothing_and_the_look_up_decides() -> None:
    """During the ERP outage the status files wait behind the open breaker: acknowledgements come after their
    deadline (stale, ignored), the messages are claimed again and the IDoc monitor answers instead."""
    run = run_scenario(load("erp-outage", [ECC, "workload.orders=300"]), 1)
    counters = run.world.core.counters
    assert counters.get("stale_acks", 0) > 0 and counters.get("erp_lookup_hits", 0) > 0
    results = verdicts(run)
    assert results["no_duplicate_erp_orders"][0] > 0 and results["no_duplicate_erp_orders"][1] == 0
    assert results["no_lost_orders"][1] == 0 and run.record.passed
