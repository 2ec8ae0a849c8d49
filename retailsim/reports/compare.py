"""Two finished runs side by side: ``retailsim compare DIR_A DIR_B`` writes one self-contained page.

What it is for: "what changed?" — the realtime and the batch inventory feed of the same flash sale, a
fix against the broken core, two seeds. The page shows both runs' verdicts, order funnels, KPIs (with
B − A), latency, invariant statuses (changes marked) and each chart of the two runs next to each other.

Rules it keeps:
- reads only what ``retailsim run`` wrote: each directory's summary.json (the stable contract) and its
  PNG charts; it never runs a simulation;
- self-contained like report.html: charts embedded as ``data:`` URIs, inline CSS, no script, every text
  through ``html.escape``; deterministic: the same two directories give the same bytes;
- a directory without summary.json is refused with :class:`CompareError`, naming it.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from retailsim.reports.charts import FAULTS_FILE, LATENCY_FILE, LEVELS_FILE, THROUGHPUT_FILE
from retailsim.reports.html import CSS, duration_text, esc, num
from retailsim.reports.summary import SUMMARY_FILENAME

CHARTS: Final = (
    ("Orders per minute by stage", THROUGHPUT_FILE),
    ("Backlog and queue depths", LEVELS_FILE),
    ("Latency percentiles", LATENCY_FILE),
    ("Fault timeline", FAULTS_FILE),
)
_COMPARE_CSS: Final = """
body { max-width: 1400px; }
.pair { display: grid; grid-template-columns: 1fr 1fr; gap: 12px; }
td.changed, tr.changed td { background: var(--warn-bg); }
"""


_CHANGED: Final = ' class="changed"'


class CompareError(ValueError):
    """A directory that holds no run to compare."""


@dataclass(frozen=True)
class RunDir:
    """One run's output directory and its summary.json."""

    path: Path
    summary: dict[str, Any]

    @classmethod
    def read(cls, path: Path) -> RunDir:
        source = path / SUMMARY_FILENAME
        try:
            summary = json.loads(source.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise CompareError(f"{path}: no readable {SUMMARY_FILENAME} (is it a 'retailsim run' --out?): {exc}") from None
        if not isinstance(summary, dict) or "scenario" not in summary:
            raise CompareError(f"{source}: not a retailsim summary")
        return cls(path, summary)

    @property
    def name(self) -> str:
        return f"{self.summary.get('scenario')} (seed {self.summary.get('seed')}, {self.path.name})"

    def section(self, key: str) -> Mapping[str, Any]:
        value = self.summary.get(key)
        return value if isinstance(value, dict) else {}


def _difference(key: str, a: object, b: object) -> str:
    """B − A in the row's unit, and relative to A: "+14 (+0.4%)", "−120 ms (−9.1%)", "=" when equal."""
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (a, b)):
        return ""
    assert isinstance(a, int | float) and isinstance(b, int | float)
    delta = b - a
    if delta == 0 or not math.isfinite(delta):
        return "=" if delta == 0 else ""
    share = f" ({delta / a:+.1%})".replace("-", "−") if a else ""
    return f"{'+' if delta > 0 else '−'}{_value(key, abs(delta))}{share}"


def _value(key: str, value: object) -> str:
    if key.endswith("_s") and isinstance(value, int | float) and not isinstance(value, bool):
        return duration_text(value)
    if key.endswith("_share") and isinstance(value, float):
        return f"{value:.1%}"
    return num(value)


def _rows(keys: Iterable[str], a: Mapping[str, Any], b: Mapping[str, Any]) -> str:
    rows = []
    for key in keys:
        left, right = a.get(key), b.get(key)
        rows.append(
            f"<tr{_CHANGED if left != right else ''}><th>{esc(key.replace('_', ' '))}</th><td class=\"num\">{esc(_value(key, left))}</td>"
            f'<td class="num">{esc(_value(key, right))}</td><td class="num">{esc(_difference(key, left, right))}</td></tr>'
        )
    return "".join(rows)


