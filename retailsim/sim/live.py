"""Live mode: the core's HTTP API in front of a scenario's mock systems running on the wall clock.

``LiveRuntime`` builds the same :class:`~retailsim.sim.world.World` a simulation builds — mock systems,
delivery dispatchers, timers, in-process webhooks, the scenario's fault schedule — on
``simpy.rt.RealtimeEnvironment`` and steps it in one background thread, without the built-in workload:
load arrives over HTTP (``retailsim serve``, locust). It is the ``CoreHost`` the API runs against (with
the members every host shares from sim/host.py), and the one delivery tier of its store: ``serve`` takes
the store's dispatcher lock before building it (sim/dispatcher_lock.py), since building it replays the
journal and takes back every lease.

Rules kept:

* One lock (``RLock``) guards the SimPy environment and the mocks. The sim thread holds it while it
  steps, for at most ``MAX_HOLD_S`` at a time; HTTP threads take it only for calls that need an answer
  from a mock (sandbox intents and ledgers, reconciliation). Ingress itself runs outside it, inside the
  store's transactions, which is what makes a concurrent retry see 409, and it never waits for the
  lock: what ingress tells the world (wake a destination's workers, a status changed, the storefront
  exported or placed an order) is posted to a mailbox that the sim thread empties, under the lock,
  before every step. So an order is in the storefront's ledger before any delivery that follows its
  commit can reach the storefront, and a store that is slow to deliver (PostgreSQL round trips in the
  sim thread) never slows acceptance. The lock is only ever taken before the store's.
* The clock is continuous across restarts on the same store: sim time is seconds since the first boot
  (times the speed), so outbox due times written before a ``kill -9`` stay meaningful after it. The
  origin is kept in the journal; ``LiveClock`` turns it into the core's time, and the real-time
  environment is anchored to the same instant, so the time spent building the world is not lost and
  every process that knows the origin (the API workers of ``serve --workers``) reads the same clock.
* External systems outlive the core. The mocks live in this process for convenience, so the writes the
  storefront, payment gateway, ERP and Service Cloud committed are journaled — to a SQLite file beside a
  SQLite store, to tables in a PostgreSQL store's schema (where a dispatcher on another host finds them) —
  and replayed into fresh mocks at start, as a real ERP would still hold its sales orders after our
  crash. The WMS and carrier restart empty (their fulfilment runs as SimPy processes that a journal
  cannot replay); what they lose shows up as in-progress orders, repaired or flagged by reconciliation.
* In-process webhook ids get a boot prefix, so a restarted mock's counter (``evt_0000001``) is never
  mistaken by the inbox for an event of the previous boot.
"""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import simpy.rt

from retailsim.core.jsoncodec import dumps
from retailsim.core.service import ApiReply, IntegrationCore
from retailsim.core.stores import MemoryStore, SqliteStore, Store, is_postgres_url, open_store, split_schema
from retailsim.core.stores.base import DeadLetter, OutboxMessage, OutboxStats, Position, Transaction
from retailsim.core.workflows.order_to_cash import OrderStatus
from retailsim.reports.flows import TraceTail, order_flows
from retailsim.reports.flowsvg import flow_svg
from retailsim.scenarios.schema import Scenario
from retailsim.sim.evidence import gather
from retailsim.sim.host import WEBHOOK_SOURCES, LiveClock, SharedHost, storefront_orders
from retailsim.sim.invariants import EXPECTED_FINAL, expected_final
from retailsim.sim.live_ops import (
    LinkWatch,
    WorkflowMoves,
    breaker_view,
    bucket_view,
    business_counts,
    fault_windows,
)
from retailsim.sim.runner import flow_context
from retailsim.sim.world import World
from retailsim.systems.base import MockSystem, Request, Response, Webhook

