"""Real servers for the live tests: ``retailsim serve`` in a subprocess on a free loopback port, and the
shoppers and ledger look-ups the tests drive them with.

Rules kept: 127.0.0.1 only; every wait is bounded; a server is awaited until it is ready — every worker
answers ``/healthz`` — or its process exits, never for a fixed time (a busy machine starts slowly), and one
that does not come up fails the test with its own log; servers are stopped (or killed) by their process id. PostgreSQL servers get a schema of
their own per test run, skipped only where no PostgreSQL is reachable (a failure under
``RETAILSIM_REQUIRE_SERVICES=1``).
"""

from __future__ import annotations

import json
import os
import signal
import socket
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

from retailsim.core.api import sign

SECRET = "whsec_live_tests"
#: Not a startup time: only the guard against a server that hangs without exiting. ``start`` returns as soon
#: as every worker answers and fails as soon as the process exits. RETAILSIM_LIVE_READY_S changes it.
READY_GUARD_S = float(os.environ.get("RETAILSIM_LIVE_READY_S", "900"))
OPS_TOKEN = "ops_live_tests"
OPS_HEADERS = {"Authorization": f"Bearer {OPS_TOKEN}"}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveServer:
    """One ``retailsim serve`` process; ``start`` again after ``kill`` restarts it on the same store."""

    def __init__(
        self,
        workdir: Path,
        scenario: str = "flash-sale",
        store: str | None = None,
        speed: float = 1.0,
        overrides: tuple[str, ...] = (),
        workers: int = 1,
        ops_token: str | None = OPS_TOKEN,
    ) -> None:
        self.workdir = workdir
        self.ops_token = ops_token  # None: serve makes one and prints it
        self.scenario = scenario
        self.store = store or f"sqlite:{workdir / 'live.db'}"
        self.speed = speed
        self.overrides = overrides
        self.workers = workers
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.boots = 0

    @property
    def log(self) -> Path:
        return self.workdir / f"serve-{self.boots}.log"

    def command(self) -> list[str]:
        command = [
            sys.executable,
            "-m",
            "retailsim.sim.cli",
            "serve",
            self.scenario,
            "--port",
            str(self.port),
            "--store",
            self.store,
            "--speed",
            str(self.speed),
        ]
        for assignment in self.overrides:
            command += ["--set", assignment]
        if self.workers != 1:
            command += ["--workers", str(self.workers)]
        return command

    def start(self) -> None:
        self.boots += 1
        env = {**os.environ, "RETAILSIM_WEBHOOK_SECRET": SECRET}
        env.pop("RETAILSIM_OPS_TOKEN", None)
        if self.ops_token is not None:
            env["RETAILSIM_OPS_TOKEN"] = self.ops_token
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                self.command(), stdout=log, stderr=subprocess.STDOUT, env=env, cwd=self.workdir
            )
        self.wait_until_ready()

    def wait_until_ready(self) -> None:
        """Until every worker has answered /healthz (each probe on a fresh connection, which may reach any
        worker), or fail at once with the log when the process exits."""
        assert self.process is not None
        answered: set[int] = set()
        guard = time.monotonic() + READY_GUARD_S
        while time.monotonic() < guard:
            if self.process.poll() is not None:
                pytest.fail(f"server exited with {self.process.returncode}:\n{self.log.read_text()}")
            try:
                reply = httpx.get(f"{self.url}/healthz", timeout=5.0)
                if reply.status_code == 200:
                    answered.add(int(reply.json()["pid"]))
                    if len(answered) >= self.workers:
                        return
            except httpx.TransportError:
                pass
            time.sleep(0.1)  # a poll interval, not a wait for an outcome
        self.kill()
        pytest.fail(
            f"server alive but not ready after {READY_GUARD_S}s ({len(answered)} of {self.workers} workers "
            f"answered):\n{self.log.read_text()}"
        )

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks, no flush: what a crashed host looks like."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)  # several workers, then the dispatcher, shut down in turn
            except subprocess.TimeoutExpired:
                self.kill()

    def client(self, timeout: float = 10.0, *, ops: bool = True) -> httpx.Client:
        """A client of this server; with the operations token unless ``ops=False`` (a storefront's view)."""
        return httpx.Client(base_url=self.url, timeout=timeout, headers=OPS_HEADERS if ops else None)


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One flash-sale server shared by the API tests (SQLite store, speed 1)."""
    server = LiveServer(tmp_path_factory.mktemp("live"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def client(live_server: LiveServer) -> Iterator[httpx.Client]:
    with live_server.client() as made:
        yield made


def postgres_schema_or_skip(name: str) -> str:
    """A fresh, empty schema ``name`` on the test PostgreSQL; its store URL (``...?schema=name``)."""
    from tests.contract.backends import POSTGRES_URL, services_required

    try:
        from retailsim.core.stores.postgres import PostgresStore

        PostgresStore(POSTGRES_URL, schema=name, fresh=True).close()
    except Exception as exc:
        if services_required():
            pytest.fail(f"PostgreSQL required (RETAILSIM_REQUIRE_SERVICES=1) but unreachable: {exc}")
        pytest.skip(f"no PostgreSQL reachable at {POSTGRES_URL}: {exc}")
    separator = "&" if "?" in POSTGRES_URL else "?"
    return f"{POSTGRES_URL}{separator}schema={name}"


def new_order_no() -> str:
    return f"T{uuid.uuid4().hex[:12].upper()}"


def place_order(
    client: httpx.Client,
    order_no: str | None = None,
    *,
    sku: str = "SKU-00020",
    quantity: int = 1,
    key: str | None = None,
) -> tuple[httpx.Response, dict[str, Any]]:
    """A sandbox PaymentIntent, then the SCAPI order that references it (as a storefront checks out)."""
    from tests.factories import scapi_order

    order_no = order_no or new_order_no()
    price = 10.0
    intent = client.post(
        "/v1/sandbox/payment_intents",
        json={"amount": int(price * quantity * 100), "currency": "usd", "order_no": order_no},
    )
    assert intent.status_code == 200, intent.text
    body = scapi_order(order_no, sku=sku, quantity=quantity, intent=intent.json()["id"], price=price)
    response = client.post("/v1/orders", json=body, headers={"Idempotency-Key": key or f"key-{order_no}"})
    return response, body


def signed(
    body: dict[str, Any] | bytes,
    *,
    secret: str = SECRET,
    at: float | None = None,
    event_id: str | None = None,
) -> tuple[bytes, dict[str, str]]:
    """The raw body and its headers; ``event_id``: sent in the ``webhook-id`` header, and signed."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    stamp = int(time.time() if at is None else at)
    headers = {"Webhook-Signature": sign(secret, raw, stamp, event_id), "Content-Type": "application/json"}
    if event_id is not None:
        headers["webhook-id"] = event_id
    return raw, headers


