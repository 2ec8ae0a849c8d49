"""``retailsim compare``: two run directories → one page with both runs' figures, invariants and charts.

Rules kept: the directories are written by ``write_report`` from hand-built records (no simulation); the
command itself runs as a subprocess, as a user runs it.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from retailsim.reports import InvariantResult, write_report
from retailsim.reports.compare import CompareError, write_compare
from tests.unit.reports.test_reports_output import make_record


def two_runs(tmp_path: Path) -> tuple[Path, Path]:
    realtime = make_record()
    batch = make_record(
        digest="sha256:feedbeef",
        kpis={**realtime.kpis, "oversell_units": 272},
        invariants=(*realtime.invariants[:2], InvariantResult("refund_exactly_once", 4, 1, ("R-1 twice",))),
    )
    write_report(realtime, tmp_path / "realtime")
    write_report(batch, tmp_path / "batch")
    return tmp_path / "realtime", tmp_path / "batch"


def test_the_page_shows_both_runs_side_by_side_and_marks_what_changed(tmp_path: Path) -> None:
    a, b = two_runs(tmp_path)
    page = write_compare(a, b, tmp_path / "compare.html").read_text()
    assert "sha256:0123abcd" in page and "sha256:feedbeef" in page
    oversell = re.search(r'<tr class="changed"><th>oversell units</th>(.*?)</tr>', page)
    assert oversell is not None and "+272" in oversell.group(1)
    assert '<tr class="changed"><th><code>refund_exactly_once</code></th>' in page
    assert '<tr><th><code>no_lost_orders</code></th>' in page  # held in both: not marked
    charts = len(list(a.glob("*.png")))
    assert charts > 0 and page.count("data:image/png;base64,") == 2 * charts
    assert "<script" not in page
    assert write_compare(a, b, tmp_path / "again.html").read_bytes() == (tmp_path / "compare.html").read_bytes()


def test_a_directory_without_a_run_is_refused_by_name(tmp_path: Path) -> None:
    a, _b = two_runs(tmp_path)
    with pytest.raises(CompareError, match="nothing-here"):
        write_compare(a, tmp_path / "nothing-here", tmp_path / "compare.html")


def test_the_command_writes_the_page_and_refuses_bad_input(tmp_path: Path) -> None:
    a, b = two_runs(tmp_path)
    command = [sys.executable, "-m", "retailsim.sim.cli", "compare", str(a), str(b)]

    def run(arguments: list[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(arguments, check=False, capture_output=True, text=True, timeout=120)

    done = run([*command, "--out", str(tmp_path / "c.html")])
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "c.html").read_text().startswith("<!DOCTYPE html>")
    refused = run([*command[:-1], str(tmp_path / "missing")])
    assert refused.returncode == 2 and "summary.json" in refused.stderr
