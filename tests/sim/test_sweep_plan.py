"""``retailsim sweep`` without a cluster: bad grids are exit 2 before any run, the frontier is the smallest
setting that met the SLAs in every seed, results.parquet (or CSV) holds one row per run, sweep.html is
self-contained, and a run that raises becomes an error row with its replay command.

No Dask cluster starts here (tests/sim/test_sweep_cluster.py has those); rows are built from summaries
shaped like the runner's."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from retailsim.reports.sweep_html import render_sweep_html, write_sweep_report
from retailsim.reports.sweep_results import SweepResult, frontier, run_row, write_results
from retailsim.sim import sweep
from retailsim.sim.sweep import SweepError, parse_axis, parse_seeds, plan_from_command_line, run_task

CLI = [sys.executable, "-m", "retailsim.sim.cli"]


def retailsim(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


# ---- bad input: exit 2, naming the key, before anything runs ----------------------------------------


@pytest.mark.parametrize(
    ("args", "cause"),
    [
        (
            ["--grid", "systems.erp.rate_limt=1,2"],
            "--grid systems.erp.rate_limt=1: baseline (shipped): systems.erp.rate_limt: unknown key",
        ),
        (
            ["--grid", "workload.orders=10,many"],
            '--grid workload.orders="many": baseline (shipped): workload.orders: Input should be a valid integer',
        ),
        (["--grid", "systems.erp.rate_limit=1,-2"], "--grid systems.erp.rate_limit=-2"),
        (["--grid", "systems.erp.rate_limit"], "--grid 'systems.erp.rate_limit': expected KEY=V1,V2"),
        (["--grid", "systems.erp.rate_limit=1,2,1"], "--grid systems.erp.rate_limit: value(s) 1 given twice"),
        (["--grid", "seed=1,2"], "--grid seed: cannot be a grid axis (vary seeds with --seeds)"),
        (
            ["--grid", "workload.orders=10", "--grid", "workload.orders=20"],
            "--grid workload.orders: given twice",
        ),
        (
            ["--grid", "workload.orders=10", "--seeds", "three"],
            "--seeds 'three': expected a count (3) or a list",
        ),
        (["--grid", "workload.orders=10", "--seeds", "0"], "--seeds 0: needs at least one seed"),
        ([], "--grid: give at least one KEY=V1,V2,..."),
        (
            ["--grid", "workload.orders=10", "--workers", "1", "--scheduler", "tcp://127.0.0.1:1"],
            "choose one",
        ),
    ],
)
def test_a_bad_sweep_exits_2_before_any_run_naming_the_key(
    args: list[str], cause: str, tmp_path: Path
) -> None:
    out = tmp_path / "sweep"
    result = retailsim(
        "sweep", "baseline", "--set", "workload.orders=1000000", *args, "--out", str(out), cwd=tmp_path
    )
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and cause in lines[0], result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists(), "the plan is checked before the output folder is made, let alone a run"


def test_a_grid_point_is_validated_as_a_whole() -> None:
    # Each value is valid alone (beside two stores); together they break the rule that pickups need stores.
    axes = [parse_axis("workload.bopis_share=0,0.2"), parse_axis("systems.pos.stores=0,3")]
    with pytest.raises(
        SweepError, match=r"--grid point workload.bopis_share=0.2, systems.pos.stores=0: .*needs stores"
    ):
        sweep.plan_sweep("baseline", axes, 1, ["systems.pos.stores=2"])


def test_grid_values_are_read_as_toml_and_seeds_as_a_count_or_a_list() -> None:
    assert parse_axis("systems.erp.rate_limit=1, 2.5,4").values == (1, 2.5, 4)
    assert parse_axis("systems.storefront.inventory_sync=batch,realtime").values == ("batch", "realtime")
    assert parse_axis('systems.storefront.inventory_sync="batch","realtime"').values == ("batch", "realtime")
    assert parse_seeds("3", first=7) == (7, 8, 9)
    assert parse_seeds("11,5", first=7) == (11, 5)
    assert parse_seeds("4,", first=7) == (4,)
    assert parse_seeds([2, 3], first=7) == (2, 3)


def test_a_plan_has_one_task_per_point_and_seed_with_the_replay_of_each(tmp_path: Path) -> None:
    plan = plan_from_command_line(
        "flash-sale",
        ["systems.erp.rate_limit=1,2", "systems.storefront.inventory_sync=batch,realtime"],
        "2",
        ["workload.orders=50"],
    )
    assert len(plan.tasks) == 2 * 2 * 2
    assert [task.seed for task in plan.tasks[:2]] == [7, 8]  # flash-sale's own seed, then the next
    last = plan.tasks[-1]
    assert last.scenario.systems.erp.rate_limit == 2 and last.scenario.workload.orders == 50
    assert last.replay == (
        "retailsim run flash-sale --seed 8 --set workload.orders=50 --set systems.erp.rate_limit=2 "
        "--set 'systems.storefront.inventory_sync=\"realtime\"'"
    )


def test_a_sweep_file_gives_the_same_plan_as_the_flags(tmp_path: Path) -> None:
    study = tmp_path / "erp-capacity.toml"
    study.write_text(
        '[sweep]\nscenario = "flash-sale"\nseeds = [3, 4]\nset = ["workload.orders=50"]\n'
        '[sweep.grid]\n"systems.erp.rate_limit" = [1, 2, 4]\n',
        encoding="utf-8",
    )
    from_file = plan_from_command_line(str(study), [], None, [])
    from_flags = plan_from_command_line(
        "flash-sale", ["systems.erp.rate_limit=1,2,4"], "3,4", ["workload.orders=50"]
    )
    assert [(t.seed, t.overrides) for t in from_file.tasks] == [
        (t.seed, t.overrides) for t in from_flags.tasks
    ]
    study.write_text('[sweep]\nscenario = "flash-sale"\ngrids = {}\n', encoding="utf-8")
    with pytest.raises(SweepError, match=r"sweep\.grids: unknown key"):
        plan_from_command_line(str(study), [], None, [])


def test_the_readme_sweep_file_plans_every_point(tmp_path: Path) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    (block,) = [b for b in re.findall(r"```toml\n(.*?)```", readme, flags=re.S) if "[sweep]" in b]
    study = tmp_path / "erp-capacity.toml"
    study.write_text(block, encoding="utf-8")
    plan = plan_from_command_line(str(study), [], None, [])
    assert len(plan.tasks) == 3 * 2 * 3
    assert {task.scenario.core.rate_limits["erp"] for task in plan.tasks} == {1.8, 3.6}
    assert all(task.scenario.expect.max_drain == 7200 for task in plan.tasks)


def test_a_run_that_raises_is_an_error_row_with_its_replay(monkeypatch: pytest.MonkeyPatch) -> None:
    plan = sweep.plan_sweep(
        "baseline", [parse_axis("systems.erp.rate_limit=2")], "5,", ["workload.orders=50"]
    )

    def broken_runner(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the ERP mock fell over")

    monkeypatch.setattr(sweep, "run_scenario", broken_runner)
    outcome = run_task(plan.tasks[0])
    assert outcome["error"] is not None and "RuntimeError: the ERP mock fell over" in str(outcome["error"])
    row = sweep.task_row(plan.tasks[0], outcome)
    assert row["status"] == "error" and row["seed"] == 5
    assert (
        row["replay"]
        == "retailsim run baseline --seed 5 --set workload.orders=50 --set systems.erp.rate_limit=2"
    )


# ---- results, frontier and report from rows ---------------------------------------------------------


def summary(seed: int, passed: bool, drain: float, *, violated: str = "") -> dict[str, Any]:
    """A summary dict with the keys a sweep row reads (the runner's summary.json shape)."""
    return {
        "seed": seed,
        "passed": passed,
        "digest": f"d{seed}-{drain}",
        "sim_time_s": 100.0,
        "wall_time_s": 1.5,
        "events": 10,
        "orders": {"submitted": 50, "accepted": 50},
        "kpis": {"drain_time_s": drain, "acceptance_latency_p99_s": 0.1, "throttled_calls": int(drain)},
        "invariants": [
            {"name": "backlog_drained", "status": "violated" if violated else "held", "required": True},
            {"name": "dlq_accounted", "status": "not_exercised", "required": False},
        ],
        "replay": f"retailsim run flash-sale --seed {seed}",
    }


def result_of(
    axes: dict[str, list[Any]], outcomes: list[tuple[dict[str, Any], list[bool]]], seeds: int = 2
) -> SweepResult:
    """``outcomes``: per grid point (settings, passed per seed)."""
    rows = []
    for index, (settings, verdicts) in enumerate(outcomes):
        for seed, passed in enumerate(verdicts):
            summary_ = summary(seed, passed, drain=1000.0 / (index + 1), violated="" if passed else "x")
            rows.append(run_row(index, list(settings.items()), summary_))
    return SweepResult(
        "flash-sale",
        tuple((k, tuple(v)) for k, v in axes.items()),
        tuple(range(seeds)),
        tuple(rows),
        len(rows),
    )


def test_the_frontier_is_the_smallest_setting_that_passed_in_every_seed() -> None:
    key = "systems.erp.rate_limit"
    result = result_of(
        {key: [4, 1, 2]},
        [({key: 4}, [True, True]), ({key: 1}, [True, False]), ({key: 2}, [True, True])],
    )
    assert [p.label for p in frontier(result)] == [f"{key}=2"]
    nothing = result_of({key: [1, 2]}, [({key: 1}, [False, False]), ({key: 2}, [True, False])])
    assert frontier(nothing) == []


def test_a_point_missing_a_seed_does_not_meet_the_slas() -> None:
    key = "systems.erp.rate_limit"
    interrupted = result_of({key: [1, 2]}, [({key: 1}, [True]), ({key: 2}, [True, True])], seeds=2)
    assert [p.label for p in frontier(interrupted)] == [f"{key}=2"]


def test_on_two_axes_the_frontier_is_every_point_no_smaller_one_beats() -> None:
    erp, wms = "systems.erp.rate_limit", "systems.wms.concurrency"
    grid = {erp: [1, 2], wms: [1, 2]}
    result = result_of(
        grid,
        [
            ({erp: 1, wms: 1}, [False, False]),
            ({erp: 1, wms: 2}, [True, True]),
            ({erp: 2, wms: 1}, [True, True]),
            ({erp: 2, wms: 2}, [True, True]),
        ],
    )
    assert [p.label for p in frontier(result)] == [f"{erp}=1, {wms}=2", f"{erp}=2, {wms}=1"]
    words = result_of(
        {"systems.storefront.inventory_sync": ["batch", "realtime"]},
        [
            ({"systems.storefront.inventory_sync": "batch"}, [True, True]),
            ({"systems.storefront.inventory_sync": "realtime"}, [True, True]),
        ],
    )
    assert [p.label for p in frontier(words)] == [
        "systems.storefront.inventory_sync=batch"
    ]  # the order given


def test_results_parquet_has_a_row_per_run_and_csv_without_pyarrow(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pyarrow.parquet as pq

    key = "systems.erp.rate_limit"
    result = result_of({key: [1, 2.5]}, [({key: 1}, [True, False]), ({key: 2.5}, [True, True])])
    table = pq.read_table(write_results(result, tmp_path / "a")).to_pylist()
    assert len(table) == 4
    assert [row[key] for row in table] == [1.0, 1.0, 2.5, 2.5]  # one type per column
    assert table[1]["status"] == "failed" and table[1]["failing"] == "backlog_drained"
    assert table[0]["invariant.dlq_accounted"] == "not_exercised"
    assert {"kpi.drain_time_s", "orders.submitted", "digest", "replay"} <= set(table[0])
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # as if pyarrow were not installed
    path = write_results(result, tmp_path / "b")
    assert path.name == "results.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 1 + 4 and lines[0].startswith(f"point,{key},seed,status,digest")


def test_sweep_html_is_self_contained_with_frontier_charts_and_replays(tmp_path: Path) -> None:
    key = "systems.erp.rate_limit"
    result = result_of({key: [1, 2]}, [({key: 1}, [True, False]), ({key: 2}, [True, True])])
    paths = write_sweep_report(result, tmp_path)
    page = paths["html"].read_text(encoding="utf-8")
    frontier_section = page.split("<h2>Frontier</h2>", 1)[1].split("</section>", 1)[0]
    assert f"{key}=2" in frontier_section and f"{key}=1" not in frontier_section
    assert page.count("data:image/png;base64,") == len(paths["charts"]) >= 2  # drain time and throttled calls
    assert "retailsim run flash-sale --seed 1" in page.split("<h2>Failing runs</h2>", 1)[1]
    assert "<script" not in page and "http://" not in page and "https://" not in page
    assert render_sweep_html(result, []) == render_sweep_html(result, [])
