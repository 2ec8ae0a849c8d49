"""The cloud-ERP migration (issue 14, items 5–7): two ERPs in one run, the open-order job, the cutover.

At a small size: the shipped scenario holds every invariant it requires and exercises its own two
(``one_erp_of_record``, ``return_credited_in_erp_of_record``), with the job moving orders exactly once
through two deaths inside it; a single-ERP run leaves those two unexercised; and each migration guard,
switched off, is caught by its named invariant while the real core holds under the same settings.
"""

from __future__ import annotations

from functools import cache

import pytest

from retailsim.scenarios import load
from retailsim.sim.broken_cores import CORES
from retailsim.sim.runner import Run, run_scenario
from retailsim.systems.sap_ecc import SapEcc

ORDERS = 150
SEED = 3
MIGRATION_INVARIANTS = ("one_erp_of_record", "return_credited_in_erp_of_record")


@cache
def _run(core: str = "real", overrides: tuple[str, ...] = ()) -> Run:
    scenario = load("cloud-erp-migration", [f"workload.orders={ORDERS}", *overrides])
    # At this size the job's first pass is short: the death inside it strikes at its first move for sure.
    # And a bad material in phase 1 takes at least a few of the legacy ECC's batch windows down.
    faults = [
        f.model_copy(update={"probability": 1.0}) if f.point == "migration.move.before_commit" else f
        for f in scenario.faults
    ]
    faults = [f.model_copy(update={"probability": 0.3}) if f.kind == "poison" else f for f in faults]
    scenario = scenario.model_copy(update={"faults": faults})
    return run_scenario(scenario, SEED, core_factory=CORES[core], core_name=core)


def _judged(run: Run) -> dict[str, tuple[int, int]]:
    return {r.name: (r.checked, r.violations) for r in run.record.invariants}


def test_the_migration_holds_and_exercises_its_invariants() -> None:
    run = _run()
    judged = _judged(run)
    broken = {r.name: judged[r.name] for r in run.record.invariants if r.fails_run}
    assert not broken, f"{broken} (replay: {run.record.replay})"
    for name in MIGRATION_INVARIANTS:
        assert judged[name][0] > 0, f"{name} had nothing to check"
    counters = run.world.counters()
    jobs = dict(run.world.store.aggregates("migration"))
    # Every move the job committed was created in the cloud and retired in the legacy ERP, once.
    assert counters.get("migration_moves", 0) > 0
    assert counters["migration_moves"] == counters["migration_retired"] == len(jobs)
    assert {str(job["state"]) for job in jobs.values()} == {"retired"}
    points = {point for point, _, _ in run.world.crash_log}
    assert {"migration.move.before_commit", "migration.move.after_commit"} <= points
    kpis = run.record.kpis
    assert (
        kpis["migration_drift_final"] == 0 and kpis["orders_cloud_erp"] > 0 and kpis["orders_legacy_erp"] > 0
    )
    # The legacy ECC rejected whole batch windows for one bad IDoc; the good orders in them still posted.
    legacy = run.world.erp
    assert isinstance(legacy, SapEcc) and any(not batch["posted"] for batch in legacy.batches)
    assert run.record.dlq["entered"] > 0 and run.record.dlq["remaining"] == 0
    phases = run.record.extra["migration_phases"]
    assert isinstance(phases, list) and [str(row["phase"])[0] for row in phases] == ["1", "2", "3"]


def test_each_order_went_to_exactly_one_erp_and_the_legacy_refuses_new_business_after_cutover() -> None:
    world = _run().world
    assert world.erp_cloud is not None
    cutover = world.scenario.migration.cutover if world.scenario.migration else 0.0
    for order_no, record in world.store.aggregates("order"):
        home = world.erp_cloud if record["erp"] == "erp_cloud" else world.erp
        assert home.orders_by_reference.get(order_no), f"order {order_no} missing in its ERP of record"
        if float(record["accepted_at"]) >= cutover:
            assert record["erp"] == "erp_cloud" and order_no not in world.erp.orders_by_reference


def test_a_single_erp_run_leaves_the_migration_invariants_unexercised() -> None:
    record = run_scenario(load("baseline", ["workload.orders=40"]), 1).record
    judged = {r.name: (r.checked, r.violations) for r in record.invariants}
    for name in MIGRATION_INVARIANTS:
        assert judged[name] == (0, 0)
    assert "migration_phases" not in record.extra


GUARD_OFF = [
    # A job that moves orders again, into a cloud ERP without upsert: a second live sales order there.
    ("migration-moves-twice", ("systems.erp_cloud.dialect=sap",), "one_erp_of_record"),
    # Returns sent where the phase sends new orders: a legacy order's return credited in the cloud ERP.
    ("returns-by-phase", (), "return_credited_in_erp_of_record"),
]


@pytest.mark.parametrize(("core", "overrides", "invariant"), GUARD_OFF)
def test_a_migration_guard_off_is_caught_by_its_invariant(
    core: str, overrides: tuple[str, ...], invariant: str
) -> None:
    assert _judged(_run("real", overrides))[invariant][1] == 0
    checked, violations = _judged(_run(core, overrides))[invariant]
    assert violations > 0, f"{core}: {invariant} held ({checked} checked)"


def test_a_cloud_erp_that_creates_in_several_requests_is_refused_naming_the_key() -> None:
    with pytest.raises(ValueError, match=r"systems\.erp_cloud\.dialect: 'd365'"):
        load("cloud-erp-migration", ["systems.erp_cloud.dialect=d365"])
