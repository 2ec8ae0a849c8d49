"""The production-shaped deployment on loopback: API hosts (``serve --role api``) and one dispatcher
(``serve --role dispatcher``) over one PostgreSQL store (sim/scaleout.py), and the one-dispatcher-per-store
lock (sim/dispatcher_lock.py).

What it shows: orders spread over two API hosts (by hand, and by locust) each reach the one ERP exactly
once and reconciliation is clean; the dispatcher's internal API lets in only the operations token; a
second dispatcher on a store is refused (exit 2, one line naming host, pid and since), on PostgreSQL and
on SQLite; a ``--standby`` takes over after ``kill -9`` of the holder — on SQLite on one host, on
PostgreSQL from a working directory of its own while the API host keeps accepting orders — with nothing
lost or doubled; a dispatcher whose lock session ends stops; and every bad combination of options is
exit 2 with its reason, before anything is created.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from retailsim.sim.dispatcher_lock import EXIT_LOCK_LOST, LOCK_CLASS, advisory_key
from tests.contract.backends import POSTGRES_URL, drop_postgres_schema
from tests.factories import scapi_order
from tests.live.conftest import (
    OPS_HEADERS,
    OPS_TOKEN,
    READY_GUARD_S,
    SECRET,
    LiveServer,
    erp_orders,
    free_port,
    new_order_no,
    place_order,
    postgres_schema_or_skip,
    retry_until_answered,
    shop,
    wait_until_in_erp,
)
from tests.live.test_locust_smoke import LOCUST, run_locust

pytestmark = [pytest.mark.live]

SPEED = 20.0
ORDERS_PER_HOST = 10
SHOPPERS = 4
LOAD_BEFORE_KILL_S = 1.5
ORDERS_WHILE_AWAY = 5


class RoleServer(LiveServer):
    """``retailsim serve --role ROLE`` (and ``--dispatcher``, ``--standby``); its log named after it, so
    several servers can share one working directory."""

    def __init__(
        self,
        workdir: Path,
        name: str,
        *,
        role: str,
        store: str,
        dispatcher: str = "",
        standby: bool = False,
        workers: int = 1,
    ) -> None:
        super().__init__(workdir, store=store, speed=SPEED, workers=workers)
        self.name = name
        self.role = role
        self.dispatcher = dispatcher
        self.standby = standby

    @property
    def log(self) -> Path:
        return self.workdir / f"{self.name}-{self.boots}.log"

    def command(self) -> list[str]:
        command = [*super().command(), "--role", self.role]
        if self.dispatcher:
            command += ["--dispatcher", self.dispatcher]
        if self.standby:
            command.append("--standby")
        return command

    def launch(self) -> None:
        """Start it without waiting for readiness (a standby does not listen until it takes over)."""
        self.boots += 1
        env = {**os.environ, "RETAILSIM_WEBHOOK_SECRET": SECRET, "RETAILSIM_OPS_TOKEN": OPS_TOKEN}
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                self.command(), stdout=log, stderr=subprocess.STDOUT, env=env, cwd=self.workdir
            )

    def wait_for_line(self, text: str) -> None:
        """Until its log holds ``text``; fails at once if the process exits (bounded by the ready guard)."""
        assert self.process is not None
        guard = time.monotonic() + READY_GUARD_S
        while time.monotonic() < guard:
            if text in self.log.read_text():
                return
            if self.process.poll() is not None:
                pytest.fail(f"{self.name} exited with {self.process.returncode}:\n{self.log.read_text()}")
            time.sleep(0.1)  # a poll interval, not a wait for an outcome
        pytest.fail(f"{self.name} never said {text!r}:\n{self.log.read_text()}")


def serve_once(
    args: list[str], cwd: Path, *, token: str | None = OPS_TOKEN
) -> subprocess.CompletedProcess[str]:
    """``retailsim serve ARGS`` that is expected to refuse: its exit code and output (bounded)."""
    env = {k: v for k, v in os.environ.items() if k != "RETAILSIM_OPS_TOKEN"}
    if token is not None:
        env["RETAILSIM_OPS_TOKEN"] = token
    command = [sys.executable, "-m", "retailsim.sim.cli", "serve", *args]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False)


def assert_refused_naming(finished: subprocess.CompletedProcess[str], holder_pid: int) -> None:
    assert finished.returncode == 2, finished.stdout + finished.stderr
    lines = finished.stderr.strip().splitlines()
    assert len(lines) == 1, finished.stderr
    assert "already has a dispatcher" in lines[0]
    assert f"pid {holder_pid}," in lines[0] and "host " in lines[0] and "since 20" in lines[0], lines[0]


@pytest.fixture
def schema_url(request: pytest.FixtureRequest) -> Iterator[str]:
    name = f"roles_{request.node.name.removeprefix('test_')[:16]}_{os.getpid()}"
    url = postgres_schema_or_skip(name)
    yield url
    drop_postgres_schema(name)


@pytest.fixture
def servers() -> Iterator[list[LiveServer]]:
    """The servers a test starts, stopped at its end whatever happened."""
    started: list[LiveServer] = []
    yield started
    for server in reversed(started):  # API hosts before the dispatcher they call
        server.stop()


@dataclass
class Deployment:
    """The production shape on loopback: one dispatcher, two API hosts, one PostgreSQL schema."""

    schema_url: str
    dispatcher: RoleServer
    hosts: list[RoleServer]


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    name = f"roles_shape_{os.getpid()}"
    url = postgres_schema_or_skip(name)
    workdir = tmp_path_factory.mktemp("shape")
    dispatcher = RoleServer(workdir, "dispatcher", role="dispatcher", store=url)
    hosts = [RoleServer(workdir, f"api{i}", role="api", store=url, dispatcher=dispatcher.url) for i in (1, 2)]
    try:
        dispatcher.start()
        for host in hosts:
            host.start()
        yield Deployment(url, dispatcher, hosts)
    finally:
        for server in [*hosts, dispatcher]:  # API hosts before the dispatcher they call
            server.stop()
        drop_postgres_schema(name)


@pytest.mark.services
def test_two_api_hosts_and_one_dispatcher_deliver_every_order_once_and_reconcile(
    deployment: Deployment,
) -> None:
    placed: dict[str, int] = {}
    clients = [host.client() for host in deployment.hosts]
    try:
        pids = {int(client.get("/healthz").json()["pid"]) for client in clients}
        assert len(pids) == 2, "the two API hosts are one process"
        for _ in range(ORDERS_PER_HOST):
            for index, client in enumerate(clients):
                response, body = place_order(client, sku=f"SKU-{20 + index:05d}")
                assert response.status_code == 202, response.text
                placed[body["orderNo"]] = index
        reader = clients[0]
        numbers = sorted(placed)
        assert wait_until_in_erp(reader, numbers) == []
        time.sleep(1.0)  # a second sales order, if any were coming, would be posted by now
        assert {no: len(erp_orders(reader, no)) for no in numbers} == dict.fromkeys(numbers, 1)
        for client in clients:  # both hosts tell the same story: the dispatcher's
            report = client.get("/v1/reconciliation").json()
            assert report["clean"] is True, report["drift"]
            assert report["checked"] >= len(numbers)
    finally:
        for client in clients:
            client.close()


@pytest.mark.services
def test_only_the_operations_token_opens_the_dispatchers_internal_api(deployment: Deployment) -> None:
    clock = f"{deployment.dispatcher.url}/internal/clock"
    assert httpx.get(clock, timeout=10).status_code == 401
    assert httpx.get(clock, headers={"Authorization": "Bearer not-the-token"}, timeout=10).status_code == 401
    assert httpx.get(clock, headers=OPS_HEADERS, timeout=10).status_code == 200
    assert httpx.get(f"{deployment.dispatcher.url}/healthz", timeout=10).status_code == 200  # for probes


def orders_answered(host: RoleServer) -> int:
    """``POST /v1/orders`` answers this API host gave, by its own ``/metrics``."""
    with host.client() as client:
        text = client.get("/metrics").text
    pattern = r'^retailsim_http_requests_total\{method="POST",route="/v1/orders",status="\d+"\} ([0-9.e+]+)$'
    return int(sum(float(n) for n in re.findall(pattern, text, flags=re.MULTILINE)))


@pytest.mark.services
@pytest.mark.skipif(not LOCUST.exists(), reason="locust is not installed (dev extra)")
def test_locust_spread_over_both_api_hosts_has_no_failures_and_leaves_no_drift(
    deployment: Deployment, tmp_path: Path
) -> None:
    before = [orders_answered(host) for host in deployment.hosts]
    hosts = ",".join(host.url for host in deployment.hosts)
    run_locust(deployment.hosts[0].url, tmp_path, FLASH_SALE_BASE_USERS="4", RETAILSIM_API_HOSTS=hosts)
    served = [orders_answered(host) - was for host, was in zip(deployment.hosts, before, strict=True)]
    assert all(count > 0 for count in served), f"orders answered per API host: {served}"
    with deployment.hosts[1].client() as client:
        report = client.get("/v1/reconciliation").json()
    assert report["clean"] is True, report["drift"]


@pytest.mark.services
def test_a_second_dispatcher_on_a_postgresql_store_is_refused_naming_the_holder(
    deployment: Deployment, tmp_path: Path
) -> None:
    holder = deployment.dispatcher.process
    assert holder is not None
    for role in ("dispatcher", "both"):  # whatever would deliver is refused
        port = str(free_port())
        finished = serve_once(["--role", role, "--store", deployment.schema_url, "--port", port], tmp_path)
        assert_refused_naming(finished, holder.pid)
    assert list(tmp_path.iterdir()) == []  # it replayed no journal and wrote nothing
    with deployment.hosts[0].client() as client:  # the holder goes on: orders still reach its ERP
        response, body = place_order(client)
        assert response.status_code == 202, response.text
        assert wait_until_in_erp(client, [body["orderNo"]]) == []


def test_on_a_sqlite_store_a_second_serve_is_refused_and_a_standby_takes_over(
    tmp_path: Path, servers: list[LiveServer]
) -> None:
    holder = LiveServer(tmp_path, speed=SPEED)
    servers.append(holder)
    holder.start()
    assert holder.process is not None
    finished = serve_once(["--store", holder.store, "--port", str(free_port())], tmp_path)
    assert_refused_naming(finished, holder.process.pid)
    with holder.client() as client:  # the holder is untouched: its boot is still the first
        response, body = place_order(client)
        assert response.status_code == 202
        assert client.get(f"/v1/sandbox/ledgers/{body['orderNo']}").json()["boot"] == 1
        assert wait_until_in_erp(client, [body["orderNo"]]) == []

    standby = RoleServer(tmp_path, "standby", role="both", store=holder.store, standby=True)
    servers.append(standby)
    standby.launch()
    standby.wait_for_line("standby:")
    holder.kill()
    standby.wait_until_ready()
    with standby.client() as client:  # the journal replayed: the ERP has the order once, not re-sent
        ledgers = client.get(f"/v1/sandbox/ledgers/{body['orderNo']}").json()
        assert ledgers["boot"] == 2
        assert len(ledgers["erp"]["sales_orders"]) == 1
        response, later = place_order(client)
        assert response.status_code == 202, response.text
        assert wait_until_in_erp(client, [later["orderNo"]]) == []
        time.sleep(
            1.0
        )  # a second sales order for the first order, if any were coming, would be posted by now
        assert erp_orders(client, body["orderNo"]) == ledgers["erp"]["sales_orders"]


@pytest.mark.services
def test_standby_takes_over_after_kill_9_of_the_holder_with_nothing_lost_or_doubled(
    tmp_path: Path, schema_url: str, servers: list[LiveServer]
) -> None:
    holder = RoleServer(tmp_path, "holder", role="dispatcher", store=schema_url)
    servers.append(holder)
    holder.start()
    other_host = tmp_path / "other-host"  # its own working directory: the mocks' journal is in the store
    other_host.mkdir()
    standby = RoleServer(other_host, "standby", role="dispatcher", store=schema_url, standby=True)
    servers.append(standby)
    standby.launch()
    standby.wait_for_line("standby:")
    assert standby.process is not None and holder.process is not None
    assert f"pid {holder.process.pid}," in standby.log.read_text()
    api = RoleServer(tmp_path, "api", role="api", store=schema_url, dispatcher=f"{holder.url},{standby.url}")
    servers.append(api)
    api.start()

    stop = threading.Event()
    outcomes: dict[str, Any] = {}
    clients = [api.client(timeout=5.0) for _ in range(SHOPPERS)]
    shoppers = [
        threading.Thread(target=shop, args=(client, f"SKU-{40 + i:05d}", stop, outcomes))
        for i, client in enumerate(clients)
    ]
    try:
        with api.client() as client:  # intents for the orders that will arrive while no dispatcher runs
            away = []
            for _ in range(ORDERS_WHILE_AWAY):
                order_no = new_order_no()
                intent = client.post(
                    "/v1/sandbox/payment_intents",
                    json={"amount": 1000, "currency": "usd", "order_no": order_no},
                )
                assert intent.status_code == 200, intent.text
                away.append(
                    scapi_order(order_no, sku="SKU-00050", quantity=1, intent=intent.json()["id"], price=10.0)
                )
        for thread in shoppers:
            thread.start()
        time.sleep(LOAD_BEFORE_KILL_S)
        os.kill(standby.process.pid, signal.SIGSTOP)  # it cannot take over before the orders below are in
        holder.kill()  # kill -9 of the dispatcher, mid-load
        stop.set()
        for thread in shoppers:
            thread.join(timeout=30)
        with api.client() as client:  # no dispatcher anywhere now: the API host still accepts, durably
            for body in away:
                response = client.post(
                    "/v1/orders", json=body, headers={"Idempotency-Key": f"away-{body['orderNo']}"}
                )
                assert response.status_code == 202, response.text
                outcomes[body["orderNo"]] = (202, "SKU-00050")
        os.kill(standby.process.pid, signal.SIGCONT)
        standby.wait_for_line("taking over")
        standby.wait_until_ready()

        accepted = sorted(no for no, (status, _) in outcomes.items() if status == 202)
        unknown = sorted(no for no, (status, _) in outcomes.items() if status is None)
        assert len(accepted) >= 10 + ORDERS_WHILE_AWAY, f"too little load before the kill: {len(accepted)}"
        with api.client() as client:
            for order_no in unknown:  # answers lost with the dispatcher: the storefront sends again
                response = retry_until_answered(client, order_no, outcomes[order_no][1])
                assert response.status_code == 202, response.text
                accepted.append(order_no)
            pending = wait_until_in_erp(client, accepted)
            assert not pending, f"{len(pending)} accepted orders never reached the ERP, e.g. {pending[:3]}"
            time.sleep(1.0)  # a second sales order, if any were coming, would be posted by now
            doubled = {no: n for no in accepted if (n := len(erp_orders(client, no))) != 1}
            assert not doubled, f"orders with other than one ERP sales order: {doubled}"
            assert client.get(f"/v1/sandbox/ledgers/{accepted[0]}").json()["boot"] == 2  # the standby's world
            report = client.get("/v1/reconciliation").json()
            assert report["clean"] is True, report["drift"]
    finally:
        stop.set()
        if standby.process is not None and standby.process.poll() is None:
            os.kill(standby.process.pid, signal.SIGCONT)
        for client in clients:
            client.close()


@pytest.mark.services
def test_a_dispatcher_whose_lock_session_ends_stops_and_frees_the_store(
    tmp_path: Path, schema_url: str, servers: list[LiveServer]
) -> None:
    """PostgreSQL ends the lock's session (as it does for a host it stops hearing, by TCP keepalive): the
    lock is gone, a standby may take over, so the dispatcher must stop delivering — it exits."""
    import psycopg

    holder = RoleServer(tmp_path, "dispatcher", role="dispatcher", store=schema_url)
    servers.append(holder)
    holder.start()
    assert holder.process is not None
    schema = schema_url.rsplit("schema=", 1)[1]
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        ended = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND classid = %s"
            " AND objid = %s AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            (LOCK_CLASS, advisory_key(schema) % (1 << 32)),
        ).fetchall()
    assert ended == [(True,)], ended
    assert holder.process.wait(timeout=60) == EXIT_LOCK_LOST
    assert "lost the store's dispatcher lock" in holder.log.read_text()
    successor = RoleServer(tmp_path, "successor", role="dispatcher", store=schema_url)
    servers.append(successor)
    successor.start()  # the store is free again


@pytest.mark.parametrize(
    ("args", "token", "reason"),
    [
        (
            ["--role", "api", "--store", "postgresql://u@127.0.0.1/db"],
            OPS_TOKEN,
            "--role api needs --dispatcher",
        ),
        (
            ["--role", "api", "--dispatcher", "http://127.0.0.1:9", "--store", "sqlite:core.db"],
            OPS_TOKEN,
            "--role api shares its store with the other hosts: --store postgresql://",
        ),
        (["--role", "dispatcher", "--store", "sqlite:core.db"], OPS_TOKEN, "--store postgresql://"),
        (["--role", "dispatcher", "--store", "memory"], OPS_TOKEN, "--store postgresql://"),
        (
            ["--role", "dispatcher", "--workers", "2", "--store", "postgresql://u@127.0.0.1/db"],
            OPS_TOKEN,
            "--role dispatcher is one process",
        ),
        (["--dispatcher", "http://127.0.0.1:9"], OPS_TOKEN, "--dispatcher is for --role api"),
        (
            [
                "--role",
                "api",
                "--dispatcher",
                "http://127.0.0.1:9",
                "--standby",
                "--store",
                "postgresql://u@h/db",
            ],
            OPS_TOKEN,
            "--standby is for a dispatcher",
        ),
        (
            ["--role", "api", "--dispatcher", "127.0.0.1:9", "--store", "postgresql://u@127.0.0.1/db"],
            OPS_TOKEN,
            "give http://HOST:PORT",
        ),
        (
            ["--role", "api", "--dispatcher", "http://127.0.0.1:9", "--store", "postgresql://u@127.0.0.1/db"],
            None,
            "set RETAILSIM_OPS_TOKEN, the same on every host",
        ),
        (["--role", "primary"], OPS_TOKEN, "--role"),
    ],
)
def test_bad_role_combinations_are_refused_before_anything_starts(
    tmp_path: Path, args: list[str], token: str | None, reason: str
) -> None:
    finished = serve_once(args, tmp_path, token=token)
    assert finished.returncode == 2, finished.stdout + finished.stderr
    assert reason in " ".join(finished.stderr.split()), finished.stderr
    assert list(tmp_path.iterdir()) == []  # nothing was created
