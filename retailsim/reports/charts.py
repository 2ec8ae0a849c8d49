"""Charts of a finished run, drawn with matplotlib's Agg backend and written as PNG files.

What it is for: four pictures for report.html and for humans browsing the output directory —
orders per minute by stage (over the orders' whole life), backlog and queue depths, latency percentiles,
and the fault timeline (whose windows are also shaded on the two time charts; a window spanning most of
a chart is a strip along its top, not a tint). Counts on different scales get panels of their own.

Rules it keeps:
- plain data only: standard library, matplotlib and this package's own modules; never runs a simulation;
- Agg backend, selected before any drawing; figures are plain ``matplotlib.figure.Figure`` objects (not
  registered with pyplot), so nothing global keeps them alive, and each is cleared after saving;
- deterministic: matplotlib's default style (the user's matplotlibrc does not leak in), a fixed
  ``svg.hashsalt``, and PNG metadata without the software version, so the same record gives the same
  bytes;
- a chart whose data is empty is skipped, and a stale file of that name from an earlier run is removed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Final

import matplotlib

matplotlib.use("Agg")

import matplotlib.style
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from retailsim.reports.record import LATENCY_STAT_KEYS, THROUGHPUT_STAGES, FaultWindow, RunRecord, Series

ChartList = list[tuple[str, Path]]

FIGSIZE: Final = (9.0, 3.5)
DPI: Final = 100
#: When the largest latency bar is this many times the smallest positive one, use a log axis.
LOG_SCALE_RATIO: Final = 50.0
LATENCY_STATS: Final = tuple(stat for stat in LATENCY_STAT_KEYS if stat != "count")
#: Series whose peaks differ by more than this factor go on separate panels (each with its own axis).
SCALE_RATIO: Final = 10.0
MAX_PANELS: Final = 3
#: A fault window covering more than this share of a time chart is drawn as a strip, not a tint.
BACKGROUND_SHARE: Final = 0.5

THROUGHPUT_FILE: Final = "orders_per_minute.png"
LEVELS_FILE: Final = "queue_depths.png"
LATENCY_FILE: Final = "latency.png"
FAULTS_FILE: Final = "fault_timeline.png"

#: Colour-blind-safe palette (Okabe–Ito) for fault kinds, assigned in order of first appearance.
_FAULT_COLOURS: Final = (
    "#E69F00",
    "#CC79A7",
    "#56B4E9",
    "#D55E00",
    "#009E73",
    "#F0E442",
    "#0072B2",
    "#999999",
)


@contextmanager
def new_figure(figsize: tuple[float, float] = FIGSIZE, panels: int = 1) -> Iterator[tuple[Figure, list[Axes]]]:
    with (
        matplotlib.style.context("default"),
        matplotlib.rc_context(
            {
                "svg.hashsalt": "retailsim",
                "path.simplify": True,
                "axes.grid": True,
                "grid.alpha": 0.3,
                "axes.spines.top": False,
                "axes.spines.right": False,
                "legend.fontsize": "small",
                "legend.frameon": False,
            }
        ),
    ):
        fig = Figure(figsize=(figsize[0], figsize[1] * (1 + 0.6 * (panels - 1))), dpi=DPI)
        FigureCanvasAgg(fig)
        axes = [fig.add_subplot(panels, 1, 1)]
        axes += [fig.add_subplot(panels, 1, i + 1, sharex=axes[0]) for i in range(1, panels)]
        try:
            yield fig, axes
        finally:
            fig.clear()


def save_figure(fig: Figure, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=DPI, metadata={"Software": None})


def _fault_colours(faults: Sequence[FaultWindow]) -> dict[str, str]:
    colours: dict[str, str] = {}
    for fault in faults:
        if fault.kind not in colours:
            colours[fault.kind] = _FAULT_COLOURS[len(colours) % len(_FAULT_COLOURS)]
    return colours


def _time_unit(horizon_s: float) -> tuple[float, str]:
    """Seconds per axis unit and its name: minutes up to six hours, hours beyond."""
    return (3600.0, "h") if horizon_s > 6 * 3600 else (60.0, "min")


def _horizon_s(record: RunRecord, series: Sequence[Series] = ()) -> float:
    """How much simulated time the time charts show: the whole run, or its focus window when set."""
    horizon_s = max(
        [record.sim_time_s, *(f.end_s for f in record.faults), *(len(s.values) * s.bucket_s for s in series)]
    )
    return min(horizon_s, record.focus_s) if record.focus_s else horizon_s


def _life_s(record: RunRecord, series: Sequence[Series]) -> float:
    """The focus window, stretched to the end of the last bucket in which any of ``series`` counted
    something: the stage chart follows the orders' whole life (deliveries come days after a sale)."""
    last = max(
        ((i + 1) * s.bucket_s for s in series for i, v in enumerate(s.values) if math.isfinite(v) and v > 0),
        default=0.0,
    )
    return max(_horizon_s(record, series), min(last, record.sim_time_s or last))