def shop(
    client: httpx.Client, sku: str, stop: threading.Event, outcomes: dict[str, Any], limit: int = 2000
) -> None:
    """A storefront checking out one order after another until ``stop`` (or ``limit``) — recording each
    order's answer in ``outcomes`` as (status, sku), or (None, sku) when the answer was lost."""
    for _ in range(limit):  # bounded; a kill or ``stop`` ends it much sooner
        if stop.is_set():
            return
        order_no = new_order_no()
        try:
            response, _ = place_order(client, order_no, sku=sku)
            outcomes[order_no] = (response.status_code, sku)
        except (httpx.TransportError, AssertionError):
            outcomes[order_no] = (None, sku)  # the answer died with the process: outcome unknown
            return


def erp_orders(client: httpx.Client, order_no: str) -> list[str]:
    """The ERP sales orders the mock ERP holds for a storefront order number."""
    return list(client.get(f"/v1/sandbox/ledgers/{order_no}").json()["erp"]["sales_orders"])


def retry_until_answered(client: httpx.Client, order_no: str, sku: str, attempts: int = 50) -> httpx.Response:
    """What a storefront does with a request that timed out: send it again with the same key, waiting
    out 409 "in flight" (the first attempt may still be running, in this process or in another)."""
    for _ in range(attempts):
        response, _ = place_order(client, order_no, sku=sku)
        if response.status_code != 409:
            return response
        time.sleep(0.2)
    return response


def wait_until_in_erp(client: httpx.Client, order_nos: list[str], timeout_s: float = 60.0) -> list[str]:
    """Wait (bounded) until every order has reached the ERP; the ones that did not."""
    deadline = time.monotonic() + timeout_s
    pending = list(order_nos)
    while pending and time.monotonic() < deadline:
        pending = [no for no in pending if not erp_orders(client, no)]
        if pending:
            time.sleep(0.5)
    return pending
