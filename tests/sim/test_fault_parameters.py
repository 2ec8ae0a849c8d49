"""Every fault's parameters reach summary.json and the report (issue 13, item 15).

The parameters are read from the FaultSpec model, so the test asks for every field the model has beyond
the window (kind, target, start, duration): a field added to FaultSpec must show up without an edit to
the runner or the reports.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

from retailsim.reports import write_report
from retailsim.scenarios import load
from retailsim.scenarios.schema import FaultSpec
from retailsim.sim.runner import run_scenario

FAULTS = (
    'faults=[{ kind = "brownout", target = "erp", start = "10m", duration = "20m", factor = 7.5 }, '
    '{ kind = "duplicate_delivery", target = "carrier", start = "0s", duration = "1h", copies = 3, '
    "probability = 0.25 }]"
)


def test_summary_and_report_carry_every_fault_parameter(tmp_path: Path) -> None:
    scenario = load("baseline", ["workload.orders=20", FAULTS])
    run = run_scenario(scenario, 3)
    paths = write_report(run.record, tmp_path)
    faults = json.loads(paths["summary"].read_text())["faults"]
    parameter_names = set(FaultSpec.model_fields) - {"kind", "target", "start", "duration"}

    assert [f["kind"] for f in faults] == ["brownout", "duplicate_delivery"]
    for fault in faults:
        assert set(fault["params"]) == parameter_names
    assert faults[0]["params"]["factor"] == 7.5
    assert faults[1]["params"]["copies"] == 3 and faults[1]["params"]["probability"] == 0.25
    assert {"limit", "window"} <= parameter_names  # rate_limit's limit per window is reported too

    page = html.unescape(paths["html"].read_text())
    assert "factor=7.5" in page and "copies=3" in page and "probability=0.25" in page
