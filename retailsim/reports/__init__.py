"""reports: turns a finished run into summary.json, PNG charts and one self-contained report.html.

What it is for: ``sim/`` hands over a :class:`RunRecord` (plain frozen data) and calls
:func:`write_report`; CI reads summary.json, humans read report.html. ``flows``/``flowsvg`` turn the
run's trace lines into per-order message-flow diagrams (report.html, and a live server's /ops pages);
``compare`` puts two finished runs' outputs on one page.

Rules it keeps:
- reads plain data only: imports the standard library, matplotlib (Agg backend) and its own modules,
  nothing else of the project; it never runs a simulation;
- deterministic: the same record gives byte-identical summary.json, charts and report.html;
- an invariant that checked nothing is never reported as a pass.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypedDict

from retailsim.reports.charts import write_charts
from retailsim.reports.html import render_html, write_html
from retailsim.reports.record import FaultWindow, FlowMessage, InvariantResult, OrderFlow, RunRecord, Series
from retailsim.reports.summary import summary_dict, summary_json, write_summary

__all__ = [
    "FaultWindow",
    "FlowMessage",
    "InvariantResult",
    "OrderFlow",
    "ReportPaths",
    "RunRecord",
    "Series",
    "render_html",
    "summary_dict",
    "summary_json",
    "write_charts",
    "write_html",
    "write_report",
    "write_summary",
]


class ReportPaths(TypedDict):
    """Where :func:`write_report` put its files."""

    summary: Path
    html: Path
    charts: list[Path]


def write_report(record: RunRecord, out_dir: Path) -> ReportPaths:
    """Create ``out_dir`` and write summary.json, the charts (PNG) and report.html into it."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = write_summary(record, out_dir)
    charts = write_charts(record, out_dir)
    report = write_html(record, charts, out_dir)
    return ReportPaths(summary=summary, html=report, charts=[path for _title, path in charts])
