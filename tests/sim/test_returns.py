"""Omnichannel returns end to end: the scenario holds every invariant for several seeds with duplicate
POS events and lost payment replies switched on, and each returns guard switched off is caught.

Reduced size (``workload.orders``) to keep the suite fast.
"""

from __future__ import annotations

from functools import cache

import pytest

from retailsim.scenarios import load
from retailsim.sim.broken_cores import CORES
from retailsim.sim.runner import run_scenario

ORDERS = 300
# The digest of omnichannel-returns with workload.orders=300 and seed 1; update deliberately, saying why
# (see tests/sim/test_flash_sale.py).
# Was 406964985f174452 until goods returned to the DC became available to promise only after the ERP's
# goods receipt (issue 11: the ERP was asked to deliver units it had not booked back yet).
# Was 2b1adbab409e64e6 until a call's link latency and service time became one SimPy wait (issue 15).
# Was cfb769b98787a645 until the storefront's status and inventory pushes went in OCAPI batches.
GOLDEN_DIGEST = "b966851cd7bd9e26"


@cache
def run(
    seed: int, core: str = "real", orders: int = ORDERS
) -> tuple[dict[str, tuple[int, int]], dict[str, int], str]:
    scenario = load("omnichannel-returns", [f"workload.orders={orders}"])
    assert {(f.kind, f.target) for f in scenario.faults} >= {
        ("duplicate_delivery", "pos"),
        ("lost_response", "payment"),
    }
    record = run_scenario(scenario, seed, core_factory=CORES[core], core_name=core).record
    judged = {r.name: (r.checked, r.violations) for r in record.invariants if r.required or r.checked}
    return judged, dict(record.returns), record.digest


@pytest.mark.parametrize("seed", [1, 2])
def test_omnichannel_returns_hold_every_invariant(seed: int) -> None:
    results, returns, _ = run(seed)
    broken = {k: v for k, v in results.items() if v[1]}
    unchecked = [k for k, v in results.items() if v[0] == 0]
    assert not broken, f"seed {seed}: {broken} (replay: retailsim run omnichannel-returns --seed {seed})"
    assert not unchecked, f"seed {seed}: nothing checked for {unchecked}"
    assert {"refund_exactly_once", "inventory_conserved"} <= set(results)
    assert returns["requested"] > 0 and returns["in_store"] > 0
    assert 0 < returns["refunded"] <= returns["received"] <= returns["requested"]


@pytest.mark.parametrize(
    ("core", "invariant"),
    [("no-refund-key", "refund_exactly_once"), ("no-restock", "inventory_conserved")],
)
def test_returns_guard_off_is_caught_by_its_invariant(core: str, invariant: str) -> None:
    results, _, _ = run(1, core=core, orders=400)
    checked, violations = results[invariant]
    assert checked > 0
    assert violations > 0, f"{core} was not caught by {invariant}"


def test_golden_digest() -> None:
    digest = run(1)[2]
    assert digest == GOLDEN_DIGEST, (
        f"omnichannel-returns workload.orders={ORDERS} seed 1 now digests to {digest}; if the behaviour "
        "change is intended, update GOLDEN_DIGEST deliberately"
    )
