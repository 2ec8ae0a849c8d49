"""A run pauses the cyclic garbage collector and gives it back, whatever happens.

What it is for: sim/runner.py pauses the collector for the length of a run (a speed measure, see
``collector_paused``); a caller's process must find it as it was before, after a run and after a run
that failed.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import pytest

from retailsim.scenarios import load
from retailsim.sim.runner import run_scenario

TINY = ["workload.orders=20"]


@pytest.fixture
def collector_on() -> Iterator[None]:
    was = gc.isenabled()
    gc.enable()
    yield
    if not was:
        gc.disable()


def test_the_collector_is_paused_during_a_run_and_back_after(collector_on: None) -> None:
    seen: list[bool] = []
    run = run_scenario(load("baseline", TINY), 1, on_progress=lambda _now: seen.append(gc.isenabled()))
    assert seen and not any(seen), "collected while the simulation ran"
    assert gc.isenabled()
    assert run.record.passed


def test_the_collector_is_back_after_a_run_that_failed(collector_on: None) -> None:
    def broken_core(*_args: Any) -> Any:
        raise RuntimeError("the core would not start")

    with pytest.raises(RuntimeError, match="would not start"):
        run_scenario(load("baseline", TINY), 1, core_factory=broken_core)
    assert gc.isenabled()


def test_a_disabled_collector_stays_disabled() -> None:
    was = gc.isenabled()
    gc.disable()
    try:
        run_scenario(load("baseline", TINY), 1)
        assert not gc.isenabled()
    finally:
        if was:
            gc.enable()
