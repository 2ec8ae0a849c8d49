"""The two tiers of live mode over a shared PostgreSQL store: API workers (ingress) and one dispatcher
(the mock systems and delivery), on one host (``serve --workers N``) or on many (``serve --role api`` on
N hosts behind a load balancer, ``serve --role dispatcher`` on one).

The roles:

* ``--workers N`` (role ``both``): a supervisor, a dispatcher child on a loopback socket and N workers
  on the public port, all on this host (below).
* ``--role dispatcher``: the dispatcher alone, in the ``serve`` process, its internal API on
  ``--host:--port`` for API hosts anywhere (``run_delivery_tier``).
* ``--role api --dispatcher URL[,URL]``: N workers alone (``serve_api_tier``); they find the dispatcher
  by URL — several URLs for a dispatcher and its standbys: a standby does not listen until it has taken
  over, so the one that answers is the one that holds the store.

Whatever runs the dispatcher first holds the store's dispatcher lock (sim/dispatcher_lock.py): the
``serve`` process for ``--role dispatcher``, the supervisor for ``--workers N`` (so a replaced dispatcher
child needs none of its own). Workers authenticate to the dispatcher with the operations token
(``RETAILSIM_OPS_TOKEN``, ``Authorization: Bearer``; ``/internal/*`` is 401 without it): every API host
needs that token anyway for its operations endpoints (behind a load balancer all of them must accept the
same one), so one secret is handed to every host rather than two, and the dispatcher's internal API —
which can read every mock's ledger and change the storefront's records — is no less guarded than the
operations endpoints that can replay dead letters.

The processes of ``--workers N``:

* **The supervisor** (the ``serve`` process) starts the dispatcher, waits until it answers, then hands
  the public port to uvicorn's own multi-process mode (``uvicorn.run(..., workers=N)``): uvicorn binds
  the port once, shares the socket with N worker processes, replaces a worker that dies and stops them
  all on SIGINT/SIGTERM. A watcher thread replaces the dispatcher if it dies. When uvicorn returns, the
  dispatcher is stopped last, because workers finishing their requests still call it.
* **The dispatcher** runs the same ``LiveRuntime`` as ``--workers 1`` — the world on
  ``RealtimeEnvironment``: mock systems, fault schedule, timers, outbox delivery, the mocks' webhooks
  into its own core — on the shared store, and is the only process that claims outbox rows
  (``PostgresStore.claim_next``: ``FOR UPDATE SKIP LOCKED`` on a lease). It serves a small internal API
  on 127.0.0.1, on a socket the supervisor binds once, so a replaced dispatcher keeps the address.
* **API workers** each host an ingress-only ``IntegrationCore`` on the store behind the public API
  (``create_app`` over ``WorkerHost``): orders, webhooks (inbox dedupe in the store), timelines, stock,
  dead letters. They never deliver, run timers or ``recover()``: releasing leases from a worker would
  hand the dispatcher's in-flight messages out a second time.

Why these mechanisms:

* **Mocks stay in one process, reached over HTTP (loopback within one host).** A SimPy world is one
  event loop under one lock; splitting it across processes would be a distributed simulation. What a
  worker needs from the mocks — sandbox payment intents and ledgers, the storefront's record of exported
  orders, reconciliation, the catalog, breaker states — it asks the dispatcher for over HTTP (httpx,
  one pooled client per worker; Starlette on the other side): plain, inspectable, and the same calls
  ``LiveRuntime`` serves in one process. An unreachable dispatcher is ``HostUnavailable``: 503, retry.
* **The dispatcher wakes on PostgreSQL NOTIFY, not on a polling tick.** Every outbox append notifies
  the schema's channel inside its transaction (``PostgresStore``), so the notice arrives at commit and
  never for a rolled-back append; the dispatcher LISTENs (``watch_appends``) and wakes that destination's
  workers at once. After a reconnection it wakes every destination, since notices can be missed.
* **Nothing is left behind when a process dies.** A worker holds no leases, and an idempotency key's
  in-flight claim lives in the transaction that does the work: PostgreSQL rolls back the open
  transaction of a killed worker, claim and all, so the client's retry with the same key runs at once.
  A replaced dispatcher ``recover()``s the dead one's leases, and its mocks come back from their journal
  (sim/live.py).
* **The storefront hears of an order before the core commits it** (a status update may be delivered
  before the HTTP reply), so "received" is a synchronous call, one per batch of orders the worker
  commits together; "answered" is queued and sent in batches by a background thread, retried until the
  dispatcher takes it, so a committed order's reply never waits for a mock's bookkeeping.
* **Checkout does not depend on the dispatcher.** While it is down or being replaced (its socket stays
  bound by the supervisor, so a call would hang rather than fail), the first "received" call that fails
  (``NOTICE_TIMEOUT_S``) marks it away: from then on "received" notices join the same ordered queue as
  "answered" ones, in front of them, and orders are accepted — durably, in the shared store — without
  waiting; the queue is delivered when a dispatcher answers again. The PaymentIntent check of ingress
  is skipped while it is away (the core's own verification of the authorisation still runs).
* **One clock.** Every process reads ``LiveClock`` from the origin kept in the dispatcher's journal;
  workers ask the dispatcher for it when they start (an API host that has never reached a dispatcher
  knows neither the clock nor the catalog, so it waits for one, bounded, before it serves).
* **Children die with the parent.** Each child asks the kernel for SIGTERM when the supervisor dies
  (``PR_SET_PDEATHSIG`` on Linux) and exits at once if it is already gone; SIGINT/SIGTERM of ``serve``
  stops the workers, then the dispatcher.

Differences from ``--workers 1``, by design: a ``core_crash`` fault stops the dispatcher's core
(delivery, timers, the mocks' webhooks) while the workers keep accepting, as a separate ingress tier
would; ``/v1/ops/summary`` is the dispatcher's (backlog, DLQ, breakers, delivery counters) plus the
answering worker's ingress counters under ``worker``; request counters in ``/metrics`` are per worker.
"""