def _union(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[str]:
    return [*a, *(key for key in b if key not in a)]


def _table(title: str, a: RunDir, b: RunDir, key: str) -> str:
    left, right = a.section(key), b.section(key)
    return (
        f"<h3>{esc(title)}</h3><table><thead><tr><th></th><th>A</th><th>B</th><th>B − A</th></tr></thead>"
        f"<tbody>{_rows(_union(left, right), left, right)}</tbody></table>"
    )


def _latency(a: RunDir, b: RunDir) -> str:
    flat = [
        {f"{stage} {stat}_s": value for stage, stats in run.section("latency").items() if isinstance(stats, dict)
         for stat, value in stats.items() if stat != "count"}
        for run in (a, b)
    ]
    return (
        "<h3>Latency</h3><table><thead><tr><th></th><th>A</th><th>B</th><th>B − A</th></tr></thead>"
        f"<tbody>{_rows(_union(*flat), *flat)}</tbody></table>"
    )


def _status(statuses: Mapping[str, str], name: str) -> str:
    status = statuses.get(name, "absent")
    return f'<td><span class="status {esc(status.replace("_", "-"))}">{esc(status.replace("_", " "))}</span></td>'


def _invariants(a: RunDir, b: RunDir) -> str:
    left, right = (
        {str(inv.get("name")): str(inv.get("status")) for inv in run.summary.get("invariants", []) if isinstance(inv, dict)}
        for run in (a, b)
    )
    rows = "".join(
        f"<tr{_CHANGED if left.get(name) != right.get(name) else ''}><th><code>{esc(name)}</code></th>"
        f"{_status(left, name)}{_status(right, name)}</tr>"
        for name in _union(left, right)
    )
    return f"<h3>Invariants</h3><table><thead><tr><th></th><th>A</th><th>B</th></tr></thead><tbody>{rows}</tbody></table>"


def _chart(path: Path, title: str) -> str:
    if not path.is_file():
        return '<p class="muted">no chart in this run</p>'
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img alt="{esc(title)}" src="data:image/png;base64,{data}">'


def charts_section(a: RunDir, b: RunDir) -> str:
    figures = [
        f"<figure><figcaption>{esc(title)} — A left, B right</figcaption>"
        f'<div class="pair">{_chart(a.path / name, f"{title}, A")}{_chart(b.path / name, f"{title}, B")}</div></figure>'
        for title, name in CHARTS
        if (a.path / name).is_file() or (b.path / name).is_file()
    ]
    return f"<section><h2>Charts</h2>{''.join(figures)}</section>" if figures else ""


def _header(a: RunDir, b: RunDir) -> str:
    def verdict(run: RunDir) -> str:
        state = "passed" if run.summary.get("passed") else "failed"
        return f'<span class="status {state}">{state}</span>'

    rows = "".join(
        f"<tr><th>{esc(label)}</th><td>{cell(a)}</td><td>{cell(b)}</td></tr>"
        for label, cell in (
            ("run", lambda run: esc(run.name)),
            ("verdict", verdict),
            ("digest", lambda run: f"<code>{esc(run.summary.get('digest'))}</code>"),
            ("replay", lambda run: f"<code>{esc(run.summary.get('replay'))}</code>"),
            ("simulated time", lambda run: esc(duration_text(run.summary.get("sim_time_s")))),
            ("events", lambda run: esc(num(run.summary.get("events")))),
        )
    )
    return (
        f"<header><h1>retailsim · compare</h1><p class=\"muted\">A: {esc(a.path)} · B: {esc(b.path)}</p>"
        f"<table><thead><tr><th></th><th>A</th><th>B</th></tr></thead><tbody>{rows}</tbody></table></header>"
    )


def render_compare(a: RunDir, b: RunDir) -> str:
    """The full text of the comparison page of runs ``a`` and ``b``."""
    body = "".join(
        [
            _header(a, b),
            '<section><h2>Key figures</h2><p class="muted">Rows that differ are shaded.</p>',
            _table("Orders", a, b, "orders"),
            _table("KPIs", a, b, "kpis"),
            _latency(a, b),
            _table("Dead-letter queue", a, b, "dlq"),
            _table("Returns", a, b, "returns"),
            _invariants(a, b),
            "</section>",
            charts_section(a, b),
        ]
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>retailsim compare · {esc(a.name)} vs {esc(b.name)}</title>"
        f"<style>{CSS}{_COMPARE_CSS}</style></head><body>{body}</body></html>\n"
    )


def write_compare(dir_a: Path, dir_b: Path, out: Path) -> Path:
    """Read both run directories and write the comparison page to ``out`` (creating its directory)."""
    page = render_compare(RunDir.read(dir_a), RunDir.read(dir_b))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(page.encode("utf-8"))
    return out
