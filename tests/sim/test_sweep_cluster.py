"""Sweeps and fuzz campaigns on real Dask clusters give the digests of single runs, however many workers.

Three engines run the same tiny sweep (baseline, 50 orders, ERP rate limit 1 and 4, seeds 3 and 4) and
each must give, per (grid point, seed), the digest that one in-process run gives: a LocalCluster of two
worker processes (the Python API; one of them killed mid-sweep), one worker (the CLI), and a separately started ``dask scheduler``
with one ``dask worker`` on loopback (the CLI's ``--scheduler``). Clusters are closed and their processes
gone when each test ends; waits are bounded polls, never fixed sleeps.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pyarrow.parquet as pq
import pytest

from retailsim.sim.cluster import dask_client, run_each
from retailsim.sim.sweep import SweepPlan, parse_axis, plan_sweep, run_sweep, run_task

CLI = [sys.executable, "-m", "retailsim.sim.cli"]
SWEEP_ARGS = [
    "baseline",
    "--grid",
    "systems.erp.rate_limit=1,4",
    "--seeds",
    "3,4",
    "--set",
    "workload.orders=50",
]
DEADLINE_S = 120


def tiny_plan() -> SweepPlan:
    return plan_sweep("baseline", [parse_axis("systems.erp.rate_limit=1,4")], "3,4", ["workload.orders=50"])


@pytest.fixture(scope="module")
def single_run_digests() -> dict[tuple[int, int], str]:
    """(grid point, seed) → digest, each from one run in this process, as ``retailsim run`` would do it."""
    digests = {}
    for task in tiny_plan().tasks:
        summary = run_task(task)
        digests[task.point.index, task.seed] = str(summary["digest"])
    assert len(set(digests.values())) > 1, "the grid points should differ, or the comparison proves little"
    return digests


def digests_of(rows: list[dict[str, object]]) -> dict[tuple[int, int], str]:
    return {(int(str(row["point"])), int(str(row["seed"]))): str(row["digest"]) for row in rows}


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)  # a poll interval, bounded by the deadline


def test_a_local_cluster_of_two_processes_gives_the_single_run_digests_even_when_a_worker_dies(
    single_run_digests: dict[tuple[int, int], str],
) -> None:
    plan = tiny_plan()
    seen: list[int] = []
    with dask_client(workers=2) as client:
        workers = client.scheduler_info()["workers"]
        assert len(workers) == 2
        pids = list(client.run(os.getpid).values())
        assert os.getpid() not in pids and len(set(pids)) == 2  # two processes, not threads of this one

        def kill_a_worker_after_the_first_row(row: dict[str, object]) -> None:
            seen.append(int(str(row["point"])))
            if len(seen) == 1:  # both workers are busy now: one dies mid-task, Dask runs its task again
                os.kill(pids[1], signal.SIGKILL)

        result = run_sweep(plan, client, on_row=kill_a_worker_after_the_first_row)
    assert not result.interrupted and len(result.rows) == len(plan.tasks) == len(seen)
    assert [(row["point"], row["seed"]) for row in result.rows] == [(0, 3), (0, 4), (1, 3), (1, 4)]
    assert [row["status"] for row in result.rows if row["status"] == "error"] == []
    assert digests_of(list(result.rows)) == single_run_digests
    wait_until(lambda: not any(psutil.pid_exists(pid) for pid in pids), "the worker processes to exit")


def test_ctrl_c_cancels_the_rest_and_keeps_what_finished() -> None:
    plan = tiny_plan()
    arrived: list[int] = []

    def interrupt_after_the_first(index: int, outcome: object) -> None:
        arrived.append(index)
        raise KeyboardInterrupt  # as Ctrl-C lands in the client while it waits for results

    with dask_client(workers=1) as client:
        done = run_each(client, run_task, plan.tasks, interrupt_after_the_first)
        assert done.interrupted
        assert list(done.results) == arrived and len(arrived) == 1  # the rest were cancelled, not awaited


def retailsim(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], cwd=cwd, capture_output=True, text=True, timeout=300, check=False, env=env
    )


def test_the_cli_with_one_worker_writes_results_and_the_same_digests(
    single_run_digests: dict[tuple[int, int], str], tmp_path: Path
) -> None:
    result = retailsim("sweep", *SWEEP_ARGS, "--workers", "1", "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert result.returncode in (0, 1), result.stdout + result.stderr
    rows = pq.read_table(tmp_path / "out" / "results.parquet").to_pylist()
    assert digests_of(rows) == single_run_digests
    assert "frontier: " in result.stdout
    page = (tmp_path / "out" / "sweep.html").read_text(encoding="utf-8")
    assert "<h2>Frontier</h2>" in page and "data:image/png;base64," in page


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def separate_cluster(tmp_path: Path) -> Iterator[str]:
    """``dask scheduler`` and one ``dask worker`` as their own processes on loopback; killed at the end."""
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    dask = str(Path(sys.executable).with_name("dask"))
    logs = tmp_path / "dask.log"
    with logs.open("w") as log:
        processes = [
            subprocess.Popen(
                [dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        ]
        try:
            processes.append(
                subprocess.Popen(
                    [
                        dask,
                        "worker",
                        address,
                        "--nworkers",
                        "1",
                        "--nthreads",
                        "1",
                        "--host",
                        "127.0.0.1",
                        "--no-dashboard",
                    ],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=tmp_path,
                )
            )
            with dask_client(scheduler=address) as client:
                client.wait_for_workers(1, timeout=DEADLINE_S)  # ready: the worker has joined
            yield address
        finally:
            for process in reversed(processes):
                process.terminate()
            for process in reversed(processes):
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=30)


def test_a_separate_scheduler_and_worker_give_the_same_digests(
    single_run_digests: dict[tuple[int, int], str], separate_cluster: str, tmp_path: Path
) -> None:
    result = retailsim(
        "sweep", *SWEEP_ARGS, "--scheduler", separate_cluster, "--out", str(tmp_path / "out"), cwd=tmp_path
    )
    assert result.returncode in (0, 1), result.stdout + result.stderr
    rows = pq.read_table(tmp_path / "out" / "results.parquet").to_pylist()
    assert digests_of(rows) == single_run_digests


def test_fuzz_on_two_workers_prints_what_fuzz_in_one_process_prints(tmp_path: Path) -> None:
    args = ["fuzz", "--runs", "3", "--seed", "9", "--orders", "50", "--out", str(tmp_path / "plans")]
    alone = retailsim(*args, cwd=tmp_path)
    spread = retailsim(*args, "--workers", "2", cwd=tmp_path)
    assert alone.returncode == spread.returncode == 0, alone.stdout + spread.stdout + spread.stderr
    assert spread.stdout == alone.stdout  # the same plans, the same verdicts, in seed order
    assert "3 of 3 runs held every invariant" in spread.stdout
