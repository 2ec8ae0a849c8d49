"""report.html: one self-contained page that tells a human what happened in a run and whether it held.

What it is for: header and verdict, KPI cards, the charts, the invariant table, the message flows of
example and sampled orders, the fault windows, any
``extra`` sections (as tables), the replay command, and the resolved scenario settings as an appendix.

Rules it keeps:
- plain data only: standard library and this package's own modules; never runs a simulation;
- self-contained and readable offline: charts are embedded as base64 ``data:`` URIs, message flows as
  inline SVG, CSS is inline, and there are no scripts and no external links;
- every piece of text from the record goes through ``html.escape``;
- every invariant is shown with its status: "held", "violated", or "not exercised" in amber (never a
  pass; it fails the run when the scenario required it);
- deterministic: no timestamps; the same record and charts give the same bytes.
"""

from __future__ import annotations

import base64
import html
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Final

from retailsim.reports.flowsvg import MARK_COLOURS, MARK_WORDS, flow_svg, flow_table
from retailsim.reports.record import KPI_KEYS, ORDER_KEYS, InvariantResult, OrderFlow, RunRecord
from retailsim.reports.summary import JsonValue, plain

REPORT_FILENAME: Final = "report.html"
#: The page lists at most this many violation examples per invariant (summary.json keeps fewer).
MAX_HTML_EXAMPLES: Final = 20

CSS: Final = """
:root { --ok: #1a7f37; --bad: #cf222e; --warn: #9a6700; --warn-bg: #fff8c5; --ok-bg: #dafbe1;
        --bad-bg: #ffebe9; --line: #d0d7de; --muted: #57606a; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1f2328;
       max-width: 1100px; margin: 0 auto; padding: 24px; }
h1 { margin: 0 0 4px; font-size: 24px; } h2 { margin-top: 32px; border-bottom: 1px solid var(--line); }
.muted { color: var(--muted); }
.verdict { display: inline-block; padding: 4px 14px; border-radius: 6px; font-weight: 700;
           letter-spacing: .05em; font-size: 18px; color: #fff; }
.verdict.passed { background: var(--ok); } .verdict.failed { background: var(--bad); }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 12px 0; }
dl.meta dt { color: var(--muted); } dl.meta dd { margin: 0; font-family: ui-monospace, monospace; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(250px, 1fr)); gap: 12px;
         align-items: start; }
.card.wide { grid-column: span 2; }
.card .note { margin: 6px 0 0; font-size: 12px; color: var(--muted); }
.card { border: 1px solid var(--line); border-radius: 8px; padding: 10px 14px; }
.card h3 { margin: 0 0 6px; font-size: 13px; color: var(--muted); font-weight: 600; }
.card .big { font-size: 22px; font-weight: 700; }
.card.bad { border-color: var(--bad); background: var(--bad-bg); }
.card.warn { border-color: var(--warn); background: var(--warn-bg); }
.card table td { border: 0; padding: 0 8px 0 0; }
.card table td:first-child { white-space: nowrap; } .card table td.num { width: 1%; white-space: nowrap; }
table { border-collapse: collapse; width: 100%; margin: 8px 0; }
th, td { border: 1px solid var(--line); padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f6f8fa; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.status { font-weight: 700; padding: 1px 8px; border-radius: 10px; white-space: nowrap; }
.status.passed, .status.held { color: var(--ok); background: var(--ok-bg); }
.status.failed, .status.violated { color: var(--bad); background: var(--bad-bg); }
.status.not-exercised { color: var(--warn); background: var(--warn-bg); }
ul.examples { margin: 0; padding-left: 18px; font-family: ui-monospace, monospace; font-size: 12px; }
figure { margin: 16px 0; } figure img { max-width: 100%; height: auto; border: 1px solid var(--line); }
figcaption { color: var(--muted); font-size: 12px; }
pre { background: #f6f8fa; border: 1px solid var(--line); border-radius: 6px; padding: 10px;
      overflow-x: auto; white-space: pre-wrap; word-break: break-word; }
pre.replay { user-select: all; -webkit-user-select: all; }
details summary { cursor: pointer; font-weight: 600; }
.flow-box { overflow-x: auto; border: 1px solid var(--line); border-radius: 6px; margin: 8px 0; }
.legend span { margin-right: 14px; font-weight: 600; }
"""


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def num(value: object) -> str:
    """A number for humans: thousands separators for ints, 4 significant digits for floats."""
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "n/a"
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"
    return str(value)


