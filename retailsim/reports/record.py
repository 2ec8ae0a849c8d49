"""The input of the reports package: a finished run, described as plain frozen data.

What it is for: ``sim/`` builds one :class:`RunRecord` from its monitors, ledgers and invariant results at
the end of a run, and everything else in ``reports/`` reads only this record.

Rules it keeps:
- plain data only: standard library, nothing of the project; no simulation is run or imported here;
- records are frozen; ``__post_init__`` checks the shape that the summary.json contract relies on, so a
  malformed record fails where it is built, not halfway through writing a report;
- every invariant of the catalogue is judged in every run: ``"held"`` (checked something, no violation),
  ``"violated"`` (fails the run) or ``"not_exercised"`` (nothing to check — reported, never a pass; it
  fails the run only when the scenario ``required`` it, i.e. listed it in ``expect.invariants``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final, Literal

InvariantStatus = Literal["held", "violated", "not_exercised"]

#: Keys that summary.json guarantees in each section (DESIGN.md, "Command line"). More keys are allowed.
ORDER_KEYS: Final = (
    "submitted",
    "accepted",
    "rejected",
    "posted_to_erp",
    "shipped",
    "delivered",
    "cancelled",
)
RETURN_KEYS: Final = ("requested", "received", "refunded")
DLQ_KEYS: Final = ("entered", "replayed", "remaining")
KPI_KEYS: Final = (
    "acceptance_latency_p50_s",
    "acceptance_latency_p99_s",
    "erp_post_latency_p99_s",
    "drain_time_s",
    "oversell_units",
)
#: Preferred order of the statistics inside a latency entry; others follow, sorted.
LATENCY_STAT_KEYS: Final = ("p50", "p90", "p99", "max", "count")
#: Throughput stages in funnel order; series with other names follow in the order given.
THROUGHPUT_STAGES: Final = ("submitted", "accepted", "posted_to_erp", "shipped", "delivered")


def _require_keys(section: str, given: Mapping[str, object], required: Iterable[str]) -> None:
    missing = [key for key in required if key not in given]
    if missing:
        raise ValueError(f"RunRecord.{section} lacks required key(s): {', '.join(missing)}")


@dataclass(frozen=True)
class InvariantResult:
    """The outcome of one named invariant: how many cases it checked and how many broke it.

    ``required``: the scenario lists it in ``expect.invariants``, so it must be exercised (checked > 0).
    """

    name: str
    checked: int
    violations: int
    examples: tuple[str, ...] = ()
    required: bool = True

    def __post_init__(self) -> None:
        if self.checked < 0 or self.violations < 0:
            raise ValueError(f"invariant {self.name!r}: checked and violations must be >= 0")

    @property
    def passed(self) -> bool:
        """True only when it held: something was checked and nothing was violated."""
        return self.checked > 0 and self.violations == 0

    @property
    def status(self) -> InvariantStatus:
        if self.violations > 0:
            return "violated"
        if self.checked == 0:
            return "not_exercised"
        return "held"

    @property
    def fails_run(self) -> bool:
        """Violated, or required but not exercised."""
        return self.violations > 0 or (self.required and self.checked == 0)


@dataclass(frozen=True)
class FaultWindow:
    """One injected fault, active on ``target`` from ``start_s`` to ``end_s`` (simulated seconds)."""

    kind: str
    target: str
    start_s: float
    end_s: float
    params: dict[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.end_s < self.start_s:
            raise ValueError(
                f"fault {self.kind} on {self.target}: end_s {self.end_s} < start_s {self.start_s}"
            )


@dataclass(frozen=True)
class Series:
    """A sampled time series: ``values[i]`` covers simulated time ``[i * bucket_s, (i + 1) * bucket_s)``."""

    name: str
    unit: str
    bucket_s: float
    values: tuple[float, ...]

    def __post_init__(self) -> None:
        if not (self.bucket_s > 0 and math.isfinite(self.bucket_s)):
            raise ValueError(f"series {self.name!r}: bucket_s must be a positive finite number")


#: How a message in a flow diagram is marked: as it was, sent again after no or a failed answer, a
#: copy of one already answered, never delivered, answered with an error, or given up (dead letter).
FlowMark = Literal["", "retry", "duplicate", "dropped", "no_reply", "error", "dead_letter"]
FLOW_MARKS: Final = ("", "retry", "duplicate", "dropped", "no_reply", "error", "dead_letter")


@dataclass(frozen=True)
class FlowMessage:
    """One arrow of a message-flow diagram: ``sender`` → ``receiver`` at simulated time ``at``.

    ``sender == receiver`` is a note on that system's lane (e.g. the core's order status moved)."""

    at: float
    sender: str
    receiver: str
    label: str
    mark: FlowMark = ""
    reply: bool = False

    def __post_init__(self) -> None:
        if self.mark not in FLOW_MARKS:
            raise ValueError(f"flow message {self.label!r}: unknown mark {self.mark!r}")


@dataclass(frozen=True)
class OrderFlow:
    """The messages about one order, in time order, and why the report shows it."""

    order: str
    reason: str
    messages: tuple[FlowMessage, ...]
    #: Messages about the order that were left out (the diagram shows the first ones only).
    omitted: int = 0


@dataclass(frozen=True)
class RunRecord:
    """Everything a report shows about one finished run. Built by sim/, read by reports/."""

    scenario: str
    description: str
    seed: int
    digest: str
    sim_time_s: float
    wall_time_s: float
    events: int
    orders: dict[str, int]
    returns: dict[str, int]
    dlq: dict[str, int]
    faults: tuple[FaultWindow, ...]
    invariants: tuple[InvariantResult, ...]
    kpis: dict[str, float | int | None]
    latency: dict[str, dict[str, float | None]]
    throughput: tuple[Series, ...]
    levels: tuple[Series, ...]
    replay: str
    settings: dict[str, object]
    extra: dict[str, object] = field(default_factory=dict)
    #: The part of the run worth zooming into (the trading window and its drain), in simulated seconds;
    #: time charts show 0..focus_s when set, since a run's tail (parcels in transit for days) flattens them.
    focus_s: float | None = None
    #: Per-order message flows read from the run's trace: the orders of invariant examples and a few
    #: sampled healthy ones (empty when the run kept no trace).
    flows: tuple[OrderFlow, ...] = ()

    def __post_init__(self) -> None:
        _require_keys("orders", self.orders, ORDER_KEYS)
        _require_keys("returns", self.returns, RETURN_KEYS)
        _require_keys("dlq", self.dlq, DLQ_KEYS)
        _require_keys("kpis", self.kpis, KPI_KEYS)
        names = [inv.name for inv in self.invariants]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"RunRecord.invariants repeats name(s): {', '.join(duplicates)}")

    @property
    def passed(self) -> bool:
        """True when there is at least one invariant, none was violated and every required one held."""
        return bool(self.invariants) and not any(inv.fails_run for inv in self.invariants)

    @property
    def failed_invariants(self) -> tuple[InvariantResult, ...]:
        return tuple(inv for inv in self.invariants if inv.status == "violated")

    @property
    def unchecked_invariants(self) -> tuple[InvariantResult, ...]:
        """Required invariants the run gave nothing to check: they fail the run."""
        return tuple(inv for inv in self.invariants if inv.required and inv.status == "not_exercised")

    @property
    def not_exercised_invariants(self) -> tuple[InvariantResult, ...]:
        """Invariants not required by the scenario that had nothing to check: reported, not a failure."""
        return tuple(inv for inv in self.invariants if not inv.required and inv.status == "not_exercised")