SECRET_ENV = "RETAILSIM_WEBHOOK_SECRET"
OPS_TOKEN_ENV = "RETAILSIM_OPS_TOKEN"
DEFAULT_SECRET = "whsec_retailsim_dev"
JOURNALED = ("storefront", "payment", "erp", "service_cloud")
SETTLE_S = 120.0  # a terminal order younger than this may still have status updates on the way
TICK_S = 0.05
MAX_STEPS_PER_HOLD = 500
MAX_HOLD_S = 0.01  # the sim thread lets waiting HTTP threads in at least this often
SHOPPERS_IN_CATALOG = 50
TRACE_TAIL_LINES = 200_000  # about 20 MB: the recent history /ops/orders/{id} can draw
# uvicorn with its C HTTP parser (httptools) and the libuv event loop, no access log: per request about a
# third of the server time that h11 (pure Python) on asyncio's loop took (benchmarks/bench_api.py).
UVICORN_OPTIONS: dict[str, Any] = {
    "http": "httptools",
    "loop": "asyncio" if sys.platform == "win32" else "uvloop",  # uvloop has no Windows build
    "log_level": "warning",
    "access_log": False,
}


def server_options() -> dict[str, Any]:
    """uvicorn's options for the live API: ``UVICORN_OPTIONS`` and the connection limits (header size
    431, header-read timeout 408, keep-alive timeout; see ``sim.http_limits``)."""
    from retailsim.sim.http_limits import limits

    return {**UVICORN_OPTIONS, **limits()}


def announce_ops_token(announce: Callable[[str], None]) -> str:
    """The operations endpoints' bearer token: ``RETAILSIM_OPS_TOKEN``, else one made now and printed
    once (it is not stored anywhere: a restart without the variable makes a new one)."""
    token = os.environ.get(OPS_TOKEN_ENV, "")
    if token:
        announce(f"operations endpoints: Authorization: Bearer <{OPS_TOKEN_ENV}>")
        return token
    token = secrets.token_urlsafe(32)
    announce(f"operations endpoints: Authorization: Bearer {token}  (set {OPS_TOKEN_ENV} to choose it)")
    return token


def resolve_secret(explicit: str | None = None) -> str:
    """The webhook signing secret: given, else ``RETAILSIM_WEBHOOK_SECRET``, else the development default."""
    return explicit or os.environ.get(SECRET_ENV) or DEFAULT_SECRET


class LockedStore:
    """A store that is not thread-safe (memory), serialised by one lock for the API's threads."""

    def __init__(self, inner: Store) -> None:
        self._inner = inner
        self._lock = threading.RLock()

    @contextmanager
    def _transaction(self) -> Iterator[Transaction]:
        with self._lock, self._inner.transaction() as tx:
            yield tx

    def transaction(self) -> AbstractContextManager[Transaction]:
        return self._transaction()

    def claim_next(self, destination: str, now: float, lease_s: float) -> OutboxMessage | None:
        with self._lock:
            return self._inner.claim_next(destination, now, lease_s)

    def claim_batch(
        self, destination: str, kinds: frozenset[str], now: float, lease_s: float, limit: int
    ) -> list[OutboxMessage]:
        with self._lock:
            return self._inner.claim_batch(destination, kinds, now, lease_s, limit)

    def next_due_at(self, destination: str) -> float | None:
        with self._lock:
            return self._inner.next_due_at(destination)

    def release_leases(self) -> int:
        with self._lock:
            return self._inner.release_leases()

    def replay_dead_letter(self, dlq_id: int, now: float) -> OutboxMessage | None:
        with self._lock:
            return self._inner.replay_dead_letter(dlq_id, now)

    def dead_letters(self) -> list[DeadLetter]:
        with self._lock:
            return self._inner.dead_letters()

    def outbox_stats(self) -> OutboxStats:
        with self._lock:
            return self._inner.outbox_stats()

    def backlog(self, destination: str | None = None) -> int:
        with self._lock:
            return self._inner.backlog(destination)

    def aggregates(self, kind: str) -> Iterator[tuple[str, dict[str, Any]]]:
        with self._lock:
            return iter(list(self._inner.aggregates(kind)))

    def positions(self) -> list[Position]:
        with self._lock:
            return self._inner.positions()

    def destinations(self) -> list[str]:
        with self._lock:
            return self._inner.destinations()

    def close(self) -> None:
        with self._lock:
            self._inner.close()


@dataclass(frozen=True)
class JournalDialect:
    """What the journal's SQL needs to know of its database: placeholder, table names, key column."""

    placeholder: str
    journal: str
    meta: str
    sequence: str


SQLITE_JOURNAL = JournalDialect("?", "journal", "meta", "INTEGER PRIMARY KEY AUTOINCREMENT")


