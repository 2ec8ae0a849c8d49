"""The cloud-ERP migration (issue 14, items 5–7): two ERPs in one run, the open-order job, the cutover.

At a small size: the shipped scenario holds every invariant it requires and exercises its own two
(``one_erp_of_record``, ``return_credited_in_erp_of_record``), with the job moving orders exactly once
through two deaths inside it; a single-ERP run leaves those two unexercised; and each migration guard,
switched off, is caught by its named invariant while the real core holds under the same settings; and
the race of a legacy ERP command queued for an order just before the job's pass is built deterministically:
the real core moves the order only once that lane has drained, the core without the wait is caught.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from functools import cache

import pytest

from retailsim.core.config import CoreConfig
from retailsim.core.service import IntegrationCore
from retailsim.core.service.erp_routing import LEGACY_ERP
from retailsim.core.service.migration_job import MigrationJob
from retailsim.core.stores.base import NewMessage, Store
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


@dataclass
class _Race:
    """What the racing job saw across the run's cores (a core crash builds a new one): the orders it queued
    a legacy command for, and each move as (time, order, whether its legacy lane was open just before)."""

    queued: list[str] = field(default_factory=list)
    moves: list[tuple[float, str, bool]] = field(default_factory=list)


class _RacingJob(MigrationJob):
    """The real job, with a legacy ERP command queued for each order the first time it is a candidate —
    just before the pass: a plant change to the order's own plant, as a reroute leaves it (harmless to
    the legacy document, wrong if sent for the cloud document after the move)."""

    def __init__(self, host: IntegrationCore, race: _Race) -> None:
        super().__init__(host)
        self.race = race

    def run_pass(self, now: float) -> int:
        migration = self.host.config.migration
        if migration is not None and migration.job_start_at <= now < migration.job_end_at:
            fresh = [order_no for order_no in self.candidates() if order_no not in self.race.queued]
            self.race.queued += fresh
            with self.host.store.transaction() as tx:
                for order_no in fresh:
                    record = self.host._load_record(tx, order_no)
                    assert record is not None
                    payload = {"location": record.location, "item": "10"}
                    change = NewMessage(
                        LEGACY_ERP, "ChangeSalesOrderPlant", order_no, record.correlation_id, payload, now
                    )
                    tx.append(change)
        with self.host.store.transaction() as tx:
            before = {
                order_no: tx.has_open_message(LEGACY_ERP, order_no)
                for order_no in self.race.queued
                if tx.load("migration", order_no) is None
            }
        moved = super().run_pass(now)
        with self.host.store.transaction() as tx:
            self.race.moves += [
                (now, order_no, lane_open)
                for order_no, lane_open in before.items()
                if tx.load("migration", order_no) is not None
            ]
        return moved


@cache
def _race(core: str) -> tuple[Run, _Race]:
    race = _Race()

    def racing_core(store: Store, config: CoreConfig, rng: random.Random) -> IntegrationCore:
        made = CORES[core](store, config, rng)
        made.migration = _RacingJob(made, race)
        return made

    scenario = load("cloud-erp-migration", [f"workload.orders={ORDERS}"])
    return run_scenario(scenario, SEED, core_factory=racing_core, core_name=core), race


def test_an_order_with_legacy_erp_work_queued_moves_only_once_that_lane_has_drained() -> None:
    run, race = _race("real")
    broken = {r.name: (r.checked, r.violations) for r in run.record.invariants if r.fails_run}
    assert not broken, f"{broken} (replay: {run.record.replay})"
    assert race.moves, "the race moved nothing: it shows nothing"
    assert all(not lane_open for _, _, lane_open in race.moves), race.moves
    counters = run.world.counters()
    # Every move waited at least one pass for its lane (the command was queued just before a pass).
    assert counters["migration_waits"] >= len(race.moves) == counters["migration_moves"]
    assert run.record.dlq["entered"] == 0


def test_the_job_that_ignores_the_legacy_lane_is_caught_by_one_erp_of_record() -> None:
    run, race = _race("migration-ignores-legacy-lane")
    assert any(lane_open for _, _, lane_open in race.moves)
    checked, violations = _judged(run)["one_erp_of_record"]
    assert violations > 0, f"one_erp_of_record held ({checked} checked)"
