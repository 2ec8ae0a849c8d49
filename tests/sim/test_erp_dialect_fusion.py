"""The scenario key ``systems.erp.dialect=oracle_fusion``: every shipped scenario holds with Oracle Fusion Order
Management, the key picks the Fusion mock and the core's Fusion adapter together, the ERP's own documents
(revisions for reroutes, RMAs and their receipts, credit memos) are really exercised, and an adapter that
ignores Fusion's idempotency (a fresh source transaction per attempt) is caught.

Runs are small (``workload.orders``); the full sizes are run by hand (figures in the merge note).
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

from retailsim.core.adapters import oracle_fusion, registry
from retailsim.core.adapters.http import OutboundRequest
from retailsim.core.adapters.spec import CommandInput
from retailsim.reports.record import RunRecord
from retailsim.scenarios import list_scenarios, load
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


def test_flash_sale_with_oracle_fusion_exits_0() -> None:
    done = subprocess.run(
        [*CLI, "run", "flash-sale", "--seed", "1", "--set", FUSION, "--set", "workload.orders=300"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]


@pytest.mark.parametrize("name", sorted(name for name, _ in list_scenarios()))
def test_every_shipped_scenario_holds_with_oracle_fusion(name: str) -> None:
    held(fusion_run(name, 200).record, name)


def test_the_key_builds_the_fusion_mock_and_the_fusion_adapter() -> None:
    run = fusion_run("baseline", 60)
    erp = run.world.erp
    assert isinstance(erp, OracleFusion) and run.world.core_config.erp_dialect == "oracle_fusion"
    orders = erp.sales_orders
    assert orders and all(key == f"RETAILSIM:{order['SourceTransactionId']}" for key, order in orders.items())
    assert {order["StatusCode"] for order in orders.values()} == {"CLOSED"}  # every one ship-confirmed
    assert erp.issued and run.record.passed


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


def _fresh_source_transaction(command: CommandInput) -> OutboundRequest:
    """A Fusion adapter that ignores the product's idempotency: a new SourceTransactionId every attempt."""
    created = oracle_fusion.COMMANDS[0].render(command)
    assert created is not None
    body = {**created.body, "SourceTransactionId": f"{command.record.order_no}-{command.message.attempts}"}
    return OutboundRequest(created.method, created.path, body, dict(created.headers))


def test_an_adapter_with_a_fresh_source_transaction_per_attempt_is_caught_under_lost_replies(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = fusion_run("lost-erp-replies", 500).record
    guarded = {r.name: r for r in real.invariants}["no_duplicate_erp_orders"]
    assert guarded.checked > 0 and guarded.violations == 0
    commands = tuple(
        dataclasses.replace(spec, render=_fresh_source_transaction) if spec.kind == "PostSalesOrder" else spec
        for spec in oracle_fusion.COMMANDS
    )
    broken = dataclasses.replace(oracle_fusion.DIALECT, commands=commands)
    monkeypatch.setitem(registry.ERP_DIALECTS, "oracle_fusion", broken)
    caught = {r.name: r for r in fusion_run("lost-erp-replies", 500).record.invariants}
    assert caught["no_duplicate_erp_orders"].violations > 0, "a fresh SourceTransactionId was not caught"
