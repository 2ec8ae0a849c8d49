"""The scenario key ``systems.erp.dialect``: every shipped scenario holds with every ERP dialect the core has
an adapter for, the key picks the mock and the core's adapter together, a bad value is exit 2, and an
adapter that ignores its product's idempotency is caught.

Runs are small (``workload.orders``); the full sizes are run by hand (figures in the merge note). SAP is
the default every other sim test runs on, so the scenario matrix covers the other dialects.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from collections.abc import Callable
from typing import get_args

import pytest

from retailsim.core.adapters import dynamics, netsuite, oracle_fusion, registry
from retailsim.core.adapters.http import OutboundRequest
from retailsim.core.adapters.spec import Answer, CommandInput, CommandSpec, ErpDialect, OrderMeant
from retailsim.core.config import ErpDialectName
from retailsim.core.workflows.order_to_cash import OrderEvent
from retailsim.reports.record import RunRecord
from retailsim.scenarios import list_scenarios, load
from retailsim.sim.runner import run_scenario
from retailsim.systems import ERP_DIALECTS, erp_class

CLI = [sys.executable, "-m", "retailsim.sim.cli"]
DIALECTS = sorted(get_args(ErpDialectName))
NON_DEFAULT = [name for name in DIALECTS if name != "sap"]


def dialect_key(dialect: str) -> str:
    return f"systems.erp.dialect={dialect}"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=300, check=False)


def dialect_run(dialect: str, name: str, orders: int, seed: int = 1) -> RunRecord:
    overrides = [dialect_key(dialect), f"workload.orders={orders}"]
    return run_scenario(load(name, overrides), seed, overrides=overrides).record


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("dialect", NON_DEFAULT)
def test_flash_sale_exits_0_with_the_dialect(dialect: str, seed: int) -> None:
    done = cli(
        "run",
        "flash-sale",
        "--seed",
        str(seed),
        "--set",
        dialect_key(dialect),
        "--set",
        "workload.orders=300",
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]


@pytest.mark.parametrize("name", sorted(name for name, _ in list_scenarios()))
@pytest.mark.parametrize("dialect", NON_DEFAULT)
def test_every_shipped_scenario_holds_with_the_dialect(dialect: str, name: str) -> None:
    record = dialect_run(dialect, name, 200)
    failed = {r.name: r.examples for r in record.invariants if r.violations}
    assert not failed, f"{dialect} {name}: {failed}; replay: {record.replay}"
    assert all(r.checked > 0 for r in record.invariants if r.required), name


# What each product's ledger must show after a clean baseline: its own idempotency at work.
def _netsuite_upserted(order: dict[str, object]) -> bool:
    return order["externalId"] == order["otherRefNum"]  # PUT eid: — the external id is our number


def _d365_referenced(order: dict[str, object]) -> bool:
    return bool(order["CustomersOrderReference"]) and bool(order["lines"])  # looked up by it; lines added


PRODUCT_SHAPE: dict[str, Callable[[dict[str, object]], bool]] = {
    "sap": lambda order: bool(order["PurchaseOrderByCustomer"]),
    "netsuite": _netsuite_upserted,
    "d365": _d365_referenced,
    # imported under our number: the OrderKey is the source system and our number
    "oracle_fusion": lambda order: order["SourceTransactionId"] == order["SourceTransactionNumber"],
    # an ORDERS05 IDoc posted by the batch: our number (E1EDK01 BELNR) is the customer's PO number
    "sap_ecc": lambda order: bool(order["PurchaseOrderByCustomer"]),
}


@pytest.mark.parametrize("dialect", DIALECTS)
def test_the_key_builds_the_dialect_mock_and_its_adapter(dialect: str) -> None:
    run = run_scenario(load("baseline", [dialect_key(dialect), "workload.orders=60"]), 1)
    assert type(run.world.erp) is erp_class(dialect)
    assert run.world.core_config.erp_dialect == dialect
    orders = run.world.erp.sales_orders
    assert orders and all(PRODUCT_SHAPE[dialect](order) for order in orders.values())
    assert {run.world.erp.order_state(number) for number in orders} == {"completed"}  # every one shipped
    assert run.world.erp.issued and run.record.passed


def test_every_dialect_has_its_product_shape() -> None:
    assert sorted(PRODUCT_SHAPE) == DIALECTS


def test_a_bad_dialect_exits_2_naming_the_key_and_the_choices() -> None:
    done = cli("run", "flash-sale", "--set", "systems.erp.dialect=acumatica", "--set", "workload.orders=50")
    assert done.returncode == 2
    message = done.stdout + done.stderr
    assert "systems.erp.dialect" in message and all(f"'{name}'" in message for name in DIALECTS)


def test_every_dialect_a_scenario_may_name_has_an_adapter_and_a_mock() -> None:
    names = set(DIALECTS)
    assert names == set(registry.ERP_DIALECTS) and names <= set(ERP_DIALECTS)


def test_core_erp_dialect_cannot_disagree_with_the_mock() -> None:
    with pytest.raises(ValueError, match=r"systems\.erp\.dialect"):
        load("baseline", ["core.erp_dialect=netsuite"])


# ---- guard-off proofs: an adapter that ignores its product's idempotency ----------------------------------


def _post_without_external_id(command: CommandInput) -> OutboundRequest:
    """NetSuite: a plain POST, no external id, instead of the upsert ``PUT .../salesOrder/eid:``."""
    upsert = netsuite.COMMANDS[0].render(command)
    assert upsert is not None
    return OutboundRequest("POST", f"{netsuite.RECORD}/salesOrder", upsert.body)


def _fresh_source_transaction(command: CommandInput) -> OutboundRequest:
    """Oracle Fusion: a new ``SourceTransactionId`` every attempt, so the source-order key never repeats."""
    created = oracle_fusion.COMMANDS[0].render(command)
    assert created is not None
    body = {**created.body, "SourceTransactionId": f"{command.record.order_no}-{command.message.attempts}"}
    return OutboundRequest(created.method, created.path, body, dict(created.headers))


def _ignoring_idempotency(dialect: ErpDialect) -> ErpDialect:
    """The dialect's sales-order create without its idempotency: no look-up before a re-create (SAP,
    D365), a plain POST instead of the upsert (NetSuite), a fresh source transaction per attempt (Oracle
    Fusion). A dialect with none of these fails here until its own way of ignoring its product's
    idempotency is written down."""

    def broken(spec: CommandSpec) -> CommandSpec:
        if spec.kind != "PostSalesOrder":
            return spec
        if dialect is netsuite.DIALECT:
            return dataclasses.replace(spec, render=_post_without_external_id)
        if dialect is oracle_fusion.DIALECT:
            return dataclasses.replace(spec, render=_fresh_source_transaction)
        assert spec.lookup is not None, f"{dialect.name} creates without looking up already"
        return dataclasses.replace(spec, lookup=None)

    return dataclasses.replace(dialect, commands=tuple(broken(spec) for spec in dialect.commands))


@pytest.mark.parametrize("dialect", DIALECTS)
def test_an_adapter_that_ignores_its_product_idempotency_is_caught_under_lost_replies(
    dialect: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = {r.name: r for r in dialect_run(dialect, "lost-erp-replies", 500).invariants}
    assert real["no_duplicate_erp_orders"].checked > 0 and real["no_duplicate_erp_orders"].violations == 0
    monkeypatch.setitem(registry.ERP_DIALECTS, dialect, _ignoring_idempotency(registry.ERP_DIALECTS[dialect]))
    caught = {r.name: r for r in dialect_run(dialect, "lost-erp-replies", 500).invariants}
    assert caught["no_duplicate_erp_orders"].violations > 0, f"{dialect}: duplicates were not caught"


def _posted_at_the_header(dialect: ErpDialect) -> ErpDialect:
    """D365 with the sales order "posted" when its header is in rather than when its last line is: the
    order's next ERP commands may overtake its lines, and a line refused for good no longer holds it back."""

    def header_posted(answer: Answer) -> OrderMeant:
        number = (
            dynamics.found_numbers("SalesOrderNumber")(answer.reply)[:1] if answer.step == "lookup" else []
        )
        number = number or [str(answer.reply.body["SalesOrderNumber"])]
        return OrderMeant(
            OrderEvent.SALES_ORDER_POSTED, {"erp_sales_order": number[0], "posted_at": answer.now}
        )

    def broken(spec: CommandSpec) -> CommandSpec:
        if spec.kind == "PostSalesOrder":
            return dataclasses.replace(spec, means=header_posted)
        return dataclasses.replace(spec, means=None) if spec.kind == "PostSalesOrderLine" else spec

    return dataclasses.replace(dialect, commands=tuple(broken(spec) for spec in dialect.commands))


def test_d365_posting_an_order_before_its_lines_are_in_is_caught_under_bad_master_data(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = {r.name: r for r in dialect_run("d365", "bad-master-data", 200).invariants}["inventory_conserved"]
    assert real.checked > 0 and real.violations == 0
    monkeypatch.setitem(registry.ERP_DIALECTS, "d365", _posted_at_the_header(registry.ERP_DIALECTS["d365"]))
    caught = {r.name: r for r in dialect_run("d365", "bad-master-data", 200).invariants}[
        "inventory_conserved"
    ]
    assert caught.violations > 0, "an order posted before its lines was not caught by inventory_conserved"
