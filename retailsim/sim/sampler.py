"""The sampler: once a simulated minute it samples the world's levels and decides whether the run is over.

Levels sampled: the orders waiting for the ERP, the outbox backlog, the ERP's queue, webhooks in flight,
the dead-letter queue, and per destination its outbox backlog and how long its oldest due message has
waited (messages scheduled for later — captures, backoffs, watchdogs — are work, not delay). The run
ends at the first of:

* **quiescence** — the workload has ended, every accepted order and return is settled, the service desk
  is idle, the outbox is empty and no webhook is still being sent;
* **a stall** — no destination made progress (an answered call, a backlog that shrank) for
  ``expect.stall_after`` while some destination had due work, outside faults and crashes that excuse it
  (``stalled`` says why);
* **a dead end** — nothing but the sampler is scheduled: what is still open stays open;
* the scenario's **hard stop**.

Rules kept: the sampler only reads (the store's due times, the breakers' and buckets' fields), so it
cannot change the trace digest except by the run's end it records; live mode serves on regardless of
stalls (``watch_stalls`` off).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

import simpy

from retailsim.core.service import INTERNAL
from retailsim.core.stores.base import Store
from retailsim.scenarios.schema import Scenario
from retailsim.sim.checkout import Checkout
from retailsim.sim.core_process import CoreProcess
from retailsim.sim.customer_returns import CustomerReturns
from retailsim.sim.monitors import SAMPLE_S, LevelSampler, TraceDigest
from retailsim.sim.service_desk import ServiceDesk
from retailsim.sim.webhooks import WebhookDispatch
from retailsim.sim.workers import DeliveryWorkers
from retailsim.systems.erp_base import ErpSystem

# Faults during which a destination is expected to make no progress: the stall watch waits them out.
STALL_EXCUSED = frozenset({"outage", "error_rate", "rate_limit", "core_crash", "persistent_error"})


@dataclass(eq=False, kw_only=True)
class Sampler:
    """The world's levels per sample, the stall watch, and the event that ends the run."""

    env: simpy.Environment
    scenario: Scenario
    store: Store
    destinations: list[str]
    erp: ErpSystem
    process: CoreProcess
    workers: DeliveryWorkers
    checkout: Checkout
    returns: CustomerReturns
    webhooks: WebhookDispatch
    desk: ServiceDesk | None
    trace: TraceDigest
    levels: LevelSampler = field(init=False, default_factory=LevelSampler)
    on_sample: Callable[[float], None] | None = field(init=False, default=None)
    # Per destination and sample: its outbox backlog, and how long its oldest due message had been
    # waiting (0: none due).
    destination_backlog: dict[str, list[int]] = field(init=False)
    destination_lag: dict[str, list[float]] = field(init=False)
    watch_stalls: bool = field(init=False, default=False)  # a run with its own workload; not live mode
    stop: simpy.Event = field(init=False)
    quiescent_at: float | None = field(init=False, default=None)
    stalled: dict[str, Any] | None = field(init=False, default=None)
    dead_end_at: float | None = field(init=False, default=None)  # the run stopped with nothing scheduled
    _answered_seen: dict[str, int] = field(init=False)
    _backlog_seen: dict[str, int] = field(init=False)
    _progress_at: float = field(init=False, default=0.0)

    def __post_init__(self) -> None:
        self.destination_backlog = {name: [] for name in self.destinations}
        self.destination_lag = {name: [] for name in self.destinations}
        self._answered_seen = dict.fromkeys(self.destinations, 0)
        self._backlog_seen = dict.fromkeys(self.destinations, 0)
        self.stop = self.env.event()

    def outbox_backlog(self) -> int:
        """Messages in the outbox for the systems (the core's own timers not counted)."""
        return self.store.backlog() - self.store.backlog(INTERNAL)

    def run(self) -> Generator[simpy.Event, Any, None]:
        """Sample every ``SAMPLE_S`` until the run is over, then fire ``stop``."""
        hard_stop = self.scenario.expect.hard_stop
        while True:
            yield self.env.timeout(SAMPLE_S)
            now = self.env.now
            erp_backlog = self.checkout.erp_backlog()
            outbox = self.outbox_backlog()
            self.levels.sample("erp_backlog", erp_backlog)
            self.levels.sample("outbox_backlog", outbox)
            self.levels.sample("erp_queue", self.erp.queue_length() + self.erp.in_service())
            self.levels.sample("webhooks_in_flight", self.webhooks.in_flight)
            self.levels.sample(
                "dlq",
                sum(1 for d in self.store.dead_letters() if d.status == "dead")
                if self.process.any_dead_lettered()
                else 0,
            )
            # Each destination's oldest due time, read once per sample: its lag here, the stall watch below.
            due_at: dict[str, float | None] = {}
            for name, series in self.destination_backlog.items():
                series.append(self.store.backlog(name))
                due = due_at[name] = self.store.next_due_at(name)
                self.destination_lag[name].append(max(0.0, now - due) if due is not None else 0.0)
            if self.on_sample is not None:
                self.on_sample(now)
            if self.checkout.workload_done and self._settled() and outbox == 0 and self.webhooks.in_flight == 0:
                self.quiescent_at = now
                self.stop.succeed()
                return
            if (self.watch_stalls and self._watch_for_stall(now, due_at)) or now >= hard_stop:
                self.stop.succeed()
                return
            if self.watch_stalls and self.checkout.workload_done and self.env.peek() == math.inf:
                # Nothing but this sampler is scheduled: no timer, no worker, no webhook, no system will
                # ever act again, so what is still open stays open. Waiting for the hard stop would only
                # burn wall time (an order whose commands were never written idles fourteen days).
                self.dead_end_at = now
                self.trace.record(f"{now:.6f}", "dead-end")
                self.stop.succeed()
                return

    def _settled(self) -> bool:
        """No order or return open, and the service desk has nothing left to do."""
        return (
            self.checkout.open_orders == 0
            and self.returns.open_returns == 0
            and (self.desk is None or self.desk.idle)
        )

    # ---- the stall watch --------------------------------------------------------------------------

    def _stall_excused(self, now: float) -> bool:
        return not self.process.up or any(
            f.start <= now < f.start + f.duration
            for f in self.scenario.faults
            if f.kind in STALL_EXCUSED and f.point is None
        )

    def _watch_for_stall(self, now: float, due_at: dict[str, float | None]) -> bool:
        """True when no destination made progress (an answered call, a backlog that shrank) for
        ``expect.stall_after`` while some destination had due work — messages whose time has come, not
        ones scheduled later (watchdogs, backoffs) — outside faults that excuse it. Records why.
        ``due_at``: each destination's oldest due time, as this sample read it."""
        answered = self.workers.answered
        backlog = {name: series[-1] for name, series in self.destination_backlog.items()}
        progressed = any(answered[n] != self._answered_seen[n] for n in answered) or any(
            backlog[n] < self._backlog_seen[n] for n in backlog
        )
        self._answered_seen = dict(answered)
        self._backlog_seen = backlog
        due = {}
        for name in self.destination_backlog:
            at = due_at[name]
            if at is not None and at <= now:
                due[name] = at
        if progressed or not due or self._stall_excused(now):
            self._progress_at = now
            return False
        if now - self._progress_at < self.scenario.expect.stall_after:
            return False
        core = self.process.core
        stuck = []
        for name, since in due.items():
            breaker = core.breakers.get(name)
            bucket = core.buckets.get(name)
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
