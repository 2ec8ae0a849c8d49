"""The shipped locustfile, headless for a few seconds against a real server: no failures, and the
reconciliation endpoint finds no drift afterwards (orders still moving are "in progress")."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.live.conftest import OPS_TOKEN, SECRET, LiveServer

pytestmark = pytest.mark.live

ROOT = Path(__file__).resolve().parents[2]
LOCUST = Path(sys.executable).with_name("locust")


@pytest.mark.skipif(not LOCUST.exists(), reason="locust is not installed (dev extra)")
def test_headless_locust_run_has_no_failures_and_leaves_no_drift(tmp_path: Path) -> None:
    # Its own server: the shared one has been fuzzed, and this test asserts on the whole DLQ.
    live_server = LiveServer(tmp_path)
    live_server.start()
    try:
        _run_locust_and_check(live_server, tmp_path)
    finally:
        live_server.stop()


def run_locust(host_url: str, tmp_path: Path, **env_overrides: str) -> dict[str, dict[str, str]]:
    """The shipped locustfile, headless for 8 s against ``host_url``; its stats rows by name, after
    checking that it exited 0, failed nothing and placed orders."""
    env = {
        **os.environ,
        "FLASH_SALE_SECONDS": "8",
        "FLASH_SALE_BASE_USERS": "3",
        "RETAILSIM_WEBHOOK_SECRET": SECRET,
        "RETAILSIM_OPS_TOKEN": OPS_TOKEN,
        **env_overrides,
    }
    prefix = tmp_path / "flash"
    finished = subprocess.run(
        [
            str(LOCUST),
            "-f",
            str(ROOT / "locustfile.py"),
            "--headless",
            "--host",
            host_url,
            "--csv",
            str(prefix),
            "--html",
            str(tmp_path / "flash.html"),
            "--only-summary",
        ],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr[-2000:]
    with (tmp_path / "flash_stats.csv").open() as handle:
        rows = {row["Name"]: row for row in csv.DictReader(handle)}
    total = rows["Aggregated"]
    assert int(total["Failure Count"]) == 0, finished.stderr[-2000:]
    assert int(rows["/v1/orders"]["Request Count"]) >= 10
    return rows


def _run_locust_and_check(live_server: LiveServer, tmp_path: Path) -> None:
    rows = run_locust(live_server.url, tmp_path)
    assert int(rows["/v1/webhooks/payment [duplicate]"]["Request Count"]) >= 1
    assert (tmp_path / "flash.html").stat().st_size > 0
    with live_server.client() as client:
        report = client.get("/v1/reconciliation").json()
    assert report["clean"] is True, report["drift"]
    with live_server.client() as client:
        dead = client.get("/v1/ops/dlq").json()["dead_letters"]
    assert dead == [], dead[:3]  # e.g. a status update that reached the storefront before the order did
