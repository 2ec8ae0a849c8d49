"""Where a run's memory is at its end, by the ledger that keeps it: objects walked from the world's roots.

``memory_by_file.py`` charges memory to the line that allocated it, which misleads for small containers (a
dict's key table comes from a free list; an int is charged to the line that computed it). This walks the
live objects instead: from each of the memory store's tables (its aggregates by kind), each mock's
attributes and the runtime's ledgers, through ``gc.get_referents``, counting every object once — the first
root that reaches it is charged — with ``sys.getsizeof`` (the objects' own sizes, as allocated). What the
run shares by design (the SimPy environment, the random streams, the scenario, the catalogue) is walked
first and charged to nobody. Prints KB per submitted order per root, with the largest types inside.

    python benchmarks/memory_by_ledger.py 3000
    python benchmarks/memory_by_ledger.py 3000 --top 60
"""

from __future__ import annotations

import argparse
import gc
import sys
import types
from collections import Counter
from typing import Any

from bench_simulation import SCENARIO, overrides

_NOT_DATA = (
    type,
    types.ModuleType,
    types.FunctionType,
    types.BuiltinFunctionType,
    types.MethodType,
    types.CodeType,
)


class Walk:
    """Sizes of the objects reachable from one root after another, each object counted once."""

    def __init__(self) -> None:
        self.seen: set[int] = set()

    def size(self, root: Any, by_type: Counter[str]) -> int:
        total, stack = 0, [root]
        while stack:
            obj = stack.pop()
            if id(obj) in self.seen or isinstance(obj, _NOT_DATA):
                continue
            self.seen.add(id(obj))
            size = sys.getsizeof(obj)
            total += size
            by_type[type(obj).__name__] += size
            stack.extend(gc.get_referents(obj))
        return total


def _attributes(obj: Any) -> list[tuple[str, Any]]:
    if hasattr(obj, "__dict__"):
        return list(vars(obj).items())
    return [(name, getattr(obj, name)) for name in getattr(type(obj), "__slots__", ()) if hasattr(obj, name)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("orders", type=int)
    parser.add_argument("--top", type=int, default=40)
    args = parser.parse_args()

    from retailsim.scenarios import load
    from retailsim.sim.world import World

    scenario = load(SCENARIO, overrides(args.orders, False))
    gc.disable()
    world = World(scenario, 7)
    world.run()
    submitted = world.counts.submitted

    walk = Walk()
    walk.seen.add(id(world))  # reached only through its attributes (a fault plan's targets are the world)
    for shared in (world.env, world.streams, world.scenario, world.catalog):
        walk.size(shared, Counter())
    roots: list[tuple[str, Any]] = []
    store = world.store
    for kind, aggregates in sorted(getattr(store, "_docs", {}).items()):
        roots.append((f"store aggregates {kind}", aggregates))
    roots += [(f"store.{name}", value) for name, value in _attributes(store) if name != "_docs"]
    for name, system in world.systems.items():
        roots += [(f"{name}.{attribute}", value) for attribute, value in _attributes(system)]
    roots += [(f"world.{name}", value) for name, value in _attributes(world)]

    rows = []
    for name, root in roots:
        by_type: Counter[str] = Counter()
        rows.append((walk.size(root, by_type), name, by_type))
    rows.sort(key=lambda row: -row[0])
    total = sum(row[0] for row in rows)
    print(
        f"{args.orders:,} orders ({submitted:,} submitted): {total / 2**20:.1f} MB walked from the ledgers, "
        f"{total / 1024 / submitted:.2f} KB per submitted order"
    )
    print(f"{'KB/order':>8}  root  (largest types, KB/order)")
    for size, name, by_type in rows[: args.top]:
        types_inside = ", ".join(f"{t} {s / 1024 / submitted:.2f}" for t, s in by_type.most_common(4))
        print(f"{size / 1024 / submitted:8.2f}  {name}  ({types_inside})")


if __name__ == "__main__":
    main()
