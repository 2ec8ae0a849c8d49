"""The report's polish (issue 17): counts on different scales get panels of their own, a fault spanning
the chart is a strip rather than a tint, the stage chart follows the orders' whole life, and an
"oversold" count beside a held ``no_oversell`` is explained rather than red.

Rules kept: hand-built records (tests/unit/reports/test_reports_output.make_record), no simulation.
"""

from __future__ import annotations

from matplotlib.figure import Figure

from retailsim.reports.charts import _life_s, _shade_faults, scale_groups
from retailsim.reports.html import render_html
from retailsim.reports.record import FaultWindow, InvariantResult, Series
from tests.unit.reports.test_reports_output import make_record


def series(name: str, peak: float) -> Series:
    return Series(name, "count", 60.0, (0.0, peak, peak / 2))


def test_counts_on_different_scales_get_their_own_panels() -> None:
    groups = scale_groups([series("erp_backlog", 40), series("webhooks_in_flight", 3000), series("dlq", 35)])
    assert [[s.name for s in group] for group in groups] == [["webhooks_in_flight"], ["erp_backlog", "dlq"]]
    assert len(scale_groups([series(f"s{i}", 10.0**i) for i in range(6)])) == 3  # at most three panels
    assert len(scale_groups([series("a", 5), series("b", 40)])) == 1
    assert [len(g) for g in scale_groups([series("big", 600), series("small", 2), series("dlq", 0)])] == [1, 2]


def test_a_fault_spanning_the_chart_is_a_strip_and_an_episode_a_band() -> None:
    ax = Figure().add_subplot()
    background = FaultWindow("duplicate_delivery", "wms", 0.0, 5 * 86400.0)
    episode = FaultWindow("outage", "erp", 600.0, 1200.0)
    colours = {"duplicate_delivery": "#E69F00", "outage": "#CC79A7"}
    _shade_faults(ax, [background, episode], colours, 60.0, horizon_s=7200.0)
    strip, band = ax.patches  # y in axes fractions: a strip along the top, a band over the full height
    assert (round(strip.get_y(), 2), round(strip.get_height(), 2)) == (0.96, 0.04)  # type: ignore[attr-defined]
    assert (band.get_y(), band.get_height()) == (0.0, 1.0)  # type: ignore[attr-defined]


def test_the_stage_chart_follows_the_orders_whole_life() -> None:
    late = (*(0.0,) * 100, 5.0)  # a delivery 100 minutes in
    record = make_record(
        focus_s=1800.0, sim_time_s=7200.0, throughput=(Series("delivered", "orders/min", 60.0, late),)
    )
    assert _life_s(record, record.throughput) == 101 * 60.0


def test_oversold_units_beside_a_held_no_oversell_are_explained_not_red() -> None:
    held = make_record(
        kpis={**make_record().kpis, "oversell_units": 12},
        invariants=(InvariantResult("no_oversell", 100, 0),),
        settings={"systems": {"storefront": {"inventory_sync": "batch"}}},
    )
    page = render_html(held, [])
    assert '<div class="card warn"><h3>Oversold units</h3>' in page
    assert "batch inventory feed" in page and "<code>no_oversell</code> held" in page
    broken = make_record(
        kpis={**make_record().kpis, "oversell_units": 12},
        invariants=(InvariantResult("no_oversell", 100, 3, ("SKU-1 over by 3",)),),
    )
    assert '<div class="card bad"><h3>Oversold units</h3>' in render_html(broken, [])