def scale_groups(series: Sequence[Series], ratio: float = SCALE_RATIO) -> list[list[Series]]:
    """``series`` split into panels of comparable size, largest first: a series whose peak is under
    1/``ratio`` of its panel's largest starts the next panel (at most ``MAX_PANELS``; the last takes the
    rest; a series that stays at zero joins the last), so 3,000 webhooks in flight do not flatten a
    backlog of 40 into an invisible blip."""
    peaks = {s.name: max((v for v in s.values if math.isfinite(v)), default=0.0) for s in series}
    ordered = sorted(series, key=lambda s: -peaks[s.name])  # stable: equal peaks keep their order
    groups: list[list[Series]] = []
    for s in ordered:
        top = peaks[groups[-1][0].name] if groups else 0.0
        if groups and (len(groups) == MAX_PANELS or peaks[s.name] == 0 or peaks[s.name] * ratio >= top):
            groups[-1].append(s)
        else:
            groups.append([s])
    order = {s.name: i for i, s in enumerate(series)}
    return [sorted(group, key=lambda s: order[s.name]) for group in groups]


def _shade_faults(
    ax: Axes, faults: Sequence[FaultWindow], colours: dict[str, str], unit_s: float, horizon_s: float
) -> list[Patch]:
    """Shade each fault window (in axis units) and return one legend handle per kind. A window covering
    more than ``BACKGROUND_SHARE`` of the chart is a background condition, not an episode: it is drawn
    as a strip along the top, so it does not tint the whole plot and hide the episodes."""
    for fault in faults:
        start, end = fault.start_s / unit_s, fault.end_s / unit_s
        visible_s = min(fault.end_s, horizon_s) - min(fault.start_s, horizon_s)
        if visible_s > BACKGROUND_SHARE * horizon_s:
            ax.axvspan(start, end, ymin=0.96, ymax=1.0, color=colours[fault.kind], alpha=0.6, linewidth=0)
        elif end > start:
            ax.axvspan(start, end, color=colours[fault.kind], alpha=0.15, linewidth=0)
        else:
            ax.axvline(start, color=colours[fault.kind], alpha=0.6, linewidth=1.5, linestyle="--")
    return [Patch(color=colour, alpha=0.3, label=f"fault: {kind}") for kind, colour in colours.items()]


def _has_data(series: Sequence[Series]) -> bool:
    return any(any(math.isfinite(v) for v in s.values) for s in series)


def _time_chart(
    record: RunRecord,
    series: Sequence[Series],
    path: Path,
    title: str,
    default_unit: str,
    horizon_s: float | None = None,
) -> bool:
    """Series over simulated time, one panel per scale (``scale_groups``), fault windows shaded in each;
    ``horizon_s``: the time shown (default: the focus window)."""
    if not _has_data(series):
        return False
    horizon_s = horizon_s or _horizon_s(record, series)
    unit_s, unit = _time_unit(horizon_s)
    if horizon_s < record.sim_time_s:
        title = f"{title} (first {horizon_s / 3600:.1f} h of {record.sim_time_s / 3600:.1f} h)"
    groups = scale_groups([s for s in series if s.values])
    colours = _fault_colours(record.faults)
    with new_figure(panels=len(groups)) as (fig, axes):
        for ax, group in zip(axes, groups, strict=True):
            for s in group:
                # each value covers a whole bucket, so draw steps and close the last bucket
                times = [i * s.bucket_s / unit_s for i in range(len(s.values) + 1)]
                values = [*s.values, s.values[-1]]
                ax.plot(times, values, label=s.name.replace("_", " "), linewidth=1.4, drawstyle="steps-post")
            handles, _labels = ax.get_legend_handles_labels()
            faults = _shade_faults(ax, record.faults, colours, unit_s, horizon_s)
            units = {s.unit for s in group}
            ax.set_ylabel(units.pop() if len(units) == 1 else default_unit)
            ax.set_xlim(0, horizon_s / unit_s or 1.0)
            ax.set_ylim(bottom=0)
            ax.legend(handles=handles + (faults if ax is axes[0] else []), loc="upper left", bbox_to_anchor=(1.01, 1.0))
        axes[0].set_title(title, loc="left")
        axes[-1].set_xlabel(f"simulated time ({unit})")
        save_figure(fig, path)
    return True


def _in_stage_order(series: Sequence[Series]) -> list[Series]:
    rank = {name: i for i, name in enumerate(THROUGHPUT_STAGES)}
    return sorted(series, key=lambda s: rank.get(s.name, len(rank)))  # stable: others keep their order


