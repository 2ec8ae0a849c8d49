"""Circuit breaker per downstream system: closed → open after consecutive failures → half-open probe.

Closed lets calls through and counts consecutive failures; at ``failure_threshold`` it opens and refuses
calls for ``open_s``; then one probe is let through (half-open): success closes it, failure re-opens it.
The breaker lives in the core process's memory, as in production: a restart closes it again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(slots=True)
class CircuitBreaker:
    failure_threshold: int = 5
    open_s: float = 30.0
    state: BreakerState = BreakerState.CLOSED
    failures: int = 0
    opened_at: float = 0.0
    probe_in_flight: bool = False
    transitions: list[tuple[float, str]] = field(default_factory=list)

    def allow(self, now: float) -> bool:
        """May a call be made now? In half-open state only one probe at a time."""
        if self.state is BreakerState.CLOSED:
            return True
        if self.state is BreakerState.OPEN:
            if now - self.opened_at < self.open_s:
                return False
            self._move(BreakerState.HALF_OPEN, now)
        if self.probe_in_flight:
            return False
        self.probe_in_flight = True
        return True

    def retry_at(self, now: float) -> float:
        """Earliest time a call could be allowed (``now`` when it could be allowed already)."""
        if self.state is BreakerState.OPEN:
            return max(now, self.opened_at + self.open_s)
        return now

    def record_success(self, now: float) -> None:
        self.failures = 0
        self.probe_in_flight = False
        if self.state is not BreakerState.CLOSED:
            self._move(BreakerState.CLOSED, now)

    def record_failure(self, now: float) -> None:
        self.probe_in_flight = False
        self.failures += 1
        if self.state is BreakerState.HALF_OPEN or self.failures >= self.failure_threshold:
            self.opened_at = now
            if self.state is not BreakerState.OPEN:
                self._move(BreakerState.OPEN, now)

    def record_neutral(self) -> None:
        """A call that says nothing about the system's health (e.g. a 4xx business error)."""
        self.probe_in_flight = False

    def _move(self, state: BreakerState, now: float) -> None:
        self.state = state
        self.transitions.append((now, state.value))
