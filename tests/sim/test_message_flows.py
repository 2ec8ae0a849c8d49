"""Message flows of a real run: an order with a duplicated webhook and a retried ERP post shows both,
the report draws them, and keeping the trace for the pictures leaves the digest as it was.

Rules kept: a small scenario (30 orders, lost ERP replies and duplicated warehouse events), run twice;
outputs under tmp_path.
"""

from __future__ import annotations

from pathlib import Path

from retailsim.reports import write_report
from retailsim.reports.flowsvg import flow_svg
from retailsim.reports.record import OrderFlow
from retailsim.scenarios import load
from retailsim.sim.runner import run_scenario

SCENARIO = """
name = "duplicates-and-lost-erp-replies"
description = "Half the ERP's replies are lost; every warehouse event arrives one to four times."
seed = 5

[workload]
orders = 30
duration = "1h"
shape = "steady"
skus = 20
stock_per_sku = 1000

[systems.erp]
timeout = "20s"

[[faults]]
kind = "lost_response"
target = "erp"
start = "0s"
duration = "1h"
probability = 0.5

[[faults]]
kind = "duplicate_delivery"
target = "wms"
start = "0s"
duration = "5d"
copies = 4
window = "10m"
"""


def has_duplicate_webhook(flow: OrderFlow) -> bool:
    return any(m.mark == "duplicate" and m.sender == "wms" and m.receiver == "core" for m in flow.messages)


def has_retried_erp_post(flow: OrderFlow) -> bool:
    return any(
        m.mark == "retry" and m.receiver == "erp" and m.label == "PostSalesOrder" for m in flow.messages
    )


def test_an_order_with_a_duplicate_webhook_and_a_retried_erp_post_shows_both(tmp_path: Path) -> None:
    source = tmp_path / "scenario.toml"
    source.write_text(SCENARIO)
    scenario = load(str(source))
    plain = run_scenario(scenario)
    drawn = run_scenario(scenario, sampled_flows=scenario.workload.orders)  # every accepted order

    assert drawn.record.digest == plain.record.digest  # the pictures read the trace, never change it
    assert not plain.record.flows
    assert len(drawn.record.flows) == plain.record.orders["accepted"]
    both = [flow for flow in drawn.record.flows if has_duplicate_webhook(flow) and has_retried_erp_post(flow)]
    assert both, "the faults should give some order both a duplicated webhook and a retried ERP post"

    svg = flow_svg(both[0])
    assert "PostSalesOrder [retry]" in svg
    assert "[duplicate]" in svg and "[no reply]" in svg

    report = write_report(drawn.record, tmp_path / "out")["html"].read_text()
    assert f'id="order-{both[0].order}"' in report
    assert report.count("<svg") == len(drawn.record.flows)
