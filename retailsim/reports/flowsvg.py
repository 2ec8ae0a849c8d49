"""A message flow as an SVG picture (Lamport diagram) and as a table, generated in Python, no script.

What it is for: report.html and the operations page show :class:`~retailsim.reports.record.OrderFlow`
records this way: one vertical lane per system, time running down, one arrow per message in time order,
sloping down from sender to receiver; replies dashed; a note on a lane (the core's order status) a dot.

Rules it keeps:
- every mark is said in words as well as in colour (``[retry]``, ``[duplicate]``, ``[dropped]``,
  ``[no reply]``, ``[error]``, ``[dead letter]``), and every arrow carries a ``<title>``, so the picture
  reads without colour and a screen reader can walk it; the table says the same in rows;
- self-contained: no ids shared between pictures (arrowheads are drawn, not ``<marker>`` references), so
  any number of them fit in one page;
- every text goes through ``html.escape``; deterministic: fixed number formats, no clock.
"""

from __future__ import annotations

import html
from typing import Final

from retailsim.reports.record import FlowMessage, OrderFlow

#: Lanes left to right: the customer's side, the core, then the systems in the order an order meets them.
LANE_ORDER: Final = ("storefront", "core", "payment", "erp", "wms", "carrier", "service_cloud", "pos")
MARK_COLOURS: Final = {
    "": "#57606a",
    "retry": "#9a6700",
    "duplicate": "#8250df",
    "dropped": "#cf222e",
    "no_reply": "#cf222e",
    "error": "#cf222e",
    "dead_letter": "#cf222e",
}
MARK_WORDS: Final = {
    "retry": "retry",
    "duplicate": "duplicate",
    "dropped": "dropped",
    "no_reply": "no reply",
    "error": "error",
    "dead_letter": "dead letter",
}
_LEFT = 96  # the time column
_LANE_GAP = 132
_TOP = 44
_ROW = 24
_SLOPE = 14  # how far down an arrow travels: time passes while a message is under way


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def lanes(flow: OrderFlow) -> list[str]:
    """The systems of ``flow`` in lane order (known systems first, others alphabetically)."""
    present = {m.sender for m in flow.messages} | {m.receiver for m in flow.messages}
    known = [lane for lane in LANE_ORDER if lane in present]
    return known + sorted(present - set(LANE_ORDER))


def sim_clock(seconds: float) -> str:
    """Simulated time as h:mm:ss.mmm (days as hours): short, fixed-width enough to scan down a column."""
    millis = round(seconds * 1000)
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    return f"{hours}:{minutes:02d}:{rest // 1000:02d}.{rest % 1000:03d}"


def describe(message: FlowMessage) -> str:
    """One message in words, as its arrow's title and its table row say it."""
    mark = f" [{MARK_WORDS[message.mark]}]" if message.mark else ""
    if message.sender == message.receiver:
        return f"{sim_clock(message.at)} {message.sender}: {message.label}{mark}"
    kind = "reply" if message.reply else "message"
    return f"{sim_clock(message.at)} {kind} {message.sender} → {message.receiver}: {message.label}{mark}"


