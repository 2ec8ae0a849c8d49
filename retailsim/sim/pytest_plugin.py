"""pytest plugin for CI users: run a scenario inside a test and assert on its summary.

Installed with retailsim (entry point ``pytest11``). Gives:

* one **session seed**: ``--retailsim-seed N``, or drawn at random when the option is absent. Either way
  it is printed in the test header (``retailsim seed: N``), so a failing CI job can be replayed locally
  with the same seed — a suite that always runs one seed only ever explores one history.
* the ``retailsim_seed`` fixture — the session seed, for tests that draw their own cases from it (the
  property tests seed hypothesis with it).
* the ``retailsim_run`` fixture — ``retailsim_run("flash-sale", **{"workload.orders": 500})`` runs the
  scenario with overrides at the session seed (or the ``seed`` a test passes) and returns the
  ``summary.json`` dictionary (the report is written under the test's tmp_path).

Rules kept: the random draw happens once, in the test process, outside any simulation; a simulation only
ever sees the seed it is handed.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

SEED_KEY = pytest.StashKey[tuple[int, bool]]()  # (seed, drawn at random)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("retailsim")
    group.addoption(
        "--retailsim-seed",
        type=int,
        default=None,
        help="seed for retailsim scenario runs and property tests (default: drawn at random, printed)",
    )


def pytest_configure(config: pytest.Config) -> None:
    given = config.getoption("--retailsim-seed", default=None)
    config.stash[SEED_KEY] = (given, False) if given is not None else (secrets.randbelow(2**31), True)


def session_seed(config: pytest.Config) -> int:
    return config.stash[SEED_KEY][0]


def pytest_report_header(config: pytest.Config) -> str:
    seed, drawn = config.stash[SEED_KEY]
    return f"retailsim seed: {seed}" + (f" (random; replay with --retailsim-seed {seed})" if drawn else "")


@pytest.fixture
def retailsim_seed(request: pytest.FixtureRequest) -> int:
    return session_seed(request.config)


ScenarioRunner = Callable[..., dict[str, Any]]


@pytest.fixture
def retailsim_run(retailsim_seed: int, tmp_path: Path) -> ScenarioRunner:
    from retailsim.reports import write_report
    from retailsim.scenarios import load
    from retailsim.sim.runner import run_scenario

    def run(scenario: str, seed: int | None = None, **overrides: Any) -> dict[str, Any]:
        assignments = [f"{key}={json.dumps(value)}" for key, value in overrides.items()]
        resolved = load(scenario, assignments)
        chosen = seed if seed is not None else retailsim_seed
        result = run_scenario(resolved, chosen, source=scenario, overrides=assignments)
        paths = write_report(result.record, tmp_path / f"{resolved.name}-{result.record.seed}")
        summary: dict[str, Any] = json.loads(Path(paths["summary"]).read_text())
        return summary

    return run