from __future__ import annotations

import contextlib
import ctypes
import hmac
import json
import multiprocessing
import os
import queue
import random
import signal
import socket
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict, dataclass, replace
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from retailsim.core.api import HostUnavailable, create_app
from retailsim.core.service import ApiReply, IntegrationCore
from retailsim.core.stores import open_store, split_schema
from retailsim.scenarios import load
from retailsim.sim.host import LiveClock, SharedHost, reply_from_wire, reply_to_wire, storefront_orders
from retailsim.sim.live import OPS_TOKEN_ENV, LiveRuntime, announce_ops_token, resolve_secret, server_options
from retailsim.sim.world import core_config_for

SETTINGS_ENV = "RETAILSIM_SCALEOUT"
WORKER_APP = "retailsim.sim.scaleout:worker_app"
READY_TIMEOUT_S = 60.0
PROXY_TIMEOUT_S = 10.0
NOTICE_TIMEOUT_S = 1.0  # a call on checkout's path gives up this soon and the order goes on without it
ANSWER_BATCH = 200
PR_SET_PDEATHSIG = 1
Announce = Callable[[str], None]  # where a process says what it is doing (the console, by default)


@dataclass(frozen=True)
class ScaleOutSettings:
    """What every child process needs to build its part; passed as JSON (environment, arguments)."""

    scenario: str
    overrides: list[str]
    store_url: str
    speed: float
    supervisor_pid: int
    dispatcher_url: str = ""
    workers: int = 2

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ScaleOutSettings:
        return cls(**json.loads(text))


