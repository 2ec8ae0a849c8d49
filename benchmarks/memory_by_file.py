"""Where a run's memory is at its end: the live Python heap by the source file that allocated it.

The grown flash sale of ``bench_simulation.py`` at one size, under ``tracemalloc`` (slowed several times;
read shares and KB per order, not seconds). What is still allocated when the run ends is what a bigger run
keeps per order: the mocks' ledgers, the core's store, the runtime's ledgers and audits. The cyclic
collector is paused as ``run_scenario`` pauses it.

    python benchmarks/memory_by_file.py 3000          # the top files
    python benchmarks/memory_by_file.py 3000 --lines  # and the top allocating lines
"""

from __future__ import annotations

import argparse
import gc
import os
import tracemalloc

from bench_simulation import SCENARIO, overrides


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("orders", type=int)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--lines", action="store_true", help="also the top allocating lines")
    args = parser.parse_args()

    from retailsim.scenarios import load
    from retailsim.sim.world import World

    scenario = load(SCENARIO, overrides(args.orders, False))
    gc.disable()
    tracemalloc.start(1)
    world = World(scenario, 7)
    world.run()
    snapshot = tracemalloc.take_snapshot()
    submitted = world.counts.submitted
    by_file = snapshot.statistics("filename")
    total = sum(s.size for s in by_file)
    root = os.getcwd() + os.sep
    print(
        f"{args.orders:,} orders ({submitted:,} submitted): {total / 2**20:.1f} MB live at the end, "
        f"{total / 1024 / submitted:.1f} KB per submitted order"
    )
    print(f"{'MB':>7} {'KB/order':>8} {'share':>6}  file")
    for stat in by_file[: args.top]:
        name = stat.traceback[0].filename.replace(root, "")
        print(f"{stat.size / 2**20:7.1f} {stat.size / 1024 / submitted:8.2f} {stat.size / total:6.1%}  {name}")
    if args.lines:
        print(f"\n{'MB':>7} {'KB/order':>8} {'blocks':>9}  line")
        for stat in snapshot.statistics("lineno")[: args.top]:
            frame = stat.traceback[0]
            name = frame.filename.replace(root, "")
            print(f"{stat.size / 2**20:7.1f} {stat.size / 1024 / submitted:8.2f} {stat.count:9d}  {name}:{frame.lineno}")


if __name__ == "__main__":
    main()