def _arrow(message: FlowMessage, x0: float, x1: float, y: float) -> str:
    colour = MARK_COLOURS[message.mark]
    y1 = y + _SLOPE
    width = 2.5 if message.mark in ("dead_letter", "duplicate", "retry") else 1.3
    dash = ' stroke-dasharray="5 3"' if message.reply or message.mark in ("dropped", "no_reply") else ""
    mark = f" [{MARK_WORDS[message.mark]}]" if message.mark else ""
    label = message.label if len(message.label) <= 42 else message.label[:41] + "…"
    parts = [f"<title>{esc(describe(message))}</title>"]
    if message.mark == "dropped":  # the message never arrives: it ends in a cross halfway
        x1, y1 = (x0 + x1) / 2, y + _SLOPE / 2
    parts.append(
        f'<line x1="{x0:.1f}" y1="{y:.1f}" x2="{x1:.1f}" y2="{y1:.1f}" stroke="{colour}" '
        f'stroke-width="{width}"{dash}/>'
    )
    if message.mark == "dropped":
        parts.append(
            f'<path d="M{x1 - 5:.1f},{y1 - 5:.1f} L{x1 + 5:.1f},{y1 + 5:.1f} M{x1 - 5:.1f},{y1 + 5:.1f} '
            f'L{x1 + 5:.1f},{y1 - 5:.1f}" stroke="{colour}" stroke-width="2"/>'
        )
    else:
        direction = 1.0 if x1 > x0 else -1.0
        parts.append(
            f'<polygon points="{x1:.1f},{y1:.1f} {x1 - 8 * direction:.1f},{y1 - 5:.1f} '
            f'{x1 - 8 * direction:.1f},{y1 + 2:.1f}" fill="{colour}"/>'
        )
    parts.append(
        f'<text x="{(x0 + x1) / 2:.1f}" y="{y - 2:.1f}" text-anchor="middle" fill="{colour}">'
        f"{esc(label + mark)}</text>"
    )
    return f'<g class="msg">{"".join(parts)}</g>'


def _note(message: FlowMessage, x: float, y: float) -> str:
    colour = MARK_COLOURS[message.mark]
    return (
        f'<g class="note"><title>{esc(describe(message))}</title>'
        f'<circle cx="{x:.1f}" cy="{y + _SLOPE / 2:.1f}" r="4" fill="{colour}"/>'
        f'<text x="{x + 8:.1f}" y="{y + _SLOPE / 2 + 4:.1f}" fill="{colour}">{esc(message.label)}</text></g>'
    )


def flow_svg(flow: OrderFlow) -> str:
    """The Lamport diagram of ``flow`` as an inline ``<svg>`` element."""
    names = lanes(flow)
    x = {name: _LEFT + _LANE_GAP * (i + 0.5) for i, name in enumerate(names)}
    width = _LEFT + _LANE_GAP * max(1, len(names)) + 40
    height = _TOP + _ROW * max(1, len(flow.messages)) + _SLOPE + 12
    title = f"Message flow of order {flow.order}: {len(flow.messages)} messages, {len(names)} systems"
    body = [f"<title>{esc(title)}</title>"]
    for name in names:
        body.append(
            f'<text x="{x[name]:.1f}" y="18" text-anchor="middle" font-weight="700" fill="#1f2328">{esc(name)}</text>'
            f'<line x1="{x[name]:.1f}" y1="26" x2="{x[name]:.1f}" y2="{height - 6}" stroke="#d0d7de" stroke-width="2"/>'
        )
    shown = ""
    for row, message in enumerate(flow.messages):
        y = _TOP + _ROW * row
        clock = sim_clock(message.at)
        if clock != shown:
            body.append(f'<text x="6" y="{y + 6:.1f}" fill="#57606a">{esc(clock)}</text>')
            shown = clock
        if message.sender == message.receiver:
            body.append(_note(message, x[message.sender], y))
        else:
            body.append(_arrow(message, x[message.sender], x[message.receiver], y))
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="flow" role="img" width="{width:.0f}" '
        f'height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" font-family="system-ui, sans-serif" '
        f'font-size="11">{"".join(body)}</svg>'
    )


def flow_table(flow: OrderFlow) -> str:
    """The same messages as a table (time, from, to, message, mark): for reading and for screen readers."""
    rows = "".join(
        f"<tr><td>{esc(sim_clock(m.at))}</td><td>{esc(m.sender)}</td><td>{esc(m.receiver)}</td>"
        f"<td>{esc(('reply: ' if m.reply else '') + m.label)}</td><td>{esc(MARK_WORDS.get(m.mark, ''))}</td></tr>"
        for m in flow.messages
    )
    return (
        "<table><thead><tr><th>time</th><th>from</th><th>to</th><th>message</th><th>mark</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
    )