def die_with_parent(parent_pid: int) -> None:
    """Ask the kernel for SIGTERM when the parent dies; exit now if it already has (no orphans)."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent_pid:
        os._exit(0)


# ---- the dispatcher: the live runtime and its internal API ---------------------------------------------


class InternalAuth:
    """Only callers that show the operations token reach ``/internal/``: the API workers, on this host or
    on others. ``/healthz`` stays open for probes and load balancers (it tells a pid and a boot number)."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/internal/"):
            given = dict(scope["headers"]).get(b"authorization", b"")
            if not hmac.compare_digest(given, self.expected):
                await JSONResponse({"error": "unauthorized"}, status_code=401)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def dispatcher_app(runtime: LiveRuntime, token: str) -> Starlette:
    """The internal API the workers call: everything that needs the mocks or the dispatcher's core."""

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok", "pid": os.getpid(), "boot": runtime.boot})

    async def clock(request: Request) -> Response:
        return JSONResponse({"origin": runtime.clock.origin, "speed": runtime.speed, "boot": runtime.boot})

    async def catalog(request: Request) -> Response:
        return JSONResponse(runtime.catalog())

    async def received(request: Request) -> Response:
        orders = (await request.json())["orders"]
        await run_in_threadpool(runtime.orders_received, orders)
        return JSONResponse({"ok": True})

    async def answered(request: Request) -> Response:
        answers = (await request.json())["answers"]

        def record() -> None:
            for answer in answers:
                runtime.order_answered(answer["body"], reply_from_wire(answer["reply"]))

        await run_in_threadpool(record)
        return JSONResponse({"ok": True, "recorded": len(answers)})

    async def payment_intent(request: Request) -> Response:
        wanted = await request.json()
        reply = await run_in_threadpool(
            runtime.sandbox_payment_intent,
            int(wanted["amount"]),
            str(wanted["currency"]),
            str(wanted["order_no"]),
        )
        assert reply is not None  # the live runtime always has its payment sandbox
        return JSONResponse(reply_to_wire(reply))

    async def intent(request: Request) -> Response:
        return JSONResponse({"intent": runtime.payment_intent(request.path_params["intent_id"])})

    async def ledgers(request: Request) -> Response:
        return JSONResponse(await run_in_threadpool(runtime.sandbox_ledgers, request.path_params["order_no"]))

    async def reconciliation(request: Request) -> Response:
        return JSONResponse(await run_in_threadpool(runtime.reconciliation))

    async def ops_summary(request: Request) -> Response:
        return JSONResponse({"summary": await run_in_threadpool(runtime.ops_summary)})

    return Starlette(
        middleware=[Middleware(InternalAuth, token=token)],
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
            Route("/internal/clock", clock, methods=["GET"]),
            Route("/internal/catalog", catalog, methods=["GET"]),
            Route("/internal/orders/received", received, methods=["POST"]),
            Route("/internal/orders/answered", answered, methods=["POST"]),
            Route("/internal/sandbox/payment_intents", payment_intent, methods=["POST"]),
            Route("/internal/payment_intents/{intent_id}", intent, methods=["GET"]),
            Route("/internal/sandbox/ledgers/{order_no}", ledgers, methods=["GET"]),
            Route("/internal/reconciliation", reconciliation, methods=["GET"]),
            Route("/internal/ops/summary", ops_summary, methods=["GET"]),
        ]
    )


def run_dispatcher(settings_json: str, sock: socket.socket) -> None:
    """The dispatcher child of ``serve --workers N``: the delivery tier on the supervisor's socket."""
    settings = ScaleOutSettings.from_json(settings_json)
    die_with_parent(settings.supervisor_pid)
    run_delivery_tier(
        settings, os.environ[OPS_TOKEN_ENV], sockets=[sock], announce=lambda line: print(line, flush=True)
    )


def run_delivery_tier(
    settings: ScaleOutSettings,
    token: str,
    *,
    sockets: list[socket.socket] | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    announce: Announce = print,
) -> None:
    """The live runtime, woken by the store's NOTIFY, behind its internal API (on ``sockets``, else on
    ``host:port``), until SIGINT/SIGTERM. The caller holds the store's dispatcher lock."""
    import uvicorn

    scenario = load(settings.scenario, settings.overrides)
    runtime = LiveRuntime(scenario, store_url=settings.store_url, speed=settings.speed)
    stop = threading.Event()
    watch = getattr(runtime.store, "watch_appends", None)
    assert watch is not None, "the dispatcher needs a store that announces appends (PostgreSQL)"
    listener = threading.Thread(target=watch, args=(runtime.wake, stop), name="outbox-listener", daemon=True)
    runtime.start()
    listener.start()
    announce(
        f"retailsim serve: dispatcher pid {os.getpid()}, boot {runtime.boot}, {runtime.replayed} journaled "
        f"mock writes replayed, {runtime.recovered} leases recovered"
    )
    if sockets is None:
        announce(
            f"dispatcher listening on http://{host}:{port}  (API hosts: --dispatcher http://THIS-HOST:{port})"
        )
    config = uvicorn.Config(
        dispatcher_app(runtime, token),
        host=host,
        port=port,
        lifespan="off",
        **{**server_options(), "timeout_keep_alive": 60},
    )
    try:
        uvicorn.Server(config).run(sockets=sockets)
    finally:
        stop.set()
        listener.join(timeout=5.0)
        runtime.stop()


# ---- an API worker: an ingress-only core that asks the dispatcher for the mocks -------------------------


class DispatcherRefused(RuntimeError):
    """The dispatcher answered 401: this host's ``RETAILSIM_OPS_TOKEN`` is not the dispatcher's."""


