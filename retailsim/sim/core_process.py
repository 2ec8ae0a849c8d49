"""The core process: the real integration core run as the process it is in production — it can die.

A death (a ``core_crash`` fault, or a crash at a crash point inside a call into the core) drops the core
object, its memory (breakers, buckets, claims, counters) and its delivery workers; the store survives (it
models the disk). After the downtime a new process starts on the same store, takes back the dead one's
leases (``recover``) and starts new workers. Everything else in the world reaches the core through here.

Rules kept:

* Every call into the core goes through :meth:`CoreProcess.ask` (or a worker that reports a death to
  :meth:`CoreProcess.died`): a crash at a crash point (``CoreCrashed``) is taken as no reply, and the
  caller retries as it would on a dropped connection.
* Each process draws from its own stream (``core/<epoch>``); a death and a restart go into the trace.
* Counters survive deaths only as the harness's sum (``counters``): the core's own start from zero.
* The core is made by the world's ``_start_core`` (``boot``), which wires its observers; live mode
  overrides that one method.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

import simpy

from retailsim.core.service import CoreConfig, IntegrationCore
from retailsim.core.stores.base import Store
from retailsim.sim.faults import CoreCrashed, FaultSchedule
from retailsim.sim.monitors import SAMPLE_S, TraceDigest
from retailsim.sim.seeds import Streams
from retailsim.sim.workers import DeliveryWorkers

CoreFactory = Callable[[Store, CoreConfig, Any], IntegrationCore]
T = TypeVar("T")


@dataclass(eq=False, kw_only=True)
class CoreProcess:
    """The running core (``core``, ``up``), its deaths and restarts, and the operator who replays its DLQ."""

    env: simpy.Environment
    store: Store
    config: CoreConfig
    factory: CoreFactory
    streams: Streams
    # Makes a core ready to run: the world's ``_start_core``, which calls ``spawn`` and wires observers.
    boot: Callable[[], IntegrationCore]
    workers: DeliveryWorkers
    crash_points: FaultSchedule | None  # asked at each crash point (None: no fault is armed at one)
    trace: TraceDigest
    core: IntegrationCore = field(init=False)  # the live process's core (a dead one's until the restart)
    up: bool = field(init=False, default=True)
    epoch: int = field(init=False, default=0)
    crashes: int = field(init=False, default=0)
    retired_counters: dict[str, int] = field(init=False, default_factory=dict)
    # Deaths at crash points: (point, when, restart due).
    crash_log: list[tuple[str, float, float]] = field(init=False, default_factory=list)

    def spawn(self) -> IntegrationCore:
        """A new core on the store, with this epoch's random stream (and the crash hook, when needed)."""
        core = self.factory(self.store, self.config, self.streams(f"core/{self.epoch}"))
        if self.crash_points is not None:
            core.crash_hook = partial(self._at_crash_point, self.epoch)
        return core

    def start(self) -> None:
        """The first process of the run (its workers start with the world)."""
        self.core = self.boot()

    # ---- calls into the core ----------------------------------------------------------------------

    def ask(self, call: Callable[[IntegrationCore], T]) -> T | None:
        """Call into the running core; None when it is down, or died at a crash point during the call
        (the caller got no reply either way)."""
        if not self.up:
            return None
        try:
            return call(self.core)
        except CoreCrashed as crash:
            self.died(crash)
            return None

    def counters(self) -> dict[str, int]:
        """The core's counters summed over every process of the run, by name."""
        merged = dict(self.retired_counters)
        for name, value in self.core.counters.items():
            merged[name] = merged.get(name, 0) + value
        return dict(sorted(merged.items()))

    def any_dead_lettered(self) -> bool:
        counters = self.core.counters
        return bool(self.retired_counters.get("dead_lettered") or counters.get("dead_lettered"))

    # ---- deaths and restarts ----------------------------------------------------------------------

    def crash(self) -> None:
        """The core process dies: memory, breakers and in-flight work are gone; the store is kept."""
        if not self.up:
            return
        for name, value in self.core.counters.items():
            self.retired_counters[name] = self.retired_counters.get(name, 0) + value
        self.up = False
        self.epoch += 1
        self.crashes += 1
        self.workers.stop()  # busy ones drop the reply they wait for

    def restart(self) -> None:
        """A new core process starts on the same store and takes back the dead one's leases."""
        if self.up:
            return
        self.core = self.boot()
        self.core.recover()
        self.up = True
        self.workers.start(self)

    def died(self, crash: CoreCrashed) -> None:
        """The core died at a crash point inside a call: drop the process, restart after the downtime."""
        now = self.env.now
        self.trace.record(f"{now:.6f}", "crash", crash.point)
        self.crash()
        self.crash_log.append((crash.point, now, now + crash.downtime_s))
        self.env.process(self._restart_after(self.epoch, crash.downtime_s))

    def _at_crash_point(self, epoch: int, point: str) -> None:
        """The core's crash hook: its process dies here when an armed ``core_crash`` fault strikes."""
        if epoch != self.epoch or self.crash_points is None:
            return  # a dead process's stray call (none is expected): it cannot kill the live one
        fault = self.crash_points.at_crash_point(point)
        if fault is not None:
            raise CoreCrashed(point, fault.duration)

    def _restart_after(self, epoch: int, downtime_s: float) -> Generator[simpy.Event, Any, None]:
        yield self.env.timeout(downtime_s)
        if self.epoch == epoch:  # not crashed again meanwhile (then that crash restarts it)
            self.trace.record(f"{self.env.now:.6f}", "restart")
            self.restart()

    def crash_points_hit(self) -> dict[str, int]:
        """Deaths at crash points, by point."""
        hit: dict[str, int] = {}
        for point, _, _ in self.crash_log:
            hit[point] = hit.get(point, 0) + 1
        return dict(sorted(hit.items()))

    # ---- the operator -----------------------------------------------------------------------------

    def replay_dead_letters(self) -> None:
        """An operator, having repaired the cause, replays every dead letter (once the core is up)."""
        self.env.process(self._operator_replay())

    def _operator_replay(self) -> Generator[simpy.Event, Any, None]:
        replayed, done = 0, False
        while not done:  # an operator whose replay got no answer (the core died) waits and replays again
            while not self.up:
                yield self.env.timeout(SAMPLE_S)
            try:
                for dead in self.store.dead_letters():
                    if dead.status == "dead" and self.core.replay_dead_letter(dead.dlq_id, self.env.now):
                        replayed += 1
                done = True
            except CoreCrashed as crash:
                self.died(crash)
        self.trace.record(f"{self.env.now:.6f}", "dlq-replay", replayed)
