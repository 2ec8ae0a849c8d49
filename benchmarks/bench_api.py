"""Benchmark: ``POST /v1/orders`` of the live core beside the same server's ``GET /healthz``, for SQLite with
one worker, PostgreSQL with one worker and PostgreSQL with two workers (``serve --workers 2``), in one run.

Machines here are shared and noisy, so the figures of merit are ratios measured in the same run: each
configuration's order rate against its own ``/healthz`` rate (the cost of a durable, idempotent order
against the cheapest request the same stack answers), and two workers against one on PostgreSQL. Beside
them, on Linux, the CPU time the server's processes spent per answered request: it does not depend on
how fast the driver is, which the rates do (the driver, one Python process, shares the two cores).

Each server is a real ``retailsim serve baseline`` subprocess on loopback; this script is the second
process that drives it: a pool of threads, each with its own keep-alive connection (so connections
spread over the workers), sending back to back for ``--seconds``. Orders are valid SCAPI orders built
from ``/v1/catalog`` (non-hero products, one unit), each with its own sandbox PaymentIntent, made after the
``/healthz`` phase (as many as that rate could place in the window) and before the orders' timed window,
so that only ``POST /v1/orders`` is timed; each has its own Idempotency-Key. A 202 is
counted; any other answer is an error and is reported.

    python benchmarks/bench_api.py                  # 10 s per phase and configuration
    python benchmarks/bench_api.py --seconds 5      # a quicker look
    python benchmarks/bench_api.py --config sqlite  # one configuration (sqlite, pg1, pg2; repeatable)
    RETAILSIM_POSTGRES_URL=postgresql://... python benchmarks/bench_api.py
"""

from __future__ import annotations

import argparse
import math
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

