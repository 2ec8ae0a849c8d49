"""The fault plan: typed fault windows, scheduled into a world, generated at random for fuzzing.

A plan is a list of :class:`~retailsim.scenarios.schema.FaultSpec` — from a scenario's ``[[faults]]``,
built in code, or drawn by :func:`random_plan` / the hypothesis strategy :func:`fault_plans`. Kinds:

=====================  ========================  =================================================================
kind                   target                    effect while active
=====================  ========================  =================================================================
``outage``             a system                  refuses every call with 503 in its own error shape
``brownout``           a system                  latency × ``factor`` (the core's timeouts then fire)
``error_rate``         a system                  500 with probability ``probability``
``rate_limit``         a system                  limit lowered to ``limit``/s: 429 + Retry-After, or Salesforce's
                                                 403 ``REQUEST_LIMIT_EXCEEDED``
``lost_response``      a system                  commits, then the reply is lost with probability ``probability``
``poison``             a system                  rejects writes as malformed (400) with ``probability``; an
                                                 operator repairs and replays the dead letters ``window`` after
``persistent_error``   a system                  cannot process a share ``probability`` of the entities (orders,
                                                 returns — chosen once per fault by a stable hash of the entity
                                                 and a salt from the ``faults`` stream): every call about one of
                                                 them answers a retriable 500 in the product's error shape, or,
                                                 for ``timeout_share`` of them, never answers (nothing
                                                 committed); other entities go through, so the breaker stays
                                                 closed and the hit messages exhaust their attempts and
                                                 dead-letter. An operator replays the dead letters ``window``
                                                 after the fault ends
``duplicate_delivery`` a webhook source          each event delivered 1..``copies`` times within ``window``
``reorder``            a webhook source          each event delayed uniformly within ``window`` (reordering them)
``drop``               a webhook source          an event is never delivered with ``probability``
``core_crash``         ``core``                  the core process dies (memory and in-flight work lost, the store
                                                 kept) and restarts after ``duration``. Without ``point``: at
                                                 ``start``, between two events. With ``point`` it is armed at
                                                 ``start`` and dies *inside* the core, at a crash point
                                                 (core/crash_points.py; ``retailsim crash-points``): a named one
                                                 (the first hit dies, each hit with ``probability``),
                                                 ``"random"`` (drawn when armed, among the points the core has
                                                 passed so far) or ``"any"`` (every point, each hit with
                                                 ``probability``). One fault, one death.
=====================  ========================  =================================================================

A death at a crash point loses exactly what a process death loses: the open transaction (the store rolls
it back), the core's memory (breakers, buckets, claims, counters) and the reply — the caller sees no
answer and retries as it would on a dropped connection; what committed stays.

Rules kept: every draw comes from the run's ``faults`` stream (the per-hit draws of crash points from
their own ``crash_points`` stream, so that how often the core passes a point shifts no other fault);
windows are recorded for the report. The schedule knows no world: it switches the systems' fault
switches and the core's life through :class:`FaultTargets`, a narrow protocol.
"""

from __future__ import annotations

import random
from collections.abc import Generator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import simpy

from retailsim.core.crash_points import CRASH_POINTS, DESCRIPTIONS
from retailsim.scenarios.schema import FAULT_KINDS, FaultSpec
from retailsim.sim.monitors import TraceDigest
from retailsim.sim.seeds import load_every_module
from retailsim.systems.base import MockSystem, PersistentError

