"""Delivery lanes: parked workers are woken when work is due, by one alarm, never by a busy poll.

What it is for: the delivery workers of sim/world.py wait in a :class:`Lane`; these tests drive a lane
with a hand-made "outbox" (a list of due times) and workers that record when they claimed, so each rule
in sim/delivery.py is seen to hold on its own.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import simpy

from retailsim.sim.delivery import Lane


class Outbox:
    """Due times of pending messages; ``claim`` takes the earliest one that is due."""

    def __init__(self, *due: float) -> None:
        self.due = sorted(due)
        self.looked = 0  # how many times a worker tried to claim

    def next_due(self, now: float) -> float | None:
        return self.due[0] if self.due else None

    def claim(self, now: float) -> float | None:
        self.looked += 1
        if self.due and self.due[0] <= now:
            return self.due.pop(0)
        return None


def worker(
    env: simpy.Environment, lane: Lane, outbox: Outbox, name: str, log: list[tuple[str, float]]
) -> Generator[simpy.Event, Any, None]:
    while True:
        if outbox.claim(env.now) is None:
            yield lane.park()
            continue
        lane.nudge()
        log.append((name, env.now))
        yield env.timeout(1.0)  # the send


def setup(outbox: Outbox, workers: int = 2) -> tuple[simpy.Environment, Lane, list[tuple[str, float]]]:
    env = simpy.Environment()
    lane = Lane(env, outbox.next_due, min_poll_s=0.05)
    log: list[tuple[str, float]] = []
    for i in range(workers):
        env.process(worker(env, lane, outbox, f"w{i}", log))
    return env, lane, log


def test_work_due_now_is_taken_at_once_and_fanned_out_to_parked_workers() -> None:
    outbox = Outbox()
    env, lane, log = setup(outbox)
    env.run(until=2.0)
    assert lane.parked == 2 and log == []
    outbox.due += [2.0, 2.0, 2.0]
    lane.nudge()
    env.run(until=10.0)
    # Two workers start at once; the third message waits for the first free one (one second later).
    assert log == [("w0", 2.0), ("w1", 2.0), ("w0", 3.0)]


def test_nothing_due_wakes_nobody() -> None:
    outbox = Outbox()
    env, lane, _ = setup(outbox)
    env.run(until=1.0)
    looked = outbox.looked
    lane.nudge()
    env.run(until=100.0)
    assert outbox.looked == looked and lane.alarm_at is None


def test_future_work_sets_one_alarm_for_the_earliest_due_time() -> None:
    outbox = Outbox()
    env, lane, log = setup(outbox)
    env.run(until=1.0)
    outbox.due = [30.0]
    lane.nudge()
    assert lane.alarm_at == 30.0
    outbox.due = [10.0, 30.0]
    lane.nudge()  # earlier work: the alarm moves forward
    assert lane.alarm_at == 10.0
    lane.nudge()  # nothing earlier: no second alarm
    env.run(until=100.0)
    assert log == [("w0", 10.0), ("w1", 30.0)]
    assert outbox.looked <= 6, "woken only when something was due (two parks at start, two claims, two re-parks)"


def test_a_later_wish_keeps_the_earlier_alarm() -> None:
    outbox = Outbox()
    env, lane, log = setup(outbox, workers=1)
    env.run(until=1.0)
    outbox.due = [10.0]
    lane.nudge()
    outbox.due = [30.0]  # the message due at 10 went away (completed elsewhere); a later one is pending
    lane.nudge()
    assert lane.alarm_at == 10.0  # the worker woken at 10 looks again and sets the alarm for 30
    env.run(until=100.0)
    assert log == [("w0", 30.0)]


def test_a_worker_that_cannot_claim_due_work_polls_no_faster_than_the_minimum() -> None:
    class Refusing(Outbox):
        def claim(self, now: float) -> float | None:  # due now but never claimable (breaker probe out)
            self.looked += 1
            return None

    outbox = Refusing(0.0)
    env, _, _ = setup(outbox, workers=1)
    env.run(until=1.0)
    assert 15 <= outbox.looked <= 21  # about every 50 ms, not a busy loop at the same instant


def test_parked_workers_are_woken_first_parked_first_woken() -> None:
    outbox = Outbox()
    env, lane, log = setup(outbox, workers=3)
    env.run(until=0.5)
    for at in (1.0, 5.0, 9.0):
        env.run(until=at)
        outbox.due.append(at)
        lane.nudge()
    env.run(until=20.0)
    assert [name for name, _ in log] == ["w0", "w1", "w2"]
