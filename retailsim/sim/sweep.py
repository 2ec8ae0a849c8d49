"""Capacity sweeps: a grid of scenario settings × seeds, each point one ordinary seeded run.

What it is for: ``retailsim sweep`` and its Python API. :func:`plan_sweep` turns ``--grid key=v1,v2``
axes, seeds and fixed ``--set`` overrides into one :class:`RunTask` per (grid point, seed), validating
every grid point with the scenario loader first; :func:`run_sweep` runs the tasks on a Dask client
(see :mod:`retailsim.sim.cluster`) and hands back one flat row per run, in plan order.

Rules it keeps:
- bad input is a :class:`SweepError` naming the key and the reason, raised before any run starts;
- a task is a pure function of (resolved scenario, overrides, seed): it runs on any worker of any
  cluster and returns its summary dict (small, plain data), never the world, so the digest of a
  (grid point, seed) does not depend on how many workers ran the sweep or where;
- a run that raises is recorded as an ``error`` row with its replay command, not lost;
- rows come back ordered by (grid point, seed), never by completion order.
"""

from __future__ import annotations

import itertools
import random
import tomllib
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from retailsim.reports.summary import JsonValue, summary_dict
from retailsim.reports.sweep_results import Row, SweepResult, error_row, run_row
from retailsim.scenarios import ScenarioError, load, override
from retailsim.scenarios.schema import Scenario
from retailsim.sim.broken_cores import CORES
from retailsim.sim.faults import random_plan
from retailsim.sim.runner import replay_command, run_scenario

if TYPE_CHECKING:
    from distributed import Client

#: Keys a grid may not vary: the seed has ``--seeds``; the name labels every run of the sweep.
RESERVED_KEYS = {"seed": "vary seeds with --seeds", "name": "the sweep's runs share the scenario's name"}


class SweepError(ValueError):
    """A sweep could not be planned; the message names the key (or flag) and the reason."""


@dataclass(frozen=True)
class Axis:
    """One ``--grid`` key and the values it takes, in the order given."""

    key: str
    values: tuple[Any, ...]


@dataclass(frozen=True)
class GridPoint:
    """One combination of axis values: ``settings`` is ((key, value), ...) in axis order."""

    index: int
    settings: tuple[tuple[str, Any], ...]

    @property
    def overrides(self) -> list[str]:
        return [override(key, value) for key, value in self.settings]

    @property
    def label(self) -> str:
        return ", ".join(self.overrides)


@dataclass(frozen=True)
class RunTask:
    """Everything a worker needs for one run; the scenario is resolved (validated) on the client."""

    point: GridPoint
    seed: int
    scenario: Scenario
    source: str
    overrides: tuple[str, ...]
    core_name: str = "real"

    @property
    def replay(self) -> str:
        return replay_command(self.scenario, self.source, self.seed, list(self.overrides), self.core_name)


@dataclass(frozen=True)
class SweepPlan:
    source: str
    scenario: Scenario  # the scenario with the fixed overrides, before any grid point
    axes: tuple[Axis, ...]
    seeds: tuple[int, ...]
    fixed: tuple[str, ...] = ()
    core_name: str = "real"
    tasks: tuple[RunTask, ...] = field(default=(), repr=False)


def _grid_values(raw: str) -> list[Any]:
    """``1,2,4`` → [1, 2, 4]; ``batch,realtime`` → two strings; ``"a,b","c"`` → a TOML list's items.

    Read as the items of a TOML array when that parses (so a quoted string may hold a comma), else split
    on commas with each item read like a ``--set`` value (TOML, else a bare string)."""
    try:
        values: list[Any] = tomllib.loads(f"v = [{raw}]")["v"]
        return values
    except tomllib.TOMLDecodeError:
        items = []
        for item in raw.split(","):
            try:
                items.append(tomllib.loads(f"v = {item.strip()}")["v"])
            except tomllib.TOMLDecodeError:
                items.append(item.strip())
        return items


def parse_axis(spec: str) -> Axis:
    """One ``--grid KEY=V1,V2,...``."""
    if "=" not in spec:
        raise SweepError(f"--grid {spec!r}: expected KEY=V1,V2,..., e.g. systems.erp.rate_limit=1,2,4")
    key, raw = (part.strip() for part in spec.split("=", 1))
    return make_axis(key, _grid_values(raw))


