"""A call over a link: the link's latency and the system's service pass as one SimPy wait, and the
system's faults and limits still answer when they should (sim/links.py, ``MockSystem.call``)."""

from __future__ import annotations

import random
from collections.abc import Generator
from typing import Any

import pytest
import simpy

from retailsim.core.adapters.http import OutboundRequest, Reply
from retailsim.scenarios.schema import LatencySpec
from retailsim.sim.links import Links
from retailsim.systems.base import Latency, MockSystem, Request, Response

LINK_S = 0.03
SERVICE_S = 0.2


class Echo(MockSystem):
    """Answers every GET, recording when its handler ran."""

    name = "echo"
    routes = (("GET", r"/echo", "echo"),)

    def __init__(self, env: simpy.Environment, **kwargs: Any) -> None:
        super().__init__(env, random.Random(1), latency=Latency(SERVICE_S, SERVICE_S), **kwargs)
        self.handled_at: list[float] = []

    def echo(self, request: Request) -> Response:
        self.handled_at.append(self.env.now)
        return Response(200, {"ok": True})


def over_link(system: Echo, calls: int = 1, timeout_s: float = 5.0) -> list[tuple[float, Reply]]:
    """``calls`` requests sent at time 0 over a fixed-latency link: (when each reply came, the reply)."""
    env = system.env
    links = Links(env, LatencySpec(median=LINK_S, p99=LINK_S), random.Random(2))
    replies: list[tuple[float, Reply]] = []

    def client() -> Generator[simpy.Event, Any, None]:
        reply = yield from links.call(system, OutboundRequest("GET", "/echo"), timeout_s)
        replies.append((env.now, reply))

    for _ in range(calls):
        env.process(client())
    env.run()
    return replies


def test_one_call_is_one_wait_of_link_plus_service() -> None:
    env = simpy.Environment()
    system = Echo(env)
    [(at, reply)] = over_link(system)
    assert reply.status == 200
    assert at == system.handled_at[0] == LINK_S + SERVICE_S
    # Events: the client process's start, the one combined timeout, and the process's end.
    assert next(env._eid) == 3


def test_a_call_that_queues_for_a_slot_is_served_after_the_one_before() -> None:
    env = simpy.Environment()
    system = Echo(env, concurrency=1)
    replies = over_link(system, calls=2)
    assert [at for at, _ in replies] == [LINK_S + SERVICE_S, LINK_S + 2 * SERVICE_S]
    assert all(reply.status == 200 for _, reply in replies)


def test_an_outage_and_a_rate_limit_answer_no_sooner_than_the_link_allows() -> None:
    env = simpy.Environment()
    down = Echo(env)
    down.faults.outage = True
    [(at, reply)] = over_link(down)
    assert reply.status == 503 and at == LINK_S + 0.002 and not down.handled_at

    env = simpy.Environment()
    limited = Echo(env, rate_limit_per_s=1)
    replies = over_link(limited, calls=2)
    assert sorted(reply.status or 0 for _, reply in replies) == [200, 429]
    refused_at = next(at for at, reply in replies if reply.status == 429)
    assert refused_at == LINK_S


def test_a_reply_later_than_the_timeout_is_no_reply() -> None:
    env = simpy.Environment()
    system = Echo(env)
    [(at, reply)] = over_link(system, timeout_s=0.1)
    assert reply.status is None and system.handled_at  # committed, but too late for the caller
    assert at == pytest.approx(LINK_S + SERVICE_S)


def test_a_lost_reply_costs_the_whole_timeout() -> None:
    env = simpy.Environment()
    system = Echo(env)
    system.faults.lost_reply_rate = 1.0
    [(at, reply)] = over_link(system, timeout_s=2.0)
    assert reply.status is None and system.handled_at and at == 2.0