class DispatcherClient:
    """The way to the dispatcher's internal API, authenticated with the operations token.

    ``urls`` is one URL or several, comma-separated (the dispatcher's and its standbys'): a call goes to
    the one that answered last, and on a transport failure to the others in turn; a standby does not
    listen until it has taken over, so at most one of them answers.
    """

    def __init__(self, urls: str, token: str) -> None:
        headers = {"Authorization": f"Bearer {token}"}
        self.urls = [url.strip().rstrip("/") for url in urls.split(",") if url.strip()]
        self._clients = [
            httpx.Client(base_url=url, timeout=PROXY_TIMEOUT_S, headers=headers) for url in self.urls
        ]
        self._current = 0

    def call(self, method: str, path: str, payload: Any = None, timeout: float | None = None) -> Any:
        """The JSON answer; ``HostUnavailable`` when no dispatcher answers, ``DispatcherRefused`` on 401."""
        failures: list[str] = []
        first = self._current
        for offset in range(len(self._clients)):
            index = (first + offset) % len(self._clients)
            try:
                response = self._clients[index].request(
                    method, path, json=payload, timeout=PROXY_TIMEOUT_S if timeout is None else timeout
                )
            except httpx.TransportError as exc:
                failures.append(f"{self.urls[index]}: {exc}")
                continue
            self._current = index
            if response.status_code == 401:
                raise DispatcherRefused(
                    f"the dispatcher at {self.urls[index]} refused this host's {OPS_TOKEN_ENV}"
                    " (it must be the same on every host)"
                )
            if response.status_code >= 500:
                raise HostUnavailable(f"the dispatcher answered {response.status_code}")
            response.raise_for_status()
            return response.json()
        raise HostUnavailable(f"the dispatcher (mock systems) is unreachable: {'; '.join(failures)}")

    def wait_until_answering(self, timeout_s: float) -> dict[str, Any]:
        """The dispatcher's clock (origin, speed, boot), once one answers; ``HostUnavailable`` after
        ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                info: dict[str, Any] = self.call("GET", "/internal/clock")
                return info
            except HostUnavailable:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def close(self) -> None:
        for client in self._clients:
            client.close()


class WorkerHost(SharedHost):
    """The ``CoreHost`` of one API worker: its own core on the shared store, the mocks by proxy."""

    def __init__(self, settings: ScaleOutSettings, token: str) -> None:
        super().__init__()
        scenario = load(settings.scenario, settings.overrides)
        self.settings = settings
        self.secret = resolve_secret()
        self.dispatcher = DispatcherClient(settings.dispatcher_url, token)
        info = self.dispatcher.wait_until_answering(READY_TIMEOUT_S)
        self.clock = LiveClock(float(info["origin"]), float(info["speed"]))
        self._catalog: dict[str, Any] = self._call("GET", "/internal/catalog")
        self.store = open_store(settings.store_url)
        self._core = IntegrationCore(
            self.store, core_config_for(scenario), random.Random(f"worker/{os.getpid()}")
        )
        # ("received", [order, ...]) and ("answered", answer) notices for the storefront, in order.
        self._notices: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._dispatcher_away = threading.Event()
        self._stopping = threading.Event()
        self._sender = threading.Thread(target=self._send_notices, name="notices", daemon=True)
        self._sender.start()

    def _call(self, method: str, path: str, payload: Any = None, timeout: float | None = None) -> Any:
        return self.dispatcher.call(method, path, payload, timeout)

    def close(self) -> None:
        """Deliver the queued answers (bounded), then let go of the store and the dispatcher."""
        self._stopping.set()
        self._sender.join(timeout=10.0)
        self.store.close()
        self.dispatcher.close()

    def _send_notices(self) -> None:
        """Send the notices in order ("answered" ones in batches); keep each until the dispatcher has
        taken it, and say the dispatcher is back when it has."""
        held: list[tuple[str, Any]] = []
        while True:
            if not held:
                try:
                    held.append(self._notices.get(timeout=0.2))
                except queue.Empty:
                    if self._stopping.is_set():
                        return
                    continue
            while len(held) < ANSWER_BATCH:
                try:
                    held.append(self._notices.get_nowait())
                except queue.Empty:
                    break
            try:
                while held:
                    kind, first = held[0]
                    if kind == "received":
                        self._call("POST", "/internal/orders/received", {"orders": first})
                        held.pop(0)
                        continue
                    run = 0
                    while run < len(held) and held[run][0] == "answered":
                        run += 1
                    answers = [answer for _, answer in held[:run]]
                    self._call("POST", "/internal/orders/answered", {"answers": answers})
                    del held[:run]
                self._dispatcher_away.clear()
            except HostUnavailable:
                if self._stopping.is_set():
                    print(
                        f"retailsim worker {os.getpid()}: {len(held)} notices undelivered", file=sys.stderr
                    )
                    return
                time.sleep(0.5)  # the dispatcher is being replaced; it will take them

    # ---- the CoreHost protocol ----------------------------------------------------------------------

    def core(self) -> IntegrationCore:
        return self._core

    def orders_received(self, bodies: list[Any]) -> None:
        """Told at once while the dispatcher answers; queued (ahead of the answers) while it is away."""
        orders = storefront_orders(bodies)
        if not orders:
            return
        if not self._dispatcher_away.is_set():
            try:
                self._call("POST", "/internal/orders/received", {"orders": orders}, NOTICE_TIMEOUT_S)
                return
            except HostUnavailable:
                self._dispatcher_away.set()
        self._notices.put(("received", orders))

    def order_answered(self, body: Any, reply: ApiReply) -> None:
        if isinstance(body, dict):
            self._notices.put(("answered", {"body": body, "reply": reply_to_wire(reply)}))

    def payment_intent(self, intent_id: str) -> dict[str, Any] | None:
        if self._dispatcher_away.is_set():
            return None
        try:
            found = self._call("GET", f"/internal/payment_intents/{intent_id}", timeout=NOTICE_TIMEOUT_S)
        except HostUnavailable:
            self._dispatcher_away.set()
            return None
        intent: dict[str, Any] | None = found["intent"]
        return intent

    def reconciliation(self) -> dict[str, Any]:
        report: dict[str, Any] = self._call("GET", "/internal/reconciliation")
        return report

    def ops_summary(self) -> dict[str, Any] | None:
        summary: dict[str, Any] | None = self._call("GET", "/internal/ops/summary")["summary"]
        if summary is None:
            return None
        counters = dict(sorted(self._core.counters.items()))
        return {**summary, "worker": {"pid": os.getpid(), "counters": counters}}

    def sandbox_payment_intent(self, amount: int, currency: str, order_no: str) -> ApiReply | None:
        answer = self._call(
            "POST",
            "/internal/sandbox/payment_intents",
            {"amount": amount, "currency": currency, "order_no": order_no},
        )
        return reply_from_wire(answer)

    def sandbox_ledgers(self, order_no: str) -> dict[str, Any] | None:
        ledgers: dict[str, Any] = self._call("GET", f"/internal/sandbox/ledgers/{order_no}")
        return ledgers


def worker_app() -> Starlette:
    """uvicorn's app factory in each API worker process (settings from ``RETAILSIM_SCALEOUT``)."""
    settings = ScaleOutSettings.from_json(os.environ[SETTINGS_ENV])
    die_with_parent(settings.supervisor_pid)
    ops_token = os.environ[OPS_TOKEN_ENV]  # serve made sure there is one
    host = WorkerHost(settings, ops_token)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await run_in_threadpool(host.close)

    return create_app(
        host,
        ops_token=ops_token,
        title=f"retailsim integration core ({settings.scenario}, worker)",
        lifespan=lifespan,
    )


