"""The ``retailsim`` command line as a user (or CI) sees it: exit codes, stderr and the files it writes.

What it is for: DESIGN.md, "Command line" — exit 0 when every invariant held, 2 for bad input (unknown
scenario, invalid file, bad flag) with the reason on stderr; ``run`` writes ``summary.json`` and
``report.html`` into ``--out``, and summary.json carries the keys tools and CI rely on. Each test starts
the CLI in a fresh interpreter, as a shell would.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from retailsim.reports.record import DLQ_KEYS, KPI_KEYS, ORDER_KEYS, RETURN_KEYS

CLI = [sys.executable, "-m", "retailsim.sim.cli"]

SUMMARY_KEYS = {
    "scenario", "seed", "digest", "sim_time_s", "wall_time_s", "events", "orders", "returns", "dlq",
    "faults", "invariants", "kpis", "replay",
}  # fmt: skip


def retailsim(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


def test_list_names_the_shipped_scenarios(tmp_path: Path) -> None:
    result = retailsim("list", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "flash-sale" in result.stdout
    assert "erp-outage" in result.stdout


def test_check_of_a_valid_file_exits_0(tmp_path: Path) -> None:
    path = tmp_path / "ok.toml"
    path.write_text('name = "ok"\n[workload]\norders = 50\nduration = "1h"\n', encoding="utf-8")
    result = retailsim("check", str(path), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "ok" in result.stdout and "50 orders" in result.stdout


def test_run_of_an_invalid_file_exits_2_naming_the_bad_keys(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text('name = "broken"\n[workload]\nordrs = 100\nskus = "many"\n', encoding="utf-8")
    result = retailsim("run", str(path), "--quiet", "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "workload.ordrs" in result.stderr
    assert "unknown key" in result.stderr
    assert "workload.skus" in result.stderr
    assert not (tmp_path / "out").exists()


def test_check_of_an_invalid_file_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text('name = "broken"\n[systems.erp]\nconcurency = 4\n', encoding="utf-8")
    result = retailsim("check", str(path), cwd=tmp_path)
    assert result.returncode == 2
    assert "systems.erp.concurency" in result.stderr


def test_an_unknown_scenario_exits_2(tmp_path: Path) -> None:
    result = retailsim("run", "flash-sail", "--quiet", cwd=tmp_path)
    assert result.returncode == 2
    assert "unknown scenario 'flash-sail'" in result.stderr
    assert not (tmp_path / "retailsim-out").exists()


@pytest.mark.parametrize(
    "flags",
    [["--set", "workload.orders"], ["--set", "workload.orders=abc"], ["--seed", "seven"], ["--frobnicate"]],
    ids=["set-without-equals", "set-wrong-type", "seed-not-a-number", "unknown-flag"],
)
def test_bad_flags_exit_2(flags: list[str], tmp_path: Path) -> None:
    result = retailsim("run", "flash-sale", "--quiet", *flags, cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.strip()


def test_run_writes_a_summary_and_a_report_and_exits_0(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = retailsim(
        "run", "flash-sale", "--seed", "7", "--set", "workload.orders=300", "--out", str(out), "--quiet",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert (out / "report.html").stat().st_size > 0
    summary = json.loads((out / "summary.json").read_text())

    assert set(summary) >= SUMMARY_KEYS
    assert set(ORDER_KEYS) <= set(summary["orders"])
    assert set(RETURN_KEYS) <= set(summary["returns"])
    assert set(DLQ_KEYS) <= set(summary["dlq"])
    assert set(KPI_KEYS) <= set(summary["kpis"])
    assert summary["scenario"] == "flash-sale"
    assert summary["seed"] == 7
    assert isinstance(summary["digest"], str) and summary["digest"]
    assert 0 < summary["orders"]["submitted"] <= 300
    assert summary["faults"] == []
    assert summary["invariants"]
    for invariant in summary["invariants"]:
        assert {"name", "passed", "status", "required", "checked", "violations", "examples"} <= set(invariant)
        assert invariant["status"] != "violated", invariant
        if invariant["required"]:
            assert invariant["passed"] is True and invariant["checked"] > 0, invariant
        assert invariant["passed"] is (invariant["status"] == "held")
    assert "--seed 7" in summary["replay"]
    assert "--set workload.orders=300" in summary["replay"]


def test_an_invariant_with_nothing_to_check_fails_the_run_with_exit_1(tmp_path: Path) -> None:
    # A run without dead letters gives dlq_accounted nothing to check: required, "not exercised" fails.
    result = retailsim(
        "run", "baseline", "--seed", "1", "--set", "workload.orders=20", "--set",
        'expect.invariants=["no_lost_orders", "dlq_accounted"]', "--out", str(tmp_path / "run"), "--quiet",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    assert "not exercised" in result.stderr and "dlq_accounted" in result.stderr
    assert "replay: retailsim run baseline --seed 1" in result.stderr
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    verdicts = {i["name"]: (i["passed"], i["checked"]) for i in summary["invariants"]}
    assert verdicts["dlq_accounted"] == (False, 0)
    assert verdicts["no_lost_orders"][0] is True


def test_a_violation_of_an_invariant_the_scenario_does_not_list_fails_the_run(tmp_path: Path) -> None:
    # Every invariant is judged in every run: the scenario requires only no_lost_orders, the core drops
    # correlation ids, and correlation_complete (not listed) fails the run.
    result = retailsim(
        "run", "baseline", "--seed", "1", "--set", "workload.orders=20", "--set",
        'expect.invariants=["no_lost_orders"]', "--core", "no-correlation",
        "--out", str(tmp_path / "run"), "--quiet", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    assert "violated correlation_complete" in result.stderr
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    by_name = {i["name"]: i for i in summary["invariants"]}
    assert by_name["correlation_complete"]["status"] == "violated"
    assert by_name["correlation_complete"]["required"] is False
    assert by_name["dlq_accounted"]["status"] == "not_exercised"
    assert summary["passed"] is False