POSTGRES_URL = os.environ.get("RETAILSIM_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
STARTUP_S = 90.0
ISSUE_4_GOAL = 0.5  # orders at >= 50% of the healthz rate
CONFIGS = {"sqlite": "SQLite, 1 worker", "pg1": "PostgreSQL, 1 worker", "pg2": "PostgreSQL, 2 workers"}
WORKERS = {"sqlite": 1, "pg1": 1, "pg2": 2}


@dataclass
class Phase:
    requests: int
    errors: int
    seconds: float
    latencies_s: list[float]
    server_cpu_s: float | None = None  # CPU the server's processes used during the phase (Linux)

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def server_us_per_request(self) -> float:
        answered = self.requests + self.errors
        if self.server_cpu_s is None or not answered:
            return float("nan")
        return 1e6 * self.server_cpu_s / answered

    def percentile_ms(self, q: float) -> float:
        if not self.latencies_s:
            return float("nan")
        ordered = sorted(self.latencies_s)
        return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tree_cpu_s(root: int) -> float | None:
    """CPU seconds (user + system) used so far by process ``root`` and its descendants, from /proc (Linux);
    None where there is no /proc. PostgreSQL's own backends are not descendants: not counted."""
    proc = Path("/proc")
    if not (proc / str(root) / "stat").exists():
        return None
    tick = os.sysconf("SC_CLK_TCK")
    parents: dict[int, int] = {}
    used: dict[int, float] = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        pid = int(entry.name)
        parents[pid] = int(fields[1])
        used[pid] = (int(fields[11]) + int(fields[12])) / tick
    tree = {root}
    while True:
        more = {pid for pid, parent in parents.items() if parent in tree} - tree
        if not more:
            return sum(used.get(pid, 0.0) for pid in tree)
        tree |= more


def drop_schema(schema: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


class Server:
    """One ``retailsim serve`` subprocess (and its workers), stopped by its process id."""

    def __init__(self, store: str, workers: int, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = workdir / f"serve-{workers}.log"
        command = [sys.executable, "-m", "retailsim.sim.cli", "serve", "baseline", "--port", str(self.port)]
        command += ["--store", store, "--workers", str(workers)]
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=workdir)
        self.workers = workers

    def wait_ready(self, threads: int) -> None:
        """Until /healthz answers on as many distinct workers as there are (bounded)."""
        deadline = time.monotonic() + STARTUP_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"server exited {self.process.returncode}:\n{self.log.read_text()}")
            clients = [httpx.Client(base_url=self.url, timeout=2.0) for _ in range(threads)]
            try:
                pids = set(drive_once(clients, lambda c: c.get("/healthz").json()["pid"]))
                if len(pids) >= self.workers:
                    return
            except httpx.TransportError:
                pass
            finally:
                for client in clients:
                    client.close()
            time.sleep(0.3)
        self.stop()
        raise SystemExit(f"server did not come up within {STARTUP_S}s:\n{self.log.read_text()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def drive_once(clients: list[httpx.Client], call: Any) -> list[Any]:
    """``call(client)`` on every client at once; the results."""
    results: list[Any] = [None] * len(clients)
    errors: list[BaseException] = []

    def one(index: int) -> None:
        try:
            results[index] = call(clients[index])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(clients))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results


def drive(
    url: str, threads: int, seconds: float, request: Any, ok: int, work: list[Any] | None = None
) -> Phase:
    """Closed loop: ``threads`` connections send ``request(client, item)`` back to back for ``seconds``
    (or until ``work`` runs out); a status other than ``ok`` counts as an error."""
    latencies: list[list[float]] = [[] for _ in range(threads)]
    errors = [0] * threads
    lock = threading.Lock()
    barrier = threading.Barrier(threads + 1)
    items = iter(work) if work is not None else None

    def loop(index: int) -> None:
        with httpx.Client(base_url=url, timeout=30.0) as client:
            client.get("/healthz")  # connect before the clock starts
            barrier.wait()
            deadline = time.perf_counter() + seconds
            while time.perf_counter() < deadline:
                item = None
                if items is not None:
                    with lock:
                        item = next(items, None)
                    if item is None:
                        return
                started = time.perf_counter()
                try:
                    status = request(client, item).status_code
                except httpx.HTTPError:
                    status = -1
                latencies[index].append(time.perf_counter() - started)
                if status != ok:
                    errors[index] += 1

    pool = [threading.Thread(target=loop, args=(i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in pool:
        thread.join()
    elapsed = min(time.perf_counter() - started, seconds) if work is None else time.perf_counter() - started
    flat = [x for part in latencies for x in part]
    return Phase(len(flat) - sum(errors), sum(errors), elapsed, flat)


def prepare_orders(url: str, threads: int, count: int) -> list[tuple[str, dict[str, Any]]]:
    """``count`` valid orders from the catalog, each with its own authorised sandbox PaymentIntent."""
    with httpx.Client(base_url=url, timeout=30.0) as client:
        catalog = client.get("/v1/catalog").json()
    products = [p for p in catalog["products"] if not p["hero"]]
    rng = random.Random(7)
    plans = [
        (f"B{uuid.uuid4().hex[:14].upper()}", rng.choice(products), rng.choice(catalog["shoppers"]))
        for _ in range(count)
    ]
    orders: list[tuple[str, dict[str, Any]]] = []
    lock = threading.Lock()
    chunks = [plans[i::threads] for i in range(threads)]

    def make(chunk: list[tuple[str, dict[str, Any], dict[str, Any]]]) -> None:
        with httpx.Client(base_url=url, timeout=30.0) as client:
            for order_no, product, shopper in chunk:
                minor = round(product["price"] * 100)
                intent = client.post(
                    "/v1/sandbox/payment_intents",
                    json={"amount": minor, "currency": "usd", "order_no": order_no},
                ).json()
                with lock:
                    orders.append((order_no, scapi_order(catalog, order_no, product, shopper, intent["id"])))

    pool = [threading.Thread(target=make, args=(chunk,)) for chunk in chunks]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return orders


def scapi_order(
    catalog: dict[str, Any], order_no: str, product: dict[str, Any], shopper: dict[str, Any], intent: str
) -> dict[str, Any]:
    address = {
        k: shopper[k]
        for k in ("firstName", "lastName", "address1", "city", "stateCode", "postalCode", "countryCode")
    }
    price = float(product["price"])
    return {
        "orderNo": order_no,
        "orderToken": f"tok{order_no}",
        "siteId": catalog["site_id"],
        "creationDate": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "currency": catalog["currency"],
        "channelType": "storefront",
        "status": "new",
        "confirmationStatus": "not_confirmed",
        "customerInfo": {k: shopper[k] for k in ("customerId", "customerNo", "email")},
        "billingAddress": address,
        "productItems": [
            {
                "itemId": f"{order_no}-1",
                "productId": product["sku"],
                "productName": product["name"],
                "quantity": 1,
                "basePrice": price,
                "price": price,
                "tax": 0.0,
                "shipmentId": "me",
            }
        ],
        "shipments": [{"shipmentId": "me", "shippingAddress": address, "shippingMethod": {"id": "001"}}],
        "paymentInstruments": [
            {
                "paymentInstrumentId": f"pi-{order_no}",
                "paymentMethodId": "CREDIT_CARD",
                "amount": price,
                "c_paymentIntentId": intent,
            }
        ],
        "productSubTotal": price,
        "shippingTotal": 0.0,
        "taxTotal": 0.0,
        "orderTotal": price,
    }


def measure(
    label: str, store: str, workers: int, args: argparse.Namespace, workdir: Path
) -> tuple[Phase, Phase]:
    server = Server(store, workers, workdir)
    try:
        server.wait_ready(args.threads)
        pid = server.process.pid
        before = tree_cpu_s(pid)
        health = drive(server.url, args.threads, args.seconds, lambda c, _: c.get("/healthz"), 200)
        after_health = tree_cpu_s(pid)
        # Enough orders to fill the window: a durable order is never cheaper than /healthz.
        pool = args.orders or math.ceil(health.rate * args.seconds * 1.2) + args.threads
        orders = prepare_orders(server.url, args.threads, pool)
        between = tree_cpu_s(pid)
        placed = drive(
            server.url,
            args.threads,
            args.seconds,
            lambda c, item: c.post(
                "/v1/orders", json=item[1], headers={"Idempotency-Key": f"bench-{item[0]}"}
            ),
            202,
            work=orders,
        )
        after = tree_cpu_s(pid)
        if before is not None and after_health is not None and between is not None and after is not None:
            health.server_cpu_s, placed.server_cpu_s = after_health - before, after - between
    finally:
        server.stop()
    exhausted = " (order pool used up: raise --orders)" if placed.requests + placed.errors >= pool else ""
    print(f"  {label}: done{exhausted}", file=sys.stderr)
    return health, placed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="timed window per phase (default 10)")
    parser.add_argument("--threads", type=int, default=16, help="driver threads = connections (default 16)")
    parser.add_argument(
        "--orders",
        type=int,
        default=None,
        help="orders prepared per configuration (default: enough for the window at the healthz rate)",
    )
    parser.add_argument(
        "--config",
        action="append",
        choices=CONFIGS,
        help="measure only this configuration (repeatable; default: all three)",
    )
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="bench-api-"))
    schema = f"bench_api_{os.getpid()}"
    pg_url = f"{POSTGRES_URL}{'&' if '?' in POSTGRES_URL else '?'}schema={schema}"
    stores = {"sqlite": f"sqlite:{workdir / 'core.db'}", "pg1": pg_url, "pg2": pg_url}
    configs = [
        (CONFIGS[name], stores[name], WORKERS[name]) for name in CONFIGS if name in (args.config or CONFIGS)
    ]
    print(
        f"bench-api: {os.cpu_count()} CPUs, {args.threads} driver threads in one process, {args.seconds:g} s per "
        f"phase; scenario baseline at speed 1",
        file=sys.stderr,
    )
    results: dict[str, tuple[Phase, Phase]] = {}
    try:
        for label, store, workers in configs:
            if store.startswith("postgresql"):
                drop_schema(schema)
                for ledgers in workdir.glob("*.ledgers"):
                    ledgers.unlink()
            results[label] = measure(label, store, workers, args, workdir)
    finally:
        try:
            drop_schema(schema)
        except Exception as exc:  # a bench without PostgreSQL has nothing to clean
            print(f"bench-api: could not drop schema {schema}: {exc}", file=sys.stderr)
        shutil.rmtree(workdir, ignore_errors=True)

    header = (
        f"{'configuration':<24}{'healthz/s':>10}{'p50 ms':>8}{'p99 ms':>8}{'cpu µs':>8}"
        f"{'orders/s':>10}{'p50 ms':>8}{'p99 ms':>8}{'cpu µs':>8}{'errors':>8}{'orders/healthz':>16}"
    )
    print(header)
    print("-" * len(header))
    for label, (health, placed) in results.items():
        print(
            f"{label:<24}{health.rate:>10,.0f}{health.percentile_ms(0.5):>8.1f}{health.percentile_ms(0.99):>8.1f}"
            f"{health.server_us_per_request:>8.0f}"
            f"{placed.rate:>10,.0f}{placed.percentile_ms(0.5):>8.1f}{placed.percentile_ms(0.99):>8.1f}"
            f"{placed.server_us_per_request:>8.0f}{placed.errors + health.errors:>8}"
            f"{placed.rate / health.rate:>16.2f}"
        )
    print(
        "cpu µs: CPU time of the server's processes (not PostgreSQL's) per answered request in the window, "
        "whatever it was spent on (an order's deliveries to the mocks run while orders arrive)"
    )
    print()
    one, two = results.get(CONFIGS["pg1"]), results.get(CONFIGS["pg2"])
    if one and two:
        print(
            f"scaling on PostgreSQL, 2 workers / 1 worker: orders x{two[1].rate / one[1].rate:.2f}, "
            f"healthz x{two[0].rate / one[0].rate:.2f}"
        )
    sqlite = results.get(CONFIGS["sqlite"])
    if one and sqlite:
        print(f"PostgreSQL 1 worker / SQLite 1 worker: orders x{one[1].rate / sqlite[1].rate:.2f}")
    for label, (health, placed) in results.items():
        ratio = placed.rate / health.rate
        verdict = "met" if ratio >= ISSUE_4_GOAL else "not met"
        print(
            f"issue 4 goal, orders >= {ISSUE_4_GOAL:.0%} of the healthz rate, {label}: {ratio:.0%} ({verdict})"
        )


if __name__ == "__main__":
    main()
