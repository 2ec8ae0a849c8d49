"""Oracle Fusion Order Management's own documents, really exercised: revisions for reroutes, RMAs and their
receipts, credit memos. What every dialect must hold (every shipped scenario, the key, the guard-off proof
of its idempotency) is in ``test_erp_dialects.py``.

Runs are small (``workload.orders``); the full sizes are run by hand (figures in the merge note).
"""

from __future__ import annotations

import sys

from retailsim.reports.record import RunRecord
from retailsim.scenarios import load
from retailsim.sim.runner import Run, run_scenario
from retailsim.systems.oracle_fusion import OracleFusion

CLI = [sys.executable, "-m", "retailsim.sim.cli"]
FUSION = "systems.erp.dialect=oracle_fusion"


def fusion_run(name: str, orders: int, seed: int = 1) -> Run:
    overrides = [FUSION, f"workload.orders={orders}"]
    return run_scenario(load(name, overrides), seed, overrides=overrides)


def held(record: RunRecord, name: str) -> None:
    failed = {r.name: r.examples for r in record.invariants if r.violations}
    assert not failed, f"{name}: {failed}; replay: {record.replay}"
    assert all(r.checked > 0 for r in record.invariants if r.required), name


def test_a_reroute_is_a_revision_of_the_same_fusion_order() -> None:
    run = fusion_run("bopis-reroute", 200)
    held(run.record, "bopis-reroute")
    erp = run.world.erp
    assert isinstance(erp, OracleFusion) and erp.revisions > 0
    revised = [o for o in erp.sales_orders.values() if o["SourceTransactionRevisionNumber"] > 1]
    assert revised and all(len(erp.orders_by_reference[o["SourceTransactionNumber"]]) == 1 for o in revised)


def test_returns_are_fusion_rmas_received_and_credited_in_receivables() -> None:
    run = fusion_run("omnichannel-returns", 200)
    held(run.record, "omnichannel-returns")
    erp = run.world.erp
    assert isinstance(erp, OracleFusion)
    statuses = {rma["StatusCode"] for rma in erp.return_authorisations.values()}
    assert erp.return_authorisations and "RECEIVED" in statuses and erp.restocked
    assert set(erp.credit_memos_by_reference) <= set(erp.returns_by_reference) and erp.credit_memos
