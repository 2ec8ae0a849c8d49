"""``retailsim serve --workers 2`` on PostgreSQL, over real HTTP: several API processes behind one port,
one dispatcher owning the mocks (sim/scaleout.py).

What one process cannot show: one Idempotency-Key sent by 50 clients at once, spread over both workers,
has one effect; one webhook delivered to two workers at once is processed once; SIGKILL of an API
worker under load loses no accepted order and duplicates none; and ``serve`` takes every child process
with it when it stops or is killed. The connections of each test are opened together and checked (by
``/healthz``'s pid) to reach both workers, so "across workers" is a fact of the test, not a hope.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.contract.backends import drop_postgres_schema
from tests.factories import scapi_order
from tests.live.conftest import (
    LiveServer,
    erp_orders,
    new_order_no,
    place_order,
    postgres_schema_or_skip,
    retry_until_answered,
    shop,
    signed,
    wait_until_in_erp,
)

pytestmark = [pytest.mark.live, pytest.mark.services]

PARALLEL = 50
SHOPPERS = 8
LOAD_BEFORE_KILL_S = 2.0
# The warehouse picks and packs in seconds, so an order ships while the test waits.
FAST_WAREHOUSE = tuple(
    f'systems.wms.{step}={{median="1s", p99="3s"}}' for step in ("allocate_time", "pick_time", "pack_time")
)


def _schema(label: str) -> str:
    return f"scaleout_{label}_{os.getpid()}"


@pytest.fixture
def fresh_schema(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    """(schema, store URL) of an empty schema of this test's own, dropped afterwards."""
    name = _schema(request.node.name.removeprefix("test_")[:20])
    url = postgres_schema_or_skip(name)
    yield name, url
    drop_postgres_schema(name)


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    name = _schema("shared")
    url = postgres_schema_or_skip(name)
    server = LiveServer(
        tmp_path_factory.mktemp("scaleout"), store=url, speed=20.0, overrides=FAST_WAREHOUSE, workers=2
    )
    server.start()
    yield server
    server.stop()
    drop_postgres_schema(name)


def run_together(count: int, work: Any) -> list[Any]:
    """``work(i)`` on ``count`` threads released at once; the results in thread order."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count

    def target(index: int) -> None:
        barrier.wait(timeout=10)
        results[index] = work(index)

    threads = [threading.Thread(target=target, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a request hung"
    return results


def _worker_pids(clients: list[httpx.Client]) -> list[int]:
    """Which worker each client's connection reached, asked by all of them at once."""
    return run_together(len(clients), lambda i: int(clients[i].get("/healthz").json()["pid"]))


def clients_on_workers(
    server: LiveServer, count: int, timeout: float = 10.0
) -> list[tuple[httpx.Client, int]]:
    """``count`` clients, each on its own connection, opened together so that they spread over the
    workers; each with the pid of the worker its connection reached (at least two different ones)."""
    for _ in range(20):  # bounded: a worker that just started may not accept yet
        clients = [server.client(timeout) for _ in range(count)]
        pids = _worker_pids(clients)
        if len(set(pids)) >= 2:
            return list(zip(clients, pids, strict=True))
        for client in clients:
            client.close()
        time.sleep(0.5)
    pytest.fail(f"{count} connections never reached two workers")


def test_fifty_parallel_requests_with_one_key_across_workers_have_one_effect(two_workers: LiveServer) -> None:
    spread = clients_on_workers(two_workers, PARALLEL)
    order_no = new_order_no()
    try:
        setup = spread[0][0]
        intent = setup.post(
            "/v1/sandbox/payment_intents", json={"amount": 1000, "currency": "usd", "order_no": order_no}
        ).json()
        body = scapi_order(order_no, sku="SKU-00031", quantity=1, intent=intent["id"], price=10.0)
        key = f"burst-{order_no}"
        answers: list[httpx.Response] = run_together(
            PARALLEL, lambda i: spread[i][0].post("/v1/orders", json=body, headers={"Idempotency-Key": key})
        )
    finally:
        for client, _ in spread:
            client.close()

    assert len({pid for _, pid in spread}) >= 2
    statuses = sorted(a.status_code for a in answers)
    assert set(statuses) <= {202, 409}, [a.text for a in answers if a.status_code not in (202, 409)]
    first = [a for a in answers if a.status_code == 202 and "idempotent-replayed" not in a.headers]
    assert len(first) == 1, f"{len(first)} requests ran the order, statuses {statuses}"
    for answer in answers:
        if answer.status_code == 202:
            assert answer.json() == first[0].json()  # the stored reply, byte for byte the same
        else:
            assert answer.json()["error"] == "request_in_flight"
    with two_workers.client() as client:
        assert wait_until_in_erp(client, [order_no]) == []
        time.sleep(1.0)  # a second sales order, if any were coming, would be posted by now
        assert len(erp_orders(client, order_no)) == 1
        assert client.get(f"/v1/orders/{order_no}").json()["status"] != "received"


