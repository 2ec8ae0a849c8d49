"""Links: the network between two parties — one request's round trip from a caller to a mock system.

Every caller in the world reaches a mock system through here: the core's delivery workers, the
storefront's checkout (the payment authorisation) and the service desk's customers and agents.

Rules kept: the link's latency is drawn from the run's ``links`` stream, once per call; the system serves
the call inline (no extra SimPy process: the cheapest faithful model) and the link's latency and the
system's service pass as one SimPy wait (the request's ``lead_s``: the system admits the call when it is
sent, see ``MockSystem.call``); an answer given at once (a refusal) still takes the link's latency; a reply that is lost, or that
comes after the caller's timeout, is no reply (``Reply(None)``) and costs the caller its whole timeout,
as a dropped connection does.
"""

from __future__ import annotations

import random
from collections.abc import Generator
from typing import Any

import simpy

from retailsim.core.adapters.http import OutboundRequest, Reply
from retailsim.scenarios.schema import LatencySpec
from retailsim.systems.base import Latency, LostReply, MockSystem, Request


def latency(spec: LatencySpec) -> Latency:
    """A scenario's latency setting as the distribution the systems and links draw from."""
    return Latency(spec.median, spec.p99)


class Links:
    """The world's links: one latency distribution and one random stream for every call."""

    def __init__(self, env: simpy.Environment, spec: LatencySpec, rng: random.Random) -> None:
        self.env = env
        self.latency = latency(spec)
        self.rng = rng

    def call(
        self, system: MockSystem, request: OutboundRequest, timeout_s: float
    ) -> Generator[simpy.Event, Any, Reply]:
        """One request over a link: round-trip latency, the system's service, and the caller's timeout."""
        env = self.env
        start = env.now
        lead = self.latency.sample(self.rng)
        # The caller's header and query dicts are handed over as they are, not copied: no mock changes a
        # request it is given (they only read them), and the caller does not touch a request once sent.
        response = yield from system.call(
            Request(request.method, request.path, request.body, request.headers, request.query, lead)
        )
        elapsed = env.now - start
        if isinstance(response, LostReply) or max(elapsed, lead) > timeout_s:
            if timeout_s > elapsed:
                yield env.timeout(timeout_s - elapsed)
            return Reply(None)
        if elapsed < lead:
            yield env.timeout(lead - elapsed)  # answered at once (a refusal): the answer still crosses
        return Reply(response.status, response.body, response.headers)