def duration_text(seconds: float | int | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "n/a"
    if seconds == 0:
        return "instant"
    if seconds < 1:
        return f"{seconds * 1000:.3g} ms"
    if seconds < 120:
        return f"{seconds:.3g} s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 120:
        return f"{int(minutes)} min {secs:.0f} s"
    hours, minutes = divmod(minutes, 60)
    return f"{int(hours)} h {int(minutes)} min"


def _kpi_seconds(record: RunRecord, key: str) -> float | None:
    value = record.kpis.get(key)
    return None if value is None else float(value)


def _header(record: RunRecord) -> str:
    verdict = "passed" if record.passed else "failed"
    reasons = []
    if failed := record.failed_invariants:
        reasons.append(f"{len(failed)} invariant(s) violated")
    if unchecked := record.unchecked_invariants:
        reasons.append(f"{len(unchecked)} required invariant(s) not exercised")
    if not record.invariants:
        reasons.append("no invariants were evaluated")
    if not reasons:
        held = sum(1 for inv in record.invariants if inv.status == "held")
        quiet = len(record.not_exercised_invariants)
        reasons.append(
            f"all {held} invariants held" + (f", {quiet} not exercised (nothing to check)" if quiet else "")
        )
    meta = [
        ("seed", esc(record.seed)),
        ("digest", esc(record.digest)),
        ("simulated time", esc(f"{duration_text(record.sim_time_s)} ({record.sim_time_s:.3f} s)")),
        ("wall time", esc(f"{record.wall_time_s:.3f} s")),
        ("events", esc(num(record.events))),
    ]
    rows = "".join(f"<dt>{name}</dt><dd>{value}</dd>" for name, value in meta)
    return (
        f"<header><h1>retailsim · {esc(record.scenario)}</h1>"
        f'<p class="muted">{esc(record.description)}</p>'
        f'<p><span class="verdict {verdict}">{verdict.upper()}</span> '
        f'<span class="muted">{esc("; ".join(reasons))}</span></p>'
        f'<dl class="meta">{rows}</dl></header>'
    )


def _card(title: str, body: str, tone: str = "") -> str:
    return f'<div class="card {tone}"><h3>{esc(title)}</h3>{body}</div>'


def _mini_table(rows: Sequence[tuple[str, object]]) -> str:
    cells = "".join(f'<tr><td>{esc(k)}</td><td class="num">{esc(num(v))}</td></tr>' for k, v in rows)
    return f"<table>{cells}</table>"


_SERVICE_KPIS: Final = (
    "return_cycle_time_p50_s",
    "return_cycle_time_p99_s",
    "refund_latency_p50_s",
    "refund_latency_p99_s",
    "cases_opened",
    "cases_resolved",
    "case_timeline_complete_share",
    "case_resolution_time_p50_s",
    "bopis_orders",
    "bopis_reroutes",
)


def _service_rows(record: RunRecord) -> list[tuple[str, object]]:
    """Return cycle and refund latency, cases and the agents' timelines, store pickups: when there are any."""
    kpis = record.kpis
    rows: list[tuple[str, object]] = []
    if kpis.get("return_cycle_time_p50_s") is not None:
        rows += [
            ("return cycle p50", duration_text(_kpi_seconds(record, "return_cycle_time_p50_s"))),
            ("return cycle p99", duration_text(_kpi_seconds(record, "return_cycle_time_p99_s"))),
            ("refund latency p50", duration_text(_kpi_seconds(record, "refund_latency_p50_s"))),
            ("refund latency p99", duration_text(_kpi_seconds(record, "refund_latency_p99_s"))),
        ]
    if kpis.get("cases_opened"):
        share = kpis.get("case_timeline_complete_share")
        rows += [
            ("cases opened", kpis.get("cases_opened")),
            ("cases resolved", kpis.get("cases_resolved")),
            ("timeline complete", "n/a" if share is None else f"{float(share):.1%}"),
            ("case resolution p50", duration_text(_kpi_seconds(record, "case_resolution_time_p50_s"))),
        ]
    if kpis.get("bopis_orders"):
        rows += [
            ("store pickups", kpis.get("bopis_orders")),
            ("pickups rerouted", kpis.get("bopis_reroutes")),
        ]
    return rows


def _inventory_feed(record: RunRecord) -> object:
    systems = record.settings.get("systems")
    storefront = systems.get("storefront") if isinstance(systems, dict) else None
    return storefront.get("inventory_sync") if isinstance(storefront, dict) else None


def _oversold_card(record: RunRecord) -> str:
    """Units promised to customers that could not be supplied (backordered). When ``no_oversell`` held,
    the stock never ran over — the promise did — so the card is amber and says why, not red beside a
    green invariant."""
    oversell = record.kpis.get("oversell_units")
    body = f'<div class="big">{esc(num(oversell))}</div>'
    if oversell is None:
        return _card("Oversold units", body, "warn")
    if not oversell:
        return _card("Oversold units", body)
    held = any(inv.name == "no_oversell" and inv.status == "held" for inv in record.invariants)
    if not held:
        return _card("Oversold units", body + '<p class="note">confirmed to customers, then backordered</p>', "bad")
    feed = _inventory_feed(record)
    why = (
        "the storefront sold from a batch inventory feed, stale between runs"
        if feed == "batch"
        else "the storefront's availability ran ahead of the stock"
    )
    note = (
        f"Confirmed to customers, then backordered: {why}. The warehouse never released more than it had "
        "(<code>no_oversell</code> held): the promise ran over, not the stock."
    )
    return _card("Oversold units", f'{body}<p class="note">{note}</p>', "warn")


def _kpi_cards(record: RunRecord) -> str:
    others = sorted(key for key in record.orders if key not in ORDER_KEYS)
    funnel = [(key.replace("_", " "), record.orders[key]) for key in (*ORDER_KEYS, *others)]
    cards = [_card("Orders", _mini_table(funnel))]

    cards.append(_oversold_card(record))
    cards.append(
        _card("Drain time", f'<div class="big">{esc(duration_text(_kpi_seconds(record, "drain_time_s")))}</div>')
    )
    latency_rows = [
        ("acceptance p50", duration_text(_kpi_seconds(record, "acceptance_latency_p50_s"))),
        ("acceptance p99", duration_text(_kpi_seconds(record, "acceptance_latency_p99_s"))),
        ("ERP post p99", duration_text(_kpi_seconds(record, "erp_post_latency_p99_s"))),
    ]
    cards.append(_card("Latency", _mini_table(latency_rows)))
    remaining = record.dlq.get("remaining", 0)
    cards.append(
        _card("Dead-letter queue", _mini_table(list(record.dlq.items())), "warn" if remaining else "")
    )
    cards.append(_card("Returns", _mini_table(list(record.returns.items()))))
    service = _service_rows(record)
    if service:
        cards.append(_card("Returns and service desk", _mini_table(service)))
    other_kpis = sorted(
        (key, value) for key, value in record.kpis.items() if key not in KPI_KEYS and key not in _SERVICE_KPIS
    )
    if other_kpis:
        cards.append(
            _card("Other KPIs", _mini_table([(key.replace("_", " "), v) for key, v in other_kpis]), "wide")
        )
    return f'<section><h2>Key figures</h2><div class="cards">{"".join(cards)}</div></section>'


def charts_section(charts: Sequence[tuple[str, Path]]) -> str:
    if not charts:
        return '<section><h2>Charts</h2><p class="muted">No chart data was recorded.</p></section>'
    figures = []
    for title, path in charts:
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        figures.append(
            f'<figure><img alt="{esc(title)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{esc(title)}</figcaption></figure>"
        )
    return f"<section><h2>Charts</h2>{''.join(figures)}</section>"


def _examples(inv: InvariantResult) -> str:
    if not inv.examples:
        return ""
    shown = inv.examples[:MAX_HTML_EXAMPLES]
    items = "".join(f"<li>{esc(example)}</li>" for example in shown)
    more = max(inv.violations, len(inv.examples)) - len(shown)
    tail = f'<p class="muted">… and {esc(num(more))} more</p>' if more > 0 else ""
    return f'<ul class="examples">{items}</ul>{tail}'


def _invariants(record: RunRecord) -> str:
    if not record.invariants:
        return (
            '<section><h2>Invariants</h2><p><span class="status failed">none evaluated</span> '
            "A run without invariant results proves nothing.</p></section>"
        )
    rows = []
    for inv in record.invariants:
        css = inv.status.replace("_", "-")
        shown = inv.status.replace("_", " ")
        need = "required" if inv.required else "judged"
        rows.append(
            f"<tr><td><code>{esc(inv.name)}</code></td>"
            f'<td><span class="status {css}">{esc(shown)}</span></td><td>{need}</td>'
            f'<td class="num">{esc(num(inv.checked))}</td><td class="num">{esc(num(inv.violations))}</td>'
            f"<td>{_examples(inv)}</td></tr>"
        )
    return (
        "<section><h2>Invariants</h2><table><thead><tr><th>invariant</th><th>status</th><th></th><th>checked</th>"
        f"<th>violations</th><th>examples</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
        '<p class="muted">Every invariant is judged in every run; a violation of any fails it. '
        '"not exercised" means the run gave the invariant nothing to check: it is not a pass, and it '
        "fails the run when the scenario requires the invariant (<code>expect.invariants</code>).</p></section>"
    )


def _faults(record: RunRecord) -> str:
    if not record.faults:
        return '<section><h2>Fault windows</h2><p class="muted">No faults were injected.</p></section>'
    rows = []
    for fault in record.faults:
        params = ", ".join(
            f"{key}={json.dumps(plain(value), ensure_ascii=False)}" for key, value in fault.params.items()
        )
        rows.append(
            f"<tr><td>{esc(fault.kind)}</td><td>{esc(fault.target)}</td>"
            f'<td class="num">{esc(f"{fault.start_s:.3f}")}</td><td class="num">{esc(f"{fault.end_s:.3f}")}</td>'
            f'<td class="num">{esc(duration_text(fault.end_s - fault.start_s))}</td><td><code>{esc(params)}</code></td></tr>'
        )
    return (
        "<section><h2>Fault windows</h2><table><thead><tr><th>kind</th><th>target</th><th>start (s)</th>"
        f"<th>end (s)</th><th>duration</th><th>parameters</th></tr></thead><tbody>{''.join(rows)}</tbody>"
        "</table></section>"
    )


def _cell(value: JsonValue) -> str:
    if isinstance(value, dict | list):
        return f"<code>{esc(json.dumps(value, ensure_ascii=False))}</code>"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return esc(num(value))
    return esc("" if value is None else value)


def _extra_section(name: str, value: JsonValue) -> str:
    title = f"<h3>{esc(name.replace('_', ' '))}</h3>"
    if isinstance(value, list) and value and all(isinstance(row, dict) for row in value):
        columns: list[str] = []
        for row in value:
            assert isinstance(row, dict)
            columns.extend(key for key in row if key not in columns)
        head = "".join(f"<th>{esc(col)}</th>" for col in columns)
        body = "".join(
            "<tr>" + "".join(f"<td>{_cell(row.get(col))}</td>" for col in columns) + "</tr>"
            for row in value
            if isinstance(row, dict)
        )
        return f"{title}<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    if isinstance(value, dict):
        if not value:
            return f'{title}<p class="muted">none</p>'
        body = "".join(f"<tr><th>{esc(key)}</th><td>{_cell(item)}</td></tr>" for key, item in value.items())
        return f"{title}<table><tbody>{body}</tbody></table>"
    if isinstance(value, list):
        if not value:
            return f'{title}<p class="muted">none</p>'
        return f"{title}<ul>{''.join(f'<li>{_cell(item)}</li>' for item in value)}</ul>"
    return f"{title}<p>{_cell(value)}</p>"


def _extra(extra: Mapping[str, object]) -> str:
    if not extra:
        return ""
    sections = "".join(_extra_section(str(name), plain(value)) for name, value in extra.items())
    return f"<section><h2>Further results</h2>{sections}</section>"


def _flow(flow: OrderFlow) -> str:
    omitted = (
        f'<p class="muted">… and {esc(num(flow.omitted))} later messages not drawn</p>' if flow.omitted else ""
    )
    return (
        f'<h3 id="order-{esc(flow.order)}">Order <code>{esc(flow.order)}</code> '
        f'<span class="muted">— {esc(flow.reason)}</span></h3>'
        f'<div class="flow-box">{flow_svg(flow)}</div>{omitted}'
        f"<details><summary>The same messages as a table</summary>{flow_table(flow)}</details>"
    )


def _flows(record: RunRecord) -> str:
    if not record.flows:
        return ""
    legend = "".join(
        f'<span style="color:{MARK_COLOURS[mark]}">[{esc(word)}]</span>' for mark, word in MARK_WORDS.items()
    )
    return (
        "<section><h2>Message flows</h2>"
        '<p class="muted">What happened to single orders, read from the trace the digest is computed from: '
        "one lane per system, time running down, replies dashed. Orders named in invariant examples come "
        "first, then a few sampled ones.</p>"
        f'<p class="legend">{legend}</p>{"".join(_flow(flow) for flow in record.flows)}</section>'
    )


def _replay(record: RunRecord) -> str:
    return (
        "<section><h2>Replay</h2>"
        '<p class="muted">Copy this command to reproduce this run exactly (one click selects it):</p>'
        f'<pre class="replay">{esc(record.replay)}</pre></section>'
    )


def _appendix(record: RunRecord) -> str:
    settings = json.dumps(plain(record.settings), indent=2, ensure_ascii=False)
    return (
        "<section><h2>Appendix</h2><details><summary>Resolved scenario settings</summary>"
        f"<pre>{esc(settings)}</pre></details></section>"
    )


def render_html(record: RunRecord, charts: Sequence[tuple[str, Path]]) -> str:
    """The full text of report.html for ``record`` with the given ``(title, png_path)`` charts."""
    verdict = "PASSED" if record.passed else "FAILED"
    body = "".join(
        [
            _header(record),
            _kpi_cards(record),
            charts_section(charts),
            _invariants(record),
            _flows(record),
            _faults(record),
            _extra(record.extra),
            _replay(record),
            _appendix(record),
        ]
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(verdict)} · retailsim {esc(record.scenario)} (seed {esc(record.seed)})</title>"
        f"<style>{CSS}</style></head><body>{body}</body></html>\n"
    )


def write_html(record: RunRecord, charts: Sequence[tuple[str, Path]], out_dir: Path) -> Path:
    """Write ``out_dir/report.html`` (creating ``out_dir``) and return its path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / REPORT_FILENAME
    path.write_bytes(render_html(record, charts).encode("utf-8"))
    return path