class LedgerJournal:
    """Append-only journal of what the external mocks committed, plus the live clock's origin and the boot
    count: a SQLite file beside a SQLite store (``sqlite``), tables in the schema of a PostgreSQL store
    (``postgres``), so that a dispatcher on another host — a standby taking over — replays the same one.

    Both connections run in autocommit mode; ``batch`` groups writes in one explicit transaction.
    """

    def __init__(self, conn: Any, dialect: JournalDialect) -> None:
        self._conn = conn
        self._sql = dialect
        p = dialect.placeholder
        self._conn.execute(
            f"CREATE TABLE IF NOT EXISTS {dialect.journal} (seq {dialect.sequence}, system TEXT NOT NULL,"
            " kind TEXT NOT NULL, payload TEXT NOT NULL)"
        )
        self._conn.execute(
            f"CREATE TABLE IF NOT EXISTS {dialect.meta} (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
        )
        self._get = f"SELECT value FROM {dialect.meta} WHERE key = {p}"
        self._put = (
            f"INSERT INTO {dialect.meta} (key, value) VALUES ({p}, {p})"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value"
        )
        self._record = f"INSERT INTO {dialect.journal} (system, kind, payload) VALUES ({p}, {p}, {p})"
        self._entries = f"SELECT system, kind, payload FROM {dialect.journal} ORDER BY seq"

    @classmethod
    def sqlite(cls, path: Path) -> LedgerJournal:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        return cls(conn, SQLITE_JOURNAL)

    @classmethod
    def postgres(cls, libpq_url: str, schema: str) -> LedgerJournal:
        """Tables ``mock_journal`` and ``mock_meta`` in ``schema``. Commits do not wait for the server's
        disk (``synchronous_commit = off``): what was committed survives our death, as a SQLite journal's
        ``synchronous=NORMAL`` does, and a record costs one round trip."""
        import psycopg
        from psycopg import sql

        conn = psycopg.connect(libpq_url, autocommit=True, connect_timeout=10)
        conn.execute("SET synchronous_commit = off")
        conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
        return cls(conn, JournalDialect("%s", "mock_journal", "mock_meta", "BIGSERIAL PRIMARY KEY"))

    def get(self, key: str) -> str | None:
        row = self._conn.execute(self._get, (key,)).fetchone()
        return None if row is None else str(row[0])

    def put(self, key: str, value: str) -> None:
        self._conn.execute(self._put, (key, value))

    def record(self, system: str, kind: str, payload: dict[str, Any]) -> None:
        self._conn.execute(self._record, (system, kind, dumps(payload)))

    @contextmanager
    def batch(self) -> Iterator[None]:
        """The records made inside are committed together: one write of the journal instead of one each."""
        self._conn.execute("BEGIN")
        try:
            yield
        finally:
            self._conn.execute("COMMIT")  # what was recorded happened, even if a later step failed

    def entries(self) -> Iterator[tuple[str, str, dict[str, Any]]]:
        for system, kind, payload in self._conn.execute(self._entries):
            yield str(system), str(kind), json.loads(payload)

    def close(self) -> None:
        self._conn.close()


Post = Callable[[Callable[[], None]], None]


class LiveWorld(World):
    """The simulation's world with core observers that post to the sim thread, and boot-unique webhook ids."""

    crash_points_enabled = False  # a live core dies for real (killed), never at a simulated crash point

    def __init__(
        self, scenario: Scenario, seed: int, *, env: simpy.Environment, store: Store, boot: int, post: Post
    ) -> None:
        self.boot = boot
        self.post = post
        self.workflow_moves = WorkflowMoves()  # status moves per workflow, for /v1/ops/live
        super().__init__(scenario, seed, env=env, store=store)

    def _start_core(self) -> IntegrationCore:
        core = super()._start_core()
        wake, status, return_status = core.on_append, core.on_status, core.on_return_status
        # Called from whichever thread committed (an HTTP thread, or the sim thread itself): applied by
        # the sim thread before its next step.
        if wake is not None:
            core.on_append = lambda destination: self.post(lambda: wake(destination))
        if status is not None:
            status = self.workflow_moves.counting("order_to_cash", status)
            core.on_status = lambda order_no, new, now: self.post(lambda: status(order_no, new, now))
        if return_status is not None:
            return_status = self.workflow_moves.counting("return_to_refund", return_status)
            core.on_return_status = lambda return_no, new, now: self.post(
                lambda: return_status(return_no, new, now)
            )
        return core

    def send_webhook(self, hook: Webhook) -> None:
        hook.event_id = f"b{self.boot}-{hook.event_id}"
        super().send_webhook(hook)