def throughput_chart(record: RunRecord, path: Path) -> bool:
    """Orders per minute by stage. Returns False (and writes nothing) when there is no data."""
    stages = _in_stage_order(record.throughput)
    return _time_chart(
        record, stages, path, "Orders per minute by stage", "orders/min", horizon_s=_life_s(record, stages)
    )


def levels_chart(record: RunRecord, path: Path) -> bool:
    """Backlogs and queue depths over simulated time. False when there is no data."""
    return _time_chart(record, record.levels, path, "Backlog and queue depths", "depth")


def _latency_values(record: RunRecord) -> dict[str, list[float]]:
    """Stage → [p50, p90, p99, max] in seconds, NaN where unknown; stages without any value are dropped."""
    table: dict[str, list[float]] = {}
    for stage, stats in record.latency.items():
        row = []
        for stat in LATENCY_STATS:
            value = stats.get(stat)
            row.append(float(value) if value is not None and math.isfinite(value) else math.nan)
        if any(not math.isnan(v) for v in row):
            table[stage] = row
    return table


def latency_chart(record: RunRecord, path: Path) -> bool:
    """Grouped bars p50/p90/p99/max per stage (seconds; log axis when the range is wide)."""
    table = _latency_values(record)
    if not table:
        return False
    known = [v for row in table.values() for v in row if not math.isnan(v)]
    positive = [v for v in known if v > 0]
    log_scale = bool(positive) and max(positive) / min(positive) >= LOG_SCALE_RATIO
    width = 0.8 / len(LATENCY_STATS)
    with new_figure() as (fig, (ax,)):
        for i, stat in enumerate(LATENCY_STATS):
            xs = [g + (i - (len(LATENCY_STATS) - 1) / 2) * width for g in range(len(table))]
            heights = [row[i] for row in table.values()]
            bars = ax.bar(xs, [0.0 if math.isnan(h) else h for h in heights], width, label=stat)
            ax.bar_label(bars, labels=["n/a" if math.isnan(h) else f"{h:.3g}" for h in heights], fontsize=7)
        ax.set_xticks(range(len(table)), [stage.replace("_", " ") for stage in table])
        ax.set_ylabel("seconds" + (" (log scale)" if log_scale else ""))
        if log_scale:
            ax.set_yscale("log")
        ax.set_title("Latency percentiles", loc="left")
        ax.grid(axis="x", visible=False)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
        save_figure(fig, path)
    return True


def fault_timeline_chart(record: RunRecord, path: Path) -> bool:
    """One row per fault window ("target · kind"), over the same window as the time charts.

    A window that runs on past the chart's right edge is cut there and labelled with its real end, so
    a five-day background fault neither hides the short episodes nor pretends to stop early.
    """
    if not record.faults:
        return False
    colours = _fault_colours(record.faults)
    horizon_s = _horizon_s(record)
    unit_s, unit = _time_unit(horizon_s)
    horizon = horizon_s / unit_s or 1.0
    min_width = horizon * 0.004  # an instantaneous fault (a crash) still shows as a sliver
    rows = len(record.faults)
    with new_figure((FIGSIZE[0], max(2.0, 1.2 + 0.32 * rows))) as (fig, (ax,)):
        for row, fault in enumerate(record.faults):
            start = fault.start_s / unit_s
            end = fault.end_s / unit_s
            width = max(min(end, horizon) - start, min_width)
            ax.barh(row, width, left=start, height=0.6, color=colours[fault.kind], alpha=0.85)
            if end > horizon:
                ax.text(
                    horizon, row, f"until {fault.end_s / 3600:.0f} h ", ha="right", va="center", fontsize=7
                )
        labels = [f"{fault.target} · {fault.kind}" for fault in record.faults]
        ax.set_yticks(range(rows), labels, fontsize=8)
        ax.set_ylim(rows - 0.5, -0.5)
        ax.set_xlim(0, horizon)
        ax.set_xlabel(f"simulated time ({unit})")
        ax.set_title("Fault timeline", loc="left")
        ax.grid(axis="y", visible=False)
        save_figure(fig, path)
    return True


_CHARTS: Final[tuple[tuple[str, str, Callable[[RunRecord, Path], bool]], ...]] = (
    ("Orders per minute by stage", THROUGHPUT_FILE, throughput_chart),
    ("Backlog and queue depths", LEVELS_FILE, levels_chart),
    ("Latency percentiles", LATENCY_FILE, latency_chart),
    ("Fault timeline", FAULTS_FILE, fault_timeline_chart),
)


def write_charts(record: RunRecord, out_dir: Path) -> ChartList:
    """Draw every chart that has data into ``out_dir``; return ``(title, path)`` in display order."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written: ChartList = []
    for title, filename, draw in _CHARTS:
        path = out_dir / filename
        if draw(record, path):
            written.append((title, path))
        else:
            path.unlink(missing_ok=True)
    return written
