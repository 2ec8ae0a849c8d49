"""Benchmark: runs per second of one fixed sweep with 2 Dask workers against 1, in the same process.

The machines here are shared and noisy, so the figure of merit is the ratio measured within one
invocation: the same sweep (baseline at ``--orders`` orders, ERP rate limit 2 and 5, ``--seeds`` seeds)
on a LocalCluster of 1 worker process, then of 2; each cluster is started and warmed up (every worker
has imported retailsim and run a tiny scenario) before its clock starts, so the ratio compares runs, not
process start-up. ``--fuzz-runs N`` also times an N-seed fuzz campaign (``retailsim fuzz``'s plans, the
baseline at 200 orders) on 1 and 2 workers. The goal on a 2-core machine is a ratio of at least 1.7.

    python benchmarks/bench_sweep.py                      # 8 runs of 500 orders, 1 vs 2 workers
    python benchmarks/bench_sweep.py --seeds 8 --orders 1000
    python benchmarks/bench_sweep.py --fuzz-runs 200      # and the 200-seed fuzz campaign
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Sequence

from retailsim.scenarios import load
from retailsim.sim.cluster import dask_client, run_each
from retailsim.sim.sweep import RunTask, fuzz_tasks, parse_axis, plan_sweep, run_task


def timed(workers: int, tasks: Sequence[RunTask], warm_up: RunTask) -> tuple[float, float, list[str]]:
    """(wall seconds, CPU seconds of the run function summed over tasks, digests) on ``workers`` processes."""
    with dask_client(workers=workers) as client:
        run_each(client, run_task, [warm_up] * workers)
        started = time.perf_counter()
        done = run_each(client, run_task, tasks)
        wall = time.perf_counter() - started
    outcomes = [done.results[i] for i in range(len(tasks))]
    errors = [str(o["error"]) for o in outcomes if "error" in o]
    if errors:
        raise SystemExit(f"a run raised: {errors[0]}")
    return wall, sum(float(str(o["wall_time_s"])) for o in outcomes), [str(o["digest"]) for o in outcomes]


def compare(label: str, tasks: Sequence[RunTask], warm_up: RunTask) -> float:
    one_wall, one_busy, one_digests = timed(1, tasks, warm_up)
    two_wall, two_busy, two_digests = timed(2, tasks, warm_up)
    if one_digests != two_digests:
        raise SystemExit(f"{label}: the digests differ between 1 and 2 workers")
    ratio = one_wall / two_wall
    print(f"{label}: {len(tasks)} runs, the same digests on 1 and 2 workers")
    print(
        f"  1 worker : {one_wall:7.1f} s wall  {len(tasks) / one_wall:6.3f} runs/s  (runs' own time {one_busy:.1f} s)"
    )
    print(
        f"  2 workers: {two_wall:7.1f} s wall  {len(tasks) / two_wall:6.3f} runs/s  (runs' own time {two_busy:.1f} s)"
    )
    print(f"  2 workers / 1 worker: x{ratio:.2f} runs per second (goal >= 1.7 on 2 idle cores)")
    return ratio


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--orders", type=int, default=500, help="orders per run of the sweep")
    parser.add_argument("--seeds", type=int, default=4, help="seeds per grid point (2 grid points)")
    parser.add_argument(
        "--fuzz-runs", type=int, default=0, help="also time a fuzz campaign of this many seeds"
    )
    args = parser.parse_args()
    print(f"cores: {os.cpu_count()}, load average now: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    plan = plan_sweep(
        "baseline", [parse_axis("systems.erp.rate_limit=2,5")], args.seeds, [f"workload.orders={args.orders}"]
    )
    warm_up = plan_sweep("baseline", [parse_axis("workload.orders=10")], "1,").tasks[0]
    compare(f"sweep baseline x{args.orders} orders", plan.tasks, warm_up)
    if args.fuzz_runs:
        base = load("baseline", ["workload.orders=200", 'expect.max_drain="2d"'])
        compare(f"fuzz campaign ({args.fuzz_runs} seeds)", fuzz_tasks(base, args.fuzz_runs, 1, 4), warm_up)
    print(f"load average after: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