def test_one_order_exported_under_two_keys_to_two_workers_at_once_is_booked_once(
    two_workers: LiveServer,
) -> None:
    """At-least-once export: the storefront sends the same order again under a new key, and the two
    copies land on two workers at the same moment. Neither worker can lock an order row that does not
    exist yet; the store's unique key on the order number decides, so the ERP gets one sales order."""
    spread = clients_on_workers(two_workers, 8)
    by_worker: dict[int, httpx.Client] = {}
    for client, pid in spread:
        by_worker.setdefault(pid, client)
    pair = list(by_worker.values())[:2]
    numbers = [new_order_no() for _ in range(6)]
    answers: list[list[httpx.Response]] = []
    try:
        for order_no in numbers:
            intent = pair[0].post(
                "/v1/sandbox/payment_intents", json={"amount": 1000, "currency": "usd", "order_no": order_no}
            ).json()
            body = scapi_order(order_no, sku="SKU-00033", quantity=1, intent=intent["id"], price=10.0)
            answers.append(
                run_together(
                    2,
                    lambda i, body=body, order_no=order_no: pair[i].post(
                        "/v1/orders", json=body, headers={"Idempotency-Key": f"export-{i}-{order_no}"}
                    ),
                )
            )
    finally:
        for client, _ in spread:
            client.close()

    for order_no, pair_answers in zip(numbers, answers, strict=True):
        statuses = sorted(a.status_code for a in pair_answers)
        assert statuses == [200, 202], f"order {order_no}: {[a.text for a in pair_answers]}"
        duplicate = next(a for a in pair_answers if a.status_code == 200).json()
        assert duplicate["duplicate"] is True and duplicate["order_id"] == order_no
    with two_workers.client() as client:
        assert wait_until_in_erp(client, numbers) == []
        time.sleep(1.0)  # a second sales order, if any were coming, would be posted by now
        assert {no: len(erp_orders(client, no)) for no in numbers} == dict.fromkeys(numbers, 1)


def _shipped_order(server: LiveServer, timeout_s: float = 60.0) -> tuple[str, str]:
    """An order that the warehouse shipped (its number, its tracking code)."""
    with server.client() as client:
        response, body = place_order(client, sku="SKU-00032")
        assert response.status_code == 202, response.text
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            timeline = client.get(f"/v1/orders/{body['orderNo']}").json()
            code = timeline["carrier"]["tracking_code"]
            if code:
                return body["orderNo"], code
            time.sleep(0.3)
    pytest.fail(f"order {body['orderNo']} did not ship within {timeout_s}s: {timeline['status']}")


def test_one_webhook_delivered_to_two_workers_at_once_has_one_effect(two_workers: LiveServer) -> None:
    order_no, tracking_code = _shipped_order(two_workers)
    event = {
        "id": f"evt_{uuid.uuid4().hex[:16]}",
        "object": "Event",
        "description": "tracker.updated",
        "result": {"tracking_code": tracking_code, "status": "delivered"},
    }
    raw, headers = signed(event)
    spread = clients_on_workers(two_workers, 8)
    try:
        by_worker: dict[int, httpx.Client] = {}
        for client, pid in spread:
            by_worker.setdefault(pid, client)
        pair = list(by_worker.values())[:2]
        answers = run_together(
            2, lambda i: pair[i].post("/v1/webhooks/carrier", content=raw, headers=headers)
        )
    finally:
        for client, _ in spread:
            client.close()

    assert [a.status_code for a in answers] == [200, 200], [a.text for a in answers]
    assert sorted(a.json()["status"] for a in answers) == ["duplicate", "processed"]
    with two_workers.client() as client:
        timeline = client.get(f"/v1/orders/{order_no}").json()
    assert timeline["status"] == "delivered"
    assert [entry["status"] for entry in timeline["timeline"]].count("delivered") == 1


