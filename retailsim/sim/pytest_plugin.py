"""pytest plugin for CI users: run a scenario inside a test and assert on its summary.

Installed with retailsim (entry point ``pytest11``). Gives:

* ``--retailsim-seed N`` — the seed every ``retailsim_run`` uses unless a test passes its own; printed
  in the test header so a failing CI job can be replayed locally.
* the ``retailsim_run`` fixture — ``retailsim_run("flash-sale", **{"workload.orders": 500})`` runs the
  scenario with overrides and returns the ``summary.json`` dictionary (the report is written under the
  test's tmp_path).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("retailsim")
    group.addoption("--retailsim-seed", type=int, default=None, help="seed for retailsim scenario runs")


def pytest_report_header(config: pytest.Config) -> str | None:
    seed = config.getoption("--retailsim-seed", default=None)
    return f"retailsim seed: {seed}" if seed is not None else None


ScenarioRunner = Callable[..., dict[str, Any]]


@pytest.fixture
def retailsim_run(request: pytest.FixtureRequest, tmp_path: Path) -> ScenarioRunner:
    from retailsim.reports import write_report
    from retailsim.scenarios import load
    from retailsim.sim.runner import run_scenario

    default_seed = request.config.getoption("--retailsim-seed", default=None)

    def run(scenario: str, seed: int | None = None, **overrides: Any) -> dict[str, Any]:
        assignments = [f"{key}={json.dumps(value)}" for key, value in overrides.items()]
        resolved = load(scenario, assignments)
        chosen = seed if seed is not None else default_seed
        result = run_scenario(resolved, chosen, source=scenario, overrides=assignments)
        paths = write_report(result.record, tmp_path / f"{resolved.name}-{result.record.seed}")
        summary: dict[str, Any] = json.loads(Path(paths["summary"]).read_text())
        return summary

    return run
