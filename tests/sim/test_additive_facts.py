"""Additive facts end to end: ``warehouse-and-store-feeds`` — warehouse inventory adjustments as deltas,
orders shipped in several parcels, store pickups, returns checked in unit by unit — with both systems numbering their events by bare
sequence numbers (their ids collide), duplicated, reordered and dropped deliveries. The real core holds
every invariant; a core that dedupes by event id alone, or checks its inbox after the effect, is caught by
its named invariant (not by a timeout or a digest).

Reduced size (``workload.orders``) to keep the suite fast; results are cached per configuration.
"""

from __future__ import annotations

from functools import cache

import pytest

from retailsim.scenarios import load
from retailsim.sim.broken_cores import CORES
from retailsim.sim.runner import Run, run_scenario

NAME = "warehouse-and-store-feeds"
ORDERS = 300


@cache
def run(seed: int, core: str = "real") -> Run:
    return run_scenario(load(NAME, [f"workload.orders={ORDERS}"]), seed, core_factory=CORES[core], core_name=core)


def results(result: Run) -> dict[str, tuple[int, int]]:
    return {r.name: (r.checked, r.violations) for r in result.record.invariants}


@pytest.mark.parametrize("seed", [1, 2])
def test_the_real_core_holds_every_invariant(seed: int) -> None:
    record = run(seed).record
    broken = {r.name: r.examples for r in record.invariants if r.violations}
    unchecked = [r.name for r in record.invariants if r.required and r.checked == 0]
    assert not broken, f"seed {seed}: {broken} (replay: {record.replay})"
    assert not unchecked, f"seed {seed}: nothing checked for {unchecked}"


def test_the_feeds_are_what_the_scenario_promises() -> None:
    result = run(1)
    world, record = result.world, result.record
    events = world.event_ledger.events
    wms_ids = {event_id for source, event_id in events if source == "wms"}
    pos_ids = {event_id for source, event_id in events if source == "pos"}
    assert len(wms_ids & pos_ids) > 50  # bare sequence numbers: the two systems' ids collide
    assert world.wms.adjusted and world.erp.moved  # deltas sent, goods movements posted
    assert world.fault_schedule.dropped > 0 and world.fault_schedule.duplicated > 0
    split = [r for _, r in world.store.aggregates("order") if len(r.get("parcels") or {}) > 1]
    assert len(split) > 20 and all(r["status"] == "delivered" for r in split)
    # The ERP posts one goods issue per order, when its last parcel has left.
    issued = [g["DeliveryDocument"] for g in world.erp.goods_issues]
    assert len(issued) == len(set(issued))
    # Returns checked in at the counter unit by unit, each resellable unit restocked once.
    assert world.pos.receipts and all(r["quantity"] == 1 for r in world.pos.receipts)
    assert sum(world.pos.restocked.values()) == sum(
        1 for r in world.pos.receipts if r["condition"] == "resellable"
    )
    table = {row["source"]: row for row in record.extra["events_accounted"]}
    assert table["wms"]["dropped"] > 0 and table["wms"]["duplicates"] > 0 and table["pos"]["duplicates"] > 0
    assert record.kpis["reconciliation_repairs"] > 0  # the dropped ones, recovered


@pytest.mark.parametrize(
    ("core", "invariant"),
    [("dedupe-without-source", "events_accounted"), ("inbox-after-effect", "inventory_conserved")],
)
def test_a_guard_switched_off_is_caught_by_its_invariant(core: str, invariant: str) -> None:
    checked, violations = results(run(1, core))[invariant]
    assert checked > 0
    assert violations > 0, f"{core} was not caught by {invariant} in {NAME}"
    assert results(run(1))[invariant][1] == 0  # the real core, same seed: the guard is what makes it pass
