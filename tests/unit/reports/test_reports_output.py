"""Unit tests of retailsim.reports: summary.json contract, report.html content, determinism.

Rules kept: builds a RunRecord by hand (plain data, no simulation) and writes only under tmp_path.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from retailsim.reports import (
    FaultWindow,
    InvariantResult,
    RunRecord,
    Series,
    summary_dict,
    write_report,
)

CONTRACT_KEYS = [
    "scenario",
    "seed",
    "digest",
    "sim_time_s",
    "wall_time_s",
    "events",
    "orders",
    "returns",
    "dlq",
    "faults",
    "invariants",
    "kpis",
    "replay",
]
REPLAY = "retailsim run flash-sale --seed 42 --set workload.orders=500"


def make_record(**overrides: object) -> RunRecord:
    fields: dict[str, object] = {
        "scenario": "flash-sale",
        "description": "Flash sale <spike> with an ERP outage & duplicate webhooks",
        "seed": 42,
        "digest": "sha256:0123abcd",
        "sim_time_s": 3600.0,
        "wall_time_s": 1.2345678912,
        "events": 123456,
        "orders": {
            "submitted": 500,
            "accepted": 490,
            "rejected": 10,
            "posted_to_erp": 490,
            "shipped": 480,
            "delivered": 470,
            "cancelled": 3,
            "backordered": 2,
        },
        "returns": {"requested": 20, "received": 18, "refunded": 18},
        "dlq": {"entered": 4, "replayed": 4, "remaining": 0},
        "faults": (
            FaultWindow("outage", "erp", 600.0, 1200.0, {"status": 503}),
            FaultWindow("duplicate_delivery", "carrier", 300.0, 2400.0, {"rate": 0.1}),
            FaultWindow("core_crash", "core", 1800.0, 1800.0),
        ),
        "invariants": (
            InvariantResult("no_lost_orders", 490, 0, ()),
            InvariantResult(
                "no_duplicate_erp_orders",
                490,
                7,
                tuple(f"order SO-{i} posted twice" for i in range(7)),
            ),
            InvariantResult("refund_exactly_once", 0, 0, ()),
        ),
        "kpis": {
            "acceptance_latency_p50_s": 0.0421234567,
            "acceptance_latency_p99_s": 0.31,
            "erp_post_latency_p99_s": 640.5,
            "drain_time_s": 180.0,
            "oversell_units": 0,
            "breaker_opens": 3,
        },
        "latency": {
            "acceptance": {"p50": 0.042, "p90": 0.12, "p99": 0.31, "max": 0.9, "count": 490},
            "erp_post": {"p50": 1.5, "p90": 300.0, "p99": 640.5, "max": 700.0, "count": 490},
        },
        "throughput": tuple(
            Series(stage, "orders/min", 60.0, tuple(float((i * 7 + k) % 13) for i in range(60)))
            for k, stage in enumerate(("submitted", "accepted", "posted_to_erp", "shipped", "delivered"))
        ),
        "levels": (
            Series(
                "erp_backlog", "messages", 30.0, tuple(float(max(0, 50 - abs(i - 40))) for i in range(120))
            ),
            Series("dlq", "messages", 30.0, tuple(float(i // 30) for i in range(120))),
        ),
        "replay": REPLAY,
        "settings": {"workload": {"orders": 500, "shape": "spike"}, "systems": {"erp": {"concurrency": 4}}},
        "extra": {
            "reconciliation_drift": [
                {"order": "SO-1", "system": "wms", "field": "status", "expected": "shipped"},
                {"order": "SO-2", "system": "erp", "field": "qty", "actual": 3},
            ],
            "breakers": {"erp": "closed", "wms": "closed"},
        },
    }
    fields.update(overrides)
    return RunRecord(**fields)  # type: ignore[arg-type]


def test_summary_json_follows_the_contract(tmp_path: Path) -> None:
    paths = write_report(make_record(), tmp_path / "out")
    text = paths["summary"].read_text(encoding="utf-8")
    assert text.endswith("}\n")
    data = json.loads(text)

    assert list(data)[: len(CONTRACT_KEYS)] == CONTRACT_KEYS
    assert {"passed", "latency", "extra"} <= set(data)
    assert data["scenario"] == "flash-sale"
    assert data["seed"] == 42
    assert data["digest"] == "sha256:0123abcd"
    assert data["events"] == 123456
    assert data["wall_time_s"] == 1.234568
    assert list(data["orders"])[:7] == [
        "submitted",
        "accepted",
        "rejected",
        "posted_to_erp",
        "shipped",
        "delivered",
        "cancelled",
    ]
    assert data["orders"]["backordered"] == 2
    assert data["returns"] == {"requested": 20, "received": 18, "refunded": 18}
    assert data["dlq"] == {"entered": 4, "replayed": 4, "remaining": 0}
    assert data["faults"][0] == {
        "kind": "outage", "target": "erp", "start_s": 600.0, "end_s": 1200.0, "params": {"status": 503}
    }  # fmt: skip
    assert all(set(f) == {"kind", "target", "start_s", "end_s", "params"} for f in data["faults"])
    assert data["kpis"]["acceptance_latency_p50_s"] == 0.042123
    assert data["kpis"]["breaker_opens"] == 3
    assert data["replay"] == REPLAY
    assert data["latency"]["erp_post"]["p99"] == 640.5
    assert data["extra"]["breakers"] == {"erp": "closed", "wms": "closed"}

    by_name = {inv["name"]: inv for inv in data["invariants"]}
    assert by_name["no_lost_orders"]["passed"] is True
    duplicate = by_name["no_duplicate_erp_orders"]
    assert duplicate["passed"] is False
    assert duplicate["violations"] == 7
    assert len(duplicate["examples"]) == 5
    assert data["passed"] is False


def test_unchecked_invariant_is_not_a_pass(tmp_path: Path) -> None:
    unchecked = InvariantResult("refund_exactly_once", 0, 0, ())
    assert unchecked.passed is False
    assert unchecked.status == "not_exercised"

    record = make_record(invariants=(InvariantResult("no_lost_orders", 10, 0, ()), unchecked))
    assert record.passed is False
    entry = summary_dict(record)["invariants"][1]  # type: ignore[index]
    assert entry["passed"] is False  # type: ignore[index,call-overload]
    assert entry["checked"] == 0  # type: ignore[index,call-overload]

    html = write_report(record, tmp_path)["html"].read_text(encoding="utf-8")
    assert 'class="status not-exercised">not exercised<' in html
    assert ">FAILED<" in html


def test_an_invariant_not_required_and_not_exercised_is_reported_but_does_not_fail_the_run(
    tmp_path: Path,
) -> None:
    quiet = InvariantResult("refund_exactly_once", 0, 0, (), required=False)
    assert quiet.passed is False and quiet.status == "not_exercised" and not quiet.fails_run
    record = make_record(invariants=(InvariantResult("no_lost_orders", 10, 0, ()), quiet))
    assert record.passed is True
    entry = summary_dict(record)["invariants"][1]  # type: ignore[index]
    assert entry["status"] == "not_exercised" and entry["required"] is False  # type: ignore[index,call-overload]
    assert entry["passed"] is False  # type: ignore[index,call-overload]
    html = write_report(record, tmp_path)["html"].read_text(encoding="utf-8")
    assert 'class="status not-exercised">not exercised<' in html
    assert ">PASSED<" in html


def test_a_violated_invariant_fails_the_run_even_when_not_required() -> None:
    violated = InvariantResult("inventory_conserved", 4, 1, ("erp:DC1 SKU-1: off by one",), required=False)
    assert violated.status == "violated" and violated.fails_run
    record = make_record(invariants=(InvariantResult("no_lost_orders", 10, 0, ()), violated))
    assert record.passed is False
    assert summary_dict(record)["invariants"][1]["status"] == "violated"  # type: ignore[index,call-overload]


def test_all_passed_and_no_invariants() -> None:
    ok = make_record(invariants=(InvariantResult("no_lost_orders", 10, 0, ()),))
    assert ok.passed is True
    assert summary_dict(ok)["passed"] is True
    assert make_record(invariants=()).passed is False


def test_record_rejects_missing_contract_keys() -> None:
    with pytest.raises(ValueError, match="cancelled"):
        make_record(orders={"submitted": 1, "accepted": 1})


def test_html_is_self_contained_and_complete(tmp_path: Path) -> None:
    record = make_record()
    paths = write_report(record, tmp_path)
    html = paths["html"].read_text(encoding="utf-8")

    for inv in record.invariants:
        assert inv.name in html
    assert REPLAY in html
    assert "data:image/png;base64," in html
    assert html.count("data:image/png;base64,") == len(paths["charts"]) == 4
    assert "http://" not in html
    assert "https://" not in html
    assert "<script" not in html
    assert "<link" not in html
    # text from the record is escaped
    assert "&lt;spike&gt; with an ERP outage &amp; duplicate webhooks" in html
    assert "<spike>" not in html
    # extra sections render as tables, settings in the appendix
    assert "reconciliation drift" in html
    assert "SO-2" in html
    assert "&quot;shape&quot;: &quot;spike&quot;" in html
    assert re.search(r"<pre class=\"replay\">", html)


def test_output_is_deterministic(tmp_path: Path) -> None:
    first = write_report(make_record(), tmp_path / "a")
    second = write_report(make_record(), tmp_path / "b")
    assert first["summary"].read_bytes() == second["summary"].read_bytes()
    assert [p.name for p in first["charts"]] == [p.name for p in second["charts"]]
    for a, b in zip(first["charts"], second["charts"], strict=True):
        assert a.read_bytes().startswith(b"\x89PNG")
        assert a.read_bytes() == b.read_bytes()
    assert first["html"].read_bytes() == second["html"].read_bytes()


def test_empty_data_skips_charts_and_removes_stale_ones(tmp_path: Path) -> None:
    write_report(make_record(), tmp_path)
    empty = make_record(faults=(), throughput=(), levels=(Series("dlq", "messages", 60.0, ()),), latency={})
    paths = write_report(empty, tmp_path)
    assert paths["charts"] == []
    assert list(tmp_path.glob("*.png")) == []
    html = paths["html"].read_text(encoding="utf-8")
    assert "data:image/png;base64" not in html
    assert "No faults were injected." in html


def test_the_report_shows_returns_and_the_service_desk_when_there_were_any() -> None:
    from retailsim.reports.html import render_html

    base = make_record()
    quiet = render_html(base, [])
    assert "Returns and service desk" not in quiet
    kpis = {
        **base.kpis,
        "return_cycle_time_p50_s": 3 * 86400.0,
        "return_cycle_time_p99_s": 6 * 86400.0,
        "refund_latency_p50_s": 0.4,
        "refund_latency_p99_s": 31.0,
        "cases_opened": 8,
        "cases_resolved": 8,
        "case_timeline_complete_share": 0.875,
        "case_resolution_time_p50_s": 1800.0,
    }
    page = render_html(make_record(kpis=kpis), [])
    assert "Returns and service desk" in page
    assert "timeline complete" in page and "87.5%" in page
    assert 'return cycle p50</td><td class="num">72 h 0 min' in page