def test_sigkill_of_an_api_worker_mid_load_loses_no_accepted_order(
    tmp_path: Path, fresh_schema: tuple[str, str]
) -> None:
    server = LiveServer(tmp_path, store=fresh_schema[1], speed=20.0, workers=2)
    server.start()
    stop = threading.Event()
    outcomes: dict[str, Any] = {}
    spread = clients_on_workers(server, SHOPPERS, timeout=5.0)
    workers_before = {pid for _, pid in spread}
    victim = spread[0][1]
    shoppers = [
        threading.Thread(target=shop, args=(client, f"SKU-{40 + i:05d}", stop, outcomes))
        for i, (client, _) in enumerate(spread)
    ]
    try:
        for thread in shoppers:
            thread.start()
        time.sleep(LOAD_BEFORE_KILL_S)
        os.kill(victim, signal.SIGKILL)  # one API worker dies; the other goes on serving
        time.sleep(1.0)
        stop.set()
        for thread in shoppers:
            thread.join(timeout=30)
        accepted = sorted(no for no, (status, _) in outcomes.items() if status == 202)
        unknown = sorted(no for no, (status, _) in outcomes.items() if status is None)
        assert len(accepted) >= 20, f"too little load before the kill: {len(accepted)} accepted"
        assert unknown, "no request was in flight on the killed worker: the kill missed the load"

        with server.client() as client:
            for order_no in unknown:
                response = retry_until_answered(client, order_no, outcomes[order_no][1])
                assert response.status_code == 202, response.text
                accepted.append(order_no)
            pending = wait_until_in_erp(client, accepted)
            assert not pending, f"{len(pending)} accepted orders never reached the ERP, e.g. {pending[:3]}"
            duplicated = {no: n for no in accepted if (n := len(erp_orders(client, no))) != 1}
            assert not duplicated, f"orders with other than one ERP sales order: {duplicated}"
        replaced = {pid for _, pid in clients_on_workers(server, 8)} - workers_before
        assert replaced, "the killed worker was not replaced"
    finally:
        stop.set()
        for client, _ in spread:
            client.close()
        server.stop()


def _descendants(pid: int) -> set[int]:
    """Every process below ``pid`` (Linux /proc)."""
    found: set[int] = set()
    todo = [pid]
    while todo:
        parent = todo.pop()
        for task in os.listdir(f"/proc/{parent}/task") if os.path.isdir(f"/proc/{parent}/task") else []:
            try:
                children = Path(f"/proc/{parent}/task/{task}/children").read_text().split()
            except OSError:
                continue
            for child in map(int, children):
                if child not in found:
                    found.add(child)
                    todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _wait_until_gone(pids: set[int], timeout_s: float) -> set[int]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and any(_alive(pid) for pid in pids):
        time.sleep(0.2)
    return {pid for pid in pids if _alive(pid)}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the process tree from /proc")
def test_serve_takes_every_child_with_it_on_sigterm_and_on_sigkill(
    tmp_path: Path, fresh_schema: tuple[str, str]
) -> None:
    server = LiveServer(tmp_path, store=fresh_schema[1], workers=2)
    try:
        server.start()
        assert server.process is not None
        clients_on_workers(server, 8)  # both workers are up
        children = _descendants(server.process.pid)
        assert len(children) >= 3, children  # the dispatcher and two workers (and multiprocessing's helper)
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=30) is not None
        assert _wait_until_gone(children, 10.0) == set(), "children outlived serve after SIGTERM"

        server.start()  # again on the same store; now the parent dies without a word
        clients_on_workers(server, 8)
        children = _descendants(server.process.pid)
        server.kill()
        assert _wait_until_gone(children, 20.0) == set(), "children outlived serve after SIGKILL"
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("store", "reason"),
    [
        ("sqlite:core.db", "needs a store that several processes share"),
        ("memory", "needs a store that several processes share"),
        ("postgresql://postgres@127.0.0.1:5432/test?schema=Not-A-Name", "schema 'Not-A-Name'"),
    ],
)
def test_several_workers_need_a_postgresql_store(tmp_path: Path, store: str, reason: str) -> None:
    finished = subprocess.run(
        [sys.executable, "-m", "retailsim.sim.cli", "serve", "--workers", "2", "--store", store],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert finished.returncode == 2, finished.stdout + finished.stderr
    assert reason in " ".join(finished.stderr.split()), finished.stderr
    assert list(tmp_path.iterdir()) == []  # nothing was created
