"""The scenario key ``systems.erp.dialect``: every shipped scenario holds with the NetSuite ERP, the key picks
the mock and the core's adapter together, a bad value is exit 2, and an adapter that ignores NetSuite's
idempotency is caught.

Runs are small (``workload.orders``); the full sizes are run by hand (figures in the merge note).
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from typing import get_args

import pytest

from retailsim.core.adapters import netsuite, registry
from retailsim.core.adapters.http import OutboundRequest
from retailsim.core.adapters.spec import CommandInput
from retailsim.core.config import ErpDialectName
from retailsim.reports.record import RunRecord
from retailsim.scenarios import list_scenarios, load
from retailsim.sim.runner import run_scenario
from retailsim.systems import ERP_DIALECTS
from retailsim.systems.netsuite import NetSuite

CLI = [sys.executable, "-m", "retailsim.sim.cli"]
NETSUITE = "systems.erp.dialect=netsuite"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=300, check=False)


def netsuite_run(name: str, orders: int, seed: int = 1) -> RunRecord:
    overrides = [NETSUITE, f"workload.orders={orders}"]
    return run_scenario(load(name, overrides), seed, overrides=overrides).record


@pytest.mark.parametrize("seed", [1, 2])
def test_flash_sale_with_netsuite_exits_0(seed: int) -> None:
    done = cli("run", "flash-sale", "--seed", str(seed), "--set", NETSUITE, "--set", "workload.orders=300")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]


@pytest.mark.parametrize("name", sorted(name for name, _ in list_scenarios()))
def test_every_shipped_scenario_holds_with_netsuite(name: str) -> None:
    record = netsuite_run(name, 200)
    failed = {r.name: r.examples for r in record.invariants if r.violations}
    assert not failed, f"{name}: {failed}; replay: {record.replay}"
    assert all(r.checked > 0 for r in record.invariants if r.required), name


def test_the_key_builds_the_netsuite_mock_and_the_netsuite_adapter() -> None:
    run = run_scenario(load("baseline", [NETSUITE, "workload.orders=60"]), 1)
    assert isinstance(run.world.erp, NetSuite)
    assert run.world.core_config.erp_dialect == "netsuite"
    orders = run.world.erp.sales_orders.values()
    assert orders and all(order["externalId"] == order["otherRefNum"] for order in orders)  # PUT eid:
    assert {order["status"] for order in orders} == {"Pending Billing"}  # every one fulfilled
    assert run.world.erp.issued and run.record.passed


def test_a_bad_dialect_exits_2_naming_the_key_and_the_choices() -> None:
    done = cli("run", "flash-sale", "--set", "systems.erp.dialect=acumatica", "--set", "workload.orders=50")
    assert done.returncode == 2
    message = done.stdout + done.stderr
    assert "systems.erp.dialect" in message and "'sap'" in message and "'netsuite'" in message


def test_every_dialect_a_scenario_may_name_has_an_adapter_and_a_mock() -> None:
    names = set(get_args(ErpDialectName))
    assert names == set(registry.ERP_DIALECTS) and names <= set(ERP_DIALECTS)


def test_core_erp_dialect_cannot_disagree_with_the_mock() -> None:
    with pytest.raises(ValueError, match=r"systems\.erp\.dialect"):
        load("baseline", ["core.erp_dialect=netsuite"])


def _post_without_external_id(command: CommandInput) -> OutboundRequest:
    """A NetSuite adapter that ignores the product's idempotency: a plain POST, no external id."""
    upsert = netsuite.COMMANDS[0].render(command)
    assert upsert is not None
    return OutboundRequest("POST", f"{netsuite.RECORD}/salesOrder", upsert.body)


def test_an_adapter_that_posts_instead_of_upserting_is_caught_under_lost_replies(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = {r.name: r for r in netsuite_run("lost-erp-replies", 500).invariants}["no_duplicate_erp_orders"]
    assert real.checked > 0 and real.violations == 0
    commands = tuple(
        dataclasses.replace(spec, render=_post_without_external_id) if spec.kind == "PostSalesOrder" else spec
        for spec in netsuite.COMMANDS
    )
    broken = dataclasses.replace(netsuite.DIALECT, commands=commands)
    monkeypatch.setitem(registry.ERP_DIALECTS, "netsuite", broken)
    caught = {r.name: r for r in netsuite_run("lost-erp-replies", 500).invariants}["no_duplicate_erp_orders"]
    assert caught.violations > 0, "POST instead of PUT eid: was not caught by no_duplicate_erp_orders"