SYSTEM_FAULTS = (
    "outage",
    "brownout",
    "error_rate",
    "rate_limit",
    "lost_response",
    "poison",
    "persistent_error",
)
WEBHOOK_FAULTS = ("duplicate_delivery", "reorder", "drop")
# What the fuzzer draws from: every kind but poison, whose repair is an operator's replay, not the core's
# (persistent_error is drawn although its dead letters come home by that replay too: it is the one fault
# under which retries reach their cap, and the core must bury the message then, not retry it forever);
# a core crash three times as often as any other kind: most of them strike at crash points, inside the
# core, where one death tests one of dozens of boundaries.
RANDOM_KINDS = (*(kind for kind in FAULT_KINDS if kind != "poison"), "core_crash", "core_crash")
# Crash points no simulated process can die at, and why; a "random" point is drawn from the others.
UNREACHABLE_IN_SIM = {
    "inventory_load.before_commit": "the world loads the stock snapshot before any fault is armed",
    "inventory_load.after_commit": "the world loads the stock snapshot before any fault is armed",
    "order_record.read": "no simulated caller reads order records (the operations API does)",
    "return_record.read": "no simulated caller reads return records (the operations API does)",
}
STRIKABLE_POINTS = tuple(point for point in CRASH_POINTS if point not in UNREACHABLE_IN_SIM)


class CoreCrashed(BaseException):
    """The core process died at a crash point, in the middle of a call into it.

    A ``BaseException``, not an ``Exception``: the core's own ``except Exception`` (a batch of orders
    retried one by one, an error answered as a reply) must not catch a process death.
    """

    def __init__(self, point: str, downtime_s: float) -> None:
        super().__init__(point)
        self.point = point
        self.downtime_s = downtime_s


class UnknownCrashPoint(BaseException):
    """The core passed a crash point that is not in the catalogue (core/crash_points.py): a bug."""


class FaultTargets(Protocol):
    """What a fault plan acts on: the mock systems (their fault switches), the core process (it dies and
    restarts) and the operator who replays dead letters after a repair."""

    @property
    def systems(self) -> Mapping[str, MockSystem]: ...

    def crash_core(self) -> None: ...

    def restart_core(self) -> None: ...

    def operator_replay_dead_letters(self) -> None: ...


