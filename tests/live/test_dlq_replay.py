"""Dead letters over HTTP: an ERP rejecting writes as malformed fills the DLQ; after the fault, an operator
replays through ``POST /v1/ops/dlq/{id}/replay`` and each order reaches the ERP once; metrics follow."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.live.conftest import LiveServer, place_order

pytestmark = pytest.mark.live

# The ERP rejects every write for a simulated day: the orders dead-letter however long a busy machine takes
# to start the server. The operator's fix is a restart without the fault on the same store, so no step
# races the wall clock (a 4 s poison window once ended before a starved server saw the orders).
POISON = 'faults=[{kind="poison", target="erp", start="0s", duration="1d", probability=1.0, window="1d"}]'
#: Bounds on waits that end as soon as their condition holds.
GUARD_S = 120.0


def test_dead_letters_are_listed_replayed_and_counted(tmp_path: Path) -> None:
    server = LiveServer(tmp_path, speed=10.0, overrides=(POISON,))
    server.start()
    try:
        with server.client() as client:
            orders = [place_order(client, sku="SKU-00060")[1]["orderNo"] for _ in range(3)]
            deadline = time.monotonic() + GUARD_S
            dead: list[dict[str, object]] = []
            while time.monotonic() < deadline and len(dead) < 3:
                dead = [d for d in client.get("/v1/ops/dlq").json()["dead_letters"] if d["status"] == "dead"]
                time.sleep(0.2)
            assert {d["aggregate_id"] for d in dead} == set(orders)
            assert all(d["kind"] == "PostSalesOrder" and "400" in str(d["reason"]) for d in dead)
            assert "retailsim_dlq_size 3.0" in client.get("/metrics").text
            assert client.get("/v1/ops/summary").json()["dlq"]["size"] == 3

        server.stop()  # the ERP is repaired: the same store, the same journal, no poison
        server.overrides = ()
        server.start()
        with server.client() as client:
            deadline = time.monotonic() + GUARD_S
            posted: set[str] = set()
            while time.monotonic() < deadline and len(posted) < 3:
                for letter in client.get("/v1/ops/dlq").json()["dead_letters"]:
                    if letter["status"] == "dead":
                        answer = client.post(f"/v1/ops/dlq/{letter['dlq_id']}/replay")
                        assert answer.status_code == 200 and answer.json()["replayed"] is True
                        again = client.post(f"/v1/ops/dlq/{letter['dlq_id']}/replay")
                        assert again.status_code == 404  # a dead letter is replayed once
                time.sleep(1.0)
                posted = {no for no in orders if client.get(f"/v1/orders/{no}").json()["erp"]["sales_order"]}
            assert posted == set(orders)
            for order_no in orders:
                ledgers = client.get(f"/v1/sandbox/ledgers/{order_no}").json()
                assert len(ledgers["erp"]["sales_orders"]) == 1
            assert "retailsim_dlq_size 0.0" in client.get("/metrics").text
            report = client.get("/v1/reconciliation").json()
            assert report["clean"] is True, report["drift"]
    finally:
        server.stop()
