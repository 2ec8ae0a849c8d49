"""The world: mock systems, the real integration core, links and workers, assembled from a scenario.

It runs until quiescence — the workload has ended, every accepted order is terminal, the outbox is
empty and no webhook is still being retried — or until the scenario's hard stop. Rules kept:

* The core is the real one, driven from outside exactly as production drives it: the storefront calls
  its order API, products' webhooks call its webhook API, and delivery workers claim its outbox.
* The core may crash (see sim/faults): a crash drops the core object, its in-flight work and memory;
  the store survives (it models the disk) and a new core process recovers from it. A crash at a crash
  point happens inside a call into the core (``CoreCrashed``): every place that calls the core catches
  it (``ask_core``, the workers, the timers), takes it as no reply, and the caller retries as it would.
* Every random draw comes from a named stream of the run's seed; every significant event goes into the
  trace digest.
* Liveness is watched, not assumed: each destination's outbox backlog is sampled, and a run in which no
  destination makes progress for ``expect.stall_after`` while messages are due (outside outages and
  crashes) stops early with the reason in ``stalled`` — it does not idle on to the hard stop. The watch
  only reads (the store's due times, breaker and bucket fields): it cannot change the digest.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

import simpy

from retailsim.core.adapters import pos as pos_api
from retailsim.core.adapters import sap
from retailsim.core.adapters.http import OutboundRequest, Reply
from retailsim.core.service import INTERNAL, CoreConfig, IntegrationCore
from retailsim.core.stores.base import Store
from retailsim.core.stores.memory import MemoryStore
from retailsim.scenarios.schema import LatencySpec, Scenario, SystemSpec
from retailsim.sim.accounting import EventLedger
from retailsim.sim.delivery import Lane
from retailsim.sim.faults import CoreCrashed, FaultSchedule
from retailsim.sim.monitors import BucketCounter, LevelSampler, Tally, TraceDigest
from retailsim.sim.retry_budget import RetryBudgetAudit
from retailsim.sim.seeds import Streams
from retailsim.sim.service_desk import ServiceDesk
from retailsim.sim.workload import CartPicker, arrival_times, build_catalog, build_shoppers
from retailsim.systems.base import Latency, LostReply, MockSystem, Request, Webhook
from retailsim.systems.carrier import Carrier
from retailsim.systems.erp import Erp
from retailsim.systems.payment import PaymentGateway
from retailsim.systems.pos import Pos
from retailsim.systems.service_cloud import ServiceCloud
from retailsim.systems.storefront import Storefront
from retailsim.systems.wms import Wms

CoreFactory = Callable[[Store, CoreConfig, Any], IntegrationCore]
TERMINAL = frozenset({"delivered", "cancelled", "rejected"})
SETTLED = frozenset({"delivered", "cancelled", "delivery_failed"})  # nothing more comes unless an agent acts
RETURN_TERMINAL = frozenset({"refunded", "rejected", "exchanged"})
SAMPLE_S = 60.0
DISPATCH_POLL_S = 0.05  # a worker that could not claim due work looks again no sooner than this
TIMER_POLL_S = 0.001
T = TypeVar("T")
# Faults during which a destination is expected to make no progress: the stall watch waits them out.
STALL_EXCUSED = frozenset({"outage", "error_rate", "rate_limit", "core_crash", "persistent_error"})
LOOKBACK_S = 900.0  # a destination's pre-fault backlog: the highest sampled in this stretch before it


def latency(spec: LatencySpec) -> Latency:
    return Latency(spec.median, spec.p99)


def store_ids(scenario: Scenario) -> list[str]:
    """The retailer's stores (the POS mock's and the core's names for them): S001, S002, ..."""
    return [f"S{i + 1:03d}" for i in range(scenario.systems.pos.stores)]


def core_config_for(scenario: Scenario) -> CoreConfig:
    """The core's settings for a scenario: its ``[core]`` section, the storefront's inventory feed and,
    where customers pick up in store, the stores whose stock the core then promises too."""
    storefront = scenario.systems.storefront
    return scenario.core.model_copy(
        update={
            "inventory_publication": "batch" if storefront.inventory_sync == "batch" else "events",
            "feed_interval_s": storefront.feed_interval,
            "stores": store_ids(scenario) if scenario.workload.bopis_share > 0 else [],
        }
    )


@dataclass
class Counts:
    submitted: int = 0
    accepted: int = 0
    rejected: int = 0
    payment_declined: int = 0
    checkout_failed: int = 0
    not_offered: int = 0
    webhooks_sent: int = 0
    webhooks_abandoned: int = 0
    deliveries: int = 0
    missing_correlation: list[str] = field(default_factory=list)
    returns_requested: int = 0
    returns_in_store: int = 0
    returns_not_taken: int = 0  # the core could not be reached for an online return request
    bopis_orders: int = 0