@dataclass(eq=False, kw_only=True)
class FaultSchedule:
    """Switches a plan's faults on and off, and answers what is active for webhooks and crash points."""

    env: simpy.Environment
    targets: FaultTargets
    plan: list[FaultSpec]
    rng: random.Random  # the run's "faults" stream
    point_rng: random.Random  # its "crash_points" stream: how often a point is passed shifts no other draw
    trace: TraceDigest
    dropped: int = field(init=False, default=0)
    duplicated: int = field(init=False, default=0)
    # Crash points: how often the core passed each point, and the faults armed at one (or at "any").
    reached: dict[str, int] = field(init=False, default_factory=dict)
    _armed: list[tuple[FaultSpec, str]] = field(init=False, default_factory=list)
    _active_webhook: dict[str, list[FaultSpec]] = field(init=False, default_factory=dict)
    _persistent: dict[int, PersistentError] = field(init=False, default_factory=dict)  # by id(fault)

    def start(self) -> None:
        for fault in self.plan:
            self.env.process(self._window(fault))

    def _window(self, fault: FaultSpec) -> Generator[simpy.Event, Any, None]:
        env = self.env
        if fault.start > env.now:
            yield env.timeout(fault.start - env.now)
        if fault.kind == "core_crash" and fault.point is not None:
            self._arm(fault)  # the core process dies and restarts when the point is hit
            return
        self.trace.record(f"{env.now:.6f}", "fault-on", fault.kind, fault.target)
        self._switch(fault, on=True)
        yield env.timeout(fault.duration)
        self._switch(fault, on=False)
        self.trace.record(f"{env.now:.6f}", "fault-off", fault.kind, fault.target)
        if fault.kind in ("poison", "persistent_error"):
            yield env.timeout(fault.window)
            self.targets.operator_replay_dead_letters()

    def _switch(self, fault: FaultSpec, *, on: bool) -> None:
        targets = self.targets
        if fault.kind == "core_crash":
            if on:
                targets.crash_core()
            else:
                targets.restart_core()
            return
        if fault.kind in WEBHOOK_FAULTS:
            active = self._active_webhook.setdefault(fault.target, [])
            if on:
                active.append(fault)
            else:
                active.remove(fault)
            return
        switches = targets.systems[fault.target].faults
        if fault.kind == "outage":
            switches.outage = on
        elif fault.kind == "brownout":
            switches.latency_factor = fault.factor if on else 1.0
        elif fault.kind == "error_rate":
            switches.error_rate = fault.probability if on else 0.0
        elif fault.kind == "rate_limit":
            switches.rate_limit_per_s = fault.limit if on else None
        elif fault.kind == "lost_response":
            switches.lost_reply_rate = fault.probability if on else 0.0
        elif fault.kind == "poison":
            switches.poison_rate = fault.probability if on else 0.0
        elif fault.kind == "persistent_error":
            if on:
                hit = PersistentError(fault.probability, self.rng.getrandbits(64), fault.timeout_share)
                switches.persistent_error = self._persistent[id(fault)] = hit
            elif switches.persistent_error is self._persistent.pop(id(fault), None):
                switches.persistent_error = None  # a later overlapping one keeps its own entities

    def _arm(self, fault: FaultSpec) -> None:
        point = fault.point or "any"
        if point == "random":
            # One the core has passed in this run so far (so that it is likely passed again), else any
            # that a simulation can strike.
            passed = [p for p in STRIKABLE_POINTS if p in self.reached] or list(STRIKABLE_POINTS)
            point = passed[self.rng.randrange(len(passed))]
        self._armed.append((fault, point))
        self.trace.record(f"{self.env.now:.6f}", "crash-armed", point)

    def at_crash_point(self, point: str) -> FaultSpec | None:
        """The core passes ``point``: the armed fault that strikes here (now disarmed), or None."""
        if point not in DESCRIPTIONS:
            raise UnknownCrashPoint(f"the core passed {point!r}, which core/crash_points.py does not name")
        self.reached[point] = self.reached.get(point, 0) + 1
        for index, (fault, target) in enumerate(self._armed):
            if target not in (point, "any"):
                continue
            if fault.probability < 1.0 and self.point_rng.random() >= fault.probability:
                continue
            del self._armed[index]
            return fault
        return None

    def webhook_deliveries(self, source: str) -> list[float]:
        """Delays of each copy of one webhook event under the active faults ([] = dropped)."""
        delays = [0.0]
        for fault in self._active_webhook.get(source, []):
            if fault.kind == "drop" and self.rng.random() < fault.probability:
                self.dropped += 1
                return []
            if fault.kind == "duplicate_delivery" and self.rng.random() < fault.probability:
                copies = self.rng.randint(1, fault.copies)
                self.duplicated += copies - 1
                delays = [self.rng.uniform(0.0, fault.window) for _ in range(copies)]
            if fault.kind == "reorder":
                delays = [d + self.rng.uniform(0.0, fault.window) for d in delays]
        return delays


# ---- generated plans (fuzzing) --------------------------------------------------------------------


def random_fault(rng: random.Random, horizon_s: float) -> FaultSpec:
    kind = rng.choice(RANDOM_KINDS)
    if kind in WEBHOOK_FAULTS:
        target = rng.choice(("wms", "carrier"))
    elif kind == "core_crash":
        target = "core"
    else:
        target = rng.choice(("payment", "erp", "wms", "storefront", "service_cloud"))
    start = round(rng.uniform(0.0, horizon_s), 1)
    if kind in WEBHOOK_FAULTS:
        # Webhooks keep coming for days after the orders (carriers): let these faults cover them.
        duration = round(rng.uniform(1800.0, horizon_s + 3 * 86400.0), 1)
        window = round(rng.uniform(60.0, 6 * 3600.0), 1)
    elif kind == "persistent_error":
        # Longer than the retry budget (12 attempts, up to 5 min apart: about 10 min), so that it bites.
        duration = round(rng.uniform(1200.0, 3 * 3600.0), 1)
        window = round(rng.uniform(10.0, 1800.0), 1)
    else:
        duration = round(rng.uniform(30.0, 1800.0 if kind != "core_crash" else 300.0), 1)
        window = round(rng.uniform(10.0, 600.0), 1)
    fault = FaultSpec(
        kind=kind,
        target=target,
        start=start,
        duration=duration,
        probability=round(rng.uniform(0.05, 0.5), 3),
        factor=round(rng.uniform(2.0, 20.0), 2),
        copies=rng.randint(2, 4),
        window=window,
        limit=round(rng.uniform(0.5, 5.0), 2),
        timeout_share=round(rng.uniform(0.0, 0.5), 3) if kind == "persistent_error" else 0.0,
    )
    if kind == "core_crash":  # drawn last, so that the draws of every other kind stay as they were
        fault = fault.model_copy(update={"point": random_crash_point(rng)})
    return fault


