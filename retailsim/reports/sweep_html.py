"""sweep.html: one self-contained page that answers a capacity question from a finished sweep.

What it is for: the frontier (the smallest settings that met the scenario's ``expect`` SLAs in every
seed), one line per grid point (runs, verdicts, median KPIs), each KPI against each grid axis (the median
over seeds, a band from the lowest to the highest seed, a red cross where the point missed the SLAs), and
every run that failed or raised with the command that replays it. :func:`write_sweep_report` also writes
``results.parquet`` (or CSV) and the chart PNGs beside it.

Rules it keeps:
- plain data only: reads a :class:`SweepResult`; never runs a simulation;
- self-contained and readable offline: the report's own CSS and chart embedding (``reports/html.py``),
  the charts drawn with the report's figure settings (``reports/charts.py``), no scripts, no links;
- every piece of text from the results goes through ``html.escape``;
- deterministic: no timestamps; the same result gives the same bytes (wall times aside, which are data).
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final, TypedDict

from retailsim.reports.charts import _figure, _save
from retailsim.reports.html import _CSS, _charts, _e, _num
from retailsim.reports.record import KPI_KEYS
from retailsim.reports.summary import JsonValue
from retailsim.reports.sweep_results import (
    PointResult,
    Row,
    SweepResult,
    axis_order,
    frontier,
    write_results,
)

SWEEP_FILENAME: Final = "sweep.html"
#: KPIs shown per grid point in the table (when the runs report them).
TABLE_KPIS: Final = ("drain_time_s", "acceptance_latency_p99_s", "erp_post_latency_p99_s", "throttled_calls")
#: KPIs measured on the wall clock: they say how busy the worker's machine was, not how the system behaved.
WALL_CLOCK_KPIS: Final = frozenset({"kpi.orders_per_wall_second"})
SLA_MEANING: Final = (
    "meets the SLAs: in every seed, every invariant held (so the backlog drained within the scenario's "
    "<code>expect.max_drain</code> after each fault episode and recovered promptly) and every invariant "
    "the scenario requires was exercised"
)


class SweepPaths(TypedDict):
    results: Path
    html: Path
    charts: list[Path]


def _numeric(value: JsonValue) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def charted_kpis(rows: Sequence[Row]) -> list[str]:
    """KPI columns with numbers that differ between runs (a flat line says nothing): contract KPIs first."""
    columns = sorted(
        {
            column
            for row in rows
            for column in row
            if column.startswith("kpi.") and column not in WALL_CLOCK_KPIS
        }
    )
    varying = [
        column
        for column in columns
        if len({v for row in rows if (v := _numeric(row.get(column))) is not None}) > 1
    ]
    leading = [f"kpi.{key}" for key in KPI_KEYS if f"kpi.{key}" in varying]
    return leading + [column for column in varying if column not in leading]


def _kpi_chart(result: SweepResult, key: str, kpi: str, path: Path) -> bool:
    """``kpi`` against axis ``key``: one line per setting of the other axes, median and min–max band."""
    points = result.points()
    order = axis_order(dict(result.axes)[key])
    numeric_axis = all(_numeric(value) is not None for value in order)
    others = [k for k in result.keys if k != key]
    lines: dict[tuple[Any, ...], list[tuple[float, list[float], bool]]] = {}
    for point in points:
        settings = dict(point.settings)
        values = [v for row in point.rows if (v := _numeric(row.get(kpi))) is not None]
        if not values:
            continue
        x = float(settings[key]) if numeric_axis else float(order.index(settings[key]))  # type: ignore[arg-type]
        group = tuple(settings[k] for k in others)
        lines.setdefault(group, []).append((x, sorted(values), point.meets_slas))
    if not lines:
        return False
    with _figure((6.0, 3.0)) as (fig, ax):
        for group, entries in lines.items():
            entries.sort(key=lambda entry: entry[0])
            xs = [x for x, _, _ in entries]
            medians = [statistics.median(values) for _, values, _ in entries]
            label = ", ".join(f"{k}={v}" for k, v in zip(others, group, strict=True)) or "median over seeds"
            (line,) = ax.plot(xs, medians, marker="o", label=label)
            ax.fill_between(
                xs,
                [v[0] for _, v, _ in entries],
                [v[-1] for _, v, _ in entries],
                color=line.get_color(),
                alpha=0.2,
            )
            missed = [(x, m) for (x, _, meets), m in zip(entries, medians, strict=True) if not meets]
            if missed:
                ax.scatter(
                    [x for x, _ in missed],
                    [m for _, m in missed],
                    marker="x",
                    color="#cf222e",
                    s=60,
                    zorder=3,
                )
        if not numeric_axis:
            ax.set_xticks(range(len(order)), [str(v) for v in order])
        ax.set_xlabel(key)
        ax.set_ylabel(kpi.removeprefix("kpi."))
        ax.legend(loc="best")
        _save(fig, path)
    return True


def write_sweep_charts(result: SweepResult, out_dir: Path) -> list[tuple[str, Path]]:
    """One PNG per (axis, varying KPI); returns (title, path) in display order."""
    charts = []
    for key in result.keys:
        for kpi in charted_kpis(result.rows):
            name = re.sub(r"[^a-z0-9]+", "_", f"sweep {kpi} by {key}".lower()).strip("_")
            path = out_dir / f"{name}.png"
            if _kpi_chart(result, key, kpi, path):
                title = f"{kpi.removeprefix('kpi.')} against {key} (median over seeds; band: lowest to highest seed; x: missed the SLAs)"
                charts.append((title, path))
    return charts


def _header(result: SweepResult) -> str:
    finished = len(result.rows)
    counts = {
        status: sum(1 for r in result.rows if r["status"] == status)
        for status in ("passed", "failed", "error")
    }
    state = "INTERRUPTED" if result.interrupted else "DONE"
    tone = "failed" if result.interrupted else "passed"
    axes = "; ".join(f"{key} = {', '.join(str(v) for v in values)}" for key, values in result.axes)
    meta = [
        ("grid", axes),
        ("seeds", ", ".join(str(seed) for seed in result.seeds)),
        (
            "runs",
            f"{finished} of {result.planned} finished: {counts['passed']} passed, {counts['failed']} failed, {counts['error']} raised",
        ),
    ]
    rows = "".join(f"<dt>{_e(name)}</dt><dd>{_e(value)}</dd>" for name, value in meta)
    note = (
        '<p class="muted">Ctrl-C stopped the sweep: these are the runs that had finished.</p>'
        if result.interrupted
        else ""
    )
    return (
        f"<header><h1>retailsim sweep · {_e(result.scenario)}</h1>"
        f'<p><span class="verdict {tone}">{state}</span></p>{note}<dl class="meta">{rows}</dl></header>'
    )


def _frontier(result: SweepResult, best: Sequence[PointResult]) -> str:
    if best:
        items = "".join(f"<li><code>{_e(point.label)}</code></li>" for point in best)
        verdict = f"<p>The smallest setting(s) that meet the SLAs:</p><ul>{items}</ul>"
    else:
        verdict = '<p class="status failed">No grid point met the SLAs in every seed.</p>'
    return f'<section><h2>Frontier</h2>{verdict}<p class="muted">A grid point {SLA_MEANING}.</p></section>'


def _points(result: SweepResult) -> str:
    kpis = [kpi for kpi in TABLE_KPIS if any(f"kpi.{kpi}" in row for row in result.rows)]
    head = "".join(
        f"<th>{_e(h)}</th>" for h in ["grid point", "runs", "passed", "failed", "raised", "meets SLAs"]
    )
    head += "".join(f"<th>median {_e(kpi)}</th>" for kpi in kpis)
    body = []
    for point in result.points():
        meets = (
            '<span class="status held">yes</span>'
            if point.meets_slas
            else '<span class="status violated">no</span>'
        )
        cells = [f"<td><code>{_e(point.label)}</code></td>"]
        cells += [
            f'<td class="num">{n}</td>'
            for n in (len(point.rows), point.count("passed"), point.count("failed"), point.count("error"))
        ]
        cells.append(f"<td>{meets}</td>")
        cells += [f'<td class="num">{_e(_num(point.median(f"kpi.{kpi}")))}</td>' for kpi in kpis]
        body.append(f"<tr>{''.join(cells)}</tr>")
    return f"<section><h2>Grid points</h2><table><tr>{head}</tr>{''.join(body)}</table></section>"


def _unsuccessful(result: SweepResult) -> str:
    rows = result.unsuccessful
    if not rows:
        return '<section><h2>Failing runs</h2><p class="muted">None: every run held every invariant.</p></section>'
    labels = {point.index: point.label for point in result.points()}
    body = "".join(
        f'<tr><td><code>{_e(labels[int(row["point"])])}</code></td><td class="num">{_e(row["seed"])}</td>'  # type: ignore[arg-type]
        f'<td><span class="status violated">{_e(row["status"])}</span></td>'
        f'<td>{_e(row["error"] or row["failing"])}</td><td><pre class="replay">{_e(row["replay"])}</pre></td></tr>'
        for row in rows
    )
    head = "<tr><th>grid point</th><th>seed</th><th>status</th><th>why</th><th>replay</th></tr>"
    return f"<section><h2>Failing runs</h2><table>{head}{body}</table></section>"


def render_sweep_html(result: SweepResult, charts: Sequence[tuple[str, Path]]) -> str:
    """The full text of sweep.html for ``result`` with the given ``(title, png_path)`` charts."""
    body = "".join(
        [
            _header(result),
            _frontier(result, frontier(result)),
            _points(result),
            _charts(charts),
            _unsuccessful(result),
        ]
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>retailsim sweep · {_e(result.scenario)}</title>"
        f"<style>{_CSS}</style></head><body>{body}</body></html>\n"
    )


def write_sweep_report(result: SweepResult, out_dir: Path) -> SweepPaths:
    """Write results.parquet (or .csv), the chart PNGs and sweep.html into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    results = write_results(result, out_dir)
    charts = write_sweep_charts(result, out_dir)
    html_path = out_dir / SWEEP_FILENAME
    html_path.write_bytes(render_sweep_html(result, charts).encode("utf-8"))
    return SweepPaths(results=results, html=html_path, charts=[path for _title, path in charts])
