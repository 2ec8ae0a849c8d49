"""The pytest plugin CI users install with retailsim: the ``--retailsim-seed`` option and its header
line, and the ``retailsim_run`` fixture that runs a scenario and returns its summary.json dictionary.

What it is for: DESIGN.md, "Seed once, print the seed, make every failure a replay command" — a CI job's
header must show the seed so that a failure can be replayed locally. Runs inner pytest sessions with
pytester, in process.
"""

from __future__ import annotations

import pytest

# Imported here so that the inner sessions find numpy loaded: pytester forgets the modules an inner session
# imported, and numpy cannot be loaded twice in one process.
import retailsim.reports  # noqa: F401

pytest_plugins = ["pytester"]

USES_THE_FIXTURE = """
def test_flash_sale_holds(retailsim_run):
    summary = retailsim_run("flash-sale", **{"workload.orders": 200})
    assert summary["seed"] == 3
    assert summary["orders"]["submitted"] <= 200
    assert summary["replay"].endswith("--seed 3 --set workload.orders=200")
    assert summary["passed"] is True
    for invariant in summary["invariants"]:
        assert invariant["status"] != "violated", invariant
        if invariant["required"]:
            assert invariant["passed"] and invariant["checked"] > 0, invariant
"""


def test_the_fixture_runs_with_the_seed_given_on_the_command_line(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_inner=USES_THE_FIXTURE)
    result = pytester.runpytest("--retailsim-seed", "3", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["retailsim seed: 3"])


def test_without_the_option_the_seed_is_drawn_at_random_and_printed(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_inner="""
def test_the_fixture_runs_at_the_printed_seed(retailsim_run, retailsim_seed, request):
    header = request.config.hook.pytest_report_header(config=request.config, start_path=None)
    assert f"retailsim seed: {retailsim_seed} (random" in str(header)
    assert retailsim_run("baseline", **{"workload.orders": 20})["seed"] == retailsim_seed
"""
    )
    seeds = set()
    for _ in range(2):
        result = pytester.runpytest("-p", "no:cacheprovider")
        result.assert_outcomes(passed=1)
        line = next(ln for ln in result.outlines if ln.startswith("retailsim seed: "))
        assert line.endswith(f"(random; replay with --retailsim-seed {line.split()[2]})")
        assert result.outlines.count(line) == 2  # in the header and again at the end (-q drops the header)
        seeds.add(line.split()[2])
    assert len(seeds) == 2  # two sessions, two draws (2**31 values: a repeat is a one-in-two-billion event)


def test_a_seed_passed_by_the_test_wins_over_the_option(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_inner="""
def test_own_seed(retailsim_run):
    assert retailsim_run("baseline", seed=5, **{"workload.orders": 30})["seed"] == 5
"""
    )
    result = pytester.runpytest("--retailsim-seed", "3", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


FAULTS_AND_ASSERTION = """
import pytest

OUTAGE = {"kind": "outage", "target": "erp", "start": "30m", "duration": "20m"}
SLOW = {"kind": "brownout", "target": "wms", "start": "1h", "duration": "10m", "factor": 4}


def test_faults_as_overrides(retailsim_run, retailsim_assert_held):
    summary = retailsim_run("baseline", faults=[OUTAGE, SLOW], **{"workload.orders": 30})
    assert [(f["kind"], f["target"], f["start_s"]) for f in summary["faults"]] == [
        ("outage", "erp", 1800.0), ("brownout", "wms", 3600.0)
    ]
    assert summary["faults"][1]["params"]["factor"] == 4.0
    assert "faults=[{ kind = " in summary["replay"]
    retailsim_assert_held(summary)


def test_the_assertion_names_examples_report_and_replay(retailsim_run, retailsim_assert_held):
    summary = retailsim_run("baseline", core_name="no-correlation", **{"workload.orders": 20})
    with pytest.raises(pytest.fail.Exception) as caught:
        retailsim_assert_held(summary)
    message = str(caught.value)
    broken = next(i for i in summary["invariants"] if i["name"] == "correlation_complete")
    assert broken["examples"] and broken["examples"][0] in message
    assert "correlation_complete: violated" in message
    assert "report: " + summary["report"] in message and summary["report"].endswith("report.html")
    assert "replay: " + summary["replay"] in message and "--core no-correlation" in message
"""


def test_faults_go_in_as_overrides_and_the_assertion_helper_explains_a_failure(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_inner=FAULTS_AND_ASSERTION)
    result = pytester.runpytest("--retailsim-seed", "4", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