def _journaled(system: MockSystem, journal: LedgerJournal) -> Callable[[Request], Response]:
    dispatch = system.dispatch

    def recorded(request: Request) -> Response:
        response = dispatch(request)
        # A batch is not kept whole: each of its parts that reached its handler went through here itself.
        if request.method != "GET" and response.status < 500 and not system.serves_parts(request):
            journal.record(
                system.name,
                "dispatch",
                {
                    "method": request.method,
                    "path": request.path,
                    "body": request.body,
                    "headers": request.headers,
                    "query": request.query,
                },
            )
        return response

    return recorded


def open_journal(store_url: str, store: Store) -> LedgerJournal | None:
    """The mocks' journal: beside a SQLite store, in the schema of a PostgreSQL store; an in-memory store
    keeps nothing."""
    if isinstance(store, SqliteStore):
        return LedgerJournal.sqlite(Path(f"{store.path}.ledgers"))
    if is_postgres_url(store_url):
        return LedgerJournal.postgres(*split_schema(store_url))
    return None


class LiveRuntime(SharedHost):
    """The live host: a real-time world in a background thread, behind the core's HTTP API."""

    def __init__(
        self,
        scenario: Scenario,
        *,
        store_url: str = "memory",
        speed: float = 1.0,
        seed: int | None = None,
        secret: str | None = None,
    ) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.scenario = scenario
        self.speed = speed
        super().__init__()
        self.secret = resolve_secret(secret)
        self._kick = threading.Event()
        self._mailbox: deque[Callable[[], None]] = deque()
        self._stopping = threading.Event()
        self.errors: list[str] = []
        store = open_store(store_url)
        self.store: Store = LockedStore(store) if isinstance(store, MemoryStore) else store
        self.journal = open_journal(store_url, store)
        origin = time.time()
        self.boot = 1
        if self.journal is not None:
            origin = float(self.journal.get("origin") or origin)
            self.journal.put("origin", repr(origin))
            self.boot = int(self.journal.get("boot") or 0) + 1
            self.journal.put("boot", str(self.boot))
        self.clock = LiveClock(origin, speed)
        self.env = simpy.rt.RealtimeEnvironment(
            initial_time=self.clock.start, factor=1.0 / speed, strict=False
        )
        self.world = LiveWorld(
            scenario,
            scenario.seed if seed is None else seed,
            env=self.env,
            store=self.store,
            boot=self.boot,
            post=self.post,
        )
        self.world.payment.decline_rate = 0.0  # sandbox intents use Stripe's always-authorised test card
        self.trace_tail = TraceTail(TRACE_TAIL_LINES)  # /ops/orders/{id} draws recent orders from it
        self.world.trace.tap = self.trace_tail
        self.link_watch = LinkWatch(self.world.links)  # latency and error classes per system, /v1/ops/live
        self.replayed = self._replay_journal()
        self.recovered = self.world.core.recover()  # leases of a killed process go back to pending
        self.world.start(workload=False)
        self._catalog = self._build_catalog()
        self._thread = threading.Thread(target=self._loop, name="retailsim-sim", daemon=True)

    # ---- lifecycle --------------------------------------------------------------------------------

    def _replay_journal(self) -> int:
        if self.journal is None:
            return 0
        count = 0
        systems = self.world.systems
        storefront = self.world.storefront
        for system, kind, payload in self.journal.entries():
            if kind == "dispatch":
                systems[system].dispatch(
                    Request(
                        payload["method"],
                        payload["path"],
                        payload["body"],
                        payload["headers"],
                        payload["query"],
                    )
                )
            elif kind == "exporting":
                storefront.record_exporting(payload)
            elif kind == "placed":
                storefront.record_placed(payload)
            elif kind == "failed":
                storefront.failed_orders.append(str(payload["order_no"]))
                storefront.exporting.pop(str(payload["order_no"]), None)
            count += 1
        for name in JOURNALED:
            system_ = systems[name]
            setattr(system_, "dispatch", _journaled(system_, self.journal))  # noqa: B010 - instance override
        return count

    def start(self) -> None:
        # Anchored where the clock was, not now: building the world took wall time that sim time keeps.
        self.env.real_start = self.clock.anchor
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._kick.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5.0)
        with self._lock:
            self.store.close()
            if self.journal is not None:
                self.journal.close()

    def post(self, news: Callable[[], None]) -> None:
        """Hand the sim thread something to apply to the world before its next step (any thread)."""
        self._mailbox.append(news)
        # Safe to skip when set: the sim thread clears the kick before it empties the mailbox.
        if not self._kick.is_set():
            self._kick.set()

    def _deliver_mail(self) -> None:
        """Apply what other threads posted, in order (the caller holds the lock). What the mail journals
        (the storefront's exported and placed orders) is committed once per delivery: nothing in the mail
        commits to the core's store, so no core state can get ahead of the journal."""
        mailbox = self._mailbox
        if not mailbox:
            return
        with self.journal.batch() if self.journal is not None else nullcontext():
            while mailbox:
                mailbox.popleft()()

    def _loop(self) -> None:
        """Step every event that is due by the wall clock; sleep until the next one or a kick."""
        env = self.env
        while not self._stopping.is_set():
            with self._lock:
                self._deliver_mail()
                horizon = self.now()
                steps = 0
                until = time.monotonic() + MAX_HOLD_S
                while env.peek() <= horizon and steps < MAX_STEPS_PER_HOLD and time.monotonic() < until:
                    try:
                        env.step()
                        self._deliver_mail()
                    except Exception:  # a failed process must not stop the world; say so loudly
                        message = traceback.format_exc()
                        self.errors.append(message)
                        print(f"retailsim live: a simulated process failed:\n{message}", file=sys.stderr)
                    steps += 1
                next_at = env.peek()
            if next_at <= horizon:
                time.sleep(0)  # more is due: let a waiting HTTP thread take the lock, then go on
                continue
            wait = min(TICK_S, max(0.0, (next_at - self.now()) / self.speed))
            self._kick.wait(wait)
            self._kick.clear()

    # ---- the CoreHost protocol ----------------------------------------------------------------------

    def core(self) -> IntegrationCore | None:
        return self.world.core if self.world.core_up else None

    def ops_summary(self) -> dict[str, Any] | None:
        with self._lock:
            core = self.core()
            return None if core is None else core.ops_summary()

    def ops_live(self) -> dict[str, Any]:
        """What the host sees around the core (sim/live_ops.py): latency and error classes per system,
        token buckets and breakers, status moves per workflow, the business counts, the fault windows."""
        with self._lock:
            self._deliver_mail()
            now = self.now()
            world = self.world
            core = self.core()
            buckets = {} if core is None else core.buckets
            breakers = {} if core is None else core.breakers
            view: dict[str, Any] = {
                "core_up": core is not None,
                "now": now,
                "speed": self.speed,
                "systems": self.link_watch.view(),
                "buckets": {d: bucket_view(b, now) for d, b in sorted(buckets.items())},
                "breakers": {d: breaker_view(b, now) for d, b in sorted(breakers.items())},
                "workflows": world.workflow_moves.view(),
                "faults": fault_windows(self.scenario.faults, now),
            }
            service_cloud = dict(world.service_cloud.current)
        orders, returns = self.store.aggregates("order"), self.store.aggregates("return")
        view["business"] = business_counts(orders, returns, service_cloud)
        return view

    def order_flow_svg(self, order_id: str) -> str | None:
        """The message flow of a recent order, drawn from the trace's last lines (None: none about it)."""
        with self._lock:
            lines = self.trace_tail.lines()
            webhooks, dead = flow_context(self.world)
        (flow,) = order_flows(lines, [(order_id, "live")], webhooks, dead)
        return flow_svg(flow) if flow.messages else None

    def wake(self, destination: str | None) -> None:
        """Work was committed for ``destination`` (None: for any) by another process: look at it now."""
        self.post(lambda: self.world.wake_workers(destination))

    def orders_received(self, bodies: list[Any]) -> None:
        """Exported orders exist in the storefront before the core answers (their statuses may race it)."""
        orders = storefront_orders(bodies)
        if orders:
            self.post(lambda: self._record_exporting(orders))

    def _record_exporting(self, orders: list[dict[str, Any]]) -> None:
        storefront = self.world.storefront
        for body in orders:
            if body["orderNo"] not in storefront.exporting and body["orderNo"] not in storefront.orders:
                storefront.record_exporting(body)
                if self.journal is not None:
                    self.journal.record("storefront", "exporting", body)

    def order_answered(self, body: Any, reply: ApiReply) -> None:
        """The storefront mock records what its shoppers placed, as in the simulation's checkout."""
        if reply.headers.get("Idempotent-Replayed") or not isinstance(body, dict):
            return
        self.post(lambda: self._record_answer(body, reply))

    def _record_answer(self, body: dict[str, Any], reply: ApiReply) -> None:
        world = self.world
        if reply.status == 202:
            world.counts.submitted += 1
            world.counts.accepted += 1
            world.storefront.record_placed(body)
            if self.journal is not None:
                self.journal.record("storefront", "placed", body)
        elif reply.status == 200 and reply.body.get("status") == "rejected":
            world.counts.submitted += 1
            world.counts.rejected += 1
            world.storefront.failed_orders.append(str(reply.body["order_id"]))
            world.storefront.exporting.pop(str(reply.body["order_id"]), None)
            if self.journal is not None:
                self.journal.record("storefront", "failed", {"order_no": reply.body["order_id"]})
        elif reply.status >= 400 and reply.status != 409:  # refused: the export never happened
            world.storefront.exporting.pop(str(body.get("orderNo")), None)

    def sandbox_payment_intent(self, amount: int, currency: str, order_no: str) -> ApiReply | None:
        request = Request(
            "POST",
            "/v1/payment_intents",
            {
                "amount": amount,
                "currency": currency,
                "capture_method": "manual",
                "metadata": {"order_no": order_no},
            },
            {"Idempotency-Key": f"{order_no}:authorize"},
        )
        with self._lock:
            response = self.world.payment.dispatch(request)
        headers = {k: v for k, v in response.headers.items() if k == "Idempotent-Replayed"}
        body = response.body if isinstance(response.body, dict) else {"error": "unexpected"}
        return ApiReply(response.status, body, headers)

    def payment_intent(self, intent_id: str) -> dict[str, Any] | None:
        """The mock gateway's record of an intent. No lock: one look-up in a dict the sim thread only
        adds to, so ingress never waits for a step of the world."""
        intent = self.world.payment.intents.get(intent_id)
        if intent is None:
            return None
        fields = ("id", "amount", "currency", "status")
        return {**{k: intent.get(k) for k in fields}, "metadata": dict(intent.get("metadata") or {})}

    def sandbox_ledgers(self, order_no: str) -> dict[str, Any] | None:
        with self._lock:
            self._deliver_mail()  # what was posted before this call is in the ledgers it reads
            world = self.world
            numbers = list(world.erp.orders_by_reference.get(order_no, []))
            intents = [
                {"id": i["id"], "status": i["status"], "amount": i["amount"]}
                for i in world.payment.intents.values()
                if (i.get("metadata") or {}).get("order_no") == order_no
            ]
            return {
                "order_no": order_no,
                "boot": self.boot,
                "storefront": {
                    "placed": order_no in world.storefront.orders,
                    "status": world.storefront.current.get(order_no),
                },
                "erp": {
                    "sales_orders": numbers,
                    "statuses": [world.erp.sales_orders[n].get("OverallSDProcessStatus") for n in numbers],
                },
                "payment": {"intents": intents},
                "wms": {"orders": list(world.wms.by_reference.get(order_no, []))},
                "service_cloud": {"status": world.service_cloud.current.get(order_no)},
            }

    def reconciliation(self) -> dict[str, Any]:
        """Drift between the core and every mock's ledger; orders still moving are "in progress"."""
        with self._lock:
            self._deliver_mail()
            evidence = gather(self.world)
            now = self.now()
            last_change = {
                no: (record.get("history") or [[0.0]])[-1][0] for no, record in self.store.aggregates("order")
            }
            backlog = self.store.backlog()
        drift: list[str] = []
        in_progress: dict[str, int] = {}
        examples: list[str] = []
        for order_no, status in sorted(evidence.core_final.items()):
            seen = evidence.system_final.get(order_no, {})
            erp_orders = evidence.erp_orders_by_reference.get(order_no, [])
            if len(erp_orders) > 1:
                drift.append(
                    f"order {order_no}: {len(erp_orders)} ERP sales orders ({', '.join(erp_orders)})"
                )
            expected = expected_final(
                status,
                evidence.core_fulfilment.get(order_no) == "store",
                order_no in evidence.core_replacements,
            )
            if expected is None or now - float(last_change.get(order_no, 0.0)) < SETTLE_S:
                in_progress[status] = in_progress.get(status, 0) + 1
                if len(examples) < 5:
                    examples.append(f"order {order_no}: {status}")
                continue
            for system, allowed in sorted(expected.items()):
                actual = seen.get(system, "absent")
                if actual not in allowed:
                    drift.append(f"order {order_no}: core says {status}, {system} says {actual}")
        known = set(evidence.core_final)
        for reference in sorted(evidence.erp_orders_by_reference):
            if reference not in known:
                drift.append(f"ERP sales order for unknown order {reference!r}")
        return {
            "clean": not drift,
            "checked": len(evidence.core_final),
            "drift": drift[:100],
            "drift_count": len(drift),
            "in_progress": {
                "count": sum(in_progress.values()),
                "by_status": dict(sorted(in_progress.items())),
                "examples": examples,
            },
            "outbox_backlog": backlog,
            "terminal_statuses": sorted(s.value for s in OrderStatus if s.value in EXPECTED_FINAL),
        }

    # ---- catalogue --------------------------------------------------------------------------------

    def _build_catalog(self) -> dict[str, Any]:
        world = self.world
        return {
            "scenario": self.scenario.name,
            "site_id": "RefArch",
            "currency": "USD",
            "products": [
                {"sku": i.sku, "name": i.name, "price": i.price, "hero": i.hero, "stock": i.stock}
                for i in world.catalog
            ],
            "stores": list(world.core_config.locations),
            "shoppers": [
                {
                    "customerId": s.customer_id,
                    "customerNo": s.customer_no,
                    "email": s.email,
                    "firstName": s.first_name,
                    "lastName": s.last_name,
                    "address1": s.address1,
                    "city": s.city,
                    "stateCode": s.state_code,
                    "postalCode": s.postal_code,
                    "countryCode": "US",
                }
                for s in world.shoppers[:SHOPPERS_IN_CATALOG]
            ],
            "payment": {
                "sandbox": "/v1/sandbox/payment_intents",
                "field": "paymentInstruments[].c_paymentIntentId",
            },
            "webhooks": {
                "sources": list(WEBHOOK_SOURCES),
                "signature": "Webhook-Signature: t=<unix>,v1=<hex HMAC-SHA256 of '{t}.{raw body}'>",
                "tolerance_s": 300,
            },
        }


def serve(
    runtime: LiveRuntime,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    store_url: str = "",
    announce: Callable[[str], None] = print,
) -> None:
    """Run ``runtime`` and the core's API under uvicorn until interrupted (Ctrl-C, SIGTERM)."""
    import uvicorn

    from retailsim.core.api import create_app

    ops_token = announce_ops_token(announce)
    app = create_app(
        runtime, ops_token=ops_token, title=f"retailsim integration core ({runtime.scenario.name})"
    )
    runtime.start()
    announce(
        f"retailsim serve: scenario {runtime.scenario.name}, store {store_url or '?'}, boot {runtime.boot}, "
        f"speed x{runtime.speed:g}, {runtime.replayed} journaled mock writes replayed, "
        f"{runtime.recovered} leases recovered"
    )
    announce(f"webhook secret ({SECRET_ENV}): {runtime.secret}")
    announce(f"listening on http://{host}:{port}  (OpenAPI: /openapi.json, metrics: /metrics, operations page: /ops)")
    config = uvicorn.Config(app, host=host, port=port, lifespan="off", **server_options())
    try:
        uvicorn.Server(config).run()
    finally:
        runtime.stop()
