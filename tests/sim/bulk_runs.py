"""The runs the bulk-push tests share (tests/sim/test_bulk_status.py for Service Cloud's collections,
tests/sim/test_storefront_batches.py for the storefront's OCAPI batches): the flash sale with pushes in bulk
and one by one (each run once per test session), and a small baseline run where one system cannot write
one entity in ten for the first two days."""

from __future__ import annotations

from functools import cache

from retailsim.scenarios import load
from retailsim.scenarios.schema import FaultSpec
from retailsim.sim.broken_cores import CORES
from retailsim.sim.runner import Run, run_scenario

BULK_ON = ("core.bulk_status.window_s=2", "core.bulk_status.max_records=200")  # the default, said here
BULK_OFF = ("core.bulk_status.window_s=0", "core.bulk_status.max_records=1")


@cache
def flash_sale(*overrides: str) -> Run:
    """The shipped flash sale at seed 7 (cached: the tests only read a finished run)."""
    return run_scenario(load("flash-sale", list(overrides)), 7)


def failing_run(target: str, core: str) -> Run:
    """``target`` cannot write one order (or SKU) in ten for the first two days — long enough for their
    pushes to exhaust their retries (a collection's 200 keeps the breaker closed, so they are dead-lettered
    rather than held), short enough to end before the last parcel arrives (a fault outlasting the run left
    its dead letters unreplayed whenever no open breaker happened to hold the run until it ended); the
    operator replays the dead letters a minute after it ends."""
    small = ["workload.orders=400", 'workload.duration="1h"', 'expect.max_drain="1d"']
    scenario = load("baseline", [*small, *BULK_ON])
    fault = FaultSpec(
        kind="persistent_error", target=target, start=0.0, duration=2 * 86400.0, probability=0.1
    )
    planned = scenario.model_copy(update={"faults": [fault]})
    return run_scenario(planned, 1, core_factory=CORES[core], core_name=core)


def failures(run: Run) -> list[tuple[str, int, list[str]]]:
    return [(r.name, r.violations, r.examples[:2]) for r in run.record.invariants if r.fails_run]