def random_crash_point(rng: random.Random) -> str | None:
    """Where a fuzzed core_crash strikes: between events (15%), at a named point (15%; named in the plan,
    so that a saved failure replays at the same point), or at any point (the rest: a death at whatever
    the core does next finds the most, where a named point may never be passed in a run)."""
    draw = rng.random()
    if draw < 0.15:
        return None
    if draw < 0.3:
        return STRIKABLE_POINTS[rng.randrange(len(STRIKABLE_POINTS))]
    return "any"


def random_plan(rng: random.Random, horizon_s: float, max_faults: int = 4) -> list[FaultSpec]:
    return sorted(
        (random_fault(rng, horizon_s) for _ in range(rng.randint(1, max_faults))),
        key=lambda f: (f.start, f.kind),
    )


def fault_plans(horizon_s: float, max_faults: int = 4) -> Any:
    """A hypothesis strategy of fault plans; shrinking goes toward fewer, shorter, earlier faults. The
    same hypothesis seed draws the same plans whatever else the process imported (see
    :func:`~retailsim.sim.seeds.load_every_module`)."""
    from hypothesis import strategies as st

    load_every_module()

    system_fault = st.builds(
        FaultSpec,
        kind=st.sampled_from(("outage", "brownout", "error_rate", "rate_limit", "lost_response")),
        target=st.sampled_from(("payment", "erp", "wms", "service_cloud")),
        start=st.floats(0.0, horizon_s),
        duration=st.floats(30.0, 1800.0),
        probability=st.floats(0.05, 0.5),
        factor=st.floats(2.0, 20.0),
        limit=st.floats(0.5, 5.0),
    )
    webhook_fault = st.builds(
        FaultSpec,
        kind=st.sampled_from(WEBHOOK_FAULTS),
        target=st.sampled_from(("wms", "carrier")),
        start=st.floats(0.0, horizon_s),
        duration=st.floats(1800.0, horizon_s + 3 * 86400.0),
        probability=st.floats(0.05, 0.5),
        copies=st.integers(2, 4),
        window=st.floats(60.0, 6 * 3600.0),
    )
    persistent_error = st.builds(
        FaultSpec,
        kind=st.just("persistent_error"),
        target=st.sampled_from(("payment", "erp", "wms", "service_cloud")),
        start=st.floats(0.0, horizon_s),
        duration=st.floats(1200.0, 3 * 3600.0),
        probability=st.floats(0.05, 0.5),
        timeout_share=st.floats(0.0, 0.5),
        window=st.floats(10.0, 1800.0),
    )
    crash = st.builds(
        FaultSpec,
        kind=st.just("core_crash"),
        target=st.just("core"),
        start=st.floats(0.0, horizon_s),
        duration=st.floats(5.0, 300.0),
        probability=st.floats(0.05, 1.0),
        point=st.one_of(st.none(), st.just("any"), st.sampled_from(STRIKABLE_POINTS)),
    )
    return st.lists(
        st.one_of(system_fault, webhook_fault, crash, persistent_error), min_size=1, max_size=max_faults
    )


def plan_to_toml(plan: list[FaultSpec]) -> str:
    """The plan as ``[[faults]]`` tables, so a failing fuzz case can be saved and replayed."""
    lines = []
    for fault in plan:
        lines.append("[[faults]]")
        for key, value in fault.model_dump(exclude_none=True).items():
            lines.append(f"{key} = {value!r}" if not isinstance(value, str) else f'{key} = "{value}"')
        lines.append("")
    return "\n".join(lines)
