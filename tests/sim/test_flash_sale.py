"""The flash-sale scenario end to end, at reduced size: invariants, determinism and the oversell story.

What it is for: DESIGN.md, "Testing rules" — scenario tests assert on invariants and on the trace digest
of a fixed seed (golden digests, updated deliberately, never silently). Runs use ``workload.orders``
overrides so that each takes one to three seconds; results are cached per configuration so that a run
several tests read is simulated once.
"""

from __future__ import annotations

import os
import subprocess
import sys
from functools import cache

import pytest

from retailsim.reports.record import RunRecord
from retailsim.scenarios import load
from retailsim.sim.runner import run_scenario

SMALL = ("workload.orders=600",)

# The digest of flash-sale with workload.orders=300 and seed 1. It changes whenever the simulated
# behaviour changes (a mock's timing, the core's retries, the workload's draws, the trace's format).
# When such a change is intended, rerun this configuration, check the new behaviour in its report, and
# update the constant in the same commit, saying why; never update it just to make the test pass.
GOLDEN_OVERRIDES = ("workload.orders=300",)
GOLDEN_SEED = 1
# Was 50cd471a73f97859 until a call's link latency and service time became one SimPy wait (issue 15:
# the service latency is drawn when the request is sent, so the streams' draws interleave differently).
# Was 4a3780a9417f83cd until the storefront's status and inventory pushes went in OCAPI batches (window
# ticks, fewer calls on the links stream).
GOLDEN_DIGEST = "f57c1487144e3b5c"


@cache
def run(overrides: tuple[str, ...], seed: int) -> RunRecord:
    return run_scenario(load("flash-sale", list(overrides)), seed, overrides=list(overrides)).record


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_flash_sale_holds_every_invariant(seed: int) -> None:
    record = run(SMALL, seed)
    replay = f"replay: {record.replay}"
    required = {r.name for r in record.invariants if r.required}
    assert required == set(load("flash-sale").expect.invariants)
    for result in record.invariants:
        assert result.violations == 0, f"{result.name}: {result.examples}; {replay}"
        if result.required:
            assert result.checked > 0, f"{result.name} checked nothing; {replay}"
            assert result.passed


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_accepted_order_is_posted_to_the_erp(seed: int) -> None:
    orders = run(SMALL, seed).orders
    assert orders["accepted"] > 0
    assert orders["accepted"] == orders["posted_to_erp"]
    assert orders["accepted"] <= orders["submitted"] <= 600


def test_the_same_seed_gives_the_same_digest() -> None:
    first = run(SMALL, 1)
    again = run_scenario(load("flash-sale", list(SMALL)), 1).record
    assert again.digest == first.digest
    assert again.events == first.events
    assert again.orders == first.orders


def test_another_seed_gives_another_digest() -> None:
    digests = {run(SMALL, seed).digest for seed in (1, 2, 3)}
    assert len(digests) == 3


def test_the_orders_override_changes_how_many_are_submitted() -> None:
    small, smaller = run(SMALL, 1), run(GOLDEN_OVERRIDES, 1)
    assert smaller.orders["submitted"] <= 300 < small.orders["submitted"] <= 600
    assert small.digest != smaller.digest


# A tight promotion: few hero units, a marketplace selling the same stock, and enough orders to sell out.
TIGHT = ("workload.orders=800", "workload.hero_stock=30", "workload.marketplace_share=0.3")


def test_a_batch_inventory_feed_oversells_while_realtime_sync_does_not() -> None:
    batch = run((*TIGHT, "systems.storefront.inventory_sync=batch"), 1)
    realtime = run((*TIGHT, "systems.storefront.inventory_sync=realtime"), 1)
    oversold = batch.kpis["oversell_units"]
    assert oversold is not None and oversold > 0, "a 30-minute feed lets the storefront sell sold-out units"
    assert batch.orders["backordered"] > 0
    assert realtime.kpis["oversell_units"] == 0
    assert realtime.orders["backordered"] == 0
    # Overselling is a business cost, not an integration bug: the core backorders, and every invariant holds.
    for record in (batch, realtime):
        assert record.passed, [(r.name, r.examples) for r in record.invariants if r.fails_run]


def test_golden_digest() -> None:
    record = run(GOLDEN_OVERRIDES, GOLDEN_SEED)
    assert record.digest == GOLDEN_DIGEST, (
        f"flash-sale {GOLDEN_OVERRIDES} seed {GOLDEN_SEED} now digests to {record.digest}; if the behaviour "
        "change is intended, update GOLDEN_DIGEST deliberately (see the comment above it)"
    )


def test_the_digest_does_not_depend_on_the_hash_seed() -> None:
    # String hashing is randomised per process; a decision taken by iterating a set of strings would show
    # here as a digest that differs from the golden one.
    code = (
        "from retailsim.scenarios import load\n"
        "from retailsim.sim.runner import run_scenario\n"
        f"print(run_scenario(load('flash-sale', {list(GOLDEN_OVERRIDES)!r}), {GOLDEN_SEED}).record.digest)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONHASHSEED": "12345"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == GOLDEN_DIGEST
