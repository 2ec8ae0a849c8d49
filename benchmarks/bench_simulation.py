"""Benchmark: the flash-sale scenario at several sizes, beside bare SimPy's event rate in the same run.

Machines here are noisy, so the figure of merit is a ratio measured in one run: simulated orders per
wall-second against the SimPy baseline's events per wall-second. Each size runs in its own process so
that its peak memory (max RSS) is its own.

    python benchmarks/bench_simulation.py                 # 20,000 and 100,000 orders
    python benchmarks/bench_simulation.py --orders 5000   # a quick look
    python benchmarks/bench_simulation.py --profile 20000 # cProfile top functions for one size
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time


def simpy_baseline(events: int = 500_000) -> float:
    """Events per second of bare SimPy: processes that only wait on timeouts."""
    import simpy

    env = simpy.Environment()

    def ticker(env: simpy.Environment, n: int):  # type: ignore[no-untyped-def]
        for _ in range(n):
            yield env.timeout(1.0)

    for _ in range(100):
        env.process(ticker(env, events // 100))
    started = time.perf_counter()
    env.run()
    return events / (time.perf_counter() - started)


def run_one(orders: int) -> dict[str, float]:
    from retailsim.scenarios import load
    from retailsim.sim.runner import run_scenario

    scenario = load("flash-sale", [f"workload.orders={orders}", "expect.max_drain=\"2d\""])
    started = time.perf_counter()
    run = run_scenario(scenario, 7)
    wall = time.perf_counter() - started
    record = run.record
    return {
        "orders": orders,
        "wall_s": round(wall, 2),
        "orders_per_wall_s": round(record.orders["submitted"] / wall, 1),
        "sim_hours": round(record.sim_time_s / 3600, 1),
        "trace_events": record.events,
        "deliveries": run.world.counts.deliveries,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "invariants_passed": all(r.passed for r in record.invariants),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, nargs="*", default=[20_000, 100_000])
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--profile", type=int, help="profile one size with cProfile")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_one(args.child)))
        return
    if args.profile:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        profiler.runcall(run_one, args.profile)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
        return
    baseline = simpy_baseline()
    print(f"bare SimPy: {baseline:,.0f} events/s")
    for orders in args.orders:
        out = subprocess.run(
            [sys.executable, __file__, "--child", str(orders)], check=True, capture_output=True, text=True
        ).stdout
        result = json.loads(out.strip().splitlines()[-1])
        ratio = result["orders_per_wall_s"] / baseline
        print(
            f"{orders:>7,} orders: {result['wall_s']:>7.1f} s wall, {result['orders_per_wall_s']:>8,.0f} orders/s "
            f"({ratio * 1e3:.2f} orders per 1000 SimPy events), {result['deliveries']:,} deliveries, "
            f"{result['sim_hours']} h simulated, peak RSS {result['peak_rss_mb']} MB, "
            f"invariants {'passed' if result['invariants_passed'] else 'FAILED'}"
        )


if __name__ == "__main__":
    main()
