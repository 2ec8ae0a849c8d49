"""Delivery workers and the timer runner: the core process's own threads that drain its outbox.

Per destination, ``delivery.workers_per_system`` workers claim the core's next due message, send it over
a link, hand the reply back to the core (which may answer with a follow-up request, sent at once) and
claim again; a worker with nothing it may claim parks in its destination's lane (sim/delivery.py). One
timer runner fires the core's internal timers (backorder expiry, watchdogs, the batch feed) when due.

Rules kept:

* The workers belong to one core process (its epoch): a crash stops them — parked ones are never woken,
  a busy one drops the reply it was waiting for — and a restart starts a new pool.
* A crash at a crash point inside ``claim``, ``on_reply`` or ``run_timers`` is the process's death: the
  worker reports it and ends; a reply the core died judging counts for nothing.
* A collection (several messages in one request, core/service/dispatch.py) is recorded per message: one
  trace record, one claim and one reply in the retry audit (its record's) and one correlation check each.
* What the run judges is recorded here: every reply in the trace, the calls each destination answered
  (for the stall watch), each message's claims and failed sends (the retry-budget audit), the repairs a
  reply led to (event accounting) and requests without their message's correlation id.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol

import simpy

from retailsim.core.adapters.http import OutboundRequest
from retailsim.core.service import INTERNAL, IntegrationCore
from retailsim.core.stores.base import OutboxMessage
from retailsim.sim.accounting import EventLedger
from retailsim.sim.delivery import Lane
from retailsim.sim.faults import CoreCrashed
from retailsim.sim.links import Links
from retailsim.sim.monitors import Counts, TraceDigest
from retailsim.sim.retry_budget import RetryBudgetAudit
from retailsim.systems.base import MockSystem

DISPATCH_POLL_S = 0.05  # a worker that could not claim due work looks again no sooner than this
TIMER_POLL_S = 0.001


class RunningCore(Protocol):
    """The core process the workers serve: its core, its epoch (a crash starts a new one), its death."""

    @property
    def core(self) -> IntegrationCore: ...

    @property
    def epoch(self) -> int: ...

    def died(self, crash: CoreCrashed) -> None: ...


@dataclass(eq=False, kw_only=True)
class DeliveryWorkers:
    """The outbox's delivery workers, one pool per core process, and the lanes they park in."""

    env: simpy.Environment
    systems: Mapping[str, MockSystem]  # the destinations, by name
    timeouts: Mapping[str, float]  # the core's timeout per destination
    links: Links
    workers_per_system: int
    trace: TraceDigest
    counts: Counts
    event_ledger: EventLedger
    retry_audit: RetryBudgetAudit
    # Calls each destination answered (not 5xx, not 429, not lost): progress, for the stall watch.
    answered: dict[str, int] = field(init=False)
    _lanes: dict[str, Lane] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.answered = dict.fromkeys(self.systems, 0)

    def start(self, process: RunningCore) -> None:
        """The process's delivery workers (``workers_per_system`` per destination) and its timer runner."""
        core, epoch = process.core, process.epoch
        self._lanes = {}
        for destination in self.systems:
            lane = Lane(self.env, partial(core.next_due_at, destination), DISPATCH_POLL_S)
            self._lanes[destination] = lane
            for _ in range(self.workers_per_system):
                self.env.process(self._deliver(process, core, epoch, destination, lane))
        timers = self._lanes[INTERNAL] = Lane(self.env, partial(core.next_due_at, INTERNAL), TIMER_POLL_S)
        self.env.process(self._run_timers(process, core, epoch, timers))

    def stop(self) -> None:
        """The process died: its workers die with it (parked ones are never woken again)."""
        self._lanes = {}

    def wake(self, destination: str) -> None:
        """Wake a parked worker of ``destination`` (the core appended work for it)."""
        lane = self._lanes.get(destination)
        if lane is not None:
            lane.nudge()

    def wake_all(self) -> None:
        """Wake a parked worker of every destination, and the timer runner."""
        for name in list(self._lanes):
            self.wake(name)

    def _deliver(
        self, process: RunningCore, core: IntegrationCore, epoch: int, destination: str, lane: Lane
    ) -> Generator[simpy.Event, Any, None]:
        """One delivery worker: claim the next due message, send it (and its follow-ups), and again;
        park in the lane when nothing may be claimed."""
        system = self.systems[destination]
        timeout_s = self.timeouts[destination]
        just_delivered = False
        while process.epoch == epoch:
            if just_delivered and core.nothing_to_claim(destination, self.env.now):
                # The common case after a delivery: park at once rather than make a claim that finds nothing.
                just_delivered = False
                yield lane.park()
                continue
            try:
                delivery = core.claim(destination, self.env.now)
            except CoreCrashed as crash:
                process.died(crash)
                return
            if delivery is None:
                just_delivered = False
                yield lane.park()
                continue
            just_delivered = True
            lane.nudge()  # more may be due: a parked worker takes it rather than wait for this one
            messages = delivery.messages
            for message in messages:
                self.retry_audit.claimed(message)
            request: OutboundRequest | None = delivery.request
            while request is not None:
                self.counts.deliveries += len(messages)
                self._check_correlation(request, messages)
                reply = yield from self.links.call(system, request, timeout_s)
                at = f"{self.env.now:.6f}"
                for message in messages:  # one record per message, a collection's too
                    self.trace.record(at, "reply", destination, message.kind, message.aggregate_id, reply.status)
                if process.epoch != epoch:
                    return  # the core process that sent this died; its reply goes nowhere
                if reply.status is not None and reply.status < 500 and reply.status != 429:
                    self.answered[destination] += 1
                repairs = core.counters.get("reconciliation_repairs", 0)
                try:
                    request = core.on_reply(delivery, reply, self.env.now)
                except CoreCrashed as crash:
                    process.died(crash)
                    return  # a reply the core died judging counts for nothing (no retry audit, no repair)
                # Each message's own reply: its record's in a collection (a record refused in a 200 is a
                # failure of that message, not of its system's).
                for message, answer in zip(messages, delivery.replies or [reply] * len(messages), strict=True):
                    self.retry_audit.observe(epoch, message, answer)
                if core.counters.get("reconciliation_repairs", 0) > repairs:
                    self.event_ledger.repaired(self.env.now, destination, delivery.message.aggregate_id)

    def _check_correlation(self, request: OutboundRequest, messages: tuple[OutboxMessage, ...]) -> None:
        """Every message's correlation id rides on its request: a collection's header lists them, in the
        records' order; a message whose id is not in its place is missing it."""
        sent = request.headers.get("X-Correlation-ID")
        if len(messages) == 1:  # a single message's id is the whole header
            if sent != messages[0].correlation_id:
                self.counts.missing_correlation.append(f"{messages[0].kind} for {messages[0].aggregate_id}")
            return
        carried = sent.split(",") if sent is not None else []
        for index, message in enumerate(messages):
            if index >= len(carried) or carried[index] != message.correlation_id:
                self.counts.missing_correlation.append(f"{message.kind} for {message.aggregate_id}")

    def _run_timers(
        self, process: RunningCore, core: IntegrationCore, epoch: int, lane: Lane
    ) -> Generator[simpy.Event, Any, None]:
        """The core's internal timers (backorder expiry, watchdogs, the batch feed), fired when due."""
        while process.epoch == epoch:
            try:
                core.run_timers(self.env.now)
            except CoreCrashed as crash:
                process.died(crash)
                return
            yield lane.park()