def make_axis(key: str, values: Sequence[Any]) -> Axis:
    """An axis whose key can vary and whose values are given, each once."""
    if not key or not all(part.strip() for part in key.split(".")):
        raise SweepError(f"--grid {key!r}: empty key")
    if key in RESERVED_KEYS:
        raise SweepError(f"--grid {key}: cannot be a grid axis ({RESERVED_KEYS[key]})")
    if not values or any(value == "" for value in values):
        raise SweepError(f"--grid {key}: empty value; give one or more values separated by commas")
    repeated = sorted({str(v) for v in values if list(values).count(v) > 1})
    if repeated:
        raise SweepError(f"--grid {key}: value(s) {', '.join(repeated)} given twice")
    return Axis(key, tuple(values))


def parse_seeds(spec: str | int | Sequence[int], first: int) -> tuple[int, ...]:
    """``3`` → three seeds from ``first``; ``7,11,13`` (any comma) or a list → exactly those seeds."""
    text = spec if isinstance(spec, str | int) else ",".join(str(seed) for seed in spec) + ","
    text = str(text).strip()
    try:
        numbers = [int(item) for item in text.split(",") if item.strip()]
    except ValueError:
        raise SweepError(f"--seeds {text!r}: expected a count (3) or a list of seeds (7,11,13)") from None
    if "," in text:
        seeds = tuple(numbers)
    elif numbers and numbers[0] >= 1:
        seeds = tuple(range(first, first + numbers[0]))
    else:
        raise SweepError(f"--seeds {text}: needs at least one seed")
    if not seeds or any(seed < 0 for seed in seeds):
        raise SweepError(f"--seeds {text!r}: seeds are non-negative integers")
    if len(set(seeds)) != len(seeds):
        raise SweepError(f"--seeds {text!r}: a seed is given twice")
    return seeds


def _validated(source: str, overrides: list[str], what: str) -> Scenario:
    try:
        return load(source, overrides)
    except ScenarioError as exc:
        raise SweepError(f"{what}: {exc}") from None


def plan_sweep(
    source: str,
    axes: Sequence[Axis],
    seeds: str | int | Sequence[int] = 3,
    fixed: Sequence[str] = (),
    core_name: str = "real",
) -> SweepPlan:
    """Every (grid point, seed) of the sweep as a task, each point's scenario validated by the loader.

    ``axes`` come from :func:`parse_axis` (``--grid``) or :func:`make_axis`; ``seeds`` is a count from
    the scenario's own seed or a list; ``fixed`` are ``--set`` overrides applied before each point's."""
    if core_name not in CORES:
        raise SweepError(f"--core {core_name!r}: choose one of {', '.join(CORES)}")
    base = _validated(source, list(fixed), "scenario")
    if not axes:
        raise SweepError("--grid: give at least one KEY=V1,V2,... (e.g. systems.erp.rate_limit=1,2,4)")
    keys = [axis.key for axis in axes]
    if len(set(keys)) != len(keys):
        raise SweepError(f"--grid {next(k for k in keys if keys.count(k) > 1)}: given twice")
    for axis in axes:  # each value alone first, so the message names the very key and value at fault
        for value in axis.values:
            _validated(source, [*fixed, override(axis.key, value)], f"--grid {override(axis.key, value)}")
    run_seeds = parse_seeds(seeds, base.seed)
    tasks = []
    for index, combination in enumerate(itertools.product(*(axis.values for axis in axes))):
        point = GridPoint(index, tuple(zip(keys, combination, strict=True)))
        overrides = [*fixed, *point.overrides]
        scenario = _validated(source, overrides, f"--grid point {point.label}")
        tasks += [RunTask(point, seed, scenario, source, tuple(overrides), core_name) for seed in run_seeds]
    return SweepPlan(source, base, tuple(axes), run_seeds, tuple(fixed), core_name, tuple(tasks))


def fuzz_tasks(base: Scenario, runs: int, seed: int, max_faults: int, core_name: str = "real") -> list[RunTask]:
    """``retailsim fuzz``'s runs: run i has seed ``seed + i`` and a fault plan drawn from that seed alone
    (``random.Random("fuzz/<seed>")``), so a seed's plan never depends on the others or on the workers."""
    tasks = []
    for index in range(runs):
        run_seed = seed + index
        plan = random_plan(random.Random(f"fuzz/{run_seed}"), base.workload.duration, max_faults)
        resolved = base.model_copy(update={"faults": plan, "name": f"{base.name}-fuzz-{run_seed}"})
        tasks.append(RunTask(GridPoint(index, ()), run_seed, resolved, resolved.name, (), core_name))
    return tasks


