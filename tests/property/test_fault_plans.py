"""Property: under any generated fault plan, the real core keeps every invariant.

Hypothesis draws fault plans (outages, brownouts, error rates, rate limits, lost replies, duplicate,
reordered and dropped webhooks, core crashes) and a run seed, and shrinks a failure to the smallest plan;
the failure message is a command that replays the run (the plan is written to a TOML file).

The search fuzzes: hypothesis is seeded with the session's ``--retailsim-seed`` (random unless given,
printed in the header), so every suite run explores other plans and any failure replays with that
seed. The suite draws ``SUITE_EXAMPLES`` plans (about ten seconds); the opt-in campaign
(``pytest -m slow tests/property``) draws ``RETAILSIM_PROPERTY_EXAMPLES`` (default 200).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from retailsim.scenarios import Scenario, load, to_toml
from retailsim.scenarios.schema import FaultSpec
from retailsim.sim.broken_cores import CORES
from retailsim.sim.faults import fault_plans
from retailsim.sim.runner import run_scenario

BASE = load("baseline", ["workload.orders=150", 'workload.duration="2h"', 'expect.max_drain="2d"'])
SUITE_EXAMPLES = 8
CAMPAIGN_EXAMPLES = int(os.environ.get("RETAILSIM_PROPERTY_EXAMPLES", "200"))
PLANS = fault_plans(horizon_s=7200.0, max_faults=3)
RUN_SEEDS = st.integers(1, 10_000)


def replay_hint(scenario: Scenario, run_seed: int) -> str:
    path = Path(tempfile.mkdtemp(prefix="retailsim-fuzz-")) / f"{scenario.name}.toml"
    path.write_text(to_toml(scenario), encoding="utf-8")
    return f"retailsim run {path} --seed {run_seed}"


def assert_survives(plan: list[FaultSpec], run_seed: int, core: str = "real") -> None:
    scenario = BASE.model_copy(update={"faults": plan, "name": "baseline-property"})
    record = run_scenario(scenario, run_seed, core_factory=CORES[core], core_name=core).record
    broken = [f"{r.name}: {r.examples[:1]}" for r in record.invariants if r.violations]
    flag = f" --core {core}" if core != "real" else ""
    assert not broken, f"{broken}; replay: {replay_hint(scenario, run_seed)}{flag}"


def search(session_seed: int, examples: int) -> None:
    """Hypothesis, seeded with the session's seed, looking for a plan the real core does not survive."""

    @seed(session_seed)
    @settings(max_examples=examples, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(plan=PLANS, run_seed=RUN_SEEDS)
    def the_real_core_survives(plan: list[FaultSpec], run_seed: int) -> None:
        assert_survives(plan, run_seed)

    the_real_core_survives()


def test_real_core_survives_generated_fault_plans(retailsim_seed: int) -> None:
    search(retailsim_seed, SUITE_EXAMPLES)


@pytest.mark.slow
def test_campaign_real_core_survives_many_generated_fault_plans(retailsim_seed: int) -> None:
    search(retailsim_seed, CAMPAIGN_EXAMPLES)


def test_the_session_seed_decides_the_plans(retailsim_seed: int) -> None:
    """Not derandomised: two seeds draw other plans, one seed draws the same plans again."""

    def drawn(session_seed: int) -> list[object]:
        seen: list[object] = []

        @seed(session_seed)
        @settings(max_examples=3, database=None, phases=[Phase.generate])
        @given(plan=PLANS, run_seed=RUN_SEEDS)
        def record(plan: list[FaultSpec], run_seed: int) -> None:
            seen.append((run_seed, [f.model_dump() for f in plan]))

        record()
        return seen

    assert drawn(retailsim_seed) == drawn(retailsim_seed)
    assert drawn(retailsim_seed) != drawn(retailsim_seed + 1)


DRAW_PLANS = """
import sys
from hypothesis import Phase, given, seed, settings
{imports}
from retailsim.sim.faults import fault_plans
seen = []
@seed({seed})
@settings(max_examples=12, database=None, phases=[Phase.generate])
@given(plan=fault_plans(horizon_s=7200.0, max_faults=3))
def record(plan):
    seen.append([f.model_dump() for f in plan])
record()
print(repr(seen))
"""


def test_the_plans_do_not_depend_on_what_else_the_process_imported(retailsim_seed: int) -> None:
    """Hypothesis mixes constants of the loaded local modules into its draws: a suite that had imported
    the live API drew other plans from one seed than a single test file did (a CI failure that did not
    replay). The strategy loads every retailsim module first, so both processes draw the same plans."""

    def drawn(imports: str) -> str:
        script = DRAW_PLANS.format(imports=imports, seed=retailsim_seed)
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
        return done.stdout

    assert drawn("") == drawn("import retailsim.core.api.app, retailsim.sim.live, retailsim.reports.html")


def test_the_property_fails_on_a_core_without_retries_with_a_replay_command(retailsim_seed: int) -> None:
    """The property can fail: against a core that dead-letters on the first failed call, a generated
    plan breaks an invariant, and the failure names the command that replays it. (Shrinking is left
    out here only to keep the suite fast; the property above shrinks as usual.)"""

    @seed(retailsim_seed)
    @settings(max_examples=30, deadline=None, database=None, phases=[Phase.generate])
    @given(plan=PLANS, run_seed=RUN_SEEDS)
    def property_on_the_broken_core(plan: list[FaultSpec], run_seed: int) -> None:
        assert_survives(plan, run_seed, core="no-retry")

    with pytest.raises(AssertionError, match=r"replay: retailsim run \S+\.toml --seed \d+ --core no-retry"):
        property_on_the_broken_core()
