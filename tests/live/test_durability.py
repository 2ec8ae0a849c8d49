"""Accepted means durable: SIGKILL the server mid-load, restart it on the same SQLite file, and find every
202-accepted order in the ERP exactly once.

The mock ERP lives in the server process, but like a real ERP it outlives the core: the live runtime
journals what the external mocks committed beside the store and replays it at start (sim/live.py). So
the restarted process's ERP holds the sales orders posted before the kill, and the core — which lost
its in-flight work with the process — must neither lose an accepted order nor post one twice (a send
whose reply died with the process is looked up in the ERP before any re-create).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.live.conftest import LiveServer, erp_orders, retry_until_answered, shop, wait_until_in_erp

pytestmark = pytest.mark.live

SHOPPERS = 6
LOAD_BEFORE_KILL_S = 1.5


def _shop(server: LiveServer, index: int, stop: threading.Event, outcomes: dict[str, Any]) -> None:
    with server.client(timeout=5.0) as client:
        shop(client, f"SKU-{40 + index:05d}", stop, outcomes)


def test_sigkill_mid_load_loses_no_accepted_order_and_duplicates_none(tmp_path: Path) -> None:
    server = LiveServer(tmp_path, speed=20.0)
    server.start()
    stop = threading.Event()
    outcomes: dict[str, Any] = {}
    shoppers = [threading.Thread(target=_shop, args=(server, i, stop, outcomes)) for i in range(SHOPPERS)]
    try:
        for thread in shoppers:
            thread.start()
        time.sleep(LOAD_BEFORE_KILL_S)
        server.kill()  # SIGKILL while the shoppers are still sending
        stop.set()
        for thread in shoppers:
            thread.join(timeout=20)
        accepted = sorted(no for no, (status, _) in outcomes.items() if status == 202)
        unknown = sorted(no for no, (status, _) in outcomes.items() if status is None)
        assert len(accepted) >= 20, f"too little load before the kill: {len(accepted)} accepted"

        server.start()
        with server.client() as client:
            # What a storefront does with a request that timed out: send it again with the same key.
            for order_no in unknown:
                response = retry_until_answered(client, order_no, outcomes[order_no][1])
                assert response.status_code == 202, response.text
                accepted.append(order_no)

            pending = wait_until_in_erp(client, accepted)
            assert not pending, f"{len(pending)} accepted orders never reached the ERP, e.g. {pending[:3]}"
            counts = {no: len(erp_orders(client, no)) for no in accepted}
            duplicated = {no: n for no, n in counts.items() if n != 1}
            assert not duplicated, f"orders with other than one ERP sales order: {duplicated}"
            ledgers = client.get(f"/v1/sandbox/ledgers/{accepted[0]}").json()
            assert ledgers["boot"] == 2
            for order_no in accepted[:10]:
                timeline = client.get(f"/v1/orders/{order_no}").json()
                assert timeline["erp"]["sales_order"] == erp_orders(client, order_no)[0]
    finally:
        stop.set()
        server.stop()