def run_task(task: RunTask) -> dict[str, JsonValue]:
    """On a worker: one run, its summary.json dict back; a run that raises gives ``error`` and ``replay``."""
    try:
        run = run_scenario(
            task.scenario,
            task.seed,
            source=task.source,
            overrides=list(task.overrides),
            core_factory=CORES[task.core_name],
            core_name=task.core_name,
        )
        return summary_dict(run.record)
    except Exception as exc:
        where = traceback.extract_tb(exc.__traceback__)[-1]
        return {
            "error": f"{type(exc).__name__}: {exc} (at {Path(where.filename).name}:{where.lineno})",
            "replay": task.replay,
        }


def lost_outcome(task: RunTask, exc: BaseException) -> dict[str, JsonValue]:
    """The outcome of a task that never returned (its workers kept dying, or the cluster failed it)."""
    return {"error": f"{type(exc).__name__}: {exc}", "replay": task.replay}


def task_row(task: RunTask, outcome: dict[str, JsonValue]) -> Row:
    if "error" in outcome:
        return error_row(task.point.index, task.point.settings, task.seed, str(outcome["error"]), task.replay)
    return run_row(task.point.index, task.point.settings, outcome)


def run_sweep(plan: SweepPlan, client: Client, on_row: Callable[[Row], None] | None = None) -> SweepResult:
    """Run every task of ``plan`` on ``client``; rows in plan order (``interrupted``: Ctrl-C stopped it)."""

    from retailsim.sim.cluster import run_each

    def finished(index: int, outcome: dict[str, JsonValue]) -> None:
        if on_row is not None:
            on_row(task_row(plan.tasks[index], outcome))

    done = run_each(client, run_task, plan.tasks, finished, lambda i, exc: lost_outcome(plan.tasks[i], exc))
    rows = [task_row(plan.tasks[i], outcome) for i, outcome in sorted(done.results.items())]
    return SweepResult(
        scenario=plan.scenario.name,
        axes=tuple((axis.key, axis.values) for axis in plan.axes),
        seeds=plan.seeds,
        rows=tuple(rows),
        planned=len(plan.tasks),
        interrupted=done.interrupted,
    )


def read_sweep_file(path: Path) -> dict[str, Any]:
    """A ``[sweep]`` TOML file: ``scenario`` (a shipped name, or a file relative to this one), ``seeds``
    (a count or a list), ``set`` (a list of KEY=VALUE) and ``[sweep.grid]`` (key = [values]).

    Returns ``source``, ``axes``, ``seeds`` and ``set``."""
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise SweepError(f"{path}: cannot read the sweep file: {exc}") from None
    table = document.get("sweep")
    if not isinstance(table, dict):
        raise SweepError(f"{path}: no [sweep] table")
    unknown = sorted(set(table) - {"scenario", "seeds", "set", "grid"})
    if unknown:
        raise SweepError(f"{path}: sweep.{unknown[0]}: unknown key (known: scenario, seeds, set, grid)")
    scenario = table.get("scenario")
    if not isinstance(scenario, str):
        raise SweepError(f"{path}: sweep.scenario: a shipped scenario name or a TOML file is required")
    relative = path.parent / scenario
    source = str(relative) if scenario.endswith(".toml") and relative.exists() else scenario
    grid = table.get("grid", {})
    if not isinstance(grid, dict) or not all(isinstance(v, list) for v in grid.values()):
        raise SweepError(f"{path}: sweep.grid: expected a table of key = [values]")
    sets = table.get("set", [])
    if not isinstance(sets, list) or not all(isinstance(s, str) for s in sets):
        raise SweepError(f'{path}: sweep.set: expected a list of "KEY=VALUE" strings')
    axes = [make_axis(key, values) for key, values in grid.items()]
    return {"source": source, "axes": axes, "seeds": table.get("seeds", 3), "set": sets}


def is_sweep_file(source: str) -> bool:
    """A TOML file (not a shipped scenario name) with a ``[sweep]`` table."""
    path = Path(source)
    if path.suffix != ".toml" or not path.is_file():
        return False
    try:
        return "sweep" in tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return False  # the scenario loader says what is wrong with it


def plan_from_command_line(
    source: str, grid: Sequence[str], seeds: str | None, fixed: Sequence[str], core_name: str = "real"
) -> SweepPlan:
    """``retailsim sweep``'s arguments: a scenario with ``--grid``/``--seeds``/``--set``, or a sweep file,
    whose axes the ``--grid`` options join, whose seeds ``--seeds`` replaces and whose sets ``--set`` follow."""
    axes = [parse_axis(spec) for spec in grid]
    if not is_sweep_file(source):
        return plan_sweep(source, axes, seeds or 3, fixed, core_name)
    study = read_sweep_file(Path(source))
    return plan_sweep(
        study["source"], [*study["axes"], *axes], seeds or study["seeds"], [*study["set"], *fixed], core_name
    )
