"""The /ops page in a real headless browser (Playwright driving the distribution's Chromium): it loads
with the operations token, shows the core's live numbers while orders arrive — the business counts,
latency percentiles and error classes per system, breakers and token buckets, throughput per workflow,
and the scenario's active fault window on the backlog's timeline — a dead letter is replayed from the
page, the order page shows the order's message flow and timeline, and a screenshot is kept as a test artefact.

Rules kept: Chromium is /usr/bin/chromium (``make services`` installs it; Playwright never downloads a
browser); where none can be had the test skips with the reason, and fails under
``RETAILSIM_REQUIRE_SERVICES=1``. Every wait is for a condition on the page, bounded; the server is
awaited until ready (conftest). Loopback only.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.contract.backends import services_required
from tests.live.conftest import OPS_TOKEN, LiveServer, place_order
from tests.live.test_dlq_replay import POISON

pytestmark = pytest.mark.live

CHROMIUM = os.environ.get("RETAILSIM_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WAIT_MS = 30_000  # the bound on each wait for the page; each ends as soon as its condition holds


def no_browser(reason: str) -> None:
    if services_required():
        pytest.fail(f"a browser is required (RETAILSIM_REQUIRE_SERVICES=1): {reason}")
    pytest.skip(reason)


@pytest.fixture
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError as exc:
        no_browser(f"playwright is not installed ({exc}); pip install -e '.[dev]'")
    if not os.access(CHROMIUM, os.X_OK):
        no_browser(f"no Chromium at {CHROMIUM}; `make services` installs Debian's (as root, with apt-get)")
    with sync_playwright() as playwright:
        try:
            launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=WAIT_MS)
        except Error as exc:
            no_browser(f"Chromium at {CHROMIUM} did not start: {exc}")
        try:
            yield launched
        finally:
            launched.close()


@pytest.mark.timeout(60)
def test_the_ops_page_shows_live_numbers_and_replays_a_dead_letter(
    tmp_path: Path, browser: Any
) -> None:
    from playwright.sync_api import expect

    expect.set_options(timeout=WAIT_MS)
    server = LiveServer(tmp_path, speed=10.0, overrides=(POISON,))  # the ERP refuses every sales order
    server.start()
    try:
        page = browser.new_page(viewport={"width": 1366, "height": 900})
        page.set_default_timeout(WAIT_MS)
        page.goto(f"{server.url}/ops")  # without the token: the form, nothing else
        expect(page.get_by_label("Operations token")).to_be_focused()
        expect(page.locator("#dashboard")).to_be_hidden()

        page.get_by_label("Operations token").fill("wrong")
        page.keyboard.press("Enter")
        expect(page.get_by_role("status")).to_contain_text("refused")

        page.goto(f"{server.url}/ops#token={OPS_TOKEN}")
        expect(page.locator("#core-state")).to_have_text("up")
        assert "token" not in page.url  # taken out of the address bar at once

        with server.client() as client:
            orders = [place_order(client, sku="SKU-00060")[1]["orderNo"] for _ in range(3)]
        accepted = page.locator("#counters tr", has_text="accepted").locator("td").nth(1)
        expect(accepted).to_have_text(re.compile(r"^[3-9]$|^\d\d+$"))  # the page caught up with the core

        replay = page.get_by_role("button", name=re.compile(r"^Replay dead letter \d+"))
        expect(replay).to_have_count(3)  # every order's sales order was refused and dead-lettered
        see_the_host_view(page, server)
        letter = re.search(r"\d+", replay.first.get_attribute("aria-label") or "")
        assert letter is not None
        replay.first.focus()
        polled = page.locator("#updated").inner_text()
        expect(page.locator("#updated")).not_to_have_text(polled)  # a refresh went by...
        expect(replay.first).to_be_focused()  # ...and left the keyboard user's place alone
        page.keyboard.press("Enter")  # the keyboard is enough
        expect(page.get_by_role("status")).to_contain_text(f"Dead letter {letter.group()} replayed")
        with server.client() as client:
            states = {str(d["dlq_id"]): d["status"] for d in client.get("/v1/ops/dlq").json()["dead_letters"]}
        assert states[letter.group()] == "replayed"
        page.screenshot(path=str(tmp_path / "ops.png"), full_page=True)

        page.goto(f"{server.url}/ops/orders/{orders[0]}")  # the token stays with the tab
        expect(page.locator("#order-name")).to_have_text(orders[0])
        expect(page.locator("#timeline tbody")).to_contain_text("stock_reserved")
        expect(page.locator("#dlq tbody")).to_contain_text("PostSalesOrder")
        # The message flow, drawn from the server's trace: the ERP refused the sales order, the core gave up.
        expect(page.locator("#flow svg")).to_contain_text("PostSalesOrder")
        expect(page.locator("#flow svg")).to_contain_text("[dead letter]")
        page.screenshot(path=str(tmp_path / "order.png"), full_page=True)
        assert (tmp_path / "ops.png").stat().st_size > 0 and (tmp_path / "order.png").stat().st_size > 0
    finally:
        server.stop()


def row(page: Any, table: str, *cells: str) -> Any:
    """The row of ``table`` whose leading cells read ``cells``."""
    rows = page.locator(f"#{table} tbody tr")
    for text in cells:
        rows = rows.filter(has=page.locator("td", has_text=re.compile(f"^{re.escape(text)}$")))
    return rows


def see_the_host_view(page: Any, server: LiveServer) -> None:
    """The numbers only the host sees, as the page shows them while the poisoned ERP refuses every order."""
    from playwright.sync_api import expect

    with server.client() as client:
        live = client.get("/v1/ops/live").json()
    # No order was posted: all three wait for the ERP (their sales orders are dead letters), and the page
    # shows what the host counts.
    assert live["business"]["orders_waiting_for_erp"] == 3
    waiting = page.locator("#business .figure", has_text="orders waiting for ERP posting").locator(".value")
    expect(waiting).to_have_text("3")
    for label in ("shipments not yet in Service Cloud", "refunds waiting on finance"):
        expect(page.locator("#business .figure", has_text=label).locator(".value")).to_have_text("0")
    # The ERP's refusals are 4xx, each timed: a latency in milliseconds, the calls in their class.
    erp = row(page, "systems", "erp").locator("td")
    expect(erp.nth(2)).to_have_text(re.compile(r"^\d+\.\d$"))  # p50 ms
    expect(erp.nth(6)).to_have_text(re.compile(r"^[1-9]\d*$"))  # refused (4xx)
    assert live["systems"]["erp"]["errors"]["refused"] >= 3
    # The ERP's token bucket and breaker (its refusals are business errors: the breaker stays closed).
    throttle = row(page, "throttles", "erp").locator("td")
    expect(throttle.nth(1)).to_have_text("closed")
    expect(throttle.nth(4)).to_have_text(re.compile(rf" of {live['buckets']['erp']['burst']}$"))
    # Throughput per workflow: the orders reached payment_authorized and no further.
    expect(row(page, "workflows", "order to cash", "payment authorized").locator("td").nth(2)).to_have_text(
        re.compile(r"^[3-9]$|^\d\d+$")
    )
    expect(row(page, "workflows", "order to cash", "posted to erp")).to_have_count(0)
    # The fault window is active, in its table and on the backlog's timeline.
    expect(row(page, "faults", "poison", "erp").locator("td").nth(4)).to_have_text("active")
    chart = page.locator("#timeline-chart svg")
    expect(chart).to_contain_text("poison · erp (active)")
    expect(chart).to_have_attribute("aria-label", re.compile(r"fault windows in view: poison on erp \(active\)"))
