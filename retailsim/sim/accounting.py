"""Event accounting: every event a source sent, each copy delivered, and what the core answered to it.

The harness knows what the core cannot: which deliveries are copies of one event (a duplicate fault
delivers the same event several times), which copy arrived first, which events a fault dropped, and
when the core's reconciliation repaired an order. The ``events_accounted`` invariant (sim/invariants.py)
judges these records. Rules kept: plain data; an event is keyed by (source, event id), never by the id
alone — ids of different systems may collide, as real ones do; records are appended in simulated-time
order, so judging them needs no sort by wall clock or set iteration.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

#: What a 2xx webhook reply's ``status`` may say: the event was applied (``processed``), was a copy of
#: one applied before (``duplicate``), or was older than what the core holds (``stale``) or moved
#: nothing (``ignored``) — each with a ``reason``.
APPLIED = ("processed", "stale", "ignored")
OUTCOMES = (*APPLIED, "duplicate")
_KNOWN_OUTCOMES = {outcome: outcome for outcome in OUTCOMES}


@dataclass(slots=True)
class Attempt:
    """One delivery attempt of one copy of an event."""

    at: float
    copy: int
    status: int | None  # the HTTP status; None when no answer came back
    reached: bool  # the call reached a running core (an unanswered one may have committed)
    outcome: str  # the reply's ``status`` (2xx) or ``error`` (4xx/5xx); "" when none
    # Whether the reply said why (a ``reason`` or ``detail``): the invariant asks only that it did, so
    # the text itself — unique per reply ("order 00000013 allocated -> shipped") — is not kept.
    reasoned: bool

    @property
    def acknowledged(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass(slots=True)
class SentEvent:
    """An event as its source sent it, and every attempt to deliver each of its copies."""

    source: str
    event_id: str
    topic: str
    reference: str  # the order (or return) it is about, as the source names it
    sent_at: float
    copies: int  # deliveries the faults made of it; 0 = dropped
    # Its attempts (``attempts``), kept as the one attempt most events have — a tuple of one cost 64 bytes
    # an event — or as a tuple of several (grown per attempt: half a list with room for four).
    kept_attempts: Attempt | Sequence[Attempt] = ()

    @property
    def attempts(self) -> Sequence[Attempt]:
        """Every attempt to deliver a copy of it, in order."""
        kept = self.kept_attempts
        return (kept,) if isinstance(kept, Attempt) else kept

    @attempts.setter
    def attempts(self, attempts: Sequence[Attempt]) -> None:
        self.kept_attempts = attempts[0] if len(attempts) == 1 else tuple(attempts)

    def applied_by(self, at: float) -> bool:
        """Whether the core had applied it (any acknowledged non-duplicate reply) by ``at``."""
        return any(a.acknowledged and a.outcome in APPLIED and a.at <= at for a in self.attempts)


@dataclass(frozen=True, slots=True)
class Repair:
    """The core's reconciliation changed an order's state from what ``source``'s API said."""

    at: float
    source: str
    reference: str


class EventLedger:
    """What the world records while it runs; gathered into the evidence at the end.

    Kept compact: the events in the order they were first sent (``sent_events``), found by source and
    id through one dict of ids per source — not a (source, id) tuple per event. ``events`` gives the
    keyed view the ledger used to keep, built when asked (tests and tools; the run's readers take
    ``sent_events``, which is in the same order).
    """

    __slots__ = ("_by_source", "repairs", "sent_events")

    def __init__(self) -> None:
        self.sent_events: list[SentEvent] = []
        self.repairs: list[Repair] = []
        self._by_source: dict[str, dict[str, SentEvent]] = {}

    def event(self, source: str, event_id: str) -> SentEvent | None:
        known = self._by_source.get(source)
        return None if known is None else known.get(event_id)

    @property
    def events(self) -> dict[tuple[str, str], SentEvent]:
        return {(event.source, event.event_id): event for event in self.sent_events}

    def sent(self, source: str, event_id: str, topic: str, reference: str, at: float, copies: int) -> None:
        known = self._by_source.get(source)
        if known is None:
            known = self._by_source[source] = {}
        event = known.get(event_id)
        if event is not None:  # the source sent the same event again (its own retry): more copies
            event.copies += copies
            return
        event = known[event_id] = SentEvent(source, event_id, topic, reference, at, copies)
        self.sent_events.append(event)

    def attempt(
        self, source: str, event_id: str, copy: int, at: float, status: int | None, body: Any, reached: bool
    ) -> None:
        event = self.event(source, event_id)
        if event is None:
            return
        outcome, reasoned = "", False
        if isinstance(body, dict):
            outcome = str(body.get("status") or body.get("error") or "")
            outcome = _KNOWN_OUTCOMES.get(outcome, outcome)  # one string per outcome, not one per reply
            reasoned = bool(body.get("reason") or body.get("detail"))
        event.attempts = (*event.attempts, Attempt(at, copy, status, reached, outcome, reasoned))

    def repaired(self, at: float, source: str, reference: str) -> None:
        self.repairs.append(Repair(at, source, reference))


def per_source(events: list[SentEvent]) -> dict[str, dict[str, int]]:
    """Events accounted per source: sent, applied, duplicates, stale, ignored, dropped, refused."""
    table: dict[str, dict[str, int]] = {}
    for event in events:
        row = table.setdefault(
            event.source,
            {
                "sent": 0,
                "delivered": 0,
                "applied": 0,
                "duplicates": 0,
                "stale": 0,
                "ignored": 0,
                "dropped": 0,
                "refused": 0,
            },
        )
        row["sent"] += 1
        row["delivered"] += event.copies
        if event.copies == 0:
            row["dropped"] += 1
        acknowledged = [a for a in event.attempts if a.acknowledged]
        if event.copies and not acknowledged:
            row["refused"] += 1
        for attempt in acknowledged:
            if attempt.outcome == "processed":
                row["applied"] += 1
            elif attempt.outcome == "duplicate":
                row["duplicates"] += 1
            elif attempt.outcome in ("stale", "ignored"):
                row[attempt.outcome] += 1
    return dict(sorted(table.items()))