# ---- the supervisor ---------------------------------------------------------------------------------


class DispatcherProcess:
    """The one dispatcher child: started, watched and replaced when it dies, stopped last."""

    def __init__(
        self, settings: ScaleOutSettings, sock: socket.socket, announce: Callable[[str], None]
    ) -> None:
        self._context = multiprocessing.get_context("spawn")
        self._settings = settings
        self._sock = sock
        self._announce = announce
        self._stopping = threading.Event()
        self._process: multiprocessing.process.BaseProcess | None = None
        self._watcher = threading.Thread(target=self._watch, name="dispatcher-watch", daemon=True)
        self.replaced = 0

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def _spawn(self) -> None:
        self._process = self._context.Process(
            target=run_dispatcher, args=(self._settings.to_json(), self._sock), name="retailsim-dispatcher"
        )
        self._process.start()

    def start(self) -> None:
        """Start it and wait until its internal API answers; raises RuntimeError when it does not."""
        self._spawn()
        if not self._wait_ready():
            self.stop()
            raise RuntimeError("the dispatcher process did not come up (see its output above)")
        self._watcher.start()

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + READY_TIMEOUT_S
        with httpx.Client(base_url=self._settings.dispatcher_url, timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self._process is None or not self._process.is_alive():
                    return False
                try:
                    if client.get("/healthz").status_code == 200:
                        return True
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
        return False

    def _watch(self) -> None:
        while not self._stopping.wait(0.5):
            process = self._process
            if process is None or process.is_alive():
                continue
            self._announce(
                f"retailsim serve: the dispatcher died (exit {process.exitcode}); starting another"
            )
            self.replaced += 1
            self._spawn()

    def stop(self) -> None:
        self._stopping.set()
        process = self._process
        if process is not None and process.is_alive():
            process.terminate()
            process.join(timeout=15.0)
            if process.is_alive():
                process.kill()
                process.join(timeout=5.0)
        if self._watcher.is_alive():
            self._watcher.join(timeout=2.0)


def internal_socket() -> socket.socket:
    """A loopback socket on a free port for the dispatcher's internal API, bound once by the supervisor."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.set_inheritable(True)
    return sock


def serve_scaled(settings: ScaleOutSettings, *, host: str, port: int, announce: Announce = print) -> None:
    """Run the dispatcher and ``settings.workers`` API workers on ``host:port`` until SIGINT/SIGTERM.
    The caller holds the store's dispatcher lock (a replaced dispatcher child needs no lock of its own)."""
    split_schema(settings.store_url)  # a bad URL fails here, before any child starts
    multiprocessing.allow_connection_pickling()  # the internal socket goes to the dispatcher by pickling
    sock = internal_socket()
    settings = replace(settings, dispatcher_url=f"http://127.0.0.1:{sock.getsockname()[1]}")
    os.environ[OPS_TOKEN_ENV] = announce_ops_token(announce)  # the children inherit the operations token
    dispatcher = DispatcherProcess(settings, sock, announce)
    dispatcher.start()
    announce(
        f"retailsim serve: scenario {settings.scenario}, store {settings.store_url}, {settings.workers} API "
        f"workers + 1 dispatcher (pid {dispatcher.pid}, internal API {settings.dispatcher_url}), "
        f"speed x{settings.speed:g}"
    )
    try:
        run_api_workers(settings, host=host, port=port, announce=announce)
    finally:
        dispatcher.stop()
        sock.close()


def serve_api_tier(settings: ScaleOutSettings, *, host: str, port: int, announce: Announce = print) -> None:
    """``serve --role api``: ``settings.workers`` API workers on ``host:port`` in front of the dispatcher
    at ``settings.dispatcher_url`` (another host, typically), until SIGINT/SIGTERM. Raises
    ``DispatcherRefused`` or ``HostUnavailable`` when no dispatcher lets this host in within
    ``READY_TIMEOUT_S``: a host that has never reached one knows neither the clock nor the catalog."""
    token = os.environ[OPS_TOKEN_ENV]  # serve --role api requires it: it is what the dispatcher checks
    probe = DispatcherClient(settings.dispatcher_url, token)
    try:
        info = probe.wait_until_answering(READY_TIMEOUT_S)
    finally:
        probe.close()
    announce(
        f"retailsim serve: API host, scenario {settings.scenario}, store {settings.store_url}, "
        f"{settings.workers} worker(s), dispatcher {settings.dispatcher_url} (boot {info['boot']})"
    )
    run_api_workers(settings, host=host, port=port, announce=announce)


def run_api_workers(settings: ScaleOutSettings, *, host: str, port: int, announce: Announce) -> None:
    """uvicorn's multi-process mode: the public port bound once and shared by ``settings.workers`` worker
    processes (each ``worker_app``), a dead worker replaced, all stopped on SIGINT/SIGTERM."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    os.environ[SETTINGS_ENV] = settings.to_json()  # spawned workers inherit it
    announce(f"listening on http://{host}:{port}  (OpenAPI: /openapi.json, metrics: /metrics)")
    config = uvicorn.Config(
        WORKER_APP,
        factory=True,
        host=host,
        port=port,
        workers=settings.workers,
        **server_options(),
    )
    public = config.bind_socket()
    # Accepted connections inherit TCP_NODELAY from the listener (Linux). uvicorn's own socket lacks the
    # protocol number asyncio looks for before it sets the option itself, and without it every reply
    # written in two pieces waits out a delayed ACK (~40 ms).
    public.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        Multiprocess(config, sockets=[public]).run()
    finally:
        public.close()
