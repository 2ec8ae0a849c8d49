"""Delivery lanes: where one destination's delivery workers wait, and the one alarm that wakes them.

The core's outbox is drained by a fixed pool of workers per destination (the core process's HTTP
clients). A worker that finds nothing it may claim parks in its destination's lane; the lane wakes a
parked worker only when there is a reason to look — work appended that is due now, or the alarm set
for when the earliest pending work becomes due (its ``available_at``, the breaker's retry time or the
token bucket's next token, as ``next_due`` says). Rules kept:

* at most one alarm is armed per lane, the earliest one needed; a later wish is covered by it, since the
  woken worker looks again and re-arms;
* a worker that just failed to claim never polls faster than ``min_poll_s`` (a half-open breaker with
  its probe in flight says "due now" but lets nothing through);
* parked workers are woken first parked, first woken, and nothing here reads a clock or a random
  stream, so a run stays a function of its seed.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

import simpy


class Lane:
    """The parking lot and alarm clock of one destination's delivery workers."""

    __slots__ = ("_alarm_at", "_idle", "_next_due", "env", "min_poll_s")

    def __init__(
        self, env: simpy.Environment, next_due: Callable[[float], float | None], min_poll_s: float
    ) -> None:
        self.env = env
        self.min_poll_s = min_poll_s
        self._next_due = next_due
        self._idle: deque[simpy.Event] = deque()
        self._alarm_at: float | None = None

    @property
    def parked(self) -> int:
        return len(self._idle)

    @property
    def alarm_at(self) -> float | None:
        return self._alarm_at

    def park(self) -> simpy.Event:
        """A worker found nothing it could claim: set the alarm for when work is due, and wait."""
        now = self.env.now
        due = self._next_due(now)
        if due is not None:
            self._arm(max(due, now + self.min_poll_s))
        parked = self.env.event()
        self._idle.append(parked)
        return parked

    def nudge(self) -> None:
        """Work may have become claimable: wake one parked worker if it is due now, else set the alarm."""
        if not self._idle:
            return  # every worker is busy, and each looks for more work when it is done
        now = self.env.now
        due = self._next_due(now)
        if due is None:
            return
        if due <= now:
            self._idle.popleft().succeed()
        else:
            self._arm(due)

    def _arm(self, at: float) -> None:
        if self._alarm_at is not None and self._alarm_at <= at:
            return
        self._alarm_at = at
        alarm = self.env.timeout(at - self.env.now)
        alarm.callbacks.append(lambda _event: self._ring(at))

    def _ring(self, at: float) -> None:
        if self._alarm_at != at:
            return  # an earlier alarm replaced this one, and whoever it woke has re-armed
        self._alarm_at = None
        if self._idle:
            self._idle.popleft().succeed()
