"""A sweep's results as plain data: one flat row per run, the grid points they make up, and the frontier.

What it is for: ``sim/sweep.py`` turns each run's summary dict into a row (:func:`run_row`, or
:func:`error_row` for a run that raised); :class:`SweepResult` holds them; :func:`write_results`
writes ``results.parquet`` (``results.csv`` where pyarrow is not installed); :func:`frontier` finds the
smallest settings that met the scenario's ``expect`` SLAs.

Rules it keeps:
- plain data only: standard library (pyarrow when present) and this package's own modules;
- a row has the grid point's index and settings (one column per grid key), the seed, ``status``
  (``passed`` | ``failed`` | ``error``), digest, ``orders.*``, every KPI (``kpi.*``), every invariant's
  status (``invariant.*``), ``failing`` (the invariants that failed the run), ``error`` and ``replay``;
- a grid point *meets the SLAs* only when every one of its seeds ran and passed — every invariant held,
  the backlog drained within ``expect.max_drain``, every required invariant was exercised. A run that
  raised, or was never run (Ctrl-C), is not a pass;
- deterministic: rows in (grid point, seed) order, columns in the order they first appear.
"""

from __future__ import annotations

import csv
import json
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from retailsim.reports.summary import JsonValue

Row = dict[str, JsonValue]
RESULTS_STEM: Final = "results"


def _cell(value: Any) -> JsonValue:
    """A grid value as a table cell: scalars as they are, a list or table as its JSON text."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return json.dumps(value, sort_keys=True)


def fails_run(invariant: Mapping[str, JsonValue]) -> bool:
    """A summary.json invariant that fails its run: violated, or required and not exercised."""
    return invariant["status"] == "violated" or (
        bool(invariant.get("required")) and invariant["status"] == "not_exercised"
    )


def run_row(point: int, settings: Sequence[tuple[str, Any]], summary: Mapping[str, Any]) -> Row:
    """The row of a finished run, from its summary.json dict."""
    row: Row = {"point": point, **{key: _cell(value) for key, value in settings}}
    row.update(
        seed=summary["seed"],
        status="passed" if summary["passed"] else "failed",
        digest=summary["digest"],
        sim_time_s=summary["sim_time_s"],
        wall_time_s=summary["wall_time_s"],
        events=summary["events"],
    )
    row.update({f"orders.{key}": value for key, value in summary["orders"].items()})
    row.update({f"kpi.{key}": value for key, value in summary["kpis"].items()})
    row.update({f"invariant.{inv['name']}": inv["status"] for inv in summary["invariants"]})
    row["failing"] = ", ".join(inv["name"] for inv in summary["invariants"] if fails_run(inv))
    row["error"] = None
    row["replay"] = summary["replay"]
    return row


def error_row(point: int, settings: Sequence[tuple[str, Any]], seed: int, error: str, replay: str) -> Row:
    """The row of a run that raised (or whose workers kept dying): no results, the reason and the replay."""
    return {
        "point": point,
        **{key: _cell(value) for key, value in settings},
        "seed": seed,
        "status": "error",
        "digest": None,
        "failing": "",
        "error": error,
        "replay": replay,
    }


@dataclass(frozen=True)
class PointResult:
    """One grid point over its seeds."""

    index: int
    settings: tuple[tuple[str, JsonValue], ...]
    rows: tuple[Row, ...]
    seeds_planned: int

    @property
    def label(self) -> str:
        return ", ".join(f"{key}={value}" for key, value in self.settings)

    def count(self, status: str) -> int:
        return sum(1 for row in self.rows if row["status"] == status)

    @property
    def meets_slas(self) -> bool:
        return len(self.rows) == self.seeds_planned and self.count("passed") == self.seeds_planned

    def median(self, column: str) -> float | None:
        values = [float(v) for row in self.rows if isinstance(v := row.get(column), int | float)]
        return statistics.median(values) if values else None


@dataclass(frozen=True)
class SweepResult:
    scenario: str
    axes: tuple[tuple[str, tuple[Any, ...]], ...]
    seeds: tuple[int, ...]
    rows: tuple[Row, ...]
    planned: int
    interrupted: bool = False

    @property
    def keys(self) -> list[str]:
        return [key for key, _values in self.axes]

    def points(self) -> list[PointResult]:
        """Every grid point that has at least one finished run, in grid order."""
        by_point: dict[int, list[Row]] = {}
        for row in self.rows:
            by_point.setdefault(int(row["point"]), []).append(row)  # type: ignore[arg-type]
        return [
            PointResult(index, tuple((key, rows[0][key]) for key in self.keys), tuple(rows), len(self.seeds))
            for index, rows in sorted(by_point.items())
        ]

    @property
    def unsuccessful(self) -> list[Row]:
        return [row for row in self.rows if row["status"] != "passed"]


def axis_order(values: Sequence[Any]) -> list[Any]:
    """An axis's values smallest first: numbers by value, anything else in the order given."""
    cells = [_cell(value) for value in values]
    numbers = [v for v in cells if isinstance(v, int | float) and not isinstance(v, bool)]
    return sorted(numbers) if len(numbers) == len(cells) else cells


def frontier(result: SweepResult) -> list[PointResult]:
    """The smallest settings that met the SLAs: grid points meeting them where no other point meeting
    them is at most as large on every axis (and smaller on one). On one axis: the smallest setting."""
    rank = {key: {value: i for i, value in enumerate(axis_order(values))} for key, values in result.axes}
    meeting = [p for p in result.points() if p.meets_slas]

    def ranks(point: PointResult) -> tuple[int, ...]:
        return tuple(rank[key][value] for key, value in point.settings)

    def dominated(point: PointResult) -> bool:
        mine = ranks(point)
        return any(
            other is not point and all(a <= b for a, b in zip(ranks(other), mine, strict=True))
            for other in meeting
        )

    return [point for point in meeting if not dominated(point)]


def _columns(rows: Sequence[Row]) -> list[str]:
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row))
    return list(columns)


def _typed(values: list[JsonValue]) -> list[JsonValue]:
    """One type per column, as parquet needs: ints beside floats become floats, any text makes text."""
    present = [v for v in values if v is not None]
    if any(isinstance(v, str) for v in present) and not all(isinstance(v, str) for v in present):
        return [None if v is None else str(v) for v in values]
    if any(isinstance(v, float) for v in present):
        return [None if v is None else float(v) for v in values]  # type: ignore[arg-type]
    return values


def write_results(result: SweepResult, out_dir: Path) -> Path:
    """``out_dir/results.parquet`` (``results.csv`` without pyarrow), one row per finished run."""
    out_dir.mkdir(parents=True, exist_ok=True)
    columns = _columns(result.rows)
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        path = out_dir / f"{RESULTS_STEM}.csv"
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns, restval="")
            writer.writeheader()
            writer.writerows(result.rows)
        return path
    path = out_dir / f"{RESULTS_STEM}.parquet"
    table = pa.table({column: _typed([row.get(column) for row in result.rows]) for column in columns})
    pq.write_table(table, path)
    return path
