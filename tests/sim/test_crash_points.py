"""Crash points in the simulation: the core dies inside a call, the world takes it as no reply, restarts
the core after the fault's downtime, and the real core holds every invariant wherever it died.

What it is for: issue 11, "Crash points" — every catalogued point is reached by some shipped scenario (or
is documented as unreachable in a simulation), every point reached is catalogued, a named point strikes
once at its first hit, ``any`` strikes wherever the core is, ``random`` draws from the catalogue, and a
bad name is refused naming its key. Runs are small (``workload.orders``).
"""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import pytest

from retailsim.core.crash_points import CRASH_POINTS
from retailsim.scenarios import ScenarioError, load
from retailsim.scenarios.schema import FaultSpec, Scenario
from retailsim.sim.faults import STRIKABLE_POINTS, UNREACHABLE_IN_SIM, random_plan
from retailsim.sim.live import LiveWorld
from retailsim.sim.runner import Run, run_scenario
from retailsim.sim.world import World


def crash(point: str, start: float, duration: float = 90.0, probability: float = 1.0) -> FaultSpec:
    return FaultSpec(
        kind="core_crash", target="core", start=start, duration=duration, point=point, probability=probability
    )


def with_faults(name: str, orders: int, faults: list[FaultSpec], keep: bool = True) -> Scenario:
    base = load(name, [f"workload.orders={orders}"])
    return base.model_copy(update={"faults": [*(base.faults if keep else []), *faults]})


def broken(run: Run) -> dict[str, tuple[int, int, tuple[str, ...]]]:
    return {
        r.name: (r.checked, r.violations, r.examples[:2])
        for r in run.record.invariants
        if r.fails_run
    }


def passes_of(name: str, orders: int, keep: bool = True) -> dict[str, int]:
    """How often each crash point was passed in a run (an ``any`` crash that never strikes)."""
    run = run_scenario(with_faults(name, orders, [crash("any", 0.0, probability=0.0)], keep), 1)
    assert not run.world.crash_log
    passed: dict[str, int] = run.record.extra["crash_points_passed"]  # type: ignore[assignment]
    return passed


def test_every_catalogued_point_is_reached_by_a_shipped_scenario_and_every_point_reached_is_catalogued() -> (
    None
):
    # black-friday: marketplace reads, ERP look-ups, poison and the operator's replay; delayed-shipment-
    # support: agents' timelines and actions, returns, superseded messages.
    passed = passes_of("black-friday", 500)
    for point, count in passes_of("delayed-shipment-support", 300).items():
        passed[point] = passed.get(point, 0) + count
    # cloud-erp-migration: the open-order migration job (its own crashes left out: none may strike here).
    for point, count in passes_of("cloud-erp-migration", 100, keep=False).items():
        passed[point] = passed.get(point, 0) + count
    assert set(passed) <= set(CRASH_POINTS), sorted(set(passed) - set(CRASH_POINTS))
    never = [p for p in CRASH_POINTS if p not in passed and p not in UNREACHABLE_IN_SIM]
    assert not never, f"never reached, and not documented as unreachable: {never}"
    assert set(STRIKABLE_POINTS) <= set(passed)


def test_a_named_point_strikes_once_and_the_core_restarts_after_the_downtime() -> None:
    run = run_scenario(with_faults("baseline", 300, [crash("order_intake.after_commit", 1800.0, 75.0)]), 1)
    world, record = run.world, run.record
    assert len(world.crash_log) == 1
    point, at, restart = world.crash_log[0]
    assert point == "order_intake.after_commit" and at >= 1800.0 and restart == pytest.approx(at + 75.0)
    assert world.core_up and world.crashes == 1
    assert record.extra["crash_points_hit"] == {"order_intake.after_commit": 1}
    assert record.extra["crash_points_passed"]["order_intake.after_commit"] > 1
    assert record.kpis["crash_point_crashes"] == 1
    assert [(w.start_s, w.params) for w in record.faults] == [(at, {"point": "order_intake.after_commit"})]
    assert not broken(run)


def test_random_draws_a_strikable_point_from_the_faults_stream_and_is_deterministic() -> None:
    scenario = with_faults("baseline", 200, [crash("random", 600.0)])
    first, second = run_scenario(scenario, 3), run_scenario(scenario, 3)
    assert first.record.digest == second.record.digest
    drawn = {p for p, _, _ in first.world.crash_log}
    assert drawn <= set(STRIKABLE_POINTS)


@pytest.mark.parametrize(("name", "orders", "seed"), [("baseline", 300, 1), ("baseline", 300, 2),
                                                     ("delayed-shipment-support", 300, 1)])  # fmt: skip
def test_the_real_core_holds_every_invariant_when_it_dies_anywhere(name: str, orders: int, seed: int) -> None:
    faults = [crash("any", start, 60.0, probability) for start, probability in
              ((900.0, 0.02), (4000.0, 0.1), (9000.0, 0.3), (20000.0, 0.05), (40000.0, 0.2))]  # fmt: skip
    run = run_scenario(with_faults(name, orders, faults), seed)
    assert len(run.world.crash_log) >= 4
    assert not broken(run), f"{name} seed {seed}: {broken(run)} after deaths at {run.world.crash_log}"


def test_a_point_not_in_the_catalogue_is_refused_naming_the_key(tmp_path: Path) -> None:
    fault = (
        '[[faults]]\nkind = "{kind}"\ntarget = "{target}"\nstart = "1h"\nduration = "1m"\npoint = "{point}"\n'
    )
    path = tmp_path / "bad.toml"
    path.write_text('name = "bad"\n' + fault.format(kind="core_crash", target="core", point="nowhere"))
    with pytest.raises(ScenarioError, match=r"faults\.0\.point: .*unknown crash point 'nowhere'"):
        load(str(path))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "retailsim.sim.cli",
            "run",
            str(path),
            "--quiet",
            "--out",
            str(tmp_path / "o"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "faults.0.point" in result.stderr and "nowhere" in result.stderr
    path.write_text('name = "bad"\n' + fault.format(kind="outage", target="erp", point="any"))
    with pytest.raises(ScenarioError, match="only a core_crash strikes at a crash point"):
        load(str(path))


def test_the_cli_lists_every_crash_point_one_a_line() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "retailsim.sim.cli", "crash-points"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines] == [*CRASH_POINTS, "random", "any"]


def test_fuzz_plans_include_crash_points() -> None:
    plans = [random_plan(random.Random(f"fuzz/{seed}"), 8 * 3600.0) for seed in range(60)]
    points = [f.point for plan in plans for f in plan if f.kind == "core_crash"]
    assert "any" in points and None in points
    assert any(p in STRIKABLE_POINTS for p in points)


def test_live_mode_never_installs_the_crash_hook() -> None:
    assert World.crash_points_enabled and not LiveWorld.crash_points_enabled
