"""``GET /v1/ops/live``, the host's view behind /ops: only with the operations token, 404 ``no_live_view``
on a host that has none, and — from the one-process live runtime — an answer while the core is down too:
what the host sees (the systems, the fault windows) does not depend on the core being up.

In process (httpx over ASGI, no socket): a live runtime on a memory store, its sim thread running.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from retailsim.core.api import create_app
from retailsim.scenarios import load
from retailsim.sim.live import LiveRuntime
from tests.live.test_core_down import OPS, CoreDownHost

pytestmark = pytest.mark.live

OUTAGE = 'faults=[{kind="outage", target="erp", start="0s", duration="1d"}]'


def get(app: Any, path: str, headers: dict[str, str]) -> httpx.Response:
    async def run() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://core.test", timeout=10) as client:
            return await client.get(path, headers=headers)

    return asyncio.run(run())


@pytest.fixture
def runtime() -> Iterator[LiveRuntime]:
    live = LiveRuntime(load("flash-sale", [OUTAGE]), speed=10.0)
    live.start()
    try:
        yield live
    finally:
        live.stop()


def test_a_host_without_a_live_view_answers_404_and_only_to_the_token() -> None:
    app = create_app(CoreDownHost(), ops_token="ops")
    answer = get(app, "/v1/ops/live", OPS)
    assert answer.status_code == 404 and answer.json()["error"] == "no_live_view"
    assert get(app, "/v1/ops/live", {"Authorization": "Bearer wrong"}).status_code == 401


@pytest.mark.timeout(60)
def test_the_live_view_answers_while_the_core_is_down(runtime: LiveRuntime) -> None:
    app = create_app(runtime, ops_token="ops")
    assert get(app, "/v1/ops/live", {}).status_code == 401
    up = get(app, "/v1/ops/live", OPS).json()
    assert up["core_up"] is True
    systems = sorted(runtime.world.systems)
    assert sorted(up["breakers"]) == systems  # a breaker per system the core delivers to
    assert set(up["buckets"]) <= set(systems) and up["buckets"]
    assert [(f["kind"], f["target"], f["state"]) for f in up["faults"]] == [("outage", "erp", "active")]
    with runtime.lock:
        runtime.world.crash_core()
    down = get(app, "/v1/ops/live", OPS).json()
    assert down["core_up"] is False
    assert down["breakers"] == {} and down["buckets"] == {}  # they lived in the dead process's memory
    assert down["faults"] == [{**up["faults"][0]}]  # the scenario's windows are the host's to tell
    assert down["now"] >= up["now"]
