"""A unit of work: what one store transaction of the core collects, to announce once it has committed.

The core's observers (``on_append`` wakes a destination's delivery workers, ``on_status`` and
``on_return_status`` tell a status change) must hear only about what committed. A unit of work gathers
the destinations woken and the order and return transitions made inside one transaction; every room's
method that changes something takes it as its ``uow`` parameter. The caller merges it into what it
announces (``absorb``) only after that transaction committed, so a transaction that rolled back — a batch
of orders retried one by one, a webhook refused — announces nothing. It also carries a webhook's verdict
notes: each request has its own unit of work, so requests on several threads never mix what they noted
(only the counters' pending counts, ``IntegrationCore._counting``, are still per thread).

Rules kept: a unit of work belongs to one transaction attempt and one thread; the order of transitions is
the order they were made (announced in that order); destinations are announced sorted.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class UnitOfWork:
    """Destinations to wake, (order, status) and (return, status) transitions made in one transaction, and
    the notes on what a webhook applied in it turned out to be (its reply's verdict, webhooks.py)."""

    woken: set[str] = field(default_factory=set)
    transitions: list[tuple[str, str]] = field(default_factory=list)
    return_transitions: list[tuple[str, str]] = field(default_factory=list)
    notes: list[tuple[str, str]] = field(default_factory=list)

    def note(self, status: str, reason: str) -> None:
        """What applying a webhook turned out to be: ``processed``, ``stale`` or ``ignored``, and why."""
        self.notes.append((status, reason))

    def absorb(self, committed: UnitOfWork) -> None:
        """Take in what a committed transaction collected."""
        self.woken |= committed.woken
        self.transitions.extend(committed.transitions)
        self.return_transitions.extend(committed.return_transitions)
        self.notes.extend(committed.notes)