class World:
    # Live mode turns this off: there the core is a real process, killed for real, never at a point.
    crash_points_enabled = True

    def __init__(
        self,
        scenario: Scenario,
        seed: int,
        core_factory: CoreFactory | None = None,
        *,
        env: simpy.Environment | None = None,
        store: Store | None = None,
    ) -> None:
        """``env`` and ``store`` are injectable for live mode (a real-time environment, a SQLite store)."""
        self.scenario = scenario
        self.seed = seed
        self.env = env if env is not None else simpy.Environment()
        self.streams = Streams(seed)
        self.trace = TraceDigest()
        self.counts = Counts()
        self.stages = BucketCounter(SAMPLE_S)
        self.levels = LevelSampler()
        self.acceptance = Tally()
        self.erp_post = Tally()
        self.return_cycle = Tally()  # return requested → refunded
        self.refund_latency = Tally()  # goods received → refunded
        self.core_factory: CoreFactory = core_factory or IntegrationCore
        self.on_sample: Callable[[float], None] | None = None

        spec = scenario.workload
        self.catalog = build_catalog(spec, self.streams("catalog"))
        self.shoppers = build_shoppers(spec, self.seed)
        self.carts = CartPicker(self.catalog, spec, self.streams("carts"))
        self._build_systems()

        self.core_config = core_config_for(scenario)
        self.link_latency = latency(scenario.delivery.link_latency)
        self.link_rng = self.streams("links")
        self.store: Store = store if store is not None else MemoryStore()
        self.core_up = True
        self.core_epoch = 0
        self.crashes = 0
        self.retired_counters: dict[str, int] = {}
        # Deaths at crash points: (point, when, restart due); the core's crash hook only when one is planned.
        self.crash_log: list[tuple[str, float, float]] = []
        self._point_crashes = self.crash_points_enabled and any(
            f.kind == "core_crash" and f.point is not None for f in scenario.faults
        )
        self.core = self._start_core()
        self.fault_schedule = FaultSchedule(self, list(scenario.faults))
        self.retry_audit = RetryBudgetAudit(self.core_config.breaker_failures)

        self._lanes: dict[str, Lane] = {}
        self._accepted_at: dict[str, float] = {}
        self.open_orders = 0
        self.open_returns = 0
        self._awaited_returns: set[str] = set()  # returns counted in open_returns, by number
        self._return_times: dict[str, list[float]] = {}
        self.webhooks_in_flight = 0
        self.event_ledger = EventLedger()  # every event sent, each copy's deliveries, the core's answers
        self.workload_done = False
        self.workload_end = 0.0
        self.quiescent_at: float | None = None
        self._stop = self.env.event()
        self.desk = ServiceDesk(self) if scenario.cases.enabled else None
        # Liveness: each destination's outbox backlog per sample, the calls it answered (not 5xx, not
        # 429, not lost), and the stall watch (see ``_watch_for_stall``).
        self.destination_backlog: dict[str, list[int]] = {name: [] for name in self.systems}
        # Per destination and sample: how long its oldest due message had been waiting (0: none due).
        # Messages scheduled for later (captures, backoffs, watchdogs) are work, not delay.
        self.destination_lag: dict[str, list[float]] = {name: [] for name in self.systems}
        self.answered: dict[str, int] = dict.fromkeys(self.systems, 0)
        self._answered_seen: dict[str, int] = dict.fromkeys(self.systems, 0)
        self._backlog_seen: dict[str, int] = dict.fromkeys(self.systems, 0)
        self._progress_at = 0.0
        self.stalled: dict[str, Any] | None = None
        self.dead_end_at: float | None = None  # the run stopped with nothing left scheduled (see _sampler)
        self._watch_stalls = False  # a run with its own workload; live mode serves on regardless

    # ---- assembly ---------------------------------------------------------------------------------

    def _system_kwargs(self, spec: SystemSpec) -> dict[str, Any]:
        return {
            "concurrency": spec.concurrency,
            "latency": latency(spec.latency),
            "rate_limit_per_s": spec.rate_limit,
        }

    def _build_systems(self) -> None:
        s, env, streams = self.scenario.systems, self.env, self.streams
        plant = self.scenario.core.locations[0]
        stock = {item.sku: item.stock for item in self.catalog}
        self.storefront = Storefront(env, streams("storefront"), **self._system_kwargs(s.storefront))
        self.payment = PaymentGateway(
            env, streams("payment"), decline_rate=s.payment.decline_rate, **self._system_kwargs(s.payment)
        )
        self.erp = Erp(env, streams("erp"), stock={plant: dict(stock)}, **self._system_kwargs(s.erp))
        self.carrier = Carrier(
            env, streams("carrier"), exception_rate=s.carrier.exception_rate, **self._system_kwargs(s.carrier)
        )
        self.wms = Wms(
            env,
            streams("wms"),
            stock=dict(stock),
            short_pick_rate=s.wms.short_pick_rate,
            allocate_time=latency(s.wms.allocate_time),
            pick_time=latency(s.wms.pick_time),
            pack_time=latency(s.wms.pack_time),
            adjustments_per_hour=s.wms.adjustments_per_hour,
            adjust_until_s=self.scenario.workload.duration,
            split_share=s.wms.split_share,
            **self._system_kwargs(s.wms),
        )
        self.wms.carrier = self.carrier
        self.wms.event_ids = s.wms.event_ids
        self.service_cloud = ServiceCloud(
            env, streams("service_cloud"), **self._system_kwargs(s.service_cloud)
        )
        store_stock = {sku: s.pos.stock_per_sku for sku in sorted(stock)}
        self.pos = Pos(
            env,
            streams("pos"),
            stores={store: dict(store_stock) for store in store_ids(self.scenario)},
            checkin_time=latency(s.pos.checkin_time),
            pick_time=latency(s.pos.pick_time),
            collect_time=latency(s.pos.collect_time),
            pick_fail_rate=s.pos.pick_fail_rate,
            walk_in_per_hour=s.pos.walk_in_per_hour,
            trading_until_s=self.scenario.workload.duration,
            receive_per_unit=s.pos.receive_per_unit,
            **self._system_kwargs(s.pos),
        )
        self.pos.event_ids = s.pos.event_ids
        self.erp_initial = self.erp.snapshot_stock()
        self.systems: dict[str, MockSystem] = {
            "storefront": self.storefront,
            "payment": self.payment,
            "erp": self.erp,
            "wms": self.wms,
            "carrier": self.carrier,
            "service_cloud": self.service_cloud,
            "pos": self.pos,
        }
        self.timeouts = {name: getattr(s, name).timeout for name in self.systems}
        for system in (self.wms, self.carrier, self.payment, self.pos):
            system.webhook_sink = self.send_webhook
        for item in self.catalog:
            self.storefront.set_availability(item.sku, item.stock)

    # ---- crashes and operators ------------------------------------------------------------------

    def crash_core(self) -> None:
        """The core process dies: memory, breakers and in-flight work are gone; the store is kept."""
        if not self.core_up:
            return
        for name, value in self.core.counters.items():
            self.retired_counters[name] = self.retired_counters.get(name, 0) + value
        self.core_up = False
        self.core_epoch += 1
        self.crashes += 1
        self._lanes = {}  # its workers die with it: parked ones are never woken, busy ones drop the reply

    def restart_core(self) -> None:
        """A new core process starts on the same store and takes back the dead one's leases."""
        if self.core_up:
            return
        self.core = self._start_core()
        self.core.recover()
        self.core_up = True
        self._start_workers()

    def ask_core(self, call: Callable[[IntegrationCore], T]) -> T | None:
        """Call into the running core; None when it is down, or died at a crash point during the call
        (the caller got no reply either way)."""
        if not self.core_up:
            return None
        try:
            return call(self.core)
        except CoreCrashed as crash:
            self._core_died(crash)
            return None

    def _at_crash_point(self, epoch: int, point: str) -> None:
        """The core's crash hook: its process dies here when an armed ``core_crash`` fault strikes."""
        if epoch != self.core_epoch:
            return  # a dead process's stray call (none is expected): it cannot kill the live one
        fault = self.fault_schedule.at_crash_point(point)
        if fault is not None:
            raise CoreCrashed(point, fault.duration)

    def _core_died(self, crash: CoreCrashed) -> None:
        """The core died at a crash point inside a call: drop the process, restart after the downtime."""
        now = self.env.now
        self.trace.record(f"{now:.6f}", "crash", crash.point)
        self.crash_core()
        self.crash_log.append((crash.point, now, now + crash.downtime_s))
        self.env.process(self._restart_after(self.core_epoch, crash.downtime_s))

    def _restart_after(self, epoch: int, downtime_s: float) -> Generator[simpy.Event, Any, None]:
        yield self.env.timeout(downtime_s)
        if self.core_epoch == epoch:  # not crashed again meanwhile (then that crash restarts it)
            self.trace.record(f"{self.env.now:.6f}", "restart")
            self.restart_core()

    def crash_points_hit(self) -> dict[str, int]:
        """Deaths at crash points, by point."""
        hit: dict[str, int] = {}
        for point, _, _ in self.crash_log:
            hit[point] = hit.get(point, 0) + 1
        return dict(sorted(hit.items()))

    def operator_replay_dead_letters(self) -> None:
        """An operator, having repaired the cause, replays every dead letter (once the core is up)."""
        self.env.process(self._operator_replay())

    def _operator_replay(self) -> Generator[simpy.Event, Any, None]:
        replayed, done = 0, False
        while not done:  # an operator whose replay got no answer (the core died) waits and replays again
            while not self.core_up:
                yield self.env.timeout(SAMPLE_S)
            try:
                for dead in self.store.dead_letters():
                    if dead.status == "dead" and self.core.replay_dead_letter(dead.dlq_id, self.env.now):
                        replayed += 1
                done = True
            except CoreCrashed as crash:
                self._core_died(crash)
        self.trace.record(f"{self.env.now:.6f}", "dlq-replay", replayed)

    def counters(self) -> dict[str, int]:
        merged = dict(self.retired_counters)
        for name, value in self.core.counters.items():
            merged[name] = merged.get(name, 0) + value
        return dict(sorted(merged.items()))

    def _start_core(self) -> IntegrationCore:
        core = self.core_factory(self.store, self.core_config, self.streams(f"core/{self.core_epoch}"))
        core.on_append = self._wake_destination
        core.on_status = self._on_status
        core.on_return_status = self._on_return_status
        if self._point_crashes:
            core.crash_hook = partial(self._at_crash_point, self.core_epoch)
        return core

    # ---- the core's observers ---------------------------------------------------------------------

    def _wake_destination(self, destination: str) -> None:
        lane = self._lanes.get(destination)
        if lane is not None:
            lane.nudge()

    def wake_workers(self, destination: str | None = None) -> None:
        """Wake the delivery workers of ``destination`` (None: of every destination, and the timers)."""
        for name in [destination] if destination is not None else list(self._lanes):
            self._wake_destination(name)

    def _on_status(self, order_no: str, status: str, now: float) -> None:
        self.trace.record(f"{now:.6f}", "status", order_no, status)
        self.stages.add(status, now)
        if status == "stock_reserved":
            self.open_orders += 1
            self._accepted_at[order_no] = now
        elif status in ("posted_to_erp", "backordered"):
            accepted = self._accepted_at.pop(order_no, None)
            if accepted is not None:
                self.erp_post.add(now - accepted)
                self.stages.add("erp_posted", now)
        if status in SETTLED:
            self.open_orders -= 1
            self._accepted_at.pop(order_no, None)
        if status == "delivered" and self.scenario.workload.return_rate > 0:
            self._maybe_return(order_no)
        if self.desk is not None:
            self.desk.on_status(order_no, status)

    def _on_return_status(self, return_no: str, status: str, now: float) -> None:
        self.trace.record(f"{now:.6f}", "return-status", return_no, status)
        if return_no not in self._awaited_returns and status not in RETURN_TERMINAL:
            # A return the customers' side did not start (a service agent opened it): wait for it too.
            self._awaited_returns.add(return_no)
            self.open_returns += 1
        self.stages.add(f"return_{status}", now)
        times = self._return_times.setdefault(return_no, [now, -1.0])
        if status == "received":
            times[1] = now
        elif status == "refunded":
            self.return_cycle.add(now - times[0])
            if times[1] >= 0:
                self.refund_latency.add(now - times[1])
        if status in RETURN_TERMINAL and return_no in self._awaited_returns:
            self._return_times.pop(return_no, None)
            self._awaited_returns.discard(return_no)
            self.open_returns -= 1

    # ---- returns: customers bring delivered orders back -------------------------------------------

    def _maybe_return(self, order_no: str) -> None:
        spec = self.scenario.workload
        rng = self.streams("returns")
        if rng.random() >= spec.return_rate or order_no not in self.storefront.orders:
            return
        self.open_returns += 1
        # The lognormal's tail is unbounded; a customer past the return window tries a week late at most
        # (and is refused), so a run's returns all come in within a bounded time of its deliveries.
        delay = min(latency(spec.return_delay).sample(rng), self.core_config.return_window_s + 7 * 86400.0)
        self.env.process(self._return(order_no, delay))

    def _return(self, order_no: str, delay: float) -> Generator[simpy.Event, Any, None]:
        yield self.env.timeout(delay)
        spec = self.scenario.workload
        rng = self.streams("returns")
        items = self.storefront.orders[order_no]["productItems"]
        chosen = [item for item in items if rng.random() < 0.7] or [items[0]]
        lines: list[tuple[str, int, str]] = []
        for item in chosen:
            draw = rng.random()
            condition = (
                "damaged"
                if draw < spec.damaged_share
                else "opened"
                if draw < spec.damaged_share + spec.opened_share
                else "resellable"
            )
            lines.append((str(item["productId"]), rng.randint(1, int(item["quantity"])), condition))
        self.counts.returns_requested += 1
        in_store = self.pos.store_ids and rng.random() < spec.store_return_share
        if in_store:
            store = self.pos.store_ids[rng.randrange(len(self.pos.store_ids))]
            return_no = self.pos.open_return(store, order_no, lines, "R01")
            self._awaited_returns.add(return_no)
            self.counts.returns_in_store += 1
            self.trace.record(f"{self.env.now:.6f}", "return", return_no, order_no, store)
            if self.desk is not None:
                self.desk.on_return_requested(return_no, order_no)
            return
        return_no = f"RMA{self.counts.returns_requested:07d}"
        self._awaited_returns.add(return_no)
        self.wms.expect_return_conditions(return_no, [condition for _, _, condition in lines])
        body = {
            "return_no": return_no,
            "order_no": order_no,
            "channel": "storefront",
            "reason": "R01",
            "lines": [{"sku": sku, "quantity": qty, "condition": "resellable"} for sku, qty, _ in lines],
        }
        link = latency(self.scenario.delivery.link_latency)
        status = None
        attempt, unanswered = 0, False  # as the storefront's export (see ``_checkout``)
        while attempt < 5 or unanswered:
            yield self.env.timeout(link.sample(rng))
            if self.core_up:
                reply = self.ask_core(
                    lambda core: core.request_return(body, f"{return_no}:request", self.env.now)
                )
                unanswered = reply is None
                status = reply.status if reply is not None else None
                if status is not None and status < 500 and status != 409:
                    break
            attempt += 1
            yield self.env.timeout(5.0 * min(attempt, 12))
        self.trace.record(f"{self.env.now:.6f}", "return", return_no, order_no, status)
        if status is None or status >= 300:
            self.counts.returns_not_taken += 1
            self._awaited_returns.discard(return_no)
            self.open_returns -= 1
        elif self.desk is not None:
            self.desk.on_return_requested(return_no, order_no)

    # ---- links ------------------------------------------------------------------------------------

    def call(
        self, system: MockSystem, request: OutboundRequest, timeout_s: float
    ) -> Generator[simpy.Event, Any, Reply]:
        """One request over a link: round-trip latency, the system's service, and the caller's timeout."""
        start = self.env.now
        yield self.env.timeout(self.link_latency.sample(self.link_rng))
        # The system serves the call inline (no extra SimPy process): the cheapest faithful model.
        response = yield from system.call(
            Request(request.method, request.path, request.body, dict(request.headers), dict(request.query))
        )
        elapsed = self.env.now - start
        if isinstance(response, LostReply) or elapsed > timeout_s:
            if timeout_s > elapsed:
                yield self.env.timeout(timeout_s - elapsed)
            return Reply(None)
        return Reply(response.status, response.body, response.headers)

    def send_webhook(self, hook: Webhook) -> None:
        self.counts.webhooks_sent += 1
        delays = self.fault_schedule.webhook_deliveries(hook.source)
        self.event_ledger.sent(
            hook.source, hook.event_id, hook.topic, self.event_reference(hook), self.env.now, len(delays)
        )
        for copy, delay in enumerate(delays):
            self.webhooks_in_flight += 1
            self.env.process(self._deliver_webhook(hook, delay, copy))

    def event_reference(self, hook: Webhook) -> str:
        """The order (or return) an event is about, as its source names it (for ``events_accounted``)."""
        body = hook.body if isinstance(hook.body, dict) else {}
        if hook.source == "carrier":
            shipment = self.carrier.shipments.get(str((body.get("result") or {}).get("shipment_id")), {})
            return str(shipment.get("reference_id", ""))
        if hook.source == "payment":
            intent = (body.get("data") or {}).get("object") or {}
            return str((intent.get("metadata") or {}).get("order_no", ""))
        if "TransactionNumber" in body and "ItemName" in body:
            return "inventory"  # a warehouse adjustment: repaired by the core's adjustment watch
        return str(body.get("reference_id") or body.get("order_reference") or "")

    def _deliver_webhook(
        self, hook: Webhook, delay: float, copy: int = 0
    ) -> Generator[simpy.Event, Any, None]:
        rng = self.streams(f"webhooks/{hook.source}")
        spec = self.scenario.delivery
        yield self.env.timeout(delay + self.link_latency.sample(rng))
        attempt = 0
        while True:
            attempt += 1
            status = None
            reached = self.core_up
            if self.core_up:
                reply = self.ask_core(
                    lambda core: core.receive_webhook(
                        hook.source, hook.event_id, hook.topic, hook.body, self.env.now
                    )
                )
                status = reply.status if reply is not None else None
            self.event_ledger.attempt(
                hook.source,
                hook.event_id,
                copy,
                self.env.now,
                status,
                reply.body if reached and reply is not None else None,
                reached,
            )
            self.trace.record(f"{self.env.now:.6f}", "webhook", hook.source, hook.event_id, status)
            if status is not None and status < 300:
                break
            if attempt >= spec.webhook_max_attempts:
                self.counts.webhooks_abandoned += 1
                break
            # Senders back off exponentially with jitter (Shopify: 8 tries over 4 h; EasyPost: about a day).
            yield self.env.timeout(spec.webhook_retry_base * 2 ** (attempt - 1) * rng.uniform(0.8, 1.2))
        self.webhooks_in_flight -= 1

    # ---- delivery workers -------------------------------------------------------------------------

    def _start_workers(self) -> None:
        """The core process's delivery workers (``workers_per_system`` per destination) and its timer
        runner. They belong to that process: a crash ends them, a restart starts new ones."""
        core, epoch = self.core, self.core_epoch
        self._lanes = {}
        for destination in self.systems:
            lane = Lane(self.env, partial(core.next_due_at, destination), DISPATCH_POLL_S)
            self._lanes[destination] = lane
            for _ in range(self.scenario.delivery.workers_per_system):
                self.env.process(self._deliver(destination, lane, core, epoch))
        timers = self._lanes[INTERNAL] = Lane(self.env, partial(core.next_due_at, INTERNAL), TIMER_POLL_S)
        self.env.process(self._run_timers(timers, core, epoch))

    def _deliver(
        self, destination: str, lane: Lane, core: IntegrationCore, epoch: int
    ) -> Generator[simpy.Event, Any, None]:
        """One delivery worker: claim the next due message, send it (and its follow-ups), and again;
        park in the lane when nothing may be claimed."""
        system = self.systems[destination]
        timeout_s = self.timeouts[destination]
        while self.core_epoch == epoch:
            try:
                delivery = core.claim(destination, self.env.now)
            except CoreCrashed as crash:
                self._core_died(crash)
                return
            if delivery is None:
                yield lane.park()
                continue
            lane.nudge()  # more may be due: a parked worker takes it rather than wait for this one
            message = delivery.message
            self.retry_audit.claimed(message)
            request: OutboundRequest | None = delivery.request
            while request is not None:
                self.counts.deliveries += 1
                if request.headers.get("X-Correlation-ID") != message.correlation_id:
                    self.counts.missing_correlation.append(f"{message.kind} for {message.aggregate_id}")
                reply = yield from self.call(system, request, timeout_s)
                self.trace.record(
                    f"{self.env.now:.6f}",
                    "reply",
                    destination,
                    message.kind,
                    message.aggregate_id,
                    reply.status,
                )
                if self.core_epoch != epoch:
                    return  # the core process that sent this died; its reply goes nowhere
                if reply.status is not None and reply.status < 500 and reply.status != 429:
                    self.answered[destination] += 1
                repairs = core.counters.get("reconciliation_repairs", 0)
                try:
                    request = core.on_reply(delivery, reply, self.env.now)
                except CoreCrashed as crash:
                    self._core_died(crash)
                    return  # a reply the core died judging counts for nothing (no retry audit, no repair)
                self.retry_audit.observe(epoch, message, reply)
                if core.counters.get("reconciliation_repairs", 0) > repairs:
                    self.event_ledger.repaired(self.env.now, destination, message.aggregate_id)

    def _run_timers(self, lane: Lane, core: IntegrationCore, epoch: int) -> Generator[simpy.Event, Any, None]:
        """The core's internal timers (backorder expiry, watchdogs, the batch feed), fired when due."""
        while self.core_epoch == epoch:
            try:
                core.run_timers(self.env.now)
            except CoreCrashed as crash:
                self._core_died(crash)
                return
            yield lane.park()

    # ---- the storefront's shoppers ----------------------------------------------------------------

    def _workload(self) -> Generator[simpy.Event, Any, None]:
        spec = self.scenario.workload
        rng = self.streams("arrivals")
        for index, at in enumerate(arrival_times(spec, rng)):
            if at > self.env.now:
                yield self.env.timeout(at - self.env.now)
            self.env.process(self._checkout(index + 1))
        self.workload_done = True
        self.workload_end = self.env.now

    def _checkout(self, number: int) -> Generator[simpy.Event, Any, None]:
        spec = self.scenario.workload
        rng = self.streams("shoppers")
        order_no = f"{number:08d}"
        shopper = self.shoppers[rng.randrange(len(self.shoppers))]
        lines: dict[str, tuple[str, int, float]] = {}
        # A marketplace sells the same stock from its own listing: the storefront never sees those sales
        # except through the core's inventory publications.
        marketplace = rng.random() < spec.marketplace_share
        for _ in range(rng.randint(1, spec.max_lines)):
            item = self.carts.pick(self.env.now)
            quantity = rng.randint(1, spec.max_quantity)
            shown = (
                self.marketplace_listing(item.sku)
                if marketplace
                else self.storefront.availability.get(item.sku, 0)
            )
            if item.sku not in lines and shown >= quantity:
                lines[item.sku] = (item.name, quantity, item.price)
        if not lines:
            self.counts.not_offered += 1  # the shopper saw only sold-out products
            return
        total_minor = sum(round(price * 100) * quantity for _, quantity, price in lines.values())
        confirmed = not marketplace and self.scenario.systems.storefront.inventory_sync == "batch"
        pickup_store = self._pickup_store() if spec.bopis_share > 0 and not marketplace else None
        authorisation = OutboundRequest(
            "POST",
            "/v1/payment_intents",
            {
                "amount": total_minor,
                "currency": "usd",
                "capture_method": "manual",
                "metadata": {"order_no": order_no},
            },
            {"Idempotency-Key": f"{order_no}:authorize"},
        )
        reply = yield from self.call(self.payment, authorisation, self.timeouts["payment"])
        if not reply.ok:
            if reply.status == 402:
                self.counts.payment_declined += 1
            else:
                self.counts.checkout_failed += 1
                # The gateway may have authorised before its reply was lost: the checkout knows the number.
                self.storefront.failed_orders.append(order_no)
            return
        order = self.storefront.build_order(
            order_no,
            {"customerId": shopper.customer_id, "customerNo": shopper.customer_no, "email": shopper.email},
            [(sku, name, quantity, price) for sku, (name, quantity, price) in lines.items()],
            {
                "firstName": shopper.first_name,
                "lastName": shopper.last_name,
                "address1": shopper.address1,
                "city": shopper.city,
                "stateCode": shopper.state_code,
                "postalCode": shopper.postal_code,
                "countryCode": "US",
            },
            str(reply.body["id"]),
            "confirmed" if confirmed else "not_confirmed",
            channel_type="marketplace" if marketplace else "storefront",
            pickup_store=pickup_store,
        )
        self.counts.submitted += 1
        self.stages.add("checkout", self.env.now)
        started = self.env.now
        link = self.link_latency
        outcome = None
        # Storefronts retry a failed export with the same key, five times; an export the core may have
        # committed before it died (sent, never answered) is asked again until it is answered.
        attempt, unanswered = 0, False
        while attempt < 5 or unanswered:
            yield self.env.timeout(link.sample(rng))
            if self.core_up:
                outcome = self.ask_core(lambda core: core.submit_order(order, order_no, self.env.now))
                unanswered = outcome is None
                if outcome is not None and outcome.status < 500 and outcome.status != 409:
                    break
            attempt += 1
            yield self.env.timeout(5.0 * min(attempt, 12))
        self.acceptance.add(self.env.now - started)
        self.trace.record(f"{self.env.now:.6f}", "checkout", order_no, outcome.status if outcome else None)
        if outcome is not None and outcome.status in (200, 202) and outcome.body.get("status") != "rejected":
            self.counts.accepted += 1
            self.storefront.record_placed(order)
            # At-least-once export: the same order may be sent again (exporters mint a new request key).
            for copy, delay in enumerate(self.fault_schedule.webhook_deliveries("storefront")[1:], start=1):
                self.env.process(self._export_again(order, f"{order_no}:export-{copy}", delay))
            if not marketplace:
                for sku, (_, quantity, _) in lines.items():
                    self.storefront.decrement_availability(sku, quantity)
        elif outcome is not None and outcome.body.get("status") == "rejected":
            self.counts.rejected += 1
            self.storefront.failed_orders.append(order_no)
        else:
            self.counts.checkout_failed += 1
            self.storefront.failed_orders.append(order_no)

    def _pickup_store(self) -> str | None:
        """A shopper who collects in store picks one (its own stream: other draws do not shift)."""
        rng = self.streams("bopis")
        if rng.random() >= self.scenario.workload.bopis_share:
            return None
        self.counts.bopis_orders += 1
        stores = self.pos.store_ids
        return stores[rng.randrange(len(stores))]

    def marketplace_listing(self, sku: str) -> int:
        """What the marketplace shows: the core's available-to-promise (its connector asks in real time)."""
        if not self.core_up:
            return 0
        return sum((self.ask_core(lambda core: core.available_to_promise(sku)) or {}).values())

    def _export_again(
        self, order: dict[str, Any], key: str, delay: float
    ) -> Generator[simpy.Event, Any, None]:
        yield self.env.timeout(delay)
        if self.core_up:
            reply = self.ask_core(lambda core: core.submit_order(order, key, self.env.now))
            status = reply.status if reply is not None else None
            self.trace.record(f"{self.env.now:.6f}", "export-again", order["orderNo"], status)

    # ---- monitoring and the run -------------------------------------------------------------------

    def _any_dead(self) -> bool:
        counters = self.core.counters
        return bool(self.retired_counters.get("dead_lettered") or counters.get("dead_lettered"))

    def erp_backlog(self) -> int:
        return len(self._accepted_at)

    def outbox_backlog(self) -> int:
        return self.store.backlog() - self.store.backlog(INTERNAL)

    def drain_reference(self) -> float:
        """When the pressure ended: the last fault episode's end (background faults that outlast the
        trading window do not count, see ``Scenario.fault_episodes``), else the spike's end, else the
        workload's end."""
        ends = [min(end, self.env.now) for _, _, _, end in self.episode_windows()]
        if ends:
            return max(ends)
        spec = self.scenario.workload
        if spec.shape == "flash_sale":
            return spec.spike_start + spec.spike_duration
        return self.workload_end if self.workload_done else spec.duration

    @property
    def drained_at(self) -> float | None:
        """The first sample at or after the pressure ended with no order waiting for the ERP (None: never)."""
        reference = self.drain_reference()
        for index, backlog in enumerate(self.levels.series("erp_backlog")):
            at = (index + 1) * SAMPLE_S
            if at >= reference and backlog == 0:
                return at
        return None

    def _sampler(self) -> Generator[simpy.Event, Any, None]:
        hard_stop = self.scenario.expect.hard_stop
        while True:
            yield self.env.timeout(SAMPLE_S)
            now = self.env.now
            erp_backlog = self.erp_backlog()
            outbox = self.outbox_backlog()
            self.levels.sample("erp_backlog", erp_backlog)
            self.levels.sample("outbox_backlog", outbox)
            self.levels.sample("erp_queue", self.erp.queue_length() + self.erp.in_service())
            self.levels.sample("webhooks_in_flight", self.webhooks_in_flight)
            self.levels.sample(
                "dlq",
                sum(1 for d in self.store.dead_letters() if d.status == "dead") if self._any_dead() else 0,
            )
            for name, series in self.destination_backlog.items():
                series.append(self.store.backlog(name))
                due = self.store.next_due_at(name)
                self.destination_lag[name].append(max(0.0, now - due) if due is not None else 0.0)
            if self.on_sample is not None:
                self.on_sample(now)
            settled = (
                self.open_orders == 0 and self.open_returns == 0 and (self.desk is None or self.desk.idle)
            )
            if self.workload_done and settled and outbox == 0 and self.webhooks_in_flight == 0:
                self.quiescent_at = now
                self._stop.succeed()
                return
            if (self._watch_stalls and self._watch_for_stall(now)) or now >= hard_stop:
                self._stop.succeed()
                return
            if self._watch_stalls and self.workload_done and self.env.peek() == math.inf:
                # Nothing but this sampler is scheduled: no timer, no worker, no webhook, no system will
                # ever act again, so what is still open stays open. Waiting for the hard stop would only
                # burn wall time (an order whose commands were never written idles fourteen days).
                self.dead_end_at = now
                self.trace.record(f"{now:.6f}", "dead-end")
                self._stop.succeed()
                return

    # ---- liveness: the stall watch, drain and recovery per fault episode ---------------------------

    def _stall_excused(self, now: float) -> bool:
        return not self.core_up or any(
            f.start <= now < f.start + f.duration
            for f in self.scenario.faults
            if f.kind in STALL_EXCUSED and f.point is None
        )

    def _watch_for_stall(self, now: float) -> bool:
        """True when no destination made progress (an answered call, a backlog that shrank) for
        ``expect.stall_after`` while some destination had due work — messages whose time has come, not
        ones scheduled later (watchdogs, backoffs) — outside faults that excuse it. Records why."""
        backlog = {name: series[-1] for name, series in self.destination_backlog.items()}
        progressed = any(self.answered[n] != self._answered_seen[n] for n in self.answered) or any(
            backlog[n] < self._backlog_seen[n] for n in backlog
        )
        self._answered_seen = dict(self.answered)
        self._backlog_seen = backlog
        due = {}
        for name in self.systems:
            at = self.store.next_due_at(name)
            if at is not None and at <= now:
                due[name] = at
        if progressed or not due or self._stall_excused(now):
            self._progress_at = now
            return False
        if now - self._progress_at < self.scenario.expect.stall_after:
            return False
        stuck = []
        for name, since in due.items():
            breaker = self.core.breakers.get(name)
            bucket = self.core.buckets.get(name)
            stuck.append(
                {
                    "destination": name,
                    "backlog": backlog[name],
                    "due_since_s": round(since, 3),
                    "breaker": breaker.state.value if breaker is not None else "none",
                    "breaker_opened_at_s": round(breaker.opened_at, 3) if breaker is not None else None,
                    "bucket": (
                        f"{bucket.tokens:.2f} of {bucket.burst:g} token(s) at {bucket.rate_per_s:g}/s"
                        if bucket is not None
                        else "none"
                    ),
                }
            )
        self.stalled = {"at_s": now, "no_progress_since_s": self._progress_at, "stuck": stuck}
        self.trace.record(f"{now:.6f}", "stalled", ",".join(sorted(due)))
        return True

    def drain_rate(self, destination: str) -> float:
        """Messages per second a destination can take: the lowest of the core's bucket, the system's
        rate limit and its capacity (workers or concurrency over the median round trip)."""
        spec: SystemSpec = getattr(self.scenario.systems, destination)
        limits = [r for r in (self.core_config.rate_limits.get(destination), spec.rate_limit) if r]
        round_trip = spec.latency.median + 2 * self.scenario.delivery.link_latency.median
        workers = min(self.scenario.delivery.workers_per_system, spec.concurrency)
        return min([*limits, workers / max(round_trip, 0.001)])

    def _sampled(
        self, series: Sequence[float], at_or_after: float
    ) -> tuple[float, float] | None:
        """(time, value) of the first sample at or after ``at_or_after`` (None: the run ended first)."""
        first = max(0, int(-(-at_or_after // SAMPLE_S)) - 1)
        for index in range(first, len(series)):
            at = (index + 1) * SAMPLE_S
            if at >= at_or_after:
                return at, float(series[index])
        return None

    def pre_fault_level(self, series: Sequence[float], start: float) -> float:
        """The highest backlog sampled in the quarter-hour before ``start`` (0 before the first sample)."""
        values = [float(v) for i, v in enumerate(series) if start - LOOKBACK_S <= (i + 1) * SAMPLE_S < start]
        return max(values, default=0.0)

    def episode_windows(self) -> list[tuple[str, str, float, float]]:
        """The run's fault episodes as they happened, (kind, target, start, end) by start: each episode of
        the scenario (``Scenario.fault_episodes``) over its window — except a core crash at a crash point,
        which is an episode from the death it caused to the restart (armed at ``start``, it strikes when
        the core passes the point, maybe much later; one that never struck was no episode)."""
        window = self.scenario.workload.duration
        spans = [
            (f.kind, f.target, f.start, f.start + f.duration)
            for f in self.scenario.fault_episodes()
            if f.point is None
        ]
        spans += [("core_crash", "core", at, restart) for _, at, restart in self.crash_log if at <= window]
        return sorted(spans, key=lambda span: (span[2], span[3], span[0]))

    def episode_drains(self) -> list[dict[str, Any]]:
        """Per fault episode: when, after its own end, no order waited for the ERP and every destination
        had caught up (``caught_up``); the drain time from that end (None: never, or the fault outlasted
        the run). A fault that spans the window is measured from its end, not clipped."""
        erp = self.levels.series("erp_backlog")
        drains = []
        for kind, target, start, end in self.episode_windows():
            levels = {name: self.pre_fault_level(series, start) for name, series in self.destination_lag.items()}
            drained_at = None
            if end <= self.env.now:
                first = max(0, int(-(-end // SAMPLE_S)) - 1)
                for index in range(first, len(erp)):
                    at = (index + 1) * SAMPLE_S
                    if at < end or erp[index] != 0:
                        continue
                    if all(self.caught_up(n, index, levels[n]) for n in self.destination_lag):
                        drained_at = at
                        break
            drains.append(
                {
                    "kind": kind,
                    "target": target,
                    "start_s": start,
                    "end_s": end,
                    "drained_at_s": drained_at,
                    "drain_time_s": None if drained_at is None else drained_at - end,
                    "outlasted_run": end > self.env.now,
                }
            )
        return drains

    def caught_up(self, destination: str, index: int, pre_fault_lag: float) -> bool:
        """At sample ``index`` the destination is back at its pre-fault level: its oldest due message
        waits no longer than before the fault (or than one sample). Measured as delay, not as a count of
        open messages: a steady flow's backlog grows with work scheduled for later (captures at shipping,
        backoffs, watchdogs), which no destination owes yet — a count read a five-second blip as a
        two-hour recovery."""
        return self.destination_lag[destination][index] <= max(pre_fault_lag, SAMPLE_S)

    def episode_recoveries(self) -> list[dict[str, Any]]:
        """Per fault episode (overlapping ones merged) and destination: the backlog at the episode's end,
        when the destination had caught up (``caught_up``), and the bound derived from the run — backlog
        at the end ÷ the destination's rate × ``expect.recovery_factor`` + the retry cap + the breaker's
        open time (+ one sample)."""
        spans: list[list[float]] = []
        for _, _, start, end in self.episode_windows():
            if spans and start <= spans[-1][1]:
                spans[-1][1] = max(spans[-1][1], end)
            else:
                spans.append([start, end])
        slack = self.core_config.retry_cap_s + self.core_config.breaker_open_s + SAMPLE_S
        factor = self.scenario.expect.recovery_factor
        rows = []
        for start, end in spans:
            if end > self.env.now:
                continue
            for name, series in self.destination_backlog.items():
                level = self.pre_fault_level(self.destination_lag[name], start)
                lag_at_end = self._sampled(self.destination_lag[name], end)
                at_end = self._sampled(series, end)
                if at_end is None:
                    continue
                rate = self.drain_rate(name)
                bound = at_end[1] / rate * factor + slack
                recovered = None
                first = max(0, int(-(-end // SAMPLE_S)) - 1)
                for index in range(first, len(series)):
                    at = (index + 1) * SAMPLE_S
                    if at >= end and self.caught_up(name, index, level):
                        recovered = at
                        break
                rows.append(
                    {
                        "destination": name,
                        "start_s": start,
                        "end_s": end,
                        "pre_fault_lag_s": round(level, 3),
                        "lag_at_end_s": round(lag_at_end[1], 3) if lag_at_end is not None else 0.0,
                        "at_end": at_end[1],
                        "rate_per_s": round(rate, 3),
                        "bound_s": round(bound, 1),
                        "recovered_after_s": None if recovered is None else recovered - end,
                    }
                )
        return rows

    def start(self, *, workload: bool = True) -> None:
        """Load stock into the core and start every process; live mode starts without the workload."""
        plant_rows = sap.parse_stock(
            Reply(200, self.erp.dispatch(Request("GET", sap.stock_snapshot().path)).body)
        )
        for store in self.core_config.stores:
            listing = self.pos.dispatch(Request("GET", pos_api.inventory_snapshot(store).path)).body
            plant_rows += pos_api.parse_inventory(listing)
        self.core.load_inventory(plant_rows, self.env.now)
        self._start_workers()
        self.fault_schedule.start()
        self._watch_stalls = workload
        if workload:
            self.env.process(self._workload())
        self.env.process(self._sampler())

    def run(self) -> None:
        self.start()
        self.env.run(until=self._stop)
