"""pytest plugin for CI users: run a scenario inside a test and assert on its summary.

Installed with retailsim (entry point ``pytest11``). Gives:

* one **session seed**: ``--retailsim-seed N``, or drawn at random when the option is absent. Either way
  it is printed in the test header (``retailsim seed: N``), so a failing CI job can be replayed locally
  with the same seed — a suite that always runs one seed only ever explores one history.
* the ``retailsim_seed`` fixture — the session seed, for tests that draw their own cases from it (the
  property tests seed hypothesis with it).
* the ``retailsim_run`` fixture — ``retailsim_run("flash-sale", **{"workload.orders": 500})`` runs the
  scenario with overrides at the session seed (or the ``seed`` a test passes) and returns the
  ``summary.json`` dictionary plus ``"report"``, the path of its report.html (written under the test's
  tmp_path). Any key can be overridden with any value, a list of tables too:
  ``retailsim_run("baseline", faults=[{"kind": "outage", "target": "erp", "start": "1h", "duration": "30m"}])``.
  Each value goes through the same TOML reading and validation as ``--set`` on the command line, so the
  summary's replay command reproduces the run.
  ``core_name`` picks a deliberately broken core (``retailsim run --core``) for harness proofs; ``core``
  itself stays the scenario's ``[core]`` table.
* ``retailsim_assert_held(summary)`` (a fixture, and :func:`assert_held` for import) — fails the test
  when the run did not hold, with each broken invariant's examples, the report path and the replay command.

Rules kept: the random draw happens once, in the test process, outside any simulation; a simulation only
ever sees the seed it is handed.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Mapping
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


def seed_line(config: pytest.Config) -> str:
    seed, drawn = config.stash[SEED_KEY]
    return f"retailsim seed: {seed}" + (f" (random; replay with --retailsim-seed {seed})" if drawn else "")


def pytest_report_header(config: pytest.Config) -> str:
    return seed_line(config)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """The seed again at the end: ``pytest -q`` (as ``make test`` runs it) prints no header."""
    terminalreporter.write_line(seed_line(config))


@pytest.fixture
def retailsim_seed(request: pytest.FixtureRequest) -> int:
    return session_seed(request.config)


ScenarioRunner = Callable[..., dict[str, Any]]


@pytest.fixture
def retailsim_run(retailsim_seed: int, tmp_path: Path) -> ScenarioRunner:
    from retailsim.reports import write_report
    from retailsim.scenarios import load, override
    from retailsim.sim.broken_cores import CORES
    from retailsim.sim.runner import run_scenario

    def run(scenario: str, seed: int | None = None, core_name: str = "real", **overrides: Any) -> dict[str, Any]:
        assignments = [override(key, value) for key, value in overrides.items()]
        resolved = load(scenario, assignments)
        chosen = seed if seed is not None else retailsim_seed
        result = run_scenario(
            resolved,
            chosen,
            source=scenario,
            overrides=assignments,
            core_factory=CORES[core_name],
            core_name=core_name,
        )
        paths = write_report(result.record, tmp_path / f"{resolved.name}-{result.record.seed}")
        summary: dict[str, Any] = json.loads(Path(paths["summary"]).read_text())
        summary["report"] = str(paths["html"])
        return summary

    return run


def assert_held(summary: Mapping[str, Any]) -> None:
    """Fail unless every invariant of the run held; the message is what a CI log needs to act on it."""
    broken = [i for i in summary["invariants"] if not i["passed"]]
    if summary.get("passed", not broken):  # the run's own verdict, the one the CLI's exit code follows
        return
    lines = [f"retailsim: {summary['scenario']} at seed {summary['seed']} did not hold:"]
    for invariant in broken:
        status = invariant.get("status") or ("failed" if invariant["violations"] else "not checked")
        lines.append(
            f"  {invariant['name']}: {status} ({invariant['violations']} violation(s) in "
            f"{invariant['checked']} checked)"
        )
        lines.extend(f"    - {example}" for example in invariant.get("examples", []))
    if "report" in summary:
        lines.append(f"report: {summary['report']}")
    lines.append(f"replay: {summary['replay']}")
    pytest.fail("\n".join(lines), pytrace=False)


@pytest.fixture
def retailsim_assert_held() -> Callable[[Mapping[str, Any]], None]:
    return assert_held
