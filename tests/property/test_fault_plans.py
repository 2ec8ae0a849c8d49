"""Property: under any generated fault plan, the real core keeps every invariant.

Hypothesis draws fault plans (outages, brownouts, error rates, rate limits, lost replies, duplicate,
reordered and dropped webhooks, core crashes) and shrinks a failure to the smallest plan; the failure
message is a command that replays it (the plan is written to a TOML file).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings

from retailsim.scenarios import Scenario, load, to_toml
from retailsim.scenarios.schema import FaultSpec
from retailsim.sim.faults import fault_plans
from retailsim.sim.runner import run_scenario

BASE = load("baseline", ["workload.orders=150", 'workload.duration="2h"', 'expect.max_drain="2d"'])


def replay_hint(scenario: Scenario, seed: int) -> str:
    path = Path(tempfile.mkdtemp(prefix="retailsim-fuzz-")) / f"{scenario.name}.toml"
    path.write_text(to_toml(scenario), encoding="utf-8")
    return f"retailsim run {path} --seed {seed}"


@settings(max_examples=8, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(plan=fault_plans(horizon_s=7200.0, max_faults=3))
def test_real_core_survives_generated_fault_plans(plan: list[FaultSpec]) -> None:
    scenario = BASE.model_copy(update={"faults": plan, "name": "baseline-property"})
    record = run_scenario(scenario, 5).record
    broken = [f"{r.name}: {r.examples[:1]}" for r in record.invariants if r.violations]
    assert not broken, f"{broken}; replay: {replay_hint(scenario, 5)}"
