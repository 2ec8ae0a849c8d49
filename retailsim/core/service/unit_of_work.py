"""A unit of work: what one store transaction of the core collects, to announce once it has committed.

The core's observers (``on_append`` wakes a destination's delivery workers, ``on_status`` tells a status
change) must hear only about what committed. A unit of work gathers the destinations woken and the order
transitions made inside one transaction; the caller merges it into what it announces (``absorb``) only
after that transaction committed, so a transaction that rolled back — a batch of orders retried one by one
— announces nothing.

Rules kept: a unit of work belongs to one transaction attempt and one thread; the order of transitions is
the order they were made (announced in that order); destinations are announced sorted.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class UnitOfWork:
    """Destinations to wake and (order, status) transitions made in one transaction."""

    woken: set[str] = field(default_factory=set)
    transitions: list[tuple[str, str]] = field(default_factory=list)

    def absorb(self, committed: UnitOfWork) -> None:
        """Take in what a committed transaction collected."""
        self.woken |= committed.woken
        self.transitions.extend(committed.transitions)
